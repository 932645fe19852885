"""Renewing keys by rekeying or by starting over, counted on the wire (lesson 11; RFC 7296 2.8, RFC 7815).

A full IKEv2 initiator renews a CHILD SA's keys with a CREATE_CHILD_SA
exchange (N(REKEY_SA), RFC 7296 2.8) and then deletes the old CHILD SA with
an INFORMATIONAL exchange: four messages, and without PFS no Diffie-Hellman.
The minimal initiator of RFC 7815 starts no exchange but IKE_SA_INIT and
IKE_AUTH: it neither rekeys nor deletes.  When its SA is old it forgets it
and sets up a new IKE SA, whose IKE_AUTH says N(INITIAL_CONTACT), so that
the gateway closes the old IKE SA and its CHILD SA without a message (RFC
7296 2.4): four messages too, but a Diffie-Hellman and an authentication
each time.

:func:`renewal_lab` runs either in a :class:`~ikelab.lab.Lab` over a
tunnel's life; :func:`renewal_run` lists its IKE messages.  The full
initiator's renewals are its own CHILD SA rekey timer
(``child_rekey_time``); the minimal initiator's are driven from here with
:meth:`~ikelab.lab.Lab.restart`, since ikelab's engine always rekeys: one
interval after each IKE SA is set up, forget it and initiate again.  The
IKE SA itself is never rekeyed and the gateway never starts a renewal, so
every message counted is the initiator's doing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from .errors import ConfigError, IkelabError

if TYPE_CHECKING:  # pragma: no cover
    from .lab import Lab

__all__ = ["RenewalRun", "format_renewals", "renewal_lab", "renewal_run"]

_PSK = b"ikelab lesson 11 pre-shared key"
_INF = float("inf")


@dataclass(frozen=True)
class RenewalRun:
    """One tunnel's life: its IKE messages, ``(time in s, exchange name, is_response)`` each in order, and the
    Diffie-Hellman exchanges the sensor took part in."""

    minimal: bool
    hours: float
    interval: float
    messages: tuple[tuple[float, str, bool], ...]
    diffie_hellman: int  # the sensor's Diffie-Hellman exchanges: its IKE SAs' g^ir, and each CHILD SA's with PFS

    @property
    def count(self) -> int:
        """How many IKE messages were sent, both ways."""
        return len(self.messages)

    def exchanges(self, name: str) -> int:
        """How many exchanges of kind ``name`` (e.g. "IKE_SA_INIT") were started."""
        return sum(1 for _, exchange, response in self.messages if exchange == name and not response)

    @property
    def renewals(self) -> int:
        """Key renewals: CHILD SA rekeys (full) or fresh IKE SAs after the first (minimal)."""
        return self.exchanges("IKE_SA_INIT") - 1 if self.minimal else self.exchanges("CREATE_CHILD_SA")


def _check_hours(hours: float, interval: float) -> None:
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 1 <= hours <= 24:
        raise ConfigError(f"hours must be a number of hours in 1..24, got {hours!r}", field="hours", value=hours)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 600 <= interval <= 24 * 3600:
        raise ConfigError(f"interval must be seconds in 600..86400, got {interval!r}", field="interval",
                          value=interval)
    # a renewal falls a few hundredths of a second after each whole interval: a tunnel ending within a minute of
    # one would make the count hang on those hundredths
    left = (hours * 3600) % interval
    if left < 60 or interval - left < 60:
        raise ConfigError(f"a tunnel of {hours:g} h ends within a minute of a renewal (every {interval:g} s); "
                          "choose a length between two renewals, e.g. 8.5 h", field="hours", value=hours)


def renewal_lab(hours: float, *, minimal: bool, interval: float = 3600.0,
                seed: int | str = "lesson11-renewal") -> Lab:
    """A sensor's tunnel to its gateway, ``hours`` long, whose keys are renewed every ``interval`` seconds by
    rekeying the CHILD SA or (``minimal``) by starting over with a new IKE SA that says INITIAL_CONTACT
    (RFC 7815, RFC 7296 2.4); no liveness checks, no PFS.  The lab is returned at the tunnel's end."""
    from .config import IkeConfig
    from .lab import Lab
    from .state import State

    _check_hours(hours, interval)
    common = dict(psk=_PSK, ike_proposals=("aes128gcm16-prfsha256-ecp256",), esp_proposals=("aes128gcm16",),
                  ike_rekey_time=_INF)
    sensor = IkeConfig(local_id="sensor.example.org", remote_id="gw.example.org",  # type: ignore[arg-type]
                       child_rekey_time=_INF if minimal else float(interval), **common)
    gateway = IkeConfig(local_id="gw.example.org", remote_id="sensor.example.org",  # type: ignore[arg-type]
                        child_rekey_time=_INF, **common)
    lab = Lab(sensor, gateway, seed=seed)
    end = hours * 3600.0
    lab.initiate()
    lab.run_until_idle()
    while minimal and lab.now + interval <= end:
        lab.run(lab.now + interval)
        old = lab.sa("responder")
        lab.restart("initiator", initial_contact=True)
        lab.initiate()
        lab.run_until_idle()
        new = lab.sa("initiator")
        if new is None or not new.established or old is None or old.state != State.CLOSED:  # pragma: no cover
            raise IkelabError(f"the new IKE SA at {lab.now:.2f} s did not replace the old one")
    lab.run(end)
    return lab


def renewal_run(hours: float, *, minimal: bool, interval: float = 3600.0,
                seed: int | str = "lesson11-renewal") -> RenewalRun:
    """The IKE messages of :func:`renewal_lab`'s tunnel, read off its trace."""
    from . import events as ev
    from .message import decode_header

    lab = renewal_lab(hours, minimal=minimal, interval=interval, seed=seed)
    messages = []
    for p in lab.trace:
        if p.kind == "ike":
            hdr = decode_header(p.ike_message)
            messages.append((p.time, getattr(hdr.exchange, "name", str(hdr.exchange)), hdr.is_response))
    dh = len(lab.events("initiator", ev.KeysDerived)) + sum(
        1 for e in lab.events("initiator", ev.ChildSaCreated) if e.pfs_group is not None)
    return RenewalRun(minimal, float(hours), float(interval), tuple(messages), dh)


def format_renewals(runs: Sequence[RenewalRun]) -> str:
    """Messages per exchange kind, one column per run, and what each run computed."""
    from .figures import text_table

    kinds = ("IKE_SA_INIT", "IKE_AUTH", "CREATE_CHILD_SA", "INFORMATIONAL")
    counts = [Counter(name for _, name, _ in run.messages) for run in runs]
    rows: list[tuple[object, ...]] = [(f"{kind} messages", *(c[kind] for c in counts)) for kind in kinds]
    rows.append(("IKE messages in all", *(run.count for run in runs)))
    rows.append(("key renewals", *(run.renewals for run in runs)))
    rows.append(("Diffie-Hellman exchanges", *(run.diffie_hellman for run in runs)))
    rows.append(("authentications (AUTH)", *(run.exchanges("IKE_AUTH") for run in runs)))
    heads = ["", *(("minimal (RFC 7815)" if run.minimal else "full (rekeys)") for run in runs)]
    return text_table(heads, rows)
