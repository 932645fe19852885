"""ikelab: a teaching toolkit for IKEv2 (RFC 7296) and IPsec (RFC 4301, 4303).

Every value a lesson shows is computed by the real code in this package.
Heavy libraries (matplotlib, ipywidgets, sympy) are imported only by the
modules that draw, interact or do symbolic math; ``import ikelab`` needs only
``cryptography``.
"""

from __future__ import annotations

from . import constants, errors, rand
from .errors import (
    AuthenticationError,
    ConfigError,
    IkelabError,
    IntegrityError,
    InvalidPublicValueError,
    NegotiationError,
    ParseError,
    ProtocolError,
    ReplayError,
    UnknownAlgorithmError,
    WeakAlgorithmError,
    WeakAlgorithmWarning,
)
from .rand import DeterministicRandom, SystemRandom

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "DeterministicRandom",
    "IkelabError",
    "IntegrityError",
    "InvalidPublicValueError",
    "NegotiationError",
    "ParseError",
    "ProtocolError",
    "ReplayError",
    "SystemRandom",
    "UnknownAlgorithmError",
    "WeakAlgorithmError",
    "WeakAlgorithmWarning",
    "__version__",
    "constants",
    "errors",
    "rand",
]
