"""Availability zone profiles and availability zones.

An availability zone is a name users put on a load balancer (``availability_zone``); its profile says
what that means to the provider. For ours the only key is ``compute_zone``: the zone agents report
(``Agent.availability_zone``), so a scheduler can keep an LB on agents of that zone. Zones are keyed
by name, like Octavia's. In-use objects cannot be deleted, and an in-use profile cannot change
provider or data (it would silently move running load balancers).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lbaas.db import models as m
from lbaas.domain import errors
from lbaas.services.env import ServiceEnv
from lbaas.services.flavors import AZ_RULES, parse_profile_data

PROFILE_FIELDS = ("name", "provider_name", "availability_zone_data")


def _validate_az_data(env: ServiceEnv, provider_name: str, text: str) -> dict[str, Any]:
    provider = env.provider(provider_name)  # 400 "Provider 'x' is not enabled."
    return parse_profile_data(
        text, "availability_zone_data", provider_name, provider.availability_zone_capabilities(), AZ_RULES
    )


def _null_option(data: dict[str, Any], fields: tuple[str, ...]) -> None:
    for f in fields:
        if f in data and data[f] is None:
            raise errors.InvalidOption(f"None is not a valid option for {f}")


# --------------------------------------------------------------------------- profiles


def get_profile(s: Session, profile_id: str) -> m.AvailabilityZoneProfile:
    profile = s.get(m.AvailabilityZoneProfile, profile_id)
    if profile is None:
        raise errors.NotFound("Availability zone profile", profile_id)
    return profile


def create_profile(s: Session, env: ServiceEnv, data: dict[str, Any]) -> m.AvailabilityZoneProfile:
    _validate_az_data(env, data["provider_name"], data["availability_zone_data"])
    profile = m.AvailabilityZoneProfile(id=m.new_id(), **{f: data[f] for f in PROFILE_FIELDS})
    s.add(profile)
    s.flush()
    return profile


def _profile_in_use(s: Session, profile_id: str) -> bool:
    stmt = select(func.count()).select_from(m.AvailabilityZone).where(
        m.AvailabilityZone.availability_zone_profile_id == profile_id
    )
    return bool(s.scalar(stmt))


def update_profile(s: Session, env: ServiceEnv, profile_id: str, data: dict[str, Any]) -> m.AvailabilityZoneProfile:
    _null_option(data, PROFILE_FIELDS)
    profile = get_profile(s, profile_id)
    meaning_changes = "availability_zone_data" in data or "provider_name" in data
    if meaning_changes and _profile_in_use(s, profile.id):
        raise errors.Conflict(f"Availability zone profile {profile.id} is in use and cannot be modified.")
    if meaning_changes:
        _validate_az_data(
            env,
            data.get("provider_name", profile.provider_name),
            data.get("availability_zone_data", profile.availability_zone_data),
        )
    for f in PROFILE_FIELDS:
        if f in data:
            setattr(profile, f, data[f])
    s.flush()
    return profile


def delete_profile(s: Session, profile_id: str) -> None:
    profile = get_profile(s, profile_id)
    if _profile_in_use(s, profile.id):
        raise errors.Conflict(f"Availability zone profile {profile.id} is in use and cannot be deleted.")
    s.delete(profile)


# --------------------------------------------------------------------------- zones


def get_zone(s: Session, name: str) -> m.AvailabilityZone:
    az = s.get(m.AvailabilityZone, name)
    if az is None:
        raise errors.NotFound("Availability zone", name)
    return az


def create_zone(s: Session, data: dict[str, Any]) -> m.AvailabilityZone:
    profile_id = data["availability_zone_profile_id"]
    if s.get(m.AvailabilityZoneProfile, profile_id) is None:
        raise errors.InvalidOption(f"{profile_id} is not a valid option for availability_zone_profile_id")
    if s.get(m.AvailabilityZone, data["name"]) is not None:
        raise errors.Conflict(f"An availability zone named {data['name']} already exists.")
    az = m.AvailabilityZone(
        name=data["name"],
        description=data.get("description"),
        enabled=data.get("enabled", True),
        availability_zone_profile_id=profile_id,
    )
    s.add(az)
    s.flush()
    return az


def update_zone(s: Session, name: str, data: dict[str, Any]) -> m.AvailabilityZone:
    _null_option(data, ("enabled",))
    az = get_zone(s, name)
    for f in ("description", "enabled"):
        if f in data:
            setattr(az, f, data[f])
    s.flush()
    return az


def delete_zone(s: Session, name: str) -> None:
    az = get_zone(s, name)
    stmt = select(func.count()).select_from(m.LoadBalancer).where(m.LoadBalancer.availability_zone == az.name)
    if s.scalar(stmt):
        raise errors.Conflict(f"Availability zone {az.name} is in use and cannot be deleted.")
    s.delete(az)
