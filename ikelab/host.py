"""An IPsec host: the IKE engine's CHILD SA events keep the SPD and SAD current.

RFC 4301 1.1 and 4.4: IKE negotiates, the SPD says what to protect, the SAD
holds the keys.  :class:`IpsecHost` is the glue a real host has between the
two: it listens to the IKE SA's events and

* on ``ChildSaCreated`` builds the inbound and outbound ESP (or AH) SAs from
  the negotiated transforms and KEYMAT (RFC 7296 2.17) and installs them with
  a PROTECT policy made from the narrowed traffic selectors (RFC 7296 2.9);
* on a rekey (``ChildSaCreated`` with ``rekey_of``) swaps the SAs under the
  same policy, so that no packet in flight is lost (RFC 7296 2.8): the old
  inbound SA stays until the old CHILD SA is deleted; outbound moves to the
  new SA at once on the peer that asked for the rekey, and on the peer that
  answered only when the old CHILD SA is deleted (its answer may not have
  arrived yet: the peer that asked holds the new SA once it deletes the old
  one), as ``esp_peer`` and strongSwan do.  A new CHILD SA with other
  selectors (or another protocol or mode) than the old one, which 2.9.2 only
  says it "SHOULD NOT" have, gets a policy of its own with its selectors,
  placed where the same rule puts its SAs; the old policy goes with the old
  CHILD SA;
* on ``ChildSaDeleted`` removes the SAs, and the policy with the last of them.

It is sans-IO like the rest: packets in, packets and decisions out.
"""

from __future__ import annotations

from typing import Any

from . import events as ev
from .ah import AhSa
from .errors import ConfigError
from .esp import EspSa
from .policy import Decision, InstalledChildSa, IpsecProcessor, Selector, selectors_from_ts
from .rand import RandomSource, default_random
from .ts import ts_from_string


def _selectors(texts: tuple[str, ...]) -> list[tuple[Any, Any, int, int, int]]:
    out = []
    for text in texts:
        ts = ts_from_string(text, negotiated=True)  # an event's text of what the peers agreed
        out.append((ts.start_addr, ts.end_addr, ts.ip_protocol, ts.start_port, ts.end_port))
    return out


def child_selectors(event: ev.ChildSaCreated) -> tuple[Selector, ...]:
    """The SPD selectors of the CHILD SA a ``ChildSaCreated`` event describes (RFC 4301 4.4.1)."""
    try:
        local, remote = event.ts_local, event.ts_remote
    except AttributeError:  # checked only when it fails: every CHILD SA comes here
        raise _not_child_event(event) from None
    return selectors_from_ts(_selectors(local), _selectors(remote))


def _same_policy(old: InstalledChildSa, event: ev.ChildSaCreated, outbound: EspSa | AhSa) -> bool:
    """Whether the policy of ``old`` describes the CHILD SA of ``event`` too: the same selectors, protocol and
    mode (RFC 7296 2.9.2: a rekey "SHOULD NOT" change them, so it may)."""
    policy = old.policy
    return (set(child_selectors(event)) == set(policy.selectors) and outbound.protocol == policy.protocol
            and outbound.mode is policy.mode)


def _not_child_event(event: Any) -> ConfigError:
    return ConfigError(f"event must be an ikelab.events.ChildSaCreated, not {type(event).__name__}", field="event",
                       value=event)


def sa_pair(event: ev.ChildSaCreated, *, rng: RandomSource | None = None,
            allow_weak: bool = False) -> tuple[EspSa | AhSa, EspSa | AhSa]:
    """The (inbound, outbound) SAs a ``ChildSaCreated`` event describes, keyed from its KEYMAT."""
    try:
        inbound_tunnel = (event.remote_addr, event.local_addr)
    except AttributeError:  # checked only when it fails: every CHILD SA comes here
        raise _not_child_event(event) from None
    outbound_tunnel = (event.local_addr, event.remote_addr)
    if event.protocol == "AH":
        if not event.integ:
            raise ConfigError("an AH CHILD SA needs an integrity transform", field="integ", value=None)
        common: dict[str, Any] = dict(integrity=event.integ, mode=event.mode, esn=event.esn, created=event.time,
                                      allow_weak=allow_weak)
        return (AhSa(event.spi_in, direction="inbound", integrity_key=event.integ_key_in, tunnel=inbound_tunnel,
                     **common),
                AhSa(event.spi_out, direction="outbound", integrity_key=event.integ_key_out, tunnel=outbound_tunnel,
                     **common))
    if event.protocol != "ESP":
        raise ConfigError(f"unknown CHILD SA protocol {event.protocol!r}", field="protocol", value=event.protocol)
    common = dict(encryption=event.encr, key_bits=event.encr_key_bits, integrity=event.integ, esn=event.esn,
                  mode=event.mode, created=event.time, allow_weak=allow_weak)
    udp = (event.local_port, event.remote_port) if event.udp_encap else None
    inbound = EspSa(event.spi_in, direction="inbound", encryption_key=event.encr_key_in,
                    integrity_key=event.integ_key_in, tunnel=inbound_tunnel, **common)
    outbound = EspSa(event.spi_out, direction="outbound", encryption_key=event.encr_key_out,
                     integrity_key=event.integ_key_out, tunnel=outbound_tunnel, udp_encap=udp,
                     rng=rng if rng is not None else default_random(), **common)
    return inbound, outbound


class IpsecHost:
    """An :class:`~ikelab.policy.IpsecProcessor` kept in step with one peer's IKE events.

    Feed it every event of its side (``host.handle_event(event)``, for example
    from ``lab.callbacks``), then send packets with :meth:`outbound` and
    receive them with :meth:`inbound`.  ``log`` records what was installed,
    swapped and removed, in words a lesson can print.
    """

    def __init__(self, processor: IpsecProcessor | None = None, *, rng: RandomSource | None = None,
                 allow_weak: bool = False) -> None:
        self.processor = processor if processor is not None else IpsecProcessor()
        self.rng = rng if rng is not None else default_random()
        self.allow_weak = allow_weak
        self.by_spi: dict[bytes, InstalledChildSa] = {}
        self.log: list[str] = []

    def handle_event(self, event: ev.Event) -> None:
        """Install, swap or remove SAs as RFC 7296 says the event requires; ignore other events."""
        if isinstance(event, ev.ChildSaCreated):
            inbound, outbound = sa_pair(event, rng=self.rng, allow_weak=self.allow_weak)
            old = self.by_spi.get(event.rekey_of) if event.rekey_of is not None else None
            if old is not None and not old.removed and not _same_policy(old, event, outbound):
                # RFC 7296 2.9.2: the new CHILD SA SHOULD NOT differ, but a peer may narrow it otherwise; its
                # own policy holds its own selectors (RFC 4301 5.2: inbound packets are checked against them),
                # beside the old one until the old CHILD SA goes: ahead of it on the peer that asked (outbound
                # moves at once), behind it on the peer that answered (2.8), as a same-selector rekey does
                at = list(self.processor.spd).index(old.policy) + (0 if event.exchange_initiator else 1)
                child = self.processor.install_child_sa(_selectors(event.ts_local), _selectors(event.ts_remote),
                                                        inbound_sa=inbound, outbound_sa=outbound, position=at)
                self.log.append(f"{event.time:.3f} rekeyed {old.policy.name} into other selectors, protocol or "
                                f"mode: installed {child.policy}: in 0x{event.spi_in.hex()}, out "
                                f"0x{event.spi_out.hex()} (old in 0x{event.rekey_of.hex()} and its policy kept until "
                                "deleted)")
            elif old is not None and not old.removed:
                child = self.processor.rekey_child_sa(old, inbound_sa=inbound, outbound_sa=outbound,
                                                      outbound_now=event.exchange_initiator,
                                                      redundant=event.redundant)  # 2.8.1: never sent on
                when = "" if event.exchange_initiator else " once the old CHILD SA is deleted"
                self.log.append(f"{event.time:.3f} rekeyed {old.policy.name}: in 0x{event.spi_in.hex()}, "
                                f"out 0x{event.spi_out.hex()}{when} (old in 0x{event.rekey_of.hex()} kept until "
                                "deleted)")
            else:
                child = self.processor.install_child_sa(_selectors(event.ts_local), _selectors(event.ts_remote),
                                                        inbound_sa=inbound, outbound_sa=outbound)
                self.log.append(f"{event.time:.3f} installed {child.policy}: in 0x{event.spi_in.hex()}, "
                                f"out 0x{event.spi_out.hex()}")
            self.by_spi[event.spi_in] = child
        elif isinstance(event, ev.ChildSaDeleted):
            child = self.by_spi.pop(event.spi_in, None)
            if child is not None and not child.removed:
                self.processor.remove_child_sa(child)
                self.log.append(f"{event.time:.3f} removed in 0x{event.spi_in.hex()}, out 0x{event.spi_out.hex()} "
                                f"({event.reason})")

    def outbound(self, packet: bytes, *, now: float | None = None) -> Decision:
        """RFC 4301 5.1 for one outgoing IP packet."""
        return self.processor.outbound(packet, now=now)

    def inbound(self, packet: bytes, *, now: float | None = None) -> Decision:
        """RFC 4301 5.2 for one incoming IP packet."""
        return self.processor.inbound(packet, now=now)
