"""A private JupyterLab for the browser tests, and the tools it needs.

:class:`LabServer` starts ``python -m jupyterlab`` on 127.0.0.1 with a random
free port and a random token, in a temporary home (``HOME``, the Jupyter
config, data and runtime directories, IPython's and matplotlib's directories,
and JupyterLab's user settings all live there), serving a *copy* of the
lessons so a run never writes into ``notebooks/``.  ``stop()`` shuts the
server down by its own process id (SIGTERM, then SIGKILL after a grace
period) and removes the temporary home.

JupyterLab's settings written there: the notebook renders every cell
(``windowingMode: none``, so cells far down the page are in the DOM), and no
news or update checks are fetched.  ``--LabApp.expose_app_in_browser`` makes
``window.jupyterapp`` available, so the tests run cells and read the kernel
state through JupyterLab's own commands rather than by pressing keys.

:func:`unavailable_reason` says why the suite cannot run here (no Chromium,
no Playwright, no JupyterLab), or ``None``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterable

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def find_chromium() -> str | None:
    """Debian's Chromium (``IKELAB_CHROMIUM`` overrides), or ``None``; never a downloaded browser."""
    override = os.environ.get("IKELAB_CHROMIUM")
    candidates = [override] if override else list(CHROMIUM_CANDIDATES) + [shutil.which("chromium") or ""]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def unavailable_reason() -> str | None:
    """Why the browser suite cannot run on this machine, or ``None`` when it can."""
    if find_chromium() is None:
        return "Chromium is not installed: apt-get install --no-install-recommends chromium"
    for module, hint in (("playwright", "pip install playwright (no browser download needed)"),
                         ("jupyterlab", "pip install -e '.[notebooks]'"),
                         ("ipykernel", "pip install -e '.[test]'")):
        try:
            __import__(module)
        except ImportError:
            return f"Python package {module!r} is missing: {hint}"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "checkForUpdates": False, "fetchNews": "false"},
}


class LabServerError(RuntimeError):
    """JupyterLab did not start (the message carries the end of its log)."""


class LabServer:
    """JupyterLab serving a copy of ``lessons`` from a temporary home."""

    def __init__(self, lessons: Iterable[Path], *, startup_timeout: float = 90.0) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="ikelab-e2e-home-"))
        self.root = self.home / "lessons"
        self.root.mkdir()
        for lesson in lessons:
            shutil.copy2(lesson, self.root / lesson.name)
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.log_path = self.home / "jupyterlab.log"
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """``path`` on the server, with the token."""
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        dirs = {"HOME": "home", "JUPYTER_CONFIG_DIR": "jupyter-config", "JUPYTER_DATA_DIR": "jupyter-data",
                "JUPYTER_RUNTIME_DIR": "jupyter-runtime", "IPYTHONDIR": "ipython", "MPLCONFIGDIR": "matplotlib"}
        for name, sub in dirs.items():
            (self.home / sub).mkdir(exist_ok=True)
            env[name] = str(self.home / sub)
        env.pop("JUPYTER_PATH", None)
        env.pop("JUPYTERLAB_SETTINGS_DIR", None)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start(self) -> "LabServer":
        settings = self.home / "lab-user-settings"
        for rel, values in LAB_SETTINGS.items():
            path = settings / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
            f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={self.home / 'workspaces'}",
            "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # CI runs as root in a throwaway machine
        log = open(self.log_path, "wb")
        try:
            self.process = subprocess.Popen(command, env=self._environment(), cwd=self.home, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LabServerError(f"JupyterLab exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as reply:
                    if reply.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise LabServerError(f"JupyterLab did not answer within {self.startup_timeout:.0f} s:\n{self.log_tail()}")

    def api(self, method: str, path: str) -> object:
        """A JSON request to the server's REST API (``GET api/sessions``, ...)."""
        request = urllib.request.Request(self.url(path), method=method)
        with urllib.request.urlopen(request, timeout=10) as reply:
            body = reply.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """End every session (and its kernel) so the next lesson starts from a fresh kernel."""
        sessions = self.api("GET", "api/sessions")
        for session in sessions if isinstance(sessions, list) else []:
            self.api("DELETE", f"api/sessions/{session['id']}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop JupyterLab by its own process id and remove the temporary home."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)   # the server shuts its kernels down on SIGTERM
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> "LabServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
