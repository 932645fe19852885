"""Exercise checks of lesson 10, the classic Wireshark trace (RFC 4301 4.1, RFC 7296 1.3.3, 2.8).

``trace.child-sas``: from the dissected packet list, how many CHILD SAs
carried the trace's ESP traffic?  Each CHILD SA is a pair of one-way SAs,
one SPI per direction (RFC 4301 4.1), and each rekey or new IKE SA brings a
new pair (RFC 7296 2.8).  The expected value is counted from the rows given,
by :func:`ikelab.figures_trace.trace_notes`.
"""

from __future__ import annotations

from typing import Any

from .exercises import Wrong, _want_int, register

__all__: list[str] = []


@register("trace.child-sas", "10-the-wireshark-trace", "CHILD SAs in the trace", "an int: the number of CHILD SAs",
          "RFC 4301 4.1: an SA is simplex, so a CHILD SA is a pair of SAs with one SPI per direction; a rekey "
          "(RFC 7296 2.8) or a new IKE SA creates a new CHILD SA with new SPIs.")
def _trace_child_sas(answer: Any, *, rows: Any) -> str:
    from .figures_trace import trace_notes

    notes = trace_notes(rows)
    spis = len(notes.esp_spis)
    expected = spis // 2
    n = _want_int(answer, "the number of CHILD SAs")
    if n == expected:
        return (f"{spis} ESP SPIs, one per direction: {expected} CHILD SAs "
                f"({', '.join(notes.esp_spis[i] + '/' + notes.esp_spis[i + 1] for i in range(0, spis - 1, 2))}).")
    if n == spis:
        raise Wrong("that is the number of SPIs: each CHILD SA has two, one per direction (RFC 4301 4.1).")
    if n in (notes.ike_sas, len(notes.rekeys)):  # in the classic trace both are 2: name what the number counts
        what = [name for name, count in (("IKE SAs", notes.ike_sas), ("CREATE_CHILD_SA exchanges", len(notes.rekeys)))
                if count == n]
        raise Wrong(f"that is the number of {' and of '.join(what)}; count the CHILD SAs: each IKE_AUTH creates one "
                    "and each CREATE_CHILD_SA one more.")
    if n < expected:
        raise Wrong("too few: a rekey (CREATE_CHILD_SA with REKEY_SA) makes a new CHILD SA with new SPIs.")
    raise Wrong("too many: look at the ESP SPIs in order of appearance and pair them up.")
