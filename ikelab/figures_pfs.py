"""Perfect forward secrecy (lesson 03): leak an IKE SA's keys and see which CHILD SA keys fall.

RFC 7296 section 2.17: the keys of a CHILD SA are cut from::

    KEYMAT = prf+(SK_d, Ni | Nr)                    (no Diffie-Hellman in CREATE_CHILD_SA)
    KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr)       (with the optional KE payloads: PFS)

and sections 1.3.2 and 2.18: a rekeyed IKE SA always has a fresh Diffie-Hellman,
``SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)`` (section 2.18).

The experiment (:func:`pfs_run` then :func:`attack`): a lab runs one IKE SA
with its first CHILD SA, rekeys the CHILD SA twice, rekeys the IKE SA and
rekeys the CHILD SA once more, with or without PFS at each CHILD SA rekey.
An eavesdropper recorded every packet.  Later the keys of one IKE SA leak
(a memory dump of a gateway): SK_d, and SK_e/SK_a, with which the attacker
decrypts that IKE SA's messages and reads the nonces and KE payloads.  For
every CHILD SA the attacker computes ``prf+(SK_d, Ni | Nr)`` and compares it
with the KEYMAT the engine really installed (its ``ChildSaCreated`` event).

Data functions are pure and tested in ``tests/test_figures_pfs.py``; the
drawing function imports matplotlib only when called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from . import events as ev
from . import keys as _keys
from .errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["ChildInfo", "Outcome", "PfsRun", "attack", "attacker_keymat", "format_outcomes", "outcome_figure",
           "pfs_run"]

_IKE = "aes128-sha256-x25519"
_ESP = ("aes128-sha256", "aes128-sha256-x25519")
_GAP = 10.0  # seconds between the steps of the run


@dataclass(frozen=True)
class ChildInfo:
    """One CHILD SA of the run, as the initiator's engine installed it."""

    number: int  # 1, 2, ... in order of creation
    time: float
    exchange: str  # "IKE_AUTH" or "CREATE_CHILD_SA"
    ike_sa: int  # 1-based index of the IKE SA it was created under
    pfs_group: str | None  # the fresh Diffie-Hellman group, None without PFS
    spi_out: bytes  # SPI of the initiator -> responder direction (the responder's choice)
    spi_in: bytes
    keymat: bytes  # encr_i | integ_i | encr_r | integ_r, as installed
    prf: str


@dataclass(frozen=True)
class IkeInfo:
    """One IKE SA of the run: its SPIs and the keys that may leak."""

    number: int
    spi_i: bytes
    spi_r: bytes
    sk_d: bytes
    prf: str
    time: float
    record: Any  # ikelab.wireshark.IkeSaRecord: SK_e and SK_a, to decrypt its messages


@dataclass
class PfsRun:
    """What :func:`pfs_run` returns: the lab, its IKE SAs and CHILD SAs, and the plan it followed."""

    lab: Any
    ike_sas: list[IkeInfo]
    children: list[ChildInfo]
    pfs: tuple[bool, ...]


@dataclass(frozen=True)
class Outcome:
    """What the attacker got for one CHILD SA, and why."""

    child: ChildInfo
    nonces: tuple[bytes, bytes] | None  # (Ni, Nr) as read from the decrypted capture
    saw_ke: bool  # the attacker saw KEi/KEr for this CHILD SA (a fresh DH)
    keymat: bytes | None  # the attacker's prf+(SK_d, Ni | Nr)
    falls: bool
    reason: str


def _configs() -> tuple[Any, Any]:
    from .config import IkeConfig

    common = dict(ike_proposals=(_IKE,), esp_proposals=_ESP, psk=b"ikelab lesson 03 pre-shared key")
    moon = IkeConfig(local_id="moon.example.org", remote_id="sun.example.org", local_ts=("10.1.0.0/16",),
                     remote_ts=("10.2.0.0/16",), name="moon", **common)  # type: ignore[arg-type]
    sun = IkeConfig(local_id="sun.example.org", remote_id="moon.example.org", local_ts=("10.2.0.0/16",),
                    remote_ts=("10.1.0.0/16",), name="sun", **common)  # type: ignore[arg-type]
    return moon, sun


def pfs_flags(pfs: Any) -> tuple[bool, bool, bool]:
    """``pfs`` as three flags, one for each CHILD SA rekey of the experiment; ConfigError otherwise."""
    if isinstance(pfs, (str, bytes)) or not isinstance(pfs, (list, tuple)) or len(pfs) != 3:
        got = f"{len(pfs)} flags" if isinstance(pfs, (list, tuple)) else repr(pfs)
        raise ConfigError(f"pfs needs one flag (True or False) for each of the 3 CHILD SA rekeys, got {got}",
                          field="pfs", value=pfs)
    return (bool(pfs[0]), bool(pfs[1]), bool(pfs[2]))


def pfs_run(pfs: Sequence[bool] = (False, True, False), *, seed: int | str = "lesson03") -> PfsRun:
    """Run the experiment's lab: IKE_AUTH, CHILD SA rekeys (``pfs[0]``, ``pfs[1]``), IKE SA rekey, rekey (``pfs[2]``).

    Each step comes ``_GAP`` virtual seconds after the previous one; PFS uses
    Curve25519 (the IKE SA's own group).
    """
    from .lab import Lab
    from .wireshark import records_from_lab

    pfs = pfs_flags(pfs)
    moon, sun = _configs()
    lab = Lab(moon, sun, seed=seed)
    lab.initiate()
    lab.run_until_idle()
    plan: list[tuple[str, bool]] = [("child", pfs[0]), ("child", pfs[1]), ("ike", False), ("child", pfs[2])]
    for step, flag in plan:
        lab.run(lab.now + _GAP)
        if step == "child":
            lab.rekey_child("initiator", pfs=flag)
        else:
            lab.rekey_ike("initiator")
        lab.run_until_idle()
    records = {(r.spi_i, r.spi_r): r for r in records_from_lab(lab, "initiator")[0]}
    ike_sas = []
    for e in lab.events("initiator", ev.KeysDerived):
        ike_sas.append(IkeInfo(len(ike_sas) + 1, e.spi_i, e.spi_r, e.sk_d, e.prf, e.time,
                               records[(e.spi_i, e.spi_r)]))
    children = []
    for e in lab.events("initiator", ev.ChildSaCreated):
        under = max(i.number for i in ike_sas if i.time <= e.time)
        km = e.keymat
        children.append(ChildInfo(len(children) + 1, e.time, e.exchange, under, e.pfs_group, e.spi_out, e.spi_in,
                                  km["encr_i"] + km["integ_i"] + km["encr_r"] + km["integ_r"],
                                  ike_sas[under - 1].prf))
    return PfsRun(lab, ike_sas, children, pfs)


def attacker_keymat(prf: Any, sk_d: bytes, ni: bytes, nr: bytes, length: int) -> bytes:
    """The attacker's guess: ``prf+(SK_d, Ni | Nr)`` (RFC 7296 2.17 without a fresh g^ir)."""
    return _keys.child_keymat(prf, sk_d, ni, nr, length)


def _read_capture(run: PfsRun, leaked: IkeInfo) -> dict[bytes, tuple[bytes, bytes, bool]]:
    """What the attacker reads with the leaked SK_e/SK_a: per responder SPI, (Ni, Nr, KE seen)."""
    from .dissect import dissect
    from .payloads import KE, SK, Nonce
    from .pcap import LINKTYPE_RAW, CapturedPacket
    from .sa_payload import SA
    from .wireshark import KeyTables

    frames = [CapturedPacket(t, p, LINKTYPE_RAW) for t, p in run.lab.trace.ip_packets()]
    rows = [r for r in dissect(frames, KeyTables(ike=(leaked.record,)))
            if r.kind == "ike" and r.spi_i == leaked.spi_i.hex() and r.spi_r in (leaked.spi_r.hex(), "0" * 16)]

    def payloads(row: Any) -> list[Any]:
        out = list(row.message.payloads) if row.message is not None else []
        if out and isinstance(out[-1], SK):
            out = out[:-1] + list(out[-1].inner or ())
        return out

    found: dict[bytes, tuple[bytes, bytes, bool]] = {}
    requests: dict[tuple[str, int], list[Any]] = {}
    init_nonces: list[bytes] = []
    for r in rows:
        ps = payloads(r)
        if r.exchange == "IKE_SA_INIT":
            init_nonces += [p.data for p in ps if isinstance(p, Nonce)]
            continue
        if not r.is_response:
            requests[(str(r.exchange), int(r.message_id))] = ps
            continue
        req = requests.get((str(r.exchange), int(r.message_id)), [])
        sas = [p for p in ps if isinstance(p, SA)]
        if not sas or not sas[0].proposals or len(sas[0].proposals[0].spi) != 4:
            continue  # no CHILD SA in this response (or an IKE SA rekey: 8-byte SPIs)
        spi = bytes(sas[0].proposals[0].spi)
        if r.exchange == "IKE_AUTH":
            if len(init_nonces) >= 2:
                found[spi] = (init_nonces[0], init_nonces[-1], False)
            continue
        ni = next((p.data for p in req if isinstance(p, Nonce)), None)
        nr = next((p.data for p in ps if isinstance(p, Nonce)), None)
        ke = any(isinstance(p, KE) for p in req + ps)
        if ni is not None and nr is not None:
            found[spi] = (ni, nr, ke)
    return found


def attack(run: PfsRun, leaked: int) -> list[Outcome]:
    """The attacker holds the keys of IKE SA number ``leaked`` (1-based) and the capture: which CHILD SAs fall?"""
    if not isinstance(run, PfsRun):
        raise ConfigError(f"attack() takes what pfs_run() returns, not {type(run).__name__}", field="run", value=run)
    if isinstance(leaked, bool) or not isinstance(leaked, int) or not 1 <= leaked <= len(run.ike_sas):
        raise ConfigError(f"leaked must name an IKE SA, 1..{len(run.ike_sas)}, not {leaked!r}", field="leaked",
                          value=leaked)
    ike = run.ike_sas[leaked - 1]
    seen = _read_capture(run, ike)
    out = []
    for c in run.children:
        got = seen.get(c.spi_out)
        if c.ike_sa != ike.number or got is None:
            if c.ike_sa < ike.number:
                why = (f"created under IKE SA {c.ike_sa}: its SK_d is gone, and the leaked SK_d of IKE SA "
                       f"{ike.number} does not lead back to it (prf is one-way)")
            else:
                why = (f"created under IKE SA {c.ike_sa}, whose SKEYSEED came from a fresh g^ir "
                       f"(IKE SA rekeys always run Diffie-Hellman, RFC 7296 2.18)")
            out.append(Outcome(c, None, False, None, False, why))
            continue
        ni, nr, ke = got
        guess = attacker_keymat(ike.prf, ike.sk_d, ni, nr, len(c.keymat))
        falls = guess == c.keymat
        if falls:
            where = "IKE_SA_INIT, in the clear" if c.exchange == "IKE_AUTH" else "the decrypted CREATE_CHILD_SA"
            why = f"no fresh DH: KEYMAT = prf+(SK_d, Ni | Nr), with Ni and Nr read from {where}"
        else:
            why = "fresh DH (PFS): KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr), and g^ir (new) is not on the wire"
        out.append(Outcome(c, (ni, nr), ke, guess, falls, why))
    return out


def format_outcomes(outcomes: Sequence[Outcome]) -> str:
    """The experiment as a text table: one row per CHILD SA."""
    from .figures import text_table

    rows = []
    for o in outcomes:
        c = o.child
        rows.append((c.number, f"{c.time:.2f}", c.exchange, c.ike_sa, c.pfs_group or "-", f"0x{c.spi_out.hex()}",
                     "FALLS" if o.falls else "safe", o.reason))
    return text_table(["CHILD SA", "t (s)", "created by", "IKE SA", "PFS group", "SPI (i->r)", "leak", "why"], rows)


def outcome_figure(panels: Sequence[tuple[str, Sequence[Outcome]]], *, run: PfsRun | None = None) -> "Figure":
    """A timeline per leak scenario: one bar per CHILD SA, red if its keys fall, green if they stay safe."""
    from . import figures as _figures

    fig = _figures._new_figure(8.5, 1.0 + 1.25 * len(panels))
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    summary = []
    for ax, (title, outcomes) in zip(axes, panels):
        ends = [o.child.time for o in outcomes[1:]] + [outcomes[-1].child.time + _GAP] if outcomes else []
        for o, end in zip(outcomes, ends):
            colour = _figures._RED if o.falls else _figures._GREEN
            ax.barh(0, end - o.child.time, left=o.child.time, height=0.6, color=colour, alpha=0.85,
                    edgecolor="white")
            label = f"#{o.child.number}" + (" PFS" if o.child.pfs_group else "")
            ax.text(o.child.time + (end - o.child.time) / 2, 0, label, ha="center", va="center", fontsize=8,
                    color="white", fontweight="bold")
        if run is not None:
            for ike in run.ike_sas[1:]:
                ax.axvline(ike.time, color=_figures._GREY, ls="--", lw=1)
                ax.text(ike.time, 0.45, " IKE SA rekey", fontsize=7, color=_figures._GREY, va="bottom")
        ax.set_yticks([])
        ax.set_ylim(-0.5, 0.9)
        ax.set_title(title, fontsize=9, loc="left")
        fallen = [o.child.number for o in outcomes if o.falls]
        if not fallen:
            summary.append(f"{title}: no CHILD SA falls")
        else:
            many = len(fallen) > 1
            summary.append(f"{title}: CHILD SA{'s' if many else ''} {', '.join(map(str, fallen))} "
                           f"fall{'' if many else 's'}")
    axes[-1].set_xlabel("time (s)")
    fig.ikelab_alt = "Figure: " + "; ".join(summary)
    return fig
