"""Edges of the IKEv2 wire codec (RFC 7296 3) that a mutation review found untested.

Each test pins a boundary, a flag bit, or the field name and offset of a
typed error that a user relies on: the expected values come from the byte
layouts of RFC 7296 section 3 (and RFC 7383 2.5 for SKF), not from ikelab.
"""

from __future__ import annotations

import hashlib

import pytest

from ikewire_samples import SPI_I, SPI_R, suite_crypto
from ikelab import sa_payload
from ikelab.constants import AuthMethod, CertEncoding, DhId, EncrId, ExchangeType, IdType, NotifyType, PayloadType, ProtocolId, TransformType
from ikelab.errors import ConfigError, ParseError, UnsupportedCriticalPayloadError
from ikelab.message import Message, decode, decode_header
from ikelab.payloads import AUTH, CERT, CERTREQ, KE, SA, SK, SKF, Delete, IDi, Nonce, Notify, Proposal, Transform, UnknownPayload
from ikelab.sk import seal, sealed_length

GCM = suite_crypto("ENCR_AES_GCM_16", 128, None, seed="review")


def _message_with_body(first: int, body: bytes) -> bytes:
    """A cleartext message whose only payload has type ``first`` and this body (lengths correct)."""
    data = bytearray(Message(SPI_I, payloads=(UnknownPayload(250, body),)).encode())
    data[16] = first
    return bytes(data)


def _parse_error(data: bytes, crypto=None) -> ParseError:
    with pytest.raises(ParseError) as err:
        decode(data, crypto)
    return err.value


# -- the IKE header (RFC 7296 3.1) -----------------------------------------------------


def test_short_header_error_points_at_the_end_of_the_datagram():
    data = Message(SPI_I).encode()
    for n in (0, 1, 27):
        err = _parse_error(data[:n])
        assert (err.field, err.offset) == ("HDR", n)


@pytest.mark.parametrize(
    "flags, initiator, version, response",
    [(0x08, True, False, False), (0x10, False, True, False), (0x20, False, False, True), (0x38, True, True, True)],
)
def test_decode_header_reads_each_flag_bit(flags, initiator, version, response):
    # RFC 7296 3.1: R (Response) is bit 5 (0x20), V (Version) bit 4 (0x10), I (Initiator) bit 3 (0x08)
    data = bytearray(Message(SPI_I, SPI_R, ExchangeType.INFORMATIONAL, False, False, 1).encode())
    data[19] = flags
    hdr = decode_header(bytes(data))
    assert (hdr.is_initiator, hdr.version_flag, hdr.is_response) == (initiator, version, response)
    m = decode(bytes(data))
    assert (m.is_initiator, m.version_flag, m.is_response) == (initiator, version, response)


# -- the generic payload header (RFC 7296 3.2) -----------------------------------------


def test_a_payload_of_65536_octets_is_a_config_error():
    # Delete: 4 octets of header, Protocol ID | SPI Size | Num of SPIs (2), then 4-octet SPIs:
    # 16382 SPIs make 4 + 4 + 65528 = 65536 octets, one more than Payload Length can say
    big = Delete(ProtocolId.ESP, tuple(i.to_bytes(4, "big") for i in range(1, 16383)))
    for encode in (big.encode, Message(SPI_I, payloads=(big,)).encode):
        with pytest.raises(ConfigError) as err:
            encode()
        assert err.value.field == "D.payload_length"
    fits = Delete(ProtocolId.ESP, big.spis[:-1])
    assert int.from_bytes(fits.encode()[2:4], "big") == 65532


def test_payload_type_zero_cannot_be_sent():
    # RFC 7296 3.2: Next Payload 0 means "no next payload", so no payload can have type 0
    with pytest.raises(ConfigError) as err:
        Message(SPI_I, payloads=(UnknownPayload(0, b"x"),)).encode()
    assert err.value.field == "payload(0).payload_type"


# -- payload bodies ----------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 3])
def test_auth_body_shorter_than_method_and_reserved_is_refused(n):
    # RFC 7296 3.8: Auth Method (1) | RESERVED (3) | Authentication Data
    data = _message_with_body(PayloadType.AUTH, bytes([2]) + bytes(n - 1) if n else b"")
    err = _parse_error(data)
    assert (err.field, err.offset) == ("AUTH.method", 32)


def test_auth_with_empty_data_decodes():
    data = _message_with_body(PayloadType.AUTH, bytes([2, 0, 0, 0]))
    assert decode(data).payloads == (AUTH(AuthMethod.SHARED_KEY_MIC, b""),)


def test_nonce_of_2048_bits_decodes_and_of_2049_octets_does_not():
    # RFC 7296 3.9: "at least 128 bits in size ... at most 2048 bits"
    assert decode(_message_with_body(PayloadType.NONCE, bytes(256))).payloads == (Nonce(bytes(256)),)
    err = _parse_error(_message_with_body(PayloadType.NONCE, bytes(257)))
    assert (err.field, err.offset) == ("NONCE.nonce_data", 32)


def test_largest_auth_data_and_one_octet_more():
    # 4 (payload header) + 4 (Auth Method, RESERVED) + 65527 = 65535, the largest Payload Length
    assert len(AUTH(AuthMethod.DIGITAL_SIGNATURE, bytes(65527)).encode()) == 65535
    with pytest.raises(ConfigError) as err:
        AUTH(AuthMethod.DIGITAL_SIGNATURE, bytes(65528)).encode()
    assert err.value.field == "AUTH.data"


def test_delete_spis_must_fill_the_body_exactly():
    # RFC 7296 3.11: Num of SPIs x SPI Size octets of SPIs, nothing more
    spi = bytes.fromhex("c0ffee01")
    assert decode(_message_with_body(PayloadType.D, bytes([3, 4, 0, 1]) + spi)).payloads == (Delete(ProtocolId.ESP, (spi,)),)
    for extra in (b"\0", b"\0\0", b"\0\0\0"):
        err = _parse_error(_message_with_body(PayloadType.D, bytes([3, 4, 0, 1]) + spi + extra))
        assert (err.field, err.offset) == ("D.num_spis", 34)


def test_largest_cert_data_and_one_octet_more():
    # RFC 7296 3.6: Cert Encoding (1) | Certificate Data, no RESERVED octets:
    # 4 + 1 + 65530 = 65535, the largest Payload Length
    cert = CERT(CertEncoding.X509_CERTIFICATE_SIGNATURE, bytes(65530))
    data = Message(SPI_I, payloads=(cert,)).encode()
    assert data[30:32] == b"\xff\xff" and decode(data).payloads == (cert,)
    with pytest.raises(ConfigError) as err:
        CERT(CertEncoding.X509_CERTIFICATE_SIGNATURE, bytes(65531)).encode()
    assert err.value.field == "CERT.data"


# -- errors inside the Encrypted payload ----------------------------------------------------


def _sealed(inner_first: int, inner: bytes) -> bytes:
    """A message whose SK payload holds ``inner`` (any octets) as its plaintext, sealed with GCM."""
    sk_len = 4 + sealed_length(GCM, len(inner))
    total = 28 + sk_len
    header = SPI_I + SPI_R + bytes([46, 0x20, ExchangeType.IKE_AUTH, 0x08]) + (1).to_bytes(4, "big") + total.to_bytes(4, "big")
    aad = header + bytes([inner_first, 0]) + sk_len.to_bytes(2, "big")
    return aad + seal(GCM, inner, aad)


def test_error_offsets_inside_sk_count_from_the_ike_header():
    # a Nonce of 15 octets inside SK: its data starts after the IKE header (28), the SK
    # header (4), the IV (8 for GCM) and the inner payload header (4)
    data = _sealed(PayloadType.NONCE, bytes([0, 0, 0, 19]) + bytes(15))
    err = _parse_error(data, GCM)
    assert (err.field, err.offset) == ("SK.NONCE.nonce_data", 28 + 4 + 8 + 4)


# -- SKF (RFC 7383 2.5) ----------------------------------------------------------------------


@pytest.mark.parametrize("number, total", [(0, 1), (3, 2), (1, 0)])
def test_skf_numbers_checked_when_encrypting(number, total):
    m = Message(SPI_I, SPI_R, ExchangeType.IKE_AUTH, payloads=(SKF(number, total, content=b"x", next_payload=35),))
    with pytest.raises(ConfigError) as err:
        m.encode(GCM)
    assert err.value.field == "SKF.fragment_number"


def test_skf_next_payload_must_fit_an_octet():
    m = Message(SPI_I, SPI_R, ExchangeType.IKE_AUTH, payloads=(SKF(1, 1, content=b"x", next_payload=256),))
    with pytest.raises(ConfigError) as err:
        m.encode(GCM)
    assert err.value.field == "SKF.next_payload"


# -- the payload chain (RFC 7296 3.2) ---------------------------------------------------------


def _chain(*parts: bytes, first: int = PayloadType.NONCE) -> bytes:
    """A message with these octets after the header, the header's Next Payload ``first``."""
    body = b"".join(parts)
    return SPI_I + bytes(8) + bytes([first, 0x20, ExchangeType.IKE_SA_INIT, 0x08]) + bytes(4) + (28 + len(body)).to_bytes(4, "big") + body


NONCE_16 = bytes([0, 0, 0, 20]) + bytes(16)  # a Nonce payload ending the chain


@pytest.mark.parametrize("left", [1, 2, 3])
def test_fewer_octets_than_a_payload_header_are_a_parse_error(left):
    # the Nonce names a KE next, but only 1..3 octets follow it
    data = _chain(bytes([PayloadType.KE]) + NONCE_16[1:], bytes(left))
    err = _parse_error(data)
    assert (err.field, err.offset) == ("KE.payload_length", 48)


@pytest.mark.parametrize("length", [0, 1, 3])
def test_payload_length_below_the_generic_header_is_refused(length):
    data = _chain(bytes([0, 0]) + length.to_bytes(2, "big") + bytes(16))
    err = _parse_error(data)
    assert (err.field, err.offset) == ("NONCE.payload_length", 30)


def test_payload_length_one_past_the_datagram_is_refused():
    data = _chain(bytes([0, 0, 0, 21]) + bytes(16))
    err = _parse_error(data)
    assert (err.field, err.offset) == ("NONCE.payload_length", 30)


def test_reserved_bits_of_the_generic_header_are_ignored():
    # RFC 7296 3.2: RESERVED "MUST be ignored on receipt"; only the top bit is Critical
    unknown = bytes([0, 0x7F, 0, 5, 0xAB])  # type 250, C clear, every RESERVED bit set
    m = decode(_chain(bytes([250]) + NONCE_16[1:], unknown))
    assert m.payloads == (Nonce(bytes(16)), UnknownPayload(250, b"\xab"))
    assert not m.payloads[1].critical


def test_unsupported_critical_payload_inside_sk_reports_its_datagram_offset():
    data = _sealed(250, bytes([0, 0x80, 0, 4]))  # type 250, Critical, no body
    with pytest.raises(UnsupportedCriticalPayloadError) as err:
        decode(data, GCM)
    assert err.value.payload_type == 250 and err.value.offset == 28 + 4 + 8


def test_second_payload_of_a_type_is_named_with_its_count():
    # encode: the second Notify is N[2]
    bad = Notify.make_cookie(bytes(65))
    with pytest.raises(ConfigError) as err:
        Message(SPI_I, payloads=(Notify(NotifyType.INITIAL_CONTACT), bad)).encode()
    assert err.value.field == "N[2].notification_data"
    # decode: the third Notify is N[3]
    ok = Notify(NotifyType.INITIAL_CONTACT).encode(PayloadType.N)
    data = _chain(ok, ok, bytes([0, 0, 0, 8, 0, 0, 0x40, 0x06]), first=PayloadType.N)  # COOKIE with no data
    err = _parse_error(data)
    assert err.field == "N[3].notification_data"


def test_skf_must_be_the_last_payload_when_encoding():
    m = Message(SPI_I, payloads=(SKF(1, 1, encrypted=bytes(24)), Nonce(bytes(16))))
    with pytest.raises(ConfigError) as err:
        m.encode()
    assert err.value.field == "payloads"


@pytest.mark.parametrize("length", [4, 5, 7])
def test_skf_shorter_than_its_numbers_is_refused(length):
    data = _chain(bytes([0, 0]) + length.to_bytes(2, "big") + bytes(length - 4), first=PayloadType.SKF)
    err = _parse_error(data)
    assert (err.field, err.offset) == ("SKF.payload_length", 30)


def test_skf_numbers_name_their_own_field_and_offset():
    # RFC 7383 2.5: Fragment Number (2) | Total Fragments (2) after the generic header
    def skf(number: int, total: int) -> bytes:
        return _chain(bytes([35, 0, 0, 32]) + number.to_bytes(2, "big") + total.to_bytes(2, "big") + bytes(24), first=PayloadType.SKF)

    err = _parse_error(skf(1, 0))
    assert (err.field, err.offset) == ("SKF.total_fragments", 34)
    err = _parse_error(skf(3, 2))
    assert (err.field, err.offset) == ("SKF.fragment_number", 32)
    m = decode(skf(2, 2))
    assert (m.payloads[0].fragment_number, m.payloads[0].total_fragments) == (2, 2)


# -- Delete, KE, CERTREQ, unknown payloads ------------------------------------------------------


def test_delete_of_65536_spis_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        Delete(ProtocolId.ESP, (b"\0\0\0\1",) * 65536).encode()
    assert err.value.field == "D.num_spis"


def test_largest_key_exchange_data_and_one_octet_more():
    # RFC 7296 3.4: DH Group Num (2) | RESERVED (2) | Key Exchange Data: 4 + 4 + 65527 = 65535
    assert len(KE(DhId.MODP_2048, bytes(65527)).encode()) == 65535
    with pytest.raises(ConfigError) as err:
        KE(DhId.MODP_2048, bytes(65528)).encode()
    assert err.value.field == "KE.key_exchange_data"


def test_notify_data_limit_counts_the_spi():
    # RFC 7296 3.10: 4 (header) + 4 (Protocol ID, SPI Size, Type) + SPI (4) + data: at most 65523 data octets
    n = Notify(NotifyType.REKEY_SA + 1000, ProtocolId.ESP, bytes(4), bytes(65523))
    assert len(n.encode()) == 65535
    with pytest.raises(ConfigError) as err:
        Notify(NotifyType.REKEY_SA + 1000, ProtocolId.ESP, bytes(4), bytes(65524)).encode()
    assert err.value.field == "N.notification_data"


def test_certreq_authorities_only_split_whole_sha1_hashes():
    hashes = bytes(range(40))
    assert CERTREQ(CertEncoding.X509_CERTIFICATE_SIGNATURE, hashes).authorities == (hashes[:20], hashes[20:])
    odd = bytes(21)  # hand-built, not a list of SHA-1 hashes: shown whole
    assert CERTREQ(CertEncoding.X509_CERTIFICATE_SIGNATURE, odd).authorities == (odd,)


def test_unknown_payload_data_must_be_bytes():
    with pytest.raises(ConfigError) as err:
        Message(SPI_I, payloads=(UnknownPayload(250, "text"),)).encode()
    assert err.value.field == "payload(250).data"


def test_opaque_sk_and_skf_encode_alone_with_their_header_fields():
    # RFC 7296 3.14 / RFC 7383 2.5: Next Payload is the first inner type; C is the top bit;
    # SKF continues with Fragment Number (2) | Total Fragments (2)
    body = bytes(range(24))
    assert SK(encrypted=body, next_payload=35, critical=True).encode() == bytes([35, 0x80, 0, 28]) + body
    assert SKF(2, 3, encrypted=body, critical=True).encode() == bytes([0, 0x80, 0, 32, 0, 2, 0, 3]) + body


# -- SA payload (RFC 7296 3.3) -------------------------------------------------------------------

AES_CBC = Transform.encr("ENCR_AES_CBC", 128)


def _sa_error(body: bytes) -> ParseError:
    return _parse_error(_message_with_body(PayloadType.SA, body))


def test_transform_attributes_in_tv_and_tlv_form():
    # RFC 7296 3.3.5: AF=1 (TV) puts the value in the second word; AF=0 (TLV) gives a length then the value
    t = Transform(TransformType.ENCR, EncrId.ENCR_AES_CBC, 128, attributes=((20, 5), (21, b"ab")))
    body = SA((Proposal.ike(t),)).encode()[4:]
    assert body[8:] == bytes.fromhex("00000016" "0100000c" "800e0080" "80140005" "00150002") + b"ab"
    assert decode(Message(SPI_I, payloads=(SA((Proposal.ike(t),)),)).encode()).payloads[0].proposals[0].transforms == (t,)


@pytest.mark.parametrize(
    "attributes, field",
    [(((0x8000, 1),), "SA.proposal[1].transform[1].attributes[0].type"),  # 15 bits: the top bit is AF
     (((14, 128),), "SA.proposal[1].transform[1].attributes")],  # Key Length goes in key_length=
)
def test_transform_attribute_types_are_checked(attributes, field):
    t = Transform(TransformType.ENCR, EncrId.ENCR_AES_CBC, attributes=attributes)
    with pytest.raises(ConfigError) as err:
        SA((Proposal.ike(t),)).encode()
    assert err.value.field == field


@pytest.mark.parametrize(
    "proposal, field",
    [(Proposal.ike(Transform.encr("ENCR_AES_CBC", 70000)), "SA.proposal[1].transform[1].key_length"),
     (Proposal(256, transforms=(AES_CBC,)), "SA.proposal[1].proposal_number"),
     (Proposal.ike(*[AES_CBC] * 256), "SA.proposal[1].num_transforms")],
)
def test_proposal_values_that_do_not_fit_their_octets(proposal, field):
    with pytest.raises(ConfigError) as err:
        SA((proposal,)).encode()
    assert err.value.field == field


@pytest.mark.parametrize("length", [4, 7])
def test_transform_length_below_eight_is_refused(length):
    transform = bytes([0, 0]) + length.to_bytes(2, "big") + bytes.fromhex("0100000c")
    err = _sa_error(bytes.fromhex("0000001001010001") + transform)
    assert (err.field, err.offset) == ("SA.proposal[1].transform[1].transform_length", 32 + 8 + 2)


def test_attribute_needs_its_four_octet_header():
    # a transform of 10 octets: 8 of header, then only 2 of an attribute
    err = _sa_error(bytes.fromhex("0000001201010001" "0000000a0100000c" "800e"))
    assert (err.field, err.offset) == ("SA.proposal[1].transform[1].attribute[1].type", 32 + 16)


def test_tlv_attribute_that_exactly_fills_the_transform_decodes():
    sa = decode(_message_with_body(PayloadType.SA, bytes.fromhex("0000001601010001" "0000000e0100000c" "00150002") + b"ab")).payloads[0]
    assert sa.proposals[0].transforms == (Transform(TransformType.ENCR, EncrId.ENCR_AES_CBC, attributes=((21, b"ab"),)),)


def test_spi_size_must_fit_in_the_proposal():
    # an ESP proposal of 11 octets cannot hold its 4-octet SPI
    err = _sa_error(bytes.fromhex("0000000b01030400aabbcc"))
    assert (err.field, err.offset) == ("SA.proposal[1].spi_size", 38)


def test_spi_size_of_the_wrong_protocol_names_its_offset():
    err = _sa_error(bytes.fromhex("0000000c01010400aabbccdd"))  # IKE with a 4-octet SPI (0 or 8 only)
    assert (err.field, err.offset) == ("SA.proposal[1].spi_size", 38)


def test_second_proposal_out_of_sequence_is_refused_at_its_number():
    # RFC 7296 3.3.1: "each subsequent Proposal MUST be one more than the previous proposal"
    err = _sa_error(bytes.fromhex("0200000801010000" "0000000803010000"))
    assert (err.field, err.offset) == ("SA.proposal[2].proposal_number", 32 + 8 + 4)


def test_proposal_last_substruc_three_is_a_transforms_value():
    # RFC 7296 3.3.1: a proposal's Last Substruc is 0 (last) or 2 (more); 3 belongs to transforms
    err = _sa_error(bytes.fromhex("0300000801010000"))
    assert (err.field, err.offset) == ("SA.proposal[1].last_substruc", 32)


def test_last_transform_saying_more_follow_is_refused():
    # Num Transforms 1 and one transform, but its Last Substruc is 3 (more) and the proposal ends
    err = _sa_error(bytes.fromhex("0000001001010001" "030000080100000c"))
    assert (err.field, err.offset) == ("SA.proposal[1].num_transforms", 32 + 7)


def test_octets_after_the_last_proposal_are_refused():
    # proposal 1 says it is the last (Last Substruc 0), yet a proposal 2 follows
    err = _sa_error(bytes.fromhex("0000000801010000" "0000000802010000"))
    assert (err.field, err.offset) == ("SA.proposal[2]", 32 + 8)


def test_more_transforms_than_announced_names_the_count():
    # Num Transforms 1, but transform 1 says more follow (Last Substruc 3) and octets follow it
    err = _sa_error(bytes.fromhex("0000001401010001" "030000080100000c" "00000000"))
    assert (err.field, err.offset) == ("SA.proposal[1].num_transforms", 32 + 7)


def test_a_remembered_proposal_never_reaches_past_the_sa_payload():
    # decode a one-transform IKE proposal (16 octets) so that its octets are remembered ...
    proposal = bytes.fromhex("00000010010100010000000801 00000c".replace(" ", ""))
    good = _chain(bytes([0, 0, 0, 20]) + proposal, first=PayloadType.SA)
    assert decode(good).payloads[0].proposals[0].transforms == (Transform(TransformType.ENCR, EncrId.ENCR_AES_CBC),)
    # ... then cut the SA payload after the proposal header: the other 8 octets of the same
    # proposal now belong to the next payload (type 250, 8 octets), which must not be read as SA
    bad = _chain(bytes([250, 0, 0, 12]) + proposal[:8], proposal[8:], first=PayloadType.SA)
    assert proposal[8:12] == bytes([0, 0, 0, 8])  # so it is a well-formed generic header of 8 octets
    err = _parse_error(bad)
    assert (err.field, err.offset) == ("SA.proposal[1].proposal_length", 34)


def test_a_transform_shared_by_two_proposals_is_one_object():
    # the module's promise: decoded transforms are remembered by their octets, one object serves all
    sa_payload._KNOWN_TRANSFORMS.clear()  # so that no table reset falls between the two decodes
    sa_payload._KNOWN_PROPOSALS.clear()
    aes = Transform.encr("ENCR_AES_CBC", 128)
    a, b = (decode(Message(SPI_I, payloads=(SA((Proposal.ike(aes, Transform.prf(prf)),)),)).encode()).payloads[0]
            for prf in ("PRF_HMAC_SHA2_256", "PRF_HMAC_SHA2_384"))
    assert a != b and a.proposals[0].transforms[0] is b.proposals[0].transforms[0]


# -- Notify (RFC 7296 3.10) ------------------------------------------------------------------------


def _notify_error(ntype: int, data: bytes, spi: bytes = b"", protocol: int = 0) -> ParseError:
    return _parse_error(_message_with_body(PayloadType.N, bytes([protocol, len(spi)]) + ntype.to_bytes(2, "big") + spi + data))


def test_error_and_status_types_split_at_16384():
    # RFC 7296 3.10.1: "Types in the range 0 - 16383 are intended for reporting errors"
    assert Notify(16383).is_error and not Notify(NotifyType.INITIAL_CONTACT).is_error


@pytest.mark.parametrize(
    "ntype, data",
    [(NotifyType.COOKIE, b""),  # 2.6: between 1 and 64 octets
     (NotifyType.INVALID_KE_PAYLOAD, b"\0\x13\0"),  # 1.3: the two-octet group
     (NotifyType.NAT_DETECTION_DESTINATION_IP, bytes(21)),  # 2.23: a SHA-1 digest
     (NotifyType.SIGNATURE_HASH_ALGORITHMS, b"\0\2\0")],  # RFC 7427 4: two-octet identifiers
)
def test_notify_data_of_the_wrong_size_is_refused_both_ways(ntype, data):
    err = _notify_error(ntype, data)
    assert (err.field, err.offset) == ("N.notification_data", 36)
    with pytest.raises(ConfigError) as cerr:
        Notify(ntype, data=data).encode()
    assert cerr.value.field == "N.notification_data"


def test_notification_data_offset_follows_the_spi():
    err = _notify_error(NotifyType.COOKIE, bytes(65), spi=bytes(4), protocol=3)
    assert (err.field, err.offset) == ("N.notification_data", 40)


def test_rekey_sa_names_a_child_sa():
    # RFC 7296 1.3.3: the Protocol ID and SPI of the AH or ESP SA being rekeyed
    with pytest.raises(ConfigError) as err:
        Notify(NotifyType.REKEY_SA, ProtocolId.IKE, bytes(4)).encode()
    assert err.value.field == "N.notification_data"


def test_nat_detection_hash_is_sha1_of_spis_address_and_port():
    # RFC 7296 2.23: SHA-1 ( SPIi | SPIr | IP | Port )
    expected = hashlib.sha1(SPI_I + SPI_R + bytes([192, 0, 2, 1]) + (4500).to_bytes(2, "big")).digest()
    n = Notify.make_nat_detection_source_ip(SPI_I, SPI_R, "192.0.2.1", 4500)
    assert n.data == expected and n.nat_detection_hash == expected


def test_notify_views_of_hand_built_malformed_data_are_none():
    assert Notify(NotifyType.INVALID_KE_PAYLOAD, data=b"\0").invalid_ke_group is None
    assert Notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, data=b"\0\2\0").signature_hash_algorithms is None
    assert Notify(NotifyType.COOKIE2, data=bytes(8)).cookie is None


# -- IDi / IDr (RFC 7296 3.5) ----------------------------------------------------------------------


def _id_error(id_type: int, data: bytes) -> ParseError:
    return _parse_error(_message_with_body(PayloadType.IDi, bytes([id_type, 0, 0, 0]) + data))


@pytest.mark.parametrize(
    "id_type, data",
    [(IdType.ID_IPV4_ADDR, bytes(5)), (IdType.ID_IPV6_ADDR, bytes(17)),  # longer than the address
     (IdType.ID_FQDN, b"vpn\x7fexample"), (IdType.ID_FQDN, b"")],  # DEL is not printable; empty is no name
)
def test_identification_data_checked_with_field_and_offset(id_type, data):
    err = _id_error(id_type, data)
    assert (err.field, err.offset) == ("IDi.id_data", 36)


def test_printable_names_include_the_space():
    m = decode(_message_with_body(PayloadType.IDi, bytes([IdType.ID_RFC822_ADDR, 0, 0, 0]) + b'"a b"@example.org'))
    assert m.payloads[0].value == '"a b"@example.org'


def test_fqdn_with_del_is_refused_on_encoding():
    with pytest.raises(ConfigError) as err:
        Message(SPI_I, payloads=(IDi(IdType.ID_FQDN, b"vpn\x7fexample"),)).encode()
    assert err.value.field == "IDi.id_data"


def test_hand_built_address_identity_of_the_wrong_size_shows_its_bytes():
    assert IDi(IdType.ID_IPV4_ADDR, bytes(5)).value == bytes(5)


def test_malformed_dn_inside_sk_reports_its_datagram_offset():
    # a DER Name whose SEQUENCE claims 5 octets but holds 3, in IDi inside SK
    inner = bytes([0, 0, 0, 4 + 4 + 5, IdType.ID_DER_ASN1_DN, 0, 0, 0]) + bytes.fromhex("3005310330")
    clear = _parse_error(_message_with_body(PayloadType.IDi, inner[4:]))  # the ID data starts at 28 + 4 + 4
    sealed = _parse_error(_sealed(PayloadType.IDi, inner), GCM)  # at 28 + 4 + 8 (IV) + 4 + 4
    assert sealed.field == "SK." + clear.field == "SK.IDi.id_data" and sealed.offset - 48 == clear.offset - 36 >= 0


@pytest.mark.parametrize("critical", ["no", "", None, 2, 0.0])
def test_the_critical_flag_is_one_bit_not_any_truthy_value(critical):
    """RFC 7296 3.2: the Critical bit is one bit.  ``critical="no"`` used to set it (a non-empty str is true) and
    ``None`` to clear it; anything but True/False (or 0/1) is now a ConfigError naming the payload's field, in a
    chain and alone."""
    from ikelab.payloads import encode_chain

    with pytest.raises(ConfigError) as info:
        encode_chain([Nonce(b"\x11" * 16, critical=critical)])
    assert info.value.field == "NONCE.critical"
    with pytest.raises(ConfigError, match=r"NONCE\.critical must be True or False"):
        Nonce(b"\x11" * 16, critical=critical).encode()


def test_critical_true_false_and_their_ints_set_exactly_the_high_bit():
    """The flags octet of the generic header is ``C | RESERVED(7)`` (RFC 7296 3.2)."""
    import struct

    from ikelab.payloads import encode_chain

    for critical, flags in ((True, 0x80), (1, 0x80), (False, 0), (0, 0)):
        _, data = encode_chain([Nonce(b"\x11" * 16, critical=critical)])
        assert data[:4] == struct.pack("!BBH", 0, flags, 20)
        assert Nonce(b"\x11" * 16, critical=critical).encode()[:4] == struct.pack("!BBH", 0, flags, 20)


@pytest.mark.parametrize("spis", [None, 5, b"\x00\x00\x12\x34", "1234"])
def test_delete_spis_must_be_a_list_of_spis(spis):
    """Delete(ESP, spis) takes a list of 4-octet SPIs (RFC 7296 3.11); one bytes value is not a list of them
    (it used to become a tuple of ints), and None or a number was a bare TypeError."""
    with pytest.raises(ConfigError, match=r"D\.spis must be a list of SPIs") as info:
        Delete(ProtocolId.ESP, spis)
    assert info.value.field == "D.spis"
