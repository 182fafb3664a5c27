"""Certificate material: parse, check and normalise to PEM (pure; ``cryptography`` only).

Everything a TLS ref can hold goes through here before it is accepted, so what reaches HAProxy is
PEM that ``cryptography`` (OpenSSL) already read: a certificate with the key that matches it and the
intermediates in chain order, a CA bundle, a CRL. Inputs may be PEM, DER or PKCS#12 (with or
without a passphrase). Every failure is a ``CertificateError`` with a message fit for a 400.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

MAX_INPUT = 1 << 20  # 1 MiB: no certificate, chain, bundle or CRL we accept is bigger
_PEM_CERT = b"-----BEGIN CERTIFICATE-----"


class CertificateError(ValueError):
    """Unusable certificate material; the message says what and why."""


@dataclass(frozen=True)
class TlsBundle:
    """A server (or client) certificate ready for HAProxy: leaf, its key, intermediates leaf-upward."""

    certificate: str
    private_key: str
    intermediates: tuple[str, ...] = ()
    names: tuple[str, ...] = ()  # the subject CN and DNS subjectAltNames (what SNI can match)

    def pem(self) -> str:
        """One file as HAProxy's ``crt`` wants it: leaf, intermediates, key."""
        return "".join((self.certificate, *self.intermediates, self.private_key))

    def digest(self) -> str:
        return hashlib.sha256(self.pem().encode()).hexdigest()


def _size(data: bytes, what: str) -> bytes:
    if not data:
        raise CertificateError(f"{what} is empty.")
    if len(data) > MAX_INPUT:
        raise CertificateError(f"{what} is larger than {MAX_INPUT} bytes.")
    return data


def load_certificates(data: bytes, what: str = "certificate") -> list[x509.Certificate]:
    """One or more certificates from PEM (concatenated) or a single DER certificate."""
    _size(data, what)
    try:
        if _PEM_CERT in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise CertificateError(f"{what} could not be parsed as a PEM or DER X.509 certificate.") from exc


def _one_certificate(data: bytes, what: str) -> x509.Certificate:
    certs = load_certificates(data, what)
    if len(certs) != 1:
        raise CertificateError(f"{what} must hold exactly one certificate, found {len(certs)}.")
    return certs[0]


def load_private_key(data: bytes, passphrase: bytes | None = None) -> PrivateKeyTypes:
    """A private key from PEM or DER (PKCS#8, PKCS#1, SEC1), decrypted with ``passphrase`` if given."""
    _size(data, "private key")
    loaders = (
        (serialization.load_pem_private_key,) if b"-----BEGIN" in data else (serialization.load_der_private_key,)
    )
    for loader in loaders:
        try:
            return loader(data, password=passphrase or None)
        except TypeError as exc:
            raise CertificateError(
                "The private key is encrypted and needs a passphrase."
                if not passphrase
                else "The private key is not encrypted; no passphrase is needed."
            ) from exc
        except ValueError as exc:
            raise CertificateError("The private key could not be parsed (or the passphrase is wrong).") from exc
    raise CertificateError("The private key could not be parsed.")  # pragma: no cover


def _check_key_type(key: object) -> None:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise CertificateError(f"RSA keys must be at least 2048 bits, this one has {key.key_size}.")
        return
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return
    if isinstance(key, (dsa.DSAPrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        raise CertificateError("Only RSA and ECDSA keys are supported.")
    raise CertificateError("Unsupported private key type.")


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, Exception):  # InvalidSignature is not a ValueError
        return False
    return True


def order_chain(leaf: x509.Certificate, intermediates: list[x509.Certificate]) -> list[x509.Certificate]:
    """The intermediates in path order from ``leaf`` up; every one must be on that path."""
    remaining = list(intermediates)
    chain: list[x509.Certificate] = []
    current = leaf
    while remaining:
        nxt = next((c for c in remaining if _issued_by(current, c)), None)
        if nxt is None:
            break
        chain.append(nxt)
        remaining.remove(nxt)
        current = nxt
    if remaining:
        subjects = ", ".join(c.subject.rfc4514_string() for c in remaining)
        raise CertificateError(f"The intermediates do not form a chain from the certificate: {subjects}.")
    return chain


def names(cert: x509.Certificate) -> tuple[str, ...]:
    out: list[str] = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        out.extend(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        pass
    return tuple(dict.fromkeys(n.lower() for n in out))


def build_bundle(
    certificate: bytes,
    private_key: bytes | None,
    intermediates: bytes | None = None,
    passphrase: bytes | None = None,
) -> TlsBundle:
    """Certificate + key (+ intermediates) → a checked bundle. A PKCS#12 ``certificate`` with no
    separate key is unpacked (``passphrase`` opens it)."""
    if private_key is None:
        return parse_pkcs12(certificate, passphrase)
    leaf = _one_certificate(certificate, "The certificate")
    key = load_private_key(private_key, passphrase)
    _check_key_type(key)
    if _spki(key.public_key()) != _spki(leaf.public_key()):
        raise CertificateError("The private key does not match the certificate.")
    chain = order_chain(leaf, load_certificates(intermediates, "The intermediates") if intermediates else [])
    return _bundle(leaf, key, chain)


def _bundle(leaf: x509.Certificate, key: object, chain: list[x509.Certificate]) -> TlsBundle:
    key_pem = key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return TlsBundle(
        certificate=_pem(leaf),
        private_key=key_pem,
        intermediates=tuple(_pem(c) for c in chain),
        names=names(leaf),
    )


def parse_pkcs12(data: bytes, passphrase: bytes | None = None) -> TlsBundle:
    _size(data, "PKCS#12 bundle")
    try:
        p12 = pkcs12.load_pkcs12(data, passphrase or None)
    except (ValueError, TypeError) as exc:
        raise CertificateError(
            "The secret is neither a certificate with a key nor a PKCS#12 bundle this passphrase opens."
        ) from exc
    if p12.cert is None or p12.key is None:
        raise CertificateError("The PKCS#12 bundle must hold a certificate and its private key.")
    leaf = p12.cert.certificate
    key = p12.key
    _check_key_type(key)
    if _spki(key.public_key()) != _spki(leaf.public_key()):
        raise CertificateError("The private key in the PKCS#12 bundle does not match its certificate.")
    return _bundle(leaf, key, order_chain(leaf, [c.certificate for c in p12.additional_certs]))


def parse_ca(data: bytes) -> str:
    """A CA bundle (one or more certificates, PEM or DER) → PEM."""
    certs = load_certificates(data, "The CA certificate")
    return "".join(_pem(c) for c in certs)


def parse_crl(data: bytes) -> str:
    """A certificate revocation list, PEM or DER → PEM."""
    _size(data, "The CRL")
    try:
        crl = (
            x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
        )
    except ValueError as exc:
        raise CertificateError("The CRL could not be parsed as a PEM or DER X.509 CRL.") from exc
    return crl.public_bytes(serialization.Encoding.PEM).decode()
