"""Dissecting and decrypting a 100,000-packet capture: ikelab next to tshark, same file, same keys.

    python benchmarks/bench_dissect.py [--packets 100000] [--suite aes128-sha256-modp2048] [--keep DIR]

The capture is written by the lab (:func:`ikelab.scenario.classic` with pings
every 10 ms, so almost every packet is ESP), with its two Wireshark key
tables.  Timed, each as the best of ``--repeat`` runs:

* ``ikelab.dissect.dissect(capture, keys)``: every IKE message and ESP packet
  decoded, ICV-checked and decrypted down to the inner ICMP echo;
* ``tshark -r FILE -T fields -e frame.number -e esp.icv_good -e icmp.seq``
  with the same tables (ESP decryption and ICV checking on).

Prints frames per second for both and the ratio.  Nothing is asserted: a
benchmark reports, tests decide.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout's ikelab


def make_capture(directory: Path, packets: int, suite: str) -> Path:
    from ikelab.scenario import classic

    # about 2 ESP packets per ping (request and reply), plus a few IKE messages
    duration = packets / 2 * 0.01 + 1.2
    # one ping per 10 ms: more steps than the classic trace allows a lesson by default (MAX_STEPS)
    scenario = classic(seed=1, suite=suite, duration=duration, ping_interval=0.01, reconnect_at=None,
                       liveness_interval=60.0, max_steps=packets // 2 + 200)
    return scenario.write(directory)["pcap"]


def time_ikelab(pcap: Path, keys: Path, repeat: int) -> tuple[float, int, int]:
    from ikelab.dissect import dissect

    best, n, decrypted = float("inf"), 0, 0
    for _ in range(repeat):
        start = time.perf_counter()
        rows = dissect(pcap, keys)
        best = min(best, time.perf_counter() - start)
        n, decrypted = len(rows), sum(1 for r in rows if r.decrypted)
    return best, n, decrypted


def time_tshark(pcap: Path, keys: Path, repeat: int) -> tuple[float, int] | None:
    tshark = shutil.which("tshark")
    if tshark is None:
        return None
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(keys), HOME=str(keys))
    cmd = [tshark, "-n", "-r", str(pcap), "-o", "esp.enable_encryption_decode:TRUE",
           "-o", "esp.enable_authentication_check:TRUE", "-T", "fields", "-e", "frame.number", "-e", "esp.icv_good",
           "-e", "icmp.seq"]
    best, good = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
        best = min(best, time.perf_counter() - start)
        good = sum(1 for line in out.splitlines() if line.split("\t")[1:2] == ["1"])
    return best, good


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=100_000)
    parser.add_argument("--suite", default="aes128-sha256-modp2048")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", help="write the capture and tables here instead of a temporary directory")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ikelab-bench-") as tmp:
        directory = Path(args.keep or tmp)
        t0 = time.perf_counter()
        pcap = make_capture(directory, args.packets, args.suite)
        print(f"capture: {pcap} written by the lab in {time.perf_counter() - t0:.1f} s ({args.suite})")
        seconds, frames, decrypted = time_ikelab(pcap, directory, args.repeat)
        ours = frames / seconds
        print(f"ikelab dissect : {frames:>7} frames, {decrypted} decrypted, {seconds:6.2f} s, {ours:>9,.0f} frames/s")
        theirs = time_tshark(pcap, directory, args.repeat)
        if theirs is None:
            print("tshark         : not installed, no comparison")
            return 0
        t_seconds, good = theirs
        rate = frames / t_seconds
        print(f"tshark -T fields: {frames:>6} frames, {good} ESP ICVs good, {t_seconds:6.2f} s, {rate:>9,.0f} frames/s")
        print(f"ratio ikelab/tshark: {ours / rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
