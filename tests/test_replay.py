"""The anti-replay window (RFC 4303 3.4.3 and appendix A) against a plain reference model.

The model keeps the *set* of every sequence number accepted and the highest
one; RFC 4303 3.4.3 then says a number is acceptable when it is right of the
window or inside it and unseen.  For ESN the sender's true 64-bit counter is
known to the test, and appendix A2.2 promises that the receiver infers it
whenever it lies in ``[T - W + 1, T - W + 2^32]``.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ikelab.errors import ConfigError, ReplayError
from ikelab.replay import DEFAULT_WINDOW, ReplayWindow

M32 = 2**32


class Model:
    """RFC 4303 3.4.3 spelled out with a set instead of a bitmap."""

    def __init__(self, size: int, top: int = 0) -> None:
        self.size = size
        self.top = top
        self.seen: set[int] = {top} if top else set()

    def acceptable(self, seq: int) -> bool:
        if seq <= 0:
            return False
        if seq > self.top:
            return True
        return self.top - seq < self.size and seq not in self.seen

    def record(self, seq: int) -> None:
        self.seen.add(seq)
        self.top = max(self.top, seq)

    def in_window(self) -> tuple[int, ...]:
        return tuple(sorted(s for s in self.seen if self.top - s < self.size))


def test_default_size_is_64() -> None:
    # RFC 4303 3.4.3: "a window size of 64 is preferred and SHOULD be employed as the default"
    assert DEFAULT_WINDOW == 64
    assert ReplayWindow().size == 64


def test_simple_story() -> None:
    w = ReplayWindow(4)
    for seq in (1, 2, 5):
        w.update(w.check(seq))
    assert w.check(3) == 3  # inside, unseen
    with pytest.raises(ReplayError, match="already received"):
        w.check(5)
    with pytest.raises(ReplayError, match="left of the window"):
        w.check(1)  # window is [2..5]
    assert w.state().seen == (2, 5)
    assert "window [2..5]" in str(w.state())


def test_a_young_window_starts_at_sequence_number_1() -> None:
    """Sequence numbers start at 1 (RFC 4303 3.3.3): lesson 09 printed "window [0..2]" for a 64-packet window
    that had seen 1 and 2, while its replay table said [1..2] for the same state."""
    from ikelab.figures_esp import format_replay, replay_steps

    w = ReplayWindow(64)
    assert str(w.state()) == "window (empty) (W=64), seen []"
    for seq in (1, 2):
        w.update(w.check(seq))
    assert str(w.state()) == "window [1..2] (W=64), seen [1, 2]"
    assert "[1..2]" in format_replay(replay_steps([1, 2], size=64), 64).splitlines()[-1]


def test_check_never_changes_state() -> None:
    w = ReplayWindow(8)
    for seq in (3, 10, 9):
        w.update(w.check(seq))
    before = w.state()
    for seq in (0, 1, 2, 3, 9, 10, 11, 500):
        try:
            w.check(seq)
        except ReplayError:
            pass
        assert w.state() == before


def test_zero_is_rejected_without_esn() -> None:
    with pytest.raises(ReplayError, match="never sent"):
        ReplayWindow().check(0)


def test_update_refuses_a_replay() -> None:
    w = ReplayWindow(8)
    w.update(w.check(4))
    with pytest.raises(ReplayError):
        w.update(4)


@pytest.mark.parametrize("bad", [0, -1, 2**20 + 1, 1.5, True, "64"])
def test_bad_sizes(bad: object) -> None:
    with pytest.raises(ConfigError):
        ReplayWindow(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, M32, 2**40, "1", None])
def test_bad_wire_sequence_numbers(bad: object) -> None:
    with pytest.raises(ConfigError):
        ReplayWindow().check(bad)  # type: ignore[arg-type]


def test_big_jump_clears_the_bitmap() -> None:
    w = ReplayWindow(16)
    for seq in range(1, 17):
        w.update(seq)
    w.update(1000)
    assert w.state().seen == (1000,)
    assert w.check(999) == 999


# ----------------------------------------------------------------------------- properties


events = st.lists(
    st.tuples(st.integers(min_value=0, max_value=300), st.booleans()),  # (sequence number, ICV ok)
    max_size=120,
)


@settings(max_examples=120, deadline=None)
@given(size=st.integers(min_value=1, max_value=80), history=events)
def test_window_matches_reference_model(size: int, history: list[tuple[int, bool]]) -> None:
    w, model = ReplayWindow(size), Model(size)
    for seq, icv_ok in history:
        expected = model.acceptable(seq)
        try:
            got = w.check(seq)
        except ReplayError:
            assert not expected, f"{seq} wrongly rejected"
            continue
        assert expected, f"{seq} wrongly accepted (top {model.top})"
        assert got == seq
        if icv_ok:  # RFC 4303 3.4.3: the window moves only after the ICV verified
            w.update(got)
            model.record(seq)
        assert w.top == model.top
        assert w.state().seen == model.in_window()


@settings(max_examples=120, deadline=None)
@given(
    size=st.sampled_from([1, 2, 32, 64, 128]),
    start=st.integers(min_value=0, max_value=3 * M32),
    steps=st.lists(
        st.tuples(
            st.one_of(
                st.integers(min_value=-200, max_value=200),
                st.integers(min_value=-(2**31), max_value=2**31),
                st.sampled_from([M32 - 1, M32, M32 + 1, -M32]),
            ),
            st.booleans(),
        ),
        max_size=60,
    ),
)
def test_esn_inference_matches_appendix_a2(size: int, start: int, steps: list[tuple[int, bool]]) -> None:
    """The receiver sees only the low 32 bits and must recover the sender's 64-bit counter."""
    w, model = ReplayWindow(size, esn=True, top=start), Model(size, top=start)
    true_seq = start
    for delta, icv_ok in steps:
        true_seq = max(1, true_seq + delta)
        lo = true_seq % M32
        inferable = model.top - size + 1 <= true_seq <= model.top - size + M32
        try:
            got = w.check(lo)
        except ReplayError:
            assert not (inferable and model.acceptable(true_seq)), f"{true_seq} wrongly rejected"
            continue
        if not inferable:
            # too old: the guess is some other number, which the ICV (computed over the
            # true high bits) would refuse; the window must not be updated
            assert got != true_seq
            continue
        assert got == true_seq, f"inferred {got:#x} for {true_seq:#x} (top {model.top:#x})"
        assert model.acceptable(true_seq)
        if icv_ok:
            w.update(got)
            model.record(true_seq)
        assert w.top == model.top
        assert w.state().seen == model.in_window()


def test_esn_wrap_case_a_and_b() -> None:
    """Appendix A2.2 worked through by hand with W = 64."""
    w = ReplayWindow(64, esn=True, top=M32 - 2)  # Th = 0, Tl = 2^32 - 2: case A
    assert w.check(M32 - 1) == M32 - 1  # Seql >= Tl - W + 1 -> Seqh = Th
    assert w.check(5) == M32 + 5  # Seql < Tl - W + 1 -> Seqh = Th + 1
    w.update(M32 + 5)  # now Th = 1, Tl = 5 < W - 1: case B
    assert w.check(M32 - 10) == M32 - 10  # Seql >= Tl - W + 1 (mod 2^32) -> Seqh = Th - 1
    assert w.check(6) == M32 + 6  # Seql < Tl - W + 1 -> Seqh = Th
    with pytest.raises(ReplayError):
        w.check(M32 - 2)  # the old top, already received
    with pytest.raises(ReplayError):
        w.check(5)


def test_esn_counter_never_cycles() -> None:
    w = ReplayWindow(64, esn=True, top=2**64 - 2)
    assert w.check(M32 - 1) == 2**64 - 1
    with pytest.raises(ReplayError, match="65th bit"):
        w.check(100)  # would be 2^64 + 100


# ----------------------------------------------------------------------------- mutation review edges


def test_esn_case_a_starts_when_tl_equals_w_minus_1() -> None:
    """Appendix A2.2: "If (Tl >= W - 1)" is case A.  With Tl = W - 1 the window [Th:0 .. Th:W-1] lies in one
    subspace, so every Seql maps to Th: 10 is inside the window, 2^32 - 1 is far ahead in the same subspace."""
    w = ReplayWindow(64, esn=True, top=M32 + 63)
    assert w.check(10) == M32 + 10
    assert w.check(M32 - 1) == 2 * M32 - 1


def test_esn_case_b_left_edge_is_in_the_previous_subspace() -> None:
    """Appendix A2.2 case B: "If (Seql >= Tl - W + 1) Seqh = Th - 1" -- the comparison includes the left edge.
    With T = 2^32 + 5 and W = 64 the edge is 2^32 - 58, the oldest number still inside the window."""
    w = ReplayWindow(64, esn=True, top=M32 + 5)
    assert w.check(M32 - 58) == M32 - 58
    assert w.check(M32 - 57) == M32 - 57


def test_update_refuses_the_number_just_left_of_the_window() -> None:
    """RFC 4303 3.4.3: with W = 4 and T = 10 the window is [7..10]; 6 is left of it, and ``update`` must refuse
    it as ``check`` does, leaving the window as it was."""
    w = ReplayWindow(4)
    w.update(w.check(10))
    with pytest.raises(ReplayError):
        w.check(6)
    with pytest.raises(ReplayError):
        w.update(6)
    assert w.state().seen == (10,) and w.bitmap == 1


def test_the_bitmap_holds_w_bits() -> None:
    """RFC 4303 3.4.3 and appendix A: the receiver keeps one bit per number of a W-packet window, no more."""
    w = ReplayWindow(4)
    for seq in range(1, 7):
        w.update(w.check(seq))
    assert w.bitmap == 0b1111 and w.state().seen == (3, 4, 5, 6)


def test_infer_refuses_a_number_before_the_first_subspace() -> None:
    """Appendix A2.2 case B with Th = 0: Seql >= Tl - W + 1 would give Seqh = -1, before the first packet; the
    docstring promises ReplayError, not a negative sequence number."""
    w = ReplayWindow(64, esn=True, top=5)
    with pytest.raises(ReplayError, match="before the first ESN subspace"):
        w.infer(M32 - 10)
    assert w.infer(6) == 6


def test_without_esn_the_window_lives_in_32_bits() -> None:
    """RFC 4303 2.2 and 3.3.3: without ESN the sequence number is a 32-bit field, so neither a window top nor a
    recorded number can lie beyond 2^32 - 1; with ESN (appendix A) the counter has 64 bits."""
    with pytest.raises(ConfigError, match="window top"):
        ReplayWindow(64, top=M32)
    assert ReplayWindow(64, top=M32 - 1).top == M32 - 1
    assert ReplayWindow(64, esn=True, top=M32).top == M32
    w = ReplayWindow(64)
    with pytest.raises(ConfigError, match="sequence number must be an int in 1..4294967295"):
        w.update(M32)
    assert w.top == 0 and w.bitmap == 0
    ReplayWindow(64, esn=True).update(M32)  # a 64-bit number is fine with ESN


def test_update_refuses_sequence_number_zero() -> None:
    """RFC 4303 3.3.3: the first packet of an SA carries 1, so 0 is never a number to record; a window that
    recorded it would claim to have seen a packet that cannot exist."""
    w = ReplayWindow(8)
    with pytest.raises(ConfigError, match="sequence number must be an int in 1.."):
        w.update(0)
    assert w.state().seen == () and w.bitmap == 0


def test_check_and_update_records_the_number() -> None:
    """RFC 4303 3.4.3: once the ICV verified the window is updated, so the same number again is a replay."""
    w = ReplayWindow(8)
    assert w.check_and_update(3) == 3
    assert w.top == 3 and w.state().seen == (3,)
    with pytest.raises(ReplayError, match="already received"):
        w.check_and_update(3)
