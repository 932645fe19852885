"""``ikelab derive``: a worked key schedule, its algorithms given as IANA names, numbers or strongSwan keywords.

``modp2048`` -> MODP_2048, ``prfsha256`` -> PRF_HMAC_SHA2_256, ``aes256gcm16``
-> ENCR_AES_GCM_16 with 256-bit keys; an IANA cipher name takes ``--key-bits``
where it has a Key Length attribute (RFC 7296 3.3.5).  The schedule printed
is :func:`ikelab.schedule.worked_schedule` (RFC 7296 2.13-2.17).
"""

from __future__ import annotations

import argparse
import warnings

from .errors import WeakAlgorithmWarning


def _iana(value: str, kind: str) -> str:
    """An IANA name or number as given, or the one a strongSwan keyword of transform ``kind`` stands for.

    ``modp2048`` -> MODP_2048, ``prfsha256`` -> PRF_HMAC_SHA2_256, ``sha256`` -> AUTH_HMAC_SHA2_256_128,
    so ``derive`` takes the words that ``--suite`` takes.
    """
    from .constants import DhId, EncrId, IntegId, PrfId, TransformType, lookup
    from .errors import ConfigError, UnknownAlgorithmError
    from .proposals import KEYWORDS

    t = KEYWORDS.get(value.strip().lower())
    if t is not None and t.type == TransformType[kind]:
        return t.id.name
    option, enum, what, example = {
        "DH": ("--group", DhId, "a key exchange group", "MODP_2048"),
        "PRF": ("--prf", PrfId, "a PRF", "PRF_HMAC_SHA2_256"),
        "INTEG": ("--integ", IntegId, "an integrity algorithm", "AUTH_HMAC_SHA2_256_128"),
        "ENCR": ("--encr", EncrId, "an encryption algorithm", "ENCR_AES_CBC")}[kind]
    try:
        lookup(enum, value)
    except UnknownAlgorithmError:  # say what the option takes, in the words its help gives
        words = " ".join(k for k, t in KEYWORDS.items() if t.type == TransformType[kind])
        raise ConfigError(f"{option} {value}: not {what}; give a keyword ({words}) or an IANA name or number "
                          f"(e.g. {example})",
                          field=option, value=value) from None
    return value


def _encryption(value: str, key_bits: int | None) -> tuple[str, int | None]:
    """(encryption transform, key length) from ``--encr`` and ``--key-bits``.

    A strongSwan keyword carries its key length (``aes256gcm16`` -> ENCR_AES_GCM_16, 256 bits); an
    IANA name or number takes ``--key-bits``, 128 by default for the ciphers that have a Key Length
    attribute and none for the others (RFC 7296 3.3.5: ChaCha20-Poly1305, 3DES).
    """
    from .constants import TransformType
    from .errors import ConfigError, IkelabError
    from .proposals import KEYWORDS
    from .transforms import encryption

    t = KEYWORDS.get(value.strip().lower())
    if t is not None and t.type == TransformType.ENCR:
        if key_bits is not None and t.key_length and key_bits != t.key_length:
            raise ConfigError(f"--encr {value} names {t.key_length}-bit keys, --key-bits {key_bits} another length: "
                              "give one of them", field="key_bits", value=key_bits)
        return t.id.name, (key_bits if key_bits is not None else t.key_length) or None
    value = _iana(value, "ENCR")  # not a keyword: an IANA name or number, or an error that lists the keywords
    if key_bits is not None:
        return value, key_bits or None
    try:  # the default: 128 bits where a Key Length attribute belongs, nothing where it does not
        with warnings.catch_warnings():  # a probe: the real call warns, or refuses, once
            warnings.simplefilter("ignore", WeakAlgorithmWarning)
            encryption(value, 128, allow_weak=True)
        return value, 128
    except IkelabError:  # no Key Length attribute, or not a cipher at all: the real call reports which
        return value, None


def _cmd_derive(args: argparse.Namespace) -> int:
    from .schedule import worked_schedule
    from .transforms import encryption

    encr, key_bits = _encryption(args.encr, args.key_bits)
    integ = args.integ
    if integ is None:  # an AEAD cipher has no integrity transform (RFC 5282 8); the others take SHA2-256
        with warnings.catch_warnings():  # a look at the cipher: worked_schedule below warns, or refuses, once
            warnings.simplefilter("ignore", WeakAlgorithmWarning)
            aead = encryption(encr, key_bits, allow_weak=True).is_aead
        integ = "NONE" if aead else "AUTH_HMAC_SHA2_256_128"
    schedule = worked_schedule(
        group=_iana(args.group, "DH"),
        prf_alg=_iana(args.prf, "PRF"),
        encr=encr,
        key_bits=key_bits,
        integ=None if integ.upper() == "NONE" else _iana(integ, "INTEG"),
        seed=args.seed,
        allow_weak=args.allow_weak,
    )
    print(schedule.format())
    return 0
