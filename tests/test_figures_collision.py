"""Lesson 07's simultaneous rekeying (RFC 7296 2.8.1): the rows read off the trace, against tshark's decryption.

tshark, given only the IKE SA's keys in an ``ikev2_decryption_table``, decrypts the two crossing CREATE_CHILD_SA
exchanges; its nonces (``isakmp.nonce``) and SPIs (``isakmp.spi``: N(REKEY_SA)'s, then the proposal's) must be
those of :func:`ikelab.figures_collision.collision_rows`.  The nonce rule is then applied here to tshark's nonces,
and the engine must have kept the SA it says.  Needs tshark for that test (skipped without it, failed under CI=true).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tshark_util import require_tshark, run_tshark

from ikelab import events
from ikelab.errors import ConfigError
from ikelab.figures_collision import CollisionRow, collided_lab, collision_rows, format_collision
from ikelab.figures_ike import moon_and_sun
from ikelab.lab import Lab
from ikelab.packet import ethernet
from ikelab.pcap import write_pcap
from ikelab.wireshark import records_from_lab

CREATE_CHILD_SA, FLAG_RESPONSE, FLAG_INITIATOR = 36, 0x20, 0x08  # RFC 7296 3.1


@pytest.mark.tshark
@pytest.mark.parametrize("seed", ["lesson07-again", "lesson07-exercise"])
def test_rows_are_what_tshark_decrypts_and_the_lowest_nonce_loses(tmp_path: Path, seed: str) -> None:
    require_tshark()
    lab = collided_lab(seed)
    write_pcap(tmp_path / "c.pcap", [(1_700_000_000 + t, ethernet(p)) for t, p in lab.trace.ip_packets()])
    ike, _ = records_from_lab(lab, "initiator")
    out = run_tshark(tmp_path / "c.pcap", ["-T", "fields", "-E", "separator=|"]
                     + [x for f in ("ip.src", "isakmp.exchangetype", "isakmp.flags", "isakmp.messageid",
                                    "isakmp.nonce", "isakmp.spi") for x in ("-e", f)],
                     ikev2_keys=[r.line() for r in ike])
    frames = [line.split("|") for line in out.splitlines()]
    ccsa = [(src, int(flags, 16), int(mid, 16), bytes.fromhex(nonce), spis.split(","))
            for src, xchg, flags, mid, nonce, spis in frames if xchg == str(CREATE_CHILD_SA)]
    assert len(ccsa) == 4 and all(nonce for *_, nonce, _ in ccsa), "tshark decrypted every CREATE_CHILD_SA"
    moon = lab.addresses["initiator"]
    expected = []
    for src, flags, mid, ni, (rekeys, spi_request) in [c for c in ccsa if not c[1] & FLAG_RESPONSE]:
        (response,) = [c for c in ccsa if c[1] & FLAG_RESPONSE and c[2] == mid and c[0] != src]
        nr, spi_response = response[3], response[4][-1]
        spi_in, spi_out = (spi_request, spi_response) if src == moon else (spi_response, spi_request)
        expected.append(("moon" if src == moon else "sun", mid, ni, nr, spi_in, spi_out, rekeys))
    rows = collision_rows(lab)
    assert sorted((r.started_by, r.message_id, r.ni, r.nr, r.spi_in.hex(), r.spi_out.hex(), r.rekeys.hex())
                  for r in rows) == sorted(expected)
    assert {e[0] for e in expected} == {"moon", "sun"}
    # RFC 7296 2.8.1 on tshark's nonces: the SA of the exchange holding the lowest of the four is closed
    lowest = min(n for e in expected for n in (e[2], e[3]))
    (kept,) = [e for e in expected if lowest not in (e[2], e[3])]
    assert [c.spi_in.hex() for c in lab.children("initiator")] == [kept[4]]
    assert [c.spi_in.hex() for c in lab.children("responder")] == [kept[5]]


def test_format_names_each_exchange_its_nonces_and_spis() -> None:
    row = CollisionRow("sun", 0, bytes(range(32)), b"\xff" * 16, bytes.fromhex("0ab0cd58"),
                       bytes.fromhex("7a4c1791"), bytes.fromhex("2c14300b"))
    assert format_collision([row]).splitlines() == [
        "exchange started by sun (MID 0), N(REKEY_SA) 0x2c14300b",
        "  Ni 0001020304050607...18191a1b1c1d1e1f (32 bytes)",
        "  Nr ffffffffffffffffffffffffffffffff",
        "  moon's new SA: in 0x0ab0cd58, out 0x7a4c1791",
    ]


def test_a_lab_without_a_child_sa_rekey_is_refused_by_name() -> None:
    lab = Lab(*moon_and_sun(), seed="no rekey")
    lab.initiate()
    lab.run_until_idle()
    lab.create_child("initiator")  # CREATE_CHILD_SA without N(REKEY_SA): no row
    lab.run_until_idle()
    assert lab.events("initiator", events.ChildSaCreated)[-1].rekey_of is None
    with pytest.raises(ConfigError, match="no answered CHILD SA rekey") as info:
        collision_rows(lab)
    assert info.value.field == "lab"


@pytest.mark.parametrize("lab", [object(), None, "lesson07-again"])
def test_something_else_than_a_lab_is_refused_by_name(lab: object) -> None:
    """collision_rows (and figures_ike.lab_crypto under it) read a lab's events and trace: anything else is a
    ConfigError naming the argument, not an AttributeError from inside."""
    with pytest.raises(ConfigError, match="lab must be an ikelab.lab.Lab") as info:
        collision_rows(lab)
    assert info.value.field == "lab"
