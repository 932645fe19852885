"""What the key-derivation, AUTH and DH speed-ups must not change.

Each fast path is compared with a slow reference written the plain way
(cryptography's HMAC, prf+ looped as RFC 7296 2.13 writes it, the public
constructors), and the errors and warnings for bad input are checked to be
the ones the public functions always gave.
"""

from __future__ import annotations

import os
import warnings

import pytest
from cryptography.hazmat.primitives import hashes, hmac

from ikelab import auth, dh, keys, prf
from ikelab.constants import EncrId, IntegId, PrfId
from ikelab.errors import (
    AuthenticationError,
    ConfigError,
    InvalidPublicValueError,
    UnknownAlgorithmError,
    WeakAlgorithmError,
    WeakAlgorithmWarning,
)
from ikelab.rand import DeterministicRandom
from reference import named_prf, prf_plus as reference_prf_plus

HMAC_PRFS = {
    PrfId.PRF_HMAC_MD5: hashes.MD5,
    PrfId.PRF_HMAC_SHA1: hashes.SHA1,
    PrfId.PRF_HMAC_SHA2_256: hashes.SHA256,
    PrfId.PRF_HMAC_SHA2_384: hashes.SHA384,
    PrfId.PRF_HMAC_SHA2_512: hashes.SHA512,
}
ALL_PRFS = list(prf._PRFS)


def _reference_hmac(hash_cls: type[hashes.HashAlgorithm], key: bytes, data: bytes) -> bytes:
    h = hmac.HMAC(key, hash_cls())
    h.update(data)
    return h.finalize()


def _reference_prf_plus(p: prf.Prf, key: bytes, seed: bytes, length: int) -> bytes:
    """RFC 7296 2.13 as written: T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n), tests/reference.py's loop.

    Each prf() is cryptography's HMAC for the HMAC PRFs (tests/reference.py's AES-XCBC/CMAC PRFs otherwise,
    which tests/test_reference.py holds to the RFC 4434 and RFC 4615 vectors).
    """
    return reference_prf_plus(key, seed, length, lambda k, data: _reference_hmac_or_prf(p, k, data))


def _prf_object(pid: PrfId) -> prf.Prf:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakAlgorithmWarning)
        return prf.get_prf(pid, allow_weak=True)


# --------------------------------------------------------------------------- one HMAC output (RFC 2104)


@pytest.mark.parametrize("pid", list(HMAC_PRFS))
@pytest.mark.parametrize("key_len", [0, 1, 16, 20, 32, 63, 64, 65, 127, 128, 129, 300])
def test_one_hmac_output_matches_cryptography(pid: PrfId, key_len: int) -> None:
    p = _prf_object(pid)
    rng = DeterministicRandom(f"hmac-{pid}-{key_len}")
    for data_len in (0, 1, 17, 64, 200, 1000):
        key, data = rng.random_bytes(key_len), rng.random_bytes(data_len)
        expected = _reference_hmac(HMAC_PRFS[pid], key, data)
        assert p._once(key, data) == expected
        assert p.prf(bytearray(key), memoryview(data)) == expected


@pytest.mark.parametrize("pid", ALL_PRFS)
def test_prf_plus_stream_matches_the_rfc_loop(pid: PrfId) -> None:
    p = _prf_object(pid)
    rng = DeterministicRandom(f"prf+-{pid}")
    for length in (0, 1, p.output_len - 1, p.output_len, p.output_len + 1, 168, p.max_prf_plus_len):
        key, seed = rng.random_bytes(32), rng.random_bytes(80)
        expected = _reference_prf_plus(p, key, seed, length)
        assert p.prf_plus(key, seed, length) == expected
        blocks = p.prf_plus_blocks(key, seed, length)
        assert b"".join(blocks)[:length] == expected
        assert all(len(b) == p.output_len for b in blocks)
        assert len(blocks) == -(-length // p.output_len)


def test_prf_plus_length_errors_unchanged() -> None:
    p = prf.get_prf("PRF_HMAC_SHA2_256")
    with pytest.raises(ConfigError, match="at most 8160 bytes"):
        p.prf_plus(b"k", b"s", 8161)
    for bad in (-1, True, 1.5, "10"):
        with pytest.raises(ConfigError) as err:
            p.prf_plus_blocks(b"k", b"s", bad)
        assert err.value.field == "length"
    with pytest.raises(ConfigError, match="key must be bytes"):
        p.prf("key", b"data")


# --------------------------------------------------------------------------- keys


def _slow_ike_sa_keys(pid: PrfId, skeyseed: bytes, ni: bytes, nr: bytes, spi_i: bytes, spi_r: bytes,
                      encr_len: int, integ_len: int) -> keys.IkeSaKeys:
    p = _prf_object(pid)
    lengths = (p.key_len, integ_len, integ_len, encr_len, encr_len, p.key_len, p.key_len)
    total = sum(lengths)
    stream = _reference_prf_plus(p, skeyseed, ni + nr + spi_i + spi_r, -(-total // p.output_len) * p.output_len)
    values, offset = [], 0
    for n in lengths:
        values.append(stream[offset : offset + n])
        offset += n
    blocks = tuple(stream[i : i + p.output_len] for i in range(0, len(stream), p.output_len))
    return keys.IkeSaKeys(*values, prf=pid, keymat=stream[:total], blocks=blocks)


@pytest.mark.parametrize("pid", [pid for pid in ALL_PRFS if pid != PrfId.PRF_HMAC_MD5])
@pytest.mark.parametrize(
    "encr,bits,integ,encr_len,integ_len",
    [
        (EncrId.ENCR_AES_GCM_16, 256, None, 36, 0),
        (EncrId.ENCR_AES_CBC, 128, IntegId.AUTH_HMAC_SHA2_256_128, 16, 32),
        (EncrId.ENCR_AES_CBC, 256, IntegId.AUTH_HMAC_SHA2_512_256, 32, 64),
        (EncrId.ENCR_CHACHA20_POLY1305, None, None, 36, 0),
    ],
)
def test_ike_and_child_keys_match_the_slow_split(pid, encr, bits, integ, encr_len, integ_len) -> None:
    rng = DeterministicRandom(f"keys-{pid}-{encr}-{bits}")
    ni, nr, g_ir = rng.random_bytes(32), rng.random_bytes(24), rng.random_bytes(256)
    spi_i, spi_r = rng.random_bytes(8), rng.random_bytes(8)
    seed = keys.skeyseed(pid, ni, nr, g_ir)
    p = prf.get_prf(pid)
    prefix = 8 if p.fixed_key else None
    assert seed == _reference_hmac_or_prf(p, ni[:prefix] + nr[:prefix], g_ir)
    for _ in range(2):  # the second call takes the memoised transform lengths
        fast = keys.ike_sa_keys(pid, seed, ni, nr, spi_i, spi_r, encr=encr, encr_key_bits=bits, integ=integ)
        slow = _slow_ike_sa_keys(pid, seed, ni, nr, spi_i, spi_r, encr_len, integ_len)
        assert fast == slow and repr(fast) == repr(slow) and fast.split() == slow.split()
        assert fast.format() == slow.format() and hash(fast.blocks) == hash(slow.blocks)
        by_len = keys.ike_sa_keys_from_lengths(pid, seed, ni, nr, spi_i, spi_r, encr_len=encr_len,
                                               integ_len=integ_len)
        assert by_len == slow
    for g in (None, g_ir):
        child = keys.child_sa_keys(pid, fast.sk_d, ni, nr, encr=encr, encr_key_bits=bits, integ=integ, g_ir=g)
        total = 2 * (encr_len + integ_len)
        stream = _reference_prf_plus(p, fast.sk_d, (g or b"") + ni + nr, total)
        a, b, c = encr_len, encr_len + integ_len, 2 * encr_len + integ_len
        blocks = tuple(_reference_prf_plus(p, fast.sk_d, (g or b"") + ni + nr, -(-total // p.output_len)
                                           * p.output_len)[i : i + p.output_len]
                       for i in range(0, -(-total // p.output_len) * p.output_len, p.output_len))
        expected = keys.ChildSaKeys(stream[:a], stream[a:b], stream[b:c], stream[c:], pid, stream, blocks, g is not None)
        assert child == expected and repr(child) == repr(expected) and child.format() == expected.format()
        assert keys.child_keymat(pid, fast.sk_d, ni, nr, total, g) == stream


def _reference_hmac_or_prf(p: prf.Prf, key: bytes, data: bytes) -> bytes:
    if p.transform_id in HMAC_PRFS:
        return _reference_hmac(HMAC_PRFS[p.transform_id], key, data)
    return named_prf(p.transform_id)(key, data)  # RFC 4434 or RFC 4615, not ikelab's


def test_rekey_skeyseed_is_the_2_18_formula() -> None:
    sk_d, g, ni, nr = os.urandom(32), os.urandom(32), os.urandom(32), os.urandom(32)
    assert keys.rekey_skeyseed("PRF_HMAC_SHA2_256", sk_d, g, ni, nr) == _reference_hmac(hashes.SHA256, sk_d, g + ni + nr)


def test_memoised_lengths_keep_weak_transforms_loud() -> None:
    args = (b"s" * 20, b"n" * 16, b"r" * 16, b"i" * 8, b"r" * 8)
    for _ in range(3):  # every call refuses or warns, not only the first
        with pytest.raises(WeakAlgorithmError):
            keys.ike_sa_keys(PrfId.PRF_HMAC_SHA1, *args, encr=EncrId.ENCR_3DES, integ=IntegId.AUTH_HMAC_SHA1_96)
        with pytest.warns(WeakAlgorithmWarning) as record:
            k = keys.ike_sa_keys(PrfId.PRF_HMAC_SHA1, *args, encr=EncrId.ENCR_3DES, integ=IntegId.AUTH_HMAC_SHA1_96,
                                 allow_weak=True)
        assert len(record) == 1 and k.lengths == (20, 20, 20, 24, 24, 20, 20)


@pytest.mark.parametrize("bits", [128.0, True, "128"])
def test_memoised_lengths_do_not_hide_bad_key_bits(bits: object) -> None:
    keys.ike_sa_keys(PrfId.PRF_HMAC_SHA2_256, b"s" * 32, b"n" * 16, b"r" * 16, b"i" * 8, b"r" * 8,
                     encr=EncrId.ENCR_AES_CBC, encr_key_bits=128, integ=IntegId.AUTH_HMAC_SHA2_256_128)
    with pytest.raises(ConfigError, match="key_bits"):
        keys.ike_sa_keys(PrfId.PRF_HMAC_SHA2_256, b"s" * 32, b"n" * 16, b"r" * 16, b"i" * 8, b"r" * 8,
                         encr=EncrId.ENCR_AES_CBC, encr_key_bits=bits, integ=IntegId.AUTH_HMAC_SHA2_256_128)


def test_memoised_lengths_still_raise_for_bad_suites() -> None:
    for _ in range(2):
        with pytest.raises(ConfigError, match="AEAD"):
            keys.child_sa_keys(PrfId.PRF_HMAC_SHA2_256, b"d" * 32, b"n", b"r", encr=EncrId.ENCR_AES_GCM_16,
                               encr_key_bits=128, integ=IntegId.AUTH_HMAC_SHA2_256_128)
        with pytest.raises(ConfigError, match="needs an integrity"):
            keys.ike_sa_keys(PrfId.PRF_HMAC_SHA2_256, b"s" * 32, b"n", b"r", b"i" * 8, b"r" * 8,
                             encr=EncrId.ENCR_AES_CBC, encr_key_bits=128)


def test_key_errors_keep_their_order() -> None:
    # unknown PRF before bad bytes; ni before nr; SPIs before nonces; skeyseed last
    with pytest.raises(UnknownAlgorithmError):
        keys.skeyseed(99, "ni", b"nr", b"g")
    with pytest.raises(ConfigError) as err:
        keys.skeyseed("PRF_HMAC_SHA2_256", "ni", 5, b"g")
    assert err.value.field == "ni"
    with pytest.raises(ConfigError) as err:
        keys.skeyseed("PRF_AES128_XCBC", b"n" * 7, b"r" * 8, b"g")
    assert err.value.field == "ni" and "64 bits" in str(err.value)
    with pytest.raises(ConfigError) as err:
        keys.ike_sa_keys_from_lengths("PRF_HMAC_SHA2_256", "seed", "ni", b"nr", b"i" * 8, b"r" * 7, encr_len=16,
                                      integ_len=16)
    assert err.value.field == "spi_r"
    with pytest.raises(ConfigError) as err:
        keys.ike_sa_keys_from_lengths("PRF_HMAC_SHA2_256", "seed", "ni", b"nr", b"i" * 8, b"r" * 8, encr_len=16,
                                      integ_len=16)
    assert err.value.field == "ni"
    with pytest.raises(ConfigError) as err:
        keys.ike_sa_keys_from_lengths("PRF_HMAC_SHA2_256", "seed", b"ni", b"nr", b"i" * 8, b"r" * 8, encr_len=16,
                                      integ_len=16)
    assert err.value.field == "skeyseed"
    with pytest.raises(ConfigError) as err:
        keys.child_sa_keys_from_lengths("PRF_HMAC_SHA2_256", b"d", b"n", b"r", encr_len=5000, integ_len=0)
    assert err.value.field == "length"


def test_weak_prf_warns_as_often_as_before() -> None:
    """skeyseed and psk_auth warn once per step (two steps), the others once."""
    md5 = PrfId.PRF_HMAC_MD5
    calls = [
        (lambda: keys.skeyseed(md5, b"n" * 16, b"r" * 16, b"g", allow_weak=True), 2),
        (lambda: keys.skeyseed_key(md5, b"n", b"r", allow_weak=True), 1),
        (lambda: keys.rekey_skeyseed(md5, b"d", b"g", b"n", b"r", allow_weak=True), 1),
        (lambda: keys.ike_sa_keys_from_lengths(md5, b"s", b"n", b"r", b"i" * 8, b"r" * 8, encr_len=16, integ_len=16,
                                               allow_weak=True), 1),
        (lambda: keys.child_sa_keys_from_lengths(md5, b"d", b"n", b"r", encr_len=16, integ_len=16,
                                                 allow_weak=True), 1),
        (lambda: keys.child_keymat(md5, b"d", b"n", b"r", 40, allow_weak=True), 1),
        (lambda: auth.signed_octets(b"m", b"n", md5, b"k", b"\x02\x00\x00\x00id", allow_weak=True), 1),
        (lambda: auth.psk_pad_key(md5, b"secret", allow_weak=True), 1),
        (lambda: auth.psk_auth(md5, b"secret", b"octets", allow_weak=True), 2),
        (lambda: auth.verify_psk(md5, b"secret", b"octets", auth.psk_auth(md5, b"secret", b"octets",
                                                                        allow_weak=True), allow_weak=True), 4),
        (lambda: prf.prf(md5, b"k", b"d", allow_weak=True), 1),
        (lambda: prf.prf_plus(md5, b"k", b"d", 40, allow_weak=True), 1),
    ]
    for call, count in calls:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            call()
        assert [type(w.message) for w in record] == [WeakAlgorithmWarning] * count
        assert all("PRF_HMAC_MD5 is weak" in str(w.message) for w in record)


# --------------------------------------------------------------------------- AUTH


def test_signed_octets_fast_object_is_the_constructed_one() -> None:
    so = auth.signed_octets(b"m" * 100, b"n" * 32, PrfId.PRF_HMAC_SHA2_256, b"k" * 32, b"\x02\x00\x00\x00moon")
    plain = auth.SignedOctets(b"m" * 100, b"n" * 32, b"\x02\x00\x00\x00moon",
                              _reference_hmac(hashes.SHA256, b"k" * 32, b"\x02\x00\x00\x00moon"))
    assert so == plain and repr(so) == repr(plain) and hash(so) == hash(plain) and so.octets == plain.octets
    with pytest.raises(AttributeError):
        so.message = b"x"  # type: ignore[misc]
    with_views = auth.signed_octets(bytearray(b"m" * 100), memoryview(b"n" * 32), "PRF_HMAC_SHA2_256",
                                    bytearray(b"k" * 32), bytearray(b"\x02\x00\x00\x00moon"))
    assert with_views == plain and type(with_views.message) is bytes and type(with_views.id_body) is bytes


@pytest.mark.parametrize("pid", [pid for pid in ALL_PRFS if pid != PrfId.PRF_HMAC_MD5])
def test_psk_auth_is_the_2_15_formula(pid: PrfId) -> None:
    p = prf.get_prf(pid)
    octets = auth.SignedOctets(b"m" * 50, b"n" * 32, b"\x02\x00\x00\x00x", b"q" * p.output_len)
    for secret in (b"one secret", "another secret", b"x" * 300):
        raw = secret.encode() if isinstance(secret, str) else secret
        expected = _reference_hmac_or_prf(p, _reference_hmac_or_prf(p, raw, auth.KEY_PAD), octets.octets)
        for _ in range(2):  # the pad key is remembered after the first call
            assert auth.psk_auth(pid, secret, octets) == expected
            assert auth.psk_pad_key(pid, secret) == _reference_hmac_or_prf(p, raw, auth.KEY_PAD)
            auth.verify_psk(pid, secret, octets, expected)
        with pytest.raises(AuthenticationError, match="does not match"):
            auth.verify_psk(pid, secret, octets, bytes(len(expected)))


def test_pad_key_memo_is_bounded() -> None:
    for i in range(100):
        auth.psk_auth(PrfId.PRF_HMAC_SHA2_256, f"secret {i}", b"octets")
    assert auth._pad_prf.cache_info().currsize <= auth._pad_prf.cache_info().maxsize <= 16


def test_psk_errors_keep_their_order() -> None:
    with pytest.raises(ConfigError) as err:  # the empty secret is found before the unknown PRF
        auth.psk_auth(99, b"", b"octets")
    assert err.value.field == "psk"
    with pytest.raises(UnknownAlgorithmError):
        auth.psk_auth(99, b"secret", "octets")
    with pytest.raises(ConfigError) as err:
        auth.psk_auth("PRF_HMAC_SHA2_256", b"secret", "octets")
    assert err.value.field == "octets"
    with pytest.raises(ConfigError) as err:
        auth.signed_octets(b"m", "nonce", 99, b"k", b"\x02\x00\x00\x00")
    assert err.value.field == "nonce"
    with pytest.raises(ConfigError) as err:
        auth.signed_octets(b"m", b"nonce", "PRF_HMAC_SHA2_256", b"k", b"\x02\x00")
    assert err.value.field == "id_body"


# --------------------------------------------------------------------------- Diffie-Hellman


def _point_with_small_x(g: dh.EcpGroup) -> tuple[int, int]:
    """A curve point whose x is small enough that x + p still fits the coordinate length."""
    assert g.p % 4 == 3
    for x in range(1, 1000):
        rhs = (x**3 - 3 * x + g.b) % g.p
        y = pow(rhs, (g.p + 1) // 4, g.p)
        if y * y % g.p == rhs:
            return x, y
    raise AssertionError("no point found")


def _error_of(fn) -> tuple[type, str]:
    with pytest.raises(InvalidPublicValueError) as err:
        fn()
    return type(err.value), str(err.value)


@pytest.mark.parametrize("name", ["ECP_256", "ECP_384", "ECP_521"])
def test_ecp_exchange_refuses_what_decode_public_refuses(name: str) -> None:
    g = dh.group(name)
    rng = DeterministicRandom(f"ecp-{name}")
    a, b = g.generate(rng), g.generate(rng)
    n = g.coord_len
    x, y = _point_with_small_x(g)
    assert g.is_on_curve(x, y)
    good = b.public_bytes()
    bad_values = [
        bytes(2 * n),  # all zero: "infinity"
        good[:-1] + bytes([good[-1] ^ 1]),  # off the curve
        (x + g.p).to_bytes(n, "big") + y.to_bytes(n, "big"),  # x >= p, yet on the curve mod p
        good[:-1],  # short
        good + b"\x00",  # long
        b"",
    ]
    for data in bad_values:
        assert _error_of(lambda: a.exchange(data)) == _error_of(lambda: g.decode_public(data))
    assert _error_of(lambda: a.exchange("not bytes")) == _error_of(lambda: g.decode_public("not bytes"))
    small = x.to_bytes(n, "big") + y.to_bytes(n, "big")
    assert a.exchange(small) == a.exchange(bytearray(small)) == a.exchange(memoryview(small))


@pytest.mark.parametrize("name", ["ECP_256", "ECP_384", "ECP_521"])
def test_ecp_public_bytes_and_secret_unchanged(name: str) -> None:
    g = dh.group(name)
    rng = DeterministicRandom(f"ecp-pub-{name}")
    a, b = g.generate(rng), g.generate(rng)
    for key in (a, b):
        numbers = key.key.public_key().public_numbers()
        assert key.public_bytes() == numbers.x.to_bytes(g.coord_len, "big") + numbers.y.to_bytes(g.coord_len, "big")
        assert key.public_point == (numbers.x, numbers.y)
    from cryptography.hazmat.primitives.asymmetric import ec

    peer = ec.EllipticCurvePublicKey.from_encoded_point(g.curve(), b"\x04" + b.public_bytes())
    expected = a.key.exchange(ec.ECDH(), peer).rjust(g.coord_len, b"\x00")
    assert a.exchange(b.public_bytes()) == expected == b.exchange(a.public_bytes())


@pytest.mark.parametrize("name", ["CURVE25519", "CURVE448"])
def test_montgomery_exchange_checks_unchanged(name: str) -> None:
    g = dh.group(name)
    rng = DeterministicRandom(f"x-{name}")
    a, b = g.generate(rng), g.generate(rng)
    good = b.public_bytes()
    assert a.exchange(good) == a.exchange(bytearray(good)) == b.exchange(a.public_bytes())
    for data in (good[:-1], good + b"\x00", b"", "text", bytes(g.key_len)):
        with pytest.raises(InvalidPublicValueError) as err:
            a.exchange(data)
        if isinstance(data, bytes) and len(data) == g.key_len:
            assert "low-order point" in str(err.value)
        elif isinstance(data, bytes):
            assert f"expected {g.key_len}" in str(err.value)
    with pytest.raises(ConfigError):
        g.from_private_value(b"short")
    assert g.from_private_value(bytearray(a.private)).public_bytes() == a.public_bytes()


def test_skeyseed_with_a_weak_prf_honours_allow_weak() -> None:
    """It used to refuse in its second step (skeyseed_key was called without allow_weak)."""
    with pytest.raises(WeakAlgorithmError):
        keys.skeyseed(PrfId.PRF_HMAC_MD5, b"n" * 16, b"r" * 16, b"g")
    with pytest.warns(WeakAlgorithmWarning):
        seed = keys.skeyseed(PrfId.PRF_HMAC_MD5, b"n" * 16, b"r" * 16, b"g", allow_weak=True)
    assert seed == _reference_hmac(hashes.MD5, b"n" * 16 + b"r" * 16, b"g")
