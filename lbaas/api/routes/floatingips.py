"""Neutron's floating IPs, read-only and always empty: lbaas has no routers and no external networks, so no
port here ever has a floating IP. Clients that look (Ansible's ``openstack.cloud.loadbalancer`` lists the
VIP port's floating IPs once the LB is ACTIVE: ``GET /v2.0/floatingips?port_id=…``) get Neutron's answer
for "none": ``{"floatingips": []}``; a show is Neutron's 404 ``FloatingIPNotFound``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from lbaas.api import listing
from lbaas.api.deps import Ctx
from lbaas.domain import errors

router = APIRouter()


@router.get("/floatingips")
def list_floatingips(request: Request, ctx: Ctx) -> dict[str, Any]:
    listing.parse(request)  # the same checks of limit, marker and sort as every other list
    return {"floatingips": []}


@router.get("/floatingips/{floatingip_id}")
def get_floatingip(floatingip_id: str, ctx: Ctx) -> dict[str, Any]:
    raise errors.FloatingIPNotFound(f"Floating IP {floatingip_id} could not be found")
