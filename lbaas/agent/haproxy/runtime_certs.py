"""Certificate changes applied live through HAProxy's runtime API (stats socket), with no reload.

Pure: ``plan_cert_swap(old, new, ...)`` compares two rendered configs and returns the runtime commands
that make a process running ``old`` serve exactly the material of ``new``, or ``None`` when the
difference is not only certificate content (then the agent checks and reloads as usual).

How it maps onto HAProxy 2.6. Every PEM file the config names (``crt``, ``ca-file``, ``crl-file``, on
bind and server lines) is ``certs/<sha256>.pem``, so a new certificate is a new file name and a new
haproxy.cfg text. The running HAProxy knows each file by the path it loaded it from (its "store");
``set ssl cert <store> <<payload`` then ``commit ssl cert <store>`` rebuilds every SSL context that
uses that store, SNI entries included, and keeps established connections (``set/commit ssl ca-file``
and ``crl-file`` likewise). A store keeps its name: after a swap, the store named after the old file
holds the new file's content. ``keys`` (the unit's memory) is that mapping, file path → store, for
the files whose store is named otherwise; a process that loaded its config has none. The new
haproxy.cfg is written (checked first) so that a later reload or restart reads the same material.

Live only when all of this holds (else ``None``):

* the two texts are equal once every PEM file name is masked (same listeners, options, servers and
  the same number of PEM files in the same places);
* each store gets exactly one new content and each new file comes from one store (a store shared by
  two places that now want different certificates cannot be split without a reload);
* a listener certificate (``crt`` on a bind line) keeps the names SNI matches (the same subject CN
  and DNS subjectAltNames, from ``names``): the SNI layout is unchanged;
* each payload is PEM without empty lines and fits HAProxy's CLI buffer (16 kB in 2.6: a larger
  payload is silently dropped, measured).

An empty answer, or any other than the expected one, raises ``NotLive`` in the unit and the reload
path runs instead (HAProxy 2.6 answers a ``set ssl cert`` for a file it does not know with "Can't
replace a certificate which is not referenced by the configuration!").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lbaas.agent.haproxy.runtime_plan import Command

# A PEM file on a config line, as the renderer writes it (quoted, in the cert directory, named by digest).
_FILE = re.compile(r'\b(crt|ca-file|crl-file) "([^"\s\\$]+/)([0-9a-f]{64}\.pem)"')
_STORE = {"crt": "cert", "ca-file": "ca-file", "crl-file": "crl-file"}
_CREATED = {"crt": "Transaction created for certificate {}!", "ca-file": "transaction created for CA {}!",
            "crl-file": "transaction created for CRL {}!"}  # fmt: skip
MAX_COMMAND = 15_000  # bytes of one payload command; HAProxy 2.6's CLI buffer is 16384 (tune.bufsize)


@dataclass(frozen=True)
class Slot:
    keyword: str  # crt | ca-file | crl-file
    bind: bool  # on a bind line (a listener's certificate: SNI matches its names)
    path: str  # as HAProxy reads it: directory + file name


@dataclass(frozen=True)
class CertSwap:
    commands: tuple[Command, ...]
    keys: tuple[tuple[str, str], ...]  # (file path, store) where the store is named after another file


def slots(text: str) -> tuple[tuple[str, ...], tuple[Slot, ...]]:
    """The config's lines with every PEM file name masked, and the PEM files in order of appearance."""
    masked: list[str] = []
    found: list[Slot] = []
    for line in text.splitlines():
        bind = line.lstrip().startswith("bind ")
        for m in _FILE.finditer(line):
            found.append(Slot(m.group(1), bind, m.group(2) + m.group(3)))
        masked.append(_FILE.sub(lambda m: f'{m.group(1)} "{m.group(2)}<pem>"', line))
    return tuple(masked), tuple(found)


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _payload_ok(store: str, payload: str) -> bool:
    body = payload.strip()
    if not body.startswith("-----BEGIN") or "\r" in body or "\n\n" in body:
        return False
    return len(f"set ssl {store} <<\n{body}\n\n".encode()) + 300 <= MAX_COMMAND  # 300: the store's path


def plan_cert_swap(
    old: str,
    new: str,
    *,
    keys: Mapping[str, str],
    pems: Mapping[str, str],
    names: Mapping[str, tuple[str, ...]],
) -> CertSwap | None:
    """The runtime commands that make a process running ``old`` serve the PEM files of ``new``, or None.

    ``keys``: file path → the store the running process holds its content in (absent: the path itself).
    ``pems``: file name → content of every PEM file ``new`` names. ``names``: file name → the names SNI
    matches, for the listener certificates of both texts."""
    if old == new:
        return None
    masked_old, before = slots(old)
    masked_new, after = slots(new)
    if masked_old != masked_new or len(before) != len(after):
        return None
    target: dict[str, str] = {}  # store → the file whose content it must hold
    source: dict[str, str] = {}  # new file → its store
    holds: dict[str, str] = {}  # store → the file whose content it holds now
    kind: dict[str, str] = {}  # store → keyword
    for a, b in zip(before, after, strict=True):
        store = keys.get(a.path, a.path)
        if target.setdefault(store, b.path) != b.path or source.setdefault(b.path, store) != store:
            return None
        if holds.setdefault(store, a.path) != a.path or kind.setdefault(store, a.keyword) != a.keyword:
            return None
        if a.path != b.path and a.keyword == "crt" and a.bind:
            was, now = names.get(_name(a.path)), names.get(_name(b.path))
            if was is None or was != now:
                return None  # the SNI layout would change (or is unknown): reload
    commands: list[Command] = []
    for store, path in target.items():
        if holds[store] == path:
            continue
        payload = pems.get(_name(path))
        kw = kind[store]
        if payload is None or not _payload_ok(_STORE[kw], payload):
            return None
        commands += [
            Command(f"set ssl {_STORE[kw]} {store}", _CREATED[kw].format(store), payload=payload.strip() + "\n"),
            Command(f"commit ssl {_STORE[kw]} {store}", "Success!", last_line=True),
        ]
    if not commands:
        return None
    return CertSwap(tuple(commands), tuple(sorted((path, store) for store, path in target.items() if path != store)))


__all__ = ["MAX_COMMAND", "CertSwap", "Slot", "plan_cert_swap", "slots"]
