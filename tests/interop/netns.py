"""Two Linux network namespaces joined by a veth pair: a private lab network.

The interop tests run two IKE peers (charon and charon, later ikelab and
charon) on a wire of their own, so that nothing they send reaches the host's
network and several test runs can share a machine::

    namespace A (ikl<pid>n<k>a)                 namespace B (ikl<pid>n<k>b)
      lo         127.0.0.1, 198.51.100.1/32       lo        127.0.0.1, 203.0.113.1/32
      veth-a     192.0.2.1/24  2001:db8::1/64 <--> veth-b   192.0.2.2/24  2001:db8::2/64

All addresses are documentation ranges (RFC 5737, RFC 3849).  The "inner"
addresses on ``lo`` (198.51.100.1 and 203.0.113.1) are the traffic selectors
of the tunnel: they differ from the outer (IKE) addresses, so charon's own IKE
packets are never routed into the tunnel.

The veth pair is created directly inside namespace A with its peer placed in
namespace B, so no interface ever appears in the host's namespace.

:class:`NatNetns` puts a router between them that translates A's addresses
(nftables ``masquerade``, a NAPT as RFC 3948 and RFC 7296 2.23 expect), so
that B sees A's packets come from 192.0.2.1 while A has a private address::

    namespace A              namespace R (the NAT)                 namespace B
      veth-a 198.51.100.130/25 <--> veth-ra 198.51.100.129/25
                                    veth-rb 192.0.2.1/24      <--> veth-b 192.0.2.2/24
:func:`NetnsPair.close` (also run by the context manager, even after an
exception) deletes both namespaces, which destroys the veth pair.

Running code "inside" a namespace means running a subprocess under
``ip netns exec NAME``: :meth:`Namespace.run`, :meth:`Namespace.popen`, and
:meth:`Namespace.call` (a module-level Python function, pickled through a
``python -c`` helper; ``os.setns`` only exists from Python 3.12).
"""

from __future__ import annotations

import itertools
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

IP = "ip"
NAME_PREFIX = "ikl"
_counter = itertools.count()

#: Outer (IKE) addresses on the veth pair, and inner (tunnel) addresses on lo.
ADDR_A4, ADDR_B4 = "192.0.2.1", "192.0.2.2"
ADDR_A6, ADDR_B6 = "2001:db8::1", "2001:db8::2"
INNER_A, INNER_B = "198.51.100.1", "203.0.113.1"
#: :class:`NatNetns`: A's private address and the router's on A's side (A's public address is ADDR_A4).
PRIVATE_A4, ROUTER_PRIVATE4 = "198.51.100.130", "198.51.100.129"
NFT = "nft"
#: The nftables table of :meth:`Namespace.lose` (a loss pattern on the IKE ports).
LOSS_TABLE = "ikelab_loss"


class NetnsError(RuntimeError):
    """A namespace command failed or timed out (the message has the command and its output)."""


def _fmt_cmd(argv: Sequence[str]) -> str:
    return " ".join(str(a) for a in argv)


def run_checked(
    argv: Sequence[str],
    *,
    timeout: float = 30.0,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with a bounded wait; raise :class:`NetnsError` with its output on failure."""
    try:
        proc = subprocess.run(
            [str(a) for a in argv],
            capture_output=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            input=input,
        )
    except subprocess.TimeoutExpired as exc:
        raise NetnsError(f"timed out after {timeout:.0f} s: {_fmt_cmd(argv)}") from exc
    except FileNotFoundError as exc:
        raise NetnsError(f"command not found: {argv[0]}") from exc
    result = subprocess.CompletedProcess(
        proc.args,
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )
    if check and proc.returncode != 0:
        raise NetnsError(
            f"exit status {proc.returncode}: {_fmt_cmd(argv)}\n"
            f"stdout: {result.stdout.strip()}\nstderr: {result.stderr.strip()}"
        )
    return result


def nft_unavailable_reason() -> str | None:
    """Why nftables rules cannot be set here (no ``nft``), or ``None``: :class:`NatNetns` and
    :meth:`Namespace.drop_first` need them."""
    if shutil.which(NFT) is None:
        return "the 'nft' command is missing (apt-get install nftables): the NAT and packet-loss tests need it"
    return None


def netns_unavailable_reason() -> str | None:
    """Why network namespaces cannot be used here, or ``None`` if they can.

    Checks for the ``ip`` tool (iproute2) and the privilege to create a
    namespace (root or CAP_SYS_ADMIN) by creating and deleting a probe one.
    """
    if shutil.which(IP) is None:
        return "the 'ip' command is missing (apt-get install iproute2)"
    probe = f"{NAME_PREFIX}{os.getpid()}probe"
    try:
        run_checked([IP, "netns", "add", probe], timeout=10)
    except NetnsError as exc:
        return f"cannot create a network namespace (needs root or CAP_SYS_ADMIN): {exc}"
    try:
        run_checked([IP, "netns", "del", probe], timeout=10, check=False)
    except NetnsError:
        pass
    return None


def list_namespaces() -> list[str]:
    """Names of the network namespaces known to ``ip netns``."""
    out = run_checked([IP, "netns", "list"], timeout=10).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def cleanup_stale(prefix: str = NAME_PREFIX) -> list[str]:
    """Delete namespaces left by earlier runs whose process is gone.

    Only names made by this module (``<prefix><pid>n...``) are considered,
    and only when no process with that pid exists any more; processes still
    running inside such a namespace (a charon or tshark of the interrupted
    run) are killed by pid first.
    """
    removed = []
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)(n\d+[abr]|probe)$")
    for name in list_namespaces():
        m = pattern.match(name)
        if not m:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or os.path.exists(f"/proc/{pid}"):
            continue
        # processes an interrupted run left in its namespace (charon, tshark): end them by pid
        pids = run_checked([IP, "netns", "pids", name], timeout=10, check=False).stdout.split()
        for stale in pids:
            try:
                os.kill(int(stale), signal.SIGKILL)
            except (ValueError, ProcessLookupError, PermissionError):
                pass
        if run_checked([IP, "netns", "del", name], timeout=10, check=False).returncode == 0:
            removed.append(name)
    return removed


# The helper that runs a pickled function inside a namespace: it reads
# (function, args, kwargs) from stdin and writes ("ok", result) or
# ("error", repr) to stdout; whatever the function prints goes to stderr.
_CALL_HELPER = (
    "import pickle, sys\n"
    "sys.path[:0] = pickle.loads(bytes.fromhex(sys.argv[1]))\n"
    "f, a, k = pickle.load(sys.stdin.buffer)\n"
    "out, sys.stdout = sys.stdout.buffer, sys.stderr\n"
    "try:\n"
    "    r = ('ok', f(*a, **k))\n"
    "except BaseException as e:\n"
    "    r = ('error', f'{type(e).__name__}: {e}')\n"
    "out.write(pickle.dumps(r))\n"
)


@dataclass(frozen=True)
class Namespace:
    """One network namespace: its name, its veth interface and its addresses."""

    name: str
    veth: str
    addr4: str
    addr6: str
    inner: str

    def argv(self, *argv: str) -> list[str]:
        """``argv`` prefixed with ``ip netns exec NAME``."""
        return [IP, "netns", "exec", self.name, *[str(a) for a in argv]]

    def run(
        self,
        *argv: str,
        timeout: float = 30.0,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        input: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace and wait for it (bounded)."""
        return run_checked(self.argv(*argv), timeout=timeout, check=check, env=env, input=input)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a command inside the namespace; the caller must stop it.

        ``ip netns exec`` execs the command in place, so ``Popen.pid`` is the
        pid of the command itself.
        """
        return subprocess.Popen(self.argv(*argv), **kwargs)

    def call(self, func: Callable[..., Any], *args: Any, _timeout: float = 30.0, **kwargs: Any) -> Any:
        """Run a module-level Python ``func(*args, **kwargs)`` in the namespace and return its result.

        ``func``, its arguments and its result must be picklable (``_timeout``
        bounds the wait, in seconds); an exception inside becomes a
        :class:`NetnsError` with its type and message.  What ``func`` prints
        goes to the helper's stderr, not into the result.
        """
        payload = pickle.dumps((func, args, kwargs))
        path = pickle.dumps([p for p in sys.path if p]).hex()
        try:
            proc = subprocess.run(
                self.argv(sys.executable, "-c", _CALL_HELPER, path),
                input=payload,
                capture_output=True,
                timeout=_timeout,
            )
        except subprocess.TimeoutExpired as exc:
            what = getattr(func, "__name__", func)
            raise NetnsError(f"{what} in {self.name} timed out after {_timeout:.0f} s") from exc
        if proc.returncode != 0:
            raise NetnsError(f"python helper in {self.name} failed: {proc.stderr.decode(errors='replace')}")
        status, value = pickle.loads(proc.stdout)
        if status != "ok":
            raise NetnsError(f"{getattr(func, '__name__', func)} in {self.name} raised {value}")
        return value

    def drop_first(self, *, sport: int, size: int, ip_length: int | None = None) -> None:
        """Drop the first UDP datagram from source port ``sport`` that arrives here, and no other.

        An nftables quota of ``size`` bytes (a little more than one such IP
        packet, less than two) on the input hook: the packet that stays under
        it is dropped, the ones that go over it pass.  ``ip_length`` picks the
        packets of that IP length only (one kind of message on port 4500).
        For retransmission tests on a network without netem.
        """
        match = f"udp sport {int(sport)}" + (f" ip length {int(ip_length)}" if ip_length is not None else "")
        rules = (f"table inet ikelab_drop {{\n chain input {{\n  type filter hook input priority 0;\n"
                 f"  {match} quota until {int(size)} bytes drop\n }}\n}}\n")
        self.run(NFT, "-f", "-", input=rules.encode())

    def lose(self, modulus: int, drop: Sequence[int], *, esp: bool = False) -> None:
        """From now on drop, in a fixed pattern, UDP datagrams that arrive here for port 500 or 4500.

        They are numbered 0, 1, 2... as they arrive (an nftables ``numgen inc`` counter of this
        namespace's own), and those whose number modulo ``modulus`` is in ``drop`` are dropped.  Only
        IKE messages are counted: port 500, and port 4500 with the Non-ESP Marker (RFC 3948 2.2);
        with ``esp`` UDP-encapsulated ESP on port 4500 is counted (and lost) too.  A one-octet
        NAT-keepalive never is, nor is anything else (ARP, ND, ICMP).  A pattern set before is
        replaced, counter and all; :meth:`lost` reads the counts, :meth:`stop_losing` ends it.
        """
        picks = sorted({int(k) for k in drop})
        if modulus < 1 or not picks or not all(0 <= k < modulus for k in picks):
            raise ValueError(f"drop {picks} must be numbers from 0 to modulus - 1 = {modulus - 1}")
        esp_rule = "  udp dport 4500 @th,64,32 != 0 jump lossy\n" if esp else ""
        rules = (f"add table inet {LOSS_TABLE}\ndelete table inet {LOSS_TABLE}\n"
                 f"table inet {LOSS_TABLE} {{\n chain input {{\n  type filter hook input priority -10;\n"
                 f"  udp dport 500 jump lossy\n  udp dport 4500 @th,64,32 0 jump lossy\n{esp_rule} }}\n"
                 f" chain lossy {{\n  counter\n"
                 f"  numgen inc mod {int(modulus)} {{ {', '.join(map(str, picks))} }} counter drop\n }}\n}}\n")
        self.run(NFT, "-f", "-", input=rules.encode())

    def lost(self) -> tuple[int, int]:
        """(counted, dropped) datagrams since :meth:`lose` set the pattern; (0, 0) without one."""
        out = self.run(NFT, "list", "chain", "inet", LOSS_TABLE, "lossy", check=False).stdout
        counts = [int(n) for n in re.findall(r"counter packets (\d+)", out)]
        return (counts[0], counts[1]) if len(counts) == 2 else (0, 0)

    def stop_losing(self) -> None:
        """Remove the pattern :meth:`lose` set (nothing is lost any more); safe without one."""
        self.run(NFT, "-f", "-", input=f"add table inet {LOSS_TABLE}\ndelete table inet {LOSS_TABLE}\n".encode())

    def ping(self, dst: str, *, src: str | None = None, count: int = 3, timeout: float = 2.0) -> int:
        """ICMP echo from this namespace (no ``ping`` binary needed); the number of replies."""
        return int(self.call(icmp_ping, dst, src=src, count=count, timeout=timeout, _timeout=count * timeout + 20))


def _inet_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_ping(
    dst: str, *, src: str | None = None, count: int = 3, timeout: float = 2.0
) -> int:
    """Send ``count`` ICMP echo requests to ``dst`` (from ``src``) on a raw socket; count the replies.

    ICMPv4 (RFC 792), or ICMPv6 (RFC 4443 4.1) when ``dst`` is an IPv6 address: the kernel then fills
    in the checksum (RFC 3542 3.1) and hands replies over without their IP header.  Meant to run
    inside a namespace through :meth:`Namespace.call` (needs CAP_NET_RAW).  A source address not
    usable yet (a virtual IP being added) is waited for, up to 5 s.  Each request waits up to
    ``timeout`` seconds for its reply; a request that cannot be sent (no route) counts as unanswered.
    """
    import socket
    import time

    v6 = ":" in dst
    ident = os.getpid() & 0xFFFF
    replies = 0
    family, proto = (socket.AF_INET6, socket.IPPROTO_ICMPV6) if v6 else (socket.AF_INET, socket.IPPROTO_ICMP)
    request_type, reply_type = (128, 129) if v6 else (8, 0)
    with socket.socket(family, socket.SOCK_RAW, proto) as sock:
        bound_by = time.monotonic() + 5.0
        while src:
            try:
                sock.bind((src, 0))
                break
            except OSError:
                if time.monotonic() > bound_by:
                    raise
                time.sleep(0.1)
        for seq in range(1, count + 1):
            body = b"ikelab-interop-" + seq.to_bytes(2, "big")
            header = bytes([request_type, 0]) + b"\0\0" + ident.to_bytes(2, "big") + seq.to_bytes(2, "big")
            csum = 0 if v6 else _inet_checksum(header + body)
            try:
                sock.sendto(header[:2] + csum.to_bytes(2, "big") + header[4:] + body, (dst, 0))
            except OSError:  # no route (e.g. an inner address before the tunnel is up): no reply
                continue
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    data, addr = sock.recvfrom(65535)
                except socket.timeout:
                    break
                icmp = data if v6 else data[(data[0] & 0x0F) * 4 :]
                if (
                    addr[0] == dst
                    and len(icmp) >= 8
                    and icmp[0] == reply_type
                    and int.from_bytes(icmp[4:6], "big") == ident
                    and int.from_bytes(icmp[6:8], "big") == seq
                ):
                    replies += 1
                    break
    return replies


def udp_exchange(
    dst: str, port: int, payload: bytes, *, src_port: int = 0, timeout: float = 2.0
) -> bytes | None:
    """Send one UDP datagram to ``(dst, port)`` and return the first reply (``None`` on timeout).

    Meant to run inside a namespace through :meth:`Namespace.call`, e.g. to
    hand a peer a hand-made IKE message on port 500.
    """
    import socket

    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", src_port))
        sock.settimeout(timeout)
        sock.sendto(payload, (dst, port))
        try:
            return sock.recv(65535)
        except socket.timeout:
            return None


class NetnsPair:
    """Two namespaces ``a`` and ``b`` joined by a veth pair; use as a context manager.

    >>> with NetnsPair() as net:                      # doctest: +SKIP
    ...     net.a.run("ping", "-c1", net.b.addr4)
    """

    def __init__(self, prefix: str = NAME_PREFIX, *, with_inner: bool = True) -> None:
        base = f"{prefix}{os.getpid()}n{next(_counter)}"
        self.a = Namespace(f"{base}a", "veth-a", ADDR_A4, ADDR_A6, INNER_A)
        self.b = Namespace(f"{base}b", "veth-b", ADDR_B4, ADDR_B6, INNER_B)
        self.with_inner = with_inner
        self._created: list[str] = []

    @property
    def namespaces(self) -> tuple[Namespace, Namespace]:
        return (self.a, self.b)

    def _add_namespaces(self) -> None:
        """Create every namespace with its loopback up; each is remembered for :meth:`close` at once."""
        for ns in self.namespaces:
            run_checked([IP, "netns", "add", ns.name], timeout=10)
            self._created.append(ns.name)
            ns.run(IP, "link", "set", "lo", "up")

    def create(self) -> "NetnsPair":
        """Create both namespaces, the veth pair and the addresses; undo all on failure."""
        try:
            self._add_namespaces()
            self.a.run(
                IP, "link", "add", self.a.veth, "type", "veth", "peer", "name", self.b.veth, "netns", self.b.name
            )
            for ns in self.namespaces:
                ns.run(IP, "addr", "add", f"{ns.addr4}/24", "dev", ns.veth)
                ns.run(IP, "-6", "addr", "add", f"{ns.addr6}/64", "dev", ns.veth, "nodad")
                ns.run(IP, "link", "set", ns.veth, "up")
                if self.with_inner:
                    ns.run(IP, "addr", "add", f"{ns.inner}/32", "dev", "lo")
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Delete the namespaces (and with them the veth pair); safe to call twice."""
        errors = []
        while self._created:
            name = self._created.pop()
            proc = run_checked([IP, "netns", "del", name], timeout=10, check=False)
            if proc.returncode != 0:
                errors.append(f"{name}: {proc.stderr.strip()}")
        if errors:
            raise NetnsError("could not delete namespaces: " + "; ".join(errors))

    def __enter__(self) -> "NetnsPair":
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.close()


def flush_conntrack() -> None:
    """Forget every connection-tracking entry of this namespace (netlink IPCTNL_MSG_CT_DELETE, no attributes).

    Run in the router with :meth:`Namespace.call`: the NAT then maps each flow anew, as a NAT that lost its
    state (a reboot, a timeout) does.  A NETLINK_NETFILTER socket does it without the conntrack tool.
    """
    import socket
    import struct

    nfnl_subsys_ctnetlink, ipctnl_msg_ct_delete = 1, 2
    request, ack = 1, 4
    body = struct.pack("BBH", socket.AF_INET, 0, 0)  # struct nfgenmsg: family, version, resource id
    header = struct.pack("=LHHLL", 16 + len(body), (nfnl_subsys_ctnetlink << 8) | ipctnl_msg_ct_delete,
                         request | ack, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12) as sock:  # 12: NETLINK_NETFILTER
        sock.bind((0, 0))
        sock.send(header + body)
        answer = sock.recv(4096)
    error = struct.unpack_from("=i", answer, 16)[0]  # the NLMSG_ERROR's errno, 0 for an acknowledgement
    if error:
        raise OSError(-error, f"conntrack flush refused: {os.strerror(-error)}")


def masquerade(router: Namespace, oifname: str) -> None:
    """Make ``router`` a NAPT for what leaves it on ``oifname`` (nftables ``masquerade``: source address and, when
    it must, source port; conntrack takes the answers back), as RFC 3948 and RFC 7296 2.23 expect of a NAT."""
    rules = ('table ip nat {\n chain postrouting {\n  type nat hook postrouting priority srcnat;\n'
             f'  oifname "{oifname}" masquerade\n }}\n}}\n')
    router.run(NFT, "-f", "-", input=rules.encode())


class NatNetns(NetnsPair):
    """A behind a NAT: namespaces ``a``, ``r`` (the router) and ``b``; B sees A as 192.0.2.1 (``a_public``).

    The router masquerades what A sends out of ``veth-rb`` (source address
    and, when it must, source port), and conntrack takes the answers back;
    B has no route to A's private network at all.  IPv4 only.
    """

    def __init__(self, prefix: str = NAME_PREFIX) -> None:
        super().__init__(prefix)
        base = self.a.name[:-1]
        self.a = Namespace(f"{base}a", "veth-a", PRIVATE_A4, "", INNER_A)
        self.r = Namespace(f"{base}r", "veth-ra", ROUTER_PRIVATE4, "", "")
        self.a_public = ADDR_A4

    @property
    def namespaces(self) -> tuple[Namespace, ...]:  # type: ignore[override]
        return (self.a, self.r, self.b)

    def rebind(self, ports: str = "41000-41010") -> None:
        """A NAT rebinding: from now on the router maps A's UDP flows to source ports ``ports``, and it forgets
        the mappings it had (what B sends to the old ones is refused)."""
        rules = ('flush chain ip nat postrouting\n'
                 f'add rule ip nat postrouting oifname "veth-rb" meta l4proto udp masquerade to :{ports}\n'
                 'add rule ip nat postrouting oifname "veth-rb" masquerade\n')
        self.r.run(NFT, "-f", "-", input=rules.encode())
        self.r.call(flush_conntrack)

    def create(self) -> "NatNetns":
        """Create the three namespaces, both veth pairs, the addresses, A's route and R's NAT; undo all on failure."""
        try:
            self._add_namespaces()
            self.a.run(IP, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-ra", "netns", self.r.name)
            self.r.run(IP, "link", "add", "veth-rb", "type", "veth", "peer", "name", "veth-b", "netns", self.b.name)
            for ns, dev, addr in ((self.a, "veth-a", f"{PRIVATE_A4}/25"), (self.r, "veth-ra", f"{ROUTER_PRIVATE4}/25"),
                                  (self.r, "veth-rb", f"{ADDR_A4}/24"), (self.b, "veth-b", f"{ADDR_B4}/24")):
                ns.run(IP, "addr", "add", addr, "dev", dev)
                ns.run(IP, "link", "set", dev, "up")
            for ns in (self.a, self.b):
                ns.run(IP, "addr", "add", f"{ns.inner}/32", "dev", "lo")
            self.a.run(IP, "route", "add", "default", "via", ROUTER_PRIVATE4)
            self.r.run("sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")  # each namespace has its own
            masquerade(self.r, "veth-rb")
        except BaseException:
            self.close()
            raise
        return self

