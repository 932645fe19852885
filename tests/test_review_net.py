"""Review of the live-network layer (:mod:`ikelab.net`, :mod:`ikelab.peer`) without sockets or a real clock.

Two :class:`NetDriver` objects run over an in-memory network on an injected
event-loop clock (:class:`FakeLoop`): the driver's own code (port choice,
Non-ESP Marker, timers, keepalives, key rows, bounded history) runs as on a
real host, but every time is exact and nothing depends on the machine's
speed.  A one-to-one NAT (RFC 3948 1, RFC 7296 2.23) can sit in front of the
initiator: it rewrites 192.0.2.10:p to 198.51.100.1:(p + 40000).  Only
documentation addresses are used (RFC 5737).
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any, Callable

import pytest

from ikelab import events as ev
from ikelab.config import IkeConfig
from ikelab.constants import NAT_T_PORT, NON_ESP_MARKER
from ikelab.net import RECENT, NetDriver
from ikelab.rand import DeterministicRandom
from ikelab.state import State

PRIVATE, PUBLIC, GATEWAY = "192.0.2.10", "198.51.100.1", "192.0.2.1"
CFG = dict(psk=b"review-psk", ike_proposals=("aes128-sha256-modp2048",), esp_proposals=("aes128-sha256",),
           retransmit_timeout=1.0, retransmit_tries=2)


class Handle:
    """What ``loop.call_at`` returns: cancellable, fired once by :meth:`FakeLoop.run_until`."""

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    """The two methods of an asyncio loop that NetDriver uses (``time``, ``call_at``), on a clock we move."""

    def __init__(self, early: float = 0.0) -> None:
        self.t = 1000.0  # not 0: a driver that forgot its _t0 would be off by this much
        self.early = early  # asyncio runs a handle up to its clock's resolution before its time
        self.fired = 0
        self._queue: list[tuple[float, int, Handle]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.t

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> Handle:
        handle = Handle(when, lambda: callback(*args))
        handle.owner = getattr(callback, "__self__", None)  # type: ignore[attr-defined]
        heapq.heappush(self._queue, (when, next(self._order), handle))
        return handle

    def pending(self) -> list[Handle]:
        return [h for _, _, h in self._queue if not h.cancelled]

    def run_until(self, t: float, limit: int = 100000) -> None:
        """Fire every handle due by ``t`` (in time order, the clock set to each one's time), then set the clock to t."""
        for _ in range(limit):
            if not self._queue or self._queue[0][0] > t:
                self.t = max(self.t, t)
                return
            when, _, handle = heapq.heappop(self._queue)
            if not handle.cancelled:
                self.t = max(self.t, when - self.early)
                self.fired += 1
                handle.callback()
        raise AssertionError(f"more than {limit} callbacks before t={t}: a timer re-armed in the past?")


class Net:
    """An in-memory IP network between drivers, with an optional NAT in front of the initiator's PRIVATE address."""

    def __init__(self, loop: FakeLoop, *, nat: bool) -> None:
        self.loop, self.nat = loop, nat
        self.hosts: dict[str, NetDriver] = {}
        self.wire: list[tuple[tuple[str, int], tuple[str, int], bytes]] = []  # as seen between NAT and GATEWAY
        self.lost = 0

    def attach(self, driver: NetDriver, ports: tuple[int, ...]) -> None:
        driver._loop = self.loop  # type: ignore[assignment]
        driver._t0 = self.loop.time()
        driver._transports = {p: Transport(self, driver, p) for p in ports}  # type: ignore[misc]
        self.hosts[driver.local_addr] = driver

    def send(self, src: tuple[str, int], dst: tuple[str, int], data: bytes) -> None:
        if self.nat and src[0] == PRIVATE:
            src = (PUBLIC, src[1] + 40000)
        self.wire.append((src, dst, data))
        if self.nat and dst[0] == PUBLIC:
            dst = (PRIVATE, dst[1] - 40000)
        host = self.hosts.get(dst[0])
        if host is None or dst[1] not in host._transports:
            self.lost += 1
            return
        self.loop.call_at(self.loop.time() + 0.01, lambda: host._received(data, src, dst[1]))


class Transport:
    def __init__(self, net: Net, driver: NetDriver, port: int) -> None:
        self.net, self.driver, self.port = net, driver, port

    def sendto(self, data: bytes, dst: tuple[str, int]) -> None:
        self.net.send((self.driver.local_addr, self.port), dst, bytes(data))

    def close(self) -> None:
        pass


def pair(*, nat: bool, keepalive: float | None = 5.0, init_cfg: dict | None = None, early: float = 0.0,
         **driver: Any) -> tuple[FakeLoop, Net, NetDriver, NetDriver]:
    """A responder on GATEWAY and an initiator on PRIVATE (behind the NAT if ``nat``), both on ports 500 and 4500."""
    loop = FakeLoop(early)
    net = Net(loop, nat=nat)
    resp = NetDriver(IkeConfig(local_id="gw.example.com", remote_id="alice@example.org", local_ts=("10.2.0.0/16",),
                               remote_ts=("10.1.0.0/16",), **CFG), GATEWAY,
                     rng=DeterministicRandom(1), keepalive_interval=keepalive, **driver)
    init = NetDriver(IkeConfig(local_id="alice@example.org", remote_id="gw.example.com", local_ts=("10.1.0.0/16",),
                               remote_ts=("10.2.0.0/16",), **{**CFG, **(init_cfg or {})}),
                     PRIVATE, rng=DeterministicRandom(2), keepalive_interval=keepalive, **driver)
    for d in (resp, init):
        net.attach(d, (500, NAT_T_PORT))
    return loop, net, init, resp


def up(loop: FakeLoop, init: NetDriver, resp: NetDriver) -> None:
    init.initiate((GATEWAY, 500))
    loop.run_until(loop.t + 1.0)
    assert init.outcome() is not None and init.outcome().ok, (init.outcome(), init.events)
    assert resp.outcome() is not None and resp.outcome().ok


def ike_wire(net: Net) -> list[tuple[tuple[str, int], tuple[str, int], bytes]]:
    return [(s, d, p) for s, d, p in net.wire if p != b"\xff"]


# ---------------------------------------------------------------- keepalives and timers on the injected clock


@pytest.mark.parametrize("early", [0.0, 0.015625])
def test_keepalives_leave_the_ike_sas_port_4500_for_the_peers_mapped_port_when_idle(early: float) -> None:
    """RFC 3948 4: the host behind the NAT sends 0xFF from the port the IKE SA (and ESP) use, 4500 after NAT
    detection (RFC 7296 2.23), to the peer's, each time ``keepalive_interval`` passes with nothing else sent from
    it; the gateway, not behind a NAT, sends none.  The NAT's mapping to keep is that of 4500, not of 500.
    ``early``: the event loop runs the keepalive's handle that much before its time (asyncio's clock resolution)."""
    loop, net, init, resp = pair(nat=True, keepalive=5.0, early=early)
    up(loop, init, resp)
    last_ike = max(p.time for p in init.trace if (p.src, p.sport) == (PRIVATE, NAT_T_PORT))
    start = loop.t
    loop.run_until(start + 16.0)
    kept = [(s, d, p) for s, d, p in net.wire if p == b"\xff"]
    assert [(s, d) for s, d, _ in kept] == [((PUBLIC, 40000 + NAT_T_PORT), (GATEWAY, NAT_T_PORT))] * 3
    times = [p.time for p in init.trace if p.kind == "keepalive"]
    gaps = [b - a for a, b in zip([last_ike] + times, times)]
    assert len(times) == 3 and all(5.0 - early - 1e-9 <= gap <= 5.0 + 1e-9 for gap in gaps), times
    assert not [p for p in resp.trace if p.kind == "keepalive"]
    # other traffic from 4500 puts the next keepalive off; traffic from 500 does not
    init.send_esp(b"\x00\x00\x00\x01" + bytes(20), NAT_T_PORT, (GATEWAY, NAT_T_PORT))
    sent = init.now()
    loop.run_until(loop.t + 5.5)
    assert [p.time for p in init.trace if p.kind == "keepalive"][3:] == pytest.approx([sent + 5.0], abs=early)


@pytest.mark.parametrize("early", [0.0, 0.015625])
def test_a_timer_fired_at_its_time_runs_the_engine_once_not_a_busy_loop(early: float) -> None:
    """The engine's timer was once run with the clock read in the callback: asyncio runs a handle up to the
    clock's resolution early (15.6 ms on Windows), and ``t0 + when - t0`` may round below ``when``, so the engine
    found nothing due, asked for the same time again, and the loop spun on it (for ever on a clock that stands
    still).  Each retransmission (RFC 7296 2.1) must take one timer callback."""
    loop = FakeLoop(early=early)
    net = Net(loop, nat=False)
    init = NetDriver(IkeConfig(local_id="alice@example.org", **CFG), PRIVATE, rng=DeterministicRandom(2))
    net.attach(init, (500, NAT_T_PORT))
    init.initiate((GATEWAY, 500))  # no one there
    loop.run_until(loop.t + 60.0, limit=20)
    assert sum(isinstance(e, ev.Retransmitted) for e in init.events) == 2
    assert init.outcome() is not None and not init.outcome().ok
    assert loop.fired <= 6, loop.fired


# ---------------------------------------------------------------- what ikelab connect / respond print


@pytest.mark.parametrize("ours, theirs, natt", [(NAT_T_PORT, NAT_T_PORT, None), (500, NAT_T_PORT, False)])
def test_esp_on_a_nat_t_port_is_sorted_out_whatever_ports_the_driver_bound(ours: int, theirs: int,
                                                                            natt: bool | None) -> None:
    """RFC 3948 2.2: on UDP 4500 a payload without the Non-ESP Marker is ESP, a single 0xFF a keepalive; the engine
    frames and unframes IKE by that rule whenever either port is 4500 (:func:`ikelab.exchanges_common.frame`).
    ``ikelab respond --port 4500`` binds 4500 alone (so ``natt`` is off): its UDP-encapsulated ESP once went to
    the IKE engine, which dropped it silently, and a keepalive was recorded as an IKE packet."""
    loop = FakeLoop()
    driver = NetDriver(IkeConfig(local_id="gw.example.com", **CFG), GATEWAY, port=ours, natt=natt,
                       rng=DeterministicRandom(1))
    Net(loop, nat=False).attach(driver, (ours,))
    got: list[tuple[bytes, tuple[str, int], tuple[str, int]]] = []
    driver.esp_handler = lambda payload, src, dst: got.append((payload, src, dst))
    esp = b"\x00\x00\x00\x07" + bytes(range(24))
    driver._received(esp, (PUBLIC, theirs), ours)
    driver._received(b"\xff", (PUBLIC, theirs), ours)
    assert got == [(esp, (PUBLIC, theirs), (GATEWAY, ours))]
    assert [(p.kind, p.payload) for p in driver.trace] == [("esp", esp)]
