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
import ipaddress
import itertools

import pytest

import test_wire_fast as F  # its helpers, used as module attributes so that its tests are not collected twice
from ikewire_samples import SPI_I, SPI_R, all_sample_messages, suite_crypto
from ikelab import exchanges_wire as W
from ikelab import payloads as P
from ikelab import views
from ikelab.constants import AuthMethod, DhId, ExchangeType, IdType, NotifyType, ProtocolId, TransformType, TsType
from ikelab.errors import ConfigError, IkelabError, IntegrityError
from ikelab.identity import Identity
from ikelab.message import Message, decode
from ikelab.notify_payload import _notify_problem
from ikelab.transforms import encryption, integrity
from ikelab.ts import ts_from_string
from ikelab.wire import DecodeContext

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


def test_numbered_proposals_found_by_identity_equal_the_computed_ones():
    """``numbered`` finds a tuple of proposals by identity: the same answer as for an equal list or copy."""
    from ikelab.proposals import parse_proposal

    props = (parse_proposal("aes128-sha256-modp2048"), parse_proposal("aes256gcm16-prfsha384-ecp384"))
    for _ in range(2):  # the second round is answered from the identity table
        for kwargs in ({}, {"spi": b"\x01\x02\x03\x04", "protocol": ProtocolId.ESP}, {"dh": None},
                       {"dh": DhId.CURVE25519}):
            got = W.numbered(props, **kwargs)
            assert got == W.numbered(list(props), **kwargs) == W.numbered(tuple(list(props)), **kwargs)
            assert [p.number for p in got] == [1, 2]
            assert all(p.spi == kwargs.get("spi", b"") for p in got)
    without_dh = W.numbered(props, dh=None)
    assert all(not p.of_type(TransformType.DH) for p in without_dh)
    assert all(p.of_type(TransformType.DH) for p in W.numbered(props))
    other = (parse_proposal("aes128-sha256-ecp256"),)
    assert W.numbered(other)[0].of_type(TransformType.DH)[0].id == DhId.ECP_256  # another tuple, its own answer


def test_proposal_with_spi_equals_replace():
    """``Proposal.with_spi`` builds what ``dataclasses.replace(p, spi=...)`` builds, and checks what it checks."""
    from ikelab.proposals import parse_proposal

    for p in (parse_proposal("aes128-sha256-modp2048"), parse_proposal("aes256gcm16-prfsha384-ecp384"),
              P.Proposal(3, 3, b"", (P.Transform(TransformType.ENCR, 12, 128),))):
        for spi in (b"", b"\x01\x02\x03\x04", bytes(8)):
            got, want = p.with_spi(spi), dataclasses.replace(p, spi=spi)
            assert got == want and type(got) is type(want) is P.Proposal
            assert (got.number, got.protocol, got.spi, got.transforms) == (want.number, want.protocol, spi, p.transforms)
            assert got.of_type(TransformType.ENCR) == want.of_type(TransformType.ENCR)
        got = p.with_spi(bytearray(b"\x05\x06\x07\x08"))  # not bytes: the public constructor's path
        assert got == dataclasses.replace(p, spi=bytearray(b"\x05\x06\x07\x08"))


def test_transform_octets_remembered_by_identity_match_the_rfc_layout():
    """Proposals sharing one transforms tuple reuse its octets; each tuple keeps its own (RFC 7296 3.3.2)."""
    from ikelab.sa_payload import _TRANSFORMS_OCTETS

    gcm = (P.Transform(TransformType.ENCR, 20, 256), P.Transform(TransformType.PRF, 5),
           P.Transform(TransformType.DH, 31))
    cbc = (P.Transform(TransformType.ENCR, 12, 128), P.Transform(TransformType.INTEG, 12),
           P.Transform(TransformType.ESN, 0))
    expected = {  # Last Substruc (3 more / 0 last), length, type, ID, then AF=1 Key Length (14) for ENCR
        gcm: "0300000c01000014800e0100" "0300000802000005" "000000080400001f",
        cbc: "0300000c0100000c800e0080" "030000080300000c" "0000000805000000",
    }
    for _ in range(2):  # the second round reuses the remembered octets
        for transforms, hex_ in expected.items():
            for spi, protocol in ((b"", ProtocolId.IKE), (b"\x00\x00\x01\x00", ProtocolId.ESP)):
                body = P.SA((P.Proposal(1, protocol, spi, transforms),))._body("SA")
                assert body[8:8 + len(spi)] == spi and body[8 + len(spi):].hex() == hex_
    assert _TRANSFORMS_OCTETS.get(gcm) == bytes.fromhex(expected[gcm])
    bad = (P.Transform(TransformType.ENCR, 12, 70000),)  # a Key Length that does not fit 16 bits
    for _ in range(2):  # refused every time: octets are only remembered once they were made
        with pytest.raises(ConfigError, match="transform"):
            P.SA((P.Proposal(1, ProtocolId.IKE, b"", bad),))._body("SA")


def test_ts_payload_octets_remembered_by_identity_match_rfc_7296_3_13():
    """TS payload bodies are packed once per selectors tuple: the same bytes as packing them (RFC 7296 3.13.1)."""
    host = P.TrafficSelector.from_address("192.0.2.1")
    net6 = P.TrafficSelector.from_network("2001:db8::/32", ip_protocol=17, ports=500)
    selectors = (host, net6)
    expected = ("02000000"  # Number of TSs, RESERVED
                "0700" "0010" "0000ffff" "c0000201" "c0000201"  # IPv4 range, any protocol and port
                "0811" "0028" "01f401f4" "20010db8000000000000000000000000"
                "20010db8ffffffffffffffffffffffff")
    for _ in range(2):  # the second round reuses the remembered octets
        for cls in (P.TSi, P.TSr):
            assert cls(selectors)._body("TSi").hex() == expected
            assert cls(tuple(list(selectors)))._body("TSi").hex() == expected  # an equal tuple: packed again
    bad = (dataclasses.replace(host, end_addr=ipaddress.ip_address("2001:db8::1")),)  # mixed families
    for _ in range(2):  # refused every time: octets are only remembered once they were made
        with pytest.raises(ConfigError, match="does not match"):
            P.TSi(bad)._body("TSi")


def test_selectors_and_their_text_for_events():
    """selectors_of keeps a payload's own tuple when every selector is an address range; ts_strings is
    ts_to_string's strongSwan syntax, which ts_from_string reads back (ikelab.host does)."""
    host = P.TrafficSelector.from_address("192.0.2.1")
    net = P.TrafficSelector.from_network("198.51.100.0/24", ip_protocol=6, ports=(1024, 65535))
    raw = P.RawTrafficSelector(13, 0, b"\x01\x02")
    plain = (host, net)
    assert W.selectors_of(P.TSi(plain)) is plain
    assert W.selectors_of(P.TSr((raw, host, net))) == plain  # a type ikelab does not know is left out
    for _ in range(2):  # remembered per tuple the second time
        for selectors in (plain, tuple(list(plain)), list(plain)):
            assert W.ts_strings(selectors) == ("192.0.2.1/32", "198.51.100.0/24[tcp/1024-65535]")
            assert tuple(ts_from_string(t) for t in W.ts_strings(selectors)) == plain


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
    with pytest.raises(ConfigError) as fast:
        W.message(SPI_I, SPI_R, ExchangeType.IKE_AUTH, True, False, 1, ["not a payload"])
    with pytest.raises(ConfigError) as slow:
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
                     (P.SK(inner=()),),  # an empty SK {} must not share a remembered summary with SK {...}
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


# -- remembered TSi, TSr, IDi, IDr payloads -------------------------------------------------



def _forget_all() -> None:
    F._forget()
    P._KNOWN_PAYLOADS.clear()


def _warm_equals_cold(cases: list, outcome) -> bool:
    """Each case's outcome with the decoders' tables as they are, then again with them emptied before each."""
    warm = [outcome(case) for case in cases]
    cold = []
    for case in cases:
        _forget_all()
        cold.append(outcome(case))
    return warm == cold


def test_recalled_payloads_never_change_an_outcome():
    cases = F._mutations(3000, seed=23)
    _forget_all()
    for data in F._samples():
        F._outcome(data)
        for crypto in (F.GCM, F.CBC):
            F._outcome(data, crypto)
    assert P._KNOWN_PAYLOADS  # the samples' selectors and identities are known now
    assert _warm_equals_cold(cases, lambda case: F._outcome(*case))


def test_recalled_payloads_equal_fresh_ones_and_respect_the_critical_bit():
    tsi = P.TSi((P.TrafficSelector.from_network("10.1.0.0/16"),))
    for payload in (tsi, P.TSr(tsi.selectors), P.IDi.from_fqdn("moon.example"), P.IDr.from_fqdn("moon.example"),
                    dataclasses.replace(tsi, critical=True), P.IDi.from_dn("CN=moon,O=Example")):
        first, data = P.encode_chain([payload])
        _forget_all()
        cold = P.decode_chain(first, data, 0, len(data), DecodeContext())
        warm = P.decode_chain(first, data, 0, len(data), DecodeContext())
        assert cold == warm == (payload,) and repr(cold) == repr(warm)
        assert type(warm[0]) is type(payload) and warm[0].critical == payload.critical


def test_the_payload_table_stays_small():
    _forget_all()
    for i in range(P._KNOWN_MAX + 10):
        payload = P.IDi.from_fqdn(f"host{i}.example")
        first, data = P.encode_chain([payload])
        assert P.decode_chain(first, data, 0, len(data), DecodeContext()) == (payload,)
        assert len(P._KNOWN_PAYLOADS) <= P._KNOWN_MAX


# -- encoding shortcuts: the header, Notify, the ciphers ------------------------------------


def _encode_outcome(message: Message) -> str:
    try:
        return message.encode().hex()
    except IkelabError as exc:
        return f"{type(exc).__name__}: {exc} field={getattr(exc, 'field', None)}"


def _slow_header(m: Message, next_payload: int, length: int) -> bytes:
    """Message._header as it was: every field checked, every time."""
    from ikelab.message import _HEADER
    from ikelab.wire import check_bytes, check_uint

    spi_i = check_bytes(m.spi_i, "HDR.spi_i", min_len=8, max_len=8)
    spi_r = check_bytes(m.spi_r, "HDR.spi_r", min_len=8, max_len=8)
    exchange = m.exchange if m.exchange.__class__ is ExchangeType else check_uint(m.exchange, 8, "HDR.exchange_type")
    minor = check_uint(m.minor_version, 4, "HDR.minor_version")
    mid = check_uint(m.message_id, 32, "HDR.message_id")
    if length > 0xFFFFFFFF:
        raise ConfigError(f"message of {length} bytes is too long", field="HDR.length", value=length)
    return _HEADER.pack(spi_i, spi_r, next_payload, (2 << 4) | minor, exchange, m.flags, mid, length)


def test_header_values_outside_the_usual_are_checked_as_before():
    cases = {
        "spi_i": [bytearray(8), memoryview(bytes(8)), bytes(7), bytes(9), "x" * 8, None],
        "spi_r": [bytearray(8), bytes(7), 0],
        "exchange": [34, 0, 255, 256, -1, True, ExchangeType.IKE_AUTH],
        "minor_version": [0, 1, 15, 16, -1, True, 1.0],
        "message_id": [0, 2**32 - 1, 2**32, -1, True, 3.0],
        "is_initiator": [True, False, 0, 1],
        "is_response": [True, False],
        "version_flag": [True, False],
    }
    for field, values in cases.items():
        for value in values:
            m = dataclasses.replace(Message(SPI_I, SPI_R), **{field: value})
            for length in (28, 2**32 - 1, 2**32):
                fast = _result(lambda: m._header(41, length))
                slow = _result(lambda: _slow_header(m, 41, length))
                assert fast == slow, (field, value, length)


def test_notify_sizes_are_checked_on_both_paths():
    for ntype, data, spi, protocol in [
        (NotifyType.COOKIE, b"", b"", 0), (NotifyType.COOKIE, b"c" * 65, b"", 0),
        (NotifyType.NAT_DETECTION_SOURCE_IP, b"h" * 19, b"", 0), (NotifyType.INVALID_KE_PAYLOAD, b"\x00", b"", 0),
        (NotifyType.SIGNATURE_HASH_ALGORITHMS, b"\x00\x02\x00", b"", 0), (NotifyType.REKEY_SA, b"", b"\x01\x02\x03", 3),
        (NotifyType.REKEY_SA, b"", b"\x01\x02\x03\x04", 1),
    ]:
        n = P.Notify(ntype, protocol, spi, data)
        problem = _notify_problem(ntype, protocol, spi, data)
        assert problem
        with pytest.raises(ConfigError) as info:
            P.encode_chain([n])
        assert str(info.value) == f"N: {problem}"
        raw = bytearray(P.encode_chain([P.Notify(NotifyType.INITIAL_CONTACT, protocol, spi, data)])[1])
        raw[6:8] = int(ntype).to_bytes(2, "big")
        with pytest.raises(IkelabError) as info:
            P.decode_chain(41, bytes(raw), 0, len(raw), DecodeContext())
        assert problem in str(info.value)
    for ntype, data in [(NotifyType.COOKIE, b"c"), (NotifyType.COOKIE, b"c" * 64), (NotifyType.INVALID_KE_PAYLOAD, b"\x00\x1f"),
                        (NotifyType.NAT_DETECTION_DESTINATION_IP, b"h" * 20), (NotifyType.SIGNATURE_HASH_ALGORITHMS, b"\x00\x02")]:
        n = P.Notify(ntype, data=data)
        first, raw = P.encode_chain([n])
        assert P.decode_chain(first, raw, 0, len(raw), DecodeContext()) == (n,)
    with pytest.raises(ConfigError, match="N.spi is 256 bytes"):
        P.encode_chain([P.Notify(NotifyType.INITIAL_CONTACT, 3, bytes(256))])
    assert P.encode_chain([P.Notify(NotifyType.INITIAL_CONTACT, 3, bytearray(4), bytearray(b"d"))]) == \
        P.encode_chain([P.Notify(NotifyType.INITIAL_CONTACT, 3, bytes(4), b"d")])


def _slow_prepare(encr, key, iv, data, aad, field):
    """Encryption._prepare as it was: every check, every time."""
    from ikelab.transforms import _as_bytes

    key, iv, aad = encr._check_key(key), encr._check_iv(iv), encr._check_aad(aad)
    data = _as_bytes(data, field, encr.name)
    body = len(data)
    if field == "ciphertext" and encr.is_aead:
        if body < encr.icv_len:
            raise IntegrityError(f"{encr.name}: {body} bytes cannot hold the {encr.icv_len}-byte ICV")
        body -= encr.icv_len
    if body % encr.block_size:
        raise ConfigError(f"{encr.name}: {field} length {body} is not a multiple of the {encr.block_size}-byte block"
                          " (the caller pads)", field=field, value=body)
    return key[: encr.cipher_key_len], key[encr.cipher_key_len :], iv, data, aad




def _result(fn):
    try:
        return fn()
    except (IkelabError, TypeError) as exc:
        return f"{type(exc).__name__}: {exc}"


def test_cipher_argument_checks_are_unchanged():
    for alg, bits in (("ENCR_AES_GCM_16", 256), ("ENCR_AES_GCM_8", 128), ("ENCR_AES_CBC", 128), ("ENCR_CHACHA20_POLY1305", None),
                      ("ENCR_AES_CTR", 128), ("ENCR_AES_CCM_16", 128)):
        encr = encryption(alg, bits)
        good_key, good_iv = bytes(range(encr.key_len)), bytes(encr.iv_len)
        block = bytes(16 * encr.block_size)
        for key in (good_key, bytearray(good_key), good_key[:-1], good_key + b"x", "k"):
            for iv in (good_iv, memoryview(good_iv), good_iv[:-1], None):
                for data in (block, bytearray(block), block[:-1] if encr.block_size > 1 else block, 7):
                    for aad in (b"", b"aad", bytearray(b"aad"), None):
                        for field, fn in (("plaintext", encr.encrypt), ("ciphertext", encr.decrypt)):
                            fast = _result(lambda: fn(key, iv, data, aad))
                            slow = _result(lambda: getattr(encr, "_encrypt" if field == "plaintext" else "_decrypt")(
                                *_slow_prepare(encr, key, iv, data, aad, field)))
                            assert fast == slow, (alg, key, iv, data, aad, field)


def test_keyed_cipher_objects_are_per_key_and_bounded():
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from ikelab import transforms

    gcm, cbc = encryption("ENCR_AES_GCM_16", 256), encryption("ENCR_AES_CBC", 128)
    transforms._KEYED.clear()
    for i in range(transforms._KEYED_MAX * 2 + 3):
        key = bytes([i % 256]) * 36
        sealed = gcm.encrypt(key, bytes(8), b"payload", b"hdr")
        assert sealed == AESGCM(key[:32]).encrypt(key[32:] + bytes(8), b"payload", b"hdr")
        assert gcm.decrypt(key, bytes(8), sealed, b"hdr") == b"payload"
        iv, block = bytes([i % 256]) * 16, b"sixteen octets!!" * 2
        enc = Cipher(algorithms.AES(key[:16]), modes.CBC(iv)).encryptor()
        assert cbc.encrypt(key[:16], iv, block) == enc.update(block) + enc.finalize()
        assert cbc.decrypt(key[:16], iv, cbc.encrypt(key[:16], iv, block)) == block
        assert (AESGCM, key[:32]) in transforms._KEYED and (algorithms.AES, key[:16]) in transforms._KEYED
        assert len(transforms._KEYED) <= transforms._KEYED_MAX


def test_ctr_truncated_gcm_and_cmac_reuse_the_keyed_aes_object():
    from cryptography.hazmat.primitives import cmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from ikelab import transforms

    ctr, gcm8 = encryption("ENCR_AES_CTR", 128), encryption("ENCR_AES_GCM_8", 128)
    mac = integrity("AUTH_AES_CMAC_96")
    key, salt, iv, data = bytes(range(16)), b"salt", bytes(range(8)), b"ESP payload, 29 octets long."
    transforms._KEYED.clear()
    enc = Cipher(algorithms.AES(key), modes.CTR(salt + iv + b"\x00\x00\x00\x01")).encryptor()
    assert ctr.encrypt(key + salt, iv, data) == enc.update(data) + enc.finalize()
    assert list(transforms._KEYED) == [(algorithms.AES, key)]
    aes = transforms._KEYED[(algorithms.AES, key)]
    sealed = gcm8.encrypt(key + salt, iv, data, b"hdr")
    assert gcm8.decrypt(key + salt, iv, sealed, b"hdr") == data  # the truncated tag goes through the mode API
    reference = cmac.CMAC(algorithms.AES(key))
    reference.update(data)
    assert mac.compute(key, data) == reference.finalize()[:12]
    assert transforms._KEYED[(algorithms.AES, key)] is aes  # one AES object served CTR, GCM_8 and CMAC


# -- transforms packed inline; TS payload bodies ------------------------------------------




def _chain_outcome(payload) -> str:
    try:
        return P.encode_chain([payload])[1].hex()
    except IkelabError as exc:
        return f"{type(exc).__name__}: {exc} field={getattr(exc, 'field', None)}"


def test_transforms_packed_inline_match_their_encoder():
    transforms = [P.Transform.encr("ENCR_AES_GCM_16", 256), P.Transform.prf("PRF_HMAC_SHA2_256"), P.Transform.dh("CURVE25519"),
                  P.Transform.esn(False), P.Transform(TransformType.ENCR, 12, 0), P.Transform(TransformType.ENCR, 12, 65535),
                  P.Transform(TransformType.ENCR, 12, 65536), P.Transform(TransformType.ENCR, 12, -1),
                  P.Transform(TransformType.ENCR, 12, True), P.Transform(TransformType.ENCR, 12, 128, ((17, 5),)),
                  P.Transform(TransformType.ENCR, 999), P.Transform(200, 5), P.Transform._from_wire(1, 12, 128, ())]
    for a, b in itertools.product(transforms, repeat=2):
        got = _chain_outcome(P.SA((P.Proposal.ike(a, b),)))
        parts = [_result(lambda t=t, i=i: t._encode(i == 1, f"SA.proposal[1].transform[{i + 1}]")) for i, t in enumerate((a, b))]
        bad = [x for x in parts if not isinstance(x, bytes)]
        if bad:
            assert got.split(" field=")[0] == bad[0]
        else:
            assert bytes.fromhex(got)[12:] == b"".join(parts)  # after the payload and proposal headers


def test_ts_payload_body_is_its_selectors_encodings():
    """A TS body is its header and each selector's own encoding; a bad selector's error comes through unchanged."""
    v4 = P.TrafficSelector.from_network("10.0.0.0/8")
    v6 = P.TrafficSelector.from_network("2001:db8::/32")
    selectors = [v4, v6, P.TrafficSelector.from_address("192.0.2.1", ip_protocol=6, ports=(80, 443)),
                 P.TrafficSelector._from_wire(7, 17, 0, 65535, v4.start_addr, v4.end_addr),
                 dataclasses.replace(v4, ts_type=TsType.TS_IPV6_ADDR_RANGE), dataclasses.replace(v6, ts_type=7),
                 dataclasses.replace(v4, ip_protocol=256), dataclasses.replace(v4, start_port=-1), dataclasses.replace(v4, end_port=True),
                 P.TrafficSelector._from_wire(TsType.TS_IPV4_ADDR_RANGE, 0, 0, 65535, ipaddress.IPv4Address("1.2.3.4"), "5.6.7.8"),
                 P.RawTrafficSelector(13, 0, b"label")]
    for a, b in itertools.product(selectors, repeat=2):
        ts = P.TSi((a, b))
        got = _chain_outcome(ts)
        parts = [_result(lambda s=s, i=i: s._encode(f"TSi.ts[{i + 1}]")) for i, s in enumerate((a, b))]
        bad = [x for x in parts if not isinstance(x, bytes)]
        if bad:
            assert got.split(" field=")[0] == bad[0]
        else:
            assert bytes.fromhex(got)[8:] == b"".join(parts)


def test_proposals_with_spis_recalled_never_change_an_outcome():
    """Every one-octet edit of an SA payload with SPI proposals decodes the same with and without the tables."""
    sa = P.SA((P.Proposal.esp(b"\x01\x02\x03\x04", P.Transform.encr("ENCR_AES_GCM_16", 256), P.Transform.esn(False)),
               P.Proposal.ah(b"\x05\x06\x07\x08", P.Transform.integ("AUTH_HMAC_SHA2_256_128"), P.Transform.esn(True), number=2),
               P.Proposal.ike(P.Transform.encr("ENCR_AES_CBC", 128), P.Transform.dh("ECP_256"), number=3, spi=b"s" * 8)))
    first, data = P.encode_chain([sa])
    cases = [data]
    for at in range(4, len(data)):
        for value in {0, 1, 2, 3, 4, 8, 12, 255, data[at] ^ 1, (data[at] + 4) & 0xFF, (data[at] - 4) & 0xFF}:
            edited = bytearray(data)
            edited[at] = value
            cases.append(bytes(edited))

    def outcome(d: bytes) -> str:
        try:
            return repr(P.decode_chain(first, d, 0, len(d), DecodeContext()))
        except IkelabError as exc:
            return f"{type(exc).__name__}: {exc} field={getattr(exc, 'field', None)} offset={getattr(exc, 'offset', None)}"

    _forget_all()
    outcome(data)
    assert _warm_equals_cold(cases, outcome)
    assert outcome(data) == repr((sa,))


# -- exchanges_wire.sk_crypto ---------------------------------------------------------------


def test_sk_crypto_equals_the_checked_constructor():
    from types import SimpleNamespace

    from ikelab.constants import EncrId, IntegId
    from ikelab.sk import SkCrypto

    suites = [(EncrId.ENCR_AES_GCM_16, 256, None), (EncrId.ENCR_AES_CBC, 128, IntegId.AUTH_HMAC_SHA2_256_128),
              (EncrId.ENCR_CHACHA20_POLY1305, None, None), (EncrId.ENCR_AES_CBC, 256, None),
              (EncrId.ENCR_AES_GCM_16, 128, IntegId.AUTH_HMAC_SHA2_256_128), (EncrId.ENCR_NULL, None, IntegId.AUTH_HMAC_SHA2_256_128)]
    for encr_id, bits, integ_id in suites:
        suite = SimpleNamespace(encr=encr_id, key_bits=bits, integ=integ_id)
        encr, integ, _ = W._sk_transforms(encr_id, bits, integ_id)
        for e_len, a_len in ((encr.key_len, integ.key_len if integ else 0), (encr.key_len - 1, 32), (encr.key_len, 31)):
            keys = SimpleNamespace(sk_ei=b"e" * e_len, sk_er=b"f" * e_len, sk_ai=b"a" * a_len, sk_ar=b"b" * a_len)
            for initiator in (True, False):
                fast = _result(lambda: W.sk_crypto(keys, suite, initiator, None))
                slow = _result(lambda: SkCrypto.for_sender(keys, initiator, encr, integ, None))
                assert type(fast) is type(slow) and fast == slow and repr(fast) == repr(slow)
