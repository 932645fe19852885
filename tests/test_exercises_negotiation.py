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


# --- negotiation.valid-answers: RFC 7296 2.7 and 3.3.1 applied by hand to five answers ----------------------------
# Offer: #1 AES-GCM-16-256, PRF-SHA384, ECP-384; #2 AES-CBC-128, HMAC-SHA256 (integrity and PRF), MODP-2048, ECP-256.
# A #2 with ECP-256: one of each type, all offered in #2: accepted.  B names #1 with #2's transforms: refused.
# C #2 with ECP-384, which only #1 offered: a suite from two proposals, refused.  D #2 with both groups: two DH
# transforms, refused.  E #1 exactly: accepted.

OFFER2 = "aes256gcm16-prfsha384-ecp384, aes128-sha256-modp2048-ecp256"
ANSWERS = {"A": (2, "aes128-sha256-ecp256"), "B": (1, "aes128-sha256-modp2048"), "C": (2, "aes128-sha256-ecp384"),
           "D": (2, "aes128-sha256-modp2048-ecp256"), "E": (1, "aes256gcm16-prfsha384-ecp384")}


def valid_fails(answer: object, **given: object) -> str:
    with pytest.raises(ExerciseFailed) as info:
        exercises.check("negotiation.valid-answers", answer, **(given or dict(offered=OFFER2, answers=ANSWERS)))
    return info.value.reason


@pytest.mark.parametrize("answer", [{"A", "E"}, frozenset("AE"), ["e", "a"], ("A", "E"), "AE", "A, E", "a e"])
def test_valid_answers_in_any_spelling(answer: object, capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("negotiation.valid-answers", answer, offered=OFFER2, answers=ANSWERS)
    out = capsys.readouterr().out
    assert out.startswith("Correct! [negotiation.valid-answers] A, E: ")
    assert "B, its transforms are all proposal #2's, but it names #1" in out
    assert "C, it takes transforms from two proposals" in out and "D, proposal " in out and "2 DH transforms" in out


@pytest.mark.parametrize("answer, hints", [
    ({"A"}, ["E is acceptable: proposal #1 offered each of its transforms."]),
    (set(), ["A is acceptable", "E is acceptable"]),
    ({"A", "B", "E"}, ["B is not: its transforms are all proposal #2's, but it names #1"]),
    ({"A", "C", "E"}, ["C is not: it takes transforms from two proposals"]),
    ({"A", "D", "E"}, ["D is not: ", "has 2 DH transforms"]),
    ("ABCDE", ["B is not", "C is not", "D is not"]),
    ({"A", "Z"}, ["there is no answer Z: the labels are A, B, C, D, E."]),
    (5, ["a set of labels"])])
def test_valid_answers_name_each_wrong_label(answer: object, hints: list[str]) -> None:
    reason = valid_fails(answer)
    assert all(h in reason for h in hints), reason


def test_valid_answers_other_inputs_and_bad_givens(capsys: pytest.CaptureFixture[str]) -> None:
    """An answer holding a transform no proposal offered is refused with the engine's words; bad givens are
    ConfigErrors naming answers."""
    exercises.check("negotiation.valid-answers", {"X"}, offered="aes128-sha256-modp2048",
                    answers={"X": (1, "aes128-sha256-modp2048"), "Y": (1, "aes256-sha256-modp2048")})
    assert "Y, the responder chose ENCR_AES_CBC (256 bits), which proposal #1 did not offer" in capsys.readouterr().out
    from ikelab.errors import ConfigError

    for bad in ({}, {"A": "aes128-sha256-modp2048"}, {"A": (1, "aes128-nonsense")}, ["A"], None):
        with pytest.raises(ConfigError) as info:
            exercises.check("negotiation.valid-answers", {"A"}, offered=OFFER2, answers=bad)
        assert info.value.field == "answers"


def test_valid_answers_a_proposal_number_never_offered_is_named_so() -> None:
    """RFC 7296 3.3.1: an answer under Proposal Num 3 when only #1 and #2 were offered names no offered proposal;
    under #1 with #2's suite it names the wrong one."""
    answers = {"A": (2, "aes128-sha256-ecp256"), "N": (3, "aes128-sha256-ecp256"), "B": (1, "aes128-sha256-ecp256")}
    reason = valid_fails({"A", "N", "B"}, offered=OFFER2, answers=answers)
    assert "N is not: its transforms are all proposal #2's, but it names #3" in reason
    assert "and no proposal of that number was offered" in reason and "#3 did not offer" not in reason
    assert "B is not: its transforms are all proposal #2's, but it names #1" in reason
    assert "and #1 did not offer them" in reason
