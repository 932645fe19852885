"""Simultaneous rekeys of the same SA by ikelab and strongSwan's charon (RFC 7296 2.8.1, 2.8.2).

Two requests cross when each peer's rekey request reaches the other while the other's own request is
still unanswered.  There is no netem here, so nftables rules (:meth:`Namespace.drop_first`) lose chosen
first transmissions, and the retransmissions then arrive in the order the timeouts set:

* CHILD SA (2.8.1).  ikelab rekeys the CHILD SA (``--rekey-after``) and charon rekeys it too
  (``swanctl --rekey``).  Each side answers the other's request, so two new CHILD SAs appear.  "The SA
  created with the lowest of the four nonces used in the two exchanges SHOULD be closed by the endpoint
  that created it"; the other rekey's initiator deletes the old SA.  The four nonces are the seeds
  (``Ni | Nr``) charon logs for both new SAs, so the test knows which SA must go and who must delete it.
  Whichever peer learns the outcome first, the other meets its DELETE while its own request is open:
  both orders are run, and charon must agree (its log says "collision won", "lost" or "rekey/delete").
* IKE SA (2.8.2).  The same with ``--rekey-ike-after`` and ``swanctl --rekey --ike``: the nonce rule picks
  the new IKE SA that stays (the nonces come from a capture that tshark decrypts with ikelab's keys), the
  CHILD SA moves to it on both sides, and the loser deletes its redundant IKE SA if it learned of it.  A
  peer that receives the DELETE of the IKE SA it is rekeying forgets its own request (2.25.2): charon says
  "peer did not notice IKE_SA rekey collision" when ikelab, the winner, deleted the old IKE SA first.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from interop.capture import Capture, run_checked
from interop.charon import Charon
from interop.ikelab_peer import (IkelabProcess, check_keys_against_charon, read_keys, start_connect,
                                 until_charon_terminates)
from interop.swanctl import ID_INITIATOR, ID_RESPONDER, psk_conf

pytestmark = [pytest.mark.strongswan, pytest.mark.usefixtures("nft_env", "tshark_env")]

SUITE, ESP = "aes128-sha256-modp2048", "aes128-sha256"
#: a CHILD SA rekey request or response of this suite without PFS, either peer's: a 240-byte IP packet
REKEY = 240
#: the length of a nonce, charon's and ikelab's (charon logs the seed Ni | Nr of each CHILD SA)
NONCE = 32

#: who learns the collision's outcome first: the retransmission timeouts (s) of ikelab and charon, and the
#: number of rekey messages (first transmissions) lost on the way to (ikelab, charon)
ORDERS = {
    # ikelab's request is lost, then its answer to charon's request: its retransmission (1.5 s) reaches charon
    # first and is answered; charon's retransmission (3 s) then gets ikelab's cached answer
    "ikelab-first": (1.5, 3.0, 0, 2),
    # both first requests are lost, then charon's answer to ikelab's retransmission (2 s): charon's own
    # retransmission (3.3 s) is answered first; ikelab's second one (after 2 + 2.8 s) gets charon's cached answer
    "charon-first": (2.0, 3.3, 2, 1),
}


def _conf(ns: Any, other: Any, local_id: str, remote_id: str, **extra: Any) -> str:
    return psk_conf(local_addrs=ns.addr4, remote_addrs=other.addr4, local_id=local_id, remote_id=remote_id,
                    local_ts=f"{ns.inner}/32", remote_ts=f"{other.inner}/32", proposals=SUITE, esp_proposals=ESP,
                    **extra)


def _drop(ns: Any, count: int, length: int = REKEY) -> None:
    """Lose the first ``count`` IKE messages of IP length ``length`` that reach ``ns``."""
    if count:
        ns.drop_first(sport=4500, size=count * length + 100, ip_length=length)


def _nonces(child: dict[str, Any]) -> tuple[bytes, bytes]:
    seed = child["seed"]
    assert len(seed) == 2 * NONCE, child  # Ni | Nr: no PFS
    return seed[:NONCE], seed[NONCE:]


def _wait_for(condition: Callable[[], bool], proc: IkelabProcess, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline and proc.proc.poll() is None, proc.output()
        time.sleep(0.05)


def _installed(ike_sa: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in ike_sa.get("child-sas", {}).values() if c["state"] == "INSTALLED"]


@pytest.mark.parametrize("order", list(ORDERS))
def test_child_sa_rekey_collision(netns_pair, charon_factory, tmp_path: Path, order: str) -> None:
    """ikelab and charon rekey the same CHILD SA at once: the one of the two new CHILD SAs made with the
    lowest nonce is deleted by its maker, the old one by the other peer, and one CHILD SA stands on both
    sides, with the same keys, and carries pings (RFC 7296 2.8.1)."""
    net = netns_pair
    ikelab_rto, charon_rto, to_ikelab, to_charon = ORDERS[order]
    bob: Charon = charon_factory(net.b, "bob", swanctl_conf=_conf(net.b, net.a, ID_RESPONDER, ID_INITIATOR),
                                 conf={"retransmit_timeout": charon_rto})
    bob.load_all()
    _drop(net.a, to_ikelab)
    _drop(net.b, to_charon)
    proc = start_connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=[
        "--proposal", SUITE, "--esp-proposal", ESP, "--ts", f"{net.a.inner}/32", f"{net.b.inner}/32",
        "--retransmit-timeout", str(ikelab_rto), "--rekey-after", "0.2", "--duration", "30", "--quiet"])
    sas: list[dict[str, Any]] = []

    def collide() -> None:
        proc.wait_for_output("CREATE_CHILD_SA MID=02 Initiator Request", timeout=15)  # sent, and lost
        bob.swanctl("--rekey", "--child", "net")
        _wait_for(lambda: proc.output().count("CHILD SA deleted") == 2, proc)  # the old SA and the redundant one
        # the collision settled: one CHILD SA INSTALLED (a deleted one may linger, delete_rekeyed_delay)
        sas.extend(bob.wait_for_sa(lambda sas: sas and len(_installed(sas[0])) == 1 and re.search(
            r"CHILD_SA rekey(/delete)? collision[a-z ]*, deleting", bob.log_text()), timeout=10))
        assert net.b.ping(net.a.inner, src=net.b.inner, count=3) == 3  # charon's kernel, ikelab's userspace ESP

    out, log = until_charon_terminates(bob, proc, collide), bob.log_text()
    # each side answered the other's rekey while its own was open
    assert "detected CHILD_REKEY collision with CHILD_REKEY" in log, log[-3000:]
    answers = [line.split()[5:] for line in out.splitlines() if "CREATE_CHILD_SA MID=00 Initiator Response" in line]
    assert len(answers) == 1 + (to_charon == 2) and answers[0] == answers[-1], out  # a lost one: sent again, cached

    (ike,) = bob.keys()
    first, *new = ike["children"]
    by_charon = next(c for c in new if c["initiator"])
    by_ikelab = next(c for c in new if not c["initiator"])
    lowest = min(_nonces(by_charon) + _nonces(by_ikelab))
    redundant, survivor = (by_ikelab, by_charon) if lowest in _nonces(by_ikelab) else (by_charon, by_ikelab)
    ikelab_lost = redundant is by_ikelab
    assert f"CHILD SA rekeyed: 0x{first['spi_out']:08x} -> 0x{by_charon['spi_out']:08x}" in out, out  # answered
    # charon: the SPIs it receives on; ikelab's inbound SPI of a CHILD SA is charon's outbound one
    if ikelab_lost:
        assert f"CHILD_SA rekey collision won, deleting old child net{{{first['unique_id']}}}" in log, log[-3000:]
        # ikelab deletes the SA it made; charon deletes the old one
        assert f"CHILD SA deleted: SPI in 0x{by_ikelab['spi_out']:08x} (deleted)" in out, out
        assert f"received DELETE for ESP CHILD_SA with SPI {by_ikelab['spi_out']:08x}" in log, log[-3000:]
        assert f"CHILD SA deleted: SPI in 0x{first['spi_out']:08x} (deleted by peer)" in out, out
    else:
        # "collision lost", or, when ikelab's DELETE of the old SA came first, "rekey/delete collision"
        assert re.search(rf"CHILD_SA rekey(/delete)? collision(,| lost,) deleting redundant child "
                         rf"net\{{{by_charon['unique_id']}\}}", log), log[-3000:]
        # charon deletes the SA it made; ikelab deletes the old one
        assert f"CHILD SA deleted: SPI in 0x{by_charon['spi_out']:08x} (deleted by peer)" in out, out
        assert f"received DELETE for ESP CHILD_SA with SPI {first['spi_out']:08x}" in log, log[-3000:]
        assert f"CHILD SA deleted: SPI in 0x{first['spi_out']:08x} (deleted)" in out, out
    # one CHILD SA on both sides, the survivor: charon lists it, ikelab closes only it with the IKE SA
    (child,) = _installed(sas[0])
    assert (int(child["spi-in"], 16), int(child["spi-out"], 16)) == (survivor["spi_in"], survivor["spi_out"]), child
    assert re.findall(r"CHILD SA deleted: SPI in 0x([0-9a-f]{8}) \(IKE SA closed", out) == [
        f"{survivor['spi_out']:08x}"], out
    assert out.count("CHILD SA deleted") == 3, out  # the old SA, the redundant one, the survivor at the end
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), bob.keys()) == 3



#: an IKE SA rekey request or response of this suite (SA, nonce, MODP-2048 KE), either peer's: a 464-byte IP packet
IKE_REKEY = 464


def _ike_rekey_nonces(pcap: Path, keys_dir: Path) -> dict[str, tuple[bytes, bytes]]:
    """(Ni, Nr) of each CREATE_CHILD_SA exchange on the first IKE SA, by requester, from a capture that tshark
    decrypts with ikelab's key tables.  ikelab is the IKE SA's original initiator: its messages carry the I flag."""
    argv = ["tshark", "-n", "-r", str(pcap), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f",
            "-Y", "isakmp.exchangetype == 36 && isakmp.nonce", "-e", "isakmp.flag_i", "-e", "isakmp.flag_r",
            "-e", "isakmp.nonce"]
    out = run_checked(argv, timeout=60, env=dict(os.environ, WIRESHARK_CONFIG_DIR=str(keys_dir))).stdout
    found: dict[tuple[str, str], bytes] = {}
    for line in out.splitlines():
        flag_i, flag_r, nonce = line.split("\t")
        found.setdefault((flag_i, flag_r), bytes.fromhex(nonce))
    # ikelab's request (I, not R) and charon's answer (R); charon's request (neither) and ikelab's answer (I, R)
    return {"ikelab": (found[("1", "0")], found[("0", "1")]), "charon": (found[("0", "0")], found[("1", "1")])}


@pytest.mark.parametrize("order", list(ORDERS))
def test_ike_sa_rekey_collision(netns_pair, charon_factory, tmp_path: Path, order: str) -> None:
    """ikelab and charon rekey the IKE SA at once (RFC 7296 2.8.2): each answers the other's request, and the
    nonce rule of 2.8.1 picks the new IKE SA that stays; the CHILD SA moves to it on both sides, with the same
    keys, and carries pings.  The peer that learns the outcome first acts on it at once; the other meets its
    DELETE of the old IKE SA while its own request is open, and forgets that request (2.25.2)."""
    net = netns_pair
    ikelab_rto, charon_rto, to_ikelab, to_charon = ORDERS[order]
    bob: Charon = charon_factory(net.b, "bob", swanctl_conf=_conf(net.b, net.a, ID_RESPONDER, ID_INITIATOR),
                                 conf={"retransmit_timeout": charon_rto})
    bob.load_all()
    _drop(net.a, to_ikelab, IKE_REKEY)
    _drop(net.b, to_charon, IKE_REKEY)
    proc = start_connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=[
        "--proposal", SUITE, "--esp-proposal", ESP, "--ts", f"{net.a.inner}/32", f"{net.b.inner}/32",
        "--retransmit-timeout", str(ikelab_rto), "--rekey-ike-after", "0.2", "--duration", "30", "--quiet"])
    settled = re.compile(r"IKE_SA rekey collision (won|lost)|peer did not notice IKE_SA rekey collision")
    sas: list[dict[str, Any]] = []

    def collide() -> None:
        proc.wait_for_output("CREATE_CHILD_SA MID=02 Initiator Request", timeout=15)  # sent, and lost
        bob.swanctl("--rekey", "--ike", "lab")
        old = re.search(r"IKE SA established: SPIi (\S+) SPIr (\S+),", proc.output())
        proc.wait_for_output(f"IKE SA deleted: {old[1]} {old[2]} (rekeyed)", timeout=10)
        new = re.search(r"IKE SA rekeyed: new SPIs (\S+) (\S+)", proc.output())
        sas.extend(bob.wait_for_sa(lambda sas: settled.search(bob.log_text()) and any(
            (sa["initiator-spi"], sa["responder-spi"]) == (new[1], new[2]) and len(_installed(sa)) == 1
            for sa in sas), timeout=10))
        assert net.b.ping(net.a.inner, src=net.b.inner, count=3) == 3  # charon's kernel, ikelab's userspace ESP
        waiting = re.search(r"waiting for delete for redundant IKE_SA lab\[(\d+)\]", bob.log_text())
        if waiting and order == "charon-first":
            # the IKE SA charon made for ikelab's request, whose answer was lost before charon's DELETE of the
            # old IKE SA made ikelab forget that request (2.25.2): the DELETE charon waits for cannot come
            assert waiting[1] not in (sa["uniqueid"] for sa in sas if sa["child-sas"]), sas
            bob.swanctl("--terminate", "--ike-id", waiting[1], "--force")

    with Capture(net.b, net.b.veth, tmp_path / "wire.pcapng", probe_dst=net.a.addr4) as cap:
        out = until_charon_terminates(bob, proc, collide)
    log = bob.log_text()
    # each side answered the other's rekey while its own was open
    assert "detected IKE_REKEY collision with IKE_REKEY" in log, log[-3000:]
    assert "CREATE_CHILD_SA MID=00 Initiator Response" in out, out
    nonces = _ike_rekey_nonces(cap.path, tmp_path / "ikelab" / "keys")
    lowest = min(nonces["ikelab"] + nonces["charon"])
    survivor_maker = "charon" if lowest in nonces["ikelab"] else "ikelab"
    by_charon = int(re.search(r"initiating IKE_SA lab\[(\d+)\]", log)[1])  # charon's own rekey's new IKE SA
    new = re.search(r"IKE SA rekeyed: new SPIs (\S+) (\S+)", out)
    (survivor,) = [sa for sa in sas if (sa["initiator-spi"], sa["responder-spi"]) == (new[1], new[2])]
    assert (int(survivor["uniqueid"]) == by_charon) == (survivor_maker == "charon"), (survivor, nonces)
    if survivor_maker == "charon":
        # charon compares the nonces and waits for ikelab to delete its redundant IKE SA, which ikelab does
        # if it learned of it (its answer came before charon's DELETE of the old IKE SA)
        assert "IKE_SA rekey collision won, waiting for delete for redundant IKE_SA" in log, log[-3000:]
        deletes = [line for line in out.splitlines() if "INFORMATIONAL MID=00 Initiator Request" in line
                   and line.split()[2] == net.a.addr4]  # ikelab's first request on the IKE SA it made: DELETE
        assert bool(deletes) == (order == "ikelab-first"), out
    elif order == "charon-first":
        assert f"IKE_SA rekey collision lost, deleting redundant IKE_SA lab[{by_charon}]" in log, log[-3000:]
    else:  # ikelab won, and deleted the old IKE SA before charon's exchange ended: charon forgets its rekey
        assert "peer did not notice IKE_SA rekey collision, abort active rekeying" in log, log[-3000:]
    assert out.count("IKE SA rekeyed") == 1, out
    assert f"IKE SA deleted: {new[1]} {new[2]} (deleted by peer)" in out, out  # the survivor, at the end
    # every IKE SA and CHILD SA both sides made: the same keys (an IKE SA whose answer ikelab lost aside)
    known = [k for k in bob.keys() if k["sk_ei"] in {r.sk_ei for r in read_keys(tmp_path / "ikelab").ike}]
    assert len(known) >= 2
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), known) == 1
