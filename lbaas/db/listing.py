"""Lists with Octavia's semantics at O(page) cost: filters, tags, sort, keyset pagination on a marker.

The marker is the id of a row (or another unique key, e.g. an availability zone's name); the next
page is the rows strictly after it in the sort order (that key is always the last sort key, so the
order is total). ``page_reverse`` walks backwards.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    DateTime,
    Float,
    Integer,
    Select,
    and_,
    bindparam,
    exists,
    false,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from lbaas.db import models as m
from lbaas.db import rawexec
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
    return _sort_expr(col, col.property.columns[0])


def _sort_expr(col: Any, column: Any) -> Any:
    """What ``col`` (an ORM attribute, or the table ``column`` itself) sorts by: nulls as a low value."""
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
    if not hasattr(model, "_tags"):  # untagged resources (flavors, zones, amphorae) ignore tag filters
        return []
    return _tag_conditions(model.id, m.Tag.resource_id, m.Tag.tag, q, lambda tag: tag)


def _tag_conditions(
    owner_id: Any, tag_owner: Any, tag_name: Any, q: ListQuery, value: Callable[[str], Any]
) -> list[ColumnElement[bool]]:
    """``value`` turns each tag of ``q`` into what is compared (the tag itself, or a bound parameter)."""
    conds: list[ColumnElement[bool]] = []

    def has(tag: str) -> ColumnElement[bool]:
        return exists().where(tag_owner == owner_id, tag_name == value(tag))

    for t in q.tags:
        conds.append(has(t))
    if q.tags_any:
        conds.append(or_(*[has(t) for t in q.tags_any]))
    if q.not_tags:
        conds.append(~and_(*[has(t) for t in q.not_tags]))
    for t in q.not_tags_any:
        conds.append(~has(t))
    return conds


def sort_keys(q: ListQuery, key: str, default_sort: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """The requested sort (or the default), ending with the unique ``key`` so pages are stable."""
    keys = [(k, d) for k, d in (q.sort or list(default_sort))]
    if not any(k == key for k, _ in keys):
        keys.append((key, "asc"))
    for _, d in keys:
        if d not in ("asc", "desc"):
            raise errors.InvalidOption(f"Invalid sort direction {d!r}.")
    return keys


def filter_column(model: Any, name: str, allowed: frozenset[str]) -> tuple[Any, Any] | None:
    """The mapped attribute and its column for a filter ``name``, or None when it is not filterable."""
    if name not in allowed:
        return None
    attr = getattr(model, name, None)
    if attr is None or not hasattr(attr, "property") or not hasattr(attr.property, "columns"):
        return None
    return attr, attr.property.columns[0]


def filter_conditions(model: Any, q: ListQuery, allowed: frozenset[str]) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    for name, values in q.filters.items():
        found = filter_column(model, name, allowed)
        if found is None:
            continue
        attr, column = found
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
    keys = sort_keys(q, key, default_sort)
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


# ---------------------------------------------------------------------------------------------- row pages
#
# The hot lists read plain rows through statements built once per *shape* (model, project scope or not,
# which filters with how many values, tag filters, sort, direction, marker or not) with every value a
# bound parameter: building a select and computing its cache key costs more than running it on a small
# page. Only statements are kept, never results: every call reads the database.


@dataclass(frozen=True)
class _Shape:
    model: Any
    scoped: bool
    filters: tuple[tuple[str, int], ...]
    tags: tuple[int, int, int, int]  # tags, tags-any, not-tags, not-tags-any
    sort: tuple[tuple[str, str], ...]
    reverse: bool
    marker: bool
    key: str


@dataclass(frozen=True)
class RowStatements:
    page: Select[Any]  # the page, one row more than the limit (has_next / has_previous)
    marker: Select[Any] | None  # the marker row's sort values
    page_ids: Select[Any]  # the ids of the rows ``page`` selects, as a subquery for children queries


@dataclass
class RowPage(Page):
    statements: RowStatements | None = None
    params: dict[str, Any] = field(default_factory=dict)  # the values bound in statements.page / page_ids


_TAG_KINDS = ("tags", "tags_any", "not_tags", "not_tags_any")
_STATEMENTS_MAX = 256
_statements: dict[_Shape, RowStatements] = {}
_statements_lock = threading.Lock()


def _build(shape: _Shape) -> RowStatements:
    """Core statements on the table's own columns (ORM attributes would make them ORM selects, compiled
    and run through the ORM's slower path)."""
    model, table = shape.model, shape.model.__table__
    for k, _ in shape.sort:
        _sortable(model, k)  # refuses an unknown key (and nothing is kept for this shape)

    def column(name: str) -> Any:
        return table.c[getattr(model, name).property.columns[0].key]

    exprs = [(_sort_expr(column(k), column(k)), d) for k, d in shape.sort]
    if shape.reverse:
        exprs = [(e, "desc" if d == "asc" else "asc") for e, d in exprs]
    conds: list[ColumnElement[bool]] = []
    if shape.scoped:
        conds.append(table.c.project_id == bindparam("scope_project", type_=table.c.project_id.type))
    for name, n in shape.filters:
        col = table.c[name]
        binds = [bindparam(f"f_{name}_{i}", type_=col.type) for i in range(n)]
        conds.append(col.in_(binds) if n > 1 else col == binds[0])
    if any(shape.tags):  # bind names stand in for the tags
        names = [[f"t_{k}_{i}" for i in range(n)] for k, n in zip(_TAG_KINDS, shape.tags, strict=True)]
        tq = ListQuery(tags=names[0], tags_any=names[1], not_tags=names[2], not_tags_any=names[3])
        tag = m.Tag.__table__
        conds += _tag_conditions(table.c.id, tag.c.resource_id, tag.c.tag, tq, lambda n: bindparam(n, type_=tag.c.tag.type))
    marker = None
    if shape.marker:
        marker = select(*[e for e, _ in exprs]).where(column(shape.key) == bindparam("marker"))
        conds.append(_after(exprs, tuple(bindparam(f"m_{i}", type_=e.type) for i, (e, _) in enumerate(exprs))))
    order = [e.asc() if d == "asc" else e.desc() for e, d in exprs]
    stmt = select(table).where(*conds).order_by(*order).limit(bindparam("limit", type_=Integer()))
    ids = stmt.with_only_columns(table.c.id).cte("page")
    return RowStatements(page=stmt, marker=marker, page_ids=select(ids.c.id))


def _statements_for(shape: _Shape) -> RowStatements:
    found = _statements.get(shape)
    if found is None:
        found = _build(shape)
        with _statements_lock:
            if len(_statements) >= _STATEMENTS_MAX:  # odd shapes (many filter values) only ever evict
                _statements.clear()
            _statements[shape] = found
    return found


def page_rows(
    conn: Connection,
    model: Any,
    q: ListQuery,
    *,
    project_id: str | None,
    allowed_filters: frozenset[str],
    default_limit: int = MAX_LIMIT,
    key: str = "id",
    default_sort: tuple[tuple[str, str], ...] = DEFAULT_SORT,
) -> RowPage:
    """``page`` as plain rows of ``model``'s table (``Rec`` dicts, also read as attributes), within
    ``project_id`` (None: every project). Same filters, tags, sort and marker semantics as ``page``."""
    keys = sort_keys(q, key, default_sort)
    params: dict[str, Any] = {}
    if project_id is not None:
        params["scope_project"] = project_id
    filters: list[tuple[str, int]] = []
    for name, values in q.filters.items():
        filterable = filter_column(model, name, allowed_filters)
        if filterable is None:
            continue
        _, column = filterable
        if column.key not in model.__table__.c:
            continue
        for i, v in enumerate(values):
            params[f"f_{column.key}_{i}"] = _coerce(column, v)
        filters.append((column.key, len(values)))
    tagged = hasattr(model, "_tags")  # untagged resources ignore tag filters
    tag_counts = (0, 0, 0, 0)
    if tagged:
        tag_lists = (q.tags, q.tags_any, q.not_tags, q.not_tags_any)
        tag_counts = (len(q.tags), len(q.tags_any), len(q.not_tags), len(q.not_tags_any))
        for k, values in zip(_TAG_KINDS, tag_lists, strict=True):
            for i, v in enumerate(values):
                params[f"t_{k}_{i}"] = v
    limit = min(q.limit if q.limit is not None else default_limit, MAX_LIMIT)
    if limit < 0:
        raise errors.InvalidOption("Limit must be a positive integer.")
    params["limit"] = limit + 1
    shape = _Shape(
        model=model,
        scoped=project_id is not None,
        filters=tuple(filters),
        tags=tag_counts,
        sort=tuple(keys),
        reverse=q.page_reverse,
        marker=bool(q.marker),
        key=key,
    )
    st = _statements_for(shape)
    if q.marker:
        assert st.marker is not None
        found = rawexec.fetch_tuples(conn, st.marker, {"marker": q.marker})
        if not found:
            raise errors.NotFound("Marker", q.marker)
        for i, v in enumerate(found[0]):
            params[f"m_{i}"] = v
    rows: list[Any] = rawexec.fetch_all(conn, st.page, params)
    more = len(rows) > limit
    rows = rows[:limit]
    if q.page_reverse:
        rows.reverse()
        return RowPage(rows=rows, has_next=bool(q.marker), has_previous=more, statements=st, params=params)
    return RowPage(rows=rows, has_next=more, has_previous=bool(q.marker), statements=st, params=params)
