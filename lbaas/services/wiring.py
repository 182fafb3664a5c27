"""The providers every API process builds, shared by the embedded and the distributed wiring."""

from __future__ import annotations

from sqlalchemy.orm import Session

from lbaas.config import Settings
from lbaas.db.models import LoadBalancer
from lbaas.db.session import Database
from lbaas.providers.base import Provider
from lbaas.providers.haproxy_ns import HaproxyProvider
from lbaas.providers.noop import NoopProvider
from lbaas.services import amphorae
from lbaas.services.env import DEFAULT_ALIASES


def provider_names(settings: Settings, provider: str) -> frozenset[str]:
    """The names LBs of ``provider`` are stored under (the default provider also owns the aliases)."""
    return frozenset({provider, *(DEFAULT_ALIASES if settings.provider == provider else ())})


def build_providers(settings: Settings, db: Database, *, active_standby: bool = False) -> dict[str, Provider]:
    """``active_standby``: the haproxy provider may run ACTIVE_STANDBY LBs (scale-out only: two agents)."""

    def record_instance(s: Session, lb: LoadBalancer) -> None:
        amphorae.ensure_amphora(s, lb, settings.host)

    return {
        "noop": NoopProvider(db, names=provider_names(settings, "noop"), on_active=record_instance),
        "haproxy": HaproxyProvider(active_standby=active_standby),
    }


