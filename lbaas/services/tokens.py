"""Standalone API tokens (``--auth-strategy token``): create, list, revoke, validate.

A token reads ``lbaas-<id>.<secret>``: ``id`` names the row, ``secret`` is 256 random bits of which only
the SHA-256 is stored. Validation loads the row by id and compares digests in constant time, so neither
the database nor a timing side channel gives a usable token away. Every request reads the row (a
primary-key lookup, no cache): a token made with ``lbaas token create`` while the server runs is valid at
once, and one revoked is refused at once, even when the CLI and the server are different processes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from lbaas.db import models as m
from lbaas.domain import errors

PREFIX = "lbaas-"
_TOKEN = re.compile(r"^lbaas-([0-9a-f]{32})\.([A-Za-z0-9_-]{20,100})$")
_DURATION = re.compile(r"^\s*(\d{1,9})\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ROLE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_PROJECT = re.compile(r"^[A-Za-z0-9_.:@-]{1,255}$")


@dataclass(frozen=True)
class Identity:
    """Who a validated token (ours or Keystone's) says the caller is."""

    project_id: str
    user_id: str | None
    roles: frozenset[str]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def parse_duration(text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` or plain seconds."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise errors.InvalidOption(f"invalid duration {text!r}: use e.g. 30d, 12h, 90m, 3600")
    return dt.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def create(
    s: Session,
    *,
    project_id: str,
    roles: list[str],
    name: str | None = None,
    user_id: str | None = None,
    expires_in: dt.timedelta | None = None,
) -> tuple[m.ApiToken, str]:
    """A new token row and the token itself (shown once; only its digest is kept)."""
    if not _PROJECT.match(project_id):
        raise errors.InvalidOption(f"invalid project id {project_id!r}")
    clean = sorted({r.strip().lower() for r in roles if r.strip()})
    for role in clean:
        if not _ROLE.match(role):
            raise errors.InvalidOption(f"invalid role name {role!r}")
    if name is not None and len(name) > 255:
        raise errors.InvalidOption("name is longer than 255 characters")
    ident = uuid.uuid4().hex
    secret = secrets.token_urlsafe(32)
    row = m.ApiToken(
        id=ident,
        name=name,
        project_id=project_id,
        user_id=user_id or f"token-{ident[:8]}",
        roles=clean,
        secret_hash=_digest(secret),
        created_at=_now().replace(microsecond=0),
        expires_at=(_now() + expires_in).replace(microsecond=0) if expires_in else None,
        revoked=False,
    )
    s.add(row)
    s.flush()
    return row, f"{PREFIX}{ident}.{secret}"


def list_all(s: Session) -> list[m.ApiToken]:
    return list(s.scalars(select(m.ApiToken).order_by(m.ApiToken.created_at, m.ApiToken.id)))


def revoke(s: Session, token_id: str) -> m.ApiToken:
    row = s.get(m.ApiToken, token_id.removeprefix(PREFIX).split(".", 1)[0].replace("-", ""))
    if row is None:
        raise errors.NotFound("Token", token_id)
    row.revoked = True
    return row


def validate(s: Session, token: str | None) -> Identity | None:
    """The identity of a valid token; None for a missing, malformed, unknown, revoked or expired one."""
    match = _TOKEN.match(token or "")
    if not match:
        return None
    row = s.get(m.ApiToken, match.group(1))
    # Compare even when the row is missing, so an unknown id costs the same as a wrong secret.
    expected = row.secret_hash if row is not None else "0" * 64
    if not hmac.compare_digest(_digest(match.group(2)), expected) or row is None:
        return None
    if row.revoked or (row.expires_at is not None and row.expires_at <= _now()):
        return None
    return Identity(project_id=row.project_id, user_id=row.user_id, roles=frozenset(row.roles))
