"""Tests for ikelab.transforms against published vectors.

Every expected value below is typed from an independent publication, cited
above it (RFC number and section, NIST publication, or IETF draft).
"""

from __future__ import annotations

import warnings

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from hypothesis import given, settings
from hypothesis import strategies as st

from ikelab.constants import EncrId, IntegId
from ikelab.errors import (
    ConfigError,
    IntegrityError,
    UnknownAlgorithmError,
    WeakAlgorithmError,
    WeakAlgorithmWarning,
)
from ikelab.transforms import (
    ENCRYPTION_IDS,
    INTEGRITY_IDS,
    WIRESHARK_ESP_AUTH_NULL,
    WIRESHARK_IKEV2_INTEG_NONE,
    AesCtr,
    Encryption,
    Integrity,
    cipher_suite,
    encryption,
    integrity,
    key_lengths,
)


def h(text: str) -> bytes:
    """Hex with any whitespace, as the RFCs print it."""
    return bytes.fromhex("".join(text.split()))


def weak_encryption(alg: str) -> Encryption:
    with pytest.warns(WeakAlgorithmWarning):
        return encryption(alg, allow_weak=True)


def weak_integrity(alg: str) -> Integrity:
    with pytest.warns(WeakAlgorithmWarning):
        return integrity(alg, allow_weak=True)


# ---------------------------------------------------------------------------
# RFC 3602 section 4, AES-CBC test cases #1 - #4 (plain encryption)
# ---------------------------------------------------------------------------

RFC3602 = [
    ("06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41", b"Single block msg".hex(),
     "e353779c1079aeb82708942dbe77181a"),
    ("c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"),
    ("6c3ea0477630ce21a2ce334aa746c2cd", "c782dc4c098c66cbd9cd27d825682c81",
     b"This is a 48-byte message (exactly 3 AES blocks)".hex(),
     "d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5021c19216bad525c8579695d83ba2684"),
    ("56e47a38c5598974bc46903dba290349", "8ce82eefbea0da3c44699ed7db51b7d9",
     "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
     "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf",
     "c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e"
     "35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55"),
]


@pytest.mark.parametrize("key, iv, plaintext, ciphertext", RFC3602, ids=["#1", "#2", "#3", "#4"])
def test_aes_cbc_rfc3602(key: str, iv: str, plaintext: str, ciphertext: str) -> None:
    cbc = encryption("ENCR_AES_CBC", 128)
    assert cbc.encrypt(h(key), h(iv), h(plaintext)) == h(ciphertext)
    assert cbc.decrypt(h(key), h(iv), h(ciphertext)) == h(plaintext)


# ---------------------------------------------------------------------------
# RFC 3686 section 6, AES-CTR test vectors #1 - #9: (AES key, nonce, IV, plaintext, ciphertext)
# ---------------------------------------------------------------------------

_P32 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
_P36 = _P32 + "20212223"
_SBM = b"Single block msg".hex()
RFC3686 = [
    (128, "ae6852f8121067cc4bf7a5765577f39e", "00000030", "0000000000000000", _SBM,
     "e4095d4fb7a7b3792d6175a3261311b8"),
    (128, "7e24067817fae0d743d6ce1f32539163", "006cb6db", "c0543b59da48d90b", _P32,
     "5104a106168a72d9790d41ee8edad388eb2e1efc46da57c8fce630df9141be28"),
    (128, "7691be035e5020a8ac6e618529f9a0dc", "00e0017b", "27777f3f4a1786f0", _P36,
     "c1cf48a89f2ffdd9cf4652e9efdb72d74540a42bde6d7836d59a5ceaaef3105325b2072f"),
    (192, "16af5b145fc9f579c175f93e3bfb0eed863d06ccfdb78515", "00000048", "36733c147d6d93cb", _SBM,
     "4b55384fe259c9c84e7935a003cbe928"),
    (192, "7c5cb2401b3dc33c19e7340819e0f69c678c3db8e6f6a91a", "0096b03b", "020c6eadc2cb500d", _P32,
     "453243fc609b23327edfaafa7131cd9f8490701c5ad4a79cfc1fe0ff42f4fb00"),
    (192, "02bf391ee8ecb159b959617b0965279bf59b60a786d3e0fe", "0007bdfd", "5cbd60278dcc0912", _P36,
     "96893fc55e5c722f540b7dd1ddf7e758d288bc95c69165884536c811662f2188abee0935"),
    (256, "776beff2851db06f4c8a0542c8696f6c6a81af1eec96b4d37fc1d689e6c1c104", "00000060", "db5672c97aa8f0b2",
     _SBM, "145ad01dbf824ec7560863dc71e3e0c0"),
    (256, "f6d66d6bd52d59bb0796365879eff886c66dd51a5b6a99744b50590c87a23884", "00faac24", "c1585ef15a43d875",
     _P32, "f05e231b3894612c49ee000b804eb2a9b8306b508f839d6a5530831d9344af1c"),
    (256, "ff7a617ce69148e4f1726e2f43581de2aa62d9f805532edff1eed687fb54153d", "001cc5b7", "51a51d70a1c11148",
     _P36, "eb6c52821d0bbbf7ce7594462aca4faab407df866569fd07f48cc0b583d6071f1ec0e6b8"),
]


@pytest.mark.parametrize(
    "bits, key, nonce, iv, plaintext, ciphertext", RFC3686, ids=[f"#{i}" for i in range(1, 10)]
)
def test_aes_ctr_rfc3686(bits: int, key: str, nonce: str, iv: str, plaintext: str, ciphertext: str) -> None:
    ctr = encryption("ENCR_AES_CTR", bits)
    keymat = h(key) + h(nonce)  # RFC 3686 5.1: KEYMAT = AES key | 4-byte nonce
    assert ctr.encrypt(keymat, h(iv), h(plaintext)) == h(ciphertext)
    assert ctr.decrypt(keymat, h(iv), h(ciphertext)) == h(plaintext)


def test_aes_ctr_counter_blocks_rfc3686() -> None:
    # RFC 3686 section 6, Test Vector #3: "Counter Block (1)" and "Counter Block (3)".
    ctr = encryption("ENCR_AES_CTR", 128)
    assert isinstance(ctr, AesCtr)
    keymat = h("7691be035e5020a8ac6e618529f9a0dc" "00e0017b")
    iv = h("27777f3f4a1786f0")
    assert ctr.counter_block(keymat, iv) == h("00 E0 01 7B 27 77 7F 3F 4A 17 86 F0 00 00 00 01")
    assert ctr.counter_block(keymat, iv, 3) == h("00 E0 01 7B 27 77 7F 3F 4A 17 86 F0 00 00 00 03")
    with pytest.raises(ConfigError, match="counter"):
        ctr.counter_block(keymat, iv, 0)


def test_aes_ctr_counter_range_rfc3686() -> None:
    """RFC 3686 2: the 32-bit block counter runs from 1 to 2^32-1 and must not wrap; anything else is refused
    with a ConfigError naming the counter (not an OverflowError or TypeError from int.to_bytes)."""
    ctr = encryption("ENCR_AES_CTR", 128)
    keymat, iv = h("7691be035e5020a8ac6e618529f9a0dc" "00e0017b"), h("27777f3f4a1786f0")
    assert ctr.counter_block(keymat, iv, 2**32 - 1) == h("00E0017B 27777F3F4A1786F0 FFFFFFFF")
    for bad in (0, -1, 2**32, 1.0, "1", True):  # True is no counter, though bool is an int
        with pytest.raises(ConfigError, match="block counter must be 1..2\\^32-1") as err:
            ctr.counter_block(keymat, iv, bad)  # type: ignore[arg-type]
        assert err.value.field == "counter"


def test_aes_ctr_refuses_data_that_would_wrap_the_counter(monkeypatch: pytest.MonkeyPatch) -> None:
    """At most 2^32-1 blocks of 16 bytes per IV (RFC 3686 2).  64 GiB is too much for a test, so the limit is
    lowered to 2 blocks: 32 bytes are the keystream of counters 1 and 2, one byte more is refused."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from ikelab import transforms_encr

    ctr = encryption("ENCR_AES_CTR", 128)
    keymat, iv = h("7691be035e5020a8ac6e618529f9a0dc" "00e0017b"), h("27777f3f4a1786f0")
    data = bytes(range(33))
    ref = Cipher(algorithms.AES(keymat[:16]), modes.CTR(keymat[16:] + iv + b"\0\0\0\1")).encryptor()
    want = ref.update(data[:32]) + ref.finalize()
    monkeypatch.setattr(transforms_encr, "_CTR_MAX_BLOCKS", 2)  # where AesCtr reads it
    assert ctr.encrypt(keymat, iv, data[:32]) == want
    for op in (ctr.encrypt, ctr.decrypt):
        with pytest.raises(ConfigError, match="33 bytes would wrap the 32-bit block counter"):
            op(keymat, iv, data)


# ---------------------------------------------------------------------------
# AES-GCM: McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test
# cases 2, 3, 4 (AES-128), 8, 9, 10 (AES-192), 14, 15, 16 (AES-256), all with a
# 96-bit IV, which RFC 4106 section 4 splits as salt(4) | IV(8).
# ---------------------------------------------------------------------------

_K = "feffe9928665731c6d6a8f9467308308"
_IV = "cafebabefacedbaddecaf888"
_P64 = ("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255")
_P60 = _P64[:120]
_A = "feedfacedeadbeeffeedfacedeadbeefabaddad2"
GCM_SPEC = [
    # case, key, iv, plaintext, aad, ciphertext, full 16-byte tag
    (2, "00" * 16, "00" * 12, "00" * 16, "", "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"),
    (3, _K, _IV, _P64, "",
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
     "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985", "4d5c2af327cd64a62cf35abd2ba6fab4"),
    (4, _K, _IV, _P60, _A,
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
     "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091", "5bc94fbc3221a5db94fae95ae7121a47"),
    (8, "00" * 24, "00" * 12, "00" * 16, "", "98e7247c07f0fe411c267e4384b0f600", "2ff58d80033927ab8ef4d4587514f0fb"),
    (9, _K + _K[:16], _IV, _P64, "",
     "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c"
     "7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710acade256", "9924a7c8587336bfb118024db8674a14"),
    (10, _K + _K[:16], _IV, _P60, _A,
     "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c"
     "7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710", "2519498e80f1478f37ba55bd6d27618c"),
    (14, "00" * 32, "00" * 12, "00" * 16, "", "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"),
    (15, _K + _K, _IV, _P64, "",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad", "b094dac5d93471bdec1a502270e3cc6c"),
    (16, _K + _K, _IV, _P60, _A,
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662", "76fc6ece0f4e1768cddf8853bb2d551b"),
]


@pytest.mark.parametrize(
    "case, key, iv, plaintext, aad, ciphertext, tag", GCM_SPEC, ids=[f"case{c[0]}" for c in GCM_SPEC]
)
@pytest.mark.parametrize("icv", [16, 12, 8])
def test_aes_gcm_spec_vectors(
    icv: int, case: int, key: str, iv: str, plaintext: str, aad: str, ciphertext: str, tag: str
) -> None:
    # GCM_8 and GCM_12 send the first 8 / 12 bytes of the same tag (RFC 4106 8.1, SP 800-38D 5.2.1.2).
    gcm = encryption(f"ENCR_AES_GCM_{icv}", len(h(key)) * 8)
    keymat = h(key) + h(iv)[:4]  # RFC 4106 8.1: KEYMAT = key | salt
    wire_iv = h(iv)[4:]
    expected = h(ciphertext) + h(tag)[:icv]
    assert gcm.nonce(keymat, wire_iv) == h(iv)
    assert gcm.encrypt(keymat, wire_iv, h(plaintext), h(aad)) == expected
    assert gcm.decrypt(keymat, wire_iv, expected, h(aad)) == h(plaintext)


# draft-mcgrew-gcm-test-01 (AES-GCM ESP test vectors for RFC 4106), packets 1, 2, 3 and 7:
# key, salt | IV (the "nonce"), AAD = SPI | sequence number, plaintext, ciphertext | 16-byte ICV.
GCM_ESP = [
    ("4c80cdefbb5d10da906ac73c3613a634", "2e443b684956ed7e3b244cfe", "000043218765432100000000",
     "45000048699a000080114db7c0a80102c0a801010a9bf15638d3010000010000"
     "00000000045f736970045f756470037369700963796265726369747902646b00"
     "0021000101020201",
     "fecf537e729d5b07dc30df528dd22b768d1b98736696a6fd348509fa13ceac34"
     "cfa2436f14a3f3cf65925bf1f4a13c5d15b21e1884f5ff6247aeabb786b93bce"
     "61bc17d768fd9732459018148f6cbe722fd04796562dfdb4"),
    ("feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "0000a5f80000000a",
     "4500003e698f000080114dccc0a80102c0a801010a980035002a2343b2d00100"
     "0001000000000000037369700963796265726369747902646b00000100010001",
     "deb22cd9b07c72c16e3a65beeb8df304a5a5897d33ae530f1ba76d5d114d2a5c"
     "3de81827c10e9a4f51330d0eec416642cfbb85a5b47e48a4ec3b9ba95d918bd1"
     "83b70d3aa8bc6ee4c309e9d85a41ad4a"),
    ("abbccddef00112233445566778899aababbccddef00112233445566778899aab", "112233440102030405060708",
     "4a2cbfe300000002",
     "4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000"
     "7002400020bf0000020405b40101040201020201",
     "ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763"
     "748a637985771d347f0545659f14e99def842d8eb335f4eecfdbf831824b4c49"
     "15956c96"),
    ("feffe9928665731c6d6a8f9467308308feffe9928665731c", "cafebabefacedbaddecaf888", "0000a5f80000000a",
     "45000028a4ad4000400678800a01038f0a010612802306b8cb712602dd6bb03e"
     "501016d075680001",
     "a5b1f8066029aea40e598b8122de02420938b3ab33f828e687b8858b5bfbdbd0"
     "315b27452144cc7795457b9652037f5318027b5b4cd7a636"),
]


@pytest.mark.parametrize("key, nonce, aad, plaintext, sealed", GCM_ESP, ids=["pkt1", "pkt2", "pkt3", "pkt7"])
def test_aes_gcm_esp_draft_mcgrew(key: str, nonce: str, aad: str, plaintext: str, sealed: str) -> None:
    gcm = encryption("ENCR_AES_GCM_16", len(h(key)) * 8)
    keymat, iv = h(key) + h(nonce)[:4], h(nonce)[4:]
    assert gcm.encrypt(keymat, iv, h(plaintext), h(aad)) == h(sealed)
    assert gcm.decrypt(keymat, iv, h(sealed), h(aad)) == h(plaintext)


# ---------------------------------------------------------------------------
# AES-CCM.  RFC 3610's packet vectors use 13-byte nonces and NIST SP 800-38C
# Appendix C has none of 11 bytes, so the independent vectors are from NIST's
# CAVS CCM validation file VNT192 ("Variable Nonce Test", AES-192, Alen 32,
# Tlen 16), section [Nlen = 11] (as reproduced in DigiCert TrustCore's
# aes_ccm_test.c): key, nonce, adata, payload, ciphertext | tag.
# ---------------------------------------------------------------------------

CCM_NIST_VNT192_N11 = [
    ("7a182e4e3367194662d614bb11da11e86596f724204f48ff", "d3284d1de51559c1ddbfe6",
     "21214ac2314fdfe07bc4d066245a97b1a10470df2a6d6b926cdcbff07f5b61ef",
     "88a5c1c2ae4eb463a3283dc5c81f665b0f6d54495f6cc9d43aa8ee179d3950f8",
     "65ed1e3919d208e9e5267370b9cf9b1431ef0c584dd2cf057d243a03523ca756"
     "2a18840cac2199030c008741d74fb220"),
    ("7a182e4e3367194662d614bb11da11e86596f724204f48ff", "50f7d182a3d5f0388465e4",
     "6389bbe519992fd98a97842ecc4d2b2569328c10bd3d93c09ffb6b4044e089c4",
     "68e9cca19882c4b0c817d0645a97f74016b3f0ac133829eadb9c0e4bcad687a3",
     "72836a9a3c196e6c6e49b9a7808297d1bc2f0f02f018bb5418a4264215a9cadf"
     "691d71c18798554efcc028599a7d1e21"),
]


@pytest.mark.parametrize("key, nonce, adata, payload, sealed", CCM_NIST_VNT192_N11, ids=["count0", "count1"])
def test_aes_ccm_nist_11_byte_nonce(key: str, nonce: str, adata: str, payload: str, sealed: str) -> None:
    ccm = encryption("ENCR_AES_CCM_16", 192)
    keymat, iv = h(key) + h(nonce)[:3], h(nonce)[3:]  # RFC 4309 4: nonce = salt(3) | IV(8)
    assert ccm.nonce(keymat, iv) == h(nonce)
    assert ccm.encrypt(keymat, iv, h(payload), h(adata)) == h(sealed)
    assert ccm.decrypt(keymat, iv, h(sealed), h(adata)) == h(payload)


@pytest.mark.parametrize("icv", [8, 12, 16])
@pytest.mark.parametrize("bits", [128, 192, 256])
def test_aes_ccm_tag_lengths_match_aesccm(icv: int, bits: int) -> None:
    # Cross-check the RFC 4309 nonce layout and the tag length against
    # cryptography's AESCCM called directly with the 11-byte nonce.
    ccm = encryption(f"ENCR_AES_CCM_{icv}", bits)
    key, salt, iv = bytes(range(bits // 8)), b"\xa0\xa1\xa2", b"\x10\x11\x12\x13\x14\x15\x16\x17"
    aad, plaintext = b"\x01\x02\x03\x04\x00\x00\x00\x05", b"IKEv2 teaching payload\x01\x02"
    expected = AESCCM(key, tag_length=icv).encrypt(salt + iv, plaintext, aad)
    sealed = ccm.encrypt(key + salt, iv, plaintext, aad)
    assert sealed == expected and len(sealed) == len(plaintext) + icv
    assert ccm.decrypt(key + salt, iv, sealed, aad) == plaintext


def test_ccm_tag_is_not_a_prefix_across_lengths() -> None:
    # Unlike GCM, CCM encodes the tag length in its first block (RFC 3610 2.2), so CCM_8's
    # ICV is not the first half of CCM_16's: the transforms are not interchangeable.
    keymat, iv = bytes(19), bytes(8)
    short = encryption("ENCR_AES_CCM_8", 128).encrypt(keymat, iv, b"abcd")
    long_ = encryption("ENCR_AES_CCM_16", 128).encrypt(keymat, iv, b"abcd")
    assert short[4:] != long_[4:12]


# ---------------------------------------------------------------------------
# RFC 7634 Appendix A: ChaCha20-Poly1305 ESP example
# ---------------------------------------------------------------------------


def test_chacha20_poly1305_rfc7634_appendix_a() -> None:
    keymat = h("""80 81 82 83 84 85 86 87 88 89 8a 8b 8c 8d 8e 8f
                  90 91 92 93 94 95 96 97 98 99 9a 9b 9c 9d 9e 9f
                  a0 a1 a2 a3""")
    iv = h("10 11 12 13 14 15 16 17")
    aad = h("01 02 03 04 00 00 00 05")  # SPI 0x01020304, sequence number 5
    plaintext = h("""45 00 00 54 a6 f2 00 00 40 01 e7 78 c6 33 64 05
                     c0 00 02 05 08 00 5b 7a 3a 08 00 00 55 3b ec 10
                     00 07 36 27 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13
                     14 15 16 17 18 19 1a 1b 1c 1d 1e 1f 20 21 22 23
                     24 25 26 27 28 29 2a 2b 2c 2d 2e 2f 30 31 32 33
                     34 35 36 37 01 02 02 04""")
    ciphertext = h("""24 03 94 28 b9 7f 41 7e 3c 13 75 3a 4f 05 08 7b
                      67 c3 52 e6 a7 fa b1 b9 82 d4 66 ef 40 7a e5 c6
                      14 ee 80 99 d5 28 44 eb 61 aa 95 df ab 4c 02 f7
                      2a a7 1e 7c 4c 4f 64 c9 be fe 2f ac c6 38 e8 f3
                      cb ec 16 3f ac 46 9b 50 27 73 f6 fb 94 e6 64 da
                      91 65 b8 28 29 f6 41 e0""")
    tag = h("76 aa a8 26 6b 7f b0 f7 b1 1b 36 99 07 e1 ad 43")
    chacha = encryption("ENCR_CHACHA20_POLY1305")
    assert chacha.nonce(keymat, iv) == h("a0 a1 a2 a3 10 11 12 13 14 15 16 17")
    assert chacha.encrypt(keymat, iv, plaintext, aad) == ciphertext + tag
    assert chacha.decrypt(keymat, iv, ciphertext + tag, aad) == plaintext


# ---------------------------------------------------------------------------
# 3DES: NIST SP 800-67 (Rev. 1/2) Appendix B example, 3-key TDEA-ECB of
# "The qufck brown fox jump".  With IV = 0 the first CBC block is the ECB
# block; feeding P[i] XOR C[i-1] makes every CBC block equal the ECB block.
# ---------------------------------------------------------------------------


def test_3des_sp800_67_example() -> None:
    key = h("0123456789ABCDEF 23456789ABCDEF01 456789ABCDEF0123")
    ecb_plain = [h("5468652071756663"), h("6B2062726F776E20"), h("666F78206A756D70")]
    ecb_cipher = [h("A826FD8CE53B855F"), h("CCE21C8112256FE6"), h("68D5C05DD9B6B900")]
    chained = [ecb_plain[0]] + [bytes(a ^ b for a, b in zip(p, c)) for p, c in zip(ecb_plain[1:], ecb_cipher)]
    tdes = weak_encryption("ENCR_3DES")
    assert tdes.encrypt(key, bytes(8), b"".join(chained)) == b"".join(ecb_cipher)
    assert tdes.decrypt(key, bytes(8), b"".join(ecb_cipher)) == b"".join(chained)


# ---------------------------------------------------------------------------
# Integrity
# ---------------------------------------------------------------------------

# RFC 2202 section 3 (HMAC-SHA-1), cases with a 20-byte key as RFC 2404 needs; the ICV
# is the first 96 bits (RFC 2404 2; case 5 prints "digest-96").
SHA1_96 = [
    ("0b" * 20, b"Hi There".hex(), "b617318655057264e28bc0b6fb378c8ef146be00"),
    ("aa" * 20, "dd" * 50, "125d7342b9ac11cd91a39af48aa17b4f63f175d3"),
    ("0c" * 20, b"Test With Truncation".hex(), "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"),
]


@pytest.mark.parametrize("key, data, digest", SHA1_96, ids=["case1", "case3", "case5"])
def test_hmac_sha1_96_rfc2202(key: str, data: str, digest: str) -> None:
    auth = integrity("AUTH_HMAC_SHA1_96")
    assert auth.mac(h(key), h(data)) == h(digest)
    assert auth.compute(h(key), h(data)) == h(digest)[:12]
    auth.verify(h(key), h(data), h(digest)[:12])


def test_hmac_sha1_96_rfc2202_digest96() -> None:
    # RFC 2202 test case 5 prints the truncated value itself.
    assert integrity(2).compute(h("0c" * 20), b"Test With Truncation") == h("4c1a03424b55e07fe7f27be1")


# RFC 4868 section 2.7.2 (Authentication test vectors): key of the HMAC output size,
# full PRF-HMAC-SHA-* value; the ICV is its first half.
RFC4868_AUTH = [
    ("AUTH_HMAC_SHA2_256_128", "0b" * 32, b"Hi There".hex(),
     "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"),
    ("AUTH_HMAC_SHA2_256_128", b"Jefe".hex() * 8, b"what do ya want for nothing?".hex(),
     "167f928588c5cc2eef8e3093caa0e87c9ff566a14794aa61648d81621a2a40c6"),
    ("AUTH_HMAC_SHA2_256_128", "aa" * 32, "dd" * 50,
     "cdcb1220d1ecccea91e53aba3092f962e549fe6ce9ed7fdc43191fbde45c30b0"),
    ("AUTH_HMAC_SHA2_256_128", "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20", "cd" * 50,
     "372efcf9b40b35c2115b1346903d2ef42fced46f0846e7257bb156d3d7b30d3f"),
    ("AUTH_HMAC_SHA2_384_192", "0b" * 48, b"Hi There".hex(),
     "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee9737a959796489bddbc4c5df61d5b3297b4fb68dab9f1b582c2"),
    ("AUTH_HMAC_SHA2_384_192", b"Jefe".hex() * 12, b"what do ya want for nothing?".hex(),
     "2c7353974f1842fd66d53c452ca42122b28c0b594cfb184da86a368e9b8e16f5349524ca4e82400cbde0686d403371c9"),
    ("AUTH_HMAC_SHA2_512_256", "0b" * 64, b"Hi There".hex(),
     "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8"
     "ac2878ebd5803f6f0b61dbce5e251ff8789a4722c1be65aea45fd464e89f8f5b"),
    ("AUTH_HMAC_SHA2_512_256", b"Jefe".hex() * 16, b"what do ya want for nothing?".hex(),
     "cb370917ae8a7ce28cfd1d8f4705d6141c173b2a9362c15df235dfb251b15454"
     "6aa334ae9fb9afc2184932d8695e397bfa0ffb93466cfcceaae38c833b7dba38"),
]


@pytest.mark.parametrize(
    "alg, key, data, full",
    RFC4868_AUTH,
    ids=["AUTH256-1", "AUTH256-2", "AUTH256-3", "AUTH256-4", "AUTH384-1", "AUTH384-2", "AUTH512-1", "AUTH512-2"],
)
def test_hmac_sha2_rfc4868(alg: str, key: str, data: str, full: str) -> None:
    auth = integrity(alg)
    assert auth.mac(h(key), h(data)) == h(full)
    icv = h(full)[: len(h(full)) // 2]
    assert auth.compute(h(key), h(data)) == icv
    auth.verify(h(key), h(data), icv)


# RFC 2202 section 2 (HMAC-MD5) cases with a 16-byte key; RFC 2403 2 truncates to 96 bits.
MD5_96 = [
    ("0b" * 16, b"Hi There".hex(), "9294727a3638bb1c13f48ef8158bfc9d"),
    ("aa" * 16, "dd" * 50, "56be34521d144c88dbb8c733f0e8b3f6"),
    ("0c" * 16, b"Test With Truncation".hex(), "56461ef2342edc00f9bab995690efd4c"),
]


@pytest.mark.parametrize("key, data, digest", MD5_96, ids=["case1", "case3", "case5"])
def test_hmac_md5_96_rfc2202(key: str, data: str, digest: str) -> None:
    auth = weak_integrity("AUTH_HMAC_MD5_96")
    assert auth.compute(h(key), h(data)) == h(digest)[:12]
    auth.verify(h(key), h(data), h(digest)[:12])


# RFC 3566 section 4.6: AES-XCBC-MAC-96 test cases #1 - #7, key 000102..0f.
XCBC = [
    ("", "75f0251d528ac01c4573dfd584d79f29"),
    ("000102", "5b376580ae2f19afe7219ceef172756f"),
    ("000102030405060708090a0b0c0d0e0f", "d2a246fa349b68a79998a4394ff7a263"),
    ("000102030405060708090a0b0c0d0e0f10111213", "47f51b4564966215b8985c63055ed308"),
    (_P32, "f54f0ec8d2b9f3d36807734bd5283fd4"),
    (_P32 + "2021", "becbb3bccdb518a30677d5481fb6b4d8"),
    ("00" * 1000, "f0dafee895db30253761103b5d84528f"),
]


@pytest.mark.parametrize("message, mac", XCBC, ids=[f"#{i}" for i in range(1, 8)])
def test_aes_xcbc_96_rfc3566(message: str, mac: str) -> None:
    auth = integrity("AUTH_AES_XCBC_96")
    key = h("000102030405060708090a0b0c0d0e0f")
    assert auth.mac(key, h(message)) == h(mac)
    assert auth.compute(key, h(message)) == h(mac)[:12]  # "AES-XCBC-MAC-96"
    auth.verify(key, h(message), h(mac)[:12])


# RFC 4494 section 4: AES-CMAC-96 examples 1 - 4 (key 2b7e1516...; messages are prefixes of M).
_CMAC_M = ("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
           "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
CMAC = [
    (0, "bb1d6929e95937287fa37d12"),
    (16, "070a16b46b4d4144f79bdd9d"),
    (40, "dfa66747de9ae63030ca3261"),
    (64, "51f0bebf7e3b9d92fc497417"),
]


@pytest.mark.parametrize("length, icv", CMAC, ids=["ex1", "ex2", "ex3", "ex4"])
def test_aes_cmac_96_rfc4494(length: int, icv: str) -> None:
    auth = integrity("AUTH_AES_CMAC_96")
    key = h("2b7e151628aed2a6abf7158809cf4f3c")
    assert auth.compute(key, h(_CMAC_M)[:length]) == h(icv)
    auth.verify(key, h(_CMAC_M)[:length], h(icv))


# ---------------------------------------------------------------------------
# Sizes (the brief's table, from the RFCs cited in the module docstring)
# ---------------------------------------------------------------------------

ENCR_SIZES = [
    # alg, key_bits, key_len, iv_len, block_size, icv_len, salt_len
    ("ENCR_AES_CBC", 128, 16, 16, 16, 0, 0),
    ("ENCR_AES_CBC", 256, 32, 16, 16, 0, 0),
    ("ENCR_AES_CTR", 128, 20, 8, 1, 0, 4),
    ("ENCR_AES_CTR", 192, 28, 8, 1, 0, 4),
    ("ENCR_AES_GCM_8", 128, 20, 8, 1, 8, 4),
    ("ENCR_AES_GCM_12", 192, 28, 8, 1, 12, 4),
    ("ENCR_AES_GCM_16", 256, 36, 8, 1, 16, 4),
    ("ENCR_AES_CCM_8", 128, 19, 8, 1, 8, 3),
    ("ENCR_AES_CCM_12", 256, 35, 8, 1, 12, 3),
    ("ENCR_AES_CCM_16", 128, 19, 8, 1, 16, 3),
    ("ENCR_CHACHA20_POLY1305", None, 36, 8, 1, 16, 4),
    ("ENCR_NULL", None, 0, 0, 1, 0, 0),
]


@pytest.mark.parametrize("alg, bits, key_len, iv_len, block, icv, salt", ENCR_SIZES)
def test_encryption_sizes(
    alg: str, bits: int | None, key_len: int, iv_len: int, block: int, icv: int, salt: int
) -> None:
    enc = encryption(alg, bits)
    assert (enc.key_len, enc.key_bits, enc.iv_len, enc.block_size, enc.icv_len, enc.salt_len) == (
        key_len, bits, iv_len, block, icv, salt,
    )
    assert enc.is_aead == (icv > 0)
    assert enc.cipher_key_len == key_len - salt
    assert enc.name == alg and enc.transform_id == EncrId[alg]
    assert not enc.is_weak


def test_3des_sizes() -> None:
    tdes = weak_encryption("ENCR_3DES")
    assert (tdes.key_len, tdes.iv_len, tdes.block_size, tdes.icv_len, tdes.is_weak) == (24, 8, 8, 0, True)


@pytest.mark.parametrize(
    "alg, key_len, icv_len",
    [("AUTH_HMAC_SHA1_96", 20, 12), ("AUTH_HMAC_SHA2_256_128", 32, 16), ("AUTH_HMAC_SHA2_384_192", 48, 24),
     ("AUTH_HMAC_SHA2_512_256", 64, 32), ("AUTH_AES_XCBC_96", 16, 12), ("AUTH_AES_CMAC_96", 16, 12)],
)
def test_integrity_sizes(alg: str, key_len: int, icv_len: int) -> None:
    auth = integrity(alg)
    assert (auth.key_len, auth.icv_len, auth.transform_id) == (key_len, icv_len, IntegId[alg])


def test_algorithm_spellings() -> None:
    # Name, number and enum member all select the same transform.
    assert encryption("ENCR_AES_GCM_16", 128) == encryption(20, 128) == encryption(EncrId.ENCR_AES_GCM_16, 128)
    assert integrity("AUTH_HMAC_SHA2_256_128") == integrity(12) == integrity(IntegId.AUTH_HMAC_SHA2_256_128)
    assert key_lengths("ENCR_AES_CTR") == (128, 192, 256)
    assert key_lengths("ENCR_CHACHA20_POLY1305") == ()
    assert set(ENCRYPTION_IDS) >= {EncrId.ENCR_AES_CBC, EncrId.ENCR_CHACHA20_POLY1305}
    assert IntegId.NONE not in INTEGRITY_IDS


def test_classes_and_bytes_like_inputs() -> None:
    from ikelab.transforms import AesCbc, AesCcm, AesGcm, ChaCha20Poly1305Cipher, NullEncryption, TripleDesCbc

    assert type(encryption("ENCR_AES_CBC", 128)) is AesCbc
    assert type(encryption("ENCR_AES_GCM_12", 128)) is AesGcm
    assert type(encryption("ENCR_AES_CCM_8", 128)) is AesCcm
    assert type(encryption("ENCR_CHACHA20_POLY1305")) is ChaCha20Poly1305Cipher
    assert type(encryption("ENCR_NULL")) is NullEncryption
    assert type(weak_encryption("ENCR_3DES")) is TripleDesCbc
    # RFC 3602 case #1 again, with bytearray and memoryview arguments.
    key, iv = bytearray(h(RFC3602[0][0])), memoryview(h(RFC3602[0][1]))
    assert encryption("ENCR_AES_CBC", 128).encrypt(key, iv, bytearray(b"Single block msg")) == h(RFC3602[0][3])
    assert integrity(2).compute(bytearray(b"\x0c" * 20), memoryview(b"Test With Truncation")) == h(
        "4c1a03424b55e07fe7f27be1"
    )


def test_split_keymat_and_ike_allowed() -> None:
    gcm = encryption("ENCR_AES_GCM_16", 128)
    assert gcm.split_keymat(bytes(range(20))) == (bytes(range(16)), bytes(range(16, 20)))
    assert gcm.ike_allowed and not encryption("ENCR_NULL").ike_allowed


# ---------------------------------------------------------------------------
# Wireshark decryption-table names.  Strings from Wireshark's
# epan/dissectors/packet-isakmp.c (vs_ikev2_encr_algs, vs_ikev2_auth_algs) and
# packet-esp.c (esp_encryption_type_vals, esp_authentication_type_vals).
# ---------------------------------------------------------------------------

WIRESHARK_ENCR = [
    ("ENCR_AES_CBC", 128, "AES-CBC-128 [RFC3602]", "AES-CBC [RFC3602]"),
    ("ENCR_AES_CBC", 192, "AES-CBC-192 [RFC3602]", "AES-CBC [RFC3602]"),
    ("ENCR_AES_CBC", 256, "AES-CBC-256 [RFC3602]", "AES-CBC [RFC3602]"),
    ("ENCR_AES_CTR", 128, "AES-CTR-128 [RFC5930]", "AES-CTR [RFC3686]"),
    ("ENCR_AES_CTR", 256, "AES-CTR-256 [RFC5930]", "AES-CTR [RFC3686]"),
    ("ENCR_AES_GCM_8", 128, "AES-GCM-128 with 8 octet ICV [RFC5282]", "AES-GCM with 8 octet ICV [RFC4106]"),
    ("ENCR_AES_GCM_12", 192, "AES-GCM-192 with 12 octet ICV [RFC5282]", "AES-GCM with 12 octet ICV [RFC4106]"),
    ("ENCR_AES_GCM_16", 128, "AES-GCM-128 with 16 octet ICV [RFC5282]", "AES-GCM with 16 octet ICV [RFC4106]"),
    ("ENCR_AES_GCM_16", 256, "AES-GCM-256 with 16 octet ICV [RFC5282]", "AES-GCM with 16 octet ICV [RFC4106]"),
    ("ENCR_AES_CCM_8", 256, "AES-CCM-256 with 8 octet ICV [RFC5282]", None),
    ("ENCR_AES_CCM_16", 128, "AES-CCM-128 with 16 octet ICV [RFC5282]", None),
    ("ENCR_CHACHA20_POLY1305", None, None, "ChaCha20 with Poly1305 [RFC7634]"),
    ("ENCR_NULL", None, "NULL [RFC2410]", "NULL"),
]


@pytest.mark.parametrize("alg, bits, ike, esp", WIRESHARK_ENCR)
def test_wireshark_encryption_names(alg: str, bits: int | None, ike: str | None, esp: str | None) -> None:
    enc = encryption(alg, bits)
    assert (enc.wireshark_ikev2_name, enc.wireshark_esp_name) == (ike, esp)


def test_wireshark_weak_and_integrity_names() -> None:
    tdes = weak_encryption("ENCR_3DES")
    assert (tdes.wireshark_ikev2_name, tdes.wireshark_esp_name) == ("3DES [RFC2451]", "TripleDES-CBC [RFC2451]")
    md5 = weak_integrity("AUTH_HMAC_MD5_96")
    assert (md5.wireshark_ikev2_name, md5.wireshark_esp_name) == ("HMAC_MD5_96 [RFC2403]", "HMAC-MD5-96 [RFC2403]")
    expected = {
        "AUTH_HMAC_SHA1_96": ("HMAC_SHA1_96 [RFC2404]", "HMAC-SHA-1-96 [RFC2404]"),
        "AUTH_HMAC_SHA2_256_128": ("HMAC_SHA2_256_128 [RFC4868]", "HMAC-SHA-256-128 [RFC4868]"),
        "AUTH_HMAC_SHA2_384_192": ("HMAC_SHA2_384_192 [RFC4868]", "HMAC-SHA-384-192 [RFC4868]"),
        "AUTH_HMAC_SHA2_512_256": ("HMAC_SHA2_512_256 [RFC4868]", "HMAC-SHA-512-256 [RFC4868]"),
        "AUTH_AES_XCBC_96": (None, None),
        "AUTH_AES_CMAC_96": (None, None),
    }
    for alg, names in expected.items():
        auth = integrity(alg)
        assert (auth.wireshark_ikev2_name, auth.wireshark_esp_name) == names, alg
    assert (WIRESHARK_IKEV2_INTEG_NONE, WIRESHARK_ESP_AUTH_NULL) == ("NONE [RFC4306]", "NULL")
    suite = cipher_suite("ENCR_AES_GCM_16", key_bits=128)
    assert (suite.wireshark_ikev2_integrity_name, suite.wireshark_esp_integrity_name) == ("NONE [RFC4306]", "NULL")


# ---------------------------------------------------------------------------
# Cipher suites
# ---------------------------------------------------------------------------


def test_cipher_suite_pairs() -> None:
    aead = cipher_suite("ENCR_AES_GCM_16", "NONE", key_bits=256)
    assert aead.integrity is None and aead.icv_len == 16 and aead.keymat_len == 36
    cbc = cipher_suite("ENCR_AES_CBC", "AUTH_HMAC_SHA2_256_128", key_bits=128)
    assert cbc.integrity is not None and cbc.icv_len == 16 and cbc.keymat_len == 16 + 32
    null = cipher_suite("ENCR_NULL", "AUTH_HMAC_SHA1_96")
    assert null.keymat_len == 20 and null.wireshark_esp_integrity_name == "HMAC-SHA-1-96 [RFC2404]"


def test_cipher_suite_errors() -> None:
    with pytest.raises(ConfigError, match="ENCR_AES_GCM_16.*AUTH_HMAC_SHA2_256_128"):
        cipher_suite("ENCR_AES_GCM_16", "AUTH_HMAC_SHA2_256_128", key_bits=128)
    with pytest.raises(ConfigError, match="ENCR_NULL"):
        cipher_suite("ENCR_NULL")
    # NULL and NULL protects nothing: refused outright, allow_weak or not (RFC 4303 3.2), never a mere warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for integ in (None, "NONE"):
            with pytest.raises(ConfigError, match="must not be NULL and NULL") as err:
                cipher_suite("ENCR_NULL", integ, allow_weak=True)
            assert not isinstance(err.value, WeakAlgorithmError) and err.value.field == "integ"
    with pytest.raises(WeakAlgorithmError, match="ENCR_AES_CBC.*confidentiality-only"):
        cipher_suite("ENCR_AES_CBC", key_bits=128)
    with pytest.warns(WeakAlgorithmWarning, match="confidentiality-only"):
        suite = cipher_suite("ENCR_AES_CBC", None, key_bits=128, allow_weak=True)
    assert suite.integrity is None and suite.icv_len == 0


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_unknown_and_unimplemented_algorithms() -> None:
    with pytest.raises(UnknownAlgorithmError, match="ENCR_FOO"):
        encryption("ENCR_FOO", 128)
    with pytest.raises(UnknownAlgorithmError, match="999"):
        encryption(999)
    with pytest.raises(UnknownAlgorithmError, match="ENCR_DES .*not implemented"):
        encryption("ENCR_DES")
    with pytest.raises(UnknownAlgorithmError, match="ENCR_CAMELLIA_CBC"):
        encryption("ENCR_CAMELLIA_CBC", 128)
    with pytest.raises(UnknownAlgorithmError, match="AUTH_DES_MAC"):
        integrity("AUTH_DES_MAC")
    with pytest.raises(UnknownAlgorithmError, match="AUTH_NOPE"):
        integrity("AUTH_NOPE")
    with pytest.raises(UnknownAlgorithmError):
        key_lengths("ENCR_BLOWFISH")


@pytest.mark.parametrize("bits", [None, 64, 100, 512, True, "128", 128.0])
def test_aes_key_bits_errors(bits: object) -> None:
    with pytest.raises(ConfigError, match="ENCR_AES_CBC"):
        encryption("ENCR_AES_CBC", bits)  # type: ignore[arg-type]


@pytest.mark.parametrize("alg", ["ENCR_CHACHA20_POLY1305", "ENCR_NULL"])
def test_fixed_size_cipher_refuses_key_bits(alg: str) -> None:
    with pytest.raises(ConfigError, match=f"{alg}.*256"):
        encryption(alg, 256)


def test_integrity_none_is_an_error() -> None:
    # NONE is a real value (an AEAD has no integrity transform, RFC 7296 3.3.3), not an unknown algorithm
    with pytest.raises(ConfigError, match="NONE builds no transform: with an AEAD cipher skip integrity") as err:
        integrity("NONE")
    assert not isinstance(err.value, UnknownAlgorithmError)
    with pytest.raises(ConfigError, match="NONE"):
        integrity(0)


def test_weak_algorithms_refused_without_allow_weak() -> None:
    with pytest.raises(WeakAlgorithmError, match="ENCR_3DES.*Sweet32"):
        encryption("ENCR_3DES")
    with pytest.raises(WeakAlgorithmError, match="AUTH_HMAC_MD5_96.*MD5"):
        integrity("AUTH_HMAC_MD5_96")
    with pytest.warns(WeakAlgorithmWarning, match="64-bit block"):
        encryption(3, allow_weak=True)
    with pytest.warns(WeakAlgorithmWarning, match="collisions"):
        integrity(1, allow_weak=True)


@pytest.mark.parametrize("alg, bits", [("ENCR_AES_CBC", 128), ("ENCR_AES_GCM_16", 256), ("ENCR_AES_CCM_8", 128),
                                       ("ENCR_CHACHA20_POLY1305", None), ("ENCR_AES_CTR", 192)])
def test_wrong_key_and_iv_lengths(alg: str, bits: int | None) -> None:
    enc = encryption(alg, bits)
    good_key, good_iv = bytes(enc.key_len), bytes(enc.iv_len)
    data = bytes(16)
    for op in (enc.encrypt, enc.decrypt):
        with pytest.raises(ConfigError, match=rf"{alg}: key must be {enc.key_len} bytes.*got {enc.key_len - 1}"):
            op(bytes(enc.key_len - 1), good_iv, data + bytes(enc.icv_len))
        with pytest.raises(ConfigError, match=rf"{alg}: key must be .*got {enc.key_len + 4}"):
            op(bytes(enc.key_len + 4), good_iv, data + bytes(enc.icv_len))
        with pytest.raises(ConfigError, match=rf"{alg}: IV must be {enc.iv_len} bytes, got 12"):
            op(good_key, bytes(12), data + bytes(enc.icv_len))
        with pytest.raises(ConfigError, match="must be bytes, not str"):
            op(good_key, good_iv, "text")  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="key must be bytes, not NoneType"):
            op(None, good_iv, data)  # type: ignore[arg-type]


def test_cbc_length_and_aad_errors() -> None:
    cbc = encryption("ENCR_AES_CBC", 128)
    with pytest.raises(ConfigError, match="plaintext length 15 is not a multiple of the 16-byte block"):
        cbc.encrypt(bytes(16), bytes(16), bytes(15))
    with pytest.raises(ConfigError, match="ciphertext length 17"):
        cbc.decrypt(bytes(16), bytes(16), bytes(17))
    with pytest.raises(ConfigError, match="ENCR_AES_CBC is not an AEAD"):
        cbc.encrypt(bytes(16), bytes(16), bytes(16), aad=b"header")
    tdes = weak_encryption("ENCR_3DES")
    with pytest.raises(ConfigError, match="8-byte block"):
        tdes.encrypt(bytes(24), bytes(8), bytes(12))
    null = encryption("ENCR_NULL")
    with pytest.raises(ConfigError, match="IV must be 0 bytes"):
        null.encrypt(b"", bytes(8), b"x")


@pytest.mark.parametrize("icv", [8, 12, 16])
def test_aes_gcm_rejects_a_changed_tag_ciphertext_or_aad(icv: int) -> None:
    # GCM_16 decrypts with the one-shot AESGCM class, GCM_8/12 with the mode API: both must refuse
    gcm = encryption(f"ENCR_AES_GCM_{icv}", 128)
    key, iv, aad = bytes(range(20)), bytes(8), b"IKE header"
    sealed = gcm.encrypt(key, iv, b"inner payloads", aad)
    assert gcm.decrypt(key, iv, sealed, aad) == b"inner payloads"
    for bad_sealed, bad_aad in ((sealed[:-1] + bytes((sealed[-1] ^ 1,)), aad), (bytes((sealed[0] ^ 1,)) + sealed[1:], aad), (sealed, b"IKE headeR")):
        with pytest.raises(IntegrityError, match=f"ENCR_AES_GCM_{icv}: ICV does not verify"):
            gcm.decrypt(key, iv, bad_sealed, bad_aad)


@pytest.mark.parametrize("alg", ["ENCR_AES_GCM_8", "ENCR_AES_CCM_12", "ENCR_CHACHA20_POLY1305"])
def test_aead_input_shorter_than_icv(alg: str) -> None:
    enc = encryption(alg, None if "CHACHA" in alg else 128)
    with pytest.raises(IntegrityError, match=f"{alg}: {enc.icv_len - 1} bytes cannot hold"):
        enc.decrypt(bytes(enc.key_len), bytes(8), bytes(enc.icv_len - 1))


def test_integrity_argument_errors() -> None:
    auth = integrity("AUTH_HMAC_SHA2_256_128")
    with pytest.raises(ConfigError, match="AUTH_HMAC_SHA2_256_128: key must be 32 bytes, got 20"):
        auth.compute(bytes(20), b"data")
    with pytest.raises(ConfigError, match="data must be bytes"):
        auth.compute(bytes(32), "data")  # type: ignore[arg-type]
    good = auth.compute(bytes(32), b"data")
    with pytest.raises(IntegrityError, match="ICV must be 16 bytes, got 32"):
        auth.verify(bytes(32), b"data", good + good)
    with pytest.raises(IntegrityError, match="ICV must be 16 bytes, got 12"):
        auth.verify(bytes(32), b"data", good[:12])
    xcbc = integrity("AUTH_AES_XCBC_96")
    with pytest.raises(ConfigError, match="AUTH_AES_XCBC_96: key must be 16 bytes, got 32"):
        xcbc.compute(bytes(32), b"")


# ---------------------------------------------------------------------------
# Properties (Hypothesis)
# ---------------------------------------------------------------------------

_ALL_CIPHERS = [
    ("ENCR_AES_CBC", 128), ("ENCR_AES_CBC", 192), ("ENCR_AES_CBC", 256),
    ("ENCR_AES_CTR", 128), ("ENCR_AES_CTR", 256),
    ("ENCR_AES_GCM_8", 128), ("ENCR_AES_GCM_12", 192), ("ENCR_AES_GCM_16", 256),
    ("ENCR_AES_CCM_8", 128), ("ENCR_AES_CCM_12", 192), ("ENCR_AES_CCM_16", 256),
    ("ENCR_CHACHA20_POLY1305", None), ("ENCR_NULL", None),
]
_AEADS = [c for c in _ALL_CIPHERS if "GCM" in c[0] or "CCM" in c[0] or "CHACHA" in c[0]]
_INTEGS = ["AUTH_HMAC_SHA1_96", "AUTH_HMAC_SHA2_256_128", "AUTH_HMAC_SHA2_384_192", "AUTH_HMAC_SHA2_512_256",
           "AUTH_AES_XCBC_96", "AUTH_AES_CMAC_96"]


def _material(draw: st.DrawFn, enc: Encryption) -> tuple[bytes, bytes, bytes, bytes]:
    key = draw(st.binary(min_size=enc.key_len, max_size=enc.key_len))
    iv = draw(st.binary(min_size=enc.iv_len, max_size=enc.iv_len))
    blocks = draw(st.integers(min_value=0, max_value=80 // enc.block_size))
    plaintext = draw(st.binary(min_size=blocks * enc.block_size, max_size=blocks * enc.block_size))
    aad = draw(st.binary(max_size=24)) if enc.is_aead else b""
    return key, iv, plaintext, aad


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(_ALL_CIPHERS), st.data())
def test_round_trip(cipher: tuple[str, int | None], data: st.DataObject) -> None:
    enc = encryption(*cipher)
    key, iv, plaintext, aad = _material(data.draw, enc)
    sealed = enc.encrypt(key, iv, plaintext, aad)
    assert len(sealed) == len(plaintext) + enc.icv_len
    assert enc.decrypt(key, iv, sealed, aad) == plaintext


@settings(max_examples=15, deadline=None)
@given(st.data())
def test_round_trip_3des(data: st.DataObject) -> None:
    tdes = weak_encryption("ENCR_3DES")
    key, iv, plaintext, _ = _material(data.draw, tdes)
    assert tdes.decrypt(key, iv, tdes.encrypt(key, iv, plaintext)) == plaintext


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(_AEADS), st.data())
def test_aead_any_bit_flip_is_rejected(cipher: tuple[str, int | None], data: st.DataObject) -> None:
    enc = encryption(*cipher)
    key, iv, plaintext, aad = _material(data.draw, enc)
    sealed = enc.encrypt(key, iv, plaintext, aad)
    target = data.draw(st.sampled_from(["sealed", "aad"] if aad else ["sealed"]))
    buf = bytearray(sealed if target == "sealed" else aad)
    bit = data.draw(st.integers(min_value=0, max_value=len(buf) * 8 - 1))
    buf[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(IntegrityError, match="ICV does not verify"):
        if target == "sealed":
            enc.decrypt(key, iv, bytes(buf), aad)
        else:
            enc.decrypt(key, iv, sealed, bytes(buf))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(_INTEGS), st.data())
def test_integrity_any_bit_flip_is_rejected(alg: str, data: st.DataObject) -> None:
    auth = integrity(alg)
    key = data.draw(st.binary(min_size=auth.key_len, max_size=auth.key_len))
    message = data.draw(st.binary(min_size=1, max_size=64))
    icv = auth.compute(key, message)
    auth.verify(key, message, icv)
    flip_icv = data.draw(st.booleans())
    buf = bytearray(icv if flip_icv else message)
    bit = data.draw(st.integers(min_value=0, max_value=len(buf) * 8 - 1))
    buf[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(IntegrityError, match="ICV does not verify"):
        if flip_icv:
            auth.verify(key, message, bytes(buf))
        else:
            auth.verify(key, bytes(buf), icv)


def test_hmac_integrity_equals_the_standard_library_hmac() -> None:
    """The HMAC integrity transforms MAC through cryptography's HMAC: the bytes of Python's hmac module."""
    import hmac as std_hmac
    import os

    from ikelab import transforms as T
    from ikelab.constants import IntegId

    digests = {IntegId.AUTH_HMAC_MD5_96: "md5", IntegId.AUTH_HMAC_SHA1_96: "sha1",
               IntegId.AUTH_HMAC_SHA2_256_128: "sha256", IntegId.AUTH_HMAC_SHA2_384_192: "sha384",
               IntegId.AUTH_HMAC_SHA2_512_256: "sha512"}
    for integ_id, digest in digests.items():
        for key_len, data_len in ((16, 0), (32, 1), (64, 200), (100, 1000)):
            key, data = os.urandom(key_len), os.urandom(data_len)
            assert T._MACS[integ_id](key, data) == std_hmac.new(key, data, digest).digest()


def test_cbc_contexts_made_directly_equal_the_public_cipher() -> None:
    """The CBC ciphers build their contexts without ``Cipher(...)``: the same bytes, both ways, as the public path."""
    import os

    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    from ikelab import transforms as T

    for alg, bits in (("ENCR_AES_CBC", 128), ("ENCR_AES_CBC", 256), ("ENCR_3DES", None)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 3DES is weak; its bytes are checked all the same
            encr = encryption(alg, bits, allow_weak=True)
        for size in (encr.block_size, 5 * encr.block_size):
            key, iv, data = os.urandom(encr.key_len), os.urandom(encr.iv_len), os.urandom(size)
            block = encr._block_cipher(key)
            enc = Cipher(block, modes.CBC(iv)).encryptor()
            want = enc.update(data) + enc.finalize()
            assert encr.encrypt(key, iv, data) == want
            assert encr.decrypt(key, iv, want) == data
            for make in (T._encryptor, T._public_encryptor):
                ctx = make(block, modes.CBC(iv))
                assert ctx.update(data) + ctx.finalize() == want
            for make in (T._decryptor, T._public_decryptor):
                ctx = make(block, modes.CBC(iv))
                assert ctx.update(want) + ctx.finalize() == data


def test_a_cryptography_without_the_context_constructors_gets_the_public_path() -> None:
    import sys
    from unittest import mock

    from ikelab import transforms as T

    with mock.patch.dict(sys.modules, {"cryptography.hazmat.bindings._rust": None}):  # the import fails
        assert T._context_makers() == (T._public_encryptor, T._public_decryptor)


def test_keyed_cipher_cache_stays_bounded() -> None:
    """Cipher objects are cached per key, and a gateway makes new keys at every rekey for as long as it runs:
    the cache must stay bounded while every key still gives its own, correct result."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from ikelab import transforms as T

    gcm = encryption("ENCR_AES_GCM_16", 128)
    for i in range(3 * T._KEYED_MAX):
        key = i.to_bytes(16, "big") + b"salt"
        sealed = gcm.encrypt(key, bytes(8), b"payload", b"aad")
        assert sealed == AESGCM(key[:16]).encrypt(b"salt" + bytes(8), b"payload", b"aad")
        assert len(T._KEYED) <= T._KEYED_MAX
