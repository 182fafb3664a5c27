"""``lbaas demo``: the reference figure, live. A client, WEB1 and WEB2 on one subnet; an LB in one-arm mode.

It drives only the public API (networks, ports, the secret store, a fully populated load balancer),
then sends requests from the client's namespace and prints, for each, which member answered, the
source address that member saw (the VIP: source NAT) and the X-Forwarded-For it got (the client). An
HTTPS listener (a self-signed CA made on the fly, its certificate stored through /v1) is then fetched
with the CA as the only trust anchor. Then it stops WEB2's server to show the health monitor taking
it out, and cleans up unless told to keep it.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from rich.console import Console
from rich.table import Table

from lbaas.tools.client import ApiError, Client
from lbaas.tools.hosts import Hosts

NET = "lbaas-demo"
CIDR = "10.250.0.0/24"
HOSTS = {"demo-client": "10.250.0.10", "demo-web1": "10.250.0.11", "demo-web2": "10.250.0.12"}
VIP = "10.250.0.20"

FETCH = """
import json, sys, urllib.request
out = []
for _ in range(int(sys.argv[2])):
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
            out.append(json.loads(r.read()))
    except Exception as exc:
        out.append({"error": str(exc)})
print(json.dumps(out))
"""


HTTPS_NAME = "demo.lbaas.test"
HTTPS_FETCH = """
import json, socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
with socket.create_connection((sys.argv[1], 443), timeout=5) as raw, ctx.wrap_socket(raw, server_hostname=sys.argv[3]) as t:
    t.sendall(f"GET / HTTP/1.1\\r\\nHost: {sys.argv[3]}\\r\\nConnection: close\\r\\n\\r\\n".encode())
    data = b""
    while chunk := t.recv(65536):
        data += chunk
    subject = dict(x[0] for x in t.getpeercert()["subject"])
    print(json.dumps({"version": t.version(), "cn": subject.get("commonName"),
                      "answer": json.loads(data.partition(b"\\r\\n\\r\\n")[2])}))
"""


def demo_pki() -> tuple[bytes, bytes, bytes]:
    """(CA certificate, server certificate, server key) as PEM: a throw-away CA and one ECDSA leaf."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lbaas demo CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))  # fmt: skip
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HTTPS_NAME)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(HTTPS_NAME)]), critical=False)
            .sign(ca_key, hashes.SHA256()))  # fmt: skip
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca.public_bytes(pem), leaf.public_bytes(pem), key_pem


@dataclass
class Demo:
    client: Client
    hosts: Hosts
    console: Console
    refs: list[str] = field(default_factory=list)  # secret store refs to delete at cleanup

    def store_certificate(self) -> tuple[str, bytes]:
        """The HTTPS listener's certificate container (made through /v1) and the CA that signed it."""
        ca, cert, key = demo_pki()
        secrets = []
        for name, payload, kind in (("certificate", cert, "certificate"), ("private_key", key, "private")):
            ref = self.client.call("POST", "/v1/secrets", {"name": f"demo-{name}", "secret_type": kind,
                                   "payload": payload.decode(), "payload_content_type": "text/plain"})["secret_ref"]  # fmt: skip
            self.refs.append(ref)
            secrets.append({"name": name, "secret_ref": ref})
        container = self.client.call("POST", "/v1/containers", {"name": "demo-https", "type": "certificate",
                                                                "secret_refs": secrets})["container_ref"]  # fmt: skip
        self.refs.insert(0, container)
        return container, ca

    def fetch_https(self, ca_pem: bytes) -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as d:
            ca_file = Path(d) / "ca.pem"
            ca_file.write_bytes(ca_pem)
            Path(d).chmod(0o755)
            argv = self.hosts.exec_argv("demo-client", [sys.executable, "-c", HTTPS_FETCH, VIP, str(ca_file), HTTPS_NAME])
            out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout
        return dict(json.loads(out))

    def fetch(self, n: int) -> list[dict[str, Any]]:
        argv = self.hosts.exec_argv("demo-client", [sys.executable, "-c", FETCH, f"http://{VIP}/", str(n)])
        out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout
        return list(json.loads(out))

    def show(self, title: str, answers: list[dict[str, Any]], start: int) -> None:
        names = {ip: name.removeprefix("demo-") for name, ip in HOSTS.items()}
        table = Table(title=title, title_justify="left")
        for col in ("#", "answered by", "source the member saw", "X-Forwarded-For it got"):
            table.add_column(col)
        for i, a in enumerate(answers, start=start):
            if "error" in a:
                table.add_row(str(i), "[red]failed[/red]", a["error"], "")
                continue
            peer = a.get("peer", "?")
            headers = {k.lower(): v for k, v in (a.get("headers") or {}).items()}
            xff = headers.get("x-forwarded-for", "")
            table.add_row(
                str(i),
                str(a.get("host", "?")).removeprefix("demo-"),
                f"{peer} ({'VIP' if peer == VIP else names.get(peer, '?')})",
                f"{xff} ({names.get(xff, '?')})" if xff else "",
            )
        self.console.print(table)

    def run(self, *, keep: bool) -> None:
        c, con = self.client, self.console
        con.rule("[bold]lbaas one-arm demo")
        net = c.call("POST", "/v2.0/networks", {"network": {"name": NET}})["network"]
        subnet = c.call(
            "POST",
            "/v2.0/subnets",
            {"subnet": {"network_id": net["id"], "name": NET, "ip_version": 4, "cidr": CIDR, "gateway_ip": None}},
        )["subnet"]
        lb_id: str | None = None
        try:
            for name, ip in HOSTS.items():
                self.hosts.create(name, net["id"], ip)
            for name in ("demo-web1", "demo-web2"):
                self.hosts.serve(name, 80)
            con.print(f"network {NET} {CIDR}: client {HOSTS['demo-client']}, web1 {HOSTS['demo-web1']}, "
                      f"web2 {HOSTS['demo-web2']} (namespaces lbh-demo-*)")
            container, ca_pem = self.store_certificate()
            t0 = time.monotonic()
            lb = c.call("POST", "/v2/lbaas/loadbalancers", {"loadbalancer": {
                "name": "demo", "vip_subnet_id": subnet["id"], "vip_address": VIP,
                "listeners": [{"name": "http", "protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "web"}},
                              {"name": "https", "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
                               "default_tls_container_ref": container, "default_pool": {"name": "web"}}],
                "pools": [{"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                           "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1,
                                             "max_retries_down": 2, "url_path": "/"},
                           "members": [{"name": "web1", "address": HOSTS["demo-web1"], "protocol_port": 80},
                                       {"name": "web2", "address": HOSTS["demo-web2"], "protocol_port": 80}]}],
            }})["loadbalancer"]  # fmt: skip
            lb_id = lb["id"]
            c.wait_active(lb_id)
            con.print(f"load balancer {lb_id}: VIP {VIP} in namespace qlbaas-{lb_id}, "
                      f"ACTIVE in {time.monotonic() - t0:.2f} s")  # fmt: skip
            self.wait_members(lb_id, {"ONLINE"}, timeout=15)
            self.show("Round robin from the client to the VIP", self.fetch(6), 1)
            https = self.fetch_https(ca_pem)
            con.print(f"\nHTTPS to {VIP}:443 (SNI {HTTPS_NAME}, trusting only the demo CA): {https['version']}, "
                      f"certificate CN={https['cn']}, answered by {str(https['answer'].get('host')).removeprefix('demo-')}")  # fmt: skip

            con.print("\nStopping web2's HTTP server…")
            t1 = time.monotonic()
            self.hosts.stop_server("demo-web2")
            web2 = self.wait_member(lb_id, "web2", "ERROR", timeout=20)
            pool = self.status(lb_id)["listeners"][0]["pools"][0]
            con.print(f"member web2 → {web2} after {time.monotonic() - t1:.1f} s; pool → {pool['operating_status']}")
            self.show("Traffic goes to the survivor only", self.fetch(4), 7)
        finally:
            if keep:
                con.print("\n--keep: leaving the demo in place (lbaas host list; lbaas host delete …).")
            else:
                self.cleanup(lb_id, net["id"], subnet["id"])

    def status(self, lb_id: str) -> dict[str, Any]:
        return self.client.status_tree(lb_id)

    def members(self, lb_id: str) -> dict[str, str]:
        pool = self.status(lb_id)["listeners"][0]["pools"][0]
        return {m["name"]: m["operating_status"] for m in pool["members"]}

    def wait_members(self, lb_id: str, wanted: set[str], timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if set(self.members(lb_id).values()) <= wanted:
                return
            time.sleep(0.2)
        raise ApiError(f"members not {wanted} after {timeout}s: {self.members(lb_id)}")

    def wait_member(self, lb_id: str, name: str, wanted: str, timeout: float) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            status = self.members(lb_id).get(name, "?")
            if status == wanted:
                return status
            time.sleep(0.1)
        raise ApiError(f"member {name} not {wanted} after {timeout}s")

    def cleanup(self, lb_id: str | None, net_id: str, subnet_id: str) -> None:
        self.console.print("\nCleaning up…")
        if lb_id is not None:
            self.client.call("DELETE", f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true", ok=(404, 409))
            self.client.wait_gone(lb_id)
        for name in HOSTS:
            try:
                self.hosts.delete(name)
            except ApiError:
                pass
        for ref in self.refs:
            self.client.call("DELETE", "/v1/" + ref.split("/v1/", 1)[1], ok=(404,))
        self.client.call("DELETE", f"/v2.0/subnets/{subnet_id}", ok=(404, 409))
        self.client.call("DELETE", f"/v2.0/networks/{net_id}", ok=(404, 409))
        self.console.print("done: no demo namespace, process or port left.")
