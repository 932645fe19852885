"""Exercise checks of lesson 01: manual keying at scale, and the SPD's first-match rule (RFC 4301 4.4.1)."""

from __future__ import annotations

from typing import Any

from .exercises import Wrong, _show, _want_int, register

__all__: list[str] = []


@register("arch.manual-sas", "01-why-ike-and-ipsec-architecture", "SAs to configure by hand for a full mesh",
           "an int: the number of SAs",
           "Every pair of gateways needs a tunnel, and every tunnel is two SAs, one per direction "
           "(RFC 4301 4.1: an SA is simplex).")
def _arch_manual_sas(answer: Any, *, n: int) -> str:
    from . import figures_arch

    cost = figures_arch.manual_keying_cost(n)
    got = _want_int(answer, "the number of SAs")
    if got == cost.sas:
        return (f"{cost.sas} SAs ({cost.tunnels} tunnels x 2 directions), {cost.secret_keys} secret keys to "
                f"generate, distribute and later replace by hand; each gateway holds {cost.per_gateway}.")
    if got == cost.tunnels == cost.per_gateway:  # n = 4: 6 pairs, and 6 SAs at each gateway
        raise Wrong("two slips give that number here: it counts tunnels (gateway pairs), and an SA protects one "
                    "direction only; or it is the SAs one gateway holds, and every SA of the mesh counts, each once.")
    if got == cost.tunnels:
        raise Wrong("that counts tunnels (gateway pairs); an SA protects one direction only.")
    if got == cost.per_gateway:
        raise Wrong("that is the SAs one gateway holds; count every SA of the mesh, each once.")
    if (got == n * n or got == 2 * n * n) and got != 2 * cost.sas:  # n = 2: n * n is 2 n (n - 1) too, below
        raise Wrong("a gateway needs no SA with itself.")
    if got == 2 * cost.sas:  # 2 n (n - 1): the key count, and also ordered pairs taken for tunnels
        itself = " Or you gave each gateway an SA with itself: it needs none." if got == n * n else ""
        raise Wrong("twice too many: that counts keys (an encryption and an integrity key per SA), or counts "
                    "moon-sun and sun-moon as two tunnels; each unordered pair is one tunnel of two SAs." + itself)
    direction = "few" if got < cost.sas else "many"
    raise Wrong(f"too {direction}. Count the gateway pairs first, then the SAs per pair.")


@register("arch.spd-decision", "01-why-ike-and-ipsec-architecture", "What the SPD does with an outbound packet",
           "a str: PROTECT, BYPASS or DISCARD",
           "RFC 4301 4.4.1: the SPD is ordered; the FIRST policy whose selectors match decides.")
def _arch_spd_decision(answer: Any, *, spd: Any, packet: bytes) -> str:
    from . import packet as _ip
    from .ipsec_sa import Direction

    hit = spd.lookup(Direction.OUTBOUND, _ip.selectors(packet))
    expected = "DISCARD" if hit is None else hit[0].action.value
    text = getattr(answer, "value", answer)
    if not isinstance(text, str):
        raise Wrong(f"answer with a str (PROTECT, BYPASS or DISCARD), not {type(answer).__name__}.")
    text = text.strip().upper()
    if text not in ("PROTECT", "BYPASS", "DISCARD"):
        raise Wrong(f"the SPD's actions are PROTECT, BYPASS and DISCARD (RFC 4301 4.4.1), not {_show(answer)}.")
    if text == expected:
        by = f"policy {hit[0].name!r}" if hit is not None else "no policy (the default)"
        return f"{expected}, decided by {by}: the first match in the ordered SPD."
    later = [p for p in spd if p.match(Direction.OUTBOUND, _ip.selectors(packet)) is not None]
    if any(p.action.value == text for p in later[1:]):
        raise Wrong(f"a policy further down says {text}, but an earlier one matches first.")
    raise Wrong("not that. Walk the SPD from the top and stop at the first policy whose selectors match.")

# Lesson 10 (the Wireshark trace).
