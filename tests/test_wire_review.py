"""Edges of the IKEv2 wire codec (RFC 7296 3) that a mutation review found untested.

Each test pins a boundary, a flag bit, or the field name and offset of a
typed error that a user relies on: the expected values come from the byte
layouts of RFC 7296 section 3 (and RFC 7383 2.5 for SKF), not from ikelab.
"""

from __future__ import annotations

import pytest

from ikewire_samples import SPI_I, SPI_R, suite_crypto
from ikelab.constants import AuthMethod, CertEncoding, ExchangeType, PayloadType, ProtocolId
from ikelab.errors import ConfigError, ParseError
from ikelab.message import Message, decode, decode_header
from ikelab.payloads import AUTH, CERT, SKF, Delete, Nonce, UnknownPayload
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
