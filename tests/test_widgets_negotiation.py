"""Tests for ikelab.widgets_negotiation: editing a proposal updates the outcome (RFC 7296 2.7 rules by hand)."""

from __future__ import annotations

import html

from ikelab import widgets_negotiation as wn


def text(widget_html: str) -> str:
    assert widget_html.startswith("<pre") and widget_html.endswith("</pre>")
    return html.unescape(widget_html.split(">", 1)[1].rsplit("<", 1)[0])


def test_starts_with_the_lesson_lists() -> None:
    w = wn.negotiation_explorer()
    out = text(w.output.value)
    assert "chosen (SAr): proposal #2, aes128-sha256-modp2048" in out
    assert repr(w).startswith("NegotiationExplorer(IKE: aes128-sha256-modp2048)")


def test_controls_update_the_outcome() -> None:
    w = wn.negotiation_explorer()
    w.prefer.value = "offered"   # the initiator's first proposal, AES-GCM, is not configured: still #2
    assert "proposal #2" in text(w.output.value)
    w.configured.value = "aes256gcm16-prfsha384-ecp384, aes128-sha256-modp2048"
    assert "proposal #1, aes256gcm16-prfsha384-ecp384" in text(w.output.value)
    w.configured.value = "chacha20poly1305-prfsha256-x25519"
    out = text(w.output.value)
    assert "N(NO_PROPOSAL_CHOSEN)" in out and w.result is not None and w.result.chosen is None
    w.protocol.value = "ESP"
    w.offered.value, w.configured.value = "aes128-sha256", "aes128-sha256"
    assert "chosen (SAr): proposal #1, aes128-sha256" in text(w.output.value)
    w.offered.value = "not a proposal"
    assert text(w.output.value).startswith("cannot read the proposals")
