"""The stock strongSwan configuration in docs/strongswan.md works with the documented ``ikelab connect`` command.

The swanctl.conf block and the command line are read from the document
itself, so the documentation cannot drift from what works.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from interop.charon import Charon
from interop.ikelab_peer import _env, check_keys_against_charon
from ikelab.wireshark import read_tables

pytestmark = pytest.mark.strongswan

DOC = Path(__file__).resolve().parents[2] / "docs" / "strongswan.md"


def _section() -> str:
    text = DOC.read_text()
    start = text.index("### A stock strongSwan responder")
    return text[start:text.index("### What the interop tests check", start)]


def documented_swanctl_conf() -> str:
    return re.findall(r"```\n(.*?)```", _section(), re.S)[0]


def documented_command() -> list[str]:
    block = re.findall(r"```\n(.*?)```", _section(), re.S)[1]
    line = block[block.index("$ ikelab connect"):].split("\nikelab connect:")[0]
    return shlex.split(line[2:].replace("\\\n", " "))


def documented_packets() -> list[str]:
    """The packet lines of the documented run, without their number and time: protocol, ports, length, info."""
    block = re.findall(r"```\n(.*?)```", _section(), re.S)[1]
    return [_packet(line) for line in block.splitlines() if re.match(r"\s+\d+\s+\d+\.\d{3}\s", line)]


def _packet(line: str) -> str:
    """A packet line without its number, its time and the ESP SPI, which change from run to run."""
    return re.sub(r"SPI=0x[0-9a-f]+", "SPI=...", " ".join(line.split()[2:]))


def test_documented_stock_config_and_command(netns_pair, charon_factory, tmp_path: Path) -> None:
    net = netns_pair
    conf = documented_swanctl_conf()
    assert "local_addrs = 192.0.2.2" in conf and "remote_addrs = 192.0.2.1" in conf  # the harness's addresses
    bob: Charon = charon_factory(net.b, "bob", swanctl_conf=conf)
    bob.load_all()
    argv = documented_command()
    assert argv[:2] == ["ikelab", "connect"]
    # shorter times for the test, files in tmp_path
    settings = {"--rekey-after": "0.3", "--duration": "0.3", "--keys": str(tmp_path / "keys"),
                "--pcap": str(tmp_path / "run.pcap"), "--psk-file": str(tmp_path / "psk.txt")}
    for flag, value in settings.items():
        argv[argv.index(flag) + 1] = value
    (tmp_path / "psk.txt").write_text("ikelab-interop-psk\n")
    result = net.a.run(sys.executable, "-m", "ikelab", *argv[1:], timeout=40, check=False, env=_env())
    out = result.stdout + result.stderr
    assert result.returncode == 0, out + bob.diagnostics()
    assert "ping 198.51.100.1 -> 203.0.113.1 through ESP (first CHILD SA): 3 sent, 3 replies" in out, out
    assert "(after rekey): 3 sent, 3 replies" in out, out
    assert "198.51.100.1/32 === 203.0.113.0/24, UDP-encapsulated" in out  # charon narrowed TSi to the /32
    assert check_keys_against_charon(read_tables(tmp_path / "keys"), bob.keys()) == 2
    # the transcript in the document shows what a run prints: its packet lines (sizes included) come, in its
    # order, among the real run's (it once showed a 256-byte IKE_AUTH request from before N(INITIAL_CONTACT))
    seen = iter(_packet(line) for line in result.stdout.splitlines() if re.match(r"\s+\d+\s+\d+\.\d{3}\s", line))
    missing = [line for line in documented_packets() if not any(line == real for real in seen)]
    assert not missing, f"docs/strongswan.md shows packets this run did not print: {missing}\n{result.stdout}"
