"""The message-count widget of lesson 11: IKEv1 (RFC 2409) against IKEv2 (a live ikelab run).

:func:`message_count_explorer` has a slider for the number of CHILD SAs and
a menu for IKEv1's phase 1 mode; every change counts IKEv1's messages from
RFC 2409 (:func:`ikelab.figures_comments.ikev1_messages`) and runs a real
IKEv2 exchange in an ikelab lab (:func:`ikelab.figures_comments.ikev2_run`)
to count IKEv2's, listing its exchanges.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from . import figures_comments as fc
from .widgets import pre, start_choice, start_int

__all__ = ["MessageCountExplorer", "message_count_explorer"]


class MessageCountExplorer(w.VBox):
    """CHILD SA slider and IKEv1 mode menu; ``.output.value`` holds the comparison, ``.run`` the IKEv2 run."""

    def __init__(self, n_children: int = 1, *, phase1: str = "Main Mode", max_children: int = 10) -> None:
        start_int("max_children", max_children, 1, 50)  # what ikev2_run runs (a slider past it would fail)
        start_int("n_children", n_children, 1, max_children)
        start_choice("phase1", phase1, ["Main Mode", "Aggressive Mode"])
        style = {"description_width": "150px"}
        self.n = w.IntSlider(value=n_children, min=1, max=max_children, description="CHILD SAs", style=style)
        self.phase1 = w.Dropdown(options=["Main Mode", "Aggressive Mode"], value=phase1,
                                 description="IKEv1 phase 1", style=style)
        self.output = w.HTML()
        self.run: fc.Ikev2Run | None = None
        super().__init__([self.n, self.phase1, self.output])
        self.n.observe(self._on_change, names="value")
        self.phase1.observe(self._on_change, names="value")
        self.update()

    def _on_change(self, change: dict[str, Any]) -> None:
        self.update()

    def __repr__(self) -> str:
        ikev2 = self.run.messages if self.run else "?"
        return (f"MessageCountExplorer({self.n.value} CHILD SAs: IKEv1 "
                f"{fc.ikev1_messages(self.n.value, self.phase1.value)}, IKEv2 {ikev2} messages)"
                " -- run the notebook to use it")

    def update(self) -> None:
        """Count both protocols for the chosen number of CHILD SAs."""
        n, mode = self.n.value, self.phase1.value
        self.run = fc.ikev2_run(n)
        v1 = fc.ikev1_messages(n, mode)
        p1 = fc.IKEV1_EXCHANGES[mode][0]
        lines = [f"IKEv1: {mode} {p1} + {n} x Quick Mode 3 = {v1} messages (RFC 2409)",
                 f"IKEv2: {self.run.messages} messages, counted in an ikelab run:"]
        for i in range(0, len(self.run.exchanges), 2):
            pair = self.run.exchanges[i:i + 2]
            lines.append(f"  {pair[0].split()[0]:<16} request + response  ({sum(self.run.sizes[i:i + 2])} bytes)")
        lines.append(f"IKEv2 saves {v1 - self.run.messages} messages")
        self.output.value = pre("\n".join(lines))


def message_count_explorer(n_children: int = 1, **options: Any) -> MessageCountExplorer:
    """The message-count widget (options: phase1, max_children)."""
    return MessageCountExplorer(n_children, **options)
