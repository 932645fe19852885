"""Helpers for tests that check ikelab's output with Wireshark's tshark.

Usage in a test module::

    from tshark_util import require_tshark, run_pdml, write_udp_pcap

    def test_something(tmp_path):
        tshark = require_tshark()          # skips, or fails under CI=true
        pcap = write_udp_pcap(tmp_path / "x.pcap", [(ike_bytes, 500)])
        packets = run_pdml(pcap)           # one <packet> element per frame

* :func:`require_tshark` finds ``tshark``; when it is missing the test is
  skipped with a clear reason, except under ``CI=true`` where it fails.
* :func:`write_udp_pcap` frames IKE messages (port 500, or 4500 with the
  Non-ESP Marker) or any UDP payload in Ethernet/IPv4/UDP and writes a pcap
  with ``ikelab.packet`` and ``ikelab.pcap``.
* :func:`run_tshark` runs tshark with a private configuration directory
  (``XDG_CONFIG_HOME``) holding optional ``ikev2_decryption_table`` and
  ``esp_sa`` UAT files, so the user's Wireshark profile is never read or
  changed.  :func:`run_pdml` parses ``-T pdml`` output; :func:`run_fields`
  returns ``-T fields`` columns.
* :func:`ikev2_uat_line` formats one ``ikev2_decryption_table`` row (SPIs and
  keys in hex, algorithm names as in Wireshark's ``packet-isakmp.c``).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from typing import Iterable, Sequence

import pytest

NON_ESP_MARKER = b"\x00\x00\x00\x00"


def tshark_path() -> str | None:
    """The tshark executable, or None."""
    return shutil.which("tshark")


def require_tool(name: str) -> str:
    """The path of a Wireshark command-line tool (tshark, editcap, text2pcap, mergecap).

    Skips the test when it is missing, except under ``CI=true``, where CI must
    have installed it and a missing tool is a failure.
    """
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{name} is required under CI=true: apt-get install tshark")
        pytest.skip(f"{name} (Wireshark) is not installed: apt-get install tshark")
    return path


def require_tshark() -> str:
    """The tshark path; skip the test when it is missing (fail under CI=true)."""
    return require_tool("tshark")


def write_udp_pcap(
    path: os.PathLike | str,
    messages: Iterable[tuple[bytes, int]],
    *,
    src: str = "192.0.2.1",
    dst: str = "192.0.2.2",
    marker: bool = True,
) -> pathlib.Path:
    """Write ``(payload, port)`` pairs as Ethernet/IP/UDP frames, one second apart.

    With ``marker`` (the default) a payload sent to port 4500 gets the
    four-zero-octet Non-ESP Marker in front (RFC 3948 2.2), as IKE needs.
    """
    from ikelab.packet import ethernet, ip_udp
    from ikelab.pcap import write_pcap

    records = []
    for i, (payload, port) in enumerate(messages):
        udp_payload = NON_ESP_MARKER + payload if (port == 4500 and marker) else payload
        records.append((1_700_000_000.0 + i, ethernet(ip_udp(src, dst, port, port, udp_payload))))
    write_pcap(str(path), records)
    return pathlib.Path(path)


def ikev2_uat_line(spi_i: bytes, spi_r: bytes, sk_ei: bytes, sk_er: bytes, encr_name: str, sk_ai: bytes, sk_ar: bytes, integ_name: str) -> str:
    """One ``ikev2_decryption_table`` row: hex fields unquoted, algorithm names quoted."""
    return ",".join([spi_i.hex(), spi_r.hex(), sk_ei.hex(), sk_er.hex(), f'"{encr_name}"', sk_ai.hex(), sk_ar.hex(), f'"{integ_name}"'])


def run_tshark(pcap: os.PathLike | str, args: Sequence[str], *, ikev2_keys: Sequence[str] = (), esp_sa: Sequence[str] = (), timeout: float = 60) -> str:
    """Run ``tshark -r pcap *args`` with a private config dir; return stdout (stderr is dropped)."""
    tshark = require_tshark()
    with tempfile.TemporaryDirectory(prefix="ikelab-tshark-") as home:
        conf = pathlib.Path(home) / "wireshark"
        conf.mkdir()
        if ikev2_keys:
            (conf / "ikev2_decryption_table").write_text("\n".join(ikev2_keys) + "\n")
        if esp_sa:
            (conf / "esp_sa").write_text("\n".join(esp_sa) + "\n")
        env = dict(os.environ, XDG_CONFIG_HOME=home, HOME=home)
        result = subprocess.run(
            [tshark, "-n", "-r", str(pcap), *args],
            capture_output=True,
            env=env,
            timeout=timeout,
            check=False,
        )
    if result.returncode != 0:
        raise AssertionError(f"tshark failed ({result.returncode}): {result.stderr.decode(errors='replace')}")
    return result.stdout.decode("utf-8", errors="replace")


def run_pdml(pcap: os.PathLike | str, **kwargs: object) -> list[ET.Element]:
    """The ``<packet>`` elements of ``tshark -T pdml``."""
    text = run_tshark(pcap, ["-T", "pdml"], **kwargs)  # type: ignore[arg-type]
    return ET.fromstring(text).findall("packet")


def run_fields(pcap: os.PathLike | str, fields: Sequence[str], **kwargs: object) -> list[list[str]]:
    """``tshark -T fields -e f1 -e f2 ...``: one list of column strings per frame."""
    args = ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in fields:
        args += ["-e", f]
    text = run_tshark(pcap, args, **kwargs)  # type: ignore[arg-type]
    return [line.split("\t") for line in text.splitlines()]


def proto(packet: ET.Element, name: str) -> ET.Element | None:
    """The ``<proto name=...>`` element of one PDML packet."""
    return packet.find(f"proto[@name='{name}']")
