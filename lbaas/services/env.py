"""What use-cases need besides a session and a context: settings and the providers by name."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from lbaas.config import Settings
from lbaas.db import models as m
from lbaas.db.to_spec import to_spec
from lbaas.domain import errors
from lbaas.domain.spec import LoadBalancerSpec
from lbaas.providers.base import Provider
from lbaas.services.secrets import SecretStore, store_for

DEFAULT_ALIASES = ("amphora", "octavia")


def check_tls_material(desired: LoadBalancerSpec) -> None:
    """Every TLS ref of the LB resolved to usable material in the LB's project (else 400, all rolled back)."""
    for li in desired.listeners:
        if li.tls is not None and li.tls.error:
            raise errors.ValidationError(li.tls.error)
    for pool in desired.pools:
        if pool.tls is not None and pool.tls.error:
            raise errors.ValidationError(pool.tls.error)


@dataclass
class ServiceEnv:
    settings: Settings
    providers: dict[str, Provider] = field(default_factory=dict)
    default_provider: str = "noop"
    secret_store: SecretStore | None = None  # built from settings on first use (see secrets())

    def secrets(self) -> SecretStore:
        if self.secret_store is None:
            self.secret_store = store_for(self.settings)
        return self.secret_store

    def provider_names(self) -> list[str]:
        return list(DEFAULT_ALIASES) + [n for n in self.providers if n not in DEFAULT_ALIASES]

    def provider(self, name: str | None) -> Provider:
        """The provider for a requested name; the default answers to amphora and octavia too."""
        key = name or "amphora"
        if key in DEFAULT_ALIASES:
            key = self.default_provider
        prov = self.providers.get(key)
        if prov is None:
            raise errors.InvalidOption(f"Provider '{name}' is not enabled.")
        return prov

    def validate_touched(self, s: Session, lb_ids: set[str]) -> None:
        """Ask each touched LB's provider whether it can run the new desired state (501 if not).

        Installed as ``Database.before_commit``, so every write path is covered and a refusal rolls
        the whole change back.
        """
        for lb_id in lb_ids:
            lb = s.get(m.LoadBalancer, lb_id)
            if lb is None or lb.provisioning_status in ("PENDING_DELETE", "DELETED"):
                continue
            desired = to_spec(s, lb, self.secrets())
            check_tls_material(desired)
            self.provider(lb.provider).validate(desired)
