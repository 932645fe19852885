"""Static figures and tables for the lessons, each built on a pure data function.

Every figure has two layers, so that tests check the numbers and not the pixels:

* a *data* function (``toy_exchange``, ``dlog_cost``, ``prf_plus_chain_data``,
  ...) that calls the real ikelab code and returns small frozen dataclasses;
* a *drawing* function that turns that data into a matplotlib
  :class:`~matplotlib.figure.Figure` (made without pyplot, so nothing leaks
  between cells and nothing prints ``<Figure size ...>``).

Diffie-Hellman with toy numbers (lesson 02): ``Y_A = alpha^X_A mod p`` and
``k = Y_B^X_A mod p = Y_A^X_B mod p``.

prf+ (lesson 04), RFC 7296 section 2.13::

    prf+ (K,S) = T1 | T2 | T3 | T4 | ...
    T1 = prf (K, S | 0x01)
    T2 = prf (K, T1 | S | 0x02)
    ...

:func:`show` displays a figure in a notebook as a PNG with a plain-text
description, so stored notebooks read well on GitHub and nbval compares the
description (never the image).  matplotlib and sympy are imported lazily.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from . import dh
from . import keys as _keys
from . import prf as _prf
from .constants import PrfId, lookup
from .errors import ConfigError
from .fmt import short_hex
from .rand import DeterministicRandom

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

#: Primes offered by the toy Diffie-Hellman widget and used by the toy figures.
SMALL_PRIMES: tuple[int, ...] = (
    5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167, 173, 179, 181, 191,
    193, 197, 199, 211, 223, 227, 229, 233, 239, 241, 251,
)

#: Default dots per inch of the PNGs stored in the notebooks (keeps them small).
DPI = 80

_BLUE, _ORANGE, _GREEN, _GREY, _RED = "#4c72b0", "#dd8452", "#55a868", "#8c8c8c", "#c44e52"


def _import_matplotlib() -> None:
    """Import matplotlib with its one-time "building the font cache" notice silenced.

    On a fresh machine that notice is logged to stderr, where it would land in a
    notebook's stored outputs (and fail nbval's comparison).
    """
    import logging

    log = logging.getLogger("matplotlib.font_manager")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        import matplotlib.font_manager  # noqa: F401
    finally:
        log.setLevel(level)


def _new_figure(width: float, height: float, *, constrained: bool = True) -> "Figure":
    _import_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained" if constrained else None)


# --- Showing and rendering ------------------------------------------------------------------


def png_bytes(fig: "Figure", *, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes, without metadata that changes between runs."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None}, bbox_inches="tight")
    return buf.getvalue()


def describe(fig: "Figure") -> str:
    """The plain-text description attached to a figure made here (its title otherwise)."""
    alt = getattr(fig, "ikelab_alt", None)
    if alt:
        return str(alt)
    texts = [t.get_text() for t in fig.texts if t.get_text()]
    return f"Figure: {texts[0]}" if texts else "Figure"


def show(fig: "Figure", *, alt: str | None = None) -> None:
    """Display ``fig`` in a notebook as ``image/png`` plus a one-line ``text/plain`` description."""
    from IPython.display import display

    text = alt if alt is not None else describe(fig)
    data = {"image/png": base64.b64encode(png_bytes(fig)).decode("ascii"), "text/plain": text}
    display(data, raw=True)


def text_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A fixed-width text table (numbers right-aligned, text left-aligned)."""
    if isinstance(headers, (str, bytes)) or not isinstance(headers, Sequence):
        raise ConfigError(f"headers must be a list of column names, not {type(headers).__name__}", field="headers",
                          value=headers)
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Iterable):
        raise ConfigError(f"rows must be a list of rows, not {type(rows).__name__}", field="rows", value=rows)
    body = []
    for row in rows:
        if isinstance(row, (str, bytes)) or not isinstance(row, Sequence):
            raise ConfigError(f"each table row must be a list or tuple of cells, not {type(row).__name__}",
                              field="rows", value=row)
        body.append([str(c) for c in row])
    cols = len(headers)
    for row in body:
        if len(row) != cols:
            raise ConfigError(f"table row has {len(row)} cells, expected {cols}", field="rows", value=row)
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]

    def fmt(cells: Sequence[str]) -> str:
        out = []
        for i, c in enumerate(cells):
            numeric = c.replace(".", "", 1).replace("-", "", 1).isdigit()
            out.append(c.rjust(widths[i]) if numeric else c.ljust(widths[i]))
        return "  ".join(out).rstrip()

    lines = [fmt(headers), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in body]
    return "\n".join(lines)


# --- Diffie-Hellman with toy numbers ----------------------------------------------------------


@dataclass(frozen=True)
class ToyExchange:
    """One toy Diffie-Hellman exchange and what an eavesdropper needs to break it."""

    p: int
    g: int
    x_a: int
    x_b: int
    y_a: int  # g^x_a mod p
    y_b: int  # g^x_b mod p
    k_a: int  # y_b^x_a mod p (Alice's result)
    k_b: int  # y_a^x_b mod p (Bob's result)
    primitive: bool  # is g a primitive root mod p?
    order: int  # multiplicative order of g: the number of distinct public values
    dlog_x: int  # the exponent brute force finds for y_a (x_a mod order)
    dlog_steps: int  # candidates tried by brute force

    @property
    def agree(self) -> bool:
        return self.k_a == self.k_b


def toy_exchange(p: int, g: int, x_a: int, x_b: int) -> ToyExchange:
    """Run ``ikelab.dh.ToyGroup(p, g)`` for private values ``x_a`` and ``x_b``, and attack it."""
    grp = dh.ToyGroup(p, g)
    y_a, y_b = grp.public_value(x_a), grp.public_value(x_b)
    k_a, k_b = grp.shared_secret(x_a, y_b), grp.shared_secret(x_b, y_a)
    found = dh.brute_force_dlog(g, y_a, p)
    return ToyExchange(p, g, x_a, x_b, y_a, y_b, k_a, k_b, dh.is_primitive_root(g, p), dh.order_of(g, p),
                       found.x, found.steps)


def format_toy_exchange(ex: ToyExchange) -> str:
    """The exchange as the lines a student would write by hand."""
    root = "yes" if ex.primitive else f"no: its powers reach only {ex.order} of the {ex.p - 1} values"
    return "\n".join([
        f"p = {ex.p}, g = {ex.g}   primitive root: {root}",
        f"Alice: X_A = {ex.x_a:<4} Y_A = {ex.g}^{ex.x_a} mod {ex.p} = {ex.y_a}",
        f"Bob:   X_B = {ex.x_b:<4} Y_B = {ex.g}^{ex.x_b} mod {ex.p} = {ex.y_b}",
        f"Alice: k = Y_B^X_A mod p = {ex.y_b}^{ex.x_a} mod {ex.p} = {ex.k_a}",
        f"Bob:   k = Y_A^X_B mod p = {ex.y_a}^{ex.x_b} mod {ex.p} = {ex.k_b}",
        f"Eve:   brute force finds x = {ex.dlog_x} with {ex.g}^x = {ex.y_a} after {ex.dlog_steps} steps"
        f" (at most {ex.order})",
    ])


def powers_of(g: int, p: int) -> list[int]:
    """``[g^0, g^1, ..., g^(p-2)] mod p``: the values a public key can take."""
    grp = dh.ToyGroup(p, g)
    return [grp.public_value(x) for x in range(p - 1)]


def powers_figure(p: int, gs: Sequence[int]) -> "Figure":
    """``g^x mod p`` against ``x`` for each base in ``gs``: a primitive root visits every value."""
    if not gs:
        raise ConfigError("powers_figure needs at least one base g", field="gs", value=gs)
    fig = _new_figure(4.2 * len(gs), 3.0)
    axes = fig.subplots(1, len(gs), squeeze=False)[0]
    for ax, g in zip(axes, gs):
        values = powers_of(g, p)
        order = dh.order_of(g, p)
        colour = _BLUE if order == p - 1 else _ORANGE
        ax.plot(range(p - 1), values, "-", color=_GREY, linewidth=0.6)
        ax.plot(range(p - 1), values, "o", color=colour, markersize=4)
        ax.set_title(f"g = {g}: order {order} ({len(set(values))} distinct values)", fontsize=10)
        ax.set_xlabel("x")
        ax.set_ylabel(f"{g}^x mod {p}")
        ax.set_ylim(0, p)
    fig.suptitle(f"Powers of g modulo p = {p}", fontsize=11)
    fig.ikelab_alt = f"Figure: powers of g = {', '.join(map(str, gs))} modulo {p}"  # type: ignore[attr-defined]
    return fig


@dataclass(frozen=True)
class DlogCost:
    """Brute force on one toy prime: the largest prime below ``2^bits``."""

    bits: int
    p: int
    g: int
    x: int
    steps: int
    worst: int  # p - 1 candidates in the worst case


def dlog_cost(bits: Sequence[int] = (4, 6, 8, 10, 12, 14, 16, 18, 20, 22), *,
              seed: int | str = "dlog") -> list[DlogCost]:
    """Count brute-force steps (not time) for a random secret in a group of each size.

    For each size the prime is sympy's ``prevprime(2^bits)``, ``g`` its
    smallest primitive root and the secret ``x`` is drawn from
    ``DeterministicRandom(seed)``, so the counts are the same on every run.
    """
    import sympy

    rng = DeterministicRandom(seed)
    rows = []
    for b in bits:
        if not 3 <= int(b) <= 26:
            raise ConfigError(f"dlog_cost: {b} bits is outside 3..26 (brute force would not finish)",
                              field="bits", value=b)
        p = int(sympy.prevprime(1 << int(b)))
        g = int(sympy.primitive_root(p))
        x = rng.randrange(2, p - 1)
        y = dh.ToyGroup(p, g).public_value(x)
        found = dh.brute_force_dlog(g, y, p, max_steps=p)
        rows.append(DlogCost(int(b), p, g, x, found.steps, p - 1))
    return rows


def dlog_cost_figure(rows: Sequence[DlogCost]) -> "Figure":
    """log2(steps) against the size of p, with the worst case ``p - 1`` as a line."""
    fig = _new_figure(6.0, 3.4)
    ax = fig.subplots()
    bits = [r.bits for r in rows]
    ax.plot(bits, [math.log2(r.worst) for r in rows], "-", color=_GREY, label="worst case: p - 1 steps")
    ax.plot(bits, [math.log2(r.worst / 2) for r in rows], "--", color=_GREY, label="on average: (p - 1)/2 steps")
    ax.plot(bits, [math.log2(r.steps) for r in rows], "o", color=_RED, label="counted steps (one secret each)")
    ax.set_xticks(bits)
    ax.set_xlabel("bits of p")
    ax.set_ylabel("log2(steps)")
    ax.legend(loc="upper left", fontsize=9)
    ax.grid(True, alpha=0.3)
    fig.suptitle("Brute-force discrete log: every extra bit of p doubles the work", fontsize=11)
    fig.ikelab_alt = f"Figure: brute-force steps for p of {bits[0]} to {bits[-1]} bits"  # type: ignore[attr-defined]
    return fig


def groups_figure() -> "Figure":
    """Estimated strength against KE payload size for the IANA groups ikelab implements."""
    rows = dh.groups()
    fig = _new_figure(6.4, 3.6)
    ax = fig.subplots()
    colours = {"MODP": _BLUE, "ECP": _GREEN, "Montgomery": _ORANGE}
    for kind, colour in colours.items():
        sel = [r for r in rows if r.kind == kind]
        ax.scatter([r.public_len for r in sel], [r.strength for r in sel], color=colour, label=kind, zorder=3)
        offset = (4, -10) if kind == "Montgomery" else (4, 3)
        for r in sel:
            ax.annotate(r.name + (" (weak)" if r.weak else ""), (r.public_len, r.strength),
                        textcoords="offset points", xytext=offset, fontsize=7)
    ax.set_xscale("log", base=2)
    ticks = [32, 64, 128, 256, 512, 1024]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlim(24, 1800)
    ax.set_xlabel("KE payload data (bytes, log scale)")
    # RFC 3526's lower estimate puts MODP_2048 at 110 bits, where NIST SP 800-57 (part 1, table 2) rates 2048-bit
    # finite-field DH at 112: the line says so, lest group 14 read as below the minimum it defines.
    ax.set_ylabel("estimated strength (bits; MODP: RFC 3526)")
    ax.axhline(112, color=_RED, linewidth=0.8, linestyle="--",
               label="112 bits (NIST minimum;\nNIST SP 800-57 rates\nMODP_2048 at 112)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.suptitle("Diffie-Hellman groups: strength per byte on the wire", fontsize=11)
    fig.ikelab_alt = f"Figure: strength against KE size for {len(rows)} groups"  # type: ignore[attr-defined]
    return fig


# --- prf+ -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainBlock:
    """One T_n block of prf+: its label, the formula of its input, its value and the bytes used."""

    index: int
    label: str  # "T1"
    input_label: str  # "S | 0x01" or "T1 | S | 0x02"
    value: bytes
    used: int  # bytes of this block that end up in the output (the last one may be cut)


@dataclass(frozen=True)
class PrfPlusChain:
    """prf+(K, S) cut to ``length`` bytes, block by block (RFC 7296 2.13)."""

    prf: PrfId
    key: bytes
    seed: bytes
    length: int
    output_len: int
    blocks: tuple[ChainBlock, ...]
    output: bytes

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)


def prf_plus_chain_data(alg: PrfId | int | str, key: bytes, seed: bytes, length: int) -> PrfPlusChain:
    """The blocks of ``prf+(key, seed)`` for ``length`` bytes, from :func:`ikelab.prf.prf_plus_blocks`."""
    p = _prf.get_prf(alg)
    values = _prf.prf_plus_blocks(p.transform_id, key, seed, length)
    blocks = []
    remaining = length
    for n, value in enumerate(values, 1):
        label = "S | 0x01" if n == 1 else f"T{n - 1} | S | 0x{n:02x}"
        used = min(len(value), remaining)
        remaining -= used
        blocks.append(ChainBlock(n, f"T{n}", label, value, used))
    output = _prf.prf_plus(p.transform_id, key, seed, length)
    return PrfPlusChain(p.transform_id, bytes(key), bytes(seed), length, p.output_len, tuple(blocks), output)


def format_prf_plus_chain(chain: PrfPlusChain, *, keep: int = 6) -> str:
    """The chain as text: one line per block, then the output length."""
    lines = [f"prf+ with {chain.prf.name} ({chain.output_len}-byte blocks), {chain.length} bytes"
             f" -> {chain.n_blocks} block{'s' if chain.n_blocks != 1 else ''}"]
    for b in chain.blocks:
        cut = "" if b.used == len(b.value) else f"   (only the first {b.used} bytes used)"
        call = f"prf(K, {b.input_label})"
        lines.append(f"{b.label:>4} = {call:<22} = {short_hex(b.value, keep=keep)}{cut}")
    return "\n".join(lines)


def _drawn_indices(n: int, max_drawn: int) -> list[int | None]:
    """Block indices to draw (1-based), with None standing for an elided run."""
    if n <= max_drawn:
        return list(range(1, n + 1))
    head = max_drawn - 2
    return [*range(1, head + 1), None, n]


class PrfPlusCanvas:
    """The prf+ chain as boxes (each prf call, its input, its output block, the bytes kept), redrawn in place.

    The figure and its artists are made once, for ``max_drawn`` columns; :meth:`draw` rewrites the
    texts and colours, hides the unused columns and sets the width, and :meth:`png` renders it at its
    own size (no new figure and no tight cropping, which would draw it twice: fast enough for a widget
    callback).  The same chain always gives the same PNG, whatever was drawn before.
    """

    def __init__(self, max_drawn: int = 6) -> None:
        from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

        if max_drawn < 3:
            raise ConfigError(f"max_drawn must be at least 3, got {max_drawn}", field="max_drawn", value=max_drawn)
        self.max_drawn = max_drawn
        self.figure = _new_figure(2.1 * max_drawn, 3.4, constrained=False)
        ax = self._ax = self.figure.add_axes((0, 0, 1, 1))
        ax.set_ylim(0, 3.4)
        ax.axis("off")

        def box(x: float, y: float, h: float, size: int) -> tuple[Any, Any]:
            patch = FancyBboxPatch((x, y), 1.8, h, boxstyle="round,pad=0.03", edgecolor="#333333",
                                   linewidth=0.8, alpha=0.9)
            ax.add_patch(patch)
            return patch, ax.text(x + 0.9, y + h / 2, "", ha="center", va="center", fontsize=size,
                                  family="monospace")

        def arrow(x0: float, y0: float, x1: float, y1: float) -> Any:
            return ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=10,
                                                color="#333333", linewidth=0.8))

        self._columns = []
        for col in range(max_drawn):
            x = 0.15 + 2.1 * col
            boxes = [box(x, 2.65, 0.45, 8), box(x, 1.75, 0.5, 7), box(x, 0.75, 0.6, 8)]
            boxes[0][0].set_facecolor("#e8eef7")
            boxes[1][0].set_facecolor("#f7f7f7")
            arrows = [arrow(x + 0.9, 2.65, x + 0.9, 2.25), arrow(x + 0.9, 1.75, x + 0.9, 1.35)]
            elided = ax.text(x + 0.9, 1.9, "", ha="center", va="center", fontsize=16)
            self._columns.append((boxes, arrows, elided))
        # T_n feeds the next block's input; made after every box, so that they draw on top
        self._feeds = [arrow(0.15 + 2.1 * col + 1.8, 1.05, 0.15 + 2.1 * col + 2.1, 2.85) for col in range(max_drawn)]
        self._caption = ax.text(0.15, 0.3, "", fontsize=8, va="center")
        self.chain: PrfPlusChain | None = None

    def draw(self, chain: PrfPlusChain) -> "PrfPlusCanvas":
        """Show ``chain``: up to ``max_drawn`` blocks, with "..." for an elided run."""
        shown = _drawn_indices(chain.n_blocks, self.max_drawn)
        self.figure.set_size_inches(max(4.0, 2.1 * len(shown)), 3.4)
        self._ax.set_xlim(0, 2.1 * len(shown))
        for col, ((boxes, arrows, elided), feed) in enumerate(zip(self._columns, self._feeds)):
            idx = shown[col] if col < len(shown) else None
            block = chain.blocks[idx - 1] if idx is not None else None
            labels = ("", "", "")
            if block is not None:
                cut = "" if block.used == len(block.value) else f"\nuse {block.used} of {len(block.value)} B"
                labels = (block.input_label, f"prf(K, .)\n{chain.prf.name.replace('PRF_', '')}",
                          f"{block.label}\n{block.value[:4].hex()}..{cut}")
                boxes[2][0].set_facecolor("#fbe3d6" if cut else "#e3f1e6")
            for (patch, text), label in zip(boxes, labels):
                patch.set_visible(block is not None)
                text.set_text(label)
                text.set_visible(block is not None)
            for a in arrows:
                a.set_visible(block is not None)
            elided.set_text("..." if col < len(shown) and idx is None else "")
            feed.set_visible(block is not None and col + 1 < len(shown) and shown[col + 1] is not None)
        self._caption.set_text(f"prf+(K, S) = {' | '.join(b.label for b in chain.blocks[:3])}"
                               f"{' | ...' if chain.n_blocks > 3 else ''} cut to {chain.length} bytes"
                               f" ({chain.n_blocks} block{'s' if chain.n_blocks != 1 else ''} of {chain.output_len})")
        alt = f"Figure: prf+ chain with {chain.prf.name}, {chain.n_blocks} blocks for {chain.length} bytes"
        self.figure.ikelab_alt = alt  # type: ignore[attr-defined]
        self.chain = chain
        return self

    def png(self, *, dpi: int = DPI) -> bytes:
        """The figure as PNG bytes, at its full size."""
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
        return buf.getvalue()


def prf_plus_chain(alg: PrfId | int | str, key: bytes, seed: bytes, length: int, *, max_drawn: int = 6) -> "Figure":
    """The prf+ chain as boxes: each prf call, its input, its output block, and the bytes kept."""
    canvas = PrfPlusCanvas(max_drawn)  # checks max_drawn before any prf+ work
    return canvas.draw(prf_plus_chain_data(alg, key, seed, length)).figure


@dataclass(frozen=True)
class KeySpan:
    """Where one key sits in the prf+ stream, and which T blocks it draws from."""

    name: str
    start: int
    end: int  # exclusive
    first_block: int
    last_block: int


def key_spans(ike_keys: _keys.IkeSaKeys) -> list[KeySpan]:
    """The seven SK_* keys as byte ranges of prf+ output, with the blocks they come from."""
    out_len = _prf.get_prf(ike_keys.prf).output_len
    spans = []
    for part in ike_keys.split():
        end = part.offset + len(part.value)
        last = (end - 1) // out_len + 1 if part.value else part.offset // out_len + 1
        spans.append(KeySpan(part.name, part.offset, end, part.offset // out_len + 1, last))
    return spans


def key_split_figure(ike_keys: _keys.IkeSaKeys) -> "Figure":
    """The prf+ stream cut into SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr over the T blocks."""
    spans = key_spans(ike_keys)
    out_len = _prf.get_prf(ike_keys.prf).output_len
    total = ike_keys.total_len
    fig = _new_figure(8.0, 1.9, constrained=False)
    ax = fig.add_axes((0.02, 0.08, 0.96, 0.72))
    ax.set_xlim(0, max(total, 1))
    ax.set_ylim(0, 2)
    ax.axis("off")
    palette = [_BLUE, _GREEN, "#8fbf8f", _ORANGE, "#f0b48c", "#8172b3", "#b4a7d6"]
    for i, s in enumerate(spans):
        if s.end == s.start:
            continue
        ax.barh(0.55, s.end - s.start, left=s.start, height=0.7, color=palette[i % len(palette)], edgecolor="white")
        ax.text((s.start + s.end) / 2, 0.55, f"{s.name}\n{s.end - s.start}", ha="center", va="center", fontsize=7)
    n_blocks = len(ike_keys.blocks)
    for n in range(n_blocks):
        start, end = n * out_len, min((n + 1) * out_len, total)
        ax.barh(1.45, end - start, left=start, height=0.5, color="#eeeeee", edgecolor="#555555", linewidth=0.6)
        ax.text((start + end) / 2, 1.45, f"T{n + 1}", ha="center", va="center", fontsize=7)
    fig.suptitle(f"prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) with {ike_keys.prf.name}: {total} bytes,"
                 f" {n_blocks} blocks", fontsize=9)
    alt = f"Figure: {total} bytes of prf+ output split into the seven SK_* keys"
    fig.ikelab_alt = alt  # type: ignore[attr-defined]
    return fig


def blocks_needed(alg: PrfId | int | str, length: int) -> int:
    """How many T blocks prf+ computes for ``length`` bytes (a partial block still costs a prf call)."""
    p = _prf.get_prf(lookup(PrfId, alg, field="alg"))
    return len(_prf.prf_plus_blocks(p.transform_id, b"", b"", length))


__all__ = [
    "DPI", "SMALL_PRIMES", "ChainBlock", "DlogCost", "KeySpan", "PrfPlusCanvas", "PrfPlusChain", "ToyExchange",
    "blocks_needed", "describe", "dlog_cost", "dlog_cost_figure", "format_prf_plus_chain", "format_toy_exchange",
    "groups_figure", "key_spans", "key_split_figure", "png_bytes", "powers_figure", "powers_of",
    "prf_plus_chain", "prf_plus_chain_data", "show", "text_table", "toy_exchange",
]
