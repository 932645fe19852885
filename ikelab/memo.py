"""Remembering values computed from immutable tuples, by the tuple's identity.

The engine builds the same things again in every exchange from the same objects: the configured
proposals, a proposal's transforms (``dataclasses.replace`` keeps the tuple when only the SPI
changes), the traffic selectors of a connection.  An ``lru_cache`` would hash such a tuple on
every call, which runs the Python-level ``__hash__`` of every frozen dataclass in it; looking the
tuple up by ``id()`` costs one dict lookup.  A table holds the tuple it remembers, so that its id
cannot pass to another object while the entry lives, and checks ``is`` on every hit.

In a handshake this matters more than a microbenchmark shows: the first run of a code path in a
handshake costs about three times its hot-loop time (see ``docs/performance.md``), and a lookup
replaces the whole path.
"""

from __future__ import annotations

from operator import is_
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class ByIdentity(Generic[V]):
    """A bounded table: (a tuple, extra hashable key parts) -> a value computed from them."""

    __slots__ = ("_entries", "_limit")

    def __init__(self, limit: int = 1024) -> None:
        self._entries: dict[tuple[Any, ...], tuple[tuple[Any, ...], V]] = {}
        self._limit = limit

    def get(self, obj: tuple[Any, ...], *key: Any) -> V | None:
        """The value remembered for this very tuple (and ``key``), or None."""
        entry = self._entries.get((id(obj), *key))
        return entry[1] if entry is not None and entry[0] is obj else None

    def put(self, obj: tuple[Any, ...], value: V, *key: Any) -> V:
        """Remember ``value`` for ``obj`` (only tuples: a list could change under us); returns it."""
        if obj.__class__ is tuple:
            if len(self._entries) >= self._limit:
                self._entries.clear()
            self._entries[(id(obj), *key)] = (obj, value)
        return value

    def __len__(self) -> int:
        return len(self._entries)


class ByIdentities(Generic[V]):
    """Like :class:`ByIdentity`, for a value computed from several tuples at once (a negotiation:
    the offered and the configured transforms, or selectors).  Each tuple is found by its ``id()``,
    and the table keeps them all, so that no id can pass to another object while the entry lives."""

    __slots__ = ("_entries", "_limit")

    def __init__(self, limit: int = 256) -> None:
        self._entries: dict[tuple[Any, ...], tuple[tuple[tuple[Any, ...], ...], V]] = {}
        self._limit = limit

    def get(self, objs: tuple[tuple[Any, ...], ...], *key: Any) -> V | None:
        """The value remembered for these very tuples, in this order (and ``key``), or None."""
        entry = self._entries.get((*map(id, objs), *key))
        return entry[1] if entry is not None and all(map(is_, entry[0], objs)) else None

    def put(self, objs: tuple[tuple[Any, ...], ...], value: V, *key: Any) -> V:
        """Remember ``value`` for ``objs`` when every one is a tuple (a list could change); returns it."""
        if all([obj.__class__ is tuple for obj in objs]):
            if len(self._entries) >= self._limit:
                self._entries.clear()
            self._entries[(*map(id, objs), *key)] = (objs, value)
        return value

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["ByIdentities", "ByIdentity"]
