"""Lists with Octavia's semantics at O(page) cost: filters, tags, sort, keyset pagination on a marker.

The marker is the id of a row (or another unique key, e.g. an availability zone's name); the next
page is the rows strictly after it in the sort order (that key is always the last sort key, so the
order is total). ``page_reverse`` walks backwards.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, Integer, and_, exists, false, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from lbaas.db import models as m
from lbaas.domain import errors

DEFAULT_SORT = (("created_at", "asc"), ("id", "asc"))
MAX_LIMIT = 1000


@dataclass
class ListQuery:
    filters: dict[str, list[str]] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    tags_any: list[str] = field(default_factory=list)
    not_tags: list[str] = field(default_factory=list)
    not_tags_any: list[str] = field(default_factory=list)
    sort: list[tuple[str, str]] = field(default_factory=list)
    limit: int | None = None
    marker: str | None = None
    page_reverse: bool = False
    fields: list[str] = field(default_factory=list)


@dataclass
class Page:
    rows: list[Any]
    has_next: bool
    has_previous: bool


def _coerce(column: Any, raw: str) -> Any:
    ctype = column.type
    try:
        if isinstance(ctype, Boolean):
            low = raw.lower()
            if low not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return low in ("true", "1")
        if isinstance(ctype, Integer):
            return int(raw)
        if isinstance(ctype, Float):
            return float(raw)
    except ValueError:
        raise errors.ValidationError(f"Invalid filter value {raw!r} for {column.key}.") from None
    return raw


def _sortable(model: Any, key: str) -> Any:
    col = getattr(model, key, None)
    if col is None or not hasattr(col, "property") or not hasattr(col.property, "columns"):
        raise errors.InvalidOption(f"Invalid sort key {key!r}.")
    column = col.property.columns[0]
    if not column.nullable:
        return col
    if isinstance(column.type, DateTime):
        return func.coalesce(col, literal(dt.datetime(1970, 1, 1)))
    if isinstance(column.type, Integer | Float):
        return func.coalesce(col, -1)
    if isinstance(column.type, Boolean):
        return col
    return func.coalesce(col, "")


def tag_conditions(model: Any, q: ListQuery) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if not hasattr(model, "_tags"):  # untagged resources (flavors, zones, amphorae) ignore tag filters
        return conds

    def has(tag: str) -> ColumnElement[bool]:
        return exists().where(m.Tag.resource_id == model.id, m.Tag.tag == tag)

    for t in q.tags:
        conds.append(has(t))
    if q.tags_any:
        conds.append(or_(*[has(t) for t in q.tags_any]))
    if q.not_tags:
        conds.append(~and_(*[has(t) for t in q.not_tags]))
    for t in q.not_tags_any:
        conds.append(~has(t))
    return conds


def filter_conditions(model: Any, q: ListQuery, allowed: frozenset[str]) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    for name, values in q.filters.items():
        if name not in allowed:
            continue
        attr = getattr(model, name, None)
        if attr is None or not hasattr(attr, "property") or not hasattr(attr.property, "columns"):
            continue
        column = attr.property.columns[0]
        vals = [_coerce(column, v) for v in values]
        conds.append(attr.in_(vals) if len(vals) > 1 else attr == vals[0])
    return conds


def page(
    s: Session,
    model: Any,
    q: ListQuery,
    *,
    where: list[ColumnElement[bool]],
    allowed_filters: frozenset[str],
    default_limit: int = MAX_LIMIT,
    options: tuple[Any, ...] = (),
    key: str = "id",
    default_sort: tuple[tuple[str, str], ...] = DEFAULT_SORT,
) -> Page:
    """One page of ``model``. ``key`` is the unique column markers name (``name`` for availability zones)."""
    keys = [(k, d) for k, d in (q.sort or list(default_sort))]
    if not any(k == key for k, _ in keys):
        keys.append((key, "asc"))
    for _, d in keys:
        if d not in ("asc", "desc"):
            raise errors.InvalidOption(f"Invalid sort direction {d!r}.")
    exprs = [(_sortable(model, k), d) for k, d in keys]
    if q.page_reverse:
        exprs = [(e, "desc" if d == "asc" else "asc") for e, d in exprs]

    conds = list(where) + filter_conditions(model, q, allowed_filters) + tag_conditions(model, q)
    if q.marker:
        marker_vals = s.execute(select(*[e for e, _ in exprs]).where(getattr(model, key) == q.marker)).first()
        if marker_vals is None:
            raise errors.NotFound("Marker", q.marker)
        conds.append(_after(exprs, tuple(marker_vals)))

    limit = min(q.limit if q.limit is not None else default_limit, MAX_LIMIT)
    if limit < 0:
        raise errors.InvalidOption("Limit must be a positive integer.")
    stmt = select(model).where(*conds).order_by(*[e.asc() if d == "asc" else e.desc() for e, d in exprs])
    stmt = stmt.options(*options).limit(limit + 1)
    rows = list(s.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    if q.page_reverse:
        rows.reverse()
        return Page(rows=rows, has_next=bool(q.marker), has_previous=more)
    return Page(rows=rows, has_next=more, has_previous=bool(q.marker))


def _after(exprs: list[tuple[Any, str]], vals: tuple[Any, ...]) -> ColumnElement[bool]:
    ors: list[ColumnElement[bool]] = []
    for i, (expr, direction) in enumerate(exprs):
        eqs = [exprs[j][0] == vals[j] for j in range(i)]
        cmp = expr > vals[i] if direction == "asc" else expr < vals[i]
        ors.append(and_(*eqs, cmp))
    return or_(*ors) if ors else false()
