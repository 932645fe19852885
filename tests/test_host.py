"""IKE keys ESP for real: negotiated CHILD SAs are installed in the SPD/SAD,
pings pass through them, a rekey swaps them without losing a packet in
flight, and DELETE removes them (RFC 4301 5, RFC 7296 1.3, 2.8, 1.4.1)."""

from __future__ import annotations

import pytest

from ikelab import events as ev
from ikelab.config import IkeConfig
from ikelab.errors import PolicyError, UnknownSpiError
from ikelab.host import IpsecHost
from ikelab.lab import Lab
from ikelab.packet import icmp_echo, parse_icmp, parse_ip
from ikelab.policy import Action
from ikelab.rand import DeterministicRandom

MOON_NET, SUN_NET = "198.51.100.0/24", "203.0.113.0/24"
MOON_HOST, SUN_HOST = "198.51.100.7", "203.0.113.9"


def make_lab(esp: str, *, pfs_group: str | None = None) -> tuple[Lab, dict[str, IpsecHost]]:
    common = dict(psk=b"a shared secret for the host test", ike_proposals=("aes128-sha256-x25519",),
                  esp_proposals=(esp,), cookie_threshold=None)
    moon = IkeConfig(local_id="moon.example", remote_id="sun.example", local_ts=(MOON_NET,), remote_ts=(SUN_NET,),
                     pfs_group=pfs_group, **common)
    sun = IkeConfig(local_id="sun.example", remote_id="moon.example", local_ts=(SUN_NET,), remote_ts=(MOON_NET,),
                    pfs_group=pfs_group, **common)
    lab = Lab(moon, sun, seed=11)
    rng = DeterministicRandom("host-test")
    hosts = {"initiator": IpsecHost(rng=rng.fork("moon")), "responder": IpsecHost(rng=rng.fork("sun"))}
    lab.callbacks.append(lambda side, event: hosts[side].handle_event(event))
    lab.initiate()
    lab.run_until_idle()
    return lab, hosts


def ping(hosts: dict[str, IpsecHost], seq: int) -> int:
    """moon -> sun echo request through ESP, sun answers through ESP; returns the reply's seq."""
    request = icmp_echo(MOON_HOST, SUN_HOST, 7, seq, b"ikelab ping")
    out = hosts["initiator"].outbound(request)
    assert out.action is Action.PROTECT and out.packet is not None and not out.acquire
    assert parse_ip(out.packet).protocol == 50  # the wire carries ESP, not ICMP
    got = hosts["responder"].inbound(out.packet)
    assert got.packet == request  # the inner packet arrives unchanged
    pkt = parse_ip(got.packet)
    reply = icmp_echo(str(pkt.dst), str(pkt.src), 7, seq, b"ikelab ping", reply=True)
    back = hosts["initiator"].inbound(hosts["responder"].outbound(reply).packet)
    return parse_icmp(parse_ip(back.packet)).seq


@pytest.mark.parametrize("esp", ["aes128-sha256", "aes256gcm16", "chacha20poly1305"])
def test_negotiated_child_sa_carries_pings(esp: str) -> None:
    lab, hosts = make_lab(esp)
    created = lab.events("initiator", ev.ChildSaCreated)
    assert len(created) == 1
    assert [ping(hosts, n) for n in range(1, 4)] == [1, 2, 3]
    # the SAD holds exactly the negotiated SPIs, the SPD a PROTECT policy from the traffic selectors
    moon = hosts["initiator"].processor
    assert [sa.spi.to_bytes(4, "big") for sa in moon.sad.inbound_sas()] == [created[0].spi_in]
    (policy,) = [p for p in moon.spd if p.action is Action.PROTECT]
    assert "198.51.100.0/24" in str(policy) and "203.0.113.0/24" in str(policy)


def test_packet_outside_the_traffic_selectors_is_not_protected() -> None:
    _, hosts = make_lab("aes128-sha256")
    stray = icmp_echo("192.0.2.77", SUN_HOST, 1, 1)
    decision = hosts["initiator"].outbound(stray)
    assert decision.action is Action.DISCARD and decision.packet is None


def test_inner_packet_must_match_the_sa_policy() -> None:
    """RFC 4301 5.2 step 4: a decrypted packet outside the SA's selectors is dropped."""
    _, hosts = make_lab("aes128-sha256")
    moon = hosts["initiator"].processor
    (child,) = moon.children
    forged_inner = icmp_echo("192.0.2.66", SUN_HOST, 1, 1)  # source outside 198.51.100.0/24
    outer = child.outbound.protect_packet(forged_inner)
    with pytest.raises(PolicyError):
        hosts["responder"].inbound(outer)


@pytest.mark.parametrize("pfs", [None, "ECP_256"])
def test_rekey_keeps_packets_in_flight_then_delete_removes_the_old_sa(pfs: str | None) -> None:
    lab, hosts = make_lab("aes128-sha256", pfs_group=pfs)
    old = lab.events("responder", ev.ChildSaCreated)[0]
    in_flight = hosts["initiator"].outbound(icmp_echo(MOON_HOST, SUN_HOST, 7, 100)).packet  # under the old SA
    seen: list[str] = []

    def deliver_when_rekeyed(side: str, event: ev.Event) -> None:
        # between the new CHILD SA and the DELETE of the old one, the old inbound SA must still work
        if side == "responder" and isinstance(event, ev.ChildSaCreated) and event.rekey_of == old.spi_in:
            seen.append("rekeyed")
            assert hosts["responder"].inbound(in_flight).packet is not None

    lab.callbacks.append(deliver_when_rekeyed)
    lab.rekey_child("initiator")
    lab.run_until_idle()
    assert seen == ["rekeyed"]
    new = [e for e in lab.events("responder", ev.ChildSaCreated) if e.rekey_of == old.spi_in]
    assert len(new) == 1 and new[0].spi_in != old.spi_in
    assert (new[0].pfs_group is not None) == (pfs is not None)
    deleted = {e.spi_in for e in lab.events("responder", ev.ChildSaDeleted)}
    assert old.spi_in in deleted
    # after the DELETE the old SPI is unknown, and traffic flows under the new SAs
    with pytest.raises(UnknownSpiError):
        hosts["responder"].inbound(in_flight)
    assert ping(hosts, 5) == 5
    moon_sad = [sa.spi.to_bytes(4, "big") for sa in hosts["initiator"].processor.sad.inbound_sas()]
    assert moon_sad == [lab.events("initiator", ev.ChildSaCreated)[-1].spi_in]


def test_delete_removes_sas_and_policy() -> None:
    lab, hosts = make_lab("aes128-sha256")
    lab.delete_child("responder")
    lab.run_until_idle()
    for host in hosts.values():
        assert host.processor.children == []
        assert host.processor.sad.inbound_sas() == []
        assert all(p.action is not Action.PROTECT for p in host.processor.spd)
    assert hosts["initiator"].outbound(icmp_echo(MOON_HOST, SUN_HOST, 1, 1)).action is Action.DISCARD
    assert any("removed" in line for line in hosts["initiator"].log)


def test_a_rekey_the_initiator_rejects_leaves_both_hosts_on_the_old_sa(monkeypatch) -> None:
    """Sun answers moon's CHILD SA rekey with selectors wider than offered (RFC 7296 2.9), so moon rejects
    the new SA and asks sun to delete it (2.21.3).  Sun had moved its outbound traffic to the new SA;
    deleting it undoes the rekey, says so, and sun's traffic falls back to the old SA, which both
    peers keep (RFC 4301: the SAD still holds it)."""
    from ikelab import exchanges_child
    from ikelab.ts import ts_from_string
    from test_ike import assert_same_sas

    lab, hosts = make_lab("aes256gcm16")
    assert ping(hosts, 1) == 1
    (old,) = lab.initiator.children.values()
    wide = (ts_from_string("0.0.0.0/0"),)
    monkeypatch.setattr(exchanges_child, "narrow_cached", lambda *args: (wide, wide))
    lab.rekey_child("initiator", old.spi_in)
    lab.run_until_idle()
    monkeypatch.undo()
    assert_same_sas(lab)
    assert set(lab.initiator.children) == {old.spi_in}
    (gone,) = lab.events("responder", ev.ChildSaDeleted)
    assert gone.reason == (f"deleted by peer, which undoes its rekey of CHILD SA 0x{old.spi_out.hex()}: "
                           "that one stands (RFC 7296 2.8)")
    assert ping(hosts, 2) == 2  # both ways over the old CHILD SA again


# ----------------------------------------------------------------------------- mutation review edges


def test_udp_encapsulated_sas_send_from_the_local_port_to_the_remote_port() -> None:
    """RFC 7296 2.23 / RFC 3948 2.1: with NAT traversal ESP goes in UDP from our port to the peer's, which a
    NAT may have mapped away from 4500.  The ports are read from the raw UDP header (RFC 768)."""
    from dataclasses import replace

    from ikelab.host import sa_pair

    lab, _ = make_lab("aes256gcm16")
    event = replace(lab.events("initiator", ev.ChildSaCreated)[0], udp_encap=True, local_port=4500,
                    remote_port=31337)
    _, outbound = sa_pair(event, rng=DeterministicRandom("nat"))
    assert outbound.udp_encap == (4500, 31337)
    wire = outbound.protect_packet(icmp_echo(MOON_HOST, SUN_HOST, 7, 1))
    assert wire[9] == 17 and (int.from_bytes(wire[20:22], "big"), int.from_bytes(wire[22:24], "big")) == (4500, 31337)


def test_ah_child_sas_are_keyed_by_direction() -> None:
    """RFC 7296 2.17: each direction has its own integrity key; what moon sends with its outbound key, sun's
    inbound SA (keyed with the same slice, its ``integ_key_in``) verifies.  The CHILD SA events of a real
    exchange, relabelled AH (RFC 4302), give both sides' SAs."""
    from dataclasses import replace

    from ikelab.host import sa_pair

    lab, _ = make_lab("aes128-sha256")
    moon_event, sun_event = (replace(lab.events(side, ev.ChildSaCreated)[0], protocol="AH")
                             for side in ("initiator", "responder"))
    assert moon_event.integ_key_out == sun_event.integ_key_in != sun_event.integ_key_out
    _, moon_out = sa_pair(moon_event)
    sun_in, _ = sa_pair(sun_event)
    assert sun_in.integrity_key == sun_event.integ_key_in
    request = icmp_echo(MOON_HOST, SUN_HOST, 7, 1)
    wire = moon_out.protect_packet(request)
    assert parse_ip(wire).protocol == 51 and sun_in.unprotect_packet(wire) == request


def test_a_rekey_swaps_sas_under_the_same_policy() -> None:
    """RFC 7296 2.8 and RFC 4301 4.4.1: a rekeyed CHILD SA keeps its traffic selectors, so the SPD keeps one
    PROTECT policy.  Moon, which asked for the rekey, sends on the new SA as soon as it holds it; sun, which
    answered, keeps sending on the old one until moon deletes it (sun's answer might have been lost, and moon
    deletes the old SA only once it holds the new one), then on the new one."""
    lab, hosts = make_lab("aes128-sha256")
    old = lab.events("responder", ev.ChildSaCreated)[0]
    seen: list[tuple[str, int, bytes, bytes]] = []

    def sends_on(side: str) -> tuple[int, bytes]:
        host = hosts[side]
        protect = [p for p in host.processor.spd if p.action is Action.PROTECT]
        src, dst = (MOON_HOST, SUN_HOST) if side == "initiator" else (SUN_HOST, MOON_HOST)
        return len(protect), host.outbound(icmp_echo(src, dst, 7, 1)).spi.to_bytes(4, "big")

    def on_event(side: str, event: ev.Event) -> None:  # the host's own handler ran first
        if isinstance(event, ev.ChildSaCreated) and event.rekey_of is not None:
            seen.append((f"{side} rekeyed", *sends_on(side), event.spi_out))
        if side == "responder" and isinstance(event, ev.ChildSaDeleted) and event.spi_in == old.spi_in:
            new = [e for e in lab.events("responder", ev.ChildSaCreated) if e.rekey_of == old.spi_in]
            seen.append(("responder deleted the old", *sends_on(side), new[0].spi_out))

    lab.callbacks.append(on_event)
    lab.rekey_child("initiator")
    lab.run_until_idle()
    assert [row[0] for row in seen] == ["responder rekeyed", "initiator rekeyed", "responder deleted the old"]
    (_, p1, sun_first, sun_new), (_, p2, moon_first, moon_new), (_, p3, sun_then, sun_new2) = seen
    assert p1 == p2 == p3 == 1
    assert sun_first == old.spi_out != sun_new  # sun answered: still the old SA
    assert moon_first == moon_new  # moon asked: the new SA at once
    assert sun_then == sun_new2 == sun_new  # the old CHILD SA is gone: the new one
    assert any("once the old CHILD SA is deleted" in line for line in hosts["responder"].log)
    assert not any("once the old CHILD SA is deleted" in line for line in hosts["initiator"].log)


# ----------------------------------------------------------------------------- mutation review of sa_pair and the host


def moon_event(esp: str = "aes128-sha256") -> ev.ChildSaCreated:
    """The initiator's ChildSaCreated of a real exchange, for building SAs by hand."""
    lab, _ = make_lab(esp)
    return lab.events("initiator", ev.ChildSaCreated)[0]


def test_tunnel_ends_are_ours_then_the_peers_outbound_and_the_reverse_inbound() -> None:
    """RFC 4301 5.1.2.1: a tunnel-mode packet leaves with the outer source of the local gateway and the outer
    destination of the peer.  What moon's outbound SA sends, sun's inbound SA receives, so their tunnel
    ends are the same pair; the outer addresses are read from the raw IPv4 header (RFC 791 3.1)."""
    from ipaddress import ip_address

    from ikelab.host import sa_pair

    lab, _ = make_lab("aes256gcm16")
    moon, sun = (lab.events(side, ev.ChildSaCreated)[0] for side in ("initiator", "responder"))
    moon_in, moon_out = sa_pair(moon, rng=DeterministicRandom("ends"))
    sun_in, sun_out = sa_pair(sun, rng=DeterministicRandom("ends"))
    wire = moon_out.protect_packet(icmp_echo(MOON_HOST, SUN_HOST, 7, 1))
    assert (ip_address(wire[12:16]), ip_address(wire[16:20])) == (ip_address(moon.local_addr),
                                                                  ip_address(moon.remote_addr))
    assert moon_out.tunnel == sun_in.tunnel and sun_out.tunnel == moon_in.tunnel
    assert moon_in.tunnel == (ip_address(moon.remote_addr), ip_address(moon.local_addr))


def test_a_child_sa_of_an_unknown_protocol_is_refused() -> None:
    """RFC 7296 3.3.1: a CHILD SA is ESP or AH; anything else must not quietly become an ESP SA."""
    from dataclasses import replace

    from ikelab.errors import ConfigError
    from ikelab.host import sa_pair

    with pytest.raises(ConfigError, match="unknown CHILD SA protocol 'IPCOMP'") as err:
        sa_pair(replace(moon_event(), protocol="IPCOMP"))
    assert err.value.field == "protocol"


@pytest.mark.parametrize("protocol", ["ESP", "AH"])
def test_negotiated_esn_mode_and_creation_time_reach_both_sas(protocol: str) -> None:
    """RFC 7296 3.3.2 (transform type 5) and 1.3.1 (USE_TRANSPORT_MODE): the negotiated ESN and mode apply to
    both directions, and RFC 4301 4.4.2.1 lifetimes count from the time the SAs were created (the event's)."""
    from dataclasses import replace

    from ikelab.esp import Mode
    from ikelab.host import sa_pair

    event = replace(moon_event(), protocol=protocol, esn=True, mode="transport", time=100.0)
    pair = sa_pair(event, rng=DeterministicRandom("esn"))
    assert [(sa.esn, sa.mode, sa.created) for sa in pair] == [(True, Mode.TRANSPORT, 100.0)] * 2
    request = icmp_echo(MOON_HOST, SUN_HOST, 7, 1)
    wire = pair[1].protect_packet(request)
    assert wire[12:20] == request[12:20]  # transport mode keeps the original addresses (RFC 4303 3.1.1)


def test_allow_weak_reaches_the_sas_the_host_builds() -> None:
    """DESIGN: weak algorithms need ``allow_weak=True``.  A CHILD SA negotiated with ENCR_3DES is refused by
    default, and built (with a warning) when the host was told to allow weak algorithms."""
    from dataclasses import replace

    from ikelab.errors import WeakAlgorithmError, WeakAlgorithmWarning
    from ikelab.host import sa_pair

    weak = replace(moon_event(), encr="ENCR_3DES", encr_key_bits=None, encr_key_in=bytes(range(24)),
                   encr_key_out=bytes(range(24, 48)))
    with pytest.raises(WeakAlgorithmError):
        sa_pair(weak)
    with pytest.warns(WeakAlgorithmWarning):
        assert len(sa_pair(weak, allow_weak=True)) == 2
    with pytest.raises(WeakAlgorithmError):
        IpsecHost(rng=DeterministicRandom("weak")).handle_event(weak)
    host = IpsecHost(rng=DeterministicRandom("weak"), allow_weak=True)
    with pytest.warns(WeakAlgorithmWarning):
        host.handle_event(weak)
    assert len(host.processor.children) == 1


def test_events_about_a_child_sa_removed_by_hand_are_harmless() -> None:
    """A lesson may remove a CHILD SA from the SPD/SAD itself (RFC 4301 4.4: the SAD is the host's).  A later
    rekey of it installs the new SAs afresh under their own policy, and a later DELETE of it has nothing left to
    remove; neither is an error."""
    from dataclasses import replace

    event = moon_event()
    host = IpsecHost(rng=DeterministicRandom("by-hand"))
    host.handle_event(event)
    host.processor.remove_child_sa(host.by_spi[event.spi_in])
    host.handle_event(ev.ChildSaDeleted(1.0, "initiator", event.spi_in, event.spi_out, "deleted by peer"))
    assert host.processor.children == [] and not any("removed" in line for line in host.log)

    host.handle_event(event)
    host.processor.remove_child_sa(host.by_spi[event.spi_in])
    new = replace(event, spi_in=b"\x0a\x0b\x0c\x0d", spi_out=b"\x01\x02\x03\x04", rekey_of=event.spi_in, time=2.0)
    host.handle_event(new)
    assert host.log[-1].startswith("2.000 installed")
    assert host.outbound(icmp_echo(MOON_HOST, SUN_HOST, 7, 1)).spi == 0x01020304


def test_a_delete_of_a_child_sa_the_host_never_saw_is_ignored() -> None:
    """A host attached to an IKE SA after its CHILD SA was created never installed it: the DELETE (RFC 7296
    1.4.1) then names SPIs it does not hold, which is nothing to remove and no error."""
    host = IpsecHost(rng=DeterministicRandom("late"))
    host.handle_event(ev.ChildSaDeleted(1.0, "initiator", b"\xde\xad\xbe\xef", b"\x01\x02\x03\x04", "deleted by peer"))
    assert host.processor.children == [] and host.log == []


def test_range_and_port_selectors_reach_the_spd_as_configured() -> None:
    """A CHILD SA whose selectors are an address range that is no network (198.51.100.5-198.51.100.9) and one TCP
    port (RFC 7296 3.13.1): the events write them in strongSwan's syntax, which the host reads back into its SPD
    (it used to get "198.51.100.5..198.51.100.9" and refuse the CHILD SA with a ConfigError)."""
    import ipaddress

    common = dict(psk=b"a shared secret for the host test", ike_proposals=("aes128-sha256-x25519",),
                  esp_proposals=("aes128gcm16",), cookie_threshold=None)
    moon = IkeConfig(local_id="moon.example", remote_id="sun.example", local_ts=("198.51.100.5-198.51.100.9",),
                     remote_ts=(f"{SUN_NET}[tcp/443]",), **common)
    sun = IkeConfig(local_id="sun.example", remote_id="moon.example", local_ts=(f"{SUN_NET}[tcp/443]",),
                    remote_ts=(MOON_NET,), **common)
    lab = Lab(moon, sun, seed=11)
    host = IpsecHost(rng=DeterministicRandom("host-range"))
    lab.callbacks.append(lambda side, event: host.handle_event(event) if side == "initiator" else None)
    lab.initiate()
    lab.run_until_idle()
    (created,) = lab.events("initiator", ev.ChildSaCreated)
    assert created.ts_local == ("198.51.100.5-198.51.100.9",) and created.ts_remote == (f"{SUN_NET}[tcp/443]",)
    (protect,) = [p for p in host.processor.spd if p.action is Action.PROTECT]
    (selector,) = protect.selectors
    assert (selector.local.start, selector.local.end) == (ipaddress.ip_address("198.51.100.5"),
                                                          ipaddress.ip_address("198.51.100.9"))
    assert selector.protocol == 6 and (selector.remote_ports.start, selector.remote_ports.end) == (443, 443)
