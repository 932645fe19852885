"""An in-memory IKEv2 lab: two peers, a virtual clock and a small network model.

::

    lab = Lab(initiator_config, responder_config, seed=1, network=Network(delay=0.01, loss=0.1))
    lab.initiate()
    lab.run_until_idle()
    lab.initiator.keys.sk_d == lab.responder.keys.sk_d      # True
    lab.trace.format()                                      # Wireshark-like packet list

Both peers are :class:`ikelab.ike.IkeEndpoint` objects (sans-IO); the lab
moves their datagrams through :class:`Network` (delay, loss, duplication,
reordering, all drawn from the seeded random source, or dictated packet by
packet with ``schedule``), fires their timers in virtual time and records
every packet in :attr:`Lab.trace` (:mod:`ikelab.trace`).  The same seed
gives the same nonces, SPIs, keys, IVs and the same trace, byte for byte.

``Lab(..., nat="203.0.113.5")`` puts the initiator behind a NAPT with that
public address: the trace then shows the packets between the NAT and the
responder, NAT detection (RFC 7296 2.23) finds the NAT, IKE moves to port
4500 and ESP is UDP-encapsulated (RFC 3948).

Peers are called "initiator" and "responder" after their role in the first
IKE SA; after a rekey started by the responder the IKE roles flip, the lab
names do not.  Events (:mod:`ikelab.events`) are kept per peer
(:meth:`Lab.events`) and passed to :meth:`Lab.on_event` and to every callback
in ``lab.callbacks``: that is where ESP (:mod:`ikelab.esp`) is glued on, from
the :class:`~ikelab.events.ChildSaCreated` events; :meth:`Lab.send_esp`
puts ESP packets on the wire and :meth:`Lab.on_esp` receives them.
:meth:`Lab.restart` makes a peer forget its SAs, as after a reboot.
"""

from __future__ import annotations

import heapq
import ipaddress
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

from . import events as ev
from .config import IkeConfig, require_config
from .constants import NAT_T_PORT
from .errors import ConfigError, check_seconds
from .exchanges_common import ChildSa, Datagram
from .endpoint import IkeEndpoint
from .ike import IkeSa
from .rand import DeterministicRandom
from .state import State
from .trace import Trace, TracePacket

SIDES = ("initiator", "responder")


@dataclass
class Network:
    """The lab's network: one-way ``delay`` (seconds) and seeded misbehaviour.

    ``loss``, ``duplicate`` and ``reorder`` are probabilities per packet; a
    reordered packet is held back an extra ``reorder_delay``.  ``schedule``
    dictates the fate of the first packets one by one ("ok", "drop", "dup",
    "late"), after which the probabilities apply.
    """

    delay: float = 0.01
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 0.05
    schedule: Sequence[str] = ()

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:  # NaN too
                raise ConfigError(f"{name} is a probability, not {value!r}", field=name, value=value)
        for name in ("delay", "reorder_delay"):
            if check_seconds(getattr(self, name), name) < 0:
                raise ConfigError(f"{name} cannot be negative", field=name, value=getattr(self, name))
        if isinstance(self.schedule, (str, bytes)):
            raise ConfigError(f"schedule is a sequence of fates, e.g. ('drop',), not {self.schedule!r}",
                              field="schedule", value=self.schedule)
        for fate in self.schedule:
            if fate not in ("ok", "drop", "dup", "late"):
                raise ConfigError(f"unknown packet fate {fate!r}: ok, drop, dup or late", field="schedule",
                                  value=fate)

    def fate(self, index: int, rng: DeterministicRandom) -> str:
        """What happens to the ``index``-th packet: "ok", "drop", "dup" or "late"."""
        if index < len(self.schedule):
            return self.schedule[index]

        def chance(p: float) -> bool:
            return p > 0 and rng.randbelow(1_000_000) < p * 1_000_000

        if chance(self.loss):
            return "drop"
        if chance(self.duplicate):
            return "dup"
        if chance(self.reorder):
            return "late"
        return "ok"


class Lab:
    """Two IKE peers wired together in virtual time (see the module docstring)."""

    def __init__(
        self,
        initiator_config: IkeConfig,
        responder_config: IkeConfig,
        *,
        seed: int | str | bytes = 1,
        network: Network | None = None,
        ipv6: bool = False,
        addresses: tuple[str, str] | None = None,
        start: float = 0.0,
        nat: str | None = None,
    ) -> None:
        require_config(initiator_config, "Lab: initiator_config")
        require_config(responder_config, "Lab: responder_config")
        if addresses is None:
            addresses = ("2001:db8::1", "2001:db8::2") if ipv6 else ("192.0.2.1", "192.0.2.2")
        if not isinstance(addresses, (tuple, list)) or len(addresses) != 2:
            raise ConfigError(f"addresses is a pair (the initiator's, the responder's), not {addresses!r}",
                              field="addresses", value=addresses)
        start = check_seconds(start, "start")  # a NaN clock never reaches a due time: run_until_idle would spin
        self.addresses = {"initiator": addresses[0], "responder": addresses[1]}
        self.rng = DeterministicRandom(seed)
        self.network = network if network is not None else Network()
        self._net_rng = self.rng.fork("network")
        self.endpoints = {
            "initiator": IkeEndpoint(initiator_config, self.rng.fork("initiator"), addresses[0]),
            "responder": IkeEndpoint(responder_config, self.rng.fork("responder"), addresses[1]),
        }
        self.now = start
        self.trace = Trace()
        self.callbacks: list[Callable[[str, ev.Event], None]] = []
        self.esp_received: dict[str, list[TracePacket]] = {s: [] for s in SIDES}
        self._events: dict[str, list[ev.Event]] = {s: [] for s in SIDES}
        self._inflight: list[tuple[float, int, str, Datagram, str]] = []
        self._seq = 0
        self._packets = 0
        self._restarts = 0  # restart() forks a new random source for each
        self._retired: dict[str, list[IkeEndpoint]] = {s: [] for s in SIDES}  # endpoints replaced by restart()
        self.nat = _nat_address(nat, addresses[1])
        self._nat_out: dict[tuple[str, int], int] = {}
        self._nat_in: dict[int, tuple[str, int]] = {}

    # ------------------------------------------------------------------ the peers' IKE SAs

    def sas(self, side: str) -> list[IkeSa]:
        """Every IKE SA a peer knows (including closed ones, and those a :meth:`restart` closed), oldest first."""
        seen: list[IkeSa] = []
        for ep in (*self._retired[side], self._ep(side)):
            for sa in list(ep.sas.values()) + list(ep.half_open.values()):
                if sa not in seen:
                    seen.append(sa)
        return sorted(seen, key=lambda s: s.created)

    def sa(self, side: str) -> IkeSa | None:
        """The peer's current IKE SA: the newest established one, else the newest one.  While two rekeys of it
        cross (RFC 7296 2.8.2) the old IKE SA stays current, with its CHILD SAs, until one of the two new ones
        wins (:attr:`IkeSa.unsettled`)."""
        sas = self.sas(side)
        for sa in reversed(sas):
            if sa.state == State.ESTABLISHED and not sa.unsettled:
                return sa
        for sa in reversed(sas):
            if sa.state != State.CLOSED:
                return sa
        return sas[-1] if sas else None

    @property
    def initiator(self) -> IkeSa | None:
        return self.sa("initiator")

    @property
    def responder(self) -> IkeSa | None:
        return self.sa("responder")

    def children(self, side: str) -> list[ChildSa]:
        sa = self.sa(side)
        return list(sa.children.values()) if sa is not None else []

    def _ep(self, side: str) -> IkeEndpoint:
        if side not in self.endpoints:
            raise ConfigError(f"side must be 'initiator' or 'responder', not {side!r}", field="side", value=side)
        return self.endpoints[side]

    def _current(self, side: str) -> IkeSa:
        sa = self.sa(side)
        if sa is None:
            raise ConfigError(f"{side} has no IKE SA yet: call lab.initiate() first", field="side", value=side)
        return sa

    # ------------------------------------------------------------------ actions

    def initiate(self) -> IkeSa:
        """The initiator starts IKE_SA_INIT towards the responder (port 500)."""
        sa = self.endpoints["initiator"].initiate((self.addresses["responder"], 500), self.now)
        self._flush()
        return sa

    def _spi(self, side: str, child: ChildSa | bytes | None) -> bytes:
        if isinstance(child, ChildSa):
            return child.spi_in
        if isinstance(child, (bytes, bytearray)):
            return bytes(child)
        kids = self.children(side)
        if not kids:
            raise ConfigError(f"{side} has no CHILD SA", field="child", value=None)
        return kids[0].spi_in

    def create_child(self, side: str = "initiator", *, pfs: Any = None) -> None:
        self._current(side).create_child(self.now, pfs=pfs)
        self._flush()

    def rekey_child(self, side: str = "initiator", child: ChildSa | bytes | None = None, *, pfs: Any = None) -> None:
        """Rekey a CHILD SA (the first one by default); ``pfs``: None (config), False, True or a group."""
        self._current(side).rekey_child(self._spi(side, child), self.now, pfs=pfs)
        self._flush()

    def rekey_ike(self, side: str = "initiator") -> None:
        self._current(side).rekey_ike(self.now)
        self._flush()

    def liveness(self, side: str = "initiator") -> None:
        self._current(side).liveness(self.now)
        self._flush()

    def delete_child(self, side: str = "initiator", child: ChildSa | bytes | None = None) -> None:
        self._current(side).delete_child(self._spi(side, child), self.now)
        self._flush()

    def delete_ike(self, side: str = "initiator") -> None:
        self._current(side).delete_ike(self.now)
        self._flush()

    def restart(self, side: str = "initiator", *, initial_contact: bool = True,
                config: IkeConfig | None = None) -> None:
        """The peer forgets every SA it holds, as after a reboot, or as RFC 7815's minimal initiator does when
        it starts over instead of rekeying: its SAs close (IkeSaDeleted and ChildSaDeleted events say so), nothing
        is sent, and a fresh endpoint with the same configuration and address takes its place.  With
        ``initial_contact`` its next IKE_AUTH says N(INITIAL_CONTACT), and the other peer then closes the SAs it
        still holds with it (RFC 7296 2.4).  :meth:`sas` keeps listing the closed ones, for the key tables.
        ``config``: the configuration the peer comes back with (by default the one it had)."""
        old = self._ep(side)
        if config is not None:
            require_config(config, "Lab.restart: config")
        reason = "forgotten: the peer restarted, and holds no SA any more (nothing was sent)"
        for sa in list(old.sas.values()) + list(old.half_open.values()):
            if sa.state != State.CLOSED:
                sa._close(self.now, reason)
        old.pop_datagrams()  # closing sends nothing; a retransmission due later is lost with the state
        self._report(side, old.pop_events())  # IkeSaDeleted, ChildSaDeleted: the lab's record of what was lost
        self._retired[side].append(old)
        self._restarts += 1
        config = replace(config if config is not None else old.config, initial_contact=bool(initial_contact))
        self.endpoints[side] = IkeEndpoint(config, self.rng.fork(f"{side} restart {self._restarts}"),
                                           self.addresses[side])

    def send_esp(self, side: str, packet: bytes, *, udp_encap: bool = False) -> None:
        """Put an ESP packet from ``side`` on the wire (UDP/4500 when ``udp_encap``, else IP protocol 50)."""
        self._ep(side)  # checks the name
        if not isinstance(packet, (bytes, bytearray, memoryview)):
            raise ConfigError(f"an ESP packet is bytes, not {type(packet).__name__}", field="packet",
                              value=type(packet).__name__)
        other = "responder" if side == "initiator" else "initiator"
        port = NAT_T_PORT if udp_encap else 0
        dst = (self.addresses[other], port)
        if self.nat is not None and side == "responder":  # towards the initiator's NAT mapping
            mapped = self._nat_out.get((self.addresses["initiator"], port))
            dst = (self.nat, mapped if mapped is not None else port)
        dgram = Datagram(bytes(packet), (self.addresses[side], port), dst, "esp")
        self._send(side, dgram)

    # ------------------------------------------------------------------ time

    def _next_time(self) -> float | None:
        times = [self._inflight[0][0]] if self._inflight else []
        for ep in self.endpoints.values():
            t = ep.get_timer()
            if t is not None:
                times.append(t)
        return min(times) if times else None

    def step(self) -> bool:
        """Advance to the next delivery or timer and process everything due then; False if nothing is left."""
        t = self._next_time()
        if t is None:
            return False
        self.now = max(self.now, t)
        while self._inflight and self._inflight[0][0] <= self.now:
            _, _, side, dgram, kind = heapq.heappop(self._inflight)
            if kind == "esp":
                self.on_esp(side, dgram)
            else:
                self.endpoints[side].receive(dgram, self.now)
            self._flush()
        for ep in self.endpoints.values():
            t = ep.get_timer()
            if t is not None and t <= self.now:
                ep.handle_timer(self.now)
        self._flush()
        return True

    def run(self, until: float) -> None:
        """Run every delivery and timer up to virtual time ``until`` (a time already past does nothing)."""
        until = check_seconds(until, "until")  # an infinite time would never return while a timer repeats
        while True:
            t = self._next_time()
            if t is None or t > until:
                break
            self.step()
        self.now = max(self.now, until)

    def busy(self) -> bool:
        """True while packets are in flight or a request waits for its response."""
        if self._inflight:
            return True
        return any(sa._pending is not None or sa._queue for side in SIDES for sa in self.sas(side)
                   if sa.state != State.CLOSED)

    def run_until_idle(self, limit: float = 600.0) -> None:
        """Run until nothing is in flight and no request is outstanding (at most ``limit`` seconds; inf: no limit)."""
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit >= 0:  # NaN too
            raise ConfigError(f"limit must be a number of seconds >= 0 (inf: no limit), not {limit!r}", field="limit",
                              value=limit)
        end = self.now + limit
        while self.busy():
            t = self._next_time()
            if t is None or t > end:
                break
            self.step()

    # ------------------------------------------------------------------ plumbing

    def _flush(self) -> None:
        for side, ep in self.endpoints.items():
            for dgram in ep.pop_datagrams():
                self._send(side, dgram)
            self._report(side, ep.pop_events())

    def _report(self, side: str, events: list[ev.Event]) -> None:
        """Record a peer's events and hand each to ``on_event`` and every callback, in order."""
        for event in events:
            self._events[side].append(event)
            self.on_event(side, event)
            for cb in self.callbacks:
                cb(side, event)

    def _translate(self, side: str, dgram: Datagram) -> tuple[Datagram, Datagram] | None:
        """(datagram as on the wire, datagram as delivered) through the initiator's NAT, or None if dropped.

        The NAT (``nat=`` public address) rewrites the initiator's source address and port on the way out
        (ports from 49152 up, one per private address and port) and maps them back on the way in, as a
        NAPT does (RFC 3948 1, RFC 7296 2.23).  Traffic to an unmapped public port is dropped.  Plain ESP
        (IP protocol 50, port 0 here: ``encapsulation="never"``) has no port to map: only the address changes,
        as in a NAT's "IPsec passthrough" for one host (RFC 3715 2.1), so it stays ESP on the wire.
        """
        if self.nat is None:
            return dgram, dgram
        if dgram.kind == "esp" and 0 == dgram.src[1] == dgram.dst[1]:
            if side == "initiator":
                public = Datagram(dgram.payload, (self.nat, 0), dgram.dst, dgram.kind)
                return public, public
            if dgram.dst[0] == self.nat:
                return dgram, Datagram(dgram.payload, dgram.src, (self.addresses["initiator"], 0), dgram.kind)
            return dgram, dgram
        if side == "initiator":
            key = (dgram.src[0], dgram.src[1])
            if key not in self._nat_out:
                port = 49152 + len(self._nat_out)
                self._nat_out[key] = port
                self._nat_in[port] = key
            public = Datagram(dgram.payload, (self.nat, self._nat_out[key]), dgram.dst, dgram.kind)
            return public, public
        if dgram.dst[0] != self.nat:
            return dgram, dgram
        private = self._nat_in.get(dgram.dst[1])
        if private is None:
            return None
        return dgram, Datagram(dgram.payload, dgram.src, private, dgram.kind)

    def _send(self, side: str, dgram: Datagram) -> None:
        other = "responder" if side == "initiator" else "initiator"
        translated = self._translate(side, dgram)
        if translated is None:
            return
        dgram, delivered = translated
        fate = self.network.fate(self._packets, self._net_rng)
        self._packets += 1
        note = {"ok": "", "drop": "lost", "dup": "", "late": "delayed"}[fate]
        self.trace.append(TracePacket(self.now, dgram.src[0], dgram.dst[0], dgram.src[1], dgram.dst[1],
                                      dgram.payload, dgram.kind, note))
        if fate == "drop":
            return
        delay = self.network.delay + (self.network.reorder_delay if fate == "late" else 0.0)
        self._schedule(self.now + delay, other, delivered)
        if fate == "dup":
            self.trace.append(TracePacket(self.now, dgram.src[0], dgram.dst[0], dgram.src[1], dgram.dst[1],
                                          dgram.payload, dgram.kind, "duplicate"))
            self._schedule(self.now + delay, other, delivered)

    def _schedule(self, when: float, side: str, dgram: Datagram) -> None:
        self._seq += 1
        heapq.heappush(self._inflight, (when, self._seq, side, dgram, dgram.kind))

    # ------------------------------------------------------------------ hooks and results

    def on_event(self, side: str, event: ev.Event) -> None:
        """Called for every event of every peer; override in a subclass to react (e.g. install ESP SAs)."""

    def on_esp(self, side: str, datagram: Datagram) -> None:
        """Called when an ESP packet reaches ``side``; the default keeps it in ``esp_received``."""
        self.esp_received[side].append(TracePacket(self.now, datagram.src[0], datagram.dst[0], datagram.src[1],
                                                   datagram.dst[1], datagram.payload, "esp"))

    def events(self, side: str, kind: type | tuple[type, ...] | None = None) -> list[ev.Event]:
        """The events of one peer so far, optionally only those of class ``kind``."""
        self._ep(side)  # checks the name
        return [e for e in self._events[side] if kind is None or isinstance(e, kind)]


def _nat_address(nat: Any, responder: str) -> str | None:
    """``Lab(nat=...)``: None, or the NAT's public address, of the responder's IP version (it talks to it)."""
    if nat is None:
        return None
    try:
        public = ipaddress.ip_address(nat) if isinstance(nat, str) else None
    except ValueError:
        public = None
    if public is None:
        raise ConfigError(f"nat is the NAT's public IP address as text, not {nat!r}", field="nat", value=nat)
    if public.version != ipaddress.ip_address(responder).version:
        raise ConfigError(f"nat {nat!r} is an IPv{public.version} address, but the responder {responder!r} is "
                          f"not: the NAT could not reach it", field="nat", value=nat)
    return nat


__all__ = ["Lab", "Network", "SIDES"]
