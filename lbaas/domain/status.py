"""Operating status and counters from what HAProxy reports, as pure functions of (spec, stat rows).

Why here and pure: the same rules serve the agent (which reads ``show stat``) and any test or tool
that replays captured rows, and they encode Octavia's user-visible semantics, which must not depend on
how the rows were fetched. The rows are any objects with the ``StatLike`` attributes
(``lbaas.agent.haproxy.stats.StatRow`` is one); this module never imports the agent.

Naming contract with the renderer: frontend = listener id, backend = ``<pool_id>:<listener_id>``,
server = member id (``haproxy_backend_name``).

Rules: Octavia's, as its health manager maps what HAProxy reports (``heartbeat_udp.py``
``_update_health`` / ``_process_pool_status``) and as its worker marks objects once applied
(``database_tasks.py`` ``Mark*ActiveInDB``), made explicit where they were vague:

member   admin down (or pool admin down) → OFFLINE; no row → OFFLINE (not reported); in a pool
         HAProxy does not report at all (on no listener) → left as it is (Octavia's health manager
         leaves such members alone: NO_MONITOR stays NO_MONITOR);
         ``MAINT*`` → OFFLINE; ``DRAIN*`` / ``NOLB*`` → DRAINING; ``DOWN*`` (incl. ``DOWN 1/2``) → ERROR;
         ``UP*`` (incl. ``UP 1/3``) → ONLINE, or DRAINING with weight 0; ``no check`` (no health
         monitor) → NO_MONITOR, or DRAINING with weight 0; anything else → OFFLINE. A member in several
         backends (one per listener) takes the worst status.
pool     admin down or no backend row (on no listener) → OFFLINE; a backend row ``DOWN`` → ERROR
         (HAProxy: no usable server; it answers 503); members but none enabled → ERROR (HAProxy
         reports such a backend DOWN); enabled members all ERROR → ERROR; some not up → DEGRADED;
         else ONLINE. A pool with no members is ONLINE (HAProxy reports an empty backend UP, and
         Octavia maps UP to ONLINE). NO_MONITOR and DRAINING members count as up.
listener admin down → OFFLINE; no frontend row → ERROR (should run but does not); ``FULL`` or
         scur ≥ slim → DEGRADED; ``OPEN`` → ONLINE; any other status (``STOP``...) → ERROR. The
         listener's own state only: a failing pool shows on the pool and the LB, as in Octavia.
hm       ONLINE once applied when enabled, OFFLINE when disabled (Octavia's worker sets it so; the
         health of what it checks shows on the members).
l7policy ONLINE once applied when enabled (and its listener is served by HAProxy), OFFLINE when disabled.
l7rule   ONLINE once applied when enabled, OFFLINE when disabled.
LB       admin down → OFFLINE (and everything under it); any listener or pool ERROR → ERROR; any
         DEGRADED → DEGRADED; else ONLINE.

UDP/SCTP listeners are not served by HAProxy: they, and pools used only by them, are left out of
the result for the data-plane layer to report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from lbaas.domain.enums import OperatingStatus
from lbaas.domain.spec import LoadBalancerSpec, MemberSpec, PoolSpec

_NOT_HAPROXY = frozenset({"UDP", "SCTP"})


class StatType(StrEnum):
    """``show stat`` row type (the numeric ``type`` column 0..3)."""

    FRONTEND = "frontend"
    BACKEND = "backend"
    SERVER = "server"
    LISTENER = "listener"


class StatLike(Protocol):
    """What status and counter logic reads from one ``show stat`` row."""

    @property
    def pxname(self) -> str: ...
    @property
    def svname(self) -> str: ...
    @property
    def type(self) -> StatType: ...
    @property
    def status(self) -> str: ...
    @property
    def weight(self) -> int | None: ...
    @property
    def scur(self) -> int: ...
    @property
    def slim(self) -> int | None: ...
    @property
    def stot(self) -> int: ...
    @property
    def bin(self) -> int: ...
    @property
    def bout(self) -> int: ...
    @property
    def ereq(self) -> int: ...
    @property
    def econ(self) -> int: ...
    @property
    def eresp(self) -> int: ...


def haproxy_backend_name(pool_id: str, listener_id: str) -> str:
    return f"{pool_id}:{listener_id}"


# Worst first: how several observations of one member combine.
_MEMBER_SEVERITY = (
    OperatingStatus.ERROR,
    OperatingStatus.DRAINING,
    OperatingStatus.OFFLINE,
    OperatingStatus.NO_MONITOR,
    OperatingStatus.ONLINE,
)
_UPISH = frozenset({OperatingStatus.ONLINE, OperatingStatus.NO_MONITOR, OperatingStatus.DRAINING})


def member_status_from_row(row: StatLike) -> OperatingStatus:
    """One server row → member status (admin state from the spec is applied by the caller)."""
    status = row.status.strip().upper()
    drained = row.weight == 0
    if status.startswith("MAINT"):
        return OperatingStatus.OFFLINE
    if status.startswith(("DRAIN", "NOLB")):
        return OperatingStatus.DRAINING
    if status.startswith("DOWN"):
        return OperatingStatus.ERROR
    if status.startswith("UP"):
        return OperatingStatus.DRAINING if drained else OperatingStatus.ONLINE
    if status == "NO CHECK":
        return OperatingStatus.DRAINING if drained else OperatingStatus.NO_MONITOR
    return OperatingStatus.OFFLINE


def worst(statuses: Iterable[OperatingStatus]) -> OperatingStatus | None:
    seen = set(statuses)
    for s in _MEMBER_SEVERITY:
        if s in seen:
            return s
    return None


def member_status(member: MemberSpec, pool: PoolSpec, rows: list[StatLike]) -> OperatingStatus:
    if not member.admin_state_up or not pool.admin_state_up:
        return OperatingStatus.OFFLINE
    return worst(member_status_from_row(r) for r in rows) or OperatingStatus.OFFLINE


def pool_status(
    pool: PoolSpec, members: dict[str, OperatingStatus], backend_rows: list[StatLike]
) -> OperatingStatus:
    if not pool.admin_state_up or not backend_rows:
        return OperatingStatus.OFFLINE
    if not pool.members:
        return OperatingStatus.ONLINE
    if any(r.status.strip().upper().startswith("DOWN") for r in backend_rows):
        return OperatingStatus.ERROR
    enabled = [members[m.id] for m in pool.members if m.admin_state_up]
    if not enabled or all(s == OperatingStatus.ERROR for s in enabled):
        return OperatingStatus.ERROR
    if any(s not in _UPISH for s in enabled):
        return OperatingStatus.DEGRADED
    return OperatingStatus.ONLINE


def frontend_status(row: StatLike | None) -> OperatingStatus:
    if row is None:
        return OperatingStatus.ERROR
    status = row.status.strip().upper()
    if status == "FULL" or (status == "OPEN" and row.slim and row.scur >= row.slim):
        return OperatingStatus.DEGRADED
    if status == "OPEN":
        return OperatingStatus.ONLINE
    return OperatingStatus.ERROR


@dataclass(frozen=True)
class OperatingStatuses:
    """The computed status of every object HAProxy serves, keyed by object id."""

    loadbalancer: OperatingStatus
    listeners: dict[str, OperatingStatus] = field(default_factory=dict)
    pools: dict[str, OperatingStatus] = field(default_factory=dict)
    members: dict[str, OperatingStatus] = field(default_factory=dict)
    healthmonitors: dict[str, OperatingStatus] = field(default_factory=dict)
    l7policies: dict[str, OperatingStatus] = field(default_factory=dict)
    l7rules: dict[str, OperatingStatus] = field(default_factory=dict)

    def by_id(self, lb_id: str) -> dict[str, OperatingStatus]:
        """One flat id → status map (ids are UUIDs, so the kinds cannot collide)."""
        return {
            lb_id: self.loadbalancer,
            **self.listeners,
            **self.pools,
            **self.members,
            **self.healthmonitors,
            **self.l7policies,
            **self.l7rules,
        }


class _Index:
    """The rows, grouped the way the rules look them up."""

    def __init__(self, rows: Iterable[StatLike]) -> None:
        self.frontends: dict[str, StatLike] = {}
        self.backends: dict[str, list[StatLike]] = {}  # pool id → BACKEND rows
        self.servers: dict[tuple[str, str], list[StatLike]] = {}  # (pool id, member id) → rows
        for row in rows:
            if row.type == StatType.FRONTEND:
                self.frontends[row.pxname] = row
                continue
            pool_id, sep, _listener_id = row.pxname.partition(":")
            if not sep:
                continue
            if row.type == StatType.BACKEND:
                self.backends.setdefault(pool_id, []).append(row)
            elif row.type == StatType.SERVER:
                self.servers.setdefault((pool_id, row.svname), []).append(row)


def compute_statuses(spec: LoadBalancerSpec, rows: Iterable[StatLike]) -> OperatingStatuses:
    """Operating status of the LB and everything in it that HAProxy serves."""
    served = [li for li in spec.listeners if li.protocol not in _NOT_HAPROXY]
    pools = [p for p in spec.pools if p.protocol not in _NOT_HAPROXY]

    if not spec.admin_state_up:
        off = OperatingStatus.OFFLINE
        return OperatingStatuses(
            loadbalancer=off,
            listeners={li.id: off for li in served},
            pools={p.id: off for p in pools},
            members={m.id: off for p in pools for m in p.members},
            healthmonitors={p.healthmonitor.id: off for p in pools if p.healthmonitor},
            l7policies={pol.id: off for li in served for pol in li.l7policies},
            l7rules={r.id: off for li in served for pol in li.l7policies for r in pol.rules},
        )

    idx = _Index(rows)
    members: dict[str, OperatingStatus] = {}
    pool_st: dict[str, OperatingStatus] = {}
    hms: dict[str, OperatingStatus] = {}
    for pool in pools:
        backend_rows = idx.backends.get(pool.id, [])
        # A pool HAProxy does not report at all (on no listener, no policy) is OFFLINE, and its members
        # keep the status they have (NO_MONITOR after create), as Octavia's health manager leaves them.
        if backend_rows or not pool.admin_state_up:
            for m in pool.members:
                members[m.id] = member_status(m, pool, idx.servers.get((pool.id, m.id), []))
        pool_st[pool.id] = pool_status(pool, members, backend_rows)
        if pool.healthmonitor is not None:
            hms[pool.healthmonitor.id] = _enabled(pool.healthmonitor.admin_state_up)

    listeners: dict[str, OperatingStatus] = {}
    for li in served:
        if not li.admin_state_up:
            listeners[li.id] = OperatingStatus.OFFLINE
            continue
        listeners[li.id] = frontend_status(idx.frontends.get(li.id))
    policies = {pol.id: _enabled(pol.admin_state_up) for li in served for pol in li.l7policies}
    rules = {r.id: _enabled(r.admin_state_up) for li in served for pol in li.l7policies for r in pol.rules}

    observed = [*listeners.values(), *pool_st.values()]
    if OperatingStatus.ERROR in observed:
        lb = OperatingStatus.ERROR
    elif OperatingStatus.DEGRADED in observed:
        lb = OperatingStatus.DEGRADED
    else:
        lb = OperatingStatus.ONLINE
    return OperatingStatuses(
        loadbalancer=lb, listeners=listeners, pools=pool_st, members=members, healthmonitors=hms,
        l7policies=policies, l7rules=rules,
    )


def _enabled(admin_state_up: bool) -> OperatingStatus:
    """What Octavia marks an applied health monitor, L7 policy or rule: ONLINE, or OFFLINE if disabled."""
    return OperatingStatus.ONLINE if admin_state_up else OperatingStatus.OFFLINE


# --- counters ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListenerCounters:
    """Octavia's five stats, as HAProxy counts them since the worker started (absolute, not deltas:
    a reload resets them, so whoever stores them must accumulate across reloads)."""

    bytes_in: int = 0
    bytes_out: int = 0
    active_connections: int = 0
    total_connections: int = 0
    request_errors: int = 0

    def __add__(self, other: ListenerCounters) -> ListenerCounters:
        return ListenerCounters(
            self.bytes_in + other.bytes_in,
            self.bytes_out + other.bytes_out,
            self.active_connections + other.active_connections,
            self.total_connections + other.total_connections,
            self.request_errors + other.request_errors,
        )


def listener_counters(spec: LoadBalancerSpec, rows: Iterable[StatLike]) -> dict[str, ListenerCounters]:
    """Per listener, from its frontend row (bin, bout, scur, stot, ereq); zeros when not reported."""
    frontends = {r.pxname: r for r in rows if r.type == StatType.FRONTEND}
    out: dict[str, ListenerCounters] = {}
    for li in spec.listeners:
        row = frontends.get(li.id)
        out[li.id] = (
            ListenerCounters(row.bin, row.bout, row.scur, row.stot, row.ereq) if row else ListenerCounters()
        )
    return out


def loadbalancer_counters(counters: dict[str, ListenerCounters]) -> ListenerCounters:
    total = ListenerCounters()
    for c in counters.values():
        total = total + c
    return total


# Per-member counters travel with the listeners' in one stats report, keyed ``member:<member id>``
# (listener keys are bare ids), so agents, the internal API and the baseline file carry them unchanged.
MEMBER_KEY_PREFIX = "member:"


def member_counters(spec: LoadBalancerSpec, rows: Iterable[StatLike]) -> dict[str, ListenerCounters]:
    """Per member (key ``member:<id>``), summed over its server rows in every backend of its pool
    (one per listener using the pool): bin, bout, scur, stot (in HTTP mode one per request), and
    econ + eresp as errors. Zeros when HAProxy reports no row for it."""
    idx = _Index(rows)
    out: dict[str, ListenerCounters] = {}
    for pool in spec.pools:
        for mem in pool.members:
            total = ListenerCounters()
            for r in idx.servers.get((pool.id, mem.id), []):
                total = total + ListenerCounters(r.bin, r.bout, r.scur, r.stot, r.econ + r.eresp)
            out[MEMBER_KEY_PREFIX + mem.id] = total
    return out
