"""What the browser must show for each lesson, computed by ikelab in the test process.

A lesson is ``notebooks/NN-topic.ipynb`` (found at run time, so new lessons
are tested as soon as they land).  :func:`lesson_plan` reads a lesson and
*replays* it in this process: it executes the code cells up to each widget
cell in a temporary directory (cells tagged ``raises-exception`` are skipped, printed output is
swallowed), takes the widget the cell shows, and records

* the controls the browser must render (sliders, drop-downs, buttons, ...),
* the change to make (the convention below), and the widget's text and
  images *after* applying the same change to the in-process widget: its
  callbacks call ikelab's pure functions, so the expected values are
  ikelab's, never text copied from an earlier run;
* an optional ``expect`` expression the lesson author wrote, evaluated here.

The convention (cell metadata of the widget cell; all keys optional)::

    "ikelab": {"e2e": {
        "widget": "name",        # a variable holding the widget (default: the cell's last expression)
        "control": "x_a",        # the attribute of the widget to change (default: its first slider/drop-down)
        "value": 7,              # the new value (default: the next option / one step up, or down at the top)
        "expect": "f'k = {figures.toy_exchange(23, 5, 7, 15).k_a}'",
                                 # Python evaluated in the lesson's namespace after the change, with
                                 # `widget` bound: a string, or a list of strings, that must appear
        "skip": "why"            # render-check this widget, but do not change it
    }}

A cell is a *widget cell* when its stored outputs hold a widget view
(``application/vnd.jupyter.widget-view+json``) or it carries ``ikelab.e2e``
metadata.  The change is made on the first widget cell that is not skipped,
or on the cell whose metadata names a ``control`` or ``value``.
"""

from __future__ import annotations

import ast
import contextlib
import html
import io
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
LESSON_GLOB = "[0-9][0-9]-*.ipynb"
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"

#: ipywidgets view names -> the kind the browser test looks for (and the DOM class of that kind).
KINDS = {
    "slider": ("IntSliderView", "FloatSliderView", "FloatLogSliderView", "SelectionSliderView",
               "IntRangeSliderView", "FloatRangeSliderView", "SelectionRangeSliderView"),
    "dropdown": ("DropdownView",),
    "button": ("ButtonView",),
    "toggle": ("ToggleButtonView", "ToggleButtonsView"),
    "checkbox": ("CheckboxView",),
    "text": ("TextView", "IntTextView", "FloatTextView", "BoundedIntTextView", "BoundedFloatTextView"),
    "radio": ("RadioButtonsView",),
}
DOM_CLASS = {"slider": "widget-slider", "dropdown": "widget-dropdown", "button": "widget-button",
             "toggle": "widget-toggle-button", "checkbox": "widget-checkbox", "text": "widget-text",
             "radio": "widget-radiobuttons"}
#: output widgets whose text the test compares (HTML, HTMLMath, Label).
TEXT_VIEWS = ("HTMLView", "HTMLMathView", "LabelView")


class SpecError(AssertionError):
    """A lesson's e2e convention is broken (bad metadata, or a change that changes nothing)."""


def lessons(directory: Path = NOTEBOOKS) -> list[Path]:
    """The lesson notebooks, ``NN-topic.ipynb``, in order."""
    return sorted(directory.glob(LESSON_GLOB))


def kind_of(widget: Any) -> str | None:
    """``"slider"``, ``"dropdown"``, ... for a control, ``None`` for anything else."""
    view = getattr(widget, "_view_name", None)
    for kind, views in KINDS.items():
        if view in views:
            return kind
    return None


def walk(widget: Any) -> Iterator[Any]:
    """The widget and all its descendants, in the order the browser draws them."""
    yield widget
    for child in getattr(widget, "children", ()) or ():
        yield from walk(child)


def control_counts(widget: Any) -> dict[str, int]:
    """How many controls of each kind the widget tree holds."""
    counts: dict[str, int] = {}
    for node in walk(widget):
        kind = kind_of(node)
        if kind:
            counts[kind] = counts.get(kind, 0) + 1
    return counts


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(value: str) -> str:
    """The text a browser shows for an HTML fragment, with whitespace collapsed."""
    parser = _Text()
    parser.feed(value)
    parser.close()
    return normalize("".join(parser.parts))


def normalize(text: str) -> str:
    """Whitespace runs become one space (browsers and ``innerText`` differ only there)."""
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def widget_texts(widget: Any) -> list[str]:
    """The visible text of every HTML/HTMLMath/Label widget in the tree, in order."""
    out = []
    for node in walk(widget):
        if getattr(node, "_view_name", None) in TEXT_VIEWS:
            value = node.value if node._view_name != "LabelView" else html.escape(node.value)
            out.append(html_text(value))
    return out


def widget_images(widget: Any) -> list[bytes]:
    """The bytes of every Image widget in the tree, in order."""
    return [bytes(node.value) for node in walk(widget) if getattr(node, "_view_name", None) == "ImageView"]


@dataclass(frozen=True)
class Change:
    """One user action on one control: ``kind`` ``ordinal`` (0-based among its kind) gets ``value``."""

    control: str            # attribute name on the widget, or "#<kind><n>" for a default pick
    kind: str
    ordinal: int
    description: str
    value: Any              # the new value (dropdown/toggle: its label; button: None)
    index_delta: int = 0    # selection sliders: arrow-key presses (signed)


@dataclass(frozen=True)
class WidgetCell:
    """A widget cell: its index among all cells, and the controls the browser must show."""

    index: int
    cell_id: str
    counts: dict[str, int]
    skip: str | None = None


@dataclass(frozen=True)
class LessonPlan:
    """Everything the browser test checks for one lesson."""

    path: Path
    n_cells: int
    code_cells: tuple[int, ...]
    raises: tuple[int, ...]               # cells tagged raises-exception (must show their error)
    image_cells: dict[int, int]           # cell index -> stored image/png outputs (static figures, flow diagrams)
    widget_cells: tuple[WidgetCell, ...]
    change_cell: int | None = None
    change: Change | None = None
    texts_before: tuple[str, ...] = ()
    texts_after: tuple[str, ...] = ()
    images_after: tuple[bytes, ...] = ()
    expect: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _e2e_meta(cell: dict) -> dict:
    meta = cell.get("metadata", {}).get("ikelab", {}).get("e2e", {})
    if not isinstance(meta, dict):
        raise SpecError(f"cell {cell.get('id')!r}: metadata ikelab.e2e must be an object, got {meta!r}")
    unknown = set(meta) - {"widget", "control", "value", "expect", "skip"}
    if unknown:
        raise SpecError(f"cell {cell.get('id')!r}: unknown ikelab.e2e keys {sorted(unknown)}")
    return meta


def is_widget_cell(cell: dict) -> bool:
    if cell.get("cell_type") != "code":
        return False
    if "e2e" in cell.get("metadata", {}).get("ikelab", {}):
        return True
    return any(WIDGET_MIME in out.get("data", {}) for out in cell.get("outputs", []))


def run_cell(source: str, namespace: dict, filename: str) -> Any:
    """Execute a cell like IPython does: the value of a final expression is returned."""
    tree = ast.parse(source, filename=filename)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        exec(compile(tree, filename, "exec"), namespace)
        if last is not None:
            return eval(compile(last, filename, "eval"), namespace)
    return None


#: the default control to change: the first slider or drop-down; failing that the first control of these kinds.
DEFAULT_ORDER = (("slider", "dropdown"), ("toggle", "radio"), ("checkbox",), ("text",), ("button",))


def default_change(widget: Any) -> Change:
    """The first slider or drop-down (else toggle/radio, checkbox, text box, button), changed by one step."""
    found: list[tuple[Any, str, int]] = []
    ordinals: dict[str, int] = {}
    for node in walk(widget):
        kind = kind_of(node)
        if kind is not None:
            found.append((node, kind, ordinals.get(kind, 0)))
            ordinals[kind] = ordinals.get(kind, 0) + 1
    for kinds in DEFAULT_ORDER:
        for node, kind, ordinal in found:
            if kind in kinds:
                return _change_for(node, f"#{kind}{ordinal}", kind, ordinal, None)
    raise SpecError("the widget has no control the browser test can change: name one in ikelab.e2e metadata")


def _ordinal(widget: Any, target: Any) -> int:
    kind = kind_of(target)
    n = 0
    for node in walk(widget):
        if node is target:
            return n
        if kind_of(node) == kind:
            n += 1
    raise SpecError(f"control {target!r} is not drawn inside the widget (not among its children)")


def _change_for(node: Any, name: str, kind: str, ordinal: int, value: Any) -> Change:
    description = str(getattr(node, "description", "") or "")
    if kind == "button":
        return Change(name, kind, ordinal, description, None)
    if kind in ("dropdown", "toggle", "radio") or getattr(node, "_view_name", "") == "SelectionSliderView":
        labels = list(node._options_labels)
        current = node.index
        if value is None:
            new = current + 1 if current + 1 < len(labels) else current - 1
        else:
            values = [v for _, v in node._options_full] if hasattr(node, "_options_full") else labels
            new = values.index(value) if value in values else labels.index(str(value))
        if kind == "slider":
            return Change(name, kind, ordinal, description, labels[new], index_delta=new - current)
        return Change(name, kind, ordinal, description, labels[new])
    if kind == "checkbox":
        return Change(name, kind, ordinal, description, (not node.value) if value is None else bool(value))
    if kind == "slider":
        if value is None:
            step = node.step
            value = node.value + step if node.value + step <= node.max else node.value - step
        return Change(name, kind, ordinal, description, value)
    if kind == "text":
        if value is None:  # one more character, or one more unit (within the bounds of a bounded box)
            if isinstance(node.value, str):
                value = node.value + "x"
            else:
                top = getattr(node, "max", None)
                value = node.value + 1 if top is None or node.value + 1 <= top else node.value - 1
        return Change(name, kind, ordinal, description, value)
    raise SpecError(f"control {name!r} of kind {kind!r} cannot be changed by the browser test")


def apply_change(widget: Any, change: Change, target: Any) -> None:
    """Make the same change on the in-process widget (its callbacks run as in the kernel)."""
    if change.kind == "button":
        target.click()
    elif change.kind in ("dropdown", "toggle", "radio") or change.index_delta:
        target.index = list(target._options_labels).index(change.value)
    else:
        target.value = change.value


def _find_target(widget: Any, change: Change) -> Any:
    n = 0
    for node in walk(widget):
        if kind_of(node) == change.kind:
            if n == change.ordinal:
                return node
            n += 1
    raise SpecError(f"no {change.kind} number {change.ordinal} in the widget")


def lesson_plan(path: Path) -> LessonPlan:
    """Replay ``path`` in this process and return what the browser must show."""
    nb = json.loads(Path(path).read_text())
    cells = nb["cells"]
    code = tuple(i for i, c in enumerate(cells) if c["cell_type"] == "code" and _source(c).strip())
    raises = tuple(i for i in code if "raises-exception" in _tags(cells[i]))
    images = {i: n for i in code
              if (n := sum("image/png" in o.get("data", {}) for o in cells[i].get("outputs", [])))}
    widget_idx = [i for i in code if is_widget_cell(cells[i])]
    if not widget_idx:
        raise SpecError(f"{path.name}: no widget cell (no stored widget view and no ikelab.e2e metadata)")
    metas = {i: _e2e_meta(cells[i]) for i in widget_idx}
    chosen = [i for i in widget_idx if "control" in metas[i] or "value" in metas[i]]
    if not chosen:
        chosen = [i for i in widget_idx if not metas[i].get("skip")]
    change_cell = chosen[0] if chosen else None

    namespace: dict[str, Any] = {"__name__": "__main__"}
    widget_cells: list[WidgetCell] = []
    result: dict[str, Any] = {}
    cwd = os.getcwd()
    scratch = tempfile.TemporaryDirectory(prefix="ikelab-e2e-replay-")
    os.chdir(scratch.name)  # like the kernel, which starts in the (temporary) lessons directory
    try:
        for i in code:
            if i > widget_idx[-1]:
                break
            if i in raises:
                continue
            cell = cells[i]
            value = run_cell(_source(cell), namespace, f"{path.name}[{i}]")
            if i not in metas:
                continue
            meta = metas[i]
            widget = namespace[meta["widget"]] if "widget" in meta else value
            if widget is None or not hasattr(widget, "_view_name"):
                raise SpecError(f"{path.name} cell {cell.get('id')!r}: the cell shows no widget object; "
                                "end it with the widget, or name it in ikelab.e2e.widget")
            widget_cells.append(WidgetCell(i, str(cell.get("id", i)), control_counts(widget), meta.get("skip")))
            if i == change_cell:
                result = _plan_change(path, cell, widget, meta, namespace)
    finally:
        os.chdir(cwd)
        scratch.cleanup()
    return LessonPlan(path=path, n_cells=len(cells), code_cells=code, raises=raises, image_cells=images,
                      widget_cells=tuple(widget_cells), change_cell=change_cell, **result)


def _plan_change(path: Path, cell: dict, widget: Any, meta: dict, namespace: dict) -> dict[str, Any]:
    where = f"{path.name} cell {cell.get('id')!r}"
    if "control" in meta:
        target = getattr(widget, meta["control"], None)
        if target is None or kind_of(target) is None:
            raise SpecError(f"{where}: ikelab.e2e.control {meta['control']!r} is not a control of the widget")
        change = _change_for(target, meta["control"], kind_of(target), _ordinal(widget, target), meta.get("value"))
    elif "value" in meta:
        first = default_change(widget)
        target = _find_target(widget, first)
        change = _change_for(target, first.control, first.kind, first.ordinal, meta["value"])
    else:
        change = default_change(widget)
        target = _find_target(widget, change)
    before_texts, before_images = widget_texts(widget), widget_images(widget)
    with contextlib.redirect_stdout(io.StringIO()):
        apply_change(widget, change, target)
    after_texts, after_images = widget_texts(widget), widget_images(widget)
    if after_texts == before_texts and after_images == before_images:
        raise SpecError(f"{where}: changing {change.control} to {change.value!r} changes no output; "
                        "choose another ikelab.e2e control or value")
    expect: tuple[str, ...] = ()
    if "expect" in meta:
        got = eval(meta["expect"], dict(namespace, widget=widget))  # noqa: S307 - the lesson's own code
        expect = tuple(normalize(str(s)) for s in ([got] if isinstance(got, (str, int, float)) else got))
    return {"change": change, "texts_before": tuple(before_texts), "texts_after": tuple(after_texts),
            "images_after": tuple(after_images), "expect": expect}
