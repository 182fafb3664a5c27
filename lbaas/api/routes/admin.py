"""Octavia v2 operator routes: quotas, providers, flavors (+profiles), availability zones (+profiles), amphorae.

Who may call what is Octavia's policy (``lbaas.services.policy``): every handler names its Octavia
rule; objects of no project (flavors, zones, profiles, amphorae, providers) are judged with the
caller's own project as the target, as Octavia does.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from lbaas.api import listing
from lbaas.api.deps import Ctx, Db, Env
from lbaas.api.schemas import admin as s_
from lbaas.db import listing as db_listing
from lbaas.db import models as m
from lbaas.services import amphorae, availability_zones, flavors, quotas
from lbaas.services import policy as rbac
from lbaas.services.context import RequestContext
from lbaas.services.env import DEFAULT_ALIASES, ServiceEnv

router = APIRouter()

BY_NAME = (("name", "asc"),)
# Octavia appends its default sort keys (created_at, id) to a list query when the model has them
# (api/common/pagination.py): flavors and the profiles have no created_at, so they list by id.
BY_ID = (("id", "asc"),)


def _fields(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    return listing.select_fields(body, listing._csv(request.query_params.getlist("fields")))


def _allow(ctx: RequestContext, rule: str) -> None:
    """Rules on objects of no project (flavors, zones, profiles, amphorae, providers): Octavia's target
    is the caller's own project."""
    rbac.authorize(ctx, rule, ctx.project_id)


def _filters(view_model: Any) -> frozenset[str]:
    return frozenset(view_model.model_fields)


# --------------------------------------------------------------------------- quotas


@router.get("/lbaas/quotas")
def list_quotas(request: Request, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    q = listing.parse(request)
    with db.read() as s:
        records = quotas.list_records(s, ctx, q.filters.get("project_id", []), env.settings.quota_defaults)
    return {
        "quotas": [listing.select_fields(s_.quota_view(pid, values), q.fields) for pid, values in records],
        "quotas_links": [],
    }


@router.get("/lbaas/quotas/defaults")
def quota_defaults(request: Request, env: Env, ctx: Ctx) -> dict[str, Any]:
    rbac.authorize(ctx, rbac.QUOTA + rbac.GET_DEFAULTS, ctx.project_id)
    return {"quota": _fields(request, s_.quota_view(None, quotas.defaults(env.settings.quota_defaults)))}


@router.get("/lbaas/quotas/{project_id}/default")
def project_quota_defaults(project_id: str, request: Request, env: Env, ctx: Ctx) -> dict[str, Any]:
    quotas.check_project(ctx, project_id, rbac.GET_DEFAULTS)
    return {"quota": _fields(request, s_.quota_view(project_id, quotas.defaults(env.settings.quota_defaults)))}


@router.get("/lbaas/quotas/{project_id}")
def get_quota(project_id: str, request: Request, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        values = quotas.get(s, ctx, project_id, env.settings.quota_defaults)
    return {"quota": _fields(request, s_.quota_view(project_id, values))}


@router.put("/lbaas/quotas/{project_id}", status_code=202)
def update_quota(project_id: str, body: s_.QuotaRootUpdate, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    quotas.check_project(ctx, project_id, rbac.PUT)
    with db.write() as s:
        values = quotas.update(s, project_id, body.quota.model_dump(exclude_unset=True), env.settings.quota_defaults)
    return {"quota": s_.quota_view(project_id, values)}


@router.delete("/lbaas/quotas/{project_id}", status_code=202)
def reset_quota(project_id: str, db: Db, ctx: Ctx) -> Response:
    quotas.check_project(ctx, project_id, rbac.DELETE)
    with db.write() as s:
        quotas.reset(s, project_id)
    return Response(status_code=202)


# --------------------------------------------------------------------------- providers


def _providers(env: ServiceEnv) -> list[dict[str, str]]:
    default = env.provider(None)
    out = []
    for name in env.provider_names():
        if name == DEFAULT_ALIASES[0]:
            description = f"The default provider ({default.name}): {default.description}"
        elif name in DEFAULT_ALIASES:
            description = f"Alias of {DEFAULT_ALIASES[0]}: the default provider ({default.name})."
        else:
            description = env.providers[name].description
        out.append({"name": name, "description": description})
    return out


@router.get("/lbaas/providers")
def list_providers(request: Request, env: Env, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.PROVIDER + rbac.GET_ALL)
    return {"providers": [_fields(request, p) for p in _providers(env)]}


def _capabilities(request: Request, items: list[dict[str, str]]) -> list[dict[str, str]]:
    name, description = request.query_params.get("name"), request.query_params.get("description")
    return [
        _fields(request, {"name": c["name"], "description": c["description"]})
        for c in items
        if (not name or c["name"] == name) and (not description or c["description"] == description)
    ]


@router.get("/lbaas/providers/{provider}/flavor_capabilities")
def flavor_capabilities(provider: str, request: Request, env: Env, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.PROVIDER_FLAVOR + rbac.GET_ALL)
    return {"flavor_capabilities": _capabilities(request, env.provider(provider).flavor_capabilities())}


@router.get("/lbaas/providers/{provider}/availability_zone_capabilities")
def availability_zone_capabilities(provider: str, request: Request, env: Env, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.PROVIDER_AVAILABILITY_ZONE + rbac.GET_ALL)
    caps = env.provider(provider).availability_zone_capabilities()
    return {"availability_zone_capabilities": _capabilities(request, caps)}


# --------------------------------------------------------------------------- flavor profiles


@router.get("/lbaas/flavorprofiles")
def list_flavor_profiles(request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.FLAVOR_PROFILE + rbac.GET_ALL)
    q = listing.parse(request)
    with db.read() as s:
        page = db_listing.page(
            s, m.FlavorProfile, q, where=[], allowed_filters=_filters(s_.FlavorProfileResponse), default_sort=BY_ID
        )
        return listing.render_list(
            request, "flavorprofiles", page, q, s_.flavor_profile_view, links_key="flavorprofile_links"
        )


@router.post("/lbaas/flavorprofiles", status_code=201)
def create_flavor_profile(body: s_.FlavorProfileRootCreate, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.FLAVOR_PROFILE + rbac.POST)
    with db.write() as s:
        profile = flavors.create_profile(s, env, body.flavorprofile.model_dump())
        return {"flavorprofile": s_.flavor_profile_view(profile)}


@router.get("/lbaas/flavorprofiles/{profile_id}")
def get_flavor_profile(profile_id: str, request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.FLAVOR_PROFILE + rbac.GET_ONE)
    with db.read() as s:
        return {"flavorprofile": _fields(request, s_.flavor_profile_view(flavors.get_profile(s, profile_id)))}


@router.put("/lbaas/flavorprofiles/{profile_id}")
def update_flavor_profile(
    profile_id: str, body: s_.FlavorProfileRootUpdate, db: Db, env: Env, ctx: Ctx
) -> dict[str, Any]:
    _allow(ctx, rbac.FLAVOR_PROFILE + rbac.PUT)
    with db.write() as s:
        profile = flavors.update_profile(s, env, profile_id, body.flavorprofile.model_dump(exclude_unset=True))
        return {"flavorprofile": s_.flavor_profile_view(profile)}


@router.delete("/lbaas/flavorprofiles/{profile_id}", status_code=204)
def delete_flavor_profile(profile_id: str, db: Db, ctx: Ctx) -> Response:
    _allow(ctx, rbac.FLAVOR_PROFILE + rbac.DELETE)
    with db.write() as s:
        flavors.delete_profile(s, profile_id)
    return Response(status_code=204)


# --------------------------------------------------------------------------- flavors


@router.get("/lbaas/flavors")
def list_flavors(request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.FLAVOR + rbac.GET_ALL)
    q = listing.parse(request)
    with db.read() as s:
        page = db_listing.page(
            s, m.Flavor, q, where=[], allowed_filters=_filters(s_.FlavorResponse), default_sort=BY_ID
        )
        return listing.render_list(request, "flavors", page, q, s_.flavor_view)


@router.post("/lbaas/flavors", status_code=201)
def create_flavor(body: s_.FlavorRootCreate, db: Db, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.FLAVOR + rbac.POST)
    with db.write() as s:
        return {"flavor": s_.flavor_view(flavors.create_flavor(s, body.flavor.model_dump()))}


@router.get("/lbaas/flavors/{flavor_id}")
def get_flavor(flavor_id: str, request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.FLAVOR + rbac.GET_ONE)
    with db.read() as s:
        return {"flavor": _fields(request, s_.flavor_view(flavors.get_flavor(s, flavor_id)))}


@router.put("/lbaas/flavors/{flavor_id}")
def update_flavor(flavor_id: str, body: s_.FlavorRootUpdate, db: Db, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.FLAVOR + rbac.PUT)
    with db.write() as s:
        flavor = flavors.update_flavor(s, flavor_id, body.flavor.model_dump(exclude_unset=True))
        return {"flavor": s_.flavor_view(flavor)}


@router.delete("/lbaas/flavors/{flavor_id}", status_code=204)
def delete_flavor(flavor_id: str, db: Db, ctx: Ctx) -> Response:
    _allow(ctx, rbac.FLAVOR + rbac.DELETE)
    with db.write() as s:
        flavors.delete_flavor(s, flavor_id)
    return Response(status_code=204)


# --------------------------------------------------------------------------- availability zone profiles


@router.get("/lbaas/availabilityzoneprofiles")
def list_az_profiles(request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.AVAILABILITY_ZONE_PROFILE + rbac.GET_ALL)
    q = listing.parse(request)
    with db.read() as s:
        page = db_listing.page(
            s, m.AvailabilityZoneProfile, q, where=[],
            allowed_filters=_filters(s_.AvailabilityZoneProfileResponse), default_sort=BY_ID,
        )  # fmt: skip
        return listing.render_list(
            request, "availability_zone_profiles", page, q, s_.az_profile_view,
            links_key="availability_zone_profile_links",
        )  # fmt: skip


@router.post("/lbaas/availabilityzoneprofiles", status_code=201)
def create_az_profile(body: s_.AvailabilityZoneProfileRootCreate, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.AVAILABILITY_ZONE_PROFILE + rbac.POST)
    with db.write() as s:
        profile = availability_zones.create_profile(s, env, body.availability_zone_profile.model_dump())
        return {"availability_zone_profile": s_.az_profile_view(profile)}


@router.get("/lbaas/availabilityzoneprofiles/{profile_id}")
def get_az_profile(profile_id: str, request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.AVAILABILITY_ZONE_PROFILE + rbac.GET_ONE)
    with db.read() as s:
        profile = availability_zones.get_profile(s, profile_id)
        return {"availability_zone_profile": _fields(request, s_.az_profile_view(profile))}


@router.put("/lbaas/availabilityzoneprofiles/{profile_id}")
def update_az_profile(
    profile_id: str, body: s_.AvailabilityZoneProfileRootUpdate, db: Db, env: Env, ctx: Ctx
) -> dict[str, Any]:
    _allow(ctx, rbac.AVAILABILITY_ZONE_PROFILE + rbac.PUT)
    data = body.availability_zone_profile.model_dump(exclude_unset=True)
    with db.write() as s:
        profile = availability_zones.update_profile(s, env, profile_id, data)
        return {"availability_zone_profile": s_.az_profile_view(profile)}


@router.delete("/lbaas/availabilityzoneprofiles/{profile_id}", status_code=204)
def delete_az_profile(profile_id: str, db: Db, ctx: Ctx) -> Response:
    _allow(ctx, rbac.AVAILABILITY_ZONE_PROFILE + rbac.DELETE)
    with db.write() as s:
        availability_zones.delete_profile(s, profile_id)
    return Response(status_code=204)


# --------------------------------------------------------------------------- availability zones


@router.get("/lbaas/availabilityzones")
def list_azs(request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.AVAILABILITY_ZONE + rbac.GET_ALL)
    q = listing.parse(request)
    with db.read() as s:
        page = db_listing.page(
            s, m.AvailabilityZone, q, where=[], allowed_filters=_filters(s_.AvailabilityZoneResponse),
            key="name", default_sort=BY_NAME,
        )  # fmt: skip
        return listing.render_list(request, "availability_zones", page, q, s_.az_view, key="name")


@router.post("/lbaas/availabilityzones", status_code=201)
def create_az(body: s_.AvailabilityZoneRootCreate, db: Db, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.AVAILABILITY_ZONE + rbac.POST)
    with db.write() as s:
        return {"availability_zone": s_.az_view(availability_zones.create_zone(s, body.availability_zone.model_dump()))}


@router.get("/lbaas/availabilityzones/{name}")
def get_az(name: str, request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.AVAILABILITY_ZONE + rbac.GET_ONE)
    with db.read() as s:
        return {"availability_zone": _fields(request, s_.az_view(availability_zones.get_zone(s, name)))}


@router.put("/lbaas/availabilityzones/{name}")
def update_az(name: str, body: s_.AvailabilityZoneRootUpdate, db: Db, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.AVAILABILITY_ZONE + rbac.PUT)
    with db.write() as s:
        az = availability_zones.update_zone(s, name, body.availability_zone.model_dump(exclude_unset=True))
        return {"availability_zone": s_.az_view(az)}


@router.delete("/lbaas/availabilityzones/{name}", status_code=204)
def delete_az(name: str, db: Db, ctx: Ctx) -> Response:
    _allow(ctx, rbac.AVAILABILITY_ZONE + rbac.DELETE)
    with db.write() as s:
        availability_zones.delete_zone(s, name)
    return Response(status_code=204)


# --------------------------------------------------------------------------- amphorae


@router.get("/octavia/amphorae")
def list_amphorae(request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.AMPHORA + rbac.GET_ALL)
    q = listing.parse(request)
    with db.read() as s:
        page = db_listing.page(s, m.Amphora, q, where=[], allowed_filters=_filters(s_.AmphoraResponse))
        return listing.render_list(request, "amphorae", page, q, s_.amphora_view)


@router.get("/octavia/amphorae/{amphora_id}")
def get_amphora(amphora_id: str, request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.AMPHORA + rbac.GET_ONE)
    with db.read() as s:
        return {"amphora": _fields(request, s_.amphora_view(amphorae.get(s, amphora_id)))}


@router.get("/octavia/amphorae/{amphora_id}/stats")
def amphora_stats(amphora_id: str, db: Db, ctx: Ctx) -> dict[str, Any]:
    _allow(ctx, rbac.AMPHORA + rbac.GET_STATS)
    with db.read() as s:
        return {"amphora_stats": amphorae.stats(s, amphora_id)}


@router.put("/octavia/amphorae/{amphora_id}/failover", status_code=202)
def failover_amphora(amphora_id: str, db: Db, ctx: Ctx) -> Response:
    _allow(ctx, rbac.AMPHORA + rbac.PUT_FAILOVER)
    with db.write() as s:
        amphorae.failover(s, ctx, amphora_id)
    return Response(status_code=202)


@router.put("/octavia/amphorae/{amphora_id}/config", status_code=202)
def configure_amphora(amphora_id: str, db: Db, ctx: Ctx) -> Response:
    _allow(ctx, rbac.AMPHORA + rbac.PUT_CONFIG)
    with db.write() as s:
        amphorae.push_config(s, amphora_id)
    return Response(status_code=202)


@router.delete("/octavia/amphorae/{amphora_id}", status_code=204)
def delete_amphora(amphora_id: str, db: Db, ctx: Ctx) -> Response:
    _allow(ctx, rbac.AMPHORA + rbac.DELETE)
    with db.write() as s:
        amphorae.delete(s, amphora_id)
    return Response(status_code=204)
