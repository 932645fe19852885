"""Checks on the lesson notebooks beyond nbval itself.

nbval (configured in pyproject.toml) re-runs every ``notebooks/NN-*.ipynb`` and compares the outputs.
These tests check what nbval does not:

* the student edition (``notebooks/student/``) is current, and every exercise stub in it fails its check
  with ExerciseFailed (a check that cannot fail is a defect);
* every lesson has the required sections, at least one widget and one checked exercise;
* stored outputs are small, executed in order, free of stderr, stray figure reprs and machine paths;
* the nbval configuration collects the lessons (not the student edition), its sanitize rules are narrow,
  and it does catch a changed derived value.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from ikelab import exercises
from ikelab.errors import IkelabError
from ikelab.exercises import ExerciseFailed

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
STUDENT = NOTEBOOKS / "student"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
SANITIZE = NOTEBOOKS / "sanitize.cfg"

#: Limits on stored outputs.
MAX_OUTPUT_KB = 64
MAX_NOTEBOOK_KB = 256
#: Sections every lesson has (markdown headings), after a title cell with Aim and Contents.
SECTIONS = ("Theory", "Practical", "Interactive", "Exercise", "Summary", "Further reading")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("make_student_edition", ROOT / "scripts" / "make_student_edition.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(path: Path) -> Any:
    return nbformat.read(path, as_version=4)


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _code(nb: Any) -> list[Any]:
    return [c for c in nb.cells if c.cell_type == "code"]


def test_the_lessons_exist() -> None:
    names = [p.name for p in LESSONS]
    assert "02-diffie-hellman.ipynb" in names and "04-prf-plus.ipynb" in names


# --- the student edition ----------------------------------------------------------------------


def test_student_edition_is_current(tmp_path: Path) -> None:
    built = _script().build(LESSONS, tmp_path)
    assert sorted(p.name for p in STUDENT.glob("*.ipynb")) == sorted(p.name for p in built)
    for path in built:
        assert (STUDENT / path.name).read_bytes() == path.read_bytes(), (
            f"notebooks/student/{path.name} is out of date: run python scripts/make_student_edition.py")


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_student_edition_hides_solutions(lesson: Path) -> None:
    teacher, student = _read(lesson), _read(STUDENT / lesson.name)
    assert student.cells[0].id == "student-edition-banner" and "generated" in student.cells[0].source
    pairs = list(zip(teacher.cells, student.cells[1:]))
    assert len(pairs) == len(teacher.cells) == len(student.cells) - 1
    n_solutions = 0
    for t, s in pairs:
        assert t.id == s.id
        if "solution" in _tags(t):
            n_solutions += 1
            assert "# your code here" in s.source and s.outputs == [] and s.execution_count is None
            code_lines = [ln for ln in s.source.splitlines() if not ln.startswith("#")]
            assert code_lines and all(re.fullmatch(r"[A-Za-z_]\w* = \.\.\.", ln) for ln in code_lines)
            solution_code = [ln for ln in t.source.splitlines() if ln.strip() and not ln.startswith("#")]
            assert not any(ln in s.source for ln in solution_code), "the stub leaks the solution"
        elif "check" in _tags(t) or "after-check" in _tags(t):
            assert s.source == t.source and s.outputs == []
        else:
            assert s == t
    assert n_solutions >= 1


def test_stub_keeps_only_the_names_the_check_reads() -> None:
    script = _script()
    solution = "# T2 from T1\ndata = t1 + S + bytes([2])\nt2, extra = prf.prf(alg, K, data), 1\n"
    assert script.make_stub(solution, 'exercises.check("prf.t2", t2)') == "# T2 from T1\n# your code here\nt2 = ..."
    with pytest.raises(script.StubError):
        script.make_stub("x = 1", "exercises.check('dh.discrete-log', y)")


def _run_cells(nb: Any, name: str) -> list[str]:
    """Exec the code cells in order in a fresh namespace; return the messages of the failed checks."""
    namespace: dict[str, Any] = {"__name__": "__lesson__"}
    messages = []
    for cell in _code(nb):
        code = compile(cell.source, f"{name}:{cell.id}", "exec")
        if "check" in _tags(cell):
            with pytest.raises(ExerciseFailed) as info:
                exec(code, namespace)
            messages.append(str(info.value))
        elif "raises-exception" in _tags(cell):
            with pytest.raises(IkelabError):
                exec(code, namespace)
        else:
            exec(code, namespace)
    return messages


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_every_stub_fails_its_check(lesson: Path, capsys: pytest.CaptureFixture[str]) -> None:
    student = _read(STUDENT / lesson.name)
    messages = _run_cells(student, lesson.name)
    capsys.readouterr()
    n_checks = sum("check" in _tags(c) for c in student.cells)
    assert len(messages) == n_checks >= 1
    assert all("no answer yet" in m for m in messages)


def test_after_check_cells_are_cleared_in_the_student_edition() -> None:
    """A cell tagged after-check shows what the student's answer gives (lesson 09 compares it with the real packet):
    the teacher's run says True there, which a student must not see before answering.  It follows a check."""
    tagged = 0
    for lesson in LESSONS:
        cells = _read(lesson).cells
        student = {c.id: c for c in _read(STUDENT / lesson.name).cells}
        for i, cell in enumerate(cells):
            if "after-check" not in _tags(cell):
                continue
            tagged += 1
            assert cell.cell_type == "code" and cell.outputs, f"{lesson.name} {cell.id}: a code cell with outputs"
            assert any("check" in _tags(c) for c in cells[:i]), f"{lesson.name} {cell.id}: no check before it"
            assert student[cell.id].outputs == [] and student[cell.id].execution_count is None
    assert tagged >= 1


# --- the lessons' shape ---------------------------------------------------------------------------


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_lesson_has_the_required_sections(lesson: Path) -> None:
    nb = _read(lesson)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# Lesson {lesson.name[:2]}: ")
    assert "**Aim.**" in first.source and "**Contents**" in first.source
    headings = [ln for c in nb.cells if c.cell_type == "markdown" for ln in c.source.splitlines()
                if ln.startswith("## ")]
    for section in SECTIONS:
        assert any(section.lower() in h.lower() for h in headings), f"{lesson.name}: no '## ... {section}' heading"
    assert "RFC" in nb.cells[-1].source


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_lesson_has_a_widget_and_checked_exercises(lesson: Path) -> None:
    nb = _read(lesson)
    widgets = [c for c in _code(nb) if any(WIDGET_MIME in o.get("data", {}) for o in c.outputs)]
    assert widgets, f"{lesson.name} shows no widget"
    ids = []
    cells = _code(nb)
    for i, cell in enumerate(cells):
        if "solution" in _tags(cell):
            assert i + 1 < len(cells) and "check" in _tags(cells[i + 1]), "a solution cell must be followed by a check"
        if "check" in _tags(cell):
            assert "solution" in _tags(cells[i - 1])
            found = re.findall(r'exercises\.check\("([\w.-]+)"', cell.source)
            assert len(found) == 1, f"check cell {cell.id} must call exercises.check once"
            ids.append(found[0])
            assert any(o.get("text", "").startswith(f"Correct! [{found[0]}]") for o in cell.outputs)
    assert ids, f"{lesson.name} has no exercise"
    assert sorted(ids) == sorted(e.id for e in exercises.exercises(lesson.stem))


def _text(output: Any) -> str:
    if output.output_type == "stream":
        return output.text
    if output.output_type == "error":
        return f"{output.ename}: {output.evalue}\n" + "\n".join(output.traceback)
    return str(output.get("data", {}).get("text/plain", ""))


@pytest.mark.parametrize("lesson", LESSONS + sorted(STUDENT.glob("*.ipynb")),
                         ids=lambda p: p.parent.name + "/" + p.stem)
def test_stored_outputs_are_small_and_clean(lesson: Path) -> None:
    assert lesson.stat().st_size <= MAX_NOTEBOOK_KB * 1024, f"{lesson.name} is over {MAX_NOTEBOOK_KB} KB"
    nb = _read(lesson)
    assert "widgets" not in nb.metadata, "widget state is not stored (model ids change on every run)"
    counts = [c.execution_count for c in _code(nb) if c.execution_count is not None]
    if lesson.parent == NOTEBOOKS:
        assert counts == list(range(1, len(_code(nb)) + 1)), "every code cell must be executed once, in order"
    else:  # the student edition: solution and check cells are cleared
        assert counts == sorted(set(counts))
    for cell in _code(nb):
        if cell.execution_count is None:
            assert cell.outputs == []
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert len(errors) == ("raises-exception" in _tags(cell) and cell.execution_count is not None)
        for output in cell.outputs:
            size = len(json.dumps(output))
            assert size <= MAX_OUTPUT_KB * 1024, f"{cell.id}: an output of {size // 1024} KB"
            assert not (output.output_type == "stream" and output.name == "stderr"), f"{cell.id}: stderr output"
            text = _text(output)
            assert not re.search(r"<Figure size|^Text\(|<matplotlib\.", text, re.M), f"{cell.id}: stray repr"
            assert not re.search(r"/(work|home|root|tmp|Users)/", text), f"{cell.id}: a path of this machine"
            if "image/png" in output.get("data", {}):
                assert output.data["text/plain"].startswith("Figure"), f"{cell.id}: a figure without description"


# --- nbval configuration --------------------------------------------------------------------------


def _rules() -> list[tuple[str, str]]:
    from nbval.plugin import get_sanitize_patterns

    return get_sanitize_patterns(SANITIZE.read_text())


def _sanitize(text: str) -> str:
    for regex, replace in _rules():
        text = re.sub(regex, replace, text)
    return text


def test_sanitize_rules_are_narrow() -> None:
    assert len(_rules()) == 3
    timing = "MODP_8192   key pair + g^ir: 12.07 ms (timing)"
    assert _sanitize(timing) == "MODP_8192   key pair + g^ir: TIME ms (timing)"
    assert _sanitize("<Foo object at 0x7f3a2c1b9d60>") == "<Foo object at 0xADDRESS>"
    assert _sanitize("{'model_id': '2048035191f3460eba51140611858c36'}") == "{'model_id': 'MODEL_ID'}"
    for keep in ["4199888f 7e2f6fe0 f839319c", "c8861a251021d6fc...4f10025e91c9ec6b (32 bytes)", "0x7f3a2c1b9d60",
                 "2048035191f3460eba51140611858c36", "took 12 steps", "12.07 ms", "SK_d   bytes   0.. 31"]:
        assert _sanitize(keep) == keep


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_sanitize_leaves_every_derived_value_alone(lesson: Path) -> None:
    """The rules change no stored output line of the lessons except the "(timing)" lines."""
    for cell in _code(_read(lesson)):
        for output in cell.outputs:
            for line in _text(output).splitlines():
                if not line.endswith("(timing)"):
                    assert _sanitize(line) == line, f"{cell.id}: sanitize rewrites {line!r}"


def test_pytest_configuration_runs_the_lessons_under_nbval() -> None:
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "notebooks" in options["testpaths"] and "tests" in options["testpaths"]
    addopts = options["addopts"].split()
    assert {"--nbval", "--nbval-current-env", "--nbval-sanitize-with=notebooks/sanitize.cfg"} <= set(addopts)
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "notebooks"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    collected = [ln for ln in out.stdout.splitlines() if "::" in ln]
    for lesson in LESSONS:
        n_code = len(_code(_read(lesson)))
        assert sum(ln.startswith(f"notebooks/{lesson.name}::") for ln in collected) == n_code
    assert not any("student" in ln for ln in collected), "the student edition must not run under nbval"


def test_nbval_catches_a_changed_derived_value(tmp_path: Path) -> None:
    """Flip one hex digit of a stored T1 block in lesson 04: nbval must fail that cell."""
    lesson = NOTEBOOKS / "04-prf-plus.ipynb"
    nb = _read(lesson)
    cell = next(c for c in nb.cells if c.get("id") == "l04-blocks-code")
    stream = cell.outputs[0]
    match = re.search(r"T1 = ([0-9a-f])", stream.text)
    assert match
    flipped = "0" if match.group(1) != "0" else "1"
    stream.text = stream.text[: match.start(1)] + flipped + stream.text[match.end(1):]
    target = tmp_path / lesson.name
    nbformat.write(nb, target)
    shutil.copy(SANITIZE, tmp_path / "sanitize.cfg")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
         f"--nbval-sanitize-with={tmp_path / 'sanitize.cfg'}", "--rootdir", str(tmp_path), str(target)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 1, out.stdout[-2000:]
    assert "1 failed" in out.stdout and "Cell outputs differ" in out.stdout
