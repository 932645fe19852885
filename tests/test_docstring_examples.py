"""Every ``>>>`` example in ikelab's docstrings runs and prints what it shows (Python's doctest).

A student reads these examples in ``help()`` and in the source; an example that drifted from the code
would teach something false.  Examples that need a network or a file say ``# doctest: +SKIP``.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil

import pytest

import ikelab

#: every module of the package that holds at least one example
MODULES = sorted(
    info.name for info in pkgutil.iter_modules(ikelab.__path__, "ikelab.")
    if ">>> " in (importlib.util.find_spec(info.name).loader.get_source(info.name) or "")  # type: ignore[union-attr]
)


def test_there_are_examples_to_run() -> None:
    assert {"ikelab.dh_toy", "ikelab.identity", "ikelab.replay"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run_as_shown(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False,
                             report=True)
    assert result.attempted > 0, f"{name}: its '>>> ' lines are no doctest examples"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples print something else"
