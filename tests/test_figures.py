"""Tests for ikelab.figures: the data behind each figure, and what each figure draws.

Independent expected values:
* Diffie-Hellman textbook examples: Wikipedia "Diffie-Hellman key exchange" (p = 23, g = 5, a = 4, b = 3:
  A = 4, B = 10, s = 18) and Stallings, *Cryptography and Network Security* 10.1 (q = 353, alpha = 3, X_A = 97,
  X_B = 233: Y_A = 40, Y_B = 248, K = 160).  Orders mod 23 by hand: 5 is a primitive root (order 22),
  2 has order 11 (2^11 = 2048 = 89 * 23 + 1).
* prf+: RFC 5869 appendix A.1 (HKDF-SHA-256 test case 1): prf+(PRK, info) with PRF_HMAC_SHA2_256 is the OKM.
* SK_* byte ranges: RFC 7296 2.14 order with the key lengths of RFC 4868 (32-byte SK_d/SK_pi/SK_pr and
  HMAC-SHA2-256-128 keys) and 16-byte AES-128 keys, added up by hand.
Primes and primitive roots of the brute-force table are checked with sympy, and the counts with Python's pow.
"""

from __future__ import annotations

import base64
import math

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from ikelab import figures, keys
from ikelab.errors import ConfigError

H = bytes.fromhex
PRK = H("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
INFO = H("f0f1f2f3f4f5f6f7f8f9")
OKM = H("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]


# --- Diffie-Hellman ---------------------------------------------------------------------------


@pytest.mark.parametrize("p, g, x_a, x_b, y_a, y_b, k, primitive, order", [
    (23, 5, 4, 3, 4, 10, 18, True, 22),         # Wikipedia
    (353, 3, 97, 233, 40, 248, 160, True, 352),  # Stallings 10.1
    (23, 2, 6, 15, 18, 16, 4, False, 11),       # by hand: 2^6 = 64 = 2*23 + 18; 2^15 = 2^11 * 2^4 = 16
])
def test_toy_exchange(p: int, g: int, x_a: int, x_b: int, y_a: int, y_b: int, k: int, primitive: bool,
                      order: int) -> None:
    ex = figures.toy_exchange(p, g, x_a, x_b)
    assert (ex.y_a, ex.y_b, ex.k_a, ex.k_b) == (y_a, y_b, k, k)
    assert ex.agree and ex.primitive is primitive and ex.order == order
    assert pow(g, ex.dlog_x, p) == y_a and ex.dlog_steps == ex.dlog_x + 1 and ex.dlog_x == x_a % order
    text = figures.format_toy_exchange(ex)
    assert f"Y_A = {g}^{x_a} mod {p} = {y_a}" in text and f"= {k}\n" in text


def test_toy_exchange_says_why_g_is_not_primitive() -> None:
    text = figures.format_toy_exchange(figures.toy_exchange(23, 2, 6, 15))
    assert "primitive root: no: its powers reach only 11 of the 22 values" in text


def test_powers_of() -> None:
    # by hand: 2, 4, 8, 16, 32-23 = 9, 18, 36-23 = 13, 26-23 = 3, 6, 12, 24-23 = 1
    assert figures.powers_of(2, 23) == [1, 2, 4, 8, 16, 9, 18, 13, 3, 6, 12] * 2
    assert sorted(figures.powers_of(5, 23)) == list(range(1, 23))  # a primitive root visits everything


def test_powers_figure() -> None:
    fig = figures.powers_figure(23, [5, 2])
    assert len(fig.axes) == 2
    assert [ax.get_title() for ax in fig.axes] == ["g = 5: order 22 (22 distinct values)",
                                                   "g = 2: order 11 (11 distinct values)"]
    points = fig.axes[1].lines[1].get_ydata()
    assert list(points) == [1, 2, 4, 8, 16, 9, 18, 13, 3, 6, 12] * 2
    with pytest.raises(ConfigError):
        figures.powers_figure(23, [])


def test_dlog_cost_rows() -> None:
    rows = figures.dlog_cost((4, 8, 12, 16))
    assert [r.bits for r in rows] == [4, 8, 12, 16]
    assert [r.p for r in rows] == [13, 251, 4093, 65521]  # largest primes below 16, 256, 4096, 65536
    for r in rows:
        assert sympy.isprime(r.p) and r.p < 2 ** r.bits
        assert not any(sympy.isprime(q) for q in range(r.p + 1, 2 ** r.bits))
        assert r.g == sympy.primitive_root(r.p)
        assert 2 <= r.x <= r.p - 2 and r.steps == r.x + 1 and r.worst == r.p - 1
    assert figures.dlog_cost((4, 8, 12, 16)) == rows  # seeded: the same counts every run
    assert figures.dlog_cost((4, 8, 12, 16), seed="other") != rows
    with pytest.raises(ConfigError):
        figures.dlog_cost((40,))


def test_dlog_cost_figure() -> None:
    rows = figures.dlog_cost((4, 6, 8))
    fig = figures.dlog_cost_figure(rows)
    worst, average, measured = fig.axes[0].lines
    assert list(worst.get_xdata()) == [4, 6, 8]
    assert list(worst.get_ydata()) == [math.log2(12), math.log2(60), math.log2(250)]  # p = 13, 61, 251
    assert list(average.get_ydata()) == [math.log2(6), math.log2(30), math.log2(125)]
    assert list(measured.get_ydata()) == [math.log2(r.steps) for r in rows]
    assert figures.describe(fig) == "Figure: brute-force steps for p of 4 to 8 bits"


def test_groups_figure_has_a_point_per_group() -> None:
    fig = figures.groups_figure()
    ax = fig.axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections) == 13  # MODP 1, 2, 5, 14-18; ECP 19-21; 31, 32
    labels = [t.get_text() for t in ax.texts]
    assert "MODP_1024 (weak)" in labels and "MODP_2048" in labels and "CURVE25519" in labels


# --- prf+ -------------------------------------------------------------------------------------


def test_prf_plus_chain_data_rfc5869() -> None:
    chain = figures.prf_plus_chain_data("PRF_HMAC_SHA2_256", PRK, INFO, 42)
    assert chain.output == OKM
    assert chain.n_blocks == 2 and [b.label for b in chain.blocks] == ["T1", "T2"]
    assert [b.input_label for b in chain.blocks] == ["S | 0x01", "T1 | S | 0x02"]
    assert chain.blocks[0].value == OKM[:32] and chain.blocks[1].value[:10] == OKM[32:]
    assert [b.used for b in chain.blocks] == [32, 10]
    text = figures.format_prf_plus_chain(chain)
    assert "42 bytes -> 2 blocks" in text and "(only the first 10 bytes used)" in text
    assert OKM[:6].hex() in text


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([("PRF_HMAC_SHA1", 20), ("PRF_HMAC_SHA2_256", 32), ("PRF_HMAC_SHA2_512", 64),
                        ("PRF_AES128_XCBC", 16), ("PRF_AES128_CMAC", 16)]),
       st.integers(1, 600))
def test_prf_plus_chain_shape(alg_out: tuple[str, int], length: int) -> None:
    alg, out = alg_out
    chain = figures.prf_plus_chain_data(alg, b"k" * 16, b"seed", length)
    assert chain.n_blocks == math.ceil(length / out) == figures.blocks_needed(alg, length)
    assert sum(b.used for b in chain.blocks) == length == len(chain.output)
    assert chain.output == b"".join(b.value for b in chain.blocks)[:length]
    assert [b.label for b in chain.blocks] == [f"T{n}" for n in range(1, chain.n_blocks + 1)]
    assert all(b.input_label == f"T{b.index - 1} | S | 0x{b.index:02x}" for b in chain.blocks[1:])


def test_prf_plus_chain_figure_draws_every_block() -> None:
    fig = figures.prf_plus_chain("PRF_HMAC_SHA2_256", PRK, INFO, 70)  # 3 blocks of 32
    drawn = texts(fig)
    assert [t.split("\n")[0] for t in drawn if t.startswith("T") and "\n" in t] == ["T1", "T2", "T3"]
    assert {"S | 0x01", "T1 | S | 0x02", "T2 | S | 0x03"} <= set(drawn)
    assert any("use 6 of 32 B" in t for t in drawn)
    assert figures.describe(fig) == "Figure: prf+ chain with PRF_HMAC_SHA2_256, 3 blocks for 70 bytes"


def test_prf_plus_chain_figure_elides_long_chains() -> None:
    fig = figures.prf_plus_chain("PRF_HMAC_SHA1", b"k", b"s", 200, max_drawn=6)  # 10 blocks of 20
    drawn = texts(fig)
    assert [t.split("\n")[0] for t in drawn if t.startswith("T") and "\n" in t] == ["T1", "T2", "T3", "T4", "T10"]
    assert "..." in drawn and "T9 | S | 0x0a" in drawn
    with pytest.raises(ConfigError):
        figures.prf_plus_chain("PRF_HMAC_SHA1", b"k", b"s", 200, max_drawn=2)


def test_prf_plus_canvas_redrawn_in_place_forgets_what_it_drew_before() -> None:
    """The widget's canvas, after long, short and elided chains, draws each chain as a fresh canvas does."""
    canvas = figures.PrfPlusCanvas()
    for alg, length in [("PRF_HMAC_SHA1", 200), ("PRF_HMAC_SHA2_256", 20), ("PRF_AES128_XCBC", 70),
                        ("PRF_HMAC_SHA2_512", 65), ("PRF_HMAC_SHA1", 1)]:
        chain = figures.prf_plus_chain_data(alg, PRK, INFO, length)
        fresh = figures.PrfPlusCanvas().draw(chain)
        assert canvas.draw(chain).png() == fresh.png(), (alg, length)
        assert canvas.figure.get_size_inches().tolist() == fresh.figure.get_size_inches().tolist()
        assert figures.describe(canvas.figure) == f"Figure: prf+ chain with {alg}, {chain.n_blocks} blocks for {length} bytes"
    with pytest.raises(ConfigError):
        figures.PrfPlusCanvas(max_drawn=2)


def test_prf_plus_chain_refuses_more_than_255_blocks() -> None:
    with pytest.raises(ConfigError, match="255"):
        figures.prf_plus_chain_data("PRF_HMAC_SHA2_256", b"k", b"s", 255 * 32 + 1)


def _suite_keys() -> keys.IkeSaKeys:
    return keys.ike_sa_keys("PRF_HMAC_SHA2_256", bytes(32), bytes(32), bytes(32), bytes(8), bytes(8),
                            encr="ENCR_AES_CBC", encr_key_bits=128, integ="AUTH_HMAC_SHA2_256_128")


def test_key_spans() -> None:
    # SK_d 32 | SK_ai 32 | SK_ar 32 | SK_ei 16 | SK_er 16 | SK_pi 32 | SK_pr 32 = 192 bytes, blocks of 32
    spans = figures.key_spans(_suite_keys())
    assert [(s.name, s.start, s.end, s.first_block, s.last_block) for s in spans] == [
        ("SK_d", 0, 32, 1, 1), ("SK_ai", 32, 64, 2, 2), ("SK_ar", 64, 96, 3, 3), ("SK_ei", 96, 112, 4, 4),
        ("SK_er", 112, 128, 4, 4), ("SK_pi", 128, 160, 5, 5), ("SK_pr", 160, 192, 6, 6),
    ]


def test_key_split_figure() -> None:
    fig = figures.key_split_figure(_suite_keys())
    drawn = texts(fig)
    assert [t for t in drawn if t.startswith("T")] == [f"T{n}" for n in range(1, 7)]
    assert "SK_ei\n16" in drawn and "SK_pr\n32" in drawn
    assert "192 bytes, 6 blocks" in drawn[-1]


# --- helpers ----------------------------------------------------------------------------------


def test_text_table() -> None:
    table = figures.text_table(["name", "n"], [("a", 1), ("bbb", 22)])
    assert table == "name  n\n----  --\na      1\nbbb   22"
    with pytest.raises(ConfigError):
        figures.text_table(["a", "b"], [(1,)])
    with pytest.raises(ConfigError, match="headers must be a list of column names, not str"):
        figures.text_table("name n", [("a", 1)])
    with pytest.raises(ConfigError, match="each table row must be a list or tuple of cells, not str"):
        figures.text_table(["name"], ["abc"])  # a row of one cell is ("abc",); "abc" alone would be 3 cells
    with pytest.raises(ConfigError, match="rows must be a list of rows, not int"):
        figures.text_table(["n"], 5)


def test_png_bytes_is_deterministic() -> None:
    one = figures.png_bytes(figures.prf_plus_chain("PRF_HMAC_SHA2_256", PRK, INFO, 42))
    two = figures.png_bytes(figures.prf_plus_chain("PRF_HMAC_SHA2_256", PRK, INFO, 42))
    assert one.startswith(b"\x89PNG\r\n\x1a\n") and one == two
    assert b"Software" not in one and b"tIME" not in one


def test_show_displays_png_and_a_description(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append((obj, raw)))
    fig = figures.powers_figure(23, [5])
    figures.show(fig)
    ((data, raw),) = shown
    assert raw is True and data["text/plain"] == "Figure: powers of g = 5 modulo 23"
    assert base64.b64decode(data["image/png"]) == figures.png_bytes(fig)
