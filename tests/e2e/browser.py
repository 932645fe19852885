"""Driving one lesson in JupyterLab with Playwright (headless Debian Chromium).

:class:`LessonPage` opens a lesson, runs all its cells through JupyterLab's
own ``notebook:run-all-cells`` command (awaited: it resolves when the last
cell has run), and reads back what a student would see: the cells' prompts
and error outputs, the widgets' controls, texts and images.  ``change()``
acts like a user: it picks an option in a drop-down, types into a slider's
readout or a text box and presses Enter, ticks a checkbox or clicks a button.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from .spec import DOM_CLASS, Change, normalize

STDERR_MIME = "application/vnd.jupyter.stderr"
DEFAULT_TIMEOUT_MS = 60_000


class LessonPage:
    """One lesson open in a browser page."""

    def __init__(self, page: Any, server: Any, name: str) -> None:
        self.page, self.server, self.name = page, server, name

    def open(self) -> None:
        self.page.set_default_timeout(DEFAULT_TIMEOUT_MS)
        self.page.goto(self.server.url(f"lab/tree/{self.name}?reset"))  # reset: no notebook left open before
        self.page.wait_for_function(
            """name => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                 const s = w && w.sessionContext; const k = s && s.session && s.session.kernel;
                 return !!(w && w.context && w.context.path === name && k && k.status === 'idle'
                           && document.querySelectorAll('.jp-Notebook .jp-Cell').length > 0); }""",
            arg=self.name, timeout=DEFAULT_TIMEOUT_MS)
        self.panel_id = self.page.evaluate("() => window.jupyterapp.shell.currentWidget.id")

    def run_all(self, timeout_ms: int = 180_000) -> None:
        """Run every code cell, top to bottom, each awaited (as Shift+Enter on each cell would).

        Cell by cell rather than ``notebook:run-all-cells``: an error in one cell then never
        keeps the later cells from running, so the test reports every cell's error at once.
        """
        self.page.evaluate(
            """async () => { const app = window.jupyterapp, nb = app.shell.currentWidget.content;
                 for (let i = 0; i < nb.widgets.length; i++) {
                   if (nb.widgets[i].model.type !== 'code') continue;
                   nb.activeCellIndex = i;
                   await app.commands.execute('notebook:run-cell'); } }""")
        self.page.wait_for_function(
            """() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'""",
            timeout=timeout_ms)

    def snapshot(self) -> list[dict]:
        """Every cell at once: its prompt, the text of its error/stderr outputs, its loaded images."""
        return self.page.evaluate(
            """([id, mime]) => [...document.querySelectorAll(`[id='${id}'] .jp-Notebook .jp-Cell`)].map(c => ({
                 code: c.classList.contains('jp-CodeCell'),
                 prompt: (c.querySelector('.jp-InputPrompt') || {}).textContent || '',
                 errors: [...c.querySelectorAll(`.jp-OutputArea-output[data-mime-type="${mime}"]`)]
                           .map(e => e.innerText),
                 images: [...c.querySelectorAll('.jp-OutputArea img')]
                           .filter(i => i.complete && i.naturalWidth > 0).length }))""",
            [self.panel_id, STDERR_MIME])

    def cells(self) -> Any:
        return self.page.locator(f"[id='{self.panel_id}'] .jp-Notebook .jp-Cell")

    def cell(self, index: int) -> Any:
        return self.cells().nth(index)

    def prompt(self, index: int) -> str:
        return self.cell(index).locator(".jp-InputPrompt").inner_text().strip()

    def error_outputs(self, index: int) -> list[str]:
        """The text of the error/stderr outputs a cell shows."""
        outs = self.cell(index).locator(f'.jp-OutputArea-output[data-mime-type="{STDERR_MIME}"]')
        return [outs.nth(i).inner_text() for i in range(outs.count())]

    def image_count(self, index: int) -> int:
        """Rendered images in a cell's outputs that have loaded (natural width > 0)."""
        return int(self.cell(index).evaluate(
            "c => [...c.querySelectorAll('.jp-OutputArea img')].filter(i => i.complete && i.naturalWidth > 0).length"))

    def wait_widget_rendered(self, index: int, timeout_ms: int = 30_000) -> None:
        self.cell(index).locator(".jupyter-widgets").first.wait_for(state="visible", timeout=timeout_ms)

    def control_counts(self, index: int) -> dict[str, int]:
        """How many controls of each kind the cell's widget view holds."""
        return {kind: self.cell(index).locator(f".jp-OutputArea .{css}").count() for kind, css in DOM_CLASS.items()}

    def widget_texts(self, index: int) -> list[str]:
        """The text of every HTML and Label widget in the cell's widget view, in order."""
        texts = self.cell(index).evaluate(
            """c => [...c.querySelectorAll('.jp-OutputArea .widget-html-content, .jp-OutputArea .widget-label-basic')]
                   .filter(e => !e.closest('.widget-checkbox')).map(e => e.innerText)""")
        return [normalize(t) for t in texts]

    def widget_images(self, index: int) -> list[bytes]:
        """The bytes of every image widget in the cell's widget view (blob URLs fetched in the page)."""
        encoded = self.cell(index).evaluate(
            """async c => { const out = [];
                 for (const img of c.querySelectorAll('.jp-OutputArea img.widget-image')) {
                   if (!img.src) { out.push(''); continue; }
                   const buf = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
                   let s = ''; for (let i = 0; i < buf.length; i += 8192)
                     s += String.fromCharCode.apply(null, buf.subarray(i, i + 8192));
                   out.push(btoa(s)); }
                 return out; }""")
        return [base64.b64decode(e) for e in encoded]

    def change(self, index: int, change: Change) -> None:
        """Make ``change`` as a user would."""
        host = self.cell(index).locator(f".jp-OutputArea .{DOM_CLASS[change.kind]}").nth(change.ordinal)
        host.scroll_into_view_if_needed()
        if change.kind == "dropdown":
            host.locator("select").select_option(label=str(change.value))
        elif change.kind == "slider" and change.index_delta:
            handle = host.locator(".noUi-handle").first
            handle.focus()
            key = "ArrowRight" if change.index_delta > 0 else "ArrowLeft"
            for _ in range(abs(change.index_delta)):
                handle.press(key)
        elif change.kind == "slider":
            readout = host.locator(".widget-readout").first
            readout.click()
            self.page.keyboard.press("Control+A")
            self.page.keyboard.type(str(change.value))
            self.page.keyboard.press("Enter")
        elif change.kind == "text":
            box = host.locator("input, textarea").first
            box.fill(str(change.value))
            box.press("Enter")
        elif change.kind == "checkbox":
            box = host.locator("input[type=checkbox]").first
            if box.is_checked() != bool(change.value):
                box.click()
        elif change.kind in ("toggle", "radio"):
            host.get_by_text(str(change.value), exact=True).first.click()
        elif change.kind == "button":
            host.click()
        else:  # pragma: no cover - spec.py only makes the kinds above
            raise AssertionError(f"cannot change a {change.kind}")

    def wait_for_texts(self, index: int, expected: list[str], timeout_s: float = 30.0) -> list[str]:
        """Poll the widget's texts until they equal ``expected`` (returns the last texts read)."""
        deadline = time.monotonic() + timeout_s
        texts = self.widget_texts(index)
        while texts != expected and time.monotonic() < deadline:
            self.page.wait_for_timeout(200)
            texts = self.widget_texts(index)
        return texts
