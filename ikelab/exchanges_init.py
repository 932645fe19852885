"""IKE_SA_INIT and IKE_AUTH, the initial exchanges (RFC 7296 1.2, 2.6, 2.14-2.16, 2.23).

::

    Initiator                         Responder
    -------------------------------------------------------------------
    HDR, SAi1, KEi, Ni,
         N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP)  -->
                                 <--  HDR, SAr1, KEr, Nr, N(NATD_S), N(NATD_D), [CERTREQ]
    HDR, SK {IDi, [CERT,] [CERTREQ,] AUTH, SAi2, TSi, TSr}  -->
                                 <--  HDR, SK {IDr, [CERT,] AUTH, SAr2, TSi, TSr}

After IKE_SA_INIT both peers compute (2.14)::

    SKEYSEED = prf(Ni | Nr, g^ir)
    {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)

and in IKE_AUTH each signs its own first message (2.15)::

    InitiatorSignedOctets = RealMessage1 | NonceRData | prf(SK_pi, RestOfInitIDPayload)
    ResponderSignedOctets = RealMessage2 | NonceIData | prf(SK_pr, RestOfRespIDPayload)
    AUTH (shared key)     = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)

The responder may answer IKE_SA_INIT with N(COOKIE) (2.6) or
N(INVALID_KE_PAYLOAD) (1.2): the initiator then sends IKE_SA_INIT again, still
with message ID 0 and a zero responder SPI, the cookie first.  The first
CHILD SA is negotiated inside IKE_AUTH (SAi2/SAr2, TSi/TSr); its failure
(NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE) leaves the IKE SA standing (1.2, 2.21.2).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from . import auth as _auth
from . import cert_checks as _cc
from . import dh as _dh
from . import events as ev
from . import exchanges_wire as W
from . import keys as _keys
from . import proposals as _props
from . import vip as _vip
from .constants import AuthMethod, CfgType, DhId, ExchangeType, IdType, NAT_T_PORT, NotifyType, lookup
from .errors import AuthenticationError, IkelabError, NegotiationError, ParseError, UnknownAlgorithmError
from .exchanges_common import label as _name, nat_detection_hash
from .identity import Identity, format_identity, identity_matches_certificate, matches, parse_identity
from .state import Input, State

NONCE_LEN = 32
DEFAULT_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
MAX_INIT_RETRIES = 4


class InitExchanges:
    """IKE_SA_INIT and IKE_AUTH handlers of :class:`ikelab.ike.IkeSa` (a mixin)."""

    __slots__ = ()

    # ------------------------------------------------------------------ helpers

    def _wallclock(self: Any, now: float) -> datetime:
        epoch = self.config.epoch or DEFAULT_EPOCH
        return epoch + timedelta(seconds=now)

    def _identity(self: Any, which: str) -> Any:
        value = getattr(self.config, which)  # "local_id" or "remote_id"
        if value is None:
            if which == "local_id":
                return _identity_of_address(self.local[0])
            return None
        if hasattr(value, "id_type") and hasattr(value, "data"):
            return value
        text = str(value)
        if text in ("%any", "%any6", ""):
            return None
        return parse_identity(text)

    def _auth_method(self: Any) -> AuthMethod:
        if self.config.psk is not None:
            return AuthMethod.SHARED_KEY_MIC
        return AuthMethod.DIGITAL_SIGNATURE

    def _ike_proposals(self: Any, spi: bytes = b"") -> list[Any]:
        return W.numbered(self.config.ike_proposals, spi=spi)

    def _uses_certs(self: Any) -> bool:
        return self.config.certificate is not None or bool(self.config.trust_anchors)

    def _natd_payloads(self: Any) -> list[Any]:
        """N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP) for our view of the addresses."""
        spi_r = self.spi_r
        src = nat_detection_hash(self.spi_i, spi_r, self.local[0], self.local[1])
        if self.config.encapsulation == "always":
            # like strongSwan's encap=yes: a source hash that cannot match, to force UDP encapsulation
            src = nat_detection_hash(self.spi_i, spi_r, "0.0.0.0", 0)
        dst = nat_detection_hash(self.spi_i, spi_r, self.remote[0], self.remote[1])
        return [W.notify(NotifyType.NAT_DETECTION_SOURCE_IP, data=src),
                W.notify(NotifyType.NAT_DETECTION_DESTINATION_IP, data=dst)]

    def _check_nat(self: Any, msg: Any) -> None:
        """Compare the peer's NATD hashes with the addresses we see (RFC 7296 2.23)."""
        src_hashes = W.notify_datas(msg, NotifyType.NAT_DETECTION_SOURCE_IP)
        dst_hashes = W.notify_datas(msg, NotifyType.NAT_DETECTION_DESTINATION_IP)
        if not src_hashes and not dst_hashes:
            self.nat_detected = False
            return
        expect_src = nat_detection_hash(self.spi_i, self.spi_r if self.initiator else b"\x00" * 8,
                                        self.remote[0], self.remote[1])
        expect_dst = nat_detection_hash(self.spi_i, self.spi_r if self.initiator else b"\x00" * 8,
                                        self.local[0], self.local[1])
        self.nat_remote = expect_src not in src_hashes
        self.nat_local = expect_dst not in dst_hashes
        self.nat_detected = self.nat_remote or self.nat_local

    def _udp_encap(self: Any) -> bool:
        mode = self.config.encapsulation
        if mode == "never":
            return False
        return mode == "always" or self.nat_detected

    # ------------------------------------------------------------------ IKE_SA_INIT, initiator

    def start_ike_sa_init(self: Any, now: float) -> None:
        self.spi_i = self.rng.spi(8)
        self.ni = self.rng.random_bytes(NONCE_LEN)
        proposals = self._ike_proposals()
        group = W.first_dh(proposals)
        if group is None:
            raise NegotiationError("the IKE proposals name no Diffie-Hellman group")
        # "tried": the groups a KEi went out in, so that INVALID_KE_PAYLOAD moves to each at most once (1.3)
        self._init_state = {"cookie": None, "group": group, "retries": 0, "offered": proposals, "tried": {int(group)}}
        self._send_init(now)

    def _send_init(self: Any, now: float) -> None:
        st = self._init_state
        if getattr(self, "_dh_group", None) is None or int(self._dh_group.id) != int(st["group"]):
            # a COOKIE retry keeps "all other payloads unchanged" (RFC 7296 2.6); a new group needs a new key
            self._dh_group = _dh.group(st["group"], allow_weak=self.config.allow_weak)
            self._dh_key = self._dh_group.generate(self.rng)
        grp = self._dh_group
        payloads: list[Any] = []
        if st["cookie"] is not None:
            payloads.append(W.notify(NotifyType.COOKIE, data=st["cookie"]))
        payloads += [W.sa(st["offered"]), W.ke(grp.id, self._dh_key.public_bytes()), W.nonce(self.ni)]
        payloads += self._natd_payloads()
        if self.config.fragmentation:  # RFC 7383 2.3
            payloads.append(W.notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED))
        if self._uses_certs():
            payloads.append(W.notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, data=_auth.hash_algorithms_notify_data()))
        self.spi_r = b"\x00" * 8
        self._real_message_1 = self._request(ExchangeType.IKE_SA_INIT, payloads, now, "init", message_id=0)
        self._next_request_id = 1

    def on_ike_sa_init_response(self: Any, now: float, *, msg: Any, raw: bytes, pending: Any) -> State | None:
        st = self._init_state
        cookie = W.notify_data(msg, NotifyType.COOKIE)
        if cookie is not None:
            return self._retry_init(now, "COOKIE", lambda: st.__setitem__("cookie", cookie))
        ke_group = W.notify_data(msg, NotifyType.INVALID_KE_PAYLOAD)
        if ke_group is not None:
            group = int.from_bytes(ke_group[:2], "big") if len(ke_group) >= 2 else 0
            offered_groups = W.all_dh(st["offered"])
            if group not in offered_groups or group in st["tried"]:
                # RFC 7296 1.3: a retry only in a group we offered, and each group once (no ping-pong)
                return self._fail(now, "INVALID_KE_PAYLOAD", f"responder asks for group {group}, "
                                  f"which we did not offer (or already used)", fatal=True)
            st["tried"].add(group)
            return self._retry_init(now, "INVALID_KE_PAYLOAD", lambda: st.__setitem__("group", group))
        error = W.first_error(msg)
        if error is not None:
            return self._fail(now, error, f"responder answered IKE_SA_INIT with {error}", fatal=True)
        try:
            if msg.spi_r == bytes(8):  # RFC 7296 3.1: zero only in the first message (and stateless refusals)
                raise NegotiationError("IKE_SA_INIT response with SPIr 0", notify_type="INVALID_SYNTAX")
            chosen = W.only_sa(msg)
            if chosen.spi:  # RFC 7296 3.3.1: "For an initial IKE SA negotiation, this field MUST be zero"
                raise NegotiationError(f"SAr1 proposal #{chosen.number} carries a {len(chosen.spi)}-octet SPI; "
                                       f"IKE_SA_INIT proposals have SPI Size 0", notify_type="INVALID_SYNTAX")
            self.suite = _props.check_chosen(st["offered"], chosen)
            self.proposal = chosen
            ke = W.payload(msg, "KE")
            nr = W.payload(msg, "Nonce")
            if ke is None or nr is None:
                raise NegotiationError("IKE_SA_INIT response without KE or Nr", notify_type="INVALID_SYNTAX")
            short = W.short_nonce(bytes(nr.data), self.suite.prf)
            if short:
                raise NegotiationError(f"Nr is {short}", notify_type="INVALID_SYNTAX")
            if int(ke.group) != int(self.suite.dh):
                raise NegotiationError(f"KEr is for group {ke.group}, the chosen proposal says {_name(self.suite.dh)}")
            if int(self.suite.dh) != int(st["group"]):
                # RFC 7296 1.3: a responder wanting another group answers INVALID_KE_PAYLOAD; our private value
                # is in the KEi's group and would make a g^ir for a group the keys then claim (same sizes: 1, 20)
                raise NegotiationError(f"the responder chose {_name(self.suite.dh)}, but our KEi is "
                                       f"{_name(DhId(st['group']))}", notify_type="INVALID_SYNTAX")
            g_ir = self._dh_key.exchange(bytes(ke.data))
        except IkelabError as exc:
            return self._fail(now, getattr(exc, "notify_type", None), str(exc), fatal=True)
        self.spi_r = msg.spi_r
        self.nr = bytes(nr.data)
        self._real_message_2 = raw
        self._derive_ike_keys(now, g_ir)
        self._check_nat(msg)
        if self._udp_encap():
            self.local = (self.local[0], NAT_T_PORT)
            self.remote = (self.remote[0], NAT_T_PORT)
        self._peer_hash_algs = W.notify_data(msg, NotifyType.SIGNATURE_HASH_ALGORITHMS)
        self._peer_certreq = W.payloads(msg, "CERTREQ")
        self.fragmentation = self.config.fragmentation and W.notify_of(
            msg, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) is not None
        # RFC 6023 3: the IKE SA alone first, when we want it and the responder said it can
        st["childless"] = self.config.childless and W.notify_of(msg, NotifyType.CHILDLESS_IKEV2_SUPPORTED) is not None
        self._send_ike_auth(now)
        return None

    def _retry_init(self: Any, now: float, why: str, change: Any) -> State | None:
        st = self._init_state
        st["retries"] += 1
        if st["retries"] > MAX_INIT_RETRIES:
            return self._fail(now, why, f"IKE_SA_INIT answered with {why} {st['retries']} times", fatal=True)
        change()
        self._send_init(now)
        return State.INIT_SENT

    def _derive_ike_keys(self: Any, now: float, g_ir: bytes, *, rekey_sk_d: bytes | None = None,
                         old_prf: Any = None) -> None:
        s = self.suite
        if rekey_sk_d is None:
            skeyseed = _keys.skeyseed(s.prf, self.ni, self.nr, g_ir, allow_weak=self.config.allow_weak)
        else:
            skeyseed = _keys.rekey_skeyseed(old_prf, rekey_sk_d, g_ir, self.ni, self.nr, allow_weak=self.config.allow_weak)
        k = _keys.ike_sa_keys(s.prf, skeyseed, self.ni, self.nr, self.spi_i, self.spi_r, encr=s.encr,
                              encr_key_bits=s.key_bits, integ=s.integ, allow_weak=self.config.allow_weak)
        self.keys = k
        self._emit(ev.KeysDerived(now, self.side, _name(s.prf), _name(s.dh), g_ir, self.ni, self.nr, self.spi_i,
                                  self.spi_r, skeyseed, k.sk_d, k.sk_ai, k.sk_ar, k.sk_ei, k.sk_er, k.sk_pi, k.sk_pr,
                                  rekey_sk_d is not None, rekey_sk_d))

    # ------------------------------------------------------------------ IKE_SA_INIT, responder

    def on_ike_sa_init_request(self: Any, now: float, *, msg: Any, raw: bytes) -> State | None:
        configured = self._ike_proposals()
        offered = W.sa_proposals(msg)
        ke = W.payload(msg, "KE")
        ni = W.payload(msg, "Nonce")
        if ke is None or ni is None or offered is None:
            return self._init_error(msg, now, NotifyType.INVALID_SYNTAX, "IKE_SA_INIT request without SA, KE or Ni")
        try:
            chosen = _props.select(offered, configured, ke_group=W.ke_preference(ke))
            suite = _props.suite_of(chosen)
        except NegotiationError as exc:
            return self._init_error(msg, now, NotifyType.NO_PROPOSAL_CHOSEN, str(exc))
        if int(ke.group) != int(suite.dh):
            data = int(suite.dh).to_bytes(2, "big")
            return self._init_error(msg, now, NotifyType.INVALID_KE_PAYLOAD,
                                    f"KEi is for group {ke.group}, we chose {_name(suite.dh)}", data=data)
        short = W.short_nonce(bytes(ni.data), suite.prf)
        if short:
            return self._init_error(msg, now, NotifyType.INVALID_SYNTAX, f"Ni is {short}")
        try:
            grp = _dh.group(suite.dh, allow_weak=self.config.allow_weak)
            dh_key = grp.generate(self.rng)
            g_ir = dh_key.exchange(bytes(ke.data))
        except IkelabError as exc:
            return self._init_error(msg, now, NotifyType.INVALID_SYNTAX, f"bad KEi: {exc}")
        self.suite, self.proposal = suite, chosen
        self._dh_key, self._dh_group = dh_key, grp
        self.spi_i = msg.spi_i
        self.spi_r = self.rng.spi(8)
        self.ni = bytes(ni.data)
        self.nr = self.rng.random_bytes(NONCE_LEN)
        self._real_message_1 = raw
        self._check_nat(msg)
        self._peer_hash_algs = W.notify_data(msg, NotifyType.SIGNATURE_HASH_ALGORITHMS)
        payloads = [W.sa([chosen]), W.ke(grp.id, dh_key.public_bytes()), W.nonce(self.nr)]
        payloads += self._natd_payloads()
        # RFC 7383 2.3: announced only to an initiator that announced it
        self.fragmentation = self.config.fragmentation and W.notify_of(
            msg, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) is not None
        if self.fragmentation:
            payloads.append(W.notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED))
        if self.config.childless:  # RFC 6023 3: an IKE_AUTH without SAi2, TSi, TSr is welcome
            payloads.append(W.notify(NotifyType.CHILDLESS_IKEV2_SUPPORTED))
        if self._uses_certs():
            payloads.append(W.notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, data=_auth.hash_algorithms_notify_data()))
            for ca in self.config.trust_anchors:
                payloads.append(W.certreq(_cc.certreq_hash(ca)))
        self._real_message_2 = self._respond(msg, now, payloads)
        self._derive_ike_keys(now, g_ir)
        return None

    def _init_error(self: Any, msg: Any, now: float, notify: NotifyType, reason: str, data: bytes = b"") -> State:
        """Answer IKE_SA_INIT with an error Notify and keep no state (RFC 7296 2.21.1)."""
        self.spi_i = msg.spi_i
        self._respond(msg, now, [W.notify(notify, data=data)])
        self._emit(ev.Failure(now, self.side, notify.name, reason, fatal=True, exchange="IKE_SA_INIT"))
        self._close(now, f"IKE_SA_INIT refused: {notify.name}")
        return State.CLOSED

    # ------------------------------------------------------------------ IKE_AUTH

    def _my_auth(self: Any, now: float, id_payload_body: bytes) -> tuple[AuthMethod, bytes, Any]:
        """Our AUTH payload value over our signed octets (RFC 7296 2.15)."""
        s = self.suite
        if self.initiator:
            octets = _auth.signed_octets(self._real_message_1, self.nr, s.prf, self.keys.sk_pi, id_payload_body,
                                         allow_weak=self.config.allow_weak)
        else:
            octets = _auth.signed_octets(self._real_message_2, self.ni, s.prf, self.keys.sk_pr, id_payload_body,
                                         allow_weak=self.config.allow_weak)
        signed = octets.octets  # message | nonce | maced_id, joined once for the MAC and the event
        method = self._auth_method()
        if method == AuthMethod.SHARED_KEY_MIC:
            value = _auth.psk_auth(s.prf, self.config.psk, signed, allow_weak=self.config.allow_weak)
        else:
            key = self.config.private_key
            if key is None:
                raise NegotiationError("no PSK and no private key configured", notify_type="AUTHENTICATION_FAILED")
            try:
                if self._peer_hash_algs is None:  # RFC 7427 3: no method 14 unless both sent the hash list
                    method, value = _auth.sign(key, octets, method=_auth.legacy_method(key),
                                               allow_weak=self.config.allow_weak)
                else:  # RFC 7427 4: a hash the peer said it can verify
                    hash_alg = _auth.signature_hash(key, self._peer_hash_algs, allow_weak=self.config.allow_weak)
                    method, value = _auth.sign(key, octets, hash_alg=hash_alg, allow_weak=self.config.allow_weak)
            except IkelabError as exc:
                raise NegotiationError(str(exc), notify_type="AUTHENTICATION_FAILED") from None
            method = lookup(AuthMethod, method)
        # the name as a plain attribute: an enum's .name is a property, two calls
        self._emit(ev.AuthComputed(now, self.side, self.side, method._name_, octets.message, octets.nonce,
                                   octets.maced_id, signed, value, None))
        return method, value, octets

    def _verify_peer_auth(self: Any, now: float, msg: Any, id_payload: Any) -> None:
        """Check the peer's identity, certificate chain and AUTH; AuthenticationError on failure."""
        s = self.suite
        auth_p = W.payload(msg, "AUTH")
        if id_payload is None or auth_p is None:
            raise AuthenticationError("IKE_AUTH message without ID or AUTH payload")
        body = W.id_body(id_payload)
        if self.initiator:  # we verify the responder
            octets = _auth.signed_octets(self._real_message_2, self.ni, s.prf, self.keys.sk_pr, body,
                                         allow_weak=self.config.allow_weak)
        else:
            octets = _auth.signed_octets(self._real_message_1, self.nr, s.prf, self.keys.sk_pi, body,
                                         allow_weak=self.config.allow_weak)
        signed = octets.octets  # message | nonce | maced_id, joined once for the MAC and the event
        peer = "responder" if self.initiator else "initiator"
        method = auth_p.method  # the decoder made a known method an AuthMethod member
        if method.__class__ is not AuthMethod:
            method = lookup(AuthMethod, int(method))
        try:  # the text events give the peer: one that cannot be read fails here, before the request made anything
            peer_id = format_identity(id_payload.id_type, bytes(id_payload.data))
        except (ParseError, UnknownAlgorithmError) as exc:  # malformed, or of an ID Type not in the registry
            raise AuthenticationError(f"the peer's identity cannot be read: {exc}") from None
        expected_id = self._identity("remote_id")
        if expected_id is not None and not _identity_equal(expected_id, id_payload):
            raise AuthenticationError(f"peer identity {peer_id} is not the configured remote_id {self.config.remote_id}")
        ok = False
        try:
            if method == AuthMethod.SHARED_KEY_MIC:
                psk = self.config.remote_psk or self.config.psk
                if psk is None:
                    raise AuthenticationError("peer used a shared key, but none is configured")
                _auth.verify_psk(s.prf, psk, signed, bytes(auth_p.data), allow_weak=self.config.allow_weak)
            else:
                certs = [W.cert_of(c) for c in W.payloads(msg, "CERT")]
                if not certs:
                    raise AuthenticationError("signature authentication without a CERT payload: ikelab takes the "
                                              "peer's certificate only from the exchange (strongSwan: send_cert)")
                anchors = list(self.config.trust_anchors)
                if not anchors:
                    raise AuthenticationError("no trust anchor configured to check the peer's certificate")
                _cc.verify_chain(certs[0], certs[1:], anchors, now=self._wallclock(now),
                                   allow_weak=self.config.allow_weak)
                if not identity_matches_certificate(id_payload.id_type, bytes(id_payload.data), certs[0]):
                    raise AuthenticationError("the peer's ID is not in its certificate (RFC 4945 3.1)")
                _auth.verify_signature(certs[0], method, bytes(auth_p.data), octets, allow_weak=self.config.allow_weak)
            ok = True
        finally:
            self._emit(ev.AuthComputed(now, self.side, peer, method._name_, octets.message, octets.nonce,
                                       octets.maced_id, signed, bytes(auth_p.data), ok))
        self.remote_identity = id_payload
        self.remote_auth_method = method
        self.peer_initial_contact = W.notify_of(msg, NotifyType.INITIAL_CONTACT) is not None

    def _auth_payloads(self: Any, now: float, initiator: bool) -> list[Any]:
        ident = self._identity("local_id")
        id_p = W.id_payload(initiator, ident)
        method, value, _ = self._my_auth(now, W.id_body(id_p))
        self.local_auth_method = method
        out = [id_p]
        cert = self.config.certificate
        if method != AuthMethod.SHARED_KEY_MIC and cert is not None:
            out.append(W.cert(cert))
            for extra in self.config.intermediates:
                out.append(W.cert(extra))
        if initiator and self._uses_certs():
            for ca in self.config.trust_anchors:
                out.append(W.certreq(_cc.certreq_hash(ca)))
        out.append(W.auth(method, value))
        return out

    def _send_ike_auth(self: Any, now: float) -> None:
        payloads = self._auth_payloads(now, True)
        if self.config.initial_contact and self._alone_with_peer():
            # RFC 7296 2.4: the peer may drop older IKE SAs between our identities
            payloads.insert(-1, W.notify(NotifyType.INITIAL_CONTACT))
        if self.config.vip is not None:  # ask for our inner addresses, one per family (RFC 7296 2.19)
            payloads.append(_vip.request(self.config.vip))
        child_req = None
        if not self._init_state.get("childless"):
            child_req = self._child_request_payloads(now, pfs=None, ike_auth=True)
            payloads += child_req["payloads"]
        self._request(ExchangeType.IKE_AUTH, payloads, now, "auth", child=child_req)

    def on_ike_auth_request(self: Any, now: float, *, msg: Any, raw: bytes) -> State | None:
        try:
            self._verify_peer_auth(now, msg, W.payload(msg, "IDi"))
        except IkelabError as exc:
            self._respond(msg, now, [W.notify(NotifyType.AUTHENTICATION_FAILED)])
            self._fail(now, "AUTHENTICATION_FAILED", str(exc), fatal=True)
            return State.CLOSED
        try:
            payloads = self._auth_payloads(now, False)
        except IkelabError as exc:
            self._respond(msg, now, [W.notify(NotifyType.AUTHENTICATION_FAILED)])
            self._fail(now, "AUTHENTICATION_FAILED", f"cannot authenticate ourselves: {exc}", fatal=True)
            return State.CLOSED
        cp_payloads, refused = self._answer_cp(now, msg) if self.config.pool is not None else ([], False)
        if refused:  # no address to give: the IKE SA stands without its first CHILD SA (RFC 7296 3.15.4)
            child_payloads, child = cp_payloads, None
        else:
            child_payloads, child = self._answer_child_request(now, msg, self.ni, self.nr, ike_auth=True)
            child_payloads = cp_payloads + child_payloads
        self._respond(msg, now, payloads + child_payloads)
        self._established(now)
        if child is not None:
            self._announce_child(now, child, "IKE_AUTH")
        return None

    def on_ike_auth_response(self: Any, now: float, *, msg: Any, raw: bytes, pending: Any) -> State | None:
        error = W.first_error(msg)
        if W.payload(msg, "AUTH") is None:
            why = f"IKE_AUTH refused by the responder: {error or 'no AUTH payload, and no error Notify'}"
            if error == "AUTHENTICATION_FAILED":  # RFC 7296 2.21.2 keeps the reason from the initiator
                why += ", with no reason given: a wrong PSK, or an identity or certificate it does not accept"
            return self._fail(now, error or "AUTHENTICATION_FAILED", why, fatal=True)
        try:
            self._verify_peer_auth(now, msg, W.payload(msg, "IDr"))
        except IkelabError as exc:
            # RFC 7296 2.21.2: tell the responder, then forget the IKE SA
            self._send_notify_request(now, NotifyType.AUTHENTICATION_FAILED)
            return self._fail(now, "AUTHENTICATION_FAILED", str(exc), fatal=True)
        self._established(now)
        if self.config.vip is not None:  # we asked for inner addresses: the CP(CFG_REPLY) that gives them
            self._take_cp_reply(now, msg)
        if pending.context["child"] is None:  # childless (RFC 6023): the CHILD SA comes with CREATE_CHILD_SA
            error = W.first_error(msg)
            if error is not None:  # e.g. INTERNAL_ADDRESS_FAILURE: no CHILD SA without our address (3.15.4)
                self._fail(now, error, f"CHILD SA not created: {error}", fatal=False, exchange="IKE_AUTH")
                return None
            self._queue += ((Input.CREATE_CHILD, {"pfs": None}),)
            return None
        child = self._complete_child_request(now, msg, pending.context["child"], self.ni, self.nr, "IKE_AUTH")
        if child is not None:
            self._announce_child(now, child, "IKE_AUTH")
        return None

    def _alone_with_peer(self: Any) -> bool:
        """No other IKE SA of our endpoint (set up, being set up or rekeyed) with this peer's address: only
        then may IKE_AUTH say INITIAL_CONTACT, "the only IKE SA between us" (RFC 7296 2.4)."""
        siblings = self._init_state.get("siblings") or {}
        return not any(other is not self and other.state != State.CLOSED and other.remote[0] == self.remote[0]
                       for other in siblings.values())

    def _take_cp_reply(self: Any, now: float, msg: Any) -> None:
        """Our inner addresses from the CP(CFG_REPLY): every family asked that the responder served (RFC 7296
        2.19), a VirtualIpAssigned event each; it may serve fewer than asked (3.15.4), a VirtualIpNotAssigned
        event for each family left out."""
        asked = _vip.families(self.config.vip)
        cp = W.payload(msg, "CP")
        if cp is not None:
            self.virtual_ips = _vip.assigned_each(cp, asked)
        for address in self.virtual_ips:
            self._emit(ev.VirtualIpAssigned(now, self.side, address))
        if W.notify_of(msg, NotifyType.INTERNAL_ADDRESS_FAILURE) is not None:
            why = "the gateway answered INTERNAL_ADDRESS_FAILURE: it has no address for us (RFC 7296 3.15.4)"
        elif cp is None or cp.cfg_type != CfgType.CFG_REPLY:
            why = "the IKE_AUTH response carries no CP(CFG_REPLY): the gateway gives no inner address (RFC 7296 2.19)"
        else:
            why = "the CP(CFG_REPLY) holds no address of this family: a gateway may serve fewer than asked (RFC 7296 3.15.4)"
        for family in _vip.missing(asked, self.virtual_ips):
            self._emit(ev.VirtualIpNotAssigned(now, self.side, family, why))

    def _answer_cp(self: Any, now: float, msg: Any) -> tuple[list[Any], bool]:
        """CP(CFG_REPLY) with an address of each family asked from our pool of that family, for a
        CP(CFG_REQUEST); N(INTERNAL_ADDRESS_FAILURE) (then True: no CHILD SA) when no family asked can be
        served; nothing without a request or a pool (RFC 7296 2.19, 3.15.4)."""
        cp = W.payload(msg, "CP")
        if cp is None or cp.cfg_type != CfgType.CFG_REQUEST or self.config.pool is None:
            return [], False
        wishes = _vip.requested(cp)
        if not wishes:
            return [], False
        if not self.pools:
            self.pools = _vip.pools_of(self.config.pool)
        who = (int(self.remote_identity.id_type), bytes(self.remote_identity.data))
        # a client that says INITIAL_CONTACT lost its old IKE SA (which the endpoint closes): its addresses are free
        leased, refused = _vip.lease_each(self.pools, wishes, who, self, reclaim=self.peer_initial_contact)
        for family, why in refused:
            self._emit(ev.VirtualIpNotAssigned(now, self.side, family, why))
        if not leased:
            self._fail(now, "INTERNAL_ADDRESS_FAILURE", f"no virtual IP: {'; '.join(why for _, why in refused)}",
                       fatal=False, exchange="IKE_AUTH")
            return [W.notify(NotifyType.INTERNAL_ADDRESS_FAILURE)], True
        self.peer_virtual_ips = leased
        for address in leased:
            self._emit(ev.VirtualIpAssigned(now, self.side, address))
        return [_vip.reply(*leased)], False

    def _established(self: Any, now: float) -> None:
        s = self.suite
        local = self._identity("local_id")
        remote = self.remote_identity
        self.established_at = now
        self._forget_handshake()
        self._schedule_ike_lifetimes(now)
        self._emit(ev.IkeSaEstablished(
            now, self.side, self.spi_i, self.spi_r, str(s), str(local) if local is not None else "",
            format_identity(remote.id_type, bytes(remote.data)) if remote is not None else "",
            _name(self.local_auth_method), _name(self.remote_auth_method)))

    def _forget_handshake(self: Any) -> None:
        """Drop what only IKE_SA_INIT and IKE_AUTH needed, once the IKE SA stands.

        The Diffie-Hellman private key goes first (perfect forward secrecy: once
        g^ir has made the keys, nothing should be able to make it again), then the
        two IKE_SA_INIT messages that AUTH signed, and the offer.  The values a
        lesson shows were reported in the KeysDerived and AuthComputed events.
        """
        for attr in ("_dh_key", "_dh_group", "_real_message_1", "_real_message_2", "_peer_hash_algs",
                     "_peer_certreq"):
            if hasattr(self, attr):
                delattr(self, attr)
        self._init_state = {}

    def _schedule_ike_lifetimes(self: Any, now: float) -> None:
        rekey = self.config.ike_rekey_time
        life = self.config.ike_lifetime
        margin = self.config.rekey_margin
        jitter = (self.rng.randbelow(1000) / 1000.0) * margin if margin else 0.0
        self.rekey_at = now + float(rekey) - jitter if rekey else None
        self.expire_at = now + float(life) if life else None

    def _fail(self: Any, now: float, notify: Any, reason: str, *, fatal: bool, exchange: str = "") -> State | None:
        name = _name(notify) if notify is not None else None
        self._emit(ev.Failure(now, self.side, name, reason, fatal=fatal, exchange=exchange))
        if fatal:
            self._close(now, f"{name or 'failure'}: {reason}")
            return State.CLOSED
        return None


def _identity_of_address(addr: str) -> Any:
    return parse_identity(addr)


def _identity_equal(expected: Any, got: Any) -> bool:
    if expected.id_type == got.id_type and bytes(expected.data) == bytes(got.data):
        return True  # the very identity configured (what ``matches`` would conclude, the long way)
    try:
        text = format_identity(expected.id_type, bytes(expected.data))
        return matches(text, Identity(lookup(IdType, int(got.id_type)), bytes(got.data)))
    except (IkelabError, ValueError):
        return int(expected.id_type) == int(got.id_type) and bytes(expected.data) == bytes(got.data)


__all__ = ["InitExchanges", "NONCE_LEN"]
