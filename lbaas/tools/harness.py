"""A real all-in-one service for data-plane tests and benchmarks: ``lbaas serve`` as a process, real
namespaces, real HAProxy. Shared by ``tests/dataplane`` (through its pytest fixture) and ``bench``.

Everything a test creates is removed at the end, even on failure: load balancers through the API,
then by force: HAProxy processes by the pid files under this service's own state directory, LB
namespaces named after this state directory's LB ids, host namespaces by this test's own prefix,
bridges by the network ids this test created. Nothing is stopped by name.
"""

from __future__ import annotations

import ipaddress
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lbaas
from lbaas.agent.haproxy.process import unix_command
from lbaas.agent.haproxy.stats import StatRow, parse_show_stat
from lbaas.agent.hosts import kill_processes_in_namespaces
from lbaas.agent.netns.base import bridge_name
from lbaas.agent.netns.pyroute2_plumber import Pyroute2Plumber
from lbaas.agent.paths import LbPaths
from lbaas.tools import procs
from lbaas.tools.client import Client
from lbaas.tools.hosts import Hosts
from lbaas.tools.procs import free_port

ROOT = Path(lbaas.__file__).resolve().parents[1]


def dataplane_available() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("haproxy", "ip"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Something accepts TCP connections on ``host:port`` (a service the tests need, e.g. RabbitMQ)."""
    return procs.tcp_accepts(port, host, timeout=1)()


FETCH = """
import json, sys, time, urllib.request
url, n, headers = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
follow = len(sys.argv) < 6 or sys.argv[5] == "follow"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the 3xx surfaces as an HTTPError with its Location header


out = []
opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirect)
for _ in range(n):
    req = urllib.request.Request(url, headers=headers)
    t0 = time.monotonic()
    try:
        with opener.open(req, timeout=float(sys.argv[4])) as r:
            body = r.read().decode()
            try:
                data = json.loads(body)
            except ValueError:
                data = {"body": body}
            data["status"] = r.status
            data["response_headers"] = dict(r.headers)
            data["set_cookies"] = r.headers.get_all("Set-Cookie") or []
            data["elapsed"] = time.monotonic() - t0
            out.append(data)
    except urllib.error.HTTPError as exc:
        out.append({"status": exc.code, "response_headers": dict(exc.headers), "error": str(exc),
                    "set_cookies": exc.headers.get_all("Set-Cookie") or [], "elapsed": time.monotonic() - t0})
    except Exception as exc:
        out.append({"status": None, "error": repr(exc), "elapsed": time.monotonic() - t0})
print(json.dumps(out))
"""


@dataclass
class Service:
    endpoint: str
    state_dir: Path
    process: subprocess.Popen[bytes]
    log: Path
    client: Client
    hosts: Hosts
    prefix: str
    networks: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ building blocks

    def network(self, cidr: str, **net: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """A network and subnet (no gateway: test topologies get no route anywhere)."""
        n = self.client.call("POST", "/v2.0/networks", {"network": {"name": f"{self.prefix}net", **net}})["network"]
        self.networks.append(n["id"])
        ver = ipaddress.ip_network(cidr).version
        sn = self.client.call(
            "POST",
            "/v2.0/subnets",
            {"subnet": {"network_id": n["id"], "cidr": cidr, "ip_version": ver, "gateway_ip": None}},
        )["subnet"]
        return n, sn

    def host(self, name: str, network_id: str, ip: str | None = None, *, serve: int | None = 80) -> str:
        """A test host (namespace lbh-<prefix><name>); with ``serve``, its echo server listens there."""
        full = f"{self.prefix}{name}"
        host = self.hosts.create(full, network_id, ip)
        if serve is not None:
            self.hosts.serve(full, serve)
        return host.ip

    def host_ns(self, name: str) -> str:
        return self.hosts.get(f"{self.prefix}{name}").ns

    def all_lbs(self, query: str = "") -> list[dict[str, Any]]:
        """Every load balancer, page by page (the API answers at most 1000 per page, as Octavia does);
        ``query`` adds to the query string (``fields=id&fields=vip_address``)."""
        out: list[dict[str, Any]] = []
        marker = ""
        while True:
            page = self.client.call("GET", f"/v2/lbaas/loadbalancers?limit=1000&fields=id&{query}{marker}")
            out += page["loadbalancers"]
            if len(page["loadbalancers"]) < 1000:
                return out
            marker = f"&marker={page['loadbalancers'][-1]['id']}"

    def create_lb(self, body: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        lb = self.client.call("POST", "/v2/lbaas/loadbalancers", {"loadbalancer": body})["loadbalancer"]
        self.client.wait_active(lb["id"], timeout=timeout)
        return dict(lb)

    def fetch(
        self,
        client_host: str,
        url: str,
        n: int = 1,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 3.0,
        follow_redirects: bool = True,
    ) -> list[dict[str, Any]]:
        """n HTTP requests from inside a host namespace; each answer is the echo JSON plus ``status``,
        ``response_headers``, ``set_cookies`` (every Set-Cookie value) and ``elapsed`` (seconds).
        With ``follow_redirects=False`` a 3xx is returned as is (its ``Location`` in response_headers)."""
        argv = self.hosts.exec_argv(
            f"{self.prefix}{client_host}",
            [sys.executable, "-c", FETCH, url, str(n), json.dumps(headers or {}), str(timeout),
             "follow" if follow_redirects else "nofollow"],
        )
        out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60 + n * timeout).stdout
        return list(json.loads(out))

    def run_in(self, host: str, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.hosts.exec_argv(f"{self.prefix}{host}", argv), capture_output=True, text=True, timeout=timeout
        )

    def change(self, lb_id: str, method: str, path: str, body: dict[str, Any] | None = None,
               timeout: float = 30) -> Any:
        """One API call on an object of ``lb_id``, then wait until the LB is ACTIVE again (applied)."""
        out = self.client.call(method, path, body)
        self.client.wait_active(lb_id, timeout=timeout)
        return out

    def status_of(self, lb_id: str) -> dict[str, str]:
        """object id → operating status for the LB, its listeners, pools and members (status tree)."""
        tree = self.client.status_tree(lb_id)
        out = {tree["id"]: tree["operating_status"]}
        for li in tree["listeners"]:
            out[li["id"]] = li["operating_status"]
            for pool in li["pools"]:
                out[pool["id"]] = pool["operating_status"]
                for m in pool["members"]:
                    out[m["id"]] = m["operating_status"]
                if pool.get("health_monitor"):
                    out[pool["health_monitor"]["id"]] = pool["health_monitor"]["operating_status"]
        return out

    def members(self, lb_id: str) -> dict[str, str]:
        """member name (or address) → operating status, from the status tree."""
        out: dict[str, str] = {}
        for li in self.client.status_tree(lb_id)["listeners"]:
            for pool in li["pools"]:
                for m in pool["members"]:
                    out[m["name"] or m["address"]] = m["operating_status"]
        return out

    def wait_for(self, predicate: Any, timeout: float, interval: float = 0.1, what: str = "condition") -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if predicate():
                return time.monotonic() - start
            time.sleep(interval)
        raise AssertionError(f"{what} not reached after {timeout}s")

    # ------------------------------------------------------------------ observation

    def lb_ids_on_disk(self) -> set[str]:
        root = self.state_dir / "lb"
        return {p.name for p in root.iterdir()} if root.is_dir() else set()

    def haproxy_pid(self, lb_id: str) -> int | None:
        pidfile = self.state_dir / "lb" / lb_id / "haproxy.pid"
        try:
            return int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def haproxy_stats(self, lb_id: str) -> list[StatRow]:
        """``show stat`` of the LB's HAProxy, read from its stats socket (what the agent measures)."""
        return parse_show_stat(unix_command(LbPaths(self.state_dir, lb_id).stats_sock, "show stat"))

    def server_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    # ------------------------------------------------------------------ agent restarts and load

    def restart(self, sig: int = signal.SIGKILL, *, down_for: float = 0.0) -> None:
        """Stop this ``lbaas serve`` by its pid with ``sig`` (SIGKILL: a crash), wait ``down_for``
        seconds, then start a new one on the same state directory and port (same endpoint)."""
        self.kill(sig)
        if down_for:
            time.sleep(down_for)
        self.start()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal this ``lbaas serve`` by its pid and reap it (HAProxy and test hosts are not its children)."""
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
        self.process.wait(timeout=15)

    def start(self) -> None:
        """Start ``lbaas serve`` again on the same state directory and port, once the last one is gone."""
        assert self.process.poll() is not None, "the previous lbaas serve still runs"
        port = int(self.endpoint.rsplit(":", 1)[1])
        self.process, _, _ = start_service(self.state_dir, port=port)

    def load(self, client_host: str, url: str, *, mode: str = "keepalive", seconds: float = 300.0,
             requests: int = 1_000_000, workers: int = 2, track: str | None = None) -> LoadRun:
        """Start ``loadloop.py`` in a client host; returns once its first request succeeded."""
        argv = [sys.executable, str(Path(__file__).with_name("loadloop.py")), url, "--mode", mode,
                "--seconds", str(seconds), "--requests", str(requests), "--workers", str(workers)]
        if track:
            argv += ["--track", track]
        proc = subprocess.Popen(self.hosts.exec_argv(f"{self.prefix}{client_host}", argv), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        run = LoadRun(proc, mode)
        run.wait_ready()
        return run


@dataclass
class LoadRun:
    """A running ``loadloop.py``: ``stop()`` ends it (SIGTERM) and returns its JSON report."""

    proc: subprocess.Popen[str]
    mode: str
    report: dict[str, Any] | None = None

    def wait_ready(self, timeout: float = 10.0) -> None:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"load loop ({self.mode}) never got a first answer: {line!r} {err[-2000:]}")

    def stop(self, timeout: float = 30.0) -> dict[str, Any]:
        if self.report is None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            out, err = self.proc.communicate(timeout=timeout)
            lines = [line for line in out.splitlines() if line.strip()]
            if not lines:
                raise AssertionError(f"load loop ({self.mode}) printed no report: {err[-2000:]}")
            self.report = dict(json.loads(lines[-1]))
        return self.report


def start_service(
    state_dir: Path, *, extra: list[str] | None = None, port: int | None = None, module: str = "lbaas.cli"
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start ``python -m <module> serve`` (``lbaas serve``) on 127.0.0.1:``port`` (default: any free port);
    return it once it accepts connections."""
    port = port or free_port()
    log = state_dir / "serve.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", module, "serve", "--state-dir", str(state_dir), "--bind", f"127.0.0.1:{port}",
           "--log-level", "warning", *(extra or [])]  # fmt: skip
    proc = procs.start(cmd, log, env=env, append=True, new_session=True)
    procs.wait_ready(proc, procs.tcp_accepts(port), what="lbaas serve", log=log, timeout=30, tail=3000)
    return proc, f"http://127.0.0.1:{port}", log


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    procs.stop(proc, sig)


def force_cleanup(svc: Service) -> None:
    """Remove whatever the API could not: processes in our namespaces (by pid), namespaces, bridges."""
    ours = [f"qlbaas-{lb_id}" for lb_id in svc.lb_ids_on_disk()]
    for line in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines():
        ns = line.split()[0] if line.strip() else ""
        if ns.startswith(f"lbh-{svc.prefix}"):
            ours.append(ns)
    kill_processes_in_namespaces(ours)
    for ns in ours:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    for net_id in svc.networks:
        subprocess.run(["ip", "link", "del", bridge_name(net_id)], capture_output=True)


def physical_mappings(serve_args: list[str]) -> dict[str, str]:
    """``--physical-interface-mappings physnet:iface`` in the serve arguments, so hosts plug like LBs."""
    out: dict[str, str] = {}
    for flag, value in zip(serve_args, serve_args[1:], strict=False):
        if flag == "--physical-interface-mappings":
            physnet, _, iface = value.partition(":")
            out[physnet] = iface
    return out


def open_service(
    state_dir: Path, prefix: str, *, extra: list[str] | None = None, port: int | None = None, module: str = "lbaas.cli"
) -> Service:
    """A running ``lbaas serve`` wrapped as a ``Service``; always pair with ``close_service``."""
    proc, endpoint, log = start_service(state_dir, extra=extra, port=port, module=module)
    client = Client(endpoint)
    hosts = Hosts(client, Pyroute2Plumber(), state_dir=state_dir, mappings=physical_mappings(extra or []))
    return Service(endpoint, state_dir, proc, log, client, hosts, prefix)


def close_service(svc: Service, *, api_timeout: float = 30) -> None:
    """Delete every LB (retrying those still busy) and host through the API, stop the service, then
    remove by force what is left."""
    client = svc.client
    try:
        deadline = time.monotonic() + api_timeout
        while lbs := svc.all_lbs("fields=provisioning_status"):  # all pages: a DELETE for every LB at once
            if time.monotonic() > deadline:
                left = ", ".join(f"{lb['id']} {lb['provisioning_status']}" for lb in lbs[:5])
                raise RuntimeError(f"{len(lbs)} load balancers left after {api_timeout}s: {left}")
            for lb in lbs:
                if lb["provisioning_status"] != "PENDING_DELETE":  # a 409 (busy) is retried next round
                    client.call("DELETE", f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true", ok=(404, 409))
            time.sleep(0.2)
        for h in svc.hosts.all():
            svc.hosts.delete(h.name)
    except Exception as exc:  # the forced cleanup below still runs
        print(f"API cleanup failed: {exc}")
    stop_process(svc.process)
    client.close()
    force_cleanup(svc)
