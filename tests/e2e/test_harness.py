"""The browser suite's own machinery, without a browser: the lesson convention
(spec.py), the private JupyterLab (labserver.py) and skip-or-fail under CI."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ikelab import figures
from ikelab.dh import ToyGroup

from .conftest import skip_or_fail
from .labserver import LabServer, unavailable_reason
from .spec import (NOTEBOOKS, SpecError, default_change, html_text, lesson_plan, lessons, normalize)


def _notebook(tmp_path: Path, cells: list[tuple[str, dict]], name: str = "99-test.ipynb") -> Path:
    nb = {"cells": [{"cell_type": "code", "id": f"c{i}", "metadata": meta, "execution_count": None,
                     "outputs": [], "source": src} for i, (src, meta) in enumerate(cells)],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / name
    path.write_text(json.dumps(nb))
    return path


SETUP = "from ikelab import widgets as ikw, figures"


def test_lessons_are_discovered_by_name() -> None:
    names = [p.name for p in lessons()]
    assert "02-diffie-hellman.ipynb" in names and "04-prf-plus.ipynb" in names
    assert all(p.parent == NOTEBOOKS for p in lessons())  # never the student edition
    assert names == sorted(names)


def test_html_text_reads_like_a_browser() -> None:
    assert html_text("<pre>a  &lt;b&gt;\n  c</pre>") == "a <b> c"
    assert normalize(" x\n\ty ") == "x y"


def test_default_change_is_the_next_option_of_the_first_dropdown() -> None:
    from ikelab import widgets as ikw

    change = default_change(ikw.dh_explorer(p=23))
    primes = list(figures.SMALL_PRIMES)
    assert (change.kind, change.ordinal, change.description) == ("dropdown", 0, "prime p")
    assert change.value == str(primes[primes.index(23) + 1])


def test_lesson_02_plan_matches_a_hand_computed_exchange() -> None:
    plan = lesson_plan(NOTEBOOKS / "02-diffie-hellman.ipynb")
    assert plan.change is not None and plan.change.description == "prime p"
    p = int(plan.change.value)
    group = ToyGroup(p, 5)                      # g, X_A and X_B keep their values 5, 6, 15
    y_a, y_b = pow(5, 6, p), pow(5, 15, p)
    assert group.public_value(6) == y_a
    text = plan.texts_after[0]
    assert f"Y_A = 5^6 mod {p} = {y_a}" in text
    assert f"k = Y_B^X_A mod p = {y_b}^6 mod {p} = {pow(y_b, 6, p)}" in text
    assert plan.texts_before != plan.texts_after
    assert plan.widget_cells[0].counts == {"dropdown": 1, "slider": 3}
    assert plan.raises  # the weak-group cell is tagged raises-exception


def test_metadata_names_control_value_and_expectation(tmp_path: Path) -> None:
    e2e = {"control": "x_a", "value": 7, "expect": "f'Y_A = 5^7 mod 23 = {pow(5, 7, 23)}'"}
    path = _notebook(tmp_path, [(SETUP, {}), ("ikw.dh_explorer(p=23, g=5, x_a=6, x_b=15)", {"ikelab": {"e2e": e2e}})])
    plan = lesson_plan(path)
    assert plan.change is not None
    assert (plan.change.kind, plan.change.ordinal, plan.change.value) == ("slider", 1, 7)
    assert plan.expect == (f"Y_A = 5^7 mod 23 = {pow(5, 7, 23)}",)
    assert plan.expect[0] in plan.texts_after[0]


def test_metadata_can_name_a_widget_variable_and_skip(tmp_path: Path) -> None:
    path = _notebook(tmp_path, [(SETUP, {}), ("w1 = ikw.dh_explorer()", {"ikelab": {"e2e": {"widget": "w1",
                                                                                            "skip": "demo"}}}),
                                ("ikw.dh_explorer(p=29)", {"ikelab": {"e2e": {}}})])
    plan = lesson_plan(path)
    assert [wc.skip for wc in plan.widget_cells] == ["demo", None]
    assert plan.change_cell == 2


@pytest.mark.parametrize("e2e, message", [
    ({"contol": "x_a"}, "unknown ikelab.e2e keys"),
    ({"control": "nope"}, "not a control"),
    ({"control": "x_a", "value": 6}, "changes no output"),
])
def test_broken_metadata_is_reported(tmp_path: Path, e2e: dict, message: str) -> None:
    path = _notebook(tmp_path, [(SETUP, {}), ("ikw.dh_explorer(p=23, g=5, x_a=6, x_b=15)", {"ikelab": {"e2e": e2e}})])
    with pytest.raises(SpecError, match=message):
        lesson_plan(path)


def test_a_lesson_without_widget_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no widget cell"):
        lesson_plan(_notebook(tmp_path, [("x = 1", {})]))


def test_missing_tools_fail_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        skip_or_fail("no chromium")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="no chromium"):
        skip_or_fail("no chromium")


def test_lab_server_needs_its_token_and_cleans_up(e2e_env: None) -> None:
    server = LabServer(lessons()[:1]).start()
    try:
        home, proc = server.home, server.process
        assert (server.root / lessons()[0].name).is_file()
        assert server.api("GET", "api/sessions") == []
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{server.base_url}/api/contents", timeout=5)
        assert err.value.code == 403
    finally:
        server.stop()
    assert proc is not None and proc.poll() is not None
    assert not home.exists()


def test_unavailable_reason_names_chromium(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IKELAB_CHROMIUM", str(tmp_path / "no-such-chromium"))
    reason = unavailable_reason()
    assert reason is not None and "chromium" in reason.lower()


def test_binder_files_suit_repo2docker() -> None:
    """repo2docker installs binder/environment.yml before the repository is copied, and reads only
    an exact Python version: so no `-e .` there, and postBuild installs ikelab with pyproject's extras."""
    import re

    import yaml

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    root = NOTEBOOKS.parent
    env = yaml.safe_load((root / "binder" / "environment.yml").read_text())
    deps = env["dependencies"]
    assert all(isinstance(d, str) for d in deps), "no pip: section (the repository is not there yet)"
    assert any(re.fullmatch(r"python=3\.\d+", d) for d in deps), "an exact python=3.N version"
    post = root / "binder" / "postBuild"
    assert os.access(post, os.X_OK)
    match = re.search(r'pip install [^\n]*-e "\.\[([a-z,]+)\]"', post.read_text())
    assert match, "postBuild installs this repository with pip"
    extras = set(tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    assert "notebooks" in match.group(1).split(",") and set(match.group(1).split(",")) <= extras
