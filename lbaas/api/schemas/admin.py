"""Wire shapes of the operator resources: quotas, providers, flavors, availability zones, amphorae.

These objects have no provisioning status and no project (except quotas, keyed by project), so they
do not share the load-balancer resources' response base. Quota values are strict integers: Octavia's
wsme IntegerType refuses booleans and strings, and so do we.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from lbaas.api.schemas.common import Body, Name, Uuid

# --------------------------------------------------------------------------- quotas

QuotaValue = Annotated[StrictInt, Field(ge=-1, le=2_000_000_000)]


class QuotaUpdate(Body):
    loadbalancer: QuotaValue | None = None
    load_balancer: QuotaValue | None = None  # deprecated spelling, still accepted
    listener: QuotaValue | None = None
    member: QuotaValue | None = None
    pool: QuotaValue | None = None
    healthmonitor: QuotaValue | None = None
    health_monitor: QuotaValue | None = None  # deprecated spelling, still accepted
    l7policy: QuotaValue | None = None
    l7rule: QuotaValue | None = None


class QuotaRootUpdate(Body):
    quota: QuotaUpdate


def quota_view(project_id: str | None, values: dict[str, int]) -> dict[str, Any]:
    """Effective limits, with the deprecated spellings alongside (Octavia returns both)."""
    out: dict[str, Any] = {"project_id": project_id} if project_id is not None else {}
    out.update(values)
    out["load_balancer"] = values["loadbalancer"]
    out["health_monitor"] = values["healthmonitor"]
    return out


# --------------------------------------------------------------------------- flavors and profiles

ProfileData = Annotated[str, StringConstraints(max_length=4096)]


class FlavorProfileCreate(Body):
    name: Name
    provider_name: Name
    flavor_data: ProfileData


class FlavorProfileUpdate(Body):
    name: Name | None = None
    provider_name: Name | None = None
    flavor_data: ProfileData | None = None


class FlavorProfileRootCreate(Body):
    flavorprofile: FlavorProfileCreate


class FlavorProfileRootUpdate(Body):
    flavorprofile: FlavorProfileUpdate


class FlavorProfileResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    provider_name: str
    flavor_data: str


class FlavorCreate(Body):
    name: Name
    description: Name | None = None
    enabled: bool = True
    flavor_profile_id: Uuid


class FlavorUpdate(Body):
    name: Name | None = None
    description: Name | None = None
    enabled: bool | None = None


class FlavorRootCreate(Body):
    flavor: FlavorCreate


class FlavorRootUpdate(Body):
    flavor: FlavorUpdate


class FlavorResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    description: str | None
    enabled: bool
    flavor_profile_id: str


def flavor_profile_view(row: Any) -> dict[str, Any]:
    return FlavorProfileResponse.model_validate(row).model_dump(mode="json")


def flavor_view(row: Any) -> dict[str, Any]:
    return FlavorResponse.model_validate(row).model_dump(mode="json")


# --------------------------------------------------------------------------- availability zones and profiles


class AvailabilityZoneProfileCreate(Body):
    name: Name
    provider_name: Name
    availability_zone_data: ProfileData


class AvailabilityZoneProfileUpdate(Body):
    name: Name | None = None
    provider_name: Name | None = None
    availability_zone_data: ProfileData | None = None


class AvailabilityZoneProfileRootCreate(Body):
    availability_zone_profile: AvailabilityZoneProfileCreate


class AvailabilityZoneProfileRootUpdate(Body):
    availability_zone_profile: AvailabilityZoneProfileUpdate


class AvailabilityZoneProfileResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    provider_name: str
    availability_zone_data: str


class AvailabilityZoneCreate(Body):
    name: Name
    description: Name | None = None
    enabled: bool = True
    availability_zone_profile_id: Uuid


class AvailabilityZoneUpdate(Body):
    description: Name | None = None
    enabled: bool | None = None


class AvailabilityZoneRootCreate(Body):
    availability_zone: AvailabilityZoneCreate


class AvailabilityZoneRootUpdate(Body):
    availability_zone: AvailabilityZoneUpdate


class AvailabilityZoneResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str
    description: str | None
    enabled: bool
    availability_zone_profile_id: str


def az_profile_view(row: Any) -> dict[str, Any]:
    return AvailabilityZoneProfileResponse.model_validate(row).model_dump(mode="json")


def az_view(row: Any) -> dict[str, Any]:
    return AvailabilityZoneResponse.model_validate(row).model_dump(mode="json")


# --------------------------------------------------------------------------- amphorae


class AmphoraResponse(BaseModel):
    """One running instance of a load balancer. Fields Octavia keeps for VMs/VRRP we do not have are
    constants here (null certificate, no VRRP, no image or compute flavor) rather than columns."""

    model_config = ConfigDict(from_attributes=True)
    id: str
    loadbalancer_id: str | None
    compute_id: str | None
    lb_network_ip: str | None
    vrrp_ip: str | None
    ha_ip: str | None
    vrrp_port_id: str | None
    ha_port_id: str | None
    cert_expiration: dt.datetime | None = None
    cert_busy: bool = False
    role: str | None
    status: str
    vrrp_interface: str | None = None
    vrrp_id: int | None = None
    vrrp_priority: int | None = None
    cached_zone: str | None
    image_id: str | None = None
    compute_flavor: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime | None


def amphora_view(row: Any) -> dict[str, Any]:
    return AmphoraResponse.model_validate(row).model_dump(mode="json")
