"""IKE fragmentation (RFC 7383) in the engine: negotiation, splitting, joining, loss and retransmission.

Independent checks: every datagram on the wire is decoded here with the
receiver's keys and read as RFC 7383 2.5 lays out an SKF fragment (numbers
1..n of n, the first inner payload type only in fragment 1, the IP packet
within ``fragment_size``); the joined message must equal what the engine
would have sent whole.  tshark's own reassembly is compared in
``test_lab_tshark.py``.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_ike import assert_same_sas, configs, established

from ikelab import events as ev
from ikelab.config import IkeConfig
from ikelab.constants import ExchangeType, NotifyType, PayloadType
from ikelab.errors import ConfigError
from ikelab.ike_fragments import MAX_FRAGMENTS, Reassembly, max_message_size
from ikelab.lab import Lab, Network
from ikelab.message import Message, decode
from ikelab.payloads import SK, SKF, Notify, encode_chain
from ikelab.sk import fragment
from ikelab.state import State

FRAG = NotifyType.IKEV2_FRAGMENTATION_SUPPORTED


def _init_notifies(lab: Lab) -> list[list[int]]:
    """The notify types of the two IKE_SA_INIT messages, as decoded from the trace."""
    out = []
    for pkt in lab.trace:
        msg = decode(pkt.ike_message)
        if msg.exchange.name == "IKE_SA_INIT":
            out.append([int(p.notify_type) for p in msg.payloads if isinstance(p, Notify)])
    return out


def _wire_messages(lab: Lab, exchange: str) -> list[tuple[object, Message]]:
    """(trace packet, message decoded with the receiver's keys) for every datagram of ``exchange``."""
    out = []
    for pkt in lab.trace:
        msg = decode(pkt.ike_message)
        if msg.exchange.name != exchange:
            continue
        side = "responder" if msg.is_initiator else "initiator"  # the I flag: sent by the original initiator
        (receiver,) = [sa for sa in lab.sas(side) if (sa.spi_i, sa.spi_r) == (msg.spi_i, msg.spi_r)]
        out.append((pkt, decode(pkt.ike_message, crypto=receiver._crypto(sending=False))))
    return out


# --------------------------------------------------------------------------- negotiation (RFC 7383 2.3)

@pytest.mark.parametrize("i_on, r_on", [(True, True), (True, False), (False, True), (False, False)])
def test_fragmentation_is_used_only_when_both_peers_announce_it(i_on: bool, r_on: bool) -> None:
    lab = established(i={"fragmentation": i_on}, r={"fragmentation": r_on})
    request, response = _init_notifies(lab)
    assert (FRAG in request) == i_on
    assert (FRAG in response) == (i_on and r_on)  # the responder answers only an initiator that offered it
    assert lab.initiator.fragmentation == lab.responder.fragmentation == (i_on and r_on)


def test_by_default_nothing_changes_on_the_wire() -> None:
    plain = established(fragment_size=160)  # fragment_size alone does nothing
    assert all(FRAG not in n for n in _init_notifies(plain))
    assert not any(isinstance(decode(p.ike_message).payloads[-1], SKF) for p in plain.trace)


# --------------------------------------------------------------------------- splitting and joining (2.5, 2.6)

def test_a_big_ike_auth_goes_out_in_numbered_fragments_that_fit_the_packet_size() -> None:
    whole = established(fragmentation=True)  # the same IKE_SA_INIT (with the notify), its IKE_AUTH unsplit
    lab = established(fragmentation=True, fragment_size=160)
    assert_same_sas(lab)
    wire = _wire_messages(lab, "IKE_AUTH")
    for is_response in (False, True):
        pieces = [(pkt, m) for pkt, m in wire if m.is_response == is_response]
        total = len(pieces)
        assert total >= 3
        for number, (pkt, msg) in enumerate(pieces, 1):
            assert len(pkt.ike_message) + 20 + 8 <= 160  # IPv4 + UDP headers (the IP packet: fragment_size)
            (skf,) = msg.payloads
            assert isinstance(skf, SKF)
            assert (skf.fragment_number, skf.total_fragments) == (number, total)
            first = PayloadType.IDr if is_response else PayloadType.IDi
            assert skf.next_payload == (int(first) if number == 1 else 0)
            assert msg.message_id == 1
        # joined, the content is the very message the unsplit run sent (same seed, same payloads)
        content = b"".join(m.payloads[0].content for _, m in pieces)
        ((_, unsplit),) = [(p, m) for p, m in _wire_messages(whole, "IKE_AUTH") if m.is_response == is_response]
        assert content == encode_chain(unsplit.payloads[0].inner, prefix="SK.")[1]
    # the events: one MessageSent per fragment, FragmentReceived per piece, then one MessageReceived
    sent = [e.summary for e in lab.events("initiator", ev.MessageSent) if e.exchange == "IKE_AUTH"]
    n = len(sent)
    assert sent == [f"HDR, SKF({k}/{n})" for k in range(1, n + 1)]
    got = [(e.fragment_number, e.total_fragments) for e in lab.events("responder", ev.FragmentReceived)]
    assert got == [(k, n) for k in range(1, n + 1)]
    (received,) = [e for e in lab.events("responder", ev.MessageReceived) if e.exchange == "IKE_AUTH"]
    assert received.summary == "HDR, SK {IDi, AUTH, SAi2, TSi, TSr}"
    assert received.size == sum(len(p.ike_message) for p, m in wire if not m.is_response)


def test_a_message_that_fits_is_sent_whole() -> None:
    lab = established(fragmentation=True)  # 1280 octets: a PSK IKE_AUTH is far smaller
    assert lab.initiator.fragmentation
    assert not lab.events("responder", ev.FragmentReceived)
    assert all(isinstance(m.payloads[-1], SK) for _, m in _wire_messages(lab, "IKE_AUTH"))


def test_a_message_whose_packet_is_exactly_fragment_size_goes_whole() -> None:
    """fragment_size bounds the IP packet (strongSwan's setting): a packet of exactly that many octets fits; one
    octet over, the message is split (RFC 7383 2.5)."""
    ((pkt, _),) = [(p, m) for p, m in _wire_messages(established(fragmentation=True), "IKE_AUTH") if not m.is_response]
    assert pkt.dport == 500
    packet = len(pkt.ike_message) + 20 + 8  # IPv4 + UDP headers
    for size, split in ((packet, False), (packet - 1, True)):
        lab = established(fragmentation=True, fragment_size=size)
        assert lab.initiator.established and lab.responder.established
        requests = [m for _, m in _wire_messages(lab, "IKE_AUTH") if not m.is_response]
        assert [type(m.payloads[-1]) for m in requests] == ([SKF] * len(requests) if split else [SK]), size
        assert len(requests) >= (2 if split else 1)


def test_certificates_over_the_rfc_7383_ipv4_size() -> None:
    from test_ike_certs import RSA_KEY, peer, run

    lab = run(peer("moon", RSA_KEY, fragmentation=True, fragment_size=576),
              peer("sun", RSA_KEY, fragmentation=True, fragment_size=576))
    assert lab.initiator.state == lab.responder.state == State.ESTABLISHED
    wire = _wire_messages(lab, "IKE_AUTH")
    assert len(wire) > 2 and all(len(p.ike_message) + 28 <= 576 for p, _ in wire)
    assert any(m.payloads[0].total_fragments >= 2 for _, m in wire)


def test_ipv6_nat_t_and_the_largest_icv_fit_the_smallest_fragment_size() -> None:
    # IPv6 (40) + UDP (8) + Non-ESP Marker (4), a 16-octet IV and a 32-octet ICV: the worst case
    lab = Lab(*configs("aes256-sha512-ecp256", fragmentation=True, fragment_size=160, encapsulation="always"),
              ipv6=True, seed=3)
    lab.initiate()
    lab.run_until_idle()
    assert lab.initiator.established and lab.responder.established
    wire = _wire_messages(lab, "IKE_AUTH")
    assert all(p.dport == 4500 and len(p.payload) + 40 + 8 <= 160 for p, _ in wire)
    assert max_message_size(160, ("2001:db8::1", 4500), ("2001:db8::2", 4500)) == 160 - 52


def test_behind_a_nat_both_ends_count_the_non_esp_marker() -> None:
    """Behind a NAT the responder talks from port 4500 to whatever port the NAT chose: its pieces carry the
    Non-ESP Marker (RFC 3948 2.2) as well, and must still fit fragment_size (RFC 7383 2.5)."""
    ci, _ = configs(local_ts=("192.0.2.1/32",), remote_ts=("192.0.2.2/32",), fragmentation=True, fragment_size=160)
    _, cr = configs(local_ts=("192.0.2.2/32",), remote_ts=("192.0.2.1/32",), fragmentation=True, fragment_size=160)
    lab = Lab(ci, cr, seed=7, nat="203.0.113.5")
    lab.initiate()
    lab.run_until_idle()
    assert lab.initiator.established and lab.responder.established
    wire = _wire_messages(lab, "IKE_AUTH")
    responses = [p for p, m in wire if m.is_response]
    assert len(responses) >= 2 and all(p.sport == 4500 and p.dport != 4500 for p in responses)
    assert all(len(p.payload) + 20 + 8 <= 160 for p, _ in wire)


def test_later_exchanges_and_the_rekeyed_ike_sa_keep_fragmenting() -> None:
    lab = established(fragmentation=True, fragment_size=200, pfs_group="ECP_256")
    lab.rekey_ike("initiator")
    lab.run_until_idle()
    new_i, new_r = lab.initiator, lab.responder
    assert new_i.fragmentation and new_r.fragmentation  # inherited (RFC 7296 2.18 repeats no IKE_SA_INIT)
    lab.rekey_child("responder", pfs="ECP_256")
    lab.run_until_idle()
    assert new_i.established and lab.events("initiator", ev.ChildSaRekeyed)
    spis = (new_i.spi_i, new_i.spi_r)
    late = [m for _, m in _wire_messages(lab, "CREATE_CHILD_SA") if (m.spi_i, m.spi_r) == spis]
    assert late and all(isinstance(m.payloads[-1], SKF) for m in late)
    assert_same_sas(lab)


# --------------------------------------------------------------------------- loss, order, retransmission

@pytest.mark.parametrize("fates", [
    ("ok", "ok", "ok", "drop"),                 # fragment 2 of the request is lost: all are sent again
    ("ok", "ok", "late", "late", "ok", "ok"),   # the request's fragments arrive out of order
    ("ok", "ok", "ok", "ok", "ok", "ok", "drop"),  # a fragment of the response is lost
    ("ok", "ok", "dup", "dup", "dup", "dup"),   # every fragment twice
], ids=["lost-request-piece", "reordered", "lost-response-piece", "duplicated"])
def test_lost_reordered_and_duplicated_fragments(fates: tuple[str, ...]) -> None:
    lab = Lab(*configs(fragmentation=True, fragment_size=160), seed=1, network=Network(schedule=fates))
    lab.initiate()
    lab.run_until_idle()
    assert lab.initiator.established and lab.responder.established
    assert_same_sas(lab)
    # each side processed IKE_AUTH once, however many pieces came
    for side in ("initiator", "responder"):
        assert len([e for e in lab.events(side, ev.MessageReceived) if e.exchange == "IKE_AUTH"]) == 1
        assert len(lab.events(side, ev.ChildSaCreated)) == 1


def test_only_fragment_1_of_a_retransmitted_request_brings_the_response_again() -> None:
    lab = established(fragmentation=True, fragment_size=160)
    requests = [p for p, m in _wire_messages(lab, "IKE_AUTH") if not m.is_response]
    responder = lab.responder
    before = responder.snapshot()
    for pkt in requests[1:]:  # fragments 2..n of the retransmission: nothing (RFC 7383 2.6.1)
        responder.receive(pkt.ike_message, lab.now)
        assert responder.pop_datagrams() == []
    drops = [e.reason for e in responder.pop_events() if isinstance(e, ev.MessageDropped)]
    assert len(drops) == len(requests) - 1 and all("2.6.1" in r for r in drops)
    responder.receive(requests[0].ike_message, lab.now)
    again = responder.pop_datagrams()
    first_answer = [p.payload for p, m in _wire_messages(lab, "IKE_AUTH") if m.is_response]
    assert [d.payload for d in again] == first_answer  # every fragment of the cached response, unchanged
    assert responder.snapshot() == before


def test_a_tampered_fragment_is_dropped_and_the_genuine_one_still_completes() -> None:
    ci, cr = configs(fragmentation=True, fragment_size=160)
    lab = Lab(ci, cr, seed=1, network=Network(schedule=("ok", "ok", "drop", "drop", "drop")))
    lab.initiate()
    lab.run(until=0.5)  # IKE_SA_INIT done, every IKE_AUTH piece lost
    pieces = [p for p, m in _wire_messages(lab, "IKE_AUTH")]
    responder = lab.responder
    forged = bytearray(pieces[0].ike_message)
    forged[-1] ^= 1
    responder.receive(bytes(forged), lab.now)
    assert [type(e) for e in responder.pop_events()] == [ev.MessageDropped]
    for pkt in pieces:
        responder.receive(pkt.ike_message, lab.now)
    assert responder.state == State.ESTABLISHED


def test_a_new_message_forgets_the_pieces_of_an_unfinished_one() -> None:
    lab = established(fragmentation=True, fragment_size=160)
    sa = lab.responder
    # fragment 1 of a request the initiator never finishes (it lost its state, say), then its next request
    big = lab.initiator._message(ExchangeType.INFORMATIONAL, lab.initiator._next_request_id, False,
                                 [Notify(NotifyType.INITIAL_CONTACT, data=b"x" * 300)])
    pieces = fragment(big, lab.initiator._crypto(sending=True), 132)
    assert len(pieces) > 1
    sa.receive(pieces[0], lab.now)
    assert sa._fragments is not None
    lab.liveness("initiator")
    lab.run_until_idle()
    assert lab.events("initiator", ev.LivenessChecked)[-1].alive
    assert sa._fragments is None and sa.established


def test_the_pieces_of_a_newer_message_never_join_those_of_an_older_one() -> None:
    """RFC 7383 2.5, 2.6: the fragments of one message share its Message ID, and a receiver joins only
    those.  The first piece of request n arrives, then request n itself whole but malformed inside, which
    is answered INVALID_SYNTAX (RFC 7296 2.21.3): exchange n is over.  Request n+1 comes in fewer pieces
    than n announced; they form a message of their own and are answered at once, with no retransmission."""
    from test_ike import _protected_request

    lab = established(fragmentation=True, fragment_size=160)
    moon, sun = lab.initiator, lab.responder
    n = moon._next_request_id
    old = fragment(moon._message(ExchangeType.INFORMATIONAL, n, False,
                                 [Notify(NotifyType.INITIAL_CONTACT, data=b"x" * 600)]),
                   moon._crypto(sending=True), 132)
    sun.receive(old[0], lab.now)  # the other pieces are lost
    sun.receive(_protected_request(moon, ExchangeType.INFORMATIONAL, 40, bytes([0, 0, 0, 8]) + b"\x01" * 4),
                lab.now)  # a 4-octet Nonce (RFC 7296 3.9: at least 16)
    (answer,) = sun.pop_datagrams()
    (refusal,) = decode(answer.payload, crypto=moon._crypto(sending=False)).payloads[0].inner
    assert refusal.notify_type == NotifyType.INVALID_SYNTAX and sun._peer_next_id == n + 1
    lab.create_child("initiator")  # request n+1, in fewer pieces than n had
    lab.run_until_idle()
    assert sun.established and len(lab.initiator.children) == len(lab.responder.children) == 2
    assert not lab.events("initiator", ev.Retransmitted)
    pieces = [m for _, m in _wire_messages(lab, "CREATE_CHILD_SA") if not m.is_response]
    assert 1 < len(pieces) < len(old) and {m.message_id for m in pieces} == {n + 1}
    taken = [e.fragment_number for e in lab.events("responder", ev.FragmentReceived)
             if e.message_id == n + 1 and not e.is_response]
    assert taken == list(range(1, len(pieces) + 1))  # every piece kept once, none refused
    assert sun._fragments is None


# --------------------------------------------------------------------------- malformed pieces

def _garbage_fragment(sender, message_id: int, is_response: bool) -> bytes:
    """One SKF (1 of 1) whose ICV verifies but whose inside is no payload chain: a Notify header of 3 octets."""
    skf = SKF(1, 1, content=b"\x00\x00\x00\x03garbage", next_payload=int(PayloadType.N))
    msg = sender._message(ExchangeType.INFORMATIONAL, message_id, is_response, [])
    return replace(msg, payloads=(skf,)).encode(crypto=sender._crypto(sending=True))


def test_a_fragmented_request_that_does_not_parse_is_answered_invalid_syntax() -> None:
    """RFC 7296 2.21.3: after authentication "all requests having errors MUST result in a response", as a whole
    request whose ICV is good but whose inside is malformed is answered (INVALID_SYNTAX, 3.10.1).  Before, the
    joined pieces were dropped unanswered: the peer retransmitted until it gave the IKE SA up."""
    lab = established(fragmentation=True, fragment_size=160)
    a, b = lab.initiator, lab.responder
    n = a._next_request_id
    b.receive(_garbage_fragment(a, n, False), lab.now)
    events = b.pop_events()
    assert [type(e) for e in events] == [ev.MessageSent, ev.Failure, ev.MessageDropped]
    assert events[1].notify == "INVALID_SYNTAX" and not events[1].fatal and "do not parse" in events[2].reason
    (answer,) = b.pop_datagrams()
    reply = decode(answer.payload, crypto=a._crypto(sending=False))
    (refusal,) = reply.payloads[0].inner
    assert reply.is_response and reply.message_id == n and refusal.notify_type == NotifyType.INVALID_SYNTAX
    assert b._peer_next_id == n + 1 and b.established and b._fragments is None
    b.receive(_garbage_fragment(a, n, False), lab.now)  # its retransmission: the same answer, nothing new
    assert [d.payload for d in b.pop_datagrams()] == [answer.payload] and b._peer_next_id == n + 1


def test_a_fragmented_response_that_does_not_parse_is_dropped_without_harm() -> None:
    lab = established(fragmentation=True, fragment_size=160)
    a, b = lab.initiator, lab.responder
    lab.liveness("initiator")
    a.pop_datagrams()  # the request is lost; a forged-looking but authentic garbage response comes instead
    before, pending = a.snapshot(), a._pending
    a.pop_events()
    a.receive(_garbage_fragment(b, pending.message_id, True), lab.now)
    events = a.pop_events()
    assert [type(e) for e in events] == [ev.MessageDropped] and "do not parse" in events[0].reason
    assert a.pop_datagrams() == [] and a.snapshot() == before and a._pending is pending and a._fragments is None


def test_reassembly_follows_rfc_7383_2_6_for_changed_totals_and_bounds() -> None:
    lab = established(fragmentation=True, fragment_size=160)
    a = lab.initiator

    def piece(number: int, total: int) -> tuple[Message, SKF]:
        skf = SKF(number, total, content=b"", next_payload=0)
        return a._message(ExchangeType.INFORMATIONAL, 5, False, []), skf

    buf = Reassembly(5)
    assert buf.add(*piece(1, 2), 100) == ("kept", None)
    outcome, why = buf.add(*piece(1, 2), 100)
    assert outcome == "ignored" and "again" in why
    outcome, why = buf.add(*piece(2, 1), 100)  # fewer pieces than announced before: this one is dropped
    assert outcome == "ignored" and "2.6" in why
    assert buf.add(*piece(1, 3), 100) == ("kept", None)  # more pieces: start over
    assert buf.total == 3 and list(buf.pieces) == [1] and buf.size == 100
    assert Reassembly(5).add(*piece(1, MAX_FRAGMENTS), 100) == ("kept", None)  # the limit itself is kept
    outcome, why = buf.add(*piece(1, MAX_FRAGMENTS + 1), 100)
    assert outcome == "ignored" and str(MAX_FRAGMENTS) in why


# --------------------------------------------------------------------------- configuration

@pytest.mark.parametrize("kw, field", [
    ({"fragmentation": "yes"}, "fragmentation"),
    ({"fragment_size": 159}, "fragment_size"),
    ({"fragment_size": 70000}, "fragment_size"),
    ({"fragment_size": 1280.5}, "fragment_size"),
])
def test_fragmentation_settings_are_checked(kw: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        IkeConfig(psk=b"k", **kw)
    assert info.value.field == field and field in str(info.value)


def test_describe_mentions_fragmentation_only_when_on() -> None:
    assert "fragments of 576 octets" in str(IkeConfig(psk=b"k", fragmentation=True, fragment_size=576))
    assert "fragment" not in str(IkeConfig(psk=b"k"))


# --------------------------------------------------------------------------- any order, any subset, some forged

_PIECES = st.lists(st.tuples(st.integers(0, 7), st.booleans()), max_size=14)  # (which piece, forged?)


@settings(max_examples=30, deadline=None)
@given(deliveries=_PIECES)
def test_pieces_in_any_order_with_repeats_and_forgeries(deliveries: list[tuple[int, bool]]) -> None:
    """The responder answers IKE_AUTH once every genuine piece is in, whatever came with them; before that
    it sends nothing and stays half open, and afterwards only a genuine fragment 1 brings the answer again."""
    lab = Lab(*configs(fragmentation=True, fragment_size=160), seed=1,
              network=Network(schedule=("ok", "ok") + ("drop",) * 8))
    lab.initiate()
    lab.run(until=0.5)  # IKE_SA_INIT done; the IKE_AUTH pieces were lost on the way
    pieces = [p.ike_message for p, m in _wire_messages(lab, "IKE_AUTH")]
    responder = lab.responder
    seen: set[int] = set()
    answer: list[bytes] | None = None
    for index, forged in deliveries:
        number = index % len(pieces)
        data = bytearray(pieces[number])
        if forged:
            data[-1 - index] ^= 0x40  # inside the ICV or the ciphertext: the piece must be refused
        was_complete = len(seen) == len(pieces)
        responder.receive(bytes(data), lab.now)
        out = [d.payload for d in responder.pop_datagrams()]
        if not forged:
            seen.add(number)
        if forged or (was_complete and number != 0) or len(seen) < len(pieces):
            assert out == []
        elif answer is None:  # this piece completed the request: the answer, in fragments
            answer = out
            assert len(out) >= 2 and all(isinstance(decode(d).payloads[-1], SKF) for d in out)
        else:  # fragment 1 of the request again: the same answer from the cache (RFC 7383 2.6.1)
            assert out == answer
        assert responder.state == (State.ESTABLISHED if len(seen) == len(pieces) else State.INIT_DONE)
    processed = [e for e in responder.pop_events() if isinstance(e, ev.MessageReceived)]
    assert len(processed) == (1 if answer is not None else 0)


def test_a_closed_ike_sa_answers_only_fragment_1_of_the_delete_again() -> None:
    """The DELETE that closed the IKE SA came in pieces (here with a long notify beside it); its response
    was lost, say, and the initiator sends every piece again: only fragment 1 brings the response back."""
    from ikelab.constants import ProtocolId
    from ikelab.payloads import Delete

    lab = established(fragmentation=True, fragment_size=160)
    moon, sun = lab.initiator, lab.responder
    request = moon._message(ExchangeType.INFORMATIONAL, moon._next_request_id, False,
                            [Delete(ProtocolId.IKE, ()), Notify(NotifyType.INITIAL_CONTACT, data=b"x" * 200)])
    pieces = fragment(request, moon._crypto(sending=True), 132)
    assert len(pieces) >= 2
    for piece in pieces:
        sun.receive(piece, lab.now)
    assert sun.state == State.CLOSED
    answer = [d.payload for d in sun.pop_datagrams()]
    sun.pop_events()
    for piece in pieces[1:]:
        sun.receive(piece, lab.now)
        assert sun.pop_datagrams() == []
    assert all("2.6.1" in e.reason for e in sun.pop_events())
    sun.receive(pieces[0], lab.now)
    assert [d.payload for d in sun.pop_datagrams()] == answer


# --------------------------------------------------------------------------- limits and odd contents (review)

def test_an_unknown_critical_payload_in_a_fragmented_request_is_answered() -> None:
    """RFC 7296 2.5: a request with a critical payload we do not know gets UNSUPPORTED_CRITICAL_PAYLOAD, in
    pieces as whole; before, the joined request was dropped unanswered and the peer's window stuck."""
    from ikelab.payloads import UnknownPayload

    lab = established(fragmentation=True, fragment_size=160)
    moon, sun = lab.initiator, lab.responder
    odd = UnknownPayload(200, b"x" * 150, critical=True)
    pieces = fragment(moon._message(ExchangeType.INFORMATIONAL, moon._next_request_id, False, [odd]),
                      moon._crypto(sending=True), 132)
    assert len(pieces) >= 2
    for piece in pieces:
        sun.receive(piece, lab.now)
    (answer,) = sun.pop_datagrams()
    notify = decode(answer.payload, crypto=moon._crypto(sending=False)).payloads[0].inner[0]
    assert notify.notify_type == NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD and notify.data == bytes([200])
    assert sun.established


def test_the_pieces_of_one_message_are_capped_in_octets() -> None:
    """RFC 7383 5: a peer that has done IKE_SA_INIT only cannot make us keep megabytes of pieces."""
    from ikelab.ike_fragments import MAX_MESSAGE_OCTETS

    lab = established(fragmentation=True, fragment_size=160)
    a = lab.initiator
    msg = a._message(ExchangeType.INFORMATIONAL, 5, False, [])
    buf = Reassembly(5)
    big = MAX_MESSAGE_OCTETS // 2 + 1
    assert buf.add(msg, SKF(1, 3, content=b"", next_payload=0), big) == ("kept", None)
    outcome, why = buf.add(msg, SKF(2, 3, content=b"", next_payload=0), big)
    assert outcome == "ignored" and str(MAX_MESSAGE_OCTETS) in why and buf.size == big
    exact = Reassembly(5)  # pieces of exactly MAX_MESSAGE_OCTETS in all still join
    one, two = SKF(1, 2, content=b"", next_payload=0), SKF(2, 2, content=b"", next_payload=0)
    assert exact.add(replace(msg, payloads=(one,)), one, MAX_MESSAGE_OCTETS - 100) == ("kept", None)
    assert exact.add(replace(msg, payloads=(two,)), two, 100)[0] == "whole"


def test_a_message_that_needs_more_pieces_than_a_receiver_keeps_goes_whole() -> None:
    lab = established(fragmentation=True, fragment_size=160)
    moon = lab.initiator
    msg = moon._message(ExchangeType.INFORMATIONAL, moon._next_request_id, False,
                        [Notify(NotifyType.INITIAL_CONTACT, data=b"x" * 5000)])
    data = moon._encode(msg)
    whole = moon._frame(msg, data)
    assert not isinstance(whole, tuple) and whole.payload == data  # 80 pieces of 63 octets: IP fragments instead
    smaller = moon._message(ExchangeType.INFORMATIONAL, moon._next_request_id, False,
                            [Notify(NotifyType.INITIAL_CONTACT, data=b"x" * 1000)])
    assert isinstance(moon._frame(smaller, moon._encode(smaller)), tuple)
    limit = max_message_size(160, moon.local, moon.remote)
    for size in range(3900, 4200, 16):  # the largest message a receiver like ikelab keeps: MAX_FRAGMENTS pieces
        most = moon._message(ExchangeType.INFORMATIONAL, moon._next_request_id, False,
                             [Notify(NotifyType.INITIAL_CONTACT, data=b"x" * size)])
        if len(fragment(most, moon._crypto(sending=True), limit)) == MAX_FRAGMENTS:
            break
    else:
        pytest.fail("no message size gives exactly MAX_FRAGMENTS pieces")
    pieces = moon._frame(most, moon._encode(most))
    assert isinstance(pieces, tuple) and len(pieces) == MAX_FRAGMENTS


def test_dissect_says_when_decrypted_pieces_do_not_join() -> None:
    from ikelab.dissect import dissect_frames
    from ikelab.pcap import LINKTYPE_RAW, CapturedPacket
    from ikelab.trace import TracePacket
    from ikelab.wireshark import KeyTables, records_from_lab

    lab = established(fragmentation=True, fragment_size=160)
    moon = lab.initiator
    request = moon._message(ExchangeType.INFORMATIONAL, moon._next_request_id, False, [])
    pieces = [replace(request, payloads=(SKF(n, 2, content=b"\x00\x00\x00\x09garbage", next_payload=41),)
                      ).encode(crypto=moon._crypto(sending=True)) for n in (1, 2)]
    frames = [CapturedPacket(float(n), TracePacket(float(n), "192.0.2.1", "192.0.2.2", 500, 500, p).ip_packet(),
                             LINKTYPE_RAW) for n, p in enumerate(pieces)]
    rows = list(dissect_frames(frames, KeyTables(ike=records_from_lab(lab, "initiator")[0])))
    assert rows[0].decrypted and rows[1].decrypted  # each piece verified and decrypted
    assert rows[1].note.startswith("IKE fragments do not join:") and "decryption failed" not in rows[1].note


def test_the_sender_keeps_within_the_receivers_octet_limit_too() -> None:
    """53 to 64 pieces of 1280 octets pass the piece limit but not the 64 KiB one: such a message goes
    whole as well, or ikelab's own receiver could never join it."""
    lab = established(fragmentation=True)
    moon = lab.initiator
    msg = moon._message(ExchangeType.INFORMATIONAL, moon._next_request_id, False,
                        [Notify(NotifyType.INITIAL_CONTACT, data=b"x" * 63000)])
    data = moon._encode(msg)
    assert not isinstance(moon._frame(msg, data), tuple)
