"""Why IKE, and the IPsec architecture (lesson 01): manual keying costs, and the SPD/SAD paths of a packet.

RFC 4301 section 4.5 names two ways to manage SAs and keys: manual (a person
configures every system with keys and SA data; "practical in small, static
environments", 4.5.1) and automated (IKE, 4.5.2).  With manual keys a full
mesh of ``n`` gateways needs ``n (n - 1) / 2`` tunnels, each a pair of SAs
(one per direction, RFC 4301 4.1), each with its own keys.

RFC 4301 section 4.4: the SPD (ordered; PROTECT, BYPASS or DISCARD) decides
what happens to each packet, the SAD holds the SAs (inbound found by SPI);
section 5.1 is the outbound path, 5.2 the inbound one.
:func:`gateways_from_events` builds both gateways of a real IKE run with
:class:`ikelab.policy.IpsecProcessor` from the engine's ``ChildSaCreated``
events, and :func:`packet_path` sends one packet through them.

Data functions are pure and tested in ``tests/test_figures_arch.py``; the
drawing function imports matplotlib only when called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from . import events as ev
from . import packet as ip
from .errors import ConfigError, IkelabError
from .ts import ts_from_string

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["Gateways", "ManualKeyingCost", "PacketPath", "format_packet_path", "gateways_from_events",
           "make_packet", "manual_keying_cost", "manual_keying_figure", "packet_path"]

#: Packets a lesson can send: name -> (protocol, destination port); ICMP echo has no port.
PROTOCOLS: dict[str, tuple[int, int | None]] = {"icmp echo": (ip.PROTO_ICMP, None), "udp/53 (DNS)": (ip.PROTO_UDP, 53),
                                                "udp/500 (IKE)": (ip.PROTO_UDP, 500)}


@dataclass(frozen=True)
class ManualKeyingCost:
    """What ``n`` gateways in a full mesh must configure by hand (RFC 4301 4.5.1)."""

    gateways: int
    tunnels: int  # n (n - 1) / 2 gateway pairs
    sas: int  # two SAs per tunnel, one per direction
    secret_keys: int  # an encryption and an integrity key per SA
    key_bytes: int  # with the given key lengths
    per_gateway: int  # SAs each gateway holds: 2 (n - 1)
    ike_credentials: int  # with IKE and certificates: one per gateway, plus the CA


def manual_keying_cost(n: int, *, encr_key_len: int = 16, integ_key_len: int = 32) -> ManualKeyingCost:
    """The manual-keying bill for a full mesh of ``n`` gateways (AES-128 and HMAC-SHA2-256 key lengths by default)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ConfigError(f"a mesh needs at least 2 gateways, not {n!r}", field="n", value=n)
    tunnels = n * (n - 1) // 2
    sas = 2 * tunnels
    return ManualKeyingCost(n, tunnels, sas, 2 * sas, sas * (encr_key_len + integ_key_len), 2 * (n - 1), n + 1)


def manual_keying_figure(ns: Sequence[int] = tuple(range(2, 51))) -> "Figure":
    """SAs to configure by hand against credentials with IKE and certificates, for ``n`` gateways."""
    from . import figures as _figures

    costs = [manual_keying_cost(n) for n in ns]
    fig = _figures._new_figure(6.5, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([c.gateways for c in costs], [c.sas for c in costs], color=_figures._RED, lw=2,
            label="manual keys: SAs to configure, n (n - 1)")
    ax.plot([c.gateways for c in costs], [c.ike_credentials for c in costs], color=_figures._GREEN, lw=2,
            label="IKE with certificates: n + 1 credentials")
    ax.set_yscale("log")
    ax.set_xlabel("gateways in a full mesh (n)")
    ax.set_ylabel("items to configure")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(True, alpha=0.3)
    last = costs[-1]
    fig.ikelab_alt = (f"Figure: with {last.gateways} gateways, manual keying means {last.sas} SAs to configure "
                      f"by hand, IKE with certificates {last.ike_credentials} credentials")
    return fig


# --- the SPD, the SAD and a packet's path ------------------------------------------------------


@dataclass
class Gateways:
    """Both gateways of a lab run: their IPsec processors and the CHILD SA events they came from."""

    moon: Any  # ikelab.policy.IpsecProcessor
    sun: Any
    events: dict[str, Any]  # side -> ChildSaCreated


def _selector(text: str) -> tuple[Any, Any, int, int, int]:
    """A selector's text as events write it (``10.2.0.0/16[tcp/443]``, ``10.1.0.5-10.1.0.9``) -> the
    (first, last, protocol, first port, last port) an SPD entry takes: all three narrow (RFC 7296 3.13.1)."""
    ts = ts_from_string(text, negotiated=True)
    return ts.start_addr, ts.end_addr, ts.ip_protocol, ts.start_port, ts.end_port


def _processor(event: Any, name: str, *, rng: Any, dns_bypass: str | None) -> Any:
    from .esp import EspSa
    from .policy import Action, IpsecProcessor, Policy, Selector

    gw = IpsecProcessor()
    gw.bypass_ike()
    gw.spd.add(Policy("default-discard", (Selector(),), Action.DISCARD))
    common = dict(encryption=event.encr, key_bits=event.encr_key_bits, integrity=event.integ, esn=event.esn,
                  mode=event.mode)
    inbound = EspSa(event.spi_in, direction="inbound", encryption_key=event.encr_key_in,
                    integrity_key=event.integ_key_in, **common)
    outbound = EspSa(event.spi_out, direction="outbound", encryption_key=event.encr_key_out,
                     integrity_key=event.integ_key_out, tunnel=(event.local_addr, event.remote_addr), rng=rng,
                     **common)
    local = [_selector(t) for t in event.ts_local]
    remote = [_selector(t) for t in event.ts_remote]
    gw.install_child_sa(local, remote, inbound_sa=inbound, outbound_sa=outbound, name=name)
    if dns_bypass is not None:  # after the CHILD SA's policy: the SPD is ordered (RFC 4301 4.4.1)
        sel = Selector.of(local[0][:2], dns_bypass, ip.PROTO_UDP, remote_ports=53)  # its addresses only
        gw.spd.add(Policy("dns-bypass", (sel,), Action.BYPASS, applies_to="outbound"), len(gw.spd) - 1)
    return gw


def gateways_from_events(events: dict[str, Sequence[Any]], *, seed: int | str = "lesson01",
                         dns_bypass: str | None = "10.2.0.53") -> Gateways:
    """moon's and sun's SPD and SAD from the first CHILD SA each side's engine reported.

    Each SPD: ``bypass-ike`` (UDP 500/4500), the CHILD SA's PROTECT policy
    (from its traffic selectors), on moon an outbound ``dns-bypass`` to
    ``dns_bypass`` placed *after* it, and a final ``default-discard``.
    """
    from .rand import DeterministicRandom

    if not isinstance(events, Mapping):
        raise ConfigError(f"gateways_from_events() takes a scenario's events by side ({{'initiator': [...], "
                          f"'responder': [...]}}, as scenario.classic().events), not {type(events).__name__}",
                          field="events", value=events)
    rng = DeterministicRandom(seed)
    child = {}
    for side in ("initiator", "responder"):
        found = [e for e in events.get(side, ()) if isinstance(e, ev.ChildSaCreated)]
        if not found:
            raise ConfigError(f"no ChildSaCreated event for the {side}", field="events", value=side)
        child[side] = found[0]
    moon = _processor(child["initiator"], "moon-sun", rng=rng.fork("moon"), dns_bypass=dns_bypass)
    sun = _processor(child["responder"], "sun-moon", rng=rng.fork("sun"), dns_bypass=None)
    return Gateways(moon, sun, child)


def make_packet(src: str, dst: str, protocol: str) -> bytes:
    """An IP packet from ``src`` to ``dst``: an ICMP echo request, or UDP/TCP to the port of ``protocol``."""
    if not isinstance(protocol, str) or protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}", field="protocol",
                          value=protocol)
    number, port = PROTOCOLS[protocol]
    if number == ip.PROTO_ICMP:
        return ip.icmp_echo(src, dst, 0x1D1B, 1, b"lesson 01")
    return ip.ip_udp(src, dst, 500 if port == 500 else 40000, port or 0, b"lesson 01")


@dataclass(frozen=True)
class PacketPath:
    """One packet from moon's side to sun's: moon's outbound decision, the wire, sun's inbound decision."""

    packet: bytes
    outbound: Any  # ikelab.policy.Decision
    wire: bytes | None  # what leaves moon (ESP packet, the packet itself, or None)
    inbound: Any | None  # sun's Decision, when something reached sun
    inbound_error: str | None  # sun's typed error, when it refused the packet
    delivered: bytes | None  # the inner packet sun hands on


def packet_path(gws: Gateways, packet: bytes, *, now: float = 0.0) -> PacketPath:
    """Send ``packet`` through moon's outbound processing (RFC 4301 5.1) and sun's inbound one (5.2)."""
    out = gws.moon.outbound(packet, now=now)
    wire = out.packet if out.action.value in ("PROTECT", "BYPASS") else None
    inbound, error, delivered = None, None, None
    if wire is not None:
        try:
            inbound = gws.sun.inbound(wire, now=now)
            delivered = inbound.packet
        except IkelabError as exc:
            error = f"{type(exc).__name__}: {exc}"
    return PacketPath(bytes(packet), out, wire, inbound, error, delivered)


def _describe(data: bytes) -> str:
    sel = ip.selectors(data)
    names = {1: "ICMP", 6: "TCP", 17: "UDP", 50: "ESP"}
    port = f" port {sel.dport}" if sel.dport is not None and sel.protocol != 1 else ""
    return f"{sel.src} -> {sel.dst} {names.get(sel.protocol, sel.protocol)}{port}, {len(data)} bytes"


def format_packet_path(path: PacketPath) -> str:
    """The path of one packet as text: each step with the policy and SA that decided it."""
    lines = [f"packet       {_describe(path.packet)}",
             f"moon (out)   {path.outbound}"]
    if path.wire is None:
        lines.append("wire         nothing: the packet was dropped at moon")
        return "\n".join(lines)
    lines.append(f"wire         {_describe(path.wire)}")
    if path.inbound_error is not None:
        lines.append(f"sun (in)     refused: {path.inbound_error}")
    else:
        lines.append(f"sun (in)     {path.inbound}")
        if path.delivered is not None:
            same = "the original packet" if path.delivered == path.packet else "a different packet"
            lines.append(f"delivered    {_describe(path.delivered)} ({same})")
    return "\n".join(lines)
