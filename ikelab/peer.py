"""A live IKEv2 peer: ``ikelab connect`` on top of :mod:`ikelab.net`.

* :class:`ikelab.esp_peer.EspPeer` carries ICMP echoes through the CHILD SAs
  in userspace ESP, UDP-encapsulated on port 4500 (RFC 3948 2.1);
* :func:`run_connect` is the command: bring an IKE SA with its first CHILD SA
  up (or report why not), ping, rekey, and end with DELETE (RFC 7296 1.4.1)
  after ``duration`` seconds or on SIGINT/SIGTERM; then write the capture and
  the Wireshark key tables.  ``ikelab respond``, which serves every initiator,
  builds on the same run in :mod:`ikelab.gateway`.

The exit status is one of ``ikelab.net.EXIT_*``: 0 only when the IKE SA and
its first CHILD SA were established.
"""

from __future__ import annotations

import asyncio
import ipaddress
import signal
import socket
from dataclasses import dataclass
from typing import Any, Callable

from . import events as ev
from .errors import ConfigError, for_the_command_line
from .esp_peer import EspPeer
from .exchanges_common import udp_endpoint
from .fmt import short_hex
from .natt import KEEPALIVE_INTERVAL
from .ike import IkeSa
from .ipsec_sa import Direction
from .net import (EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT, RECENT, NetDriver, NetError, Outcome, RunFacts, address_text,
                  classify_failure, dropped_text, failure_text, format_packet, socket_address)
from .state import State
from .trace import TracePacket
from .ts import ts_from_string

__all__ = ["RunOptions", "local_address_for", "run_connect"]



@dataclass(frozen=True)
class RunOptions:
    """What a live run does after the handshake (all times in seconds)."""

    duration: float = 0.0
    rekey_after: float | None = None
    rekey_ike_after: float | None = None
    ping: str | None = None
    ping_src: str | None = None
    ping_count: int = 3
    wait: float = 30.0
    pcap: str | None = None
    keys: str | None = None
    quiet: bool = False
    keepalive: float | None = KEEPALIVE_INTERVAL

    def __post_init__(self) -> None:
        # checked before the run starts: a bad value found halfway would leave an IKE SA behind
        for name, allow_none, zero_ok, inf_ok in (("duration", False, True, True), ("wait", False, False, True),
                                                  ("rekey_after", True, True, False),
                                                  ("rekey_ike_after", True, True, False),
                                                  ("keepalive", True, False, False)):
            value = getattr(self, name)
            if value is None and allow_none:
                continue
            if (isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0  # NaN too
                    or (value == 0 and not zero_ok) or (value == float("inf") and not inf_ok)):
                want = ("seconds >= 0" if zero_ok else "seconds > 0") + (" or inf" if inf_ok else "")
                raise ConfigError(f"{name} (--{name.replace('_', '-')}) = {value!r}: give {want}", field=name,
                                  value=value)
        if (isinstance(self.ping_count, bool) or not isinstance(self.ping_count, int)
                or not 1 <= self.ping_count <= MAX_PING_COUNT):
            raise ConfigError(f"ping_count (--ping-count) = {self.ping_count!r}: give a number of echoes from 1 to "
                              f"{MAX_PING_COUNT}", field="ping_count", value=self.ping_count)
        for name in ("ping", "ping_src"):
            value = getattr(self, name)
            if value is not None and not (name == "ping" and value == PING_PEER):
                try:
                    ipaddress.ip_address(value)
                except ValueError:
                    raise ConfigError(f"{name} (--{name.replace('_', '-')}) = {value!r} is not an IP address",
                                      field=name, value=value) from None
        # an echo has one IP version (packet.icmp_echo)
        if self.ping not in (None, PING_PEER) and self.ping_src is not None:
            versions = [ipaddress.ip_address(a).version for a in (self.ping, self.ping_src)]
            if versions[0] != versions[1]:
                raise ConfigError(f"ping_src (--ping-src) = {self.ping_src!r} is IPv{versions[1]} but ping (--ping) = "
                                  f"{self.ping!r} is IPv{versions[0]}: an echo's source and destination have one IP "
                                  "version", field="ping_src", value=self.ping_src)


#: ``--ping peer``: each peer's own inner address, the first of its CHILD SA's remote traffic selectors (a
#: gateway's client: the virtual IP it leased, RFC 7296 2.19)
PING_PEER = "peer"
#: Echoes per round at most: each round numbers its echoes from a range of 1,000 of its own (a gateway pings
#: several clients at once over one list of replies), inside the 16-bit ICMP sequence number (RFC 792)
MAX_PING_COUNT = 1000

#: Seconds a run waits, after the peer deleted the IKE SA, for a new one from a peer that reauthenticates
#: break-before-make (it sends the new IKE_SA_INIT right after its DELETE).
REAUTH_GRACE = 1.0


def _first_address(selector: str) -> Any:
    """The first host address of a traffic selector's text as events write it (``198.51.100.65/32[icmp]``: that
    address; ``10.1.0.0/16``: 10.1.0.1, not the subnet's own address; a range ``10.1.0.5-10.1.0.9``: its first),
    or None for text that is no selector."""
    try:
        ts = ts_from_string(selector.split()[-1], negotiated=True)
    except (ConfigError, IndexError):
        return None
    networks = list(ipaddress.summarize_address_range(ts.start_addr, ts.end_addr))
    if len(networks) > 1:
        return ts.start_addr
    return next(iter(networks[0].hosts()), networks[0].network_address)


def _peer_inner(created: ev.ChildSaCreated | None) -> str | None:
    """``--ping peer``: the peer's inner address on the CHILD SA ``created``: its IKE address in transport mode
    (RFC 4303 3.1.1), else the first address of the remote traffic selectors (a virtual IP, RFC 7296 2.19)."""
    if created is None:
        return None
    if created.mode == "transport":
        return created.remote_addr
    found = (_first_address(text) for text in created.ts_remote)
    return next((str(a) for a in found if a is not None), None)


def _echo(src: str, dst: str) -> bytes:
    """An ICMP echo request from ``src`` to ``dst``, as the SPD would see our pings (RFC 4301 4.4.1.1)."""
    from .esp_peer import ECHO_IDENT
    from .packet import icmp_echo

    return icmp_echo(src, dst, ECHO_IDENT, 1, b"")


def _host_port(address: str, port: int) -> str:
    """``192.0.2.1:500``, or ``[2001:db8::1]:500`` for IPv6, whose address has colons of its own (RFC 3986 3.2.2)."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def local_address_for(peer: str) -> str:
    """The local address the kernel would use to reach ``peer`` (a connected UDP socket; nothing is sent); for a
    link-local peer (``fe80::2%eth0``) ours on that link, with the zone (RFC 4007 11)."""
    family = socket.AF_INET6 if ":" in peer else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.connect(socket_address(peer, 500))
        except OSError as exc:
            raise NetError(f"no route to peer {peer}: {exc.strerror or exc}", field="peer", value=peer) from None
        return address_text(s.getsockname())


def _describe(event: ev.Event) -> str | None:
    if isinstance(event, ev.IkeSaEstablished):
        return (f"IKE SA established: SPIi {event.spi_i.hex()} SPIr {event.spi_r.hex()}, {event.suite}, "
                f"{event.local_id} <-> {event.remote_id} ({event.remote_auth_method})")
    if isinstance(event, ev.ChildSaCreated):
        encap = ", UDP-encapsulated" if event.udp_encap else ""
        mode = ", transport mode" if event.mode == "transport" else ""  # tunnel mode goes without saying
        return (f"CHILD SA installed: SPI in 0x{event.spi_in.hex()} out 0x{event.spi_out.hex()}, {event.suite}, "
                f"{', '.join(event.ts_local)} === {', '.join(event.ts_remote)}{encap}{mode}")
    if isinstance(event, ev.ChildSaRekeyed):
        return (f"CHILD SA rekeyed{' with PFS' if event.pfs else ''}: 0x{event.old_spi_in.hex()} -> "
                f"0x{event.new_spi_in.hex()}")
    if isinstance(event, ev.ChildSaDeleted):
        return f"CHILD SA deleted: SPI in 0x{event.spi_in.hex()} ({event.reason})"
    if isinstance(event, ev.IkeSaRekeyed):
        return f"IKE SA rekeyed: new SPIs {event.new_spi_i.hex()} {event.new_spi_r.hex()}"
    if isinstance(event, ev.IkeSaDeleted):
        return f"IKE SA deleted: {event.spi_i.hex()} {event.spi_r.hex()} ({event.reason})"
    if isinstance(event, ev.Retransmitted):
        return f"retransmission {event.attempt} of {event.exchange} MID={event.message_id} (next wait {event.timeout:g} s)"
    if isinstance(event, ev.LivenessChecked):
        return f"liveness check MID={event.message_id}: {'alive' if event.alive else 'no answer'}"
    if isinstance(event, ev.VirtualIpAssigned):
        return f"virtual IP {event.address} (CP payload, RFC 7296 2.19)"
    if isinstance(event, ev.VirtualIpNotAssigned):
        return f"no IPv{event.family} virtual IP: {event.reason}"
    if isinstance(event, ev.PeerMoved):
        selectors = (f"; the transport-mode selectors of {len(event.children)} CHILD SA(s) now name "
                     f"{event.new[0]} (2.23.1)" if event.children else "")
        return (f"peer moved: {_host_port(*event.old)} -> {_host_port(*event.new)} (a NAT rebinding? IKE and ESP "
                f"follow it, RFC 7296 2.23){selectors}")
    if isinstance(event, ev.KeysDerived):
        return f"keys derived: SKEYSEED {short_hex(event.skeyseed)}{' (rekey)' if event.rekey else ''}"
    if isinstance(event, ev.Failure):
        return f"FAILURE{' ' + event.notify if event.notify else ''}: {event.reason}{' (fatal)' if event.fatal else ''}"
    if isinstance(event, ev.MessageDropped):
        return f"dropped: {event.reason}"
    return None


def nat_summary(sa: Any) -> str:
    """What NAT detection (RFC 7296 2.23) concluded for an IKE SA, in one line.

    Each side sends SHA-1(SPIi | SPIr | IP | port) of the addresses it sees as
    its own (NAT_DETECTION_SOURCE_IP) and as the peer's; a hash that does not
    match the addresses of the packet that carried it means a NAT rewrote them.
    A peer may also send a source hash that cannot match, to force UDP
    encapsulation (strongSwan does with ``encap = yes`` and with its userspace
    ESP): the hashes cannot tell that from a NAT.
    """
    found = []
    if sa.nat_local:
        found.append("this host is behind a NAT")
    if sa.nat_remote:
        found.append("the peer is behind a NAT (or fakes one to force UDP encapsulation)")
    return "NAT detection (RFC 7296 2.23): " + ("; ".join(found) if found else "no NAT between the peers")


class _Run:
    """One run of ``ikelab connect`` (and the base of ``ikelab respond``'s :class:`ikelab.gateway.Gateway`):
    driver, ESP, printing, signals, pings, rekeys, the end of the run."""

    #: a gateway pings several clients at once: its rounds number their echoes from ranges of their own
    gateway = False

    def __init__(self, config: Any, local: str, port: int, options: RunOptions, out: Callable[[str], None],
                 rng: Any = None) -> None:
        self.options = options

        def say(text: str) -> None:  # the engine's errors name allow_weak=True, the API's spelling
            out(for_the_command_line(text))

        self.out = say
        # the capture needs every packet and IKE SA of the run, the key tables a row per SA; without them a
        # run of days keeps only the latest (and the facts its outcome needs)
        self.driver = NetDriver(config, local, port=port, rng=rng, on_packet=self._packet, on_event=self._event,
                                keepalive_interval=options.keepalive, keep_history=bool(options.pcap),
                                keep_keys=bool(options.keys), on_note=lambda text: say(f"     --   {text}"))
        self.esp = EspPeer(self.driver, say)
        self.stop = asyncio.Event()
        self._pieces = 0  # IKE fragments kept since the last whole message
        #: the CHILD SAs up now, by inbound SPI (their selectors and addresses, for pings; rekey_of, for rekeys)
        self._created: dict[bytes, ev.ChildSaCreated] = {}
        self._ping_rounds = 0

    def _packet(self, n: int, packet: TracePacket, direction: str) -> None:
        if packet.kind == "esp" and self.options.quiet:
            return
        self.out(format_packet(n, packet))

    def _event(self, event: ev.Event) -> None:
        self.esp.on_event(event)
        if isinstance(event, ev.ChildSaCreated):
            self._created[event.spi_in] = event
        elif isinstance(event, ev.ChildSaDeleted):
            self._created.pop(event.spi_in, None)
        if isinstance(event, ev.FragmentReceived):  # the packet lines show each piece; say when they make one
            self._pieces += 1
        elif isinstance(event, ev.MessageReceived) and self._pieces:
            self.out(f"     --   {self._pieces} IKE fragments joined (RFC 7383): {event.summary}")
            self._pieces = 0
        text = _describe(event)
        if text and not (self.options.quiet and isinstance(event, ev.KeysDerived)):
            self.out(f"     --   {text}")
        if isinstance(event, ev.ChildSaCreated) and event.mode != "transport" and self.driver.config.mode == "transport":
            # RFC 7296 1.3.1: a declined USE_TRANSPORT_MODE leaves the CHILD SA in tunnel mode
            why = ("the peer did not grant N(USE_TRANSPORT_MODE) (RFC 7296 1.3.1)" if event.exchange_initiator else
                   "the peer did not ask with N(USE_TRANSPORT_MODE), or the selectors are not the two IKE hosts "
                   "(RFC 7296 1.3.1, RFC 4301 4.1)")
            self.out(f"     --   tunnel mode, not transport: {why}")
        if isinstance(event, ev.IkeSaEstablished):
            spis = (event.spi_i, event.spi_r)
            sa = next((s for s in self.driver.endpoint.all_sas() if (s.spi_i, s.spi_r) == spis), None)
            if sa is not None:
                self.out(f"     --   {nat_summary(sa)}")

    def interrupt(self) -> None:
        """SIGINT/SIGTERM: end the run (DELETE is sent by :meth:`finish`)."""
        self.stop.set()
        self.driver.wake()

    def install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.interrupt)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass

    def _client_child(self, sa: IkeSa | None) -> ev.ChildSaCreated | None:
        """The newest CHILD SA of the IKE SA ``sa`` (None: the run's first CHILD SA) as it was created."""
        if sa is None:
            return self.driver.facts.first_child  # long gone from driver.events in a long run without --pcap
        home = sa.successor
        return next((self._created[spi] for spi in reversed(list(home.children)) if spi in self._created), None)

    async def pings(self, label: str, sa: IkeSa | None = None) -> int:
        """Send ``ping_count`` echoes from ``ping_src`` to ``ping`` (``peer``: the peer's own inner address)
        through the CHILD SA of ``sa`` (None: the run's first); wait for replies; print and return the count."""
        o = self.options
        if not o.ping:
            return 0
        created = self._client_child(sa)
        dst = o.ping
        if dst == PING_PEER:
            dst = _peer_inner(created)
            if dst is None:
                self.out("ping: no inner address of the peer in its CHILD SA's traffic selectors")
                return 0
        elif sa is not None and created is not None and not self.esp.covers(
                created.spi_in, _echo(o.ping_src or self._default_ping_src(dst, created) or dst, dst),
                Direction.OUTBOUND):
            # a gateway's client whose CHILD SA does not carry that address: another client's may (RFC 4301 5.1)
            self.out(f"ping {dst}: outside the traffic selectors of client {_host_port(*sa.successor.remote)}; "
                     f"not pinged through it (--ping {PING_PEER} pings each client's own inner address)")
            return 0
        src = o.ping_src or self._default_ping_src(dst, created)
        if src is None:
            self.out("ping: no inner source address (give --ping-src)")
            return 0
        # 1..., after a rekey 101...; a gateway's rounds each their own, as it pings its clients at once over
        # one list of replies
        self._ping_rounds += 1
        base = (1000 * self._ping_rounds) % 60000 + 1 if self.gateway else 100 * (label == "after rekey") + 1
        errors = len(self.esp.errors)  # this round's own, not another client's
        sent = 0
        for seq in range(base, base + o.ping_count):
            sent += self.esp.ping(src, dst, seq)  # False when no CHILD SA can carry it (the reason is in errors)
            await asyncio.sleep(0.05)
        mine = set(range(base, base + o.ping_count))

        def got() -> int:
            return sum(seq in mine for seq in self.esp.replies[-RECENT:])

        if sent:
            await self.driver.wait_for(lambda: got() >= sent or self.stop.is_set(), 3.0)
        replies = got()
        who = f" (client {_host_port(*sa.successor.remote)})" if sa is not None and self.gateway else ""
        self.out(f"ping {src} -> {dst} through ESP ({label}){who}: {sent} sent, {replies} replies")
        for err in dict.fromkeys(self.esp.errors[errors:] if sa is not None else self.esp.errors):
            self.out(f"ping: {err}")
        return replies

    def _default_ping_src(self, dst: str | None = None, created: ev.ChildSaCreated | None = None) -> str | None:
        """Our address on the CHILD SA ``created`` (None: the run's first): the IKE address in transport mode
        (RFC 4303 3.1.1), else the first address of our traffic selectors, of the family of ``dst`` if one is (a
        dual-stack client's virtual IPs, RFC 7296 2.19)."""
        first = created or self.driver.facts.first_child
        for event in ([first] if first is not None else []) + list(self.driver.events):
            if isinstance(event, ev.ChildSaCreated) and event.mode == "transport":
                return event.local_addr
            if isinstance(event, ev.ChildSaCreated) and event.ts_local:
                firsts = [_first_address(text) for text in event.ts_local]
                family = ipaddress.ip_address(dst).version if dst is not None else None
                chosen = next((a for a in firsts if a is not None and a.version == family), firsts[0])
                return None if chosen is None else str(chosen)
        return None

    async def hold(self, duration: float | None) -> None:
        """Keep the SAs ``duration`` seconds (None: until the peer deletes the IKE SA), or until a signal.

        A peer that reauthenticates break-before-make deletes the IKE SA and at
        once starts a new one (RFC 7296 2.8.3, strongSwan without
        ``make_before_break``): after the peer's DELETE the run waits
        REAUTH_GRACE seconds for that new IKE_SA_INIT, then for its IKE_AUTH
        (which a retransmission may delay), and follows the new IKE SA.
        """
        d = self.driver

        def answered() -> bool:  # a new IKE SA from the peer: its IKE_SA_INIT answered, IKE_AUTH to come
            return any(sa.state == State.INIT_DONE for sa in d.endpoint.half_open.values())

        deadline = None if duration is None else d.now() + duration
        while True:
            left = 10 ** 6 if deadline is None else deadline - d.now()
            await d.wait_for(lambda: self.stop.is_set() or d.current_sa() is None, left)
            if self.stop.is_set() or d.current_sa() is not None:
                return  # a signal, or the time is up
            grace = REAUTH_GRACE if deadline is None else min(REAUTH_GRACE, deadline - d.now())
            if grace <= 0 or not await d.wait_for(
                    lambda: self.stop.is_set() or d.current_sa() is not None or answered(), grace):
                return  # the peer is gone
            # until the new IKE SA is up, or given up as half-open (its own timeout), or the time is up
            left = 10 ** 6 if deadline is None else deadline - d.now()
            await d.wait_for(lambda: self.stop.is_set() or d.current_sa() is not None or not answered(), left)
            if self.stop.is_set() or d.current_sa() is None:
                return
            self.out("     --   the peer brought up a new IKE SA at once: reauthentication (RFC 7296 2.8.3), "
                     "followed")

    async def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` or until stopped; True if stopped."""
        try:
            await asyncio.wait_for(self.stop.wait(), max(0.0, seconds))
        except asyncio.TimeoutError:
            return False
        return True

    async def rekeys(self, client: IkeSa | None = None) -> None:
        """``--rekey-after``, then ``--rekey-ike-after``: rekey the CHILD SA, then the IKE SA, of ``client`` (None:
        the run's current IKE SA), each that many seconds after the last (RFC 7296 1.3.2, 1.3.3)."""
        o = self.options
        d = self.driver

        def current() -> IkeSa | None:
            sa = d.current_sa() if client is None else client.successor
            return sa if sa is not None and sa.state == State.ESTABLISHED else None

        if o.rekey_after is not None and not await self.sleep(o.rekey_after):
            sa = current()
            child = next((c for c in sa.children.values() if c.state == "INSTALLED"), None) if sa else None
            if sa is not None and child is not None:
                old = child.spi_in
                d.act(lambda now: sa.rekey_child(old, now))
                # until a new CHILD SA replaces it, or it is gone
                await d.wait_for(lambda: old not in self._created or self.stop.is_set()
                                 or any(c.rekey_of == old for c in self._created.values()), 10.0)
                await self.pings("after rekey", client)
        if o.rekey_ike_after is not None and not await self.sleep(o.rekey_ike_after):
            sa = current()
            if sa is not None:
                d.act(lambda now: sa.rekey_ike(now))
                await d.wait_for(lambda: sa.state != State.ESTABLISHED or self.stop.is_set(), 10.0)

    def after_established(self, outcome: Outcome) -> Outcome:
        """The run's outcome once the SAs were up: a fatal failure since then (a peer that stopped
        answering, RFC 7296 2.4) is reported instead of the success.  An IKE SA that is still up but
        has lost its last CHILD SA (the peer deleted it, RFC 7296 1.4.1) keeps exit status 0, since
        both were established, and the reason says what became of the CHILD SA."""
        facts = self.driver.facts  # not driver.events, which may have forgotten the first CHILD SA
        if not outcome.ok:
            return outcome
        # the run's last IKE SA decides: a gateway's client lost while others stay is said, not the run's status
        last = facts.last_gone if self.driver.current_sa() is None or facts.losing else None
        if last is None:
            sa = self.driver.current_sa()
            gone = facts.child_deleted_since
            if sa is None or sa.children or gone is None:
                return outcome
            return Outcome(outcome.status, f"{outcome.reason}, but then no CHILD SA was left: the last one went "
                                            f"{gone.time:.1f} s into the run ({gone.reason})")
        what = f"{last.notify}: {last.reason}" if last.notify else last.reason
        return Outcome(classify_failure(last), f"IKE SA and CHILD SA established, but then {what}")

    async def finish(self, outcome: Outcome, *, delete: bool) -> int:
        d = self.driver
        # every peer's IKE SA, not only the newest: a gateway (respond --pool) serves several clients (RFC 7296 1.4.1)
        sas = d.live_sas() if delete else []
        for sa in sas:
            self.out("sending DELETE for the IKE SA" if len(sas) == 1 else
                     f"sending DELETE for the IKE SA {sa.spi_i.hex()}/{sa.spi_r.hex()} with "
                     f"{_host_port(*sa.remote)}")
            d.act(lambda now, sa=sa: sa.delete_ike(now))
        # and the DELETEs already on their way (a gateway's client left without its CHILD SA): their answers, or
        # their retransmissions (RFC 7296 2.4), before the sockets close
        sas += [sa for sa in d.endpoint.all_sas() if sa.state == State.DELETING and sa not in sas]
        # a rekey on its way replaces an IKE SA first, and the DELETE then closes the new one as well
        if sas:
            await d.wait_for(lambda: all(s.state == State.CLOSED and s.successor.state == State.CLOSED for s in sas),
                             6.0)
        d.close()
        if self.options.pcap:
            path = d.write_pcap(self.options.pcap)
            self.out(f"wrote {path} ({len(d.trace)} packets)")
        if self.options.keys:
            p1, p2 = d.write_keys(self.options.keys)
            self.out(f"wrote {p1} and {p2}")
        self.out(("OK: " if outcome.ok else "FAILED: ") + outcome.reason + f" (exit status {outcome.status})")
        return outcome.status


def _last_trouble(facts: RunFacts) -> str:
    """What a timeout message adds: the last refusal, else the last message dropped, else nothing."""
    event = facts.last_refusal  # e.g. INVALID_KE_PAYLOAD, and the initiator never came back with the group
    if event is not None:
        return f" (last refused: {failure_text(event)})"
    return dropped_text(facts.last_drop)  # e.g. IKE fragments from a peer told to force them


async def run_connect(config: Any, peer: tuple[str, int], options: RunOptions, *, local: str | None = None,
                      port: int = 500, out: Callable[[str], None] = print, rng: Any = None) -> int:
    """``ikelab connect``: initiate towards ``peer``, ping, rekey, DELETE; the exit status."""
    peer = udp_endpoint(peer[0], peer[1], "peer")  # before any socket opens
    if local is not None:  # '' too: an empty --local is an error, not the default address
        local = udp_endpoint(local, port, "local")[0]
    if local is not None and (":" in str(local)) != (":" in peer[0]):  # one socket speaks one IP version
        raise ConfigError(f"--local {local} is IPv{6 if ':' in str(local) else 4} but the peer {peer[0]} is "
                          f"IPv{6 if ':' in peer[0] else 4}: give an address of the peer's family",
                          field="local", value=local)
    run = _Run(config, local_address_for(peer[0]) if local is None else local, port, options, out, rng)
    await run.driver.open()
    run.install_signals()
    out(f"ikelab connect: {_host_port(run.driver.local_addr, run.driver.endpoint.port_towards(peer[1]))} -> "
        f"{_host_port(*peer)}")
    run.driver.initiate(peer)
    result = await run.driver.wait_for(lambda: run.driver.outcome() or run.stop.is_set(), options.wait)
    if isinstance(result, Outcome):
        outcome = result
    elif result:
        outcome = Outcome(EXIT_FAILED, "interrupted before the IKE SA was established")
    else:
        outcome = Outcome(EXIT_TIMEOUT, f"no IKE SA with a CHILD SA within {options.wait:g} s"
                          + _last_trouble(run.driver.facts))
    if outcome.status != EXIT_OK:  # an IKE SA without its CHILD SA is of no use here: DELETE it (RFC 7296 1.4.1)
        return await run.finish(outcome, delete=True)
    # kept for the whole run without its IKE SA, which through replaced_by (2.18) would keep every later one
    outcome, result = Outcome(outcome.status, outcome.reason), None
    await run.pings("first CHILD SA")
    await run.rekeys()
    d = run.driver
    await run.hold(options.duration)
    return await run.finish(run.after_established(outcome), delete=d.current_sa() is not None)

