"""Real TLS refs for contract tests: certificate containers seeded with fixed ids in the store."""

from __future__ import annotations

from lbaas.db import models as m
from lbaas.db.session import Database
from lbaas.services.secrets import SecretStore
from tests.tlsutil import CA as TestCA

BASE = "http://testserver/v1"


def seed_container(db: Database, store: SecretStore, project_id: str, container_id: str, cert: bytes,
                   key: bytes) -> str:  # fmt: skip
    """A certificate container ``container_id`` (cert + key) in ``project_id``; its ref."""
    with db.write() as s:
        refs = []
        for name, data, kind in (("certificate", cert, "certificate"), ("private_key", key, "private")):
            secret = m.Secret(id=m.new_id(), project_id=project_id, secret_type=kind, status="ACTIVE",
                              payload=store.cipher.encrypt(data), payload_content_type="text/plain")  # fmt: skip
            s.add(secret)
            refs.append({"name": name, "secret_id": secret.id})
        s.add(m.SecretContainer(id=container_id, project_id=project_id, type="certificate", status="ACTIVE",
                                secret_refs=refs, consumers=[]))  # fmt: skip
    return f"{BASE}/containers/{container_id}"


def seed_pair(db: Database, store: SecretStore, project_id: str, cert_id: str, ca_id: str) -> tuple[str, str]:
    """(server certificate container, CA container): the CA container holds the CA's own cert and key, so
    it also serves where a certificate container is wanted."""
    ca = TestCA()
    leaf = ca.issue("www.example.com")
    ca_key = ca.key.private_bytes(*_pkcs8())
    return (
        seed_container(db, store, project_id, cert_id, leaf.cert_pem, leaf.key_pem),
        seed_container(db, store, project_id, ca_id, ca.cert_pem, ca_key),
    )


def _pkcs8() -> tuple[object, ...]:
    from cryptography.hazmat.primitives import serialization

    return (serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
