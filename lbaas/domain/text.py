"""Checks for user strings that may reach a config file: no CR, LF or other control characters.

Used twice: by the API on input, and by the renderer just before text is written into haproxy.cfg.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
# A name HAProxy reads bare in a sample-fetch argument or keyword (header, cookie, rule key): RFC 9110
# token characters minus those the config parser gives a meaning to (' quote, # comment, $ variable,
# % log-format).
HAPROXY_TOKEN = re.compile(r"^[!&*+.^_`|~0-9A-Za-z-]{1,255}$")


def has_control_chars(value: str) -> bool:
    return bool(_CONTROL.search(value))


class UnsafeText(ValueError):
    pass


def ensure_safe(value: str, what: str = "value") -> str:
    if has_control_chars(value):
        raise UnsafeText(f"{what} contains control characters")
    return value
