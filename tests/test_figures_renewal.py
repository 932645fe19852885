"""Tests for ikelab.figures_renewal (lesson 11, exercise 2): rekeying against starting over.

References: RFC 7296 2.8 (a CHILD SA rekey is a CREATE_CHILD_SA exchange with N(REKEY_SA), after which the old
CHILD SA is deleted with an INFORMATIONAL exchange), 1.4.1 (deleting an IKE SA deletes its CHILD SAs), RFC 7815
(the minimal initiator has no CREATE_CHILD_SA and starts over).  By hand: k renewals cost the full initiator
4 + 4k messages and the minimal one 4 + 6k; tshark decrypts the runs and finds what each message carries.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tshark_util import require_tshark

from ikelab import events
from ikelab.errors import ConfigError
from ikelab.figures_renewal import format_renewals, renewal_lab, renewal_run
from ikelab.packet import ethernet
from ikelab.pcap import write_pcap
from ikelab.wireshark import records_from_lab, write_tables

IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL = 34, 35, 36, 37  # RFC 7296 3.1
REKEY_SA, PROTO_IKE, PROTO_ESP = 16393, 1, 3                           # RFC 7296 3.10.1, 3.11


@pytest.mark.parametrize("hours, interval, k", [(1.5, 3600.0, 1), (3.25, 3600.0, 3), (8.5, 3600.0, 8),
                                                (2.1, 2400.0, 3)])
def test_counts_follow_the_exchanges_of_each_renewal(hours: float, interval: float, k: int) -> None:
    full = renewal_run(hours, minimal=False, interval=interval)
    minimal = renewal_run(hours, minimal=True, interval=interval)
    assert (full.renewals, minimal.renewals) == (k, k)
    assert (full.count, minimal.count) == (4 + 4 * k, 4 + 6 * k)
    setup = [("IKE_SA_INIT", False), ("IKE_SA_INIT", True), ("IKE_AUTH", False), ("IKE_AUTH", True)]
    rekey = [("CREATE_CHILD_SA", False), ("CREATE_CHILD_SA", True), ("INFORMATIONAL", False), ("INFORMATIONAL", True)]
    restart = [("INFORMATIONAL", False), ("INFORMATIONAL", True)] + setup
    assert [m[1:] for m in full.messages] == setup + rekey * k
    assert [m[1:] for m in minimal.messages] == setup + restart * k
    # each renewal starts one interval after the SA it replaces was set up (within the lab's 10 ms hops)
    for run, first in ((full, "CREATE_CHILD_SA"), (minimal, "INFORMATIONAL")):
        starts = [0.0] + [t for t, name, response in run.messages if name == first and not response]
        assert all(interval < b - a < interval + 0.1 for a, b in zip(starts, starts[1:]))
        assert run.messages[-1][0] < hours * 3600
    assert (full.exchanges("IKE_SA_INIT"), minimal.exchanges("IKE_SA_INIT")) == (1, k + 1)


def test_the_labs_end_with_one_child_sa_and_the_right_ike_sas() -> None:
    full, minimal = renewal_lab(3.5, minimal=False), renewal_lab(3.5, minimal=True)
    for lab in (full, minimal):
        assert len(lab.children("initiator")) == len(lab.children("responder")) == 1
        assert lab.children("initiator")[0].spi_in == lab.children("responder")[0].spi_out
    assert [len(full.events(side, events.ChildSaRekeyed)) for side in ("initiator", "responder")] == [3, 3]
    assert [len(minimal.events(side, events.IkeSaDeleted)) for side in ("initiator", "responder")] == [3, 3]
    assert [len(lab.events("initiator", events.IkeSaEstablished)) for lab in (full, minimal)] == [1, 4]
    assert not full.events("initiator", (events.IkeSaRekeyed, events.IkeSaDeleted))
    assert not minimal.events("initiator", (events.ChildSaRekeyed, events.IkeSaRekeyed))


@pytest.mark.tshark
@pytest.mark.parametrize("minimal", [False, True])
def test_tshark_decrypts_what_each_renewal_carries(tmp_path: Path, minimal: bool) -> None:
    tshark = require_tshark()
    lab = renewal_lab(2.5, minimal=minimal)
    write_pcap(tmp_path / "r.pcap", [(1_700_000_000 + t, ethernet(p)) for t, p in lab.trace.ip_packets()])
    write_tables(tmp_path, *records_from_lab(lab, "initiator"))
    out = subprocess.run([tshark, "-r", str(tmp_path / "r.pcap"), "-Y", "isakmp", "-T", "fields", "-E", "separator=|"]
                         + [x for f in ("ip.src", "isakmp.ispi", "isakmp.exchangetype", "isakmp.flags",
                                        "isakmp.notify.msgtype", "isakmp.delete.protoid", "isakmp.typepayload")
                            for x in ("-e", f)],
                         capture_output=True, text=True, timeout=60, check=True,
                         env=dict(os.environ, WIRESHARK_CONFIG_DIR=str(tmp_path))).stdout
    frames = [line.split("|") for line in out.splitlines()]
    requests = [(int(xchg), notify.split(","), delete) for src, _, xchg, flags, notify, delete, _ in frames
                if not int(flags, 16) & 0x20]
    assert {src for src, *_, flags, _, _, _ in frames if not int(flags, 16) & 0x20} == {lab.addresses["initiator"]}
    run = renewal_run(2.5, minimal=minimal)
    assert len(frames) == run.count == (16 if minimal else 12)
    assert all(payloads for *_, payloads in frames), "tshark decrypted every message"
    renewals = [r for r in requests if r[0] != IKE_SA_INIT and r[0] != IKE_AUTH]
    if minimal:
        assert len({spi for _, spi, *_ in frames}) == 3                # a new IKE SA for each renewal
        assert [(x, d) for x, _, d in renewals] == [(INFORMATIONAL, str(PROTO_IKE))] * 2
    else:
        assert len({spi for _, spi, *_ in frames}) == 1                # one IKE SA all along
        assert [x for x, _, _ in renewals] == [CREATE_CHILD_SA, INFORMATIONAL] * 2
        assert all(str(REKEY_SA) in n for x, n, _ in renewals if x == CREATE_CHILD_SA)
        assert [d for x, _, d in renewals if x == INFORMATIONAL] == [str(PROTO_ESP)] * 2


def test_format_puts_the_runs_side_by_side() -> None:
    text = format_renewals([renewal_run(2.5, minimal=False), renewal_run(2.5, minimal=True)])
    rows = {line[:24].strip(): line[24:].split() for line in text.splitlines()[2:]}
    assert rows["IKE messages in all"] == ["12", "16"] and rows["CREATE_CHILD_SA messages"] == ["4", "0"]
    assert rows["INFORMATIONAL messages"] == ["4", "4"] and rows["Diffie-Hellman + AUTH"] == ["1", "3"]
    assert text.splitlines()[0].split("  ")[-1] == "minimal (RFC 7815)"


@pytest.mark.parametrize("hours, interval, what", [
    (8.0, 3600.0, "within a minute of a renewal"), (8.99, 3600.0, "within a minute"), (0.5, 3600.0, "in 1..24"),
    (True, 3600.0, "in 1..24"), ("8.5", 3600.0, "in 1..24"), (25, 3600.0, "in 1..24"), (8.5, 60.0, "600..86400"),
    (8.5, float("nan"), "600..86400")])
def test_bad_lengths_are_refused_by_name(hours: object, interval: object, what: str) -> None:
    with pytest.raises(ConfigError, match=what):
        renewal_run(hours, minimal=False, interval=interval)  # type: ignore[arg-type]
