"""A coverage-guided review of the IKE side: the paths the suite never took, each reached the way a user or a
peer reaches it (a configuration, a payload built by hand, bytes on the wire into ``receive(data, now)``), and
what they rely on asserted: the typed error with its ``field`` and a message that says what was wrong, or the
answer RFC 7296 asks for with the SA left as it was.
"""

from __future__ import annotations

import pytest

from ikelab import events as ev
from ikelab import exchanges_wire as W
from ikelab.config import IkeConfig
from ikelab.constants import EncrId, ExchangeType, NotifyType, ProtocolId, TransformType
from ikelab.endpoint import IkeEndpoint
from ikelab.errors import ConfigError
from ikelab.exchanges_common import Datagram
from ikelab.identity import parse_identity
from ikelab.message import Message, decode
from ikelab.payloads import SK, SKF, Notify
from ikelab.rand import DeterministicRandom
from ikelab.sa_payload import SA, Proposal, Transform
from ikelab.state import State
from ikelab.ts_payload import TSi, TrafficSelector

from test_ike import _protected_request, configs, established

PSK = b"a shared secret of some length"


def _dropped(events: list) -> list[str]:
    return [e.reason for e in events if isinstance(e, ev.MessageDropped)]


# --------------------------------------------------------------------------- bytes on the wire (ike_receive)


def test_an_unprotected_informational_request_after_ike_sa_init_is_dropped_unanswered() -> None:
    """RFC 7296 1.2/3.14: every message after IKE_SA_INIT is protected by SK; an unprotected INFORMATIONAL with
    the IKE SA's SPIs (anyone can forge one) is dropped: no answer, no message ID used, no sign of life."""
    lab = established()
    moon, sun = lab.initiator, lab.responder
    before, seen = sun.snapshot(), sun.last_received
    forged = Message(moon.spi_i, moon.spi_r, ExchangeType.INFORMATIONAL, True, False, sun._peer_next_id, ())
    sun.receive(forged.encode(), lab.now + 1)
    assert _dropped(sun.pop_events()) == ["unprotected INFORMATIONAL message"]
    assert sun.pop_datagrams() == []
    assert sun.snapshot() == before and sun.last_received == seen and sun.state == State.ESTABLISHED


@pytest.mark.parametrize("exchange", [0, 38, 45])
def test_a_protected_request_of_an_exchange_type_the_engine_does_not_know_is_dropped(exchange: int) -> None:
    """RFC 7296 3.1: the exchange type constrains what a message holds; one this engine does not implement
    (IKE_SESSION_RESUME, 38; an unassigned 45) is dropped, naming the type, and the window does not move."""
    lab = established()
    moon, sun = lab.initiator, lab.responder
    before = sun.snapshot()
    msg = W.message(moon.spi_i, moon.spi_r, exchange, True, False, sun._peer_next_id, [])
    sun.receive(W.encode(msg, crypto=moon._crypto(sending=True)), lab.now)
    assert _dropped(sun.pop_events()) == [f"exchange {exchange} not supported"]
    assert sun.pop_datagrams() == [] and sun.snapshot() == before


@pytest.mark.parametrize("offset", [-2, 3])
def test_an_authentic_malformed_request_outside_the_window_is_not_answered(offset: int) -> None:
    """RFC 7296 2.3: a responder answers only the request with the next message ID (or the last one again);
    a request that passes the ICV but is malformed inside (2.21.3) with an older or a future ID gets no
    INVALID_SYNTAX, and the expected message ID stays where it was."""
    lab = established()
    lab.liveness("initiator")
    lab.liveness("initiator")
    lab.run_until_idle()
    sun, moon = lab.responder, lab.initiator
    expected = sun._peer_next_id
    assert expected >= 3
    moon._next_request_id = expected + offset
    short_nonce = bytes([0, 0, 0, 8]) + b"\x01" * 4  # a 4-octet Nonce (3.9: at least 16)
    sun.receive(_protected_request(moon, ExchangeType.INFORMATIONAL, 40, short_nonce), lab.now)
    assert sun.pop_datagrams() == []
    events = sun.pop_events()
    assert not [e for e in events if isinstance(e, ev.Failure)]
    assert any("undecodable inside SK" in r for r in _dropped(events))
    assert sun._peer_next_id == expected and sun.state == State.ESTABLISHED


# --------------------------------------------------------------------------- addresses (exchanges_common)


@pytest.mark.parametrize("remote", [(b"192.0.2.2", 500), (3221225986, 500)])
def test_a_remote_address_that_is_not_text_is_a_config_error_naming_it(remote: tuple) -> None:
    """The NAT detection hashes cover the address the packets carry (RFC 7296 2.23): an address given as bytes
    or as a number is refused before anything is sent, naming ``remote_address``."""
    ep = IkeEndpoint(configs()[0], DeterministicRandom(1), "192.0.2.1")
    with pytest.raises(ConfigError, match="remote address must be an IP address as text") as err:
        ep.initiate(remote, 0.0)
    assert err.value.field == "remote_address"
    assert ep.sas == {} and ep.pop_datagrams() == []


def test_a_datagram_from_a_source_that_is_no_address_is_a_config_error_not_a_cookie() -> None:
    """RFC 7296 2.6: the cookie covers the initiator's IP address.  A datagram handed to the endpoint with a
    source that is no IP address is the caller's mistake: a ConfigError that names it, and no half-open SA."""
    ci, cr = configs(cookie_threshold=0)
    initiator = IkeEndpoint(ci, DeterministicRandom(1), "192.0.2.1")
    responder = IkeEndpoint(cr, DeterministicRandom(2), "192.0.2.2")
    initiator.initiate(("192.0.2.2", 500), 0.0)
    (request,) = initiator.pop_datagrams()
    with pytest.raises(ConfigError, match="not an IP address: 'host-a'") as err:
        responder.receive(Datagram(request.payload, ("host-a", 500), request.dst), 0.0)
    assert err.value.field == "address"
    assert responder.sas == {} and responder.half_open == {} and responder.pop_datagrams() == []


# --------------------------------------------------------------------------- identities in IKE_AUTH (exchanges_init)


@pytest.mark.parametrize("remote_id", ["moon.example", "%any", "*.example"])
def test_an_idi_of_an_id_type_not_in_the_registry_fails_authentication_saying_it_cannot_be_read(
        remote_id: str) -> None:
    """RFC 7296 3.5 lists the ID Types; an IDi of an unassigned type (200) cannot be compared with any
    remote_id, so the responder answers AUTHENTICATION_FAILED (2.21.2) and both IKE SAs close.  The responder's
    reason said only "id_type: unknown IdType 200", not that it was the peer's identity it could not read."""
    from unittest import mock

    from ikelab import payloads as P
    from ikelab.lab import Lab

    real = W.id_payload

    def unassigned(initiator: bool, identity):  # what moon sends as IDi: an ID Type nobody assigned
        return P.IDi._from_wire(200, b"moon.example", False) if initiator else real(initiator, identity)

    lab = Lab(*configs(r=dict(remote_id=remote_id)), seed=1)
    with mock.patch.object(W, "id_payload", unassigned):
        lab.initiate()
        lab.run_until_idle()
    (failure,) = lab.events("responder", ev.Failure)
    assert failure.notify == "AUTHENTICATION_FAILED" and failure.fatal
    assert failure.reason.startswith("the peer's identity cannot be read") and "IdType 200" in failure.reason
    assert [f.notify for f in lab.events("initiator", ev.Failure)] == ["AUTHENTICATION_FAILED"]
    assert lab.initiator.state == lab.responder.state == State.CLOSED
    assert not lab.events("responder", ev.ChildSaCreated)


def test_without_a_local_id_the_ike_address_is_the_identity() -> None:
    """RFC 7296 3.5: with no local_id configured the initiator names itself by its IP address (ID_IPV4_ADDR,
    as strongSwan does by default), and a responder that expects that address authenticates it."""
    from ikelab.constants import IdType

    lab = established(i=dict(local_id=None), r=dict(remote_id="192.0.2.1"))
    ident = lab.responder.remote_identity
    assert (ident.id_type, bytes(ident.data)) == (IdType.ID_IPV4_ADDR, bytes([192, 0, 2, 1]))
    assert lab.initiator.state == lab.responder.state == State.ESTABLISHED


# --------------------------------------------------------------------------- configuration (config)


def _cfg(**kw) -> IkeConfig:
    return IkeConfig(psk=PSK, **kw)


def test_a_rekey_time_of_none_is_a_config_error_naming_it() -> None:
    """RFC 7296 2.8: an SA is rekeyed before it expires, so ike_rekey_time is a duration; None (which only
    dpd_interval takes, to turn liveness checks off) is refused by name."""
    with pytest.raises(ConfigError, match="ike_rekey_time must be a duration, not None") as err:
        _cfg(ike_rekey_time=None)
    assert err.value.field == "ike_rekey_time"


def test_empty_items_among_traffic_selectors_are_skipped() -> None:
    """'10.0.0.0/24,,10.1.0.0/24' (strongSwan's comma list, RFC 7296 3.13.1 ranges) and a blank item in a tuple
    give the selectors written, no empty one."""
    assert [str(t) for t in _cfg(local_ts="10.0.0.0/24,,10.1.0.0/24").local_ts] == ["10.0.0.0/24", "10.1.0.0/24"]
    assert [str(t) for t in _cfg(local_ts=("10.0.0.0/24", "  ")).local_ts] == ["10.0.0.0/24"]


@pytest.mark.parametrize("value, says", [
    (b"garbage", "not an X.509 certificate"),
    ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a PEM bundle"),
])
def test_trust_anchors_that_are_no_certificates_are_a_config_error_naming_them(value, says: str) -> None:
    """The chain is checked against trust_anchors (RFC 7296 3.6, RFC 5280 6): bytes that hold no certificate
    are refused when configured, naming the setting."""
    with pytest.raises(ConfigError, match=says) as err:
        _cfg(trust_anchors=value)
    assert err.value.field == "trust_anchors" and str(err.value).startswith("trust_anchors: ")


@pytest.mark.parametrize("value, says", [
    (b"garbage", "cannot load private key"),
    ("/nonexistent/ikelab-key.pem", "cannot read private key file"),
])
def test_a_private_key_that_cannot_be_loaded_is_a_config_error_naming_it(value, says: str) -> None:
    """The key that signs AUTH (RFC 7296 2.15): unreadable bytes or a missing file are refused by name."""
    with pytest.raises(ConfigError, match=says) as err:
        IkeConfig(private_key=value)
    assert err.value.field == "private_key" and str(err.value).startswith("private_key: ")


def test_an_identity_object_is_taken_as_its_text_and_a_number_is_refused() -> None:
    """local_id / remote_id (RFC 7296 3.5): an Identity (parse_identity's result) is kept as its text form;
    a number is refused, naming the setting."""
    assert _cfg(local_id=parse_identity("moon@example.org")).local_id == "moon@example.org"
    assert _cfg(local_id=parse_identity("192.0.2.1")).local_id == "192.0.2.1"
    with pytest.raises(ConfigError, match="remote_id must be an identity string, not int") as err:
        _cfg(remote_id=42)
    assert err.value.field == "remote_id"


def test_a_certificate_configuration_prints_its_names_and_no_secret() -> None:
    """str(config) reads as strongSwan's connection listing: the certificate sent in CERT (RFC 7296 3.6) by its
    subject and the CAs, in strongSwan's DN form (C=, O=, CN=), and no psk line (2.15) when there is none; repr
    stays short."""
    from ikelab.certs import ec_key_from_seed, make_ca, make_leaf

    ca_key = ec_key_from_seed("coverage ca")
    ca = make_ca("C=CH, O=ikelab, CN=Coverage CA", ca_key)
    key = ec_key_from_seed("coverage moon")
    cert = make_leaf(ca, ca_key, "C=CH, O=ikelab, CN=moon.example", key, san=["moon.example"])
    cfg = IkeConfig(name="moon", certificate=cert, private_key=key, trust_anchors=[ca], local_id="moon.example")
    text = str(cfg)
    assert "  cert       = C=CH, O=ikelab, CN=moon.example" in text.splitlines()
    assert "  cacerts    = C=CH, O=ikelab, CN=Coverage CA" in text.splitlines()
    assert "psk" not in text and "auth = pubkey" in text
    assert repr(cfg) == "IkeConfig(name='moon', local_id='moon.example', remote_id='%any', ...)"


# --------------------------------------------------------------------------- proposals (proposals, proposal_syntax)


def _without(p: Proposal, ttype: TransformType) -> Proposal:
    return Proposal(p.number, p.protocol, p.spi, tuple(t for t in p.transforms if t.type != ttype))


@pytest.mark.parametrize("text, protocol, dropped, lacks", [
    ("aes128-sha256-modp2048", "IKE", TransformType.ENCR, "ENCR"),
    ("aes128-sha256", "ESP", TransformType.ENCR, "ENCR"),
    ("sha256", "AH", TransformType.INTEG, "INTEG"),
])
def test_a_chosen_proposal_without_a_mandatory_transform_is_refused(text: str, protocol: str, dropped, lacks: str) -> None:
    """RFC 7296 3.3.3: IKE needs ENCR, PRF, INTEG (unless AEAD) and D-H; ESP needs ENCR (and INTEG unless AEAD);
    AH needs INTEG.  A responder's choice that leaves one out, all else offered, is a NegotiationError naming it."""
    from ikelab.errors import NegotiationError
    from ikelab.proposal_syntax import parse_proposal
    from ikelab.proposals import check_chosen

    offered = parse_proposal(text, protocol)
    with pytest.raises(NegotiationError, match=rf"lacks {lacks} \(RFC 7296 3.3.3\)") as err:
        check_chosen([offered], _without(offered, dropped))
    assert err.value.notify_type == "NO_PROPOSAL_CHOSEN"


def test_select_refuses_an_unknown_preference_and_a_protocol_that_is_not_negotiable() -> None:
    """select(prefer=...) takes 'configured' or 'offered'; a proposal for protocol 4 (not IKE, AH or ESP,
    RFC 7296 3.3.1) is never chosen, and the reason says so."""
    from ikelab.errors import NegotiationError
    from ikelab.proposal_syntax import parse_proposal
    from ikelab.proposals import select

    ike = parse_proposal("aes128-sha256-modp2048")
    with pytest.raises(ConfigError, match="prefer must be 'configured' or 'offered', not 'mine'") as err:
        select([ike], [ike], prefer="mine")
    assert err.value.field == "prefer"
    other = Proposal(1, 4, b"", ike.transforms)
    with pytest.raises(NegotiationError, match="protocol 4 is not negotiable"):
        select([other], [other])


def test_an_ah_suite_becomes_a_proposal_without_encr() -> None:
    """RFC 4302 / RFC 7296 3.3.3: AH carries INTEG (and ESN), no ENCR; Suite.to_proposal of an AH suite says so."""
    from ikelab.proposal_syntax import parse_proposal
    from ikelab.proposals import suite_of

    suite = suite_of(parse_proposal("sha256", "AH"))
    assert [t.type for t in suite.to_proposal(1).transforms] == [TransformType.INTEG, TransformType.ESN]


@pytest.mark.parametrize("text, protocol, says", [
    ("aes128-sha256", 0, "proposals are for IKE, ESP or AH, not NONE"),
    ("noesn", "AH", "AH proposal 'noesn' has no integrity algorithm"),
])
def test_proposal_text_for_no_protocol_or_an_ah_one_without_integrity_is_refused(text: str, protocol, says: str) -> None:
    """RFC 7296 3.3.1: a proposal is for IKE, AH or ESP; an AH proposal must have INTEG (3.3.3)."""
    from ikelab.proposal_syntax import parse_proposal

    with pytest.raises(ConfigError, match=says):
        parse_proposal(text, protocol)


def test_check_proposal_names_what_is_wrong() -> None:
    """check_proposal: a string is not a Proposal (parse_proposal reads one); a protocol other than IKE, ESP or
    AH is refused; a transform type no registry holds is named as 'type 77' (RFC 7296 3.3.2)."""
    from ikelab.proposal_syntax import check_proposal, parse_proposal

    ike = parse_proposal("aes128-sha256-modp2048")
    with pytest.raises(ConfigError, match="must be a Proposal, not str: parse_proposal"):
        check_proposal("aes128")
    with pytest.raises(ConfigError, match="is not for IKE, ESP or AH"):
        check_proposal(Proposal(1, 4, b"", ike.transforms))
    with pytest.raises(ConfigError, match=r"cannot carry type 77 transforms \(77_1\) \(RFC 7296 3.3.3\)"):
        check_proposal(Proposal(1, ProtocolId.IKE, b"", ike.transforms + (Transform(77, 1),)))


# --------------------------------------------------------------------------- payloads built by hand (sa_payload, payloads, message)

_AES = Transform(TransformType.ENCR, EncrId.ENCR_AES_CBC, 128)
_SPI = b"\x01\x02\x03\x04"


def test_sa_takes_a_list_of_proposals_and_refuses_text_as_one_item() -> None:
    """SA(proposals) (RFC 7296 3.3) keeps a tuple (frozen, hashable); a str or bytes is refused as an item, not
    taken apart letter by letter, naming proposals[0]."""
    sa = SA([Proposal(1, ProtocolId.ESP, _SPI, (_AES,))])
    assert isinstance(sa.proposals, tuple) and len(sa.proposals) == 1
    for text in ("abc", b"abc"):
        with pytest.raises(ConfigError, match=r"proposals\[0\] must be a Proposal") as err:
            SA(text)
        assert err.value.field == "proposals[0]"


@pytest.mark.parametrize("number, field, says", [
    (True, "SA.proposal[1].proposal_number", "must be an integer, not bool"),
    (0.0, "SA.proposal[1].proposal_number", "must be an integer, not float"),
])
def test_a_proposal_number_that_is_not_an_integer_is_refused_on_encoding(number, field: str, says: str) -> None:
    """RFC 7296 3.3.1: the Proposal Num is a one-octet number starting at 1; True or 0.0 is not one."""
    with pytest.raises(ConfigError, match=says) as err:
        SA((Proposal(number, ProtocolId.ESP, _SPI, (_AES,)),)).encode()
    assert err.value.field == field


def test_a_proposal_number_zero_of_an_int_subclass_is_refused_on_encoding() -> None:
    """RFC 7296 3.3.1: "The first Proposal has a Proposal Num of one"; the decoder refuses 0, so the encoder
    refuses it too, whatever int type carries it."""
    from enum import IntEnum

    class Num(IntEnum):
        ZERO = 0

    with pytest.raises(ConfigError, match="proposal number 0; numbering starts at 1") as err:
        SA((Proposal(Num.ZERO, ProtocolId.ESP, _SPI, (_AES,)),)).encode()
    assert err.value.field == "SA.proposal[1].proposal_number"


def test_a_proposal_spi_as_bytearray_encodes_as_bytes_and_text_is_refused() -> None:
    """RFC 7296 3.3.1: the SPI is octets (4 for ESP); a bytearray gives the same wire as bytes, a str is refused."""
    same = SA((Proposal(1, ProtocolId.ESP, bytearray(_SPI), (_AES,)),))
    assert same.encode() == SA((Proposal(1, ProtocolId.ESP, _SPI, (_AES,)),)).encode()
    (back,) = decode(Message(bytes(range(1, 9)), payloads=(same,)).encode()).payloads
    assert back.proposals[0].spi == _SPI
    with pytest.raises(ConfigError, match="spi must be bytes, not str") as err:
        SA((Proposal(1, ProtocolId.ESP, "abcd", (_AES,)),)).encode()
    assert err.value.field == "SA.proposal[1].spi"


def test_a_proposal_or_transform_longer_than_its_16_bit_length_is_refused_naming_which() -> None:
    """RFC 7296 3.3.1 / 3.3.2: Proposal Length and Transform Length are two octets; attributes that make either
    longer than 65535 octets are refused, naming the proposal or transform."""
    one = Transform(TransformType.ENCR, EncrId.ENCR_AES_CBC, None, ((5, b"x" * 65530),))
    with pytest.raises(ConfigError, match="is 65542 bytes; at most 65535") as err:
        SA((Proposal(1, ProtocolId.ESP, _SPI, (one,)),)).encode()
    assert err.value.field == "SA.proposal[1].transform[1].transform_length"
    half = Transform(TransformType.ENCR, EncrId.ENCR_AES_CBC, None, ((5, b"x" * 40000),))
    with pytest.raises(ConfigError, match="at most 65535") as err:
        SA((Proposal(1, ProtocolId.ESP, _SPI, (half, half)),)).encode()
    assert err.value.field == "SA.proposal[1].proposal_length"


def test_an_sk_payload_needs_exactly_one_form_and_names_what_is_missing() -> None:
    """RFC 7296 3.14: the SK payload is either known inner payloads (to encrypt) or opaque octets (received);
    neither or both is refused; the opaque form splits into IV, ciphertext and ICV only when long enough."""
    for kw in ({}, {"inner": (), "encrypted": b""}):
        with pytest.raises(ConfigError, match="SK needs exactly one of inner="):
            SK(**kw)
    assert SK(inner=()).is_decrypted and not SK(encrypted=b"abc").is_decrypted
    with pytest.raises(ConfigError, match=r"SK body of 3 bytes is shorter than IV \+ ICV \(16 \+ 16\)") as err:
        SK(encrypted=b"abc").parts(16, 16)
    assert err.value.field == "SK.encrypted"
    with pytest.raises(ConfigError, match="holds plaintext payloads: encode the message with crypto=") as err:
        SK(inner=()).encode()
    assert err.value.field == "SK.inner"
    iv, ct, icv = SK(encrypted=bytes(range(40))).parts(16, 16)
    assert (iv, ct, icv) == (bytes(range(16)), bytes(range(16, 24)), bytes(range(24, 40)))


def test_an_skf_payload_needs_exactly_one_form() -> None:
    """RFC 7383 2.5: an Encrypted Fragment is plaintext content to seal or received octets; not neither, and
    plaintext content is not encoded without keys."""
    with pytest.raises(ConfigError, match="SKF needs exactly one of content= or encrypted="):
        SKF(1, 1)
    assert SKF(1, 1, content=b"a").is_decrypted and not SKF(1, 1, encrypted=b"a").is_decrypted
    with pytest.raises(ConfigError, match="holds plaintext content: encode the message with crypto=") as err:
        SKF(1, 1, content=b"a").encode()
    assert err.value.field == "SKF.content"


def test_message_payloads_may_be_one_payload_or_a_list_but_not_a_number() -> None:
    """Message(payloads=...) is the payload chain after the header (RFC 7296 3.1, 3.2): one payload or a list
    gives the same tuple and the same octets; an int is refused by name."""
    cookie = Notify(NotifyType.COOKIE, data=b"x" * 8)
    assert Message(bytes(8), payloads=cookie).payloads == (cookie,)
    assert Message(bytes(8), payloads=[cookie]).payloads == (cookie,)
    assert Message(bytes(8), payloads=cookie).encode() == Message(bytes(8), payloads=(cookie,)).encode()
    with pytest.raises(ConfigError, match="payloads must be a sequence of payloads, not int") as err:
        Message(bytes(8), payloads=5)
    assert err.value.field == "payloads"


# --------------------------------------------------------------------------- selectors, identities, notifies


def test_a_peer_selector_with_start_after_end_decodes_to_an_empty_range_shown_as_sent() -> None:
    """RFC 7296 3.13.1 gives a range by its start and end; one whose start is after its end (which ikelab never
    builds) is kept as the peer sent it: no networks, and its text shows both ends."""
    ts = TrafficSelector.from_range("10.0.0.1", "10.0.0.9")
    raw = Message(bytes(range(1, 9)), payloads=(TSi((ts,)),)).encode()
    swapped = raw[:-8] + raw[-4:] + raw[-8:-4]
    (got,) = decode(swapped).payloads[0].selectors
    assert got.networks == [] and str(got) == "10.0.0.9..10.0.0.1"


def test_selector_texts_and_bad_networks() -> None:
    """RFC 7296 3.13.1: a selector of one IP protocol and any port reads '10.0.0.0/24[6]' (strongSwan's form);
    TSi.of joins several; a network that is no network is a ConfigError naming network."""
    from ikelab.ts_payload import selectors_of

    assert str(TrafficSelector.from_network("10.0.0.0/24", ip_protocol=6)) == "10.0.0.0/24[6]"
    assert str(TSi.of("10.0.0.0/24", "2001:db8::/32")) == "10.0.0.0/24 2001:db8::/32"
    assert [str(t) for t in selectors_of(["10.0.0.0/8", "::/0"])] == ["10.0.0.0/8", "::/0"]
    for bad in ("10.0.0.0/33", "nope"):
        with pytest.raises(ConfigError, match="is not an IP network") as err:
            TrafficSelector.from_network(bad)
        assert err.value.field == "network"


def test_an_id_payload_reads_as_text_when_it_can_and_as_hex_otherwise() -> None:
    """RFC 7296 3.5: ID_FQDN is a name, ID_DER_ASN1_DN a DER Name; str() gives the name, or the octets in hex
    when they are not printable ASCII or not DER (built by hand: the encoder refuses such a DN)."""
    from ikelab.constants import IdType
    from ikelab.id_payload import IDi

    assert str(IDi(IdType.ID_FQDN, b"vpn.example")) == "vpn.example"
    assert str(IDi.from_address("192.0.2.1")) == "192.0.2.1"
    assert str(IDi(IdType.ID_FQDN, b"bad\xffname")) == "626164ff6e616d65"
    bad_dn = IDi(IdType.ID_DER_ASN1_DN, b"\x30\x03\x31\x01\x00")
    assert bad_dn.value == b"\x30\x03\x31\x01\x00" and str(bad_dn) == "3003310100"
    with pytest.raises(ConfigError, match="data is not a DER Name"):
        bad_dn.encode()


def test_a_peer_id_der_asn1_dn_that_is_not_der_is_a_parse_error_at_its_octet() -> None:
    """RFC 7296 3.5: ID_DER_ASN1_DN holds a DER Name; a peer's whose inner length runs past the data is a
    ParseError naming IDi.id_data and the offset of that length octet in the message."""
    from ikelab.constants import IdType
    from ikelab.errors import ParseError
    from ikelab.id_payload import IDi

    raw = bytearray(Message(bytes(range(1, 9)), payloads=(IDi(IdType.ID_KEY_ID, b"\x30\x03abc"),)).encode())
    raw[28 + 4] = IdType.ID_DER_ASN1_DN  # the ID Type octet after the generic payload header
    with pytest.raises(ParseError) as err:
        decode(bytes(raw))
    # header 28, payload header 4, ID Type and reserved 4: data at 36; 0x30 0x03 then 'a' (a tag) 'b' (length 98)
    assert (err.value.field, err.value.offset) == ("IDi.id_data", 39)


def test_only_the_nat_detection_notifies_carry_a_nat_detection_hash() -> None:
    """RFC 7296 2.23: NAT_DETECTION_*_IP carry the SHA-1 hash; any other notify has none."""
    assert Notify(NotifyType.COOKIE, data=b"x" * 8).nat_detection_hash is None
    assert Notify(NotifyType.NAT_DETECTION_SOURCE_IP, data=b"h" * 20).nat_detection_hash == b"h" * 20


def test_a_malformed_address_identity_cannot_be_formatted_or_matched() -> None:
    """RFC 7296 3.5: ID_IPV4_ADDR is four octets, ID_IPV6_ADDR sixteen; other lengths are a ParseError that
    says how many there were, also when a wildcard pattern is matched against such an identity."""
    from ikelab.constants import IdType
    from ikelab.errors import ParseError
    from ikelab.identity import Identity, format_identity, matches

    with pytest.raises(ParseError, match="ID_IPV6_ADDR data is 4 octets, expected 16"):
        format_identity(IdType.ID_IPV6_ADDR, b"\x01\x02\x03\x04")
    with pytest.raises(ParseError, match="ID_IPV4_ADDR data is 1 octets, expected 4"):
        matches("192.0.2.*", Identity(IdType.ID_IPV4_ADDR, b"\x01"))
    assert matches("192.0.2.*", parse_identity("192.0.2.7"))
    assert matches("CN=*, O=Example", parse_identity("CN=moon, O=Example"))
    assert not matches("CN=*, O=Other", parse_identity("CN=moon, O=Example"))


# --------------------------------------------------------------------------- DER names and RSASSA-PSS parameters (dn, pss)


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag, len(body)]) + body


_CN = _tlv(0x06, bytes.fromhex("550403"))  # id-at-commonName 2.5.4.3
_C = _tlv(0x06, bytes.fromhex("550406"))  # id-at-countryName 2.5.4.6


@pytest.mark.parametrize("der, offset, says", [
    # an RDN SET holding an INTEGER where an AttributeTypeAndValue SEQUENCE belongs: its tag at octet 4
    (_tlv(0x30, _tlv(0x31, _tlv(0x02, b"\x00"))), 4, "an attribute is a DER SEQUENCE"),
    # CN=A followed by a NULL inside the same AttributeTypeAndValue: the NULL at octet 14
    (_tlv(0x30, _tlv(0x31, _tlv(0x30, _CN + _tlv(0x0C, b"A") + _tlv(0x05, b"")))), 14, "bytes after the attribute value"),
])
def test_a_dn_with_a_malformed_attribute_is_a_parse_error_at_its_octet(der: bytes, offset: int, says: str) -> None:
    """RFC 5280 4.1.2.4 (X.501 Name): an RDN is a SET OF AttributeTypeAndValue, each SEQUENCE { type, value };
    ID_DER_ASN1_DN data (RFC 7296 3.5) that breaks that is a ParseError at the octet where it breaks."""
    from ikelab.dn import check_dn
    from ikelab.errors import ParseError

    with pytest.raises(ParseError, match=says) as err:
        check_dn(der)
    assert err.value.offset == offset


@pytest.mark.parametrize("value, says", [
    (_tlv(0x13, b"ABC"), "Attribute's length must be >= 2 and <= 2"),  # countryName is two letters (X.520)
    (_tlv(0x0C, b"\xff"), "can't decode byte 0xff"),  # a UTF8String that is not UTF-8
])
def test_a_dn_value_that_cannot_be_a_name_is_a_parse_error_at_the_value(value: bytes, says: str) -> None:
    """der_to_name: a countryName of three letters (RFC 5280 A.1: PrintableString SIZE (2)) or a UTF8String
    that is not UTF-8 is a ParseError naming the field and the octet of the value's TLV (11)."""
    from ikelab.dn import der_to_name
    from ikelab.errors import ParseError

    attr = _C if value[0] == 0x13 else _CN
    with pytest.raises(ParseError, match=says) as err:
        der_to_name(_tlv(0x30, _tlv(0x31, _tlv(0x30, attr + value))))
    assert (err.value.field, err.value.offset) == ("ID_DER_ASN1_DN", 11)


_PSS = _tlv(0x06, bytes.fromhex("2a864886f70d01010a"))  # id-RSASSA-PSS 1.2.840.113549.1.1.10


@pytest.mark.parametrize("field, says", [
    (0xA0, "hash AlgorithmIdentifier must be a SEQUENCE"),
    (0xA1, "maskGenAlgorithm must be a SEQUENCE"),
])
def test_pss_parameters_whose_hash_or_mgf_is_not_a_sequence_are_refused(field: int, says: str) -> None:
    """RFC 4055 3.1: hashAlgorithm [0] and maskGenAlgorithm [1] are AlgorithmIdentifier SEQUENCEs; an INTEGER
    there makes the AUTH payload uncheckable: AuthenticationError (RFC 7427 3)."""
    from ikelab.errors import AuthenticationError
    from ikelab.pss import parse_pss_algorithm_identifier

    with pytest.raises(AuthenticationError, match=says):
        parse_pss_algorithm_identifier(_tlv(0x30, _PSS + _tlv(0x30, _tlv(field, _tlv(0x02, b"\x00")))))


# --------------------------------------------------------------------------- keys, certificates, AUTH (certs, auth)


def test_certificate_helpers_refuse_what_they_cannot_use_and_take_an_x509_name() -> None:
    """ec_key_from_seed takes bytes, text or a random source, not an int; make_ca takes an x509.Name as it is;
    to_pem writes certificates and the private keys IKE signs with (RFC 7296 3.8), nothing else."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import dsa
    from cryptography.x509.oid import NameOID

    from ikelab.certs import ec_key_from_seed, make_ca, to_pem

    with pytest.raises(ConfigError, match="seed must be bytes, str or a random source, not int") as err:
        ec_key_from_seed(12345)
    assert err.value.field == "seed"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Named CA")])
    assert make_ca(name, ec_key_from_seed("named")).subject == name
    with pytest.raises(ConfigError, match="cannot write DSAPrivateKey as PEM") as err:
        to_pem(dsa.generate_private_key(1024))
    assert err.value.field == "obj"


def test_without_signature_hash_algorithms_a_key_without_a_legacy_method_is_refused() -> None:
    """RFC 7427 3: method 14 only when both peers sent SIGNATURE_HASH_ALGORITHMS; otherwise an ECDSA key needs
    its RFC 4754 method, which secp256k1 has not, and a DSA key has none: ConfigError naming private_key."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ec

    from ikelab.auth import legacy_method

    for key, what in ((ec.derive_private_key(7, ec.SECP256K1()), "a secp256k1 key"),
                      (dsa.generate_private_key(1024), "a DSAPrivateKey key")):
        with pytest.raises(ConfigError, match=f"{what} has no other AUTH method") as err:
            legacy_method(key)
        assert err.value.field == "private_key"


def test_the_psk_pad_key_refuses_a_prf_ikelab_does_not_implement() -> None:
    """RFC 7296 2.15: prf(Shared Secret, "Key Pad for IKEv2") with the negotiated PRF; PRF_HMAC_TIGER (3) is
    in the registry but not implemented: UnknownAlgorithmError that says so."""
    from ikelab.auth import psk_pad_key
    from ikelab.errors import UnknownAlgorithmError

    with pytest.raises(UnknownAlgorithmError, match="PRF_HMAC_TIGER .3. is not implemented"):
        psk_pad_key("PRF_HMAC_TIGER", b"a shared secret")


# --------------------------------------------------------------------------- Diffie-Hellman (dh, dh_base, dh_ec)


class _Stuck:
    """A random source that always draws zeros (a broken generator)."""

    def random_bytes(self, n: int) -> bytes:
        return bytes(n)

    def randbelow(self, n: int) -> int:
        return 0


class _Broken(_Stuck):
    """A random source with a bug inside: its methods exist, but fail."""

    def randbelow(self, n: int) -> int:
        raise AttributeError("a bug inside the random source")

    def random_bytes(self, n: int) -> bytes:
        raise AttributeError("a bug inside the random source")


def test_a_stuck_random_source_cannot_loop_forever_on_a_toy_group() -> None:
    """RFC 6989 / RFC 7296 2.12: a private value whose public value is 1 or p-1 is never used.  In the toy group
    p=5, g=2, a source stuck at zero draws x=2 every time, giving p-1: after bounded tries a ConfigError."""
    from ikelab.dh import ToyGroup

    group = ToyGroup(5, 2)
    with pytest.raises(ConfigError, match=r"toy\(p=5, g=2\): could not draw a usable private value"):
        group.generate(_Stuck())
    assert 1 < group.generate(DeterministicRandom(3)).public_value < 4


@pytest.mark.parametrize("group_id", [14, 19, 31])
def test_a_bug_inside_a_random_source_is_not_reported_as_a_wrong_argument(group_id: int) -> None:
    """Private values are drawn fresh (RFC 7296 2.12) from a RandomSource, which has random_bytes and randbelow:
    an AttributeError raised inside one is its own bug and comes out as it is, not as a ConfigError saying it is
    no random source."""
    from ikelab.dh import group

    with pytest.raises(AttributeError, match="a bug inside the random source"):
        group(group_id).generate(_Broken())


def test_group_reprs_name_the_group_and_its_iana_id() -> None:
    """repr of a group names it and its Transform ID (RFC 7296 3.3.2: MODP 14, ECP 19, Curve25519 31);
    a toy group (no ID) shows p and g, and its strength is half the bits of p."""
    from ikelab.dh import ToyGroup, group

    assert [repr(group(i)) for i in (14, 19, 31)] == [
        "ModpGroup('MODP_2048', id=14)", "EcpGroup('ECP_256', id=19)", "MontgomeryGroup('CURVE25519', id=31)"]
    assert repr(ToyGroup(23, 5)) == "ToyGroup(p=23, g=5)" and ToyGroup(23, 5).strength == 2


# --------------------------------------------------------------------------- the state machine's own API (ike, events, lab)


def test_handle_runs_a_legal_table_input_and_refuses_an_illegal_one_without_change() -> None:
    """The (state, input) table (ikelab.state): handle(LIVENESS) on an ESTABLISHED IKE SA sends an empty
    INFORMATIONAL request (RFC 7296 1.4, 2.4) and returns True; INITIATE there is not in the table: False,
    nothing sent, state unchanged."""
    from ikelab.state import Input

    lab = established()
    moon = lab.initiator
    before = moon.snapshot()
    assert moon.handle(Input.INITIATE, lab.now) is False
    assert moon.snapshot() == before and moon.pop_datagrams() == []
    assert moon.handle(Input.LIVENESS, lab.now) is True
    (request,) = moon.pop_datagrams()
    msg = decode(request.ike_message, crypto=lab.responder._crypto(sending=False))
    assert (msg.exchange, msg.is_response, msg.payloads[0].inner) == (ExchangeType.INFORMATIONAL, False, ())


def test_a_closed_ike_sa_does_nothing_on_its_timer() -> None:
    """A CLOSED IKE SA (RFC 7296 1.4: deleted) neither retransmits nor rekeys: handle_timer at any time sends
    and reports nothing."""
    lab = established()
    lab.delete_ike("initiator")
    lab.run_until_idle()
    moon = lab.sas("initiator")[0]
    assert moon.state == State.CLOSED
    moon.pop_datagrams(), moon.pop_events()
    for t in (lab.now, lab.now + 10, lab.now + 1e6):
        moon.handle_timer(t)
    assert moon.pop_datagrams() == [] and moon.pop_events() == [] and moon.state == State.CLOSED


def test_ike_endpoint_is_still_importable_from_ikelab_ike() -> None:
    """IkeEndpoint moved to ikelab.endpoint; ``ikelab.ike.IkeEndpoint`` (older lessons) is the same class, and
    any other missing name is an AttributeError that names it."""
    import ikelab.ike as ike_module

    assert ike_module.IkeEndpoint is IkeEndpoint
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchThing'"):
        ike_module.NoSuchThing  # noqa: B018


def test_an_event_summary_is_read_lazily_and_frozen_like_every_other_field() -> None:
    """MessageReceived.summary (RFC 7296 1.2 notation) is made when first read; events are frozen dataclasses,
    so assigning or deleting it raises FrozenInstanceError as for any other field."""
    from dataclasses import FrozenInstanceError

    lab = established()
    received = [e for e in lab.events("responder", ev.MessageReceived) if e.exchange == "IKE_SA_INIT"][0]
    assert repr(received.__dict__["summary"]).startswith("Unread(Message(")  # not made yet
    assert received.summary.startswith("HDR, SAi1, KEi, Ni, ")
    assert not isinstance(ev.MessageReceived.summary, str)  # on the class: the descriptor itself
    assert received.__dict__["summary"] == received.summary  # made once, kept
    with pytest.raises(FrozenInstanceError):
        received.summary = "changed"
    with pytest.raises(FrozenInstanceError):
        del received.summary
    with pytest.raises(FrozenInstanceError):
        received.size = 0
    assert received.summary.startswith("HDR, SAi1, KEi, Ni, ")


def test_the_lab_stops_at_its_limit_and_step_says_when_nothing_is_left() -> None:
    """Virtual time: with every packet lost, run_until_idle(limit) returns at the limit with the IKE_SA_INIT
    request still outstanding (RFC 7296 2.4: retransmitted later); once all is over, step() returns False."""
    from ikelab.lab import Lab, Network

    lab = Lab(*configs(), seed=1, network=Network(loss=1.0))
    lab.initiate()
    lab.run_until_idle(limit=0.5)
    assert lab.now <= 0.5 and lab.busy() and lab.initiator.state == State.INIT_SENT
    lab.run_until_idle()
    assert lab.initiator.state == State.CLOSED and not lab.busy()
    while lab.step():
        pass
    assert lab.step() is False


def test_wire_selectors_default_to_the_host_and_keep_parsed_ones() -> None:
    """exchanges_wire.selectors: no configured selectors means the host's own address (RFC 7296 2.9,
    strongSwan's 'dynamic'); a TrafficSelector is kept as given, a string parsed."""
    ts = TrafficSelector.from_network("10.1.0.0/16")
    assert W.selectors((), "192.0.2.1") == (TrafficSelector.from_address("192.0.2.1"),)
    assert W.selectors((ts, "10.2.0.0/16"), "192.0.2.1") == (ts, TrafficSelector.from_network("10.2.0.0/16"))


# --------------------------------------------------------------------------- CREATE_CHILD_SA answers (exchanges_child)


def _sun_answers_child_requests_with(payloads: list):
    """Sun answers every CREATE_CHILD_SA request with ``payloads`` (built by hand, as a faulty peer would)."""
    from unittest import mock

    from ikelab.exchanges_child import ChildExchanges

    real = ChildExchanges.on_create_child_sa_request

    def answer(self, now, *, msg, raw):
        if self.initiator:
            return real(self, now, msg=msg, raw=raw)
        self._respond(msg, now, list(payloads))
        return None
    return mock.patch.object(ChildExchanges, "on_create_child_sa_request", answer)


@pytest.mark.parametrize("error", [None, "NO_PROPOSAL_CHOSEN"])
def test_a_child_sa_answer_with_a_short_nr_and_no_sa_asks_for_no_delete(error: str | None) -> None:
    """RFC 7296 2.10: Nr must be at least half the PRF's key size (32 octets for PRF-HMAC-SHA-512).  An answer
    with a 16-octet Nr and no SA payload (alone, or beside an error notify) installed nothing on the responder:
    moon reports INVALID_SYNTAX once, sends no Delete for a CHILD SA that does not exist (2.21.3 asks that only
    for one the responder made), and keeps its IKE SA and CHILD SA."""
    from test_ike import SHA512_SUITE

    lab = established(SHA512_SUITE)
    moon = lab.initiator
    children = dict(moon.children)
    answer = ([W.notify(NotifyType[error])] if error else []) + [W.nonce(b"\x07" * 16)]
    with _sun_answers_child_requests_with(answer):
        lab.create_child("initiator")
        lab.run_until_idle()
    failures = [f for f in lab.events("initiator", ev.Failure) if f.exchange == "CREATE_CHILD_SA"]
    assert [f.notify for f in failures][0] == "INVALID_SYNTAX" and "Nr is a nonce of 16 octets" in failures[0].reason
    assert not any(f.fatal for f in failures)
    informational = [e for e in lab.events("initiator", ev.MessageSent)
                     if e.exchange == "INFORMATIONAL" and not e.is_response]
    assert informational == []
    assert moon.state == State.ESTABLISHED and moon.children == children


def test_a_peer_whose_idi_is_not_in_its_valid_certificate_fails_authentication() -> None:
    """RFC 4945 3.1: the ID must match the certificate's subject or a subjectAltName, else a peer with any
    certificate from the CA could claim any identity.  Moon's chain and signature are good, but its IDi says
    mars.example (its certificate names moon.example): sun, accepting %any, answers AUTHENTICATION_FAILED
    (RFC 7296 2.21.2) and neither keeps an IKE SA nor a CHILD SA."""
    from unittest import mock

    from ikelab import payloads as P
    from ikelab.certs import ec_key_from_seed, make_ca, make_leaf
    from ikelab.lab import Lab

    ca_key = ec_key_from_seed(b"coverage ca")
    ca = make_ca("C=CH, O=ikelab, CN=Coverage CA", ca_key)

    def peer(name: str, remote_id: str) -> IkeConfig:
        key = ec_key_from_seed(name.encode())
        cert = make_leaf(ca, ca_key, f"C=CH, O=ikelab, CN={name}", key, san=[f"{name}.example"])
        return IkeConfig(local_id=f"{name}.example", remote_id=remote_id, certificate=cert, private_key=key,
                         trust_anchors=(ca,), ike_proposals=("aes128-sha256-ecp256",),
                         esp_proposals=("aes128gcm16",), cookie_threshold=None)

    real = W.id_payload

    def claims_mars(initiator: bool, identity):
        return P.IDi.from_fqdn("mars.example") if initiator else real(initiator, identity)

    lab = Lab(peer("moon", "sun.example"), peer("sun", "%any"), seed=4)
    with mock.patch.object(W, "id_payload", claims_mars):
        lab.initiate()
        lab.run_until_idle()
    (failure,) = lab.events("responder", ev.Failure)
    assert failure.notify == "AUTHENTICATION_FAILED" and failure.fatal
    assert failure.reason == "the peer's ID is not in its certificate (RFC 4945 3.1)"
    assert lab.initiator.state == lab.responder.state == State.CLOSED
    assert not lab.events("responder", ev.ChildSaCreated) and not lab.events("initiator", ev.ChildSaCreated)


def test_the_responders_ike_sa_names_the_pool_its_client_leased_from() -> None:
    """RFC 7296 2.19: a responder with a pool answers CFG_REQUEST with an INTERNAL_IP4_ADDRESS from it; the
    responder's IKE SA shows that pool (the endpoint's, shared by all its IKE SAs) and the initiator's none."""
    from ikelab.lab import Lab

    lab = Lab(*configs(i={"vip": "0.0.0.0"}, r={"pool": "10.3.0.0/30", "remote_id": "%any"}), seed=1)
    lab.initiate()
    lab.run_until_idle()
    sun, moon = lab.responder, lab.initiator
    assert sun.pool is lab.endpoints["responder"].pool and str(sun.pool.network) == "10.3.0.0/30"
    assert moon.pool is None
    assert moon.virtual_ip == sun.peer_virtual_ip == "10.3.0.1" and sun.pool.holders["10.3.0.1"][1] is sun


# --------------------------------------------------------------------------- the endpoint (endpoint)


@pytest.mark.parametrize("src, dst, field", [
    (("192.0.2.1",), ("192.0.2.2", 500), "datagram.src"),
    (("192.0.2.1", 500), ("192.0.2.2",), "datagram.dst"),
])
def test_a_datagram_with_an_address_that_is_no_pair_is_a_config_error_naming_it(src, dst, field: str) -> None:
    """A Datagram handed to IkeEndpoint.receive carries (address, port) pairs (RFC 7296 2.11 answers to the
    request's address and port); one without its port was an IndexError from inside the framing code."""
    ep = IkeEndpoint(configs()[1], DeterministicRandom(1), "192.0.2.2")
    with pytest.raises(ConfigError, match=r"must be an \(address, port\) pair") as err:
        ep.receive(Datagram(b"\x00" * 40, src, dst), 0.0)
    assert err.value.field == field
    assert ep.sas == {} and ep.half_open == {} and ep.pop_datagrams() == []


@pytest.mark.parametrize("payload", [None, "not bytes", 42])
def test_a_datagram_whose_payload_is_not_bytes_is_a_config_error_naming_it(payload: object) -> None:
    """A payload of None, text or a number was silently dropped, as if the peer had sent nothing."""
    ep = IkeEndpoint(configs()[1], DeterministicRandom(1), "192.0.2.2")
    with pytest.raises(ConfigError, match="datagram.payload must be bytes") as err:
        ep.receive(Datagram(payload, ("192.0.2.1", 500), ("192.0.2.2", 500)), 0.0)  # type: ignore[arg-type]
    assert err.value.field == "datagram.payload"
    assert ep.sas == {} and ep.half_open == {} and ep.pop_datagrams() == []


@pytest.mark.parametrize("wrap", [bytearray, memoryview])
def test_a_datagram_whose_payload_is_bytes_like_is_answered_as_bytes(wrap: type) -> None:
    """RFC 7296 1.2: the responder answers an IKE_SA_INIT request however the caller holds its octets."""
    ci, cr = configs()
    answers = []
    for payload_of in (bytes, wrap):
        initiator = IkeEndpoint(ci, DeterministicRandom(1), "192.0.2.1")
        responder = IkeEndpoint(cr, DeterministicRandom(2), "192.0.2.2")
        initiator.initiate(("192.0.2.2", 500), 0.0)
        (request,) = initiator.pop_datagrams()
        responder.receive(Datagram(payload_of(request.payload), request.src, request.dst), 0.0)
        answers.append([d.payload for d in responder.pop_datagrams()])
    assert len(answers[0]) == 1 and answers[0] == answers[1]


def test_a_bug_inside_the_endpoints_random_source_comes_out_as_it_is() -> None:
    """The endpoint draws its cookie secret (RFC 7296 2.6) at once; a RandomSource whose random_bytes fails
    inside is not reported as 'rng must be a random source' but raises its own error."""
    with pytest.raises(AttributeError, match="a bug inside the random source"):
        IkeEndpoint(configs()[1], _Broken(), "192.0.2.2")
    with pytest.raises(ConfigError, match="rng must be a random source") as err:
        IkeEndpoint(configs()[1], 7, "192.0.2.2")
    assert err.value.field == "rng"


def test_non_esp_marker_and_decode_take_any_bytes_like_and_refuse_text() -> None:
    """RFC 3948 2.2: on port 4500 an IKE message follows four zero octets; a bytearray, memoryview or bytes
    subclass is read as bytes; text is a ConfigError naming the function."""
    from ikelab.message import strip_non_esp_marker

    class Octets(bytes):
        pass

    for data in (bytearray(b"\0\0\0\0abc"), memoryview(b"\0\0\0\0abc"), Octets(b"\0\0\0\0abc")):
        got = strip_non_esp_marker(data)
        assert got == b"abc" and type(got) is bytes
    with pytest.raises(ConfigError, match="strip_non_esp_marker needs bytes, not str"):
        strip_non_esp_marker("\0\0\0\0abc")
    with pytest.raises(ConfigError, match="decode needs bytes, not str") as err:
        decode("HDR")
    assert err.value.field == "data"


# --------------------------------------------------------------------------- IKE fragments by hand (sk)


_PRIVATE_STATUS = 40960  # a status notify of the private-use range (RFC 7296 3.10.1)


def _fragments_lab_crypto():
    lab = established()
    return lab.initiator, lab.initiator._crypto(sending=True), lab.responder._crypto(sending=False)


def test_reassemble_payloads_waits_for_every_fragment() -> None:
    """RFC 7383 2.6: the message is whole only when fragments 1..Total Fragments are all there; with one
    missing, reassemble_payloads gives None; with all, the inner payloads sent."""
    from ikelab.sk import fragment, reassemble_payloads

    moon, send, recv = _fragments_lab_crypto()
    inner = [Notify(_PRIVATE_STATUS, data=bytes(range(200)))] * 3
    msg = W.message(moon.spi_i, moon.spi_r, ExchangeType.INFORMATIONAL, True, False, 7, inner)
    pieces = fragment(msg, send, 300)
    assert len(pieces) > 2
    assert reassemble_payloads(pieces[:-1], recv) is None
    assert reassemble_payloads(pieces[1:], recv) is None
    got = reassemble_payloads(list(reversed(pieces)), recv)
    assert [(int(p.notify_type), bytes(p.data)) for p in got] == [(_PRIVATE_STATUS, bytes(range(200)))] * 3


def test_fragment_refuses_more_fragments_than_total_fragments_can_count() -> None:
    """RFC 7383 2.5: Fragment Number and Total Fragments are two octets, so at most 65535 fragments; a message
    that would need more at the given size is a ConfigError naming max_message_size."""
    from ikelab.sk import fragment

    moon, send, _ = _fragments_lab_crypto()
    c = send.for_message(True)
    size = 28 + 8 + c.iv_len + c.icv_len + c.block_size  # room for one block of content minus the pad octet
    room = c.block_size - 1
    inner = [Notify(_PRIVATE_STATUS, data=b"\x00" * 60000)] * (65536 * room // 60000 + 1)
    msg = W.message(moon.spi_i, moon.spi_r, ExchangeType.INFORMATIONAL, True, False, 7, inner)
    with pytest.raises(ConfigError, match="fragments; at most 65535") as err:
        fragment(msg, send, size)
    assert err.value.field == "max_message_size"


def test_a_payload_before_sk_is_covered_by_the_icv() -> None:
    """RFC 7296 3.14: the SK payload comes last, and its ICV covers the whole message from the IKE header on,
    so a payload sent in the clear before it (here a private-use notify) is authenticated too: the request is
    answered as usual; the same request with one octet of that notify changed is dropped (2.21.3)."""
    lab = established()
    moon, sun = lab.initiator, lab.responder
    msg = Message(moon.spi_i, moon.spi_r, ExchangeType.INFORMATIONAL, True, False, sun._peer_next_id,
                  (Notify(_PRIVATE_STATUS, data=b"abc"), SK(inner=())))
    data = msg.encode(crypto=moon._crypto(sending=True))
    tampered = bytearray(data)
    tampered[28 + 8] ^= 0x01  # the first notification data octet: header 28, notify header 4 + 4
    before = sun.snapshot()
    sun.receive(bytes(tampered), lab.now)
    assert sun.pop_datagrams() == [] and sun.snapshot() == before
    assert _dropped(sun.pop_events()) == ["ICV does not verify (RFC 7296 2.21.3: discarded)"]
    sun.receive(data, lab.now)
    (answer,) = sun.pop_datagrams()
    reply = decode(answer.ike_message, crypto=moon._crypto(sending=False))
    assert reply.is_response and reply.message_id == msg.message_id and reply.payloads[0].inner == ()


# --------------------------------------------------------------------------- the classic scenario (scenario)


def test_the_classic_trace_with_ecdsa_signs_with_rfc_7427_ecdsa_sha256() -> None:
    """classic(auth="ecdsa"): both peers sign with their P-256 keys, method 14 (RFC 7427 3) with the
    ecdsa-with-SHA256 AlgorithmIdentifier of RFC 7427 A.3.1; each AUTH checked here with cryptography against
    the certificate's key over the octets the event reports, and the other peer verified it too."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from ikelab.scenario import classic

    alg_id = bytes.fromhex("300a06082a8648ce3d040302")  # RFC 7427 A.3.1
    s = classic(auth="ecdsa", duration=5, lose_first=False)
    moon, sun = s.lab.sas("initiator")[0], s.lab.sas("responder")[0]
    for side, config in (("initiator", moon.config), ("responder", sun.config)):
        (made,) = [e for e in s.events[side] if isinstance(e, ev.AuthComputed) and e.verified is None]
        assert made.method == "DIGITAL_SIGNATURE"
        assert made.auth[0] == len(alg_id) and made.auth[1:1 + len(alg_id)] == alg_id
        config.certificate.public_key().verify(made.auth[1 + len(alg_id):], made.octets, ec.ECDSA(hashes.SHA256()))
        other = "responder" if side == "initiator" else "initiator"
        (checked,) = [e for e in s.events[other] if isinstance(e, ev.AuthComputed) and e.verified is not None]
        assert checked.verified is True and checked.auth == made.auth


# --------------------------------------------------------------------------- the socket driver (net)


def test_zoned_addresses_name_their_interface_or_stay_as_written() -> None:
    """RFC 4007 11.2: ``fe80::1%<index>`` is written with the interface name, as received addresses are; an
    index no interface has stays as written, and socket_address of a zone no interface has is a NetError that
    names the address."""
    import socket

    from ikelab.net import NetError, socket_address, zoned

    index, name = socket.if_nameindex()[0]
    assert zoned(f"fe80::1%{index}") == f"fe80::1%{name}"
    unused = max(i for i, _ in socket.if_nameindex()) + 1000
    assert zoned(f"fe80::1%{unused}") == f"fe80::1%{unused}"
    assert zoned("192.0.2.1") == "192.0.2.1"
    assert socket_address(f"fe80::1%{name}", 500) == ("fe80::1", 500, 0, index)
    with pytest.raises(NetError, match="address fe80::1%nosuchif0: ") as err:
        socket_address("fe80::1%nosuchif0", 500)
    assert err.value.value == "fe80::1%nosuchif0"


def test_a_run_whose_ike_sa_ends_after_its_child_sa_was_refused_says_the_refusal() -> None:
    """RFC 7296 1.3: a refused CHILD SA leaves the IKE SA up (the outcome says so); when the peer then deletes
    the IKE SA, the run's outcome is that refusal, NO_PROPOSAL_CHOSEN, with its exit status."""
    from ikelab.lab import Lab
    from ikelab.net import EXIT_NO_PROPOSAL, NetDriver

    ci, cr = configs(i=dict(childless=True), r=dict(childless=True, esp_proposals=("aes256gcm16",)))
    lab = Lab(ci, cr, seed=4)
    lab.initiate()
    lab.run_until_idle()
    driver = NetDriver(lab.initiator.config, "127.0.0.1", port=45123)  # never opened: no socket
    driver._sas.append(lab.initiator)
    seen = lab.events("initiator")
    for event in seen:
        driver.record(event)
    up = driver.outcome()
    assert (up.status, up.reason) == (EXIT_NO_PROPOSAL, "IKE SA up, but no CHILD SA: NO_PROPOSAL_CHOSEN: CHILD SA "
                                                        "not created: NO_PROPOSAL_CHOSEN")
    lab.delete_ike("responder")
    lab.run_until_idle()
    for event in lab.events("initiator")[len(seen):]:
        driver.record(event)
    gone = driver.outcome()
    assert (gone.status, gone.reason) == (EXIT_NO_PROPOSAL, "NO_PROPOSAL_CHOSEN: CHILD SA not created: "
                                                            "NO_PROPOSAL_CHOSEN")


def test_waiting_for_an_ike_sa_that_never_comes_times_out_with_exit_timeout() -> None:
    """RFC 7296 2.4: a request never answered is retransmitted; wait_established gives up after its own timeout,
    well before the retransmissions end, with EXIT_TIMEOUT and a reason that says how long it waited."""
    import asyncio

    from ikelab.net import EXIT_TIMEOUT, NetDriver
    from test_net import free_port

    async def run():
        driver = NetDriver(configs()[0], "127.0.0.1", port=free_port())
        await driver.open()
        try:
            driver.initiate(("127.0.0.1", free_port()))  # nobody listens there
            return await driver.wait_established(0.3)
        finally:
            driver.close()

    outcome = asyncio.run(run())
    assert (outcome.status, outcome.reason) == (EXIT_TIMEOUT, "no IKE SA with a CHILD SA within 0.3 s")


# --------------------------------------------------------------------------- the gateway with nobody coming (gateway)


@pytest.mark.parametrize("interrupt", [False, True])
def test_a_gateway_nobody_contacts_ends_with_timeout_or_interrupted(interrupt: bool) -> None:
    """``ikelab respond`` with no initiator at all: when --wait runs out, status 3 (EXIT_TIMEOUT) saying how long
    it waited; on SIGINT before that, status 1 (EXIT_FAILED) 'interrupted', as the docstring of run_respond says
    for a run with no refusal."""
    import asyncio
    import os
    import signal

    from ikelab.gateway import run_respond
    from ikelab.net import EXIT_FAILED, EXIT_TIMEOUT
    from ikelab.peer import RunOptions
    from test_net import free_port
    from test_review_gateway import gateway_config

    lines: list[str] = []

    async def run() -> int:
        task = asyncio.ensure_future(run_respond(gateway_config(), "127.0.0.1", RunOptions(wait=60 if interrupt else 0.3),
                                                 port=free_port(), out=lines.append))
        while not any("listening on" in line for line in lines):
            await asyncio.sleep(0.02)
        if interrupt:
            os.kill(os.getpid(), signal.SIGINT)  # run_respond's handler: the run ends, no KeyboardInterrupt
        try:
            return await asyncio.wait_for(task, 10)
        finally:
            task.cancel()

    status = asyncio.run(run())
    text = "\n".join(lines)
    if interrupt:
        assert status == EXIT_FAILED and "interrupted before an initiator brought up the IKE SA" in lines[-1], text
        assert "refused or failed" not in lines[-1], text
    else:
        assert status == EXIT_TIMEOUT, text
        assert "no initiator brought up an IKE SA with a CHILD SA within 0.3 s" in lines[-1], text


# --------------------------------------------------------------------------- configuration payloads (cp_payload)


def test_cp_attribute_types_are_checked_by_name_and_on_encoding() -> None:
    """RFC 7296 3.15.1: an attribute type is 15 bits (the top bit is reserved); a name no registry holds is an
    UnknownAlgorithmError naming CfgAttribute, and a number outside 0..32767 (or a bool, or a float) is refused
    when encoding, naming the attribute; the largest type encodes."""
    from ikelab.constants import CfgType
    from ikelab.cp_payload import CP
    from ikelab.errors import UnknownAlgorithmError

    with pytest.raises(UnknownAlgorithmError, match="unknown CfgAttribute 'NOPE'") as err:
        CP(CfgType.CFG_REQUEST, [("NOPE", b"")])
    assert err.value.field == "CfgAttribute"
    for bad, says in ((-1, "does not fit in 15 bits"), (0x8000, "does not fit in 15 bits"),
                      (True, "must be an integer, not bool"), (1.5, "must be an integer, not float")):
        with pytest.raises(ConfigError, match=says) as err:
            CP(CfgType.CFG_REQUEST, [(bad, b"")]).encode()
        assert err.value.field == "CP.attribute[1].type"
    assert CP(CfgType.CFG_REQUEST, [(0x7FFF, b"")]).encode() == bytes.fromhex("0000000c010000007fff0000")


def test_several_proposals_must_be_numbered_from_one_in_order() -> None:
    """RFC 7296 3.3.1: "The first Proposal has a Proposal Num of one ... subsequent" ones count up; an SA with
    proposals numbered 1 and 3 is refused on encoding (SA.from_proposals renumbers), 1 and 2 encode and decode."""
    one = Proposal(1, ProtocolId.ESP, _SPI, (_AES,))
    with pytest.raises(ConfigError, match=r"proposals must be numbered 1..2, got \[1, 3\]") as err:
        SA((one, Proposal(3, ProtocolId.ESP, _SPI, (_AES,)))).encode()
    assert err.value.field == "SA.proposal_number"
    two = SA.from_proposals([one, Proposal(3, ProtocolId.ESP, _SPI, (_AES,))])
    (back,) = decode(Message(bytes(range(1, 9)), payloads=(two,)).encode()).payloads
    assert [p.number for p in back.proposals] == [1, 2]
