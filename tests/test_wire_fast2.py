"""More wire-format shortcuts held to the slow path they replace.

* :mod:`ikelab.exchanges_wire` builds the payloads the engine sends with the
  trusted ``_from_wire`` constructors, indexes a message's payloads by kind
  once, and names exchanges from a dict: the same objects, the same answers.
* :func:`ikelab.views.summary` remembers summaries by the message's shape:
  the same text as computing it, whatever the order of the calls.
* The encoders and decoders (chain, SK payload) take shorter paths: the same
  bytes, the same objects, the same errors.
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from ikewire_samples import SPI_I, SPI_R, all_sample_messages, suite_crypto
from ikelab import exchanges_wire as W
from ikelab import payloads as P
from ikelab import views
from ikelab.constants import AuthMethod, DhId, ExchangeType, IdType, NotifyType, ProtocolId
from ikelab.identity import Identity
from ikelab.message import Message, decode

GCM = suite_crypto("ENCR_AES_GCM_16", 256, None, seed="fast2")
CBC = suite_crypto("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128", seed="fast2")


def _same(a: object, b: object) -> None:
    assert type(a) is type(b) and a == b and repr(a) == repr(b)


def _messages() -> list[Message]:
    """The samples as built, and decoded (opaque and decrypted)."""
    out = []
    for m in all_sample_messages():
        out.append(m)
        if isinstance(m.payloads[-1], P.SK):
            for crypto in (GCM, CBC):
                data = m.encode(crypto)
                out += [decode(data), decode(data, crypto)]
        else:
            out.append(decode(m.encode()))
    return out


# -- exchanges_wire: building payloads ---------------------------------------------------


def test_builders_equal_the_public_constructors():
    ts = P.TrafficSelector.from_network("10.0.0.0/24")
    prop = P.Proposal.ike(P.Transform.encr("ENCR_AES_GCM_16", 256), P.Transform.prf("PRF_HMAC_SHA2_256"))
    for group in (DhId.CURVE25519, 31, 14, DhId.ECP_256, 1234):
        _same(W.ke(group, b"k" * 32), P.KE(int(group), b"k" * 32))
    _same(W.nonce(b"n" * 32), P.Nonce(b"n" * 32))
    _same(W.sa([prop]), P.SA((prop,)))
    _same(W.sa((prop, prop)), P.SA((prop, prop)))
    for ntype, protocol, spi, data in [
        (NotifyType.COOKIE, ProtocolId.NONE, b"", b"c" * 8),
        (NotifyType.REKEY_SA, ProtocolId.ESP, b"\x01\x02\x03\x04", b""),
        (16388, ProtocolId.NONE, b"", b"h" * 20),
        (NotifyType.INVALID_SYNTAX, 0, b"", b""),
        ("COOKIE", "NONE", b"", b"x"),
        (40000, 3, b"", b""),
    ]:
        _same(W.notify(ntype, data=data, protocol=protocol, spi=spi), P.Notify(ntype, protocol, spi, data))
    for method in (AuthMethod.SHARED_KEY_MIC, 14, 200):
        _same(W.auth(method, b"a" * 32), P.AUTH(method, b"a" * 32))
    for ident in (Identity(IdType.ID_FQDN, b"moon.example"), Identity(IdType.ID_IPV4_ADDR, bytes(4))):
        for initiator, cls in ((True, P.IDi), (False, P.IDr)):
            _same(W.id_payload(initiator, ident), cls(ident.id_type, ident.data))
    tsi, tsr = W.ts_payloads([ts], (ts, ts))
    _same(tsi, P.TSi((ts,)))
    _same(tsr, P.TSr((ts, ts)))


def test_message_equals_the_public_constructor():
    inner = (P.Nonce(b"n" * 16), P.Notify(NotifyType.COOKIE, data=b"c"))
    for exchange, payloads in [
        (ExchangeType.IKE_SA_INIT, inner),
        (ExchangeType.IKE_AUTH, inner),
        (ExchangeType.INFORMATIONAL, ()),
        (ExchangeType.CREATE_CHILD_SA, list(inner)),
        (37, inner),
        (250, inner),
    ]:
        for i, r in itertools.product((True, False), repeat=2):
            got = W.message(SPI_I, SPI_R, exchange, i, r, 7, payloads)
            body = tuple(payloads)
            if exchange != ExchangeType.IKE_SA_INIT:
                body = (P.SK(inner=body),)
            want = Message(spi_i=SPI_I, spi_r=SPI_R, exchange=exchange, is_initiator=i, is_response=r,
                           message_id=7, payloads=body)
            _same(got, want)
            _same(got.payloads[-1] if got.payloads else None, want.payloads[-1] if want.payloads else None)
            crypto = GCM if exchange != ExchangeType.IKE_SA_INIT else None
            if crypto is None:
                assert got.encode() == want.encode()
            else:
                assert decode(got.encode(crypto), crypto) == decode(want.encode(crypto), crypto)


def test_message_refuses_what_sk_refuses():
    with pytest.raises(Exception) as fast:
        W.message(SPI_I, SPI_R, ExchangeType.IKE_AUTH, True, False, 1, ["not a payload"])
    with pytest.raises(Exception) as slow:
        P.SK(inner=("not a payload",))
    assert type(fast.value) is type(slow.value) and str(fast.value) == str(slow.value)


# -- exchanges_wire: reading payloads -----------------------------------------------------


def _slow_payloads(msg: Message, kind: str) -> list:
    """The payloads of one class, inner included, found the long way (as the index did before)."""
    cls = W._CLASSES[kind]
    out = []
    for p in msg.payloads:
        for q in (p.inner or ()) if isinstance(p, P.SK) else (p,):
            if isinstance(q, cls):
                out.append(q)
    return out


def test_payload_lookups_match_a_plain_scan():
    for msg in _messages():
        for kind in W._CLASSES:
            found = W.payloads(msg, kind)
            assert isinstance(found, tuple) and list(found) == _slow_payloads(msg, kind)
            assert W.payload(msg, kind) == (found[0] if found else None)
        assert list(W.notifies(msg)) == _slow_payloads(msg, "Notify")
        for ntype in (NotifyType.COOKIE, NotifyType.NAT_DETECTION_SOURCE_IP, NotifyType.INVALID_KE_PAYLOAD,
                      NotifyType.SIGNATURE_HASH_ALGORITHMS, NotifyType.REKEY_SA):
            slow = [n for n in _slow_payloads(msg, "Notify") if int(n.notify_type) == int(ntype)]
            assert W.notify_of(msg, ntype) == (slow[0] if slow else None)
            assert W.notify_data(msg, ntype) == (bytes(slow[0].data) if slow else None)
            assert W.notify_datas(msg, ntype) == [bytes(n.data) for n in slow]
        slow_inner = [q for p in msg.payloads for q in ((p.inner or ()) if isinstance(p, P.SK) else (p,))]
        assert list(W.inner(msg)) == slow_inner


def test_payload_lookup_of_a_subclass_and_of_an_unknown_kind():
    @dataclasses.dataclass(frozen=True, slots=True)
    class MyNonce(P.Nonce):
        pass

    msg = Message(SPI_I, payloads=(MyNonce(b"n" * 16), P.Nonce(b"m" * 16)))
    assert W.payloads(msg, "Nonce") == (MyNonce(b"n" * 16), P.Nonce(b"m" * 16))
    assert W.payload(msg, "KE") is None and W.payloads(msg, "KE") == ()
    with pytest.raises(KeyError):
        W.payload(msg, "Bogus")
    with pytest.raises(KeyError):
        W.payloads(msg, "Bogus")


def _slow_exchange_name(exchange) -> str:
    member = ExchangeType._value2member_map_.get(int(exchange))
    return member.name if member is not None else f"EXCHANGE_{int(exchange)}"


def test_exchange_name_matches_the_enum():
    for value in [*ExchangeType, *range(0, 260), True, "35", "7"]:
        assert W.exchange_name(value) == _slow_exchange_name(value)


# -- views.summary ------------------------------------------------------------------------


def _odd_messages() -> list[Message]:
    """Messages whose labels depend on more than payload classes and members."""
    n_true = P.Notify(True)  # a bool stays a bool: N(1), not N(UNSUPPORTED_CRITICAL_PAYLOAD)
    n_one = P.Notify(1)
    raw = P.Notify._from_wire(16390, ProtocolId.NONE, b"", b"c", False)  # an int equal to COOKIE
    cookie = P.Notify(NotifyType.COOKIE, data=b"c")
    out = []
    for payloads in [(n_true,), (n_one,), (raw,), (cookie,), (P.SK(inner=(raw,)),), (P.SK(inner=(cookie,)),),
                     (P.CP(1),), (P.CP(2),), (P.SKF(1, 2, content=b""),), (P.SKF(2, 2, content=b""),),
                     (P.UnknownPayload(200),), (P.UnknownPayload(201),), (P.SK(encrypted=b"x" * 20, next_payload=40),),
                     (P.SA((P.Proposal(),)), P.KE(31, b"k"), P.Nonce(b"n" * 16))]:
        for exchange in (ExchangeType.IKE_SA_INIT, 34, ExchangeType.IKE_AUTH, 36, 99):
            for r in (False, True, 0, 1):
                out.append(Message(SPI_I, exchange=exchange, is_response=r, payloads=payloads))
    return out


def test_summary_is_what_the_labels_say_in_any_order():
    messages = _messages() + _odd_messages()
    for order in (messages, messages[::-1], messages + messages):
        views._SUMMARIES.clear()
        for m in order:
            assert views.summary(m) == views._summary(m) == ", ".join(["HDR"] + [views.payload_label(p, m) for p in m.payloads])
            assert m.summary() == W.summary(m) == views._summary(m)


def test_summary_cache_is_bounded():
    views._SUMMARIES.clear()
    for i in range(views._SUMMARIES_MAX * 3):
        m = Message(SPI_I, payloads=tuple(P.Notify(NotifyType.COOKIE, data=b"c") for _ in range(i % 300 + 1)))
        assert views.summary(m) == views._summary(m)
        assert len(views._SUMMARIES) <= views._SUMMARIES_MAX


def test_summary_of_unhashable_fields_still_works():
    m = Message(SPI_I, exchange=ExchangeType.IKE_AUTH, is_response=[1], payloads=(P.Nonce(b"n" * 16),))
    assert views.summary(m) == views._summary(m) == "HDR, Nr"
