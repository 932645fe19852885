"""Tables and figures for the IKE exchange lessons (05 IKE_SA_INIT, 06 IKE_AUTH, 07 CREATE_CHILD_SA).

Each helper is a pure *data* function over ikelab's real code or a real lab
run (its events and trace), plus a drawing function where a picture helps:

* :func:`payload_rows` / :func:`format_payloads`: an IKE message payload by
  payload (offset, length, the fields that matter), from the decoder's own
  field dump (:func:`ikelab.views.dump`), decrypting the SK payload when
  given the keys (RFC 7296 3.14);
* :func:`ike_key_cut`: SKEYSEED = prf(Ni | Nr, g^ir) and the seven SK_* keys
  of RFC 7296 2.14 for an IKE proposal written as text
  (``aes128-sha256-modp2048``), with the same nonces, g^ir and SPIs;
* :func:`child_key_cut`: KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr) of
  RFC 7296 2.17 for an ESP proposal, cut into encr_i | integ_i | encr_r | integ_r;
* :func:`auth_rows`: AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"),
  <SignedOctets>) of RFC 7296 2.15, piece by piece, from an
  :class:`~ikelab.events.AuthComputed` event;
* :func:`sa_lifetimes` / :func:`lifetimes_figure`: when each IKE SA and
  CHILD SA of a lab run lived, from its events (RFC 7296 2.8, 2.18).

matplotlib is imported only by the drawing functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from . import auth as _auth
from . import events as _ev
from . import keys as _keys
from . import prf as _prf
from .constants import ProtocolId
from .errors import ConfigError
from .fmt import short_hex
from .proposals import parse_proposal, suite_of
from .views import dump

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "LESSON_PSK", "lab_crypto", "moon_and_sun", "selectors", "AuthRow", "PayloadRow", "SaLife", "auth_rows", "child_key_cut", "format_auth_rows", "format_key_cut",
    "format_payloads", "ike_key_cut", "lifetimes_figure", "payload_rows", "sa_lifetimes",
]

# --------------------------------------------------------------------------- the lessons' two peers

#: The pre-shared key of the lessons' moon and sun peers.
LESSON_PSK = b"ikelab lessons: moon and sun share this key"


def moon_and_sun(suite: str = "aes128-sha256-modp2048", esp: str = "aes128-sha256", *, psk: bytes = LESSON_PSK,
                 initiator: dict[str, Any] | None = None, responder: dict[str, Any] | None = None,
                 **common: Any) -> tuple[Any, Any]:
    """Two :class:`~ikelab.config.IkeConfig`: moon (10.1.0.0/16) and sun (10.2.0.0/16), as in strongSwan's tests.

    ``common`` settings go to both; ``initiator``/``responder`` override moon's
    or sun's (for example ``responder={"psk": b"other"}``).
    """
    from .config import IkeConfig

    base = dict(ike_proposals=(suite,), esp_proposals=(esp,), psk=psk, **common)
    moon = dict(base, local_id="moon.example.org", remote_id="sun.example.org", local_ts=("10.1.0.0/16",),
                remote_ts=("10.2.0.0/16",), name="moon")
    sun = dict(base, local_id="sun.example.org", remote_id="moon.example.org", local_ts=("10.2.0.0/16",),
               remote_ts=("10.1.0.0/16",), name="sun")
    moon.update(initiator or {})
    sun.update(responder or {})
    return IkeConfig(**moon), IkeConfig(**sun)


def lab_crypto(lab: Any, side: str = "initiator", index: int = 0) -> Any:
    """The SK payload keys (SK_e*/SK_a* of both directions) of the ``index``-th IKE SA a lab peer derived.

    Built from the peer's :class:`~ikelab.events.KeysDerived` events through
    :class:`ikelab.wireshark.KeyTables`, as Wireshark would use them.
    """
    from .wireshark import KeyTables

    if not callable(getattr(lab, "events", None)) or not hasattr(lab, "trace"):
        raise ConfigError(f"lab must be an ikelab.lab.Lab that has run, not {type(lab).__name__}", field="lab",
                          value=lab)
    derived = lab.events(side, _ev.KeysDerived)
    if not -len(derived) <= index < len(derived):
        raise ConfigError(f"{side} derived {len(derived)} IKE SA key sets, there is no number {index}",
                          field="index", value=index)
    kd = derived[index]
    record = KeyTables.from_lab(lab, side).ike_sa(kd.spi_i, kd.spi_r)
    if record is None:
        raise ConfigError(f"no keys for the IKE SA {kd.spi_i.hex()}/{kd.spi_r.hex()}", field="index", value=index)
    return record.crypto()


def selectors(message: Any) -> dict[str, tuple[str, ...]]:
    """``{"TSi": (...), "TSr": (...)}``: the traffic selectors of a decoded message, as text (RFC 7296 3.13)."""
    from .message import Message, not_a_message
    from .payloads import TSi, TSr
    from .ts import ts_to_string

    if not isinstance(message, Message):
        raise not_a_message("selectors", message)
    out: dict[str, tuple[str, ...]] = {}
    for name, kind in (("TSi", TSi), ("TSr", TSr)):
        payload = message.find(kind)
        if payload is not None:
            out[name] = tuple(ts_to_string(t) for t in payload.selectors)
    return out


# --------------------------------------------------------------------------- messages, payload by payload

#: Dump fields that only frame a payload; left out of the compact view.
_FRAMING = {"next_payload", "critical", "payload_length", "reserved", "reserved2", "last_substruc",
            "proposal_length", "transform_length", "num_transforms", "spi_size", "length", "version",
            "padding", "pad_length", "integrity_checksum", "initialization_vector", "iv", "icv"}


@dataclass(frozen=True)
class PayloadRow:
    """One payload of a message (or the header): where it is and what it says."""

    name: str
    offset: int
    length: int
    fields: tuple[tuple[str, str], ...]
    decrypted: bool = False


def _short(value: str, width: int) -> str:
    head = value.split(" ", 1)[0]
    if len(head) > width and all(c in "0123456789abcdef" for c in head):
        return short_hex(bytes.fromhex(head)) if len(head) % 2 == 0 else head[:width] + "..."
    return value if len(value) <= width else value[: width - 3] + "..."


def payload_rows(data: bytes, crypto: Any = None, *, width: int = 56) -> list[PayloadRow]:
    """The header and each payload of the IKE message ``data``, from :func:`ikelab.views.dump`.

    With ``crypto`` (for example ``KeyTables.ike_sa(spi_i, spi_r).crypto()``)
    the payloads inside SK are listed too, marked ``decrypted``.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise ConfigError(f"data must be the bytes of an IKE message, not {type(data).__name__}", field="data",
                          value=data)
    rows = dump(bytes(data), crypto)
    groups: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for r in rows:
        name, _, rest = r.path.partition(".")
        if r.decrypted and "." in rest:  # SK.IDi.id_type: a payload inside the SK payload
            name, _, rest = rest.partition(".")
        if r.decrypted and rest in ("padding", "pad_length"):
            name, rest = "SK", rest
        key = f"{name}*" if r.decrypted and name != "SK" else name
        if key not in groups:
            groups[key] = {"offset": r.offset, "end": r.offset + r.length, "fields": [], "decrypted": r.decrypted,
                           "length": None}
            order.append(key)
        g = groups[key]
        g["end"] = max(g["end"], r.offset + r.length)
        leaf = rest.rsplit(".", 1)[-1]
        if leaf == "payload_length" and rest == "payload_length":
            g["length"] = int(r.value.split()[0])
        if leaf in _FRAMING or not rest:
            continue
        g["fields"].append((rest, _short(r.value, width)))
    out = []
    for key in order:
        g = groups[key]
        length = g["length"] if g["length"] is not None else g["end"] - g["offset"]
        out.append(PayloadRow(key.rstrip("*"), g["offset"], length, tuple(g["fields"]), g["decrypted"]))
    return out


def format_payloads(rows: Sequence[PayloadRow], *, max_fields: int = 4) -> str:
    """The payload rows as text: one line per payload, then its main fields indented."""
    lines = [f"{'offset':>6} {'len':>4}  payload"]
    for row in rows:
        mark = "  (inside SK, decrypted)" if row.decrypted else ""
        lines.append(f"{row.offset:>6} {row.length:>4}  {row.name}{mark}")
        shown = row.fields[:max_fields]
        for path, value in shown:
            lines.append(f"{'':>13}{path} = {value}")
        if len(row.fields) > max_fields:
            lines.append(f"{'':>13}... {len(row.fields) - max_fields} more fields")
    return "\n".join(lines)


# --------------------------------------------------------------------------- key schedules


def _suite(text: str, protocol: ProtocolId) -> Any:
    try:
        return suite_of(parse_proposal(text, protocol))
    except ConfigError:
        raise
    except Exception as exc:  # NegotiationError for a proposal with several transforms of a type
        raise ConfigError(f"proposal {text!r} must name one transform of each type: {exc}", field="suite",
                          value=text) from None


def ike_key_cut(suite: str, ni: bytes, nr: bytes, g_ir: bytes, spi_i: bytes, spi_r: bytes) -> tuple[bytes, Any]:
    """``(SKEYSEED, IkeSaKeys)`` for the IKE proposal ``suite`` (RFC 7296 2.14).

    The DH group of ``suite`` is ignored: ``g_ir`` is given (so only the PRF
    and the key lengths change with the suite).
    """
    s = _suite(suite, ProtocolId.IKE)
    if s.prf is None:
        raise ConfigError(f"IKE proposal {suite!r} names no PRF", field="suite", value=suite)
    seed = _keys.skeyseed(s.prf, ni, nr, g_ir)
    ike = _keys.ike_sa_keys(s.prf, seed, ni, nr, spi_i, spi_r, encr=s.encr, encr_key_bits=s.key_bits, integ=s.integ)
    return seed, ike


def format_key_cut(ike: Any) -> str:
    """The SK_* keys with their byte ranges in the prf+ stream and the blocks they come from."""
    out_len = _prf.get_prf(ike.prf).output_len if hasattr(ike, "prf") else 0
    lines = []
    for part in ike.split():
        end = part.offset + len(part.value)
        if not part.value:
            lines.append(f"{part.name:<6} (none: the cipher is AEAD, RFC 5282)")
            continue
        first, last = part.offset // out_len + 1, (end - 1) // out_len + 1
        blocks = f"T{first}" if first == last else f"T{first}..T{last}"
        lines.append(f"{part.name:<6} bytes {part.offset:3}..{end - 1:3} ({len(part.value):2} B, {blocks:<7}) "
                     f"{short_hex(part.value)}")
    lines.append(f"total {ike.total_len} bytes = {len(ike.blocks)} prf+ blocks of {out_len} bytes")
    return "\n".join(lines)


def child_key_cut(esp: str, prf_alg: Any, sk_d: bytes, ni: bytes, nr: bytes, g_ir: bytes | None = None) -> Any:
    """KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr) for the ESP proposal ``esp`` (RFC 7296 2.17)."""
    s = _suite(esp, ProtocolId.ESP)
    return _keys.child_sa_keys(prf_alg, sk_d, ni, nr, encr=s.encr, encr_key_bits=s.key_bits, integ=s.integ,
                               g_ir=g_ir)


# --------------------------------------------------------------------------- AUTH


@dataclass(frozen=True)
class AuthRow:
    """One step of the AUTH computation: a name, the formula, the value."""

    name: str
    formula: str
    value: bytes


def auth_rows(event: _ev.AuthComputed, psk: bytes | str, prf_alg: Any) -> list[AuthRow]:
    """AUTH for a pre-shared key, piece by piece, for the signer of ``event`` (RFC 7296 2.15)."""
    if not isinstance(event, _ev.AuthComputed):
        raise ConfigError(f"event must be an AuthComputed event, not {type(event).__name__}", field="event",
                          value=event)
    i = event.signer == "initiator"
    msg, nonce, key = ("RealMessage1", "NonceRData", "SK_pi") if i else ("RealMessage2", "NonceIData", "SK_pr")
    idp = "RestOfInitIDPayload" if i else "RestOfRespIDPayload"
    pad = _auth.psk_pad_key(prf_alg, psk)
    octets = event.message + event.nonce + event.maced_id
    return [
        AuthRow(msg, "the signer's IKE_SA_INIT message (HDR on)", event.message),
        AuthRow(nonce, "the peer's nonce (data only)", event.nonce),
        AuthRow("MACedID", f"prf({key}, {idp})", event.maced_id),
        AuthRow("SignedOctets", f"{msg} | {nonce} | MACedID", octets),
        AuthRow("pad key", 'prf(Shared Secret, "Key Pad for IKEv2")', pad),
        AuthRow("AUTH", "prf(pad key, SignedOctets)", _prf.prf(prf_alg, pad, octets)),
    ]


def format_auth_rows(rows: Sequence[AuthRow]) -> str:
    """The AUTH steps as an aligned table with the byte counts."""
    return "\n".join(f"{r.name:<13} {r.formula:<41} {short_hex(r.value)}" + ("" if len(r.value) > 16 else
                     f" ({len(r.value)} bytes)") for r in rows)


# --------------------------------------------------------------------------- SA lifetimes


@dataclass(frozen=True)
class SaLife:
    """One SA's life in a lab run: ``kind`` "IKE" or "CHILD", its name, start, end (None: still alive), why it ended."""

    kind: str
    name: str
    start: float
    end: float | None
    reason: str = ""


def sa_lifetimes(events: Iterable[_ev.Event]) -> list[SaLife]:
    """The IKE SAs and CHILD SAs of one peer's events, in order of creation.

    An IKE SA lives from its :class:`~ikelab.events.KeysDerived` event to its
    :class:`~ikelab.events.IkeSaDeleted`; a CHILD SA (named by the SPI this
    peer chose, as in ``ip xfrm``) from :class:`~ikelab.events.ChildSaCreated`
    to :class:`~ikelab.events.ChildSaDeleted`.  A CHILD SA moved to a rekeyed
    IKE SA keeps living (RFC 7296 2.18).
    """
    if not isinstance(events, Iterable) or isinstance(events, (str, bytes)):
        raise ConfigError(f"sa_lifetimes() takes one peer's events, such as lab.events('initiator'), "
                          f"not {type(events).__name__}", field="events", value=events)
    lives: dict[tuple[str, bytes], list[Any]] = {}
    for e in events:
        if isinstance(e, _ev.KeysDerived):
            lives.setdefault(("IKE", e.spi_i + e.spi_r), [e.time, None, "", e.spi_i, e.spi_r])
        elif isinstance(e, _ev.IkeSaDeleted):
            life = lives.get(("IKE", e.spi_i + e.spi_r))
            if life is not None and life[1] is None:
                life[1], life[2] = e.time, e.reason
        elif isinstance(e, _ev.ChildSaCreated):
            lives.setdefault(("CHILD", e.spi_in), [e.time, None, "", e.spi_in, e.spi_out])
        elif isinstance(e, _ev.ChildSaDeleted):
            life = lives.get(("CHILD", e.spi_in))
            if life is not None and life[1] is None:
                life[1], life[2] = e.time, e.reason
    out = []
    for (kind, _), (start, end, reason, a, b) in lives.items():
        name = f"IKE SA {a.hex()[:8]}../{b.hex()[:8]}.." if kind == "IKE" else f"CHILD SA in 0x{a.hex()} out 0x{b.hex()}"
        out.append(SaLife(kind, name, round(start, 3), None if end is None else round(end, 3), reason))
    return sorted(out, key=lambda s: (s.start, s.kind != "IKE"))


def format_lifetimes(lives: Sequence[SaLife], until: float) -> str:
    """The lifetimes as a table (an SA still alive at ``until`` shows ``-``)."""
    lines = [f"{'SA':<40} {'from':>8} {'to':>8}  ended because"]
    for s in lives:
        end = "-" if s.end is None else f"{s.end:8.2f}"
        lines.append(f"{s.name:<40} {s.start:8.2f} {end:>8}  {s.reason or f'alive at {until:g} s'}")
    return "\n".join(lines)


def lifetimes_figure(lives: Sequence[SaLife], until: float, *, title: str = "SA lifetimes") -> "Figure":
    """One bar per SA from creation to deletion (or ``until``), IKE SAs in blue, CHILD SAs in orange."""
    from .figures import _new_figure

    fig = _new_figure(8.0, 0.8 + 0.32 * max(len(lives), 1))
    ax = fig.add_subplot(1, 1, 1)
    for i, s in enumerate(lives):
        end = until if s.end is None else s.end
        colour = "#4c72b0" if s.kind == "IKE" else "#dd8452"
        ax.barh(i, max(end - s.start, until / 200), left=s.start, height=0.6, color=colour, alpha=0.85)
        ax.text(s.start + until / 150, i, s.name, va="center", fontsize=7, color="black")
    ax.set_yticks([])
    ax.set_xlim(0, until * 1.02)
    ax.invert_yaxis()
    ax.set_xlabel("virtual time (s)")
    ax.set_title(title, fontsize=10)
    fig.ikelab_alt = f"Figure: {title}: {len(lives)} SAs over {until:g} s"  # type: ignore[attr-defined]
    return fig


def key_cut_figure(ike: Any, title: str) -> "Figure":
    """The key split of an IkeSaKeys or ChildSaKeys as a bar (reuses figures.key_split_figure's look)."""
    from .figures import _new_figure

    parts = [p for p in ike.split() if p.value]
    fig = _new_figure(8.0, 1.4)
    ax = fig.add_subplot(1, 1, 1)
    colours = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3"]
    for i, p in enumerate(parts):
        ax.barh(0, len(p.value), left=p.offset, color=colours[i % len(colours)], edgecolor="white")
        ax.text(p.offset + len(p.value) / 2, 0, f"{p.name}\n{len(p.value)}", ha="center", va="center", fontsize=7,
                color="white")
    ax.set_yticks([])
    ax.set_xlim(0, ike.total_len)
    ax.set_xlabel("byte offset in the prf+ output")
    ax.set_title(title, fontsize=10)
    fig.ikelab_alt = f"Figure: {title}"  # type: ignore[attr-defined]
    return fig
