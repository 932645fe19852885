"""Review tests of ``ikelab demo`` and the classic scenario (ikelab.scenario).

Each test was written against a mutant of scenario.py or of the demo path of
cli.py that the other tests let through: the option plumbing, the timeline's
intervals and boundaries, and the files written.  Where it can, a test reads
the written capture with tshark, not with ikelab.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from ikelab.cli import main

from tshark_util import require_tshark, run_fields


def test_the_dissect_hint_is_a_shell_command_for_any_output_directory(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The hint printed for SAs Wireshark 4.0 cannot name must survive a shell, as the tshark command does: an
    output directory with a space in it was printed unquoted, and the hint then named two files."""
    d = tmp_path / "my demo"
    assert main(["demo", "--out", str(d), "--suite", "chacha20poly1305-prfsha256-x25519"]) == 0
    hint = capsys.readouterr().out.strip().splitlines()[-1].strip()
    argv = shlex.split(hint)
    assert argv == ["ikelab", "dissect", str(d / "ikev2-lab.pcap"), "--keys", str(d)]
    assert main(argv[1:]) == 0
    assert "[ICMP] Echo (ping) request" in capsys.readouterr().out


# ------------------------------------------------------------------ the capture as tshark reads it

FIELDS = ("frame.time_relative", "isakmp.exchangetype", "isakmp.flag_r", "isakmp.typepayload", "isakmp.ispi",
          "isakmp.enc.decrypted", "esp.spi", "esp.icv_good", "icmp.type", "ipv6.src", "ipv6.dst", "icmpv6.type")


def _uat_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


def tshark_rows(paths: dict[str, Path], which: str = "pcap") -> list[dict[str, str]]:
    """One dict per frame of the written capture, decrypted by tshark with the two key tables written beside it."""
    from tshark_util import run_tshark

    args = ["-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE",
            "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in FIELDS:
        args += ["-e", f]
    text = run_tshark(paths[which], args, ikev2_keys=_uat_lines(paths["ikev2_decryption_table"]),
                      esp_sa=_uat_lines(paths["esp_sa"]))
    return [dict(zip(FIELDS, line.split("\t"))) for line in text.splitlines()]


def ike_requests(rows: list[dict[str, str]], exchange: int) -> list[dict[str, str]]:
    return [r for r in rows if r["isakmp.exchangetype"] == str(exchange) and r["isakmp.flag_r"] == "0"]


def liveness_times(rows: list[dict[str, str]]) -> list[float]:
    """Initiator's empty INFORMATIONAL requests (37), decrypted by tshark: the SK payload (46) and nothing in it."""
    return [float(r["frame.time_relative"]) for r in ike_requests(rows, 37)
            if r["isakmp.typepayload"] == "46" and r["isakmp.enc.decrypted"] == "1"]


def auth_done(rows: list[dict[str, str]]) -> float:
    """When the IKE_AUTH response (35) reached the initiator: sent plus the lab's 10 ms network delay."""
    return float(next(r for r in rows if r["isakmp.exchangetype"] == "35" and r["isakmp.flag_r"] == "1")
                 ["frame.time_relative"]) + 0.01


def write(tmp_path: Path, **kwargs: object) -> dict[str, Path]:
    from ikelab.scenario import classic

    return classic(seed=5, **kwargs).write(tmp_path)  # type: ignore[arg-type]


def test_liveness_checks_follow_the_interval_given(tmp_path: Path) -> None:
    """Module docstring: a liveness check every ``liveness_interval`` s (0.1 s after the ping grid), not every 5 s."""
    require_tshark()
    rows = tshark_rows(write(tmp_path, liveness_interval=3.0, duration=14.0, reconnect_at=None,
                             child_rekey_after=None))
    t0 = auth_done(rows)
    assert liveness_times(rows) == pytest.approx([t0 + 0.1 + 3.0 * k for k in (1, 2, 3, 4)], abs=0.005)
    assert len([r for r in rows if r["isakmp.exchangetype"] == "37" and r["isakmp.flag_r"] == "1"]) == 4


def test_a_liveness_check_due_during_the_rekey_is_skipped_not_queued(tmp_path: Path) -> None:
    """A liveness check is for an idle IKE SA (RFC 7296 1.4): one due while CREATE_CHILD_SA is outstanding is
    skipped, so every check sent stays on the interval's grid; queued, it went out late, after the rekey."""
    require_tshark()
    interval = 1.95  # its first check falls at the rekey's moment, auth + 2.05 s
    rows = tshark_rows(write(tmp_path, liveness_interval=interval, duration=9.0, reconnect_at=None))
    t0 = auth_done(rows)
    rekey = float(ike_requests(rows, 36)[0]["frame.time_relative"])
    assert rekey == pytest.approx(t0 + 0.1 + interval, abs=0.005)  # the collision this test is about
    assert liveness_times(rows) == pytest.approx([t0 + 0.1 + interval * k for k in (2, 3, 4)], abs=0.005)


def test_no_step_starts_at_or_after_duration_and_every_request_is_answered(tmp_path: Path) -> None:
    """A reconnect close to the end brings the new IKE SA up but no CREATE_CHILD_SA after ``duration``; a
    reconnect at ``duration`` is no reconnect; a request sent just before the end still gets its response."""
    require_tshark()
    rows = tshark_rows(write(tmp_path / "a", duration=10.0, reconnect_at=9.0, liveness_interval=None))
    inits = ike_requests(rows, 34)
    assert len({r["isakmp.ispi"] for r in inits}) == 2  # the reconnect happened
    assert all(float(r["frame.time_relative"]) < 10.0 for r in rows if r["isakmp.flag_r"] == "0")
    assert len(ike_requests(rows, 36)) == 1  # only the first IKE SA's rekey fits

    rows = tshark_rows(write(tmp_path / "b", duration=10.0, reconnect_at=10.0, liveness_interval=None))
    assert len({r["isakmp.ispi"] for r in ike_requests(rows, 34)}) == 1

    rows = tshark_rows(write(tmp_path / "c", duration=6.145, reconnect_at=None))  # the 6.14 s check, then the end
    last = [r for r in rows if r["isakmp.exchangetype"]][-2:]
    assert [r["isakmp.flag_r"] for r in last] == ["0", "1"] and liveness_times(rows)[-1] < 6.145
    assert float(last[1]["frame.time_relative"]) > 6.145  # answered after duration: the run settled


def test_a_child_rekey_due_after_duration_is_not_run(tmp_path: Path) -> None:
    """The first CHILD SA rekey was scheduled whatever ``duration`` said: a 3 s trace with
    ``child_rekey_after=50`` ran the lab to 53 s (its CHILD rekey at 51 s), and ``1e10`` ran it for hours."""
    require_tshark()
    from ikelab.scenario import classic

    for after in (2.0, 50.0):  # 2 s: at auth + 2.05 s, after the 3 s trace
        rows = tshark_rows(write(tmp_path / str(after), duration=3.0, reconnect_at=None, child_rekey_after=after))
        assert ike_requests(rows, 36) == [] and float(rows[-1]["frame.time_relative"]) < 3.0 + 0.1
    sc = classic(duration=3.0, reconnect_at=None, child_rekey_after=1e10)
    assert max(t for t, _ in sc.records()) - sc.start_time < 3.0 + 0.1
    rows = tshark_rows(write(tmp_path / "fits", duration=3.5, reconnect_at=None, child_rekey_after=2.0))
    assert len(ike_requests(rows, 36)) == 1  # auth + 2.05 s < 3.5 s: still rekeyed


def test_start_time_is_the_first_frame_s_time(tmp_path: Path) -> None:
    require_tshark()
    paths = write(tmp_path, duration=2.0, reconnect_at=None, start_time=1_000_000_000.5)
    for which in ("pcap", "pcapng"):
        first = run_fields(paths[which], ["frame.time_epoch"])[0][0]
        assert float(first) == pytest.approx(1_000_000_000.5, abs=1e-6)


def test_lose_first_false_sends_ike_sa_init_once(tmp_path: Path) -> None:
    require_tshark()
    rows = tshark_rows(write(tmp_path, duration=3.0, reconnect_at=None, lose_first=False))
    assert [(r["isakmp.exchangetype"], r["isakmp.flag_r"]) for r in rows[:4]] == [
        ("34", "0"), ("34", "1"), ("35", "0"), ("35", "1")]
    assert float(rows[1]["frame.time_relative"]) == pytest.approx(0.01)


def test_the_esp_proposal_given_is_the_one_on_the_wire(tmp_path: Path) -> None:
    """``esp=`` overrides the suite's: tshark checks the ICVs with HMAC-SHA-384-192 keys of 48 octets."""
    require_tshark()
    paths = write(tmp_path, esp="aes256-sha384", duration=3.0, reconnect_at=None, child_rekey_after=None)
    sas = [line.split(",") for line in _uat_lines(paths["esp_sa"])]
    assert sas and all(sa[4] == '"AES-CBC [RFC3602]"' and sa[6] == '"HMAC-SHA-384-192 [RFC4868]"' for sa in sas)
    assert all(len(sa[5].strip('"')) == 2 + 64 and len(sa[7].strip('"')) == 2 + 96 for sa in sas)
    esp = [r for r in tshark_rows(paths) if r["esp.spi"]]
    assert esp and all(r["esp.icv_good"] == "1" and r["icmp.type"] in ("0", "8") for r in esp)


def test_ipv6_runs_ipv6_inside_too(tmp_path: Path) -> None:
    """``ipv6=True``: IPv6 outside (2001:db8::1, ::2) and the pings inside between the IPv6 networks."""
    require_tshark()
    esp = [r for r in tshark_rows(write(tmp_path, ipv6=True, duration=3.0, reconnect_at=None)) if r["esp.spi"]]
    assert esp and all(r["esp.icv_good"] == "1" for r in esp)
    pairs = {(r["ipv6.src"], r["ipv6.dst"], r["icmpv6.type"]) for r in esp}
    assert pairs == {("2001:db8::1|2001:db8:1::1", "2001:db8::2|2001:db8:2::1", "128"),
                     ("2001:db8::2|2001:db8:2::1", "2001:db8::1|2001:db8:1::1", "129")}


def test_write_names_the_captures_after_name(tmp_path: Path) -> None:
    require_tshark()
    paths = write(tmp_path, duration=3.0, reconnect_at=None)
    other = write(tmp_path / "x", duration=3.0, reconnect_at=None)
    renamed = classic_write_named(tmp_path / "n", "lab-run")
    assert sorted(p.name for p in (tmp_path / "n").iterdir()) == [
        "esp_sa", "ikev2_decryption_table", "lab-run.pcap", "lab-run.pcapng"]
    assert renamed["pcap"].read_bytes() == paths["pcap"].read_bytes() == other["pcap"].read_bytes()
    assert tshark_rows(renamed, "pcapng") == tshark_rows(renamed, "pcap")


def classic_write_named(directory: Path, name: str) -> dict[str, Path]:
    from ikelab.scenario import classic

    return classic(seed=5, duration=3.0, reconnect_at=None).write(directory, name=name)


def test_timeline_limits_are_inclusive() -> None:
    """Exactly MAX_STEPS steps is not "more than" MAX_STEPS; a rekey at once (0 s) is "0 or more"."""
    from ikelab.scenario import MAX_STEPS, classic

    step = 2.0**-4  # exact in binary: duration / step is exactly MAX_STEPS
    classic(duration=MAX_STEPS * step, ping_interval=1.0, liveness_interval=step, reconnect_at=None,
            child_rekey_after=None)
    sc = classic(duration=4.0, reconnect_at=None, child_rekey_after=0)
    assert sc.settings["child_rekey_after"] == 0


# ------------------------------------------------------------------ ikelab demo's options and what it prints


def test_demo_seed_reaches_the_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--seed 7`` writes what ``classic(seed=7)`` writes, and not the default capture."""
    from ikelab.scenario import classic

    assert main(["demo", "--out", str(tmp_path / "demo"), "--seed", "7"]) == 0
    capsys.readouterr()
    expected = classic(seed=7).write(tmp_path / "lib")
    root = Path(__file__).resolve().parent.parent / "data"
    for key, path in expected.items():
        written = (tmp_path / "demo" / path.name).read_bytes()
        assert written == path.read_bytes() and written != (root / path.name).read_bytes(), key


def test_demo_prints_every_file_it_writes_and_the_pcap_for_tshark(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The 'wrote' lines name exactly the files in the output directory; the tshark command reads the .pcap
    (as the README says) and its configuration directory is the output directory."""
    d = tmp_path / "out dir"
    assert main(["demo", "--out", str(d)]) == 0
    lines = capsys.readouterr().out.splitlines()
    wrote = [line.removeprefix("wrote ") for line in lines if line.startswith("wrote ")]
    assert sorted(wrote) == sorted(str(p) for p in d.iterdir()) and len(wrote) == 5
    argv = shlex.split(lines[lines.index("Decrypt it with tshark:") + 1])
    assert argv[:4] == [f"WIRESHARK_CONFIG_DIR={d}", "tshark", "-r", str(d / "ikev2-lab.pcap")]


def test_a_flow_png_that_cannot_be_written_is_named_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """As the capture and the key tables say it: the reason once, not Python's '[Errno 21] ...: path' again."""
    d = tmp_path / "d"
    (d / "flow.png").mkdir(parents=True)
    assert main(["demo", "--out", str(d)]) == 2
    err = capsys.readouterr().err
    assert err == f"ikelab demo: error: cannot write the figure to '{d / 'flow.png'}': Is a directory\n"
