"""The desired state of one load balancer, as the agent receives it: frozen, serialisable, complete.

Field names are the API's. The converter from DB rows is ``lbaas.db.to_spec``; objects that are
PENDING_DELETE or administratively irrelevant are already filtered out there, so the agent and the
renderer get exactly what should run.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HostRouteSpec(_Spec):
    destination: str
    nexthop: str


class VipSpec(_Spec):
    address: str
    prefixlen: int
    ip_version: int = 4
    port_id: str
    mac_address: str
    subnet_id: str
    network_id: str
    gateway_ip: str | None = None
    mtu: int = 1500
    host_routes: tuple[HostRouteSpec, ...] = ()
    network_type: str = "flat"
    physical_network: str | None = None
    segmentation_id: int | None = None


class SessionPersistenceSpec(_Spec):
    type: str
    cookie_name: str | None = None
    persistence_timeout: int | None = None
    persistence_granularity: str | None = None


class HealthMonitorSpec(_Spec):
    id: str
    type: str
    delay: int
    timeout: int
    max_retries: int
    max_retries_down: int = 3
    http_method: str | None = None
    url_path: str | None = None
    expected_codes: str | None = None
    http_version: float | None = None
    domain_name: str | None = None
    admin_state_up: bool = True


class MemberSpec(_Spec):
    id: str
    address: str
    protocol_port: int
    weight: int = 1
    backup: bool = False
    admin_state_up: bool = True
    monitor_address: str | None = None
    monitor_port: int | None = None
    subnet_id: str | None = None


class TlsCertSpec(_Spec):
    """One certificate for HAProxy: leaf, intermediates and key in one PEM; ``names`` are what SNI matches."""

    pem: str
    names: tuple[str, ...] = ()


class PoolTlsSpec(_Spec):
    """Re-encryption to members: ``client_cert`` is presented to them, ``ca_pem`` verifies them."""

    client_cert: TlsCertSpec | None = None
    ca_pem: str | None = None
    crl_pem: str | None = None
    tls_versions: tuple[str, ...] = ()
    tls_ciphers: str | None = None
    alpn_protocols: tuple[str, ...] = ()
    error: str | None = None  # why the material could not be resolved (the renderer refuses then)


class PoolSpec(_Spec):
    id: str
    protocol: str
    lb_algorithm: str
    admin_state_up: bool = True
    session_persistence: SessionPersistenceSpec | None = None
    members: tuple[MemberSpec, ...] = ()
    healthmonitor: HealthMonitorSpec | None = None
    tls_enabled: bool = False
    tls: PoolTlsSpec | None = None  # with tls_enabled: the material resolved from the secret store


class L7RuleSpec(_Spec):
    id: str
    type: str
    compare_type: str
    key: str | None = None
    value: str
    invert: bool = False
    admin_state_up: bool = True


class L7PolicySpec(_Spec):
    id: str
    action: str
    position: int
    redirect_pool_id: str | None = None
    redirect_url: str | None = None
    redirect_prefix: str | None = None
    redirect_http_code: int | None = None
    admin_state_up: bool = True
    rules: tuple[L7RuleSpec, ...] = ()


class ListenerTlsSpec(_Spec):
    """TERMINATED_HTTPS: the certificates (resolved from the secret store) and the TLS options."""

    default_cert: TlsCertSpec | None = None
    sni_certs: tuple[TlsCertSpec, ...] = ()
    tls_versions: tuple[str, ...] = ()
    tls_ciphers: str | None = None
    alpn_protocols: tuple[str, ...] = ()
    hsts_max_age: int | None = None
    hsts_include_subdomains: bool = False
    hsts_preload: bool = False
    client_authentication: str = "NONE"
    client_ca_pem: str | None = None
    client_crl_pem: str | None = None
    error: str | None = None  # why the material could not be resolved (the renderer refuses then)


class ListenerSpec(_Spec):
    id: str
    protocol: str
    protocol_port: int
    admin_state_up: bool = True
    connection_limit: int = -1
    default_pool_id: str | None = None
    timeout_client_data: int = 50000
    timeout_member_connect: int = 5000
    timeout_member_data: int = 50000
    timeout_tcp_inspect: int = 0
    insert_headers: dict[str, str] = {}
    allowed_cidrs: tuple[str, ...] = ()
    l7policies: tuple[L7PolicySpec, ...] = ()
    tls: ListenerTlsSpec | None = None


class VrrpPeerSpec(_Spec):
    """The other instance of an ACTIVE_STANDBY pair, as this instance sees it."""

    amphora_id: str
    address: str  # its own (vrrp) address on the VIP network


class VrrpSpec(_Spec):
    """This agent's instance of an ACTIVE_STANDBY pair (None on a SINGLE load balancer).

    The control plane fills it per agent (``lbaas.db.to_spec``): the same LB reads differently on the
    two agents of a pair, and ``LoadBalancerSpec.binding_epoch`` is then the instance's (amphora's)
    binding epoch. The VIP itself is moved by VRRP; the instance's interface carries ``address``
    (its vrrp port, with ``mac_address``) and only the MASTER holds ``vip.address``.
    """

    amphora_id: str
    role: str  # AmphoraRole MASTER or BACKUP: the preference of the first election only (nopreempt)
    priority: int  # 1..254; MASTER's is the higher
    virtual_router_id: int  # 1..255, unique among the ACTIVE_STANDBY LBs of one VIP network
    address: str  # this instance's own address on the VIP network (its vrrp port)
    port_id: str  # the vrrp port
    mac_address: str  # the vrrp port's MAC (the instance's interface uses it, not the VIP port's)
    peers: tuple[VrrpPeerSpec, ...] = ()
    advert_int_ms: int = 100  # VRRPv3 advert interval (multiple of 10 ms)
    peer_port: int = 1025  # HAProxy ``peers`` (stick-table sync) listen port, on ``address``


class LoadBalancerSpec(_Spec):
    id: str
    project_id: str
    admin_state_up: bool = True
    generation: int
    binding_epoch: int = 0
    topology: str = "SINGLE"
    vip: VipSpec
    vrrp: VrrpSpec | None = None  # ACTIVE_STANDBY: this agent's instance (see VrrpSpec)
    listeners: tuple[ListenerSpec, ...] = ()
    pools: tuple[PoolSpec, ...] = ()
    deleting: bool = False
