"""IkeConfig: validation names the field, text forms are parsed once, defaults are the documented ones."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from ikelab.certs import ec_key_from_seed, load_private_key, make_ca, make_leaf, to_pem
from ikelab.config import DEFAULT_ESP_PROPOSALS, DEFAULT_IKE_PROPOSALS, IkeConfig
from ikelab.constants import DhId, EncrId, EsnId, IntegId, PrfId, ProtocolId, TransformType
from ikelab.errors import ConfigError, WeakAlgorithmError, WeakAlgorithmWarning
from ikelab.payloads import Proposal, TrafficSelector, Transform
from ikelab.proposals import parse_proposal, proposal_to_string, ts_from_string

VECTORS = Path(__file__).parent / "vectors"


def test_defaults():
    c = IkeConfig(psk="a strong secret")
    assert c.psk == b"a strong secret"
    assert tuple(proposal_to_string(p) for p in c.ike_proposals) == DEFAULT_IKE_PROPOSALS
    assert tuple(proposal_to_string(p) for p in c.esp_proposals) == DEFAULT_ESP_PROPOSALS
    assert all(isinstance(p, Proposal) for p in c.ike_proposals + c.esp_proposals)
    assert [p.number for p in c.ike_proposals] == [1, 2]
    # RFC 7296 2.4 leaves retransmission to implementations; strongSwan: 4 s, x1.8, 5 tries
    assert (c.retransmit_timeout, c.retransmit_base, c.retransmit_tries) == (4.0, 1.8, 5)
    assert (c.ike_rekey_time, c.ike_lifetime, c.child_rekey_time, c.child_lifetime) == (14400, 15840, 3600, 3960)
    assert c.mode == "tunnel" and c.encapsulation == "auto" and c.window_size == 1 and c.dpd_interval is None
    assert c.remote_id == "%any" and c.local_id is None and c.allow_weak is False
    assert c.local_selectors("192.0.2.1") == (ts_from_string("192.0.2.1/32"),)
    text = str(c)
    assert "aes256gcm16-prfsha256-ecp256" in text and "a strong secret" not in text


def test_text_forms_are_parsed_and_stored():
    c = IkeConfig(psk=b"k" * 16, ike_proposals="aes128-sha256-modp2048, aes256gcm16-prfsha384-ecp384",
                  esp_proposals=["aes128gcm16"], local_ts="10.1.0.0/16", remote_ts=["10.2.0.0/16", "dynamic"],
                  pfs_group="MODP_3072", ike_rekey_time="2h", dpd_interval="30s", local_id="moon.strongswan.org",
                  remote_id="*.strongswan.org")
    assert c.ike_proposals == (parse_proposal("aes128-sha256-modp2048"),
                               parse_proposal("aes256gcm16-prfsha384-ecp384", number=2))
    listed = IkeConfig(psk=b"k" * 16, ike_proposals=["aes128-sha256-modp2048,aes256gcm16-prfsha384-ecp384"])
    assert listed.ike_proposals == c.ike_proposals  # as a strongSwan "proposals = a,b" line
    # pfs_group is added to ESP proposals without a DH group
    assert proposal_to_string(c.esp_proposals[0]) == "aes128gcm16-modp3072"
    assert c.pfs_group == DhId.MODP_3072
    assert c.local_ts == (ts_from_string("10.1.0.0/16"),)
    assert c.remote_selectors("192.0.2.9") == (ts_from_string("10.2.0.0/16"), ts_from_string("192.0.2.9"))
    assert c.ike_rekey_time == 7200 and c.ike_lifetime == pytest.approx(7920)  # lifetime follows, +10 %
    assert c.dpd_interval == 30
    # already-parsed values pass through (dataclasses.replace re-validates)
    assert dataclasses.replace(c, mode="transport").ike_proposals == c.ike_proposals
    assert isinstance(c.local_ts[0], TrafficSelector)


def test_psk_encodings():
    assert IkeConfig(psk="0x00ff10").psk == b"\x00\xff\x10"  # strongSwan 0x: hex
    assert IkeConfig(psk="0sAP8Q").psk == b"\x00\xff\x10"  # strongSwan 0s: base64
    assert IkeConfig(psk="clé").psk == "clé".encode()


@pytest.mark.parametrize("kwargs, field", [
    (dict(psk=""), "psk"),
    (dict(psk=42), "psk"),
    (dict(psk="0xzz"), "psk"),
    (dict(), "psk"),
    (dict(psk="x", mode="tun"), "mode"),
    (dict(psk="x", encapsulation="yes"), "encapsulation"),
    (dict(psk="x", ike_proposals="aes128-sha256-foo"), "ike_proposals"),
    (dict(psk="x", ike_proposals=""), "ike_proposals"),
    (dict(psk="x", esp_proposals="aes128gcm16-sha256"), "esp_proposals"),
    (dict(psk="x", esp_proposals=[parse_proposal("aes128-sha256-modp2048")]), "esp_proposals"),
    (dict(psk="x", local_ts="10.0.0.0/33"), "local_ts"),
    (dict(psk="x", remote_ts=[42]), "remote_ts"),
    (dict(psk="x", ike_rekey_time="5h", ike_lifetime="4h"), "ike_rekey_time"),
    (dict(psk="x", child_rekey_time=100, child_lifetime=50), "child_rekey_time"),
    (dict(psk="x", ike_rekey_time="soon"), "ike_rekey_time"),
    (dict(psk="x", ike_rekey_time=-1), "ike_rekey_time"),
    (dict(psk="x", rekey_margin=4000), "rekey_margin"),
    (dict(psk="x", retransmit_timeout=0), "retransmit_timeout"),
    (dict(psk="x", retransmit_tries=-1), "retransmit_tries"),
    (dict(psk="x", retransmit_base=0.5), "retransmit_base"),
    (dict(psk="x", window_size=0), "window_size"),
    (dict(psk="x", cookie_threshold=-3), "cookie_threshold"),
    (dict(psk="x", dpd_interval=True), "dpd_interval"),
    (dict(psk="x", pfs_group="MODP_999"), "pfs_group"),
    (dict(psk="x", local_id="C=CH, XX=moon"), "local_id"),
    (dict(psk="x", remote_id="@#zz"), "remote_id"),
    (dict(psk="x", allow_weak="yes"), "allow_weak"),
    (dict(psk="x", epoch="2026"), "epoch"),
    (dict(psk="x", name=""), "name"),
])
def test_errors_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as err:
        IkeConfig(**kwargs)
    assert err.value.field == field
    assert str(err.value)


def test_weak_algorithms_need_allow_weak():
    with pytest.raises(WeakAlgorithmError) as err:
        IkeConfig(psk="x", ike_proposals="aes128-sha256-modp1024")
    assert err.value.field == "ike_proposals"
    with pytest.raises(WeakAlgorithmError) as err:
        IkeConfig(psk="x", pfs_group="MODP_1024")
    assert err.value.field == "pfs_group"
    with pytest.warns(WeakAlgorithmWarning):
        c = IkeConfig(psk="x", ike_proposals="3des-sha256-modp2048", allow_weak=True)
    assert c.allow_weak


@pytest.mark.parametrize("field, transforms, weak", [
    ("ike_proposals", ((TransformType.ENCR, EncrId.ENCR_3DES, None), (TransformType.PRF, PrfId.PRF_HMAC_SHA2_256, None),
                       (TransformType.INTEG, IntegId.AUTH_HMAC_SHA2_256_128, None), (TransformType.DH, DhId.ECP_256, None)),
     "ENCR_3DES"),
    ("ike_proposals", ((TransformType.ENCR, EncrId.ENCR_AES_CBC, 128), (TransformType.PRF, PrfId.PRF_HMAC_MD5, None),
                       (TransformType.INTEG, IntegId.AUTH_HMAC_SHA2_256_128, None), (TransformType.DH, DhId.ECP_256, None)),
     "PRF_HMAC_MD5"),
    ("ike_proposals", ((TransformType.ENCR, EncrId.ENCR_AES_CBC, 128), (TransformType.PRF, PrfId.PRF_HMAC_SHA2_256, None),
                       (TransformType.INTEG, IntegId.AUTH_HMAC_SHA2_256_128, None), (TransformType.DH, DhId.MODP_1024, None)),
     "MODP_1024"),
    ("esp_proposals", ((TransformType.ENCR, EncrId.ENCR_AES_CBC, 128), (TransformType.INTEG, IntegId.AUTH_HMAC_MD5_96, None),
                       (TransformType.ESN, EsnId.NO_ESN, None)),
     "AUTH_HMAC_MD5_96"),
])
def test_weak_transforms_in_proposal_objects_need_allow_weak(field, transforms, weak):
    """The same rule as for keywords: a Proposal built from Transform objects is no way round allow_weak."""
    protocol = ProtocolId.IKE if field == "ike_proposals" else ProtocolId.ESP
    proposal = Proposal(1, protocol, b"", tuple(Transform(t, i, k) for t, i, k in transforms))
    with pytest.raises(WeakAlgorithmError, match=weak) as err:
        IkeConfig(psk="x", **{field: (proposal,)})
    assert err.value.field == field and "allow_weak=True" in str(err.value)
    with pytest.warns(WeakAlgorithmWarning, match=weak):
        IkeConfig(psk="x", allow_weak=True, **{field: (proposal,)})


@pytest.fixture(scope="module")
def pki():
    ca_key = ec_key_from_seed("config ca")
    ca = make_ca("C=CH, O=strongSwan, CN=Root CA", ca_key)
    rsa_key = load_private_key(str(VECTORS / "rsa2048_a.pem"))
    leaf = make_leaf(ca, ca_key, "C=CH, O=strongSwan, CN=moon.strongswan.org", rsa_key,
                     san=["moon.strongswan.org", "192.0.2.1"])
    return ca, leaf, rsa_key


def test_certificates(pki):
    ca, leaf, key = pki
    c = IkeConfig(certificate=to_pem(leaf), private_key=to_pem(key), trust_anchors=[to_pem(ca)])
    assert c.certificate == leaf and c.trust_anchors == (ca,)
    assert c.local_id == "C=CH, O=strongSwan, CN=moon.strongswan.org"  # the subject DN by default
    assert c.auth_method == "pubkey"
    assert IkeConfig(certificate=leaf, private_key=key, trust_anchors=[ca], local_id="192.0.2.1").local_id == "192.0.2.1"
    with pytest.raises(ConfigError) as err:  # not in the certificate (RFC 4945 3.1)
        IkeConfig(certificate=leaf, private_key=key, trust_anchors=[ca], local_id="sun.strongswan.org")
    assert err.value.field == "local_id"
    with pytest.raises(ConfigError) as err:
        IkeConfig(certificate=leaf, private_key=ec_key_from_seed("other"), trust_anchors=[ca])
    assert err.value.field == "private_key"
    with pytest.raises(ConfigError) as err:
        IkeConfig(certificate=leaf, trust_anchors=[ca])
    assert err.value.field == "private_key"
    with pytest.raises(ConfigError) as err:
        IkeConfig(certificate=leaf, private_key=key)  # nothing to check the peer with
    assert err.value.field == "trust_anchors"
    with pytest.raises(ConfigError) as err:
        IkeConfig(psk="x", trust_anchors=[b"not a certificate"])
    assert err.value.field == "trust_anchors"


def test_a_dsa_key_is_refused_when_configured(pki):
    """ikelab signs AUTH with RSA, ECDSA or Ed25519 keys: a DSA key and its certificate once passed the
    configuration and IKE_SA_INIT, and failed in IKE_AUTH as INVALID_SYNTAX."""
    from cryptography.hazmat.primitives.asymmetric import dsa

    ca, _, _ = pki
    dsa_key = dsa.generate_private_key(1024)
    leaf = make_leaf(ca, ec_key_from_seed("config ca"), "CN=dsa.example", dsa_key, san=["dsa.example"])
    with pytest.raises(ConfigError, match="with an RSA, ECDSA or Ed25519 key, not a DSAPrivateKey") as err:
        IkeConfig(certificate=leaf, private_key=dsa_key, trust_anchors=[ca])
    assert err.value.field == "private_key"


@pytest.mark.parametrize("local, remote, ok", [
    (("2001:db8::/64",), ("10.0.0.0/24",), False),
    (("10.1.0.0/16",), ("2001:db8::/64",), False),
    (("2001:db8::/64", "10.1.0.0/16"), ("10.0.0.0/24",), True),  # the IPv4 pair matches
    (("dynamic",), ("2001:db8::/64",), True),  # dynamic: the IKE address's version, known later
    (("2001:db8:1::/64",), ("2001:db8:2::/64",), True),
])
def test_selectors_of_two_ip_versions_that_match_no_packet_are_refused(local, remote, ok):
    """A CHILD SA ``2001:db8::/64 === 10.0.0.0/24`` matches no packet (a packet's source and destination
    have one IP version); ``ikelab connect --ts`` once installed one and reported success."""
    make = lambda: IkeConfig(psk="secret", local_ts=local, remote_ts=remote)  # noqa: E731
    if ok:
        make()
        return
    with pytest.raises(ConfigError, match="no packet would match") as err:
        make()
    assert err.value.field == "local_ts"


def test_from_dict():
    c = IkeConfig.from_dict({"psk": "secret", "proposals": "aes128-sha256-modp2048", "esp": "aes128gcm16",
                             "id": "moon.strongswan.org", "remote": "sun.strongswan.org", "rekey_time": "1h",
                             "mode": "transport"})
    assert c.ike_rekey_time == 3600 and c.local_id == "moon.strongswan.org" and c.mode == "transport"
    with pytest.raises(ConfigError) as err:
        IkeConfig.from_dict({"psk": "secret", "proposal": "aes128"})
    assert err.value.field == "proposal" and "ike_proposals" in str(err.value)
    with pytest.raises(ConfigError) as err:
        IkeConfig.from_dict({"psk": "secret", "id": "a", "local_id": "b"})
    assert err.value.field == "local_id"
    with pytest.raises(ConfigError):
        IkeConfig.from_dict(["psk"])


def test_str_is_readable():
    c = IkeConfig(psk="secret", local_id="moon.strongswan.org", remote_id="sun.strongswan.org",
                  local_ts="10.1.0.0/16", remote_ts="10.2.0.0/16", pfs_group=DhId.ECP_256)
    text = str(c)
    for needle in ("moon.strongswan.org", "sun.strongswan.org", "10.1.0.0/16", "10.2.0.0/16", "ECP_256",
                   "aes128-sha256-modp3072", "tunnel"):
        assert needle in text
    assert "secret" not in text.replace("(set, not shown)", "")
    assert any(t.type == TransformType.DH for t in c.esp_proposals[0].transforms)


# --------------------------------------------------------------------------- boundaries and accepted forms


@pytest.mark.parametrize("kwargs, field", [
    # a rekey time equal to the hard limit leaves no time to rekey: the SA would expire first
    (dict(ike_rekey_time=3600, ike_lifetime=3600), "ike_rekey_time"),
    (dict(child_rekey_time=600, child_lifetime="10m"), "child_rekey_time"),
    # a margin (random jitter subtracted from the rekey time) equal to the rekey time could rekey at once
    (dict(child_rekey_time=60, rekey_margin=60), "rekey_margin"),
    # negative and NaN durations, including those where zero is allowed
    (dict(rekey_margin=-0.5), "rekey_margin"),
    (dict(dpd_interval=-5), "dpd_interval"),
    (dict(retransmit_timeout=float("nan")), "retransmit_timeout"),
    (dict(rekey_margin=float("nan")), "rekey_margin"),
    (dict(retransmit_base=True), "retransmit_base"),
    (dict(window_size=True), "window_size"),
    (dict(retransmit_tries=False), "retransmit_tries"),
    (dict(fragment_size=65536), "fragment_size"),
    (dict(psk="0sAP8Q!!"), "psk"),  # not base64: refused, not silently shortened to the valid characters
    (dict(remote_psk=""), "remote_psk"),
    (dict(remote_psk="0x0g"), "remote_psk"),
    (dict(local_id="%any"), "local_id"),  # a wildcard matches a peer; it is not an identity to send
    (dict(ike_proposals=["aes128-sha256-modp3072", 42]), "ike_proposals"),
    (dict(esp_proposals=[None]), "esp_proposals"),
])
def test_boundary_values_are_refused(kwargs, field):
    with pytest.raises(ConfigError) as err:
        IkeConfig(psk=kwargs.pop("psk", "x"), **kwargs)
    assert err.value.field == field and field in str(err.value)


def test_boundary_values_are_accepted():
    c = IkeConfig(psk="x", ike_rekey_time=3600, ike_lifetime=3601, child_rekey_time=60, rekey_margin=59.5,
                  retransmit_base=1, retransmit_tries=0, fragment_size=65535, cookie_threshold=0,
                  encapsulation="never")
    assert (c.ike_rekey_time, c.ike_lifetime, c.rekey_margin) == (3600, 3601, 59.5)
    # base 1: a constant timeout; 0 tries: give up after the first timeout; 0: a cookie always (RFC 7296 2.6)
    assert (c.retransmit_base, c.retransmit_tries, c.cookie_threshold) == (1.0, 0, 0)
    assert isinstance(c.retransmit_base, float)
    assert (c.fragment_size, c.encapsulation) == (65535, "never")
    # integers given as text (an INI or environment value) are read as integers
    t = IkeConfig(psk="x", retransmit_tries="3", window_size=" 2 ", cookie_threshold="0")
    assert (t.retransmit_tries, t.window_size, t.cookie_threshold) == (3, 2, 0)


@pytest.mark.parametrize("dpd", [0, "0s", None, float("inf")])
def test_dpd_interval_zero_means_off(dpd):
    """strongSwan's ``dpd_delay = 0`` turns liveness checks off: stored as None, as when not given (and an
    interval that never ends means the same)."""
    c = IkeConfig(psk="x", dpd_interval=dpd)
    assert c.dpd_interval is None
    assert "dpd off" in str(c)


def test_duration_units():
    c = IkeConfig(psk="x", ike_rekey_time="1d", child_rekey_time="30m", retransmit_timeout="90s",
                  rekey_margin="1.5m", dpd_interval=" 45 ")
    assert (c.ike_rekey_time, c.child_rekey_time, c.retransmit_timeout) == (86400, 1800, 90)
    assert (c.rekey_margin, c.dpd_interval) == (90, 45)
    assert (c.ike_lifetime, c.child_lifetime) == (pytest.approx(95040), pytest.approx(1980))


def test_identities_and_selector_keywords():
    c = IkeConfig(psk="x", remote_id="%any6", local_ts="Dynamic", remote_ts=" DYNAMIC ")
    assert c.remote_id == "%any6"  # the IPv6 wildcard is a pattern like %any
    assert c.local_ts == c.remote_ts == ("dynamic",)
    assert c.remote_selectors("2001:db8::2") == (ts_from_string("2001:db8::2"),)


def test_pfs_group_adds_dh_before_esn_and_keeps_an_explicit_group():
    c = IkeConfig(psk="x", esp_proposals=["aes128-sha256", "aes128gcm16-modp2048"], pfs_group="ECP_256")
    assert [t.type for t in c.esp_proposals[0].transforms] == [
        TransformType.ENCR, TransformType.INTEG, TransformType.DH, TransformType.ESN]  # strongSwan's order
    # a proposal that names its own group keeps it and gets no second DH transform
    assert [t.id for t in c.esp_proposals[1].transforms if t.type == TransformType.DH] == [DhId.MODP_2048]
    none = IkeConfig(psk="x", pfs_group="NONE")  # NONE: no PFS, as if not given
    assert none.pfs_group is None
    assert not any(p.of_type(TransformType.DH) for p in none.esp_proposals)
    assert "PFS" not in str(none)


def test_proposal_objects_are_renumbered_from_one():
    """RFC 7296 3.3.1: the first Proposal is numbered 1 and each next one 1 more; objects built elsewhere
    (or copied from a peer's SA payload) keep their transforms but get the configured position."""
    a, b = parse_proposal("aes128-sha256-modp3072", number=7), parse_proposal("aes256gcm16-prfsha384-ecp384", number=3)
    c = IkeConfig(psk="x", ike_proposals=(a, b))
    assert [p.number for p in c.ike_proposals] == [1, 2]
    assert [p.transforms for p in c.ike_proposals] == [a.transforms, b.transforms]


def test_a_certificate_with_a_remote_psk_needs_no_trust_anchors(pki):
    """We sign with our key; the peer proves itself with a PSK (strongSwan: local auth = pubkey, remote auth = psk)."""
    ca, leaf, key = pki
    c = IkeConfig(certificate=leaf, private_key=key, remote_psk="peer secret")
    assert c.auth_method == "pubkey" and c.remote_psk == b"peer secret" and c.trust_anchors == ()


def test_a_weak_rsa_certificate_key_needs_allow_weak(pki):
    from cryptography.hazmat.primitives.asymmetric import rsa

    ca, _, _ = pki
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    leaf = make_leaf(ca, ec_key_from_seed("config ca"), "CN=weak.example", weak_key, san=["weak.example"])
    with pytest.raises(WeakAlgorithmError, match="1024-bit RSA") as err:
        IkeConfig(certificate=leaf, private_key=weak_key, trust_anchors=[ca])
    assert err.value.field == "private_key"
    with pytest.warns(WeakAlgorithmWarning, match="1024-bit RSA"):
        IkeConfig(certificate=leaf, private_key=weak_key, trust_anchors=[ca], allow_weak=True)


def test_from_dict_strongswan_spellings_and_remote_id_default():
    c = IkeConfig.from_dict({"secret": "s3cret", "dpd_delay": "30s", "local": "moon.strongswan.org", "remote": None})
    assert c.psk == b"s3cret" and c.remote_psk is None  # swanctl's "secret" is our own PSK
    assert c.dpd_interval == 30 and c.local_id == "moon.strongswan.org"
    assert c.remote_id == "%any"  # no remote identity: any peer that authenticates


@pytest.mark.parametrize("field, value, words", [
    ("retransmit_timeout", float("inf"), "retransmit_timeout = inf: give a finite number of seconds"),
    ("retransmit_base", float("inf"), "retransmit_base = inf must be a finite number >= 1"),
])
def test_a_retransmission_wait_that_never_ends_is_refused(field, value, words):
    """RFC 7296 2.4: a request is sent again after a wait and given up after the last one.  A wait of inf
    would leave the IKE SA waiting for ever, with no retransmission and no failure to report."""
    with pytest.raises(ConfigError, match=re.escape(words)) as err:
        IkeConfig(psk="x", **{field: value})
    assert err.value.field == field
