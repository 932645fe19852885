"""INFORMATIONAL: liveness checks, DELETE and error notifies (RFC 7296 1.4, 1.4.1, 2.4, 2.8.2).

::

    INFORMATIONAL:  HDR, SK {[N,] [D,] ...}   <->   HDR, SK {[N,] [D,] ...}

An empty request is a liveness check, answered empty.  A DELETE of CHILD SAs
is answered with the inbound SPIs of the pairs (1.4.1), except those we are
deleting ourselves or that reached their hard lifetime (2.8); a DELETE of the IKE SA with an empty response, after
which both peers forget the IKE SA and its CHILD SAs.
"""

from __future__ import annotations

from typing import Any

from . import events as ev
from . import exchanges_wire as W
from .constants import ExchangeType, NotifyType, ProtocolId
from .exchanges_common import ChildSa
from .state import Input, State


class InformationalExchanges:
    """Liveness checks and DELETE, both roles (a mixin of IkeSa)."""

    __slots__ = ()

    def start_liveness(self: Any, now: float) -> None:
        self._request(ExchangeType.INFORMATIONAL, [], now, "liveness")

    def start_delete_child(self: Any, now: float, *, spi: bytes, orphan: bool = False,
                           protocol: ProtocolId = ProtocolId.ESP) -> None:
        """DELETE the CHILD SA pair with inbound SPI ``spi`` (1.4.1); ``orphan``: one we no longer hold."""
        if orphan:
            self._request(ExchangeType.INFORMATIONAL, [W.delete(protocol, [spi])], now, "delete_orphan", spi=spi)
            return
        child = self.find_child(spi)
        if child is None or child.state == "DELETING":
            return
        child.state = "DELETING"
        self._request(ExchangeType.INFORMATIONAL, [W.delete(child.protocol, [child.spi_in])], now, "delete_child",
                      spi=child.spi_in)

    def start_delete_ike(self: Any, now: float, *, follow_rekey: bool = True) -> None:
        """``follow_rekey`` matters only while the DELETE waits its turn: see ``_hand_to``."""
        self._request(ExchangeType.INFORMATIONAL, [W.delete(ProtocolId.IKE)], now, "delete_ike")

    def _expire_child(self: Any, child: ChildSa, now: float) -> None:
        """``child`` reached its hard lifetime while another exchange holds the window (RFC 7296 2.3): it is
        gone here at once (2.8: each end enforces its own lifetimes; RFC 4301 4.4.2.1), and its DELETE (1.4.1)
        waits its turn, naming it by SPI.  Until that DELETE is answered, the peer's requests naming it are
        answered as for an SA we do not have: CHILD_SA_NOT_FOUND (2.25), a DELETE without it (1.4.1)."""
        self._remove_child(child, now, "hard lifetime expired (RFC 7296 2.8)")
        self._expired += ((child.spi_in, child.spi_out, int(child.protocol)),)
        self._act(Input.DELETE_CHILD, now, spi=child.spi_in, orphan=True, protocol=child.protocol)

    def _expired_child(self: Any, spi_out: bytes, protocol: int) -> bytes | None:
        """The inbound SPI of the CHILD SA gone at its hard lifetime that the peer names by ``spi_out``, or None."""
        return next((spi_in for spi_in, out, proto in self._expired if out == spi_out and proto == protocol), None)

    def _send_notify_request(self: Any, now: float, ntype: NotifyType) -> None:
        """A one-shot INFORMATIONAL with an error Notify (not retransmitted: the SA is being dropped)."""
        self._request(ExchangeType.INFORMATIONAL, [W.notify(ntype)], now, "notify")
        self._pending = None

    def on_informational_request(self: Any, now: float, *, msg: Any, raw: bytes) -> State | None:
        deletes = W.payloads(msg, "Delete")
        if any(int(d.protocol) == int(ProtocolId.IKE) for d in deletes):
            self._respond(msg, now, [])
            if self._collision is not None and self.replaced_by is None:
                # both peers rekeyed and the peer, whose new IKE SA survived, deletes this one before our own
                # rekey was answered (RFC 7296 2.8.2): its new IKE SA takes the CHILD SAs
                self._hand_to(now, self._settle_collision())
            reason = "rekeyed" if self.replaced_by is not None and not self.redundant else "deleted by peer"
            self._close(now, reason)
            return State.CLOSED
        error = W.first_error(msg)
        if error in ("AUTHENTICATION_FAILED", "INVALID_SYNTAX") and not deletes:
            self._respond(msg, now, [])
            self._fail(now, error, f"peer reported {error} in INFORMATIONAL", fatal=True)
            return State.CLOSED
        answer: dict[int, list[bytes]] = {}
        for d in deletes:
            for spi in d.spis:
                scope = [c for sa in self._child_holders() for c in sa.children.values()]
                child = next((c for c in scope if c.spi_out == bytes(spi) and int(c.protocol) == int(d.protocol)), None)
                if child is None:
                    gone = self._expired_child(bytes(spi), int(d.protocol))
                    if gone is None:
                        self._deleted_before_answer(bytes(spi))
                    else:  # gone at its hard lifetime: answered as deleted already (1.4.1), our DELETE not needed
                        self._expired = tuple(e for e in self._expired if e[0] != gone)
                        self._queue = tuple(q for q in self._queue if not (q[0] is Input.DELETE_CHILD
                                                                           and q[1].get("spi") == gone))
                    continue
                if child.state != "DELETING":
                    answer.setdefault(int(d.protocol), []).append(child.spi_in)
                old = self._rekey_undone_by(child)
                if old is None:
                    self._remove_child(child, now, "deleted by peer")
                    continue
                self._remove_child(child, now, f"deleted by peer, which undoes its rekey of CHILD SA "
                                               f"0x{old.spi_in.hex()}: that one stands (RFC 7296 2.8)")
                del old.extra["peer_rekeyed_to"]
                old.state = "INSTALLED"
        payloads = [W.delete(ProtocolId(p), spis) for p, spis in answer.items()]
        self._respond(msg, now, payloads)
        if not deletes and not W.notifies(msg):
            self._emit(ev.LivenessChecked(now, self.side, msg.message_id, True))
        return None

    def on_informational_response(self: Any, now: float, *, msg: Any, raw: bytes, pending: Any) -> State | None:
        if pending.kind == "liveness":
            self._emit(ev.LivenessChecked(now, self.side, msg.message_id, True))
        elif pending.kind == "delete_child":
            spi = pending.context.get("spi", b"")
            child = self.children.get(spi) or self._home().children.get(spi)
            if child is not None:
                self._remove_child(child, now, "deleted")
        elif pending.kind == "delete_ike":
            return self.on_delete_ike_response(now, msg=msg, raw=raw, pending=pending)
        elif pending.kind == "delete_orphan" and self._expired:
            spi = pending.context.get("spi", b"")
            self._expired = tuple(e for e in self._expired if e[0] != spi)
        return None

    def on_delete_ike_response(self: Any, now: float, *, msg: Any, raw: bytes, pending: Any) -> State | None:
        self._close(now, "rekeyed" if self.replaced_by is not None else "deleted")
        return State.CLOSED

    def on_ignored_response(self: Any, now: float, *, msg: Any, raw: bytes, pending: Any) -> State | None:
        return None

    def _deleted_before_answer(self: Any, spi: bytes) -> None:
        """The peer deletes a CHILD SA we do not know: maybe the one our open CREATE_CHILD_SA request
        makes, whose answer is still on its way (or lost).  Remember it for that answer."""
        for pending in self._making_child():
            pending.context["child"].setdefault("deleted", set()).add(spi)

    def _rekey_undone_by(self: Any, child: ChildSa) -> ChildSa | None:
        """The CHILD SA that the peer's rekey into ``child`` replaced, if deleting ``child`` undoes that rekey.

        We answered the rekey and keep the old CHILD SA until the peer deletes it; if the peer deletes the
        new one instead (it never had our answer, 2.18), the old one stands as before.
        """
        old = next((sa.children[child.rekey_of] for sa in self._child_holders() if child.rekey_of in sa.children),
                   None)
        if old is not None and old.state == "REKEYED" and old.extra.get("peer_rekeyed_to") == child.spi_in:
            return old
        return None


__all__ = ["InformationalExchanges"]
