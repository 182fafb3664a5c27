"""The controller: a loop that reads rows, plans with pure functions (``scheduler.plan``), and applies.

Each pass places unbound load balancers and fails over those on dead agents, one compare-and-set
UPDATE per move (``db.lifecycle.rebind``), so two controllers, or a controller racing the API's
failover or drain, cannot both win a move: the loser's UPDATE matches no row and it re-plans next
pass. After a move it nudges the new holder and the old one. It holds no state a restart would lose:
every decision is recomputed from the database, and on start it asks every agent to resync.

The controller polls (``controller_interval``, 0.25 s: it adds up to one interval to failover detection) instead of consuming the bus: scheduling is a
query over two small tables, and polling has no message to lose.

The circuit breaker (``domain.agents.breaker``) is recomputed every pass; once it has opened, this
controller keeps it open for ``breaker_hold`` seconds after the rows say it could close, so agents
coming back one by one after a mass outage are not failed over while they are still starting.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from lbaas.bus.base import Nudger
from lbaas.db import lifecycle
from lbaas.db import models as m
from lbaas.db.session import Database
from lbaas.domain.agents import Timing
from lbaas.scheduler.placement import LbView, PlacementPolicy, least_loaded
from lbaas.scheduler.plan import InstanceView, Plan, plan
from lbaas.services import agents, instances

log = logging.getLogger(__name__)


def compute_zones(s: Session) -> dict[str, str | None]:
    """availability zone name → its profile's compute_zone (None: any agent)."""
    out: dict[str, str | None] = {}
    rows = s.execute(
        select(m.AvailabilityZone.name, m.AvailabilityZoneProfile.availability_zone_data).join(
            m.AvailabilityZoneProfile,
            m.AvailabilityZoneProfile.id == m.AvailabilityZone.availability_zone_profile_id,
        )
    )
    for name, data in rows:
        try:
            zone = json.loads(data or "{}").get("compute_zone")
        except (ValueError, AttributeError):
            zone = None
        out[name] = str(zone) if zone else None
    return out


def lb_views(s: Session, providers: Iterable[str]) -> list[LbView]:
    zones = compute_zones(s)
    previous = dict(
        s.execute(select(m.Amphora.loadbalancer_id, m.Amphora.agent_id).where(m.Amphora.role == "STANDALONE")).all()
    )
    rows = s.execute(
        select(
            m.LoadBalancer.id, m.LoadBalancer.agent_id, m.LoadBalancer.binding_epoch, m.LoadBalancer.availability_zone
        ).where(m.LoadBalancer.provider.in_(list(providers)), m.LoadBalancer.topology == "SINGLE")
    )
    return [
        LbView(
            id=lb_id,
            agent_id=agent_id,
            binding_epoch=epoch,
            zone=zones.get(az) if az else None,
            previous_agent_id=previous.get(lb_id),
        )
        for lb_id, agent_id, epoch, az in rows
    ]


def instance_views(s: Session, providers: Iterable[str]) -> list[InstanceView]:
    """The instances of every ACTIVE_STANDBY LB of ``providers`` (their bindings, as ``plan`` needs)."""
    zones = compute_zones(s)
    rows = s.execute(
        select(m.Amphora, m.LoadBalancer.availability_zone)
        .join(m.LoadBalancer, m.LoadBalancer.id == m.Amphora.loadbalancer_id)
        .where(m.LoadBalancer.provider.in_(list(providers)), m.LoadBalancer.topology == "ACTIVE_STANDBY",
               m.Amphora.role.in_(("MASTER", "BACKUP")), m.Amphora.status.not_in(instances.GONE))
    )  # fmt: skip
    return [
        InstanceView(
            id=amp.id,
            lb_id=str(amp.loadbalancer_id),
            role=amp.role,
            agent_id=amp.agent_id,
            binding_epoch=amp.binding_epoch,
            zone=zones.get(az) if az else None,
            replace=amp.status == instances.REPLACED,
            running=amp.status != instances.BOOTING and amp.applied_generation > 0,  # serves something
            vrrp_state=amp.vrrp_state,
        )
        for amp, az in rows
    ]


class Controller:
    def __init__(
        self,
        db: Database,
        nudger: Nudger,
        *,
        providers: Iterable[str],
        timing: Timing,
        max_dead_share: float,
        policy: PlacementPolicy = least_loaded,
        interval: float = 0.5,
        breaker_hold: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._nudger = nudger
        self._providers = tuple(providers)
        self._timing = timing
        self._max_dead_share = max_dead_share
        self._policy = policy
        self._interval = interval
        self._tripped = False
        self._breaker_hold = breaker_hold
        self._clock = clock
        self._open_until = 0.0  # monotonic time until which the breaker stays open after recovery
        self._stop = threading.Event()
        self._witnessed: set[str] = set()
        self.failovers = 0  # LBs moved off a dead agent by this controller (the service metrics read it)

    @property
    def breaker_open(self) -> bool:
        return self._tripped

    def tick(self) -> Plan:
        with self._db.read() as s:
            agent_rows = agents.views(s)
            lbs = lb_views(s, self._providers)
            pairs = instance_views(s, self._providers)
        hosts = {a.id: a.host for a in agent_rows}
        zones_of = {a.id: a.availability_zone for a in agent_rows}
        held = self._clock() < self._open_until
        p = plan(
            lbs,
            agent_rows,
            agents.precise_utcnow(),
            self._timing,
            max_dead_share=self._max_dead_share,
            policy=self._policy,
            hold_open=held,
            instances=pairs,
        )
        if p.breaker is not None and p.breaker.tripped:
            self._open_until = self._clock() + self._breaker_hold
        self._log_breaker(p, held)
        nudges: dict[str, set[str]] = {}
        for mv in p.moves:
            with self._db.write() as s:
                won = lifecycle.rebind(
                    s,
                    mv.lb_id,
                    from_agent_id=mv.from_agent_id,
                    from_epoch=mv.from_epoch,
                    to_agent_id=mv.to_agent_id,
                    rebuild=mv.failover,
                )
            if not won:
                continue
            if mv.failover:
                self.failovers += 1
            what = f"failed over from dead agent {hosts.get(mv.from_agent_id or '')}" if mv.failover else "placed"
            log.info("LB %s %s → %s", mv.lb_id, what, hosts[mv.to_agent_id])
            for agent_id in (mv.to_agent_id, mv.from_agent_id):
                if agent_id in hosts:
                    nudges.setdefault(hosts[agent_id], set()).add(mv.lb_id)
        for im in p.instance_moves:
            with self._db.write() as s:
                if im.new_record:
                    won = instances.replace(s, im.amphora_id, from_agent_id=im.from_agent_id, from_epoch=im.from_epoch,
                                            to_agent_id=im.to_agent_id,
                                            zone=zones_of.get(im.to_agent_id)) is not None  # fmt: skip
                else:
                    won = instances.bind(s, im.amphora_id, from_epoch=im.from_epoch, to_agent_id=im.to_agent_id,
                                         zone=zones_of.get(im.to_agent_id))  # fmt: skip
            if not won:
                continue
            if im.failover:
                self.failovers += 1
            if im.failover:
                what = f"instance {im.amphora_id} failed over from dead agent {hosts.get(im.from_agent_id or '')}"
            elif im.new_record:
                what = f"instance {im.amphora_id} replaced (on request) from {hosts.get(im.from_agent_id or '')}"
            else:
                what = f"instance {im.amphora_id} placed"
            log.info("LB %s %s → %s", im.lb_id, what, hosts[im.to_agent_id])
            for agent_id in (im.to_agent_id, im.from_agent_id, *im.peer_agent_ids):
                if agent_id in hosts:
                    nudges.setdefault(hosts[agent_id], set()).add(im.lb_id)
        for host, ids in nudges.items():
            self._nudger.publish(host, ids)
        for lb_id in set(p.witnessed) - self._witnessed:
            # usually a few tenths of a second after a host death, until the survivor reports MASTER;
            # for as long as the partition lasts when the agent is only cut off from the API
            log.info("LB %s: an instance's agent is dead but its peer still hears it (measured BACKUP): "
                     "not rebuilt while it holds the VIP", lb_id)
        self._witnessed = set(p.witnessed)
        if p.unplaceable:
            log.warning("no live enabled agent for %d LBs (e.g. %s); retrying", len(p.unplaceable), p.unplaceable[0])
        return p

    def _log_breaker(self, p: Plan, held: bool) -> None:
        b = p.breaker
        if b is None:
            return
        is_open = b.tripped or held
        if b.tripped and not self._tripped:
            log.error("failover circuit breaker OPEN: %s; %d LBs held on dead agents", b.reason, len(p.held))
        elif self._tripped and not is_open:
            log.warning("failover circuit breaker closed: %s", b.reason)
        self._tripped = is_open

    def run(self) -> None:
        self._nudger.resync_all()  # a restarted controller: let every agent re-read its assignment
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # the database may be briefly away; nothing is lost by waiting
                log.warning("controller pass failed: %s", exc, exc_info=True)
            self._stop.wait(self._interval)

    def stop(self) -> None:
        self._stop.set()
