"""A JSON answer built once: for handlers that return a ready ``Response``.

A handler that returns a dict gets FastAPI's response handling: validation against the inferred
``dict[str, Any]`` model (for a plain ``def`` handler, in the thread pool: one more thread hop and GIL
hand-over per request), then serialization. The bytes here are pydantic-core's, the serializer FastAPI
uses for those dicts, so the wire is the same (compact, UTF-8).
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic_core import to_json


def json_response(body: Any, status_code: int = 200) -> Response:
    return Response(content=to_json(body), status_code=status_code, media_type="application/json")
