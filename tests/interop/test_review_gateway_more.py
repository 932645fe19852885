"""``ikelab respond`` keeps serving a class: a refused student, per-client rounds, a student who vanishes.

On the star of ``test_review_gateway_clients.py`` (its ``Classroom`` and fixtures, reused), the teacher's
gateway runs ``ikelab respond --pool 10.3.0.0/24 --ping peer --rekey-after 1 --rekey-ike-after 0.5 --dpd 1``:

1. c1, a charon whose IKE proposal the gateway does not take, is refused with NO_PROPOSAL_CHOSEN (RFC 7296
   2.7; charon logs it): the gateway says so and keeps listening (it used to end the run, status 5);
2. c2 (charon) and c3 (``ikelab connect --vip 0.0.0.0``) come up: the gateway pings each one's own virtual
   IP through that client's CHILD SA (charon's kernel and ikelab's userspace ESP answer), rekeys each one's
   CHILD SA and then IKE SA on that client's own schedule (1.3.2, 1.3.3), and pings again (these acted on
   the newest client only);
3. c3 is killed (no DELETE): the gateway's liveness check (2.4) finds it gone and says so, while c2's
   pings go on; when c2 deletes its IKE SA the run ends 0 (a lost client used to make it 3), with a line
   counting the clients.

Found and fixed in ``ikelab.peer`` and ``ikelab.gateway`` (offline regressions: ``tests/test_review_session37_gateway.py``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from interop.charon import Charon
from interop.ikelab_peer import start_connect
from interop.swanctl import psk_conf
from interop.test_review_gateway_clients import (ESP, GATEWAY, GW_ID, GW_INNER, POOL, SUITE, classroom_factory,
                                                 up)

pytestmark = [pytest.mark.strongswan, pytest.mark.usefixtures("tshark_env", "nft_env")]

__all__ = ["classroom_factory"]  # the fixture, for pytest to find here


def test_a_refused_student_a_lost_one_and_per_client_rounds(classroom_factory, tmp_path: Path) -> None:
    from interop.ikelab_peer import respond

    room, charon_in = classroom_factory(direct=3, nat=False)
    c1_ns, c2_ns, c3_ns = room.clients
    wrong = psk_conf(local_addrs=c1_ns.addr4, remote_addrs=GATEWAY, local_id="student1@example.org",
                     remote_id=GW_ID, local_ts="dynamic", remote_ts=f"{GW_INNER}/32", proposals="aes256-sha384-ecp384",
                     esp_proposals=ESP, extra={"vips": "0.0.0.0"})
    c1 = Charon(c1_ns, tmp_path / "c1", swanctl_conf=wrong)
    c2 = charon_in(c2_ns, "c2", "student2@example.org")
    gw = respond(room.gw, tmp_path / "gw", local_id=GW_ID, remote_id="%any", keys=False,
                 extra=["--proposal", SUITE, "--esp-proposal", ESP, "--pool", POOL, "--ts", f"{GW_INNER}/32",
                        "dynamic", "--quiet", "--wait", "30", "--ping", "peer", "--rekey-after", "1",
                        "--rekey-ike-after", "0.5", "--dpd", "1", "--retransmit-timeout", "0.5",
                        "--retransmit-tries", "1"])
    c3 = None
    try:
        c1.start()
        c1.load_all()
        # 1. refused: said, and the gateway goes on
        c1.swanctl("--initiate", "--child", "net", "--timeout", "5", check=False, timeout=15)
        c1.wait_for_log("received NO_PROPOSAL_CHOSEN notify error")
        gw.wait_for_output("refused or failed (NO_PROPOSAL_CHOSEN", timeout=5)
        assert gw.proc.poll() is None, gw.output()
        # 2. two students, each with its own rounds
        sa2 = up(c2)
        vip2 = sa2["local-vips"][0]
        c3 = start_connect(c3_ns, GATEWAY, tmp_path / "c3", local_id="student3@example.org", remote_id=GW_ID,
                           keys=False, extra=["--vip", "0.0.0.0", "--ts", "dynamic", f"{GW_INNER}/32", "--quiet",
                                              "--encap", "always", "--proposal", SUITE, "--esp-proposal", ESP,
                                              "--duration", "60"])
        c3.wait_for_output("virtual IP 10.3.0.", timeout=15)
        vip3 = re.search(r"virtual IP (10\.3\.0\.\d+) \(CP", c3.output()).group(1)
        assert vip3 != vip2
        for vip in (vip2, vip3):
            for label in ("first CHILD SA", "after rekey"):
                gw.wait_for_output(f"-> {vip} through ESP ({label})", timeout=15)
        gw.wait_for_output("IKE SA rekeyed", timeout=10)
        c2.wait_for_log(re.compile(r"IKE_SA lab\[\d+\] rekeyed between").search, timeout=10)  # charon's side
        c3.wait_for_output("IKE SA rekeyed", timeout=10)
        # 3. c3 vanishes: the gateway finds it (2.4) and serves c2 on
        c3.proc.kill()
        gw.wait_for_output("client lost", timeout=15)
        assert gw.proc.poll() is None, gw.output()
        assert c2_ns.ping(GW_INNER, src=vip2, count=3) == 3
        c2.terminate(ike="lab")
        status = gw.wait(15)
    finally:
        if c3 is not None:
            c3.close()
        c1.stop()
        gw.close()
    out = gw.output()
    for vip in (vip2, vip3):  # each student's own address, through its own CHILD SA, before and after its rekey
        # the first round leaves as soon as the gateway's IKE_AUTH response does: charon's kernel may take the
        # first echo before it has installed the SA (the same with one peer); after the rekey all come back
        first = re.search(rf"-> {re.escape(vip)} through ESP \(first CHILD SA\) \(client 192\.0\.2\.1[23]:\d+\): "
                          r"3 sent, ([123]) replies", out)
        assert first, out
        assert re.search(rf"-> {re.escape(vip)} through ESP \(after rekey\) \(client 192\.0\.2\.1[23]:\d+\): "
                         r"3 sent, 3 replies", out), out
    assert "ping: " not in out, out  # no ESP error
    assert out.count("CHILD SA rekeyed") == 2 and out.count("IKE SA rekeyed") == 2, out
    assert "clients: 2 came up, 1 lost, 1 handshakes refused or failed" in out, out
    assert status == 0 and out.rstrip().endswith("OK: IKE SA and CHILD SA established (exit status 0)"), out
