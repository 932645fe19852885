"""The lesson 10 exercise check.  By hand from the classic trace's packet list: the CHILD SA of IKE_AUTH and its
rekey (RFC 7296 2.8) carry the first 18 s; after the reconnect a new IKE SA brings its own CHILD SA and rekeys it
again: 4 CHILD SAs, 8 SPIs (an SA is simplex, RFC 4301 4.1).  With the reconnect switched off: 2 CHILD SAs."""

from __future__ import annotations

import tempfile

import pytest

from ikelab import dissect, exercises, scenario
from ikelab.exercises import ExerciseFailed


def rows_of(**settings):  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as d:
        return dissect.dissect(scenario.classic(**settings).write(d)["pcap"], d)


@pytest.fixture(scope="module")
def rows():  # type: ignore[no-untyped-def]
    return rows_of()


def test_right_answers(rows, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    exercises.check("trace.child-sas", 4, rows=rows)
    exercises.check("trace.child-sas", 2, rows=rows_of(duration=8.0, reconnect_at=None))
    out = capsys.readouterr().out
    assert out.startswith("Correct! [trace.child-sas] 8 ESP SPIs, one per direction: 4 CHILD SAs")
    assert "Correct! [trace.child-sas] 4 ESP SPIs" in out


@pytest.mark.parametrize("answer, hint", [(..., "no answer yet"), (8, "number of SPIs"), (2, "number of IKE SAs"),
                                          (3, "too few"), (5, "too many"), ("4", "should be an int")])
def test_wrong_answers(rows, answer: object, hint: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ExerciseFailed) as info:
        exercises.check("trace.child-sas", answer, rows=rows)
    assert hint in info.value.reason
