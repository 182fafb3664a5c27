"""Octavia's wire enums, as StrEnums. The values are exactly what goes on the wire and into the DB."""

from enum import StrEnum


class ProvisioningStatus(StrEnum):
    ACTIVE = "ACTIVE"
    PENDING_CREATE = "PENDING_CREATE"
    PENDING_UPDATE = "PENDING_UPDATE"
    PENDING_DELETE = "PENDING_DELETE"
    DELETED = "DELETED"
    ERROR = "ERROR"


PENDING_STATUSES = frozenset(
    {ProvisioningStatus.PENDING_CREATE, ProvisioningStatus.PENDING_UPDATE, ProvisioningStatus.PENDING_DELETE}
)
MUTABLE_STATUSES = frozenset({ProvisioningStatus.ACTIVE})
DELETABLE_STATUSES = frozenset({ProvisioningStatus.ACTIVE, ProvisioningStatus.ERROR})
FAILOVERABLE_STATUSES = frozenset({ProvisioningStatus.ACTIVE, ProvisioningStatus.ERROR})


class OperatingStatus(StrEnum):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"
    DEGRADED = "DEGRADED"
    ERROR = "ERROR"
    DRAINING = "DRAINING"
    NO_MONITOR = "NO_MONITOR"


class ListenerProtocol(StrEnum):
    TCP = "TCP"
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TERMINATED_HTTPS = "TERMINATED_HTTPS"
    UDP = "UDP"
    SCTP = "SCTP"
    PROMETHEUS = "PROMETHEUS"


class PoolProtocol(StrEnum):
    TCP = "TCP"
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    PROXY = "PROXY"
    PROXYV2 = "PROXYV2"
    UDP = "UDP"
    SCTP = "SCTP"


# Which pool protocols a listener protocol can forward to (Octavia's VALID_LISTENER_POOL_PROTOCOL_MAP).
LISTENER_POOL_PROTOCOLS: dict[str, frozenset[str]] = {
    "TCP": frozenset({"HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP"}),
    "HTTP": frozenset({"HTTP", "PROXY", "PROXYV2"}),
    "HTTPS": frozenset({"HTTPS", "PROXY", "PROXYV2", "TCP"}),
    "TERMINATED_HTTPS": frozenset({"HTTP", "PROXY", "PROXYV2"}),
    "UDP": frozenset({"UDP"}),
    "SCTP": frozenset({"SCTP"}),
    "PROMETHEUS": frozenset(),
}

# Listener protocols that share one port space (TCP family), for the duplicate-port rule.
def l4_family(protocol: str) -> str:
    if protocol == "UDP":
        return "UDP"
    if protocol == "SCTP":
        return "SCTP"
    return "TCP"


class LbAlgorithm(StrEnum):
    ROUND_ROBIN = "ROUND_ROBIN"
    LEAST_CONNECTIONS = "LEAST_CONNECTIONS"
    SOURCE_IP = "SOURCE_IP"
    SOURCE_IP_PORT = "SOURCE_IP_PORT"


class SessionPersistenceType(StrEnum):
    SOURCE_IP = "SOURCE_IP"
    HTTP_COOKIE = "HTTP_COOKIE"
    APP_COOKIE = "APP_COOKIE"


class HealthMonitorType(StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    PING = "PING"
    TCP = "TCP"
    TLS_HELLO = "TLS-HELLO"
    UDP_CONNECT = "UDP-CONNECT"
    SCTP = "SCTP"


POOL_HM_TYPES: dict[str, frozenset[str]] = {
    **{p: frozenset({"HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO"}) for p in ("HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP")},
    "UDP": frozenset({"HTTP", "TCP", "UDP-CONNECT", "SCTP"}),
    "SCTP": frozenset({"HTTP", "TCP", "UDP-CONNECT", "SCTP"}),
}


class HttpMethod(StrEnum):
    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"
    PUT = "PUT"
    DELETE = "DELETE"
    TRACE = "TRACE"
    OPTIONS = "OPTIONS"
    CONNECT = "CONNECT"
    PATCH = "PATCH"


class L7Action(StrEnum):
    REJECT = "REJECT"
    REDIRECT_TO_URL = "REDIRECT_TO_URL"
    REDIRECT_TO_POOL = "REDIRECT_TO_POOL"
    REDIRECT_PREFIX = "REDIRECT_PREFIX"


class L7RuleType(StrEnum):
    HOST_NAME = "HOST_NAME"
    PATH = "PATH"
    FILE_TYPE = "FILE_TYPE"
    HEADER = "HEADER"
    COOKIE = "COOKIE"
    SSL_CONN_HAS_CERT = "SSL_CONN_HAS_CERT"
    SSL_VERIFY_RESULT = "SSL_VERIFY_RESULT"
    SSL_DN_FIELD = "SSL_DN_FIELD"


class L7CompareType(StrEnum):
    REGEX = "REGEX"
    STARTS_WITH = "STARTS_WITH"
    ENDS_WITH = "ENDS_WITH"
    CONTAINS = "CONTAINS"
    EQUAL_TO = "EQUAL_TO"


class ClientAuthentication(StrEnum):
    NONE = "NONE"
    OPTIONAL = "OPTIONAL"
    MANDATORY = "MANDATORY"


TLS_VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
ALPN_PROTOCOLS = ("h2", "http/1.1", "http/1.0")
REDIRECT_HTTP_CODES = (301, 302, 303, 307, 308)

INSERT_HEADERS = (
    "X-Forwarded-For",
    "X-Forwarded-Port",
    "X-Forwarded-Proto",
    "X-Forwarded-IP",
    "X-Client-IP",
    "X-Real-IP",
)
SSL_INSERT_HEADERS = (
    "X-SSL-Client-Verify",
    "X-SSL-Client-Has-Cert",
    "X-SSL-Client-DN",
    "X-SSL-Client-CN",
    "X-SSL-Issuer",
    "X-SSL-Client-SHA1",
    "X-SSL-Client-Not-Before",
    "X-SSL-Client-Not-After",
)


class Topology(StrEnum):
    SINGLE = "SINGLE"
    ACTIVE_STANDBY = "ACTIVE_STANDBY"


class AmphoraRole(StrEnum):
    MASTER = "MASTER"
    BACKUP = "BACKUP"
    STANDALONE = "STANDALONE"
