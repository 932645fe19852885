"""The IKE SAs of one peer: demultiplexing by SPI, new responders, cookies (RFC 7296 2.6, 2.21.1).

An :class:`IkeEndpoint` stands for one IKE peer (one address, ports 500 and
4500).  It routes each received datagram to the :class:`~ikelab.ike.IkeSa`
it belongs to: by the receiver's own SPI (SPIr when the I flag is set, since
the message then comes from the original initiator, SPIi otherwise); a new
IKE_SA_INIT request (SPIr zero) creates a responder IKE SA.  When
``cookie_threshold`` half-open SAs exist (0: always) a request without a valid
COOKIE is answered statelessly with::

    N(COOKIE), cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)

The <secret> changes every :data:`COOKIE_SECRET_LIFETIME` seconds (RFC 7296 2.6:
"frequently"), and a cookie made with the one before still counts for one more
such period, so that an initiator who got it just before the change is not sent
round again.

An IKE SA whose peer says N(INITIAL_CONTACT) in IKE_AUTH replaces the
endpoint's older IKE SAs with the same authenticated identity (RFC 7296 2.4).
An IKE_SA_INIT request that does not decode is answered, still without
keeping state, with INVALID_MAJOR_VERSION (2.5), UNSUPPORTED_CRITICAL_PAYLOAD
(2.5) or INVALID_SYNTAX (2.21.1); one with a zero initiator's SPI (3.1: it "MUST
NOT be zero") is dropped.  Like the IKE SAs it is sans-IO: datagrams
in with ``receive(datagram, now)``, out with ``pop_datagrams()``.
"""

from __future__ import annotations

import hmac
from typing import Any

from . import events as ev
from . import exchanges_wire as wirefmt
from .config import IkeConfig, require_config
from .constants import ExchangeType, IKE_PORT, NAT_T_PORT, NotifyType
from .errors import ConfigError, IkelabError, ParseError, UnsupportedCriticalPayloadError, check_seconds
from .exchanges_common import Datagram, frame, make_cookie, udp_endpoint, unframe
from .ike import IkeSa
from .ike_receive import address_pair
from .message import FLAG_I, decode_header
from .rand import RandomSource, check_random_source, default_random
from .state import State
from .vip import VirtualIpPool, pools_of

#: Seconds a cookie secret is used before the next one (the previous one is still accepted that long again).
COOKIE_SECRET_LIFETIME = 60.0


def _check_payload(datagram: Datagram) -> None:
    """A received datagram's payload is bytes-like, or ConfigError naming it."""
    if not isinstance(datagram.payload, (bytes, bytearray, memoryview)):
        raise ConfigError(f"receive: datagram.payload must be bytes, not {type(datagram.payload).__name__} "
                          f"{datagram.payload!r:.40}", field="datagram.payload", value=datagram.payload)


class IkeEndpoint:
    """The IKE SAs of one peer, demultiplexed by SPI (RFC 7296 2.6).

    ``receive(datagram, now)`` routes a datagram to the IKE SA it belongs to,
    creating a responder IKE SA for each new IKE_SA_INIT request.  When
    ``config.cookie_threshold`` half-open SAs exist (0: always), a request
    without a valid COOKIE is answered statelessly with N(COOKIE).

    A CLOSED IKE SA stays in :attr:`sas` (a lab shows it) until :meth:`forget_closed`; with
    ``forget_closed=True`` (what a long-running peer wants: :class:`ikelab.net.NetDriver` sets it)
    :meth:`handle_timer` forgets each one when its :meth:`IkeSa.forget_at` time comes.
    """

    def __init__(self, config: IkeConfig, rng: RandomSource | None = None, local_addr: str = "192.0.2.2",
                 *, port: int = 500, forget_closed: bool = False) -> None:
        self.config = require_config(config, "IkeEndpoint")
        self.rng = rng if rng is not None else default_random()
        self.local_addr, self.port = udp_endpoint(local_addr, port, "local")
        self.sas: dict[bytes, IkeSa] = {}                    # by our SPI
        self.half_open: dict[tuple[bytes, str, int], IkeSa] = {}  # responder SAs by (SPIi, IPi, port)
        self._maybe_half_open: set[IkeSa] = set()  # the responder SAs of half_open not yet seen past INIT_DONE
        try:
            self._secret = self.rng.random_bytes(32)
        except AttributeError:  # a seed or a name where the random source belongs
            check_random_source(self.rng, "rng")
            raise
        self._secret_version = 1
        self._secret_since: float | None = None  # when the current secret was first used
        self._previous_secret: tuple[int, bytes] | None = None  # (version, secret), still accepted
        self.forgets_closed = forget_closed
        self._out: list[Datagram] = []
        self._events: list[ev.Event] = []
        self._dirty: set[IkeSa] = set()
        # the addresses handed out to remote-access clients, a pool per family shared by every IKE SA (RFC 7296
        # 2.19); pool is the first of them (or None), as when there was one
        self.pools: tuple[VirtualIpPool, ...] = pools_of(self.config.pool)
        self.pool = self.pools[0] if self.pools else None

    def initiate(self, remote: tuple[str, int] | str, now: float, *, config: Any = None) -> IkeSa:
        """Create an initiator IKE SA towards ``remote`` and start IKE_SA_INIT.

        ``remote`` is an address (port 500) or an (address, port) pair.  Towards port 4500 an endpoint on
        port 500 (which serves 4500 too) starts from its own port 4500: IKE and then ESP go 4500 <-> 4500
        from the first message on, the Non-ESP Marker before each IKE message (RFC 7296 2.23: "An initiator
        can use port 4500 for both IKE and ESP, regardless of whether or not there is a NAT, even at the
        beginning of IKE"; RFC 3948 2.2), and NAT_DETECTION_SOURCE_IP hashes port 4500, the source port
        the responder sees.  Left on port 500, the CHILD SAs would carry ESP in UDP from or to port 500,
        which 2.23 forbids ("UDP encapsulation MUST NOT be done on port 500").  An endpoint bound to
        another port (a test's high port, which serves no 4500) sends from that port, to 4500 as asked,
        with the marker, and hashes that port.
        """
        if isinstance(remote, str):
            remote = (remote, IKE_PORT)
        elif not (isinstance(remote, (tuple, list)) and len(remote) == 2):
            raise ConfigError(f"remote must be an IP address or an (address, port) pair, got {remote!r}",
                              field="remote", value=remote)
        remote = udp_endpoint(remote[0], remote[1], "remote")
        sa = IkeSa(config or self.config, initiator=True, local=(self.local_addr, self.port_towards(remote[1])),
                   remote=remote, rng=self.rng, now=now)
        sa._dirty = self._dirty
        sa.initiate(now)
        # RFC 7296 2.4: INITIAL_CONTACT says "the only IKE SA with you"; the IKE SA looks at its siblings when
        # it sends IKE_AUTH, and leaves the notify out if another one with that peer is not closed
        sa._init_state["siblings"] = self.sas
        self.sas[sa.spi_i] = sa
        self._collect(sa)
        return sa

    def port_towards(self, remote_port: int) -> int:
        """Our port for an IKE SA we start towards ``remote_port``: 4500 towards 4500 when we serve 500 and
        4500 (RFC 7296 2.23), else :attr:`port`."""
        return NAT_T_PORT if remote_port == NAT_T_PORT and self.port == IKE_PORT else self.port

    def all_sas(self) -> list[IkeSa]:
        return list(self.sas.values())

    def half_open_count(self) -> int:
        """Responder IKE SAs that answered IKE_SA_INIT and wait for IKE_AUTH (what cookies limit, RFC 7296 2.6).

        Counted over the SAs made since the last count and those still half-open then, not over
        :attr:`half_open`, which keeps established SAs until :meth:`handle_timer` runs.
        """
        live: set[IkeSa] = set()
        count = 0
        for sa in self._maybe_half_open:  # a loop, as in payloads.encode_chain
            if sa.state == State.INIT_DONE:
                live.add(sa)
                count += 1
            elif sa.state == State.IDLE:
                live.add(sa)
        self._maybe_half_open = live  # a responder SA never goes back to IDLE or INIT_DONE
        return count

    def receive(self, datagram: Datagram, now: float) -> None:
        """Route one received datagram (to our address) to its IKE SA."""
        try:
            if datagram.payload.__class__ is not bytes:  # a str or None would be dropped below, saying nothing
                _check_payload(datagram)
            data = unframe(datagram)
        except (AttributeError, TypeError, IndexError):  # checked only when it fails: this runs per packet
            if not isinstance(datagram, Datagram):
                raise ConfigError(f"receive: datagram must be an ikelab Datagram (payload, src, dst), not "
                                  f"{type(datagram).__name__} {datagram!r:.40}", field="datagram",
                                  value=datagram) from None
            address_pair(datagram.src, "datagram.src")  # each raises a ConfigError naming what is not a pair
            address_pair(datagram.dst, "datagram.dst")
            raise
        if data is None:
            return
        try:
            # read once (RFC 7296 3.1): the IKE SA and the decoder find this header again for these bytes
            header = decode_header(data)
        except IkelabError:  # another version, a wrong Length: routed all the same, the IKE SA says what is wrong
            try:
                header = decode_header(data, check_version=False, check_length=False)
            except IkelabError:  # fewer than 28 octets: no header to route by
                return
        spi_i, spi_r, is_init_flag = header.spi_i, header.spi_r, header.flags & FLAG_I
        sa = self.sas.get(spi_i if not is_init_flag else spi_r)
        if sa is None and is_init_flag and spi_r == b"\x00" * 8:
            own = self.sas.get(spi_i)
            if own is not None and own.initiator:  # our own IKE_SA_INIT, come back to us: no peer answers there
                self._events.append(ev.MessageDropped(now, "responder", "our own IKE_SA_INIT request came back (the "
                                                      "peer address is one of ours, with no other IKE peer on its "
                                                      "port): not answered", len(data)))
                return
            if spi_i == b"\x00" * 8:  # RFC 7296 3.1: SPIi "MUST NOT be zero"; no IKE SA can be named by it
                self._events.append(ev.MessageDropped(now, "responder", "IKE_SA_INIT request with a zero initiator's "
                                                      "SPI (RFC 7296 3.1: it MUST NOT be zero): not answered",
                                                      len(data)))
                return
            key = (spi_i, datagram.src[0], datagram.src[1])
            sa = self.half_open.get(key)
            if sa is None or sa.state == State.CLOSED:
                if sa is not None:  # refused before (INVALID_KE_PAYLOAD...): no longer filed, kept nowhere else
                    self._maybe_half_open.discard(sa)
                made = self._new_responder(data, datagram, now)
                if made is None:
                    return
                sa, msg = made
                sa.receive(data, now, src=datagram.src, dst=datagram.dst, decoded=msg)
                self._collect(sa)
                if sa.state == State.CLOSED and self.forgets_closed:
                    # refused (INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN...): a long-running peer keeps no state
                    # (RFC 7296 2.21.1); a CLOSED SA has no timer, so handle_timer might never come to prune it
                    del self.half_open[key]
                    self._maybe_half_open.discard(sa)
                return
        if sa is None:
            return
        sa.receive(data, now, src=datagram.src, dst=datagram.dst)
        if sa.peer_initial_contact:
            self._collect(sa)  # the new IKE SA's events (AUTH, established) before the deletions they cause
            self._initial_contact(sa, now)
        self._collect(sa)

    def _initial_contact(self, sa: IkeSa, now: float) -> None:
        """The peer of ``sa`` said N(INITIAL_CONTACT): it holds no other IKE SA with us, so ours with the same
        authenticated identity are stale (after a crash or a reboot) and go now, without a DELETE that nobody
        would understand, rather than when their liveness checks fail (RFC 7296 2.4)."""
        sa.peer_initial_contact = False
        if sa.state != State.ESTABLISHED or sa.remote_identity is None:
            return
        who = (sa.config.local_id, int(sa.remote_identity.id_type), bytes(sa.remote_identity.data))
        reason = (f"the peer said INITIAL_CONTACT in the new IKE SA {sa.spi_i.hex()}/{sa.spi_r.hex()}: "
                  "it no longer holds this one (RFC 7296 2.4)")
        stale = [other for other in self.sas.values()
                 if other is not sa and other.state != State.CLOSED and other.remote_identity is not None
                 and (other.config.local_id, int(other.remote_identity.id_type),
                      bytes(other.remote_identity.data)) == who]
        for other in stale:
            if other.replaced_by in stale:  # its successor goes too: nothing to hand over to it
                other.replaced_by = None
            other._close(now, reason)
            self._collect(other)

    def _new_responder(self, data: bytes, datagram: Datagram, now: float) -> tuple[IkeSa, Any] | None:
        """A responder IKE SA for a new IKE_SA_INIT request, with the decoded request; None if refused."""
        try:
            msg = wirefmt.decode(data)
        except UnsupportedCriticalPayloadError as exc:
            self._stateless_error(data, datagram, now, NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD,
                                  bytes([exc.payload_type & 0xFF]), str(exc))
            return None
        except ParseError as exc:
            if exc.field == "version" and data[17] >> 4 > 2:
                # RFC 7296 2.5: answer with the highest version we support, unprotected
                self._stateless_error(data, datagram, now, NotifyType.INVALID_MAJOR_VERSION, b"\x20", str(exc))
            else:
                self._stateless_error(data, datagram, now, NotifyType.INVALID_SYNTAX, b"", str(exc))
            return None
        except IkelabError:
            return None
        if msg.exchange != ExchangeType.IKE_SA_INIT or msg.is_response or msg.message_id != 0:
            return None
        threshold = self.config.cookie_threshold
        if threshold is not None and self.half_open_count() >= int(threshold):
            ni = wirefmt.nonce_of(msg)
            self._renew_secret(now)
            expected = make_cookie(self._secret, self._secret_version, ni or b"", datagram.src[0], msg.spi_i)
            got = wirefmt.cookie_of(msg)
            if got is not None and self._previous_secret is not None \
                    and got[:4] == self._previous_secret[0].to_bytes(4, "big"):
                old_version, old_secret = self._previous_secret  # made just before the secret changed
                valid = hmac.compare_digest(got, make_cookie(old_secret, old_version, ni or b"", datagram.src[0],
                                                             msg.spi_i))
            else:
                valid = got is not None and hmac.compare_digest(got, expected)
            if not valid:
                reply = wirefmt.message(msg.spi_i, b"\x00" * 8, ExchangeType.IKE_SA_INIT, False, True, 0,
                                        [wirefmt.notify(NotifyType.COOKIE, data=expected)])
                out = wirefmt.encode(reply)
                self._out.append(frame(out, datagram.dst, datagram.src))
                self._events.append(ev.MessageSent(now, "responder", "IKE_SA_INIT", 0, True,
                                                   wirefmt.summary(reply), len(out), datagram.dst, datagram.src))
                return None
        sa = IkeSa(self.config, initiator=False, local=(datagram.dst[0], datagram.dst[1]),
                   remote=(datagram.src[0], datagram.src[1]), rng=self.rng, now=now)
        sa.spi_i = msg.spi_i
        sa._dirty = self._dirty
        sa.pools = self.pools
        self.half_open[(msg.spi_i, datagram.src[0], datagram.src[1])] = sa
        self._maybe_half_open.add(sa)
        return sa, msg

    def _renew_secret(self, now: float) -> None:
        """A new cookie secret once the current one is COOKIE_SECRET_LIFETIME old (RFC 7296 2.6)."""
        if self._secret_since is None:
            self._secret_since = now
        elif now - self._secret_since >= COOKIE_SECRET_LIFETIME:
            fresh = now - self._secret_since < 2 * COOKIE_SECRET_LIFETIME  # else the old one is too old to keep
            self._previous_secret = (self._secret_version, self._secret) if fresh else None
            self._secret = self.rng.random_bytes(32)
            self._secret_version += 1
            self._secret_since = now

    def _stateless_error(self, data: bytes, datagram: Datagram, now: float, notify: NotifyType, ndata: bytes,
                         reason: str) -> None:
        """Answer a bad IKE_SA_INIT request with an unprotected error Notify, keeping no state (2.21.1)."""
        if len(data) < 28 or data[18] != ExchangeType.IKE_SA_INIT or data[19] & 0x28 != 0x08 \
                or data[20:24] != bytes(4) or data[8:16] != bytes(8) or data[0:8] == bytes(8):
            return
        reply = wirefmt.message(bytes(data[0:8]), b"\x00" * 8, ExchangeType.IKE_SA_INIT, False, True, 0,
                                [wirefmt.notify(notify, data=ndata)])
        out = wirefmt.encode(reply)
        self._out.append(frame(out, datagram.dst, datagram.src))
        self._events.append(ev.MessageSent(now, "responder", "IKE_SA_INIT", 0, True, wirefmt.summary(reply),
                                           len(out), datagram.dst, datagram.src))
        self._events.append(ev.Failure(now, "responder", notify.name, reason, exchange="IKE_SA_INIT"))

    def forget_closed(self, now: float | None = None) -> int:
        """Drop CLOSED IKE SAs (kept until then so that a lab can show them); returns how many.

        With ``now``, only those whose :meth:`IkeSa.forget_at` has come.
        """
        closed = [spi for spi, sa in self.sas.items() if sa.state == State.CLOSED
                  and (now is None or sa.forget_at() <= now)]
        for spi in closed:
            del self.sas[spi]
        for key in [k for k, sa in self.half_open.items() if sa.state == State.CLOSED]:
            self._maybe_half_open.discard(self.half_open.pop(key))
        return len(closed)

    def _collect(self, sa: IkeSa) -> None:
        sa._dirty = self._dirty
        self._dirty.discard(sa)
        spi = sa.local_spi
        if spi != b"\x00" * 8:
            self.sas[spi] = sa
        self._out.extend(sa.pop_datagrams())
        self._events.extend(sa.pop_events())
        while sa.spawned:
            spawned, sa.spawned = sa.spawned, ()
            for new in spawned:
                self.sas[new.local_spi] = new
                self._collect(new)

    def get_timer(self) -> float | None:
        times = [t for t in (sa.get_timer() for sa in self.sas.values()) if t is not None]
        if self.forgets_closed:
            times += [sa.forget_at() for sa in self.sas.values() if sa.state == State.CLOSED]
        times += [t for t in (sa.get_timer() for sa in self.half_open.values()) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        if now.__class__ is not float and now.__class__ is not int:  # a str, None...: ConfigError naming now
            check_seconds(now, "now")
        for sa in list(self.sas.values()) + list(self.half_open.values()):
            t = sa.get_timer()
            if t is not None and t <= now:
                sa.handle_timer(now)
            self._collect(sa)
        for key, sa in list(self.half_open.items()):
            if sa.state != State.INIT_DONE:
                del self.half_open[key]
                self._maybe_half_open.discard(sa)
        if self.forgets_closed:
            self.forget_closed(now)

    def _collect_all(self) -> None:
        while self._dirty:
            self._collect(self._dirty.pop())

    def pop_datagrams(self) -> list[Datagram]:
        """Datagrams to send, from every IKE SA (including after direct calls on an SA)."""
        if self._dirty:  # usually empty: no call then
            self._collect_all()
        out, self._out = self._out, []
        return out

    def pop_events(self) -> list[ev.Event]:
        if self._dirty:
            self._collect_all()
        out, self._events = self._events, []
        return out


__all__ = ["IkeEndpoint"]
