"""The benchmark scripts still run: figures are not checked (they vary by machine), only that each
script completes on a tiny time budget, prints its table and writes nothing to stderr.

A benchmark that rots silently (an API it calls goes away, a warning starts appearing) would
mislead whoever reads docs/performance.md next; these runs catch that.  The scripts that need
tshark, strongSwan or the lessons (bench_dissect, bench_interop, bench_lessons) are left to their
own tests' tools and are not run here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "bench_handshake.py": (["--seconds", "0.05", "--sas", "20", "--breakdown"],
                           ["handshakes/s", "Curve25519 + AES-GCM-16-256", "MODP-2048", "ECP-256",
                            "per established IKE SA", "the engine itself",
                            "where an ECP-256 + AES-CBC + HMAC-SHA2-256 handshake spends"]),
    "bench_crypto.py": (["--min-time", "0.005", "--groups", "14,19,31"],
                        ["MODP_2048", "ECP_256", "CURVE25519", "prf+ throughput", "psk_auth"]),
    "bench_wire.py": (["--repeats", "1", "--number", "20"], ["IKE_SA_INIT request", "protect (encode + encrypt)", "unprotect"]),
    "bench_esp.py": (["0.02"], ["AES-GCM-16-128", "AES-CBC-128 + HMAC-SHA2-256-128"]),
}


@pytest.mark.parametrize("script", sorted(CASES))
def test_benchmark_runs_and_prints_its_table(script: str) -> None:
    args, expected = CASES[script]
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stderr == "", f"{script} wrote to stderr:\n{out.stderr[-2000:]}"
    for text in expected:
        assert text in out.stdout, f"{script} no longer prints {text!r}"
