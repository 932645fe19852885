"""Review: transport mode across a NAT that rebinds (RFC 7296 2.23, 2.23.1).

The server (IP2, not behind a NAT) substituted the client's private address IP1 in TSi by the NAT's public
address it saw (2.23.1).  When the NAT rebinds (here it restarts with another public address, MOVED), the
server follows the peer (2.23, a PeerMoved event); the transport-mode CHILD SA's selectors must follow too, or
the SPD refuses every packet from or to the new address (RFC 4301 5.1, 5.2).  strongSwan updates its
transport-mode policies the same way.  Only those selectors move: a tunnel-mode SA, and a transport-mode SA
whose selectors are the ones the peer wrote, are untouched; the client (behind the NAT) never follows.
"""

from __future__ import annotations

from typing import Any

import pytest

from ikelab import events as ev
from ikelab.errors import ConfigError
from ikelab.esp_peer import EspPeer
from ikelab.lab import Lab
from ikelab.ts import ts_from_string
from ikelab.ts_negotiation import move_address

from test_review_transport_nat import IP1, IP2, NAT, TransportLab, configs, created

MOVED = "203.0.113.9"


class FollowingLab(TransportLab):
    """TransportLab whose ESP (the SPD check of each inbound packet) takes the selectors a PeerMoved names."""

    def on_event(self, side: str, event: ev.Event) -> None:
        super().on_event(side, event)
        if isinstance(event, ev.PeerMoved):
            for spi_in, ts_local, ts_remote in event.children:
                self.spi_ts[side][spi_in] = (ts_local, ts_remote)


def following_lab(**kw: Any) -> FollowingLab:
    """The client behind the NAT at NAT, both asking for transport mode (as nat_lab), established."""
    lab = FollowingLab(*configs(**kw), seed=5, nat=NAT)
    lab.initiate()
    lab.run_until_idle()
    return lab


def rebind(lab: Lab, public: str = MOVED) -> None:
    """The NAT restarts with the public address ``public`` (its mappings gone); the client's next
    protected message (a liveness check) shows the server where it is now."""
    lab.nat = public
    lab._nat_out.clear()
    lab._nat_in.clear()
    lab.liveness("initiator")
    lab.run_until_idle()


def echoes(lab: TransportLab, seq: int, server_sees: str) -> list[int]:
    """An echo from the client to the server, one back; the sequence numbers of the replies that came."""
    before = len(lab.replies)
    lab.ping("initiator", IP1, IP2, seq)
    lab.run_until_idle()
    lab.ping("responder", IP2, server_sees, seq + 1)
    lab.run_until_idle()
    lab.run(lab.now + 0.1)
    return [s for _, s in lab.replies[before:]]


def ts_text(selectors: tuple[Any, ...]) -> list[str]:
    return [str(t) for t in selectors]


def test_transport_selectors_follow_the_rebinding_and_echoes_get_through() -> None:
    lab = following_lab()
    assert echoes(lab, 1, NAT) == [1, 2]
    (server_child,) = lab.children("responder")
    original = server_child.extra["original_ts"]
    rebind(lab)
    (moved,) = lab.events("responder", ev.PeerMoved)
    assert isinstance(moved, ev.PeerMoved) and moved.old[0] == NAT and moved.new[0] == MOVED
    assert moved.children == ((server_child.spi_in, (f"{IP2}/32",), (f"{MOVED}/32",)),)
    assert not lab.events("initiator", ev.PeerMoved)  # behind the NAT: never follows
    # the engine's record names the address the server sees now; the original selectors are kept as written
    assert ts_text(server_child.ts_remote) == [f"{MOVED}/32"] and ts_text(server_child.ts_local) == [f"{IP2}/32"]
    assert server_child.extra["original_ts"] == original
    (client_child,) = lab.children("initiator")
    assert (ts_text(client_child.ts_local), ts_text(client_child.ts_remote)) == ([f"{IP1}/32"], [f"{IP2}/32"])
    assert echoes(lab, 3, MOVED) == [3, 4] and lab.outside == 0
    assert not lab.events("initiator", ev.Failure) and not lab.events("responder", ev.Failure)


@pytest.mark.parametrize("side", ("initiator", "responder"))
def test_a_rekey_after_the_rebinding_offers_and_installs_the_new_address(side: str) -> None:
    """RFC 7296 2.8: a rekey offers the CHILD SA's own selectors: the moved ones, from either side."""
    lab = following_lab()
    rebind(lab)
    lab.rekey_child(side)
    lab.run_until_idle()
    assert not lab.events("initiator", ev.Failure) and not lab.events("responder", ev.Failure)
    assert created(lab, "responder")[-1].ts_remote == (f"{MOVED}/32",)
    assert created(lab, "initiator")[-1].ts_local == (f"{IP1}/32",)
    assert echoes(lab, 5, MOVED) == [5, 6] and lab.outside == 0


@pytest.mark.parametrize("side", ("initiator", "responder"))
def test_a_rekey_in_flight_while_the_nat_rebinds(side: str) -> None:
    """The rekey request is out when the NAT rebinds, and the client's next message moves the server (2.23).
    The server's own request offered the old address; the answer, read with the address of now (2.23.1), names
    the new one, which is no narrowing of what it sent: the offer moves with the peer, the rekey completes, and
    the new CHILD SA holds the new address.  (Before, the server's rekey failed with TS_UNACCEPTABLE.)"""
    lab = following_lab()
    (old,) = lab.children("responder")
    lab.rekey_child(side)  # the request is on its way, through the NAT's old mapping
    rebind(lab)
    assert not lab.events("initiator", ev.Failure) and not lab.events("responder", ev.Failure)
    (new,) = lab.children("responder")
    assert new.spi_in != old.spi_in and new.rekey_of == old.spi_in
    assert ts_text(new.ts_remote) == [f"{MOVED}/32"] and ts_text(new.ts_local) == [f"{IP2}/32"]
    (client,) = lab.children("initiator")
    assert (ts_text(client.ts_local), ts_text(client.ts_remote)) == ([f"{IP1}/32"], [f"{IP2}/32"])
    assert echoes(lab, 7, MOVED) == [7, 8] and lab.outside == 0


def test_a_port_only_rebinding_changes_no_selector() -> None:
    """The NAT keeps its address and gives the client another port: the IKE SA follows, no selector moves."""
    lab = following_lab()
    (child,) = lab.children("responder")
    before = child.ts_remote
    rebind(lab, NAT)
    (moved,) = lab.events("responder", ev.PeerMoved)
    assert isinstance(moved, ev.PeerMoved) and moved.old != moved.new and moved.children == ()
    assert child.ts_remote is before
    assert echoes(lab, 1, NAT) == [1, 2] and lab.outside == 0


def test_a_tunnel_mode_sa_is_untouched() -> None:
    lab = following_lab(mode="tunnel")
    (child,) = lab.children("responder")
    before = (child.ts_local, child.ts_remote)
    rebind(lab)
    (moved,) = lab.events("responder", ev.PeerMoved)
    assert isinstance(moved, ev.PeerMoved) and moved.new[0] == MOVED and moved.children == ()
    assert (child.ts_local, child.ts_remote) == before and child.ts_remote is before[1]


def test_transport_selectors_the_peer_wrote_are_untouched() -> None:
    """No NAT when the CHILD SA was made (nothing substituted), then the client moves behind one: the server
    follows it (2.23), but the SA's selectors are the client's own word, bound to its old address."""
    lab = FollowingLab(*configs(), seed=5)
    lab.initiate()
    lab.run_until_idle()
    (child,) = lab.children("responder")
    assert child.mode == "transport" and "original_ts" not in child.extra
    before = child.ts_remote
    rebind(lab)
    (moved,) = lab.events("responder", ev.PeerMoved)
    assert isinstance(moved, ev.PeerMoved) and moved.old[0] == IP1 and moved.new[0] == MOVED
    assert moved.children == () and child.ts_remote is before


def test_move_address() -> None:
    host = (ts_from_string(f"{NAT}/32"),)
    assert ts_text(move_address(host, NAT, MOVED)) == [f"{MOVED}/32"]
    wider = (ts_from_string("203.0.113.0/24"), ts_from_string(f"{NAT}-203.0.113.10"), ts_from_string(f"{IP1}/32"),
             ts_from_string("2001:db8::1/128"))
    assert move_address(wider, NAT, MOVED) is wider  # a range, another host, the other family: nothing moves
    assert move_address(host, NAT, "2001:db8::9") is host  # never a selector of the other family
    with pytest.raises(ConfigError):
        move_address(host, "not an address", MOVED)


class FakeDriver:
    """The little of a NetDriver EspPeer uses: the clock, the ESP handler, send_esp (kept in ``sent``)."""

    def __init__(self) -> None:
        self.esp_handler: Any = None
        self.sent: list[tuple[bytes, int, tuple[str, int]]] = []

    def now(self) -> float:
        return 0.0

    def send_esp(self, payload: bytes, src_port: int, dst: tuple[str, int]) -> None:
        self.sent.append((payload, src_port, dst))


def test_esp_peer_takes_the_moved_selectors() -> None:
    """Two EspPeers with the lab's CHILD SA; after the server's PeerMoved the server answers the client's echo
    from the new public address (inside the SA's selectors), and sends its own echo there."""
    lab = following_lab()
    rebind(lab)
    (moved,) = lab.events("responder", ev.PeerMoved)
    assert isinstance(moved, ev.PeerMoved)
    drivers = {side: FakeDriver() for side in ("initiator", "responder")}
    peers = {side: EspPeer(drivers[side], out=lambda text: None) for side in drivers}  # type: ignore[arg-type]
    for side in drivers:
        peers[side].on_event(created(lab, side)[-1])
    server, client = peers["responder"], peers["initiator"]
    old_selectors = server.selectors[moved.children[0][0]]
    server.on_event(moved)
    assert server.selectors[moved.children[0][0]] != old_selectors
    assert server.outbound[0][2].remote_addr == MOVED and server.destinations[server.outbound[0][0]] == moved.new
    assert client.ping(IP1, IP2, 7)
    (payload, _, _), = drivers["initiator"].sent
    server.received(payload, moved.new, (IP2, 4500))  # through the NAT: from its new public address
    assert server.requests_answered == 1 and not server.errors
    (reply, _, there), = drivers["responder"].sent
    assert there == moved.new
    client.received(reply, (IP2, 4500), (IP1, 4500))
    assert client.replies == [7] and not client.errors
    assert server.ping(IP2, MOVED, 8) and not server.ping(IP2, NAT, 9)  # the old address is no longer the SA's


def test_esp_peer_ignores_a_move_that_names_no_child() -> None:
    lab = following_lab(mode="tunnel")
    rebind(lab)
    (moved,) = lab.events("responder", ev.PeerMoved)
    peer = EspPeer(FakeDriver(), out=lambda text: None)  # type: ignore[arg-type]
    event = created(lab, "responder")[-1]
    peer.on_event(event)
    before = dict(peer.selectors)
    peer.on_event(moved)
    assert peer.selectors == before and peer.outbound[0][2] is event


def test_without_following_the_move_the_lab_spd_drops_the_echoes() -> None:
    """The check the other tests rely on: a lab that keeps the selectors of before the move (it ignores PeerMoved)
    drops what the client now sends from MOVED, as an SPD would (RFC 4301 5.2), and no echo gets through."""
    lab = TransportLab(*configs(), seed=5, nat=NAT)
    lab.initiate()
    lab.run_until_idle()
    assert echoes(lab, 1, NAT) == [1, 2] and lab.outside == 0
    rebind(lab)
    assert echoes(lab, 3, MOVED) == [] and lab.outside == 2
