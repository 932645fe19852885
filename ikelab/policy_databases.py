"""The IPsec databases of RFC 4301 4.4: the SPD (4.4.1) and the SAD (4.4.2).

* The **SPD** is an ordered list of :class:`Policy` entries; the first whose
  selectors match a packet decides (4.4.1: "the SPD is an ordered database"),
  and its :class:`Action` is PROTECT, BYPASS or DISCARD, for inbound,
  outbound or both directions.
* The **SAD** finds inbound SAs by ``(protocol, SPI)`` (4.4.2: "the SPI ...
  to uniquely identify an SA") and outbound SAs by the SPD entry that needs
  them.
* An :class:`InstalledChildSa` is a CHILD SA as the two databases hold it.

The packet processing that consults them (RFC 4301 5) is
:class:`ikelab.policy.IpsecProcessor`; ``ikelab.policy`` re-exports everything here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from . import packet as ip
from .errors import ConfigError
from .enums import NameEnum
from .ipsec_sa import Direction, Mode, parse_enum
from .policy_selectors import Selector, _direction, packet_view


class Action(NameEnum):
    """RFC 4301 4.4.1: what the SPD does with a packet."""

    PROTECT = "PROTECT"
    BYPASS = "BYPASS"
    DISCARD = "DISCARD"


@dataclass(frozen=True)
class Policy:
    """One SPD entry: selectors (any of which may match), an action, and the directions it governs.

    For PROTECT, ``protocol`` (50 ESP or 51 AH) and ``mode`` say what the SA
    must be; IKE reads them when it negotiates one.
    """

    name: str
    selectors: tuple[Selector, ...]
    action: Action
    applies_to: str = "both"
    protocol: int = ip.PROTO_ESP
    mode: Mode = Mode.TUNNEL

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ConfigError(f"a policy's name is text, not {self.name!r}", field="name", value=self.name)
        if isinstance(self.applies_to, Direction):  # Direction.INBOUND is "inbound"; keep the plain text
            object.__setattr__(self, "applies_to", self.applies_to.value)
        if self.applies_to not in ("both", "inbound", "outbound"):
            raise ConfigError(f"applies_to must be both, inbound or outbound, got {self.applies_to!r}",
                              field="applies_to", value=self.applies_to)
        selectors = (self.selectors,) if isinstance(self.selectors, Selector) else self.selectors
        if isinstance(selectors, list):
            selectors = tuple(selectors)
        if not isinstance(selectors, tuple) or not all(isinstance(s, Selector) for s in selectors):
            raise ConfigError(f"policy {self.name!r}: selectors are Selector objects (Selector.of(...)), not "
                              f"{self.selectors!r}", field="selectors", value=self.selectors)
        if not selectors:
            raise ConfigError(f"policy {self.name!r} has no selectors", field="selectors", value=())
        object.__setattr__(self, "selectors", selectors)
        action = self.action
        try:
            object.__setattr__(self, "action", Action(action.upper() if isinstance(action, str) else action))
        except ValueError:
            raise ConfigError(f"action must be one of {', '.join(a.value for a in Action)}, got {action!r}",
                              field="action", value=action) from None
        if not isinstance(self.protocol, int) or isinstance(self.protocol, bool) or \
                self.protocol not in (ip.PROTO_ESP, ip.PROTO_AH):
            raise ConfigError(f"protocol must be {ip.PROTO_ESP} (ESP) or {ip.PROTO_AH} (AH), got {self.protocol!r}",
                              field="protocol", value=self.protocol)
        object.__setattr__(self, "mode", parse_enum(Mode, self.mode, "mode"))

    def covers(self, direction: Direction) -> bool:
        return self.applies_to in ("both", _direction(direction).value)

    def match(self, direction: Direction, sel: ip.Selectors) -> Selector | None:
        """The first of this policy's selectors that matches the packet in ``direction``, else None."""
        direction = _direction(direction)
        if not self.covers(direction):
            return None
        view = packet_view(direction, sel)
        return next((s for s in self.selectors if s.matches(*view)), None)

    @property
    def is_catch_all(self) -> bool:
        return any(s.is_catch_all for s in self.selectors)

    def __str__(self) -> str:
        sels = "; ".join(str(s) for s in self.selectors)
        return f"{self.name}: {self.action.value} ({self.applies_to}) {sels}"


class Spd:
    """The Security Policy Database: an ordered list of :class:`Policy` (RFC 4301 4.4.1)."""

    def __init__(self, policies: Iterable[Policy] = ()) -> None:
        self._policies: list[Policy] = []
        if isinstance(policies, Policy) or not hasattr(policies, "__iter__"):
            hint = "; wrap a single policy in a list" if isinstance(policies, Policy) else ""
            raise ConfigError(f"Spd: policies must be a list of Policy objects, not {type(policies).__name__}{hint}",
                              field="policies", value=policies)
        for p in policies:
            self.add(p)

    def add(self, policy: Policy, position: int | None = None) -> Policy:
        """Insert ``policy`` at ``position`` (default: the end).  Names are unique."""
        if not isinstance(policy, Policy):
            raise ConfigError("the SPD holds Policy objects", field="policy", value=type(policy).__name__)
        if any(p.name == policy.name for p in self._policies):
            raise ConfigError(f"a policy named {policy.name!r} is already in the SPD", field="name", value=policy.name)
        n = len(self._policies)
        if position is not None and (isinstance(position, bool) or not isinstance(position, int)
                                     or not 0 <= position <= n):
            # RFC 4301 4.4.1: the order decides, so a place that does not exist is not quietly moved to the end
            raise ConfigError(f"position must be an index 0..{n} of the SPD, not {position!r}", field="position",
                              value=position)
        self._policies.insert(n if position is None else position, policy)
        return policy

    def remove(self, name: str) -> Policy:
        """Remove and return the policy called ``name``."""
        for i, p in enumerate(self._policies):
            if p.name == name:
                return self._policies.pop(i)
        raise ConfigError(f"no policy named {name!r} in the SPD", field="name", value=name)

    def get(self, name: str) -> Policy | None:
        return next((p for p in self._policies if p.name == name), None)

    def lookup(self, direction: Direction, sel: ip.Selectors) -> tuple[Policy, Selector] | None:
        """The first policy (in order) matching the packet in ``direction``, with the selector that matched."""
        direction = _direction(direction)
        for p in self._policies:
            s = p.match(direction, sel)
            if s is not None:
                return p, s
        return None

    def default_position(self) -> int:
        """Where IKE-installed policies go: before the trailing catch-all policies."""
        i = len(self._policies)
        while i > 0 and self._policies[i - 1].is_catch_all:
            i -= 1
        return i

    def __iter__(self) -> Iterator[Policy]:
        return iter(list(self._policies))

    def __len__(self) -> int:
        return len(self._policies)

    def __str__(self) -> str:
        return "\n".join(f"{i}. {p}" for i, p in enumerate(self._policies, 1)) or "(empty SPD)"


class Sad:
    """The Security Association Database (RFC 4301 4.4.2): inbound by (protocol, SPI), outbound by policy."""

    def __init__(self) -> None:
        self._inbound: dict[tuple[int, int], tuple[Any, str]] = {}
        self._outbound: dict[str, Any] = {}

    def add_inbound(self, sa: Any, policy_name: str) -> None:
        key = (sa.protocol, sa.spi)
        if key in self._inbound:
            raise ConfigError(f"an inbound SA with SPI 0x{sa.spi:08x} is already installed", field="spi", value=sa.spi)
        self._inbound[key] = (sa, policy_name)

    def remove_inbound(self, sa: Any) -> None:
        self._inbound.pop((sa.protocol, sa.spi), None)

    def set_outbound(self, policy_name: str, sa: Any) -> None:
        self._outbound[policy_name] = sa

    def remove_outbound(self, policy_name: str) -> None:
        self._outbound.pop(policy_name, None)

    def lookup_inbound(self, spi: int, protocol: int = ip.PROTO_ESP) -> tuple[Any, str] | None:
        """``(sa, policy name)`` for an inbound SPI, or None."""
        return self._inbound.get((protocol, spi))

    def lookup_outbound(self, policy_name: str) -> Any | None:
        return self._outbound.get(policy_name)

    def inbound_sas(self) -> list[Any]:
        return [sa for sa, _ in self._inbound.values()]

    def __str__(self) -> str:
        rows = [f"in  {'ESP' if p == 50 else 'AH'} 0x{spi:08x} -> policy {name!r}"
                for (p, spi), (_, name) in self._inbound.items()]
        rows += [f"out policy {name!r} -> {sa.protocol_name} 0x{sa.spi:08x}" for name, sa in self._outbound.items()]
        return "\n".join(rows) or "(empty SAD)"


@dataclass
class InstalledChildSa:
    """A CHILD SA as the databases hold it: its policy and its two SAs."""

    name: str
    policy: Policy
    inbound: Any
    outbound: Any
    removed: bool = field(default=False, compare=False)

    def __str__(self) -> str:
        return f"{self.name}: in 0x{self.inbound.spi:08x}, out 0x{self.outbound.spi:08x}, policy {self.policy.name!r}"
