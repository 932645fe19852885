"""A Hypothesis state machine drives one responder :class:`~ikelab.endpoint.IkeEndpoint` with many peers over a
hostile network, and checks the endpoint's bookkeeping after every step (RFC 7296 2.4, 2.6, 2.8, 2.11, 2.19,
2.21, 2.23; RFC 7383).

Sun (192.0.2.2) is the responder host; five peers run an endpoint each: two share 192.0.2.10 (ports 500 and 600),
two sit behind a NAT that shows them as 192.0.2.20 with ports of its own and may rebind them.  A peer starts an IKE
SA (on port 500 or 4500; now and then with a KE group sun answers with INVALID_KE_PAYLOAD, or a proposal sun
refuses, 1.2, 2.7); sun starts one towards a peer; either side creates, rekeys or deletes CHILD SAs, rekeys,
checks or deletes its IKE SA.  Datagrams are delivered in any order, dropped, duplicated, or replayed long after;
sun's cookie threshold is small, so COOKIE rounds (2.6) and secret rotations happen; a peer reboots (a new
endpoint, same identity) and says INITIAL_CONTACT (2.4); garbage, truncated and mangled requests and spoofed
datagrams (a known SPI, a wrong address) reach sun; the clock jumps past retransmissions, half-open timeouts and
lifetimes.  Per example, sun may also lease inner addresses from a small pool (2.19) and fragment (RFC 7383).

What a user of the endpoint relies on, checked after every step:

* sun never raises, whatever arrives;
* every IKE SA in ``all_sas()`` is filed under its own SPI, every half-open entry under its (SPIi, IPi, port),
  a half-open entry is either still filed in ``sas`` or closed, and nothing the endpoint dropped from
  ``half_open`` stays referenced (each refused request would cost memory for good);
* ``half_open_count()`` is the number of responder IKE SAs really half-open (INIT_DONE), and at the cookie
  threshold no new IKE_SA_INIT request without a valid cookie (one made for its address) makes state (2.6);
* once the peers stop and time passes, nothing leaks: no half-open entry, and ``forget_closed(now)`` leaves no
  closed IKE SA whose time has come;
* an IKE SA that both ends hold as established has the same SPIs, keys and inner address on both (2.14, 2.19),
  and once the network is clean and quiet, mirrored CHILD SAs (2.17);
* each address of sun's pool has one holder, an IKE SA that is up and filed (2.19);
* garbage, truncated datagrams, spoofed ones and replays from elsewhere change no IKE SA of sun (2.21, 2.23);
* INITIAL_CONTACT closes sun's older IKE SAs of that identity, and only those (2.4);
* the timer never stays due after ``handle_timer`` ran at that time (no busy loop), and time always moves on.

(The tables are read directly, ``_maybe_half_open`` too: that is where a leak would hide.)
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ikelab.config import IkeConfig
from ikelab.constants import ExchangeType
from ikelab.endpoint import IkeEndpoint
from ikelab.errors import ConfigError, IkelabError, ParseError, ProtocolError
from ikelab.exchanges_common import Datagram
from ikelab.ike import IkeSa
from ikelab.exchanges_wire import cookie_of
from ikelab.message import FLAG_I, Header, decode, decode_header
from ikelab.rand import DeterministicRandom
from ikelab.state import State

SUN = ("192.0.2.2", 500)
#: the peers' own (address, port): the first two share an address; the last two are behind one NAT, which
#: shows them to sun as NAT_PUBLIC with ports of its choosing (RFC 7296 2.23)
PEERS = (("192.0.2.10", 500), ("192.0.2.10", 600), ("192.0.2.11", 500), ("10.0.0.1", 500), ("10.0.0.2", 500))
NAT_PUBLIC = "192.0.2.20"
PUBLIC = tuple(slot for slot, (addr, _) in enumerate(PEERS) if not addr.startswith("10."))
#: an address no peer has, for spoofed datagrams
STRANGER = ("192.0.2.99", 500)
PSK = b"a shared secret for the endpoint machine"
#: what a peer proposes: what sun takes, a KE for a group sun does not take first (INVALID_KE_PAYLOAD, 1.2),
#: a proposal sun refuses (NO_PROPOSAL_CHOSEN, 2.7), and what sun takes but with another PSK (IKE_AUTH fails
#: on sun's side, AUTHENTICATION_FAILED, 2.21.2)
KINDS = {"plain": "aes128-sha256-x25519", "other-group": "aes128-sha256-ecp256-x25519",
         "refused": "aes256-sha384-ecp384", "wrong-key": "aes128-sha256-x25519"}
#: clock steps: none, less and more than a retransmission (1 s), past the half-open timeout (about 12 s) and past
#: a cookie secret's lifetime (60 s, RFC 7296 2.6)
STEPS = (0.0, 0.3, 1.0, 2.5, 6.0, 13.0, 61.0)
OPS = ("create_child", "rekey_child", "rekey_ike", "delete_child", "liveness") * 2 + ("delete_ike",)


def _base(**kw: Any) -> dict[str, Any]:
    """Tunnel-mode CHILD SAs for any traffic (a peer behind the NAT cannot ask for its own address, 2.23.1)."""
    base: dict[str, Any] = dict(psk=PSK, esp_proposals=("aes128gcm16",), retransmit_timeout=1.0, retransmit_tries=3,
                                local_ts=("0.0.0.0/0",), remote_ts=("0.0.0.0/0",))
    base.update(kw)
    return base


#: sun's pool of inner addresses (RFC 7296 2.19): six, fewer than the IKE SAs the peers may want at once
POOL = "10.99.0.0/29"


def sun_config(threshold: int | None, short: bool = False, pool: bool = False, frag: bool = False) -> IkeConfig:
    """Sun takes any identity the PSK authenticates; with ``short`` its timers rekey, expire and check liveness
    (RFC 7296 2.4, 2.8) within a few steps; with ``pool`` it leases inner addresses to the peers that ask; with
    ``frag`` protected messages go in fragments of at most 200 octets (RFC 7383)."""
    timers: dict[str, Any] = {}
    if short:
        timers = dict(ike_rekey_time=90.0, ike_lifetime=200.0, child_rekey_time=40.0, dpd_interval=30.0)
    if frag:
        timers.update(fragmentation=True, fragment_size=200)
    return IkeConfig(local_id="sun.example", remote_id="%any", ike_proposals=(KINDS["plain"],),
                     cookie_threshold=threshold, pool=POOL if pool else None, **_base(**timers))


def peer_config(slot: int, kind: str = "plain", vip: bool = False, frag: bool = False) -> IkeConfig:
    """Peer ``slot``'s configuration; every peer says INITIAL_CONTACT when it holds no other IKE SA with sun;
    with ``vip`` it asks for an inner address (CP(CFG_REQUEST), 2.19); ``frag`` as for sun.  Peer 2 answers
    sun's IKE_SA_INIT requests with a COOKIE first, always (threshold 0, 2.6)."""
    more: dict[str, Any] = dict(fragmentation=True, fragment_size=200) if frag else {}
    if kind == "wrong-key":
        more["remote_psk"] = PSK  # what moon expects from sun; what moon proves with is another key
        more["psk"] = b"not the key sun knows for anyone"
    return IkeConfig(local_id=f"peer{slot}.example", remote_id="sun.example", ike_proposals=(KINDS[kind],),
                     cookie_threshold=0 if slot == 2 else None, initial_contact=True,
                     vip="0.0.0.0" if vip else None, **_base(**more))


def pieces(sa: IkeSa) -> dict[bool, tuple[int, int, tuple[int, ...]]]:
    """The IKE fragments (RFC 7383 2.6) an IKE SA keeps, per direction: message ID, total, numbers held."""
    return {k: (r.message_id, r.total, tuple(sorted(r.pieces))) for k, r in (sa._fragments or {}).items()
            if r is not None}


def half_open_count(endpoint: IkeEndpoint) -> int:
    """``endpoint.half_open_count()``, with what it keeps left as it was: the count prunes, and the machine must
    not do the endpoint's housekeeping for it (that would hide a leak)."""
    kept = set(endpoint._maybe_half_open)
    count = endpoint.half_open_count()
    endpoint._maybe_half_open = kept
    return count


def header(datagram: Datagram) -> Header | None:
    """The IKE header (RFC 7296 3.1) ``datagram`` carries, or None when it is too short to hold one."""
    try:
        return decode_header(datagram.ike_message, check_version=False, check_length=False)
    except ParseError:
        return None


def starts_ike_sa(datagram: Datagram) -> bool:
    """An IKE_SA_INIT request for a new IKE SA: SPIr still zero (RFC 7296 1.2, 2.6)."""
    h = header(datagram)
    return h is not None and h.exchange == ExchangeType.IKE_SA_INIT and h.spi_r == bytes(8)


def identity(sa: IkeSa) -> tuple[int, bytes] | None:
    ri = sa.remote_identity
    return None if ri is None else (int(ri.id_type), bytes(ri.data))


class EndpointBookkeeping(RuleBasedStateMachine):
    """One responder endpoint, five peers, a virtual clock and a wire the machine controls."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.sun: IkeEndpoint | None = None
        self.peers: list[IkeEndpoint] = []
        self.boots = [0] * len(PEERS)
        self.wire: list[Datagram] = []      # in flight, in order
        self.history: list[Datagram] = []   # every datagram ever sent, for replays
        self.delivered: list[Datagram] = []  # every datagram sun received from the network
        self.rng = DeterministicRandom(0)
        self.nat_out: dict[tuple[str, int], int] = {}  # a NATed peer's (address, port) -> its public port
        self.nat_in: dict[int, tuple[str, int]] = {}
        self.nat_ports = 1024
        self.vip = self.frag = False

    # ------------------------------------------------------------------ set-up and plumbing

    @initialize(seed=st.integers(0, 2**16), threshold=st.sampled_from((None, 0, 1, 2)), forgets=st.booleans(),
                short=st.booleans(), pool=st.booleans(), frag=st.booleans())
    def start(self, seed: int, threshold: int | None, forgets: bool, short: bool, pool: bool = False,
              frag: bool = False) -> None:
        """Sun with a cookie threshold of a few half-open SAs (2.6), forgetting closed SAs itself or not, with or
        without a pool of inner addresses the peers ask for, and IKE fragmentation (RFC 7383) or not."""
        self.rng = DeterministicRandom(f"endpoint machine {seed}")
        self.vip, self.frag = pool, frag
        self.sun = IkeEndpoint(sun_config(threshold, short, pool, frag), self.rng.fork("sun"), SUN[0],
                               forget_closed=forgets)
        self.peers = [self._boot(slot) for slot in range(len(PEERS))]

    def _boot(self, slot: int) -> IkeEndpoint:
        self.boots[slot] += 1
        addr, port = PEERS[slot]
        rng = self.rng.fork(f"peer {slot} boot {self.boots[slot]}")
        return IkeEndpoint(peer_config(slot, vip=self.vip, frag=self.frag), rng, addr, port=port)

    def _sun(self) -> IkeEndpoint:
        assert self.sun is not None
        return self.sun

    def _endpoints(self) -> list[IkeEndpoint]:
        return [self._sun(), *self.peers]

    def _flush(self) -> None:
        for endpoint in self._endpoints():
            out = [self._nat(d) for d in endpoint.pop_datagrams()]
            endpoint.pop_events()
            self.wire.extend(out)
            self.history.extend(out)

    def _nat(self, d: Datagram) -> Datagram:
        """A datagram from behind the NAT as it leaves it: from NAT_PUBLIC, a port per inside (address, port)."""
        if not d.src[0].startswith("10."):
            return d
        if d.src not in self.nat_out:
            self.nat_ports += 1
            self.nat_out[d.src] = self.nat_ports
            self.nat_in[self.nat_ports] = d.src
        return Datagram(d.payload, (NAT_PUBLIC, self.nat_out[d.src]), d.dst, d.kind)

    def _owner(self, d: Datagram) -> tuple[IkeEndpoint, Datagram] | None:
        """The endpoint ``d`` reaches, and ``d`` as it gets there (the NAT drops what no mapping of it expects)."""
        if d.dst[0] == SUN[0]:
            return self._sun(), d
        if d.dst[0] == NAT_PUBLIC:
            inside = self.nat_in.get(d.dst[1])
            if inside is None:
                return None
            d = Datagram(d.payload, d.src, inside, d.kind)
        for (addr, port), peer in zip(PEERS, self.peers):
            if addr == d.dst[0] and d.dst[1] in (port, 4500):
                return peer, d
        return None

    def _to_sun(self, datagram: Datagram) -> None:
        """Deliver to sun, checking what the cookie threshold admits (RFC 7296 2.6) and what INITIAL_CONTACT may
        close (2.4)."""
        sun = self._sun()
        before = {sa: identity(sa) for sa in sun.all_sas() if sa.state != State.CLOSED}
        threshold = sun.config.cookie_threshold
        guarded = (starts_ike_sa(datagram) and threshold is not None and half_open_count(sun) >= threshold
                   and not self._has_cookie(datagram))
        known = {id(sa) for sa in [*sun.all_sas(), *sun.half_open.values()]}
        sun.receive(datagram, self.now)
        if guarded:
            made = [sa for sa in [*sun.all_sas(), *sun.half_open.values()] if id(sa) not in known]
            assert made == [], f"{made} admitted without a cookie at the threshold"
        closed = [sa for sa in before if sa.state == State.CLOSED and "INITIAL_CONTACT" in sa.closed_reason]
        if not closed:
            return
        h = header(datagram)
        assert h is not None, f"{datagram!r:.80}, no IKE message, closed {closed} for INITIAL_CONTACT"
        target = sun.sas.get(h.spi_r if h.is_initiator else h.spi_i)
        assert target is not None and target.state == State.ESTABLISHED, target
        who = identity(target)
        for sa in closed:
            assert before[sa] == who, f"INITIAL_CONTACT of {who} closed an IKE SA of {before[sa]}"
        for sa in sun.all_sas():
            if sa is not target and sa.state != State.CLOSED:
                assert identity(sa) != who, f"{sa!r} of {who} survived INITIAL_CONTACT"

    @staticmethod
    def _has_cookie(datagram: Datagram) -> bool:
        try:
            return cookie_of(decode(datagram.ike_message)) is not None
        except (IkelabError, IndexError):
            return False

    def _deliver(self, datagram: Datagram) -> None:
        found = self._owner(datagram)
        if found is not None and found[0] is self.sun:
            self.delivered.append(datagram)
            self._to_sun(datagram)
        elif found is not None:
            found[0].receive(found[1], self.now)
        self._flush()

    def _established(self, endpoint: IkeEndpoint) -> list[IkeSa]:
        return [sa for sa in endpoint.all_sas() if sa.state == State.ESTABLISHED]

    # ------------------------------------------------------------------ peers act

    @rule(slot=st.integers(0, len(PEERS) - 1),
          kind=st.sampled_from(("plain",) * 5 + ("other-group", "refused", "wrong-key")),
          at_once=st.booleans(), port=st.sampled_from((500, 500, 4500)))
    def peer_starts(self, slot: int, kind: str, at_once: bool, port: int) -> None:
        """A peer starts an IKE SA with sun (RFC 7296 1.2), now and then on port 4500 (2.23: an initiator may
        start there, with the Non-ESP Marker); ``at_once``: the network delivers it all in order."""
        self.peers[slot].initiate((SUN[0], port), self.now, config=peer_config(slot, kind, self.vip, self.frag))
        self._flush()
        if at_once:
            self._deliver_all()

    @rule(slot=st.sampled_from(PUBLIC))
    def sun_starts(self, slot: int) -> None:
        """Sun starts an IKE SA with a peer not behind the NAT: the same endpoint is initiator too."""
        self._sun().initiate(PEERS[slot], self.now)
        self._flush()

    @rule(slot=st.sampled_from(sorted(set(range(len(PEERS))) - set(PUBLIC))))
    def nat_rebinds(self, slot: int) -> None:
        """The NAT forgets the mappings of one inside peer: its next datagrams leave from new ports, and what
        comes for the old ones is dropped (RFC 7296 2.23: the peer outside follows the latest valid message)."""
        for inside in [k for k in self.nat_out if k[0] == PEERS[slot][0]]:
            del self.nat_in[self.nat_out.pop(inside)]

    @rule(slot=st.integers(0, len(PEERS) - 1))
    def peer_reboots(self, slot: int) -> None:
        """A peer loses all state and starts over with the same identity; its IKE_AUTH says INITIAL_CONTACT."""
        self.peers[slot] = self._boot(slot)
        self.peers[slot].initiate(SUN, self.now)
        self._flush()

    @rule(who=st.integers(0, len(PEERS)), op=st.sampled_from(OPS), which=st.integers(0, 15), at_once=st.booleans())
    def act(self, who: int, op: str, which: int, at_once: bool) -> None:
        """Sun (who=0) or a peer works on one of its established IKE SAs; an action the SA cannot do now is
        refused with ProtocolError or ConfigError (state.py).  ``at_once``: the network delivers all in order."""
        endpoint = self._endpoints()[who]
        sas = self._established(endpoint)
        if not sas:
            return
        sa = sas[which % len(sas)]
        try:
            if op in ("rekey_child", "delete_child"):
                kids = sorted(sa.children)
                if not kids:
                    return
                getattr(sa, op)(kids[which % len(kids)], self.now)
            else:
                getattr(sa, op)(self.now)
        except (ProtocolError, ConfigError):
            pass
        self._flush()
        if at_once:
            self._deliver_all()

    # ------------------------------------------------------------------ the network

    @precondition(lambda self: self.wire)
    @rule(i=st.integers(0, 63))
    def deliver(self, i: int) -> None:
        """The network delivers one datagram in flight, not necessarily the oldest (reordering)."""
        self._deliver(self.wire.pop(i % len(self.wire)))

    @precondition(lambda self: self.wire)
    @rule()
    def deliver_all(self) -> None:
        self._deliver_all()

    def _deliver_all(self) -> None:
        """Everything in flight arrives in order (and what it provokes, up to a bound)."""
        for _ in range(60):
            if not self.wire:
                break
            self._deliver(self.wire.pop(0))

    @precondition(lambda self: self.wire)
    @rule(i=st.integers(0, 63))
    def drop(self, i: int) -> None:
        self.wire.pop(i % len(self.wire))

    @precondition(lambda self: self.wire)
    @rule(i=st.integers(0, 63))
    def duplicate(self, i: int) -> None:
        self.wire.append(self.wire[i % len(self.wire)])

    @precondition(lambda self: self.history)
    @rule(i=st.integers(0, 255))
    def replay(self, i: int) -> None:
        """An old datagram arrives again, long after (RFC 7296 2.3: answered from the cache or dropped)."""
        self._deliver(self.history[i % len(self.history)])

    @rule(step=st.sampled_from(STEPS), late=st.booleans())
    def wait(self, step: float, late: bool) -> None:
        """Time passes; every endpoint runs its due timers (retransmissions, half-open timeouts, 2.4), each at
        its time, or (``late``) all at once when the driver wakes up late: then a few calls of handle_timer(now)
        must bring every timer past now."""
        if not late:
            self._run_timers(self.now + step)
            return
        self.now += step
        for endpoint in self._endpoints():
            for _ in range(8):
                t = endpoint.get_timer()
                if t is None or t > self.now:
                    break
                endpoint.handle_timer(self.now)
                self._flush()
            else:
                raise AssertionError(f"timer {endpoint.get_timer()} still due after 8 handle_timer({self.now})")

    def _run_timers(self, until: float) -> None:
        """Run each endpoint's timers up to ``until``: after ``handle_timer(t)`` the timer is past ``t`` (a timer
        still due at the time it was handled would be run again and again: a busy loop)."""
        for _ in range(10_000):
            due = [(t, n) for n, e in enumerate(self._endpoints()) if (t := e.get_timer()) is not None and t <= until]
            if not due:
                break
            t, n = min(due)
            endpoint = self._endpoints()[n]
            self.now = max(self.now, t)
            endpoint.handle_timer(self.now)
            after = endpoint.get_timer()
            assert after is None or after > self.now, f"timer still due at {after} after handle_timer({self.now})"
            self._flush()
        else:
            raise AssertionError("timers never settle")
        self.now = max(self.now, until)

    # ------------------------------------------------------------------ hostile input to sun

    def _unchanged(self, datagram: Datagram) -> None:
        """Deliver ``datagram`` to sun: no IKE SA of sun may change (RFC 7296 2.21)."""
        sun = self._sun()
        before = {sa: (sa.snapshot(), pieces(sa)) for sa in sun.all_sas()}
        half_open = dict(sun.half_open)
        self._to_sun(datagram)
        for sa, snap in before.items():
            assert (sa.snapshot(), pieces(sa)) == snap, f"{datagram!r:.80} changed {sa!r}"
        assert all(sun.half_open.get(k) is v for k, v in half_open.items())
        self._flush()

    @rule(data=st.binary(max_size=120), slot=st.integers(0, len(PEERS)), port=st.sampled_from((500, 4500)),
          marker=st.booleans())
    def garbage(self, data: bytes, slot: int, port: int, marker: bool) -> None:
        """Random octets to sun's port 500 or 4500 (there with or without the Non-ESP Marker, RFC 3948 2.2)."""
        src = ([PEERS[n] for n in PUBLIC] + [(NAT_PUBLIC, 1025), STRANGER])[slot % (len(PUBLIC) + 2)]
        if port == 4500 and marker:
            data = bytes(4) + data
        self._unchanged(Datagram(data, (src[0], 4500 if port == 4500 else src[1]), (SUN[0], port)))

    @precondition(lambda self: self.history)
    @rule(i=st.integers(0, 255), cut=st.integers(0, 200))
    def truncated(self, i: int, cut: int) -> None:
        d = self.history[i % len(self.history)]
        if d.dst[0] != SUN[0]:
            return
        payload = d.payload[:cut % max(1, len(d.payload))]
        self._unchanged(Datagram(payload, d.src, d.dst))

    @rule(which=st.integers(0, 15), body=st.binary(min_size=0, max_size=80), exchange=st.sampled_from((34, 35, 36, 37)),
          first=st.sampled_from((46, 53)), mid=st.integers(0, 8))
    def spoofed(self, which: int, body: bytes, exchange: int, first: int, mid: int) -> None:
        """A datagram naming one of sun's IKE SAs, from an address that is not its peer's, with an SK or SKF
        payload (RFC 7383 2.5) nobody could have protected."""
        sas = self._sun().all_sas()
        if not sas:
            return
        sa = sas[which % len(sas)]
        flags = FLAG_I if not sa.initiator else 0
        length = 28 + len(body)
        header = sa.spi_i + sa.spi_r + bytes([first, 0x20, exchange, flags]) + mid.to_bytes(4, "big") \
            + length.to_bytes(4, "big")
        self._unchanged(Datagram(header + body, STRANGER, SUN))

    @precondition(lambda self: self.history)
    @rule(i=st.integers(0, 255), edits=st.lists(st.tuples(st.sampled_from(("drop", "twice", "swap")),
                                                          st.integers(0, 7)), min_size=1, max_size=3),
          spi=st.binary(min_size=8, max_size=8), slot=st.sampled_from(PUBLIC))
    def mangled_request(self, i: int, edits: list[tuple[str, int]], spi: bytes, slot: int) -> None:
        """A new IKE_SA_INIT request (a fresh SPIi) with a payload left out, repeated or moved: sun refuses it or
        answers it, and keeps nothing it cannot account for (RFC 7296 2.21.1)."""
        requests = [d for d in self.history if d.dst[0] == SUN[0] and starts_ike_sa(d)]
        if not requests:
            return
        msg = decode(requests[i % len(requests)].ike_message)
        payloads = list(msg.payloads)
        for op, n in edits:
            if not payloads:
                break
            k = n % len(payloads)
            if op == "drop":
                del payloads[k]
            elif op == "twice":
                payloads.insert(k, payloads[k])
            else:
                payloads.append(payloads.pop(k))
        try:
            data = replace(msg, spi_i=spi).with_payloads(*payloads).encode()
        except IkelabError:
            return
        self._deliver(Datagram(data, PEERS[slot], SUN))

    @precondition(lambda self: self.history)
    @rule(i=st.integers(0, 255))
    def cookie_from_elsewhere(self, i: int) -> None:
        """An IKE_SA_INIT request with a cookie, sent again from another address: the cookie binds IPi (RFC 7296
        2.6), so at the threshold it admits nothing."""
        requests = [d for d in self.history if d.dst[0] == SUN[0] and self._has_cookie(d)]
        if not requests:
            return
        d = requests[i % len(requests)]
        sun = self._sun()
        threshold = sun.config.cookie_threshold
        at_threshold = threshold is not None and half_open_count(sun) >= threshold
        known = {id(sa) for sa in [*sun.all_sas(), *sun.half_open.values()]}
        self._to_sun(Datagram(d.ike_message, STRANGER, SUN))
        if at_threshold:
            assert all(id(sa) in known for sa in [*sun.all_sas(), *sun.half_open.values()])
        self._flush()

    @precondition(lambda self: self.delivered)
    @rule(i=st.integers(0, 255))
    def replayed_from_elsewhere(self, i: int) -> None:
        """A protected datagram sun already received, replayed from an address that is not the peer's: not new,
        so it moves no IKE SA (RFC 7296 2.23 updates addresses only on a newer message), and may at most be
        answered from the cache (2.3)."""
        d = self.delivered[i % len(self.delivered)]
        h = header(d)
        if h is not None and h.exchange == ExchangeType.IKE_SA_INIT:  # a new request from there may start an SA
            return
        self._unchanged(Datagram(d.payload, STRANGER, d.dst))

    @precondition(lambda self: self.sun is not None)
    @rule()
    def settle(self) -> None:
        """The network turns clean until no request is outstanding; then every IKE SA both ends hold as
        established has matching Message IDs (2.3) and mirrored CHILD SAs: my inbound SPI is the peer's outbound
        one, with the same keys (2.17)."""
        for _ in range(100):
            if self.wire:
                self._deliver(self.wire.pop(0))
            elif any(sa._pending is not None or sa._queue for e in self._endpoints() for sa in e.all_sas()):
                self._run_timers(self.now + 0.5)
            else:
                break
        else:
            return
        for peer in self.peers:
            for sa in self._established(peer):
                other = self._sun().sas.get(sa.spi_r if sa.initiator else sa.spi_i)
                if other is None or other.state != State.ESTABLISHED:
                    continue
                # RFC 7296 2.3: each side's next request has the Message ID the other expects
                assert sa._next_request_id == other._peer_next_id and other._next_request_id == sa._peer_next_id
                mine = {(c.spi_in, c.spi_out) for c in sa.children.values()}
                theirs = {(c.spi_out, c.spi_in) for c in other.children.values()}
                assert mine == theirs, f"CHILD SAs differ: {sa.children} vs {other.children}"
                for c in sa.children.values():
                    d = other.children[c.spi_out]
                    assert (c.encr_key_out, c.encr_key_in) == (d.encr_key_in, d.encr_key_out)

    # ------------------------------------------------------------------ housekeeping

    @rule()
    def forget(self) -> None:
        self._sun().forget_closed(self.now)

    @rule()
    def quiesce(self) -> None:
        """The peers fall silent: once every retransmission and half-open timeout is over, sun holds no half-open
        entry, and ``forget_closed(now)`` leaves only closed IKE SAs whose forget time is still to come (no leak;
        an established one may have closed just now, its last request unanswered)."""
        self.wire.clear()
        for _ in range(3):
            self._run_timers(self.now + 400.0)
            self.wire.clear()
        sun = self._sun()
        if not sun.forgets_closed:
            sun.forget_closed(self.now)
        assert half_open_count(sun) == 0
        # what is left in half_open (SAs established since the last timer) goes when the next timer runs
        left = [sa for sa in sun.half_open.values() if sa.state in (State.INIT_DONE, State.IDLE, State.CLOSED)]
        assert left == [], left
        assert not sun.half_open or sun.get_timer() is not None, "half_open entries nothing will ever prune"
        assert not [sa for sa in sun.all_sas() if sa.state == State.CLOSED and sa.forget_at() <= self.now]

    # ------------------------------------------------------------------ invariants

    @invariant()
    def tables_point_to_their_sas(self) -> None:
        if self.sun is None:
            return
        for endpoint in self._endpoints():
            self._tables(endpoint)

    @staticmethod
    def _tables(endpoint: IkeEndpoint) -> None:
        for spi, sa in endpoint.sas.items():
            assert spi == sa.local_spi and spi != bytes(8), (spi, sa)
            assert endpoint.sas.get(sa.local_spi) is sa
        for (spi_i, _, _), sa in endpoint.half_open.items():
            assert not sa.initiator and sa.spi_i == spi_i
            if sa.state != State.CLOSED:
                assert endpoint.sas.get(sa.local_spi) is sa, f"half-open {sa!r} not filed under its SPI"
        for sa in endpoint.all_sas():
            if not sa.initiator and sa.state == State.INIT_DONE:
                assert any(v is sa for v in endpoint.half_open.values()), f"{sa!r} half-open but not in half_open"

    @invariant()
    def half_open_count_counts_half_open_sas(self) -> None:
        """``half_open_count()`` is the number of responder SAs in INIT_DONE; and the SAs it looks at are all
        still filed in ``half_open`` (an SA the endpoint dropped from there, refused or forgotten, must not stay
        referenced: each refused IKE_SA_INIT request would cost memory for good)."""
        if self.sun is None:
            return
        for endpoint in self._endpoints():  # the peers answer sun's IKE_SA_INIT requests
            filed = {id(sa) for sa in endpoint.half_open.values()}
            stale = [sa for sa in endpoint._maybe_half_open if id(sa) not in filed]
            assert stale == [], f"kept after they left half_open: {stale}"
            real = {sa for sa in [*endpoint.all_sas(), *endpoint.half_open.values()]
                    if not sa.initiator and sa.state == State.INIT_DONE}
            assert half_open_count(endpoint) == len(real)

    @invariant()
    def each_inner_address_has_one_live_holder(self) -> None:
        """RFC 7296 2.19: an address of sun's pool is held by one IKE SA of sun that is up and filed (a closed or
        forgotten one gives it back), and an established IKE SA holds each address it gave its peer."""
        if self.sun is None:
            return
        sun = self.sun
        for pool in sun.pools:
            for address, (_, holder) in pool.holders.items():
                assert holder.state != State.CLOSED, f"{address} still held by closed {holder!r}"
                assert sun.sas.get(holder.local_spi) is holder, f"{address} held by {holder!r}, not filed"
                assert address in holder.peer_virtual_ips
            for sa in sun.all_sas():
                if sa.state == State.ESTABLISHED:
                    for address in sa.peer_virtual_ips:
                        assert pool.holders.get(address, (None, None))[1] is sa, f"{sa!r} lost {address}"

    @invariant()
    def established_pairs_agree(self) -> None:
        if self.sun is None:
            return
        for peer in self.peers:
            for sa in self._established(peer):
                other = self.sun.sas.get(sa.spi_r if sa.initiator else sa.spi_i)
                if other is None or other.state != State.ESTABLISHED:
                    continue
                assert (other.spi_i, other.spi_r) == (sa.spi_i, sa.spi_r)
                assert other.initiator != sa.initiator
                assert other.keys.sk_d == sa.keys.sk_d
                assert (other.keys.sk_ei, other.keys.sk_er) == (sa.keys.sk_ei, sa.keys.sk_er)
                if sa.initiator and not sa.config.childless:
                    assert sa.virtual_ips == other.peer_virtual_ips


#: derandomized, without a database: CI runs the same examples every time; a deeper local search sets
#: IKELAB_STATEFUL_EXAMPLES (e.g. 3000)
EndpointBookkeeping.TestCase.settings = settings(
    max_examples=int(os.environ.get("IKELAB_STATEFUL_EXAMPLES", "300")), stateful_step_count=50, deadline=None,
    derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestEndpointBookkeeping = EndpointBookkeeping.TestCase
