"""``ikelab connect`` and ``ikelab respond``: a run with a real peer, configured from the command line's options.

The options become an :class:`ikelab.config.IkeConfig` (PSK, or certificate,
key and CAs, RFC 7296 2.15, 3.6; proposals, traffic selectors, virtual IPs
(2.19), cookies (2.6), fragmentation (RFC 7383)) and the run's
:class:`ikelab.peer.RunOptions`; an error names the option that was typed,
not the IkeConfig field.  The runs themselves are :mod:`ikelab.peer` and
:mod:`ikelab.gateway`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable


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
        state = (f"expired at {end:%Y-%m-%d %H:%M:%S}Z" if now > end
                 else f"is valid only from {start:%Y-%m-%d %H:%M:%S}Z")
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
    from .gateway import run_respond

    config = _live_config(args)
    return _run_live(lambda: run_respond(config, args.listen, _run_options(args), port=args.port,
                                         out=_print_flush), "respond")
