"""Query-string parsing and list responses: filters, tags, fields, sort, limit/marker, *_links."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from lbaas.db.listing import ListQuery, Page
from lbaas.domain import errors

RESERVED = {
    "limit", "marker", "page_reverse", "sort", "sort_key", "sort_dir", "fields",
    "tags", "tags-any", "not-tags", "not-tags-any", "project_id",
}  # fmt: skip


def _csv(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend(x for x in v.split(",") if x)
    return out


def parse(request: Request) -> ListQuery:
    qp = request.query_params
    q = ListQuery()
    for key in set(qp.keys()) - RESERVED:
        name = key[:-5] if key.endswith(".json") else key
        q.filters[name] = qp.getlist(key)
    if "project_id" in qp:
        q.filters["project_id"] = qp.getlist("project_id")
    q.tags = _csv(qp.getlist("tags"))
    q.tags_any = _csv(qp.getlist("tags-any"))
    q.not_tags = _csv(qp.getlist("not-tags"))
    q.not_tags_any = _csv(qp.getlist("not-tags-any"))
    q.fields = _csv(qp.getlist("fields"))
    if "limit" in qp:
        try:
            q.limit = int(qp["limit"])
        except ValueError:
            raise errors.InvalidOption(f"Invalid limit {qp['limit']!r}.") from None
        if q.limit < 0:
            raise errors.InvalidOption("Limit must be a positive integer.")
    q.marker = qp.get("marker") or None
    q.page_reverse = qp.get("page_reverse", "false").lower() == "true"
    if "sort" in qp:
        for item in _csv(qp.getlist("sort")):
            key, _, direction = item.partition(":")
            q.sort.append((key.strip(), (direction or "asc").strip().lower()))
    elif "sort_key" in qp:
        keys = qp.getlist("sort_key")
        dirs = qp.getlist("sort_dir")
        for i, key in enumerate(keys):
            q.sort.append((key, (dirs[i] if i < len(dirs) else (dirs[-1] if dirs else "asc")).lower()))
    return q


def select_fields(obj: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    if not fields:
        return obj
    return {k: v for k, v in obj.items() if k in fields}


def links(request: Request, page: Page, q: ListQuery, *, key: str = "id") -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if not page.rows or not (page.has_next or page.has_previous):
        return out
    base = str(request.url).split("?", 1)[0]
    keep = [(k, v) for k, v in request.query_params.multi_items() if k not in ("marker", "page_reverse")]
    if page.has_next:
        params = keep + [("marker", getattr(page.rows[-1], key))]
        out.append({"href": f"{base}?{urlencode(params)}", "rel": "next"})
    if page.has_previous:
        params = keep + [("marker", getattr(page.rows[0], key)), ("page_reverse", "True")]
        out.append({"href": f"{base}?{urlencode(params)}", "rel": "previous"})
    return out


def render_list(
    request: Request,
    plural: str,
    page: Page,
    q: ListQuery,
    view: Callable[[Any], dict[str, Any]],
    *,
    with_links: bool = True,
    links_key: str | None = None,
    key: str = "id",
) -> dict[str, Any]:
    """``links_key`` overrides ``<plural>_links`` (Octavia says ``flavorprofile_links`` for flavor profiles)."""
    body: dict[str, Any] = {plural: [select_fields(view(r), q.fields) for r in page.rows]}
    if with_links:
        body[links_key or f"{plural}_links"] = links(request, page, q, key=key)
    return body
