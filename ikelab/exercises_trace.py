"""Exercise checks of lesson 10, the classic Wireshark trace (RFC 4301 4.1, RFC 7296 1.3.3, 2.8).

``trace.child-sas``: from the dissected packet list, how many CHILD SAs
carried the trace's ESP traffic?  Each CHILD SA is a pair of one-way SAs,
one SPI per direction (RFC 4301 4.1), and each rekey or new IKE SA brings a
new pair (RFC 7296 2.8).  The expected value is counted from the rows given,
by :func:`ikelab.figures_trace.trace_notes`.

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
from .exercises import Wrong, _show, _want_int, register

__all__: list[str] = []


@register("trace.child-sas", "10-the-wireshark-trace", "CHILD SAs in the trace", "an int: the number of CHILD SAs",
          "RFC 4301 4.1: an SA is simplex, so a CHILD SA is a pair of SAs with one SPI per direction; a rekey "
          "(RFC 7296 2.8) or a new IKE SA creates a new CHILD SA with new SPIs.")
def _trace_child_sas(answer: Any, *, rows: Any) -> str:
    from .figures_trace import trace_notes
    from .flow import rows_of

    rows = rows_of(rows)
    notes = trace_notes(rows)
    spis = len(notes.esp_spis)
    expected = spis // 2
    n = _want_int(answer, "the number of CHILD SAs")
    if n == expected:
        return (f"{spis} ESP SPIs, one per direction: {expected} CHILD SAs "
                f"({', '.join(notes.esp_spis[i] + '/' + notes.esp_spis[i + 1] for i in range(0, spis - 1, 2))}).")
    if n == spis:
        raise Wrong("that is the number of SPIs: each CHILD SA has two, one per direction (RFC 4301 4.1).")
    # counting CREATE_CHILD_SA packets (requests and responses) gives the right number whenever there are as many
    # rekeys as IKE SAs (the classic trace: 4), and then no check can tell; otherwise the slip is named here
    ccsa_messages = sum(1 for r in rows if r.kind == "ike" and r.exchange == "CREATE_CHILD_SA")
    counts = (("IKE SAs", notes.ike_sas), ("CREATE_CHILD_SA exchanges", len(notes.rekeys)),
              ("CREATE_CHILD_SA messages (requests and responses)", ccsa_messages))
    if n in (count for _, count in counts):  # in the classic trace the first two are 2: name what the number counts
        what = [name for name, count in counts if count == n]
        raise Wrong(f"that is the number of {' and of '.join(what)}; count the CHILD SAs: each IKE_AUTH creates one "
                    "and each CREATE_CHILD_SA one more.")
    if n < expected:
        raise Wrong("too few: a rekey (CREATE_CHILD_SA with REKEY_SA) makes a new CHILD SA with new SPIs.")
    raise Wrong("too many: look at the ESP SPIs in order of appearance and pair them up.")


# --- trace.rekeyed-spi: read one exact value from the packet list --------------------------------------------------


def _spi_name(spi: int) -> str:
    return f"0x{spi:08x}"


def _want_spi(answer: Any, ike_spis: set[int]) -> int:
    """An ESP SPI (RFC 4303 2.1, 32 bits) as an int, a hex str with or without 0x (any case), or 4 bytes."""
    if isinstance(answer, (bytes, bytearray, memoryview)):
        raw = bytes(answer)
        if len(raw) != 4:
            raise Wrong(f"an ESP SPI is 4 bytes (RFC 4303 2.1), not {len(raw)}.")
        return int.from_bytes(raw, "big")
    if isinstance(answer, str):
        try:
            value = int(answer, 16)  # takes 0x or 0X, any case, surrounding spaces; a sign makes it no SPI below
        except ValueError:
            value = -1
        if value < 0:
            raise Wrong(f"the SPI {_show(answer)} is not a hex number; write it as Wireshark shows it "
                        "('0x1234abcd') or as an int.")
    elif isinstance(answer, bool) or not hasattr(type(answer), "__index__"):
        raise Wrong(f"the SPI should be an int or a hex str ('0x1234abcd'), not {type(answer).__name__} "
                    f"({_show(answer)}).")
    else:
        value = _want_int(answer, "the SPI")
    if value in ike_spis:
        raise Wrong("that is an IKE SA's SPI (8 bytes, in the IKE header, RFC 7296 3.1); the question asks for the "
                    "ESP SPI of an ESP packet (4 bytes, RFC 4303 2.1).")
    if not 0 <= value < 1 << 32:
        raise Wrong(f"an ESP SPI is a 32-bit number (at most 8 hex digits, RFC 4303 2.1); {_show(answer)} is not "
                    "(if you typed its decimal value as a str, give it as an int).")
    return value


@dataclass(frozen=True)
class _Rekey:
    """What the rows say about the first CHILD SA rekey: who is who, and the SPIs before and after it."""

    initiator: str
    responder: str
    rekey_no: int                    # the first CREATE_CHILD_SA request
    expected: Any                    # the responder's first ESP row with a new SPI after that request
    old_spis: dict[str, set[int]]    # each sender's ESP SPIs before the rekey request
    first_new: dict[str, Any]        # each sender's first ESP row with a new SPI after the request


def _rekey_facts(rows: list[Any]) -> _Rekey:
    ike = [r for r in rows if r.kind == "ike"]
    initiator = next((r.src for r in ike if r.is_initiator), None)
    responder = next((r.src for r in ike if r.is_initiator is False), None)
    rekey_no = next((r.no for r in ike if r.exchange == "CREATE_CHILD_SA" and not r.is_response), None)
    if initiator is None or responder is None or rekey_no is None:
        raise ConfigError("exercise trace.rekeyed-spi: the rows need both IKE peers and a CREATE_CHILD_SA rekey",
                          field="rows", value=len(rows))
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
          "Find the first CREATE_CHILD_SA request, then the first ESP packet after it whose Source is the responder "
          "(the peer whose IKE messages say Responder) and whose SPI is new. An ESP packet carries the SPI its "
          "RECEIVER chose (RFC 4303 2.1), so each direction has its own; No. is Wireshark's column, from 1.")
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
