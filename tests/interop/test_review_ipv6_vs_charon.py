"""IKE and ESP over IPv6 outer addresses (2001:db8::1 <-> 2001:db8::2), ikelab against strongSwan's charon.

``test_ikelab_selectors.py::test_ipv6`` brings one IKE SA up over IPv6; this review follows one through a
whole life, in both roles, with IPv4 and IPv6 inner selectors, and compares each step with charon, with tshark
and with the RFCs:

* the handshake (PSK; ID_IPV6_ADDR identities, RFC 7296 3.5, in the IPv6-inner cases: ``ikelab --id
  ipv6:2001:db8::1`` against charon's ``id = 2001:db8::1``, checked in charon's log and, type 5 with the 16
  octets, in tshark's decryption of IKE_AUTH), a CHILD SA rekey and an IKE SA rekey (by ikelab when it
  initiated, by charon's ``swanctl --rekey`` when charon did), then the initiator's DELETE; after the rekeys
  (and between them, when charon makes them: ikelab's own follow each other at once) both ends hold the same
  IKE SA SPIs and CHILD SA SPIs, the CHILD SA moving to the new IKE SA unchanged; every SK_* and KEYMAT ikelab
  exported, before and after the rekeys, is the one charon logged (RFC 7296 2.14, 2.17, 2.18); after the
  DELETE charon holds no SA and ikelab has ended with status 0;
* NAT detection (RFC 7296 2.23) over 16-octet addresses: the NAT_DETECTION_* hashes in the captured
  IKE_SA_INIT messages are recomputed here with ``hashlib`` from the IPv6 addresses and UDP ports tshark shows
  (SHA-1 of SPIi | SPIr | IP | port, walking the payloads with ``struct``): ikelab's two hashes and charon's
  destination hash must match; charon logs neither "local" nor "remote host is behind NAT";
* ESP both ways: ICMP (IPv4 inside) or ICMPv6 (IPv6 inside, addresses of 2001:db8:1::/64 and 2001:db8:2::/64
  added on ``lo``) echoes cross the tunnel before and after the rekeys, each side sending; every ESP packet
  is in UDP 4500 between the outer addresses; tshark decrypts every IKE message and every ESP packet of the
  capture with ikelab's exported tables, whose ``esp_sa`` rows must name the IPv6 outer addresses in the
  right direction, and finds the inner echoes' checksums good (ICMPv6's covers the IPv6 pseudo-header);
  ``ikelab dissect`` decrypts the same packets frame by frame; ikelab's own ``--pcap``, whose IPv6 and UDP
  headers ikelab writes, holds the same packets with good UDP checksums (RFC 8200 8.1);
* IKE fragmentation (RFC 7383) with RSA certificate chains (leaf and intermediate CA) over IPv6: ikelab's
  default ``--fragment-size`` and charon's ``fragment_size`` are both 1280, the IP packet RFC 7383 2.5.1 names
  for IPv6 (its minimum MTU, RFC 8200 5), so at most 1280 - 40 - 8 - 4 (Non-ESP Marker) octets of IKE
  message each.  Both peers' IKE_AUTH go out in SKF pieces, both cut at the same size (1272-octet packets
  here, AES blocks rounding the rest off), none longer than 1280 nor IP-fragmented (no Fragment header);
* IKE between link-local addresses (fe80::a <-> fe80::b on the veths, RFC 4291 2.5.6): ``ikelab connect
  fe80::b%veth-a`` (the zone, RFC 4007 11) against charon listening on fe80::b, the same life and checks;
  and transport mode there between two ikelab peers (charon installs no transport-mode SA here), with the
  default selectors: the two hosts' /128s, each echo straight after ESP under the one IPv6 header.

Found and fixed in ikelab (regressions in ``tests/test_review_ipv6.py``, the link-local one also here):
a zoned link-local peer could not be reached at all ("no route to peer fe80::b%veth-a: Invalid argument":
Python's ``connect``/``sendto`` take the zone only as the scope id of a 4-tuple), received addresses lost
their zone, ``--keys`` refused to write the zoned esp_sa row, the default selectors (the zoned IKE
addresses) were refused and transport mode was declined (Python's ``fe80::a%veth-a`` is not ``fe80::a``); ``ikelab respond --listen ::`` hashed the
unspecified address into NAT_DETECTION_SOURCE_IP, so every initiator saw a NAT; an IPv4-mapped address
(``::ffff:192.0.2.2``) was hashed as 16 octets while its packets are IPv4, so both sides saw a NAT; an
address not in its RFC 5952 form (``2001:DB8::2``) named the peer one way in the first datagrams and another
in the rest.

| what | RFC | ikelab | charon 5.9.8 |
|---|---|---|---|
| ESP on a path without a NAT | 7296 2.23: not UDP-encapsulated | its live peer has no raw socket and sends ESP in UDP only; it does here because charon fakes a NAT | kernel-libipsec needs UDP, so charon's NAT_DETECTION_SOURCE_IP hashes a random address ("faking NAT situation"; a 4-octet one even over IPv6: its log dumps a 22-octet natd_chunk): ESP goes in UDP 4500, IPv6 next header 17, never 50 |
| fragment size over IPv6 | 7383 2.5.1: 1280-octet IP packets | ``--fragment-size`` 1280 by default, the IP packet | ``fragment_size = 1280``, the IP packet, for both families |
| initiating to a link-local address | 4007 11: the zone names the link | ``connect fe80::b%veth-a`` | no zone in ``remote_addrs``: "error writing to socket: Invalid argument", retransmits, gives up (so no such case here); as responder it answers on the link the request came from |
| address with a port, ``[2001:db8::2]:4500`` | 3986 3.2.2 | address and ``--port`` apart; the bracketed form is refused with the way to write it | ``remote_addrs`` and ``remote_port`` apart |

So the brief's "plain ESP, IP protocol 50" cannot be seen against charon on this machine; what is asserted
instead is that ikelab's hashes say "no NAT" to charon, that charon's fake source hash is what makes ikelab
(rightly, by RFC 7296 2.23) report "the peer behind a NAT", that ESP then travels in UDP 4500 over IPv6 both
ways, and that no packet of the capture has next header 50 or 44.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from interop.capture import Capture, read_fields, run_checked
from interop.charon import Charon
from interop.ikelab_peer import check_keys_against_charon, connect, read_keys, respond, start_connect
from interop.swanctl import ID_INITIATOR, ID_RESPONDER, cert_conf, make_pki, psk_conf
from interop.scenarios import ikelab_cert_files

pytestmark = [pytest.mark.strongswan, pytest.mark.usefixtures("tshark_env")]

SUITE, ESP = "aes128-sha256-modp2048", "aes128-sha256"
#: IPv6 inner (tunnel) addresses on lo, beside the IPv4 ones the harness puts there (RFC 3849 range).
INNER6 = {"a": "2001:db8:1::1", "b": "2001:db8:2::1"}
NAT_SOURCE, NAT_DESTINATION = 16388, 16389  # RFC 7296 3.10.1
FRAGMENT_SIZE_V6 = 1280  # RFC 7383 2.5.1 (IPv6's minimum MTU, RFC 8200 5); both peers' default


@dataclass(frozen=True)
class Case:
    name: str
    ikelab_initiates: bool
    inner6: bool  # IPv6 inner selectors and echoes (and ID_IPV6_ADDR identities); else the IPv4 inner addresses
    cert: bool = False  # certificate chains and RFC 7383 fragmentation
    link_local: bool = False  # IKE between the veths' fe80:: addresses (ikelab names the zone: fe80::..%veth-a)


CASES = [Case("ikelab-initiates-inner4", True, False), Case("ikelab-initiates-inner6", True, True),
         Case("charon-initiates-inner4", False, False), Case("charon-initiates-inner6", False, True),
         Case("ikelab-initiates-link-local", True, False, link_local=True)]  # charon cannot initiate: see the table


def _inner(ns: Any, case: Case) -> str:
    return INNER6[ns.name[-1]] if case.inner6 else ns.inner


def _prefix(addr: str) -> str:
    return f"{addr}/{128 if ':' in addr else 32}"


def _ids(net: Any, case: Case) -> tuple[str, str]:
    """(initiator's, responder's) identity as charon writes it."""
    if not case.inner6 or case.cert:
        return ID_INITIATOR, ID_RESPONDER
    return net.a.addr6, net.b.addr6  # ID_IPV6_ADDR (RFC 7296 3.5): each side its own outer address (A initiates)


def _ikelab_id(text: str) -> str:
    return f"ipv6:{text}" if ":" in text and "@" not in text else text  # ikelab's typed form for an address


#: Link-local addresses of our own on the veths (RFC 4291 2.5.6), added without duplicate address detection so
#: that they are usable at once (the kernel's own fe80:: address stays "tentative", unbindable, for a second or two).
LINK_LOCAL = {"a": "fe80::a", "b": "fe80::b"}


def link_local(ns: Any) -> str:
    addr = LINK_LOCAL[ns.name[-1]]
    ns.run("ip", "-6", "addr", "add", f"{addr}/64", "dev", ns.veth, "nodad")
    return addr


def _add_inner6(net: Any) -> None:
    for ns in net.namespaces:
        ns.run("ip", "-6", "addr", "add", f"{INNER6[ns.name[-1]]}/128", "dev", "lo", "nodad")


# ------------------------------------------------------------------ checks of the capture


def _ike_sa_init(cap: Path) -> list[tuple[str, str, int, int, bytes]]:
    """(IPv6 source, destination, UDP source port, destination port, IKE message) of each IKE_SA_INIT."""
    rows = read_fields(cap, ["ipv6.src", "ipv6.dst", "udp.srcport", "udp.dstport", "udp.payload"],
                       display_filter="isakmp.exchangetype == 34")
    return [(r[0], r[1], int(r[2]), int(r[3]), bytes.fromhex(r[4].replace(":", ""))) for r in rows]


def _notifies(message: bytes) -> dict[int, bytes]:
    """Notify type -> data of an unencrypted IKE message, walked by its generic payload headers (RFC 7296 3.2,
    3.10) without ikelab's parser."""
    found: dict[int, bytes] = {}
    next_payload, offset = message[16], 28
    while next_payload and offset + 4 <= len(message):
        following, _, length = struct.unpack_from("!BBH", message, offset)
        if next_payload == 41:  # Notify: Protocol ID, SPI Size, Notify Message Type, SPI, data
            spi_size, kind = message[offset + 5], struct.unpack_from("!H", message, offset + 6)[0]
            found[kind] = message[offset + 8 + spi_size: offset + length]
        next_payload, offset = following, offset + length
    return found


def _natd(spi_i: bytes, spi_r: bytes, addr: str, port: int) -> bytes:
    return hashlib.sha1(spi_i + spi_r + ipaddress.ip_address(addr).packed + port.to_bytes(2, "big")).digest()


def check_nat_detection(cap: Path, ikelab_addr: str) -> None:
    """The NAT_DETECTION_* hashes of both IKE_SA_INIT messages against the packets' own IPv6 addresses and ports
    (RFC 7296 2.23): ikelab's both match, charon's destination hash matches, its source hash is its fake."""
    (req, resp) = _ike_sa_init(cap)[-2:]  # the last pair (an earlier one could be refused: none here)
    spi_i, spi_r = req[4][:8], resp[4][8:16]
    for src, dst, sport, dport, msg in (req, resp):
        n = _notifies(msg)
        spi_r_then = bytes(8) if msg is req[4] else spi_r  # SPIr is zero in the request
        own, other = n[NAT_SOURCE], n[NAT_DESTINATION]
        if src == ikelab_addr:
            assert own == _natd(spi_i, spi_r_then, src, sport), "ikelab's NAT_DETECTION_SOURCE_IP is not its address"
            assert other == _natd(spi_i, spi_r_then, dst, dport), "ikelab's NAT_DETECTION_DESTINATION_IP is wrong"
        else:
            assert other == _natd(spi_i, spi_r_then, dst, dport), "charon's NAT_DETECTION_DESTINATION_IP is wrong"
            assert own != _natd(spi_i, spi_r_then, src, sport), "charon no longer fakes a NAT: plain ESP is checkable"


def check_esp_in_udp6(cap: Path, a6: str, b6: str, spis: set[int]) -> None:
    """ESP between the IPv6 outer addresses, in UDP 4500 (next header 17), both ways, on each SPI in ``spis``;
    no plain ESP (next header 50) and no IPv6 Fragment header (44) anywhere."""
    rows = read_fields(cap, ["ipv6.src", "ipv6.dst", "ipv6.nxt", "udp.srcport", "udp.dstport", "esp.spi"],
                       display_filter="esp")
    assert rows, "no ESP in the capture"
    assert {(r[0], r[1]) for r in rows} == {(a6, b6), (b6, a6)}, rows
    assert {(r[2], r[3], r[4]) for r in rows} == {("17", "4500", "4500")}, rows
    assert spis <= {int(r[5], 16) for r in rows}, (spis, rows)
    assert not read_fields(cap, ["frame.number"], display_filter="ipv6.nxt == 50 || ipv6.nxt == 44")


#: The fields :func:`tshark_decrypts6` reads, in this order.
DECRYPT_FIELDS = ("isakmp.exchangetype", "isakmp.enc.decrypted", "esp.spi", "icmp.type", "icmpv6.type",
                  "isakmp.frag.number", "isakmp.id.type", "isakmp.id.data.ipv6_addr", "icmp.checksum.status",
                  "icmpv6.checksum.status", "udp.checksum.status")
GOOD = "1"  # Wireshark's checksum status: 0 bad, 1 good, 2 unverified


def tshark_decrypts6(cap: Path, keys_dir: Path, *, udp_checksums: bool = False) -> list[list[str]]:
    """tshark reads ``cap`` with ikelab's tables: every protected IKE message decrypted (fragments too) and
    every ESP packet's inner echo there, ICMP or ICMPv6, with a good checksum (ICMPv6's covers the IPv6
    pseudo-header, RFC 4443 2.3; whoever sent the echo built it).  ``udp_checksums``: every outer UDP checksum
    good too (not on the wire here: the veth leaves checksums of sent packets to an offload that never comes).
    Returns one row of :data:`DECRYPT_FIELDS` per IKE or ESP packet."""
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(keys_dir))
    argv = ["tshark", "-n", "-r", str(cap), "-o", "esp.enable_encryption_decode:TRUE",
            "-o", "esp.enable_authentication_check:TRUE", "-o", f"udp.check_checksum:{str(udp_checksums).upper()}",
            "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f", "-Y", "isakmp || esp"]
    for field in DECRYPT_FIELDS:
        argv += ["-e", field]
    out = run_checked(argv, timeout=60, env=env).stdout
    rows = [dict(zip(DECRYPT_FIELDS, line.split("\t"))) for line in out.splitlines() if line.strip()]
    for row in rows:
        exch, spi = row["isakmp.exchangetype"], row["esp.spi"]
        if exch and exch != "34":  # SKF fragments too: each is decrypted on its own (RFC 7383 2.5)
            assert row["isakmp.enc.decrypted"], f"tshark did not decrypt exchange {exch} with ikelab's table"
        if spi and not exch:
            assert row["icmp.type"] in ("0", "8") or row["icmpv6.type"] in ("128", "129"), \
                f"tshark did not decrypt ESP SPI {spi}: {row}"
            assert GOOD in (row["icmp.checksum.status"], row["icmpv6.checksum.status"]), row
        if udp_checksums:
            assert row["udp.checksum.status"] == GOOD, row  # over the IPv6 pseudo-header, RFC 8200 8.1
    return [[row[f] for f in DECRYPT_FIELDS] for row in rows]


def ikelab_dissects(cap: Path, keys_dir: Path, tshark_rows: list[list[str]]) -> None:
    """``ikelab dissect --json`` of the wire capture with the same tables: every protected IKE message and every
    ESP packet decrypted with a good ICV, each ESP packet's inner echo ICMP or ICMPv6 between the inner
    addresses, and per frame the same exchanges and SPIs as tshark's (which ESP SPI, which exchange)."""
    import json
    import sys

    out = run_checked([sys.executable, "-m", "ikelab", "dissect", str(cap), "--keys", str(keys_dir), "--json"],
                      timeout=60, env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))).stdout
    rows = [r for r in map(json.loads, out.splitlines()) if r["kind"] in ("ike", "esp")]
    for r in rows:
        if r["kind"] == "esp" or r["exchange"] != "IKE_SA_INIT":
            assert r["decrypted"] and r["icv_ok"], r
        if r["kind"] == "esp":
            assert r["inner_protocol"] in ("ICMP", "ICMPv6") and "Echo (ping)" in r["inner_info"], r
    exchanges = {"IKE_SA_INIT": "34", "IKE_AUTH": "35", "CREATE_CHILD_SA": "36", "INFORMATIONAL": "37"}
    mine = [exchanges[r["exchange"]] if r["kind"] == "ike" else int(r["spi"], 16) for r in rows]
    theirs = [row[0] if row[0] else int(row[2], 16) for row in tshark_rows]
    assert mine == theirs, (mine, theirs)


# ------------------------------------------------------------------ the SAs at both ends


def charon_now(charon: Charon) -> tuple[tuple[str, str], set[tuple[int, int]]]:
    """charon's one IKE SA: its SPIs and its installed CHILD SAs' (spi-in, spi-out)."""
    (sa,) = charon.list_sas()
    assert sa["state"] == "ESTABLISHED", sa
    children = {(int(c["spi-in"], 16), int(c["spi-out"], 16)) for c in (sa.get("child-sas") or {}).values()
                if c["state"] == "INSTALLED"}
    return (sa["initiator-spi"], sa["responder-spi"]), children


def ikelab_now(out: str) -> tuple[tuple[str, str], int]:
    """ikelab's current IKE SA SPIs (the newest rekey's) and its current CHILD SA's inbound SPI, from its output."""
    spis = re.findall(r"IKE SA (?:established: SPIi|rekeyed: new SPIs) ([0-9a-f]{16})(?: SPIr)? ([0-9a-f]{16})", out)
    inbound = re.findall(r"CHILD SA (?:installed: SPI in|rekeyed(?: with PFS)?: 0x[0-9a-f]+ ->) 0x([0-9a-f]{8})", out)
    assert spis and inbound, out
    return spis[-1], int(inbound[-1], 16)


# ------------------------------------------------------------------ the run


def _charon(net: Any, factory: Any, case: Case, pki: Any, outer: dict[str, str]) -> Charon:
    ns, other = (net.b, net.a) if case.ikelab_initiates else (net.a, net.b)
    id_i, id_r = _ids(net, case)
    mine, theirs = (id_r, id_i) if case.ikelab_initiates else (id_i, id_r)
    common = dict(local_addrs=outer[ns.name], remote_addrs=outer[other.name], local_id=mine, remote_id=theirs,
                  local_ts=_prefix(_inner(ns, case)), remote_ts=_prefix(_inner(other, case)), proposals=SUITE,
                  esp_proposals=ESP)
    conf = cert_conf(cert_file="peer.pem", **common, extra={"fragmentation": "yes"}) if case.cert else \
        psk_conf(**common)
    charon = factory(ns, "charon", start=False, swanctl_conf=conf, conf={"delete_rekeyed_delay": 0})
    charon.write_files()
    if case.cert:
        pki.install(charon.swanctl_dir, ID_RESPONDER if case.ikelab_initiates else ID_INITIATOR)
    charon.start()
    charon.load_all()
    return charon


def run_case(net: Any, factory: Any, tmp: Path, case: Case) -> dict[str, Any]:
    """One life over IPv6 (see the module docstring): handshake, pings, CHILD SA and IKE SA rekeys by the
    initiator, pings both ways, the initiator's DELETE; the SAs, keys, NAT detection hashes, ESP and tshark's
    decryption checked.  Returns what the case-specific checks need."""
    if case.inner6:
        _add_inner6(net)
    pki = make_pki([ID_INITIATOR, ID_RESPONDER], under_intermediate=(ID_INITIATOR, ID_RESPONDER)) \
        if case.cert else None
    outer = {ns.name: link_local(ns) if case.link_local else ns.addr6 for ns in net.namespaces}
    charon = _charon(net, factory, case, pki, outer)
    me, peer = (net.a, net.b) if case.ikelab_initiates else (net.b, net.a)
    # ikelab names a link-local address's zone, its own interface (RFC 4007 11); charon finds it by itself
    mine6, peer6 = (outer[ns.name] + (f"%{me.veth}" if case.link_local else "") for ns in (me, peer))
    id_i, id_r = _ids(net, case)
    my_id, peer_id = (id_i, id_r) if case.ikelab_initiates else (id_r, id_i)
    cert = ikelab_cert_files(pki, tmp / "certs", my_id) if pki else None
    extra = ["--proposal", SUITE, "--esp-proposal", ESP, "--ts", _prefix(_inner(me, case)),
             _prefix(_inner(peer, case)), "--quiet"] + (["--fragmentation"] if case.cert else [])
    ids = dict(local_id=_ikelab_id(my_id), remote_id=_ikelab_id(peer_id), cert=cert)
    keys_dir = tmp / "ikelab" / "keys"
    with Capture(net.b, net.b.veth, tmp / "wire.pcapng", probe_dst=net.a.addr6) as cap:
        if case.ikelab_initiates:
            proc = start_connect(me, peer6, tmp / "ikelab", **ids, extra=[
                *extra, "--ping", _inner(peer, case), "--ping-src", _inner(me, case), "--rekey-after", "0.2",
                "--rekey-ike-after", "0.2", "--duration", "30"])
            try:
                proc.wait_for_output("IKE SA rekeyed", timeout=20)
                new_ike, _ = ikelab_now(proc.output())
                # ikelab deleted the old IKE SA after its rekey; charon then holds the new one only
                charon.wait_for_sa(lambda sas: len(sas) == 1 and (sas[0]["initiator-spi"],
                                                                  sas[0]["responder-spi"]) == new_ike, timeout=10)
                assert peer.ping(_inner(me, case), src=_inner(peer, case), count=3) == 3  # charon -> ikelab
                sas_out = proc.output()
                after = charon_now(charon)
                proc.interrupt()  # ikelab's DELETE of the IKE SA
                status = proc.wait(15)
            finally:
                proc.close()
            out = proc.output()
            assert status == 0, out + charon.diagnostics()
            assert "(first CHILD SA): 3 sent, 3 replies" in out and "(after rekey): 3 sent, 3 replies" in out, out
            charon.wait_for_sa(lambda sas: not sas, timeout=10)  # ikelab's DELETE arrived and was taken
        else:
            proc = respond(me, tmp / "ikelab", **ids, extra=["--listen", mine6, *extra])
            try:
                charon.initiate(child="net", timeout=20)
                assert peer.ping(_inner(me, case), src=_inner(peer, case), count=3) == 3
                charon.swanctl("--rekey", "--child", "net")
                proc.wait_for_output("CHILD SA rekeyed", timeout=10)
                # between the rekeys too, both ends hold the same SAs: once charon has let the old CHILD SA go
                _, new_in = ikelab_now(proc.output())
                charon.wait_for_sa(lambda sas: len(sas) == 1 and [
                    c["spi-out"] for c in (sas[0].get("child-sas") or {}).values() if c["state"] == "INSTALLED"]
                    == [f"{new_in:08x}"], timeout=10)
                between = (charon_now(charon), proc.output())
                charon.swanctl("--rekey", "--ike", "lab")
                proc.wait_for_output("IKE SA rekeyed", timeout=10)
                new_ike, _ = ikelab_now(proc.output())
                charon.wait_for_sa(lambda sas: len(sas) == 1 and (sas[0]["initiator-spi"],
                                                                  sas[0]["responder-spi"]) == new_ike, timeout=10)
                assert peer.ping(_inner(me, case), src=_inner(peer, case), count=3) == 3
                sas_out = proc.output()
                after = charon_now(charon)
                charon.terminate(ike="lab")  # charon's DELETE
                status = proc.wait(15)
            finally:
                proc.close()
            out = proc.output()
            assert status == 0 and "deleted by peer" in out, out + charon.diagnostics()
    # the SAs after both rekeys (and, when charon made them, between the two), as each end saw them then
    pair = check_same_sas(after, sas_out, keys_dir, outer[me.name], outer[peer.name])
    if not case.ikelab_initiates:
        # the IKE SA rekey then gave new IKE SPIs, and the CHILD SA moved to the new IKE SA as it was (2.18)
        assert check_same_sas(*between, keys_dir, outer[me.name], outer[peer.name]) == pair
        assert between[0][0] != after[0], (between[0], after[0])
    keys = charon.keys()
    assert len(keys) == 2, [k.get("spi_i") for k in keys]  # the first IKE SA and its rekeyed successor
    assert check_keys_against_charon(read_keys(tmp / "ikelab"), keys) == 2  # the first CHILD SA and its rekey
    check_nat_detection(cap.path, outer[me.name])
    log = charon.log_text()
    assert "faking NAT situation" in log, log[-2000:]  # its own random source hash (kernel-libipsec)
    assert "remote host is behind NAT" not in log and "local host is behind NAT" not in log, log[-3000:]
    assert "the peer is behind a NAT (or fakes one" in out and "this host is behind a NAT" not in out, out
    check_esp_in_udp6(cap.path, outer[net.a.name], outer[net.b.name], set(pair))
    rows = tshark_decrypts6(cap.path, keys_dir)
    assert [r[0] for r in rows if r[0]][:4] == ["34", "34", "35", "35"], rows
    ikelab_dissects(cap.path, keys_dir, rows)  # ikelab's own dissector agrees with tshark
    # ikelab's own --pcap, whose IPv6 and UDP headers (and UDP checksums) ikelab writes: the same, checksums good
    own = tshark_decrypts6(tmp / "ikelab" / "ikelab.pcap", keys_dir, udp_checksums=True)
    assert sorted(r[:5] for r in own) == sorted(r[:5] for r in rows), (own, rows)
    return {"charon": charon, "out": out, "cap": cap.path, "rows": rows, "keys": keys}


def check_same_sas(after: Any, out: str, keys_dir: Path, ikelab6: str, charon6: str) -> tuple[int, int]:
    """charon's SAs (:func:`charon_now`) and ikelab's output, taken at the same moment, name the same IKE SA and
    one CHILD SA, and ikelab's esp_sa rows for it name the IPv6 outer addresses in the right direction;
    returns charon's (spi-in, spi-out)."""
    ike, children = after
    mine, my_in = ikelab_now(out)
    assert ike == mine, (ike, mine)
    (pair,) = children
    assert pair[1] == my_in, (pair, my_in)  # charon sends with the SPI ikelab chose
    tables = read_keys(keys_dir.parent)
    out_row, in_row = tables.esp_sa(pair[0]), tables.esp_sa(pair[1])
    assert out_row is not None and in_row is not None
    assert (out_row.protocol, out_row.src, out_row.dst) == ("IPv6", ikelab6, charon6), out_row
    assert (in_row.protocol, in_row.src, in_row.dst) == ("IPv6", charon6, ikelab6), in_row
    return pair


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_life_over_ipv6(netns_pair: Any, charon_factory: Any, tmp_path: Path, case: Case) -> None:
    net = netns_pair
    got = run_case(net, charon_factory, tmp_path, case)
    if not case.inner6:
        return
    # ID_IPV6_ADDR both ways (RFC 7296 3.5): charon looked its peer up by the address and authenticated it ...
    log, (id_i, id_r) = got["charon"].log_text(), _ids(net, case)
    peer_id, own_id = (id_i, id_r) if case.ikelab_initiates else (id_r, id_i)
    assert f"authentication of '{peer_id}' with pre-shared key successful" in log, log[-3000:]
    assert f"authentication of '{own_id}' (myself) with pre-shared key" in log, log[-3000:]
    # ... and tshark, decrypting IKE_AUTH, sees ID type 5 with the 16 octets of each address in IDi and IDr
    auth = [(r[6], r[7]) for r in got["rows"] if r[0] == "35"]
    assert auth[:2] == [("5", id_i), ("5", id_r)], auth
    mine, theirs = (id_i, id_r) if case.ikelab_initiates else (id_r, id_i)
    assert f"{mine} <-> {theirs}" in got["out"], got["out"]  # ikelab's own view: the addresses, not "ipv6:..."


def test_certificate_chains_in_ike_fragments_over_ipv6(netns_pair: Any, charon_factory: Any,
                                                       tmp_path: Path) -> None:
    """RSA certificate chains (leaf and intermediate CA) both ways make each IKE_AUTH message too big for one
    1280-octet IPv6 packet: both peers, at their default fragment size, send it in SKF pieces (RFC 7383 2.5),
    the life runs as in the PSK cases, and no piece is longer than 1280 octets or IP-fragmented."""
    case = Case("ikelab-initiates-cert", True, True, cert=True)
    got = run_case(netns_pair, charon_factory, tmp_path, case)
    rows = read_fields(got["cap"], ["ipv6.src", "ipv6.plen", "isakmp.frag.number", "isakmp.frag.total"],
                       display_filter="isakmp.exchangetype == 35 && isakmp.frag.total")
    by_sender: dict[str, list[int]] = {}
    for src, plen, number, total in rows:
        by_sender.setdefault(src, []).append(40 + int(plen))  # the IPv6 packet: 40-octet header + payload
        assert int(total) >= 2 and 1 <= int(number) <= int(total), rows
    assert set(by_sender) == {netns_pair.a.addr6, netns_pair.b.addr6}, rows  # each side fragmented its IKE_AUTH
    for sizes in by_sender.values():
        assert max(sizes) <= FRAGMENT_SIZE_V6, by_sender
        assert max(sizes) > FRAGMENT_SIZE_V6 - 32, by_sender  # filled up to the size (less cipher-block rounding)
    assert len({max(sizes) for sizes in by_sender.values()}) == 1, by_sender  # both cut at the same IPv6 size
    out = got["out"]
    assert "IKE fragments joined (RFC 7383)" in out, out


def test_transport_mode_between_two_ikelab_peers_on_link_local_addresses(netns_pair: Any, tmp_path: Path) -> None:
    """No charon here (its kernel-libipsec installs no transport-mode SA, see ``test_ikelab_transport.py``):
    ``ikelab connect fe80::b%veth-a --mode transport`` against ``ikelab respond --listen fe80::b%veth-b``, with the
    default selectors (the IKE addresses, without their zones), pings from A's IKE address to B's.  The CHILD
    SA must be the two /128s in transport mode (RFC 7296 1.3.1; the zoned addresses made the selectors fail,
    then transport mode be declined), and tshark must find each ICMPv6 echo, with a good checksum over the
    outer addresses (RFC 4443 2.3), straight after ESP under the one IPv6 header (RFC 4303 3.1.1)."""
    net = netns_pair
    a, b = (link_local(ns) for ns in net.namespaces)
    extra = ["--proposal", SUITE, "--esp-proposal", ESP, "--mode", "transport", "--encap", "always", "--quiet"]
    with Capture(net.b, net.b.veth, tmp_path / "wire.pcapng", probe_dst=net.a.addr6) as cap:
        proc = respond(net.b, tmp_path / "b", extra=["--listen", f"{b}%{net.b.veth}", *extra, "--wait", "20"])
        try:
            result = connect(net.a, f"{b}%{net.a.veth}", tmp_path / "a", extra=[*extra, "--ping", b])
            status = proc.wait(15)
        finally:
            proc.close()
    out = result.stdout + result.stderr
    assert result.returncode == 0 and status == 0, out + proc.output()
    assert f"{a}/128 === {b}/128, UDP-encapsulated, transport mode" in out, out
    assert f"{b}/128 === {a}/128, UDP-encapsulated, transport mode" in proc.output(), proc.output()
    assert f"-> {b} through ESP (first CHILD SA): 3 sent, 3 replies" in out, out
    argv = ["tshark", "-n", "-r", str(cap.path), "-o", "esp.enable_encryption_decode:TRUE",
            "-o", "esp.enable_authentication_check:TRUE", "-Y", "esp", "-T", "fields", "-E", "separator=\t",
            "-E", "occurrence=a", "-E", "aggregator=,", "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "icmpv6.type",
            "-e", "icmpv6.checksum.status"]
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(tmp_path / "a" / "keys"))
    rows = [line.split("\t") for line in run_checked(argv, timeout=60, env=env).stdout.splitlines() if line]
    assert rows == [[a, b, "128", GOOD], [b, a, "129", GOOD]] * 3, rows  # no second (inner) IPv6 header
