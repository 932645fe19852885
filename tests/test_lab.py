"""The in-memory lab (ikelab.lab) and its trace (ikelab.trace): network model, hooks, captures.

The loss/duplication/reordering property: whatever the network does to the
first packets, both peers end with the same IKE SA keys and CHILD SAs, or
both have cleanly given up (RFC 7296 2.1, 2.4: retransmission and liveness).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_ike import assert_same_sas

from ikelab import events as ev
from ikelab.config import IkeConfig
from ikelab.errors import ConfigError
from ikelab.lab import Lab, Network
from ikelab.message import decode
from ikelab.packet import parse_ip, parse_udp
from ikelab.pcap import LINKTYPE_RAW, read_capture, write_pcap
from ikelab.state import State
from ikelab.trace import Trace, TracePacket


def configs(**both) -> tuple[IkeConfig, IkeConfig]:
    base = dict(psk=b"a shared secret", ike_proposals=("aes128-sha256-x25519",), esp_proposals=("aes128gcm16",),
                cookie_threshold=None)
    base.update(both)
    return (IkeConfig(local_id="moon.example", remote_id="sun.example", **base),
            IkeConfig(local_id="sun.example", remote_id="moon.example", **base))


def test_trace_records_packets_with_addresses_ports_and_times() -> None:
    lab = Lab(*configs(), seed=1, network=Network(delay=0.25))
    lab.initiate()
    lab.run_until_idle()
    assert isinstance(lab.trace, Trace) and len(lab.trace) == 4
    p = lab.trace[0]
    assert isinstance(p, TracePacket)
    assert (p.time, p.src, p.dst, p.sport, p.dport, p.kind, p.note) == (0.0, "192.0.2.1", "192.0.2.2", 500, 500,
                                                                        "ike", "")
    assert [q.time for q in lab.trace] == pytest.approx([0.0, 0.25, 0.5, 0.75])
    assert [q.src for q in lab.trace] == ["192.0.2.1", "192.0.2.2"] * 2
    assert decode(p.payload).exchange.name == "IKE_SA_INIT"
    assert lab.trace.ike() == lab.trace and lab.trace.esp() == []
    rows = lab.trace.packet_list()
    assert rows[0][4] == "ISAKMP" and rows[0][6] == "IKE_SA_INIT MID=00 Initiator Request"
    assert rows[3][6] == "IKE_AUTH MID=01 Responder Response"
    assert "IKE_AUTH MID=01 Initiator Request" in lab.trace.format()


def test_trace_to_pcap_round_trip() -> None:
    lab = Lab(*configs(encapsulation="always"), seed=2)
    lab.initiate()
    lab.run_until_idle()
    buf = io.BytesIO()
    write_pcap(buf, lab.trace.ip_packets(), linktype=LINKTYPE_RAW)
    buf.seek(0)
    captured = read_capture(buf)
    assert len(captured) == len(lab.trace)
    for pkt, cap in zip(lab.trace, captured):
        ip = parse_ip(cap.data)
        udp = parse_udp(ip)
        assert (str(ip.src), str(ip.dst), udp.sport, udp.dport) == (pkt.src, pkt.dst, pkt.sport, pkt.dport)
        assert udp.payload == pkt.payload
        assert cap.time == pytest.approx(pkt.time)
    # on port 4500 the IKE message follows the Non-ESP Marker (RFC 3948 2.2)
    assert lab.trace[2].payload[:4] == bytes(4) and lab.trace[2].ike_message == lab.trace[2].payload[4:]


def test_events_hooks_and_subclass() -> None:
    seen: list[tuple[str, str]] = []

    class Glue(Lab):
        installed: list[ev.ChildSaCreated] = []

        def on_event(self, side: str, event: ev.Event) -> None:
            if isinstance(event, ev.ChildSaCreated):
                self.installed.append(event)

    lab = Glue(*configs(), seed=3)
    lab.callbacks.append(lambda side, e: seen.append((side, type(e).__name__)))
    lab.initiate()
    lab.run_until_idle()
    assert len(lab.installed) == 2
    a, b = lab.installed
    assert a.spi_in == b.spi_out and a.encr_key_in == b.encr_key_out
    assert ("responder", "IkeSaEstablished") in seen and ("initiator", "ChildSaCreated") in seen
    assert lab.events("initiator", ev.IkeSaEstablished) and lab.events("responder", ev.KeysDerived)
    with pytest.raises(ConfigError):
        lab.events("nobody")


def test_send_esp_goes_through_network_and_trace() -> None:
    lab = Lab(*configs(), seed=4)
    lab.initiate()
    lab.run_until_idle()
    esp = b"\x00\x00\x12\x34" + b"\x00\x00\x00\x01" + b"x" * 20
    lab.send_esp("initiator", esp)
    lab.send_esp("responder", esp, udp_encap=True)
    lab.run_until_idle()
    assert [p.payload for p in lab.esp_received["responder"]] == [esp]
    assert [p.dport for p in lab.esp_received["initiator"]] == [4500]
    assert [p.kind for p in lab.trace.esp()] == ["esp", "esp"]
    assert lab.trace.esp()[0].ip_packet()[9] == 50  # IPv4 protocol field: ESP


def test_network_validation_and_schedule() -> None:
    with pytest.raises(ConfigError):
        Network(loss=1.5)
    with pytest.raises(ConfigError):
        Network(schedule=("explode",))
    # each once gave a TypeError from a comparison, a NaN delay that no clock reaches, or the wrong field
    for kw, field in ((dict(loss="0.5"), "loss"), (dict(duplicate=math.nan), "duplicate"), (dict(reorder=True), "reorder"),
                      (dict(delay=math.nan), "delay"), (dict(delay=math.inf), "delay"), (dict(delay="0.1"), "delay"),
                      (dict(reorder_delay=-1.0), "reorder_delay"), (dict(schedule="drop"), "schedule")):
        with pytest.raises(ConfigError) as info:
            Network(**kw)
        assert info.value.field == field, kw
    lab = Lab(*configs(), seed=1)
    for limit in (math.nan, -1.0, "5"):
        with pytest.raises(ConfigError, match="limit must be a number of seconds"):
            lab.run_until_idle(limit)  # type: ignore[arg-type]
    lab.initiate()
    lab.run_until_idle(math.inf)  # no limit: until the handshake is done
    assert lab.initiator.established
    lab = Lab(*configs(), seed=5, network=Network(schedule=("drop",)))
    lab.initiate()
    lab.run_until_idle()
    assert lab.trace[0].note == "lost"
    assert lab.initiator.state == State.ESTABLISHED
    assert len(lab.trace.delivered()) == len(lab.trace) - 1


def test_run_until_time_and_actions_need_an_sa() -> None:
    lab = Lab(*configs(), seed=6)
    with pytest.raises(ConfigError):
        lab.liveness("initiator")
    lab.initiate()
    lab.run(until=0.015)
    assert lab.now == 0.015 and len(lab.trace) == 2
    lab.run(until=1.0)
    assert lab.initiator.established
    lab.run(until=0.5)  # a time already past does nothing
    assert lab.now == 1.0
    for bad in (float("inf"), float("nan"), "5", None, True):
        with pytest.raises(ConfigError, match="finite time") as err:
            lab.run(until=bad)  # type: ignore[arg-type]
        assert err.value.field == "until"
    assert lab.now == 1.0


def test_a_configuration_must_be_an_ikeconfig() -> None:
    """A dict or a string in place of an IkeConfig is refused at once, not run with no proposals."""
    from ikelab.endpoint import IkeEndpoint
    from ikelab.ike import IkeSa

    moon, sun = configs()
    with pytest.raises(ConfigError, match="responder_config needs an IkeConfig, not str"):
        Lab(moon, "sun")
    with pytest.raises(ConfigError, match=r"initiator_config needs an IkeConfig, not dict: IkeConfig\(\*\*settings\)"):
        Lab(dict(psk=b"a shared secret"), sun)
    with pytest.raises(ConfigError, match="IkeEndpoint needs an IkeConfig, not NoneType"):
        IkeEndpoint(None)
    with pytest.raises(ConfigError, match="IkeSa needs an IkeConfig"):
        IkeSa({"psk": b"x"}, initiator=True, local=("192.0.2.1", 500), remote=("192.0.2.2", 500))
    with pytest.raises(ConfigError, match="IkeSa needs an IkeConfig, not str"):
        IkeEndpoint(moon).initiate("192.0.2.2", 0.0, config="sun")



@pytest.mark.parametrize("local,port,remote,message", [
    ("192.0.2.1", 500, ("192.0.2.2", 70000), "remote port must be in 1..65535, got 70000"),
    ("192.0.2.1", 500, ("192.0.2.2", -1), "remote port must be in 1..65535, got -1"),
    ("192.0.2.1", 500, ("192.0.2.2", True), "remote port must be an int in 1..65535, got True"),
    ("192.0.2.1", 500, ("gw.example", 500), "remote address 'gw.example' is not an IP address"),
    ("192.0.2.1", 500, ("192.0.2.2",), r"remote must be an IP address or an \(address, port\) pair"),
    ("192.0.2.1", 500, None, r"remote must be an IP address or an \(address, port\) pair, got None"),
    ("bogus", 500, "192.0.2.2", "local address 'bogus' is not an IP address"),
    ("192.0.2.1", 0, "192.0.2.2", "local port must be in 1..65535, got 0"),
])
def test_endpoint_addresses_and_ports_are_checked(local: str, port: int, remote: object, message: str) -> None:
    """A bad address or port is a ConfigError that names it (it was an OverflowError from the NAT hash)."""
    from ikelab.endpoint import IkeEndpoint

    moon, _ = configs()
    with pytest.raises(ConfigError, match=message):
        IkeEndpoint(moon, local_addr=local, port=port).initiate(remote, 0.0)  # type: ignore[arg-type]


def test_an_endpoint_does_not_answer_its_own_ike_sa_init() -> None:
    """``ikelab connect 127.0.0.1`` with nothing else on port 500: the request comes back to the socket that sent
    it.  The endpoint once answered it as a responder and then took its own answer, so the run reported an IKE SA
    and a CHILD SA "established" with itself; now the request is dropped, with the reason."""
    from ikelab.endpoint import IkeEndpoint

    moon, _ = configs()
    me = IkeEndpoint(moon, local_addr="192.0.2.1")
    sa = me.initiate("192.0.2.1", 0.0)
    for _ in range(3):  # the request, and what would follow it
        for dgram in me.pop_datagrams():
            me.receive(dgram, 0.1)
    assert not me.half_open and list(me.sas.values()) == [sa] and sa.state == State.INIT_SENT
    (dropped,) = me.pop_events()[-1:]
    assert isinstance(dropped, ev.MessageDropped) and "our own IKE_SA_INIT request came back" in dropped.reason


def test_endpoint_takes_a_port_as_text_or_a_list_pair() -> None:
    from ikelab.endpoint import IkeEndpoint

    moon, _ = configs()
    for remote in (("2001:db8::2", "4500"), ["2001:db8::2", 4500]):
        endpoint = IkeEndpoint(moon, local_addr="2001:db8::1")
        endpoint.initiate(remote, 0.0)  # type: ignore[arg-type]
        assert [d.dst for d in endpoint.pop_datagrams()] == [("2001:db8::2", 4500)]


FATE = st.sampled_from(["ok", "drop", "dup", "late"])
FATES = st.lists(FATE, min_size=0, max_size=14)


def _handshake_then(lab: Lab, side: str, action: Callable[[], None]) -> None:
    """The handshake over the lab's network; ``action()`` if ``side`` is then established; then 400 s more."""
    lab.initiate()
    lab.run_until_idle(limit=120.0)
    sa = lab.initiator if side == "initiator" else lab.responder
    if sa is not None and sa.established:
        action()
    lab.run(until=lab.now + 400.0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fates=FATES, seed=st.integers(0, 3))
def test_loss_duplication_reordering_converge(fates: list[str], seed: int) -> None:
    lab = Lab(*configs(dpd_interval=30), seed=seed, network=Network(schedule=tuple(fates)))
    _handshake_then(lab, "responder", lambda: lab.create_child("responder"))
    a, b = lab.initiator, lab.responder
    if a is not None and b is not None and a.established and b.established:
        assert (a.spi_i, a.spi_r) == (b.spi_i, b.spi_r)
        assert a.keys.as_dict() == b.keys.as_dict()
        assert {(c.spi_in, c.spi_out) for c in a.children.values()} == \
               {(c.spi_out, c.spi_in) for c in b.children.values()}
        for c in a.children.values():
            assert c.encr_key_out == b.children[c.spi_out].encr_key_in
    else:
        for side in ("initiator", "responder"):
            for sa in lab.sas(side):
                assert sa.state == State.CLOSED
            if lab.sas(side):
                assert any(f.fatal for f in lab.events(side, ev.Failure))


def _established_then_lossy(fates: list[str], *, seed: int, **config: object) -> Lab:
    """A lab whose handshake ran on a clean network, then whose next packets meet ``fates``."""
    lab = Lab(*configs(**config), seed=seed)
    lab.initiate()
    lab.run_until_idle()
    lab.network = Network(schedule=tuple(fates))
    lab._packets = 0
    return lab


@settings(max_examples=10, deadline=None)
@given(fates=st.lists(st.sampled_from(["ok", "drop", "dup", "late"]), min_size=1, max_size=10))
def test_rekeys_under_loss_keep_peers_in_agreement(fates: list[str]) -> None:
    lab = _established_then_lossy(fates, seed=9)
    lab.rekey_child("initiator")
    lab.rekey_ike("responder")
    # a CHILD SA rekey that meets the IKE SA rekey gets TEMPORARY_FAILURE (RFC 7296 2.25.1) and is retried
    lab.run(until=lab.now + 300.0)
    a, b = lab.initiator, lab.responder
    rekeyed = lab.events("initiator", ev.ChildSaRekeyed) + lab.events("responder", ev.ChildSaRekeyed)
    assert rekeyed and lab.events("initiator", ev.IkeSaRekeyed)
    assert a.established and b.established
    assert a.keys.as_dict() == b.keys.as_dict()
    pairs = {(c.spi_in, c.spi_out) for c in a.children.values()}
    assert pairs == {(c.spi_out, c.spi_in) for c in b.children.values()} and len(pairs) == 1


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_chaotic_network_with_automatic_rekeys_stays_consistent(seed: int) -> None:
    """15 % loss, 10 % duplication, 10 % reordering for 300 s of CHILD SA and IKE SA rekeys and
    liveness checks driven by lifetimes; then a clean network: the peers agree on everything, and once
    the IKE SAs that wait for the peer's DELETE have timed out, each holds only its current IKE SA."""
    ci, cr = configs(child_rekey_time=20, child_lifetime=30, ike_rekey_time=45, ike_lifetime=60, dpd_interval=10,
                     rekey_margin=5)
    lab = Lab(ci, cr, seed=seed, network=Network(loss=0.15, duplicate=0.1, reorder=0.1))
    lab.initiate()
    lab.run(until=300.0)
    lab.network = Network()
    # 200 s more than an old or redundant IKE SA waits for the peer's DELETE (RFC 7296 2.8.2, 2.18; 165 s)
    lab.run(until=600.0)
    lab.run_until_idle()  # let an exchange that is under way at t = 600 s finish
    a, b = lab.initiator, lab.responder
    if a is not None and b is not None and a.established and b.established:
        assert (a.spi_i, a.spi_r) == (b.spi_i, b.spi_r) and a.keys == b.keys
        assert {(c.spi_in, c.spi_out) for c in a.children.values()} == \
               {(c.spi_out, c.spi_in) for c in b.children.values()}
        for side, current in (("initiator", a), ("responder", b)):
            assert [sa for sa in lab.sas(side) if sa.state != State.CLOSED] == [current]
    else:
        assert all(sa.state == State.CLOSED for side in ("initiator", "responder") for sa in lab.sas(side))


def test_key_tables_of_a_nat_lab_name_the_addresses_its_trace_shows() -> None:
    """The trace is taken between the NAT and the responder, so the initiator's ESP SAs must carry the NAT's
    public address: its tables named its private one, and ``dissect`` found "no key for this SPI" in its own
    capture.  Both peers' tables now describe the same SAs on the same wire."""
    from ikelab.dissect import dissect
    from ikelab.esp import EspSa
    from ikelab.packet import icmp_echo
    from ikelab.wireshark import KeyTables, records_from_lab

    lab = _nat_lab()
    mine, theirs = records_from_lab(lab, "initiator")[1], records_from_lab(lab, "responder")[1]
    assert set(mine) == set(theirs) and {r.src for r in mine} == {"203.0.113.5", "192.0.2.2"}
    child = lab.events("initiator", ev.ChildSaCreated)[0]
    out = EspSa(int.from_bytes(child.spi_out, "big"), direction="outbound", encryption=child.encr,
                key_bits=child.encr_key_bits, encryption_key=child.encr_key_out, integrity=child.integ,
                integrity_key=child.integ_key_out, tunnel=("192.0.2.1", "192.0.2.2"))
    lab.send_esp("initiator", out.encapsulate(icmp_echo("192.0.2.1", "192.0.2.2", 1, 1, b"through the NAT"), 4),
                 udp_encap=True)
    lab.run_until_idle()
    capture = io.BytesIO()
    write_pcap(capture, list(lab.trace.ip_packets()), linktype=LINKTYPE_RAW)
    capture.seek(0)
    rows = dissect(capture, KeyTables.from_lab(lab, "initiator"))
    esp = [r for r in rows if r.kind == "esp"]
    assert len(esp) == 1 and esp[0].src == "203.0.113.5" and esp[0].icv_ok, esp


def test_nat_in_front_of_the_initiator() -> None:
    lab = _nat_lab()
    a, b = lab.initiator, lab.responder
    assert a.established and b.established and a.keys == b.keys
    assert a.nat_detected and a.nat_local and b.nat_detected and b.nat_remote
    # what `ikelab connect` / `respond` print of it (tests/interop/test_ikelab_nat.py: across a real NAT)
    from ikelab.peer import nat_summary

    assert nat_summary(a) == "NAT detection (RFC 7296 2.23): this host is behind a NAT"
    assert nat_summary(b) == ("NAT detection (RFC 7296 2.23): the peer is behind a NAT "
                              "(or fakes one to force UDP encapsulation)")
    plain = Lab(*configs(), seed=7)
    plain.initiate()
    plain.run_until_idle()
    assert nat_summary(plain.initiator) == "NAT detection (RFC 7296 2.23): no NAT between the peers"
    # the trace is seen between the NAT and the responder: translated source, then port 4500 (RFC 7296 2.23)
    assert [(p.src, p.sport, p.dst, p.dport) for p in lab.trace] == [
        ("203.0.113.5", 49152, "192.0.2.2", 500), ("192.0.2.2", 500, "203.0.113.5", 49152),
        ("203.0.113.5", 49153, "192.0.2.2", 4500), ("192.0.2.2", 4500, "203.0.113.5", 49153)]
    ci = lab.events("initiator", ev.ChildSaCreated)[0]
    cr = lab.events("responder", ev.ChildSaCreated)[0]
    assert ci.udp_encap and cr.udp_encap
    assert (ci.local_port, ci.remote_port) == (4500, 4500)
    assert (cr.remote_addr, cr.remote_port) == ("203.0.113.5", 49153)
    # UDP-encapsulated ESP crosses the NAT both ways
    esp = b"\x00\x00\x12\x34" + b"\x00\x00\x00\x01" + b"y" * 16
    lab.send_esp("initiator", esp, udp_encap=True)
    lab.send_esp("responder", esp, udp_encap=True)
    lab.run_until_idle()
    assert len(lab.esp_received["responder"]) == len(lab.esp_received["initiator"]) == 1
    lab.rekey_child("responder")
    lab.liveness("responder")
    lab.run_until_idle()
    assert len(lab.initiator.children) == 1 and lab.initiator.keys == lab.responder.keys
    # an IKE SA rekey repeats no NAT detection: the new IKE SA keeps what the first one found (RFC 7296 2.23)
    old = lab.initiator
    lab.rekey_ike("initiator")
    lab.run_until_idle()
    a, b = lab.initiator, lab.responder
    assert a is not old and a.keys == b.keys
    assert (a.nat_detected, a.nat_local, a.nat_remote) == (True, True, False)
    assert (b.nat_detected, b.nat_local, b.nat_remote) == (True, False, True)
    assert nat_summary(a) == "NAT detection (RFC 7296 2.23): this host is behind a NAT"


@settings(max_examples=15, deadline=None)
@given(fates=st.lists(st.sampled_from(["ok", "drop", "dup", "late"]), min_size=1, max_size=12),
       seed=st.integers(0, 50))
def test_simultaneous_ike_rekeys_under_loss_keep_peers_in_agreement(fates: list[str], seed: int) -> None:
    """Both peers rekey the IKE SA at once (RFC 7296 2.8.2) on a network that drops, duplicates and
    delays packets: in the end both hold the same one IKE SA with the same CHILD SA."""
    lab = _established_then_lossy(fates, seed=seed, dpd_interval=30)
    lab.rekey_ike("initiator")
    lab.rekey_ike("responder")
    lab.run(until=lab.now + 400.0)
    lab.run_until_idle()
    live_i = [sa for sa in lab.sas("initiator") if sa.established]
    live_r = [sa for sa in lab.sas("responder") if sa.established]
    assert len(live_i) == len(live_r) == 1
    a, b = live_i[0], live_r[0]
    assert (a.spi_i, a.spi_r) == (b.spi_i, b.spi_r) and a.keys == b.keys
    pairs = {(c.spi_in, c.spi_out) for c in a.children.values()}
    assert pairs == {(c.spi_out, c.spi_in) for c in b.children.values()} and len(pairs) == 1


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fates=st.lists(FATE, min_size=0, max_size=24), seed=st.integers(0, 3))  # fragments make more packets
def test_the_extensions_together_under_loss_converge(fates: list[str], seed: int) -> None:
    """IKE fragments (160-octet packets), a virtual IP from a pool and a childless IKE SA, over a network that
    drops, duplicates and delays: the peers end with the same keys and mirrored CHILD SAs, the client with
    the address the gateway holds for it, or both give up cleanly; the pool never holds an address for an
    IKE SA that is gone."""
    ci, cr = configs(fragmentation=True, fragment_size=160, childless=True, dpd_interval=30)
    lab = Lab(replace(ci, vip="0.0.0.0"), replace(cr, pool="10.3.0.0/24"), seed=seed,
              network=Network(schedule=tuple(fates)))
    _handshake_then(lab, "initiator", lambda: lab.rekey_ike("responder"))
    a, b = lab.initiator, lab.responder
    pool = lab.endpoints["responder"].pool
    assert all(holder.state != State.CLOSED for _, holder in pool.holders.values())
    if a is not None and b is not None and a.established and b.established:
        assert_same_sas(lab)  # keys, SPIs, mirrored CHILD SAs and their keys (tests/test_ike.py)
        if b.peer_virtual_ip is not None:
            assert a.virtual_ip == b.peer_virtual_ip and pool.holders[b.peer_virtual_ip][1] is b
    else:
        for side in ("initiator", "responder"):
            assert all(sa.state == State.CLOSED for sa in lab.sas(side))


def _nat_lab() -> Lab:
    """moon (192.0.2.1) behind a NAPT (203.0.113.5), sun at 192.0.2.2, established; "dynamic" selectors
    would name the NAT's public address on the responder, so both name the hosts."""
    ci, _ = configs(local_ts=("192.0.2.1/32",), remote_ts=("192.0.2.2/32",))
    _, cr = configs(local_ts=("192.0.2.2/32",), remote_ts=("192.0.2.1/32",))
    lab = Lab(ci, cr, seed=7, nat="203.0.113.5")
    lab.initiate()
    lab.run_until_idle()
    assert lab.initiator.nat_local and lab.responder.nat_remote
    return lab


def test_a_retransmitted_request_from_a_new_nat_port_is_answered_there() -> None:
    """RFC 7296 2.11: "MUST respond to the address and port from which the request was received".  The NAT
    rebinds between a request and its retransmission (the answer was lost): the answer from the cache went to
    the old mapping, so the exchange could never complete."""
    from ikelab.exchanges_common import unframe

    lab = _nat_lab()
    a, b = lab.initiator, lab.responder
    a.liveness(lab.now)
    [request] = a.pop_datagrams()
    b.receive(unframe(request), lab.now, src=("203.0.113.5", 49153), dst=("192.0.2.2", 4500))
    assert [d.dst for d in b.pop_datagrams()] == [("203.0.113.5", 49153)]  # lost on the way
    b.receive(unframe(request), lab.now + 1, src=("203.0.113.5", 50000), dst=("192.0.2.2", 4500))
    [again] = b.pop_datagrams()
    assert again.dst == ("203.0.113.5", 50000) and again.payload[:4] == b"\x00\x00\x00\x00"  # Non-ESP Marker


def test_the_host_behind_the_nat_does_not_follow_the_peers_address() -> None:
    """RFC 7296 2.23: "A host behind a NAT SHOULD NOT do this type of dynamic address update", as one
    validated packet from elsewhere would move it for good; it still answers a request where it came from
    (2.11).  The initiator behind the NAT moved."""
    from ikelab.exchanges_common import unframe

    lab = _nat_lab()
    a, b = lab.initiator, lab.responder
    before = a.remote
    b.liveness(lab.now)
    [request] = b.pop_datagrams()
    a.receive(unframe(request), lab.now, src=("198.51.100.66", 31337), dst=("192.0.2.1", 4500))
    [answer] = a.pop_datagrams()
    assert a.remote == before and answer.dst == ("198.51.100.66", 31337)


def test_a_retransmission_follows_the_peer_to_its_new_address() -> None:
    """RFC 7296 2.23: the host not behind the NAT "SHOULD send all packets (including retransmission packets)
    to the IP address and port in the validated packet".  A request already out was retransmitted to the
    peer's old NAT mapping."""
    from ikelab.exchanges_common import unframe

    lab = _nat_lab()
    a, b = lab.initiator, lab.responder
    b.liveness(lab.now)
    [first] = b.pop_datagrams()
    a.liveness(lab.now)
    [request] = a.pop_datagrams()  # from the initiator's new NAT mapping
    b.receive(unframe(request), lab.now + 0.1, src=("203.0.113.5", 50000), dst=("192.0.2.2", 4500))
    assert b.remote == ("203.0.113.5", 50000) and [d.dst for d in b.pop_datagrams()] == [("203.0.113.5", 50000)]
    b.handle_timer(b.get_timer())
    [retransmitted] = b.pop_datagrams()
    assert retransmitted.dst == ("203.0.113.5", 50000) and retransmitted.payload == first.payload


def test_esp_follows_the_peer_to_its_new_nat_mapping() -> None:
    """RFC 7296 2.23: "all packets" go to the validated new address and port, ESP included.  After a NAT
    rebinding the IKE SA moved (a PeerMoved event) but the CHILD SA's ESP still went to the old mapping, which
    the NAT no longer forwards, until the next rekey (found against strongSwan behind a NAT)."""
    from types import SimpleNamespace

    from ikelab import events as ev
    from ikelab.exchanges_common import unframe
    from ikelab.esp_peer import EspPeer

    lab = _nat_lab()
    a, b = lab.initiator, lab.responder
    sent: list[tuple[str, int]] = []
    esp = EspPeer(SimpleNamespace(now=lambda: 0.0, esp_handler=None,  # type: ignore[arg-type]
                                  send_esp=lambda data, port, dst: sent.append(dst)), out=lambda text: None)
    for event in lab.events("responder"):
        esp.on_event(event)
    child = lab.events("responder", ev.ChildSaCreated)[-1]
    old = (child.remote_addr, child.remote_port)
    assert esp.ping("192.0.2.2", "192.0.2.1", 1) and sent == [old]
    a.liveness(lab.now)
    [request] = a.pop_datagrams()
    b.pop_events()
    b.receive(unframe(request), lab.now + 0.1, src=("203.0.113.5", 50000), dst=("192.0.2.2", 4500))
    moved = [e for e in b.pop_events() if isinstance(e, ev.PeerMoved)]
    assert [(m.old, m.new) for m in moved] == [(old, ("203.0.113.5", 50000))]
    esp.on_event(moved[0])
    assert esp.ping("192.0.2.2", "192.0.2.1", 2) and sent[-1] == ("203.0.113.5", 50000)


def test_transport_mode_with_the_initiator_behind_a_nat() -> None:
    """RFC 7296 2.23.1: transport mode across a NAT is allowed; the initiator's TSi names its own (private)
    address, which is not the one the responder sees, and the responder puts the one it sees (the NAT's) in
    its place before it looks its policy up.  The CHILD SA must come up in transport mode on both sides, as
    with strongSwan.  (A policy naming the private address instead falls back to tunnel mode, as 2.23.1 says:
    tests/test_review_transport_nat.py.)"""
    from ikelab import events as ev

    ci, _ = configs(local_ts=("192.0.2.1/32",), remote_ts=("192.0.2.2/32",), mode="transport")
    _, cr = configs(local_ts=("192.0.2.2/32",), remote_ts=("203.0.113.5/32",), mode="transport")
    lab = Lab(ci, cr, seed=7, nat="203.0.113.5")
    lab.initiate()
    lab.run_until_idle()
    assert lab.initiator.nat_local and lab.responder.nat_remote
    for side in ("initiator", "responder"):
        (child,) = lab.events(side, ev.ChildSaCreated)
        assert child.mode == "transport" and child.udp_encap, side


def _lab_with_plain_and_udp_esp() -> Lab:
    lab = Lab(*configs(), seed=4)
    lab.initiate()
    lab.run_until_idle()
    esp = b"\x00\x00\x12\x34" + b"\x00\x00\x00\x01" + b"x" * 20
    lab.send_esp("initiator", esp)  # IP protocol 50 (RFC 4303)
    lab.send_esp("responder", esp, udp_encap=True)  # in UDP on port 4500 (RFC 3948)
    lab.run_until_idle()
    return lab


def test_packet_list_length_is_the_ip_packet_length() -> None:
    """The Length column of a raw-IP capture is the IP Total Length (RFC 791): ESP sent as IP protocol 50 has no
    8-octet UDP header (RFC 4303), UDP-encapsulated ESP and IKE do (RFC 768, RFC 3948)."""
    lab = _lab_with_plain_and_udp_esp()
    plain, in_udp = lab.trace.esp()
    assert (plain.udp, in_udp.udp) == (False, True)
    rows = lab.trace.packet_list()
    assert [row[5] for row in rows] == [int.from_bytes(p.ip_packet()[2:4], "big") for p in lab.trace]
    assert [row[5] for row in rows if row[4] == "ESP"] == [20 + 28, 20 + 8 + 28]


@pytest.mark.tshark
def test_packet_list_length_agrees_with_tshark(tmp_path) -> None:
    """tshark's frame.len for the trace written as a raw-IP pcap, row by row."""
    from tshark_util import run_fields

    lab = _lab_with_plain_and_udp_esp()
    path = tmp_path / "trace.pcap"
    write_pcap(path, lab.trace.ip_packets(), linktype=LINKTYPE_RAW)
    theirs = run_fields(path, ["frame.len", "_ws.col.Protocol"])
    assert [row[5] for row in lab.trace.packet_list()] == [int(length) for length, _ in theirs]
    assert [proto for _, proto in theirs][-2:] == ["ESP", "ESP"]
