"""Row readers for the hot read paths (load balancer list and show).

The ORM answers these with one query per relationship and per tag collection, and builds an instance
with its identity-map bookkeeping per row: a list of ten load balancers cost ~10 ms of CPU that way.
Here the page is read as plain rows (``listing.page_rows``) and what a load balancer's view needs
from its children (listener ids, pool ids, tags) comes from one more query, on the page's own
statement as a subquery (no id list to expand). Same transaction; children ordered like the ORM
relationships (``created_at`` then ``id``), tags by name.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import CompoundSelect, Connection, Integer, Select, bindparam, literal_column, null, select, union_all

from lbaas.db import models as m
from lbaas.db import rawexec
from lbaas.db.listing import RowPage, RowStatements
from lbaas.db.rawexec import Rec


@dataclass
class LbChildren:
    listeners: list[str] = field(default_factory=list)
    pools: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


_LISTENER, _POOL, _TAG = 0, 1, 2
_LB = m.LoadBalancer.__table__
_LI = m.Listener.__table__
_PO = m.Pool.__table__
_TG = m.Tag.__table__


def _children(ids: Any) -> CompoundSelect[Any]:
    """Listener ids, pool ids and tags of the load balancers whose id is ``ids`` (a value or a select)."""

    def match(col: Any) -> Any:
        return col.in_(ids) if isinstance(ids, Select) else col == ids

    u = union_all(
        select(
            literal_column(str(_LISTENER), Integer()).label("kind"), _LI.c.loadbalancer_id.label("owner"), _LI.c.id.label("value"),
            _LI.c.created_at.label("created_at"),
        ).where(match(_LI.c.loadbalancer_id)),
        select(literal_column(str(_POOL), Integer()), _PO.c.loadbalancer_id, _PO.c.id, _PO.c.created_at).where(match(_PO.c.loadbalancer_id)),
        select(literal_column(str(_TAG), Integer()), _TG.c.resource_id, _TG.c.tag, null()).where(match(_TG.c.resource_id)),
    )  # fmt: skip
    c = u.selected_columns
    return u.order_by(c.kind, c.created_at, c.value)


_CHILDREN_OF_ONE = _children(bindparam("lb_id"))
_LB_BY_ID = select(_LB).where(_LB.c.id == bindparam("lb_id"))
_of_page: dict[int, tuple[RowStatements, CompoundSelect[Any]]] = {}
_lock = threading.Lock()


def _children_of_page(st: RowStatements) -> CompoundSelect[Any]:
    found = _of_page.get(id(st))
    if found is None or found[0] is not st:
        found = (st, _children(st.page_ids))
        with _lock:
            if len(_of_page) >= 256:
                _of_page.clear()
            _of_page[id(st)] = found
    return found[1]


def _collect(result: list[tuple[Any, ...]], out: dict[str, LbChildren]) -> dict[str, LbChildren]:
    for kind, owner, value, _ in result:
        c = out.get(owner)
        if c is not None:  # (the page query may also see the row after the page, or one added since)
            (c.listeners if kind == _LISTENER else c.pools if kind == _POOL else c.tags).append(value)
    return out


def lb_children(conn: Connection, page: RowPage) -> dict[str, LbChildren]:
    """Listener ids, pool ids and tags of each load balancer of ``page`` (every row gets an entry)."""
    out = {row.id: LbChildren() for row in page.rows}
    if not out or page.statements is None:
        return out
    return _collect(rawexec.fetch_tuples(conn, _children_of_page(page.statements), page.params), out)


def lb_row(conn: Connection, lb_id: str) -> Rec | None:
    """The load balancer's row (a dict, also read as attributes), or None."""
    found = rawexec.fetch_all(conn, _LB_BY_ID, {"lb_id": lb_id})
    return found[0] if found else None


def lb_children_of(conn: Connection, lb_id: str) -> LbChildren:
    return _collect(rawexec.fetch_tuples(conn, _CHILDREN_OF_ONE, {"lb_id": lb_id}), {lb_id: LbChildren()})[lb_id]
