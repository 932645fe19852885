"""The ``ikelab`` command.

Each sub-command is a thin layer over the library: it parses options, calls
ikelab, and prints.  Bad options and typed ikelab errors give a one-line
message and exit status 2; nothing prints a traceback at a user.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from typing import Any, Callable, Sequence

from .errors import CaptureWarning, IkelabError, WeakAlgorithmError, WeakAlgorithmWarning, for_the_command_line

EXIT_USAGE = 2


def _iana(value: str, kind: str) -> str:
    """An IANA name or number as given, or the one a strongSwan keyword of transform ``kind`` stands for.

    ``modp2048`` -> MODP_2048, ``prfsha256`` -> PRF_HMAC_SHA2_256, ``sha256`` -> AUTH_HMAC_SHA2_256_128,
    so ``derive`` takes the words that ``--suite`` takes.
    """
    from .constants import DhId, EncrId, IntegId, PrfId, TransformType, lookup
    from .errors import ConfigError, UnknownAlgorithmError
    from .proposals import KEYWORDS

    t = KEYWORDS.get(value.strip().lower())
    if t is not None and t.type == TransformType[kind]:
        return t.id.name
    option, enum, what, example = {
        "DH": ("--group", DhId, "a key exchange group", "MODP_2048"), "PRF": ("--prf", PrfId, "a PRF", "PRF_HMAC_SHA2_256"),
        "INTEG": ("--integ", IntegId, "an integrity algorithm", "AUTH_HMAC_SHA2_256_128"),
        "ENCR": ("--encr", EncrId, "an encryption algorithm", "ENCR_AES_CBC")}[kind]
    try:
        lookup(enum, value)
    except UnknownAlgorithmError:  # say what the option takes, in the words its help gives
        words = " ".join(k for k, t in KEYWORDS.items() if t.type == TransformType[kind])
        raise ConfigError(f"{option} {value}: not {what}; give a keyword ({words}) or an IANA name or number "
                          f"(e.g. {example})",
                          field=option, value=value) from None
    return value


def _encryption(value: str, key_bits: int | None) -> tuple[str, int | None]:
    """(encryption transform, key length) from ``--encr`` and ``--key-bits``.

    A strongSwan keyword carries its key length (``aes256gcm16`` -> ENCR_AES_GCM_16, 256 bits); an
    IANA name or number takes ``--key-bits``, 128 by default for the ciphers that have a Key Length
    attribute and none for the others (RFC 7296 3.3.5: ChaCha20-Poly1305, 3DES).
    """
    from .constants import TransformType
    from .errors import ConfigError, IkelabError
    from .proposals import KEYWORDS
    from .transforms import encryption

    t = KEYWORDS.get(value.strip().lower())
    if t is not None and t.type == TransformType.ENCR:
        if key_bits is not None and t.key_length and key_bits != t.key_length:
            raise ConfigError(f"--encr {value} names {t.key_length}-bit keys, --key-bits {key_bits} another length: "
                              "give one of them", field="key_bits", value=key_bits)
        return t.id.name, (key_bits if key_bits is not None else t.key_length) or None
    value = _iana(value, "ENCR")  # not a keyword: an IANA name or number, or an error that lists the keywords
    if key_bits is not None:
        return value, key_bits or None
    try:  # the default: 128 bits where a Key Length attribute belongs, nothing where it does not
        with warnings.catch_warnings():  # a probe: the real call warns, or refuses, once
            warnings.simplefilter("ignore", WeakAlgorithmWarning)
            encryption(value, 128, allow_weak=True)
        return value, 128
    except IkelabError:  # no Key Length attribute, or not a cipher at all: the real call reports which
        return value, None


def _cmd_derive(args: argparse.Namespace) -> int:
    from .schedule import worked_schedule
    from .transforms import encryption

    encr, key_bits = _encryption(args.encr, args.key_bits)
    integ = args.integ
    if integ is None:  # an AEAD cipher has no integrity transform (RFC 5282 8); the others take SHA2-256
        with warnings.catch_warnings():  # a look at the cipher: worked_schedule below warns, or refuses, once
            warnings.simplefilter("ignore", WeakAlgorithmWarning)
            aead = encryption(encr, key_bits, allow_weak=True).is_aead
        integ = "NONE" if aead else "AUTH_HMAC_SHA2_256_128"
    schedule = worked_schedule(
        group=_iana(args.group, "DH"),
        prf_alg=_iana(args.prf, "PRF"),
        encr=encr,
        key_bits=key_bits,
        integ=None if integ.upper() == "NONE" else _iana(integ, "INTEG"),
        seed=args.seed,
        allow_weak=args.allow_weak,
    )
    print(schedule.format())
    return 0


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


def _read_file(path: str, what: str) -> bytes:
    from .errors import ConfigError

    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} file {path!r}: {exc.strerror}", field=what, value=path) from None


def _certificates(path: str, what: str) -> list:
    """The certificates in a PEM (bundle) or DER file, as a ConfigError naming the option if it has none."""
    from .cert_checks import load_certificates
    from .errors import ConfigError, IkelabError

    try:
        return load_certificates(_read_file(path, what))
    except IkelabError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"--{what} {path}: {exc}", field=what, value=path) from None


def _live_config(args: argparse.Namespace) -> object:
    """The IkeConfig of ``ikelab connect`` / ``ikelab respond`` from their options."""
    from .config import IkeConfig
    from .errors import ConfigError

    from datetime import datetime, timezone

    own_port = args.local_port if args.command == "connect" else args.port
    if args.encap == "always" and own_port != 500:
        # ESP in UDP moves IKE to port 4500 (RFC 7296 2.23), which a run binds only beside port 500
        raise ConfigError(f"--encap always needs our IKE port to be 500, not {own_port}: IKE then moves to port "
                          "4500, which ikelab binds only beside 500", field="encap", value=own_port)
    cookies: dict = {"cookie_threshold": None}  # an initiator never asks for cookies
    given = getattr(args, "cookie_threshold", None)  # ikelab respond only; unset: IkeConfig's default (RFC 7296 2.6)
    if args.command == "respond":
        if given is None:
            cookies = {}
        elif given == "never" or (given.isascii() and given.isdigit()):  # not '²', which int() refuses
            cookies = {"cookie_threshold": None if given == "never" else int(given)}
        else:
            raise ConfigError(f"--cookie-threshold {given}: give a number of half-open IKE SAs, 0 for always, "
                              "or never", field="cookie_threshold", value=given)
    # a live run checks certificate validity against the real clock (the engine's time 0 is now)
    settings: dict = dict(epoch=datetime.now(timezone.utc), local_id=args.id,
                          remote_id="%any" if args.remote_id is None else args.remote_id,
                          retransmit_timeout=args.retransmit_timeout, retransmit_tries=args.retransmit_tries,
                          retransmit_base=1.4, **cookies, encapsulation=args.encap, mode=args.mode,
                          allow_weak=args.allow_weak,
                          # a run starts afresh: whatever IKE SAs the peer still holds for us are stale (2.4)
                          initial_contact=args.command == "connect")
    if args.proposal:
        settings["ike_proposals"] = tuple(args.proposal)
    if args.esp_proposal:
        settings["esp_proposals"] = tuple(args.esp_proposal)
    if args.ts:
        settings["local_ts"], settings["remote_ts"] = args.ts  # each may list selectors with commas
    if args.dpd:
        settings["dpd_interval"] = args.dpd
    if args.childless:
        settings["childless"] = True
    for option, name, want in (("--vip", "vip", "an address per family (0.0.0.0 or :: for any)"),
                               ("--pool", "pool", "a network per family, e.g. 10.3.0.0/24")):
        given_items = getattr(args, name, None)  # IkeConfig would say "or None", which is Python, not an option
        if given_items is not None and not any(part.strip() for item in given_items for part in item.split(",")):
            raise ConfigError(f"{option} is empty: give {want}, or leave {option} out", field=name, value="")
    if getattr(args, "vip", None):  # ikelab connect only; one per family
        settings["vip"] = tuple(args.vip)
    if getattr(args, "pool", None):  # ikelab respond only; one per family
        settings["pool"] = tuple(args.pool)
    if args.fragmentation or args.fragment_size is not None:  # a size alone asks for fragmentation too
        settings["fragmentation"] = True
        if args.fragment_size is not None:
            settings["fragment_size"] = args.fragment_size
    if args.psk_file and (args.cert or args.key or args.ca):  # one would be ignored without a word
        raise ConfigError("give --psk-file, or --cert with --key and --ca, not both", field="psk")
    if args.psk_file:
        psk = _read_file(args.psk_file, "psk").strip()
        # strongSwan's hex and base64 forms (as in swanctl.conf's secrets), which IkeConfig decodes from text
        settings["psk"] = psk.decode("latin-1") if psk[:2] in (b"0x", b"0s") else psk
    elif args.cert:
        if not (args.key and args.ca):
            raise ConfigError("--cert needs --key and --ca", field="key")
        # a chain file: our certificate first, then the intermediate CAs we send with it (RFC 7296 3.6)
        chain = _certificates(args.cert, "cert")
        settings["certificate"], settings["intermediates"] = chain[0], tuple(chain[1:])
        settings["private_key"] = _read_file(args.key, "key")
        settings["trust_anchors"] = tuple(_certificates(args.ca, "ca"))  # a bundle: each CA is trusted
    else:
        raise ConfigError("give --psk-file FILE, or --cert FILE --key FILE --ca FILE", field="psk")
    try:
        config = IkeConfig(**settings)
    except ConfigError as exc:  # IkeConfig names its fields; say the option that was typed
        raise _named_by_option(exc) from None
    _check_own_certificate(config)
    return config


def _check_own_certificate(config: Any) -> None:
    """ConfigError if our certificate is not valid now: the peer would refuse it (RFC 5280 4.1.2.5), and all
    the run could report is an authentication failure without the reason, which only we know."""
    from .errors import ConfigError

    cert = config.certificate
    if cert is None:
        return
    start, end, now = cert.not_valid_before_utc, cert.not_valid_after_utc, config.epoch
    if not start <= now <= end:
        state = f"expired at {end:%Y-%m-%d %H:%M:%S}Z" if now > end else f"is valid only from {start:%Y-%m-%d %H:%M:%S}Z"
        raise ConfigError(f"--cert: our certificate '{config.local_id}' {state}; the peer would refuse it "
                          "(RFC 5280 4.1.2.5)", field="certificate")


#: IkeConfig fields and the connect / respond options that set them
_OPTION_OF = {"ike_proposals": "--proposal", "esp_proposals": "--esp-proposal", "local_ts": "--ts LOCAL",
              "remote_ts": "--ts REMOTE", "local_id": "--id", "remote_id": "--remote-id", "psk": "--psk-file",
              "private_key": "--key", "certificate": "--cert", "intermediates": "--cert", "trust_anchors": "--ca",
              "fragment_size": "--fragment-size", "retransmit_tries": "--retransmit-tries",
              "retransmit_timeout": "--retransmit-timeout", "dpd_interval": "--dpd", "vip": "--vip", "pool": "--pool",
              "cookie_threshold": "--cookie-threshold"}


def _named_by_option(exc: Any) -> Any:
    """``exc`` with its leading IkeConfig field name (``fragment_size = 100 ...``, ``psk is empty``) replaced
    by the option that sets it."""
    import re

    text = str(exc)
    match = re.match(r"([a-z_]+)(\[\d+\])?( = |: | )", text)
    option = _OPTION_OF.get(match.group(1)) if match else None
    if match is None or option is None:
        return exc
    joint = {" = ": " ", ": ": ": "}.get(match.group(3), " ")
    exc.args = (option + joint + text[match.end():],)  # same class and field
    return exc


def _run_options(args: argparse.Namespace) -> object:
    from .errors import ConfigError
    from .peer import RunOptions

    # the capture and the key tables are written when the run ends: a path that cannot work is refused now
    try:
        _check_output_paths(args)
    except OSError as exc:  # a folder on the way that we may not search
        raise ConfigError(f"--pcap / --keys: cannot look there: {exc.strerror or exc} ({exc.filename})",
                          field="pcap", value=exc.filename) from None
    if args.ping_src is not None and args.ping is None:  # it would be ignored without a word
        raise ConfigError(f"--ping-src {args.ping_src} needs --ping ADDR, the inner address to send the echoes to",
                          field="ping_src", value=args.ping_src)
    if not (0 <= args.keepalive < float("inf")):  # NaN fails both comparisons
        raise ConfigError(f"--keepalive {args.keepalive}: give seconds, or 0 for no NAT-keepalives", field="keepalive",
                          value=args.keepalive)
    return RunOptions(duration=args.duration, rekey_after=args.rekey_after, rekey_ike_after=args.rekey_ike_after,
                      ping=args.ping, ping_src=args.ping_src, ping_count=args.ping_count, wait=args.wait,
                      pcap=args.pcap, keys=args.keys, quiet=args.quiet, keepalive=args.keepalive or None)


def _check_output_paths(args: argparse.Namespace) -> None:
    """ConfigError unless ``--pcap`` and ``--keys`` can be written at the end of the run."""
    import os
    from pathlib import Path

    from .errors import ConfigError

    def writable_folder(path: Path) -> bool:  # a writable file passes os.access: the file's parent must be a folder
        return path.is_dir() and os.access(path, os.W_OK)

    if args.pcap and (Path(args.pcap).is_dir() or not writable_folder(Path(args.pcap).resolve().parent)):
        raise ConfigError(f"--pcap {args.pcap}: cannot write a file there (a directory, or no such writable folder)",
                          field="pcap", value=args.pcap)
    if args.keys and Path(args.keys).exists() and not (Path(args.keys).is_dir() and os.access(args.keys, os.W_OK)):
        raise ConfigError(f"--keys {args.keys}: not a directory we can write into", field="keys", value=args.keys)
    if args.keys and not Path(args.keys).exists() and not writable_folder(Path(args.keys).resolve().parent):
        # the directory itself is made at the end of the run, as --pcap's file is; its folder must be there
        raise ConfigError(f"--keys {args.keys}: no such writable folder to make it in", field="keys", value=args.keys)


def _print_flush(text: str) -> None:
    print(text, flush=True)


def _run_live(coro_factory: Callable[[], object], command: str) -> int:
    import asyncio

    from .net import NetError

    try:
        return int(asyncio.run(coro_factory()))  # type: ignore[arg-type]
    except NetError as exc:
        print(f"ikelab {command}: error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code


def _cmd_connect(args: argparse.Namespace) -> int:
    from .peer import run_connect

    config = _live_config(args)
    return _run_live(lambda: run_connect(config, (args.peer, args.port), _run_options(args), local=args.local,
                                         port=args.local_port, out=_print_flush), "connect")


def _cmd_respond(args: argparse.Namespace) -> int:
    from .peer import run_respond

    config = _live_config(args)
    return _run_live(lambda: run_respond(config, args.listen, _run_options(args), port=args.port,
                                         out=_print_flush), "respond")


_LIVE_EPILOG = (
    "exit status: 0 the IKE SA and its first CHILD SA were established; 1 other failure; 2 bad options; "
    "3 the peer did not answer (retransmissions, then timeout; also later, to a liveness check, RFC 7296 2.4); "
    "4 authentication failed; "
    "5 no common proposal (or traffic selectors); 6 the UDP port is already in use."
)


class _NoKeyOnTheCommandLine(argparse.Action):
    """``--psk KEY``: refused with the way to give a key, which is never an argument (``ps`` shows arguments)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        parser.error("--psk takes no key: a key on the command line is visible to every user of the machine "
                     "(ps); put it in a file and give --psk-file FILE")


def _live_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--id", required=True, help="our identity, typed as strongSwan does: user@host = RFC822, "
                   "a name = FQDN, an address = IPV4/IPV6, 'C=.., CN=..' = DN; override with a prefix "
                   "(fqdn:, email:, ipv4:, ipv6:, keyid:, asn1dn:)")
    p.add_argument("--remote-id", help="the identity the peer must prove (default: any)")
    auth = p.add_argument_group("authentication (one of)")
    auth.add_argument("--psk-file", help="file holding the pre-shared key: its bytes, or strongSwan's 0x<hex> or "
                      "0s<base64>")
    # without this, argparse reads --psk as an abbreviation of --psk-file and the key as a file name
    auth.add_argument("--psk", action=_NoKeyOnTheCommandLine, help=argparse.SUPPRESS)
    auth.add_argument("--cert", help="our certificate (PEM or DER); a PEM chain: ours, then intermediate CAs to send")
    auth.add_argument("--key", help="our private key (PEM)")
    auth.add_argument("--ca", help="the trusted CA certificate(s) of the peer's chain (PEM bundle or DER)")
    p.add_argument("--proposal", action="append", help="IKE proposal, strongSwan syntax (repeatable, or "
                   "a comma-separated list), e.g. aes128-sha256-modp2048")
    p.add_argument("--esp-proposal", action="append", help="ESP proposal (repeatable, or a comma-separated "
                   "list), e.g. aes128-sha256; add a DH group for PFS")
    p.add_argument("--ts", nargs=2, metavar=("LOCAL", "REMOTE"), help="traffic selectors, e.g. "
                   "198.51.100.1/32 203.0.113.1/32, each a comma-separated list if need be (default: the IKE "
                   "addresses)")
    p.add_argument("--pcap", help="write the packets sent and received to this pcap file (the run then keeps "
                   "every packet and IKE SA in memory until it ends)")
    p.add_argument("--keys", help="write ikev2_decryption_table and esp_sa (Wireshark) into this directory (the "
                   "run then keeps a row of keys per SA in memory until it ends)")
    p.add_argument("--rekey-after", type=float, help="rekey the CHILD SA after S seconds")
    p.add_argument("--rekey-ike-after", type=float, help="rekey the IKE SA after S seconds (after the CHILD rekey)")
    p.add_argument("--duration", type=float, default=0.0, help="seconds to keep the SAs before DELETE (default 0; "
                   "inf: until Ctrl-C); without --pcap a long run keeps only its latest packets and events")
    p.add_argument("--dpd", type=float, help="liveness check (empty INFORMATIONAL) after S idle seconds; 0: none")
    p.add_argument("--ping", metavar="ADDR", help="send ICMP echoes to this inner address through ESP")
    p.add_argument("--ping-src", metavar="ADDR", help="inner source address of the echoes (default: from the TS; "
                   "in transport mode our IKE address)")
    p.add_argument("--ping-count", type=int, default=3, help="echoes per round (default 3)")
    p.add_argument("--encap", choices=("auto", "always", "never"), default="auto",
                   help="UDP encapsulation of ESP: auto (after NAT detection), always, never")
    p.add_argument("--mode", choices=("tunnel", "transport"), default="tunnel",
                   help="IPsec mode of the CHILD SAs (RFC 4301 4.1): tunnel protects whole IP packets between the "
                        "traffic selectors; transport protects the upper layer of packets between the two IKE hosts, "
                        "asked for with N(USE_TRANSPORT_MODE) (RFC 7296 1.3.1) and granted only for those two hosts' "
                        "selectors; default tunnel")
    p.add_argument("--keepalive", type=float, default=20.0, metavar="S",
                   help="behind a NAT, send a NAT-keepalive after S idle seconds on port 4500 (default 20; 0: never)")
    p.add_argument("--fragmentation", action="store_true",
                   help="offer IKE fragmentation (RFC 7383): with a peer that agrees, messages whose IP packet would "
                        "exceed the fragment size go out in SKF pieces (strongSwan: fragmentation = yes)")
    p.add_argument("--fragment-size", type=int, metavar="N",
                   help="largest IP packet of an IKE fragment, in octets (default 1280; implies --fragmentation)")
    p.add_argument("--childless", action="store_true",
                   help="the IKE SA alone first, then the CHILD SA with CREATE_CHILD_SA, when the responder announces "
                        "it can (RFC 6023; strongSwan: childless = prefer); as responder, announce it")
    p.add_argument("--retransmit-timeout", type=float, default=1.0, help="first retransmission timeout (default 1 s)")
    p.add_argument("--retransmit-tries", type=int, default=3, help="retransmissions before giving up (default 3)")
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the IKE SA and CHILD SA (default 30; inf: no limit)")
    p.add_argument("--quiet", action="store_true", help="do not print ESP packets and key derivations")
    _allow_weak_option(p)


def _allow_weak_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-weak", action="store_true",
                   help="allow weak groups and algorithms, with a warning that says why each is weak (for teaching only)")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="ikelab", description="A teaching toolkit for IKEv2 and IPsec.")
    parser.add_argument("--version", action="version", version=f"ikelab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    derive = sub.add_parser(
        "derive",
        help="print a worked IKEv2 key schedule (DH, SKEYSEED, prf+, SK_*, KEYMAT)",
        description="Print a worked IKEv2 key schedule from a fixed seed: the DH values, g^ir, SKEYSEED, "
        "each prf+ block, the seven SK_* keys and a CHILD SA KEYMAT with and without PFS (RFC 7296 2.13-2.17).",
    )
    derive.add_argument("--group", default="MODP_2048",
                        help="DH group: IANA name, number or strongSwan keyword, e.g. MODP_2048, 14, modp2048, x25519 "
                        "(default MODP_2048)")
    derive.add_argument("--prf", default="PRF_HMAC_SHA2_256",
                        help="PRF transform: IANA name, number or strongSwan keyword such as prfsha384 "
                        "(default PRF_HMAC_SHA2_256)")
    derive.add_argument("--encr", default="ENCR_AES_CBC",
                        help="encryption transform: IANA name, number or strongSwan keyword such as aes256gcm16 or "
                        "chacha20poly1305 (default ENCR_AES_CBC)")
    derive.add_argument("--key-bits", type=int,
                        help="key length attribute in bits (default: the keyword's, else 128 for ciphers that have "
                        "one; 0 for none)")
    derive.add_argument("--integ",
                        help="integrity transform (IANA name, number or strongSwan keyword such as sha256), or NONE; "
                        "default NONE with an AEAD cipher, else AUTH_HMAC_SHA2_256_128")
    derive.add_argument("--seed", default="2026", help="seed for the nonces, SPIs and private keys (default 2026)")
    _allow_weak_option(derive)
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
    _allow_weak_option(demo)
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
    dis.add_argument("--ike-port", type=int, action="append", metavar="PORT", help="a UDP port besides 500 that carries IKE, e.g. that of ikelab connect --port 5600 (repeatable; Wireshark: Decode As)")
    dis.set_defaults(func=_cmd_dissect)

    flow = sub.add_parser(
        "flow",
        help="draw the flow diagram of a capture (matplotlib)",
        description="Draw a capture as Wireshark's Flow Graph: the endpoints as vertical lines, one labelled arrow "
        "per packet (ESP runs folded in long captures), exchanges coloured.",
    )
    flow.add_argument("capture", help="pcap or pcapng file")
    flow.add_argument("--keys", help="directory holding ikev2_decryption_table and/or esp_sa")
    flow.add_argument("--ike-port", type=int, action="append", metavar="PORT", help="a UDP port besides 500 that carries IKE, e.g. that of ikelab connect --port 5600 (repeatable; Wireshark: Decode As)")
    flow.add_argument("-o", "--output", default="flow.png", help="image file (.png, .svg, .pdf; default flow.png)")
    flow.add_argument("--fold", choices=("auto", "yes", "no"), default="auto",
                      help="fold runs of ESP packets into one arrow per SPI (default: auto, above 60 packets)")
    flow.add_argument("--timeline", action="store_true", help="add the SA lifetime timeline under the diagram")
    flow.add_argument("--all", action="store_true",
                      help="draw every frame (ARP, Neighbor Discovery, pings outside the SAs), not only IKE and ESP")
    flow.set_defaults(func=_cmd_flow)

    connect = sub.add_parser(
        "connect",
        help="initiate an IKE SA and CHILD SA with a real peer over UDP (e.g. strongSwan)",
        description="Initiate IKEv2 with PEER over UDP 500 (4500 after NAT detection), print each packet as it "
        "happens, optionally ping through ESP and rekey, and end with DELETE after --duration seconds or on Ctrl-C.",
        epilog=_LIVE_EPILOG,
    )
    connect.add_argument("peer", help="the peer's IP address")
    connect.add_argument("--port", type=int, default=500, help="the peer's IKE port (default 500)")
    connect.add_argument("--local", help="our address (default: the one the route to PEER uses)")
    connect.add_argument("--local-port", type=int, default=500,
                         help="our IKE port (default 500; with 500, port 4500 is bound too, for NAT-T)")
    connect.add_argument("--vip", metavar="ADDR", action="append",
                         help="ask the peer for our inner address in IKE_AUTH (CP, RFC 7296 2.19): 0.0.0.0 or :: "
                              "for any, or the address we would like; repeatable (or a comma-separated list), one "
                              "per family, e.g. --vip 0.0.0.0 --vip :: (strongSwan: vips)")
    _live_options(connect)
    connect.set_defaults(func=_cmd_connect)

    respond = sub.add_parser(
        "respond",
        help="answer IKEv2 initiators on an address (UDP 500 and 4500)",
        description="Wait for an initiator on --listen ADDR, answer its IKE_SA_INIT and IKE_AUTH, answer pings "
        "through ESP, and run until the peer deletes the IKE SA, --duration ends, or Ctrl-C (then DELETE); a peer "
        "that deletes the IKE SA and at once starts a new one (reauthentication) is followed.",
        epilog=_LIVE_EPILOG,
    )
    respond.add_argument("--listen", required=True, help="the address to listen on")
    respond.add_argument("--port", type=int, default=500,
                         help="the IKE port (default 500; with 500, port 4500 is bound too, for NAT-T)")
    respond.add_argument("--cookie-threshold", metavar="N",
                         help="answer IKE_SA_INIT with N(COOKIE) once N IKE SAs are half open, 0 for always, "
                              "never for never (RFC 7296 2.6; default: 30, as IkeConfig)")
    respond.add_argument("--pool", metavar="NETWORK", action="append",
                         help="hand initiators that ask for one an inner address from this network, e.g. "
                              "10.3.0.0/24; repeatable (or a comma-separated list), one per family, e.g. "
                              "--pool 10.3.0.0/24 --pool 2001:db8:3::/120 (CP, RFC 7296 2.19; strongSwan: pools)")
    _live_options(respond)
    respond.set_defaults(func=_cmd_respond)
    return parser


def _warning_printer(command: str) -> Callable[..., None]:
    """``warnings.showwarning`` for the command line: ikelab's own warnings as one line each, once.

    A weak group asked for with --allow-weak warns at every use (each IKE SA of
    a run), and at each layer that meets it (the proposal keyword, then the
    group); the user needs to read why it is weak once per algorithm, not a
    source line each time.
    """
    shown: set[str] = set()
    python_default = warnings.showwarning

    def show(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:
        if not issubclass(category, (WeakAlgorithmWarning, CaptureWarning)):
            python_default(message, category, filename, lineno, file, line)
            return
        key = getattr(message, "algorithm", None) or str(message)
        if key not in shown:
            shown.add(key)
            print(f"ikelab {command}: warning: {message}", file=sys.stderr)

    return show


#: path options and what each names; an empty one would be read as the current directory (``Path('')``) or
#: skipped as if not given (``if args.pcap``), so it is refused instead
_PATH_OPTIONS = {"out": ("--out", "a directory"), "keys": ("--keys", "a directory"), "pcap": ("--pcap", "a file"),
                 "psk_file": ("--psk-file", "a file"), "cert": ("--cert", "a file"), "key": ("--key", "a file"),
                 "ca": ("--ca", "a file")}


def _check_paths_given(args: argparse.Namespace) -> None:
    """ConfigError for a path option given as an empty string (``--out "$DIR"`` with DIR unset)."""
    from .errors import ConfigError

    for name, (option, what) in _PATH_OPTIONS.items():
        if getattr(args, name, None) == "":
            raise ConfigError(f"{option}: the path is empty; give {what}", field=name, value="")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    with warnings.catch_warnings():
        warnings.simplefilter("always", WeakAlgorithmWarning)  # every one reaches the printer, which says each once
        warnings.simplefilter("always", CaptureWarning)
        warnings.showwarning = _warning_printer(args.command)
        try:
            _check_paths_given(args)
            return func(args)
        except IkelabError as exc:
            text = str(exc)
            if isinstance(exc, WeakAlgorithmError) and hasattr(args, "allow_weak"):  # the option, not the keyword
                text = for_the_command_line(text)
            print(f"ikelab {args.command}: error: {text}", file=sys.stderr)
            return EXIT_USAGE
        except BrokenPipeError:  # e.g. `ikelab derive | head`
            return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
