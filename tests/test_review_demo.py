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

from tshark_util import require_tshark


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


def test_a_flow_png_that_cannot_be_written_is_named_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """As the capture and the key tables say it: the reason once, not Python's '[Errno 21] ...: path' again."""
    d = tmp_path / "d"
    (d / "flow.png").mkdir(parents=True)
    assert main(["demo", "--out", str(d)]) == 2
    err = capsys.readouterr().err
    assert err == f"ikelab demo: error: cannot write the figure to '{d / 'flow.png'}': Is a directory\n"
