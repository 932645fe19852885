"""Exercise checks of lesson 08, algorithm negotiation (RFC 7296 2.7, 3.3).

``negotiation.chosen``: given both sides' proposals (strongSwan syntax) and
the responder's preference, name the suite the responder chooses, or
``"NO_PROPOSAL_CHOSEN"``.  The expected answer is computed by
:func:`ikelab.proposals.select`, the function the engine itself uses.
"""

from __future__ import annotations

import re
from typing import Any

from . import proposals as _proposals
from .constants import ProtocolId, lookup
from .errors import IkelabError, NegotiationError, WeakAlgorithmError
from .exercises import Wrong, _show, register

__all__: list[str] = []


@register("negotiation.chosen", "08-algorithm-negotiation", "The suite the responder chooses",
          'a proposal string such as "aes128-sha256-modp2048", or "NO_PROPOSAL_CHOSEN"',
          "RFC 7296 2.7: the responder picks ONE proposal and ONE transform of each type. With "
          "prefer='configured' (strongSwan's default) it walks its OWN list in order and takes the first "
          "entry that some offered proposal matches, trying the offered proposals in the initiator's order.")
def _negotiation_chosen(answer: Any, *, offered: str, configured: str, protocol: str = "IKE",
                        prefer: str = "configured") -> str:
    proto = lookup(ProtocolId, protocol, field="protocol")
    offer = _proposals.parse_proposals(offered, proto)
    conf = _proposals.parse_proposals(configured, proto)
    try:
        chosen = _proposals.select(offer, conf, prefer=prefer)
    except NegotiationError:
        chosen = None
    if not isinstance(answer, str):
        raise Wrong(f"the answer should be a string (a proposal or 'NO_PROPOSAL_CHOSEN'), not {type(answer).__name__}.")
    text = answer.strip()
    # "no proposal chosen", "NO-PROPOSAL-CHOSEN" and the notify's N(NO_PROPOSAL_CHOSEN) say the same thing
    if re.fullmatch(r"(N\()?NO[\s_-]+PROPOSAL[\s_-]+CHOSEN\)?", text, re.IGNORECASE):
        if chosen is None:
            return "no offered proposal matches a configured one: the responder answers N(NO_PROPOSAL_CHOSEN)."
        raise Wrong("at least one offered proposal matches a configured one: compare them type by type "
                    "(ENCR with its key length, PRF, INTEG, DH).")
    if len(text) > 200:  # one proposal is a few keywords; the parser's message would repeat it all
        raise Wrong(f"{_show(text)} is far too long for one proposal: give one keyword per transform type.")
    try:
        mine = _proposals.suite_of(_proposals.parse_proposal(text, proto))
    except WeakAlgorithmError:  # both lists parsed without allow_weak: neither side proposes a weak algorithm
        raise Wrong(f"{text!r} uses a weak algorithm, which neither side proposes here: the responder "
                    "chooses among the suites that both lists hold.") from None
    except IkelabError as exc:
        raise Wrong(f"{text!r} is not a single proposal in strongSwan syntax ({exc}).") from None
    if chosen is None:
        raise Wrong("no pair matches here: look for a transform type with nothing in common.")
    want = _proposals.suite_of(chosen)
    if mine == want:
        return (f"the responder answers with proposal #{chosen.number}: {_proposals.proposal_to_string(chosen)} "
                f"({_proposals.proposal_to_iana(chosen)}).")
    other = "offered" if prefer == "configured" else "configured"
    whose = {"configured": "its own (configured) list", "offered": "the initiator's (offered) list"}
    if mine == _proposals.suite_of(_proposals.select(offer, conf, prefer=other)):  # a match exists either way
        raise Wrong(f"that is the choice with prefer={other!r}, walking {whose[other]} first; with "
                    f"prefer={prefer!r} the responder walks {whose[prefer]} first.")
    acceptable = []
    for o in offer:
        try:
            acceptable.append(_proposals.suite_of(_proposals.select([o], conf, prefer=prefer)))
        except NegotiationError:
            pass
    if mine in acceptable:
        first, then = (("configured", "offered") if prefer == "configured" else ("offered", "configured"))
        raise Wrong(f"that suite would be acceptable, but it is not the first match: take the {first} proposals in "
                    f"order and, for each, the {then} ones in order; the first pair that matches wins, and within "
                    f"it the {first} side's order picks each transform.")
    single = [o for o in offer if len(o.transforms) == len({t.type for t in o.transforms})]  # one of each type
    if any(mine == _proposals.suite_of(o) for o in single):
        raise Wrong("that proposal is offered, but the responder does not accept it: compare it with its "
                    "configured proposals.")
    raise Wrong("that is not one of the suites both sides accept.")
