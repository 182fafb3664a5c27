"""Who is asking: the project a request acts for, and whether it may see every project."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lbaas.domain import errors


@dataclass(frozen=True)
class RequestContext:
    project_id: str
    is_admin: bool = False
    project_from_header: bool = False
    user_id: str | None = None
    roles: frozenset[str] = frozenset()
    auth_strategy: str = "noauth"

    def project_for_create(self, body_project: str | None) -> str:
        """The project of a new object: the header's, else the body's, else the default."""
        if body_project and self.project_from_header and body_project != self.project_id and not self.is_admin:
            raise errors.Forbidden("Policy does not allow this request to be performed.")
        if self.project_from_header:
            return self.project_id
        return body_project or self.project_id

    def can_see(self, obj: Any) -> bool:
        return self.is_admin or getattr(obj, "project_id", None) == self.project_id
