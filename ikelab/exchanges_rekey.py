"""Rekeying the IKE SA with CREATE_CHILD_SA (RFC 7296 1.3.2, 2.8.2, 2.18, 2.25.2).

::

    rekey IKE SA:   HDR, SK {SA, Ni, KEi}   <->   HDR, SK {SA, Nr, KEr}

The new IKE SA's keys come from the old one's SK_d (2.18)::

    SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)

with the new SPIs in the proposals; its CHILD SAs move over and the peer that
started the rekey deletes the old IKE SA.  Both peers rekeying the IKE SA at
once is settled by the rule of 2.8.1 (2.8.2): each answers the other's
request as usual (2.25.2), so two new IKE SAs appear; the one made with the
lowest of the four nonces is deleted by its maker, and the maker of the other
one deletes the old IKE SA, whose CHILD SAs it takes.  A rekey refused, or
answered unusably, leaves the old IKE SA in use; the one its lifetime started is
tried again a few seconds later, until the hard lifetime (as charon does).
"""

from __future__ import annotations

from typing import Any

from . import dh as _dh
from . import events as ev
from . import exchanges_wire as W
from . import proposals as _props
from . import vip as _vip
from .constants import DhId, ExchangeType, NotifyType, lookup
from .errors import IkelabError, NegotiationError
from .exchanges_common import label as _name
from .exchanges_init import NONCE_LEN
from .state import TRANSITIONS, Input, State


#: our own requests on a CHILD SA: creating, rekeying or closing one (RFC 7296 2.25.1)
_CHILD_REQUESTS = ("create_child", "rekey_child", "delete_child", "delete_orphan")


class IkeRekeyExchanges:
    """The IKE SA's rekey, both roles, and the hand-over to its successor (a mixin of IkeSa)."""

    __slots__ = ()

    def start_rekey_ike(self: Any, now: float, *, group: Any = None, scheduled: bool = False) -> None:
        """``group``: the KE's group, when the peer asked for another than ours (INVALID_KE_PAYLOAD);
        ``scheduled``: started by the engine (the lifetime, 2.2's message IDs), not asked for by hand."""
        spi = self.rng.spi(8)
        ni = self.rng.random_bytes(NONCE_LEN)
        props = W.numbered(self._ike_proposals(spi), spi=spi)
        asked_again = group is not None
        if group is None:
            # RFC 7296 3.4: the KEi's group "MUST match a Diffie-Hellman group specified in a proposal in the SA
            # payload"; the IKE SA's own group if we still offer it (as strongSwan does), else the first offered
            group = self.suite.dh if int(self.suite.dh) in W.all_dh(props) else W.first_dh(props)
        group = lookup(DhId, group, field="group")
        key = _dh.group(group, allow_weak=self.config.allow_weak).generate(self.rng)
        payloads = [W.sa(props), W.nonce(ni), W.ke(group, key.public_bytes())]
        # asked_again: this request follows an INVALID_KE_PAYLOAD; a second one ends the exchange (RFC 7296 1.3)
        self._request(ExchangeType.CREATE_CHILD_SA, payloads, now, "rekey_ike", spi=spi, ni=ni, dh_key=key,
                      proposals=props, group=int(group), asked_again=asked_again, scheduled=scheduled)

    def _answer_rekey_ike(self: Any, now: float, msg: Any, offered: tuple[Any, ...]) -> State | None:
        ni, ke = W.nonce_of(msg), W.payload(msg, "KE")
        # RFC 7296 2.25.2: if we are rekeying this IKE SA too, answer as usual; the nonce rule of 2.8.2
        # decides which of the two new IKE SAs survives once our own request is answered
        collision = self._pending is not None and self._pending.kind == "rekey_ike"
        if self._pending is not None and self._pending.kind in _CHILD_REQUESTS:
            # RFC 7296 2.25.2: not while we are creating, rekeying or closing a CHILD SA of this IKE SA
            self._respond(msg, now, [W.notify(NotifyType.TEMPORARY_FAILURE)])
            return None
        if any(inp is Input.DELETE_IKE for inp, _ in self._queue):
            # RFC 7296 2.25.2: "a request to rekey an IKE SA that it is currently trying to close" gets
            # TEMPORARY_FAILURE.  Accepted, our queued DELETE of this IKE SA could overtake the answer, and the
            # peer, told to close the IKE SA it rekeys, forgets its rekey: it would end with no IKE SA, we with
            # the new one and every CHILD SA
            self._respond(msg, now, [W.notify(NotifyType.TEMPORARY_FAILURE)])
            return None
        bad_spi = next((bytes(p.spi) for p in offered if not _ike_spi(bytes(p.spi))), None)
        if bad_spi is not None:
            # RFC 7296 3.3.1: a proposal that rekeys the IKE SA carries the new SPIi, 8 octets; 3.1: never zero
            self._respond(msg, now, [W.notify(NotifyType.INVALID_SYNTAX)])
            self._fail(now, "INVALID_SYNTAX", f"IKE SA rekey refused: the offered SPI 0x{bad_spi.hex()} is no "
                       "IKE SPI (8 octets, not zero: RFC 7296 3.1, 3.3.1)", fatal=False)
            return None
        try:
            chosen = _props.select(offered, self._ike_proposals(), ke_group=W.ke_preference(ke))
            suite = _props.suite_of(chosen)
        except NegotiationError as exc:
            self._respond(msg, now, [W.notify(NotifyType.NO_PROPOSAL_CHOSEN)])
            self._fail(now, "NO_PROPOSAL_CHOSEN", f"IKE SA rekey refused: {exc}", fatal=False)
            return None
        if ke is None or int(ke.group) != int(suite.dh):
            self._respond(msg, now, [W.notify(NotifyType.INVALID_KE_PAYLOAD, data=int(suite.dh).to_bytes(2, "big"))])
            return None
        short = "missing" if ni is None else W.short_nonce(ni, suite.prf)
        if short:
            self._respond(msg, now, [W.notify(NotifyType.INVALID_SYNTAX)])
            self._fail(now, "INVALID_SYNTAX", f"IKE SA rekey refused: Ni is {short}", fatal=False)
            return None
        try:
            key = _dh.group(suite.dh, allow_weak=self.config.allow_weak).generate(self.rng)
            g_ir = key.exchange(bytes(ke.data))
        except IkelabError as exc:
            self._respond(msg, now, [W.notify(NotifyType.INVALID_SYNTAX)])
            self._fail(now, "INVALID_SYNTAX", f"bad KEi in IKE SA rekey: {exc}", fatal=False)
            return None
        spi_r = self.rng.spi(8)
        nr = self.rng.random_bytes(NONCE_LEN)
        self._respond(msg, now, [W.sa([chosen.with_spi(spi_r)]), W.nonce(nr), W.ke(suite.dh, key.public_bytes())])
        new = self._new_ike_sa(now, suite, chosen, initiator=False, spi_i=W.offered_spi(offered, chosen), spi_r=spi_r,
                               ni=ni, nr=nr, g_ir=g_ir)
        if collision:
            self._collision = new  # settled in _complete_rekey_ike
            new._rekeyed_from = self
            return None
        self._hand_to(now, new)
        return State.REKEYED

    def _new_ike_sa(self: Any, now: float, suite: Any, proposal: Any, *, initiator: bool, spi_i: bytes,
                    spi_r: bytes, ni: bytes, nr: bytes, g_ir: bytes) -> Any:
        """A new IKE SA keyed from this one's SK_d (RFC 7296 2.18), not yet holding the CHILD SAs."""
        new = type(self)(self.config, initiator=initiator, local=self.local, remote=self.remote, rng=self.rng,
                         now=now)
        new.state = State.ESTABLISHED
        new._dirty = self._dirty
        new.spi_i, new.spi_r, new.ni, new.nr = spi_i, spi_r, ni, nr
        new.suite, new.proposal = suite, proposal
        # what IKE_AUTH, NAT detection and IKE_SA_INIT's RFC 7383 notify found still holds: a rekey repeats none
        # of them (RFC 7296 2.18, 2.23)
        for attr in ("remote_identity", "local_auth_method", "remote_auth_method", "nat_detected", "nat_local",
                     "nat_remote", "fragmentation", "virtual_ips", "peer_virtual_ips", "pools"):
            setattr(new, attr, getattr(self, attr))
        new._derive_ike_keys(now, g_ir, rekey_sk_d=self.keys.sk_d, old_prf=self.suite.prf)
        new.established_at = now
        new._schedule_ike_lifetimes(now)
        new.last_received = now
        self.spawned += (new,)
        # the new SA's first events (its keys) are reported through the old SA, with the rekey
        for e in new.pop_events():
            self._emit(e)
        return new

    def _settle_collision(self: Any) -> Any:
        """Forget the colliding rekey of this IKE SA (2.8.2), once it is settled; returns its new IKE SA."""
        theirs, self._collision = self._collision, None
        if theirs is not None:
            theirs._rekeyed_from = None
        return theirs

    def _hand_to(self: Any, now: float, new: Any) -> None:
        """This IKE SA is replaced by ``new``: its CHILD SAs move over (RFC 7296 2.18).

        In a collision (2.8.2) ``new`` may be gone already.  Rekeyed in turn, it handed its CHILD SAs to its
        own successor, and so do we (the peer moved them along the same chain); deleted, it took them along.
        """
        heir = new._home()
        if heir.state == State.CLOSED:
            for child in list(self.children.values()):
                self._remove_child(child, now, "its new IKE SA, from colliding rekeys, was deleted (RFC 7296 2.8.2)")
        elif heir.children:  # the peer made CHILD SAs on it already
            heir.children.update(self.children)
            self.children = {}
        else:
            heir.children, self.children = self.children, {}
        self.replaced_by = new
        heir.child_retries, self.child_retries = heir.child_retries + self.child_retries, ()
        if self.peer_virtual_ips:  # the client keeps its addresses
            if heir.state == State.CLOSED:  # a colliding IKE SA already gone (RFC 7296 2.8.2): nobody keeps them
                _vip.release_each(self.pools, self.peer_virtual_ips, self)
            else:
                _vip.hand_over_each(self.pools, self.peer_virtual_ips, self, heir)
        self.rekeyed_at = now
        self.rekey_at = self.expire_at = None
        self._emit(ev.IkeSaRekeyed(now, self.side, self.spi_i, self.spi_r, new.spi_i, new.spi_r))
        # a DELETE asked for while the rekey was on its way ends the connection: it closes the new IKE SA too
        # (this one is deleted by the rekey itself), not only the SA it was asked of; one the hard lifetime
        # queued stays here, moot
        asked = tuple(q for q in self._queue if q[0] is Input.DELETE_IKE and q[1].get("follow_rekey", True))
        if asked:
            self._queue = tuple(q for q in self._queue if q not in asked)
            if (heir.state, Input.DELETE_IKE) in TRANSITIONS:
                heir._act(Input.DELETE_IKE, now)

    def _complete_rekey_ike(self: Any, now: float, msg: Any, ctx: dict[str, Any]) -> State | None:
        theirs = self._settle_collision()  # the peer's rekey of this SA, answered meanwhile
        error = W.first_error(msg)
        group = W.group_asked(msg, ctx["proposals"], ctx["group"])
        if group is not None and theirs is None and not ctx.get("asked_again"):
            # RFC 7296 1.3: ask again, with a KEi in the group named; once: a responder that names one group after
            # another would otherwise keep us asking
            self._fail(now, error, f"the responder asks for {_name(DhId(group))}: asking again with it",
                       fatal=False, exchange="CREATE_CHILD_SA")
            self._queue += ((Input.REKEY_IKE, {"group": group, "scheduled": ctx.get("scheduled", False)}),)
            return None
        if error is not None:
            self._fail(now, error, f"IKE SA rekey refused: {error}", fatal=False)
            if theirs is not None:  # the peer's new IKE SA stands alone; the peer deletes this one
                self._hand_to(now, theirs)
                return State.REKEYED
            self._rekey_again_later(now, error, ctx.get("scheduled", False))
            return None
        try:
            chosen = W.only_sa(msg)
            suite = _props.check_chosen(ctx["proposals"], chosen)
            ke, nr = W.payload(msg, "KE"), W.nonce_of(msg)
            # RFC 7296 1.3: the responder takes the group of our KEi or answers INVALID_KE_PAYLOAD; 3.1, 3.3.1:
            # the chosen proposal carries the new SPIr, 8 octets and not zero
            if (ke is None or nr is None or int(ke.group) != int(suite.dh) or int(suite.dh) != int(ctx["group"])
                    or not _ike_spi(bytes(chosen.spi))):
                raise NegotiationError("IKE SA rekey response without matching KEr, Nr or SPI",
                                       notify_type="INVALID_SYNTAX")
            short = W.short_nonce(nr, suite.prf)
            if short:
                raise NegotiationError(f"Nr is {short}", notify_type="INVALID_SYNTAX")
            g_ir = ctx["dh_key"].exchange(bytes(ke.data))
        except IkelabError as exc:
            self._fail(now, getattr(exc, "notify_type", None), f"IKE SA rekey failed: {exc}", fatal=False)
            if theirs is not None:
                self._hand_to(now, theirs)
                return State.REKEYED
            self._rekey_again_later(now, None, ctx.get("scheduled", False))
            return None
        ours = self._new_ike_sa(now, suite, chosen, initiator=True, spi_i=ctx["spi"], spi_r=bytes(chosen.spi),
                                ni=ctx["ni"], nr=nr, g_ir=g_ir)
        if theirs is not None and min(ours.ni, ours.nr, theirs.ni, theirs.nr) in (ours.ni, ours.nr):
            # RFC 7296 2.8.2: the new IKE SA made with the lowest of the four nonces is redundant and is
            # deleted by the peer that made it (us); the other peer made the survivor and deletes this one
            self._hand_to(now, theirs)
            ours.delete_ike(now)
            return State.REKEYED
        # ours survives (the peer deletes its redundant one, if any); we made it, so we delete this IKE SA
        if theirs is not None and theirs.state == State.ESTABLISHED:
            # the peer's new IKE SA only waits for the peer's DELETE; if that never comes (the peer lost our
            # answer, and with it that SA), it goes quietly after a while, as a replaced IKE SA does
            theirs.state, theirs.rekeyed_at, theirs.redundant = State.REKEYED, now, True
            # CHILD SA work that still comes back on it (a request we sent on it, refused with
            # TEMPORARY_FAILURE while the peer deletes it: 2.25) is asked for again on the survivor
            theirs.replaced_by = ours
            ours.child_retries, theirs.child_retries = ours.child_retries + theirs.child_retries, ()
        self._hand_to(now, ours)
        self._queue += ((Input.DELETE_IKE, {}),)
        return State.REKEYED

    def _rekey_again_later(self: Any, now: float, error: str | None, scheduled: bool) -> None:
        """Our rekey of this IKE SA was refused (``error``) or its answer was unusable (None): this IKE SA stays,
        and is rekeyed again when ``_rekey_retry_at`` (:mod:`ikelab.exchanges_child`, as for a CHILD SA) says
        (after NO_ADDITIONAL_SAS charon reauthenticates instead, which ikelab does not)."""
        again = self._rekey_retry_at(now, error, scheduled)
        if again is not None:
            self.rekey_at = again

    def _rekey_unanswered(self: Any, now: float, reason: str) -> State:
        """Our rekey got no answer (RFC 7296 2.4), but we answered the peer's colliding one (2.8.2).

        The peer holds the new IKE SA it made, with the CHILD SAs: they go there, as if its DELETE of this IKE SA
        had come, and this one waits for that DELETE as a replaced IKE SA does.  Closing it with its CHILD SAs
        would leave the peer with CHILD SAs that we no longer have, over an IKE SA that we still have.
        """
        self._fail(now, None, f"IKE SA rekey failed: {reason}; the peer's new IKE SA stands", fatal=False)
        self._hand_to(now, self._settle_collision())
        return State.REKEYED

    def _home(self: Any) -> Any:
        """The IKE SA that now owns our CHILD SAs: this one, or the one that replaced it by a rekey (2.18)."""
        sa = self
        while sa.replaced_by is not None:
            sa = sa.replaced_by
        return sa


def _ike_spi(spi: bytes) -> bool:
    """Whether ``spi`` can name an IKE SA: 8 octets (RFC 7296 3.3.1), not zero (3.1)."""
    return len(spi) == 8 and spi != bytes(8)


__all__ = ["IkeRekeyExchanges"]
