"""Benchmark: how fast the lessons' interactive parts answer, and how long the course takes to run.

Run ``python benchmarks/bench_lessons.py`` (``--no-course`` skips running the notebooks, ``--lessons 00,11``
runs only those).  It prints
figures only and asserts nothing.  Budgets (from the lesson design): a widget callback answers within
100 ms (1 s for the 8192-bit group), every cell stays well under 5 s, and the whole course runs in at
most 60 s.

* widget callbacks: each control of :func:`ikelab.widgets.dh_explorer`,
  :func:`ikelab.widgets.prf_plus_explorer` and the widgets of lessons 00-11 (lesson 09's
  :func:`ikelab.widgets_esp.replay_explorer` with its window image, also at W = 64) is moved through a
  few values, and the time from setting ``.value`` to the updated output is measured (median and worst);
* figures: each static figure of :mod:`ikelab.figures`, built and rendered to PNG;
* the course: every ``notebooks/NN-*.ipynb`` executed in a fresh ``python3`` kernel (nbclient), in
  memory (nothing is written), with its slowest cell.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
BUDGET_MS = 100.0


def _timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return 1000 * (time.perf_counter() - start)


def bench_widgets() -> list[tuple[str, float, float]]:
    from ikelab import widgets

    rows = []
    dh = widgets.dh_explorer()
    moves: list[tuple[str, Any, list[Any]]] = [
        ("dh_explorer: prime p", dh.p, [29, 101, 251, 5, 23]),
        ("dh_explorer: base g", dh.g, [2, 3, 7, 10, 5]),
        ("dh_explorer: X_A", dh.x_a, [3, 9, 14, 20, 6]),
        ("dh_explorer: X_B", dh.x_b, [2, 8, 17, 21, 15]),
    ]
    prf = widgets.prf_plus_explorer(bytes(range(32)), bytes(range(24)))
    moves += [
        ("prf_plus_explorer: length", prf.length, [32, 33, 100, 256, 512, 70]),
        ("prf_plus_explorer: PRF", prf.prf, ["PRF_HMAC_SHA1", "PRF_AES128_XCBC", "PRF_HMAC_SHA2_512",
                                             "PRF_AES128_CMAC", "PRF_HMAC_SHA2_256"]),
    ]
    moves += _ike_moves()
    moves += _tour_arch_pfs_moves()
    moves += _lessons_08_11_moves()
    for name, control, values in moves:
        times = []
        for value in values:
            times.append(_timed(lambda: setattr(control, "value", value)))
        rows.append((name, statistics.median(times), max(times)))
    return rows


def _ike_moves() -> list[tuple[str, Any, list[Any]]]:
    """Lessons 05-07 (ikelab.widgets_ike): suites, a typed pre-shared key, PFS on and off."""
    from ikelab import events, figures_ike
    from ikelab import widgets_ike as ikw
    from ikelab.lab import Lab

    lab = Lab(*figures_ike.moon_and_sun(), seed="bench")
    lab.initiate()
    lab.run_until_idle()
    kd = lab.events("initiator", events.KeysDerived)[0]
    a_i = lab.events("initiator", events.AuthComputed)[0]
    cut = ikw.key_cut_explorer(kd.ni, kd.nr, kd.g_ir, kd.spi_i, kd.spi_r)
    auth = ikw.psk_auth_explorer(a_i, kd.prf, psk="x")
    child = ikw.child_keymat_explorer(kd.prf, kd.sk_d, kd.ni, kd.nr, kd.g_ir)
    return [
        ("key_cut_explorer: suite", cut.suite, list(ikw.IKE_SUITES[1:]) + [ikw.IKE_SUITES[0]]),
        ("psk_auth_explorer: psk", auth.psk, ["a", "ab", "abc", "ikelab", ""]),
        ("child_keymat_explorer: ESP", child.esp, list(ikw.ESP_SUITES[1:]) + [ikw.ESP_SUITES[0]]),
        ("child_keymat_explorer: PFS", child.pfs, [True, False, True, False]),
    ]


def _tour_arch_pfs_moves() -> list[tuple[str, Any, list[Any]]]:
    """Lessons 00, 01, 03: the packet browser, the packet-path menus, PFS and leak choices (a full lab run each)."""
    from ikelab import figures_tour, scenario
    from ikelab import widgets_arch, widgets_pfs, widgets_tour

    browser = widgets_tour.packet_browser(figures_tour.tour_rows(scenario.classic(seed=1)))
    short = scenario.classic(seed=1, duration=2.0, child_rekey_after=None, liveness_interval=None, reconnect_at=None,
                             lose_first=False)
    path = widgets_arch.packet_path_explorer(short.events)
    pfs = widgets_pfs.pfs_explorer()
    return [
        ("packet_browser: packet", browser.no, [3, 10, 45, 91, 4]),
        ("packet_browser: kind", browser.kind, ["ESP", "IKE_AUTH", "CREATE_CHILD_SA", "all packets"]),
        ("packet_path_explorer: dst", path.dst, ["10.2.0.53", "192.0.2.2", "10.3.0.1", "10.2.0.1"]),
        ("pfs_explorer: PFS", pfs.pfs[0], [True, False, True, False]),
        ("pfs_explorer: leak", pfs.leaked, [2, 1, 2, 1]),
    ]


def _lessons_08_11_moves() -> list[tuple[str, Any, list[Any]]]:
    """Lessons 08-11: proposals edited, replay arrivals, packets of the classic trace, CHILD SA counts (a lab run
    each)."""
    import tempfile

    from ikelab import dissect, scenario
    from ikelab import widgets_comments, widgets_esp, widgets_negotiation, widgets_trace

    neg = widgets_negotiation.negotiation_explorer()
    replay = widgets_esp.replay_explorer()
    replay64 = widgets_esp.replay_explorer(size=64)
    with tempfile.TemporaryDirectory() as tmp:
        rows = dissect.dissect(scenario.classic().write(tmp)["pcap"], tmp)
    packets = widgets_trace.packet_explorer(rows)
    counts = widgets_comments.message_count_explorer()
    return [
        ("negotiation_explorer: configured", neg.configured, ["aes128-sha1-modp3072", "aes256gcm16-prfsha384-ecp384",
                                                             "aes128-sha256-modp3072, aes128-sha256-modp2048"]),
        ("negotiation_explorer: prefer", neg.prefer, ["offered", "configured", "offered", "configured"]),
        ("replay_explorer: arrivals", replay.arrivals, ["1 2 3", "5 4 4 40 6", "1 2 3 5 4 4 40 6 39 38"]),
        ("replay_explorer: W", replay.size, [4, 16, 64, 8]),
        ("replay_explorer: arr. W=64", replay64.arrivals, ["1 2 3 5 4 4 200 6 150 199", "64 1 2 63", "1 2 3",
                                                          "1 2 3 5 4 4 40 6 39 38"]),
        ("packet_explorer: packet", packets.no, [2, 10, 22, 91, 4]),
        ("message_count_explorer: n", counts.n, [2, 5, 10, 1]),
    ]


def bench_figures() -> list[tuple[str, float]]:
    from ikelab import figures, keys

    ike = keys.ike_sa_keys("PRF_HMAC_SHA2_256", bytes(32), bytes(32), bytes(32), bytes(8), bytes(8),
                           encr="ENCR_AES_CBC", encr_key_bits=128, integ="AUTH_HMAC_SHA2_256_128")
    makers: list[tuple[str, Callable[[], Any]]] = [
        ("powers_figure(23, [5, 2])", lambda: figures.powers_figure(23, [5, 2])),
        ("dlog_cost() (data: brute force up to 22 bits)", lambda: None),
        ("dlog_cost_figure", lambda: figures.dlog_cost_figure(figures.dlog_cost((4, 6, 8)))),
        ("groups_figure", figures.groups_figure),
        ("prf_plus_chain (3 blocks)", lambda: figures.prf_plus_chain("PRF_HMAC_SHA2_256", b"k", b"s", 70)),
        ("key_split_figure", lambda: figures.key_split_figure(ike)),
    ]
    figures.png_bytes(figures.powers_figure(23, [5]))  # warm up matplotlib
    rows = []
    for name, make in makers:
        if name.startswith("dlog_cost()"):
            rows.append((name, _timed(figures.dlog_cost)))
            continue
        rows.append((name, _timed(lambda: figures.png_bytes(make()))))
    return rows


#: ipykernel's own shutdown races.  The control thread flushes stderr after the iostream thread has
#: closed its pipe, and tornado logs the ZMQError; or libzmq, terminating its context while a pipe is
#: already closed, meets POLLHUP where it asserts POLLIN and aborts (zeromq/libzmq issues 1307, 3715).
#: Either way the notebook ran to the end, as NotebookClient checked (a kernel that dies while a cell
#: runs raises DeadKernelError there); nothing is lost.
_SHUTDOWN_RACE = re.compile(
    r"ERROR:tornado\.general:Uncaught exception in ZMQStream callback\n"
    r"Traceback \(most recent call last\):\n(?:[ \t].*\n)*?"
    r"zmq\.error\.ZMQError: Socket operation on non-socket\n?"
    r"|^Assertion failed: pfd\.revents & POLLIN \(src/signaler\.cpp:\d+\)\n?", re.MULTILINE)


def _pass_on_kernel_stderr(text: str) -> None:
    """Write what a kernel printed on stderr to ours, without ipykernel's known shutdown races."""
    rest = _SHUTDOWN_RACE.sub("", text)
    if rest.strip():
        sys.stderr.write(rest)


def bench_course(lessons: set[str] | None = None) -> list[tuple[str, float, str, float]]:
    import tempfile

    import nbformat
    from nbclient import NotebookClient
    from traitlets.config import Config

    rows = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        if lessons is not None and path.name[:2] not in lessons:
            continue
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="ikelab-kernel-") as sockets:
            # Unix sockets instead of TCP on localhost: the kernel then has no reason to warn that
            # its traffic is unencrypted, and nothing else on the machine can reach it.  (Set through
            # the config, not a km=, so that the client still owns the kernel and shuts it down.)
            ipc = Config({"KernelManager": {"transport": "ipc", "ip": str(Path(sockets) / "kernel")}})
            kernel_log = Path(sockets) / "stderr"
            with kernel_log.open("w") as log:
                NotebookClient(nb, kernel_name="python3", timeout=120, record_timing=True, config=ipc,
                               resources={"metadata": {"path": str(path.parent)}}).execute(stderr=log)
            _pass_on_kernel_stderr(kernel_log.read_text())
        total = time.perf_counter() - start
        slowest, slowest_s = "-", 0.0
        for cell in nb.cells:
            timing = cell.get("metadata", {}).get("execution", {})
            if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
                from datetime import datetime

                t0 = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
                t1 = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
                seconds = (t1 - t0).total_seconds()
                if seconds > slowest_s:
                    slowest, slowest_s = cell.get("id", "?"), seconds
        rows.append((path.stem, total, slowest, slowest_s))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time the lessons' widgets, figures and notebooks.")
    parser.add_argument("--no-course", action="store_true", help="do not execute the notebooks")
    parser.add_argument("--lessons", metavar="NN,NN", help="execute only these lessons (their numbers, e.g. 00,11)")
    args = parser.parse_args(argv)
    lessons = None
    if args.lessons is not None:
        lessons = {n.strip() for n in args.lessons.split(",")}
        known = {p.name[:2] for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")}
        if not lessons <= known:
            parser.error(f"--lessons: no lesson numbered {', '.join(sorted(lessons - known))} "
                         f"(there are {', '.join(sorted(known))})")

    print(f"Widget callbacks (budget {BUDGET_MS:.0f} ms)")
    for name, median, worst in bench_widgets():
        flag = "" if worst <= BUDGET_MS else "   OVER BUDGET"
        print(f"  {name:<28} median {median:7.2f} ms   worst {worst:7.2f} ms{flag}")

    print("\nStatic figures (build + PNG)")
    for name, ms in bench_figures():
        print(f"  {name:<46} {ms:8.1f} ms")

    if not args.no_course:
        print("\nThe course (fresh kernel each, kernel start included)")
        total = 0.0
        for stem, seconds, slowest, slowest_s in bench_course(lessons):
            total += seconds
            print(f"  {stem:<24} {seconds:6.2f} s   slowest cell {slowest} ({slowest_s:.2f} s)")
        if lessons is None:
            print(f"  {'total':<24} {total:6.2f} s   (budget 60 s)")
        else:
            print(f"  {'total':<24} {total:6.2f} s   (lessons {', '.join(sorted(lessons))} only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
