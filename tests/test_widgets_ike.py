"""ikelab.widgets_ike: set a control's value, read the output back (no browser, no kernel).

Expected values are computed outside ikelab: HKDF from ``cryptography`` (SKEYSEED is HKDF-Extract, prf+ is
HKDF-Expand for HMAC PRFs, RFC 5869) and Python's ``hmac`` for the PSK AUTH of RFC 7296 2.15.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from ikelab import events, figures_ike as fi
from ikelab import widgets_ike as ikw
from ikelab.errors import ConfigError
from ikelab.fmt import short_hex
from ikelab.lab import Lab

NI, NR, G_IR, SPI_I, SPI_R = bytes(range(32)), bytes(range(32, 64)), bytes(range(256)), b"\x11" * 8, b"\x22" * 8


def test_key_cut_explorer_follows_the_suite() -> None:
    widget = ikw.key_cut_explorer(NI, NR, G_IR, SPI_I, SPI_R)
    seed = hmac.new(NI + NR, G_IR, hashlib.sha256).digest()
    assert short_hex(seed) in widget.output.value and widget.result.total_len == 192
    widget.suite.value = "aes256gcm16-prfsha384-ecp384"
    seed384 = hmac.new(NI + NR, G_IR, hashlib.sha384).digest()
    assert short_hex(seed384) in widget.output.value
    assert widget.result.total_len == 3 * 48 + 2 * 36 and "SK_ai  (none" in widget.output.value
    assert "KeyCutExplorer(aes256gcm16-prfsha384-ecp384)" in repr(widget)


@pytest.mark.parametrize("suite", ikw.IKE_SUITES)
def test_every_offered_suite_computes(suite: str) -> None:
    widget = ikw.key_cut_explorer(NI, NR, G_IR, SPI_I, SPI_R, suite=suite)
    assert "SK_pr" in widget.output.value


def test_psk_auth_explorer_accepts_only_the_right_key() -> None:
    lab = Lab(*fi.moon_and_sun(), seed="widget")
    lab.initiate()
    lab.run_until_idle()
    a_i = next(e for e in lab.events("initiator", events.AuthComputed) if e.signer == "initiator")
    widget = ikw.psk_auth_explorer(a_i, "PRF_HMAC_SHA2_256", psk=fi.LESSON_PSK.decode())
    assert widget.accepted is True and "the peer accepts it" in widget.output.value
    widget.psk.value = "guess"
    pad = hmac.new(b"guess", b"Key Pad for IKEv2", hashlib.sha256).digest()
    expected = hmac.new(pad, a_i.octets, hashlib.sha256).digest()
    assert widget.accepted is False and short_hex(expected) in widget.output.value
    assert "AUTHENTICATION_FAILED" in widget.output.value
    widget.psk.value = ""
    assert widget.accepted is None and "empty" in widget.output.value


def test_child_keymat_explorer_pfs_and_suite() -> None:
    sk_d = bytes(range(32))
    widget = ikw.child_keymat_explorer("PRF_HMAC_SHA2_256", sk_d, NI, NR, G_IR)
    assert widget.result.keymat == HKDFExpand(hashes.SHA256(), 96, info=NI + NR).derive(sk_d)
    widget.pfs.value = True
    assert widget.result.keymat == HKDFExpand(hashes.SHA256(), 96, info=G_IR + NI + NR).derive(sk_d)
    assert "g^ir (new) | Ni | Nr" in widget.output.value
    widget.esp.value = "aes128gcm16"
    assert widget.result.total_len == 40 and widget.result.integ_i == b""
    assert repr(widget) == "ChildKeymatExplorer(aes128gcm16, pfs=True) -- run the notebook to use it"
    with pytest.raises(ConfigError, match="pfs=1 is not in the menu; choose one of False, True"):
        ikw.child_keymat_explorer("PRF_HMAC_SHA2_256", sk_d, NI, NR, G_IR, pfs=1)
    with pytest.raises(ConfigError, match="g_ir must be bytes, not str"):
        ikw.child_keymat_explorer("PRF_HMAC_SHA2_256", sk_d, NI, NR, G_IR.hex())
    with pytest.raises(ConfigError, match="esp must be text, not float"):
        ikw.child_keymat_explorer("PRF_HMAC_SHA2_256", sk_d, NI, NR, G_IR, esp=float("nan"))
