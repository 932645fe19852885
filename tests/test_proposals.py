"""Proposal syntax, negotiation (RFC 7296 2.7, 3.3) and traffic selector narrowing (RFC 7296 2.9)."""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given, settings, strategies as st

from ikelab.config import IkeConfig
from ikelab.constants import DhId, EncrId, IntegId, PrfId, ProtocolId, TransformType
from ikelab.errors import ConfigError, NegotiationError, WeakAlgorithmError, WeakAlgorithmWarning
from ikelab.payloads import Proposal, TrafficSelector, Transform
from ikelab.proposals import (
    KEYWORDS,
    Suite,
    check_chosen,
    ke_group_for,
    narrow,
    parse_proposal,
    parse_proposals,
    proposal_to_iana,
    proposal_to_string,
    select,
    suite_of,
    ts_from_string,
    ts_to_string,
)
from ikelab.ts import resolve_ts, ts_intersection

# IANA "Internet Key Exchange Version 2 (IKEv2) Parameters", Transform Type values (RFC 7296 3.3.2)
ENCR, PRF, INTEG, DH, ESN = 1, 2, 3, 4, 5
# Transform IDs as numbers from the IANA registry (RFC 7296 3.3.2; RFC 3686/4106/4309/5930/7634/8031/5903)
AES_CBC, AES_CTR, AES_CCM_16, AES_GCM_8, AES_GCM_16, CHACHA, NULL, TDES = 12, 13, 16, 18, 20, 28, 11, 3
HMAC_SHA1, HMAC_SHA256, HMAC_SHA384, AES128_XCBC = 2, 5, 6, 4  # PRF IDs
SHA1_96, SHA256_128, SHA384_192, XCBC_96, MD5_96 = 2, 12, 13, 5, 1  # INTEG IDs
MODP1024, MODP2048, MODP3072, ECP256, ECP384, X25519 = 2, 14, 15, 19, 20, 31  # DH IDs
KEY_LENGTH = 14  # RFC 7296 3.3.5


def ids(p: Proposal) -> list[tuple[int, int, int | None]]:
    return [(int(t.type), int(t.id), t.key_length) for t in p.transforms]


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("text, protocol, expected", [
    ("aes128-sha256-modp2048", "IKE",
     [(ENCR, AES_CBC, 128), (PRF, HMAC_SHA256, None), (INTEG, SHA256_128, None), (DH, MODP2048, None)]),
    ("aes256gcm16-prfsha384-ecp384", "IKE",
     [(ENCR, AES_GCM_16, 256), (PRF, HMAC_SHA384, None), (DH, ECP384, None)]),
    ("chacha20poly1305-prfsha256-x25519", "IKE",
     [(ENCR, CHACHA, None), (PRF, HMAC_SHA256, None), (DH, X25519, None)]),
    ("aes128ctr-sha256-curve25519", "IKE",
     [(ENCR, AES_CTR, 128), (PRF, HMAC_SHA256, None), (INTEG, SHA256_128, None), (DH, X25519, None)]),
    ("aes128ccm16-prfsha256-ecp256", "IKE",
     [(ENCR, AES_CCM_16, 128), (PRF, HMAC_SHA256, None), (DH, ECP256, None)]),
    ("aes128-sha1-modp2048", "IKE",
     [(ENCR, AES_CBC, 128), (PRF, HMAC_SHA1, None), (INTEG, SHA1_96, None), (DH, MODP2048, None)]),
    ("aes128-aesxcbc-modp2048", "IKE",
     [(ENCR, AES_CBC, 128), (PRF, AES128_XCBC, None), (INTEG, XCBC_96, None), (DH, MODP2048, None)]),
    # with AEAD in IKE, strongSwan turns the integrity keyword into the PRF and drops it
    ("aes256gcm16-sha384-ecp256", "IKE", [(ENCR, AES_GCM_16, 256), (PRF, HMAC_SHA384, None), (DH, ECP256, None)]),
    # several algorithms of a kind: order = preference
    ("aes256-aes128-sha384-sha256-modp3072-modp2048", "IKE",
     [(ENCR, AES_CBC, 256), (ENCR, AES_CBC, 128), (PRF, HMAC_SHA384, None), (PRF, HMAC_SHA256, None),
      (INTEG, SHA384_192, None), (INTEG, SHA256_128, None), (DH, MODP3072, None), (DH, MODP2048, None)]),
    ("aes128-sha256", "ESP", [(ENCR, AES_CBC, 128), (INTEG, SHA256_128, None), (ESN, 0, None)]),
    ("aes128-sha256-modp2048", "ESP",
     [(ENCR, AES_CBC, 128), (INTEG, SHA256_128, None), (DH, MODP2048, None), (ESN, 0, None)]),
    ("aes128gcm16", "ESP", [(ENCR, AES_GCM_16, 128), (ESN, 0, None)]),
    ("aes256gcm64", "ESP", [(ENCR, AES_GCM_8, 256), (ESN, 0, None)]),
    ("null-sha256", "ESP", [(ENCR, NULL, None), (INTEG, SHA256_128, None), (ESN, 0, None)]),
    ("aes128gcm16-esn", "ESP", [(ENCR, AES_GCM_16, 128), (ESN, 1, None)]),
    ("aes128gcm16-esn-noesn", "ESP", [(ENCR, AES_GCM_16, 128), (ESN, 1, None), (ESN, 0, None)]),
    ("sha256", "AH", [(INTEG, SHA256_128, None), (ESN, 0, None)]),
    ("  AES128-SHA256-MODP2048 ", "IKE",
     [(ENCR, AES_CBC, 128), (PRF, HMAC_SHA256, None), (INTEG, SHA256_128, None), (DH, MODP2048, None)]),
])
def test_parse(text, protocol, expected):
    p = parse_proposal(text, protocol)
    assert ids(p) == expected
    assert int(p.protocol) == {"IKE": 1, "AH": 2, "ESP": 3}[protocol]
    assert p.spi == b"" and p.number == 1
    assert parse_proposal(proposal_to_string(p), protocol) == p


def test_parse_several_and_numbering():
    props = parse_proposals("aes128-sha256-modp2048, aes256gcm16-prfsha384-ecp384")
    assert [p.number for p in props] == [1, 2]
    assert parse_proposals(["aes128-sha256-modp2048", "aes256gcm16-prfsha384-ecp384"]) == props
    # a list item may itself be a strongSwan "proposals = a, b" value (--proposal 'a,b' on the command line)
    three = parse_proposals(["aes128-sha256-modp2048, aes256gcm16-prfsha384-ecp384", "aes128gcm16-prfsha256-x25519"])
    assert three[:2] == props and [p.number for p in three] == [1, 2, 3]
    assert proposal_to_iana(props[0]) == "IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"


@pytest.mark.parametrize("text", ["3des-sha256-modp2048", "aes128-md5-modp2048", "aes128-sha256-modp1024",
                                  "aes128-sha256-prfmd5-modp2048", "aes128-sha256-modp1536"])
def test_weak_keywords_need_allow_weak(text):
    with pytest.raises(WeakAlgorithmError) as err:
        parse_proposal(text)
    assert "weak" in str(err.value)
    with pytest.warns(WeakAlgorithmWarning):
        parse_proposal(text, allow_weak=True)


def test_every_weak_keyword_of_a_proposal_is_named_at_once():
    """'aes128-md5-modp1024' once named md5 alone: fixing it, the user met modp1024 on the next try."""
    with pytest.raises(WeakAlgorithmError) as err:
        parse_proposal("3des-md5-modp1024")
    text = str(err.value)
    assert text.startswith("'3des', 'md5' and 'modp1024' in proposal '3des-md5-modp1024' are weak: 3des: ")
    assert "; md5: MD5 is broken" in text and "; modp1024: MODP_1024 (group 2)" in text
    assert err.value.value == ("3des", "md5", "modp1024")
    with pytest.warns(WeakAlgorithmWarning) as warned:
        parse_proposal("3des-md5-modp1024", allow_weak=True)
    assert len(warned) == 4  # allowed: each still says why it is weak, and the PRF that md5 brings along


def test_weak_warnings_name_the_algorithm_as_the_algorithm_itself_does():
    """A keyword's warning names the same algorithm as the group's, cipher's, MAC's or PRF's own warning.

    The command line says each weak algorithm once by that name, whichever layer warned first.
    """
    from ikelab import dh, prf, transforms

    with pytest.warns(WeakAlgorithmWarning) as from_keywords:
        parse_proposal("3des-md5-prfmd5-modp1024", allow_weak=True)
    with pytest.warns(WeakAlgorithmWarning) as from_algorithms:
        transforms.encryption("ENCR_3DES", allow_weak=True)
        transforms.integrity("AUTH_HMAC_MD5_96", allow_weak=True)
        prf.get_prf("PRF_HMAC_MD5", allow_weak=True)
        dh.group("MODP_1024", allow_weak=True)
    named = [w.message.algorithm for w in from_keywords]
    assert named == [w.message.algorithm for w in from_algorithms]
    assert named == ["ENCR_3DES", "AUTH_HMAC_MD5_96", "PRF_HMAC_MD5", "MODP_1024"]
    assert all(str(w.message).startswith(f"'{k}' in proposal") for w, k in zip(from_keywords, ("3des", "md5", "prfmd5")))
    assert WeakAlgorithmWarning("some reason").algorithm == "some reason"  # unnamed: the message stands for itself
    from ikelab.proposal_syntax import _WEAK, KEYWORDS

    assert set(_WEAK) <= set(KEYWORDS)  # every reason belongs to a keyword the parser reads


@pytest.mark.parametrize("value", [5, None, b"aes128-sha256-modp2048", [b"aes128-sha256-modp2048"], ["aes128", 5]])
def test_parse_proposals_needs_text(value):
    """Proposals that are not text are named in a ConfigError, not a TypeError from inside the parser."""
    with pytest.raises(ConfigError, match="proposals are text such as"):
        parse_proposals(value)
    assert parse_proposals(p for p in ["aes128-sha256-modp2048"]) == parse_proposals("aes128-sha256-modp2048")


def test_weak_ids():
    with pytest.warns(WeakAlgorithmWarning):
        p = parse_proposal("3des-md5-modp1024", allow_weak=True)
    assert ids(p) == [(ENCR, TDES, None), (PRF, 1, None), (INTEG, MD5_96, None), (DH, MODP1024, None)]


@pytest.mark.parametrize("text, protocol, needle", [
    ("aes128-sha256-foo", "IKE", "'foo'"),
    ("aes128-sha256", "IKE", "DH"),
    ("aes128-modp2048", "IKE", "integrity"),
    ("aes128gcm16-ecp256", "IKE", "PRF"),
    ("null-sha256-modp2048", "IKE", "ENCR_NULL"),
    ("aes128-aes128gcm16-sha256-modp2048", "IKE", "AEAD"),
    ("aes128-sha256-esn-modp2048", "IKE", "esn"),
    ("aes128gcm16-sha256", "ESP", "RFC 5282"),
    ("aes128", "ESP", "integrity"),
    ("aes128-sha256-prfsha256", "ESP", "PRF"),
    ("aes128-sha256", "AH", "encryption"),
    ("", "ESP", "empty"),
])
def test_bad_proposals(text, protocol, needle):
    with pytest.raises(ConfigError) as err:
        parse_proposal(text, protocol)
    assert needle in str(err.value)


def test_unknown_keyword_lists_known_ones():
    with pytest.raises(ConfigError) as err:
        parse_proposal("aes128-sha257-modp2048")
    assert "'sha257'" in str(err.value) and "sha256" in str(err.value) and "modp2048" in str(err.value)


@settings(max_examples=40, deadline=None)
@given(encr=st.lists(st.sampled_from(["aes128", "aes256", "aes192ctr", "aes128ctr"]), min_size=1, max_size=3, unique=True),
       integ=st.lists(st.sampled_from(["sha1", "sha256", "sha384", "sha512", "aesxcbc", "aescmac"]), min_size=1,
                      max_size=3, unique=True),
       dh=st.lists(st.sampled_from(["modp2048", "modp3072", "ecp256", "ecp521", "x25519", "curve448"]), min_size=1,
                   max_size=3, unique=True),
       prf=st.lists(st.sampled_from(["prfsha256", "prfsha512", "prfaesxcbc"]), max_size=2, unique=True))
def test_text_round_trip_property(encr, integ, dh, prf):
    p = parse_proposal("-".join(encr + integ + prf + dh))
    assert parse_proposal(proposal_to_string(p)) == p
    assert len(p.of_type(TransformType.DH)) == len(dh)


def test_keywords_map_to_iana_names():
    assert KEYWORDS["aes256gcm16"] == Transform(TransformType.ENCR, EncrId.ENCR_AES_GCM_16, 256)
    assert KEYWORDS["x25519"] == KEYWORDS["curve25519"] == Transform(TransformType.DH, DhId.CURVE25519)
    assert int(KEYWORDS["sha512"].id) == 14 and int(KEYWORDS["prfsha512"].id) == 7


# --------------------------------------------------------------------------- suites


def test_suite_of():
    s = suite_of(parse_proposal("aes256gcm16-prfsha384-ecp384"))
    assert s == Suite(EncrId.ENCR_AES_GCM_16, 256, None, PrfId.PRF_HMAC_SHA2_384, DhId.ECP_384, False, ProtocolId.IKE)
    assert s.is_aead and str(s) == "aes256gcm16-prfsha384-ecp384"
    e = suite_of(parse_proposal("aes128-sha256-esn", "ESP"))
    assert (e.encr, e.integ, e.dh, e.esn) == (EncrId.ENCR_AES_CBC, IntegId.AUTH_HMAC_SHA2_256_128, None, True)
    assert suite_of(e.to_proposal()) == e
    with pytest.raises(NegotiationError):
        suite_of(parse_proposal("aes128-aes256-sha256-modp2048"))


# --------------------------------------------------------------------------- selection


def test_select_prefers_configured_order_and_keeps_offered_number():
    offered = parse_proposals("aes128-sha256-modp2048,aes256gcm16-prfsha384-ecp384")
    configured = parse_proposals("aes256gcm16-prfsha384-ecp384,aes128-sha256-modp2048")
    chosen = select(offered, configured)
    assert chosen.number == 2 and chosen.spi == b""
    assert ids(chosen) == [(ENCR, AES_GCM_16, 256), (PRF, HMAC_SHA384, None), (DH, ECP384, None)]  # AEAD: no INTEG
    assert select(offered, configured, prefer="offered").number == 1
    assert check_chosen(offered, chosen) == suite_of(chosen)


def test_select_one_transform_of_each_type():
    offered = [parse_proposal("aes256-aes128-sha512-sha256-modp3072-modp2048-ecp256")]
    configured = [parse_proposal("aes128-sha256-ecp256-modp2048")]
    chosen = select(offered, configured)
    assert ids(chosen) == [(ENCR, AES_CBC, 128), (PRF, HMAC_SHA256, None), (INTEG, SHA256_128, None), (DH, ECP256, None)]
    # the initiator's preference order when asked
    assert ids(select(offered, configured, prefer="offered"))[-1] == (DH, MODP2048, None)


def test_no_proposal_chosen():
    offered = parse_proposals("aes128-sha256-modp2048")
    configured = parse_proposals("aes256gcm16-prfsha384-ecp384")
    with pytest.raises(NegotiationError) as err:
        select(offered, configured)
    assert err.value.notify_type == "NO_PROPOSAL_CHOSEN"
    msg = str(err.value)
    assert "AES_CBC_128" in msg and "aes256gcm16-prfsha384-ecp384" in msg


def test_key_length_must_match():
    with pytest.raises(NegotiationError):
        select(parse_proposals("aes128-sha256-modp2048"), parse_proposals("aes256-sha256-modp2048"))
    with pytest.raises(NegotiationError):
        select(parse_proposals("aes128gcm16", "ESP"), parse_proposals("aes256gcm16", "ESP"))


def test_aead_with_integrity_offer_is_refused():
    # RFC 5282 8: a combined-mode proposal MUST NOT carry an integrity algorithm (other than NONE)
    gcm = Transform(TransformType.ENCR, EncrId.ENCR_AES_GCM_16, 128)
    bad = Proposal(1, ProtocolId.ESP, b"\x00\x00\x10\x00",
                   (gcm, Transform(TransformType.INTEG, IntegId.AUTH_HMAC_SHA2_256_128), Transform.esn(False)))
    ok = Proposal(2, ProtocolId.ESP, b"\x00\x00\x10\x00",
                  (gcm, Transform(TransformType.INTEG, IntegId.NONE), Transform.esn(False)))
    configured = parse_proposals("aes128gcm16", "ESP")
    with pytest.raises(NegotiationError):
        select([bad], configured)
    chosen = select([bad, ok], configured)
    assert chosen.number == 2 and ids(chosen) == [(ENCR, AES_GCM_16, 128), (ESN, 0, None)]


def test_esn_choice():
    offered = parse_proposals("aes128gcm16-esn-noesn", "ESP")
    assert ids(select(offered, parse_proposals("aes128gcm16", "ESP")))[-1] == (ESN, 0, None)
    assert ids(select(offered, parse_proposals("aes128gcm16-esn", "ESP")))[-1] == (ESN, 1, None)
    with pytest.raises(NegotiationError):
        select(parse_proposals("aes128gcm16-esn", "ESP"), parse_proposals("aes128gcm16-noesn", "ESP"))


def test_pfs_groups_for_esp():
    pfs = parse_proposals("aes128-sha256-modp2048", "ESP")
    no_pfs = parse_proposals("aes128-sha256", "ESP")
    assert ids(select(pfs, pfs))[2] == (DH, MODP2048, None)
    with pytest.raises(NegotiationError):
        select(no_pfs, pfs)  # the responder requires PFS
    # an initiator that makes PFS optional offers DH NONE too (RFC 7296 3.3.2)
    optional = Proposal(1, ProtocolId.ESP, b"", pfs[0].transforms[:2] + (Transform.dh(DhId.MODP_2048),
                                                                         Transform.dh(DhId.NONE), Transform.esn()))
    chosen = select([optional], no_pfs)
    assert not chosen.of_type(TransformType.DH)
    assert suite_of(chosen).dh is None


def test_unknown_transform_ids_are_ignored_and_unknown_types_reject():
    p = parse_proposal("aes128-sha256-modp2048")
    extra = Proposal(1, ProtocolId.IKE, b"", (Transform(TransformType.ENCR, 1024, 128),) + p.transforms
                     + (Transform(TransformType.DH, 4000),))
    chosen = select([extra], [p])
    assert ids(chosen) == ids(p)
    odd_type = Proposal(1, ProtocolId.IKE, b"", p.transforms + (Transform(240, 1),))
    with pytest.raises(NegotiationError):
        select([odd_type], [p])
    with pytest.raises(NegotiationError):  # ESN is not a transform type of IKE
        select([Proposal(1, ProtocolId.IKE, b"", p.transforms + (Transform.esn(),))], [p])


def test_missing_mandatory_type():
    p = parse_proposal("aes128-sha256-modp2048")
    no_prf = Proposal(1, ProtocolId.IKE, b"", tuple(t for t in p.transforms if t.type != TransformType.PRF))
    no_dh = Proposal(1, ProtocolId.IKE, b"", tuple(t for t in p.transforms if t.type != TransformType.DH))
    for offered in (no_prf, no_dh):
        with pytest.raises(NegotiationError):
            select([offered], [p])


def test_check_chosen_rejects_bad_answers():
    offered = parse_proposals("aes128-aes256-sha256-modp2048-ecp256,aes256gcm16-prfsha384-ecp384")
    good = Proposal(1, ProtocolId.IKE, b"", (Transform.encr("ENCR_AES_CBC", 256), Transform.prf(5),
                                             Transform.integ(12), Transform.dh(19)))
    assert check_chosen(offered, good).key_bits == 256
    assert check_chosen(offered, [good]).dh == DhId.ECP_256
    not_offered = Proposal(1, ProtocolId.IKE, b"", (Transform.encr("ENCR_AES_CBC", 192),) + good.transforms[1:])
    two = Proposal(1, ProtocolId.IKE, b"", good.transforms + (Transform.dh(14),))
    wrong_number = Proposal(3, ProtocolId.IKE, b"", good.transforms)
    missing = Proposal(1, ProtocolId.IKE, b"", good.transforms[:3])
    mixed = Proposal(2, ProtocolId.IKE, b"", good.transforms)  # proposal #2 did not offer AES_CBC
    for bad, why in ((not_offered, "did not offer"), (two, "2 DH transforms"), (wrong_number, "proposal #3"),
                     (missing, "lacks DH"), (mixed, "did not offer"), ([good, good], "one")):
        with pytest.raises(NegotiationError, match=why):
            check_chosen(offered, bad)


def test_check_chosen_rejects_a_child_sa_answer_that_weakens_the_offer():
    """The initiator installs what the responder chose, so an answer must be one of its own offers: not AH for an
    ESP offer (no encryption at all), not without the DH group an offer with PFS requires, not an AEAD cipher
    with an integrity algorithm beside it."""
    esp = parse_proposals("aes128-sha256-modp2048", "ESP")
    assert check_chosen(esp, esp[0]).dh == DhId.MODP_2048
    as_ah = Proposal(1, ProtocolId.AH, b"", tuple(t for t in esp[0].transforms if t.type != TransformType.ENCR))
    with pytest.raises(NegotiationError, match="chose protocol .* which offered"):
        check_chosen(esp, as_ah)
    no_pfs = Proposal(1, ProtocolId.ESP, b"", tuple(t for t in esp[0].transforms if t.type != TransformType.DH))
    with pytest.raises(NegotiationError, match="no DH group although our proposal requires one"):
        check_chosen(esp, no_pfs)
    gcm, cbc = parse_proposal("aes128gcm16", "ESP"), esp[0]
    mixed_offer = Proposal(1, ProtocolId.ESP, b"", gcm.transforms[:1] + cbc.transforms)  # a peer may offer both
    aead_and_integ = Proposal(1, ProtocolId.ESP, b"", gcm.transforms[:1] + cbc.transforms[1:2] + gcm.transforms[1:])
    assert [t.type for t in aead_and_integ.transforms] == [TransformType.ENCR, TransformType.INTEG, TransformType.ESN]
    with pytest.raises(NegotiationError, match="AEAD cipher together with an integrity algorithm"):
        check_chosen([mixed_offer], aead_and_integ)


def test_invalid_ke_payload_group():
    # RFC 7296 1.2: the responder wants the group of the proposal it selects; the KE group is kept when acceptable
    offered = parse_proposals("aes128-sha256-curve25519-ecp256-modp2048")
    configured = parse_proposals("aes128-sha256-ecp256-modp2048")
    assert ke_group_for(offered, configured, ke_group=DhId.MODP_2048) == DhId.MODP_2048  # acceptable: keep it
    assert ke_group_for(offered, configured, ke_group="CURVE25519") == DhId.ECP_256  # -> INVALID_KE_PAYLOAD(19)
    assert ke_group_for(offered, configured) == DhId.ECP_256
    assert ke_group_for(parse_proposals("aes128gcm16", "ESP"), parse_proposals("aes128gcm16", "ESP")) is None
    with pytest.raises(NegotiationError):
        ke_group_for(offered, parse_proposals("aes128-sha256-modp3072"))


# --------------------------------------------------------------------------- traffic selectors


@pytest.mark.parametrize("text, proto, ports, lo, hi, back", [
    ("192.0.2.0/24", 0, (0, 65535), "192.0.2.0", "192.0.2.255", "192.0.2.0/24"),
    ("0.0.0.0/0", 0, (0, 65535), "0.0.0.0", "255.255.255.255", "0.0.0.0/0"),
    ("192.0.2.1", 0, (0, 65535), "192.0.2.1", "192.0.2.1", "192.0.2.1/32"),
    ("192.0.2.1[udp/500]", 17, (500, 500), "192.0.2.1", "192.0.2.1", "192.0.2.1/32[udp/500]"),
    ("10.0.0.0/8[tcp]", 6, (0, 65535), "10.0.0.0", "10.255.255.255", "10.0.0.0/8[tcp]"),
    ("0.0.0.0/0[tcp/1000-2000]", 6, (1000, 2000), "0.0.0.0", "255.255.255.255", "0.0.0.0/0[tcp/1000-2000]"),
    ("10.1.0.0-10.1.0.5", 0, (0, 65535), "10.1.0.0", "10.1.0.5", "10.1.0.0-10.1.0.5"),
    ("2001:db8::/32[icmpv6]", 58, (0, 65535), "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
     "2001:db8::/32[icmpv6]"),
    ("192.0.2.1[udp/%opaque]", 17, (65535, 0), "192.0.2.1", "192.0.2.1", "192.0.2.1/32[udp/%opaque]"),
    ("192.0.2.0/24[47]", 47, (0, 65535), "192.0.2.0", "192.0.2.255", "192.0.2.0/24[gre]"),
])
def test_ts_from_string(text, proto, ports, lo, hi, back):
    ts = ts_from_string(text)
    assert ts.ip_protocol == proto and (ts.start_port, ts.end_port) == ports
    assert ts.start_addr == ipaddress.ip_address(lo) and ts.end_addr == ipaddress.ip_address(hi)
    assert int(ts.ts_type) == (7 if ":" not in lo else 8)  # TS_IPV4_ADDR_RANGE / TS_IPV6_ADDR_RANGE (RFC 7296 3.13.1)
    assert ts_to_string(ts) == back
    assert ts_from_string(back) == ts


@pytest.mark.parametrize("text, ports, back", [
    # RFC 7296 3.13.1: ICMP Type in the high octet, Code in the low one; strongSwan reads a port below 256
    # as a Type (tests/interop/test_ikelab_selectors.py shows charon narrowing [icmp/8] to 2048)
    ("192.0.2.1[icmp/8]", (0x0800, 0x0800), "192.0.2.1/32[icmp/2048]"),
    ("192.0.2.1[icmp/8-9]", (0x0800, 0x0900), "192.0.2.1/32[icmp/2048-2304]"),
    ("192.0.2.1[icmp/2048]", (0x0800, 0x0800), "192.0.2.1/32[icmp/2048]"),
    ("192.0.2.1[icmp/0]", (0, 0), "192.0.2.1/32[icmp/0]"),
    ("192.0.2.1[icmp/255]", (0xFF00, 0xFF00), "192.0.2.1/32[icmp/65280]"),
    ("192.0.2.1[icmp/256]", (256, 256), "192.0.2.1/32[icmp/256]"),
    ("2001:db8::1[icmpv6/128]", (0x8000, 0x8000), "2001:db8::1/128[icmpv6/32768]"),  # ICMPv6 echo request
    ("192.0.2.1[1/3-0x0304]", (0x0300, 0x0304), "192.0.2.1/32[icmp/768-772]"),
    # Type 0 with Code 1..255 has no decimal spelling: hexadecimal is the value itself
    ("192.0.2.1[icmp/0x0005]", (5, 5), "192.0.2.1/32[icmp/0x0005]"),
    ("192.0.2.1[icmp/0-0x00FF]", (0, 255), "192.0.2.1/32[icmp/0-0x00ff]"),
    # other protocols: ports as written, decimal or hexadecimal
    ("192.0.2.1[udp/8]", (8, 8), "192.0.2.1/32[udp/8]"),
    ("192.0.2.1[tcp/0x1f4]", (500, 500), "192.0.2.1/32[tcp/500]"),
])
def test_icmp_ports_are_type_and_code(text, ports, back):
    ts = ts_from_string(text)
    assert (ts.start_port, ts.end_port) == ports
    assert ts_to_string(ts) == back
    assert ts_from_string(back) == ts


@given(st.sampled_from([1, 58]), st.integers(0, 65535), st.integers(0, 65535))
def test_icmp_selector_text_reads_back(proto, a, b):
    from ikelab.payloads import TrafficSelector
    addr = ipaddress.ip_address("192.0.2.1" if proto == 1 else "2001:db8::1")
    ts = TrafficSelector(7 if proto == 1 else 8, proto, min(a, b), max(a, b), addr, addr)
    assert ts_from_string(ts_to_string(ts)) == ts


@pytest.mark.parametrize("bad", ["", "10.0.0.0/33", "10.0.0.1-10.0.0.0", "10.0.0.1[udp/70000]", "10.0.0.1[foo]",
                                 "10.0.0.1[udp/5-1]", "10.0.0.1[udp", "dynamic", "10.0.0.1-2001:db8::1",
                                 # one past the 16-bit port and the 8-bit protocol fields (RFC 7296 3.13.1)
                                 "10.0.0.1[udp/1-65536]", "10.0.0.1[256]"])
def test_ts_bad_text(bad):
    with pytest.raises(ConfigError):
        ts_from_string(bad)


@pytest.mark.parametrize("bad, why", [
    ("10.0.0.9-10.0.0.1", "the range starts at 10.0.0.9, after its end 10.0.0.1: write it low-high"),
    ("10.0.0.1-2001:db8::1", "a range needs two addresses of one family, not IPv4 and IPv6"),
    ("10.0.0.1-x", "is not an address, a network a/len or a range a-b"),
])
def test_ts_bad_range_says_what_is_wrong(bad, why):
    """The reason for a bad range reaches the user (it was once replaced by the generic 'not an address')."""
    with pytest.raises(ConfigError, match=re.escape(why)):
        ts_from_string(bad)


def test_resolve_ts_same_for_tuples_lists_and_addresses():
    """A configuration's selectors are resolved once per address (cached); the answer must not depend on it."""
    sel = ("dynamic", "10.0.0.0/8", T("10.9.0.0/16"))
    for address in ("192.0.2.7", "192.0.2.8", "2001:db8::1"):
        assert resolve_ts(sel, address) == resolve_ts(list(sel), address)
        assert resolve_ts(sel, address)[0] == ts_from_string(f"{address}/{128 if ':' in address else 32}")
    assert resolve_ts(sel, "192.0.2.7") != resolve_ts(sel, "192.0.2.8")
    with pytest.raises(ConfigError):  # a bad entry is refused every time, cached or not
        resolve_ts(("10.0.0.0/33",), "192.0.2.7")
    with pytest.raises(ConfigError):
        resolve_ts(("10.0.0.0/33",), "192.0.2.7")
    with pytest.raises(ConfigError):  # "dynamic" without an address
        resolve_ts(("dynamic",), None)


def test_the_engine_narrowing_is_cached_but_answers_like_narrow():
    """The responder's narrowing is cached on immutable selectors; lists and refusals go the uncached way."""
    from ikelab.ts_negotiation import narrow_cached
    from ikelab.ts import narrow

    offered_i, offered_r = (T("10.1.0.0/16"),), (T("0.0.0.0/0"),)
    policy_i, policy_r = (T("10.1.2.0/24"), T("10.9.0.0/16")), (T("192.0.2.0/24"),)
    for _ in range(2):
        assert narrow_cached(offered_i, offered_r, policy_i, policy_r) == narrow(offered_i, offered_r, policy_i, policy_r)
        assert narrow_cached(offered_i, offered_r, policy_i, policy_r) == ((T("10.1.2.0/24"),), (T("192.0.2.0/24"),))
        assert narrow_cached(offered_i, offered_r, list(policy_i), policy_r) == narrow(offered_i, offered_r, policy_i, policy_r)
        with pytest.raises(NegotiationError):  # TS_UNACCEPTABLE every time, not only the first
            narrow_cached((T("172.16.0.0/12"),), offered_r, policy_i, policy_r)


def test_the_initiators_narrowing_check_is_cached_but_refuses_every_time():
    """RFC 7296 2.9 from the initiator's side: an answer may only narrow what was offered."""
    from ikelab.ts_negotiation import check_narrowed

    offered = (T("10.1.0.0/16"), T("2001:db8::/32"))
    for _ in range(2):  # the second round is answered by the cache
        check_narrowed((T("10.1.2.0/24"),), offered, "TSi")
        check_narrowed([T("10.1.2.0/24"), T("2001:db8:1::/48")], list(offered), "TSi")  # lists: uncached
        with pytest.raises(NegotiationError, match=r"TSr 10\.2\.0\.0/24 is wider than what we offered") as err:
            check_narrowed((T("10.1.2.0/24"), T("10.2.0.0/24")), offered, "TSr")
        assert err.value.notify_type == "TS_UNACCEPTABLE"
        with pytest.raises(NegotiationError, match="wider"):  # the whole offer is not inside a part of it
            check_narrowed((T("10.0.0.0/8"),), offered, "TSi")
        with pytest.raises(NegotiationError, match="TSi is empty") as err:
            check_narrowed((), offered, "TSi")
        assert err.value.notify_type == "TS_UNACCEPTABLE"


def test_dynamic():
    assert resolve_ts(["dynamic", "10.0.0.0/8"], "192.0.2.7")[0] == ts_from_string("192.0.2.7/32")
    # host-to-host: each side's policy is its IKE address
    got = narrow([T("0.0.0.0/0")], [T("0.0.0.0/0")], ["dynamic"], ["dynamic"],
                 initiator_address="192.0.2.1", responder_address="192.0.2.2")
    assert got == ((T("192.0.2.1"),), (T("192.0.2.2"),))
    with pytest.raises(ConfigError):
        narrow([T("0.0.0.0/0")], [T("0.0.0.0/0")], ["dynamic"], ["dynamic"])


def T(text: str) -> TrafficSelector:
    return ts_from_string(text)


def test_narrowing_rfc7296_2_9_example():
    # RFC 7296 2.9: the initiator puts the packet-specific selector first: TSi = (198.51.100.43 - 198.51.100.43
    # with the packet's protocol and source port), then (198.51.100.0 - 198.51.100.255) all ports and protocols.
    # A responder whose policy only accepts that host "might respond with TSi being (198.51.100.43 -
    # 198.51.100.43) with all ports and IP protocols".
    tsi = [T("198.51.100.43[tcp/49152]"), T("198.51.100.0/24")]
    tsr = [T("192.0.2.10[tcp/80]"), T("192.0.2.0/24")]
    got_i, got_r = narrow(tsi, tsr, [T("198.51.100.43")], [T("192.0.2.0/24")])
    assert got_i == (T("198.51.100.43"),)
    assert got_r == (T("192.0.2.0/24"),)


def test_narrowing_keeps_what_policy_allows():
    # the whole request is acceptable: no narrowing
    assert narrow([T("10.1.0.0/24")], [T("10.2.0.0/24")], ["10.1.0.0/16"], ["10.2.0.0/16"]) == (
        (T("10.1.0.0/24"),), (T("10.2.0.0/24"),))
    # part of it: the intersection (here the offered 198.51.100.0/24 narrowed to the policy's /25)
    got_i, _ = narrow([T("198.51.100.0/24")], [T("0.0.0.0/0")], ["198.51.100.0/25"], ["0.0.0.0/0"])
    assert got_i == (T("198.51.100.0/25"),)
    # protocols and ports intersect too
    got_i, got_r = narrow([T("0.0.0.0/0")], [T("0.0.0.0/0[tcp]")], ["10.0.0.0/8"], ["0.0.0.0/0[tcp/80]",
                                                                                  "0.0.0.0/0[udp/53]"])
    assert got_i == (T("10.0.0.0/8"),) and got_r == (T("0.0.0.0/0[tcp/80]"),)
    # several policy pieces give several selectors
    got_i, _ = narrow([T("10.0.0.0/8")], [T("0.0.0.0/0")], ["10.1.0.0/16", "10.3.0.0/16"], ["0.0.0.0/0"])
    assert got_i == (T("10.1.0.0/16"), T("10.3.0.0/16"))
    # two offered selectors narrowed to the same policy piece give it once, not twice
    got_i, _ = narrow([T("10.1.0.0/16"), T("10.0.0.0/8")], [T("0.0.0.0/0")], ["10.1.2.0/24"], ["0.0.0.0/0"])
    assert got_i == (T("10.1.2.0/24"),)


def test_ts_unacceptable():
    with pytest.raises(NegotiationError) as err:
        narrow([T("10.1.0.0/16")], [T("10.2.0.0/16")], ["10.9.0.0/16"], ["10.2.0.0/16"])
    assert err.value.notify_type == "TS_UNACCEPTABLE"
    with pytest.raises(NegotiationError):  # different families never meet
        narrow([T("10.1.0.0/16")], [T("2001:db8::/32")], ["0.0.0.0/0"], ["0.0.0.0/0"])
    with pytest.raises(NegotiationError):  # different protocols
        narrow([T("0.0.0.0/0[udp]")], [T("0.0.0.0/0")], ["0.0.0.0/0[tcp]"], ["0.0.0.0/0"])


def test_any_protocol_meets_a_given_one():
    """RFC 7296 3.13.1: IP protocol 0 means any, so it meets TCP and leaves TCP; TCP and UDP never meet."""
    assert ts_intersection(T("10.0.0.0/8"), T("10.1.0.0/16[tcp/80]")) == T("10.1.0.0/16[tcp/80]")
    assert ts_intersection(T("10.1.0.0/16[tcp/80]"), T("10.0.0.0/8")) == T("10.1.0.0/16[tcp/80]")
    assert ts_intersection(T("10.0.0.0/8[udp]"), T("10.0.0.0/8[tcp]")) is None


def test_opaque_ports():
    # RFC 7296 3.13.1: OPAQUE = start 65535, end 0; it meets "any port" and OPAQUE only
    opaque = T("10.0.0.1[udp/%opaque]")
    assert ts_intersection(opaque, T("10.0.0.0/8[udp]")) == opaque
    assert ts_intersection(opaque, T("10.0.0.0/8[udp/500]")) is None
    # in either order: an offer of any port narrowed by a policy of OPAQUE ports is OPAQUE (2.9, 3.13.1)
    assert ts_intersection(T("10.0.0.0/8[udp]"), opaque) == opaque
    assert narrow([T("10.0.0.0/8[udp]")], [T("0.0.0.0/0")], [opaque], ["0.0.0.0/0"])[0] == (opaque,)
    assert ts_intersection(T("10.0.0.0/8[udp/500]"), opaque) is None


addr = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)


@st.composite
def v4_ts(draw):
    a, b = sorted([draw(addr), draw(addr)])
    p1, p2 = sorted([draw(st.integers(0, 65535)), draw(st.integers(0, 65535))])
    proto = draw(st.sampled_from([0, 6, 17]))
    return TrafficSelector.from_range(a, b, ip_protocol=proto, ports=(p1, p2))


@settings(max_examples=60, deadline=None)
@given(v4_ts(), v4_ts(), addr, st.integers(0, 65535), st.sampled_from([6, 17]))
def test_intersection_property(a, b, probe, port, proto):
    """A packet is in a ∩ b exactly when it is in a and in b."""
    def inside(ts, ip, prt, pr):
        return ts.start_addr <= ip <= ts.end_addr and ts.start_port <= prt <= ts.end_port and ts.ip_protocol in (0, pr)

    meet = ts_intersection(a, b)
    both = inside(a, probe, port, proto) and inside(b, probe, port, proto)
    assert (meet is not None and inside(meet, probe, port, proto)) == both
    assert ts_intersection(a, b) == ts_intersection(b, a)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from("aes128gcm16-shprfmodp2048ecx25519null,[]/.:%0123456789 "), max_size=40)
       | st.text(max_size=30))
def test_text_parsers_reject_garbage_with_config_error(text):
    for parse in (lambda t: parse_proposals(t), lambda t: parse_proposal(t, "ESP"), ts_from_string):
        try:
            parse(text)
        except ConfigError:
            pass


# --------------------------------------------------------------------------- decided once per shape
# select() and check_chosen() are cached on (number, protocol, transforms): the SPI must not matter,
# and everything else that decides the answer must.


def test_select_ignores_the_offered_spi_and_answers_alike() -> None:
    configured = parse_proposals("aes128gcm16", protocol=ProtocolId.ESP)
    offers = [parse_proposals("aes256gcm16, aes128gcm16", protocol=ProtocolId.ESP) for _ in range(2)]
    with_spis = [tuple(Proposal(p.number, p.protocol, spi, p.transforms) for p in offer)
                 for offer, spi in zip(offers, (b"\x00\x00\x01\x00", b"\xca\xfe\xba\xbe"))]
    first, second = (select(offer, configured) for offer in with_spis)
    assert first == second and first.number == 2 and first.spi == b""
    assert proposal_to_string(first) == "aes128gcm16"


def test_select_answer_follows_every_input_that_decides_it() -> None:
    offered = parse_proposals("aes128-sha256-ecp256-modp2048")
    configured = parse_proposals("aes128-sha256-modp2048-ecp256")
    assert suite_of(select(offered, configured)).dh == DhId.MODP_2048            # the configured order
    assert suite_of(select(offered, configured, prefer="offered")).dh == DhId.ECP_256
    assert suite_of(select(offered, configured, ke_group="ECP_256")).dh == DhId.ECP_256  # the KE payload's group
    renumbered = (Proposal(7, offered[0].protocol, b"", offered[0].transforms),)
    assert select(renumbered, configured).number == 7
    with pytest.raises(NegotiationError):
        select(offered, parse_proposals("aes256-sha384-ecp384"))
    with pytest.raises(NegotiationError):  # a refusal is never cached as an answer
        select(offered, parse_proposals("aes256-sha384-ecp384"))


def test_check_chosen_ignores_spis_but_not_the_proposal_number() -> None:
    offered = parse_proposals("aes128gcm16, aes128-sha256", protocol=ProtocolId.ESP)
    answer = Proposal(2, ProtocolId.ESP, b"\x00\x00\x12\x34", parse_proposal("aes128-sha256", ProtocolId.ESP).transforms)
    assert check_chosen(offered, answer) == check_chosen(offered, Proposal(2, ProtocolId.ESP, b"\x99" * 4,
                                                                          answer.transforms))
    with pytest.raises(NegotiationError, match="did not offer"):
        check_chosen(offered, Proposal(1, ProtocolId.ESP, b"\x00\x00\x12\x34", answer.transforms))


def test_negotiation_found_by_identity_equals_the_computed_answer() -> None:
    """select, check_chosen and suite_of remember answers by the transforms tuples' identity (ikelab.memo):
    the same objects again, equal copies and another numbering all give what the uncached functions give."""
    from ikelab import proposals as P

    configured = parse_proposals("aes256gcm16-prfsha384-ecp384, aes128-sha256-prfsha256-modp2048")
    offered = parse_proposals("aes128-sha256-prfsha256-modp2048, aes256gcm16-prfsha384-ecp384")
    copies = tuple(Proposal(p.number, p.protocol, p.spi, tuple(list(p.transforms))) for p in offered)
    renumbered = tuple(Proposal(p.number + 1, p.protocol, p.spi, p.transforms) for p in offered)
    for offer in (offered, offered, copies, renumbered, (offered[1], offered[0])):
        for ke in (None, DhId.MODP_2048, int(DhId.ECP_384)):
            for prefer in ("configured", "offered"):
                want = P._select.__wrapped__(P._shapes(offer), P._shapes(configured), prefer,
                                             None if ke is None else DhId(ke))
                assert select(offer, configured, prefer=prefer, ke_group=ke) == want
                assert select(offer, configured, prefer=prefer, ke_group=ke) == want  # found again
                answer = Proposal(want.number, want.protocol, b"", want.transforms)
                suite = P._check_chosen.__wrapped__(P._shapes(offer), P._shapes([answer])[0])
                assert check_chosen(offer, answer) == suite == check_chosen(offer, answer)
                assert suite_of(answer) == P._suite_of.__wrapped__(answer.protocol, answer.transforms) == suite
    wrong = Proposal(3, ProtocolId.IKE, b"", offered[0].transforms)
    for _ in range(2):  # a refusal is never remembered
        with pytest.raises(NegotiationError, match="not offered"):
            check_chosen(offered, wrong)


def test_narrowing_found_by_identity_equals_the_computed_answer() -> None:
    """The responder's narrowing and the initiator's check are remembered by the selectors tuples' identity."""
    from ikelab import ts_negotiation as X

    wide = (ts_from_string("10.0.0.0/8"),)
    narrow_ = (ts_from_string("10.1.0.0/16"),)
    other = (ts_from_string("192.0.2.0/24"),)
    for tsi, tsr in ((wide, wide), (wide, wide), (tuple(list(wide)), wide), (narrow_, wide)):
        want = narrow(tsi, tsr, narrow_, wide)
        assert X.narrow_cached(tsi, tsr, narrow_, wide) == want == X.narrow_cached(tsi, tsr, narrow_, wide)
    for _ in range(2):
        with pytest.raises(NegotiationError):
            X.narrow_cached(other, other, narrow_, wide)
        X.check_narrowed(narrow_, wide, "TSi")
        with pytest.raises(NegotiationError, match="wider"):
            X.check_narrowed(wide, narrow_, "TSi")
        with pytest.raises(NegotiationError, match="wider"):
            X.check_narrowed(list(wide), list(narrow_), "TSi")  # lists: computed every time


def test_a_comma_separated_list_where_one_proposal_is_read_says_so():
    """Lesson 08's exercise answered with 'modp2048, aes256gcm16' met 'unknown algorithm keyword' (demo said
    'give one proposal'); IkeConfig still splits its lists before reading each."""
    with pytest.raises(ConfigError, match="give one proposal here, not a comma-separated list"):
        parse_proposal("aes128-sha256-modp2048,aes256gcm16-prfsha384-ecp384")
    assert len(IkeConfig(psk=b"x", ike_proposals="aes128-sha256-modp2048,aes256gcm16-prfsha384-ecp384").ike_proposals) == 2


def test_an_esp_proposal_without_an_esn_transform_is_unacceptable():
    """RFC 7296 3.3.3 makes ESN mandatory for ESP and AH, and 3.3.6 says a proposal missing a mandatory type is
    unacceptable (the others are still considered).  Such a proposal was accepted and answered with NO_ESN,
    a transform never offered."""
    configured = parse_proposals("aes128-sha256", ProtocolId.ESP)
    no_esn = Proposal(1, ProtocolId.ESP, b"\x00\x00\x00\x01", tuple(
        t for t in parse_proposal("aes128-sha256", ProtocolId.ESP).transforms if t.type != TransformType.ESN))
    with pytest.raises(NegotiationError, match="no ESN transform, which ESP must carry"):
        select([no_esn], configured)
    with_esn = Proposal(2, ProtocolId.ESP, b"\x00\x00\x00\x01", parse_proposal("aes128-sha256", ProtocolId.ESP).transforms)
    assert select([no_esn, with_esn], configured).number == 2


def test_selectors_ikelab_does_not_decode_meet_nothing_and_say_what_they_are():
    # a TS payload keeps selectors of other types as octets (an RFC 9478 security label is type 10); the
    # narrowing functions, given one directly, pass over it or name it in their error, never an AttributeError
    from ikelab.payloads import RawTrafficSelector
    from ikelab.ts_negotiation import check_narrowed
    label = RawTrafficSelector(10, 0, bytes.fromhex("0000000a0102"))
    ts = ts_from_string("192.0.2.0/24")
    assert ts_to_string(label) == "TS type 10: 0000000a0102"
    assert ts_intersection(label, ts) is None and ts_intersection(ts, label) is None
    assert narrow((label, ts), (ts,), ("192.0.2.0/24",), ("192.0.2.0/24",)) == ((ts,), (ts,))
    with pytest.raises(NegotiationError, match="TSi offered TS type 10: 0000000a0102 has nothing in common") as exc:
        narrow((label,), (ts,), ("192.0.2.0/24",), ("192.0.2.0/24",))
    assert exc.value.notify_type == "TS_UNACCEPTABLE"
    with pytest.raises(NegotiationError, match="TSr TS type 10: 0000000a0102 is wider than what we offered"):
        check_narrowed((label,), (ts,), "TSr")
    with pytest.raises(ConfigError, match="not a traffic selector"):
        ts_to_string("192.0.2.0/24")
    with pytest.raises(ConfigError, match="both must be traffic selectors"):
        ts_intersection(ts, "192.0.2.0/24")


@pytest.mark.parametrize("call, message", [
    (lambda good: select("aes128-sha256-modp2048", good),
     r"^offered must be a sequence of Proposals, not str: parse_proposals"),
    (lambda good: select(["aes128-sha256-modp2048"], good),
     r"^offered\[0\] must be a Proposal, not str: parse_proposal\("),
    (lambda good: select(good, None), r"^configured must be a sequence of Proposals, not NoneType"),
    (lambda good: select(good, [good[0], 3]), r"^configured\[1\] must be a Proposal, not int"),
    (lambda good: ke_group_for(None, good), r"^offered must be a sequence of Proposals"),
    (lambda good: check_chosen(good, None), r"^chosen must be a sequence of Proposals, not NoneType"),
    (lambda good: check_chosen(good, ["aes128"]), r"^chosen\[0\] must be a Proposal, not str"),
    (lambda good: check_chosen(None, good[0]), r"^offered must be a sequence of Proposals"),
    (lambda good: suite_of("aes128-sha256-modp2048"), r"^proposal must be a Proposal, not str: parse_proposal\("),
    (lambda good: proposal_to_iana(None), r"^proposal must be a Proposal, not NoneType$"),
    (lambda good: proposal_to_string("aes128"), r"^proposal must be a Proposal, not str"),
])
def test_text_or_nothing_where_proposals_belong_is_a_config_error(call, message) -> None:
    """A student who passes strongSwan text to select() (lesson 08) is told to parse it first; these once raised
    AttributeError ('str' object has no attribute 'transforms') or TypeError from inside."""
    good = parse_proposals("aes128-sha256-modp2048")
    with pytest.raises(ConfigError, match=message):
        call(good)
    assert proposal_to_iana(select(good, good)) == "IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"


def test_a_refusal_of_many_pairs_says_how_many_it_does_not_list() -> None:
    """NO_PROPOSAL_CHOSEN explains six (offered, configured) pairs; beyond them it said nothing of the rest."""
    offered = parse_proposals("aes128-sha256-modp2048, aes256-sha384-modp3072, aes192-sha512-modp4096")
    configured = parse_proposals("aes128gcm16-prfsha256-ecp256, aes256gcm16-prfsha384-ecp384, chacha20poly1305-"
                                 "prfsha256-x25519")
    with pytest.raises(NegotiationError) as info:
        select(offered, configured)
    text = str(info.value)
    assert text.count(" vs ") == 6 and text.endswith("; 3 more pairs not listed)")
    with pytest.raises(NegotiationError) as info:  # six pairs or fewer: every one is explained, no tail
        select(offered[:2], configured)
    assert str(info.value).count(" vs ") == 6 and "not listed" not in str(info.value)
