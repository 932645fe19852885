"""ikelab against a real strongSwan charon: PSK, aes128-sha256-modp2048, ESP aes128-sha256 (RFC 7296 1.2).

ikelab runs as ``python -m ikelab connect`` / ``respond`` in namespace A or B;
charon in the other.  Checked against charon itself: the SAs it lists, the
keys it logged (every SK_* and CHILD SA key must equal ikelab's exported
tables), pings answered through the CHILD SA (charon's libipsec decrypts
ikelab's ESP and its kernel answers), and tshark decrypting a capture taken
on the veth with ikelab's tables.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from interop.capture import Capture
from interop.charon import Charon
from interop.ikelab_peer import charon_initiates, check_keys_against_charon, connect, read_keys, respond, tshark_decrypts
from interop.swanctl import ID_INITIATOR, ID_RESPONDER, psk_conf

pytestmark = pytest.mark.strongswan

SUITE, ESP = "aes128-sha256-modp2048", "aes128-sha256"


def charon_conf(net, ns, other, *, local_id, remote_id, psk="ikelab-interop-psk", proposals=SUITE, esp=ESP,
                **kwargs):
    return psk_conf(local_addrs=ns.addr4, remote_addrs=other.addr4, local_id=local_id, remote_id=remote_id,
                    local_ts=f"{ns.inner}/32", remote_ts=f"{other.inner}/32", psk=psk, proposals=proposals,
                    esp_proposals=esp, **kwargs)


def ikelab_opts(net, ns, other, *, proposals=SUITE, esp=ESP) -> list[str]:
    return ["--proposal", proposals, "--esp-proposal", esp, "--ts", f"{ns.inner}/32", f"{other.inner}/32"]


def assert_no_nat_in_charon_log(charon: Charon) -> None:
    """charon compared ikelab's NAT_DETECTION_* hashes with its own view of the addresses: no NAT either way."""
    log = charon.log_text()
    assert "faking NAT situation" in log, log[-2000:]  # charon's own fake source hash (kernel-libipsec)
    assert "remote host is behind NAT" not in log and "local host is behind NAT" not in log, log[-2000:]


def test_ikelab_connect_to_charon_psk(netns_pair, charon_factory, tshark_env, tmp_path: Path) -> None:
    net = netns_pair
    bob: Charon = charon_factory(net.b, "bob", swanctl_conf=charon_conf(
        net, net.b, net.a, local_id=ID_RESPONDER, remote_id=ID_INITIATOR))
    bob.load_all()
    with Capture(net.b, net.b.veth, tmp_path / "wire.pcapng", probe_dst=net.a.addr4) as cap:
        result = connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=[
            *ikelab_opts(net, net.a, net.b), "--ping", net.b.inner, "--ping-src", net.a.inner,
            "--rekey-after", "0.3", "--duration", "0.3", "--quiet"])
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    # ikelab floated to 4500 (charon's NATD hash does not match) and tunnelled the pings in UDP
    assert "ISAKMP 500->500" in out and "ISAKMP 4500->4500" in out and "UDP-encapsulated" in out
    assert "(first CHILD SA): 3 sent, 3 replies" in out, out
    assert "(after rekey): 3 sent, 3 replies" in out, out

    # NAT detection (RFC 7296 2.23) judged by charon: ikelab's hashes of both addresses match what charon
    # computes, so charon finds no NAT; charon itself fakes one (its userspace ESP needs UDP), which ikelab saw
    assert_no_nat_in_charon_log(bob)
    assert "the peer is behind a NAT (or fakes one to force UDP encapsulation)" in out and "this host is" not in out

    # charon's own log: the same keys for the IKE SA and both CHILD SAs (before and after the rekey)
    tables = read_keys(tmp_path / "ikelab")
    assert check_keys_against_charon(tables, bob.keys()) == 2
    # ikelab's DELETE reached charon
    bob.wait_for_sa(lambda sas: not sas, timeout=5)

    # tshark decrypts the whole capture with ikelab's tables: every IKE message and every ESP packet
    rows = tshark_decrypts(cap.path, tmp_path / "ikelab" / "keys")
    exchanges = [r[0] for r in rows if r[0]]
    assert exchanges[:4] == ["34", "34", "35", "35"] and "36" in exchanges and "37" in exchanges
    assert sum(1 for r in rows if r[3] == "8") >= 6 and sum(1 for r in rows if r[3] == "0") >= 6
    # and ikelab's own pcap decrypts too
    tshark_decrypts(tmp_path / "ikelab" / "ikelab.pcap", tmp_path / "ikelab" / "keys")


def test_ikelab_respond_to_charon_psk(netns_pair, charon_factory, tmp_path: Path) -> None:
    net = netns_pair
    alice: Charon = charon_factory(net.a, "alice", swanctl_conf=charon_conf(
        net, net.a, net.b, local_id=ID_INITIATOR, remote_id=ID_RESPONDER))
    alice.load_all()
    proc = respond(net.b, tmp_path / "ikelab", extra=ikelab_opts(net, net.b, net.a))
    out = charon_initiates(alice, proc, net.a, net.b)  # with pings that ikelab's userspace ESP answers
    assert "IKE SA deleted" in out and "deleted by peer" in out
    assert_no_nat_in_charon_log(alice)  # ikelab's NATD hashes as responder (over SPIr too) match charon's
    assert "the peer is behind a NAT (or fakes one to force UDP encapsulation)" in out and "this host is" not in out
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), alice.keys()) == 1
