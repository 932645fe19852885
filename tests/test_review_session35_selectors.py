"""Regressions of session 35 on SPD selectors written by hand (RFC 4301 4.4.1.1, RFC 7296 3.13.1).

* Ports with protocol 0 (ANY).  RFC 7296 3.13.1: "For protocols for which port is undefined (including
  protocol 0), or if all ports are allowed, this field MUST be zero" (Start Port; End Port 65535), and
  RFC 4301 4.4.1.1 gives ports to the protocols that have them.  ikelab took ``Selector(protocol=0,
  local_ports=8)`` and read the port of an ICMP message as its ``Type << 8 | Code`` (Type 0 Code 8) where
  Linux XFRM reads the Type (``tests/interop/test_review_spd_vs_xfrm.py``).  Now a ConfigError naming the
  field; one selector per protocol says what was meant.
* An ICMP or ICMPv6 message has one 16-bit selector, Type in the high octet and Code in the low one
  (4.4.1.1; 3.13.1), which ikelab (as Linux XFRM and charon, which put one Type/Code in both directions)
  takes from ``local_ports``, ``remote_ports`` or both: the message's value must lie in both.  A selector
  whose two ranges have no value in common (or one side OPAQUE and the other a Type/Code: RFC 4301
  4.4.1.3's "send only" and "receive only", which ikelab says with ``Policy(applies_to=...)``) matched
  nothing, silently.  Likewise a TCP/UDP/SCTP selector with one side OPAQUE and the other a port (a packet
  has both ports or neither), and ports for a protocol without any.  Now each is a ConfigError.
* What IKE negotiated is taken as it is (``Selector.from_traffic_selectors``, ``negotiated=True``): a peer's
  selectors never raise here, and build the same selectors as before.

The ICMP matching itself is right: a Scapy-built message lies inside a Type/Code range exactly when
RFC 4301 4.4.1.1's test ``(T-start*256)+C-start <= (t*256)+c <= (T-end*256)+C-end`` says so.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ikelab.errors import ConfigError
from ikelab.packet import selectors
from ikelab.policy import Action, Direction, Policy, PortRange, Selector, Spd, selectors_from_ts

ANY, OPAQUE = PortRange(), PortRange(0xFFFF, 0)
ICMP, TCP, UDP, ESP, ICMPV6, SCTP = 1, 6, 17, 50, 58, 132


@pytest.mark.parametrize("field", ["local_ports", "remote_ports"])
@pytest.mark.parametrize("ports", [8, (1000, 2000), OPAQUE], ids=["8", "1000-2000", "opaque"])
def test_ports_with_protocol_any_are_a_config_error_naming_the_field(field: str, ports: Any) -> None:
    with pytest.raises(ConfigError, match=f"{field} .* with protocol 0 \\(ANY\\): ports belong to a protocol "
                                          "that has them \\(RFC 7296 3.13.1") as err:
        Selector(protocol=0, **{field: ports})
    assert err.value.field == field
    with pytest.raises(ConfigError):
        Selector.of("10.1.0.0/16", "10.2.0.0/16", **{field: ports})
    assert Selector(protocol=0) == Selector()  # protocol 0 with every port: any traffic


@pytest.mark.parametrize("local, remote", [
    (0x0800, 0x0000),  # echo request sent, echo reply received: two values, and a message has one
    ((0x0800, 0x08FF), (0x0000, 0x00FF)),
    (0x0800, OPAQUE),  # RFC 4301 4.4.1.3 "send only": Policy(applies_to="outbound") here
    (OPAQUE, 0x0800),
], ids=["8/0", "8.any/0.any", "8/opaque", "opaque/8"])
@pytest.mark.parametrize("protocol", [ICMP, ICMPV6])
def test_an_icmp_selector_whose_sides_share_no_type_code_is_a_config_error(local: Any, remote: Any,
                                                                          protocol: int) -> None:
    with pytest.raises(ConfigError, match="have no Type/Code in common, so it matches no packet: an ICMP message "
                                          "has one value, Type << 8 \\| Code, which must lie in both") as err:
        Selector(protocol=protocol, local_ports=local, remote_ports=remote)
    assert err.value.field == "remote_ports"


def test_what_an_icmp_selector_may_say() -> None:
    """One side, both sides with the same value, overlapping ranges (the common part), both OPAQUE (a
    non-first fragment), one OPAQUE and the other any."""
    for local, remote in ((0x0800, ANY), (ANY, 0x0800), (0x0800, 0x0800), ((0x0800, 0x08FF), (0x0803, 0x0A00)),
                          (OPAQUE, OPAQUE), (OPAQUE, ANY), (ANY, ANY)):
        Selector(protocol=ICMP, local_ports=local, remote_ports=remote)
    overlap = Selector(protocol=ICMP, local_ports=(0x0800, 0x08FF), remote_ports=(0x0803, 0x0A00))
    a, b = ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("10.0.0.2")
    assert [v for v in range(0x0700, 0x0B00) if overlap.matches(a, b, ICMP, v, v)] == list(range(0x0803, 0x0900))


@pytest.mark.parametrize("protocol", [TCP, UDP, SCTP])
def test_a_port_against_opaque_on_the_other_side_is_a_config_error(protocol: int) -> None:
    """A TCP, UDP or SCTP packet has both ports, or (a non-first fragment) neither."""
    for local, remote in ((OPAQUE, 443), (443, OPAQUE), (OPAQUE, (1, 1023))):
        with pytest.raises(ConfigError, match="match no packet: a packet has both ports or, a non-first "
                                              "fragment, neither"):
            Selector(protocol=protocol, local_ports=local, remote_ports=remote)
    for local, remote in ((OPAQUE, OPAQUE), (OPAQUE, ANY), (443, ANY), (ANY, 443), ((1024, 65535), 443)):
        Selector(protocol=protocol, local_ports=local, remote_ports=remote)


@pytest.mark.parametrize("protocol", [ESP, 51, 47, 135])
def test_ports_for_a_protocol_without_ports_are_a_config_error(protocol: int) -> None:
    with pytest.raises(ConfigError, match="whose packets have no ports ikelab reads") as err:
        Selector(protocol=protocol, remote_ports=500)
    assert err.value.field == "remote_ports"
    Selector(protocol=protocol, local_ports=OPAQUE, remote_ports=OPAQUE)
    Selector(protocol=protocol)


# ------------------------------------------- the check says exactly which selectors no packet can match

_RANGES = st.one_of(st.sampled_from([ANY, OPAQUE]),
                    st.tuples(st.integers(0, 0x0A00), st.integers(0, 0x300)).map(
                        lambda t: PortRange(t[0], min(t[0] + t[1], 0xFFFF))))


def _some_packet_matches(sel: Selector) -> bool:
    """Brute force over the packets that could match: the ports at each range's ends, and none at all."""
    a, b = ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("10.0.0.2")
    ends = {p for r in (sel.local_ports, sel.remote_ports) if not r.is_opaque for p in (r.start, r.end)} or {0}
    protocols = [sel.protocol] if sel.protocol else [TCP, ICMP, ESP]
    for protocol in protocols:
        if protocol in (ICMP, ICMPV6):
            candidates = [(v, v) for v in ends] + [(None, None)]
        elif protocol in (TCP, UDP, SCTP):
            candidates = [(lp, rp) for lp in ends for rp in ends] + [(None, None)]
        else:
            candidates = [(None, None)]
        if any(sel.matches(a, b, protocol, lp, rp) for lp, rp in candidates):
            return True
    return False


@settings(max_examples=600, deadline=None, derandomize=True, database=None)
@given(protocol=st.sampled_from([0, ICMP, TCP, UDP, ESP, ICMPV6, SCTP]), local=_RANGES, remote=_RANGES)
def test_a_selector_is_refused_exactly_when_no_packet_can_match_it_or_it_gives_protocol_any_ports(
        protocol: int, local: PortRange, remote: PortRange) -> None:
    """The same selector taken as negotiated (no check) is the reference: ``matches`` over every packet that
    could match.  Refused iff that finds none, or protocol 0 names ports."""
    as_is = Selector(protocol=protocol, local_ports=local, remote_ports=remote, negotiated=True)
    refuse = not _some_packet_matches(as_is) or (protocol == 0 and not (local.is_any and remote.is_any))
    try:
        built = Selector(protocol=protocol, local_ports=local, remote_ports=remote)
    except ConfigError as exc:
        assert refuse, exc
        assert exc.field in ("local_ports", "remote_ports") and f"selector {as_is}: " in str(exc)
    else:
        assert not refuse and built == as_is


# ---------------------------------------------------------------------- what IKE negotiated is taken as is

@pytest.mark.parametrize("local_ts, remote_ts", [
    (("10.1.0.0", "10.1.255.255", 0, 80, 80), ("10.2.0.0", "10.2.255.255", 0, 0, 65535)),  # a peer's port on ANY
    (("10.1.0.0", "10.1.255.255", ICMP, 0x0800, 0x0800), ("10.2.0.0", "10.2.255.255", ICMP, 0, 0)),
    (("10.1.0.0", "10.1.255.255", TCP, 65535, 0), ("10.2.0.0", "10.2.255.255", TCP, 443, 443)),
], ids=["port-on-any", "icmp-8-and-0", "tcp-opaque-and-443"])
def test_negotiated_selectors_are_taken_as_they_are(local_ts: tuple, remote_ts: tuple) -> None:
    """from_traffic_selectors and selectors_from_ts build these as before (no ConfigError in a CHILD SA
    negotiation), each field as the traffic selectors give it."""
    sel = Selector.from_traffic_selectors(local_ts, remote_ts)
    assert sel is not None and selectors_from_ts(local_ts, remote_ts) == (sel,)
    assert (sel.protocol, sel.local_ports, sel.remote_ports) == (
        local_ts[2] or remote_ts[2], PortRange(*local_ts[3:]), PortRange(*remote_ts[3:]))
    assert str(sel.local) == f"{local_ts[0]}/16" and str(sel.remote) == f"{remote_ts[0]}/16"
    with pytest.raises(ConfigError):  # the same selector written by hand
        replace(sel)


# ------------------------------------------------- ICMP Type/Code matching, against RFC 4301 4.4.1.1's test

def _icmp_bytes(version: int, icmp_type: int, code: int, outbound: bool) -> bytes:
    """An ICMP (or ICMPv6) message built with Scapy, from 10.1.0.5 (or 2001:db8:1::5) when ``outbound``."""
    from scapy.layers.inet import ICMP as ScapyIcmp, IP
    from scapy.layers.inet6 import ICMPv6Unknown, IPv6

    ours, theirs = ("10.1.0.5", "10.2.0.9") if version == 4 else ("2001:db8:1::5", "2001:db8:2::9")
    src, dst = (ours, theirs) if outbound else (theirs, ours)
    if version == 4:
        return bytes(IP(src=src, dst=dst) / ScapyIcmp(type=icmp_type, code=code))
    return bytes(IPv6(src=src, dst=dst) / ICMPv6Unknown(type=icmp_type, code=code, msgbody=b"\x00" * 4))


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(version=st.sampled_from([4, 6]), types=st.tuples(st.integers(0, 255), st.integers(0, 3)),
       codes=st.tuples(st.integers(0, 255), st.integers(0, 255)), t=st.integers(0, 255), c=st.integers(0, 255),
       side=st.sampled_from(["local", "remote", "both"]), outbound=st.booleans())
def test_icmp_type_and_code_match_as_rfc_4301_says(version: int, types: tuple, codes: tuple, t: int, c: int,
                                                   side: str, outbound: bool) -> None:
    """A policy for Types T-start..T-end with Codes C-start..C-end is the range (T-start << 8 | C-start) ..
    (T-end << 8 | C-end), named on either side or both: a message of Type t and Code c matches iff
    (T-start*256)+C-start <= (t*256)+c <= (T-end*256)+C-end (RFC 4301 4.4.1.1), in either direction."""
    t_start, t_end = types[0], min(types[0] + types[1], 255)
    c_start, c_end = codes if t_end > t_start else sorted(codes)
    t = t if t % 3 else t_start + (t % 2) * (t_end - t_start)  # often a Type at an end of the range
    ports = PortRange(t_start << 8 | c_start, t_end << 8 | c_end)
    protocol = ICMP if version == 4 else ICMPV6
    sel = Selector(protocol=protocol, local_ports=ports if side != "remote" else ANY,
                   remote_ports=ports if side != "local" else ANY)
    spd = Spd([Policy("icmp-range", sel, Action.DISCARD), Policy("default", Selector(), Action.BYPASS)])
    direction = Direction.OUTBOUND if outbound else Direction.INBOUND
    found = spd.lookup(direction, selectors(_icmp_bytes(version, t, c, outbound)))[0].name
    rfc = (t_start * 256) + c_start <= (t * 256) + c <= (t_end * 256) + c_end
    assert (found == "icmp-range") is rfc


def test_send_only_and_receive_only_are_a_policys_direction() -> None:
    """RFC 4301 4.4.1.3: a system may send an ICMP Type/Code it does not want to receive.  The SPD entry
    applies to one direction (``applies_to``), its selector names the Type/Code once."""
    echo_request = Selector(protocol=ICMP, local_ports=0x0800)
    spd = Spd([Policy("send-echo", echo_request, Action.BYPASS, applies_to="outbound"),
               Policy("default", Selector(), Action.DISCARD)])
    assert spd.lookup("outbound", selectors(_icmp_bytes(4, 8, 0, True)))[0].name == "send-echo"
    assert spd.lookup("inbound", selectors(_icmp_bytes(4, 8, 0, False)))[0].name == "default"
