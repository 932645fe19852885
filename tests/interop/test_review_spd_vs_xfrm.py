"""ikelab's SPD against the Linux kernel's XFRM policies: the same random SPDs, the same packets (RFC 4301 4.4.1).

Each seed makes a small ordered SPD (PROTECT, BYPASS, DISCARD entries; address prefixes, UDP, TCP,
ICMP or any protocol, exact ports, two-port ranges or any port, ICMP type/code) ending in an
explicit catch-all, of one family (IPv4 or IPv6).  It goes into an :class:`ikelab.policy.Spd` in
order and into the kernel of the deciding namespace as XFRM policies whose priorities keep the
order (``ip xfrm policy add ... priority N``: PROTECT is ``action allow`` with a ``tmpl``, BYPASS
``action allow`` without one, DISCARD ``action block``).  Random UDP, TCP (a SYN) and ICMP packets
then go from namespace A to namespace B through real sockets:

* outbound: the policies are on A (``dir out``; the SPD's inbound-only entries as ``dir in``).  The
  kernel's verdict is read from A's ``/proc/net/xfrm_stat`` (XfrmOutPolBlock: DISCARD,
  XfrmOutNoStates: PROTECT, as no SA exists) and from whether the packet reaches B's wire (an
  AF_PACKET socket in B: BYPASS);
* inbound: the policies are on B (``dir in``; outbound-only entries as ``dir out``), A has none.
  B's XfrmInPolBlock is DISCARD, XfrmInTmplMismatch PROTECT (a clear packet where the policy wants
  ESP or AH), and neither is BYPASS; a UDP datagram must then also reach B's socket.

ikelab decides on the packet as Scapy builds it, parsed by :func:`ikelab.packet.selectors`
(``Spd.lookup``), and :class:`ikelab.policy.IpsecProcessor` (no SA installed) processes it: outbound
it must pass the packet only for BYPASS and ask for an SA (``acquire``) for PROTECT; inbound it gets
B's own copy off the wire (transport checksum refilled by Scapy, as veth leaves it offloaded) and
must pass it for BYPASS, drop it for DISCARD and raise PolicyError for PROTECT.  Every packet that
reaches B's wire is parsed too and must have the selectors of the one built.  After each packet A
sends a fence datagram (a port that a kernel-only first policy lets through; one CPU, so it arrives
after the packet): the counters are read once the fence is in.

| subject | RFC 4301 | kernel XFRM | ikelab |
|---|---|---|---|
| nothing matches (``test_no_matching_entry``) | 5.1, 5.2: discard | the packet passes (no policy, no check) | ``Spd.lookup`` is None, ``IpsecProcessor`` discards |
| two entries with one selector | 4.4.1: allowed (the later one is shadowed) | the second is refused (EEXIST; not installed here) | kept, never matches |
| order | 4.4.1: ordered, first match decides | lowest ``priority`` wins | list order |
| ports | 4.4.1.1: lists of ranges | one value and a bit mask per selector | ranges (here: two-port ranges as two kernel policies) |
| ICMP type/code | 4.4.1.1: one selector, not local/remote (RFC 7296 3.13.1: Type in the high octet, Code in the low octet of a 16-bit "port") | Type in ``sport``, Code in ``dport`` (``type T code C``; ``type T`` alone: any code) | ``(type << 8) + code`` in both ports of the packet; a selector names it in the local and/or remote PortRange (different values in the two match nothing) |
| a port with protocol ANY (``test_port_on_any_protocol_is_refused_and_said_per_protocol``) | 4.4.1.1: ports belong to protocols that have them (RFC 7296 3.13.1: protocol 0 covers all ports) | ``sport`` is compared with a UDP or TCP port and with an ICMP Type, ``dport`` with the Code | a ConfigError naming the field; the kernel's verdicts are one selector per protocol |
| family of a catch-all | one entry | one policy per family | one ``Selector()`` for both |

Apart from the unmatched packet, no verdict differs: every packet of every seed gets the same
action from both, with the catch-all explicit in both (so the kernel's default never decides), and
``test_icmp_type_and_code_as_the_kernel`` pins the ICMP notation with a fixed SPD.  Outside the
compared SPD the kernel also gets, at priorities before it, the fence policies and, for IPv6, BYPASS
for link-local and multicast (MLD), and the neighbours are permanent (no Neighbour Discovery to be
discarded).

Run: ``cd tests && python -m pytest -n0 interop/test_review_spd_vs_xfrm.py`` (root and network
namespaces; marked ``strongswan`` like the other interop files, so it skips, or fails under ``CI=true``,
where they do).
"""

from __future__ import annotations

import inspect
import ipaddress
import json
import os
import random
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from ikelab.packet import selectors
from ikelab.errors import ConfigError, PolicyError
from ikelab.policy import Action, IpsecProcessor, Policy, PortRange, Selector, Spd

from .netns import Namespace, NetnsPair, _inet_checksum

pytestmark = pytest.mark.strongswan

UDP, TCP = 17, 6
FENCE = 4999  # the fence datagram's ports (kernel-only allow policies, first)
PORTS = (5000, 5001, 5002, 5003)
POOL = {4: {"a": ["192.0.2.1", "192.0.2.3", "192.0.2.5"], "b": ["192.0.2.2", "192.0.2.4", "192.0.2.6"]},
        6: {"a": ["2001:db8::1", "2001:db8::3", "2001:db8::5"], "b": ["2001:db8::2", "2001:db8::4", "2001:db8::6"]}}
PREFIXES = {4: (32, 31, 30, 29, 24), 6: (128, 127, 126, 125, 64)}
ICMP = {4: 1, 6: 58}
ICMP_TYPES = {4: ((8, 0), (8, 1), (13, 0)), 6: ((128, 0), (128, 1), (129, 0))}
SEEDS = range(12)
PACKETS = 24


@dataclass(frozen=True)
class Probe:
    """One packet from A to B: family, protocol, addresses, ports (ICMP: type and code)."""

    index: int
    src: str
    dst: str
    protocol: int
    sport: int
    dport: int

    def scapy_bytes(self) -> bytes:
        """The packet as Scapy builds it (the reference for ikelab's parser)."""
        from scapy.layers.inet import ICMP as ScapyIcmp, IP, TCP as ScapyTcp, UDP as ScapyUdp
        from scapy.layers.inet6 import IPv6, ICMPv6EchoReply, ICMPv6EchoRequest

        v6 = ":" in self.src
        l3 = IPv6(src=self.src, dst=self.dst) if v6 else IP(src=self.src, dst=self.dst)
        if self.protocol == UDP:
            l4 = ScapyUdp(sport=self.sport, dport=self.dport) / self.payload
        elif self.protocol == TCP:
            l4 = ScapyTcp(sport=self.sport, dport=self.dport, flags="S")
        elif v6:
            kind = ICMPv6EchoRequest if self.sport == 128 else ICMPv6EchoReply
            l4 = kind(code=self.dport, id=0x1234, seq=self.index, data=self.payload)
        else:
            l4 = ScapyIcmp(type=self.sport, code=self.dport, id=0x1234, seq=self.index) / self.payload
        return bytes(l3 / l4)

    @property
    def payload(self) -> bytes:
        return b"ikelab-spd-%05d" % self.index


def _checksummed(raw: bytes) -> bytes:
    """A packet sniffed off the veth with its transport checksum filled in by Scapy: veth passes the
    checksum offloaded (CHECKSUM_PARTIAL, only the pseudo-header sum in the field)."""
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6

    pkt = (IPv6 if raw[0] >> 4 == 6 else IP)(raw)
    l4 = pkt.payload
    for name in ("chksum", "cksum"):  # UDP, TCP, ICMP; ICMPv6
        if name in l4.fieldtype:
            delattr(l4, name)  # recomputed when built
    return bytes(pkt)


# ---- the helper that runs in namespace A (its source, in a bare python) ----------------------------------------


def _stats(f: Any) -> dict[str, int]:
    f.seek(0)
    return {k: int(v) for k, v in (line.split() for line in f.read().splitlines() if line.strip())}


def _exchange(peer: str, peer_dev: str, probes: list[list[Any]], fence_dst: str) -> list[dict[str, Any]]:
    """Send each probe from here (A) to B, then a fence; per probe: A's and B's xfrm_stat deltas, the IP
    packets B's wire saw, whether B's UDP socket got it, and the send error (errno)."""
    import ctypes
    import socket
    import struct

    libc = ctypes.CDLL(None, use_errno=True)

    def enter(fd: int) -> None:
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), "setns")

    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one CPU: one backlog, packets in order
    v6 = ":" in fence_dst
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    own, other = os.open("/proc/self/ns/net", os.O_RDONLY), os.open(f"/run/netns/{peer}", os.O_RDONLY)
    enter(other)
    try:
        sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
        sniff.bind((peer_dev, 0))
        sniff.settimeout(10)
        stat_b = open("/proc/net/xfrm_stat")
        fence_rx = socket.socket(fam, socket.SOCK_DGRAM)
        fence_rx.bind((fence_dst, FENCE))
        fence_rx.settimeout(10)
        rx = {}
        for p in {p[5] for p in probes if p[3] == UDP}:
            rx[p] = socket.socket(fam, socket.SOCK_DGRAM)
            rx[p].bind(("::" if v6 else "0.0.0.0", p))
            rx[p].setblocking(False)
    finally:
        enter(own)
    stat_a = open("/proc/net/xfrm_stat")
    fence_tx = socket.socket(fam, socket.SOCK_DGRAM)
    fence_tx.bind(("::" if v6 else "0.0.0.0", FENCE))
    results = []
    for index, src, dst, protocol, sport, dport, text in probes:
        payload = text.encode()
        before_a, before_b = _stats(stat_a), _stats(stat_b)
        err = 0
        try:
            if protocol == UDP:
                with socket.socket(fam, socket.SOCK_DGRAM) as s:
                    s.bind((src, sport))
                    s.sendto(payload, (dst, dport))
            elif protocol == TCP:
                with socket.socket(fam, socket.SOCK_STREAM) as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.setblocking(False)
                    s.bind((src, sport))
                    err = s.connect_ex((dst, dport))
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                with socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP) as s:
                    s.bind((src, 0))
                    msg = bytes([sport, dport, 0, 0]) + struct.pack("!HH", 0x1234, index) + payload
                    if not v6:  # ICMPv6: the kernel fills in the checksum
                        msg = msg[:2] + _inet_checksum(msg).to_bytes(2, "big") + msg[4:]
                    s.sendto(msg, (dst, 0))
        except OSError as exc:
            err = exc.errno
        fence_tx.sendto(b"fence", (fence_dst, FENCE))
        try:
            fence_rx.recv(64)  # the fence always passes
        except socket.timeout:
            raise TimeoutError(f"probe {index}: the fence datagram did not reach B's socket in 10 s") from None
        wire = []
        while True:  # B's wire up to the fence (frames in, IP only)
            try:
                frame, addr = sniff.recvfrom(65535)
            except socket.timeout:
                raise TimeoutError(f"probe {index}: the fence datagram did not show on B's wire in 10 s") from None
            if addr[2] == socket.PACKET_OUTGOING or addr[1] not in (0x0800, 0x86DD):
                continue
            if frame[14:] and frame[14] >> 4 == 6 and frame[14 + 6] == UDP and \
                    int.from_bytes(frame[14 + 40 + 2:14 + 40 + 4], "big") == FENCE:
                break
            if frame[14] >> 4 == 4 and frame[14 + 9] == UDP:
                ihl = (frame[14] & 0x0F) * 4
                if int.from_bytes(frame[14 + ihl + 2:14 + ihl + 4], "big") == FENCE:
                    break
            wire.append(frame[14:])
        delivered = False
        if protocol == UDP:
            try:
                delivered = rx[dport].recv(65535) == payload
            except BlockingIOError:
                pass
        after_a, after_b = _stats(stat_a), _stats(stat_b)
        results.append({"a": {k: after_a[k] - before_a[k] for k in after_a if after_a[k] != before_a[k]},
                        "b": {k: after_b[k] - before_b[k] for k in after_b if after_b[k] != before_b[k]},
                        "wire": wire, "delivered": delivered, "errno": err})
    return results


_RUNNER = """
import json, sys
args = json.load(sys.stdin)
results = _exchange(*args)
for r in results:
    r["wire"] = [w.hex() for w in r["wire"]]
json.dump(results, sys.stdout)
"""


def exchange(net: NetnsPair, probes: list[Probe], fence_dst: str) -> list[dict[str, Any]]:
    """:func:`_exchange` in namespace A, as a bare ``python -c`` (no ikelab, no pytest to import there: about
    0.35 s a call that :meth:`Namespace.call` would spend importing this module)."""
    source = (f"from __future__ import annotations\nimport os\nfrom typing import Any\nUDP, TCP, FENCE = {UDP}, {TCP}, "
              f"{FENCE}\n" + "".join(inspect.getsource(f) for f in (_inet_checksum, _stats, _exchange)) + _RUNNER)
    args = [net.b.name, net.b.veth, [[p.index, p.src, p.dst, p.protocol, p.sport, p.dport, p.payload.decode()]
                                     for p in probes], fence_dst]
    out = net.a.run(sys.executable, "-c", source, input=json.dumps(args).encode(), timeout=60).stdout
    results = json.loads(out)
    for r in results:
        r["wire"] = [bytes.fromhex(w) for w in r["wire"]]
    return results


# ---- random SPDs, their kernel policies --------------------------------------------------------------


def random_ports(rng: random.Random) -> PortRange:
    kind = rng.choice(("any", "any", "exact", "range"))
    if kind == "any":
        return PortRange()
    p = rng.choice(PORTS[:-1])
    return PortRange(p, p) if kind == "exact" else PortRange(p, p + 1)


def random_prefix(rng: random.Random, version: int) -> str | None:
    if rng.random() < 0.3:
        return None
    addr = rng.choice(POOL[version]["a"] + POOL[version]["b"])
    return str(ipaddress.ip_network(f"{addr}/{rng.choice(PREFIXES[version])}", strict=False))


def random_selector(rng: random.Random, version: int, host: str) -> Selector:
    """Address prefixes (or any), a protocol (or any) and its ports or ICMP type/code."""
    peer = "b" if host == "a" else "a"
    local, remote = random_prefix(rng, version), random_prefix(rng, version)
    if local is None and rng.random() < 0.5:
        local = rng.choice(POOL[version][host])
    if remote is None and rng.random() < 0.5:
        remote = rng.choice(POOL[version][peer])
    protocol = rng.choice((0, UDP, TCP, ICMP[version]))
    lp = rp = PortRange()
    if protocol in (UDP, TCP):
        lp, rp = random_ports(rng), random_ports(rng)
    elif protocol:
        t, c = rng.choice(ICMP_TYPES[version])
        value = PortRange(t << 8 | c, t << 8 | c) if rng.random() < 0.6 else PortRange(t << 8, t << 8 | 0xFF)
        where = rng.choice(("local", "remote", "both"))  # one ICMP selector, in either port field or both
        lp = value if where != "remote" else PortRange()
        rp = value if where != "local" else PortRange()
    return Selector(local, remote, protocol, lp, rp)


def random_spd(rng: random.Random, version: int, host: str) -> Spd:
    """3-5 random entries (a quarter with two selector sets) and a catch-all; ``host`` ("a" or "b") is the
    side whose SPD it is."""
    policies = []
    for i in range(rng.randint(3, 5)):
        sels = [random_selector(rng, version, host) for _ in range(2 if rng.random() < 0.25 else 1)]
        policies.append(Policy(f"p{i}", tuple(sels), rng.choice(list(Action)),
                               applies_to=rng.choice(("both", "both", "inbound", "outbound")),
                               protocol=rng.choice((50, 51)), mode=rng.choice(("tunnel", "transport"))))
    policies.append(Policy("default", Selector(), rng.choice(list(Action))))
    return Spd(policies)


def _split(ports: PortRange) -> list[int | None]:
    """A PortRange as the exact kernel ports (port + full mask) that cover it; None is any."""
    return [None] if ports.is_any else list(range(ports.start, ports.end + 1))


def kernel_policies(spd: Spd, version: int, host: Namespace, peer: Namespace) -> list[str]:
    """``ip -batch`` lines installing ``spd`` in ``host``'s kernel, order kept by priority."""
    anynet = "0.0.0.0/0" if version == 4 else "::/0"
    own, other = (host.addr4, peer.addr4) if version == 4 else (host.addr6, peer.addr6)
    lines: list[str] = []
    installed: set[tuple[str, str, str, str]] = set()
    for i, policy in enumerate(spd):
        priority = 100 + 20 * i  # up to 2 selector sets x 4 port pairs x 2 directions below the next entry
        for (sel, dir_) in ((s, d) for s in policy.selectors for d in ("out", "in") if policy.covers(
                "outbound" if d == "out" else "inbound")):
            local, remote = str(sel.local or anynet), str(sel.remote or anynet)
            src, dst = (local, remote) if dir_ == "out" else (remote, local)
            uppers: list[str] = []
            if sel.protocol in (UDP, TCP):
                for lport in _split(sel.local_ports):
                    for rport in _split(sel.remote_ports):
                        sport, dport = (lport, rport) if dir_ == "out" else (rport, lport)
                        uppers.append(f"proto {sel.protocol}" + (f" sport {sport}" if sport is not None else "")
                                      + (f" dport {dport}" if dport is not None else ""))
            elif sel.protocol:
                ports = sel.local_ports if not sel.local_ports.is_any else sel.remote_ports
                if ports.is_any:
                    uppers.append(f"proto {sel.protocol}")
                elif ports.start == ports.end:  # one type and code: type in sport, code in dport
                    uppers.append(f"proto {sel.protocol} type {ports.start >> 8} code {ports.start & 0xFF}")
                else:  # a type with any code
                    assert ports.start & 0xFF == 0 and ports.end == ports.start | 0xFF
                    uppers.append(f"proto {sel.protocol} type {ports.start >> 8}")
            else:
                uppers.append("")
            if policy.action is Action.DISCARD:
                action = "action block"
            elif policy.action is Action.BYPASS:
                action = "action allow"
            else:
                proto = "esp" if policy.protocol == 50 else "ah"
                ends = (own, other) if dir_ == "out" else (other, own)
                tunnel = f"src {ends[0]} dst {ends[1]} " if policy.mode.value == "tunnel" else ""
                action = f"action allow tmpl {tunnel}proto {proto} mode {policy.mode.value}"
            for upper in uppers:
                key = (dir_, src, dst, upper)
                if key in installed:  # a kernel selector is unique per direction (EEXIST); this one is shadowed
                    continue
                installed.add(key)
                lines.append(f"xfrm policy add src {src} dst {dst} {upper} dir {dir_} "
                             f"priority {priority} {action}")
                priority += 1
    return lines


def infrastructure(version: int) -> list[str]:
    """Kernel-only policies before the SPD: the fence (A out, B in) and, for IPv6, link-local and multicast."""
    anynet = "0.0.0.0/0" if version == 4 else "::/0"
    lines = [f"xfrm policy add src {anynet} dst {anynet} proto {UDP} sport {FENCE} dport {FENCE} dir {d} "
             f"priority 1 action allow" for d in ("out", "in")]
    if version == 6:
        lines += [f"xfrm policy add src ::/0 dst ff00::/8 dir {d} priority 2 action allow" for d in ("out", "in")]
        lines += [f"xfrm policy add src fe80::/10 dst ::/0 dir {d} priority 3 action allow" for d in ("out", "in")]
    return lines


def random_probes(rng: random.Random, version: int) -> list[Probe]:
    probes = []
    for index in range(PACKETS):
        src, dst = rng.choice(POOL[version]["a"]), rng.choice(POOL[version]["b"])
        protocol = rng.choice((UDP, TCP, ICMP[version]))
        if protocol == ICMP[version]:
            sport, dport = rng.choice(ICMP_TYPES[version])
        else:
            sport, dport = rng.choice(PORTS), rng.choice(PORTS)
        probes.append(Probe(index, src, dst, protocol, sport, dport))
    return probes


# ---- the namespaces -------------------------------------------------------------------------------


def ip_batch(ns: Namespace, lines: list[str]) -> None:
    """``ip`` commands (without the leading ``ip``) run in ``ns`` as one ``ip -batch``."""
    ns.run("ip", "-batch", "-", input="\n".join(lines).encode() + b"\n")


def _mac(ns: Namespace) -> str:
    return json.loads(ns.run("ip", "-j", "link", "show", "dev", ns.veth).stdout)[0]["address"]


def prepare(net: NetnsPair) -> None:
    """The address pools on both veths and permanent neighbours (no ARP, no Neighbour Discovery)."""
    macs = {"a": _mac(net.a), "b": _mac(net.b)}
    batch: dict[str, list[str]] = {"a": [], "b": []}
    for side, ns in (("a", net.a), ("b", net.b)):
        peer = "b" if side == "a" else "a"
        for version, plen in ((4, 24), (6, 64)):
            for addr in POOL[version][side]:
                if addr not in (ns.addr4, ns.addr6):
                    batch[side].append(f"addr add {addr}/{plen} dev {ns.veth}" + (" nodad" if version == 6 else ""))
            for addr in POOL[version][peer]:
                batch[side].append(f"neigh replace {addr} lladdr {macs[peer]} dev {ns.veth} nud permanent")
    for side, ns in (("a", net.a), ("b", net.b)):
        ip_batch(ns, batch[side])


def kernel_verdicts(results: list[dict[str, Any]], direction: str) -> list[str]:
    """DISCARD, PROTECT or BYPASS for each probe, as the deciding kernel's xfrm_stat counters show (BYPASS: none
    of its direction's moved; :func:`compare` checks B's wire and socket against that)."""
    side, prefix, block, nostate = (("a", "XfrmOut", "XfrmOutPolBlock", "XfrmOutNoStates") if direction == "outbound"
                                    else ("b", "XfrmIn", "XfrmInPolBlock", "XfrmInTmplMismatch"))
    verdicts = []
    for r in results:
        seen = {k for k in r[side] if k.startswith(prefix)}
        if seen == {block}:
            verdicts.append("DISCARD")
        elif seen == {nostate}:
            verdicts.append("PROTECT")
        elif not seen:
            verdicts.append("BYPASS")
        else:
            verdicts.append(f"counters {sorted(seen)}")
    return verdicts


def compare(net: NetnsPair, direction: str, version: int, spd: Spd, probes: list[Probe], label: str) -> list[str]:
    """Install ``spd`` in the deciding kernel, send ``probes`` from A to B, assert that ikelab's ``Spd.lookup``
    and the kernel give each the same action; the actions, in order."""
    host, peer = (net.a, net.b) if direction == "outbound" else (net.b, net.a)
    for ns in (net.a, net.b):
        ns.run("ip", "xfrm", "policy", "flush")
    lines = infrastructure(version)
    ip_batch(net.a, lines[0::2])
    ip_batch(net.b, lines[1::2])
    ip_batch(host, kernel_policies(spd, version, host, peer))
    results = exchange(net, probes, net.b.addr4 if version == 4 else net.b.addr6)
    verdicts = kernel_verdicts(results, direction)
    for probe, result, verdict in zip(probes, results, verdicts):
        sel = selectors(probe.scapy_bytes())
        found = spd.lookup(direction, sel)
        assert found is not None, f"{label}: the catch-all always matches\n{spd}"
        ours = found[0].action.value
        context = f"{label} {probe}: ikelab {found[0].name}={ours}, kernel {verdict} {result}\n{spd}"
        assert ours == verdict, context
        on_wire = [selectors(raw) for raw in result["wire"]]
        processor = IpsecProcessor(spd)  # the packet processing of RFC 4301 5.1 / 5.2, no SA installed
        if direction == "outbound":
            assert (sel in on_wire) == (verdict == "BYPASS"), context
            decision = processor.outbound(probe.scapy_bytes())
            assert (decision.action.value, decision.packet is not None, decision.acquire) == \
                (verdict, verdict == "BYPASS", verdict == "PROTECT"), f"{decision}: {context}"
        else:
            assert sel in on_wire, context  # the policy acts in B's stack, after the wire
            if probe.protocol == UDP:
                assert result["delivered"] == (verdict == "BYPASS"), context
            arrived = _checksummed(next(raw for raw in result["wire"] if selectors(raw) == sel))  # B's copy
            if verdict == "PROTECT":
                with pytest.raises(PolicyError):  # a clear packet where the policy wants IPsec (5.2)
                    processor.inbound(arrived)
            else:
                decision = processor.inbound(arrived)
                assert (decision.action.value, decision.packet) == (verdict, arrived if verdict == "BYPASS" else None)
    return verdicts


@pytest.mark.parametrize("version", [4, 6], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("direction", ["outbound", "inbound"])
def test_spd_decides_as_the_kernel(netns_pair: NetnsPair, direction: str, version: int) -> None:
    """RFC 4301 4.4.1: the first matching entry decides, in ikelab's Spd as in the kernel's XFRM policies."""
    prepare(netns_pair)
    checked: list[str] = []
    for seed in SEEDS:
        rng = random.Random(f"spd-xfrm-{direction}-{version}-{seed}")
        spd = random_spd(rng, version, "a" if direction == "outbound" else "b")
        checked += compare(netns_pair, direction, version, spd, random_probes(rng, version), f"seed {seed}")
    assert {"DISCARD", "PROTECT", "BYPASS"} <= set(checked), checked  # every action was exercised


@pytest.mark.parametrize("version", [4, 6], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("direction", ["outbound", "inbound"])
def test_icmp_type_and_code_as_the_kernel(netns_pair: NetnsPair, direction: str, version: int) -> None:
    """RFC 7296 3.13.1 / RFC 4301 4.4.1.1: ikelab's ``type << 8 | code`` in a PortRange selects what the kernel's
    ``type T code C`` (Type in sport, Code in dport) does; a Type with codes 0-255 is ``type T`` alone.

    Echo request code 0 is DISCARDed by an entry naming it in the local port only; echo request with another
    code falls to the next entry (the Type with any code, in the remote port only: PROTECT); the third Type
    (timestamp, or ICMPv6 echo reply) is named in both ports (BYPASS); UDP and TCP reach the catch-all.
    """
    prepare(netns_pair)
    icmp = ICMP[version]
    (t1, c1), (_, c2), (t3, c3) = ICMP_TYPES[version]
    spd = Spd([
        Policy("echo-code-0", Selector(protocol=icmp, local_ports=t1 << 8 | c1), Action.DISCARD),
        Policy("echo-any-code", Selector(protocol=icmp, remote_ports=(t1 << 8, t1 << 8 | 0xFF)), Action.PROTECT),
        Policy("third-type", Selector(protocol=icmp, local_ports=t3 << 8 | c3, remote_ports=t3 << 8 | c3),
               Action.BYPASS),
        Policy("default", Selector(), Action.DISCARD),
    ])
    a, b = POOL[version]["a"][0], POOL[version]["b"][0]
    probes = [Probe(0, a, b, icmp, t1, c1), Probe(1, a, b, icmp, t1, c2), Probe(2, a, b, icmp, t3, c3),
              Probe(3, a, b, UDP, PORTS[0], t1 << 8 | c1), Probe(4, a, b, TCP, t3 << 8 | c3, PORTS[1])]
    assert compare(netns_pair, direction, version, spd, probes, "icmp") == \
        ["DISCARD", "PROTECT", "BYPASS", "DISCARD", "DISCARD"]


@pytest.mark.parametrize("direction", ["outbound", "inbound"])
def test_no_matching_entry(netns_pair: NetnsPair, direction: str) -> None:
    """The one place the two part: with no catch-all, the kernel lets an unmatched packet through (no policy,
    no check), ikelab's ``Spd.lookup`` finds nothing and ``IpsecProcessor`` discards it (RFC 4301 5.1, 5.2)."""
    prepare(netns_pair)
    a, b = POOL[4]["a"][0], POOL[4]["b"][0]
    spd = Spd([Policy("udp-5000", Selector(protocol=UDP, remote_ports=PORTS[0]), Action.DISCARD,
                      applies_to=direction)])
    probe = Probe(0, a, b, UDP, PORTS[1], PORTS[1])
    host, peer = (netns_pair.a, netns_pair.b) if direction == "outbound" else (netns_pair.b, netns_pair.a)
    ip_batch(host, infrastructure(4)[0 if direction == "outbound" else 1::2] + kernel_policies(spd, 4, host, peer))
    result, = exchange(netns_pair, [probe], netns_pair.b.addr4)
    assert kernel_verdicts([result], direction) == ["BYPASS"] and result["delivered"], result
    assert spd.lookup(direction, selectors(probe.scapy_bytes())) is None
    processor = IpsecProcessor(spd)
    decision = processor.outbound(probe.scapy_bytes()) if direction == "outbound" else \
        processor.inbound(probe.scapy_bytes())
    assert (decision.action, decision.policy, decision.packet) == (Action.DISCARD, None, None), decision


def test_port_on_any_protocol_is_refused_and_said_per_protocol(netns_pair: NetnsPair) -> None:
    """A port selector with protocol ANY: the kernel compares an ICMP packet's Type with ``sport`` (and its
    Code with ``dport``) and a UDP packet's source port with it, so "local port 8" is ICMP Type 8 (any code)
    and UDP port 8 to it.  ikelab refuses such a selector (ConfigError naming local_ports: RFC 7296 3.13.1
    has protocol 0 cover all ports, and an ICMP message's one selector is ``(type << 8) + code``); one
    selector per protocol says what the kernel does and gets its verdicts.  (Before, ikelab took the port
    on an ICMP message as Type 0 Code 8.)"""
    prepare(netns_pair)
    a, b = POOL[4]["a"][0], POOL[4]["b"][0]
    with pytest.raises(ConfigError) as err:
        Selector(protocol=0, local_ports=8)
    assert err.value.field == "local_ports"
    spd = Spd([Policy("port-8", (Selector(protocol=1, local_ports=(8 << 8, 8 << 8 | 0xFF)),
                                 Selector(protocol=UDP, local_ports=8)), Action.DISCARD),
               Policy("default", Selector(), Action.BYPASS)])
    lines = infrastructure(4)[0::2] + [
        "xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 sport 8 dir out priority 100 action block",
        "xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 dir out priority 120 action allow"]
    ip_batch(netns_pair.a, lines)
    probes = [Probe(0, a, b, 1, 8, 0), Probe(1, a, b, 1, 0, 8), Probe(2, a, b, UDP, 8, PORTS[0])]
    kernel = kernel_verdicts(exchange(netns_pair, probes, netns_pair.b.addr4), "outbound")
    ours = [spd.lookup("outbound", selectors(p.scapy_bytes()))[0].action.value for p in probes]
    assert kernel == ours == ["DISCARD", "BYPASS", "DISCARD"]
