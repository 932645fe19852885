"""IKE fragmentation in the engine (RFC 7383): a message too big for one datagram goes out in SKF pieces.

A certificate chain makes IKE_AUTH several kilobytes long.  Left to IP, such a
message travels as IP fragments, which many NATs and firewalls drop; the
handshake then times out with no error anywhere.  RFC 7383 lets IKE split the
message itself.  Each piece is an IKE message of its own, whose one payload is
an Encrypted Fragment (SKF): encrypted and integrity-protected on its own, so a
receiver checks every piece before keeping it (the codec is :mod:`ikelab.sk`).

* Negotiation (2.3): both peers send N(IKEV2_FRAGMENTATION_SUPPORTED) in
  IKE_SA_INIT (``IkeConfig.fragmentation``); the responder answers with it only
  when the initiator offered it.  An IKE SA made by rekeying keeps what its
  parent negotiated.
* Sending (2.5): a protected message whose IP datagram would be longer than
  ``IkeConfig.fragment_size`` (strongSwan's ``fragment_size``: the whole IP
  packet, 1280 octets by default) is split; a retransmission resends every
  piece.  IKE_SA_INIT is never fragmented: it has no keys to protect pieces with.
* Receiving (2.6): pieces are kept until all Total Fragments are in, then
  joined and processed as one message.  When a retransmission announces more
  fragments than before, the old pieces are dropped; fewer, the new piece is.
  Pieces that verify but do not join into payloads make a request answered as
  a whole malformed one is (INVALID_SYNTAX, RFC 7296 2.21.3); a response is dropped.
* A retransmitted request brings the cached response back only through its
  fragment 1 (2.6.1): otherwise n fragments would bring n responses.
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

from . import events as ev
from . import exchanges_wire as W
from .constants import ExchangeType, NAT_T_PORT, NON_ESP_MARKER, NotifyType
from .errors import ConfigError, IkelabError, UnsupportedCriticalPayloadError
from .exchanges_common import Datagram, frame
from .payloads import SKF
from .sk import fragment, reassemble

#: Octets of the IP and UDP headers in front of an IKE message (RFC 791, RFC 8200, RFC 768).
IP_UDP_HEADERS = {4: 20 + 8, 6: 40 + 8}
#: The most fragments kept for one message, and the most octets: a peer that did IKE_SA_INIT, but has proven
#: no identity yet, still cannot make us hold more (RFC 7383 5).  An IKE_AUTH with a certificate chain is a
#: few kilobytes.  ikelab sends a message that would need more pieces whole (in IP fragments).
MAX_FRAGMENTS = 64
MAX_MESSAGE_OCTETS = 65536


def max_message_size(fragment_size: int, local: tuple[str, int], remote: tuple[str, int]) -> int:
    """Octets of IKE message that fit in an IP packet of ``fragment_size`` octets.

    The IP and UDP headers come off, and on port 4500 the Non-ESP Marker
    (RFC 3948 2.2) too.
    """
    if fragment_size.__class__ is not int and (fragment_size.__class__ is bool or not isinstance(fragment_size, int)):
        raise ConfigError(f"max_message_size: fragment_size must be an int (octets of IP packet), not "
                          f"{type(fragment_size).__name__} {fragment_size!r:.40}", field="fragment_size",
                          value=fragment_size)
    try:
        if local.__class__ is not tuple or remote.__class__ is not tuple:  # the engine's are: one test each
            if isinstance(local, (str, bytes, bytearray)) or isinstance(remote, (str, bytes, bytearray)):
                raise TypeError  # "10.0.0.1"[1] is "0", not a port
        overhead = IP_UDP_HEADERS[ip_address(remote[0]).version]
        if local[1] == NAT_T_PORT or remote[1] == NAT_T_PORT:
            overhead += len(NON_ESP_MARKER)
    except (TypeError, KeyError, IndexError, ValueError):  # checked only when it fails: this runs per message
        for name, pair in (("remote", remote), ("local", local)):
            try:
                if isinstance(pair, (str, bytes, bytearray)) or len(pair) != 2:
                    raise TypeError
                ip_address(pair[0])
            except (TypeError, KeyError, IndexError, ValueError):
                raise ConfigError(f"max_message_size: {name} must be an (address, port) pair such as "
                                  f"('10.0.0.1', 500), not {pair!r:.60}", field=name, value=pair) from None
        raise
    return fragment_size - overhead


class Reassembly:
    """The verified fragments of one incoming message (RFC 7383 2.6), by Fragment Number."""

    __slots__ = ("message_id", "total", "pieces", "size", "max_octets")

    def __init__(self, message_id: int, max_octets: int | None = MAX_MESSAGE_OCTETS) -> None:
        self.message_id = message_id
        self.total = 0
        self.pieces: dict[int, Any] = {}
        self.size = 0  # octets of the kept fragment messages
        self.max_octets = max_octets  # None: no limit (a dissection of a capture, which is finite anyway)

    def add(self, msg: Any, skf: SKF, size: int) -> tuple[str, Any]:
        """Keep one decrypted fragment: ``("whole", message)``, ``("kept", None)`` or ``("ignored", why)``."""
        total = skf.total_fragments
        if total > MAX_FRAGMENTS and self.max_octets is not None:
            return "ignored", f"an IKE fragment of {total}: ikelab keeps at most {MAX_FRAGMENTS} per message"
        if total < self.total:
            return "ignored", (f"fragment {skf.fragment_number}/{total}, but this message now comes in "
                               f"{self.total} fragments (RFC 7383 2.6)")
        if total > self.total:  # the first piece, or a retransmission split anew into more pieces
            self.total, self.pieces, self.size = total, {}, 0
        if skf.fragment_number in self.pieces:
            return "ignored", f"fragment {skf.fragment_number}/{total} again (already kept)"
        if self.max_octets is not None and self.size + size > self.max_octets:
            return "ignored", (f"fragment {skf.fragment_number}/{total} would make the message longer than "
                               f"{self.max_octets} octets, ikelab's limit")
        self.pieces[skf.fragment_number] = msg
        self.size += size
        if len(self.pieces) < total:
            return "kept", None
        return "whole", reassemble(self.pieces.values())


class FragmentExchanges:
    """RFC 7383 for :class:`ikelab.ike.IkeSa` (a mixin): split what we send, join what we receive.

    The engine calls :meth:`_frame` only once fragmentation is negotiated, and
    :meth:`_take_fragment` for each SKF message whose ICV verified and whose
    Message ID it expects.
    """

    __slots__ = ()

    def _frame(self: Any, msg: Any, data: bytes) -> Datagram | tuple[Datagram, ...]:
        """The datagram for an encoded message, or its fragments' datagrams when it is too big (RFC 7383 2.5)."""
        if msg.exchange == ExchangeType.IKE_SA_INIT:
            return frame(data, self.local, self.remote)
        limit = max_message_size(self.config.fragment_size, self.local, self.remote)
        if len(data) <= limit:
            return frame(data, self.local, self.remote)
        pieces = fragment(msg, self._crypto(sending=True), limit)
        if len(pieces) > MAX_FRAGMENTS or sum(map(len, pieces)) > MAX_MESSAGE_OCTETS:
            # more than a receiver like ikelab keeps: IP fragments instead (a datagram still holds 65507 octets)
            return frame(data, self.local, self.remote)
        return tuple(frame(piece, self.local, self.remote) for piece in pieces)

    def _take_fragment(self: Any, msg: Any, data: bytes, now: float) -> tuple[Any, int] | None:
        """Keep a verified fragment; once every fragment is in, the joined message and the octets of all
        its fragments, else None (RFC 7383 2.6)."""
        skf = msg.payloads[-1]
        buffers: dict[bool, Reassembly] = self._fragments or {}
        buf = buffers.get(msg.is_response)
        if buf is None or buf.message_id != msg.message_id:  # a new message forgets the pieces of an older one
            buf = buffers[msg.is_response] = Reassembly(msg.message_id)
            self._fragments = buffers
        try:
            outcome, result = buf.add(msg, skf, len(data))
        except IkelabError as exc:  # verified pieces that do not join into payloads
            del buffers[msg.is_response]
            self._fragments = buffers or None
            # as for a whole request whose ICV is good: answered, so that the peer's window moves on
            # (RFC 7296 2.5 UNSUPPORTED_CRITICAL_PAYLOAD; 2.21.3 "all requests having errors MUST result in a
            # response", INVALID_SYNTAX); a response is only dropped
            if isinstance(exc, UnsupportedCriticalPayloadError):
                self._answer_undecodable(msg, now, False, NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD,
                                         bytes([exc.payload_type & 0xFF]))
            else:
                self._answer_undecodable(msg, now, False, NotifyType.INVALID_SYNTAX, b"")
            self._drop(now, f"the joined IKE fragments do not parse: {exc}", data)
            return None
        if outcome == "ignored":
            self._drop(now, result, data)
            return None
        self._emit(ev.FragmentReceived(now, self.side, W.exchange_name(msg.exchange), msg.message_id,
                                       msg.is_response, skf.fragment_number, skf.total_fragments, len(data)))
        if outcome == "kept":
            return None
        del buffers[msg.is_response]
        self._fragments = buffers or None
        return result, buf.size

    def _forget_fragments(self: Any, is_response: bool) -> None:
        """Drop the pieces kept for an incoming request (or response): a whole one came instead."""
        if self._fragments is not None:
            self._fragments.pop(is_response, None)
            self._fragments = self._fragments or None


__all__ = ["FragmentExchanges", "IP_UDP_HEADERS", "MAX_FRAGMENTS", "MAX_MESSAGE_OCTETS", "Reassembly",
           "max_message_size"]
