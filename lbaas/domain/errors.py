"""The error tree. Each error carries a user message (the API fault string) and an HTTP code.

    LbaasError                      500
    ├── ValidationError             400  "Validation failure: ..."
    ├── InvalidOption               400
    ├── NotFound                    404
    ├── Conflict                    409
    │   └── ImmutableObject         409  "... is immutable and cannot be updated."
    ├── QuotaExceeded               403  "Quota has been met for resources: ..."
    ├── Forbidden                   403
    ├── Unauthorized                401  internal agent API without the shared secret
    └── NotImplementedFeature       501  provider does not support an option

Neutron-style errors (NeutronError envelope) are subclasses with ``neutron_type`` set.
"""

from __future__ import annotations


class LbaasError(Exception):
    code = 500
    faultcode = "Server"

    def __init__(self, user_message: str, *, operator_message: str | None = None) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.operator_message = operator_message or user_message


class ValidationError(LbaasError):
    code = 400
    faultcode = "Client"

    def __init__(self, detail: str) -> None:
        super().__init__(f"Validation failure: {detail}")


class InvalidOption(LbaasError):
    code = 400
    faultcode = "Client"


class Forbidden(LbaasError):
    code = 403
    faultcode = "Client"


class Unauthorized(LbaasError):
    code = 401
    faultcode = "Client"


class QuotaExceeded(LbaasError):
    code = 403
    faultcode = "Client"

    def __init__(self, resource: str) -> None:
        super().__init__(f"Quota has been met for resources: {resource}")


class NotFound(LbaasError):
    code = 404
    faultcode = "Client"

    def __init__(self, resource: str, ident: str) -> None:
        super().__init__(f"{resource} {ident} not found.")


class Conflict(LbaasError):
    code = 409
    faultcode = "Client"


class ImmutableObject(Conflict):
    def __init__(self, resource: str, ident: str) -> None:
        super().__init__(f"{resource} {ident} is immutable and cannot be updated.")


class PendingState(Conflict):
    def __init__(self, state: str, ident: str) -> None:
        super().__init__(f"Invalid state {state} of loadbalancer resource {ident}")


class NotImplementedFeature(LbaasError):
    code = 501
    faultcode = "Server"


class ServiceUnavailable(LbaasError):
    """A part of the service this request needs (an agent) does not answer."""

    code = 503
    faultcode = "Server"


class NeutronError(LbaasError):
    """An error answered in Neutron's envelope: {"NeutronError": {"type", "message", "detail"}}."""

    neutron_type = "NeutronError"


class NeutronBadRequest(NeutronError):
    code = 400
    neutron_type = "HTTPBadRequest"


class NeutronNotFound(NeutronError):
    code = 404
    neutron_type = "NotFound"


class FloatingIPNotFound(NeutronNotFound):
    neutron_type = "FloatingIPNotFound"


class NeutronConflict(NeutronError):
    code = 409
    neutron_type = "Conflict"


class IpAddressAlreadyAllocated(NeutronConflict):
    neutron_type = "IpAddressAlreadyAllocated"


class IpAddressGenerationFailure(NeutronConflict):
    neutron_type = "IpAddressGenerationFailure"


class NeutronForbidden(NeutronError):
    code = 403
    neutron_type = "PolicyNotAuthorized"


class InvalidInput(NeutronBadRequest):
    neutron_type = "InvalidInput"

    def __init__(self, detail: str) -> None:
        super().__init__(f"Invalid input for operation: {detail}")


class NetworkNotFound(NeutronNotFound):
    neutron_type = "NetworkNotFound"

    def __init__(self, ident: str) -> None:
        super().__init__(f"Network {ident} could not be found.")


class SubnetNotFound(NeutronNotFound):
    neutron_type = "SubnetNotFound"

    def __init__(self, ident: str) -> None:
        super().__init__(f"Subnet {ident} could not be found.")


class PortNotFound(NeutronNotFound):
    neutron_type = "PortNotFound"

    def __init__(self, ident: str) -> None:
        super().__init__(f"Port {ident} could not be found.")


class NetworkInUse(NeutronConflict):
    neutron_type = "NetworkInUse"

    def __init__(self, ident: str) -> None:
        super().__init__(
            f"Unable to complete operation on network {ident}. There are one or more ports still in use on the network."
        )


class SubnetInUse(NeutronConflict):
    neutron_type = "SubnetInUse"

    def __init__(self, ident: str) -> None:
        super().__init__(
            f"Unable to complete operation on subnet {ident}: One or more ports have an IP allocation from this subnet."
        )


class PortInUse(NeutronConflict):
    neutron_type = "PortInUse"


class MacAddressInUse(NeutronConflict):
    neutron_type = "MacAddressInUse"

    def __init__(self, network_id: str, mac: str) -> None:
        super().__init__(f"Unable to complete operation for network {network_id}. The mac address {mac} is in use.")


class VlanIdInUse(NeutronConflict):
    neutron_type = "VlanIdInUse"

    def __init__(self, vlan_id: int, physical_network: str) -> None:
        super().__init__(
            f"Unable to create the network. The VLAN {vlan_id} on physical network {physical_network} is in use."
        )
