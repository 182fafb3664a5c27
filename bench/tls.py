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
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import (
    BenchEnv,
    Report,
    WrkResult,
    fmt_num,
    fmt_ratio,
    interleaved_rounds,
    lb_body,
    median,
    paired_ratio,
    plot_bars,
    wrk,
)
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
# The floor's log receiver where socat is missing: the same work (a datagram in, a line appended).
PY_SINK = """
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind(sys.argv[1])
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
while True:
    os.write(fd, s.recv(65536) + b"\\n")
"""


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
        argv = (["socat", "-u", f"UNIX-RECV:{sink},rcvbuf=1048576", f"OPEN:{floor_log},creat,append"]
                if shutil.which("socat") else [sys.executable, "-c", PY_SINK, str(sink), str(floor_log)])  # fmt: skip
        receiver = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)  # fmt: skip
        try:
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
        finally:
            receiver.terminate()
            receiver.wait(timeout=10)
    t = report.table(f"wrk -t2 -c32 over TLS, {duration:.0f} s per run, {rounds} interleaved round(s): median req/s "
                     "(a new connection per request: handshakes/s), median of the rounds' ratios",
                     ["mode", "target", "req/s", "p99", "lbaas / same + flow log", "lbaas / hand-written", "errors",
                      "target"])  # fmt: skip
    summary: dict[str, list[float]] = {target: [] for target in TARGETS}
    rows: list[list[object]] = []
    missed = []
    for mode in MODES:
        like = paired_ratio(runs[(mode, "lbaas")], runs[(mode, FLOOR_LOG)])
        vs_floor = paired_ratio(runs[(mode, "lbaas")], runs[(mode, FLOOR)])
        for target in TARGETS:
            rs = runs[(mode, target)]
            first = target == "lbaas"
            t.add(mode, target, fmt_num(median([r.rps for r in rs])), f"{median([r.p99 for r in rs]) * 1000:.1f} ms",
                  fmt_ratio(like) if first else "", fmt_ratio(vs_floor) if first else "",
                  sum(r.errors + r.non2xx for r in rs),
                  f"≥ {TARGET_RATIO:.2f}× same + flow log" if first else "")  # fmt: skip
            summary[target].append(median([r.rps for r in rs]))
            for i, r in enumerate(rs):
                rows.append([mode, target, i, f"{r.rps:.0f}", f"{r.p50 * 1000:.3f}", f"{r.p99 * 1000:.3f}", r.requests,
                             r.errors, r.non2xx])  # fmt: skip
        if like < TARGET_RATIO:
            missed.append(mode)
    report.notes.append("Target (≥ 97 % of the hand-written HAProxy doing the same work, flow log included): "
                        + ("met in every mode." if not missed else f"MISSED in {', '.join(missed)}."))
    report.notes.append("The floors bind `ssl crt` with HAProxy's defaults; ours adds Octavia's default ciphers, "
                        "tls_versions TLSv1.2+ and ALPN (all negotiate TLS 1.3 with wrk).")
    report.notes.append("Flow log: ours sends one datagram per request to the agent (Python, writes access.log); "
                        "the floor + flow log sends the same line to "
                        + ("socat (C, appends to a file)." if shutil.which("socat") else
                           "a minimal Python receiver (no socat on this machine; appends to a file)."))
    report.csv_header = ["mode", "target", "run", "req_s", "p50_ms", "p99_ms", "requests", "socket_errors", "non_2xx"]
    report.csv_rows = rows

    def plot(path: Path) -> None:
        plot_bars(path, "TLS: wrk from a client namespace (median req/s)", list(MODES), summary, "requests/s")

    report.plot = plot
