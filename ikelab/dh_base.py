"""The Diffie-Hellman interface every kind of group offers (RFC 7296 sections 2.12, 3.4).

:class:`DhGroup` (a group: its sizes, strength, key generation and the check of
a peer's public value) and :class:`DhPrivateKey` (one side's private value,
its public value for the KE payload, and the exchange that yields g^ir).
:mod:`ikelab.dh` implements them for MODP and toy groups and keeps the
registry; :mod:`ikelab.dh_ec` for the elliptic curves.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from .constants import DhId
from .errors import InvalidPublicValueError
from .rand import RandomSource


def _ke_bytes(data: Any, group_name: str) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise InvalidPublicValueError(f"KE data must be bytes, not {type(data).__name__}", group=group_name)


@dataclass(frozen=True)
class GroupInfo:
    """One row of the table of groups (:func:`ikelab.dh.groups`)."""

    id: int | None
    name: str
    kind: str  # "MODP", "ECP", "Montgomery" or "toy"
    bits: int  # size of the modulus or field
    public_len: int  # bytes of KE payload data
    strength: int  # estimated security strength in bits
    weak: bool
    rfc: str


class DhGroup(ABC):
    """A Diffie-Hellman group: what every kind of group offers."""

    id: DhId | None
    name: str
    kind: ClassVar[str]
    strength: int
    rfc: str
    weak_reason: str

    @property
    @abstractmethod
    def bits(self) -> int:
        """Size in bits of the modulus (MODP, toy) or of the field (ECP, Montgomery)."""

    @property
    @abstractmethod
    def public_len(self) -> int:
        """Bytes of Key Exchange Data in the KE payload (RFC 7296 3.4)."""

    @property
    def shared_len(self) -> int:
        """Bytes of the shared secret g^ir."""
        return self.public_len

    @property
    def weak(self) -> bool:
        """True for groups that need ``allow_weak`` (or are toys)."""
        return bool(self.weak_reason)

    @property
    def info(self) -> GroupInfo:
        """This group as a row of the :func:`ikelab.dh.groups` table."""
        return GroupInfo(
            None if self.id is None else int(self.id),
            self.name, self.kind, self.bits, self.public_len, self.strength, self.weak, self.rfc,
        )

    @abstractmethod
    def generate(self, rng: RandomSource | None = None) -> DhPrivateKey:
        """A fresh private key drawn from ``rng`` (default: the OS)."""

    @abstractmethod
    def from_private_value(self, value: Any) -> DhPrivateKey:
        """The private key with a fixed value (for lessons and RFC vectors)."""

    @abstractmethod
    def validate_public(self, data: bytes) -> None:
        """Raise InvalidPublicValueError unless ``data`` is acceptable KE data (RFC 6989)."""

    def __repr__(self) -> str:
        ident = "" if self.id is None else f", id={int(self.id)}"
        return f"{type(self).__name__}({self.name!r}{ident})"


class DhPrivateKey(ABC):
    """One side's private value, with its public value and the exchange."""

    group: DhGroup

    @property
    @abstractmethod
    def private_value(self) -> int | bytes:
        """The private value (x for MODP, d for ECP, the 32/56 bytes for X25519/X448)."""

    @abstractmethod
    def public_bytes(self) -> bytes:
        """The Key Exchange Data of this side's KE payload."""

    @abstractmethod
    def exchange(self, peer_public: bytes) -> bytes:
        """g^ir from the peer's KE data: validated, fixed length (RFC 7296 2.14)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(group={self.group.name!r}, public={self.public_bytes()[:8].hex()}...)"


__all__ = ["DhGroup", "DhPrivateKey", "GroupInfo"]
