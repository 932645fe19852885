"""``ikelab demo``, ``ikelab dissect`` and ``ikelab flow``: the commands that write, read and draw captures.

``demo`` runs the classic scenario and writes its capture, the Wireshark key
tables and the flow diagram; ``dissect`` prints a capture's packet list,
decrypting IKE (RFC 7296 3.14) and ESP (RFC 4303 3.4.4) where the key tables
are given; ``flow`` draws it as Wireshark's Flow Graph.
"""

from __future__ import annotations

import argparse
import shlex


def _plain_title(text: str) -> str:
    """``text`` as a figure title shows it: ``$`` is not matplotlib's maths, and bytes of a file name that
    were not UTF-8 (kept by Python as lone surrogates, which the font code refuses) show as U+FFFD."""
    return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text).replace("$", r"\$")


def _cmd_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .dissect import dissect
    from .flow import save_flow
    from .scenario import classic
    from .wireshark import tshark_command

    scenario = classic(seed=args.seed, suite=args.suite, allow_weak=args.allow_weak)
    out = Path(args.out)
    paths = scenario.write(out)
    rows = dissect(paths["pcap"], scenario.tables)
    save_flow(rows, out / "flow.png", timeline=True,
              title=_plain_title(f"ikelab classic scenario (seed {args.seed}, {args.suite})"))
    print(rows.format())
    print()
    for key in ("pcap", "pcapng", "ikev2_decryption_table", "esp_sa"):
        print(f"wrote {paths[key]}")
    print(f"wrote {out / 'flow.png'}")
    print()
    print("Decrypt it with tshark:")
    print(f"  {tshark_command(paths['pcap'], out)}")
    unnamed = [r for r in (*scenario.tables.ike, *scenario.tables.esp) if not r.wireshark_ok]
    if unnamed:
        names = ", ".join(sorted({r.encr for r in unnamed}))
        print(f"  Wireshark 4.0 has no name for {names}, so it leaves those {len(unnamed)} SAs encrypted.")
        print("  Their keys are kept as '# ikelab:' comments in the key tables, which ikelab reads:")
        print(f"  ikelab dissect {shlex.quote(str(paths['pcap']))} --keys {shlex.quote(str(out))}")
    return 0


def _cmd_dissect(args: argparse.Namespace) -> int:
    from .dissect import dissect

    rows = dissect(args.capture, args.keys, ike_ports=args.ike_port or ())
    if args.json:
        if rows:
            print(rows.to_json())
    else:
        print(rows.format())
    return 0


def _cmd_flow(args: argparse.Namespace) -> int:
    from .dissect import dissect
    from .flow import save_flow

    fold = {"auto": None, "yes": True, "no": False}[args.fold]
    rows = list(dissect(args.capture, args.keys, ike_ports=args.ike_port or ()))
    title = _plain_title(f"IKEv2 flow: {args.capture}")
    arrows = save_flow(rows, args.output, None, fold=fold, timeline=args.timeline, title=title, every_frame=args.all)
    hint = ""
    if not arrows and not args.all:
        ports = sorted({r.dport for r in rows if r.protocol == "UDP" and r.dport})
        hint = ": no IKE or ESP packet in it; --all draws every frame"
        if ports:  # e.g. a run of connect/respond on --port 5680
            hint += f", and --ike-port N reads UDP port N as IKE (UDP ports here: {', '.join(map(str, ports[:8]))})"
    count = "1 arrow" if len(arrows) == 1 else f"{len(arrows)} arrows"
    print(f"wrote {args.output} ({count}){hint}")
    return 0
