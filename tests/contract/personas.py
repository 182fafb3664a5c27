"""Who is asking, in contract tests: named personas (a project and its roles), as a validated token would
say.

Identity's token mode is not merged yet, so a persona reaches the app through ONE function,
``persona_headers``: today it names the persona in a test header that an override of ``get_context``
(installed by the ``personas`` fixture) turns into the RequestContext a token would give. When token
mode lands, ``persona_headers`` becomes "create a token for this project and these roles in the DB and
return ``{"X-Auth-Token": token}``" and the override goes; no test changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from lbaas.api.deps import get_context
from lbaas.services.context import RequestContext

PROJECT_A = "proj-a"
PROJECT_B = "proj-b"
PERSONA_HEADER = "X-Test-Persona"


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


def persona_context(persona: Persona) -> RequestContext:
    """The context identity builds from a validated token of this persona."""
    return RequestContext(
        project_id=persona.project_id,
        is_admin="admin" in persona.roles,
        user_id=f"user-{persona.name}",
        roles=frozenset(persona.roles),
        auth_strategy="token",
    )


def persona_headers(name: str, project: str | None = None) -> dict[str, str]:
    """The request headers that make a request come from persona ``name`` (its roles; on ``project``
    instead of its own when given). See the module docstring."""
    assert name in PERSONAS, name
    return {PERSONA_HEADER: f"{name}@{project}" if project else name}


async def _context(request: Request) -> RequestContext:
    value = request.headers.get(PERSONA_HEADER)
    if value is None:
        return await get_context(request)
    name, _, project = value.partition("@")
    persona = PERSONAS[name]
    return persona_context(Persona(name, project or persona.project_id, persona.roles))


@pytest.fixture
def personas(client: TestClient) -> Iterator[None]:
    """Requests carrying ``persona_headers(...)`` act as that persona; others as before."""
    app = client.app
    app.dependency_overrides[get_context] = _context  # type: ignore[attr-defined]
    yield
    app.dependency_overrides.pop(get_context, None)  # type: ignore[attr-defined]
