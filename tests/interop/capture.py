"""Wireshark's capture on an interface inside a namespace: capture during a test, read the frames back.

``ip netns exec NS dumpcap -i veth-a -w FILE`` captures what the peers send
on the lab wire (dumpcap is the capture engine that ``tshark -w`` runs; on its
own it starts in milliseconds instead of loading every dissector first).  It
says "Capturing on" before the capture is really live, so :meth:`Capture.start`
(given ``probe_dst``, an address on the wire) sends UDP probes to the discard
port until one is in the file: the first packet of the test is then not
missed.  dumpcap writes what it captured in batches (about every 0.4 s here),
so :meth:`Capture.stop` sends one last probe and waits until it is in the file,
which is then complete up to it, before stopping dumpcap with SIGINT (its own
pid only); without ``probe_dst`` it waits until the file has settled.
:func:`read_fields` then runs ``tshark -r FILE -T fields`` on it.

With kernel-libipsec charon sends ESP inside UDP port 4500 (RFC 3948);
tshark dissects that as ``udpencap`` + ``esp``, and IKE on port 4500 (after
the four-zero-byte non-ESP marker) as ``isakmp``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Sequence

from .netns import Namespace, NetnsError, run_checked

TSHARK = "tshark"
DUMPCAP = "dumpcap"  # Debian's wireshark-common, which tshark depends on


def tshark_unavailable_reason() -> str | None:
    """Why tshark (or its dumpcap) cannot be used, or ``None``."""
    for tool in (TSHARK, DUMPCAP):
        if shutil.which(tool) is None:
            return f"{tool} is missing (apt-get install tshark)"
    return None


def _private_env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    cfg = workdir / "tshark-config"
    cfg.mkdir(parents=True, exist_ok=True)
    env["XDG_CONFIG_HOME"] = str(cfg)  # never read or change the user's Wireshark profile
    return env


class Capture:
    """A running dumpcap capture on ``iface`` in ``netns``, written to ``path`` (pcapng)."""

    def __init__(
        self,
        netns: Namespace,
        iface: str,
        path: str | os.PathLike[str],
        *,
        bpf: str | None = None,
        probe_dst: str | None = None,
    ) -> None:
        self.netns = netns
        self.probe_dst = probe_dst
        self.iface = iface
        self.path = Path(path)
        self.bpf = bpf
        self.stderr_path = self.path.with_suffix(".tshark.err")
        self.proc: subprocess.Popen[bytes] | None = None
        self._err = None

    def start(self, timeout: float = 15.0) -> "Capture":
        """Start dumpcap and wait until it is capturing."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        argv = [DUMPCAP, "-q", "-i", self.iface, "-w", str(self.path)]
        if self.bpf:
            argv += ["-f", self.bpf]
        self._err = open(self.stderr_path, "wb")
        self.proc = self.netns.popen(
            argv, env=_private_env(self.path.parent), stdout=subprocess.DEVNULL, stderr=self._err,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            err = self.stderr_path.read_text(errors="replace")
            if "Capturing on" in err:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop(last_probe=False)
                raise NetnsError(f"dumpcap did not start capturing on {self.iface} in {self.netns.name}: {err}")
            time.sleep(0.05)
        if self.probe_dst:
            # "Capturing on" comes before the capture is live: wait until a probe is in the file
            left = max(1.0, deadline - time.monotonic())
            if not self.netns.call(_probe_until_captured, str(self.path), self.probe_dst, left, _timeout=left + 10):
                self.stop(last_probe=False)  # no probe got in (a bpf= that drops it, say): a last one would not either
                raise NetnsError(f"dumpcap on {self.iface} in {self.netns.name} did not record a probe "
                                 f"within {left:.0f} s")
        return self

    def stop(self, timeout: float = 10.0, *, settle: float = 0.6, last_probe: bool = True) -> Path:
        """Stop dumpcap (SIGINT, then SIGKILL after ``timeout``) and return the capture file.

        dumpcap writes packets in batches, so a SIGINT right after the last
        packet loses it: first wait until a last probe is in the file (frames
        are written in the order they were captured) or, without ``probe_dst``
        or if the probe cannot be sent, until the file has not grown for
        ``settle`` seconds (at most 5 s).  ``last_probe=False`` (a capture
        that never started) stops it at once.
        """
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            if last_probe and not self._last_probe_written():
                self._wait_until_settled(settle)
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._err is not None:
            self._err.close()
            self._err = None
        return self.path

    def _last_probe_written(self, timeout: float = 5.0) -> bool:
        if not self.probe_dst:
            return False
        try:
            return bool(self.netns.call(_probe_until_captured, str(self.path), self.probe_dst, timeout, END_PROBE,
                                        _timeout=timeout + 10))
        except NetnsError:  # the namespace is already gone, say: the file settles instead
            return False

    def _wait_until_settled(self, settle: float) -> None:
        deadline = time.monotonic() + 5.0
        size, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            now_size = self.path.stat().st_size if self.path.exists() else 0
            if now_size != size:
                size, since = now_size, time.monotonic()
            elif time.monotonic() - since >= settle:
                break
            time.sleep(0.05)

    def __enter__(self) -> "Capture":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


PROBE = b"ikelab-capture-probe"
END_PROBE = b"ikelab-capture-end"  # the last probe, sent as the capture stops
#: UDP port the probes go to (discard, RFC 863): nothing listens in the lab.
PROBE_PORT = 9


def _probe_until_captured(path: str, dst: str, timeout: float, probe: bytes = PROBE) -> bool:
    """Send UDP probes (``probe``) to ``dst`` until the capture file holds one (run inside the namespace)."""
    import socket

    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    deadline = time.monotonic() + timeout
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        while time.monotonic() < deadline:
            sock.sendto(probe, (dst, PROBE_PORT))
            try:
                if probe in Path(path).read_bytes():
                    return True
            except FileNotFoundError:
                pass
            time.sleep(0.05)
    return False


def read_fields(
    path: str | os.PathLike[str], fields: Sequence[str], *, display_filter: str | None = None, timeout: float = 60.0
) -> list[list[str]]:
    """``tshark -r PATH -T fields -e F ...``: one list of column strings per frame."""
    argv = [TSHARK, "-n", "-r", str(path), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
            "-E", "aggregator=,"]
    for field in fields:
        argv += ["-e", field]
    if display_filter:
        argv += ["-Y", display_filter]
    out = run_checked(argv, timeout=timeout, env=_private_env(Path(path).parent)).stdout
    return [line.split("\t") for line in out.splitlines() if line.strip()]
