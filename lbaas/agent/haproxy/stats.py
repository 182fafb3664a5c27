"""Parsers for what the HAProxy admin socket answers: ``show stat`` CSV and ``show servers state``.

Why a parser of our own: the status and stats logic (``lbaas.domain.status``) wants typed rows, and
the CSV is positional only through its header line, whose columns grow between HAProxy versions. So
fields are looked up by header name, unknown columns are kept in ``raw``, and missing columns read as
empty. Pure text in, dataclasses out; fetching the text over the socket is the agent's job.

``show stat`` format: one header line ``# pxname,svname,qcur,...`` then one comma-separated row per
proxy (FRONTEND / BACKEND) and per server; the ``type`` column is 0 frontend, 1 backend, 2 server,
3 listener socket. Counters are empty where they do not apply.

``show servers state`` format: a version line (``1``), a ``# be_id be_name ...`` header and one
space-separated line per server.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field

from lbaas.domain.status import StatType

# srv_admin_state bits (HAProxy's SRV_ADMF_*): forced/inherited/config/resolution maintenance, and
# forced/inherited drain. A server rendered ``disabled`` reads 0x05 (forced + config maintenance).
_ADMIN_MAINT = 0x01 | 0x02 | 0x04 | 0x20
_ADMIN_DRAIN = 0x08 | 0x10
_TYPES = {"0": StatType.FRONTEND, "1": StatType.BACKEND, "2": StatType.SERVER, "3": StatType.LISTENER}


class StatsParseError(ValueError):
    """The text is not what HAProxy's admin socket answers."""


def _int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _count(value: str | None) -> int:
    return _int(value) or 0


def _str(value: str | None) -> str | None:
    return value if value else None


@dataclass(frozen=True)
class StatRow:
    """One ``show stat`` row. Counters HAProxy leaves empty read as 0; optional values as None."""

    pxname: str
    svname: str
    type: StatType
    status: str
    scur: int = 0
    smax: int = 0
    slim: int | None = None
    stot: int = 0
    bin: int = 0
    bout: int = 0
    ereq: int = 0
    econ: int = 0
    eresp: int = 0
    weight: int | None = None
    act: int | None = None
    bck: int | None = None
    chkfail: int | None = None
    lastchg: int | None = None
    check_status: str | None = None
    check_code: int | None = None
    check_desc: str | None = None
    hrsp_5xx: int = 0
    req_tot: int = 0
    addr: str | None = None
    mode: str | None = None
    iid: int | None = None
    sid: int | None = None
    raw: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_frontend(self) -> bool:
        return self.type == StatType.FRONTEND

    @property
    def is_backend(self) -> bool:
        return self.type == StatType.BACKEND

    @property
    def is_server(self) -> bool:
        return self.type == StatType.SERVER

    @classmethod
    def from_fields(cls, f: Mapping[str, str]) -> StatRow:
        kind = _TYPES.get(f.get("type", ""))
        if kind is None:
            where = f"{f.get('pxname')}/{f.get('svname')}"
            raise StatsParseError(f"unknown row type {f.get('type')!r} for {where}")
        return cls(
            pxname=f.get("pxname", ""),
            svname=f.get("svname", ""),
            type=kind,
            status=f.get("status", ""),
            scur=_count(f.get("scur")),
            smax=_count(f.get("smax")),
            slim=_int(f.get("slim")),
            stot=_count(f.get("stot")),
            bin=_count(f.get("bin")),
            bout=_count(f.get("bout")),
            ereq=_count(f.get("ereq")),
            econ=_count(f.get("econ")),
            eresp=_count(f.get("eresp")),
            weight=_int(f.get("weight")),
            act=_int(f.get("act")),
            bck=_int(f.get("bck")),
            chkfail=_int(f.get("chkfail")),
            lastchg=_int(f.get("lastchg")),
            check_status=_str(f.get("check_status")),
            check_code=_int(f.get("check_code")),
            check_desc=_str(f.get("check_desc")),
            hrsp_5xx=_count(f.get("hrsp_5xx")),
            req_tot=_count(f.get("req_tot")),
            addr=_str(f.get("addr")),
            mode=_str(f.get("mode")),
            iid=_int(f.get("iid")),
            sid=_int(f.get("sid")),
            raw=dict(f),
        )


def parse_show_stat(text: str) -> list[StatRow]:
    """Parse the complete answer to ``show stat`` (header included)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("#"):
        raise StatsParseError("show stat output has no '# pxname,svname,...' header")
    header = [h.strip() for h in lines[0].lstrip("#").strip().split(",")]
    if header[:2] != ["pxname", "svname"]:
        raise StatsParseError(f"unexpected show stat header {lines[0][:60]!r}")
    rows: list[StatRow] = []
    for values in csv.reader(lines[1:]):
        fields = {name: value for name, value in zip(header, values, strict=False) if name}
        rows.append(StatRow.from_fields(fields))
    return rows


@dataclass(frozen=True)
class ServerStateRow:
    """One ``show servers state`` line: what HAProxy reloads from the server-state file."""

    be_id: int
    be_name: str
    srv_id: int
    srv_name: str
    srv_addr: str
    srv_op_state: int  # 0 stopped, 1 starting, 2 running, 3 stopping
    srv_admin_state: int  # bit field, see _ADMIN_MAINT / _ADMIN_DRAIN
    srv_uweight: int
    srv_iweight: int
    srv_port: int | None
    raw: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def in_maintenance(self) -> bool:
        return bool(self.srv_admin_state & _ADMIN_MAINT)

    @property
    def draining(self) -> bool:
        return bool(self.srv_admin_state & _ADMIN_DRAIN)


def parse_server_state(text: str) -> list[ServerStateRow]:
    """Parse ``show servers state`` output (or a server-state file). An empty state has no rows."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    if lines[0].strip() != "1":
        raise StatsParseError(f"unsupported server state version {lines[0].strip()!r}")
    if len(lines) == 1:
        return []
    if not lines[1].startswith("#"):
        raise StatsParseError("server state has no '# be_id be_name ...' header")
    header = lines[1].lstrip("#").split()
    out: list[ServerStateRow] = []
    for line in lines[2:]:
        f = dict(zip(header, line.split(), strict=False))
        try:
            out.append(
                ServerStateRow(
                    be_id=int(f["be_id"]),
                    be_name=f["be_name"],
                    srv_id=int(f["srv_id"]),
                    srv_name=f["srv_name"],
                    srv_addr=f["srv_addr"],
                    srv_op_state=int(f["srv_op_state"]),
                    srv_admin_state=int(f["srv_admin_state"]),
                    srv_uweight=int(f["srv_uweight"]),
                    srv_iweight=int(f["srv_iweight"]),
                    srv_port=_int(f.get("srv_port")),
                    raw=f,
                )
            )
        except (KeyError, ValueError) as exc:
            raise StatsParseError(f"bad server state line {line[:80]!r}") from exc
    return out


def parse_show_info(text: str) -> dict[str, str]:
    """Parse ``show info`` (``Name: value`` lines) into a dict; lines without a colon are ignored."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip():
            out[name.strip()] = value.strip()
    return out


def worker_identity(info: Mapping[str, str]) -> str | None:
    """Which worker process answered (``Pid``, plus its start time when reported): counters are per
    worker and restart at zero in the new worker of every reload."""
    pid = info.get("Pid")
    if not pid:
        return None
    start = info.get("Start_time_sec")
    return f"{pid}@{start}" if start else pid


# ``show stat`` columns that move with time alone (seconds since a change, the last check's duration,
# averages): an idle LB answers a different text every second, but nothing the observer reports moved.
VOLATILE_COLUMNS = frozenset({
    "lastchg", "downtime", "lastsess", "check_duration", "agent_duration", "last_chk", "last_agt",
    "qtime", "ctime", "rtime", "ttime", "qtime_max", "ctime_max", "rtime_max", "ttime_max",
    "rate", "rate_max", "req_rate", "req_rate_max", "conn_rate", "conn_rate_max",
})  # fmt: skip

_volatile_index_cache: dict[str, tuple[int, ...]] = {}


def stat_signature(text: str) -> str:
    """``show stat`` without its volatile columns: equal signatures mean equal statuses and counters,
    so the observer can skip parsing an idle LB's answer."""
    lines = text.split("\n")
    header = lines[0]
    drop = _volatile_index_cache.get(header)
    if drop is None:
        names = header.lstrip("# ").split(",")
        drop = tuple(i for i, n in enumerate(names) if n in VOLATILE_COLUMNS)
        if len(_volatile_index_cache) < 64:
            _volatile_index_cache[header] = drop
    if not drop:
        return text
    out = [header]
    for line in lines[1:]:
        fields = line.split(",")
        for i in drop:
            if i < len(fields):
                fields[i] = ""
        out.append(",".join(fields))
    return "\n".join(out)


def split_info_stat(text: str) -> tuple[str, str]:
    """The answer to ``show info;show stat`` (one connection): (info text, stat text). The stat part
    starts at its ``# pxname`` header line."""
    if text.startswith("# pxname"):
        return "", text
    i = text.find("\n# pxname")
    if i < 0:
        raise StatsParseError("no 'show stat' header in the answer")
    return text[:i], text[i + 1 :]
