"""What the speed-ups of 2026-12-01 must not change (docs/performance.md, "Fewer enum and wrapper calls").

Each shortcut is compared with the path it skips: the same values, and for anything the shortcut
does not take, the same errors as before.
"""

from __future__ import annotations

import os

import pytest

from ikelab import exchanges_wire as W
from ikelab import proposals as props
from ikelab.constants import AuthMethod, DhId, TransformType
from ikelab.errors import NegotiationError
from ikelab.sa_payload import Proposal, Transform


# ------------------------------------------------------------------ enum members without the enum's calls


def test_member_name_attribute_is_the_name() -> None:
    for method in AuthMethod:
        assert method._name_ == method.name


def _proposal(*groups: int) -> Proposal:
    transforms = (Transform(TransformType.ENCR, 12, 128), Transform(TransformType.PRF, 5),
                  Transform(TransformType.INTEG, 12)) + tuple(Transform(TransformType.DH, g) for g in groups)
    return Proposal(1, 1, b"", transforms)


@pytest.mark.parametrize("groups", [(19,), (31, 19), (14,), (0, 19)])
def test_first_dh_is_the_enum_call(groups: tuple[int, ...]) -> None:
    got = W.first_dh([_proposal(*groups)])
    want = DhId([g for g in groups if g][0])
    assert got is want


def test_first_dh_of_an_unknown_group_raises_as_before() -> None:
    with pytest.raises(ValueError):
        W.first_dh([_proposal(4321)])
    assert W.first_dh([_proposal()]) is None


@pytest.mark.parametrize("ke_group", [DhId.ECP_256, 19, DhId.MODP_2048, 14])
def test_select_takes_a_member_as_its_number(ke_group: object) -> None:
    offered = (_proposal(14, 19),)
    configured = (_proposal(19, 14),)
    assert props.select(offered, configured, ke_group=ke_group) == props.select(offered, configured,
                                                                                ke_group=int(ke_group))  # type: ignore[call-overload]
    with pytest.raises(NegotiationError):
        props.select(offered, (_proposal(20),), ke_group=ke_group)
