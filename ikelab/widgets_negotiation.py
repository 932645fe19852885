"""The negotiation widget of lesson 08 (RFC 7296 2.7): both sides' proposals in, the choice out.

:func:`negotiation_explorer` shows two text boxes (the initiator's SA
payload and the responder's configuration, in strongSwan's proposal syntax),
a protocol menu (IKE or ESP) and a preference menu; every change calls
:func:`ikelab.figures_negotiation.negotiate` -- the engine's own
:func:`ikelab.proposals.select` -- and writes the chosen proposal, or the
NO_PROPOSAL_CHOSEN and its reasons, into ``.output``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from . import figures_negotiation as fn
from .widgets import pre, start_choice, start_text

__all__ = ["NegotiationExplorer", "negotiation_explorer"]


class NegotiationExplorer(w.VBox):
    """Proposals of both sides; ``.output.value`` holds the outcome (HTML), ``.result`` the Negotiation."""

    def __init__(self, offered: str = "aes256gcm16-prfsha384-ecp384, aes128-sha256-modp2048",
                 configured: str = "aes128-sha256-modp3072, aes128-sha256-modp2048", *, protocol: str = "IKE",
                 prefer: str = "configured") -> None:
        start_text("offered", offered)
        start_text("configured", configured)
        start_choice("protocol", protocol, ["IKE", "ESP"])
        start_choice("prefer", prefer, ["configured", "offered"])
        style = {"description_width": "150px"}
        layout = w.Layout(width="95%")
        self.offered = w.Text(value=offered, description="initiator offers", style=style, layout=layout,
                              continuous_update=False)
        self.configured = w.Text(value=configured, description="responder accepts", style=style, layout=layout,
                                 continuous_update=False)
        self.protocol = w.Dropdown(options=["IKE", "ESP"], value=protocol, description="protocol", style=style)
        self.prefer = w.Dropdown(options=["configured", "offered"], value=prefer, description="responder prefers",
                                 style=style)
        self.output = w.HTML()
        self.result: fn.Negotiation | None = None
        super().__init__([self.offered, self.configured, self.protocol, self.prefer, self.output])
        for control in (self.offered, self.configured, self.protocol, self.prefer):
            control.observe(self._on_change, names="value")
        self.update()

    def _on_change(self, change: dict[str, Any]) -> None:
        self.update()

    def __repr__(self) -> str:
        outcome = ("?" if self.result is None else
                   self.result.chosen or self.result.notify or "unreadable proposals")
        return f"NegotiationExplorer({self.protocol.value}: {outcome}) -- run the notebook to edit the proposals"

    def update(self) -> None:
        """Negotiate the current texts and show the outcome."""
        self.result = fn.negotiate(self.offered.value, self.configured.value, protocol=self.protocol.value,
                                   prefer=self.prefer.value)
        self.output.value = pre(fn.format_negotiation(self.result))


def negotiation_explorer(offered: str = "aes256gcm16-prfsha384-ecp384, aes128-sha256-modp2048",
                         configured: str = "aes128-sha256-modp3072, aes128-sha256-modp2048",
                         **options: Any) -> NegotiationExplorer:
    """The negotiation widget (options: protocol "IKE"/"ESP", prefer "configured"/"offered")."""
    return NegotiationExplorer(offered, configured, **options)
