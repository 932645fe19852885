"""A mutation review of the payload codecs: KE, IDi/IDr, CERT, CERTREQ, AUTH, Nonce, Delete, V and CP.

Every expected octet is built here with :mod:`struct` from the layouts of RFC 7296 3.4-3.15 (and SHA-1
key hashes with :mod:`hashlib` and :mod:`cryptography`), never by ikelab.  Offsets in errors count from
the first octet of the decoded buffer: the generic payload header (RFC 7296 3.2) is octets 0..3, the
body starts at octet 4.
"""

from __future__ import annotations

import hashlib
import struct

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from ikelab.constants import CertEncoding, CfgAttribute, CfgType, IdType, PayloadType
from ikelab.errors import ConfigError, IkelabError, ParseError
from ikelab.payloads import AUTH, CERT, CERTREQ, CP, KE, Delete, IDi, IDr, Nonce, Payload, VendorId, decode_chain
from ikelab.wire import DecodeContext, DumpRow


def _payload(body: bytes, flags: int = 0) -> bytes:
    """Generic payload header (RFC 7296 3.2: Next Payload 0 | C + RESERVED | Payload Length) and ``body``."""
    return struct.pack("!BBH", 0, flags, 4 + len(body)) + body


def _decode(ptype: int, body: bytes, trace: list[DumpRow] | None = None) -> Payload:
    data = _payload(body)
    (payload,) = decode_chain(ptype, data, 0, len(data), DecodeContext(0, trace))
    return payload


def _parse_error(ptype: int, body: bytes) -> ParseError:
    with pytest.raises(ParseError) as err:
        _decode(ptype, body)
    return err.value


def _dn_der() -> bytes:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "moon"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "strongSwan")]).public_bytes()


# -- layouts: each field at its RFC 7296 offset and width ----------------------------------------------


@pytest.mark.parametrize("payload, body", [
    # 3.4 KE: DH Group Num (2) | RESERVED (2) | Key Exchange Data; 0x1234 does not fit in one octet
    (KE(0x1234, b"\x01\x02\x03"), struct.pack("!HH", 0x1234, 0) + b"\x01\x02\x03"),
    # 3.5 ID: ID Type (1) | RESERVED (3) | Identification Data
    (IDi(IdType.ID_IPV4_ADDR, bytes([192, 0, 2, 7])), struct.pack("!B3x", 1) + bytes([192, 0, 2, 7])),
    (IDr(IdType.ID_FQDN, b"vpn.example"), struct.pack("!B3x", 2) + b"vpn.example"),
    # 3.6 CERT and 3.7 CERTREQ: Cert Encoding (1) | data, no RESERVED octets
    (CERT(CertEncoding.X509_CERTIFICATE_SIGNATURE, b"\x30\x00"), b"\x04\x30\x00"),
    (CERTREQ(CertEncoding.X509_CERTIFICATE_SIGNATURE, bytes(range(20))), b"\x04" + bytes(range(20))),
    # 3.8 AUTH: Auth Method (1) | RESERVED (3) | Authentication Data
    (AUTH(14, b"sig"), struct.pack("!B3x", 14) + b"sig"),
    # 3.9 Nonce and 3.12 Vendor ID: the data alone
    (Nonce(bytes(range(16))), bytes(range(16))),
    (VendorId(b"strongSwan"), b"strongSwan"),
    # 3.11 Delete: Protocol ID (1) | SPI Size (1) | Num of SPIs (2) | SPIs
    (Delete(3, (b"\xc0\x01\x02\x03", b"\xc0\x04\x05\x06")),
     struct.pack("!BBH", 3, 4, 2) + b"\xc0\x01\x02\x03\xc0\x04\x05\x06"),
    (Delete(1), struct.pack("!BBH", 1, 0, 0)),
    # 3.15 CP: CFG Type (1) | RESERVED (3) | attributes R (1 bit) | Type (15) | Length (2) | Value
    (CP(CfgType.CFG_REPLY, ((CfgAttribute.INTERNAL_IP4_ADDRESS, bytes([10, 3, 0, 1])), (0x7FFF, b""))),
     struct.pack("!B3xHH4sHH", 2, 1, 4, bytes([10, 3, 0, 1]), 0x7FFF, 0)),
])
def test_encoding_puts_each_field_at_its_rfc_offset(payload: Payload, body: bytes) -> None:
    """RFC 7296 3.4-3.15 layouts, RESERVED sent as zero (3.2); decoding the bytes gives the object back."""
    assert payload.encode() == _payload(body)
    assert _decode(payload.payload_type, body) == payload


@pytest.mark.parametrize("ptype, body, reserved", [
    (PayloadType.KE, struct.pack("!H", 19) + b"\xff\xff" + b"\x04" * 3, slice(2, 4)),
    (PayloadType.IDi, b"\x02\xff\xfe\xfd" + b"moon", slice(1, 4)),
    (PayloadType.AUTH, b"\x02\x80\x01\x7f" + b"mac", slice(1, 4)),
    (PayloadType.CP, b"\x01\xaa\xbb\xcc" + struct.pack("!HH", 0x8000 | 3, 0), slice(1, 4)),
])
def test_reserved_octets_are_ignored_on_receipt_and_sent_as_zero(ptype: int, body: bytes, reserved: slice) -> None:
    """RFC 7296 3.2: RESERVED "MUST be sent as zero; MUST be ignored on receipt" (also CP's R bit, 3.15.1)."""
    zeroed = bytearray(body)
    zeroed[reserved] = bytes(reserved.stop - reserved.start)
    if ptype == PayloadType.CP:
        zeroed[4] &= 0x7F  # the R bit of the attribute
    decoded = _decode(ptype, body)
    assert decoded == _decode(ptype, bytes(zeroed))
    assert decoded.encode() == _payload(bytes(zeroed))


# -- malformed bytes: ParseError naming the field and its offset ----------------------------------------


@pytest.mark.parametrize("ptype, head, field", [
    (PayloadType.KE, 4, "KE.dh_group"), (PayloadType.IDi, 4, "IDi.id_type"), (PayloadType.IDr, 4, "IDr.id_type"),
    (PayloadType.AUTH, 4, "AUTH.method"), (PayloadType.CERT, 1, "CERT.encoding"),
    (PayloadType.CERTREQ, 1, "CERTREQ.encoding"), (PayloadType.D, 4, "D.protocol_id"),
    (PayloadType.CP, 4, "CP.cfg_type"),
])
def test_a_body_shorter_than_its_fixed_fields_is_a_parse_error(ptype: int, head: int, field: str) -> None:
    for n in range(head):
        err = _parse_error(ptype, b"\x03" * n)
        assert (err.field, err.offset) == (field, 4)


@pytest.mark.parametrize("size, ok", [(15, False), (16, True), (256, True), (257, False)])
def test_nonce_is_16_to_256_octets_both_ways(size: int, ok: bool) -> None:
    """RFC 7296 3.9: "at least 128 bits in size ... at most 2048 bits"."""
    data = bytes(range(256)) * 2
    if ok:
        assert Nonce(data[:size]).encode() == _payload(data[:size])
        assert _decode(PayloadType.NONCE, data[:size]) == Nonce(data[:size])
        return
    err = _parse_error(PayloadType.NONCE, data[:size])
    assert (err.field, err.offset) == ("NONCE.nonce_data", 4)
    with pytest.raises(ConfigError) as cerr:
        Nonce(data[:size]).encode()
    assert cerr.value.field == "NONCE.nonce_data"


@pytest.mark.parametrize("body, field, offset", [
    (struct.pack("!BBH", 1, 4, 0), "D.spi_size", 5),  # the IKE SA: SPI Size 0
    (struct.pack("!BBH", 3, 8, 1) + bytes(8), "D.spi_size", 5),  # ESP: SPI Size 4
    (struct.pack("!BBH", 2, 0, 0), "D.spi_size", 5),  # AH: SPI Size 4
    (struct.pack("!BBH", 1, 0, 1), "D.num_spis", 6),  # the IKE SA carries no SPIs
    (struct.pack("!BBH", 3, 4, 2) + bytes(4), "D.num_spis", 6),  # 2 SPIs announced, 1 present
    (struct.pack("!BBH", 3, 4, 1) + bytes(5), "D.num_spis", 6),  # an octet too many
    (struct.pack("!BBH", 4, 4, 0), "D.protocol_id", 4),
])
def test_delete_spi_size_and_count_must_match_the_length(body: bytes, field: str, offset: int) -> None:
    """RFC 7296 3.11: SPI Size 0 for IKE, 4 for ESP/AH; Num of SPIs x SPI Size fills the payload."""
    err = _parse_error(PayloadType.D, body)
    assert (err.field, err.offset) == (field, offset)


def test_delete_encoding_refuses_spis_of_the_wrong_size() -> None:
    for payload, field in ((Delete(3, (bytes(3),)), "D.spi[1]"), (Delete(2, (bytes(4), bytes(8))), "D.spi[2]"),
                           (Delete(1, (bytes(4),)), "D.spis"), (Delete(4), "D.protocol_id")):
        with pytest.raises(ConfigError) as err:
            payload.encode()
        assert err.value.field == field


def test_certreq_x509_carries_sha1_hashes_of_ca_public_keys() -> None:
    """RFC 7296 3.7: "a concatenated list of SHA-1 hashes of the public keys of trusted Certification
    Authorities ... the SHA-1 hash of the Subject Public Key Info element"."""
    keys = [ec.derive_private_key(k, ec.SECP256R1()).public_key() for k in (3, 5)]
    spki = [k.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) for k in keys]
    hashes = [hashlib.sha1(s).digest() for s in spki]
    body = b"\x04" + b"".join(hashes)
    decoded = _decode(PayloadType.CERTREQ, body)
    assert isinstance(decoded, CERTREQ) and decoded.authorities == tuple(hashes)
    assert decoded.encode() == _payload(body)
    for bad in (body[:-1], body + b"\x00", body[:2]):  # 39, 41 and 1 octets: not a whole number of hashes
        err = _parse_error(PayloadType.CERTREQ, bad)
        assert (err.field, err.offset) == ("CERTREQ.data", 5)
    with pytest.raises(ConfigError) as cerr:
        CERTREQ(4, b"".join(hashes)[:-1]).encode()
    assert cerr.value.field == "CERTREQ.data"


# -- identification (RFC 7296 3.5) ---------------------------------------------------------------------


@pytest.mark.parametrize("id_type, data", [
    (IdType.ID_IPV4_ADDR, bytes(3)), (IdType.ID_IPV4_ADDR, bytes(5)), (IdType.ID_IPV4_ADDR, bytes(16)),
    (IdType.ID_IPV6_ADDR, bytes(4)), (IdType.ID_IPV6_ADDR, bytes(15)), (IdType.ID_IPV6_ADDR, bytes(17)),
    (IdType.ID_FQDN, b""), (IdType.ID_FQDN, b"vpn\x00"), (IdType.ID_RFC822_ADDR, b""),
    (IdType.ID_RFC822_ADDR, b"a@b\r\n"), (IdType.ID_DER_ASN1_DN, b""),
])
def test_identification_data_of_the_wrong_shape_is_refused_both_ways(id_type: IdType, data: bytes) -> None:
    """IPv4 is 4 octets, IPv6 16, FQDN and RFC822 non-empty and without terminators, a DN is DER."""
    for cls in (IDi, IDr):
        err = _parse_error(cls.payload_type, struct.pack("!B3x", id_type) + data)
        assert (err.field, err.offset) == (f"{cls.__name__}.id_data", 8)
        with pytest.raises(ConfigError) as cerr:
            cls(id_type, data).encode()
        assert cerr.value.field == f"{cls.__name__}.id_data"


def test_a_malformed_dn_names_its_payload_and_the_bad_octet() -> None:
    """The DER check of ID_DER_ASN1_DN reports which payload (IDi or IDr) and the octet where DER breaks."""
    der = _dn_der()
    assert _decode(PayloadType.IDr, b"\x09\0\0\0" + der) == IDr(IdType.ID_DER_ASN1_DN, der)
    bad = der + b"\x00"  # an octet after the Name: the SEQUENCE does not fill the data
    err = _parse_error(PayloadType.IDr, b"\x09\0\0\0" + bad)
    assert (err.field, err.offset) == ("IDr.id_data", 8)
    truncated = der[:-1]  # the last value's length runs past the end: the error is at that value's TLV
    err = _parse_error(PayloadType.IDi, b"\x09\0\0\0" + truncated)
    assert err.field == "IDi.id_data" and 8 < err.offset < 8 + len(der)
    for data in (bad, truncated, b"\x30\x03abc"):
        with pytest.raises(ConfigError) as cerr:
            IDi(IdType.ID_DER_ASN1_DN, data).encode()
        assert cerr.value.field == "IDi.id_data"


@pytest.mark.parametrize("make, value", [
    (IDi.from_fqdn, 5), (IDi.from_fqdn, None), (IDi.from_fqdn, b"vpn"), (IDi.from_fqdn, "v\u00e9n"),
    (IDr.from_email, None), (IDr.from_email, "al\u00efce@example.org"), (IDi.from_key_id, "key"),
    (IDi.from_key_id, None), (IDi.from_address, "10.0.0.300"),
])
def test_identity_constructors_refuse_wrong_values_with_config_error(make, value) -> None:
    with pytest.raises(ConfigError) as err:
        make(value)
    assert err.value.field == "id_data"


# -- configuration (RFC 7296 3.15) ---------------------------------------------------------------------


def test_cp_keeps_every_attribute_in_order_with_its_value() -> None:
    """3.15.1: an empty value asks; IPv4 address 4 octets, IPv6 address 16 + prefix length; unknown types
    (here 0x1234 and the top type 0x7FFF) are kept, not dropped."""
    v6 = bytes.fromhex("20010db8000000000000000000000007") + bytes([64])
    attrs = [(1, b""), (8, v6), (0x1234, b"\xde\xad"), (3, bytes([10, 0, 0, 1])), (0x7FFF, b"x" * 300)]
    for cfg in (1, 2, 3, 4):
        body = struct.pack("!B3x", cfg) + b"".join(struct.pack("!HH", t, len(v)) + v for t, v in attrs)
        cp = _decode(PayloadType.CP, body)
        assert isinstance(cp, CP) and cp.cfg_type == cfg
        assert [(int(t), v) for t, v in cp.attributes] == attrs
        assert cp.encode() == _payload(body)


def test_cp_attribute_lengths_are_checked_against_the_payload() -> None:
    ok = struct.pack("!HH", 1, 4) + bytes(4)
    err = _parse_error(PayloadType.CP, b"\x02\0\0\0" + ok + struct.pack("!HH", 3, 5) + bytes(4))
    assert (err.field, err.offset) == ("CP.attribute[2].length", 8 + 8 + 2)
    err = _parse_error(PayloadType.CP, b"\x02\0\0\0" + ok + b"\x00\x03\x00")
    assert (err.field, err.offset) == ("CP.attribute[2].type", 8 + 8)


@pytest.mark.parametrize("attributes", [None, 5, ((1,),), ((1, b"", b""),), (7,)])
def test_cp_attributes_that_are_not_pairs_are_a_config_error(attributes) -> None:
    with pytest.raises(ConfigError) as err:
        CP(CfgType.CFG_REQUEST, attributes)
    assert err.value.field == "CP.attributes"


def test_cp_encoding_refuses_a_type_with_the_reserved_bit() -> None:
    """3.15.1: the Attribute Type is 15 bits; the top bit is RESERVED."""
    with pytest.raises(ConfigError) as err:
        CP(CfgType.CFG_SET, ((0x8001, b""),)).encode()
    assert err.value.field == "CP.attribute[1].type"


@pytest.mark.parametrize("atype, value, shown", [
    (1, bytes([10, 3, 0, 7]), "10.3.0.7"),
    (1, bytes([10, 3, 0, 7, 10, 3, 0, 8]), "0a0300070a030008"),  # INTERNAL_IP4_ADDRESS is 0 or 4 octets
    (13, bytes([10, 3, 0, 0, 255, 255, 255, 0]), "10.3.0.0 255.255.255.0"),  # address | netmask
    (8, bytes.fromhex("20010db8000000000000000000000007") + b"\x40", "2001:db8::7/64"),
    (10, bytes.fromhex("20010db8000000000000000000000053"), "2001:db8::53"),
    (10, bytes.fromhex("20010db8000000000000000000000053") + b"\x40", "20010db8000000000000000000000053" + "40"),
    (0x1234, bytes([10, 3, 0, 7]), "0a030007"),
])
def test_cp_dissection_reads_an_address_only_at_its_rfc_length(atype: int, value: bytes, shown: str) -> None:
    """RFC 7296 3.15.1 lengths: IPv4 addresses 4, IP4_SUBNET 8, IPv6 DNS 16, IPv6 address 17 octets."""
    trace: list[DumpRow] = []
    _decode(PayloadType.CP, b"\x02\0\0\0" + struct.pack("!HH", atype, len(value)) + value, trace)
    (row,) = [r for r in trace if r.path == "CP.attribute[1].value"]
    assert (row.offset, row.length, row.value) == (12, len(value), shown)


# -- properties ----------------------------------------------------------------------------------------

_ATTRS = st.lists(st.tuples(st.integers(0, 0x7FFF), st.binary(max_size=40)), max_size=6)
_BODIES = st.one_of(
    st.builds(lambda g, d: (PayloadType.KE, struct.pack("!HH", g, 0) + d),
              st.integers(0, 0xFFFF), st.binary(max_size=64)),
    st.builds(lambda m, d: (PayloadType.AUTH, struct.pack("!B3x", m) + d), st.integers(0, 255), st.binary(max_size=64)),
    st.builds(lambda e, d: (PayloadType.CERT, bytes([e]) + d), st.integers(0, 255), st.binary(max_size=64)),
    st.builds(lambda d: (PayloadType.NONCE, d), st.binary(min_size=16, max_size=256)),
    st.builds(lambda d: (PayloadType.V, d), st.binary(max_size=64)),
    st.builds(lambda d: (PayloadType.IDi, struct.pack("!B3x", 1) + d), st.binary(min_size=4, max_size=4)),
    st.builds(lambda d: (PayloadType.IDr, struct.pack("!B3x", 5) + d), st.binary(min_size=16, max_size=16)),
    st.builds(lambda d: (PayloadType.IDi, struct.pack("!B3x", 2) + d),
              st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40).map(str.encode)),
    st.builds(lambda d: (PayloadType.IDr, struct.pack("!B3x", 11) + d), st.binary(max_size=40)),
    st.builds(lambda p, s: (PayloadType.D, struct.pack("!BBH", p, 4, len(s)) + b"".join(s)),
              st.sampled_from([2, 3]), st.lists(st.binary(min_size=4, max_size=4), max_size=5)),
    st.builds(lambda c, a: (PayloadType.CP, struct.pack("!B3x", c) + b"".join(struct.pack("!HH", t, len(v)) + v
                                                                                 for t, v in a)),
              st.integers(0, 255), _ATTRS),
)


@settings(max_examples=300, deadline=None)
@given(_BODIES)
def test_valid_payloads_reencode_byte_for_byte(case: tuple[int, bytes]) -> None:
    """encode(decode(x)) == x for well-formed bodies with RESERVED zero."""
    ptype, body = case
    assert _decode(ptype, body).encode() == _payload(body)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([34, 35, 36, 37, 38, 39, 40, 42, 43, 47]), st.binary(max_size=48))
def test_arbitrary_bodies_decode_or_raise_parse_error(ptype: int, body: bytes) -> None:
    """Malformed bytes never escape as IndexError or struct.error; what decodes re-decodes the same."""
    try:
        payload = _decode(ptype, body)
    except ParseError as err:
        assert err.field.split(".")[0] in {"KE", "IDi", "IDr", "CERT", "CERTREQ", "AUTH", "NONCE", "D", "V", "CP"}
        assert 0 <= err.offset <= 4 + len(body)
        return
    except IkelabError as err:  # pragma: no cover - a typed error that is not a ParseError is a failure too
        pytest.fail(f"{type(err).__name__}: {err}")
    again = payload.encode()
    assert _decode(ptype, again[4:]) == payload


@pytest.mark.parametrize("address", [12, 2**32 - 1, b"\xc0\x00\x02\x01", None, 1.5])
def test_id_from_address_takes_text_or_an_address_object_only(address):
    """``ipaddress.ip_address(12)`` is 0.0.0.12 and of 4 bytes an IPv4 address: IDi.from_address used to pass both
    on as an ID_IPV4_ADDR identity (RFC 7296 3.5) nobody meant.  Text and ipaddress objects still work."""
    import ipaddress

    from ikelab.payloads import IDi

    with pytest.raises(ConfigError, match="is not an IP address") as info:
        IDi.from_address(address)
    assert info.value.field == "id_data"
    for good in ("192.0.2.1", ipaddress.ip_address("192.0.2.1")):
        assert IDi.from_address(good).data == bytes([192, 0, 2, 1])
