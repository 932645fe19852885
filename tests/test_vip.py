"""Virtual IPs (RFC 7296 2.19, 3.15): a client asks for its inner address in IKE_AUTH, the gateway leases one.

Independent checks: the CP payloads are read off the wire with the receiver's
keys (an empty INTERNAL_IP4_ADDRESS asks, the reply's four octets assign), the
TSi the client proposes covers any address and the one the gateway answers is
exactly the leased address (2.9 narrowing), and the CHILD SAs of later
exchanges keep it.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_ike import configs

from ikelab import events as ev
from ikelab.config import IkeConfig
from ikelab.constants import CfgAttribute, CfgType, NotifyType
from ikelab.endpoint import IkeEndpoint
from ikelab.errors import ConfigError
from ikelab.lab import Lab
from ikelab.message import decode
from ikelab.payloads import CP, TSi
from ikelab.state import State
from ikelab.vip import VirtualIpPool, assigned, reply, request, requested


def _lab(vip: str | None = "0.0.0.0", pool: str | None = "10.3.0.0/24", seed: int = 1, **kw: object) -> Lab:
    lab = Lab(*configs(i={"vip": vip}, r={"pool": pool}), seed=seed, **kw)
    lab.initiate()
    lab.run_until_idle()
    return lab


def _ike_auth(lab: Lab) -> tuple:
    """IKE_AUTH requests and responses, decrypted with the receivers' keys (of the endpoints the lab holds now)."""
    out = []
    for pkt in lab.trace:
        msg = decode(pkt.ike_message)
        if msg.exchange.name == "IKE_AUTH":
            side = "responder" if msg.is_initiator else "initiator"
            for receiver in [sa for sa in lab.sas(side) if (sa.spi_i, sa.spi_r) == (msg.spi_i, msg.spi_r)]:
                out.append(decode(pkt.ike_message, crypto=receiver._crypto(sending=False)))
    return tuple(out)


def _range(selector) -> tuple[str, str]:
    return str(selector.start_addr), str(selector.end_addr)


def test_the_client_asks_and_the_gateway_leases_and_narrows() -> None:
    lab = _lab()
    request_msg, response_msg = _ike_auth(lab)
    asked = request_msg.find(CP)
    assert asked.cfg_type == CfgType.CFG_REQUEST and asked.attributes == ((CfgAttribute.INTERNAL_IP4_ADDRESS, b""),)
    assert [_range(t) for t in request_msg.find(TSi).selectors] == [("0.0.0.0", "255.255.255.255")]
    given = response_msg.find(CP)
    assert given.cfg_type == CfgType.CFG_REPLY
    assert given.values(CfgAttribute.INTERNAL_IP4_ADDRESS) == [ipaddress.ip_address("10.3.0.1").packed]
    assert [_range(t) for t in response_msg.find(TSi).selectors] == [("10.3.0.1", "10.3.0.1")]
    for side in ("initiator", "responder"):
        assert [e.address for e in lab.events(side, ev.VirtualIpAssigned)] == ["10.3.0.1"]
    (mine,) = lab.initiator.children.values()
    (theirs,) = lab.responder.children.values()
    assert [_range(t) for t in mine.ts_local] == [("10.3.0.1", "10.3.0.1")]
    assert mine.ts_local == theirs.ts_remote and mine.ts_remote == theirs.ts_local
    # a later CHILD SA and a rekeyed IKE SA keep the inner address (RFC 7296 2.18: nothing is asked again)
    lab.rekey_ike()
    lab.run_until_idle()
    lab.create_child("responder")
    lab.run_until_idle()
    assert lab.initiator.virtual_ip == "10.3.0.1" and lab.responder.peer_virtual_ip == "10.3.0.1"
    assert len(lab.initiator.children) == 2
    assert all([_range(t) for t in c.ts_local] == [("10.3.0.1", "10.3.0.1")] for c in lab.initiator.children.values())


def test_addresses_follow_identities_and_holders() -> None:
    """A client back after a crash (INITIAL_CONTACT) gets its address again; another identity the next; a
    second client with the same identity, while the first still holds its address, another one."""
    from dataclasses import replace

    ci, cr = configs(i={"vip": "0.0.0.0"}, r={"pool": "10.3.0.0/24", "remote_id": "%any"})
    lab = Lab(ci, cr, seed=2)
    lab.initiate()
    lab.run_until_idle()
    first = lab.responder
    for name, seed, contact, expected in (("moon.example", "again", True, "10.3.0.1"),
                                          ("venus.example", "venus", False, "10.3.0.2"),
                                          ("moon.example", "twin", False, "10.3.0.3")):
        config = replace(ci, local_id=name, initial_contact=contact)
        lab.endpoints["initiator"] = IkeEndpoint(config, lab.rng.fork(seed), lab.addresses["initiator"])
        lab.initiate()
        lab.run_until_idle()
        assert lab.initiator.virtual_ip == expected, name
    assert first.state == State.CLOSED  # the crashed client's IKE SA, replaced (RFC 7296 2.4)
    pool = lab.endpoints["responder"].pool
    assert sorted(pool.holders) == ["10.3.0.1", "10.3.0.2", "10.3.0.3"]


def test_an_address_is_free_again_when_its_ike_sa_ends_but_not_when_it_is_rekeyed() -> None:
    from dataclasses import replace

    ci, cr = configs(i={"vip": "0.0.0.0"}, r={"pool": "10.3.0.0/30", "remote_id": "%any"})  # two addresses
    lab = Lab(ci, cr, seed=6)
    lab.initiate()
    lab.run_until_idle()
    pool = lab.endpoints["responder"].pool
    lab.rekey_ike("responder")
    lab.run_until_idle()
    assert pool.holders["10.3.0.1"][1] is lab.responder  # the new IKE SA took it over (RFC 7296 2.18)
    lab.delete_ike("initiator")
    lab.run_until_idle()
    assert pool.holders == {}
    got = []
    for n in range(2):  # two other clients fill the pool: the first reuses nobody's address, then moon's
        lab.endpoints["initiator"] = IkeEndpoint(replace(ci, local_id=f"client{n}.example"), lab.rng.fork(str(n)),
                                                 lab.addresses["initiator"])
        lab.initiate()
        lab.run_until_idle()
        got.append(lab.initiator.virtual_ip)
    assert got == ["10.3.0.2", "10.3.0.1"]


def test_a_wished_address_is_given_when_free() -> None:
    lab = _lab(vip="10.3.0.77")
    (request_msg, _) = _ike_auth(lab)
    assert requested(request_msg.find(CP)) == [(4, "10.3.0.77")]
    assert lab.initiator.virtual_ip == "10.3.0.77"


def test_an_exhausted_pool_answers_internal_address_failure_and_keeps_the_ike_sa() -> None:
    ci, cr = configs(i={"vip": "0.0.0.0"}, r={"pool": "10.3.0.0/30", "remote_id": "%any"})  # two addresses
    lab = Lab(ci, cr, seed=3)
    from dataclasses import replace

    for n in range(3):
        lab.endpoints["initiator"] = IkeEndpoint(replace(ci, local_id=f"client{n}.example"), lab.rng.fork(str(n)),
                                                 lab.addresses["initiator"])
        lab.initiate()
        lab.run_until_idle()
    third = lab.initiator
    assert third.established and third.virtual_ip is None and not third.children  # 3.15.4: the IKE SA stands
    _, response_msg = _ike_auth(lab)[-2:]
    assert [n.notify_type for n in response_msg.payloads[0].inner if hasattr(n, "notify_type")] == \
        [NotifyType.INTERNAL_ADDRESS_FAILURE]
    refused = [f for f in lab.events("responder", ev.Failure) if f.notify == "INTERNAL_ADDRESS_FAILURE"]
    assert len(refused) == 1 and "no address left" in refused[0].reason and not refused[0].fatal
    assert any(f.notify == "INTERNAL_ADDRESS_FAILURE" for f in lab.events("initiator", ev.Failure))


def test_without_a_pool_the_request_is_ignored_and_the_outer_address_is_used() -> None:
    lab = _lab(pool=None)
    _, response_msg = _ike_auth(lab)
    assert response_msg.find(CP) is None and lab.initiator.virtual_ip is None
    (child,) = lab.initiator.children.values()
    assert [_range(t) for t in child.ts_local] == [("192.0.2.1", "192.0.2.1")]  # TSi narrowed to 'dynamic'


def test_ipv6_inner_addresses() -> None:
    lab = _lab(vip="::", pool="2001:db8:3::/120", ipv6=True)
    request_msg, response_msg = _ike_auth(lab)
    assert request_msg.find(CP).attributes == ((CfgAttribute.INTERNAL_IP6_ADDRESS, b""),)
    value = response_msg.find(CP).values(CfgAttribute.INTERNAL_IP6_ADDRESS)[0]
    assert len(value) == 17 and value[16] == 128  # address | prefix length (RFC 7296 3.15.1)
    assert lab.initiator.virtual_ip == "2001:db8:3::1"


def test_a_family_the_pool_does_not_have_is_refused() -> None:
    lab = _lab(vip="::", pool="10.3.0.0/24")
    assert lab.initiator.established and not lab.initiator.children
    assert any("asks for an IPv6 address" in f.reason for f in lab.events("responder", ev.Failure))


def test_pool_and_cp_helpers() -> None:
    a, b, c = object(), object(), object()
    pool = VirtualIpPool("10.3.0.0/30")
    assert [pool.lease(i, None, h) for i, h in (("a", a), ("b", b), ("c", c))] == ["10.3.0.1", "10.3.0.2", None]
    assert pool.lease("a", None, c) is None  # a's address is held (by a)
    assert pool.lease("a", None, c, reclaim=True) == "10.3.0.1" and pool.holders["10.3.0.1"] == ("a", c)
    pool.release("10.3.0.1", a)  # a no longer holds it: nothing happens
    assert pool.holders["10.3.0.1"] == ("a", c)
    assert pool.lease("b", None, a, reclaim=True) == "10.3.0.2"  # b's own address, from b's stale IKE SA

    fresh = VirtualIpPool("10.3.0.0/29")
    assert fresh.lease("x", "10.3.0.0", a) == "10.3.0.1"  # the network address is no host: the first free instead
    assert fresh.lease("y", "10.3.0.1", b) == "10.3.0.2"  # taken
    assert fresh.lease("z", "192.0.2.9", c) == "10.3.0.3"  # outside the pool
    v6 = VirtualIpPool("2001:db8:3::/120")
    assert v6.lease("x", "2001:db8:3::", a) == "2001:db8:3::1"  # the Subnet-Router anycast address (RFC 4291)
    assert assigned(reply("10.3.0.9")) == "10.3.0.9" and assigned(request("0.0.0.0")) is None
    assert assigned(reply("10.3.0.9"), 6) is None  # an IPv4 address for an IPv6 request assigns nothing
    assert assigned(CP(CfgType.CFG_REPLY, ((CfgAttribute.INTERNAL_IP4_ADDRESS, bytes(5)),))) is None
    assert requested(request("::")) == [(6, None)]
    assert requested(CP(CfgType.CFG_REQUEST, ((CfgAttribute.INTERNAL_IP4_ADDRESS, bytes([10, 3, 0, 9, 1])),))) \
        == [(4, None)]  # a value of the wrong length asks for any address
    # an unspecified address asks for any address too, as an empty value does
    unspecified = CP(CfgType.CFG_REQUEST, ((CfgAttribute.INTERNAL_IP4_ADDRESS, bytes(4)),
                                           (CfgAttribute.INTERNAL_IP6_ADDRESS, bytes(16) + bytes([0]))))
    assert requested(unspecified) == [(4, None), (6, None)]
    # only a CFG_REPLY assigns: a request naming the address it wishes assigns nothing (RFC 7296 3.15)
    wish = CP(CfgType.CFG_REQUEST, ((CfgAttribute.INTERNAL_IP4_ADDRESS, bytes([10, 3, 0, 9])),))
    assert requested(wish) == [(4, "10.3.0.9")] and assigned(wish) is None


NETWORKS = ["10.3.0.0/29", "10.3.0.0/31", "10.3.0.9/32", "2001:db8:3::/125", "2001:db8:3::/127", "2001:db8:3::9/128"]


@pytest.mark.parametrize("network", NETWORKS)
def test_a_wish_is_granted_exactly_when_the_pool_hands_that_address_out(network: str) -> None:
    """A wished address is given when ipaddress's ``hosts()`` of the pool yields it (RFC 3021 /31 and
    RFC 6164 /127 links have no network or broadcast address to leave out; an IPv6 subnet's first address is
    its Subnet-Router anycast address, RFC 4291 2.6.1); any other wish gets the pool's first address."""
    net = ipaddress.ip_network(network)
    hosts = [str(h) for h in net.hosts()]
    outside = [net.network_address - 1, net.broadcast_address + 1]
    for wish in [str(a) for a in (*net, *outside)] + ["192.0.2.9", "2001:db8:9::1"]:
        expected = wish if wish in hosts else hosts[0]
        assert VirtualIpPool(network).lease("x", wish, object()) == expected, wish


def test_an_identity_keeps_its_last_address_when_another_takes_one_it_had_before() -> None:
    """a held .1, then (a second IKE SA at once) .2: a's last address is .2.  b asks for .1, which a had
    before; a must still get .2 back, the address it had last (strongSwan's pools do the same)."""
    pool, h1, h2 = VirtualIpPool("10.3.0.0/29"), object(), object()
    assert pool.lease("a", None, h1) == "10.3.0.1" and pool.lease("a", None, h2) == "10.3.0.2"
    pool.release("10.3.0.1", h1)
    pool.release("10.3.0.2", h2)
    assert pool.lease("b", "10.3.0.1", object()) == "10.3.0.1"
    assert pool.lease("a", None, object()) == "10.3.0.2"


def test_a_hand_over_by_an_ike_sa_that_no_longer_holds_the_address_changes_nothing() -> None:
    """An address released by one IKE SA and leased to another: a late rekey of the first (RFC 7296 2.18)
    must not move the address to the first one's successor, nor keep it from being released."""
    pool, old, new, other = VirtualIpPool("10.3.0.0/29"), object(), object(), object()
    address = pool.lease("a", None, old)
    pool.release(address, old)
    assert pool.lease("b", address, other) == address
    pool.hand_over(address, old, new)
    assert pool.holders[address] == ("b", other)
    pool.release(address, other)
    assert address not in pool.holders


@pytest.mark.parametrize("kw, field", [
    ({"vip": "any"}, "vip"),
    ({"pool": "10.3.0.0/33"}, "pool"),
    ({"pool": "ten.three"}, "pool"),
])
def test_vip_settings_are_checked(kw: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        IkeConfig(psk=b"k", **kw)
    assert info.value.field == field


def test_describe_mentions_virtual_ips_only_when_set() -> None:
    assert "virtual IP 0.0.0.0 asked for" in str(IkeConfig(psk=b"k", vip="0.0.0.0"))
    assert "virtual IPs from 10.3.0.0/24" in str(IkeConfig(psk=b"k", pool="10.3.0.0/24"))
    assert "virtual" not in str(IkeConfig(psk=b"k"))


_ATTRIBUTES = st.lists(st.tuples(st.sampled_from([1, 2, 3, 8, 13, 0x7FFF]), st.binary(max_size=20)), max_size=5)


@settings(max_examples=40, deadline=None)
@given(cfg_type=st.sampled_from([1, 2, 3, 4, 200]), attributes=_ATTRIBUTES)
def test_any_cp_in_ike_auth_is_answered_cleanly(cfg_type: int, attributes: list) -> None:
    """Whatever the CP says (type, attributes, lengths), the gateway answers IKE_AUTH: an address from its
    pool in CFG_REPLY when the CP is a CFG_REQUEST for an IPv4 address, INTERNAL_ADDRESS_FAILURE when it asks
    only for IPv6, nothing otherwise; the IKE SA is established in every case."""
    import ikelab.vip as vip_module

    odd = CP(cfg_type, tuple(attributes))
    with pytest.MonkeyPatch.context() as patch:  # the initiator sends this CP instead of its own request
        patch.setattr(vip_module, "request", lambda vip: odd)
        lab = _lab(seed=7)
    assert lab.initiator.established and lab.responder.established
    asked = {family for family, _ in requested(odd)} if cfg_type == CfgType.CFG_REQUEST else set()
    leased = lab.responder.peer_virtual_ip
    if 4 in asked:
        assert leased is not None and ipaddress.ip_address(leased) in ipaddress.ip_network("10.3.0.0/24")
        assert lab.initiator.virtual_ip == leased and len(lab.initiator.children) == 1
    else:
        assert leased is None and lab.initiator.virtual_ip is None
        assert len(lab.initiator.children) == (0 if asked else 1)  # IPv6 only: INTERNAL_ADDRESS_FAILURE


def test_initial_contact_never_takes_an_address_another_identity_holds() -> None:
    """x leaves, z gets x's old address, x comes back saying INITIAL_CONTACT: x must not get it back while z
    holds it (only an IKE SA of x itself gives it up); the pool (/30) is full, so x gets none."""
    from dataclasses import replace

    ci, cr = configs(i={"vip": "0.0.0.0"}, r={"pool": "10.3.0.0/30", "remote_id": "%any"})
    lab = Lab(ci, cr, seed=1)

    def connect(name: str, seed: str, contact: bool = False) -> str | None:
        lab.endpoints["initiator"] = IkeEndpoint(replace(ci, local_id=name, initial_contact=contact),
                                                 lab.rng.fork(seed), lab.addresses["initiator"])
        lab.initiate()
        lab.run_until_idle()
        return lab.initiator.virtual_ip

    assert connect("x.example", "x") == "10.3.0.1"
    x = lab.responder
    assert connect("y.example", "y") == "10.3.0.2"
    x.delete_ike(lab.now)
    lab.run_until_idle()
    assert connect("z.example", "z") == "10.3.0.1"
    assert connect("x.example", "x again", contact=True) is None
    live = sorted((bytes(sa.remote_identity.data), sa.peer_virtual_ip) for sa in lab.sas("responder")
                  if sa.state == State.ESTABLISHED)
    assert live == [(b"x.example", None), (b"y.example", "10.3.0.2"), (b"z.example", "10.3.0.1")]


def test_what_a_pool_remembers_stays_within_its_size() -> None:
    pool = VirtualIpPool("10.3.0.0/30")
    for n in range(1000):  # short sessions of ever new identities
        holder = object()
        address = pool.lease(f"client{n}", None, holder)
        pool.release(address, holder)
    assert len(pool.leases) <= 2 and len(pool.last_user) <= 2 and not pool.holders


def test_a_childless_client_refused_an_address_builds_no_child_sa() -> None:
    ci, cr = configs(i={"vip": "0.0.0.0", "childless": True}, r={"pool": "10.3.0.0/24", "childless": True})
    lab = Lab(ci, replace_pool(cr, "2001:db8:3::/120"), seed=3)  # an IPv6 pool for an IPv4 request
    lab.initiate()
    lab.run_until_idle()
    assert lab.initiator.established and not lab.initiator.children and not lab.responder.children
    assert any(f.notify == "INTERNAL_ADDRESS_FAILURE" for f in lab.events("initiator", ev.Failure))


def replace_pool(config: IkeConfig, pool: str) -> IkeConfig:
    from dataclasses import replace

    return replace(config, pool=pool)


def test_colliding_rekeys_whose_new_ike_sa_is_deleted_free_the_address() -> None:
    """Both peers rekey the IKE SA at once (RFC 7296 2.8.2) and the gateway deletes the new IKE SA the client
    made before the old one is handed over: the CHILD SA goes with it (reported), and the address is free
    again, where it was once left held by a closed IKE SA for good."""
    from ikelab.lab import Network

    ci, cr = configs(i={"vip": "0.0.0.0"}, r={"pool": "10.3.0.0/30", "remote_id": "%any"})
    lab = Lab(ci, cr, seed=18)
    lab.initiate()
    lab.run_until_idle()
    lab.network = Network(schedule=("ok", "late", "ok", "late"))  # the gateway's rekey request arrives late
    lab._packets = 0
    lab.rekey_ike("initiator")
    lab.rekey_ike("responder")
    lab.run(lab.now + 0.03)
    lab.delete_ike("responder")
    lab.run(lab.now + 600)
    lab.run_until_idle()
    pool = lab.endpoints["responder"].pool
    assert all(holder.state != State.CLOSED for _, holder in pool.holders.values())
    created = {e.spi_in for e in lab.events("responder", ev.ChildSaCreated)}
    deleted = {e.spi_in for e in lab.events("responder", ev.ChildSaDeleted)}
    live = {spi for sa in lab.sas("responder") if sa.state != State.CLOSED for spi in sa.children}
    assert created == deleted | live  # every CHILD SA is either still there or reported gone


# ---------------------------------------------------------------- both address families at once (RFC 7296 2.19, 3.15)

DUAL_POOLS = ("10.3.0.0/24", "2001:db8:3::/120")


def _dual(vip: object = ("0.0.0.0", "::"), pool: object = DUAL_POOLS, seed: int = 1, **r: object) -> Lab:
    return _lab(vip=vip, pool=pool, seed=seed, **r)


def _connect_as(lab: Lab, config: IkeConfig, name: str, seed: str, contact: bool = False) -> object:
    """A new client endpoint with identity ``name`` connects to the lab's gateway; its IKE SA."""
    from dataclasses import replace

    lab.endpoints["initiator"] = IkeEndpoint(replace(config, local_id=name, initial_contact=contact),
                                             lab.rng.fork(seed), lab.addresses["initiator"])
    lab.initiate()
    lab.run_until_idle()
    return lab.initiator


@pytest.mark.parametrize("vip, stored", [
    (("0.0.0.0", "::"), ("0.0.0.0", "::")),
    (["::", "10.3.0.77"], ("::", "10.3.0.77")),  # the order given is kept: the first is IkeSa.virtual_ip
    ("0.0.0.0, ::", ("0.0.0.0", "::")),  # strongSwan's vips = 0.0.0.0,::
    (("0.0.0.0,::",), ("0.0.0.0", "::")),  # what --vip 0.0.0.0,:: hands over
    (["::"], "::"),  # one address is stored as a string, as before
])
def test_vip_of_each_family_is_normalised(vip: object, stored: object) -> None:
    assert IkeConfig(psk=b"k", vip=vip).vip == stored


@pytest.mark.parametrize("pool, stored", [
    (DUAL_POOLS, DUAL_POOLS),
    (["2001:db8:3::/120", "10.3.0.5/24"], ("2001:db8:3::/120", "10.3.0.0/24")),
    ("10.3.0.0/24,2001:db8:3::/120", DUAL_POOLS),
    (("10.3.0.0/24",), "10.3.0.0/24"),
])
def test_pool_of_each_family_is_normalised(pool: object, stored: object) -> None:
    assert IkeConfig(psk=b"k", pool=pool).pool == stored


@pytest.mark.parametrize("kw, field, words", [
    ({"vip": ("0.0.0.0", "10.3.0.9")}, "vip", "both IPv4"),
    ({"vip": ("::", "0.0.0.0", "::1")}, "vip", "both IPv6"),
    ({"vip": ()}, "vip", "empty"),
    ({"vip": []}, "vip", "empty"),
    ({"vip": ("0.0.0.0", "any")}, "vip", "not 'any'"),  # the bad item itself is named
    ({"vip": ("0.0.0.0", 7)}, "vip", "not 7"),
    ({"pool": ("10.3.0.0/24", "10.4.0.0/24")}, "pool", "both IPv4"),
    ({"pool": ()}, "pool", "empty"),
    ({"pool": ("10.3.0.0/24", "2001:db8:3::/129")}, "pool", "not '2001:db8:3::/129'"),
])
def test_vip_and_pool_of_each_family_are_checked(kw: dict, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        IkeConfig(psk=b"k", **kw)
    assert info.value.field == field and words in str(info.value)


def test_describe_names_every_family() -> None:
    assert "virtual IPs 0.0.0.0, :: asked for" in str(IkeConfig(psk=b"k", vip=("0.0.0.0", "::")))
    assert "virtual IPs from 10.3.0.0/24, 2001:db8:3::/120" in str(IkeConfig(psk=b"k", pool=DUAL_POOLS))


def test_cp_with_an_attribute_per_family_on_the_wire() -> None:
    """RFC 7296 3.15 / 3.15.1, octet by octet: CFG Type (1) | RESERVED (3), then per attribute R | Attribute
    Type (15 bits) | Length (2) | Value; INTERNAL_IP4_ADDRESS (1) is 0 or 4 octets, INTERNAL_IP6_ADDRESS (8)
    0 or 17 (the address and a prefix length, 128 for one address)."""
    from ikelab.payloads import encode_chain
    from ikelab.vip import assigned_each

    header = bytes([0, 0])  # generic payload header: next payload none, not critical
    asked = request(("0.0.0.0", "::"))
    assert encode_chain([asked])[1] == header + bytes.fromhex("0010" "01000000" "00010000" "00080000")
    wished = request(("10.3.0.77", "2001:db8:3::77"))
    assert encode_chain([wished])[1] == header + bytes.fromhex(
        "0025" "01000000" "00010004" "0a03004d" "00080011" "20010db8000300000000000000000077" "80")
    given = reply("10.3.0.1", "2001:db8:3::1")
    assert encode_chain([given])[1] == header + bytes.fromhex(
        "0025" "02000000" "00010004" "0a030001" "00080011" "20010db8000300000000000000000001" "80")
    assert requested(asked) == [(4, None), (6, None)]
    assert requested(wished) == [(4, "10.3.0.77"), (6, "2001:db8:3::77")]
    assert assigned_each(given, (4, 6)) == ("10.3.0.1", "2001:db8:3::1")
    assert assigned_each(given, (6, 4)) == ("2001:db8:3::1", "10.3.0.1")  # in the order asked
    assert assigned_each(given, (6,)) == ("2001:db8:3::1",)  # an address of a family not asked is not taken
    assert assigned_each(reply("10.3.0.1"), (4, 6)) == ("10.3.0.1",)  # fewer than asked (3.15.4)
    assert assigned_each(asked, (4, 6)) == ()  # a CFG_REQUEST assigns nothing


def test_a_dual_stack_client_and_gateway_agree_on_both_addresses() -> None:
    lab = _dual()
    request_msg, response_msg = _ike_auth(lab)
    assert request_msg.find(CP).attributes == ((CfgAttribute.INTERNAL_IP4_ADDRESS, b""),
                                               (CfgAttribute.INTERNAL_IP6_ADDRESS, b""))
    assert [_range(t) for t in request_msg.find(TSi).selectors] == [
        ("0.0.0.0", "255.255.255.255"), ("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]  # any of each family
    given = response_msg.find(CP)
    assert given.cfg_type == CfgType.CFG_REPLY
    assert given.values(CfgAttribute.INTERNAL_IP4_ADDRESS) == [ipaddress.ip_address("10.3.0.1").packed]
    assert given.values(CfgAttribute.INTERNAL_IP6_ADDRESS) == [ipaddress.ip_address("2001:db8:3::1").packed + b"\x80"]
    both = [("10.3.0.1", "10.3.0.1"), ("2001:db8:3::1", "2001:db8:3::1")]
    assert [_range(t) for t in response_msg.find(TSi).selectors] == both  # narrowed to the two leased (2.9)
    assert lab.initiator.virtual_ips == lab.responder.peer_virtual_ips == ("10.3.0.1", "2001:db8:3::1")
    assert lab.initiator.virtual_ip == lab.responder.peer_virtual_ip == "10.3.0.1"  # the first, as before
    for side in ("initiator", "responder"):
        assert [e.address for e in lab.events(side, ev.VirtualIpAssigned)] == ["10.3.0.1", "2001:db8:3::1"]
        assert not lab.events(side, ev.Failure)
    (mine,) = lab.initiator.children.values()
    (theirs,) = lab.responder.children.values()
    assert [_range(t) for t in mine.ts_local] == both
    assert mine.ts_local == theirs.ts_remote and mine.ts_remote == theirs.ts_local
    # a later CHILD SA, from either side, carries both addresses too
    lab.create_child("initiator")
    lab.run_until_idle()
    lab.create_child("responder")
    lab.run_until_idle()
    assert len(lab.initiator.children) == 3
    assert all([_range(t) for t in c.ts_local] == both for c in lab.initiator.children.values())
    pools = lab.endpoints["responder"].pools
    assert [str(p.network) for p in pools] == list(DUAL_POOLS) and lab.endpoints["responder"].pool is pools[0]
    assert [sorted(p.holders) for p in pools] == [["10.3.0.1"], ["2001:db8:3::1"]]


def test_a_gateway_with_an_ipv4_pool_only_grants_ipv4_without_failure() -> None:
    lab = _dual(pool="10.3.0.0/24")
    _, response_msg = _ike_auth(lab)
    given = response_msg.find(CP)
    assert given.values(CfgAttribute.INTERNAL_IP4_ADDRESS) == [ipaddress.ip_address("10.3.0.1").packed]
    assert given.values(CfgAttribute.INTERNAL_IP6_ADDRESS) == []
    assert [_range(t) for t in response_msg.find(TSi).selectors] == [("10.3.0.1", "10.3.0.1")]
    assert lab.initiator.virtual_ips == lab.responder.peer_virtual_ips == ("10.3.0.1",)
    (child,) = lab.initiator.children.values()  # the CHILD SA has the granted family only (3.15.4)
    assert [_range(t) for t in child.ts_local] == [("10.3.0.1", "10.3.0.1")]
    for side in ("initiator", "responder"):
        assert not lab.events(side, ev.Failure)
        assert [e.address for e in lab.events(side, ev.VirtualIpAssigned)] == ["10.3.0.1"]


def test_a_client_asking_for_ipv6_only_gets_ipv6_from_a_dual_stack_gateway() -> None:
    lab = _dual(vip="::")
    request_msg, response_msg = _ike_auth(lab)
    assert request_msg.find(CP).attributes == ((CfgAttribute.INTERNAL_IP6_ADDRESS, b""),)
    assert response_msg.find(CP).values(CfgAttribute.INTERNAL_IP4_ADDRESS) == []
    assert lab.initiator.virtual_ips == lab.responder.peer_virtual_ips == ("2001:db8:3::1",)
    (child,) = lab.initiator.children.values()
    assert [_range(t) for t in child.ts_local] == [("2001:db8:3::1", "2001:db8:3::1")]
    assert [sorted(p.holders) for p in lab.endpoints["responder"].pools] == [[], ["2001:db8:3::1"]]


def test_one_family_exhausted_the_other_is_still_given_and_both_exhausted_fail() -> None:
    """An IPv4 pool of two addresses: the third client gets its IPv6 address only, no INTERNAL_ADDRESS_FAILURE;
    with the IPv6 pool (two addresses of a /127) exhausted too, the third client gets none: then, and only
    then, INTERNAL_ADDRESS_FAILURE and no CHILD SA (RFC 7296 3.15.4)."""
    for v6_pool, third in (("2001:db8:3::/120", ("2001:db8:3::3",)), ("2001:db8:3::/127", ())):
        ci, cr = configs(i={"vip": ("0.0.0.0", "::")},
                         r={"pool": ("10.3.0.0/30", v6_pool), "remote_id": "%any"})
        lab = Lab(ci, cr, seed=3)
        got = [_connect_as(lab, ci, f"client{n}.example", str(n)).virtual_ips for n in range(3)]
        assert got[:2] == [("10.3.0.1", got[0][1]), ("10.3.0.2", got[1][1])], v6_pool
        assert got[2] == third, v6_pool
        refused = [f for f in lab.events("responder", ev.Failure) if f.notify == "INTERNAL_ADDRESS_FAILURE"]
        last = lab.initiator
        assert last.established
        if third:
            assert not refused and len(last.children) == 1
            (child,) = last.children.values()
            assert [_range(t) for t in child.ts_local] == [(third[0], third[0])]
        else:
            assert len(refused) == 1 and not last.children and not refused[0].fatal
            assert "pool 10.3.0.0/30 has no address left; pool 2001:db8:3::/127 has no address left" \
                in refused[0].reason


def test_both_addresses_are_handed_over_on_rekey_and_released_on_delete() -> None:
    ci, cr = configs(i={"vip": ("0.0.0.0", "::")}, r={"pool": DUAL_POOLS, "remote_id": "%any"})
    lab = Lab(ci, cr, seed=6)
    lab.initiate()
    lab.run_until_idle()
    pools = lab.endpoints["responder"].pools
    old = lab.responder
    lab.rekey_ike("responder")
    lab.run_until_idle()
    assert lab.responder is not old and old.state == State.CLOSED
    assert lab.responder.peer_virtual_ips == lab.initiator.virtual_ips == ("10.3.0.1", "2001:db8:3::1")
    for pool, address in zip(pools, ("10.3.0.1", "2001:db8:3::1")):  # the new IKE SA took both over (2.18)
        assert list(pool.holders) == [address] and pool.holders[address][1] is lab.responder
    lab.rekey_ike("initiator")
    lab.run_until_idle()
    assert all(pool.holders[a][1] is lab.responder for pool, a in zip(pools, ("10.3.0.1", "2001:db8:3::1")))
    lab.delete_ike("initiator")
    lab.run_until_idle()
    assert [pool.holders for pool in pools] == [{}, {}]


def test_the_same_identity_gets_the_same_pair_again() -> None:
    ci, cr = configs(i={"vip": ("0.0.0.0", "::")}, r={"pool": DUAL_POOLS, "remote_id": "%any"})
    lab = Lab(ci, cr, seed=2)
    moon = _connect_as(lab, ci, "moon.example", "moon")
    assert moon.virtual_ips == ("10.3.0.1", "2001:db8:3::1")
    moon.delete_ike(lab.now)
    lab.run_until_idle()
    assert _connect_as(lab, ci, "venus.example", "venus").virtual_ips == ("10.3.0.2", "2001:db8:3::2")
    assert _connect_as(lab, ci, "moon.example", "moon again").virtual_ips == ("10.3.0.1", "2001:db8:3::1")
    # asking for one family now, moon still gets its own address of it
    assert _connect_as(lab, replace_vip(ci, "::"), "moon.example", "moon v6", contact=True).virtual_ips == \
        ("2001:db8:3::1",)


@pytest.mark.parametrize("wishes", [(b"", b""), (bytes([10, 3, 0, 77]), b""), (b"", bytes([10, 3, 0, 77]))])
def test_two_ipv4_attributes_in_a_request_lease_one_ipv4_address(wishes: tuple) -> None:
    """A CFG_REQUEST with two INTERNAL_IP4_ADDRESS attributes: the gateway serves one address per family
    (the first attribute of it) and answers one; RFC 7296 3.15.1 lets it send fewer than asked.  The
    pool holds that one address only, and the client, TSi and CHILD SA all carry it."""
    import ikelab.vip as vip_module

    twice = CP(CfgType.CFG_REQUEST, tuple((CfgAttribute.INTERNAL_IP4_ADDRESS, w) for w in wishes))
    with pytest.MonkeyPatch.context() as patch:  # the initiator sends this CP instead of its own request
        patch.setattr(vip_module, "request", lambda vip: twice)
        lab = _lab()
    expected = "10.3.0.77" if wishes[0] else "10.3.0.1"
    _, response_msg = _ike_auth(lab)
    given = response_msg.find(CP)
    assert given.values(CfgAttribute.INTERNAL_IP4_ADDRESS) == [ipaddress.ip_address(expected).packed]
    assert [_range(t) for t in response_msg.find(TSi).selectors] == [(expected, expected)]
    assert lab.responder.peer_virtual_ips == lab.initiator.virtual_ips == (expected,)
    (pool,) = lab.endpoints["responder"].pools
    assert list(pool.holders) == [expected]
    for side in ("initiator", "responder"):
        assert [e.address for e in lab.events(side, ev.VirtualIpAssigned)] == [expected]
    (child,) = lab.initiator.children.values()
    assert [_range(t) for t in child.ts_local] == [(expected, expected)]


def replace_vip(config: IkeConfig, vip: object) -> IkeConfig:
    from dataclasses import replace

    return replace(config, vip=vip)


def test_the_command_line_takes_a_vip_and_a_pool_per_family() -> None:
    """--vip and --pool repeat, or take a comma-separated list, as --proposal does."""
    from ikelab.cli import _live_config, build_parser

    auth = ["--psk-file", __file__]
    parser = build_parser()
    connect = ["connect", "192.0.2.2", "--id", "alice@example.org", *auth]
    respond = ["respond", "--listen", "192.0.2.2", "--id", "gw.example.com", *auth]
    for vips in (["--vip", "0.0.0.0", "--vip", "::"], ["--vip", "0.0.0.0,::"]):
        assert _live_config(parser.parse_args([*connect, *vips])).vip == ("0.0.0.0", "::")
    assert _live_config(parser.parse_args([*connect, "--vip", "0.0.0.0"])).vip == "0.0.0.0"
    for pools in (["--pool", DUAL_POOLS[0], "--pool", DUAL_POOLS[1]], ["--pool", ",".join(DUAL_POOLS)]):
        assert _live_config(parser.parse_args([*respond, *pools])).pool == DUAL_POOLS
    with pytest.raises(ConfigError) as info:
        _live_config(parser.parse_args([*connect, "--vip", "0.0.0.0", "--vip", "10.3.0.9"]))
    assert info.value.field == "vip"


def test_the_default_ping_source_is_the_virtual_ip_of_the_pinged_family() -> None:
    from ikelab.peer import RunOptions, _Run

    from test_net import free_port

    lab = _dual()
    run = _Run(lab.initiator.config, "127.0.0.1", free_port(), RunOptions(), out=lambda text: None)
    run.driver.events.extend(lab.events("initiator"))
    assert run._default_ping_src("203.0.113.1") == "10.3.0.1"
    assert run._default_ping_src("2001:db8:b::1") == "2001:db8:3::1"
    assert run._default_ping_src() == "10.3.0.1"


def _not_assigned(lab: Lab, side: str) -> list[tuple[int, str]]:
    return [(e.family, e.reason) for e in lab.events(side, ev.VirtualIpNotAssigned)]


def test_a_family_left_out_is_reported_on_both_sides() -> None:
    """A dual-stack client, a gateway with an IPv4 pool only: the client goes on with IPv4 (RFC 7296 3.15.4), and
    both sides say that IPv6 was asked and not given, and why."""
    lab = _dual(pool="10.3.0.0/24")
    (gateway,) = _not_assigned(lab, "responder")
    assert gateway == (6, "the peer asks for an IPv6 address; pool 10.3.0.0/24 has none")
    (client,) = _not_assigned(lab, "initiator")
    assert client[0] == 6 and "CP(CFG_REPLY) holds no address of this family" in client[1]
    assert [e.address for e in lab.events("initiator", ev.VirtualIpAssigned)] == ["10.3.0.1"]
    assert not lab.events("initiator", ev.Failure) and not lab.events("responder", ev.Failure)


def test_every_family_given_reports_none_missing() -> None:
    lab = _dual()
    assert lab.initiator.virtual_ips == ("10.3.0.1", "2001:db8:3::1")
    assert _not_assigned(lab, "initiator") == _not_assigned(lab, "responder") == []


def test_a_gateway_without_a_pool_leaves_the_client_a_reason() -> None:
    lab = _lab(pool=None)
    assert lab.initiator.virtual_ips == ()
    (client,) = _not_assigned(lab, "initiator")
    assert client[0] == 4 and "carries no CP(CFG_REPLY)" in client[1]
    assert _not_assigned(lab, "responder") == []  # a gateway without pools serves no virtual IPs at all


def test_internal_address_failure_names_each_family_on_both_sides() -> None:
    ci, cr = configs(i={"vip": ("0.0.0.0", "::")}, r={"pool": ("10.3.0.0/30", "2001:db8:3::/127"), "remote_id": "%any"})
    lab = Lab(ci, cr, seed=3)
    for n in range(3):
        _connect_as(lab, ci, f"client{n}.example", str(n))
    third = lab.initiator
    assert third.virtual_ips == () and not third.children
    client = [(e.family, e.reason) for e in lab.events("initiator", ev.VirtualIpNotAssigned)]
    assert [family for family, _ in client] == [4, 6]
    assert all("answered INTERNAL_ADDRESS_FAILURE" in reason for _, reason in client)
    assert _not_assigned(lab, "responder") == [(4, "pool 10.3.0.0/30 has no address left"),
                                                (6, "pool 2001:db8:3::/127 has no address left")]


def test_the_command_line_log_says_which_family_is_missing() -> None:
    from ikelab.peer import _describe

    event = ev.VirtualIpNotAssigned(1.0, "initiator", 6, "the peer asks for an IPv6 address; pool 10.3.0.0/24 has none")
    assert _describe(event) == "no IPv6 virtual IP: the peer asks for an IPv6 address; pool 10.3.0.0/24 has none"
