"""Flow diagrams and SA timelines of a capture (the data, and matplotlib drawings of it).

Wireshark's Flow Graph draws one vertical line per endpoint and one arrow per
packet, with the time on the left and the Info text as the arrow's comment.
This module does the same for a dissected capture (:mod:`ikelab.dissect`) or
a lab trace, in two steps kept apart so that tests can check the data rather
than pixels:

* :func:`flow_arrows` returns the arrows -- ``Arrow(time, src, dst, label,
  group, count, ...)`` -- with exchanges grouped and coloured by ``group``:
  ``IKE_SA_INIT``, ``IKE_AUTH``, ``CREATE_CHILD_SA``, ``INFORMATIONAL`` and
  ``ESP 0x<SPI>`` (one colour per SPI).  In a long capture, a run of ESP
  packets between two IKE messages is *folded* into one arrow per SPI with a
  count, so 400 packets still read as a handful of arrows.
* :func:`sa_spans` returns the lifetime of each IKE SA and each ESP SA (as
  seen on the wire: from the exchange that negotiated it, or its first
  packet, to its Delete, or its last packet), which shows the overlap of old
  and new SAs during a rekey (RFC 7296 2.8).
* :func:`draw_flow` and :func:`draw_timeline` draw them; matplotlib is
  imported only there, so ``import ikelab`` never needs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import ConfigError, check_seconds

__all__ = ["Arrow", "GROUP_COLOURS", "SaSpan", "draw_flow", "draw_timeline", "endpoints", "flow_arrows",
           "rows_of", "sa_spans", "save_flow", "seconds_or_none", "wrap_summary"]

#: Colours of the IKE exchanges; ESP SPIs take theirs from ``_ESP_PALETTE`` in order of appearance.
GROUP_COLOURS = {
    "IKE_SA_INIT": "#1f77b4",
    "IKE_AUTH": "#2ca02c",
    "CREATE_CHILD_SA": "#ff7f0e",
    "INFORMATIONAL": "#9467bd",
    "other": "#7f7f7f",
}
_ESP_PALETTE = ("#8c564b", "#e377c2", "#17becf", "#bcbd22", "#d62728", "#393b79", "#637939", "#843c39")
AUTO_FOLD_ABOVE = 60  # rows; longer captures get their ESP runs folded
_IPSEC_KINDS = ("ike", "esp", "keepalive")  # dissect's kinds of the frames a flow diagram shows by default


@dataclass(frozen=True)
class Arrow:
    """One arrow of the flow diagram: ``count`` packets from ``src`` to ``dst`` (``count > 1``: folded ESP)."""

    time: float
    src: str
    dst: str
    label: str
    group: str
    count: int = 1
    end_time: float | None = None
    first_no: int = 0
    colour: str = "#7f7f7f"


@dataclass(frozen=True)
class SaSpan:
    """The time an SA is live on the wire: ``kind`` "IKE" or "ESP", its SPI(s) and direction."""

    kind: str
    name: str
    start: float
    end: float
    src: str = ""
    dst: str = ""
    deleted: bool = False


def rows_of(source: Any, keys: Any = None) -> list[Any]:
    """Dissection rows from a Dissection/list of rows, a :class:`~ikelab.trace.Trace` (or a list of its
    packets, such as a slice of one), or a capture path."""
    from .dissect import Row, dissect
    from .trace import Trace, TracePacket

    if isinstance(source, (list, tuple)) and (not source or isinstance(source[0], Row)):
        return list(source)
    if isinstance(source, (list, tuple)) and not isinstance(source, Trace) and isinstance(source[0], TracePacket):
        source = Trace(source)
    if hasattr(source, "ip_packets"):  # a lab Trace: dissect what a capture of it would hold
        from .pcap import LINKTYPE_RAW, CapturedPacket

        frames = [CapturedPacket(t, p, LINKTYPE_RAW) for t, p in source.ip_packets(include_lost=True)]
        return list(dissect(frames, keys))
    try:
        return list(dissect(source, keys))
    except ConfigError as exc:  # dissect's word for it is path_or_file: say the argument's
        if exc.field != "path_or_file":
            raise
        raise ConfigError(f"source must be dissected rows, a Trace, a capture path or a binary file, not "
                          f"{type(source).__name__}", field="source", value=source) from None


def seconds_or_none(name: str, value: Any) -> float | None:
    """``value`` as a time in seconds (a finite number), or None; ConfigError naming ``name`` otherwise."""
    return None if value is None else check_seconds(value, name)


def endpoints(rows: Sequence[Any]) -> list[str]:
    """The addresses of the IKE/ESP rows, in order of first appearance (the diagram's vertical lines).

    A capture without any gives the addresses of its first frame.
    """
    def addresses(chosen: Any) -> list[str]:
        seen: list[str] = []
        for r in chosen:
            for a in (r.src, r.dst):
                if a and a not in seen:
                    seen.append(a)
        return seen

    try:
        if isinstance(rows, (str, bytes, bytearray)):
            raise TypeError
        return addresses(r for r in rows if r.kind in _IPSEC_KINDS) or addresses(rows[:1])
    except (AttributeError, TypeError):  # checked only when it fails: a capture may have many rows
        raise ConfigError(f"endpoints: rows must be a list of dissected rows (ikelab.dissect), not "
                          f"{type(rows).__name__} {rows!r:.40}", field="rows", value=rows) from None


def _group(row: Any) -> str:
    if row.kind == "ike":
        return row.exchange if row.exchange in GROUP_COLOURS else "other"
    if row.kind == "esp" and row.spi is not None:
        return f"ESP 0x{row.spi:08x}"
    return "other"


def _label(row: Any) -> str:
    if row.kind == "ike" and row.summary:
        return f"{row.info}\n{row.summary}"
    if row.kind == "esp" and row.inner_info:
        return f"{row.info} [{row.inner_protocol}]"
    return row.info


def flow_arrows(source: Any, keys: Any = None, *, fold: bool | None = None,
                every_frame: bool = False) -> list[Arrow]:
    """The arrows of the flow diagram, in packet order (see the module docstring).

    ``fold``: True folds every run of ESP packets between two non-ESP rows
    into one arrow per SPI (``count`` packets, label ``ESP (SPI=0x...) x N``);
    False never folds; None (default) folds above AUTO_FOLD_ABOVE rows.
    Only IKE, ESP and NAT-keepalive frames are drawn, as Wireshark's Flow
    Graph limited to ``isakmp || esp || udpencap``: a capture taken on a LAN
    also holds ARP, Neighbor Discovery and pings outside any SA, whose MAC
    addresses would add lanes of their own.  ``every_frame`` draws them too.
    """
    rows = [r for r in rows_of(source, keys) if r.src and r.dst and (every_frame or r.kind in _IPSEC_KINDS)]
    if fold is None:
        fold = len(rows) > AUTO_FOLD_ABOVE
    colours: dict[str, str] = {}

    def colour(group: str) -> str:
        if group in GROUP_COLOURS:
            return GROUP_COLOURS[group]
        if group not in colours:
            colours[group] = _ESP_PALETTE[len(colours) % len(_ESP_PALETTE)]
        return colours[group]

    arrows: list[Arrow] = []
    run: dict[tuple[int, str, str], list[Any]] = {}

    def flush() -> None:
        for (spi, src, dst), items in run.items():
            first, last = items[0], items[-1]
            group = _group(first)
            if len(items) == 1:
                arrows.append(Arrow(first.time, src, dst, _label(first), group, 1, None, first.no, colour(group)))
            else:
                label = f"ESP (SPI=0x{spi:08x}) \u00d7{len(items)}"
                arrows.append(Arrow(first.time, src, dst, label, group, len(items), last.time, first.no, colour(group)))
        run.clear()

    for r in rows:
        group = _group(r)
        if fold and r.kind == "esp" and r.spi is not None:
            run.setdefault((r.spi, r.src, r.dst), []).append(r)
            continue
        if run:
            flush()
        arrows.append(Arrow(r.time, r.src, r.dst, _label(r), group, 1, None, r.no, colour(group)))
    if run:
        flush()
    arrows.sort(key=lambda a: (a.first_no))
    return arrows


def sa_spans(source: Any, keys: Any = None) -> list[SaSpan]:
    """The lifetime of every IKE SA and ESP SA seen in a capture, in order of start.

    An ESP SA starts at the message whose (decrypted) SA payload names its
    SPI, or at its first packet; it ends at the Delete naming it, or at the
    Delete of the IKE SA it belongs to, which takes its CHILD SAs with it
    (RFC 7296 1.4.1); else at its last packet.  An IKE SA runs from its
    IKE_SA_INIT request to its Delete (protocol IKE); else to its last
    message or the last packet of its CHILD SAs, whichever is later.  A
    rekeyed IKE SA hands its CHILD SAs to its successor (2.18), whose SPIs
    the SA payloads of the rekey name.
    """
    from .payloads import SA, Delete

    rows = rows_of(source, keys)
    ike: dict[tuple[str, str], list[Any]] = {}
    esp: dict[int, dict[str, Any]] = {}
    order: list[tuple[str, Any]] = []
    rekey_spi: dict[tuple[str, str], str] = {}  # IKE SA -> the SPIi its rekey request offered (2.18)

    def esp_entry(spi: int, t: float) -> dict[str, Any]:
        if spi not in esp:
            esp[spi] = {"start": t, "end": t, "src": "", "dst": "", "deleted": False, "ike": None}
            order.append(("ESP", spi))
        return esp[spi]

    for r in rows:
        if r.kind == "ike" and r.spi_i is not None:
            key = (r.spi_i, r.spi_r if r.spi_r != "0" * 16 else "")
            # the responder's SPI is unknown in the first request: attach it to the SA of the same SPIi
            match = next((k for k in ike if k[0] == r.spi_i and (k[1] in ("", key[1]) or key[1] == "")), None)
            if match is None:
                ike[key] = [r.time, r.time, False]
                order.append(("IKE", key))
            else:
                if match[1] == "" and key[1]:
                    ike[key] = ike.pop(match)
                    order[order.index(("IKE", match))] = ("IKE", key)
                    match = key
                span = ike[match]
                span[1] = max(span[1], r.time)
                key = match
            msg = r.message
            if msg is None:
                continue
            for p in msg.all_payloads:
                if isinstance(p, SA) and r.exchange in ("IKE_AUTH", "CREATE_CHILD_SA"):
                    for prop in p.proposals:
                        if len(prop.spi) == 4:
                            e = esp_entry(int.from_bytes(prop.spi, "big"), r.time)
                            e["start"] = min(e["start"], r.time)
                            e["ike"] = e["ike"] or key
                        elif len(prop.spi) == 8 and not r.is_response:  # an IKE SA rekey: the new SPIi
                            rekey_spi[key] = prop.spi.hex()
                        elif len(prop.spi) == 8 and key in rekey_spi:  # ... and the new SPIr: the successor
                            heir = (rekey_spi.pop(key), prop.spi.hex())
                            if heir not in ike:  # the new IKE SA exists from this response on
                                ike[heir] = [r.time, r.time, False]
                                order.append(("IKE", heir))
                            for e in esp.values():
                                if e["ike"] == key:
                                    e["ike"] = heir
                elif isinstance(p, Delete):
                    if int(p.protocol) == 1:
                        ike[key][2] = True
                        ike[key][1] = r.time
                        for e in esp.values():  # its CHILD SAs go with it (1.4.1)
                            if e["ike"] == key and not e["deleted"]:
                                e["deleted"], e["end"] = True, max(e["start"], r.time)
                    for spi in p.spis:
                        if len(spi) == 4:
                            e = esp_entry(int.from_bytes(spi, "big"), r.time)
                            if not e["deleted"]:
                                e["deleted"], e["end"] = True, r.time
        elif r.kind == "esp" and r.spi is not None:
            e = esp_entry(r.spi, r.time)
            if not e["src"]:
                e["src"], e["dst"] = r.src, r.dst
            if not e["deleted"]:
                e["end"] = max(e["end"], r.time)
    for e in esp.values():  # an IKE SA not deleted is alive while its CHILD SAs carry packets
        owner = ike.get(e["ike"]) if e["ike"] is not None else None
        if owner is not None and not owner[2]:
            owner[1] = max(owner[1], e["end"])
    spans = []
    for kind, key in order:
        if kind == "IKE":
            start, end, deleted = ike[key]
            spans.append(SaSpan("IKE", f"IKE {key[0][:8]}\u2026/{(key[1] or '?')[:8]}\u2026", start, end, "", "", deleted))
        else:
            e = esp[key]
            spans.append(SaSpan("ESP", f"ESP 0x{key:08x}", e["start"], e["end"], e["src"], e["dst"], e["deleted"]))
    spans.sort(key=lambda s: (s.start, s.kind != "IKE"))
    return spans


# --------------------------------------------------------------------------- drawing


def _plt() -> Any:
    """matplotlib, or ConfigError saying how to get it (figures are drawn without pyplot)."""
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - optional dependency
        raise ConfigError("drawing needs matplotlib: pip install matplotlib", field="matplotlib") from None
    return matplotlib


def _drawing_args(function: str, items: Any, kind: type, field: str, ax: Any, mapping: Any,
                  mapping_field: str) -> list[Any]:
    """``items`` as a list of ``kind``, after checking ``ax`` (an Axes or None) and ``mapping`` (a dict or None);
    ConfigError naming the argument that is not."""
    from matplotlib.axes import Axes

    if isinstance(items, (str, bytes, bytearray)) or not hasattr(items, "__iter__"):
        raise ConfigError(f"{function}: {field} must be a list of {kind.__name__}, not {type(items).__name__}",
                          field=field, value=items)
    items = list(items)
    for item in items:
        if not isinstance(item, kind):
            raise ConfigError(f"{function}: {field} must be a list of {kind.__name__}, but one is "
                              f"{type(item).__name__} {item!r:.40}", field=field, value=item)
    if ax is not None and not isinstance(ax, Axes):
        raise ConfigError(f"{function}: ax must be a matplotlib Axes (or None for a new figure), not "
                          f"{type(ax).__name__}", field="ax", value=ax)
    if mapping is not None and not isinstance(mapping, Mapping):
        raise ConfigError(f"{function}: {mapping_field} must be a dict (or None), not {type(mapping).__name__}",
                          field=mapping_field, value=mapping)
    return items


def draw_flow(arrows: Sequence[Arrow], *, title: str = "IKEv2 flow", ax: Any = None, names: dict[str, str] | None = None) -> Any:
    """Draw the arrows as Wireshark's Flow Graph: endpoints as vertical lines, time on the left.

    Returns the matplotlib Figure.  ``names`` relabels endpoints (e.g.
    ``{"192.0.2.1": "moon"}``).  A long summary is cut after commas into a
    few lines (:func:`wrap_summary`), and its arrow gets the room they take.
    """
    _plt()
    from matplotlib.figure import Figure

    arrows = _drawing_args("draw_flow", arrows, Arrow, "arrows", ax, names, "names")
    hosts: list[str] = []
    for a in arrows:
        for h in (a.src, a.dst):
            if h not in hosts:
                hosts.append(h)
    xs = {h: i for i, h in enumerate(hosts)}
    summaries = [wrap_summary(a.label.split("\n", 1)[1], SUMMARY_CHARS_PER_LANE * max(abs(xs[a.dst] - xs[a.src]), 1))
                 if "\n" in a.label else [] for a in arrows]
    ys, y = [], 0.5
    for lines in summaries:  # one unit per arrow, and room for each summary line past the first
        ys.append(y)
        y += 1 + EXTRA_LINE_HEIGHT * max(len(lines) - 1, 0)
    n = max(y - 0.5, 1)
    if ax is None:
        fig = Figure(figsize=(4.0 + 4.2 * max(len(hosts) - 1, 1), 1.2 + 0.42 * n))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    ax.set_xlim(-0.9, max(len(hosts) - 1, 1) + 0.2)
    ax.set_ylim(n + 0.3, -0.9)
    ax.axis("off")
    for h, x in xs.items():
        ax.plot([x, x], [-0.4, n], color="#444444", lw=1.0)
        ax.text(x, -0.6, (names or {}).get(h, h), ha="center", va="bottom", fontsize=9, fontweight="bold")
    for a, y, lines in zip(arrows, ys, summaries):
        x0, x1 = xs[a.src], xs[a.dst]
        lw = 1.2 if a.count == 1 else 1.2 + min(3.0, a.count / 10)
        ax.annotate("", xy=(x1, y), xytext=(x0, y),
                    arrowprops=dict(arrowstyle="-|>", color=a.colour, lw=lw, shrinkA=0, shrinkB=0))
        when = f"{a.time:.3f}" if a.end_time is None else f"{a.time:.3f}\u2013{a.end_time:.3f}"
        ax.text(-0.85, y, when, ha="left", va="center", fontsize=7, family="monospace", color="#333333")
        ax.text((x0 + x1) / 2, y - 0.08, a.label.split("\n")[0], ha="center", va="bottom", fontsize=7, color=a.colour)
        if lines:
            ax.text((x0 + x1) / 2, y + 0.08, "\n".join(lines), ha="center", va="top", fontsize=6, color="#333333")
    ax.set_title(title, fontsize=10)
    return fig


#: Characters of a 6-point summary line that fit between two neighbouring lanes (4.2 inches apart).
SUMMARY_CHARS_PER_LANE = 90
#: Lines a summary may take under its arrow, and the room (in arrows) each line past the first adds.
SUMMARY_LINES = 4
EXTRA_LINE_HEIGHT = 0.28


def wrap_summary(text: str, width: int, lines: int = SUMMARY_LINES) -> list[str]:
    """``HDR, SK {IDi, AUTH, ...}`` cut after commas into at most ``lines`` lines of ``width`` characters.

    strongSwan's messages carry many notifies, and one line would run past the
    lanes; what does not fit in ``lines`` lines ends in an ellipsis.
    """
    if not isinstance(text, str):
        raise ConfigError(f"wrap_summary: text must be str, not {type(text).__name__}", field="text", value=text)
    for name, value in (("width", width), ("lines", lines)):
        if value.__class__ is bool or not isinstance(value, int) or value < 1:
            raise ConfigError(f"wrap_summary: {name} must be an int >= 1, not {value!r:.40}", field=name, value=value)
    out: list[str] = []
    for part in text.split(", "):
        if out and len(out[-1]) + 2 + len(part) <= width:
            out[-1] += ", " + part
        else:
            if out:
                out[-1] += ","
            out.append(part)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1].rstrip(",") + ", \u2026"
    return out


def draw_timeline(spans: Sequence[SaSpan], *, title: str = "SA lifetimes", ax: Any = None,
                  colours: dict[str, str] | None = None) -> Any:
    """Draw one horizontal bar per SA (IKE SAs and ESP SAs), so rekey overlaps show; returns the Figure.

    ``colours`` maps ``"ESP 0x..."`` to a colour (as the flow diagram's arrows have them).
    """
    _plt()
    from matplotlib.figure import Figure

    spans = _drawing_args("draw_timeline", spans, SaSpan, "spans", ax, colours, "colours")
    n = max(len(spans), 1)
    if ax is None:
        fig = Figure(figsize=(9.0, 1.0 + 0.35 * n))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    for i, s in enumerate(spans):
        colour = GROUP_COLOURS["IKE_AUTH"] if s.kind == "IKE" else \
            (colours or {}).get(s.name, _ESP_PALETTE[i % len(_ESP_PALETTE)])
        width = max(s.end - s.start, 0.05)
        ax.barh(i, width, left=s.start, height=0.6, color=colour, alpha=0.8)
        direction = f"  {s.src} \u2192 {s.dst}" if s.src else ""
        ax.text(s.start + width + 0.1, i, s.name + direction + ("  (deleted)" if s.deleted else ""), va="center",
                fontsize=7)
    ax.set_yticks([])
    ax.invert_yaxis()
    ax.set_xlabel("time (s); a bar ends at its SA's Delete, else at the last packet seen")
    ax.set_title(title, fontsize=10)
    return fig


def _check_image_format(path: Any) -> None:
    """ConfigError unless matplotlib can write the format that ``path``'s suffix names (none: PNG).

    A binary file object is also accepted; matplotlib writes PNG into it.
    """
    from matplotlib.backend_bases import FigureCanvasBase

    if hasattr(path, "write"):
        return
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"the figure's path must be a file name or a binary file, not {type(path).__name__}",
                          field="path", value=type(path).__name__)
    suffix = Path(path).suffix.lstrip(".").lower()
    formats = FigureCanvasBase.get_supported_filetypes()
    if suffix and suffix not in formats:
        raise ConfigError(f"cannot write a figure as .{suffix} ({str(path)!r}); use one of: "
                          f"{', '.join('.' + f for f in sorted(formats))}", field="path", value=str(path))


def save_flow(source: Any, path: Any, keys: Any = None, *, fold: bool | None = None, timeline: bool = False,
              title: str = "IKEv2 flow", every_frame: bool = False) -> list[Arrow]:
    """Draw the flow diagram of ``source`` (and, with ``timeline``, the SA lifetimes) into ``path``.

    The format follows the file name (``.png``, ``.svg``, ``.pdf``); ``every_frame`` as in
    :func:`flow_arrows`.  Returns the arrows drawn.
    """
    _plt()
    _check_image_format(path)
    rows = rows_of(source, keys)
    arrows = flow_arrows(rows, fold=fold, every_frame=every_frame)
    fig = draw_flow(arrows, title=title)
    if timeline:
        from matplotlib.figure import Figure

        spans = sa_spans(rows)
        n = len(arrows)
        big = Figure(figsize=(10.0, 1.6 + 0.42 * n + 0.35 * len(spans)))
        gs = big.add_gridspec(2, 1, height_ratios=[max(n, 1) * 0.42 + 1, len(spans) * 0.35 + 1])
        draw_flow(arrows, title=title, ax=big.add_subplot(gs[0]))
        draw_timeline(spans, ax=big.add_subplot(gs[1]), colours={a.group: a.colour for a in arrows})
        fig = big
    # no suffix: PNG into exactly that file (matplotlib would write "path.png" instead)
    png = hasattr(path, "write") or Path(path).suffix.lower() in ("", ".png")
    try:
        fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None} if png else None,
                    format="png" if png else None)
    except OSError as exc:
        raise ConfigError(f"cannot write the figure to {str(path)!r}: {exc.strerror or exc}", field="path",
                          value=str(path)) from None
    return arrows
