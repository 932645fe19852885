"""ikelab.records: quick_init and from_wire build the same frozen records as the dataclass constructors."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from ikelab import events as ev
from ikelab.exchanges_common import Datagram
from ikelab.records import quick_init

RECORDS = sorted({cls for cls in vars(ev).values() if isinstance(cls, type) and issubclass(cls, ev.Event)},
                 key=lambda cls: cls.__name__) + [Datagram]


def _reference(cls: type) -> type:
    """The same fields made into a frozen dataclass by :mod:`dataclasses` alone (its own __init__)."""
    return dataclasses.make_dataclass(cls.__name__, [(f.name, f.type, f) for f in dataclasses.fields(cls)],
                                      frozen=True)


def _sample(n: int) -> object:
    return (f"value {n}", n, (f"192.0.2.{n}", 500 + n))[n % 3]


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: c.__name__)
def test_same_signature_and_values_as_the_dataclass_init(cls: type) -> None:
    ref = _reference(cls)

    def shape(c: type) -> list[tuple[object, ...]]:
        return [(p.name, p.kind, p.annotation, repr(p.default)) for p in inspect.signature(c).parameters.values()]

    assert shape(cls) == shape(ref)
    fields = dataclasses.fields(cls)
    required = [f for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    args = [_sample(n) for n in range(len(required))]
    assert vars(cls(*args)) == vars(ref(*args))  # defaults and factories filled in alike
    every = [_sample(n) for n in range(len(fields))]
    obj = cls(*every)
    assert vars(obj) == vars(ref(*every))
    assert obj == cls(**{f.name: v for f, v in zip(fields, every)})  # keywords work as well
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, fields[0].name, "changed")


def test_default_factory_makes_a_new_value_per_record() -> None:
    a, b = ev.Failure(0.0, "initiator", None, "x"), ev.Failure(0.0, "initiator", None, "y")
    assert a.details == {} and a.details is not b.details


def test_missing_argument_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="reason"):
        ev.Failure(0.0, "initiator", None)  # type: ignore[call-arg]


def test_refuses_what_it_cannot_reproduce() -> None:
    @dataclasses.dataclass
    class Mutable:
        x: int

    @dataclasses.dataclass(frozen=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            pass

    @dataclasses.dataclass(frozen=True, slots=True)
    class Slotted:
        x: int

    @dataclasses.dataclass(frozen=True)
    class KwOnly:
        x: int = dataclasses.field(kw_only=True)

    for cls in (Mutable, Checked, Slotted, KwOnly):
        with pytest.raises(TypeError, match="quick_init"):
            quick_init(cls)


def test_from_wire_builds_what_the_checked_constructor_builds() -> None:
    from ikelab.records import from_wire

    @from_wire
    @dataclasses.dataclass(frozen=True, slots=True)
    class Pair:
        name: str
        values: tuple[int, ...] = ()

        def __post_init__(self) -> None:  # the public path normalises; _from_wire trusts its caller
            object.__setattr__(self, "values", tuple(self.values))

    fast = Pair._from_wire("a", (1, 2))  # type: ignore[attr-defined]
    assert fast == Pair("a", [1, 2]) and type(fast.values) is tuple
    assert type(fast) is Pair and hash(fast) == hash(Pair("a", (1, 2)))  # the twin it was filled as is gone
    assert not hasattr(fast, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.name = "b"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del fast.name

    @dataclasses.dataclass(frozen=True, slots=True)
    class Private:
        _hidden: int

    with pytest.raises(TypeError, match="from_wire"):
        from_wire(Private)


def test_key_schedules_are_slotted_records() -> None:
    """IKE SA and CHILD SA keys live as long as their SA: no per-object __dict__ (see bench_handshake)."""
    from ikelab import keys
    from ikelab.constants import EncrId, IntegId

    ike = keys.ike_sa_keys("PRF_HMAC_SHA2_256", bytes(32), bytes(16), bytes(16), bytes(8), bytes(range(8)),
                           encr=EncrId.ENCR_AES_CBC, encr_key_bits=128, integ=IntegId.AUTH_HMAC_SHA2_256_128)
    child = keys.child_sa_keys("PRF_HMAC_SHA2_256", ike.sk_d, bytes(16), bytes(16), encr=EncrId.ENCR_AES_CBC,
                               encr_key_bits=128, integ=IntegId.AUTH_HMAC_SHA2_256_128)
    for obj in (ike, child):
        assert not hasattr(obj, "__dict__")
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.prf = None  # type: ignore[misc]
    assert ike.keymat == b"".join(ike.as_dict().values()) and len(ike.sk_ei) == 16
    assert child.keymat == child.encr_i + child.integ_i + child.encr_r + child.integ_r
