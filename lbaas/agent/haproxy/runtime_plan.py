"""Member changes applied live through HAProxy's runtime API (stats socket), with no reload.

Pure: ``plan_runtime(old, new)`` compares two rendered configs and returns the runtime commands that
turn a process running ``old`` into one equivalent to ``new``, or ``None`` when the difference is not
something the runtime API expresses exactly (then the agent checks and reloads as usual).

Exactly expressible, per backend, when every line outside ``server`` lines is identical:

* a server added: ``add server`` (HAProxy 2.6 creates it in maintenance, with health checks off),
  ``enable health`` when it has ``check``, then ``enable server`` unless the config says ``disabled``;
  only with the keywords ``add server`` accepts (``cookie`` is not one in 2.6) and only in backends
  with a dynamic algorithm (``roundrobin``, ``leastconn``; ``source`` is map-based);
* a server removed: ``set server … state maint`` (no new traffic from that instant; running requests
  finish), then ``del server``, which HAProxy refuses while the server still has connections: that
  step is marked ``best_effort`` and retried later (the server is in maintenance meanwhile, which is
  what the new config means for traffic);
* a server whose only differences are ``weight`` and ``disabled``: ``set server … weight`` and
  ``set server … state maint|ready``.

Anything else (an address, a check parameter, a header, a listener, a pool) returns ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Keywords of our rendered server lines that HAProxy 2.6's "add server" accepts (management.txt).
ADDABLE = frozenset({
    "weight", "check", "inter", "fall", "rise", "addr", "port", "check-ssl", "ssl", "verify",
    "send-proxy", "send-proxy-v2", "backup", "disabled",
})  # fmt: skip
# Keywords followed by one value in our rendered server lines.
_WITH_VALUE = frozenset({"weight", "inter", "fall", "rise", "addr", "port", "verify", "cookie"})
_DYNAMIC_BALANCE = frozenset({"roundrobin", "leastconn"})
_NAME = re.compile(r"^[A-Za-z0-9._:-]+$")
_SERVER = "server "


@dataclass(frozen=True)
class Server:
    backend: str
    name: str
    address: str
    params: tuple[tuple[str, str | None], ...]  # (keyword, value) in rendered order

    def value(self, key: str) -> str | None:
        return next((v for k, v in self.params if k == key), None)

    def has(self, key: str) -> bool:
        return any(k == key for k, _ in self.params)

    def without(self, *keys: str) -> tuple[tuple[str, str | None], ...]:
        return tuple((k, v) for k, v in self.params if k not in keys)

    @property
    def ref(self) -> str:
        return f"{self.backend}/{self.name}"


@dataclass(frozen=True)
class Command:
    text: str
    expect: str  # the answer HAProxy gives on success ("" = an empty answer)
    best_effort: bool = False  # failure leaves a state that is equivalent for traffic (retried later)
    payload: str | None = field(default=None, repr=False)  # sent after ``<<`` (PEM, keys included: never logged)
    last_line: bool = False  # ``expect`` is the answer's last line ("Committing <file>...\nSuccess!")

    @property
    def wire(self) -> str:
        """What goes over the socket: the command, or the command, ``<<`` and its payload lines (the
        empty line that ends a payload is added by ``unix_command``)."""
        return self.text if self.payload is None else f"{self.text} <<\n{self.payload.strip()}\n"

    def accepts(self, answer: str) -> bool:
        text = answer.strip()
        if self.last_line:
            return bool(text) and text.splitlines()[-1] == self.expect
        return text == self.expect


@dataclass(frozen=True)
class Layout:
    skeleton: tuple[str, ...]  # every line that is not a server line, server lines as a marker
    servers: dict[str, dict[str, Server]]  # backend → name → server (in order)
    balance: dict[str, str]


class _Unparsable(ValueError):
    pass


def _params(tokens: list[str]) -> tuple[tuple[str, str | None], ...]:
    out: list[tuple[str, str | None]] = []
    i = 0
    while i < len(tokens):
        key = tokens[i]
        if key in _WITH_VALUE:
            if i + 1 >= len(tokens):
                raise _Unparsable(f"{key} without a value")
            out.append((key, tokens[i + 1]))
            i += 2
        else:
            out.append((key, None))
            i += 1
    return tuple(out)


def parse_layout(text: str) -> Layout:
    skeleton: list[str] = []
    servers: dict[str, dict[str, Server]] = {}
    balance: dict[str, str] = {}
    backend: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if line and not line[0].isspace():
            parts = stripped.split()
            backend = parts[1] if parts[0] == "backend" and len(parts) == 2 else None
            if backend is not None:
                servers.setdefault(backend, {})
        elif backend is not None and stripped.startswith(_SERVER):
            tokens = stripped.split()
            if len(tokens) < 3 or not _NAME.match(tokens[1]):
                raise _Unparsable(line)
            name = tokens[1]
            if name in servers[backend]:
                raise _Unparsable(f"duplicate server {name}")
            servers[backend][name] = Server(backend, name, tokens[2], _params(tokens[3:]))
            skeleton.append(f"<server in {backend}>")
            continue
        elif backend is not None and stripped.startswith("balance "):
            balance[backend] = stripped.split()[1]
        skeleton.append(line)
    # server lines collapse to one marker per backend: their number may change, nothing else
    collapsed: list[str] = []
    for line in skeleton:
        if line.startswith("<server in ") and collapsed and collapsed[-1] == line:
            continue
        collapsed.append(line)
    return Layout(tuple(collapsed), servers, balance)


def _skeleton_without_markers(layout: Layout) -> tuple[str, ...]:
    return tuple(line for line in layout.skeleton if not line.startswith("<server in "))


def _add(s: Server) -> list[Command]:
    args = " ".join(k if v is None else f"{k} {v}" for k, v in s.without("disabled"))
    cmds = [Command(f"add server {s.ref} {s.address}" + (f" {args}" if args else ""), "New server registered.")]
    if s.has("check"):
        cmds.append(Command(f"enable health {s.ref}", ""))
    if not s.has("disabled"):
        cmds.append(Command(f"enable server {s.ref}", ""))
    return cmds


def _remove(s: Server) -> list[Command]:
    return [
        Command(f"set server {s.ref} state maint", ""),
        Command(f"del server {s.ref}", "Server deleted.", best_effort=True),
    ]


def plan_runtime(old: str, new: str) -> list[Command] | None:
    """The runtime commands that make a process running ``old`` equivalent to ``new``, or None."""
    if old == new:
        return []
    try:
        a, b = parse_layout(old), parse_layout(new)
    except _Unparsable:
        return None
    if _skeleton_without_markers(a) != _skeleton_without_markers(b) or a.servers.keys() != b.servers.keys():
        return None
    removes: list[Command] = []
    adds: list[Command] = []
    sets: list[Command] = []
    for backend, before in a.servers.items():
        after = b.servers[backend]
        if before == after:
            continue
        gone = [s for name, s in before.items() if name not in after]
        added = [s for name, s in after.items() if name not in before]
        if added and a.balance.get(backend) not in _DYNAMIC_BALANCE:
            return None
        for s in added:
            if any(k not in ADDABLE for k, _ in s.params):
                return None
            adds += _add(s)
        for s in gone:
            removes += _remove(s)
        for name, s in after.items():
            old_s = before.get(name)
            if old_s is None or old_s == s:
                continue
            if old_s.address != s.address or old_s.without("weight", "disabled") != s.without("weight", "disabled"):
                return None
            if old_s.value("weight") != s.value("weight"):
                weight = s.value("weight") or "1"
                sets.append(Command(f"set server {s.ref} weight {weight}", ""))
            if old_s.has("disabled") != s.has("disabled"):
                sets.append(Command(f"set server {s.ref} state {'maint' if s.has('disabled') else 'ready'}", ""))
    # additions first: a replaced member never leaves a pool with nobody to send to
    return adds + sets + removes


__all__ = ["ADDABLE", "Command", "Layout", "Server", "parse_layout", "plan_runtime"]
