"""Fixtures for the browser tests (tests/e2e only).

* ``e2e_env``: skips (or, under ``CI=true``, fails) when Chromium, Playwright
  or JupyterLab is missing.
* ``lab``: one private JupyterLab per test module (:class:`labserver.LabServer`),
  stopped by its process id at the end, its temporary home removed.
* ``browser``: headless Debian Chromium driven by Playwright (never a
  downloaded browser), per test module: Playwright's sync API keeps an asyncio
  loop running in the main thread while it is open, so it must be closed
  before other test modules run (``asyncio.run`` refuses to start otherwise).
* ``screenshot_dir``: where each lesson's screenshots go: ``tests/e2e/screenshots/``
  (``IKELAB_E2E_SCREENSHOTS`` overrides); printed at the end of the run so CI
  can keep it as an artifact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from .labserver import LabServer, find_chromium, unavailable_reason
from .spec import lessons

SCREENSHOTS = Path(os.environ.get("IKELAB_E2E_SCREENSHOTS", Path(__file__).resolve().parent / "screenshots"))
_taken: list[Path] = []


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason``; under ``CI=true`` fail instead (.ci/run installs everything)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required in CI (.ci/run installs it): {reason}")
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: runs the lessons in JupyterLab in headless Chromium")


@pytest.fixture(scope="session")
def e2e_env() -> None:
    reason = unavailable_reason()
    if reason:
        skip_or_fail(reason)


@pytest.fixture(scope="module")
def lab(e2e_env: None) -> Iterator[LabServer]:
    server = LabServer(lessons())
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(e2e_env: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=find_chromium(), headless=True,
                                      args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def record_screenshot(path: Path) -> None:
    _taken.append(path)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _taken:
        terminalreporter.write_line(
            f"e2e screenshots ({len(_taken)} files, keep as CI artifact): {SCREENSHOTS}")
