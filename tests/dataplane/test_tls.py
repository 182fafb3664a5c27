"""TLS in the data plane, measured with real clients (Python ``ssl``, ``curl``, ``openssl s_client``).

One load balancer, its certificates made on the fly and stored through the secret store API (/v1):

* ``main`` :443   TERMINATED_HTTPS, default cert www (ECDSA, served with its intermediate), SNI cert api
                  (RSA), HSTS, ALPN h2
* ``mtls`` :8443  client authentication MANDATORY with a client CA and a CRL, X-SSL-* headers
* ``opt``  :9443  client authentication OPTIONAL, X-SSL-* headers
* ``v13``  :10443 tls_versions [TLSv1.3] only
* ``reenc`` :80   HTTP → a tls_enabled pool: HAProxy presents a client certificate to members that demand
                  one, verifies them with their CA, and an HTTPS health monitor takes a stopped one out
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lbaas.tools.procs import stop
from tests.dataplane.harness import Service
from tests.tlsutil import CA, Issued

pytestmark = pytest.mark.netns
HOST_PREFIX = "tla-"
NET = "10.252.48"
VIP = f"{NET}.20"
WEB = {"web1": f"{NET}.11", "web2": f"{NET}.12"}
MEMBER_TLS_PORT = 8443

# One TLS request from inside a namespace: the outcome as JSON (handshake error, or status/headers/body).
TLS_CLIENT = r"""
import json, socket, ssl, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
a = json.loads(sys.argv[1])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
if a.get("cafile"):
    ctx.load_verify_locations(a["cafile"])
else:
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
if a.get("cert"):
    ctx.load_cert_chain(a["cert"], a["key"])
if a.get("tls_max"):
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = getattr(ssl.TLSVersion, a["tls_min"])
    ctx.maximum_version = getattr(ssl.TLSVersion, a["tls_max"])
out = {}
try:
    with socket.create_connection((a["host"], a["port"]), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=a.get("sni")) as tls:
            out["version"] = tls.version()
            out["alpn"] = tls.selected_alpn_protocol()
            cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
            out["cn"] = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
            tls.sendall(f"GET {a.get('path', '/')} HTTP/1.1\r\nHost: {a.get('sni') or a['host']}\r\n"
                        "Connection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    out["status"] = int(lines[0].split()[1]) if lines and lines[0] else None
    out["headers"] = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
    try:
        out["body"] = json.loads(body)
    except ValueError:
        out["body"] = body.decode(errors="replace")
except (ssl.SSLError, OSError) as exc:
    out["error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""

# A member that speaks only TLS and demands a client certificate signed by its CA (run in a host's namespace).
TLS_MEMBER = r"""
import json, ssl, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
cert, key, cafile, port, name, ready = sys.argv[1:7]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        peer = self.connection.getpeercert() or {}
        cn = [v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName"]
        body = json.dumps({"host": name, "client_cn": cn[0] if cn else None, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.load_verify_locations(cafile)
ctx.verify_mode = ssl.CERT_REQUIRED
srv = ThreadingHTTPServer(("0.0.0.0", int(port)), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(ready, "w").write("ready")
srv.serve_forever()
"""


class Pki:
    """Every certificate of the module, written to files the namespaces can read."""

    def __init__(self, d: Path) -> None:
        self.dir = d
        self.root = CA("tl root")
        self.inter = CA("tl intermediate", parent=self.root)
        self.www = self.inter.issue("www.example.com", kind="ec")
        self.api = self.root.issue("api.example.com", kind="rsa")
        self.client_ca = CA("tl client CA")
        self.alice = self.client_ca.issue("alice", client=True)
        self.mallory = self.client_ca.issue("mallory", client=True)
        self.client_ca.revoke(self.mallory)
        self.stranger = CA("tl stranger CA").issue("stranger", client=True)
        self.member_ca = CA("tl member CA")
        self.members = {n: self.member_ca.issue(n) for n in WEB}
        self.lb_client = self.client_ca.issue("the-load-balancer", client=True)
        self.write("root.pem", self.root.cert_pem)
        for name in ("alice", "mallory", "stranger"):
            self.write_pair(name, getattr(self, name))
        for name, issued in self.members.items():
            self.write_pair(name, issued)
        self.write("client-ca.pem", self.client_ca.cert_pem)

    def write(self, name: str, data: bytes) -> str:
        path = self.dir / name
        path.write_bytes(data)
        return str(path)

    def write_pair(self, name: str, issued: Issued) -> None:
        self.write(f"{name}.crt", issued.cert_pem)
        self.write(f"{name}.key", issued.key_pem)

    def path(self, name: str) -> str:
        return str(self.dir / name)


def _secret(service: Service, name: str, payload: bytes, secret_type: str) -> str:
    body = {"name": name, "secret_type": secret_type, "payload": payload.decode(), "payload_content_type": "text/plain"}
    return str(service.client.call("POST", "/v1/secrets", body)["secret_ref"])


def _tls_container(service: Service, name: str, issued: Issued) -> str:
    refs = [
        {"name": "certificate", "secret_ref": _secret(service, f"{name}-cert", issued.cert_pem, "certificate")},
        {"name": "private_key", "secret_ref": _secret(service, f"{name}-key", issued.key_pem, "private")},
    ]
    if issued.chain:
        refs.append({"name": "intermediates",
                     "secret_ref": _secret(service, f"{name}-chain", issued.chain_pem, "certificate")})  # fmt: skip
    body = {"name": name, "type": "certificate", "secret_refs": refs}
    return str(service.client.call("POST", "/v1/containers", body)["container_ref"])


def _start_member(service: Service, pki: Pki, name: str) -> subprocess.Popen[bytes]:
    ready = pki.dir / f"{name}.ready"
    ready.unlink(missing_ok=True)
    argv = [sys.executable, "-c", TLS_MEMBER, pki.path(f"{name}.crt"), pki.path(f"{name}.key"),
            pki.path("client-ca.pem"), str(MEMBER_TLS_PORT), name, str(ready)]  # fmt: skip
    proc = subprocess.Popen(service.hosts.exec_argv(f"{HOST_PREFIX}{name}", argv))
    service.wait_for(ready.exists, timeout=20, what=f"TLS member {name} listening")
    return proc


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    os.chmod(d, 0o755)
    return Pki(d)


@pytest.fixture(scope="module")
def members(service: Service, pki: Pki) -> Any:
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        yield procs
    finally:
        for proc in procs.values():
            stop(proc)


@pytest.fixture(scope="module")
def topo(service: Service, pki: Pki, members: dict[str, subprocess.Popen[bytes]]) -> dict[str, Any]:
    net, subnet = service.network(f"{NET}.0/24")
    service.host("client", net["id"], f"{NET}.10", serve=None)
    for name, ip in WEB.items():
        service.host(name, net["id"], ip)
        members[name] = _start_member(service, pki, name)
    www = _tls_container(service, "www", pki.www)
    api = _tls_container(service, "api", pki.api)
    client_ca = _secret(service, "client-ca", pki.client_ca.cert_pem, "certificate")
    crl = _secret(service, "client-crl", pki.client_ca.crl_pem(), "opaque")
    member_ca = _secret(service, "member-ca", pki.member_ca.cert_pem, "certificate")
    lb_client = _tls_container(service, "lb-client", pki.lb_client)
    ssl_headers = {h: "true" for h in ("X-SSL-Client-Verify", "X-SSL-Client-Has-Cert", "X-SSL-Client-CN",
                                       "X-SSL-Client-DN", "X-SSL-Issuer", "X-SSL-Client-SHA1")}  # fmt: skip
    web_members = [{"name": n, "address": ip, "protocol_port": 80} for n, ip in WEB.items()]
    tls_members = [{"name": n, "address": ip, "protocol_port": MEMBER_TLS_PORT} for n, ip in WEB.items()]
    hm = {"type": "HTTPS", "delay": 1, "timeout": 1, "max_retries": 1, "max_retries_down": 2,
          "http_method": "GET", "url_path": "/health", "expected_codes": "200"}  # fmt: skip
    https = {"protocol": "TERMINATED_HTTPS", "default_tls_container_ref": www}
    lb = service.create_lb({
        "vip_subnet_id": subnet["id"], "vip_address": VIP,
        "listeners": [
            {**https, "name": "main", "protocol_port": 443, "sni_container_refs": [api], "hsts_max_age": 31536000,
             "hsts_include_subdomains": True, "insert_headers": {"X-Forwarded-Proto": "true"},
             "default_pool": {"name": "web1"}},
            {**https, "name": "mtls", "protocol_port": 8443, "client_authentication": "MANDATORY",
             "client_ca_tls_container_ref": client_ca, "client_crl_container_ref": crl,
             "insert_headers": ssl_headers, "default_pool": {"name": "web2"}},
            {**https, "name": "opt", "protocol_port": 9443, "client_authentication": "OPTIONAL",
             "client_ca_tls_container_ref": client_ca, "insert_headers": ssl_headers,
             "default_pool": {"name": "web3"}},
            {**https, "name": "v13", "protocol_port": 10443, "tls_versions": ["TLSv1.3"],
             "default_pool": {"name": "web4"}},
            {"name": "reenc", "protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "tlspool"}},
        ],
        "pools": [
            *({"name": f"web{i}", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": web_members}
              for i in range(1, 5)),
            {"name": "tlspool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "tls_enabled": True,
             "ca_tls_container_ref": member_ca, "tls_container_ref": lb_client, "healthmonitor": hm,
             "members": tls_members},
        ],
    }, timeout=120)  # fmt: skip
    ids: dict[str, Any] = {"lb": lb["id"]}
    for pool in service.client.call("GET", "/v2/lbaas/pools")["pools"]:
        ids[pool["name"]] = pool["id"]
    service.wait_for(lambda: set(_tls_members(service, ids).values()) == {"ONLINE"}, timeout=20,
                     what="TLS members ONLINE through the HTTPS monitor")  # fmt: skip
    return ids


def _tls_members(service: Service, ids: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for li in service.client.status_tree(ids["lb"])["listeners"]:
        for pool in li["pools"]:
            if pool["id"] == ids["tlspool"]:
                out.update({m["name"]: m["operating_status"] for m in pool["members"]})
    return out


def tls(service: Service, port: int, **kw: Any) -> dict[str, Any]:
    args = {"host": VIP, "port": port, **kw}
    res = service.run_in("client", [sys.executable, "-c", TLS_CLIENT, json.dumps(args)])
    assert res.returncode == 0, res.stderr
    out = dict(json.loads(res.stdout))
    if isinstance(out.get("body"), dict):  # HAProxy sends header names in lower case
        out["body"]["headers"] = {k.lower(): v for k, v in out["body"].get("headers", {}).items()}
    return out


def test_served_chain_verifies_against_the_root_only(service: Service, topo: dict[str, Any], pki: Pki) -> None:
    out = tls(service, 443, sni="www.example.com", cafile=pki.path("root.pem"))
    assert "error" not in out, out  # the client trusts only the root: the intermediate came from HAProxy
    assert out["cn"] == "www.example.com" and out["status"] == 200
    assert out["body"]["headers"].get("x-forwarded-proto") == "https"
    shown = service.run_in("client", ["openssl", "s_client", "-connect", f"{VIP}:443", "-servername",
                                      "www.example.com", "-showcerts"], timeout=20)  # fmt: skip
    assert shown.stdout.count("-----BEGIN CERTIFICATE-----") == 2, shown.stdout
    assert "CN = tl intermediate" in shown.stdout


def test_sni_selects_the_certificate_and_falls_back_to_the_default(
    service: Service, topo: dict[str, Any], pki: Pki
) -> None:
    assert tls(service, 443, sni="api.example.com", cafile=pki.path("root.pem"))["cn"] == "api.example.com"
    assert tls(service, 443, sni="www.example.com")["cn"] == "www.example.com"
    assert tls(service, 443, sni="unknown.example.org")["cn"] == "www.example.com"
    assert tls(service, 443)["cn"] == "www.example.com"  # no SNI at all


def test_hsts_header_and_h2_through_alpn(service: Service, topo: dict[str, Any]) -> None:
    out = tls(service, 443, sni="www.example.com")
    assert out["headers"]["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    res = service.run_in("client", ["curl", "-sk", "--http2", "-o", "/dev/null", "-w", "%{http_version}",
                                    "--resolve", f"www.example.com:443:{VIP}", "https://www.example.com/"])  # fmt: skip
    assert res.returncode == 0 and res.stdout == "2", (res.stdout, res.stderr)


def test_tls_versions_are_honoured(service: Service, topo: dict[str, Any]) -> None:
    old = tls(service, 443, tls_min="TLSv1", tls_max="TLSv1")
    assert "error" in old and "protocol version" in old["error"].lower().replace("_", " "), old
    assert tls(service, 443, tls_min="TLSv1_2", tls_max="TLSv1_2")["version"] == "TLSv1.2"
    refused = tls(service, 10443, tls_min="TLSv1_2", tls_max="TLSv1_2")
    assert "error" in refused, refused
    assert tls(service, 10443)["version"] == "TLSv1.3"


def test_mandatory_client_auth(service: Service, topo: dict[str, Any], pki: Pki) -> None:
    ok = tls(service, 8443, cert=pki.path("alice.crt"), key=pki.path("alice.key"))
    assert ok.get("status") == 200, ok
    headers = ok["body"]["headers"]
    assert headers["x-ssl-client-verify"] == "0" and headers["x-ssl-client-has-cert"] == "1"
    assert headers["x-ssl-client-cn"].strip('"') == "alice" and "tl client CA" in headers["x-ssl-issuer"]
    for who in ({}, {"cert": pki.path("mallory.crt"), "key": pki.path("mallory.key")},
                {"cert": pki.path("stranger.crt"), "key": pki.path("stranger.key")}):  # fmt: skip
        refused = tls(service, 8443, **who)
        assert "error" in refused or refused.get("status") is None, (who, refused)


def test_optional_client_auth_admits_both(service: Service, topo: dict[str, Any], pki: Pki) -> None:
    anonymous = tls(service, 9443)
    assert anonymous.get("status") == 200, anonymous
    assert anonymous["body"]["headers"]["x-ssl-client-has-cert"] == "0"
    assert anonymous["body"]["headers"]["x-ssl-client-verify"] == "0"
    known = tls(service, 9443, cert=pki.path("alice.crt"), key=pki.path("alice.key"))
    assert known["body"]["headers"]["x-ssl-client-has-cert"] == "1"
    assert known["body"]["headers"]["x-ssl-client-cn"].strip('"') == "alice"


def test_pool_reencryption_and_https_monitor(
    service: Service, topo: dict[str, Any], pki: Pki, members: dict[str, subprocess.Popen[bytes]]
) -> None:
    answers = service.fetch("client", f"http://{VIP}:80/", 4)
    assert all(a["status"] == 200 for a in answers), answers
    assert {a["host"] for a in answers} == set(WEB)
    assert {a["client_cn"] for a in answers} == {"the-load-balancer"}  # the member verified HAProxy's cert
    stop(members.pop("web2"))
    try:
        service.wait_for(lambda: _tls_members(service, topo).get("web2") == "ERROR", timeout=10,
                         what="web2 ERROR through the HTTPS monitor")  # fmt: skip
        assert {a["host"] for a in service.fetch("client", f"http://{VIP}:80/", 4)} == {"web1"}
    finally:
        members["web2"] = _start_member(service, pki, "web2")
    service.wait_for(lambda: _tls_members(service, topo).get("web2") == "ONLINE", timeout=10, what="web2 back")


def test_cert_files_are_private_and_named_by_digest(service: Service, topo: dict[str, Any]) -> None:
    d = service.state_dir / "lb" / topo["lb"] / "certs"
    files = list(d.iterdir())
    assert files and oct(d.stat().st_mode & 0o777) == "0o700"
    for f in files:
        assert oct(f.stat().st_mode & 0o777) == "0o600", f
        assert len(f.stem) == 64
    cfg = (service.state_dir / "lb" / topo["lb"] / "haproxy.cfg").read_text()
    assert all(f.name in cfg for f in files)


def test_certificate_rotation_under_https_load(service: Service, topo: dict[str, Any], pki: Pki) -> None:
    """20 listener updates, each to a new certificate container, while clients keep requesting over
    keep-alive and over new connections: not one request fails, and the last certificate is served."""
    listener = next(li for li in service.client.call("GET", "/v2/lbaas/listeners")["listeners"] if li["name"] == "v13")
    keepalive = service.load("client", f"https://{VIP}:10443/", mode="keepalive", seconds=240)
    fresh = service.load("client", f"https://{VIP}:10443/", mode="new", seconds=240)
    try:
        for i in range(20):
            ref = _tls_container(service, f"rot{i}", pki.root.issue(f"rot{i}.example.com"))
            service.change(topo["lb"], "PUT", f"/v2/lbaas/listeners/{listener['id']}",
                           {"listener": {"default_tls_container_ref": ref}}, timeout=60)  # fmt: skip
            assert tls(service, 10443)["cn"] == f"rot{i}.example.com"
    finally:
        reports = [keepalive.stop(), fresh.stop()]
    for report in reports:
        assert report["requests"] > 20 and report["failed"] == 0, report
