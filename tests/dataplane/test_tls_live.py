"""Certificate renewal without a reload: the default and an SNI certificate of a TERMINATED_HTTPS listener
replaced through the API by certificates with the same names are swapped over HAProxy's runtime API.

Seen from outside: new connections get the new certificates (SHA-256 fingerprint of what the client
received), the master's reload counter and the worker pid do not move, and a keep-alive connection opened
before the swap keeps serving requests after it. Then a change that needs a reload: the counter moves (the
detector works) and the reloaded worker serves the same new certificates (read from the files on disk).
A listener's client CA replaced the same way (``set/commit ssl ca-file``): the new CA's clients get in,
the old one's do not, no reload. Each listener has a certificate of its own: one shared by two listeners
and renewed for one only cannot be swapped live (a reload, by design). After a live swap the agent is
killed (SIGKILL) and started again on the same state directory: the next renewal is live too (the new
agent reads which store holds which file from ``cert_keys.json``; without it HAProxy refuses the file
name and the agent reloads).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from lbaas.agent.haproxy.process import parse_show_proc, unix_command
from lbaas.agent.paths import LbPaths
from tests.dataplane.harness import Service
from tests.tlsutil import CA, Issued

pytestmark = pytest.mark.netns
HOST_PREFIX = "tlv-"
NET = "10.252.49"
VIP = f"{NET}.20"

# One TLS connection from the client's namespace: prints the certificate's fingerprint, then one request
# per line read on stdin over the same connection (status, and whether the server closed it).
KEEPALIVE = r"""
import hashlib, json, socket, ssl, sys
host, port, sni = sys.argv[1], int(sys.argv[2]), sys.argv[3] or None
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
tls = ctx.wrap_socket(socket.create_connection((host, port), timeout=10), server_hostname=sni)
fp = hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()
buf = b""

def request():
    global buf
    tls.sendall(b"GET / HTTP/1.1\r\nHost: " + (sni or host).encode() + b"\r\n\r\n")
    while b"\r\n\r\n" not in buf:
        data = tls.recv(65536)
        if not data:
            return {"status": None, "closed": True}
        buf += data
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
    length = int(headers.get("content-length", "0"))
    while len(buf) < length:
        data = tls.recv(65536)
        if not data:
            break
        buf += data
    buf = buf[length:]
    return {"status": int(lines[0].split()[1]), "closed": headers.get("connection", "").lower() == "close"}

print(json.dumps({"fp": fp, **request()}), flush=True)
for _ in sys.stdin:
    print(json.dumps({"fp": fp, **request()}), flush=True)
"""

FINGERPRINT = r"""
import hashlib, json, socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
out = {}
for sni in json.loads(sys.argv[3]):
    with ctx.wrap_socket(socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10),
                         server_hostname=sni or None) as tls:
        out[sni] = hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()
print(json.dumps(out))
"""


# One request with an optional client certificate: "200" or the handshake error.
WITH_CLIENT_CERT = r"""
import socket, ssl, sys
host, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.load_cert_chain(cert, key)
try:
    with ctx.wrap_socket(socket.create_connection((host, port), timeout=10), server_hostname="www.example.com") as tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    print(data.split(b" ", 2)[1].decode() if data else "closed")
except (ssl.SSLError, OSError) as exc:
    print(type(exc).__name__)
"""


def fingerprint(issued: Issued) -> str:
    import hashlib

    return hashlib.sha256(issued.cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _secret(service: Service, name: str, payload: bytes, secret_type: str) -> str:
    body = {"name": name, "secret_type": secret_type, "payload": payload.decode(), "payload_content_type": "text/plain"}
    return str(service.client.call("POST", "/v1/secrets", body)["secret_ref"])


def container(service: Service, name: str, issued: Issued) -> str:
    refs = [{"name": "certificate", "secret_ref": _secret(service, f"{name}-cert", issued.cert_pem, "certificate")},
            {"name": "private_key", "secret_ref": _secret(service, f"{name}-key", issued.key_pem, "private")}]  # fmt: skip
    body = {"name": name, "type": "certificate", "secret_refs": refs}
    return str(service.client.call("POST", "/v1/containers", body)["container_ref"])


@pytest.fixture(scope="module")
def topo(service: Service) -> dict[str, Any]:
    net, subnet = service.network(f"{NET}.0/24")
    service.host("client", net["id"], f"{NET}.10", serve=None)
    service.host("web", net["id"], f"{NET}.11")
    ca = CA("tlv root")
    certs = {"www": ca.issue("www.example.com"), "api": ca.issue("api.example.com", kind="rsa")}
    clients = CA("tlv clients")
    lb = service.create_lb({
        "vip_subnet_id": subnet["id"], "vip_address": VIP,
        "listeners": [{"name": "main", "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
                       "default_tls_container_ref": container(service, "www", certs["www"]),
                       "sni_container_refs": [container(service, "api", certs["api"])],
                       "default_pool": {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                                        "members": [{"address": f"{NET}.11", "protocol_port": 80}]}},
                      {"name": "mtls", "protocol": "TERMINATED_HTTPS", "protocol_port": 8443,
                       "default_tls_container_ref": container(service, "mtls", ca.issue("mtls.example.com")),
                       "client_authentication": "MANDATORY",
                       "client_ca_tls_container_ref": _secret(service, "clients", clients.cert_pem, "certificate"),
                       "default_pool": {"name": "web"}}],
    }, timeout=90)  # fmt: skip
    listeners = {li["name"]: li["id"] for li in service.client.call("GET", "/v2/lbaas/listeners")["listeners"]}
    return {"lb": lb["id"], "listener": listeners["main"], "mtls": listeners["mtls"], "ca": ca, "certs": certs,
            "clients": clients}


def served(service: Service, *snis: str) -> dict[str, str]:
    res = service.run_in("client", [sys.executable, "-c", FINGERPRINT, VIP, "443", json.dumps(list(snis))])
    assert res.returncode == 0, res.stderr
    return dict(json.loads(res.stdout))


def master(service: Service, lb_id: str) -> tuple[int, list[int]]:
    """(reloads, worker pids) from the master CLI's ``show proc``."""
    info = parse_show_proc(unix_command(LbPaths(service.state_dir, lb_id).master_sock, "show proc"))
    return info.reloads, [pid for pid, _ in info.workers]


def test_renewed_certificates_are_swapped_live_without_a_reload(service: Service, topo: dict[str, Any]) -> None:
    ca, lb, listener = topo["ca"], topo["lb"], topo["listener"]
    old = topo["certs"]
    assert served(service, "", "api.example.com") == {"": fingerprint(old["www"]),
                                                      "api.example.com": fingerprint(old["api"])}  # fmt: skip
    before = master(service, lb)
    client = subprocess.Popen(
        service.hosts.exec_argv(f"{HOST_PREFIX}client", [sys.executable, "-c", KEEPALIVE, VIP, "443", ""]),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert client.stdin is not None and client.stdout is not None
        first = json.loads(client.stdout.readline())
        assert first == {"fp": fingerprint(old["www"]), "status": 200, "closed": False}

        new = {"www": ca.issue("www.example.com"), "api": ca.issue("api.example.com", kind="rsa")}
        service.change(lb, "PUT", f"/v2/lbaas/listeners/{listener}", {"listener": {
            "default_tls_container_ref": container(service, "www2", new["www"]),
            "sni_container_refs": [container(service, "api2", new["api"])]}}, timeout=60)  # fmt: skip

        assert served(service, "", "www.example.com", "api.example.com", "unknown.example.org") == {
            "": fingerprint(new["www"]), "www.example.com": fingerprint(new["www"]),
            "api.example.com": fingerprint(new["api"]), "unknown.example.org": fingerprint(new["www"])}  # fmt: skip
        assert master(service, lb) == before  # no reload: same counter, same worker
        for _ in range(2):  # the connection made before the swap still serves, and is not told to close
            client.stdin.write("\n")
            client.stdin.flush()
            assert json.loads(client.stdout.readline()) == {"fp": fingerprint(old["www"]), "status": 200,
                                                            "closed": False}  # fmt: skip
    finally:
        client.kill()
        client.wait(timeout=10)

    d = LbPaths(service.state_dir, lb).certs
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in d.iterdir()) and d.stat().st_mode & 0o777 == 0o700
    on_disk = {f.read_bytes() for f in d.iterdir()}
    assert any(new["www"].cert_pem in pem for pem in on_disk) and not any(old["www"].cert_pem in p for p in on_disk)

    # a change that needs a reload: the detector above moves, and the new worker reads the same material
    service.change(lb, "PUT", f"/v2/lbaas/listeners/{listener}", {"listener": {"timeout_client_data": 40000}})
    reloads, workers = master(service, lb)
    assert reloads == before[0] + 1 and workers != before[1]
    assert served(service, "", "api.example.com") == {"": fingerprint(new["www"]),
                                                      "api.example.com": fingerprint(new["api"])}  # fmt: skip


def test_a_certificate_with_other_names_is_loaded_by_a_reload(service: Service, topo: dict[str, Any]) -> None:
    """Not the same SNI layout (another name): not swapped live; the reload path serves it."""
    lb, listener = topo["lb"], topo["listener"]
    before = master(service, lb)
    other = topo["ca"].issue("other.example.com")
    service.change(lb, "PUT", f"/v2/lbaas/listeners/{listener}",
                   {"listener": {"default_tls_container_ref": container(service, "other", other)}}, timeout=60)  # fmt: skip
    assert served(service, "")[""] == fingerprint(other)
    assert master(service, lb)[0] == before[0] + 1


def test_a_new_client_ca_is_swapped_live(service: Service, topo: dict[str, Any], tmp_path: Path) -> None:
    """client_ca_tls_container_ref replaced: ``set/commit ssl ca-file``, no reload; the new CA's clients get
    in, the old CA's do not."""
    tmp_path.chmod(0o755)
    lb, mtls = topo["lb"], topo["mtls"]
    old_ca, new_ca = topo["clients"], CA("tlv clients 2")

    def request(issued: Issued, name: str) -> str:
        cert, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
        cert.write_bytes(issued.cert_pem)
        key.write_bytes(issued.key_pem)
        res = service.run_in("client", [sys.executable, "-c", WITH_CLIENT_CERT, VIP, "8443", str(cert), str(key)])
        assert res.returncode == 0, res.stderr
        return res.stdout.strip()

    alice, bob = old_ca.issue("alice", client=True), new_ca.issue("bob", client=True)
    assert request(alice, "alice") == "200" and request(bob, "bob") != "200"
    before = master(service, lb)
    service.change(lb, "PUT", f"/v2/lbaas/listeners/{mtls}", {"listener": {
        "client_ca_tls_container_ref": _secret(service, "clients-2", new_ca.cert_pem, "certificate")}}, timeout=60)  # fmt: skip
    assert request(bob, "bob") == "200" and request(alice, "alice") != "200"
    assert master(service, lb) == before


def reconciled_ok(service: Service) -> int:
    """Reconcile passes of this ``lbaas serve``'s agent that succeeded (its /metrics)."""
    text = service.client.http.get("/metrics").text
    found = re.search(r'^lbaas_reconcile_duration_seconds_count\{outcome="ok"\} (\S+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


def test_a_renewal_after_an_agent_restart_is_live(service: Service, topo: dict[str, Any]) -> None:
    ca, lb, listener = topo["ca"], topo["lb"], topo["listener"]
    paths = LbPaths(service.state_dir, lb)

    def renew_sni() -> Issued:
        new = ca.issue("api.example.com", kind="rsa")
        service.change(lb, "PUT", f"/v2/lbaas/listeners/{listener}", {"listener": {
            "sni_container_refs": [container(service, f"api-{new.cert.serial_number}", new)]}}, timeout=60)  # fmt: skip
        assert served(service, "api.example.com") == {"api.example.com": fingerprint(new)}
        return new

    before = master(service, lb)
    renew_sni()  # live: the store named after the loaded file now holds another file's content
    assert master(service, lb) == before
    assert paths.cert_keys.stat().st_mode & 0o777 == 0o600
    assert json.loads(paths.cert_keys.read_text())["loaded"] == paths.loaded.read_text().strip()

    service.restart(signal.SIGKILL)  # a new agent (a new Reconciler) on the same state directory
    deadline = time.monotonic() + 30
    while reconciled_ok(service) < 1:  # its first resync adopted the running HAProxy
        assert time.monotonic() < deadline, "the restarted agent never reconciled the LB"
        time.sleep(0.05)
    assert master(service, lb) == before  # adopted, not reloaded

    renew_sni()
    assert master(service, lb) == before  # live again: same reload counter, same worker
