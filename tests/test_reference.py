"""The test references themselves (tests/reference.py) against published vectors, before they judge ikelab.

Sources (typed in below): RFC 4231 section 4.2 and 4.3 (HMAC-SHA-256/384/512, test cases 1 and 2), RFC 2202
sections 2 and 3 (HMAC-MD5 and HMAC-SHA-1, test cases 1 and 2), RFC 3566 section 4.6 (AES-XCBC-MAC, full 128
bits), RFC 4434 section 2.1 (AES-XCBC-PRF-128) and RFC 4615 section 4 (AES-CMAC-PRF-128).  prf+ (RFC 7296 2.13)
is compared with T1 | T2 | T3 unrolled by hand with the standard library's ``hmac.new``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac

import pytest

from reference import aes_cmac_prf_128, aes_xcbc_mac, aes_xcbc_prf_128, hmac_sha256, named_prf, prf_plus

H = bytes.fromhex
JEFE = (b"Jefe", b"what do ya want for nothing?")

RFC4231 = [  # (key, data, {name: HMAC output}), test cases 1 and 2
    (b"\x0b" * 20, b"Hi There", {
        "PRF_HMAC_SHA2_256": "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        "PRF_HMAC_SHA2_384": "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
                             "faea9ea9076ede7f4af152e8b2fa9cb6",
        "PRF_HMAC_SHA2_512": "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
                             "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
    }),
    (*JEFE, {
        "PRF_HMAC_SHA2_256": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        "PRF_HMAC_SHA2_384": "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
                             "8e2240ca5e69e2c78b3239ecfab21649",
        "PRF_HMAC_SHA2_512": "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
                             "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
    }),
]
RFC2202 = [  # (name, key, data, HMAC output), test cases 1 and 2 of sections 2 (MD5) and 3 (SHA-1)
    ("PRF_HMAC_SHA1", b"\x0b" * 20, b"Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"),
    ("PRF_HMAC_SHA1", *JEFE, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
    ("PRF_HMAC_MD5", b"\x0b" * 16, b"Hi There", "9294727a3638bb1c13f48ef8158bfc9d"),
    ("PRF_HMAC_MD5", *JEFE, "750c783e6ab0b503eaa86e310a5db738"),
]
RFC3566 = [  # key 000102..0f; an empty message, a partial block, one full block, a partial last block, two blocks
    (b"", "75f0251d528ac01c4573dfd584d79f29"),
    (bytes(range(3)), "5b376580ae2f19afe7219ceef172756f"),
    (bytes(range(16)), "d2a246fa349b68a79998a4394ff7a263"),
    (bytes(range(20)), "47f51b4564966215b8985c63055ed308"),
    (bytes(range(32)), "f54f0ec8d2b9f3d36807734bd5283fd4"),
]
PRF_MSG = bytes(range(20))  # RFC 4434 2.1 and RFC 4615 4: 000102..13
KEY18 = bytes(range(16)) + H("edcb")
RFC4434 = [(bytes(range(16)), "47f51b4564966215b8985c63055ed308"),
           (bytes(range(10)), "0fa087af7d866e7653434e602fdde835"), (KEY18, "8cd3c93ae598a9803006ffb67c40e9e4")]
RFC4615 = [(KEY18, "84a348a4a45d235babfffc0d2b4da09a"), (bytes(range(16)), "980ae87b5f4c9c5214f5b6a8455e4c2d"),
           (bytes(range(10)), "290d9e112edb09ee141fcf64c0b72f3d")]


@pytest.mark.parametrize("key,data,expected", RFC4231)
def test_hmac_sha2_meet_rfc4231(key: bytes, data: bytes, expected: dict[str, str]) -> None:
    assert hmac_sha256(key, data) == H(expected["PRF_HMAC_SHA2_256"])
    for name, value in expected.items():
        assert named_prf(name)(key, data) == H(value)


@pytest.mark.parametrize("name,key,data,expected", RFC2202)
def test_hmac_sha1_and_md5_meet_rfc2202(name: str, key: bytes, data: bytes, expected: str) -> None:
    assert named_prf(name)(key, data) == H(expected)


@pytest.mark.parametrize("msg,expected", RFC3566)
def test_aes_xcbc_mac_meets_rfc3566(msg: bytes, expected: str) -> None:
    assert aes_xcbc_mac(bytes(range(16)), msg) == H(expected)


@pytest.mark.parametrize("key,expected", RFC4434)
def test_aes_xcbc_prf_meets_rfc4434(key: bytes, expected: str) -> None:
    assert aes_xcbc_prf_128(key, PRF_MSG) == named_prf("PRF_AES128_XCBC")(key, PRF_MSG) == H(expected)


@pytest.mark.parametrize("key,expected", RFC4615)
def test_aes_cmac_prf_meets_rfc4615(key: bytes, expected: str) -> None:
    assert aes_cmac_prf_128(key, PRF_MSG) == named_prf("PRF_AES128_CMAC")(key, PRF_MSG) == H(expected)


def test_named_prf_takes_an_enum_member_by_its_name_and_refuses_unknown_names() -> None:
    Names = enum.IntEnum("Names", {"PRF_HMAC_SHA1": 2, "PRF_HMAC_TIGER": 3})
    key, data, expected = RFC2202[1][1:]
    assert named_prf(Names.PRF_HMAC_SHA1)(key, data) == H(expected)
    for bad in ("PRF_HMAC_TIGER", Names.PRF_HMAC_TIGER, "prf_hmac_sha1", "sha256"):
        with pytest.raises(ValueError, match=str(getattr(bad, "name", bad))):
            named_prf(bad)


def test_prf_plus_is_t1_t2_t3_unrolled_by_hand() -> None:
    key, seed = b"K" * 20, b"Ni | Nr | SPIi | SPIr"
    t1 = hmac.new(key, seed + b"\x01", hashlib.sha256).digest()
    t2 = hmac.new(key, t1 + seed + b"\x02", hashlib.sha256).digest()
    t3 = hmac.new(key, t2 + seed + b"\x03", hashlib.sha256).digest()
    assert prf_plus(key, seed, 0) == b""
    assert prf_plus(key, seed, 1) == t1[:1]
    assert prf_plus(key, seed, 32) == t1
    assert prf_plus(key, seed, 40) == t1 + t2[:8]
    assert prf_plus(key, seed, 96) == t1 + t2 + t3
    # another prf: HMAC-SHA-1, 20-byte blocks
    s1 = hmac.new(key, seed + b"\x01", hashlib.sha1).digest()
    s2 = hmac.new(key, s1 + seed + b"\x02", hashlib.sha1).digest()
    s3 = hmac.new(key, s2 + seed + b"\x03", hashlib.sha1).digest()
    assert prf_plus(key, seed, 50, named_prf("PRF_HMAC_SHA1")) == (s1 + s2 + s3)[:50]
