"""The anti-replay window widget of lesson 09 (RFC 4303 3.4.3).

:func:`replay_explorer` has a text box of arrival sequence numbers (in the
order the packets arrive) and a window-size slider; every change runs the
arrivals through :class:`ikelab.replay.ReplayWindow` (via
:func:`ikelab.figures_esp.replay_steps`) and shows each verdict in
``.output`` and the final window in ``.image``: one
:class:`ikelab.figures_esp.ReplayCanvas` per widget, redrawn in place, so a
change answers well within the 100 ms budget of a widget callback.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from . import figures_esp as fe
from .errors import ConfigError
from .widgets import pre, start_int, start_text

__all__ = ["ReplayExplorer", "replay_explorer"]


class ReplayExplorer(w.VBox):
    """Arrivals and window size; ``.output.value`` lists the verdicts, ``.steps`` holds them, ``.view`` the
    window drawn in ``.image``."""

    def __init__(self, arrivals: str = "1 2 3 5 4 4 40 6 39 38", *, size: int = 8, max_size: int = 64,
                 draw: bool = True) -> None:
        start_text("arrivals", arrivals)
        start_int("max_size", max_size, 1, 1 << 20)
        start_int("size", size, 1, max_size)
        style = {"description_width": "150px"}
        self.draw = draw
        self.arrivals = w.Text(value=arrivals, description="arrivals (seq numbers)", style=style,
                               layout=w.Layout(width="95%"), continuous_update=False)
        self.size = w.IntSlider(value=size, min=1, max=max_size, description="window size W", style=style)
        self.output = w.HTML()
        self.image = w.Image(format="png")
        self.steps: list[fe.ReplayStep] = []
        self.view: fe.ReplayView | None = None
        self._canvas = fe.ReplayCanvas() if draw else None
        super().__init__([self.arrivals, self.size, self.output] + ([self.image] if draw else []))
        self.arrivals.observe(self._on_change, names="value")
        self.size.observe(self._on_change, names="value")
        self.update()

    def _on_change(self, change: dict[str, Any]) -> None:
        self.update()

    def __repr__(self) -> str:
        dropped = sum(not s.accepted for s in self.steps)
        return (f"ReplayExplorer(W={self.size.value}, {len(self.steps)} arrivals, {dropped} dropped)"
                " -- run the notebook to use it")

    def update(self) -> None:
        """Replay the arrivals through a fresh window and show the verdicts."""
        try:
            seqs = fe.parse_arrivals(self.arrivals.value)
        except ConfigError as exc:
            self.steps = []
            self.output.value = pre(f"cannot read the arrivals: {exc}")
            return
        self.steps = fe.replay_steps(seqs, size=self.size.value)
        self.view = fe.replay_view(self.steps, self.size.value)
        self.output.value = pre(fe.format_replay(self.steps, self.size.value))
        if self._canvas is not None:
            self.image.value = self._canvas.draw(self.view).png(dpi=60)


def replay_explorer(arrivals: str = "1 2 3 5 4 4 40 6 39 38", **options: Any) -> ReplayExplorer:
    """The anti-replay widget (options: size, max_size, draw)."""
    return ReplayExplorer(arrivals, **options)
