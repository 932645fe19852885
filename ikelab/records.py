"""Frozen dataclass records that are quick to build (the engine makes about 20 per handshake).

A frozen dataclass forbids ``obj.field = value``, so the ``__init__`` that
:mod:`dataclasses` writes for it stores every field with
``object.__setattr__(obj, name, value)``: a global lookup and a call per field,
about 70 ns each.  An IKE_SA_INIT + IKE_AUTH handshake reports some 18 events
with 240 fields between them (see :mod:`ikelab.events`), which made their
construction alone about 15 us of a 0.55 ms handshake.

:func:`quick_init` replaces that ``__init__`` with one of the same signature
that writes the values straight into the instance ``__dict__``, which is what
``object.__setattr__`` ends up doing too.  The record stays frozen (assigning
to a field still raises ``FrozenInstanceError``), equal to what the dataclass
``__init__`` would have made, and no slower to read.  Like :mod:`dataclasses`
itself, it writes the function's source and compiles it once per class; for
``Datagram`` it reads::

    def __init__(self, payload, src, dst, kind=_default_kind):
        _d = self.__dict__
        _d['payload'] = payload
        _d['src'] = src
        _d['dst'] = dst
        _d['kind'] = kind
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


__all__ = ["quick_init"]
