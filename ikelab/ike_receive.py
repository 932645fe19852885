"""What one received IKE message goes through before its exchange handler (RFC 7296 2.3, 2.21, 2.23).

:meth:`Receiving.receive` is the ``receive(data, now)`` of :class:`ikelab.ike.IkeSa` (a mixin, like the
exchanges beside it).  In order, a datagram is:

* decoded as far as the keys allow: the header of ``HDR, SK {...}``, all of IKE_SA_INIT;
* checked against this IKE SA: its SPIs, the I flag of the other role, IKE fragments only if negotiated;
* decrypted and its ICV checked; a bad ICV, or an SK payload whose ICV cannot even be checked (too short,
  a partial CBC block), is dropped unanswered and changes nothing (2.21.3, 2.21.4), a good one with a malformed
  inside is answered with INVALID_SYNTAX or UNSUPPORTED_CRITICAL_PAYLOAD (a request; a response is dropped);
* matched to the window of size 1 (2.3): a response to our outstanding request, or the peer's next
  request; a retransmitted request gets the cached response again and is never processed twice;
* looked up in :data:`ikelab.state.TRANSITIONS`; a (state, input) pair outside the table is rejected;
* handed to its exchange's handler; just before, the SA follows the peer's address if it moved (2.23:
  its ICV verified and its (state, input) pair is legal; never for IKE_SA_INIT).

Every drop is a :class:`ikelab.events.MessageDropped` event saying why.
"""

from __future__ import annotations

from typing import Any

from . import events as ev
from . import exchanges_wire as wirefmt
from . import message as _m
from .constants import ExchangeType, NAT_T_PORT, NotifyType, PayloadType
from .errors import ConfigError, IkelabError, IntegrityError, UnsupportedCriticalPayloadError
from .exchanges_common import readdressed, unframe
from .payloads import SK, SKF
from .sk import unseal
from .state import TRANSITIONS, Input, State

_SK_TYPES = (PayloadType.SK, PayloadType.SKF)
_SKF = int(PayloadType.SKF)  # a plain int: an enum member's class attribute costs a lookup per message
#: States in which an unprotected IKE_SA_INIT request or response still belongs to the SA's own IKE_SA_INIT exchange
_INIT_REQUEST_STATES = frozenset((State.IDLE, State.INIT_DONE))  # the first request, and its retransmissions
_INIT_RESPONSE_STATES = frozenset((State.INIT_SENT,))
#: The protected exchanges whose requests this engine answers (any other exchange type is dropped)
_ANSWERED_EXCHANGES = frozenset((ExchangeType.IKE_AUTH, ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL))


def address_pair(value: Any, field: str) -> tuple[str, int]:
    """``(address, port)`` as (str, int), or ConfigError naming ``field`` (a bare "10.0.0.1" is not a pair, nor is
    True a port, and 500.5 is not truncated)."""
    try:
        if isinstance(value, (str, bytes, bytearray)) or len(value) != 2:
            raise TypeError
        port = value[1]
        if port.__class__ is bool or (isinstance(port, float) and not port.is_integer()):
            raise TypeError
        return str(value[0]), int(port)
    except (TypeError, ValueError, KeyError):
        raise ConfigError(f"{field} must be an (address, port) pair such as ('10.0.0.1', 500), not {value!r:.60}",
                          field=field, value=value) from None


class Receiving:
    """The receive path of :class:`ikelab.ike.IkeSa` (a mixin: the state it reads is the IKE SA's)."""

    __slots__ = ()

    def receive(self, data: bytes, now: float, *, src: tuple[str, int] | None = None,
                dst: tuple[str, int] | None = None, decoded: Any = None) -> None:
        """Process one IKE message (marker already removed) received at ``now`` from ``src``.

        ``decoded`` may carry ``data`` already decoded without keys (the endpoint
        decodes a new IKE_SA_INIT request once to route it; no need to do it twice).
        The header the endpoint read to route ``data`` is not read again either
        (:data:`ikelab.message._LAST_HEADER`).
        """
        self._reply_to = None
        if src is not None:
            try:
                if src.__class__ is not tuple or src[1].__class__ is not int or (  # a few tests per packet
                        dst is not None and (dst.__class__ is not tuple or dst[1].__class__ is not int)):
                    src, dst = address_pair(src, "src"), None if dst is None else address_pair(dst, "dst")
                here = self.local if dst is None else (str(dst[0]), int(dst[1]))
                there = (str(src[0]), int(src[1]))
            except (TypeError, IndexError, KeyError):  # a pair too short or not indexable
                address_pair(src, "src"), None if dst is None else address_pair(dst, "dst")
                raise
            if (here, there) != (self.local, self.remote):
                self._reply_to = (here, there)
        if self.state == State.CLOSED:
            self._answer_after_close(data, now)
            return
        msg = decoded
        try:
            if msg is None:
                msg = _m.decode_header(data)
            # HDR, SK {...}: the header is all we need before the keys (decoded once, with them, below)
            if msg.__class__ is _m.Header and msg.next_payload not in _SK_TYPES:
                msg = wirefmt.decode(data)
        except IkelabError as exc:
            self._drop(now, f"undecodable: {exc}", data)
            return
        if not self._spis_match(msg):
            self._drop(now, "SPIs do not belong to this IKE SA", data)
            return
        if msg.is_initiator == self.initiator:
            self._drop(now, "I flag shows the message came from our own role", data)
            return
        is_fragment = msg.__class__ is _m.Header and msg.next_payload == _SKF
        if is_fragment and not self.fragmentation:
            # RFC 7383 2.5: fragments only after both peers sent IKEV2_FRAGMENTATION_SUPPORTED; taken as a
            # whole message, fragment 1 of n would read as a request with no payloads
            self._drop(now, "an IKE fragment (SKF, RFC 7383), but IKE fragmentation was not negotiated", data)
            return
        if isinstance(msg, _m.Header) or wirefmt.is_protected(msg):
            if self.keys is None:
                self._drop(now, "protected message before keys exist", data)
                return
            try:
                msg = wirefmt.decode(data, crypto=self._crypto(sending=False))
            except IntegrityError:
                self._drop(now, "ICV does not verify (RFC 7296 2.21.3: discarded)", data)
                return
            except UnsupportedCriticalPayloadError as exc:
                # the ICV was good: answer a new request with UNSUPPORTED_CRITICAL_PAYLOAD (RFC 7296 2.5)
                self._answer_undecodable(msg, now, is_fragment, NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD,
                                         bytes([exc.payload_type & 0xFF]))
                self._drop(now, f"unsupported critical payload: {exc}", data)
                return
            except IkelabError as exc:
                if not self._icv_verifies(data):
                    # framing that no ICV covers (an SK body too short for IV and ICV, a partial CBC block):
                    # anyone can forge it, so it must neither be answered nor consume a Message ID (2.21.3, 2.21.4)
                    self._drop(now, f"SK payload unusable before its ICV (RFC 7296 2.21.3: discarded): {exc}", data)
                    return
                # the ICV was good, the inside is malformed: after authentication "all requests having
                # errors MUST result in a response" (RFC 7296 2.21.3), INVALID_SYNTAX (3.10.1)
                self._answer_undecodable(msg, now, is_fragment, NotifyType.INVALID_SYNTAX, b"")
                self._drop(now, f"undecodable inside SK: {exc}", data)
                return
        elif msg.exchange != ExchangeType.IKE_SA_INIT:
            self._drop(now, f"unprotected {wirefmt.exchange_name(msg.exchange)} message", data)
            return
        elif self.state not in (_INIT_RESPONSE_STATES if msg.is_response else _INIT_REQUEST_STATES):
            # anyone can forge an unprotected message: past IKE_SA_INIT it must neither bring a cached response
            # back (a reflector) nor count as a sign of life (RFC 7296 2.4: only protected messages do)
            self._drop(now, f"unprotected IKE_SA_INIT message in state {self.state.value}", data)
            return
        if msg.is_response:
            p = self._pending
            if p is None or p.message_id != msg.message_id or p.exchange != msg.exchange:
                self._drop(now, self._unexpected_response(msg), data)
                return
        else:
            if self._is_retransmission(msg):
                if is_fragment and msg.payloads[-1].fragment_number != 1:
                    self._drop(now, "a fragment of a request already answered: only its fragment 1 brings the "
                                    "response again (RFC 7383 2.6.1)", data)
                    return
                self._resend_response(now)
                return
            if msg.message_id != self._peer_next_id:
                self._drop(now, f"request message ID {msg.message_id}, expected {self._peer_next_id}", data)
                return
        exchange = msg.exchange  # a decoded member's _name_ is what exchange_name gives it, without the call
        exchange = exchange._name_ if exchange.__class__ is ExchangeType else wirefmt.exchange_name(exchange)
        inp = Input.for_message(exchange, msg.is_response)
        if inp is None:
            self._drop(now, f"exchange {msg.exchange} not supported", data)
            return
        size = len(data)
        if is_fragment:
            whole = self._take_fragment(msg, data, now)
            if whole is None:  # more fragments to come
                self.last_received = now
                return
            msg, size = whole
        elif self._fragments is not None:  # a whole message: pieces kept for one in its direction are stale
            self._forget_fragments(msg.is_response)
        self.last_received = now
        self._emit(ev.MessageReceived(now, self.side, exchange, msg.message_id,
                                      msg.is_response, ev.Unread(msg), size,
                                      src or self.remote, dst or self.local))
        if (self.state, inp) not in TRANSITIONS:
            self._reject(msg, inp, now)
            return
        if src is not None and msg.exchange != ExchangeType.IKE_SA_INIT:
            self._follow_peer(src, dst, now)
        answered = self._cached_response
        try:
            if msg.is_response:
                pending, self._pending = self._pending, None
                self._dispatch(inp, now, msg=msg, raw=data, pending=pending)
            else:
                self._dispatch(inp, now, msg=msg, raw=data)
        except IkelabError as exc:
            # an authenticated message the handler could not use: report it; answer a request with
            # INVALID_SYNTAX (RFC 7296 2.21.2) so that the peer's window moves on
            notify = getattr(exc, "notify_type", None) or "INVALID_SYNTAX"
            # a response that leaves IKE_SA_INIT or IKE_AUTH unfinished, with no request left to wait for,
            # ends the IKE SA (as an unusable KE value does) rather than leaving it stuck without a timer
            stuck = msg.is_response and self._pending is None and self.state in (State.INIT_SENT, State.AUTH_SENT)
            self._emit(ev.Failure(now, self.side, notify, f"{inp.value}: {exc}", exchange=exchange, fatal=stuck))
            if stuck:
                self._close(now, f"{notify}: {exc}")
            if not msg.is_response and self._cached_response is answered and self.state != State.CLOSED:
                self._respond(msg, now, [wirefmt.notify(NotifyType.INVALID_SYNTAX)])
        self._pump(now)

    def _unexpected_response(self, msg: Any) -> str:
        """Why a response is dropped: the window (RFC 7296 2.3) expects the outstanding request's ID and exchange."""
        got = f"unexpected response message ID {msg.message_id} ({wirefmt.exchange_name(msg.exchange)})"
        p = self._pending
        if p is None:
            return f"{got}: no request of ours is outstanding (RFC 7296 2.3)"
        return (f"{got}: our outstanding request is message ID {p.message_id} "
                f"({wirefmt.exchange_name(p.exchange)}) (RFC 7296 2.3)")

    def _answer_undecodable(self, header: Any, now: float, is_fragment: bool, notify: NotifyType, data: bytes) -> None:
        """Answer a protected request whose ICV is good but whose inside cannot be used.

        A new request gets ``notify``; a retransmission of one already answered gets the cached response
        again (2.3: its answer may have been lost), as a request that decodes does.
        """
        if header.is_response or is_fragment or header.exchange not in _ANSWERED_EXCHANGES:
            return
        if self._is_retransmission(header):
            self._resend_response(now)
        elif header.message_id == self._peer_next_id:
            self._respond(header, now, [wirefmt.notify(notify, data=data)])
            self._emit(ev.Failure(now, self.side, notify.name, "a request that could not be decoded",
                                  exchange=wirefmt.exchange_name(header.exchange)))

    def _icv_verifies(self, data: bytes) -> bool:
        """True when the SK or SKF payload ending ``data`` has an ICV that verifies (RFC 7296 3.14, RFC 7383 2.5).

        Called only after decoding ``data`` failed, to tell a malformed inside (the peer's, answered, 2.21.3)
        from a failure before the ICV was checked (anyone's, discarded: 2.21.3 answers only what passed it).
        """
        try:
            outer = _m.decode(data)  # the SK or SKF payload stays opaque
            last = outer.payloads[-1] if outer.payloads else None
            if not isinstance(last, (SK, SKF)):
                return False
            body = last.encrypted or b""
            start = len(data) - len(body)
            unseal(self._crypto(sending=False).for_message(outer.is_initiator), data[:start], body, start)
        except IkelabError:
            return False
        return True

    def _answer_after_close(self, data: bytes, now: float) -> None:
        """A closed SA still answers a retransmission of the request that closed it (its response was lost)."""
        if self.keys is not None and self._cached_response is not None:
            try:
                msg = wirefmt.decode(data, crypto=self._crypto(sending=False))
            except IkelabError:
                msg = None
            last = msg.payloads[-1] if msg is not None and msg.payloads else None
            # only what the ICV covers
            if (isinstance(last, (SK, SKF)) and not msg.is_response and self._spis_match(msg)
                    and self._is_retransmission(msg)):
                if isinstance(last, SKF) and last.fragment_number != 1:
                    self._drop(now, "a fragment of a request already answered: only its fragment 1 brings the "
                                    "response again (RFC 7383 2.6.1)", data)
                    return
                self._resend_response(now)
                return
        self._drop(now, "IKE SA is closed", data)

    def _is_retransmission(self, msg: Any) -> bool:
        """``msg`` (a request) is the one whose response is cached: same Message ID, same exchange (2.3)."""
        cached = self._cached_response
        return cached is not None and msg.message_id == cached.message_id and msg.exchange == cached.exchange

    def _resend_response(self, now: float) -> None:
        """The cached response again, toward where the retransmitted request came from (2.3, 2.11)."""
        cached = self._cached_response
        assert cached is not None  # callers ask _is_retransmission first
        self._transmit(self._toward_sender(cached.datagram), now, cached.exchange, cached.message_id, True,
                       self._cached_summary(cached), retransmission=True)

    def _cached_summary(self, cached: Any) -> str:
        """The RFC 7296 notation of the cached response, read back from its datagram with our keys.

        The IKE SA keeps the bytes it sent, not the message, so the text is made only for a retransmission.
        """
        if cached.datagram.__class__ is tuple:
            return ""  # IKE fragments: _transmit names each one HDR, SKF(n/total)
        data = unframe(cached.datagram)
        try:
            crypto = None if cached.exchange == ExchangeType.IKE_SA_INIT else self._crypto(sending=True)
            return wirefmt.summary(wirefmt.decode(data, crypto=crypto))
        except IkelabError:  # a summary must never stop a retransmission
            return ""

    def _toward_sender(self, dgram: Any) -> Any:
        """A response, addressed to where the request being handled came from (RFC 7296 2.11)."""
        return dgram if self._reply_to is None else readdressed(dgram, *self._reply_to)

    def _spis_match(self, msg: Any) -> bool:
        if msg.exchange == ExchangeType.IKE_SA_INIT and self.state in (State.IDLE, State.INIT_SENT, State.INIT_DONE):
            return msg.spi_i == self.spi_i and (
                self.state != State.INIT_DONE or msg.spi_r in (b"\x00" * 8, self.spi_r))
        return msg.spi_i == self.spi_i and msg.spi_r == self.spi_r

    def _follow_peer(self, src: tuple[str, int], dst: tuple[str, int] | None, now: float) -> None:
        """Talk to the peer where a validated message came from (RFC 7296 2.23, port 4500 after NAT-T).

        Not when we are behind the NAT: there "a host ... SHOULD NOT do this type of dynamic address update",
        as one forged-source packet would cut the connection (each response still goes back to its request's
        source, 2.11).  The transport-mode CHILD SAs whose selectors hold the peer's observed address (2.23.1)
        follow it too, and PeerMoved names them.
        """
        if not self.nat_local:
            there = (str(src[0]), int(src[1]))
            if there != self.remote and self.state == State.ESTABLISHED:
                moved = self._nat_selectors_moved(self.remote[0], there[0]) if there[0] != self.remote[0] else ()
                self._emit(ev.PeerMoved(now, self.side, self.spi_i, self.spi_r, self.remote, there, moved))
            self.remote = there
        if dst is not None and int(dst[1]) == NAT_T_PORT:
            self.local = (self.local[0], NAT_T_PORT)

    def _reject(self, msg: Any, inp: Input, now: float) -> None:
        """(state, input) not in the table: answer protected requests with INVALID_SYNTAX, drop the rest."""
        reason = f"{inp.value} is not legal in state {self.state.value}"
        if self.state == State.AUTH_SENT and not msg.is_response:
            # the peer sends requests only once it has answered our IKE_AUTH, so that answer is lost or late:
            # no answer now, the peer's retransmission comes when we have it (RFC 7296 2.3)
            self._emit(ev.MessageDropped(now, self.side, f"{reason}: our IKE_AUTH request's answer has not come yet"))
            return
        if not msg.is_response and wirefmt.is_protected_exchange(msg.exchange) and self.keys is not None:
            notify = NotifyType.INVALID_SYNTAX
            if inp == Input.CREATE_CHILD_SA_REQUEST and self.state in (State.REKEYED, State.DELETING):
                notify = NotifyType.TEMPORARY_FAILURE  # RFC 7296 2.25: the IKE SA is being rekeyed or closed
            self._respond(msg, now, [wirefmt.notify(notify)])
            self._emit(ev.Failure(now, self.side, notify.name, reason, exchange=wirefmt.exchange_name(msg.exchange)))
        else:
            self._emit(ev.MessageDropped(now, self.side, reason))

    def _drop(self, now: float, reason: str, data: bytes = b"") -> None:
        self._emit(ev.MessageDropped(now, self.side, reason, len(data)))


__all__ = ["Receiving"]
