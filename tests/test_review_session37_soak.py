"""Endurance review (a "soak"): two lab peers through hundreds of rekeys, in virtual time (RFC 7296 1.3.2, 1.3.3,
1.4, 2.3, 2.4, 2.8, 2.8.1, 2.8.2, 2.18, 2.25).

A long-lived IKE peer must look, after its thousandth rekey, as it did after its first: one IKE SA and the same
CHILD SAs on both sides with the same keys, Message IDs in step (2.3), nothing queued or half done, a next timer
that is due within the configured intervals, and no per-SA state left over from the SAs it replaced: closed IKE
SAs (once :meth:`IkeEndpoint.forget_closed` may forget them), cached responses, requests, fragments being
reassembled, CHILD SAs gone at their hard lifetime, retries, and the SPD/SAD entries of the ESP side
(:class:`ikelab.host.IpsecHost`).  Two kinds of soak:

* timer-driven: short lifetimes with a rekey margin (strongSwan's ``rand_time``), so that both peers rekey the
  CHILD SA and the IKE SA on their own and now and then at the same time (2.8.1, 2.8.2), and liveness checks
  (``dpd_interval``, 2.4), over thousands of virtual seconds, with and without PFS, on a clean and on a lossy
  network (loss, duplication, reordering) with IKE fragmentation (RFC 7383) small enough that rekeys fragment;
* action-driven: hundreds of rounds in which both peers rekey the CHILD SA at once, both rekey the IKE SA at
  once, one rekeys while the other checks liveness, or a second CHILD SA is made and deleted again.

Throughout, at every step of the lab (not only when it is idle), ESP between the two
:class:`~ikelab.host.IpsecHost` SPD/SADs must work both ways: the SA each host sends on is one the other host
holds, with the same keys (the overlap of RFC 7296 2.8, "so that no packet in flight is lost").  Object counts
(``gc``), not times, measure growth: they are deterministic.

Found:

* when both peers rekey a CHILD SA at once, the one whose new SA loses the nonce rule (2.8.1) moved its ESP to
  that SA (IpsecHost and the live peer's EspPeer saw only "we asked for this rekey") and sent on it until its
  DELETE of it was answered, while the peer drops it as soon as that DELETE arrives: a round trip of lost
  packets at every such collision.  ChildSaCreated now says ``redundant`` for that SA, and neither sends on it
  (``test_redundant_child_sa_of_a_collision_carries_nothing``);
* every IKE SA points at the one that replaced it (``replaced_by``, 2.18), so one reference to an old IKE SA
  keeps every later one alive, closed ones with their keys.  :class:`ikelab.lab.Lab` kept its first IKE SA in
  an attribute nothing read (removed: ``test_holding_a_lab_keeps_no_forgotten_ike_sa``), and ``ikelab connect``
  / ``respond`` kept the handshake's outcome with its IKE SA for the whole run, so that a run of days without
  ``--pcap`` grew with every IKE SA rekey (``test_live_run_keeps_no_ike_sa_of_its_past``).
"""

from __future__ import annotations

import gc
import types
from collections import Counter
from typing import Any

import pytest

from ikelab import events as ev
from ikelab.config import IkeConfig
from ikelab.errors import ConfigError, ProtocolError
from ikelab.host import IpsecHost
from ikelab.ike import IkeSa
from ikelab.lab import SIDES, Lab, Network
from ikelab.packet import icmp_echo, parse_icmp, parse_ip
from ikelab.policy import Action
from ikelab.rand import DeterministicRandom
from ikelab.state import State

INNER = {"initiator": "10.1.0.1", "responder": "10.2.0.1"}
#: lifetimes of the timer-driven soak: the CHILD SA rekeyed every 20-30 s, the IKE SA every 150-200 s, by
#: whichever peer's jittered timer comes first (RFC 7296 2.8); a liveness check after 7 idle seconds (2.4)
TIMERS: dict[str, Any] = dict(child_rekey_time=30.0, child_lifetime=60.0, ike_rekey_time=200.0, ike_lifetime=400.0,
                              rekey_margin=10.0, dpd_interval=7.0)
#: retransmissions (2.4): 1 s, then 1.5 times longer, 8 times, so that even the lossy network never gives up
RETRANSMIT: dict[str, Any] = dict(retransmit_timeout=1.0, retransmit_tries=8, retransmit_base=1.5)
CLEAN = Network(delay=0.01)
LOSSY = Network(delay=0.01, loss=0.08, duplicate=0.05, reorder=0.05, reorder_delay=0.03)
#: Failures the RFC itself brings when exchanges cross (2.25), none fatal
EXPECTED_NOTIFIES = ("TEMPORARY_FAILURE", "CHILD_SA_NOT_FOUND")


def configs(pfs: bool, **extra: Any) -> tuple[IkeConfig, IkeConfig]:
    """moon (10.1/16) and sun (10.2/16), tunnel mode, a fast suite; ``pfs``: KE in every CREATE_CHILD_SA (1.3.1)."""
    esp = "aes128gcm16-x25519" if pfs else "aes128gcm16"
    base: dict[str, Any] = dict(psk=b"a soak secret", ike_proposals=("aes128-sha256-x25519",), esp_proposals=(esp,),
                                cookie_threshold=None, **RETRANSMIT, **extra)
    return (IkeConfig(local_id="moon.example", remote_id="sun.example", local_ts=("10.1.0.0/16",),
                      remote_ts=("10.2.0.0/16",), **base),
            IkeConfig(local_id="sun.example", remote_id="moon.example", local_ts=("10.2.0.0/16",),
                      remote_ts=("10.1.0.0/16",), **base))


class SoakLab(Lab):
    """A lab whose peers forget closed IKE SAs as a long-running peer does (``ikelab.net.NetDriver``), with an
    IpsecHost (SPD and SAD, RFC 4301) on each side kept current by the CHILD SA events, and an ESP check at every
    step."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for endpoint in self.endpoints.values():
            endpoint.forgets_closed = True
        self.hosts = {side: IpsecHost(rng=DeterministicRandom(f"esp {side}")) for side in SIDES}
        self.esp_checked = 0
        self.seq = 0
        self.checking = True

    def on_event(self, side: str, event: ev.Event) -> None:
        self.hosts[side].handle_event(event)

    def step(self) -> bool:
        more = super().step()
        if more:
            self.check_esp()
        return more

    def check_esp(self) -> None:
        """An ICMP echo each way through the SPD/SADs: what one host protects, the other accepts (RFC 4301 5.1,
        5.2; RFC 7296 2.8).  Skipped while a side holds no CHILD SA (before IKE_AUTH, after a DELETE)."""
        if not self.checking or not all(self.hosts[side].by_spi for side in SIDES):
            return
        for side, other in (("initiator", "responder"), ("responder", "initiator")):
            self.seq = (self.seq + 1) & 0xFFFF
            inner = icmp_echo(INNER[side], INNER[other], 0x50AC, self.seq, b"soak")
            out = self.hosts[side].outbound(inner, now=self.now)
            assert out.action is Action.PROTECT and out.packet is not None, f"{side} cannot send at {self.now}: {out}"
            got = self.hosts[other].inbound(out.packet, now=self.now)
            assert got.packet is not None, (f"{other} refuses what {side} sent on SPI 0x{out.spi:08x} at "
                                            f"{self.now}: {got}")
            assert parse_icmp(parse_ip(got.packet)).seq == self.seq
            self.esp_checked += 1

    def forget_history(self) -> None:
        """Drop what a lab records for the reader (trace, events, the hosts' logs), so that what is left is
        the peers' state."""
        self.trace = type(self.trace)()
        self._events = {side: [] for side in SIDES}
        self.esp_received = {side: [] for side in SIDES}
        for host in self.hosts.values():
            host.log.clear()


def established(lab: Lab, side: str) -> IkeSa:
    sa = lab.sa(side)
    assert sa is not None and sa.state == State.ESTABLISHED and not sa.unsettled, f"{side}: {sa!r}"
    return sa


def assert_steady(lab: SoakLab, children: int, horizon: float) -> None:
    """The idle peers agree, and hold nothing but the one IKE SA and its ``children`` CHILD SAs; their next timer
    is due within ``horizon`` seconds."""
    a, b = established(lab, "initiator"), established(lab, "responder")
    assert (a.spi_i, a.spi_r) == (b.spi_i, b.spi_r) and a.initiator != b.initiator
    assert a.keys == b.keys and a.keys is not None, "2.14, 2.18: both ends derived the same SK_*"
    assert (a._next_request_id, b._next_request_id) == (b._peer_next_id, a._peer_next_id), "2.3: Message IDs"
    for side, sa in (("initiator", a), ("responder", b)):
        assert sa._pending is None and sa._queue == () and sa._expired == () and sa.child_retries == (), side
        assert sa._fragments is None, f"{side} keeps fragments of a message long whole (RFC 7383 2.6)"
        assert sa._collision is None and sa._rekeyed_from is None and sa.spawned == () and not sa.redundant, side
        assert sa._init_state == {} and not hasattr(sa, "_dh_key"), f"{side} keeps handshake state"
        assert len(sa.children) == children, f"{side}: {sa.children}"
        assert all(c.state == "INSTALLED" and c.collision is False for c in sa.children.values()), sa.children
        assert all(not c.extra.get("peer_new") for c in sa.children.values()), "a settled collision is remembered"
        ep = lab.endpoints[side]
        others = [s for s in ep.sas.values() if s is not sa]
        assert all(s.state == State.CLOSED and s.forget_at() > lab.now for s in others), \
            f"{side} keeps IKE SAs it could have forgotten: {others}"
        assert len(ep.half_open) + len(ep._maybe_half_open) <= 2, f"{side}: half-open tables {ep.half_open}"
        # 2.4, 2.8: the next thing to do is a liveness check or a rekey, in the future and not later than it is due
        timer = sa.get_timer()
        assert timer is not None and lab.now < timer <= lab.now + horizon + 1e-6, (side, timer, lab.now)
        host = lab.hosts[side]
        assert len(host.by_spi) == len(host.processor.children) == children, host.by_spi
        assert len(host.processor.sad.inbound_sas()) == children
        assert len(host.processor.spd) == children  # one PROTECT policy per CHILD SA: each its own selectors
    pairs_a = {(c.spi_in, c.spi_out) for c in a.children.values()}
    assert pairs_a == {(c.spi_out, c.spi_in) for c in b.children.values()}, "2.17: mirrored SPIs"
    for c in a.children.values():
        d = b.children[c.spi_out]
        assert (c.encr_key_out, c.integ_key_out, c.encr_key_in, c.integ_key_in) == \
               (d.encr_key_in, d.integ_key_in, d.encr_key_out, d.integ_key_out), "2.17: KEYMAT differs"


def failures(lab: Lab) -> list[ev.Failure]:
    """Failure events that crossing exchanges do not explain (2.25): any fatal one, any other notify."""
    return [f for side in SIDES for f in lab.events(side, ev.Failure)
            if isinstance(f, ev.Failure) and (f.fatal or (f.notify not in EXPECTED_NOTIFIES
                                                          and not f.reason.startswith("no installed CHILD SA")))]


#: the engine's and the hosts' per-SA objects, counted with gc
WATCHED = ("IkeSa", "ChildSa", "PendingRequest", "CachedResponse", "Reassembly", "EspSa", "InstalledChildSa",
           "Policy", "Message", "Datagram")


def live_objects(lab: SoakLab) -> Counter[str]:
    """The watched objects that ``lab`` (its endpoints, IKE SAs, hosts) reaches: what the peers keep, whatever
    else the process holds (other tests, in the same pytest worker)."""
    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)
    seen: set[int] = set()
    found: Counter[str] = Counter()
    stack: list[Any] = [lab]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        name = type(obj).__name__
        if name in WATCHED:
            found[name] += 1
        stack.extend(gc.get_referents(obj))
    return found


def tally(lab: Lab) -> Counter[type]:
    return Counter(type(e) for side in SIDES for e in lab.events(side))


@pytest.mark.parametrize("network", ["clean", "lossy"])
@pytest.mark.parametrize("pfs", [False, True], ids=["no-pfs", "pfs"])
def test_timer_driven_soak(pfs: bool, network: str) -> None:
    """Ten phases of 800 virtual seconds: each peer rekeys the CHILD SA and the IKE SA on its own timer and checks
    liveness; after each phase the idle peers are as they were after the first, with as many live objects."""
    lossy = network == "lossy"
    frag = dict(fragmentation=True, fragment_size=200) if lossy else {}  # the rekeys' messages go in SKF pieces
    lab = SoakLab(*configs(pfs, **TIMERS, **frag), seed=37 + pfs, network=CLEAN)
    from ikelab.esp_peer import EspPeer  # the live peer's ESP tables, fed the same events

    esp = {side: EspPeer(_Driver(lab), out=lambda text: None) for side in SIDES}  # type: ignore[arg-type]
    lab.callbacks.append(lambda side, e: esp[side].on_event(e))
    lab.initiate()
    lab.run_until_idle()
    lab.network = LOSSY if lossy else CLEAN
    baseline: Counter[str] | None = None
    seen: Counter[type] = Counter()
    child_rekeyers: Counter[str] = Counter()
    ike_roles: set[bool] = set()
    for phase in range(10):
        lab.run(lab.now + 800.0)
        lab.run_until_idle()
        assert_steady(lab, children=1, horizon=TIMERS["dpd_interval"])
        assert failures(lab) == [], failures(lab)
        counts = tally(lab)
        # every phase rekeys: about 800/25 CHILD SAs and 800/175 IKE SAs per phase, each counted on both sides
        assert counts[ev.ChildSaRekeyed] >= 2 * 20 and counts[ev.IkeSaRekeyed] >= 2 * 3, counts
        assert counts[ev.LivenessChecked] > 0, counts
        if pfs:
            assert all(e.pfs for side in SIDES for e in lab.events(side, ev.ChildSaRekeyed)), "1.3.1: KE every time"
        if lossy:
            assert counts[ev.Retransmitted] > 0 and counts[ev.FragmentReceived] > 0, counts
        seen += counts
        for side, peer in esp.items():  # one CHILD SA: one SA each way, and the rekeyed inbound SAs of the last
            # REKEYED_INBOUND_GRACE seconds at most (RFC 7296 2.8: late packets), not one per rekey of the run
            assert len(peer.inbound) == len(peer.outbound) == len(peer._to) == 1, (side, peer.inbound, peer.outbound)
            assert len(peer.retired) <= 2 and peer._replaced == set(), (side, peer.retired, peer._replaced)
            assert set(peer.selectors) <= set(peer.inbound) | set(peer.retired), side
        child_rekeyers.update(side for side in SIDES for e in lab.events(side, ev.ChildSaCreated)
                              if isinstance(e, ev.ChildSaCreated) and e.rekey_of is not None and e.exchange_initiator)
        ike_roles.add(established(lab, "initiator").initiator)  # flips with each IKE SA rekey the responder makes
        lab.forget_history()
        objects = live_objects(lab)
        if baseline is None:
            baseline = objects
        # the same SAs, SPD entries and cached responses; an IKE SA closed within the last retransmission span
        # (forget_at) may still be kept: at most one more IKE SA (and its cached response), per side
        assert objects["ChildSa"] == baseline["ChildSa"] == 2
        assert objects["EspSa"] == baseline["EspSa"] and objects["InstalledChildSa"] == baseline["InstalledChildSa"]
        assert objects["Policy"] == baseline["Policy"] and objects["PendingRequest"] == 0
        assert objects["IkeSa"] <= 4 and objects["CachedResponse"] <= 4, objects
        assert objects["Reassembly"] == 0 and objects["Message"] <= 2, objects
    assert seen[ev.ChildSaRekeyed] >= 2 * 250 and seen[ev.IkeSaRekeyed] >= 2 * 40, seen
    assert lab.esp_checked > 5_000
    # both peers started rekeys of either kind: the roles of the first IKE SA do not decide who rekeys
    assert min(child_rekeyers[side] for side in SIDES) >= 50, child_rekeyers
    assert ike_roles == {True, False}


def test_holding_a_lab_keeps_no_forgotten_ike_sa() -> None:
    """Regression: a Lab kept its first IKE SA, and through ``replaced_by`` (RFC 7296 2.18) every one after it.

    Twenty IKE SA rekeys later, with closed IKE SAs forgotten as a long-running peer forgets them, only the
    newest IKE SA and those not yet past :meth:`IkeSa.forget_at` are alive, on each side."""
    lab = SoakLab(*configs(False), seed=3)
    lab.initiate()
    lab.run_until_idle()
    for n in range(20):
        lab.rekey_ike(SIDES[n % 2])
        lab.run_until_idle()
        lab.run(lab.now + 100.0)  # past forget_at of the IKE SA just replaced
    assert_steady(lab, children=1, horizon=3600.0)
    lab.forget_history()
    objects = live_objects(lab)
    assert objects["IkeSa"] == 2, f"{objects['IkeSa']} IKE SAs alive after 20 rekeys: old ones are kept"
    assert objects["CachedResponse"] <= 2


@pytest.mark.parametrize("pfs", [False, True], ids=["no-pfs", "pfs"])
def test_action_storm(pfs: bool) -> None:
    """300 rounds of crossing actions on a network that duplicates and reorders: both peers rekey the CHILD SA
    at once (2.8.1), both rekey the IKE SA at once (2.8.2), one rekeys while the other checks liveness, a second
    CHILD SA is made and deleted (1.3.1, 1.4.1).  After each round the idle peers agree and hold exactly one
    CHILD SA; the object counts at the end are those after the first rounds."""
    lab = SoakLab(*configs(pfs), seed=101 + pfs, network=Network(delay=0.01, duplicate=0.1, reorder=0.1,
                                                                  reorder_delay=0.004))
    lab.initiate()
    lab.run_until_idle()
    baseline: Counter[str] | None = None
    for n in range(300):
        first, second = SIDES[n % 2], SIDES[1 - n % 2]
        kind = n % 5
        try:
            if kind == 0:    # both rekey the CHILD SA: the rule of the lowest nonce (2.8.1)
                lab.rekey_child(first)
                lab.rekey_child(second)
            elif kind == 1:  # both rekey the IKE SA (2.8.2)
                lab.rekey_ike(first)
                lab.rekey_ike(second)
            elif kind == 2:  # a rekey crossing a liveness check
                lab.rekey_child(first, pfs=pfs)
                lab.liveness(second)
            elif kind == 3:  # a CHILD SA made and deleted, crossing the peer's IKE SA rekey (2.25.1)
                lab.create_child(first)
                lab.rekey_ike(second)
            else:            # delete the oldest CHILD SA while the peer rekeys the other
                kids = sorted(lab.children(first), key=lambda c: c.created)
                if len(kids) > 1:
                    # no ESP check in this round: with two CHILD SAs of the same selectors, the deleting host
                    # sends on the one it deletes until the DELETE is answered (IpsecHost hears of the DELETE
                    # only then), and the peer drops it from the request on (1.4.1)
                    lab.checking = False
                    lab.delete_child(first, kids[0])
                lab.rekey_child(second, pfs=pfs)
        except (ProtocolError, ConfigError) as exc:  # pragma: no cover - the lab is idle and established here
            raise AssertionError(f"round {n}: {exc}") from exc
        lab.run(lab.now + 0.002)
        lab.run_until_idle()
        lab.run(lab.now + 10.0)  # past forget_at of the IKE SAs replaced in this round
        lab.checking = True
        kids = sorted(lab.children("initiator"), key=lambda c: c.created)
        if len(kids) > 1:  # the CHILD SA of kind 3, gone again in the next round
            assert kind == 3, f"round {n}: {kids}"
            continue
        assert_steady(lab, children=1, horizon=3600.0)  # the CHILD SA's rekey time: no liveness checks here
        assert failures(lab) == [], (n, failures(lab))
        lab.forget_history()
        if n == 9:
            baseline = live_objects(lab)
    assert baseline is not None
    lab.run(lab.now + 100.0)  # past forget_at (the retransmission span, 2.3) of every IKE SA closed
    lab.run_until_idle()
    lab.forget_history()
    objects = live_objects(lab)
    for name in ("ChildSa", "EspSa", "InstalledChildSa", "Policy", "PendingRequest", "Reassembly"):
        assert objects[name] == baseline[name], (name, objects, baseline)
    assert objects["IkeSa"] == 2 and objects["CachedResponse"] <= 2, objects
    assert sum(len(lab.endpoints[side].sas) for side in SIDES) == 2


class _Driver:
    """What :class:`ikelab.esp_peer.EspPeer` needs of a NetDriver: the clock, and where ESP goes."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.esp_handler: Any = None
        self.config = None
        self.sent: list[bytes] = []

    def now(self) -> float:
        return self.lab.now

    def send_esp(self, payload: bytes, src_port: int, dst: tuple[str, int]) -> None:
        self.sent.append(payload)


@pytest.mark.parametrize("seed", range(6))
def test_redundant_child_sa_of_a_collision_carries_nothing(seed: int) -> None:
    """Regression (RFC 7296 2.8.1): both peers rekey the CHILD SA at once; the new SA made with the lowest of the
    four nonces is closed by its maker, and the peer drops it as soon as that DELETE arrives.

    Its maker used to move its outbound ESP to it (IpsecHost and ikelab connect/respond's EspPeer alike, both
    seeing only "we asked for this rekey"), so everything it sent until the DELETE was answered was lost.  The
    ChildSaCreated event now says ``redundant``, only for that SA, and neither ESP side ever sends on it."""
    from ikelab.esp_peer import EspPeer

    lab = SoakLab(*configs(seed % 2 == 1, encapsulation="always"), seed=seed, network=Network(delay=0.01))
    drivers = {side: _Driver(lab) for side in SIDES}
    peers = {side: EspPeer(drivers[side], out=lambda text: None) for side in SIDES}  # type: ignore[arg-type]
    lab.callbacks.append(lambda side, e: peers[side].on_event(e))
    lab.initiate()
    lab.run_until_idle()
    lab.rekey_child("initiator")
    lab.rekey_child("responder")  # crosses on the wire (2.8.1)
    redundant: set[bytes] = set()
    while lab.step():  # SoakLab.step checks ESP both ways through the IpsecHosts at every step
        for side in SIDES:
            made = [e for e in lab.events(side, ev.ChildSaCreated) if isinstance(e, ev.ChildSaCreated)]
            redundant |= {e.spi_out for e in made if e.redundant}
            if len(peers[side].outbound) > 0:
                assert peers[side].send_inner(icmp_echo(INNER[side], INNER[SIDES[1 - SIDES.index(side)]], 1, 1,
                                                        b"x"))
                assert drivers[side].sent[-1][:4] not in redundant, f"{side} sends on the redundant SA"
        if not lab.busy():
            break
    made = [e for side in SIDES for e in lab.events(side, ev.ChildSaCreated) if e.exchange == "CREATE_CHILD_SA"]
    assert len(made) == 4 and sum(e.redundant for e in made) == 1, made
    loser = next(e for e in made if e.redundant)
    assert loser.exchange_initiator and loser.rekey_of is not None
    gone = {e.spi_in for e in lab.events(loser.side, ev.ChildSaDeleted)}
    assert loser.spi_in in gone, "its maker deletes the redundant SA (2.8.1)"
    assert_steady(lab, children=1, horizon=3600.0)


def _free_udp_port(address: str) -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def test_live_run_keeps_no_ike_sa_of_its_past() -> None:
    """Regression: ``ikelab connect`` and ``ikelab respond`` (:func:`ikelab.peer.run_connect`,
    :func:`ikelab.gateway.run_respond`) kept the outcome of the handshake for the whole run, and with it the first
    IKE SA, which through ``replaced_by`` (RFC 7296 2.18) kept every IKE SA of the run alive, closed ones with
    their keys: a run of days without ``--pcap`` (which keeps only the latest packets, ``keep_history=False``)
    grew with every IKE SA rekey.

    Both commands, in this process on loopback (no root: high ports, no ESP), rekey the IKE SA every 0.1 s.  The
    IKE SAs alive after the second rekey (named by their SPIs, which no later IKE SA shares) must all be gone
    after the thirtieth, and at least 2.5 s later: closed long before, they are past the retransmission span for
    which an endpoint keeps a closed IKE SA (forget_at, 1 s here).  (Counting the IKE SAs alive instead depends
    on how many rekeys fall within that span, which a loaded machine changes.)"""
    import asyncio
    import time

    from ikelab.gateway import run_respond
    from ikelab.peer import RunOptions, run_connect

    common: dict[str, Any] = dict(psk=b"a live soak", ike_proposals=("aes128-sha256-x25519",),
                                  esp_proposals=("aes128gcm16",), ike_rekey_time=0.1, ike_lifetime=60.0,
                                  cookie_threshold=None,
                                  retransmit_timeout=0.5, retransmit_tries=1, retransmit_base=1.0)
    moon = IkeConfig(local_id="moon.example", remote_id="sun.example", **common)
    sun = IkeConfig(local_id="sun.example", remote_id="moon.example", **common)
    here, there = "127.0.0.1", "127.0.0.2"
    lines: list[str] = []
    gc.collect()
    before = {id(o) for o in gc.get_objects() if type(o) is IkeSa}  # other tests' in this process, if any

    def ours() -> list[IkeSa]:
        gc.collect()
        return [o for o in gc.get_objects() if type(o) is IkeSa and id(o) not in before]

    async def rekeys(count: int) -> None:
        while sum("IKE SA rekeyed" in line for line in lines) < count:
            await asyncio.sleep(0.02)

    async def main() -> tuple[int, int, list[IkeSa]]:
        quiet = dict(wait=10.0, quiet=True, keepalive=None)
        port = _free_udp_port(there)
        respond = asyncio.create_task(run_respond(sun, there, RunOptions(duration=0.0, **quiet), port=port,
                                                  out=lambda text: None))
        await asyncio.sleep(0.1)  # listening
        connect = asyncio.create_task(run_connect(moon, (there, port), RunOptions(duration=7.0, **quiet),
                                                  local=here, port=_free_udp_port(here), out=lines.append))
        await asyncio.wait_for(rekeys(2), 10)
        early = {(sa.spi_i, sa.spi_r) for sa in ours()}
        since = time.monotonic()
        await asyncio.wait_for(rekeys(30), 10)
        await asyncio.sleep(max(0.0, 2.5 - (time.monotonic() - since)))
        kept = [sa for sa in ours() if (sa.spi_i, sa.spi_r) in early]
        return await connect, await respond, kept

    connect_status, respond_status, kept = asyncio.run(main())
    assert (connect_status, respond_status) == (0, 0), lines
    assert not kept, f"IKE SAs of the run's first seconds still alive: {[(sa.state, sa.closed_at) for sa in kept]}"
