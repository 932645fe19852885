"""CREATE_CHILD_SA for CHILD SAs (RFC 7296 1.3.1, 1.3.3, 2.8, 2.8.1, 2.9, 2.17, 2.25).

::

    new CHILD SA:   HDR, SK {SA, Ni, [KEi], TSi, TSr}              <-> HDR, SK {SA, Nr, [KEr], TSi, TSr}
    rekey CHILD SA: HDR, SK {N(REKEY_SA), SA, Ni, [KEi], TSi, TSr} <-> HDR, SK {SA, Nr, [KEr], TSi, TSr}

CHILD SA keys (2.17)::

    KEYMAT = prf+(SK_d, Ni | Nr)                 (no PFS)
    KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr)    (PFS: KE payloads in CREATE_CHILD_SA)

cut as encr_i | integ_i | encr_r | integ_r, "i" being the initiator of the
exchange that created the SA.  A KEi for a group the responder does not take
is answered with N(INVALID_KE_PAYLOAD) naming the one it wants (1.3); the
initiator then asks again with a KEi in that group, if it offered it.  When
both peers rekey the same CHILD SA at once (2.8.1) "the SA created with the
lowest of the four nonces used in the two exchanges SHOULD be closed by the
endpoint that created it"; the other rekey's initiator deletes the old SA.
A new CHILD SA refused with TEMPORARY_FAILURE (2.25) is asked for again a
few seconds later, at most :data:`CHILD_RETRIES` times.  A rekey refused, or
answered unusably, leaves the old SA in use until its hard lifetime (2.8); the
rekey its lifetime started is tried again after a few seconds, as strongSwan's
charon does, and one refused with CHILD_SA_NOT_FOUND gives way to a new CHILD
SA made from scratch (2.25).
The IKE SA's own rekey is in :mod:`ikelab.exchanges_rekey`, INFORMATIONAL in
:mod:`ikelab.exchanges_info`, transport mode's selectors across a NAT (2.23.1) in
:mod:`ikelab.transport_nat`.
"""
from __future__ import annotations

from typing import Any

from . import dh as _dh
from . import events as ev
from . import exchanges_wire as W
from . import keys as _keys
from . import proposals as _props
from .constants import DhId, ExchangeType, NAT_T_PORT, NotifyType, ProtocolId, lookup
from .errors import IkelabError, NegotiationError
from .exchanges_common import ChildSa, label as _name
from .exchanges_init import NONCE_LEN
from .state import Input, State
from .transport_nat import TransportAcrossNat
from .ts_negotiation import check_narrowed, narrow_cached
from .vip import ANY_ADDRESS, families

#: A new CHILD SA refused with TEMPORARY_FAILURE is asked for again at most this many times, then
#: given up with a Failure event: a peer that is always busy is not asked until the IKE SA ends.
CHILD_RETRIES = 5


class ChildExchanges(TransportAcrossNat):
    """CHILD SA negotiation and the CREATE_CHILD_SA handlers (a mixin of IkeSa)."""

    __slots__ = ()

    # ------------------------------------------------------------------ proposals and selectors

    def _esp_proposals(self: Any, spi: bytes, pfs: Any, ike_auth: bool) -> list[Any]:
        """SAi2 / SA of CREATE_CHILD_SA: the ESP proposals with our SPI; ``pfs`` None keeps the configuration.

        IKE_AUTH carries no KE payload, so its proposals lose their DH transforms (RFC 7296 1.2).
        """
        props = self.config.esp_proposals  # the configured tuple itself (numbered finds it by identity)
        if ike_auth or pfs is False:
            return W.numbered(props, spi=spi, dh=None)
        if pfs is None:
            return W.numbered(props, spi=spi)
        if pfs is True:
            group = self.config.pfs_group or (self.suite.dh if self.suite else None)
        else:
            group = pfs
        return W.numbered(props, spi=spi, dh=lookup(DhId, group, field="pfs"))

    def _configured_esp(self: Any, ike_auth: bool) -> list[Any]:
        props = self.config.esp_proposals
        if ike_auth:
            return W.numbered(props, dh=None)
        return list(props)

    def _policy_ts(self: Any, *, ike_auth: bool = False) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """(local_ts, remote_ts) with ``dynamic`` (or nothing) resolved to the IKE addresses.

        With virtual IPs (RFC 7296 2.19) ``dynamic`` is the inner addresses instead, a selector each:
        the ones the responder gave us, the ones we gave the peer, or, in the IKE_AUTH that asks for
        ours, any address of each family asked (the responder narrows TSi to what it assigns).
        """
        local_addrs = self.virtual_ips or (self.local[0],)
        remote_addrs = self.peer_virtual_ips or (self.remote[0],)
        if ike_auth and self.config.vip is not None and not self.virtual_ips:
            local_addrs = tuple(ANY_ADDRESS[family] for family in families(self.config.vip))
        if len(local_addrs) == 1 and len(remote_addrs) == 1:  # the common case: one address a side
            return self._selectors_for(local_addrs[0], remote_addrs[0])
        local: list[Any] = []
        remote: list[Any] = []
        for address in local_addrs:
            local += [t for t in self._selectors_for(address, remote_addrs[0])[0] if t not in local]
        for address in remote_addrs:
            remote += [t for t in self._selectors_for(local_addrs[0], address)[1] if t not in remote]
        return tuple(local), tuple(remote)

    def _selectors_for(self: Any, local_addr: str, remote_addr: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """(local_ts, remote_ts) with ``dynamic`` resolved to ``local_addr`` and ``remote_addr``."""
        return self.config.local_selectors(local_addr), self.config.remote_selectors(remote_addr)

    def _want_transport(self: Any) -> bool:
        return self.config.mode == "transport"

    # ------------------------------------------------------------------ requesting a CHILD SA

    def _child_request_payloads(self: Any, now: float, *, pfs: Any, ike_auth: bool,
                                rekey_of: ChildSa | None = None) -> dict[str, Any]:
        spi_in = self.rng.spi(4)
        props = self._esp_proposals(spi_in, pfs, ike_auth)
        if rekey_of is not None:
            tsi, tsr = rekey_of.ts_local, rekey_of.ts_remote
            transport = rekey_of.mode == "transport"
        else:
            tsi, tsr = self._policy_ts(ike_auth=ike_auth)
            transport = self._want_transport()
        ctx: dict[str, Any] = {"spi_in": spi_in, "proposals": props, "tsi": tsi, "tsr": tsr, "pfs": pfs,
                               "rekey_of": rekey_of.spi_in if rekey_of is not None else None, "transport": transport,
                               "sent_to": self.remote[0]}
        payloads: list[Any] = []
        if rekey_of is not None:
            payloads.append(W.notify(NotifyType.REKEY_SA, protocol=rekey_of.protocol, spi=rekey_of.spi_in))
        if transport:
            payloads.append(W.notify(NotifyType.USE_TRANSPORT_MODE))
        payloads.append(W.sa(props))
        if not ike_auth:
            ctx["ni"] = self.rng.random_bytes(NONCE_LEN)
            payloads.append(W.nonce(ctx["ni"]))
            group = W.first_dh(props)
            if group is not None:
                key = _dh.group(group, allow_weak=self.config.allow_weak).generate(self.rng)
                ctx["dh_key"], ctx["group"] = key, group
                payloads.append(W.ke(group, key.public_bytes()))
        payloads += W.ts_payloads(tsi, tsr)
        ctx["payloads"] = payloads
        return ctx

    def _complete_child_request(self: Any, now: float, msg: Any, ctx: dict[str, Any], ni: bytes, nr: bytes,
                                exchange: str) -> ChildSa | None:
        """Install the CHILD SA from the response to our request (we are the exchange initiator)."""
        error = W.first_error(msg)
        # a rekey that fails leaves the old SA in use (2.8): the Failure says which one
        what = ("CHILD SA not created" if ctx.get("rekey_of") is None
                else f"rekey of CHILD SA 0x{ctx['rekey_of'].hex()} failed, the old SA stays in use")
        if error is not None or W.payload(msg, "SA") is None:
            # an answer with neither an error notify nor an SA is malformed (1.3), not a refusal
            self._fail(now, error or "INVALID_SYNTAX", f"{what}: {error or 'no SA payload'}",
                       fatal=False, exchange=exchange)
            return None
        try:
            chosen = W.only_sa(msg)
            suite = _props.check_chosen(ctx["proposals"], chosen)
            reserved = W.reserved_spi(bytes(chosen.spi))
            if reserved:
                raise NegotiationError(f"the chosen {reserved}", notify_type="INVALID_SYNTAX")
            g_ir = None
            if suite.dh is not None:
                ke = W.payload(msg, "KE")
                if ke is None or "dh_key" not in ctx or int(ke.group) != int(suite.dh):
                    raise NegotiationError("PFS chosen but no matching KEr", notify_type="INVALID_SYNTAX")
                if int(suite.dh) != int(ctx["group"]):
                    # RFC 7296 1.3: a responder wanting another group than the KEi's answers INVALID_KE_PAYLOAD;
                    # our private value is in the KEi's group, and would key an SA that claims another
                    raise NegotiationError(f"the responder chose {_name(suite.dh)}, but our KEi is "
                                           f"{_name(ctx['group'])}", notify_type="INVALID_SYNTAX")
                g_ir = ctx["dh_key"].exchange(bytes(ke.data))
            tsi_p, tsr_p = W.payload(msg, "TSi"), W.payload(msg, "TSr")
            if tsi_p is None or tsr_p is None:
                raise NegotiationError("response without TSi/TSr", notify_type="TS_UNACCEPTABLE")
            ts_local, ts_remote = W.selectors_of(tsi_p), W.selectors_of(tsr_p)
            transport = W.notify_of(msg, NotifyType.USE_TRANSPORT_MODE) is not None
            natted = transport and self.nat_detected and ctx.get("transport")
            if natted:  # RFC 7296 2.23.1: back to the addresses on our side of the NAT, before anything else
                ts_local, ts_remote = self._nat_substituted(ts_local, ts_remote, responder=False)
            check_narrowed(ts_local, ctx["tsi"], "TSi")
            check_narrowed(ts_remote, self._offered_after_move(ctx["tsr"], ctx["sent_to"]) if natted else ctx["tsr"],
                           "TSr")
            if transport and not ctx.get("transport"):
                # RFC 7296 1.3.1: the responder grants transport mode only when asked; taken here, the two
                # ends would disagree on the mode (it would strip the IP header our tunnel mode keeps)
                raise NegotiationError("N(USE_TRANSPORT_MODE) in the response, but transport mode was not asked for",
                                       notify_type="INVALID_SYNTAX")
        except IkelabError as exc:
            self._fail(now, getattr(exc, "notify_type", None), f"{what}: {exc}", fatal=False,
                       exchange=exchange)
            # RFC 7296 2.21.3: the responder installed it; ask it to delete what we reject, named (3.11) by
            # the SPI it would send to: the inbound SPI we proposed
            self._later(now, Input.DELETE_CHILD, spi=ctx["spi_in"], orphan=True)
            return None
        child = self._make_child(now, suite, ctx["spi_in"], bytes(chosen.spi), True, ni, nr, g_ir,
                                 ts_local, ts_remote, transport)
        if natted:  # the original selectors, as RFC 7296 2.23.1 has each side keep them
            child.extra["original_ts"] = (ctx["tsi"], ctx["tsr"])
        return child

    def _answer_child_request(self: Any, now: float, msg: Any, ni: bytes, nr: bytes, *, ike_auth: bool,
                              rekey_of: ChildSa | None = None) -> tuple[list[Any], ChildSa | None]:
        """Choose a proposal and narrow the selectors of a CHILD SA request (we respond)."""
        exchange = "IKE_AUTH" if ike_auth else "CREATE_CHILD_SA"
        offered = W.sa_proposals(msg)
        tsi_p, tsr_p = W.payload(msg, "TSi"), W.payload(msg, "TSr")
        if not offered or tsi_p is None or tsr_p is None:
            if ike_auth and not offered:
                if tsi_p is None and tsr_p is None:
                    return [], None  # childless IKE_AUTH (RFC 6023 3)
                # TSi/TSr ask for a CHILD SA, and no SAi2 offers one: no proposal to choose, so the answer says
                # so (RFC 7296 1.2, 2.21.2: the IKE SA stands), rather than a silently childless IKE SA
                return self._child_refused(now, NotifyType.NO_PROPOSAL_CHOSEN, "IKE_AUTH request with TSi/TSr "
                                           "but no SAi2", exchange)
            return self._child_refused(now, NotifyType.INVALID_SYNTAX, "CHILD SA request without SA/TSi/TSr",
                                       exchange)
        try:
            ke = W.payload(msg, "KE")
            chosen = _props.select(offered, self._configured_esp(ike_auth),
                                   ke_group=None if ike_auth else W.ke_preference(ke))
            suite = _props.suite_of(chosen)
        except NegotiationError as exc:
            return self._child_refused(now, NotifyType.NO_PROPOSAL_CHOSEN, str(exc), exchange)
        reserved = W.reserved_spi(W.offered_spi(offered, chosen))
        if reserved:
            return self._child_refused(now, NotifyType.INVALID_SYNTAX, f"the offered {reserved}", exchange)
        offered_i, offered_r = W.selectors_of(tsi_p), W.selectors_of(tsr_p)
        asked = W.notify_of(msg, NotifyType.USE_TRANSPORT_MODE) is not None and self._want_transport()
        original = None
        if asked and self.nat_detected:
            # RFC 7296 2.23.1: keep what was offered, and look the policy up with the addresses we see
            original = (offered_i, offered_r)
            offered_i, offered_r = self._nat_substituted(offered_i, offered_r, responder=True)
        try:
            local, remote = self._policy_ts()
            try:
                tsi, tsr = narrow_cached(offered_i, offered_r, remote, local)
                transport = asked and self._host_to_host(tsi, tsr)
            except NegotiationError:
                if original is None:
                    raise
                transport = False
            if original is not None and not transport:
                # 2.23.1: no policy for the substituted selectors, or none that allows transport mode: undo the
                # substitution and narrow the offer as written, for tunnel mode.  Never a transport-mode SA for
                # the observed address under a policy that only the host's own word (its TSi, and the NAT
                # detection it computes itself) would tie to it
                tsi, tsr = narrow_cached(original[0], original[1], remote, local)
                original = None
        except NegotiationError as exc:
            return self._child_refused(now, NotifyType.TS_UNACCEPTABLE, str(exc), exchange)
        extra: list[Any] = []
        g_ir = None
        if suite.dh is not None and not ike_auth:
            ke = W.payload(msg, "KE")
            if ke is None or int(ke.group) != int(suite.dh):
                return self._child_refused(now, NotifyType.INVALID_KE_PAYLOAD, "KEi missing or for another group",
                                           exchange, data=int(suite.dh).to_bytes(2, "big"))
            try:
                key = _dh.group(suite.dh, allow_weak=self.config.allow_weak).generate(self.rng)
                g_ir = key.exchange(bytes(ke.data))
            except IkelabError as exc:
                return self._child_refused(now, NotifyType.INVALID_SYNTAX, f"bad KEi: {exc}", exchange)
            extra.append(W.ke(suite.dh, key.public_bytes()))
        spi_in = self.rng.spi(4)
        child = self._make_child(now, suite, spi_in, W.offered_spi(offered, chosen), False, ni, nr, g_ir, tsr, tsi,
                                 transport)
        child.rekey_of = rekey_of.spi_in if rekey_of is not None else None
        if original is not None:
            child.extra["original_ts"] = original
        payloads: list[Any] = [W.notify(NotifyType.USE_TRANSPORT_MODE)] if transport else []
        payloads.append(W.sa([chosen.with_spi(spi_in)]))
        if not ike_auth:
            payloads.append(W.nonce(nr))
        payloads += extra + W.ts_payloads(tsi, tsr)
        return payloads, child

    def _child_refused(self: Any, now: float, notify: NotifyType, reason: str, exchange: str,
                       data: bytes = b"") -> tuple[list[Any], None]:
        self._fail(now, notify.name, f"CHILD SA refused: {reason}", fatal=False, exchange=exchange)
        return [W.notify(notify, data=data)], None

    def _make_child(self: Any, now: float, suite: Any, spi_in: bytes, spi_out: bytes, exchange_initiator: bool,
                    ni: bytes, nr: bytes, g_ir: bytes | None, ts_local: tuple[Any, ...], ts_remote: tuple[Any, ...],
                    transport: bool) -> ChildSa:
        keys = _keys.child_sa_keys(self.suite.prf, self.keys.sk_d, ni, nr, encr=suite.encr,
                                   encr_key_bits=suite.key_bits, integ=suite.integ, g_ir=g_ir,
                                   allow_weak=self.config.allow_weak)
        rekey = self.config.child_rekey_time
        life = self.config.child_lifetime
        margin = self.config.rekey_margin
        jitter = (self.rng.randbelow(1000) / 1000.0) * margin if margin else 0.0
        child = ChildSa(
            spi_in=spi_in, spi_out=spi_out, protocol=suite.protocol, encr=suite.encr, encr_key_bits=suite.key_bits,
            integ=suite.integ, esn=bool(suite.esn), keys=keys, exchange_initiator=exchange_initiator,
            ts_local=tuple(ts_local), ts_remote=tuple(ts_remote), mode="transport" if transport else "tunnel",
            udp_encap=NAT_T_PORT in (self.local[1], self.remote[1]), created=now, ni=ni, nr=nr, dh_group=suite.dh,
            rekey_at=now + float(rekey) - jitter if rekey else None,
            expire_at=now + float(life) if life else None)
        if g_ir is not None:  # the CHILD SA's own g^ir (PFS), kept so a lesson can recompute KEYMAT (2.17)
            child.extra["g_ir"] = g_ir
        self.children[spi_in] = child
        return child

    def _announce_child(self: Any, now: float, child: ChildSa, exchange: str, *, redundant: bool = False) -> None:
        port = self.local[1] if child.udp_encap else 0
        rport = self.remote[1] if child.udp_encap else 0
        self._emit(ev.ChildSaCreated(
            now, self.side, child.spi_in, child.spi_out, _name(child.protocol), _name(child.encr),
            child.encr_key_bits, _name(child.integ) or None, child.esn, child.encr_key_in, child.integ_key_in,
            child.encr_key_out, child.integ_key_out, child.keys.as_dict(), W.ts_strings(child.ts_local),
            W.ts_strings(child.ts_remote), child.mode, child.udp_encap, self.local[0], self.remote[0], port, rport,
            exchange, _name(child.dh_group) or None, child.rekey_of, child.exchange_initiator, redundant))

    def _child_holders(self: Any) -> list[Any]:
        """The IKE SAs whose CHILD SAs this one answers for: itself, its successor (2.18), and the IKE SA
        it replaces while colliding rekeys are unsettled (2.8.2)."""
        holders = [self]
        for sa in (self._home(), self._rekeyed_from):
            if sa is not None and sa not in holders:
                holders.append(sa)
        return holders

    def _remove_child(self: Any, child: ChildSa, now: float, reason: str) -> None:
        if child.collision:
            # both peers rekey it (RFC 7296 2.8.1) and it goes before our rekey's answer came (the peer won
            # and deleted it): that answer still makes one of two new CHILD SAs, and the nonce rule decides
            for pending in self._making_child():
                if pending.context["child"]["rekey_of"] == child.spi_in:
                    pending.context["child"]["collided_with"] = child.extra.get("peer_new")
        for owner in self._child_holders():
            if owner.children.get(child.spi_in) is child:
                del owner.children[child.spi_in]
                self._emit(ev.ChildSaDeleted(now, self.side, child.spi_in, child.spi_out, reason))
                return

    def _making_child(self: Any) -> list[Any]:
        """Our open CREATE_CHILD_SA requests for a CHILD SA (on this IKE SA or on its successor)."""
        home = self._home()
        return [sa._pending for sa in ((self,) if home is self else (self, home))
                if sa._pending is not None and sa._pending.kind in ("create_child", "rekey_child")]

    def _retry_delay(self: Any) -> float:
        """retransmit_timeout seconds plus a random 0-100 % more (from the injected random source)."""
        base = float(self.config.retransmit_timeout)
        return base * (1.0 + self.rng.randbelow(1000) / 1000.0)

    def _rekey_retry_at(self: Any, now: float, error: str | None, scheduled: bool) -> float | None:
        """When to ask again for our rekey (of a CHILD SA or of this IKE SA) that the peer refused with ``error``
        (None: its answer was unusable), or None: not on our own.

        RFC 7296 2.25, 2.25.2: after TEMPORARY_FAILURE, try again after a random delay.  A ``scheduled`` rekey (the
        lifetime's, or 2.2's message IDs) is tried again after such a delay whatever the refusal, as strongSwan's
        charon does (child_rekey.c, ike_rekey.c: schedule_delayed_rekey), until the hard lifetime (2.8) ends the
        SA: the peer's configuration may change meanwhile.  A rekey asked for by hand keeps the one the lifetime
        schedules.  NO_ADDITIONAL_SAS (3.10.1) is the peer's lasting "no": not asked again.
        """
        if error == "TEMPORARY_FAILURE" or (error != "NO_ADDITIONAL_SAS" and scheduled):
            return now + self._retry_delay()
        return None

    def _later(self: Any, now: float, inp: Input, **kw: Any) -> None:
        """Queue an action on the IKE SA that owns the CHILD SAs (window size 1: sent when free)."""
        home = self._home()
        home._queue += ((inp, kw),)
        if home is not self:
            home._pump(now)

    # ------------------------------------------------------------------ starting exchanges

    def start_create_child(self: Any, now: float, *, pfs: Any = None, retry: int = 0) -> None:
        """Ask for a new CHILD SA; ``retry`` counts the earlier requests refused with TEMPORARY_FAILURE."""
        ctx = self._child_request_payloads(now, pfs=pfs, ike_auth=False)
        ctx["retry"] = retry
        self._request(ExchangeType.CREATE_CHILD_SA, ctx["payloads"], now, "create_child", child=ctx)

    def start_rekey_child(self: Any, now: float, *, spi: bytes, pfs: Any = None, scheduled: bool = False) -> None:
        """``scheduled``: started by the lifetime (child_rekey_time), not asked for by hand."""
        child = self.find_child(spi)
        if child is None or child.state != "INSTALLED":
            self._emit(ev.Failure(now, self.side, None, f"no installed CHILD SA with SPI {spi.hex()} to rekey"))
            return
        child.state = "REKEYING"
        ctx = self._child_request_payloads(now, pfs=pfs, ike_auth=False, rekey_of=child)
        ctx["scheduled"] = scheduled
        self._request(ExchangeType.CREATE_CHILD_SA, ctx["payloads"], now, "rekey_child", child=ctx)

    # ------------------------------------------------------------------ CREATE_CHILD_SA, responder

    def on_create_child_sa_request(self: Any, now: float, *, msg: Any, raw: bytes) -> State | None:
        offered = W.sa_proposals(msg) or ()
        if offered and all(int(p.protocol) == int(ProtocolId.IKE) for p in offered):
            return self._answer_rekey_ike(now, msg, offered)
        ni = W.nonce_of(msg)
        short = ni is not None and W.short_nonce(ni, self.suite.prf)
        if ni is None or short:
            self._respond(msg, now, [W.notify(NotifyType.INVALID_SYNTAX)])
            self._fail(now, "INVALID_SYNTAX", f"Ni is {short}" if short else "CREATE_CHILD_SA request without Ni",
                       fatal=False, exchange="CREATE_CHILD_SA")
            return None
        if self._pending is not None and self._pending.kind in ("rekey_ike", "delete_ike"):
            # RFC 7296 2.25.1: no new CHILD SA while this IKE SA is being rekeyed or closed
            self._respond(msg, now, [W.notify(NotifyType.TEMPORARY_FAILURE)])
            return None
        rekey = W.notify_of(msg, NotifyType.REKEY_SA)
        old = None
        if rekey is not None:
            old = self._rekeyed_child(bytes(rekey.spi), int(rekey.protocol))
            gone = old is None and self._expired_child(bytes(rekey.spi), int(rekey.protocol)) is not None
            if old is None and self._making_child() and not gone:
                # maybe the CHILD SA our open request makes, whose answer has not reached us yet: not now
                self._respond(msg, now, [W.notify(NotifyType.TEMPORARY_FAILURE)])
                return None
            if old is None:
                self._respond(msg, now, [W.notify(NotifyType.CHILD_SA_NOT_FOUND, protocol=rekey.protocol,
                                                  spi=bytes(rekey.spi))])
                what = "a CHILD SA gone at its hard lifetime (RFC 7296 2.8)" if gone else "unknown CHILD SA"
                self._fail(now, "CHILD_SA_NOT_FOUND", f"peer rekeys {what} {bytes(rekey.spi).hex()}",
                           fatal=False, exchange="CREATE_CHILD_SA")
                return None
            orphan = self._home().children.get(old.extra.get("peer_rekeyed_to", b""))
            if old.state == "REKEYED" and orphan is not None:
                # we answered a rekey of this SA, but the peer asks again: it never saw our response, so the
                # SA we created then has no partner; drop it and answer this request instead
                self._remove_child(orphan, now, "its CREATE_CHILD_SA response never reached the peer")
                old.state = "INSTALLED"
            elif old.state in ("DELETING", "REKEYED"):
                self._respond(msg, now, [W.notify(NotifyType.TEMPORARY_FAILURE)])
                return None
        nr = self.rng.random_bytes(NONCE_LEN)
        payloads, child = self._answer_child_request(now, msg, ni, nr, ike_auth=False, rekey_of=old)
        self._respond(msg, now, payloads)
        if child is None:
            return None
        if old is not None:
            if old.state == "REKEYING":  # RFC 7296 2.8.1: both peers rekey the same CHILD SA
                old.collision = True
                old.extra["peer_new"] = child.spi_in
            else:
                old.state = "REKEYED"  # rekey_at stays: due again if the peer undoes this rekey (exchanges_info)
                old.extra["peer_rekeyed_to"] = child.spi_in
            self._emit(ev.ChildSaRekeyed(now, self.side, old.spi_in, old.spi_out, child.spi_in, child.spi_out,
                                         child.dh_group is not None))
        self._announce_child(now, child, "CREATE_CHILD_SA")
        return None

    def _rekeyed_child(self: Any, spi: bytes, protocol: int) -> ChildSa | None:
        """The CHILD SA that N(REKEY_SA) names: by the SPI the peer receives on, our outbound SPI (1.3.3), and by
        its protocol (3.10); here or on the IKE SA this one replaces (2.8.2).  Never by our inbound SPI: the
        peer chose its SPIs without knowing ours, so one of its SPIs may equal one of ours."""
        for sa in (self, self._rekeyed_from):
            if sa is not None:
                for child in sa.children.values():
                    if child.spi_out == spi and int(child.protocol) == protocol:
                        return child
        return None

    # ------------------------------------------------------------------ CREATE_CHILD_SA, initiator

    def on_create_child_sa_response(self: Any, now: float, *, msg: Any, raw: bytes, pending: Any) -> State | None:
        kind = pending.kind
        if kind == "rekey_ike":
            return self._complete_rekey_ike(now, msg, pending.context)
        home = self._home()
        ctx = pending.context["child"]
        old = home.children.get(ctx["rekey_of"]) if ctx["rekey_of"] is not None else None
        error = W.first_error(msg)
        if ctx["rekey_of"] is not None and old is None and error in ("CHILD_SA_NOT_FOUND", "TEMPORARY_FAILURE"):
            # RFC 7296 2.25: the SA this request rekeys went away meanwhile (the peer rekeyed or deleted it,
            # and we followed): the peer knows it no more (CHILD_SA_NOT_FOUND), or is closing it
            # (TEMPORARY_FAILURE, 2.25.1); there is nothing left to rekey, and nothing to ask for again
            self._fail(now, error, f"rekey of CHILD SA 0x{ctx['rekey_of'].hex()} not needed: it was "
                       "rekeyed or deleted meanwhile", fatal=False, exchange="CREATE_CHILD_SA")
            return None
        group = W.group_asked(msg, ctx["proposals"], W.first_dh(ctx["proposals"]))
        if group is not None and (ctx["rekey_of"] is None if old is None
                                  else old.state == "REKEYING" and not old.collision):
            # RFC 7296 1.3: the exchange failed; ask again with a KEi in the group the responder named (a rekey
            # whose CHILD SA went away meanwhile is not asked again: it would ask for a new CHILD SA instead)
            self._fail(now, "INVALID_KE_PAYLOAD", f"the responder asks for {_name(DhId(group))}: asking again "
                       "with it", fatal=False, exchange="CREATE_CHILD_SA")
            if old is None:  # a refusal asks again, it does not start the count of refusals again
                self._later(now, Input.CREATE_CHILD, pfs=group, retry=ctx.get("retry", 0))
            else:
                old.state = "INSTALLED"
                self._later(now, Input.REKEY_CHILD, spi=old.spi_in, pfs=group, scheduled=ctx.get("scheduled", False))
            return None
        nr = W.nonce_of(msg)
        short = nr is not None and W.short_nonce(nr, self.suite.prf)
        if short:  # as if there were no Nr: the request failed, an SA being rekeyed stays
            self._fail(now, "INVALID_SYNTAX", f"Nr is {short}", fatal=False, exchange="CREATE_CHILD_SA")
            nr = None
            if W.first_error(msg) is None and W.payload(msg, "SA") is not None:
                # the responder installed the CHILD SA we refuse: ask it to delete that one (2.21.3), by our SPI
                self._later(now, Input.DELETE_CHILD, spi=ctx["spi_in"], orphan=True)
        child = None
        if nr is not None or W.first_error(msg) is not None:
            child = self._complete_child_request(now, msg, ctx, ctx["ni"], nr or b"", "CREATE_CHILD_SA")
        if child is not None and home is not self:
            # the IKE SA was rekeyed meanwhile: the new CHILD SA belongs to the new IKE SA too
            home.children[child.spi_in] = self.children.pop(child.spi_in)
        if child is None:
            if nr is None and W.first_error(msg) is None and not short:
                self._fail(now, "INVALID_SYNTAX", "CREATE_CHILD_SA response without Nr", fatal=False)
            if old is not None and W.first_error(msg) == "CHILD_SA_NOT_FOUND":
                # the peer has no such CHILD SA (RFC 7296 3.10.1): ours has no partner, remove it; 2.25: "send a
                # request to create a new Child SA from scratch (if the Child SA does not yet exist)", as charon does
                self._remove_child(old, now, "the peer does not know it (CHILD_SA_NOT_FOUND)")
                if not any(c.ts_local == old.ts_local and c.ts_remote == old.ts_remote
                           for c in home.children.values()):
                    self._later(now, Input.CREATE_CHILD, pfs=ctx["pfs"])
                return None
            if old is not None and old.state == "REKEYING":
                old.state = "REKEYED" if old.collision else "INSTALLED"
                if not old.collision:
                    _rekey_child_again_later(self, now, old, W.first_error(msg), ctx.get("scheduled", False))
            elif old is None and W.first_error(msg) == "TEMPORARY_FAILURE":
                # RFC 7296 2.25: ask again a little later (for a childless IKE SA, RFC 6023, its first one)
                retry = ctx.get("retry", 0) + 1
                if retry <= CHILD_RETRIES:
                    home.child_retries += ((now + self._retry_delay(), ctx["pfs"], retry),)
                else:
                    self._fail(now, "TEMPORARY_FAILURE", f"CHILD SA not created: refused {retry} times with "
                               "TEMPORARY_FAILURE, not asking again", fatal=False, exchange="CREATE_CHILD_SA")
            return None
        peer_new = home.children.get(ctx.get("collided_with") or b"")
        self._child_made(now, child, old, home, redundant=old is None and peer_new is not None
                         and child.spi_out not in ctx.get("deleted", ()) and _ours_is_redundant(child, peer_new))
        if child.spi_out in ctx.get("deleted", ()):
            # the peer deleted this CHILD SA before its answer reached us: its DELETE came first, and we
            # answered it empty, knowing no such SA then (RFC 7296 1.4.1); it is gone on both sides
            self._remove_child(child, now, "deleted by peer (its DELETE came before this answer)")
        elif old is None and peer_new is not None and _ours_is_redundant(child, peer_new):
            # ours loses the collision (RFC 7296 2.8.1), and the peer deleted the old SA already
            self._later(now, Input.DELETE_CHILD, spi=child.spi_in)
        return None

    def _child_made(self: Any, now: float, child: ChildSa, old: ChildSa | None, home: Any, *,
                    redundant: bool = False) -> None:
        """Our CREATE_CHILD_SA request made ``child``; as a rekey of ``old``, delete the one of the two to go.
        ``redundant``: ``child`` lost the nonce rule to the peer's rekey of an SA already gone (2.8.1)."""
        if old is None:
            self._announce_child(now, child, "CREATE_CHILD_SA", redundant=redundant)
            return
        child.rekey_of = old.spi_in
        self._emit(ev.ChildSaRekeyed(now, self.side, old.spi_in, old.spi_out, child.spi_in, child.spi_out,
                                     child.dh_group is not None))
        peer_new = home.children.get(old.extra.get("peer_new", b""))
        redundant = old.collision and peer_new is not None and _ours_is_redundant(child, peer_new)
        # a redundant one says so: ESP must not move to an SA that the peer drops when our DELETE arrives (2.8.1)
        self._announce_child(now, child, "CREATE_CHILD_SA", redundant=redundant)
        if redundant:
            # our new SA is redundant: we created it, we delete it; the peer deletes the old one
            old.state = "REKEYED"
            self._later(now, Input.DELETE_CHILD, spi=child.spi_in)
            return
        old.state = "REKEYED"
        self._later(now, Input.DELETE_CHILD, spi=old.spi_in)



def _rekey_child_again_later(sa: Any, now: float, old: ChildSa, error: str | None, scheduled: bool) -> None:
    """Our rekey of ``old`` was refused (``error``) or its answer was unusable (None): ``old`` stays in use (2.8),
    and is rekeyed again when :meth:`ChildExchanges._rekey_retry_at` says."""
    again = sa._rekey_retry_at(now, error, scheduled)
    if again is not None:
        old.rekey_at = again


def _ours_is_redundant(ours: ChildSa, peers: ChildSa) -> bool:
    """RFC 7296 2.8.1: "the SA created with the lowest of the four nonces used in the two exchanges SHOULD be
    closed by the endpoint that created it"; True when that is ``ours``, made by our rekey request."""
    return min(ours.ni, ours.nr, peers.ni, peers.nr) in (ours.ni, ours.nr)


__all__ = ["ChildExchanges"]
