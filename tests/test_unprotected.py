"""Forged messages without an SK payload (RFC 7296 2.21, 2.3, 2.4).

Anyone who has seen an IKE SA's two SPIs can send a bare 28-octet header with them.  Before the
IKE_SA_INIT exchange is over such a message may be genuine (an IKE_SA_INIT retransmission); after it,
only a message whose ICV verifies may cause anything: not a resent response (that would make the peer
a reflector towards a forged source address), and not a fresh liveness timestamp (that would keep a dead
peer's SA up for ever).
"""

from __future__ import annotations

import struct

from ikelab import events as ev
from ikelab.constants import ExchangeType
from ikelab.endpoint import IkeEndpoint
from ikelab.exchanges_common import Datagram
from ikelab.lab import Lab
from ikelab.rand import DeterministicRandom
from ikelab.state import State

from test_ike import configs, established

VICTIM = ("198.51.100.77", 500)


def bare_header(sa, exchange: int, message_id: int, *, flags: int = 0x08) -> bytes:
    """HDR only (no payloads): the SA's SPIs, Next Payload 0, version 2.0, I flag, length 28."""
    return sa.spi_i + sa.spi_r + bytes([0, 0x20, exchange, flags]) + struct.pack("!II", message_id, 28)


def deliver(lab: Lab, side: str, data: bytes, src: tuple[str, int] = VICTIM) -> list[Datagram]:
    """Hand ``data`` to the endpoint directly (from ``src``), and return what it sends back."""
    endpoint = lab.endpoints[side]
    endpoint.pop_events()
    endpoint.receive(Datagram(data, src, (endpoint.local_addr, endpoint.port)), lab.now)
    return endpoint.pop_datagrams()


def test_a_forged_ike_sa_init_header_does_not_bring_back_the_cached_response() -> None:
    lab = established()
    sun = lab.responder
    cached_id = sun._cached_response.message_id  # the IKE_AUTH response, Message ID 1
    before = sun.snapshot()
    assert deliver(lab, "responder", bare_header(sun, ExchangeType.IKE_SA_INIT, cached_id)) == []
    (dropped,) = lab.endpoints["responder"].pop_events()
    assert isinstance(dropped, ev.MessageDropped) and "unprotected IKE_SA_INIT message in state ESTABLISHED" in dropped.reason
    assert sun.snapshot() == before


def test_a_forged_header_is_no_sign_of_life() -> None:
    """RFC 7296 2.4: the peer is alive when a *protected* message comes.  The peer has gone; bare headers
    sent every 20 s must not postpone the liveness checks: the SA gives up exactly as it does without them."""

    def peer_gone(forge: bool) -> tuple[State, list[float]]:
        lab = Lab(*configs(dpd_interval=30), seed=1)
        lab.initiate()
        lab.run_until_idle()
        sun = lab.responder
        lab.network.loss = 1.0  # nothing gets through any more
        for _ in range(30):
            lab.run(lab.now + 20.0)
            if forge:
                deliver(lab, "responder", bare_header(sun, ExchangeType.IKE_SA_INIT, sun._peer_next_id))
        return sun.state, [p.time for p in lab.trace if p.src == "192.0.2.2"]

    assert peer_gone(forge=True) == peer_gone(forge=False)
    assert peer_gone(forge=True)[0] == State.CLOSED


def test_a_closed_sa_resends_its_last_response_only_for_a_protected_request() -> None:
    lab = established()
    sun = lab.responder
    lab.delete_ike("initiator")
    lab.run_until_idle()
    assert sun.state == State.CLOSED
    last_id = sun._cached_response.message_id
    assert deliver(lab, "responder", bare_header(sun, ExchangeType.INFORMATIONAL, last_id)) == []
    assert deliver(lab, "responder", bare_header(sun, ExchangeType.IKE_SA_INIT, last_id)) == []


def test_a_protected_request_of_another_exchange_with_the_cached_id_is_no_retransmission() -> None:
    """2.3: a retransmission is the same request again; the same Message ID in another exchange is not."""
    lab = established()
    moon, sun = lab.initiator, lab.responder
    cached_id, cached_exchange = sun._cached_response.message_id, sun._cached_response.exchange
    assert cached_exchange == ExchangeType.IKE_AUTH
    other = moon._message(ExchangeType.INFORMATIONAL, cached_id, False, [])
    assert deliver(lab, "responder", moon._encode(other), src=moon.local) == []
    (dropped,) = lab.endpoints["responder"].pop_events()
    assert isinstance(dropped, ev.MessageDropped) and f"request message ID {cached_id}, expected" in dropped.reason


def test_an_ike_sa_init_retransmission_is_still_answered_while_half_open() -> None:
    """The one unprotected request that is genuine: IKE_SA_INIT again, before IKE_AUTH (2.1)."""
    moon_config, sun_config = configs()
    moon, sun = IkeEndpoint(moon_config, DeterministicRandom(1), "192.0.2.1"), IkeEndpoint(sun_config, DeterministicRandom(2))
    moon.initiate(("192.0.2.2", 500), 0.0)
    (request,) = moon.pop_datagrams()
    sun.receive(request, 0.0)
    (answer,) = sun.pop_datagrams()
    (half_open,) = sun.sas.values()
    assert half_open.state == State.INIT_DONE
    sun.receive(request, 1.0)
    assert [d.payload for d in sun.pop_datagrams()] == [answer.payload]


# --- closed IKE SAs in a long-running peer -------------------------------------------------------


def test_a_long_running_endpoint_forgets_closed_sas_once_their_retransmission_span_is_over() -> None:
    """Forged IKE_SA_INIT requests leave half-open SAs that time out; a peer that runs for days must not keep
    them (nor their DH private values) for ever.  The lab keeps them (forget_closed=False) to show them."""
    moon_config, sun_config = configs()
    sun = IkeEndpoint(sun_config, DeterministicRandom(2), forget_closed=True)
    for n in range(5):
        moon = IkeEndpoint(moon_config, DeterministicRandom(100 + n), "192.0.2.1")
        moon.initiate(("192.0.2.2", 500), 0.0)
        (request,) = moon.pop_datagrams()
        sun.receive(request, 0.0)  # answered; the initiator never comes back
    half_open = list(sun.sas.values())
    assert len(half_open) == 5 and all(sa.state == State.INIT_DONE for sa in half_open)
    while sun.sas:
        when = sun.get_timer()
        assert when is not None  # the endpoint asks to be woken to forget them
        sun.handle_timer(when)
        for sa in half_open:
            if sa.state == State.CLOSED:
                assert sa.closed_at is not None and not hasattr(sa, "_dh_key")
    closed_at = half_open[0].closed_at
    assert when == closed_at + half_open[0]._half_open_timeout()
    assert sun.get_timer() is None and not sun.half_open


def test_a_forgetting_endpoint_still_answers_the_request_that_closed_an_sa() -> None:
    """RFC 7296 2.3: the DELETE's response may be lost; until the peer's retransmissions are over, the closed
    SA answers the DELETE again."""
    lab = established()
    sun = lab.endpoints["responder"]
    sun.forgets_closed = True
    moon = lab.initiator
    moon.delete_ike(lab.now)
    (delete,) = lab.endpoints["initiator"].pop_datagrams()
    sun.receive(delete, lab.now)
    (answer,) = sun.pop_datagrams()
    closed = lab.responder
    assert closed.state == State.CLOSED and closed.local_spi in sun.sas
    sun.handle_timer(closed.forget_at() - 0.5)
    sun.receive(delete, closed.forget_at() - 0.5)
    assert [d.payload for d in sun.pop_datagrams()] == [answer.payload]
    sun.handle_timer(closed.forget_at())
    assert closed.local_spi not in sun.sas


def test_the_network_driver_forgets_closed_sas() -> None:
    from ikelab.net import NetDriver

    moon_config, _ = configs()
    assert NetDriver(moon_config, "127.0.0.1", port=50500).endpoint.forgets_closed  # no socket until open()


def test_a_response_of_another_exchange_with_the_pending_id_is_dropped() -> None:
    """RFC 7296 2.3: a response answers the request with its Message ID *and exchange*.  An INFORMATIONAL
    response (authentic, but to nothing we asked) while a CREATE_CHILD_SA request with that ID is out must
    be dropped, leaving the request pending: taken for the answer, it ended the CREATE_CHILD_SA exchange."""
    lab = established()
    moon, sun = lab.initiator, lab.responder
    moon.create_child(lab.now)
    (request,) = lab.endpoints["initiator"].pop_datagrams()
    pending = moon._pending
    assert pending is not None and pending.exchange == ExchangeType.CREATE_CHILD_SA
    wrong = sun._message(ExchangeType.INFORMATIONAL, pending.message_id, True, [])
    assert deliver(lab, "initiator", sun._encode(wrong), src=sun.local) == []
    (dropped,) = lab.endpoints["initiator"].pop_events()
    assert isinstance(dropped, ev.MessageDropped) and "unexpected response" in dropped.reason
    assert moon._pending is pending and len(moon.children) == 1
    lab.endpoints["responder"].receive(request, lab.now)  # the real answer still completes the exchange
    for answer in lab.endpoints["responder"].pop_datagrams():
        lab.endpoints["initiator"].receive(answer, lab.now)
    assert moon._pending is None and len(moon.children) == 2
