"""Review of CREATE_CHILD_SA for CHILD SAs (ikelab.exchanges_child) and the Notify payload (ikelab.notify_payload).

RFC 7296 1.3, 1.3.1, 1.3.3, 2.8.1, 2.17, 2.23, 3.10, 3.10.1.  What is checked, and against what:

* KEYMAT with and without PFS (2.17), recomputed with ``hmac`` (test_ike's prf+) and, for g^ir, with
  ``cryptography``'s ECDH from the exchange initiator's private value and the KEr on the wire;
* N(REKEY_SA) names the CHILD SA by the SPI its sender receives on (1.3.3), whatever SPIs the peers chose;
* malformed or unacceptable requests get the one notify 3.10.1 names and leave the responder's SAs as they were;
  malformed answers end in a non-fatal Failure, the CHILD SA being rekeyed stays, and a CHILD SA the responder
  installed is deleted (2.21.3);
* INVALID_KE_PAYLOAD (1.3): a reply names the group, a rekey whose CHILD SA went away is not turned into a request
  for a new CHILD SA, and an answer whose group is not our KEi's never keys a CHILD SA;
* NAT_DETECTION hashes against ``hashlib`` (2.23), the Notify wire format from hand-built bytes (3.10), and typed
  errors for bad arguments.
"""

from __future__ import annotations

import hashlib
from functools import partial

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ikelab import dh
from ikelab import events as ev
from ikelab import exchanges_wire as W
from ikelab.constants import ExchangeType, NotifyType, PayloadType, ProtocolId
from ikelab.errors import ConfigError, ParseError
from ikelab.exchanges_common import Datagram
from ikelab.lab import Lab, Network
from ikelab.message import decode
from ikelab.payloads import Notify, decode_chain
from ikelab.notify_payload import nat_detection_hash
from ikelab.wire import DecodeContext

from test_ike import assert_same_sas, established, prf_plus
from test_review_rekey import NR, _ask, _chosen as _chosen_ike

SIDES = ("initiator", "responder")
PFS_ESP = "aes128gcm16-ecp256"  # ESP with ECP-256 for PFS: a 16-octet key and a 4-octet salt a direction (RFC 4106 8.1)


def _g_ir(private_value: int, ker: bytes) -> bytes:
    """g^ir on P-256 with pyca/cryptography: the x coordinate (RFC 5903 7)."""
    x, y = int.from_bytes(ker[:32], "big"), int.from_bytes(ker[32:], "big")
    public = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    return ec.derive_private_key(private_value, ec.SECP256R1()).exchange(ec.ECDH(), public)


def _kinds(msg) -> list[str]:
    return [f"N({NotifyType(int(p.notify_type)).name})" if isinstance(p, Notify) else type(p).__name__
            for p in W.inner(msg)]


def _state(sa) -> tuple:
    """What a refused request must not change."""
    return (sa.state, sa.keys, sa._pending, tuple(sorted((k, c.spi_out, c.state, c.keys, c.rekey_at)
                                                         for k, c in sa.children.items())))


# --------------------------------------------------------------------------- 2.17: KEYMAT


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("pfs", [False, True])
def test_keymat_of_a_new_child_sa_follows_2_17(side: str, pfs: bool) -> None:
    """KEYMAT = prf+(SK_d, Ni | Nr), or prf+(SK_d, g^ir (new) | Ni | Nr) with KE payloads, cut encr_i | encr_r
    (AES-GCM: key and salt, no integrity key), "i" the initiator of the CREATE_CHILD_SA, whichever peer it is."""
    lab = established(esp=PFS_ESP if pfs else "aes128gcm16")
    sa = lab.sa(side)
    lab.create_child(side)
    ctx = sa._pending.context["child"]
    lab.run_until_idle()
    assert_same_sas(lab)
    created = lab.events(side, ev.ChildSaCreated)[-1]
    child = sa.children[created.spi_in]
    assert (child.ni, child.nr) != (sa.ni, sa.nr) and len(child.ni) >= 16 and len(child.nr) >= 16
    g_ir = b""
    if pfs:
        ker = W.payload(_answers(lab, side)[-1], "KE")
        g_ir = _g_ir(ctx["dh_key"].private_value, bytes(ker.data))
    keymat = prf_plus("PRF_HMAC_SHA2_256", sa.keys.sk_d, g_ir + child.ni + child.nr, 40)
    assert created.encr_key_out == keymat[:20] and created.encr_key_in == keymat[20:]
    assert created.integ_key_out == created.integ_key_in == b""
    assert created.pfs_group == ("ECP_256" if pfs else None)


def _answers(lab: Lab, side: str) -> list:
    """The CREATE_CHILD_SA answers ``side`` received, opened with its IKE SA's keys."""
    sa = lab.sa(side)
    crypto = sa._crypto(sending=False)
    out = []
    for pkt in lab.trace:
        if pkt.kind == "ike" and pkt.dst == lab.addresses[side] and pkt.note not in ("lost", "duplicate"):
            msg = decode(pkt.ike_message, crypto=crypto)
            if msg.exchange == ExchangeType.CREATE_CHILD_SA and msg.is_response:
                out.append(msg)
    return out


def test_a_rekey_with_pfs_keys_the_new_child_sa_from_its_own_g_ir() -> None:
    """2.17 for a rekey: the new CHILD SA's KEYMAT takes the rekey's own g^ir and nonces, not the IKE SA's."""
    lab = established(esp=PFS_ESP)
    moon = lab.initiator
    lab.rekey_child("initiator")
    ctx = moon._pending.context["child"]
    lab.run_until_idle()
    assert_same_sas(lab)
    (child,) = moon.children.values()
    g_ir = _g_ir(ctx["dh_key"].private_value, bytes(W.payload(_answers(lab, "initiator")[-1], "KE").data))
    assert child.keys.keymat[:40] == prf_plus("PRF_HMAC_SHA2_256", moon.keys.sk_d, g_ir + child.ni + child.nr, 40)


# --------------------------------------------------------------------------- 1.3.3: which CHILD SA REKEY_SA names


def test_rekey_sa_names_the_child_sa_by_the_peers_inbound_spi_even_when_it_equals_one_of_ours() -> None:
    """Moon's inbound SPI of a second CHILD SA happens to be sun's inbound SPI of the first (each peer chooses its
    own SPIs).  Moon's rekey of the second names that SPI (1.3.3); sun must rekey the second, not answer
    CHILD_SA_NOT_FOUND because its own first CHILD SA has that inbound SPI."""
    lab = established()
    moon, sun = lab.initiator, lab.responder
    (first,) = sun.children
    spi = moon.rng.spi
    moon.rng.spi = lambda size=8: first if size == 4 else spi(size)
    lab.create_child("initiator")
    moon.rng.spi = spi
    lab.run_until_idle()
    lab.rekey_child("initiator", moon.children[first])
    lab.run_until_idle()
    assert not lab.events("responder", ev.Failure)
    assert_same_sas(lab)
    (rekeyed,) = lab.events("responder", ev.ChildSaRekeyed)
    assert rekeyed.old_spi_out == first and first in sun.children  # sun's first CHILD SA is untouched
    assert len(sun.children) == 2


# --------------------------------------------------------------------------- the responder refuses bad requests


def _offer(lab: Lab, *, spi: bytes = b"\x01\x02\x03\x04", dh_group=None, protocol=None):
    return W.sa(W.numbered(lab.initiator.config.esp_proposals, spi=spi, dh=dh_group, protocol=protocol))


def _kei(group: int = 19):
    return W.ke(group, dh.group(group).generate(None).public_bytes())


def _ts(lab: Lab) -> list:
    return W.ts_payloads(*lab.initiator._policy_ts())


NI = W.nonce(b"\x02" * 32)
BAD_REQUESTS = {
    # name: (payloads of moon's request, the one notify sun answers, its data)
    "no Ni": (lambda l: [_offer(l), _ts(l)[0], _ts(l)[1]], "INVALID_SYNTAX", b""),
    "no SA": (lambda l: [NI, *_ts(l)], "INVALID_SYNTAX", b""),
    "no TSi/TSr": (lambda l: [_offer(l), NI], "INVALID_SYNTAX", b""),
    "AH, not configured": (lambda l: [_offer(l, protocol=ProtocolId.AH), NI, *_ts(l)], "NO_PROPOSAL_CHOSEN", b""),
    "reserved SPI 5": (lambda l: [_offer(l, spi=b"\x00\x00\x00\x05"), NI, *_ts(l)], "INVALID_SYNTAX", b""),
    "no selector": (lambda l: [_offer(l), NI, *W.ts_payloads((), ())], "TS_UNACCEPTABLE", b""),
    "PFS, no KEi": (lambda l: [_offer(l, dh_group=19), NI, *_ts(l)], "INVALID_KE_PAYLOAD", b"\x00\x13"),
    "PFS, KEi in X25519": (lambda l: [_offer(l, dh_group=19), NI, _kei(31), *_ts(l)], "INVALID_KE_PAYLOAD",
                           b"\x00\x13"),
    "PFS, KEi off the curve": (lambda l: [_offer(l, dh_group=19), NI, W.ke(19, b"\x01" * 64), *_ts(l)],
                               "INVALID_SYNTAX", b""),
    "PFS, empty KEi": (lambda l: [_offer(l, dh_group=19), NI, W.ke(19, b""), *_ts(l)], "INVALID_SYNTAX", b""),
    "REKEY_SA of an unknown SPI": (lambda l: [W.notify(NotifyType.REKEY_SA, protocol=ProtocolId.ESP, spi=b"\x07" * 4),
                                              _offer(l), NI, *_ts(l)], "CHILD_SA_NOT_FOUND", b""),
    # sun's outbound SPI, with the wrong protocol (3.10: the SPI is named with its protocol)
    "REKEY_SA, AH for an ESP SA": (lambda l: [W.notify(NotifyType.REKEY_SA, protocol=ProtocolId.AH,
                                                       spi=next(iter(l.initiator.children))),
                                              _offer(l), NI, *_ts(l)], "CHILD_SA_NOT_FOUND", b""),
    # sun's own inbound SPI is not what the peer names (1.3.3)
    "REKEY_SA of sun's inbound SPI": (lambda l: [W.notify(NotifyType.REKEY_SA, protocol=ProtocolId.ESP,
                                                          spi=next(iter(l.responder.children))),
                                                 _offer(l), NI, *_ts(l)], "CHILD_SA_NOT_FOUND", b""),
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_a_bad_child_request_is_refused_with_the_rfc_notify_and_changes_nothing(name: str) -> None:
    """3.10.1: one error notify (INVALID_KE_PAYLOAD with the group sun wants, 1.3; CHILD_SA_NOT_FOUND with the
    protocol and SPI asked), a non-fatal Failure on sun, no CHILD SA made or changed; then a real rekey works."""
    lab = established(esp=PFS_ESP if name.startswith("PFS") else "aes128gcm16")
    build, notify, data = BAD_REQUESTS[name]
    before = _state(lab.responder)
    payloads = build(lab)
    (answer,) = _ask(lab, payloads)
    assert _kinds(answer) == [f"N({notify})"]
    assert W.notify_data(answer, NotifyType[notify]) == data
    if notify == "CHILD_SA_NOT_FOUND":
        asked = W.notify_of(answer, NotifyType.CHILD_SA_NOT_FOUND)
        named = payloads[0]
        assert (int(asked.protocol), bytes(asked.spi)) == (int(named.protocol), bytes(named.spi))
    assert _state(lab.responder) == before
    events = lab.endpoints["responder"].pop_events()
    assert not [e for e in events if isinstance(e, (ev.ChildSaCreated, ev.ChildSaRekeyed, ev.ChildSaDeleted))]
    assert [(e.notify, e.fatal) for e in events if isinstance(e, ev.Failure)] == [(notify, False)]
    lab.rekey_child("initiator")
    lab.run_until_idle()
    assert_same_sas(lab)


# --------------------------------------------------------------------------- the initiator meets bad answers


def _answer_with(lab: Lab, build, action: str = "create_child") -> dict:
    """Moon asks (create or rekey); its request is lost and ``build(ctx)`` comes back under sun's keys instead."""
    moon, sun = lab.initiator, lab.responder
    lab.network = Network(schedule=("drop",))
    lab._packets = 0
    getattr(lab, action)("initiator")
    pending = moon._pending
    msg = sun._message(ExchangeType.CREATE_CHILD_SA, pending.message_id, True, build(pending.context["child"]))
    lab.endpoints["initiator"].receive(Datagram(sun._encode(msg), sun.local, moon.local), lab.now)
    lab._flush()
    return pending.context["child"]


#: The offered ESP proposal reduced to one transform of each type (2.7), optionally with another DH group
_chosen = partial(_chosen_ike, protocol=ProtocolId.ESP, spi=b"\x09" * 4)


def _ts_of(c) -> list:
    return W.ts_payloads(c["tsi"], c["tsr"])


BAD_ANSWERS = {
    # name: (the answer from the request's context, the Failure's notify, whether the responder installed an SA)
    "no KEr": (lambda c: [W.sa([_chosen(c)]), NR, *_ts_of(c)], "INVALID_SYNTAX", True),
    "KEr off the curve": (lambda c: [W.sa([_chosen(c)]), NR, W.ke(19, b"\x01" * 64), *_ts_of(c)], "INVALID_SYNTAX",
                          True),
    "no Nr": (lambda c: [W.sa([_chosen(c)]), _kei(), *_ts_of(c)], "INVALID_SYNTAX", False),
    "no SA": (lambda c: [NR, _kei(), *_ts_of(c)], "INVALID_SYNTAX", False),
    "nothing": (lambda c: [], "INVALID_SYNTAX", False),
    "no TSi/TSr": (lambda c: [W.sa([_chosen(c)]), NR, _kei()], "TS_UNACCEPTABLE", True),
    "TSi wider than asked": (lambda c: [W.sa([_chosen(c)]), NR, _kei(),
                                        *W.ts_payloads(W.selectors(["0.0.0.0/0"], "192.0.2.1"), c["tsr"])],
                             "TS_UNACCEPTABLE", True),
    "reserved SPI 1": (lambda c: [W.sa([_chosen(c, spi=b"\x00\x00\x00\x01")]), NR, _kei(), *_ts_of(c)],
                       "INVALID_SYNTAX", True),
    "a proposal never offered": (lambda c: [W.sa([_chosen(c, number=2)]), NR, _kei(), *_ts_of(c)],
                                 "NO_PROPOSAL_CHOSEN", True),
    "protocol AH": (lambda c: [W.sa([_chosen(c, protocol=ProtocolId.AH)]), NR, _kei(), *_ts_of(c)],
                    "NO_PROPOSAL_CHOSEN", True),
    "unasked USE_TRANSPORT_MODE": (lambda c: [W.notify(NotifyType.USE_TRANSPORT_MODE), W.sa([_chosen(c)]), NR,
                                              _kei(), *_ts_of(c)], "INVALID_SYNTAX", True),
    # RFC 1.3: the responder takes the KEi's group or answers INVALID_KE_PAYLOAD; a P-256 point labelled X25519
    # would be taken by moon's ECP-256 private value and key a CHILD SA that claims X25519
    "a group other than the KEi's": (lambda c: [W.sa([_chosen(c, dh_id=31)]), NR, W.ke(31, _kei().data),
                                                *_ts_of(c)], "INVALID_SYNTAX", True),
    "NO_ADDITIONAL_SAS": (lambda c: [W.notify(NotifyType.NO_ADDITIONAL_SAS)], "NO_ADDITIONAL_SAS", False),
    "TS_UNACCEPTABLE": (lambda c: [W.notify(NotifyType.TS_UNACCEPTABLE)], "TS_UNACCEPTABLE", False),
    "NO_PROPOSAL_CHOSEN": (lambda c: [W.notify(NotifyType.NO_PROPOSAL_CHOSEN)], "NO_PROPOSAL_CHOSEN", False),
}


@pytest.mark.parametrize("action", ["create_child", "rekey_child"])
@pytest.mark.parametrize("name", list(BAD_ANSWERS))
def test_a_bad_child_answer_is_a_failure_and_leaves_the_child_sas_as_they_were(name: str, action: str) -> None:
    """No exception, one non-fatal Failure naming the notify, no CHILD SA made, the one being rekeyed INSTALLED
    again, nothing asked again; a CHILD SA the answer says the responder installed is deleted (2.21.3) by the
    SPI we proposed, the one it sends to (3.11)."""
    lab = established(esp="aes128gcm16-ecp256-x25519")
    moon = lab.initiator
    (old,) = moon.children
    build, notify, installed = BAD_ANSWERS[name]
    ctx = _answer_with(lab, build, action)
    assert [(f.notify, f.fatal) for f in lab.events("initiator", ev.Failure)] == [(notify, False)]
    assert list(moon.children) == [old] and moon.children[old].state == "INSTALLED"
    assert not [e for e in lab.events("initiator", (ev.ChildSaCreated, ev.ChildSaRekeyed))
                if getattr(e, "exchange", "CREATE_CHILD_SA") == "CREATE_CHILD_SA"]
    if installed:
        assert moon._pending.kind == "delete_orphan"
        sent = [p for p in lab.trace if p.kind == "ike" and p.src == lab.addresses["initiator"]][-1]
        (delete,) = W.payloads(decode(sent.ike_message, crypto=lab.responder._crypto(sending=False)), "Delete")
        assert (int(delete.protocol), tuple(delete.spis)) == (int(ProtocolId.ESP), (ctx["spi_in"],))
    else:
        assert moon._pending is None
    assert not moon._queue and not moon.child_retries


def test_an_answer_with_a_harmless_status_notify_makes_the_child_sa() -> None:
    """3.10.1: status notifies (ESP_TFC_PADDING_NOT_SUPPORTED, 16394) are not errors; the CHILD SA is made."""
    lab = established(esp=PFS_ESP)
    _answer_with(lab, lambda c: [W.notify(NotifyType.ESP_TFC_PADDING_NOT_SUPPORTED), W.sa([_chosen(c)]), NR, _kei(),
                                 *_ts_of(c)])
    assert not lab.events("initiator", ev.Failure)
    assert len(lab.initiator.children) == 2


def test_invalid_ke_payload_for_a_rekey_whose_child_sa_went_away_asks_for_nothing() -> None:
    """Moon rekeys with a MODP-2048 KEi; before the INVALID_KE_PAYLOAD answer (sun wants ECP-256) comes, sun deletes
    the CHILD SA.  Asking again (1.3) would rekey nothing: moon must not ask for a new CHILD SA in its place."""
    lab = established(i={"esp_proposals": ("aes128-sha256-modp2048-ecp256",)},
                      r={"esp_proposals": ("aes128-sha256-ecp256",)})
    moon, sun = lab.initiator, lab.responder
    lab.network = Network(schedule=("drop",))
    lab._packets = 0
    lab.rekey_child("initiator")
    pending = moon._pending
    lab.delete_child("responder")
    lab.run(lab.now + 0.5)
    assert not moon.children and moon._pending is pending
    lab._inflight.clear()
    msg = sun._message(ExchangeType.CREATE_CHILD_SA, pending.message_id, True,
                       [W.notify(NotifyType.INVALID_KE_PAYLOAD, data=(19).to_bytes(2, "big"))])
    lab.endpoints["initiator"].receive(Datagram(sun._encode(msg), sun.local, moon.local), lab.now)
    lab._flush()
    assert moon._pending is None and not moon._queue and not moon.child_retries and not moon.children
    assert [f.notify for f in lab.events("initiator", ev.Failure)] == ["INVALID_KE_PAYLOAD"]


# --------------------------------------------------------------------------- 2.8.1: simultaneous CHILD SA rekeys


@pytest.mark.parametrize("seed", range(1, 9))
def test_colliding_child_rekeys_keep_the_sa_without_the_lowest_nonce(seed: int) -> None:
    """2.8.1: "the SA created with the lowest of the four nonces ... SHOULD be closed by the endpoint that created
    it".  The four nonces are read from the wire; both peers keep the other new CHILD SA, each deletes two."""
    lab = established(seed=seed)
    lab.rekey_child("initiator")
    lab.rekey_child("responder")
    lab.run_until_idle()
    assert_same_sas(lab)
    made = {}  # exchange initiator -> (Ni, Nr) of the CHILD SA its rekey made
    for side in SIDES:
        (answer,) = [m for m in _answers(lab, side) if W.payload(m, "SA") is not None]
        made[side] = (_request_nonce(lab, side), W.nonce_of(answer))
    lowest = min(n for pair in made.values() for n in pair)
    (winner,) = [side for side in SIDES if lowest not in made[side]]
    (survivor,) = lab.initiator.children.values()
    assert (survivor.ni, survivor.nr) == made[winner]
    for side in SIDES:
        assert len(lab.events(side, ev.ChildSaDeleted)) == 2


def _request_nonce(lab: Lab, side: str) -> bytes:
    """The Ni of the CHILD SA rekey request ``side`` sent, read from the wire with the other peer's keys."""
    other = lab.sa("responder" if side == "initiator" else "initiator")
    crypto = other._crypto(sending=False)
    for pkt in lab.trace:
        if pkt.kind == "ike" and pkt.src == lab.addresses[side] and pkt.note not in ("lost", "duplicate"):
            msg = decode(pkt.ike_message, crypto=crypto)
            if msg.exchange == ExchangeType.CREATE_CHILD_SA and not msg.is_response:
                return W.nonce_of(msg)
    raise AssertionError(f"no rekey request from {side}")


# --------------------------------------------------------------------------- 2.23, 3.10: the Notify payload

SPI_I, SPI_R = bytes.fromhex("0123456789abcdef"), bytes.fromhex("fedcba9876543210")


@pytest.mark.parametrize("address, packed", [("192.0.2.1", bytes([192, 0, 2, 1])),
                                             ("2001:db8::1", bytes.fromhex("20010db8" + "00" * 11 + "01"))])
def test_nat_detection_hash_is_sha1_of_spis_address_and_port(address: str, packed: bytes) -> None:
    """2.23: SHA-1(SPIi | SPIr | IP | Port), the port in network order; 20 octets in the notify."""
    want = hashlib.sha1(SPI_I + SPI_R + packed + (4500).to_bytes(2, "big")).digest()
    assert nat_detection_hash(SPI_I, SPI_R, address, 4500) == want
    n = Notify.make_nat_detection_destination_ip(SPI_I, SPI_R, address, 4500)
    assert n.encode()[4:] == b"\x00\x00\x40\x05" + want  # Protocol 0, SPI size 0, type 16389, the hash


@pytest.mark.parametrize("args, field", [
    ((SPI_I[:7], SPI_R, "192.0.2.1", 500), "spi_i"),   # an IKE SPI is 8 octets (3.1)
    ((SPI_I, SPI_R + b"\x00", "192.0.2.1", 500), "spi_r"),
    ((8, SPI_R, "192.0.2.1", 500), "spi_i"),           # not 8 zero octets
    (("0123456789abcdef", SPI_R, "192.0.2.1", 500), "spi_i"),
    ((SPI_I, SPI_R, "192.0.2.300", 500), "address"),
    ((SPI_I, SPI_R, None, 500), "address"),
    ((SPI_I, SPI_R, "192.0.2.1", 65536), "port"),
    ((SPI_I, SPI_R, "192.0.2.1", "500"), "port"),
])
def test_nat_detection_hash_refuses_bad_arguments_with_a_typed_error(args: tuple, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        nat_detection_hash(*args)
    assert info.value.field == field


@pytest.mark.parametrize("make", [lambda: Notify.make_rekey_sa(4), lambda: Notify.make_rekey_sa("abcd"),
                                  lambda: Notify.make_cookie(5), lambda: Notify.make_cookie(None)])
def test_constructors_refuse_what_is_not_bytes(make) -> None:
    """make_rekey_sa(4) used to be a REKEY_SA of SPI 00000000 00, make_cookie(5) five zero octets."""
    with pytest.raises(ConfigError):
        make()


def _notify_body(protocol: int, spi: bytes, ntype: int, data: bytes = b"") -> bytes:
    """Generic payload header (3.2) and Notify body (3.10), by hand."""
    body = bytes([protocol, len(spi)]) + ntype.to_bytes(2, "big") + spi + data
    return b"\x00\x00" + (4 + len(body)).to_bytes(2, "big") + body


@pytest.mark.parametrize("raw, field", [
    (_notify_body(3, b"\x01\x02\x03", 16393), "notification_data"),          # REKEY_SA: SPI of 4 octets (1.3.3)
    (_notify_body(1, b"\x01\x02\x03\x04", 16393), "notification_data"),      # REKEY_SA of protocol IKE
    (_notify_body(0, b"", 17, b"\x13"), "notification_data"),                # INVALID_KE_PAYLOAD: 2 octets (1.3)
    (_notify_body(0, b"", 16388, b"\x00" * 19), "notification_data"),        # NAT_DETECTION_SOURCE_IP: 20 octets
    (_notify_body(0, b"", 16390, b""), "notification_data"),                 # COOKIE: 1..64 octets (2.6)
    (_notify_body(0, b"", 16390, b"\x00" * 65), "notification_data"),
    (b"\x00\x00\x00\x07" + bytes([0, 9, 0]), "notify_type"),                  # 3 octets: no room for the type
    (b"\x00\x00\x00\x0a" + bytes([3, 9]) + (16393).to_bytes(2, "big") + b"\x01\x02", "spi_size"),  # SPI > payload
])
def test_malformed_notify_bodies_are_parse_errors_naming_the_field(raw: bytes, field: str) -> None:
    raw = raw[:2] + len(raw).to_bytes(2, "big") + raw[4:]
    with pytest.raises(ParseError) as info:
        decode_chain(PayloadType.N, raw, 0, len(raw), DecodeContext())
    assert info.value.field.endswith(field) and info.value.notify_type == "INVALID_SYNTAX"


@pytest.mark.parametrize("raw, want", [
    (_notify_body(3, b"\x01\x02\x03\x04", 16393), (16393, 3, b"\x01\x02\x03\x04", b"")),
    (_notify_body(0, b"", 17, b"\x00\x13"), (17, 0, b"", b"\x00\x13")),
    (_notify_body(3, b"\xaa\xbb\xcc\xdd", 44), (44, 3, b"\xaa\xbb\xcc\xdd", b"")),   # CHILD_SA_NOT_FOUND, its SPI
    (_notify_body(0, b"", 16394), (16394, 0, b"", b"")),                             # ESP_TFC_PADDING_NOT_SUPPORTED
    (_notify_body(0, b"", 39999, b"x"), (39999, 0, b"", b"x")),                      # an unassigned status type
])
def test_notify_bodies_decode_and_encode_back_octet_for_octet(raw: bytes, want: tuple) -> None:
    (n,) = decode_chain(PayloadType.N, raw, 0, len(raw), DecodeContext())
    assert (int(n.notify_type), int(n.protocol), n.spi, n.data) == want
    assert n.is_error == (want[0] < 16384)
    assert n.encode() == raw
