"""Proposals as text: strongSwan's proposal syntax, read and written (RFC 7296 3.3).

Proposal text is strongSwan's ``swanctl.conf`` syntax (``proposals``,
``esp_proposals``): algorithm keywords joined by ``-``, proposals by ``,``::

    aes128-sha256-modp2048          IKE: ENCR_AES_CBC/128, PRF_HMAC_SHA2_256 and
                                    AUTH_HMAC_SHA2_256_128 (both from "sha256"), MODP_2048
    aes256gcm16-prfsha384-ecp384    IKE AEAD: no INTEG, the PRF named explicitly
    aes128-sha256                   ESP without PFS;  aes128-sha256-modp2048: with PFS
    aes128gcm16-esn                 ESP AEAD with extended sequence numbers (default noesn)

:func:`parse_proposal` turns one such text into a
:class:`~ikelab.payloads.Proposal`, :func:`proposal_to_string` writes one back,
and :func:`proposal_to_iana` gives the form charon logs. :func:`check_proposal`
holds a Proposal built from transforms to the same rules as text.  Which transform types
a proposal must hold is RFC 7296 3.3.3's table (see :mod:`ikelab.proposals`).

Differences from charon, on purpose: an ESP proposal pairing an AEAD cipher
with an integrity keyword is an error here (RFC 5282 8) where charon drops the
integrity algorithms, and weak keywords need ``allow_weak=True``.

How the responder chooses among proposals is :mod:`ikelab.proposals`, which
re-exports this module's public names.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Iterable, NoReturn

from .constants import DhId, EncrId, EsnId, IntegId, PrfId, ProtocolId, TransformType, lookup
from .errors import ConfigError, refuse_weak
from .payloads import Proposal, Transform

__all__ = [
    "AEAD", "KEYWORDS", "check_proposal", "is_aead", "parse_proposal", "parse_proposals", "proposal_to_iana",
    "proposal_to_string",
    "refuse_weak_transforms",
]

AEAD: frozenset[EncrId] = frozenset({
    EncrId.ENCR_AES_CCM_8, EncrId.ENCR_AES_CCM_12, EncrId.ENCR_AES_CCM_16,
    EncrId.ENCR_AES_GCM_8, EncrId.ENCR_AES_GCM_12, EncrId.ENCR_AES_GCM_16,
    EncrId.ENCR_CHACHA20_POLY1305, EncrId.ENCR_CAMELLIA_CCM_8, EncrId.ENCR_CAMELLIA_CCM_12,
    EncrId.ENCR_CAMELLIA_CCM_16,
})


def is_aead(encr: EncrId | int) -> bool:
    """True for combined-mode (AEAD) ciphers, which need no INTEG transform (RFC 5282)."""
    return encr in AEAD


# --------------------------------------------------------------------------- keywords

#: keyword -> Transform (strongSwan's proposal keywords, for the algorithms ikelab implements).
KEYWORDS: dict[str, Transform] = {}
#: keyword -> why it is weak (needs allow_weak=True).
_WEAK: dict[str, str] = {
    "3des": "3DES has a 64-bit block: Sweet32 collisions after a few tens of GB"
            " (RFC 8221 5 SHOULD NOT; RFC 8247 2.1 MAY)",
    "md5": "MD5 is broken for collisions; HMAC-MD5 is deprecated (RFC 8247 2.3, RFC 6151)",
    "prfmd5": "MD5 is broken for collisions; PRF_HMAC_MD5 MUST NOT be used (RFC 8247 2.2)",
    "modp768": "MODP_768 (group 1): 768-bit discrete logarithms have been computed in public (RFC 8247 2.4)",
    "modp1024": "MODP_1024 (group 2): about 80 bits of strength, within reach of nation states (RFC 8247 2.4)",
    "modp1536": "MODP_1536 (group 5): below 128 bits of strength (RFC 8247 2.4)",
}
#: INTEG keyword -> PRF used when an IKE proposal names no PRF (strongSwan's rule).
_PRF_FROM_INTEG: dict[IntegId, PrfId] = {
    IntegId.AUTH_HMAC_MD5_96: PrfId.PRF_HMAC_MD5,
    IntegId.AUTH_HMAC_SHA1_96: PrfId.PRF_HMAC_SHA1,
    IntegId.AUTH_HMAC_SHA2_256_128: PrfId.PRF_HMAC_SHA2_256,
    IntegId.AUTH_HMAC_SHA2_384_192: PrfId.PRF_HMAC_SHA2_384,
    IntegId.AUTH_HMAC_SHA2_512_256: PrfId.PRF_HMAC_SHA2_512,
    IntegId.AUTH_AES_XCBC_96: PrfId.PRF_AES128_XCBC,
    IntegId.AUTH_AES_CMAC_96: PrfId.PRF_AES128_CMAC,
}


def _kw(words: str, transform: Transform) -> None:
    for w in words.split():
        KEYWORDS[w] = transform


for _bits in (128, 192, 256):
    _kw(f"aes{_bits}", Transform(TransformType.ENCR, EncrId.ENCR_AES_CBC, _bits))
    _kw(f"aes{_bits}ctr", Transform(TransformType.ENCR, EncrId.ENCR_AES_CTR, _bits))
    for _icv, _gcm, _ccm in ((8, EncrId.ENCR_AES_GCM_8, EncrId.ENCR_AES_CCM_8),
                             (12, EncrId.ENCR_AES_GCM_12, EncrId.ENCR_AES_CCM_12),
                             (16, EncrId.ENCR_AES_GCM_16, EncrId.ENCR_AES_CCM_16)):
        _kw(f"aes{_bits}gcm{_icv} aes{_bits}gcm{_icv * 8}", Transform(TransformType.ENCR, _gcm, _bits))
        _kw(f"aes{_bits}ccm{_icv} aes{_bits}ccm{_icv * 8}", Transform(TransformType.ENCR, _ccm, _bits))
    # strongSwan's proposal_keywords_static.txt: without an ICV size, "aes128gcm" and "aes128ccm" are the 16-octet
    # ICV variants (registered after them, so a proposal still prints as aes128gcm16)
    _kw(f"aes{_bits}gcm", KEYWORDS[f"aes{_bits}gcm16"])
    _kw(f"aes{_bits}ccm", KEYWORDS[f"aes{_bits}ccm16"])
_kw("aes", KEYWORDS["aes128"])
_kw("aesctr", KEYWORDS["aes128ctr"])
_kw("chacha20poly1305", Transform(TransformType.ENCR, EncrId.ENCR_CHACHA20_POLY1305))
_kw("null", Transform(TransformType.ENCR, EncrId.ENCR_NULL))
_kw("3des", Transform(TransformType.ENCR, EncrId.ENCR_3DES))
_kw("md5", Transform(TransformType.INTEG, IntegId.AUTH_HMAC_MD5_96))
_kw("sha1 sha", Transform(TransformType.INTEG, IntegId.AUTH_HMAC_SHA1_96))
_kw("sha256 sha2_256", Transform(TransformType.INTEG, IntegId.AUTH_HMAC_SHA2_256_128))
_kw("sha384 sha2_384", Transform(TransformType.INTEG, IntegId.AUTH_HMAC_SHA2_384_192))
_kw("sha512 sha2_512", Transform(TransformType.INTEG, IntegId.AUTH_HMAC_SHA2_512_256))
_kw("aesxcbc", Transform(TransformType.INTEG, IntegId.AUTH_AES_XCBC_96))
_kw("aescmac", Transform(TransformType.INTEG, IntegId.AUTH_AES_CMAC_96))
_kw("prfmd5", Transform(TransformType.PRF, PrfId.PRF_HMAC_MD5))
_kw("prfsha1", Transform(TransformType.PRF, PrfId.PRF_HMAC_SHA1))
_kw("prfsha256", Transform(TransformType.PRF, PrfId.PRF_HMAC_SHA2_256))
_kw("prfsha384", Transform(TransformType.PRF, PrfId.PRF_HMAC_SHA2_384))
_kw("prfsha512", Transform(TransformType.PRF, PrfId.PRF_HMAC_SHA2_512))
_kw("prfaesxcbc", Transform(TransformType.PRF, PrfId.PRF_AES128_XCBC))
_kw("prfaescmac", Transform(TransformType.PRF, PrfId.PRF_AES128_CMAC))
for _name, _gid in (("modp768", DhId.MODP_768), ("modp1024", DhId.MODP_1024), ("modp1536", DhId.MODP_1536),
                    ("modp2048", DhId.MODP_2048), ("modp3072", DhId.MODP_3072), ("modp4096", DhId.MODP_4096),
                    ("modp6144", DhId.MODP_6144), ("modp8192", DhId.MODP_8192), ("ecp256", DhId.ECP_256),
                    ("ecp384", DhId.ECP_384), ("ecp521", DhId.ECP_521), ("curve25519 x25519", DhId.CURVE25519),
                    ("curve448 x448", DhId.CURVE448)):
    _kw(_name, Transform(TransformType.DH, _gid))
_kw("esn", Transform(TransformType.ESN, EsnId.ESN))
_kw("noesn", Transform(TransformType.ESN, EsnId.NO_ESN))

#: Transform -> the keyword printed for it (the first spelling registered).
_NAMES: dict[tuple[int, int, int | None], str] = {}
for _word, _t in KEYWORDS.items():
    _NAMES.setdefault((int(_t.type), int(_t.id), _t.key_length), _word)
#: (transform type, ID) -> its weak keyword, for proposals built from Transform objects (DH groups: ikelab.dh).
_WEAK_IDS: dict[tuple[int, int], str] = {(int(KEYWORDS[k].type), int(KEYWORDS[k].id)): k for k in _WEAK}

_ORDER = (TransformType.ENCR, TransformType.PRF, TransformType.INTEG, TransformType.DH, TransformType.ESN)
_ALLOWED: dict[ProtocolId, frozenset[TransformType]] = {
    ProtocolId.IKE: frozenset({TransformType.ENCR, TransformType.PRF, TransformType.INTEG, TransformType.DH}),
    ProtocolId.ESP: frozenset({TransformType.ENCR, TransformType.INTEG, TransformType.DH, TransformType.ESN}),
    ProtocolId.AH: frozenset({TransformType.INTEG, TransformType.DH, TransformType.ESN}),
}


# --------------------------------------------------------------------------- parsing


_KNOWN_HELP = (
    "encryption: aes128 aes192 aes256 (CBC), aes128ctr..., aes128gcm8/12/16..., aes128ccm8/12/16..., "
    "chacha20poly1305, null (ESP only), 3des (weak); integrity: sha1 sha256 sha384 sha512 aesxcbc aescmac md5 (weak); "
    "prf: prfsha1 prfsha256 prfsha384 prfsha512 prfaesxcbc prfaescmac prfmd5 (weak); "
    "key exchange: modp2048 modp3072 modp4096 modp6144 modp8192 ecp256 ecp384 ecp521 curve25519/x25519 "
    "curve448/x448 modp768 modp1024 modp1536 (weak); esn noesn (ESP/AH)"
)


def _unknown(token: str, text: str, index: int, offset: int) -> ConfigError:
    """The error for ``token``, the ``index``-th keyword (from 1), starting at ``offset`` (from 0) in ``text``."""
    if not token:
        return ConfigError(f"empty keyword (keyword {index}, at offset {offset}) in proposal {text!r}: a '-' too many",
                           field="proposal", value=token)
    return ConfigError(f"unknown algorithm keyword {token!r} (keyword {index}, at offset {offset}) in proposal "
                       f"{text!r}; known keywords: {_KNOWN_HELP}", field="proposal", value=token)


def parse_proposal(text: str, protocol: ProtocolId | int | str = ProtocolId.IKE, *,
                   allow_weak: bool = False, number: int = 1) -> Proposal:
    """One strongSwan proposal string -> :class:`~ikelab.payloads.Proposal` (SPI empty).

    Several algorithms of one kind may be listed (``aes256-aes128-sha256-modp3072-modp2048``):
    their order is the preference.  Rules (strongSwan's): in IKE proposals an
    INTEG keyword also gives the PRF of the same hash when no ``prf...`` keyword
    is present; with an AEAD cipher in IKE the INTEG keywords only serve that
    purpose and are dropped.  ESP/AH default to ``noesn``.  Weak keywords
    (``3des``, ``md5``, ``modp768/1024/1536``...) need ``allow_weak=True``.
    """
    proto = lookup(ProtocolId, protocol, field="protocol")
    if proto not in _ALLOWED:
        raise ConfigError(f"proposals are for IKE, ESP or AH, not {proto.name}", field="protocol", value=protocol)
    if not isinstance(text, str):
        raise ConfigError(f"a proposal is text such as 'aes128-sha256-modp2048', not {type(text).__name__}",
                          field="proposal", value=text)
    if not text.strip():
        raise ConfigError(f"empty {proto.name} proposal {text!r}", field="proposal", value=text)
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 255:
        raise ConfigError(f"proposal number {number!r} must be 1..255 (RFC 7296 3.3.1: numbering starts at 1, "
                          "in one octet)", field="number", value=number)
    if "," in text:  # a list is several proposals (IkeConfig takes one); this reads one
        raise ConfigError(f"{text!r}: give one proposal here, not a comma-separated list", field="proposal", value=text)
    by_type: dict[TransformType, list[Transform]] = {t: [] for t in _ORDER}
    weak: list[str] = []
    offset = len(text) - len(text.lstrip())  # where each keyword starts in text, for the error
    for index, raw in enumerate(text.strip().split("-"), 1):
        token = raw.strip().lower()
        if token not in KEYWORDS:
            raise _unknown(token, text, index, offset + len(raw) - len(raw.lstrip()))
        offset += len(raw) + 1
        t = KEYWORDS[token]
        if token in _WEAK:
            weak.append(token)
        if t not in by_type[t.type]:
            by_type[t.type].append(t)
    if len(weak) > 1 and not allow_weak:  # one error that names them all, not the first alone
        names = ", ".join(f"'{token}'" for token in weak[:-1]) + f" and '{weak[-1]}'"
        refuse_weak(f"{names} in proposal {text!r} are weak: " + "; ".join(f"{t}: {_WEAK[t]}" for t in weak),
                    allow_weak=False, field="proposal", value=tuple(weak))
    for token in weak:
        refuse_weak(f"'{token}' in proposal {text!r} is weak: {_WEAK[token]}", allow_weak=allow_weak,
                    field="proposal", value=token, algorithm=_name(KEYWORDS[token]))
    encr, integ, prf, dh, esn = (by_type[t] for t in _ORDER[:1] + _ORDER[2:3] + _ORDER[1:2] + _ORDER[3:])
    aead = [t for t in encr if is_aead(t.id)]
    if aead and len(aead) != len(encr):
        raise ConfigError(f"proposal {text!r} mixes AEAD and non-AEAD ciphers; RFC 5282 8 needs two proposals",
                          field="proposal", value=text)
    if proto == ProtocolId.IKE:
        if not encr:
            raise ConfigError(f"IKE proposal {text!r} has no encryption algorithm", field="proposal", value=text)
        if any(t.id == EncrId.ENCR_NULL for t in encr):
            raise ConfigError(f"IKE proposal {text!r}: ENCR_NULL is not allowed for IKE (RFC 7296 3.3.2)",
                              field="proposal", value=text)
        if esn:
            raise ConfigError(f"IKE proposal {text!r}: esn/noesn apply to ESP and AH only", field="proposal",
                              value=text)
        if not prf:
            prf = [Transform(TransformType.PRF, _PRF_FROM_INTEG[t.id]) for t in integ]
            for t in prf:  # the PRF that a weak integrity keyword brings along is named too, once, here
                token = next((k for k in _WEAK if KEYWORDS[k] == t), None)
                if token is not None:
                    refuse_weak(f"no PRF is named in proposal {text!r}, so its integrity algorithm gives "
                                f"{_name(t)}, which is weak: {_WEAK[token]}", allow_weak=allow_weak,
                                field="proposal", value=token, algorithm=_name(t))
        if aead:
            integ = []
        elif not integ:
            raise ConfigError(f"IKE proposal {text!r} has no integrity algorithm (needed without AEAD)",
                              field="proposal", value=text)
        if not prf:
            raise ConfigError(f"IKE proposal {text!r} has no PRF: add e.g. 'prfsha256'", field="proposal", value=text)
        if not dh:
            raise ConfigError(f"IKE proposal {text!r} has no key exchange (DH) group: add e.g. 'ecp256'",
                              field="proposal", value=text)
    else:
        if prf:
            raise ConfigError(f"{proto.name} proposal {text!r}: PRF keywords apply to IKE only", field="proposal",
                              value=text)
        if proto == ProtocolId.AH:
            if encr:
                raise ConfigError(f"AH proposal {text!r} cannot have an encryption algorithm", field="proposal",
                                  value=text)
            if not integ:
                raise ConfigError(f"AH proposal {text!r} has no integrity algorithm", field="proposal", value=text)
        else:
            if not encr:
                raise ConfigError(f"ESP proposal {text!r} has no encryption algorithm ('null' for none)",
                                  field="proposal", value=text)
            if aead and integ:
                raise ConfigError(f"ESP proposal {text!r} combines an AEAD cipher with integrity (RFC 5282 8)",
                                  field="proposal", value=text)
            if not aead and not integ:
                raise ConfigError(f"ESP proposal {text!r} has no integrity algorithm (needed without AEAD)",
                                  field="proposal", value=text)
        if not esn:
            esn = [KEYWORDS["noesn"]]
    transforms = tuple(encr + prf + integ + dh + esn)
    return Proposal(number, proto, b"", transforms)


def parse_proposals(text: str | Iterable[str], protocol: ProtocolId | int | str = ProtocolId.IKE, *,
                    allow_weak: bool = False) -> tuple[Proposal, ...]:
    """Comma-separated proposals (or a list of them), numbered 1, 2, 3... (RFC 7296 3.3.1).

    Items of a list may hold comma-separated proposals too, as strongSwan's
    ``proposals = ...`` lines do.
    """
    items = [text] if isinstance(text, str) else list(text) if isinstance(text, Iterable) else None
    if items is None or not all(isinstance(item, str) for item in items):
        raise ConfigError(f"proposals are text such as 'aes128-sha256-modp2048' (or a list of such texts), "
                          f"not {type(text).__name__} {text!r:.60}", field="proposals", value=text)
    items = [i for i in (s.strip() for item in items for s in item.split(",")) if i]
    if not items:
        raise ConfigError(f"no proposals in {text!r}", field="proposals", value=text)
    return tuple(parse_proposal(item, protocol, allow_weak=allow_weak, number=i + 1) for i, item in enumerate(items))


def refuse_weak_transforms(proposal: Proposal, *, allow_weak: bool, field: str) -> None:
    """The ``allow_weak`` rule of :func:`parse_proposal`, for a :class:`Proposal` built from transforms.

    A weak transform (one whose keyword is weak, or a weak Diffie-Hellman group) raises
    :class:`~ikelab.errors.WeakAlgorithmError` saying why, or warns when ``allow_weak`` is true.
    """
    from . import dh  # here: dh is heavier than this module, and needs none of it

    for t in proposal.transforms:
        if int(t.type) == TransformType.DH:
            group = dh.implemented_group(int(t.id))  # None for a group ikelab never chooses
            reason = group.weak_reason if group is not None and group.weak else None
        else:
            token = _WEAK_IDS.get((int(t.type), int(t.id)))
            reason = _WEAK[token] if token is not None else None
        if reason:
            refuse_weak(f"{_name(t)} in proposal {proposal_to_string(proposal)} is weak: {reason}",
                        allow_weak=allow_weak, field=field, value=_name(t), algorithm=_name(t))


def check_proposal(proposal: Proposal, *, field: str = "proposal") -> None:
    """The rules :func:`parse_proposal` applies to text, for a :class:`Proposal` built from transforms.

    ConfigError (naming ``field``) unless: each transform type is one the protocol carries and each
    mandatory one is there (RFC 7296 3.3.3: IKE ENCR, PRF, INTEG unless AEAD, D-H; ESP ENCR, INTEG
    unless AEAD, ESN; AH INTEG, ESN); an AEAD cipher comes without integrity and apart from other
    ciphers (RFC 5282 8); ENCR_NULL is not offered for IKE; and every transform is one ikelab
    implements, AES with a Key Length of 128, 192 or 256 bits and the others with none (RFC 7296 3.3.5).
    """
    from . import dh, prf, transforms

    if not isinstance(proposal, Proposal):
        raise _not_a_proposal(proposal, field)
    proto = proposal.protocol
    shown = f"{getattr(proto, 'name', proto)} proposal {proposal_to_string(proposal)!r}"

    def refuse(why: str) -> NoReturn:
        raise ConfigError(f"{field}: {shown} {why}", field=field, value=proposal)

    implemented = {TransformType.INTEG: {IntegId.NONE, *transforms.INTEGRITY_IDS}, TransformType.ESN: set(EsnId),
                   TransformType.PRF: set(prf.supported_prfs(include_weak=True))}

    allowed = _ALLOWED.get(proto)  # type: ignore[call-overload]
    if allowed is None:
        refuse("is not for IKE, ESP or AH")
    for t in proposal.transforms:
        if t.type not in allowed:
            refuse(f"cannot carry {_type_name(t.type)} transforms ({_name(t)}) (RFC 7296 3.3.3)")
        if t.type == TransformType.ENCR:
            try:
                lengths = transforms.key_lengths(int(t.id))
            except ConfigError:
                refuse(f"offers {_name(t)}, which ikelab does not implement")
            if (t.key_length in lengths) if lengths else t.key_length is None:
                continue
            need = "a Key Length of " + ", ".join(map(str, lengths)) if lengths else "no Key Length"
            given = "without a Key Length" if t.key_length is None else f"with Key Length {t.key_length}"
            refuse(f"offers {_name(t)} {given}; it takes {need} (RFC 7296 3.3.5)")
        if t.type == TransformType.DH:
            ok = int(t.id) == DhId.NONE or dh.implemented_group(int(t.id)) is not None
        else:
            ok = int(t.id) in implemented[TransformType(t.type)]
        if not ok:
            refuse(f"offers {_name(t)}, which ikelab does not implement")
        if t.type != TransformType.ENCR and t.key_length is not None:
            refuse(f"gives {_name(t)} a Key Length, which only a cipher takes (RFC 7296 3.3.5)")
    encr = proposal.of_type(TransformType.ENCR)
    integ = [t for t in proposal.of_type(TransformType.INTEG) if int(t.id) != IntegId.NONE]
    aead = [t for t in encr if is_aead(t.id)]
    if aead and len(aead) != len(encr):
        refuse("mixes AEAD and non-AEAD ciphers; RFC 5282 8 needs two proposals")
    if aead and integ:
        refuse("combines an AEAD cipher with integrity (RFC 5282 8)")
    need = {ProtocolId.IKE: (TransformType.ENCR, TransformType.PRF, TransformType.DH),
            ProtocolId.ESP: (TransformType.ENCR, TransformType.ESN), ProtocolId.AH: (TransformType.ESN,)}[proto]
    for ttype in need:
        if not [t for t in proposal.of_type(ttype) if ttype != TransformType.DH or int(t.id) != DhId.NONE]:
            refuse(f"has no {_type_name(ttype)} transform (RFC 7296 3.3.3)")
    if not integ and (proto == ProtocolId.AH or (encr and not aead)):
        refuse("has no integrity algorithm (needed without AEAD)")
    if proto == ProtocolId.IKE and any(int(t.id) == EncrId.ENCR_NULL for t in encr):
        refuse("offers ENCR_NULL, which is not allowed for IKE (RFC 7296 3.3.2)")


def _type_name(ttype: int) -> str:
    if ttype not in TransformType._value2member_map_:
        return f"type {int(ttype)}"
    return "D-H" if ttype == TransformType.DH else TransformType(ttype).name


def _name(t: Transform) -> str:
    if isinstance(t.id, IntEnum):
        return t.id.name
    kind = TransformType(t.type).name if t.type in TransformType._value2member_map_ else t.type
    return f"{kind}_{t.id}"


def _not_a_proposal(value: object, field: str) -> ConfigError:
    """The error for ``value`` where a Proposal belongs, saying how to get one from text."""
    hint = ": parse_proposal(text) reads strongSwan's syntax" if isinstance(value, str) else ""
    return ConfigError(f"{field} must be a Proposal, not {type(value).__name__}{hint}", field=field, value=value)


def _proposal_list(value: object, field: str) -> ConfigError | None:
    """The error for ``value`` where a sequence of Proposals belongs, naming the first wrong item (None: no error)."""
    if isinstance(value, str):
        return ConfigError(f"{field} must be a sequence of Proposals, not str: parse_proposals(text) reads "
                           "strongSwan's syntax", field=field, value=value)
    try:
        items = list(value)  # type: ignore[call-overload]
    except TypeError:
        return ConfigError(f"{field} must be a sequence of Proposals, not {type(value).__name__}", field=field,
                           value=value)
    for i, item in enumerate(items):
        if not isinstance(item, Proposal):
            return _not_a_proposal(item, f"{field}[{i}]")
    return None


def _proposal_lists(**lists: object) -> None:
    """Raise the ConfigError of the first of ``lists`` that is not a sequence of Proposals (after a failure)."""
    for field, value in lists.items():
        error = _proposal_list(value, field)
        if error is not None:
            raise error


def proposal_to_string(proposal: Proposal) -> str:
    """strongSwan keyword text: ``aes128-sha256-modp2048``; readable back by :func:`parse_proposal`.

    The PRF is written only when the integrity keywords do not imply it;
    ``noesn`` (the default) is left out.
    Transforms without a keyword are written by IANA name (``ENCR_CAMELLIA_CBC_128``).
    """
    if not isinstance(proposal, Proposal):
        raise _not_a_proposal(proposal, "proposal")
    words: list[str] = []
    lone_noesn = [int(t.id) for t in proposal.of_type(TransformType.ESN)] == [EsnId.NO_ESN]
    integ = [t for t in proposal.of_type(TransformType.INTEG) if int(t.id) != IntegId.NONE]
    prfs = [int(t.id) for t in proposal.of_type(TransformType.PRF)]
    implied = [int(_PRF_FROM_INTEG.get(t.id, -1)) for t in integ] == prfs
    for ttype in _ORDER:
        for t in proposal.of_type(ttype):
            if ttype == TransformType.ESN and lone_noesn:
                continue
            if ttype == TransformType.PRF and integ and implied:
                continue  # strongSwan derives the PRF from the integrity keyword
            if ttype == TransformType.INTEG and int(t.id) == IntegId.NONE:
                continue
            word = _NAMES.get((int(t.type), int(t.id), t.key_length))
            words.append(word or (_name(t) + (f"_{t.key_length}" if t.key_length else "")))
    return "-".join(words)


def proposal_to_iana(proposal: Proposal) -> str:
    """The form charon logs: ``IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048``."""
    if not isinstance(proposal, Proposal):
        raise _not_a_proposal(proposal, "proposal")
    proto = proposal.protocol.name if isinstance(proposal.protocol, IntEnum) else str(proposal.protocol)
    parts = []
    for ttype in (TransformType.ENCR, TransformType.INTEG, TransformType.PRF, TransformType.DH, TransformType.ESN):
        for t in proposal.of_type(ttype):
            name = _name(t)
            for prefix in ("ENCR_", "AUTH_"):
                name = name.removeprefix(prefix)
            if ttype == TransformType.ESN:
                name = "ESN" if int(t.id) == EsnId.ESN else "NO_EXT_SEQ"
            parts.append(f"{name}_{t.key_length}" if t.key_length else name)
    return f"{proto}:" + "/".join(parts)
