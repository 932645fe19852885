"""Review of the receive path (RFC 7296 2.3, 2.21) and of IKE fragmentation (RFC 7383) in the engine.

Independent references: forged datagrams are built octet by octet with ``struct`` from the RFC 7296 3.1
header and 3.14 Encrypted payload layouts (no keys: what anyone who sees the SPIs on the wire can send);
header sizes come from RFC 791 (IPv4, 20), RFC 8200 (IPv6, 40), RFC 768 (UDP, 8) and RFC 3948 2.2
(the Non-ESP Marker, 4).
"""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest

from test_ike import _protected_request, configs, established
from test_ike_fragments import _wire_messages

from ikelab import events as ev
from ikelab.constants import ExchangeType, NotifyType
from ikelab.ike_fragments import max_message_size
from ikelab.lab import Lab, Network
from ikelab.message import decode
from ikelab.payloads import SK, SKF, Notify
from ikelab.sk import fragment
from ikelab.state import State

SK_TYPE, SKF_TYPE, N_TYPE, NONCE_TYPE = 46, 53, 41, 40
FLAG_I, FLAG_R = 0x08, 0x20


def _forged(sa, exchange: int, message_id: int, body: bytes, *, skf: tuple[int, int] | None = None) -> bytes:
    """A request to ``sa`` as its peer would send it, built without keys: ``HDR, SK`` (or ``SKF``) whose
    opaque body is ``body`` (RFC 7296 3.1, 3.14; RFC 7383 2.5)."""
    if skf is None:
        payload = struct.pack("!BBH", N_TYPE, 0, 4 + len(body)) + body
    else:
        payload = struct.pack("!BBHHH", N_TYPE, 0, 8 + len(body), *skf) + body
    flags = 0 if sa.initiator else FLAG_I  # the peer's role
    header = sa.spi_i + sa.spi_r + struct.pack("!BBBBII", SKF_TYPE if skf else SK_TYPE, 0x20, exchange, flags,
                                               message_id, 28 + len(payload))
    return header + payload


def _drops(sa) -> list[str]:
    return [e.reason for e in sa.pop_events() if isinstance(e, ev.MessageDropped)]


# --------------------------------------------------------------------------- RFC 7296 2.21.3: no ICV, no answer

# IV 16 or 8 octets, ICV 16 (HMAC-SHA-256-128, or the GCM tag): a body that cannot hold IV, Pad Length and ICV
# is refused before any ICV is computed; so is CBC ciphertext that is not a whole number of 16-octet blocks.
_BAD_BODIES = [
    ("aes128-sha256-ecp256", b"\x00" * 5),
    ("aes128gcm16-prfsha256-ecp256", b"\x00" * 5),
    ("aes128-sha256-ecp256", b"\x00" * (16 + 17 + 16)),  # IV | 17 octets of "ciphertext" | ICV
]


@pytest.mark.parametrize("ike, body", _BAD_BODIES, ids=["cbc-short", "gcm-short", "cbc-partial-block"])
def test_a_keyless_forgery_with_a_broken_sk_body_changes_nothing(ike: str, body: bytes) -> None:
    """RFC 7296 2.21.3 answers only a message that passed its ICV check; any other is discarded.  Before, an SK
    body too short for its IV and ICV (or a partial CBC block) was taken for a verified request with a malformed
    inside: answered INVALID_SYNTAX, its Message ID consumed and that answer cached, so that the genuine request
    with the same Message ID got the forger's INVALID_SYNTAX back instead of its own answer."""
    lab = established(ike)
    sun = lab.responder
    before, cached, heard = sun.snapshot(), sun._cached_response, sun.last_received
    sun.pop_events()
    sun.receive(_forged(sun, ExchangeType.INFORMATIONAL, sun._peer_next_id, body), lab.now)
    assert sun.pop_datagrams() == []
    (reason,) = _drops(sun)
    assert "2.21.3" in reason and "SK.encrypted" in reason
    assert sun.snapshot() == before and sun._cached_response is cached and sun.last_received == heard
    lab.liveness("initiator")  # the genuine request with that Message ID is answered, not refused
    lab.run_until_idle()
    assert lab.events("initiator", ev.LivenessChecked)[-1].alive
    assert not lab.events("initiator", ev.Failure) and sun.established


def test_a_keyless_forgery_cannot_end_a_half_open_handshake() -> None:
    """Anyone who saw IKE_SA_INIT knows the SPIs and that IKE_AUTH comes with Message ID 1.  A broken SK body
    under that header must not be answered: the cached INVALID_SYNTAX would answer the genuine IKE_AUTH."""
    lab = Lab(*configs(), seed=1, network=Network(schedule=("ok", "ok", "drop")))
    lab.initiate()
    lab.run(until=0.5)  # IKE_SA_INIT done; the first IKE_AUTH request is lost
    sun = lab.responder
    assert sun.state == State.INIT_DONE
    sun.receive(_forged(sun, ExchangeType.IKE_AUTH, 1, b"\x00" * 5), lab.now)
    assert sun.pop_datagrams() == [] and sun._cached_response.exchange == ExchangeType.IKE_SA_INIT
    lab.run_until_idle()  # the initiator retransmits IKE_AUTH
    assert lab.initiator.state == lab.responder.state == State.ESTABLISHED



def test_a_keyless_forgery_under_the_last_message_id_brings_no_cached_response_back() -> None:
    """RFC 7296 2.3 resends a cached response for a retransmitted request, one whose ICV verified: a broken SK
    body under the last Message ID is no such request, or anyone could make us send our (possibly long,
    fragmented) last response again and again at will (RFC 7383 5)."""
    lab = established(fragmentation=True, fragment_size=160)
    sun = lab.responder
    cached = sun._cached_response
    assert cached.exchange == ExchangeType.IKE_AUTH and isinstance(cached.datagram, tuple)  # in pieces
    sun.pop_events()
    sun.receive(_forged(sun, ExchangeType.IKE_AUTH, cached.message_id, b"\x00" * 5), lab.now)
    assert sun.pop_datagrams() == [] and len(_drops(sun)) == 1 and sun._cached_response is cached

@pytest.mark.parametrize("ike", ["aes128-sha256-ecp256", "aes128gcm16-prfsha256-ecp256"])
def test_a_genuine_request_with_a_malformed_inside_is_still_answered(ike: str) -> None:
    """The other half of 2.21.3: when the ICV verifies, a malformed inside is answered INVALID_SYNTAX."""
    lab = established(ike)
    moon, sun = lab.initiator, lab.responder
    n = sun._peer_next_id
    sun.receive(_protected_request(moon, ExchangeType.INFORMATIONAL, NONCE_TYPE, bytes([0, 0, 0, 8]) + b"\x01" * 4),
                lab.now)  # a 4-octet Nonce: RFC 7296 3.9 asks for at least 16
    (answer,) = sun.pop_datagrams()
    reply = decode(answer.payload, crypto=moon._crypto(sending=False))
    assert reply.is_response and reply.message_id == n
    assert [p.notify_type for p in reply.payloads[0].inner] == [NotifyType.INVALID_SYNTAX]
    assert sun._peer_next_id == n + 1


def test_a_forged_fragment_with_a_broken_body_keeps_the_pieces_already_in() -> None:
    """RFC 7383 2.6: each piece's ICV is checked before it is kept; a forged piece must not disturb the others."""
    lab = established(fragmentation=True, fragment_size=160)
    moon, sun = lab.initiator, lab.responder
    big = moon._message(ExchangeType.INFORMATIONAL, moon._next_request_id, False,
                        [Notify(NotifyType.INITIAL_CONTACT, data=b"x" * 300)])
    pieces = fragment(big, moon._crypto(sending=True), 132)
    sun.receive(pieces[0], lab.now)
    kept = dict(sun._fragments[False].pieces)
    sun.pop_events()
    total = len(pieces)
    sun.receive(_forged(sun, ExchangeType.INFORMATIONAL, big.message_id, b"\x00" * 5, skf=(2, total)), lab.now)
    sun.receive(_forged(sun, ExchangeType.INFORMATIONAL, big.message_id, b"\x00" * 5, skf=(1, total + 1)), lab.now)
    assert sun.pop_datagrams() == [] and len(_drops(sun)) == 2
    assert sun._fragments[False].pieces == kept and sun._fragments[False].total == total


# ------------------------------------------------------------------- RFC 7296 2.3: the window, the flags, the SPIs

def test_a_response_outside_the_window_is_dropped_saying_what_was_expected() -> None:
    """A response matches our outstanding request by Message ID and exchange (2.3); the drop says which."""
    lab = established()
    moon, sun = lab.initiator, lab.responder
    lab.liveness("initiator")
    moon.pop_datagrams()  # the request is lost; odd responses come instead
    moon.pop_events()
    pending = moon._pending
    n = pending.message_id
    before = moon.snapshot()
    for exchange, message_id in ((ExchangeType.CREATE_CHILD_SA, n), (ExchangeType.INFORMATIONAL, n + 1),
                                 (ExchangeType.INFORMATIONAL, n - 1)):
        moon.receive(sun._encode(sun._message(exchange, message_id, True, [])), lab.now)
        (reason,) = _drops(moon)
        assert f"message ID {message_id} ({exchange.name})" in reason, reason
        assert f"outstanding request is message ID {n} (INFORMATIONAL)" in reason, reason
        assert moon._pending is pending and moon.snapshot() == before and moon.pop_datagrams() == []
    lab.run_until_idle()  # the retransmitted request's genuine answer still completes the exchange
    assert lab.events("initiator", ev.LivenessChecked)[-1].alive
    moon.pop_events()
    moon.receive(sun._encode(sun._message(ExchangeType.INFORMATIONAL, n, True, [])), lab.now)  # answered already
    (reason,) = _drops(moon)
    assert "no request of ours is outstanding" in reason and moon._pending is None


def test_a_request_under_another_spi_pair_is_not_processed() -> None:
    """RFC 7296 2.6: the SPIs name the IKE SA.  A request sealed with this SA's keys but carrying another
    Responder SPI is not this SA's: no answer, no Message ID consumed."""
    lab = established()
    moon, sun = lab.initiator, lab.responder
    before, cached = sun.snapshot(), sun._cached_response
    sun.pop_events()
    for spis in ((moon.spi_i, b"\x01" * 8), (b"\x02" * 8, moon.spi_r)):
        msg = replace(moon._message(ExchangeType.INFORMATIONAL, sun._peer_next_id, False, []),
                      spi_i=spis[0], spi_r=spis[1])
        sun.receive(moon._encode(msg), lab.now)
        assert _drops(sun) == ["SPIs do not belong to this IKE SA"]
    assert sun.pop_datagrams() == [] and sun.snapshot() == before and sun._cached_response is cached


def test_a_message_with_the_i_flag_of_our_own_role_is_dropped_before_its_keys_are_tried() -> None:
    """RFC 7296 3.1: the I flag says which original role sent the message; one claiming ours is a reflection."""
    lab = established()
    sun = lab.responder
    before = sun.snapshot()
    sun.pop_events()
    sun.receive(sun._encode(sun._message(ExchangeType.INFORMATIONAL, sun._peer_next_id, False, [])), lab.now)
    assert _drops(sun) == ["I flag shows the message came from our own role"]
    assert sun.pop_datagrams() == [] and sun.snapshot() == before


# --------------------------------------------------------------------------- RFC 7383 2.5: fragment size

@pytest.mark.parametrize("local, remote, overhead", [
    (("192.0.2.1", 500), ("192.0.2.2", 500), 20 + 8),
    (("192.0.2.1", 4500), ("192.0.2.2", 4500), 20 + 8 + 4),
    (("2001:db8::1", 500), ("2001:db8::2", 500), 40 + 8),
    (("2001:db8::1", 500), ("2001:db8::2", 4500), 40 + 8 + 4),  # the NAT's port toward us: marker all the same
    (("2001:db8::1", 4500), ("2001:db8::2", 61000), 40 + 8 + 4),
])
def test_the_room_for_an_ike_message_is_the_packet_less_exactly_its_headers(local, remote, overhead) -> None:
    """IPv4 20 (RFC 791) or IPv6 40 (RFC 8200), UDP 8 (RFC 768), the Non-ESP Marker 4 on port 4500 (RFC 3948)."""
    for size in (576, 1280):
        assert max_message_size(size, local, remote) == size - overhead


def test_over_ipv6_a_packet_of_exactly_fragment_size_goes_whole_and_one_octet_less_splits() -> None:
    def ike_auth_requests(**kw) -> list:
        lab = Lab(*configs(fragmentation=True, **kw), ipv6=True, seed=1)
        lab.initiate()
        lab.run_until_idle()
        assert lab.initiator.established and lab.responder.established
        return [(p, m) for p, m in _wire_messages(lab, "IKE_AUTH") if not m.is_response]

    ((pkt, _),) = ike_auth_requests()
    packet = 40 + 8 + len(pkt.ike_message)  # the IPv6 packet this IKE_AUTH request travels in
    ((_, whole),) = ike_auth_requests(fragment_size=packet)
    assert isinstance(whole.payloads[-1], SK)
    pieces = ike_auth_requests(fragment_size=packet - 1)
    assert len(pieces) >= 2 and all(isinstance(m.payloads[-1], SKF) for _, m in pieces)
    assert all(40 + 8 + len(p.ike_message) <= packet - 1 for p, _ in pieces)


# --------------------------------------------------------------------------- RFC 7383 2.6: reassembly in the engine

def _pieces(moon, message_id: int, limit: int, *, is_response: bool = False) -> list[bytes]:
    """One INFORMATIONAL message of ``moon`` whose notify data no two splits can join into, split for ``limit``."""
    msg = moon._message(ExchangeType.INFORMATIONAL, message_id, is_response,
                        [Notify(NotifyType.INITIAL_CONTACT, data=bytes(range(256)) + bytes(range(255, -1, -1)))])
    return fragment(msg, moon._crypto(sending=True), limit)


def test_a_retransmission_in_more_pieces_starts_over_and_its_old_pieces_are_dropped() -> None:
    """RFC 7383 2.6: a piece with a higher Total Fragments drops what was kept; one with a lower total is
    dropped.  The message is processed once, from the new pieces only."""
    lab = established(fragmentation=True, fragment_size=600)
    moon, sun = lab.initiator, lab.responder
    n = moon._next_request_id
    old, new = _pieces(moon, n, 300), _pieces(moon, n, 132)
    assert 2 <= len(old) < len(new)
    sun.pop_events()
    sun.receive(old[0], lab.now)
    for piece in new[1:]:  # the retransmission, split smaller: fragment 1 of n must not join these
        sun.receive(piece, lab.now)
    assert sun.pop_datagrams() == [] and sun._fragments[False].total == len(new)
    for piece in old[1:]:  # late pieces of the first sending: fewer in all, dropped
        sun.receive(piece, lab.now)
    events = sun.pop_events()
    late = [e.reason for e in events if isinstance(e, ev.MessageDropped)]
    assert len(late) == len(old) - 1 and all(f"now comes in {len(new)} fragments" in r for r in late)
    sun.receive(new[0], lab.now)
    (answer,) = sun.pop_datagrams()
    reply = decode(answer.payload, crypto=moon._crypto(sending=False))
    assert reply.is_response and reply.message_id == n and reply.payloads[0].inner == ()
    events = sun.pop_events()
    assert not [e for e in events if isinstance(e, ev.Failure)]
    assert len([e for e in events if isinstance(e, ev.MessageReceived)]) == 1 and sun._fragments is None


def test_pieces_of_a_request_and_of_a_response_interleaved_are_joined_apart() -> None:
    """A request and a response travel in opposite windows (RFC 7296 2.3), maybe with the same Message ID:
    their pieces are joined apart, each by its own Message ID (RFC 7383 2.6)."""
    lab = established(fragmentation=True, fragment_size=160)
    moon, sun = lab.initiator, lab.responder
    lab.liveness("responder")
    sun.pop_datagrams()  # the liveness request is lost; moon's (unusually long) answer comes in pieces
    ours = sun._pending.message_id
    requests = _pieces(moon, moon._next_request_id, 132)
    responses = _pieces(moon, ours, 132, is_response=True)
    sun.pop_events()
    for request, response in zip(requests, responses):
        sun.receive(request, lab.now)
        sun.receive(response, lab.now)
    (answer,) = sun.pop_datagrams()  # to the request
    assert decode(answer.payload, crypto=moon._crypto(sending=False)).message_id == moon._next_request_id
    events = sun.pop_events()
    assert [(e.is_response, e.message_id) for e in events if isinstance(e, ev.MessageReceived)] == [
        (False, moon._next_request_id), (True, ours)]
    assert [e.alive for e in events if isinstance(e, ev.LivenessChecked)] == [True]
    assert not [e for e in events if isinstance(e, (ev.Failure, ev.MessageDropped))] and sun._fragments is None


@pytest.mark.parametrize("number", [0, "total+1"])
def test_a_sealed_fragment_numbered_outside_1_to_total_is_never_kept(number) -> None:
    """RFC 7383 2.5: Fragment Numbers run from 1 to Total Fragments.  A piece sealed with the right keys but
    numbered 0 (or past the total) must neither be kept nor complete the message in place of a missing one."""
    from ikelab import sk as sk_mod

    lab = established(fragmentation=True, fragment_size=160)
    moon, sun = lab.initiator, lab.responder
    n = moon._next_request_id
    pieces = _pieces(moon, n, 132)
    total = len(pieces)
    number = total + 1 if number == "total+1" else number
    crypto = moon._crypto(sending=True)
    inner = b"\x00" * 8
    sealed = sk_mod.sealed_length(crypto, len(inner))
    header = moon.spi_i + moon.spi_r + struct.pack("!BBBBII", SKF_TYPE, 0x20, ExchangeType.INFORMATIONAL, FLAG_I,
                                                   n, 28 + 8 + sealed)
    aad = header + struct.pack("!BBHHH", 0, 0, 8 + sealed, number, total)
    odd = aad + sk_mod.seal(crypto, inner, aad)
    for piece in pieces[:-1]:
        sun.receive(piece, lab.now)
    sun.pop_events()
    sun.receive(odd, lab.now)
    assert sun.pop_datagrams() == [] and len(sun._fragments[False].pieces) == total - 1
    (reason,) = _drops(sun)
    assert "fragment_number" in reason
    sun.receive(pieces[-1], lab.now)
    (answer,) = sun.pop_datagrams()
    assert decode(answer.payload, crypto=moon._crypto(sending=False)).payloads[0].inner == ()


# --------------------------------------------------------------------------- the table (state.py)

def test_the_table_answers_what_rfc_7296_1_allows_in_each_state() -> None:
    """CREATE_CHILD_SA and INFORMATIONAL start only once IKE_AUTH is done (RFC 7296 1.3, 1.4); a closed IKE SA
    takes nothing; IKE_SA_INIT comes once, IKE_AUTH right after it (1.2).  is_legal and next_state agree."""
    from ikelab.state import Input as I
    from ikelab.state import is_legal, next_state

    starts = (I.CREATE_CHILD, I.REKEY_CHILD, I.REKEY_IKE, I.LIVENESS, I.DELETE_CHILD)
    for state in State:
        for inp in starts:
            assert is_legal(state, inp) == (state == State.ESTABLISHED), (state, inp)
        assert (next_state(state, I.IKE_AUTH_REQUEST) is not None) == (state == State.INIT_DONE), state
        assert (next_state(state, I.IKE_SA_INIT_REQUEST) is not None) == (state == State.IDLE), state
        for inp in I:
            assert is_legal(state, inp) == (next_state(state, inp) is not None)
            if state == State.CLOSED:
                assert not is_legal(state, inp), inp
    assert next_state(State.INIT_DONE, I.IKE_AUTH_REQUEST) == State.ESTABLISHED
    assert next_state(State.AUTH_SENT, I.IKE_AUTH_RESPONSE) == State.ESTABLISHED
    assert next_state(State.ESTABLISHED, I.DELETE_IKE) == State.DELETING
