"""``/healthcheck`` as Octavia's API answers it (oslo.middleware's healthcheck with Octavia's database
check), and ``/metrics`` (Prometheus text). Both unversioned and without a token, as in Octavia; put
them behind your front balancer's access rules.

Healthcheck: GET → 200 ``OK`` (text/plain), HEAD → 204; the database not answering → 503 with the
reason. ``Accept: application/json`` → ``{"detailed": false, "reasons": ["OK"]}``; ``text/html`` → a
small table. The result is cached for ``healthcheck_refresh_interval`` seconds (Octavia: 5).
``healthcheck_detailed`` adds the check's class and details, gc counts, platform and Python version.
"""

from __future__ import annotations

import datetime as dt
import gc
import html
import json
import platform
import sys
import threading
import time
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response

from lbaas.api.metrics import CONTENT_TYPE, ServiceMetrics
from lbaas.db.session import Database
from lbaas.services import fleet

router = APIRouter()

DB_UNAVAILABLE = "The lbaas database is unavailable."


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    reason: str
    details: str
    at: float


class HealthCheck:
    """The database check with its cache (one per app)."""

    def __init__(self, db: Database, refresh_interval: float) -> None:
        self._db = db
        self._refresh = refresh_interval
        self._lock = threading.Lock()
        self._last: CheckResult | None = None

    def result(self) -> CheckResult:
        with self._lock:
            last = self._last
            if last is not None and time.monotonic() - last.at < self._refresh:
                return last
            try:
                with self._db.read() as s:
                    fleet.ping(s)
                res = CheckResult(True, "OK", "", time.monotonic())
            except Exception as exc:
                res = CheckResult(
                    False, DB_UNAVAILABLE, f"Database health check failed due to: {exc}", time.monotonic()
                )
            self._last = res
            return res


def _wants(request: Request) -> str:
    accept = request.headers.get("accept", "")
    best, best_q = "text/plain", -1.0
    for item in accept.split(","):
        media, *params = (p.strip().lower() for p in item.split(";"))
        try:
            q = float(next((p[2:] for p in params if p.startswith("q=")), "1"))
        except ValueError:
            q = 1.0
        if media in ("application/json", "text/html", "text/plain") and q > best_q:
            best, best_q = media, q
    return best


@router.api_route("/healthcheck", methods=["GET", "HEAD"], include_in_schema=False)
def healthcheck(request: Request) -> Response:
    check: HealthCheck = request.app.state.healthcheck
    detailed: bool = request.app.state.env.settings.healthcheck_detailed
    res = check.result()
    code = 200 if res.ok else 503
    if request.method == "HEAD":
        return Response(status_code=204 if res.ok else 503)
    kind = _wants(request)
    if kind == "application/json":
        body: dict[str, object] = {"detailed": detailed}
        if detailed:
            body.update(
                gc={"counts": list(gc.get_count()), "threshold": list(gc.get_threshold())},
                now=str(dt.datetime.now()),
                platform=platform.platform(),
                python_version=sys.version,
                reasons=[{"class": "DatabaseCheckResult", "details": res.details, "reason": res.reason}],
            )
        else:
            body["reasons"] = [res.reason]
        return Response(json.dumps(body), status_code=code, media_type="application/json")
    if kind == "text/html":
        rows = f"<TR><TD>{html.escape(res.reason)}</TD></TR>"
        page = (
            "<HTML>\n<HEAD><TITLE>Healthcheck Status</TITLE></HEAD>\n<BODY>\n<H2>Result of 1 checks:</H2>\n"
            f'<TABLE bgcolor="#ffffff" border="1">\n<TBODY>\n<TR><TH>Reason</TH></TR>\n{rows}\n</TBODY>\n</TABLE>\n'
            "</BODY>\n</HTML>\n"
        )
        return Response(page, status_code=code, media_type="text/html")
    # Octavia answers a failing plain-text check with no reason in the body
    return Response("OK" if res.ok else "", status_code=code, media_type="text/plain")


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    m: ServiceMetrics = request.app.state.metrics
    return Response(m.render(), media_type=CONTENT_TYPE)
