"""Review: transport mode across a NAT (RFC 7296 2.23.1), in the lab with a NAPT in front of the initiator.

The initiator (the client, IP1 = 192.0.2.1) sits behind ``Lab(nat=NAT)`` and is seen by the responder (the
server, IP2 = 192.0.2.2, not behind a NAT, so IPN2 = IP2) at IPN1 = NAT.  Both ask for transport mode.  The
client's selectors name IP1, which the server's policy (``dynamic``: the IKE address it sees) does not hold:
without the substitution of 2.23.1 no CHILD SA is made (TS_UNACCEPTABLE).  With it:

* the server narrows IPN1 <-> IP2 and answers with them; the client puts IP1 back in TSi and installs
  IP1 <-> IPN2, so that each side holds the addresses its packets carry on its side of the NAT;
* ICMP echoes go through ESP in UDP/4500 (RFC 3948) both ways, each inside the receiving SA's selectors;
* CREATE_CHILD_SA does the same from either side: a rekey, and a new CHILD SA asked for by the server;
* the server never takes an address the client asserts: a NATed TSi always becomes the observed IPN1;
* tunnel mode behind the NAT, and transport mode without a NAT, are byte for byte what they were before
  (the digests below were taken with the code before 2.23.1 was implemented).
* tshark decrypts every frame of such a lab, as tests/test_review_tshark_diff.py checks it (IPv4).
"""

from __future__ import annotations

import hashlib
from ipaddress import ip_address, ip_network
from typing import Any

import pytest

from ikelab import events as ev
from ikelab import transport_nat
from ikelab.config import IkeConfig
from ikelab.errors import ConfigError
from ikelab.lab import Lab
from ikelab.scenario import _EspLab
from ikelab.ts import ts_from_string
from ikelab.ts_negotiation import substitute_address

IP1, IP2, NAT = "192.0.2.1", "192.0.2.2", "203.0.113.5"
THIRD_PARTY = "198.51.100.77"
SIDES = ("initiator", "responder")


def configs(mode: str = "transport", *, client_ts: tuple[str, ...] = (), server_remote_ts: tuple[str, ...] = (),
            encapsulation: str = "auto") -> tuple[IkeConfig, IkeConfig]:
    """The client's and the server's configuration; empty selectors are ``dynamic`` (the IKE addresses)."""
    common: dict[str, Any] = dict(psk=b"transport nat key", ike_proposals=("aes128-sha256-modp2048",),
                                  esp_proposals=("aes128-sha256",), cookie_threshold=None, mode=mode,
                                  encapsulation=encapsulation)
    a_ts, b_ts = (("10.1.0.0/16",), ("10.2.0.0/16",)) if mode == "tunnel" else (client_ts, ())
    client = IkeConfig(local_id="moon.example", remote_id="sun.example", local_ts=a_ts, remote_ts=b_ts, **common)
    server = IkeConfig(local_id="sun.example", remote_id="moon.example", local_ts=b_ts,
                       remote_ts=server_remote_ts or (a_ts if mode == "tunnel" else ()), **common)
    return client, server


class TransportLab(_EspLab):
    """The scenario's ESP lab (which sends transport mode's ICMP right after ESP and has the receiver rebuild the
    IP header from the outer addresses, RFC 4303 3.1.1), with each inbound packet checked against the receiving
    CHILD SA's selectors (RFC 4301 5.2): :attr:`outside` counts the ones that fall outside."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outside = 0
        self.spi_ts: dict[str, dict[bytes, tuple[tuple[str, ...], tuple[str, ...]]]] = {s: {} for s in SIDES}

    def on_event(self, side: str, event: ev.Event) -> None:
        super().on_event(side, event)
        if isinstance(event, ev.ChildSaCreated):
            self.spi_ts[side][event.spi_in] = (event.ts_local, event.ts_remote)

    def admits(self, side: str, spi: bytes, packet: Any) -> bool:
        ts_local, ts_remote = self.spi_ts[side][spi]
        if (f"{packet.dst}/32",) != ts_local or (f"{packet.src}/32",) != ts_remote:
            self.outside += 1  # dropped, as an SPD would (RFC 4301 5.2 step 4)
            return False
        return True

    def echo_both_ways(self, seq: int) -> None:
        """An echo from the client to the server and one back the other way; both must be answered."""
        before = len(self.replies)
        self.ping("initiator", IP1, IP2, seq)  # the client writes its own addresses, IP1 -> IPN2
        self.run_until_idle()
        self.ping("responder", IP2, NAT, seq + 1)  # the server writes IP2 -> IPN1
        self.run_until_idle()
        self.run(self.now + 0.1)
        assert [s for _, s in self.replies[before:]] == [seq, seq + 1] and self.outside == 0


def nat_lab(**kw: Any) -> TransportLab:
    lab = TransportLab(*configs(**kw), seed=5, nat=NAT)
    lab.initiate()
    lab.run_until_idle()
    return lab


def created(lab: Lab, side: str) -> list[ev.ChildSaCreated]:
    return [e for e in lab.events(side, ev.ChildSaCreated) if isinstance(e, ev.ChildSaCreated)]


def test_first_child_sa_holds_each_sides_addresses_and_carries_echoes() -> None:
    lab = nat_lab()
    assert lab.initiator.nat_local and lab.responder.nat_remote
    assert not lab.events("initiator", ev.Failure) and not lab.events("responder", ev.Failure)
    (client,), (server,) = created(lab, "initiator"), created(lab, "responder")
    assert (client.ts_local, client.ts_remote) == ((f"{IP1}/32",), (f"{IP2}/32",))  # IP1 <-> IPN2
    assert (server.ts_local, server.ts_remote) == ((f"{IP2}/32",), (f"{NAT}/32",))  # IP2 <-> IPN1
    for event in (client, server):
        assert event.mode == "transport" and event.udp_encap and event.exchange == "IKE_AUTH"
    # each side keeps the selectors as they were written (2.23.1): the client's, the ones it was offered
    (child,) = lab.children("initiator")
    assert [[str(t) for t in ts] for ts in child.extra["original_ts"]] == [[f"{IP1}/32"], [f"{IP2}/32"]]
    (child,) = lab.children("responder")
    assert [[str(t) for t in ts] for ts in child.extra["original_ts"]] == [[f"{IP1}/32"], [f"{IP2}/32"]]
    lab.echo_both_ways(1)
    esp = [p for p in lab.trace if p.kind == "esp"]
    assert len(esp) == 4 and all(p.udp and 4500 in (p.sport, p.dport) for p in esp)
    assert {(p.src, p.dst) for p in esp} == {(NAT, IP2), (IP2, NAT)}  # on the wire: beyond the NAT


@pytest.mark.parametrize("side", SIDES)
def test_rekeyed_child_sa_keeps_the_substituted_selectors(side: str) -> None:
    """RFC 7296 2.8 and 2.23.1: the rekey offers the CHILD SA's own selectors, from whichever side; the exchange's
    responder substitutes (the client substitutes TSr when the server asks), the initiator substitutes back."""
    lab = nat_lab()
    lab.rekey_child(side)
    lab.run_until_idle()
    assert not lab.events("initiator", ev.Failure) and not lab.events("responder", ev.Failure)
    assert len(lab.events("initiator", ev.ChildSaRekeyed)) == len(lab.events("responder", ev.ChildSaRekeyed)) == 1
    assert created(lab, "initiator")[-1].ts_local == (f"{IP1}/32",)
    assert created(lab, "initiator")[-1].ts_remote == (f"{IP2}/32",)
    assert (created(lab, "responder")[-1].ts_local, created(lab, "responder")[-1].ts_remote) == (
        (f"{IP2}/32",), (f"{NAT}/32",))
    lab.run(lab.now + 1.0)  # past the linger of the old outbound SAs
    lab.echo_both_ways(10)


def test_new_child_sa_asked_for_by_the_server() -> None:
    """The server (behind no NAT) asks for a CHILD SA: TSi = IP2, TSr = IPN1.  The client, responding and behind
    the NAT, puts its own address IP1 in TSr (2.23.1), and the server, reading the answer, puts IPN1 back."""
    lab = nat_lab()
    lab.create_child("responder")
    lab.run_until_idle()
    assert not lab.events("initiator", ev.Failure) and not lab.events("responder", ev.Failure)
    client, server = created(lab, "initiator")[-1], created(lab, "responder")[-1]
    assert client.exchange == server.exchange == "CREATE_CHILD_SA" and not client.exchange_initiator
    assert (client.ts_local, client.ts_remote) == ((f"{IP1}/32",), (f"{IP2}/32",))
    assert (server.ts_local, server.ts_remote) == ((f"{IP2}/32",), (f"{NAT}/32",))
    assert client.mode == server.mode == "transport"
    lab.delete_child("initiator", lab.children("initiator")[0])  # the first one goes: the new one carries echoes
    lab.run_until_idle()
    lab.echo_both_ways(20)


def test_an_asserted_third_party_address_becomes_the_observed_one() -> None:
    """A client behind the NAT whose TSi names someone else's address: the server, whose policy takes any
    address, installs the address it sees, IPN1 (a NAT is no way to claim another host's traffic).  The client,
    having offered another address than its own, cannot take the answer and deletes it (2.21.3)."""
    lab = nat_lab(client_ts=(f"{THIRD_PARTY}/32",), server_remote_ts=("0.0.0.0/0",))
    (server,) = created(lab, "responder")
    assert server.ts_remote == (f"{NAT}/32",) and server.mode == "transport"
    assert all(THIRD_PARTY not in e.ts_remote for e in created(lab, "responder"))
    assert [f.notify for f in lab.events("initiator", ev.Failure)] == ["TS_UNACCEPTABLE"]
    assert not lab.children("responder") and len(lab.events("responder", ev.ChildSaDeleted)) == 1


@pytest.mark.parametrize("asserted,policy", [
    (f"{THIRD_PARTY}/32", (f"{THIRD_PARTY}/32",)),  # the policy names the asserted host only
    ("198.51.100.7/32", ("198.51.100.0/24",)),  # the policy allows a network the observed IPN1 is not in
    (f"{IP1}/32", (f"{IP1}/32",)),  # the policy names the client's private address (tests/test_lab.py)
], ids=["names-it", "network", "private"])
def test_a_policy_without_the_observed_address_falls_back_to_tunnel_mode(asserted: str,
                                                                        policy: tuple[str, ...]) -> None:
    """The substituted TSi (IPN1) is outside the server's policy, the offer as written is inside it.  RFC 7296
    2.23.1: undo the substitution and look the policy up again for tunnel mode.  The server must never install a
    transport-mode SA for IPN1 on the strength of the address the client wrote (and of NAT detection, which the
    client computes itself): every selector it installs lies inside its policy, and the mode is tunnel."""
    lab = nat_lab(client_ts=(asserted,), server_remote_ts=policy)
    (server,) = created(lab, "responder")
    assert all(any(ip_network(t).subnet_of(ip_network(p)) for p in policy) for t in server.ts_remote)
    assert server.ts_remote == (asserted,) and server.mode == "tunnel"
    (client,) = created(lab, "initiator")  # the client asked for transport mode and takes tunnel mode (1.3.1)
    assert client.mode == "tunnel" and client.ts_local == (asserted,)
    assert not lab.events("initiator", ev.Failure) and not lab.events("responder", ev.Failure)


def test_selectors_not_host_to_host_fall_back_to_tunnel_mode_unsubstituted() -> None:
    """Both ask for transport mode, but the narrowed TSr is a range, which transport mode cannot carry (RFC 4301
    4.1): the server falls back to tunnel mode, and 2.23.1 has it undo the substitution first.  A tunnel-mode
    answer with IPN1 in TSi would be wider than the client's offer (IP1), and the CHILD SA would be lost."""
    common: dict[str, Any] = dict(psk=b"transport nat key", ike_proposals=("aes128-sha256-modp2048",),
                                  esp_proposals=("aes128-sha256",), cookie_threshold=None, mode="transport")
    client = IkeConfig(local_id="moon.example", remote_id="sun.example", local_ts=(f"{IP1}/32",),
                       remote_ts=("192.0.2.0/24",), **common)
    server = IkeConfig(local_id="sun.example", remote_id="moon.example", local_ts=("192.0.2.0/24",),
                       remote_ts=("0.0.0.0/0",), **common)
    lab = TransportLab(client, server, seed=5, nat=NAT)
    lab.initiate()
    lab.run_until_idle()
    assert not lab.events("initiator", ev.Failure) and not lab.events("responder", ev.Failure)
    (c,), (s,) = created(lab, "initiator"), created(lab, "responder")
    assert c.mode == s.mode == "tunnel"
    assert (s.ts_local, s.ts_remote) == (("192.0.2.0/24",), (f"{IP1}/32",)) == (c.ts_remote, c.ts_local)
    assert "original_ts" not in lab.children("responder")[0].extra


def test_a_range_narrowed_to_a_private_host_is_not_transport_mode() -> None:
    """The client offers a range as TSi (not substituted: it names no host), and the server's policy narrows it to
    one private host.  That host is not where the client's packets come from (IPN1), so transport mode cannot
    carry it: the server falls back to tunnel mode (2.23.1, RFC 4301 4.1) instead of installing a transport-mode
    SA for 10.9.0.5, which the client (putting IP1 back in TSi) would refuse as wider than its offer."""
    common: dict[str, Any] = dict(psk=b"transport nat key", ike_proposals=("aes128-sha256-modp2048",),
                                  esp_proposals=("aes128-sha256",), cookie_threshold=None, mode="transport")
    client = IkeConfig(local_id="moon.example", remote_id="sun.example", local_ts=("10.9.0.0/24",), **common)
    server = IkeConfig(local_id="sun.example", remote_id="moon.example", remote_ts=("10.9.0.5/32",), **common)
    lab = Lab(client, server, seed=5, nat=NAT)
    lab.initiate()
    lab.run_until_idle()
    assert not lab.events("initiator", ev.Failure) and not lab.events("responder", ev.Failure)
    (c,), (s,) = created(lab, "initiator"), created(lab, "responder")
    assert c.mode == s.mode == "tunnel" and s.ts_remote == c.ts_local == ("10.9.0.5/32",)


def test_transport_mode_refused_by_the_server_substitutes_nothing() -> None:
    """A server that wants tunnel mode does not substitute (2.23.1 is for transport mode): the client's private
    address is then its inner address, which the server's dynamic policy (the observed one) refuses."""
    client, _ = configs()
    server = IkeConfig(local_id="sun.example", remote_id="moon.example", psk=b"transport nat key",
                       ike_proposals=("aes128-sha256-modp2048",), esp_proposals=("aes128-sha256",),
                       cookie_threshold=None, mode="tunnel")
    lab = Lab(client, server, seed=5, nat=NAT)
    lab.initiate()
    lab.run_until_idle()
    assert [f.notify for f in lab.events("responder", ev.Failure)] == ["TS_UNACCEPTABLE"]


def _digest(lab: Lab) -> str:
    h = hashlib.sha256()
    for p in lab.trace:
        h.update(repr((p.time, p.src, p.dst, p.sport, p.dport, p.kind)).encode() + bytes(p.payload))
    for side in SIDES:
        for e in lab.events(side):
            h.update(repr(e).encode())
    return h.hexdigest()


#: (mode, NAT, encapsulation) -> the digest of the trace and the events, with the code before 2.23.1
BEFORE = {
    ("tunnel", NAT, "auto"): "0f18378bc830fd837becf4e36dbb3bb2a75189dfcbbdb0e605a2eb007d06e30e",
    ("transport", None, "auto"): "9fada3af1a4c4c24897e1049a4dce5b9cb9ad48f3d3c01f3927b93b30fb2cd7f",
    ("transport", None, "always"): "01eb64951006268748f35448e9dcbc1945203a267ffb7744491b266c169421e2",
}


@pytest.mark.parametrize("mode,nat,encapsulation", list(BEFORE))
def test_tunnel_mode_and_no_nat_are_unchanged(monkeypatch: pytest.MonkeyPatch, mode: str, nat: str | None,
                                              encapsulation: str) -> None:
    """Tunnel mode behind the NAT and transport mode without one: the same packets and events as before, byte for
    byte, through IKE_AUTH, a CHILD SA rekey and a CHILD SA asked for by the responder.  With encapsulation
    "always" the responder believes its peer behind a NAT (a forced source hash) and substitutes the address it
    already has: the same selectors, the same tuple."""
    calls: list[str] = []
    real = transport_nat.substitute_address

    def spy(selectors: tuple[Any, ...], address: str) -> tuple[Any, ...]:
        calls.append(address)
        out = real(selectors, address)
        assert out is selectors
        return out

    monkeypatch.setattr(transport_nat, "substitute_address", spy)
    common = dict(psk=b"transport nat key", ike_proposals=("aes128-sha256-modp2048",),
                  esp_proposals=("aes128-sha256",), cookie_threshold=None, mode=mode, encapsulation=encapsulation)
    a_ts, b_ts = (("10.1.0.0/16",), ("10.2.0.0/16",)) if mode == "tunnel" else ((), ())
    a = IkeConfig(local_id="moon.example", remote_id="sun.example", local_ts=a_ts, remote_ts=b_ts, **common)
    b = IkeConfig(local_id="sun.example", remote_id="moon.example", local_ts=b_ts, remote_ts=a_ts, **common)
    lab = Lab(a, b, seed=3, nat=nat)
    lab.initiate()
    lab.run_until_idle()
    lab.rekey_child("initiator")
    lab.run_until_idle()
    lab.create_child("responder")
    lab.run_until_idle()
    assert _digest(lab) == BEFORE[(mode, nat, encapsulation)]
    assert len(created(lab, "initiator")) == 3
    assert (calls == []) == (encapsulation == "auto")


def test_substitute_address() -> None:
    """Host selectors get the address with their ports and protocols, equal results are kept once; a wider range
    and the other family stay; a bad address is a ConfigError; nothing to change gives the same tuple."""
    given = tuple(ts_from_string(t) for t in ("10.0.0.1[udp/500]", "10.0.0.2[udp/500]", "10.0.0.1[tcp/80]",
                                              "2001:db8::1", "10.9.0.0/16"))
    out = substitute_address(given, NAT)
    assert [str(t) for t in out] == [f"{NAT}/32[17/500]", f"{NAT}/32[6/80]", "2001:db8::1/128", "10.9.0.0/16"]
    assert out[0].start_addr == out[0].end_addr == ip_address(NAT)
    for same in ((ts_from_string(NAT),), (ts_from_string("10.9.0.0/16"),)):
        assert substitute_address(same, NAT) is same
    with pytest.raises(ConfigError):
        substitute_address(given, "not an address")
    with pytest.raises(ConfigError):
        substitute_address(("10.0.0.1",), NAT)  # type: ignore[arg-type]


@pytest.mark.tshark
@pytest.mark.parametrize("encapsulation", ["auto", "always"])
def test_tshark_reads_transport_mode_through_the_nat(tmp_path: Any, encapsulation: str) -> None:
    """tests/test_review_tshark_diff.py's frame-by-frame comparison with tshark, for transport mode behind the
    NAT (which it does not draw): every IKE and ESP frame decrypts, and the echoes sit right after ESP between
    the addresses on the wire, beyond the NAT.  IPv4 only: an ICMPv6 checksum covers the addresses the NAT
    changes (RFC 3948 3.1.2's fixup is not implemented)."""
    from tshark_util import require_tshark

    from test_review_tshark_diff import NAT as DIFF_NAT, check, run_scenario

    require_tshark()
    s = dict(ike="aes128-sha256-modp2048", esp="aes128gcm16", pfs="ECP_256", ipv6=False, encapsulation=encapsulation,
             mode="transport", nat=True, delete_ike="responder",
             actions=[("initiator", "ping"), ("responder", "rekey_child"), ("responder", "create_child"),
                      ("responder", "ping")])
    lab = run_scenario(s)
    assert len(lab.replies) >= 3
    nat, server = DIFF_NAT[4], lab.addresses["responder"]
    lab.ends = lambda side: (nat, server) if side == "initiator" else (server, nat)  # type: ignore[method-assign]
    check(lab, s, tmp_path)
