"""N(INITIAL_CONTACT) received (RFC 7296 2.4): a peer that lost its state replaces its stale IKE SAs at once.

The scenario is a crash: moon's IKE SA with sun is up, moon restarts with
nothing (a new endpoint, new random values) and brings up a new IKE SA.  With
INITIAL_CONTACT in the new IKE_AUTH, sun must drop the old IKE SA and its
CHILD SA right away (no DELETE: the peer would not know the SPIs); without it,
or from another identity, the old IKE SA must stay.
"""

from __future__ import annotations

from dataclasses import replace

from cryptography.hazmat.primitives.asymmetric import ed25519
from test_ike import configs
from test_review_session35_auth import _handshake

from ikelab import events as ev
from ikelab.endpoint import IkeEndpoint
from ikelab.lab import Lab
from ikelab.state import State


def _crash_and_return(initial_contact: bool, **moon_again: object) -> tuple[Lab, list]:
    """moon and sun up; moon restarts (optionally with other settings) and connects again."""
    ci, cr = configs()
    lab = Lab(ci, cr, seed=5)
    lab.initiate()
    lab.run_until_idle()
    old = lab.responder
    assert old.established and len(old.children) == 1
    lab.restart("initiator", initial_contact=initial_contact, config=replace(ci, **moon_again))
    sent_before = len(lab.trace)
    lab.initiate()
    lab.run_until_idle()
    return lab, [old, sent_before]


def test_initial_contact_replaces_the_stale_ike_sa_and_its_child_sa() -> None:
    lab, (old, sent_before) = _crash_and_return(True)
    new = lab.responder
    assert new is not old and new.established and len(new.children) == 1
    assert old.state == State.CLOSED and not old.children
    deleted = [e for e in lab.events("responder", ev.IkeSaDeleted) if (e.spi_i, e.spi_r) == (old.spi_i, old.spi_r)]
    assert len(deleted) == 1 and "INITIAL_CONTACT" in deleted[0].reason and "2.4" in deleted[0].reason
    gone = {e.spi_in for e in lab.events("responder", ev.ChildSaDeleted)}
    assert gone == {next(iter(lab.events("responder", ev.ChildSaCreated))).spi_in}  # the old CHILD SA only
    # no DELETE went out for the old IKE SA: after the crash nobody holds its keys
    exchanges = [e.exchange for e in lab.events("responder", ev.MessageSent)][2:]
    assert exchanges == ["IKE_SA_INIT", "IKE_AUTH"] and len(lab.trace) - sent_before == 4


def test_without_initial_contact_the_old_ike_sa_stays() -> None:
    lab, (old, _) = _crash_and_return(False)
    assert old.established and lab.responder is not old and lab.responder.established
    assert not lab.events("responder", ev.IkeSaDeleted)


def test_initial_contact_from_another_identity_leaves_the_old_ike_sa_alone() -> None:
    # sun accepts any initiator identity here; the returning peer is someone else
    ci, cr = configs(r={"remote_id": "%any"})
    lab = Lab(ci, cr, seed=5)
    lab.initiate()
    lab.run_until_idle()
    old = lab.responder
    other = replace(ci, local_id="venus.example", initial_contact=True)
    lab.endpoints["initiator"] = IkeEndpoint(other, lab.rng.fork("venus"), lab.addresses["initiator"])
    lab.initiate()
    lab.run_until_idle()
    assert lab.responder is not old and lab.responder.established
    assert old.established and len(old.children) == 1


def test_a_second_ike_sa_from_a_live_endpoint_says_no_initial_contact() -> None:
    """INITIAL_CONTACT means 'the only IKE SA between us' (RFC 7296 2.4): an endpoint that already holds one
    with the peer leaves it out of the next IKE_AUTH, or the peer would drop the first IKE SA."""
    ci, cr = configs(i={"initial_contact": True})
    lab = Lab(ci, cr, seed=5)
    first_i = lab.initiate()
    lab.run_until_idle()
    first_r = lab.responder
    second_i = lab.initiate()
    lab.run_until_idle()
    assert first_i.established and first_r.established and second_i.established
    sent = [e.summary for e in lab.events("initiator", ev.MessageSent) if e.exchange == "IKE_AUTH"]
    assert sent == ["HDR, SK {IDi, N(INITIAL_CONTACT), AUTH, SAi2, TSi, TSr}", "HDR, SK {IDi, AUTH, SAi2, TSi, TSr}"]


def test_initial_contact_replaces_the_ike_sa_a_rekey_made() -> None:
    """The stale IKE SA came from an IKE SA rekey before the crash: it goes, silently (no DELETE, no request
    started on its way out)."""
    ci, cr = configs()
    lab = Lab(ci, cr, seed=5)
    lab.initiate()
    lab.run_until_idle()
    lab.rekey_ike("initiator")
    lab.run_until_idle()
    stale = [sa for sa in lab.sas("responder") if sa.state != State.CLOSED]
    lab.restart("initiator")
    before = len(lab.trace)
    lab.initiate()
    lab.run_until_idle()
    assert stale and all(sa.state == State.CLOSED for sa in stale)
    assert len(lab.trace) - before == 4  # IKE_SA_INIT and IKE_AUTH only: nothing sent for the stale SAs


def test_two_ike_sas_started_at_once_say_no_initial_contact() -> None:
    """The second IKE SA starts before the first is up: neither is alone with the peer when its IKE_AUTH goes
    out, so neither says INITIAL_CONTACT, and the gateway keeps both (each with its own virtual IP)."""
    lab = Lab(*configs(i={"initial_contact": True, "vip": "0.0.0.0"}, r={"pool": "10.3.0.0/24"}), seed=5)
    first = lab.initiate()
    second = lab.initiate()
    lab.run_until_idle()
    assert all(sa.established for sa in lab.sas("responder")) and len(lab.sas("responder")) == 2
    assert {first.virtual_ip, second.virtual_ip} == {"10.3.0.1", "10.3.0.2"}
    sent = [e.summary for e in lab.events("initiator", ev.MessageSent) if e.exchange == "IKE_AUTH"]
    assert len(sent) == 2 and not any("INITIAL_CONTACT" in s for s in sent)


def test_initial_contact_leaves_an_ike_sa_that_is_already_closed_as_it_was() -> None:
    """A CLOSED IKE SA kept for the lab to show is not closed a second time: it keeps the reason it went for."""
    ci, cr = configs()
    lab = Lab(ci, cr, seed=5)
    lab.initiate()
    lab.run_until_idle()
    old = lab.responder
    old._close(lab.now, "gone before the peer came back")
    lab.restart("initiator")
    lab.initiate()
    lab.run_until_idle()
    assert lab.responder is not old and lab.responder.established
    assert old.state == State.CLOSED and old.closed_reason == "gone before the peer came back"


def test_initial_contact_leaves_an_ike_sa_under_another_local_identity_alone() -> None:
    """The stale IKE SAs are those between the same two identities: one that sun holds as another identity of
    its own with the same peer is not the one the peer lost (RFC 7296 2.4)."""
    ci, cr = configs(i={"remote_id": "%any"})
    lab = Lab(ci, cr, seed=5)
    lab.initiate()
    lab.run_until_idle()
    old = lab.responder
    sun = lab.endpoints["responder"]
    other = sun.initiate((lab.addresses["initiator"], 500), lab.now, config=replace(cr, local_id="sun2.example"))
    lab._flush()
    lab.run_until_idle()
    assert other.established and other.remote_identity is not None
    lab.restart("initiator")
    lab.initiate()
    lab.run_until_idle()
    assert old.state == State.CLOSED  # the one moon lost
    assert other.established  # sun2.example's: not the same pair of identities


def test_initial_contact_from_a_peer_that_fails_authentication_closes_nothing() -> None:
    """Only an authenticated peer may say its old IKE SAs are gone: with a wrong PSK the new IKE SA fails and the
    old one, with its CHILD SA, stays (RFC 7296 2.4: the notify is in the authenticated IKE_AUTH)."""
    lab, (old, _) = _crash_and_return(True, psk=b"not the shared secret")
    (new,) = [sa for sa in lab.endpoints["responder"].all_sas() if sa is not old]
    assert not new.established and lab.events("responder", ev.Failure)
    assert old.established and len(old.children) == 1


# --- Lab.restart: the crash above as one lab call -----------------------------------------------------------------


def test_lab_restart_forgets_everything_sends_nothing_and_keeps_the_record() -> None:
    """restart() closes the peer's SAs on its side only (events, no DELETE on the wire), gives it a fresh
    endpoint, and keeps the closed IKE SAs in lab.sas() so that the key tables still cover the old traffic."""
    from ikelab.wireshark import records_from_lab

    ci, cr = configs()
    lab = Lab(ci, cr, seed=5)
    lab.initiate()
    lab.run_until_idle()
    first, sent = lab.initiator, len(lab.trace)
    lab.restart("initiator")
    assert len(lab.trace) == sent and not lab.busy()
    assert first.state == State.CLOSED and lab.sas("initiator") == [first] and lab.children("initiator") == []
    deleted = lab.events("initiator", (ev.IkeSaDeleted, ev.ChildSaDeleted))
    assert [type(e).__name__ for e in deleted] == ["ChildSaDeleted", "IkeSaDeleted"]
    assert lab.responder.established  # sun knows nothing yet
    lab.initiate()
    lab.run_until_idle()
    second = lab.initiator
    assert second is not first and second.established and lab.sas("initiator") == [first, second]
    auth = [e.summary for e in lab.events("initiator", ev.MessageSent) if e.exchange == "IKE_AUTH"]
    assert "N(INITIAL_CONTACT)" not in auth[0] and "N(INITIAL_CONTACT)" in auth[1]
    assert [sa.state for sa in lab.sas("responder")] == [State.CLOSED, State.ESTABLISHED]
    ike, _ = records_from_lab(lab, "initiator")
    assert len(ike) == 2  # both IKE SAs' keys, the forgotten one's too


def test_lab_restart_without_initial_contact_leaves_the_stale_sa() -> None:
    ci, cr = configs()
    lab = Lab(ci, cr, seed=5)
    lab.initiate()
    lab.run_until_idle()
    lab.restart("initiator", initial_contact=False)
    lab.initiate()
    lab.run_until_idle()
    assert [sa.state for sa in lab.sas("responder")] == [State.ESTABLISHED, State.ESTABLISHED]


def test_lab_restart_is_seeded_and_checks_its_side() -> None:
    import pytest

    from ikelab.errors import ConfigError

    traces = []
    for _ in range(2):
        lab = Lab(*configs(), seed=5)
        lab.initiate()
        lab.run_until_idle()
        lab.restart()
        lab.initiate()
        lab.run_until_idle()
        traces.append([p.payload for p in lab.trace])
    assert traces[0] == traces[1] and traces[0][0] != traces[0][4]  # new SPIs, nonces and keys, the same each run
    with pytest.raises(ConfigError, match="side must be"):
        lab.restart("moon")
    with pytest.raises(ConfigError, match="Lab.restart: config"):
        lab.restart(config="moon.example")  # type: ignore[arg-type]
    assert lab.initiator is not None and lab.initiator.established  # a refused restart changed nothing


def test_initial_contact_in_an_ike_sa_that_fails_leaves_the_old_one_alone() -> None:
    """Only an IKE SA that comes up replaces the old ones (RFC 7296 2.4: the peer "has no other SAs" once this one
    is its SA).  Here moon's AUTH verifies, with N(INITIAL_CONTACT), but sun cannot sign its own AUTH: its
    certificate's key is Ed25519, which has no method without the peer's SIGNATURE_HASH_ALGORITHMS (RFC 8420 2,
    RFC 7427 3), and the returning moon holds no trust anchor, so it sends none.  The new IKE SA fails with
    AUTHENTICATION_FAILED, and sun's old IKE SA with moon stays: a failed IKE SA replaces nothing."""
    lab = _handshake(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32))), initiator_announces=True)
    moon = lab.endpoints["initiator"].config
    old = lab.responder
    assert old.established and len(old.children) == 1
    lab.restart("initiator", config=replace(moon, trust_anchors=()))
    lab.initiate()
    lab.run_until_idle()
    (new,) = [sa for sa in lab.sas("responder") if sa is not old]
    assert new.state == State.CLOSED
    (failure,) = [f for f in lab.events("responder", ev.Failure) if f.notify == "AUTHENTICATION_FAILED"]
    assert "cannot authenticate ourselves" in failure.reason
    sent = [e.summary for e in lab.events("initiator", ev.MessageSent) if e.exchange == "IKE_AUTH"]
    assert "N(INITIAL_CONTACT)" in sent[-1]  # the returning moon did say it
    assert old.established and len(old.children) == 1
    assert not [e for e in lab.events("responder", ev.IkeSaDeleted) if (e.spi_i, e.spi_r) == (old.spi_i, old.spi_r)]
