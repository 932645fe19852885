"""The lessons read well without a kernel, as on GitHub and in nbviewer.

nbviewer renders a stored notebook with nbconvert's HTML exporter and no
kernel; GitHub does the same job its own way from the same stored outputs.
For each lesson (found at run time) this renders it with nbconvert and checks
that every stored figure is in the page as an image, that each widget cell
shows a readable one-line description (not an ``HBox(children=...)`` repr,
since no widget state is stored), and that a static figure or table follows
the widget before the next section, so the interactive part reads without a
kernel.  Fast: no kernel, no browser.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from .spec import WIDGET_MIME, lessons

LESSONS = lessons()


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_reads_without_a_kernel(path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbconvert = pytest.importorskip("nbconvert")
    nb = nbformat.reads(path.read_text(), as_version=4)
    body, _ = nbconvert.HTMLExporter().from_notebook_node(nb)

    stored_pngs = [o["data"]["image/png"] for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    for png in stored_pngs:
        assert f"data:image/png;base64,{png.strip()[:64]}" in body.replace("\n", ""), "a stored figure is missing"

    cells = nb.cells
    widget_cells = [i for i, c in enumerate(cells) if c.cell_type == "code"
                    and any(WIDGET_MIME in o.get("data", {}) for o in c.get("outputs", []))]
    assert widget_cells, f"{path.name} has no stored widget output"
    for i in widget_cells:
        (out,) = [o for o in cells[i].outputs if WIDGET_MIME in o.get("data", {})]
        text = out["data"].get("text/plain", "")
        assert text and not re.match(r"^(V|H)?Box\(children=", text), f"cell {i}: no readable widget description"
        assert html.escape(text, quote=False) in body
        fallback = []
        for cell in cells[i + 1:]:
            if cell.cell_type == "markdown" and _source(cell).lstrip().startswith("#"):
                break  # the next section
            if cell.cell_type == "code":
                fallback += [o for o in cell.get("outputs", [])
                             if o.get("output_type") == "stream" or "image/png" in o.get("data", {})]
        assert fallback, f"cell {i}: no static figure or table after the widget (the page reads empty without a kernel)"
    assert "Error displaying widget" not in body
    json.dumps(nb)  # the stored notebook is plain JSON (no lost widget state blobs)
