"""``ikelab respond`` as a classroom gateway: several strongSwan clients at once, each asking for a virtual IP.

Every other interop test has one peer per ikelab process.  Here the teacher's gateway, ``ikelab respond --listen
192.0.2.1 --pool 10.3.0.0/24 --ts 203.0.113.1/32 dynamic``, serves charon clients in namespaces of their own, on a
star that the test builds (documentation addresses, RFC 5737; the pool and the gateway's inner address as in
the other tests)::

    client c1 192.0.2.11 --+
    client c2 192.0.2.12 --+-- br0 192.0.2.1  gateway (ikelab respond), lo 203.0.113.1
    client c3 192.0.2.13 --+       |
                                   +-- 192.0.2.20  NAT router (masquerade) --+-- n1 198.51.100.130
                                                                              +-- n2 198.51.100.131

Each client has its own identity (``studentN@example.org``, PSK) and asks with ``vips = 0.0.0.0``.  Checked
against each charon's log (keys), ``swanctl --list-sas`` and tshark (a capture on the gateway's bridge, and the
gateway's own ``--pcap`` decrypted with its ``--keys``):

1. every client gets its own IKE SA and CHILD SA, with the keys its charon logged, and its own virtual IP from
   the pool (RFC 7296 2.19);
2. ESP for every client at once: pings from each client's virtual IP to the gateway's inner address come back,
   and every ESP packet on the bridge carries an SPI of the CHILD SAs of the client it comes from or goes to;
3. one client deleting its IKE SA, another crashing and coming back with N(INITIAL_CONTACT) (RFC 7296 2.4: only
   its own stale IKE SA goes), a third rekeying its CHILD SA and IKE SA (2.8, 2.18): the others' SAs and pings
   go on, and the gateway runs on until the last IKE SA is deleted, then exits 0;
4. two clients behind one NAT, one public address: both come up, each one's IKE and ESP in UDP 4500 go to and
   from its own mapped port (RFC 3948, RFC 7296 2.23), never the other's;  Ctrl-C then sends DELETE to both;
5. the gateway's ``--keys`` tables hold every client's SAs, and tshark decrypts all of its ``--pcap``.

Found (offline regressions in ``tests/test_review_gateway.py``): at Ctrl-C or ``--duration`` the gateway sent
DELETE for the newest IKE SA only, leaving every other client with SAs the gateway had forgotten; and its
userspace ESP kept each CHILD SA's destination by the outbound SPI, which each client chooses (RFC 4301 4.1), so
two clients that picked the same SPI had one's ESP sent to the other, and one's DELETE took the other's
outbound SA.  What a gateway run did well already: it ends when the last IKE SA is gone (not at the first
DELETE), its half-open lookup includes the source port, and INITIAL_CONTACT closes only the IKE SAs of that
identity.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import pytest

from interop.capture import Capture, read_fields
from interop.charon import Charon
from interop.ikelab_peer import check_keys_against_charon, read_keys, respond, tshark_decrypts
from interop.netns import IP, Namespace, NetnsPair, _counter, masquerade
from interop.swanctl import psk_conf

pytestmark = [pytest.mark.strongswan, pytest.mark.usefixtures("tshark_env", "nft_env")]

SUITE, ESP = "aes128-sha256-modp2048", "aes128-sha256"
GATEWAY, GW_INNER, GW_ID = "192.0.2.1", "203.0.113.1", "gw.example.com"
POOL = "10.3.0.0/24"
DIRECT = ("192.0.2.11", "192.0.2.12", "192.0.2.13")
NAT_PUBLIC, NAT_PRIVATE_GW = "192.0.2.20", "198.51.100.129"
BEHIND = ("198.51.100.130", "198.51.100.131")


class Classroom(NetnsPair):
    """The star above: ``gw`` (a bridge), ``clients`` on it, and with ``nat`` a router ``r`` with ``natted``
    clients behind it.  Names as NetnsPair's (``ikl<pid>n<k>[abr]``), so that a stale run's are cleaned up."""

    def __init__(self, *, direct: int, nat: bool) -> None:
        super().__init__()
        pid = os.getpid()

        def ns(suffix: str, veth: str, addr: str) -> Namespace:
            return Namespace(f"ikl{pid}n{next(_counter)}{suffix}", veth, addr, "", "")

        self.gw = Namespace(self.a.name, "br0", GATEWAY, "", GW_INNER)
        self.clients = [ns("a", "veth-c", addr) for addr in DIRECT[:direct]]
        self.r = ns("r", "veth-rb", NAT_PUBLIC) if nat else None
        self.natted = [ns("a", "veth-c", addr) for addr in BEHIND] if nat else []

    @property
    def namespaces(self) -> tuple[Namespace, ...]:  # type: ignore[override]
        return (self.gw, *self.clients, *([self.r] if self.r else []), *self.natted)

    def _plug(self, hub: Namespace, bridge: str, port: str, ns: Namespace, addr: str, via: str | None) -> None:
        hub.run(IP, "link", "add", port, "type", "veth", "peer", "name", ns.veth, "netns", ns.name)
        hub.run(IP, "link", "set", port, "master", bridge, "up")
        ns.run(IP, "addr", "add", addr, "dev", ns.veth)
        ns.run(IP, "link", "set", ns.veth, "up")
        if via:
            ns.run(IP, "route", "add", "default", "via", via)

    def create(self) -> "Classroom":
        try:
            self._add_namespaces()
            gw = self.gw
            gw.run(IP, "link", "add", "br0", "type", "bridge")
            gw.run(IP, "addr", "add", f"{GATEWAY}/24", "dev", "br0")
            gw.run(IP, "link", "set", "br0", "up")
            gw.run(IP, "addr", "add", f"{GW_INNER}/32", "dev", "lo")
            for n, c in enumerate(self.clients):
                self._plug(gw, "br0", f"gw-c{n}", c, f"{c.addr4}/24", None)
            if self.r is not None:
                self._plug(gw, "br0", "gw-r", self.r, f"{NAT_PUBLIC}/24", None)
                self.r.run(IP, "link", "add", "brp", "type", "bridge")
                self.r.run(IP, "addr", "add", f"{NAT_PRIVATE_GW}/25", "dev", "brp")
                self.r.run(IP, "link", "set", "brp", "up")
                for n, c in enumerate(self.natted):
                    self._plug(self.r, "brp", f"r-n{n}", c, f"{c.addr4}/25", NAT_PRIVATE_GW)
                self.r.run("sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
                masquerade(self.r, "veth-rb")
        except BaseException:
            self.close()
            raise
        return self


@pytest.fixture
def classroom_factory(interop_env: None, tmp_path: Path) -> Iterator[Any]:
    made: list[Classroom] = []
    charons: list[Charon] = []

    def make(**kwargs: Any) -> tuple[Classroom, Any]:
        room = Classroom(**kwargs).create()
        made.append(room)

        def charon(ns: Namespace, name: str, identity: str) -> Charon:
            conf = psk_conf(local_addrs=ns.addr4, remote_addrs=GATEWAY, local_id=identity, remote_id=GW_ID,
                            local_ts="dynamic", remote_ts=f"{GW_INNER}/32", proposals=SUITE, esp_proposals=ESP,
                            extra={"vips": "0.0.0.0"})
            c = Charon(ns, tmp_path / name, swanctl_conf=conf)
            charons.append(c)
            c.start()
            c.load_all()
            return c

        return room, charon

    try:
        yield make
    finally:
        for c in reversed(charons):
            c.stop()
        for room in made:
            room.close()


def gateway(room: Classroom, tmp: Path) -> Any:
    return respond(room.gw, tmp, local_id=GW_ID, remote_id="%any",
                   extra=["--proposal", SUITE, "--esp-proposal", ESP, "--pool", POOL, "--ts", f"{GW_INNER}/32",
                          "dynamic", "--quiet", "--wait", "30"])


def up(charon: Charon) -> dict[str, Any]:
    """Initiate the client's CHILD SA; its IKE SA as ``swanctl --list-sas`` shows it, with its virtual IP."""
    charon.initiate(child="net")
    (sa,) = charon.wait_for_sa(lambda sas: len(sas) == 1 and sas[0].get("child-sas"), timeout=10)
    assert sa["state"] == "ESTABLISHED" and len(sa.get("local-vips", [])) == 1, sa
    return sa


def pings_at_once(pairs: list[tuple[Namespace, str]]) -> list[int]:
    """Three echoes from each (namespace, virtual IP) to the gateway's inner address, all clients at once."""
    with ThreadPoolExecutor(len(pairs)) as pool:
        return list(pool.map(lambda p: p[0].ping(GW_INNER, src=p[1], count=3), pairs))


def child_spis(keys: list[dict[str, Any]]) -> tuple[set[int], set[int]]:
    """(inbound, outbound) SPIs of every CHILD SA a charon logged, as it names them."""
    ins = {c["spi_in"] for k in keys for c in k["children"]}
    outs = {c["spi_out"] for k in keys for c in k["children"]}
    return ins, outs


def esp_rows(cap: Path) -> list[tuple[str, str, int, int, int]]:
    rows = read_fields(cap, ["ip.src", "ip.dst", "udp.srcport", "udp.dstport", "esp.spi"], display_filter="esp")
    return [(s, d, int(sp), int(dp), int(spi, 16)) for s, d, sp, dp, spi in rows]


def child_of(sa: dict[str, Any]) -> dict[str, Any]:
    (child,) = sa["child-sas"].values()
    return child


def installed(sa: dict[str, Any]) -> str | None:
    """The inbound SPI of the IKE SA's INSTALLED CHILD SA (charon lists a rekeyed one beside it for a while)."""
    return next((c["spi-in"] for c in sa.get("child-sas", {}).values() if c["state"] == "INSTALLED"), None)


def test_three_clients_come_and_go_without_touching_each_other(classroom_factory, tmp_path: Path) -> None:
    room, charon_in = classroom_factory(direct=3, nat=False)
    ids = [f"student{n + 1}@example.org" for n in range(3)]
    charons = [charon_in(ns, f"c{n + 1}", who) for n, (ns, who) in enumerate(zip(room.clients, ids))]
    gw = gateway(room, tmp_path / "gw")
    cap = Capture(room.gw, "br0", tmp_path / "bridge.pcapng", probe_dst=DIRECT[0]).start()
    try:
        sas = [up(c) for c in charons]
        vips = [sa["local-vips"][0] for sa in sas]
        # 1. one IKE SA, one CHILD SA and one virtual IP of the pool per client (RFC 7296 2.19)
        assert len(set(vips)) == 3 and all(v.startswith("10.3.0.") for v in vips), vips
        assert len({sa["initiator-spi"] for sa in sas}) == 3 and len({sa["responder-spi"] for sa in sas}) == 3
        for vip in vips:
            gw.wait_for_output(f"virtual IP {vip} (CP payload, RFC 7296 2.19)", timeout=5)
        # 2. ESP for all at once
        pairs = list(zip(room.clients, vips))
        assert pings_at_once(pairs) == [3, 3, 3]
        c1, c2, c3 = charons
        c3_before = sas[2]
        # 3a. the first client deletes its IKE SA: the others' pings go on, the gateway too
        c1.terminate(ike="lab")
        c1.wait_for_sa(lambda s: not s, timeout=5)
        gw.wait_for_output("deleted by peer", timeout=5)
        assert pings_at_once(pairs[1:]) == [3, 3]
        c2_first_keys = c2.keys()
        # 3b. the second crashes (no DELETE) and reboots: its new IKE_AUTH says INITIAL_CONTACT (RFC 7296 2.4)
        c2.proc.kill()
        c2.proc.wait(10)
        for what in ("state", "policy"):
            room.clients[1].run(IP, "xfrm", what, "flush")
        c2.stop()
        c2.start()
        c2.load_all()
        again = up(c2)
        c2.wait_for_log(re.compile(r"generating IKE_AUTH request 1 \[[^\]]*N\(INIT_CONTACT\)").search)
        gw.wait_for_output("the peer said INITIAL_CONTACT", timeout=5)
        assert again["local-vips"] == [vips[1]]  # its own address again, as strongSwan's pools do
        # 3c. the third rekeys its CHILD SA, then its IKE SA (RFC 7296 2.8, 2.18)
        c3.swanctl("--rekey", "--child", "net")
        c3.wait_for_sa(lambda s: len(s) == 1 and installed(s[0]) not in (None, installed(c3_before)), timeout=10)
        c3.swanctl("--rekey", "--ike", "lab")
        c3.wait_for_sa(lambda s: len(s) == 1 and s[0]["state"] == "ESTABLISHED" and installed(s[0]) is not None
                       and s[0]["initiator-spi"] != c3_before["initiator-spi"], timeout=10)
        assert pings_at_once(pairs[1:]) == [3, 3]
        # the gateway dropped c2's stale IKE SA only; c3's rekeyed one stands, and the run goes on
        assert gw.proc.poll() is None, gw.output()
        # the last clients leave: the run ends then, and only then (RFC 7296 1.4.1)
        c2.terminate(ike="lab")
        assert gw.proc.poll() is None, gw.output()
        c3.terminate(ike="lab")
        status = gw.wait(15)
    finally:
        cap.stop()
        gw.close()
    out = gw.output()
    assert status == 0, out
    assert "OK: IKE SA and CHILD SA established (exit status 0)" in out, out
    assert "sending DELETE" not in out, out  # each client deleted its own
    # c2's old IKE SA alone went with the INITIAL_CONTACT (each first IKE_AUTH of a fresh charon says it too)
    assert len(re.findall(r"IKE SA deleted: .*the peer said INITIAL_CONTACT", out)) == 1, out
    # 1 and 5: every client's keys, as its charon logged them, are in the gateway's tables
    tables = read_keys(tmp_path / "gw")
    logs = [c1.keys(), c2_first_keys, c2.keys(), c3.keys()]
    assert [check_keys_against_charon(tables, k) for k in logs] == [1, 1, 1, 2]
    rows = tshark_decrypts(tmp_path / "gw" / "ikelab.pcap", tmp_path / "gw" / "keys")
    assert sum(bool(spi) for _, _, spi, _ in rows) >= 2 * 3 * 3 + 2 * 3 * 2
    # 2: on the bridge, every ESP packet from or to a client is on that client's CHILD SAs only
    spis = {DIRECT[0]: child_spis(logs[0]), DIRECT[1]: tuple(a | b for a, b in zip(child_spis(logs[1]),
                                                                                     child_spis(logs[2]))),
            DIRECT[2]: child_spis(logs[3])}
    seen: dict[str, set[int]] = {addr: set() for addr in DIRECT}
    for src, dst, _, _, spi in esp_rows(tmp_path / "bridge.pcapng"):
        client, outbound = (src, True) if src in spis else (dst, False)
        ins, outs = spis[client]
        assert spi in (outs if outbound else ins), (src, dst, hex(spi), spis)
        seen[client].add(spi)
    assert all(len(s) >= 2 for s in seen.values()), seen


def test_two_clients_behind_one_nat_keep_their_own_ports(classroom_factory, tmp_path: Path) -> None:
    room, charon_in = classroom_factory(direct=0, nat=True)
    ids = ["student4@example.org", "student5@example.org"]
    charons = [charon_in(ns, f"n{n + 1}", who) for n, (ns, who) in enumerate(zip(room.natted, ids))]
    gw = gateway(room, tmp_path / "gw")
    cap = Capture(room.gw, "br0", tmp_path / "bridge.pcapng", probe_dst=NAT_PUBLIC).start()
    try:
        sas = [up(c) for c in charons]
        vips = [sa["local-vips"][0] for sa in sas]
        assert len(set(vips)) == 2, vips
        for sa in sas:
            assert sa["nat-local"] == "yes" and child_of(sa)["encap"] == "yes", sa  # it is behind the NAT
        assert pings_at_once(list(zip(room.natted, vips))) == [3, 3]
        # Ctrl-C: the gateway deletes every client's IKE SA (RFC 7296 1.4.1), not only the newest one's
        gw.interrupt()
        status = gw.wait(15)
        for c in charons:
            c.wait_for_sa(lambda s: not s, timeout=5)
            c.wait_for_log("received DELETE for IKE_SA lab")
    finally:
        cap.stop()
        gw.close()
    out = gw.output()
    assert status == 0, out
    deletes = re.findall(r"sending DELETE for the IKE SA \S+ with 192\.0\.2\.20:(\d+)", out)
    assert len(deletes) == 2 and len(set(deletes)) == 2, out
    logs = [c.keys() for c in charons]
    tables = read_keys(tmp_path / "gw")
    assert [check_keys_against_charon(tables, k) for k in logs] == [1, 1]
    tshark_decrypts(tmp_path / "gw" / "ikelab.pcap", tmp_path / "gw" / "keys")
    # IKE from one public address: each client's IKE SA (by its SPIi) on one port of its own, both ways
    ike = read_fields(tmp_path / "bridge.pcapng", ["ip.src", "udp.srcport", "udp.dstport", "isakmp.ispi"],
                      display_filter="isakmp && udp.port == 4500")
    ports: dict[str, set[int]] = {}
    for src, sport, dport, ispi in ike:
        ports.setdefault(ispi.replace(":", "").removeprefix("0x"), set()).add(int(sport if src == NAT_PUBLIC
                                                                                   else dport))
    own = [ports[k[0]["spi_i"].hex()] for k in logs]
    assert all(len(p) == 1 for p in own) and own[0] != own[1], ports
    # ESP in UDP 4500 (RFC 3948): each client's SPIs to and from that client's mapped port only
    for k, (port,) in zip(logs, own):
        ins, outs = child_spis(k)
        for src, dst, sport, dport, spi in esp_rows(tmp_path / "bridge.pcapng"):
            if spi in outs:
                assert (src, sport, dst, dport) == (NAT_PUBLIC, port, GATEWAY, 4500), (hex(spi), src, sport)
            if spi in ins:
                assert (src, sport, dst, dport) == (GATEWAY, 4500, NAT_PUBLIC, port), (hex(spi), dst, dport)
    assert set(deletes) == {str(p) for (p,) in own}
