"""802.1Q tagging without the kernel's 8021q module: two tiny eBPF programs for tc (cls_bpf, direct action).

Some hosts run kernels built without ``CONFIG_VLAN_8021Q`` (no ``ip link add ... type vlan``, no bridge
VLAN filtering) and without ``act_vlan``. They still have cls_bpf, and eBPF helpers that push and pop
802.1Q tags and redirect frames, which is all a VLAN uplink needs. This module assembles the programs in
Python (no clang, no libbpf), and talks to bpf(2) through ctypes. It does not import pyroute2: attaching
the programs to tc is the plumber's business.

The two programs (per VLAN network, a veth pair ``<t>a``/``<t>b``; ``<t>a`` is a port of the bridge)::

    TX, on <t>b ingress (frames leaving the bridge through <t>a):
        skb_vlan_push(0x8100, vid); redirect(phys egress)               # constants baked in
    RX, on <phys> ingress (one program per physical interface, a hash map vid -> ifindex of <t>b):
        if a C-tag is present and map[vid] exists: skb_vlan_pop; redirect(<t>b egress) -> enters <t>a
        else: TC_ACT_UNSPEC (untagged frames, other VIDs, S-tags go on to the next filter / the stack)

The receive path of the kernel moves an in-payload outer tag into skb metadata (``skb_vlan_untag`` in
``__netif_receive_skb_core``) *before* tc ingress runs, whatever the NIC offloads, so the RX program
only has to read ``__sk_buff.vlan_present``/``vlan_tci``/``vlan_proto`` (measured on veths too).

Lifetime: a tc filter holds a reference on its program, and the program on its map, so both outlive the
process that loaded them (no bpffs pin needed). After a restart the map is found again from the filter:
program id (TCA_BPF_ID) -> ``BPF_PROG_GET_FD_BY_ID`` -> ``bpf_prog_info.map_ids`` -> ``BPF_MAP_GET_FD_BY_ID``.

Recognising a converged filter: compare its program tag (TCA_BPF_TAG) with the tag the kernel gives the
program we would load now. The hash behind the tag depends on the kernel (SHA-1 of the
instructions in older kernels, SHA-256 on 6.18, measured), so we load the candidate and ask the kernel
(``prog_info``): about 0.2 ms per check.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

# -- instruction encoding (include/uapi/linux/bpf.h, bpf_common.h) -----------------------------------

# classes
BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_ALU64 = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x07
# sizes / modes
BPF_W, BPF_H, BPF_B, BPF_DW = 0x00, 0x08, 0x10, 0x18
BPF_IMM, BPF_MEM = 0x00, 0x60
# sources
BPF_K, BPF_X = 0x00, 0x08
# alu ops
BPF_ADD, BPF_AND, BPF_MOV = 0x00, 0x50, 0xB0
# jump ops
BPF_JA, BPF_JEQ, BPF_JNE, BPF_CALL, BPF_EXIT = 0x00, 0x10, 0x50, 0x80, 0x90

BPF_PSEUDO_MAP_FD = 1

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)

# helpers (enum bpf_func_id)
FN_MAP_LOOKUP_ELEM = 1
FN_SKB_VLAN_PUSH = 18
FN_SKB_VLAN_POP = 19
FN_REDIRECT = 23

# tc verdicts (include/uapi/linux/pkt_cls.h)
TC_ACT_UNSPEC = -1
TC_ACT_OK = 0
TC_ACT_SHOT = 2
TC_ACT_REDIRECT = 7

# struct __sk_buff offsets (include/uapi/linux/bpf.h)
SKB_VLAN_PRESENT = 20
SKB_VLAN_TCI = 24
SKB_VLAN_PROTO = 28

ETH_P_8021Q = 0x8100
VID_MASK = 0x0FFF


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One 8-byte ``struct bpf_insn``: code, dst_reg:4 | src_reg:4 << 4, s16 off, s32 imm (little endian)."""
    if not (0 <= dst <= 10 and 0 <= src <= 10):
        raise ValueError("register out of range")
    if not -(1 << 15) <= off < (1 << 15):
        raise ValueError(f"offset {off} does not fit 16 bits")
    if not -(1 << 31) <= imm < (1 << 32):
        raise ValueError(f"immediate {imm} does not fit 32 bits")
    if imm >= 1 << 31:
        imm -= 1 << 32
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def mov64_imm(dst: int, imm: int) -> bytes:
    return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)


def mov64_reg(dst: int, src: int) -> bytes:
    return insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src)


def add64_imm(dst: int, imm: int) -> bytes:
    return insn(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm)


def and32_imm(dst: int, imm: int) -> bytes:
    return insn(BPF_ALU | BPF_AND | BPF_K, dst, 0, 0, imm)


def ldx_w(dst: int, src: int, off: int) -> bytes:
    return insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off)


def stx_w(dst: int, off: int, src: int) -> bytes:
    return insn(BPF_STX | BPF_MEM | BPF_W, dst, src, off)


def ld_map_fd(dst: int, fd: int) -> bytes:
    """The two-slot ``lddw dst, map`` with src_reg = BPF_PSEUDO_MAP_FD (the verifier swaps in the map)."""
    return insn(BPF_LD | BPF_IMM | BPF_DW, dst, BPF_PSEUDO_MAP_FD, 0, fd) + insn(0)


def call(fn: int) -> bytes:
    return insn(BPF_JMP | BPF_CALL, imm=fn)


def exit_() -> bytes:
    return insn(BPF_JMP | BPF_EXIT)


class Asm:
    """A straight-line assembler with forward/backward labels for conditional jumps."""

    def __init__(self) -> None:
        self._items: list[bytes | tuple[int, int, int, str]] = []
        self._labels: dict[str, int] = {}
        self._slots = 0

    def emit(self, *code: bytes) -> Asm:
        for c in code:
            if len(c) % 8:
                raise ValueError("instructions are 8 bytes")
            self._items.append(c)
            self._slots += len(c) // 8
        return self

    def jump(self, op: int, reg: int, imm: int, label: str) -> Asm:
        """``if reg <op> imm goto label`` (op is BPF_JEQ, BPF_JNE...; BPF_JA ignores reg and imm)."""
        self._items.append((op, reg, imm, label))
        self._slots += 1
        return self

    def label(self, name: str) -> Asm:
        if name in self._labels:
            raise ValueError(f"label {name!r} defined twice")
        self._labels[name] = self._slots
        return self

    def assemble(self) -> bytes:
        out = bytearray()
        slot = 0
        for item in self._items:
            if isinstance(item, bytes):
                out += item
                slot += len(item) // 8
                continue
            op, reg, imm, label = item
            if label not in self._labels:
                raise ValueError(f"undefined label {label!r}")
            out += insn(BPF_JMP | op | BPF_K, reg, 0, self._labels[label] - (slot + 1), imm)
            slot += 1
        return bytes(out)


def htons16(value: int) -> int:
    """A 16-bit network-order value as the CPU reads it from a ``__be16`` field."""
    return socket.htons(value)


def tx_program(vid: int, ifindex: int) -> bytes:
    """Push C-tag ``vid`` and redirect to ``ifindex``'s egress; SHOT if the push fails (no memory)."""
    if not 1 <= vid <= 4094:
        raise ValueError(f"VLAN id {vid} out of range 1..4094")
    if ifindex <= 0:
        raise ValueError("ifindex must be positive")
    a = Asm()
    a.emit(
        mov64_reg(R6, R1),
        mov64_imm(R2, htons16(ETH_P_8021Q)),
        mov64_imm(R3, vid),
        call(FN_SKB_VLAN_PUSH),  # r1 = skb is still in place
    )
    a.jump(BPF_JNE, R0, 0, "drop")
    a.emit(mov64_imm(R1, ifindex), mov64_imm(R2, 0), call(FN_REDIRECT), exit_())
    a.label("drop").emit(mov64_imm(R0, TC_ACT_SHOT), exit_())
    return a.assemble()


def rx_program(map_fd: int) -> bytes:
    """Frames carrying a C-tag whose VID is a key of ``map_fd`` (u32 vid -> u32 ifindex) are popped and
    redirected to that ifindex's egress; everything else returns TC_ACT_UNSPEC (next filter / stack)."""
    a = Asm()
    a.emit(mov64_reg(R6, R1), ldx_w(R2, R6, SKB_VLAN_PRESENT))
    a.jump(BPF_JEQ, R2, 0, "pass")
    a.emit(ldx_w(R2, R6, SKB_VLAN_PROTO))
    a.jump(BPF_JNE, R2, htons16(ETH_P_8021Q), "pass")
    a.emit(
        ldx_w(R2, R6, SKB_VLAN_TCI),
        and32_imm(R2, VID_MASK),
        stx_w(R10, -4, R2),  # key on the stack
        mov64_reg(R2, R10),
        add64_imm(R2, -4),
        ld_map_fd(R1, map_fd),
        call(FN_MAP_LOOKUP_ELEM),
    )
    a.jump(BPF_JEQ, R0, 0, "pass")
    a.emit(ldx_w(R7, R0, 0))
    a.jump(BPF_JEQ, R7, 0, "pass")
    a.emit(mov64_reg(R1, R6), call(FN_SKB_VLAN_POP))
    a.jump(BPF_JNE, R0, 0, "drop")
    a.emit(mov64_reg(R1, R7), mov64_imm(R2, 0), call(FN_REDIRECT), exit_())
    a.label("pass").emit(mov64_imm(R0, TC_ACT_UNSPEC), exit_())
    a.label("drop").emit(mov64_imm(R0, TC_ACT_SHOT), exit_())
    return a.assemble()


# -- bpf(2) -------------------------------------------------------------------------------------------

BPF_MAP_CREATE = 0
BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_MAP_DELETE_ELEM = 3
BPF_MAP_GET_NEXT_KEY = 4
BPF_PROG_LOAD = 5
BPF_PROG_GET_FD_BY_ID = 13
BPF_MAP_GET_FD_BY_ID = 14
BPF_OBJ_GET_INFO_BY_FD = 15

BPF_MAP_TYPE_HASH = 1
BPF_PROG_TYPE_SCHED_CLS = 3
BPF_ANY = 0

ATTR_SIZE = 128  # larger than every field we set; the kernel accepts zeroed tails
_SYSCALL_NR = {"x86_64": 321, "aarch64": 280, "armv7l": 386, "ppc64le": 361, "s390x": 351, "riscv64": 280}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class BpfError(OSError):
    """A failing bpf(2) call; ``log`` holds the verifier's explanation for a rejected program."""

    def __init__(self, err: int, what: str, log: str = "") -> None:
        super().__init__(err, f"{what}: {os.strerror(err)}" + (f"\n{log}" if log else ""))
        self.log = log


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char], what: str) -> int:
    nr = _SYSCALL_NR.get(platform.machine())
    if nr is None:
        raise BpfError(errno.ENOSYS, f"bpf(2) syscall number unknown on {platform.machine()}")
    ret = int(_libc.syscall(ctypes.c_long(nr), ctypes.c_int(cmd), attr, ctypes.c_uint(len(attr))))
    if ret < 0:
        raise BpfError(ctypes.get_errno(), what)
    return ret


def _attr() -> ctypes.Array[ctypes.c_char]:
    return ctypes.create_string_buffer(ATTR_SIZE)


def _addr(buf: ctypes.Array[ctypes.c_char]) -> int:
    return ctypes.addressof(buf)


def _name16(name: str) -> bytes:
    raw = name.encode()[:15]
    if any(not (chr(c).isalnum() or chr(c) in "_.") for c in raw):
        raise ValueError(f"bpf object name {name!r}: only [A-Za-z0-9_.]")
    return raw


def map_create_u32(name: str, max_entries: int) -> int:
    """A BPF_MAP_TYPE_HASH u32 -> u32; returns its fd."""
    attr = _attr()
    struct.pack_into("<IIIII", attr, 0, BPF_MAP_TYPE_HASH, 4, 4, max_entries, 0)
    struct.pack_into("16s", attr, 28, _name16(name))
    return _bpf(BPF_MAP_CREATE, attr, f"create map {name}")


def _elem(cmd: int, map_fd: int, key: int, value: ctypes.Array[ctypes.c_char] | None, flags: int,
          what: str) -> None:
    k = ctypes.create_string_buffer(struct.pack("<I", key), 4)
    attr = _attr()
    struct.pack_into("<IIQQQ", attr, 0, map_fd, 0, _addr(k), _addr(value) if value is not None else 0, flags)
    _bpf(cmd, attr, what)


def map_update_u32(map_fd: int, key: int, value: int) -> None:
    _elem(BPF_MAP_UPDATE_ELEM, map_fd, key, ctypes.create_string_buffer(struct.pack("<I", value), 4), BPF_ANY,
          f"map update {key}")


def map_lookup_u32(map_fd: int, key: int) -> int | None:
    v = ctypes.create_string_buffer(4)
    try:
        _elem(BPF_MAP_LOOKUP_ELEM, map_fd, key, v, 0, f"map lookup {key}")
    except BpfError as e:
        if e.errno == errno.ENOENT:
            return None
        raise
    return int(struct.unpack("<I", v.raw)[0])


def map_delete_u32(map_fd: int, key: int) -> bool:
    try:
        _elem(BPF_MAP_DELETE_ELEM, map_fd, key, None, 0, f"map delete {key}")
    except BpfError as e:
        if e.errno == errno.ENOENT:
            return False
        raise
    return True


def map_keys_u32(map_fd: int) -> Iterator[int]:
    k = ctypes.create_string_buffer(4)
    nxt = ctypes.create_string_buffer(4)
    attr = _attr()
    first = True
    while True:
        struct.pack_into("<IIQQ", attr, 0, map_fd, 0, 0 if first else _addr(k), _addr(nxt))
        try:
            _bpf(BPF_MAP_GET_NEXT_KEY, attr, "map next key")
        except BpfError as e:
            if e.errno == errno.ENOENT:
                return
            raise
        first = False
        k.raw = nxt.raw
        yield int(struct.unpack("<I", nxt.raw)[0])


def map_items_u32(map_fd: int) -> dict[int, int]:
    out = {}
    for k in list(map_keys_u32(map_fd)):
        v = map_lookup_u32(map_fd, k)
        if v is not None:
            out[k] = v
    return out


def prog_load(code: bytes, name: str, license: str = "GPL") -> int:
    """Load a SCHED_CLS program; on rejection the verifier log is in the raised BpfError."""
    if not code or len(code) % 8:
        raise ValueError("program must be a non-empty multiple of 8 bytes")
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(license.encode())
    attr = _attr()
    struct.pack_into("<IIQQ", attr, 0, BPF_PROG_TYPE_SCHED_CLS, len(code) // 8, _addr(insns), _addr(lic))
    struct.pack_into("16s", attr, 48, _name16(name))
    try:
        return _bpf(BPF_PROG_LOAD, attr, f"load program {name}")
    except BpfError as e:
        if e.errno not in (errno.EINVAL, errno.EACCES):
            raise
    log = ctypes.create_string_buffer(65536)  # second attempt only to explain the failure
    struct.pack_into("<IIQ", attr, 24, 1, len(log), _addr(log))
    try:
        return _bpf(BPF_PROG_LOAD, attr, f"load program {name}")
    except BpfError as e:
        raise BpfError(e.errno or errno.EINVAL, f"load program {name}",
                       log.value.decode(errors="replace")) from None


def prog_fd_by_id(prog_id: int) -> int:
    attr = _attr()
    struct.pack_into("<I", attr, 0, prog_id)
    return _bpf(BPF_PROG_GET_FD_BY_ID, attr, f"program id {prog_id}")


def map_fd_by_id(map_id: int) -> int:
    attr = _attr()
    struct.pack_into("<I", attr, 0, map_id)
    return _bpf(BPF_MAP_GET_FD_BY_ID, attr, f"map id {map_id}")


@dataclass(frozen=True)
class ProgInfo:
    id: int
    tag: str
    name: str
    map_ids: tuple[int, ...]


def prog_info(prog_fd: int) -> ProgInfo:
    """``struct bpf_prog_info``: id (4), tag (8), nr_map_ids (52), map_ids (56), name (64)."""
    map_ids = (ctypes.c_uint32 * 8)()
    info = ctypes.create_string_buffer(96)
    struct.pack_into("<IQ", info, 52, len(map_ids), ctypes.addressof(map_ids))
    attr = _attr()
    struct.pack_into("<IIQ", attr, 0, prog_fd, len(info), _addr(info))
    _bpf(BPF_OBJ_GET_INFO_BY_FD, attr, "program info")
    pid = struct.unpack_from("<I", info, 4)[0]
    tag = info.raw[8:16].hex()
    n = min(struct.unpack_from("<I", info, 52)[0], len(map_ids))
    name = info.raw[64:80].split(b"\0", 1)[0].decode(errors="replace")
    return ProgInfo(pid, tag, name, tuple(int(map_ids[i]) for i in range(n)))


def prog_exists(prog_id: int) -> bool:
    try:
        fd = prog_fd_by_id(prog_id)
    except BpfError as e:
        if e.errno == errno.ENOENT:
            return False
        raise
    os.close(fd)
    return True
