"""``ikelab demo``, ``ikelab dissect`` and ``ikelab flow``.

The demo's printed tshark command is run as printed (through a shell): tshark
4.0 must load both key tables and decrypt the IKE messages and the ESP
packets.  The demo with no options must reproduce the committed ``data/``
capture byte for byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ikelab.cli import main
from ikelab.errors import WeakAlgorithmError, WeakAlgorithmWarning

from tshark_util import require_tshark

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ikelab", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    cwd = tmp_path_factory.mktemp("demo")
    result = run_cli("demo", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return cwd, result.stdout


def test_demo_writes_the_files(demo: tuple[Path, str]) -> None:
    cwd, out = demo
    d = cwd / "ikelab-demo"
    for name in ("ikev2-lab.pcap", "ikev2-lab.pcapng", "ikev2_decryption_table", "esp_sa", "flow.png"):
        assert (d / name).stat().st_size > 0, name
    for name in ("ikev2-lab.pcap", "ikev2-lab.pcapng", "ikev2_decryption_table", "esp_sa"):
        assert (d / name).read_bytes() == (ROOT / "data" / name).read_bytes(), name  # fixed defaults
    lines = out.splitlines()
    assert lines[0].split() == ["No.", "Time", "Source", "Destination", "Protocol", "Length", "Info"]
    assert "IKE_SA_INIT MID=00 Initiator Request" in lines[1] and "IKE_SA_INIT MID=00 Initiator Request" in lines[2]
    assert any("HDR, SK {IDi, AUTH, SAi2, TSi, TSr}" in line for line in lines)
    assert any("ESP (SPI=0x" in line and "Echo (ping) request" in line for line in lines)


def test_demo_output_is_stable(demo: tuple[Path, str], tmp_path: Path) -> None:
    _, first = demo
    again = run_cli("demo", cwd=tmp_path)
    assert again.returncode == 0 and again.stdout == first


def test_the_printed_tshark_command_decrypts(demo: tuple[Path, str]) -> None:
    require_tshark()
    cwd, out = demo
    lines = out.splitlines()
    command = lines[lines.index("Decrypt it with tshark:") + 1].strip()
    assert command.startswith("WIRESHARK_CONFIG_DIR=") and " tshark " in command
    env = dict(os.environ, HOME=str(cwd))
    result = subprocess.run(command, shell=True, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0 and "Error" not in result.stderr, result.stderr
    text = result.stdout
    assert "IKE_AUTH MID=01 Initiator Request" in text and "CREATE_CHILD_SA MID=02" in text
    assert text.count("Echo (ping) request") >= 20 and " ESP " not in text  # every ESP packet decrypted
    fields = subprocess.run(command + " -T fields -e isakmp.enc.decrypted -e esp.icv_good -e _ws.col.Info",
                            shell=True, cwd=cwd, capture_output=True, text=True, timeout=300, env=env).stdout
    assert "0" not in [f.split("\t")[1] for f in fields.splitlines() if f.split("\t")[1]]


def test_dissect_json(demo: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    cwd, _ = demo
    d = cwd / "ikelab-demo"
    assert main(["dissect", str(d / "ikev2-lab.pcap"), "--keys", str(d), "--json"]) == 0
    objs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(objs) > 80
    auth = objs[3]
    assert (auth["exchange"], auth["payloads"], auth["decrypted"], auth["icv_ok"]) == ("IKE_AUTH", ["SK"], True, True)
    assert auth["inner_payloads"] == ["IDi", "AUTH", "SA", "TSi", "TSr"]
    assert all(o["decrypted"] for o in objs if o["protocol"] == "ESP")
    assert main(["dissect", str(d / "ikev2-lab.pcap")]) == 0  # no keys: still a packet list
    text = capsys.readouterr().out
    assert "ESP (SPI=0x" in text and "SK {...}" in text


def test_flow_command(demo: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cwd, _ = demo
    d = cwd / "ikelab-demo"
    out = tmp_path / "f.png"
    assert main(["flow", str(d / "ikev2-lab.pcap"), "--keys", str(d), "-o", str(out), "--timeline"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG" and "arrows" in capsys.readouterr().out


def test_errors_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dissect", str(tmp_path / "missing.pcap")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ikelab dissect: error:") and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"garbage!")
    assert main(["flow", str(bad), "-o", str(tmp_path / "x.png")]) == 2
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "esp_sa").write_text('"IPv4","a","b"\n')
    assert main(["dissect", str(bad), "--keys", str(tmp_path / "keys")]) == 2
    assert "line 1" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "d"), "--suite", "bogus-suite"]) == 2
    capsys.readouterr()
    # a list, as --proposal takes it, once read as one keyword 'modp2048,aes256'
    assert main(["demo", "--out", str(tmp_path / "d"), "--suite", "aes128-sha256-modp2048,aes256-sha384-x25519"]) == 2
    assert "give one proposal, not a comma-separated list" in capsys.readouterr().err


def test_flow_of_a_capture_without_ike_says_how_to_draw_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ikelab.packet import icmp_echo
    from ikelab.pcap import LINKTYPE_RAW, write_pcap

    plain = tmp_path / "ping.pcap"
    write_pcap(plain, [(0.0, icmp_echo("192.0.2.1", "192.0.2.2", 1, 1, b"x"))], linktype=LINKTYPE_RAW)
    assert main(["flow", str(plain), "-o", str(tmp_path / "p.png")]) == 0
    assert capsys.readouterr().out.endswith("(0 arrows): no IKE or ESP packet in it; --all draws every frame\n")
    assert main(["flow", str(plain), "-o", str(tmp_path / "p.png"), "--all"]) == 0
    assert capsys.readouterr().out.endswith("(1 arrow)\n")


def test_flow_of_ike_on_another_port_points_at_ike_port(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A capture of ``connect``/``respond --port 5680`` holds IKE that only ``--ike-port`` reads as IKE; the
    hint used to point at ``--all`` alone."""
    from ikelab.config import IkeConfig
    from ikelab.lab import Lab
    from ikelab.packet import ip_udp
    from ikelab.pcap import LINKTYPE_RAW, write_pcap

    base = dict(psk=b"a shared secret", cookie_threshold=None)
    lab = Lab(IkeConfig(local_id="moon.example", remote_id="sun.example", **base),
              IkeConfig(local_id="sun.example", remote_id="moon.example", **base), seed=1)
    lab.initiate()
    lab.run_until_idle()
    ports = {"192.0.2.1": 5681, "192.0.2.2": 5680}
    capture = tmp_path / "run.pcap"
    write_pcap(capture, [(p.time, ip_udp(p.src, p.dst, ports[p.src], ports[p.dst], p.payload))
                         for p in lab.trace[:4]], linktype=LINKTYPE_RAW)
    assert main(["flow", str(capture), "-o", str(tmp_path / "f")]) == 0
    assert capsys.readouterr().out.endswith(
        "(0 arrows): no IKE or ESP packet in it; --all draws every frame, and --ike-port N reads UDP port N as "
        "IKE (UDP ports here: 5680, 5681)\n")
    assert main(["flow", str(capture), "-o", str(tmp_path / "f"), "--ike-port", "5680"]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'f'} (4 arrows)\n"
    assert (tmp_path / "f").read_bytes().startswith(b"\x89PNG")  # the file named, not f.png beside it
    assert not (tmp_path / "f.png").exists()


def test_flow_takes_any_capture_file_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The title carries the file name: ``$\\foo$`` in it was once parsed as matplotlib maths and crashed."""
    from ikelab.packet import icmp_echo
    from ikelab.pcap import LINKTYPE_RAW, write_pcap

    odd = tmp_path / "a$\\foo$.pcap"
    write_pcap(odd, [(0.0, icmp_echo("192.0.2.1", "192.0.2.2", 1, 1, b"x"))], linktype=LINKTYPE_RAW)
    assert main(["flow", str(odd), "-o", str(tmp_path / "odd.svg"), "--all"]) == 0
    assert "a$\\foo$.pcap" in (tmp_path / "odd.svg").read_text()  # drawn as typed
    assert main(["flow", str(odd), "-o", str(tmp_path)]) == 2  # a directory
    assert "cannot write the figure to" in capsys.readouterr().err


def test_flow_of_a_file_whose_name_is_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file name with bytes that are not UTF-8 (Latin-1 ``caf\xe9.pcap``): Python keeps them as lone
    surrogates, which matplotlib's font code refused with a TypeError; the title shows U+FFFD for them."""
    from ikelab.packet import icmp_echo
    from ikelab.pcap import LINKTYPE_RAW, write_pcap

    odd = tmp_path / os.fsdecode(b"caf\xe9.pcap")
    write_pcap(odd, [(0.0, icmp_echo("192.0.2.1", "192.0.2.2", 1, 1, b"x"))], linktype=LINKTYPE_RAW)
    assert main(["flow", str(odd), "-o", str(tmp_path / "odd.svg"), "--all"]) == 0
    assert "caf\ufffd.pcap" in (tmp_path / "odd.svg").read_text(encoding="utf-8")


def test_demo_takes_any_seed_text(tmp_path: Path) -> None:
    """The seed is printed in the figure's title: ``$\\frac{$`` there was parsed as matplotlib maths and
    crashed after the capture was written; a seed that is not UTF-8 text is a one-line error."""
    result = run_cli("demo", "--out", "d", "--seed", "$\\frac{$", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "d" / "flow.png").read_bytes().startswith(b"\x89PNG")
    result = run_cli("demo", "--out", "e", "--seed", os.fsdecode(b"a\xff"), cwd=tmp_path)
    assert result.returncode == 2 and "is not valid UTF-8 text" in result.stderr and "Traceback" not in result.stderr


def test_weak_suite_needs_allow_weak_and_then_warns_once_each(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A weak suite is refused with the flag to use named; with --allow-weak the run says why, in one line each."""
    argv = ["demo", "--out", str(tmp_path / "d"), "--suite", "3des-md5-modp1024"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("ikelab demo: error:") and "weak" in err and "--allow-weak" in err
    assert main([*argv, "--allow-weak"]) == 0
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert lines and all(line.startswith("ikelab demo: warning: ") for line in lines), err  # no source lines
    # one line per weak algorithm, though every IKE SA of the run warns again, and the proposal keyword,
    # the ESP proposal and the algorithm itself each warn: 3DES, HMAC-MD5 and MODP_1024 named in the
    # suite, and PRF_HMAC_MD5, which the suite implies (strongSwan's rule)
    assert len(lines) == 4, err
    assert [sum(word in line for line in lines) for word in ("'3des' in", "'md5' in", "MODP_1024", "PRF_HMAC_MD5")] == [1] * 4
    assert "ESP (SPI=0x" in out and (tmp_path / "d" / "ikev2-lab.pcap").stat().st_size > 0


def test_weak_suite_capture_decrypts_in_tshark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """tshark, not ikelab, judges the weak demo: 3DES + HMAC-SHA1-96 ESP decrypts with good ICVs from the tables."""
    require_tshark()
    d = tmp_path / "weak"
    assert main(["demo", "--out", str(d), "--suite", "3des-sha1-modp1024", "--allow-weak"]) == 0
    out = capsys.readouterr().out
    command = out.splitlines()[out.splitlines().index("Decrypt it with tshark:") + 1].strip()
    env = dict(os.environ, HOME=str(tmp_path))
    fields = subprocess.run(command + " -T fields -e isakmp.enc.decrypted -e esp.icv_good -e _ws.col.Info",
                            shell=True, capture_output=True, text=True, timeout=300, env=env, check=True).stdout
    rows = [f.split("\t") for f in fields.splitlines()]
    assert sum("Echo (ping)" in info for _, _, info in rows) >= 8
    assert [icv for _, icv, _ in rows if icv] and all(icv == "1" for _, icv, _ in rows if icv)  # every ICV good
    assert not any(" ESP " in info or info.startswith("ESP") for _, _, info in rows)  # none left encrypted


@pytest.mark.parametrize("command", [["connect", "192.0.2.2"], ["respond", "--listen", "192.0.2.1"]])
def test_live_commands_take_allow_weak(tmp_path: Path, command: list[str]) -> None:
    from ikelab.cli import _live_config, build_parser

    psk = tmp_path / "psk"
    psk.write_text("a secret")
    argv = [*command, "--id", "moon.example", "--psk-file", str(psk), "--proposal", "aes128-sha1-modp1024"]
    with pytest.raises(WeakAlgorithmError):
        _live_config(build_parser().parse_args(argv))
    with pytest.warns(WeakAlgorithmWarning, match="MODP_1024"):
        config = _live_config(build_parser().parse_args([*argv, "--allow-weak"]))
    assert config.allow_weak is True


def test_unwritable_outputs_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An output path that cannot be written is named in one line (exit 2), never an OSError traceback."""
    from ikelab.errors import CaptureError
    from ikelab.pcap import write_pcap, write_pcapng
    from ikelab.wireshark import write_tables

    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    assert main(["demo", "--out", str(a_file / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ikelab demo: error: cannot create the output directory") and len(err.splitlines()) == 1
    for write in (write_pcap, write_pcapng):
        with pytest.raises(CaptureError, match="cannot write capture .*missing"):
            write(tmp_path / "missing" / "x.pcap", [])
    with pytest.raises(CaptureError, match="cannot write key tables into"):
        write_tables(a_file, [], [])
    psk = tmp_path / "psk"
    psk.write_text("a secret")
    live = ["--id", "moon.example", "--psk-file", str(psk)]
    # refused before any packet is sent: the capture and tables are only written when the run ends
    for pcap in (tmp_path / "missing" / "run.pcap", tmp_path):  # no such folder; a directory
        assert main(["connect", "192.0.2.2", *live, "--pcap", str(pcap)]) == 2
        assert "ikelab connect: error: --pcap" in capsys.readouterr().err
    assert main(["respond", "--listen", "192.0.2.1", *live, "--keys", str(a_file)]) == 2
    assert "ikelab respond: error: --keys" in capsys.readouterr().err


def test_demo_says_which_sas_wireshark_4_0_cannot_decrypt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ChaCha20-Poly1305 has no name in Wireshark 4.0: the demo says so, and the ikelab command that decrypts all."""
    d = tmp_path / "chacha"
    assert main(["demo", "--out", str(d), "--suite", "chacha20poly1305-prfsha256-x25519"]) == 0
    out = capsys.readouterr().out
    assert "Wireshark 4.0 has no name for ChaCha20 with Poly1305 [RFC7634], ENCR_CHACHA20_POLY1305" in out
    command = out.strip().splitlines()[-1].strip()
    assert command == f"ikelab dissect {d / 'ikev2-lab.pcap'} --keys {d}"
    assert main(command.split()[1:]) == 0
    rows = capsys.readouterr().out
    assert "[ICMP] Echo (ping) request" in rows and "HDR, SK {IDi, AUTH, SAi2, TSi, TSr}" in rows
    assert main(["demo", "--out", str(tmp_path / "default")]) == 0
    assert "has no name" not in capsys.readouterr().out
