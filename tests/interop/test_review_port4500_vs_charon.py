"""IKE on port 4500 from the first message, without a NAT, between ikelab and strongSwan's charon (RFC 7296 2.23).

RFC 7296 2.23: "An initiator can use port 4500 for both IKE and ESP, regardless of whether or not there is a
NAT, even at the beginning of IKE", and "UDP encapsulation MUST NOT be done on port 500".

* ``ikelab connect --port 4500`` (which binds 500 and 4500) towards charon: ikelab sent its IKE_SA_INIT from
  port 500 (with the Non-ESP Marker), and charon, which ties the marker to the source port 4500, read the
  marker as the IKE header ("received unsupported IKE version 0.0", INVALID_MAJOR_VERSION): no IKE SA.  Now
  the capture on charon's side shows every IKE message 4500 -> 4500 from the first one on, charon logs the
  first as received from ikelab's port 4500, takes ikelab's NAT_DETECTION_SOURCE_IP (a hash of port 4500,
  the port it sees) as matching (no "remote host is behind NAT"), lists the IKE SA on 4500 at both ends,
  derives the keys ikelab exported, and echoes cross the CHILD SA both ways, in UDP 4500 <-> 4500.
* charon initiating to ikelab's port 4500: with ``remote_port = 4500`` alone charon 5.9.8 sends from its port 500
  (and then without the marker, which ikelab, as RFC 3948 2.2 says, takes for ESP); with ``local_port = 4500``
  too it starts from 4500, and ``ikelab respond`` answers from 4500; charon finds no NAT from ikelab's hashes.

charon's kernel-libipsec fakes a NAT of its own (its source hash is random, "faking NAT situation", so that
its ESP goes in UDP): ikelab sees charon "behind a NAT", which on 4500 changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from interop.capture import Capture, read_fields
from interop.charon import Charon
from interop.ikelab_peer import (charon_initiates, check_keys_against_charon, ikelab_connected, read_keys, respond,
                                 start_connect, tshark_decrypts)
from interop.swanctl import ID_INITIATOR, ID_RESPONDER, psk_conf

pytestmark = pytest.mark.strongswan

SUITE, ESP = "aes128-sha256-modp2048", "aes128-sha256"


def _conf(ns, other, local_id: str, remote_id: str, **extra) -> str:
    return psk_conf(local_addrs=ns.addr4, remote_addrs=other.addr4, local_id=local_id, remote_id=remote_id,
                    local_ts=f"{ns.inner}/32", remote_ts=f"{other.inner}/32", proposals=SUITE, esp_proposals=ESP,
                    extra=extra or None)


def _ikelab_opts(ns, other) -> list[str]:
    return ["--proposal", SUITE, "--esp-proposal", ESP, "--ts", f"{ns.inner}/32", f"{other.inner}/32", "--quiet"]


def _charon_saw_no_nat_of_ikelab(charon: Charon, ikelab_addr: str) -> None:
    log = charon.log_text()
    assert "faking NAT situation" in log, log[-2000:]  # its own random source hash (kernel-libipsec)
    assert "remote host is behind NAT" not in log, log[-3000:]  # ikelab's source hash matched what charon saw
    assert "local host is behind NAT" not in log, log[-3000:]  # and so did ikelab's destination hash
    assert f"from {ikelab_addr}[500]" not in log and f"to {ikelab_addr}[500]" not in log, log[-3000:]


def _ike_ports(cap: Path) -> list[tuple[str, str, str]]:
    """(exchange type, UDP source port, UDP destination port) of every IKE message tshark sees."""
    rows = read_fields(cap, ["isakmp.exchangetype", "udp.srcport", "udp.dstport"], display_filter="isakmp")
    return [(r[0], r[1], r[2]) for r in rows]


def test_ikelab_starts_ike_on_charons_port_4500(netns_pair, charon_factory, tshark_env, tmp_path: Path) -> None:
    net = netns_pair
    bob: Charon = charon_factory(net.b, "bob", swanctl_conf=_conf(net.b, net.a, ID_RESPONDER, ID_INITIATOR))
    bob.load_all()
    with Capture(net.b, net.b.veth, tmp_path / "wire.pcapng", probe_dst=net.a.addr4) as cap:
        proc = start_connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=[
            *_ikelab_opts(net.a, net.b), "--port", "4500", "--ping", net.b.inner, "--ping-src", net.a.inner,
            "--duration", "20"])

        def both_ways() -> None:
            proc.wait_for_output("(first CHILD SA): 3 sent, 3 replies", timeout=15)  # ikelab -> charon's kernel
            assert net.b.ping(net.a.inner, src=net.b.inner, count=3) == 3  # charon's kernel -> ikelab's ESP
            (sa,) = bob.list_sas()
            assert (sa["local-port"], sa["remote-port"]) == ("4500", "4500"), sa

        out = ikelab_connected(bob, proc, both_ways)
    # ikelab's own view: its first packet already left port 4500 for 4500, and its ESP went in UDP on 4500
    assert out.startswith(f"ikelab connect: {net.a.addr4}:4500 -> {net.b.addr4}:4500\n"), out  # the banner too
    rows = [line.split() for line in out.splitlines() if "ISAKMP" in line]
    assert rows and rows[0][5] == "4500->4500" and all(row[5] == "4500->4500" for row in rows), out
    assert "UDP-encapsulated" in out, out
    # the wire, as tshark reads it on charon's side: IKE_SA_INIT (34) and everything after, 4500 <-> 4500
    ports = _ike_ports(cap.path)
    assert ports[:2] == [("34", "4500", "4500")] * 2, ports
    assert all(p[1:] == ("4500", "4500") for p in ports), ports
    esp = read_fields(cap.path, ["ip.src", "udp.srcport", "udp.dstport"], display_filter="esp")
    assert len(esp) >= 12 and {(r[1], r[2]) for r in esp} == {("4500", "4500")}, esp
    # charon's view: the IKE_SA_INIT request came from ikelab's port 4500, and the hashes said: no NAT
    received = [line for line in bob.log_text().splitlines() if "received packet: from" in line]
    assert received and f"from {net.a.addr4}[4500] to {net.b.addr4}[4500]" in received[0], received
    _charon_saw_no_nat_of_ikelab(bob, net.a.addr4)
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), bob.keys()) == 1
    rows = tshark_decrypts(cap.path, tmp_path / "ikelab" / "keys")
    assert [r[0] for r in rows if r[0]][:4] == ["34", "34", "35", "35"], rows


def test_charon_starts_ike_on_ikelabs_port_4500(netns_pair, charon_factory, tshark_env, tmp_path: Path) -> None:
    net = netns_pair
    alice: Charon = charon_factory(net.a, "alice", swanctl_conf=_conf(net.a, net.b, ID_INITIATOR, ID_RESPONDER,
                                                                       local_port=4500, remote_port=4500))
    alice.load_all()
    with Capture(net.b, net.b.veth, tmp_path / "wire.pcapng", probe_dst=net.a.addr4) as cap:
        proc = respond(net.b, tmp_path / "ikelab", extra=_ikelab_opts(net.b, net.a))
        out = charon_initiates(alice, proc, net.a, net.b)
    ports = _ike_ports(cap.path)
    assert ports[:2] == [("34", "4500", "4500")] * 2, ports  # charon too starts from its own 4500; we answer there
    assert all(p[1:] == ("4500", "4500") for p in ports), ports
    rows = [line.split() for line in out.splitlines() if "ISAKMP" in line]
    assert rows and all(row[5] == "4500->4500" for row in rows), out
    sent = [line for line in alice.log_text().splitlines() if "sending packet: from" in line]
    assert sent and f"from {net.a.addr4}[4500] to {net.b.addr4}[4500]" in sent[0], sent
    log = alice.log_text()
    assert "remote host is behind NAT" not in log and "local host is behind NAT" not in log, log[-3000:]
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), alice.keys()) == 1
