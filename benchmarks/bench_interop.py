"""IKEv2 handshakes against a real strongSwan charon, in two network namespaces (figures only).

charon-to-charon: ``swanctl --initiate`` of an IKE SA with its CHILD SA
(IKE_SA_INIT + IKE_AUTH, PSK, aes128-sha256-modp2048 and ESP aes128-sha256,
RFC 7296 1.2) from namespace A to namespace B, then ``swanctl --terminate``;
N times (default 20, bounded by a time budget).  Printed: the median and the
spread of the initiate latency, the same minus the median cost of a bare
``swanctl --stats`` round trip (process start, ``ip netns exec``, vici), and
handshakes per second over the whole loop (terminate included).

The ikelab side (:func:`bench_ikelab_initiator`): ikelab's asyncio driver
(``ikelab.net``, run in namespace A in one Python process) initiates the same
handshake against a charon responder N times, each followed by DELETE; printed
next to charon-to-charon as a ratio.

Needs root, strongSwan (charon, swanctl) and iproute2, like the interop
tests.  Run: ``python benchmarks/bench_interop.py [N] [budget_seconds]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from interop.charon import Charon, interop_unavailable_reason  # noqa: E402
from interop.netns import NetnsPair  # noqa: E402
from interop.ikelab_peer import ikelab_handshakes  # noqa: E402
from interop.swanctl import ID_INITIATOR, ID_RESPONDER, psk_conf  # noqa: E402


def _confs(net: NetnsPair) -> tuple[str, str]:
    a, b = net.a, net.b
    conf_a = psk_conf(local_addrs=a.addr4, remote_addrs=b.addr4, local_id=ID_INITIATOR, remote_id=ID_RESPONDER,
                      local_ts=f"{a.inner}/32", remote_ts=f"{b.inner}/32")
    conf_b = psk_conf(local_addrs=b.addr4, remote_addrs=a.addr4, local_id=ID_RESPONDER, remote_id=ID_INITIATOR,
                      local_ts=f"{b.inner}/32", remote_ts=f"{a.inner}/32")
    return conf_a, conf_b


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def bench_charon_to_charon(n: int = 20, budget: float = 60.0) -> tuple[float, float]:
    """Median handshake latency and handshakes/s, charon initiator to charon responder."""
    # quieter logs than the tests: key dumps at level 4 cost time
    levels = {"default": 0, "ike": 1, "cfg": 0, "knl": 0, "net": 0, "enc": 0, "chd": 0}
    with tempfile.TemporaryDirectory(prefix="ikl-bench-") as tmp, NetnsPair() as net:
        conf_a, conf_b = _confs(net)
        with Charon(net.b, Path(tmp) / "b", swanctl_conf=conf_b, log_levels=levels) as bob, \
             Charon(net.a, Path(tmp) / "a", swanctl_conf=conf_a, log_levels=levels) as alice:
            alice.load_all()
            bob.load_all()
            overhead = []
            for _ in range(5):
                t = time.perf_counter()
                alice.swanctl("--stats")
                overhead.append(time.perf_counter() - t)
            latencies = []
            start = time.perf_counter()
            for _ in range(n):
                if time.perf_counter() - start > budget:
                    break
                t = time.perf_counter()
                alice.initiate(child="net", timeout=15)
                latencies.append(time.perf_counter() - t)
                alice.terminate(ike="lab", timeout=10)
            wall = time.perf_counter() - start
            bob.wait_for_sa(lambda sas: not sas, timeout=10)
    base = statistics.median(overhead)
    med = statistics.median(latencies)
    print(f"charon -> charon, PSK, aes128-sha256-modp2048 + ESP aes128-sha256, {len(latencies)} handshakes")
    print(f"  swanctl --initiate latency: median {_ms(med)}   min {_ms(min(latencies))}   max {_ms(max(latencies))}")
    print(f"  swanctl round trip alone:   median {_ms(base)}   (--stats)")
    print(f"  handshake minus swanctl:    median {_ms(max(0.0, med - base))}")
    print(f"  handshakes per second:      {len(latencies) / wall:8.1f} /s   (initiate + terminate, {wall:.1f} s)")
    return max(1e-6, med - base), len(latencies) / wall


def bench_ikelab_initiator(n: int = 20, budget: float = 60.0, charon_median: float | None = None,
                           charon_rate: float | None = None) -> None:
    """ikelab initiator (``ikelab.net``, in-process asyncio driver) to a charon responder."""
    levels = {"default": 0, "ike": 1, "cfg": 0, "knl": 0, "net": 0, "enc": 0, "chd": 0}
    with tempfile.TemporaryDirectory(prefix="ikl-bench-") as tmp, NetnsPair() as net:
        _, conf_b = _confs(net)
        with Charon(net.b, Path(tmp) / "b", swanctl_conf=conf_b, log_levels=levels) as bob:
            bob.load_all()
            latencies, wall = net.a.call(ikelab_handshakes, net.b.addr4, net.a.addr4, n, budget,
                                         _timeout=budget + 60)
    med = statistics.median(latencies)
    rate = len(latencies) / wall
    print(f"ikelab -> charon, PSK, aes128-sha256-modp2048 + ESP aes128-sha256, {len(latencies)} handshakes")
    print(f"  handshake latency:          median {_ms(med)}   min {_ms(min(latencies))}   max {_ms(max(latencies))}")
    print(f"  handshakes per second:      {rate:8.1f} /s   (handshake + DELETE, {wall:.1f} s)")
    if charon_median:
        print(f"  ratio ikelab / charon:      latency x{med / charon_median:.2f}"
              + (f", rate x{rate / charon_rate:.2f}" if charon_rate else "")
              + "   (charon's latency without the swanctl round trip)")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=20, help="handshakes per measurement (default 20)")
    parser.add_argument("budget", nargs="?", type=float, default=60.0,
                        help="seconds allowed per measurement (default 60)")
    args = parser.parse_args(argv[1:])
    n, budget = args.n, args.budget
    reason = interop_unavailable_reason()
    if reason:
        print(f"skipped: {reason}")
        return 0
    med, rate = bench_charon_to_charon(n, budget)
    bench_ikelab_initiator(n, budget, med, rate)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
