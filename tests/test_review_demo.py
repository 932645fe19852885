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


def test_a_flow_png_that_cannot_be_written_is_named_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """As the capture and the key tables say it: the reason once, not Python's '[Errno 21] ...: path' again."""
    d = tmp_path / "d"
    (d / "flow.png").mkdir(parents=True)
    assert main(["demo", "--out", str(d)]) == 2
    err = capsys.readouterr().err
    assert err == f"ikelab demo: error: cannot write the figure to '{d / 'flow.png'}': Is a directory\n"
