"""A lost IKE_AUTH response and a lost CHILD SA rekey response, against strongSwan's charon, in both roles.

An nftables rule in the requester's namespace drops the first IKE_AUTH
response (the first datagram from port 4500; :meth:`Namespace.drop_first`).
The requester must retransmit the request unchanged; the responder must
answer the retransmission with the response it cached, and must not process
the request twice ("the responder MUST ... retransmit the response it sent",
not create a second CHILD SA).

* ikelab requests, charon responds: ikelab retransmits after its timeout and
  charon logs that it answered a retransmit;
* charon requests, ikelab responds: charon retransmits, and ikelab sends the
  same response again and installs its CHILD SA once.

The same for the CREATE_CHILD_SA exchange of a CHILD SA rekey (RFC 7296 1.3.3,
2.8), dropped by its IP length: the side that answered must keep sending on the
old SA until the initiator deletes it, or the pings that follow are lost.
And a lost rekey request that charon's own rekey of the same CHILD SA
overtakes: the retransmission meets CHILD_SA_NOT_FOUND.  And requests from
charon that overtake its own lost responses: a liveness check before the
IKE_AUTH answer, a DELETE or a rekey of the CHILD SA before the CREATE_CHILD_SA
answer, a rekey of the IKE SA under the unanswered CREATE_CHILD_SA request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from interop.charon import Charon
from interop.ikelab_peer import (IkelabProcess, charon_initiates, check_keys_against_charon, connect, read_keys, respond,
                                 start_connect)
from interop.swanctl import ID_INITIATOR, ID_RESPONDER, psk_conf

pytestmark = [pytest.mark.strongswan, pytest.mark.usefixtures("nft_env")]

SUITE, ESP = "aes128-sha256-modp2048", "aes128-sha256"
#: An IKE_AUTH response of this suite is a 284-byte IP packet (256 bytes of UDP payload): drop one, pass the next
ONE_RESPONSE = 400


def _conf(net, ns, other, local_id: str, remote_id: str, **extra) -> str:
    return psk_conf(local_addrs=ns.addr4, remote_addrs=other.addr4, local_id=local_id, remote_id=remote_id,
                    local_ts=f"{ns.inner}/32", remote_ts=f"{other.inner}/32", proposals=SUITE, esp_proposals=ESP,
                    **extra)


def _rows(out: str, text: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines() if text in line]


def test_ikelab_retransmits_and_charon_answers_from_its_cache(netns_pair, charon_factory, tmp_path: Path) -> None:
    net = netns_pair
    bob: Charon = charon_factory(net.b, "bob", swanctl_conf=_conf(net, net.b, net.a, ID_RESPONDER, ID_INITIATOR))
    bob.load_all()
    net.a.drop_first(sport=4500, size=ONE_RESPONSE)  # charon's first IKE_AUTH response never reaches ikelab
    result = connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=[
        "--proposal", SUITE, "--esp-proposal", ESP, "--ts", f"{net.a.inner}/32", f"{net.b.inner}/32",
        "--ping", net.b.inner, "--ping-src", net.a.inner, "--quiet", "--retransmit-timeout", "0.5"])
    out = result.stdout + result.stderr
    assert result.returncode == 0, out + bob.diagnostics()
    requests = _rows(out, "IKE_AUTH MID=01 Initiator Request")
    assert len(requests) == 2 and requests[0][5:] == requests[1][5:], out  # sent twice, the same size
    assert "retransmission 1 of IKE_AUTH MID=1" in out, out
    assert len(_rows(out, "IKE_AUTH MID=01 Responder Response")) == 1  # the second copy, from charon's cache
    assert out.count("CHILD SA installed") == 1 and "3 sent, 3 replies" in out, out
    log = bob.log_text()
    assert "received retransmit of request with ID 1, retransmitting response" in log, log[-3000:]
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), bob.keys()) == 1


def test_charon_retransmits_and_ikelab_answers_from_its_cache(netns_pair, charon_factory, tmp_path: Path) -> None:
    net = netns_pair
    alice: Charon = charon_factory(net.a, "alice", swanctl_conf=_conf(net, net.a, net.b, ID_INITIATOR, ID_RESPONDER))
    alice.load_all()
    net.a.drop_first(sport=4500, size=ONE_RESPONSE)  # ikelab's first IKE_AUTH response never reaches charon
    proc = respond(net.b, tmp_path / "ikelab", extra=[
        "--proposal", SUITE, "--esp-proposal", ESP, "--ts", f"{net.b.inner}/32", f"{net.a.inner}/32"])
    out = charon_initiates(alice, proc, net.a, net.b, timeout=15)
    requests = _rows(out, "IKE_AUTH MID=01 Initiator Request")
    responses = _rows(out, "IKE_AUTH MID=01 Responder Response")
    assert len(requests) == 2 and len(responses) == 2, out  # charon retransmitted; ikelab answered both
    assert responses[0][5:] == responses[1][5:]  # the cached response again, byte count and all
    assert out.count("CHILD SA installed") == 1 and out.count("IKE SA established") == 1, out  # processed once
    assert "retransmit 1 of request with message ID 1" in alice.log_text()  # charon says so itself
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), alice.keys()) == 1


#: A CREATE_CHILD_SA response of a CHILD SA rekey without PFS, in this suite, either peer's: a 240-byte IP packet
REKEY_RESPONSE = 240


def test_lost_rekey_response_to_ikelab(netns_pair, charon_factory, tmp_path: Path) -> None:
    """ikelab rekeys its CHILD SA; charon's response is lost: ikelab retransmits, charon answers from its cache,
    and each side ends with one new CHILD SA (RFC 7296 2.1, 2.8)."""
    net = netns_pair
    bob: Charon = charon_factory(net.b, "bob", swanctl_conf=_conf(net, net.b, net.a, ID_RESPONDER, ID_INITIATOR))
    bob.load_all()
    net.a.drop_first(sport=4500, size=REKEY_RESPONSE + 100, ip_length=REKEY_RESPONSE)
    result = connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=[
        "--proposal", SUITE, "--esp-proposal", ESP, "--ts", f"{net.a.inner}/32", f"{net.b.inner}/32",
        "--ping", net.b.inner, "--ping-src", net.a.inner, "--quiet", "--retransmit-timeout", "0.5",
        "--rekey-after", "0.2"])
    out = result.stdout + result.stderr
    assert result.returncode == 0, out + bob.diagnostics()
    assert "retransmission 1 of CREATE_CHILD_SA MID=2" in out, out
    assert len(_rows(out, "CREATE_CHILD_SA MID=02 Initiator Request")) == 2, out
    assert out.count("CHILD SA rekeyed") == 1 and "(after rekey): 3 sent, 3 replies" in out, out
    assert "received retransmit of request with ID 2, retransmitting response" in bob.log_text()
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), bob.keys()) == 2


def test_lost_rekey_response_from_ikelab(netns_pair, charon_factory, tmp_path: Path) -> None:
    """charon rekeys the CHILD SA; ikelab's response is lost: charon retransmits, ikelab answers from its cache
    and installs the new CHILD SA once (RFC 7296 2.1, 2.8)."""
    net = netns_pair
    alice: Charon = charon_factory(net.a, "alice", swanctl_conf=_conf(net, net.a, net.b, ID_INITIATOR, ID_RESPONDER))
    alice.load_all()
    proc = respond(net.b, tmp_path / "ikelab", extra=[
        "--proposal", SUITE, "--esp-proposal", ESP, "--ts", f"{net.b.inner}/32", f"{net.a.inner}/32"])

    def rekey_with_a_lost_response() -> None:
        net.a.drop_first(sport=4500, size=REKEY_RESPONSE + 100, ip_length=REKEY_RESPONSE)
        alice.swanctl("--rekey", "--child", "net")
        proc.wait_for_output("CHILD SA rekeyed", timeout=15)
        assert net.a.ping(net.b.inner, src=net.a.inner, count=3) == 3  # over the new CHILD SA

    out = charon_initiates(alice, proc, net.a, net.b, then=rekey_with_a_lost_response)
    requests = _rows(out, "CREATE_CHILD_SA MID=02 Initiator Request")
    responses = _rows(out, "CREATE_CHILD_SA MID=02 Responder Response")
    assert len(requests) == 2 and len(responses) == 2 and responses[0][5:] == responses[1][5:], out
    assert out.count("CHILD SA rekeyed") == 1 and out.count("CHILD SA installed") == 2, out  # processed once
    assert "retransmit 1 of request with message ID 2" in alice.log_text()
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), alice.keys()) == 2


def test_lost_rekey_request_while_charon_rekeys(netns_pair, charon_factory, tmp_path: Path) -> None:
    """ikelab's CHILD SA rekey request is lost, and charon rekeys the same CHILD SA before ikelab retransmits.

    ikelab answers charon's rekey although its own is pending (RFC 7296 2.8.1 lets each side answer), moves
    to the new CHILD SA when charon deletes the old one, and its retransmitted request then names a CHILD SA
    charon no longer has: CHILD_SA_NOT_FOUND (3.10.1), reported without harm to the SA that stands.
    """
    net = netns_pair
    bob: Charon = charon_factory(net.b, "bob", swanctl_conf=_conf(net, net.b, net.a, ID_RESPONDER, ID_INITIATOR))
    bob.load_all()
    net.b.drop_first(sport=4500, size=REKEY_RESPONSE + 100, ip_length=REKEY_RESPONSE)  # the request is 240 bytes too
    proc = start_connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=[
        "--proposal", SUITE, "--esp-proposal", ESP, "--ts", f"{net.a.inner}/32", f"{net.b.inner}/32",
        "--ping", net.b.inner, "--ping-src", net.a.inner, "--retransmit-timeout", "1.5", "--rekey-after", "0.2",
        "--duration", "4"])
    try:
        proc.wait_for_output("CREATE_CHILD_SA MID=02 Initiator Request", timeout=15)  # sent, and dropped
        bob.swanctl("--rekey", "--child", "net")
        status = proc.wait(30)
    finally:
        proc.close()
    out = proc.output()
    assert status == 0, out + bob.diagnostics()
    assert len(_rows(out, "CREATE_CHILD_SA MID=00 Initiator Response")) == 1, out  # ikelab answered charon's rekey
    assert out.count("CHILD SA rekeyed") == 1 and "(after rekey): 3 sent, 3 replies" in out, out
    assert "retransmission 1 of CREATE_CHILD_SA MID=2" in out, out
    assert "FAILURE CHILD_SA_NOT_FOUND" in out and out.count("CHILD SA installed") == 2, out  # no third CHILD SA
    assert "unable to rekey, CHILD_SA not found" in bob.log_text()
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), bob.keys()) == 2


def test_charons_request_before_its_lost_ike_auth_answer(netns_pair, charon_factory, tmp_path: Path) -> None:
    """charon's IKE_AUTH response is lost; charon, established, checks liveness after a second (dpd_delay),
    while ikelab still waits in AUTH_SENT.  ikelab drops that request unanswered; its IKE_AUTH
    retransmission brings charon's cached response, and charon's retransmitted liveness check is then
    answered: the IKE SA stands on both sides (RFC 7296 2.3).  ikelab used to answer INVALID_SYNTAX,
    and charon "received INVALID_SYNTAX notify error, destroying IKE_SA"."""
    net = netns_pair
    bob: Charon = charon_factory(net.b, "bob", swanctl_conf=_conf(net, net.b, net.a, ID_RESPONDER, ID_INITIATOR,
                                                                  extra={"dpd_delay": "1s"}))
    bob.load_all()
    net.a.drop_first(sport=4500, size=ONE_RESPONSE)  # charon's first IKE_AUTH response never reaches ikelab
    result = connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=[
        "--proposal", SUITE, "--esp-proposal", ESP, "--ts", f"{net.a.inner}/32", f"{net.b.inner}/32",
        "--ping", net.b.inner, "--ping-src", net.a.inner, "--retransmit-timeout", "2.5", "--duration", "8"])
    out = result.stdout + result.stderr
    assert result.returncode == 0, out + bob.diagnostics()
    assert len(_rows(out, "IKE_AUTH MID=01 Initiator Request")) == 2, out
    checks = _rows(out, "INFORMATIONAL MID=00 Responder Request")
    answers = _rows(out, "INFORMATIONAL MID=00 Initiator Response")
    established = float(_rows(out, "IKE_AUTH MID=01 Responder Response")[0][1])
    # the first check came before the IKE_AUTH answer and went unanswered; the retransmission was answered
    assert len(checks) == 2 and float(checks[0][1]) < established < float(checks[1][1]), out
    assert len(answers) == 1 and float(answers[0][1]) >= float(checks[1][1]), out
    assert ("dropped: INFORMATIONAL_REQUEST is not legal in state AUTH_SENT: our IKE_AUTH request's answer has "
            "not come yet") in out, out
    assert out.count("CHILD SA installed") == 1 and "3 sent, 3 replies" in out, out
    log = bob.log_text()
    assert "retransmit 1 of request with message ID 0" in log, log[-3000:]
    assert "INVALID_SYNTAX" not in log, log[-3000:]


def _lost_child_answer(net, charon_factory, tmp_path: Path, duration: int,
                       then: Callable[[Charon, IkelabProcess], None]) -> tuple[Charon, str]:
    """ikelab (--childless) asks for its CHILD SA with CREATE_CHILD_SA and charon's answer is dropped; once
    charon holds the CHILD SA, ``then(charon, ikelab)`` runs.  ikelab must exit 0; returns charon and
    ikelab's output."""
    bob: Charon = charon_factory(net.b, "bob", swanctl_conf=_conf(net, net.b, net.a, ID_RESPONDER, ID_INITIATOR))
    bob.load_all()
    net.a.drop_first(sport=4500, size=REKEY_RESPONSE + 100, ip_length=REKEY_RESPONSE)  # the CREATE_CHILD_SA answer
    proc = start_connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=[
        "--proposal", SUITE, "--esp-proposal", ESP, "--ts", f"{net.a.inner}/32", f"{net.b.inner}/32",
        "--childless", "--retransmit-timeout", "3", "--duration", str(duration)])
    try:
        bob.wait_for_sa(lambda sas: sas and sas[0].get("child-sas"), timeout=10)
        then(bob, proc)
        assert proc.proc.wait(timeout=30) == 0, proc.output() + bob.diagnostics()
    finally:
        if proc.proc.poll() is None:
            proc.proc.kill()
    out = proc.output()
    assert len(_rows(out, "CREATE_CHILD_SA MID=02 Initiator Request")) == 2, out  # ikelab retransmitted
    return bob, out


def test_charon_deletes_a_child_sa_whose_answer_ikelab_lost(netns_pair, charon_factory, tmp_path: Path) -> None:
    """charon deletes the CHILD SA whose answer ikelab lost, at once.  ikelab, knowing no such SA yet,
    answers the DELETE empty but remembers it: when its retransmission brings charon's cached answer, the
    CHILD SA is made and removed at once, as at charon (RFC 7296 1.4.1), instead of being installed on
    ikelab's side alone."""
    bob, out = _lost_child_answer(netns_pair, charon_factory, tmp_path, 6,
                                  lambda bob, proc: bob.swanctl("--terminate", "--child", "net"))
    assert "(deleted by peer (its DELETE came before this answer))" in out, out
    log = bob.log_text()
    assert "received retransmit of request with ID 2, retransmitting response" in log, log[-3000:]


def test_charon_rekeys_a_child_sa_whose_answer_ikelab_lost(netns_pair, charon_factory, tmp_path: Path) -> None:
    """As above, but charon rekeys the new CHILD SA at once instead of deleting it.  ikelab, with its
    own request still open, cannot tell an unknown SA from the one on its way and answers
    TEMPORARY_FAILURE (RFC 7296 2.25), so charon tries again later; meanwhile ikelab's retransmission
    brings charon's cached answer, and the rekey that follows succeeds: pings cross the new CHILD SA."""
    net = netns_pair

    def rekey(bob: Charon, proc: IkelabProcess) -> None:
        bob.swanctl("--rekey", "--child", "net")
        proc.wait_for_output("CHILD SA rekeyed", timeout=30)
        assert net.b.ping(net.a.inner, src=net.b.inner, count=3) == 3  # charon's kernel, ikelab's userspace ESP

    bob, out = _lost_child_answer(net, charon_factory, tmp_path, 20, rekey)
    log = bob.log_text()
    assert "TEMPORARY_FAILURE" in log and "CHILD_SA_NOT_FOUND" not in log, log[-3000:]


def test_charon_rekeys_the_ike_sa_under_an_unanswered_child_request(netns_pair, charon_factory,
                                                                     tmp_path: Path) -> None:
    """charon makes ikelab's CHILD SA, its answer is lost, and charon rekeys the IKE SA at once.  ikelab,
    with its request open, refuses with TEMPORARY_FAILURE (RFC 7296 2.25.1); its retransmission brings
    charon's cached answer, charon rekeys the IKE SA again later, and in the end charon holds one CHILD
    SA, the one ikelab holds, and pings cross it."""
    net = netns_pair
    sas: list = []

    def rekey_ike(bob: Charon, proc: IkelabProcess) -> None:
        bob.swanctl("--rekey", "--ike", "lab")
        proc.wait_for_output("IKE SA rekeyed", timeout=40)
        sas.extend(bob.wait_for_sa(lambda s: s and s[0].get("child-sas") and len(s[0]["child-sas"]) == 1, timeout=10))
        assert net.b.ping(net.a.inner, src=net.b.inner, count=3) == 3  # charon's kernel, ikelab's userspace ESP
        bob.swanctl("--terminate", "--ike", "lab")

    bob, out = _lost_child_answer(net, charon_factory, tmp_path, 40, rekey_ike)
    assert out.count("CHILD SA installed") == 1 and out.count("IKE SA rekeyed") == 1, out
    (child,) = sas[0]["child-sas"].values()
    assert f"SPI in 0x{child['spi-out']}" in out, (child, out)
    assert "received TEMPORARY_FAILURE notify" in bob.log_text(), bob.log_text()[-3000:]
