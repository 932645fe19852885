"""Algorithm negotiation: the responder's choice of proposal (RFC 7296 2.7, 3.3).

RFC 7296 2.7: "The responder MUST choose a single suite, which may be any
subset of the SA proposal following the rules below" -- ONE proposal, and
ONE transform of each type from it.  3.3.3 lists the mandatory transform types::

    Protocol    Mandatory Types          Optional Types
    IKE         ENCR, PRF, INTEG*, D-H
    ESP         ENCR, ESN                INTEG, D-H
    AH          INTEG, ESN               D-H
    (*) INTEG is optional if the ENCR transform is a combined-mode (AEAD) cipher

RFC 5282 8: an AEAD proposal carries no integrity transform (or only
INTEG NONE); an initiator that wants to offer both AEAD and classic ciphers
sends two proposals.  RFC 7296 3.3.6: a Transform ID the responder does not
know is ignored (the rest of the proposal may still match); a proposal with
a Transform *Type* it does not know, or missing a mandatory type, is
unacceptable.  A Key Length attribute must match exactly.

Preference: :func:`select` prefers the responder's *configured* order (the
first configured proposal that matches any offered one wins, and within it
the configured order of transforms), which is strongSwan's default
(``prefer_configured_proposals = yes``).  ``prefer="offered"`` walks the
initiator's order instead.  The chosen proposal keeps the offered Proposal
Num; its SPI is left empty for the caller to fill in (the responder's own SPI).

Proposals written as strongSwan text (``aes128-sha256-modp2048``) are read and
written by :mod:`ikelab.proposal_syntax`; traffic selectors (RFC 7296 2.9) live
in :mod:`ikelab.ts`.  Both modules' public names are re-exported here, so that
``proposals.parse_proposals`` and ``proposals.select`` sit side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from operator import attrgetter
from typing import Any, Sequence

from .constants import DhId, EncrId, EsnId, IntegId, PrfId, ProtocolId, TransformType, lookup
from .errors import ConfigError, NegotiationError
from .memo import ByIdentities, ByIdentity
from .payloads import Proposal, Transform
from .proposal_syntax import (  # noqa: F401 - re-exported: proposals.parse_proposals etc. (lesson 08)
    _ALLOWED, _ORDER, AEAD, KEYWORDS, _name, _not_a_proposal, _proposal_lists, check_proposal, is_aead, parse_proposal,
    parse_proposals, proposal_to_iana, proposal_to_string, refuse_weak_transforms,
)
from .ts import DYNAMIC, narrow, resolve_ts, ts_from_string, ts_intersection, ts_to_string  # noqa: F401

__all__ = [
    "Suite", "parse_proposal", "parse_proposals", "proposal_to_string", "proposal_to_iana", "refuse_weak_transforms",
    "check_proposal",
    "suite_of",
    "select", "check_chosen", "ke_group_for", "is_aead", "KEYWORDS", "REASONS_LISTED", "reason_text",
    "narrow", "ts_from_string", "ts_to_string", "ts_intersection", "resolve_ts", "DYNAMIC",
]


# --------------------------------------------------------------------------- suites


@dataclass(frozen=True)
class Suite:
    """The single transform of each type that a negotiated proposal holds."""

    encr: EncrId | None
    key_bits: int | None
    integ: IntegId | None
    prf: PrfId | None
    dh: DhId | None
    esn: bool = False
    protocol: ProtocolId = ProtocolId.IKE

    @property
    def is_aead(self) -> bool:
        """True when ``encr`` is a combined-mode cipher (no separate INTEG)."""
        return self.encr is not None and is_aead(self.encr)

    def __str__(self) -> str:
        return _suite_text(self)

    def to_proposal(self, number: int = 1, spi: bytes = b"") -> Proposal:
        """This suite as a one-transform-per-type Proposal."""
        ts: list[Transform] = []
        if self.encr is not None:
            ts.append(Transform(TransformType.ENCR, self.encr, self.key_bits))
        if self.prf is not None:
            ts.append(Transform(TransformType.PRF, self.prf))
        if self.integ is not None:
            ts.append(Transform(TransformType.INTEG, self.integ))
        if self.dh is not None:
            ts.append(Transform(TransformType.DH, self.dh))
        if self.protocol in (ProtocolId.ESP, ProtocolId.AH):
            ts.append(Transform(TransformType.ESN, EsnId.ESN if self.esn else EsnId.NO_ESN))
        return Proposal(number, self.protocol, spi, tuple(ts))


@lru_cache(maxsize=64)
def _suite_text(suite: Suite) -> str:
    return proposal_to_string(suite.to_proposal())


def suite_of(proposal: Proposal) -> Suite:
    """The :class:`Suite` of a proposal holding at most one transform of each type.

    More than one of a type -> :class:`NegotiationError` (that is an offer, not a choice).
    INTEG NONE and DH NONE read as ``None``.
    """
    # the same transforms tuple comes back in every exchange: found by identity before the lru_cache
    # below, whose key would call every Transform's Python-level __hash__ (ikelab.memo)
    try:
        transforms = proposal.transforms
    except AttributeError:
        raise _not_a_proposal(proposal, "proposal") from None
    suite = _SUITES.get(transforms, proposal.protocol)
    if suite is None:
        suite = _SUITES.put(transforms, _suite_of(proposal.protocol, tuple(transforms)), proposal.protocol)
    return suite


#: A transforms tuple (with the protocol) -> its Suite.
_SUITES: ByIdentity[Suite] = ByIdentity(256)


@lru_cache(maxsize=256)
def _suite_of(protocol: ProtocolId | int, transforms: tuple[Transform, ...]) -> Suite:
    # cached on what decides the suite (not the SPI or number): the same few suites come back every exchange
    proposal = Proposal(1, protocol, b"", transforms)
    one: dict[TransformType, Transform | None] = {}
    for ttype in _ORDER:
        ts = proposal.of_type(ttype)
        if len(ts) > 1:
            raise NegotiationError(f"proposal {proposal_to_iana(proposal)} has {len(ts)} {ttype.name} transforms; "
                                   "a chosen proposal has one of each type (RFC 7296 2.7)")
        one[ttype] = ts[0] if ts else None
    e, p, i, d, n = (one[t] for t in _ORDER)
    integ = i.id if i is not None and int(i.id) != IntegId.NONE else None
    dh = d.id if d is not None and int(d.id) != DhId.NONE else None
    proto = proposal.protocol if isinstance(proposal.protocol, ProtocolId) else ProtocolId.IKE
    return Suite(encr=e.id if e else None, key_bits=e.key_length if e else None, integ=integ,
                 prf=p.id if p else None, dh=dh, esn=bool(n is not None and int(n.id) == EsnId.ESN), protocol=proto)


# --------------------------------------------------------------------------- selection


def _known(t: Transform) -> bool:
    """A transform we can judge: an assigned ID and no attribute other than Key Length (RFC 7296 3.3.6)."""
    return isinstance(t.id, IntEnum) and not t.attributes


def _candidates(p: Proposal, ttype: TransformType) -> list[Transform]:
    """The known transforms of one type; absent optional types read as NONE (DH) / NO_ESN (ESN)."""
    of_type = p.of_type(ttype)
    if not of_type:
        if ttype == TransformType.DH and p.protocol != ProtocolId.IKE:
            return [_DH_NONE]
        if ttype == TransformType.ESN:
            return [_NO_ESN]
        if ttype == TransformType.INTEG:
            return [_INTEG_NONE]
    return [t for t in of_type if _known(t)]


_DH_NONE = Transform(TransformType.DH, DhId.NONE)
_NO_ESN = Transform(TransformType.ESN, EsnId.NO_ESN)
_INTEG_NONE = Transform(TransformType.INTEG, IntegId.NONE)


def _why_not(offered: Proposal, configured: Proposal, prefer: str,
             ke_group: DhId | None) -> tuple[Proposal | None, str]:
    """Match one offered proposal against one configured proposal: (chosen, "") or (None, reason)."""
    if offered.protocol != configured.protocol:
        return None, "protocol differs"
    proto = offered.protocol
    if proto not in _ALLOWED:
        return None, f"protocol {proto} is not negotiable"
    if any(t.type not in _ALLOWED[proto] for t in offered.transforms):
        return None, f"it has a transform type not allowed for {proto.name} (RFC 7296 3.3.6)"
    if proto != ProtocolId.IKE and not offered.of_type(TransformType.ESN):
        # 3.3.3 makes ESN mandatory for ESP and AH; 3.3.6: a proposal missing a mandatory type is unacceptable
        return None, f"it has no ESN transform, which {proto.name} must carry (RFC 7296 3.3.3, 3.3.6)"
    chosen: list[Transform] = []
    aead = False
    for ttype in _ORDER:
        if ttype not in _ALLOWED[proto]:
            continue
        off, conf = _candidates(offered, ttype), _candidates(configured, ttype)
        if ttype == TransformType.INTEG:
            if aead:
                if any(int(t.id) != IntegId.NONE for t in offered.of_type(ttype)):
                    return None, "an AEAD cipher is offered together with an integrity algorithm (RFC 5282 8)"
                continue
            off = [t for t in off if int(t.id) != IntegId.NONE]
            conf = [t for t in conf if int(t.id) != IntegId.NONE]
        if ttype == TransformType.DH and proto == ProtocolId.IKE:
            off = [t for t in off if int(t.id) != DhId.NONE]  # D-H is mandatory for IKE (RFC 7296 3.3.3)
        first, second = (conf, off) if prefer == "configured" else (off, conf)
        if ttype == TransformType.DH and ke_group is not None:
            # RFC 7296 1.2, 2.7: if the KE payload's group is acceptable, take it (no INVALID_KE_PAYLOAD).
            first = sorted(first, key=lambda t: int(t.id) != int(ke_group))
        pick = next((t for t in first if t in second), None)
        if pick is None:
            return None, f"no common {ttype.name} transform"
        if ttype == TransformType.ENCR:
            aead = is_aead(pick.id)
        if not (ttype == TransformType.DH and int(pick.id) == DhId.NONE):
            chosen.append(pick)
    return Proposal(offered.number, proto, b"", tuple(chosen)), ""


def select(offered: Sequence[Proposal], configured: Sequence[Proposal], *, prefer: str = "configured",
           ke_group: DhId | int | str | None = None) -> Proposal:
    """The responder's choice: ONE offered proposal reduced to ONE transform per type (RFC 7296 2.7).

    ``prefer="configured"`` (default, as strongSwan) walks the configured
    proposals in order and takes the first offered one that matches;
    ``prefer="offered"`` walks the initiator's order.  ``ke_group`` (the group
    of the received KE payload) is chosen when acceptable.  The result keeps
    the offered Proposal Num and has an empty SPI.  No match ->
    :class:`NegotiationError` with notify NO_PROPOSAL_CHOSEN.
    """
    if prefer not in ("configured", "offered"):
        raise ConfigError(f"prefer must be 'configured' or 'offered', not {prefer!r}", field="prefer", value=prefer)
    ke = lookup(DhId, ke_group, field="ke_group") if ke_group is not None else None
    try:
        objs, key = _identity_key(offered, configured)
    except (TypeError, AttributeError):
        _proposal_lists(offered=offered, configured=configured)
        raise
    chosen = _SELECTED.get(objs, *key, prefer, ke)
    if chosen is None:
        chosen = _SELECTED.put(objs, _select(_shapes(offered), _shapes(configured), prefer, ke), *key, prefer, ke)
    return chosen


def _shapes(proposals: Sequence[Proposal]) -> tuple[tuple[int, ProtocolId | int, tuple[Transform, ...]], ...]:
    """What negotiation looks at: number, protocol and transforms (never the SPI)."""
    return tuple([(p.number, p.protocol, tuple(p.transforms)) for p in proposals])


def _identity_key(offered: Sequence[Proposal],
                  configured: Sequence[Proposal]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The shapes of two proposal lists for a ByIdentities table: the transforms tuples, found by
    identity (decoded proposals are remembered by their octets, configured ones are the same objects
    in every exchange), and by value the numbers, protocols and where ``offered`` ends."""
    both = (*offered, *configured)
    return tuple(map(_TRANSFORMS, both)), (len(offered), *map(_NUMBER_PROTOCOL, both))  # map: no Python-level loop


_TRANSFORMS = attrgetter("transforms")
_NUMBER_PROTOCOL = attrgetter("number", "protocol")


#: (offered, configured) shapes, preference and KE group -> the chosen proposal.
_SELECTED: ByIdentities[Proposal] = ByIdentities()
#: (offered, chosen) shapes -> the chosen suite.
_CHECKED: ByIdentities[Suite] = ByIdentities()


def reason_text(number: int, configured: str, why: str) -> str:
    """One pair of a NO_PROPOSAL_CHOSEN explanation: ``#2 vs aes128-sha256-modp2048: no common DH transform``."""
    return f"#{number} vs {configured}: {why}"


#: How many (offered, configured) pairs a NO_PROPOSAL_CHOSEN error explains one by one.
REASONS_LISTED = 6


@lru_cache(maxsize=256)
def _select(offered_shapes: tuple[Any, ...], configured_shapes: tuple[Any, ...], prefer: str,
            ke: DhId | None) -> Proposal:
    # cached: most initiators offer the same few proposal sets, so a responder decides each once
    offered = [Proposal(n, proto, b"", ts) for n, proto, ts in offered_shapes]
    configured = [Proposal(n, proto, b"", ts) for n, proto, ts in configured_shapes]
    pairs = ([(o, c) for c in configured for o in offered] if prefer == "configured"
             else [(o, c) for o in offered for c in configured])
    misses: list[tuple[Proposal, Proposal, str]] = []
    for o, c in pairs:
        chosen, why = _why_not(o, c, prefer, ke)
        if chosen is not None:
            return chosen
        misses.append((o, c, why))
    pairs_why = tuple((o.number, proposal_to_string(c), why) for o, c, why in misses)
    reasons = [reason_text(*pair) for pair in pairs_why[:REASONS_LISTED]]
    if len(misses) > REASONS_LISTED:  # a long list of pairs would bury the offer and the configuration
        reasons.append(f"{len(misses) - REASONS_LISTED} more pairs not listed")
    offered_s = ", ".join(proposal_to_iana(p) for p in offered) or "(nothing)"
    configured_s = ", ".join(proposal_to_string(p) for p in configured) or "(nothing)"
    raise NegotiationError(f"no proposal chosen: offered {offered_s}; configured {configured_s}"
                           + (f" ({'; '.join(reasons)})" if reasons else ""), notify_type="NO_PROPOSAL_CHOSEN",
                           reasons=pairs_why)


def check_chosen(offered: Sequence[Proposal], chosen: Proposal | Sequence[Proposal]) -> Suite:
    """The initiator's check of the responder's answer (RFC 7296 2.7, 3.3.6).

    The answer must be exactly one proposal, with the number of one we offered,
    holding one transform of each mandatory type, each of which we offered in
    that proposal (same ID and Key Length).  Anything else -> NegotiationError.
    """
    if not isinstance(chosen, Proposal):
        _proposal_lists(chosen=chosen)
        chosen = tuple(chosen)
        if len(chosen) != 1:
            raise NegotiationError(f"the responder must choose exactly one proposal, it sent {len(chosen)}")
        chosen = chosen[0]
    try:
        objs, key = _identity_key(offered, (chosen,))
    except (TypeError, AttributeError):
        _proposal_lists(offered=offered)
        raise
    suite = _CHECKED.get(objs, *key)
    if suite is None:
        (shape,) = _shapes([chosen])
        suite = _CHECKED.put(objs, _check_chosen(_shapes(offered), shape), *key)
    return suite


@lru_cache(maxsize=256)
def _check_chosen(offered_shapes: tuple[Any, ...], chosen_shape: tuple[Any, ...]) -> Suite:
    # cached like _select: the same offer and answer come back in every handshake
    offered = [Proposal(n, proto, b"", ts) for n, proto, ts in offered_shapes]
    chosen = Proposal(chosen_shape[0], chosen_shape[1], b"", chosen_shape[2])
    ours = next((p for p in offered if p.number == chosen.number), None)
    if ours is None:
        raise NegotiationError(f"the responder chose proposal #{chosen.number}, which was not offered")
    if ours.protocol != chosen.protocol:
        raise NegotiationError(f"the responder chose protocol {chosen.protocol} for proposal #{chosen.number}, "
                               f"which offered {ours.protocol}")
    suite = suite_of(chosen)
    for t in chosen.transforms:
        # an ESP/AH offer written without ESN may be answered NO_ESN (3.3.3: ESN is mandatory there); IKE has no ESN
        if t not in ours.transforms and not (t.type == TransformType.ESN and int(t.id) == EsnId.NO_ESN
                                             and ours.protocol != ProtocolId.IKE
                                             and not ours.of_type(TransformType.ESN)):
            raise NegotiationError(f"the responder chose {_name(t)}"
                                   + (f" ({t.key_length} bits)" if t.key_length else "")
                                   + f", which proposal #{ours.number} did not offer: {proposal_to_iana(ours)}")
    missing = _missing(chosen, suite)
    if missing:
        raise NegotiationError(f"the responder's choice {proposal_to_iana(chosen)} lacks {', '.join(missing)} "
                               "(RFC 7296 3.3.3)")
    if suite.is_aead and suite.integ is not None:
        raise NegotiationError("the responder chose an AEAD cipher together with an integrity algorithm (RFC 5282 8)")
    if ours.of_type(TransformType.DH) and all(int(t.id) != DhId.NONE for t in ours.of_type(TransformType.DH)) \
            and suite.dh is None:
        raise NegotiationError("the responder chose no DH group although our proposal requires one (PFS)")
    return suite


def _missing(p: Proposal, suite: Suite) -> list[str]:
    proto = p.protocol
    need: list[str] = []
    if proto == ProtocolId.IKE:
        if suite.encr is None:
            need.append("ENCR")
        if suite.prf is None:
            need.append("PRF")
        if suite.dh is None:
            need.append("DH")
        if not suite.is_aead and suite.integ is None:
            need.append("INTEG")
    elif proto == ProtocolId.ESP:
        if suite.encr is None:
            need.append("ENCR")
        if not suite.is_aead and suite.integ is None:
            need.append("INTEG")
    elif proto == ProtocolId.AH and suite.integ is None:
        need.append("INTEG")
    return need


def ke_group_for(offered: Sequence[Proposal], configured: Sequence[Proposal],
                 ke_group: DhId | int | str | None = None) -> DhId | None:
    """The DH group the responder wants (RFC 7296 1.2, 2.7): that of the proposal :func:`select` picks.

    ``ke_group`` is the group of the initiator's KE payload; it is chosen when
    acceptable, so ``ke_group_for(...) != ke_group`` means: answer
    INVALID_KE_PAYLOAD carrying the returned group.  ``None``: no DH (no PFS).
    """
    suite = suite_of(select(offered, configured, ke_group=ke_group))
    return suite.dh
