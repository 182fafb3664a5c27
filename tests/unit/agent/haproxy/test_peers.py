"""The ``peers`` section of an ACTIVE_STANDBY instance: every value checked again in the renderer (the
goldens ``active_standby_peers*`` show the text, and ``haproxy -c`` accepts them)."""

from __future__ import annotations

from typing import Any

import pytest

from lbaas.agent.haproxy.render import RenderError, render_haproxy
from lbaas.domain.spec import SessionPersistenceSpec, VrrpPeerSpec, VrrpSpec
from tests.unit.agent.haproxy import cases as c


def instance(address: str = "192.0.2.11", peer: str = "192.0.2.12", *, amphora_id: str = "amp-a",
             peer_id: str = "amp-b", **kw: Any) -> str:  # fmt: skip
    vrrp = VrrpSpec(amphora_id=amphora_id, role="BACKUP", priority=100, virtual_router_id=9, address=address,
                    port_id="port-vrrp-a", mac_address="fa:16:3e:00:00:0a",
                    peers=(VrrpPeerSpec(amphora_id=peer_id, address=peer),), **kw)  # fmt: skip
    spec = c.http_lb(session_persistence=SessionPersistenceSpec(type="SOURCE_IP"))
    return render_haproxy(spec.model_copy(update={"topology": "ACTIVE_STANDBY", "vrrp": vrrp}), c.OPTS)


def test_a_single_lb_has_no_peers() -> None:
    text = render_haproxy(c.http_lb(session_persistence=SessionPersistenceSpec(type="SOURCE_IP")), c.OPTS)
    assert "peers" not in text and "localpeer" not in text


def test_an_instance_syncs_its_stick_tables_with_its_peer() -> None:
    text = instance()
    assert "    localpeer amp-a\n" in text
    assert "peers lbaas_peers\n    peer amp-a 192.0.2.11:1025\n    peer amp-b 192.0.2.12:1025\n" in text
    assert "stick-table type ipv6 size 10k peers lbaas_peers\n" in text


@pytest.mark.parametrize(
    "kw",
    [
        {"amphora_id": "amp a"},  # a space would split the line
        {"peer_id": "amp-b\n    peer evil 1.2.3.4:1"},
        {"peer_id": "amp-a"},  # the same name twice
        {"peer": "192.0.2.11"},  # the same address twice
        {"address": "not-an-ip"},
        {"peer": "2001:db8::12"},  # another address family
        {"peer_port": 0},
        {"peer_port": 65536},
    ],
)
def test_bad_peer_values_are_refused(kw: dict[str, Any]) -> None:
    with pytest.raises(RenderError):
        instance(**kw)
