"""Regressions found by tests/test_review_endpoint_stateful.py in :class:`ikelab.endpoint.IkeEndpoint`.

An endpoint without cookies (``cookie_threshold=None``) never counts its half-open SAs, so whatever it drops from
``half_open`` must not stay referenced anywhere else: every refused or closed IKE SA would otherwise cost memory for
as long as the endpoint runs, however often ``forget_closed`` is called (RFC 7296 2.6 asks a responder to keep
as little as it can for requests it has not authenticated; 2.21.1 refusals keep no state).
"""

from __future__ import annotations

import gc

from ikelab.config import IkeConfig
from ikelab.constants import NotifyType
from ikelab.endpoint import IkeEndpoint
from ikelab.exchanges_wire import notify_of
from ikelab.ike import IkeSa
from ikelab.message import decode
from ikelab.rand import DeterministicRandom
from ikelab.state import State

SUN = ("192.0.2.2", 500)


def _config(local: str, remote: str, proposal: str, **kw) -> IkeConfig:
    return IkeConfig(local_id=local, remote_id=remote, psk=b"a shared secret", ike_proposals=(proposal,),
                     esp_proposals=("aes128gcm16",), cookie_threshold=None, **kw)


def _sun() -> IkeEndpoint:
    """A responder without cookies that keeps closed SAs until forget_closed (a lab's endpoint)."""
    return IkeEndpoint(_config("sun.example", "%any", "aes128-sha256-x25519"), DeterministicRandom("session34 sun"))


def _moon(seed: str, proposal: str = "aes128-sha256-x25519", **kw) -> IkeEndpoint:
    return IkeEndpoint(_config("moon.example", "sun.example", proposal, **kw), DeterministicRandom(seed), "192.0.2.1")


def _responders_alive(spi_i: bytes) -> list[IkeSa]:
    """Responder IKE SAs for the initiator's SPI ``spi_i`` that something still references."""
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, IkeSa) and not o.initiator and o.spi_i == spi_i]


def _exchange(a: IkeEndpoint, b: IkeEndpoint, now: float) -> None:
    """Deliver everything a and b send each other, in order, until both are quiet."""
    for _ in range(20):
        out = a.pop_datagrams() + b.pop_datagrams()
        if not out:
            return
        for d in out:
            (b if d.dst[0] == b.local_addr else a).receive(d, now)


def test_retransmissions_of_a_refused_ike_sa_init_request_leave_nothing_behind() -> None:
    """Moon proposes a suite sun refuses (NO_PROPOSAL_CHOSEN) and sends its request 50 times, as a retransmitting
    initiator or an attacker would.  Each copy makes a responder IKE SA that closes at once; each replaces the one
    before in ``half_open``.  The replaced ones stayed in the endpoint's set of possibly half-open SAs, which only
    a cookie check prunes: after handle_timer and forget_closed, 49 closed IKE SAs were still alive."""
    sun = _sun()
    moon = _moon("session34 refused", "aes256-sha384-ecp384")
    moon.initiate(SUN, 0.0)
    (request,) = moon.pop_datagrams()
    for i in range(50):
        sun.receive(request, float(i))
        sun.pop_datagrams()
    (refused,) = sun.half_open.values()
    assert refused.state == State.CLOSED
    del refused
    sun.handle_timer(100.0)
    sun.forget_closed(1000.0)
    assert sun.sas == {} and sun.half_open == {}
    assert _responders_alive(request.payload[:8]) == []


def test_the_sa_refused_with_invalid_ke_payload_is_not_kept_once_the_retry_is_taken() -> None:
    """The shortest steps the state machine found: moon sends its KE for ECP-256, sun answers INVALID_KE_PAYLOAD
    (RFC 7296 1.2) and the refused responder SA closes; moon's retry has the same SPIi and address, so the new
    responder SA takes the first one's place in ``half_open``.  The first one stayed referenced for good."""
    sun = _sun()
    moon = _moon("session34 other group", "aes128-sha256-ecp256-x25519")
    sa = moon.initiate(SUN, 0.0)
    _exchange(moon, sun, 0.0)
    assert sa.state == State.ESTABLISHED
    assert sun.forget_closed() == 0  # the refusal had no SPIr: it was never filed in sas
    refused = [o for o in _responders_alive(sa.spi_i) if o.state == State.CLOSED]
    assert refused == []


def test_an_ike_sa_closed_before_any_timer_is_not_kept_after_forget_closed() -> None:
    """The steps the state machine found: moon establishes an IKE SA, reboots and establishes another with
    INITIAL_CONTACT, which closes the first (RFC 7296 2.4) before sun's handle_timer ever ran; forget_closed()
    then drops it from ``sas`` and ``half_open``, but it stayed referenced by the endpoint."""
    sun = _sun()
    first = _moon("session34 first boot", initial_contact=True)
    old = first.initiate(SUN, 0.0)
    _exchange(first, sun, 0.0)
    assert old.state == State.ESTABLISHED
    second = _moon("session34 second boot", initial_contact=True)
    new = second.initiate(SUN, 1.0)
    _exchange(second, sun, 1.0)
    assert new.state == State.ESTABLISHED
    (gone,) = [sa for sa in sun.all_sas() if sa.state == State.CLOSED]
    assert gone.spi_i == old.spi_i and "INITIAL_CONTACT" in gone.closed_reason
    del gone
    assert sun.forget_closed() == 1
    assert _responders_alive(old.spi_i) == []
    assert sun.half_open_count() == 0


def test_a_refused_request_is_answered_again_after_its_sa_was_replaced() -> None:
    """The fix keeps the behaviour: a request refused again is refused again, answered each time, with the
    same response (nothing in the request changed)."""
    sun = _sun()
    moon = _moon("session34 again", "aes256-sha384-ecp384")
    moon.initiate(SUN, 0.0)
    (request,) = moon.pop_datagrams()
    answers = []
    for i in range(3):
        sun.receive(request, float(i))
        answers += sun.pop_datagrams()
    assert len(answers) == 3 and len(set(a.payload for a in answers)) == 1
    assert notify_of(decode(answers[0].payload), NotifyType.NO_PROPOSAL_CHOSEN) is not None  # RFC 7296 1.2
    assert sun.half_open_count() == 0
