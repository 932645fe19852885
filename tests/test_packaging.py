"""The install paths and CI stay honest: conda and pip install the same
extras, CI runs the README's test command, and ``import ikelab`` stays light."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("matplotlib", "ipywidgets", "sympy", "IPython")
#: Modules that exist to draw, interact or do symbolic math may import heavy libraries:
#: ``flow``, and ``figures*`` / ``widgets*`` (one per lesson topic where one file would grow too big).
HEAVY_PREFIXES = ("flow", "widgets", "figures")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_installs_exactly_the_pyproject_extras() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "ikelab"
    deps = env["dependencies"]
    assert "pip" in deps
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml must have exactly one pip: section"
    (line,) = pip_sections[0]
    match = re.fullmatch(r"-e \.\[([a-z0-9_,-]+)\]", line)
    assert match, f"environment.yml must install this package through pip with extras, got {line!r}"
    extras = set(match.group(1).split(","))
    assert extras == set(_pyproject()["project"]["optional-dependencies"])
    # conda itself brings only python and pip: everything else comes from pyproject.toml
    conda_pkgs = {re.split(r"[<>=]", d)[0] for d in deps if isinstance(d, str)}
    assert conda_pkgs == {"python", "pip"}


def test_python_floor_matches() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python>=3.10" in env["dependencies"]
    assert _pyproject()["project"]["requires-python"] == ">=3.10"


def _readme_command(label: str) -> str:
    text = (ROOT / "README.md").read_text()
    idx = text.index(label)
    block = re.search(r"```sh\n(.+?)\n```", text[idx:], re.S)
    assert block, f"no command block after {label!r} in README.md"
    return block.group(1).strip()


def test_ci_runs_the_readme_test_command() -> None:
    command = _readme_command("Set up and run the tests")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci, ".ci/run must run exactly the README's test command"


def test_console_script_is_declared() -> None:
    assert _pyproject()["project"]["scripts"]["ikelab"] == "ikelab.cli:main"


def test_import_ikelab_stays_light() -> None:
    """Every core module imports without matplotlib, ipywidgets or sympy (DESIGN principle 6)."""
    core = sorted(
        p.stem for p in (ROOT / "ikelab").glob("*.py") if not p.stem.startswith(HEAVY_PREFIXES) and p.stem != "__main__"
    )
    code = (
        "import importlib, sys\n"
        f"for name in {core!r}:\n"
        "    importlib.import_module('ikelab' if name == '__init__' else 'ikelab.' + name)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", f"heavy modules imported by core: {out.stdout.strip()}"


def test_readme_python_example_runs() -> None:
    """The README's code sample is real: it runs and does what its comments say."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.+?)\n```", text, re.S)
    assert block, "README.md has no python example"
    namespace: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    assert len(namespace["g_ir"]) == 256
    assert len(namespace["seed"]) == 32


#: Import names of the extras' distributions whose import name differs from their project name.
_IMPORT_NAMES = {"pyyaml": "yaml"}


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].strip().lower() for r in requirements}


def test_the_main_job_runs_with_the_core_dependencies_only(tmp_path: Path) -> None:
    """The README's first command is ``pip install -e . && ikelab demo``: the demo may use no extra.

    The demo runs in a fresh interpreter in which every package that only an extra
    installs cannot be imported, as on a machine that followed the README.
    """
    project = _pyproject()["project"]
    core = _requirement_names(project["dependencies"])
    extras_only = set().union(*(_requirement_names(r) for r in project["optional-dependencies"].values())) - core
    blocked = sorted(_IMPORT_NAMES.get(name, name) for name in extras_only)
    assert "gmpy2" in blocked and "sympy" in blocked and "matplotlib" not in blocked
    code = (
        "import importlib.abc, sys\n"
        f"BLOCKED = {blocked!r}\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ModuleNotFoundError(f'{name} is not installed by pip install -e .', name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Block())\n"
        "from ikelab.cli import main\n"
        f"sys.exit(main(['demo', '--out', {str(tmp_path / 'demo')!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("ikev2-lab.pcap", "ikev2-lab.pcapng", "ikev2_decryption_table", "esp_sa", "flow.png"):
        assert (tmp_path / "demo" / name).stat().st_size > 0, name
    assert (tmp_path / "demo" / "flow.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Decrypt it with tshark" in done.stdout


def test_one_license_everywhere() -> None:
    """pyproject.toml, LICENSE and the README name the same license."""
    assert _pyproject()["project"]["license"] == {"text": "MIT"}
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    assert "## License\n\nMIT: see [LICENSE](LICENSE)." in (ROOT / "README.md").read_text()


def _distributions() -> set[str]:
    """Every distribution pyproject.toml installs, core and extras, by name."""
    project = _pyproject()["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += extra
    return {re.match(r"[A-Za-z0-9_.-]+", spec).group(0).lower() for spec in specs}


def test_every_dependency_is_justified_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Dependencies", 1)[1].split("\n## ", 1)[0]
    justified = {name.lower() for name in re.findall(r"^- \*\*([A-Za-z0-9_.-]+)\*\*", section, re.M)}
    assert justified, "the README's Dependencies section lists no dependency"
    # "sympy, matplotlib and ipywidgets again": a repeated dependency is justified once, under another extra
    assert _distributions() <= justified, f"not justified in the README: {sorted(_distributions() - justified)}"


def test_a_test_that_hangs_fails_after_the_configured_timeout(pytestconfig: pytest.Config, tmp_path: Path) -> None:
    # pytest-timeout registers the ini option; without the plugin getini raises ValueError
    assert float(pytestconfig.getini("timeout")) == 300
    assert str(300) in (ROOT / "README.md").read_text().split("**pytest-timeout**", 1)[1].split("\n- ", 1)[0]
    # and it does stop a test that never ends: one that waits on an event nobody sets, with a 1-second limit
    (tmp_path / "test_hang.py").write_text("import threading\n\ndef test_hang():\n    threading.Event().wait()\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout=1",
                          str(tmp_path / "test_hang.py")], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 1 and "Timeout" in run.stdout, run.stdout[-2000:]
