"""Rows. Column names are the API's field names, so no layer needs a rename map.

Octavia resources (load_balancer … l7rule, quota, flavor…, availability_zone…, amphora, agent) and the
Neutron subset (network, subnet, port, ip_allocation). Tags live in one table keyed by resource id.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.associationproxy import AssociationProxy, association_proxy
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lbaas.db.base import AdminMixin, Base, IdMixin, ProjectMixin, StatusMixin, TimestampMixin, new_id, utcnow


class Tag(Base):
    __tablename__ = "tag"
    resource_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tag: Mapped[str] = mapped_column(String(255), primary_key=True)


def _tags_rel(owner: str) -> Any:
    return relationship(
        Tag,
        primaryjoin=f"foreign(Tag.resource_id) == {owner}.id",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by=Tag.tag,
        overlaps="_tags",
    )


class TaggedMixin:
    """Adds ``tags`` (a list of strings) backed by the shared tag table."""

    tags: AssociationProxy[list[str]] = association_proxy("_tags", "tag", creator=lambda t: Tag(tag=t))


class LoadBalancer(Base, IdMixin, ProjectMixin, TimestampMixin, StatusMixin, AdminMixin, TaggedMixin):
    __tablename__ = "load_balancer"
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    provider: Mapped[str] = mapped_column(String(64), default="amphora")
    flavor_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("flavor.id"))
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    vip_address: Mapped[str | None] = mapped_column(String(64))
    vip_port_id: Mapped[str | None] = mapped_column(String(36))
    vip_subnet_id: Mapped[str | None] = mapped_column(String(36))
    vip_network_id: Mapped[str | None] = mapped_column(String(36))
    vip_qos_policy_id: Mapped[str | None] = mapped_column(String(36))
    topology: Mapped[str] = mapped_column(String(16), default="SINGLE")
    # Level-triggered reconcile: every accepted change bumps generation; the agent reports what it applied.
    generation: Mapped[int] = mapped_column(BigInteger, default=1)
    observed_generation: Mapped[int] = mapped_column(BigInteger, default=0)
    status_message: Mapped[str | None] = mapped_column(Text)
    # Scheduling: the agent this LB is bound to, and the fencing epoch of that binding.
    agent_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("agent.id"), index=True)
    binding_epoch: Mapped[int] = mapped_column(BigInteger, default=0)

    listeners: Mapped[list[Listener]] = relationship(
        back_populates="load_balancer", cascade="all, delete-orphan", order_by="[Listener.created_at, Listener.id]"
    )
    pools: Mapped[list[Pool]] = relationship(
        back_populates="load_balancer", cascade="all, delete-orphan", order_by="[Pool.created_at, Pool.id]"
    )
    _tags: Mapped[list[Tag]] = _tags_rel("LoadBalancer")


class Listener(Base, IdMixin, ProjectMixin, TimestampMixin, StatusMixin, AdminMixin, TaggedMixin):
    __tablename__ = "listener"
    loadbalancer_id: Mapped[str] = mapped_column(String(36), ForeignKey("load_balancer.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    protocol: Mapped[str] = mapped_column(String(32))
    protocol_port: Mapped[int] = mapped_column(Integer)
    connection_limit: Mapped[int] = mapped_column(Integer, default=-1)
    default_pool_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("pool.id", use_alter=True, ondelete="SET NULL")
    )
    default_tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    sni_container_refs: Mapped[list[str]] = mapped_column(JSON, default=list)
    client_ca_tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    client_authentication: Mapped[str] = mapped_column(String(16), default="NONE")
    client_crl_container_ref: Mapped[str | None] = mapped_column(String(255))
    insert_headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    timeout_client_data: Mapped[int] = mapped_column(Integer, default=50000)
    timeout_member_connect: Mapped[int] = mapped_column(Integer, default=5000)
    timeout_member_data: Mapped[int] = mapped_column(Integer, default=50000)
    timeout_tcp_inspect: Mapped[int] = mapped_column(Integer, default=0)
    allowed_cidrs: Mapped[list[str] | None] = mapped_column(JSON)
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048))
    tls_versions: Mapped[list[str] | None] = mapped_column(JSON)
    alpn_protocols: Mapped[list[str] | None] = mapped_column(JSON)
    hsts_max_age: Mapped[int | None] = mapped_column(Integer)
    hsts_include_subdomains: Mapped[bool] = mapped_column(Boolean, default=False)
    hsts_preload: Mapped[bool] = mapped_column(Boolean, default=False)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="listeners")
    default_pool: Mapped[Pool | None] = relationship(foreign_keys=[default_pool_id], back_populates="listeners")
    l7policies: Mapped[list[L7Policy]] = relationship(
        back_populates="listener",
        cascade="all, delete-orphan",
        order_by="L7Policy.position",
        foreign_keys="L7Policy.listener_id",
    )
    _tags: Mapped[list[Tag]] = _tags_rel("Listener")


class Pool(Base, IdMixin, ProjectMixin, TimestampMixin, StatusMixin, AdminMixin, TaggedMixin):
    __tablename__ = "pool"
    loadbalancer_id: Mapped[str] = mapped_column(String(36), ForeignKey("load_balancer.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    protocol: Mapped[str] = mapped_column(String(32))
    lb_algorithm: Mapped[str] = mapped_column(String(32))
    session_persistence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    tls_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    ca_tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    crl_container_ref: Mapped[str | None] = mapped_column(String(255))
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048))
    tls_versions: Mapped[list[str] | None] = mapped_column(JSON)
    alpn_protocols: Mapped[list[str] | None] = mapped_column(JSON)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="pools")
    listeners: Mapped[list[Listener]] = relationship(
        foreign_keys="Listener.default_pool_id", back_populates="default_pool"
    )
    members: Mapped[list[Member]] = relationship(
        back_populates="pool", cascade="all, delete-orphan", order_by="Member.created_at"
    )
    healthmonitor: Mapped[HealthMonitor | None] = relationship(
        back_populates="pool", cascade="all, delete-orphan", uselist=False
    )
    l7policies: Mapped[list[L7Policy]] = relationship(
        foreign_keys="L7Policy.redirect_pool_id", back_populates="redirect_pool"
    )
    _tags: Mapped[list[Tag]] = _tags_rel("Pool")


class Member(Base, IdMixin, ProjectMixin, TimestampMixin, StatusMixin, AdminMixin, TaggedMixin):
    __tablename__ = "member"
    __table_args__ = (UniqueConstraint("pool_id", "address", "protocol_port", name="uq_member_pool_address_port"),)
    pool_id: Mapped[str] = mapped_column(String(36), ForeignKey("pool.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(64))
    protocol_port: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    backup: Mapped[bool] = mapped_column(Boolean, default=False)
    subnet_id: Mapped[str | None] = mapped_column(String(36))
    monitor_address: Mapped[str | None] = mapped_column(String(64))
    monitor_port: Mapped[int | None] = mapped_column(Integer)
    request_sriov: Mapped[bool] = mapped_column(Boolean, default=False)

    pool: Mapped[Pool] = relationship(back_populates="members")
    _tags: Mapped[list[Tag]] = _tags_rel("Member")


class HealthMonitor(Base, IdMixin, ProjectMixin, TimestampMixin, StatusMixin, AdminMixin, TaggedMixin):
    __tablename__ = "health_monitor"
    pool_id: Mapped[str] = mapped_column(String(36), ForeignKey("pool.id"), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(36))
    delay: Mapped[int] = mapped_column(Integer)
    timeout: Mapped[int] = mapped_column(Integer)
    max_retries: Mapped[int] = mapped_column(Integer)
    max_retries_down: Mapped[int] = mapped_column(Integer, default=3)
    http_method: Mapped[str | None] = mapped_column(String(16))
    url_path: Mapped[str | None] = mapped_column(String(2048))
    expected_codes: Mapped[str | None] = mapped_column(String(64))
    http_version: Mapped[float | None] = mapped_column(Float)
    domain_name: Mapped[str | None] = mapped_column(String(255))

    pool: Mapped[Pool] = relationship(back_populates="healthmonitor")
    _tags: Mapped[list[Tag]] = _tags_rel("HealthMonitor")


class L7Policy(Base, IdMixin, ProjectMixin, TimestampMixin, StatusMixin, AdminMixin, TaggedMixin):
    __tablename__ = "l7policy"
    listener_id: Mapped[str] = mapped_column(String(36), ForeignKey("listener.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    redirect_pool_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("pool.id"))
    redirect_url: Mapped[str | None] = mapped_column(String(2048))
    redirect_prefix: Mapped[str | None] = mapped_column(String(2048))
    redirect_http_code: Mapped[int | None] = mapped_column(Integer)

    listener: Mapped[Listener] = relationship(back_populates="l7policies", foreign_keys=[listener_id])
    redirect_pool: Mapped[Pool | None] = relationship(back_populates="l7policies", foreign_keys=[redirect_pool_id])
    rules: Mapped[list[L7Rule]] = relationship(
        back_populates="l7policy", cascade="all, delete-orphan", order_by="L7Rule.created_at"
    )
    _tags: Mapped[list[Tag]] = _tags_rel("L7Policy")


class L7Rule(Base, IdMixin, ProjectMixin, TimestampMixin, StatusMixin, AdminMixin, TaggedMixin):
    __tablename__ = "l7rule"
    l7policy_id: Mapped[str] = mapped_column(String(36), ForeignKey("l7policy.id"), index=True)
    type: Mapped[str] = mapped_column(String(36))
    compare_type: Mapped[str] = mapped_column(String(36))
    key: Mapped[str | None] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))
    invert: Mapped[bool] = mapped_column(Boolean, default=False)

    l7policy: Mapped[L7Policy] = relationship(back_populates="rules")
    _tags: Mapped[list[Tag]] = _tags_rel("L7Rule")


class ListenerStats(Base):
    """Counters per listener, accumulated from the agent's deltas so they survive HAProxy reloads."""

    __tablename__ = "listener_stats"
    listener_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    loadbalancer_id: Mapped[str] = mapped_column(String(36), index=True)
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    active_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    total_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    request_errors: Mapped[int] = mapped_column(BigInteger, default=0)


class MemberStats(Base):
    """Counters per member (HAProxy's server rows), accumulated like ``ListenerStats``. An lbaas
    extension (Octavia has no member stats), read by ``GET /v2/octavia/loadbalancers/{id}/member_stats``."""

    __tablename__ = "member_stats"
    member_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    pool_id: Mapped[str] = mapped_column(String(36), index=True)
    loadbalancer_id: Mapped[str] = mapped_column(String(36), index=True)
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    active_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    total_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    request_errors: Mapped[int] = mapped_column(BigInteger, default=0)


class Quota(Base):
    __tablename__ = "quota"
    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    loadbalancer: Mapped[int | None] = mapped_column(Integer)
    listener: Mapped[int | None] = mapped_column(Integer)
    member: Mapped[int | None] = mapped_column(Integer)
    pool: Mapped[int | None] = mapped_column(Integer)
    healthmonitor: Mapped[int | None] = mapped_column(Integer)
    l7policy: Mapped[int | None] = mapped_column(Integer)
    l7rule: Mapped[int | None] = mapped_column(Integer)


class FlavorProfile(Base, IdMixin):
    __tablename__ = "flavor_profile"
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    flavor_data: Mapped[str] = mapped_column(String(4096))


class Flavor(Base, IdMixin):
    __tablename__ = "flavor"
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    flavor_profile_id: Mapped[str] = mapped_column(String(36), ForeignKey("flavor_profile.id"))


class AvailabilityZoneProfile(Base, IdMixin):
    __tablename__ = "availability_zone_profile"
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    availability_zone_data: Mapped[str] = mapped_column(String(4096))


class AvailabilityZone(Base):
    __tablename__ = "availability_zone"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    availability_zone_profile_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("availability_zone_profile.id")
    )


class Agent(Base, IdMixin, AdminMixin):
    """An agent host that runs load balancers (one per machine or simulated host)."""

    __tablename__ = "agent"
    host: Mapped[str] = mapped_column(String(255), unique=True)
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    last_heartbeat: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Amphora(Base, IdMixin, TimestampMixin):
    """One running instance of a load balancer on an agent host (Octavia's amphora, without the VM)."""

    __tablename__ = "amphora"
    loadbalancer_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("load_balancer.id"), index=True)
    agent_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("agent.id"), index=True)
    compute_id: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="STANDALONE")
    status: Mapped[str] = mapped_column(String(36), default="BOOTING")
    ha_ip: Mapped[str | None] = mapped_column(String(64))
    ha_port_id: Mapped[str | None] = mapped_column(String(36))
    vrrp_ip: Mapped[str | None] = mapped_column(String(64))
    vrrp_port_id: Mapped[str | None] = mapped_column(String(36))
    lb_network_ip: Mapped[str | None] = mapped_column(String(64))
    cached_zone: Mapped[str | None] = mapped_column(String(255))
    # ACTIVE_STANDBY (issue 11): each instance is bound on its own (agent_id + binding_epoch, fencing as
    # the LB's binding for SINGLE); Octavia's names for the VRRP fields; vrrp_id is the group's virtual
    # router id (see VrrpGroup). Measured by the agent (StatusReporter.instance): vrrp_state, healthy.
    binding_epoch: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    vrrp_priority: Mapped[int | None] = mapped_column(Integer)
    vrrp_id: Mapped[int | None] = mapped_column(Integer)
    vrrp_interface: Mapped[str | None] = mapped_column(String(16))
    vrrp_state: Mapped[str | None] = mapped_column(String(16))
    healthy: Mapped[bool | None] = mapped_column(Boolean)
    measured_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    applied_generation: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # the operating statuses this instance last reported (object id → status), merged from its reports
    operating_statuses: Mapped[dict[str, str] | None] = mapped_column(JSON)


class VrrpGroup(Base):
    """The VRRP group of an ACTIVE_STANDBY load balancer (Octavia's vrrp_group): its virtual router id,
    unique among the groups of one VIP network (the constraint is the guarantee under concurrency)."""

    __tablename__ = "vrrp_group"
    __table_args__ = (UniqueConstraint("vip_network_id", "vrrp_id", name="uq_vrrp_group_network_vrrp_id"),)
    load_balancer_id: Mapped[str] = mapped_column(String(36), ForeignKey("load_balancer.id"), primary_key=True)
    vrrp_group_name: Mapped[str] = mapped_column(String(36))
    vip_network_id: Mapped[str] = mapped_column(String(36))
    vrrp_id: Mapped[int] = mapped_column(Integer)
    advert_int: Mapped[int] = mapped_column(Integer, default=100)  # milliseconds (VrrpSpec.advert_int_ms)


# --------------------------------------------------------------------------- Neutron subset


class Network(Base, IdMixin, ProjectMixin, TimestampMixin, AdminMixin, TaggedMixin):
    __tablename__ = "network"
    # One network per (physnet, VLAN id); NULLs are distinct, so flat networks never collide here.
    __table_args__ = (UniqueConstraint("physical_network", "segmentation_id", name="uq_network_segment"),)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    mtu: Mapped[int] = mapped_column(Integer, default=1500)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    network_type: Mapped[str] = mapped_column(String(16), default="flat")
    physical_network: Mapped[str | None] = mapped_column(String(64))
    segmentation_id: Mapped[int | None] = mapped_column(Integer)
    revision_number: Mapped[int] = mapped_column(BigInteger, default=1, server_default="1")

    subnets: Mapped[list[Subnet]] = relationship(back_populates="network", order_by="Subnet.created_at")
    _tags: Mapped[list[Tag]] = _tags_rel("Network")


class Subnet(Base, IdMixin, ProjectMixin, TimestampMixin, TaggedMixin):
    __tablename__ = "subnet"
    network_id: Mapped[str] = mapped_column(String(36), ForeignKey("network.id"), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    ip_version: Mapped[int] = mapped_column(Integer)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64))
    allocation_pools: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    host_routes: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    dns_nameservers: Mapped[list[str]] = mapped_column(JSON, default=list)
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=False)
    revision_number: Mapped[int] = mapped_column(BigInteger, default=1, server_default="1")

    network: Mapped[Network] = relationship(back_populates="subnets")
    _tags: Mapped[list[Tag]] = _tags_rel("Subnet")


class Port(Base, IdMixin, ProjectMixin, TimestampMixin, AdminMixin, TaggedMixin):
    __tablename__ = "port"
    network_id: Mapped[str] = mapped_column(String(36), ForeignKey("network.id"), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    mac_address: Mapped[str] = mapped_column(String(32), unique=True)
    device_owner: Mapped[str] = mapped_column(String(255), default="")
    device_id: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    binding_host_id: Mapped[str] = mapped_column(String(255), default="")
    revision_number: Mapped[int] = mapped_column(BigInteger, default=1, server_default="1")
    # Neutron's port security: there are no security groups or anti-spoofing rules here to turn off,
    # so it changes nothing, but a port keeps what its creator asked for (Octavia's tests disable it).
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")

    fixed_ips: Mapped[list[IpAllocation]] = relationship(
        back_populates="port", cascade="all, delete-orphan", lazy="selectin", order_by="IpAllocation.ip_address"
    )
    _tags: Mapped[list[Tag]] = _tags_rel("Port")


class IpAllocation(Base):
    """One address handed out from a subnet. The primary key is what makes IPAM never hand out one twice."""

    __tablename__ = "ip_allocation"
    subnet_id: Mapped[str] = mapped_column(String(36), ForeignKey("subnet.id"), primary_key=True)
    ip_address: Mapped[str] = mapped_column(String(64), primary_key=True)
    port_id: Mapped[str] = mapped_column(String(36), ForeignKey("port.id"), index=True)

    port: Mapped[Port] = relationship(back_populates="fixed_ips")


class ApiToken(Base):
    """A standalone API token (``--auth-strategy token``): only a SHA-256 of its secret part is kept."""

    __tablename__ = "api_token"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str | None] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str | None] = mapped_column(String(255))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Secret(Base, IdMixin, ProjectMixin, TimestampMixin):
    """A Barbican-style secret; ``payload`` is the ciphertext (see lbaas.services.secrets)."""

    __tablename__ = "secret"
    name: Mapped[str | None] = mapped_column(String(255))
    secret_type: Mapped[str] = mapped_column(String(32), default="opaque")
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    algorithm: Mapped[str | None] = mapped_column(String(255))
    bit_length: Mapped[int | None] = mapped_column(Integer)
    mode: Mapped[str | None] = mapped_column(String(255))
    expiration: Mapped[dt.datetime | None] = mapped_column(DateTime)
    creator_id: Mapped[str | None] = mapped_column(String(255))
    payload_content_type: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)


class SecretContainer(Base, IdMixin, ProjectMixin, TimestampMixin):
    """A Barbican-style container: named references to secrets, plus the consumers that use it."""

    __tablename__ = "secret_container"
    name: Mapped[str | None] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(32), default="generic")
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    creator_id: Mapped[str | None] = mapped_column(String(255))
    secret_refs: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"name": ..., "secret_id": ...}]
    consumers: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"name": ..., "URL": ...}]


__all__ = [
    "Agent",
    "ApiToken",
    "Amphora",
    "AvailabilityZone",
    "AvailabilityZoneProfile",
    "Base",
    "Flavor",
    "FlavorProfile",
    "HealthMonitor",
    "IpAllocation",
    "L7Policy",
    "L7Rule",
    "Listener",
    "ListenerStats",
    "LoadBalancer",
    "Member",
    "MemberStats",
    "Network",
    "Port",
    "Quota",
    "Secret",
    "SecretContainer",
    "Subnet",
    "Tag",
    "VrrpGroup",
    "new_id",
]
