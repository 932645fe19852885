"""Figures and tables for lesson 09, ESP (RFC 4303) and AH (RFC 4302).

The ESP packet (RFC 4303 2, figure 1)::

    SPI (4) | Sequence Number (4) | IV | encrypted( Payload | Padding | Pad Length | Next Header ) | ICV

Everything here arranges what :mod:`ikelab.esp`, :mod:`ikelab.replay` and
:mod:`ikelab.ah` compute:

* :func:`esp_layout` cuts a real ESP packet into its fields, with the
  decrypted trailer (:class:`ikelab.esp.EspTrailer`) when it is given;
  :func:`layout_figure` draws it as a bar;
* :func:`replay_steps` feeds arrival sequence numbers through
  :class:`ikelab.replay.ReplayWindow` (check, then update, RFC 4303 3.4.3)
  and records each verdict; :func:`replay_view` says what the final window
  looks like, :func:`replay_figure` draws it, and :class:`ReplayCanvas`
  redraws one figure in place for the widget of :mod:`ikelab.widgets_esp`;
* :func:`nat_rewrite_source` does what a NAT does to an IPv4 packet (new
  source address, header checksum fixed), for the AH-versus-ESP contrast.
"""

from __future__ import annotations

import io
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

from . import packet as _ip
from .errors import ConfigError, ReplayError
from .esp import EspTrailer
from .fmt import short_hex
from .figures import _new_figure
from .replay import ReplayWindow

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure
    from matplotlib.text import Text

__all__ = ["EspField", "ReplayCanvas", "ReplayStep", "ReplayView", "esp_layout", "format_layout", "format_replay",
           "layout_figure", "nat_rewrite_source", "parse_arrivals", "replay_figure", "replay_steps", "replay_view"]


@dataclass(frozen=True)
class EspField:
    """One field of an ESP packet: where it is, how long, its bytes, and whether it travels encrypted."""

    name: str
    offset: int
    length: int
    value: bytes
    encrypted: bool = False


def esp_layout(packet: bytes, *, iv_len: int, icv_len: int, trailer: EspTrailer | None = None) -> list[EspField]:
    """The fields of ``packet`` (SPI .. ICV).  With ``trailer`` (the decrypted parts) the encrypted
    region is split into Payload, Padding, Pad Length and Next Header, showing their plaintext values."""
    packet = bytes(packet)
    for name, value in (("iv_len", iv_len), ("icv_len", icv_len)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{name} must be a non-negative int, got {value!r}", field=name, value=value)
    body = len(packet) - 8 - iv_len - icv_len
    if body < 2:
        raise ConfigError(f"an ESP packet of {len(packet)} bytes is too short for IV {iv_len} and ICV {icv_len}",
                          field="packet", value=len(packet))
    fields = [EspField("SPI", 0, 4, packet[0:4]), EspField("Sequence Number", 4, 4, packet[4:8])]
    at = 8
    if iv_len:
        fields.append(EspField("IV", at, iv_len, packet[at:at + iv_len]))
        at += iv_len
    if trailer is None:
        fields.append(EspField("encrypted data", at, body, packet[at:at + body], True))
    else:
        parts = [("Payload", trailer.payload), ("Padding", trailer.padding),
                 ("Pad Length", bytes([trailer.pad_length])), ("Next Header", bytes([trailer.next_header]))]
        if sum(len(v) for _, v in parts) != body:
            raise ConfigError(f"the trailer's {sum(len(v) for _, v in parts)} bytes do not fill the {body} encrypted "
                              "bytes of this packet", field="trailer", value=body)
        for name, value in parts:
            if value:
                fields.append(EspField(name, at, len(value), value, True))
            at += len(value)
        at = 8 + iv_len + body
    if icv_len:
        fields.append(EspField("ICV", len(packet) - icv_len, icv_len, packet[-icv_len:]))
    return fields


def format_layout(fields: Sequence[EspField]) -> str:
    """The fields as a table: offset, length, name, value (plaintext of the encrypted ones marked *)."""
    lines = ["offset  len  field             value"]
    for f in fields:
        value = short_hex(f.value) if len(f.value) > 16 else f.value.hex()
        if f.name in ("Pad Length", "Next Header"):
            value = f"{f.value[0]}"
            if f.name == "Next Header":
                value += {4: " (IPv4: tunnel mode)", 41: " (IPv6: tunnel mode)", 1: " (ICMP)", 6: " (TCP)",
                          17: " (UDP)", 59: " (no next header: dummy)"}.get(f.value[0], "")
        lines.append(f"{f.offset:6}  {f.length:3}  {f.name + (' *' if f.encrypted else ''):<16}  {value}")
    lines.append("* sent encrypted; the plaintext is shown")
    return "\n".join(lines)


_COLOURS = {"SPI": "#4c72b0", "Sequence Number": "#64b5cd", "IV": "#8c8c8c", "Payload": "#55a868",
            "Padding": "#ccb974", "Pad Length": "#dd8452", "Next Header": "#c44e52", "ICV": "#8172b3",
            "encrypted data": "#55a868"}


def layout_figure(fields: Sequence[EspField], *, title: str = "ESP packet") -> "Figure":
    """The packet as one bar, each field's width proportional to its length (encrypted part hatched)."""
    fig = _new_figure(9, 2.3)
    ax = fig.add_subplot()
    total = fields[-1].offset + fields[-1].length
    enc = [f for f in fields if f.encrypted]
    for i, f in enumerate(fields):
        ax.barh(0, f.length, left=f.offset, height=0.6, color=_COLOURS.get(f.name, "#8c8c8c"),
                edgecolor="white", hatch="//" if f.encrypted else None)
        y = (0.6, -0.6, 1.05, -1.05)[i % 4] if f.length < 8 else (0.6 if i % 2 else -0.6)
        ax.text(f.offset + f.length / 2, y, f"{f.name}\n{f.length} B", ha="center", va="center", fontsize=7)
    if enc:
        start, end = enc[0].offset, enc[-1].offset + enc[-1].length
        ax.annotate("", xy=(start, -1.45), xytext=(end, -1.45), arrowprops=dict(arrowstyle="<->", lw=0.8))
        ax.text((start + end) / 2, -1.55, "encrypted", ha="center", va="top", fontsize=7)
    icv = next((f for f in fields if f.name == "ICV"), None)
    if icv is not None:
        ax.annotate("", xy=(0, 1.5), xytext=(icv.offset, 1.5), arrowprops=dict(arrowstyle="<->", lw=0.8))
        ax.text(icv.offset / 2, 1.6, "covered by the ICV", ha="center", va="bottom", fontsize=7)
    ax.set_xlim(0, total)
    ax.set_ylim(-1.9, 1.9)
    ax.set_yticks([])
    ax.set_xlabel("byte offset", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.ikelab_alt = (f"Figure: {title}, {total} bytes: "
                      + ", ".join(f"{f.name} {f.length}" for f in fields))
    return fig


# --------------------------------------------------------------------------- the replay window


@dataclass(frozen=True)
class ReplayStep:
    """One arrival: its sequence number, the verdict, and the window after it."""

    seq: int
    accepted: bool
    reason: str
    top: int
    seen: tuple[int, ...]


def parse_arrivals(text: str) -> list[int]:
    """Sequence numbers from text such as ``"1 2 3, 5 4"`` (ConfigError naming the bad token).

    Each is a decimal number that fits the 32-bit Sequence Number field (RFC 4303 2.2); 0 is read (the window
    drops it), other digits than 0-9 (such as "²", which ``str.isdigit`` accepts) are not.
    """
    out = []
    for token in text.replace(",", " ").split():
        if not (token.isascii() and token.isdigit()):
            raise ConfigError(f"sequence number {token!r} is not a non-negative integer", field="arrivals", value=token)
        if int(token) > 0xFFFFFFFF:
            raise ConfigError(f"sequence number {token} does not fit the 32-bit Sequence Number field "
                              "(RFC 4303 2.2)", field="arrivals", value=token)
        out.append(int(token))
    return out


def replay_steps(arrivals: Iterable[int], *, size: int = 32) -> list[ReplayStep]:
    """Each arrival through the anti-replay window: ``check`` (never changes state), then ``update``
    (RFC 4303 3.4.3; here every packet's ICV is taken as valid)."""
    if isinstance(arrivals, (str, bytes)) or not isinstance(arrivals, Iterable):
        raise ConfigError(f"arrivals must be a list of sequence numbers, not {type(arrivals).__name__}",
                          field="arrivals", value=arrivals)
    window = ReplayWindow(size)
    steps = []
    for seq in arrivals:
        try:
            window.check(seq)
        except ReplayError as exc:
            state = window.state()
            steps.append(ReplayStep(seq, False, str(exc), state.top, state.seen))
            continue
        window.update(seq)
        state = window.state()
        steps.append(ReplayStep(seq, True, "", state.top, state.seen))
    return steps


def format_replay(steps: Sequence[ReplayStep], size: int) -> str:
    """The arrivals as a table: verdict, window edges after it, and the reason for a drop."""
    lines = [f"window size W = {size}", " seq  verdict   window after      reason"]
    for s in steps:
        low = max(s.top - size + 1, 1) if s.top else 0
        edges = f"[{low}..{s.top}]" if s.top else "(empty)"
        lines.append(f"{s.seq:4}  {'accept' if s.accepted else 'DROP':<8}  {edges:<16}  {s.reason}")
    return "\n".join(lines)


@dataclass(frozen=True)
class ReplayView:
    """What the replay-window figure shows: the W cells ending at the top, after the last arrival."""

    size: int
    top: int
    cells: tuple[tuple[int, bool], ...]   # (sequence number, received), from the left edge to the top
    labels: tuple[int, ...]               # positions in ``cells`` whose sequence number is written under them
    arrivals: int
    dropped: int

    @property
    def received(self) -> int:
        """How many sequence numbers inside the window have been received."""
        return sum(received for _, received in self.cells)

    @property
    def title(self) -> str:
        """The figure's title line."""
        return (f"anti-replay window after {self.arrivals} arrivals (W = {self.size}): green = received, "
                f"grey = still acceptable; {self.dropped} dropped")

    @property
    def alt(self) -> str:
        """The plain-text description stored beside the PNG (nbval compares it)."""
        return (f"Figure: replay window W={self.size}, top {self.top}, {self.received} received in the window, "
                f"{self.dropped} of {self.arrivals} arrivals dropped")


def replay_view(steps: Sequence[ReplayStep], size: int) -> ReplayView:
    """The window after the last of ``steps`` (empty before the first accepted arrival), with the cells to label:
    the edges, and every 1st, 5th or 50th sequence number as the window holds up to 16, 64 or more cells."""
    last = steps[-1] if steps else ReplayStep(0, True, "", 0, ())
    top = last.top
    low = max(top - size + 1, 1)
    seen = set(last.seen)
    shown = range(low, top + 1) if top else range(0)
    every = 1 if len(shown) <= 16 else (5 if len(shown) <= 64 else 50)
    return ReplayView(size=size, top=top, cells=tuple((seq, seq in seen) for seq in shown),
                      labels=tuple(x for x, seq in enumerate(shown) if seq in (low, top) or seq % every == 0),
                      arrivals=len(steps), dropped=sum(not s.accepted for s in steps))


_RECEIVED, _ACCEPTABLE = "#55a868", "#eeeeee"


class ReplayCanvas:
    """One replay-window figure, redrawn in place: :meth:`draw` moves and recolours its cells and rewrites its
    labels and title, :meth:`png` renders it at a fixed size (no new figure, no layout pass: fast enough for a
    widget callback).  The same view always gives the same PNG, whatever was drawn before."""

    def __init__(self) -> None:
        from matplotlib.collections import PolyCollection

        self.figure = _new_figure(9, 1.6, constrained=False)
        self._ax = self.figure.add_axes((0.01, 0.02, 0.98, 0.78))
        self._ax.axis("off")
        self._ax.set_ylim(-1.2, 1.3)
        self._cells = PolyCollection([], edgecolors="#8c8c8c", linewidths=0.5)
        self._ax.add_collection(self._cells, autolim=False)
        self._labels: list["Text"] = []
        self._title = self.figure.text(0.5, 0.96, "", ha="center", va="top", fontsize=8)
        self.view: ReplayView | None = None

    def draw(self, view: ReplayView) -> "ReplayCanvas":
        """Show ``view``: one cell per sequence number of the window, received ones green."""
        n = len(view.cells)
        self._cells.set_verts([((x + 0.05, 0.0), (x + 0.95, 0.0), (x + 0.95, 0.9), (x + 0.05, 0.9))
                               for x in range(n)])
        self._cells.set_facecolor([_RECEIVED if received else _ACCEPTABLE for _, received in view.cells])
        while len(self._labels) < len(view.labels):
            self._labels.append(self._ax.text(0, -0.35, "", ha="center", va="top", fontsize=6))
        for i, label in enumerate(self._labels):
            if i < len(view.labels):
                x = view.labels[i]
                label.set_position((x + 0.5, -0.35))
                label.set_text(str(view.cells[x][0]))
            label.set_visible(i < len(view.labels))
        self._ax.set_xlim(-0.5, max(n, 1) + 0.5)
        self._title.set_text(view.title)
        self.figure.ikelab_alt = view.alt  # type: ignore[attr-defined]
        self.view = view
        return self

    def png(self, *, dpi: int = 60) -> bytes:
        """The figure as PNG bytes (its full size: no tight cropping, which would draw it twice)."""
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
        return buf.getvalue()


def replay_figure(steps: Sequence[ReplayStep], size: int) -> "Figure":
    """The window after the last arrival: W cells ending at the top, received ones filled."""
    return ReplayCanvas().draw(replay_view(steps, size)).figure


# --------------------------------------------------------------------------- AH and NAT


def nat_rewrite_source(packet: bytes, new_src: str) -> bytes:
    """An IPv4 packet as a NAT forwards it: new source address, header checksum recomputed (RFC 791)."""
    pkt = _ip.parse_ip(packet)
    if pkt.version != 4:
        raise ConfigError("nat_rewrite_source handles IPv4 packets only", field="packet", value=pkt.version)
    try:
        src = ipaddress.IPv4Address(new_src).packed
    except ValueError:
        raise ConfigError(f"{new_src!r} is not an IPv4 address", field="new_src", value=new_src) from None
    data = bytearray(packet)
    ihl = (data[0] & 0x0F) * 4
    data[12:16] = src
    data[10:12] = b"\x00\x00"
    data[10:12] = _ip.internet_checksum(bytes(data[:ihl])).to_bytes(2, "big")
    return bytes(data)
