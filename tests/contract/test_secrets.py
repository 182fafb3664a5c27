"""The Barbican-compatible secret store (/v1): shapes, status codes, project scoping, encryption at rest."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from lbaas.db import models as m
from lbaas.db.session import Database

P1 = {"X-Project-Id": "p1", "X-Roles": "member"}
P2 = {"X-Project-Id": "p2", "X-Roles": "member"}
ADMIN = {"X-Project-Id": "ops", "X-Roles": "admin"}


def _secret(client: TestClient, headers: dict[str, str], **body: object) -> str:
    r = client.post("/v1/secrets", json={"name": "s", "payload": "hello", "payload_content_type": "text/plain", **body},
                    headers=headers)  # fmt: skip
    assert r.status_code == 201, r.text
    ref: str = r.json()["secret_ref"]
    assert ref.startswith("http://testserver/v1/secrets/")
    return ref


def _path(ref: str) -> str:
    return ref.removeprefix("http://testserver")


def test_secret_roundtrip_text_and_binary(client: TestClient) -> None:
    ref = _secret(client, P1, secret_type="passphrase")
    meta = client.get(_path(ref), headers=P1).json()
    assert meta["secret_ref"] == ref and meta["status"] == "ACTIVE" and meta["secret_type"] == "passphrase"
    assert meta["content_types"] == {"default": "text/plain"}
    r = client.get(_path(ref) + "/payload", headers={**P1, "Accept": "text/plain"})
    assert r.status_code == 200 and r.content == b"hello"
    raw = os.urandom(64)
    ref2 = _secret(client, P1, payload=base64.b64encode(raw).decode(),
                   payload_content_type="application/octet-stream", payload_content_encoding="base64")  # fmt: skip
    r = client.get(_path(ref2) + "/payload", headers={**P1, "Accept": "application/octet-stream"})
    assert r.content == raw


def test_secret_put_payload_later(client: TestClient) -> None:
    r = client.post("/v1/secrets", json={"name": "later"}, headers=P1)
    ref = r.json()["secret_ref"]
    assert client.get(_path(ref) + "/payload", headers=P1).status_code == 404
    r = client.put(_path(ref), content=b"late data", headers={**P1, "Content-Type": "text/plain"})
    assert r.status_code == 204
    assert client.get(_path(ref) + "/payload", headers=P1).content == b"late data"
    r = client.put(_path(ref), content=b"again", headers={**P1, "Content-Type": "text/plain"})
    assert r.status_code == 409


def test_bad_secret_input_is_400(client: TestClient) -> None:
    for body in (
        {"payload": "x", "payload_content_type": "application/octet-stream"},  # no encoding
        {"payload": "not base64!", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"},
        {"payload": "x", "payload_content_type": "image/png"},
        {"payload": "", "payload_content_type": "text/plain"},
        {"payload": "x", "secret_type": "banana"},
        {"payload": "x" * 70000},
    ):
        r = client.post("/v1/secrets", json=body, headers=P1)
        assert r.status_code == 400, (body, r.text)
        assert set(r.json()) == {"code", "title", "description"}


def test_list_limit_offset_name(client: TestClient) -> None:
    for i in range(5):
        _secret(client, P1, name=f"n{i}")
    _secret(client, P2, name="n0")
    full = [s["name"] for s in client.get("/v1/secrets?limit=10", headers=P1).json()["secrets"]]
    assert sorted(full) == ["n0", "n1", "n2", "n3", "n4"]
    page = client.get("/v1/secrets?limit=2&offset=1", headers=P1).json()
    assert page["total"] == 5 and [s["name"] for s in page["secrets"]] == full[1:3]
    assert "next" in page and "previous" in page
    assert client.get("/v1/secrets?name=n0", headers=P1).json()["total"] == 1
    assert client.get("/v1/secrets?name=n0", headers=ADMIN).json()["total"] == 2


def test_project_isolation(client: TestClient) -> None:
    ref = _secret(client, P1)
    assert client.get(_path(ref), headers=P2).status_code == 403
    assert client.get(_path(ref) + "/payload", headers=P2).status_code == 403
    assert client.delete(_path(ref), headers=P2).status_code == 403
    assert client.get(_path(ref), headers=ADMIN).status_code == 200
    missing = "/v1/secrets/00000000-0000-4000-8000-000000000000"
    assert client.get(missing, headers=P1).status_code == 404
    assert client.get("/v1/secrets/not-a-uuid", headers=P1).status_code == 404
    # a container may only reference secrets its creator can read
    r = client.post("/v1/containers", json={"type": "generic", "secret_refs": [{"name": "a", "secret_ref": ref}]},
                    headers=P2)  # fmt: skip
    assert r.status_code == 403
    assert client.delete(_path(ref), headers=P1).status_code == 204
    assert client.get(_path(ref), headers=P1).status_code == 404


def test_payload_encrypted_at_rest_and_key_file_0600(client: TestClient, database: Database, tmp_path: Path) -> None:
    _secret(client, P1, payload="very-secret-text")
    with database.read() as s:
        stored = s.scalars(select(m.Secret.payload)).one()
    assert stored is not None and b"very-secret-text" not in stored
    key = tmp_path / "secret.key"
    assert key.exists() and stat.S_IMODE(key.stat().st_mode) == 0o600


def test_containers_and_consumers(client: TestClient) -> None:
    cert = _secret(client, P1, secret_type="certificate")
    key = _secret(client, P1, secret_type="private")
    body = {"name": "tls", "type": "certificate",
            "secret_refs": [{"name": "certificate", "secret_ref": cert}, {"name": "private_key", "secret_ref": key}]}  # fmt: skip
    r = client.post("/v1/containers", json=body, headers=P1)
    assert r.status_code == 201, r.text
    cref = r.json()["container_ref"]
    got = client.get(_path(cref), headers=P1).json()
    assert got["type"] == "certificate" and got["container_ref"] == cref
    assert {x["name"]: x["secret_ref"] for x in got["secret_refs"]} == {"certificate": cert, "private_key": key}
    consumer = {"name": "lbaas", "URL": "http://lb/v2/lbaas/loadbalancers/1"}
    r = client.post(_path(cref) + "/consumers", json=consumer, headers=P1)
    assert r.status_code == 200 and r.json()["consumers"] == [consumer]
    r = client.request("DELETE", _path(cref) + "/consumers", json=consumer, headers=P1)
    assert r.status_code == 200 and r.json()["consumers"] == []
    assert client.get("/v1/containers", headers=P1).json()["total"] == 1
    assert client.get("/v1/containers", headers=P2).json()["total"] == 0
    assert client.get(_path(cref), headers=P2).status_code == 403
    # certificate containers take only their own names, and need a certificate
    for refs in ([{"name": "private_key", "secret_ref": key}], [{"name": "bogus", "secret_ref": cert}]):
        r = client.post("/v1/containers", json={"type": "certificate", "secret_refs": refs}, headers=P1)
        assert r.status_code == 400, r.text
    assert client.delete(_path(cref), headers=P1).status_code == 204
    assert client.get(_path(cref), headers=P1).status_code == 404


def test_version_discovery_and_unversioned_paths(client: TestClient) -> None:
    doc = client.get("/", headers={"OpenStack-API-Version": "key-manager 1.1"}).json()
    assert doc["versions"]["values"][0]["id"] == "v1"
    assert client.get("/").json()["versions"][0]["id"].startswith("v2")  # Octavia's, for everyone else
    r = client.post("/secrets/", json={"payload": "x"}, headers=P1)  # barbicanclient with an endpoint override
    assert r.status_code == 201 and "/v1/secrets/" in r.json()["secret_ref"]


def test_hostile_inputs_never_5xx(client: TestClient) -> None:
    ref = _path(_secret(client, P1))
    empty = client.post("/v1/secrets", json={"name": "empty"}, headers=P1).json()["secret_ref"]
    attempts = [
        ("POST", "/v1/secrets", {"content": b"{not json", "headers": {**P1, "Content-Type": "application/json"}}),
        ("POST", "/v1/secrets", {"json": {"payload": 5}}),
        ("POST", "/v1/secrets", {"json": {"payload": "x", "expiration": "yesterday"}}),
        ("POST", "/v1/secrets", {"json": {"payload": "x", "bit_length": -1}}),
        ("POST", "/v1/secrets", {"content": b'{"payload": "\\u0000\\ud800", "payload_content_type": "text/plain"}',
                                 "headers": {**P1, "Content-Type": "application/json"}}),
        ("POST", "/v1/secrets", {"json": {"payload": "eA==", "payload_content_type": "application/pkcs8",
                                          "payload_content_encoding": "gzip"}}),
        ("POST", "/v1/secrets", {"content": b'{"payload": "x", "name": "a\\ud800b"}',
                                 "headers": {**P1, "Content-Type": "application/json"}}),
        ("POST", "/v1/containers", {"content": b'{"name": "\\udfff", "type": "generic"}',
                                    "headers": {**P1, "Content-Type": "application/json"}}),
        ("POST", "/v1/secrets", {"json": {"payload": "x", "name": "line\nbreak"}}),
        ("GET", "/v1/secrets?name=%ED%A0%80", {}),
        ("GET", "/v1/secrets?limit=-1", {}),
        ("GET", "/v1/secrets?limit=abc", {}),
        ("GET", "/v1/secrets?offset=99999999999999999999", {}),
        ("GET", "/v1/secrets?name=" + "n" * 300, {}),
        ("GET", ref + "/payload", {"headers": {**P1, "Accept": "image/png"}}),
        ("GET", ref, {"headers": {**P1, "Accept": "application/octet-stream"}}),
        ("PUT", ref, {"content": b"x", "headers": {**P1, "Content-Type": "text/plain"}}),
        ("PUT", _path(empty), {"content": b"\xff\xfe", "headers": {**P1, "Content-Type": "text/plain"}}),
        ("PUT", _path(empty), {"content": b"", "headers": {**P1, "Content-Type": "application/octet-stream"}}),
        ("PUT", _path(empty), {"content": b"x" * 300000, "headers": {**P1, "Content-Type": "text/plain"}}),
        ("POST", "/v1/containers", {"json": {"type": "certificate", "secret_refs": [{"name": "certificate",
                                                                                     "secret_ref": "nonsense"}]}}),
        ("POST", "/v1/containers", {"json": {"type": "generic", "secret_refs": "x"}}),
        ("POST", "/v1/containers/00000000-0000-4000-8000-000000000000/consumers", {"json": {"name": "a", "URL": "b"}}),
        ("DELETE", "/v1/containers/not-a-uuid", {}),
        ("GET", "/v1/secrets/not-a-uuid/consumers", {}),
        ("GET", ref + "/consumers", {"headers": P2}),
        ("DELETE", "/v1/containers/00000000-0000-4000-8000-000000000000/consumers",
         {"json": {"name": "lbaas", "URL": "x"}}),
        ("DELETE", "/v1/secrets/" + "%00" * 10, {}),
    ]  # fmt: skip
    for method, path, kw in attempts:
        kw.setdefault("headers", P1)
        r = client.request(method, path, **kw)
        assert r.status_code < 500, (method, path, r.status_code, r.text)
        assert r.status_code >= 400 or method == "GET", (method, path, r.status_code, r.text)
