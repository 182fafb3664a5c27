"""Certificates made on the fly for the TLS tests: a CA, an intermediate, leaves, client certs, CRLs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PEM = serialization.Encoding.PEM


def new_key(kind: str = "ec") -> CertificateIssuerPrivateKeyTypes:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Issued:
    cert: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes
    chain: list[x509.Certificate] = field(default_factory=list)  # intermediates, leaf-upward

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    def key_pem_encrypted(self, passphrase: bytes) -> bytes:
        return self.key.private_bytes(
            PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(passphrase)
        )

    @property
    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(PEM) for c in self.chain)

    def pkcs12(self, passphrase: bytes | None = None) -> bytes:
        enc = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
        return pkcs12.serialize_key_and_certificates(b"lb", self.key, self.cert, self.chain or None, enc)


class CA:
    def __init__(self, cn: str = "lbaas test CA", kind: str = "ec", parent: CA | None = None) -> None:
        self.key = new_key(kind)
        self.parent = parent
        now = dt.datetime.now(dt.UTC)
        issuer_key = parent.key if parent else self.key
        issuer_name = parent.cert.subject if parent else _name(cn)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(issuer_name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(issuer_key, hashes.SHA256())
        )
        self.revoked: list[int] = []

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(PEM)

    def chain(self) -> list[x509.Certificate]:
        """This CA and its parents below the root (the intermediates a leaf of this CA needs)."""
        out: list[x509.Certificate] = []
        ca: CA | None = self
        while ca is not None and ca.parent is not None:
            out.append(ca.cert)
            ca = ca.parent
        return out

    def issue(self, cn: str, *, names: tuple[str, ...] = (), kind: str = "ec", client: bool = False) -> Issued:
        key = new_key(kind)
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )
        if not client:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in (names or (cn,))]), critical=False
            )
        return Issued(builder.sign(self.key, hashes.SHA256()), key, self.chain())

    def revoke(self, issued: Issued) -> None:
        self.revoked.append(issued.cert.serial_number)

    def crl_pem(self) -> bytes:
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now - dt.timedelta(minutes=5))
            .next_update(now + dt.timedelta(days=7))
        )
        for serial in self.revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now - dt.timedelta(minutes=1)).build()
            )
        return builder.sign(self.key, hashes.SHA256()).public_bytes(PEM)
