"""The worked key schedule (``ikelab derive``) against RFC 7296 2.13, 2.14 and 2.17, computed with
tests/reference.py's HMAC-SHA-256 prf and prf+."""

from __future__ import annotations

import hashlib

from ikelab.rand import DeterministicRandom
from ikelab.schedule import worked_schedule

from reference import hmac_sha256 as _prf, prf_plus as _prf_plus  # PRF_HMAC_SHA2_256, RFC 7296 2.13


def test_every_value_of_the_schedule_follows_the_rfc_formulas() -> None:
    s = worked_schedule(seed=2026)  # MODP_2048, PRF_HMAC_SHA2_256, AES-CBC-128, HMAC-SHA2-256-128
    ni, nr, spi_i, spi_r = s["Ni"], s["Nr"], s["SPIi"], s["SPIr"]
    skeyseed = _prf(ni + nr, s["g^ir"])
    assert s["SKEYSEED"] == skeyseed
    names = ("SK_d", "SK_ai", "SK_ar", "SK_ei", "SK_er", "SK_pi", "SK_pr")
    sizes = (32, 32, 32, 16, 16, 32, 32)
    stream = _prf_plus(skeyseed, ni + nr + spi_i + spi_r, sum(sizes))
    assert b"".join(s[n] for n in names) == stream and [len(s[n]) for n in names] == list(sizes)
    blocks = [step for step in s.steps if step.name.startswith("T") and step.name[1:].isdigit()]
    assert [step.name for step in blocks] == [f"T{i}" for i in range(1, 7)]
    blocks = [step.value for step in blocks]
    assert b"".join(blocks) == stream
    keymat = _prf_plus(s["SK_d"], ni + nr, 96)
    assert s["KEYMAT (first CHILD SA)"] == keymat
    # RFC 7296 2.17: encryption then integrity key for initiator-to-responder, then for the other direction
    esp = [s[f"ESP {n}"] for n in ("encr_i", "integ_i", "encr_r", "integ_r")]
    assert b"".join(esp) == keymat and [len(k) for k in esp] == [16, 32, 16, 32]
    ni2, nr2 = s["Ni'"], s["Nr'"]
    assert s["KEYMAT (rekey, no PFS)"] == _prf_plus(s["SK_d"], ni2 + nr2, 96)
    assert s["KEYMAT (rekey, PFS)"] == _prf_plus(s["SK_d"], s["g^ir (new)"] + ni2 + nr2, 96)
    assert {ni2, nr2}.isdisjoint({ni, nr})


def test_each_side_draws_from_its_own_stream_and_the_seed_fixes_every_byte() -> None:
    """The initiator's values come from the seed's "initiator" fork, the responder's from its own, so the
    printed schedule is the one every machine prints for that seed (rand module docstring)."""
    s = worked_schedule(seed=2026)
    root = DeterministicRandom(2026)
    assert s["SPIi"] == root.fork("initiator").spi(8) and s["SPIr"] == root.fork("responder").spi(8)
    digest = hashlib.sha256(b"".join(step.value for step in s.steps)).hexdigest()
    assert digest == "b66262f34793bfefdea53aac411e0abeb7a6e9747a77efe24fe9ee142512fedf"


def test_an_aead_schedule_shows_no_empty_esp_key() -> None:
    """With AES-GCM the CHILD SA has no integrity keys: KEYMAT is only the two encryption keys and salts."""
    s = worked_schedule(group="CURVE25519", encr="ENCR_AES_GCM_16", key_bits=128, integ=None)
    esp = [step for step in s.steps if step.name.startswith("ESP ")]
    assert [step.name for step in esp] == ["ESP encr_i", "ESP encr_r"]
    assert b"".join(step.value for step in esp) == s["KEYMAT (first CHILD SA)"]
