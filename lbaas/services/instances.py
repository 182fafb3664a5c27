"""ACTIVE_STANDBY instances (issue 11): the two amphora records of a pair, their VRRP group and ports.

An ACTIVE_STANDBY load balancer has two instances, each an ``Amphora`` row with its own binding
(``agent_id`` + ``binding_epoch``, fenced like the LB's binding of a SINGLE LB), its own vrrp Neutron
port in the VIP subnet (own address and MAC; quota-free, as Octavia's), and Octavia's role and priority
(MASTER 100, BACKUP 90). The pair shares a ``VrrpGroup``: its virtual router id (``vrrp_id``, 1..255)
is unique among the ACTIVE_STANDBY LBs of one VIP network (a unique constraint; 409 when exhausted).

The rows are made at LB create (unbound, ``status`` BOOTING); the controller binds each to an agent
(never both to one: anti-affinity), and when one instance's agent dies replaces only that record (a
new id and epoch, the same slot: role, priority, vrrp port) while the survivor keeps the VIP.

Measured state (``StatusReporter.instance``): ``vrrp_state`` and ``healthy`` per instance, written
only on change. The LB's operating status is DEGRADED while exactly one instance is healthy; object
statuses are taken from one instance only (``authoritative``) so the two never flap each other.

Provisioning (``applied``): a generation is complete when every bound instance of the pair reports
it applied (the slower one decides); a refusal from either completes it as failed at once; a delete
completes on the first instance that tore down (the rows go, the other is told it is no longer its).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import case, delete, select, update
from sqlalchemy.orm import Session

from lbaas.db import lifecycle
from lbaas.db import models as m
from lbaas.db.base import utcnow
from lbaas.domain import errors
from lbaas.domain.enums import AmphoraRole, Topology
from lbaas.services import ipam

MASTER_PRIORITY = 100  # Octavia's ROLE_MASTER_PRIORITY
BACKUP_PRIORITY = 90  # Octavia's ROLE_BACKUP_PRIORITY
PRIORITIES = {AmphoraRole.MASTER: MASTER_PRIORITY, AmphoraRole.BACKUP: BACKUP_PRIORITY}
VRRP_IDS = range(1, 256)
ADVERT_INT_MS = 100
VRRP_STATES = ("MASTER", "BACKUP", "FAULT", "UNKNOWN")
BOOTING = "BOOTING"  # placed or waiting for an agent, not yet running the current generation
ALLOCATED = "ALLOCATED"  # running (applied a generation)
FAILED = "ERROR"  # refused the current generation (until it applies one)
REPLACED = "PENDING_DELETE"  # marked for replacement (amphora or LB failover); rebuilt one at a time
GONE = ("DELETED",)


def vrrp_interface(port_id: str) -> str:
    """The instance's interface inside its namespace: the agent names it for the port it carries
    (``lbv-<port11>``, lbaas.agent.netns naming); VRRP runs there."""
    return "lbv-" + port_id.replace("-", "")[:11]


def is_pair(lb: m.LoadBalancer) -> bool:
    return lb.topology == Topology.ACTIVE_STANDBY


def rows(s: Session, lb_id: str) -> list[m.Amphora]:
    """The instances of an ACTIVE_STANDBY LB (MASTER first), whatever their state."""
    amps = s.scalars(select(m.Amphora).where(m.Amphora.loadbalancer_id == lb_id)).all()
    return sorted((a for a in amps if a.role in PRIORITIES), key=lambda a: (-(a.vrrp_priority or 0), a.id))


def _free_vrrp_id(s: Session, network_id: str) -> int:
    used = set(s.scalars(select(m.VrrpGroup.vrrp_id).where(m.VrrpGroup.vip_network_id == network_id)))
    for vrid in VRRP_IDS:
        if vrid not in used:
            return vrid
    raise errors.Conflict(
        f"No free VRRP virtual router id on network {network_id}: it already has {len(VRRP_IDS)} "
        "ACTIVE_STANDBY load balancers."
    )


def create_pair(s: Session, lb: m.LoadBalancer) -> list[m.Amphora]:
    """The VRRP group and the two (unbound) instances of a new ACTIVE_STANDBY LB, with their vrrp ports."""
    assert lb.vip_network_id and lb.vip_subnet_id
    network = s.get(m.Network, lb.vip_network_id)
    subnet = s.get(m.Subnet, lb.vip_subnet_id)
    if network is None or subnet is None:
        raise errors.ValidationError("The VIP network of an ACTIVE_STANDBY load balancer must be a Neutron network.")
    vrid = _free_vrrp_id(s, network.id)
    s.add(m.VrrpGroup(load_balancer_id=lb.id, vrrp_group_name=lb.id.replace("-", "")[:32],
                      vip_network_id=network.id, vrrp_id=vrid, advert_int=ADVERT_INT_MS))  # fmt: skip
    out = []
    now = utcnow()
    for role, priority in PRIORITIES.items():
        amp_id = m.new_id()
        port = ipam.new_port(s, network=network, project_id=lb.project_id, name=f"octavia-lb-vrrp-{amp_id}",
                             device_owner="Octavia", device_id=amp_id)  # fmt: skip
        try:
            alloc = ipam.allocate(s, port, subnet, None)
        except errors.IpAddressGenerationFailure:
            raise errors.Conflict(
                f"No more IP addresses available on subnet {subnet.id} for the instances of an ACTIVE_STANDBY "
                "load balancer (it needs the VIP and one address per instance)."
            ) from None
        amp = m.Amphora(
            id=amp_id, loadbalancer_id=lb.id, role=str(role), status=BOOTING, vrrp_priority=priority, vrrp_id=vrid,
            vrrp_ip=alloc.ip_address, vrrp_port_id=port.id, vrrp_interface=vrrp_interface(port.id),
            ha_ip=lb.vip_address, ha_port_id=lb.vip_port_id, cached_zone=lb.availability_zone,
            binding_epoch=0, created_at=now, updated_at=now,
        )  # fmt: skip
        s.add(amp)
        out.append(amp)
    s.flush()
    return out


def live(amps: Sequence[m.Amphora]) -> list[m.Amphora]:
    return [a for a in amps if a.status not in GONE]


def of_agent(s: Session, lb_id: str, agent_id: str | None) -> m.Amphora | None:
    """This agent's instance of the LB (None: the agent holds none of it, or no longer)."""
    if agent_id is None:
        return None
    return s.scalar(
        select(m.Amphora).where(m.Amphora.loadbalancer_id == lb_id, m.Amphora.agent_id == agent_id,
                                m.Amphora.role.in_(list(PRIORITIES)), m.Amphora.status.not_in(GONE))
    )  # fmt: skip


def assigned(s: Session, agent_id: str) -> dict[str, int]:
    """lb_id → generation of every ACTIVE_STANDBY LB that has an instance bound to ``agent_id``."""
    rows_ = s.execute(
        select(m.LoadBalancer.id, m.LoadBalancer.generation)
        .join(m.Amphora, m.Amphora.loadbalancer_id == m.LoadBalancer.id)
        .where(m.Amphora.agent_id == agent_id, m.Amphora.role.in_(list(PRIORITIES)),
               m.Amphora.status.not_in(GONE), m.LoadBalancer.topology == Topology.ACTIVE_STANDBY)
    )  # fmt: skip
    return {lb_id: gen for lb_id, gen in rows_}


def peers(s: Session, amp: m.Amphora) -> list[m.Amphora]:
    return [a for a in live(rows(s, amp.loadbalancer_id or "")) if a.id != amp.id]


# --------------------------------------------------------------------------- reports


def applied(s: Session, lb: m.LoadBalancer, amp: m.Amphora, generation: int, *, ok: bool,
            message: str | None) -> bool:  # fmt: skip
    """``amp``'s agent applied (or refused) ``generation``; complete the LB when the pair is done.

    A refusal fails the generation at once and marks the instance ERROR; the other instance's success
    does not undo it, the refusing instance's own later success (its agent retries) does, as the
    single agent's later success does for a SINGLE LB."""
    if generation != lb.generation:
        return False
    if lb.provisioning_status == "PENDING_DELETE":
        return lifecycle.complete(s, lb.id, generation, ok=ok, message=message) if ok else False
    if not ok:
        if amp.status != REPLACED:
            amp.status = FAILED
        return lifecycle.complete(s, lb.id, generation, ok=False, message=message)
    if amp.applied_generation != generation:
        amp.applied_generation = generation
    if amp.status in (BOOTING, FAILED):
        amp.status = ALLOCATED
    pair = live(rows(s, lb.id))
    done = [a for a in pair if a.agent_id is not None and a.status == ALLOCATED and a.applied_generation == generation]
    if len(done) < 2:  # the other is still building (or unplaced, or refused): not complete yet
        s.flush()
        return True
    if lb.observed_generation == generation and lb.provisioning_status == "ACTIVE" and lb.status_message is None:
        s.flush()
        return True  # already complete: a repeated report
    return lifecycle.complete(s, lb.id, generation, ok=True)


def authoritative(pair: Sequence[m.Amphora]) -> m.Amphora | None:
    """The instance whose object statuses count: the one measured MASTER; else a healthy one; else the
    MASTER by role (first measurements)."""
    bound = [a for a in pair if a.agent_id is not None]
    for pick in (
        lambda a: a.vrrp_state == "MASTER" and a.healthy is not False,
        lambda a: bool(a.healthy),
        lambda a: a.role == AmphoraRole.MASTER,
    ):
        for a in bound:
            if pick(a):
                return a
    return bound[0] if bound else None


def lb_operating(pair: Sequence[m.Amphora], reported: str) -> str:
    """The LB's operating status from what the authoritative instance reported and the pair's health:
    DEGRADED when exactly one instance is healthy, ERROR when both are measured unhealthy."""
    healthy = [a for a in pair if a.healthy]
    measured = [a for a in pair if a.healthy is not None and a.agent_id is not None]
    if len(healthy) == 1:
        return "DEGRADED"
    if not healthy and len(measured) >= 2:
        return "ERROR"
    return reported


def _rollup(lb: m.LoadBalancer) -> str:
    """The LB's own status from what its listeners and pools were last measured (``compute_statuses``'
    rule), for when only the pair's health changed and no operating report came with it."""
    gone = ("PENDING_DELETE", "DELETED")
    observed = [li.operating_status for li in lb.listeners if li.provisioning_status not in gone]
    observed += [p.operating_status for p in lb.pools if p.provisioning_status not in gone]
    if "ERROR" in observed:
        return "ERROR"
    if "DEGRADED" in observed:
        return "DEGRADED"
    return "ONLINE"


def record_instance(s: Session, amp: m.Amphora, *, epoch: int, vrrp_state: str, healthy: bool) -> bool:
    """Store what the agent measured, if ``epoch`` is this instance's; only a change is written. When
    the authoritative instance changes (the VIP moved), the new one's last statuses are applied."""
    if epoch != amp.binding_epoch:
        return False
    state = vrrp_state if vrrp_state in VRRP_STATES else "UNKNOWN"
    if amp.vrrp_state == state and amp.healthy == healthy:
        return True
    lb = s.get(m.LoadBalancer, amp.loadbalancer_id) if amp.loadbalancer_id else None
    before = authoritative(live(rows(s, lb.id))) if lb is not None else None
    amp.vrrp_state, amp.healthy, amp.measured_at = state, healthy, dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if lb is not None:
        pair = live(rows(s, lb.id))
        now = authoritative(pair)
        if now is not None and now is not before and now.operating_statuses:
            _apply_statuses(lb, {k: v for k, v in now.operating_statuses.items() if k != lb.id})
        if lb.admin_state_up:
            want = lb_operating(pair, _rollup(lb))
            if lb.operating_status != want:
                lb.operating_status = want
    s.flush()
    return True


def _apply_statuses(lb: m.LoadBalancer, statuses: Mapping[str, str]) -> None:
    objs: dict[str, Any] = {o.id: o for o in lifecycle.iter_tree(lb)}
    for oid, status in statuses.items():
        obj = objs.get(oid)
        if obj is not None and obj.operating_status != status:
            obj.operating_status = status


def filter_operating(s: Session, lb: m.LoadBalancer, amp: m.Amphora,
                     statuses: Mapping[str, str]) -> dict[str, str]:  # fmt: skip
    """The statuses of an operating report that count: none unless ``amp`` is authoritative; the LB's own
    status is corrected for the pair's health. Every instance's statuses are kept on its record (the
    agent reports changes only), so an instance that becomes authoritative brings its whole view."""
    merged = {**(amp.operating_statuses or {}), **statuses}
    if merged != amp.operating_statuses:
        amp.operating_statuses = merged
    pair = live(rows(s, lb.id))
    if authoritative(pair) is not amp:
        return {}
    out = dict(statuses)
    if lb.id in out:
        out[lb.id] = lb_operating(pair, out[lb.id])
    return out


# --------------------------------------------------------------------------- moves (the controller's)


def bind(s: Session, amphora_id: str, *, from_epoch: int, to_agent_id: str, zone: str | None) -> bool:
    """First placement of an unbound instance: one compare-and-set UPDATE; True when this caller won."""
    res = s.execute(
        update(m.Amphora)
        .where(m.Amphora.id == amphora_id, m.Amphora.agent_id.is_(None), m.Amphora.binding_epoch == from_epoch,
               m.Amphora.status.not_in(GONE))
        .values(agent_id=to_agent_id, compute_id=to_agent_id, binding_epoch=m.Amphora.binding_epoch + 1, status=BOOTING,
                cached_zone=zone, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    return bool(res.rowcount == 1)  # type: ignore[attr-defined]


def replace(s: Session, amphora_id: str, *, from_agent_id: str | None, from_epoch: int, to_agent_id: str,
            zone: str | None) -> str | None:  # fmt: skip
    """Replace one instance by a new record on ``to_agent_id`` (a new id, epoch + 1, the same slot: role,
    priority, vrrp port and address); the LB gets a new generation (PENDING_UPDATE if it was ACTIVE) so
    the pair re-reads its peer. The old record goes with a compare-and-set DELETE: the agent that held
    it finds the LB no longer assigned and removes its copy. Returns the new id, or None if another
    controller (or the API) moved it first."""
    old = s.get(m.Amphora, amphora_id, populate_existing=True)
    if old is None or old.binding_epoch != from_epoch or old.agent_id != from_agent_id or old.status in GONE:
        return None
    res = s.execute(
        delete(m.Amphora)
        .where(m.Amphora.id == amphora_id, m.Amphora.binding_epoch == from_epoch,
               (m.Amphora.agent_id == from_agent_id) if from_agent_id else m.Amphora.agent_id.is_(None))
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    if res.rowcount != 1:  # type: ignore[attr-defined]
        return None
    s.expunge(old)
    now = utcnow()
    new = m.Amphora(
        id=m.new_id(), loadbalancer_id=old.loadbalancer_id, role=old.role, status=BOOTING, agent_id=to_agent_id,
        compute_id=to_agent_id, binding_epoch=from_epoch + 1, vrrp_priority=old.vrrp_priority, vrrp_id=old.vrrp_id,
        vrrp_ip=old.vrrp_ip, vrrp_port_id=old.vrrp_port_id, vrrp_interface=old.vrrp_interface, ha_ip=old.ha_ip,
        ha_port_id=old.ha_port_id, cached_zone=zone, created_at=now, updated_at=now,
    )  # fmt: skip
    s.add(new)
    if old.vrrp_port_id:
        port = s.get(m.Port, old.vrrp_port_id)
        if port is not None:
            port.device_id = new.id
    s.execute(
        update(m.LoadBalancer)
        .where(m.LoadBalancer.id == old.loadbalancer_id)
        .values(generation=m.LoadBalancer.generation + 1,
                provisioning_status=case(
                    (m.LoadBalancer.provisioning_status == "ACTIVE", "PENDING_UPDATE"),
                    else_=m.LoadBalancer.provisioning_status))
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    s.flush()
    return new.id


def mark_replaced(s: Session, lb_id: str, amphora_ids: Sequence[str] | None = None) -> None:
    """Failover on request: these instances (default both) are rebuilt by the controller, one at a time."""
    for amp in live(rows(s, lb_id)):
        if amphora_ids is None or amp.id in amphora_ids:
            amp.status = REPLACED
