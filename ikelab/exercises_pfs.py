"""Exercise checks of lesson 03, perfect forward secrecy: KEYMAT from a leaked SK_d (RFC 7296 2.17)."""

from __future__ import annotations

from typing import Any

from . import keys as _keys
from . import prf as _prf
from .errors import ConfigError
from .exercises import Wrong, _want_int, register
from .fmt import short_hex

__all__: list[str] = []


@register("pfs.keymat", "03-perfect-forward-secrecy", "KEYMAT of a CHILD SA from a leaked SK_d",
           "the bytes of KEYMAT",
           "RFC 7296 2.17: KEYMAT = prf+ (SK_d, Ni | Nr) without a fresh Diffie-Hellman; "
           "ikelab.prf.prf_plus(alg, key, seed, length) or ikelab.keys.child_keymat.")
def _pfs_keymat(answer: Any, *, prf_alg: Any, sk_d: bytes, ni: bytes, nr: bytes, length: int,
                other_sk_d: bytes | None = None) -> str:
    """``other_sk_d`` (optional), another IKE SA's SK_d, lets the check recognise KEYMAT derived from it."""
    p = _prf.get_prf(prf_alg, field="prf_alg")
    given = [("sk_d", sk_d), ("ni", ni), ("nr", nr)] + ([("other_sk_d", other_sk_d)] if other_sk_d is not None else [])
    for name, value in given:
        if not isinstance(value, (bytes, bytearray)):
            raise ConfigError(f"exercise pfs.keymat: {name} must be bytes, not {type(value).__name__}",
                              field=name, value=value)
    if isinstance(length, bool) or not isinstance(length, int) or length <= 0:
        raise ConfigError(f"exercise pfs.keymat: length must be a positive int, not {length!r}", field="length",
                          value=length)
    expected = _keys.child_keymat(p.transform_id, bytes(sk_d), bytes(ni), bytes(nr), length)
    if isinstance(answer, str):
        raise Wrong("KEYMAT should be bytes, not a str: if you have hex text, convert it with bytes.fromhex(...).")
    if not isinstance(answer, (bytes, bytearray, memoryview)):
        raise Wrong(f"KEYMAT should be bytes, not {type(answer).__name__}.")
    km = bytes(answer)
    if km == expected:
        return (f"KEYMAT = {short_hex(km)}: the attacker now holds the CHILD SA's ESP keys "
                f"(encr_i | integ_i | encr_r | integ_r).")
    wrong = {
        p.prf_plus(bytes(sk_d), bytes(nr) + bytes(ni), length): "the seed is Ni | Nr: the initiator's nonce first.",
        p.prf(bytes(sk_d), bytes(ni) + bytes(nr)): "that is one prf call; KEYMAT is prf+ (several blocks, cut to "
                                                   "length).",
        p.prf(bytes(ni) + bytes(nr), bytes(sk_d)): "SK_d is the key of prf+, and Ni | Nr the data.",
    }
    for candidate, hint in wrong.items():
        if km == candidate or (len(km) != length and candidate.startswith(km) and km):
            raise Wrong(hint)
    if len(km) != length:
        raise Wrong(f"KEYMAT should be {length} bytes (two encryption and two integrity keys), got {len(km)}.")
    if km == p.prf_plus(bytes(ni) + bytes(nr), bytes(sk_d), length):
        raise Wrong("SK_d is the key of prf+, and Ni | Nr the data.")
    if other_sk_d is not None and bytes(other_sk_d) != bytes(sk_d) and \
            km == _keys.child_keymat(p.transform_id, bytes(other_sk_d), bytes(ni), bytes(nr), length):
        raise Wrong("that KEYMAT comes from another IKE SA's SK_d: a CHILD SA's keys come from the SK_d of the "
                    "IKE SA that created it (RFC 7296 2.17).")
    raise Wrong("not KEYMAT. Check the formula KEYMAT = prf+ (SK_d, Ni | Nr) and the PRF you used.")


@register("pfs.which-fall", "03-perfect-forward-secrecy", "Which CHILD SAs fall when an IKE SA's keys leak",
           "a set of CHILD SA numbers",
           "A CHILD SA falls when it was created under the leaked IKE SA (same SK_d) without a fresh "
           "Diffie-Hellman (no PFS): KEYMAT = prf+ (SK_d, Ni | Nr), RFC 7296 2.17.")
def _pfs_which_fall(answer: Any, *, run: Any, leaked: int) -> str:
    from . import figures_pfs

    outcomes = figures_pfs.attack(run, leaked)
    expected = {o.child.number for o in outcomes if o.falls}
    if isinstance(answer, (str, bytes)) or not hasattr(answer, "__iter__"):
        raise Wrong(f"give a set of CHILD SA numbers (ints between braces), not {type(answer).__name__}.")
    try:
        got = {_want_int(x, "a CHILD SA number") for x in answer}
    except TypeError:
        raise Wrong("give a set of CHILD SA numbers (ints).") from None
    if got == expected:
        return (f"CHILD SAs {sorted(expected)} fall with IKE SA {leaked}'s keys; the others are safe"
                " (a fresh g^ir, or another IKE SA).")
    numbers = {o.child.number for o in outcomes}
    if not got <= numbers:
        raise Wrong(f"the CHILD SAs are numbered {min(numbers)}..{max(numbers)}.")
    pfs_in = {o.child.number for o in outcomes if o.child.pfs_group} & got
    other = {o.child.number for o in outcomes if o.child.ike_sa != leaked} & got
    if pfs_in:
        raise Wrong(f"CHILD SA {min(pfs_in)} had a fresh Diffie-Hellman (PFS): SK_d alone does not give its KEYMAT.")
    if other:
        raise Wrong(f"CHILD SA {min(other)} was created under another IKE SA, with a different SK_d.")
    raise Wrong("some CHILD SAs are missing: which ones were created under the leaked IKE SA without PFS?")

# Lesson 09 (ESP).
