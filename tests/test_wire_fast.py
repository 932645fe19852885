"""The wire format's shortcuts change nothing but speed.

:mod:`ikelab.wire` lets decoders build payloads with ``cls._from_wire(...)``
(no second normalisation), :mod:`ikelab.sa_payload` remembers decoded
transforms and SPI-less proposals by their octets and indexes a proposal's
transforms by type, :mod:`ikelab.ts_payload` remembers decoded selectors, and
the encoders skip the range check for members of the IANA registries.  These
tests hold each shortcut to the slow path it replaces: the same objects, the
same errors (type, message, field, offset), the same dump rows, the same bytes.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import random

import pytest

from ikewire_samples import SPI_I, SPI_R, all_sample_messages, ike_sa_init_request, suite_crypto
from ikelab import sa_payload, ts_payload
from ikelab.constants import (
    AuthMethod,
    CertEncoding,
    DhId,
    ExchangeType,
    IdType,
    NotifyType,
    ProtocolId,
    TransformType,
    TsType,
)
from ikelab.errors import ConfigError, IkelabError
from ikelab.message import Message, decode
from ikelab.payloads import KE, SA, SK, Notify, Proposal, TrafficSelector, Transform, TSi, decode_chain, encode_chain
from ikelab.sa_payload import TRANSFORM_ID_ENUMS
from ikelab.views import dump
from ikelab.wire import DecodeContext

GCM = suite_crypto("ENCR_AES_GCM_16", 256, None, seed="fast")
CBC = suite_crypto("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128", seed="fast")


def _forget() -> None:
    """Empty every table of decoded objects, so the next decode takes the slow path."""
    sa_payload._KNOWN_TRANSFORMS.clear()
    sa_payload._KNOWN_PROPOSALS.clear()
    ts_payload._address_range.cache_clear()


def _samples() -> list[bytes]:
    out = []
    for m in all_sample_messages():
        if isinstance(m.payloads[-1], SK):
            out += [m.encode(GCM), m.encode(CBC)]
        else:
            out.append(m.encode())
    return out


def _decoded() -> list[Message]:
    """Every sample decoded: opaque, and decrypted with the suite it was protected with."""
    out = []
    for data in _samples():
        out.append(decode(data))
        for crypto in (GCM, CBC):
            try:
                out.append(decode(data, crypto))
            except IkelabError:
                pass  # protected with the other suite
    return out


def _outcome(data: bytes, crypto=None) -> str:
    try:
        return repr(decode(data, crypto))
    except IkelabError as exc:
        return f"{type(exc).__name__}: {exc} field={getattr(exc, 'field', None)} offset={getattr(exc, 'offset', None)}"


def _values(obj) -> list:
    """Every dataclass object inside a decoded message (payloads, proposals, transforms, selectors...)."""
    found = []
    todo = [obj]
    while todo:
        x = todo.pop()
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            found.append(x)
            todo.extend(getattr(x, f.name) for f in dataclasses.fields(x))
        elif isinstance(x, tuple):
            todo.extend(x)
    return found


def _mutations(count: int, seed: int = 7) -> list[tuple[bytes, object]]:
    rng = random.Random(seed)
    pool = [(d, c) for d in _samples() for c in (None, GCM, CBC)]
    out = []
    for _ in range(count):
        data, crypto = rng.choice(pool)
        b = bytearray(data)
        kind = rng.randrange(4)
        if kind == 0:
            b[rng.randrange(16, len(b))] ^= 1 << rng.randrange(8)
        elif kind == 1:
            b[rng.randrange(16, len(b))] = rng.randrange(256)
        elif kind == 2:
            del b[rng.randrange(28, len(b)) :]
        else:
            at = rng.randrange(28, len(b))
            b[at:at] = bytes(rng.randrange(1, 5))
        if len(b) >= 28 and rng.random() < 0.8:
            b[24:28] = len(b).to_bytes(4, "big")  # so the damage is met deeper in
        out.append((bytes(b), crypto))
    return out


# -- decoded objects are ordinary objects -------------------------------------------


def test_decoded_objects_equal_what_the_public_constructors_make():
    for message in _decoded():
        for obj in _values(message):
            rebuilt = type(obj)(**{f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
            assert rebuilt == obj and repr(rebuilt) == repr(obj)


def test_decoded_objects_are_frozen_and_copy_pickle_and_replace():
    for message in _decoded():
        for obj in _values(message):
            assert pickle.loads(pickle.dumps(obj)) == obj
            assert copy.copy(obj) == obj and copy.deepcopy(obj) == obj
            assert dataclasses.replace(obj) == obj
            name = dataclasses.fields(obj)[0].name
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(obj, name, getattr(obj, name))


def test_from_wire_stores_values_as_given():
    ke = KE._from_wire(DhId.CURVE25519, b"\x01" * 32, True)
    assert ke == KE(DhId.CURVE25519, b"\x01" * 32, True)
    assert [f.name for f in dataclasses.fields(KE)] == ["group", "data", "critical"]


# -- remembered transforms, proposals and selectors ------------------------------------


def test_the_same_octets_give_the_same_objects():
    _forget()
    data = ike_sa_init_request().encode()
    first, second = decode(data), decode(data)
    assert first == second
    sa1, sa2 = first.find(SA), second.find(SA)
    assert all(p is q for p, q in zip(sa1.proposals, sa2.proposals))  # SPI-less: remembered whole
    assert sa1.proposals[0].transforms[0] is sa2.proposals[0].transforms[0]


def test_proposals_with_an_spi_are_remembered_without_it():
    _forget()
    esp = lambda spi: SA((Proposal.esp(spi, Transform.encr("ENCR_AES_GCM_16", 256), Transform.esn(False)),))  # noqa: E731
    a, b = (decode_chain(*_chain(esp(spi)), DecodeContext())[0] for spi in (b"\x00\x00\x00\x01", b"\x00\x00\x00\x02"))
    assert a == esp(b"\x00\x00\x00\x01") and b == esp(b"\x00\x00\x00\x02")
    assert a.proposals[0].transforms is b.proposals[0].transforms  # the second one was recalled, with its own SPI
    assert [len(k) for k in sa_payload._KNOWN_PROPOSALS] == [len(_chain(esp(b"1234"))[1]) - 4 - 4]  # no SPI in the key


def _chain(payload) -> tuple[int, bytes, int, int]:
    first, data = encode_chain([payload])
    return first, data, 0, len(data)


def test_a_different_transform_is_a_different_object():
    _forget()
    for bits in (128, 192, 256):
        sa = SA((Proposal.ike(Transform.encr("ENCR_AES_CBC", bits), Transform.prf("PRF_HMAC_SHA2_256")),))
        (decoded,) = decode_chain(*_chain(sa), DecodeContext())
        assert decoded == sa and decoded.proposals[0].transforms[0].key_length == bits


def test_the_tables_stay_small():
    _forget()
    for bits in range(sa_payload._KNOWN_MAX + 10):
        t = Transform(TransformType.ENCR, 12, bits)
        sa = SA((Proposal.ike(t, Transform.prf("PRF_HMAC_SHA2_256")),))
        (decoded,) = decode_chain(*_chain(sa), DecodeContext())
        assert decoded.proposals[0].transforms[0] == t
    assert len(sa_payload._KNOWN_TRANSFORMS) <= sa_payload._KNOWN_MAX
    assert len(sa_payload._KNOWN_PROPOSALS) <= sa_payload._KNOWN_MAX


def test_remembered_objects_never_change_an_outcome():
    """Mutated messages decode to the same message, or fail with the same error, with and without the tables."""
    cases = _mutations(3000)
    _forget()
    for data in _samples():  # every good transform, proposal and selector is known now
        _outcome(data)
    warm = [_outcome(d, c) for d, c in cases]
    cold = []
    for d, c in cases:
        _forget()
        cold.append(_outcome(d, c))
    assert warm == cold


def _length_fields(data: bytes) -> list[int]:
    """Offsets of the Length fields of the first SA payload, its proposals and their transforms."""
    assert data[16] == 33  # the message starts with its SA payload
    offsets = [30]
    end = 28 + int.from_bytes(data[30:32], "big")
    pos = 32
    while pos < end:  # proposals
        offsets.append(pos + 2)
        pend = pos + int.from_bytes(data[pos + 2 : pos + 4], "big")
        t = pos + 8 + data[pos + 6]
        while t < pend:  # transforms
            offsets.append(t + 2)
            t += int.from_bytes(data[t + 2 : t + 4], "big")
        pos = pend
    return offsets


def test_edited_length_fields_give_the_same_outcome():
    """A substructure's octets are only recalled when its Length fits where it stands."""
    data = ike_sa_init_request().encode()
    cases = []
    for at in _length_fields(data):
        length = int.from_bytes(data[at : at + 2], "big")
        for new in range(max(0, length - 16), length + 17):
            edited = bytearray(data)
            edited[at : at + 2] = new.to_bytes(2, "big")
            cases.append(bytes(edited))
    _forget()
    _outcome(data)
    warm = [_outcome(d) for d in cases]
    cold = []
    for d in cases:
        _forget()
        cold.append(_outcome(d))
    assert warm == cold


def test_dump_rows_do_not_depend_on_the_tables():
    for data, crypto in _mutations(300, seed=11):
        _forget()
        cold = dump(data, crypto, strict=False)
        warm = dump(data, crypto, strict=False)
        assert warm == cold


def test_bytearray_and_memoryview_input():
    for data in _samples():
        expected = _outcome(data)
        assert _outcome(bytearray(data)) == expected
        assert _outcome(memoryview(data)) == expected
        chain = bytearray(data[28:])
        assert decode_chain(data[16], chain, 0, len(chain), DecodeContext(28)) == decode(data).payloads


# -- Proposal.of_type ----------------------------------------------------------------


def test_of_type_answers_like_a_filter():
    p = Proposal.ike(
        Transform.encr("ENCR_AES_CBC", 128), Transform.encr("ENCR_AES_CBC", 256), Transform.prf("PRF_HMAC_SHA2_256"),
        Transform.integ("AUTH_HMAC_SHA2_256_128"), Transform.dh("CURVE25519"), Transform(200, 7),
    )
    for asked in (*TransformType, 1, 2, 3, 4, 5, 200, 201, "ENCR", "DH", "encr"):
        t = asked if not isinstance(asked, str) else next(m for m in TransformType if m.name.lower() == asked.lower())
        assert p.of_type(asked) == tuple(x for x in p.transforms if x.type == t)
    assert [x.key_length for x in p.of_type(TransformType.ENCR)] == [128, 256]
    with pytest.raises(ConfigError):
        p.of_type("NOT_A_TYPE")


def test_the_type_index_is_not_part_of_the_value():
    p = Proposal.ike(Transform.encr("ENCR_AES_GCM_16", 256), Transform.prf("PRF_HMAC_SHA2_256"))
    q = Proposal.ike(Transform.encr("ENCR_AES_GCM_16", 256), Transform.prf("PRF_HMAC_SHA2_256"))
    p.of_type(TransformType.ENCR)  # p has its index now, q not
    assert p == q and hash(p) == hash(q) and repr(p) == repr(q)
    assert [f.name for f in dataclasses.fields(p)] == ["number", "protocol", "spi", "transforms"]
    for other in (pickle.loads(pickle.dumps(p)), copy.copy(p), copy.deepcopy(p), dataclasses.replace(p, number=2)):
        assert other.of_type(TransformType.PRF) == p.of_type(TransformType.PRF)
    r = dataclasses.replace(p, transforms=(Transform.dh("ECP_256"),))
    assert r.of_type(TransformType.ENCR) == () and r.of_type(TransformType.DH) == (Transform.dh("ECP_256"),)


# -- encoding shortcuts -----------------------------------------------------------------


@pytest.mark.parametrize(
    "enum, bits",
    [
        (TransformType, 8), (ProtocolId, 8), (ExchangeType, 8), (TsType, 8), (IdType, 8), (AuthMethod, 8),
        (CertEncoding, 8), (NotifyType, 16), (DhId, 16), *[(e, 16) for e in TRANSFORM_ID_ENUMS.values()],
    ],
)
def test_registry_members_fit_their_fields(enum, bits):
    """Encoders write these members without a range check: every member must fit its field."""
    assert all(0 <= int(m) < 1 << bits for m in enum)


def test_values_outside_the_registries_are_still_checked():
    cases = [
        (Transform(300, 12), "SA.proposal[1].transform[1].transform_type = 300 does not fit in 8 bits (0..255)"),
        (Transform(TransformType.ENCR, 70000), "SA.proposal[1].transform[1].transform_id = 70000 does not fit in 16 bits (0..65535)"),
        (Transform(TransformType.ENCR, 12, 70000), "SA.proposal[1].transform[1].key_length = 70000 does not fit in 16 bits (0..65535)"),
    ]
    for transform, message in cases:
        with pytest.raises(ConfigError) as info:
            encode_chain([SA((Proposal.ike(transform),))])
        assert str(info.value) == message
    with pytest.raises(ConfigError, match=r"N.notify_type = 70000 does not fit in 16 bits"):
        encode_chain([Notify(70000)])
    with pytest.raises(ConfigError, match=r"N.protocol_id = 256 does not fit in 8 bits"):
        encode_chain([Notify(NotifyType.INITIAL_CONTACT, 256)])
    with pytest.raises(ConfigError, match=r"HDR.exchange_type = 300 does not fit in 8 bits"):
        Message(SPI_I, SPI_R, 300).encode()
    ts = TrafficSelector.from_network("10.0.0.0/8")
    for field, value in (("ip_protocol", 256), ("start_port", -1), ("end_port", 65536), ("ip_protocol", True)):
        with pytest.raises(ConfigError, match=rf"TSi.ts\[1\].{field}"):
            encode_chain([TSi((dataclasses.replace(ts, **{field: value}),))])


def test_int_and_member_values_encode_alike():
    as_members = SA((Proposal(1, ProtocolId.IKE, b"", (Transform(TransformType.ENCR, 12, 128), Transform(TransformType.DH, DhId.CURVE25519))),))
    as_ints = SA((Proposal._from_wire(1, 1, b"", (Transform._from_wire(1, 12, 128, ()), Transform._from_wire(4, 31, None, ()))),))
    assert encode_chain([as_members]) == encode_chain([as_ints])
    assert encode_chain([Notify(NotifyType.COOKIE, data=b"c")]) == encode_chain([Notify._from_wire(16390, 0, b"", b"c", False)])
