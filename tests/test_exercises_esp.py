"""The lesson 09 exercise check.  Pad lengths worked by hand from RFC 4303 2.4:
84-byte payload, AES-CBC (16): 84 + 2 = 86 -> 96, so 10 bytes; 60 bytes: 62 -> 64, so 2;
AES-GCM (block size 1, but 4-byte alignment): 63 + 2 = 65 -> 68, so 3; 62 + 2 = 64, so 0."""

from __future__ import annotations

import pytest

from ikelab import exercises
from ikelab.exercises import ExerciseFailed


@pytest.mark.parametrize("payload_len, block_size, right", [(84, 16, 10), (60, 16, 2), (63, 1, 3), (62, 1, 0)])
def test_right_answer_passes(payload_len: int, block_size: int, right: int, capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("esp.pad-length", right, payload_len=payload_len, block_size=block_size)
    assert capsys.readouterr().out.startswith("Correct! [esp.pad-length]")


@pytest.mark.parametrize("answer, hint", [(..., "no answer yet"), (12, "trailer bytes"), (26, "fewest padding"),
                                          (300, "one byte"), (3, "multiple of 16"), ("10", "should be an int")])
def test_wrong_answers_fail(answer: object, hint: str) -> None:
    with pytest.raises(ExerciseFailed) as info:
        exercises.check("esp.pad-length", answer, payload_len=84, block_size=16)
    assert hint in info.value.reason
