"""Session 38 mutation review of the IKE side: each test here kills a deliberate small bug that the rest of
the suite let through (a check dropped, a comparison loosened), by asserting what a peer or a user relies on.

The mutants are named in each docstring; the RFC text is the reference: RFC 7296 2.3 (the window and
retransmissions), 2.4 (only protected messages are signs of life), 2.11/2.23 (addresses follow authenticated
messages only), 3.3.3 (mandatory transform types) and 3.3.6 (a proposal the responder must not accept).
"""

from __future__ import annotations

import pytest

from ikelab import events as ev
from ikelab.constants import DhId, EncrId, EsnId, ExchangeType, IntegId, PrfId, ProtocolId, TransformType
from ikelab.errors import NegotiationError
from ikelab.ike import IkeSa
from ikelab.lab import Lab
from ikelab.message import Message, decode
from ikelab.payloads import Proposal, Transform
from ikelab.proposals import check_chosen, select
from ikelab.rand import DeterministicRandom
from ikelab.state import State

from test_ike import _protected_request, configs, established

MOON = ("192.0.2.1", 500)
SUN = ("192.0.2.2", 500)


def _dropped(events: list) -> list[str]:
    return [e.reason for e in events if isinstance(e, ev.MessageDropped)]


def _half_open() -> tuple[IkeSa, IkeSa, bytes]:
    """An initiator in INIT_SENT and a responder in INIT_DONE, and the IKE_SA_INIT request between them."""
    ci, cr = configs()
    moon = IkeSa(ci, initiator=True, local=MOON, remote=SUN, rng=DeterministicRandom(38))
    moon.initiate(0.0)
    (request,) = moon.pop_datagrams()
    sun = IkeSa(cr, initiator=False, local=SUN, remote=MOON, rng=DeterministicRandom(39))
    sun.spi_i = moon.spi_i  # as IkeEndpoint does for a new IKE_SA_INIT request
    sun.receive(request.payload, 0.0, src=MOON, dst=SUN)
    assert sun.state == State.INIT_DONE
    sun.pop_events()
    return moon, sun, request.payload


# --------------------------------------------------------------------------- ike_receive: the window (2.3)


def test_an_ike_sa_init_retransmission_with_a_foreign_spi_r_brings_no_response() -> None:
    """Mutant: the responder in INIT_DONE takes any SPIr in an IKE_SA_INIT request as its own.

    RFC 7296 2.6/3.1: the initiator's IKE_SA_INIT request carries SPIr zero; the same request again is a
    retransmission and gets the cached response (2.3), but one naming another responder SPI belongs to another
    IKE SA and must not make this one answer (an unauthenticated reflector)."""
    moon, sun, request = _half_open()
    (first,) = sun.pop_datagrams()
    sun.receive(request, 1.0, src=MOON, dst=SUN)  # the genuine retransmission: answered again, same bytes
    (again,) = sun.pop_datagrams()
    assert again.payload == first.payload
    sun.pop_events()
    foreign = bytes(x ^ 0xFF for x in sun.spi_r)
    assert foreign not in (sun.spi_r, bytes(8))
    forged = request[:8] + foreign + request[16:]
    sun.receive(forged, 2.0, src=MOON, dst=SUN)
    assert sun.pop_datagrams() == []
    assert _dropped(sun.pop_events()) == ["SPIs do not belong to this IKE SA"]
    assert sun.state == State.INIT_DONE


def test_a_request_with_the_answered_message_id_but_another_exchange_is_no_retransmission() -> None:
    """Mutant: a request counts as a retransmission by its Message ID alone.

    RFC 7296 2.3: a retransmission is the same request again; a protected request whose Message ID is that of
    the request last answered but whose exchange type differs is not it, so the cached response must not be
    sent, and it is outside the window (the next expected ID is one more): dropped, nothing sent."""
    lab = established()
    moon, sun = lab.initiator, lab.responder
    lab.liveness("initiator")  # sun's cached response: the INFORMATIONAL answer
    lab.run_until_idle()
    sun.pop_events(), sun.pop_datagrams()
    expected = sun._peer_next_id
    before = sun.snapshot()
    moon._next_request_id = expected - 1  # the ID sun answered last, as a CREATE_CHILD_SA this time
    nonce = bytes([0, 0, 0, 36]) + bytes(range(32))
    sun.receive(_protected_request(moon, ExchangeType.CREATE_CHILD_SA, 40, nonce), lab.now + 1)
    assert sun.pop_datagrams() == []
    assert _dropped(sun.pop_events()) == [f"request message ID {expected - 1}, expected {expected}"]
    assert sun.snapshot() == before and sun._peer_next_id == expected


def test_a_forged_ike_sa_init_request_with_the_next_message_id_is_no_sign_of_life() -> None:
    """Mutant: the state check on unprotected IKE_SA_INIT messages is dropped.

    RFC 7296 2.4: only a cryptographically protected message shows the peer is alive.  Anyone can forge an
    unprotected IKE_SA_INIT request with an established SA's SPIs and its next Message ID; it must be dropped
    before it is taken as received (no MessageReceived, ``last_received`` unchanged, nothing sent)."""
    lab = established()
    moon, sun = lab.initiator, lab.responder
    seen, before = sun.last_received, sun.snapshot()
    forged = Message(moon.spi_i, moon.spi_r, ExchangeType.IKE_SA_INIT, True, False, sun._peer_next_id, ())
    sun.receive(forged.encode(), lab.now + 5)
    events = sun.pop_events()
    assert not [e for e in events if isinstance(e, ev.MessageReceived)]
    assert _dropped(events) == ["unprotected IKE_SA_INIT message in state ESTABLISHED"]
    assert sun.last_received == seen and sun.snapshot() == before and sun.pop_datagrams() == []


def test_an_ike_sa_init_response_from_another_address_does_not_move_the_initiator() -> None:
    """Mutant: the IKE SA follows the source address of IKE_SA_INIT messages too.

    RFC 7296 2.23: the peer's address is updated only from messages whose integrity was checked; an
    IKE_SA_INIT response has none, so one arriving from another address (an attacker that saw the request
    can send it) must not redirect the IKE_AUTH request: it still goes to the address configured."""
    moon, sun, _ = _half_open()
    (response,) = sun.pop_datagrams()
    elsewhere = ("198.51.100.9", 500)
    moon.receive(response.payload, 0.5, src=elsewhere, dst=MOON)
    assert moon.state == State.AUTH_SENT
    assert moon.remote == SUN
    sent = moon.pop_datagrams()
    assert sent and all(d.dst == SUN for d in sent)
    assert decode(sent[0].payload).exchange == ExchangeType.IKE_AUTH


def test_a_protected_message_before_the_keys_exist_is_dropped_not_a_crash() -> None:
    """Mutant: the "no keys yet" check on HDR, SK {...} is dropped.

    RFC 7296 2.21: a message that cannot be authenticated is discarded.  An initiator still waiting for its
    IKE_SA_INIT response has no SK_* keys; a forged HDR, SK with its SPIi (SPIr still zero) must be dropped
    with that reason, the SA left as it was, never raise out of ``receive``."""
    ci, _ = configs()
    moon = IkeSa(ci, initiator=True, local=MOON, remote=SUN, rng=DeterministicRandom(38))
    moon.initiate(0.0)
    moon.pop_datagrams(), moon.pop_events()
    before = moon.snapshot()
    # HDR (response, IKE_AUTH, ID 1) then an SK payload of 40 octets that nobody could have sealed
    forged = moon.spi_i + bytes(8) + bytes([46, 0x20, 35, 0x20]) + (1).to_bytes(4, "big") + \
        (28 + 40).to_bytes(4, "big") + bytes([36, 0]) + (40).to_bytes(2, "big") + bytes(range(36))
    moon.receive(forged, 0.5, src=SUN, dst=MOON)
    assert _dropped(moon.pop_events()) == ["protected message before keys exist"]
    assert moon.state == State.INIT_SENT and moon.snapshot() == before and moon.pop_datagrams() == []


def test_a_request_from_the_responder_before_the_ike_auth_answer_is_not_answered() -> None:
    """Mutant: the initiator in AUTH_SENT answers the responder's requests with INVALID_SYNTAX.

    RFC 7296 2.3: the responder sends requests only once it has answered IKE_AUTH, so a protected request
    arriving first means that answer is lost or late; the initiator drops it unanswered (no INVALID_SYNTAX
    that would spend the responder's Message ID), and the responder's retransmission comes later."""
    moon, sun, _ = _half_open()
    (response,) = sun.pop_datagrams()
    moon.receive(response.payload, 0.5, src=SUN, dst=MOON)
    assert moon.state == State.AUTH_SENT
    moon.pop_datagrams(), moon.pop_events()
    nonce = bytes([0, 0, 0, 36]) + bytes(range(32))
    moon.receive(_protected_request(sun, ExchangeType.INFORMATIONAL, 40, nonce), 0.6, src=SUN, dst=MOON)
    assert moon.pop_datagrams() == []
    (reason,) = _dropped(moon.pop_events())
    assert "our IKE_AUTH request's answer has not come yet" in reason
    assert moon.state == State.AUTH_SENT


def test_a_closed_sa_does_not_answer_a_response_with_the_cached_message_id() -> None:
    """Mutant: after the IKE SA closed, a *response* with the cached Message ID and exchange brings the
    cached response again.

    RFC 7296 2.3: only a retransmitted request gets the cached response again.  After the responder has
    answered the initiator's Delete (and closed), a protected message from the initiator's keys that is a
    response, with that same Message ID and exchange, is no retransmission: dropped, nothing sent."""
    lab = established()
    moon, sun = lab.initiator, lab.responder
    lab.delete_ike("initiator")
    lab.run_until_idle()
    assert sun.state == State.CLOSED
    sun.pop_events(), sun.pop_datagrams()
    cached = sun._cached_response
    assert cached is not None and cached.exchange == ExchangeType.INFORMATIONAL
    moon._next_request_id = cached.message_id
    request = bytearray(_protected_request(moon, ExchangeType.INFORMATIONAL, 40,
                                           bytes([0, 0, 0, 36]) + bytes(range(32))))
    sun.receive(bytes(request), lab.now + 1)  # the genuine retransmission: answered from the cache
    assert len(sun.pop_datagrams()) == 1
    sun.pop_events()
    # the same message with the Response flag: it must be sealed again, since the ICV covers the header
    import struct

    from ikelab import sk as sk_mod

    inner = bytes([0, 0, 0, 36]) + bytes(range(32))
    crypto = moon._crypto(sending=True)
    sealed = sk_mod.sealed_length(crypto, len(inner))
    header = moon.spi_i + moon.spi_r + bytes([46, 0x20, int(ExchangeType.INFORMATIONAL), 0x08 | 0x20]) + \
        struct.pack("!II", cached.message_id, 28 + 4 + sealed)
    aad = header + bytes([40, 0]) + struct.pack("!H", 4 + sealed)
    sun.receive(aad + sk_mod.seal(crypto, inner, aad), lab.now + 2)
    assert sun.pop_datagrams() == []
    assert _dropped(sun.pop_events()) == ["IKE SA is closed"]


def test_an_initiator_behind_a_nat_does_not_follow_the_source_of_a_protected_request() -> None:
    """Mutant: the IKE SA follows the peer's source address even when we are the one behind the NAT.

    RFC 7296 2.23: "a host ... SHOULD NOT do this type of dynamic address update" when it is behind a NAT
    itself; the responder's address is fixed, and a packet from elsewhere must not redirect the IKE SA."""
    lab = Lab(*configs(), seed=3, nat="203.0.113.5")
    lab.initiate()
    lab.run_until_idle()
    moon, sun = lab.initiator, lab.responder
    assert moon.state == State.ESTABLISHED and moon.nat_local
    remote, local = moon.remote, moon.local
    sun.liveness(lab.now)
    (dgram,) = sun.pop_datagrams()
    moon.pop_events()
    elsewhere = ("198.51.100.7", remote[1])
    moon.receive(dgram.ike_message, lab.now + 1, src=elsewhere, dst=local)
    assert not [e for e in moon.pop_events() if isinstance(e, ev.PeerMoved)]
    assert moon.remote == remote
    (answer,) = moon.pop_datagrams()
    assert answer.dst == elsewhere  # the response goes back where the request came from (2.11) ...
    moon.liveness(lab.now + 2)
    assert [d.dst for d in moon.pop_datagrams()] == [remote]  # ... but the SA's own requests do not move


def _sealed(peer: IkeSa, exchange: ExchangeType, message_id: int, *, response: bool, first_type: int,
            inner: bytes) -> bytes:
    """A message from ``peer`` whose SK payload is correctly sealed with its keys around the raw chain ``inner``."""
    import struct

    from ikelab import sk as sk_mod

    crypto = peer._crypto(sending=True)
    sealed = sk_mod.sealed_length(crypto, len(inner))
    flags = (0x08 if peer.initiator else 0) | (0x20 if response else 0)
    header = peer.spi_i + peer.spi_r + bytes([46, 0x20, int(exchange), flags]) + struct.pack(
        "!II", message_id, 28 + 4 + sealed)
    aad = header + bytes([first_type, 0]) + struct.pack("!H", 4 + sealed)
    return aad + sk_mod.seal(crypto, inner, aad)


def test_an_authentic_malformed_response_is_never_answered() -> None:
    """Mutant: a protected *response* whose ICV verifies but whose inside is malformed is answered like a
    request (with the cached response, or INVALID_SYNTAX).

    RFC 7296 2.21.2/2.21.3 and 3.10.1: errors in a response are not answered (a response to a response would
    start a loop); only requests get INVALID_SYNTAX.  Here the response carries the Message ID and exchange of
    the request this peer answered last, and then the ID its window expects next: nothing is sent for either."""
    lab = established()
    moon, sun = lab.initiator, lab.responder
    lab.liveness("responder")  # moon answers sun's INFORMATIONAL request: its cached response
    lab.run_until_idle()
    moon.pop_events(), moon.pop_datagrams()
    cached = moon._cached_response
    assert cached is not None and cached.exchange == ExchangeType.INFORMATIONAL
    short_nonce = bytes([0, 0, 0, 8]) + b"\x01" * 4  # a 4-octet Nonce (3.9: at least 16): malformed inside
    for message_id in (cached.message_id, moon._peer_next_id):
        before = moon.snapshot()
        moon.receive(_sealed(sun, ExchangeType.INFORMATIONAL, message_id, response=True, first_type=40,
                             inner=short_nonce), lab.now + 1)
        assert moon.pop_datagrams() == []
        assert [e for e in moon.pop_events() if isinstance(e, ev.Failure)] == []
        assert moon.snapshot() == before


def test_a_request_the_handler_answered_before_failing_gets_no_second_response(monkeypatch) -> None:
    """Mutant: when a handler raises after it has already answered, receive sends INVALID_SYNTAX as well.

    RFC 7296 2.3: one request, one response, and a retransmission gets that same response again.  A handler that
    responded and then failed (here an INFORMATIONAL handler made to raise after answering) must leave exactly
    its one answer; the failure is reported as an event."""
    original = IkeSa.on_informational_request

    def answer_then_fail(self, now, **kw):
        original(self, now, **kw)
        raise NegotiationError("failed after answering")

    monkeypatch.setattr(IkeSa, "on_informational_request", answer_then_fail)
    lab = established()
    moon, sun = lab.initiator, lab.responder
    moon.liveness(lab.now)
    (request,) = moon.pop_datagrams()
    sun.pop_events(), sun.pop_datagrams()
    sun.receive(request.payload, lab.now + 1)
    sent = sun.pop_datagrams()
    assert len(sent) == 1
    failures = [e for e in sun.pop_events() if isinstance(e, ev.Failure)]
    assert len(failures) == 1 and "failed after answering" in failures[0].reason
    answer = decode(sent[0].payload, crypto=sun._crypto(sending=True))
    assert answer.is_response and answer.payloads[-1].inner == ()  # the handler's empty answer, no notify


# --------------------------------------------------------------------------- proposals (3.3.3)

_AES_CBC = Transform(TransformType.ENCR, EncrId.ENCR_AES_CBC, 128)
_PRF = Transform(TransformType.PRF, PrfId.PRF_HMAC_SHA2_256)
_INTEG = Transform(TransformType.INTEG, IntegId.AUTH_HMAC_SHA2_256_128)
_DH = Transform(TransformType.DH, DhId.ECP_256)


def test_the_initiator_refuses_an_ike_answer_without_integ_for_a_classic_cipher() -> None:
    """Mutant: the initiator's check forgets INTEG among the mandatory IKE types.

    RFC 7296 3.3.3: IKE needs ENCR, PRF, INTEG and D-H, INTEG being optional only with a combined-mode
    cipher.  An offer that carried INTEG as NONE beside AES-CBC, answered AES-CBC without INTEG, would leave the
    IKE SA without integrity protection; the answer must be refused naming INTEG."""
    offered = [Proposal(1, ProtocolId.IKE, b"", (_AES_CBC, _PRF, Transform(TransformType.INTEG, IntegId.NONE), _DH))]
    chosen = Proposal(1, ProtocolId.IKE, b"", (_AES_CBC, _PRF, _DH))
    with pytest.raises(NegotiationError, match=r"lacks INTEG \(RFC 7296 3\.3\.3\)"):
        check_chosen(offered, chosen)
    # the same answer with the integrity transform is accepted: the refusal is about INTEG alone
    good = Proposal(1, ProtocolId.IKE, b"", (_AES_CBC, _PRF, _INTEG, _DH))
    offered_good = [Proposal(1, ProtocolId.IKE, b"", (_AES_CBC, _PRF, _INTEG, _DH))]
    assert check_chosen(offered_good, good).integ == IntegId.AUTH_HMAC_SHA2_256_128


def test_a_configured_esp_proposal_without_esn_does_not_choose_esn() -> None:
    """Mutant: an absent ESN transform reads as "ESN or no ESN" rather than NO_ESN.

    RFC 7296 3.3.3 makes ESN mandatory for ESP; ikelab reads a configured proposal that leaves it out as
    NO_ESN (the 32-bit sequence numbers every implementation has).  An initiator that offers only ESN must
    then get NO_PROPOSAL_CHOSEN, and one that offers both gets NO_ESN."""
    aes = Transform(TransformType.ENCR, EncrId.ENCR_AES_GCM_16, 128)
    configured = [Proposal(1, ProtocolId.ESP, b"", (aes,))]
    esn_only = [Proposal(1, ProtocolId.ESP, b"\x01\x02\x03\x04", (aes, Transform(TransformType.ESN, EsnId.ESN)))]
    with pytest.raises(NegotiationError) as info:
        select(esn_only, configured)
    assert info.value.notify_type == "NO_PROPOSAL_CHOSEN"
    both = [Proposal(1, ProtocolId.ESP, b"\x01\x02\x03\x04",
                     (aes, Transform(TransformType.ESN, EsnId.ESN), Transform(TransformType.ESN, EsnId.NO_ESN)))]
    chosen = select(both, configured)
    assert chosen.of_type(TransformType.ESN) == (Transform(TransformType.ESN, EsnId.NO_ESN),)


# --------------------------------------------------------------------------- name constraints (RFC 5280 4.2.1.10)


def test_an_excluded_dns_subtree_written_as_an_absolute_name_still_excludes() -> None:
    """Mutant: an excluded dNSName subtree ``example.com.`` (with the root's trailing dot) is matched as written,
    so that ``www.example.com`` does not end in ``.example.com.`` and passes.

    RFC 5280 4.2.1.10 / 6.1.3 (c): a name inside an excluded subtree makes the path invalid, and an excluded
    subtree must not fail open on a spelling: the absolute name denotes the same DNS subtree (RFC 1034 3.1).
    A leaf outside it is still accepted, so the refusal is about the subtree."""
    from datetime import datetime, timezone

    from cryptography import x509

    from ikelab.cert_checks import verify_chain
    from ikelab.certs import ec_key_from_seed, make_ca, make_leaf
    from ikelab.errors import AuthenticationError

    ca_key, leaf_key = ec_key_from_seed("s38 nc ca"), ec_key_from_seed("s38 nc leaf")
    ca = make_ca("CN=Constrained CA", ca_key, excluded=[x509.DNSName("example.com.")])
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    inside = make_leaf(ca, ca_key, "CN=www", leaf_key, san=["www.example.com"])
    with pytest.raises(AuthenticationError, match=r"inside the excluded subtree dNSName 'example\.com\.'"):
        verify_chain(inside, [], [ca], now=now)
    top = make_leaf(ca, ca_key, "CN=top", leaf_key, san=["example.com"])
    with pytest.raises(AuthenticationError, match="excluded subtree"):
        verify_chain(top, [], [ca], now=now)
    outside = make_leaf(ca, ca_key, "CN=other", leaf_key, san=["www.example.org"])
    assert verify_chain(outside, [], [ca], now=now) == [outside, ca]


def test_verify_chain_refuses_a_max_depth_of_zero() -> None:
    """Mutant: ``max_depth=0`` is taken (the bound is checked as ``< 0``), and a leaf signed by the anchor passes.

    ``max_depth`` counts the certificates before the anchor, the leaf included, so no chain fits in 0: the
    argument is a ConfigError naming ``max_depth``, never a silent accept; 1 is the least that works."""
    from datetime import datetime, timezone

    from ikelab.cert_checks import verify_chain
    from ikelab.certs import ec_key_from_seed, make_ca, make_leaf
    from ikelab.errors import ConfigError

    ca_key, leaf_key = ec_key_from_seed("s38 depth ca"), ec_key_from_seed("s38 depth leaf")
    ca = make_ca("CN=Depth CA", ca_key)
    leaf = make_leaf(ca, ca_key, "CN=leaf", leaf_key, san=["leaf.example"])
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    with pytest.raises(ConfigError) as info:
        verify_chain(leaf, [], [ca], now=now, max_depth=0)
    assert info.value.field == "max_depth"
    assert verify_chain(leaf, [], [ca], now=now, max_depth=1) == [leaf, ca]


# --------------------------------------------------------------------------- keys and SK (RFC 7296 2.14, 3.14)


def test_ike_sa_keys_need_an_encryption_algorithm() -> None:
    """Mutant: ``ike_sa_keys(encr=None, integ=...)`` derives keys with empty SK_ei/SK_er.

    RFC 7296 3.3.3: ENCR is mandatory for IKE (and 3.14: every message after IKE_SA_INIT is encrypted), so
    asking for IKE SA keys without a cipher is a ConfigError naming ``encr``, not a set of keys that leaves
    the IKE SA unencrypted.  (CHILD SA keys without ENCR are AH's, and stay allowed.)"""
    from ikelab.errors import ConfigError
    from ikelab.keys import child_sa_keys, ike_sa_keys

    with pytest.raises(ConfigError, match=r"RFC 7296 3\.3\.3") as info:
        ike_sa_keys(PrfId.PRF_HMAC_SHA2_256, bytes(32), bytes(16), bytes(16), bytes(8), b"\x01" * 8,
                    encr=None, integ=IntegId.AUTH_HMAC_SHA2_256_128)  # type: ignore[arg-type]
    assert info.value.field == "encr"
    ah = child_sa_keys(PrfId.PRF_HMAC_SHA2_256, bytes(32), bytes(16), bytes(16), encr=None,
                       integ=IntegId.AUTH_HMAC_SHA2_256_128)
    assert (len(ah.encr_i), len(ah.integ_i)) == (0, 32)


@pytest.mark.parametrize("pad_length", [128, 143, 255])
def test_a_pad_length_of_128_or_more_is_honoured(pad_length: int) -> None:
    """Mutant: the Pad Length octet is read as seven bits (``& 0x7F``).

    RFC 7296 3.14: "Pad Length is the length of the Padding field", one octet, and the padding may be longer
    than the minimum.  A message sealed here with cryptography alone (AES-CBC, then HMAC-SHA-256-128 over the
    header through the ciphertext) and 128 or more octets of padding must give back exactly its payloads."""
    from cryptography.hazmat.primitives import hashes, hmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from ikelab.sk import SkCrypto, unseal

    sk_e, sk_a, iv = bytes(range(16)), bytes(range(32, 64)), bytes(range(100, 116))
    payloads = bytes([0, 0, 0, 8]) + b"ping"  # any octets: unseal does not parse them
    extra = (-(len(payloads) + pad_length + 1)) % 16
    payloads += bytes(extra)
    padded = payloads + bytes(pad_length) + bytes([pad_length])
    assert len(padded) % 16 == 0
    encryptor = Cipher(algorithms.AES(sk_e), modes.CBC(iv)).encryptor()
    ct = encryptor.update(padded) + encryptor.finalize()
    aad = bytes(28) + bytes(4)  # stands for HDR and the SK payload header
    mac = hmac.HMAC(sk_a, hashes.SHA256())
    mac.update(aad + iv + ct)
    body = iv + ct + mac.finalize()[:16]
    crypto = SkCrypto.create("ENCR_AES_CBC", sk_e, key_bits=128, integ="AUTH_HMAC_SHA2_256_128", sk_a=sk_a)
    inner, details = unseal(crypto, aad, body, len(aad))
    assert inner == payloads
    assert details.pad_length == pad_length and len(details.padding) == pad_length
