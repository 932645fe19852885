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


# --- comments.renewal-cost (RFC 7296 2.8, 2.4, RFC 7815) ----------------------------------------------------
# By hand: hourly renewals of a tunnel of h hours (h not whole) are k = floor(h).  The full initiator's each cost a
# CREATE_CHILD_SA and an INFORMATIONAL exchange (4 messages, no KE without PFS); the minimal initiator's a new
# IKE_SA_INIT and IKE_AUTH (4 messages, one Diffie-Hellman; INITIAL_CONTACT makes the gateway drop the old IKE SA
# without a message).  Both start with the 4 messages and the one Diffie-Hellman of the setup.

def _cost(k: int) -> dict[str, tuple[int, int]]:
    return {"full": (4 + 4 * k, 1), "minimal": (4 + 4 * k, 1 + k)}


@pytest.mark.parametrize("hours, k", [(8.5, 8), (3.25, 3), (1.5, 1)])
def test_renewal_cost_right_answer(hours: float, k: int, capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("comments.renewal-cost", _cost(k), hours=hours)
    out = capsys.readouterr().out
    assert out.startswith("Correct! [comments.renewal-cost]")
    assert f"{k} renewals each: {4 + 4 * k} and {4 + 4 * k} IKE messages" in out and f"against {k + 1}" in out
    answer = {" Full": list(_cost(k)["full"]), "MINIMAL": _cost(k)["minimal"]}  # keys in any case, lists too
    exercises.check("comments.renewal-cost", answer, hours=hours)


def _with(**changes: tuple[int, int]) -> dict[str, tuple[int, int]]:
    return {**_cost(8), **changes}


@pytest.mark.parametrize("answer, hint", [
    ({"full": (36, 9), "minimal": (36, 1)}, "swapped"),
    (_with(full=(20, 1)), "INFORMATIONAL exchange then deletes the old CHILD SA"),
    (_with(minimal=(52, 9)), "the minimal initiator sends no Delete"),
    (_with(full=(18, 1)), "right in exchanges"), (_with(minimal=(18, 9)), "right in exchanges"),
    (_with(full=(32, 1)), "(1) the full initiator also set up the first IKE SA"),
    (_with(minimal=(32, 9)), "(2) one renewal too few"),
    (_with(full=(40, 1)), "one renewal too many"),
    (_with(full=(30, 1)), "not the full initiator's messages"),
    (_with(full=(36, 9)), "without PFS a CHILD SA rekey makes no Diffie-Hellman"),
    (_with(full=(36, 0)), "the first IKE SA's IKE_SA_INIT is a Diffie-Hellman exchange too"),
    (_with(minimal=(36, 8)), "the first IKE SA's Diffie-Hellman counts too"),
    (_with(minimal=(36, 1)), "every new IKE SA begins with its own IKE_SA_INIT"),
    (_with(full=(36, 2)), "not both peers' computations"), (_with(minimal=(36, 18)), "not both peers'"),
    (_with(minimal=(36, 5)), "not the minimal initiator's Diffie-Hellman exchanges"),
    ((36, 36), "the answer is a dict"), ({"full": (36, 1)}, 'its keys are "full" and "minimal"'),
    ({"full": 36, "minimal": (36, 9)}, "answer['full'] is a pair"),
    (_with(full=("36", 1)), "should be an int"), (_with(minimal=(36, 9.0)), "should be an int"),
    (..., "no answer yet")])
def test_renewal_cost_wrong_answers(answer: object, hint: str) -> None:
    with pytest.raises(ExerciseFailed) as info:
        exercises.check("comments.renewal-cost", answer, hours=8.5)
    assert hint in info.value.reason


def test_renewal_cost_refuses_a_length_on_a_renewal() -> None:
    """The lesson gives the length; one that ends as a renewal starts is the notebook's slip, named."""
    from ikelab.errors import ConfigError

    with pytest.raises(ConfigError, match="within a minute of a renewal"):
        exercises.check("comments.renewal-cost", _cost(9), hours=9)
