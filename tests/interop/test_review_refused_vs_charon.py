"""Rekeys that strongSwan's charon refuses: ikelab keeps the old SA and asks again (RFC 7296 1.3, 2.8, 2.25).

An ikelab initiator (:class:`ikelab.ike.IkeSa`, sans-IO, its own virtual clock) with charon in namespace B,
one datagram at a time through the relay of ``test_review_requests_vs_charon.py``.  ikelab's timers are
driven by hand (``handle_timer`` at each due time), so each scheduled rekey comes at once; charon's own
lifetimes are far off.  charon is the reference for what follows a refusal: its child_rekey.c and ike_rekey.c
try a refused rekey again after a random 5 to 15 s (``schedule_delayed_rekey``) and keep the old SA; ikelab
asks again after retransmit_timeout to twice that (4 to 8 s here), for a rekey its lifetime scheduled.

* ``CHILD SA rekey, PFS refused``: ikelab's rekeys offer X25519 (PFS), charon's esp_proposals have no DH group:
  NO_PROPOSAL_CHOSEN, each time.  Both keep the old CHILD SA, INSTALLED, until ikelab's hard lifetime ends it
  with a DELETE that charon answers.
* ``IKE SA rekey refused, then taken``: ikelab's proposals (changed under the running IKE SA) are none charon
  takes: NO_PROPOSAL_CHOSEN, the IKE SA stays on both sides; restored, ikelab's next try rekeys it, and charon
  lists the new SPIs.
* ``charon's CHILD SA rekey refused by ikelab``, the reference itself: charon initiates (namespace B), an
  ikelab responder (:class:`ikelab.net.NetDriver` in namespace A) has no DH group in its esp_proposals, and
  charon's rekey (rekey_time 2 s) offers X25519: ikelab answers NO_PROPOSAL_CHOSEN and keeps the CHILD SA;
  charon logs "CHILD_SA rekeying failed, trying again in N seconds", asks again after those seconds, and
  keeps the same CHILD SA INSTALLED meanwhile, as ikelab now does in charon's place.
* ``IKE SA rekey with INVALID_KE_PAYLOAD``: ikelab's KEi is MODP-2048, which charon does not take: charon
  answers INVALID_KE_PAYLOAD naming ECP-256, and ikelab asks once more with an ECP-256 KEi (1.3), which
  charon takes.

Run: ``cd tests && CI=true python -m pytest -n0 interop/test_review_refused_vs_charon.py`` (about 20 s).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ikelab import events as ev
from ikelab import exchanges_wire as W
from ikelab.ike import IkeSa
from ikelab.state import State

from .test_review_requests_vs_charon import ID_I, ID_R, PSK, CharonResponder, establish
from .ikelab_peer import answering_charon, one_handshake

pytestmark = pytest.mark.strongswan

CHARON_IKE = "aes128-sha256-x25519-ecp256"  # charon takes X25519 or ECP-256
CHARON_ESP = "aes128-sha256"  # and no DH group in CREATE_CHILD_SA: a PFS rekey is refused


@pytest.fixture(scope="module")
def peer(module_charon: Any) -> Any:
    from interop.swanctl import psk_conf

    net, charon = module_charon(lambda net: psk_conf(
        local_addrs=net.b.addr4, remote_addrs=net.a.addr4, local_id=ID_R, remote_id=ID_I,
        local_ts=f"{net.b.inner}/32", remote_ts=f"{net.a.inner}/32", proposals=CHARON_IKE,
        esp_proposals=CHARON_ESP, psk=PSK))
    relay = CharonResponder(net, charon)
    try:
        yield relay
    finally:
        relay.close()


def pump(peer: Any, sa: IkeSa, now: float) -> list[str]:
    """Each datagram ``sa`` sends goes to charon and charon's answer back, until ``sa`` is quiet (window 1);
    returns the answers' payload lists, as ikelab decrypted them."""
    answers = []
    for _ in range(8):
        out = sa._home().pop_datagrams() + (sa.pop_datagrams() if sa._home() is not sa else [])
        if not out:
            return answers
        for dgram in out:
            reply = peer.exchange(dgram)
            assert reply is not None, f"charon did not answer {dgram}"
            target = sa if reply[:8] == sa.spi_i else sa._home()
            answers.append(" ".join(p.name for p in W.inner(W.decode(reply, crypto=target._crypto(sending=False)))))
            target.receive(reply, now)
    raise AssertionError("ikelab kept sending")


def charon_sa(peer: Any, sa: IkeSa) -> dict[str, Any]:
    (mine,) = [s for s in peer.charon.list_sas() if s.get("initiator-spi") == sa.spi_i.hex()]
    return mine


def charon_children(peer: Any, sa: IkeSa) -> set[tuple[str, str]]:
    """(spi-in, spi-out) of charon's INSTALLED CHILD SAs under ``sa``, as 8 hex digits each."""
    return {(c["spi-in"], c["spi-out"]) for c in (charon_sa(peer, sa).get("child-sas") or {}).values()
            if c.get("state") == "INSTALLED"}


def failures(sa: IkeSa) -> list[str]:
    return [e.notify for e in sa.pop_events() if isinstance(e, ev.Failure)]


def test_a_child_sa_rekey_charon_refuses_is_asked_again_and_the_old_sa_stays(peer: Any) -> None:
    """CHILD SA rekey, PFS refused (module docstring)."""
    sa = establish(peer)
    (child,) = sa.children.values()
    pair = (child.spi_out.hex(), child.spi_in.hex())  # charon's (in, out)
    base = sa.config.retransmit_timeout
    asked = []
    for _ in range(3):
        now = child.rekey_at
        asked.append(now)
        sa.handle_timer(now)
        assert pump(peer, sa, now) == ["N"]
        assert failures(sa) == ["NO_PROPOSAL_CHOSEN"]
        assert sa.children == {child.spi_in: child} and child.state == "INSTALLED"
        assert charon_children(peer, sa) == {pair}
        assert now + base <= child.rekey_at <= now + 2 * base
    text = peer.charon.log_text()
    assert text.count("no acceptable proposal found") >= 3
    # the hard lifetime: ikelab's DELETE, answered with charon's half (1.4.1)
    now = child.expire_at
    sa.handle_timer(now)
    assert pump(peer, sa, now) == ["D"]
    assert not sa.children and sa.state == State.ESTABLISHED
    assert charon_children(peer, sa) == set() and charon_sa(peer, sa)["state"] == "ESTABLISHED"


def test_an_ike_sa_rekey_charon_refuses_stays_and_is_taken_once_acceptable(peer: Any) -> None:
    """IKE SA rekey refused, then taken (module docstring)."""
    sa = establish(peer)
    good = sa.config
    sa.config = replace(good, ike_proposals=("aes256-sha512-modp3072",))
    now = sa.rekey_at
    for child in sa.children.values():
        child.rekey_at = child.expire_at = None  # only the IKE SA's rekey comes due here
    sa.handle_timer(now)
    assert pump(peer, sa, now) == ["N"]
    assert failures(sa) == ["NO_PROPOSAL_CHOSEN"] and sa.state == State.ESTABLISHED
    assert charon_sa(peer, sa)["state"] == "ESTABLISHED"
    base = sa.config.retransmit_timeout
    assert now + base <= sa.rekey_at <= now + 2 * base
    sa.config = good
    now = sa.rekey_at
    sa.handle_timer(now)
    assert pump(peer, sa, now) == ["SA NONCE KE", ""]  # the rekey, then the DELETE of the old IKE SA (2.18)
    new = sa.successor
    assert new is not sa and new.state == State.ESTABLISHED and sa.state == State.CLOSED
    listed = charon_sa(peer, new)
    assert (listed["initiator-spi"], listed["responder-spi"]) == (new.spi_i.hex(), new.spi_r.hex())
    assert not [s for s in peer.charon.list_sas() if s.get("initiator-spi") == sa.spi_i.hex()]


def test_an_ike_sa_rekey_answered_invalid_ke_payload_asks_once_more_with_the_group_named(peer: Any) -> None:
    """IKE SA rekey with INVALID_KE_PAYLOAD (module docstring)."""
    sa = establish(peer)
    assert sa.suite.dh.name == "CURVE25519"
    sa.config = replace(sa.config, ike_proposals=("aes128-sha256-modp2048-ecp256",))
    sa.rekey_ike(0.0)
    assert pump(peer, sa, 0.0) == ["N", "SA NONCE KE", ""]
    assert failures(sa) == ["INVALID_KE_PAYLOAD"]
    new = sa.successor
    assert new is not sa and new.suite.dh.name == "ECP_256" and new.state == State.ESTABLISHED
    assert charon_sa(peer, new)["dh-group"] == "ECP_256"


def ikelab_answers(local: str, inner: str, peer_inner: str, ready: str) -> list:
    """In namespace A: an ikelab responder without PFS answers charon until it has refused two rekeys."""
    from ikelab.config import IkeConfig

    config = IkeConfig(local_id=ID_I, remote_id=ID_R, psk=PSK.encode(), ike_proposals=(CHARON_IKE,),
                       esp_proposals=(CHARON_ESP,), local_ts=(f"{inner}/32",), remote_ts=(f"{peer_inner}/32",),
                       cookie_threshold=None)
    return one_handshake(config, local, None, ready=ready, wait=30.0, settle=0.3, ended=lambda events: sum(
        isinstance(e, ev.Failure) and e.notify == "NO_PROPOSAL_CHOSEN" for e in events) >= 2)


def test_charon_asks_again_after_ikelab_refuses_its_child_sa_rekey(module_charon: Any, tmp_path: Any) -> None:
    """charon's CHILD SA rekey refused by ikelab (module docstring)."""
    import re

    from interop.swanctl import psk_conf

    net, charon = module_charon(lambda net: psk_conf(
        local_addrs=net.b.addr4, remote_addrs=net.a.addr4, local_id=ID_R, remote_id=ID_I,
        local_ts=f"{net.b.inner}/32", remote_ts=f"{net.a.inner}/32", proposals=CHARON_IKE,
        esp_proposals="aes128-sha256-x25519", psk=PSK,
        child_extra={"rekey_time": "2s", "life_time": "120s", "rand_time": "0s"}))
    events = answering_charon(charon, net.a, ikelab_answers, net.a.addr4, net.a.inner, net.b.inner, ready=tmp_path / "ready", timeout=40)
    (made,) = [e for e in events if isinstance(e, ev.ChildSaCreated)]
    refused = [e for e in events if isinstance(e, ev.Failure)]
    assert [e.notify for e in refused] == ["NO_PROPOSAL_CHOSEN"] * 2, refused
    assert not [e for e in events if isinstance(e, (ev.ChildSaDeleted, ev.ChildSaRekeyed))]
    text = charon.log_text()
    delays = [int(n) for n in re.findall(r"CHILD_SA rekeying failed, trying again in (\d+) seconds", text)]
    # child_rekey.c: RETRY_INTERVAL less a random jitter; the second refusal answered the request it announced
    assert delays and all(5 <= d <= 15 for d in delays), delays
    (sa,) = charon.list_sas()
    children = [c for c in sa["child-sas"].values()]
    assert [(c["state"], c["spi-in"], c["spi-out"]) for c in children] == [
        ("INSTALLED", made.spi_out.hex(), made.spi_in.hex())], children
