"""RSASSA-PSS AlgorithmIdentifiers, read by their meaning rather than their octets.

RFC 7427 3 puts the signature's AlgorithmIdentifier in the AUTH payload.  For
RSASSA-PSS (RFC 8017 8.1) it carries parameters (RFC 4055 3.1)::

    RSASSA-PSS-params ::= SEQUENCE {
        hashAlgorithm    [0] HashAlgorithm    DEFAULT sha1,
        maskGenAlgorithm [1] MaskGenAlgorithm DEFAULT mgf1SHA1,
        saltLength       [2] INTEGER          DEFAULT 20,
        trailerField     [3] INTEGER          DEFAULT 1 }

and the same parameters have several spellings: a hash's NULL parameters may be
present or absent (RFC 4055 2.1 asks receivers to take both), and a field at
its DEFAULT may be written out (as in RFC 7427's own example, A.4.3) or left
out (as DER wants, and strongSwan does).  So the peer's octets are taken
apart here, and any spelling of a supported set of parameters is accepted.
"""

from __future__ import annotations

from typing import NamedTuple

from .constants import HashAlgorithm
from .dn import read_oid, read_tlv
from .errors import AuthenticationError, ParseError
from .wire import check_bytes

__all__ = ["PssParams", "parse_pss_algorithm_identifier"]

RSASSA_PSS = "1.2.840.113549.1.1.10"
_MGF1 = "1.2.840.113549.1.1.8"
_HASH_OIDS = {
    "1.3.14.3.2.26": HashAlgorithm.SHA1,
    "2.16.840.1.101.3.4.2.1": HashAlgorithm.SHA2_256,
    "2.16.840.1.101.3.4.2.2": HashAlgorithm.SHA2_384,
    "2.16.840.1.101.3.4.2.3": HashAlgorithm.SHA2_512,
}
_FIELD = "AUTH.algorithm_identifier"


class PssParams(NamedTuple):
    """What an RSASSA-PSS signature was made with: the message hash, MGF1's hash and the salt length."""

    hash_alg: HashAlgorithm
    mgf_hash: HashAlgorithm
    salt_length: int


def parse_pss_algorithm_identifier(der: bytes) -> PssParams | None:
    """The parameters of an RSASSA-PSS AlgorithmIdentifier; None if ``der`` names another algorithm.

    The identifier is that of a signature value (RFC 7427 3), so its parameters must be there (RFC 4055
    3.1), even when every field takes its DEFAULT (an empty SEQUENCE).  Absent or malformed parameters, an
    unknown hash or a trailer field other than 1 raise :class:`~ikelab.errors.AuthenticationError` (the AUTH
    payload cannot be checked).  The fields must come in order, each at most once (X.680 25: a SEQUENCE).
    """
    der = check_bytes(der, "algorithm_identifier")
    try:
        tag, start, end = read_tlv(der, 0, len(der), 0, _FIELD)
        tag2, o_start, o_end = read_tlv(der, start, end, 0, _FIELD)
        if tag != 0x30 or end != len(der) or tag2 != 0x06 or read_oid(der, o_start, o_end, 0, _FIELD) != RSASSA_PSS:
            return None
    except ParseError:
        return None  # not even an OID: not RSASSA-PSS, and the caller says the identifier is unknown
    if o_end == end:  # RFC 4055 3.1: optional in a key's identifier, but "MUST be present" beside a signature
        raise AuthenticationError("an RSASSA-PSS AlgorithmIdentifier of a signature must carry its parameters "
                                  "(RFC 4055 3.1)")
    try:
        hash_alg, mgf_hash, salt, trailer = HashAlgorithm.SHA1, HashAlgorithm.SHA1, 20, 1  # the DEFAULTs
        if o_end < end:
            tag, pos, p_end = read_tlv(der, o_end, end, 0, _FIELD)
            if tag != 0x30 or p_end != end:
                raise AuthenticationError("RSASSA-PSS parameters must be one SEQUENCE")
            last = 0
            while pos < p_end:
                tag, v_start, v_end = read_tlv(der, pos, p_end, 0, _FIELD)
                if last >= tag and tag in (0xA0, 0xA1, 0xA2, 0xA3):  # a second saltLength would contradict the first
                    raise AuthenticationError(f"RSASSA-PSS parameters: field [{tag & 0x1F}] repeated or out of order "
                                              "(RFC 4055 3.1)")
                last = tag
                if tag == 0xA0:
                    hash_alg = _hash(der, v_start, v_end)
                elif tag == 0xA1:
                    mgf_hash = _mgf1(der, v_start, v_end)
                elif tag in (0xA2, 0xA3):
                    itag, i_start, i_end = read_tlv(der, v_start, v_end, 0, _FIELD)
                    small = itag == 0x02 and 0 < i_end - i_start <= 2 and i_end == v_end
                    padded = i_end - i_start == 2 and (der[i_start], der[i_start + 1] >> 7) in ((0, 0), (0xFF, 1))
                    if not small or padded:
                        raise AuthenticationError("an RSASSA-PSS saltLength or trailerField is not a small INTEGER "
                                                  "in its shortest form (X.690 8.3.2)")
                    value = int.from_bytes(der[i_start:i_end], "big", signed=True)
                    salt, trailer = (value, trailer) if tag == 0xA2 else (salt, value)
                else:
                    raise AuthenticationError(f"unknown field [{tag & 0x1F}] in RSASSA-PSS parameters")
                pos = v_end
    except ParseError as exc:  # the octets do not hold together as DER
        raise AuthenticationError(f"malformed RSASSA-PSS AlgorithmIdentifier {der.hex()}: {exc}") from None
    if trailer != 1:
        raise AuthenticationError(f"RSASSA-PSS trailerField {trailer}: only 1 (0xBC) exists (RFC 8017 9.1)")
    if salt < 0:
        raise AuthenticationError(f"RSASSA-PSS saltLength {salt} is negative")
    return PssParams(hash_alg, mgf_hash, salt)


def _hash(der: bytes, start: int, end: int) -> HashAlgorithm:
    """A HashAlgorithm: SEQUENCE { OID, NULL or nothing } (RFC 4055 2.1)."""
    tag, s_start, s_end = read_tlv(der, start, end, 0, _FIELD)
    if tag != 0x30 or s_end != end:
        raise AuthenticationError("an RSASSA-PSS hash AlgorithmIdentifier must be a SEQUENCE")
    tag, o_start, o_end = read_tlv(der, s_start, s_end, 0, _FIELD)
    oid = read_oid(der, o_start, o_end, 0, _FIELD) if tag == 0x06 else ""
    if oid not in _HASH_OIDS:
        raise AuthenticationError(f"unsupported hash {oid or f'(tag 0x{tag:02x})'} in RSASSA-PSS parameters")
    if o_end != s_end and der[o_end:s_end] != b"\x05\x00":
        raise AuthenticationError("a hash's parameters in RSASSA-PSS must be NULL or absent (RFC 4055 2.1)")
    return _HASH_OIDS[oid]


def _mgf1(der: bytes, start: int, end: int) -> HashAlgorithm:
    """MaskGenAlgorithm: SEQUENCE { id-mgf1, HashAlgorithm } (RFC 8017 B.2.1)."""
    tag, s_start, s_end = read_tlv(der, start, end, 0, _FIELD)
    if tag != 0x30 or s_end != end:
        raise AuthenticationError("an RSASSA-PSS maskGenAlgorithm must be a SEQUENCE")
    tag, o_start, o_end = read_tlv(der, s_start, s_end, 0, _FIELD)
    if tag != 0x06 or read_oid(der, o_start, o_end, 0, _FIELD) != _MGF1:
        raise AuthenticationError("the only RSASSA-PSS mask generation function is MGF1 (RFC 8017 B.2.1)")
    return _hash(der, o_end, s_end)
