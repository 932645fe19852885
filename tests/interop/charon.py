"""A real strongSwan charon, run inside a network namespace, driven with swanctl.

Each :class:`Charon` has a private work directory holding its own
``strongswan.conf`` (selected with the ``STRONGSWAN_CONF`` environment
variable), its own ``swanctl`` directory (``SWANCTL_DIR``), its own vici
socket and its own file log, so several charons run side by side:

* ``/usr/lib/ipsec/charon`` always writes ``/run/charon.pid`` and refuses to
  start if that pid is alive.  ``ip netns exec`` already gives the command a
  private mount namespace (with ``/`` made a slave, so nothing propagates back
  to the host); inside it we bind-mount the work directory's ``run/`` over
  ``/run`` and then ``exec`` charon, so the pid file is private too and the
  :class:`subprocess.Popen` pid *is* charon's pid.
* The kernel here has no ESP (``ip xfrm state add ... proto esp`` fails), so
  charon loads ``kernel-libipsec`` (userspace ESP through a TUN device,
  ``ipsec0``) *before* ``kernel-netlink``; ESP is then always sent inside UDP
  on port 4500 (RFC 3948), and charon reports ``nat-any`` on its SAs.
* The log at ``ike = 4`` and ``chd = 4`` (with ``ike_name = yes``) carries
  every key of RFC 7296 2.14 and 2.17: :func:`parse_keys` reads them back.

Typical use (see ``docs/strongswan.md``)::

    with NetnsPair() as net, Charon(net.b, tmp / "b", swanctl_conf=psk_conf(...)) as bob:
        bob.load_all()
        ...                           # an initiator in net.a talks to 192.0.2.2
        bob.list_sas(); bob.keys()
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .charonlog import parse_keys
from .netns import Namespace, NetnsError

__all__ = [
    "CHARON_BIN",
    "DEFAULT_LOG_LEVELS",
    "DEFAULT_PLUGINS",
    "Charon",
    "CharonError",
    "interop_unavailable_reason",
    "parse_keys",
    "parse_vici_pretty",
    "render_conf",
]

CHARON_BIN = "/usr/lib/ipsec/charon"
SWANCTL_BIN = "swanctl"
PLUGIN_DIR = "/usr/lib/ipsec/plugins"

#: The plugins for PSK and RSA/ECDSA/Ed25519 certificates with AES-CBC/CTR/CCM/GCM,
#: ChaCha20-Poly1305, SHA-1/2, HMAC, XCBC, CMAC, MODP, ECP and Curve25519 on Debian 12
#: (``openssl`` brings the ECP groups and ECDSA, ``gcm`` AES-GCM).  ``kdf`` is needed for prf+ in 5.9.8;
#: ``kernel-libipsec`` must come before ``kernel-netlink`` or the kernel's
#: (missing) ESP is used and CHILD SAs fail with "Protocol not supported".
DEFAULT_PLUGINS: tuple[str, ...] = (
    "random", "nonce", "aes", "sha1", "sha2", "hmac", "kdf", "xcbc", "cmac", "ctr", "ccm",
    "chapoly", "gmp", "curve25519", "mgf1", "pem", "pkcs1", "pkcs8", "x509", "pubkey",
    "constraints", "gcm", "openssl", "kernel-libipsec", "kernel-netlink", "socket-default", "vici",
)  # fmt: skip
#: What swanctl itself needs to read certificates and private keys.
SWANCTL_PLUGINS: tuple[str, ...] = ("pem", "pkcs1", "pkcs8", "x509", "pubkey", "gmp", "curve25519", "sha1", "sha2",
                                     "openssl")

#: Log levels of the file log: 4 for IKE and CHD prints the keys.
DEFAULT_LOG_LEVELS: dict[str, int] = {"default": 1, "ike": 4, "chd": 4, "cfg": 2, "knl": 2, "net": 2, "enc": 1}

#: The swanctl directories charon's credentials are loaded from.
SWANCTL_SUBDIRS = ("conf.d", "x509", "x509ca", "x509ocsp", "x509aa", "x509ac", "x509crl", "pubkey", "private",
                   "rsa", "ecdsa", "bliss", "pkcs8", "pkcs12")  # fmt: skip

# sun_path is 108 bytes; keep a margin.
_MAX_SOCKET_PATH = 100


class CharonError(RuntimeError):
    """charon or swanctl failed; the message carries the command output and the log tail."""


def interop_unavailable_reason() -> str | None:
    """Why the strongSwan interop tests cannot run here, or ``None`` if they can."""
    from .netns import netns_unavailable_reason

    if os.geteuid() != 0:
        return "the strongSwan interop tests need root (network namespaces, TUN device, raw sockets)"
    if not os.access(CHARON_BIN, os.X_OK):
        return (
            f"{CHARON_BIN} is missing (apt-get install strongswan-charon strongswan-swanctl "
            "libcharon-extra-plugins libstrongswan-extra-plugins)"
        )
    if shutil.which(SWANCTL_BIN) is None:
        return "swanctl is missing (apt-get install strongswan-swanctl)"
    missing = [p for p in DEFAULT_PLUGINS if not os.path.exists(f"{PLUGIN_DIR}/libstrongswan-{p}.so")]
    if missing:
        return (
            f"charon plugins missing: {', '.join(missing)} (apt-get install libcharon-extra-plugins "
            "libstrongswan-extra-plugins libstrongswan-standard-plugins)"
        )
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing: charon's kernel-libipsec needs a TUN device"
    return netns_unavailable_reason()


# --- strongswan.conf / swanctl.conf text ----------------------------------------------------

def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_scalar(v) for v in value)
    text = str(value)
    if text == "" or any(c in text for c in ' \t"#{}=\n') and not text.startswith('"'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def render_conf(tree: Mapping[str, Any], indent: int = 0) -> str:
    """strongswan.conf / swanctl.conf syntax from nested dicts.

    Dict values become ``name { ... }`` sections, lists become
    comma-separated values, booleans ``yes``/``no``; strings with spaces or
    special characters are double-quoted.  Nest dicts for dotted settings
    (``{"plugins": {"vici": {"socket": ...}}}``); :func:`merge_conf` accepts
    dotted keys and nests them.
    """
    pad = "  " * indent
    lines = []
    for key, value in tree.items():
        if isinstance(value, Mapping):
            lines.append(f"{pad}{key} {{")
            lines.append(render_conf(value, indent + 1))
            lines.append(f"{pad}}}")
        elif value is not None:
            lines.append(f"{pad}{key} = {_scalar(value)}")
    return "\n".join(line for line in lines if line != "")


def merge_conf(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``extra``, recursively for nested sections; dotted keys in ``extra`` nest."""
    out = dict(base)
    for key, value in extra.items():
        if "." in key:
            head, rest = key.split(".", 1)
            value, key = {rest: value}, head
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_conf(dict(out[key]), value)
        elif isinstance(value, Mapping):
            out[key] = merge_conf({}, value)
        else:
            out[key] = value
    return out


# --- swanctl --pretty output -----------------------------------------------------------------

def parse_vici_pretty(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse ``swanctl --pretty`` output into ``[(message name, tree), ...]``.

    Sections become dicts, ``key = [ ... ]`` lists become lists of strings,
    ``key = value`` scalars strings.
    """
    messages: list[tuple[str, dict[str, Any]]] = []
    stack: list[Any] = []
    keys: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not stack:
            if line.endswith("{"):
                keys = [line[:-1].strip()]
                stack = [{}]
            continue
        top = stack[-1]
        if line in ("}", "]"):
            done = stack.pop()
            name = keys.pop()
            if not stack:
                messages.append((name, done))
            else:
                parent = stack[-1]
                if isinstance(parent, list):
                    parent.append(done)
                else:
                    parent[name] = done
            continue
        if line.endswith(" {") or line == "{":
            keys.append(line[:-1].strip())
            stack.append({})
        elif line.endswith("= ["):
            keys.append(line[:-1].rstrip(" =").strip())
            stack.append([])
        elif isinstance(top, list):
            top.append(line)
        elif " = " in line or line.endswith(" ="):
            key, _, value = line.partition(" =")
            top[key.strip()] = value.strip()
        else:
            top[line] = ""
    return messages


# --- the daemon ------------------------------------------------------------------------------

class Charon:
    """One charon daemon in a namespace; start with :meth:`start` or ``with``.

    ``conf`` adds to (or overrides) the ``charon`` section of the generated
    strongswan.conf: a dict (nested sections as dicts, dotted keys allowed,
    e.g. ``{"cookie_threshold": 2}``) or a string of raw strongswan.conf text
    appended at the top level.  ``swanctl_conf`` is written to
    ``swanctl/swanctl.conf``; :meth:`load_all` loads it.  Without
    ``workdir`` a temporary directory is made, and :meth:`stop` removes it
    unless ``keep_workdir``; a given ``workdir`` is always kept (logs for
    post-mortems).
    """

    def __init__(
        self,
        netns: Namespace,
        workdir: str | os.PathLike[str] | None = None,
        *,
        conf: Mapping[str, Any] | str | None = None,
        swanctl_conf: str = "",
        plugins: Sequence[str] = DEFAULT_PLUGINS,
        log_levels: Mapping[str, int] | None = None,
        cookie_threshold: int = 1000,
        keep_workdir: bool = False,
    ) -> None:
        self.netns = netns
        self._own_workdir = workdir is None
        self.workdir = Path(workdir if workdir is not None else tempfile.mkdtemp(prefix="ikl-charon-"))
        self.keep_workdir = keep_workdir
        self.conf = conf
        self.swanctl_conf = swanctl_conf
        self.plugins = tuple(plugins)
        self.log_levels = dict(DEFAULT_LOG_LEVELS if log_levels is None else log_levels)
        self.cookie_threshold = cookie_threshold
        self.run_dir = self.workdir / "run"
        self.swanctl_dir = self.workdir / "swanctl"
        self.conf_path = self.workdir / "strongswan.conf"
        self.log_path = self.workdir / "charon.log"
        self.stdout_path = self.workdir / "charon.out"
        self._sock_dir: str | None = None
        vici = self.workdir / "charon.vici"
        if len(str(vici)) > _MAX_SOCKET_PATH:
            self._sock_dir = tempfile.mkdtemp(prefix="ikl-vici-")
            vici = Path(self._sock_dir) / "charon.vici"
        self.vici_path = vici
        self.uri = f"unix://{vici}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._stdout: Any = None

    # -- configuration

    def strongswan_conf(self) -> str:
        """The text of this instance's strongswan.conf."""
        charon: dict[str, Any] = {
            "load": " ".join(self.plugins),
            # COOKIEs (RFC 7296 2.6) are demanded once cookie_threshold half-open IKE SAs exist,
            # or cookie_threshold_ip from one address (default 3): raised for repeated tests
            "cookie_threshold": self.cookie_threshold,
            "cookie_threshold_ip": self.cookie_threshold,
            "block_threshold": max(self.cookie_threshold, 1000),
            # bounded retransmissions: about 1 + 1.4 + 2 + 2.7 s before giving up
            "retransmit_tries": 3,
            "retransmit_timeout": 1,
            "retransmit_base": 1.4,
            "plugins": {"vici": {"socket": self.uri}},
            "filelog": {
                "ikelab": {
                    "path": str(self.log_path),
                    **self.log_levels,
                    "flush_line": True,
                    "time_format": "%s",
                    "ike_name": True,
                    "append": False,
                }
            },
            # no syslog: every message goes to the file log only
            "syslog": {"daemon": {"default": -1}},
        }
        extra = ""
        if isinstance(self.conf, Mapping):
            charon = merge_conf(charon, self.conf)
        elif isinstance(self.conf, str):
            extra = "\n" + self.conf
        tree = {"charon": charon, "swanctl": {"load": " ".join(SWANCTL_PLUGINS)}}
        return render_conf(tree) + "\n" + extra + "\n"

    @property
    def env(self) -> dict[str, str]:
        """Environment for charon and swanctl: private strongswan.conf and swanctl directory."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STRONGSWAN", "SWANCTL"))}
        env["STRONGSWAN_CONF"] = str(self.conf_path)
        env["SWANCTL_DIR"] = str(self.swanctl_dir)
        return env

    def write_files(self) -> None:
        """Create the work directory, strongswan.conf and swanctl/swanctl.conf."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(exist_ok=True)
        for sub in SWANCTL_SUBDIRS:
            (self.swanctl_dir / sub).mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(self.strongswan_conf())
        (self.swanctl_dir / "swanctl.conf").write_text(self.swanctl_conf)

    def set_swanctl_conf(self, text: str, *, load: bool = True) -> None:
        """Replace swanctl.conf (and reload it into the running daemon when ``load``)."""
        self.swanctl_conf = text
        (self.swanctl_dir / "swanctl.conf").write_text(text)
        if load and self.running:
            self.load_all()

    # -- life cycle

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 15.0) -> "Charon":
        """Start charon and wait (at most ``timeout`` s) until its vici socket answers."""
        if self.running:
            raise CharonError("charon is already running")
        self.write_files()
        if self.vici_path.exists():
            self.vici_path.unlink()
        self._stdout = open(self.stdout_path, "wb")
        script = f'mount --bind "{self.run_dir}" /run && exec "{CHARON_BIN}"'
        self.proc = self.netns.popen(
            ["sh", "-c", script], env=self.env, stdout=self._stdout, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self._close_stdout()
                self.proc = None
                raise CharonError(f"charon exited at start with status {code}\n{self.diagnostics()}")
            if self.vici_path.exists():
                probe = self.swanctl("--stats", check=False, timeout=5)
                if probe.returncode == 0:
                    return self
            if time.monotonic() > deadline:
                self.stop()
                raise CharonError(f"charon's vici socket did not answer within {timeout:.0f} s\n{self.diagnostics()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM charon (its own pid only), wait, SIGKILL if it lingers; clean up. Safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._close_stdout()
        if proc is not None and self.vici_path.is_socket():
            self.vici_path.unlink()
        if self._sock_dir:
            shutil.rmtree(self._sock_dir, ignore_errors=True)
            self._sock_dir = None
        if not self.keep_workdir and self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _close_stdout(self) -> None:
        if self._stdout is not None:
            self._stdout.close()
            self._stdout = None

    def __enter__(self) -> "Charon":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- swanctl

    def swanctl(self, *args: str, timeout: float = 30.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``swanctl ARGS --uri <this charon>`` inside the namespace."""
        try:
            result = self.netns.run(SWANCTL_BIN, *args, "--uri", self.uri, env=self.env, timeout=timeout, check=False)
        except NetnsError as exc:
            raise CharonError(f"{exc}\n{self.diagnostics()}") from exc
        if check and result.returncode != 0:
            raise CharonError(
                f"swanctl {' '.join(args)} failed with status {result.returncode}\n"
                f"stdout: {result.stdout.strip()}\nstderr: {result.stderr.strip()}\n{self.diagnostics()}"
            )
        return result

    def load_all(self) -> str:
        """``swanctl --load-all``: credentials, authorities, pools and connections."""
        return self.swanctl("--load-all", "--noprompt").stdout

    def initiate(self, child: str | None = None, ike: str | None = None, *, timeout: float = 20.0) -> str:
        """``swanctl --initiate`` a CHILD SA (and its IKE SA) or an IKE SA alone; wait for the result."""
        args = ["--initiate"]
        if child:
            args += ["--child", child]
        if ike:
            args += ["--ike", ike]
        if not child and not ike:
            raise CharonError("initiate() needs a child or an ike name")
        args += ["--timeout", str(max(1, int(timeout)))]
        return self.swanctl(*args, timeout=timeout + 10).stdout

    def terminate(
        self,
        child: str | None = None,
        ike: str | None = None,
        *,
        ike_id: int | None = None,
        child_id: int | None = None,
        force: bool = False,
        timeout: float = 10.0,
    ) -> str:
        """``swanctl --terminate`` by name or unique id."""
        args = ["--terminate"]
        for flag, value in (("--child", child), ("--ike", ike), ("--ike-id", ike_id), ("--child-id", child_id)):
            if value is not None:
                args += [flag, str(value)]
        if force:
            args.append("--force")
        args += ["--timeout", str(max(1, int(timeout)))]
        return self.swanctl(*args, timeout=timeout + 10).stdout

    def list_sas(self, ike: str | None = None) -> list[dict[str, Any]]:
        """The IKE SAs as dicts (``swanctl --list-sas --pretty``); each has ``name`` and ``child-sas``."""
        args = ["--list-sas", "--pretty"] + (["--ike", ike] if ike else [])
        out = self.swanctl(*args).stdout
        sas = []
        for message, tree in parse_vici_pretty(out):
            if message != "list-sa event":
                continue
            for name, sa in tree.items():
                if isinstance(sa, dict):
                    sas.append({"name": name, **sa})
        return sas

    def list_conns(self) -> list[str]:
        """Names of the loaded connections."""
        out = self.swanctl("--list-conns", "--pretty").stdout
        return [name for message, tree in parse_vici_pretty(out) if message == "list-conn event" for name in tree]

    # -- log

    def log_text(self) -> str:
        """The file log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def keys(self) -> list[dict[str, Any]]:
        """:func:`parse_keys` of the log: the keys of every IKE SA and CHILD SA so far."""
        return parse_keys(self.log_text())

    def wait_for_log(self, predicate: str | Callable[[str], bool], timeout: float = 10.0) -> str:
        """Wait until the log contains ``predicate`` (a substring or a function of the text)."""
        test = predicate if callable(predicate) else (lambda text: predicate in text)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text()
            if test(text):
                return text
            if time.monotonic() > deadline:
                raise CharonError(f"timed out after {timeout:.0f} s waiting for {predicate!r} in the log\n"
                                  f"{self.diagnostics()}")
            if not self.running:
                raise CharonError(f"charon is not running while waiting for {predicate!r}\n{self.diagnostics()}")
            time.sleep(0.05)

    def wait_for_sa(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Poll :meth:`list_sas` until ``predicate(sas)`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            sas = self.list_sas()
            if predicate(sas):
                return sas
            if time.monotonic() > deadline:
                raise CharonError(f"timed out after {timeout:.0f} s waiting for SAs; last: {sas}\n{self.diagnostics()}")
            time.sleep(0.1)

    def diagnostics(self, lines: int = 40) -> str:
        """The tails of charon's stdout and file log, for error messages."""
        parts = []
        for title, path in (("charon stdout", self.stdout_path), ("charon log", self.log_path)):
            try:
                tail = path.read_text(errors="replace").splitlines()[-lines:]
            except FileNotFoundError:
                tail = ["(none)"]
            parts.append(f"--- {title} ({path}) ---\n" + "\n".join(tail))
        return "\n".join(parts)
