"""Wireshark's tshark, an independent dissector, reads what ikelab writes (RFC 7296 3).

Messages are written into pcaps (UDP/500, and UDP/4500 behind the Non-ESP
Marker) and tshark's PDML dissection is compared with ikelab's decode and
field dump: payload types and order, lengths, SPIs, transform IDs, notify
types, traffic selectors, the byte offset and size of every mapped field,
and the Info column.  With an ``ikev2_decryption_table`` in a private config
directory, tshark must decrypt ikelab's SK and SKF payloads and find their
ICVs correct, for AES-CBC with each HMAC, AES-CTR, AES-GCM and AES-CCM.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from ikewire_samples import (
    SPI_R,
    SUITES,
    all_sample_messages,
    cleartext_everything,
    create_child_request,
    ike_auth_request,
    informational_response,
)
from ikelab.message import Message, decode
from ikelab.payloads import SA, SK, Nonce, Notify, TSi, TSr
from ikelab.rand import DeterministicRandom
from ikelab.sk import SkCrypto, SkCryptoPair, fragment, reassemble
from ikelab.transforms import encryption, integrity
from ikelab.views import dump, info_column
from tshark_util import ikev2_uat_line, proto, require_tshark, run_fields, run_pdml, write_udp_pcap

pytestmark = pytest.mark.tshark

# tshark field -> the last component(s) of ikelab's dump path for the same octets
FIELD_MAP: dict[str, tuple[str, ...]] = {
    "isakmp.ispi": ("spi_i",),
    "isakmp.rspi": ("spi_r",),
    "isakmp.version": ("version",),
    "isakmp.exchangetype": ("exchange_type",),
    "isakmp.flags": ("flags",),
    "isakmp.messageid": ("message_id",),
    "isakmp.length": ("length",),
    "isakmp.nextpayload": ("next_payload", "last_substruc"),
    "isakmp.criticalpayload": ("critical",),
    "isakmp.payloadlength": ("payload_length", "proposal_length", "transform_length"),
    "isakmp.prop.number": ("proposal_number",),
    "isakmp.prop.protoid": ("protocol_id",),
    "isakmp.spisize": ("spi_size",),
    "isakmp.prop.transforms": ("num_transforms",),
    "isakmp.spi": ("spi",),
    "isakmp.tf.type": ("transform_type",),
    "isakmp.tf.id.encr": ("transform_id",),
    "isakmp.tf.id.prf": ("transform_id",),
    "isakmp.tf.id.integ": ("transform_id",),
    "isakmp.tf.id.dh": ("transform_id",),
    "isakmp.tf.id.esn": ("transform_id",),
    "isakmp.ike2.attr.key_length": ("value",),
    "isakmp.key_exchange.dh_group": ("dh_group",),
    "isakmp.key_exchange.data": ("key_exchange_data",),
    "isakmp.nonce": ("nonce_data",),
    "isakmp.notify.protoid": ("protocol_id",),
    "isakmp.notify.msgtype": ("notify_type",),
    "isakmp.notify.data": ("notification_data",),
    "isakmp.id.type": ("id_type",),
    "isakmp.id.data": ("id_data",),
    "isakmp.auth.method": ("method",),
    "isakmp.auth.data": ("data",),
    "isakmp.cert.encoding": ("encoding",),
    "isakmp.cert.data": ("data",),
    "isakmp.certreq.type": ("encoding",),
    "isakmp.ts.number": ("number_of_ts",),
    "isakmp.ts.type": ("ts_type",),
    "isakmp.ts.protoid": ("ip_protocol",),
    "isakmp.ts.selector_length": ("selector_length",),
    "isakmp.ts.start_port": ("start_port",),
    "isakmp.ts.end_port": ("end_port",),
    "isakmp.ts.start_ipv4": ("start_addr",),
    "isakmp.ts.end_ipv4": ("end_addr",),
    "isakmp.ts.start_ipv6": ("start_addr",),
    "isakmp.ts.end_ipv6": ("end_addr",),
    "isakmp.delete.protoid": ("protocol_id",),
    "isakmp.spinum": ("num_spis",),
    "isakmp.delete.spi": ("spi",),
    "isakmp.vid_bytes": ("vendor_id",),
    "isakmp.cfg.type": ("cfg_type",),
    "isakmp.cfg.attr.type": ("type",),
    "isakmp.cfg.attr.length": ("length",),
    "isakmp.cfg.attr.value": ("value",),
    "isakmp.datapayload": ("data",),
    "isakmp.frag.number": ("fragment_number",),
    "isakmp.frag.total": ("total_fragments",),
    "isakmp.enc.iv": ("iv",),
    "isakmp.enc.icd": ("icv",),
    "isakmp.enc.padding": ("padding",),
    "isakmp.enc.pad_length": ("pad_length",),
}


def _last(path: str) -> str:
    return re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])


def _walk(elem: ET.Element, decrypted: bool = False, reassembled: bool = False):
    """(field element, inside decrypted data?) for every isakmp field, in document order.

    The payloads tshark reassembles from SKF fragments (shown under the last
    fragment, with offsets in the reassembled buffer) are skipped unless
    ``reassembled`` is true.
    """
    skf = elem.get("name") == "isakmp.typepayload" and elem.get("show") == "53"
    for child in elem:
        if child.tag != "field":
            continue
        name = child.get("name", "")
        if skf and name == "isakmp.typepayload" and not reassembled:
            continue
        yield child, decrypted
        yield from _walk(child, decrypted or name == "isakmp.enc.decrypted", reassembled)


def _top_payloads(isakmp: ET.Element) -> list[ET.Element]:
    return [f for f in isakmp.findall("field") if f.get("name") == "isakmp.typepayload"]


def _inner_payloads(isakmp: ET.Element) -> list[ET.Element]:
    contained = [f for f, _ in _walk(isakmp) if f.get("name") == "isakmp.enc.contained"]
    assert contained, "tshark did not decrypt the SK payload"
    return [f for f in contained[0].findall("field") if f.get("name") == "isakmp.typepayload"]


def _child(elem: ET.Element, name: str) -> ET.Element:
    found = elem.find(f"field[@name='{name}']")
    assert found is not None, name
    return found


def _check_offsets(isakmp: ET.Element, data: bytes, crypto=None) -> int:
    """Every mapped tshark field sits where ikelab's dump has a row of that name; returns how many."""
    base = int(isakmp.get("pos"))
    rows = dump(data, crypto)
    plain = {(r.offset, r.length): r.path for r in rows if not r.decrypted}
    inner = {(r.offset, r.length): r.path for r in rows if r.decrypted}
    iv = [r for r in rows if r.path.endswith(".iv")]
    ct_start = iv[0].offset + iv[0].length if iv else None
    checked = 0
    for f, in_decrypted in _walk(isakmp):
        name, size = f.get("name"), int(f.get("size", "0"))
        if name not in FIELD_MAP or size == 0:
            continue
        if in_decrypted:
            key, table = (int(f.get("pos")) + ct_start, size), inner
        else:
            key, table = (int(f.get("pos")) - base, size), plain
        assert key in table, f"tshark {name} at {key} ({f.get('showname')}) has no ikelab row"
        assert _last(table[key]) in FIELD_MAP[name], f"tshark {name} at {key} is ikelab {table[key]}"
        checked += 1
    return checked


def _check_message(isakmp: ET.Element, m: Message, data: bytes) -> None:
    assert _child(isakmp, "isakmp.ispi").get("value") == m.spi_i.hex()
    assert _child(isakmp, "isakmp.rspi").get("value") == m.spi_r.hex()
    assert int(_child(isakmp, "isakmp.exchangetype").get("show")) == int(m.exchange)
    assert int(_child(isakmp, "isakmp.messageid").get("value"), 16) == m.message_id
    assert int(_child(isakmp, "isakmp.length").get("show")) == len(data)
    flags = _child(isakmp, "isakmp.flags")
    assert (_child(flags, "isakmp.flag_i").get("show"), _child(flags, "isakmp.flag_r").get("show")) == (str(int(m.is_initiator)), str(int(m.is_response)))
    tops = _top_payloads(isakmp)
    assert [int(p.get("show")) for p in tops] == [int(p.payload_type) for p in m.payloads]
    lengths = {r.path: int(r.value) for r in dump(data) if r.path.endswith(".payload_length") and "." not in r.path[: -len(".payload_length")]}
    assert [int(_child(p, "isakmp.payloadlength").get("show")) for p in tops] == list(lengths.values())


def _payload_facts(payloads) -> dict[str, list]:
    """What ikelab says about transform IDs, notify types and selectors, in wire order."""
    facts: dict[str, list] = {"tf": [], "notify": [], "ts": [], "keylen": []}
    for p in payloads:
        if isinstance(p, SA):
            for prop in p.proposals:
                for t in prop.transforms:
                    facts["tf"].append(int(t.id))
                    if t.key_length is not None:
                        facts["keylen"].append(t.key_length)
        elif isinstance(p, Notify):
            facts["notify"].append(int(p.notify_type))
        elif isinstance(p, (TSi, TSr)):
            for s in p.selectors:
                facts["ts"].append((s.ip_protocol, s.start_port, s.end_port, str(s.start_addr), str(s.end_addr)))
    return facts


def _tshark_facts(elem: ET.Element) -> dict[str, list]:
    fields = [f for f, _ in _walk(elem)]
    ts = []
    for f in fields:
        if f.get("name") == "isakmp.ts.data":
            get = {c.get("name").rsplit(".", 1)[-1]: c.get("show") for c in f.findall("field")}
            start = get.get("start_ipv4") or get.get("start_ipv6")
            end = get.get("end_ipv4") or get.get("end_ipv6")
            ts.append((int(get["protoid"]), int(get["start_port"]), int(get["end_port"]), start, end))
    return {
        "tf": [int(f.get("show")) for f in fields if f.get("name", "").startswith("isakmp.tf.id.")],
        "notify": [int(f.get("show")) for f in fields if f.get("name") == "isakmp.notify.msgtype"],
        "ts": ts,
        "keylen": [int(f.get("show")) for f in fields if f.get("name") == "isakmp.ike2.attr.key_length"],
    }


# -- cleartext messages ------------------------------------------------------------------


def test_tshark_dissects_cleartext_messages(tmp_path):
    require_tshark()
    messages = [m for m in all_sample_messages() if not isinstance(m.payloads[-1], SK)]
    messages += [
        Message(bytes.fromhex("0102030405060708"), SPI_R, 36, False, False, 100, (Nonce(bytes(16)),)),
        Message(bytes.fromhex("0102030405060708"), SPI_R, 43, True, True, 2**32 - 1, (Notify(16384),), version_flag=True),
        replace(cleartext_everything(), minor_version=1),
    ]
    datagrams = [(m.encode(), 500 if i % 2 == 0 else 4500) for i, m in enumerate(messages)]
    pcap = write_udp_pcap(tmp_path / "clear.pcap", datagrams)
    packets = run_pdml(pcap)
    infos = [row[0] for row in run_fields(pcap, ["_ws.col.Info"])]
    assert len(packets) == len(messages) == len(infos)
    checked = 0
    for m, (data, port), packet, info in zip(messages, datagrams, packets, infos):
        isakmp = proto(packet, "isakmp")
        assert isakmp is not None and int(isakmp.get("size")) == len(data)
        assert int(isakmp.get("pos")) == 42 + (4 if port == 4500 else 0)
        assert decode(data) == m
        assert info == info_column(m), (info, info_column(m))
        _check_message(isakmp, m, data)
        assert _tshark_facts(isakmp) == _payload_facts(m.payloads)
        checked += _check_offsets(isakmp, data)
    assert checked > 300  # the comparison really looked at the fields


def test_tshark_reads_published_messages(tmp_path):
    """The published vectors too: ikelab and tshark agree field by field (offsets, types)."""
    require_tshark()
    from ikewire_samples import VECTORS

    datas = [bytes.fromhex(VECTORS[k]["hex"]) for k in ("aosp_ike_sa_init", "rusticata_ike_sa_init")]
    pcap = write_udp_pcap(tmp_path / "published.pcap", [(d, 500) for d in datas])
    for data, packet in zip(datas, run_pdml(pcap)):
        isakmp = proto(packet, "isakmp")
        m = decode(data)
        _check_message(isakmp, m, data)
        assert _tshark_facts(isakmp) == _payload_facts(m.payloads)
        assert _check_offsets(isakmp, data) > 40


def test_tshark_info_column_with_eap(tmp_path):
    """Wireshark's EAP dissector takes over the Info column; info_column follows it."""
    require_tshark()
    from ikelab.payloads import EAP, IDi

    eaps = [
        bytes.fromhex("0201001201") + b"alice.example",  # Response, Identity
        bytes.fromhex("03050004"),  # Success
        bytes.fromhex("04050004"),  # Failure
        bytes.fromhex(VECTORS_EAP),  # strongSwan's EAP-MSCHAPv2 challenge (AOSP vector)
        bytes.fromhex("0107001604") + bytes([16]) + bytes(16),  # MD5-Challenge
        bytes.fromhex("020700060304"),  # Legacy Nak
        bytes.fromhex("0108000563"),  # unknown type
        bytes.fromhex("05080004"),  # Initiate
        bytes.fromhex("0908000401"),  # unknown code
    ]
    messages = [Message(bytes.fromhex("0102030405060708"), SPI_R, 35, False, True, 1, (IDi.from_fqdn("x"), EAP(e))) for e in eaps]
    pcap = write_udp_pcap(tmp_path / "eap.pcap", [(m.encode(), 500) for m in messages])
    infos = [row[0] for row in run_fields(pcap, ["_ws.col.Info"])]
    assert infos == [info_column(m) for m in messages]


VECTORS_EAP = "013c00241a013c001f10dac4f8b759138776091dd0f00033c5b07374726f6e675377616e"


# -- decryption ---------------------------------------------------------------------------

WIRESHARK_SUITES = [s for s in SUITES if encryption(s[1], s[2]).wireshark_ikev2_name and (s[3] is None or integrity(s[3]).wireshark_ikev2_name)]


def _pair(encr: str, bits: int | None, integ: str | None, seed: str) -> SkCryptoPair:
    rng = DeterministicRandom(seed)
    e = encryption(encr, bits)
    i = integrity(integ) if integ else None

    def side() -> SkCrypto:
        return SkCrypto(e, i, rng.random_bytes(e.key_len), rng.random_bytes(i.key_len) if i else b"", rng.fork("iv"))

    return SkCryptoPair(side(), side())


def _uat(spi_i: bytes, spi_r: bytes, pair: SkCryptoPair) -> str:
    e, i = pair.initiator.encr, pair.initiator.integ
    return ikev2_uat_line(
        spi_i, spi_r, pair.initiator.sk_e, pair.responder.sk_e, e.wireshark_ikev2_name,
        pair.initiator.sk_a, pair.responder.sk_a, i.wireshark_ikev2_name if i else "NONE [RFC4306]",
    )


def test_wireshark_suites_cover_the_brief():
    names = {s[0] for s in WIRESHARK_SUITES}
    assert {"aes-cbc-128/hmac-sha2-256-128", "aes-ctr-128/hmac-sha2-256-128", "aes-gcm-16-256", "aes-ccm-16-256", "aes-ccm-8-128"} <= names


def test_tshark_decrypts_sk_payloads(tmp_path):
    require_tshark()
    cases = []  # (data, message, pair, port)
    keys = []
    for n, (name, encr, bits, integ) in enumerate(WIRESHARK_SUITES):
        pair = _pair(encr, bits, integ, name)
        spi_i = bytes([0x10 + n]) + bytes(6) + bytes([n + 1])
        keys.append(_uat(spi_i, SPI_R, pair))
        for m in (ike_auth_request(), informational_response(), create_child_request()):
            m = replace(m, spi_i=spi_i)
            cases.append((m.encode(pair), m, pair, 4500 if n % 2 else 500))
    # negative controls: one flipped bit in the ciphertext (CBC) and in the tag (GCM)
    controls = []
    for data, m, pair, port in (cases[0], cases[3 * 8]):
        bad = bytearray(data)
        bad[-3] ^= 0x01
        controls.append((bytes(bad), port))
    pcap = write_udp_pcap(tmp_path / "sk.pcap", [(d, p) for d, _, _, p in cases] + controls)
    packets = run_pdml(pcap, ikev2_keys=keys)
    infos = [row[0] for row in run_fields(pcap, ["_ws.col.Info"], ikev2_keys=keys)]
    checked = 0
    for (data, m, pair, port), packet, info in zip(cases, packets, infos):
        isakmp = proto(packet, "isakmp")
        assert info == info_column(m)
        _check_message(isakmp, m, data)
        sk = m.payloads[-1]
        assert [int(p.get("show")) for p in _inner_payloads(isakmp)] == [int(p.payload_type) for p in sk.inner]
        icd = [f for f, _ in _walk(isakmp) if f.get("name") == "isakmp.enc.icd"]
        assert len(icd) == 1 and "[correct]" in icd[0].get("showname"), icd[0].get("showname")
        assert _tshark_facts(isakmp) == _payload_facts(sk.inner)
        details = decode(data, pair).payloads[-1].details
        pad = [f for f, _ in _walk(isakmp) if f.get("name") == "isakmp.enc.pad_length"]
        assert int(pad[0].get("show")) == details.pad_length
        checked += _check_offsets(isakmp, data, pair)
    assert checked > 1000
    for packet in packets[len(cases) :]:
        icd = [f for f, _ in _walk(proto(packet, "isakmp")) if f.get("name") == "isakmp.enc.icd"]
        assert "incorrect" in icd[0].get("showname")


def test_tshark_decrypts_and_reassembles_fragments(tmp_path):
    require_tshark()
    keys, datagrams, expected = [], [], []
    for n, suite in enumerate([s for s in WIRESHARK_SUITES if s[0] in ("aes-cbc-128/hmac-sha2-256-128", "aes-gcm-16-256", "aes-ccm-12-192")]):
        pair = _pair(suite[1], suite[2], suite[3], "frag" + suite[0])
        spi_i = bytes([0xF0 + n]) + bytes(7)
        keys.append(_uat(spi_i, SPI_R, pair))
        m = replace(ike_auth_request(), spi_i=spi_i)
        frags = fragment(m, pair, 160)
        assert reassemble(frags, pair) == m
        datagrams += [(f, 4500) for f in frags]
        expected.append((m, frags, pair))
    pcap = write_udp_pcap(tmp_path / "skf.pcap", datagrams)
    packets = iter(run_pdml(pcap, ikev2_keys=keys))
    infos = iter(row[0] for row in run_fields(pcap, ["_ws.col.Info"], ikev2_keys=keys))
    for m, frags, pair in expected:
        for i, data in enumerate(frags):
            assert next(infos) == info_column(decode(data, pair), reassembled=i == len(frags) - 1)
            isakmp = proto(next(packets), "isakmp")
            (skf,) = _top_payloads(isakmp)
            fields = {f.get("name"): f for f, _ in _walk(skf)}
            assert int(fields["isakmp.frag.number"].get("show")) == i + 1
            assert int(fields["isakmp.frag.total"].get("show")) == len(frags)
            assert "[correct]" in fields["isakmp.enc.icd"].get("showname")
            assert _check_offsets(isakmp, data, pair) >= 8
        # the last fragment carries tshark's reassembly: the same inner payloads as ikelab's
        reassembled = [int(p.get("show")) for p in skf.findall("field") if p.get("name") == "isakmp.typepayload"]
        assert reassembled == [int(p.payload_type) for p in m.payloads[0].inner]
