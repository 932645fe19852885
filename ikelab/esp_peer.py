"""Userspace ESP for a live peer: ICMP echoes through the CHILD SAs of a :class:`ikelab.net.NetDriver`.

:class:`EspPeer` installs userspace ESP SAs (:class:`ikelab.esp.EspSa`) from
the engine's CHILD SA events and carries ICMP echoes through them,
UDP-encapsulated on port 4500 (RFC 3948 2.1, no raw socket needed): it sends
echo requests, answers the peer's echo requests, and counts echo replies.  In
tunnel mode (RFC 4303 3.1.2) ESP carries the whole inner IP packet, from our
inner address; in transport mode (RFC 4303 3.1.1, asked for with
N(USE_TRANSPORT_MODE), RFC 7296 1.3.1) it carries only the upper layer of a
packet between the two IKE hosts, and the receiver rebuilds the IP header
from the UDP datagram's addresses.  Each packet leaves on the newest CHILD SA
whose traffic selectors cover it, and an inbound packet outside its SA's
selectors is dropped (RFC 4301 5.1, 5.2).  After a CHILD SA rekey the side
that asked for it sends on the new SA at once; the side that answered waits
until the old SA is deleted, since its response may have been lost (RFC 7296
2.8; strongSwan does the same).  Each ESP SA ends at the CHILD SA's hard lifetime
(the driver's ``config.child_lifetime`` from its creation, when the engine deletes it):
from then on it neither sends nor accepts a packet, though the DELETE that removes
the CHILD SA may still wait for its answer, or for an exchange in flight (RFC 4301
4.4.2.1; RFC 7296 2.8: each end enforces its own lifetimes).  ``ikelab connect`` and
``ikelab respond`` (:mod:`ikelab.peer`, :mod:`ikelab.gateway`) use it.
"""

from __future__ import annotations

from typing import Any, Callable

from . import events as ev
from .errors import ConfigError, IkelabError
from .host import child_selectors
from .ipsec_sa import Direction, Lifetime, Mode, transport_check
from .net import RECENT, NetDriver
from .packet import ICMP_PROTOCOLS, IpPacket, selectors as selectors_of
from .policy import Selector, packet_view
from .ts import host_address

__all__ = ["ECHO_IDENT", "REKEYED_INBOUND_GRACE", "EspPeer"]

#: The ICMP echo identifier of the pings an EspPeer sends (its replies are counted by it).
ECHO_IDENT = 0x1D1B

#: Seconds an inbound ESP SA replaced by a rekey still accepts packets after its DELETE: in-flight
#: packets, and a peer whose kernel moves to the new SA a little later (strongSwan's own
#: ``delete_rekeyed_delay`` keeps its rekeyed inbound SAs 5 s for the same reason).
REKEYED_INBOUND_GRACE = 5.0


class EspPeer:
    """Userspace ESP for the CHILD SAs of a :class:`NetDriver` (see the module docstring)."""

    def __init__(self, driver: NetDriver, out: Callable[[str], None] = print) -> None:
        if not (callable(getattr(driver, "now", None)) and hasattr(driver, "esp_handler")):
            raise ConfigError(f"driver must be an ikelab.net.NetDriver (with now() and esp_handler), "
                              f"not {type(driver).__name__}", field="driver", value=driver)
        if not callable(out):
            raise ConfigError(f"out must be a function such as print, not {type(out).__name__}", field="out",
                              value=out)
        self.driver = driver
        self.out = out
        self.inbound: dict[bytes, Any] = {}
        #: inbound SAs replaced by a rekey and then deleted: SPI -> (SA, accepted until), see REKEYED_INBOUND_GRACE
        self.retired: dict[bytes, tuple[Any, float]] = {}
        self._replaced: set[bytes] = set()
        #: the outbound SAs, oldest first; a packet leaves on the last one whose CHILD SA's selectors cover it
        self.outbound: list[tuple[bytes, Any, ev.ChildSaCreated]] = []
        #: CHILD SA (by the inbound SPI, which we chose) -> where its UDP-encapsulated ESP goes: the peer's address
        #: and port, which follow the IKE SA's when a NAT rebinds (RFC 7296 2.23, a PeerMoved event).  Not by the
        #: outbound SPI: each peer picks that one (RFC 4301 4.1), and two clients of a gateway may pick the same
        self._to: dict[bytes, tuple[str, int]] = {}
        #: CHILD SA (by the inbound SPI) -> its SPD selectors (RFC 4301 4.4.1), for both directions
        self.selectors: dict[bytes, tuple[Selector, ...]] = {}
        self.replies: list[int] = []
        self.requests_answered = 0
        #: what went wrong with ESP, the latest RECENT (a peer sending on a stale SPI adds one per packet)
        self.errors: list[str] = []
        driver.esp_handler = self.received

    @property
    def destinations(self) -> dict[bytes, tuple[str, int]]:
        """Outbound SPI -> where its ESP goes, for the SAs in :attr:`outbound` (a view; with two peers that picked
        the same SPI, the newer SA's)."""
        return {spi_out: self._to[created.spi_in] for spi_out, _, created in self.outbound}

    def _hard_lifetime(self) -> Lifetime | None:
        """The CHILD SAs' hard lifetime as the engine schedules it (``config.child_lifetime`` from the SA's
        creation), for each ESP SA; None without a finite one (or a driver without a config)."""
        seconds = getattr(getattr(self.driver, "config", None), "child_lifetime", None)
        if isinstance(seconds, (int, float)) and 0 < seconds < float("inf"):
            return Lifetime(hard_seconds=float(seconds))
        return None

    def _error(self, text: str) -> None:
        self.errors.append(text)
        del self.errors[:-RECENT]

    def _dropped(self, text: str) -> None:
        """An inbound ESP packet refused (unknown SPI, bad ICV, a replay, outside the selectors: RFC 4303 3.4,
        RFC 4301 5.2): kept in :attr:`errors` and said at once, under the packet's row, which alone would
        read like any other ESP packet."""
        self._error(text)
        self.out(f"     ESP  dropped: {text}")

    def _forget_retired(self, now: float) -> None:
        """Let go of the rekeyed inbound SAs whose grace period is over, with their selectors: no late packet
        is taken on them any more, and a long run would otherwise keep one for every CHILD SA rekey."""
        for spi in [spi for spi, (_, until) in self.retired.items() if now > until]:
            del self.retired[spi]
            self.selectors.pop(spi, None)

    def on_event(self, event: ev.Event) -> None:
        from .esp import EspSa

        if isinstance(event, (ev.ChildSaCreated, ev.ChildSaDeleted)):
            self._forget_retired(event.time)
        if isinstance(event, ev.ChildSaCreated):
            common = dict(encryption=event.encr, key_bits=event.encr_key_bits, integrity=event.integ,
                          esn=event.esn, mode=event.mode, allow_weak=True, lifetime=self._hard_lifetime(),
                          created=event.time)
            self.inbound[event.spi_in] = EspSa(event.spi_in, direction="inbound", encryption_key=event.encr_key_in,
                                               integrity_key=event.integ_key_in,
                                               tunnel=(event.remote_addr, event.local_addr), **common)
            out = EspSa(event.spi_out, direction="outbound", encryption_key=event.encr_key_out,
                        integrity_key=event.integ_key_out,
                        tunnel=(event.local_addr, event.remote_addr), **common)
            entry = (event.spi_out, out, event)
            self._to[event.spi_in] = (event.remote_addr, event.remote_port)
            self.selectors[event.spi_in] = child_selectors(event)
            old = None
            if event.rekey_of is not None and not event.exchange_initiator:
                # we answered the rekey: our response may have been lost, so the initiator may not hold the
                # new SA yet; keep sending on the old one until the initiator deletes it (RFC 7296 2.8)
                old = next((i for i, o in enumerate(self.outbound) if o[2].spi_in == event.rekey_of), None)
            if event.redundant:  # RFC 7296 2.8.1: ours lost the collision and goes at once: never sent on
                self.outbound.insert(0, entry)
            elif old is None:
                self.outbound.append(entry)
            else:
                self.outbound.insert(old, entry)
            if event.rekey_of is not None:
                self._replaced.add(event.rekey_of)
        elif isinstance(event, ev.ChildSaDeleted):
            sa = self.inbound.pop(event.spi_in, None)
            if event.spi_in not in self._replaced:  # a retired SA (after a rekey) still checks late packets
                self.selectors.pop(event.spi_in, None)
            if sa is not None and event.spi_in in self._replaced:
                # the peer may still send on it for a moment (its kernel switches SAs after the DELETE)
                self.retired[event.spi_in] = (sa, event.time + REKEYED_INBOUND_GRACE)
            self._replaced.discard(event.spi_in)
            self.outbound = [o for o in self.outbound if o[2].spi_in != event.spi_in]  # this CHILD SA's, no other's
            self._to.pop(event.spi_in, None)
        elif isinstance(event, ev.PeerMoved):
            for spi, there in self._to.items():
                if there == event.old:
                    self._to[spi] = event.new
            if event.children:
                self._selectors_moved(event)

    def _selectors_moved(self, event: ev.PeerMoved) -> None:
        """Transport-mode CHILD SAs whose selectors follow the peer across the NAT (RFC 7296 2.23, 2.23.1).

        The engine names them in the PeerMoved event with their new selectors: the SPD checks (RFC 4301 5.1,
        5.2) and the transport-mode ends (RFC 4303 3.1.1) take the peer's new address, nothing else changes.
        """
        from dataclasses import replace

        moved = {spi_in: (ts_local, ts_remote) for spi_in, ts_local, ts_remote in event.children}
        for i, (spi_out, sa, created) in enumerate(self.outbound):
            if created.spi_in in moved:
                ts_local, ts_remote = moved[created.spi_in]
                created = replace(created, ts_local=ts_local, ts_remote=ts_remote, remote_addr=event.new[0])
                self.outbound[i] = (spi_out, sa, created)
                self.selectors[created.spi_in] = child_selectors(created)

    def covers(self, spi_in: bytes, inner: Any, direction: Direction) -> bool:
        """Whether the CHILD SA with inbound SPI ``spi_in`` may carry the IP packet ``inner`` (RFC 4301 5.1, 5.2)."""
        return self._covers(spi_in, packet_view(direction, selectors_of(inner)))

    def _covers(self, spi_in: bytes, view: tuple[Any, ...]) -> bool:
        return any(s.matches(*view) for s in self.selectors.get(spi_in, ()))

    def send_inner(self, inner: bytes) -> bool:
        """Protect an inner IP packet with the newest outbound SA whose selectors cover it and send it.

        False when no CHILD SA covers the packet (RFC 4301 5.1: an IPsec host never sends it
        on another one) or the SA cannot be used here.
        """
        view = packet_view(Direction.OUTBOUND, selectors_of(inner))  # (local, remote, protocol, ports)
        chosen = next((o for o in reversed(self.outbound) if self._covers(o[2].spi_in, view)), None)
        if chosen is None:
            self._error(f"no CHILD SA covers {self._packet_text(inner)}: not sent")
            return False
        _, sa, event = chosen
        if not event.udp_encap:
            self._error("ESP without UDP encapsulation needs a raw socket (IP protocol 50): not sent")
            return False
        try:
            data, next_header = self._protected_part(inner, event)
            # e.g. a counter that must not cycle (RFC 4303 3.3.3), or an SA past its hard lifetime
            esp = sa.encapsulate(data, next_header, now=self.driver.now())
        except IkelabError as exc:
            self._error(f"{self._packet_text(inner)}: {exc}: not sent")
            return False
        self.driver.send_esp(esp, event.local_port, self._to[event.spi_in])
        return True

    @staticmethod
    def _protected_part(inner: bytes, event: ev.ChildSaCreated) -> tuple[bytes, int]:
        """What ESP protects of the IP packet ``inner``, and its Next Header (RFC 4303 2.6).

        Tunnel mode: the whole packet, next header 4 or 41 (RFC 4303 3.1.2).  Transport
        mode: the upper-layer payload, next header = the packet's protocol; the packet must
        run between the SA's own endpoints, whose addresses the receiver puts back (3.1.1).
        """
        from .packet import parse_ip

        pkt = parse_ip(inner)
        if event.mode != "transport":
            return inner, 4 if pkt.version == 4 else 41
        ends = (host_address(event.local_addr), host_address(event.remote_addr))
        if (pkt.src, pkt.dst) != ends:
            raise ConfigError(f"a transport-mode SA carries only packets from {ends[0]} to {ends[1]} "
                              "(RFC 4303 3.1.1)", field="ip_packet", value=f"{pkt.src} -> {pkt.dst}")
        transport_check(pkt)
        return pkt.payload, pkt.protocol

    @staticmethod
    def _rebuilt(mode: Mode, next_header: int, data: bytes, src: str, dst: str) -> IpPacket:
        """The IP packet an inbound ESP packet carried: in tunnel mode ``data`` itself; in transport mode
        ``data`` under a header from the outer addresses ``src``, ``dst`` and ``next_header`` (RFC 4303 3.1.1)."""
        from .packet import ip_packet, parse_ip

        if mode is not Mode.TRANSPORT:
            from .esp import tunnel_inner

            return tunnel_inner(next_header, data)  # the same check as EspSa.unprotect_packet
        return parse_ip(ip_packet(src, dst, next_header, data))

    @staticmethod
    def _packet_text(inner: bytes | IpPacket) -> str:
        """What the SPD selectors see of an inner packet, e.g. ``192.0.2.1 -> 192.0.2.2 protocol 1 type 8 code 0``."""
        sel = selectors_of(inner)
        if sel.sport is None:
            detail = ""
        elif sel.protocol in ICMP_PROTOCOLS:  # ICMP, ICMPv6: the selectors' "ports" are type << 8 | code (RFC 4301 4.4.1.1)
            detail = f" type {sel.sport >> 8} code {sel.sport & 0xFF}"
        else:
            detail = f" ports {sel.sport}->{sel.dport}"
        return f"{sel.src} -> {sel.dst} protocol {sel.protocol}{detail}"

    def ping(self, src: str, dst: str, seq: int) -> bool:
        """Send ICMP echo request ``seq`` from ``src`` to ``dst`` through ESP (inner addresses in tunnel mode,
        the two IKE hosts' own in transport mode)."""
        from .packet import icmp_echo
        from .wire import check_uint

        seq = check_uint(seq, 16, "seq")  # the echo Sequence Number (RFC 792)
        payload = bytes((seq + i) & 0xFF for i in range(32))
        return self.send_inner(icmp_echo(src, dst, ECHO_IDENT, seq, payload))

    def received(self, payload: bytes, src: tuple[str, int], dst: tuple[str, int]) -> None:
        from .esp import NEXT_HEADER_NONE
        from .packet import icmp_echo, parse_icmp

        spi = bytes(payload[:4])
        sa = self.inbound.get(spi)
        if sa is None:
            sa, until = self.retired.get(spi, (None, 0.0))
            if sa is None or self.driver.now() > until:
                self.retired.pop(spi, None)
                self.selectors.pop(spi, None)
                self._dropped(f"ESP with unknown SPI 0x{payload[:4].hex()}")
                return
        try:
            next_header, data = sa.decapsulate(payload, now=self.driver.now())
            if next_header == NEXT_HEADER_NONE:  # a dummy packet, discarded "without indicating an error" (4303 2.6)
                return
            pkt = self._rebuilt(sa.mode, next_header, data, src[0], dst[0])  # UDP-encapsulated: the outer addresses
            if not self.covers(spi, pkt, Direction.INBOUND):  # RFC 4301 5.2 step 4
                self._dropped(f"ESP SPI 0x{spi.hex()}: {self._packet_text(pkt)} is outside the CHILD SA's "
                              "traffic selectors")
                return
            icmp = parse_icmp(pkt)
        except IkelabError as exc:
            self._dropped(f"ESP SPI 0x{payload[:4].hex()}: {exc}")
            return
        if icmp.is_echo_request:
            self.requests_answered += 1
            self.send_inner(icmp_echo(pkt.dst, pkt.src, icmp.ident, icmp.seq, icmp.payload, True))
        elif icmp.is_echo_reply and icmp.ident == ECHO_IDENT:
            self.replies.append(icmp.seq)
            self.out(f"     ESP  echo reply from {pkt.src} seq={icmp.seq} (SPI 0x{payload[:4].hex()})")
