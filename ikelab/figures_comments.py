"""Figures and tables for lesson 11, comments on IKEv2: message counts, flexibility, minimal IKEv2.

* IKEv1 message counts come from its RFCs, as data (:data:`IKEV1_EXCHANGES`):
  RFC 2409 section 5 (Main Mode: 6 messages, Aggressive Mode: 3), 5.5
  (Quick Mode: 3), 5.6 (New Group Mode: 2).  ikelab has no IKEv1 engine.
* IKEv2 message counts come from a real ikelab run (:func:`ikev2_run`): a
  :class:`~ikelab.lab.Lab` creates the IKE SA (IKE_SA_INIT, IKE_AUTH with
  the first CHILD SA, RFC 7296 1.2) and then each further CHILD SA with a
  CREATE_CHILD_SA exchange (1.3), and the trace's IKE packets are counted.
* :func:`option_counts` counts the choices ikelab implements per transform
  type (RFC 7296 3.3.2) and the IKE suites they make.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from .errors import ConfigError, IkelabError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["IKEV1_EXCHANGES", "CountRow", "Ikev2Run", "count_rows", "count_figure", "format_counts", "ikev1_messages",
           "ikev2_run", "option_counts"]

#: IKEv1 (RFC 2409) exchanges: name -> (messages, where it is defined, what it does).
IKEV1_EXCHANGES: dict[str, tuple[int, str, str]] = {
    "Main Mode": (6, "RFC 2409 5", "phase 1: ISAKMP SA with identity protection (SA, KE+Ni, IDi+HASH/SIG)"),
    "Aggressive Mode": (3, "RFC 2409 5", "phase 1 without identity protection"),
    "Quick Mode": (3, "RFC 2409 5.5", "phase 2: one pair of IPsec SAs (HASH(1), HASH(2), HASH(3))"),
    "New Group Mode": (2, "RFC 2409 5.6", "negotiate a new Diffie-Hellman group"),
}


def ikev1_messages(n_children: int, phase1: str = "Main Mode") -> int:
    """Messages IKEv1 needs for an ISAKMP SA and ``n_children`` IPsec SA pairs (one Quick Mode each)."""
    _check_n(n_children)
    if phase1 not in ("Main Mode", "Aggressive Mode"):
        raise ConfigError(f"phase 1 is 'Main Mode' or 'Aggressive Mode', not {phase1!r}", field="phase1", value=phase1)
    return IKEV1_EXCHANGES[phase1][0] + n_children * IKEV1_EXCHANGES["Quick Mode"][0]


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 50:
        raise ConfigError(f"the number of CHILD SAs must be an int in 1..50, got {n!r}", field="n_children", value=n)


@dataclass(frozen=True)
class Ikev2Run:
    """A real IKEv2 run: the IKE messages on the wire, and the CHILD SAs both peers ended with."""

    n_children: int
    messages: int
    exchanges: tuple[str, ...]   # one entry per message, e.g. "IKE_SA_INIT request"
    sizes: tuple[int, ...]       # the UDP payload size of each message, in bytes
    children: int                # CHILD SAs installed at the initiator


_PSK = b"ikelab lesson 11 pre-shared key"


def ikev2_run(n_children: int, *, seed: int | str = "lesson11", suite: str = "aes128gcm16-prfsha256-ecp256",
              esp: str = "aes128gcm16") -> Ikev2Run:
    """Run an ikelab Lab that ends with ``n_children`` CHILD SAs and count its IKE messages."""
    from .config import IkeConfig
    from .lab import Lab

    _check_n(n_children)
    common = dict(psk=_PSK, ike_proposals=(suite,), esp_proposals=(esp,))
    moon = IkeConfig(local_id="moon.example.org", remote_id="sun.example.org", **common)  # type: ignore[arg-type]
    sun = IkeConfig(local_id="sun.example.org", remote_id="moon.example.org", **common)  # type: ignore[arg-type]
    lab = Lab(moon, sun, seed=seed)
    lab.initiate()
    lab.run_until_idle()
    for _ in range(n_children - 1):
        lab.create_child("initiator")
        lab.run_until_idle()
    ike = [p for p in lab.trace if p.kind == "ike"]
    from .message import decode_header

    names = []
    for p in ike:
        hdr = decode_header(p.ike_message)
        names.append(f"{getattr(hdr.exchange, 'name', hdr.exchange)} {'response' if hdr.is_response else 'request'}")
    children = len(lab.children("initiator"))
    if children != n_children:  # pragma: no cover - would be an engine bug
        raise IkelabError(f"the lab ended with {children} CHILD SAs, not {n_children}")
    return Ikev2Run(n_children, len(ike), tuple(names), tuple(len(p.payload) for p in ike), children)


@dataclass(frozen=True)
class CountRow:
    """Messages needed for one IKE SA and ``n`` CHILD SAs."""

    n: int
    ikev1_main: int
    ikev1_aggressive: int
    ikev2: int


def count_rows(max_children: int = 5, *, seed: int | str = "lesson11") -> list[CountRow]:
    """IKEv1 (from RFC 2409) against IKEv2 (from one ikelab run per n) for 1..max_children CHILD SAs."""
    _check_n(max_children)
    return [CountRow(n, ikev1_messages(n, "Main Mode"), ikev1_messages(n, "Aggressive Mode"),
                     ikev2_run(n, seed=seed).messages) for n in range(1, max_children + 1)]


def format_counts(rows: Sequence[CountRow]) -> str:
    """The rows as a text table."""
    from .figures import text_table

    return text_table(["CHILD SAs", "IKEv1 Main+Quick", "IKEv1 Aggressive+Quick", "IKEv2 (ikelab run)"],
                      [(r.n, r.ikev1_main, r.ikev1_aggressive, r.ikev2) for r in rows])


def count_figure(rows: Sequence[CountRow]) -> "Figure":
    """Messages against the number of CHILD SAs, IKEv1 and IKEv2."""
    from .figures import _new_figure

    fig = _new_figure(6.5, 3.2)
    ax = fig.add_subplot()
    ns = [r.n for r in rows]
    ax.plot(ns, [r.ikev1_main for r in rows], "o-", color="#c44e52", label="IKEv1 Main Mode + Quick Modes (RFC 2409)")
    ax.plot(ns, [r.ikev1_aggressive for r in rows], "s--", color="#dd8452",
            label="IKEv1 Aggressive Mode + Quick Modes")
    ax.plot(ns, [r.ikev2 for r in rows], "D-", color="#4c72b0", label="IKEv2 (counted in an ikelab run)")
    ax.set_xlabel("CHILD SAs (IPsec SA pairs)")
    ax.set_ylabel("IKE messages")
    ax.set_xticks(ns)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    last = rows[-1]
    fig.ikelab_alt = (f"Figure: IKE messages for 1..{last.n} CHILD SAs: IKEv1 main mode {rows[0].ikev1_main}.."
                      f"{last.ikev1_main}, aggressive {rows[0].ikev1_aggressive}..{last.ikev1_aggressive}, "
                      f"IKEv2 {rows[0].ikev2}..{last.ikev2}")
    return fig


def option_counts() -> list[tuple[str, int, str]]:
    """``(transform type, choices ikelab implements without allow_weak, examples)`` and the IKE suites they make.

    An encryption algorithm counts once per key length; AEAD ciphers take no integrity transform.
    """
    from . import dh, prf, transforms
    from .constants import EncrId, IntegId
    from .proposals import is_aead

    aead, classic = [], []
    for e in EncrId:
        try:
            lengths = transforms.key_lengths(e)
        except IkelabError:
            continue
        for bits in lengths or (None,):
            try:
                transforms.encryption(e, bits)
            except IkelabError:
                continue
            if e.name == "ENCR_NULL" or e.name.startswith("ENCR_NULL_AUTH"):
                continue  # not for IKE
            (aead if is_aead(e) else classic).append(f"{e.name}{'/' + str(bits) if bits else ''}")
    integ = []
    for i in IntegId:
        if i is IntegId.NONE:
            continue
        try:
            transforms.integrity(i)
        except IkelabError:
            continue
        integ.append(i.name)
    prfs = [p.name for p in prf.supported_prfs()]
    groups = [g.name for g in dh.groups() if not g.weak and not g.name.startswith("TOY")]
    suites = len(classic) * len(integ) * len(prfs) * len(groups) + len(aead) * len(prfs) * len(groups)
    return [("ENCR (classic)", len(classic), ", ".join(classic[:2]) + ", ..."),
            ("ENCR (AEAD)", len(aead), ", ".join(aead[:2]) + ", ..."),
            ("INTEG", len(integ), ", ".join(integ[:2]) + ", ..."),
            ("PRF", len(prfs), ", ".join(prfs[:2]) + ", ..."),
            ("D-H", len(groups), ", ".join(groups[:3]) + ", ..."),
            ("IKE suites", suites, "one transform of each type")]
