"""Flavor profiles (what a provider is asked to do) and flavors (the name users pick).

A profile's data is a JSON object kept as the string the operator sent, because Octavia returns it
verbatim. It is checked against the provider's advertised capabilities when written, so a load
balancer never meets a key its provider does not understand; ``load_balancers._flavor_topology``
reads it back at LB create. Profiles and flavors are global (no project) and admin-managed; a
profile used by a flavor, or a flavor used by a load balancer, cannot go away or change meaning.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lbaas.db import models as m
from lbaas.domain import errors
from lbaas.domain.enums import Topology
from lbaas.domain.text import has_control_chars
from lbaas.services.env import ServiceEnv

ValueRule = Callable[[Any], bool]


def _non_empty_text(v: Any) -> bool:
    return isinstance(v, str) and 0 < len(v) <= 255 and not has_control_chars(v)


# What we accept for each capability key (a key a provider advertises but that has no rule here is refused).
FLAVOR_RULES: dict[str, tuple[ValueRule, str]] = {
    "loadbalancer_topology": (lambda v: v in tuple(Topology), "one of " + ", ".join(Topology)),
}
AZ_RULES: dict[str, tuple[ValueRule, str]] = {
    "compute_zone": (_non_empty_text, "a non-empty string"),
    "management_network": (_non_empty_text, "a non-empty string"),
}


def parse_profile_data(
    text: str, field: str, provider_name: str, capabilities: list[dict[str, str]], rules: dict[str, tuple[ValueRule, str]]
) -> dict[str, Any]:
    """The JSON object in ``text``, if every key is a capability of the provider with an acceptable value."""
    try:
        data = json.loads(text)
    except ValueError:
        raise errors.InvalidOption(f"{text} is not a valid option for {field}") from None
    if not isinstance(data, dict):
        raise errors.InvalidOption(f"{text} is not a valid option for {field}")
    supported = [c["name"] for c in capabilities if c["name"] in rules]
    for key, value in data.items():
        if key not in supported:
            raise errors.ValidationError(
                f"Provider '{provider_name}' does not support {field} key '{key}' "
                f"(supported: {', '.join(supported) or 'none'})."
            )
        check, expected = rules[key]
        if not check(value):
            raise errors.ValidationError(f"Invalid value {value!r} for {field} key '{key}': expected {expected}.")
    return data


def _validate_flavor_data(env: ServiceEnv, provider_name: str, text: str) -> None:
    provider = env.provider(provider_name)  # 400 "Provider 'x' is not enabled."
    parse_profile_data(text, "flavor_data", provider_name, provider.flavor_capabilities(), FLAVOR_RULES)


def _null_option(data: dict[str, Any], fields: tuple[str, ...]) -> None:
    for f in fields:
        if f in data and data[f] is None:
            raise errors.InvalidOption(f"None is not a valid option for {f}")


# --------------------------------------------------------------------------- profiles


def get_profile(s: Session, profile_id: str) -> m.FlavorProfile:
    profile = s.get(m.FlavorProfile, profile_id)
    if profile is None:
        raise errors.NotFound("Flavor profile", profile_id)
    return profile


def create_profile(s: Session, env: ServiceEnv, data: dict[str, Any]) -> m.FlavorProfile:
    _validate_flavor_data(env, data["provider_name"], data["flavor_data"])
    profile = m.FlavorProfile(
        id=m.new_id(), name=data["name"], provider_name=data["provider_name"], flavor_data=data["flavor_data"]
    )
    s.add(profile)
    s.flush()
    return profile


def _profile_in_use(s: Session, profile_id: str) -> bool:
    used = s.scalar(select(func.count()).select_from(m.Flavor).where(m.Flavor.flavor_profile_id == profile_id))
    return bool(used)


def update_profile(s: Session, env: ServiceEnv, profile_id: str, data: dict[str, Any]) -> m.FlavorProfile:
    _null_option(data, ("name", "provider_name", "flavor_data"))
    profile = get_profile(s, profile_id)
    if ("flavor_data" in data or "provider_name" in data) and _profile_in_use(s, profile.id):
        raise errors.Conflict(f"Flavor profile {profile.id} is in use and cannot be modified.")
    if "flavor_data" in data or "provider_name" in data:
        _validate_flavor_data(
            env, data.get("provider_name", profile.provider_name), data.get("flavor_data", profile.flavor_data)
        )
    for f in ("name", "provider_name", "flavor_data"):
        if f in data:
            setattr(profile, f, data[f])
    s.flush()
    return profile


def delete_profile(s: Session, profile_id: str) -> None:
    profile = get_profile(s, profile_id)
    if _profile_in_use(s, profile.id):
        raise errors.Conflict(f"Flavor profile {profile.id} is in use and cannot be deleted.")
    s.delete(profile)


# --------------------------------------------------------------------------- flavors


def get_flavor(s: Session, flavor_id: str) -> m.Flavor:
    flavor = s.get(m.Flavor, flavor_id)
    if flavor is None:
        raise errors.NotFound("Flavor", flavor_id)
    return flavor


def _check_name_free(s: Session, name: str, flavor_id: str | None = None) -> None:
    stmt = select(m.Flavor.id).where(m.Flavor.name == name)
    if flavor_id is not None:
        stmt = stmt.where(m.Flavor.id != flavor_id)
    if s.scalar(stmt) is not None:
        raise errors.Conflict(f"A flavor named {name} already exists.")


def create_flavor(s: Session, data: dict[str, Any]) -> m.Flavor:
    if s.get(m.FlavorProfile, data["flavor_profile_id"]) is None:
        raise errors.InvalidOption(f"{data['flavor_profile_id']} is not a valid option for flavor_profile_id")
    _check_name_free(s, data["name"])
    flavor = m.Flavor(
        id=m.new_id(),
        name=data["name"],
        description=data.get("description"),
        enabled=data.get("enabled", True),
        flavor_profile_id=data["flavor_profile_id"],
    )
    s.add(flavor)
    s.flush()
    return flavor


def update_flavor(s: Session, flavor_id: str, data: dict[str, Any]) -> m.Flavor:
    _null_option(data, ("name", "enabled"))
    flavor = get_flavor(s, flavor_id)
    if "name" in data:
        _check_name_free(s, data["name"], flavor.id)
    for f in ("name", "description", "enabled"):
        if f in data:
            setattr(flavor, f, data[f])
    s.flush()
    return flavor


def delete_flavor(s: Session, flavor_id: str) -> None:
    flavor = get_flavor(s, flavor_id)
    used = s.scalar(select(func.count()).select_from(m.LoadBalancer).where(m.LoadBalancer.flavor_id == flavor.id))
    if used:
        raise errors.Conflict(f"Flavor {flavor.id} is in use and cannot be deleted.")
    s.delete(flavor)
