"""Tests for ikelab.widgets_comments: the counts follow RFC 2409 (IKEv1) and RFC 7296 (IKEv2), worked by hand."""

from __future__ import annotations

import html

from ikelab import widgets_comments as wc


def text(widget_html: str) -> str:
    assert widget_html.startswith("<pre") and widget_html.endswith("</pre>")
    return html.unescape(widget_html.split(">", 1)[1].rsplit("<", 1)[0])


def test_controls_update_the_counts() -> None:
    w = wc.message_count_explorer()
    out = text(w.output.value)
    assert "IKEv1: Main Mode 6 + 1 x Quick Mode 3 = 9 messages" in out and "IKEv2: 4 messages" in out
    assert repr(w).startswith("MessageCountExplorer(1 CHILD SAs: IKEv1 9, IKEv2 4 messages)")
    w.n.value = 3
    out = text(w.output.value)
    assert "= 15 messages" in out and "IKEv2: 8 messages" in out and out.count("CREATE_CHILD_SA") == 2
    w.phase1.value = "Aggressive Mode"
    assert "Aggressive Mode 3 + 3 x Quick Mode 3 = 12 messages" in text(w.output.value)
    assert "IKEv2 saves 4 messages" in text(w.output.value)
