"""Enum bases that print the same on every Python ikelab supports (3.10 and newer).

Python 3.11 changed how enums with a mixed-in type print: ``str(DhId.MODP_2048)``
became ``"14"`` (it was ``"DhId.MODP_2048"``), and ``f"{Mode.TUNNEL}"``
became ``"Mode.TUNNEL"`` (it was the value, ``"tunnel"``).  A lesson
stored with its outputs must print the same thing on a classroom laptop with
Python 3.10 as in CI, so ikelab's enums use these bases, which pin the 3.11
behaviour:

* :class:`NumberEnum`, for the IANA registries: ``str()`` and ``format()`` give
  the number, as for an ``int`` (``.name`` gives the name);
* :class:`NameEnum`, for ikelab's own string-valued states and modes:
  ``str()`` and ``format()`` give ``Class.MEMBER`` (``.value`` gives the text),
  except where a class prints its value on purpose (``State``, ``Input``).
"""

from __future__ import annotations

from enum import Enum, IntEnum


class NumberEnum(IntEnum):
    """An ``IntEnum`` that prints as its number, as on Python 3.11 and newer."""

    __str__ = int.__repr__
    __format__ = int.__format__


class NameEnum(str, Enum):
    """A string-valued enum that prints as ``Class.MEMBER``, as on Python 3.11 and newer."""

    __str__ = Enum.__str__

    def __format__(self, format_spec: str) -> str:
        return format(str(self), format_spec)


__all__ = ["NameEnum", "NumberEnum"]
