"""Figures and tables for lesson 08, algorithm negotiation (RFC 7296 2.7, 3.3).

RFC 7296 2.7: the initiator offers one or more proposals, each a set of
transforms; "the responder MUST choose a single suite, which may be any
subset of the SA proposal" -- ONE proposal, with ONE transform of each type
-- or answer NO_PROPOSAL_CHOSEN.  Everything here calls the engine's own
negotiation, :func:`ikelab.proposals.select`, and only arranges its answers:

* :func:`negotiate` -- both sides' proposal texts (strongSwan syntax) in, a
  :class:`Negotiation` out: the chosen proposal or the notify and the reasons;
* :func:`pair_matrix` -- every (offered, configured) pair and whether it
  matches, with the reason when it does not (the data of :func:`matrix_figure`);
* :func:`weak_keywords` -- proposal keywords that ikelab refuses unless
  ``allow_weak=True``, with the reason it gives (RFC 8247).

matplotlib is imported only by the drawing function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from . import proposals as _proposals
from .constants import ProtocolId, lookup
from .errors import ConfigError, IkelabError, NegotiationError
from .figures import _new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["Negotiation", "PairResult", "format_negotiation", "matrix_figure", "negotiate", "pair_matrix",
           "weak_keywords"]


@dataclass(frozen=True)
class Negotiation:
    """The outcome of one negotiation: the chosen proposal, or why none was chosen."""

    protocol: str
    prefer: str
    offered: tuple[str, ...]       # the initiator's proposals, strongSwan syntax, in order
    configured: tuple[str, ...]    # the responder's proposals
    chosen: str | None             # the chosen suite (strongSwan syntax), None when refused
    chosen_number: int | None      # its Proposal Num in the initiator's SA payload
    chosen_iana: str | None        # the chosen suite with IANA names
    notify: str | None             # "NO_PROPOSAL_CHOSEN", or None
    reason: str                    # the engine's message when refused, or a parse error
    error: str | None = None       # a proposal text that does not parse (ConfigError message)
    #: why each (offered, configured) pair failed when refused: (offered number, configured proposal, reason)
    reasons: tuple[tuple[int, str, str], ...] = ()


def _parse(text: str | Sequence[str], protocol: ProtocolId, allow_weak: bool) -> tuple:
    return _proposals.parse_proposals(text, protocol, allow_weak=allow_weak)


def negotiate(offered: str | Sequence[str], configured: str | Sequence[str], *, protocol: str = "IKE",
              prefer: str = "configured", allow_weak: bool = False) -> Negotiation:
    """Run the responder's choice (:func:`ikelab.proposals.select`) on two proposal texts.

    A text that does not parse gives a Negotiation with ``error`` set (so a
    widget can show the message); a bad ``protocol`` or ``prefer`` is a ConfigError.
    """
    proto = lookup(ProtocolId, protocol, field="protocol")
    if prefer not in ("configured", "offered"):
        raise ConfigError(f"prefer must be 'configured' or 'offered', not {prefer!r}", field="prefer", value=prefer)
    try:
        offer = _parse(offered, proto, allow_weak)
        conf = _parse(configured, proto, allow_weak)
    except IkelabError as exc:
        return Negotiation(proto.name, prefer, (), (), None, None, None, None, str(exc), error=str(exc))
    off_s = tuple(_proposals.proposal_to_string(p) for p in offer)
    conf_s = tuple(_proposals.proposal_to_string(p) for p in conf)
    try:
        chosen = _proposals.select(offer, conf, prefer=prefer)
    except NegotiationError as exc:
        return Negotiation(proto.name, prefer, off_s, conf_s, None, None, None,
                           str(exc.notify_type or "NO_PROPOSAL_CHOSEN"), str(exc), reasons=exc.reasons)
    return Negotiation(proto.name, prefer, off_s, conf_s, _proposals.proposal_to_string(chosen), chosen.number,
                       _proposals.proposal_to_iana(chosen), None, "")


def format_negotiation(result: Negotiation) -> str:
    """The negotiation as a few lines of text (what the widget shows)."""
    if result.error:
        return f"cannot read the proposals: {result.error}"
    lines = [f"{result.protocol} proposals, the responder prefers the {result.prefer} order", "offered (SAi):"]
    lines += [f"  #{n} {p}" for n, p in enumerate(result.offered, 1)]
    lines.append("configured at the responder:")
    lines += [f"     {p}" for p in result.configured]
    if result.chosen is not None:
        lines.append(f"chosen (SAr): proposal #{result.chosen_number}, {result.chosen}")
        lines.append(f"              {result.chosen_iana}")
    else:
        lines.append(f"no match: the responder answers N({result.notify})")
        for pair in result.reasons[:_proposals.REASONS_LISTED]:  # as many as the message lists
            lines.append("  " + _proposals.reason_text(*pair))
    return "\n".join(lines)


@dataclass(frozen=True)
class PairResult:
    """One (offered, configured) pair: does it match, and if not, why."""

    offered_number: int
    offered: str
    configured: str
    match: str | None   # the suite this pair alone would give
    reason: str         # "" when it matches


def pair_matrix(offered: str | Sequence[str], configured: str | Sequence[str], *, protocol: str = "IKE",
                allow_weak: bool = False) -> list[PairResult]:
    """Every offered proposal against every configured one, each pair negotiated on its own."""
    proto = lookup(ProtocolId, protocol, field="protocol")
    offer, conf = _parse(offered, proto, allow_weak), _parse(configured, proto, allow_weak)
    rows = []
    for o in offer:
        for c in conf:
            c_s = _proposals.proposal_to_string(c)
            try:
                chosen = _proposals.select([o], [c])
            except NegotiationError as exc:
                why = exc.reasons[0][2] if exc.reasons else str(exc)
                rows.append(PairResult(o.number, _proposals.proposal_to_string(o), c_s, None, why))
            else:
                rows.append(PairResult(o.number, _proposals.proposal_to_string(o), c_s,
                                       _proposals.proposal_to_string(chosen), ""))
    return rows


def matrix_figure(offered: str | Sequence[str], configured: str | Sequence[str], *, protocol: str = "IKE",
                  prefer: str = "configured") -> "Figure":
    """A grid: offered proposals (rows) against configured ones (columns); green = match, the chosen one framed."""
    rows = pair_matrix(offered, configured, protocol=protocol)
    result = negotiate(offered, configured, protocol=protocol, prefer=prefer)
    offers = list(dict.fromkeys((r.offered_number, r.offered) for r in rows))
    confs = list(dict.fromkeys(r.configured for r in rows))
    fig = _new_figure(2.2 + 2.6 * len(confs), 0.9 + 0.75 * len(offers))
    ax = fig.add_subplot()
    # the pair select() takes: walk in the preferred order, first match wins
    order = ([(o, c) for c in confs for o in offers] if prefer == "configured" else [(o, c) for o in offers for c in confs])
    by_pair = {((r.offered_number, r.offered), r.configured): r for r in rows}
    winner = next((pair for pair in order if by_pair[pair].match is not None), None)
    for i, o in enumerate(offers):
        for j, c in enumerate(confs):
            r = by_pair[(o, c)]
            colour = "#55a868" if r.match else "#e8e8e8"
            ax.add_patch(_rect(j, i, colour, (o, c) == winner))
            text = "match" if r.match else r.reason.replace("no common ", "no common\n")
            ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=8)
    ax.set_xlim(0, len(confs))
    ax.set_ylim(len(offers), 0)
    ax.set_xticks([j + 0.5 for j in range(len(confs))], confs, fontsize=8)
    ax.set_yticks([i + 0.5 for i in range(len(offers))], [f"#{n} {p}" for n, p in offers], fontsize=8)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_xlabel("configured at the responder (its order of preference, left to right)", fontsize=8)
    ax.set_ylabel("offered by the initiator", fontsize=8)
    chosen = f"chosen: #{result.chosen_number} {result.chosen}" if result.chosen else f"N({result.notify})"
    fig.ikelab_alt = (f"Figure: {len(offers)} offered x {len(confs)} configured {protocol} proposals, "
                      f"{sum(r.match is not None for r in rows)} matching pairs; {chosen}")
    return fig


def _rect(x: int, y: int, colour: str, framed: bool):  # type: ignore[no-untyped-def]
    from matplotlib.patches import Rectangle

    return Rectangle((x + 0.04, y + 0.06), 0.92, 0.88, facecolor=colour,
                     edgecolor="#c44e52" if framed else "white", linewidth=3 if framed else 1)


#: Keywords that ikelab refuses without allow_weak=True (each with a stronger replacement).
WEAK_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("3des-sha256-modp2048", "3des"),
    ("aes128-md5-modp2048", "md5"),
    ("aes128-sha256-modp1024", "modp1024"),
    ("aes128-sha256-modp1536", "modp1536"),
    ("aes128-sha256-modp768", "modp768"),
)


def weak_keywords() -> list[tuple[str, str]]:
    """``(keyword, ikelab's reason)`` for proposals refused as weak (WeakAlgorithmError), in order."""
    from .errors import WeakAlgorithmError

    rows = []
    for text, keyword in WEAK_EXAMPLES:
        try:
            _proposals.parse_proposal(text, ProtocolId.IKE)
        except WeakAlgorithmError as exc:
            reason = str(exc).split(" is weak: ", 1)[-1].split("; pass allow_weak", 1)[0]
            rows.append((keyword, reason))
        else:  # pragma: no cover - would mean the library accepts a weak keyword silently
            rows.append((keyword, "accepted"))
    return rows
