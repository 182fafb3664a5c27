"""Who is asking, in contract tests: named personas (a project and its roles), each acting through a real
token of that project and those roles, made in the app's database and checked by the real auth middleware
(the ``client`` fixture runs the app in token mode).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import IdentityClient

PROJECT_A = "proj-a"
PROJECT_B = "proj-b"


@dataclass(frozen=True)
class Persona:
    name: str
    project_id: str
    roles: tuple[str, ...]


# Octavia's advanced-RBAC roles and Keystone's default roles, on project A unless said otherwise.
PERSONAS: dict[str, Persona] = {
    p.name: p
    for p in (
        Persona("no_role", PROJECT_A, ()),  # a valid token without any role the policy knows
        Persona("observer", PROJECT_A, ("load-balancer_observer",)),
        Persona("reader", PROJECT_A, ("reader",)),
        Persona("global_observer", PROJECT_A, ("load-balancer_global_observer",)),
        Persona("member", PROJECT_A, ("load-balancer_member",)),
        Persona("keystone_member", PROJECT_A, ("member", "reader")),
        Persona("quota_admin", PROJECT_A, ("load-balancer_quota_admin",)),
        Persona("lb_admin", PROJECT_A, ("load-balancer_admin",)),
        Persona("admin", PROJECT_A, ("admin", "member", "reader")),
        Persona("other_member", PROJECT_B, ("load-balancer_member",)),
    )
}


def persona_headers(name: str, project: str | None = None) -> dict[str, str]:
    """The request headers that make a request come from persona ``name`` (its roles; on ``project``
    instead of its own when given). The ``client`` (``IdentityClient``, token mode) replaces them with a
    real token of that project and those roles (none for ``no_role``) before the request leaves."""
    assert name in PERSONAS, name
    persona = PERSONAS[name]
    return {"X-Project-Id": project or persona.project_id, "X-Roles": ",".join(persona.roles)}


@pytest.fixture
def personas(client: IdentityClient) -> Iterator[None]:
    """Persona headers become tokens only in token mode: refuse to run otherwise."""
    assert client.strategy == "token", "personas act through real tokens: the client must run in token mode"
    yield
