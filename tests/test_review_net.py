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
from pathlib import Path
from typing import Any, Callable

import pytest

from ikelab import events as ev
from ikelab.config import IkeConfig
from ikelab.constants import NAT_T_PORT, NON_ESP_MARKER
from ikelab.net import RECENT, NetDriver
from ikelab.rand import DeterministicRandom

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


# ---------------------------------------------------------------- NAT traversal on the wire


def test_behind_a_nat_ike_moves_to_4500_with_the_non_esp_marker_both_ways() -> None:
    """RFC 7296 2.23: once NAT_DETECTION_*_IP shows a NAT, the initiator "MUST" send from port 4500 on, and the
    responder answers to the address and port it was reached from; RFC 3948 2.2: every IKE message on 4500 starts
    with the Non-ESP Marker (four zero octets), which the receiver strips before parsing (else IKE_AUTH could not
    be read at all).  IKE_SA_INIT itself goes on 500, without a marker."""
    loop, net, init, resp = pair(nat=True)
    up(loop, init, resp)
    first, *rest = ike_wire(net)
    assert first[0] == (PUBLIC, 40500) and first[1] == (GATEWAY, 500) and first[2][:4] != NON_ESP_MARKER
    init_reply = rest[0]
    assert init_reply[0] == (GATEWAY, 500) and init_reply[1] == (PUBLIC, 40500)
    assert rest[0][2][:4] != NON_ESP_MARKER
    later = rest[1:]
    assert later, net.wire
    for src, dst, payload in later:  # IKE_AUTH request and response
        assert {src, dst} == {(PUBLIC, 40000 + NAT_T_PORT), (GATEWAY, NAT_T_PORT)}
        assert payload[:4] == NON_ESP_MARKER and payload[4 + 17] >> 4 == 2  # the IKE header after the marker
    # the drivers' own traces say the same, with the IKE SAs on 4500
    assert init.current_sa().local[1] == NAT_T_PORT and resp.current_sa().local[1] == NAT_T_PORT
    assert resp.current_sa().remote == (PUBLIC, 40000 + NAT_T_PORT)
    assert net.lost == 0


def runs(*, nat: bool, init_opts: dict | None = None, resp_opts: dict | None = None
         ) -> tuple[FakeLoop, Net, Any, Any, list[str], list[str]]:
    """``ikelab connect`` and ``ikelab respond``'s run objects (:class:`ikelab.peer._Run`), on the in-memory net."""
    from ikelab.peer import RunOptions, _Run

    loop = FakeLoop()
    net = Net(loop, nat=nat)
    init_lines: list[str] = []
    resp_lines: list[str] = []
    resp = _Run(IkeConfig(local_id="gw.example.com", remote_id="alice@example.org", local_ts=("10.2.0.0/16",),
                          remote_ts=("10.1.0.0/16",), **CFG), GATEWAY, 500, RunOptions(**(resp_opts or {})),
                resp_lines.append, DeterministicRandom(1))
    init = _Run(IkeConfig(local_id="alice@example.org", remote_id="gw.example.com", local_ts=("10.1.0.0/16",),
                          remote_ts=("10.2.0.0/16",), **CFG), PRIVATE, 500, RunOptions(**(init_opts or {})),
                init_lines.append, DeterministicRandom(2))
    for r in (resp, init):
        net.attach(r.driver, (500, NAT_T_PORT))
    return loop, net, init, resp, init_lines, resp_lines


def spis_of(lines: list[str], prefix: str) -> list[list[str]]:
    """The hex words (0x... or 16 hex digits) of each log line that starts (after ``--``) with ``prefix``."""
    import re

    return [re.findall(r"\b(?:0x[0-9a-f]{8}|[0-9a-f]{16})\b", line)
            for line in lines if line.lstrip(" -").startswith(prefix)]


def esp_spi(payload: bytes) -> str:
    """The SPI of a UDP-encapsulated ESP packet (RFC 3948 2.1: ESP right after the UDP header; RFC 4303 2.1)."""
    return "0x" + payload[:4].hex()


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


def test_the_keepalive_interval_option_reaches_the_driver() -> None:
    """``--keepalive 7``: the NAT-keepalives of a run behind a NAT are 7 s apart, not the default 20 s."""
    loop, net, init, resp, _, _ = runs(nat=True, init_opts={"keepalive": 7.0})
    init.driver.initiate((GATEWAY, 500))
    loop.run_until(loop.t + 1.0)
    assert init.driver.outcome().ok
    loop.run_until(loop.t + 21.5)
    times = [p.time for p in init.driver.trace if p.kind == "keepalive"]
    assert len(times) == 3 and times[1] - times[0] == pytest.approx(7.0)


def test_retransmissions_run_from_the_drivers_clock_since_open() -> None:
    """RFC 7296 2.1: an unanswered request is sent again after the retransmission timeout, measured on the
    engine's clock (seconds since open); the timer is re-armed after each one, and the run gives up after the
    last.  With the responder gone, IKE_SA_INIT goes at 0, 1 s and 1 + 1.8 s (the timeout grows by
    ``retransmit_base``, strongSwan's 1.8), nothing more; then the half-open IKE SA is given up."""
    loop, net, init, resp = pair(nat=False)
    del net.hosts[GATEWAY]
    init.initiate((GATEWAY, 500))
    loop.run_until(loop.t + 60.0)
    times = [p.time for p in init.trace if p.kind == "ike"]
    retrans = [e for e in init.events if isinstance(e, ev.Retransmitted)]
    assert times[0] == 0.0 and len(times) == 1 + len(retrans) == 3, (times, retrans)
    assert times == pytest.approx([0.0, 1.0, 2.8])
    assert init.outcome() is not None and not init.outcome().ok
    assert not loop.pending() or all(h.when > loop.t for h in loop.pending())


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


def test_close_leaves_no_timer_behind() -> None:
    """After close() no retransmission or keepalive may fire: the sockets are gone."""
    loop, net, init, resp = pair(nat=True)
    up(loop, init, resp)
    init.act(lambda now: init.current_sa().liveness(now))  # a request in flight: its retransmission is armed
    assert loop.pending()
    init.close()
    resp.close()
    assert not [h for h in loop.pending() if h.owner in (init, resp)]  # only datagrams still on the wire


# ---------------------------------------------------------------- what arrives on port 4500


def test_esp_on_4500_goes_to_the_esp_handler_with_its_addresses_and_keepalives_to_nobody() -> None:
    """RFC 3948 2.2: a 4500 payload that does not start with the Non-ESP Marker is ESP: recorded and handed to
    ``esp_handler(payload, src, dst)`` with the sender's address as src; a single 0xFF is a NAT-keepalive
    (RFC 3948 2.3), to be ignored by the receiver: it is neither IKE for the engine nor ESP."""
    loop, net, init, resp = pair(nat=True, keepalive=5.0)
    got: list[tuple[bytes, tuple[str, int], tuple[str, int]]] = []
    resp.esp_handler = lambda payload, src, dst: got.append((payload, src, dst))
    up(loop, init, resp)
    esp = b"\x00\x00\x00\x07" + bytes(range(24))
    init.send_esp(esp, NAT_T_PORT, (GATEWAY, NAT_T_PORT))
    loop.run_until(loop.t + 6.0)  # a keepalive as well
    assert got == [(esp, (PUBLIC, 40000 + NAT_T_PORT), (GATEWAY, NAT_T_PORT))]
    received = [p for p in resp.trace if (p.dst, p.dport) == (GATEWAY, NAT_T_PORT) and p.payload[:4] != NON_ESP_MARKER]
    assert [(p.kind, p.payload) for p in received] == [("esp", esp)]  # the keepalive is not taken for IKE
    assert not [e for e in resp.events if isinstance(e, ev.MessageDropped)]


def test_a_datagram_on_4500_that_is_neither_ike_nor_esp_is_noted() -> None:
    """RFC 3948 2.2: ESP on 4500 has at least its 8-octet header; a shorter datagram (not the one-octet keepalive)
    is dropped, and the driver says so with the port, rather than silently."""
    loop, net, init, resp = pair(nat=False)
    resp._received(b"\x01\x02\x03", (PUBLIC, 41234), NAT_T_PORT)
    assert resp.notes == [f"dropped a 3-byte datagram from {PUBLIC}:41234 on port 4500: neither IKE nor ESP"]
    assert not resp.trace and not resp.events


def test_a_socket_error_is_noted_with_its_port() -> None:
    """An ICMP error reported on a socket (e.g. port unreachable) does not stop the run, but is kept in notes."""
    from ikelab.net import _Protocol

    _, _, init, _ = pair(nat=False)
    _Protocol(init, NAT_T_PORT).error_received(ConnectionRefusedError(111, "Connection refused"))
    assert init.notes == ["socket error on port 4500: [Errno 111] Connection refused"]


def test_a_datagram_for_a_port_without_a_socket_is_noted_not_sent() -> None:
    """The engine asked for a port the driver did not bind (NAT-T off): nothing is sent and the note says where."""
    loop, net, init, resp = pair(nat=False)
    init._transports.pop(NAT_T_PORT)
    init.send_esp(b"\x00\x00\x00\x01" + bytes(20), NAT_T_PORT, (GATEWAY, NAT_T_PORT))
    assert init.notes == [f"no socket on port 4500 for a datagram to {GATEWAY}:4500"]
    assert not net.wire and not init.trace


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


def test_a_listeners_error_is_noted_and_the_engine_goes_on() -> None:
    """An ``on_event`` listener (the CLI's printer, EspPeer) that raises an IkelabError must not stop the run: the
    error is kept in notes with the event's type, and the handshake still completes."""
    from ikelab.errors import ConfigError

    loop, net, init, resp = pair(nat=False)

    def listener(event: ev.Event) -> None:
        if isinstance(event, ev.IkeSaEstablished):
            raise ConfigError("the listener did not like it", field="x", value=1)

    resp.on_event = listener
    up(loop, init, resp)
    assert resp.notes == ["IkeSaEstablished: the listener did not like it"]


# ---------------------------------------------------------------- bounded history


def test_without_history_the_notes_are_bounded_too() -> None:
    """keep_history=False keeps the last RECENT notes, as it does packets and events: a peer that sends garbage to
    4500 for days must not grow the driver's memory."""
    loop, net, init, resp = pair(nat=False, keep_history=False)
    for i in range(RECENT + 10):
        resp._received(bytes([1]) * (2 + i % 5), (PUBLIC, 41234), NAT_T_PORT)
    assert len(resp.notes) == RECENT
    assert resp.notes[-1] == (f"dropped a {2 + (RECENT + 9) % 5}-byte datagram from {PUBLIC}:41234 on port 4500: "
                              "neither IKE nor ESP")
    loop2, net2, full, _ = pair(nat=False)
    for i in range(RECENT + 10):
        full._received(b"\x01\x02", (PUBLIC, 41234), NAT_T_PORT)
    assert len(full.notes) == RECENT + 10


def test_key_rows_one_per_ike_sa_and_per_child_sa_direction_on_both_sides() -> None:
    """Wireshark's ikev2_decryption_table: one row per IKE SA (SPIi, SPIr, RFC 7296 3.1), original and rekeyed, on
    both sides, the same rows; esp_sa: one row per CHILD SA direction (RFC 4303 2.1: the SPI names the
    receiver's SA), each side's inbound row the other's outbound."""
    loop, net, init, resp = pair(nat=True, keep_history=False, keep_keys=True)
    up(loop, init, resp)
    sa = init.current_sa()
    init.act(lambda now: sa.rekey_child(next(iter(sa.children)), now))
    loop.run_until(loop.t + 1.0)
    init.act(lambda now: sa.rekey_ike(now))
    loop.run_until(loop.t + 1.0)
    (ike_i, esp_i), (ike_r, esp_r) = init.key_records(), resp.key_records()
    assert len(ike_i) == len(set(ike_i)) == 2 and ike_i == ike_r
    assert {(r.spi_i, r.spi_r) for r in ike_i} == {(s.spi_i, s.spi_r) for s in (sa, init.current_sa())}
    assert len(esp_i) == len(set(esp_i)) == 4
    mine = {r.spi: (r.src, r.dst, r.encr_key, r.auth_key) for r in esp_i}
    theirs = {r.spi: (r.src, r.dst, r.encr_key, r.auth_key) for r in esp_r}
    assert set(mine) == set(theirs) and all(mine[s][2:] == theirs[s][2:] for s in mine)
    nat = {PRIVATE: PUBLIC, GATEWAY: GATEWAY}  # the gateway knows the initiator by its address outside the NAT
    assert all(theirs[s][:2] == (nat[mine[s][0]], nat[mine[s][1]]) for s in mine)


# ---------------------------------------------------------------- what ikelab connect / respond print


def test_the_log_names_each_spi_as_the_wire_carries_it() -> None:
    """The log lines of both peers against the packets on the wire (between the NAT and the gateway): the IKE
    SA's SPIi and SPIr are the IKE header's first and second SPI (RFC 7296 3.1), in that order on both sides and
    when it is deleted; a CHILD SA's "in" SPI is the one the peer's ESP packets carry and "out" the one ours
    carry (RFC 4303 2.1: the SPI names the receiver's SA); a rekey's "old -> new" and the DELETE name the
    inbound SPIs before and after; NAT detection (RFC 7296 2.23) says which side is behind the NAT."""
    loop, net, init, resp, init_lines, resp_lines = runs(nat=True)
    init.driver.initiate((GATEWAY, 500))
    loop.run_until(loop.t + 1.0)
    assert init.esp.ping("10.1.0.1", "10.2.0.1", 1)
    loop.run_until(loop.t + 1.0)
    init_sa = [p for s, d, p in net.wire if 500 in (s[1] % 40000, d[1] % 40000)]  # IKE_SA_INIT, on port 500
    assert len(init_sa) == 2
    spi_i, spi_r = init_sa[0][:8].hex(), init_sa[1][8:16].hex()
    assert init_sa[1][:8].hex() == spi_i and spi_r != "00" * 8
    for lines in (init_lines, resp_lines):
        assert spis_of(lines, "IKE SA established") == [[spi_i, spi_r]], lines
    assert "this host is behind a NAT" in "\n".join(init_lines) and "peer is behind" not in "\n".join(init_lines)
    assert "the peer is behind a NAT" in "\n".join(resp_lines) and "this host is" not in "\n".join(resp_lines)
    esp = [(s, esp_spi(p)) for s, d, p in net.wire if p[:4] != NON_ESP_MARKER and len(p) > 8 and d[1] % 40000 == 4500]
    from_init = [spi for s, spi in esp if s[0] == PUBLIC]
    from_resp = [spi for s, spi in esp if s[0] == GATEWAY]
    assert len(from_init) == len(from_resp) == 1  # the echo request and its reply
    assert spis_of(init_lines, "CHILD SA installed") == [[from_resp[0], from_init[0]]]  # in, out
    assert spis_of(resp_lines, "CHILD SA installed") == [[from_init[0], from_resp[0]]]
    # a CHILD SA rekey by the initiator, an echo on the new SA, then the DELETE of the IKE SA
    sa = init.driver.current_sa()
    init.driver.act(lambda now: sa.rekey_child(next(iter(sa.children)), now))
    loop.run_until(loop.t + 1.0)
    assert init.esp.ping("10.1.0.1", "10.2.0.1", 2)
    loop.run_until(loop.t + 1.0)
    esp = [(s, esp_spi(p)) for s, d, p in net.wire if p[:4] != NON_ESP_MARKER and len(p) > 8 and d[1] % 40000 == 4500]
    new_in = {"init": esp[-1][1], "resp": esp[-2][1]}  # the reply goes to the initiator's new SA, the request to ours
    assert esp[-1][0][0] == GATEWAY and esp[-2][0][0] == PUBLIC
    old_in = {"init": from_resp[0], "resp": from_init[0]}
    for side, lines in (("init", init_lines), ("resp", resp_lines)):
        assert spis_of(lines, "CHILD SA rekeyed") == [[old_in[side], new_in[side]]], lines
        assert spis_of(lines, "CHILD SA deleted")[0] == [old_in[side]], lines
    init.driver.act(lambda now: sa.delete_ike(now))
    loop.run_until(loop.t + 1.0)
    for lines in (init_lines, resp_lines):
        assert spis_of(lines, "IKE SA deleted") == [[spi_i, spi_r]], lines
        assert spis_of(lines, "CHILD SA deleted")[1:] == [[new_in["init" if lines is init_lines else "resp"]]]


def test_quiet_leaves_out_the_esp_packets_and_the_key_lines_only() -> None:
    """``--quiet``: no line per ESP packet and no "keys derived" line; the IKE packets and the rest are still there."""
    loop, net, init, resp, init_lines, resp_lines = runs(nat=True, init_opts={"quiet": True})
    init.driver.initiate((GATEWAY, 500))
    loop.run_until(loop.t + 1.0)
    assert init.esp.ping("10.1.0.1", "10.2.0.1", 1)
    loop.run_until(loop.t + 1.0)
    esp_lines = [[line for line in lines if " ESP    " in line] for lines in (init_lines, resp_lines)]
    assert esp_lines[0] == [] and len(esp_lines[1]) == 2
    assert not [line for line in init_lines if "keys derived" in line]
    assert [line for line in resp_lines if "keys derived" in line]
    for lines in (init_lines, resp_lines):
        assert sum("IKE_AUTH MID=01" in line for line in lines) == 2 and any("CHILD SA installed" in x for x in lines)


def test_an_esp_packet_wakes_whoever_waits_for_the_run_to_change() -> None:
    """``ikelab connect --ping`` waits with :meth:`NetDriver.wait_for` until the echo replies are in, a predicate
    checked "after every engine step"; ESP reaches the ESP handler without one, so the wait once went on to its
    timeout (3 s after every round of pings) although the replies had come.  Nothing is timed here: the wait
    must be over once the loop has run the waiter after the packet."""
    import asyncio

    async def run() -> tuple[bool, bool]:
        _, _, _, resp = pair(nat=False)
        resp._changed = asyncio.Event()
        got: list[bytes] = []
        resp.esp_handler = lambda payload, src, dst: got.append(payload)
        waiter = asyncio.ensure_future(resp.wait_for(lambda: bool(got), 3600.0))
        for _ in range(3):
            await asyncio.sleep(0)
        before = waiter.done()
        resp._received(b"\\x00\\x00\\x00\\x07" + bytes(24), (PUBLIC, 44500), NAT_T_PORT)
        for _ in range(3):
            await asyncio.sleep(0)
        after = waiter.done()
        waiter.cancel()
        return before, after

    assert asyncio.run(run()) == (False, True)


def test_ping_sends_ping_count_echoes_from_ping_src() -> None:
    """``--ping 10.2.0.1 --ping-src 10.1.0.9 --ping-count 2``: two echo requests from that inner address go through
    the CHILD SA (two ESP packets on the wire, answered by the responder), and the summary says so."""
    import asyncio

    loop, net, init, resp, init_lines, _ = runs(nat=True, init_opts={"ping": "10.2.0.1", "ping_src": "10.1.0.9",
                                                                     "ping_count": 2})
    init.driver.initiate((GATEWAY, 500))
    loop.run_until(loop.t + 1.0)
    before = len(net.wire)

    async def run() -> int:
        init.driver._changed = asyncio.Event()

        async def pump() -> None:  # the in-memory network runs beside the real event loop
            while True:
                loop.run_until(loop.t + 0.01)
                await asyncio.sleep(0.001)

        pumping = asyncio.ensure_future(pump())
        try:
            return await init.pings("first CHILD SA")
        finally:
            pumping.cancel()

    assert asyncio.run(run()) == 2
    requests = [p for s, d, p in net.wire[before:] if s[0] == PUBLIC and p[:4] != NON_ESP_MARKER]
    assert len(requests) == 2 and resp.esp.requests_answered == 2
    assert "ping 10.1.0.9 -> 10.2.0.1 through ESP (first CHILD SA): 2 sent, 2 replies" in init_lines


def test_the_capture_behind_a_nat_decrypts_in_tshark_at_the_wall_clock_times(tmp_path: Path) -> None:
    """tshark (an independent dissector) reads the initiator's --pcap of a run behind the NAT with its --keys:
    IKE_SA_INIT on 500, IKE_AUTH on 4500 found after the Non-ESP Marker (RFC 3948 2.2) and decrypted, the echo
    request and reply decrypted from UDP-encapsulated ESP (RFC 3948 2.1); each frame at the wall-clock time of
    the run's start plus the packet's time in the trace."""
    from tshark_util import require_tshark, run_tshark

    require_tshark()
    loop, net, init, resp = pair(nat=True)
    up(loop, init, resp)
    from ikelab.esp_peer import EspPeer

    EspPeer(resp, out=lambda text: None)  # answers the echo (it installs its SAs from the events it is given)
    sender = EspPeer(init, out=lambda text: None)
    for peer, driver in ((sender, init), (resp.esp_handler.__self__, resp)):  # type: ignore[union-attr]
        for event in driver.events:
            peer.on_event(event)
    assert sender.ping("10.1.0.1", "10.2.0.1", 1)
    loop.run_until(loop.t + 1.0)
    assert sender.replies == [1]
    pcap = init.write_pcap(tmp_path / "run.pcap")
    ike_table, esp_table = init.write_keys(tmp_path / "keys")
    fields = ["frame.time_epoch", "udp.srcport", "udp.dstport", "isakmp.exchangetype", "isakmp.enc.decrypted",
              "icmp.type"]
    args = ["-o", "esp.enable_encryption_decode:TRUE", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"]
    out = run_tshark(pcap, args + [x for f in fields for x in ("-e", f)], ikev2_keys=ike_table.read_text().splitlines(),
                     esp_sa=esp_table.read_text().splitlines())
    rows = [line.split("\t") for line in out.splitlines()]
    assert [(r[1], r[2], r[3], r[5]) for r in rows] == [
        ("500", "500", "34", ""), ("500", "500", "34", ""), ("4500", "4500", "35", ""), ("4500", "4500", "35", ""),
        ("4500", "4500", "", "8"), ("4500", "4500", "", "0")], rows
    assert all(r[4] for r in rows[2:4]), rows  # IKE_AUTH decrypted
    assert [float(r[0]) for r in rows] == pytest.approx([init.wall_start + p.time for p in init.trace], abs=1e-5)


def test_connect_and_respond_over_ipv6_loopback() -> None:
    """An IPv6 local address opens IPv6 sockets (the sockets of one address family cannot reach the other)."""
    import asyncio
    import socket

    def free_port6() -> int:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
            return s.getsockname()[1]

    try:
        port = free_port6()
    except OSError:
        pytest.skip("no IPv6 loopback here")

    async def run() -> tuple[bool, str]:
        resp = NetDriver(IkeConfig(local_id="gw.example.com", **CFG), "::1", port=port)
        init = NetDriver(IkeConfig(local_id="alice@example.org", **CFG), "::1", port=free_port6())
        await resp.open()
        await init.open()
        try:
            init.initiate(("::1", port))
            outcome = await init.wait_established(10)
            return outcome.ok, init.trace[0].dst
        finally:
            init.close()
            resp.close()

    assert asyncio.run(run()) == (True, "::1")


def test_connect_pings_once_the_child_sa_is_up() -> None:
    """``ikelab connect --ping``: the echoes are tried as soon as the first CHILD SA is up, and the summary says how
    many left; here none can (no NAT on loopback, so no UDP encapsulation, and ESP would need a raw socket)."""
    import asyncio

    from ikelab.peer import RunOptions, run_connect
    from test_net import free_port

    lines: list[str] = []

    async def run() -> int:
        port = free_port()
        resp = NetDriver(IkeConfig(local_id="gw.example.com", local_ts=("10.2.0.0/16",), remote_ts=("10.1.0.0/16",),
                                   **CFG), "127.0.0.1", port=port)
        await resp.open()
        try:
            config = IkeConfig(local_id="alice@example.org", local_ts=("10.1.0.0/16",), remote_ts=("10.2.0.0/16",),
                               **CFG)
            return await run_connect(config, ("127.0.0.1", port), RunOptions(ping="10.2.0.1", wait=10),
                                     local="127.0.0.1", port=free_port(), out=lines.append)
        finally:
            resp.close()

    assert asyncio.run(run()) == 0, lines
    assert "ping 10.1.0.1 -> 10.2.0.1 through ESP (first CHILD SA): 0 sent, 0 replies" in lines, lines
    assert "ping: ESP without UDP encapsulation needs a raw socket (IP protocol 50): not sent" in lines
