"""Review of the lesson helpers of lessons 00 and 02-07: what a student reads in each figure, table and widget.

Each test closes a gap found by hand mutation of ikelab/figures*.py and ikelab/widgets*.py (the figures' axes,
colours, labels and alt texts; the tables' columns; the widgets' texts).  Expected values are computed here,
independently of the helper under test:

* Diffie-Hellman with Python's ``pow`` and sympy (orders and primitive roots);
* prf+ (RFC 7296 2.13) from tests/reference.py (``hmac``); the SK_* byte ranges of RFC 7296 2.14 added up from the key
  lengths of RFC 4868, RFC 2404 and FIPS 197;
* PSK AUTH (RFC 7296 2.15) with ``hmac``: MACedID = prf(SK_pr, RestOfRespIDPayload) for the responder;
* IKE and ESP headers read from the raw packet bytes with ``struct`` (RFC 7296 3.1, RFC 4303 2);
* the lab's own events (ChildSaCreated, KeysDerived) for SPIs and times.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import struct
from types import SimpleNamespace

import pytest
import sympy
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from ikelab import dh, events as ev, figures, figures_ike as fi, figures_pfs, figures_tour, keys, scenario
from ikelab import widgets_ike, widgets_pfs
from ikelab.constants import ProtocolId
from ikelab.lab import Lab
from ikelab.payloads import SK, Delete
from ikelab.fmt import short_hex
from ikelab.rand import DeterministicRandom
from reference import prf_plus
from test_figures_ike import lab, rekeying_lab  # noqa: F401 - lab: a fixture, moon and sun after IKE_AUTH
from test_figures_tour import classic, rows  # noqa: F401 - fixtures: the classic trace and its rows

H = bytes.fromhex
PRK = H("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
INFO = H("f0f1f2f3f4f5f6f7f8f9")


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]


def text(widget_html: str) -> str:
    assert widget_html.startswith("<pre") and widget_html.endswith("</pre>")
    return html.unescape(widget_html.split(">", 1)[1].rsplit("<", 1)[0])


def bars(ax) -> list[Rectangle]:  # type: ignore[no-untyped-def]
    return [p for p in ax.patches if isinstance(p, Rectangle)]


# --- lesson 02: toy Diffie-Hellman --------------------------------------------------------------------------------


def test_toy_exchange_bounds_eve_by_the_order_of_g_not_by_p() -> None:
    # 2 has order 11 mod 23 (2^11 = 2048 = 89 * 23 + 1): Eve tries at most 11 exponents, not 22
    assert pow(2, 11, 23) == 1 and all(pow(2, k, 23) != 1 for k in range(1, 11))
    text_ = figures.format_toy_exchange(figures.toy_exchange(23, 2, 6, 15))
    assert text_.endswith(f"after {6 % 11 + 1} steps (at most 11)")


def test_powers_figure_axes_colours_and_alt() -> None:
    fig = figures.powers_figure(23, [5, 2])
    primitive, not_primitive = fig.axes
    # a primitive root is drawn in blue, a smaller-order base in orange
    assert sympy.is_primitive_root(5, 23) and not sympy.is_primitive_root(2, 23)
    assert to_hex(primitive.lines[1].get_color()) == "#4c72b0"
    assert to_hex(not_primitive.lines[1].get_color()) == "#dd8452"
    for ax, g in zip(fig.axes, (5, 2)):
        assert ax.get_ylim() == (0, 23)  # every value 1..22 fits, 0 never appears
        assert ax.get_ylabel() == f"{g}^x mod 23" and ax.get_xlabel() == "x"
        assert list(ax.lines[1].get_xdata()) == list(range(22))
        assert list(ax.lines[1].get_ydata()) == [pow(g, x, 23) for x in range(22)]
    assert fig.ikelab_alt == "Figure: powers of g = 5, 2 modulo 23"


def test_dlog_cost_secrets_are_valid_private_values_from_the_seed() -> None:
    rows = figures.dlog_cost((4, 8, 12))
    rng = DeterministicRandom("dlog")
    for r in rows:
        # the secret is the seed's next draw from 2..p-2 (x = 1 would make Y = g, x = p - 1 would make Y = 1)
        assert r.x == rng.randrange(2, r.p - 1)
        assert pow(r.g, r.x, r.p) not in (1, r.g)


def test_dlog_cost_figure_ticks_are_the_sizes() -> None:
    fig = figures.dlog_cost_figure(figures.dlog_cost((4, 6, 8)))
    assert list(fig.axes[0].get_xticks()) == [4, 6, 8]


def test_groups_figure_places_each_group_at_its_size_and_strength() -> None:
    fig = figures.groups_figure()
    ax = fig.axes[0]
    drawn = sorted((float(x), float(y)) for c in ax.collections for x, y in c.get_offsets())
    assert drawn == sorted((float(g.public_len), float(g.strength)) for g in dh.groups())
    low, high = ax.get_xlim()
    assert all(low < x < high for x, _ in drawn)  # no group falls off the axis
    line = next(ln for ln in ax.lines if "NIST" in ln.get_label())
    assert list(line.get_ydata()) == [112, 112]


def test_groups_figure_does_not_put_modp_2048_below_the_nist_minimum() -> None:
    """NIST SP 800-57 part 1 table 2 rates 2048-bit finite-field DH at 112 bits: the NIST minimum line must not
    read as if group 14 (RFC 3526's estimate: 110 bits) were below it."""
    fig = figures.groups_figure()
    line = next(ln for ln in fig.axes[0].lines if "NIST" in ln.get_label())
    assert "MODP_2048" in line.get_label()
    assert "RFC 3526" in fig.axes[0].get_ylabel() or "RFC 3526" in line.get_label()


# --- lesson 04: prf+ ----------------------------------------------------------------------------------------------


def test_prf_plus_text_names_the_block_size() -> None:
    chain = figures.prf_plus_chain_data("PRF_HMAC_SHA1", b"k", b"s", 70)
    assert figures.format_prf_plus_chain(chain).splitlines()[0] == (
        "prf+ with PRF_HMAC_SHA1 (20-byte blocks), 70 bytes -> 4 blocks")


def test_prf_plus_canvas_shows_each_blocks_first_bytes_and_highlights_the_cut_one() -> None:
    stream = prf_plus(PRK, INFO, 70)  # RFC 7296 2.13 with HMAC-SHA-256: T1 | T2 | the first 6 bytes of T3
    blocks = [stream[i:i + 32] for i in range(0, 70, 32)]
    canvas = figures.PrfPlusCanvas().draw(figures.prf_plus_chain_data("PRF_HMAC_SHA2_256", PRK, INFO, 70))
    drawn = [t for t in texts(canvas.figure) if t]
    assert f"T1\n{blocks[0][:4].hex()}.." in drawn and f"T2\n{blocks[1][:4].hex()}.." in drawn
    assert f"T3\n{blocks[2][:4].hex()}..\nuse 6 of 32 B" in drawn  # 70 = 32 + 32 + 6
    assert any(t.startswith("prf+(K, S) = T1 | T2 | T3 cut to 70 bytes (3 blocks of 32)") for t in drawn)
    # the output boxes: the two whole blocks green, the cut one orange
    outputs = [p for p in canvas.figure.axes[0].patches if isinstance(p, FancyBboxPatch) and p.get_visible()
               and abs(p.get_y() - 0.75) < 1e-9]
    assert [to_hex(p.get_facecolor()) for p in sorted(outputs, key=lambda p: p.get_x())] == [
        "#e3f1e6", "#e3f1e6", "#fbe3d6"]


def test_prf_plus_canvas_draws_no_feed_into_the_elided_run() -> None:
    # SHA-1, 200 bytes: 10 blocks drawn as T1 T2 T3 T4 ... T10; each block has its 2 arrows, and T_n feeds the next
    # block only between drawn neighbours (T1->T2, T2->T3, T3->T4), never into the "..."
    canvas = figures.PrfPlusCanvas().draw(figures.prf_plus_chain_data("PRF_HMAC_SHA1", b"k", b"s", 200))
    visible = [p for p in canvas.figure.axes[0].patches if isinstance(p, FancyArrowPatch) and p.get_visible()]
    assert len(visible) == 5 * 2 + 3


def test_key_split_figure_blocks_and_range_for_an_uneven_total() -> None:
    # aes128-sha1: SK_d 20 | SK_ai 20 | SK_ar 20 | SK_ei 16 | SK_er 16 | SK_pi 20 | SK_pr 20 = 132 bytes
    # (RFC 2404 keys of 20 bytes, AES-128 keys of 16): 7 blocks of 20, the last one only 12 bytes used
    ike = keys.ike_sa_keys("PRF_HMAC_SHA1", bytes(20), bytes(32), bytes(32), bytes(8), bytes(8),
                           encr="ENCR_AES_CBC", encr_key_bits=128, integ="AUTH_HMAC_SHA1_96")
    fig = figures.key_split_figure(ike)
    ax = fig.axes[0]
    assert ax.get_xlim() == (0, 132)
    t_bars = sorted((b for b in bars(ax) if abs(b.get_y() - 1.2) < 1e-9), key=lambda b: b.get_x())
    assert [(b.get_x(), b.get_width()) for b in t_bars] == [(0, 20), (20, 20), (40, 20), (60, 20), (80, 20),
                                                             (100, 20), (120, 12)]
    key_bars = sorted((b for b in bars(ax) if abs(b.get_y() - 0.2) < 1e-9), key=lambda b: b.get_x())
    assert [(b.get_x(), b.get_width()) for b in key_bars] == [(0, 20), (20, 20), (40, 20), (60, 16), (76, 16),
                                                               (92, 20), (112, 20)]


# --- lesson 05: the SK_* cut as text and figure -------------------------------------------------------------------


@pytest.mark.parametrize("suite, prf_len, lengths", [
    ("aes128-sha1-modp2048", 20, (20, 20, 20, 16, 16, 20, 20)),
    ("aes256-sha384-modp3072", 48, (48, 48, 48, 32, 32, 48, 48)),
])
def test_format_key_cut_byte_ranges_and_blocks(suite: str, prf_len: int, lengths: tuple[int, ...]) -> None:
    _, cut = fi.ike_key_cut(suite, bytes(range(32)), bytes(range(32, 64)), bytes(256), b"\x01" * 8, b"\x02" * 8)
    lines = fi.format_key_cut(cut).splitlines()
    names = ("SK_d", "SK_ai", "SK_ar", "SK_ei", "SK_er", "SK_pi", "SK_pr")
    offset = 0
    for line, name, n in zip(lines, names, lengths):
        first, last = offset // prf_len + 1, (offset + n - 1) // prf_len + 1
        blocks = f"T{first}" if first == last else f"T{first}..T{last}"
        assert line.startswith(f"{name:<6} bytes {offset:3}..{offset + n - 1:3} ({n:2} B, {blocks:<7})"), line
        offset += n
    total_blocks = -(-offset // prf_len)
    assert lines[-1] == f"total {offset} bytes = {total_blocks} prf+ blocks of {prf_len} bytes"


def test_key_cut_figure_bars_sit_at_the_key_offsets() -> None:
    _, cut = fi.ike_key_cut("aes128-sha256-modp2048", b"i" * 32, b"r" * 32, b"g" * 256, b"s" * 8, b"t" * 8)
    fig = fi.key_cut_figure(cut, "t")
    ax = fig.axes[0]
    assert ax.get_xlim() == (0, 192)
    assert [(b.get_x(), b.get_width()) for b in bars(ax)] == [(0, 32), (32, 32), (64, 32), (96, 16), (112, 16),
                                                               (128, 32), (160, 32)]


def test_key_cut_explorer_names_the_suites_prf() -> None:
    ni, nr, g_ir = bytes(range(32)), bytes(range(32, 64)), bytes(range(256))
    widget = widgets_ike.key_cut_explorer(ni, nr, g_ir, b"\x11" * 8, b"\x22" * 8)
    widget.suite.value = "aes256-sha384-modp3072"
    first = text(widget.output.value).splitlines()[0]
    seed = hmac.new(ni + nr, g_ir, hashlib.sha384).digest()
    assert first.startswith("SKEYSEED = prf(Ni | Nr, g^ir) with PRF_HMAC_SHA2_384: ")
    assert first.endswith(short_hex(seed))


def test_format_payloads_shows_max_fields_then_the_rest_count() -> None:
    lab = Lab(*fi.moon_and_sun(), seed="review-payloads")
    lab.initiate()
    lab.run_until_idle()
    rows = fi.payload_rows(lab.trace[0].ike_message)
    out = fi.format_payloads(rows, max_fields=2).splitlines()
    for row in rows:
        at = out.index(f"{row.offset:>6} {row.length:>4}  {row.name}")
        shown = [ln for ln in out[at + 1: at + 1 + min(2, len(row.fields))]]
        assert shown == [f"{'':>13}{p} = {v}" for p, v in row.fields[:2]]
        if len(row.fields) > 2:
            assert out[at + 3] == f"{'':>13}... {len(row.fields) - 2} more fields"


# --- lesson 06: the responder's AUTH ------------------------------------------------------------------------------


def test_auth_rows_of_the_responder(lab: Lab) -> None:
    kd = lab.events("responder", ev.KeysDerived)[0]
    a_r = next(e for e in lab.events("responder", ev.AuthComputed) if e.signer == "responder")
    rows = fi.auth_rows(a_r, fi.LESSON_PSK, "PRF_HMAC_SHA2_256")
    # RFC 7296 2.15: the responder signs its own IKE_SA_INIT message, the initiator's nonce and
    # MACedID = prf(SK_pr, RestOfRespIDPayload); RestOfRespIDPayload is ID type FQDN (2), 3 reserved, the ID
    rest = bytes([2, 0, 0, 0]) + b"sun.example.org"
    maced = hmac.new(kd.sk_pr, rest, hashlib.sha256).digest()
    assert [(r.name, r.formula, r.value) for r in rows[:3]] == [
        ("RealMessage2", "the signer's IKE_SA_INIT message (HDR on)", lab.trace[1].ike_message),
        ("NonceIData", "the peer's nonce (data only)", kd.ni),
        ("MACedID", "prf(SK_pr, RestOfRespIDPayload)", maced),
    ]
    assert rows[3].formula == "RealMessage2 | NonceIData | MACedID"
    pad = hmac.new(fi.LESSON_PSK, b"Key Pad for IKEv2", hashlib.sha256).digest()
    auth = hmac.new(pad, lab.trace[1].ike_message + kd.ni + maced, hashlib.sha256).digest()
    assert rows[-1].value == auth == a_r.auth


def test_psk_auth_explorer_shows_the_pad_key_and_the_sent_auth(lab: Lab) -> None:
    a_i = next(e for e in lab.events("initiator", ev.AuthComputed) if e.signer == "initiator")
    widget = widgets_ike.psk_auth_explorer(a_i, "PRF_HMAC_SHA2_256", psk="guess")
    pad = hmac.new(b"guess", b"Key Pad for IKEv2", hashlib.sha256).digest()
    mine = hmac.new(pad, a_i.octets, hashlib.sha256).digest()
    lines = text(widget.output.value).splitlines()
    assert lines[0].startswith("pad key ") and short_hex(pad) in lines[0]
    assert lines[1].startswith("AUTH ") and short_hex(mine) in lines[1]
    assert lines[2] == f"sent AUTH      {short_hex(a_i.auth)}" and mine != a_i.auth


# --- lesson 07: SA lifetimes --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab07() -> Lab:
    return rekeying_lab("review-lifetimes")


def test_sa_lifetimes_name_children_by_their_spis_in_creation_order(lab07: Lab) -> None:
    created = lab07.events("initiator", ev.ChildSaCreated)
    lives = fi.sa_lifetimes(lab07.events("initiator"))
    assert [s.start for s in lives] == sorted(s.start for s in lives)
    children = [s for s in lives if s.kind == "CHILD"]
    assert [s.name for s in children] == [f"CHILD SA in 0x{e.spi_in.hex()} out 0x{e.spi_out.hex()}" for e in created]
    ike = [s for s in lives if s.kind == "IKE"]
    derived = lab07.events("initiator", ev.KeysDerived)
    assert [s.name for s in ike] == [f"IKE SA {k.spi_i.hex()[:8]}../{k.spi_r.hex()[:8]}.." for k in derived]


def test_lifetimes_figure_bars_span_each_life(lab07: Lab) -> None:
    lives = fi.sa_lifetimes(lab07.events("initiator"))
    ax = fi.lifetimes_figure(lives, 300).axes[0]
    drawn = bars(ax)
    assert len(drawn) == len(lives)
    for bar, s in zip(drawn, lives):
        end = 300 if s.end is None else s.end
        assert bar.get_x() == pytest.approx(s.start) and bar.get_width() == pytest.approx(end - s.start)
        assert to_hex(bar.get_facecolor()) == ("#4c72b0" if s.kind == "IKE" else "#dd8452")
    assert ax.get_xlim() == pytest.approx((0, 306))


# --- lesson 00: the tour ------------------------------------------------------------------------------------------


def test_packet_detail_reads_the_ike_header_as_the_wire_says(classic: scenario.Scenario, rows: list) -> None:
    for no in (1, 2, 3, 4):
        wire = classic.trace[no - 1]
        assert wire.time == rows[no - 1].time
        msg = wire.ike_message
        spi_i, spi_r, _, _, _, flags, mid = struct.unpack("!8s8sBBBBI", msg[:24])
        response, initiator = bool(flags & 0x20), bool(flags & 0x08)  # RFC 7296 3.1: R and I flags
        detail = figures_tour.packet_detail(rows, no).splitlines()
        assert detail[2] == (f"SPIi {spi_i.hex()}  SPIr {spi_r.hex()}  Message ID {mid}  "
                             f"({'response' if response else 'request'}, from the original "
                             f"{'initiator' if initiator else 'responder'})")


def test_packet_detail_reads_the_esp_header_as_the_wire_says(classic: scenario.Scenario, rows: list) -> None:
    esp_rows = [r for r in rows if r.kind == "esp"][:3]
    for row in esp_rows:
        ip = classic.trace[row.no - 1].ip_packet()
        header = ip[(ip[0] & 0x0F) * 4:]
        if ip[9] == 17:  # UDP-encapsulated ESP (RFC 3948)
            header = header[8:]
        spi, seq = struct.unpack("!II", header[:8])  # RFC 4303 2: SPI, Sequence Number
        assert f"SPI 0x{spi:08x}  sequence number {seq}" in figures_tour.packet_detail(rows, row.no)


def test_lesson_of_an_informational_with_an_ike_delete_among_others() -> None:
    # RFC 7296 1.4.1: a Delete of the IKE SA (protocol 1) closes the IKE SA, whatever else is deleted with it
    def row(*deletes: Delete) -> SimpleNamespace:
        sk = SK(inner=list(deletes))
        return SimpleNamespace(kind="ike", exchange="INFORMATIONAL", is_response=False,
                               message=SimpleNamespace(payloads=[sk]))

    mixed = row(Delete(ProtocolId.ESP, (b"\x01\x02\x03\x04",)), Delete(ProtocolId.IKE))
    assert [x.number for x in figures_tour.lessons_for(mixed)] == ["10"]
    assert [x.number for x in figures_tour.lessons_for(row(Delete(ProtocolId.ESP, (b"\x01\x02\x03\x04",))))] == ["07"]


def test_ranges_limit_is_the_number_shown() -> None:
    assert figures_tour._ranges([1, 3, 5], limit=3) == "1, 3, 5"
    assert figures_tour._ranges([1, 3, 5, 7], limit=3) == "1, 3, 5, ..."


def test_tour_flow_figure_keeps_packets_strictly_before_upto(rows: list) -> None:
    upto = rows[9].time  # packet 10
    fig = figures_tour.tour_flow_figure(rows, upto=upto)
    kept = [r for r in rows if r.time < upto]
    assert len(kept) == 9
    groups = sorted({str(r.exchange) for r in kept if r.kind == "ike"} | {"ESP" for r in kept if r.kind == "esp"})
    assert fig.ikelab_alt.startswith(f"Figure: The classic trace: {len(kept)} packets drawn as ")
    assert fig.ikelab_alt.endswith(f"({', '.join(groups)})")


# --- lesson 03: PFS -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run() -> figures_pfs.PfsRun:
    return figures_pfs.pfs_run((False, True, False))


def test_outcome_table_columns(run: figures_pfs.PfsRun) -> None:
    outcomes = figures_pfs.attack(run, 1)
    table = figures_pfs.format_outcomes(outcomes).splitlines()[2:]
    responder = run.lab.events("responder", ev.ChildSaCreated)
    for line, o, r in zip(table, outcomes, responder):
        # SPI (i->r) is the SPI the responder chose for its inbound SA (RFC 4303 2.1)
        assert f"0x{r.spi_in.hex()}" in line and o.child.spi_out == r.spi_in
        assert (o.child.pfs_group or "-") in line.split()
    assert "CURVE25519" in table[2]
    assert outcomes[0].reason.endswith("read from IKE_SA_INIT, in the clear")
    assert outcomes[1].reason.endswith("read from the decrypted CREATE_CHILD_SA")


def test_outcome_figure_bars_colours_and_rekey_line(run: figures_pfs.PfsRun) -> None:
    outcomes = figures_pfs.attack(run, 1)
    fig = figures_pfs.outcome_figure([("leak 1", outcomes)], run=run)
    ax = fig.axes[0]
    drawn = bars(ax)
    times = [c.time for c in run.children]
    ends = times[1:] + [times[-1] + 10.0]  # a CHILD SA lives until the next one replaces it
    assert [(b.get_x(), b.get_width()) for b in drawn] == [(t, e - t) for t, e in zip(times, ends)]
    assert [to_hex(b.get_facecolor()) for b in drawn] == ["#c44e52" if o.falls else "#55a868" for o in outcomes]
    assert [t for t in texts(fig) if t.startswith("#")] == ["#1", "#2", "#3 PFS", "#4"]
    rekeys = [ln for ln in ax.lines]
    assert [ln.get_xdata()[0] for ln in rekeys] == [run.ike_sas[1].time]


def test_pfs_explorer_labels_say_when_each_rekey_happens(run: figures_pfs.PfsRun) -> None:
    x = widgets_pfs.pfs_explorer()
    for box, child in zip(x.pfs, run.children[1:]):
        assert box.description == f"PFS for the rekey at {int(child.time)} s (IKE SA {child.ike_sa})"
    assert x.leaked.options[0][0] == f"IKE SA 1 (before its rekey at {int(run.ike_sas[1].time)} s)"


def test_packet_detail_shows_a_packets_note(rows: list) -> None:
    import dataclasses

    noted = [dataclasses.replace(r, note="the first request, lost") if r.no == 1 else r for r in rows]
    assert figures_tour.packet_detail(noted, 1).splitlines()[2] == "Note: the first request, lost"
    assert not any(ln.startswith("Note:") for ln in figures_tour.packet_detail(rows, 1).splitlines())


def test_lesson_map_table_lists_packet_ranges(rows: list) -> None:
    table = {ln.split()[0]: ln for ln in figures_tour.format_lesson_map(rows).splitlines()[2:]}
    assert [r.no for r in rows] == list(range(1, len(rows) + 1))
    assert f" 1-{len(rows)}  " in table["00"]  # lesson 00 shows every packet of the trace, as one run
    # IKE_SA_INIT: the lost request, its retransmission and the answer; then the new IKE SA's pair
    init = [r.no for r in rows if r.exchange == "IKE_SA_INIT"]
    assert len(init) == 5 and init[1:3] == [init[0] + 1, init[0] + 2] and init[4] == init[3] + 1
    assert f"  {init[0]}-{init[2]}, {init[3]}-{init[4]}  " in table["02"]
    assert "(none)" in table["04"]
