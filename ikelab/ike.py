"""The IKEv2 protocol engine: one IKE SA, sans-IO (RFC 7296 1, 2.1-2.4).

Theory of operation
-------------------
An :class:`IkeSa` is driven from outside, as h11 and aioquic are:

* ``receive(data, now, src=...)`` hands it one IKE message (the UDP payload,
  without the Non-ESP Marker) received at virtual time ``now``;
* actions (``initiate``, ``create_child``, ``rekey_child``, ``rekey_ike``,
  ``liveness``, ``delete_child``, ``delete_ike``) ask it to start an exchange;
* ``get_timer()`` says when it next needs ``handle_timer(now)``
  (retransmission, lifetimes, liveness);
* ``pop_datagrams()`` and ``pop_events()`` return what it wants sent and what
  it has to report (:mod:`ikelab.events`).

It never reads a clock, opens a socket or prints; every random value (SPIs,
nonces, Diffie-Hellman keys, IVs) comes from the injected ``rng``.

Every input goes through the one table :data:`ikelab.state.TRANSITIONS`.
Before that (:mod:`ikelab.ike_receive`, what a received message goes
through), RFC 7296 2.3 (window size 1) is enforced: our requests are
numbered 0, 1, 2...; a request is retransmitted with exponential backoff
(``retransmit_timeout * retransmit_base ** n``, RFC 7296 2.4) until its
response arrives or ``retransmit_tries`` retransmissions are spent; a
retransmitted request from the peer is answered from the response cache and
never processed twice; a response that does not match the outstanding
request is dropped.  A protected message whose ICV does not verify is dropped
silently and changes nothing (2.21.3 answers a request only once it has passed
the integrity and window checks; 2.21.4: an unprotected message changes no SA state).

Two extensions are off unless configured: IKE fragmentation (RFC 7383,
:mod:`ikelab.ike_fragments`, a mixin beside the exchanges) and virtual IPs
(RFC 7296 2.19, :mod:`ikelab.vip`, asked for and leased in IKE_AUTH).

:class:`ikelab.endpoint.IkeEndpoint` (also importable from here) is the
demultiplexer: it maps datagrams to IKE SAs by SPI, creates a new IKE SA for
each new IKE_SA_INIT request and asks for a COOKIE (2.6) when too many SAs are
half-open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import events as ev
from . import vip as _vip
from .config import IkeConfig, require_config
from .constants import ExchangeType
from .errors import ProtocolError, check_seconds
from .exchanges_child import ChildExchanges
from .exchanges_info import InformationalExchanges
from .exchanges_common import ChildSa, Datagram, frame, readdressed
from .exchanges_init import InitExchanges
from .exchanges_rekey import IkeRekeyExchanges
from .ike_fragments import FragmentExchanges
from .ike_receive import Receiving, address_pair as _address_pair
from .rand import RandomSource, default_random
from .state import TRANSITIONS, Input, State
from . import exchanges_wire as wirefmt

_SIDES = {True: "initiator", False: "responder"}
#: queued work on CHILD SAs, which moves to the successor of a rekeyed IKE SA (RFC 7296 2.18)
_CHILD_WORK = (Input.CREATE_CHILD, Input.REKEY_CHILD, Input.DELETE_CHILD)


class CachedResponse(NamedTuple):
    """Our response to the peer's last request, sent again if that request comes again (RFC 7296 2.3)."""

    message_id: int
    datagram: Datagram | tuple[Datagram, ...]  # a tuple: the fragments of the message (RFC 7383)
    exchange: Any


@dataclass
class PendingRequest:
    """Our outstanding request (window size 1) and what its response will need."""

    exchange: ExchangeType
    message_id: int
    datagram: Datagram | tuple[Datagram, ...]  # a tuple: the fragments of the message (RFC 7383)
    kind: str
    sent: float
    deadline: float
    summary: str | ev.Unread = ""  # for the MessageSent of a retransmission
    attempts: int = 0
    context: dict[str, Any] = field(default_factory=dict)


#: The largest Message ID (32 bits, RFC 7296 3.1), and ours from which the IKE SA is rekeyed so that
#: they start at 0 again (2.2: "the IKE SA MUST be closed or rekeyed"); the rest leave room for retries.
MESSAGE_ID_MAX = 0xFFFFFFFF
MESSAGE_ID_REKEY_AT = MESSAGE_ID_MAX - 1023


class IkeSa(Receiving, InitExchanges, ChildExchanges, IkeRekeyExchanges, InformationalExchanges, FragmentExchanges):
    """One IKE SA with its CHILD SAs, as seen by one peer.

    ``initiator`` says whether this peer is the *original initiator* (the I
    flag of RFC 7296 3.1).  ``local``/``remote`` are (address, port) pairs.
    """

    # slots, not a __dict__: a responder may hold many thousands of IKE SAs (see bench_handshake.py)
    __slots__ = (
        "config", "rng", "initiator", "side", "local", "remote", "state", "created", "spi_i", "spi_r", "ni", "nr",
        "keys", "suite", "proposal", "children", "remote_identity", "nat_detected", "nat_local", "nat_remote",
        "rekey_at", "expire_at", "last_received", "replaced_by", "redundant", "rekeyed_at", "spawned", "closed_reason",
        "closed_at", "established_at", "local_auth_method", "remote_auth_method", "fragmentation", "_fragments",
        "peer_initial_contact", "virtual_ips", "peer_virtual_ips", "pools", "child_retries",
        # the exchange in progress (IKE_SA_INIT and IKE_AUTH state is dropped once the SA stands)
        "_next_request_id", "_peer_next_id", "_pending", "_cached_response", "_queue", "_out",
        "_events", "_init_state", "_dirty", "_dh_group", "_dh_key", "_real_message_1", "_real_message_2",
        "_peer_hash_algs", "_peer_certreq", "_collision", "_rekeyed_from", "_reply_to", "_expired",
    )

    def __init__(
        self,
        config: IkeConfig,
        *,
        initiator: bool,
        local: tuple[str, int],
        remote: tuple[str, int],
        rng: RandomSource | None = None,
        now: float = 0.0,
    ) -> None:
        self.config = require_config(config, "IkeSa")
        self.rng = rng if rng is not None else default_random()
        self.initiator = bool(initiator)
        #: "initiator" or "responder": this peer's role in the IKE SA (the I flag), as events name it
        self.side = _SIDES[self.initiator]
        try:  # the usual (address, port) tuples pass with four class tests; address_pair checks anything else
            if (local.__class__ is str or remote.__class__ is str  # "10.0.0.1"[1] would be read as a port
                    or local[1].__class__ is not int or remote[1].__class__ is not int):  # True, 500.5, "500"
                raise TypeError
            self.local = (str(local[0]), int(local[1]))
            self.remote = (str(remote[0]), int(remote[1]))
        except (TypeError, ValueError, IndexError, KeyError):
            self.local, self.remote = _address_pair(local, "local"), _address_pair(remote, "remote")
        if now.__class__ is not float and now.__class__ is not int:
            check_seconds(now, "now")
        self.state = State.IDLE
        self.created = now
        self.spi_i = b"\x00" * 8
        self.spi_r = b"\x00" * 8
        self.ni = b""
        self.nr = b""
        self.keys: Any = None          # ikelab.keys.IkeSaKeys
        self.suite: Any = None         # ikelab.proposals.Suite of the IKE SA
        self.proposal: Any = None      # the chosen IKE proposal
        self.children: dict[bytes, ChildSa] = {}
        self.remote_identity: Any = None
        self.local_auth_method: Any = None   # AuthMethod of each side's AUTH payload, once IKE_AUTH has run
        self.remote_auth_method: Any = None
        self.established_at: float | None = None
        self.nat_detected = self.nat_local = self.nat_remote = False  # RFC 7296 2.23, found in IKE_SA_INIT
        self.fragmentation = False  # both peers sent IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 2.3)
        # the peer's IKE_AUTH said N(INITIAL_CONTACT): older IKE SAs with its identity are stale (RFC 7296 2.4);
        # IkeEndpoint acts on it and clears it
        self.peer_initial_contact = False
        # inner addresses (RFC 7296 2.19), at most one per family; () is shared, so none costs no memory
        self.virtual_ips: tuple[str, ...] = ()  # ours, given by the responder in CP(CFG_REPLY)
        self.peer_virtual_ips: tuple[str, ...] = ()  # the initiator's, leased from our pools
        self.pools: tuple[Any, ...] = ()  # ikelab.vip.VirtualIpPool per family, shared by an endpoint's IKE SAs
        #: (when, pfs, retry) of CREATE_CHILD_SA requests refused with TEMPORARY_FAILURE, asked for again then
        #: (RFC 7296 2.25); retry counts the refusals so far (at most exchanges_child.CHILD_RETRIES)
        self.child_retries: tuple[tuple[float, Any, int], ...] = ()
        self._fragments: dict[bool, Any] | None = None  # fragments of incoming messages (ike_fragments.Reassembly)
        self.rekey_at: float | None = None
        self.expire_at: float | None = None
        self.last_received = now
        self.replaced_by: "IkeSa | None" = None
        self.redundant = False  # a new IKE SA of colliding rekeys that the other new one replaces (RFC 7296 2.8.2)
        self.rekeyed_at = now
        self.spawned: tuple[IkeSa, ...] = ()  # new IKE SAs from a rekey, for the endpoint to file
        self._collision: IkeSa | None = None  # the peer's new IKE SA while both rekey this one (RFC 7296 2.8.2)
        # the IKE SA this one replaces while colliding rekeys (RFC 7296 2.8.2) are unsettled: its CHILD SAs still
        # wait there, but the peer, for whom this new IKE SA already won, may name them in requests on this one
        self._rekeyed_from: IkeSa | None = None
        self.closed_reason = ""
        self.closed_at: float | None = None  # when the SA closed (see forget_at)
        self._next_request_id = 0
        self._peer_next_id = 0
        self._pending: PendingRequest | None = None
        self._cached_response: CachedResponse | None = None
        #: (our address, the peer's) of the request being handled when it came from elsewhere than
        #: (local, remote): responses go where the request came from (RFC 7296 2.11)
        self._reply_to: tuple[tuple[str, int], tuple[str, int]] | None = None
        # actions waiting for the window, oldest first; a tuple, () when empty, as _out and _events
        self._queue: tuple[tuple[Input, dict[str, Any]], ...] = ()
        #: (spi_in, spi_out, protocol) of CHILD SAs gone at their hard lifetime whose DELETE waits for the
        #: window (RFC 7296 2.8): until it is answered, a request naming one is answered as for no such SA
        self._expired: tuple[tuple[bytes, bytes, int], ...] = ()
        # () until there is something to pop: an established SA keeps no empty lists (bench_handshake memory)
        self._out: list[Datagram] | tuple[()] = ()
        self._events: list[ev.Event] | tuple[()] = ()
        self._init_state: dict[str, Any] = {}
        self._dirty: set["IkeSa"] | None = None  # set by IkeEndpoint: SAs with output to collect

    # ------------------------------------------------------------------ public API

    @property
    def established(self) -> bool:
        return self.state == State.ESTABLISHED

    @property
    def unsettled(self) -> bool:
        """Whether this IKE SA is the peer's side of two crossing rekeys not yet settled (RFC 7296 2.8.2):
        established, but the old IKE SA still holds the CHILD SAs until the nonce rule decides which new
        one survives."""
        return self._rekeyed_from is not None

    @property
    def successor(self) -> IkeSa:
        """The IKE SA that now holds this one's CHILD SAs: itself, or the newest one that replaced it by rekeys
        (RFC 7296 2.18)."""
        return self._home()

    @property
    def local_spi(self) -> bytes:
        return self.spi_i if self.initiator else self.spi_r

    # the first of each, as when an IKE SA had one virtual IP; read-only, the tuples are the state
    @property
    def virtual_ip(self) -> str | None:
        """Our first inner address (``virtual_ips[0]``), or None (RFC 7296 2.19)."""
        return self.virtual_ips[0] if self.virtual_ips else None

    @property
    def peer_virtual_ip(self) -> str | None:
        """The first inner address we leased to the initiator (``peer_virtual_ips[0]``), or None."""
        return self.peer_virtual_ips[0] if self.peer_virtual_ips else None

    @property
    def pool(self) -> Any:
        """The first of ``pools`` (an :class:`ikelab.vip.VirtualIpPool`), or None."""
        return self.pools[0] if self.pools else None

    @property
    def asking_for_child(self) -> bool:
        """Whether a new CHILD SA is on its way: requested, queued, or to be asked for again after a
        TEMPORARY_FAILURE (RFC 7296 2.25)."""
        p = self._pending
        return (bool(self.child_retries) or (p is not None and p.kind == "create_child")
                or any(inp is Input.CREATE_CHILD for inp, _ in self._queue))

    def initiate(self, now: float) -> None:
        """Start IKE_SA_INIT (original initiator)."""
        self._act(Input.INITIATE, now)

    def create_child(self, now: float, *, pfs: Any = None) -> None:
        """Start a CREATE_CHILD_SA exchange for a new CHILD SA with the configured policy."""
        self._act(Input.CREATE_CHILD, now, pfs=pfs)

    def rekey_child(self, spi: bytes, now: float, *, pfs: Any = None) -> None:
        """Rekey the CHILD SA whose inbound (or outbound) SPI is ``spi`` (RFC 7296 1.3.3)."""
        self._act(Input.REKEY_CHILD, now, spi=spi, pfs=pfs)

    def rekey_ike(self, now: float) -> None:
        """Rekey this IKE SA with CREATE_CHILD_SA (RFC 7296 1.3.2, 2.18)."""
        self._act(Input.REKEY_IKE, now)

    def liveness(self, now: float) -> None:
        """Send an empty INFORMATIONAL request (RFC 7296 1.4, 2.4)."""
        self._act(Input.LIVENESS, now)

    def delete_child(self, spi: bytes, now: float) -> None:
        """Delete the CHILD SA pair with inbound (or outbound) SPI ``spi`` (RFC 7296 1.4.1)."""
        self._act(Input.DELETE_CHILD, now, spi=spi)

    def delete_ike(self, now: float) -> None:
        """Delete this IKE SA and all its CHILD SAs (RFC 7296 1.4.1).  If a rekey of this IKE SA is on its way,
        the DELETE waits for it, and then closes the new IKE SA as well: the connection ends (2.8, 2.25.2)."""
        self._act(Input.DELETE_IKE, now)

    def pop_datagrams(self) -> list[Datagram]:
        out, self._out = self._out, ()
        return out or []

    def pop_events(self) -> list[ev.Event]:
        out, self._events = self._events, ()
        return out or []

    def find_child(self, spi: bytes) -> ChildSa | None:
        """The CHILD SA with inbound SPI ``spi``, or else outbound SPI ``spi``."""
        if spi in self.children:
            return self.children[spi]
        for child in self.children.values():
            if child.spi_out == spi:
                return child
        return None

    def snapshot(self) -> tuple[Any, ...]:
        """Everything that makes up the SA's protocol state (for tests: unchanged by bad input)."""
        return (
            self.state, self.spi_i, self.spi_r, self.keys, self._next_request_id, self._peer_next_id,
            tuple((k, c.spi_out, c.state, c.keys) for k, c in sorted(self.children.items())),
            self.remote, self.local,
        )

    # ------------------------------------------------------------------ timers

    def get_timer(self) -> float | None:
        """The next virtual time at which :meth:`handle_timer` has work, or None."""
        if self.state == State.CLOSED:
            return None
        times: list[float] = []
        if self._pending is not None:
            times.append(self._pending.deadline)
        if self.state == State.INIT_DONE:
            times.append(self.created + self._half_open_timeout())
        if self.state == State.REKEYED and self._pending is None:
            times.append(self.rekeyed_at + self._half_open_timeout())
        if self.state == State.ESTABLISHED:
            if self.expire_at is not None:
                times.append(self.expire_at)
            if self.rekey_at is not None and not self._rekey_ike_on_its_way():
                times.append(self.rekey_at)
            times.extend(retry[0] for retry in self.child_retries)
            for child in self.children.values():
                if child.expire_at is not None:
                    times.append(child.expire_at)
                if child.rekey_at is not None and child.state == "INSTALLED" and not self._rekey_child_queued(child):
                    times.append(child.rekey_at)
            dpd = self.config.dpd_interval
            if dpd and self._pending is None:
                times.append(self.last_received + dpd)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """Do whatever is due at ``now``: retransmit, give up, rekey, expire, check liveness."""
        if self.state == State.CLOSED:
            return
        p = self._pending
        if p is not None and now >= p.deadline:
            tries = int(self.config.retransmit_tries)
            if p.attempts >= tries:
                self._pending = None
                self._dispatch(Input.GIVE_UP, now, reason=f"no response to {p.exchange.name} "
                               f"message ID {p.message_id} after {p.attempts} retransmissions", kind=p.kind)
                return
            p.attempts += 1
            timeout = self._timeout(p.attempts)
            p.deadline = now + timeout
            self._emit(ev.Retransmitted(now, self.side, p.exchange.name, p.message_id, p.attempts, timeout))
            # to where the peer is now, if a validated message moved it (RFC 7296 2.23: "including retransmission")
            p.datagram = readdressed(p.datagram, self.local, self.remote)
            self._transmit(p.datagram, now, p.exchange, p.message_id, False, p.summary, retransmission=True)
        if self.state == State.INIT_DONE and now >= self.created + self._half_open_timeout():
            self._dispatch(Input.GIVE_UP, now, reason="half-open IKE SA timed out waiting for IKE_AUTH")
            return
        if self.state == State.REKEYED and self._pending is None and now >= self.rekeyed_at + self._half_open_timeout():
            # the peer should have deleted this replaced IKE SA (RFC 7296 2.18); forget it anyway
            reason = ("redundant, from colliding rekeys (RFC 7296 2.8.2): the peer did not delete it" if self.redundant
                      else "rekeyed (the peer did not delete the old IKE SA)")
            self._dispatch(Input.GIVE_UP, now, reason=reason)
            return
        if self.state != State.ESTABLISHED:
            return
        if self.expire_at is not None and now >= self.expire_at:
            self.expire_at = None
            self._act(Input.DELETE_IKE, now, follow_rekey=False)  # a rekey on its way replaces this SA anyway
            return
        if self.rekey_at is not None and now >= self.rekey_at and not self._rekey_ike_on_its_way():
            self.rekey_at = None
            self._act(Input.REKEY_IKE, now, scheduled=True)
        if self.child_retries and now >= min(retry[0] for retry in self.child_retries):
            due = [(pfs, retry) for when, pfs, retry in self.child_retries if now >= when]
            self.child_retries = tuple(r for r in self.child_retries if now < r[0])
            for pfs, retry in due:
                self._act(Input.CREATE_CHILD, now, pfs=pfs, retry=retry)
        for child in list(self.children.values()):
            if child.expire_at is not None and now >= child.expire_at:
                # the hard lifetime (2.8): delete it, and no rekey of it later, even while the DELETE waits its turn
                child.expire_at = child.rekey_at = None
                if self._pending is None and not self._queue:
                    self._act(Input.DELETE_CHILD, now, spi=child.spi_in)  # sent now: DELETING until answered
                elif child.state != "DELETING":
                    self._expire_child(child, now)
            elif (child.rekey_at is not None and now >= child.rekey_at and child.state == "INSTALLED"
                  and not self._rekey_child_queued(child)):
                child.rekey_at = None
                self._act(Input.REKEY_CHILD, now, spi=child.spi_in, pfs=None, scheduled=True)
        dpd = self.config.dpd_interval
        if dpd and self._pending is None and not self._queue and now >= self.last_received + dpd:
            self.last_received = now
            self._act(Input.LIVENESS, now)

    def _rekey_ike_on_its_way(self) -> bool:
        """A rekey of this IKE SA is sent or queued: the lifetime's waits for its outcome, which replaces the SA or,
        refused, leaves the retry (RFC 7296 2.25.2) or the lifetime's rekey, due then, in ``rekey_at``."""
        p = self._pending
        return (p is not None and p.kind == "rekey_ike") or any(inp is Input.REKEY_IKE for inp, _ in self._queue)

    def _rekey_child_queued(self, child: ChildSa) -> bool:
        """A rekey of ``child`` waits in the window (2.3): the lifetime's waits for its outcome, as for the IKE SA."""
        return bool(self._queue) and any(inp is Input.REKEY_CHILD and kw.get("spi") in (child.spi_in, child.spi_out)
                                         for inp, kw in self._queue)

    def _timeout(self, attempt: int) -> float:
        base = float(self.config.retransmit_timeout)
        factor = float(self.config.retransmit_base)
        return base * factor ** attempt

    def forget_at(self) -> float | None:
        """When a CLOSED SA can be forgotten: once the peer's retransmissions of the request that closed it
        are over (it answers them from its cache until then, RFC 7296 2.3); None while the SA is open."""
        return None if self.closed_at is None else self.closed_at + self._half_open_timeout()

    def _half_open_timeout(self) -> float:
        tries = int(self.config.retransmit_tries)
        return sum(self._timeout(n) for n in range(tries + 1))

    # ------------------------------------------------------------------ dispatch

    def _act(self, inp: Input, now: float, **kw: Any) -> None:
        """A local action: illegal -> ProtocolError; legal but window busy -> queued."""
        if (self.state, inp) not in TRANSITIONS:
            raise ProtocolError(f"{inp.value} is not allowed in state {self.state.value}", notify_type=None)
        if now.__class__ is not float and now.__class__ is not int:  # a str, None...: ConfigError naming now
            check_seconds(now, "now")
        if inp != Input.INITIATE and (self._pending is not None or self._queue):
            self._queue += ((inp, kw),)
            return
        self._dispatch(inp, now, **kw)

    def _pump(self, now: float) -> None:
        """Start queued actions while the window (size 1) is free."""
        while self._pending is None and self._queue and self.state != State.CLOSED:
            (inp, kw), self._queue = self._queue[0], self._queue[1:]
            if (self.state, inp) in TRANSITIONS:
                self._dispatch(inp, now, **kw)
            elif inp in _CHILD_WORK and self.replaced_by is not None:  # rekeyed meanwhile: the successor does it
                home = self._home()
                if home.state != State.CLOSED:
                    home._queue += ((inp, kw),)
                    home._pump(now)

    def _dispatch(self, inp: Input, now: float, **kw: Any) -> bool:
        """Run the table entry for ``(state, inp)``; False if there is none (state unchanged)."""
        entry = TRANSITIONS.get((self.state, inp))
        if entry is None:
            return False
        handler, next_state = entry
        override = getattr(self, handler)(now, **kw)
        if self.state == State.CLOSED:
            return True
        if override is not None:
            self.state = override
        elif self.state not in (State.REKEYED,) or next_state == State.CLOSED:
            self.state = next_state
        self._pump(now)
        return True

    def handle(self, inp: Input, now: float, **kw: Any) -> bool:
        """Feed one table input directly (tests, lessons); returns False when illegal."""
        return self._dispatch(inp, now, **kw)

    # ------------------------------------------------------------------ sending

    def _crypto(self, *, sending: bool) -> Any:
        sender_is_initiator = self.initiator if sending else not self.initiator
        return wirefmt.sk_crypto(self.keys, self.suite, sender_is_initiator, self.rng)

    def _message(self, exchange: ExchangeType, message_id: int, is_response: bool, payloads: list[Any]) -> Any:
        return wirefmt.message(self.spi_i, self.spi_r, exchange, self.initiator, is_response, message_id, payloads)

    def _encode(self, msg: Any) -> bytes:
        if msg.exchange == ExchangeType.IKE_SA_INIT:
            return wirefmt.encode(msg)
        return wirefmt.encode(msg, crypto=self._crypto(sending=True))

    def _request(self, exchange: ExchangeType, payloads: list[Any], now: float, kind: str,
                 *, message_id: int | None = None, **context: Any) -> bytes:
        """Send a request, keep it for retransmission; returns the encoded message."""
        if message_id is None:
            message_id = self._next_request_id
            if message_id > MESSAGE_ID_MAX:  # not even a Delete fits any more
                reason = "message IDs used up: RFC 7296 2.2 says the IKE SA MUST be closed or rekeyed"
                self._emit(ev.Failure(now, self.side, None, reason, fatal=True))
                self._close(now, reason)
                return b""
            self._next_request_id += 1
            if (message_id >= MESSAGE_ID_REKEY_AT and kind != "rekey_ike" and self.state == State.ESTABLISHED
                    and not any(inp is Input.REKEY_IKE for inp, _ in self._queue)):
                # RFC 7296 2.2: message IDs that would outgrow 32 bits: rekey, which starts them at 0 again
                self._queue += ((Input.REKEY_IKE, {"scheduled": True}),)
        msg = self._message(exchange, message_id, False, payloads)
        data = self._encode(msg)
        dgram = self._frame(msg, data) if self.fragmentation else frame(data, self.local, self.remote)
        summary = ev.Unread(msg)  # made into text if someone reads the event's summary
        self._pending = PendingRequest(exchange, message_id, dgram, kind, now, now + self._timeout(0), summary,
                                       context=dict(context))
        self._transmit(dgram, now, exchange, message_id, False, summary)
        return data

    def _respond(self, request: Any, now: float, payloads: list[Any]) -> bytes:
        """Send the response to ``request`` and cache it for retransmitted requests."""
        msg = self._message(request.exchange, request.message_id, True, payloads)
        data = self._encode(msg)
        dgram = self._frame(msg, data) if self.fragmentation else frame(data, self.local, self.remote)
        if self._reply_to is not None:  # the request came from elsewhere: answer there (RFC 7296 2.11)
            dgram = readdressed(dgram, *self._reply_to)
        # the datagram, not the message (which would live as long as the IKE SA): a retransmission
        # reads its summary back from the datagram (Receiving._cached_summary)
        self._cached_response = CachedResponse(request.message_id, dgram, request.exchange)
        self._peer_next_id = request.message_id + 1
        self._transmit(dgram, now, request.exchange, request.message_id, True, ev.Unread(msg))
        return data

    def _transmit(self, dgram: Datagram | tuple[Datagram, ...], now: float, exchange: Any, message_id: int,
                  is_response: bool, summary: str | ev.Unread, *, retransmission: bool = False) -> None:
        if dgram.__class__ is tuple:  # the SKF fragments of one message (RFC 7383 2.5), each a datagram
            total = len(dgram)  # type: ignore[arg-type]
            for number, piece in enumerate(dgram, 1):  # type: ignore[arg-type]
                self._transmit(piece, now, exchange, message_id, is_response, f"HDR, SKF({number}/{total})",
                               retransmission=retransmission)
            return
        if self._out:
            self._out.append(dgram)
        else:
            self._out = [dgram]
        if self._dirty is not None:
            self._dirty.add(self)
        # a member's _name_ is what exchange_name gives it (without the call); numbers go through exchange_name
        name = exchange._name_ if exchange.__class__ is ExchangeType else wirefmt.exchange_name(exchange)
        self._emit(ev.MessageSent(now, self.side, name, message_id, is_response,
                                  summary, len(dgram.payload), dgram.src, dgram.dst, retransmission))

    def _emit(self, event: ev.Event) -> None:
        if self._events:
            self._events.append(event)
        else:
            self._events = [event]
        if self._dirty is not None:
            self._dirty.add(self)

    # ------------------------------------------------------------------ closing

    def on_give_up(self, now: float, *, reason: str = "retransmissions exhausted", kind: str = "") -> State:
        """No answer (RFC 7296 2.4): the peer is considered dead, the IKE SA and its CHILD SAs are gone."""
        if kind == "liveness":
            self._emit(ev.LivenessChecked(now, self.side, self._next_request_id - 1, False))
        if kind == "rekey_ike" and self._collision is not None and self._collision._home().state != State.CLOSED:
            return self._rekey_unanswered(now, reason)  # the peer's colliding rekey stands (RFC 7296 2.8.2)
        if self.state in (State.INIT_SENT, State.AUTH_SENT):
            reason += " (the IKE SA could not be established)"
        if self.state != State.REKEYED:  # a replaced IKE SA going away is no failure: its successor lives on
            self._emit(ev.Failure(now, self.side, None, reason, fatal=True))
        self._close(now, reason)
        return State.CLOSED

    def _close(self, now: float, reason: str, *, children_reason: str | None = None) -> None:
        """Remove every CHILD SA and end the IKE SA (events ChildSaDeleted, IkeSaDeleted)."""
        for child in list(self.children.values()):
            self._remove_child(child, now, children_reason or f"IKE SA closed: {reason}")
        if self.replaced_by is not None:
            self._hand_over(now)
        theirs = self._settle_collision()
        if theirs is not None and theirs.state != State.CLOSED:
            # the peer's rekey of this IKE SA, not yet settled (RFC 7296 2.8.2): its new IKE SA holds none of the
            # CHILD SAs or leases (they are still here), and the connection it would carry on ends with this one
            theirs._close(now, f"the IKE SA it rekeyed closed before the crossing rekeys were settled: {reason}")
        self._rekeyed_from = None
        self._pending = None
        self._queue = ()
        self.closed_reason = reason
        self._forget_handshake()  # a half-open SA that closes drops its DH private value too
        if self.peer_virtual_ips:  # the client's addresses are free again
            _vip.release_each(self.pools, self.peer_virtual_ips, self)
        if self.state != State.CLOSED:
            self.state = State.CLOSED
            self.closed_at = now
            self._emit(ev.IkeSaDeleted(now, self.side, self.spi_i, self.spi_r, reason))

    def _hand_over(self, now: float) -> None:
        """Move queued CHILD SA work of a rekeyed-away IKE SA to its successor (RFC 7296 2.18).

        No CHILD SA request of ours is open here: while one is, we refuse the peer's rekey of the IKE
        SA (2.25.1), and we start none of our own.
        """
        home = self._home()
        self._pending = None
        moved = [(inp, kw) for inp, kw in self._queue if inp in _CHILD_WORK]
        self._queue = ()
        if moved and home is not self and home.state != State.CLOSED:
            home._queue += tuple(moved)
            home._pump(now)

    def __repr__(self) -> str:
        return (f"IkeSa({self.side}, {self.state.value}, spi_i={self.spi_i.hex()}, spi_r={self.spi_r.hex()}, "
                f"children={len(self.children)})")


def __getattr__(name: str) -> Any:
    # IkeEndpoint lives in ikelab.endpoint (which imports this module); keep ``ikelab.ike.IkeEndpoint`` working
    if name == "IkeEndpoint":
        from .endpoint import IkeEndpoint

        return IkeEndpoint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ChildSa", "Datagram", "IkeEndpoint", "IkeSa", "PendingRequest"]
