"""The lesson 11 exercise check: 4 + 2(n - 1) IKEv2 messages (RFC 7296 1.2, 1.3, worked by hand)."""

from __future__ import annotations

import pytest

from ikelab import exercises
from ikelab.exercises import ExerciseFailed


@pytest.mark.parametrize("n, right", [(1, 4), (4, 10)])
def test_right_answer(n: int, right: int, capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("comments.ikev2-messages", right, n_children=n)
    assert capsys.readouterr().out.startswith("Correct! [comments.ikev2-messages]")


@pytest.mark.parametrize("answer, hint", [(..., "no answer yet"), (12, "comes with IKE_AUTH"), (18, "IKEv1"),
                                          (15, "IKEv1"), (8, "IKE_SA_INIT exchange"), (11, "two messages per"),
                                          ("10", "should be an int")])
def test_wrong_answers(answer: object, hint: str) -> None:
    with pytest.raises(ExerciseFailed) as info:
        exercises.check("comments.ikev2-messages", answer, n_children=4)
    assert hint in info.value.reason
