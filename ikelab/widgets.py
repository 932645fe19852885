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

Each lesson also shows a static figure or table next to the widget, so the
stored notebook reads well without a kernel.  Callbacks answer well within
100 ms (``benchmarks/bench_lessons.py`` measures them).
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from . import figures
from .constants import PrfId, lookup
from .prf import get_prf, supported_prfs

__all__ = ["DhExplorer", "PrfPlusExplorer", "dh_explorer", "prf_plus_explorer", "pre"]


def pre(text: str) -> str:
    """``text`` as an HTML ``<pre>`` block (escaped)."""
    return f"<pre style='font-size: 12px; line-height: 1.3'>{html.escape(text)}</pre>"


class DhExplorer(w.VBox):
    """Toy Diffie-Hellman with sliders; ``.output.value`` holds the worked exchange (HTML)."""

    def __init__(self, p: int = 23, g: int = 5, x_a: int = 6, x_b: int = 15) -> None:
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
        self.key, self.seed, self.draw = bytes(key), bytes(seed), draw
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
        self.update()

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
