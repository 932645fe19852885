"""Figures and notes for lesson 10, the classic Wireshark trace (RFC 7296 1.1-1.4, 2.1, 2.4, 2.8; RFC 4303).

The trace comes from :func:`ikelab.scenario.classic` and is dissected from
its written capture by :func:`ikelab.dissect.dissect`, exactly as a capture
taken on a wire would be.  This module only reads those rows:

* :func:`trace_notes` -- the facts the lesson points out, counted from the
  rows: the initial exchange takes four messages (two IKE_SA_INIT, two
  IKE_AUTH) plus any retransmission; the first CHILD SA comes with IKE_AUTH;
  the liveness checks (empty INFORMATIONAL exchanges) come on a timer; a
  CREATE_CHILD_SA rekey brings new SPIs;
* :func:`packet_detail` -- one packet as a few lines (what the widget shows);
* :func:`flow_figure` and :func:`timeline_figure` -- the flow diagram and SA
  timeline of :mod:`ikelab.flow`, sized to stay small in a notebook.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Sequence

from . import flow as _flow
from .errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["FLOW_DPI", "TraceNotes", "flow_figure", "format_notes", "packet_detail", "show", "timeline_figure",
           "trace_notes"]

#: Dots per inch of the stored flow diagrams: tall figures, so fewer dots keep each PNG under ~45 KB.
FLOW_DPI = 52


@dataclass(frozen=True)
class TraceNotes:
    """What the packet list shows, counted (see the module docstring)."""

    initial_exchange: tuple[int, ...]     # packet numbers of the first IKE_SA_INIT/IKE_AUTH messages (no resends)
    retransmissions: tuple[int, ...]      # packet numbers of IKE messages sent again unchanged
    first_child: tuple[int, ...]          # packets that created the first CHILD SA (the IKE_AUTH pair)
    first_esp: int                        # packet number of the first ESP packet
    liveness: tuple[float, ...]           # times of the liveness requests (empty INFORMATIONAL, HDR, SK {})
    rekeys: tuple[int, ...]               # packet numbers of CREATE_CHILD_SA requests
    esp_spis: tuple[str, ...]             # ESP SPIs in order of first appearance
    ike_sas: int                          # number of IKE SAs (distinct SPIi)


def _key(row: Any) -> tuple:
    return (row.spi_i, row.exchange, row.message_id, row.is_response, row.is_initiator)


def trace_notes(rows: Sequence[Any]) -> TraceNotes:
    """Count the lesson's facts from dissected rows (:class:`ikelab.dissect.Row`)."""
    rows = _flow.rows_of(rows)
    if not rows:
        raise ConfigError("the trace has no packets", field="rows", value=0)
    seen: set[tuple] = set()
    resent: list[int] = []
    first_spi = next((r.spi_i for r in rows if r.kind == "ike"), None)
    initial: list[int] = []
    first_child: list[int] = []
    liveness: list[float] = []
    rekeys: list[int] = []
    spis: list[str] = []
    ike_sas: list[str] = []
    for r in rows:
        if r.kind == "esp" and r.spi is not None:
            name = f"0x{r.spi:08x}"
            if name not in spis:
                spis.append(name)
            continue
        if r.kind != "ike":
            continue
        if r.spi_i not in ike_sas:
            ike_sas.append(r.spi_i)
        key = _key(r)
        if key in seen:
            resent.append(r.no)
            continue
        seen.add(key)
        if r.spi_i == first_spi and r.exchange in ("IKE_SA_INIT", "IKE_AUTH"):
            initial.append(r.no)
            if r.exchange == "IKE_AUTH" and "SA" in r.inner_payloads:
                first_child.append(r.no)
        if r.exchange == "INFORMATIONAL" and not r.is_response and r.decrypted and not r.inner_payloads:
            liveness.append(round(r.time, 6))
        if r.exchange == "CREATE_CHILD_SA" and not r.is_response:
            rekeys.append(r.no)
    first_esp = next((r.no for r in rows if r.kind == "esp"), 0)
    return TraceNotes(tuple(initial), tuple(resent), tuple(first_child), first_esp, tuple(liveness), tuple(rekeys),
                      tuple(spis), len(ike_sas))


def format_notes(notes: TraceNotes) -> str:
    """The notes as the lesson prints them."""
    gaps = [round(b - a, 3) for a, b in zip(notes.liveness, notes.liveness[1:])]
    return "\n".join([
        f"initial exchange: {len(notes.initial_exchange)} messages (packets {list(notes.initial_exchange)}), "
        f"plus {len(notes.retransmissions)} retransmission(s) (packets {list(notes.retransmissions)})",
        f"first CHILD SA: created by the IKE_AUTH pair (packets {list(notes.first_child)}); "
        f"first ESP packet: {notes.first_esp}",
        f"liveness checks (HDR, SK {{}}) at t = {list(notes.liveness)} s; gaps {gaps} s",
        f"CREATE_CHILD_SA requests: packets {list(notes.rekeys)}",
        f"ESP SPIs in order of appearance: {', '.join(notes.esp_spis)}",
        f"IKE SAs: {notes.ike_sas}",
    ])


def packet_detail(rows: Sequence[Any], no: int) -> str:
    """Packet number ``no`` as Wireshark's detail pane would summarise it."""
    rows = _flow.rows_of(rows)
    row = next((r for r in rows if r.no == no), None)
    if row is None:
        raise ConfigError(f"no packet number {no!r} (the trace has {len(rows)})", field="no", value=no)
    lines = [f"No. {row.no}  t = {row.time:.3f} s  {row.src} -> {row.dst}  {row.protocol}  {row.length} bytes",
             f"Info: {row.info}"]
    if row.kind == "ike":
        role = "initiator" if row.is_initiator else "responder"
        lines.append(f"SPIi {row.spi_i}  SPIr {row.spi_r}  Message ID {row.message_id}  "
                     f"{role} {'response' if row.is_response else 'request'}")
        lines.append(f"payloads: {row.summary}")
        if row.decrypted:
            lines.append(f"SK payload: ICV verified ({row.icv_ok}), decrypted with the ikev2_decryption_table keys")
    elif row.kind == "esp" and row.spi is not None:  # a truncated ESP packet has no SPI: its note says so
        lines.append(f"ESP SPI 0x{row.spi:08x}  sequence number {row.seq}")
        if row.inner_info:
            lines.append(f"decrypted with the esp_sa keys: {row.inner_src} -> {row.inner_dst} "
                         f"[{row.inner_protocol}] {row.inner_info}")
    if row.note:
        lines.append(f"note: {row.note}")
    return "\n".join(lines)


def _sized_figure(width: float, height: float) -> "Figure":
    from .figures import _import_matplotlib

    _import_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _shorter(label: str) -> str:
    """strongSwan's short names for the two NAT detection notifies, so arrow labels fit."""
    return label.replace("N(NAT_DETECTION_SOURCE_IP)", "N(NATD_S_IP)").replace(
        "N(NAT_DETECTION_DESTINATION_IP)", "N(NATD_D_IP)")


def flow_figure(rows: Sequence[Any], *, start: float = 0.0, end: float | None = None, title: str = "IKEv2 flow",
                names: dict[str, str] | None = None) -> "Figure":
    """The flow diagram (:func:`ikelab.flow.draw_flow`) of the packets sent in ``[start, end)``, ESP runs folded."""
    start, end = _flow.seconds_or_none("start", start) or 0.0, _flow.seconds_or_none("end", end)
    chosen = [r for r in _flow.rows_of(rows) if r.time >= start and (end is None or r.time < end)]
    arrows = [replace(a, label=_shorter(a.label)) for a in _flow.flow_arrows(chosen, fold=True)]
    fig = _sized_figure(9.0, 1.0 + 0.42 * max(len(arrows), 1))
    _flow.draw_flow(arrows, title=title, ax=fig.add_subplot(), names=names)
    groups = sorted({a.group.split(" ")[0] for a in arrows})
    fig.ikelab_alt = (f"Figure: {title}: {len(arrows)} arrows for {len(chosen)} packets "
                      f"({', '.join(groups)})")
    return fig


def timeline_figure(rows: Sequence[Any], *, title: str = "SA lifetimes") -> "Figure":
    """The IKE and ESP SA lifetimes (:func:`ikelab.flow.draw_timeline`) of the whole trace."""
    rows = _flow.rows_of(rows)
    spans = _flow.sa_spans(rows)
    arrows = _flow.flow_arrows(rows, fold=True)
    fig = _sized_figure(8.0, 0.9 + 0.3 * max(len(spans), 1))
    _flow.draw_timeline(spans, title=title, ax=fig.add_subplot(), colours={a.group: a.colour for a in arrows})
    n_ike = sum(s.kind == "IKE" for s in spans)
    fig.ikelab_alt = f"Figure: {title}: {n_ike} IKE SAs and {len(spans) - n_ike} ESP SAs"
    return fig


def show(fig: "Figure", *, dpi: int = FLOW_DPI) -> None:
    """Like :func:`ikelab.figures.show`, at ``dpi`` (the flow diagrams are tall)."""
    import base64

    from IPython.display import display

    from .figures import describe, png_bytes

    display({"image/png": base64.b64encode(png_bytes(fig, dpi=dpi)).decode("ascii"), "text/plain": describe(fig)},
            raw=True)
