"""ikelab.figures_ike: the data behind the tables and figures of lessons 05-07.

References independent of the code under test:

* IKE messages are walked by hand here with ``struct`` (RFC 7296 3.1 header, 3.2 generic payload header chain);
* key cuts are checked against the lengths the RFCs state (RFC 7296 2.13/2.14, RFC 4868, RFC 2404, RFC 3566,
  RFC 5282/4106 salts, RFC 7634) and, for HMAC PRFs, against ``cryptography``'s HKDF (RFC 5869: SKEYSEED is
  HKDF-Extract with salt Ni | Nr, prf+ is HKDF-Expand);
* PSK AUTH against Python's ``hmac`` module, signatures against ``cryptography``;
* lifetimes against the configured rekey times (virtual time of the lab, not wall-clock time).
"""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from ikelab import events, figures_ike as fi
from ikelab.errors import ConfigError
from ikelab.lab import Lab
from ikelab.message import decode


@pytest.fixture(scope="module")
def lab() -> Lab:
    lab = Lab(*fi.moon_and_sun(), seed="test-figures-ike")
    lab.initiate()
    lab.run_until_idle()
    return lab


def _walk(data: bytes) -> list[tuple[int, int, int]]:
    """(payload type, offset, length) of each top-level payload, by hand (RFC 7296 3.1, 3.2)."""
    next_payload, length = data[16], struct.unpack("!I", data[24:28])[0]
    assert length == len(data)
    out, offset = [], 28
    while next_payload:
        nxt, _, plen = struct.unpack("!BBH", data[offset:offset + 4])
        out.append((next_payload, offset, plen))
        next_payload, offset = nxt, offset + plen
    return out


def test_payload_rows_follow_the_wire(lab: Lab) -> None:
    msg1 = lab.trace[0].ike_message
    rows = fi.payload_rows(msg1)
    names = {33: "SA", 34: "KE", 40: "NONCE", 41: "N"}
    walked = _walk(msg1)
    assert [r.name.split("[")[0] for r in rows] == ["HDR"] + [names[t] for t, _, _ in walked]
    assert [(r.offset, r.length) for r in rows[1:]] == [(o, n) for _, o, n in walked]
    header = dict(rows[0].fields)
    assert header["spi_i"] == msg1[:8].hex() and header["spi_r"] == "0" * 16
    ke = dict(rows[2].fields)
    assert ke["dh_group"] == "MODP_2048 (14)" and "(256 bytes)" in ke["key_exchange_data"]
    assert rows[2].length == 8 + 256
    text = fi.format_payloads(rows, max_fields=1)
    assert "KE" in text and "more fields" in text


def test_payload_rows_open_the_sk_payload(lab: Lab) -> None:
    msg3 = lab.trace[2].ike_message
    assert [r.name for r in fi.payload_rows(msg3)] == ["HDR", "SK"]
    rows = fi.payload_rows(msg3, fi.lab_crypto(lab))
    inner = [r.name for r in rows if r.decrypted]
    assert inner == ["IDi", "AUTH", "SA", "TSi", "TSr"]
    assert dict(rows[2].fields)["id_data"] == "moon.example.org"
    with pytest.raises(ConfigError):
        fi.payload_rows("not bytes")  # type: ignore[arg-type]


def test_lab_crypto_and_selectors(lab: Lab) -> None:
    crypto = fi.lab_crypto(lab)
    assert fi.selectors(decode(lab.trace[3].ike_message, crypto)) == {"TSi": ("10.1.0.0/16",), "TSr": ("10.2.0.0/16",)}
    with pytest.raises(ConfigError):
        fi.lab_crypto(lab, index=3)
    for not_decoded in (lab.trace[3].ike_message, "TSi"):  # raw octets, or text: a student's likely slips
        with pytest.raises(ConfigError, match="takes a decoded IKE message"):
            fi.selectors(not_decoded)  # type: ignore[arg-type]


RFC_LENGTHS = {  # SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr from the RFCs, by hand
    "aes128-sha256-modp2048": (32, 32, 32, 16, 16, 32, 32),
    "aes256-sha384-modp3072": (48, 48, 48, 32, 32, 48, 48),
    "aes128-sha1-modp2048": (20, 20, 20, 16, 16, 20, 20),
    "aes128-aesxcbc-prfaesxcbc-modp2048": (16, 16, 16, 16, 16, 16, 16),
    "aes128gcm16-prfsha256-ecp256": (32, 0, 0, 20, 20, 32, 32),
    "chacha20poly1305-prfsha256-x25519": (32, 0, 0, 36, 36, 32, 32),
}
HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha1": hashes.SHA1()}


@pytest.mark.parametrize("suite", sorted(RFC_LENGTHS))
def test_ike_key_cut(suite: str) -> None:
    ni, nr, g_ir, spi_i, spi_r = bytes(range(32)), bytes(range(32, 64)), bytes(range(256)), b"\x01" * 8, b"\x02" * 8
    seed, cut = fi.ike_key_cut(suite, ni, nr, g_ir, spi_i, spi_r)
    assert tuple(len(p.value) for p in cut.split()) == RFC_LENGTHS[suite]
    h = next((v for k, v in HASHES.items() if f"-{k}-" in suite or f"prf{k}" in suite), None)
    if h is not None:  # HMAC PRF: SKEYSEED | SK_* is one HKDF call
        assert seed == hmac.new(ni + nr, g_ir, h.name).digest()
        assert cut.keymat == HKDF(h, cut.total_len, salt=ni + nr, info=ni + nr + spi_i + spi_r).derive(g_ir)
    assert f"total {cut.total_len} bytes" in fi.format_key_cut(cut)


def test_ike_key_cut_refuses_bad_suites() -> None:
    with pytest.raises(ConfigError):
        fi.ike_key_cut("aes128-sha256-modp2048-ecp256", b"n" * 16, b"n" * 16, b"g", b"s" * 8, b"s" * 8)
    with pytest.raises(ConfigError):
        fi.ike_key_cut("rot13-modp2048", b"n" * 16, b"n" * 16, b"g", b"s" * 8, b"s" * 8)


def test_child_key_cut_is_hkdf_expand() -> None:
    sk_d, ni, nr, g_ir = bytes(32), b"i" * 32, b"r" * 32, b"g" * 256
    plain = fi.child_key_cut("aes128-sha256", "PRF_HMAC_SHA2_256", sk_d, ni, nr)
    pfs = fi.child_key_cut("aes128-sha256", "PRF_HMAC_SHA2_256", sk_d, ni, nr, g_ir)
    assert plain.keymat == HKDFExpand(hashes.SHA256(), 96, info=ni + nr).derive(sk_d)
    assert pfs.keymat == HKDFExpand(hashes.SHA256(), 96, info=g_ir + ni + nr).derive(sk_d)
    gcm = fi.child_key_cut("aes256gcm16", "PRF_HMAC_SHA2_256", sk_d, ni, nr)
    assert (len(gcm.encr_i), len(gcm.integ_i), gcm.total_len) == (36, 0, 72)  # RFC 4106 8.1: 32-byte key + 4 salt


def test_auth_rows_match_hmac(lab: Lab) -> None:
    a_i = next(e for e in lab.events("initiator", events.AuthComputed) if e.signer == "initiator")
    rows = fi.auth_rows(a_i, fi.LESSON_PSK, "PRF_HMAC_SHA2_256")
    pad = hmac.new(fi.LESSON_PSK, b"Key Pad for IKEv2", hashlib.sha256).digest()
    octets = lab.trace[0].ike_message + a_i.nonce + a_i.maced_id
    assert [r.name for r in rows] == ["RealMessage1", "NonceRData", "MACedID", "SignedOctets", "pad key", "AUTH"]
    assert rows[3].value == octets and rows[4].value == pad
    assert rows[5].value == hmac.new(pad, octets, hashlib.sha256).digest() == a_i.auth
    a_r = next(e for e in lab.events("responder", events.AuthComputed) if e.signer == "responder")
    assert fi.auth_rows(a_r, fi.LESSON_PSK, "PRF_HMAC_SHA2_256")[0].name == "RealMessage2"
    assert "Key Pad for IKEv2" in fi.format_auth_rows(rows)
    with pytest.raises(ConfigError):
        fi.auth_rows("not an event", fi.LESSON_PSK, "PRF_HMAC_SHA2_256")  # type: ignore[arg-type]


def test_the_rekeyed_child_keeps_its_g_ir() -> None:
    esp = ("aes128-sha256-modp2048",)
    lab = Lab(*fi.moon_and_sun(initiator={"esp_proposals": esp}, responder={"esp_proposals": esp}), seed="g_ir")
    lab.initiate()
    lab.run_until_idle()
    lab.rekey_child("initiator", pfs=True)
    lab.run_until_idle()
    kd = lab.events("initiator", events.KeysDerived)[0]
    new = lab.events("initiator", events.ChildSaCreated)[-1]
    sa = next(c for c in lab.children("initiator") if c.spi_in == new.spi_in)
    g_ir = sa.extra["g_ir"]
    assert len(g_ir) == 256  # MODP 2048, padded to the modulus length (RFC 7296 2.14)
    keymat = HKDFExpand(hashes.SHA256(), 96, info=g_ir + sa.ni + sa.nr).derive(kd.sk_d)
    assert keymat == b"".join(new.keymat[k] for k in ("encr_i", "integ_i", "encr_r", "integ_r"))
    responder_sa = next(c for c in lab.children("responder") if c.spi_out == new.spi_in)
    assert responder_sa.extra["g_ir"] == g_ir


def rekeying_lab(seed: str) -> Lab:
    """Moon and sun for 300 s with CHILD SA rekeys every 60/90 s and IKE SA rekeys every 150/200 s."""
    moon, sun = fi.moon_and_sun(initiator={"child_rekey_time": 60, "ike_rekey_time": 150},
                                responder={"child_rekey_time": 90, "ike_rekey_time": 200})
    lab = Lab(moon, sun, seed=seed)
    lab.initiate()
    lab.run(300)
    return lab


def test_sa_lifetimes_follow_the_rekey_times() -> None:
    lab = rekeying_lab("lifetimes")
    lives = fi.sa_lifetimes(lab.events("initiator"))
    ike = [s for s in lives if s.kind == "IKE"]
    child = [s for s in lives if s.kind == "CHILD"]
    assert len(ike) == 2 and ike[0].reason == "rekeyed" and ike[1].end is None
    assert 150 <= ike[1].start < 151
    assert len(child) == 5 and child[-1].end is None
    for s in child[:-1]:
        assert 60 <= s.end - s.start < 61
    assert "alive at 300 s" in fi.format_lifetimes(lives, 300)
    for not_events in (lab, None, "initiator"):
        with pytest.raises(ConfigError, match=r"takes one peer's events, such as lab.events\('initiator'\)"):
            fi.sa_lifetimes(not_events)  # type: ignore[arg-type]
    fig = fi.lifetimes_figure(lives, 300, title="t")
    assert fig.ikelab_alt == "Figure: t: 7 SAs over 300 s"


def test_key_cut_figure_labels_the_keys() -> None:
    _, cut = fi.ike_key_cut("aes128gcm16-prfsha256-ecp256", b"i" * 32, b"r" * 32, b"g" * 32, b"s" * 8, b"t" * 8)
    fig = fi.key_cut_figure(cut, "gcm")
    labels = [t.get_text().split("\n")[0] for t in fig.axes[0].texts]
    assert labels == ["SK_d", "SK_ei", "SK_er", "SK_pi", "SK_pr"] and fig.ikelab_alt == "Figure: gcm"


def test_moon_and_sun_overrides() -> None:
    moon, sun = fi.moon_and_sun(responder={"psk": b"other"}, dpd_interval=5)
    assert moon.psk == fi.LESSON_PSK and sun.psk == b"other"
    assert moon.dpd_interval == sun.dpd_interval == 5
