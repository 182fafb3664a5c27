"""What every benchmark shares: a real ``lbaas serve`` with test hosts, hand-made floors, probes from a
client namespace, fast static members, wrk, statistics, tables, CSV, plots and the doc.

Naming and addresses (other suites run on the same machine at the same time): host names start with
``bn-`` (namespaces ``lbh-bn-…``; ``bq-`` in --quick runs, so the smoke test never meets a full run),
hand-made namespaces with ``bnfloor-``, hand-made veths with ``bnf`` (``bnfloor-q…``/``bnfq…`` in quick runs);
every address is in 10.254.0.0/16; API ports are in 19700–19799. Everything is removed on the way out,
by pid and by the names this run created, also on an exception or SIGTERM.
"""

from __future__ import annotations

import concurrent.futures
import csv
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from lbaas.agent.haproxy.process import child_pids
from lbaas.agent.hosts import kill_namespace_processes
from lbaas.agent.netns import nsexec
from lbaas.agent.netns.base import bridge_name
from lbaas.tools.harness import Service, close_service, open_service, start_service, stop_process

T = TypeVar("T")

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
FLOOR_DIR = BENCH_DIR / "floor"
DEFAULT_OUT = REPO / "docs" / "benchmarks"
DOC = REPO / "docs" / "benchmarks.md"
API_PORTS = range(19700, 19800)
FLOOR_NS_PREFIX = "bnfloor-"


class BenchError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------- checks


def missing_requirements(tools: Iterable[str] = ("ip", "haproxy", "wrk")) -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in tools:
        if shutil.which(tool) is None:
            return f"needs {tool} on PATH"
    return None


def pick_port() -> int:
    """A free TCP port on 127.0.0.1 inside 19700–19799 (the range this suite may use)."""
    ports = list(API_PORTS)
    random.shuffle(ports)
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise BenchError("no free port in 19700-19799")


# ---------------------------------------------------------------------------------------------- stats


def pct(xs: Sequence[float], p: float) -> float:
    """Percentile with linear interpolation between closest ranks (numpy's default)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = (len(s) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def fmt_ms(seconds: float) -> str:
    return "–" if seconds != seconds else f"{seconds * 1000:.0f} ms"


def fmt_ratio(x: float) -> str:
    return "–" if x != x else f"{x:.2f}×"


def fmt_num(x: float, digits: int = 0) -> str:
    return "–" if x != x else f"{x:,.{digits}f}"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


# ---------------------------------------------------------------------------------------------- report


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def markdown(self) -> str:
        out = [f"**{self.title}**", "", "| " + " | ".join(self.headers) + " |",
               "|" + "|".join("---" for _ in self.headers) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(out)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


@dataclass
class Report:
    """One benchmark's result: tables (printed and put in the doc), raw samples (CSV), a plot (PNG)."""

    name: str
    title: str
    quick: bool
    command: str
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    csv_header: list[str] = field(default_factory=list)
    csv_rows: list[list[object]] = field(default_factory=list)
    plot: Callable[[Path], None] | None = None
    started: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    load_before: str = field(default_factory=loadavg)
    load_after: str = ""

    def table(self, title: str, headers: list[str]) -> Table:
        t = Table(title, headers)
        self.tables.append(t)
        return t

    def markdown(self) -> str:
        mode = " (quick mode: too few samples to quote)" if self.quick else ""
        out = [f"Command: `{self.command}`{mode}",
               f"Run: {self.started}; load average before/after: {self.load_before} / {self.load_after or loadavg()}",
               ""]  # fmt: skip
        for t in self.tables:
            out += [t.markdown(), ""]
        for n in self.notes:
            out.append(f"- {n}")
        if self.csv_rows:
            out += ["", f"Raw samples: `docs/benchmarks/{self.name}.csv`; plot: `docs/benchmarks/{self.name}.png`."]
        return "\n".join(out).rstrip() + "\n"

    def write(self, out_dir: Path) -> list[Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        if self.csv_rows:
            p = out_dir / f"{self.name}.csv"
            with p.open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(self.csv_header)
                w.writerows(self.csv_rows)
            written.append(p)
        if self.plot is not None:
            p = out_dir / f"{self.name}.png"
            self.plot(p)
            written.append(p)
        return written


def update_doc(doc: Path, name: str, block: str) -> None:
    """Replace the text between ``<!-- BEGIN bench:name -->`` and ``<!-- END bench:name -->`` in ``doc``."""
    begin, end = f"<!-- BEGIN bench:{name} -->", f"<!-- END bench:{name} -->"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{block}{end}{tail}"
    else:
        text = text.rstrip() + f"\n\n{begin}\n{block}{end}\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)


# ---------------------------------------------------------------------------------------------- plots


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_samples(path: Path, title: str, groups: Mapping[str, Sequence[float]], ylabel: str = "ms",
                 scale: float = 1000.0, targets: dict[str, float] | None = None) -> None:
    """Box plot with every sample drawn on top (jittered), one box per group."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(groups) + 2), 4.2))
    names = list(groups)
    data = [[v * scale for v in groups[n]] for n in names]
    ax.boxplot(data, tick_labels=names, showfliers=False, whis=(10, 90))
    rnd = random.Random(1)
    for i, vals in enumerate(data, start=1):
        ax.scatter([i + rnd.uniform(-0.12, 0.12) for _ in vals], vals, s=9, alpha=0.6)
    for label, y in (targets or {}).items():
        ax.axhline(y * scale, linestyle="--", linewidth=1, color="grey")
        ax.annotate(label, (0.5, y * scale), fontsize=8, color="grey", va="bottom")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", alpha=0.3)
    plt.setp(ax.get_xticklabels(), rotation=15, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_bars(path: Path, title: str, categories: Sequence[str], series: Mapping[str, Sequence[float]],
              ylabel: str) -> None:
    """Grouped bars: one group per category, one bar per series."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(categories) * max(1, len(series)) / 2 + 2), 4.2))
    width = 0.8 / max(1, len(series))
    for j, (name, vals) in enumerate(series.items()):
        xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(categories))]
        bars = ax.bar(xs, list(vals), width=width, label=name)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(range(len(categories)), list(categories))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- probes


def http_get(host: str, port: int = 80, *, timeout: float = 1.0, path: str = "/") -> tuple[int, bytes]:
    """One HTTP/1.1 request on a new connection; (status, body)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise OSError(f"bad HTTP answer {data[:80]!r}")
    return int(parts[1]), body


def in_ns(ns: str, fn: Callable[[], T], timeout: float = 60.0) -> concurrent.futures.Future[T]:
    """Run ``fn`` in a thread switched into namespace ``ns``; its sockets live there."""
    ex = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"bn-{ns}")
    fut = ex.submit(nsexec.run_in_netns, ns, fn, timeout=timeout)
    ex.shutdown(wait=False)
    return fut


def first_answer(host: str, port: int, accept: Callable[[int, bytes], bool], *, timeout: float = 30.0,
                 interval: float = 0.002) -> float:
    """Poll with new connections until ``accept(status, body)``; the monotonic time of that answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, body = http_get(host, port, timeout=0.5)
            now = time.monotonic()
            if accept(status, body):
                return now
        except OSError:
            pass
        time.sleep(interval)
    raise BenchError(f"no accepted answer from {host}:{port} in {timeout}s")


def is_200(status: int, body: bytes) -> bool:
    return status == 200


def probe_first(ns: str, host: str, port: int, accept: Callable[[int, bytes], bool] = is_200, *,
                timeout: float = 60.0) -> concurrent.futures.Future[float]:
    """``first_answer`` polled from namespace ``ns``, started now; its result is the time of the answer."""
    return in_ns(ns, lambda: first_answer(host, port, accept, timeout=timeout), timeout=timeout + 10)


def probe_gone(ns: str, host: str, port: int, gone: Callable[[int, bytes], bool], *,
               timeout: float = 60.0) -> concurrent.futures.Future[float]:
    return in_ns(ns, lambda: gone_after(host, port, gone, timeout=timeout), timeout=timeout + 10)


def gone_after(host: str, port: int, gone: Callable[[int, bytes], bool], *, streak: int = 9,
               timeout: float = 30.0, interval: float = 0.002) -> float:
    """Poll until ``streak`` answers in a row satisfy ``gone``; the time of the first of them."""
    deadline = time.monotonic() + timeout
    first: float | None = None
    run = 0
    while time.monotonic() < deadline:
        try:
            status, body = http_get(host, port, timeout=0.5)
            now = time.monotonic()
        except OSError:
            time.sleep(interval)
            continue
        if gone(status, body):
            if run == 0:
                first = now
            run += 1
            if run >= streak and first is not None:
                return first
        else:
            run, first = 0, None
        time.sleep(interval)
    raise BenchError(f"{host}:{port} did not settle in {timeout}s")


def fast_arp(ns: str, retrans_ms: int = 5) -> None:
    """Make a client namespace re-ask ARP every ``retrans_ms`` (default 1 s), so that a probe sent
    before a VIP exists learns it within a few ms of it appearing, with or without a gratuitous ARP.
    Applied to every interface of the (client) namespace; both the product and the floors gain."""

    def inside() -> None:
        base = Path("/proc/sys/net/ipv4/neigh")
        for d in base.iterdir():
            (d / "retrans_time_ms").write_text(f"{retrans_ms}\n")

    nsexec.run_in_netns(ns, inside)


def flush_neigh(ns: str) -> None:
    subprocess.run(["ip", "-n", ns, "neigh", "flush", "all"], capture_output=True, check=False)


# ---------------------------------------------------------------------------------------------- members


MEMBER_CFG = """global
    maxconn 9000
    pidfile {pidfile}
defaults
    mode http
    timeout connect 5s
    timeout client 50s
    timeout server 50s
frontend member
    bind :{port}
    http-request return status 200 content-type text/plain string "{name}"
"""


def start_static_member(ns: str, name: str, workdir: Path, port: int = 80) -> int:
    """A fast member: HAProxy answering every request with 200 and its own name as the body."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg, pidfile = workdir / f"{name}.cfg", workdir / f"{name}.pid"
    cfg.write_text(MEMBER_CFG.format(pidfile=pidfile, port=port, name=name))
    subprocess.run(["ip", "netns", "exec", ns, "haproxy", "-D", "-f", str(cfg)], check=True,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    return int(pidfile.read_text().split()[0])


# ---------------------------------------------------------------------------------------------- floors


def floor_mac() -> str:
    return "02:62:6e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))  # 02:'b':'n':…


@dataclass
class FloorLb:
    """A load balancer built by hand with ``bench/floor/provision.sh`` (plain ``ip`` and ``haproxy``)."""

    name: str  # ≤ 8 characters: the veth is bnf<name>-ish, at most 15
    bridge: str
    vip: str
    prefixlen: int
    members: list[str]  # "ip:port"
    workdir: Path
    check: bool = False
    tcp_port: int | None = None
    classic: bool = False
    balance: str = "roundrobin"
    weights: dict[str, int] = field(default_factory=dict)
    mac: str = field(default_factory=floor_mac)
    tls_crts: tuple[str, ...] = ()  # PEM files: a TLS frontend each on 443, 444, …
    log_target: str = ""  # with log_format: every TLS frontend logs each request there (as ours do)
    log_format: str = ""  # a log-format argument as HAProxy reads it (quoted)
    log_format_tcp: str = ""  # with log_target: the TCP frontend logs each connection with this one

    @property
    def ns(self) -> str:
        return FLOOR_NS_PREFIX + self.name

    @property
    def tap(self) -> str:
        return ("bnf" + self.name)[:15]

    def env(self) -> dict[str, str]:
        members = " ".join(f"{m}:{self.weights.get(m, 1)}" for m in self.members)
        return {**os.environ, "NS": self.ns, "TAP": self.tap, "BRIDGE": self.bridge, "MAC": self.mac,
                "VIP": self.vip, "PLEN": str(self.prefixlen), "DIR": str(self.workdir), "MEMBERS": members,
                "CHECK": "1" if self.check else "0", "TCP_PORT": str(self.tcp_port or ""),
                "CLASSIC": "1" if self.classic else "0", "BALANCE": self.balance,
                "TLS_CRTS": " ".join(self.tls_crts), "LOG_TARGET": self.log_target,
                "LOG_FORMAT": self.log_format, "LOG_FORMAT_TCP": self.log_format_tcp}  # fmt: skip

    def _script(self, script: str, action: str) -> None:
        r = subprocess.run(["sh", str(FLOOR_DIR / script), action], env=self.env(), capture_output=True,
                           text=True, stdin=subprocess.DEVNULL, timeout=60)
        if r.returncode != 0:
            raise BenchError(f"{script} {action} ({self.ns}) failed: {r.stdout}{r.stderr}")

    def up(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._script("provision.sh", "up")

    def reload(self) -> None:
        """Rewrite the config from ``members``/``balance``/``weights`` and reload (or ``-sf`` restart)."""
        self._script("reload.sh", "classic" if self.classic else "master-worker")

    def down(self) -> None:
        try:
            self._script("provision.sh", "down")
        except Exception as exc:
            print(f"floor {self.ns}: {exc}", file=sys.stderr)
        remove_floor_leftovers(self.ns, self.tap)


def remove_floor_leftovers(ns: str, tap: str | None = None) -> None:
    """Whatever provision.sh down could not: processes in the namespace (by pid), the namespace, the veth."""
    if nsexec.netns_exists(ns):
        kill_namespace_processes(ns)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    if tap:
        subprocess.run(["ip", "link", "del", tap], capture_output=True, check=False)


# ---------------------------------------------------------------------------------------------- the environment


class _Terminated(BaseException):
    pass


@contextmanager
def terminate_as_exception() -> Iterator[None]:
    """SIGTERM/SIGHUP unwind the stack like Ctrl-C, so every ``finally`` cleans up."""

    def handler(signum: int, frame: object) -> None:
        raise _Terminated(f"signal {signum}")

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


QUICK_NAMES = False  # set by ``python -m bench --quick``


class BenchEnv:
    """A fresh ``lbaas serve`` (own state dir, port in 19700–19799), its hosts and this run's floors."""

    def __init__(self, tag: str, *, extra: list[str] | None = None, trace: bool = False,
                 cleanup_timeout: float = 120) -> None:
        if not re.fullmatch(r"[a-z0-9]{1,5}", tag):
            raise ValueError("tag: 1-5 lowercase letters or digits")
        self.tag = tag
        # quick runs (the smoke test, CI) get their own names, so they never clobber a full run beside them
        family = "bq" if QUICK_NAMES else "bn"
        self.prefix = f"{family}-{tag}-"
        self.extra = extra or []
        self.cleanup_timeout = cleanup_timeout  # for deleting every LB through the API at the end
        self.dir = Path(tempfile.mkdtemp(prefix=self.prefix, dir="/tmp"))
        self.port = 0
        self._svc: Service | None = None
        self.floors: list[FloorLb] = []
        self.module = "lbaas.cli"
        self.trace_log: Path | None = None
        if trace:  # lbaas serve with the agent's steps timed (bench.traced_serve)
            self.module = "bench.traced_serve"
            self.trace_log = self.dir / "trace.log"
            os.environ["BN_TRACE_LOG"] = str(self.trace_log)

    @property
    def svc(self) -> Service:
        if self._svc is None:
            raise BenchError("service not started")
        return self._svc

    def __enter__(self) -> BenchEnv:
        try:
            self.port = pick_port()
            self._svc = open_service(self.dir, self.prefix, extra=self.extra, port=self.port, module=self.module)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for f in reversed(self.floors):
            f.down()
        self.floors.clear()
        if self._svc is not None:
            close_service(self._svc, api_timeout=self.cleanup_timeout)
            self._svc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def restart_service(self) -> None:
        """Stop ``lbaas serve`` (HAProxy keeps serving) and start it again on the same state and port."""
        svc = self.svc
        stop_process(svc.process)
        svc.process, _, svc.log = start_service(self.dir, extra=self.extra, port=self.port, module=self.module)

    def stop_service(self) -> None:
        stop_process(self.svc.process)

    # hosts ---------------------------------------------------------------------------------------

    def client(self, net_id: str, ip: str, name: str = "client") -> str:
        """A client host (no server); its namespace re-asks ARP quickly (see ``fast_arp``)."""
        self.svc.host(name, net_id, ip, serve=None)
        ns = self.svc.host_ns(name)
        fast_arp(ns)
        return ns

    def member(self, net_id: str, ip: str, name: str, port: int = 80) -> str:
        """A member host running a static HAProxy that answers with its host name (``bn-<tag>-<name>``)."""
        self.svc.host(name, net_id, ip, serve=None)
        start_static_member(self.svc.host_ns(name), f"{self.prefix}{name}", self.dir / "members", port)
        return ip

    def floor(self, name: str, net_id: str, vip: str, prefixlen: int, members: list[str], **kw: Any) -> FloorLb:
        fl = FloorLb(f"{'q' if QUICK_NAMES else ''}{self.tag}{name}"[:8], bridge_name(net_id), vip, prefixlen, members,
                     self.dir / "floor" / name, **kw)
        remove_floor_leftovers(fl.ns, fl.tap)  # a previous run killed hard
        self.floors.append(fl)
        return fl

    def drop_floor(self, fl: FloorLb) -> None:
        fl.down()
        if fl in self.floors:
            self.floors.remove(fl)

    # API helpers ---------------------------------------------------------------------------------

    def wait_active(self, lb_id: str, timeout: float = 60) -> None:
        self.svc.client.wait_active(lb_id, timeout=timeout)

    def delete_lb(self, lb_id: str, timeout: float = 60) -> None:
        c = self.svc.client
        c.wait_active(lb_id, timeout=timeout)
        c.call("DELETE", f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true")
        c.wait_gone(lb_id, timeout=timeout)


def lb_body(subnet_id: str, vip: str | None, members: list[str], *, hm: bool = True, name: str = "bn",
            tcp_port: int | None = None, tcp_members: list[str] | None = None) -> dict[str, Any]:
    """A fully populated load balancer: HTTP listener :80 → round-robin pool (members "ip:port"),
    optionally an HTTP health monitor, optionally a TCP listener → its own pool."""

    def mlist(ms: list[str]) -> list[dict[str, Any]]:
        return [{"address": a, "protocol_port": int(p)} for a, p in (m.rsplit(":", 1) for m in ms)]

    pool: dict[str, Any] = {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": mlist(members)}
    if hm:
        pool["healthmonitor"] = {"type": "HTTP", "delay": 2, "timeout": 1, "max_retries": 2, "url_path": "/"}
    body: dict[str, Any] = {
        "name": name, "vip_subnet_id": subnet_id,
        "listeners": [{"name": "http", "protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "web"}}],
        "pools": [pool],
    }  # fmt: skip
    if vip:
        body["vip_address"] = vip
    if tcp_port:
        body["listeners"].append({"name": "tcp", "protocol": "TCP", "protocol_port": tcp_port,
                                  "default_pool": {"name": "tcp"}})
        body["pools"].append({"name": "tcp", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
                              "members": mlist(tcp_members or members)})
    return body


# ---------------------------------------------------------------------------------------------- tracing


def trace_steps(log: Path | None, windows: Sequence[tuple[float, float]]) -> dict[str, list[float]]:
    """Per agent step (``bench.traced_serve``), its total milliseconds inside each window (start, end);
    one value per window (0 when the step did not end inside it), plus ``"rest"``: the window's length
    minus every step in it (queueing, the client-side API call, and a start/reload still running when
    the VIP or the member already answered)."""
    if log is None or not log.exists():
        return {}
    records = []
    for line in log.read_text().splitlines():
        end_s, _, tail = line.partition(" ")
        label_s, _, ms_s = tail.rpartition(" ")
        records.append((float(end_s), label_s, float(ms_s)))
    labels = list(dict.fromkeys(label for _, label, _ in records if label != "reconcile (total)"))
    out: dict[str, list[float]] = {label: [] for label in labels}
    out["rest"] = []
    for start, stop in windows:
        sums = dict.fromkeys(labels, 0.0)
        for end, label, ms in records:
            if start <= end <= stop and label in sums:
                sums[label] += ms
        for label, ms in sums.items():
            out[label].append(ms)
        out["rest"].append(max(0.0, (stop - start) * 1000 - sum(sums.values())))
    return {k: v for k, v in out.items() if any(v)}


def add_trace_table(report: Report, title: str, steps: dict[str, list[float]]) -> None:
    if not steps:
        return
    t = report.table(title, ["agent step (traced run)", "p50", "p90", "samples"])
    for label, xs in steps.items():
        t.add(label, f"{median(xs):.0f} ms", f"{pct(xs, 90):.0f} ms", len(xs))


# ---------------------------------------------------------------------------------------------- wrk


@dataclass
class WrkResult:
    rps: float
    p50: float  # seconds
    p99: float
    requests: int
    errors: int  # socket errors (connect+read+write+timeout)
    non2xx: int
    raw: str = ""


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _dur(s: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", s)
    if not m:
        return float("nan")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> WrkResult:
    def grab(pattern: str) -> str | None:
        m = re.search(pattern, out, re.M)
        return m.group(1) if m else None

    rps = float(grab(r"^Requests/sec:\s+([\d.]+)") or "nan")
    p50 = _dur(grab(r"^\s+50%\s+(\S+)") or "")
    p99 = _dur(grab(r"^\s+99%\s+(\S+)") or "")
    requests = int(grab(r"^\s+(\d+) requests in") or 0)
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors = sum(int(x) for x in m.groups())
    non2xx = int(grab(r"Non-2xx or 3xx responses: (\d+)") or 0)
    return WrkResult(rps, p50, p99, requests, errors, non2xx, out)


def wrk(url: str, *, duration: float, threads: int = 2, connections: int = 32, ns: str | None = None,
        headers: Sequence[str] = (), script: Path | None = None, timeout_s: int = 5) -> WrkResult:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", f"--timeout={timeout_s}s",
            "--latency"]
    for h in headers:
        argv += ["-H", h]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    if ns is not None:
        argv = ["ip", "netns", "exec", ns, *argv]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise BenchError(f"wrk failed: {r.stdout}{r.stderr}")
    return parse_wrk(r.stdout)


def interleaved_rounds(rounds: int, modes: Iterable[str], targets: Sequence[str],
                       measure: Callable[[str, str], WrkResult]) -> dict[tuple[str, str], list[WrkResult]]:
    """``measure(mode, target)`` for every mode and target, ``rounds`` times; each round takes the targets in
    an order rotated by one (no target always runs first, right after another's load)."""
    runs: dict[tuple[str, str], list[WrkResult]] = {}
    for rnd in range(rounds):
        for mode in modes:
            k = rnd % len(targets)
            for target in (*targets[k:], *targets[:k]):
                runs.setdefault((mode, target), []).append(measure(mode, target))
    return runs


def paired_ratio(ours: list[WrkResult], theirs: list[WrkResult]) -> float:
    """The median over rounds of ours/theirs within each round (runs seconds apart: a slow drift cancels)."""
    return median([ratio(a.rps, b.rps) for a, b in zip(ours, theirs, strict=True)])


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


@contextmanager
def log_receiver(sink: Path, log: Path) -> Iterator[None]:
    """A floor's flow-log receiver while the block runs: it binds the unix datagram socket ``sink`` and
    appends each datagram as a line to ``log`` (socat, else the minimal Python ``PY_SINK``)."""
    argv = (["socat", "-u", f"UNIX-RECV:{sink},rcvbuf=1048576", f"OPEN:{log},creat,append"]
            if shutil.which("socat") else [sys.executable, "-c", PY_SINK, str(sink), str(log)])  # fmt: skip
    receiver = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        yield
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)


WRK_CSV_HEADER = ["mode", "target", "run", "req_s", "p50_ms", "p99_ms", "requests", "socket_errors", "non_2xx"]


def floor_comparison(report: Report, runs: dict[tuple[str, str], list[WrkResult]], modes: Sequence[str],
                     targets: Sequence[str], *, title: str, plot_title: str, like: str, target_ratio: float,
                     others: Mapping[str, str]) -> None:  # fmt: skip
    """The report of ``interleaved_rounds`` of wrk runs against "lbaas" and the other ``targets``: a table
    row per mode and target (median req/s and p99, errors); on lbaas's row its paired ratio to ``like`` (the
    floor doing the same work, flow log included), then to each of ``others`` (column header → target),
    and the goal, ``target_ratio`` × ``like``; the note saying whether the goal was met in every mode;
    every run as a CSV row; a bar plot of the median req/s."""
    against = {"lbaas / same + flow log": like, **others}
    t = report.table(title, ["mode", "target", "req/s", "p99", *against, "errors", "target"])
    summary: dict[str, list[float]] = {target: [] for target in targets}
    rows: list[list[object]] = []
    missed = []
    for mode in modes:
        ratios = [paired_ratio(runs[(mode, "lbaas")], runs[(mode, theirs)]) for theirs in against.values()]
        for target in targets:
            rs = runs[(mode, target)]
            rps = median([r.rps for r in rs])
            first = target == "lbaas"
            t.add(mode, target, fmt_num(rps), f"{median([r.p99 for r in rs]) * 1000:.1f} ms",
                  *(fmt_ratio(x) if first else "" for x in ratios), sum(r.errors + r.non2xx for r in rs),
                  f"≥ {target_ratio:.2f}× same + flow log" if first else "")  # fmt: skip
            summary[target].append(rps)
            rows += [[mode, target, i, f"{r.rps:.0f}", f"{r.p50 * 1000:.3f}", f"{r.p99 * 1000:.3f}", r.requests,
                      r.errors, r.non2xx] for i, r in enumerate(rs)]  # fmt: skip
        if ratios[0] < target_ratio:
            missed.append(mode)
    report.notes.append(f"Target (≥ {target_ratio * 100:.0f} % of the hand-written HAProxy doing the same work, flow "
                        "log included): " + ("met in every mode." if not missed else f"MISSED in {', '.join(missed)}."))
    report.csv_header = list(WRK_CSV_HEADER)
    report.csv_rows = rows

    def plot(path: Path) -> None:
        plot_bars(path, plot_title, list(modes), summary, "requests/s")

    report.plot = plot


# ---------------------------------------------------------------------------------------------- processes


def proc_cpu_seconds(pid: int) -> float:
    """utime+stime of ``pid`` in seconds (0 if it is gone)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = data[data.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pss_kb(pid: int) -> int:
    """Proportional set size of ``pid`` in kB, from /proc/<pid>/smaps_rollup (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


children = child_pids  # the processes whose parent is pid


def mem_available_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def dump_json(obj: object) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)
