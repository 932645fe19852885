"""Traffic selector negotiation as the engine runs it in every exchange (RFC 7296 2.9).

* :func:`narrow_cached`: the responder's narrowing, :func:`ikelab.ts.narrow`;
* :func:`check_narrowed`: the initiator's check that the responder only narrowed;
* :func:`substitute_address`: transport mode across a NAT (RFC 7296 2.23.1), where each side puts the
  address it sees for a host in place of the one that host wrote in its selectors;
* :func:`move_address`: the same selectors when that observed address changes (a NAT rebinding, 2.23).

The first two are pure functions of immutable selectors, and a connection offers the
same selectors to the same policy in every exchange, so their answers are
remembered: first by the identity of the tuples (:mod:`ikelab.memo`, no
hashing), then by value (``lru_cache``, which hashes every selector).  A
refusal is an exception and is never remembered.  ``tests/test_proposals.py``
compares both with the uncached functions.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

from .errors import ConfigError, NegotiationError
from .memo import ByIdentities
from .ts_payload import TrafficSelector
from .ts import host_address, narrow, ts_contains, ts_to_string


def check_narrowed(answer: tuple[Any, ...], offered: tuple[Any, ...], which: str) -> None:
    """RFC 7296 2.9: the responder may only narrow: each selector it answers lies inside one we offered."""
    if not answer:
        raise NegotiationError(f"the responder's {which} is empty", notify_type="TS_UNACCEPTABLE")
    # the same answer to the same offer, every exchange: found by the tuples' identity (ikelab.memo),
    # else by their value (lru_cache, which hashes every selector)
    found = _WIDER.get((answer, offered))
    if found is None:
        try:
            wider = _wider_than_offered(answer, offered)
        except TypeError:  # selectors given as lists: not hashable, so not cached
            try:
                wider = _wider_than_offered.__wrapped__(answer, offered)
            except (TypeError, AttributeError):
                raise _not_selectors(answer, offered) from None
        except AttributeError:  # checked only when it fails: every CHILD SA's answer comes here
            raise _not_selectors(answer, offered) from None
        found = _WIDER.put((answer, offered), (wider,))
    (wider,) = found
    if wider is not None:
        raise NegotiationError(f"the responder's {which} {ts_to_string(wider)} is wider than what we offered "
                               f"({', '.join(ts_to_string(o) for o in offered)})", notify_type="TS_UNACCEPTABLE")


def _not_selectors(answer: Any, offered: Any) -> ConfigError:
    """The error for check_narrowed given ``answer`` or ``offered`` that is not a sequence of traffic selectors."""
    for name, value in (("answer", answer), ("offered", offered)):
        try:
            ok = not isinstance(value, (str, bytes, bytearray)) and all(hasattr(t, "ts_type") for t in value)
        except TypeError:
            ok = False
        if not ok:
            return ConfigError(f"{name} must be a tuple of TrafficSelector, not {type(value).__name__}", field=name,
                               value=value)
    return ConfigError("answer and offered must be tuples of TrafficSelector", field="answer", value=answer)


#: (answered selectors, offered selectors) -> (the first answered selector wider than offered, or None,).
_WIDER: ByIdentities[tuple[Any]] = ByIdentities()


@lru_cache(maxsize=256)
def _wider_than_offered(answer: tuple[Any, ...], offered: tuple[Any, ...]) -> Any:
    """The first answered selector inside no offered one, or None (a pure function of immutable selectors)."""
    for ts in answer:
        if not any(int(o.ts_type) == int(ts.ts_type) and ts_contains(o, ts) for o in offered):
            return ts
    return None


def narrow_cached(tsi: tuple[Any, ...], tsr: tuple[Any, ...], policy_tsi: tuple[Any, ...],
            policy_tsr: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The responder's narrowing (RFC 7296 2.9), :func:`ikelab.ts.narrow`, remembered.

    The decoded TS payloads are remembered by their octets and the policy is the configured one,
    so the same tuples come back in every exchange.
    """
    objs = (tsi, tsr, policy_tsi, policy_tsr)
    narrowed = _NARROWED.get(objs)
    if narrowed is None:
        try:
            narrowed = _narrow_cached(tsi, tsr, policy_tsi, policy_tsr)
        except TypeError:  # a policy given as a list: not hashable, so not cached
            narrowed = narrow(tsi, tsr, policy_tsi, policy_tsr)
        narrowed = _NARROWED.put(objs, narrowed)
    return narrowed


#: (TSi, TSr offered, the policy's TSi, TSr) -> the narrowed (TSi, TSr).
_NARROWED: ByIdentities[tuple[tuple[Any, ...], tuple[Any, ...]]] = ByIdentities()
# behind it, by value: lru_cache hashes every selector
_narrow_cached = lru_cache(maxsize=256)(narrow)


def substitute_address(selectors: tuple[Any, ...], address: str) -> tuple[Any, ...]:
    """``selectors`` with every single-host selector of ``address``'s family made that host (RFC 7296 2.23.1).

    Transport mode across a NAT: the host writes its own (perhaps private) address, "IP1-IP1", and the peer
    puts the address of the IKE SA in its place, the one it sees, never one the host asserts (a NAT must not
    let a host claim someone else's traffic).  IP protocols and ports stay; selectors made equal are kept
    once.  A range wider than one host, or of the other family, is no host address and stays as it is: the
    policy narrows it, and transport mode, which carries only the IKE SA's hosts, is then refused for it
    (strongSwan's get_transport_nat_ts drops such selectors instead).  Nothing to change: the same tuple,
    which keeps the caches warm.
    """
    try:
        host = host_address(address)
    except (ValueError, TypeError):
        raise ConfigError(f"substitute_address needs an IP address, not {address!r}", field="address",
                          value=address) from None
    return _rehosted(selectors, host, lambda start: start.version == host.version)


def move_address(selectors: tuple[Any, ...], old: str, new: str) -> tuple[Any, ...]:
    """``selectors`` with each single-host selector of ``old`` made ``new`` (RFC 7296 2.23, 2.23.1).

    The peer behind a NAT moved (a rebinding): the selectors substituted with the address we saw for it follow it
    to the address we see now.  Only a selector that is exactly the host ``old`` changes, into exactly the host
    ``new``; a range, another host or the other family stays, so a selector never widens.  Nothing to change:
    the same tuple.
    """
    try:
        before, after = host_address(old), host_address(new)
    except (ValueError, TypeError):
        raise ConfigError(f"move_address needs two IP addresses, not {old!r} and {new!r}", field="address",
                          value=(old, new)) from None
    if before.version != after.version:  # the other family: no selector names the new host
        return selectors
    return _rehosted(selectors, after, lambda start: start == before)


def _rehosted(selectors: tuple[Any, ...], host: Any, replaces: Callable[[Any], bool]) -> tuple[Any, ...]:
    """``selectors`` with each single-host selector whose address ``replaces`` picks made the host ``host``,
    ports and protocol kept, and selectors made equal kept once; the same tuple when nothing changes."""
    out: list[Any] = []
    changed = False
    for ts in selectors:
        start = getattr(ts, "start_addr", None)
        if start is None:
            raise _not_selectors(selectors, ())
        if start == ts.end_addr and start != host and replaces(start):
            ts = TrafficSelector(ts.ts_type, ts.ip_protocol, ts.start_port, ts.end_port, host, host)
            changed = True
        if ts not in out:
            out.append(ts)
    return tuple(out) if changed else selectors


__all__ = ["check_narrowed", "move_address", "narrow_cached", "substitute_address"]
