"""A Hypothesis state machine reviews the retry of refused rekeys (RFC 7296 1.3, 2.8, 2.8.1, 2.8.2, 2.25).

Two lab peers with short lifetimes rekey their CHILD SAs and the IKE SA on their own timers (``scheduled``),
sometimes at the same moment (crossing rekeys, 2.8.1, 2.8.2), check liveness (2.4) and are asked for rekeys,
new CHILD SAs and DELETEs by hand, on a clean, a duplicating or a lossy network.  Meanwhile what each peer
accepts changes: its ESP or IKE proposals, its PFS group, its selectors (so the peer's requests are refused with
NO_PROPOSAL_CHOSEN or TS_UNACCEPTABLE), or it answers every CREATE_CHILD_SA with TEMPORARY_FAILURE,
NO_ADDITIONAL_SAS or INVALID_SYNTAX, as a busy or limited peer does.  The policy under review is strongSwan's
(child_rekey.c, ike_rekey.c: schedule_delayed_rekey):

* a refused (or unusable) rekey the engine scheduled is asked again after retransmit_timeout to twice that, no
  sooner; and no later, but for the time that the exchanges ahead of it in the window take (2.3);
* never after NO_ADDITIONAL_SAS (3.10.1) for a scheduled rekey; a rekey asked for by hand and refused keeps the
  lifetime's schedule, not a retry of its own (TEMPORARY_FAILURE excepted: 2.25 asks for one);
* no rekey storm: the requests per virtual minute stay bounded;
* meanwhile the old SA stays in use: when the lab is idle, both peers hold the same CHILD SAs with the same keys
  and their Message IDs are in step (2.3, 2.17); no CHILD SA outlives its hard lifetime (2.8), nor any exception.

Found: the lifetime's rekey (of the IKE SA, or of a CHILD SA) that came due while a rekey of the same SA by hand
was on its way (IKE SA) or queued (CHILD SA) was queued behind it and, when the peer answered that one with
TEMPORARY_FAILURE, went out a round trip later, before the random delay and on top of the retry.  It now waits
for the outcome of the one on its way (the regressions at the end).
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ikelab import events as ev
from ikelab import exchanges_child
from ikelab import exchanges_wire as W
from ikelab.config import IkeConfig
from ikelab.constants import NotifyType
from ikelab.errors import ConfigError, ProtocolError
from ikelab.exchanges_child import ChildExchanges
from ikelab.exchanges_rekey import IkeRekeyExchanges
from ikelab.lab import SIDES, Lab, Network
from ikelab.state import State

from test_review_stateful import assert_agree, live

BASE = 2.0  # retransmit_timeout: a refused scheduled rekey is asked again BASE to 2 * BASE seconds later
TIMERS: dict[str, Any] = dict(child_rekey_time=20.0, child_lifetime=45.0, ike_rekey_time=60.0, ike_lifetime=130.0,
                              dpd_interval=15.0, retransmit_timeout=BASE, retransmit_tries=4, retransmit_base=1.5)
#: how long exchanges ahead of a retry in the window (2.3) may hold it back: one exchange's whole retransmission
#: span (2.4), twice, as a DELETE or CHILD SA request may be queued before it
SLACK = 2 * BASE * sum(1.5 ** n for n in range(5))
NETWORKS = {
    "clean": Network(delay=0.01),
    "dup-reorder": Network(delay=0.01, duplicate=0.15, reorder=0.15, reorder_delay=0.03),
    "lossy": Network(delay=0.01, loss=0.1, duplicate=0.05, reorder=0.05, reorder_delay=0.03),
}
#: how a peer stops accepting the other's requests: its configuration changes (the refusal is the RFC's), or it
#: answers every CREATE_CHILD_SA request with one error notify
ACCEPTANCE: dict[str, dict[str, Any]] = {
    "accept": {},
    "esp": dict(esp_proposals=("aes256-sha512",)),           # NO_PROPOSAL_CHOSEN (2.7)
    "pfs": dict(esp_proposals=("aes128gcm16-ecp256",)),       # another PFS group only: NO_PROPOSAL_CHOSEN
    "ts": dict(local_ts=("10.9.0.0/24",), remote_ts=("10.8.0.0/24",)),  # TS_UNACCEPTABLE (2.9)
    "ike": dict(ike_proposals=("aes256-sha384-ecp384",)),     # its IKE SA rekey: NO_PROPOSAL_CHOSEN
    "TEMPORARY_FAILURE": {}, "NO_ADDITIONAL_SAS": {}, "INVALID_SYNTAX": {},
}
STEPS = (0.0, 0.005, 0.01, 0.02, 0.5, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0)
OPS = ("rekey_child", "rekey_ike", "liveness", "delete_child", "create_child")
#: the notifies that refusals and crossing exchanges bring (2.25, 3.10.1), none fatal
EXPECTED_NOTIFIES = ("TEMPORARY_FAILURE", "CHILD_SA_NOT_FOUND", "NO_PROPOSAL_CHOSEN", "TS_UNACCEPTABLE",
                     "INVALID_KE_PAYLOAD", "NO_ADDITIONAL_SAS", "INVALID_SYNTAX")
#: requests that start a rekey, per peer and virtual minute: one CHILD SA retry every BASE seconds at most, for
#: the few CHILD SAs a run makes, and the IKE SA's
STORM = 4 * 60 / BASE


def configs(pfs: bool, margin: float) -> tuple[IkeConfig, IkeConfig]:
    esp = "aes128gcm16-x25519" if pfs else "aes128gcm16"
    base: dict[str, Any] = dict(psk=b"a retry secret", ike_proposals=("aes128-sha256-x25519",), esp_proposals=(esp,),
                                cookie_threshold=None, rekey_margin=margin, **TIMERS)
    return (IkeConfig(local_id="moon.example", remote_id="sun.example", **base),
            IkeConfig(local_id="sun.example", remote_id="moon.example", **base))


class Recorder:
    """What the engine does about rekeys, read where it decides: each rekey request started (CHILD SA or IKE SA,
    scheduled or by hand) and each refusal with the rekey_at it leaves.  The wrappers call the real code."""

    def __init__(self, lab: Lab) -> None:
        self.sides = {lab.addresses[side]: side for side in SIDES}
        self.log: list[tuple[Any, ...]] = []
        self.refusing: dict[str, str] = {}  # side -> the notify it answers every CREATE_CHILD_SA with
        real_start_child, real_start_ike = ChildExchanges.start_rekey_child, IkeRekeyExchanges.start_rekey_ike
        real_again_child, real_again_ike = exchanges_child._rekey_child_again_later, IkeRekeyExchanges._rekey_again_later
        real_answer = ChildExchanges.on_create_child_sa_request
        rec = self

        def start_rekey_child(sa: Any, now: float, *, spi: bytes, pfs: Any = None, scheduled: bool = False) -> None:
            child = sa.find_child(spi)
            if child is not None and child.state == "INSTALLED":
                rec.log.append(("start", rec.side(sa), now, ("child", child.spi_in), scheduled, child.rekey_at))
            return real_start_child(sa, now, spi=spi, pfs=pfs, scheduled=scheduled)

        def start_rekey_ike(sa: Any, now: float, *, group: Any = None, scheduled: bool = False) -> None:
            rec.log.append(("start", rec.side(sa), now, ("ike", sa.spi_i, sa.spi_r), scheduled, sa.rekey_at,
                            group is not None))
            return real_start_ike(sa, now, group=group, scheduled=scheduled)

        def again_child(sa: Any, now: float, old: Any, error: str | None, scheduled: bool) -> None:
            before = old.rekey_at
            real_again_child(sa, now, old, error, scheduled)
            rec.log.append(("refused", rec.side(sa), now, ("child", old.spi_in), scheduled, before, old.rekey_at,
                            error))

        def again_ike(sa: Any, now: float, error: str | None, scheduled: bool) -> None:
            before = sa.rekey_at
            real_again_ike(sa, now, error, scheduled)
            rec.log.append(("refused", rec.side(sa), now, ("ike", sa.spi_i, sa.spi_r), scheduled, before,
                            sa.rekey_at, error))

        def answer(sa: Any, now: float, *, msg: Any, raw: bytes) -> Any:
            notify = rec.refusing.get(rec.side(sa))
            if notify is None:
                return real_answer(sa, now, msg=msg, raw=raw)
            sa._respond(msg, now, [W.notify(NotifyType[notify])])
            return None

        self.patches = [mock.patch.object(ChildExchanges, "start_rekey_child", start_rekey_child),
                        mock.patch.object(IkeRekeyExchanges, "start_rekey_ike", start_rekey_ike),
                        mock.patch.object(exchanges_child, "_rekey_child_again_later", again_child),
                        mock.patch.object(IkeRekeyExchanges, "_rekey_again_later", again_ike),
                        mock.patch.object(ChildExchanges, "on_create_child_sa_request", answer)]
        for p in self.patches:
            p.start()

    def side(self, sa: Any) -> str:
        return self.sides[sa.local[0]]

    def stop(self) -> None:
        for p in self.patches:
            p.stop()


def holds(lab: Lab, side: str, key: tuple[Any, ...]) -> bool:
    """Whether ``side`` still holds the SA ``key`` names, in use (INSTALLED, on its current established IKE SA)."""
    sa = live(lab, side)
    if sa is None:
        return False
    if key[0] == "ike":
        return (sa.spi_i, sa.spi_r) == key[1:] and not sa.unsettled
    child = sa.children.get(key[1])
    return child is not None and child.state == "INSTALLED"


def check_retries(lab: Lab, log: list[tuple[Any, ...]]) -> None:
    """The retry policy, from the recorded starts and refusals (see the module docstring)."""
    for i, entry in enumerate(log):
        if entry[0] != "refused":
            continue
        _, side, t, key, scheduled, before, after, error = entry
        later = [e for e in log[i + 1:] if e[1] == side and e[3] == key]
        following = next((e for e in later if e[0] == "refused"), None)
        upto = later.index(following) if following is not None else len(later)
        starts = [e for e in later[:upto] if e[0] == "start"]
        auto = [e for e in starts if e[4]]  # scheduled: the lifetime's, a retry, or INVALID_KE_PAYLOAD's one more
        retry = error == "TEMPORARY_FAILURE" or (scheduled and error != "NO_ADDITIONAL_SAS")
        if not retry:
            assert after == before, f"{side} {key}: {error} refusing a rekey by hand changed rekey_at {before}->{after}"
            if scheduled:  # NO_ADDITIONAL_SAS answering the lifetime's rekey: its lasting "no"
                assert not auto, f"{side} asks again after NO_ADDITIONAL_SAS: {entry} then {auto[0]}"
            continue
        assert after is not None and t + BASE - 1e-9 <= after <= t + 2 * BASE + 1e-9, (entry, after)
        if auto:
            first = auto[0][2]
            assert first >= after - 1e-9, f"{side} {key} asked again {first - t:.3f} s after {error}: too soon"
            assert first <= after + SLACK, f"{side} {key} asked again {first - t:.3f} s after {error}: too late"
        elif following is None and holds(lab, side, key):
            assert lab.now <= after + SLACK, f"{side} {key}: no retry {lab.now - t:.1f} s after {error} at {t}"
    for side in SIDES:  # no storm: rekey requests per virtual minute
        times = sorted(e[2] for e in log if e[0] == "start" and e[1] == side)
        for j, t in enumerate(times):
            n = sum(1 for u in times[j:] if u < t + 60.0)
            assert n <= STORM, f"{side}: {n} rekey requests in the minute from {t}"


class RefusedRekeys(RuleBasedStateMachine):
    """An established IKE SA with short lifetimes; acceptance, actions and time change at random."""

    def __init__(self) -> None:
        super().__init__()
        self.lab: Lab | None = None
        self.rec: Recorder | None = None
        self.network = "clean"

    @initialize(seed=st.integers(0, 2**16), network=st.sampled_from(sorted(NETWORKS)), pfs=st.booleans(),
                margin=st.sampled_from([0.0, 3.0]))
    def establish(self, seed: int, network: str, pfs: bool, margin: float) -> None:
        """IKE_SA_INIT and IKE_AUTH on a clean network, then the chosen one; margin 0: the peers' timers cross."""
        self.lab = Lab(*configs(pfs, margin), seed=seed, network=Network(delay=0.01))
        self.rec = Recorder(self.lab)
        self.lab.initiate()
        self.lab.run_until_idle()
        assert live(self.lab, "initiator") is not None and live(self.lab, "responder") is not None
        self.configs = {side: self.lab.endpoints[side].config for side in SIDES}
        self.network = network
        self.lab.network = NETWORKS[network]

    def _lab(self) -> Lab:
        assert self.lab is not None
        return self.lab

    @rule(side=st.sampled_from(SIDES), how=st.sampled_from(sorted(ACCEPTANCE)))
    def change_acceptance(self, side: str, how: str) -> None:
        """The peer's administrator changes what it accepts, under the running IKE SA (its successors inherit)."""
        lab, rec = self._lab(), self.rec
        assert rec is not None
        config = replace(self.configs[side], **ACCEPTANCE[how])
        for sa in lab.sas(side):
            if sa.state != State.CLOSED:
                sa.config = config
        if how in ("TEMPORARY_FAILURE", "NO_ADDITIONAL_SAS", "INVALID_SYNTAX"):
            rec.refusing[side] = how
        else:
            rec.refusing.pop(side, None)

    @rule(side=st.sampled_from(SIDES), how=st.sampled_from(sorted(ACCEPTANCE)), seconds=st.integers(5, 90))
    def refuse_for(self, side: str, how: str, seconds: int) -> None:
        """The peer accepts otherwise for a while, long enough for retries and hard lifetimes (2.8), then as
        configured again."""
        self.change_acceptance(side, how)
        lab = self._lab()
        lab.run(lab.now + seconds)
        self.change_acceptance(side, "accept")

    @rule(burst=st.lists(st.tuples(st.sampled_from(SIDES), st.sampled_from(OPS), st.sampled_from(STEPS[:4]),
                                   st.integers(0, 7)), min_size=1, max_size=4))
    def act(self, burst: list[tuple[str, str, float, int]]) -> None:
        """Actions by hand, each after a short wait, so that they cross each other and the timers' rekeys."""
        lab = self._lab()
        for side, op, step, which in burst:
            lab.run(lab.now + step)
            try:
                if op in ("rekey_child", "delete_child"):
                    kids = lab.children(side)
                    getattr(lab, op)(side, kids[which % len(kids)] if kids else None)
                else:
                    getattr(lab, op)(side)
            except (ProtocolError, ConfigError):
                pass

    @precondition(lambda self: self.lab is not None and live(self.lab, "initiator") is None
                  and live(self.lab, "responder") is None and not self.lab.busy())
    @rule()
    def reestablish(self) -> None:
        """Both IKE SAs ended at their hard lifetime: the initiator starts over (RFC 7296 1.2)."""
        lab = self._lab()
        for side in SIDES:
            lab.endpoints[side].config = self.configs[side]
        lab.initiate()

    @rule(step=st.sampled_from(STEPS))
    def wait(self, step: float) -> None:
        """Virtual time passes: deliveries, retransmissions, lifetimes, retries (RFC 7296 2.4, 2.8)."""
        lab = self._lab()
        lab.run(lab.now + step)

    @precondition(lambda self: self.network != "lossy")
    @rule()
    def settle(self) -> None:
        """Idle on a network that loses nothing: the peers agree on the IKE SA, the CHILD SAs and their keys."""
        lab = self._lab()
        lab.run_until_idle()
        assert not lab.busy()
        assert_agree(lab)
        bad = [f for side in SIDES for f in lab.events(side, ev.Failure)
               if isinstance(f, ev.Failure) and (f.fatal or f.notify not in EXPECTED_NOTIFIES)
               and not f.reason.startswith("no installed CHILD SA")]
        assert bad == []

    @invariant()
    def lifetimes_and_retries(self) -> None:
        """No CHILD SA outlives its hard lifetime (2.8), nor the IKE SA; the retry policy holds so far."""
        if self.lab is None or self.rec is None:
            return
        lab = self.lab
        for side in SIDES:
            sa = live(lab, side)
            if sa is None:
                continue
            assert sa.expire_at is None or sa.expire_at >= lab.now
            for child in sa.children.values():
                assert child.expire_at is None or child.expire_at >= lab.now, (side, child, lab.now)
        check_retries(lab, self.rec.log)

    def teardown(self) -> None:
        if self.lab is None or self.rec is None:
            return
        try:
            lab = self.lab
            lab.run_until_idle()
            if self.network != "lossy":
                assert_agree(lab)
            check_retries(lab, self.rec.log)
        finally:
            self.rec.stop()


RefusedRekeys.TestCase.settings = settings(
    max_examples=int(os.environ.get("IKELAB_STATEFUL_EXAMPLES", "150")), stateful_step_count=40, deadline=None,
    derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestRefusedRekeys = RefusedRekeys.TestCase


# --------------------------------------------------------------------------- regressions the machine found


def test_the_lifetimes_ike_sa_rekey_due_during_a_rekey_by_hand_waits_for_its_answer() -> None:
    """Regression: moon's IKE SA rekey asked for by hand is on its way when the lifetime's rekey comes due; sun
    answers TEMPORARY_FAILURE.  The lifetime's rekey had been queued behind the first and went out at once, a
    round trip after the refusal, although RFC 7296 2.25 (and the retry policy, as charon's) asks again only
    after a random delay; and the retry came on top of it.  Now the lifetime's rekey waits while a rekey of the
    IKE SA is on its way, the refusal's retry replaces it, and the next request comes BASE to 2 * BASE later."""
    from test_ike import established

    lab = established(child_rekey_time=10**6, retransmit_timeout=BASE)
    moon, sun = lab.initiator, lab.responder
    sun.rekey_at = None
    real = ChildExchanges.on_create_child_sa_request

    def busy(sa: Any, now: float, *, msg: Any, raw: bytes) -> Any:
        if sa is not sun:
            return real(sa, now, msg=msg, raw=raw)
        sa._respond(msg, now, [W.notify(NotifyType.TEMPORARY_FAILURE)])
        return None
    with mock.patch.object(ChildExchanges, "on_create_child_sa_request", busy):
        lab.rekey_ike("initiator")
        moon.rekey_at = lab.now + 0.005  # due while the rekey by hand waits for its answer
        start = lab.now
        lab.run(start + 2 * BASE + 0.1)  # the refusal's retry, not yet its own refusal's
    asked = [e.time for e in lab.events("initiator", ev.MessageSent)
             if e.exchange == "CREATE_CHILD_SA" and not e.is_response and not e.retransmission]
    assert len(asked) == 2, asked
    assert asked[0] == start and start + BASE <= asked[1] - 0.02 <= start + 2 * BASE + 0.01, asked
    assert [f.notify for f in lab.events("initiator", ev.Failure)] == ["TEMPORARY_FAILURE"] * 2


# --------------------------------------------------------------------------- the retry meets other exchanges


def _refused_once(notify: str = "NO_PROPOSAL_CHOSEN") -> tuple[Lab, Any, Any]:
    """Moon's scheduled CHILD SA rekey refused by sun (``notify``): the retry is pending, BASE to 2 * BASE away."""
    from test_ike import established

    lab = established(retransmit_timeout=BASE, child_rekey_time=100.0, ike_rekey_time=10**5)
    moon, sun = lab.initiator, lab.responder
    sun.rekey_at = None
    for child in sun.children.values():
        child.rekey_at = None
    (old,) = moon.children.values()
    good = sun.config
    sun.config = replace(good, esp_proposals=("aes256-sha512",))
    lab.run(old.rekey_at + 0.1)
    sun.config = good
    assert [f.notify for f in lab.events("initiator", ev.Failure)] == ["NO_PROPOSAL_CHOSEN"]
    assert old.state == "INSTALLED" and lab.now + BASE - 0.2 <= old.rekey_at <= lab.now + 2 * BASE
    return lab, moon, old


def _rekey_requests(lab: Lab, side: str = "initiator") -> list[str]:
    return [e.summary for e in lab.events(side, ev.MessageSent)
            if e.exchange == "CREATE_CHILD_SA" and not e.is_response and not e.retransmission]


def test_a_child_sa_deleted_by_the_peer_while_its_retry_is_pending_is_not_asked_for_again() -> None:
    """RFC 7296 1.4.1: sun deletes the CHILD SA whose rekey moon will ask again: it is gone on both sides, and
    its pending retry goes with it (no request naming it, no new CHILD SA)."""
    lab, moon, old = _refused_once()
    lab.delete_child("responder", old.spi_out)
    lab.run(lab.now + 4 * BASE)
    assert not moon.children and not lab.responder.children
    assert len(_rekey_requests(lab)) == 1 and not lab.events("initiator", ev.ChildSaCreated)[1:]
    assert_agree(lab)


@pytest.mark.parametrize("rekeyer", SIDES)
def test_a_child_sa_moved_to_a_new_ike_sa_keeps_its_pending_retry(rekeyer: str) -> None:
    """RFC 7296 2.18: the IKE SA is rekeyed (by either peer) while the CHILD SA's rekey waits to be asked again;
    the CHILD SA moves to the new IKE SA with its rekey_at, and the retry comes on the new IKE SA, in time."""
    lab, moon, old = _refused_once()
    due = old.rekey_at
    first_ike = moon
    lab.rekey_ike(rekeyer)
    lab.run_until_idle()
    new = lab.initiator
    assert new is not first_ike and first_ike.state == State.CLOSED and new.children[old.spi_in] is old
    assert old.rekey_at == due
    lab.run(due + 0.1)
    (rekeyed,) = lab.events("initiator", ev.ChildSaRekeyed)
    assert rekeyed.old_spi_in == old.spi_in and rekeyed.time <= due + 0.05
    assert_agree(lab)


def test_an_ike_sa_rekeyed_by_the_peer_while_its_own_retry_is_pending() -> None:
    """Moon's scheduled IKE SA rekey refused; before moon asks again, sun rekeys the IKE SA (2.18).  The old IKE SA
    is gone with its retry; the new one keeps its own lifetime's schedule, and no request goes out on the old."""
    from test_ike import established

    lab = established(retransmit_timeout=BASE, child_rekey_time=10**5, ike_rekey_time=100.0)
    moon, sun = lab.initiator, lab.responder
    sun.rekey_at = None
    good = sun.config
    sun.config = replace(good, ike_proposals=("aes256-sha384-ecp384",))
    lab.run(moon.rekey_at + 0.1)
    sun.config = good
    assert [f.notify for f in lab.events("initiator", ev.Failure)] == ["NO_PROPOSAL_CHOSEN"]
    due = moon.rekey_at
    assert due is not None and due > lab.now
    lab.rekey_ike("responder")
    lab.run(due + 4 * BASE)
    new = lab.initiator
    assert new is not moon and moon.state == State.CLOSED and moon.rekey_at is None
    assert new.rekey_at is not None and new.rekey_at > due + 50
    assert len(_rekey_requests(lab)) == 1  # moon's refused one; the retry went with the old IKE SA
    assert_agree(lab)


def test_the_lifetimes_child_sa_rekey_due_while_a_rekey_by_hand_is_queued_waits_for_its_answer() -> None:
    """Regression, as for the IKE SA: moon's CHILD SA rekey by hand waits in the window behind a liveness check
    (2.3) when the lifetime's rekey of the same CHILD SA comes due; sun answers TEMPORARY_FAILURE.  The lifetime's
    rekey had been queued behind the first and went out at once after the refusal, before the random delay
    (2.25) and on top of the retry.  Now it waits while a rekey of that CHILD SA is queued."""
    from test_ike import established

    lab = established(retransmit_timeout=BASE, ike_rekey_time=10**5)
    moon, sun = lab.initiator, lab.responder
    sun.rekey_at = None
    for child in sun.children.values():
        child.rekey_at = None
    (old,) = moon.children.values()
    real = ChildExchanges.on_create_child_sa_request

    def busy(sa: Any, now: float, *, msg: Any, raw: bytes) -> Any:
        if sa is not sun:
            return real(sa, now, msg=msg, raw=raw)
        sa._respond(msg, now, [W.notify(NotifyType.TEMPORARY_FAILURE)])
        return None
    with mock.patch.object(ChildExchanges, "on_create_child_sa_request", busy):
        start = lab.now
        lab.liveness("initiator")
        lab.rekey_child("initiator", old)  # queued behind the liveness check
        old.rekey_at = lab.now + 0.005  # due while both wait
        lab.run(start + 2 * BASE + 0.1)  # the refusal's retry, not yet its own refusal's
    asked = _rekey_requests(lab)
    assert len(asked) == 2, asked
    times = [e.time for e in lab.events("initiator", ev.MessageSent)
             if e.exchange == "CREATE_CHILD_SA" and not e.is_response and not e.retransmission]
    assert BASE <= times[1] - times[0] - 0.02 <= 2 * BASE + 0.01, times
    assert old.state == "INSTALLED" and moon.children[old.spi_in] is old
