"""ikelab against strongSwan's charon, in both roles where both make sense.

Addresses and traffic selectors: IPv6, narrowing, TS_UNACCEPTABLE, a
second CHILD SA (RFC 7296 2.9, RFC 4301 5).

The set-up they share (charon, the handshake and its checks) is in ``interop/scenarios.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from interop.ikelab_peer import charon_initiates, check_keys_against_charon, connect, read_keys
from interop.scenarios import ROLES, charon_to_ikelab, refused_handshake, run_handshake, setup_charon

pytestmark = [pytest.mark.strongswan, pytest.mark.usefixtures("tshark_env")]


@pytest.mark.parametrize("role", ROLES)
def test_ipv6(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    _, out = run_handshake(netns_pair, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                           esp="aes128-sha256", v6=True)
    assert "2001:db8::1" in out and "2001:db8::2" in out


@pytest.mark.parametrize("role", ROLES)
def test_traffic_selector_narrowed(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """ikelab asks for /24s; charon's configuration only allows the /32s, so the responder narrows (RFC 7296 2.9)."""
    net = netns_pair
    me, peer = (net.a, net.b) if role == "ikelab-initiator" else (net.b, net.a)
    if role == "ikelab-initiator":
        _, out = run_handshake(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                               esp="aes128-sha256", ikelab_ts=("198.51.100.0/24", "203.0.113.0/24"))
        assert f"{me.inner}/32 === {peer.inner}/32" in out, out
    else:  # charon initiates with /24s, ikelab (configured with /32s) narrows
        _, out = run_handshake(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                               esp="aes128-sha256", local_ts="198.51.100.0/24", remote_ts="203.0.113.0/24")
        assert f"{me.inner}/32 === {peer.inner}/32" in out, out


@pytest.mark.parametrize("role", ROLES)
def test_several_selectors_narrowed_to_the_common_one(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """charon's TSi and TSr each carry two selectors, of which one per side meets ikelab's /32s: the CHILD SA
    gets just those (RFC 7296 2.9), whoever narrows."""
    net = netns_pair
    me, peer = (net.a, net.b) if role == "ikelab-initiator" else (net.b, net.a)
    _, out = run_handshake(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                           esp="aes128-sha256", local_ts=f"10.9.9.0/24,{peer.inner}/32",
                           remote_ts=f"{me.inner}/32,10.8.8.0/24")
    assert f"{me.inner}/32 === {peer.inner}/32, UDP-encapsulated" in out, out


@pytest.mark.parametrize("role", ROLES)
def test_traffic_selectors_unacceptable(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """Selectors with nothing in common: the responder answers IKE_AUTH with TS_UNACCEPTABLE and keeps the
    IKE SA (RFC 7296 2.9, 2.21.3); ikelab reports it (exit status 5) and DELETEs the IKE SA it cannot use."""
    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048", esp="aes128-sha256")
    # charon's selectors are the inner /32s (setup_charon); ikelab's are other addresses of the same networks
    mine = ("198.51.100.77/32", "203.0.113.77/32") if role == "ikelab-initiator" else ("203.0.113.77/32",
                                                                                       "198.51.100.77/32")
    out, status = refused_handshake(net, charon, tmp_path, role, extra_ts=mine)
    assert status == 5, out
    assert "IKE SA up, but no CHILD SA: TS_UNACCEPTABLE" in out, out
    assert "sending DELETE for the IKE SA" in out, out
    if role == "ikelab-initiator":
        charon.wait_for_log("traffic selectors 203.0.113.77/32 === 198.51.100.77/32 unacceptable")
    else:
        charon.wait_for_log("received TS_UNACCEPTABLE notify, no CHILD_SA built")
    charon.wait_for_log("received DELETE for IKE_SA lab[1]")
    charon.wait_for_sa(lambda sas: not sas, timeout=5)


@pytest.mark.parametrize("role", ROLES)
def test_icmp_only_selectors(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """Selectors for ICMP only (IP protocol 1, RFC 7296 3.13.1) on both sides: the pings cross the CHILD SA."""
    net = netns_pair
    me, peer = (net.a, net.b) if role == "ikelab-initiator" else (net.b, net.a)  # ikelab's side, charon's
    _, out = run_handshake(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                           esp="aes128-sha256", ikelab_ts=(f"{me.inner}/32[icmp]", f"{peer.inner}/32[icmp]"),
                           local_ts=f"{peer.inner}/32[icmp]", remote_ts=f"{me.inner}/32[icmp]")
    assert f"{me.inner}/32[icmp] === {peer.inner}/32[icmp]" in out, out


@pytest.mark.parametrize("role", ROLES)
def test_icmp_type_selectors_read_as_strongswan_reads_them(netns_pair, charon_factory, tmp_path: Path,
                                                           role: str) -> None:
    """[icmp/8] is Type 8 (echo request) in the high octet of the port, 0x0800 (RFC 7296 3.13.1), for charon
    and for ikelab: the same text on both sides makes a CHILD SA, whoever proposes it.  (Read as port 8,
    ikelab's offer met nothing in charon's policy: TS_UNACCEPTABLE.)"""
    net = netns_pair
    me, peer = (net.a, net.b) if role == "ikelab-initiator" else (net.b, net.a)  # ikelab's side, charon's
    _, out = run_handshake(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                           esp="aes128-sha256", ikelab_ts=(f"{me.inner}/32[icmp/8]", f"{peer.inner}/32[icmp/8-9]"),
                           local_ts=f"{peer.inner}/32[icmp/8-9]", remote_ts=f"{me.inner}/32[icmp/8]",
                           pings=False)  # the echo replies (Type 0) are outside these selectors
    assert f"{me.inner}/32[icmp/2048] === {peer.inner}/32[icmp/2048-2304]" in out, out


def test_ipv6_inside_the_tunnel(netns_pair, charon_factory, tmp_path: Path) -> None:
    """IPv6 traffic selectors and ICMPv6 echoes inside ESP (next header 41), over IPv4 outer addresses.

    ikelab pings (its ICMPv6 checksum covers the IPv6 pseudo-header, RFC 4443 2.3); charon's kernel answers.
    """
    from interop.netns import IP

    net = netns_pair
    inner6 = {net.a: "2001:db8:a::1", net.b: "2001:db8:b::1"}
    for ns, addr in inner6.items():
        ns.run(IP, "-6", "addr", "add", f"{addr}/128", "dev", "lo")
    charon = setup_charon(net, charon_factory, tmp_path, "ikelab-initiator", proposals="aes128-sha256-modp2048",
                          esp="aes128-sha256", local_ts=f"{inner6[net.b]}/128", remote_ts=f"{inner6[net.a]}/128")
    result = connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=[
        "--proposal", "aes128-sha256-modp2048", "--esp-proposal", "aes128-sha256",
        "--ts", f"{inner6[net.a]}/128", f"{inner6[net.b]}/128", "--ping", inner6[net.b], "--quiet"])
    out = result.stdout + result.stderr
    assert result.returncode == 0, out + charon.diagnostics()
    assert f"{inner6[net.a]}/128 === {inner6[net.b]}/128" in out, out
    assert f"ping {inner6[net.a]} -> {inner6[net.b]} through ESP (first CHILD SA): 3 sent, 3 replies" in out, out
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), charon.keys()) == 1


def test_second_child_sa_from_charon(netns_pair, charon_factory, tmp_path: Path) -> None:
    """charon adds a second CHILD SA, for TCP port 80 only, with CREATE_CHILD_SA (RFC 7296 1.3.1).

    ikelab's policy covers all traffic between the inner addresses, so it
    accepts the narrower selectors as they are (2.9).  Its SPD must then still
    send the ICMP echo replies over the first CHILD SA, not the TCP-only one.
    """
    net = netns_pair
    web = {"local_ts": f"{net.a.inner}/32[tcp]", "remote_ts": f"{net.b.inner}/32[tcp/80]",
           "esp_proposals": "aes128-sha256", "start_action": "none"}
    charon, proc = charon_to_ikelab(net, charon_factory, tmp_path, extra={"children": {"web": web}})

    def second_child() -> None:
        charon.initiate(child="web")
        sa = charon.wait_for_sa(lambda sas: sas and len(sas[0].get("child-sas", {})) == 2)[0]
        children = {c["name"]: c for c in sa["child-sas"].values()}
        assert children["web"]["state"] == "INSTALLED", children
        assert children["web"]["remote-ts"] == [f"{net.b.inner}/32[tcp/http]"], children
        proc.wait_for_output(f"{net.b.inner}/32[tcp/80] === {net.a.inner}/32[tcp]", timeout=5)
        assert net.a.ping(net.b.inner, src=net.a.inner, count=3) == 3  # ICMP still over the first CHILD SA

    out = charon_initiates(charon, proc, net.a, net.b, then=second_child)
    assert out.count("CHILD SA installed") == 2, out
    assert "CREATE_CHILD_SA MID=02 Initiator Request" in out, out
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), charon.keys()) == 2


POOL = "198.51.100.64/28"  # inner addresses for a road-warrior client, next to namespace A's own


@pytest.mark.parametrize("role", ROLES)
def test_virtual_ip_from_a_pool(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """A road warrior and its gateway (RFC 7296 2.19): the client asks for its inner address in IKE_AUTH
    (CP(CFG_REQUEST), TSi any), the gateway leases the first of its pool, answers CP(CFG_REPLY) and
    narrows TSi to it, and pings from that address cross the CHILD SA both ways.  ikelab is the client
    (``--vip``) against charon's ``pools``, then the gateway (``--pool``) for charon's ``vips = 0.0.0.0,::``,
    which asks for an address of each family and gets the IPv4 one."""
    from interop.charon import render_conf
    from interop.ikelab_peer import respond, until_charon_terminates

    net = netns_pair
    extra = ["--proposal", "aes128-sha256-modp2048", "--esp-proposal", "aes128-sha256"]
    if role == "ikelab-initiator":
        charon = setup_charon(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                              esp="aes128-sha256", remote_ts="dynamic", extra={"pools": "rw"})
        charon.set_swanctl_conf(charon.swanctl_conf + render_conf({"pools": {"rw": {"addrs": POOL}}}) + "\n")
        result = connect(net.a, net.b.addr4, tmp_path / "ikelab",
                         extra=[*extra, "--vip", "0.0.0.0", "--ts", "dynamic", f"{net.b.inner}/32",
                                "--ping", net.b.inner, "--quiet"])
        out = result.stdout + result.stderr
        assert result.returncode == 0, out + charon.diagnostics()
        assert "virtual IP 198.51.100.65 (CP payload, RFC 7296 2.19)" in out, out
        assert f"198.51.100.65/32 === {net.b.inner}/32" in out, out
        assert f"ping 198.51.100.65 -> {net.b.inner} through ESP (first CHILD SA): 3 sent, 3 replies" in out, out
        charon.wait_for_log("assigning virtual IP 198.51.100.65 to peer 'alice@example.org'")
    else:
        # charon asks for an address of each family; ikelab's pool has IPv4 only, and TSi keeps only that one
        charon = setup_charon(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                              esp="aes128-sha256", local_ts="dynamic", extra={"vips": "0.0.0.0,::"})
        proc = respond(net.b, tmp_path / "ikelab",
                       extra=[*extra, "--pool", POOL, "--ts", f"{net.b.inner}/32", "dynamic", "--quiet"])

        def up_and_ping() -> None:
            charon.initiate(child="net")
            (sa,) = charon.wait_for_sa(lambda sas: sas and sas[0].get("child-sas"), timeout=10)
            assert sa.get("local-vips") == ["198.51.100.65"], sa
            assert net.a.ping(net.b.inner, src="198.51.100.65", count=3) == 3

        out = until_charon_terminates(charon, proc, up_and_ping)
        charon.wait_for_log("parsed IKE_AUTH response 1 [ IDr AUTH CPRP(ADDR) SA TSi TSr ]")
        assert "virtual IP 198.51.100.65" in out and f"{net.b.inner}/32 === 198.51.100.65/32" in out, out
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), charon.keys()) >= 1


POOL6 = "2001:db8:64::/120"  # the IPv6 pool beside POOL (RFC 3849 documentation addresses)
INNER6_B = "2001:db8:b::1"  # namespace B's inner IPv6 address, beside its IPv4 one
VIPS = ("198.51.100.65", "2001:db8:64::1")  # the first address of each pool


@pytest.mark.parametrize("role", ROLES)
def test_virtual_ips_of_both_families(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """A dual-stack road warrior (RFC 7296 2.19, 3.15.1): one CP(CFG_REQUEST) asks for an IPv4 and an IPv6
    address, TSi any of each family; the gateway leases one from each of its two pools, answers both in
    CP(CFG_REPLY) and narrows TSi to them; pings from each address cross the one CHILD SA.  ikelab is the
    client (``--vip 0.0.0.0 --vip ::``) against charon's ``pools = rw4,rw6``, then the gateway (``--pool``
    twice) for charon's ``vips = 0.0.0.0,::``."""
    from interop.charon import render_conf
    from interop.ikelab_peer import respond, until_charon_terminates

    net = netns_pair
    extra = ["--proposal", "aes128-sha256-modp2048", "--esp-proposal", "aes128-sha256"]
    inner_b = f"{net.b.inner}/32,{INNER6_B}/128"  # B's side of the CHILD SA: both families
    if role == "ikelab-initiator":
        from interop.netns import IP

        net.b.run(IP, "-6", "addr", "add", f"{INNER6_B}/128", "dev", "lo")  # charon's kernel answers there
        charon = setup_charon(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                              esp="aes128-sha256", local_ts=inner_b, remote_ts="dynamic",
                              extra={"pools": "rw4,rw6"})
        pools = {"rw4": {"addrs": POOL}, "rw6": {"addrs": POOL6}}
        charon.set_swanctl_conf(charon.swanctl_conf + render_conf({"pools": pools}) + "\n")
        seen = 0
        # ikelab pings one address per run: the IPv4 one, then (same identity, same pair again) the IPv6 one
        for n, (src, dst) in enumerate(zip(VIPS, (net.b.inner, INNER6_B))):
            result = connect(net.a, net.b.addr4, tmp_path / f"ikelab{n}",
                             extra=[*extra, "--vip", "0.0.0.0", "--vip", "::", "--ts", "dynamic", inner_b,
                                    "--ping", dst, "--quiet"])
            out = result.stdout + result.stderr
            assert result.returncode == 0, out + charon.diagnostics()
            for vip in VIPS:
                assert f"virtual IP {vip} (CP payload, RFC 7296 2.19)" in out, out
            assert f"{VIPS[0]}/32, {VIPS[1]}/128 === {net.b.inner}/32, {INNER6_B}/128" in out, out
            assert f"ping {src} -> {dst} through ESP (first CHILD SA): 3 sent, 3 replies" in out, out
            # one CP(CFG_REQUEST) with an attribute per family, and each run gets the same two addresses
            lines = ["parsed IKE_AUTH request 1 [ IDi N(INIT_CONTACT) AUTH CPRQ(ADDR ADDR6) SA TSi TSr ]",
                     *(f"assigning virtual IP {vip} to peer 'alice@example.org'" for vip in VIPS)]
            charon.wait_for_log(lambda text, runs=n + 1: all(text.count(line) == runs for line in lines))
            keys = charon.keys()
            assert check_keys_against_charon(read_keys(tmp_path / f"ikelab{n}"), keys[seen:]) == 1
            seen = len(keys)
    else:
        charon = setup_charon(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                              esp="aes128-sha256", local_ts="dynamic", remote_ts=inner_b,
                              extra={"vips": "0.0.0.0,::"})
        proc = respond(net.b, tmp_path / "ikelab", extra=[*extra, "--pool", POOL, "--pool", POOL6,
                                                          "--ts", inner_b, "dynamic", "--quiet"])

        def up_and_ping() -> None:
            charon.initiate(child="net")
            (sa,) = charon.wait_for_sa(lambda sas: sas and sas[0].get("child-sas"), timeout=10)
            assert sa.get("local-vips") == list(VIPS), sa
            assert net.a.ping(net.b.inner, src=VIPS[0], count=3) == 3
            assert net.a.ping(INNER6_B, src=VIPS[1], count=3) == 3

        out = until_charon_terminates(charon, proc, up_and_ping)
        charon.wait_for_log("parsed IKE_AUTH response 1 [ IDr AUTH CPRP(ADDR ADDR6) SA TSi TSr ]")
        for vip in VIPS:
            assert f"virtual IP {vip} (CP payload, RFC 7296 2.19)" in out, out
        assert f"{net.b.inner}/32, {INNER6_B}/128 === {VIPS[0]}/32, {VIPS[1]}/128" in out, out
        assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), charon.keys()) >= 1
