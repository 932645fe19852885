"""CREATE_CHILD_SA refused, or answered unusably: what becomes of the SA being rekeyed (RFC 7296 1.3, 2.8, 2.25).

The reference is strongSwan's charon (libcharon/sa/ikev2/tasks): a rekey of a CHILD SA or of the IKE SA that is
refused, with any error notify but NO_ADDITIONAL_SAS, or whose answer it cannot use, is tried again after a
random delay (child_rekey.c and ike_rekey.c, schedule_delayed_rekey), while the old SA keeps working until its
hard lifetime (2.8); CHILD_SA_NOT_FOUND answering a CHILD SA rekey makes it drop its half and ask for a new CHILD
SA from scratch (2.25).  Here on the lab's virtual clock; against charon itself:
tests/interop/test_review_refused_vs_charon.py.
"""
from __future__ import annotations

from dataclasses import replace
from unittest import mock

import pytest

from ikelab import events as ev
from ikelab import exchanges_wire as W
from ikelab.constants import ExchangeType, NotifyType
from ikelab.exchanges_child import ChildExchanges
from ikelab.lab import Lab
from ikelab.message import decode
from ikelab.state import State

from test_ike import assert_same_sas, established


def _only_moon_rekeys(lab: Lab) -> None:
    """The lab's peers share one schedule; sun's rekeys are taken off so that only moon's come (no collision)."""
    sun = lab.responder
    sun.rekey_at = None
    for child in sun.children.values():
        child.rekey_at = None


def _child_rekey_requests(lab: Lab) -> list[tuple[float, bytes]]:
    """(time, SPI in N(REKEY_SA)) of each CHILD SA rekey request moon sent, once per message ID (2.3)."""
    crypto = lab.responder._crypto(sending=False)
    seen: dict[int, tuple[float, bytes]] = {}
    for p in lab.trace:
        if p.kind != "ike" or p.src != lab.addresses["initiator"]:
            continue
        msg = decode(p.ike_message, crypto=crypto)
        rekey = W.notify_of(msg, NotifyType.REKEY_SA)
        if msg.exchange == ExchangeType.CREATE_CHILD_SA and not msg.is_response and rekey is not None:
            seen.setdefault(msg.message_id, (p.time, bytes(rekey.spi)))
    return sorted(seen.values())


def _refuse_with(sun, notify: str, data: bytes = b""):
    """Sun answers every CREATE_CHILD_SA request with N(``notify``) alone, as a peer refusing it does (1.3)."""
    real = ChildExchanges.on_create_child_sa_request

    def answer(self, now, *, msg, raw):
        if self is not sun:
            return real(self, now, msg=msg, raw=raw)
        self._respond(msg, now, [W.notify(NotifyType[notify], data=data)])
        return None
    return mock.patch.object(ChildExchanges, "on_create_child_sa_request", answer)


REFUSALS = {
    # how sun comes to refuse moon's CHILD SA rekey: its configuration changed under the running IKE SA
    "NO_PROPOSAL_CHOSEN": dict(esp_proposals=("aes256-sha512",)),
    "TS_UNACCEPTABLE": dict(local_ts=("10.9.0.0/24",), remote_ts=("10.8.0.0/24",)),
}


@pytest.mark.parametrize("pfs", [None, "ECP_256"])
@pytest.mark.parametrize("notify", sorted(REFUSALS))
def test_a_scheduled_child_rekey_refused_is_asked_again_and_the_old_sa_lives_to_its_hard_lifetime(
        notify: str, pfs: str | None) -> None:
    """Sun refuses moon's scheduled CHILD SA rekey (its proposals or selectors changed).  Both keep the old pair,
    INSTALLED, and moon asks again after retransmit_timeout to twice that (charon: 5 to 15 s), each request naming
    the old SA in N(REKEY_SA), until the hard lifetime (child_lifetime) deletes it; no rekey after that."""
    esp = "aes128gcm16-ecp256" if pfs else "aes128gcm16"
    lab = established(esp=esp)
    moon, sun = lab.initiator, lab.responder
    _only_moon_rekeys(lab)
    (old,) = moon.children.values()
    sun.config = replace(sun.config, **REFUSALS[notify])
    scheduled, expires = old.rekey_at, old.expire_at
    lab.run(scheduled + 30)
    assert moon.children[old.spi_in] is old and old.state == "INSTALLED"
    assert sun.children[old.spi_out].state == "INSTALLED"
    lab.run(expires + 30)
    asked = _child_rekey_requests(lab)
    base = moon.config.retransmit_timeout
    assert asked[0][0] == scheduled and asked[-1][0] < expires and len(asked) > 5
    assert {spi for _, spi in asked} == {old.spi_in}  # moon's inbound SPI, as charon names it (3.10.1)
    # each delay runs from the refusal, a round trip after the request
    assert all(base <= b - a <= 2 * base + 0.1 for (a, _), (b, _) in zip(asked, asked[1:]))
    refusals = [(f.notify, f.reason) for f in lab.events("initiator", ev.Failure)]
    assert refusals == [(notify, f"rekey of CHILD SA 0x{old.spi_in.hex()} failed, the old SA stays in use: {notify}")
                        ] * len(asked)
    requests = {e.summary for e in lab.events("initiator", ev.MessageSent) if e.exchange == "CREATE_CHILD_SA"}
    assert requests == {"HDR, SK {N(REKEY_SA), SA, Ni, KEi, TSi, TSr}" if pfs else "HDR, SK {N(REKEY_SA), SA, Ni, TSi, TSr}"}
    assert not moon.children and not sun.children
    (gone,) = lab.events("initiator", ev.ChildSaDeleted)
    assert gone.spi_in == old.spi_in and gone.time >= expires
    assert moon.state == sun.state == State.ESTABLISHED


def test_a_refused_child_rekey_succeeds_once_the_peer_takes_it_again() -> None:
    """What asking again is for: sun's configuration changes back (an administrator's fix), and moon's next
    request rekeys the CHILD SA before its hard lifetime, the old one deleted as after any rekey."""
    lab = established()
    moon, sun = lab.initiator, lab.responder
    _only_moon_rekeys(lab)
    (old,) = moon.children.values()
    good = sun.config
    sun.config = replace(good, esp_proposals=("aes256-sha512",))
    lab.run(old.rekey_at + 0.5)
    assert [f.notify for f in lab.events("initiator", ev.Failure)] == ["NO_PROPOSAL_CHOSEN"]
    sun.config = good
    lab.run(old.rekey_at + 0.5)
    (rekeyed,) = lab.events("initiator", ev.ChildSaRekeyed)
    assert rekeyed.old_spi_in == old.spi_in and rekeyed.time < old.expire_at
    assert old.spi_in not in moon.children
    assert_same_sas(lab)


@pytest.mark.parametrize("notify, again", [("INTERNAL_ADDRESS_FAILURE", True), ("INVALID_SYNTAX", True),
                                           ("NO_ADDITIONAL_SAS", False)])
def test_which_refusals_of_a_scheduled_child_rekey_are_asked_again(notify: str, again: bool) -> None:
    """RFC 7296 3.10.1: NO_ADDITIONAL_SAS says the peer takes no more CHILD SAs on this IKE SA: asking again
    cannot help (charon reauthenticates instead), and the old SA lives to its hard lifetime.  Another error may
    pass (charon asks again for any of them)."""
    lab = established()
    moon = lab.initiator
    _only_moon_rekeys(lab)
    (old,) = moon.children.values()
    scheduled = old.rekey_at
    with _refuse_with(lab.responder, notify):
        lab.run(scheduled + 30)
    asked = [t for t, _ in _child_rekey_requests(lab)]
    assert asked[0] == scheduled and (len(asked) > 1) == again
    failure = lab.events("initiator", ev.Failure)[0]
    assert failure.notify == notify and not failure.fatal and notify in failure.reason
    assert moon.children[old.spi_in].state == "INSTALLED"
    assert (old.rekey_at is not None) == again


def test_a_refused_scheduled_rekey_is_asked_again_without_a_hard_lifetime_too() -> None:
    """child_lifetime = inf (no hard lifetime, charon's life_time = 0): the scheduled rekey, refused, is still
    asked again (charon: schedule_delayed_rekey, whatever the lifetime), the SA in use meanwhile."""
    lab = established(child_lifetime=float("inf"))
    moon, sun = lab.initiator, lab.responder
    _only_moon_rekeys(lab)
    (old,) = moon.children.values()
    assert old.expire_at == float("inf") and old.rekey_at is not None
    sun.config = replace(sun.config, esp_proposals=("aes256-sha512",))
    lab.run(old.rekey_at + 60)
    assert len(_child_rekey_requests(lab)) > 5 and old.state == "INSTALLED" and old.rekey_at is not None


def test_a_refused_child_rekey_asked_for_by_hand_keeps_the_scheduled_one() -> None:
    """A rekey asked for by hand (lab.rekey_child) and refused is not asked again on its own: the one
    child_rekey_time schedules still comes, at its time."""
    lab = established()
    moon = lab.initiator
    _only_moon_rekeys(lab)
    (old,) = moon.children.values()
    scheduled = old.rekey_at
    with _refuse_with(lab.responder, "NO_PROPOSAL_CHOSEN"):
        lab.rekey_child("initiator")
        lab.run(lab.now + 60)
    assert len(_child_rekey_requests(lab)) == 1 and old.rekey_at == scheduled and old.state == "INSTALLED"


def test_a_second_invalid_ke_payload_ends_the_child_rekey_until_its_retry() -> None:
    """RFC 7296 1.3: INVALID_KE_PAYLOAD naming a group moon offered brings one more request, with a KEi in that
    group; a second one (sun names another group again) ends the exchange: no third request at once, the old SA
    stays, and the scheduled rekey is tried again later, as after any refusal."""
    lab = established(esp="aes128gcm16-ecp256-x25519")
    moon, sun = lab.initiator, lab.responder
    _only_moon_rekeys(lab)
    (old,) = moon.children.values()
    scheduled = old.rekey_at
    answers = iter([31, 19])  # X25519, then ECP-256 again

    real = ChildExchanges.on_create_child_sa_request

    def answer(self, now, *, msg, raw):
        if self is not sun:
            return real(self, now, msg=msg, raw=raw)
        group = next(answers, None)
        if group is None:
            return real(self, now, msg=msg, raw=raw)
        self._respond(msg, now, [W.notify(NotifyType.INVALID_KE_PAYLOAD, data=group.to_bytes(2, "big"))])
        return None
    with mock.patch.object(ChildExchanges, "on_create_child_sa_request", answer):
        lab.run(scheduled + 1)
        sent = [e for e in lab.events("initiator", ev.MessageSent) if e.exchange == "CREATE_CHILD_SA"]
        assert [e.summary for e in sent] == ["HDR, SK {N(REKEY_SA), SA, Ni, KEi, TSi, TSr}"] * 2
        assert [f.notify for f in lab.events("initiator", ev.Failure)] == ["INVALID_KE_PAYLOAD"] * 2
        assert old.state == "INSTALLED" and scheduled < old.rekey_at <= scheduled + 2 * moon.config.retransmit_timeout + 1
        lab.run(old.rekey_at + 1)  # sun answers as configured now: the rekey is made
    (rekeyed,) = lab.events("initiator", ev.ChildSaRekeyed)
    assert rekeyed.old_spi_in == old.spi_in
    assert_same_sas(lab)


def test_an_unusable_answer_to_a_scheduled_child_rekey_deletes_the_peers_new_sa_and_asks_again() -> None:
    """An answer moon cannot use (here its selectors are taken for badly narrowed): sun installed the new CHILD
    SA, so moon deletes it (RFC 7296 2.21.3; charon's child_create.c, delete_failed_sa), by the inbound SPI moon
    proposed; sun, so told, keeps the old SA as if unrekeyed; and moon asks again after a random delay (charon:
    schedule_delayed_rekey), which rekeys it."""
    from ikelab import exchanges_child
    from ikelab.errors import NegotiationError

    lab = established()
    moon, sun = lab.initiator, lab.responder
    _only_moon_rekeys(lab)
    (old,) = moon.children.values()
    scheduled = old.rekey_at
    real = exchanges_child.check_narrowed
    calls = []

    def first_fails(*args, **kw):
        calls.append(args)
        if len(calls) == 1:
            raise NegotiationError("badly narrowed (the test says so)", notify_type="TS_UNACCEPTABLE")
        return real(*args, **kw)
    with mock.patch.object(exchanges_child, "check_narrowed", first_fails):
        lab.run(scheduled + 1)
        (failure,) = lab.events("initiator", ev.Failure)
        assert failure.notify == "TS_UNACCEPTABLE" and "badly narrowed" in failure.reason
        (made,) = [e for e in lab.events("responder", ev.ChildSaRekeyed)]
        (undone,) = lab.events("responder", ev.ChildSaDeleted)
        assert undone.spi_in == made.new_spi_in and "undoes its rekey" in undone.reason
        assert sun.children[old.spi_out].state == "INSTALLED" and old.state == "INSTALLED"
        base = moon.config.retransmit_timeout
        assert scheduled + base <= old.rekey_at <= scheduled + 2 * base + 0.1
        lab.run(old.rekey_at + 1)
    (rekeyed,) = lab.events("initiator", ev.ChildSaRekeyed)
    assert rekeyed.old_spi_in == old.spi_in
    assert_same_sas(lab)


def test_child_sa_not_found_creates_no_second_child_sa_for_selectors_still_covered() -> None:
    """RFC 7296 2.25: after CHILD_SA_NOT_FOUND, a new CHILD SA is asked for only "if the Child SA does not yet
    exist": moon has a second CHILD SA with the same selectors, so it drops the unknown one and asks for nothing."""
    lab = established()
    moon, sun = lab.initiator, lab.responder
    lab.create_child("initiator")
    lab.run_until_idle()
    first, second = moon.children.values()
    del sun.children[first.spi_out]  # sun lost the first pair without a word
    lab.rekey_child("initiator", first)
    lab.run_until_idle()
    assert list(moon.children) == [second.spi_in]
    assert [f.notify for f in lab.events("initiator", ev.Failure)] == ["CHILD_SA_NOT_FOUND"]
    assert_same_sas(lab)


# --------------------------------------------------------------------------- the IKE SA's rekey


def test_invalid_ke_payload_naming_one_group_after_another_ends_the_ike_sa_rekey() -> None:
    """RFC 7296 1.3: the rekey is asked again once, with the group the responder names.  A responder that then
    names another offered group gets no third request: moon would otherwise follow it without end."""
    lab = established(child_rekey_time=10**6)  # no CHILD SA rekey on the way
    moon, sun = lab.initiator, lab.responder
    moon.config = replace(moon.config, ike_proposals=("aes128-sha256-ecp256-x25519",))
    answers = iter([31, 19, 31, 19])
    real = ChildExchanges.on_create_child_sa_request

    def answer(self, now, *, msg, raw):
        if self is not sun:
            return real(self, now, msg=msg, raw=raw)
        self._respond(msg, now, [W.notify(NotifyType.INVALID_KE_PAYLOAD, data=next(answers).to_bytes(2, "big"))])
        return None
    with mock.patch.object(ChildExchanges, "on_create_child_sa_request", answer):
        lab.rekey_ike("initiator")
        lab.run(lab.now + 60)
    sent = [e for e in lab.events("initiator", ev.MessageSent) if e.exchange == "CREATE_CHILD_SA"]
    assert len(sent) == 2 and moon._pending is None and moon.state == State.ESTABLISHED
    assert [f.notify for f in lab.events("initiator", ev.Failure)] == ["INVALID_KE_PAYLOAD"] * 2
    assert lab.sas("initiator") == [moon]


def test_an_unusable_answer_to_a_scheduled_ike_sa_rekey_keeps_the_old_ike_sa_and_asks_again() -> None:
    """An answer moon cannot use (here its SPIr is zero, RFC 7296 3.1): a Failure, moon keeps the old IKE SA and,
    for a rekey its lifetime scheduled, asks again after a random delay, as charon does (ike_rekey.c: "rekeying
    failed, fallback to old SA", schedule_delayed_rekey)."""
    lab = established(child_rekey_time=10**6)  # no CHILD SA rekey on the way
    moon, sun = lab.initiator, lab.responder
    _only_moon_rekeys(lab)
    scheduled = moon.rekey_at
    real = ChildExchanges.on_create_child_sa_request

    def answer(self, now, *, msg, raw):
        if self is not sun:
            return real(self, now, msg=msg, raw=raw)
        chosen = W.sa_proposals(msg)[0].with_spi(bytes(8))
        self._respond(msg, now, [W.sa([chosen]), W.nonce(b"\x03" * 32), W.payload(msg, "KE")])
        return None
    with mock.patch.object(ChildExchanges, "on_create_child_sa_request", answer):
        lab.run(scheduled + 1)
    (failure,) = lab.events("initiator", ev.Failure)
    assert failure.notify == "INVALID_SYNTAX" and not failure.fatal
    assert lab.sas("initiator") == [moon] and moon.state == State.ESTABLISHED
    base = moon.config.retransmit_timeout
    assert scheduled + base <= moon.rekey_at <= scheduled + 2 * base + 0.1
    lab.run(moon.rekey_at + 1)  # sun answers as it should now
    (rekeyed,) = lab.events("initiator", ev.IkeSaRekeyed)
    assert (rekeyed.old_spi_i, rekeyed.old_spi_r) == (moon.spi_i, moon.spi_r)
    assert_same_sas(lab)


def test_no_additional_sas_answering_the_ike_sa_rekey_is_not_asked_again() -> None:
    """NO_ADDITIONAL_SAS (3.10.1) answering a scheduled IKE SA rekey: the peer's lasting "no"; moon keeps the IKE
    SA until its hard lifetime and does not ask again (charon reauthenticates here, which ikelab does not)."""
    lab = established(child_rekey_time=10**6)  # no CHILD SA rekey on the way
    moon = lab.initiator
    _only_moon_rekeys(lab)
    scheduled, expires = moon.rekey_at, moon.expire_at
    with _refuse_with(lab.responder, "NO_ADDITIONAL_SAS"):
        lab.run(scheduled + 60)
    sent = [e for e in lab.events("initiator", ev.MessageSent)
            if e.exchange == "CREATE_CHILD_SA" and e.time >= scheduled]
    assert len(sent) == 1 and moon.rekey_at is None and moon.expire_at == expires
    assert [f.notify for f in lab.events("initiator", ev.Failure)] == ["NO_ADDITIONAL_SAS"]
