"""LoadBalancerSpec → haproxy.cfg text, for one HAProxy 2.6 process per load balancer.

Pure: the output depends only on the spec and the ``RenderOptions`` (paths, identity, limits, probed
binary features), and the only I/O is reading the Jinja2 templates shipped in this package. Two steps:
``viewmodel.build`` derives and escapes every value (and raises ``RenderError`` on anything unsafe or
unsupported), then the templates in ``templates/`` only lay the text out. The agent writes the text,
checks it with ``haproxy -c`` and reloads (master-worker, ``-W -D``: the config carries neither
``daemon`` nor a pidfile).

See ``viewmodel`` for the behavioural decisions (disabled objects, L7 ordering, PING, headers).
"""

from __future__ import annotations

import functools
import re

from jinja2 import Environment, PackageLoader, StrictUndefined

from lbaas.agent.haproxy.options import RenderOptions
from lbaas.agent.haproxy.quoting import RenderError
from lbaas.agent.haproxy.viewmodel import build
from lbaas.domain.spec import LoadBalancerSpec

__all__ = ["RenderError", "RenderOptions", "render_haproxy"]

# Anything but LF that could split or hide a config line. Belt and braces: quoting already refused it.
_CONTROL_EXCEPT_LF = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("lbaas.agent.haproxy", "templates"),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_haproxy(spec: LoadBalancerSpec, opts: RenderOptions) -> str:
    """The complete haproxy.cfg for ``spec``. Raises RenderError when it cannot be rendered safely."""
    view = build(spec, opts)
    text = _environment().get_template("haproxy.cfg.j2").render(cfg=view, g=view.global_)
    if _CONTROL_EXCEPT_LF.search(text):
        raise RenderError(f"load balancer {spec.id}: rendered config contains control characters")
    return text
