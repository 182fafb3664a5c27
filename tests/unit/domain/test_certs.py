"""lbaas.domain.certs with certificates made on the fly (RSA 2048 and ECDSA P-256)."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from lbaas.domain import certs
from tests.tlsutil import CA

DER = serialization.Encoding.DER


@pytest.fixture(scope="module", params=["rsa", "ec"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_pem_bundle_with_chain_in_any_order(kind: str) -> None:
    root = CA("root", kind=kind)
    inter1 = CA("inter1", kind=kind, parent=root)
    inter2 = CA("inter2", kind=kind, parent=inter1)
    leaf = inter2.issue("www.example.com", names=("www.example.com", "example.com"), kind=kind)
    shuffled = inter1.cert.public_bytes(serialization.Encoding.PEM) + inter2.cert.public_bytes(serialization.Encoding.PEM)
    bundle = certs.build_bundle(leaf.cert_pem, leaf.key_pem, shuffled)
    subjects = [x509.load_pem_x509_certificate(p.encode()).subject.rfc4514_string() for p in bundle.intermediates]
    assert subjects == ["CN=inter2", "CN=inter1"]  # reordered leaf-upward
    assert bundle.names == ("www.example.com", "example.com")
    pem = bundle.pem()
    assert pem.index("BEGIN CERTIFICATE") < pem.index("PRIVATE KEY")
    assert len(bundle.digest()) == 64


def test_der_inputs_and_encrypted_key(kind: str) -> None:
    leaf = CA(kind=kind).issue("a.example", kind=kind)
    der_cert = leaf.cert.public_bytes(DER)
    der_key = leaf.key.private_bytes(DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert certs.build_bundle(der_cert, der_key).names == ("a.example",)
    enc = leaf.key_pem_encrypted(b"pw")
    assert certs.build_bundle(leaf.cert_pem, enc, None, b"pw").certificate == leaf.cert_pem.decode()
    with pytest.raises(certs.CertificateError, match="needs a passphrase"):
        certs.build_bundle(leaf.cert_pem, enc)
    with pytest.raises(certs.CertificateError, match="passphrase is wrong"):
        certs.build_bundle(leaf.cert_pem, enc, None, b"wrong")


def test_pkcs12_with_and_without_passphrase(kind: str) -> None:
    inter = CA("i", kind=kind, parent=CA("r", kind=kind))
    leaf = inter.issue("p12.example", kind=kind)
    for pw in (None, b"secret"):
        bundle = certs.parse_pkcs12(leaf.pkcs12(pw), pw)
        assert bundle.names == ("p12.example",)
        assert len(bundle.intermediates) == 1
        assert certs.build_bundle(leaf.pkcs12(pw), None, None, pw) == bundle
    with pytest.raises(certs.CertificateError, match="PKCS#12"):
        certs.parse_pkcs12(leaf.pkcs12(b"secret"), b"nope")


def test_refusals() -> None:
    ca = CA()
    leaf = ca.issue("x.example")
    other = ca.issue("y.example")
    with pytest.raises(certs.CertificateError, match="does not match"):
        certs.build_bundle(leaf.cert_pem, other.key_pem)
    with pytest.raises(certs.CertificateError, match="could not be parsed"):
        certs.build_bundle(b"-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n", leaf.key_pem)
    with pytest.raises(certs.CertificateError, match="could not be parsed"):
        certs.build_bundle(b"\x30\x03junk", leaf.key_pem)
    with pytest.raises(certs.CertificateError, match="exactly one"):
        certs.build_bundle(leaf.cert_pem + other.cert_pem, leaf.key_pem)
    unrelated = CA("elsewhere").cert_pem
    with pytest.raises(certs.CertificateError, match="do not form a chain"):
        certs.build_bundle(leaf.cert_pem, leaf.key_pem, unrelated)
    with pytest.raises(certs.CertificateError, match="empty"):
        certs.build_bundle(b"", leaf.key_pem)
    with pytest.raises(certs.CertificateError, match="private key"):
        certs.build_bundle(leaf.cert_pem, b"not a key")


def test_ca_and_crl() -> None:
    ca = CA()
    pem = certs.parse_ca(ca.cert_pem + CA("second").cert_pem)
    assert pem.count("BEGIN CERTIFICATE") == 2
    assert certs.parse_ca(ca.cert.public_bytes(DER)).count("BEGIN CERTIFICATE") == 1
    ca.revoke(ca.issue("bad", client=True))
    crl_pem = ca.crl_pem()
    assert "BEGIN X509 CRL" in certs.parse_crl(crl_pem)
    der = x509.load_pem_x509_crl(crl_pem).public_bytes(DER)
    assert "BEGIN X509 CRL" in certs.parse_crl(der)
    with pytest.raises(certs.CertificateError, match="CRL"):
        certs.parse_crl(b"nope")
    with pytest.raises(certs.CertificateError):
        certs.parse_ca(b"nope")
