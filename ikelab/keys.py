"""The IKEv2 key schedule (RFC 7296 sections 2.14, 2.17 and 2.18), as pure functions of bytes.

IKE SA keys, RFC 7296 2.14::

    SKEYSEED = prf(Ni | Nr, g^ir)

    {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
                    = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)

"If the negotiated PRF is AES-XCBC-PRF-128 or AES-CMAC-PRF-128, only the
first 64 bits of Ni and the first 64 bits of Nr are used in calculating
SKEYSEED, but all the bits are used for input to the prf+ function."

SK_d, SK_pi and SK_pr are as long as the PRF's preferred key size; SK_ai/SK_ar
as long as the integrity key (none with an AEAD cipher, RFC 5282); SK_ei/SK_er
as long as the encryption KEYMAT, *including* the salt of the counter-based
modes (AES-CTR +4, RFC 5930; AES-GCM +4 and AES-CCM +3, RFC 5282;
ChaCha20-Poly1305 +4, RFC 7634).

CHILD SA keys, RFC 7296 2.17::

    KEYMAT = prf+(SK_d, Ni | Nr)                      (no new Diffie-Hellman)
    KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr)         (with PFS)

"All keys for SAs carrying data from the initiator to the responder are
taken before SAs going from the responder to the initiator ... the
encryption key is taken from the first octets of KEYMAT and the
authentication key is taken from the next octets", so KEYMAT splits as
``encr_i | integ_i | encr_r | integ_r``.

Rekeying the IKE SA, RFC 7296 2.18::

    SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)

computed with the *old* IKE SA's PRF; the new SK_* then follow 2.14 with the
new nonces and SPIs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, Optional, Union

from .constants import EncrId, IntegId, PrfId, lookup
from .errors import ConfigError, WeakAlgorithmError
from .fmt import hexstr
from . import transforms
from .prf import STRONG_PRFS, Prf, _bytes, _length, get_prf
from .records import from_wire

__all__ = [
    "ChildSaKeys",
    "IKE_SPI_LEN",
    "IkeSaKeys",
    "KeyPart",
    "child_keymat",
    "child_sa_keymat",
    "child_sa_keys",
    "child_sa_keys_from_lengths",
    "ike_sa_keys",
    "ike_sa_keys_from_lengths",
    "rekey_skeyseed",
    "skeyseed",
    "skeyseed_key",
]

#: IKE SPIs are 8 octets (RFC 7296 3.1).
IKE_SPI_LEN = 8
#: Bytes of each nonce that key the fixed-key PRFs in SKEYSEED (RFC 7296 2.14).
FIXED_KEY_NONCE_PREFIX = 8

PrfArg = Union[PrfId, int, str, Prf]


class KeyPart(NamedTuple):
    """One named key cut from a prf+ stream: its name, byte offset and value."""

    name: str
    offset: int
    value: bytes


def _split(names: tuple[str, ...], values: tuple[bytes, ...]) -> list[KeyPart]:
    parts, offset = [], 0
    for name, value in zip(names, values):
        parts.append(KeyPart(name, offset, value))
        offset += len(value)
    return parts


def _format(title: str, parts: list[KeyPart]) -> str:
    lines = [title]
    for part in parts:
        lines.append(f"{part.name:8} [{part.offset:4}..{part.offset + len(part.value):4}) {len(part.value):3} bytes")
        lines.append("    " + hexstr(part.value, indent="    "))
    return "\n".join(lines)


# --- SKEYSEED -----------------------------------------------------------------------------


def skeyseed_key(alg: PrfArg, ni: bytes, nr: bytes, *, allow_weak: bool = False) -> bytes:
    """The PRF key used for SKEYSEED: ``Ni | Nr``, or the first 64 bits of each for XCBC/CMAC (2.14)."""
    p = get_prf(alg, allow_weak=allow_weak)
    return _skeyseed_key(p, _bytes(ni, "ni"), _bytes(nr, "nr"))


def _skeyseed_key(p: Prf, ni: bytes, nr: bytes) -> bytes:
    if not p.fixed_key:
        return ni + nr
    for name, nonce in (("ni", ni), ("nr", nr)):
        if len(nonce) < FIXED_KEY_NONCE_PREFIX:
            raise ConfigError(
                f"{p.name} takes the first 64 bits of each nonce for SKEYSEED (RFC 7296 2.14), "
                f"but {name} has only {len(nonce)} bytes",
                field=name,
                value=len(nonce),
            )
    return ni[:FIXED_KEY_NONCE_PREFIX] + nr[:FIXED_KEY_NONCE_PREFIX]


def skeyseed(alg: PrfArg, ni: bytes, nr: bytes, g_ir: bytes, *, allow_weak: bool = False) -> bytes:
    """``SKEYSEED = prf(Ni | Nr, g^ir)`` (RFC 7296 2.14), with the XCBC/CMAC nonce rule."""
    p = STRONG_PRFS.get(alg) if alg.__class__ is PrfId else None  # the engine's PrfId, without a get_prf call
    if p is None:
        p = get_prf(alg, allow_weak=allow_weak)
    if p.weak_reason is not None:  # step by step, so a weak PRF warns once per step as it always did
        key = skeyseed_key(p, ni, nr, allow_weak=allow_weak)
    elif ni.__class__ is bytes and nr.__class__ is bytes:  # the usual arguments pass without a call
        key = _skeyseed_key(p, ni, nr)
    else:
        key = _skeyseed_key(p, _bytes(ni, "ni"), _bytes(nr, "nr"))
    return p._once(key, g_ir if g_ir.__class__ is bytes else _bytes(g_ir, "g_ir"))


def rekey_skeyseed(
    alg: PrfArg, sk_d_old: bytes, g_ir_new: bytes, ni: bytes, nr: bytes, *, allow_weak: bool = False
) -> bytes:
    """``SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)`` for a rekeyed IKE SA (RFC 7296 2.18).

    ``alg`` is the PRF of the *old* IKE SA; ``ni`` and ``nr`` are the nonces
    of the CREATE_CHILD_SA exchange that rekeys it.
    """
    p = get_prf(alg, allow_weak=allow_weak)
    data = _bytes(g_ir_new, "g_ir_new") + _bytes(ni, "ni") + _bytes(nr, "nr")
    return p._once(_bytes(sk_d_old, "sk_d_old"), data)


# --- IKE SA keys --------------------------------------------------------------------------


@from_wire
@dataclass(frozen=True, slots=True)
class IkeSaKeys:
    """The seven IKE SA keys of RFC 7296 2.14, with the prf+ stream they were cut from."""

    sk_d: bytes
    sk_ai: bytes
    sk_ar: bytes
    sk_ei: bytes
    sk_er: bytes
    sk_pi: bytes
    sk_pr: bytes
    prf: PrfId
    keymat: bytes
    blocks: tuple[bytes, ...]

    NAMES = ("SK_d", "SK_ai", "SK_ar", "SK_ei", "SK_er", "SK_pi", "SK_pr")

    @property
    def total_len(self) -> int:
        """Bytes of prf+ output consumed by the seven keys."""
        return len(self.keymat)

    @property
    def lengths(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self._values())

    def _values(self) -> tuple[bytes, ...]:
        return (self.sk_d, self.sk_ai, self.sk_ar, self.sk_ei, self.sk_er, self.sk_pi, self.sk_pr)

    def split(self) -> list[KeyPart]:
        """``[KeyPart("SK_d", 0, ...), KeyPart("SK_ai", 32, ...), ...]`` in prf+ order."""
        return _split(self.NAMES, self._values())

    def as_dict(self) -> dict[str, bytes]:
        return dict(zip(self.NAMES, self._values()))

    def format(self) -> str:
        """The split as text: name, byte range, length and hex of each key."""
        return _format(f"prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr) with {self.prf.name}: {self.total_len} bytes",
                       self.split())


def ike_sa_keys_from_lengths(
    prf_alg: PrfArg,
    skeyseed: bytes,
    ni: bytes,
    nr: bytes,
    spi_i: bytes,
    spi_r: bytes,
    *,
    encr_len: int,
    integ_len: int,
    allow_weak: bool = False,
) -> IkeSaKeys:
    """SK_d .. SK_pr from explicit key lengths (bytes of SK_ei and of SK_ai).

    ``{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)``
    """
    p = get_prf(prf_alg, allow_weak=allow_weak, field="prf_alg")
    encr_len = _length(encr_len, "encr_len")
    integ_len = _length(integ_len, "integ_len")
    return _ike_sa_keys(p, skeyseed, ni, nr, spi_i, spi_r, encr_len, integ_len)


def _ike_sa_keys(
    p: Prf, skeyseed: bytes, ni: bytes, nr: bytes, spi_i: bytes, spi_r: bytes, encr_len: int, integ_len: int
) -> IkeSaKeys:
    """The 2.14 split for a checked PRF and checked lengths (the other arguments are checked here)."""
    # bytes, the usual arguments, pass these tests without a call; _bytes names anything else
    if spi_i.__class__ is not bytes or spi_r.__class__ is not bytes:
        spi_i, spi_r = _bytes(spi_i, "spi_i"), _bytes(spi_r, "spi_r")
    if len(spi_i) != IKE_SPI_LEN or len(spi_r) != IKE_SPI_LEN:
        for name, spi in (("spi_i", spi_i), ("spi_r", spi_r)):
            if len(spi) != IKE_SPI_LEN:
                raise ConfigError(
                    f"IKE SPIs are 8 bytes (RFC 7296 3.1), {name} has {len(spi)}", field=name, value=len(spi)
                )
    if ni.__class__ is not bytes or nr.__class__ is not bytes or skeyseed.__class__ is not bytes:
        ni, nr, skeyseed = _bytes(ni, "ni"), _bytes(nr, "nr"), _bytes(skeyseed, "skeyseed")
    seed = ni + nr + spi_i + spi_r
    key = skeyseed
    k = p.key_len
    total = p._checked_length(3 * k + 2 * integ_len + 2 * encr_len)
    stream = p._prf_plus_stream(key, seed, total)
    # SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr: where each key ends in the stream
    d, ai, ar = k, k + integ_len, k + 2 * integ_len
    ei, er, pi = ar + encr_len, ar + 2 * encr_len, ar + 2 * encr_len + k
    # sk_d, sk_ai, sk_ar, sk_ei, sk_er, sk_pi, sk_pr, prf, keymat, blocks: values made here, stored unchecked
    return IkeSaKeys._from_wire(stream[:d], stream[d:ai], stream[ai:ar], stream[ar:ei], stream[ei:er],  # type: ignore[attr-defined]
                                stream[er:pi], stream[pi:total], p.transform_id, stream[:total],
                                _blocks(stream, p.output_len))


def _blocks(stream: bytes, size: int) -> tuple[bytes, ...]:
    """``T1, T2, ...``: a prf+ stream cut into PRF outputs (a shorter last one if the stream ends inside a block).

    One ``struct`` unpack makes the tuple of blocks; a comprehension of slices took some 5,000 instructions
    more per call (Python 3.11 runs it as a function of its own, with a slice object per block).
    """
    count, rest = divmod(len(stream), size)
    return _block_layout(count, size, rest).unpack(stream)


@lru_cache(maxsize=64)
def _block_layout(count: int, size: int, rest: int = 0) -> struct.Struct:
    """``count`` blocks of ``size`` bytes, then ``rest``, as a struct format: ``"32s32s32s"`` for three SHA-256
    outputs."""
    return struct.Struct(f"{size}s" * count + (f"{rest}s" if rest else ""))


def _transform_lengths(
    encr: "EncrId | int | str | None",
    encr_key_bits: int | None,
    integ: "IntegId | int | str | None",
    *,
    allow_weak: bool,
    require_integ: bool,
) -> tuple[int, int]:
    """(encryption KEYMAT bytes, integrity key bytes) from :mod:`ikelab.transforms`."""
    # The engine passes enum members: remember their lengths (strong transforms only, so that
    # weak ones still warn or refuse on every call); anything else is checked afresh.
    if type(encr) in _MEMO_ENCR and type(integ) in _MEMO_INTEG and type(encr_key_bits) in _MEMO_BITS:
        lengths = _strong_lengths(encr, encr_key_bits, integ, require_integ)
        if lengths is not None:
            return lengths
    return _checked_lengths(encr, encr_key_bits, integ, allow_weak=allow_weak, require_integ=require_integ)


_MEMO_ENCR = (EncrId, type(None))
_MEMO_INTEG = (IntegId, type(None))
_MEMO_BITS = (int, type(None))


@lru_cache(maxsize=64)
def _strong_lengths(
    encr: Optional[EncrId], encr_key_bits: Optional[int], integ: Optional[IntegId], require_integ: bool
) -> tuple[int, int] | None:
    """The lengths when no weak transform is involved, else None (bad input raises as usual)."""
    try:
        return _checked_lengths(encr, encr_key_bits, integ, allow_weak=False, require_integ=require_integ)
    except WeakAlgorithmError:
        return None


def _checked_lengths(
    encr: "EncrId | int | str | None",
    encr_key_bits: int | None,
    integ: "IntegId | int | str | None",
    *,
    allow_weak: bool,
    require_integ: bool,
) -> tuple[int, int]:
    integ_id = None if integ is None else lookup(IntegId, integ)
    if integ_id == IntegId.NONE:
        integ_id = None
    if encr is None:
        if require_integ:
            raise ConfigError("an IKE SA needs an encryption algorithm (RFC 7296 3.3.3)", field="encr", value=None)
        if integ_id is None:
            raise ConfigError("neither encryption nor integrity given: no keys to derive", field="encr", value=None)
        return 0, transforms.integrity(integ_id, allow_weak=allow_weak).key_len
    cipher = transforms.encryption(encr, encr_key_bits, allow_weak=allow_weak)
    if require_integ and not cipher.ike_allowed:  # IKE SA keys; checked once per transform (_strong_lengths)
        raise ConfigError(f"{cipher.name} is not allowed for IKE: IKE always encrypts (RFC 7296 3.3.2)",
                          field="encr", value=encr)
    if cipher.is_aead:
        if integ_id is not None:
            raise ConfigError(
                f"{cipher.name} is an AEAD cipher: the integrity transform must be NONE or absent "
                f"(RFC 5282 8), got {integ_id.name}",
                field="integ",
                value=integ,
            )
        return cipher.key_len, 0
    if integ_id is None:
        if require_integ:
            raise ConfigError(
                f"{cipher.name} is not an AEAD cipher, so the IKE SA needs an integrity algorithm "
                "(RFC 7296 3.3.3)",
                field="integ",
                value=integ,
            )
        return cipher.key_len, 0
    return cipher.key_len, transforms.integrity(integ_id, allow_weak=allow_weak).key_len


def ike_sa_keys(
    prf_alg: PrfArg,
    skeyseed: bytes,
    ni: bytes,
    nr: bytes,
    spi_i: bytes,
    spi_r: bytes,
    *,
    encr: "EncrId | int | str",
    encr_key_bits: int | None = None,
    integ: "IntegId | int | str | None" = None,
    allow_weak: bool = False,
) -> IkeSaKeys:
    """SK_d .. SK_pr for the negotiated transforms (RFC 7296 2.14).

    Key lengths come from :func:`ikelab.transforms.encryption` (``key_len``,
    salt included) and :func:`ikelab.transforms.integrity`; with an AEAD
    cipher ``integ`` must be None or NONE and SK_ai/SK_ar are empty.
    """
    encr_len, integ_len = _transform_lengths(encr, encr_key_bits, integ, allow_weak=allow_weak, require_integ=True)
    p = STRONG_PRFS.get(prf_alg) if prf_alg.__class__ is PrfId else None  # as in skeyseed
    if p is None:
        p = get_prf(prf_alg, allow_weak=allow_weak, field="prf_alg")
    return _ike_sa_keys(p, skeyseed, ni, nr, spi_i, spi_r, encr_len, integ_len)


# --- CHILD SA keys ------------------------------------------------------------------------


def child_keymat(
    alg: PrfArg,
    sk_d: bytes,
    ni: bytes,
    nr: bytes,
    length: int,
    g_ir: bytes | None = None,
    *,
    allow_weak: bool = False,
) -> bytes:
    """``KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr)``, ``length`` bytes (RFC 7296 2.17).

    Pass ``g_ir`` (the shared secret of the CREATE_CHILD_SA's own
    Diffie-Hellman exchange) for perfect forward secrecy.
    """
    p = get_prf(alg, allow_weak=allow_weak)
    key, seed = _bytes(sk_d, "sk_d"), _child_seed(ni, nr, g_ir)
    length = p._checked_length(length)
    return p._prf_plus_stream(key, seed, length)[:length]


#: The name used in the design notes.
child_sa_keymat = child_keymat


def _child_seed(ni: bytes, nr: bytes, g_ir: bytes | None) -> bytes:
    prefix = b"" if g_ir is None else _bytes(g_ir, "g_ir")
    if not prefix and g_ir is not None:  # b"" would give the KEYMAT without PFS under a PFS label
        raise ConfigError("g_ir is empty: KEYMAT with PFS needs the shared secret of the CREATE_CHILD_SA's own "
                          "Diffie-Hellman exchange (RFC 7296 2.17); pass g_ir=None for KEYMAT without PFS",
                          field="g_ir", value=g_ir)
    if ni.__class__ is bytes and nr.__class__ is bytes:  # the usual arguments pass without a call
        return prefix + ni + nr
    return prefix + _bytes(ni, "ni") + _bytes(nr, "nr")


@from_wire
@dataclass(frozen=True, slots=True)
class ChildSaKeys:
    """The keys of one CHILD SA pair cut from KEYMAT (RFC 7296 2.17).

    ``encr_i``/``integ_i`` protect traffic from the initiator to the
    responder, ``encr_r``/``integ_r`` the other direction.
    """

    encr_i: bytes
    integ_i: bytes
    encr_r: bytes
    integ_r: bytes
    prf: PrfId
    keymat: bytes
    blocks: tuple[bytes, ...]
    pfs: bool

    NAMES = ("encr_i", "integ_i", "encr_r", "integ_r")

    @property
    def total_len(self) -> int:
        return len(self.keymat)

    def _values(self) -> tuple[bytes, ...]:
        return (self.encr_i, self.integ_i, self.encr_r, self.integ_r)

    def split(self) -> list[KeyPart]:
        """``[KeyPart("encr_i", 0, ...), KeyPart("integ_i", ...), ...]`` in KEYMAT order."""
        return _split(self.NAMES, self._values())

    def as_dict(self) -> dict[str, bytes]:
        return dict(zip(self.NAMES, self._values()))

    def format(self) -> str:
        seed = "g^ir (new) | Ni | Nr" if self.pfs else "Ni | Nr"
        return _format(f"KEYMAT = prf+ (SK_d, {seed}) with {self.prf.name}: {self.total_len} bytes", self.split())


def child_sa_keys_from_lengths(
    prf_alg: PrfArg,
    sk_d: bytes,
    ni: bytes,
    nr: bytes,
    *,
    encr_len: int,
    integ_len: int,
    g_ir: bytes | None = None,
    allow_weak: bool = False,
) -> ChildSaKeys:
    """CHILD SA keys from explicit lengths: KEYMAT = encr_i | integ_i | encr_r | integ_r."""
    p = get_prf(prf_alg, allow_weak=allow_weak, field="prf_alg")
    encr_len = _length(encr_len, "encr_len")
    integ_len = _length(integ_len, "integ_len")
    return _child_sa_keys(p, sk_d, ni, nr, g_ir, encr_len, integ_len)


def _child_sa_keys(p: Prf, sk_d: bytes, ni: bytes, nr: bytes, g_ir: bytes | None, encr_len: int,
                   integ_len: int) -> ChildSaKeys:
    """The 2.17 split for a checked PRF and checked lengths (the other arguments are checked here)."""
    total = 2 * (encr_len + integ_len)
    key = sk_d if sk_d.__class__ is bytes else _bytes(sk_d, "sk_d")
    seed = _child_seed(ni, nr, g_ir)
    stream = p._prf_plus_stream(key, seed, p._checked_length(total))
    a, b, c = encr_len, encr_len + integ_len, 2 * encr_len + integ_len
    # encr_i, integ_i, encr_r, integ_r, prf, keymat, blocks, pfs: values made here, stored unchecked
    return ChildSaKeys._from_wire(stream[:a], stream[a:b], stream[b:c], stream[c:total],  # type: ignore[attr-defined]
                                  p.transform_id, stream[:total], _blocks(stream, p.output_len), g_ir is not None)


def child_sa_keys(
    prf_alg: PrfArg,
    sk_d: bytes,
    ni: bytes,
    nr: bytes,
    *,
    encr: "EncrId | int | str | None",
    encr_key_bits: int | None = None,
    integ: "IntegId | int | str | None" = None,
    g_ir: bytes | None = None,
    allow_weak: bool = False,
) -> ChildSaKeys:
    """CHILD SA keys for the negotiated ESP/AH transforms (RFC 7296 2.17).

    ``encr=None`` means AH (integrity only).  With an AEAD cipher ``integ``
    must be None or NONE and the integ_* keys are empty.
    """
    encr_len, integ_len = _transform_lengths(encr, encr_key_bits, integ, allow_weak=allow_weak, require_integ=False)
    p = STRONG_PRFS.get(prf_alg) if prf_alg.__class__ is PrfId else None  # as in skeyseed
    if p is None:
        p = get_prf(prf_alg, allow_weak=allow_weak, field="prf_alg")
    return _child_sa_keys(p, sk_d, ni, nr, g_ir, encr_len, integ_len)
