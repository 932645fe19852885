"""ikelab.net / ikelab.peer on loopback: ``ikelab connect`` against ``ikelab respond`` over real UDP sockets.

No namespaces or root needed: both peers run on 127.0.0.1 with high ports
(no NAT, so IKE stays on those ports).  Checked: exit statuses, the printed
packet list, failures reported on both sides, SIGINT sending DELETE, and
(with tshark) that the pcap ``--pcap`` wrote decrypts with the tables
``--keys`` wrote.  The strongSwan interop tests are in tests/interop/.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ikelab.config import IkeConfig
from ikelab.lab import Lab
from ikelab.errors import ConfigError
from ikelab.net import EXIT_AUTH, EXIT_NO_PROPOSAL, EXIT_PORT_IN_USE, EXIT_TIMEOUT, NetDriver, NetError, format_packet
from ikelab.peer import RunOptions
from ikelab.state import State
from ikelab.wireshark import read_tables

ROOT = Path(__file__).resolve().parents[1]
PSK = "loopback-test-psk"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def argv(command: str, tmp: Path, *extra: str, psk: str = PSK, name: str = "") -> list[str]:
    tmp.mkdir(parents=True, exist_ok=True)
    psk_file = tmp / f"psk{name}.txt"
    psk_file.write_text(psk + "\n")
    ids = ["--id", "alice@example.org", "--remote-id", "gw.example.com"] if command == "connect" else \
        ["--id", "gw.example.com", "--remote-id", "alice@example.org"]
    return [sys.executable, "-m", "ikelab", command, *extra, *ids, "--psk-file", str(psk_file),
            "--retransmit-timeout", "0.2", "--retransmit-tries", "2", "--wait", "10"]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    return e


class Responder:
    def __init__(self, tmp: Path, port: int, *extra: str, psk: str = PSK) -> None:
        self.path = tmp / "respond.out"
        tmp.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "wb")
        self.proc = subprocess.Popen(
            argv("respond", tmp, "--listen", "127.0.0.1", "--port", str(port), *extra, psk=psk, name="r"),
            stdout=self.fh, stderr=subprocess.STDOUT, env=env())
        deadline = time.monotonic() + 20
        while "listening on" not in self.output():
            assert self.proc.poll() is None and time.monotonic() < deadline, self.output()
            time.sleep(0.05)

    def output(self) -> str:
        return self.path.read_text(errors="replace")

    def wait(self, timeout: float = 20) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.fh.close()


def connect(tmp: Path, port: int, *extra: str, psk: str = PSK, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    cmd = argv("connect", tmp, "127.0.0.1", "--port", str(port), "--local", "127.0.0.1",
               "--local-port", str(free_port()), *extra, psk=psk, name="c")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env())


SUITE = ["--proposal", "aes128-sha256-modp2048", "--esp-proposal", "aes128-sha256"]


def test_connect_and_respond_over_loopback(tmp_path: Path) -> None:
    port = free_port()
    resp = Responder(tmp_path / "r", port, *SUITE, "--keys", str(tmp_path / "r" / "keys"))
    result = connect(tmp_path / "c", port, *SUITE, "--keys", str(tmp_path / "c" / "keys"),
                     "--pcap", str(tmp_path / "c" / "run.pcap"), "--rekey-after", "0.1", "--rekey-ike-after", "0.1")
    assert resp.wait() == 0, resp.output()
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    # the packet list, as it happened: INIT, AUTH, CREATE_CHILD_SA (CHILD and IKE rekey), INFORMATIONAL
    for info in ("IKE_SA_INIT MID=00 Initiator Request", "IKE_SA_INIT MID=00 Responder Response",
                 "IKE_AUTH MID=01 Initiator Request", "IKE_AUTH MID=01 Responder Response",
                 "CREATE_CHILD_SA MID=02 Initiator Request", "INFORMATIONAL"):
        assert info in out, out
    assert "CHILD SA rekeyed" in out and "IKE SA rekeyed" in out and "sending DELETE" in out
    assert "deleted by peer" in resp.output()
    # both peers exported the same IKE SAs (original and rekeyed) and mirror-image ESP rows
    mine, theirs = read_tables(tmp_path / "c" / "keys"), read_tables(tmp_path / "r" / "keys")
    assert len(mine.ike) == 2 and set(mine.ike) == set(theirs.ike)
    assert len(mine.esp) == 4
    for row in mine.esp:
        peer = theirs.esp_sa(row.spi)
        assert peer is not None and (peer.encr_key, peer.auth_key) == (row.encr_key, row.auth_key)


def test_pcap_decrypts_in_tshark(tmp_path: Path) -> None:
    """tshark (an independent IKEv2 implementation) decrypts every protected message of the --pcap with --keys."""
    from tshark_util import require_tshark

    tshark = require_tshark()
    port = free_port()
    resp = Responder(tmp_path / "r", port, *SUITE)
    result = connect(tmp_path / "c", port, *SUITE, "--keys", str(tmp_path / "keys"), "--pcap", str(tmp_path / "run.pcap"),
                     "--rekey-after", "0.1")
    assert result.returncode == 0 and resp.wait() == 0, result.stdout
    cmd = [tshark, "-n", "-r", str(tmp_path / "run.pcap"), "-d", f"udp.port=={port},isakmp", "-T", "fields",
           "-E", "separator=,", "-E", "occurrence=f", "-e", "isakmp.exchangetype", "-e", "isakmp.enc.decrypted"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, WIRESHARK_CONFIG_DIR=str(tmp_path / "keys"))).stdout
    rows = [line.split(",") for line in out.splitlines() if line.strip()]
    assert [r[0] for r in rows] == ["34", "34", "35", "35", "36", "36", "37", "37", "37", "37"], out
    assert all(r[1] for r in rows if r[0] != "34"), out  # every protected message decrypted


def test_peer_that_does_not_answer(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    result = connect(tmp_path, port, *SUITE)
    assert result.returncode == EXIT_TIMEOUT, result.stdout
    assert "retransmission 1 of IKE_SA_INIT" in result.stdout and "retransmission 2 of IKE_SA_INIT" in result.stdout
    assert "no response to IKE_SA_INIT" in result.stdout


def test_port_already_in_use(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        result = subprocess.run(argv("respond", tmp_path, "--listen", "127.0.0.1", "--port", str(port)),
                                capture_output=True, text=True, timeout=30, env=env())
    assert result.returncode == EXIT_PORT_IN_USE
    assert f"UDP port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_psk_is_reported_by_both(tmp_path: Path) -> None:
    port = free_port()
    resp = Responder(tmp_path / "r", port, *SUITE, "--wait", "3", psk="the-right-one")
    result = connect(tmp_path / "c", port, *SUITE, psk="a-wrong-one")
    assert result.returncode == EXIT_AUTH, result.stdout
    assert "AUTHENTICATION_FAILED" in result.stdout
    assert resp.wait() == EXIT_AUTH, resp.output()
    assert "AUTHENTICATION_FAILED" in resp.output()


def test_no_common_proposal(tmp_path: Path) -> None:
    port = free_port()
    resp = Responder(tmp_path / "r", port, "--proposal", "aes256-sha384-modp3072", "--wait", "3")
    result = connect(tmp_path / "c", port, *SUITE)
    assert result.returncode == EXIT_NO_PROPOSAL, result.stdout
    assert "NO_PROPOSAL_CHOSEN" in result.stdout
    assert resp.wait() == EXIT_NO_PROPOSAL, resp.output()


def test_a_wrong_dh_guess_is_retried_not_fatal(tmp_path: Path) -> None:
    """The initiator's KE is for ECP-256, the responder wants MODP-2048: INVALID_KE_PAYLOAD, then a second
    IKE_SA_INIT (RFC 7296 1.2).  The refusal must not end ``ikelab respond``."""
    port = free_port()
    resp = Responder(tmp_path / "r", port, "--proposal", "aes128-sha256-modp2048", "--esp-proposal", "aes128-sha256")
    result = connect(tmp_path / "c", port, "--proposal", "aes128-sha256-ecp256-modp2048", "--esp-proposal",
                     "aes128-sha256")
    assert result.returncode == 0, result.stdout + resp.output()
    assert result.stdout.count("IKE_SA_INIT MID=00 Initiator Request") == 2, result.stdout
    assert resp.wait() == 0, resp.output()
    out = resp.output()
    assert "FAILURE INVALID_KE_PAYLOAD: KEi is for group 19, we chose MODP_2048" in out, out
    assert "OK: IKE SA and CHILD SA established" in out, out


def test_responder_names_the_refusal_when_no_retry_comes(tmp_path: Path) -> None:
    """One IKE_SA_INIT with a KE for the wrong group and no retry: ``ikelab respond`` times out and says why."""
    from ikelab import exchanges_wire as wirefmt
    from ikelab.constants import NotifyType
    from ikelab.endpoint import IkeEndpoint
    from ikelab.rand import DeterministicRandom

    port = free_port()
    resp = Responder(tmp_path / "r", port, "--proposal", "aes128-sha256-modp2048", "--wait", "2")
    config = IkeConfig(local_id="alice@example.org", remote_id="gw.example.com", psk=PSK.encode(),
                       ike_proposals=("aes128-sha256-ecp256-modp2048",), esp_proposals=("aes128-sha256",))
    initiator = IkeEndpoint(config, DeterministicRandom(7), "127.0.0.1", port=free_port())
    initiator.initiate(("127.0.0.1", port), 0.0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        sock.sendto(initiator.pop_datagrams()[0].payload, ("127.0.0.1", port))
        answer, _ = sock.recvfrom(2048)
    # the answer: HDR, N(INVALID_KE_PAYLOAD) naming group 14 (RFC 7296 3.10.1)
    assert wirefmt.notify_data(wirefmt.decode(answer), NotifyType.INVALID_KE_PAYLOAD) == (14).to_bytes(2, "big")
    assert resp.wait() == EXIT_TIMEOUT, resp.output()
    assert "(last refused: INVALID_KE_PAYLOAD: KEi is for group 19, we chose MODP_2048)" in resp.output()


def test_unacceptable_traffic_selectors_end_with_a_delete(tmp_path: Path) -> None:
    """TS_UNACCEPTABLE in IKE_AUTH (RFC 7296 2.9): both exit 5, and the unused IKE SA is deleted, not left behind."""
    port = free_port()
    resp = Responder(tmp_path / "r", port, *SUITE, "--wait", "3", "--ts", "127.0.0.1/32", "192.0.2.0/24")
    result = connect(tmp_path / "c", port, *SUITE, "--ts", "127.0.0.1/32", "198.51.100.0/24")
    assert result.returncode == EXIT_NO_PROPOSAL, result.stdout
    assert resp.wait() == EXIT_NO_PROPOSAL, resp.output()
    outs = (result.stdout, resp.output())
    # which side's DELETE goes out first depends on timing; one is enough
    assert any("sending DELETE for the IKE SA" in out for out in outs), outs
    for out in outs:  # whichever DELETE went first, both saw the INFORMATIONAL exchange and lost the IKE SA
        assert "FAILURE TS_UNACCEPTABLE" in out and "INFORMATIONAL MID=" in out and "IKE SA deleted" in out, out
        assert "FAILED: " in out and "TS_UNACCEPTABLE" in out.split("FAILED: ")[-1], out
        assert "Traceback" not in out


def test_respond_can_demand_cookies(tmp_path: Path) -> None:
    """``ikelab respond --cookie-threshold 0``: every first IKE_SA_INIT gets N(COOKIE) (RFC 7296 2.6); the
    initiator repeats it with the cookie and the handshake completes."""
    port = free_port()
    resp = Responder(tmp_path / "r", port, *SUITE, "--cookie-threshold", "0")
    result = connect(tmp_path / "c", port, *SUITE)
    assert result.returncode == 0, result.stdout + resp.output()
    assert result.stdout.count("IKE_SA_INIT MID=00 Initiator Request") == 2, result.stdout
    assert resp.wait() == 0, resp.output()


def test_respond_interrupted_while_waiting_says_so(tmp_path: Path) -> None:
    """SIGINT before any initiator came: ``ikelab respond`` ends at once with status 1 and says it was
    interrupted (it used to report a timeout)."""
    resp = Responder(tmp_path / "r", free_port(), *SUITE, "--wait", "60")
    resp.proc.send_signal(signal.SIGINT)
    assert resp.wait(15) == 1, resp.output()
    assert "FAILED: interrupted before an initiator brought up the IKE SA (exit status 1)" in resp.output()
    assert "Traceback" not in resp.output()


def test_sigint_sends_delete(tmp_path: Path) -> None:
    port = free_port()
    resp = Responder(tmp_path / "r", port, *SUITE)
    out_path = tmp_path / "connect.out"
    with open(out_path, "wb") as fh:
        proc = subprocess.Popen(argv("connect", tmp_path, "127.0.0.1", "--port", str(port), "--local", "127.0.0.1",
                                     "--local-port", str(free_port()), *SUITE, "--duration", "60"),
                                stdout=fh, stderr=subprocess.STDOUT, env=env())
        try:
            deadline = time.monotonic() + 20
            while "CHILD SA installed" not in out_path.read_text():
                assert proc.poll() is None and time.monotonic() < deadline, out_path.read_text()
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    out = out_path.read_text()
    assert "sending DELETE" in out and "INFORMATIONAL MID=02 Responder Response" in out, out
    assert "Traceback" not in out
    assert resp.wait() == 0 and "deleted by peer" in resp.output()


def test_driver_in_process_liveness() -> None:
    """Two NetDrivers in one event loop: liveness checks (RFC 7296 1.4) answered over real sockets."""

    async def run() -> tuple[list, list]:
        cfg = dict(psk=b"in-process", ike_proposals=("aes128-sha256-modp2048",), esp_proposals=("aes128-sha256",),
                   retransmit_timeout=0.5, retransmit_tries=2)
        port = free_port()
        resp = NetDriver(IkeConfig(local_id="gw.example.com", **cfg), "127.0.0.1", port=port)
        init = NetDriver(IkeConfig(local_id="alice@example.org", dpd_interval=0.2, **cfg), "127.0.0.1",
                         port=free_port())
        await resp.open()
        await init.open()
        try:
            init.initiate(("127.0.0.1", port))
            outcome = await init.wait_established(5)
            assert outcome.ok, outcome
            from ikelab.events import LivenessChecked

            await init.wait_for(lambda: sum(isinstance(e, LivenessChecked) for e in init.events) >= 2, 5)
            return init.events, resp.events
        finally:
            init.close()
            resp.close()

    from ikelab.events import LivenessChecked

    init_events, _ = asyncio.run(run())
    checks = [e for e in init_events if isinstance(e, LivenessChecked)]
    assert len(checks) >= 2 and all(c.alive for c in checks)


def test_a_delete_during_an_ike_sa_rekey_over_real_sockets_ends_every_ike_sa() -> None:
    """What Ctrl-C does while an IKE SA rekey is on its way (peer.py's ``finish``): the DELETE waits for the rekey
    (RFC 7296 2.3, window size 1), then closes the new IKE SA as well (``IkeSa.successor``), and the run ends only
    when both are closed, so that neither end keeps one."""
    from ikelab.peer import _Run

    async def run() -> tuple[Any, NetDriver, list[str]]:
        cfg = dict(psk=b"in-process", ike_proposals=("aes128-sha256-x25519",), esp_proposals=("aes128gcm16",),
                   retransmit_timeout=0.5, retransmit_tries=2)
        port = free_port()
        resp = NetDriver(IkeConfig(local_id="gw.example.com", **cfg), "127.0.0.1", port=port)
        lines: list[str] = []
        moon = _Run(IkeConfig(local_id="alice@example.org", **cfg), "127.0.0.1", free_port(), RunOptions(),
                    out=lines.append)
        init = moon.driver
        await resp.open()
        await init.open()
        try:
            init.initiate(("127.0.0.1", port))
            outcome = await init.wait_established(5)
            assert outcome.ok
            sa = init.current_sa()
            init.act(lambda now: sa.rekey_ike(now))
            await moon.finish(outcome, delete=True)  # its DELETE is queued behind the rekey
            await resp.wait_for(lambda: resp.current_sa() is None, 5)
            return sa, resp, lines
        finally:
            init.close()
            resp.close()

    sa, resp, lines = asyncio.run(run())
    assert "sending DELETE for the IKE SA" in lines
    assert sa.successor is not sa, "the rekey was done first"
    assert sa.state == sa.successor.state == State.CLOSED, "finish() returned before the new IKE SA was closed"
    assert resp.current_sa() is None and all(s.state == State.CLOSED for s in resp.all_sas())


def test_keepalives_only_behind_a_nat_and_only_when_idle() -> None:
    """RFC 3948 2.3 and 4: the host behind a NAT sends 0xFF to the peer's port 4500 after an idle interval.

    Two drivers on loopback, on ports of their own instead of 500 and 4500: the initiator is told by hand
    that it is behind a NAT (a real NAT is in tests/interop/test_ikelab_nat.py); the responder is not.
    """

    async def run() -> tuple[NetDriver, NetDriver, list[float]]:
        cfg = dict(psk=b"in-process", ike_proposals=("aes128-sha256-modp2048",), esp_proposals=("aes128-sha256",),
                   retransmit_timeout=0.5, retransmit_tries=2)
        port = free_port()
        resp = NetDriver(IkeConfig(local_id="gw.example.com", **cfg), "127.0.0.1", port=port, keepalive_interval=0.1)
        init = NetDriver(IkeConfig(local_id="alice@example.org", **cfg), "127.0.0.1", port=free_port(),
                         keepalive_interval=0.1)
        await resp.open()
        await init.open()
        try:
            init.initiate(("127.0.0.1", port))
            assert (await init.wait_established(5)).ok
            await asyncio.sleep(0.35)
            assert not [p for p in init.trace if p.kind == "keepalive"]  # no NAT found: none
            sa = init.current_sa()
            sa.nat_local = True  # as if behind a NAT
            init.act(lambda now: None)  # the driver looks at its SA again (as after any engine step)
            await asyncio.sleep(0.35)
            init.send_esp(b"\x00\x00\x00\x01" + bytes(20), init.port, ("127.0.0.1", port))  # traffic resets the wait
            sent_esp = init.now()
            await asyncio.sleep(0.35)
            return init, resp, [sent_esp]
        finally:
            init.close()
            resp.close()

    init, resp, (sent_esp,) = asyncio.run(run())
    keepalives = [p for p in init.trace if p.kind == "keepalive"]
    assert len(keepalives) >= 2 and all(p.payload == b"\xff" and (p.sport, p.dport) == (init.port, resp.port)
                                        for p in keepalives)
    sent = [p for p in init.trace if p.sport == init.port]
    for before, p in zip(sent, sent[1:]):
        if p.kind == "keepalive":  # only after 0.1 s in which nothing else left the port
            assert p.time - before.time >= 0.099, (before, p)
    assert not any(sent_esp < p.time < sent_esp + 0.099 for p in keepalives)  # the ESP packet reset the wait
    assert not [p for p in resp.trace if p.kind == "keepalive"]
    assert format_packet(1, keepalives[0]).endswith("UDPENCAP " + f"{init.port}->{resp.port}".ljust(10) + "    29  NAT-keepalive")
    with pytest.raises(ConfigError, match="keepalive_interval must be positive"):
        NetDriver(IkeConfig(local_id="x.example", **{"psk": b"x"}), "127.0.0.1", keepalive_interval=0)


def test_a_half_open_timeout_is_a_timeout_and_names_the_last_drop() -> None:
    """The initiator's IKE_AUTH never arrived usable: exit status 3, and the last drop says why."""
    from ikelab import events as ev
    from ikelab.net import EXIT_TIMEOUT, RunFacts, classify_failure, dropped_text

    failure = ev.Failure(9.0, "responder", None, "half-open IKE SA timed out waiting for IKE_AUTH", fatal=True)
    assert classify_failure(failure) == EXIT_TIMEOUT
    dropped = ev.MessageDropped(1.0, "responder", "an IKE fragment (SKF, RFC 7383), but IKE fragmentation was not "
                                "negotiated", 292)
    facts = RunFacts()
    for event in (dropped, failure):
        facts.add(event)
    assert dropped_text(facts.last_drop) == f" (last message dropped: {dropped.reason})"
    assert dropped_text(None) == ""


def test_net_error_is_typed() -> None:
    async def run() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
            busy.bind(("127.0.0.1", 0))
            d = NetDriver(IkeConfig(psk=b"x" * 16), "127.0.0.1", port=busy.getsockname()[1])
            await d.open()

    with pytest.raises(NetError) as info:
        asyncio.run(run())
    assert info.value.exit_code == EXIT_PORT_IN_USE and info.value.field == "port"


@pytest.mark.parametrize("extra,message", [
    ([], "give --psk-file FILE, or --cert FILE --key FILE --ca FILE"),
    (["--psk-file", "/nonexistent/psk"], "cannot read psk file '/nonexistent/psk'"),
    (["--psk-file", __file__, "--proposal", "bogus-sha256"], "unknown algorithm keyword 'bogus'"),
    (["--psk-file", __file__, "--keepalive", "-1"], "--keepalive -1.0: give seconds, or 0 for no NAT-keepalives"),
    (["--psk-file", __file__, "--keepalive", "nan"], "--keepalive nan: give seconds"),
    (["--cert", __file__, "--key", __file__, "--ca", __file__], f"--cert {__file__}: not an X.509 certificate"),
    # each of these once went on with a value that could not work, or ended in a traceback
    (["--psk-file", __file__, "--cert", __file__], "give --psk-file, or --cert with --key and --ca, not both"),
    (["--psk-file", __file__, "--wait", "-1"], "wait (--wait) = -1.0: give seconds > 0 or inf"),
    (["--psk-file", __file__, "--duration", "nan"], "duration (--duration) = nan: give seconds >= 0 or inf"),
    (["--psk-file", __file__, "--rekey-after", "-3"], "rekey_after (--rekey-after) = -3.0: give seconds >= 0"),
    (["--psk-file", __file__, "--ping-count", "0"],
     "ping_count (--ping-count) = 0: give a number of echoes from 1 to 1000"),
    (["--psk-file", __file__, "--ping-count", "1001"],
     "ping_count (--ping-count) = 1001: give a number of echoes from 1 to 1000"),
    (["--psk-file", __file__, "--ping", "10.0.0.300"], "ping (--ping) = '10.0.0.300' is not an IP address"),
    (["--psk-file", __file__, "--port", "70000"], "peer port must be in 1..65535, got 70000"),
    (["--psk-file", __file__, "--local-port", "0"], "local port must be in 1..65535, got 0"),
    # as --pcap: a keys directory is made at the end of the run, but not a chain of folders (it once made /nonexistent)
    (["--psk-file", __file__, "--keys", "/nonexistent/dir/keys"],
     "--keys /nonexistent/dir/keys: no such writable folder to make it in"),
    # IKE would move to port 4500, bound only beside 500: the run once went on and timed out in IKE_AUTH
    (["--psk-file", __file__, "--local-port", "5631", "--encap", "always"],
     "--encap always needs our IKE port to be 500, not 5631"),
])
def test_bad_options_exit_2_with_a_message(extra: list[str], message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "ikelab", "connect", "127.0.0.1", "--id", "alice@example.org",
                             *extra], capture_output=True, text=True, timeout=30, env=env())
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_version() -> None:
    result = subprocess.run([sys.executable, "-m", "ikelab", "--version"], capture_output=True, text=True, timeout=30,
                            env=env())
    from ikelab import __version__

    assert result.returncode == 0 and result.stdout == f"ikelab {__version__}\n"


def test_run_options_are_checked_before_a_run_starts() -> None:
    """Library callers get the same typed errors as the command line, before any socket opens."""
    assert RunOptions(duration=float("inf"), wait=float("inf"), keepalive=None, ping="2001:db8::1").ping_count == 3
    for bad in (dict(wait=0), dict(duration=-1), dict(keepalive=0.0), dict(rekey_ike_after=float("nan")),
                dict(ping_count=True), dict(ping_src="host.example"), dict(duration="10")):
        with pytest.raises(ConfigError) as info:
            RunOptions(**bad)  # type: ignore[arg-type]
        assert info.value.field == next(iter(bad))


def test_a_negative_cookie_threshold_is_refused() -> None:
    result = subprocess.run([sys.executable, "-m", "ikelab", "respond", "--listen", "127.0.0.1", "--id",
                             "gw.example.com", "--psk-file", __file__, "--cookie-threshold", "-1"],
                            capture_output=True, text=True, timeout=30, env=env())
    assert result.returncode == 2
    assert "--cookie-threshold -1: give a number of half-open IKE SAs, 0 for always, or never" in result.stderr
    assert "Traceback" not in result.stderr


def test_ikelab_respond_demands_cookies_as_ike_config_does_unless_told() -> None:
    """RFC 7296 2.6: a responder on a network asks for cookies once many IKE SAs are half open.  ``ikelab
    respond`` used to default to never, against IkeConfig's 30; ``never`` still turns them off."""
    from ikelab.cli import _live_config, build_parser

    respond = ["respond", "--listen", "192.0.2.2", "--id", "gw.example.com", "--psk-file", __file__]
    parser = build_parser()
    threshold = {given: _live_config(parser.parse_args([*respond, *given])).cookie_threshold
                 for given in ((), ("--cookie-threshold", "0"), ("--cookie-threshold", "5"),
                               ("--cookie-threshold", "never"))}
    assert list(threshold.values()) == [IkeConfig(psk=b"x").cookie_threshold, 0, 5, None] == [30, 0, 5, None]
    connect = ["connect", "192.0.2.2", "--id", "alice@example.org", "--psk-file", __file__]
    assert _live_config(parser.parse_args(connect)).cookie_threshold is None  # an initiator asks for none
    with pytest.raises(ConfigError, match="--cookie-threshold often: give a number"):
        _live_config(parser.parse_args([*respond, "--cookie-threshold", "often"]))


def _lab_after_a_child_rekey(**settings: object) -> Lab:
    """Two lab peers with a CHILD SA that the initiator has rekeyed (their events feed an EspPeer)."""
    base = dict(psk=b"a shared secret", ike_proposals=("aes128-sha256-x25519",), esp_proposals=("aes128gcm16",),
                **settings)
    lab = Lab(IkeConfig(local_id="moon.example", remote_id="sun.example", **base),
              IkeConfig(local_id="sun.example", remote_id="moon.example", **base), seed=4)
    lab.initiate()
    lab.run_until_idle()
    lab.rekey_child("initiator")
    lab.run_until_idle()
    return lab


def _esp_peer(lab: Lab, clock: list[float]) -> Any:
    """An EspPeer on a stand-in driver whose clock reads ``clock[0]``, told every event of the lab's initiator."""
    from types import SimpleNamespace

    from ikelab.esp_peer import EspPeer

    driver = SimpleNamespace(now=lambda: clock[0], esp_handler=None)
    peer = EspPeer(driver, out=lambda text: None)  # type: ignore[arg-type]
    for event in lab.events("initiator"):
        peer.on_event(event)
    return peer


def test_a_rekeyed_inbound_sa_accepts_packets_for_a_grace_period() -> None:
    """After a CHILD SA rekey and the old SA's DELETE, the peer's late packets on the old SPI still arrive.

    strongSwan replied to a ping on the old SA after acknowledging its DELETE (its kernel switches SAs a
    moment later), and ikelab, which had dropped the SA at once, reported 'ESP with unknown SPI'.
    """

    from ikelab import events as ev
    from ikelab.esp import EspSa
    from ikelab.packet import icmp_echo
    from ikelab.esp_peer import ECHO_IDENT, REKEYED_INBOUND_GRACE

    lab = _lab_after_a_child_rekey()
    clock = [0.0]
    peer = _esp_peer(lab, clock)
    old, new = [e for e in lab.events("responder", ev.ChildSaCreated)]
    assert new.rekey_of is not None and old.spi_out not in peer.inbound and new.spi_out in peer.inbound

    def reply_on_old_sa(seq: int) -> bytes:  # what the responder's old outbound SA sends
        sa = EspSa(old.spi_out, direction="outbound", encryption=old.encr, key_bits=old.encr_key_bits,
                   encryption_key=old.encr_key_out, tunnel=(old.local_addr, old.remote_addr), initial_seq=seq)
        return sa.encapsulate(icmp_echo("192.0.2.2", "192.0.2.1", ECHO_IDENT, seq, b"", True), 4)

    deleted = next(e for e in lab.events("initiator", ev.ChildSaDeleted) if e.spi_in == old.spi_out)
    clock[0] = deleted.time + REKEYED_INBOUND_GRACE - 0.1
    peer.received(reply_on_old_sa(101), ("192.0.2.2", 4500), ("192.0.2.1", 4500))
    assert peer.replies == [101] and peer.errors == []
    clock[0] = deleted.time + REKEYED_INBOUND_GRACE + 0.1
    peer.received(reply_on_old_sa(102), ("192.0.2.2", 4500), ("192.0.2.1", 4500))
    assert peer.replies == [101] and peer.errors == [f"ESP with unknown SPI 0x{old.spi_out.hex()}"]


def test_the_grace_period_includes_its_last_instant_and_a_late_packet_lets_the_sa_go() -> None:
    """A packet at exactly the DELETE time + REKEYED_INBOUND_GRACE is still taken; one after it is refused, and
    the retired SA goes with its selectors at once rather than waiting for the next CHILD SA event."""

    from ikelab import events as ev
    from ikelab.esp import EspSa
    from ikelab.packet import icmp_echo
    from ikelab.esp_peer import ECHO_IDENT, REKEYED_INBOUND_GRACE

    lab = _lab_after_a_child_rekey()
    clock = [0.0]
    peer = _esp_peer(lab, clock)
    old, _ = lab.events("responder", ev.ChildSaCreated)
    sa = EspSa(old.spi_out, direction="outbound", encryption=old.encr, key_bits=old.encr_key_bits,
               encryption_key=old.encr_key_out, tunnel=(old.local_addr, old.remote_addr))

    def reply(seq: int, ident: int = ECHO_IDENT) -> bytes:
        return sa.encapsulate(icmp_echo("192.0.2.2", "192.0.2.1", ident, seq, b"", True), 4)

    deleted = next(e for e in lab.events("initiator", ev.ChildSaDeleted) if e.spi_in == old.spi_out)
    clock[0] = deleted.time + REKEYED_INBOUND_GRACE
    peer.received(reply(1), ("192.0.2.2", 4500), ("192.0.2.1", 4500))
    peer.received(reply(7, ECHO_IDENT ^ 1), ("192.0.2.2", 4500), ("192.0.2.1", 4500))  # not one of our pings
    assert peer.replies == [1] and peer.errors == []
    clock[0] += 0.001
    peer.received(reply(2), ("192.0.2.2", 4500), ("192.0.2.1", 4500))
    assert peer.replies == [1] and old.spi_out not in peer.retired and old.spi_out not in peer.selectors



def test_a_child_sa_event_just_after_the_grace_period_lets_the_retired_sa_go() -> None:
    """The retired SA is kept up to DELETE + REKEYED_INBOUND_GRACE, not a moment longer."""
    from dataclasses import replace

    from ikelab import events as ev
    from ikelab.esp_peer import REKEYED_INBOUND_GRACE

    lab = _lab_after_a_child_rekey()
    peer = _esp_peer(lab, [0.0])
    deleted = lab.events("initiator", ev.ChildSaDeleted)[-1]
    assert list(peer.retired) == [deleted.spi_in]
    assert set(peer.destinations) == {o[0] for o in peer.outbound}  # the deleted SA's destination went with it
    unrelated = replace(deleted, spi_in=b"\x00\x00\x10\x01", spi_out=b"\x00\x00\x10\x02")
    peer.on_event(replace(unrelated, time=deleted.time + REKEYED_INBOUND_GRACE))
    assert list(peer.retired) == [deleted.spi_in]
    peer.on_event(replace(unrelated, time=deleted.time + REKEYED_INBOUND_GRACE + 0.5))
    assert peer.retired == {} and deleted.spi_in not in peer.selectors


def test_a_peer_that_moves_takes_only_its_own_esp_destinations_along() -> None:
    """RFC 7296 2.23: after a NAT rebinding ESP follows that peer; a CHILD SA with another peer keeps its address."""
    from dataclasses import replace
    from types import SimpleNamespace

    from ikelab import events as ev
    from ikelab.esp_peer import EspPeer

    lab = _lab_after_a_child_rekey(encapsulation="always")
    driver = SimpleNamespace(now=lambda: 0.0, esp_handler=None)
    peer = EspPeer(driver, out=lambda text: None)  # type: ignore[arg-type]
    created = lab.events("initiator", ev.ChildSaCreated)[-1]
    peer.on_event(created)
    other = replace(created, spi_in=b"\x00\x00\x10\x01", spi_out=b"\x00\x00\x10\x02", remote_addr="198.51.100.9",
                    rekey_of=None)
    peer.on_event(other)
    here = (created.remote_addr, created.remote_port)
    peer.on_event(ev.PeerMoved(1.0, "initiator", lab.initiator.spi_i, lab.initiator.spi_r, here,
                                ("203.0.113.5", 4500)))
    assert peer.destinations[created.spi_out] == ("203.0.113.5", 4500)
    assert peer.destinations[other.spi_out] == ("198.51.100.9", created.remote_port)


def test_rekeyed_inbound_sas_are_let_go_once_their_grace_period_is_over() -> None:
    """A long ``ikelab respond`` with steady CHILD SA rekeys once kept every rekeyed inbound SA (and its
    selectors) for good: only a late packet on its SPI made it go.  Each now goes at the first CHILD SA event
    after its REKEYED_INBOUND_GRACE; and the ESP error list keeps only the latest RECENT entries."""
    from types import SimpleNamespace

    from ikelab import events as ev
    from ikelab.net import RECENT
    from ikelab.esp_peer import REKEYED_INBOUND_GRACE, EspPeer

    lab = _lab_after_a_child_rekey()
    for _ in range(12):
        lab.run(lab.now + 2 * REKEYED_INBOUND_GRACE)
        lab.rekey_child("initiator")
        lab.run_until_idle()
    clock = [lab.now]
    peer = EspPeer(SimpleNamespace(now=lambda: clock[0], esp_handler=None), out=lambda text: None)  # type: ignore[arg-type]
    for event in lab.events("initiator"):
        peer.on_event(event)
    assert len(lab.events("initiator", ev.ChildSaRekeyed)) == 13
    last_deleted = lab.events("initiator", ev.ChildSaDeleted)[-1]
    assert list(peer.retired) == [last_deleted.spi_in]  # the one still in its grace period
    assert set(peer.selectors) == set(peer.inbound) | set(peer.retired) and len(peer.inbound) == 1
    for n in range(RECENT + 10):  # a peer that keeps sending on an SPI we never had
        peer.received(n.to_bytes(4, "big") + bytes(40), ("192.0.2.2", 4500), ("192.0.2.1", 4500))
    assert len(peer.errors) == RECENT and peer.errors[-1] == f"ESP with unknown SPI 0x{RECENT + 9:08x}"


def test_the_rekey_responder_keeps_the_old_outbound_sa_until_the_delete() -> None:
    """RFC 7296 2.8: the side that answered a CHILD SA rekey sends on the old SA until the initiator deletes it.

    Its response may be lost (tests/interop/test_ikelab_retransmit.py loses one on purpose), and then the
    initiator, which retransmits, has no new inbound SA yet: a packet on the new SA would be dropped.  The
    side that asked for the rekey holds the new SA as soon as it reads the response, and moves at once.
    """
    from types import SimpleNamespace

    from ikelab import events as ev
    from ikelab.esp_peer import EspPeer

    lab = _lab_after_a_child_rekey(encapsulation="always")  # ESP in UDP, as the live peer sends it
    peers = {}
    for side in ("initiator", "responder"):
        sent: list[bytes] = []
        driver = SimpleNamespace(now=lambda: 0.0, esp_handler=None,
                                 send_esp=lambda esp, port, dst, sent=sent: sent.append(esp[:4]))
        peer = EspPeer(driver, out=lambda text: None)  # type: ignore[arg-type]
        peers[side] = (peer, sent, lab.events(side))
    from ikelab.packet import icmp_echo

    for side, (peer, sent, events) in peers.items():
        old, new = lab.events(side, ev.ChildSaCreated)
        ping = icmp_echo(old.local_addr, old.remote_addr, 1, 1, b"")
        assert new.rekey_of == old.spi_in and new.exchange_initiator == (side == "initiator")
        deleted = next(i for i, e in enumerate(events) if isinstance(e, ev.ChildSaDeleted) and e.spi_in == old.spi_in)
        for event in events[:deleted]:  # up to the DELETE of the old CHILD SA
            peer.on_event(event)
        peer.send_inner(ping)
        for event in events[deleted:]:
            peer.on_event(event)
        peer.send_inner(ping)
        expected_first = new.spi_out if side == "initiator" else old.spi_out
        assert sent == [expected_first, new.spi_out], side



def test_each_packet_leaves_on_the_child_sa_whose_selectors_cover_it() -> None:
    """RFC 4301 5.1 and 5.2 in the live peer's userspace ESP, with two CHILD SAs: one for all traffic between
    the hosts, a newer one for TCP to port 80 only (charon's second CHILD SA in
    tests/interop/test_ikelab_selectors.py).  ikelab used to send everything on the newest SA, so charon
    dropped its ICMP echo replies 'due to policy'."""
    import dataclasses
    import struct
    from types import SimpleNamespace

    from ikelab import events as ev
    from ikelab.esp import EspSa
    from ikelab.packet import icmp_echo, ip_packet, ip_udp
    from ikelab.esp_peer import EspPeer

    lab = _lab_after_a_child_rekey(encapsulation="always")
    first = lab.events("initiator", ev.ChildSaCreated)[-1]
    web = dataclasses.replace(first, spi_in=b"\x0a\x0a\x0a\x0a", spi_out=b"\x0b\x0b\x0b\x0b", rekey_of=None,
                              ts_local=(f"{first.local_addr}/32[6]",), ts_remote=(f"{first.remote_addr}/32[6/80]",))
    sent: list[bytes] = []
    driver = SimpleNamespace(now=lambda: 0.0, esp_handler=None, send_esp=lambda esp, port, dst: sent.append(esp[:4]))
    peer = EspPeer(driver, out=lambda text: None)  # type: ignore[arg-type]
    peer.on_event(first)
    peer.on_event(web)
    me, them = first.local_addr, first.remote_addr

    def tcp(dport: int) -> bytes:
        return ip_packet(me, them, 6, struct.pack("!HHIIBBHHH", 40000, dport, 0, 0, 0x50, 0x02, 65535, 0, 0))

    assert peer.send_inner(icmp_echo(me, them, 1, 1, b"")) and sent[-1] == first.spi_out
    assert peer.send_inner(tcp(80)) and sent[-1] == web.spi_out
    assert peer.send_inner(tcp(443)) and sent[-1] == first.spi_out
    assert peer.send_inner(ip_udp(me, them, 5353, 53, b"")) and sent[-1] == first.spi_out
    assert not peer.send_inner(icmp_echo(me, "192.0.2.99", 1, 1, b"")) and len(sent) == 4
    assert peer.errors == ["no CHILD SA covers 192.0.2.1 -> 192.0.2.99 protocol 1 type 8 code 0: not sent"]

    # inbound (RFC 4301 5.2): an ICMP echo request arriving on the TCP-only SA is dropped, not answered
    sa = EspSa(web.spi_in, direction="outbound", encryption=web.encr, key_bits=web.encr_key_bits,
               encryption_key=web.encr_key_in, tunnel=(them, me))
    peer.received(sa.encapsulate(icmp_echo(them, me, 7, 1, b""), 4), (them, 4500), (me, 4500))
    assert peer.requests_answered == 0 and len(sent) == 4
    assert peer.errors[-1].endswith("is outside the CHILD SA's traffic selectors"), peer.errors


def _transport_lab(ts: tuple[str, str] | None = None) -> Lab:
    """Two lab peers, 192.0.2.1 and 192.0.2.2, with a transport-mode CHILD SA (RFC 7296 1.3.1) and ESP in UDP,
    as the live peer sends it; ``ts`` gives the initiator's (local, remote) selectors, mirrored for the responder."""
    base = dict(psk=b"a shared secret", ike_proposals=("aes128-sha256-x25519",), esp_proposals=("aes128gcm16",),
                mode="transport", encapsulation="always")
    mine, theirs = (dict(local_ts=(ts[0],), remote_ts=(ts[1],)), dict(local_ts=(ts[1],), remote_ts=(ts[0],))) \
        if ts else ({}, {})
    lab = Lab(IkeConfig(local_id="moon.example", remote_id="sun.example", **base, **mine),
              IkeConfig(local_id="sun.example", remote_id="moon.example", **base, **theirs), seed=4)
    lab.initiate()
    lab.run_until_idle()
    return lab


def _wired_esp_peers(lab: Lab) -> dict[str, tuple[Any, list[bytes]]]:
    """An EspPeer per lab side, fed with that side's events: what one sends reaches the other's ``received`` at
    once, from the sender's address (the UDP datagram's, RFC 3948), and is kept in the sender's list."""
    from types import SimpleNamespace

    from ikelab.esp_peer import EspPeer

    peers: dict[str, tuple[Any, list[bytes]]] = {}
    for side, other in (("initiator", "responder"), ("responder", "initiator")):
        wire: list[bytes] = []

        def send(esp: bytes, port: int, dst: tuple[str, int], side: str = side, other: str = other,
                 wire: list[bytes] = wire) -> None:
            wire.append(esp)
            peers[other][0].received(esp, (lab.addresses[side], port), dst)

        peer = EspPeer(SimpleNamespace(now=lambda: 0.0, esp_handler=None, send_esp=send),  # type: ignore[arg-type]
                       out=lambda text: None)
        for event in lab.events(side):
            peer.on_event(event)
        peers[side] = (peer, wire)
    return peers


def test_a_transport_mode_child_sa_carries_echoes_between_the_ike_hosts() -> None:
    """``--mode transport``: ESP protects the ICMP message alone, next header 1 (RFC 4303 3.1.1), and the
    receiver rebuilds the IP packet from the UDP datagram's addresses.  ikelab's userspace ESP once sent every
    packet whole with next header 4, as in tunnel mode, and read what it received as an IP packet."""
    from ikelab import events as ev
    from ikelab.esp import EspSa

    lab = _transport_lab()
    (init, init_wire), (resp, resp_wire) = (p := _wired_esp_peers(lab))["initiator"], p["responder"]
    mine, theirs = lab.events("initiator", ev.ChildSaCreated)[-1], lab.events("responder", ev.ChildSaCreated)[-1]
    assert mine.mode == theirs.mode == "transport" and mine.udp_encap
    assert init.ping(mine.local_addr, mine.remote_addr, 7)
    assert resp.requests_answered == 1 and init.replies == [7]
    assert init.errors == resp.errors == [] and len(init_wire) == len(resp_wire) == 1
    check = EspSa(theirs.spi_in, direction="inbound", encryption=theirs.encr, key_bits=theirs.encr_key_bits,
                  encryption_key=theirs.encr_key_in, mode="transport")
    next_header, data = check.decapsulate(init_wire[0])
    assert (next_header, data[0]) == (1, 8)  # ICMP (RFC 792), an echo request: no IP header inside


def test_transport_mode_drops_what_its_selectors_do_not_cover() -> None:
    """RFC 4301 5.2 in transport mode, with ICMP-only selectors: a UDP datagram from the peer, and an echo
    request whose outer (UDP) source is another host, make packets outside the selectors: dropped, unanswered."""
    from ikelab import events as ev
    from ikelab.esp import EspSa
    from ikelab.packet import icmp_echo, ip_udp, parse_ip

    lab = _transport_lab(ts=("192.0.2.1/32[icmp]", "192.0.2.2/32[icmp]"))
    peer, wire = _wired_esp_peers(lab)["initiator"]
    child = lab.events("initiator", ev.ChildSaCreated)[-1]
    me, them = child.local_addr, child.remote_addr
    assert child.ts_remote == (f"{them}/32[icmp]",) and child.mode == "transport"
    assert not peer.send_inner(ip_udp(me, them, 5353, 53, b"")) and wire == []
    sent_by_peer = EspSa(child.spi_in, direction="outbound", encryption=child.encr, key_bits=child.encr_key_bits,
                         encryption_key=child.encr_key_in, mode="transport")
    udp = parse_ip(ip_udp(them, me, 5353, 53, b"query")).payload
    peer.received(sent_by_peer.encapsulate(udp, 17), (them, 4500), (me, 4500))
    echo = parse_ip(icmp_echo("192.0.2.99", me, 7, 1, b"")).payload
    peer.received(sent_by_peer.encapsulate(echo, 1), ("192.0.2.99", 4500), (me, 4500))
    dropped = "is outside the CHILD SA's traffic selectors"
    assert peer.errors[1:] == [f"ESP SPI 0x{child.spi_in.hex()}: {them} -> {me} protocol 17 ports 5353->53 {dropped}",
                               f"ESP SPI 0x{child.spi_in.hex()}: 192.0.2.99 -> {me} protocol 1 type 8 code 0 {dropped}"]
    assert peer.requests_answered == 0 and wire == []


def test_transport_mode_sends_only_the_hosts_own_packets() -> None:
    """A peer may grant transport mode for selectors wider than the two hosts (ikelab's responder declines them,
    as strongSwan's does); the SA still carries only packets between its own endpoints, whose addresses the
    receiver puts back (RFC 4303 3.1.1), and the default ping source is then our IKE address, not the first
    address of our selector."""
    from unittest import mock

    from ikelab import events as ev
    from ikelab.exchanges_child import ChildExchanges
    from ikelab.packet import icmp_echo
    from ikelab.peer import _Run

    with mock.patch.object(ChildExchanges, "_host_to_host", lambda *args: True):  # a lenient responder
        lab = _transport_lab(ts=("192.0.2.0/24", "192.0.2.0/24"))
    peer, wire = _wired_esp_peers(lab)["initiator"]
    child = lab.events("initiator", ev.ChildSaCreated)[-1]
    assert child.ts_local == child.ts_remote == ("192.0.2.0/24",) and child.mode == "transport"
    assert not peer.send_inner(icmp_echo("192.0.2.1", "192.0.2.99", 1, 1, b"")) and wire == []
    assert peer.errors == ["192.0.2.1 -> 192.0.2.99 protocol 1 type 8 code 0: a transport-mode SA carries only "
                           "packets from 192.0.2.1 to 192.0.2.2 (RFC 4303 3.1.1): not sent"]
    run = _Run(lab.initiator.config, "127.0.0.1", free_port(), RunOptions(), out=lambda text: None)
    for event in lab.events("initiator"):
        run.driver.record(event)
    assert run._default_ping_src() == "192.0.2.1"


def test_the_mode_option_reaches_the_ike_config(capsys: pytest.CaptureFixture[str]) -> None:
    """``--mode {tunnel,transport}`` (RFC 4301 4.1) of connect and respond becomes IkeConfig.mode; tunnel by
    default; anything else is refused by argparse (exit status 2)."""
    from ikelab.cli import _live_config, build_parser

    auth = ["--psk-file", __file__]
    connect_args = ["connect", "192.0.2.2", "--id", "alice@example.org", *auth]
    respond_args = ["respond", "--listen", "192.0.2.2", "--id", "gw.example.com", *auth]
    parser = build_parser()
    assert _live_config(parser.parse_args(connect_args)).mode == "tunnel"
    for args in (connect_args, respond_args):
        assert _live_config(parser.parse_args([*args, "--mode", "transport"])).mode == "transport"
    with pytest.raises(SystemExit) as info:
        parser.parse_args([*connect_args, "--mode", "beet"])
    assert info.value.code == 2 and "argument --mode: invalid choice: 'beet'" in capsys.readouterr().err


def test_a_peer_lost_after_the_handshake_is_not_reported_as_success() -> None:
    """``ikelab connect --duration``: when the peer stops answering later (RFC 7296 2.4: its IKE SA is then
    deleted), the run ends with EXIT_TIMEOUT and says so, not with 'OK'.  Against charon:
    tests/interop/test_ikelab_lifecycle.py::test_dead_peer_found_by_liveness_checks."""
    from ikelab import events as ev
    from ikelab.net import EXIT_OK, Outcome
    from ikelab.peer import RunOptions, _Run

    lab = _lab_after_a_child_rekey()
    run = _Run(lab.initiator.config, "127.0.0.1", free_port(), RunOptions(), out=lambda text: None)
    for event in lab.events("initiator"):
        run.driver.record(event)
    up = Outcome(EXIT_OK, "IKE SA and CHILD SA established")
    assert run.after_established(up) is up  # nothing went wrong after the handshake
    run.driver.record(ev.Failure(9.0, "initiator", None, "no response to INFORMATIONAL message ID 4 after "
                                        "3 retransmissions", fatal=True))
    lost = run.after_established(up)
    assert lost.status == EXIT_TIMEOUT
    assert lost.reason == ("IKE SA and CHILD SA established, but then no response to INFORMATIONAL message ID 4 "
                           "after 3 retransmissions")


@pytest.mark.parametrize("refusals", [1, 6])
def test_a_child_sa_refused_for_now_does_not_end_the_wait(refusals: int, monkeypatch) -> None:
    """``ikelab connect --childless``: a busy gateway refuses the first CHILD SA with TEMPORARY_FAILURE, and
    the engine asks again a few seconds later (RFC 7296 2.25).  The run once ended its wait at the first
    refusal ("IKE SA up, but no CHILD SA") and deleted the IKE SA, so the retry never happened; now it waits
    for the CHILD SA, or for the engine to give up (after CHILD_RETRIES refusals)."""
    from ikelab import events as ev
    from ikelab import exchanges_wire as W
    from ikelab.constants import NotifyType
    from ikelab.ike import IkeSa
    from ikelab.net import EXIT_OK

    answer, refused = IkeSa.on_create_child_sa_request, [0]

    def busy(self, now, *, msg, raw):  # type: ignore[no-untyped-def]
        if self.initiator or refused[0] >= refusals:
            return answer(self, now, msg=msg, raw=raw)
        refused[0] += 1
        self._respond(msg, now, [W.notify(NotifyType.TEMPORARY_FAILURE)])
        return None

    monkeypatch.setattr(IkeSa, "on_create_child_sa_request", busy)
    base = dict(psk=b"a shared secret", ike_proposals=("aes128-sha256-x25519",), esp_proposals=("aes128gcm16",),
                childless=True)
    lab = Lab(IkeConfig(local_id="moon.example", remote_id="sun.example", **base),
              IkeConfig(local_id="sun.example", remote_id="moon.example", **base), seed=4)
    lab.initiate()
    while not lab.events("initiator", ev.Failure):
        lab.step()
    driver = NetDriver(lab.initiator.config, "127.0.0.1", port=free_port())
    driver._sas.append(lab.initiator)
    seen = lab.events("initiator")
    for event in seen:
        driver.record(event)
    assert driver.outcome() is None  # refused for now: asked again in 4-8 s
    lab.run(lab.now + 60)
    for event in lab.events("initiator")[len(seen):]:
        driver.record(event)
    outcome = driver.outcome()
    if refusals == 1:
        assert outcome is not None and outcome.status == EXIT_OK, outcome
    else:  # the engine gave up: the run reports it
        assert outcome is not None and outcome.status != EXIT_OK
        assert outcome.reason == ("IKE SA up, but no CHILD SA: TEMPORARY_FAILURE: CHILD SA not created: refused 6 "
                                  "times with TEMPORARY_FAILURE, not asking again")


def test_the_ping_summary_counts_the_echoes_really_sent() -> None:
    """A CHILD SA without UDP encapsulation cannot carry ikelab's userspace ESP (no raw socket): the summary
    once said "3 sent, 0 replies" above the error saying nothing was sent.  It counts what left now, and the
    default source of a subnet selector is its first host, not the subnet's own address."""
    import asyncio

    from ikelab import events as ev
    from ikelab.peer import _Run

    base = dict(psk=b"a shared secret", ike_proposals=("aes128-sha256-x25519",), esp_proposals=("aes128gcm16",))
    lab = Lab(IkeConfig(local_id="moon.example", remote_id="sun.example", local_ts=("10.1.0.0/16",),
                        remote_ts=("10.2.0.0/16",), **base),
              IkeConfig(local_id="sun.example", remote_id="moon.example", local_ts=("10.2.0.0/16",),
                        remote_ts=("10.1.0.0/16",), **base), seed=4)
    lab.initiate()
    lab.run_until_idle()
    lines: list[str] = []
    run = _Run(lab.initiator.config, "127.0.0.1", free_port(), RunOptions(ping="10.2.0.1"), out=lines.append)
    for event in lab.events("initiator"):
        run.driver.record(event)
        run.esp.on_event(event)
    assert not lab.events("initiator", ev.ChildSaCreated)[-1].udp_encap
    assert run._default_ping_src("10.2.0.1") == "10.1.0.1"
    assert asyncio.run(run.pings("first CHILD SA")) == 0
    assert lines == ["ping 10.1.0.1 -> 10.2.0.1 through ESP (first CHILD SA): 0 sent, 0 replies",
                     "ping: ESP without UDP encapsulation needs a raw socket (IP protocol 50): not sent"]


def test_a_run_whose_peer_deleted_the_child_sa_says_so() -> None:
    """``ikelab connect --duration``: the peer deletes the CHILD SA and keeps the IKE SA (RFC 7296 1.4.1).  Both
    were established, so the exit status stays 0, but the last line no longer reads as if the tunnel were
    still there."""
    from ikelab import events as ev
    from ikelab.net import EXIT_OK, Outcome
    from ikelab.peer import RunOptions, _Run

    lab = _lab_after_a_child_rekey()
    run = _Run(lab.initiator.config, "127.0.0.1", free_port(), RunOptions(), out=lambda text: None)
    run.driver._sas.append(lab.initiator)
    up = Outcome(EXIT_OK, "IKE SA and CHILD SA established")
    seen = lab.events("initiator")
    for event in seen:
        run.driver.record(event)
    assert run.after_established(up) is up  # the rekey deleted the old CHILD SA, but the new one is there
    lab.delete_child("responder")
    lab.run_until_idle()
    assert lab.initiator.established and not lab.initiator.children
    for event in lab.events("initiator")[len(seen):]:
        run.driver.record(event)
    gone = run.after_established(up)
    assert gone.status == EXIT_OK
    assert gone.reason == ("IKE SA and CHILD SA established, but then no CHILD SA was left: the last one went "
                           f"{lab.events('initiator', ev.ChildSaDeleted)[-1].time:.1f} s into the run (deleted by peer)")


LONG_RUN = dict(psk=b"a shared secret", ike_proposals=("aes128-sha256-x25519",), esp_proposals=("aes128gcm16",))


async def _many_exchanges(driver: NetDriver, rounds: int, *, then_liveness: int = 0) -> tuple[list[int], int]:
    """Open ``driver`` and make it answer ``rounds`` exchanges, with no time passing: one sans-IO initiator
    checks liveness, rekeys its CHILD SA (every third round) and its IKE SA (every tenth), and every 25 rounds
    another initiator brings an IKE SA up and deletes it; then ``then_liveness`` liveness checks alone.  Datagrams go straight from the engine to the
    driver's receive path and back (nothing waits on the sockets); the driver is closed at the end.  Returns
    the packet numbers ``on_packet`` was given, and how many IKE SAs the driver took part in."""
    from ikelab.endpoint import IkeEndpoint
    from ikelab.exchanges_common import Datagram
    from ikelab.rand import DeterministicRandom

    await driver.open()
    numbers: list[int] = []
    sent: list[Any] = []
    shown = driver.on_packet

    def on_packet(n: int, packet: Any, direction: str) -> None:
        numbers.append(n)
        if direction == "sent":
            sent.append(packet)
        if shown is not None:
            shown(n, packet, direction)

    driver.on_packet = on_packet

    def initiator(n: int) -> IkeEndpoint:
        return IkeEndpoint(IkeConfig(local_id=f"peer{n}.example", **LONG_RUN), DeterministicRandom(100 + n),
                           "127.0.0.1", port=40000 + n)

    def pump(peer: IkeEndpoint) -> None:
        while True:
            out = peer.pop_datagrams()
            for d in out:
                driver._received(d.payload, d.src, driver.port)
            back, sent[:] = sent[:], []
            for p in back:
                peer.receive(Datagram(p.payload, (p.src, p.sport), (p.dst, p.dport)), driver.now())
            if not out and not back:
                return

    alice, ike_sas = initiator(0), 1
    try:
        alice.initiate(("127.0.0.1", driver.port), driver.now())
        pump(alice)
        for r in range(1, rounds + 1):
            sa = next(s for s in alice.all_sas() if s.state == State.ESTABLISHED)
            if r % 10 == 0:
                sa.rekey_ike(driver.now())
                ike_sas += 1
            elif r % 3 == 0:
                sa.rekey_child(next(iter(sa.children)), driver.now())
            else:
                sa.liveness(driver.now())
            pump(alice)
            if r % 25 == 0:  # another peer, there for a moment
                other = initiator(r)
                other.initiate(("127.0.0.1", driver.port), driver.now())
                pump(other)
                other.all_sas()[0].delete_ike(driver.now())
                pump(other)
                ike_sas += 1
        for _ in range(then_liveness):
            next(s for s in alice.all_sas() if s.state == State.ESTABLISHED).liveness(driver.now())
            pump(alice)
    finally:
        driver.close()
    return numbers, ike_sas


def test_a_long_run_without_history_keeps_only_the_latest_packets_and_events() -> None:
    """``ikelab respond --duration inf`` without --pcap/--keys once kept every packet, event and IKE SA of
    the run: memory grew with each liveness check and rekey.  Without ``keep_history`` the driver keeps the
    last RECENT packets and events and no closed IKE SA, and decides the outcome as the full one does; with
    it, the whole run is there for the capture and the key tables."""
    from ikelab import events as ev
    from ikelab.net import RECENT
    from ikelab.rand import DeterministicRandom

    port = free_port()  # the same for every run (NAT detection hashes it), one after the other

    def serve(keep: bool, keep_keys: bool | None = None) -> tuple[NetDriver, list[int], int]:
        driver = NetDriver(IkeConfig(local_id="gw.example.com", **LONG_RUN), "127.0.0.1", port=port,
                           rng=DeterministicRandom(1), keep_history=keep, keep_keys=keep_keys)
        numbers, ike_sas = asyncio.run(_many_exchanges(driver, 300))
        return driver, numbers, ike_sas

    short, numbers, ike_sas = serve(False)
    full, full_numbers, _ = serve(True)
    keyed, _, _ = serve(False, keep_keys=True)
    total = full.packets_seen
    assert total > 3 * RECENT and numbers == full_numbers == list(range(1, total + 1))  # numbered on and on
    assert short.packets_seen == total and len(short.trace) == RECENT and len(short.events) == RECENT
    assert [p.payload for p in short.trace] == [p.payload for p in full.trace[-RECENT:]]  # the latest ones
    assert [type(e) for e in short.events] == [type(e) for e in full.events[-RECENT:]]
    assert [sa.state for sa in short._sas] == [State.ESTABLISHED]  # closed IKE SAs let go
    assert short.all_sas() == [short.current_sa()]
    with pytest.raises(ConfigError, match="keep_history=True"):
        short.write_pcap("never.pcap")
    with pytest.raises(ConfigError, match="keep_keys=True"):
        short.key_records()
    # with history: every packet, event and IKE SA, and a key-table row for each IKE SA
    assert len(full.trace) == total and len(full.events) == sum(full.facts.counts.values())
    assert len(full.all_sas()) == ike_sas and len(full.key_records()[0]) == ike_sas
    # the rows are those of every IKE SA the full run holds and of every CHILD SA its events report, and a
    # bounded run that collects keys (--keys without --pcap) has them all too, with the latest packets only
    from ikelab.wireshark import esp_records_from_child, ike_record_from_sa

    every_ike = [ike_record_from_sa(sa.spi_i, sa.spi_r, sa.keys, sa.suite.encr, sa.suite.key_bits, sa.suite.integ)
                 for sa in full.all_sas() if sa.keys is not None]
    every_esp = [r for e in full.events if isinstance(e, ev.ChildSaCreated) for r in esp_records_from_child(e)]
    assert sorted(full.key_records()[0], key=every_ike.index) == every_ike and len(set(every_ike)) == ike_sas
    assert full.key_records()[1] == every_esp
    assert keyed.key_records() == full.key_records() and len(keyed.trace) == RECENT
    kept = sum(isinstance(e, ev.ChildSaCreated) for e in keyed.events)
    assert len(every_esp) > 2 * kept, (len(every_esp), kept)  # most CHILD SAs' events are gone, not their rows
    assert keyed.all_sas() == [keyed.current_sa()] and keyed.facts.counts == full.facts.counts
    assert short.facts.counts == full.facts.counts
    a, b = short.outcome(), full.outcome()
    assert a is not None and b is not None and (a.status, a.reason) == (b.status, b.reason) == (0, "IKE SA and CHILD SA established")
    assert (a.sa.spi_i, a.sa.spi_r) == (b.sa.spi_i, b.sa.spi_r)


def test_a_long_run_still_reports_what_happened_after_its_first_child_sa() -> None:
    """The end-of-run summary of ``ikelab respond`` without --pcap/--keys: the first CHILD SA has long left the
    kept events, but the run still knows it was established, from which address to ping, and that a fatal
    failure came later (it once looked for the failures after the first CHILD SA in the event list)."""
    from ikelab import events as ev
    from ikelab.net import EXIT_OK, EXIT_TIMEOUT, RECENT
    from ikelab.peer import _Run
    from ikelab.rand import DeterministicRandom

    assert _Run(IkeConfig(psk=b"x"), "127.0.0.1", free_port(), RunOptions(pcap="run.pcap"), out=print).driver.keep_history
    keys_only = _Run(IkeConfig(psk=b"x"), "127.0.0.1", free_port(), RunOptions(keys="tables"), out=print).driver
    assert keys_only.keep_keys and not keys_only.keep_history  # --keys alone: a row per SA, the latest packets
    lines: list[str] = []
    run = _Run(IkeConfig(local_id="gw.example.com", **LONG_RUN), "127.0.0.1", free_port(), RunOptions(),
               out=lines.append, rng=DeterministicRandom(1))
    assert not run.driver.keep_history
    asyncio.run(_many_exchanges(run.driver, 120, then_liveness=RECENT))  # a quiet day: liveness checks only
    d = run.driver
    assert d.facts.first_child is not None and len(d.events) == RECENT
    assert not any(isinstance(e, (ev.ChildSaCreated, ev.ChildSaDeleted)) for e in d.events)  # out of the list
    assert d.facts.counts[ev.ChildSaRekeyed] == 120 // 3 - 120 // 30  # what --rekey-after waits on
    up = d.outcome()
    assert up is not None and up.status == EXIT_OK
    assert run.after_established(up) is up
    assert run._default_ping_src() == "127.0.0.1"  # our address on the first CHILD SA
    packet_lines = [line for line in lines if not line.startswith("     --")]
    assert packet_lines[-1].startswith(f"{d.packets_seen:>4} ") and d.packets_seen > RECENT  # numbered on
    d.record(ev.Failure(d.now(), "responder", None, "no response to INFORMATIONAL message ID 9 after "
                        "3 retransmissions", fatal=True))
    late = run.after_established(up)
    assert late.status == EXIT_TIMEOUT
    assert late.reason == ("IKE SA and CHILD SA established, but then no response to INFORMATIONAL message ID 9 "
                           "after 3 retransmissions")


@pytest.mark.parametrize("first_answer", ["received", "lost"])
def test_respond_follows_a_break_before_make_reauthentication(first_answer: str) -> None:
    """A peer that reauthenticates break-before-make deletes its IKE SA and at once starts a new one
    (RFC 7296 2.8.3; strongSwan's default).  ``ikelab respond`` once ended its run at the DELETE, leaving
    the new IKE_SA_INIT unanswered.  Against charon: test_ikelab_lifecycle.py::test_reauthentication_by_charon.

    "lost": the answer to the new IKE_SA_INIT does not reach the peer, whose retransmission (1.5 s) comes
    after REAUTH_GRACE; ikelab must wait for the IKE SA it has half opened (charon, under load, once
    missed such an answer, and the run ended before its retransmission)."""
    from ikelab.gateway import run_respond
    from ikelab.peer import REAUTH_GRACE

    cfg = dict(psk=b"in-process", ike_proposals=("aes128-sha256-modp2048",), esp_proposals=("aes128-sha256",),
               retransmit_timeout=1.5 * REAUTH_GRACE, retransmit_tries=2)
    port, lines = free_port(), []

    async def run() -> tuple[int, list[bool]]:
        responder = asyncio.ensure_future(run_respond(
            IkeConfig(local_id="gw.example.com", remote_id="alice@example.org", **cfg), "127.0.0.1",
            RunOptions(wait=10), port=port, out=lines.append))
        await asyncio.sleep(0.3)
        peer = NetDriver(IkeConfig(local_id="alice@example.org", **cfg), "127.0.0.1", port=free_port())
        await peer.open()
        received, lose = peer._received, [first_answer == "lost"]

        def drop_one_init_response(data: bytes, src: tuple[str, int], port_: int) -> None:
            if lose[0] and len(peer._sas) > 1 and len(data) > 28 and data[18] == 34 and data[19] & 0x20:
                lose[0] = False  # the second IKE SA's first IKE_SA_INIT response: lost on the way
                return
            received(data, src, port_)

        peer._received = drop_one_init_response  # type: ignore[method-assign]
        try:
            established = []
            for _ in range(2):  # up, DELETE and a new IKE_SA_INIT at once; up again; DELETE
                sa = peer.initiate(("127.0.0.1", port))
                await peer.wait_for(lambda: sa.state == State.ESTABLISHED and not sa._pending, 8)
                established.append(sa.state == State.ESTABLISHED)
                if sa.state != State.ESTABLISHED:
                    break
                peer.act(sa.delete_ike)
                await peer.wait_for(lambda: sa.state == State.CLOSED, 5)
            return await asyncio.wait_for(responder, 10), established
        finally:
            peer.close()

    status, established = asyncio.run(run())
    assert established == [True, True] and status == 0, "\n".join(lines)
    assert sum("IKE_SA_INIT MID=00 Responder Response" in line for line in lines) == 2 + (first_answer == "lost")
    assert any("reauthentication (RFC 7296 2.8.3), followed" in line for line in lines), "\n".join(lines)


def test_cert_and_ca_files_may_hold_chains_and_bundles(tmp_path: Path) -> None:
    """``--cert`` chain.pem: our certificate, then the intermediate CAs sent with it in CERT payloads
    (RFC 7296 3.6); ``--ca`` bundle.pem: every CA in it is a trust anchor."""
    from ikelab.certs import ec_key_from_seed, make_ca, make_leaf, to_pem
    from ikelab.cli import _live_config, build_parser

    root_key, inter_key, leaf_key, other_key = (ec_key_from_seed(s) for s in ("root", "inter", "leaf", "other"))
    root = make_ca("ikelab root", root_key, path_length=1)
    other = make_ca("another root", other_key)
    inter = make_ca("ikelab intermediate", inter_key, issuer=root, issuer_key=root_key, path_length=0)
    leaf = make_leaf(inter, inter_key, "moon.example", leaf_key, san=["moon.example"])
    (tmp_path / "chain.pem").write_bytes(to_pem(leaf) + to_pem(inter))
    (tmp_path / "key.pem").write_bytes(to_pem(leaf_key))
    (tmp_path / "cas.pem").write_bytes(to_pem(root) + to_pem(other))
    args = build_parser().parse_args(["connect", "192.0.2.2", "--id", "moon.example", "--cert",
                                      str(tmp_path / "chain.pem"), "--key", str(tmp_path / "key.pem"),
                                      "--ca", str(tmp_path / "cas.pem")])
    config = _live_config(args)
    assert config.certificate == leaf and config.intermediates == (inter,)
    assert config.trust_anchors == (root, other)


def test_garbage_on_the_live_ports_never_raises() -> None:
    """Whatever arrives on UDP 500 or 4500 (truncated, mutated or random IKE, ESP, markers) ends as a dropped
    message or an error entry: never an exception out of the socket callback, which would stall the run."""
    import random

    from ikelab.endpoint import IkeEndpoint
    from ikelab.esp_peer import EspPeer
    from ikelab.rand import DeterministicRandom

    async def run() -> int:
        config = IkeConfig(local_id="gw.example.com", remote_id="alice@example.org", psk=b"loopback-test-psk")
        driver = NetDriver(config, "127.0.0.1", port=free_port())
        await driver.open()
        driver.natt = True  # sort what comes "on 4500" into IKE, ESP and keepalives (without binding port 4500)
        peer = EspPeer(driver, out=lambda text: None)
        lab = _lab_after_a_child_rekey(encapsulation="always")
        for event in lab.events("responder"):
            peer.on_event(event)  # inbound SAs, so that ESP with a known SPI gets as far as decryption
        other = IkeEndpoint(IkeConfig(local_id="alice@example.org", psk=b"loopback-test-psk"), DeterministicRandom(3),
                            "127.0.0.2")
        other.initiate(("127.0.0.1", 500), 0.0)
        request = other.pop_datagrams()[0].payload
        rnd = random.Random(7)
        try:
            for i in range(1500):
                data = bytearray(request if i % 3 else rnd.choice(list(peer.inbound)) + bytes(rnd.randrange(256)
                                                                                           for _ in range(60)))
                for _ in range(rnd.randrange(1, 5)):  # flip, cut or insert a few octets
                    pos, roll = rnd.randrange(len(data)), rnd.random()
                    if roll < 0.6:
                        data[pos] = rnd.randrange(256)
                    elif roll < 0.8:
                        del data[pos:pos + rnd.randrange(1, 16)]
                    else:
                        data[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 16)))
                port = 500 if i % 2 else 4500
                payload = bytes(data) if port == 500 or i % 3 == 0 else b"\0\0\0\0" + bytes(data)
                driver._received(payload, ("127.0.0.2", 40000 + i % 50), port)
        finally:
            driver.close()
        return len(peer.errors)

    assert asyncio.run(run()) > 0  # the ESP ones were reported, not raised


def test_connect_and_respond_with_ike_fragmentation(tmp_path: Path) -> None:
    """--fragment-size over loopback: IKE_AUTH and the rekey travel in SKF pieces that tshark joins and decrypts."""
    from tshark_util import require_tshark

    tshark = require_tshark()
    port = free_port()
    resp = Responder(tmp_path / "r", port, *SUITE, "--fragment-size", "200")
    result = connect(tmp_path / "c", port, *SUITE, "--fragmentation", "--fragment-size", "200",
                     "--keys", str(tmp_path / "keys"), "--pcap", str(tmp_path / "run.pcap"), "--rekey-after", "0.1")
    assert resp.wait() == 0, resp.output()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "IKE_AUTH MID=01 Initiator Request (fragment 1/" in result.stdout, result.stdout
    assert "IKE fragments joined (RFC 7383): HDR, SK {IDr, AUTH, SAr2, TSi, TSr}" in result.stdout, result.stdout
    assert "IKE fragments joined (RFC 7383): HDR, SK {IDi, N(INITIAL_CONTACT), AUTH, SAi2, TSi, TSr}" in resp.output()
    assert "CHILD SA rekeyed" in result.stdout
    cmd = [tshark, "-n", "-2", "-r", str(tmp_path / "run.pcap"), "-d", f"udp.port=={port},isakmp", "-T", "fields",
           "-E", "separator=|", "-e", "ip.len", "-e", "_ws.col.Info", "-e", "isakmp.typepayload"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, WIRESHARK_CONFIG_DIR=str(tmp_path / "keys"))).stdout
    rows = [line.split("|") for line in out.splitlines() if line.strip()]
    ike = [r for r in rows if "MID=" in r[1] and not r[1].startswith("IKE_SA_INIT")]  # IKE_SA_INIT is never split
    assert all(int(r[0]) <= 200 for r in ike), out  # every other IP packet within --fragment-size
    joined = [r for r in ike if r[1].endswith("(reassembled)")]
    auth = [r for r in joined if r[1].startswith("IKE_AUTH")]
    assert len(auth) == 2 and any(r[1].startswith("CREATE_CHILD_SA") for r in joined), out
    # the joined IKE_AUTH request, decrypted by tshark: SKF (53), then IDi (35) and AUTH (39) inside
    types = auth[0][2].split(",")
    assert types[0] == "53" and "35" in types and "39" in types, out


def test_connect_asks_respond_for_a_virtual_ip(tmp_path: Path) -> None:
    """--vip 0.0.0.0 against --pool 198.51.100.64/28 (RFC 7296 2.19): the client gets .65, and its CHILD SA
    carries that address (ESP from it is tested against charon, tests/interop/test_ikelab_selectors.py)."""
    port = free_port()
    resp = Responder(tmp_path / "r", port, *SUITE, "--pool", "198.51.100.64/28")
    result = connect(tmp_path / "c", port, *SUITE, "--vip", "0.0.0.0")
    assert resp.wait() == 0, resp.output()
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "virtual IP 198.51.100.65 (CP payload, RFC 7296 2.19)" in out and "198.51.100.65/32 === 127.0.0.1/32" in out
    assert "virtual IP 198.51.100.65" in resp.output() and "127.0.0.1/32 === 198.51.100.65/32" in resp.output()


def test_endpoints_print_unambiguously() -> None:
    """``fd00::2:500`` is itself an IPv6 address: the connect line brackets IPv6 addresses (RFC 3986 3.2.2)."""
    from ikelab.peer import _host_port

    assert _host_port("2001:db8::1", 500) == "[2001:db8::1]:500"
    assert _host_port("192.0.2.1", 4500) == "192.0.2.1:4500"


def test_connect_and_respond_say_when_transport_mode_was_declined() -> None:
    """RFC 7296 1.3.1: a declined N(USE_TRANSPORT_MODE) leaves the CHILD SA in tunnel mode, which changes what
    its packets look like; ``--mode transport`` says so on both sides instead of going on silently."""
    from ikelab import events as ev
    from ikelab.peer import _Run

    lab = _transport_lab(ts=("192.0.2.0/24", "192.0.2.0/24"))  # wider than the two hosts: declined
    lines: dict[str, list[str]] = {}
    for side in ("initiator", "responder"):
        run = _Run(lab.endpoints[side].config, "127.0.0.1", free_port(), RunOptions(), out=lines.setdefault(side, []).append)
        for event in lab.events(side, ev.ChildSaCreated):
            assert event.mode == "tunnel"
            run._event(event)
        run.driver.close()
    assert lines["initiator"][-1] == ("     --   tunnel mode, not transport: the peer did not grant "
                                      "N(USE_TRANSPORT_MODE) (RFC 7296 1.3.1)")
    assert "the selectors are not the two IKE hosts" in lines["responder"][-1]
    assert not any("tunnel mode, not transport" in line for line in _lines_of_a_transport_run())


def _lines_of_a_transport_run() -> list[str]:
    from ikelab import events as ev
    from ikelab.peer import _Run

    lab = _transport_lab()
    out: list[str] = []
    run = _Run(lab.initiator.config, "127.0.0.1", free_port(), RunOptions(), out=out.append)
    for event in lab.events("initiator", ev.ChildSaCreated):
        run._event(event)
    run.driver.close()
    assert out and "transport mode" in out[-1]
    return out


@pytest.mark.parametrize("option, value, said", [
    ("--proposal", "aes999", "--proposal: unknown algorithm keyword 'aes999'"),
    ("--esp-proposal", "foo", "--esp-proposal: unknown algorithm keyword 'foo'"),
    ("--fragment-size", "100", "--fragment-size 100 must be an integer >= 160"),
    ("--retransmit-tries", "-1", "--retransmit-tries -1 must be an integer >= 0"),
    ("--remote-id", "fqdn:", "--remote-id: empty identity for ID_FQDN"),
    # these named IkeConfig's fields (``psk is empty``, ``vip must be``), or took "" for %any, any peer at all
    ("--remote-id", "", "--remote-id: empty identity"),
    ("--proposal", ",", "--proposal is empty: at least one proposal is needed"),
    ("--fragment-size", "999999", "--fragment-size must be at most 65535"),
    ("--vip", "300.0.0.0", "--vip must be an IP address"),
    ("--psk-file", "/dev/null", "--psk-file is empty"),
])
def test_live_run_errors_name_the_option_that_was_typed(option: str, value: str, said: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """``ikelab connect --fragment-size 100`` used to answer with IkeConfig's field name (``fragment_size = 100
    ...``), which the user never typed."""
    from ikelab.cli import main

    assert main(["connect", "192.0.2.9", "--id", "me.example", "--psk-file", __file__, option, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ikelab connect: error: {said}") and "_" not in err.split(":")[2], err


def test_options_that_could_match_no_packet_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """``--local ::1`` towards an IPv4 peer, and ``--ts`` of one IP version on one side and the other on the
    other side: both ran (one sent from a socket of the wrong family, one installed a CHILD SA that no packet
    can match).  They are refused before any socket opens."""
    from ikelab.cli import main

    assert main(["connect", "127.0.0.1", "--local", "::1", "--id", "me.example", "--psk-file", __file__]) == 2
    assert capsys.readouterr().err == ("ikelab connect: error: --local ::1 is IPv6 but the peer 127.0.0.1 is IPv4: "
                                       "give an address of the peer's family\n")
    assert main(["connect", "192.0.2.9", "--id", "me.example", "--psk-file", __file__,
                 "--ts", "2001:db8::/64", "10.0.0.0/24"]) == 2
    assert capsys.readouterr().err.startswith("ikelab connect: error: --ts LOCAL: 2001:db8::/64 is IPv6 but the "
                                              "remote selectors (10.0.0.0/24) are IPv4")


@pytest.mark.parametrize("content, key", [(b"secret with spaces\n", b"secret with spaces"),
                                          (b"0x00ff10\n", b"\x00\xff\x10"), (b"0sAP8Q", b"\x00\xff\x10")])
def test_a_psk_file_takes_strongswans_hex_and_base64_forms(tmp_path: Path, content: bytes, key: bytes) -> None:
    """A secret copied from swanctl.conf (``secret = 0x...``) was used as its literal text, so the
    handshake failed in IKE_AUTH with nothing to say why."""
    from ikelab.cli import _live_config, build_parser

    (tmp_path / "psk").write_bytes(content)
    args = build_parser().parse_args(["connect", "192.0.2.9", "--id", "me.example", "--psk-file",
                                      str(tmp_path / "psk")])
    assert _live_config(args).psk == key


@pytest.mark.parametrize("days, said", [(-1, "expired at 20"), (1, "is valid only from 20")])
def test_our_own_certificate_out_of_its_validity_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             days: int, said: str) -> None:
    """An expired (or not yet valid) certificate of ours: the peer refuses it, and the run could only report an
    authentication failure ("a wrong PSK, or an identity or certificate it does not accept")."""
    from datetime import datetime, timedelta, timezone

    from ikelab.certs import ec_key_from_seed, make_ca, make_leaf, to_pem
    from ikelab.cli import main

    now = datetime.now(timezone.utc)
    ca_key, key = ec_key_from_seed("net ca"), ec_key_from_seed("net leaf")
    ca = make_ca("CN=Net CA", ca_key)
    window = (now - timedelta(days=30), now - timedelta(days=1)) if days < 0 else \
        (now + timedelta(days=1), now + timedelta(days=30))
    leaf = make_leaf(ca, ca_key, "CN=me.example", key, san=["me.example"], not_before=window[0], not_after=window[1])
    for name, item in (("cert.pem", leaf), ("key.pem", key), ("ca.pem", ca)):
        (tmp_path / name).write_bytes(to_pem(item))
    assert main(["connect", "192.0.2.9", "--id", "me.example", "--cert", str(tmp_path / "cert.pem"),
                 "--key", str(tmp_path / "key.pem"), "--ca", str(tmp_path / "ca.pem")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ikelab connect: error: --cert: our certificate 'me.example' ") and said in err, err
    assert "the peer would refuse it (RFC 5280 4.1.2.5)" in err


def test_a_cookie_threshold_of_other_digits_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """``'²'.isdigit()`` is true, but ``int('²')`` raises: a traceback once."""
    from ikelab.cli import main

    assert main(["respond", "--listen", "127.0.0.1", "--id", "me.example", "--psk-file", __file__,
                 "--cookie-threshold", "²"]) == 2
    assert capsys.readouterr().err.startswith("ikelab respond: error: --cookie-threshold ²: give a number")


def test_a_pcap_path_through_a_folder_we_may_not_search_is_refused(monkeypatch, capsys) -> None:
    """``--pcap locked/inner/x.pcap`` with ``locked`` at mode 000: ``Path.is_dir`` raises PermissionError, which
    came out as a traceback before the run began."""
    from ikelab.cli import main

    real = Path.is_dir

    def is_dir(self: Path) -> bool:
        if "locked" in self.parts:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "is_dir", is_dir)
    assert main(["connect", "192.0.2.99", "--id", "moon.example", "--psk-file", __file__,
                 "--pcap", "locked/inner/x.pcap"]) == 2
    assert capsys.readouterr().err == ("ikelab connect: error: --pcap / --keys: cannot look there: Permission denied "
                                       "(locked/inner/x.pcap)\n")


def test_a_live_run_names_the_command_line_option_for_weak_algorithms() -> None:
    """The engine's refusal of a weak algorithm says "pass allow_weak=True" (the Python API); ``ikelab connect``
    printed that too, where its users need ``--allow-weak`` (found against strongSwan with RSA method 1)."""
    from ikelab import events as ev
    from ikelab.peer import _Run

    lines: list[str] = []
    config = IkeConfig(local_id="moon.example", remote_id="sun.example", psk=b"a shared secret")
    run = _Run(config, "127.0.0.1", free_port(), RunOptions(), out=lines.append)
    run._event(ev.Failure(1.0, "initiator", "AUTHENTICATION_FAILED", "RSA_DIGITAL_SIGNATURE (method 1) is weak: it "
                          "signs a SHA-1 hash; pass allow_weak=True to use it anyway", fatal=True))
    assert lines == ["     --   FAILURE AUTHENTICATION_FAILED: RSA_DIGITAL_SIGNATURE (method 1) is weak: it signs a "
                     "SHA-1 hash; give --allow-weak to use it anyway (fatal)"]


def test_tunnel_mode_esp_names_an_inner_ipv6_packet_by_next_header_41() -> None:
    """RFC 4303 2.6: the Next Header of tunnel-mode ESP is the inner packet's version: 4 (IPv4) or 41 (IPv6)."""
    from types import SimpleNamespace

    from ikelab.esp_peer import EspPeer
    from ikelab.packet import icmp_echo

    tunnel = SimpleNamespace(mode="tunnel")
    v6 = icmp_echo("2001:db8::1", "2001:db8::2", 1, 1, b"")
    v4 = icmp_echo("10.0.0.1", "10.0.0.2", 1, 1, b"")
    assert EspPeer._protected_part(v6, tunnel) == (v6, 41)  # type: ignore[arg-type]
    assert EspPeer._protected_part(v4, tunnel) == (v4, 4)  # type: ignore[arg-type]


@pytest.mark.parametrize("text, first", [
    ("198.51.100.65/32[icmp]", "198.51.100.65"),   # a host: itself
    ("10.1.0.0/16", "10.1.0.1"),                   # a network: its first host, not the subnet's own address
    ("10.1.0.5-10.1.0.9", "10.1.0.5"),             # a range that is no network, as events write it now
    ("2001:db8:1::/64[udp/53]", "2001:db8:1::1"), ("2001:db8::5-2001:db8::9", "2001:db8::5"),
    ("not a selector", None), ("", None)])
def test_the_ping_source_is_the_first_address_of_a_selector(text: str, first: str | None) -> None:
    """connect --ping sends from our first CHILD SA selector's first address (ikelab.peer); a range no longer
    leaves it without one."""
    import ipaddress

    from ikelab.peer import _first_address

    assert _first_address(text) == (None if first is None else ipaddress.ip_address(first))
