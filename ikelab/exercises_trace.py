"""Exercise checks of lesson 10, the classic Wireshark trace (RFC 4301 4.1, RFC 7296 1.3.3, 2.8).

``trace.child-sas``: from the dissected packet list, how many CHILD SAs
did IKE_AUTH create, and how many CREATE_CHILD_SA?  The first CHILD SA of an
IKE SA comes with IKE_AUTH, each later one, a rekey included, with
CREATE_CHILD_SA (RFC 7296 1.3, 2.8); a response that creates one carries
TSi and TSr, an IKE SA rekey's does not (1.3.2).  Each CHILD SA is a pair of
one-way SAs, one ESP SPI per direction (RFC 4301 4.1).  Asking for the split
tells the right count from counting messages, which in the classic trace
gives the same total.

``trace.rekeyed-spi``: read one exact value from the packet list: the SPI
that the responder's ESP packets carry after the first CHILD SA rekey, and
the No. of the first packet carrying it.  An ESP packet carries the SPI its
receiver chose (RFC 4303 2.1), so each direction has its own; a rekey brings
new SPIs (RFC 7296 2.8); No. counts every frame from 1, retransmissions
included (RFC 7296 2.1).  The checker works the answer out from the rows
given, and names each reading slip: the other direction, the old SPI, a
later SPI, a list index instead of No., a frame one off.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError
from .exercises import Wrong, _name_slips, _show, _spi_name, _want_int, _want_spi, register

__all__: list[str] = []


@register("trace.child-sas", "10-the-wireshark-trace", "Where the trace's CHILD SAs come from",
          "a pair (from_ike_auth, from_create_child_sa): how many CHILD SAs each kind of exchange created",
          "RFC 7296 1.3: the first CHILD SA of an IKE SA comes with IKE_AUTH (SAi2, TSi, TSr), each later one, a "
          "rekey (2.8) included, with a CREATE_CHILD_SA exchange; one exchange (request and response) makes one. "
          "RFC 4301 4.1: a CHILD SA is a pair of one-way SAs, one ESP SPI per direction.")
def _trace_child_sas(answer: Any, *, rows: Any) -> str:
    from .figures_trace import trace_notes
    from .flow import rows_of

    rows = rows_of(rows)
    notes = trace_notes(rows)
    made = _children_made(rows)
    expected = (made["IKE_AUTH"].children, made["CREATE_CHILD_SA"].children)
    total, spis = sum(expected), len(notes.esp_spis)
    if not isinstance(answer, (tuple, list)):
        n = _want_int(answer, "the answer")
        if n == total:
            raise Wrong(f"{n} CHILD SAs in all, right; the answer is a pair: (how many came from IKE_AUTH, how "
                        "many from CREATE_CHILD_SA).")
        raise Wrong(f"the answer is a pair (from_ike_auth, from_create_child_sa), not one number ({_show(answer)}).")
    if len(answer) != 2:
        raise Wrong(f"the answer is a pair (from_ike_auth, from_create_child_sa): two numbers, not {len(answer)}.")
    got = (_want_int(answer[0], "the CHILD SAs from IKE_AUTH"), _want_int(answer[1], "the CHILD SAs from "
                                                                          "CREATE_CHILD_SA"))
    if got == expected:
        said = f"{expected[0]} from IKE_AUTH and {expected[1]} from CREATE_CHILD_SA: {total} CHILD SAs"
        if spis != 2 * total:  # a CHILD SA that carried no traffic, or traffic cut off by the capture's end
            return f"{said} ({spis} ESP SPIs in the capture)."
        pairs = ", ".join(notes.esp_spis[i] + "/" + notes.esp_spis[i + 1] for i in range(0, spis - 1, 2))
        return f"{said}, as the {spis} ESP SPIs show, one per direction ({pairs})."
    if got == expected[::-1]:
        raise Wrong("the two are swapped: the pair is (from IKE_AUTH, from CREATE_CHILD_SA).")
    slips = []
    for i, exchange in enumerate(("IKE_AUTH", "CREATE_CHILD_SA")):
        if got[i] != expected[i] and got[i] == made[exchange].messages:
            slips.append(f"{got[i]} is the number of {exchange} messages, requests and responses: one exchange (a "
                         "request and its response) makes one CHILD SA.")
    if sum(got) == spis:
        slips.append(f"together {spis}, the number of ESP SPIs: each CHILD SA has two, one per direction "
                     "(RFC 4301 4.1).")
    if got[0] == 1 < expected[0]:
        slips.append("each IKE SA set up with IKE_SA_INIT and IKE_AUTH brings its own first CHILD SA, and this trace "
                     "has more than one IKE_AUTH exchange.")
    if got[1] != expected[1] and got[1] == made["CREATE_CHILD_SA"].exchanges:
        why = [text for count, text in (
            (made["CREATE_CHILD_SA"].ike_sa_rekeys, "an IKE SA rekey is a CREATE_CHILD_SA exchange too, but it makes "
                                                    "no CHILD SA (RFC 7296 1.3.2: no TSi/TSr)"),
            (made["CREATE_CHILD_SA"].refused, "a refused CREATE_CHILD_SA (its response an error notify, no SA, "
                                              "1.3) makes no CHILD SA")) if count]
        slips.append("; ".join(why) + "; count only the exchanges whose response has traffic selectors.")
    _name_slips(slips)
    if sum(got) == total:
        raise Wrong(f"{total} in all is right, but not that split: each IKE SA's IKE_AUTH makes one, every other "
                    "comes from a CREATE_CHILD_SA.")
    raise Wrong(f"too {'few' if sum(got) < total else 'many'}: pair up the ESP SPIs in order of appearance, then "
                "find the exchange (IKE_AUTH or CREATE_CHILD_SA) just before each new pair.")


def _exchange_of(row: Any) -> tuple[Any, ...]:
    """One exchange's request and response(s): the IKE SA, the Message ID, and whether the original initiator sent
    the request.  Each end numbers its own requests (RFC 7296 2.2), so two crossing exchanges can share a Message ID;
    the Initiator flag (3.1) of a response is the other end's."""
    return row.spi_i, row.message_id, bool(row.is_initiator) != bool(row.is_response)


@dataclass(frozen=True)
class _Made:
    """What one kind of exchange (IKE_AUTH or CREATE_CHILD_SA) did in a trace, counted as a slip would count it."""

    children: int       # responses with TSr: each made a CHILD SA (RFC 7296 1.3)
    ike_sa_rekeys: int  # responses with an SA but no TSr (1.3.2)
    refused: int        # responses with neither: an error notify (1.3); the three add up to the exchanges
    messages: int       # packets, requests and responses, resent ones included

    @property
    def exchanges(self) -> int:
        return self.children + self.ike_sa_rekeys + self.refused


def _children_made(rows: list[Any]) -> dict[str, _Made]:
    """Per exchange kind, the CHILD SAs made, and the other counts a slip would give.

    A response that creates a CHILD SA carries TSi and TSr (RFC 7296 1.3, 1.3.1); an IKE SA rekey's does not
    (1.3.2), nor does a refused one.  A resent response counts once.  The rows must be decrypted.
    """
    ike = [r for r in rows if r.kind == "ike"]
    protected = [r for r in ike if r.exchange in ("IKE_AUTH", "CREATE_CHILD_SA")]
    if not any(r.decrypted for r in protected):
        raise ConfigError("exercise trace.child-sas: the rows need the decrypted IKE_AUTH and CREATE_CHILD_SA "
                          "messages (dissect the capture with its key tables)", field="rows", value=len(rows))
    out: dict[str, _Made] = {}
    for exchange in ("IKE_AUTH", "CREATE_CHILD_SA"):
        mine = [r for r in protected if r.exchange == exchange]
        responses: dict[tuple[Any, ...], set[str]] = {}  # a resent response, or IKE fragments (RFC 7383), once
        opened: set[tuple[Any, ...]] = set()
        for r in mine:
            if r.is_response:
                responses.setdefault(_exchange_of(r), set()).update(r.inner_payloads)
                if r.decrypted:
                    opened.add(_exchange_of(r))
        closed = [key for key in responses if key not in opened]
        if closed:  # an IKE SA missing from the key tables: its CHILD SAs would silently count as none
            no = next(r.no for r in mine if r.is_response and _exchange_of(r) == closed[0])
            raise ConfigError(f"exercise trace.child-sas: the {exchange} response of packet {no} is not decrypted "
                              "(no key for its IKE SA?): every IKE SA of the capture needs its keys", field="rows",
                              value=no)
        out[exchange] = _Made(children=sum(1 for inner in responses.values() if "TSr" in inner),
                              ike_sa_rekeys=sum(1 for i in responses.values() if "SA" in i and "TSr" not in i),
                              refused=sum(1 for i in responses.values() if "SA" not in i and "TSr" not in i),
                              messages=len(mine))
    return out


# --- trace.rekeyed-spi: read one exact value from the packet list --------------------------------------------------


@dataclass(frozen=True)
class _Rekey:
    """What the rows say about the first CHILD SA rekey: who is who, and the SPIs before and after it."""

    initiator: str
    responder: str
    rekey_no: int                    # the first CREATE_CHILD_SA request with N(REKEY_SA)
    expected: Any                    # the responder's first ESP row with a new SPI after that request
    old_spis: dict[str, set[int]]    # each sender's ESP SPIs before the rekey request
    first_new: dict[str, Any]        # each sender's first ESP row with a new SPI after the request


def _rekey_facts(rows: list[Any]) -> _Rekey:
    ike = [r for r in rows if r.kind == "ike"]
    initiator = next((r.src for r in ike if r.is_initiator), None)
    responder = next((r.src for r in ike if r.is_initiator is False), None)
    # the first CHILD SA rekey: a CREATE_CHILD_SA request with N(REKEY_SA) (RFC 7296 1.3.3); an IKE SA rekey or a
    # new CHILD SA has none, so the rows must be decrypted to tell them apart; a request left unanswered (or refused)
    # made no SA, so the rekey is the first one whose response carries the new SA's TSi/TSr
    answered = {_exchange_of(r) for r in ike if r.exchange == "CREATE_CHILD_SA" and r.is_response
                and "TSr" in r.inner_payloads}
    rekey_no = next((r.no for r in ike if r.exchange == "CREATE_CHILD_SA" and not r.is_response
                     and "N(REKEY_SA)" in r.inner_payloads and _exchange_of(r) in answered), None)
    if initiator is None or responder is None or rekey_no is None:
        raise ConfigError("exercise trace.rekeyed-spi: the rows need both IKE peers and a decrypted CREATE_CHILD_SA "
                          "request that rekeys a CHILD SA (N(REKEY_SA), RFC 7296 1.3.3) and its response", field="rows",
                          value=len(rows))
    esp = [r for r in rows if r.kind == "esp" and r.spi is not None]
    old: dict[str, set[int]] = {}
    first_new: dict[str, Any] = {}
    for peer in (initiator, responder):
        old[peer] = {r.spi for r in esp if r.src == peer and r.no < rekey_no}
        first_new[peer] = next((r for r in esp if r.src == peer and r.no > rekey_no and r.spi not in old[peer]),
                               None)
    if not old[responder] or first_new[responder] is None:  # no old SPI to tell the new one from, or no new one
        raise ConfigError("exercise trace.rekeyed-spi: the responder must send ESP both before and after the rekey, "
                          "with a new SPI after it", field="rows", value=len(rows))
    return _Rekey(initiator, responder, rekey_no, first_new[responder], old, first_new)


@register("trace.rekeyed-spi", "10-the-wireshark-trace", "The responder's ESP SPI after the first rekey",
          "a pair (spi, no): the SPI (an int, or hex like '0x1234abcd') and the packet's No.",
          "Find the first CREATE_CHILD_SA request that carries N(REKEY_SA) and is answered, then the first ESP "
          "packet after it whose Source is the responder (the peer whose IKE messages say Responder) and whose SPI "
          "is new. An ESP packet carries the SPI its RECEIVER chose (RFC 4303 2.1), so each direction has its own; "
          "No. is Wireshark's column, from 1.")
def _trace_rekeyed_spi(answer: Any, *, rows: Any) -> str:
    from .figures_trace import trace_notes
    from .flow import rows_of

    rows = rows_of(rows)
    facts = _rekey_facts(rows)
    want = facts.expected
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Wrong(f"the answer is a pair (spi, no), not {type(answer).__name__} ({_show(answer)}).")
    spi_answer, no_answer = answer
    missing = [what for what, part in (("the SPI", spi_answer), ("the packet number", no_answer))
               if part is ... or part is None]
    if missing:
        raise Wrong(f"no answer yet for {' and '.join(missing)}: replace the `...` in the exercise cell.")
    if (not isinstance(no_answer, (str, bytes, bool)) and hasattr(type(no_answer), "__index__")
            and operator.index(no_answer) == want.spi and not isinstance(spi_answer, str)
            and hasattr(type(spi_answer), "__index__") and operator.index(spi_answer) == want.no):
        raise Wrong("the two are swapped: the pair is (spi, no), the SPI first.")
    ike_spis = {int(s, 16) for r in rows if r.kind == "ike" for s in (r.spi_i, r.spi_r) if s and int(s, 16)}
    spi = _want_spi(spi_answer, ike_spis)
    no = _want_int(no_answer, "the packet number")
    responder, initiator = facts.responder, facts.initiator
    if spi != want.spi:
        other_new = facts.first_new[initiator]
        if other_new is not None and spi == other_new.spi:
            raise Wrong(f"{_spi_name(spi)} is on the packets {initiator} sends (to {responder}): the other "
                        "direction. Each direction has its own SPI, and an ESP packet carries the one its receiver "
                        "chose (RFC 4303 2.1); look at the packets whose Source is the responder.")
        if spi in facts.old_spis[responder]:
            raise Wrong(f"{_spi_name(spi)} is the responder's SPI from BEFORE the rekey: CREATE_CHILD_SA with "
                        "REKEY_SA brings new SPIs (RFC 7296 2.8), and the old SA is deleted afterwards.")
        if spi in facts.old_spis[initiator]:
            raise Wrong(f"{_spi_name(spi)} is the initiator's SPI from before the rekey: wrong direction and wrong "
                        "time. Look at the responder's packets (its Source), after the CREATE_CHILD_SA.")
        if int.from_bytes(spi.to_bytes(4, "big"), "little") == want.spi:
            raise Wrong("the bytes are reversed: the SPI is sent in network byte order (big-endian), read it as "
                        "Wireshark shows it.")
        later = [r for r in rows if r.kind == "esp" and r.spi == spi]
        if later:
            raise Wrong(f"{_spi_name(spi)} first appears in packet {later[0].no}, long after the first rekey "
                        f"(packet {facts.rekey_no}): the question is about the SPI the first rekey brings.")
        raise Wrong("no ESP packet of this trace carries that SPI; read it off an ESP packet's Info (ESP (SPI=...)).")
    if no == want.no:
        return (f"SPI {_spi_name(spi)}, first in packet {no} ({responder} -> {initiator}, "
                f"t = {want.time:.3f} s), after the CREATE_CHILD_SA of packet {facts.rekey_no}.")
    by_no = {r.no: r for r in rows}
    reasons: list[str] = []
    row = by_no.get(no)
    if row is None:
        raise Wrong(f"the trace has no packet {_show(no)}: No. runs from {rows[0].no} to {rows[-1].no}.")
    index = next(i for i, r in enumerate(rows) if r is want)
    if no == index:
        reasons.append(f"Packet numbers (No.) start at {rows[0].no}: rows[i] is packet i + {rows[0].no}, so do not "
                       "give a list index.")
    resent = [n for n in trace_notes(rows).retransmissions if n < want.no]
    if resent and no == want.no - len(resent):
        reasons.append(f"The No. column counts every frame, the retransmission(s) {resent} included "
                       "(RFC 7296 2.1: a resend is the same message again, but it is a frame of its own).")
    esp_position = [r for r in rows if r.kind == "esp"].index(want)
    if no in (esp_position, esp_position + 1):
        reasons.append("That is the packet's position among the ESP packets; the answer is its No. in the "
                       "whole packet list.")
    if no == want.no + 1:
        reasons.append("One off: count again in the No. column.")
    if row.kind != "esp":
        reasons.append(f"Packet {no} is not ESP ({row.info}): the SPI is on the ESP packets.")
    elif row.src != responder:
        reasons.append(f"Packet {no} goes {row.src} -> {row.dst}: the other direction.")
    elif row.spi != spi:
        when = "after the CREATE_CHILD_SA request, but " if row.no > facts.rekey_no else ""
        reasons.append(f"Packet {no} is the responder's, {when}it still carries its old SPI {_spi_name(row.spi)}: "
                       "the new SA takes over only once the rekey exchange has completed.")
    elif no > want.no:
        reasons.append(f"Packet {no} carries that SPI, but it is not the first one to do so.")
    if not reasons:
        reasons.append("Not the first packet with that SPI: look just after the CREATE_CHILD_SA exchange.")
    raise Wrong("the SPI is right, but the packet number is not. " + " ".join(reasons))
