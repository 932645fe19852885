"""Requests caught by an IKE SA rekey (RFC 7296 2.8, 2.8.2, 2.18, 2.25).

A CHILD SA request whose answer is lost, then an IKE SA rekeyed under it; colliding IKE SA rekeys
whose survivor is rekeyed again before the loser learns of the collision.  Whatever happens to the
packets, both peers must end with the same IKE SA and the same CHILD SAs.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikelab import events as ev
from ikelab import exchanges_child
from ikelab.errors import IkelabError
from ikelab.lab import Lab, Network
from ikelab.net import NetDriver
from ikelab.state import State
from ikelab.ts import ts_from_string

from test_ike import assert_same_sas, configs, established


def _fates(lab: Lab, *fates: str) -> None:
    """The next packets' fates, counted from now, then every packet arrives."""
    lab.network = Network(schedule=fates)
    lab._packets = 0


def _deletes_sent(lab: Lab, side: str) -> list[str]:
    return [e.summary for e in lab.events(side, ev.MessageSent) if e.summary == "HDR, SK {D}"]


@pytest.mark.parametrize("action", ["create_child", "rekey_child", "delete_child"])
def test_the_peers_ike_sa_rekey_waits_while_a_child_sa_exchange_is_open(action: str) -> None:
    """Moon asks for a CHILD SA (or a rekey of one, or its deletion); sun answers, but the answer is lost.
    Sun then rekeys the IKE SA.  Moon, with its request still open, refuses with TEMPORARY_FAILURE
    (RFC 7296 2.25.1): had it accepted, its request would hang on an IKE SA that is going away, and moon
    could not know what sun did with it.  Moon's retransmission brings sun's cached answer; sun tries its
    rekey again a little later (2.25), and it succeeds."""
    lab = established()
    (first,) = lab.initiator.children.values()
    _fates(lab, "ok", "drop")  # moon's request arrives, sun's answer is lost
    getattr(lab, action)("initiator")
    lab.run(lab.now + 0.5)
    old_ike = lab.initiator
    lab.rekey_ike("responder")
    lab.run(lab.now + 0.5)
    assert lab.events("responder", ev.Failure)[-1].reason == "IKE SA rekey refused: TEMPORARY_FAILURE"
    assert [e.summary for e in lab.events("initiator", ev.MessageSent)][-1] == "HDR, SK {N(TEMPORARY_FAILURE)}"
    lab.run(lab.now + 30.0)  # moon retransmits after 4 s; sun asks again after 4-8 s
    assert old_ike.state == State.CLOSED and lab.initiator is not old_ike
    assert len(lab.events("initiator", ev.IkeSaRekeyed)) == 1
    assert_same_sas(lab)
    wanted = {"create_child": 2, "rekey_child": 1, "delete_child": 0}[action]
    assert len(lab.initiator.children) == wanted
    if action == "rekey_child":
        (new,) = lab.initiator.children.values()
        assert new.rekey_of == first.spi_in


def test_colliding_ike_sa_rekeys_whose_survivor_is_rekeyed_again() -> None:
    """Both peers rekey the IKE SA.  Moon's request is lost; sun's is answered, so sun moves the CHILD SA
    to its new IKE SA, whose DELETE of the old one is lost too.  Moon then rekeys that new IKE SA again
    before it learns that its own rekey failed: when it does, the CHILD SA it still holds on the first IKE
    SA goes to where sun's went, the newest IKE SA, instead of being dropped (RFC 7296 2.8.2, 2.18)."""
    lab = established()
    (child,) = lab.initiator.children.values()
    first = lab.initiator
    _fates(lab, "drop", "ok", "ok", "drop")  # moon's rekey request; sun's, its answer; sun's DELETE
    lab.rekey_ike("initiator")
    lab.rekey_ike("responder")
    lab.run(lab.now + 0.5)
    assert first.state != State.CLOSED and first.children  # moon still waits for its own rekey's answer
    (second,) = [sa for sa in lab.sas("initiator") if sa is not first and sa.established]
    assert not second.children
    assert lab.initiator is first  # Lab's current IKE SA stays the one with the CHILD SA while unsettled
    second.rekey_ike(lab.now)  # the newest IKE SA moon holds
    lab.run_until_idle()
    assert first.state == second.state == State.CLOSED
    assert_same_sas(lab)
    assert lab.initiator not in (first, second)
    assert set(lab.initiator.children) == {child.spi_in}
    assert not [e for e in lab.events("initiator", ev.ChildSaDeleted)]


def test_a_rejected_child_sa_is_deleted_at_the_responder_by_the_proposed_spi(monkeypatch) -> None:
    """RFC 7296 2.21.3: an initiator that rejects the CHILD SA a responder made (here: the responder
    answers wider traffic selectors than offered, 2.9) asks it to delete that CHILD SA, named by the SPI
    the initiator proposed, the one the responder sends to (3.11)."""
    lab = established(i=dict(local_ts=("192.0.2.1/32",), remote_ts=("192.0.2.2/32",)))
    wide = (ts_from_string("0.0.0.0/0"),)
    monkeypatch.setattr(exchanges_child, "narrow_cached", lambda *args: (wide, wide))
    lab.create_child("initiator")
    lab.run_until_idle()
    assert_same_sas(lab)
    assert len(lab.initiator.children) == 1
    (failure,) = [f for f in lab.events("initiator", ev.Failure) if f.exchange == "CREATE_CHILD_SA"]
    assert failure.notify == "TS_UNACCEPTABLE" and not failure.fatal
    made = lab.events("responder", ev.ChildSaCreated)[-1]
    (gone,) = lab.events("responder", ev.ChildSaDeleted)
    assert gone.spi_in == made.spi_in and gone.reason == "deleted by peer"


def _child_answer_lost() -> tuple[Lab, ev.ChildSaCreated]:
    """Moon asks for a CHILD SA; sun makes it (the event returned) but its answer is lost."""
    lab = established()
    _fates(lab, "ok", "drop")
    lab.create_child("initiator")
    lab.run(lab.now + 0.5)
    return lab, lab.events("responder", ev.ChildSaCreated)[-1]


def test_a_delete_that_overtakes_the_answer_that_made_the_child_sa() -> None:
    """Sun answers moon's CREATE_CHILD_SA, the answer is lost, and sun deletes the new CHILD SA at once.
    Moon knows no such SA yet and answers the DELETE empty (1.4.1), but remembers it: when sun's answer
    comes again (moon retransmitted its request), the CHILD SA is made and removed at once, as at sun."""
    lab, made = _child_answer_lost()
    lab.delete_child("responder", made.spi_in)
    lab.run_until_idle()
    assert_same_sas(lab)
    assert len(lab.initiator.children) == 1
    late = [e for e in lab.events("initiator", ev.ChildSaCreated) if e.spi_out == made.spi_in]
    gone = [e for e in lab.events("initiator", ev.ChildSaDeleted) if e.spi_out == made.spi_in]
    assert len(late) == 1 and [e.reason for e in gone] == ["deleted by peer (its DELETE came before this answer)"]


def test_a_rekey_that_overtakes_the_answer_that_made_the_child_sa() -> None:
    """As above, but sun rekeys the new CHILD SA instead: moon, with its own request still open, cannot
    tell an unknown SA from the one on its way, and answers TEMPORARY_FAILURE (2.25), not
    CHILD_SA_NOT_FOUND, after which sun would drop the SA that moon is about to install.  Sun tries
    again later, and succeeds."""
    lab, made = _child_answer_lost()
    lab.rekey_child("responder", made.spi_in)
    lab.run(lab.now + 30.0)  # the answer's retransmission (4 s), then sun's retry (2.25: 4-8 s)
    assert_same_sas(lab)
    assert len(lab.initiator.children) == 2
    notifies = [f.notify for f in lab.events("responder", ev.Failure)]
    assert "TEMPORARY_FAILURE" in notifies and "CHILD_SA_NOT_FOUND" not in notifies
    (rekeyed,) = lab.events("initiator", ev.ChildSaRekeyed)
    assert rekeyed.old_spi_out == made.spi_in


def test_a_child_sa_named_on_the_new_ike_sa_before_the_collision_is_settled() -> None:
    """Both peers rekey the IKE SA, but sun's request is lost, so moon, which answered none, takes its own
    new IKE SA and at once rekeys the CHILD SA on it.  Sun still waits for its own rekey's answer, so the
    CHILD SA still sits on the old IKE SA (2.8.2); sun finds it there instead of answering
    CHILD_SA_NOT_FOUND, after which moon would drop it."""
    lab = established()
    (child,) = lab.initiator.children.values()
    _fates(lab, "ok", "drop", "ok", "drop")  # moon's rekey; sun's rekey; sun's answer; moon's DELETE
    lab.rekey_ike("initiator")
    lab.rekey_ike("responder")
    lab.run(lab.now + 0.1)
    assert lab.initiator.children and lab.initiator.spi_i != lab.events("initiator", ev.IkeSaRekeyed)[0].old_spi_i
    lab.rekey_child("initiator", child.spi_in)
    lab.run_until_idle()
    assert_same_sas(lab)
    (new,) = lab.initiator.children.values()
    assert new.rekey_of == child.spi_in
    assert not [f for s in ("initiator", "responder") for f in lab.events(s, ev.Failure)
                if f.notify == "CHILD_SA_NOT_FOUND"]


def test_a_request_before_the_ike_auth_answer_is_dropped_not_refused() -> None:
    """Sun's IKE_AUTH answer is lost, and sun at once deletes the CHILD SA.  Moon, still in AUTH_SENT,
    drops the DELETE instead of refusing it (sun would take INVALID_SYNTAX as done, and remove the
    CHILD SA that moon is about to install); sun's retransmission finds moon established."""
    lab = Lab(*configs(), seed=1, network=Network(schedule=("ok", "ok", "ok", "drop")))
    lab.initiate()
    lab.run(lab.now + 0.5)
    assert lab.initiator.state == State.AUTH_SENT and lab.responder.state == State.ESTABLISHED
    lab.delete_child("responder")
    lab.run_until_idle()
    assert_same_sas(lab)
    assert not lab.initiator.children
    dropped = [e.reason for e in lab.events("initiator", ev.MessageDropped)]
    assert "INFORMATIONAL_REQUEST is not legal in state AUTH_SENT: our IKE_AUTH request's answer has not come yet" \
        in dropped
    assert not lab.events("initiator", ev.Failure)


ACTIONS = ("rekey_child", "rekey_ike", "both_rekey_ike", "create_child", "delete_child", "delete_ike", "liveness",
           "wait")
STEPS = st.lists(st.tuples(st.sampled_from(ACTIONS), st.sampled_from(("initiator", "responder")),
                           st.sampled_from((0.0, 0.005, 0.011, 0.02, 0.05, 1.0, 5.0, 30.0))), max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fates=st.lists(st.sampled_from(("ok", "ok", "drop", "dup", "late")), max_size=40), steps=STEPS,
       seed=st.integers(0, 6), childless=st.booleans(), fragmentation=st.booleans())
def test_any_requests_from_both_peers_under_loss_converge(fates: list[str], steps: list[tuple[str, str, float]],
                                                          seed: int, childless: bool, fragmentation: bool) -> None:
    """Any mix of CHILD SA and IKE SA requests from either peer, at any moment (also during the handshake),
    over a network that drops, duplicates and delays: once the network is clean again, both peers hold the
    same one IKE SA with mirrored CHILD SAs and the client the address the gateway leased to it, or
    neither holds any; the pool keeps no address for an IKE SA that is gone."""
    ci, cr = configs(fragmentation=fragmentation, fragment_size=160, childless=childless, dpd_interval=30)
    lab = Lab(replace(ci, vip="0.0.0.0"), replace(cr, pool="10.3.0.0/29"), seed=seed,
              network=Network(schedule=tuple(fates)))
    lab.initiate()
    for action, side, gap in steps:
        try:
            if action == "both_rekey_ike":
                lab.rekey_ike("initiator")
                lab.rekey_ike("responder")
            elif action != "wait":
                getattr(lab, action)(side)
        except IkelabError:
            pass  # nothing to act on yet, or any more (no CHILD SA, the IKE SA not established)
        lab.run(lab.now + gap)
    lab.run(lab.now + 300.0)
    lab.network = Network()
    lab.run(lab.now + 300.0)
    lab.run_until_idle()
    pool = lab.endpoints["responder"].pool
    assert all(holder.state != State.CLOSED for _, holder in pool.holders.values())
    live_i = [sa for sa in lab.sas("initiator") if sa.established]
    live_r = [sa for sa in lab.sas("responder") if sa.established]
    if not live_i and not live_r:
        return
    assert len(live_i) == len(live_r) == 1 and lab.initiator is live_i[0] and lab.responder is live_r[0]
    assert_same_sas(lab)
    assert lab.initiator.virtual_ip == lab.responder.peer_virtual_ip


def test_child_sa_work_queued_on_an_ike_sa_that_is_rekeyed_moves_on() -> None:
    """Moon asks for a CHILD SA while its own rekey of the IKE SA is under way: the request waits in the
    queue (window size 1, 2.3).  When the rekey is done, the request goes out on the new IKE SA (2.18)
    instead of being dropped with the old one."""
    lab = established()
    first = lab.initiator
    lab.rekey_ike("initiator")
    lab.create_child("initiator")  # queued behind the rekey
    lab.run_until_idle()
    assert first.state == State.CLOSED and lab.initiator is not first
    assert_same_sas(lab)
    assert len(lab.initiator.children) == 2
    (made,) = [e for e in lab.events("initiator", ev.ChildSaCreated) if e.exchange == "CREATE_CHILD_SA"]
    assert made.spi_in in lab.initiator.children




def test_a_create_child_sa_refused_with_temporary_failure_is_asked_for_again() -> None:
    """Moon rekeys the IKE SA while sun asks for a second CHILD SA: each refuses the other with
    TEMPORARY_FAILURE (2.25.1).  Both ask again a little later (2.25): the rekey and the CHILD SA."""
    lab = established()
    lab.rekey_ike("initiator")
    lab.create_child("responder")
    lab.run(lab.now + 60.0)
    refused = [f.reason for s in ("initiator", "responder") for f in lab.events(s, ev.Failure)]
    assert sorted(refused) == ["CHILD SA not created: TEMPORARY_FAILURE", "IKE SA rekey refused: TEMPORARY_FAILURE"]
    assert len(lab.events("initiator", ev.IkeSaRekeyed)) == 1
    assert_same_sas(lab)
    assert len(lab.initiator.children) == 2


def test_a_redundant_ike_sa_the_peer_never_learned_of_goes_quietly() -> None:
    """Both peers rekey the IKE SA (2.8.2) and sun's answer to moon's rekey is lost.  Sun's new IKE SA wins;
    the one sun made for moon's request is redundant, and only moon, which made it, would delete it, but
    moon never learned of it.  Sun keeps it as it keeps a replaced IKE SA, and forgets it quietly when
    the wait is over, with no fatal failure (liveness checks go on over the surviving IKE SA)."""
    for seed in range(1, 40):
        lab = established(seed=seed, dpd_interval=10)
        _fates(lab, "ok", "ok", "drop")  # moon's request, sun's request, sun's answer to moon's
        lab.rekey_ike("initiator")
        lab.rekey_ike("responder")
        lab.run(lab.now + 30.0)
        waiting = [sa for sa in lab.sas("responder") if sa.state == State.REKEYED and sa.redundant]
        if waiting:
            break
    else:
        pytest.fail("no seed made a redundant IKE SA that the initiator never learned of")
    (redundant,) = waiting
    assert not redundant.children
    lab.run(lab.now + 300.0)
    assert redundant.state == State.CLOSED
    assert redundant.closed_reason == "redundant, from colliding rekeys (RFC 7296 2.8.2): the peer did not delete it"
    assert not [f for s in ("initiator", "responder") for f in lab.events(s, ev.Failure) if f.fatal]
    assert_same_sas(lab)
    assert [sa for sa in lab.sas("responder") if sa.state != State.CLOSED] == [lab.responder]


def test_a_rekey_refused_because_the_peer_deletes_the_child_sa_creates_nothing() -> None:
    """RFC 7296 2.25.1: TEMPORARY_FAILURE to a rekey whose CHILD SA the peer is deleting means there is nothing
    left to rekey.  It was taken for a refused *new* CHILD SA and asked for again, re-creating the SA the peer
    had just closed (found against strongSwan: ``swanctl --terminate --child`` during a rekey was undone)."""
    lab = established()
    lab.rekey_child("initiator")
    lab.delete_child("responder")
    lab.run(lab.now + 120)
    for side in ("initiator", "responder"):
        assert len(lab.events(side, ev.ChildSaCreated)) == 1  # the first CHILD SA, and no other
        assert len(lab.events(side, ev.ChildSaDeleted)) == 1
    assert not lab.initiator.children and not lab.responder.children
    (refusal,) = [e for e in lab.events("initiator", ev.Failure) if e.notify == "TEMPORARY_FAILURE"]
    assert "not needed" in refusal.reason and not refusal.fatal


def test_a_rekey_met_by_invalid_ke_payload_after_answering_the_peers_rekey_is_not_asked_again() -> None:
    """Both peers rekey the IKE SA (2.8.2); sun, reconfigured meanwhile for ECP-256 only, refuses moon's KEi
    (MODP-2048) with INVALID_KE_PAYLOAD, while moon has answered sun's rekey.  Sun's new IKE SA then stands
    alone, and moon must take it, with the CHILD SA (2.25.2), not ask again with ECP-256 on the old IKE SA
    (1.3): sun deletes that one, and the CHILD SA would go with it."""
    lab = established(ike="aes128-sha256-modp2048-ecp256")
    (child,) = lab.initiator.children.values()
    first = lab.initiator
    lab.rekey_ike("responder")  # KEi in MODP-2048, the IKE SA's group
    lab.responder.config = replace(lab.responder.config, ike_proposals=("aes128-sha256-ecp256",))
    lab.rekey_ike("initiator")
    lab.run_until_idle()
    (refusal,) = lab.events("initiator", ev.Failure)
    assert refusal.notify == "INVALID_KE_PAYLOAD" and not refusal.fatal
    requests = [e for e in lab.events("initiator", ev.MessageSent)
                if not e.is_response and e.exchange == "CREATE_CHILD_SA"]
    assert len(requests) == 1  # the rekey moon started, not asked for again
    assert first.state == State.CLOSED and lab.initiator is not first
    assert_same_sas(lab)
    assert set(lab.initiator.children) == {child.spi_in}
    assert not lab.events("initiator", ev.ChildSaDeleted)


def test_a_rekey_of_a_child_sa_we_rekeyed_and_are_about_to_delete_gets_temporary_failure() -> None:
    """Both peers rekey the CHILD SA, but sun's request is delayed past moon's exchange: sun answers moon's
    request, moon makes the new CHILD SA and must now delete the old one, a DELETE that waits behind moon's
    next request (window size 1, 2.3), whose answer is lost.  Sun's request for the old CHILD SA comes then:
    moon is about to close it and refuses with TEMPORARY_FAILURE (2.25.1).  Had it accepted, the CHILD SA
    would have two successors instead of one (2.8.1)."""
    lab = established()
    (child,) = lab.initiator.children.values()
    _fates(lab, "ok", "late", "ok", "ok", "drop")  # moon's rekey, sun's (late), the answer, moon's next request
    lab.rekey_child("initiator")
    lab.create_child("initiator")  # moon's next request, queued behind the rekey
    lab.rekey_child("responder")
    lab.run_until_idle()
    answers = [e.summary for e in lab.events("initiator", ev.MessageSent)
               if e.is_response and e.exchange == "CREATE_CHILD_SA"]
    assert answers == ["HDR, SK {N(TEMPORARY_FAILURE)}"]
    assert_same_sas(lab)
    successors = [c for c in lab.initiator.children.values() if c.rekey_of == child.spi_in]
    assert len(successors) == 1 and len(lab.initiator.children) == 2  # the successor, and the new CHILD SA
    assert len(lab.events("initiator", ev.ChildSaRekeyed)) == 1


def test_the_answer_to_a_request_on_the_redundant_ike_sa_of_colliding_rekeys_is_taken() -> None:
    """Both peers rekey the IKE SA (2.8.2).  Moon answers sun's request first and at once asks for a CHILD SA
    on the IKE SA sun made, the newest it holds; then moon's own rekey is answered and its new IKE SA wins
    by the nonce rule, so sun's is redundant: sun deletes it (that DELETE is lost) and refuses moon's request
    on it with TEMPORARY_FAILURE.  Moon's IKE SA is no longer in use, but the answer is an answer: the
    exchange ends and its outcome is reported, the request is not sent again as if unanswered (2.3).  The
    CHILD SA is asked for again a little later (2.25), on the IKE SA that survived: it was lost before."""
    for seed in range(1, 40):
        lab = established(seed=seed)
        first = lab.initiator
        _fates(lab, "ok", "ok", "ok", "ok", "ok", "ok", "drop")  # the 7th: sun's DELETE of its redundant IKE SA
        lab.rekey_ike("initiator")
        lab.rekey_ike("responder")
        lab.run(lab.now + 0.015)  # moon has answered sun's rekey; the answer to its own is on its way
        theirs = next((sa for sa in lab.sas("initiator") if sa.unsettled), None)
        if theirs is None:
            continue
        assert lab.initiator is first  # Lab's current IKE SA: the one with the CHILD SA, until it is settled
        theirs.create_child(lab.now)  # on sun's new IKE SA
        lab.run(lab.now + 0.03)
        if theirs.state == State.REKEYED and theirs.redundant:
            break
    else:
        pytest.fail("no seed made the IKE SA moon asked on the redundant one")
    lab.run(lab.now + 300.0)
    assert theirs.state == State.CLOSED
    assert_same_sas(lab)
    refused = [f for f in lab.events("initiator", ev.Failure) if f.exchange == "CREATE_CHILD_SA"]
    assert [f.notify for f in refused] == ["TEMPORARY_FAILURE"] and not refused[0].fatal
    assert not [e for e in lab.events("initiator", ev.Retransmitted) if e.exchange == "CREATE_CHILD_SA"]
    assert not [e for e in lab.events("initiator", ev.MessageDropped) if "CREATE_CHILD_SA" in e.reason]
    survivor = lab.initiator
    assert theirs.replaced_by is survivor and survivor.state == State.ESTABLISHED
    assert len(survivor.children) == len(lab.responder.children) == 2  # the first CHILD SA and the one asked for
    assert theirs.closed_reason == "deleted by peer"


def test_near_the_last_message_ids_one_rekey_is_asked_for_however_many_requests_go_out() -> None:
    """RFC 7296 2.2: Message IDs near 32 bits make the IKE SA rekey, once, however many requests go out
    meanwhile.  Here sun refuses that rekey with TEMPORARY_FAILURE (2.25.1: its own CHILD SA request is open,
    its answer lost); moon asks again a little later (2.25), not straight away once more for each request it sent."""
    from ikelab.ike import MESSAGE_ID_REKEY_AT

    lab = established()
    first = lab.initiator
    first._next_request_id = lab.responder._peer_next_id = MESSAGE_ID_REKEY_AT - 1
    _fates(lab, "ok", "drop")  # sun's CREATE_CHILD_SA request arrives, moon's answer is lost
    lab.create_child("responder")
    lab.run(lab.now + 0.5)
    for _ in range(3):  # the last two use Message IDs from MESSAGE_ID_REKEY_AT on
        lab.liveness("initiator")
    lab.run(lab.now + 30.0)  # sun retransmits after 4 s; moon asks again after 4-8 s
    refused = [f.reason for f in lab.events("initiator", ev.Failure)]
    assert refused == ["IKE SA rekey refused: TEMPORARY_FAILURE"]
    assert len(lab.events("initiator", ev.IkeSaRekeyed)) == 1
    assert first.state == State.CLOSED and lab.initiator._next_request_id < 4
    assert_same_sas(lab)
    assert len(lab.initiator.children) == 2


@pytest.mark.parametrize("collision", [False, True], ids=["alone", "colliding"])
@pytest.mark.parametrize("side", ["initiator", "responder"])
def test_a_delete_asked_for_during_a_rekey_of_the_ike_sa_ends_the_connection(side: str, collision: bool) -> None:
    """A peer asks to close its IKE SA while its own rekey of it is on its way (RFC 7296 2.25.2: the DELETE waits
    its turn, window size 1, 2.3).  The rekey then replaces that IKE SA, and the DELETE closes the new one too:
    asked to end the connection, the peer does not leave the new IKE SA and its CHILD SAs standing.  It used to
    delete only the old IKE SA, which the rekey deletes anyway."""
    lab = established()
    other = "responder" if side == "initiator" else "initiator"
    lab.rekey_ike(side)
    if collision:
        lab.rekey_ike(other)
    lab.run(lab.now + 0.001)
    lab.delete_ike(side)
    lab.run(lab.now + 60.0)
    lab.run_until_idle()
    for peer in ("initiator", "responder"):
        assert [sa for sa in lab.sas(peer) if sa.state != State.CLOSED] == [], peer
        assert len(lab.events(peer, ev.IkeSaRekeyed)) >= 1  # the rekey did happen first
        assert not [f for f in lab.events(peer, ev.Failure) if f.fatal]


def test_the_hard_lifetime_during_a_slow_rekey_leaves_the_new_ike_sa_standing() -> None:
    """The hard lifetime of an IKE SA passes while its rekey waits for an answer (two requests lost): the DELETE
    it queues is for that IKE SA only, which the rekey replaces and deletes anyway (RFC 7296 2.8); the new IKE
    SA, and the CHILD SA on it, stay."""
    lab = established(i=dict(ike_rekey_time=100.0, ike_lifetime=101.0))
    (child,) = lab.initiator.children.values()
    lab.run(99.9)
    first = lab.initiator
    _fates(lab, "drop", "drop")  # the rekey request, and its first retransmission
    lab.run(100.5)
    assert first._pending is not None and first._pending.kind == "rekey_ike"  # still waiting at 101 s
    lab.run(102.0)
    assert first.state == State.ESTABLISHED and first._queue, "the hard lifetime's DELETE waits its turn"
    lab.run(200.0)
    assert first.state == State.CLOSED
    assert lab.initiator is not first and lab.initiator.state == State.ESTABLISHED
    assert_same_sas(lab)
    assert set(lab.initiator.children) == {child.spi_in}


def test_the_lab_acts_on_the_old_ike_sa_until_colliding_rekeys_are_settled() -> None:
    """Between answering the peer's rekey and getting the answer to its own (RFC 7296 2.8.2), a peer holds two
    established IKE SAs: the old one, with the CHILD SAs, and the peer's new one, which may yet lose.  The lab's
    current IKE SA is the old one (``IkeSa.unsettled`` marks the other), so its CHILD SAs can still be named
    and rekeyed; once settled, the survivor is current."""
    lab = established()
    first = lab.initiator
    (child,) = first.children.values()
    lab.rekey_ike("initiator")
    lab.rekey_ike("responder")
    lab.run(lab.now + 0.012)  # each peer has answered the other's request; neither has its own answer yet
    for side in ("initiator", "responder"):
        (new,) = [sa for sa in lab.sas(side) if sa.state == State.ESTABLISHED and sa.unsettled]
        assert not new.children
        assert lab.sa(side) is not new and lab.sa(side).children
    assert lab.children("initiator") == [child]
    driver = NetDriver(lab.endpoints["initiator"].config, "127.0.0.1", port=500)  # never opened: no socket
    driver._sas = lab.sas("initiator")
    assert driver.current_sa() is lab.initiator  # what `ikelab connect` rekeys and deletes (peer.py)
    lab.rekey_child("initiator")  # queued behind the IKE SA rekey, then done on the survivor
    lab.run_until_idle()
    assert_same_sas(lab)
    assert not lab.initiator.unsettled and lab.initiator is not first
    (rekeyed,) = lab.initiator.children.values()
    assert rekeyed.rekey_of == child.spi_in
