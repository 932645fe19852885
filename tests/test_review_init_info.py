"""Review of IKE_SA_INIT, IKE_AUTH (ikelab.exchanges_init) and INFORMATIONAL (ikelab.exchanges_info).

RFC 7296 1.2-1.4, 1.4.1, 2.4, 2.6, 2.10, 2.15, 2.21, 2.23, 3.3.1, 3.11.  The peers are two endpoints driven by
hand: each test lets the real peer answer, then changes what it answers (or asks) and checks the other peer's
answer and state.  Expected values come from the RFC text, ``hashlib`` and hand-built bytes:

* INVALID_KE_PAYLOAD (1.3): a retry only in a group we offered, in each group at most once;
* the COOKIE retry keeps the cookie first, also after a later INVALID_KE_PAYLOAD (2.6, 2.6.1);
* SAr1 checks (3.3.1): one proposal, of a number and transforms we offered, SPI Size 0; nonce sizes (2.10);
* NAT detection hashes SHA-1(SPIi | SPIr | IP | port) and the switch to port 4500 (2.23);
* IKE_AUTH: AUTHENTICATION_FAILED on both sides (2.21.2), a CHILD SA failure leaving the IKE SA up (1.2, 2.21.3);
* INFORMATIONAL: Delete of CHILD SAs answered with our inbound SPIs, each once, unknown SPIs ignored (1.4.1),
  Delete of the IKE SA, liveness (2.4), malformed Delete payloads (3.11) answered INVALID_SYNTAX.
"""

from __future__ import annotations

import hashlib
import socket
import struct
from contextlib import nullcontext
from dataclasses import replace

import pytest

from ikelab import events as ev
from ikelab import exchanges_wire as W
from ikelab.constants import AuthMethod, ExchangeType, NotifyType, ProtocolId, TransformType
from ikelab.endpoint import IkeEndpoint
from ikelab.errors import WeakAlgorithmWarning
from ikelab.exchanges_common import Datagram
from ikelab.message import decode
from ikelab.payloads import Delete, Notify
from ikelab.rand import DeterministicRandom
from ikelab.sa_payload import SA
from ikelab.state import State

from test_ike import configs, established

MOON, SUN = ("192.0.2.1", 500), ("192.0.2.2", 500)
TWO_GROUPS = ("aes128-sha256-ecp256", "aes128-sha256-modp2048")  # KEi in ECP_256 (19) first, MODP_2048 (14) offered


class Pair:
    """Two endpoints (moon initiates) and their IKE SAs, moved one datagram at a time."""

    def __init__(self, ci=None, cr=None) -> None:
        dci, dcr = configs()
        self.moon = IkeEndpoint(ci or dci, DeterministicRandom(1), MOON[0])
        self.sun = IkeEndpoint(cr or dcr, DeterministicRandom(2), SUN[0])
        self.moon_sa = self.moon.initiate(SUN, 0.0)
        self.events: dict[str, list] = {"moon": [], "sun": []}
        (self.request,) = self.moon.pop_datagrams()

    def to_moon(self, data: bytes) -> list[Datagram]:
        self.moon.receive(Datagram(data, SUN, MOON), 0.0)
        self.events["moon"] += self.moon.pop_events()
        return self.moon.pop_datagrams()

    def to_sun(self, data: bytes) -> list[Datagram]:
        self.sun.receive(Datagram(data, MOON, SUN), 0.0)
        self.events["sun"] += self.sun.pop_events()
        return self.sun.pop_datagrams()

    @property
    def sun_sa(self):
        (sa,) = self.sun.all_sas()
        return sa

    def init_response(self) -> bytes:
        (resp,) = self.to_sun(self.request.payload)
        return resp.payload

    def answer_init(self, payloads: list) -> list[Datagram]:
        """An unprotected IKE_SA_INIT response of ``payloads`` (SPIr 0, as a stateless refusal) to moon."""
        msg = W.message(self.moon_sa.spi_i, bytes(8), ExchangeType.IKE_SA_INIT, False, True, 0, payloads)
        return self.to_moon(W.encode(msg))

    def failures(self, side: str) -> list:
        return [e for e in self.events[side] if isinstance(e, ev.Failure)]


def _with_sa(msg, change) -> bytes:
    """``msg`` (IKE_SA_INIT) with its SA payload's proposals replaced by ``change(proposals)``, encoded."""
    payloads = [SA(change(p.proposals)) if isinstance(p, SA) else p for p in msg.payloads]
    return W.encode(replace(msg, payloads=tuple(payloads)))


def _natd(spi_i: bytes, spi_r: bytes, addr: tuple[str, int]) -> bytes:
    """RFC 7296 2.23: SHA-1(SPIi | SPIr | IP | Port), built by hand."""
    return hashlib.sha1(spi_i + spi_r + socket.inet_aton(addr[0]) + struct.pack("!H", addr[1])).digest()


# --------------------------------------------------------------------------- IKE_SA_INIT, initiator


@pytest.mark.parametrize("asked, sent_groups, state", [
    ((14,), [14], State.INIT_SENT),           # a group we offered: one retry in it
    ((14, 19), [14], State.CLOSED),           # and back to the first one: no ping-pong (1.3)
    ((14, 14), [14], State.CLOSED),           # the group just sent
    ((19,), [], State.CLOSED),                # the group of our KEi
    ((21,), [], State.CLOSED),                # a group we never offered
])
def test_invalid_ke_payload_retries_only_offered_groups_each_once(asked: tuple, sent_groups: list,
                                                                  state: State) -> None:
    ci, _ = configs(ike=TWO_GROUPS[0], i=dict(ike_proposals=TWO_GROUPS))
    pair = Pair(ci)
    sent = []
    for group in asked:
        for d in pair.answer_init([W.notify(NotifyType.INVALID_KE_PAYLOAD, data=group.to_bytes(2, "big"))]):
            msg = decode(d.payload)
            assert msg.message_id == 0 and msg.spi_r == bytes(8)
            sent += [int(p.group) for p in msg.payloads if type(p).__name__ == "KE"]
    assert sent == sent_groups and pair.moon_sa.state == state


def test_a_cookie_stays_first_in_the_retry_after_invalid_ke_payload() -> None:
    """RFC 2.6.1's shorter exchange: HDR, N(COOKIE), SAi1, KEi', Ni after COOKIE then INVALID_KE_PAYLOAD."""
    ci, _ = configs(ike=TWO_GROUPS[0], i=dict(ike_proposals=TWO_GROUPS))
    pair = Pair(ci)
    first = decode(pair.request.payload)
    (retry,) = pair.answer_init([W.notify(NotifyType.COOKIE, data=b"\xc0" * 20)])
    (again,) = pair.answer_init([W.notify(NotifyType.INVALID_KE_PAYLOAD, data=b"\x00\x0e")])
    for d, group in ((retry, 19), (again, 14)):
        msg = decode(d.payload)
        head = msg.payloads[0]
        assert isinstance(head, Notify) and head.notify_type == NotifyType.COOKIE and head.data == b"\xc0" * 20
        assert msg.payloads[1] == first.payloads[0]  # the same SAi1
        assert [int(p.group) for p in msg.payloads if type(p).__name__ == "KE"] == [group]


BAD_SAR1 = {
    "an SPI (3.3.1: SPI Size 0)": lambda ps: (replace(ps[0], spi=b"\x01" * 8),),
    "a proposal number not offered": lambda ps: (replace(ps[0], number=2),),
    "a transform missing": lambda ps: (replace(ps[0], transforms=tuple(
        t for t in ps[0].transforms if int(t.type) != int(TransformType.INTEG))),),
    "a transform not offered": lambda ps: (replace(ps[0], transforms=tuple(
        replace(t, key_length=256) if int(t.type) == int(TransformType.ENCR) else t for t in ps[0].transforms)),),
    "two proposals": lambda ps: (ps[0], replace(ps[0], number=2)),
}


@pytest.mark.parametrize("bad", list(BAD_SAR1))
def test_a_wrong_sar1_ends_the_ike_sa_before_ike_auth(bad: str) -> None:
    pair = Pair()
    response = decode(pair.init_response())
    assert pair.to_moon(_with_sa(response, BAD_SAR1[bad])) == []  # no IKE_AUTH
    assert pair.moon_sa.state == State.CLOSED and pair.moon_sa.keys is None
    (failure,) = pair.failures("moon")
    assert failure.fatal


@pytest.mark.parametrize("offer", [
    ("aes128-sha256-ecp256", "aes128-sha256-modp2048"),
    ("aes128-sha256-modp768", "aes256-sha384-ecp384"),  # public values of 96 octets in both groups
])
def test_sar1_in_a_group_other_than_the_keis_never_makes_keys(offer: tuple) -> None:
    """RFC 7296 1.3: a responder that wants another group answers INVALID_KE_PAYLOAD; an SAr1 choosing our second
    proposal, with a KEr of its group, would have our first group's private value make g^ir."""
    with pytest.warns(WeakAlgorithmWarning) if "modp768" in offer[0] else nullcontext():
        ci, cr = configs(i=dict(ike_proposals=offer, allow_weak=True), r=dict(ike_proposals=offer[1:]))
        pair = Pair(ci, cr)
        # sun's genuine answer to a KEi in the second group, as an answer to moon's first-group KEi
        other = IkeEndpoint(configs(i=dict(ike_proposals=offer[1:]))[0], DeterministicRandom(3), MOON[0])
        other.initiate(SUN, 0.0)
        (request,) = other.pop_datagrams()
        response = replace(decode(pair.to_sun(request.payload)[0].payload), spi_i=pair.moon_sa.spi_i)
        assert pair.to_moon(_with_sa(response, lambda ps: (replace(ps[0], number=2),))) == []
    assert pair.moon_sa.state == State.CLOSED
    assert not [e for e in pair.events["moon"] if isinstance(e, ev.KeysDerived)]
    (failure,) = pair.failures("moon")
    first, second = (W.numbered(ci.ike_proposals)[0], W.numbered(ci.ike_proposals)[1])
    assert W.first_dh([first]).name in failure.reason and W.first_dh([second]).name in failure.reason


def test_the_unchanged_sar1_goes_on_to_ike_auth() -> None:
    pair = Pair()
    (auth,) = pair.to_moon(pair.init_response())
    assert pair.moon_sa.state == State.AUTH_SENT and (auth.src, auth.dst) == (MOON, SUN)


@pytest.mark.parametrize("ike, nr_len, ok", [
    ("aes128-sha256-ecp256", 16, True),       # 128 bits: the floor (2.10)
    ("aes256-sha512-ecp256", 16, False),   # half of PRF_HMAC_SHA2_512's 64-octet key is 32
    ("aes256-sha512-ecp256", 32, True),
])
def test_nr_must_be_half_the_prf_key_size(ike: str, nr_len: int, ok: bool) -> None:
    pair = Pair(*configs(ike))
    response = decode(pair.init_response())
    payloads = [W.nonce(b"\x5a" * nr_len) if type(p).__name__ == "Nonce" else p for p in response.payloads]
    out = pair.to_moon(W.encode(replace(response, payloads=tuple(payloads))))
    assert (len(out), pair.moon_sa.state) == ((1, State.AUTH_SENT) if ok else (0, State.CLOSED))


@pytest.mark.parametrize("ike, ni_len, answer", [
    ("aes256-sha512-ecp256", 16, "N(INVALID_SYNTAX)"),
    ("aes256-sha512-ecp256", 32, "SAr1, KEr, Nr"),
])
def test_the_responder_checks_ni_against_the_chosen_prf(ike: str, ni_len: int, answer: str) -> None:
    pair = Pair(*configs(ike))
    request = decode(pair.request.payload)
    payloads = [W.nonce(b"\xa5" * ni_len) if type(p).__name__ == "Nonce" else p for p in request.payloads]
    (out,) = pair.to_sun(W.encode(replace(request, payloads=tuple(payloads))))
    assert W.summary(decode(out.payload)).startswith("HDR, " + answer)


@pytest.mark.parametrize("moved, port", [(False, 500), (True, 4500)])
def test_nat_detection_hashes_and_the_move_to_port_4500(moved: bool, port: int) -> None:
    """RFC 2.23: the hashes in both messages are SHA-1(SPIi | SPIr | IP | Port) of the header's SPIs (SPIr 0 in
    the request); a NAT_DETECTION_SOURCE_IP that matches no address we see moves IKE_AUTH to port 4500."""
    pair = Pair()
    request = decode(pair.request.payload)
    spi_i = request.spi_i
    assert request.notify(NotifyType.NAT_DETECTION_SOURCE_IP).data == _natd(spi_i, bytes(8), MOON)
    assert request.notify(NotifyType.NAT_DETECTION_DESTINATION_IP).data == _natd(spi_i, bytes(8), SUN)
    response = decode(pair.init_response())
    assert response.notify(NotifyType.NAT_DETECTION_SOURCE_IP).data == _natd(spi_i, response.spi_r, SUN)
    assert response.notify(NotifyType.NAT_DETECTION_DESTINATION_IP).data == _natd(spi_i, response.spi_r, MOON)
    if moved:  # as if a NAT in front of sun had rewritten its source address
        natd_s = W.notify(NotifyType.NAT_DETECTION_SOURCE_IP, data=_natd(spi_i, response.spi_r, ("198.51.100.7", 500)))
        payloads = [natd_s if isinstance(p, Notify) and p.notify_type == NotifyType.NAT_DETECTION_SOURCE_IP else p
                    for p in response.payloads]
        response = replace(response, payloads=tuple(payloads))
    (auth,) = pair.to_moon(W.encode(response))
    assert (auth.src[1], auth.dst[1]) == (port, port)
    assert pair.moon_sa.nat_detected is moved
    assert auth.payload.startswith(b"\x00" * 4) is moved  # the non-ESP marker on port 4500 (RFC 3948 2.2)


# --------------------------------------------------------------------------- IKE_AUTH


def _kind(p) -> str:
    return f"N({NotifyType(int(p.notify_type)).name})" if isinstance(p, Notify) else type(p).__name__


def _flip(p):
    """An AUTH payload whose value has its last bit flipped."""
    return replace(p, data=bytes(p.data)[:-1] + bytes([p.data[-1] ^ 1]))


def _without(*kinds: str):
    return lambda inner: [p for p in inner if _kind(p) not in kinds]


def _changed(kind: str, change):
    return lambda inner: [change(p) if _kind(p) == kind else p for p in inner]


def _ike_auth_request(pair: Pair) -> list:
    """The inner payloads of moon's IKE_AUTH request, as sun opens them."""
    (auth,) = pair.to_moon(pair.init_response())
    return list(W.inner(decode(auth.payload, crypto=pair.sun_sa._crypto(sending=False))))


def _ask_auth(pair: Pair, inner: list) -> list:
    """Moon's IKE_AUTH request (Message ID 1) with ``inner`` to sun: the kinds of sun's answer."""
    moon = pair.moon_sa
    (answer,) = pair.to_sun(moon._encode(moon._message(ExchangeType.IKE_AUTH, 1, False, inner)))
    return [_kind(p) for p in W.inner(decode(answer.payload, crypto=moon._crypto(sending=False)))]


AUTH_REQUESTS = {
    # name: (change of moon's request, sun's answer, sun's state, CHILD SAs at sun)
    "as sent": (lambda inner: inner, ["IDr", "AUTH", "SA", "TSi", "TSr"], State.ESTABLISHED, 1),
    "with the optional IDr": (lambda inner: inner[:1] + [W.id_payload(False, inner[0])] + inner[1:],
                              ["IDr", "AUTH", "SA", "TSi", "TSr"], State.ESTABLISHED, 1),
    "no IDi": (_without("IDi"), ["N(AUTHENTICATION_FAILED)"], State.CLOSED, 0),
    "no AUTH": (_without("AUTH"), ["N(AUTHENTICATION_FAILED)"], State.CLOSED, 0),
    "a wrong AUTH value": (_changed("AUTH", _flip), ["N(AUTHENTICATION_FAILED)"], State.CLOSED, 0),
    "an unknown AUTH method": (_changed("AUTH", lambda p: replace(p, method=201)), ["N(AUTHENTICATION_FAILED)"],
                               State.CLOSED, 0),
    "signatures, no CERT": (_changed("AUTH", lambda p: replace(p, method=AuthMethod.DIGITAL_SIGNATURE)),
                            ["N(AUTHENTICATION_FAILED)"], State.CLOSED, 0),
    # a CHILD SA that cannot be made leaves the IKE SA up (1.2, 2.21.3)
    "no TSi, TSr": (_without("TSi", "TSr"), ["IDr", "AUTH", "N(INVALID_SYNTAX)"], State.ESTABLISHED, 0),
    "SAi2 for AH only": (_changed("SA", lambda p: SA(tuple(replace(q, protocol=ProtocolId.AH) for q in p.proposals))),
                         ["IDr", "AUTH", "N(NO_PROPOSAL_CHOSEN)"], State.ESTABLISHED, 0),
}


@pytest.mark.parametrize("name", list(AUTH_REQUESTS))
def test_the_responder_answers_each_ike_auth_request_as_2_21_says(name: str) -> None:
    change, answer, state, children = AUTH_REQUESTS[name]
    pair = Pair()
    inner = _ike_auth_request(pair)
    assert _ask_auth(pair, change(inner)) == answer
    assert pair.sun_sa.state == state and len(pair.sun_sa.children) == children
    assert all(f.fatal == (state == State.CLOSED) for f in pair.failures("sun"))


def _answer_auth(pair: Pair, change) -> list[Datagram]:
    """Sun's IKE_AUTH response, changed by ``change`` (on its inner payloads), to moon: what moon sends."""
    inner = _ike_auth_request(pair)
    sun, moon = pair.sun_sa, pair.moon_sa
    (answer,) = pair.to_sun(moon._encode(moon._message(ExchangeType.IKE_AUTH, 1, False, inner)))
    inner = change(list(W.inner(decode(answer.payload, crypto=moon._crypto(sending=False)))))
    return pair.to_moon(sun._encode(sun._message(ExchangeType.IKE_AUTH, 1, True, inner)))


AUTH_RESPONSES = {
    # name: (change of sun's response, moon's state, moon's CHILD SAs, what moon then sends in an INFORMATIONAL)
    "as sent": (lambda inner: inner, State.ESTABLISHED, 1, None),
    "a wrong AUTH value": (_changed("AUTH", _flip), State.CLOSED, 0, "N(AUTHENTICATION_FAILED)"),
    "no IDr": (_without("IDr"), State.CLOSED, 0, "N(AUTHENTICATION_FAILED)"),
    "N(AUTHENTICATION_FAILED) only": (lambda inner: [W.notify(NotifyType.AUTHENTICATION_FAILED)], State.CLOSED, 0,
                                      None),
    # the CHILD SA's failure leaves the IKE SA up (1.2); one sun installed from a malformed answer is deleted (2.21.3)
    "N(TS_UNACCEPTABLE) for the CHILD SA": (
        lambda inner: inner[:2] + [W.notify(NotifyType.TS_UNACCEPTABLE)], State.ESTABLISHED, 0, None),
    "SAr2 without TSi, TSr": (_without("TSi", "TSr"), State.ESTABLISHED, 0, "Delete"),
    "SAr2 with two proposals": (_changed("SA", lambda p: SA((p.proposals[0], replace(p.proposals[0], number=2)))),
                                State.ESTABLISHED, 0, "Delete"),
}


@pytest.mark.parametrize("name", list(AUTH_RESPONSES))
def test_the_initiator_takes_each_ike_auth_response_as_2_21_says(name: str) -> None:
    change, state, children, then = AUTH_RESPONSES[name]
    pair = Pair()
    sent = _answer_auth(pair, change)
    moon = pair.moon_sa
    assert moon.state == state and len(moon.children) == children
    assert all(f.fatal == (state == State.CLOSED) for f in pair.failures("moon"))
    if state == State.ESTABLISHED:
        assert pair.failures("moon") == [] if children else len(pair.failures("moon")) == 1
    if then is None:
        assert sent == []
        return
    (info,) = sent
    msg = decode(info.payload, crypto=pair.sun_sa._crypto(sending=False))
    assert msg.exchange == ExchangeType.INFORMATIONAL and [_kind(p) for p in W.inner(msg)] == [then]
    if then == "Delete":  # moon's inbound SPI, from its SAi2: the one sun sends to (3.11)
        (sun_child,) = pair.sun_sa.children.values()
        assert W.payload(msg, "Delete").spis == (sun_child.spi_out,)
        (_answer,) = pair.to_sun(info.payload)
        assert pair.sun_sa.state == State.ESTABLISHED and pair.sun_sa.children == {}
        return
    # RFC 7296 2.21.2: the initiator tells the responder in an INFORMATIONAL, which then forgets the IKE SA
    assert pair.sun_sa.state == State.ESTABLISHED
    pair.to_sun(info.payload)
    assert pair.sun_sa.state == State.CLOSED


# --------------------------------------------------------------------------- INFORMATIONAL


def _inform(lab, payloads: list) -> list:
    """Moon's protected INFORMATIONAL request (its next Message ID) straight to sun: sun's answer's payloads."""
    moon, sun = lab.initiator, lab.responder
    request = moon._message(ExchangeType.INFORMATIONAL, moon._next_request_id, False, payloads)
    moon._next_request_id += 1
    ep = lab.endpoints["responder"]
    ep.receive(Datagram(moon._encode(request), moon.local, sun.local), lab.now)
    (answer,) = ep.pop_datagrams()
    lab._flush()  # sun's events into the lab
    return list(W.inner(decode(answer.payload, crypto=moon._crypto(sending=False))))


def _two_children():
    lab = established()
    lab.create_child("initiator")
    lab.run_until_idle()
    a, b = sorted(lab.initiator.children.values(), key=lambda c: c.spi_in)
    return lab, a, b


UNKNOWN = b"\x00\x00\x99\x99"
DELETES = {
    # name: (moon's Delete payloads from its CHILD SAs a, b; which of them sun's answer names; CHILD SAs left)
    "an unknown SPI": (lambda a, b: [Delete(ProtocolId.ESP, (UNKNOWN,))], [], 2),
    "one CHILD SA": (lambda a, b: [Delete(ProtocolId.ESP, (a.spi_in,))], ["a"], 1),
    "our outbound SPI, not the peer's inbound one": (lambda a, b: [Delete(ProtocolId.ESP, (a.spi_out,))], [], 2),
    "AH for an ESP SPI": (lambda a, b: [Delete(ProtocolId.AH, (a.spi_in,))], [], 2),
    "two Delete payloads, a repeat and an unknown SPI": (
        lambda a, b: [Delete(ProtocolId.ESP, (a.spi_in, UNKNOWN, a.spi_in)), Delete(ProtocolId.ESP, (b.spi_in,))],
        ["a", "b"], 0),
}


@pytest.mark.parametrize("name", list(DELETES))
def test_a_delete_of_child_sas_is_answered_with_our_inbound_spis(name: str) -> None:
    """RFC 7296 1.4.1: a Delete names the SPIs its sender receives on; the answer names ours for the same pairs,
    each pair once; an SPI we do not know is left out (3.11)."""
    build, named, left = DELETES[name]
    lab, a, b = _two_children()
    answer = _inform(lab, build(a, b))
    want = [{"a": a, "b": b}[n].spi_out for n in named]  # moon's outbound SPI is sun's inbound one
    assert [(int(d.protocol), list(d.spis)) for d in answer] == ([(int(ProtocolId.ESP), want)] if want else [])
    sun = lab.responder
    assert sun.state == State.ESTABLISHED and len(sun.children) == left
    assert {c.spi_in for c in sun.children.values()} == {c.spi_out for c in (a, b)} - set(want)
    assert not lab.events("responder", ev.Failure)


@pytest.mark.parametrize("extra", [[], [Delete(ProtocolId.ESP, (UNKNOWN,))]])
def test_a_delete_of_the_ike_sa_is_answered_empty_and_closes_it(extra: list) -> None:
    lab, a, b = _two_children()
    assert _inform(lab, [*extra, Delete(ProtocolId.IKE)]) == []
    assert lab.responder.state == State.CLOSED


def test_an_empty_informational_is_a_liveness_check_answered_empty() -> None:
    lab = established()
    assert _inform(lab, []) == []
    assert lab.responder.state == State.ESTABLISHED
    (checked,) = lab.events("responder", ev.LivenessChecked)
    assert checked.message_id == lab.initiator._next_request_id - 1


def test_a_delete_crossing_our_own_is_answered_without_a_delete_payload() -> None:
    """RFC 7296 1.4.1: a peer asked to close a CHILD SA it is closing itself "SHOULD reply without a Delete
    payload"; both ends end up without the pair and neither reports a failure."""
    lab = established()
    (a,) = lab.initiator.children.values()
    lab.delete_child("responder")  # in flight
    assert _inform(lab, [Delete(ProtocolId.ESP, (a.spi_in,))]) == []
    lab.run_until_idle()
    assert lab.responder.children == {} and lab.initiator.children == {}
    assert not lab.events("responder", ev.Failure) and not lab.events("initiator", ev.Failure)
    assert lab.responder.state == lab.initiator.state == State.ESTABLISHED


class _RawDelete(Delete):
    """A Delete payload whose body is given as bytes, to send what 3.11 forbids."""

    def __init__(self, body: bytes) -> None:
        super().__init__(ProtocolId.ESP)
        object.__setattr__(self, "body", body)

    def _body(self, path: str) -> bytes:
        return self.body


BAD_DELETES = {
    # Protocol ID | SPI Size | Num of SPIs (2) | SPIs (RFC 7296 3.11)
    "IKE with SPI Size 8": bytes([1, 8]) + b"\x00\x01" + b"\x11" * 8,
    "IKE with SPIs": bytes([1, 0]) + b"\x00\x01",
    "ESP with SPI Size 8": bytes([3, 8]) + b"\x00\x01" + b"\x11" * 8,
    "ESP, Num of SPIs 2, one SPI": bytes([3, 4]) + b"\x00\x02" + b"\x11" * 4,
    "protocol 0": bytes([0, 4]) + b"\x00\x01" + b"\x11" * 4,
    "a short body": bytes([3, 4, 0]),
}


@pytest.mark.parametrize("name", list(BAD_DELETES))
def test_a_malformed_delete_is_answered_invalid_syntax_and_changes_nothing(name: str) -> None:
    lab = established()
    sun = lab.responder
    before = (sun.state, sorted(sun.children), sun.keys)
    assert [_kind(p) for p in _inform(lab, [_RawDelete(BAD_DELETES[name])])] == ["N(INVALID_SYNTAX)"]
    assert (sun.state, sorted(sun.children), sun.keys) == before
    lab.liveness("initiator")  # and the window moved on
    lab.run_until_idle()
    assert lab.events("initiator", ev.LivenessChecked)[-1].alive
