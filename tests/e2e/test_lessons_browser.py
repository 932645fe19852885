"""Each lesson in JupyterLab, in headless Chromium: the run a teacher does in class.

For every ``notebooks/NN-topic.ipynb`` (found at run time), the test opens
the lesson in a private JupyterLab, runs all cells, and checks that

* every code cell ran, no cell shows an error except the cells tagged
  ``raises-exception`` (which must show theirs), and no widget failed to
  render ("Error displaying widget");
* every stored static figure (``image/png``, flow diagrams included) is drawn;
* each widget renders with its sliders, drop-downs, text boxes, checkboxes
  and buttons, and shows the text ikelab computes for its starting values;
* changing one control (the convention in ``spec.py`` and README.md here)
  updates the widget's output to what ikelab computes for the new input in
  this process, and its redrawn images to the same PNG bytes;

and saves screenshots of the lesson's interactive part after the change.
The expected values come from :func:`spec.lesson_plan`, which runs the
lesson's code and the widget's callbacks here, through ikelab.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .browser import LessonPage
from .conftest import record_screenshot
from .spec import LessonPlan, lesson_plan, lessons

pytestmark = pytest.mark.e2e

LESSONS = lessons()


@pytest.fixture(scope="module")
def plans() -> dict[str, LessonPlan]:
    return {}


def _plan(plans: dict[str, LessonPlan], path: Path) -> LessonPlan:
    if path.name not in plans:
        plans[path.name] = lesson_plan(path)
    return plans[path.name]


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_in_jupyterlab(path: Path, lab: Any, browser: Any, screenshot_dir: Path,
                              plans: dict[str, LessonPlan]) -> None:
    plan = _plan(plans, path)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console_errors: list[str] = []
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    try:
        lesson = LessonPage(page, lab, path.name)
        lesson.open()
        assert lesson.cells().count() == plan.n_cells, "JupyterLab must render every cell (windowingMode none)"
        lesson.run_all()

        # every code cell ran, and only the cells meant to fail show an error
        cells = lesson.snapshot()
        assert len(cells) == plan.n_cells
        for i in plan.code_cells:
            prompt, errors = cells[i]["prompt"], cells[i]["errors"]
            assert prompt.strip("[]: ").isdigit(), f"cell {i} did not run: prompt {prompt!r}"
            if i in plan.raises:
                assert errors, f"cell {i} is tagged raises-exception but shows no error"
            else:
                assert not errors, f"cell {i} shows an error:\n{errors[0][-2000:]}"

        # widgets render with their controls and with the values ikelab computes
        for wc in plan.widget_cells:
            lesson.wait_widget_rendered(wc.index)
            shown = lesson.control_counts(wc.index)
            for kind, n in wc.counts.items():
                assert shown.get(kind, 0) >= n, f"widget cell {wc.cell_id}: {n} {kind}(s) expected, {shown} shown"
        assert "Error displaying widget" not in " ".join(lesson.cells().all_inner_texts())

        # stored static figures (flow diagrams among them) are drawn again by the run
        for i, n in plan.image_cells.items():
            lesson.cell(i).locator(".jp-OutputArea img").nth(n - 1).wait_for(state="visible")
        cells = lesson.snapshot()
        for i, n in plan.image_cells.items():
            assert cells[i]["images"] >= n, f"cell {i}: {n} figure(s) expected, {cells[i]['images']} drawn"

        if plan.change is None:
            pytest.skip(f"{path.name}: every widget cell has ikelab.e2e.skip")
        i = plan.change_cell
        before = lesson.wait_for_texts(i, list(plan.texts_before))
        assert before == list(plan.texts_before), "the widget's first output differs from ikelab's"

        lesson.change(i, plan.change)
        after = lesson.wait_for_texts(i, list(plan.texts_after))
        assert after == list(plan.texts_after), (
            f"after setting {plan.change.control} ({plan.change.description!r}) to {plan.change.value!r} "
            f"the widget shows\n{after}\nbut ikelab computes\n{list(plan.texts_after)}")
        joined = " ".join(after)
        for text in plan.expect:
            assert text in joined, f"ikelab.e2e.expect: {text!r} not shown"
        if plan.images_after:
            shown_images = lesson.widget_images(i)
            for _ in range(50):  # the PNG arrives after the text: poll a little
                if shown_images == list(plan.images_after):
                    break
                page.wait_for_timeout(200)
                shown_images = lesson.widget_images(i)
            assert shown_images == list(plan.images_after), "the redrawn figure differs from ikelab's"

        cell = lesson.cell(i)
        cell.scroll_into_view_if_needed()
        for name, take in ((f"{path.stem}-widget.png", cell.screenshot),
                           (f"{path.stem}-page.png", page.screenshot)):
            target = screenshot_dir / name
            take(path=str(target))
            record_screenshot(target)
            assert target.stat().st_size > 0
        assert not console_errors, f"JavaScript errors in the page: {console_errors}"
    except BaseException as exc:
        if not isinstance(exc, pytest.skip.Exception):
            failure = screenshot_dir / f"{path.stem}-failure.png"
            try:  # what the page showed when the test failed, for the CI artifact
                page.screenshot(path=str(failure))
                record_screenshot(failure)
            except Exception:  # noqa: BLE001 - the original failure matters more
                pass
        raise
    finally:
        context.close()
        lab.shutdown_kernels()
