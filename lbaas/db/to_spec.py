"""ORM tree → LoadBalancerSpec: the one converter the agent depends on.

Objects being deleted (PENDING_DELETE) are left out, as if already gone: the agent converges to the
state after the change.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from lbaas.db import models as m
from lbaas.domain import addresses, certs, errors, spec


class TlsResolver(Protocol):
    """Reads TLS refs (checked with the caller's rights when they were accepted) from the secret store."""

    def bundle(self, s: Session, ref: str, project_id: str) -> certs.TlsBundle: ...

    def ca(self, s: Session, ref: str, project_id: str) -> str: ...

    def crl(self, s: Session, ref: str, project_id: str) -> str: ...


def _cert(tls: TlsResolver, s: Session, ref: str, project_id: str) -> spec.TlsCertSpec:
    bundle = tls.bundle(s, ref, project_id)
    return spec.TlsCertSpec(pem=bundle.pem(), names=bundle.names)


def _listener_tls(s: Session, listener: m.Listener, tls: TlsResolver | None) -> spec.ListenerTlsSpec | None:
    if listener.protocol != "TERMINATED_HTTPS":
        return None
    options: dict[str, Any] = dict(
        tls_versions=tuple(listener.tls_versions or ()),
        tls_ciphers=listener.tls_ciphers,
        alpn_protocols=tuple(listener.alpn_protocols or ()),
        hsts_max_age=listener.hsts_max_age,
        hsts_include_subdomains=bool(listener.hsts_include_subdomains),
        hsts_preload=bool(listener.hsts_preload),
        client_authentication=listener.client_authentication or "NONE",
    )
    if tls is None:
        return spec.ListenerTlsSpec(**options, error="no secret store to read the certificates from")
    try:
        pid = listener.project_id
        default = (
            _cert(tls, s, listener.default_tls_container_ref, pid) if listener.default_tls_container_ref else None
        )
        sni = tuple(_cert(tls, s, ref, pid) for ref in listener.sni_container_refs or ())
        ca = tls.ca(s, listener.client_ca_tls_container_ref, pid) if listener.client_ca_tls_container_ref else None
        crl = tls.crl(s, listener.client_crl_container_ref, pid) if listener.client_crl_container_ref else None
    except errors.LbaasError as exc:
        return spec.ListenerTlsSpec(**options, error=exc.user_message)
    return spec.ListenerTlsSpec(**options, default_cert=default, sni_certs=sni, client_ca_pem=ca, client_crl_pem=crl)


def _pool_tls(s: Session, pool: m.Pool, tls: TlsResolver | None) -> spec.PoolTlsSpec | None:
    if not pool.tls_enabled:
        return None
    options: dict[str, Any] = dict(
        tls_versions=tuple(pool.tls_versions or ()),
        tls_ciphers=pool.tls_ciphers,
        alpn_protocols=tuple(pool.alpn_protocols or ()),
    )
    if tls is None:
        if pool.tls_container_ref or pool.ca_tls_container_ref or pool.crl_container_ref:
            return spec.PoolTlsSpec(**options, error="no secret store to read the certificates from")
        return spec.PoolTlsSpec(**options)
    pid = pool.project_id
    try:
        return spec.PoolTlsSpec(
            **options,
            client_cert=_cert(tls, s, pool.tls_container_ref, pid) if pool.tls_container_ref else None,
            ca_pem=tls.ca(s, pool.ca_tls_container_ref, pid) if pool.ca_tls_container_ref else None,
            crl_pem=tls.crl(s, pool.crl_container_ref, pid) if pool.crl_container_ref else None,
        )
    except errors.LbaasError as exc:
        return spec.PoolTlsSpec(**options, error=exc.user_message)


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


def _pool(s: Session, pool: m.Pool, tls: TlsResolver | None) -> spec.PoolSpec:
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
        tls=_pool_tls(s, pool, tls),
    )


def _listener(s: Session, listener: m.Listener, tls: TlsResolver | None) -> spec.ListenerSpec:
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
        tls=_listener_tls(s, listener, tls),
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


def vrrp_spec(s: Session, amp: m.Amphora) -> spec.VrrpSpec:
    """``amp``'s side of its ACTIVE_STANDBY pair; the other live instance of the LB is its peer."""
    port = s.get(m.Port, amp.vrrp_port_id) if amp.vrrp_port_id else None
    if port is None or amp.vrrp_ip is None or amp.vrrp_id is None or amp.vrrp_priority is None:
        raise LookupError(f"amphora {amp.id} has no complete vrrp port")
    others = s.scalars(
        select(m.Amphora).where(m.Amphora.loadbalancer_id == amp.loadbalancer_id, m.Amphora.id != amp.id,
                                m.Amphora.role.in_(("MASTER", "BACKUP")), m.Amphora.status != "DELETED")
        .order_by(m.Amphora.id)
    ).all()  # fmt: skip
    return spec.VrrpSpec(
        amphora_id=amp.id,
        role=amp.role,
        priority=amp.vrrp_priority,
        virtual_router_id=amp.vrrp_id,
        address=_canon(amp.vrrp_ip),
        port_id=port.id,
        mac_address=port.mac_address,
        peers=tuple(spec.VrrpPeerSpec(amphora_id=o.id, address=_canon(o.vrrp_ip)) for o in others if o.vrrp_ip),
    )


def to_spec(
    s: Session, lb: m.LoadBalancer, tls: TlsResolver | None = None, instance: m.Amphora | None = None
) -> spec.LoadBalancerSpec:
    """``instance``: for an ACTIVE_STANDBY LB, the agent's own instance: the spec then carries its
    ``vrrp`` side and its binding epoch (each agent of the pair reads its own spec)."""
    vrrp = vrrp_spec(s, instance) if instance is not None and lb.topology == "ACTIVE_STANDBY" else None
    return spec.LoadBalancerSpec(
        id=lb.id,
        project_id=lb.project_id,
        admin_state_up=lb.admin_state_up,
        generation=lb.generation,
        binding_epoch=instance.binding_epoch if vrrp is not None and instance is not None else lb.binding_epoch,
        topology=lb.topology,
        vip=build_vip(s, lb),
        vrrp=vrrp,
        listeners=tuple(_listener(s, li, tls) for li in lb.listeners if _alive(li)),
        pools=tuple(_pool(s, p, tls) for p in lb.pools if _alive(p)),
        deleting=lb.provisioning_status in ("PENDING_DELETE", "DELETED"),
    )
