"""tc wiring of the eBPF VLAN tagger (``bpf_vlan``): clsact qdiscs and cls_bpf filters, through pyroute2.

Used by ``pyroute2_plumber`` on kernels without 8021q. Per VLAN network, a veth pair ``<t>a``/``<t>b``
(``Naming.tagger_ifnames``); ``<t>a`` is a port of the network's bridge::

    brq<net> ── <t>a ══veth══ <t>b  [ingress: TX program: push vid, redirect to <phys> egress]
    <phys>  [ingress: RX program + hash map vid -> ifindex of <t>b: pop, redirect to <t>b egress]

Everything we attach sits at ingress, priority ``PRIO``, handle 1, with a recognisable filter name
(``tc filter show dev <phys> ingress`` shows ``lbaas_vlan_rx``), so other filters on the same interface
keep working: the RX program returns TC_ACT_UNSPEC for anything it does not own. One RX program and one
map per physical interface, however many VLANs; a VLAN is one map entry.

Nothing is pinned: the filter holds the program and the program the map (they survive the agent). The
map is found again from the filter's program id.
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pyroute2 import NetlinkError

from lbaas.agent.netns import bpf_vlan
from lbaas.agent.netns.base import PlumbingError

PRIO = 0x4C42  # 19522, "LB"
HANDLE = 1
TC_H_CLSACT = 0xFFFFFFF1
INGRESS = 0xFFFFFFF2  # TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)
EGRESS = 0xFFFFFFF3
RX_NAME = "lbaas_vlan_rx"
TX_NAME = "lbaas_vlan_tx"
MAP_NAME = "lbaas_vlan_map"
MAX_VLANS = 4096
TCA_BPF_TAG = 10
TCA_BPF_ID = 11


@dataclass(frozen=True)
class TcFilter:
    """One classifier instance at an ingress hook (the per-priority chain headers are skipped)."""

    prio: int
    handle: int
    kind: str
    name: str | None
    prog_id: int | None
    tag: str | None


def _bpf_ids(options: Any) -> tuple[int | None, str | None]:
    """TCA_BPF_ID and TCA_BPF_TAG from a filter's TCA_OPTIONS. pyroute2 (0.9) does not decode them, so
    read the raw attributes of the nested NLA (``data``/``offset``/``length`` of any pyroute2 nla)."""
    prog_id = options.get("TCA_BPF_ID") if hasattr(options, "get") else None
    tag = None
    raw = bytes(options.data[options.offset + 4 : options.offset + options.length])
    pos = 0
    while pos + 4 <= len(raw):
        length, typ = struct.unpack_from("<HH", raw, pos)
        if length < 4:
            break
        payload = raw[pos + 4 : pos + length]
        typ &= 0x3FFF
        if typ == TCA_BPF_ID and len(payload) >= 4 and prog_id is None:
            prog_id = struct.unpack_from("<I", payload)[0]
        elif typ == TCA_BPF_TAG and len(payload) >= 8:
            tag = payload[:8].hex()
        pos += (length + 3) & ~3
    return (int(prog_id) if prog_id is not None else None), tag


def ingress_filters(ipr: Any, ifindex: int) -> list[TcFilter]:
    """The filters at ``ifindex``'s clsact ingress hook (empty if there is no clsact qdisc)."""
    try:
        msgs = ipr.get_filters(index=ifindex, parent=INGRESS)
    except NetlinkError as e:
        if e.code in (errno.EINVAL, errno.ENOENT, errno.ENODEV):
            return []
        raise
    out = []
    for m in msgs:
        options = m.get("TCA_OPTIONS")
        if options is None:
            continue  # chain header of a priority
        prog_id, tag = _bpf_ids(options) if m.get("TCA_KIND") == "bpf" else (None, None)
        name = options.get("TCA_BPF_NAME") if m.get("TCA_KIND") == "bpf" else None
        out.append(TcFilter(int(m["info"]) >> 16, int(m["handle"]), str(m.get("TCA_KIND")), name, prog_id, tag))
    return out


def _ours(ipr: Any, ifindex: int, name: str) -> TcFilter | None:
    """Our filter ``name`` at (PRIO, HANDLE), None if absent; a foreign filter there is an error."""
    for f in ingress_filters(ipr, ifindex):
        if f.prio != PRIO:
            continue
        if f.kind != "bpf" or f.name != name or f.handle != HANDLE or f.prog_id is None:
            raise PlumbingError(f"ingress priority {PRIO} of ifindex {ifindex} holds a foreign filter "
                                f"({f.kind} {f.name!r} handle {f.handle}); expected {name}")
        return f
    return None


def _has_clsact(ipr: Any, ifindex: int) -> bool:
    return any(q.get("TCA_KIND") == "clsact" for q in ipr.get_qdiscs(index=ifindex))


def _ensure_clsact(ipr: Any, ifindex: int) -> None:
    if _has_clsact(ipr, ifindex):
        return
    try:
        ipr.tc("add", "clsact", ifindex)
    except NetlinkError as e:
        if e.code != errno.EEXIST:
            raise


def _attach(ipr: Any, ifindex: int, prog_fd: int, name: str, *, replace: bool) -> None:
    _ensure_clsact(ipr, ifindex)
    ipr.tc("replace-filter" if replace else "add-filter", "bpf", ifindex, HANDLE, fd=prog_fd, name=name,
           parent=INGRESS, prio=PRIO, direct_action=True)


@contextmanager
def _fd(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


def _converged(current: TcFilter | None, candidate_fd: int) -> bool:
    return current is not None and current.tag == bpf_vlan.prog_info(candidate_fd).tag


def ensure_tx(ipr: Any, ifindex: int, vid: int, phys_index: int) -> bool:
    """The TX program on ``ifindex`` ingress: push ``vid``, redirect to ``phys_index``. True if changed."""
    current = _ours(ipr, ifindex, TX_NAME)
    with _fd(bpf_vlan.prog_load(bpf_vlan.tx_program(vid, phys_index), TX_NAME)) as fd:
        if _converged(current, fd):
            return False
        _attach(ipr, ifindex, fd, TX_NAME, replace=current is not None)
    return True


@contextmanager
def _rx_map(ipr: Any, phys_index: int) -> Iterator[tuple[TcFilter | None, int | None]]:
    """(our RX filter, an fd of its map), or (None, None) when ``phys_index`` has no RX filter."""
    current = _ours(ipr, phys_index, RX_NAME)
    if current is None or current.prog_id is None:
        yield None, None
        return
    try:
        prog_fd = bpf_vlan.prog_fd_by_id(current.prog_id)
    except bpf_vlan.BpfError as e:
        raise PlumbingError(f"RX program {current.prog_id} on ifindex {phys_index}: {e}") from e
    with _fd(prog_fd):
        info = bpf_vlan.prog_info(prog_fd)
    if len(info.map_ids) != 1:
        raise PlumbingError(f"RX program {info.id} on ifindex {phys_index} has maps {info.map_ids}")
    with _fd(bpf_vlan.map_fd_by_id(info.map_ids[0])) as map_fd:
        yield current, map_fd


def rx_entries(ipr: Any, phys_index: int) -> dict[int, int]:
    """VLAN id -> ifindex, as the RX program of ``phys_index`` sees it ({} if it has none)."""
    with _rx_map(ipr, phys_index) as (_, map_fd):
        return bpf_vlan.map_items_u32(map_fd) if map_fd is not None else {}


def ensure_rx_entry(ipr: Any, phys_index: int, vid: int, target_index: int,
                    alive: Callable[[int], bool] = lambda ifindex: False) -> bool:
    """Frames tagged ``vid`` arriving on ``phys_index`` go (untagged) to ``target_index``'s egress.

    The RX program and its map are created on first use and reloaded (keeping the map) if the program
    differs from what this code would load. ``alive(ifindex)`` tells whether an existing entry for
    ``vid`` toward another interface is still in use (then it is a conflict). True if anything changed."""
    changed = False
    with _rx_map(ipr, phys_index) as (current, map_fd):
        if map_fd is None:
            with _fd(bpf_vlan.map_create_u32(MAP_NAME, MAX_VLANS)) as new_map:
                bpf_vlan.map_update_u32(new_map, vid, target_index)
                with _fd(bpf_vlan.prog_load(bpf_vlan.rx_program(new_map), RX_NAME)) as prog:
                    _attach(ipr, phys_index, prog, RX_NAME, replace=False)
            return True
        with _fd(bpf_vlan.prog_load(bpf_vlan.rx_program(map_fd), RX_NAME)) as prog:
            if not _converged(current, prog):
                _attach(ipr, phys_index, prog, RX_NAME, replace=True)  # atomic; the map is kept
                changed = True
        have = bpf_vlan.map_lookup_u32(map_fd, vid)
        if have == target_index:
            return changed
        if have is not None and alive(have):
            raise PlumbingError(f"VLAN {vid} on ifindex {phys_index} is already delivered to ifindex {have}")
        bpf_vlan.map_update_u32(map_fd, vid, target_index)
        return True


def remove_rx_entry(ipr: Any, phys_index: int, vid: int, target_index: int | None) -> bool:
    """Drop ``vid`` (only if it points at ``target_index``, or whatever it points at if None). The RX
    filter goes when its map is empty, and the clsact qdisc when it holds no filter at all."""
    with _rx_map(ipr, phys_index) as (current, map_fd):
        if map_fd is None:
            return False
        have = bpf_vlan.map_lookup_u32(map_fd, vid)
        removed = have is not None and (target_index is None or have == target_index)
        if removed:
            bpf_vlan.map_delete_u32(map_fd, vid)
        empty = not any(True for _ in bpf_vlan.map_keys_u32(map_fd))
    if empty and current is not None:
        try:
            ipr.tc("del-filter", "bpf", phys_index, HANDLE, parent=INGRESS, prio=PRIO)
        except NetlinkError as e:
            if e.code not in (errno.ENOENT, errno.EINVAL):
                raise
        _remove_clsact_if_empty(ipr, phys_index)
    return removed


def _remove_clsact_if_empty(ipr: Any, ifindex: int) -> None:
    if not _has_clsact(ipr, ifindex) or ingress_filters(ipr, ifindex):
        return
    try:
        if ipr.get_filters(index=ifindex, parent=EGRESS):
            return
        ipr.tc("del", "clsact", ifindex)
    except NetlinkError as e:
        if e.code not in (errno.ENOENT, errno.EINVAL):
            raise
