"""Interactive controls for the lessons (ipywidgets), thin layers over pure functions.

Every callback calls a pure data function of :mod:`ikelab.figures` (which
calls the real ikelab code) and writes the result into an output widget, so
tests can set ``.value`` on a control and read the output back without a
browser or a kernel:

* :func:`dh_explorer` -- toy Diffie-Hellman, ``Y_A = g^X_A mod p`` and
  ``k = Y_B^X_A mod p``: sliders for p, g, X_A, X_B; shows Y_A, Y_B, k,
  whether g is a primitive root, and the brute-force steps to recover X_A.
* :func:`prf_plus_explorer` -- prf+ (RFC 7296 2.13), ``T1 = prf (K, S |
  0x01)``, ``T2 = prf (K, T1 | S | 0x02)``, ...: a PRF menu and an output
  length slider; shows the blocks and a drawing of the chain.

:func:`start_choice`, :func:`start_int`, :func:`start_text` and
:func:`start_bytes` check every widget's starting values (those of this module
and of the ``widgets_*`` modules), so a mistyped value is named with what it
may be, before any control is built.

Each lesson also shows a static figure or table next to the widget, so the
stored notebook reads well without a kernel.  Callbacks answer well within
100 ms (``benchmarks/bench_lessons.py`` measures them).
"""

from __future__ import annotations

import html
from typing import Any, Sequence

import ipywidgets as w

from . import figures
from .constants import PrfId, lookup
from .errors import ConfigError, IkelabError
from .prf import get_prf, supported_prfs

__all__ = ["DhExplorer", "PrfPlusExplorer", "dh_explorer", "prf_plus_explorer", "pre", "start_bytes", "start_choice",
           "start_int", "start_text"]


def pre(text: str) -> str:
    """``text`` as an HTML ``<pre>`` block (escaped)."""
    return f"<pre style='font-size: 12px; line-height: 1.3'>{html.escape(text)}</pre>"


# A widget's starting values come from the notebook's code, which a teacher edits.  ipywidgets answers a
# value its menu lacks with "Invalid selection: value not found", and a slider moves a value out of its
# range to the nearest end without a word; these checks name the argument and what it may be instead.

def start_choice(name: str, value: Any, options: Sequence[Any]) -> Any:
    """``value`` if a menu offers it (``options`` as ipywidgets takes them, values or (label, value) pairs)."""
    values = [o[1] if isinstance(o, tuple) else o for o in options]
    if not any(value == v and value.__class__ is v.__class__ for v in values):  # True is not the 1 of a menu
        shown = [repr(v) for v in values]
        if len(shown) > 12:  # a long menu (52 primes, 91 packets): its ends and its size
            offered = ", ".join(shown[:5] + ["..."] + shown[-2:]) + f" ({len(values)} values)"
        else:
            offered = ", ".join(shown)
        raise ConfigError(f"{name}={value!r} is not in the menu; choose one of {offered}", field=name, value=value)
    return value


def start_int(name: str, value: Any, low: int, high: int) -> int:
    """``value`` if it is an int from ``low`` to ``high``, where a slider can show it."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an int from {low} to {high}, not {value!r}", field=name, value=value)
    return value


def start_text(name: str, value: Any) -> str:
    """``value`` if it is text (a text box holds nothing else)."""
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be text, not {type(value).__name__}", field=name, value=value)
    return value


def start_bytes(name: str, value: Any) -> bytes:
    """``value`` as bytes, if it is bytes-like (keys, nonces, seeds)."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ConfigError(f"{name} must be bytes, not {type(value).__name__}", field=name, value=value)
    return bytes(value)


class DhExplorer(w.VBox):
    """Toy Diffie-Hellman with sliders; ``.output.value`` holds the worked exchange (HTML)."""

    def __init__(self, p: int = 23, g: int = 5, x_a: int = 6, x_b: int = 15) -> None:
        start_choice("p", p, figures.SMALL_PRIMES)
        for name, value, low in (("g", g, 2), ("x_a", x_a, 1), ("x_b", x_b, 1)):
            start_int(name, value, low, p - 2)
        style = {"description_width": "150px"}
        self.p = w.Dropdown(options=list(figures.SMALL_PRIMES), value=p, description="prime p", style=style)
        self.g = w.IntSlider(value=g, min=2, max=p - 2, description="base g (alpha)", style=style)
        self.x_a = w.IntSlider(value=x_a, min=1, max=p - 2, description="Alice's private X_A", style=style)
        self.x_b = w.IntSlider(value=x_b, min=1, max=p - 2, description="Bob's private X_B", style=style)
        self.output = w.HTML()
        self.result: figures.ToyExchange | None = None
        self._busy = False
        super().__init__([self.p, self.g, self.x_a, self.x_b, self.output])
        self.p.observe(self._on_p, names="value")
        for control in (self.g, self.x_a, self.x_b):
            control.observe(self._on_change, names="value")
        self.update()

    def _on_p(self, change: dict[str, Any]) -> None:
        self._busy = True
        try:
            top = change["new"] - 2
            for control in (self.g, self.x_a, self.x_b):
                control.max = top  # lowers .value too when it no longer fits
        finally:
            self._busy = False
        self.update()

    def _on_change(self, change: dict[str, Any]) -> None:
        if not self._busy:
            self.update()

    def __repr__(self) -> str:
        return (f"DhExplorer(p={self.p.value}, g={self.g.value}, X_A={self.x_a.value}, X_B={self.x_b.value})"
                " -- run the notebook to use the sliders")

    def update(self) -> None:
        """Recompute the exchange from the controls and show it."""
        self.result = figures.toy_exchange(self.p.value, self.g.value, self.x_a.value, self.x_b.value)
        self.output.value = pre(figures.format_toy_exchange(self.result))


def dh_explorer(p: int = 23, g: int = 5, x_a: int = 6, x_b: int = 15) -> DhExplorer:
    """The toy Diffie-Hellman widget, starting at ``p, g, X_A, X_B``."""
    return DhExplorer(p, g, x_a, x_b)


class PrfPlusExplorer(w.VBox):
    """prf+ with a PRF menu and a length slider; ``.output.value`` lists the blocks, ``.image`` draws them
    (with ``.canvas``, a :class:`ikelab.figures.PrfPlusCanvas`)."""

    def __init__(self, key: bytes, seed: bytes, *, prf_alg: Any = "PRF_HMAC_SHA2_256", length: int = 70,
                 max_length: int = 512, draw: bool = True) -> None:
        names = [get_prf(pid).name for pid in supported_prfs()]
        start_int("max_length", max_length, 1, 1 << 16)
        start_int("length", length, 1, max_length)
        self.key, self.seed, self.draw = start_bytes("key", key), start_bytes("seed", seed), draw
        style = {"description_width": "120px"}
        self.prf = w.Dropdown(options=names, value=lookup(PrfId, prf_alg).name, description="PRF", style=style)
        self.length = w.IntSlider(value=length, min=1, max=max_length, description="bytes wanted", style=style)
        self.output = w.HTML()
        self.image = w.Image(format="png")
        self.chain: figures.PrfPlusChain | None = None
        self.canvas = figures.PrfPlusCanvas() if draw else None  # one figure, redrawn on every change
        children = [self.prf, self.length, self.output] + ([self.image] if draw else [])
        super().__init__(children)
        self.prf.observe(self._on_change, names="value")
        self.length.observe(self._on_change, names="value")
        self.update()

    def _on_change(self, change: dict[str, Any]) -> None:
        try:
            self.update()
        except IkelabError as exc:  # e.g. more than prf+'s 255 blocks (RFC 7296 2.13) of a short-block PRF
            self.chain = None
            self.output.value = pre(str(exc))
            if self.canvas is not None:
                self.image.value = b""

    def __repr__(self) -> str:
        return f"PrfPlusExplorer({self.prf.value}, {self.length.value} bytes) -- run the notebook to use it"

    def update(self) -> None:
        """Recompute prf+ for the chosen PRF and length, and redraw."""
        self.chain = figures.prf_plus_chain_data(self.prf.value, self.key, self.seed, self.length.value)
        self.output.value = pre(figures.format_prf_plus_chain(self.chain))
        if self.canvas is not None:
            self.image.value = self.canvas.draw(self.chain).png()


def prf_plus_explorer(key: bytes, seed: bytes, **options: Any) -> PrfPlusExplorer:
    """The prf+ widget for key ``K`` and seed ``S`` (options: prf_alg, length, max_length, draw)."""
    return PrfPlusExplorer(key, seed, **options)
