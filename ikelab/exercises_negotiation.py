"""Exercise checks of lesson 08, algorithm negotiation (RFC 7296 2.7, 3.3).

``negotiation.chosen``: given both sides' proposals (strongSwan syntax) and
the responder's preference, name the suite the responder chooses, or
``"NO_PROPOSAL_CHOSEN"``.  The expected answer is computed by
:func:`ikelab.proposals.select`, the function the engine itself uses.

``negotiation.valid-answers``: the other side of the same rule.  Given the
initiator's offer and a few candidate SAr1 answers (a Proposal Num and a
proposal each), which ones must the initiator accept?  Computed by
:func:`ikelab.proposals.check_chosen`, the engine's own check (RFC 7296 2.7).
``protocol`` (IKE by default, ESP or AH) is the one of the offer and of every
answer; the labels compare without case, and a str answer of labels longer than
one character names them apart ('A1, B2').
"""

from __future__ import annotations

import re
from typing import Any

from . import proposals as _proposals
from .constants import ProtocolId, lookup
from .errors import ConfigError, IkelabError, NegotiationError, WeakAlgorithmError
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


# --- negotiation.valid-answers: the initiator's check of SAr1 (RFC 7296 2.7, 3.3.6) ----------------------------------


def _candidates(offered: Any, answers: Any, protocol: Any) -> tuple[Any, dict[str, Any]]:
    """The offer, and each candidate answer as a Proposal with its Proposal Num (RFC 7296 3.3.1), checked."""
    proto = lookup(ProtocolId, protocol, field="protocol")
    field, value = "offered", offered
    try:
        offer = _proposals.parse_proposals(offered, proto)
        field, value = "answers", answers
        if not isinstance(answers, dict) or not answers:
            raise TypeError(answers)
        candidates = {str(label): _proposals.parse_proposal(text, proto, number=number)
                      for label, (number, text) in answers.items()}
    except (TypeError, ValueError, IkelabError) as exc:
        raise ConfigError("exercise negotiation.valid-answers: offered is a proposal list in strongSwan syntax and "
                          f"answers a dict {{label: (proposal number, one proposal)}} ({exc})", field=field,
                          value=value) from None
    if len({label.strip().upper() for label in candidates}) != len(candidates):  # the answer's labels are read so
        raise ConfigError(f"exercise negotiation.valid-answers: the labels {', '.join(candidates)} must differ in more "
                          "than case and spaces", field="answers", value=answers)
    return offer, candidates


def _labels(answer: Any, labels: Any) -> set[str]:
    """The labels the student named: a set, list or tuple of them, or one str ('AE', 'A, E', 'A1 B2')."""
    if isinstance(answer, str):
        text = answer.strip()
        if not text:
            return set()
        if "," in text or any(c.isspace() for c in text):
            return set(text.replace(",", " ").split())
        if text.upper() in {label.strip().upper() for label in labels}:
            return {text}
        if any(len(label.strip()) != 1 for label in labels):  # 'A1B2': which labels? say it apart
            raise Wrong(f"{_show(text)}: the labels here are not all one character; write them apart, e.g. "
                        f"{', '.join(sorted(labels))!r} or a set {{{', '.join(map(repr, sorted(labels)))}}}.")
        return set(text)
    if not isinstance(answer, (set, frozenset, list, tuple)):
        raise Wrong(f"the answer is a set of labels such as {{'A', 'C'}}, not {type(answer).__name__}.")
    return {str(label) for label in answer}


def _why_not(offer: Any, chosen: Any, refusal: str) -> str:
    """Why the initiator refuses ``chosen``, in the words of RFC 7296 2.7 and 3.3.1 where a rule is plainly broken."""
    whole = [o for o in offer if all(t in o.transforms for t in chosen.transforms)]
    if whole and all(o.number != chosen.number for o in whole):
        named = ("no proposal of that number was offered" if all(o.number != chosen.number for o in offer)
                 else f"#{chosen.number} did not offer them")
        return (f"its transforms are all proposal #{whole[0].number}'s, but it names #{chosen.number}: the Proposal "
                f"Num says which offered proposal was taken (3.3.1), and {named}")
    if not whole and all(any(t in o.transforms for o in offer) for t in chosen.transforms):
        return ("it takes transforms from two proposals: proposals are alternatives, a suite comes from one "
                f"(2.7; {refusal})")
    return refusal


@register("negotiation.valid-answers", "08-algorithm-negotiation", "The answers the initiator accepts",
          "a set of labels, e.g. {'A', 'C'} (or a str of labels, 'AC')",
          "RFC 7296 2.7: the initiator MUST check the answer against its offer: ONE proposal, named by the Proposal "
          "Num of one it offered, with exactly one transform of each type, each one that THIS proposal offered. "
          "Proposals are alternatives: a suite never takes transforms from two of them.")
def _valid_answers(answer: Any, *, offered: str, answers: dict[str, tuple[int, str]], protocol: str = "IKE") -> str:
    offer, candidates = _candidates(offered, answers, protocol)
    verdicts: dict[str, str | None] = {}  # label -> None if acceptable, else why not
    for label, proposal in candidates.items():
        try:
            _proposals.check_chosen(offer, proposal)
            verdicts[label] = None
        except NegotiationError as exc:
            verdicts[label] = _why_not(offer, proposal, str(exc))
    expected = {label for label, why in verdicts.items() if why is None}
    named = {label.strip().upper(): label for label in verdicts}  # 'a' or ' A' names the label 'A'
    written = _labels(answer, verdicts)
    got = {named.get(label.strip().upper(), label.strip()) for label in written}
    unknown = sorted(got - set(verdicts))
    if unknown:
        raise Wrong(f"there is no answer {', '.join(unknown)}: the labels are {', '.join(sorted(verdicts))}.")
    if got == expected:
        return (f"{', '.join(sorted(expected)) or 'none'}: each names a proposal that was offered and takes one "
                "transform of each type from it; the others: " + "; ".join(
                    f"{label}, {why}" for label, why in sorted(verdicts.items()) if why is not None) + ".")
    wrong = [f"{label} is acceptable: proposal #{candidates[label].number} offered each of its transforms."
             for label in sorted(expected - got)]
    wrong += [f"{label} is not: {verdicts[label]}." for label in sorted(got - expected)]
    raise Wrong(" ".join(wrong))
