"""The ikelab exception hierarchy.

Every error says *what* was wrong and *which* value or field caused it, so a
student reading a failure knows where to look.  Protocol code maps these
errors to the Notify that RFC 7296 section 3.10.1 prescribes (see
``notify_type`` on each class).
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from typing import Any


class IkelabError(Exception):
    """Base class of every error that ikelab raises on purpose."""

    #: Name of the RFC 7296 error Notify that answers this error, if any.
    notify_type: str | None = None


class ConfigError(IkelabError, ValueError):
    """A configuration or argument value is wrong (bad key length, unknown name...)."""

    def __init__(self, message: str, *, field: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class UnknownAlgorithmError(ConfigError):
    """An algorithm name or transform ID that ikelab does not implement."""


class WeakAlgorithmError(ConfigError):
    """A weak group or algorithm was requested without ``allow_weak=True``."""


class WeakAlgorithmWarning(UserWarning):
    """Issued when a weak group or algorithm is used because it was explicitly allowed.

    ``algorithm`` names what is weak (``"MODP_1024"``, ``"ENCR_3DES"``...).  It is
    the same whichever layer warns (a proposal keyword, then the group itself),
    so a program can tell the user once per algorithm; without a name it is the
    message itself.
    """

    def __init__(self, message: str, algorithm: str | None = None) -> None:
        super().__init__(message)
        self.algorithm = algorithm if algorithm is not None else message


class ParseError(IkelabError):
    """Bytes on the wire that do not decode.

    ``field`` names the field being decoded and ``offset`` the byte offset
    (from the start of the datagram) where the problem was found.
    """

    notify_type = "INVALID_SYNTAX"

    def __init__(self, message: str, *, field: str = "?", offset: int = 0) -> None:
        super().__init__(f"{message} (field {field}, offset {offset})")
        self.reason = message
        self.field = field
        self.offset = offset


class UnsupportedCriticalPayloadError(ParseError):
    """A payload we do not understand had its critical bit set (RFC 7296 2.5)."""

    notify_type = "UNSUPPORTED_CRITICAL_PAYLOAD"

    def __init__(self, payload_type: int, *, offset: int = 0) -> None:
        super().__init__(f"unsupported critical payload type {payload_type}", field="next_payload", offset=offset)
        self.payload_type = payload_type


class InvalidPublicValueError(IkelabError):
    """A Diffie-Hellman public value failed the checks of RFC 6989 (or is malformed)."""

    notify_type = "INVALID_SYNTAX"

    def __init__(self, message: str, *, group: str | int | None = None) -> None:
        super().__init__(message if group is None else f"{message} (group {group})")
        self.group = group


class NegotiationError(IkelabError):
    """No acceptable proposal, group or traffic selector (RFC 7296 2.7, 2.9)."""

    notify_type = "NO_PROPOSAL_CHOSEN"

    def __init__(self, message: str, *, notify_type: str | None = None,
                 reasons: tuple[tuple[int, str, str], ...] = ()) -> None:
        super().__init__(message)
        if notify_type is not None:
            self.notify_type = notify_type
        #: Why each (offered, configured) pair failed, when a proposal choice failed: (offered Proposal Num,
        #: the configured proposal in strongSwan syntax, the reason), every pair, in the order they were tried
        self.reasons = reasons


class AuthenticationError(IkelabError):
    """The peer's AUTH payload, certificate or identity did not verify (RFC 7296 2.15)."""

    notify_type = "AUTHENTICATION_FAILED"


class IntegrityError(IkelabError):
    """An ICV or AEAD tag did not verify, or decrypted padding was malformed."""

    notify_type = None  # discarded unanswered: RFC 7296 2.21.3 answers only what passed the integrity checks


class ReplayError(IkelabError):
    """A sequence number was already seen or is left of the anti-replay window (RFC 4303 3.4.3)."""


class ProtocolError(IkelabError):
    """A message is well formed but not legal in the current state."""

    def __init__(self, message: str, *, notify_type: str | None = "INVALID_SYNTAX") -> None:
        super().__init__(message)
        self.notify_type = notify_type


class CaptureError(IkelabError):
    """A capture file (pcap, pcapng, key table) is malformed or of an unsupported kind."""


class CaptureWarning(UserWarning):
    """A capture file or key table was read only in part: a truncated last record (read with
    ``strict=False``), or a key table's fields beyond those of a record, which Wireshark ignores too."""


class UnknownSpiError(IkelabError):
    """An ESP or AH packet whose SPI matches no SA in the SAD (RFC 4301 5.2, RFC 4303 3.4.2)."""

    notify_type = "INVALID_SPI"  # RFC 7296 2.21.4: MAY be reported in an INFORMATIONAL exchange

    def __init__(self, message: str, *, spi: int | None = None) -> None:
        super().__init__(message)
        self.spi = spi


class SaExpiredError(IkelabError):
    """An SA reached its hard lifetime or its sequence counter would cycle (RFC 4301 4.4.2.1, RFC 4303 3.3.3)."""


class PolicyError(IkelabError):
    """A packet that the SPD says must be discarded: a selector mismatch after decapsulation (RFC 4301 5.2)
    or traffic that arrived unprotected although a PROTECT policy covers it."""


#: What refuse_weak's error tells a caller of the Python API; the command line spells it --allow-weak.
_OPT_IN = "pass allow_weak=True to use it anyway"


def for_the_command_line(text: str) -> str:
    """``text`` with refuse_weak's advice as the command line gives it (``--allow-weak``)."""
    return text.replace(_OPT_IN, "give --allow-weak to use it anyway")


#: The package's directory: frames of files below it are ikelab's own (see warn_outside).
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_outside(warning: Warning) -> None:
    """``warnings.warn(warning)``, attributed to the first line outside ikelab: the user's own call.

    Python shows a warning once per place that raised it (the "default" filter), so a place inside
    ikelab would be shown once per process for every caller, and would name a line the user never
    wrote.  Frames of code compiled from a string (``<string>``: the ``__init__`` that dataclasses
    and :mod:`ikelab.records` write) are passed over too.
    """
    frame = sys._getframe(1)
    level = 2  # warnings.warn's stacklevel of that frame, our caller
    while frame is not None and (frame.f_code.co_filename.startswith(_PACKAGE_DIR)
                                 or frame.f_code.co_filename == "<string>"):
        frame = frame.f_back
        level += 1
    warnings.warn(warning, stacklevel=level)


def refuse_weak(reason: str, *, allow_weak: bool, field: str, value: Any = None,
                algorithm: str | None = None) -> None:
    """The project-wide rule for weak groups and algorithms.

    Refuse with :class:`WeakAlgorithmError` unless ``allow_weak`` is true;
    when it is, go ahead but warn (:class:`WeakAlgorithmWarning`) with
    ``reason``, which says *why* the algorithm is weak, and ``algorithm``, its name.
    """
    if not allow_weak:
        raise WeakAlgorithmError(f"{reason}; {_OPT_IN}", field=field, value=value)
    warn_outside(WeakAlgorithmWarning(reason, algorithm))


def check_seconds(value: Any, field: str) -> float:
    """The project-wide rule for a time in seconds: a finite number, else ConfigError naming ``field``.

    NaN would make every comparison false (an SA whose lifetime never ends),
    and infinity would never be reached by a clock that runs until it.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{field} must be a finite time in seconds, not {value!r}", field=field, value=value)
    return float(value)
