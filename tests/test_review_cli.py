"""Review of ``ikelab`` (cli.py): bad options found by probing ``main`` give exit status 2 and a message that
names the option, instead of going on with a value that could not be meant.

The connect / respond cases fail before any socket opens; the loopback ports and ``--wait 1`` only bound what
an older ikelab did with them (it went on and ran)."""

from __future__ import annotations

import os

import pytest

from ikelab.cli import main

#: a live run that, if it got as far as the network, would end within about a second on the loopback
_CONNECT = ["connect", "127.0.0.1", "--port", "15611", "--local-port", "15610", "--id", "a.example",
            "--wait", "1", "--retransmit-timeout", "0.2", "--retransmit-tries", "0"]
_RESPOND = ["respond", "--listen", "127.0.0.1", "--port", "15612", "--id", "a.example", "--wait", "1",
            "--retransmit-timeout", "0.2", "--retransmit-tries", "0"]


def _refused(capsys, argv: list[str]) -> str:
    """The one error line of ``ikelab ARGV``, which must exit 2 and print nothing on stdout."""
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err and err.count("\n") == 1
    return err


def test_demo_out_empty_is_refused_not_the_current_directory(capsys, tmp_path, monkeypatch) -> None:
    """``demo --out ''`` (``--out "$DIR"`` with DIR unset) wrote the capture, key tables and flow.png into the
    current directory, as Path('') is '.', and exited 0."""
    monkeypatch.chdir(tmp_path)
    err = _refused(capsys, ["demo", "--out", ""])
    assert err == "ikelab demo: error: --out: the path is empty; give a directory\n"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("command", ["dissect", "flow"])
def test_keys_empty_is_refused_not_read_as_the_current_directory(capsys, tmp_path, command: str) -> None:
    """``dissect CAPTURE --keys ''`` complained about key directory '.', a name the user never typed (and read
    the tables of the current directory where there were some)."""
    capture = tmp_path / "c.pcap"
    capture.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))  # a header, no packet
    extra = ["-o", str(tmp_path / "f.png")] if command == "flow" else []
    err = _refused(capsys, [command, str(capture), "--keys", "", *extra])
    assert err == f"ikelab {command}: error: --keys: the path is empty; give a directory\n"


@pytest.mark.parametrize("argv, said", [
    # these once said "give --psk-file FILE, or --cert FILE --key FILE --ca FILE" to a user who had given them
    (["--psk-file", ""], "--psk-file: the path is empty; give a file"),
    (["--cert", "", "--key", "k.pem", "--ca", "ca.pem"], "--cert: the path is empty; give a file"),
    # and this one "--cert needs --key and --ca", which were there
    (["--cert", "c.pem", "--key", "", "--ca", "ca.pem"], "--key: the path is empty; give a file"),
    (["--cert", "c.pem", "--key", "k.pem", "--ca", ""], "--ca: the path is empty; give a file"),
])
@pytest.mark.parametrize("command", [_CONNECT, _RESPOND])
def test_an_empty_credential_path_is_named(capsys, command: list[str], argv: list[str], said: str) -> None:
    err = _refused(capsys, [*command, *argv])
    assert err == f"ikelab {command[0]}: error: {said}\n"


@pytest.mark.parametrize("option, what", [("--pcap", "a file"), ("--keys", "a directory")])
def test_an_empty_output_path_of_a_live_run_is_refused(capsys, tmp_path, option: str, what: str) -> None:
    """``connect --pcap ''`` ran and wrote no capture, without a word: the empty path read as no option."""
    psk = tmp_path / "psk"
    psk.write_text("a secret of some length")
    err = _refused(capsys, [*_CONNECT, "--psk-file", str(psk), option, ""])
    assert err == f"ikelab connect: error: {option}: the path is empty; give {what}\n"


def test_a_psk_file_beside_an_empty_cert_is_not_silently_psk(capsys, tmp_path) -> None:
    """``--psk-file F --cert ''`` went on with the PSK, ignoring the certificate option that was given."""
    psk = tmp_path / "psk"
    psk.write_text("a secret of some length")
    err = _refused(capsys, [*_RESPOND, "--psk-file", str(psk), "--cert", ""])
    assert err == "ikelab respond: error: --cert: the path is empty; give a file\n"


@pytest.mark.parametrize("peer", ["127.0.0.1", "::1"])
def test_connect_local_empty_is_an_error_not_the_default_address(capsys, tmp_path, peer: str) -> None:
    """``connect --local ''`` bound the default address as if --local were not given (and with an IPv6 peer
    would have said the empty address is IPv4)."""
    psk = tmp_path / "psk"
    psk.write_text("a secret of some length")
    err = _refused(capsys, ["connect", peer, *_CONNECT[2:], "--psk-file", str(psk), "--local", ""])
    assert err == "ikelab connect: error: local address '' is not an IP address\n"


@pytest.mark.parametrize("ping, src", [("10.0.0.1", "::1"), ("2001:db8::1", "10.0.0.2")])
@pytest.mark.parametrize("command", [_CONNECT, _RESPOND])
def test_ping_and_ping_src_of_two_ip_versions_are_refused_before_the_run(capsys, tmp_path, command: list[str],
                                                                        ping: str, src: str) -> None:
    """The mismatch was found only after the handshake, when the first echo was built: the run ended there with
    exit 2 and left the IKE SA up on the peer without a DELETE."""
    psk = tmp_path / "psk"
    psk.write_text("a secret of some length")
    err = _refused(capsys, [*command, "--psk-file", str(psk), "--ping", ping, "--ping-src", src])
    v_src, v_ping = (6, 4) if ":" in src else (4, 6)
    assert err == (f"ikelab {command[0]}: error: ping_src (--ping-src) = '{src}' is IPv{v_src} but ping (--ping) = "
                   f"'{ping}' is IPv{v_ping}: an echo's source and destination have one IP version\n")


@pytest.mark.parametrize("command, option, said", [
    (_CONNECT, "--vip", "--vip is empty: give an address per family (0.0.0.0 or :: for any), or leave --vip out"),
    (_RESPOND, "--pool", "--pool is empty: give a network per family, e.g. 10.3.0.0/24, or leave --pool out"),
])
@pytest.mark.parametrize("value", ["", ","])
def test_an_empty_vip_or_pool_says_what_the_option_takes(capsys, tmp_path, command: list[str], option: str,
                                                         said: str, value: str) -> None:
    """The message was IkeConfig's: "give one address per family, or None for no virtual IP", with a Python
    None no one can type, and an address where --pool takes a network."""
    psk = tmp_path / "psk"
    psk.write_text("a secret of some length")
    err = _refused(capsys, [*command, "--psk-file", str(psk), option, value])
    assert err == f"ikelab {command[0]}: error: {said}\n" and "None" not in err


@pytest.mark.parametrize("command", [_CONNECT, _RESPOND])
def test_ping_src_without_ping_is_refused_not_ignored(capsys, tmp_path, command: list[str]) -> None:
    """``--ping-src 10.1.0.9`` alone sent no echo and said nothing of the option it dropped."""
    psk = tmp_path / "psk"
    psk.write_text("a secret of some length")
    err = _refused(capsys, [*command, "--psk-file", str(psk), "--ping-src", "10.1.0.9"])
    assert err == (f"ikelab {command[0]}: error: --ping-src 10.1.0.9 needs --ping ADDR, the inner address to send "
                   "the echoes to\n")


@pytest.mark.parametrize("option, said", [
    ("--pcap", "--pcap {path}: cannot write a file there (a directory, or no such writable folder)"),
    ("--keys", "--keys {path}: no such writable folder to make it in"),
], ids=["pcap", "keys"])
def test_an_output_path_under_a_file_is_refused_before_the_run(capsys, tmp_path, option: str, said: str) -> None:
    """``--pcap notes.txt/run.pcap`` passed the check made before the run (a writable file passed for a writable
    folder), and the run failed only at its end, with the capture of the whole run lost."""
    psk = tmp_path / "psk"
    psk.write_text("a secret of some length")
    path = str(tmp_path / "psk" / "run.pcap")
    err = _refused(capsys, [*_CONNECT, "--psk-file", str(psk), option, path])
    assert err == "ikelab connect: error: " + said.format(path=path) + "\n"
