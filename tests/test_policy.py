"""The SPD, the SAD and the processing of RFC 4301 section 5, between two gateways.

The expectations are RFC 4301's rules: the first matching SPD entry decides
(4.4.1), no match means discard, inbound ESP goes to the SAD by SPI and the
decapsulated packet must fall inside the SA's selectors (5.2 step 4); and
RFC 7296 2.8: after a rekey the old inbound SA keeps working until deleted.
"""

from __future__ import annotations

import ipaddress

import pytest

from ikelab import packet as ip
from ikelab.ah import AhSa
from ikelab.errors import ConfigError, IntegrityError, ParseError, PolicyError, SaExpiredError, UnknownSpiError
from ikelab.esp import EspSa, Lifetime, add_non_esp_marker
from ikelab.ipsec_sa import Mode
from ikelab.policy import (
    Action,
    AddressRange,
    IpsecProcessor,
    Policy,
    PortRange,
    Selector,
    Spd,
    TrafficSelector,
)

GW_A, GW_B = "203.0.113.1", "203.0.113.2"
NET_A = ("10.1.0.0", "10.1.255.255", 0, 0, 65535)
NET_B = ("10.2.0.0", "10.2.255.255", 0, 0, 65535)


def sas(spi_ab: int, spi_ba: int, *, seed: int = 0, **extra) -> tuple[tuple[EspSa, EspSa], tuple[EspSa, EspSa]]:
    """((A inbound, A outbound), (B inbound, B outbound)) for one CHILD SA between the gateways."""
    k_ab, k_ba = bytes([seed + 1]) * 20, bytes([seed + 2]) * 20
    a_out = EspSa(spi_ab, direction="outbound", encryption="ENCR_AES_GCM_16", encryption_key=k_ab, tunnel=(GW_A, GW_B), **extra)
    b_in = EspSa(spi_ab, direction="inbound", encryption="ENCR_AES_GCM_16", encryption_key=k_ab, **extra)
    b_out = EspSa(spi_ba, direction="outbound", encryption="ENCR_AES_GCM_16", encryption_key=k_ba, tunnel=(GW_B, GW_A), **extra)
    a_in = EspSa(spi_ba, direction="inbound", encryption="ENCR_AES_GCM_16", encryption_key=k_ba, **extra)
    return (a_in, a_out), (b_in, b_out)


def gateways(**extra) -> tuple[IpsecProcessor, IpsecProcessor, object, object]:
    a, b = IpsecProcessor(), IpsecProcessor()
    for gw in (a, b):
        gw.bypass_ike()
        gw.spd.add(Policy("default-discard", (Selector(),), Action.DISCARD))
    (a_in, a_out), (b_in, b_out) = sas(0x1000A, 0x2000B, **extra)
    ca = a.install_child_sa([NET_A], [NET_B], inbound_sa=a_in, outbound_sa=a_out, name="net-a-b")
    cb = b.install_child_sa([NET_B], [NET_A], inbound_sa=b_in, outbound_sa=b_out, name="net-b-a")
    return a, b, ca, cb


def test_gateway_to_gateway() -> None:
    a, b, _, _ = gateways()
    assert [p.name for p in a.spd] == ["bypass-ike", "net-a-b", "default-discard"]  # before the catch-all
    inner = ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1, b"hello")
    out = a.outbound(inner)
    assert out.action is Action.PROTECT and out.policy.name == "net-a-b" and out.spi == 0x1000A
    outer = ip.parse_ip(out.packet)
    assert (str(outer.src), str(outer.dst), outer.protocol) == (GW_A, GW_B, 50)
    got = b.inbound(out.packet)
    assert got.action is Action.PROTECT and got.packet == inner and got.policy.name == "net-b-a"
    assert "net-b-a" in str(got) and "0x0001000a" in str(got)
    reply = b.outbound(ip.icmp_echo("10.2.0.9", "10.1.0.5", 1, 1, b"hello", reply=True))
    assert a.inbound(reply.packet).packet == ip.icmp_echo("10.2.0.9", "10.1.0.5", 1, 1, b"hello", reply=True)


def test_bypass_discard_and_default() -> None:
    a, _, _, _ = gateways()
    ike = ip.ip_udp("203.0.113.1", "203.0.113.2", 500, 500, b"IKE_SA_INIT")
    d = a.outbound(ike)
    assert d.action is Action.BYPASS and d.packet == ike and d.policy.name == "bypass-ike"
    d = a.outbound(ip.icmp_echo("10.1.0.5", "10.9.0.1", 1, 1))
    assert d.action is Action.DISCARD and d.packet is None and d.policy.name == "default-discard"
    empty = IpsecProcessor()
    d = empty.outbound(ip.icmp_echo("10.1.0.5", "10.9.0.1", 1, 1))
    assert d.action is Action.DISCARD and d.policy is None and "no policy" in d.reason
    d = empty.inbound(ip.icmp_echo("10.9.0.1", "10.1.0.5", 1, 1))
    assert d.action is Action.DISCARD and d.policy is None


def test_first_match_wins_and_directions() -> None:
    spd = Spd()
    spd.add(Policy("web-bypass", (Selector.of("10.1.0.0/16", "10.2.0.0/16", 6, remote_ports=80),), Action.BYPASS, applies_to="outbound"))
    spd.add(Policy("lan", (Selector.of("10.1.0.0/16", "10.2.0.0/16"),), Action.DISCARD))
    gw = IpsecProcessor(spd)
    web = ip.ip_packet("10.1.0.5", "10.2.0.9", 6, (40000).to_bytes(2, "big") + (80).to_bytes(2, "big") + bytes(16))
    assert gw.outbound(web).policy.name == "web-bypass"
    back = ip.ip_packet("10.2.0.9", "10.1.0.5", 6, (80).to_bytes(2, "big") + (40000).to_bytes(2, "big") + bytes(16))
    assert gw.inbound(back).policy.name == "lan"  # the bypass covers outbound only
    ssh = ip.ip_packet("10.1.0.5", "10.2.0.9", 6, (40000).to_bytes(2, "big") + (22).to_bytes(2, "big") + bytes(16))
    assert gw.outbound(ssh).policy.name == "lan"
    spd.add(Policy("first", (Selector.of("10.1.0.5", "10.2.0.9"),), Action.BYPASS), position=0)
    assert gw.outbound(ssh).policy.name == "first"
    assert "1. first" in str(spd)
    spd.remove("first")
    with pytest.raises(ConfigError):
        spd.remove("first")
    with pytest.raises(ConfigError):
        spd.add(Policy("lan", (Selector(),), Action.BYPASS))  # names are unique


def test_protect_without_sa_asks_ike() -> None:
    gw = IpsecProcessor(Spd([Policy("vpn", (Selector.of("10.1.0.0/16", "10.2.0.0/16"),), Action.PROTECT)]))
    d = gw.outbound(ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1))
    assert d.action is Action.PROTECT and d.acquire and d.packet is None and "IKE" in d.reason


def test_inbound_selector_check_after_decapsulation() -> None:
    """RFC 4301 5.2 step 4: a packet that decrypts fine on an SA but lies outside its selectors is discarded."""
    a, b, ca, _ = gateways()
    smuggled = ca.outbound.protect_packet(ip.icmp_echo("10.1.0.5", "10.7.7.7", 1, 1, b"outside"))
    with pytest.raises(PolicyError, match="selectors"):
        b.inbound(smuggled)


def test_unprotected_traffic_for_a_protect_policy_is_refused() -> None:
    _, b, _, _ = gateways()
    with pytest.raises(PolicyError, match="unprotected"):
        b.inbound(ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1))


def test_unknown_spi_and_failed_checks_propagate() -> None:
    a, b, _, _ = gateways()
    (_, stray_out), _ = sas(0x5555, 0x6666)
    with pytest.raises(UnknownSpiError):
        b.inbound(stray_out.protect_packet(ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1)))
    assert b.unknown_spi_errors == 1
    good = a.outbound(ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1)).packet
    bad = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(IntegrityError):
        b.inbound(bad)
    assert b.inbound(good).action is Action.PROTECT


def test_traffic_selectors_with_protocol_and_ports() -> None:
    a, b = IpsecProcessor(), IpsecProcessor()
    (a_in, a_out), (b_in, b_out) = sas(0x7001, 0x7002)
    https = TrafficSelector("10.2.0.9", "10.2.0.9", 6, 443, 443)
    a.install_child_sa([("10.1.0.0", "10.1.255.255", 6, 0, 65535)], [https], inbound_sa=a_in, outbound_sa=a_out)
    b.install_child_sa([https], [("10.1.0.0", "10.1.255.255", 6, 0, 65535)], inbound_sa=b_in, outbound_sa=b_out)
    a.spd.add(Policy("rest", (Selector(),), Action.BYPASS))
    tcp443 = ip.ip_packet("10.1.0.5", "10.2.0.9", 6, (50000).to_bytes(2, "big") + (443).to_bytes(2, "big") + bytes(16))
    tcp80 = ip.ip_packet("10.1.0.5", "10.2.0.9", 6, (50000).to_bytes(2, "big") + (80).to_bytes(2, "big") + bytes(16))
    udp443 = ip.ip_udp("10.1.0.5", "10.2.0.9", 50000, 443, b"quic")
    assert a.outbound(tcp443).action is Action.PROTECT
    assert a.outbound(tcp80).action is Action.BYPASS
    assert a.outbound(udp443).action is Action.BYPASS
    assert b.inbound(a.outbound(tcp443).packet).packet == tcp443


def test_icmp_type_code_selectors() -> None:
    # RFC 7296 3.13.1: ICMP type and code travel in the port fields (type << 8 | code)
    spd = Spd([Policy("echo-requests", (Selector.of(protocol=1, local_ports=(0x0800, 0x08FF), remote_ports=(0x0800, 0x08FF)),),
                      Action.BYPASS), Policy("rest", (Selector(),), Action.DISCARD)])
    gw = IpsecProcessor(spd)
    assert gw.outbound(ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1)).action is Action.BYPASS
    assert gw.outbound(ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1, reply=True)).action is Action.DISCARD


def test_opaque_ports_match_only_any() -> None:
    assert PortRange().matches(None) and not PortRange(1, 1024).matches(None)
    fragment = bytearray(ip.ip_udp("10.1.0.5", "10.2.0.9", 1, 443, bytes(40)))
    fragment[6:8] = (0x0010).to_bytes(2, "big")  # a non-first fragment: no ports visible
    fragment[10:12] = b"\x00\x00"
    fragment[10:12] = ip.internet_checksum(bytes(fragment[:20])).to_bytes(2, "big")
    spd = Spd([Policy("to-443", (Selector.of(protocol=17, remote_ports=443),), Action.BYPASS),
               Policy("rest", (Selector(),), Action.DISCARD)])
    assert IpsecProcessor(spd).outbound(bytes(fragment)).policy.name == "rest"


def test_rekey_keeps_the_old_inbound_sa_until_deleted() -> None:
    """RFC 7296 2.8: traffic moves to the new SA; packets in flight on the old one still arrive."""
    a, b, ca, cb = gateways()
    inner = ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1, b"x")
    in_flight = [a.outbound(inner).packet for _ in range(2)]
    (a_in2, a_out2), (b_in2, b_out2) = sas(0x1000C, 0x2000D, seed=10)
    cb2 = b.rekey_child_sa(cb, inbound_sa=b_in2, outbound_sa=b_out2)  # B, the responder, installs first
    ca2 = a.rekey_child_sa(ca, inbound_sa=a_in2, outbound_sa=a_out2)
    new = a.outbound(inner)
    assert new.spi == 0x1000C
    assert b.inbound(new.packet).packet == inner
    assert b.inbound(in_flight[0]).spi == 0x1000A  # the old inbound SA still works
    assert b.outbound(ip.icmp_echo("10.2.0.9", "10.1.0.5", 1, 1)).spi == 0x2000D
    b.remove_child_sa(cb)  # the old CHILD SA is deleted (INFORMATIONAL with a Delete payload)
    with pytest.raises(UnknownSpiError):
        b.inbound(in_flight[1])
    assert [p.name for p in b.spd] == ["bypass-ike", "net-b-a", "default-discard"]  # the policy stays
    assert b.inbound(a.outbound(inner).packet).packet == inner
    b.remove_child_sa(cb2)
    assert [p.name for p in b.spd] == ["bypass-ike", "default-discard"]
    assert b.sad.lookup_outbound("net-b-a") is None and b.sad.inbound_sas() == []
    with pytest.raises(ConfigError):
        b.remove_child_sa(cb2)
    with pytest.raises(ConfigError):
        b.rekey_child_sa(cb, inbound_sa=b_in2, outbound_sa=b_out2)
    assert ca2 in a.children and ca in a.children


def test_a_redundant_rekey_is_never_sent_on() -> None:
    """RFC 7296 2.8.1: the SA that lost the nonce rule of crossing rekeys is deleted by its maker at once, and the
    peer drops what arrives on it from then on: outbound traffic neither moves to it nor falls back to it."""
    a, b, ca, cb = gateways()
    inner = ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1, b"x")
    (a_in2, a_out2), _ = sas(0x1000C, 0x2000D, seed=10)
    (a_in3, a_out3), _ = sas(0x1000E, 0x2000F, seed=11)
    lost = a.rekey_child_sa(ca, inbound_sa=a_in2, outbound_sa=a_out2, redundant=True)
    assert a.outbound(inner).spi == 0x1000A  # still the old SA
    won = a.rekey_child_sa(ca, inbound_sa=a_in3, outbound_sa=a_out3, outbound_now=False)  # the peer's rekey
    a.remove_child_sa(ca)  # the peer deletes the old one: traffic falls back to the peer's new SA, not ours
    assert a.outbound(inner).spi == 0x1000E
    a.remove_child_sa(lost)
    assert a.outbound(inner).spi == 0x1000E and a.children == [won]


def test_install_errors() -> None:
    gw = IpsecProcessor()
    (a_in, a_out), _ = sas(0x9001, 0x9002)
    with pytest.raises(ConfigError):
        gw.install_child_sa([NET_A], [NET_B], inbound_sa=a_out, outbound_sa=a_in)  # directions swapped
    with pytest.raises(ConfigError, match="pair"):
        gw.install_child_sa([NET_A], [("2001:db8::", "2001:db8::ffff", 0, 0, 65535)], inbound_sa=a_in, outbound_sa=a_out)
    with pytest.raises(ConfigError, match="pair"):
        gw.install_child_sa([("10.1.0.0", "10.1.0.9", 6, 0, 65535)], [("10.2.0.0", "10.2.0.9", 17, 0, 65535)],
                            inbound_sa=a_in, outbound_sa=a_out)
    gw.install_child_sa([NET_A], [NET_B], inbound_sa=a_in, outbound_sa=a_out)
    with pytest.raises(ConfigError, match="already"):
        gw.install_child_sa([NET_A], [NET_B], inbound_sa=a_in, outbound_sa=a_out)
    assert len(gw.spd) == 1  # the failed install left no policy behind


def test_mixed_families_in_one_child_sa() -> None:
    a, b = IpsecProcessor(), IpsecProcessor()
    (a_in, a_out), (b_in, b_out) = sas(0x8001, 0x8002)
    v6a, v6b = ("2001:db8:a::", "2001:db8:a::ffff", 0, 0, 65535), ("2001:db8:b::", "2001:db8:b::ffff", 0, 0, 65535)
    child = a.install_child_sa([NET_A, v6a], [NET_B, v6b], inbound_sa=a_in, outbound_sa=a_out)
    assert len(child.policy.selectors) == 2  # only the same-family pairs
    b.install_child_sa([NET_B, v6b], [NET_A, v6a], inbound_sa=b_in, outbound_sa=b_out)
    six = ip.icmp_echo("2001:db8:a::5", "2001:db8:b::9", 1, 1)
    assert b.inbound(a.outbound(six).packet).packet == six  # IPv6 inside an IPv4 tunnel


def test_udp_encapsulated_esp_and_ike_on_4500() -> None:
    a, b, _, _ = gateways(udp_encap=(4500, 4500))
    inner = ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1, b"nat")
    out = a.outbound(inner)
    assert ip.parse_ip(out.packet).protocol == 17
    assert b.inbound(out.packet).packet == inner
    ike = ip.ip_udp(GW_A, GW_B, 4500, 4500, add_non_esp_marker(bytes(28)))
    d = b.inbound(ike)
    assert d.action is Action.BYPASS and d.policy.name == "bypass-ike"


def test_a_nat_keepalive_is_ignored_and_only_our_port_4500_carries_esp() -> None:
    """RFC 3948 2.3: "The receiver SHOULD ignore a received NAT-keepalive packet"; it was handed to the SPD and
    came back as a BYPASS packet.  And UDP *from* port 4500 to another port of ours is not ESP-in-UDP: it was
    parsed as ESP and refused, where the SPD should decide."""
    a, b, _, _ = gateways(udp_encap=(4500, 4500))
    keepalive = b.inbound(ip.ip_udp(GW_A, GW_B, 4500, 4500, b"\xff"))
    assert keepalive.action is Action.DISCARD and keepalive.packet is None and "NAT-keepalive" in keepalive.reason
    b.spd.add(Policy("app", (Selector.of(protocol=17, local_ports=9999),), Action.BYPASS), 0)
    app = ip.ip_udp(GW_A, GW_B, 4500, 9999, b"\x00\x00\x10\x01 application data")
    decision = b.inbound(app)
    assert decision.action is Action.BYPASS and decision.policy.name == "app" and decision.packet == app


def test_ah_child_sa() -> None:
    key = bytes(32)
    a_out = AhSa(0x4001, direction="outbound", integrity="AUTH_HMAC_SHA2_256_128", integrity_key=key, tunnel=(GW_A, GW_B))
    b_in = AhSa(0x4001, direction="inbound", integrity="AUTH_HMAC_SHA2_256_128", integrity_key=key)
    b_out = AhSa(0x4002, direction="outbound", integrity="AUTH_HMAC_SHA2_256_128", integrity_key=key, tunnel=(GW_B, GW_A))
    a_in = AhSa(0x4002, direction="inbound", integrity="AUTH_HMAC_SHA2_256_128", integrity_key=key)
    a, b = IpsecProcessor(), IpsecProcessor()
    a.install_child_sa([NET_A], [NET_B], inbound_sa=a_in, outbound_sa=a_out)
    b.install_child_sa([NET_B], [NET_A], inbound_sa=b_in, outbound_sa=b_out)
    inner = ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1)
    out = a.outbound(inner)
    assert ip.parse_ip(out.packet).protocol == 51 and a.children[0].policy.protocol == 51
    assert b.inbound(out.packet).packet == inner
    assert "AH 0x00004001" in str(b.sad)


def test_hard_lifetime_reaches_the_caller() -> None:
    a, _, _, _ = gateways(lifetime=Lifetime(hard_packets=1))
    a.outbound(ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1))
    with pytest.raises(SaExpiredError):
        a.outbound(ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 2))


def test_selector_values() -> None:
    r = AddressRange.parse("10.0.0.0/24")
    assert ipaddress.ip_address("10.0.0.255") in r and ipaddress.ip_address("10.0.1.0") not in r
    assert str(r) == "10.0.0.0/24"
    assert str(AddressRange.parse("10.0.0.1-10.0.0.5")) == "10.0.0.1-10.0.0.5"
    assert str(AddressRange.parse("2001:db8::1")) == "2001:db8::1"
    assert ipaddress.ip_address("2001:db8::1") not in r
    # the wording of a traffic selector's range (tests/test_proposals.py): one parser reads both
    for bad, why in (("10.0.0.300", "'10.0.0.300' is not an address, a network a/len or a range a-b"),
                     ("10.0.0.5-10.0.0.1", "the range starts at 10.0.0.5, after its end 10.0.0.1: write it low-high"),
                     (("10.0.0.1", "2001:db8::1"), "a range needs two addresses of one family, not IPv4 and IPv6"),
                     ("10.0.0.1-2001:db8::1", "a range needs two addresses of one family, not IPv4 and IPv6"),
                     (("10.0.0.1", "x"), "is not a pair of addresses"),
                     (42, "not an address, a network a/len or a range a-b: 42")):
        with pytest.raises(ConfigError, match=why):  # the precise reason, not the generic one
            AddressRange.parse(bad)
    # Selector's plain constructor checks what Selector.of checks (it took protocol 300, which never matches)
    assert Selector("10.1.0.0/16", "10.2.0.0/16", 6, None, 443) == Selector.of("10.1.0.0/16", "10.2.0.0/16", 6,
                                                                                remote_ports=443)
    for kw, why in ((dict(protocol=300), "protocol must be in 0..255"), (dict(protocol=True), "protocol must be"),
                    (dict(local="10.0.0.0/8", remote="2001:db8::/32"), "one IP family"),
                    (dict(local="x"), "not an address"), (dict(remote_ports=(5, 1)), "is empty")):
        with pytest.raises(ConfigError, match=why):
            Selector(**kw)  # type: ignore[arg-type]
    # Policy: a lone Selector or a list is taken as the tuple it means; a bad action or mode is a ConfigError, not
    # the enum's ValueError; a protocol other than ESP or AH, which no SA could have, is refused
    assert Policy("p", Selector(), "bypass").selectors == Policy("p", [Selector()], Action.BYPASS).selectors == (Selector(),)
    for args, kw, why in ((("p", ("10.0.0.0/8",), Action.BYPASS), {}, "selectors are Selector objects"),
                          (("p", (Selector(),), "EXPLODE"), {}, "action must be one of PROTECT, BYPASS, DISCARD"),
                          (("p", (Selector(),), Action.PROTECT), dict(protocol=99), r"protocol must be 50 \(ESP\) or 51"),
                          (("p", (Selector(),), Action.PROTECT), dict(mode="bogus"), "mode must be one of tunnel"),
                          ((5, (Selector(),), Action.BYPASS), {}, "name is text")):
        with pytest.raises(ConfigError, match=why):
            Policy(*args, **kw)  # type: ignore[arg-type]
    # the constructor itself, given text (it once raised AttributeError from inside the range check)
    assert AddressRange("10.0.0.1", "10.0.0.9") == AddressRange.parse("10.0.0.1-10.0.0.9")
    for start, end, why in (("10.0.0.9", "10.0.0.1", "after its end"), ("10.0.0.1", "::1", "of one family"),
                            ("x", "10.0.0.1", "start 'x' is not an IP address"), ("10.0.0.1", None, "end None"),
                            (True, "10.0.0.1", "start True is not an IP address")):
        with pytest.raises(ConfigError, match=why):
            AddressRange(start, end)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        PortRange(10, 1)
    with pytest.raises(ConfigError):
        Selector.of("10.0.0.0/8", "2001:db8::/32")
    with pytest.raises(ConfigError):
        Policy("empty", (), Action.BYPASS)
    with pytest.raises(ConfigError):
        Policy("x", (Selector(),), Action.BYPASS, applies_to="sideways")
    assert Selector.from_traffic_selectors(NET_A, ("2001:db8::", "2001:db8::1", 0, 0, 65535)) is None
    s = Selector.of("10.1.0.0/16", "10.2.0.0/16", 6, remote_ports=443)
    assert str(s) == "10.1.0.0/16[tcp/any] <=> 10.2.0.0/16[tcp/443]"


def test_a_child_sa_goes_before_a_catch_all_that_is_the_only_policy() -> None:
    """RFC 4301 4.4.1: the first match decides, so an IKE-installed PROTECT policy must come before a
    trailing catch-all even when that catch-all is all the SPD holds; after it, it would never match."""
    gw = IpsecProcessor()
    gw.spd.add(Policy("default-discard", (Selector(),), Action.DISCARD))
    (a_in, a_out), _ = sas(0x1000A, 0x2000B)
    gw.install_child_sa([NET_A], [NET_B], inbound_sa=a_in, outbound_sa=a_out, name="net-a-b")
    assert [p.name for p in gw.spd] == ["net-a-b", "default-discard"]
    assert gw.outbound(ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1)).action is Action.PROTECT


# ----------------------------------------------------------------------------- mutation review edges


@pytest.mark.parametrize("local_proto, remote_proto", [(0, 6), (6, 0), (6, 6)])
def test_a_protocol_on_one_side_of_a_ts_pair_applies_to_both(local_proto: int, remote_proto: int) -> None:
    """RFC 7296 3.13.1: IP Protocol ID 0 means "not relevant"; a packet must satisfy both traffic selectors, so
    (any, TCP) and (TCP, any) both mean TCP (RFC 4301 4.4.1.1 "Next Layer Protocol")."""
    local = ("10.1.0.0", "10.1.255.255", local_proto, 0, 65535)
    remote = ("10.2.0.9", "10.2.0.9", remote_proto, 443, 443)
    sel = Selector.from_traffic_selectors(local, remote)
    assert sel is not None and sel.protocol == 6
    a = IpsecProcessor(Spd([Policy("rest", (Selector(),), Action.BYPASS)]))
    (a_in, a_out), _ = sas(0x7101, 0x7102)
    a.install_child_sa([local], [remote], inbound_sa=a_in, outbound_sa=a_out)
    tcp = ip.ip_packet("10.1.0.5", "10.2.0.9", 6, (50000).to_bytes(2, "big") + (443).to_bytes(2, "big") + bytes(16))
    assert a.outbound(tcp).action is Action.PROTECT
    assert a.outbound(ip.ip_udp("10.1.0.5", "10.2.0.9", 50000, 443, b"quic")).action is Action.BYPASS


def test_a_protocol_specific_policy_is_no_catch_all_and_keeps_its_place() -> None:
    """RFC 4301 4.4.1: the first match decides.  A CHILD SA policy goes before the trailing catch-all, but not
    before an administrator's "no ICMP" rule, which matches ICMP only: pings stay discarded, TCP is protected."""
    gw = IpsecProcessor(Spd([Policy("no-icmp", (Selector.of(protocol=1),), Action.DISCARD),
                             Policy("default-discard", (Selector(),), Action.DISCARD)]))
    assert not Selector.of(protocol=1).is_catch_all and Selector().is_catch_all
    (a_in, a_out), _ = sas(0x1000A, 0x2000B)
    gw.install_child_sa([NET_A], [NET_B], inbound_sa=a_in, outbound_sa=a_out, name="net-a-b")
    assert [p.name for p in gw.spd] == ["no-icmp", "net-a-b", "default-discard"]
    assert gw.outbound(ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1)).policy.name == "no-icmp"
    tcp = ip.ip_packet("10.1.0.5", "10.2.0.9", 6, (50000).to_bytes(2, "big") + (22).to_bytes(2, "big") + bytes(16))
    assert gw.outbound(tcp).action is Action.PROTECT


def test_deleting_the_newest_of_three_falls_back_to_the_one_it_replaced() -> None:
    """RFC 7296 2.8: a rekey replaces a CHILD SA; when the replacement is deleted the SA it replaced stands.
    After two rekeys (1 -> 2 -> 3) with none deleted yet, deleting 3 moves outbound traffic to 2, not to 1."""
    a, b, _, cb = gateways()
    _, (b_in2, b_out2) = sas(0x1000C, 0x2000D, seed=10)
    _, (b_in3, b_out3) = sas(0x1000E, 0x2000F, seed=20)
    cb2 = b.rekey_child_sa(cb, inbound_sa=b_in2, outbound_sa=b_out2)
    cb3 = b.rekey_child_sa(cb2, inbound_sa=b_in3, outbound_sa=b_out3)
    reply = ip.icmp_echo("10.2.0.9", "10.1.0.5", 1, 1, reply=True)
    assert b.outbound(reply).spi == 0x2000F
    b.remove_child_sa(cb3)
    assert b.outbound(reply).spi == 0x2000D


def test_ah_truncated_before_its_spi_is_a_parse_error() -> None:
    """RFC 4302 2: the SPI is octets 4-7 of AH; six octets of AH hold no SPI, so the packet is malformed
    (ParseError), not a packet for an unknown SA."""
    _, b, _, _ = gateways()
    with pytest.raises(ParseError) as err:
        b.inbound(ip.ip_packet(GW_A, GW_B, 51, bytes([17, 4, 0, 0, 0, 1])))
    assert err.value.field == "spi" and b.unknown_spi_errors == 0


def test_a_non_first_fragment_to_port_4500_goes_to_the_spd() -> None:
    """RFC 4303 3.4.1: reassembly comes before ESP; a non-first fragment carries no UDP header, so it is not
    read as ESP-in-UDP.  The SPD sees it with OPAQUE ports (RFC 4301 4.4.1.1) and the catch-all decides."""
    a, b, _, _ = gateways(udp_encap=(4500, 4500))
    wire = bytearray(a.outbound(ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1, bytes(64))).packet)
    wire[6:8] = (0x0004).to_bytes(2, "big")  # fragment offset 32 octets
    wire[10:12] = b"\x00\x00"
    wire[10:12] = ip.internet_checksum(bytes(wire[:20])).to_bytes(2, "big")
    decision = b.inbound(bytes(wire))
    assert decision.action is Action.DISCARD and decision.policy.name == "default-discard"


def test_a_protect_policy_asks_for_esp_in_tunnel_mode_by_default() -> None:
    """RFC 4301 4.4.1.2: a PROTECT entry names the IPsec protocol and mode; ESP is the one every implementation
    MUST support (RFC 4301 3.2: AH is optional), so it is the default."""
    policy = Policy("vpn", (Selector(),), Action.PROTECT)
    assert (policy.protocol, policy.mode) == (50, Mode.TUNNEL)


def test_esp_in_udp_with_an_spi_starting_0xff_is_processed() -> None:
    """RFC 3948 2.3: only the single octet 0xFF is a NAT-keepalive; ESP whose SPI begins with 0xFF is ESP."""
    a, b = IpsecProcessor(), IpsecProcessor()
    (a_in, a_out), (b_in, b_out) = sas(0xFF00000A, 0xFF00000B, udp_encap=(4500, 4500))
    a.install_child_sa([NET_A], [NET_B], inbound_sa=a_in, outbound_sa=a_out)
    b.install_child_sa([NET_B], [NET_A], inbound_sa=b_in, outbound_sa=b_out)
    inner = ip.icmp_echo("10.1.0.5", "10.2.0.9", 1, 1, b"nat")
    got = b.inbound(a.outbound(inner).packet)
    assert got.action is Action.PROTECT and got.packet == inner and got.spi == 0xFF00000A
