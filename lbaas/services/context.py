"""Who is asking: the project a request acts for, its user and roles, and whether it may see every project.

Built by the API (``lbaas.api.deps.get_context``) from the auth strategy:

* ``noauth`` (Octavia's semantics): every caller is an administrator (roles ``{"admin"}``); the project is
  ``X-Project-Id`` (or ``X-Tenant-Id``) when sent, else the configured default project.
* ``token`` / ``keystone``: the project, user and roles of the validated token; identity headers the client
  sent are never read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lbaas.domain import errors

# Roles that make a caller an administrator (Octavia's ``context_is_admin``: admin or load-balancer_admin).
ADMIN_ROLES = frozenset({"admin", "load-balancer_admin"})


@dataclass(frozen=True)
class RequestContext:
    project_id: str
    is_admin: bool = False
    project_from_header: bool = False  # legacy: noauth, the project came from X-Project-Id
    user_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)  # lower-case role names
    auth_strategy: str = "noauth"

    def project_for_create(self, body_project: str | None) -> str:
        """The project of a new object: the body's ``project_id`` if given, else the caller's.

        Only an administrator may name a project other than its own (Octavia's 403 otherwise).
        """
        if body_project and body_project != self.project_id and not self.is_admin:
            raise errors.Forbidden("Policy does not allow this request to be performed.")
        return body_project or self.project_id

    def can_see(self, obj: Any) -> bool:
        return self.is_admin or getattr(obj, "project_id", None) == self.project_id
