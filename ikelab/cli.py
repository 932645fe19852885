"""The ``ikelab`` command.

Each sub-command is a thin layer over the library: it parses options, calls
ikelab, and prints.  Bad options and typed ikelab errors give a one-line
message and exit status 2; nothing prints a traceback at a user.

The code is in four modules, one idea each, and this module holds
:func:`main`, the entry point (``ikelab = "ikelab.cli:main"``), which turns
ikelab's errors and warnings into one line each: :mod:`ikelab.cli_parser`
builds the options (:func:`build_parser`), :mod:`ikelab.cli_derive` is
``derive``, :mod:`ikelab.cli_captures` is ``demo``, ``dissect`` and ``flow``,
and :mod:`ikelab.cli_live` is ``connect`` and ``respond``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any, Callable, Sequence

# re-exported: callers and tests use these names
from .cli_captures import _cmd_demo, _cmd_dissect, _cmd_flow  # noqa: F401
from .cli_derive import _cmd_derive, _encryption  # noqa: F401
from .cli_live import _cmd_connect, _cmd_respond, _live_config  # noqa: F401
from .cli_parser import build_parser  # noqa: F401
from .errors import CaptureWarning, IkelabError, WeakAlgorithmError, WeakAlgorithmWarning, for_the_command_line

EXIT_USAGE = 2

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
