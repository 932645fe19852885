"""Tests for ikelab.widgets_pfs: ticking PFS or changing the leak re-runs the lab and the attack.

Expected values follow from RFC 7296 2.17 and 2.18 alone: a CHILD SA falls with a leaked IKE SA exactly when it was
created under that IKE SA without a fresh Diffie-Hellman; the IKE_AUTH CHILD SA never has one.
"""

from __future__ import annotations

import html

from ikelab import widgets_pfs as ikw


def text(widget_html: str) -> str:
    return html.unescape(widget_html.split(">", 1)[1].rsplit("<", 1)[0])


def fallen(widget: ikw.PfsExplorer) -> list[int]:
    return [o.child.number for o in widget.outcomes if o.falls]


def test_controls_change_what_falls() -> None:
    x = ikw.pfs_explorer()
    assert fallen(x) == [1, 2] and text(x.output.value).startswith("CHILD SAs whose keys fall: 1, 2")
    assert repr(x) == "PfsExplorer(no PFS, PFS, no PFS; IKE SA 1 leaked) -- run the notebook to use it"
    x.pfs[0].value = True
    assert fallen(x) == [1]
    x.pfs[1].value = False
    assert fallen(x) == [1, 3]
    x.leaked.value = 2
    assert fallen(x) == [4]
    x.pfs[2].value = True
    assert fallen(x) == [] and "fall: none" in text(x.output.value)
