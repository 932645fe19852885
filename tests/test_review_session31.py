"""Review of session 31: the lesson 05, 07 and 10 exercise checks on inputs their own tests did not try.

Expected values are hand-built: packet lists written row by row (RFC 7296 2.2: each end numbers its own requests;
3.1: the Initiator and Response flags), digests with hashlib over struct-packed fields (RFC 7296 2.23).
"""

from __future__ import annotations

import dataclasses
import hashlib
import socket
import struct
from typing import Any

import pytest

from ikelab import exercises
from ikelab.dissect_rows import Row
from ikelab.errors import ConfigError
from ikelab.exercises import ExerciseFailed

A, B = "198.51.100.7", "203.0.113.9"
IKE_SA_1, IKE_SA_2 = "1111111111111111", "3333333333333333"
AUTH_I, AUTH_R = ("IDi", "AUTH", "SA", "TSi", "TSr"), ("IDr", "AUTH", "SA", "TSi", "TSr")
NEW_CHILD_I, NEW_CHILD_R = ("SA", "Ni", "TSi", "TSr"), ("SA", "Nr", "TSi", "TSr")  # RFC 7296 1.3.1
REKEY_CHILD = ("N(REKEY_SA)", "SA", "Ni", "TSi", "TSr")                                # 1.3.3


def _ike(no: int, src: str, dst: str, exchange: str, mid: int, *, response: bool, by_initiator: bool,
         inner: tuple[str, ...] = (), spi_i: str = IKE_SA_1, decrypted: bool = True) -> Row:
    """One IKE row; ``by_initiator``: the header's Initiator flag (3.1), set by the IKE SA's original initiator."""
    return Row(no=no, time=no / 10, src=src, dst=dst, kind="ike", exchange=exchange, message_id=mid,  # type: ignore
               spi_i=spi_i, spi_r="2222222222222222", is_initiator=by_initiator, is_response=response,
               decrypted=decrypted if inner or exchange not in ("IKE_SA_INIT",) else None, inner_payloads=inner)


def _esp(no: int, src: str, dst: str, spi: int) -> Row:
    return Row(no=no, time=no / 10, src=src, dst=dst, kind="esp", spi=spi, seq=1)  # type: ignore[arg-type]


def _setup(first: int = 1, spi_i: str = IKE_SA_1, *, decrypted: bool = True) -> list[Row]:
    """IKE_SA_INIT and IKE_AUTH, A the original initiator (MIDs 0 and 1, RFC 7296 1.2)."""
    return [_ike(first, A, B, "IKE_SA_INIT", 0, response=False, by_initiator=True, spi_i=spi_i),
            _ike(first + 1, B, A, "IKE_SA_INIT", 0, response=True, by_initiator=False, spi_i=spi_i),
            _ike(first + 2, A, B, "IKE_AUTH", 1, response=False, by_initiator=True, spi_i=spi_i,
                 inner=AUTH_I if decrypted else (), decrypted=decrypted),
            _ike(first + 3, B, A, "IKE_AUTH", 1, response=True, by_initiator=False, spi_i=spi_i,
                 inner=AUTH_R if decrypted else (), decrypted=decrypted)]


def _check(exercise: str, answer: Any, **given: Any) -> str:
    with pytest.raises(ExerciseFailed) as info:
        exercises.check(exercise, answer, **given)
    return info.value.reason


# --- trace.child-sas ----------------------------------------------------------------------------------------------


def test_child_sas_two_exchanges_crossing_with_one_message_id(capsys: pytest.CaptureFixture[str]) -> None:
    """A and B each create a CHILD SA at once, both requests with Message ID 2: each end numbers its own requests
    (RFC 7296 2.2), so these are two exchanges, two CHILD SAs (1.3.1), told apart by the Initiator flag (3.1)."""
    rows = _setup() + [
        _ike(5, A, B, "CREATE_CHILD_SA", 2, response=False, by_initiator=True, inner=NEW_CHILD_I),
        _ike(6, B, A, "CREATE_CHILD_SA", 2, response=False, by_initiator=False, inner=NEW_CHILD_I),
        _ike(7, B, A, "CREATE_CHILD_SA", 2, response=True, by_initiator=False, inner=NEW_CHILD_R),
        _ike(8, A, B, "CREATE_CHILD_SA", 2, response=True, by_initiator=True, inner=NEW_CHILD_R)]
    exercises.check("trace.child-sas", (1, 2), rows=rows)
    assert "1 from IKE_AUTH and 2 from CREATE_CHILD_SA: 3 CHILD SAs" in capsys.readouterr().out
    assert "too few" in _check("trace.child-sas", (1, 1), rows=rows)


def test_child_sas_an_ike_sa_without_keys_is_a_config_error() -> None:
    """Two IKE SAs, keys for the first only: the second's IKE_AUTH response stays opaque.  Counting it as no CHILD
    SA would call the true answer (2, 0) wrong; the check must say the rows lack keys."""
    rows = _setup() + _setup(5, IKE_SA_2, decrypted=False)
    with pytest.raises(ConfigError, match="IKE_AUTH response of packet 8 is not decrypted") as info:
        exercises.check("trace.child-sas", (2, 0), rows=rows)
    assert info.value.field == "rows"


# --- trace.rekeyed-spi ---------------------------------------------------------------------------------------------


def test_rekeyed_spi_an_unanswered_rekey_is_no_rekey() -> None:
    """A's CHILD SA rekey (packet 7) is never answered; A gives up and sets up a new IKE SA, whose IKE_AUTH brings
    0xb0000009.  That SPI comes from IKE_AUTH (1.2), not from a rekey (1.3.3): the rows hold no CHILD SA rekey."""
    rows = _setup() + [
        _esp(5, A, B, 0xA0000001), _esp(6, B, A, 0xB0000001),
        _ike(7, A, B, "CREATE_CHILD_SA", 2, response=False, by_initiator=True, inner=REKEY_CHILD),
        _esp(8, B, A, 0xB0000001)] + _setup(9, IKE_SA_2) + [_esp(13, A, B, 0xA0000009), _esp(14, B, A, 0xB0000009)]
    with pytest.raises(ConfigError, match="rekeys a CHILD SA"):
        exercises.check("trace.rekeyed-spi", (0xB0000009, 14), rows=rows)


def test_rekeyed_spi_the_first_answered_rekey_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """B's rekey request (packet 7) is refused (no TSr in its answer, 1.3.3); A's (packet 9) makes the new SA."""
    rows = _setup() + [
        _esp(5, A, B, 0xA0000001), _esp(6, B, A, 0xB0000001),
        _ike(7, B, A, "CREATE_CHILD_SA", 0, response=False, by_initiator=False, inner=REKEY_CHILD),
        _ike(8, A, B, "CREATE_CHILD_SA", 0, response=True, by_initiator=True, inner=("N(TEMPORARY_FAILURE)",)),
        _ike(9, A, B, "CREATE_CHILD_SA", 2, response=False, by_initiator=True, inner=REKEY_CHILD),
        _esp(10, B, A, 0xB0000001),
        _ike(11, B, A, "CREATE_CHILD_SA", 2, response=True, by_initiator=False, inner=NEW_CHILD_R),
        _esp(12, A, B, 0xA0000002), _esp(13, B, A, 0xB0000002)]
    exercises.check("trace.rekeyed-spi", (0xB0000002, 13), rows=rows)
    assert "after the CREATE_CHILD_SA of packet 9." in capsys.readouterr().out


# --- ike.nat-detection (RFC 7296 2.23) -----------------------------------------------------------------------------

SPI_I, SPI_R = bytes.fromhex("0123456789abcdef"), bytes(8)
MOON_SENT = hashlib.sha1(SPI_I + SPI_R + socket.inet_aton("10.1.0.1") + struct.pack("!H", 500)).digest()


def _natd(answer: Any, **changes: Any) -> None:
    given = dict(spi_i=SPI_I, spi_r=SPI_R, address="203.0.113.5", port=4500, sent=MOON_SENT,
                 local_address="192.0.2.2", local_port=500)
    given.update(changes)
    exercises.check("ike.nat-detection", answer, **given)


def _natd_source(family: int, address: str, port: int) -> bytes:
    return hashlib.sha1(SPI_I + SPI_R + socket.inet_pton(family, address) + struct.pack("!H", port)).digest()


@pytest.mark.parametrize("field, value", [("sent", MOON_SENT[:19]), ("sent", b""), ("sent", MOON_SENT + b"\0"),
                                          ("response_spi_r", b"\x02" * 4)],
                         ids=["sent-19", "sent-0", "sent-21", "response_spi_r-4"])
def test_nat_detection_a_given_of_the_wrong_length_is_a_config_error(field: str, value: bytes) -> None:
    """The notify data is a SHA-1 digest, 20 octets (3.10.1), an IKE SPI 8 (3.1).  A cut ``sent`` compared unequal
    and the check told the student moon is behind a NAT: a given must fail loudly, even with the right answer."""
    right = _natd_source(socket.AF_INET, "203.0.113.5", 4500)
    with pytest.raises(ConfigError) as info:
        _natd(right, **{field: value})
    assert info.value.field == field


def test_nat_detection_source_and_local_address_of_two_ip_versions_is_a_config_error() -> None:
    """One packet's source and destination are of one IP version; mixing them is a wrong given."""
    right = _natd_source(socket.AF_INET, "203.0.113.5", 4500)
    with pytest.raises(ConfigError) as info:
        _natd(right, local_address="2001:db8::2")
    assert info.value.field == "local_address"


def test_nat_detection_over_ipv6(capsys: pytest.CaptureFixture[str]) -> None:
    """RFC 7296 2.23 hashes the address as the packet carries it: 16 octets for IPv6."""
    six = dict(address="2001:db8:5::7", local_address="2001:db8::2")
    _natd(_natd_source(socket.AF_INET6, "2001:db8:5::7", 4500), **six)
    assert "SHA-1(SPIi | SPIr | 2001:db8:5::7 | 4500)" in capsys.readouterr().out
    as_text = hashlib.sha1(SPI_I + SPI_R + b"2001:db8:5::7" + struct.pack("!H", 4500)).digest()
    assert "not as text" in _check("ike.nat-detection", as_text, spi_i=SPI_I, spi_r=SPI_R, port=4500,
                                   sent=MOON_SENT, local_port=500, **six)


# --- child.collision (RFC 7296 2.8.1) ------------------------------------------------------------------------------


def _collision(viewer: str = "moon", changes: dict[str, Any] | None = None) -> list[Any]:
    """Two crossing rekeys, test_exercises_ike's COLLISION (moon's view); the lowest of the four nonces (0x22...) is
    the Nr of sun's exchange, so sun closes that SA and moon's exchange's SA stays (2.8.1).  Its SPIs: moon receives
    on 0xb6db3c28, sun on 0x6d9a9e5a.  Seen by sun, each new SA's in and out SPIs trade places."""
    from test_exercises_ike import COLLISION

    rows = [r if viewer == "moon" else dataclasses.replace(r, spi_in=r.spi_out, spi_out=r.spi_in, viewer=viewer)
            for r in COLLISION]
    assert (rows[0].viewer, rows[0].spi_in.hex()) == (viewer, {"moon": "b6db3c28", "sun": "6d9a9e5a"}[viewer])
    return [dataclasses.replace(rows[0], **changes), rows[1]] if changes else rows


def test_collision_rows_seen_by_sun_do_not_answer_for_moon(capsys: pytest.CaptureFixture[str]) -> None:
    """The rows say whose SPIs they hold.  Seen by sun, with moon's old SPI given, the givens disagree: a
    ConfigError, where the check used to call sun's inbound SPI 'the SPI moon receives on'."""
    with pytest.raises(ConfigError) as info:
        exercises.check("child.collision", 0x6D9A9E5A, rows=_collision("sun"), old_spi_in=bytes.fromhex("0738e1c0"))
    assert info.value.field == "old_spi_in"
    exercises.check("child.collision", 0x6D9A9E5A, rows=_collision("sun"), old_spi_in=bytes.fromhex("2c14300b"))
    assert "Correct! [child.collision] 0x6d9a9e5a:" in capsys.readouterr().out
    reason = _check("child.collision", 0xB6DB3C28, rows=_collision("sun"), old_spi_in=bytes.fromhex("2c14300b"))
    assert "the one moon receives on: ESP to sun carries the SPI sun chose" in reason


def test_collision_figure_rows_name_their_viewer() -> None:
    from ikelab import figures_collision as fc

    lab = fc.collided_lab("review31")
    assert {r.viewer for r in fc.collision_rows(lab, "responder")} == {"sun"}
    assert {r.viewer for r in fc.collision_rows(lab)} == {"moon"}


@pytest.mark.parametrize("changes", [{"started_by": "sun"}, {"viewer": "sun"}, {"spi_in": b"\xb6\xdb\x3c"},
                                     {"rekeys": b"\x07\x38"}], ids=["one-peer", "two-viewers", "spi-3", "rekeys-2"])
def test_collision_rows_that_are_no_collision_are_a_config_error(changes: dict[str, Any]) -> None:
    """Both exchanges started by one peer are no collision; rows seen by two peers mix SPIs; an ESP SPI is 4 octets
    (RFC 4303 2.1).  Each is a bad given, even with the right answer."""
    with pytest.raises(ConfigError) as info:
        exercises.check("child.collision", 0xB6DB3C28, rows=_collision(changes=changes),
                        old_spi_in=bytes.fromhex("0738e1c0"))
    assert info.value.field == "rows"


def test_child_sas_a_refused_create_child_sa_is_named_as_refused_not_as_an_ike_sa_rekey() -> None:
    """Two CREATE_CHILD_SA exchanges, one refused with N(NO_PROPOSAL_CHOSEN) (1.3, no SA in the answer): the slip of
    counting exchanges must not be blamed on an IKE SA rekey (1.3.2), of which this trace has none."""
    rows = _setup() + [
        _ike(5, A, B, "CREATE_CHILD_SA", 2, response=False, by_initiator=True, inner=NEW_CHILD_I),
        _ike(6, B, A, "CREATE_CHILD_SA", 2, response=True, by_initiator=False, inner=("N(NO_PROPOSAL_CHOSEN)",)),
        _ike(7, A, B, "CREATE_CHILD_SA", 3, response=False, by_initiator=True, inner=NEW_CHILD_I),
        _ike(8, B, A, "CREATE_CHILD_SA", 3, response=True, by_initiator=False, inner=NEW_CHILD_R)]
    exercises.check("trace.child-sas", (1, 1), rows=rows)
    reason = _check("trace.child-sas", (1, 2), rows=rows)
    assert "a refused CREATE_CHILD_SA" in reason and "IKE SA rekey" not in reason
