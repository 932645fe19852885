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

from ikewire_samples import SPI_I, SPI_R, ike_auth_request, suite_crypto
from ikelab.constants import CfgAttribute, CfgType, NotifyType
from ikelab.message import Message, decode
from ikelab.payloads import CP, EAP, SK, SKF, IDi, Nonce, Notify, UnknownPayload, VendorId
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


def test_fragments_opaque_sk_and_cp_in_the_bracket_form() -> None:
    """charon logs a fragment as ``EF(n/N)``, an undecrypted SK as ``E`` and a CP request as ``CPRQ``."""
    frag = Message(SPI_I, SPI_R, exchange=35, message_id=1, payloads=(SKF(2, 3, encrypted=b"x" * 32),))
    assert brackets(frag) == "[ EF(2/3) ]"
    opaque = Message(SPI_I, SPI_R, exchange=35, message_id=1, payloads=(SK(encrypted=b"x" * 40, next_payload=35),))
    assert brackets(opaque) == "[ E ]"
    cp = CP(CfgType.CFG_REQUEST, ((CfgAttribute.INTERNAL_IP4_ADDRESS, b""),))
    inner = Message(SPI_I, SPI_R, exchange=35, message_id=1, payloads=(SK(inner=(IDi.from_fqdn("moon"), cp)),))
    words = brackets(inner).strip("[ ]").split()
    assert words[0] == "IDi" and words[1].startswith("CPRQ")
    reply = Message(SPI_I, SPI_R, exchange=35, is_initiator=False, is_response=True,
                    payloads=(SK(inner=(CP(CfgType.CFG_REPLY),)),))
    assert brackets(reply).strip("[ ]").startswith("CPRP")


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
