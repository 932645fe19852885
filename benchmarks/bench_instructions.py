"""Instructions per IKE_SA_INIT + IKE_AUTH handshake, counted by valgrind's callgrind.

Handshakes per second move with whatever else the host is doing (up to 1.7x
within an hour on a shared machine, see docs/performance.md); instruction
counts do not.  This script runs the handshakes of ``bench_handshake.py``
under ``valgrind --tool=callgrind`` twice, once with ``N`` more handshakes
than the other, so that start-up, imports and warm-up cancel out, and prints
the difference per handshake, split by where it ran:

* the Python interpreter (ikelab's own code, and the standard library's);
* OpenSSL, inside cryptography's extension and the system's libcrypto (with
  CPython's thin ``_hashlib`` around it);
* GMP, through gmpy2 (MODP arithmetic, with the extra "fast");
* libc (mostly malloc and free), and the rest.

Use it to judge a change worth a few per cent: the counts repeat to within a
few hundred instructions, where the clock varies by tens of per cent.
Figures only, no assertions::

    python benchmarks/bench_instructions.py [--suites ecp256,x25519,modp2048] [--handshakes 50] [--seeded]

As in ``bench_handshake.py``, the peers draw from the OS unless ``--seeded``
(then from ``DeterministicRandom``, as the lessons do).  Seeded runs repeat
exactly; with the OS's values, the counts move by a few thousand.

It needs valgrind (Debian: ``apt-get install valgrind``) and takes about
half a minute per suite.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # bench_handshake, for its Pair and its suites

from bench_handshake import SUITES as HANDSHAKE_SUITES, Pair  # noqa: E402 - after the path above

#: short name -> (label, IKE proposal, ESP proposal): bench_handshake.py's suites, by their DH group
SUITES = {short: next(suite[:3] for suite in HANDSHAKE_SUITES if suite[3] == group)
          for short, group in (("ecp256", "ECP_256"), ("x25519", "CURVE25519"), ("modp2048", "MODP_2048"))}
WARM_UP = 20  # handshakes before counting: caches and lazy imports settle

#: (column, pattern of the object file's path); the first match wins
PLACES = [
    ("interpreter", re.compile(r"libpython|/python3?[\d.]*$")),
    ("OpenSSL", re.compile(r"_rust\.abi3\.so|libcrypto|libssl|_hashlib")),
    ("GMP", re.compile(r"gmpy2|libgmp|libmpfr|libmpc")),
    ("libc", re.compile(r"libc[.-]|libm[.-]|ld-linux")),
]
OTHER = "other"
#: a cost line of a callgrind file: positions (the line number), then the Ir count
COST_LINE = re.compile(r"^[+\-*\d]")


def child(suite: str, handshakes: int, seed: int | None) -> None:
    """Run WARM_UP + ``handshakes`` handshakes; the process valgrind counts."""
    _, ike, esp = SUITES[suite]
    pair = Pair(ike, esp, seed)
    for _ in range(WARM_UP + handshakes):
        pair.handshake()


def place_of(obj: str) -> str:
    for name, pattern in PLACES:
        if pattern.search(obj):
            return name
    return OTHER


def count(suite: str, handshakes: int, workdir: Path, seeded: bool) -> dict[str, int]:
    """Instructions of one run, by place (see PLACES)."""
    out = workdir / f"callgrind.{suite}.{handshakes}"
    run = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
         sys.executable, str(Path(__file__).resolve()), "--child", suite, str(handshakes)]
        + (["--seeded"] if seeded else []),
        capture_output=True, text=True,
        # str and bytes hashes are salted per process; a fixed salt makes every run lay out its dicts
        # and sets alike, so two runs of the same code count the same (without it they differ by ~20,000)
        env=dict(os.environ, PYTHONHASHSEED="0"),
    )
    if run.returncode != 0:
        raise SystemExit(f"valgrind failed for {suite} ({handshakes} handshakes):\n{run.stderr[-2000:]}")
    return self_cost_by_object(out)


def self_cost_by_object(path: Path) -> dict[str, int]:
    """Instructions by place, from a callgrind output file (its format: valgrind's callgrind manual).

    A cost line adds to the object last named by ``ob=``; the line after ``calls=`` is the
    inclusive cost of a call, counted already where the callee ran, so it is skipped.
    """
    names: dict[str, str] = {}  # "(3)" -> object path: callgrind names each object once
    totals: dict[str, int] = {}
    place, skip_next, expected = OTHER, False, None
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith(("ob=", "cob=")):  # an object is named at its first ob= or cob=
                ref, _, name = line.split("=", 1)[1].strip().partition(" ")
                if ref.startswith("("):
                    name = names.setdefault(ref, name) if name else names.get(ref, "")
                else:
                    name = ref
                if line.startswith("ob="):
                    place = place_of(name)
            elif line.startswith("calls="):
                skip_next = True
            elif COST_LINE.match(line):
                if skip_next:
                    skip_next = False
                    continue
                fields = line.split()
                if len(fields) > 1:
                    totals[place] = totals.get(place, 0) + int(fields[-1])
            elif line.startswith(("summary:", "totals:")):
                expected = int(line.split()[1])
    if expected is not None and sum(totals.values()) != expected:
        raise SystemExit(f"{path}: the self costs add up to {sum(totals.values())}, not the file's {expected}")
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", default="ecp256,x25519,modp2048",
                        help=f"comma-separated, from: {', '.join(SUITES)}")
    parser.add_argument("--handshakes", type=int, default=50, help="the extra handshakes of the second run")
    parser.add_argument("--seeded", action="store_true", help="draw from DeterministicRandom (default: the OS)")
    parser.add_argument("--child", nargs=2, metavar=("SUITE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), 1 if args.seeded else None)
        return
    suites = [s.strip() for s in args.suites.split(",") if s.strip()]
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        parser.error(f"unknown suite {', '.join(unknown)}; known: {', '.join(SUITES)}")
    if args.handshakes < 1:
        parser.error("--handshakes must be at least 1")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind not found: install it (Debian: apt-get install valgrind)")

    columns = [name for name, _ in PLACES] + [OTHER]
    print(f"{'suite':<52} {'instructions':>13} " + " ".join(f"{c:>12}" for c in columns))
    # the two runs of a suite go side by side: counts do not depend on what else the machine does
    with tempfile.TemporaryDirectory(prefix="ikelab-callgrind-") as tmp, ThreadPoolExecutor(2) as pool:
        for suite in suites:
            runs = [pool.submit(count, suite, n, Path(tmp), args.seeded) for n in (0, args.handshakes)]
            base, more = (run.result() for run in runs)
            per = {c: (more.get(c, 0) - base.get(c, 0)) / args.handshakes for c in columns}
            total = sum(per.values())
            print(f"{SUITES[suite][0]:<52} {total:>13,.0f} " + " ".join(f"{per[c]:>12,.0f}" for c in columns))
    print(f"Per handshake (both peers, PSK, one CHILD SA): the difference between {args.handshakes} and 0")
    print(f"handshakes after {WARM_UP} to warm up, counted by valgrind --tool=callgrind; random values from "
          + ("DeterministicRandom." if args.seeded else "the OS."))


if __name__ == "__main__":
    main()
