"""ORM tree → LoadBalancerSpec: the one converter the agent depends on.

Objects being deleted (PENDING_DELETE) are left out, as if already gone: the agent converges to the
state after the change.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy.orm import Session

from lbaas.db import models as m
from lbaas.domain import addresses, spec


def _canon(address: str) -> str:
    """The canonical text of a stored address (rows keep the caller's spelling). A value that is not an
    address is passed on unchanged, for the renderer to refuse."""
    try:
        return addresses.canonical(address)
    except addresses.AddressError:
        return address


def _alive(obj: Any) -> bool:
    return obj.provisioning_status not in ("PENDING_DELETE", "DELETED")


def _hm(hm: m.HealthMonitor | None) -> spec.HealthMonitorSpec | None:
    if hm is None or not _alive(hm):
        return None
    return spec.HealthMonitorSpec(
        id=hm.id,
        type=hm.type,
        delay=hm.delay,
        timeout=hm.timeout,
        max_retries=hm.max_retries,
        max_retries_down=hm.max_retries_down,
        http_method=hm.http_method,
        url_path=hm.url_path,
        expected_codes=hm.expected_codes,
        http_version=hm.http_version,
        domain_name=hm.domain_name,
        admin_state_up=hm.admin_state_up,
    )


def _pool(pool: m.Pool) -> spec.PoolSpec:
    sp = pool.session_persistence
    return spec.PoolSpec(
        id=pool.id,
        protocol=pool.protocol,
        lb_algorithm=pool.lb_algorithm,
        admin_state_up=pool.admin_state_up,
        session_persistence=spec.SessionPersistenceSpec(**sp) if sp else None,
        members=tuple(
            spec.MemberSpec(
                id=mb.id,
                address=_canon(mb.address),
                protocol_port=mb.protocol_port,
                weight=mb.weight,
                backup=mb.backup,
                admin_state_up=mb.admin_state_up,
                monitor_address=_canon(mb.monitor_address) if mb.monitor_address else None,
                monitor_port=mb.monitor_port,
                subnet_id=mb.subnet_id,
            )
            for mb in pool.members
            if _alive(mb)
        ),
        healthmonitor=_hm(pool.healthmonitor),
        tls_enabled=pool.tls_enabled,
    )


def _listener(listener: m.Listener) -> spec.ListenerSpec:
    return spec.ListenerSpec(
        id=listener.id,
        protocol=listener.protocol,
        protocol_port=listener.protocol_port,
        admin_state_up=listener.admin_state_up,
        connection_limit=listener.connection_limit,
        default_pool_id=listener.default_pool_id,
        timeout_client_data=listener.timeout_client_data,
        timeout_member_connect=listener.timeout_member_connect,
        timeout_member_data=listener.timeout_member_data,
        timeout_tcp_inspect=listener.timeout_tcp_inspect,
        insert_headers=dict(listener.insert_headers or {}),
        allowed_cidrs=tuple(listener.allowed_cidrs or ()),
        l7policies=tuple(
            spec.L7PolicySpec(
                id=p.id,
                action=p.action,
                position=p.position,
                redirect_pool_id=p.redirect_pool_id,
                redirect_url=p.redirect_url,
                redirect_prefix=p.redirect_prefix,
                redirect_http_code=p.redirect_http_code,
                admin_state_up=p.admin_state_up,
                rules=tuple(
                    spec.L7RuleSpec(
                        id=r.id,
                        type=r.type,
                        compare_type=r.compare_type,
                        key=r.key,
                        value=r.value,
                        invert=r.invert,
                        admin_state_up=r.admin_state_up,
                    )
                    for r in p.rules
                    if _alive(r)
                ),
            )
            for p in listener.l7policies
            if _alive(p)
        ),
    )


def build_vip(s: Session, lb: m.LoadBalancer) -> spec.VipSpec:
    port = s.get(m.Port, lb.vip_port_id) if lb.vip_port_id else None
    subnet = s.get(m.Subnet, lb.vip_subnet_id) if lb.vip_subnet_id else None
    network = s.get(m.Network, lb.vip_network_id) if lb.vip_network_id else None
    if port is None or subnet is None or network is None or lb.vip_address is None:
        raise LookupError(f"load balancer {lb.id} has no complete VIP")
    net = ipaddress.ip_network(subnet.cidr, strict=False)
    return spec.VipSpec(
        address=_canon(lb.vip_address),
        prefixlen=net.prefixlen,
        ip_version=net.version,
        port_id=port.id,
        mac_address=port.mac_address,
        subnet_id=subnet.id,
        network_id=network.id,
        gateway_ip=subnet.gateway_ip,
        mtu=network.mtu,
        host_routes=tuple(spec.HostRouteSpec(**r) for r in subnet.host_routes or ()),
        network_type=network.network_type,
        physical_network=network.physical_network,
        segmentation_id=network.segmentation_id,
    )


def to_spec(s: Session, lb: m.LoadBalancer) -> spec.LoadBalancerSpec:
    return spec.LoadBalancerSpec(
        id=lb.id,
        project_id=lb.project_id,
        admin_state_up=lb.admin_state_up,
        generation=lb.generation,
        binding_epoch=lb.binding_epoch,
        topology=lb.topology,
        vip=build_vip(s, lb),
        listeners=tuple(_listener(li) for li in lb.listeners if _alive(li)),
        pools=tuple(_pool(p) for p in lb.pools if _alive(p)),
        deleting=lb.provisioning_status in ("PENDING_DELETE", "DELETED"),
    )
