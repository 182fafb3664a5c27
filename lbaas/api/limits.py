"""Limits on what a request may be, checked before anything parses it.

``InputGuardMiddleware`` (pure ASGI):
- a body longer than ``max_body_size`` gets 413: at once when Content-Length says so, else as soon as
  the bytes received pass the limit (chunked bodies), without reading the rest;
- a path or query string whose percent-decoded bytes are not UTF-8 gets 400;
- a JSON body that is not UTF-8, or that carries a lone UTF-16 surrogate (``"\\ud800"``) in any string
  or key, gets 400 (Python's json module would hand such a string on, and it cannot be encoded again).

``header_limited_protocol`` (for uvicorn): request headers must arrive within ``header_timeout`` seconds
of the connection (or of the request's first byte) and be at most ``max_header_bytes`` long; else the
connection is closed (431 for too large). uvicorn has no such limits of its own with httptools.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from lbaas.api.errors import fault_bytes

DEFAULT_MAX_BODY_SIZE = 1024 * 1024
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_MAX_HEADER_BYTES = 64 * 1024

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _has_surrogate(obj: Any) -> bool:
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, str):
            try:
                o.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)
    return False


def body_problem(body: bytes) -> str | None:
    """Why a JSON body must be refused before parsing, or None."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "The request body is not valid UTF-8."
    if _SURROGATE_ESCAPE.search(body):  # rare: only then is the body parsed here to look closer
        try:
            doc = json.loads(body)
        except ValueError:
            return None  # the framework answers the syntax error
        if _has_surrogate(doc):
            return "The request body contains an invalid Unicode string (a lone surrogate)."
    return None


def _is_utf8(raw: bytes) -> bool:
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class InputGuardMiddleware:
    def __init__(self, app: ASGIApp, max_body_size: int = DEFAULT_MAX_BODY_SIZE) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        raw_path: bytes = scope.get("raw_path") or path.encode("utf-8", "surrogateescape")
        if not _is_utf8(raw_path) or not _is_utf8(scope.get("query_string") or b""):
            await _answer(send, path, 400, "The request path or query string is not valid UTF-8.")
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is None and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body
            return
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _answer(send, path, 400, "Invalid Content-Length.")
                return
            if declared > self.max_body_size:
                await _answer(send, path, 413, self._too_large())
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # disconnected
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_size:
                await _answer(send, path, 413, self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        ctype = headers.get(b"content-type", b"").lower()
        if body and (not ctype or b"json" in ctype):
            problem = body_problem(body)
            if problem:
                await _answer(send, path, 400, problem)
                return
        replayed = False

        async def _receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, _receive, send)

    def _too_large(self) -> str:
        return f"Request entity too large: the body is limited to {self.max_body_size} bytes."


async def _answer(send: Send, path: str, code: int, message: str) -> None:
    body = fault_bytes(path, code, message)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if code == 413:
        headers.append((b"connection", b"close"))  # the rest of the body is not read
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def header_limited_protocol(
    header_timeout: float = DEFAULT_HEADER_TIMEOUT_S, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with a read timeout and a size limit for request headers."""

    class HeaderLimitedProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _awaiting_headers = True
        _header_bytes = 0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._awaiting_headers = True
            self._header_bytes = 0
            self._arm()

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout, self._header_timeout)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            self._header_timer = None
            if self._awaiting_headers and not self.transport.is_closing():
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            waiting = self._awaiting_headers
            super().data_received(data)
            if waiting and self._awaiting_headers and not self.transport.is_closing():
                self._header_bytes += len(data)
                if self._header_bytes > max_header_bytes:
                    self._disarm()
                    msg = b"Request header fields too large"
                    self.transport.write(
                        b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
                        b"content-length: " + str(len(msg)).encode() + b"\r\nconnection: close\r\n\r\n" + msg
                    )
                    self.transport.close()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._awaiting_headers = True
            self._header_bytes = 0
            self._arm()

        def on_headers_complete(self) -> None:
            self._awaiting_headers = False
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderLimitedProtocol
