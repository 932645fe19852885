"""Exercise check of lesson 06's traffic selectors: what the responder answers with (RFC 7296 2.9).

``ike.ts-narrowing``: given the initiator's TSi and TSr and the responder's
policy (strongSwan's ``local_ts`` and ``remote_ts``), the student writes the
TSi and TSr of the answer.  The expected value is :func:`ikelab.ts.narrow`,
the engine's own narrowing; an answer is right when it matches the same
packets, whatever selectors spell them (one /16 for two /17s).  Comparing
packets is :func:`_covered`: a selector is a box of three ranges (addresses,
IP protocol, ports, RFC 7296 3.13.1), and one set of boxes covers another when
every piece of the other, cut at all their bounds, lies in one of its boxes.
"""

from __future__ import annotations

import itertools
from typing import Any

from . import ts as _ts
from .errors import ConfigError, NegotiationError
from .exercises import Wrong, register

__all__: list[str] = []


def _selectors(value: Any) -> tuple[Any, ...]:
    """One strongSwan-syntax selector text, or a sequence of them (RFC 7296 3.13.1); TypeError or ConfigError."""
    return tuple(_ts.ts_from_string(t) for t in ((value,) if isinstance(value, str) else value))


def _given_selectors(name: str, value: Any) -> tuple[Any, ...]:
    """A given side of selectors, checked: a ConfigError names the input."""
    try:
        selectors = _selectors(value)
    except (TypeError, ConfigError) as exc:
        raise ConfigError(f"exercise ike.ts-narrowing: {name} must be traffic selector text such as "
                          f"'10.1.0.0/16' or a list of them ({exc})", field=name, value=value) from None
    if not selectors:
        raise ConfigError(f"exercise ike.ts-narrowing: {name} is empty", field=name, value=value)
    return selectors


def _answered_selectors(value: Any, side: str) -> frozenset[Any]:
    """A side of the student's answer: Wrong, with the parser's reason, for text that is no selector."""
    try:
        return frozenset(_selectors(value))
    except (TypeError, ConfigError) as exc:
        raise Wrong(f"{side} should be selector text such as '10.1.0.0/16' or '10.2.0.0/16[udp/53]', or a list "
                    f"of them: {exc}") from None


def _box(ts: Any) -> tuple[int, tuple[tuple[int, int], ...]]:
    """A selector as its IP version and three closed ranges: address, IP protocol (0: any, 0-255) and port, where
    -1 stands for OPAQUE, which only the any-port range (0-65535) also matches (RFC 7296 3.13.1)."""
    ports = (ts.start_port, ts.end_port)
    port = (-1, -1) if ports == (65535, 0) else (-1, 65535) if ports == (0, 65535) else ports
    proto = (0, 255) if ts.ip_protocol == 0 else (ts.ip_protocol, ts.ip_protocol)
    return ts.start_addr.version, ((int(ts.start_addr), int(ts.end_addr)), proto, port)


def _covered(inner: Any, outer: Any) -> bool:
    """Is every packet some selector of ``inner`` matches also matched by a selector of ``outer`` (RFC 7296 2.9,
    3.13.1)?  Each box of ``inner`` is cut at every bound of every box; each piece must lie in one of ``outer``."""
    boxes = [_box(t) for t in outer]
    for version, box in (_box(t) for t in inner):
        mine = [b for v, b in boxes if v == version]
        cuts = [{c for b in (*mine, box) for c in (b[d][0], b[d][1] + 1) if box[d][0] <= c <= box[d][1]}
                for d in range(3)]
        for point in itertools.product(*cuts):
            if not any(all(b[d][0] <= point[d] <= b[d][1] for d in range(3)) for b in mine):
                return False
    return True


def _texts(selectors: Any) -> str:
    return ", ".join(sorted(_ts.ts_to_string(t) for t in selectors))


@register("ike.ts-narrowing", "06-ike-auth", "The traffic selectors the responder answers with",
          "a pair (tsi, tsr), each selector text in strongSwan's syntax ('10.1.0.0/16', '10.2.0.0/16[tcp/443]') "
          "or a list of such texts",
          "RFC 7296 2.9: the responder answers with the part of the offer that its policy allows: a subset, never "
          "more. TSi is always the initiator's side and TSr the responder's, in the answer too. A selector is an "
          "address range, an IP protocol and a port range, and all three narrow.")
def _ts_narrowing(answer: Any, *, offered_tsi: Any, offered_tsr: Any, policy_local: Any, policy_remote: Any) -> str:
    """``policy_local``/``policy_remote``: the responder's own side and the initiator's, as its configuration
    names them (strongSwan's local_ts and remote_ts)."""
    off_i = _given_selectors("offered_tsi", offered_tsi)
    off_r = _given_selectors("offered_tsr", offered_tsr)
    local = _given_selectors("policy_local", policy_local)
    remote = _given_selectors("policy_remote", policy_remote)
    try:
        tsi, tsr = _ts.narrow(off_i, off_r, remote, local)
    except NegotiationError as exc:
        raise ConfigError(f"exercise ike.ts-narrowing: nothing of the offer is allowed ({exc})",
                          field="policy_local", value=policy_local) from None
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Wrong(f"the answer is a pair (tsi, tsr), not {type(answer).__name__}.")
    got = (_answered_selectors(answer[0], "TSi"), _answered_selectors(answer[1], "TSr"))
    expected = (frozenset(tsi), frozenset(tsr))
    # right: the same selectors, or others that match the same packets (one /16 for two /17s): 2.9 fixes the traffic
    if got == expected or all(_covered(g, e) and _covered(e, g) for g, e in zip(got, expected)):
        return f"TSi {_texts(tsi)}, TSr {_texts(tsr)}: what moon offered, narrowed to what sun's policy allows."
    wrong = {
        (frozenset(off_i), frozenset(off_r)): "that is the offer itself: sun may keep only what its policy allows.",
        expected[::-1]: "TSi and TSr are swapped: TSi is always the initiator's side (moon's), in sun's answer too.",
        (frozenset(remote), frozenset(local)): "that is sun's policy as configured, and part of it is more than "
                                               "moon offered: the responder narrows, it never widens (2.9).",
        (frozenset(local), frozenset(remote)): "that is sun's policy, from sun's own side: TSi is moon's side, and "
                                               "the answer may not hold more than the offer.",
    }
    if got in wrong:
        raise Wrong(wrong[got])

    for side, mine, offered in (("TSi", got[0], off_i), ("TSr", got[1], off_r)):
        wider = [t for t in mine if not _covered((t,), offered)]
        if wider:
            raise Wrong(f"{side} holds more than moon offered ({_texts(wider)}): the responder narrows, it never "
                        "widens (2.9).")

    def where(selectors: frozenset[Any]) -> set[tuple[Any, Any]]:
        return {(t.start_addr, t.end_addr) for t in selectors}

    if (where(got[0]), where(got[1])) == (where(expected[0]), where(expected[1])):
        raise Wrong("the addresses are right, but a selector also holds an IP protocol and ports: sun's policy "
                    "narrows those too.")
    side = "TSi" if got[0] != expected[0] else "TSr"
    raise Wrong(f"{side} is not right: take the part of moon's {side} that sun's policy for that side allows.")
