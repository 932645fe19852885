"""Ready lab scenarios: the classic IKEv2 trace of the course, reproduced by the lab.

The course reads IKEv2 from one Wireshark trace, and :func:`classic` makes it
with ikelab's own engine (:mod:`ikelab.lab`), ESP (:mod:`ikelab.esp`) and a
virtual clock, so the same seed gives the same capture byte for byte::

    t = 0        IKE_SA_INIT request, lost by the network (RFC 7296 2.1: retransmit)
    t = 1        IKE_SA_INIT request again, response; IKE_AUTH (CHILD SA #1, RFC 7296 1.3)
    every 1 s    ICMP echo request 10.1.0.1 -> 10.2.0.1 in ESP (tunnel mode), and its reply:
                 two SPIs, one per direction (RFC 4303)
    auth + 2 s   CREATE_CHILD_SA rekeying the CHILD SA (RFC 7296 1.3.3, 2.8): new SPIs;
                 the old ones carry traffic a moment longer, then an INFORMATIONAL Delete
    every 5 s    liveness check: an empty INFORMATIONAL exchange (RFC 7296 1.4)
    reconnect    INFORMATIONAL Delete of the IKE SA, then a new IKE_SA_INIT / IKE_AUTH,
                 and 2 s later another CREATE_CHILD_SA

``classic(seed=1, suite="aes128-sha256-modp2048")`` returns a
:class:`Scenario`: the trace (:class:`ikelab.trace.Trace`), the Wireshark
key tables of every IKE SA and CHILD SA (:class:`ikelab.wireshark.KeyTables`)
and the events of both peers.  ``Scenario.write(dir)`` writes the capture
(pcap and pcapng) and the two key tables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import events as ev
from .errors import CaptureError, ConfigError, IkelabError, check_seconds
from .lab import Lab, Network
from .trace import Trace

__all__ = ["CLASSIC_DEFAULTS", "Scenario", "classic", "esp_proposal_for"]

#: The embedded defaults of :func:`classic` (and of ``ikelab demo``).
CLASSIC_DEFAULTS: dict[str, Any] = {
    "seed": 1,
    "suite": "aes128-sha256-modp2048",
    "duration": 30.0,
    "ping_interval": 1.0,
    "child_rekey_after": 2.0,
    "liveness_interval": 5.0,
    "reconnect_at": 18.0,
    "start_time": 1_700_000_000.0,
}

#: At most this many pings, and as many liveness checks, in one classic trace: a capture a class can read,
#: built in seconds (a tiny interval over a long duration would otherwise run for hours).
MAX_STEPS = 10_000
#: The last second a classic pcap can stamp: pcap's 32-bit seconds field.
_PCAP_LAST_SECOND = 2**32 - 1
#: After ``duration`` the lab runs at most this long more, until no request is outstanding.
_SETTLE = 5.0

_INNER = {4: ("10.1.0.1", "10.2.0.1", "10.1.0.0/16", "10.2.0.0/16"),
          6: ("2001:db8:1::1", "2001:db8:2::1", "2001:db8:1::/48", "2001:db8:2::/48")}
PSK = b"ikelab classic scenario pre-shared key"


def esp_proposal_for(suite: str, *, allow_weak: bool = False) -> str:
    """The ESP proposal matching an IKE suite: its encryption and integrity, without PRF and DH.

    ``aes128-sha256-modp2048`` -> ``aes128-sha256``;
    ``aes256gcm16-prfsha384-ecp384`` -> ``aes256gcm16``.  A suite with a weak
    algorithm needs ``allow_weak=True`` (which warns), as everywhere in ikelab.
    """
    from .constants import ProtocolId, TransformType
    from .proposals import parse_proposal, proposal_to_string

    prop = parse_proposal(suite, ProtocolId.IKE, allow_weak=allow_weak)
    keep = tuple(t for t in prop.transforms if t.type in (TransformType.ENCR, TransformType.INTEG))
    esp = type(prop)(1, ProtocolId.ESP, b"", keep)
    return proposal_to_string(esp)


@dataclass
class Scenario:
    """What :func:`classic` returns (see the module docstring)."""

    trace: Trace
    tables: Any  # ikelab.wireshark.KeyTables
    events: dict[str, list[ev.Event]]
    lab: Lab
    start_time: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    def records(self) -> list[tuple[float, bytes]]:
        """``(absolute time, IP packet)`` for every packet sent, as a capture at the sender sees them.

        A packet the network model lost was still sent, so it is in the
        capture: that is how the IKE_SA_INIT retransmission shows.
        """
        return [(round(self.start_time + t, 6), data) for t, data in self.trace.ip_packets(include_lost=True)]

    def write(self, directory: str | Path, *, name: str = "ikev2-lab") -> dict[str, Path]:
        """Write ``name.pcap``, ``name.pcapng``, ``ikev2_decryption_table`` and ``esp_sa`` into ``directory``."""
        from .packet import ethernet
        from .pcap import write_pcap, write_pcapng

        if not isinstance(directory, (str, os.PathLike)):
            raise ConfigError(f"Scenario.write: directory must be a path (str or os.PathLike), not "
                              f"{type(directory).__name__}", field="directory", value=directory)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"Scenario.write: name must be a non-empty str (the capture files' stem), not "
                              f"{name!r:.40}", field="name", value=name)
        d = Path(directory)
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CaptureError(f"cannot create the output directory {str(d)!r}: {exc.strerror or exc}") from None
        frames = [(t, ethernet(p)) for t, p in self.records()]
        paths = {"pcap": d / f"{name}.pcap", "pcapng": d / f"{name}.pcapng"}
        write_pcap(paths["pcap"], frames)
        write_pcapng(paths["pcapng"], frames)
        ike_path, esp_path = self.tables.write(d)
        paths["ikev2_decryption_table"] = ike_path
        paths["esp_sa"] = esp_path
        return paths


class _EspLab(Lab):
    """A lab whose peers install ESP SAs from their ChildSaCreated events and answer pings."""

    def __init__(self, *args: Any, allow_weak: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allow_weak = allow_weak
        self.inbound: dict[str, dict[bytes, Any]] = {"initiator": {}, "responder": {}}
        self.outbound: dict[str, list[tuple[bytes, Any]]] = {"initiator": [], "responder": []}
        self.retired: dict[str, dict[bytes, float]] = {"initiator": {}, "responder": {}}
        self.linger = 0.5  # seconds the old outbound SA is still used after a rekey
        self.replies: list[tuple[float, int]] = []

    def on_event(self, side: str, event: ev.Event) -> None:
        from .esp import EspSa

        if isinstance(event, ev.ChildSaCreated):
            common = dict(encryption=event.encr, key_bits=event.encr_key_bits, integrity=event.integ, esn=event.esn,
                          mode=event.mode, created=event.time, allow_weak=self.allow_weak)
            udp = (event.local_port, event.remote_port) if event.udp_encap else None
            rng = self.rng.fork(f"esp-{side}-{event.spi_out.hex()}")
            self.inbound[side][event.spi_in] = EspSa(
                event.spi_in, direction="inbound", encryption_key=event.encr_key_in,
                integrity_key=event.integ_key_in, tunnel=(event.remote_addr, event.local_addr), **common)
            out = EspSa(event.spi_out, direction="outbound", encryption_key=event.encr_key_out,
                        integrity_key=event.integ_key_out, tunnel=(event.local_addr, event.remote_addr),
                        udp_encap=udp, rng=rng, **common)
            if event.rekey_of is not None:  # keep the old outbound SA a moment (traffic in flight)
                for spi, _ in self.outbound[side]:
                    self.retired[side].setdefault(spi, event.time + self.linger)
            self.outbound[side].append((event.spi_out, out))
        elif isinstance(event, ev.ChildSaDeleted):
            self.inbound[side].pop(event.spi_in, None)
            self.outbound[side] = [(s, sa) for s, sa in self.outbound[side] if s != event.spi_out]

    def _out_sa(self, side: str) -> Any:
        live = self.outbound[side]
        if not live:
            return None
        for spi, sa in live:  # the oldest SA still inside its linger time, else the newest
            until = self.retired[side].get(spi)
            if until is not None and self.now <= until:
                return sa
        return live[-1][1]

    def ping(self, side: str, inner_src: str, inner_dst: str, seq: int, *, reply: bool = False) -> bool:
        """An ICMP echo from ``side`` on its current outbound SA: in tunnel mode the whole packet (next header 4
        or 41, RFC 4303 3.1.2), in transport mode its ICMP message alone (3.1.1).  False without an SA."""
        from .esp import Mode
        from .packet import icmp_echo, parse_ip

        sa = self._out_sa(side)
        if sa is None:
            return False
        payload = bytes((seq + i) & 0xFF for i in range(32))
        inner = icmp_echo(inner_src, inner_dst, 0x1D1B, seq, payload, reply)
        if sa.mode is Mode.TUNNEL:
            next_header = 4 if ":" not in inner_src else 41
        else:
            packet = parse_ip(inner)
            inner, next_header = packet.payload, packet.protocol
        esp = sa.encapsulate(inner, next_header, now=self.now)
        self.send_esp(side, esp, udp_encap=sa.udp_encap is not None)
        return True

    def admits(self, side: str, spi: bytes, packet: Any) -> bool:
        """Does the inbound SA ``spi`` of ``side`` admit the decrypted ``packet``?  Always, here; a lab that checks
        each packet against its CHILD SA's selectors, as an SPD does (RFC 4301 5.2), says no by overriding this."""
        return True

    def on_esp(self, side: str, datagram: Any) -> None:
        from .esp import Mode
        from .packet import ip_packet, parse_icmp, parse_ip

        super().on_esp(side, datagram)
        spi = bytes(datagram.payload[:4])
        sa = self.inbound[side].get(spi)
        if sa is None:
            return
        try:
            next_header, inner = sa.decapsulate(datagram.payload, now=self.now)
            if sa.mode is not Mode.TUNNEL:  # transport mode: the IP header from the outer addresses (RFC 4303 3.1.1)
                inner = ip_packet(datagram.src[0], datagram.dst[0], next_header, inner)
            pkt = parse_ip(inner)
            icmp = parse_icmp(pkt)
        except IkelabError:
            return
        if not self.admits(side, spi, pkt):
            return
        if icmp.is_echo_request:
            self.ping(side, str(pkt.dst), str(pkt.src), icmp.seq, reply=True)
        elif icmp.is_echo_reply:
            self.replies.append((self.now, icmp.seq))


def _configs(suite: str, esp: str, auth: str, version: int, allow_weak: bool) -> tuple[Any, Any]:
    from .config import IkeConfig

    a_host, b_host, a_net, b_net = _INNER[version]
    common = dict(ike_proposals=(suite,), esp_proposals=(esp,), allow_weak=allow_weak,
                  ike_rekey_time=14400, child_rekey_time=3600, retransmit_timeout=1.0, retransmit_base=2.0)
    creds: dict[str, dict[str, Any]] = {"moon": {}, "sun": {}}
    if auth == "psk":
        creds = {"moon": {"psk": PSK}, "sun": {"psk": PSK}}
    elif auth in ("ed25519", "ecdsa"):
        from .certs import ec_key_from_seed, make_ca, make_leaf

        def key(name: str) -> Any:
            if auth == "ecdsa":  # note: ECDSA signatures use a random k, so AUTH differs run to run
                return ec_key_from_seed(f"ikelab classic {name}")
            import hashlib

            from cryptography.hazmat.primitives.asymmetric import ed25519

            seed = hashlib.sha256(f"ikelab classic {name}".encode()).digest()
            return ed25519.Ed25519PrivateKey.from_private_bytes(seed)

        ca_key = key("ca")
        ca = make_ca("C=CH, O=ikelab, CN=ikelab classic CA", ca_key)
        for name in ("moon", "sun"):
            k = key(name)
            cert = make_leaf(ca, ca_key, f"C=CH, O=ikelab, CN={name}.example.org", k, san=(f"{name}.example.org",))
            creds[name] = {"certificate": cert, "private_key": k, "trust_anchors": (ca,)}
    else:
        raise ConfigError(f"authentication {auth!r}: the classic scenario supports 'psk', 'ed25519' and 'ecdsa'",
                          field="auth", value=auth)
    moon = IkeConfig(local_id="moon.example.org", remote_id="sun.example.org", local_ts=(a_net,), remote_ts=(b_net,),
                     name="moon", **common, **creds["moon"])  # type: ignore[arg-type]
    sun = IkeConfig(local_id="sun.example.org", remote_id="moon.example.org", local_ts=(b_net,), remote_ts=(a_net,),
                    name="sun", **common, **creds["sun"])  # type: ignore[arg-type]
    return moon, sun


def _check_timeline(duration: Any, ping_interval: Any, child_rekey_after: Any, liveness_interval: Any,
                    reconnect_at: Any, start_time: Any, max_steps: Any = MAX_STEPS) -> None:
    """ConfigError naming the first of :func:`classic`'s times (or its ``max_steps``) that cannot make a trace."""
    if max_steps.__class__ is not int or max_steps < 1:  # a bool or a float is no count of steps
        raise ConfigError(f"max_steps must be a whole number of steps >= 1, not {max_steps!r}", field="max_steps",
                          value=max_steps)

    def positive(value: Any, name: str) -> float:
        seconds = check_seconds(value, name)
        if seconds <= 0:
            raise ConfigError(f"{name} must be a positive number of seconds, not {value!r}", field=name, value=value)
        return seconds

    duration = positive(duration, "duration")
    intervals = [("ping_interval", ping_interval)]  # pings always run; liveness checks may be switched off
    if liveness_interval is not None:
        intervals.append(("liveness_interval", liveness_interval))
    for name, interval in intervals:
        if duration / positive(interval, name) > max_steps:
            raise ConfigError(f"{name} {interval!r} over duration {duration:g} s makes more than {max_steps} steps: "
                              "take a longer interval or a shorter duration", field=name, value=interval)
    for name, value in (("child_rekey_after", child_rekey_after), ("reconnect_at", reconnect_at)):
        if value is not None and check_seconds(value, name) < 0:
            raise ConfigError(f"{name} must be 0 or more seconds (or None: no such step), not {value!r}", field=name,
                              value=value)
    start = check_seconds(start_time, "start_time")
    if not 0 <= start <= _PCAP_LAST_SECOND - duration - _SETTLE:
        raise ConfigError(f"start_time {start_time!r} puts the capture outside pcap's clock (seconds since 1970, "
                          f"up to 2^32 - 1 with the duration and {_SETTLE:g} s to settle)", field="start_time",
                          value=start_time)


def classic(
    seed: int | str = CLASSIC_DEFAULTS["seed"],
    suite: str = CLASSIC_DEFAULTS["suite"],
    *,
    esp: str | None = None,
    auth: str = "psk",
    duration: float = CLASSIC_DEFAULTS["duration"],
    ping_interval: float = CLASSIC_DEFAULTS["ping_interval"],
    child_rekey_after: float | None = CLASSIC_DEFAULTS["child_rekey_after"],
    liveness_interval: float | None = CLASSIC_DEFAULTS["liveness_interval"],
    reconnect_at: float | None = CLASSIC_DEFAULTS["reconnect_at"],
    lose_first: bool = True,
    ipv6: bool = False,
    start_time: float = CLASSIC_DEFAULTS["start_time"],
    allow_weak: bool = False,
    max_steps: int = MAX_STEPS,
) -> Scenario:
    """Run the classic trace (module docstring) and return it with its keys and events.

    ``suite`` is the IKE proposal (strongSwan syntax); the ESP proposal is
    ``esp`` or, by default, the suite's encryption and integrity.  ``auth``
    is "psk" (RFC 7296 2.15 shared key), "ed25519" (certificates from a
    throwaway CA, RFC 8420 signatures: deterministic) or "ecdsa" (the same
    with ECDSA P-256, RFC 7427; its signatures use a random k, so the
    capture differs from run to run).  Times are
    virtual seconds from the first packet; ``start_time`` is the capture's
    absolute time of that first packet.  ``None`` switches a step off.
    Every time is a finite number of seconds, and each interval gives at most
    ``max_steps`` steps over ``duration`` (:data:`MAX_STEPS` unless a caller
    that wants a bigger capture, such as ``benchmarks/bench_dissect.py``, says
    so); anything else is a ConfigError naming the setting.
    """
    _check_timeline(duration, ping_interval, child_rekey_after, liveness_interval, reconnect_at, start_time,
                    max_steps)
    if isinstance(suite, str) and "," in suite:  # --proposal takes lists; the classic trace negotiates one suite
        raise ConfigError(f"suite {suite!r}: give one proposal, not a comma-separated list (the classic trace "
                          "offers a single suite)", field="suite", value=suite)
    esp = esp or esp_proposal_for(suite, allow_weak=allow_weak)
    version = 6 if ipv6 else 4
    moon, sun = _configs(suite, esp, auth, version, allow_weak)
    network = Network(delay=0.01, schedule=("drop",) if lose_first else ())
    lab = _EspLab(moon, sun, seed=seed, network=network, ipv6=ipv6, allow_weak=allow_weak)
    a_host, b_host = _INNER[version][:2]

    # The timeline: (time, order, action).  Actions fire after the lab has run up to their time.
    actions: list[tuple[float, int, str]] = []
    lab.initiate()
    lab.run_until_idle(limit=30.0)
    t_auth = lab.now
    if lab.initiator is None or not lab.initiator.established:
        raise ConfigError(f"the IKE SA with suite {suite!r} did not come up", field="suite", value=suite)
    if reconnect_at is not None and reconnect_at < min(t_auth, duration):
        # an earlier time would silently become t_auth: the trace would not show what was asked for
        raise ConfigError(f"reconnect_at {reconnect_at!r} s comes before the first IKE SA is up (t={t_auth:g} s): "
                          "take a later time, or None for no reconnect", field="reconnect_at", value=reconnect_at)
    t = t_auth + 0.2
    seq = 0
    while t < duration:
        actions.append((round(t, 6), 1, "ping"))
        t += ping_interval
    t_rekey = None if child_rekey_after is None else round(t_auth + child_rekey_after + 0.05, 6)
    if t_rekey is not None and t_rekey < duration:  # as every step: none starts after the trace's end
        actions.append((t_rekey, 0, "rekey_child"))
        # a packet already on its way while the rekey runs: it still uses the old SPIs (RFC 7296 2.8)
        actions.append((round(t_rekey + 0.005, 6), 1, "ping"))
    if liveness_interval is not None:
        t = t_auth + liveness_interval + 0.1
        while t < duration:
            actions.append((round(t, 6), 2, "liveness"))
            t += liveness_interval
    if reconnect_at is not None and reconnect_at < duration:
        actions.append((reconnect_at, 0, "reconnect"))
        if child_rekey_after is not None and reconnect_at + child_rekey_after + 0.1 < duration:
            t_rekey = round(reconnect_at + child_rekey_after + 0.1, 6)
            actions.append((t_rekey, 0, "rekey_child"))
            actions.append((round(t_rekey + 0.005, 6), 1, "ping"))
    actions.sort()
    for when, _, action in actions:
        lab.run(when)
        try:
            if action == "ping":
                seq += 1
                lab.ping("initiator", a_host, b_host, seq)
            elif action == "rekey_child":
                lab.rekey_child("initiator")
            elif action == "liveness":
                sa = lab.initiator
                if sa is not None and sa.established and not lab.busy():
                    lab.liveness("initiator")
            elif action == "reconnect":
                lab.delete_ike("initiator")
                lab.run_until_idle(limit=5.0)
                lab.initiate()
        except IkelabError as exc:
            raise ConfigError(f"classic scenario step {action!r} at t={when:g} s failed: {exc}", field="scenario",
                              value=action) from exc
    lab.run(duration)
    lab.run_until_idle(limit=_SETTLE)
    from .wireshark import KeyTables

    tables = KeyTables.from_lab(lab, "initiator")
    settings = dict(seed=seed, suite=suite, esp=esp, auth=auth, duration=duration, ping_interval=ping_interval,
                    child_rekey_after=child_rekey_after, liveness_interval=liveness_interval,
                    reconnect_at=reconnect_at, ipv6=ipv6)
    events = {side: lab.events(side) for side in ("initiator", "responder")}
    return Scenario(lab.trace, tables, events, lab, start_time, settings)
