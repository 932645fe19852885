"""Session 38 mutation review of the IKE exchange engine (exchanges_*.py, ike.py, endpoint.py): each test here
kills a deliberate small bug that the rest of the suite let through, by asserting what a peer relies on.

The mutant is named in each docstring; RFC 7296 is the reference: 1.3.1 (USE_TRANSPORT_MODE), 2.4/2.6 (the
half-open timeout), 2.8.2 (colliding IKE SA rekeys), 2.18 (CHILD SAs move to the new IKE SA) and 2.25
(TEMPORARY_FAILURE).  84 mutants were tried (nonce rules, old-SA deletion, SK_d, REKEY_SA, KE groups,
TEMPORARY_FAILURE/NO_ADDITIONAL_SAS, DELETE answers, backoff and give-up, lifetimes and jitter, cookies,
INITIAL_CONTACT); the existing tests killed all but the five these tests kill and a few equivalent ones.
"""

from __future__ import annotations

import pytest

from test_ike import assert_same_sas, established
from test_review_session38_mutants_ike import _half_open

from ikelab import events as ev
from ikelab import exchanges_wire as W
from ikelab.constants import NotifyType
from ikelab.exchanges_child import ChildExchanges
from ikelab.lab import Network
from ikelab.state import State


def _fates(lab, *fates: str) -> None:
    """The next packets' fates, counted from now, then every packet arrives."""
    lab.network = Network(schedule=fates)
    lab._packets = 0


def _both_rekey_and_suns_request_is_lost(lab) -> None:
    """Both peers rekey the IKE SA; sun's request and moon's DELETE of the old IKE SA are lost (2.8.2)."""
    _fates(lab, "ok", "drop", "ok", "drop")  # moon's rekey; sun's rekey; sun's answer; moon's DELETE
    lab.rekey_ike("initiator")
    lab.rekey_ike("responder")
    lab.run(lab.now + 0.1)


def test_child_sas_move_to_a_new_ike_sa_that_already_holds_one_made_by_the_peer() -> None:
    """Mutant: when the new IKE SA already holds CHILD SAs, the old IKE SA's ones are dropped, not added.

    RFC 7296 2.18: all CHILD SAs of the old IKE SA move to the new one.  Here both peers rekey the IKE SA and
    sun's request is lost; moon takes its new IKE SA (its DELETE of the old one is lost too) and at once creates
    a CHILD SA on it.  Sun, retrying its own rekey, is refused with TEMPORARY_FAILURE (2.25.2) and so settles on
    moon's new IKE SA, which by then holds moon's new CHILD SA: sun's original CHILD SA must join it there."""
    lab = established(seed=1)
    (first,) = lab.initiator.children.values()
    _both_rekey_and_suns_request_is_lost(lab)
    lab.create_child("initiator")
    lab.run_until_idle()
    assert [f.notify for f in lab.events("responder", ev.Failure)] == ["TEMPORARY_FAILURE"]
    assert len(lab.events("responder", ev.IkeSaRekeyed)) == 1
    assert_same_sas(lab)
    assert len(lab.responder.children) == 2 and first.spi_out in lab.responder.children


def test_child_sas_handed_to_a_colliding_ike_sa_already_deleted_are_deleted_with_it() -> None:
    """Mutant: the CHILD SAs move to the peer's new IKE SA even when the peer has deleted that one already.

    RFC 7296 2.8.2, 1.4.1: both peers rekey the IKE SA and sun's request is lost; moon takes its new IKE SA and
    deletes it at once (the connection ends).  Sun, asking again, is refused with TEMPORARY_FAILURE (2.25.2)
    and settles on moon's new IKE SA, which is closed: "deleting an IKE SA implicitly closes any remaining
    Child SAs", so sun removes the CHILD SA (its ESP SAs go) instead of leaving it on a closed IKE SA."""
    lab = established(seed=1)
    (first,) = lab.responder.children.values()
    old = lab.responder
    _both_rekey_and_suns_request_is_lost(lab)
    lab.delete_ike("initiator")
    lab.run_until_idle()
    assert [f.notify for f in lab.events("responder", ev.Failure)] == ["TEMPORARY_FAILURE"]
    gone = [e for e in lab.events("responder", ev.ChildSaDeleted) if e.spi_in == first.spi_in]
    assert len(gone) == 1 and "2.8.2" in gone[0].reason
    assert old.replaced_by is not None and old.replaced_by.state.name == "CLOSED"
    assert not old.children and not old.replaced_by.children


def test_a_responder_configured_for_transport_mode_answers_a_tunnel_mode_request_in_tunnel_mode() -> None:
    """Mutant: the responder takes transport mode whenever its own configuration says so, asked or not.

    RFC 7296 1.3.1: transport mode is used only when the initiator asks for it with N(USE_TRANSPORT_MODE); the
    responder "MUST NOT" answer with that notify otherwise (the initiator would refuse the CHILD SA, 3.10.1),
    so a request without it gets a tunnel-mode CHILD SA, between the two IKE hosts as well."""
    lab = established(i=dict(mode="tunnel"), r=dict(mode="transport", local_ts=("192.0.2.2/32",),
                                                    remote_ts=("192.0.2.1/32",)))
    for side in ("initiator", "responder"):
        (created,) = lab.events(side, ev.ChildSaCreated)
        assert created.mode == "tunnel"
        assert not lab.events(side, ev.Failure)
    assert "USE_TRANSPORT_MODE" not in lab.events("responder", ev.MessageSent)[-1].summary


def test_two_child_sas_refused_with_temporary_failure_are_both_asked_for_again(monkeypatch) -> None:
    """Mutant: when one retry is due, the retries not yet due are forgotten with it.

    RFC 7296 2.25: a CREATE_CHILD_SA refused with TEMPORARY_FAILURE is asked for again after a random delay.
    Sun asks for two CHILD SAs and moon, busy, refuses both; the two retries fall due at different times, and
    each must bring its own CHILD SA (the first one due must not cancel the second)."""
    lab = established()
    answer = ChildExchanges.on_create_child_sa_request
    refused: list[int] = []

    def busy(self, now, *, msg, raw):
        if len(refused) < 2:
            refused.append(msg.message_id)
            self._respond(msg, now, [W.notify(NotifyType.TEMPORARY_FAILURE)])
            return None
        return answer(self, now, msg=msg, raw=raw)

    monkeypatch.setattr(ChildExchanges, "on_create_child_sa_request", busy)
    lab.create_child("responder")
    lab.create_child("responder")
    lab.run(lab.now + 0.5)
    due = sorted(retry[0] for retry in lab.responder.child_retries)
    assert len(refused) == 2 and len(due) == 2 and due[0] < due[1]
    lab.run(lab.now + 60.0)
    assert len(lab.events("responder", ev.ChildSaCreated)) == 3
    assert_same_sas(lab)
    assert len(lab.initiator.children) == 3


def test_a_half_open_responder_sa_goes_when_the_initiator_has_given_up() -> None:
    """Mutant: the half-open timeout is doubled (and reached only after it has passed).

    RFC 7296 2.4, 2.6: a responder that answered IKE_SA_INIT keeps the half-open state (which cookies
    protect) only as long as the initiator could still send IKE_AUTH: its first try plus ``retransmit_tries``
    retransmissions, with exponential backoff: sum of timeout * base ** n for n = 0 .. tries.  Not a moment
    before, and gone at that time."""
    moon, sun, _ = _half_open()
    c = sun.config
    tries = int(c.retransmit_tries)
    give_up = sum(float(c.retransmit_timeout) * float(c.retransmit_base) ** n for n in range(tries + 1))
    assert sun.get_timer() == pytest.approx(sun.created + give_up)
    sun.handle_timer(sun.created + give_up - 0.001)
    assert sun.state == State.INIT_DONE
    sun.handle_timer(sun.created + give_up)
    assert sun.state == State.CLOSED
