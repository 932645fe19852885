"""Endurance against strongSwan's charon: a rekey storm from both sides under steady ESP traffic (RFC 7296 1.3.2,
1.3.3, 1.4, 2.4, 2.8, 2.18; RFC 4303; RFC 3948).

``ikelab connect`` (namespace A) talks to charon (B), and charon (A) initiates to ``ikelab respond`` (B), for
about 20 s each, with charon's lifetimes short (its CHILD SA rekeyed every 2-3 s, its IKE SA every 5-6 s,
``rand_time`` jitter, PFS in every CHILD SA rekey, liveness checks both ways) and ikelab rekeying the CHILD SA
and the IKE SA itself too (``--rekey-after``, ``--rekey-ike-after``), while charon's kernel pings ikelab's inner
address every 0.15 s through the CHILD SA (ikelab's userspace ESP answers each echo on its own outbound SA).
Checked:

* every echo is answered across every rekey: RFC 7296 2.8 keeps the old SA until the new one is in use on both
  sides, so that "no packet in flight is lost" (charon's ``delete_rekeyed_delay`` keeps its old inbound SA too);
* while it runs, each time neither side is in the middle of an exchange (ikelab's output does not change across
  ``swanctl --list-sas``), ikelab's SAs and charon's agree: every CHILD SA charon has INSTALLED ikelab holds with
  the same SPIs, every CHILD SA ikelab holds charon knows, and ikelab's current IKE SA is one of charon's;
* ikelab's ``--keys`` tables carry the keys charon logged for every IKE SA and CHILD SA of the run, and with them
  tshark decrypts every IKE message and every ESP packet of the whole run, in ikelab's own ``--pcap`` and in a
  capture taken on the wire;
* ikelab ends with DELETE (``ikelab connect`` at ``--duration``) or follows charon's DELETE (``ikelab respond``),
  exits 0, printed no traceback, and charon is left with no SA.

About 20 s a test on 2 cores.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from interop.capture import Capture
from interop.ikelab_peer import (check_keys_against_charon, read_keys, respond, start_connect, tshark_decrypts)
from interop.scenarios import setup_charon

pytestmark = [pytest.mark.strongswan, pytest.mark.usefixtures("tshark_env")]

SUITE = "aes128-sha256-ecp256"
ESP = "aes128-sha256-ecp256"  # PFS: a KE payload in every CREATE_CHILD_SA (RFC 7296 1.3.1)
#: charon's IKE SA rekeyed every 5-6 s, its CHILD SA every 2-3 s (rand_time subtracts up to 1 s), a liveness
#: check after 2 idle seconds
CHARON_IKE = {"rekey_time": "6s", "over_time": "4s", "rand_time": "1s", "dpd_delay": "2s"}
CHARON_CHILD = {"rekey_time": "3s", "life_time": "6s", "rand_time": "1s"}
PING_INTERVAL, PINGS = 0.15, 100


def paced_pings(dst: str, src: str, count: int, interval: float, timeout: float = 1.0) -> list[int]:
    """In a namespace: ``count`` ICMP echoes from ``src`` to ``dst``, one every ``interval`` seconds, each waiting
    up to ``timeout`` for its reply; the sequence numbers that got no reply."""
    import os
    import socket

    def checksum(data: bytes) -> int:
        total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
        while total >> 16:
            total = (total & 0xFFFF) + (total >> 16)
        return ~total & 0xFFFF

    ident = (os.getpid() + 7) & 0xFFFF
    lost = []
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.bind((src, 0))
        for seq in range(1, count + 1):
            start = time.monotonic()
            body = b"soak" + seq.to_bytes(2, "big") + bytes(26)
            head = bytes([8, 0, 0, 0]) + ident.to_bytes(2, "big") + seq.to_bytes(2, "big")
            sock.sendto(head[:2] + checksum(head + body).to_bytes(2, "big") + head[4:] + body, (dst, 0))
            answered = False
            while (left := start + timeout - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    data, addr = sock.recvfrom(65535)
                except socket.timeout:
                    break
                icmp = data[(data[0] & 0x0F) * 4:]
                if (addr[0] == dst and icmp[0] == 0 and int.from_bytes(icmp[4:6], "big") == ident
                        and int.from_bytes(icmp[6:8], "big") == seq):
                    answered = True
                    break
            if not answered:
                lost.append(seq)
            time.sleep(max(0.0, start + interval - time.monotonic()))
    return lost


def ikelab_sas(out: str) -> tuple[tuple[str, str] | None, set[tuple[str, str]]]:
    """ikelab's current IKE SA (SPIi, SPIr) and its CHILD SAs {(SPI in, SPI out)}, as its output says so far."""
    ike: tuple[str, str] | None = None
    children: dict[str, str] = {}
    for line in out.splitlines():
        if m := re.search(r"IKE SA established: SPIi (\w+) SPIr (\w+)", line):
            ike = (m[1], m[2])
        elif m := re.search(r"IKE SA rekeyed: new SPIs (\w+) (\w+)", line):
            ike = (m[1], m[2])
        elif (m := re.search(r"IKE SA deleted: (\w+) (\w+)", line)) and ike == (m[1], m[2]):
            ike = None
        elif m := re.search(r"CHILD SA installed: SPI in 0x(\w+) out 0x(\w+)", line):
            children[m[1]] = m[2]
        elif m := re.search(r"CHILD SA deleted: SPI in 0x(\w+)", line):
            children.pop(m[1], None)
    return ike, set(children.items())


class Sampler:
    """Compares ikelab's SAs with ``swanctl --list-sas`` every 0.3 s while a run lasts (see the module docstring)."""

    def __init__(self, charon: Any, output: Any) -> None:
        self.charon, self.output = charon, output
        self.stable = 0
        self.mismatches: list[str] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.wait(0.3):
            before = self.output()
            try:
                sas = self.charon.list_sas()
            except Exception:  # charon busy or gone at the end: no sample
                continue
            if self.output() != before:
                continue  # something happened meanwhile: the two views are of different moments
            ike, children = ikelab_sas(before)
            if ike is None or not sas:
                continue
            installed = {(c["spi-out"], c["spi-in"]) for sa in sas for c in sa.get("child-sas", {}).values()
                         if isinstance(c, dict) and c.get("state") == "INSTALLED"}
            known = {(c["spi-out"], c["spi-in"]) for sa in sas for c in sa.get("child-sas", {}).values()
                     if isinstance(c, dict)}
            charon_ike = {(sa["initiator-spi"], sa["responder-spi"]) for sa in sas}
            self.stable += 1
            # charon's spi-in is what ikelab sends with (its SPI out)
            if not installed <= children or not children <= known or ike not in charon_ike:
                self.mismatches.append(f"ikelab IKE {ike} CHILD {sorted(children)}; charon {sas}")

    def __enter__(self) -> "Sampler":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(10)


def ping_thread(ns: Any, dst: str, src: str) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: box.update(lost=ns.call(
        paced_pings, dst, src, PINGS, PING_INTERVAL, _timeout=PINGS * (PING_INTERVAL + 1.0) + 20)))
    thread.start()
    return thread, box


def check_run(charon: Any, out: str, tmp: Path, wire: Path, lost: list[int], sampler: Sampler) -> None:
    """What both roles check once the run is over (see the module docstring)."""
    rekeys = {"child": out.count("CHILD SA rekeyed"), "ike": out.count("IKE SA rekeyed")}
    assert rekeys["child"] >= 5 and rekeys["ike"] >= 2, (rekeys, out)
    assert "Traceback" not in out, out
    assert lost == [], f"echoes {lost} of {PINGS} unanswered across {rekeys} rekeys\n{out}"
    assert sampler.stable >= 3, f"only {sampler.stable} quiet moments to compare the SAs"
    assert sampler.mismatches == [], sampler.mismatches[:3]
    charon.wait_for_sa(lambda sas: not sas, timeout=10)
    keys = charon.keys()
    assert len(keys) >= 3, "charon logged too few IKE SAs"
    assert check_keys_against_charon(read_keys(tmp), keys) >= 6
    for pcap in (tmp / "ikelab.pcap", wire):
        rows = tshark_decrypts(pcap, tmp / "keys")  # asserts every IKE message and ESP packet decrypted
        exchanges = [r[0] for r in rows if r[0]]
        assert exchanges.count("36") >= 2 * (rekeys["child"] + rekeys["ike"]), exchanges  # CREATE_CHILD_SA
        assert sum(1 for r in rows if r[2] and not r[0]) >= 2 * (PINGS - 5), f"too little ESP in {pcap}"


def test_rekey_storm_with_ikelab_connect(netns_pair, charon_factory, tmp_path: Path) -> None:
    """``ikelab connect`` to charon: charon rekeys the CHILD SA and the IKE SA every few seconds, ikelab once each;
    pings from charon's side all answered; the SAs agree while running; ikelab's DELETE ends it all."""
    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, "ikelab-initiator", proposals=SUITE, esp=ESP,
                          extra=CHARON_IKE, child_extra=CHARON_CHILD)
    extra = ["--proposal", SUITE, "--esp-proposal", ESP, "--ts", f"{net.a.inner}/32", f"{net.b.inner}/32",
             "--ping", net.b.inner, "--ping-src", net.a.inner, "--rekey-after", "2", "--rekey-ike-after", "2",
             "--dpd", "2", "--duration", "14", "--quiet"]
    with Capture(net.b, net.b.veth, tmp_path / "wire.pcapng", probe_dst=net.a.addr4) as cap:
        proc = start_connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=extra)
        try:
            proc.wait_for_output("(first CHILD SA): 3 sent, 3 replies", timeout=15)
            pinger, box = ping_thread(net.b, net.a.inner, net.b.inner)
            with Sampler(charon, proc.output) as sampler:
                pinger.join(PINGS * (PING_INTERVAL + 1.0) + 30)
                status = proc.wait(40)
        finally:
            proc.close()
    out = proc.output()
    assert status == 0, out + charon.diagnostics()
    assert "sending DELETE for the IKE SA" in out and "(after rekey): 3 sent, 3 replies" in out, out
    check_run(charon, out, tmp_path / "ikelab", cap.path, box["lost"], sampler)


def test_rekey_storm_with_ikelab_respond(netns_pair, charon_factory, tmp_path: Path) -> None:
    """charon initiates to ``ikelab respond`` and rekeys every few seconds, ikelab once each; then charon deletes
    the IKE SA, and ikelab follows and exits 0."""
    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, "ikelab-responder", proposals=SUITE, esp=ESP,
                          extra=CHARON_IKE, child_extra=CHARON_CHILD)
    extra = ["--proposal", SUITE, "--esp-proposal", ESP, "--ts", f"{net.b.inner}/32", f"{net.a.inner}/32",
             "--rekey-after", "2", "--rekey-ike-after", "2", "--dpd", "2", "--quiet"]
    with Capture(net.b, net.b.veth, tmp_path / "wire.pcapng", probe_dst=net.a.addr4) as cap:
        proc = respond(net.b, tmp_path / "ikelab", extra=extra)
        try:
            charon.initiate(child="net", timeout=20)
            pinger, box = ping_thread(net.a, net.b.inner, net.a.inner)
            with Sampler(charon, proc.output) as sampler:
                pinger.join(PINGS * (PING_INTERVAL + 1.0) + 30)
            charon.terminate(ike="lab")
            status = proc.wait(20)
        finally:
            proc.close()
    out = proc.output()
    assert status == 0, out + charon.diagnostics()
    assert "deleted by peer" in out, out
    check_run(charon, out, tmp_path / "ikelab", cap.path, box["lost"], sampler)
