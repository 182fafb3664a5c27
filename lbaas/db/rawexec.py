"""Run a prebuilt Core statement straight on the driver cursor of a Connection's transaction.

For the hot read paths only (``listing.page_rows``, ``rows``): each ``Connection.execute`` costs
~0.1 ms of Python in SQLAlchemy (execution context, events, result metadata, row objects) on top
of the query, and a list page runs two. Here a statement is compiled once per dialect through
SQLAlchemy's own compiler and bind/result processors (so the SQL, the parameter formatting and the
column conversions are SQLAlchemy's), and each call is one ``cursor.execute`` + ``fetchall`` on the
same DB-API connection, inside the transaction ``conn`` holds.

Only for statements whose every value is a plain bound parameter (no expanding IN, no literal
execution); anything else goes through ``conn.execute``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.sql import ClauseElement


class Rec(dict[str, Any]):
    """A result row as a dict that also answers attribute access (``row.id``), like a Row."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class _Prepared:
    compiled: Any  # the SQLCompiler: the SQL, and the bound values by rendered name (construct_params)
    positional: tuple[str, ...] | None  # rendered bind names in order (qmark/format), or None (named)
    bind_procs: tuple[tuple[str, Callable[[Any], Any]], ...]  # by rendered name
    keys: tuple[str, ...]  # column names, in order
    result_procs: tuple[tuple[int, Callable[[Any], Any]], ...]


_prepared: dict[tuple[str, int], tuple[ClauseElement, _Prepared | None]] = {}
_lock = threading.Lock()


def _prepare(conn: Connection, stmt: Any) -> _Prepared | None:
    dialect = conn.dialect
    compiled: Any = stmt.compile(dialect=dialect)
    if compiled.literal_execute_params or compiled.post_compile_params:
        return None
    procs = []
    for bind, name in compiled.bind_names.items():
        proc = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            procs.append((compiled.escaped_bind_names.get(name, name), proc))
    cols = list(stmt.selected_columns)
    rprocs = []
    for i, col in enumerate(cols):
        proc = col.type.dialect_impl(dialect).result_processor(dialect, None)
        if proc is not None:
            rprocs.append((i, proc))
    return _Prepared(
        compiled=compiled,
        positional=tuple(compiled.positiontup) if dialect.positional else None,
        bind_procs=tuple(procs),
        keys=tuple(col.key for col in cols),
        result_procs=tuple(rprocs),
    )


def _prepared_for(conn: Connection, stmt: Any) -> _Prepared | None:
    key = (conn.dialect.name, id(stmt))
    found = _prepared.get(key)
    if found is None or found[0] is not stmt:  # (an id can be reused once a statement is gone)
        found = (stmt, _prepare(conn, stmt))
        with _lock:
            if len(_prepared) >= 1024:
                _prepared.clear()
            _prepared[key] = found
    return found[1]


def fetch_tuples(conn: Connection, stmt: Any, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The rows ``stmt`` selects with ``params``, as tuples (values converted as SQLAlchemy would)."""
    return _run(conn, stmt, params)[1]


def fetch_all(conn: Connection, stmt: Any, params: dict[str, Any]) -> list[Rec]:
    """The rows ``stmt`` selects with ``params``, as ``Rec`` dicts keyed by column name."""
    keys, rows = _run(conn, stmt, params)
    return [Rec(zip(keys, r, strict=True)) for r in rows]


def _run(conn: Connection, stmt: Any, params: dict[str, Any]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    prep = _prepared_for(conn, stmt)
    if prep is None:
        result = conn.execute(stmt, params)
        return tuple(result.keys()), [tuple(r) for r in result]
    values = prep.compiled.construct_params(params)  # keyed by rendered name, the statement's own values in
    for name, proc in prep.bind_procs:
        values[name] = proc(values[name])
    args: Any = [values[n] for n in prep.positional] if prep.positional is not None else values
    dbapi_conn: Any = conn.connection.driver_connection
    cur = dbapi_conn.cursor()
    try:
        cur.execute(prep.compiled.string, args)
        raw = cur.fetchall()
    finally:
        cur.close()
    if not prep.result_procs:
        return prep.keys, [tuple(r) for r in raw]
    out = []
    for r in raw:
        row = list(r)
        for i, proc in prep.result_procs:
            row[i] = proc(row[i])
        out.append(tuple(row))
    return prep.keys, out
