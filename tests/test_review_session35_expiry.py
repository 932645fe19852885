"""Session 35 review: a CHILD SA past its hard lifetime while an exchange is in flight (RFC 7296 2.8, 2.25, 1.4.1).

Found against strongSwan: moon's CHILD SA reaches its hard lifetime while moon's own CREATE_CHILD_SA rekey of
it is unanswered (window size 1, RFC 7296 2.3), so the DELETE waits its turn.  The engine kept the CHILD SA in
REKEYING meanwhile, and answered sun's rekey of it (REKEY_SA naming it) with a new CHILD SA made from an SA
that had ended.  RFC 7296 2.8 has each end enforce its own lifetimes (and RFC 4301 4.4.2.1 makes the hard
lifetime the end of the SA): the CHILD SA is gone locally at that instant (ChildSaDeleted then), its DELETE
(1.4.1) goes out when the window frees, and until then a request naming it is answered as for an SA moon
does not have: CHILD_SA_NOT_FOUND for a rekey (2.25), a DELETE answered without it (1.4.1).

Moon's own rekey, answered after the expiry, made a new CHILD SA with fresh keys (KEYMAT from new nonces,
2.17) and fresh lifetimes, which sun installed as the old one's successor; nothing in it is past a lifetime,
and moon's DELETE of the old one is what the rekey's initiator sends anyway (2.8).  So moon keeps it, as a
fresh CHILD SA (ChildSaCreated, no ChildSaRekeyed from an SA already reported gone).

Two IkeSa objects are driven by hand with an explicit clock; datagrams are held and released in the order each
test names.
"""

from __future__ import annotations

from typing import Any

from ikelab import events as ev
from ikelab.ike import IkeSa

from test_ike import assert_same_sas, established

LIFE = dict(i=dict(child_rekey_time=2.0, child_lifetime=3.0), r=dict(child_rekey_time=60.0, child_lifetime=120.0))


def _deliver(dgrams: list[Any], to: IkeSa, now: float) -> None:
    for d in dgrams:
        to.receive(d.payload, now, src=d.src, dst=d.dst)


def _flush(moon: IkeSa, sun: IkeSa, now: float, log: dict[str, list[ev.Event]]) -> None:
    """Deliver everything both peers have to send, until neither has more, at ``now``."""
    while True:
        _events(moon, sun, log)
        out_m, out_s = moon.pop_datagrams(), sun.pop_datagrams()
        if not out_m and not out_s:
            return
        _deliver(out_m, sun, now)
        _deliver(out_s, moon, now)


def _events(moon: IkeSa, sun: IkeSa, log: dict[str, list[ev.Event]]) -> None:
    log["moon"] += moon.pop_events()
    log["sun"] += sun.pop_events()


def _setup() -> tuple[IkeSa, IkeSa, Any, Any, list[Any], dict[str, list[ev.Event]]]:
    """Moon rekeys its CHILD SA at its soft lifetime (2 s); the request is held; the hard lifetime (3 s) passes."""
    lab = established(**LIFE)
    moon, sun = lab.initiator, lab.responder
    log: dict[str, list[ev.Event]] = {"moon": [], "sun": []}
    for sa in (moon, sun):
        sa.pop_events()
        assert not sa.pop_datagrams()
    (child,) = moon.children.values()
    (peer_child,) = sun.children.values()
    moon.handle_timer(child.rekey_at)
    held = moon.pop_datagrams()  # moon's CREATE_CHILD_SA {N(REKEY_SA)...}, not delivered yet
    assert len(held) == 1 and child.state == "REKEYING"
    assert child.expire_at is not None
    moon.handle_timer(child.expire_at)
    _events(moon, sun, log)
    return moon, sun, child, peer_child, held, log


def _summaries(log: list[ev.Event], responses: bool = False) -> list[str]:
    """The summaries of the requests (or, with ``responses``, the responses) a peer sent."""
    return [e.summary for e in log if isinstance(e, ev.MessageSent) and e.is_response == responses]


def _coherent(log: list[ev.Event], sa: IkeSa) -> None:
    """Every ChildSaCreated has exactly one ChildSaDeleted, unless the SA still holds it; none deleted twice."""
    created = [e.spi_in for e in log if isinstance(e, ev.ChildSaCreated)]
    deleted = [e.spi_in for e in log if isinstance(e, ev.ChildSaDeleted)]
    assert len(deleted) == len(set(deleted)), deleted
    for spi in created:
        assert (spi in sa.children) != (spi in deleted), spi.hex()


def test_the_child_sa_is_gone_at_its_hard_lifetime_and_its_delete_waits_for_the_window() -> None:
    moon, sun, child, _, held, log = _setup()
    expire = 3.0 + child.created
    (gone,) = [e for e in log["moon"] if isinstance(e, ev.ChildSaDeleted)]
    assert gone.spi_in == child.spi_in and gone.time == expire and "hard lifetime" in gone.reason
    assert child.spi_in not in moon.children and moon.find_child(child.spi_out) is None
    assert not moon.pop_datagrams()  # the window is busy with the rekey: the DELETE waits (2.3)
    assert moon.get_timer() != expire  # and no timer for the expired SA is left to fire again


def _sun_asks(ask: str) -> tuple[IkeSa, IkeSa, list[Any], dict[str, list[ev.Event]], float]:
    """Sun asks about its half of the CHILD SA that expired at moon (``ask``: "rekey_child" or "delete_child")
    at 3.1 s, while moon's rekey of it is held in the network; moon's answer is in the log, not yet at sun."""
    moon, sun, _, peer_child, held, log = _setup()
    now = 3.1
    getattr(sun, ask)(peer_child.spi_in, now)
    _deliver(sun.pop_datagrams(), moon, now)
    _events(moon, sun, log)
    return moon, sun, held, log, now


def test_a_peers_rekey_of_the_expired_child_sa_is_answered_child_sa_not_found() -> None:
    moon, sun, held, log, now = _sun_asks("rekey_child")
    assert _summaries(log["moon"], responses=True) == ["HDR, SK {N(CHILD_SA_NOT_FOUND)}"]
    assert not [e for e in log["moon"] if isinstance(e, (ev.ChildSaCreated, ev.ChildSaRekeyed))]
    _deliver(moon.pop_datagrams(), sun, now)  # sun learns moon has no such SA (3.10.1) and drops its own
    _events(moon, sun, log)
    assert not sun.children
    # moon's held rekey reaches sun now: sun has no such SA either; then moon's DELETE goes, answered empty.  Sun,
    # told its CHILD SA is not found, asks for a new one from scratch (RFC 7296 2.25), which both then hold
    _deliver(held, sun, now)
    _flush(moon, sun, now, log)
    (new,) = moon.children.values()
    assert new.rekey_of is None and not new.exchange_initiator
    assert [(c.spi_in, c.spi_out) for c in sun.children.values()] == [(new.spi_out, new.spi_in)]
    assert moon._expired == () and "HDR, SK {D}" in _summaries(log["moon"])
    for side, sa in (("moon", moon), ("sun", sun)):
        _coherent(log[side], sa)


def test_a_peers_delete_of_the_expired_child_sa_is_answered_without_it() -> None:
    moon, sun, held, log, now = _sun_asks("delete_child")
    assert _summaries(log["moon"], responses=True) == ["HDR, SK {}"]  # as deleted already (1.4.1): no D for it
    assert len([e for e in log["moon"] if isinstance(e, ev.ChildSaDeleted)]) == 1  # the one at expiry
    _deliver(moon.pop_datagrams(), sun, now)
    _deliver(held, sun, now)  # moon's rekey of it: sun has none left (2.25)
    _flush(moon, sun, now, log)
    assert "HDR, SK {D}" not in _summaries(log["moon"])  # the peer deleted it: moon's DELETE is not sent
    assert not moon.children and not sun.children and moon._expired == ()
    for side, sa in (("moon", moon), ("sun", sun)):
        _coherent(log[side], sa)


def test_our_rekey_answered_after_the_expiry_makes_a_fresh_child_sa_and_deletes_the_old() -> None:
    moon, sun, child, peer_child, held, log = _setup()
    now = 3.2
    _deliver(held, sun, now)  # sun answers moon's rekey: it installs the new CHILD SA as the old one's successor
    _flush(moon, sun, now, log)
    (new,) = moon.children.values()
    made = [e for e in log["moon"] if isinstance(e, ev.ChildSaCreated)]
    assert [e.spi_in for e in made] == [new.spi_in] and made[0].rekey_of is None and made[0].time == now
    assert not [e for e in log["moon"] if isinstance(e, ev.ChildSaRekeyed)]  # not from an SA reported gone
    assert new.expire_at == now + 3.0  # its own lifetime, from its creation (2.8)
    assert "HDR, SK {D}" in _summaries(log["moon"])  # the old one's DELETE, sent once the window was free
    assert_same_sas(_Pair(moon, sun))
    assert moon._expired == ()
    for side, sa in (("moon", moon), ("sun", sun)):
        _coherent(log[side], sa)


class _Pair:
    """The two attributes assert_same_sas reads from a Lab."""

    def __init__(self, initiator: IkeSa, responder: IkeSa) -> None:
        self.initiator, self.responder = initiator, responder


def test_with_the_window_free_the_delete_goes_at_once_and_the_sa_waits_for_its_answer() -> None:
    """Unchanged: nothing else in flight, the DELETE is sent at the hard lifetime and the CHILD SA is DELETING
    until it is answered (a rekey of it meanwhile: TEMPORARY_FAILURE, 2.25.1)."""
    lab = established(**LIFE)
    moon, sun = lab.initiator, lab.responder
    for sa in (moon, sun):
        sa.pop_events()
    (child,) = moon.children.values()
    child.rekey_at = None
    assert child.expire_at is not None
    moon.handle_timer(child.expire_at)
    assert child.state == "DELETING" and child.spi_in in moon.children
    assert not [e for e in moon.pop_events() if isinstance(e, ev.ChildSaDeleted)]
    log: dict[str, list[ev.Event]] = {"moon": [], "sun": []}
    _flush(moon, sun, 3.1, log)
    assert not moon.children and not sun.children


def test_hard_lifetimes_under_loss_keep_the_event_stream_coherent() -> None:
    """Lifetimes barely above the rekey times on a lossy, reordering network: CHILD SAs reach their hard
    lifetime while exchanges are in flight, on both sides (checked below).  Whatever happens, each peer reports
    every CHILD SA it created deleted exactly once, or still holds it; never a deletion of one it did not make."""
    from ikelab.lab import Lab, Network
    from test_ike import configs

    expired_busy = 0
    for seed in range(12):
        ci, cr = configs(i=dict(child_rekey_time=2.0, child_lifetime=2.5, retransmit_timeout=1.0),
                         r=dict(child_rekey_time=2.2, child_lifetime=2.6, retransmit_timeout=1.0))
        lab = Lab(ci, cr, seed=seed, network=Network(delay=0.01, loss=0.25, reorder=0.2, reorder_delay=0.3))
        lab.initiate()
        lab.run(12.0)
        for side in ("initiator", "responder"):
            log = lab.events(side)
            created = [e.spi_in for e in log if isinstance(e, ev.ChildSaCreated)]
            deleted = [e.spi_in for e in log if isinstance(e, ev.ChildSaDeleted)]
            held = {spi for sa in lab.sas(side) for spi in sa.children}
            assert len(deleted) == len(set(deleted)) and set(deleted) <= set(created), (seed, side)
            for spi in created:
                assert (spi in held) != (spi in deleted), (seed, side, spi.hex())
            expired_busy += sum(isinstance(e, ev.ChildSaDeleted) and "hard lifetime" in e.reason for e in log)
    assert expired_busy >= 5  # the case under test did happen
