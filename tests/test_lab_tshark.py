"""Wireshark reads the lab's exchanges: every protected message decrypts and its ICV checks.

An independent reader for the engine's output: a lab runs IKE_SA_INIT,
IKE_AUTH, CREATE_CHILD_SA (new, rekey with PFS, IKE SA rekey) and
INFORMATIONAL (liveness, DELETE) in both directions; the trace is written to
a pcap; tshark, given only the SK_e*/SK_a* keys of each IKE SA in its
``ikev2_decryption_table`` (:mod:`ikelab.wireshark`), must decrypt every SK
payload, report the Integrity Checksum Data as correct, and find inside the
payload types the engine says it sent.  Needs tshark (skipped without it,
failed under CI=true).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tshark_util import require_tshark, run_pdml

from ikelab import events as ev
from ikelab.config import IkeConfig
from ikelab.constants import PayloadType
from ikelab.lab import Lab
from ikelab.message import decode
from ikelab.packet import ethernet
from ikelab.pcap import write_pcap
from ikelab.wireshark import records_from_lab

pytestmark = pytest.mark.tshark


def run_lab(ike: str, esp: str, **extra) -> Lab:
    base = dict(psk=b"a shared secret", ike_proposals=(ike,), esp_proposals=(esp,), cookie_threshold=None,
                pfs_group="ECP_256")
    base.update(extra)
    lab = Lab(IkeConfig(local_id="moon.example", remote_id="sun.example", **base),
              IkeConfig(local_id="sun.example", remote_id="moon.example", **base), seed=21)
    lab.initiate()
    lab.run_until_idle()
    for action in (lambda: lab.create_child("responder"), lambda: lab.rekey_child("initiator"),
                   lambda: lab.liveness("responder"), lambda: lab.rekey_ike("responder"),
                   lambda: lab.delete_child("initiator"), lambda: lab.delete_ike("initiator")):
        action()
        lab.run_until_idle()
    return lab


def fields(packet: ET.Element, name: str) -> list[ET.Element]:
    return packet.findall(f".//field[@name='{name}']")


@pytest.mark.parametrize("ike, esp, extra", [
    ("aes128-sha256-modp2048", "aes128-sha256", {}),
    ("aes256gcm16-prfsha384-ecp384", "aes256gcm16", {}),
    ("aes128-sha256-ecp256", "aes128gcm16", {"encapsulation": "always"}),
], ids=["cbc-hmac", "gcm", "udp4500"])
def test_tshark_decrypts_every_exchange(tmp_path: Path, ike: str, esp: str, extra: dict) -> None:
    require_tshark()
    lab = run_lab(ike, esp, **extra)
    pcap = tmp_path / "lab.pcap"
    write_pcap(pcap, [(1_700_000_000 + t, ethernet(p)) for t, p in lab.trace.ip_packets()])
    ike_records, _ = records_from_lab(lab, "initiator")
    assert len(ike_records) == 2  # the first IKE SA and the one that replaced it
    packets = run_pdml(pcap, ikev2_keys=[r.line() for r in ike_records])
    assert len(packets) == len(lab.trace)
    protected = 0
    for pdml, pkt in zip(packets, lab.trace):
        msg = decode(pkt.ike_message)
        if msg.exchange.name == "IKE_SA_INIT":
            continue
        protected += 1
        assert fields(pdml, "isakmp.enc.decrypted"), f"tshark did not decrypt {msg.info}"
        icd = [f.get("showname", "") for f in fields(pdml, "isakmp.enc.icd")]
        assert icd and all("[correct]" in s for s in icd), (msg.info, icd)
        # the payload types inside, as the engine decoded them itself
        ours = decode(pkt.ike_message, crypto=_crypto_for(lab, msg))
        inner = [int(p.payload_type) for p in ours.payloads[0].inner]
        seen = [int(f.get("show")) for f in fields(pdml, "isakmp.typepayload")]
        assert seen[0] == PayloadType.SK
        top = [t for t in seen[1:] if t >= PayloadType.SA]  # proposals (2) and transforms (3) are substructures
        assert top == inner, (msg.info, top, inner)
    kinds = {e.exchange for e in lab.events("initiator", ev.MessageSent)}
    assert kinds == {"IKE_SA_INIT", "IKE_AUTH", "CREATE_CHILD_SA", "INFORMATIONAL"}
    assert protected >= 14


def _crypto_for(lab: Lab, msg) -> object:
    """The receiving peer's SK crypto for ``msg`` (found by its SPIs among both peers' IKE SAs)."""
    for side in ("initiator", "responder"):
        for sa in lab.sas(side):
            if (sa.spi_i, sa.spi_r) == (msg.spi_i, msg.spi_r) and sa.initiator != msg.is_initiator:
                return sa._crypto(sending=False)
    raise AssertionError(f"no IKE SA for {msg.spi_i.hex()}/{msg.spi_r.hex()}")



@pytest.mark.parametrize("ike", ["aes128-sha256-ecp256", "aes256gcm16-prfsha384-ecp384"], ids=["cbc-hmac", "gcm"])
def test_tshark_joins_ike_fragments_as_ikelab_does(tmp_path: Path, ike: str) -> None:
    """RFC 7383 fragments: tshark (its own reassembly) and ``ikelab dissect`` read every frame alike.

    Each frame's Info column matches ``tshark -2`` (``(fragment 2/3) (reassembled)`` on the last
    piece), and the payload types tshark finds in each joined, decrypted message are those the
    receiving engine reported.  With AES-GCM each piece's associated data covers its own SKF header
    (RFC 7383 2.5), so a wrong Fragment Number would fail tshark's tag check.
    """
    from tshark_util import run_tshark

    from ikelab.dissect import dissect
    from ikelab.wireshark import KeyTables

    require_tshark()
    lab = run_lab(ike, "aes128gcm16", fragmentation=True, fragment_size=200)
    pcap = tmp_path / "lab.pcap"
    write_pcap(pcap, [(1_700_000_000 + t, ethernet(p)) for t, p in lab.trace.ip_packets()])
    ike_records, _ = records_from_lab(lab, "initiator")
    out = run_tshark(pcap, ["-2", "-T", "fields", "-E", "separator=|", "-e", "_ws.col.Info", "-e", "isakmp.typepayload"],
                     ikev2_keys=[r.line() for r in ike_records])
    text = [line.split("|") for line in out.splitlines()]
    rows = dissect(str(pcap), KeyTables(ike=ike_records))
    assert [r.info for r in rows] == [t[0] for t in text]
    joined = [(r, t) for r, t in zip(rows, text) if r.info.endswith("(reassembled)")]
    assert len(joined) == 8  # IKE_AUTH and the three CREATE_CHILD_SA exchanges, both ways: every one split
    for row, (_, types) in joined:
        inside = [int(x) for x in types.split(",")[1:] if int(x) >= PayloadType.SA]
        assert inside == [int(p.payload_type) for p in row.message.payloads[-1].inner], row.info
    ours = [e.summary for side in ("initiator", "responder") for e in lab.events(side, ev.MessageReceived)
            if e.exchange != "IKE_SA_INIT" and e.size > 200]
    assert sorted(ours) == sorted(r.summary for r, _ in joined)
