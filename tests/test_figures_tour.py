"""Tests for ikelab.figures_tour (lesson 00): the classic trace's rows, the lesson map and the flow figure.

References: RFC 7296 1.2 (the initial exchange is four messages: IKE_SA_INIT and IKE_AUTH, each a request and a
response) and 2.1 (a retransmission repeats the request with the same Message ID); Wireshark's tshark reads the
classic capture independently of ikelab's dissector.
"""

from __future__ import annotations

import pytest

from ikelab import events as ev
from ikelab import figures, figures_tour, scenario
from ikelab.errors import ConfigError


@pytest.fixture(scope="module")
def classic() -> scenario.Scenario:
    return scenario.classic(seed=1)


@pytest.fixture(scope="module")
def rows(classic: scenario.Scenario) -> list:
    return figures_tour.tour_rows(classic)


def test_initial_exchange_is_four_messages_despite_the_retransmission(rows: list) -> None:
    first = [r for r in rows if r.kind == "ike" and r.exchange in ("IKE_SA_INIT", "IKE_AUTH")
             and r.spi_i == rows[0].spi_i]
    assert len(first) == 5  # the lost request and its retransmission are both in the capture
    messages = figures_tour.initial_exchange_messages(rows)
    assert [(m.exchange, m.is_response) for m in messages] == [
        ("IKE_SA_INIT", False), ("IKE_SA_INIT", True), ("IKE_AUTH", False), ("IKE_AUTH", True)]
    assert [m.message_id for m in messages] == [0, 0, 1, 1]


def test_initial_exchange_without_loss_and_without_ike() -> None:
    sc = scenario.classic(seed=2, duration=2.0, lose_first=False, child_rekey_after=None, liveness_interval=None,
                          reconnect_at=None)
    rows = figures_tour.tour_rows(sc)
    assert len(figures_tour.initial_exchange_messages(rows)) == 4
    with pytest.raises(ConfigError):
        figures_tour.initial_exchange_messages([r for r in rows if r.kind == "esp"])


def test_tshark_sees_the_same_initial_exchange(classic: scenario.Scenario, tmp_path) -> None:
    from tshark_util import require_tshark, run_fields

    require_tshark()
    paths = classic.write(tmp_path)
    fields = run_fields(paths["pcap"], ["isakmp.ispi", "isakmp.exchangetype", "isakmp.messageid", "isakmp.flag_r"])
    ike = [f for f in fields if f and f[0]]
    first_spi = ike[0][0]
    distinct = {tuple(f[1:]) for f in ike if f[0] == first_spi and f[1] in ("34", "35")}  # IKE_SA_INIT, IKE_AUTH
    rows = figures_tour.tour_rows(classic)
    assert len(distinct) == len(figures_tour.initial_exchange_messages(rows)) == 4


def test_lesson_map_covers_the_course_and_the_right_packets(rows: list) -> None:
    mapping = figures_tour.lesson_map(rows)
    assert [lesson.number for lesson, _ in mapping] == [f"{i:02d}" for i in range(12)]
    by_number = {lesson.number: nos for lesson, nos in mapping}
    kinds = {r.no: r for r in rows}
    assert by_number["00"] == [r.no for r in rows]
    assert by_number["04"] == []
    assert by_number["02"] and all(kinds[n].exchange == "IKE_SA_INIT" for n in by_number["02"])
    assert by_number["09"] and all(kinds[n].kind == "esp" for n in by_number["09"])
    # lesson 07: CREATE_CHILD_SA and the Delete of a replaced CHILD SA, answered with a Delete of the paired SPI
    # (RFC 7296 1.4.1); liveness checks (empty INFORMATIONALs) and the Delete of the IKE SA, answered empty,
    # belong to lesson 10
    info = [r for r in rows if r.exchange == "INFORMATIONAL"]
    answers = {(r.spi_i, r.message_id): r.summary for r in info if r.is_response}
    child_deletes = {r.no for r in info if r.summary == "HDR, SK {D}" == answers[(r.spi_i, r.message_id)]}
    assert len(child_deletes) == 4  # the two CHILD SA rekeys, one per IKE SA
    assert set(by_number["07"]) == {r.no for r in rows if r.exchange == "CREATE_CHILD_SA"} | child_deletes
    liveness = figures_tour.packet_detail(rows, next(r.no for r in rows if r.summary == "HDR, SK {}"))
    assert liveness.endswith("Explained in: lesson 10 (The Wireshark trace)")
    table = figures_tour.format_lesson_map(rows)
    assert "Perfect forward secrecy" in table and "(none)" in table


def test_packet_detail_matches_the_engines_child_sa(classic: scenario.Scenario, rows: list) -> None:
    child = next(e for e in classic.events["initiator"] if isinstance(e, ev.ChildSaCreated))
    first_esp = next(r for r in rows if r.kind == "esp")
    text = figures_tour.packet_detail(rows, first_esp.no)
    assert f"SPI 0x{child.spi_out.hex()}" in text and "lesson 09 (ESP)" in text and "ICMP 10.1.0.1 -> 10.2.0.1" in text
    auth = figures_tour.packet_detail(rows, 4)
    assert "HDR, SK {IDi, AUTH, SAi2, TSi, TSr}" in auth and "lesson 06 (IKE_AUTH)" in auth
    with pytest.raises(ConfigError):
        figures_tour.packet_detail(rows, 10_000)


def test_ranges() -> None:
    assert figures_tour._ranges([1, 2, 3, 7, 9, 10]) == "1-3, 7, 9-10"
    assert figures_tour._ranges([]) == "-"
    assert figures_tour._ranges(list(range(1, 40, 2)), limit=3) == "1, 3, 5, ..."


def test_flow_figure_and_its_size(rows: list) -> None:
    fig = figures_tour.tour_flow_figure(rows, upto=3.2)
    assert fig.ikelab_alt.startswith("Figure: The classic trace: 15 packets drawn as 13 arrows")
    assert len(figures.png_bytes(fig, dpi=figures_tour.FLOW_DPI)) < 48_000  # base64 stays under 64 KB
    with pytest.raises(ConfigError):
        figures_tour.tour_flow_figure(rows, upto=-1.0)
