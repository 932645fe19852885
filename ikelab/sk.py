"""Protecting IKE messages: the Encrypted payload SK (RFC 7296 3.14, RFC 5282) and fragments (RFC 7383).

RFC 7296 3.14 lays out the SK payload as::

    Next Payload | C | RESERVED | Payload Length
    Initialization Vector
    Encrypted IKE Payloads | Padding (0-255 octets) | Pad Length
    Integrity Checksum Data

"Padding ... MUST have a length that makes the combination of the payloads,
the Padding, and the Pad Length to be a multiple of the encryption block
size"; the sender sets the minimum, the receiver accepts any.  The ICV "is
the cryptographic checksum of the entire message starting with the Fixed IKE
header through the Pad Length".

With an AEAD cipher (RFC 5282 5.1) there is no integrity transform: the
ICV is the AEAD tag, and the associated data is the message "from the
beginning of the IKE Header through the last octet of the Encrypted Payload
header" (the generic header, not the IV).  AES-GCM, AES-CCM and
ChaCha20-Poly1305 (RFC 7634) have a block size of 1, so only the Pad Length
octet is added.

The Encrypted Fragment payload SKF (RFC 7383 2.5) adds Fragment Number and
Total Fragments after the generic header; both are covered by the ICV and by
the AEAD associated data.  Each fragment is protected on its own; the
receiver checks every fragment, then joins the decrypted contents in
fragment order and parses the result as the inner payloads.

Keys: the original initiator protects with SK_ei/SK_ai, the original
responder with SK_er/SK_ar (RFC 7296 2.14).  :class:`SkCrypto` is one
direction; :class:`SkCryptoPair` holds both and picks by the I flag.  IVs
come from the injected random source (``ikelab.rand``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Protocol, Union

from .errors import ConfigError, IntegrityError, ParseError
from .payloads import SK, SKF, Payload, SkDetails, _type_code, decode_chain
from .rand import RandomSource, default_random
from .transforms import require_transform
from .wire import DecodeContext, check_bytes

if TYPE_CHECKING:  # pragma: no cover
    from .message import Message
    from .transforms import Encryption, Integrity

__all__ = [
    "SkCrypto", "SkCryptoPair", "fragment", "pad_length_for", "protect", "reassemble",
    "reassemble_payloads", "seal", "sealed_length", "unprotect", "unseal",
]


class CryptoSource(Protocol):
    """Anything that can give the SkCrypto protecting a message of one direction."""

    def for_message(self, is_initiator: bool) -> "SkCrypto": ...


@dataclass(frozen=True)
class SkCrypto:
    """The cipher, integrity transform, keys and IV source of one direction.

    ``integ`` is None for AEAD ciphers (RFC 5282 8: they are negotiated
    without an integrity transform) and required otherwise.
    """

    encr: "Encryption"
    integ: "Integrity | None"
    sk_e: bytes
    sk_a: bytes = b""
    rng: RandomSource | None = None

    def __post_init__(self) -> None:
        _check_fields(self.encr, self.integ, self.sk_e, self.sk_a)
        if not getattr(self.encr, "ike_allowed", True):
            raise ConfigError(f"{self.encr.name} cannot protect IKE messages (IKE always encrypts)", field="encr", value=self.encr.name)
        if self.encr.is_aead and self.integ is not None:
            raise ConfigError(f"{self.encr.name} is an AEAD cipher: it takes no integrity transform (RFC 5282 8)", field="integ", value=self.integ.name)
        if not self.encr.is_aead and self.integ is None:
            raise ConfigError(f"{self.encr.name} needs an integrity transform", field="integ", value=None)
        if len(self.sk_e) != self.encr.key_len:
            raise ConfigError(f"sk_e is {len(self.sk_e)} bytes; {self.encr.name} needs {self.encr.key_len}", field="sk_e", value=len(self.sk_e))
        need_a = self.integ.key_len if self.integ is not None else 0
        if len(self.sk_a) != need_a:
            raise ConfigError(f"sk_a is {len(self.sk_a)} bytes; expected {need_a}", field="sk_a", value=len(self.sk_a))

    @classmethod
    def create(
        cls,
        encr: Any,
        sk_e: bytes,
        *,
        key_bits: int | None = None,
        integ: Any = None,
        sk_a: bytes = b"",
        rng: RandomSource | None = None,
        allow_weak: bool = False,
    ) -> "SkCrypto":
        """Build from algorithm names: ``SkCrypto.create("ENCR_AES_GCM_16", key, key_bits=256)``."""
        from .transforms import encryption, integrity

        e = encryption(encr, key_bits, allow_weak=allow_weak)
        i = integrity(integ, allow_weak=allow_weak) if integ is not None else None
        return cls(e, i, check_bytes(sk_e, "sk_e"), check_bytes(sk_a, "sk_a"), rng)

    @classmethod
    def for_sender(cls, keys: Any, initiator: bool, encr: "Encryption", integ: "Integrity | None" = None, rng: RandomSource | None = None) -> "SkCrypto":
        """The keys a sender uses: SK_ei/SK_ai for the original initiator, SK_er/SK_ar otherwise.

        ``keys`` is an :class:`ikelab.keys.IkeSaKeys`.  A receiver uses the
        same object for the peer's direction: ``for_sender(keys, not me)``.
        """
        try:
            sk_e, sk_a = (keys.sk_ei, keys.sk_ai) if initiator else (keys.sk_er, keys.sk_ar)
        except AttributeError:
            raise ConfigError(f"keys must be an ikelab.keys.IkeSaKeys (with sk_ei, sk_ai, sk_er, sk_ar), "
                              f"not {type(keys).__name__}", field="keys", value=keys) from None
        return cls(encr, integ, sk_e, sk_a if integ is not None else b"", rng)

    @classmethod
    def _trusted(cls, encr: "Encryption", integ: "Integrity | None", sk_e: bytes, sk_a: bytes, rng: RandomSource | None) -> "SkCrypto":
        """``SkCrypto(...)`` without its checks, for a caller that made them (:func:`ikelab.exchanges_wire.sk_crypto`)."""
        obj = object.__new__(cls)
        obj.__dict__.update(encr=encr, integ=integ, sk_e=sk_e, sk_a=sk_a, rng=rng)  # a frozen dataclass refuses setattr
        return obj

    def for_message(self, is_initiator: bool) -> "SkCrypto":
        """This object (one direction: the caller chose the keys)."""
        return self

    @property
    def iv_len(self) -> int:
        return self.encr.iv_len

    @property
    def icv_len(self) -> int:
        return self.encr.icv_len if self.encr.is_aead else self.integ.icv_len  # type: ignore[union-attr]

    @property
    def block_size(self) -> int:
        return self.encr.block_size


@dataclass(frozen=True)
class SkCryptoPair:
    """Both directions of an IKE SA; ``for_message`` picks by the I flag, as Wireshark does."""

    initiator: SkCrypto
    responder: SkCrypto

    @classmethod
    def from_keys(cls, keys: Any, encr: "Encryption", integ: "Integrity | None" = None, rng: RandomSource | None = None) -> "SkCryptoPair":
        """From :class:`ikelab.keys.IkeSaKeys` and the negotiated transforms."""
        return cls(SkCrypto.for_sender(keys, True, encr, integ, rng), SkCrypto.for_sender(keys, False, encr, integ, rng))

    def for_message(self, is_initiator: bool) -> SkCrypto:
        """SK_ei/SK_ai for messages with the I flag, SK_er/SK_ar otherwise."""
        return self.initiator if is_initiator else self.responder


Crypto = Union[SkCrypto, SkCryptoPair, CryptoSource]


def _check_fields(encr: Any, integ: Any, sk_e: Any, sk_a: Any) -> None:
    """ConfigError naming ``encr``, ``integ``, ``sk_e`` or ``sk_a`` when it is not a transforms object or bytes."""
    require_transform(encr, "encr", "encryption")
    require_transform(integ, "integ", "integrity", optional=True)
    for name, value in (("sk_e", sk_e), ("sk_a", sk_a)):
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise ConfigError(f"{name} must be bytes, not {type(value).__name__}", field=name, value=value)


def not_a_crypto(crypto: Any) -> ConfigError:
    """The error for ``crypto=`` that is not an SkCrypto or SkCryptoPair (called after using it failed)."""
    hint = ""
    if hasattr(crypto, "sk_ei"):  # ikelab.keys.IkeSaKeys: the keys, not yet the cipher
        hint = "; SkCryptoPair.from_keys(keys, encr, integ) makes one from IkeSaKeys"
    return ConfigError(f"crypto must be an SkCrypto or SkCryptoPair, not {type(crypto).__name__}{hint}",
                       field="crypto", value=crypto)


def pad_length_for(plaintext_len: int, block_size: int) -> int:
    """The minimum Pad Length: ``len(payloads) + padding + 1`` becomes a multiple of the block size."""
    # ints, the per-message call, pass with two class tests and two comparisons
    if plaintext_len.__class__ is int and block_size.__class__ is int and plaintext_len >= 0 and block_size > 0:
        return -(plaintext_len + 1) % block_size
    if plaintext_len.__class__ is not int or plaintext_len < 0:
        raise ConfigError(f"plaintext_len must be an int >= 0 (octets), not {plaintext_len!r:.40}",
                          field="plaintext_len", value=plaintext_len)
    raise ConfigError(f"block_size must be an int > 0 (octets), not {block_size!r:.40}", field="block_size",
                      value=block_size)


def sealed_length(crypto: SkCrypto, plaintext_len: int) -> int:
    """Octets of ``IV | ciphertext | ICV`` for ``plaintext_len`` octets of inner payloads."""
    try:
        encr = crypto.encr
        icv_len = encr.icv_len if encr.is_aead else crypto.integ.icv_len  # type: ignore[union-attr]
        block_size = encr.block_size
        head = encr.iv_len + 1 + icv_len
    except AttributeError:  # checked only when it fails: every protected message is sized here
        raise ConfigError(f"crypto must be an SkCrypto (one direction's keys), not {type(crypto).__name__}",
                          field="crypto", value=crypto) from None
    if plaintext_len.__class__ is not int or plaintext_len < 0:  # block_size comes from a transform object
        pad_length_for(plaintext_len, block_size)  # raises, naming plaintext_len
    return head + plaintext_len + -(plaintext_len + 1) % block_size  # + pad_length_for(plaintext_len, block_size)


def seal(crypto: SkCrypto, plaintext: bytes, aad: bytes) -> bytes:
    """``IV | Encrypted(plaintext | Padding | Pad Length) | ICV``.

    ``aad`` is the message from the IKE header through the SK (or SKF) header,
    with the final lengths already in place.  Padding octets are zero.
    """
    encr = crypto.encr
    pad = -(len(plaintext) + 1) % encr.block_size  # pad_length_for, for a length and a transform's block size
    rng = crypto.rng if crypto.rng is not None else default_random()
    iv = rng.random_bytes(encr.iv_len)
    padded = plaintext + _PADDING[pad]
    if encr.is_aead:
        return iv + encr.encrypt(crypto.sk_e, iv, padded, aad)
    ct = encr.encrypt(crypto.sk_e, iv, padded)
    return iv + ct + crypto.integ.compute(crypto.sk_a, aad + iv + ct)  # type: ignore[union-attr]


#: Padding | Pad Length for every Pad Length: zero octets, then the length itself.
_PADDING = tuple(bytes(n) + bytes((n,)) for n in range(256))


def unseal(crypto: SkCrypto, aad: bytes, body: bytes, body_offset: int, field: str = "SK") -> tuple[bytes, SkDetails]:
    """Check and decrypt ``IV | ciphertext | ICV``; return the inner octets (padding removed) and details.

    Framing problems (a body too short, a CBC length that is not a block
    multiple) are ParseError; a wrong ICV or tag, or a Pad Length larger than
    the decrypted data, is IntegrityError.  The ICV is checked (in constant
    time) before anything is decrypted.
    """
    encr = crypto.encr
    iv_len, bs = encr.iv_len, encr.block_size
    icv_len = encr.icv_len if encr.is_aead else crypto.integ.icv_len  # type: ignore[union-attr]
    ct_len = len(body) - iv_len - icv_len
    if ct_len < 1:
        raise ParseError(f"{len(body)} bytes cannot hold IV ({iv_len}), Pad Length (1) and ICV ({icv_len})", field=f"{field}.encrypted", offset=body_offset)
    if ct_len % bs:
        raise ParseError(f"encrypted data of {ct_len} bytes is not a multiple of the {bs}-byte block", field=f"{field}.encrypted", offset=body_offset + iv_len)
    iv = body[:iv_len]
    ct = body[iv_len : iv_len + ct_len]
    icv = body[iv_len + ct_len :]
    if encr.is_aead:
        padded = encr.decrypt(crypto.sk_e, iv, body[iv_len:], aad)  # ciphertext | tag
    else:
        crypto.integ.verify(crypto.sk_a, aad + iv + ct, icv)  # type: ignore[union-attr]
        padded = encr.decrypt(crypto.sk_e, iv, ct)
    pad = padded[-1]
    n = len(padded) - 1 - pad  # octets of inner payloads
    if n < 0:
        raise IntegrityError(f"{field}: Pad Length {pad} exceeds the {len(padded) - 1} decrypted bytes before it")
    inner = padded[:n]
    return inner, SkDetails._from_wire(iv, ct, icv, padded[n:-1], pad, inner)  # type: ignore[attr-defined]


def open_encrypted(payload: SK | SKF, data: bytes, crypto: SkCrypto, ctx: DecodeContext) -> SK | SKF:
    """Decrypt the SK or SKF payload that ends ``data`` (a whole IKE message)."""
    body = payload.encrypted or b""
    body_offset = len(data) - len(body)
    label = "SK" if isinstance(payload, SK) else "SKF"
    inner_bytes, details = unseal(crypto, data[:body_offset], body, ctx.base + body_offset, label)
    trace = ctx.trace is not None
    ct_at = body_offset + crypto.iv_len
    if trace:
        ctx.row(body_offset, crypto.iv_len, f"{label}.iv", details.iv.hex() or "(none)")
    if isinstance(payload, SK):
        inner = decode_chain(payload.next_payload, inner_bytes, 0, len(inner_bytes), ctx.child(ctx.base + ct_at, True), prefix="SK.", inner=True)
        # SK(inner=inner, critical=..., details=details), whose next_payload is the first inner type
        result: SK | SKF = SK._from_wire(inner, None, _type_code(inner[0]) if inner else 0, payload.critical, details)  # type: ignore[attr-defined]
    else:
        if trace and inner_bytes:
            ctx.child(ctx.base + ct_at, True).row(0, len(inner_bytes), "SKF.content", inner_bytes.hex())
        result = SKF._from_wire(  # type: ignore[attr-defined]
            payload.fragment_number, payload.total_fragments, inner_bytes, None, payload.next_payload, payload.critical, details
        )
    if trace:
        sub = ctx.child(ctx.base + ct_at, True)
        if details.padding:
            sub.row(len(inner_bytes), len(details.padding), f"{label}.padding", details.padding.hex())
        sub.row(len(inner_bytes) + len(details.padding), 1, f"{label}.pad_length", details.pad_length)
        ctx.row(len(data) - len(details.icv), len(details.icv), f"{label}.icv", details.icv.hex())
    return result


# -- whole messages --------------------------------------------------------------


def protect(message: "Message", crypto: Crypto) -> bytes:
    """Encode ``message`` (whose last payload is ``SK(inner=...)`` or an SKF) with ``crypto``."""
    try:
        return message.encode(crypto=crypto)
    except (AttributeError, TypeError):
        if not hasattr(message, "payloads"):  # bytes or text: they have an encode() too
            from .message import not_a_message

            raise not_a_message("protect", message) from None
        raise


def unprotect(data: bytes, crypto: Crypto) -> "Message":
    """Decode ``data``, checking the ICV and decrypting the SK or SKF payload."""
    from .message import decode

    return decode(data, crypto=crypto)


def fragment(message: "Message", crypto: Crypto, max_message_size: int) -> list[bytes]:
    """Split a protected message into SKF fragment messages of at most ``max_message_size`` octets (RFC 7383 2.5).

    ``message`` must consist of a single ``SK(inner=...)`` payload.  Every
    fragment has the message's header (same Message ID), Fragment Numbers
    1..n and Total Fragments n; fragment 1 carries the first inner payload
    type in its Next Payload field.
    """
    from dataclasses import replace

    from .payloads import encode_chain

    if not hasattr(message, "payloads") or not hasattr(message, "is_initiator"):
        raise ConfigError(f"fragment: message must be a Message, not {type(message).__name__}",
                          field="message", value=message)
    if not hasattr(crypto, "for_message"):
        raise not_a_crypto(crypto)
    if isinstance(max_message_size, bool) or not isinstance(max_message_size, int):
        raise ConfigError(f"max_message_size must be an int (octets), not {type(max_message_size).__name__}",
                          field="max_message_size", value=max_message_size)
    if len(message.payloads) != 1 or not isinstance(message.payloads[0], SK) or message.payloads[0].inner is None:
        raise ConfigError("fragment() takes a message whose only payload is SK(inner=...)", field="payloads", value=len(message.payloads))
    c = crypto.for_message(message.is_initiator)
    first, plain = encode_chain(message.payloads[0].inner, prefix="SK.")
    fixed = 28 + 8 + c.iv_len + c.icv_len
    room = (max_message_size - fixed) // c.block_size * c.block_size - 1
    if room < 1:
        raise ConfigError(f"max_message_size {max_message_size} leaves no room for content (overhead {fixed + 1 + c.block_size - 1})", field="max_message_size", value=max_message_size)
    chunks = [plain[i : i + room] for i in range(0, len(plain), room)] or [b""]
    if len(chunks) > 0xFFFF:
        raise ConfigError(f"{len(chunks)} fragments; at most 65535", field="max_message_size", value=max_message_size)
    n = len(chunks)
    out = []
    for i, chunk in enumerate(chunks):
        skf = SKF(i + 1, n, content=chunk, next_payload=first if i == 0 else 0, critical=message.payloads[0].critical)
        out.append(replace(message, payloads=(skf,)).encode(crypto=crypto))
    return out


def reassemble(fragments: Iterable["bytes | Message"], crypto: Crypto | None = None) -> "Message | None":
    """Join SKF fragment messages into one message with ``SK(inner=...)``, or None while some are missing.

    Byte strings are decoded (each fragment's ICV checked) with ``crypto``;
    messages must already be decrypted.  Following RFC 7383 2.6, when
    fragments announce different Total Fragments the largest total wins and
    the others are dropped; duplicates are ignored.  Fragments of different
    messages (SPIs, exchange, Message ID, flags) raise ConfigError, as do
    Fragment Numbers outside 1..Total Fragments (RFC 7383 2.5).
    """
    from dataclasses import replace

    from .message import decode

    chosen: dict[int, SKF] = {}
    total = 0
    head = None
    if isinstance(fragments, (str, bytes, bytearray, memoryview)) or not hasattr(fragments, "__iter__"):
        raise ConfigError(f"fragments must be a list of fragment messages (bytes or Message), "
                          f"not {type(fragments).__name__}", field="fragments", value=fragments)
    for item in fragments:
        msg = decode(item, crypto=crypto) if isinstance(item, (bytes, bytearray, memoryview)) else item
        if not hasattr(msg, "payloads"):
            raise ConfigError(f"fragments must hold bytes or Message objects, not {type(msg).__name__}",
                              field="fragments", value=msg)
        if not msg.payloads or not isinstance(msg.payloads[-1], SKF):
            raise ConfigError("reassemble() takes messages whose last payload is SKF", field="fragments", value=msg)
        skf = msg.payloads[-1]
        if skf.content is None:
            raise ConfigError("fragment not decrypted: pass crypto= or decrypted messages", field="crypto", value=None)
        skf.check_numbers()  # a message built by hand was never decoded: 1 <= number <= total (RFC 7383 2.5)
        key = (msg.spi_i, msg.spi_r, int(msg.exchange), msg.message_id, msg.is_initiator, msg.is_response)
        if head is None:
            head = (key, msg)
        elif key != head[0]:
            raise ConfigError("fragments of different messages (SPIs, exchange, Message ID or flags differ)", field="fragments", value=key)
        if skf.total_fragments > total:
            total = skf.total_fragments
            chosen = {k: v for k, v in chosen.items() if v.total_fragments == total}
        if skf.total_fragments == total and skf.fragment_number not in chosen:
            chosen[skf.fragment_number] = skf
    if head is None or total == 0 or len(chosen) < total:
        return None
    content = b"".join(chosen[i].content for i in range(1, total + 1))  # type: ignore[misc]
    inner = decode_chain(chosen[1].next_payload, content, 0, len(content), DecodeContext(0, None, True), prefix="SK.", inner=True)
    sk = SK(inner=inner, critical=chosen[1].critical)
    return replace(head[1], payloads=head[1].payloads[:-1] + (sk,))


def reassemble_payloads(fragments: Iterable["bytes | Message"], crypto: Crypto | None = None) -> tuple[Payload, ...] | None:
    """The reassembled inner payloads (see :func:`reassemble`), or None while fragments are missing."""
    message = reassemble(fragments, crypto)
    if message is None:
        return None
    sk = message.payloads[-1]
    assert isinstance(sk, SK) and sk.inner is not None
    return sk.inner

