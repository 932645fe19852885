"""ikelab and strongSwan's charon across a real NAT (RFC 7296 2.23, RFC 3948), in both roles.

Namespace A sits behind a router that masquerades its private address
198.51.100.130 as 192.0.2.1 (:class:`interop.netns.NatNetns`).  Neither peer
is told about the NAT: each must find it from the other's
NAT_DETECTION_SOURCE_IP / NAT_DETECTION_DESTINATION_IP hashes, move to port
4500 and carry ESP in UDP through the translation.  charon judges ikelab's
hashes, and ikelab charon's:

* ikelab behind the NAT: charon must see its peer behind a NAT at the router's
  address, and ikelab must say that it is itself behind one and keep the
  mapping with NAT-keepalives;
* charon behind the NAT: charon must find itself behind one (``nat-local``) from
  the hash ikelab made of the address it saw, and ikelab must answer at the
  router's address and port.

In both, the CHILD SA and then the IKE SA are rekeyed across the NAT (by the
peer behind it), and pings cross the new CHILD SA.

Over the plain veth pair (tests/interop/test_ikelab_psk.py) charon sees no NAT
at all: ikelab's hashes of its real addresses match what charon computes.

Transport mode across the NAT (RFC 7296 2.23.1, at the end of this file): the
selectors each side writes with its own address are taken by the other for
the IKE SA's addresses, by charon and by ikelab alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interop.capture import Capture, read_fields
from interop.charon import Charon
from interop.ikelab_peer import (charon_initiates, check_keys_against_charon, connect, read_keys, respond,
                                 start_connect, until_charon_terminates)
from interop.netns import IP, NFT, PRIVATE_A4, flush_conntrack
from interop.swanctl import ID_INITIATOR, ID_RESPONDER, psk_conf

pytestmark = pytest.mark.strongswan

SUITE, ESP = "aes128-sha256-modp2048", "aes128-sha256"


def _conf(local_addrs: str, remote_addrs: str, local_id: str, remote_id: str, local_ts: str, remote_ts: str) -> str:
    return psk_conf(local_addrs=local_addrs, remote_addrs=remote_addrs, local_id=local_id, remote_id=remote_id,
                    local_ts=f"{local_ts}/32", remote_ts=f"{remote_ts}/32", proposals=SUITE, esp_proposals=ESP)


def test_ikelab_behind_a_nat_connects_to_charon(nat_net, nat_charon_factory, tshark_env, tmp_path: Path) -> None:
    net = nat_net
    bob: Charon = nat_charon_factory(net.b, "bob", swanctl_conf=_conf(
        net.b.addr4, "%any", ID_RESPONDER, ID_INITIATOR, net.b.inner, net.a.inner))
    bob.load_all()
    with Capture(net.b, net.b.veth, tmp_path / "wire.pcapng", probe_dst=net.a_public) as cap:  # beyond the NAT
        result = connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=[
            "--proposal", SUITE, "--esp-proposal", ESP, "--ts", f"{net.a.inner}/32", f"{net.b.inner}/32",
            "--ping", net.b.inner, "--ping-src", net.a.inner, "--duration", "1.5", "--keepalive", "0.4", "--quiet",
            "--rekey-after", "0.2", "--rekey-ike-after", "0.2"])
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "NAT detection (RFC 7296 2.23): this host is behind a NAT" in out, out
    # ikelab sent from its own private address; it moved from port 500 to 4500 after IKE_SA_INIT
    sent = [row for row in (line.split() for line in out.splitlines() if "ISAKMP" in line or "UDPENCAP" in line)
            if row[2] == PRIVATE_A4]
    assert [row[5] for row in sent][:2] == ["500->500", "4500->4500"], out
    assert "UDP-encapsulated" in out and "(first CHILD SA): 3 sent, 3 replies" in out, out
    # the rekeys of both SAs cross the NAT too (RFC 7296 2.8, 2.18), and so does ESP on the new CHILD SA
    assert "CHILD SA rekeyed" in out and "IKE SA rekeyed" in out and "(after rekey): 3 sent, 3 replies" in out, out
    # behind the NAT, ikelab keeps the mapping with NAT-keepalives from port 4500 while idle (RFC 3948 2.3, 4):
    # tshark, on charon's side of the NAT, sees them arrive from the router's address and port 4500
    assert len([row for row in sent if row[4] == "UDPENCAP" and row[-1] == "NAT-keepalive"]) >= 2, out
    seen = read_fields(cap.path, ["ip.src", "udp.srcport", "udp.dstport", "_ws.col.Info"], display_filter="udpencap")
    keepalives = [row for row in seen if row[3] == "NAT-keepalive"]
    assert len(keepalives) >= 2 and all(row[:3] == [net.a_public, "4500", "4500"] for row in keepalives), seen

    # charon's view: the peer is behind a NAT, at the router's public address; charon itself is not
    log = bob.log_text()
    assert "remote host is behind NAT" in log, log[-3000:]
    assert "local host is behind NAT" not in log
    assert f"{net.a_public}[4500]" in log  # charon answered the translated address on the NAT-T port
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), bob.keys()) == 2  # both CHILD SAs; the rekeyed IKE SA too


def test_charon_behind_a_nat_connects_to_ikelab(nat_net, nat_charon_factory, tmp_path: Path) -> None:
    net = nat_net
    alice: Charon = nat_charon_factory(net.a, "alice", swanctl_conf=_conf(
        net.a.addr4, net.b.addr4, ID_INITIATOR, ID_RESPONDER, net.a.inner, net.b.inner))
    alice.load_all()
    proc = respond(net.b, tmp_path / "ikelab", extra=[
        "--proposal", SUITE, "--esp-proposal", ESP, "--ts", f"{net.b.inner}/32", f"{net.a.inner}/32"])

    def behind_the_nat() -> None:
        assert alice.list_sas()[0].get("nat-local") == "yes"  # charon found itself behind a NAT from ikelab's hash
        # charon rekeys the CHILD SA and then the IKE SA; the new CHILD SA carries pings too
        alice.swanctl("--rekey", "--child", "net")
        proc.wait_for_output("CHILD SA rekeyed", timeout=10)
        alice.swanctl("--rekey", "--ike", "lab")
        proc.wait_for_output("IKE SA rekeyed", timeout=10)
        assert net.a.ping(net.b.inner, src=net.a.inner, count=3) == 3

    # charon's libipsec sends the echoes in UDP through the NAT; ikelab's userspace ESP answers them
    out = charon_initiates(alice, proc, net.a, net.b, then=behind_the_nat)
    assert "NAT detection (RFC 7296 2.23): the peer is behind a NAT" in out, out
    # ikelab saw and answered the router's public address, never A's own, on port 4500 after IKE_SA_INIT
    rows = [line.split() for line in out.splitlines() if "ISAKMP" in line]
    assert rows and all(net.a_public in row[2:4] for row in rows) and PRIVATE_A4 not in out, out
    assert "4500->4500" in [row[5] for row in rows], out
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), alice.keys()) == 2


def test_esp_follows_charon_to_its_new_nat_mapping(nat_net, nat_charon_factory, tmp_path: Path) -> None:
    """RFC 7296 2.23: the host not behind the NAT "SHOULD send all packets" to the address and port of a
    validated packet.  The NAT gives charon a new source port mid-SA and forgets the old mapping; charon's
    liveness check arrives from the new port, and ikelab's ESP must follow it there at once, not only after
    the next CHILD SA rekey (it kept sending to the dead mapping)."""
    net = nat_net
    conf = psk_conf(local_addrs=net.a.addr4, remote_addrs=net.b.addr4, local_id=ID_INITIATOR, remote_id=ID_RESPONDER,
                    local_ts=f"{net.a.inner}/32", remote_ts=f"{net.b.inner}/32", proposals=SUITE, esp_proposals=ESP,
                    extra={"dpd_delay": "1s"})
    alice: Charon = nat_charon_factory(net.a, "alice", swanctl_conf=conf)
    alice.load_all()
    proc = respond(net.b, tmp_path / "ikelab", extra=[
        "--proposal", SUITE, "--esp-proposal", ESP, "--ts", f"{net.b.inner}/32", f"{net.a.inner}/32"])

    def rebound() -> None:
        net.rebind("41000-41010")
        net.a.ping(net.b.inner, src=net.a.inner, count=1)  # answered to the old mapping: lost, so charon checks
        proc.wait_for_output("peer moved", timeout=10)
        assert net.a.ping(net.b.inner, src=net.a.inner, count=3) == 3

    out = charon_initiates(alice, proc, net.a, net.b, then=rebound)
    moved = [line for line in out.splitlines() if "peer moved" in line]
    assert moved and f"{net.a_public}:4500 -> {net.a_public}:410" in moved[0], out
    assert "CHILD SA rekeyed" not in out, out  # the pings went through on the first CHILD SA


def test_ike_fragments_cross_the_nat(nat_net, nat_charon_factory, tshark_env, tmp_path: Path) -> None:
    """IKE fragmentation (RFC 7383) behind the NAT, on port 4500: each piece's IP packet, Non-ESP Marker
    included (RFC 3948 2.2), stays within the 200-octet fragment size both sides use, charon joins
    ikelab's IKE_AUTH and CHILD SA rekey, and ikelab joins charon's answers."""
    net = nat_net
    conf = psk_conf(local_addrs=net.b.addr4, remote_addrs="%any", local_id=ID_RESPONDER, remote_id=ID_INITIATOR,
                    local_ts=f"{net.b.inner}/32", remote_ts=f"{net.a.inner}/32", proposals=SUITE, esp_proposals=ESP,
                    extra={"fragmentation": "yes"})
    bob: Charon = nat_charon_factory(net.b, "bob", swanctl_conf=conf, conf={"fragment_size": 200})
    bob.load_all()
    with Capture(net.b, net.b.veth, tmp_path / "wire.pcapng", probe_dst=net.a_public) as cap:  # beyond the NAT
        result = connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=[
            "--proposal", SUITE, "--esp-proposal", ESP, "--ts", f"{net.a.inner}/32", f"{net.b.inner}/32",
            "--ping", net.b.inner, "--ping-src", net.a.inner, "--quiet", "--fragment-size", "200",
            "--rekey-after", "0.2"])
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "(after rekey): 3 sent, 3 replies" in out, out
    bob.wait_for_log("received fragment #2 of 2, reassembled fragmented IKE message")
    rows = read_fields(cap.path, ["ip.len", "udp.dstport", "_ws.col.Info"], display_filter="isakmp")
    pieces = [r for r in rows if "(fragment " in r[2]]
    assert len(pieces) >= 8, rows  # IKE_AUTH and the rekey, both ways, in two pieces at least
    assert all(int(r[0]) <= 200 and r[1] == "4500" for r in pieces), pieces


# ---------------------------------------------------------------------------- transport mode across the NAT
# RFC 7296 2.23.1: the host behind the NAT writes its own private address in its traffic selectors; the peer
# puts the IKE SA's address (the one it sees) in its place before its policy lookup, and the host puts its own
# back in the answer.  charon cannot install a transport-mode SA here (tests/interop/test_ikelab_transport.py:
# no kernel ESP, and kernel-libipsec is tunnel mode only), so against charon the checks stop at the negotiation
# and at the keys; ESP through the NAT in transport mode runs between two ikelab peers.

TRANSPORT = ["--proposal", SUITE, "--esp-proposal", ESP, "--mode", "transport"]


def _transport_conf(local_addrs: str, remote_addrs: str, local_id: str, remote_id: str) -> str:
    return psk_conf(local_addrs=local_addrs, remote_addrs=remote_addrs, local_id=local_id, remote_id=remote_id,
                    local_ts="dynamic", remote_ts="dynamic", proposals=SUITE, esp_proposals=ESP,
                    child_extra={"mode": "transport"})


def test_ikelab_behind_a_nat_asks_charon_for_transport_mode(nat_net, nat_charon_factory, tmp_path: Path) -> None:
    """ikelab, behind the NAT, offers TSi = its private address and TSr = charon's: charon takes the offer for the
    observed address (2.23.1), agrees to transport mode, and only then fails to install it (no kernel ESP), so it
    answers NO_PROPOSAL_CHOSEN; ikelab deletes the IKE SA it cannot use.  Both derived the same keys."""
    net = nat_net
    bob: Charon = nat_charon_factory(net.b, "bob", swanctl_conf=_transport_conf(
        net.b.addr4, "%any", ID_RESPONDER, ID_INITIATOR))
    bob.load_all()
    result = connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=[*TRANSPORT, "--quiet"])
    out = result.stdout + result.stderr
    assert "NAT detection (RFC 7296 2.23): this host is behind a NAT" in out, out
    assert result.returncode == 5 and "IKE SA up, but no CHILD SA: NO_PROPOSAL_CHOSEN" in out, out + bob.diagnostics()
    bob.wait_for_log("parsed IKE_AUTH request 1 [ IDi N(INIT_CONTACT) AUTH N(USE_TRANSP) SA TSi TSr ]")
    log = bob.log_text()
    assert "remote host is behind NAT" in log and "TS_UNACCEPTABLE" not in log, log[-3000:]
    bob.wait_for_log("IPsec SA: unsupported mode")  # charon accepted the selectors and the mode; it cannot install
    # charon's own 2.23.1: it took ikelab's TSi (its private address) for the address it sees, the NAT's
    log = bob.log_text()
    assert f"looking for a child config for {net.b.addr4}/32 === {net.a_public}/32" in log, log[-3000:]
    assert f"received: {net.a_public}/32 => match: {net.a_public}/32" in log and PRIVATE_A4 + "/32" not in log


def test_charon_behind_a_nat_gets_transport_mode_from_ikelab(nat_net, nat_charon_factory, tmp_path: Path) -> None:
    """charon, behind the NAT, asks ikelab for transport mode with TSi = its private address.  ikelab answers
    N(USE_TRANSPORT_MODE) with TSi = the NAT's public address, the one it sees (2.23.1), where it answered
    TS_UNACCEPTABLE before; charon puts its own address back, accepts the answer and tries to install the SA
    (no kernel ESP: it cannot, and deletes it).  The CHILD SA's keys are charon's."""
    net = nat_net
    alice: Charon = nat_charon_factory(net.a, "alice", swanctl_conf=_transport_conf(
        net.a.addr4, net.b.addr4, ID_INITIATOR, ID_RESPONDER))
    alice.load_all()
    proc = respond(net.b, tmp_path / "ikelab", extra=[*TRANSPORT])

    def refused() -> None:
        alice.swanctl("--initiate", "--child", "net", "--timeout", "5", check=False, timeout=15)
        proc.wait_for_output("CHILD SA deleted", timeout=10)

    out = until_charon_terminates(alice, proc, refused)
    assert "NAT detection (RFC 7296 2.23): the peer is behind a NAT" in out, out
    assert f"{net.b.addr4}/32 === {net.a_public}/32, UDP-encapsulated, transport mode" in out, out
    assert "TS_UNACCEPTABLE" not in out and PRIVATE_A4 not in out, out
    alice.wait_for_log("parsed IKE_AUTH response 1 [ IDr AUTH N(USE_TRANSP) SA TSi TSr ]")
    alice.wait_for_log("IPsec SA: unsupported mode")  # charon took ikelab's answer; it only cannot install it
    log = alice.log_text()
    assert "local host is behind NAT" in log, log[-3000:]
    # charon put its own address back in ikelab's answer (TSi = the NAT's address) and its narrowing check held
    assert f"config: {PRIVATE_A4}/32, received: {PRIVATE_A4}/32 => match: {PRIVATE_A4}/32" in log, log[-3000:]
    assert f"config: {net.b.addr4}/32, received: {net.b.addr4}/32 => match: {net.b.addr4}/32" in log, log[-3000:]
    (child,) = alice.keys()[0]["children"]
    tables = read_keys(tmp_path / "ikelab")
    assert {(row.encr_key, row.auth_key) for row in tables.esp} == {(child["encr_i"], child["integ_i"]),
                                                                    (child["encr_r"], child["integ_r"])}


def test_transport_mode_esp_crosses_the_nat_between_two_ikelab_peers(nat_net, tshark_env, tmp_path: Path) -> None:
    """ikelab behind the NAT pings ikelab beyond it over a transport-mode CHILD SA, from its private IKE address to
    B's; B answers to the NAT's public address.  Each holds the addresses on its side of the NAT (2.23.1), ESP goes
    in UDP/4500 through the masquerading router both ways, the rekeyed CHILD SA carries the echoes too, and tshark
    beyond the NAT sees only the public addresses."""
    net = nat_net
    with Capture(net.b, net.b.veth, tmp_path / "wire.pcapng", probe_dst=net.a_public) as cap:
        proc = respond(net.b, tmp_path / "b", extra=[*TRANSPORT, "--quiet", "--wait", "20"])
        try:
            result = connect(net.a, net.b.addr4, tmp_path / "a", extra=[
                *TRANSPORT, "--quiet", "--ping", net.b.addr4, "--rekey-after", "0.2"])
            status = proc.wait(15)
        finally:
            proc.close()
    out, theirs = result.stdout + result.stderr, proc.output()
    assert result.returncode == 0 and status == 0, out + theirs
    assert f"{PRIVATE_A4}/32 === {net.b.addr4}/32, UDP-encapsulated, transport mode" in out, out
    assert f"{net.b.addr4}/32 === {net.a_public}/32, UDP-encapsulated, transport mode" in theirs, theirs
    assert f"ping {PRIVATE_A4} -> {net.b.addr4} through ESP (first CHILD SA): 3 sent, 3 replies" in out, out
    assert "(after rekey): 3 sent, 3 replies" in out, out
    rows = read_fields(cap.path, ["ip.src", "ip.dst", "udp.srcport", "udp.dstport"], display_filter="esp")
    assert len(rows) >= 12 and {tuple(r[:2]) for r in rows} == {(net.a_public, net.b.addr4),
                                                                 (net.b.addr4, net.a_public)}, rows
    assert all("4500" in r[2:] for r in rows), rows


def _nat_moves_to(net: Any, public: str) -> None:
    """The router restarts its NAT with another public address ``public`` (and forgets its mappings)."""
    net.r.run(IP, "addr", "add", f"{public}/24", "dev", "veth-rb")
    rules = ('flush chain ip nat postrouting\n'
             f'add rule ip nat postrouting oifname "veth-rb" snat to {public}\n')
    net.r.run(NFT, "-f", "-", input=rules.encode())
    net.r.call(flush_conntrack)


def test_transport_mode_selectors_follow_a_nat_that_changes_its_address(nat_net, tmp_path: Path) -> None:
    """RFC 7296 2.23, 2.23.1: B substituted the NAT's public address in A's TSi.  Mid-run the NAT takes another
    public address; A's next liveness check shows B where A is now, B follows it, and the transport-mode CHILD
    SA's selectors must follow too: the echoes A sends after that are answered (they fell outside B's SPD)."""
    net = nat_net
    moved_to = "192.0.2.9"
    proc = respond(net.b, tmp_path / "b", extra=[*TRANSPORT, "--quiet", "--wait", "20"])
    try:
        a = start_connect(net.a, net.b.addr4, tmp_path / "a", extra=[
            *TRANSPORT, "--quiet", "--ping", net.b.addr4, "--ping-count", "60", "--dpd", "0.3"])
        try:
            a.wait_for_output("seq=5 ", timeout=20)
            _nat_moves_to(net, moved_to)
            status = a.wait(30)
        finally:
            a.close()
        proc.wait(15)
    finally:
        proc.close()
    out, theirs = a.output(), proc.output()
    assert status == 0, out + theirs
    moved = [line for line in theirs.splitlines() if "peer moved" in line]
    assert moved and f"{net.a_public}:4500 -> {moved_to}:" in moved[0], theirs
    assert f"CHILD SA(s) now name {moved_to} (2.23.1)" in moved[0], theirs
    assert "peer moved" not in out, out  # behind the NAT: A never follows
    # the last echoes, sent well after the move, came back through the CHILD SA made before it
    assert "seq=60 " in out and "seq=59 " in out, out + theirs
