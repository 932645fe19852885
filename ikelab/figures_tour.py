"""The tour of the course (lesson 00): the classic trace, its packets, and the map of the lessons.

RFC 7296 section 1.2: the initial exchange is four messages, IKE_SA_INIT
then IKE_AUTH, and IKE_AUTH also creates the first CHILD SA::

    Initiator                         Responder
    HDR, SAi1, KEi, Ni         -->
                               <--    HDR, SAr1, KEr, Nr, [CERTREQ]
    HDR, SK {IDi, [CERT,] [CERTREQ,] [IDr,] AUTH, SAi2, TSi, TSr}  -->
                               <--    HDR, SK {IDr, [CERT,] AUTH, SAr2, TSi, TSr}

Two layers, as in :mod:`ikelab.figures`: pure data functions over the rows
of a dissected trace (:class:`ikelab.dissect.Row`), tested in
``tests/test_figures_tour.py``, and drawing functions returning a matplotlib
Figure (matplotlib is imported only there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from .constants import ProtocolId
from .errors import ConfigError
from .flow import rows_of, seconds_or_none
from .payloads import Delete

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["LESSONS", "Lesson", "initial_exchange_messages", "lesson_map", "lessons_for", "packet_detail", "show",
           "tour_flow_figure", "tour_rows"]


@dataclass(frozen=True)
class Lesson:
    """One lesson of the course and the packets of the classic trace it explains.

    ``explains`` holds row groups: an exchange name (``"IKE_SA_INIT"``,
    ``"IKE_AUTH"``, ``"CREATE_CHILD_SA"``, ``"INFORMATIONAL"``), an
    INFORMATIONAL exchange by what it does (``"INFORMATIONAL/delete-child"``,
    ``"INFORMATIONAL/delete-ike"``, ``"INFORMATIONAL/liveness"``), ``"ESP"``,
    or ``"*"`` for every packet.
    """

    number: str
    slug: str
    title: str
    explains: tuple[str, ...]
    looks_at: str


#: The course, in order (the lesson list of notebooks/README.md).
LESSONS: tuple[Lesson, ...] = (
    Lesson("00", "00-tour", "A tour of IKEv2", ("*",), "the whole trace, once, from far away"),
    Lesson("01", "01-why-ike-and-ipsec-architecture", "Why IKE, and the IPsec architecture", ("ESP",),
           "why ESP needs keys managed automatically; the SPD and SAD each ESP packet goes through"),
    Lesson("02", "02-diffie-hellman", "Diffie-Hellman", ("IKE_SA_INIT",), "KEi and KEr, and g^ir"),
    Lesson("03", "03-perfect-forward-secrecy", "Perfect forward secrecy", ("CREATE_CHILD_SA",),
           "a fresh Diffie-Hellman (or not) in CREATE_CHILD_SA"),
    Lesson("04", "04-prf-plus", "prf and prf+", (), "the function behind every key (no packet of its own)"),
    Lesson("05", "05-ike-sa-init", "IKE_SA_INIT and the key schedule", ("IKE_SA_INIT",),
           "SAi1, KEi, Ni and the answer; SKEYSEED and the seven SK_* keys"),
    Lesson("06", "06-ike-auth", "IKE_AUTH", ("IKE_AUTH",), "SK {IDi, AUTH, SAi2, TSi, TSr}: AUTH and the first CHILD SA"),
    Lesson("07", "07-create-child-sa-and-rekeying", "CREATE_CHILD_SA and rekeying",
           ("CREATE_CHILD_SA", "INFORMATIONAL/delete-child", "INFORMATIONAL"),
           "new SPIs, KEYMAT, and the Delete of the old SA"),
    Lesson("08", "08-algorithm-negotiation", "Algorithm negotiation", ("IKE_SA_INIT", "IKE_AUTH"),
           "the SA payloads: proposals and transforms"),
    Lesson("09", "09-esp", "ESP", ("ESP",), "SPI, sequence number, IV, padding, ICV"),
    Lesson("10", "10-the-wireshark-trace", "The Wireshark trace",
           ("*", "INFORMATIONAL/liveness", "INFORMATIONAL/delete-ike"),
           "the capture, the key tables and Wireshark itself"),
    Lesson("11", "11-comments-on-ikev2", "Comments on IKEv2", ("IKE_SA_INIT", "IKE_AUTH"),
           "message counts against IKEv1; minimal IKEv2"),
)


def tour_rows(scenario: Any) -> list[Any]:
    """The dissected rows of a :class:`ikelab.scenario.Scenario` (its trace, decrypted with its key tables)."""
    if not (hasattr(scenario, "trace") and hasattr(scenario, "tables")):
        raise ConfigError(f"tour_rows() takes a scenario, such as ikelab.scenario.classic(), not "
                          f"{type(scenario).__name__}", field="scenario", value=scenario)
    return rows_of(scenario.trace, scenario.tables)


def _group(row: Any, rows: Sequence[Any] = ()) -> str:
    if row.kind == "ike":
        if row.exchange == "INFORMATIONAL":
            return _informational(row, rows)
        return str(row.exchange)
    if row.kind == "esp":
        return "ESP"
    return row.kind


def _informational(row: Any, rows: Sequence[Any]) -> str:
    """What an INFORMATIONAL exchange does, read from its request (RFC 7296 1.4): a response is judged by
    the request it answers, since the answer to an IKE SA's Delete is empty, as a liveness check's is."""
    request = row
    if row.is_response:
        request = next((r for r in rows if r.kind == "ike" and r.exchange == row.exchange and not r.is_response
                        and (r.spi_i, r.spi_r, r.message_id) == (row.spi_i, row.spi_r, row.message_id)), row)
    sk = request.message.payloads[-1] if request.message is not None and request.message.payloads else None
    inner = getattr(sk, "inner", None)
    if inner is None:  # not decrypted: nothing to tell
        return "INFORMATIONAL"
    deletes = [p for p in inner if isinstance(p, Delete)]
    if deletes:
        return "INFORMATIONAL/delete-ike" if any(int(d.protocol) == ProtocolId.IKE for d in deletes) \
            else "INFORMATIONAL/delete-child"
    return "INFORMATIONAL/liveness" if not inner else "INFORMATIONAL"


def lessons_for(row: Any, rows: Sequence[Any] = ()) -> list[Lesson]:
    """The lessons that explain this packet (``"*"`` lessons excepted); ``rows``, the trace it is in, tells
    what an INFORMATIONAL response answers."""
    group = _group(row, rows)
    return [lesson for lesson in LESSONS if group in lesson.explains]


def lesson_map(rows: Sequence[Any]) -> list[tuple[Lesson, list[int]]]:
    """For every lesson, the numbers of the rows (packets) of the trace it explains."""
    rows = rows_of(rows)
    out = []
    for lesson in LESSONS:
        if "*" in lesson.explains:
            nos = [r.no for r in rows]
        else:
            nos = [r.no for r in rows if _group(r, rows) in lesson.explains]
        out.append((lesson, nos))
    return out


def _ranges(nos: Sequence[int], limit: int = 6) -> str:
    """``[1, 2, 3, 7, 9, 10]`` -> ``"1-3, 7, 9-10"`` (at most ``limit`` ranges, then ``...``)."""
    if not nos:
        return "-"
    parts: list[str] = []
    start = prev = nos[0]
    for n in list(nos[1:]) + [None]:  # type: ignore[list-item]
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    more = len(parts) > limit
    return ", ".join(parts[:limit]) + (", ..." if more else "")


def format_lesson_map(rows: Sequence[Any]) -> str:
    """The map of the lessons as a text table: lesson, title, packets of the trace, what it looks at."""
    from .figures import text_table

    table = [(lesson.number, lesson.title, _ranges(nos) if nos else "(none)", lesson.looks_at)
             for lesson, nos in lesson_map(rows)]
    return text_table(["lesson", "title", "packets", "what it looks at"], table)


def initial_exchange_messages(rows: Sequence[Any]) -> list[Any]:
    """The distinct messages of the first IKE SA's initial exchange (IKE_SA_INIT and IKE_AUTH, RFC 7296 1.2).

    A retransmission (RFC 7296 2.1) repeats a message byte for byte with the
    same Message ID: it is the same message again, so it is counted once.
    """
    ike = [r for r in rows if r.kind == "ike"]
    if not ike:
        raise ConfigError("the rows hold no IKE message", field="rows", value=len(rows))
    spi_i = ike[0].spi_i
    seen: dict[tuple[str, int, bool], Any] = {}
    for r in ike:
        if r.spi_i == spi_i and r.exchange in ("IKE_SA_INIT", "IKE_AUTH"):
            seen.setdefault((r.exchange, r.message_id, bool(r.is_response)), r)
    return list(seen.values())


def packet_detail(rows: Sequence[Any], no: int) -> str:
    """What one packet of the trace is: its line in the packet list, its payloads, and the lessons about it."""
    rows = rows_of(rows)
    row = next((r for r in rows if r.no == no), None)
    if row is None:
        raise ConfigError(f"no packet number {no} in the trace (1..{len(rows)})", field="no", value=no)
    lines = [f"No. {row.no}  t = {row.time:.3f} s  {row.src} -> {row.dst}  {row.protocol}, {row.length} bytes",
             f"Info: {row.info}"]
    if row.note:
        lines.append(f"Note: {row.note}")
    if row.kind == "ike":
        lines.append(f"SPIi {row.spi_i}  SPIr {row.spi_r}  Message ID {row.message_id}"
                     f"  ({'response' if row.is_response else 'request'},"
                     f" {'from the original initiator' if row.is_initiator else 'from the original responder'})")
        if row.summary:
            lines.append(f"RFC 7296 notation: {row.summary}")
        if row.decrypted:
            lines.append("The SK payload was decrypted with the trace's key table (Wireshark can do the same).")
    elif row.kind == "esp":
        lines.append(f"SPI 0x{row.spi:08x}  sequence number {row.seq}")
        if row.inner_info:
            lines.append(f"Inside (decrypted): {row.inner_protocol} {row.inner_src} -> {row.inner_dst}  {row.inner_info}")
    about = lessons_for(row, rows)
    if about:
        lines.append("Explained in: " + "; ".join(f"lesson {x.number} ({x.title})" for x in about))
    return "\n".join(lines)


# --- drawing ---------------------------------------------------------------------------------

#: Flow diagrams are tall: they are stored at this lower resolution to stay under the 64 KB per output.
FLOW_DPI = 64


def show(fig: "Figure", *, dpi: int = FLOW_DPI) -> None:
    """:func:`ikelab.figures.show`, at ``dpi`` (a PNG plus the one-line text description)."""
    import base64

    from IPython.display import display

    from . import figures as _figures

    data = {"image/png": base64.b64encode(_figures.png_bytes(fig, dpi=dpi)).decode("ascii"),
            "text/plain": _figures.describe(fig)}
    display(data, raw=True)



def tour_flow_figure(rows: Sequence[Any], *, upto: float | None = None, names: dict[str, str] | None = None,
                     title: str = "The classic trace") -> "Figure":
    """The flow diagram of the rows sent before ``upto`` seconds (ESP runs folded), with an alt text."""
    from . import figures as _figures
    from .flow import draw_flow, flow_arrows

    _figures._import_matplotlib()
    upto = seconds_or_none("upto", upto)
    kept = [r for r in rows_of(rows) if upto is None or r.time < upto]
    if not kept:
        raise ConfigError(f"no packet before {upto} s", field="upto", value=upto)
    arrows = flow_arrows(kept, fold=True)
    fig = draw_flow(arrows, title=title, names=names)
    fig.set_dpi(_figures.DPI)
    groups = sorted({a.group.split(" ")[0] for a in arrows})
    fig.ikelab_alt = (f"Figure: {title}: {len(kept)} packets drawn as {len(arrows)} arrows "
                      f"({', '.join(groups)})")
    return fig
