"""Wireshark's algorithm names for the two key tables, and ikelab's names where Wireshark 4.0 has none.

``ikev2_decryption_table`` and ``esp_sa`` name an SA's algorithms by
Wireshark's exact, case-sensitive value strings (packet-isakmp.c
``vs_ike_encr_alg`` / ``vs_ike_integ_alg``, packet-esp.c ``esp_encryption_type_vals``
/ ``esp_authentication_type_vals``), which :mod:`ikelab.transforms` carries on
each transform.  This module maps them both ways: a negotiated transform (RFC
7296 3.3.2) to the name written, and a name read back to the transform.  tshark
4.0 rejects a *whole* table over one name it does not know, so a transform it
lacks is written under ikelab's IANA name (:func:`_fallback`) and
:func:`_wireshark_knows` says when a row must become a comment.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .constants import EncrId, IntegId, lookup


@lru_cache(maxsize=1)
def _name_maps() -> tuple[dict[str, tuple[Any, int | None]], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Wireshark names -> (EncrId, key bits) / IntegId, for both tables."""
    import warnings

    from . import transforms as tr
    from .errors import WeakAlgorithmWarning

    ike_encr: dict[str, tuple[Any, int | None]] = {}
    esp_encr: dict[str, Any] = {}
    ike_integ: dict[str, Any] = {tr.WIRESHARK_IKEV2_INTEG_NONE: None}
    esp_integ: dict[str, Any] = {tr.WIRESHARK_ESP_AUTH_NULL: None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakAlgorithmWarning)
        for encr_id in tr.ENCRYPTION_IDS:
            for bits in tr.key_lengths(encr_id) or (None,):
                e = tr.encryption(encr_id, bits, allow_weak=True)
                ike_encr[_fallback(e.name, bits)] = (encr_id, bits)
                esp_encr[e.name] = encr_id
                if e.wireshark_ikev2_name:
                    ike_encr[e.wireshark_ikev2_name] = (encr_id, bits)
                if e.wireshark_esp_name:
                    esp_encr[e.wireshark_esp_name] = encr_id
        for integ_id in tr.INTEGRITY_IDS:
            i = tr.integrity(integ_id, allow_weak=True)
            ike_integ[i.name] = esp_integ[i.name] = integ_id
            if i.wireshark_ikev2_name:
                ike_integ[i.wireshark_ikev2_name] = integ_id
            if i.wireshark_esp_name:
                esp_integ[i.wireshark_esp_name] = integ_id
    return ike_encr, esp_encr, ike_integ, esp_integ


def _fallback(name: str, bits: int | None) -> str:
    """ikelab's own name for a transform Wireshark 4.0 cannot name (e.g. ``ENCR_AES_CCM_16-128``)."""
    return f"{name}-{bits}" if bits else name


def _weak_ok(fn: Any, *args: Any) -> Any:
    """Build a transform for *reading* a capture: weak algorithms are allowed silently here,
    because the keys come from a table the user wrote, not from a negotiation we take part in."""
    import warnings

    from .errors import WeakAlgorithmWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakAlgorithmWarning)
        return fn(*args, allow_weak=True)


def _ws_ike_names(encr: Any, key_bits: int | None, integ: Any) -> tuple[str, str]:
    """Wireshark's names, or ikelab's (see :func:`_fallback`) where Wireshark 4.0 has none."""
    from . import transforms as tr

    encr = lookup(EncrId, encr, field="encr")  # a bad name is blamed on the argument, not on "alg"
    integ = None if integ is None else lookup(IntegId, integ, field="integ")
    e = _weak_ok(tr.encryption, encr, key_bits)
    encr_name = e.wireshark_ikev2_name or _fallback(e.name, key_bits)
    if integ is None or e.is_aead:
        return encr_name, tr.WIRESHARK_IKEV2_INTEG_NONE
    i = _weak_ok(tr.integrity, integ)
    return encr_name, i.wireshark_ikev2_name or i.name


def _ws_esp_names(encr: Any, key_bits: int | None, integ: Any) -> tuple[str, str]:
    """Wireshark's names, or ikelab's IANA names where Wireshark 4.0 has none (e.g. AES-CCM in ESP)."""
    from . import transforms as tr

    encr = lookup(EncrId, encr, field="encr")  # a bad name is blamed on the argument, not on "alg"
    integ = None if integ is None else lookup(IntegId, integ, field="integ")
    e = _weak_ok(tr.encryption, encr, key_bits)
    encr_name = e.wireshark_esp_name or e.name
    if integ is None or e.is_aead:
        return encr_name, tr.WIRESHARK_ESP_AUTH_NULL
    i = _weak_ok(tr.integrity, integ)
    return encr_name, i.wireshark_esp_name or i.name


#: Names current Wireshark knows but tshark 4.0 rejects ("invalid value"), failing the whole table.
NOT_IN_WIRESHARK_4_0 = frozenset({"ChaCha20 with Poly1305 [RFC7634]"})


def _wireshark_knows(*names: str) -> bool:
    """False for an ikelab fallback name (IANA: ``ENCR_...``, ``AUTH_...``) or a name newer than Wireshark 4.0."""
    return not any(n.startswith(("ENCR_", "AUTH_")) or n in NOT_IN_WIRESHARK_4_0 for n in names)

