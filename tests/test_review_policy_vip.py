"""Review of the SPD/SAD (ikelab.policy) and of virtual IP leasing (ikelab.vip).

What it checks, and against which independent reference:

* RFC 4301 4.4.1 (the SPD is ordered, first match decides; no match discards) and 4.4.1.1 (selectors:
  address ranges, protocol 0 = ANY, port ranges where ANY includes OPAQUE, the portless packet);
  RFC 7296 3.13.1 ("To indicate OPAQUE ports, the Start Port MUST be set to 65535 and the End Port
  MUST be set to 0"; ICMP type and code as one 16-bit "port", type in the high octet).  Ports and
  type/code values below are written by hand (echo request: type 8 -> 0x0800).
* RFC 4301 4.1 (SAs are unidirectional: a CHILD SA is one inbound and one outbound SA) and RFC 7296
  2.8 (a rekey replaces the SAs of a CHILD SA, not what its policy asks for).
* RFC 7296 3.15.1 (INTERNAL_IP4_ADDRESS is 0 or 4 octets, INTERNAL_IP6_ADDRESS 0 or 17: address and
  prefix length) with the octets written out by hand, and 2.19 (a pool leases each address to at
  most one IKE SA).  Which addresses a pool may hand out is taken from Python's ``ipaddress``
  (``hosts()``, and one address written in two spellings is one ``ip_address``).
* Bad input must fail with a typed :class:`ikelab.errors.ConfigError` naming the field and the
  value, never with a TypeError/ValueError/AttributeError from deep inside.

No expected value is computed by ikelab itself.
"""

from __future__ import annotations

import ipaddress

import pytest

from test_policy import NET_A, NET_B, sas

from ikelab import packet as ip
from ikelab import vip
from ikelab.ah import AhSa
from ikelab.errors import ConfigError, ParseError, UnknownSpiError
from ikelab.esp import EspSa
from ikelab.ipsec_sa import Direction, Mode
from ikelab.payloads import CP
from ikelab.policy import (
    Action,
    AddressRange,
    IpsecProcessor,
    Policy,
    PortRange,
    Selector,
    Spd,
    TrafficSelector,
    packet_view,
    selectors_from_ts,
)
from ikelab.vip import VirtualIpPool

A4 = ipaddress.ip_address


def _non_first_fragment(packet: bytes) -> bytes:
    """``packet`` (IPv4, 20-octet header) marked as a fragment at offset 32 octets: it shows no ports."""
    wire = bytearray(packet)
    wire[6:8] = (0x0004).to_bytes(2, "big")  # flags 0, fragment offset 4 (units of 8 octets, RFC 791)
    wire[10:12] = b"\x00\x00"
    wire[10:12] = ip.internet_checksum(bytes(wire[:20])).to_bytes(2, "big")
    return bytes(wire)


def _sel(src: str, dst: str, protocol: int, sport: int | None, dport: int | None) -> ip.Selectors:
    return ip.Selectors(A4(src), A4(dst), protocol, sport, dport)


# ---- ports: ANY, OPAQUE, ICMP (RFC 4301 4.4.1.1, RFC 7296 3.13.1) ---------------------------------------------


def test_opaque_is_65535_to_0_and_matches_only_portless_packets() -> None:
    opaque = PortRange(65535, 0)
    assert opaque.is_opaque and not opaque.is_any
    assert opaque.matches(None)
    assert not any(opaque.matches(p) for p in (0, 1, 80, 65534, 65535))
    assert str(opaque) == "opaque"
    assert PortRange(0, 65535).matches(None) and not PortRange(0, 65535).is_opaque  # ANY includes OPAQUE
    assert not PortRange(0, 65534).matches(None) and not PortRange(1, 65535).matches(None)
    assert not PortRange(80, 80).is_opaque and not PortRange(65535, 65535).is_opaque
    assert not PortRange(0, 0).is_opaque


@pytest.mark.parametrize("start, end", [(65535, 1), (65534, 0), (1, 0), (443, 80)])
def test_reversed_port_ranges_other_than_opaque_are_refused(start: int, end: int) -> None:
    with pytest.raises(ConfigError, match="empty") as err:
        PortRange(start, end)
    assert err.value.field == "port" and err.value.value == (start, end)


def test_a_child_sa_negotiated_with_opaque_ports_installs_and_takes_only_fragments() -> None:
    """A TS pair such as ``10.1.0.0/16[udp/%opaque]`` (ts.py writes it 65535-0) is a CHILD SA like any other."""
    gw = IpsecProcessor()
    gw.spd.add(Policy("rest", (Selector(),), Action.DISCARD))
    (a_in, a_out), _ = sas(0x7001, 0x7002)
    local = ("10.1.0.0", "10.1.255.255", 17, 65535, 0)
    remote = ("10.2.0.0", "10.2.255.255", 17, 0, 65535)
    child = gw.install_child_sa([local], [remote], inbound_sa=a_in, outbound_sa=a_out, name="frag")
    (sel,) = child.policy.selectors
    assert sel.local_ports == PortRange(65535, 0) and sel.remote_ports.is_any and sel.protocol == 17
    whole = ip.ip_udp("10.1.0.5", "10.2.0.9", 1000, 53, bytes(48))
    assert gw.outbound(whole).policy.name == "rest"  # local port 1000 is not OPAQUE
    fragment = gw.outbound(_non_first_fragment(whole))
    assert fragment.policy.name == "frag" and fragment.action is Action.PROTECT and fragment.spi == 0x7001


def test_icmp_type_and_code_are_one_16_bit_port() -> None:
    """Echo request is type 8 code 0 -> 0x0800; echo reply type 0 code 0 -> 0x0000 (RFC 792, RFC 7296 3.13.1)."""
    echo = Selector.of("10.1.0.0/16", "10.2.0.0/16", 1, local_ports=(0x0800, 0x0800), remote_ports=(0x0800, 0x0800))
    assert echo.matches(A4("10.1.0.5"), A4("10.2.0.9"), 1, 0x0800, 0x0800)
    assert not echo.matches(A4("10.1.0.5"), A4("10.2.0.9"), 1, 0x0000, 0x0000)
    assert not echo.matches(A4("10.1.0.5"), A4("10.2.0.9"), 58, 0x0800, 0x0800)  # ICMPv6 is another protocol
    spd = Spd([Policy("echo", (echo,), Action.BYPASS), Policy("rest", (Selector(),), Action.DISCARD)])
    assert spd.lookup(Direction.OUTBOUND, ip.selectors(ip.icmp_echo("10.1.0.5", "10.2.0.9", 7, 1)))[0].name == "echo"
    reply = ip.icmp_echo("10.1.0.5", "10.2.0.9", 7, 1, reply=True)
    assert spd.lookup(Direction.OUTBOUND, ip.selectors(reply))[0].name == "rest"


@pytest.mark.parametrize("ports", ["80", "443", b"80", [80], (80,), (80, 90, 100), 80.0, {80, 90}])
def test_ports_are_a_number_a_pair_or_a_port_range_never_text_or_one_item(ports: object) -> None:
    """``"80"`` was read per character (8-0), ``[80]`` silently meant 80-65535."""
    with pytest.raises(ConfigError) as err:
        Selector.of(protocol=6, remote_ports=ports)
    assert err.value.field == "port"


@pytest.mark.parametrize("ports, start, end", [(443, 443, 443), ((80, 90), 80, 90), ([80, 90], 80, 90),
                                               (None, 0, 65535), (PortRange(1, 2), 1, 2), ((65535, 0), 65535, 0)])
def test_ports_in_every_accepted_form(ports: object, start: int, end: int) -> None:
    assert Selector.of(protocol=6, local_ports=ports).local_ports == PortRange(start, end)


@pytest.mark.parametrize("port", [-1, 65536, True, "1"])
def test_port_bounds(port: object) -> None:
    with pytest.raises(ConfigError) as err:
        PortRange(port, 65535)  # type: ignore[arg-type]
    assert err.value.field == "port" and err.value.value is port


# ---- protocol 0 = ANY, address families ---------------------------------------------------------------------


def test_protocol_zero_is_any_and_a_protocol_is_exact() -> None:
    anyp, tcp = Selector.of("10.1.0.0/16", "10.2.0.0/16"), Selector.of("10.1.0.0/16", "10.2.0.0/16", 6)
    for proto in (1, 6, 17, 50, 132, 255):
        assert anyp.matches(A4("10.1.0.1"), A4("10.2.0.1"), proto, None, None)
        assert tcp.matches(A4("10.1.0.1"), A4("10.2.0.1"), proto, None, None) is (proto == 6)
    assert not tcp.is_catch_all and Selector().is_catch_all


@pytest.mark.parametrize("protocol", [-1, 256, True, "6", 6.0, None])
def test_a_selector_protocol_is_0_to_255(protocol: object) -> None:
    with pytest.raises(ConfigError) as err:
        Selector(protocol=protocol)  # type: ignore[arg-type]
    assert err.value.field == "protocol"


def test_an_ipv6_packet_never_matches_an_ipv4_range_and_back() -> None:
    v4, v6 = Selector.of("0.0.0.0/0", "0.0.0.0/0"), Selector.of("::/0", "::/0")
    six = (ipaddress.ip_address("2001:db8::1"), ipaddress.ip_address("2001:db8::2"), 6, 1, 2)
    four = (A4("10.0.0.1"), A4("10.0.0.2"), 6, 1, 2)
    assert v6.matches(*six) and not v4.matches(*six)
    assert v4.matches(*four) and not v6.matches(*four)
    with pytest.raises(ConfigError) as err:
        Selector.of("10.0.0.0/8", "2001:db8::/32")
    assert err.value.field == "selector"


def test_ipv4_mapped_ipv6_is_not_the_ipv4_address() -> None:
    """::ffff:10.0.0.1 is an IPv6 address (RFC 4291 2.5.5.2); an IPv4 range does not hold it."""
    assert ipaddress.ip_address("::ffff:10.0.0.1") not in AddressRange.parse("10.0.0.0/24")


@pytest.mark.parametrize("value", [1, 167772161, b"\n\x00\x00\x01", True, None, 1.5, ["10.0.0.1"]])
def test_an_address_range_bound_is_an_address_or_its_text(value: object) -> None:
    """ipaddress.ip_address(1) is 0.0.0.1 and 4 octets are an address: neither is what a user typed."""
    with pytest.raises(ConfigError) as err:
        AddressRange(value, value)  # type: ignore[arg-type]
    assert err.value.field == "address_range" and err.value.value == value


def test_an_interface_is_no_address_of_a_range() -> None:
    """IPv4Interface subclasses IPv4Address; kept as a bound, its own address was not in the range."""
    iface = ipaddress.ip_interface("10.0.0.5/24")
    for make in (lambda: AddressRange(iface, iface), lambda: AddressRange.parse(iface),
                 lambda: Selector.of(iface, "10.1.0.0/16")):
        with pytest.raises(ConfigError, match="interface") as err:
            make()
        assert err.value.field == "address_range"
    assert A4("10.0.0.5") in AddressRange(iface.ip, iface.ip)
    assert A4("10.0.0.77") in AddressRange.parse(iface.network)


@pytest.mark.parametrize("value", [("fe80::1%eth0", "fe80::2"), (ipaddress.ip_address("fe80::1%1"), "fe80::2")])
def test_a_zone_index_is_refused_as_address_range_text_refuses_it(value: tuple) -> None:
    with pytest.raises(ConfigError, match="zone"):
        AddressRange(*value)
    with pytest.raises(ConfigError, match="zone"):
        AddressRange.parse("fe80::1%eth0")


def test_address_range_text_with_spaces_and_ipv6() -> None:
    r = AddressRange(" 2001:db8::1", "2001:db8::ff ")
    assert (r.start, r.end) == (ipaddress.ip_address("2001:db8::1"), ipaddress.ip_address("2001:db8::ff"))
    assert ipaddress.ip_address("2001:db8::80") in r and ipaddress.ip_address("2001:db8::100") not in r
    assert str(AddressRange.parse("2001:db8::/126")) == "2001:db8::/126"
    assert str(AddressRange.parse("10.0.0.1-10.0.0.6")) == "10.0.0.1-10.0.0.6"  # not one network


# ---- SPD order and decisions (RFC 4301 4.4.1, 5.1, 5.2) -----------------------------------------------------


def _spd(*names_actions: tuple[str, Selector, str]) -> Spd:
    return Spd([Policy(name, (sel,), action) for name, sel, action in names_actions])


def test_the_first_matching_policy_decides_in_either_order() -> None:
    web = Selector.of("10.1.0.0/16", "10.2.0.0/16", 6, remote_ports=443)
    net = Selector.of("10.1.0.0/16", "10.2.0.0/16")
    sel = _sel("10.1.0.5", "10.2.0.9", 6, 40000, 443)
    assert _spd(("web", web, "bypass"), ("net", net, "discard")).lookup(Direction.OUTBOUND, sel)[0].name == "web"
    assert _spd(("net", net, "discard"), ("web", web, "bypass")).lookup(Direction.OUTBOUND, sel)[0].name == "net"
    assert _spd(("web", web, "bypass")).lookup(Direction.OUTBOUND, _sel("10.1.0.5", "10.2.0.9", 6, 1, 80)) is None


def test_inbound_reads_the_local_side_from_the_destination() -> None:
    """RFC 4301 4.4.1.1: outbound the local address is the source, inbound it is the destination."""
    web = Selector.of("10.1.0.0/16", "10.2.0.0/16", 6, local_ports=443)
    spd = _spd(("web", web, "bypass"))
    assert spd.lookup(Direction.INBOUND, _sel("10.2.0.9", "10.1.0.5", 6, 40000, 443)) is not None
    assert spd.lookup(Direction.INBOUND, _sel("10.1.0.5", "10.2.0.9", 6, 443, 40000)) is None
    assert spd.lookup(Direction.OUTBOUND, _sel("10.1.0.5", "10.2.0.9", 6, 443, 40000)) is not None


@pytest.mark.parametrize("action, expected", [("bypass", Action.BYPASS), ("DISCARD", Action.DISCARD)])
def test_bypass_passes_the_packet_and_discard_drops_it_both_ways(action: str, expected: Action) -> None:
    gw = IpsecProcessor(_spd(("p", Selector.of(protocol=17), action)))
    packet = ip.ip_udp("10.1.0.5", "10.2.0.9", 1000, 53, b"q")
    for decision in (gw.outbound(packet), gw.inbound(packet)):
        assert decision.action is expected and decision.policy.name == "p"
        assert decision.packet == (packet if expected is Action.BYPASS else None)
    assert gw.outbound(ip.ip_udp("10.1.0.5", "10.2.0.9", 1000, 53, b"q")).action is expected
    tcp = ip.ip_packet("10.1.0.5", "10.2.0.9", 6, bytes(20))
    assert gw.outbound(tcp).action is Action.DISCARD and gw.outbound(tcp).policy is None  # no match: discard


def test_a_policy_for_one_direction_leaves_the_other_to_later_policies() -> None:
    spd = Spd([Policy("in-only", (Selector(),), "bypass", applies_to="inbound"),
               Policy("rest", (Selector(),), "discard")])
    sel = _sel("10.1.0.5", "10.2.0.9", 17, 1, 2)
    assert spd.lookup(Direction.INBOUND, sel)[0].name == "in-only"
    assert spd.lookup(Direction.OUTBOUND, sel)[0].name == "rest"
    assert Policy("d", Selector(), "bypass", applies_to=Direction.OUTBOUND).applies_to == "outbound"


def test_a_direction_given_as_text_is_that_direction() -> None:
    """packet_view("outbound", ...) gave the inbound view: anything but the enum member read as inbound."""
    sel = _sel("10.1.0.5", "10.2.0.9", 6, 1000, 443)
    assert packet_view("outbound", sel) == (A4("10.1.0.5"), A4("10.2.0.9"), 6, 1000, 443)  # type: ignore[arg-type]
    assert packet_view("INBOUND", sel) == (A4("10.2.0.9"), A4("10.1.0.5"), 6, 443, 1000)  # type: ignore[arg-type]
    spd = _spd(("web", Selector.of(protocol=6, remote_ports=443), "bypass"))
    assert spd.lookup("outbound", sel)[0].name == "web"  # type: ignore[arg-type]
    assert spd.lookup("inbound", sel) is None  # type: ignore[arg-type]
    for bad in ("sideways", None, 1):
        with pytest.raises(ConfigError) as err:
            spd.lookup(bad, sel)  # type: ignore[arg-type]
        assert err.value.field == "direction"
        with pytest.raises(ConfigError):
            packet_view(bad, sel)  # type: ignore[arg-type]


@pytest.mark.parametrize("position", ["0", 3, -1, True, 1.0])
def test_an_spd_position_that_does_not_exist_is_refused(position: object) -> None:
    spd = _spd(("a", Selector(), "bypass"), ("b", Selector(), "discard"))
    with pytest.raises(ConfigError) as err:
        spd.add(Policy("c", Selector(), "bypass"), position)  # type: ignore[arg-type]
    assert err.value.field == "position" and err.value.value is position
    assert [p.name for p in spd] == ["a", "b"]


@pytest.mark.parametrize("position, order", [(0, "cab"), (1, "acb"), (2, "abc"), (None, "abc")])
def test_an_spd_position_is_the_index_the_policy_gets(position: int | None, order: str) -> None:
    spd = _spd(("a", Selector(), "bypass"), ("b", Selector(), "discard"))
    spd.add(Policy("c", Selector(), "bypass"), position)
    assert "".join(p.name for p in spd) == order


def test_the_default_position_is_before_the_trailing_catch_alls() -> None:
    spd = _spd(("x", Selector.of(protocol=6), "bypass"), ("all1", Selector(), "discard"),
               ("all2", Selector(), "bypass"))
    assert spd.default_position() == 1
    assert Spd().default_position() == 0
    assert _spd(("all", Selector(), "discard"), ("x", Selector.of(protocol=6), "bypass")).default_position() == 2


@pytest.mark.parametrize("protocol", [50.0, 51.0, True, "50", 6, 0])
def test_a_policy_protocol_is_the_integer_50_or_51(protocol: object) -> None:
    with pytest.raises(ConfigError) as err:
        Policy("p", Selector(), "protect", protocol=protocol)  # type: ignore[arg-type]
    assert err.value.field == "protocol"


# ---- CHILD SAs: install, rekey, delete (RFC 4301 4.1, RFC 7296 2.8) ----------------------------------------


@pytest.mark.parametrize("inbound_ok", [True, False])
def test_install_needs_sa_objects(inbound_ok: bool) -> None:
    (a_in, a_out), _ = sas(0x7101, 0x7102)
    gw = IpsecProcessor()
    kw = {"inbound_sa": a_in if inbound_ok else None, "outbound_sa": None if inbound_ok else a_out}
    with pytest.raises(ConfigError) as err:
        gw.install_child_sa([NET_A], [NET_B], **kw)
    assert err.value.field == ("outbound_sa" if inbound_ok else "inbound_sa")
    assert len(gw.spd) == 0 and gw.sad.inbound_sas() == []


def test_install_refuses_swapped_and_mismatched_sas() -> None:
    (a_in, a_out), _ = sas(0x7201, 0x7202)
    gw = IpsecProcessor()
    with pytest.raises(ConfigError) as err:
        gw.install_child_sa([NET_A], [NET_B], inbound_sa=a_out, outbound_sa=a_in)
    assert err.value.field == "inbound_sa" and err.value.value is Direction.OUTBOUND
    ah_out = AhSa(0x7203, direction="outbound", integrity="AUTH_HMAC_SHA2_256_128", integrity_key=bytes(32),
                  tunnel=("203.0.113.1", "203.0.113.2"))
    with pytest.raises(ConfigError, match="share protocol") as err:
        gw.install_child_sa([NET_A], [NET_B], inbound_sa=a_in, outbound_sa=ah_out)
    assert err.value.value == (50, 51)
    assert len(gw.spd) == 0


def _installed() -> tuple[IpsecProcessor, object]:
    gw = IpsecProcessor()
    (a_in, a_out), _ = sas(0x7301, 0x7302)
    return gw, gw.install_child_sa([NET_A], [NET_B], inbound_sa=a_in, outbound_sa=a_out, name="c")


def _sad_rows(gw: IpsecProcessor) -> tuple:
    return sorted(sa.spi for sa in gw.sad.inbound_sas()), gw.sad.lookup_outbound("c").spi


def test_a_rekey_with_swapped_sas_is_refused_and_changes_nothing() -> None:
    gw, child = _installed()
    before = _sad_rows(gw)
    (n_in, n_out), _ = sas(0x7401, 0x7402, seed=3)
    with pytest.raises(ConfigError) as err:
        gw.rekey_child_sa(child, inbound_sa=n_out, outbound_sa=n_in)
    assert err.value.field == "inbound_sa"
    with pytest.raises(ConfigError) as err:
        gw.rekey_child_sa(child, inbound_sa=n_in, outbound_sa=None)
    assert err.value.field == "outbound_sa"
    assert _sad_rows(gw) == before and len(gw.children) == 1


def test_a_rekey_keeps_what_the_policy_asks_for() -> None:
    """RFC 7296 2.8: the new SAs replace the old ones; an ESP tunnel-mode policy does not become AH or transport."""
    gw, child = _installed()
    before = _sad_rows(gw)
    key = bytes(32)
    tunnel = ("203.0.113.1", "203.0.113.2")
    ah = [AhSa(0x7501 + i, direction=d, integrity="AUTH_HMAC_SHA2_256_128", integrity_key=key,
               tunnel=tunnel if d == "outbound" else None) for i, d in enumerate(("inbound", "outbound"))]
    with pytest.raises(ConfigError, match="protocol 50") as err:
        gw.rekey_child_sa(child, inbound_sa=ah[0], outbound_sa=ah[1])
    assert err.value.field == "protocol" and err.value.value == 51
    t_in, t_out = (EspSa(0x7601 + i, direction=d, encryption="ENCR_AES_GCM_16", encryption_key=bytes(20),
                         mode=Mode.TRANSPORT) for i, d in enumerate(("inbound", "outbound")))
    with pytest.raises(ConfigError, match="tunnel mode"):
        gw.rekey_child_sa(child, inbound_sa=t_in, outbound_sa=t_out)
    assert _sad_rows(gw) == before
    (n_in, n_out), _ = sas(0x7701, 0x7702, seed=5)
    gw.rekey_child_sa(child, inbound_sa=n_in, outbound_sa=n_out)
    assert _sad_rows(gw) == ([0x7302, 0x7702], 0x7701)


@pytest.mark.parametrize("what", [None, "c"])
def test_rekey_and_remove_of_something_not_a_child_sa(what: object) -> None:
    gw, _ = _installed()
    (n_in, n_out), _ = sas(0x7801, 0x7802, seed=6)
    with pytest.raises(ConfigError) as err:
        gw.rekey_child_sa(what, inbound_sa=n_in, outbound_sa=n_out)  # type: ignore[arg-type]
    assert err.value.field == "child"
    with pytest.raises(ConfigError) as err:
        gw.remove_child_sa(what)  # type: ignore[arg-type]
    assert err.value.field == "child"


def test_sad_finds_inbound_sas_by_protocol_and_spi() -> None:
    """RFC 4301 4.4.2: the SPI (with the protocol) identifies an inbound SA; ESP and AH may share an SPI value."""
    gw, _ = _installed()
    assert gw.sad.lookup_inbound(0x7302)[1] == "c"
    assert gw.sad.lookup_inbound(0x7302, 51) is None
    assert gw.sad.lookup_inbound(0x7301) is None  # the outbound SPI is not an inbound one
    ah_in = AhSa(0x7302, direction="inbound", integrity="AUTH_HMAC_SHA2_256_128", integrity_key=bytes(32))
    gw.sad.add_inbound(ah_in, "ah-policy")
    assert gw.sad.lookup_inbound(0x7302, 51) == (ah_in, "ah-policy") and gw.sad.lookup_inbound(0x7302)[1] == "c"


def test_traffic_selector_text_in_a_list_is_named() -> None:
    """``["::/0"]`` was taken apart per character and reported as the pair (':', ':')."""
    for local in (["::/0"], ["10.0.0.0/24"], [b"10.0.0.0/24"]):
        with pytest.raises(ConfigError, match="ts_from_string") as err:
            selectors_from_ts(local, [NET_B])
        assert err.value.field == "local_ts" and err.value.value == local[0]


# ---- virtual IPs: CP attributes (RFC 7296 3.15.1) ----------------------------------------------------------


def test_cp_attribute_values_written_out_by_hand() -> None:
    """INTERNAL_IP4_ADDRESS (1) is 0 or 4 octets; INTERNAL_IP6_ADDRESS (8) 0 or 17 (address, prefix length)."""
    cp = vip.request(("0.0.0.0", "2001:db8::7"))
    assert cp.cfg_type == 1 and cp.attributes == (
        (1, b""), (8, bytes.fromhex("20010db8000000000000000000000007") + bytes([128])))
    cp = vip.reply("10.3.0.9", "2001:db8::7")
    assert cp.cfg_type == 2 and cp.attributes == (
        (1, bytes([10, 3, 0, 9])), (8, bytes.fromhex("20010db8000000000000000000000007") + bytes([128])))
    assert vip.assigned_each(cp, (6, 4)) == ("2001:db8::7", "10.3.0.9")
    assert vip.requested(CP(1, ((8, bytes.fromhex("20010db8000000000000000000000007") + bytes([64])),))) == \
        [(6, "2001:db8::7")]
    assert vip.requested(CP(1, ((8, bytes(16)),))) == [(6, None)]  # 16 octets: not 17, so any address


@pytest.mark.parametrize("call, field", [
    (lambda: vip.reply("bogus"), "address"),
    (lambda: vip.reply(["10.3.0.1"]), "address"),
    (lambda: vip.reply(167772161), "address"),
    (lambda: vip.reply(ipaddress.ip_interface("10.3.0.1/24")), "address"),
    (lambda: vip.request("bogus"), "vip"),
    (lambda: vip.request("fe80::1%eth0"), "vip"),
    (lambda: vip.families("10.3.0.0/24"), "vip"),
    (lambda: vip.missing([4], ["bogus"]), "given"),
    (lambda: vip.assigned(vip.reply("10.3.0.1"), 5), "family"),
    (lambda: vip.assigned(vip.reply("10.3.0.1"), "4"), "family"),
    (lambda: vip.assigned(vip.reply("10.3.0.1"), True), "family"),
    (lambda: vip.check_vip("fe80::1%eth0"), "vip"),
    (lambda: vip.check_pool("fe80::%eth0/64"), "pool"),
    (lambda: VirtualIpPool("bogus"), "network"),
    (lambda: VirtualIpPool(None), "network"),  # type: ignore[arg-type]
    (lambda: VirtualIpPool("10.3.0.0/33"), "network"),
    (lambda: VirtualIpPool("10.3.0.0/30").lease("a", "bogus", object()), "wish"),
    (lambda: VirtualIpPool("10.3.0.0/30").lease("a", 167772161, object()), "wish"),
    (lambda: VirtualIpPool("10.3.0.0/30").release("bogus", object()), "address"),
    (lambda: VirtualIpPool("10.3.0.0/30").hand_over(None, object(), object()), "address"),
])
def test_bad_virtual_ip_input_is_a_config_error_naming_the_field(call, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        call()
    assert err.value.field == field


def test_the_families_and_what_is_missing() -> None:
    assert vip.families(("::", "0.0.0.0")) == (6, 4) and vip.families(None) == ()
    assert vip.missing([4, 6], ["2001:db8::1"]) == [4] and vip.missing([6, 4], []) == [6, 4]
    assert vip.assigned(vip.reply("10.3.0.1"), 4) == "10.3.0.1" and vip.assigned(vip.reply("10.3.0.1"), None)


# ---- virtual IPs: the pool (RFC 7296 2.19) -----------------------------------------------------------------


def test_one_address_in_two_spellings_is_leased_once() -> None:
    """2001:DB8::1 and 2001:db8:0::1 are the ip_address 2001:db8::1: a second holder must not get it too."""
    pool, h1, h2, h3 = VirtualIpPool("2001:db8::/126"), object(), object(), object()
    hosts = [str(h) for h in ipaddress.ip_network("2001:db8::/126").hosts()]  # ::1, ::2, ::3
    assert pool.lease("a", "2001:db8::1", h1) == hosts[0]
    assert pool.lease("b", "2001:DB8::1", h2) == hosts[1]
    assert pool.lease("c", "2001:0db8:0::1", h3) == hosts[2]
    assert sorted(pool.holders) == sorted(hosts)
    pool.release("2001:DB8:0:0::2", h2)  # released in another spelling: free again
    assert sorted(pool.holders) == [hosts[0], hosts[2]]
    new = object()
    pool.hand_over("2001:DB8::1", h1, new)
    assert pool.holders[hosts[0]] == ("a", new)


def test_a_wish_as_an_address_object_is_its_text() -> None:
    pool = VirtualIpPool("10.3.0.0/29")
    assert pool.lease("a", ipaddress.ip_address("10.3.0.5"), object()) == "10.3.0.5"
    assert list(pool.holders) == ["10.3.0.5"]


def test_release_by_a_holder_that_does_not_hold_it_changes_nothing() -> None:
    pool, h1, h2 = VirtualIpPool("10.3.0.0/30"), object(), object()
    address = pool.lease("a", None, h1)
    pool.release(address, h2)
    assert pool.holders == {address: ("a", h1)}
    assert pool.lease("b", address, h2) == "10.3.0.2"  # still held: b gets the other host
    pool.release(address, h1)
    assert address not in pool.holders and pool.holders == {"10.3.0.2": ("b", h2)}


@pytest.mark.parametrize("network", ["10.3.0.0/30", "10.3.0.0/31", "2001:db8::/127", "2001:db8::/126"])
def test_a_pool_leases_each_host_once_then_none(network: str) -> None:
    hosts = [str(h) for h in ipaddress.ip_network(network).hosts()]
    pool = VirtualIpPool(network)
    holders = [object() for _ in hosts]
    got = [pool.lease(f"id{n}", None, h) for n, h in enumerate(holders)]
    assert got == hosts
    assert pool.lease("late", None, object()) is None
    pool.release(got[-1], holders[-1])
    assert pool.lease("late", None, object()) == got[-1]  # the free address of an identity that is gone


def test_lease_each_without_a_pool_says_so() -> None:
    leased, why = vip.lease_each((), [(4, None), (6, None)], "a", object())
    assert leased == () and why == [(4, "the peer asks for an IPv4 address; no pool is configured"),
                                    (6, "the peer asks for an IPv6 address; no pool is configured")]
    pools = vip.pools_of(("10.3.0.0/31", "2001:db8::/127"))
    holder = object()
    leased, why = vip.lease_each(pools, [(6, None), (4, "10.3.0.1"), (4, None)], "a", holder)
    assert leased == ("2001:db8::", "10.3.0.1") and why == []
    vip.release_each(pools, leased, holder)
    assert not pools[0].holders and not pools[1].holders


# ---- what a lesson prints, and the defaults (killing surviving mutants) -------------------------------------


@pytest.mark.parametrize("protocol, name", [(0, "any"), (1, "icmp"), (6, "tcp"), (17, "udp"), (50, "esp"), (51, "ah"),
                                            (58, "icmpv6"), (132, "sctp"), (2, "2"), (255, "255")])
def test_a_selector_prints_its_protocol_by_its_iana_name(protocol: int, name: str) -> None:
    """IANA protocol numbers: ICMP 1, TCP 6, UDP 17, ESP 50, AH 51, IPv6-ICMP 58, SCTP 132; others as numbers."""
    sel = Selector.of("10.1.0.0/16", "10.2.0.1-10.2.0.9", protocol)
    assert str(sel) == f"10.1.0.0/16[{name}/any] <=> 10.2.0.1-10.2.0.9[{name}/any]"


def test_a_selector_prints_its_ports() -> None:
    sel = Selector.of("10.1.0.5", None, 6, local_ports=(1024, 2047), remote_ports=443)
    assert str(sel) == "10.1.0.5[tcp/1024-2047] <=> any[tcp/443]"
    assert str(Selector.of(protocol=17, local_ports=(65535, 0))) == "any[udp/opaque] <=> any[udp/any]"


def test_a_traffic_selector_tuple_defaults_to_any_protocol_and_port() -> None:
    """RFC 7296 3.13.1: IP protocol ID 0 is any protocol; ports 0-65535 are any port."""
    assert tuple(TrafficSelector("10.0.0.1", "10.0.0.9")) == ("10.0.0.1", "10.0.0.9", 0, 0, 65535)


def test_the_traffic_selector_error_ends_with_the_type_it_got() -> None:
    with pytest.raises(ConfigError) as err:
        selectors_from_ts("10.0.0.0/24", [NET_B])
    assert str(err.value).endswith("not str") and err.value.field == "local_ts"


def test_one_plain_tuple_is_one_traffic_selector() -> None:
    """A side given as one (start, end, protocol, start port, end port) tuple, not in a list."""
    (sel,) = selectors_from_ts(("10.1.0.5", "10.1.0.5", 6, 0, 65535), [NET_B])
    assert sel.local == AddressRange(A4("10.1.0.5"), A4("10.1.0.5")) and sel.protocol == 6


def test_add_returns_the_policy_and_a_child_sa_prints_its_spis() -> None:
    gw = IpsecProcessor()
    bypass = gw.bypass_ike()
    assert bypass is gw.spd.get("bypass-ike") and [p.name for p in gw.spd] == ["bypass-ike"]
    (a_in, a_out), _ = sas(0xA1, 0xB2)
    child = gw.install_child_sa([NET_A], [NET_B], inbound_sa=a_in, outbound_sa=a_out, name="n")
    assert str(child) == "n: in 0x000000b2, out 0x000000a1, policy 'n'"


def test_an_ah_packet_with_spi_0_is_no_nat_keepalive() -> None:
    """RFC 4302 2.4: SPI 0 is reserved; such an AH packet is an error, not a keepalive to ignore (RFC 3948 2.3)."""
    gw = IpsecProcessor()
    with pytest.raises((UnknownSpiError, ParseError)):
        gw.inbound(ip.ip_packet("203.0.113.2", "203.0.113.1", 51, bytes([4, 4, 0, 0]) + bytes(8) + bytes(16)))


def test_a_ts_payload_selector_gets_a_hint_and_an_address_range_parses_as_itself() -> None:
    from ikelab.ts import ts_from_string

    with pytest.raises(ConfigError, match=r"ts\.start_addr, ts\.end_addr"):
        selectors_from_ts([ts_from_string("10.0.0.0/24")], [NET_B])
    r = AddressRange(A4("10.0.0.1"), A4("10.0.0.2"))
    assert AddressRange.parse(r) is r


def test_pool_errors_name_the_whole_setting() -> None:
    with pytest.raises(ConfigError) as err:
        vip.check_pool(("10.3.0.0/24", "bogus"))
    assert err.value.field == "pool" and err.value.value == ("10.3.0.0/24", "bogus")
    with pytest.raises(ConfigError) as err:
        VirtualIpPool("bogus")
    assert err.value.value == "bogus"


def test_lease_each_takes_from_a_stale_ike_sa_of_the_identity_only_when_told() -> None:
    pools, first, second = vip.pools_of("10.3.0.0/30"), object(), object()
    assert vip.lease_each(pools, [(4, None)], "a", first) == (("10.3.0.1",), [])
    assert vip.lease_each(pools, [(4, None)], "a", second) == (("10.3.0.2",), [])  # a second IKE SA at once
    third = object()
    assert vip.lease_each(pools, [(4, None)], "a", third, reclaim=True) == (("10.3.0.2",), [])
    assert pools[0].holders["10.3.0.2"] == ("a", third)


def test_selectors_are_frozen_and_hashable() -> None:
    """A selector is a value: it can key a dict (a lesson's table) and cannot be changed under the SPD."""
    sel = Selector.of("10.0.0.0/8", "10.1.0.0/16", 6, remote_ports=443)
    assert {sel: 1}[Selector.of("10.0.0.0/8", "10.1.0.0/16", 6, remote_ports=443)] == 1
    with pytest.raises(AttributeError):
        sel.local.start = A4("10.9.9.9")  # type: ignore[misc]
    with pytest.raises(AttributeError):
        sel.local_ports.start = 1  # type: ignore[misc]
