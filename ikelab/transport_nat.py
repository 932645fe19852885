"""Transport mode across a NAT (RFC 7296 2.23.1): the selectors name the addresses on each side of it.

A host behind a NAT offers its own (private) address in its traffic selectors, but a transport-mode SA
protects the packets between the two IKE hosts as each side sees them (RFC 4301 4.1, RFC 4303 3.1.1):
the responder sees the NAT's public address.  So the responder puts the IKE SA's observed address in
place of the offered one, narrows on that and answers with it; the initiator puts its own address back
before it checks the answer.  Each side keeps the selectors as offered in ``extra["original_ts"]``.
When the NAT maps the peer to a new address (2.23, NAT rebinding), the substituted selectors follow it, and so
does the offer of a request still waiting for its answer.
If policy refuses the substituted selectors, or they are not host to host, the CHILD SA falls back to
tunnel mode with the original selectors, as 2.23.1 describes (see :mod:`ikelab.exchanges_child`).
"""
from __future__ import annotations

from typing import Any

from . import exchanges_wire as W
from .ts import host_address
from .ts_negotiation import move_address, substitute_address


class TransportAcrossNat:
    """The 2.23.1 part of :class:`ikelab.exchanges_child.ChildExchanges` (a mixin of :class:`ikelab.ike.IkeSa`)."""

    __slots__ = ()  # IkeSa keeps its state in slots: no mixin may add a __dict__

    def _host_to_host(self: Any, ts_i: tuple[Any, ...], ts_r: tuple[Any, ...]) -> bool:
        """Can transport mode carry the selectors ``ts_i`` / ``ts_r`` (we respond)?

        A transport-mode SA protects packets between the two IKE hosts only (RFC 4301 4.1, RFC 4303 3.1.1),
        so each side's selectors must be that single host: its IKE address.  Across a NAT the offered host
        addresses were already replaced by the IKE SA's (RFC 7296 2.23.1); a single host left with another
        address was narrowed from a range, and is not where the packets come from.  strongSwan declines the
        same way, and the CHILD SA is then made in tunnel mode (RFC 7296 1.3.1).
        """
        for selectors, address in ((ts_i, host_address(self.remote[0])), (ts_r, host_address(self.local[0]))):
            for ts in selectors:
                if ts.start_addr != ts.end_addr or ts.start_addr != address:
                    return False
        return True

    def _nat_substituted(self: Any, tsi: tuple[Any, ...], tsr: tuple[Any, ...], *,
                         responder: bool) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """(TSi, TSr) with the IKE SA's addresses put in for the hosts behind a NAT (RFC 7296 2.23.1).

        Transport mode only.  The exchange responder puts the IKE SA's remote address in TSi when the
        initiator is behind a NAT and its local address in TSr when it is itself; the initiator, reading the
        answer, puts back its own address in TSi when it is behind the NAT and the address it sends to in TSr
        when the responder is.  Each side then holds the addresses its packets carry on its side of the NAT.
        """
        local, remote = self.local[0], self.remote[0]
        if self.nat_remote if responder else self.nat_local:
            tsi = substitute_address(tsi, remote if responder else local)
        if self.nat_local if responder else self.nat_remote:
            tsr = substitute_address(tsr, local if responder else remote)
        return tsi, tsr

    def _offered_after_move(self: Any, offered: tuple[Any, ...], sent_to: str) -> tuple[Any, ...]:
        """The remote selectors we offered to ``sent_to``, moved with the peer if it moved while our request was out.

        The answer is read with the IKE SA's address of now (substituted above), so the offer it narrows must name
        that address too: a NAT that rebinds between our request and its response (2.23) moves both.
        """
        return offered if sent_to == self.remote[0] else move_address(offered, sent_to, self.remote[0])

    def _nat_selectors_moved(self: Any, old: str,
                             new: str) -> tuple[tuple[bytes, tuple[str, ...], tuple[str, ...]], ...]:
        """The peer behind the NAT moved from ``old`` to ``new``: its substituted selectors follow (RFC 7296 2.23.1).

        Only the transport-mode CHILD SAs whose selectors were substituted across the NAT (they keep the
        original ones in ``extra["original_ts"]``): each single-host remote selector of ``old`` becomes ``new``,
        so that the SPD admits the packets the peer now sends from there (strongSwan updates its transport-mode
        policies the same way).  Tunnel-mode SAs, and selectors as the peer wrote them, stay.  Returns
        (spi_in, ts_local, ts_remote) as text for each CHILD SA changed, for the PeerMoved event.
        """
        moved = []
        for child in self.children.values():
            if child.mode != "transport" or "original_ts" not in child.extra:
                continue
            ts_remote = move_address(child.ts_remote, old, new)
            if ts_remote is not child.ts_remote:
                child.ts_remote = ts_remote
                moved.append((child.spi_in, W.ts_strings(child.ts_local), W.ts_strings(ts_remote)))
        return tuple(moved)


__all__ = ["TransportAcrossNat"]
