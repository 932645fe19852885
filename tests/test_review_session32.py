"""Review of lesson 00 exercise 2 (tour.sk-keys) and lesson 11 exercise 2 (comments.renewal-cost).

Expected values come from outside ikelab: the I flag read off the raw IKE header (RFC 7296 3.1) decides the pair
(RFC 7296 2.14: SK_ei/SK_ai for the original initiator, SK_er/SK_ar for the original responder); the renewal counts
are worked by hand (RFC 7296 2.8: a CHILD SA rekey is CREATE_CHILD_SA + INFORMATIONAL, four messages, no KE without
PFS; RFC 7815 and RFC 7296 2.4: starting over is IKE_SA_INIT + IKE_AUTH, four messages and one Diffie-Hellman).
"""

from __future__ import annotations

import numpy as np
import pytest

from ikelab import exercises, scenario
from ikelab.errors import ConfigError
from ikelab.exercises import ExerciseFailed

from test_exercises_comments import _cost  # by hand: k renewals cost 4 + 4k messages, 1 or 1 + k Diffie-Hellman


@pytest.fixture(scope="module")
def classic() -> scenario.Scenario:
    return scenario.classic(seed=1)


def _pair_by_hand(classic: scenario.Scenario, no: int) -> tuple[str, str]:
    """RFC 7296 2.14 and 3.1: the I flag (bit 3 of the flags octet, offset 19) says who sent the message."""
    data = classic.trace[no - 1].ike_message
    assert data is not None and data[16] == 46 and data[18] == 35  # SK first (3.14), IKE_AUTH (3.1: type 35)
    return ("SK_ei", "SK_ai") if data[19] & 0x08 else ("SK_er", "SK_ar")


# --- comments.renewal-cost: an answer with two keys for one initiator --------------------------------------------

@pytest.mark.parametrize("answer", [
    {"full": (0, 0), "Full": _cost(8)["full"], "minimal": _cost(8)["minimal"]},
    {**_cost(8), " MINIMAL": _cost(8)["minimal"]},
    {"full": _cost(8)["full"], "minimal": (0, 0), "Minimal ": _cost(8)["minimal"]},
])
def test_renewal_cost_refuses_two_keys_for_one_initiator(answer: dict[str, tuple[int, int]]) -> None:
    """Keys are taken in any case and with spaces, so "full" and "Full" name the same initiator: an answer that
    gives one of them twice is ambiguous and is refused by name, whichever of the two values is right."""
    with pytest.raises(ExerciseFailed) as info:
        exercises.check("comments.renewal-cost", answer, hours=8.5)
    assert "two keys for one initiator" in info.value.reason


def test_renewal_cost_over_a_long_tunnel_worked_by_hand(capsys: pytest.CaptureFixture[str]) -> None:
    """23.5 h: 23 renewals (each a few hundredths of a second after its hour, so the drift stays far from the end)."""
    exercises.check("comments.renewal-cost", _cost(23), hours=23.5)
    assert "23 renewals each: 96 and 96 IKE messages" in capsys.readouterr().out
    with pytest.raises(ExerciseFailed, match="one renewal too few"):
        exercises.check("comments.renewal-cost", {**_cost(23), "full": (92, 1)}, hours=23.5)


# --- tour.sk-keys: the packet number as any integer type ---------------------------------------------------------

@pytest.mark.parametrize("no", [np.int64(5), np.int32(4), np.uint16(57)])
def test_tour_sk_keys_takes_a_numpy_packet_number(classic: scenario.Scenario, no: object,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A packet number computed with numpy (e.g. from an index array) is a packet number like any int."""
    n = int(no)  # type: ignore[call-overload]
    right = _pair_by_hand(classic, n)
    exercises.check("tour.sk-keys", right, scenario=classic, no=no)
    assert capsys.readouterr().out.startswith(f"Correct! [tour.sk-keys] {right[0]} decrypts packet {n} and {right[1]} ")
    wrong = ("SK_er", "SK_ar") if right[0] == "SK_ei" else ("SK_ei", "SK_ai")
    with pytest.raises(ExerciseFailed, match="protects what the original"):
        exercises.check("tour.sk-keys", wrong, scenario=classic, no=no)


@pytest.mark.parametrize("no, what", [(np.int64(3), "not an encrypted IKE message"), (np.int64(0), "1..91"),
                                      (np.bool_(True), "1..91"), (5.0, "1..91"), (np.float64(5.0), "1..91")])
def test_tour_sk_keys_still_refuses_what_is_no_packet_number(classic: scenario.Scenario, no: object,
                                                             what: str) -> None:
    with pytest.raises(ConfigError, match=what):
        exercises.check("tour.sk-keys", ("SK_er", "SK_ar"), scenario=classic, no=no)


# --- the lessons' text against what they print and what the RFC says ----------------------------------------------

def _cell(path: str, cell_id: str) -> tuple[str, str]:
    """The source and the stored text output of one cell of a lesson."""
    import json
    from pathlib import Path

    nb = json.loads((Path(__file__).resolve().parent.parent / "notebooks" / path).read_text(encoding="utf-8"))
    (cell,) = [c for c in nb["cells"] if c.get("id") == cell_id]
    out = "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))
    return "".join(cell["source"]), out


def test_lesson00_exercise2_counts_the_keys_section_4_prints() -> None:
    """Section 4 prints SK_d and SK_pi only; the statement must not send the student there for all seven."""
    import re

    _, printed = _cell("00-tour.ipynb", "l00-events-code")
    shown = sorted(set(re.findall(r"^\s+(SK_\w+)\s", printed, flags=re.M)))
    assert shown == ["SK_d", "SK_pi"]
    statement, _ = _cell("00-tour.ipynb", "l00-ex2")
    assert "seven keys of section 4" not in statement and "section 4 printed two of them" in statement


def test_lesson11_initial_contact_is_a_may() -> None:
    """RFC 7296 2.4: the recipient of INITIAL_CONTACT MAY delete the other IKE SAs; the lesson says may, not must."""
    text, _ = _cell("11-comments-on-ikev2.ipynb", "l11-minimal-2")
    summary, _ = _cell("11-comments-on-ikev2.ipynb", "l11-summary")
    flat = " ".join(text.split())
    assert "the gateway may close the old IKE SA" in flat and "does not require it" in flat
    assert "gateway closes the old IKE SA" not in flat and "INITIAL_CONTACT makes" not in " ".join(summary.split())
