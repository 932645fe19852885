"""Views of IKEv2 messages for people: RFC notation, Wireshark's Info column, a field dump.

Three ways to look at a :class:`~ikelab.message.Message`:

* :func:`summary` writes the payload list in RFC 7296 notation, e.g.
  ``HDR, SAi1, KEi, Ni, N(NAT_DETECTION_SOURCE_IP)`` and
  ``HDR, SK {IDi, AUTH, SAi2, TSi, TSr}``: SA is SAi1/SAr1 in IKE_SA_INIT
  and SAi2/SAr2 in IKE_AUTH, and KE and Nonce take ``i`` in requests and
  ``r`` in responses (RFC 7296 1.2-1.3).  :func:`brackets` gives the
  strongSwan log form ``[ SA KE No N(NATD_S_IP) N(NATD_D_IP) ]``.
* :func:`info_column` is the Info column of Wireshark's ISAKMP dissector
  (``packet-isakmp.c``): the exchange name, then
  ``col_append_fstr(" MID=%02u %s %s")`` with "Initiator"/"Responder" for the
  I flag and "Response"/"Request" for the R flag, e.g.
  ``IKE_SA_INIT MID=00 Initiator Request``; exchanges Wireshark 4.0 does not
  name print as ``Unknown 43``.  The Message ID is decimal, zero-padded to
  two digits, so 100 prints as ``MID=100``.
* :func:`dump` lists every field (offset, length, path, value), the way
  Wireshark's details pane sits beside the hex; :func:`format_dump` renders
  it as text.  The rows come from the decoder itself.
"""

from __future__ import annotations

from enum import IntEnum

from .constants import CfgType, ExchangeType, NotifyType
from .errors import ConfigError, IkelabError
from .message import Message, decode, not_a_message
from .payloads import AUTH, CERT, CERTREQ, CP, EAP, KE, SA, SK, SKF, Delete, IDi, IDr, Nonce, Notify, Payload, TSi, TSr, UnknownPayload, VendorId
from .sk import Crypto
from .wire import DumpRow

__all__ = ["DumpRow", "brackets", "dump", "format_dump", "info_column", "payload_label", "summary"]

# Wireshark 4.0 packet-isakmp.c ``exchange_v2_type``.
_WIRESHARK_EXCHANGES = {34: "IKE_SA_INIT", 35: "IKE_AUTH", 36: "CREATE_CHILD_SA", 37: "INFORMATIONAL", 38: "IKE_SESSION_RESUME"}

# strongSwan's notify_type_short_names (src/libcharon/encoding/payloads/notify_payload.c).
_STRONGSWAN_NOTIFY = {
    9: "INVAL_MID", 11: "INVAL_SPI", 14: "NO_PROP", 17: "INVAL_KE", 24: "AUTH_FAILED",
    34: "SINGLE_PAIR", 35: "NO_ADD_SAS", 36: "INT_ADDR_FAIL", 37: "FAIL_CP_REQ", 38: "TS_UNACCEPT",
    39: "INVAL_SEL", 40: "UNACCEPT_ADDR", 41: "UNEXPECT_NAT", 42: "ASSIGNED_HoA", 43: "TEMP_FAIL", 44: "NO_CHILD_SA",
    16384: "INIT_CONTACT", 16385: "SET_WINSIZE", 16386: "ADD_TS_POSS", 16387: "IPCOMP_SUP", 16388: "NATD_S_IP",
    16389: "NATD_D_IP", 16390: "COOKIE", 16391: "USE_TRANSP", 16392: "HTTP_CERT_LOOK", 16393: "REKEY_SA",
    16394: "ESP_TFC_PAD_N", 16395: "NON_FIRST_FRAG", 16396: "MOBIKE_SUP", 16397: "ADD_4_ADDR", 16398: "ADD_6_ADDR",
    16399: "NO_ADD_ADDR", 16400: "UPD_SA_ADDR", 16401: "COOKIE2", 16402: "NO_NATS", 16403: "AUTH_LFT",
    16404: "MULT_AUTH", 16405: "AUTH_FOLLOWS", 16406: "REDIR_SUP", 16407: "REDIR", 16408: "REDIR_FROM",
    16409: "TKT_LT_OPAK", 16410: "TKT_REQ", 16411: "TKT_ACK", 16412: "TKT_NACK", 16413: "TKT_OPAK",
    16414: "LINK_ID", 16415: "WESP_MODE", 16416: "ROHC_SUP", 16417: "EAP_ONLY", 16418: "CHDLESS_SUP",
    16419: "CRASH_DET", 16420: "MSG_ID_SYN_SUP", 16421: "RPL_CTR_SYN_SUP", 16422: "MSG_ID_SYN",
    16423: "RPL_CTR_SYN", 16424: "SEC_PASSWD", 16425: "PSK_PST", 16426: "PSK_CFM", 16427: "ERX_SUP",
    16428: "IFOM_CAP", 16429: "SENDER_REQ_ID", 16430: "FRAG_SUP", 16431: "HASH_ALG",
}

# Wireshark 4.0 packet-eap.c ``eap_code_vals`` and ``eap_type_vals``: an EAP payload that
# Wireshark can see (in the clear, or decrypted) is handed to the EAP dissector, which
# clears the Info column and writes "<code>" or "<code>, <type>" instead.
_EAP_CODES = {1: "Request", 2: "Response", 3: "Success", 4: "Failure", 5: "Initiate", 6: "Finish"}
_EAP_TYPES = {
    1: "Identity", 2: "Notification", 3: "Legacy Nak (Response Only)", 4: "MD5-Challenge EAP (EAP-MD5-CHALLENGE)",
    5: "One-Time Password EAP (EAP-OTP)", 6: "Generic Token Card EAP (EAP-GTC)", 7: "Allocated", 8: "Allocated",
    9: "RSA Public Key Authentication EAP (EAP-RSA-PKA)", 10: "DSS Unilateral EAP (EAP-DSS)",
    11: "KEA EAP (EAP-KEA)", 12: "KEA Validate EAP (EAP-KEA-VALIDATE)", 13: "TLS EAP (EAP-TLS)",
    14: "Defender Token EAP (EAP-AXENT)", 15: "RSA Security SecurID EAP (EAP-RSA-SECURID)",
    16: "Arcot Systems EAP (EAP-ARCOT-SYSTEMS)", 17: "Cisco Wireless EAP / Lightweight EAP (EAP-LEAP)",
    18: "GSM Subscriber Identity Modules EAP (EAP-SIM)",
    19: "Secure Remote Password SHA1 Part 1 EAP (EAP-SRP-SHA1-PART1)",
    20: "Secure Remote Password SHA1 Part 2 EAP (EAP-SRP-SHA1-PART2)", 21: "Tunneled TLS EAP (EAP-TTLS)",
    22: "Remote Access Service EAP (EAP-RAS)", 23: "UMTS Authentication and Key Agreement EAP (EAP-AKA)",
    24: "3Com Wireless EAP (EAP-3COM-WIRELESS)", 25: "Protected EAP (EAP-PEAP)",
    26: "MS-Authentication EAP (EAP-MS-AUTH)", 27: "Mutual Authentication w/Key Exchange EAP (EAP-MAKE)",
    28: "CRYPTOCard EAP (EAP-CRYPTOCARD)", 29: "MS-CHAP-v2 EAP (EAP-MS-CHAP-V2)", 30: "DynamID EAP (EAP-DYNAMID)",
    31: "Rob EAP (EAP-ROB)", 32: "Protected One-Time Password EAP (EAP-POTP)",
    33: "MS-Authentication TLV EAP (EAP-MS-AUTH-TLV)", 34: "SentriNET (EAP-SENTRINET)",
    35: "Actiontec Wireless EAP (EAP-ACTIONTEC-WIRELESS)",
    36: "Cogent Systems Biometrics Authentication EAP (EAP-COGENT-BIOMETRIC)",
    37: "AirFortress EAP (EAP-AIRFORTRESS)", 38: "HTTP Digest EAP (EAP-HTTP-DIGEST)",
    39: "SecureSuite EAP (EAP-SECURESUITE)", 40: "DeviceConnect EAP (EAP-DEVICECONNECT)",
    41: "Simple Password Exponential Key Exchange EAP (EAP-SPEKE)", 42: "MOBAC EAP (EAP-MOBAC)",
    43: "Flexible Authentication via Secure Tunneling EAP (EAP-FAST)", 44: "ZoneLabs EAP (EAP-ZLXEAP)",
    45: "Link EAP (EAP-LINK)", 46: "Password Authenticated eXchange EAP (EAP-PAX)",
    47: "Pre-Shared Key EAP (EAP-PSK)", 48: "Shared-secret Authentication and Key Establishment EAP (EAP-SAKE)",
    49: "Internet Key Exchange v2 EAP (EAP-IKEv2)", 50: "UMTS Authentication and Key Agreement' EAP (EAP-AKA')",
    51: "Generalized Pre-Shared Key EAP (EAP-GPSK)", 52: "Password EAP (EAP-pwd)",
    53: "Encrypted Key Exchange v1 EAP (EAP-EKEv1)", 55: "Tunneled EAP protocol", 254: "Expanded Type",
    255: "Experimental",
}
# strongSwan's message.c writes a CP payload as "CP", then, if it has attributes, the CFG type
# ("RQ", "RP", "S", "A") and the attributes' configuration_attribute_type_short_names in parentheses.
_STRONGSWAN_CP = {CfgType.CFG_REQUEST: "RQ", CfgType.CFG_REPLY: "RP", CfgType.CFG_SET: "S", CfgType.CFG_ACK: "A"}
_STRONGSWAN_CFG_ATTRIBUTES = {
    1: "ADDR", 2: "MASK", 3: "DNS", 4: "NBNS", 5: "EXP", 6: "DHCP", 7: "VER", 8: "ADDR6", 9: "MASK6", 10: "DNS6",
    11: "NBNS6", 12: "DHCP6", 13: "SUBNET", 14: "SUP", 15: "SUBNET6", 16: "MIP6HPFX", 17: "LINK6", 18: "PFX6",
    19: "HOA", 23456: "SRV", 23457: "SRV6",
}


def _enum_text(value: int) -> str:
    return value.name if isinstance(value, IntEnum) else str(int(value))


#: Payloads whose label is their IANA short name whatever the message (exact classes).
_PLAIN_LABELS = {cls: cls._type_name for cls in (IDi, IDr, CERT, CERTREQ, AUTH, Delete, VendorId, TSi, TSr, EAP)}
#: ``N(NAME)`` of each NotifyType member, filled as they are met.
_NOTIFY_LABELS: dict[NotifyType, str] = {}


def _notify_label(notify_type: NotifyType | int) -> str:
    if type(notify_type) is NotifyType:
        label = _NOTIFY_LABELS.get(notify_type)
        if label is None:
            label = _NOTIFY_LABELS[notify_type] = f"N({notify_type.name})"
        return label
    return f"N({_enum_text(notify_type)})"


def payload_label(payload: Payload, message: Message) -> str:
    """The RFC 7296 name of ``payload`` inside ``message`` (``SAi1``, ``KEr``, ``N(COOKIE)``...)."""
    if isinstance(payload, Notify):  # the most frequent payload first
        return _notify_label(payload.notify_type)
    label = _PLAIN_LABELS.get(payload.__class__)
    if label is not None:
        return label
    try:
        return _label(payload, message)
    except AttributeError:
        if not isinstance(payload, Payload):
            raise ConfigError(f"payload must be an IKE payload (ikelab.payloads), not {type(payload).__name__}",
                              field="payload", value=payload) from None
        raise ConfigError(f"message must be the decoded Message the payload came in, not {type(message).__name__}",
                          field="message", value=message) from None


def _label(payload: Payload, message: Message) -> str:
    """payload_label past the payloads whose label does not depend on the message."""
    side = "r" if message.is_response else "i"
    if isinstance(payload, SA):
        if message.exchange == ExchangeType.IKE_SA_INIT:
            return f"SA{side}1"
        if message.exchange == ExchangeType.IKE_AUTH:
            return f"SA{side}2"
        return "SA"
    if isinstance(payload, KE):
        return f"KE{side}"
    if isinstance(payload, Nonce):
        return f"N{side}"
    if isinstance(payload, CP):
        return f"CP({_enum_text(payload.cfg_type)})"
    if isinstance(payload, SKF):
        return f"SKF({payload.fragment_number}/{payload.total_fragments})"
    if isinstance(payload, SK):
        if payload.inner is None:
            return "SK {...}"
        return "SK {" + ", ".join([payload_label(p, message) for p in payload.inner]) + "}"
    if isinstance(payload, UnknownPayload):
        return f"UNKNOWN({payload.payload_type})"
    return payload.name  # IDi, IDr, CERT, CERTREQ, AUTH, D, V, TSi, TSr, EAP


def summary(message: Message) -> str:
    """``HDR, SAi1, KEi, Ni, N(NAT_DETECTION_SOURCE_IP), ...`` (RFC 7296 notation).

    The text depends only on the message's *shape* (see :func:`_shape`), and the
    engine sends and receives the same few shapes again and again, so summaries
    are remembered by shape.
    """
    try:
        exchange, payloads = message.exchange, message.payloads
    except AttributeError:
        raise not_a_message("summary", message) from None
    shape = _shape(payloads) if exchange.__class__ is ExchangeType or exchange.__class__ is int else None
    if shape is None:  # a payload whose label depends on more than its class: not remembered
        return _summary(message)
    key = (exchange, bool(message.is_response), shape)  # labels use the R flag's truth value
    text = _SUMMARIES.get(key)
    if text is None:
        if len(_SUMMARIES) >= _SUMMARIES_MAX:
            _SUMMARIES.clear()
        text = _SUMMARIES[key] = _summary(message)
    return text


def _summary(message: Message) -> str:
    return ", ".join(["HDR"] + [payload_label(p, message) for p in message.payloads])


#: Payload classes whose label follows from the class and the message (exchange, R flag) alone.
_BY_CLASS = frozenset((*_PLAIN_LABELS, SA, KE, Nonce))
#: Summaries by (exchange, R flag, shape); emptied when it grows past _SUMMARIES_MAX.
_SUMMARIES: dict[tuple[object, object, tuple[object, ...]], str] = {}
_SUMMARIES_MAX = 256


def _shape(payloads: tuple[Payload, ...]) -> tuple[object, ...] | None:
    """What the labels of ``payloads`` depend on: the class, a Notify's type, an SK's inner shape.

    None when some label depends on more (CP, SKF, unknown payloads, a notify type that
    is not a NotifyType member): such summaries are computed every time.
    """
    out: list[object] = []
    for p in payloads:
        cls = p.__class__
        if cls is Notify:
            t = p.notify_type
            if t.__class__ is not NotifyType:  # an int or a bool would compare equal to a member
                return None
            out.append(t)
        elif cls in _BY_CLASS:
            out.append(cls)
        elif cls is SK:
            if p.inner is None:
                out.append("SK {...}")
            else:
                inner = _shape(p.inner)
                if inner is None:
                    return None
                out.append(inner)
        else:
            return None
    return tuple(out)


def _short(payload: Payload) -> str:
    if isinstance(payload, Nonce):
        return "No"
    if isinstance(payload, Notify):
        code = int(payload.notify_type)
        return f"N({_STRONGSWAN_NOTIFY.get(code) or _enum_text(payload.notify_type)})"
    if isinstance(payload, CP):
        names = [_STRONGSWAN_CFG_ATTRIBUTES.get(int(a), f"({int(a)})") for a, _ in payload.attributes]
        if not names:
            return "CP"
        kind = _STRONGSWAN_CP.get(payload.cfg_type, "")  # type: ignore[call-overload]
        return f"CP{kind}({' '.join(names)})"
    if isinstance(payload, SKF):
        return f"EF({payload.fragment_number}/{payload.total_fragments})"
    if isinstance(payload, SK):
        return "E" if payload.inner is None else " ".join(_short(p) for p in payload.inner)
    if isinstance(payload, UnknownPayload):
        return f"UNKNOWN({payload.payload_type})"
    return payload.name


def brackets(message: Message) -> str:
    """The strongSwan log form: ``[ SA KE No N(NATD_S_IP) N(NATD_D_IP) ]`` (inner payloads of SK inline)."""
    if not isinstance(message, Message):
        raise not_a_message("brackets", message)
    parts = [_short(p) for p in message.payloads]
    return "[ " + " ".join(p for p in parts if p) + " ]"


def info_column(message: Message, *, reassembled: bool = False) -> str:
    """Wireshark's Info column for this IKEv2 message, e.g. ``IKE_AUTH MID=01 Responder Response``.

    An SKF fragment adds `` (fragment n/N)``; Wireshark adds `` (reassembled)``
    to the last fragment when it could decrypt and join them all: pass
    ``reassembled=True`` for that frame.

    When the message carries an EAP payload Wireshark can see (in the clear,
    or inside an SK payload that was decrypted) Wireshark's EAP dissector
    replaces the column with the EAP code and type, e.g. ``Response,
    Identity`` or ``Success``; this is reproduced for well-formed EAP
    messages.  (EAP methods that dissect their data further, such as EAP-TLS
    carrying TLS records, may append more in Wireshark.)
    """
    if not isinstance(message, Message):
        raise not_a_message("info_column", message)
    eaps = [p for p in message.all_payloads if isinstance(p, EAP) and len(p.data) >= 4]
    if eaps:
        data = eaps[-1].data
        text = _EAP_CODES.get(data[0], f"Unknown code (0x{data[0]:02X})")
        if data[0] in (1, 2) and len(data) >= 5:
            text += ", " + _EAP_TYPES.get(data[4], f"Unknown type (0x{data[4]:02X})")
        return text
    code = int(message.exchange)
    name = _WIRESHARK_EXCHANGES.get(code, f"Unknown {code}")
    text = f"{name} MID={message.message_id:02d} {'Initiator' if message.is_initiator else 'Responder'} {'Response' if message.is_response else 'Request'}"
    last = message.payloads[-1] if message.payloads else None
    if isinstance(last, SKF):
        text += f" (fragment {last.fragment_number}/{last.total_fragments})" + (" (reassembled)" if reassembled else "")
    return text


def dump(data: bytes, crypto: Crypto | None = None, *, strict: bool = True) -> list[DumpRow]:
    """Every field of the IKE message ``data``: ``DumpRow(offset, length, path, value, decrypted)``.

    With ``crypto`` the SK payload is decrypted and its inner payloads are
    listed (``decrypted=True``).  With ``strict=False`` a decoding error does
    not raise: the rows found so far are returned, followed by one row with
    path ``error`` at the offending offset.
    """
    rows: list[DumpRow] = []
    try:
        decode(data, crypto, trace=rows)
    except IkelabError as exc:
        if strict:
            raise
        offset = getattr(exc, "offset", rows[-1].offset + rows[-1].length if rows else 0)
        rows.append(DumpRow(offset, 0, "error", f"{type(exc).__name__}: {exc}"))
    return rows


def format_dump(rows: list[DumpRow], data: bytes | None = None, *, max_hex: int = 16) -> str:
    """The rows as an aligned table; with ``data``, each field's octets in hex beside it.

    Decrypted fields are marked ``*`` (their octets are not those of ``data``).
    """
    if isinstance(rows, (str, bytes, bytearray)) or not hasattr(rows, "__iter__"):
        raise ConfigError(f"format_dump: rows must be a list of DumpRow (from views.dump), not {type(rows).__name__}",
                          field="rows", value=rows)
    rows = list(rows)
    for r in rows:
        if not isinstance(r, DumpRow):
            raise ConfigError(f"format_dump: rows must be a list of DumpRow (from views.dump), but one is "
                              f"{type(r).__name__} {r!r:.40}", field="rows", value=r)
    if data is not None and not isinstance(data, (bytes, bytearray, memoryview)):
        raise ConfigError(f"format_dump: data must be the message's bytes (or None), not {type(data).__name__}",
                          field="data", value=data)
    if max_hex.__class__ is bool or not isinstance(max_hex, int) or max_hex < 0:
        raise ConfigError(f"format_dump: max_hex must be a number of octets (an int >= 0), not {max_hex!r:.40}",
                          field="max_hex", value=max_hex)
    width = max((len(r.path) for r in rows), default=5)
    lines = [f"{'offset':>6} {'len':>4}  {'field':<{width}}  value" + ("  | octets" if data is not None else "")]
    for r in rows:
        mark = "*" if r.decrypted else " "
        line = f"{r.offset:>6} {r.length:>4}{mark} {r.path:<{width}}  {r.value}"
        if data is not None and not r.decrypted and r.length:
            raw = data[r.offset : r.offset + min(r.length, max_hex)].hex()
            line += f"  | {raw}{'...' if r.length > max_hex else ''}"
        lines.append(line)
    return "\n".join(lines)

