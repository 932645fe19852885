"""Tests for ikelab.dh: Diffie-Hellman groups against published vectors.

Sources (typed in below, cited at each constant):
* RFC 2409 section 6 / RFC 7296 appendix B, RFC 3526 sections 2-8: MODP primes,
  their construction from pi, generator 2, exponent sizes.
* RFC 5903 sections 3 and 8: ECP curve parameters and the group 19/20/21 vectors.
* RFC 7748 sections 5.2, 6.1 and 6.2: X25519 and X448 vectors.
* The classic hand example p=23, g=5, a=4, b=3, s=18 (e.g. Wikipedia,
  "Diffie-Hellman key exchange", and most textbooks).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from ikelab import dh
from ikelab.constants import DhId
from ikelab.errors import (
    ConfigError,
    InvalidPublicValueError,
    UnknownAlgorithmError,
    WeakAlgorithmError,
    WeakAlgorithmWarning,
)
from ikelab.rand import DeterministicRandom, SystemRandom

import sympy  # noqa: E402 - a test dependency (pyproject's test extra): missing, the run fails, not skips


def h(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


def weak_group(gid: int) -> dh.DhGroup:
    with pytest.warns(WeakAlgorithmWarning):
        return dh.group(gid, allow_weak=True)


def any_group(gid: int) -> dh.DhGroup:
    return weak_group(gid) if gid in (1, 2, 5) else dh.group(gid)


# --- MODP primes: RFC 2409 section 6, RFC 3526 sections 2-7 -----------------

# (group, n, k) with p = 2^n - 2^(n-64) - 1 + 2^64 * { [2^(n-130) pi] + k },
# the formulas printed above each prime in RFC 2409 section 6.1/6.2 and RFC 3526.
MODP_CONSTRUCTION = [
    (1, 768, 149686),
    (2, 1024, 129093),
    (5, 1536, 741804),
    (14, 2048, 124476),
    (15, 3072, 1690314),
    (16, 4096, 240904),
    (17, 6144, 929484),
    (18, 8192, 4743158),
]

# RFC 3526 section 8, "Strength Estimate 2" exponent sizes (bits).
RFC3526_EXPONENT_ESTIMATE_2 = {5: 240, 14: 320, 15: 420, 16: 480, 17: 540, 18: 620}


def floor_pi_times_power_of_two(k: int) -> int:
    """floor(2^k * pi) from sympy's exact pi, evaluated with ample digits."""
    digits = int(k * 0.30103) + 40
    return int(sympy.floor((sympy.pi * sympy.Integer(2) ** k).evalf(digits)))


@pytest.mark.parametrize("gid,n,k", MODP_CONSTRUCTION)
def test_modp_prime_matches_rfc_construction(gid: int, n: int, k: int) -> None:
    g = any_group(gid)
    expected = 2**n - 2 ** (n - 64) - 1 + 2**64 * (floor_pi_times_power_of_two(n - 130) + k)
    assert g.p == expected
    assert g.bits == n and g.public_len == n // 8
    assert g.g == 2
    assert g.p >> (n - 64) == 2**64 - 1 and g.p & (2**64 - 1) == 2**64 - 1  # top and bottom 64 bits set


@pytest.mark.parametrize("gid,n,k", MODP_CONSTRUCTION)
def test_modp_prime_is_a_safe_prime(gid: int, n: int, k: int) -> None:
    # sympy.isprime is BPSW above 2^64: a strong probable-prime test with no known
    # counterexample (about 0.5 s for the 8192-bit prime with gmpy2 present).
    g = any_group(gid)
    assert sympy.isprime(g.p)
    assert sympy.isprime((g.p - 1) // 2)
    assert g.q == (g.p - 1) // 2
    # p = 7 mod 8 makes 2 a quadratic residue: g = 2 generates the subgroup of order q.
    assert g.p % 8 == 7
    assert pow(2, g.q, g.p) == 1


def test_rfc3526_exponent_sizes() -> None:
    for gid, bits in RFC3526_EXPONENT_ESTIMATE_2.items():
        g = dh.group(gid) if gid != 5 else weak_group(5)
        assert g.exponent_bits == bits
        assert g.exponent_bits >= 2 * g.strength


def test_modp_private_exponent_size_and_public_value() -> None:
    g = dh.group(14)
    for seed in range(5):
        key = g.generate(DeterministicRandom(seed))
        assert 2 <= key.x < 2**320
        assert key.y == pow(2, key.x, g.p)  # plain Python pow, independent of gmpy2
        assert key.public_bytes() == key.y.to_bytes(256, "big")


def test_generate_is_reproducible_with_a_seed() -> None:
    for gid in (14, 19, 31, 32):
        g = dh.group(gid)
        assert g.generate(DeterministicRandom(1)).public_bytes() == g.generate(DeterministicRandom(1)).public_bytes()
        assert g.generate(DeterministicRandom(1)).public_bytes() != g.generate(DeterministicRandom(2)).public_bytes()


# --- RFC 7296 2.14: g^ir left-padded to the modulus length --------------------


def test_modp_shared_secret_with_leading_zero_is_padded() -> None:
    g = dh.group(14)
    for seed in range(5000):
        a = g.generate(DeterministicRandom(f"i{seed}"))
        b = g.generate(DeterministicRandom(f"r{seed}"))
        g_ir = a.exchange(b.public_bytes())
        if g_ir[0] == 0:
            break
    else:  # pragma: no cover - probability about e^-19
        pytest.fail("no shared secret with a leading zero byte found")
    assert len(g_ir) == 256
    y_r = int.from_bytes(b.public_bytes(), "big")
    assert int.from_bytes(g_ir, "big") == pow(y_r, a.x, g.p)
    assert b.exchange(a.public_bytes()) == g_ir


# --- ECP: RFC 5903 -----------------------------------------------------------

# RFC 5903 section 8: i, gix, giy, r, grx, gry, girx, and the KEi payload (section 8.x).
RFC5903 = {
    19: dict(  # section 8.1, 256-bit random ECP group
        i="C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433",
        gix="DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180",
        giy="5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3",
        r="C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53",
        grx="D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63",
        gry="56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB",
        girx="D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE",
        kei="""00000048 00130000 DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF
               945D0C37 72581180 5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58
               389E0577 B8990BB3""",
    ),
    20: dict(  # section 8.2, 384-bit random ECP group
        i="""099F3C70 34D4A2C6 99884D73 A375A67F 7624EF7C 6B3C0F16 0647B674 14DCE655
             E35B5380 41E649EE 3FAEF896 783AB194""",
        gix="""667842D7 D180AC2C DE6F74F3 7551F557 55C7645C 20EF73E3 1634FE72 B4C55EE6
               DE3AC808 ACB4BDB4 C88732AE E95F41AA""",
        giy="""9482ED1F C0EEB9CA FC498462 5CCFC23F 65032149 E0E144AD A0241815 35A0F38E
               EB9FCFF3 C2C947DA E69B4C63 4573A81C""",
        r="""41CB0779 B4BDB85D 47846725 FBEC3C94 30FAB46C C8DC5060 855CC9BD A0AA2942
             E0308312 916B8ED2 960E4BD5 5A7448FC""",
        grx="""E558DBEF 53EECDE3 D3FCCFC1 AEA08A89 A987475D 12FD950D 83CFA417 32BC509D
               0D1AC43A 0336DEF9 6FDA41D0 774A3571""",
        gry="""DCFBEC7A ACF31964 72169E83 8430367F 66EEBE3C 6E70C416 DD5F0C68 759DD1FF
               F83FA401 42209DFF 5EAAD96D B9E6386C""",
        girx="""11187331 C279962D 93D60424 3FD592CB 9D0A926F 422E4718 7521287E 7156C5C4
                D6031355 69B9E9D0 9CF5D4A2 70F59746""",
        kei="""00000068 00140000 667842D7 D180AC2C DE6F74F3 7551F557 55C7645C 20EF73E3
               1634FE72 B4C55EE6 DE3AC808 ACB4BDB4 C88732AE E95F41AA 9482ED1F C0EEB9CA
               FC498462 5CCFC23F 65032149 E0E144AD A0241815 35A0F38E EB9FCFF3 C2C947DA
               E69B4C63 4573A81C""",
    ),
    21: dict(  # section 8.3, 521-bit random ECP group
        i="""0037ADE9 319A89F4 DABDB3EF 411AACCC A5123C61 ACAB57B5 393DCE47 608172A0
             95AA85A3 0FE1C295 2C6771D9 37BA9777 F5957B26 39BAB072 462F68C2 7A57382D
             4A52""",
        gix="""0015417E 84DBF28C 0AD3C278 713349DC 7DF153C8 97A1891B D98BAB43 57C9ECBE
               E1E3BF42 E00B8E38 0AEAE57C 2D107564 94188594 2AF5A7F4 601723C4 195D176C
               ED3E""",
        giy="""017CAE20 B6641D2E EB695786 D8C94614 6239D099 E18E1D5A 514C739D 7CB4A10A
               D8A78801 5AC405D7 799DC75E 7B7D5B6C F2261A6A 7F150743 8BF01BEB 6CA3926F
               9582""",
        r="""0145BA99 A847AF43 793FDD0E 872E7CDF A16BE30F DC780F97 BCCC3F07 8380201E
             9C677D60 0B343757 A3BDBF2A 3163E4C2 F869CCA7 458AA4A4 EFFC311F 5CB15168
             5EB9""",
        grx="""00D0B397 5AC4B799 F5BEA16D 5E13E9AF 971D5E9B 984C9F39 728B5E57 39735A21
               9B97C356 436ADC6E 95BB0352 F6BE64A6 C2912D4E F2D0433C ED2B6171 640012D9
               460F""",
        gry="""015C6822 6383956E 3BD066E7 97B623C2 7CE0EAC2 F551A10C 2C724D98 52077B87
               220B6536 C5C408A1 D2AEBB8E 86D678AE 49CB5709 1F473229 6579AB44 FCD17F0F
               C56A""",
        girx="""01144C7D 79AE6956 BC8EDB8E 7C787C45 21CB086F A64407F9 7894E5E6 B2D79B04
                D1427E73 CA4BAA24 0A347868 59810C06 B3C715A3 A8CC3151 F2BEE417 996D19F3
                DDEA""",
        kei="""0000008C 00150000 0015417E 84DBF28C 0AD3C278 713349DC 7DF153C8 97A1891B
               D98BAB43 57C9ECBE E1E3BF42 E00B8E38 0AEAE57C 2D107564 94188594 2AF5A7F4
               601723C4 195D176C ED3E017C AE20B664 1D2EEB69 5786D8C9 46146239 D099E18E
               1D5A514C 739D7CB4 A10AD8A7 88015AC4 05D7799D C75E7B7D 5B6CF226 1A6A7F15
               07438BF0 1BEB6CA3 926F9582""",
    ),
}


@pytest.mark.parametrize("gid", sorted(RFC5903))
def test_rfc5903_vectors(gid: int) -> None:
    v = {name: h(value) for name, value in RFC5903[gid].items()}
    g = dh.group(gid)
    initiator = g.from_private_value(int.from_bytes(v["i"], "big"))
    responder = g.from_private_value(int.from_bytes(v["r"], "big"))
    assert initiator.public_bytes() == v["gix"] + v["giy"]
    assert responder.public_bytes() == v["grx"] + v["gry"]
    # The KEi payload: 4-byte generic header, group number, reserved, then x | y.
    assert v["kei"][4:6] == gid.to_bytes(2, "big")
    assert int.from_bytes(v["kei"][2:4], "big") == len(v["kei"])
    assert initiator.public_bytes() == v["kei"][8:]
    assert initiator.exchange(responder.public_bytes()) == v["girx"]
    assert responder.exchange(initiator.public_bytes()) == v["girx"]
    assert len(v["girx"]) == g.shared_len == g.coord_len


def test_rfc5903_field_primes() -> None:
    # RFC 5903 section 3.1 and 3.2 give p in hex; the module writes the formula.
    assert dh.group(19).p == int("FFFFFFFF 00000001 00000000 00000000 00000000 FFFFFFFF FFFFFFFF FFFFFFFF"
                                 .replace(" ", ""), 16)
    assert dh.group(20).p == int(("FFFFFFFF " * 7 + "FFFFFFFE FFFFFFFF 00000000 00000000 FFFFFFFF")
                                 .replace(" ", ""), 16)
    assert dh.group(21).p == 2**521 - 1


@pytest.mark.parametrize("gid", [19, 20, 21])
def test_ecp_curve_constants(gid: int) -> None:
    g = dh.group(gid)
    assert g.is_on_curve(g.gx, g.gy)
    for name in ("gi", "gr"):  # the RFC 5903 section 8 points satisfy our equation (checks b)
        v = RFC5903[gid]
        assert g.is_on_curve(int.from_bytes(h(v[name + "x"]), "big"), int.from_bytes(h(v[name + "y"]), "big"))
    # cryptography's base point is ours, and (n-1)G = -G: n is the order of G.
    assert g.from_private_value(1).public_point == (g.gx, g.gy)
    assert g.from_private_value(g.n - 1).public_point == (g.gx, g.p - g.gy)
    with pytest.raises(ConfigError):
        g.from_private_value(g.n)
    with pytest.raises(ConfigError):
        g.from_private_value(0)


# --- Curve25519 and Curve448: RFC 7748 ---------------------------------------

# RFC 7748 section 6.1 (X25519) and 6.2 (X448): Alice and Bob.
RFC7748_DH = {
    31: dict(
        a="77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        a_pub="8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
        b="5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        b_pub="de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
        k="4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
    ),
    32: dict(
        a="""9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28d
             d9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b""",
        a_pub="""9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c
                 22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0""",
        b="""1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d
             6927c120bb5ee8972b0d3e21374c9c921b09d1b0366f10b65173992d""",
        b_pub="""3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b430
                 27d8b972fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609""",
        k="""07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282b
             b60c0b56fd2464c335543936521c24403085d59a449a5037514a879d""",
    ),
}

# RFC 7748 section 5.2: (scalar, input u, output u) single scalar multiplications.
RFC7748_SCALAR_MULT = [
    (31, "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
         "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
         "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"),
    (31, "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
         "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
         "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"),
    (32, "3d262fddf9ec8e88495266fea19a34d28882acef045104d0d1aae121700a779c984c24f8cdd78fbff44943eba368f54b29259a4f1c600ad3",
         "06fce640fa3487bfda5f6cf2d5263f8aad88334cbd07437f020f08f9814dc031ddbdc38c19c6da2583fa5429db94ada18aa7a7fb4ef8a086",
         "ce3e4ff95a60dc6697da1db1d85e6afbdf79b50a2412d7546d5f239fe14fbaadeb445fc66a01b0779d98223961111e21766282f73dd96b6f"),
    (32, "203d494428b8399352665ddca42f9de8fef600908e0d461cb021f8c538345dd77c3e4806e25f46d3315c44e0a5b4371282dd2c8d5be3095f",
         "0fbcc2f993cd56d3305b0b7d9e55d4c1a8fb5dbb52f8e9a1e9b6201b165d015894e56c4d3570bee52fe205e28a78b91cdfbde71ce8d157db",
         "884a02576239ff7a2f2f63b2db6a9ff37047ac13568e1e30fe63c4a7ad1b3ee3a5700df34321d62077e63633c575c1c954514e99da7c179d"),
]


@pytest.mark.parametrize("gid", [31, 32])
def test_rfc7748_diffie_hellman(gid: int) -> None:
    v = {name: h(value) for name, value in RFC7748_DH[gid].items()}
    g = dh.group(gid)
    alice, bob = g.from_private_value(v["a"]), g.from_private_value(v["b"])
    assert alice.public_bytes() == v["a_pub"]
    assert bob.public_bytes() == v["b_pub"]
    assert alice.exchange(v["b_pub"]) == v["k"]
    assert bob.exchange(v["a_pub"]) == v["k"]
    # The same key from its little-endian integer (RFC 7748 section 5 decoding).
    assert g.from_private_value(int.from_bytes(v["a"], "little")).public_bytes() == v["a_pub"]


@pytest.mark.parametrize("gid,scalar,u,out", RFC7748_SCALAR_MULT)
def test_rfc7748_scalar_multiplication(gid: int, scalar: str, u: str, out: str) -> None:
    assert dh.group(gid).from_private_value(h(scalar)).exchange(h(u)) == h(out)


# --- Validation of public values (RFC 6989, RFC 8031 3.2) ---------------------


def test_modp_public_value_checks() -> None:
    g = dh.group(14)
    key = g.generate(DeterministicRandom(3))
    n = g.public_len
    bad = {
        "zero": bytes(n),
        "one": (1).to_bytes(n, "big"),
        "p-1": (g.p - 1).to_bytes(n, "big"),
        "p": g.p.to_bytes(n, "big"),
        "all ones": b"\xff" * n,
        "short": (2).to_bytes(n - 1, "big"),
        "long": (2).to_bytes(n + 1, "big"),
        "empty": b"",
    }
    for label, data in bad.items():
        with pytest.raises(InvalidPublicValueError, match="MODP_2048"):
            g.validate_public(data)
        with pytest.raises(InvalidPublicValueError):
            key.exchange(data)
    with pytest.raises(InvalidPublicValueError):
        key.exchange(12345)  # type: ignore[arg-type]
    g.validate_public((2).to_bytes(n, "big"))
    g.validate_public((g.p - 2).to_bytes(n, "big"))


def test_modp_optional_subgroup_check() -> None:
    g = dh.group(14)
    minus_two = (g.p - 2).to_bytes(g.public_len, "big")  # -2 is a non-residue when p = 7 mod 8
    g.validate_public(minus_two)
    with pytest.raises(InvalidPublicValueError, match="subgroup"):
        g.validate_public(minus_two, check_subgroup=True)
    g.validate_public(g.generate(DeterministicRandom(4)).public_bytes(), check_subgroup=True)


@pytest.mark.parametrize("gid", [19, 20, 21])
def test_ecp_public_value_checks(gid: int) -> None:
    g = dh.group(gid)
    key = g.generate(DeterministicRandom(5))
    good = key.public_bytes()
    c = g.coord_len
    x, y = int.from_bytes(good[:c], "big"), int.from_bytes(good[c:], "big")
    bad = [
        good[:-1],
        good + b"\x00",
        b"\x04" + good,  # the SEC 1 prefix does not belong in IKE (RFC 5903 section 7)
        bytes(2 * c),  # stands in for the point at infinity
        good[:c] + ((y + 1) % g.p).to_bytes(c, "big"),  # off the curve
        (x + g.p).to_bytes(c, "big") + good[c:] if x + g.p < 1 << (8 * c) else b"",  # x not reduced
    ]
    for data in bad:
        with pytest.raises(InvalidPublicValueError, match=g.name):
            g.validate_public(data)
        with pytest.raises(InvalidPublicValueError, match=g.name):
            key.exchange(data)


@pytest.mark.parametrize("gid", [31, 32])
def test_montgomery_public_value_checks(gid: int) -> None:
    g = dh.group(gid)
    key = g.generate(DeterministicRandom(6))
    for data in (b"", bytes(g.key_len - 1), bytes(g.key_len + 1)):
        with pytest.raises(InvalidPublicValueError, match=g.name):
            key.exchange(data)
    # u = 0 and u = 1 are low-order points: X25519/X448 output is all zeros (RFC 7748 6.1, RFC 8031 3.2).
    for u in (0, 1):
        with pytest.raises(InvalidPublicValueError, match="all-zero"):
            key.exchange(u.to_bytes(g.key_len, "little"))


def test_private_value_checks() -> None:
    g14 = dh.group(14)
    for value in (0, g14.p - 1, -5, "7", True, 1.5):
        with pytest.raises(ConfigError):
            g14.from_private_value(value)  # type: ignore[arg-type]
    g31 = dh.group(31)
    for value in (bytes(31), bytes(33), 1 << 256, -1, "x"):
        with pytest.raises(ConfigError):
            g31.from_private_value(value)  # type: ignore[arg-type]


# --- Property tests -----------------------------------------------------------

PROPERTY_GROUPS = [14, 19, 20, 21, 31, 32]


@settings(max_examples=30, deadline=None)
@given(gid=st.sampled_from(PROPERTY_GROUPS), seed_i=st.integers(0, 2**32), seed_r=st.integers(0, 2**32))
def test_both_sides_compute_the_same_g_ir(gid: int, seed_i: int, seed_r: int) -> None:
    g = dh.group(gid)
    i = g.generate(DeterministicRandom(seed_i).fork("i"))
    r = g.generate(DeterministicRandom(seed_r).fork("r"))
    assert len(i.public_bytes()) == g.public_len
    g_ir = i.exchange(r.public_bytes())
    assert g_ir == r.exchange(i.public_bytes())
    assert len(g_ir) == g.shared_len


@pytest.mark.parametrize("gid", PROPERTY_GROUPS)
def test_keys_drawn_from_the_os_are_complete_key_pairs(gid: int) -> None:
    # with SystemRandom OpenSSL draws ECP keys itself: the private value read back must be the one
    # behind the public value, and two peers' keys must agree as seeded keys do
    g = dh.group(gid)
    a, b = g.generate(SystemRandom()), g.generate(SystemRandom())
    assert a.private_value != b.private_value and a != b
    again = g.from_private_value(a.private_value)
    assert again == a and hash(again) == hash(a) and again.public_bytes() == a.public_bytes()
    assert a.exchange(b.public_bytes()) == b.exchange(a.public_bytes()) == again.exchange(b.public_bytes())
    if gid in (19, 20, 21):
        assert 1 <= a.private_value < g.n and g.is_on_curve(*g.decode_public(a.public_bytes()))


def _ke_data(gid: int) -> st.SearchStrategy[bytes]:
    """Any octets, or (half the time) octets of exactly the group's length, which reach the value checks."""
    size = dh.group(gid).public_len
    return st.binary(min_size=size, max_size=size) | st.binary(max_size=300)


@settings(max_examples=60, deadline=None)
@given(draw=st.data())
def test_garbage_ke_data_gives_a_typed_error(draw: st.DataObject) -> None:
    gid = draw.draw(st.sampled_from(PROPERTY_GROUPS))
    data = draw.draw(_ke_data(gid))
    key = dh.group(gid).generate(DeterministicRandom(9))
    try:
        result = key.exchange(data)
    except InvalidPublicValueError:
        return
    assert len(result) == key.group.shared_len


@settings(max_examples=40, deadline=None)
@given(p=st.sampled_from([23, 101, 65537, 2**61 - 1]), seed=st.integers(0, 2**32))
def test_toy_groups_agree_and_match_pow(p: int, seed: int) -> None:
    toy = dh.ToyGroup(p, 3)
    a = toy.generate(DeterministicRandom(seed).fork("a"))
    b = toy.generate(DeterministicRandom(seed).fork("b"))
    assert a.y == pow(3, a.x, p) == toy.public_value(a.x)
    assert toy.shared_secret(a.x, b.y) == toy.shared_secret(b.x, a.y) == pow(b.y, a.x, p)
    assert a.exchange(b.public_bytes()) == b.exchange(a.public_bytes()) == toy.encode(pow(b.y, a.x, p))


@settings(max_examples=40, deadline=None)
@given(base=st.integers(0, 2**200), exponent=st.integers(0, 2**200), modulus=st.integers(2, 2**200))
def test_powmod_matches_pow(base: int, exponent: int, modulus: int) -> None:
    assert dh.powmod(base, exponent, modulus) == pow(base, exponent, modulus)


@pytest.mark.parametrize("args, needle", [
    ((5, 6.0, 23), "exponent must be an int, not float"),
    (("5", 6, 23), "base must be an int, not str"),
    ((5, 6, None), "modulus must be an int, not NoneType"),
    ((5, 6, 0), "modulus must not be 0"),
    ((0, -1, 23), "0 has no inverse mod 23"),
])
def test_powmod_says_what_is_wrong(args: tuple, needle: str) -> None:
    """Lesson 2 invites students to try powmod by hand: a wrong argument is named, not a gmpy2 TypeError."""
    with pytest.raises(ConfigError, match=needle):
        dh.powmod(*args)
    assert dh.powmod(5, -1, 23) == 14 == pow(5, -1, 23)  # a negative exponent is the inverse, as pow has it


# --- Weak groups and the registry ---------------------------------------------


@pytest.mark.parametrize("gid", [1, 2, 5])
def test_weak_groups_need_allow_weak(gid: int) -> None:
    with pytest.raises(WeakAlgorithmError, match="allow_weak"):
        dh.group(gid)
    with pytest.warns(WeakAlgorithmWarning, match="weak"):
        g = dh.group(gid, allow_weak=True)
    a, b = g.generate(DeterministicRandom(1)), g.generate(DeterministicRandom(2))
    assert a.exchange(b.public_bytes()) == b.exchange(a.public_bytes())


def test_weak_warning_says_why() -> None:
    with pytest.warns(WeakAlgorithmWarning, match="Logjam"):
        dh.group(2, allow_weak=True)


def test_group_lookup_forms() -> None:
    g = dh.group(14)
    assert dh.group("MODP_2048") is g
    assert dh.group("modp_2048") is g
    assert dh.group(DhId.MODP_2048) is g
    assert g.id == DhId.MODP_2048 and g.name == "MODP_2048"
    toy = dh.ToyGroup(23, 5)
    assert dh.group(toy) is toy


@pytest.mark.parametrize("gid", [22, 23, 24, 25, 30, 0, 99, "MODP_9999"])
def test_unimplemented_groups(gid: int | str) -> None:
    with pytest.raises(UnknownAlgorithmError):
        dh.group(gid)


def test_rfc5114_groups_explain_why() -> None:
    with pytest.raises(UnknownAlgorithmError, match="RFC 8247"):
        dh.group(24)


def test_groups_table() -> None:
    table = dh.groups()
    assert [row.id for row in table] == [1, 2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 31, 32]
    by_id = {row.id: row for row in table}
    assert {i for i, row in by_id.items() if row.weak} == {1, 2, 5}
    assert {i: row.public_len for i, row in by_id.items()} == {
        1: 96, 2: 128, 5: 192, 14: 256, 15: 384, 16: 512, 17: 768, 18: 1024,
        19: 64, 20: 96, 21: 132, 31: 32, 32: 56,
    }
    assert by_id[19].kind == "ECP" and by_id[31].kind == "Montgomery" and by_id[14].kind == "MODP"
    assert by_id[14].bits == 2048 and by_id[21].bits == 521 and by_id[31].bits == 255


def test_ecp_groups_match_cryptography_curves() -> None:
    assert isinstance(dh.group(19).curve(), ec.SECP256R1)
    assert isinstance(dh.group(20).curve(), ec.SECP384R1)
    assert isinstance(dh.group(21).curve(), ec.SECP521R1)


# --- Toy groups and hand-calculation helpers ------------------------------------


def test_classic_hand_example() -> None:
    # p = 23, g = 5; Alice a = 4 sends A = 4, Bob b = 3 sends B = 10, both get s = 18.
    toy = dh.ToyGroup(23, 5)
    assert toy.public_value(4) == 4 and toy.public_value(3) == 10
    assert toy.shared_secret(4, 10) == toy.shared_secret(3, 4) == 18
    alice, bob = toy.from_private_value(4), toy.from_private_value(3)
    assert alice.public_bytes() == b"\x04" and bob.public_bytes() == b"\x0a"
    assert alice.exchange(bob.public_bytes()) == bob.exchange(alice.public_bytes()) == b"\x12"
    assert toy.id is None and toy.weak and toy.public_len == 1
    assert toy.public_value(0) == 1 and toy.public_value(22) == 1  # Fermat: g^(p-1) = 1
    with pytest.raises(ConfigError):
        toy.public_value(-1)
    with pytest.raises(ConfigError):
        toy.from_private_value(22)  # private values stay in [1, p-2]


def test_primitive_roots_and_orders() -> None:
    assert dh.is_primitive_root(5, 23)
    assert not dh.is_primitive_root(2, 23)  # 2^11 = 2048 = 89 * 23 + 1
    assert not dh.is_primitive_root(46, 23)  # shares the factor 23
    assert dh.order_of(2, 23) == 11
    assert dh.order_of(5, 23) == 22
    assert dh.order_of(22, 23) == 2
    assert dh.order_of(3, 7) == 6 and dh.order_of(2, 7) == 3
    with pytest.raises(ConfigError):
        dh.order_of(23, 23)


def test_brute_force_dlog() -> None:
    assert dh.brute_force_dlog(5, 8, 23) == (6, 7)  # 5^6 = 15625 = 679 * 23 + 8
    assert dh.brute_force_dlog(5, 1, 23) == dh.DlogResult(x=0, steps=1)
    for y in range(1, 23):
        x, steps = dh.brute_force_dlog(5, y, 23)
        assert pow(5, x, 23) == y and steps == x + 1
    with pytest.raises(ConfigError, match="not a power"):
        dh.brute_force_dlog(2, 5, 23)  # 5 is outside the order-11 subgroup of 2
    with pytest.raises(ConfigError, match="too large"):
        dh.brute_force_dlog(3, 2, 2**61 - 1, max_steps=1000)
    with pytest.raises(ConfigError):
        dh.brute_force_dlog(5, 0, 23)


@pytest.mark.parametrize("p,g", [(24, 5), (21, 2), (3, 2), (23, 1), (23, 22), (23, 23), (23, 0), (True, 2), ("23", 5)])
def test_toy_group_rejects_bad_parameters(p: object, g: object) -> None:
    with pytest.raises(ConfigError):
        dh.ToyGroup(p, g)  # type: ignore[arg-type]


def test_toy_group_small_subgroup_still_agrees() -> None:
    toy = dh.ToyGroup(23, 2)  # 2 has order 11: every public value is a square
    for seed in range(20):
        a = toy.generate(DeterministicRandom(seed).fork("a"))
        b = toy.generate(DeterministicRandom(seed).fork("b"))
        assert 1 < a.y < 22
        assert dh.order_of(a.y, 23) in (11,)
        assert a.exchange(b.public_bytes()) == b.exchange(a.public_bytes())


@pytest.mark.parametrize("p, g", [(23, 5), (47, 5), (1019, 2)])
def test_toy_group_says_why_it_is_weak_and_the_reason_holds(p: int, g: int) -> None:
    """The weak reason names the bound it claims, and trying that many exponents does find every key."""
    toy = dh.ToyGroup(p, g)
    assert toy.weak and f"at most p-1 = {p - 1} exponents" in toy.weak_reason
    for seed in range(5):
        key = toy.generate(DeterministicRandom(seed))
        found = next(x for x in range(p - 1) if pow(g, x, p) == key.y)  # StopIteration would fail the test
        assert toy.from_private_value(found).public_bytes() == key.public_bytes()


def test_toy_public_value_checks() -> None:
    toy = dh.ToyGroup(23, 5)
    key = toy.from_private_value(6)
    for y in (0, 1, 22, 23, 255):
        with pytest.raises(InvalidPublicValueError, match="toy"):
            key.exchange(bytes([y]))
    with pytest.raises(InvalidPublicValueError):
        key.exchange(b"\x00\x08")


def test_sympy_is_not_imported_by_the_module() -> None:
    code = "import sys, ikelab.dh; print('sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("gid", [1, 2, 5, 14, 15, 16, 17, 18])
def test_modp_shared_secret_is_y_peer_to_the_x_whoever_computes_it(gid):
    """Both sides find the same g^ir, and it is Python's pow(y_peer, x, p) as p-long octets."""
    g = any_group(gid)
    rng = DeterministicRandom(gid)
    for _ in range(3):
        a, b = g.generate(rng), g.generate(rng)
        expected = pow(b.y, a.x, g.p).to_bytes(g.public_len, "big")
        assert a.exchange(b.public_bytes()) == expected == b.exchange(a.public_bytes())
    if gid == 14:  # a peer value whose power has a leading zero octet still gives a p-long g^ir (RFC 7296 2.14)
        y_peer = next(y for y in range(2, 20000) if dh.powmod(y, a.x, g.p) < 1 << (g.p.bit_length() - 9))
        assert a.exchange(g.encode(y_peer)) == pow(y_peer, a.x, g.p).to_bytes(g.public_len, "big")
    with pytest.raises(InvalidPublicValueError):  # RFC 6989 checks come first
        a.exchange(g.encode(g.p - 1))


# --- Boundaries pinned by a mutation review --------------------------------------


class _EdgeRandom:
    """A RandomSource with only what the protocol promises (random_bytes, randbelow), always at one end.

    ``high=False`` answers randbelow(n) with 0, ``high=True`` with n - 1: the least and the greatest
    private value a group can draw from any source.
    """

    def __init__(self, high: bool) -> None:
        self.high = high

    def random_bytes(self, n: int) -> bytes:
        return (b"\xff" if self.high else b"\x00") * n

    def randbelow(self, n: int) -> int:
        return n - 1 if self.high else 0


@pytest.mark.parametrize("gid, bits", [(1, 160), (2, 160), (5, 240), (14, 320), (15, 420), (18, 620)])
def test_modp_private_exponents_span_two_to_two_to_the_e(gid: int, bits: int) -> None:
    """x is drawn from [2, 2^e), e twice the strength estimate (160 bits for groups 1 and 2: twice RFC 3526's 80)."""
    g = any_group(gid)
    low, high = g.generate(_EdgeRandom(False)), g.generate(_EdgeRandom(True))
    assert low.x == 2 and low.y == 4
    assert high.x == 2**bits - 1 and high.y == pow(2, 2**bits - 1, g.p)


def test_toy_and_ecp_private_values_span_their_whole_range_from_any_random_source() -> None:
    """Toy x in [2, p-2], ECP d in [1, n-1]; a source with only random_bytes and randbelow is enough.

    Toy and ECP groups used to call ``rng.randrange``, which RandomSource does not promise:
    a source written to the protocol failed with AttributeError.
    """
    toy = dh.ToyGroup(23, 5)
    assert toy.generate(_EdgeRandom(False)).x == 2
    assert toy.generate(_EdgeRandom(True)).x == 21
    # every x in [2, p-2] is drawn, except x = 11: 5^11 = 22 = p-1, which generate refuses and draws again
    usable = {x for x in range(2, 22) if 1 < pow(5, x, 23) < 22}
    assert usable == set(range(2, 22)) - {11}
    assert {toy.generate(DeterministicRandom(seed)).x for seed in range(300)} == usable
    for gid in (19, 20, 21):
        g = dh.group(gid)
        assert g.generate(_EdgeRandom(False)).d == 1
        high = g.generate(_EdgeRandom(True))
        assert high.d == g.n - 1 and high.public_point == (g.gx, g.p - g.gy)  # (n-1)G = -G
        seeded = g.generate(DeterministicRandom(gid))
        assert seeded.d.bit_length() > g.n.bit_length() - 32  # drawn from all of [1, n-1], not a small corner


@pytest.mark.parametrize("y, needle", [(0, "0 is not greater than 1"), (1, "1 is not greater than 1"),
                                       ("p-1", "is p-1; it must be below p-1"), ("p", "is p or more")])
def test_modp_refusals_name_the_bound(y: int | str, needle: str) -> None:
    g = dh.group(14)
    value = {"p-1": g.p - 1, "p": g.p}.get(y, y)  # type: ignore[call-overload]
    with pytest.raises(InvalidPublicValueError, match=needle):
        g.validate_public(value.to_bytes(g.public_len, "big"))


@pytest.mark.parametrize("gid", [14, 19, 31])
@pytest.mark.parametrize("data", ["00" * 8, 2.5, None, [0, 1]])
def test_ke_data_that_is_not_bytes_is_a_typed_error(gid: int, data: object) -> None:
    key = dh.group(gid).generate(DeterministicRandom(7))
    with pytest.raises(InvalidPublicValueError, match="KE data must be bytes"):
        key.exchange(data)  # type: ignore[arg-type]


def test_toy_shared_secret_takes_peer_values_in_one_to_p_minus_one() -> None:
    toy = dh.ToyGroup(23, 5)
    assert toy.shared_secret(4, 1) == 1 and toy.shared_secret(3, 22) == 22  # hand calculation keeps the edges
    for y_peer in (0, 23, 24, -1):
        with pytest.raises(InvalidPublicValueError, match="not in"):
            toy.shared_secret(4, y_peer)


@pytest.mark.parametrize("gid, why", [(1, "768-bit discrete logarithms have been computed"),
                                      (2, "1024-bit discrete logarithms"), (5, "112-bit minimum")])
def test_each_weak_group_says_why_both_refused_and_allowed(gid: int, why: str) -> None:
    with pytest.raises(WeakAlgorithmError) as err:
        dh.group(gid)
    assert why in str(err.value) and "Logjam" in str(err.value) and "allow_weak" in str(err.value)
    with pytest.warns(WeakAlgorithmWarning) as warned:
        dh.group(gid, allow_weak=True)
    assert why in str(warned[0].message) and "Logjam" in str(warned[0].message)


def test_implemented_group_never_raises_nor_warns() -> None:
    # pyproject turns WeakAlgorithmWarning into an error: a warning here would fail the test
    assert dh.implemented_group(14) is dh.group(14)
    assert dh.implemented_group(2) is weak_group(2) and dh.implemented_group(2).weak
    assert dh.implemented_group(24) is None and dh.implemented_group(99) is None


def test_ecp_refuses_a_y_coordinate_of_p_or_more() -> None:
    # P-521 coordinates take 66 octets, 7 bits more than p = 2^521 - 1: y + p still fits and is y mod p
    g = dh.group(21)
    n = g.coord_len
    assert g.is_on_curve(g.gx, g.gy) and not g.is_on_curve(g.gx, g.gy + g.p) and not g.is_on_curve(g.gx + g.p, g.gy)
    data = g.gx.to_bytes(n, "big") + (g.gy + g.p).to_bytes(n, "big")
    with pytest.raises(InvalidPublicValueError, match="not a point on the curve"):
        g.validate_public(data)
    with pytest.raises(InvalidPublicValueError, match="ECP_521"):
        g.generate(DeterministicRandom(1)).exchange(data)


@pytest.mark.parametrize("gid", [19, 20, 21])
def test_ecp_all_zero_ke_data_is_named_as_infinity(gid: int) -> None:
    g = dh.group(gid)
    with pytest.raises(InvalidPublicValueError, match="point at infinity"):
        g.validate_public(bytes(g.public_len))


@pytest.mark.parametrize("gid", [19, 20, 21])
def test_ecp_g_ir_keeps_its_leading_zero_octets(gid: int) -> None:
    """g^ir is the x coordinate at full length (RFC 5903 section 7), even when it starts with 0x00.

    Reference: x of (d_i * d_r mod n) * G, computed by cryptography as a public key, not by ECDH.
    """
    g = dh.group(gid)
    initiator = g.from_private_value(12345)
    for k in range(1, 5000):
        g_ir = initiator.exchange(g.from_private_value(k).public_bytes())
        if g_ir[0] == 0:
            break
    else:  # pragma: no cover - about 2^-14 for P-256
        pytest.fail("no g^ir with a leading zero octet")
    x = ec.derive_private_key(12345 * k % g.n, g.curve()).public_key().public_numbers().x
    assert g_ir == x.to_bytes(g.coord_len, "big") and len(g_ir) == g.shared_len == g.coord_len


def test_is_probable_prime_agrees_with_sympy() -> None:
    from ikelab.dh_toy import is_probable_prime

    assert [n for n in range(-2, 4000) if is_probable_prime(n)] == list(sympy.primerange(2, 4000))
    # strong pseudoprimes: 3215031751 to bases 2, 3, 5, 7; 3825123056546413051 to every base up to 23
    for n in (2047, 1373653, 3215031751, 3825123056546413051, 41 * 43, 2**61 - 1, 2**89 - 1, 2**61 + 1):
        assert is_probable_prime(n) == sympy.isprime(n)
    with pytest.raises(ConfigError, match="prime"):
        dh.ToyGroup(3825123056546413051, 2)
    with pytest.raises(ConfigError) as err:
        dh.ToyGroup(3, 2)  # no base fits 1 < g < 2: the modulus is what is wrong
    assert err.value.field == "p"


def test_number_theory_helpers_refuse_a_modulus_below_two() -> None:
    for fn in (dh.order_of, dh.is_primitive_root):
        for p in (1, 0, -23):
            with pytest.raises(ConfigError, match="at least 2"):
                fn(3, p)


def test_brute_force_dlog_tries_exactly_max_steps_candidates() -> None:
    p = 2**61 - 1
    assert dh.brute_force_dlog(3, pow(3, 999, p), p, max_steps=1000) == (999, 1000)
    with pytest.raises(ConfigError, match="in 1000 steps") as err:
        dh.brute_force_dlog(3, pow(3, 1000, p), p, max_steps=1000)
    assert err.value.field == "max_steps"
    with pytest.raises(ConfigError, match=r"not in \[1, p-1\]") as err:  # refused before any search
        dh.brute_force_dlog(3, 0, p, max_steps=1000)
    assert err.value.field == "y"
