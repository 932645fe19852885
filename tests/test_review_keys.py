"""Review of the key schedule (ikelab.keys, ikelab.schedule) against RFC 7296 2.13, 2.14, 2.17 and 2.18.

Every expected value is computed independently of ikelab, with tests/reference.py: HMAC with :mod:`hmac`,
AES-CMAC with cryptography's CMAC, AES-XCBC-MAC written out from RFC 3566 on AES-ECB, the PRF key rules of
RFC 4434 2 and RFC 4615 3, and prf+ written out from RFC 7296 2.13.  The RFC 4434 and RFC 4615 test vectors
pin the AES-based PRFs when they key SKEYSEED (the first 64 bits of each nonce, RFC 7296 2.14) and the rekeyed
SKEYSEED (SK_d (old), 2.18).
"""

from __future__ import annotations

import warnings

import pytest

from ikelab import keys
from ikelab.constants import EncrId, IntegId, PrfId
from ikelab.errors import ConfigError, IkelabError, WeakAlgorithmError, WeakAlgorithmWarning
from ikelab.schedule import worked_schedule
from reference import aes_cmac_prf_128, aes_xcbc_prf_128, named_prf, prf_plus as reference_prf_plus

# --- the PRFs, from tests/reference.py ----------------------------------------------------------------------

#: output length = preferred key size (RFC 7296 2.13; RFC 4434 2 and RFC 4615 3: 128 bits)
OUT = {"PRF_HMAC_SHA1": 20, "PRF_HMAC_SHA2_256": 32, "PRF_HMAC_SHA2_384": 48, "PRF_HMAC_SHA2_512": 64,
       "PRF_AES128_XCBC": 16, "PRF_AES128_CMAC": 16}
PRFS = tuple(OUT)


# AES-XCBC-PRF-128 (RFC 4434 2, over RFC 3566 written out on AES-ECB) and AES-CMAC-PRF-128 (RFC 4615 3)
_xcbc_prf, _cmac_prf = aes_xcbc_prf_128, aes_cmac_prf_128


def prf(alg: str, key: bytes, data: bytes) -> bytes:
    return named_prf(alg)(key, data)


def prf_blocks(alg: str, key: bytes, seed: bytes, n: int) -> list[bytes]:
    """RFC 7296 2.13: T1 = prf (K, S | 0x01), Tn = prf (K, Tn-1 | S | n), as many as n bytes need."""
    size = OUT[alg]
    count = -(-n // size)
    assert count <= 255
    stream = reference_prf_plus(key, seed, count * size, named_prf(alg))
    return [stream[i:i + size] for i in range(0, len(stream), size)]


def prf_plus(alg: str, key: bytes, seed: bytes, n: int) -> bytes:
    return reference_prf_plus(key, seed, n, named_prf(alg))


def skeyseed(alg: str, ni: bytes, nr: bytes, g_ir: bytes) -> bytes:
    """RFC 7296 2.14, with the first 64 bits of each nonce for the AES-based PRFs."""
    key = ni[:8] + nr[:8] if alg in ("PRF_AES128_XCBC", "PRF_AES128_CMAC") else ni + nr
    return prf(alg, key, g_ir)


NI = bytes(range(0x10, 0x30))
NR = bytes(range(0x80, 0xA0))
SPI_I, SPI_R = bytes.fromhex("0102030405060708"), bytes.fromhex("a1a2a3a4a5a6a7a8")
G_IR = bytes(range(200, 256)) * 3
H = bytes.fromhex
AEAD = dict(encr="ENCR_AES_GCM_16", encr_key_bits=128)


def test_the_written_out_prfs_meet_their_rfc_vectors() -> None:
    """RFC 4434 4 and RFC 4615 4 (keys of 16, 10 and 18 bytes; 20-byte message), so what follows rests on them."""
    msg = bytes(range(20))
    for key, xcbc, cm in (
        (bytes(range(16)), "47f51b4564966215b8985c63055ed308", "980ae87b5f4c9c5214f5b6a8455e4c2d"),
        (bytes(range(10)), "0fa087af7d866e7653434e602fdde835", "290d9e112edb09ee141fcf64c0b72f3d"),
        (bytes(range(16)) + H("edcb"), "8cd3c93ae598a9803006ffb67c40e9e4", "84a348a4a45d235babfffc0d2b4da09a"),
    ):
        assert _xcbc_prf(key, msg).hex() == xcbc and _cmac_prf(key, msg).hex() == cm


# --- SKEYSEED (2.14) and the rekeyed SKEYSEED (2.18) -------------------------------------------------------


@pytest.mark.parametrize("alg, expected", [("PRF_AES128_XCBC", "47f51b4564966215b8985c63055ed308"),
                                           ("PRF_AES128_CMAC", "980ae87b5f4c9c5214f5b6a8455e4c2d")])
def test_skeyseed_keys_the_aes_prfs_with_the_first_64_bits_of_each_nonce(alg: str, expected: str) -> None:
    """RFC 7296 2.14 with the RFC 4434 / RFC 4615 vector: key 00..0f = Ni[:8] | Nr[:8], g^ir = 00..13."""
    ni, nr = bytes(range(8)) + b"\xff" * 24, bytes(range(8, 16)) + b"\xee" * 8
    assert keys.skeyseed(alg, ni, nr, bytes(range(20))).hex() == expected
    assert keys.skeyseed_key(alg, ni, nr) == bytes(range(16))


@pytest.mark.parametrize("alg", PRFS)
def test_skeyseed_is_prf_of_the_nonces_over_g_ir(alg: str) -> None:
    assert keys.skeyseed(alg, NI, NR, G_IR) == skeyseed(alg, NI, NR, G_IR)
    assert keys.skeyseed(alg, bytearray(NI), memoryview(NR), bytearray(G_IR)) == skeyseed(alg, NI, NR, G_IR)


@pytest.mark.parametrize("alg, key, expected", [
    ("PRF_AES128_XCBC", bytes(range(10)), "0fa087af7d866e7653434e602fdde835"),
    ("PRF_AES128_XCBC", bytes(range(16)) + H("edcb"), "8cd3c93ae598a9803006ffb67c40e9e4"),
    ("PRF_AES128_CMAC", bytes(range(10)), "290d9e112edb09ee141fcf64c0b72f3d"),
    ("PRF_AES128_CMAC", bytes(range(16)) + H("edcb"), "84a348a4a45d235babfffc0d2b4da09a"),
])
def test_rekey_skeyseed_is_prf_of_old_sk_d_over_g_ir_then_nonces(alg: str, key: bytes, expected: str) -> None:
    """RFC 7296 2.18: prf(SK_d (old), g^ir (new) | Ni | Nr); the RFC vectors' message 00..13 cut in three, and
    the whole nonces are used (no 64-bit rule: the key is SK_d)."""
    msg = bytes(range(20))
    assert keys.rekey_skeyseed(alg, key, msg[:4], msg[4:12], msg[12:]).hex() == expected


@pytest.mark.parametrize("alg", PRFS)
def test_ike_sa_rekey_end_to_end(alg: str) -> None:
    """The old SA's SK_d keys the new SKEYSEED; the new SK_* take the new nonces and the *new* SPIs (2.18)."""
    old = keys.ike_sa_keys(alg, skeyseed(alg, NI, NR, G_IR), NI, NR, SPI_I, SPI_R, encr="ENCR_AES_GCM_16",
                           encr_key_bits=256)
    g_new, ni2, nr2 = b"\x42" * 56, b"\x07" * 32, b"\x09" * 24
    spi_i2, spi_r2 = b"\x11" * 8, b"\x22" * 8
    seed = keys.rekey_skeyseed(alg, old.sk_d, g_new, ni2, nr2)
    assert seed == prf(alg, old.sk_d, g_new + ni2 + nr2)
    new = keys.ike_sa_keys(alg, seed, ni2, nr2, spi_i2, spi_r2, encr="ENCR_AES_GCM_16", encr_key_bits=256)
    k = OUT[alg]
    assert new.keymat == prf_plus(alg, seed, ni2 + nr2 + spi_i2 + spi_r2, 3 * k + 2 * 36)
    assert new.sk_d != old.sk_d


@pytest.mark.parametrize("old_alg, new_alg", [("PRF_HMAC_SHA2_512", "PRF_AES128_XCBC"),
                                               ("PRF_AES128_CMAC", "PRF_HMAC_SHA2_384"),
                                               ("PRF_HMAC_SHA1", "PRF_AES128_CMAC")])
def test_a_rekey_to_another_prf_seeds_with_the_old_one(old_alg: str, new_alg: str) -> None:
    """RFC 7296 2.18: SKEYSEED with the old SA's PRF (its SK_d as key, whatever its length), SK_* with the new."""
    old_sk_d = prf(old_alg, b"old", b"sk_d")
    ni2, nr2, g_new = b"\x31" * 16, b"\x32" * 40, b"\x33" * 32
    seed = keys.rekey_skeyseed(old_alg, old_sk_d, g_new, ni2, nr2)
    assert seed == prf(old_alg, old_sk_d, g_new + ni2 + nr2) and len(seed) == OUT[old_alg]
    new = keys.ike_sa_keys(new_alg, seed, ni2, nr2, SPI_R, SPI_I, encr="ENCR_AES_CBC", encr_key_bits=256,
                           integ="AUTH_HMAC_SHA2_256_128")
    k = OUT[new_alg]
    assert new.keymat == prf_plus(new_alg, seed, ni2 + nr2 + SPI_R + SPI_I, 3 * k + 2 * 32 + 2 * 32)
    assert new.lengths == (k, 32, 32, 32, 32, k, k)


# --- SK_d .. SK_pr (2.14) ---------------------------------------------------------------------------------

#: (encr, key bits, integ, bytes of SK_ei, bytes of SK_ai): salts in SK_e (RFC 5930, 5282 7.1, 7634 2), no SK_a
#: with an AEAD (RFC 5282 7.1), integrity keys of RFC 2404, 4868, 3566 and 4494
SUITES = [
    ("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128", 16, 32),
    ("ENCR_AES_CBC", 256, "AUTH_HMAC_SHA2_512_256", 32, 64),
    ("ENCR_AES_CBC", 192, "AUTH_HMAC_SHA2_384_192", 24, 48),
    ("ENCR_AES_CTR", 192, "AUTH_HMAC_SHA1_96", 28, 20),
    ("ENCR_AES_CTR", 128, "AUTH_AES_XCBC_96", 20, 16),
    ("ENCR_AES_CBC", 128, "AUTH_AES_CMAC_96", 16, 16),
    ("ENCR_AES_GCM_16", 256, None, 36, 0),
    ("ENCR_AES_GCM_8", 128, "NONE", 20, 0),
    ("ENCR_AES_CCM_12", 192, None, 27, 0),
    ("ENCR_AES_CCM_16", 128, None, 19, 0),
    ("ENCR_CHACHA20_POLY1305", None, None, 36, 0),
]


def _as_given(alg: str, form: int) -> object:
    """The PRF as a name, a number or an enum member: the memo of transform lengths must not mix them up."""
    return (alg, int(PrfId[alg]), PrfId[alg])[form % 3]


@pytest.mark.parametrize("alg", PRFS)
@pytest.mark.parametrize("encr, bits, integ, e_len, a_len", SUITES)
def test_ike_sa_keys_split_in_rfc_order_with_rfc_lengths(alg: str, encr: str, bits: int | None,
                                                          integ: str | None, e_len: int, a_len: int) -> None:
    k = OUT[alg]
    sk = skeyseed(alg, NI, NR, G_IR)
    sizes = (k, a_len, a_len, e_len, e_len, k, k)
    stream = prf_plus(alg, sk, NI + NR + SPI_I + SPI_R, sum(sizes))
    for form, (e, i) in enumerate(((encr, integ), (EncrId[encr], None if integ is None else IntegId[integ]))):
        got = keys.ike_sa_keys(_as_given(alg, form), sk, NI, NR, SPI_I, SPI_R, encr=e, encr_key_bits=bits, integ=i)
        assert got.lengths == sizes and got.total_len == sum(sizes)
        offsets, values = [0], []
        for size in sizes:
            values.append(stream[offsets[-1]:offsets[-1] + size])
            offsets.append(offsets[-1] + size)
        assert [p.value for p in got.split()] == values
        assert [p.offset for p in got.split()] == offsets[:-1]
        assert [p.name for p in got.split()] == ["SK_d", "SK_ai", "SK_ar", "SK_ei", "SK_er", "SK_pi", "SK_pr"]
        assert list(got.as_dict().values()) == values and list(got.as_dict()) == list(keys.IkeSaKeys.NAMES)
        assert (got.sk_d, got.sk_ai, got.sk_ar, got.sk_ei, got.sk_er, got.sk_pi, got.sk_pr) == tuple(values)
        assert got.keymat == stream and got.prf is PrfId[alg]
        assert got.blocks == tuple(prf_blocks(alg, sk, NI + NR + SPI_I + SPI_R, sum(sizes)))
        same = keys.ike_sa_keys_from_lengths(alg, sk, NI, NR, SPI_I, SPI_R, encr_len=e_len, integ_len=a_len)
        assert same == got


@pytest.mark.parametrize("alg", PRFS)
def test_blocks_are_whole_prf_outputs_covering_the_keys(alg: str) -> None:
    """``blocks`` holds T1..Tn even when the keys end inside Tn; ``keymat`` is cut to the keys."""
    k = OUT[alg]
    sk = bytes(k)
    for encr_len in (0, 1, 7, 16, 33):
        got = keys.ike_sa_keys_from_lengths(alg, sk, NI, NR, SPI_I, SPI_R, encr_len=encr_len, integ_len=3)
        total = 3 * k + 6 + 2 * encr_len
        blocks = prf_blocks(alg, sk, NI + NR + SPI_I + SPI_R, total)
        assert got.blocks == tuple(blocks) and all(len(b) == k for b in got.blocks)
        assert got.keymat == b"".join(blocks)[:total] and got.total_len == total


@pytest.mark.parametrize("alg", ["PRF_AES128_XCBC", "PRF_AES128_CMAC"])
def test_nonces_of_exactly_64_bits_key_the_aes_prfs(alg: str) -> None:
    ni, nr = bytes(range(8)), bytes(range(8, 16))
    assert keys.skeyseed(alg, ni, nr, bytes(range(20))) == prf(alg, bytes(range(16)), bytes(range(20)))


def test_byte_like_arguments_give_the_same_keys_and_others_are_named() -> None:
    alg, sk = "PRF_HMAC_SHA2_256", b"s" * 32
    want = keys.ike_sa_keys(alg, sk, NI, NR, SPI_I, SPI_R, **AEAD)
    assert keys.ike_sa_keys(alg, bytearray(sk), memoryview(NI), bytearray(NR), SPI_I, bytearray(SPI_R),
                            **AEAD) == want
    with pytest.raises(ConfigError) as e:
        keys.ike_sa_keys(alg, sk, NI, NR, SPI_I, "12345678", **AEAD)
    assert e.value.field == "spi_r"
    child = keys.child_sa_keys(alg, sk, NI, NR, g_ir=G_IR, **AEAD)
    assert keys.child_sa_keys(alg, bytearray(sk), bytearray(NI), memoryview(NR), g_ir=bytearray(G_IR),
                              **AEAD) == child
    assert keys.child_keymat(alg, memoryview(sk), bytearray(NI), NR, 40, bytearray(G_IR)) == child.keymat
    assert child.keymat == prf_plus(alg, sk, G_IR + NI + NR, 40)


def test_ike_sa_keys_take_the_spis_in_order() -> None:
    alg = "PRF_HMAC_SHA2_256"
    got = keys.ike_sa_keys(alg, b"s" * 32, NI, NR, SPI_I, SPI_R, encr="ENCR_AES_CBC", encr_key_bits=128,
                           integ="AUTH_HMAC_SHA2_256_128")
    assert got.sk_d == prf_plus(alg, b"s" * 32, NI + NR + SPI_I + SPI_R, 32)
    assert got.sk_d != prf_plus(alg, b"s" * 32, NI + NR + SPI_R + SPI_I, 32)


# --- CHILD SA KEYMAT (2.17) -------------------------------------------------------------------------------

CHILD_SUITES = [
    ("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128", 16, 32),
    ("ENCR_AES_GCM_16", 256, None, 36, 0),
    ("ENCR_AES_CCM_8", 128, "NONE", 19, 0),
    ("ENCR_AES_CTR", 256, "AUTH_AES_XCBC_96", 36, 16),
    ("ENCR_CHACHA20_POLY1305", None, None, 36, 0),
    ("ENCR_NULL", None, "AUTH_HMAC_SHA2_384_192", 0, 48),
    (None, None, "AUTH_AES_CMAC_96", 0, 16),  # AH
    ("ENCR_AES_CBC", 192, None, 24, 0),  # ESP without integrity: a CHILD SA may have it
]


@pytest.mark.parametrize("alg", PRFS)
@pytest.mark.parametrize("pfs", [False, True])
@pytest.mark.parametrize("encr, bits, integ, e_len, a_len", CHILD_SUITES)
def test_child_keymat_splits_encr_i_integ_i_encr_r_integ_r(alg: str, pfs: bool, encr: str | None,
                                                            bits: int | None, integ: str | None, e_len: int,
                                                            a_len: int) -> None:
    sk_d = prf(alg, b"d", b"sk_d")[:OUT[alg]]
    g = G_IR if pfs else None
    seed = (G_IR if pfs else b"") + NI + NR  # RFC 7296 2.17: g^ir (new) | Ni | Nr
    total = 2 * (e_len + a_len)
    stream = prf_plus(alg, sk_d, seed, total)
    got = keys.child_sa_keys(alg, sk_d, NI, NR, encr=encr, encr_key_bits=bits, integ=integ, g_ir=g)
    a, b, c = e_len, e_len + a_len, 2 * e_len + a_len
    assert (got.encr_i, got.integ_i, got.encr_r, got.integ_r) == (stream[:a], stream[a:b], stream[b:c], stream[c:])
    assert [p.offset for p in got.split()] == [0, a, b, c]
    assert [p.name for p in got.split()] == ["encr_i", "integ_i", "encr_r", "integ_r"]
    assert list(got.as_dict()) == list(keys.ChildSaKeys.NAMES)
    assert got.keymat == stream and got.total_len == total and got.pfs is pfs and got.prf is PrfId[alg]
    assert got.blocks == tuple(prf_blocks(alg, sk_d, seed, total))
    assert keys.child_keymat(alg, sk_d, NI, NR, total, g) == stream
    assert keys.child_sa_keymat is keys.child_keymat
    assert keys.child_sa_keys_from_lengths(alg, sk_d, NI, NR, encr_len=e_len, integ_len=a_len, g_ir=g) == got
    assert ("g^ir (new) | Ni | Nr" in got.format()) is pfs and "(SK_d, " in got.format()


@pytest.mark.parametrize("alg", PRFS)
def test_child_keymat_any_length_is_a_prefix_of_prf_plus(alg: str) -> None:
    sk_d = b"\x5a" * OUT[alg]
    full = prf_plus(alg, sk_d, NI + NR, 3 * OUT[alg] + 5)
    for n in (0, 1, OUT[alg] - 1, OUT[alg], OUT[alg] + 1, 3 * OUT[alg] + 5):
        assert keys.child_keymat(alg, sk_d, NI, NR, n) == full[:n]


# --- prf+ ends at 255 blocks (2.13) -----------------------------------------------------------------------


@pytest.mark.parametrize("alg", PRFS)
def test_prf_plus_refuses_a_256th_block_everywhere_it_is_used(alg: str) -> None:
    out, sk = OUT[alg], b"\x01" * OUT[alg]
    most = keys.child_keymat(alg, sk, NI, NR, 255 * out)
    assert most[-out:] == prf_blocks(alg, sk, NI + NR, 255 * out)[-1]
    calls = [
        lambda: keys.child_keymat(alg, sk, NI, NR, 255 * out + 1),
        lambda: keys.child_sa_keys_from_lengths(alg, sk, NI, NR, encr_len=255 * out // 2 + 1, integ_len=0),
        lambda: keys.ike_sa_keys_from_lengths(alg, sk, NI, NR, SPI_I, SPI_R, encr_len=0,
                                              integ_len=(252 * out) // 2 + 1),
    ]
    for call in calls:
        with pytest.raises(ConfigError, match=r"255 blocks.*RFC 7296 2\.13") as e:
            call()
        assert e.value.field == "length"
    # exactly 255 blocks of keys is still fine
    got = keys.ike_sa_keys_from_lengths(alg, sk, NI, NR, SPI_I, SPI_R, encr_len=0, integ_len=(252 * out) // 2)
    assert len(got.blocks) == 255 and got.blocks[-1] == prf_blocks(alg, sk, NI + NR + SPI_I + SPI_R, 255 * out)[-1]


# --- transform lengths and their memo ---------------------------------------------------------------------


def test_ike_sa_keys_refuse_encr_null() -> None:
    """RFC 7296 3.3.2: IKE always encrypts; ENCR_NULL derived empty SK_ei/SK_er silently before."""
    for encr in ("ENCR_NULL", EncrId.ENCR_NULL, int(EncrId.ENCR_NULL)):
        with pytest.raises(ConfigError, match=r"not allowed for IKE.*3\.3\.2") as e:
            keys.ike_sa_keys("PRF_HMAC_SHA2_256", b"s" * 32, NI, NR, SPI_I, SPI_R, encr=encr,
                             integ=IntegId.AUTH_HMAC_SHA2_256_128)
        assert e.value.field == "encr" and e.value.value == encr
    child = keys.child_sa_keys("PRF_HMAC_SHA2_256", b"d" * 32, NI, NR, encr=EncrId.ENCR_NULL,
                               integ=IntegId.AUTH_HMAC_SHA2_256_128)
    assert (len(child.encr_i), len(child.integ_i)) == (0, 32)


def test_the_lengths_memo_keeps_ike_and_child_rules_apart() -> None:
    """A CHILD SA may run AES-CBC without integrity; an IKE SA may not, whichever was asked first."""
    args = dict(encr=EncrId.ENCR_AES_CBC, encr_key_bits=128, integ=None)
    for _ in range(2):
        assert keys.child_sa_keys("PRF_HMAC_SHA2_256", b"d" * 32, NI, NR, **args).total_len == 32
        with pytest.raises(ConfigError) as e:
            keys.ike_sa_keys("PRF_HMAC_SHA2_256", b"s" * 32, NI, NR, SPI_I, SPI_R, **args)
        assert e.value.field == "integ"
    # the memo keys on the key length too
    lens = [keys.child_sa_keys("PRF_HMAC_SHA2_256", b"d" * 32, NI, NR, encr=EncrId.ENCR_AES_GCM_16,
                               encr_key_bits=b).total_len for b in (128, 192, 256, 128)]
    assert lens == [40, 56, 72, 40]


def test_weak_transforms_warn_on_every_call() -> None:
    for _ in range(2):
        with pytest.raises(WeakAlgorithmError):
            keys.ike_sa_keys("PRF_HMAC_SHA2_256", b"s" * 32, NI, NR, SPI_I, SPI_R, encr=EncrId.ENCR_3DES,
                             integ=IntegId.AUTH_HMAC_SHA1_96)
        with pytest.warns(WeakAlgorithmWarning):
            got = keys.ike_sa_keys("PRF_HMAC_SHA2_256", b"s" * 32, NI, NR, SPI_I, SPI_R, encr=EncrId.ENCR_3DES,
                                   integ=IntegId.AUTH_HMAC_SHA1_96, allow_weak=True)
        assert got.lengths == (32, 20, 20, 24, 24, 32, 32)
        with pytest.warns(WeakAlgorithmWarning):
            got = keys.child_sa_keys("PRF_HMAC_SHA2_256", b"d" * 32, NI, NR, encr=EncrId.ENCR_AES_CBC,
                                     encr_key_bits=128, integ=IntegId.AUTH_HMAC_MD5_96, allow_weak=True)
        assert got.total_len == 64


# --- typed errors naming the field ------------------------------------------------------------------------

P = "PRF_HMAC_SHA2_256"


@pytest.mark.parametrize("call, field", [
    (lambda: keys.skeyseed(P, None, NR, G_IR), "ni"),
    (lambda: keys.skeyseed(P, NI, "nr", G_IR), "nr"),
    (lambda: keys.skeyseed(P, NI, NR, None), "g_ir"),
    (lambda: keys.skeyseed("PRF_AES128_CMAC", b"1234567", NR, G_IR), "ni"),
    (lambda: keys.skeyseed("PRF_AES128_XCBC", NI, b"1234567", G_IR), "nr"),
    (lambda: keys.skeyseed_key("PRF_AES128_XCBC", NI, 5), "nr"),
    (lambda: keys.rekey_skeyseed(P, None, G_IR, NI, NR), "sk_d_old"),
    (lambda: keys.rekey_skeyseed(P, b"d", 3, NI, NR), "g_ir_new"),
    (lambda: keys.rekey_skeyseed(P, b"d", G_IR, NI, [1]), "nr"),
    (lambda: keys.ike_sa_keys(P, None, NI, NR, SPI_I, SPI_R, **AEAD), "skeyseed"),
    (lambda: keys.ike_sa_keys(P, b"s", NI, None, SPI_I, SPI_R, **AEAD), "nr"),
    (lambda: keys.ike_sa_keys(P, b"s", NI, NR, "spi", SPI_R, **AEAD), "spi_i"),
    (lambda: keys.ike_sa_keys(P, b"s", NI, NR, SPI_I, SPI_R + b"\x00", **AEAD), "spi_r"),
    (lambda: keys.ike_sa_keys(P, b"s", NI, NR, SPI_I[:7], SPI_R, **AEAD), "spi_i"),
    (lambda: keys.ike_sa_keys(P, b"s", NI, NR, SPI_I, SPI_R, encr=None), "encr"),
    (lambda: keys.ike_sa_keys(P, b"s", NI, NR, SPI_I, SPI_R, encr="ENCR_AES_CBC", encr_key_bits=100), "key_bits"),
    (lambda: keys.ike_sa_keys(P, b"s", NI, NR, SPI_I, SPI_R, integ="AUTH_HMAC_SHA1_96", **AEAD), "integ"),
    (lambda: keys.ike_sa_keys_from_lengths(P, b"s", NI, NR, SPI_I, SPI_R, encr_len=1.0, integ_len=0), "encr_len"),
    (lambda: keys.ike_sa_keys_from_lengths(P, b"s", NI, NR, SPI_I, SPI_R, encr_len=1, integ_len=True),
     "integ_len"),
    (lambda: keys.child_keymat(P, "sk_d", NI, NR, 10), "sk_d"),
    (lambda: keys.child_keymat(P, b"d", NI, NR, 10, g_ir=5), "g_ir"),
    (lambda: keys.child_keymat(P, b"d", NI, NR, "10"), "length"),
    (lambda: keys.child_keymat(P, b"d", None, NR, 10), "ni"),
    (lambda: keys.child_sa_keys(P, None, NI, NR, **AEAD), "sk_d"),
    (lambda: keys.child_sa_keys(P, b"d", NI, NR, g_ir="g", **AEAD), "g_ir"),
    (lambda: keys.child_sa_keys(P, b"d", NI, NR, encr=None), "encr"),
    (lambda: keys.child_sa_keys(P, b"d", NI, NR, encr=None, integ="NONE"), "encr"),
    (lambda: keys.child_sa_keys_from_lengths(P, b"d", NI, NR, encr_len=-1, integ_len=0), "encr_len"),
])
def test_bad_input_raises_a_config_error_naming_the_field(call: object, field: str) -> None:
    with pytest.raises(ConfigError) as e:
        call()  # type: ignore[operator]
    assert e.value.field == field


# --- the worked schedule behind `ikelab derive` -----------------------------------------------------------


@pytest.mark.parametrize("alg", PRFS)
def test_the_worked_schedule_follows_the_rfc_for_every_prf(alg: str) -> None:
    s = worked_schedule(group="CURVE25519", prf_alg=alg, encr="ENCR_AES_CTR", key_bits=256,
                        integ="AUTH_AES_CMAC_96", seed="review")
    ni, nr, spi_i, spi_r, k = s["Ni"], s["Nr"], s["SPIi"], s["SPIr"], OUT[alg]
    sk = skeyseed(alg, ni, nr, s["g^ir"])
    assert s["SKEYSEED"] == sk
    sizes = (k, 16, 16, 36, 36, k, k)
    seed = ni + nr + spi_i + spi_r
    blocks = prf_blocks(alg, sk, seed, sum(sizes))
    t_steps = [st for st in s.steps if st.name[0] == "T" and st.name[1:].isdigit()]
    assert [st.value for st in t_steps] == blocks
    assert t_steps[0].formula.startswith("prf(SKEYSEED, S | 0x01)")
    assert all(st.formula.startswith(f"prf(SKEYSEED, T{i} | S | 0x{i + 1:02x})") for i, st in enumerate(t_steps[1:], 1))
    stream, off = b"".join(blocks), 0
    for name, size in zip(("SK_d", "SK_ai", "SK_ar", "SK_ei", "SK_er", "SK_pi", "SK_pr"), sizes):
        assert s[name] == stream[off:off + size]
        step = next(st for st in s.steps if st.name == name)
        assert f"octets {off}..{off + size - 1}" in step.formula
        off += size
    sk_e = next(st for st in s.steps if st.name == "SK_ei")
    assert "32-byte key, then a 4-byte salt" in sk_e.formula
    keymat = prf_plus(alg, s["SK_d"], ni + nr, 2 * (36 + 16))
    assert s["KEYMAT (first CHILD SA)"] == keymat
    assert [s[f"ESP {n}"] for n in ("encr_i", "integ_i", "encr_r", "integ_r")] == [
        keymat[:36], keymat[36:52], keymat[52:88], keymat[88:]]
    ni2, nr2 = s["Ni'"], s["Nr'"]
    assert s["KEYMAT (rekey, no PFS)"] == prf_plus(alg, s["SK_d"], ni2 + nr2, 104)
    assert s["KEYMAT (rekey, PFS)"] == prf_plus(alg, s["SK_d"], s["g^ir (new)"] + ni2 + nr2, 104)
    assert (s.prf, s.encr, s.key_bits, s.integ) == (PrfId[alg], EncrId.ENCR_AES_CTR, 256, IntegId.AUTH_AES_CMAC_96)
    head = s.format().splitlines()[0]
    assert "ENCR_AES_CTR-256" in head and alg in head and "AUTH_AES_CMAC_96" in head and "seed review" in head


def test_an_aead_schedule_says_so() -> None:
    s = worked_schedule(group="CURVE25519", encr="ENCR_CHACHA20_POLY1305", key_bits=None, integ="NONE")
    assert s.integ is None and s.key_bits is None and s["SK_ai"] == b"" and len(s["SK_ei"]) == 36
    assert "(AEAD: none)" in s.format() and "ENCR_CHACHA20_POLY1305, (AEAD" in s.format()
    sk_a = next(st for st in s.steps if st.name == "SK_ar")
    assert sk_a.formula.startswith("none")


@pytest.mark.parametrize("kw, need", [
    (dict(nonce_len=15), 16), (dict(nonce_len=0), 16), (dict(nonce_len=-1), 16), (dict(nonce_len=257), 16),
    (dict(prf_alg="PRF_AES128_XCBC", nonce_len=4), 16), (dict(prf_alg="PRF_HMAC_SHA2_384", nonce_len=23), 24),
    (dict(prf_alg="PRF_HMAC_SHA2_512", nonce_len=31), 32),
])
def test_the_schedule_takes_only_nonce_sizes_the_rfc_allows(kw: dict, need: int) -> None:
    """RFC 7296 2.10: at least 128 bits and half the PRF key size; 3.9: at most 256 octets."""
    with pytest.raises(ConfigError, match=f"{need}..256") as e:
        worked_schedule(group="CURVE25519", **kw)
    assert e.value.field == "nonce_len"


@pytest.mark.parametrize("n", [None, "32", 32.0, True])
def test_the_schedule_names_a_nonce_len_that_is_not_an_int(n: object) -> None:
    with pytest.raises(ConfigError, match="nonce_len must be an int") as e:
        worked_schedule(group="CURVE25519", nonce_len=n)  # type: ignore[arg-type]
    assert e.value.field == "nonce_len"


def test_the_schedule_takes_the_nonce_size_limits() -> None:
    for alg, n in (("PRF_HMAC_SHA2_256", 16), ("PRF_HMAC_SHA2_512", 32), ("PRF_AES128_CMAC", 256)):
        s = worked_schedule(group="CURVE25519", prf_alg=alg, nonce_len=n)
        assert len(s["Ni"]) == len(s["Nr'"]) == n
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.warns(WeakAlgorithmWarning):
            worked_schedule(group="CURVE25519", prf_alg="PRF_HMAC_MD5", nonce_len=16, allow_weak=True)
    with pytest.raises(WeakAlgorithmError):
        worked_schedule(group="CURVE25519", prf_alg="PRF_HMAC_MD5")


def test_the_schedule_refuses_encr_null_and_names_bad_steps() -> None:
    with pytest.raises(ConfigError) as e:
        worked_schedule(group="CURVE25519", encr="ENCR_NULL", key_bits=None)
    assert e.value.field == "encr" and e.value.value == "ENCR_NULL"  # the value the caller gave
    with pytest.raises(ConfigError) as e:
        worked_schedule(group="CURVE25519")["SK_x"]
    assert e.value.field == "name" and "SK_pr" in str(e.value)
    with pytest.raises(IkelabError):
        worked_schedule(group="CURVE25519", prf_alg="PRF_HMAC_TIGER")


def test_an_empty_g_ir_is_not_pfs():
    """RFC 7296 2.17: with PFS, KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr), g^ir the CREATE_CHILD_SA's own shared
    secret, never empty.  ``g_ir=b""`` used to give the KEYMAT without PFS while reporting ``pfs=True`` and the
    PFS label; it is refused, naming g_ir, and None still means no PFS."""
    sk_d, ni, nr = bytes(range(32)), b"\x01" * 32, b"\x02" * 32
    for call in (lambda g: keys.child_sa_keys("PRF_HMAC_SHA2_256", sk_d, ni, nr, encr="ENCR_AES_GCM_16",
                                              encr_key_bits=128, g_ir=g),
                 lambda g: keys.child_keymat("PRF_HMAC_SHA2_256", sk_d, ni, nr, 64, g)):
        with pytest.raises(ConfigError, match="g_ir is empty") as info:
            call(b"")
        assert info.value.field == "g_ir"
    plain = keys.child_sa_keys("PRF_HMAC_SHA2_256", sk_d, ni, nr, encr="ENCR_AES_GCM_16", encr_key_bits=128)
    assert not plain.pfs
    assert plain.keymat == prf_plus("PRF_HMAC_SHA2_256", sk_d, ni + nr, 2 * 20)
