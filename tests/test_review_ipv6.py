"""IPv6 addresses in ikelab's live peer (``ikelab.net``, ``ikelab.peer``): the regressions of the IPv6 review.

The review against charon is ``tests/interop/test_review_ipv6_vs_charon.py``; these run offline, on loopback
(no root, no charon), each against the RFC that says what the address means:

* the unspecified address (``::``, ``0.0.0.0``) as our own address: ``ikelab respond --listen ::`` listened,
  and answered with NAT_DETECTION_* hashes of ``::``, which no packet carries (RFC 4291 2.5.2); the initiator
  then found "the peer behind a NAT" and moved to port 4500 (RFC 7296 2.23) for nothing.  Refused now.
* an IPv4-mapped address (``::ffff:127.0.0.1``, RFC 4291 2.5.5.2) as peer or own address: the run hashed the
  16-octet form while the packets, and the peer's hashes, are IPv4: each side saw the other "behind a NAT",
  and on ports other than 500 the handshake died.  It is the IPv4 address now.
* a zoned link-local address (``fe80::1%eth0``, RFC 4007 11): Python's ``connect``/``sendto`` take the zone
  only as the scope id of a 4-tuple, not from the text (EINVAL: "no route to peer"), received addresses lost
  their zone (so answers could not be sent), and ``--keys`` refused the zoned address in ``esp_sa``.  Checked
  here piecewise; the whole run over a link-local address is in the interop review.
* IKE between zoned link-local addresses in the engine: the default selectors (``dynamic``, the IKE
  addresses) were refused ("a selector address has no zone index"), so no CHILD SA came up; with selectors
  given, transport mode (RFC 7296 1.3.1) was declined, as Python's ``fe80::a%lo`` is not ``fe80::a``, in the
  host check, the NAT substitution (2.23.1) and the live peer's check of what a transport-mode SA carries.
  The zone names our interface only: :func:`ikelab.ts.host_address` drops it wherever an IKE address meets
  a selector or a packet.
* an IPv6 address not in its RFC 5952 form (``0:0:0:0:0:0:0:1``, ``2001:DB8::2``): the first datagrams went
  to the address as typed, the later ones to the form the socket reports, and an established IKE SA would take
  a packet from the second for a move of the peer (RFC 7296 2.23).  The address is kept in its RFC 5952 form.
* the bracketed form of a URL (``[2001:db8::2]:4500``, RFC 3986 3.2.2) is refused, as before, but the message
  now says how to write the address and port.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from typing import Any

import pytest

from ikelab.config import IkeConfig
from ikelab.errors import ConfigError
from ikelab.exchanges_common import udp_endpoint
from ikelab.net import NetDriver, address_text, socket_address, zoned
from ikelab.state import State

SUITE = dict(ike_proposals=("aes128-sha256-modp2048",), esp_proposals=("aes128-sha256",), psk=b"ipv6-review",
             retransmit_timeout=0.3, retransmit_tries=1, local_ts=("10.1.0.1/32",), remote_ts=("10.2.0.1/32",))


def _free_port(family: int = socket.AF_INET) -> int:
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        return int(s.getsockname()[1])


def _handshake(init_local: str, peer: str, resp_local: str) -> dict[str, Any]:
    """Two NetDrivers in one event loop on high ports: ``init_local`` initiates to ``peer``, where ``resp_local``
    answers; what each side concluded."""

    async def run() -> dict[str, Any]:
        family = socket.AF_INET6 if ":" in resp_local and "ffff" not in resp_local else socket.AF_INET
        port = _free_port(family)
        resp = NetDriver(IkeConfig(local_id="gw.example.com", **{**SUITE, "local_ts": SUITE["remote_ts"],
                                                                   "remote_ts": SUITE["local_ts"]}), resp_local, port=port)
        init = NetDriver(IkeConfig(local_id="alice@example.org", **SUITE), init_local, port=_free_port(family))
        await resp.open()
        await init.open()
        try:
            sa = init.initiate((peer, port))
            outcome = await init.wait_established(4)
            theirs = resp.current_sa()
            return {"outcome": outcome, "sa": sa, "theirs": theirs, "trace": list(init.trace),
                    "locals": (init.local_addr, resp.local_addr)}
        finally:
            init.close()
            resp.close()

    return asyncio.run(run())


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_loopback_handshake_finds_no_nat() -> None:
    """Between ::1 and ::1 the NAT_DETECTION_* hashes, over 16-octet addresses, match on both sides (RFC 7296
    2.23): IKE stays on the ports it started on."""
    got = _handshake("::1", "::1", "::1")
    assert got["outcome"].ok, got["outcome"]
    sa, theirs = got["sa"], got["theirs"]
    assert (sa.nat_local, sa.nat_remote, theirs.nat_local, theirs.nat_remote) == (False,) * 4
    assert sa.local[0] == sa.remote[0] == "::1" and 4500 not in (sa.local[1], sa.remote[1])
    assert theirs.keys.sk_d == sa.keys.sk_d


@pytest.mark.parametrize("address", ["::", "0.0.0.0", "0::0"])
def test_the_unspecified_address_is_refused_as_an_endpoint(address: str) -> None:
    for what in ("local", "peer"):
        with pytest.raises(ConfigError, match="unspecified address.*RFC 4291 2.5.2") as info:
            udp_endpoint(address, 500, what)
        assert info.value.field == f"{what}_address"
    with pytest.raises(ConfigError, match="unspecified"):
        NetDriver(IkeConfig(local_id="gw.example.com", **SUITE), address, port=_free_port())


def test_respond_on_the_unspecified_address_exits_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    """``ikelab respond --listen ::`` listened and answered with hashes of ``::``; it is a usage error now."""
    from ikelab.cli import main

    port = str(_free_port())
    assert main(["respond", "--listen", "::", "--port", port, "--id", "gw.example.com", "--psk-file", __file__,
                 "--wait", "0.2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ikelab respond: error: local address '::' is the unspecified address"), err


def test_an_ipv4_mapped_address_is_the_ipv4_address() -> None:
    """RFC 4291 2.5.5.2: ``::ffff:a.b.c.d`` is an IPv4 node; its packets, and the hashes of NAT detection, are
    IPv4.  The run used to bind an IPv6 socket to it and hash 16 octets: both sides saw a NAT, moved to port
    4500 (not bound on a high port) and the IKE_AUTH went unanswered."""
    assert udp_endpoint("::ffff:192.0.2.2", 500, "peer") == ("192.0.2.2", 500)
    assert udp_endpoint("::FFFF:c000:202", 4500, "local") == ("192.0.2.2", 4500)
    assert udp_endpoint("2001:db8::ffff:c000:202", 500, "peer")[0] == "2001:db8::ffff:c000:202"  # not mapped
    got = _handshake("::ffff:127.0.0.1", "::ffff:127.0.0.1", "127.0.0.1")
    assert got["outcome"].ok, got["outcome"]
    sa = got["sa"]
    assert (sa.nat_local, sa.nat_remote) == (False, False) and sa.state == State.ESTABLISHED
    assert got["locals"] == ("127.0.0.1", "127.0.0.1")
    assert {p.src for p in got["trace"]} == {"127.0.0.1"}


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
def test_an_ipv6_address_is_kept_in_the_form_the_socket_reports() -> None:
    """RFC 5952 4: one text form per address, the one received packets carry here too."""
    assert udp_endpoint("2001:DB8:0:0:0:0:0:2", 500, "peer") == ("2001:db8::2", 500)
    assert udp_endpoint("FE80::A%lo", 500, "local") == ("fe80::a%lo", 500)
    assert udp_endpoint("192.0.2.1", 500, "peer") == ("192.0.2.1", 500)
    got = _handshake("0::1", "0:0:0:0:0:0:0:1", "::1")
    assert got["outcome"].ok, got["outcome"]
    assert {(p.src, p.dst) for p in got["trace"]} == {("::1", "::1")}, got["trace"]
    assert got["sa"].remote[0] == got["sa"].local[0] == "::1"


def test_a_zoned_link_local_address_reaches_the_socket_with_its_scope() -> None:
    """RFC 4007 11: ``fe80::1%lo`` names the interface; the socket address must carry its index, and a received
    address, which Python gives without the zone, gets it back (the answer goes out on the same link)."""
    index = socket.if_nametoindex("lo")
    assert socket_address("fe80::1%lo", 500) == ("fe80::1", 500, 0, index)
    assert socket_address(f"fe80::1%{index}", 4500)[3] == index
    assert socket_address("2001:db8::1", 500) == ("2001:db8::1", 500)
    assert address_text(("fe80::1", 500, 0, index)) == "fe80::1%lo"
    assert address_text(("2001:db8::1", 500, 0, 0)) == "2001:db8::1"
    assert address_text(("192.0.2.1", 500)) == "192.0.2.1"
    assert zoned(f"fe80::1%{index}") == "fe80::1%lo" and zoned("fe80::1%lo") == "fe80::1%lo"


def test_the_esp_sa_table_names_a_link_local_peer_without_its_zone() -> None:
    """The packets carry no zone, and Wireshark's esp_sa matches none: the rows hold the bare addresses (they
    used to make ``--keys`` fail: "Wireshark matches no %zone")."""
    from ikelab.lab import Lab
    from ikelab.events import ChildSaCreated
    from ikelab.wireshark import esp_records_from_child, format_esp_sa_table

    lab = Lab(IkeConfig(local_id="alice@example.org", **SUITE),
              IkeConfig(local_id="gw.example.com", **{**SUITE, "local_ts": SUITE["remote_ts"],
                                                       "remote_ts": SUITE["local_ts"]}), ipv6=True, seed=7)
    lab.initiate()
    lab.run_until_idle()
    event = lab.events("initiator", ChildSaCreated)[0]
    zoned_event = replace(event, local_addr="fe80::1%lo", remote_addr="fe80::2%lo")
    out, inb = esp_records_from_child(zoned_event)
    assert (out.src, out.dst, inb.src, inb.dst) == ("fe80::1", "fe80::2", "fe80::2", "fe80::1")
    assert '"IPv6","fe80::1","fe80::2"' in format_esp_sa_table([out, inb])


def test_a_bracketed_address_with_a_port_is_refused_with_the_way_to_write_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    from ikelab.cli import main

    assert main(["connect", "[2001:db8::2]:4500", "--id", "me.example", "--psk-file", __file__]) == 2
    err = capsys.readouterr().err
    assert "without the brackets of a URL (RFC 3986 3.2.2), and its port apart" in err, err


@pytest.mark.parametrize("encapsulation", ["auto", "always"])
def test_a_link_local_ike_sa_gets_its_default_selectors_and_transport_mode(encapsulation: str) -> None:
    """A sans-IO lab between fe80::a%lo and fe80::b%lo in transport mode, with the default selectors: each
    side's CHILD SA is the two hosts' /128s, without the zone, in transport mode (with ``always`` through the
    NAT substitution of RFC 7296 2.23.1, the faked NAT making ESP go in UDP)."""
    from ikelab.events import ChildSaCreated, Failure
    from ikelab.lab import Lab

    base = dict(ike_proposals=("aes128-sha256-modp2048",), esp_proposals=("aes128-sha256",), psk=b"ll",
                mode="transport")
    lab = Lab(IkeConfig(local_id="alice@example.org", encapsulation=encapsulation, **base),
              IkeConfig(local_id="gw.example.com", **base), addresses=("fe80::a%lo", "fe80::b%lo"), seed=3)
    lab.initiate()
    lab.run_until_idle()
    for side, mine, theirs in (("initiator", "fe80::a", "fe80::b"), ("responder", "fe80::b", "fe80::a")):
        assert not lab.events(side, Failure), lab.events(side, Failure)
        (child,) = lab.events(side, ChildSaCreated)
        assert (child.mode, child.ts_local, child.ts_remote) == ("transport", (f"{mine}/128",), (f"{theirs}/128",))
        assert child.udp_encap == (encapsulation == "always")


def test_the_live_peer_sends_a_link_local_hosts_own_packets_in_transport_mode() -> None:
    """RFC 4303 3.1.1: a transport-mode SA carries the packets between its two hosts; their zoned IKE addresses
    are those hosts (the check used to compare fe80::a%lo with the packet's fe80::a, and refused)."""
    from ipaddress import ip_address

    from ikelab.esp_peer import EspPeer
    from ikelab.events import ChildSaCreated
    from ikelab.lab import Lab
    from ikelab.packet import icmp_echo

    base = dict(ike_proposals=("aes128-sha256-modp2048",), esp_proposals=("aes128-sha256",), psk=b"ll",
                mode="transport")
    lab = Lab(IkeConfig(local_id="alice@example.org", **base), IkeConfig(local_id="gw.example.com", **base),
              addresses=("fe80::a%lo", "fe80::b%lo"), seed=4)
    lab.initiate()
    lab.run_until_idle()
    (event,) = lab.events("initiator", ChildSaCreated)
    assert event.local_addr == "fe80::a%lo"
    echo = icmp_echo(ip_address("fe80::a"), ip_address("fe80::b"), 7, 1)
    data, next_header = EspPeer._protected_part(echo, event)
    assert next_header == 58 and data == echo[40:]
    with pytest.raises(ConfigError, match="transport-mode SA carries only"):
        EspPeer._protected_part(icmp_echo(ip_address("fe80::c"), ip_address("fe80::b"), 7, 1), event)


def test_selectors_substituted_and_moved_across_a_nat_take_a_link_local_address_without_its_zone() -> None:
    from ikelab.ts import host_address, ts_from_string, ts_to_string
    from ikelab.ts_negotiation import move_address, substitute_address

    assert str(host_address("fe80::a%lo")) == "fe80::a" and str(host_address("192.0.2.1")) == "192.0.2.1"
    assert ts_to_string(ts_from_string("dynamic", dynamic="fe80::a%lo")) == "fe80::a/128"
    offered = (ts_from_string("fe80::99/128"),)
    assert [ts_to_string(t) for t in substitute_address(offered, "fe80::a%lo")] == ["fe80::a/128"]
    here = (ts_from_string("fe80::a/128"),)
    assert [ts_to_string(t) for t in move_address(here, "fe80::a%lo", "fe80::c%lo")] == ["fe80::c/128"]
