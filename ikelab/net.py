"""Real networks: an asyncio UDP driver for the sans-IO engine (RFC 7296 2, 2.23; RFC 3948).

The engine (:class:`ikelab.endpoint.IkeEndpoint`) never touches a socket or a
clock.  :class:`NetDriver` gives it both::

    driver = NetDriver(config, "192.0.2.1")        # binds UDP 500 and 4500 on that address
    await driver.open()
    sa = driver.initiate(("192.0.2.2", 500))
    outcome = await driver.wait_established(timeout=20)

* every datagram received is fed to the engine with the real (monotonic)
  clock, every datagram the engine returns is sent from the socket of its
  source port: port 500, or 4500 once NAT detection (RFC 7296 2.23) moved
  the IKE SA there, with the Non-ESP Marker (RFC 3948 2.2) added by the engine;
* on port 4500, :func:`ikelab.natt.classify_udp4500` sorts IKE from
  UDP-encapsulated ESP (handed to ``esp_handler``) and NAT-keepalives;
* the engine's timer (:meth:`IkeEndpoint.get_timer`) is one ``call_at`` on the
  event loop: retransmissions, liveness checks and lifetimes run from it;
* behind a NAT (the IKE SA's ``nat_local``), a NAT-keepalive (the octet 0xFF,
  RFC 3948 2.3) goes from the IKE SA's port (4500 after NAT detection) to the
  peer's whenever nothing else left that port for ``keepalive_interval``
  seconds (RFC 3948 4; 20 s, as strongSwan), so that the NAT keeps the
  mapping that ESP and IKE use;
* every packet sent and received is recorded in :attr:`NetDriver.trace`
  (:mod:`ikelab.trace`), every engine event in :attr:`NetDriver.events`.
  With ``keep_history=True`` (the default) they hold the whole run, with every
  IKE SA, so that it can be written as a pcap (:meth:`write_pcap`); that
  memory grows with the run.  With ``keep_history=False`` (``ikelab respond
  --duration inf`` without ``--pcap``) they hold the last :data:`RECENT`
  packets and events, closed IKE SAs are let go, and what the outcome and the
  end-of-run summary need from the whole run is kept in
  :attr:`NetDriver.facts` (:class:`RunFacts`), so that a run of days keeps a
  bounded amount.  The Wireshark decryption tables (:meth:`write_keys`) need
  one row per IKE SA and per CHILD SA direction, not the packets:
  ``keep_keys`` (default: as ``keep_history``; ``--keys``) collects those
  rows as the SAs are made.

Times in the trace and in events are seconds since :meth:`open`.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, MutableSequence

from . import events as ev
from .constants import NAT_T_PORT
from .endpoint import IkeEndpoint
from .errors import ConfigError, IkelabError, ParseError
from .exchanges_common import Datagram
from .ike import IkeSa
from .natt import KEEPALIVE, KEEPALIVE_INTERVAL, KeepaliveClock, classify_udp4500
from .rand import RandomSource
from .state import State
from .trace import Trace, TracePacket

__all__ = [
    "EXIT_AUTH", "EXIT_FAILED", "EXIT_NO_PROPOSAL", "EXIT_OK", "EXIT_PORT_IN_USE", "EXIT_TIMEOUT",
    "NetDriver", "NetError", "Outcome", "RECENT", "RunFacts", "classify_failure", "failure_text", "format_packet",
    "retry_expected",
]

#: Exit statuses of ``ikelab connect`` / ``ikelab respond`` (2 is a usage error, as for every command).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_TIMEOUT = 3
EXIT_AUTH = 4
EXIT_NO_PROPOSAL = 5
EXIT_PORT_IN_USE = 6

#: How many of the latest packets, events and notes a :class:`NetDriver` keeps without ``keep_history``.
RECENT = 256


class NetError(IkelabError):
    """A socket could not be opened or used (address, port and the system's reason in the message)."""

    def __init__(self, message: str, *, field: str = "address", value: Any = None,
                 exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.exit_code = exit_code


@dataclass(frozen=True)
class Outcome:
    """How a handshake ended: ``status`` is one of the EXIT_* codes, ``reason`` says why."""

    status: int
    reason: str
    sa: IkeSa | None = None

    @property
    def ok(self) -> bool:
        return self.status == EXIT_OK


def classify_failure(failure: ev.Failure) -> int:
    """The exit status for a Failure event: authentication, no proposal, no answer, or other."""
    notify = failure.notify or ""
    if notify == "AUTHENTICATION_FAILED" or "authentic" in failure.reason.lower():
        return EXIT_AUTH
    if notify in ("NO_PROPOSAL_CHOSEN", "TS_UNACCEPTABLE", "INVALID_KE_PAYLOAD"):  # for the IKE SA or the CHILD SA
        return EXIT_NO_PROPOSAL
    if "no response" in failure.reason or "timed out" in failure.reason:  # a half-open SA's IKE_AUTH never came
        return EXIT_TIMEOUT
    return EXIT_FAILED


def failure_text(failure: ev.Failure) -> str:
    """``NOTIFY: reason`` (``failure: reason`` when no notify names it), as the runs' lines say a Failure."""
    return f"{failure.notify or 'failure'}: {failure.reason}"


def dropped_text(dropped: ev.MessageDropped | None) -> str:
    """`` (last message dropped: why)`` for a timeout that a dropped message may explain; "" for None."""
    return "" if dropped is None else f" (last message dropped: {dropped.reason})"


def retry_expected(failure: ev.Failure) -> bool:
    """Whether the peer is expected to try again after ``failure``, so that it decides nothing yet.

    A responder that refuses IKE_SA_INIT with INVALID_KE_PAYLOAD keeps no
    state, but the initiator sends the request again with a KE payload for
    the group the Notify names (RFC 7296 1.2, 2.7).
    """
    return failure.side == "responder" and failure.notify == "INVALID_KE_PAYLOAD" and failure.exchange == "IKE_SA_INIT"


@dataclass
class RunFacts:
    """What the outcome and the end-of-run summary need from every event of a live run, kept as the events come.

    :meth:`NetDriver.outcome`, ``ikelab connect``/``respond``'s summary and exit
    status read these rather than scan :attr:`NetDriver.events`, which without
    ``keep_history`` holds only the latest events: the first CHILD SA, say, is
    long gone from it after a day of liveness checks.
    """

    #: how many events of each type (e.g. ``counts[ev.ChildSaRekeyed]``)
    counts: Counter[type] = field(default_factory=Counter)
    #: the run's first CHILD SA: the handshake succeeded
    first_child: ev.ChildSaCreated | None = None
    ike_established: bool = False
    ike_deleted: bool = False
    #: the last Failure that decides something (not one after which the peer tries again, :func:`retry_expected`)
    last_failure: ev.Failure | None = None
    #: the first of those that is fatal or AUTHENTICATION_FAILED
    first_decisive: ev.Failure | None = None
    #: the last Failure of any kind (a refusal the peer was expected to retry included)
    last_refusal: ev.Failure | None = None
    last_drop: ev.MessageDropped | None = None
    #: the last fatal Failure of an established IKE SA, and the last CHILD SA deleted, since the first CHILD SA
    fatal_since_child: ev.Failure | None = None
    child_deleted_since: ev.ChildSaDeleted | None = None
    #: how the last established IKE SA to go went: the fatal Failure that took it (a peer that stopped
    #: answering, RFC 7296 2.4), or None when it was deleted or rekeyed; and how many went by such a failure
    last_gone: ev.Failure | None = None
    lost: int = 0
    #: whether the IKE SA of the last IkeSaDeleted had been established (else: a handshake that failed)
    deleted_established: bool = False
    #: the SPIs of the IKE SAs established (or made by a rekey) and not deleted yet
    _established: set[tuple[bytes, bytes]] = field(default_factory=set, repr=False)
    #: after a fatal Failure since the first CHILD SA, until its IKE SA's IkeSaDeleted (which comes next) says
    #: whose it was: (True, the fatal_since_child and last_gone it replaced), else (False, None, None)
    _undo: tuple[bool, ev.Failure | None, ev.Failure | None] = field(default=(False, None, None), repr=False)

    @property
    def losing(self) -> bool:
        """A fatal Failure of an IKE SA since the first CHILD SA, whose IkeSaDeleted has not come yet."""
        return self._undo[0]

    def add(self, event: ev.Event) -> None:
        """Take one more event of the run into account (in the order they happened)."""
        self.counts[type(event)] += 1
        if isinstance(event, ev.ChildSaCreated):
            if self.first_child is None:
                self.first_child = event
        elif isinstance(event, ev.IkeSaEstablished):
            self.ike_established = True
            self._established.add((event.spi_i, event.spi_r))
        elif isinstance(event, ev.IkeSaRekeyed):
            self._established.add((event.new_spi_i, event.new_spi_r))
        elif isinstance(event, ev.IkeSaDeleted):
            self.ike_deleted = True
            spis = (event.spi_i, event.spi_r)
            self.deleted_established = spis in self._established
            pending, before, gone_before = self._undo
            if pending and spis not in self._established:
                # a half-open IKE SA that failed (anyone's IKE_SA_INIT, never followed by IKE_AUTH) is no failure
                # of the run's SAs: unauthenticated, it must not undo what they did (RFC 7296 2.21.1)
                self.fatal_since_child, self.last_gone = before, gone_before
            elif spis in self._established:  # one of the run's IKE SAs (a gateway's client's) went
                self.last_gone = self.fatal_since_child if pending else None
                self.lost += pending
            self._undo = (False, None, None)
            self._established.discard(spis)
        elif isinstance(event, ev.MessageDropped):
            self.last_drop = event
        elif isinstance(event, ev.ChildSaDeleted) and self.first_child is not None:
            self.child_deleted_since = event
        elif isinstance(event, ev.Failure):
            self.last_refusal = event
            if self.first_child is not None and event.fatal:
                # the IkeSaDeleted right after it names its IKE SA; until then it counts as that SA's end
                self._undo = (True, self.fatal_since_child, self.last_gone)
                self.fatal_since_child = self.last_gone = event
            if not retry_expected(event):
                self.last_failure = event
                if self.first_decisive is None and (event.fatal or event.notify == "AUTHENTICATION_FAILED"):
                    self.first_decisive = event


def zoned(address: str) -> str:
    """``address`` with its IPv6 zone (RFC 4007 11.2) named by the interface, as received addresses are written:
    ``fe80::1%2`` becomes ``fe80::1%eth0``; an address without a zone is returned as it is."""
    host, sep, zone = address.partition("%")
    if not sep or not zone.isdigit():
        return address
    try:
        return f"{host}%{socket.if_indextoname(int(zone))}"
    except OSError:  # no such interface: the socket call will say so
        return address


def socket_address(address: str, port: int) -> tuple[Any, ...]:
    """The socket address for ``sendto``/``connect``: a zoned IPv6 address (``fe80::1%eth0``, RFC 4007 11)
    carries its interface as the scope id of a 4-tuple, which Python takes from getaddrinfo, not from the text."""
    if "%" not in address:
        return (address, port)
    try:
        return socket.getaddrinfo(address, port, socket.AF_INET6, socket.SOCK_DGRAM, 0,
                                  socket.AI_NUMERICHOST)[0][4]
    except socket.gaierror as exc:
        raise NetError(f"address {address}: {exc.strerror or exc}", value=address) from None


def address_text(sockaddr: Any) -> str:
    """A socket address's host as text, with its zone when it has a scope id (a link-local peer, RFC 4007 11):
    Python leaves the zone out of the host of a received IPv6 address."""
    host = str(sockaddr[0])
    if len(sockaddr) >= 4 and sockaddr[3] and "%" not in host:
        return zoned(f"{host}%{int(sockaddr[3])}")
    return host


def format_packet(n: int, packet: TracePacket) -> str:
    """One packet-list row (No., Time, Source, Destination, Protocol, Length, Info), as :meth:`Trace.format`."""
    _, t, s, d, proto, length, info = Trace.of([packet]).packet_list()[0]
    ports = f"{packet.sport}->{packet.dport}" if packet.udp else ""
    return f"{n:>4} {t:>9.3f}  {s:<15} {d:<15} {proto:<6} {ports:<10} {length:>5}  {info}"


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, driver: "NetDriver", port: int) -> None:
        self.driver = driver
        self.port = port

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.driver._received(bytes(data), (address_text(addr), int(addr[1])), self.port)

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable: the engine retransmits
        self.driver._note(f"socket error on port {self.port}: {exc}")


class NetDriver:
    """One IKE peer on real UDP sockets, driving an :class:`IkeEndpoint` (see the module docstring).

    ``port`` is the IKE port (500, or a high port for tests); the NAT-T port
    4500 is bound as well when ``natt`` (default: only when ``port`` is 500); whatever was bound, what comes
    to or from port 4500 is sorted into IKE, ESP and keepalives (RFC 3948 2.2).
    ``on_packet(n, packet, direction)``, ``on_event(event)`` and ``on_note(text)`` (what the driver
    itself dropped, e.g. junk on port 4500) are called as things happen (the CLI prints from them);
    ``esp_handler(payload, src, dst)`` receives UDP-encapsulated ESP packets.  ``keepalive_interval`` (None: never)
    spaces the NAT-keepalives of a host behind a NAT.

    ``keep_history`` (default True) keeps every packet, event, note and IKE SA
    of the run, which :meth:`write_pcap` needs; False keeps the last
    :data:`RECENT` of each and lets closed IKE SAs go, for a long run that
    writes no capture (:attr:`facts` keeps what the outcome needs).
    ``keep_keys`` (default: as ``keep_history``) collects the key-table rows
    of every IKE SA and CHILD SA as they are made, which :meth:`write_keys`
    needs.
    """

    def __init__(self, config: Any, local_addr: str, *, port: int = 500, natt: bool | None = None,
                 rng: RandomSource | None = None,
                 on_packet: Callable[[int, TracePacket, str], None] | None = None,
                 on_event: Callable[[ev.Event], None] | None = None,
                 esp_handler: Callable[[bytes, tuple[str, int], tuple[str, int]], None] | None = None,
                 keepalive_interval: float | None = KEEPALIVE_INTERVAL, keep_history: bool = True,
                 keep_keys: bool | None = None, on_note: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.port = int(port)
        self.natt = (self.port == 500) if natt is None else bool(natt)
        self.endpoint = IkeEndpoint(config, rng, zoned(str(local_addr)), port=self.port, forget_closed=True)
        #: as the engine has it: an IPv4-mapped address (::ffff:192.0.2.1) is bound as the IPv4 address it is
        self.local_addr = self.endpoint.local_addr
        self.keep_history = bool(keep_history)
        self.keep_keys = self.keep_history if keep_keys is None else bool(keep_keys)
        #: key-table rows of every IKE SA (one per SPI pair) and CHILD SA (dict keys: in order, once each)
        self._ike_rows: list[Any] = []
        self._rows_of: set[tuple[bytes, bytes]] = set()  # the SPI pairs of the IKE SAs in _ike_rows
        self._esp_rows: dict[Any, None] = {}
        limit = None if self.keep_history else RECENT
        #: the packets sent and received: all of them, or the last RECENT (see keep_history)
        self.trace: Trace | deque[TracePacket] = Trace() if self.keep_history else deque(maxlen=limit)
        #: the engine's events: all of them, or the last RECENT
        self.events: MutableSequence[ev.Event] = [] if self.keep_history else deque(maxlen=limit)
        self.notes: MutableSequence[str] = [] if self.keep_history else deque(maxlen=limit)
        #: what the outcome and the summary need from every event, however many are kept
        self.facts = RunFacts()
        #: packets recorded so far (the number of the next one, minus one), however many are kept
        self.packets_seen = 0
        self.on_packet = on_packet
        self.on_event = on_event
        self.on_note = on_note
        self.esp_handler = esp_handler
        self.wall_start = time.time()
        self._t0 = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transports: dict[int, asyncio.DatagramTransport] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._changed: asyncio.Event | None = None
        self._sas: list[IkeSa] = []
        self.keepalives = KeepaliveClock(keepalive_interval)
        self._keepalive: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ sockets

    async def open(self) -> "NetDriver":
        """Bind the IKE port (and 4500): NetError with EXIT_PORT_IN_USE if taken."""
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._t0 = self._loop.time()
        self.wall_start = time.time()
        family = socket.AF_INET6 if ":" in self.local_addr else socket.AF_INET
        ports = [self.port] + ([NAT_T_PORT] if self.natt and self.port != NAT_T_PORT else [])
        for port in ports:
            try:
                transport, _ = await self._loop.create_datagram_endpoint(
                    lambda p=port: _Protocol(self, p), local_addr=(self.local_addr, port), family=family)
            except OSError as exc:
                self.close()
                code = EXIT_PORT_IN_USE if exc.errno == errno.EADDRINUSE else EXIT_FAILED
                what = "is already in use" if code == EXIT_PORT_IN_USE else f"cannot be bound: {exc.strerror or exc}"
                raise NetError(f"UDP port {port} on {self.local_addr} {what}", field="port", value=port,
                               exit_code=code) from None
            self._transports[port] = transport  # type: ignore[assignment]
        return self

    def close(self) -> None:
        """Stop the timer and close the sockets (safe to call twice)."""
        for handle in (self._timer, self._keepalive):
            if handle is not None:
                handle.cancel()
        self._timer = self._keepalive = None
        for transport in self._transports.values():
            transport.close()
        self._transports.clear()

    def now(self) -> float:
        """Seconds since :meth:`open` (the engine's clock)."""
        assert self._loop is not None, "open() first"
        return self._loop.time() - self._t0

    # ------------------------------------------------------------------ engine in/out

    def initiate(self, remote: tuple[str, int]) -> IkeSa:
        """Start IKE_SA_INIT towards ``remote`` (address, port)."""
        sa = self.endpoint.initiate((zoned(str(remote[0])), int(remote[1])), self.now())
        self._flush()
        return sa

    def act(self, action: Callable[[float], Any]) -> Any:
        """Run ``action(now)`` (e.g. ``lambda now: sa.rekey_child(spi, now)``) and send what it produced."""
        result = action(self.now())
        self._flush()
        return result

    def send_esp(self, payload: bytes, src_port: int, dst: tuple[str, int]) -> None:
        """Send a UDP-encapsulated ESP packet (RFC 3948 2.1) from our port ``src_port``."""
        self._send(Datagram(payload, (self.local_addr, src_port), (str(dst[0]), int(dst[1])), "esp"))

    def _send(self, dgram: Datagram) -> None:
        transport = self._transports.get(dgram.src[1])
        if transport is None:
            self._note(f"no socket on port {dgram.src[1]} for a datagram to {dgram.dst[0]}:{dgram.dst[1]}")
            return
        transport.sendto(dgram.payload, socket_address(*dgram.dst))
        self.keepalives.sent(dgram.src[1], self.now())
        self._record(dgram.src, dgram.dst, dgram.payload, dgram.kind, "sent")

    def _received(self, data: bytes, src: tuple[str, int], port: int) -> None:
        """One datagram from ``src`` to our ``port``: to or from 4500 (whether or not ``natt`` bound that port
        here: ``--port 4500``), sorted as RFC 3948 2.2 says, as the engine frames IKE (``frame``/``unframe``)."""
        dst = (self.local_addr, port)
        if NAT_T_PORT in (port, src[1]):
            try:
                kind, _ = classify_udp4500(data)
            except ParseError:
                where = f"[{src[0]}]:{src[1]}" if ":" in src[0] else f"{src[0]}:{src[1]}"
                self._note(f"dropped a {len(data)}-byte datagram from {where} on port 4500: neither IKE nor ESP")
                return
            if kind == "keepalive":
                return
            if kind == "esp":
                self._record(src, dst, data, "esp", "received")
                if self.esp_handler is not None:
                    self.esp_handler(data, src, dst)
                self.wake()  # no engine step follows, but a wait_for may be waiting for this (an echo reply)
                return
        self._record(src, dst, data, "ike", "received")
        self.endpoint.receive(Datagram(data, src, dst), self.now())
        self._flush()

    def _record(self, src: tuple[str, int], dst: tuple[str, int], payload: bytes, kind: str, direction: str) -> None:
        packet = TracePacket(round(self.now(), 6), src[0], dst[0], src[1], dst[1], payload, kind)
        self.trace.append(packet)
        self.packets_seen += 1
        if self.on_packet is not None:
            self.on_packet(self.packets_seen, packet, direction)

    def _note(self, text: str) -> None:
        """Something the driver dropped or could not do, which no engine event reports: kept in :attr:`notes`
        and handed to ``on_note``."""
        self.notes.append(text)
        if self.on_note is not None:
            self.on_note(text)

    def _flush(self) -> None:
        for dgram in self.endpoint.pop_datagrams():
            self._send(dgram)
        for event in self.endpoint.pop_events():
            self.record(event)
            if self.on_event is not None:
                try:
                    self.on_event(event)
                except IkelabError as exc:  # a listener's problem must not stop the engine
                    self._note(f"{type(event).__name__}: {exc}")
        known = set(self._sas)
        current = self.endpoint.all_sas() + list(self.endpoint.half_open.values())
        for sa in current:
            if sa not in known:
                known.add(sa)
                self._sas.append(sa)
        if self.keep_keys:
            self._keep_ike_rows(current)
        if not self.keep_history:  # a closed IKE SA is no one's current SA; only the key tables want it
            self._sas = [sa for sa in self._sas if sa.state != State.CLOSED]
        self._reschedule()
        self._schedule_keepalive()
        if self._changed is not None:
            self._changed.set()

    def record(self, event: ev.Event) -> None:
        """Keep ``event`` in :attr:`events` (all, or the last RECENT) and in :attr:`facts` (what :meth:`_flush`
        does with each engine event, before ``on_event``); a new CHILD SA's esp_sa rows with ``keep_keys``."""
        self.events.append(event)
        self.facts.add(event)
        if self.keep_keys and isinstance(event, ev.ChildSaCreated):
            from .wireshark import esp_records_from_child

            self._esp_rows.update(dict.fromkeys(esp_records_from_child(event)))

    def _keep_ike_rows(self, sas: list[IkeSa]) -> None:
        """The ikev2_decryption_table row of each IKE SA with keys (from IKE_SA_INIT on, RFC 7296 2.14)."""
        from .wireshark import ike_record_from_sa

        for sa in sas:
            keys, suite = sa.keys, sa.suite
            if keys is not None and suite is not None and (sa.spi_i, sa.spi_r) not in self._rows_of:
                self._rows_of.add((sa.spi_i, sa.spi_r))
                self._ike_rows.append(ike_record_from_sa(sa.spi_i, sa.spi_r, keys, suite.encr, suite.key_bits,
                                                         suite.integ))

    def _reschedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        when = self.endpoint.get_timer()
        if when is not None and self._loop is not None and self._transports:
            self._timer = self._loop.call_at(self._t0 + when, self._on_timer, when)

    def _on_timer(self, when: float) -> None:
        """The engine's timer, for time ``when``: run it at that time at least (RFC 7296 2.1, 2.4).

        The event loop runs a handle up to its clock's resolution early, and ``t0 + when - t0`` may round
        below ``when``: with the clock's own reading the engine would find nothing due, ask for the same
        time again, and the loop would spin until the clock passed it."""
        self._timer = None
        self.endpoint.handle_timer(max(self.now(), when))
        self._flush()

    def _behind_nat(self) -> IkeSa | None:
        """The current IKE SA if it found this host behind a NAT (RFC 7296 2.23)."""
        sa = self.current_sa()
        return sa if sa is not None and sa.nat_local else None

    def _schedule_keepalive(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        sa = self._behind_nat()
        due = self.keepalives.due(sa.local[1]) if sa is not None else None
        if due is not None and self._loop is not None and self._transports:
            self._keepalive = self._loop.call_at(self._t0 + due, self._on_keepalive, due)

    def _on_keepalive(self, due: float) -> None:
        """Nothing left the IKE SA's port for the keepalive interval: send the octet 0xFF (RFC 3948 2.3).

        Checked at ``due`` at least, as :meth:`_on_timer`: a handle run a clock resolution early must not
        find the keepalive not owed yet and be re-armed for the same instant."""
        self._keepalive = None
        sa = self._behind_nat()
        if sa is not None and self.keepalives.owed(sa.local[1], max(self.now(), due)):  # else other traffic came first
            self._send(Datagram(KEEPALIVE, (self.local_addr, sa.local[1]), sa.remote, "keepalive"))
        self._schedule_keepalive()

    # ------------------------------------------------------------------ waiting

    def wake(self) -> None:
        """Make :meth:`wait_for` re-check its predicate now (e.g. after a signal)."""
        if self._changed is not None:
            self._changed.set()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float) -> Any:
        """Wait until ``predicate()`` is true (checked after every engine step and ESP packet); None after
        ``timeout`` s."""
        assert self._changed is not None, "open() first"
        deadline = self.now() + timeout
        while True:
            value = predicate()
            if value:
                return value
            left = deadline - self.now()
            if left <= 0:
                return None
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    def current_sa(self) -> IkeSa | None:
        """The newest ESTABLISHED IKE SA (after an IKE SA rekey: the new one), or None.  While two rekeys of it
        cross, the old one, which holds the CHILD SAs until they are settled (RFC 7296 2.8.2)."""
        live = [sa for sa in self._sas if sa.state == State.ESTABLISHED and not sa.unsettled]
        return live[-1] if live else None

    def live_sas(self) -> list[IkeSa]:
        """Every ESTABLISHED IKE SA, oldest first: one per peer (a gateway's clients), each the newest of its own
        rekeys (while two rekeys cross, the old one, as :meth:`current_sa`)."""
        return [sa for sa in self._sas if sa.state == State.ESTABLISHED and not sa.unsettled]

    def outcome(self) -> Outcome | None:
        """EXIT_OK once an IKE SA and a CHILD SA are up; the failure's status once one is fatal; else None.

        Read from :attr:`facts`, so it holds however few events are kept."""
        f = self.facts
        if f.first_child is not None:
            return Outcome(EXIT_OK, "IKE SA and CHILD SA established", self.current_sa())
        last = f.last_failure
        if last is not None and last.notify == "TEMPORARY_FAILURE" and any(
                sa.asking_for_child for sa in self._sas if sa.state == State.ESTABLISHED):
            return None  # a busy peer refused the CHILD SA for now; the engine asks again (RFC 7296 2.25)
        if f.first_decisive is not None:
            event = f.first_decisive
            status = classify_failure(event)
            return Outcome(status, failure_text(event) + (dropped_text(f.last_drop) if status == EXIT_TIMEOUT else ""))
        if last is None:
            return None
        if f.ike_deleted and self.current_sa() is None:
            return Outcome(classify_failure(last), failure_text(last))
        if f.ike_established:
            return Outcome(classify_failure(last), f"IKE SA up, but no CHILD SA: {last.notify}: {last.reason}")
        return None

    async def wait_established(self, timeout: float) -> Outcome:
        """Wait for :meth:`outcome`; EXIT_TIMEOUT when nothing decided within ``timeout`` seconds."""
        result = await self.wait_for(self.outcome, timeout)
        if result is None:
            return Outcome(EXIT_TIMEOUT, f"no IKE SA with a CHILD SA within {timeout:g} s")
        return result

    # ------------------------------------------------------------------ output files

    def _require_history(self, what: str) -> None:
        if not self.keep_history:
            raise ConfigError(f"{what} needs the whole run, but this NetDriver keeps only its last {RECENT} "
                              "packets and events: create it with keep_history=True", field="keep_history",
                              value=False)

    def _require_keys(self, what: str) -> None:
        if not self.keep_keys:
            raise ConfigError(f"{what} needs the keys of every SA of the run, which this NetDriver does not "
                              "collect: create it with keep_keys=True", field="keep_keys", value=False)

    def all_sas(self) -> list[IkeSa]:
        """Every IKE SA of the run (rekeyed and closed ones included), in order of creation; without
        ``keep_history`` only those not closed yet."""
        out: list[IkeSa] = []
        stack = list(self._sas)
        while stack:
            sa = stack.pop(0)
            if sa in out:
                continue
            out.append(sa)
            stack.extend(getattr(sa, "spawned", []))
        return out

    def key_records(self) -> tuple[list[Any], list[Any]]:
        """``(ikev2 rows, esp_sa rows)`` for every IKE SA and CHILD SA of the run (:mod:`ikelab.wireshark`), in
        the order they got their keys."""
        self._require_keys("key_records()")
        return list(self._ike_rows), list(self._esp_rows)

    def write_keys(self, directory: str | Path) -> tuple[Path, Path]:
        """Write ``ikev2_decryption_table`` and ``esp_sa`` for every SA of the run into ``directory``."""
        from .wireshark import write_tables

        ike, esp = self.key_records()
        return write_tables(directory, ike, esp)

    def write_pcap(self, path: str | Path) -> Path:
        """Write every packet sent and received as a pcap (raw IP, wall-clock times)."""
        from .pcap import LINKTYPE_RAW, write_pcap

        self._require_history("write_pcap()")
        records = [(self.wall_start + t, pkt) for t, pkt in Trace.of(self.trace).ip_packets()]
        write_pcap(path, records, linktype=LINKTYPE_RAW)
        return Path(path)
