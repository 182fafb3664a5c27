"""Neutron v2.0 routes: networks, subnets, ports, their tags, the version root and the extension list.

The stock clients (openstack CLI, openstacksdk) talk to these exactly as to Neutron: envelopes
``{"network": …}`` / ``{"networks": […], "networks_links": […]}``, filters on any attribute under its
wire name, ``fields``, ``limit``/``marker``/``page_reverse``, ``sort_key``/``sort_dir``, faults in the
``NeutronError`` body. Filters on attributes this service does not know are ignored, as in a Neutron
without the filter-validation extension (which is therefore not advertised).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import ColumnElement, false
from sqlalchemy.orm import selectinload

from lbaas.api import listing
from lbaas.api.deps import Ctx, Db
from lbaas.api.schemas import neutron as n_s
from lbaas.db import listing as db_listing
from lbaas.db import models as m
from lbaas.domain import errors
from lbaas.services import neutron

router = APIRouter()

# Wire name → column, for filters and sort keys.
ALIASES = {
    "tenant_id": "project_id",
    "provider:network_type": "network_type",
    "provider:physical_network": "physical_network",
    "provider:segmentation_id": "segmentation_id",
    "binding:host_id": "binding_host_id",
}
NETWORK_COLUMNS = frozenset(
    {"id", "name", "description", "admin_state_up", "status", "shared", "mtu", "project_id",
     "network_type", "physical_network", "segmentation_id", "revision_number"}
)  # fmt: skip
SUBNET_COLUMNS = frozenset(
    {"id", "name", "description", "network_id", "ip_version", "cidr", "gateway_ip", "enable_dhcp", "project_id",
     "revision_number"}
)  # fmt: skip
PORT_COLUMNS = frozenset(
    {"id", "name", "description", "network_id", "admin_state_up", "status", "mac_address", "device_owner",
     "device_id", "binding_host_id", "project_id", "revision_number", "port_security_enabled"}
)  # fmt: skip
# Attributes with one value here: a filter asking for another value matches nothing.
NETWORK_CONSTANTS = {"router:external": "false", "port_security_enabled": "true"}
PORT_CONSTANTS = {"binding:vnic_type": "normal"}

EXTENSIONS = [
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks"),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    ("standard-attr-tag", "Tag support for resources with standard attribute", "Enables to set tag on resources."),
    ("standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes"),
    ("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all resources."),
    ("standard-attr-revisions", "Resource revision numbers", "Adds a revision_number field to resources."),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled."),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("pagination", "Pagination support", "Extension that indicates that pagination is enabled."),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled."),
]
EXTENSION_UPDATED = "2026-11-23T00:00:00-00:00"


def _query(
    request: Request, columns: frozenset[str], constants: dict[str, str]
) -> tuple[db_listing.ListQuery, list[ColumnElement[bool]]]:
    """The list query with wire names mapped to columns, plus conditions for the constant attributes."""
    q = listing.parse(request)
    if q.limit == 0:  # Neutron: limit=0 means no limit
        q.limit = None
    extra: list[ColumnElement[bool]] = []
    filters: dict[str, list[str]] = {}
    for key, values in q.filters.items():
        if key in constants:
            if constants[key] not in (v.lower() for v in values):
                extra.append(false())
            continue
        name = ALIASES.get(key, key)
        if name in columns:
            filters.setdefault(name, []).extend(values)
    q.filters = filters
    q.sort = [(ALIASES.get(k, k), d) for k, d in q.sort]
    return q, extra


def _one(request: Request, key: str, body: dict[str, Any]) -> dict[str, Any]:
    fields = listing._csv(request.query_params.getlist("fields"))
    return {key: listing.select_fields(body, fields)}


# --------------------------------------------------------------------------- version root and extensions


@router.get("", include_in_schema=False)
@router.get("/", include_in_schema=False)
def neutron_root(request: Request) -> dict[str, Any]:
    base = str(request.url).split("?", 1)[0].rstrip("/")
    return {
        "resources": [
            {"name": name, "collection": f"{name}s", "links": [{"href": f"{base}/{name}s", "rel": "self"}]}
            for name in ("network", "subnet", "port")
        ]
    }


def _extension(alias: str, name: str, description: str) -> dict[str, Any]:
    return {"alias": alias, "name": name, "description": description, "updated": EXTENSION_UPDATED, "links": []}


@router.get("/extensions")
def list_extensions() -> dict[str, Any]:
    return {"extensions": [_extension(*e) for e in EXTENSIONS]}


@router.get("/extensions/{alias}")
def get_extension(alias: str) -> dict[str, Any]:
    for e in EXTENSIONS:
        if e[0] == alias:
            return {"extension": _extension(*e)}
    raise errors.NeutronNotFound(f"Extension with alias {alias} does not exist")


# --------------------------------------------------------------------------- networks


@router.get("/networks")
def list_networks(request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    q, extra = _query(request, NETWORK_COLUMNS, NETWORK_CONSTANTS)
    with db.read() as s:
        page = db_listing.page(
            s, m.Network, q, where=neutron.network_scope(ctx) + extra, allowed_filters=NETWORK_COLUMNS,
            options=(selectinload(m.Network.subnets),),
        )  # fmt: skip
        return listing.render_list(request, "networks", page, q, n_s.network_view)


@router.post("/networks", status_code=201)
def create_network(body: n_s.NetworkRootCreate, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        return {"network": n_s.network_view(neutron.create_network(s, ctx, n_s.dump(body.network)))}


@router.get("/networks/{network_id}")
def get_network(network_id: str, request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        return _one(request, "network", n_s.network_view(neutron.get_network(s, ctx, network_id)))


@router.put("/networks/{network_id}")
def update_network(network_id: str, body: n_s.NetworkRootUpdate, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        net = neutron.update_network(s, ctx, network_id, n_s.update_dump(body.network))
        return {"network": n_s.network_view(net)}


@router.delete("/networks/{network_id}", status_code=204)
def delete_network(network_id: str, db: Db, ctx: Ctx) -> Response:
    with db.write() as s:
        neutron.delete_network(s, ctx, network_id)
    return Response(status_code=204)


# --------------------------------------------------------------------------- subnets


@router.get("/subnets")
def list_subnets(request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    q, extra = _query(request, SUBNET_COLUMNS, {})
    with db.read() as s:
        page = db_listing.page(
            s, m.Subnet, q, where=neutron.subnet_scope(ctx) + extra, allowed_filters=SUBNET_COLUMNS
        )
        return listing.render_list(request, "subnets", page, q, n_s.subnet_view)


@router.post("/subnets", status_code=201)
def create_subnet(body: n_s.SubnetRootCreate, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        return {"subnet": n_s.subnet_view(neutron.create_subnet(s, ctx, n_s.dump(body.subnet)))}


@router.get("/subnets/{subnet_id}")
def get_subnet(subnet_id: str, request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        return _one(request, "subnet", n_s.subnet_view(neutron.get_subnet(s, ctx, subnet_id)))


@router.put("/subnets/{subnet_id}")
def update_subnet(subnet_id: str, body: n_s.SubnetRootUpdate, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        return {"subnet": n_s.subnet_view(neutron.update_subnet(s, ctx, subnet_id, n_s.update_dump(body.subnet)))}


@router.delete("/subnets/{subnet_id}", status_code=204)
def delete_subnet(subnet_id: str, db: Db, ctx: Ctx) -> Response:
    with db.write() as s:
        neutron.delete_subnet(s, ctx, subnet_id)
    return Response(status_code=204)


# --------------------------------------------------------------------------- ports


@router.get("/ports")
def list_ports(request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    q, extra = _query(request, PORT_COLUMNS, PORT_CONSTANTS)
    fixed = request.query_params.getlist("fixed_ips")
    with db.read() as s:
        page = db_listing.page(
            s, m.Port, q, where=neutron.port_scope(ctx) + extra + neutron.fixed_ips_filter(fixed),
            allowed_filters=PORT_COLUMNS,
        )  # fmt: skip
        return listing.render_list(request, "ports", page, q, n_s.port_view)


@router.post("/ports", status_code=201)
def create_port(body: n_s.PortRootCreate, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        return {"port": n_s.port_view(neutron.create_port(s, ctx, n_s.dump(body.port)))}


@router.get("/ports/{port_id}")
def get_port(port_id: str, request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        return _one(request, "port", n_s.port_view(neutron.get_port(s, ctx, port_id)))


@router.put("/ports/{port_id}")
def update_port(port_id: str, body: n_s.PortRootUpdate, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        return {"port": n_s.port_view(neutron.update_port(s, ctx, port_id, n_s.update_dump(body.port)))}


@router.delete("/ports/{port_id}", status_code=204)
def delete_port(port_id: str, db: Db, ctx: Ctx) -> Response:
    with db.write() as s:
        neutron.delete_port(s, ctx, port_id)
    return Response(status_code=204)


# --------------------------------------------------------------------------- tags (standard-attr-tag)


def _tag_routes(collection: str) -> None:
    """GET/PUT/DELETE /{collection}/{id}/tags and /{collection}/{id}/tags/{tag}, as Neutron's tag API."""
    base = f"/{collection}/{{ident}}/tags"

    def get_tags(ident: str, db: Db, ctx: Ctx) -> dict[str, Any]:
        with db.read() as s:
            return {"tags": sorted(neutron.tagged(s, ctx, collection, ident, write=False).tags)}

    def put_tags(ident: str, body: n_s.TagsBody, db: Db, ctx: Ctx) -> dict[str, Any]:
        with db.write() as s:
            return {"tags": neutron.replace_tags(s, ctx, collection, ident, body.tags)}

    def delete_tags(ident: str, db: Db, ctx: Ctx) -> Response:
        with db.write() as s:
            neutron.remove_tag(s, ctx, collection, ident, None)
        return Response(status_code=204)

    def check_tag(ident: str, tag: str, db: Db, ctx: Ctx) -> Response:
        with db.read() as s:
            if tag not in neutron.tagged(s, ctx, collection, ident, write=False).tags:
                raise errors.NeutronNotFound(f"Tag {tag} could not be found.")
        return Response(status_code=204)

    def put_tag(ident: str, tag: n_s.NeutronTag, db: Db, ctx: Ctx) -> Response:
        with db.write() as s:
            neutron.add_tag(s, ctx, collection, ident, tag)
        return Response(status_code=201)

    def delete_tag(ident: str, tag: str, db: Db, ctx: Ctx) -> Response:
        with db.write() as s:
            neutron.remove_tag(s, ctx, collection, ident, tag)
        return Response(status_code=204)

    routes: list[tuple[str, str, Callable[..., Any], int]] = [
        (base, "GET", get_tags, 200),
        (base, "PUT", put_tags, 200),
        (base, "DELETE", delete_tags, 204),
        (f"{base}/{{tag}}", "GET", check_tag, 204),
        (f"{base}/{{tag}}", "PUT", put_tag, 201),
        (f"{base}/{{tag}}", "DELETE", delete_tag, 204),
    ]
    for path, method, endpoint, code in routes:
        router.add_api_route(path, endpoint, methods=[method], status_code=code, name=f"{method.lower()}_{collection}_tags")


for _collection in ("networks", "subnets", "ports"):
    _tag_routes(_collection)
