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
