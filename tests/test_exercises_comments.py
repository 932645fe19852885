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


# --- comments.renewal-cost (RFC 7296 2.8, RFC 7815) -------------------------------------------------------------
# By hand: hourly renewals of a tunnel of h hours (h not whole) are k = floor(h); the full initiator's each cost a
# CREATE_CHILD_SA and an INFORMATIONAL exchange (4 messages), the minimal initiator's an INFORMATIONAL Delete of the
# IKE SA plus IKE_SA_INIT and IKE_AUTH (6); both start with the 4 messages of the setup.

@pytest.mark.parametrize("hours, right", [(8.5, (36, 52)), (3.25, (16, 22)), (1.5, (8, 10))])
def test_renewal_cost_right_answer(hours: float, right: tuple[int, int], capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("comments.renewal-cost", right, hours=hours)
    out = capsys.readouterr().out
    assert out.startswith("Correct! [comments.renewal-cost]")
    k = int(hours)
    assert f"{k} renewals each" in out and f"the minimal one {k + 1} of each" in out
    exercises.check("comments.renewal-cost", list(right), hours=hours)   # a list is a pair too


@pytest.mark.parametrize("answer, hint", [
    ((52, 36), "swapped"),
    ((20, 52), "INFORMATIONAL exchange then deletes the old CHILD SA"),
    ((52, 52), "that is the minimal initiator's count"),
    ((36, 36), "(1) before starting over"),                     # 4 + 4k, which is also the full count
    ((18, 52), "right in exchanges"), ((36, 26), "right in exchanges"),
    ((36, 48), "also set up the first IKE SA"),
    ((40, 52), "one renewal too many"), ((36, 46), "one renewal too few"),
    ((32, 52), "(2) one renewal too few"),                     # 36 - 4: no setup, or one renewal too few
    ((30, 52), "not the full initiator's count"), ((36, 50), "not the minimal initiator's count"),
    (36, "a pair (full, minimal)"), ((36,), "two numbers, not 1"), ((36, 52, 1), "two numbers, not 3"),
    (("36", 52), "should be an int"), ((36, 52.0), "should be an int"), (..., "no answer yet")])
def test_renewal_cost_wrong_answers(answer: object, hint: str) -> None:
    with pytest.raises(ExerciseFailed) as info:
        exercises.check("comments.renewal-cost", answer, hours=8.5)
    assert hint in info.value.reason


def test_renewal_cost_refuses_a_length_on_a_renewal() -> None:
    """The lesson gives the length; one that ends as a renewal starts is the notebook's slip, named."""
    from ikelab.errors import ConfigError

    with pytest.raises(ConfigError, match="within a minute of a renewal"):
        exercises.check("comments.renewal-cost", (36, 52), hours=9)
