"""The Encrypted payload SK and fragments SKF (RFC 7296 3.14, RFC 5282, RFC 7383).

Known answers: protected IKE messages with their keys from the AOSP IPsec
module's IkeEncryptedPayloadBodyTest.java (tests/vectors/ikev2_messages.json):
AES-CBC-128 + HMAC-SHA1-96, 3DES + HMAC-SHA1-96, AES-GCM-16-256, and SKF
fragments under AES-GCM-16 and 3DES.  Independent constructions with
pyca/cryptography primitives check CCM, CTR and ChaCha20-Poly1305 against
the RFC formulas (RFC 5282 5.1, RFC 4309 4, RFC 3686 4, RFC 7634 2).
"""

from __future__ import annotations

import random
import struct
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, ChaCha20Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st

from ikewire_samples import SPI_I, SPI_R, SUITES, VECTORS, FixedRandom, ike_auth_inner, ike_auth_request, informational_response, suite_crypto
from ikelab.constants import AuthMethod, ExchangeType, NotifyType, PayloadType, PrfId
from ikelab.errors import ConfigError, IntegrityError, ParseError, WeakAlgorithmError, WeakAlgorithmWarning
from ikelab.keys import IkeSaKeys
from ikelab.message import Message, decode
from ikelab.payloads import AUTH, EAP, SK, IDi, Nonce, Notify
from ikelab.rand import DeterministicRandom
from ikelab.sk import SkCrypto, SkCryptoPair, fragment, pad_length_for, protect, reassemble, reassemble_payloads, unprotect
from ikelab.transforms import encryption, integrity
from ikelab.views import dump

HEX = bytes.fromhex


# -- known answers ---------------------------------------------------------------


def test_aosp_aes_cbc_hmac_sha1_decrypt_and_reencrypt():
    v = VECTORS["aosp_ike_auth_aes_cbc_hmac_sha1"]
    data = HEX(v["header"] + v["sk_header"] + v["iv"] + v["encrypted"] + v["icv"])
    crypto = SkCrypto.create("ENCR_AES_CBC", HEX(v["sk_e"]), key_bits=128, integ="AUTH_HMAC_SHA1_96", sk_a=HEX(v["sk_a"]))
    m = unprotect(data, crypto)
    sk = m.payloads[0]
    assert sk.details.plaintext == HEX(v["inner"])
    assert (sk.details.iv, sk.details.icv, sk.details.padding, sk.details.pad_length) == (HEX(v["iv"]), HEX(v["icv"]), HEX(v["padding"]), 11)
    assert [p.payload_type for p in sk.inner] == [35, 36, 39, 33, 44, 45, 41, 41]
    # same payloads, same IV, zero padding of minimum length -> the published bytes
    again = protect(m, replace(crypto, rng=FixedRandom(HEX(v["iv"]))))
    assert again == data


def test_aosp_3des_needs_allow_weak():
    v = VECTORS["aosp_ike_auth_3des_hmac_sha1"]
    with pytest.raises(WeakAlgorithmError):
        SkCrypto.create("ENCR_3DES", HEX(v["sk_e"]), integ="AUTH_HMAC_SHA1_96", sk_a=HEX(v["sk_a"]))
    with pytest.warns(WeakAlgorithmWarning, match="3DES"):
        crypto = SkCrypto.create("ENCR_3DES", HEX(v["sk_e"]), integ="AUTH_HMAC_SHA1_96", sk_a=HEX(v["sk_a"]), allow_weak=True)
    m = decode(HEX(v["hex"]), crypto)
    assert (m.exchange, m.is_initiator, m.is_response, m.message_id) == (ExchangeType.IKE_AUTH, False, True, 2)
    (eap,) = m.payloads[0].inner
    assert isinstance(eap, EAP) and m.payloads[0].details.plaintext == HEX(v["inner"])
    assert eap.data.endswith(b"strongSwan")


def test_aosp_aes_gcm16_decrypt_and_reencrypt():
    v = VECTORS["aosp_ike_auth_aes_gcm16"]
    crypto = SkCrypto.create("ENCR_AES_GCM_16", HEX(v["sk_e"]), key_bits=256)
    m = decode(HEX(v["hex"]), crypto)
    (auth,) = m.payloads[0].inner
    assert auth == AUTH(AuthMethod.SHARED_KEY_MIC, HEX(v["inner"])[8:])
    assert m.payloads[0].details.pad_length == 0 and m.payloads[0].details.iv == HEX(v["iv"])
    assert m.encode(replace(crypto, rng=FixedRandom(HEX(v["iv"])))) == HEX(v["hex"])


def test_aosp_skf_aes_gcm16():
    v = VECTORS["aosp_skf_aes_gcm16"]
    crypto = SkCrypto.create("ENCR_AES_GCM_16", HEX(v["sk_e"]), key_bits=256)
    m = decode(HEX(v["hex"]), crypto)
    (skf,) = m.payloads
    assert (skf.fragment_number, skf.total_fragments, skf.next_payload, skf.content) == (2, 2, 0, HEX(v["content"]))
    assert m.encode(replace(crypto, rng=FixedRandom(HEX(v["iv"])))) == HEX(v["hex"])
    assert reassemble([m]) is None  # fragment 1 is missing


def test_aosp_skf_3des_accepts_any_padding():
    v = VECTORS["aosp_skf_3des_hmac_sha1"]
    with pytest.warns(WeakAlgorithmWarning):
        crypto = SkCrypto.create("ENCR_3DES", HEX(v["sk_e"]), integ="AUTH_HMAC_SHA1_96", sk_a=HEX(v["sk_a"]), allow_weak=True)
    (skf,) = decode(HEX(v["hex"]), crypto).payloads
    assert (skf.fragment_number, skf.total_fragments, skf.content) == (5, 5, HEX(v["content"]))
    assert skf.details.padding == HEX(v["padding"]) and skf.details.iv == HEX(v["iv"])


# -- independent constructions of the RFC formulas ------------------------------


def _header(next_payload: int, length: int, mid: int = 1, flags: int = 0x08) -> bytes:
    return SPI_I + SPI_R + bytes((next_payload, 0x20, 35, flags)) + struct.pack("!II", mid, length)


def _inner() -> tuple[int, bytes]:
    from ikelab.payloads import encode_chain

    return encode_chain(ike_auth_inner())


@pytest.mark.parametrize("alg, bits, salt_len, icv_len", [("ENCR_AES_CCM_8", 128, 3, 8), ("ENCR_AES_CCM_16", 256, 3, 16), ("ENCR_CHACHA20_POLY1305", None, 4, 16)])
def test_aead_matches_rfc5282_construction(alg, bits, salt_len, icv_len):
    key = bytes(range(40))[: (bits // 8 if bits else 32) + salt_len]
    iv = HEX("0102030405060708")
    first, plain = _inner()
    padded = plain + b"\x00"  # block size 1: only the Pad Length octet (0)
    sk_len = 4 + 8 + len(padded) + icv_len
    aad = _header(46, 28 + sk_len) + bytes((first, 0)) + struct.pack("!H", sk_len)  # RFC 5282 5.1
    nonce = key[-salt_len:] + iv  # RFC 4309 4 / RFC 7634 2: salt | IV
    aead = ChaCha20Poly1305(key[:-salt_len]) if bits is None else AESCCM(key[:-salt_len], tag_length=icv_len)
    expected = aad + iv + aead.encrypt(nonce, padded, aad)
    crypto = SkCrypto(encryption(alg, bits), None, key, b"", FixedRandom(iv))
    assert ike_auth_request().encode(crypto) == expected


def test_aes_ctr_hmac_matches_rfc_construction():
    key, ska, iv = bytes(range(20)), bytes(range(100, 132)), HEX("a1a2a3a4a5a6a7a8")
    first, plain = _inner()
    padded = plain + b"\x00"
    sk_len = 4 + 8 + len(padded) + 16
    counter = key[16:] + iv + b"\x00\x00\x00\x01"  # RFC 3686 4: nonce | IV | block counter 1
    ct = Cipher(algorithms.AES(key[:16]), modes.CTR(counter)).encryptor().update(padded)
    prefix = _header(46, 28 + sk_len) + bytes((first, 0)) + struct.pack("!H", sk_len) + iv + ct
    mac = hmac.HMAC(ska, hashes.SHA256())
    mac.update(prefix)  # RFC 7296 3.14: ICV over the message from the header through the Pad Length
    expected = prefix + mac.finalize()[:16]
    crypto = SkCrypto(encryption("ENCR_AES_CTR", 128), integrity("AUTH_HMAC_SHA2_256_128"), key, ska, FixedRandom(iv))
    assert ike_auth_request().encode(crypto) == expected


def test_cbc_padding_is_minimal_and_covers_the_pad_length_octet():
    assert [pad_length_for(n, 16) for n in (15, 16, 17, 0)] == [0, 15, 14, 15]
    assert [pad_length_for(n, 1) for n in (0, 1, 100)] == [0, 0, 0]
    crypto = suite_crypto("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128")
    for n in range(0, 40):
        m = Message(SPI_I, SPI_R, 37, True, False, 9, (SK(inner=(Notify(16384, data=bytes(n)),)),))
        sk = decode(m.encode(crypto), crypto).payloads[0]
        assert (len(sk.details.plaintext) + sk.details.pad_length + 1) % 16 == 0 and sk.details.pad_length < 16


# -- every transform -----------------------------------------------------------------


@pytest.mark.parametrize("name, encr, bits, integ", SUITES, ids=[s[0] for s in SUITES])
def test_round_trip_every_suite(name, encr, bits, integ):
    crypto = suite_crypto(encr, bits, integ, seed=name)
    for m in (ike_auth_request(), informational_response(), Message(SPI_I, SPI_R, 37, False, True, 4, (SK(inner=()),))):
        data = protect(m, crypto)
        assert unprotect(data, crypto) == m
        opaque = decode(data)  # without keys the SK payload stays opaque...
        assert opaque.payloads[-1].inner is None and opaque.encode() == data  # ...and re-encodes unchanged
        iv, ct, icv = opaque.payloads[-1].parts(crypto.iv_len, crypto.icv_len)
        assert len(ct) % crypto.block_size == 0 and len(icv) == crypto.icv_len


def test_round_trip_3des_with_allow_weak():
    with pytest.warns(WeakAlgorithmWarning):
        crypto = SkCrypto(encryption("ENCR_3DES", allow_weak=True), integrity("AUTH_HMAC_SHA1_96"), bytes(24), bytes(20), DeterministicRandom(1))
    m = ike_auth_request()
    assert unprotect(protect(m, crypto), crypto) == m


@pytest.mark.parametrize("name, encr, bits, integ", SUITES, ids=[s[0] for s in SUITES])
def test_any_flipped_bit_is_detected(name, encr, bits, integ):
    crypto = suite_crypto(encr, bits, integ, seed=name)
    m = Message(SPI_I, SPI_R, ExchangeType.INFORMATIONAL, True, False, 2, (SK(inner=(Notify(NotifyType.INITIAL_CONTACT), Nonce(bytes(16)))),))
    data = bytearray(protect(m, crypto))
    for bit in range(8 * len(data)):
        data[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises((IntegrityError, ParseError)):
            decode(bytes(data), crypto)  # never a message with other content
        data[bit // 8] ^= 1 << (bit % 8)
    assert decode(bytes(data), crypto) == m


def test_wrong_keys_and_truncation():
    crypto = suite_crypto("ENCR_AES_GCM_16", 128, None)
    other = suite_crypto("ENCR_AES_GCM_16", 128, None, seed="other")
    data = protect(ike_auth_request(), crypto)
    with pytest.raises(IntegrityError):
        unprotect(data, other)
    cut = bytearray(data[:-5])
    with pytest.raises(ParseError):
        unprotect(bytes(cut), crypto)  # the Length field no longer matches
    cut[24:28] = len(cut).to_bytes(4, "big")
    cut[30:32] = (len(cut) - 28).to_bytes(2, "big")
    with pytest.raises(IntegrityError):
        unprotect(bytes(cut), crypto)
    tiny = Message(SPI_I, SPI_R, 35, True, False, 1, (SK(encrypted=bytes(10), next_payload=35),)).encode()
    with pytest.raises(ParseError) as err:
        unprotect(tiny, crypto)
    assert err.value.field == "SK.encrypted"


def _sk_with_plaintext(crypto, padded: bytes) -> bytes:
    """HDR, SK with ``padded`` (payloads | Padding | Pad Length) encrypted as it is, and a good ICV."""
    iv = bytes(16)
    sk_len = 4 + 16 + len(padded) + 16
    ct = crypto.encr.encrypt(crypto.sk_e, iv, padded)
    prefix = _header(46, 28 + sk_len, flags=0x08) + bytes((0, 0)) + struct.pack("!H", sk_len) + iv + ct
    return prefix + crypto.integ.compute(crypto.sk_a, prefix)


@pytest.mark.parametrize("pad_length", [0x20, 0x10])  # 32, and 16: one more than the 15 octets before it
def test_pad_length_larger_than_data_is_an_integrity_error(pad_length: int):
    crypto = suite_crypto("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128")
    with pytest.raises(IntegrityError, match="Pad Length"):
        unprotect(_sk_with_plaintext(crypto, bytes(15) + bytes([pad_length])), crypto)


def test_pad_length_equal_to_the_data_leaves_no_payloads():
    crypto = suite_crypto("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128")
    (sk,) = unprotect(_sk_with_plaintext(crypto, bytes(15) + b"\x0f"), crypto).payloads  # all 15 are padding
    assert sk.inner == ()


def test_cbc_ciphertext_not_block_multiple_is_parse_error():
    crypto = suite_crypto("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128")
    data = Message(SPI_I, SPI_R, 35, True, False, 1, (SK(encrypted=bytes(16 + 17 + 16), next_payload=35),)).encode()
    with pytest.raises(ParseError, match="multiple"):
        unprotect(data, crypto)


_inner_payloads = st.lists(
    st.one_of(
        st.builds(Nonce, st.binary(min_size=16, max_size=48)),
        st.builds(lambda t, d: Notify(t, data=d), st.integers(16384, 16383 + 50).filter(lambda t: t not in (16388, 16389, 16390, 16393, 16431)), st.binary(max_size=30)),
        st.builds(lambda s: IDi.from_fqdn(s), st.text(alphabet="abcdefghij.-", min_size=1, max_size=30)),
        st.builds(EAP, st.binary(max_size=40)),
    ),
    max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SUITES), _inner_payloads, st.booleans(), st.integers(0, 2**32 - 1))
def test_protect_unprotect_property(suite, inner, initiator, mid):
    name, encr, bits, integ = suite
    crypto = suite_crypto(encr, bits, integ, seed=name)
    m = Message(SPI_I, SPI_R, ExchangeType.INFORMATIONAL, initiator, not initiator, mid, (SK(inner=tuple(inner)),))
    assert unprotect(protect(m, crypto), crypto) == m


# -- keys and directions ------------------------------------------------------------


def _keys() -> IkeSaKeys:
    r = DeterministicRandom("keys")
    return IkeSaKeys(
        sk_d=r.random_bytes(32), sk_ai=r.random_bytes(32), sk_ar=r.random_bytes(32), sk_ei=r.random_bytes(16),
        sk_er=r.random_bytes(16), sk_pi=r.random_bytes(32), sk_pr=r.random_bytes(32), prf=PrfId.PRF_HMAC_SHA2_256,
        keymat=b"", blocks=(),
    )


def test_directions_follow_the_i_flag():
    keys = _keys()
    e, i = encryption("ENCR_AES_CBC", 128), integrity("AUTH_HMAC_SHA2_256_128")
    pair = SkCryptoPair.from_keys(keys, e, i, DeterministicRandom(5))
    assert (pair.initiator.sk_e, pair.initiator.sk_a, pair.responder.sk_e, pair.responder.sk_a) == (keys.sk_ei, keys.sk_ai, keys.sk_er, keys.sk_ar)
    request = ike_auth_request()
    response = Message(SPI_I, SPI_R, ExchangeType.IKE_AUTH, False, True, 1, (SK(inner=(IDi.from_fqdn("bob"),)),))
    for m, sender in ((request, pair.initiator), (response, pair.responder)):
        data = protect(m, pair)
        assert unprotect(data, sender) == m and unprotect(data, pair) == m
        wrong = pair.responder if sender is pair.initiator else pair.initiator
        with pytest.raises(IntegrityError):
            unprotect(data, wrong)
    assert SkCrypto.for_sender(keys, True, e, i).sk_e == keys.sk_ei
    assert SkCrypto.for_sender(keys, False, e, i).sk_a == keys.sk_ar


@pytest.mark.parametrize(
    "build, field",
    [
        (lambda: SkCrypto(encryption("ENCR_AES_GCM_16", 128), integrity("AUTH_HMAC_SHA1_96"), bytes(20), bytes(20)), "integ"),
        (lambda: SkCrypto(encryption("ENCR_AES_CBC", 128), None, bytes(16)), "integ"),
        (lambda: SkCrypto(encryption("ENCR_AES_CBC", 128), integrity("AUTH_HMAC_SHA1_96"), bytes(15), bytes(20)), "sk_e"),
        (lambda: SkCrypto(encryption("ENCR_AES_CBC", 128), integrity("AUTH_HMAC_SHA1_96"), bytes(16), bytes(19)), "sk_a"),
        (lambda: SkCrypto(encryption("ENCR_NULL"), integrity("AUTH_HMAC_SHA1_96"), b"", bytes(20)), "encr"),
        (lambda: ike_auth_request().encode(), "crypto"),
    ],
)
def test_configuration_errors(build, field):
    with pytest.raises(ConfigError) as err:
        build()
    assert err.value.field == field


# -- fragments (RFC 7383) ----------------------------------------------------------


@pytest.mark.parametrize("suite", [SUITES[1], SUITES[10], SUITES[12]], ids=lambda s: s[0])
def test_fragment_and_reassemble(suite):
    name, encr, bits, integ = suite
    crypto = suite_crypto(encr, bits, integ, seed=name)
    m = ike_auth_request()
    frags = fragment(m, crypto, 120)
    assert len(frags) > 2 and all(len(f) <= 120 for f in frags)
    decoded = [decode(f, crypto) for f in frags]
    total = len(frags)
    for i, d in enumerate(decoded):
        (skf,) = d.payloads
        assert (skf.fragment_number, skf.total_fragments) == (i + 1, total)
        assert skf.next_payload == (PayloadType.IDi if i == 0 else 0)
        assert (d.message_id, d.exchange) == (1, ExchangeType.IKE_AUTH)
    shuffled = list(frags)
    random.Random(7).shuffle(shuffled)
    assert reassemble(shuffled, crypto) == m
    assert reassemble_payloads(decoded, crypto) == m.payloads[0].inner
    assert reassemble(shuffled[:-1], crypto) is None
    assert reassemble(frags + frags[:2], crypto) == m  # duplicates are ignored
    bad = bytearray(frags[1])
    bad[-1] ^= 1
    with pytest.raises(IntegrityError):
        reassemble([frags[0], bytes(bad)] + frags[2:], crypto)


def test_fragments_carry_the_sk_critical_bit_and_reassembly_restores_it():
    """The SK payload's generic header travels in every SKF (RFC 7383 2.5); the joined message is the one split,
    Critical bit included."""
    crypto = suite_crypto("ENCR_AES_GCM_16", 256, None)
    m = replace(ike_auth_request(), payloads=(SK(inner=ike_auth_inner(), critical=True),))
    frags = fragment(m, crypto, 150)
    assert len(frags) > 1 and all(decode(f, crypto).payloads[-1].critical for f in frags)
    assert reassemble(frags, crypto) == m


def test_reassembly_keeps_the_first_of_two_fragments_with_one_number():
    """RFC 7383 2.6.1 keeps a fragment once; a later one with the same number (a retransmission, or a forged
    one that passed no further check than the ICV) does not replace it."""
    from ikelab.constants import AuthMethod
    from ikelab.payloads import AUTH

    crypto = suite_crypto("ENCR_AES_GCM_16", 256, None)
    inner = list(ike_auth_inner())
    other = [AUTH(AuthMethod.SHARED_KEY_MIC, bytes(32)) if isinstance(p, AUTH) else p for p in inner]
    first, second = ike_auth_request(tuple(inner)), ike_auth_request(tuple(other))
    a, b = fragment(first, crypto, 150), fragment(second, crypto, 150)
    assert len(a) == len(b)
    (k,) = [i for i in range(len(a)) if decode(a[i], crypto=crypto).payloads[-1].content
            != decode(b[i], crypto=crypto).payloads[-1].content]
    assert reassemble(a[: k + 1] + [b[k]] + a[k + 1 :], crypto) == first


def test_reassembly_prefers_the_largest_total():
    crypto = suite_crypto("ENCR_AES_GCM_16", 256, None)
    m = ike_auth_request()
    small, big = fragment(m, crypto, 300), fragment(m, crypto, 150)
    assert len(big) > len(small) > 1
    assert reassemble(small[:1] + big, crypto) == m
    assert reassemble(big[:1] + small, crypto) is None  # the smaller total is dropped


def test_reassembly_errors():
    crypto = suite_crypto("ENCR_AES_GCM_16", 256, None)
    a = fragment(ike_auth_request(message_id=1), crypto, 150)
    b = fragment(ike_auth_request(message_id=2), crypto, 150)
    with pytest.raises(ConfigError):
        reassemble([a[0], b[1]], crypto)
    answer = fragment(replace(ike_auth_request(message_id=1), is_response=True), crypto, 150)  # same ID, R flag
    with pytest.raises(ConfigError, match="flags differ"):
        reassemble([a[0], answer[1]], crypto)
    with pytest.raises(ConfigError):
        reassemble([decode(a[0])])  # not decrypted
    with pytest.raises(ConfigError):
        reassemble([ike_auth_request()])
    with pytest.raises(ConfigError):
        fragment(Message(SPI_I, payloads=(Nonce(bytes(16)),)), crypto, 200)
    with pytest.raises(ConfigError):
        fragment(ike_auth_request(), crypto, 40)


# -- dissection of protected messages ------------------------------------------------


def test_dump_shows_decrypted_fields_at_ciphertext_offsets():
    crypto = suite_crypto("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128")
    data = protect(ike_auth_request(), crypto)
    rows = {r.path: r for r in dump(data, crypto)}
    assert (rows["SK.iv"].offset, rows["SK.iv"].length) == (32, 16)
    assert rows["SK.IDi.next_payload"].offset == 48 and rows["SK.IDi.next_payload"].decrypted
    assert rows["SK.IDi.id_data"].value == "alice.example"
    assert (rows["SK.icv"].offset, rows["SK.icv"].length) == (len(data) - 16, 16)
    assert rows["SK.pad_length"].decrypted and not rows["SK.iv"].decrypted
    assert "SK.IDi.next_payload" not in {r.path for r in dump(data)}  # without keys: opaque
