"""The eBPF assembler behind the VLAN tagger: instruction encodings against known bytes, labels, programs.

The reference bytes are what LLVM emits for the same instructions (``llvm-objdump -d`` of a clang-built
object prints e.g. ``b7 00 00 00 00 00 00 00  r0 = 0``); the kernel accepts the assembled programs (see
tests/integration/test_vlan_ebpf.py).
"""

from __future__ import annotations

import pytest

from lbaas.agent.netns import bpf_vlan as b
from lbaas.agent.netns.base import Naming


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (b.mov64_imm(b.R0, 0), "b700000000000000"),  # r0 = 0
        (b.mov64_imm(b.R0, -1), "b7000000ffffffff"),  # r0 = -1
        (b.mov64_imm(b.R2, 0x0081), "b702000081000000"),  # r2 = htons(0x8100) on little endian
        (b.mov64_reg(b.R6, b.R1), "bf16000000000000"),  # r6 = r1
        (b.ldx_w(b.R2, b.R6, 20), "6162140000000000"),  # r2 = *(u32 *)(r6 + 20)
        (b.stx_w(b.R10, -4, b.R2), "632afcff00000000"),  # *(u32 *)(r10 - 4) = r2
        (b.add64_imm(b.R2, -4), "07020000fcffffff"),  # r2 += -4
        (b.and32_imm(b.R2, 0xFFF), "54020000ff0f0000"),  # w2 &= 4095
        (b.call(23), "8500000017000000"),  # call bpf_redirect
        (b.exit_(), "9500000000000000"),  # exit
        (b.ld_map_fd(b.R1, 3), "1811000003000000" "0000000000000000"),  # r1 = map[fd 3] ll
        (b.insn(b.BPF_JMP | b.BPF_JNE | b.BPF_K, b.R0, 0, 6, 0), "5500060000000000"),  # if r0 != 0 goto +6
        (b.insn(b.BPF_JMP | b.BPF_JEQ | b.BPF_K, b.R7, 0, 7, 0), "1507070000000000"),  # if r7 == 0 goto +7
    ],
)
def test_encodings(code: bytes, expected: str) -> None:
    assert code.hex() == expected


def test_immediates_wrap_and_ranges() -> None:
    assert b.insn(0xB7, imm=0xFFFFFFFF) == b.insn(0xB7, imm=-1)
    with pytest.raises(ValueError):
        b.insn(0xB7, imm=1 << 32)
    with pytest.raises(ValueError):
        b.insn(0x05, off=1 << 15)
    with pytest.raises(ValueError):
        b.insn(0xB7, dst=11)


def test_labels_count_slots_forward_and_backward() -> None:
    a = b.Asm()
    a.label("top")
    a.jump(b.BPF_JEQ, b.R1, 5, "end")  # slot 0 -> end at slot 5: off = 5 - 1 = 4
    a.emit(b.ld_map_fd(b.R1, 7))  # slots 1-2 (a double-width instruction counts twice)
    a.emit(b.mov64_imm(b.R0, 0))  # slot 3
    a.jump(b.BPF_JA, 0, 0, "top")  # slot 4 -> 0: off = 0 - 5 = -5
    a.label("end").emit(b.exit_())  # slot 5
    code = a.assemble()
    assert len(code) == 6 * 8
    assert code[0:8].hex() == "1501040005000000"
    assert code[32:40].hex() == "0500fbff00000000"


def test_label_errors() -> None:
    a = b.Asm().jump(b.BPF_JA, 0, 0, "nowhere")
    with pytest.raises(ValueError, match="undefined label"):
        a.assemble()
    with pytest.raises(ValueError, match="twice"):
        b.Asm().label("x").label("x")


def test_tx_program() -> None:
    code = b.tx_program(231, 17)
    insns = [code[i : i + 8] for i in range(0, len(code), 8)]
    assert insns[1] == b.mov64_imm(b.R2, 0x0081)  # ETH_P_8021Q in network order (x86/arm little endian)
    assert insns[2] == b.mov64_imm(b.R3, 231)
    assert insns[3] == b.call(b.FN_SKB_VLAN_PUSH)
    assert insns[4] == bytes.fromhex("5500040000000000")  # push failed -> drop (skips 4 insns)
    assert insns[5] == b.mov64_imm(b.R1, 17) and insns[7] == b.call(b.FN_REDIRECT)
    assert insns[8] == b.exit_()
    assert insns[-2:] == [b.mov64_imm(b.R0, b.TC_ACT_SHOT), b.exit_()]
    with pytest.raises(ValueError):
        b.tx_program(0, 17)
    with pytest.raises(ValueError):
        b.tx_program(4095, 17)
    with pytest.raises(ValueError):
        b.tx_program(10, 0)


def test_rx_program_golden() -> None:
    """The whole RX program, byte for byte (a change here must be deliberate: converged hosts reload it)."""
    assert b.rx_program(3).hex() == (
        "bf16000000000000" "6162140000000000" "1502140000000000" "61621c0000000000"  # vlan_present? proto?
        "5502120081000000" "6162180000000000" "54020000ff0f0000" "632afcff00000000"  # vid = tci & 0xfff
        "bfa2000000000000" "07020000fcffffff" "1811000003000000" "0000000000000000"  # key, map
        "8500000001000000" "1500090000000000" "6107000000000000" "1507070000000000"  # lookup, ifindex
        "bf61000000000000" "8500000013000000" "5500060000000000" "bf71000000000000"  # pop
        "b702000000000000" "8500000017000000" "9500000000000000"  # redirect
        "b7000000ffffffff" "9500000000000000"  # pass: TC_ACT_UNSPEC
        "b700000002000000" "9500000000000000"  # drop: TC_ACT_SHOT
    )


def test_sk_buff_offsets() -> None:
    # struct __sk_buff: len, pkt_type, mark, queue_mapping, protocol, vlan_present, vlan_tci, vlan_proto
    assert (b.SKB_VLAN_PRESENT, b.SKB_VLAN_TCI, b.SKB_VLAN_PROTO) == (5 * 4, 6 * 4, 7 * 4)


def test_tagger_names_fit_and_differ() -> None:
    a, w = Naming().tagger_ifnames("fedcba98-7654-3210-fedc-ba9876543210")
    assert (a, w) == ("vtfedcba9876a", "vtfedcba9876b")
    t = Naming(ns_prefix="x-", vip_prefix="lbtv", tap_prefix="lbtt", bridge_prefix="lbtb", tagger_prefix="lbtg")
    a, w = t.tagger_ifnames("12345678-0000-0000-0000-000000000000")
    assert len(a) == len(w) == 15 and a.startswith("lbtg1234") and a != w
    with pytest.raises(ValueError):
        Naming(tagger_prefix="toolong")


def test_tc_filter_program_id_and_tag_are_read_from_raw_attributes() -> None:
    """pyroute2 does not decode TCA_BPF_TAG/TCA_BPF_ID; the tagger reads them from the raw nested NLA."""
    import struct as st

    from lbaas.agent.netns import vlan_tagger

    def nla(typ: int, payload: bytes) -> bytes:
        raw = st.pack("<HH", 4 + len(payload), typ) + payload
        return raw + b"\0" * (-len(raw) % 4)

    inner = nla(7, b"lbaas_vlan_rx\0") + nla(11, st.pack("<I", 4242)) + nla(10, bytes.fromhex("0011223344556677"))
    outer = nla(2, inner)

    class Options(dict):  # the shape of a pyroute2 nla: a dict plus the message buffer and its position
        data = b"\xff" * 6 + outer
        offset = 6
        length = len(outer)

    assert vlan_tagger._bpf_ids(Options()) == (4242, "0011223344556677")
