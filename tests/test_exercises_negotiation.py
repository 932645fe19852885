"""The lesson 08 exercise check: the right suite passes, the tempting wrong ones fail with a hint.

The example is worked by hand from RFC 7296 2.7 with strongSwan's documented default
(prefer_configured_proposals = yes): the responder's first entry, aes128-sha256-modp2048, is offered as #3.
"""

from __future__ import annotations

import pytest

from ikelab import exercises
from ikelab.exercises import ExerciseFailed

GIVEN = dict(offered="aes256gcm16-prfsha384-ecp384, aes128-sha256-ecp256, aes128-sha256-modp2048",
             configured="aes128-sha256-modp2048, aes256gcm16-prfsha384-ecp384")


def fails(answer: object, **given: object) -> str:
    with pytest.raises(ExerciseFailed) as info:
        exercises.check("negotiation.chosen", answer, **given)
    return info.value.reason


def test_right_answers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("negotiation.chosen", "aes128-sha256-modp2048", **GIVEN)
    exercises.check("negotiation.chosen", "aes128-prfsha256-sha256-modp2048", **GIVEN)  # the same suite spelled out
    exercises.check("negotiation.chosen", "aes256gcm16-prfsha384-ecp384", **GIVEN, prefer="offered")
    exercises.check("negotiation.chosen", "NO_PROPOSAL_CHOSEN", offered="aes128-sha256-modp2048",
                    configured="aes256-sha256-modp2048")
    assert capsys.readouterr().out.count("Correct! [negotiation.chosen]") == 4


def test_wrong_answers_fail_with_hints() -> None:
    assert "no answer yet" in fails(..., **GIVEN)
    assert "the choice with prefer='offered'" in fails("aes256gcm16-prfsha384-ecp384", **GIVEN)
    assert "does not accept it" in fails("aes128-sha256-ecp256", **GIVEN)
    assert "at least one offered proposal matches" in fails("NO_PROPOSAL_CHOSEN", **GIVEN)
    assert "should be a string" in fails(3, **GIVEN)
    assert "not a single proposal" in fails("aes128-sha256-modp2048-ecp256", **GIVEN)
    assert "no pair matches" in fails("aes128-sha256-modp2048", offered="aes128-sha256-modp2048",
                                      configured="aes256-sha256-modp2048")


@pytest.mark.parametrize("spelling", ["no proposal chosen", "No-Proposal-Chosen", "N(NO_PROPOSAL_CHOSEN)",
                                      " no_proposal_chosen\n"])
def test_no_proposal_chosen_in_other_spellings(spelling: str, capsys: pytest.CaptureFixture[str]) -> None:
    # the same answer as "NO_PROPOSAL_CHOSEN", not "unknown algorithm keyword 'no proposal chosen'"
    exercises.check("negotiation.chosen", spelling, offered="aes128-sha256-modp2048",
                    configured="aes256-sha256-modp2048")
    assert capsys.readouterr().out.startswith("Correct! [negotiation.chosen]")
    assert "at least one offered proposal matches" in fails(spelling, **GIVEN)


def test_a_huge_answer_is_not_repeated_in_the_message() -> None:
    message = fails("aes128-" * 10_000 + "sha256-modp2048", **GIVEN)
    assert "too long" in message and len(message) < 200
