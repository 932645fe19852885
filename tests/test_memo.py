"""ikelab.memo.ByIdentity (and ByIdentities): a value is found for the very tuples it was remembered for, and no other."""

from __future__ import annotations

import gc

from ikelab.memo import ByIdentities, ByIdentity


def test_found_by_identity_and_extra_key_only() -> None:
    table: ByIdentity[str] = ByIdentity()
    a, b = (1, 2), tuple([1, 2])  # equal, but two objects
    assert a == b and a is not b
    assert table.put(a, "for a") == "for a"
    assert table.get(a) == "for a"
    assert table.get(b) is None  # equal is not enough
    table.put(a, "for a, dh None", None)
    assert table.get(a, None) == "for a, dh None" and table.get(a) == "for a"


def test_an_id_reused_by_another_object_is_not_a_hit() -> None:
    table: ByIdentity[str] = ByIdentity()
    table.put(tuple([object()]), "old")  # the table holds this tuple, so its id stays taken ...
    gc.collect()
    for _ in range(1000):  # ... and no new tuple can come back with it
        assert table.get(tuple([object()])) is None


def test_lists_are_not_remembered_and_the_table_is_bounded() -> None:
    table: ByIdentity[int] = ByIdentity(limit=4)
    items = [1, 2]
    assert table.put(items, 7) == 7  # type: ignore[arg-type]
    assert table.get(items) is None  # type: ignore[arg-type]
    keep = [tuple([n]) for n in range(10)]
    for n, t in enumerate(keep):
        table.put(t, n)
        assert len(table) <= 4
    assert table.get(keep[-1]) == 9


def test_several_tuples_found_by_identity_in_order_with_the_extra_key() -> None:
    table: ByIdentities[str] = ByIdentities()
    a, b = (1,), (2,)
    a2 = tuple([1])  # equal to a, another object
    assert table.put((a, b), "a b", "k") == "a b"
    assert table.get((a, b), "k") == "a b"
    assert table.get((a2, b), "k") is None  # equal is not enough
    assert table.get((b, a), "k") is None  # nor another order
    assert table.get((a, b)) is None and table.get((a, b), "other") is None  # the key counts


def test_several_tuples_kept_so_their_ids_stay_theirs_and_lists_never_remembered() -> None:
    table: ByIdentities[str] = ByIdentities(limit=4)
    table.put((tuple([object()]), tuple([object()])), "old")
    gc.collect()
    for _ in range(1000):
        assert table.get((tuple([object()]), tuple([object()]))) is None
    t, items = (1,), [2]
    assert table.put((t, items), "x") == "x"  # type: ignore[arg-type]
    assert table.get((t, items)) is None  # type: ignore[arg-type]
    keep = [(tuple([n]),) for n in range(10)]
    for n, objs in enumerate(keep):
        table.put(objs, str(n))
        assert len(table) <= 4
    assert table.get(keep[-1]) == "9"
