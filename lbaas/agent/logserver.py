"""Scale-out: an agent serves its load balancers' access logs to the API processes.

``GET /logs/<lb_id>?tail=N`` → ``{"lines": [...]}`` on ``agent_logs_bind``, only with the internal
secret in ``X-Lbaas-Agent-Secret`` (401 otherwise), 404 for an LB this agent has no directory for.
The API reaches it at ``agent_logs_url`` (``{host}`` is the agent's name) and applies the LB's visibility
itself; the agent answers only to holders of the shared secret.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from lbaas.services.accesslogs import MAX_TAIL, access_log_path, tail

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Lbaas-Agent-Secret"
_LB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class LogServer:
    def __init__(self, bind: str, state_dir: Path, secret: str) -> None:
        host, _, port = bind.rpartition(":")
        self.state_dir = state_dir
        self._secret = secret.encode()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
                log.debug("log server: " + format, *args)

            def do_GET(self) -> None:  # noqa: N802 - stdlib's name
                code, body = server.answer(self.path, self.headers.get(SECRET_HEADER, ""))
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="log-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def answer(self, path: str, secret: str) -> tuple[int, dict[str, object]]:
        if not hmac.compare_digest(secret.encode(), self._secret):
            return 401, {"error": "the internal secret is required"}
        url = urlsplit(path)
        parts = [p for p in url.path.split("/") if p]
        if len(parts) != 2 or parts[0] != "logs" or not _LB_ID.match(parts[1]):
            return 404, {"error": "not found"}
        try:
            n = int(parse_qs(url.query).get("tail", ["100"])[0])
        except ValueError:
            return 400, {"error": "tail must be an integer"}
        if not 0 <= n <= MAX_TAIL:
            return 400, {"error": f"tail must be between 0 and {MAX_TAIL}"}
        f = access_log_path(self.state_dir, parts[1])
        if not f.parent.is_dir():
            return 404, {"error": "no such load balancer on this agent"}
        return 200, {"lines": tail(f, n)}
