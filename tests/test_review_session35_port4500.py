"""An initiator that starts IKE on port 4500 (RFC 7296 2.23), sans-IO.

RFC 7296 2.23: "An initiator can use port 4500 for both IKE and ESP, regardless of whether or not there is a
NAT, even at the beginning of IKE", and "UDP encapsulation MUST NOT be done on port 500".  ``IkeEndpoint
.initiate((address, 4500))`` on an endpoint serving ports 500 and 4500 sent IKE_SA_INIT from its port 500 to
the peer's 4500, and kept port 500 for the IKE SA: the CHILD SAs then carried ESP in UDP between port 500 and
port 4500, both ways.  Now the IKE SA's own port is 4500 from the first message on, so that:

* every IKE message goes 4500 -> 4500 with the Non-ESP Marker (RFC 3948 2.2);
* NAT_DETECTION_SOURCE_IP is SHA-1(SPIi | SPIr | IP | 4500), the source the responder sees, which finds no
  NAT; nor does the initiator (hashes computed here with hashlib, not ikelab);
* the CHILD SAs carry UDP-encapsulated ESP 4500 <-> 4500 (sending it is not required on 4500, but allowed;
  ESP in UDP on port 500 is not), which an IpsecHost puts on the wire.

An endpoint bound to another port (a test's high port: it serves no 4500) still sends from that port, to 4500
with the marker, and hashes that port; an address alone still means port 500 and no marker.
"""

from __future__ import annotations

import hashlib
import ipaddress

from ikelab import events as ev
from ikelab.config import IkeConfig
from ikelab.constants import NotifyType
from ikelab.endpoint import IkeEndpoint
from ikelab.host import IpsecHost
from ikelab.message import decode
from ikelab.packet import icmp_echo, parse_ip, parse_udp
from ikelab.policy import Action
from ikelab.rand import DeterministicRandom
from ikelab.state import State

MOON, SUN = "192.0.2.1", "192.0.2.2"
MOON_NET, SUN_NET = "198.51.100.0/24", "203.0.113.0/24"
MARKER = bytes(4)


def endpoints(moon_port: int = 500) -> tuple[IkeEndpoint, IkeEndpoint]:
    common = dict(psk=b"a shared secret for port 4500", ike_proposals=("aes128-sha256-x25519",),
                  esp_proposals=("aes128-sha256",), cookie_threshold=None)
    moon = IkeConfig(local_id="moon.example", remote_id="sun.example", local_ts=(MOON_NET,), remote_ts=(SUN_NET,),
                     **common)
    sun = IkeConfig(local_id="sun.example", remote_id="moon.example", local_ts=(SUN_NET,), remote_ts=(MOON_NET,),
                    **common)
    return (IkeEndpoint(moon, DeterministicRandom("session35-moon"), MOON, port=moon_port),
            IkeEndpoint(sun, DeterministicRandom("session35-sun"), SUN))


def run(moon: IkeEndpoint, sun: IkeEndpoint) -> list:
    """Deliver datagrams both ways until none is left; every datagram, in order."""
    seen = []
    while True:
        moving = [(d, sun) for d in moon.pop_datagrams()] + [(d, moon) for d in sun.pop_datagrams()]
        if not moving:
            return seen
        for dgram, to in moving:
            seen.append(dgram)
            to.receive(dgram, 1.0)


def natd(spi_i: bytes, spi_r: bytes, address: str, port: int) -> bytes:
    """SHA-1(SPIi | SPIr | IP address | port), RFC 7296 2.23."""
    return hashlib.sha1(spi_i + spi_r + ipaddress.ip_address(address).packed + port.to_bytes(2, "big")).digest()


def notify(message: bytes, kind: NotifyType) -> bytes:
    (data,) = [bytes(p.data) for p in decode(message).payloads if getattr(p, "notify_type", None) == kind]
    return data


def test_an_initiator_towards_port_4500_uses_port_4500_from_the_first_message() -> None:
    moon, sun = endpoints()
    sa = moon.initiate((SUN, 4500), 0.0)
    assert sa.local == (MOON, 4500) and sa.remote == (SUN, 4500)
    (first,) = moon.pop_datagrams()
    assert (first.src, first.dst) == ((MOON, 4500), (SUN, 4500))
    assert first.payload[:4] == MARKER  # RFC 3948 2.2, before the IKE header
    request = first.payload[4:]
    spi_i = request[:8]
    assert notify(request, NotifyType.NAT_DETECTION_SOURCE_IP) == natd(spi_i, bytes(8), MOON, 4500)
    assert notify(request, NotifyType.NAT_DETECTION_DESTINATION_IP) == natd(spi_i, bytes(8), SUN, 4500)
    sun.receive(first, 0.0)
    rest = run(moon, sun)
    assert rest and all({d.src[1], d.dst[1]} == {4500} and d.payload[:4] == MARKER for d in rest), \
        [(d.src, d.dst) for d in rest]
    (theirs,) = sun.all_sas()
    assert sa.state == theirs.state == State.ESTABLISHED
    assert theirs.local == (SUN, 4500) and theirs.remote == (MOON, 4500)
    assert not sa.nat_detected and not theirs.nat_detected  # the hashes match: no NAT either way
    response = rest[0].payload[4:]  # the IKE_SA_INIT response, hashed with SPIr
    assert notify(response, NotifyType.NAT_DETECTION_SOURCE_IP) == natd(spi_i, response[8:16], SUN, 4500)
    for endpoint in (moon, sun):
        (child,) = [e for e in endpoint.pop_events() if isinstance(e, ev.ChildSaCreated)]
        # ESP in UDP, but never on port 500 (RFC 7296 2.23)
        assert child.udp_encap and (child.local_port, child.remote_port) == (4500, 4500)


def test_esp_of_such_a_child_sa_goes_in_udp_from_4500_to_4500() -> None:
    moon, sun = endpoints()
    hosts = {}
    moon.initiate((SUN, 4500), 0.0)
    run(moon, sun)
    for name, endpoint in (("moon", moon), ("sun", sun)):
        hosts[name] = IpsecHost(rng=DeterministicRandom(f"session35-{name}-host"))
        for event in endpoint.pop_events():
            hosts[name].handle_event(event)
    request = icmp_echo("198.51.100.7", "203.0.113.9", 35, 1, b"port 4500")
    out = hosts["moon"].outbound(request)
    assert out.action is Action.PROTECT and out.packet is not None
    outer = parse_ip(out.packet)
    udp = parse_udp(outer)
    assert (str(outer.src), str(outer.dst), udp.sport, udp.dport) == (MOON, SUN, 4500, 4500)
    assert udp.payload[:4] != MARKER  # ESP: a non-zero SPI where IKE has its marker (RFC 3948 2.1)
    assert hosts["sun"].inbound(out.packet).packet == request
    reply = icmp_echo("203.0.113.9", "198.51.100.7", 35, 1, b"port 4500", reply=True)
    back = hosts["sun"].outbound(reply)
    assert parse_udp(parse_ip(back.packet)).sport == parse_udp(parse_ip(back.packet)).dport == 4500
    assert hosts["moon"].inbound(back.packet).packet == reply


def test_an_endpoint_on_another_port_sends_from_it_to_4500() -> None:
    moon, sun = endpoints(moon_port=5600)
    sa = moon.initiate((SUN, 4500), 0.0)
    (first,) = moon.pop_datagrams()
    assert (first.src, first.dst) == ((MOON, 5600), (SUN, 4500)) and first.payload[:4] == MARKER
    spi_i = first.payload[4:12]
    assert notify(first.payload[4:], NotifyType.NAT_DETECTION_SOURCE_IP) == natd(spi_i, bytes(8), MOON, 5600)
    sun.receive(first, 0.0)
    run(moon, sun)
    (theirs,) = sun.all_sas()
    assert sa.state == State.ESTABLISHED and not sa.nat_detected and not theirs.nat_detected
    assert theirs.remote == (MOON, 5600)


def test_an_address_alone_still_means_port_500_without_a_marker() -> None:
    moon, sun = endpoints()
    sa = moon.initiate(SUN, 0.0)
    (first,) = moon.pop_datagrams()
    assert sa.local == (MOON, 500) and (first.src, first.dst) == ((MOON, 500), (SUN, 500))
    assert notify(first.payload, NotifyType.NAT_DETECTION_SOURCE_IP) == natd(first.payload[:8], bytes(8), MOON, 500)


def test_the_rekeys_stay_on_port_4500() -> None:
    """The CHILD SA and IKE SA rekeys (RFC 7296 2.8, 2.18) go 4500 <-> 4500 too, and so does the new CHILD SA's ESP."""
    moon, sun = endpoints()
    sa = moon.initiate((SUN, 4500), 0.0)
    run(moon, sun)
    moon.pop_events()
    sa.rekey_child(next(iter(sa.children)), 2.0)
    seen = run(moon, sun)
    sa.rekey_ike(3.0)
    seen += run(moon, sun)
    assert seen and {(d.src[1], d.dst[1], d.payload[:4]) for d in seen} == {(4500, 4500, MARKER)}
    (child,) = [e for e in moon.pop_events() if isinstance(e, ev.ChildSaCreated)]
    assert child.rekey_of is not None and (child.local_port, child.remote_port) == (4500, 4500)
    (new,) = [s for s in moon.all_sas() if s.state == State.ESTABLISHED]
    assert new is not sa and new.local == (MOON, 4500) and new.remote == (SUN, 4500)
