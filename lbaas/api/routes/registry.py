"""Every router the app mounts (each under /v2 and /v2.0). Add a module here to serve a new resource."""

from __future__ import annotations

import importlib

from fastapi import APIRouter

MODULES = (
    "lbaas.api.routes.octavia",  # loadbalancers … l7 rules
    "lbaas.api.routes.admin",  # quotas, providers, flavors, availability zones, amphorae
    "lbaas.api.routes.neutron",  # networks, subnets, ports
    "lbaas.api.routes.floatingips",  # always empty: no routers here
    "lbaas.api.routes.logs",  # extension: an LB's access log
    "lbaas.api.routes.agents",  # scale-out: agents, failover breaker (operator only)
    "lbaas.api.routes.member_stats",  # per-member counters of one LB (the dashboard's member rates)
)


def routers() -> list[APIRouter]:
    out: list[APIRouter] = []
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        out.append(module.router)
    return out
