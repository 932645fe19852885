"""Tests for ikelab.widgets: setting a control updates the output to the values ikelab computes.

No browser and no kernel: the widgets are built in the test process, ``.value`` is set on a slider or
menu, and the linked output widget is read back.  Expected values come from ikelab's core functions
(``ikelab.dh.ToyGroup``, ``ikelab.prf``) and, where published ones exist, from:
* Wikipedia "Diffie-Hellman key exchange" (p = 23, g = 5, a = 4, b = 3: A = 4, B = 10, s = 18);
* RFC 5869 appendix A.1 (HKDF-SHA-256 test case 1: prf+(PRK, info) with PRF_HMAC_SHA2_256 is the OKM).
"""

from __future__ import annotations

import html

import pytest

from ikelab import dh, figures, prf
from ikelab import widgets as ikw
from ikelab.errors import ConfigError
from ikelab.fmt import short_hex

H = bytes.fromhex
PRK = H("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
INFO = H("f0f1f2f3f4f5f6f7f8f9")
OKM = H("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")


def text(widget_html: str) -> str:
    assert widget_html.startswith("<pre") and widget_html.endswith("</pre>")
    return html.unescape(widget_html.split(">", 1)[1].rsplit("<", 1)[0])


# --- toy Diffie-Hellman ---------------------------------------------------------------------------


def test_dh_explorer_starts_with_the_lesson_values() -> None:
    w = ikw.dh_explorer()
    assert (w.p.value, w.g.value, w.x_a.value, w.x_b.value) == (23, 5, 6, 15)
    out = text(w.output.value)
    assert "Y_A = 5^6 mod 23 = 8" in out and "Y_B = 5^15 mod 23 = 19" in out
    assert repr(w).startswith("DhExplorer(p=23, g=5, X_A=6, X_B=15)")


@pytest.mark.parametrize("options, needle", [
    ({"p": 25}, r"p=25 is not in the menu; choose one of 5, 7, 11, 13, 17, \.\.\., 241, 251 \(52 values\)$"),
    ({"g": 30}, "g must be an int from 2 to 21, not 30"),          # a slider would have shown 21
    ({"x_a": 0}, "x_a must be an int from 1 to 21, not 0"),
    ({"x_b": "15"}, "x_b must be an int from 1 to 21, not '15'"),
])
def test_dh_explorer_names_a_bad_starting_value(options: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        ikw.dh_explorer(**options)


def test_prf_plus_explorer_names_a_bad_starting_value() -> None:
    with pytest.raises(ConfigError, match="key must be bytes, not str"):
        ikw.prf_plus_explorer("K", b"S")
    with pytest.raises(ConfigError, match="length must be an int from 1 to 512, not 600"):
        ikw.prf_plus_explorer(b"K", b"S", length=600, draw=False)


def test_dh_explorer_sliders_update_the_output() -> None:
    w = ikw.dh_explorer()
    w.x_a.value, w.x_b.value = 4, 3  # Wikipedia's a and b
    out = text(w.output.value)
    assert "Y_A = 5^4 mod 23 = 4" in out and "Y_B = 5^3 mod 23 = 10" in out
    assert "k = Y_B^X_A mod p = 10^4 mod 23 = 18" in out and "k = Y_A^X_B mod p = 4^3 mod 23 = 18" in out
    assert w.result is not None and w.result.k_a == 18

    w.g.value = 2
    out = text(w.output.value)
    toy = dh.ToyGroup(23, 2)
    assert f"Y_A = 2^4 mod 23 = {toy.public_value(4)}" in out
    assert f"= {toy.shared_secret(4, toy.public_value(3))}\n" in out
    assert "primitive root: no: its powers reach only 11 of the 22 values" in out


def test_dh_explorer_prime_change_rescales_the_sliders() -> None:
    w = ikw.dh_explorer()
    w.p.value = 7
    assert (w.g.max, w.x_a.max, w.x_b.max) == (5, 5, 5)
    assert w.g.value <= 5 and w.x_a.value <= 5 and w.x_b.value <= 5
    ex = w.result
    assert ex is not None and ex.p == 7
    toy = dh.ToyGroup(7, w.g.value)
    assert ex.y_a == toy.public_value(w.x_a.value) and ex.k_a == toy.shared_secret(w.x_a.value, ex.y_b)
    assert f"p = 7, g = {w.g.value}" in text(w.output.value)

    w.p.value = 251
    assert w.g.max == 249
    w.g.value, w.x_a.value = 200, 100  # 200 has order 50 mod 251, and 50 divides 100
    assert w.result is not None and w.result.y_a == 1 and w.result.order == dh.order_of(200, 251) == 50
    assert "finds x = 0 with 200^x = 1 after 1 steps" in text(w.output.value)


def test_dh_explorer_counts_brute_force_steps() -> None:
    w = ikw.dh_explorer(p=251, g=6, x_a=101, x_b=199)
    assert dh.is_primitive_root(6, 251)
    assert w.result is not None
    found = dh.brute_force_dlog(6, dh.ToyGroup(251, 6).public_value(101), 251)
    assert (w.result.dlog_x, w.result.dlog_steps) == (found.x, found.steps) == (101, 102)
    assert "after 102 steps (at most 250)" in text(w.output.value)


# --- prf+ -----------------------------------------------------------------------------------------


def test_prf_plus_explorer_rfc5869() -> None:
    w = ikw.prf_plus_explorer(PRK, INFO, prf_alg="PRF_HMAC_SHA2_256", length=42)
    assert w.chain is not None and w.chain.output == OKM
    out = text(w.output.value)
    assert "42 bytes -> 2 blocks" in out and OKM[:6].hex() in out
    assert bytes(w.image.value).startswith(b"\x89PNG")
    assert repr(w) == "PrfPlusExplorer(PRF_HMAC_SHA2_256, 42 bytes) -- run the notebook to use it"


def test_prf_plus_explorer_length_slider() -> None:
    w = ikw.prf_plus_explorer(PRK, INFO, length=42)
    before = bytes(w.image.value)
    w.length.value = 65  # 3 blocks of 32
    blocks = prf.prf_plus_blocks("PRF_HMAC_SHA2_256", PRK, INFO, 65)
    out = text(w.output.value)
    assert "65 bytes -> 3 blocks" in out
    for n, block in enumerate(blocks, 1):
        assert f"T{n} = " in out and short_hex(block, keep=6) in out
    assert "(only the first 1 bytes used)" in out
    fresh = figures.PrfPlusCanvas().draw(figures.prf_plus_chain_data("PRF_HMAC_SHA2_256", PRK, INFO, 65))
    assert bytes(w.image.value) != before and bytes(w.image.value) == fresh.png()  # no trace of the 2-block drawing


@pytest.mark.parametrize("name, blocks", [("PRF_HMAC_SHA1", 4), ("PRF_HMAC_SHA2_512", 2), ("PRF_AES128_CMAC", 5),
                                          ("PRF_AES128_XCBC", 5), ("PRF_HMAC_SHA2_384", 2)])
def test_prf_plus_explorer_prf_menu(name: str, blocks: int) -> None:
    w = ikw.prf_plus_explorer(PRK, INFO, length=70, draw=False)
    w.prf.value = name
    expected = prf.prf_plus_blocks(name, PRK, INFO, 70)
    assert len(expected) == blocks  # ceil(70 / output length): 20, 64, 16, 16, 48 bytes
    out = text(w.output.value)
    assert f"prf+ with {name}" in out and f"-> {blocks} blocks" in out
    assert short_hex(expected[-1], keep=6) in out
    assert w.chain is not None and w.chain.output == prf.prf_plus(name, PRK, INFO, 70)


def test_prf_plus_explorer_offers_no_weak_prf() -> None:
    w = ikw.prf_plus_explorer(PRK, INFO)
    assert "PRF_HMAC_MD5" not in w.prf.options
    assert set(w.prf.options) == {"PRF_HMAC_SHA1", "PRF_HMAC_SHA2_256", "PRF_HMAC_SHA2_384", "PRF_HMAC_SHA2_512",
                                  "PRF_AES128_XCBC", "PRF_AES128_CMAC"}
