"""Helpers for the ikelab-vs-charon tests: run ``ikelab connect`` / ``ikelab respond`` in a namespace.

ikelab runs as a subprocess (``python -m ikelab ...`` under ``ip netns exec``),
exactly as a user would run it; its key tables (``--keys``) are compared with
the keys charon logged (:func:`interop.charonlog.parse_keys`), and captures
taken on the veth are decrypted by tshark with those tables.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ikelab.wireshark import KeyTables, read_tables, tshark_command

from .capture import read_fields, run_checked
from .netns import Namespace
from .swanctl import DEFAULT_PSK, ID_INITIATOR, ID_RESPONDER

__all__ = ["IkelabProcess", "answering_charon", "charon_initiates", "check_keys_against_charon", "connect",
           "ikelab_argv", "ikelab_handshakes", "one_handshake", "read_keys", "respond", "start_connect",
           "stop_after_refusal", "tshark_decrypts"]


def one_handshake(config: Any, local: str, peer: str | None, *, ended: Callable[[list], bool], wait: float,
                  settled: Callable[[list], bool] | None = None, settle: float = 0.05, ready: str | None = None,
                  out: Path | None = None) -> list:
    """One ikelab :class:`~ikelab.net.NetDriver` in this process (inside a namespace, through a module-level
    function that :meth:`Namespace.call` runs): it initiates towards ``peer`` (port 500) or, ``peer`` None,
    answers, touching ``ready`` once it listens; it runs until ``ended(events)`` or ``wait`` seconds, then for
    ``settle`` seconds more (until ``settled(events)`` when given) so that its last answer leaves, and never
    DELETEs, so that charon's view can be read after.  ``out``: its key tables (``out/keys``) and capture
    (``out/ikelab.pcap``) go there.  Returns its events."""
    from ikelab.net import NetDriver

    async def run() -> list:
        driver = await NetDriver(config, local).open()
        try:
            if ready:
                Path(ready).touch()
            if peer:
                driver.initiate((peer, 500))
            await driver.wait_for(lambda: ended(driver.events), wait)
            if settled is None:
                await asyncio.sleep(settle)
            else:
                await driver.wait_for(lambda: settled(driver.events), settle)
        finally:
            driver.close()
        if out is not None:
            driver.write_keys(Path(out) / "keys")
            driver.write_pcap(Path(out) / "ikelab.pcap")
        return list(driver.events)

    return asyncio.run(run())


def answering_charon(charon: Any, ns: Namespace, function: Callable[..., Any], *args: Any, ready: Path,
                     timeout: float) -> Any:
    """``function(*args, str(ready))`` run in ``ns`` (a module-level function that answers one handshake with
    :func:`one_handshake`, touching ``ready`` once it listens) while charon initiates its CHILD SA ``net``;
    returns what ``function`` returns."""
    box: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: box.update(r=ns.call(function, *args, str(ready), _timeout=timeout)))
    thread.start()
    deadline = time.monotonic() + 15
    while not ready.exists() and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    charon.swanctl("--initiate", "--child", "net", "--timeout", "6", check=False, timeout=15)
    thread.join(timeout)
    return box["r"]


def ikelab_argv(command: str, tmp: Path, *, psk: str = DEFAULT_PSK, local_id: str = ID_INITIATOR,
                remote_id: str = ID_RESPONDER, extra: Sequence[str] = (), keys: bool = True,
                cert: dict[str, str] | None = None) -> list[str]:
    """``python -m ikelab COMMAND`` with identities, a PSK file (or certificate files), --keys and --pcap."""
    tmp.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ikelab", command, *extra, "--id", local_id, "--remote-id", remote_id]
    if cert is None:
        psk_file = tmp / "psk.txt"
        psk_file.write_text(psk + "\n")
        argv += ["--psk-file", str(psk_file)]
    else:
        argv += ["--cert", cert["cert"], "--key", cert["key"], "--ca", cert["ca"]]
    if keys:
        argv += ["--keys", str(tmp / "keys"), "--pcap", str(tmp / "ikelab.pcap")]
    return argv


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def connect(ns: Namespace, peer: str, tmp: Path, *, timeout: float = 40.0, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``ikelab connect PEER ...`` in ``ns`` to completion (bounded); returns its exit status and output."""
    argv = ikelab_argv("connect", tmp, **kwargs)
    argv.insert(4, peer)
    return ns.run(*argv, timeout=timeout, check=False, env=_env())


class IkelabProcess:
    """A running ``ikelab respond`` (or long ``connect``) with its output in a file."""

    def __init__(self, ns: Namespace, argv: list[str], out: Path) -> None:
        self.out_path = out
        self._fh = open(out, "wb")
        self.proc = ns.popen(argv, stdout=self._fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_env())

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in (out := self.output()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in ikelab's output:\n{out}")
            time.sleep(0.05)
        return out

    def interrupt(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

    def wait(self, timeout: float = 15.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._fh.close()


def respond(ns: Namespace, tmp: Path, *, local_id: str = ID_RESPONDER, remote_id: str = ID_INITIATOR,
            extra: Sequence[str] = (), **kwargs: Any) -> IkelabProcess:
    """Start ``ikelab respond --listen <ns.addr4>`` in ``ns``; wait until it listens."""
    if not any(x == "--listen" for x in extra):
        extra = ["--listen", ns.addr4, *extra]
    argv = ikelab_argv("respond", tmp, local_id=local_id, remote_id=remote_id, extra=extra, **kwargs)
    proc = IkelabProcess(ns, argv, tmp / "respond.out")
    proc.wait_for_output("listening on", timeout=15)
    return proc


def stop_after_refusal(proc: IkelabProcess, timeout: float = 10.0) -> int:
    """``ikelab respond`` goes on listening after it refused a handshake (a gateway serves the next initiator):
    once it said so, SIGINT ends it, and its exit status names the refusal (4, 5, ...).  A run that ended by
    itself first (the peer refused our IKE_AUTH response, say) keeps its own status."""
    try:
        proc.wait_for_output("still listening for other initiators", timeout=timeout)
    except AssertionError:
        pass
    proc.interrupt()
    return proc.wait(15)


def charon_initiates(charon: Any, proc: IkelabProcess, pinger: Namespace, target: Namespace, *,
                     then: Callable[[], None] | None = None, timeout: float = 10.0, pings: bool = True) -> str:
    """charon, in ``pinger``, initiates CHILD SA ``net`` against ``proc`` (an ``ikelab respond`` in ``target``).

    Once the CHILD SA is up, three pings from ``pinger``'s inner address to
    ``target``'s must come back (charon's kernel sends them, ikelab's userspace
    ESP answers); ``then()`` runs (rekeys, say), then charon terminates the IKE
    SA.  ikelab must exit 0; returns its output.  ``pings=False``: no pings (selectors that do not let
    them through both ways).
    """
    def up_then() -> None:
        charon.initiate(child="net", timeout=2 * timeout)
        sa = charon.wait_for_sa(lambda sas: sas and sas[0].get("child-sas"), timeout=timeout)[0]
        assert sa["state"] == "ESTABLISHED", sa
        assert not pings or pinger.ping(target.inner, src=pinger.inner, count=3) == 3
        if then is not None:
            then()

    return until_charon_terminates(charon, proc, up_then)


def ikelab_connected(charon: Any, proc: IkelabProcess, then: Callable[[], None]) -> str:
    """A started ``ikelab connect`` (``proc``) brings its CHILD SA up, ``then()`` acts, then charon
    terminates the IKE SA.  ikelab must exit 0; returns its output."""
    def up_then() -> None:
        proc.wait_for_output("CHILD SA installed", timeout=15)
        then()

    return until_charon_terminates(charon, proc, up_then)


def until_charon_terminates(charon: Any, proc: IkelabProcess, act: Callable[[], None]) -> str:
    """``act()``, then charon terminates the IKE SA; ``proc`` (an ikelab run) must exit 0: its output."""
    try:
        act()
        charon.terminate(ike="lab")
        status = proc.wait(15)
    finally:
        proc.close()
    out = proc.output()
    assert status == 0, out + charon.diagnostics()
    return out


def check_keys_against_charon(tables: KeyTables, charon_keys: list[dict[str, Any]]) -> int:
    """Every IKE SA and CHILD SA charon logged has ikelab rows with the same keys; returns the CHILD count.

    charon's ``spi_in`` is what ikelab sends with (ikelab's outbound row), so
    ikelab's row for that SPI must carry charon's inbound keys, and the other
    way round.
    """
    assert charon_keys, "charon logged no keys"
    children = 0
    for k in charon_keys:
        if k.get("spi_i") is not None:
            rec = tables.ike_sa(k["spi_i"], k["spi_r"])
            assert rec is not None, f"ikelab has no ikev2 row for SPIs {k['spi_i'].hex()} {k['spi_r'].hex()}"
        else:  # a rekeyed IKE SA: charon logs no AUTH octets (and so no SPIs) for it
            rec = next((r for r in tables.ike if r.sk_ei == k["sk_ei"]), None)
            assert rec is not None, "ikelab has no ikev2 row with the SK_ei charon derived for the rekeyed IKE SA"
        assert (rec.sk_ei, rec.sk_er) == (k["sk_ei"], k["sk_er"]), "SK_ei/SK_er differ from charon's"
        if k.get("sk_ai"):
            assert (rec.sk_ai, rec.sk_ar) == (k["sk_ai"], k["sk_ar"]), "SK_ai/SK_ar differ from charon's"
        for child in k["children"]:
            for spi, encr, integ in ((child["spi_in"], child["encr_in"], child["integ_in"]),
                                     (child["spi_out"], child["encr_out"], child["integ_out"])):
                row = tables.esp_sa(spi)
                assert row is not None, f"ikelab has no esp_sa row for SPI 0x{spi:08x}"
                assert row.encr_key == encr, f"ESP key of SPI 0x{spi:08x} differs from charon's"
                if integ:
                    assert row.auth_key == integ, f"ESP integrity key of SPI 0x{spi:08x} differs from charon's"
            children += 1
    return children


def tshark_decrypts(pcap: Path, keys_dir: Path) -> list[list[str]]:
    """tshark's view of ``pcap`` decrypted with ikelab's tables: (exchange, decrypted?, ESP SPI, ICMP type) rows.

    Asserts that every protected IKE message (all but IKE_SA_INIT) was
    decrypted and every ESP packet carries a decrypted inner ICMP message,
    as far as Wireshark 4.0 knows the algorithms (ikelab writes a row it
    has no name for as a comment, e.g. ESP with ChaCha20-Poly1305).
    """
    tables = read_tables(keys_dir)
    check_ike = bool(tables.ike) and all(r.wireshark_ok for r in tables.ike)
    check_esp = bool(tables.esp) and all(r.wireshark_ok for r in tables.esp)
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(keys_dir))
    fields = ["isakmp.exchangetype", "isakmp.enc.decrypted", "esp.spi", "icmp.type"]
    argv = ["tshark", "-n", "-r", str(pcap), "-o", "esp.enable_encryption_decode:TRUE",
            "-o", "esp.enable_authentication_check:TRUE", "-T", "fields", "-E", "separator=\t",
            "-E", "occurrence=f", "-Y", "isakmp || esp"]
    for f in fields:
        argv += ["-e", f]
    out = run_checked(argv, timeout=60, env=env).stdout
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    assert rows, f"tshark found no IKE or ESP in {pcap}\n{tshark_command(pcap, keys_dir)}"
    for exch, decrypted, spi, icmp in rows:
        if exch and exch != "34" and check_ike:
            assert decrypted, f"tshark did not decrypt exchange {exch}: {tshark_command(pcap, keys_dir)}"
        if spi and not exch and check_esp:
            assert icmp, f"tshark did not decrypt ESP SPI {spi}: {tshark_command(pcap, keys_dir)}"
    return rows


def read_keys(tmp: Path) -> KeyTables:
    return read_tables(tmp / "keys")


_ = read_fields  # re-exported for tests


def start_connect(ns: Namespace, peer: str, tmp: Path, **kwargs: Any) -> IkelabProcess:
    """Start ``ikelab connect PEER ...`` in ``ns`` without waiting for it (for charon-side actions meanwhile)."""
    argv = ikelab_argv("connect", tmp, **kwargs)
    argv.insert(4, peer)
    return IkelabProcess(ns, argv, tmp / "connect.out")


def ikelab_handshakes(peer: str, local: str, n: int, budget: float) -> tuple[list[float], float]:
    """In namespace A: ``n`` IKE_SA_INIT + IKE_AUTH handshakes by ikelab's driver, each deleted again.

    Returns the latencies (initiate until the CHILD SA is installed) and the
    wall time of the whole loop (DELETE included).
    """
    import asyncio
    import time

    from ikelab.config import IkeConfig
    from ikelab.events import ChildSaCreated
    from ikelab.net import NetDriver
    from ikelab.state import State

    config = IkeConfig(local_id=ID_INITIATOR, remote_id=ID_RESPONDER, psk=b"ikelab-interop-psk",
                       ike_proposals=("aes128-sha256-modp2048",), esp_proposals=("aes128-sha256",),
                       local_ts=("198.51.100.1/32",), remote_ts=("203.0.113.1/32",), cookie_threshold=None,
                       retransmit_timeout=1.0, retransmit_tries=3)

    async def run() -> tuple[list[float], float]:
        driver = await NetDriver(config, local).open()
        latencies: list[float] = []
        start = time.perf_counter()
        try:
            for _ in range(n):
                if time.perf_counter() - start > budget:
                    break
                created = sum(isinstance(e, ChildSaCreated) for e in driver.events)
                t = time.perf_counter()
                sa = driver.initiate((peer, 500))
                ok = await driver.wait_for(
                    lambda: sum(isinstance(e, ChildSaCreated) for e in driver.events) > created, 10.0)
                if not ok:
                    raise RuntimeError("ikelab handshake with charon failed")
                latencies.append(time.perf_counter() - t)
                driver.act(lambda now: sa.delete_ike(now))
                await driver.wait_for(lambda: sa.state == State.CLOSED, 10.0)
                driver.endpoint.forget_closed()
            return latencies, time.perf_counter() - start
        finally:
            driver.close()

    return asyncio.run(run())
