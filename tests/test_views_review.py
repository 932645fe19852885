"""What the presentation modules print, where a mutation review found nothing checking it.

views.py (RFC 7296 notation, strongSwan's bracket form, Wireshark's Info
column), packet.py, frame_info.py and flow.py each had changes that no test
noticed; the tests below close those gaps.  References, as elsewhere:

* tshark 4.0 on the same bytes for the Info column (skips without tshark,
  fails under CI=true, as tshark_util does);
* strongSwan's charon log wording (``[ N(NO_PROP) ]``, ``[ EF(1/2) ]``) for
  the bracket form;
* the RFCs for the header fields (RFC 791, RFC 8200, RFC 768).
"""

from __future__ import annotations

import pytest

from ikewire_samples import SPI_I, SPI_R, ike_auth_inner, ike_auth_request, suite_crypto
from ikelab.constants import AuthMethod, CfgAttribute, CfgType, NotifyType
from ikelab.dissect import dissect
from ikelab.flow import flow_arrows
from ikelab.message import Message, decode
from ikelab.packet import ip_packet
from ikelab.payloads import AUTH, CP, EAP, SA, SK, SKF, IDi, IDr, Nonce, Notify, TSi, TSr, UnknownPayload, VendorId
from ikelab.pcap import LINKTYPE_RAW, CapturedPacket
from ikelab.scenario import classic
from ikelab.sk import protect
from ikelab.views import brackets, dump, format_dump, info_column, summary
from tshark_util import require_tshark, run_fields, write_udp_pcap


# -- views: RFC 7296 notation and strongSwan's bracket form ---------------------------------


def test_a_payload_ikelab_does_not_decode_is_named_by_its_type_number() -> None:
    """A non-critical payload of an unassigned type is kept (RFC 7296 2.5) and must show up, with its number."""
    m = Message(SPI_I, payloads=(Nonce(b"n" * 16), UnknownPayload(200, b"xyz")))
    again = decode(m.encode())
    assert summary(again) == "HDR, Ni, UNKNOWN(200)"
    assert brackets(again) == "[ No UNKNOWN(200) ]"


@pytest.mark.parametrize("notify, logged", [
    (NotifyType.NO_PROPOSAL_CHOSEN, "N(NO_PROP)"),
    (NotifyType.INVALID_KE_PAYLOAD, "N(INVAL_KE)"),
    (NotifyType.AUTHENTICATION_FAILED, "N(AUTH_FAILED)"),
    (NotifyType.TS_UNACCEPTABLE, "N(TS_UNACCEPT)"),
    (NotifyType.COOKIE, "N(COOKIE)"),
])
def test_error_replies_read_as_charon_logs_them(notify: NotifyType, logged: str) -> None:
    """The replies a student meets when a lab goes wrong, in charon's words ("parsed ... [ N(NO_PROP) ]")."""
    m = Message(SPI_I, SPI_R, is_initiator=False, is_response=True, payloads=(Notify(notify),))
    assert brackets(m) == f"[ {logged} ]"
    assert summary(m) == f"HDR, N({notify.name})"  # the RFC notation keeps the IANA name


def test_fragments_and_an_opaque_sk_in_the_bracket_form() -> None:
    """charon logs a fragment as ``EF(n/N)``; an SK that was not decrypted is its short name ``E``."""
    frag = Message(SPI_I, SPI_R, exchange=35, message_id=1, payloads=(SKF(2, 3, encrypted=b"x" * 32),))
    assert brackets(frag) == "[ EF(2/3) ]"
    opaque = Message(SPI_I, SPI_R, exchange=35, message_id=1, payloads=(SK(encrypted=b"x" * 40, next_payload=35),))
    assert brackets(opaque) == "[ E ]"


def test_cp_payloads_read_as_charon_logs_them() -> None:
    """charon's log lines, as tests/interop/test_ikelab_selectors.py waits for them from a real charon.

    strongSwan writes ``CP``, then the CFG type (RQ, RP, S, A) and the attributes' short names in
    parentheses when there are attributes; an attribute it has no name for reads ``(n)``.
    """
    sa, tsi, tsr = (p for p in ike_auth_inner() if isinstance(p, (SA, TSi, TSr)))
    request = Message(SPI_I, SPI_R, 35, True, False, 1, (SK(inner=(
        IDi.from_fqdn("alice@example.org"), Notify(NotifyType.INITIAL_CONTACT),
        AUTH(AuthMethod.SHARED_KEY_MIC, bytes(32)),
        CP.request(CfgAttribute.INTERNAL_IP4_ADDRESS, CfgAttribute.INTERNAL_IP6_ADDRESS), sa, tsi, tsr)),))
    assert brackets(request) == "[ IDi N(INIT_CONTACT) AUTH CPRQ(ADDR ADDR6) SA TSi TSr ]"
    address = CP(CfgType.CFG_REPLY, ((CfgAttribute.INTERNAL_IP4_ADDRESS, bytes([198, 51, 100, 65])),))
    reply = Message(SPI_I, SPI_R, 35, False, True, 1, (SK(inner=(
        IDr.from_fqdn("moon"), AUTH(AuthMethod.SHARED_KEY_MIC, bytes(32)), address, sa, tsi, tsr)),))
    assert brackets(reply) == "[ IDr AUTH CPRP(ADDR) SA TSi TSr ]"
    odd = (CP(CfgType.CFG_REQUEST), CP(CfgType.CFG_SET, ((CfgAttribute.INTERNAL_IP4_DNS, b""), (99, b""))),
           CP(CfgType.CFG_ACK, ((CfgAttribute.INTERNAL_IP4_SUBNET, b""),)))
    assert brackets(Message(SPI_I, SPI_R, 37, payloads=(SK(inner=odd),))) == "[ CP CPS(DNS (99)) CPA(SUBNET) ]"


# -- views: the Info column against tshark, and the field dump ------------------------------


def test_info_column_of_messages_with_two_eap_payloads_or_a_short_request(tmp_path) -> None:
    """Wireshark's EAP dissector rewrites the column for each EAP payload: the last one wins.

    A 4-octet EAP Request (code, identifier, length, no type) is malformed:
    tshark says ``Request[Malformed Packet]``; ikelab gives the words before
    the bracket, and must not fail reading the missing type.
    """
    require_tshark()
    identity = EAP(bytes.fromhex("0201001201") + b"alice.example")
    success = EAP(bytes.fromhex("03050004"))
    messages = [
        Message(SPI_I, SPI_R, 35, False, True, 1, (identity, success)),
        Message(SPI_I, SPI_R, 35, False, True, 1, (success, identity)),
        Message(SPI_I, SPI_R, 35, True, False, 2, (EAP(bytes.fromhex("01050004")),)),
    ]
    pcap = write_udp_pcap(tmp_path / "eap.pcap", [(m.encode(), 500) for m in messages])
    theirs = [row[0] for row in run_fields(pcap, ["_ws.col.Info"])]
    ours = [info_column(m) for m in messages]
    assert ours == ["Success", "Response, Identity", "Request"]
    assert theirs[:2] == ours[:2]
    assert theirs[2] == ours[2] + "[Malformed Packet]"


def test_a_fragment_after_a_cleartext_payload_still_says_which_fragment(tmp_path) -> None:
    """RFC 7383 2.5 puts SKF last, not alone: tshark reports the fragment whatever comes before it."""
    require_tshark()
    messages = [Message(SPI_I, SPI_R, 35, True, False, 1, (VendorId(b"v" * 8), SKF(2, 3, encrypted=b"x" * 32))),
                Message(SPI_I, SPI_R, 35, True, False, 1, (SKF(3, 3, encrypted=b"x" * 32),))]
    pcap = write_udp_pcap(tmp_path / "skf.pcap", [(m.encode(), 4500) for m in messages])
    theirs = [row[0] for row in run_fields(pcap, ["_ws.col.Info"])]
    assert [info_column(m) for m in messages] == theirs == [
        "IKE_AUTH MID=01 Initiator Request (fragment 2/3)", "IKE_AUTH MID=01 Initiator Request (fragment 3/3)"]


def test_format_dump_marks_decrypted_fields_and_shows_only_wire_octets() -> None:
    """A decrypted field gets ``*`` and no hex (its octets are not the capture's); long fields end in ``...``."""
    crypto = suite_crypto("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128")
    data = protect(ike_auth_request(), crypto)
    rows = dump(data, crypto)
    lines = format_dump(rows, data, max_hex=16).splitlines()
    assert lines[0].split() == ["offset", "len", "field", "value", "|", "octets"]
    assert len(lines) == len(rows) + 1 and any(r.decrypted for r in rows) and any(r.length > 16 for r in rows)
    for r, line in zip(rows, lines[1:], strict=True):
        assert line[11] == ("*" if r.decrypted else " "), line
        if r.decrypted or not r.length:
            assert " | " not in line
        else:
            octets = line.rsplit(" | ", 1)[1]
            assert octets == data[r.offset : r.offset + min(r.length, 16)].hex() + ("..." if r.length > 16 else "")
    iv = next(line for line in lines if " SK.iv " in line)  # 16 octets: shown whole, no ellipsis
    assert iv.endswith(" | " + data[32:48].hex())


# -- frame_info: the frames around the exchange, as tshark lists them -----------------------


def _icmp6_frame(src: str, dst: str, body: bytes) -> bytes:
    import ipaddress

    from ikelab.packet import ethernet, internet_checksum, ip_packet

    pseudo = ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed + len(body).to_bytes(4, "big") + \
        bytes([0, 0, 0, 58])
    checksum = internet_checksum(pseudo + body).to_bytes(2, "big")
    return ethernet(ip_packet(src, dst, 58, body[:2] + checksum + body[4:], ttl=255), src_mac="02:00:00:00:00:0a",
                    dst_mac="33:33:00:00:00:01")


def test_neighbor_discovery_options_are_walked_as_tshark_walks_them(tmp_path) -> None:
    """The link-layer address may follow another option; an option of length 0 (invalid, RFC 4861 4.6) ends the walk.

    Reading the options must stop there: a zero length never advances.
    """
    import ipaddress
    import threading

    from ikelab.pcap import LINKTYPE_ETHERNET, write_pcap

    from test_dissect import tshark

    mac = bytes.fromhex("02000000000a")
    target = ipaddress.ip_address("fe80::a").packed
    ns = bytes([135, 0, 0, 0, 0, 0, 0, 0]) + target
    frames = [
        _icmp6_frame("fe80::b", "ff02::1:ff00:a", ns + bytes([1, 0]) + mac),  # length 0
        _icmp6_frame("fe80::b", "ff02::1:ff00:a", ns + bytes([14, 1, 1, 2, 3, 4, 5, 6, 1, 1]) + mac),  # nonce first
        _icmp6_frame("fe80::a", "ff02::1", bytes([136, 0, 0, 0, 0xE0, 0, 0, 0]) + target + bytes([2, 1]) + mac),
        _icmp6_frame("fe80::a", "ff02::2", bytes([133, 0, 0, 0, 0, 0, 0, 0, 1, 0]) + mac),  # length 0
    ]
    path = tmp_path / "nd.pcap"
    write_pcap(path, [(n, f) for n, f in enumerate(frames)], linktype=LINKTYPE_ETHERNET)
    ours: list[str] = []
    reader = threading.Thread(target=lambda: ours.extend(r.info for r in dissect(path)), daemon=True)
    reader.start()
    reader.join(timeout=20)
    assert not reader.is_alive(), "dissect never returned: an option of length 0 was read again and again"
    assert ours == tshark(path, None, "-T", "fields", "-e", "_ws.col.Info").splitlines() == [
        "Neighbor Solicitation for fe80::a", "Neighbor Solicitation for fe80::a from 02:00:00:00:00:0a",
        "Neighbor Advertisement fe80::a (rtr, sol, ovr) is at 02:00:00:00:00:0a", "Router Solicitation"]


def test_an_icmp_message_cut_before_its_echo_fields_is_listed_not_fatal(tmp_path) -> None:
    """Four octets of ICMP (type, code, checksum): listed, not fatal, and malformed as tshark lists it."""
    from ikelab.pcap import write_pcap

    from test_dissect import tshark

    frames = [ip_packet("192.0.2.1", "192.0.2.2", 1, bytes([8, 0, 0xF7, 0xFF])),
              ip_packet("2001:db8::1", "2001:db8::2", 58, bytes([128, 0, 0, 0]))]
    path = tmp_path / "short.pcap"
    write_pcap(path, [(n, f) for n, f in enumerate(frames)], linktype=LINKTYPE_RAW)
    rows = dissect(path)
    theirs = tshark(path, None, "-T", "fields", "-e", "_ws.col.Protocol", "-e", "_ws.col.Info").splitlines()
    assert [r.protocol for r in rows] == [line.split("\t")[0] for line in theirs] == ["ICMP", "ICMPv6"]
    assert all("[Malformed Packet]" in line for line in theirs)
    assert [r.info for r in rows] == [line.split("\t")[1] for line in theirs] == [
        "[Malformed Packet]", "Echo (ping) request[Malformed Packet]"]


# -- flow: the arrows, the drawing and the SA spans -----------------------------------------


@pytest.fixture(scope="module")
def short():
    sc = classic(duration=12.0, reconnect_at=None)
    return sc, dissect([CapturedPacket(t, p, LINKTYPE_RAW) for t, p in sc.records()], sc.tables)


def _drawn(fig):
    """(lane x by host label, [(x_from, x_to, y)] of each arrow, the time texts) of a draw_flow figure."""
    from matplotlib.text import Annotation

    ax = fig.axes[0]
    lanes = {t.get_text(): t.get_position()[0] for t in ax.texts if t.get_fontweight() == "bold"}
    arrows = [(a.xyann[0], a.xy[0], a.xy[1]) for a in ax.texts if isinstance(a, Annotation)]
    times = [t.get_text() for t in ax.texts if t.get_position()[0] == -0.85]
    return ax, lanes, arrows, times


def test_each_arrow_points_from_sender_to_receiver_and_time_runs_down() -> None:
    """Wireshark's Flow Graph: the arrowhead is at the receiver's lane, later packets are drawn lower."""
    from ikelab.flow import Arrow, draw_flow

    arrows = [Arrow(0.0, "192.0.2.1", "192.0.2.2", "IKE_SA_INIT MID=00 Initiator Request", "IKE_SA_INIT"),
              Arrow(0.5, "192.0.2.2", "192.0.2.1", "IKE_SA_INIT MID=00 Responder Response", "IKE_SA_INIT"),
              Arrow(1.0, "192.0.2.1", "192.0.2.2", "ESP (SPI=0x0000abcd) \u00d712", "ESP 0x0000abcd", 12, 7.25)]
    ax, lanes, drawn, times = _drawn(draw_flow(arrows, names={"192.0.2.1": "moon"}))
    assert set(lanes) == {"moon", "192.0.2.2"}  # names relabel a lane, the others keep their address
    x = {"192.0.2.1": lanes["moon"], "192.0.2.2": lanes["192.0.2.2"]}
    assert [(a, b) for a, b, _ in drawn] == [(x[a.src], x[a.dst]) for a in arrows]
    ys = [y for _, _, y in drawn]
    bottom, top = ax.get_ylim()
    assert ys == sorted(ys) and bottom > top  # y grows downwards: the first packet is at the top
    assert times == ["0.000", "0.500", "1.000\u20137.250"]  # a folded run shows when it started and ended


def test_ike_rows_carry_their_summary_and_esp_rows_their_inner_protocol(short) -> None:
    """The arrow text is Wireshark's Info, then the RFC 7296 payload list (IKE) or the decrypted protocol (ESP)."""
    sc, rows = short
    arrows = flow_arrows(rows, fold=False)
    seen = {"ike": 0, "esp": 0}
    for a, r in zip(arrows, rows, strict=True):
        if r.kind == "ike":
            assert a.label == f"{r.info}\n{r.summary}"
        elif r.kind == "esp" and r.inner_info:
            assert a.label == f"{r.info} [{r.inner_protocol}]" and r.inner_protocol == "ICMP"
        seen[r.kind] = seen.get(r.kind, 0) + 1
    assert seen["ike"] >= 8 and seen["esp"] >= 8


def test_exchanges_without_a_colour_of_their_own_are_grey_and_take_no_esp_colour(tmp_path) -> None:
    """IKE_INTERMEDIATE (43) and IKE_SESSION_RESUME (38) are drawn in the 'other' group, not as an ESP SPI."""
    from ikelab.flow import GROUP_COLOURS

    messages = [Message(SPI_I, SPI_R, 43, True, False, 1, (Nonce(bytes(16)),)),
                Message(SPI_I, SPI_R, 38, True, False, 2, (Nonce(bytes(16)),))]
    rows = dissect(write_udp_pcap(tmp_path / "other.pcap", [(m.encode(), 500) for m in messages]))
    assert [r.exchange for r in rows] == ["IKE_INTERMEDIATE", "IKE_SESSION_RESUME"]
    arrows = flow_arrows(rows)
    assert [(a.group, a.colour) for a in arrows] == [("other", GROUP_COLOURS["other"])] * 2


def test_folding_starts_above_sixty_rows_and_keeps_each_direction() -> None:
    """AUTO_FOLD_ABOVE rows still get one arrow each; one more and ESP runs fold, each run in its own direction."""
    from ikelab.flow import AUTO_FOLD_ABOVE

    sc = classic(duration=60.0, reconnect_at=None)
    rows = dissect([CapturedPacket(t, p, LINKTYPE_RAW) for t, p in sc.records()], sc.tables)
    assert len(rows) > AUTO_FOLD_ABOVE + 1
    assert len(flow_arrows(rows[:AUTO_FOLD_ABOVE])) == AUTO_FOLD_ABOVE
    folded = flow_arrows(rows[:AUTO_FOLD_ABOVE + 1])
    assert len(folded) < AUTO_FOLD_ABOVE + 1 and sum(a.count for a in folded) == AUTO_FOLD_ABOVE + 1
    by_no = {r.no: r for r in rows}
    runs = [a for a in folded if a.count > 1]
    assert len({(a.src, a.dst) for a in runs}) == 2  # both directions of the CHILD SA
    for a in runs:
        first = by_no[a.first_no]
        assert (a.src, a.dst) == (first.src, first.dst) and a.src != a.dst


def test_a_summary_that_just_fits_stays_on_one_line() -> None:
    from ikelab.flow import wrap_summary

    text = "HDR, SK {IDi, AUTH, SAi2, TSi, TSr}"
    assert wrap_summary(text, len(text)) == [text]
    assert wrap_summary(text, len(text) - 1) == ["HDR, SK {IDi, AUTH, SAi2, TSi,", "TSr}"]


def test_frames_without_addresses_are_never_drawn_even_with_every_frame(short) -> None:
    """A frame that is not IP has no lane to start from: ``every_frame`` draws the others, and only them."""
    sc, rows = short
    broken = dissect([CapturedPacket(0.5, b"\x00\x01garbage", LINKTYPE_RAW)])
    assert broken[0].src == broken[0].dst == ""
    arrows = flow_arrows(list(rows) + broken, fold=False, every_frame=True)
    assert len(arrows) == len(rows) and all(a.src and a.dst for a in arrows)


def test_an_esp_packet_after_the_delete_does_not_stretch_the_sa(short) -> None:
    """A packet still in flight after the Delete (RFC 7296 1.4.1) is on the wire, but the SA ended at the Delete."""
    from dataclasses import replace

    from ikelab.flow import sa_spans

    sc, rows = short
    spans = sa_spans(rows)
    gone = next(s for s in spans if s.kind == "ESP" and s.deleted)
    spi = int(gone.name.split("0x")[1], 16)
    last = [r for r in rows if r.kind == "esp" and r.spi == spi][-1]
    late = replace(last, no=rows[-1].no + 1, time=rows[-1].time + 1.0)
    again = next(s for s in sa_spans(list(rows) + [late]) if s.name == gone.name)
    assert again == gone and again.end < late.time


# -- packet: header fields a capture relies on ----------------------------------------------


def test_a_nat_rewrite_leaves_an_ipv4_udp_datagram_without_checksum_alone() -> None:
    """RFC 768: checksum 0 means "none was computed"; RFC 3948 3.1.2 recomputes only real checksums.

    Over IPv6 a UDP checksum is mandatory (RFC 8200 8.1), so a zero one there is computed.
    """
    from ikelab.packet import parse_udp, udp, with_checksum_for

    bare = udp("192.0.2.1", "192.0.2.2", 4500, 4500, b"payload!", checksum=False)
    assert bare[6:8] == b"\0\0"
    assert with_checksum_for("198.51.100.7", "192.0.2.2", 17, bare) == bare
    v6 = with_checksum_for("2001:db8::7", "2001:db8::2", 17, bare)
    assert v6[6:8] != b"\0\0" and v6[:6] + v6[8:] == bare[:6] + bare[8:]
    assert parse_udp(ip_packet("2001:db8::7", "2001:db8::2", 17, v6)).payload == b"payload!"


def _with_flags(packet: bytes, word: int) -> bytes:
    """An IPv4 packet with its Flags/Fragment Offset word replaced and the header checksum made right again."""
    from ikelab.packet import internet_checksum

    header = bytearray(packet[:20])
    header[6:8] = word.to_bytes(2, "big")
    header[10:12] = b"\0\0"
    header[10:12] = internet_checksum(bytes(header)).to_bytes(2, "big")
    return bytes(header) + packet[20:]


def test_the_reserved_ipv4_flag_is_refused() -> None:
    """RFC 791 3.1: flag bit 0 is reserved and must be zero; a packet with it set is a ParseError at offset 6."""
    from ikelab.errors import ParseError
    from ikelab.packet import parse_ip

    good = ip_packet("192.0.2.1", "192.0.2.2", 17, b"\0" * 8, dont_fragment=True)
    with pytest.raises(ParseError) as err:
        parse_ip(_with_flags(good, 0x8000 | 0x4000))
    assert (err.value.field, err.value.offset) == ("flags", 6)
    assert parse_ip(good).dont_fragment


def test_fragments_give_what_they_hold_and_no_more() -> None:
    """A first fragment still shows its ICMP echo (the checksum covers the whole message, so it is not checked);
    a later fragment holds no UDP header (its offset is not 0), and says so rather than misread its data as one."""
    from ikelab.errors import ParseError
    from ikelab.ip_fragments import fragment
    from ikelab.packet import icmp_echo, parse_icmp, parse_ip, parse_udp

    ping = icmp_echo("192.0.2.1", "192.0.2.2", 0x1234, 7, bytes(range(256)) * 8)
    head = parse_ip(fragment(ping, 576)[0])
    assert head.more_fragments and head.fragment_offset == 0
    echo = parse_icmp(head)
    assert (echo.ident, echo.seq, echo.is_echo_request) == (0x1234, 7, True)
    # the last piece of a datagram, its data reading like a UDP header of the right length (16 octets)
    looks_like_udp = ip_packet("192.0.2.1", "192.0.2.2", 17, bytes.fromhex("01f401f400100000") + bytes(8))
    later = _with_flags(looks_like_udp, 185)  # offset 185 * 8 = 1480, no More Fragments
    assert parse_ip(later).fragment_offset == 1480
    with pytest.raises(ParseError) as err:
        parse_udp(later, verify_checksum=False)
    assert err.value.field == "fragment_offset"


def test_sctp_ports_are_selectors() -> None:
    """RFC 4301 4.4.1.1: local and remote ports are selectors for UDP, TCP and SCTP alike."""
    from ikelab.packet import PROTO_SCTP, selectors

    ports = (5000).to_bytes(2, "big") + (6000).to_bytes(2, "big")
    sctp = ip_packet("192.0.2.1", "192.0.2.2", PROTO_SCTP, ports + bytes(8))
    assert selectors(sctp)[2:] == (PROTO_SCTP, 5000, 6000)
    esp = ip_packet("192.0.2.1", "192.0.2.2", 50, bytes(16))
    assert selectors(esp)[3:] == (None, None)  # OPAQUE
