"""The IPsec databases of RFC 4301 4.4 (SPD, SAD) and the packet processing of RFC 4301 5.

Theory of operation
-------------------
* The **SPD** is an ordered list of policies; the first whose selectors
  match a packet decides (4.4.1: "the SPD is an ordered database").  Each
  policy says PROTECT, BYPASS or DISCARD, for inbound, outbound or both
  directions.  Selectors (4.4.1.1) are address ranges, a protocol and port
  ranges; outbound the *local* side is the source, inbound it is the
  destination.  A packet without ports (ESP, a non-first fragment) is
  OPAQUE and matches only a full port range.  No match means DISCARD.
* The **SAD** finds inbound SAs by ``(protocol, SPI)`` (4.4.2: "the SPI ...
  to uniquely identify an SA") and outbound SAs by the SPD entry that needs
  them.
* **Outbound** (5.1): SPD lookup; DISCARD drops, BYPASS passes, PROTECT
  sends through the policy's SA -- or asks IKE for one ("acquire") if there
  is none yet.
* **Inbound** (5.2): ESP/AH go to the SAD by SPI (unknown SPI: a typed
  error), are decapsulated (replay, ICV, padding checks), and then the inner
  packet must match the selectors of the SA's policy ("discard if the packet
  ... does not match", step 4); a mismatch is :class:`~ikelab.errors.PolicyError`.
  Unprotected packets go to the SPD; one that a PROTECT policy covers is a
  PolicyError too.

Every decision comes back as a small :class:`Decision` record that says
which policy matched, which SA was used, and why.  CHILD SAs negotiated by
IKE are installed from their traffic selectors (RFC 7296 3.13.1) with
:meth:`IpsecProcessor.install_child_sa`; a rekey (RFC 7296 2.8) switches
the outbound SA at once (or, for the peer that answered it, once the old SA
is deleted) and keeps the old inbound SA until it is deleted, so packets
already in flight still decrypt.

The code lives in three modules, one idea each; this one re-exports every
name of the other two, so ``from ikelab.policy import Selector`` keeps working:

    policy_selectors.py   selectors (4.4.1.1): address and port ranges,
                          IKE traffic selectors turned into SPD selectors
    policy_databases.py   the SPD (4.4.1) and SAD (4.4.2), and the CHILD SAs they hold
    policy.py             the processing path (5.1, 5.2): :class:`IpsecProcessor`
                          and the :class:`Decision` it returns
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from . import packet as ip
from .errors import ConfigError, ParseError, PolicyError, UnknownSpiError
from .esp import classify_udp4500, parse_esp_header
from .ipsec_sa import Direction
from .policy_databases import Action, InstalledChildSa, Policy, Sad, Spd
from .policy_selectors import (  # noqa: F401 - re-exported: callers and tests use these names
    _PROTO_NAMES,
    ANY_PORT,
    AddressRange,
    PortRange,
    Selector,
    TrafficSelector,
    _Addr,
    _direction,
    packet_view,
    selectors_from_ts,
)

__all__ = [
    "Action",
    "AddressRange",
    "Decision",
    "InstalledChildSa",
    "IpsecProcessor",
    "Policy",
    "PortRange",
    "Sad",
    "Selector",
    "Spd",
    "TrafficSelector",
    "packet_view",
    "selectors_from_ts",
]


@dataclass(frozen=True)
class Decision:
    """What the processing did with one packet, and why (printable in a lesson)."""

    direction: Direction
    action: Action
    policy: Policy | None
    reason: str
    packet: bytes | None = None
    spi: int | None = None
    acquire: bool = False
    selectors: ip.Selectors | None = None

    def __str__(self) -> str:
        via = f" via SA 0x{self.spi:08x}" if self.spi is not None else ""
        by = f" by policy {self.policy.name!r}" if self.policy is not None else ""
        return f"{self.direction.value} {self.action.value}{by}{via}: {self.reason}"


def _check_sa_pair(caller: str, inbound_sa: Any, outbound_sa: Any) -> None:
    """ConfigError unless the two are an inbound and an outbound SA (RFC 4301 4.1: SAs are unidirectional)
    of one protocol and mode, as a CHILD SA's pair is."""
    for name, sa, want in (("inbound_sa", inbound_sa, Direction.INBOUND), ("outbound_sa", outbound_sa,
                                                                              Direction.OUTBOUND)):
        if getattr(sa, "direction", None) is not want:
            have = getattr(sa, "direction", None)
            what = f"an SA of direction {have.value}" if isinstance(have, Direction) else type(sa).__name__
            raise ConfigError(f"{caller} needs an inbound SA and an outbound SA: {name} is {what}, not an SA "
                              f"(EspSa, AhSa) of direction {want.value}", field=name, value=have)
    if inbound_sa.protocol != outbound_sa.protocol or inbound_sa.mode is not outbound_sa.mode:
        raise ConfigError("the two SAs of a CHILD SA must share protocol and mode", field="protocol",
                          value=(inbound_sa.protocol, outbound_sa.protocol))


#: What _ipsec_spi answers for a NAT-keepalive (not an SPI: SPIs are 32-bit unsigned)
_KEEPALIVE = -1


class IpsecProcessor:
    """The SPD and SAD together, with the packet processing of RFC 4301 section 5 (sans-IO)."""

    def __init__(self, spd: Spd | None = None, sad: Sad | None = None) -> None:
        self.spd = spd if spd is not None else Spd()
        self.sad = sad if sad is not None else Sad()
        self.children: list[InstalledChildSa] = []
        self.unknown_spi_errors = 0
        self._serial = 0

    # -- configuration -------------------------------------------------------------------------
    def bypass_ike(self, position: int = 0) -> Policy:
        """A BYPASS policy for IKE on UDP ports 500 and 4500, which must never be caught by IPsec itself."""
        sels = tuple(Selector(protocol=ip.PROTO_UDP, local_ports=PortRange(p, p)) for p in (500, 4500))
        return self.spd.add(Policy("bypass-ike", sels, Action.BYPASS), position)

    def install_child_sa(
        self,
        local_ts: Sequence[Any] | Any,
        remote_ts: Sequence[Any] | Any,
        *,
        inbound_sa: Any,
        outbound_sa: Any,
        name: str | None = None,
        position: int | None = None,
    ) -> InstalledChildSa:
        """Install a negotiated CHILD SA: a PROTECT policy from the traffic selectors and both SAs.

        ``local_ts``/``remote_ts`` are one or more ``(start_address,
        end_address, ip_protocol, start_port, end_port)`` tuples (RFC 7296
        3.13.1): the policy holds every compatible local x remote pair.  It
        goes before the SPD's trailing catch-all policies unless ``position``
        says otherwise.
        """
        _check_sa_pair("install_child_sa", inbound_sa, outbound_sa)
        sels = selectors_from_ts(local_ts, remote_ts)
        if not sels:
            raise ConfigError("no local/remote traffic selector pair can match a packet (families or protocols differ)", field="ts", value=None)
        self._serial += 1
        name = name or f"child-{self._serial}"
        policy = Policy(name, sels, Action.PROTECT, protocol=outbound_sa.protocol, mode=outbound_sa.mode)
        self.spd.add(policy, self.spd.default_position() if position is None else position)
        try:
            self.sad.add_inbound(inbound_sa, name)
        except ConfigError:
            self.spd.remove(name)
            raise
        self.sad.set_outbound(name, outbound_sa)
        child = InstalledChildSa(name, policy, inbound_sa, outbound_sa)
        self.children.append(child)
        return child

    def rekey_child_sa(self, old: InstalledChildSa, *, inbound_sa: Any, outbound_sa: Any,
                       outbound_now: bool = True, redundant: bool = False) -> InstalledChildSa:
        """Replace ``old`` by new SAs under the same policy (RFC 7296 2.8).

        Outbound traffic moves to the new SA at once, or, with ``outbound_now=False`` (the peer that answered the
        rekey: its answer may not have arrived yet), when :meth:`remove_child_sa` deletes ``old``.  The old
        inbound SA stays in the SAD, so packets the peer sent before it switched still decrypt, until then.
        ``redundant``: the new SA lost the nonce rule of crossing rekeys (2.8.1) and its maker deletes it at once:
        outbound traffic never moves to it, nor falls back to it when another CHILD SA of the policy goes.
        """
        if not isinstance(old, InstalledChildSa) or old.removed or old not in self.children:
            raise ConfigError(f"CHILD SA {getattr(old, 'name', old)} is not installed", field="child",
                              value=getattr(old, "name", old))
        _check_sa_pair("rekey_child_sa", inbound_sa, outbound_sa)
        policy = old.policy
        if outbound_sa.protocol != policy.protocol or outbound_sa.mode is not policy.mode:
            # RFC 7296 2.8: the new CHILD SA replaces the old one; it does not change what the policy asks for
            raise ConfigError(f"rekey_child_sa: policy {policy.name!r} asks for protocol {policy.protocol} in "
                              f"{policy.mode.value} mode, the new SAs are protocol {outbound_sa.protocol} in "
                              f"{outbound_sa.mode.value} mode", field="protocol", value=outbound_sa.protocol)
        self.sad.add_inbound(inbound_sa, old.policy.name)
        # the peer that answered sends on the SA the rekey replaces, which the peer that asked still holds, even
        # if it had moved on to another one (its own new SA of a collision, which it is about to delete, 2.8.1)
        self.sad.set_outbound(old.policy.name, outbound_sa if outbound_now and not redundant else old.outbound)
        self._serial += 1
        child = InstalledChildSa(f"{old.policy.name}~{self._serial}", old.policy, inbound_sa, outbound_sa)
        if redundant:  # remove_child_sa falls back to the newest left of the policy: never to this one, first
            self.children.insert(0, child)
        else:
            self.children.append(child)
        return child

    def remove_child_sa(self, child: InstalledChildSa) -> None:
        """Delete a CHILD SA (RFC 7296 1.4.1): its inbound SA, and its policy once no SA uses it.

        If its outbound SA was the one in use, outbound traffic falls back to the newest CHILD SA left
        under the same policy: the one a rekey had replaced, when the peer deletes the replacement.
        """
        if not isinstance(child, InstalledChildSa) or child.removed or child not in self.children:
            raise ConfigError(f"CHILD SA {getattr(child, 'name', child)} is not installed", field="child",
                              value=getattr(child, "name", child))
        self.children.remove(child)
        child.removed = True
        self.sad.remove_inbound(child.inbound)
        left = [c for c in self.children if c.policy is child.policy]
        if self.sad.lookup_outbound(child.policy.name) is child.outbound:
            self.sad.remove_outbound(child.policy.name)
            if left:
                self.sad.set_outbound(child.policy.name, left[-1].outbound)
        if not left:
            self.spd.remove(child.policy.name)
            self.sad.remove_outbound(child.policy.name)

    # -- RFC 4301 5.1 ---------------------------------------------------------------------------
    def outbound(self, packet: bytes, *, now: float | None = None) -> Decision:
        """Process one outgoing IP packet: the SPD decides, and PROTECT sends it through its SA."""
        out = Direction.OUTBOUND
        sel = ip.selectors(packet)
        hit = self.spd.lookup(out, sel)
        if hit is None:
            return Decision(out, Action.DISCARD, None, "no policy matched: discard (RFC 4301 5.1)", selectors=sel)
        policy, matched = hit
        if policy.action is Action.DISCARD:
            return Decision(out, Action.DISCARD, policy, f"matched {matched}", selectors=sel)
        if policy.action is Action.BYPASS:
            return Decision(out, Action.BYPASS, policy, f"matched {matched}", packet=bytes(packet), selectors=sel)
        sa = self.sad.lookup_outbound(policy.name)
        if sa is None:
            return Decision(out, Action.PROTECT, policy, "no SA yet: IKE must negotiate one (acquire)", acquire=True, selectors=sel)
        protected = sa.protect_packet(packet, now=now)
        return Decision(out, Action.PROTECT, policy, f"matched {matched}; {sa.protocol_name} seq {sa.seq}", packet=protected, spi=sa.spi, selectors=sel)

    # -- RFC 4301 5.2 ---------------------------------------------------------------------------
    def inbound(self, packet: bytes, *, now: float | None = None) -> Decision:
        """Process one incoming IP packet.

        IPsec packets: SAD by SPI, decapsulate, then check the inner packet
        against the SA's policy.  Others: the SPD decides.  Errors are typed:
        UnknownSpiError, ReplayError, IntegrityError, ParseError, PolicyError.
        """
        inn = Direction.INBOUND
        outer = ip.parse_ip(packet)
        spi = self._ipsec_spi(outer)
        if spi == _KEEPALIVE:  # RFC 3948 2.3: "The receiver SHOULD ignore a received NAT-keepalive packet"
            return Decision(inn, Action.DISCARD, None, "NAT-keepalive (RFC 3948 2.3): ignored", selectors=ip.selectors(outer))
        if spi is None:
            sel = ip.selectors(outer)
            hit = self.spd.lookup(inn, sel)
            if hit is None:
                return Decision(inn, Action.DISCARD, None, "no policy matched: discard (RFC 4301 5.2)", selectors=sel)
            policy, matched = hit
            if policy.action is Action.PROTECT:
                raise PolicyError(f"unprotected packet {sel.src} -> {sel.dst} matches PROTECT policy {policy.name!r}: discarded (RFC 4301 5.2)")
            data = bytes(packet) if policy.action is Action.BYPASS else None
            return Decision(inn, policy.action, policy, f"matched {matched}", packet=data, selectors=sel)
        found = self.sad.lookup_inbound(spi, outer.protocol if outer.protocol == ip.PROTO_AH else ip.PROTO_ESP)
        if found is None:
            self.unknown_spi_errors += 1
            raise UnknownSpiError(f"no inbound SA has SPI 0x{spi:08x} (RFC 4301 5.2: discard)", spi=spi)
        sa, policy_name = found
        inner = sa.unprotect_packet(packet, now=now)
        policy = self.spd.get(policy_name)
        if not inner:
            return Decision(inn, Action.DISCARD, policy, "dummy packet (next header 59, RFC 4303 2.6)", spi=spi)
        sel = ip.selectors(inner)
        if policy is None or policy.match(inn, sel) is None:
            raise PolicyError(
                f"packet {sel.src} -> {sel.dst} (protocol {sel.protocol}) arrived on SA 0x{spi:08x} but does not match "
                f"the selectors of policy {policy_name!r}: discarded (RFC 4301 5.2 step 4)"
            )
        return Decision(inn, Action.PROTECT, policy, f"{sa.protocol_name} seq {sa.seq} verified and inside the selectors", packet=inner, spi=spi, selectors=sel)

    @staticmethod
    def _ipsec_spi(outer: ip.IpPacket) -> int | None:
        if outer.protocol == ip.PROTO_ESP:
            return parse_esp_header(outer.payload)[0]
        if outer.protocol == ip.PROTO_AH:
            if len(outer.payload) < 8:
                raise ParseError("AH header truncated before its SPI", field="spi", offset=len(outer.header))
            return int.from_bytes(outer.payload[4:8], "big")
        if outer.protocol == ip.PROTO_UDP and not outer.is_fragment:
            udp = ip.parse_udp(outer)
            if udp.dport == 4500:  # to our NAT-T port; the source may be any port a NAT chose (RFC 3948)
                kind, data = classify_udp4500(udp.payload)
                if kind == "esp":
                    return parse_esp_header(data)[0]
                if kind == "keepalive":
                    return _KEEPALIVE
        return None
