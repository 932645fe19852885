"""The ``ikelab`` command.

Each sub-command is a thin layer over the library: it parses options, calls
ikelab, and prints.  Bad options and typed ikelab errors give a one-line
message and exit status 2; nothing prints a traceback at a user.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from .errors import IkelabError

EXIT_USAGE = 2


def _cmd_derive(args: argparse.Namespace) -> int:
    from .schedule import worked_schedule

    key_bits = args.key_bits if args.key_bits else None
    schedule = worked_schedule(
        group=args.group,
        prf_alg=args.prf,
        encr=args.encr,
        key_bits=key_bits,
        integ=None if args.integ.upper() == "NONE" else args.integ,
        seed=args.seed,
        allow_weak=args.allow_weak,
    )
    print(schedule.format())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .dissect import dissect
    from .flow import save_flow
    from .scenario import classic
    from .wireshark import tshark_command

    scenario = classic(seed=args.seed, suite=args.suite)
    out = Path(args.out)
    paths = scenario.write(out)
    rows = dissect(paths["pcap"], scenario.tables)
    save_flow(rows, out / "flow.png", timeline=True, title=f"ikelab classic scenario (seed {args.seed}, {args.suite})")
    print(rows.format())
    print()
    for key in ("pcap", "pcapng", "ikev2_decryption_table", "esp_sa"):
        print(f"wrote {paths[key]}")
    print(f"wrote {out / 'flow.png'}")
    print()
    print("Decrypt it with tshark:")
    print(f"  {tshark_command(paths['pcap'], out)}")
    return 0


def _cmd_dissect(args: argparse.Namespace) -> int:
    from .dissect import dissect

    rows = dissect(args.capture, args.keys)
    if args.json:
        if rows:
            print(rows.to_json())
    else:
        print(rows.format())
    return 0


def _cmd_flow(args: argparse.Namespace) -> int:
    from .flow import save_flow

    fold = {"auto": None, "yes": True, "no": False}[args.fold]
    arrows = save_flow(args.capture, args.output, args.keys, fold=fold, timeline=args.timeline,
                       title=f"IKEv2 flow: {args.capture}")
    print(f"wrote {args.output} ({len(arrows)} arrows)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ikelab", description="A teaching toolkit for IKEv2 and IPsec.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    derive = sub.add_parser(
        "derive",
        help="print a worked IKEv2 key schedule (DH, SKEYSEED, prf+, SK_*, KEYMAT)",
        description="Print a worked IKEv2 key schedule from a fixed seed: the DH values, g^ir, SKEYSEED, "
        "each prf+ block, the seven SK_* keys and a CHILD SA KEYMAT with and without PFS (RFC 7296 2.13-2.17).",
    )
    derive.add_argument("--group", default="MODP_2048", help="DH group: name or number (default MODP_2048)")
    derive.add_argument("--prf", default="PRF_HMAC_SHA2_256", help="PRF transform (default PRF_HMAC_SHA2_256)")
    derive.add_argument("--encr", default="ENCR_AES_CBC", help="encryption transform (default ENCR_AES_CBC)")
    derive.add_argument("--key-bits", type=int, default=128, help="key length attribute in bits (default 128; 0 for fixed-size ciphers)")
    derive.add_argument("--integ", default="AUTH_HMAC_SHA2_256_128", help="integrity transform, or NONE with an AEAD cipher")
    derive.add_argument("--seed", default="2026", help="seed for the nonces, SPIs and private keys (default 2026)")
    derive.add_argument("--allow-weak", action="store_true", help="allow weak groups and algorithms (for teaching only)")
    derive.set_defaults(func=_cmd_derive)

    from .scenario import CLASSIC_DEFAULTS

    demo = sub.add_parser(
        "demo",
        help="run the classic IKEv2 lab trace and write its capture, key tables and flow diagram",
        description="Run the classic scenario (IKE_SA_INIT with a retransmission, IKE_AUTH, ESP pings both ways, "
        "CREATE_CHILD_SA, liveness checks, a new IKE SA) in virtual time; write DIR/ikev2-lab.pcap(ng), "
        "DIR/ikev2_decryption_table, DIR/esp_sa and DIR/flow.png; print the packet list and the tshark command "
        "that decrypts the capture.",
    )
    demo.add_argument("--out", default="ikelab-demo", help="output directory (default ./ikelab-demo)")
    demo.add_argument("--seed", default=str(CLASSIC_DEFAULTS["seed"]), help="seed of every random value (default 1)")
    demo.add_argument("--suite", default=CLASSIC_DEFAULTS["suite"],
                      help=f"IKE proposal, strongSwan syntax (default {CLASSIC_DEFAULTS['suite']})")
    demo.set_defaults(func=_cmd_demo)

    dis = sub.add_parser(
        "dissect",
        help="print the packet list of a capture, decrypting IKE and ESP where keys are given",
        description="Dissect a pcap/pcapng capture: every IKE message (UDP 500, UDP 4500 with the Non-ESP Marker) "
        "and ESP packet (IP protocol 50, UDP 4500 without the marker), decrypted with the Wireshark key tables "
        "in --keys.",
    )
    dis.add_argument("capture", help="pcap or pcapng file")
    dis.add_argument("--keys", help="directory holding ikev2_decryption_table and/or esp_sa")
    dis.add_argument("--json", action="store_true", help="one JSON object per packet (JSON Lines)")
    dis.set_defaults(func=_cmd_dissect)

    flow = sub.add_parser(
        "flow",
        help="draw the flow diagram of a capture (matplotlib)",
        description="Draw a capture as Wireshark's Flow Graph: the endpoints as vertical lines, one labelled arrow "
        "per packet (ESP runs folded in long captures), exchanges coloured.",
    )
    flow.add_argument("capture", help="pcap or pcapng file")
    flow.add_argument("--keys", help="directory holding ikev2_decryption_table and/or esp_sa")
    flow.add_argument("-o", "--output", default="flow.png", help="image file (.png, .svg, .pdf; default flow.png)")
    flow.add_argument("--fold", choices=("auto", "yes", "no"), default="auto",
                      help="fold runs of ESP packets into one arrow per SPI (default: auto, above 60 packets)")
    flow.add_argument("--timeline", action="store_true", help="add the SA lifetime timeline under the diagram")
    flow.set_defaults(func=_cmd_flow)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except IkelabError as exc:
        print(f"ikelab {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `ikelab derive | head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
