"""Review of IkeConfig (config.py) and strongSwan's proposal syntax (proposal_syntax.py).

Expected transform numbers come from the IANA "IKEv2 Parameters" registry (RFC 7296 3.3.2) and are written
here as plain numbers, never read from ikelab; keywords follow strongSwan's ``proposals`` documentation.
"""

from __future__ import annotations

import pytest

from ikelab.certs import ec_key_from_seed, make_ca, to_pem
from ikelab.config import IkeConfig
from ikelab.errors import ConfigError, WeakAlgorithmError, WeakAlgorithmWarning
from ikelab.payloads import Proposal, Transform
from ikelab.proposals import parse_proposal, proposal_to_string, ts_from_string

ENCR, PRF, INTEG, DH, ESN = 1, 2, 3, 4, 5  # Transform Type values
IKE, ESP = 1, 3  # Protocol IDs
AES_CBC, AES_GCM_16, CHACHA, DES, NULL = 12, 20, 28, 2, 11  # ENCR IDs
SHA256_128 = 12  # INTEG ID (0 is NONE)
PRF_SHA256 = 5
ECP256 = 19


def ids(p: Proposal) -> list[tuple[int, int, int | None]]:
    return [(int(t.type), int(t.id), t.key_length) for t in p.transforms]


def proposal(protocol: int, *transforms: tuple[int, int] | tuple[int, int, int]) -> Proposal:
    return Proposal(1, protocol, b"", tuple(Transform(*t) for t in transforms))


# --------------------------------------------------------------------------- strongSwan keywords


@pytest.mark.parametrize("word, encr_id, bits", [
    # RFC 4106/5282 (GCM) and RFC 4309/5282 (CCM): one ID per ICV length; strongSwan spells the ICV in octets or bits
    ("aes128gcm8", 18, 128), ("aes128gcm64", 18, 128), ("aes192gcm12", 19, 192), ("aes192gcm96", 19, 192),
    ("aes256gcm16", 20, 256), ("aes256gcm128", 20, 256),
    ("aes128ccm8", 14, 128), ("aes128ccm64", 14, 128), ("aes192ccm12", 15, 192), ("aes256ccm96", 15, 256),
    ("aes256ccm16", 16, 256), ("aes128ccm128", 16, 128),
])
def test_aead_keywords_give_the_icv_length_and_key_length(word, encr_id, bits):
    """The ICV length picks the transform ID, the number after 'aes' the Key Length attribute (RFC 7296 3.3.5)."""
    assert ids(parse_proposal(word, "ESP")) == [(ENCR, encr_id, bits), (ESN, 0, None)]
    p = parse_proposal(f"{word}-prfsha256-ecp256", "IKE")
    assert ids(p) == [(ENCR, encr_id, bits), (PRF, PRF_SHA256, None), (DH, ECP256, None)]
    assert parse_proposal(proposal_to_string(p)) == p


@pytest.mark.parametrize("integ, integ_id, prf_id", [
    ("sha1", 2, 2), ("sha256", 12, 5), ("sha384", 13, 6), ("sha512", 14, 7), ("aesxcbc", 5, 4), ("aescmac", 8, 8),
])
def test_the_prf_defaults_to_the_integrity_algorithms_own(integ, integ_id, prf_id):
    """strongSwan: without a prf keyword, an IKE proposal uses the PRF of its integrity algorithm's hash or MAC."""
    assert ids(parse_proposal(f"aes128-{integ}-modp3072")) == [
        (ENCR, AES_CBC, 128), (PRF, prf_id, None), (INTEG, integ_id, None), (DH, 15, None)]


def test_an_explicit_prf_replaces_the_default_one():
    p = parse_proposal("aes128-sha256-prfsha384-ecp256")
    assert ids(p) == [(ENCR, AES_CBC, 128), (PRF, 6, None), (INTEG, SHA256_128, None), (DH, ECP256, None)]
    assert parse_proposal(proposal_to_string(p)) == p


@pytest.mark.parametrize("word, group", [
    ("modp3072", 15), ("modp4096", 16), ("modp6144", 17), ("modp8192", 18), ("ecp384", 20), ("ecp521", 21),
    ("curve25519", 31), ("x25519", 31), ("curve448", 32), ("x448", 32),
])
def test_key_exchange_keywords(word, group):
    assert ids(parse_proposal(f"aes256-sha384-{word}"))[-1] == (DH, group, None)


def test_modp768_is_weak_and_says_why():
    """Group 1 (RFC 2409) is weak (RFC 8247 2.4): refused, and when allowed the warning says why."""
    with pytest.raises(WeakAlgorithmError, match="modp768") as err:
        parse_proposal("aes128-sha256-modp768")
    assert err.value.field == "proposal" and "allow_weak=True" in str(err.value)
    with pytest.warns(WeakAlgorithmWarning, match="768-bit discrete logarithms"):
        assert ids(parse_proposal("aes128-sha256-modp768", allow_weak=True))[-1] == (DH, 1, None)


@pytest.mark.parametrize("text, token, index, offset", [
    ("aes128-sha256-foo", "foo", 3, 14),
    ("sha257-aes128", "sha257", 1, 0),
    ("  aes128- Foo -sha256-ecp256", "foo", 2, 10),  # leading blanks count: the offset is into the text as given
    ("aes128-sha256-modp2048!", "modp2048!", 3, 14),  # ipsec.conf's strict '!' is no swanctl syntax
])
def test_an_unknown_keyword_is_named_with_its_position(text, token, index, offset):
    with pytest.raises(ConfigError) as err:
        parse_proposal(text)
    assert f"unknown algorithm keyword {token!r} (keyword {index}, at offset {offset})" in str(err.value)
    assert err.value.field == "proposal" and err.value.value == token
    assert text[offset:offset + len(token)].lower() == token


@pytest.mark.parametrize("text, index, offset", [("aes128--sha256-ecp256", 2, 7), ("aes128-sha256-ecp256-", 4, 21)])
def test_an_empty_keyword_says_where_the_extra_dash_is(text, index, offset):
    with pytest.raises(ConfigError, match=rf"empty keyword \(keyword {index}, at offset {offset}\)"):
        parse_proposal(text)


@pytest.mark.parametrize("number", [0, 256, -1, True, 1.0])
def test_a_proposal_number_fits_one_octet_from_one(number):
    """RFC 7296 3.3.1: proposals are numbered from 1 in a one-octet field."""
    with pytest.raises(ConfigError) as err:
        parse_proposal("aes128-sha256-ecp256", number=number)
    assert err.value.field == "number"
    assert parse_proposal("aes128-sha256-ecp256", number=255).number == 255


def test_a_proposal_that_is_not_text_is_not_called_empty():
    with pytest.raises(ConfigError, match="a proposal is text such as .*, not bytes"):
        parse_proposal(b"aes128-sha256-ecp256")


# --------------------------------------------------------------------------- Proposal objects in IkeConfig

_GCM = (ENCR, AES_GCM_16, 128)
_CBC = (ENCR, AES_CBC, 128)
_NOESN = (ESN, 0)


@pytest.mark.parametrize("field, protocol, transforms, needle", [
    ("esp_proposals", ESP, (_GCM, (PRF, PRF_SHA256), _NOESN), "cannot carry PRF transforms"),
    ("esp_proposals", ESP, (_GCM, (INTEG, SHA256_128), _NOESN), "AEAD cipher with integrity (RFC 5282 8)"),
    ("esp_proposals", ESP, (_CBC, _GCM, (INTEG, SHA256_128), _NOESN), "mixes AEAD and non-AEAD"),
    ("esp_proposals", ESP, ((INTEG, SHA256_128), _NOESN), "no ENCR transform"),
    ("esp_proposals", ESP, (_CBC, _NOESN), "no integrity algorithm"),
    ("esp_proposals", ESP, (_GCM,), "no ESN transform"),
    ("esp_proposals", ESP, ((ENCR, AES_GCM_16), _NOESN), "ENCR_AES_GCM_16 without a Key Length"),
    ("esp_proposals", ESP, ((ENCR, AES_CBC, 96), (INTEG, SHA256_128), _NOESN), "with Key Length 96"),
    ("esp_proposals", ESP, ((ENCR, CHACHA, 256), _NOESN), "takes no Key Length"),
    ("esp_proposals", ESP, ((ENCR, DES), (INTEG, SHA256_128), _NOESN), "ENCR_DES, which ikelab does not implement"),
    ("esp_proposals", ESP, (_CBC, (INTEG, SHA256_128, 128), _NOESN), "a Key Length, which only a cipher takes"),
    ("ike_proposals", IKE, (_CBC, (PRF, PRF_SHA256), (INTEG, SHA256_128)), "no D-H transform"),
    ("ike_proposals", IKE, (_CBC, (PRF, PRF_SHA256), (INTEG, SHA256_128), (DH, 0)), "no D-H transform"),
    ("ike_proposals", IKE, (_GCM, (DH, ECP256)), "no PRF transform"),
    ("ike_proposals", IKE, (_CBC, (PRF, PRF_SHA256), (DH, ECP256)), "no integrity algorithm"),
    ("ike_proposals", IKE, ((ENCR, NULL), (PRF, PRF_SHA256), (INTEG, SHA256_128), (DH, ECP256)), "ENCR_NULL"),
    ("ike_proposals", IKE, (_GCM, (PRF, PRF_SHA256), (DH, ECP256), _NOESN), "cannot carry ESN transforms"),
    ("ike_proposals", IKE, (_GCM, (PRF, 3), (DH, ECP256)), "does not implement"),  # PRF_HMAC_TIGER
    ("ike_proposals", IKE, (_GCM, (PRF, PRF_SHA256), (DH, 25)), "does not implement"),  # ECP_192
])
def test_a_proposal_object_obeys_the_rules_of_proposal_text(field, protocol, transforms, needle):
    """A Proposal built from transforms is refused when its text would be (RFC 7296 3.3.3, 3.3.5; RFC 5282 8).

    Before, IkeConfig took such proposals, and the first CHILD SA then failed silently at run time.
    """
    with pytest.raises(ConfigError) as err:
        IkeConfig(psk="x", **{field: (proposal(protocol, *transforms),)})
    assert err.value.field == field
    assert needle in str(err.value) and str(err.value).startswith(f"{field}: ")


def test_proposal_objects_the_rfcs_allow_are_accepted():
    """RFC 7296 3.3.3: INTEG and D-H may be NONE in ESP; an AEAD IKE proposal needs no INTEG."""
    esp = proposal(ESP, _GCM, (INTEG, 0), (DH, 0), (ESN, 1), _NOESN)
    ike = proposal(IKE, (ENCR, CHACHA), (PRF, PRF_SHA256), (DH, ECP256), (DH, 31))
    c = IkeConfig(psk="x", ike_proposals=ike, esp_proposals=[esp])  # one Proposal alone, as one text alone
    assert (c.ike_proposals, c.esp_proposals) == ((ike,), (esp,))


# --------------------------------------------------------------------------- values of the wrong shape


@pytest.mark.parametrize("field, value", [
    ("ike_proposals", 42), ("esp_proposals", 1.5), ("local_ts", 42), ("remote_ts", object()),
    ("intermediates", 42), ("trust_anchors", 3.0),
])
def test_a_value_that_is_not_a_list_is_a_config_error_naming_the_field(field, value):
    """Before, these escaped as a bare TypeError ('int' object is not iterable)."""
    with pytest.raises(ConfigError) as err:
        IkeConfig(psk="x", **{field: value})
    assert err.value.field == field and str(err.value).startswith(field)


def test_one_selector_or_one_pem_bundle_stands_for_a_list_of_them():
    ts = ts_from_string("10.2.0.0/16")
    assert IkeConfig(psk="x", remote_ts=ts).remote_ts == (ts,)
    ca1 = make_ca("CN=Review CA 1", ec_key_from_seed("review ca 1"))
    ca2 = make_ca("CN=Review CA 2", ec_key_from_seed("review ca 2"))
    assert IkeConfig(psk="x", trust_anchors=ca1).trust_anchors == (ca1,)
    # a PEM file of two CAs, as strongSwan's x509ca directory may hold: two anchors, not one per character
    bundle = (to_pem(ca1) + to_pem(ca2)).decode()
    assert IkeConfig(psk="x", trust_anchors=bundle).trust_anchors == (ca1, ca2)


@pytest.mark.parametrize("field", ["retransmit_tries", "cookie_threshold", "window_size"])
def test_digits_int_cannot_read_are_a_config_error(field):
    """'²'.isdigit() is true, but int('²') raises: the text must be refused as the field's error, not a ValueError."""
    with pytest.raises(ConfigError) as err:
        IkeConfig(psk="x", **{field: "²"})
    assert err.value.field == field


@pytest.mark.parametrize("kwargs, field", [
    (dict(ike_lifetime=0), "ike_lifetime"),
    (dict(ike_lifetime="0s"), "ike_lifetime"),
    (dict(child_lifetime=-1), "child_lifetime"),
    (dict(child_lifetime=False), "child_lifetime"),
    (dict(ike_rekey_time=0), "ike_rekey_time"),
    (dict(child_rekey_time="0m"), "child_rekey_time"),
    (dict(child_rekey_time=3600, child_lifetime="1h"), "child_rekey_time"),
])
def test_a_lifetime_must_be_positive_and_above_its_rekey_time(kwargs, field):
    with pytest.raises(ConfigError) as err:
        IkeConfig(psk="x", **kwargs)
    assert err.value.field == field and field in str(err.value)
