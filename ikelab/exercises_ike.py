"""Exercise checks of the IKE exchange lessons (05 IKE_SA_INIT, 06 IKE_AUTH, 07 CREATE_CHILD_SA).

Registered in :data:`ikelab.exercises.EXERCISES` when :mod:`ikelab.exercises`
is imported.  Each check computes the expected value with ikelab from the
given inputs:

* ``ike.skeyseed``: SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 2.14);
* ``ike.psk-auth``: AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"),
  RealMessage1 | NonceRData | MACedIDForI) (RFC 7296 2.15);
* ``child.keymat-pfs``: KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr) (RFC 7296 2.17).
"""

from __future__ import annotations

from typing import Any

from . import auth as _auth
from . import keys as _keys
from . import prf as _prf
from .errors import ConfigError
from .exercises import Wrong, _want_bytes, register
from .fmt import short_hex

__all__: list[str] = []


def _given_bytes(exercise_id: str, **values: Any) -> list[bytes]:
    out = []
    for name, value in values.items():
        if not isinstance(value, (bytes, bytearray)):
            raise ConfigError(f"exercise {exercise_id}: {name} must be bytes, not {type(value).__name__}",
                              field=name, value=value)
        out.append(bytes(value))
    return out


def _answer(answer: Any, what: str, length: int) -> bytes:
    try:
        return _want_bytes(answer, what, length)
    except Wrong as wrong:
        raise Wrong(str(wrong).replace(" (one PRF output)", "")) from None


# --- Lesson 05: IKE_SA_INIT ---------------------------------------------------------------------


@register("ike.skeyseed", "05-ike-sa-init", "SKEYSEED from the nonces and g^ir", "the bytes of SKEYSEED",
           "RFC 7296 2.14: SKEYSEED = prf(Ni | Nr, g^ir): the nonces are the KEY, g^ir is the data.")
def _skeyseed(answer: Any, *, prf_alg: Any, ni: bytes, nr: bytes, g_ir: bytes) -> str:
    p = _prf.get_prf(prf_alg)
    ni, nr, g_ir = _given_bytes("ike.skeyseed", ni=ni, nr=nr, g_ir=g_ir)
    expected = _keys.skeyseed(p.transform_id, ni, nr, g_ir)
    got = _answer(answer, "SKEYSEED", p.output_len)
    if got == expected:
        return f"SKEYSEED = {short_hex(got)}, as ikelab.keys.skeyseed({p.name}, Ni, Nr, g^ir) gives."
    wrong = {
        p.prf(g_ir, ni + nr): "key and data are swapped: the nonces Ni | Nr key the prf, g^ir is its input.",
        p.prf(nr + ni, g_ir): "the nonces go in the order Ni | Nr (the initiator's first).",
        p.prf_plus(ni + nr, g_ir, p.output_len): "SKEYSEED is a single prf call, not prf+.",
        p.prf(ni + nr, g_ir + ni + nr): "only g^ir is the data of the prf: Ni | Nr are the key.",
    }
    if got in wrong:
        raise Wrong(wrong[got])
    raise Wrong(f"not SKEYSEED. Check SKEYSEED = prf(Ni | Nr, g^ir) and that you used {p.name}.")


# --- Lesson 06: IKE_AUTH ------------------------------------------------------------------------


@register("ike.psk-auth", "06-ike-auth", "The initiator's AUTH value for a pre-shared key", "the bytes of AUTH",
           'RFC 7296 2.15: AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <InitiatorSignedOctets>) with '
           "InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI.")
def _psk_auth(answer: Any, *, prf_alg: Any, psk: bytes, message: bytes, nonce: bytes, maced_id: bytes) -> str:
    p = _prf.get_prf(prf_alg)
    psk, message, nonce, maced_id = _given_bytes("ike.psk-auth", psk=psk, message=message, nonce=nonce,
                                                 maced_id=maced_id)
    octets = message + nonce + maced_id
    expected = _auth.psk_auth(p.transform_id, psk, octets)
    got = _answer(answer, "AUTH", p.output_len)
    if got == expected:
        return f"AUTH = {short_hex(got)}: the responder computes the same value and accepts the initiator."
    pad = _auth.psk_pad_key(p.transform_id, psk)
    wrong = {
        p.prf(psk, octets): 'the pre-shared key is not used directly: first pad it, prf(Shared Secret, "Key Pad '
                            'for IKEv2"), and key the second prf with that.',
        p.prf(pad, message + maced_id): "the responder's nonce (NonceRData) is missing between RealMessage1 and "
                                        "MACedIDForI.",
        p.prf(pad, message + nonce): "MACedIDForI is missing at the end of the signed octets.",
        p.prf(pad, nonce + message + maced_id): "the order is RealMessage1 | NonceRData | MACedIDForI.",
        p.prf(octets, pad): "key and data are swapped in the outer prf: the padded key is the key.",
        p.prf(p.prf(psk + b"\x00", _auth.KEY_PAD), octets): "the pad string is used as the data of the inner prf.",
        p.prf(p.prf(psk, _auth.KEY_PAD + b"\x00"), octets): '"Key Pad for IKEv2" is 17 octets, without a NUL.',
    }
    if got in wrong:
        raise Wrong(wrong[got])
    raise Wrong("not the initiator's AUTH. Check the key pad, the three pieces of the signed octets and their order.")


# --- Lesson 07: CREATE_CHILD_SA -----------------------------------------------------------------


@register("child.keymat-pfs", "07-create-child-sa-and-rekeying", "KEYMAT of a CHILD SA created with PFS",
           "the first `length` bytes of KEYMAT",
           "RFC 7296 2.17: KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr), with the nonces of the CREATE_CHILD_SA exchange.")
def _keymat_pfs(answer: Any, *, prf_alg: Any, sk_d: bytes, ni: bytes, nr: bytes, g_ir: bytes, length: int) -> str:
    p = _prf.get_prf(prf_alg)
    sk_d, ni, nr, g_ir = _given_bytes("child.keymat-pfs", sk_d=sk_d, ni=ni, nr=nr, g_ir=g_ir)
    if isinstance(length, bool) or not isinstance(length, int) or not 0 < length <= 255 * p.output_len:
        raise ConfigError(f"exercise child.keymat-pfs: length must be 1..{255 * p.output_len}, not {length!r}",
                          field="length", value=length)
    expected = _keys.child_keymat(p.transform_id, sk_d, ni, nr, length, g_ir)
    got = _answer(answer, "KEYMAT", length)
    if got == expected:
        return f"KEYMAT = {short_hex(got)}: the same bytes both peers cut their ESP keys from."
    wrong = {
        _keys.child_keymat(p.transform_id, sk_d, ni, nr, length): "that is KEYMAT without PFS: with a new "
                                                                     "Diffie-Hellman, g^ir (new) comes first in the seed.",
        p.prf_plus(sk_d, ni + nr + g_ir, length): "g^ir (new) goes first: g^ir (new) | Ni | Nr.",
        p.prf_plus(sk_d, g_ir + nr + ni, length): "the nonces go in the order Ni | Nr.",
        p.prf_plus(g_ir, sk_d + ni + nr, length): "prf+ is keyed with SK_d; g^ir (new) is part of the seed.",
    }
    if got in wrong:
        raise Wrong(wrong[got])
    raise Wrong("not KEYMAT. Check KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr) and the PRF you used.")
