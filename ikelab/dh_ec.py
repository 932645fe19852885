"""Elliptic-curve Diffie-Hellman for IKEv2: ECP groups 19-21 and Curve25519/Curve448 (31, 32).

* ECP (RFC 5903): KE data is ``x | y``, each coordinate fixed length, with no
  0x04 prefix (section 7); g^ir is the x coordinate only.  A peer's value must
  be a point on the curve (RFC 6989); the curves have prime order, so there is
  no cofactor test, and all-zero data (standing in for infinity) is refused.
* X25519 and X448 (RFC 8031, RFC 7748): KE data and g^ir are the 32 or 56 byte
  little-endian u coordinate; an all-zero g^ir from a low-order point is
  refused (RFC 8031 section 3.2, RFC 7748 section 6).

The arithmetic is OpenSSL's, through cryptography.  :func:`ikelab.dh.group`
returns these groups by IANA ID.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .constants import DhId
from .dh_base import DhGroup, DhPrivateKey, _ke_bytes
from .dh_toy import check_int
from .errors import ConfigError, InvalidPublicValueError
from .rand import RandomSource, SystemRandom, check_random_source, default_random

# --- ECP groups (RFC 5903) ---

# cryptography's curve and ECDH objects hold no state: one of each serves every key
_EC_CURVE_OBJECTS: dict[str, ec.EllipticCurve] = {
    "secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1(), "secp521r1": ec.SECP521R1(),
}
_ECDH = ec.ECDH()


@dataclass(frozen=True, repr=False)
class EcpGroup(DhGroup):
    """A NIST prime curve ``y^2 = x^3 - 3x + b (mod p)`` of prime order ``n``."""

    kind: ClassVar[str] = "ECP"
    weak_reason: ClassVar[str] = ""

    id: DhId
    name: str
    curve_name: str  # name in cryptography / SEC 2
    p: int
    b: int
    n: int
    gx: int
    gy: int
    strength: int
    rfc: str

    @property
    def bits(self) -> int:
        return self.p.bit_length()

    @property
    def coord_len(self) -> int:
        """Bytes of one coordinate (32, 48, 66)."""
        return (self.p.bit_length() + 7) // 8

    @property
    def public_len(self) -> int:
        return 2 * self.coord_len

    @property
    def shared_len(self) -> int:
        return self.coord_len

    def curve(self) -> ec.EllipticCurve:
        """The cryptography curve object (one shared instance: it holds no state)."""
        return _EC_CURVE_OBJECTS[self.curve_name]

    def is_on_curve(self, x: int, y: int) -> bool:
        """Whether ``(x, y)`` satisfies ``y^2 = x^3 - 3x + b (mod p)`` with coordinates below p."""
        if x.__class__ is not int or y.__class__ is not int:  # a bool or a float would give a wrong answer
            check_int(x, "x")
            check_int(y, "y")
        p = self.p
        return 0 <= x < p and 0 <= y < p and (y * y - (x * x * x - 3 * x + self.b)) % p == 0

    def decode_public(self, data: bytes) -> tuple[int, int]:
        """The validated point ``(x, y)`` carried in KE data ``x | y``."""
        data = _ke_bytes(data, self.name)
        if len(data) != self.public_len:
            raise InvalidPublicValueError(
                f"KE data is {len(data)} bytes, expected {self.public_len} (x | y)", group=self.name
            )
        x = int.from_bytes(data[: self.coord_len], "big")
        y = int.from_bytes(data[self.coord_len :], "big")
        if x == 0 and y == 0:
            raise InvalidPublicValueError("all-zero KE data: the point at infinity has no x | y encoding",
                                          group=self.name)
        if not self.is_on_curve(x, y):
            for name, value in (("x", x), ("y", y)):
                if value >= self.p:  # an unreduced coordinate, refused as OpenSSL does
                    raise InvalidPublicValueError(f"{name} coordinate is p or more: not a point on the curve, whose"
                                                  " coordinates are in [0, p-1] (RFC 6989 2.3)", group=self.name)
            raise InvalidPublicValueError("public value is not a point on the curve (RFC 6989)", group=self.name)
        return x, y

    def validate_public(self, data: bytes) -> None:
        self.decode_public(data)

    def from_private_value(self, value: int) -> EcpPrivateKey:
        d = check_int(value, "d")
        if not 1 <= d < self.n:
            raise ConfigError(f"{self.name}: private value must be in [1, n-1]", field="d", value=d)
        return EcpPrivateKey(self, ec.derive_private_key(d, _EC_CURVE_OBJECTS[self.curve_name]))

    def generate(self, rng: RandomSource | None = None) -> EcpPrivateKey:
        """A new key pair: ``d`` drawn from ``rng``, or by OpenSSL when ``rng`` is the OS's.

        A seeded source must reproduce ``d``, so ikelab draws it and OpenSSL
        computes ``d * G`` (and re-checks the pair).  With :class:`SystemRandom`
        there is nothing to reproduce: OpenSSL draws ``d`` from its own generator,
        which the OS seeds, at half the cost, and ``d`` stays inside OpenSSL until
        someone asks for it.
        """
        rng = default_random() if rng is None else rng
        if rng.__class__ is SystemRandom:
            return EcpPrivateKey(self, ec.generate_private_key(_EC_CURVE_OBJECTS[self.curve_name]))
        try:
            d = 1 + rng.randbelow(self.n - 1)  # [1, n-1], with RandomSource's randbelow
        except AttributeError:  # checked only when it fails: a key is drawn per exchange
            check_random_source(rng)
            raise
        return self.from_private_value(d)


@dataclass(frozen=True, repr=False, eq=False)
class EcpPrivateKey(DhPrivateKey):
    """An ECP private scalar ``d``; the public value is the point ``d * G``."""

    group: EcpGroup
    key: ec.EllipticCurvePrivateKey

    @property
    def d(self) -> int:
        """The private scalar, read back from OpenSSL's key."""
        return self.key.private_numbers().private_value

    @property
    def private_value(self) -> int:
        return self.d

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not EcpPrivateKey:
            return NotImplemented
        return self.group == other.group and self.d == other.d  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.group.id, self.d))

    @property
    def public_point(self) -> tuple[int, int]:
        numbers = self.key.public_key().public_numbers()
        return numbers.x, numbers.y

    def public_bytes(self) -> bytes:
        """``x | y`` (RFC 5903 7): the X9.62 uncompressed point without its 0x04 prefix."""
        point = self.key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return point[1:]

    def exchange(self, peer_public: bytes) -> bytes:
        group = self.group
        if type(peer_public) is not bytes or len(peer_public) != group.public_len:
            group.decode_public(peer_public)  # refuses what is not x | y bytes, with the reason
        data = bytes(peer_public)
        try:
            # OpenSSL refuses coordinates >= p and points off the curve (EC_POINT_set_affine_coordinates),
            # so the RFC 6989 check of decode_public only runs again to name what was wrong
            peer = ec.EllipticCurvePublicKey.from_encoded_point(_EC_CURVE_OBJECTS[group.curve_name], b"\x04" + data)
            secret = self.key.exchange(_ECDH, peer)
        except ValueError as exc:
            group.decode_public(data)
            raise InvalidPublicValueError(f"ECDH refused the peer's value: {exc}", group=group.name) from None
        return secret.rjust(group.coord_len, b"\x00")


# --- Curve25519 and Curve448 (RFC 8031, RFC 7748) ---

#: key length -> (private key class, public key class) in cryptography
_MONTGOMERY_CLASSES: dict[int, tuple[Any, Any]] = {
    32: (x25519.X25519PrivateKey, x25519.X25519PublicKey),
    56: (x448.X448PrivateKey, x448.X448PublicKey),
}

_P25519 = 2**255 - 19
_P448 = 2**448 - 2**224 - 1
#: key length -> (p, bits of u kept by decodeUCoordinate (RFC 7748 5), the u (mod p) of the points of low order:
#: 0, 1, -1 and, on Curve25519, the two of order 8).  Clamped scalars are multiples of the cofactor (8 or 4),
#: so these, and only these, make X25519/X448 give the all-zero value that RFC 7748 6.1 and RFC 8031 3.2 refuse.
_LOW_ORDER_U: dict[int, tuple[int, int, frozenset[int]]] = {
    32: (_P25519, (1 << 255) - 1, frozenset({
        0, 1, _P25519 - 1,
        0x00B8495F16056286FDB1329CEB8D09DA6AC49FF1FAE35616AEB8413B7C7AEBE0,
        0x57119FD0DD4E22D8868E1C58C45C44045BEF839C55B1D0B1248C50A3BC959C5F,
    })),
    56: (_P448, (1 << 448) - 1, frozenset({0, 1, _P448 - 1})),
}


@dataclass(frozen=True, repr=False)
class MontgomeryGroup(DhGroup):
    """X25519 (group 31) or X448 (group 32): keys and values are byte strings."""

    kind: ClassVar[str] = "Montgomery"
    weak_reason: ClassVar[str] = ""

    id: DhId
    name: str
    field_bits: int  # 255 or 448
    key_len: int  # 32 or 56
    strength: int
    rfc: str

    @property
    def bits(self) -> int:
        return self.field_bits

    @property
    def public_len(self) -> int:
        return self.key_len

    def validate_public(self, data: bytes) -> None:
        """Refuse KE data of the wrong length, or a point of low order: one whose g^ir would be all zero
        (RFC 8031 3.2, RFC 7748 6.1; :meth:`MontgomeryPrivateKey.exchange` refuses that value itself)."""
        data = _ke_bytes(data, self.name)
        if len(data) != self.key_len:
            raise InvalidPublicValueError(f"KE data is {len(data)} bytes, expected {self.key_len}", group=self.name)
        p, mask, low_order = _LOW_ORDER_U[self.key_len]
        if (int.from_bytes(data, "little") & mask) % p in low_order:
            raise InvalidPublicValueError("a point of low order: the shared secret would be all zero"
                                          " (RFC 8031 3.2)", group=self.name)

    def from_private_value(self, value: bytes | int) -> MontgomeryPrivateKey:
        """A key from its ``key_len`` bytes, or from an int encoded little-endian (RFC 7748 5)."""
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value < 1 << (8 * self.key_len):
                raise ConfigError(f"{self.name}: private value does not fit in {self.key_len} bytes",
                                  field="private", value=value)
            value = value.to_bytes(self.key_len, "little")
        if value.__class__ is not bytes:
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise ConfigError(f"{self.name}: private value must be {self.key_len} bytes or an int, not"
                                  f" {type(value).__name__}", field="private", value=value)
            value = bytes(value)
        if len(value) != self.key_len:
            raise ConfigError(f"{self.name}: private value must be {self.key_len} bytes, not {len(value)}",
                              field="private", value=value)
        private_cls, _ = _MONTGOMERY_CLASSES[self.key_len]
        return MontgomeryPrivateKey(self, value, private_cls.from_private_bytes(value))

    def generate(self, rng: RandomSource | None = None) -> MontgomeryPrivateKey:
        rng = default_random() if rng is None else rng
        try:
            value = rng.random_bytes(self.key_len)
        except AttributeError:  # checked only when it fails: a key is drawn per exchange
            check_random_source(rng)
            raise
        return self.from_private_value(value)


@dataclass(frozen=True, repr=False)
class MontgomeryPrivateKey(DhPrivateKey):
    """An X25519/X448 private key (the bytes before clamping, RFC 7748 section 5)."""

    group: MontgomeryGroup
    private: bytes
    key: Any = field(compare=False)

    @property
    def private_value(self) -> bytes:
        return self.private

    def public_bytes(self) -> bytes:
        return self.key.public_key().public_bytes_raw()

    def exchange(self, peer_public: bytes) -> bytes:
        group = self.group
        if type(peer_public) is not bytes or len(peer_public) != group.key_len:
            group.validate_public(peer_public)  # refuses with the reason
        _, public_cls = _MONTGOMERY_CLASSES[group.key_len]
        zero = "all-zero shared secret: the peer sent a low-order point (RFC 8031 3.2)"
        try:
            secret = self.key.exchange(public_cls.from_public_bytes(bytes(peer_public)))
        except ValueError:  # OpenSSL refuses to return the all-zero value
            raise InvalidPublicValueError(zero, group=group.name) from None
        if not any(secret):  # all zero (RFC 7748 6.1, RFC 8031 3.2)
            raise InvalidPublicValueError(zero, group=group.name)
        return secret


__all__ = ["EcpGroup", "EcpPrivateKey", "MontgomeryGroup", "MontgomeryPrivateKey"]
