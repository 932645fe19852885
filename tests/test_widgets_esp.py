"""Tests for ikelab.widgets_esp: the replay widget's verdicts follow RFC 4303 3.4.3 (worked by hand)."""

from __future__ import annotations

import html

from ikelab import figures_esp as fe
from ikelab import widgets_esp as we


def text(widget_html: str) -> str:
    assert widget_html.startswith("<pre") and widget_html.endswith("</pre>")
    return html.unescape(widget_html.split(">", 1)[1].rsplit("<", 1)[0])


def test_default_arrivals() -> None:
    w = we.replay_explorer(draw=False)
    assert [s.accepted for s in w.steps].count(False) == 2    # the second 4, and 6 after 40 (W = 8)
    assert repr(w).startswith("ReplayExplorer(W=8, 10 arrivals, 2 dropped)")


def test_controls_update_the_verdicts() -> None:
    w = we.replay_explorer("1 2 3 5 4 4 40 6 39 38")
    assert bytes(w.image.value).startswith(b"\x89PNG")
    w.size.value = 64                                          # now 6 is inside the window [1..40]
    assert [s.accepted for s in w.steps].count(False) == 1
    assert "   6  accept" in text(w.output.value)
    w.arrivals.value = "7 7 7"
    assert [s.accepted for s in w.steps] == [True, False, False]
    w.arrivals.value = "7 x"
    assert text(w.output.value).startswith("cannot read the arrivals") and w.steps == []


def test_the_image_shows_the_current_window_whatever_came_before() -> None:
    w = we.replay_explorer("1 2 3 5 4 4 40 6 39 38")      # one figure, redrawn in place on every change
    assert w.view == fe.replay_view(w.steps, 8)
    assert [seq for seq, received in w.view.cells if received] == [38, 39, 40]
    for arrivals in ("1 2 3 5 4 4 200 6 150 199", "", "7 x", "3 1"):
        w.arrivals.value = arrivals
    w.size.value = 64
    assert w.view.cells[0] == (1, True) and len(w.view.cells) == 3   # "3 1": window [1..3], 2 not received
    w.size.value = 8
    w.arrivals.value = "1 2 3 5 4 4 40 6 39 38"
    fresh = we.replay_explorer("1 2 3 5 4 4 40 6 39 38")
    assert w.view == fresh.view
    assert bytes(w.image.value) == bytes(fresh.image.value) == fe.ReplayCanvas().draw(fresh.view).png()


def test_a_bad_token_keeps_the_last_window() -> None:
    w = we.replay_explorer("1 2 40")
    image, view = bytes(w.image.value), w.view
    w.arrivals.value = "1 two"
    assert w.steps == [] and w.view == view and bytes(w.image.value) == image
    assert we.replay_explorer(draw=False).view == fe.replay_view(fe.replay_steps([1, 2, 3, 5, 4, 4, 40, 6, 39, 38],
                                                                                size=8), 8)
