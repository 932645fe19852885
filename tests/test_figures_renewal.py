"""Tests for ikelab.figures_renewal (lesson 11, exercise 2): rekeying against starting over.

References: RFC 7296 2.8 (a CHILD SA rekey is a CREATE_CHILD_SA exchange with N(REKEY_SA), after which the old
CHILD SA is deleted with an INFORMATIONAL exchange), 2.4 (N(INITIAL_CONTACT): the peer drops the older IKE SAs
between the same identities), RFC 7815 (the minimal initiator starts no exchange but IKE_SA_INIT and IKE_AUTH).
By hand: k renewals cost the full initiator 4 + 4k messages and one Diffie-Hellman, the minimal one 4 + 4k
messages and 1 + k Diffie-Hellman exchanges; tshark decrypts the runs and finds what each message carries.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tshark_util import require_tshark, run_tshark

from ikelab import events
from ikelab.errors import ConfigError
from ikelab.state import State
from ikelab.figures_renewal import format_renewals, renewal_lab, renewal_run
from ikelab.packet import ethernet
from ikelab.pcap import write_pcap
from ikelab.wireshark import records_from_lab

IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL = 34, 35, 36, 37  # RFC 7296 3.1
REKEY_SA, INITIAL_CONTACT, PROTO_ESP = 16393, 16384, 3                 # RFC 7296 3.10.1, 3.11


@pytest.mark.parametrize("hours, interval, k", [(1.5, 3600.0, 1), (3.25, 3600.0, 3), (8.5, 3600.0, 8),
                                                (2.1, 2400.0, 3)])
def test_counts_follow_the_exchanges_of_each_renewal(hours: float, interval: float, k: int) -> None:
    full = renewal_run(hours, minimal=False, interval=interval)
    minimal = renewal_run(hours, minimal=True, interval=interval)
    assert (full.renewals, minimal.renewals) == (k, k)
    assert (full.count, minimal.count) == (4 + 4 * k, 4 + 4 * k)
    assert (full.diffie_hellman, minimal.diffie_hellman) == (1, 1 + k)
    setup = [("IKE_SA_INIT", False), ("IKE_SA_INIT", True), ("IKE_AUTH", False), ("IKE_AUTH", True)]
    rekey = [("CREATE_CHILD_SA", False), ("CREATE_CHILD_SA", True), ("INFORMATIONAL", False), ("INFORMATIONAL", True)]
    assert [m[1:] for m in full.messages] == setup + rekey * k
    assert [m[1:] for m in minimal.messages] == setup * (k + 1)  # no Delete: nothing but new IKE SAs
    # each renewal starts one interval after the SA it replaces was set up (within the lab's 10 ms hops)
    for run, first in ((full, "CREATE_CHILD_SA"), (minimal, "IKE_SA_INIT")):
        starts = [0.0] + [t for t, name, response in run.messages if name == first and not response][-k:]
        assert all(interval < b - a < interval + 0.1 for a, b in zip(starts, starts[1:]))
        assert run.messages[-1][0] < hours * 3600
    assert (full.exchanges("IKE_SA_INIT"), minimal.exchanges("IKE_SA_INIT")) == (1, k + 1)


def test_the_labs_end_with_one_child_sa_and_the_right_ike_sas() -> None:
    full, minimal = renewal_lab(3.5, minimal=False), renewal_lab(3.5, minimal=True)
    for lab in (full, minimal):
        assert len(lab.children("initiator")) == len(lab.children("responder")) == 1
        assert lab.children("initiator")[0].spi_in == lab.children("responder")[0].spi_out
        assert [sa.spi_i for sa in lab.sas("responder") if sa.state != State.CLOSED] == [lab.initiator.spi_i]
    assert [len(full.events(side, events.ChildSaRekeyed)) for side in ("initiator", "responder")] == [3, 3]
    assert [len(lab.events("initiator", events.IkeSaEstablished)) for lab in (full, minimal)] == [1, 4]
    assert not full.events("initiator", (events.IkeSaRekeyed, events.IkeSaDeleted))
    assert not minimal.events("initiator", (events.ChildSaRekeyed, events.IkeSaRekeyed))
    forgotten = minimal.events("initiator", events.IkeSaDeleted)  # closed by restart(), without a message
    assert len(forgotten) == 3 and all(e.reason.startswith("forgotten: the peer restarted") for e in forgotten)
    assert [sa.state for sa in minimal.sas("initiator")] == [State.CLOSED] * 3 + [State.ESTABLISHED]
    # the gateway closes each old IKE SA itself, on the new one's INITIAL_CONTACT (RFC 7296 2.4)
    gone = minimal.events("responder", events.IkeSaDeleted)
    assert len(gone) == 3 and all("INITIAL_CONTACT" in e.reason for e in gone)
    sent = [e.summary for e in minimal.events("initiator", events.MessageSent) if e.exchange == "IKE_AUTH"]
    assert len(sent) == 4 and all("N(INITIAL_CONTACT)" in s for s in sent[1:])


@pytest.mark.tshark
@pytest.mark.parametrize("minimal", [False, True])
def test_tshark_decrypts_what_each_renewal_carries(tmp_path: Path, minimal: bool) -> None:
    require_tshark()
    lab = renewal_lab(2.5, minimal=minimal)
    write_pcap(tmp_path / "r.pcap", [(1_700_000_000 + t, ethernet(p)) for t, p in lab.trace.ip_packets()])
    ike, _ = records_from_lab(lab, "initiator")
    out = run_tshark(tmp_path / "r.pcap", ["-Y", "isakmp", "-T", "fields", "-E", "separator=|"]
                     + [x for f in ("ip.src", "isakmp.ispi", "isakmp.exchangetype", "isakmp.flags",
                                    "isakmp.notify.msgtype", "isakmp.delete.protoid", "isakmp.typepayload")
                        for x in ("-e", f)],
                     ikev2_keys=[r.line() for r in ike])
    frames = [line.split("|") for line in out.splitlines()]
    requests = [(int(xchg), notify.split(","), delete) for src, _, xchg, flags, notify, delete, _ in frames
                if not int(flags, 16) & 0x20]
    assert {src for src, *_, flags, _, _, _ in frames if not int(flags, 16) & 0x20} == {lab.addresses["initiator"]}
    run = renewal_run(2.5, minimal=minimal)
    assert len(frames) == run.count == 12
    assert all(payloads for *_, payloads in frames), "tshark decrypted every message"
    renewals = [r for r in requests if r[0] != IKE_SA_INIT and r[0] != IKE_AUTH]
    if minimal:
        assert len({spi for _, spi, *_ in frames}) == 3                # a new IKE SA for each renewal
        assert renewals == []                                          # no Delete, no CREATE_CHILD_SA
        auth = [n for x, n, _ in requests if x == IKE_AUTH]
        assert [str(INITIAL_CONTACT) in n for n in auth] == [False, True, True]
    else:
        assert len({spi for _, spi, *_ in frames}) == 1                # one IKE SA all along
        assert [x for x, _, _ in renewals] == [CREATE_CHILD_SA, INFORMATIONAL] * 2
        assert all(str(REKEY_SA) in n for x, n, _ in renewals if x == CREATE_CHILD_SA)
        assert [d for x, _, d in renewals if x == INFORMATIONAL] == [str(PROTO_ESP)] * 2


def test_format_puts_the_runs_side_by_side() -> None:
    text = format_renewals([renewal_run(2.5, minimal=False), renewal_run(2.5, minimal=True)])
    rows = {line[:24].strip(): line[24:].split() for line in text.splitlines()[2:]}
    assert rows["IKE messages in all"] == ["12", "12"] and rows["CREATE_CHILD_SA messages"] == ["4", "0"]
    assert rows["INFORMATIONAL messages"] == ["4", "0"] and rows["IKE_SA_INIT messages"] == ["2", "6"]
    assert rows["Diffie-Hellman exchanges"] == ["1", "3"] and rows["authentications (AUTH)"] == ["1", "3"]
    assert text.splitlines()[0].split("  ")[-1] == "minimal (RFC 7815)"


@pytest.mark.parametrize("hours, interval, what", [
    (8.0, 3600.0, "within a minute of a renewal"), (8.99, 3600.0, "within a minute"), (0.5, 3600.0, "in 1..24"),
    (True, 3600.0, "in 1..24"), ("8.5", 3600.0, "in 1..24"), (25, 3600.0, "in 1..24"), (8.5, 60.0, "600..86400"),
    (8.5, float("nan"), "600..86400")])
def test_bad_lengths_are_refused_by_name(hours: object, interval: object, what: str) -> None:
    with pytest.raises(ConfigError, match=what):
        renewal_run(hours, minimal=False, interval=interval)  # type: ignore[arg-type]
