"""Review of session 30's exercise checks: right answers for inputs beyond the lessons' own, and slip messages
that are true for the inputs given (RFC 4303 2.1-2.8, 3.1; RFC 7296 1.2; RFC 4301 4.1).

Every expected number here is worked by hand in the comments, never taken from ikelab.
"""

from __future__ import annotations

from typing import Any

import pytest

from ikelab import exercises, scenario
from ikelab.errors import ConfigError, WeakAlgorithmError
from ikelab.exercises import ExerciseFailed


def _fails(exercise_id: str, answer: Any, **given: Any) -> str:
    with pytest.raises(ExerciseFailed) as info:
        exercises.exercise(exercise_id).check(answer, **given)
    return str(info.value)


# --- esp.packet-length (RFC 4303 2, 3.1) ------------------------------------------------------------------------


def test_packet_length_null_cipher_is_not_called_a_counter_mode() -> None:
    """ENCR_NULL (RFC 2410) has a 1-byte block like a counter mode, but it is no counter mode."""
    # tunnel, 84-byte inner packet, NULL + HMAC-SHA1-96: 20 + 8 + 0 (no IV) + (84 + 2 + 2 -> 88) + 12 = 128;
    # padding to 16-byte blocks instead: 84 + 10 + 2 = 96, so 20 + 8 + 96 + 12 = 136
    given = dict(inner_len=84, mode="tunnel", encr="ENCR_NULL", integ="AUTH_HMAC_SHA1_96")
    assert exercises.exercise("esp.packet-length").check(128, **given).startswith("Correct!")
    message = _fails("esp.packet-length", 136, **given)
    assert "counter mode" not in message
    assert "ENCR_NULL does not encrypt" in message and "4-byte boundary" in message


def test_packet_length_cites_pad_length_in_section_2_5() -> None:
    """Pad Length is RFC 4303 2.5 and Next Header 2.6 (2.4 is the Padding)."""
    # tunnel, 96-byte inner, AES-CBC-128 + HMAC-SHA1-96: 96 + 14 + 2 = 112, so 20 + 8 + 16 + 112 + 12 = 168;
    # no trailer at all: 96 is already whole blocks, 20 + 8 + 16 + 96 + 12 = 152
    given = dict(inner_len=96, mode="tunnel", encr="ENCR_AES_CBC", key_bits=128, integ="AUTH_HMAC_SHA1_96")
    message = _fails("esp.packet-length", 152, **given)
    assert "Pad Length and Next Header (RFC 4303 2.5, 2.6)" in message
    assert "2.4, 2.6" not in message


@pytest.mark.parametrize(("encr", "integ", "weak"), [("ENCR_3DES", "AUTH_HMAC_SHA1_96", "ENCR_3DES"),
                                                      ("ENCR_AES_CBC", "AUTH_HMAC_MD5_96", "AUTH_HMAC_MD5_96")])
def test_packet_length_refuses_weak_transforms_with_the_reason(encr: str, integ: str, weak: str) -> None:
    """No weak algorithm by default, in an exercise either: the teacher's input is refused with a typed error that
    names the algorithm and says why it is weak (no warning that pytest would turn into an error)."""
    key_bits = 128 if encr == "ENCR_AES_CBC" else None
    with pytest.raises(WeakAlgorithmError, match=f"{weak} is weak: "):
        exercises.exercise("esp.packet-length").check(152, inner_len=95, mode="tunnel", encr=encr,
                                                      key_bits=key_bits, integ=integ)


# --- esp.pad-length (RFC 4303 2.4) -------------------------------------------------------------------------------


@pytest.mark.parametrize("block_size", [1, 2])
def test_pad_length_zero_names_both_slips_for_tiny_blocks(block_size: int) -> None:
    """84-byte payload: 84 + 2 + 2 = 88 (a multiple of 4), so the answer is 2.  Answering 0 is padding the payload
    alone (84 is a multiple of 4) and also whole 1- or 2-byte blocks (84 + 0 + 2 = 86) without the 4-byte rule."""
    message = _fails("esp.pad-length", 0, payload_len=84, block_size=block_size)
    assert "payload alone" in message
    assert f"whole {block_size}-byte blocks" in message and "4-byte boundary" in message


def test_pad_length_payload_alone_keeps_its_own_message_for_aes() -> None:
    """With 16-byte blocks 84 + 12 = 96 is the payload padded alone, and 98 is no whole number of blocks."""
    message = _fails("esp.pad-length", 12, payload_len=84, block_size=16)
    assert message.endswith("you padded the payload alone: the two trailer bytes (Pad Length, Next Header) are "
                            "encrypted too.")


# --- tour.initial-exchange (RFC 7296 1.2) ------------------------------------------------------------------------


def test_tour_takes_a_trace_like_the_lesson_10_checks() -> None:
    """The classic trace holds two IKE SAs (the first one and the reconnect): 2 x 4 = 8 messages."""
    sc = scenario.classic()
    out = exercises.exercise("tour.initial-exchange").check(8, rows=sc.trace)
    assert out.startswith("Correct! [tour.initial-exchange] 8 messages: 2 IKE SAs, each set up by")


def test_tour_one_ike_sa_reads_well() -> None:
    """Without the reconnect: one IKE SA, IKE_SA_INIT and IKE_AUTH, 4 messages."""
    out = exercises.exercise("tour.initial-exchange").check(4, rows=scenario.classic(duration=4.0,
                                                                                     reconnect_at=None).trace)
    assert "4 messages: 1 IKE SA set up by" in out


@pytest.mark.parametrize("rows", [None, 42])
def test_tour_refuses_rows_that_are_no_rows_with_a_typed_error(rows: Any) -> None:
    with pytest.raises(ConfigError):
        exercises.exercise("tour.initial-exchange").check(4, rows=rows)


# --- comments.ikev2-messages (RFC 7296 1.2, 1.3) and arch.manual-sas (RFC 4301 4.1) -----------------------------


@pytest.mark.parametrize(("n_children", "answer", "parts"), [
    # 2 CHILD SAs: 4 + 2 = 6 messages.  8 is 4 + 2 x 2 (a CREATE_CHILD_SA for the first one) and 2 x 4 (two IKE SAs)
    (2, 8, ("it comes with IKE_AUTH", "2 separate IKE SAs")),
    # 1 CHILD SA: 4 messages, 2 exchanges.  2 is the exchanges, and 2 x 1 (IKE_SA_INIT forgotten)
    (1, 2, ("number of exchanges", "IKE_SA_INIT exchange")),
])
def test_comments_names_every_slip_that_gives_the_number(n_children: int, answer: int, parts: tuple[str, ...]) -> None:
    message = _fails("comments.ikev2-messages", answer, n_children=n_children)
    assert all(part in message for part in parts), message


@pytest.mark.parametrize(("n", "answer", "parts"), [
    # 4 gateways: 6 pairs, 12 SAs; each gateway holds 2 x 3 = 6, the same number as the pairs
    (4, 6, ("counts tunnels", "one gateway holds")),
    # 2 gateways: 1 pair, 2 SAs; 2 x 2 = 4 is n x n (an SA with itself) and twice the SAs (keys)
    (2, 4, ("with itself", "twice too many")),
])
def test_arch_names_every_slip_that_gives_the_number(n: int, answer: int, parts: tuple[str, ...]) -> None:
    message = _fails("arch.manual-sas", answer, n=n)
    assert all(part in message for part in parts), message


# --- tests/interop/capture.py: a capture that never starts must not pay for a last probe ------------------------


class _FakeNamespace:
    """Runs the 'capture' as a local process that says "Capturing on" and waits; no probe ever gets into the file
    (what a ``bpf=`` that drops UDP port 9 does)."""

    name = "fake"

    def __init__(self) -> None:
        self.probes: list[tuple[Any, ...]] = []

    def popen(self, argv: list[str], **kwargs: Any) -> Any:
        import subprocess
        import sys

        script = "import sys, time\nsys.stderr.write(\"Capturing on 'veth'\\n\")\nsys.stderr.flush()\ntime.sleep(60)\n"
        return subprocess.Popen([sys.executable, "-c", script], **kwargs)

    def call(self, func: Any, *args: Any, _timeout: float = 30.0) -> bool:
        self.probes.append(args)
        return False


def test_capture_that_records_no_probe_fails_without_a_last_probe(tmp_path: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """start() already probed for its whole timeout: stop() must not probe 5 s more and wait for the file too."""
    from interop.capture import Capture
    from interop.netns import NetnsError

    settled: list[float] = []
    monkeypatch.setattr(Capture, "_wait_until_settled", lambda self, settle: settled.append(settle))
    ns = _FakeNamespace()
    cap = Capture(ns, "veth", tmp_path / "wire.pcapng", probe_dst="192.0.2.1")  # type: ignore[arg-type]
    with pytest.raises(NetnsError, match="did not record a probe"):
        cap.start(timeout=1.0)
    assert len(ns.probes) == 1  # start's probes only, no END_PROBE
    assert settled == []  # before: + up to 5 s of settling on a file that never grows (counted, not timed)
    assert cap.proc is None
