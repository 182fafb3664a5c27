"""A whole scale-out deployment on simulated hosts (``simhosts``), for e2e tests and ``bench/failover.py``.

PostgreSQL (a throwaway database ``lbaas_sim_*`` on 127.0.0.1:5432) and RabbitMQ (127.0.0.1:5672, our own
exchange prefix) are the machine's; two ``lbaas api`` processes share one port, one ``lbaas controller``
runs in the root namespace, and each agent runs on its own simulated host with the real data plane
(namespaces, eBPF VLAN tagger, HAProxy). A tenant host ``t`` holds the client and the members on the same
VLAN network, so every request crosses the underlay.

Everything is removed by ``close()`` (also after a failure): hosts by namespace and pid, the database,
the exchanges, the state directory.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from lbaas.agent.haproxy.process import child_pids
from lbaas.tools.harness import LoadRun, port_open
from lbaas.tools.simhosts import PHYSNET, ROOT, UNDERLAY_IF, SimHost, Topology, pids_in_namespaces, port_spec

PG_ADMIN_URL = os.environ.get("LBAAS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
AMQP_PORT = 5672
LOADLOOP = str(Path(__file__).with_name("loadloop.py"))
FETCH = """
import json, sys, urllib.request
out = []
for _ in range(int(sys.argv[2])):
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[3])) as r:
            out.append({"status": r.status, **json.loads(r.read())})
    except Exception as exc:
        out.append({"status": None, "error": repr(exc)})
print(json.dumps(out))
"""


def services_available() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("haproxy", "ip", "nsenter", "unshare"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    for port, what in ((5432, "PostgreSQL"), (AMQP_PORT, "RabbitMQ")):
        if not port_open(port):
            return f"needs {what} on 127.0.0.1:{port}"
    return None


def wait_for(cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        try:
            last = cond()
        except Exception as exc:  # a process still starting
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def _ns_pid(pid: int) -> int | None:
    """``pid``'s number in its innermost pid namespace (the last field of NSpid)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except OSError:
        return None
    return None


def free_port_in(lo: int, hi: int) -> int:
    for port in range(lo, hi):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError(f"no free port in {lo}-{hi - 1}")


class SimCluster:
    def __init__(self, *, prefix: str = "lbs", agents: tuple[str, ...] = ("h1", "h2", "h3"),
                 ports: tuple[int, int] = (19200, 19300), agent_down_time: float | None = None,
                 vid: int = 240, cidr: str = "10.240.0.0/24", state_root: Path | None = None,
                 agent_module: str = "lbaas.cli", nice: int = -5) -> None:
        self.agent_module = agent_module
        # The deployment under test stands in for dedicated machines; on a shared, noisy 2-core box it is
        # given a slight scheduling priority (nice -5, inherited by HAProxy) over unrelated work.
        self.nice = ["nice", "-n", str(nice)] if nice else []
        self.prefix, self.agent_hosts, self.vid, self.cidr = prefix, agents, vid, cidr
        self.dir = state_root or Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir="/tmp"))
        self.topo = Topology(prefix)
        self.port = free_port_in(*ports)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.db_name = f"lbaas_sim_{uuid.uuid4().hex[:10]}"
        self.db_url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{self.db_name}"
        self.amqp_prefix = f"{prefix}{uuid.uuid4().hex[:8]}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.http = httpx.Client(base_url=self.endpoint, timeout=15)
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "LBAAS_DATABASE_URL": self.db_url,
            "LBAAS_AMQP_URL": AMQP_URL,
            "LBAAS_AMQP_PREFIX": self.amqp_prefix,
            "LBAAS_INTERNAL_SECRET": "sim-" + uuid.uuid4().hex,
            "LBAAS_FAILOVER_MAX_DEAD_SHARE": "0.5",
        }
        if agent_down_time is not None:  # else the shipped defaults (Settings)
            self.env["LBAAS_AGENT_DOWN_TIME"] = str(agent_down_time)
        self.network: dict[str, Any] = {}
        self.subnet: dict[str, Any] = {}
        self.instances: dict[str, str] = {}  # tenant instance name -> ip
        self._db_made = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SimCluster:
        from sqlalchemy import create_engine, text

        from lbaas.db.migrate import upgrade

        try:
            eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with eng.connect() as c:
                c.execute(text(f'CREATE DATABASE "{self.db_name}"'))
            eng.dispose()
            self._db_made = True
            upgrade(self.db_url)
            self.topo.start()
            self._start("api-1", "api", "--bind", f"127.0.0.1:{self.port}", "--auth-strategy", "noauth", "--log-level", "warning")
            self._start("api-2", "api", "--bind", f"127.0.0.1:{self.port}", "--auth-strategy", "noauth", "--log-level", "warning")
            wait_for(lambda: self.http.get("/").status_code == 200, 60, "the API")
            self._start("controller", "controller")
            self.topo.add_host("t")
            for h in self.agent_hosts:
                self.start_host(h)
            wait_for(lambda: len(self.alive_agents()) == len(self.agent_hosts), 60, "every agent alive")
            # The breaker may have opened while the agents were starting; the controller keeps it open
            # failover_breaker_hold seconds after they are all up. A host killed in that window is not
            # failed over until it closes: callers start once it has.
            wait_for(self.startup_breaker_closed, 60, "the start-up breaker closed")
        except BaseException:
            self.close()
            raise
        return self

    def startup_breaker_closed(self) -> bool:
        log = self.log("controller")
        return "circuit breaker OPEN" not in log or "circuit breaker closed" in log

    def _start(self, name: str, *args: str, host: SimHost | None = None) -> None:
        with (self.dir / f"{name}.log").open("ab") as log:
            argv = [*self.nice, sys.executable, "-m", "lbaas.cli" if host is None else self.agent_module, *args]
            if host is None:
                self.procs[name] = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                                    cwd=ROOT)
            else:
                self.procs[name] = host.popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)

    def start_host(self, name: str) -> SimHost:
        """(Re)create host ``name`` and start its agent on the state directory ``<dir>/<name>`` (kept
        across kills, as a disk would be)."""
        host = self.topo.add_host(name, forward_ports=(self.port, AMQP_PORT))
        self._start(
            name, "agent", "--host", name, "--endpoint", self.endpoint, "--state-dir", str(self.state_dir(name)),
            "--resync-interval", "30", "--physical-interface-mappings", f"{PHYSNET}:{UNDERLAY_IF}", host=host,
        )  # fmt: skip
        return host

    def kill_host(self, *names: str) -> list[int]:
        """Power cut of one host, or of several at the same instant."""
        pids = self.topo.kill_hosts(*names)
        for name in names:
            proc = self.procs.pop(name, None)
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
        return pids

    def start_controller(self) -> None:
        self._start("controller", "controller")

    def stop(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        proc.wait(timeout=15)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.topo.close()  # hosts first: their agents then never see the API go away
        for name in [n for n in self.procs if n.startswith("api") or n == "controller"]:
            with contextlib.suppress(Exception):
                self.stop(name, signal.SIGTERM)
        for proc in self.procs.values():
            with contextlib.suppress(Exception):
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()
        self.http.close()
        if self._db_made:
            from sqlalchemy import create_engine, text

            with contextlib.suppress(Exception):
                eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
                with eng.connect() as c:
                    c.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
                eng.dispose()
        with contextlib.suppress(Exception):
            import pika

            from lbaas.bus.amqp import exchanges

            conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
            ch = conn.channel()
            for ex in exchanges(self.amqp_prefix):
                ch.exchange_delete(ex)
            conn.close()
        if not os.environ.get("LBAAS_SIM_KEEP"):  # LBAAS_SIM_KEEP=1 keeps the logs and state for a post-mortem
            shutil.rmtree(self.dir, ignore_errors=True)

    def log(self, name: str) -> str:
        p = self.dir / f"{name}.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def log_times(self, name: str, needle: str, since: float) -> list[float]:
        """Seconds after wall-clock ``since`` of the lines of ``name``'s log that contain ``needle``."""
        out = []
        for line in self.log(name).splitlines():
            if needle in line:
                try:
                    t = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                except ValueError:
                    continue
                if t >= since - 1:
                    out.append(round(t - since, 3))
        return out

    def failover_timeline(self, lb_id: str, victim: str, killed_at: float) -> dict[str, float | None]:
        """When (seconds after the kill) the controller moved ``lb_id`` and its new host reported it applied."""
        moved = self.log_times("controller", f"LB {lb_id} failed over from dead agent {victim}", killed_at)
        new = self.host_of(lb_id)
        applied = self.log_times(new, f"/loadbalancers/{lb_id}/applied", killed_at) if new else []
        return {"rebound": moved[0] if moved else None, "applied": applied[0] if applied else None}

    def state_dir(self, host: str) -> Path:
        return self.dir / host

    def state_ids(self, host: str) -> set[str]:
        root = self.state_dir(host) / "lb"
        return {p.name for p in root.iterdir()} if root.is_dir() else set()

    # ------------------------------------------------------------------ API

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, ok: tuple[int, ...] = ()) -> Any:
        r = self.http.request(method, path, json=body)
        if r.status_code >= 400 and r.status_code not in ok:
            raise AssertionError(f"{method} {path}: {r.status_code} {r.text}")
        return r.json() if r.content else None

    def agents(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/v2/octavia/agents")["agents"])

    def alive_agents(self) -> list[str]:
        return [a["host"] for a in self.agents() if a["alive"]]

    def breaker(self) -> dict[str, Any]:
        return dict(self.call("GET", "/v2/octavia/failover_breaker")["failover_breaker"])

    def lb(self, lb_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/v2/lbaas/loadbalancers/{lb_id}")["loadbalancer"])

    def host_of(self, lb_id: str) -> str | None:
        amps = self.call("GET", f"/v2/octavia/amphorae?loadbalancer_id={lb_id}")["amphorae"]
        return self.host_of_compute(amps[0]["compute_id"]) if amps else None

    def host_of_compute(self, compute_id: str | None) -> str | None:
        """The host an amphora runs on: its ``compute_id`` is the agent's id."""
        if not compute_id:
            return None
        return str(self.call("GET", f"/v2/octavia/agents/{compute_id}")["agent"]["host"])

    def settled(self, lb_ids: list[str]) -> dict[str, str] | None:
        """lb id -> host once every LB is ACTIVE with an amphora on a host; else None."""
        out = {}
        for i in lb_ids:
            if self.lb(i)["provisioning_status"] != "ACTIVE":
                return None
            h = self.host_of(i)
            if h is None:
                return None
            out[i] = h
        return out

    def settled_off(self, lb_ids: list[str], host: str) -> dict[str, str] | None:
        """Like ``settled``, and none of them on ``host`` (the one that died)."""
        where = self.settled(lb_ids)
        return where if where and host not in where.values() else None

    def back_and_clean(self, host: str) -> bool:
        """``host`` is alive again and holds no LB state (it removed what it lost)."""
        return host in self.alive_agents() and not self.state_ids(host)

    # ------------------------------------------------------------------ tenant side

    def make_tenant_network(self, members: int = 2) -> None:
        """The VLAN network (physnet1, VID ``vid``), a client and ``members`` echo servers on host ``t``."""
        net = self.call("POST", "/v2.0/networks", {"network": {
            "name": f"{self.prefix}-net", "provider:network_type": "vlan",
            "provider:physical_network": PHYSNET, "provider:segmentation_id": self.vid}})["network"]
        sn = self.call("POST", "/v2.0/subnets", {"subnet": {
            "network_id": net["id"], "cidr": self.cidr, "ip_version": 4, "gateway_ip": None}})["subnet"]
        self.network, self.subnet = net, sn
        base = ipaddress.ip_network(self.cidr)
        self._instance("client", str(base[10]), serve=None)
        for i in range(members):
            self._instance(f"m{i + 1}", str(base[11 + i]), serve=80)

    def _instance(self, name: str, ip: str, serve: int | None) -> None:
        port = self.call("POST", "/v2.0/ports", {"port": {
            "network_id": self.network["id"], "name": name, "device_owner": "compute:lbaas-host",
            "device_id": f"lbaas-host-{name}", "fixed_ips": [{"ip_address": ip}]}})["port"]
        self.topo.plug("t", port_spec(name, port, self.subnet, self.network, serve=serve))
        self.instances[name] = ip

    def member_ips(self) -> list[str]:
        return [ip for name, ip in self.instances.items() if name != "client"]

    def create_lb(self, name: str, vip: str | None = None, *, flavor_id: str | None = None) -> str:
        members = [{"address": ip, "protocol_port": 80} for ip in self.member_ips()]
        body: dict[str, Any] = {
            "name": name, "vip_subnet_id": self.subnet["id"],
            "listeners": [{"name": "http", "protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "web"}}],
            "pools": [{"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": members}],
        }  # fmt: skip
        if vip:
            body["vip_address"] = vip
        if flavor_id:
            body["flavor_id"] = flavor_id
        return str(self.call("POST", "/v2/lbaas/loadbalancers", {"loadbalancer": body})["loadbalancer"]["id"])

    # ------------------------------------------------------------------ ACTIVE_STANDBY

    def active_standby_flavor(self) -> str:
        """A flavor whose profile asks for ACTIVE_STANDBY (Octavia's ``loadbalancer_topology``)."""
        fp = self.call("POST", "/v2/lbaas/flavorprofiles", {"flavorprofile": {
            "name": f"{self.prefix}-as", "provider_name": "amphora",
            "flavor_data": json.dumps({"loadbalancer_topology": "ACTIVE_STANDBY"})}})["flavorprofile"]
        return str(self.call("POST", "/v2/lbaas/flavors", {"flavor": {
            "name": f"{self.prefix}-as", "flavor_profile_id": fp["id"]}})["flavor"]["id"])  # fmt: skip

    def amphorae(self, lb_id: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/v2/octavia/amphorae?loadbalancer_id={lb_id}")["amphorae"])

    def pair(self, lb_id: str) -> dict[str, str] | None:
        """role → host once the LB is ACTIVE with both instances running on two hosts; else None."""
        if self.lb(lb_id)["provisioning_status"] != "ACTIVE":
            return None
        amps = self.amphorae(lb_id)
        if len(amps) != 2 or any(a["status"] != "ALLOCATED" or not a["compute_id"] for a in amps):
            return None
        out = {str(a["role"]): str(self.host_of_compute(a["compute_id"])) for a in amps}
        return out if len(set(out.values())) == 2 else None

    def vip_holders(self, lb_id: str) -> list[str]:
        """The hosts whose namespace of ``lb_id`` holds the VIP address on an interface (at most one, with
        VRRP working): read with ``ip -o addr`` inside each running host."""
        vip, out = self.vip(lb_id), []
        for name, host in list(self.topo.hosts.items()):
            if f"qlbaas-{lb_id}" not in host.inner_namespaces("qlbaas-"):
                continue
            r = subprocess.run(host.in_inner_ns_argv(f"qlbaas-{lb_id}", ["ip", "-o", "addr", "show"]),
                               capture_output=True, text=True, check=False)  # fmt: skip
            if any(f" {vip}/" in line for line in r.stdout.splitlines()):
                out.append(name)
        return out

    def haproxy_pids(self, host: str, lb_id: str) -> list[int]:
        """Root-namespace pids of ``lb_id``'s HAProxy on ``host`` (master first, then its workers): the
        processes in that host's ``qlbaas-<lb_id>`` namespace whose pid in the host's pid namespace is
        the one in the LB's pid file, and their children there. Found by namespace and pid, never by name."""
        h = self.topo.hosts[host]
        st = os.stat(h.inner_ns_path(f"qlbaas-{lb_id}"))
        inner = int((self.state_dir(host) / "lb" / lb_id / "haproxy.pid").read_text().split()[0])
        in_ns = pids_in_namespaces({"net": {(st.st_dev, st.st_ino)}})
        master = [p for p in in_ns if _ns_pid(p) == inner]
        if len(master) != 1:
            raise AssertionError(f"no HAProxy master {inner} in qlbaas-{lb_id} on {host} (pids there: {in_ns})")
        return master + [c for c in child_pids(master[0]) if c in in_ns]

    def kill_haproxy(self, host: str, lb_id: str) -> list[int]:
        pids = self.haproxy_pids(host, lb_id)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids

    def vip(self, lb_id: str) -> str:
        return str(self.lb(lb_id)["vip_address"])

    def client_argv(self, argv: list[str]) -> list[str]:
        return self.topo.hosts["t"].in_inner_ns_argv("lbh-client", argv)

    def fetch(self, url: str, n: int = 1, timeout: float = 2.0) -> list[dict[str, Any]]:
        out = subprocess.run(self.client_argv([sys.executable, "-c", FETCH, url, str(n), str(timeout)]),
                             capture_output=True, text=True, check=True, timeout=30 + n * timeout).stdout
        return list(json.loads(out))

    def answers(self, lb_id: str) -> bool:
        r = self.fetch(f"http://{self.vip(lb_id)}/", 1, timeout=1.0)
        return r[0]["status"] == 200

    def load(self, url: str, *, seconds: float = 120.0, workers: int = 2, timeout: float = 1.0,
             interval: float = 0.05, track: str | None = None) -> LoadRun:
        argv = [sys.executable, LOADLOOP, url, "--mode", "new", "--seconds", str(seconds), "--workers",
                str(workers), "--timeout", str(timeout), "--interval", str(interval)]
        if track:
            argv += ["--track", track]
        proc = subprocess.Popen(self.client_argv(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        run = LoadRun(proc, "new")
        run.wait_ready(timeout=30)
        return run

    def client_neighbour(self, ip: str) -> str:
        """The client's neighbour entry for ``ip`` (``ip neigh show``)."""
        return subprocess.run(self.client_argv(["ip", "neigh", "show", ip]), capture_output=True, text=True,
                              check=True).stdout.strip()

    def port_mac(self, lb_id: str) -> str:
        port_id = self.lb(lb_id)["vip_port_id"]
        return str(self.call("GET", f"/v2.0/ports/{port_id}")["port"]["mac_address"]).lower()
