"""ikelab's enums print the same on every supported Python (ikelab.enums).

Python 3.10 printed ``str(DhId.MODP_2048)`` as ``DhId.MODP_2048`` and formatted a
string-valued member as its value; 3.11 and newer print ``14`` and
``Class.MEMBER``.  The lessons are stored with their outputs, so a lesson run on
Python 3.10 must print what CI's Python printed.
"""

from __future__ import annotations

import enum
import importlib
import pkgutil

import pytest

import ikelab
from ikelab.constants import DhId, ExchangeType, NotifyType
from ikelab.enums import NameEnum, NumberEnum
from ikelab.ipsec_sa import Direction, Mode
from ikelab.policy import Action
from ikelab.state import Input, State


def _ikelab_enums() -> list[type[enum.Enum]]:
    found = []
    for info in pkgutil.iter_modules(ikelab.__path__):
        if info.name == "__main__":  # runs the command line
            continue
        module = importlib.import_module(f"ikelab.{info.name}")
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, enum.Enum) and value.__module__ == module.__name__
                    and value not in (NameEnum, NumberEnum)):
                found.append(value)
    return found


def test_every_ikelab_enum_uses_a_base_that_pins_printing() -> None:
    enums = _ikelab_enums()
    assert DhId in enums and State in enums and len(enums) >= 20
    loose = [e.__qualname__ for e in enums if not issubclass(e, (NumberEnum, NameEnum))]
    assert loose == [], f"use ikelab.enums.NumberEnum or NameEnum for {loose}"


@pytest.mark.parametrize("member,number", [(DhId.MODP_2048, 14), (ExchangeType.IKE_SA_INIT, 34),
                                           (NotifyType.INVALID_KE_PAYLOAD, 17)])
def test_registry_members_print_as_their_number(member: NumberEnum, number: int) -> None:
    assert str(member) == f"{member}" == "%s" % member == str(number)
    assert f"{member:>5}" == f"{number:>5}" and f"{member:04x}" == f"{number:04x}" and f"{member:d}" == str(number)
    assert repr(member) == f"<{type(member).__name__}.{member.name}: {number}>"
    assert member == number and member.name in repr(member)


def test_name_enums_print_as_class_and_member_unless_they_say_otherwise() -> None:
    assert str(Mode.TUNNEL) == f"{Mode.TUNNEL}" == "Mode.TUNNEL" and Mode.TUNNEL == "tunnel"
    assert f"{Direction.OUTBOUND:<22}|" == "Direction.OUTBOUND    |"
    assert f"{Action.PROTECT}" == "Action.PROTECT"
    # State and Input print as their names on purpose (their own __str__): so do their f-strings
    assert str(State.ESTABLISHED) == f"{State.ESTABLISHED}" == "ESTABLISHED"
    assert f"{Input.LIVENESS}" == "LIVENESS"
    assert f"{State.CLOSED:>8}" == "  CLOSED"
