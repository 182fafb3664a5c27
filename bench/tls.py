"""8. TLS: handshakes per second and HTTPS keep-alive req/s, our TERMINATED_HTTPS vs a hand-written HAProxy.

The same set-up as ``bench.dataplane`` (one static member, one client namespace, one bridge). Ours: an
LB whose TERMINATED_HTTPS listeners (:443 with an ECDSA P-256 certificate, :444 with an RSA 2048 one)
get their certificates from the secret store (/v1), as a user's would. The floor: the same namespace
built by hand (``bench/floor/provision.sh``) with ``bind … ssl crt <pem>`` frontends on the same two
certificates and nothing else. Modes: a new TLS connection per request (``Connection: close``: each
request is a full handshake, so req/s = handshakes/s) for each key type, and HTTPS keep-alive.
``wrk -t2 -c32``; rounds interleave the targets; ratios are medians of each round's own ratio.

Like with like: ours logs every request (the tenant flow log, on by default as in Octavia: HAProxy formats
a line and sends one datagram per request to the agent, which writes it to the LB's access.log). The
plain floor logs nothing, so a third target is the same floor with our log-format on its TLS frontends,
sending to a unix datagram socket that ``socat`` drains into a file (a minimal C receiver). The target
ratio is against that one; the ratio to the plain floor says what the flow log costs.
"""

from __future__ import annotations

import argparse
import re
import shutil
from typing import Any

from bench.common import BenchEnv, Report, WrkResult, floor_comparison, interleaved_rounds, lb_body, log_receiver, wrk
from lbaas.domain import certs
from lbaas.tools.demo import demo_pki

MODES = {  # mode → (port, extra wrk headers)
    "handshakes, ECDSA P-256": (443, ("Connection: close",)),
    "handshakes, RSA 2048": (444, ("Connection: close",)),
    "https keep-alive": (443, ()),
}
FLOOR, FLOOR_LOG = "hand-written haproxy", "hand-written haproxy + flow log"
TARGETS = ("lbaas", FLOOR_LOG, FLOOR)
TARGET_RATIO = 0.97


def _rsa_pem() -> tuple[bytes, bytes]:
    """An RSA 2048 certificate (self-signed) and key, PEM."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench-rsa.example")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))  # fmt: skip
    pem = serialization.Encoding.PEM
    return cert.public_bytes(pem), key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption())  # fmt: skip


def _container(env: BenchEnv, name: str, cert: bytes, key: bytes) -> str:
    c = env.svc.client
    refs = []
    for part, payload in (("certificate", cert), ("private_key", key)):
        ref = c.call("POST", "/v1/secrets", {"name": f"{name}-{part}", "payload": payload.decode(),
                                             "payload_content_type": "text/plain"})["secret_ref"]  # fmt: skip
        refs.append({"name": part, "secret_ref": ref})
    body = {"name": name, "type": "certificate", "secret_refs": refs}
    return str(c.call("POST", "/v1/containers", body)["container_ref"])


def run(args: argparse.Namespace, report: Report) -> None:
    duration = args.duration or (1.0 if args.quick else 5.0)
    rounds = args.rounds or (1 if args.quick else 5)
    with BenchEnv("tl") as env:
        svc = env.svc
        net, sn = svc.network("10.254.8.0/24")
        member = env.member(net["id"], "10.254.8.11", "m1")
        client = env.client(net["id"], "10.254.8.10")
        vip, floor_vip, floor_log_vip = "10.254.8.20", "10.254.8.30", "10.254.8.31"
        _, ec_cert, ec_key = demo_pki()
        rsa_cert, rsa_key = _rsa_pem()
        body: dict[str, Any] = lb_body(sn["id"], vip, [f"{member}:80"], hm=False)
        body["listeners"] += [
            {"name": f"https-{port}", "protocol": "TERMINATED_HTTPS", "protocol_port": port,
             "default_tls_container_ref": _container(env, f"bench-{port}", cert, key), "default_pool": {"name": "web"}}
            for port, cert, key in ((443, ec_cert, ec_key), (444, rsa_cert, rsa_key))
        ]  # fmt: skip
        lb = svc.create_lb(body)
        ours = (env.dir / "lb" / lb["id"] / "haproxy.cfg").read_text()
        formats = re.findall(r"^\s+log-format (.+)$", ours, re.MULTILINE)
        pems = env.dir / "floor-certs"
        pems.mkdir(parents=True, exist_ok=True)
        crts = []
        for label, cert, key in (("ec", ec_cert, ec_key), ("rsa", rsa_cert, rsa_key)):
            path = pems / f"{label}.pem"
            path.write_text(certs.build_bundle(cert, key).pem())
            path.chmod(0o600)
            crts.append(str(path))
        fl = env.floor("t", net["id"], floor_vip, 24, [f"{member}:80"], tls_crts=tuple(crts))
        fl.up()
        sink = env.dir / "floor-log.sock"
        floor_log = env.dir / "floor-access.log"
        with log_receiver(sink, floor_log):
            fll = env.floor("l", net["id"], floor_log_vip, 24, [f"{member}:80"], tls_crts=tuple(crts),
                            log_target=f'"{sink}"', log_format=formats[-1] if formats else "")  # fmt: skip
            fll.up()
            hosts = {"lbaas": vip, FLOOR_LOG: floor_log_vip, FLOOR: floor_vip}
            if not args.quick:
                for host in hosts.values():
                    wrk(f"https://{host}:443/", duration=1, connections=2, threads=1, ns=client)

            def measure(mode: str, target: str) -> WrkResult:
                port, headers = MODES[mode]
                return wrk(f"https://{hosts[target]}:{port}/", duration=duration, ns=client, headers=headers)

            runs = interleaved_rounds(rounds, MODES, TARGETS, measure)
    floor_comparison(report, runs, list(MODES), TARGETS, like=FLOOR_LOG, target_ratio=TARGET_RATIO,
                     others={"lbaas / hand-written": FLOOR},
                     title=f"wrk -t2 -c32 over TLS, {duration:.0f} s per run, {rounds} interleaved round(s): median "
                           "req/s (a new connection per request: handshakes/s), median of the rounds' ratios",
                     plot_title="TLS: wrk from a client namespace (median req/s)")  # fmt: skip
    report.notes.append("The floors bind `ssl crt` with HAProxy's defaults; ours adds Octavia's default ciphers, "
                        "tls_versions TLSv1.2+ and ALPN (all negotiate TLS 1.3 with wrk).")
    report.notes.append("Flow log: ours sends one datagram per request to the agent (Python, writes access.log); "
                        "the floor + flow log sends the same line to "
                        + ("socat (C, appends to a file)." if shutil.which("socat") else
                           "a minimal Python receiver (no socat on this machine; appends to a file)."))
