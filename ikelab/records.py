"""Frozen dataclass records that are quick to build (the engine makes dozens per handshake).

A frozen dataclass forbids ``obj.field = value``, so the ``__init__`` that
:mod:`dataclasses` writes for it stores every field with
``object.__setattr__(obj, name, value)``: a global lookup and a call per field,
about 70 ns each, and then runs ``__post_init__``, which normalises and checks
the values.  Two decorators give ikelab's records a quicker way in:

* :func:`quick_init`, for records with an instance ``__dict__`` (the events of
  :mod:`ikelab.events`, :class:`~ikelab.exchanges_common.Datagram`): an
  ``__init__`` of the same signature that writes the values straight into the
  ``__dict__``, which is what ``object.__setattr__`` ends up doing too.  An
  IKE_SA_INIT + IKE_AUTH handshake reports some 18 events with 240 fields
  between them; their construction alone was about 15 us of a 0.55 ms handshake.
* :func:`from_wire`, for slotted records (payloads, key schedules): a second
  constructor ``cls._from_wire(*values)`` for callers that made and checked
  every value themselves (a decoder, the key schedule).  It checks nothing
  again.  A frozen class refuses ``obj.field = value``, so ``_from_wire`` fills
  a blank instance of an unfrozen twin (a subclass with the plain
  ``object.__setattr__`` and no slots of its own, hence the same memory
  layout), then makes it an instance of the record's class by assigning
  ``__class__``.  That takes about half the instructions of calling each slot's
  ``__set__`` (2,501 against 4,662 for a 4-field record).

Either way the record stays frozen (assigning to a field still raises
``FrozenInstanceError``) and equal to what the public constructor would have
made.  Like :mod:`dataclasses` itself, both write a small function's source and
compile it once per class; for ``Datagram`` and ``KE`` they read::

    def __init__(self, payload, src, dst, kind=_default_kind):
        _d = self.__dict__
        _d['payload'] = payload
        _d['src'] = src
        _d['dst'] = dst
        _d['kind'] = kind

    def _from_wire(group, data, critical):
        _obj = _Blank()
        _obj.group = group
        _obj.data = data
        _obj.critical = critical
        _obj.__class__ = _cls
        return _obj
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


class _Factory:
    """The default of a field with a default_factory ("make one"), shown as dataclasses shows it."""

    def __repr__(self) -> str:
        return "<factory>"


_NO_VALUE = _Factory()


def quick_init(cls: type[T]) -> type[T]:
    """Give the frozen, non-slotted dataclass ``cls`` an ``__init__`` that stores into ``__dict__``."""
    if not (dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen):  # type: ignore[attr-defined]
        raise TypeError(f"quick_init needs a frozen dataclass, not {cls!r}")
    if hasattr(cls, "__slots__") or hasattr(cls, "__post_init__"):
        raise TypeError(f"quick_init cannot keep the __slots__ or __post_init__ of {cls.__qualname__}")
    namespace: dict[str, Any] = {"_NO_VALUE": _NO_VALUE}
    args, body = [], ["    _d = self.__dict__"]
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init or f.kw_only or f.name.startswith("_"):
            raise TypeError(f"quick_init handles plain positional fields, not {cls.__qualname__}.{f.name}")
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            args.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            args.append(f"{f.name}=_NO_VALUE")
            body.append(f"    if {f.name} is _NO_VALUE:\n        {f.name} = _factory_{f.name}()")
        else:
            args.append(f.name)
        body.append(f"    _d[{f.name!r}] = {f.name}")
    exec(f"def __init__(self, {', '.join(args)}):\n" + "\n".join(body), namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(cls.__init__.__annotations__)  # help() and inspect show the same signature
    cls.__init__ = init  # type: ignore[misc]
    return cls


def from_wire(cls: type[T]) -> type[T]:
    """Class decorator for a frozen slotted dataclass: add ``cls._from_wire(*values)`` (see above).

    ``_from_wire`` takes every field value in declaration order, already
    normalised as ``__post_init__`` would leave it (ints made enum members,
    lists made tuples...), and runs no check.
    """
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    if any(name.startswith("_") for name in names):  # the function's own names start with _
        raise TypeError(f"from_wire cannot build {cls.__qualname__}: a field name starts with _ ({names})")
    # the unfrozen twin: no __init__ to run, plain attribute assignment, no slots (the layout of cls)
    blank = type(f"_Blank{cls.__name__}", (cls,), {"__slots__": (), "__init__": object.__init__,
                                                    "__setattr__": object.__setattr__,
                                                    "__delattr__": object.__delattr__})
    lines = [f"def _from_wire({', '.join(names)}):", "    _obj = _Blank()"]
    lines += [f"    _obj.{name} = {name}" for name in names]
    lines += ["    _obj.__class__ = _cls", "    return _obj"]
    namespace: dict[str, Any] = {"_Blank": blank, "_cls": cls}
    exec("\n".join(lines), namespace)
    cls._from_wire = staticmethod(namespace["_from_wire"])  # type: ignore[attr-defined]
    return cls


__all__ = ["from_wire", "quick_init"]
