"""The engine's small vocabulary over the wire format (:mod:`ikelab.message`, :mod:`ikelab.payloads`).

Building and reading the payloads of RFC 7296 section 3 the way the
exchanges need them: ``notify(NotifyType.COOKIE, data=...)``,
``payload(msg, "KE")``, ``first_error(msg)``, ``sa_proposals(msg)``...  Keeping
these in one place lets :mod:`ikelab.exchanges_init` and
:mod:`ikelab.exchanges_child` (and its neighbours) read like the RFC's exchange diagrams.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any, Iterable, Sequence

from . import message as _m
from . import payloads as P
from . import sk as _sk
from . import transforms as _t
from . import views as _views
from .constants import AuthMethod, CertEncoding, DhId, ExchangeType, IdType, NotifyType, ProtocolId, TransformType
from .errors import AuthenticationError, NegotiationError
from .memo import ByIdentity
from .prf import get_prf

# Speed: the builders below make payloads from values the engine made itself (registry members,
# bytes it generated), so when the enum-valued arguments are already members they use the
# trusted ``_from_wire`` constructors (see :func:`ikelab.wire.from_wire`) instead of the public
# ones, which would normalise them again.  Anything else goes through the public constructor.
_DH_GROUPS = DhId._value2member_map_



# ------------------------------------------------------------------ messages


def message(spi_i: bytes, spi_r: bytes, exchange: ExchangeType, is_initiator: bool, is_response: bool,
            message_id: int, payloads: Sequence[Any]) -> Any:
    """A Message; payloads of every exchange but IKE_SA_INIT go inside SK {...}."""
    body: tuple[Any, ...] = tuple(payloads)
    if exchange != ExchangeType.IKE_SA_INIT:
        # SK(inner=body): its Next Payload field names the first inner payload
        body = (P.SK._from_wire(body, None, P._type_code(body[0]) if body else 0, False, None),)
    if exchange.__class__ is ExchangeType:  # already normalised: the public constructor would only copy
        return _m.Message._from_wire(spi_i, spi_r, exchange, is_initiator, is_response, message_id, body, False, 0)
    return _m.Message(spi_i=spi_i, spi_r=spi_r, exchange=exchange, is_initiator=is_initiator,
                      is_response=is_response, message_id=message_id, payloads=body)


#: ``encode(msg, crypto=None)``: Message.encode itself, so that each message costs no extra call.
encode = _m.Message.encode
#: ``decode(data, crypto=None)``: ikelab.message.decode itself, for the same reason.
decode = _m.decode


def sk_crypto(keys: Any, suite: Any, sender_is_initiator: bool, rng: Any) -> Any:
    """The SK payload keys for messages sent by the original initiator (SK_ei/SK_ai) or responder."""
    encr, integ, fit = _sk_transforms(suite.encr, suite.key_bits, suite.integ)
    if sender_is_initiator:
        sk_e, sk_a = keys.sk_ei, keys.sk_ai if integ is not None else b""
    else:
        sk_e, sk_a = keys.sk_er, keys.sk_ar if integ is not None else b""
    if (fit and sk_e.__class__ is bytes and len(sk_e) == encr.key_len and sk_a.__class__ is bytes
            and len(sk_a) == (integ.key_len if integ is not None else 0)):
        # what SkCrypto's constructor checks, checked here (the transforms once per suite)
        return _sk.SkCrypto._trusted(encr, integ, sk_e, sk_a, rng)
    return _sk.SkCrypto.for_sender(keys, sender_is_initiator, encr, integ, rng)


@lru_cache(maxsize=64)
def _sk_transforms(encr: Any, key_bits: Any, integ: Any) -> tuple[Any, Any, bool]:
    """The suite's cipher and integrity transforms, and whether they may protect IKE messages together."""
    cipher = _t.encryption(encr, key_bits, allow_weak=True)
    mac = _t.integrity(integ, allow_weak=True) if integ is not None and int(integ) != 0 else None
    fit = cipher.ike_allowed and (mac is None) == cipher.is_aead  # SkCrypto's rules (RFC 5282 8)
    return cipher, mac, fit


def is_protected(msg: Any) -> bool:
    for p in msg.payloads:
        if isinstance(p, P.SK):
            return True
    return False


def is_protected_exchange(exchange: Any) -> bool:
    return int(exchange) != int(ExchangeType.IKE_SA_INIT)


#: Exchange Type value -> IANA name (a dict hit is cheaper than the enum's ``name`` property).
_EXCHANGE_NAMES = {int(member): member.name for member in ExchangeType}


def exchange_name(exchange: Any) -> str:
    """``IKE_AUTH`` for 35 or ExchangeType.IKE_AUTH; ``EXCHANGE_n`` for unassigned values."""
    if exchange.__class__ is ExchangeType or exchange.__class__ is int:
        name = _EXCHANGE_NAMES.get(exchange)
        if name is not None:
            return name
    member = ExchangeType._value2member_map_.get(int(exchange))
    return member.name if member is not None else f"EXCHANGE_{int(exchange)}"


def inner(msg: Any) -> tuple[Any, ...]:
    """The payloads of a message, those inside a decrypted SK in place of the SK."""
    return _indexed(msg)[1]


def _indexed(msg: Any) -> tuple[Any, tuple[Any, ...], dict[str, tuple[Any, ...]]]:
    """(msg, inner payloads, payloads by kind name); the last message asked is remembered."""
    global _last
    last = _last
    if last[0] is msg:  # a handler asks one message for KE, Nonce, SA, TSi... in a row
        return last
    out: list[Any] = []
    for p in msg.payloads:
        if isinstance(p, P.SK):
            out.extend(p.inner or ())
        else:
            out.append(p)
    by_kind: dict[str, Any] = {}
    for p in out:
        kind = _KINDS.get(p.__class__)
        if kind is None:  # a subclass of a payload class, or a payload no handler asks for
            kind = next((_KINDS[c] for c in type(p).__mro__ if c in _KINDS), None)
            if kind is None:
                continue
        if kind in by_kind:
            by_kind[kind] += (p,)
        else:
            by_kind[kind] = (p,)
    _last = (msg, tuple(out), by_kind)
    return _last


_last: tuple[Any, tuple[Any, ...], dict[str, tuple[Any, ...]]] = (None, (), {})


def summary(msg: Any) -> str:
    """``HDR, SAi1, KEi, Ni, N(...)`` notation (RFC 7296 1.2)."""
    try:
        # what Message.summary() does, without its two extra calls
        return _views.summary(msg) if msg.__class__ is _m.Message else msg.summary()
    except Exception:  # noqa: BLE001 - a summary must never break the protocol
        return _summary(msg)


def _summary(msg: Any) -> str:
    def name(p: Any) -> str:
        if isinstance(p, P.Notify):
            return f"N({p.type_name})"
        if isinstance(p, P.Delete):
            return "D"
        return getattr(p, "name", type(p).__name__)

    parts = ["HDR"]
    for p in msg.payloads:
        if isinstance(p, P.SK):
            parts.append("SK {" + ", ".join(name(q) for q in (p.inner or ())) + "}")
        else:
            parts.append(name(p))
    return ", ".join(parts)


# ------------------------------------------------------------------ reading payloads

_CLASSES = {"KE": P.KE, "Nonce": P.Nonce, "AUTH": P.AUTH, "IDi": P.IDi, "IDr": P.IDr, "SA": P.SA,
            "TSi": P.TSi, "TSr": P.TSr, "CERT": P.CERT, "CERTREQ": P.CERTREQ, "Delete": P.Delete,
            "Notify": P.Notify, "CP": P.CP}


#: Payload class -> the kind name handlers ask for.
_KINDS = {cls: kind for kind, cls in _CLASSES.items()}


def payloads(msg: Any, kind: str) -> tuple[Any, ...]:
    """Every payload of one kind (``"KE"``, ``"Notify"``...), inner payloads included (the stored tuple)."""
    last = _last
    found = (last[2] if last[0] is msg else _indexed(msg)[2]).get(kind)  # the usual case without a call
    if found is None:
        _CLASSES[kind]  # KeyError for a kind that does not exist
        return ()
    return found


def payload(msg: Any, kind: str) -> Any:
    last = _last
    found = (last[2] if last[0] is msg else _indexed(msg)[2]).get(kind)  # the usual case without a call
    if found is None:
        _CLASSES[kind]  # KeyError for a kind that does not exist
        return None
    return found[0]


def notifies(msg: Any) -> tuple[Any, ...]:
    last = _last
    return (last[2] if last[0] is msg else _indexed(msg)[2]).get("Notify", ())  # the usual case without a call


# The notify lookups compare with ``==``: decoded notify types are NotifyType members (IntEnum)
# or plain ints, which compare by value, as ``int(a) == int(b)`` would.


# The readers below find the message's payloads as notifies() and payload() do, without calling them.


def notify_data(msg: Any, ntype: NotifyType) -> bytes | None:
    last = _last
    for n in (last[2] if last[0] is msg else _indexed(msg)[2]).get("Notify", ()):
        if n.notify_type == ntype:
            return bytes(n.data)
    return None


def notify_of(msg: Any, ntype: NotifyType) -> Any:
    last = _last
    for n in (last[2] if last[0] is msg else _indexed(msg)[2]).get("Notify", ()):
        if n.notify_type == ntype:
            return n
    return None


def notify_datas(msg: Any, ntype: NotifyType) -> list[bytes]:
    last = _last
    datas: list[bytes] = []
    for n in (last[2] if last[0] is msg else _indexed(msg)[2]).get("Notify", ()):  # a loop, as in encode_chain
        if n.notify_type == ntype:
            datas.append(bytes(n.data))
    return datas


def first_error(msg: Any) -> str | None:
    last = _last
    for n in (last[2] if last[0] is msg else _indexed(msg)[2]).get("Notify", ()):
        if n.is_error:
            return n.type_name
    return None


def sa_proposals(msg: Any) -> tuple[Any, ...] | None:
    last = _last
    found = (last[2] if last[0] is msg else _indexed(msg)[2]).get("SA")
    return None if found is None else tuple(found[0].proposals)


def only_sa(msg: Any) -> Any:
    props = sa_proposals(msg)
    if not props:
        raise NegotiationError("response without an SA payload", notify_type="INVALID_SYNTAX")
    if len(props) != 1:
        raise NegotiationError(f"the responder must choose one proposal, it sent {len(props)}")
    return props[0]


def offered_spi(offered: Sequence[Any], chosen: Any) -> bytes:
    """The SPI of the offered proposal that ``chosen`` was selected from (same Proposal Num)."""
    for p in offered:
        if p.number == chosen.number:
            return bytes(p.spi)
    return bytes(chosen.spi)


def nonce_of(msg: Any) -> bytes | None:
    n = payload(msg, "Nonce")
    return None if n is None else bytes(n.data)


def reserved_spi(spi: bytes) -> str | None:
    """Why a peer's ESP or AH SPI cannot be used, or None: 0 and 1..255 are reserved (RFC 4303 2.1, 4302 2.4)."""
    value = int.from_bytes(spi, "big")
    if len(spi) == 4 and value < 256:
        return f"SPI 0x{spi.hex()} is reserved (RFC 4303 2.1: 0 never names an SA, 1..255 are IANA's)"
    return None


def short_nonce(nonce: bytes, prf: Any) -> str | None:
    """Why ``nonce`` is too short for the negotiated ``prf``, or None (RFC 7296 2.10).

    A nonce is at least 128 bits (the payload decoder checks that) "and MUST be at least half the key
    size of the negotiated pseudorandom function": 32 octets with PRF_HMAC_SHA2_512.
    """
    known = _NONCE_MIN.get(prf)
    if known is None:
        p = get_prf(prf, allow_weak=True)  # only its key size is read here; a weak PRF was refused before
        known = _NONCE_MIN[prf] = (max(16, p.key_len // 2), p.name)
    need, name = known
    if len(nonce) < need:
        return (f"a nonce of {len(nonce)} octets; with {name} it must be at least {need} octets, half the PRF's "
                f"key size (RFC 7296 2.10)")
    return None


#: PRF -> (the shortest nonce it allows, its name), for short_nonce
_NONCE_MIN: dict[Any, tuple[int, str]] = {}


def cookie_of(msg: Any) -> bytes | None:
    """The COOKIE notify's data, which must be the first payload (RFC 7296 2.6)."""
    body = inner(msg)
    if body and isinstance(body[0], P.Notify) and int(body[0].notify_type) == int(NotifyType.COOKIE):
        return bytes(body[0].data)
    return None


def id_body(id_payload: Any) -> bytes:
    """RestOfInitIDPayload: ID Type | RESERVED (3) | Identification Data (RFC 7296 2.15)."""
    return bytes([int(id_payload.id_type)]) + b"\x00\x00\x00" + bytes(id_payload.data)


def cert_of(cert_payload: Any) -> Any:
    from .cert_checks import load_certificate

    if int(cert_payload.encoding) != int(CertEncoding.X509_CERTIFICATE_SIGNATURE):
        raise AuthenticationError(f"certificate encoding {cert_payload.encoding} is not supported")
    return load_certificate(bytes(cert_payload.data))


def proposals_dh(props: Iterable[Any]) -> list[int]:
    groups: list[int] = []
    for p in props:  # loops, as in payloads.encode_chain
        for t in p.transforms:
            if int(t.type) == int(TransformType.DH) and int(t.id) != 0:
                groups.append(int(t.id))
    return groups


def ke_preference(ke: Any) -> DhId | None:
    """The group of a KE payload as a preference for proposal selection: the DhId member the decoder made, or
    None for no KE or an unassigned group number, which no proposal can match; the KE is then answered with
    INVALID_KE_PAYLOAD naming the group chosen (RFC 7296 1.3), not refused as bad syntax."""
    return ke.group if ke is not None and ke.group.__class__ is DhId else None


def first_dh(props: Sequence[Any]) -> DhId | None:
    groups = proposals_dh(props[:1]) or proposals_dh(props)
    if not groups:
        return None
    member = _DH_GROUPS.get(groups[0])  # DhId(value) without the enum's Python-level __call__
    return member if member is not None else DhId(groups[0])


def all_dh(props: Sequence[Any]) -> list[int]:
    return proposals_dh(props)


def group_asked(msg: Any, offered: Any, sent: Any) -> int | None:
    """The DH group an INVALID_KE_PAYLOAD answer asks for, if we offered it and did not just send it.

    RFC 7296 1.3: after INVALID_KE_PAYLOAD the initiator "will probably retry the exchange with a
    Diffie-Hellman proposal and KEi in the group that the responder gave"; any other group is not
    worth a retry (and would not be ours to choose).
    """
    data = notify_data(msg, NotifyType.INVALID_KE_PAYLOAD)
    if data is None or len(data) < 2:
        return None
    group = int.from_bytes(data[:2], "big")
    if group not in all_dh(offered) or (sent is not None and group == int(sent)):
        return None
    return group


# ------------------------------------------------------------------ building payloads


def numbered(props: Iterable[Any], *, spi: bytes = b"", protocol: ProtocolId | None = None,
             dh: Any = "keep") -> list[Any]:
    """Proposals renumbered 1, 2, ... with ``spi``; ``dh``: "keep", None (strip DH) or a group."""
    if props.__class__ is tuple:
        # the configured proposals: the same tuple in every exchange, found by identity (ikelab.memo)
        out = _NUMBERED.get(props, protocol, dh)
        if out is None:
            out = _NUMBERED.put(props, _numbered(props, protocol, dh), protocol, dh)
    else:
        out = _numbered(tuple(props), protocol, dh)
    if spi:
        return [p.with_spi(spi) for p in out]
    return list(out)


#: A proposals tuple (with protocol, dh) -> its numbered form.
_NUMBERED: ByIdentity[tuple[Any, ...]] = ByIdentity(64)


@lru_cache(maxsize=64)
def _numbered(props: tuple[Any, ...], protocol: ProtocolId | None, dh: Any) -> tuple[Any, ...]:
    # cached: the configured proposals are offered again in every exchange
    out = []
    for n, p in enumerate(props, 1):
        transforms = tuple(p.transforms)
        if dh != "keep":
            transforms = tuple(t for t in transforms if int(t.type) != int(TransformType.DH))
            if dh is not None:
                transforms = transforms + (P.Transform(TransformType.DH, int(dh)),)
        out.append(replace(p, number=n, spi=b"", transforms=transforms,
                           protocol=protocol if protocol is not None else p.protocol))
    return tuple(out)


def sa(props: Sequence[Any]) -> Any:
    return P.SA._from_wire(tuple(props), False)  # SA's constructor only makes the tuple


def ke(group: Any, data: bytes) -> Any:
    g = int(group)
    return P.KE._from_wire(_DH_GROUPS.get(g, g), data, False)  # the group normalised as KE(g, data) would


def nonce(data: bytes) -> Any:
    return P.Nonce._from_wire(data, False)  # Nonce's constructor checks nothing (encode checks the size)


def notify(ntype: NotifyType, *, data: bytes = b"", protocol: ProtocolId = ProtocolId.NONE,
           spi: bytes = b"") -> Any:
    if ntype.__class__ is NotifyType and protocol.__class__ is ProtocolId:
        return P.Notify._from_wire(ntype, protocol, spi, data, False)
    return P.Notify(ntype, protocol, spi, data)


def certreq(hashes: bytes) -> Any:
    return P.CERTREQ(CertEncoding.X509_CERTIFICATE_SIGNATURE, hashes)


def cert(certificate: Any) -> Any:
    from cryptography.hazmat.primitives import serialization

    return P.CERT(CertEncoding.X509_CERTIFICATE_SIGNATURE, certificate.public_bytes(serialization.Encoding.DER))


def auth(method: AuthMethod, value: bytes) -> Any:
    if method.__class__ is AuthMethod:
        return P.AUTH._from_wire(method, value, False)
    return P.AUTH(method, value)


def id_payload(initiator: bool, identity: Any) -> Any:
    cls = P.IDi if initiator else P.IDr
    if identity.id_type.__class__ is IdType:
        return cls._from_wire(identity.id_type, bytes(identity.data), False)
    return cls(identity.id_type, bytes(identity.data))


def delete(protocol: ProtocolId, spis: Sequence[bytes] = ()) -> Any:
    return P.Delete(protocol, tuple(spis))


def selectors_of(ts_payload: Any) -> tuple[Any, ...]:
    """The address-range selectors of a TSi/TSr payload (types ikelab does not know are left out)."""
    selectors = ts_payload.selectors
    for t in selectors:
        if t.__class__ is not P.TrafficSelector:
            return tuple(t for t in selectors if isinstance(t, P.TrafficSelector))
    return selectors  # the payload's own tuple: a recalled payload gives the same tuple every exchange


def ts_payloads(tsi: Sequence[Any], tsr: Sequence[Any]) -> list[Any]:
    return [P.TSi._from_wire(tuple(tsi), False), P.TSr._from_wire(tuple(tsr), False)]  # the constructors only make tuples


def selectors(value: Any, default_addr: str) -> tuple[Any, ...]:
    """Traffic selectors from the configuration (parsed or strings); default: the host address."""
    if not value:
        return (P.TrafficSelector.from_address(default_addr),)
    out = []
    for v in value:
        if isinstance(v, str):
            from .ts import ts_from_string

            out.append(ts_from_string(v, dynamic=default_addr))
        else:
            out.append(v)
    return tuple(out)


def ts_strings(selectors_: Sequence[Any]) -> tuple[str, ...]:
    """The selectors as text, for events; a CHILD SA's selectors are the same tuple every exchange."""
    texts = _TS_TEXTS.get(selectors_)  # type: ignore[arg-type]
    if texts is None:
        texts = _TS_TEXTS.put(selectors_, tuple(_ts_text(s) for s in selectors_))  # type: ignore[arg-type]
    return texts


#: A selectors tuple -> its selectors as text.
_TS_TEXTS: ByIdentity[tuple[str, ...]] = ByIdentity(256)


@lru_cache(maxsize=256)
def _ts_text(selector: Any) -> str:
    # a new tuple of known selectors: strongSwan's syntax, which ikelab.ts.ts_from_string reads back (ikelab.host
    # builds its SPD from these texts): "10.1.0.5-10.1.0.9", "10.2.0.0/16[tcp/443]", not str()'s "a..b", "[6/443]"
    from .ts import ts_to_string

    return ts_to_string(selector)


__all__ = [
    "all_dh",
    "auth",
    "cert",
    "cert_of",
    "certreq",
    "cookie_of",
    "decode",
    "delete",
    "encode",
    "exchange_name",
    "first_dh",
    "first_error",
    "group_asked",
    "id_body",
    "id_payload",
    "inner",
    "is_protected",
    "is_protected_exchange",
    "ke",
    "message",
    "nonce",
    "nonce_of",
    "reserved_spi",
    "short_nonce",
    "notifies",
    "notify",
    "notify_data",
    "notify_datas",
    "notify_of",
    "numbered",
    "offered_spi",
    "only_sa",
    "payload",
    "payloads",
    "proposals_dh",
    "sa",
    "sa_proposals",
    "selectors",
    "selectors_of",
    "sk_crypto",
    "summary",
    "ts_payloads",
    "ts_strings",
]
