"""Sample IKEv2 messages and SK cipher suites shared by the wire-format tests.

Not a test file: ``test_message*.py``, ``test_sk.py`` and ``test_wire_tshark.py``
import it.  Values here are inputs, never expected outputs.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import pathlib
import warnings

from ikelab.constants import (
    AuthMethod,
    CertEncoding,
    CfgAttribute,
    CfgType,
    ExchangeType,
    HashAlgorithm,
    IdType,
    NotifyType,
    ProtocolId,
)
from ikelab.message import Message
from ikelab.payloads import (
    AUTH,
    CERT,
    CERTREQ,
    CP,
    EAP,
    KE,
    SA,
    SK,
    Delete,
    IDi,
    IDr,
    Nonce,
    Notify,
    Proposal,
    TrafficSelector,
    Transform,
    TSi,
    TSr,
    UnknownPayload,
    VendorId,
)
from ikelab.rand import DeterministicRandom
from ikelab.sk import SkCrypto

VECTORS = json.loads((pathlib.Path(__file__).parent / "vectors" / "ikev2_messages.json").read_text())

SPI_I = bytes.fromhex("0011223344556677")
SPI_R = bytes.fromhex("8899aabbccddeeff")


class FixedRandom:
    """A random source that returns given byte strings in turn (to reproduce published IVs)."""

    def __init__(self, *values: bytes) -> None:
        self.values = list(values)

    def random_bytes(self, n: int) -> bytes:
        value = self.values.pop(0)
        assert len(value) == n, (len(value), n)
        return value

    def randbelow(self, n: int) -> int:  # pragma: no cover - not used
        raise NotImplementedError


def ike_sa_init_request() -> Message:
    sa = SA.from_proposals(
        [
            Proposal.ike(Transform.encr("ENCR_AES_GCM_16", 256), Transform.prf("PRF_HMAC_SHA2_256"), Transform.dh("CURVE25519")),
            Proposal.ike(
                Transform.encr("ENCR_AES_CBC", 128),
                Transform.encr("ENCR_AES_CBC", 256),
                Transform.prf("PRF_HMAC_SHA2_384"),
                Transform.integ("AUTH_HMAC_SHA2_256_128"),
                Transform.dh("MODP_2048"),
                Transform.dh("ECP_256"),
            ),
        ]
    )
    return Message(
        SPI_I,
        bytes(8),
        ExchangeType.IKE_SA_INIT,
        True,
        False,
        0,
        (
            sa,
            KE("CURVE25519", bytes(range(32))),
            Nonce(bytes(range(100, 132))),
            Notify.make_nat_detection_source_ip(SPI_I, bytes(8), "192.0.2.1", 500),
            Notify.make_nat_detection_destination_ip(SPI_I, bytes(8), "192.0.2.2", 500),
            Notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED),
            Notify.make_signature_hash_algorithms([HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_384, HashAlgorithm.SHA2_512]),
            VendorId(b"ikelab test vendor"),
        ),
    )


def ike_sa_init_response() -> Message:
    sa = SA((Proposal(2, ProtocolId.IKE, b"", (Transform.encr("ENCR_AES_CBC", 256), Transform.prf("PRF_HMAC_SHA2_384"), Transform.integ("AUTH_HMAC_SHA2_256_128"), Transform.dh("ECP_256"))),))
    return Message(
        SPI_I,
        SPI_R,
        ExchangeType.IKE_SA_INIT,
        False,
        True,
        0,
        (sa, KE("ECP_256", bytes(range(64))), Nonce(bytes(48)), CERTREQ(CertEncoding.X509_CERTIFICATE_SIGNATURE, bytes(range(40))), Notify(NotifyType.MULTIPLE_AUTH_SUPPORTED)),
    )


def cookie_response() -> Message:
    return Message(SPI_I, bytes(8), ExchangeType.IKE_SA_INIT, False, True, 0, (Notify.make_cookie(bytes(range(1, 33))),))


def invalid_ke_response() -> Message:
    return Message(SPI_I, bytes(8), ExchangeType.IKE_SA_INIT, False, True, 0, (Notify.make_invalid_ke_payload("ECP_384"),))


@functools.lru_cache(maxsize=None)
def certificate_der() -> bytes:
    """A small self-signed Ed25519 certificate; Ed25519 signatures are deterministic, so are these bytes."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.x509.oid import NameOID

    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice.example")])
    when = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(when)
        .not_valid_after(when + datetime.timedelta(days=3650))
        .sign(key, None)
    )
    return cert.public_bytes(serialization.Encoding.DER)


def ike_auth_inner() -> tuple:
    """IKE_AUTH request content: every payload kind that travels inside SK."""
    esp = Proposal.esp(bytes.fromhex("c0ffee01"), Transform.encr("ENCR_AES_GCM_16", 128), Transform.esn(False))
    return (
        IDi.from_fqdn("alice.example"),
        CERT(CertEncoding.X509_CERTIFICATE_SIGNATURE, certificate_der()),
        CERTREQ(CertEncoding.X509_CERTIFICATE_SIGNATURE, bytes(20)),
        Notify(NotifyType.INITIAL_CONTACT),
        IDr.from_address("192.0.2.2"),
        AUTH(AuthMethod.SHARED_KEY_MIC, bytes(range(32))),
        CP.request(CfgAttribute.INTERNAL_IP4_ADDRESS, CfgAttribute.INTERNAL_IP4_DNS, CfgAttribute.INTERNAL_IP6_ADDRESS),
        SA((esp,)),
        TSi((TrafficSelector.from_network("10.1.0.0/16"), TrafficSelector.from_network("2001:db8:1::/48", ip_protocol=6, ports=(443, 443)))),
        TSr((TrafficSelector.from_range("10.2.0.1", "10.2.0.77", ip_protocol=17, ports=(500, 4500)),)),
        Notify(NotifyType.USE_TRANSPORT_MODE),
    )


def ike_auth_request(inner: tuple | None = None, message_id: int = 1) -> Message:
    return Message(SPI_I, SPI_R, ExchangeType.IKE_AUTH, True, False, message_id, (SK(inner=ike_auth_inner() if inner is None else inner),))


def informational_response() -> Message:
    inner = (Delete(ProtocolId.ESP, (bytes.fromhex("c0ffee01"), bytes.fromhex("c0ffee02"))), Delete(ProtocolId.IKE))
    return Message(SPI_I, SPI_R, ExchangeType.INFORMATIONAL, False, True, 7, (SK(inner=inner),))


def create_child_request() -> Message:
    esp = Proposal.esp(bytes.fromhex("0badcafe"), Transform.encr("ENCR_AES_CBC", 128), Transform.integ("AUTH_HMAC_SHA2_256_128"), Transform.dh("ECP_256"), Transform.esn(True))
    inner = (
        Notify.make_rekey_sa(bytes.fromhex("c0ffee01")),
        SA((esp,)),
        Nonce(bytes(range(32))),
        KE("ECP_256", bytes(64)),
        TSi((TrafficSelector.any_ipv4(),)),
        TSr((TrafficSelector.any_ipv6(),)),
    )
    return Message(SPI_I, SPI_R, ExchangeType.CREATE_CHILD_SA, False, False, 3, (SK(inner=inner),))


def cleartext_everything() -> Message:
    """Every decodable payload type in the clear (Wireshark dissects them outside SK too)."""
    return Message(
        SPI_I,
        SPI_R,
        ExchangeType.IKE_AUTH,
        True,
        False,
        1,
        ike_auth_inner()
        + (
            Delete(ProtocolId.ESP, (bytes.fromhex("c0ffee01"),)),
            EAP(bytes.fromhex("0201001201") + b"alice.example"),  # EAP Response/Identity (RFC 3748 5.1)
            CP(CfgType.CFG_REPLY, ((CfgAttribute.INTERNAL_IP4_ADDRESS, ipaddress.IPv4Address("10.9.0.7").packed), (CfgAttribute.INTERNAL_IP4_DNS, bytes([10, 9, 0, 1])))),
            IDi(IdType.ID_KEY_ID, b"\x01\x02key"),
            UnknownPayload(200, b"opaque"),
        ),
    )


# (name, encryption alg, key bits, integrity alg) for every SK transform combination.
SUITES = [
    ("aes-cbc-128/hmac-sha1-96", "ENCR_AES_CBC", 128, "AUTH_HMAC_SHA1_96"),
    ("aes-cbc-128/hmac-sha2-256-128", "ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128"),
    ("aes-cbc-192/hmac-sha2-384-192", "ENCR_AES_CBC", 192, "AUTH_HMAC_SHA2_384_192"),
    ("aes-cbc-256/hmac-sha2-512-256", "ENCR_AES_CBC", 256, "AUTH_HMAC_SHA2_512_256"),
    ("aes-cbc-128/aes-xcbc-96", "ENCR_AES_CBC", 128, "AUTH_AES_XCBC_96"),
    ("aes-cbc-256/aes-cmac-96", "ENCR_AES_CBC", 256, "AUTH_AES_CMAC_96"),
    ("aes-ctr-128/hmac-sha2-256-128", "ENCR_AES_CTR", 128, "AUTH_HMAC_SHA2_256_128"),
    ("aes-ctr-256/hmac-sha2-512-256", "ENCR_AES_CTR", 256, "AUTH_HMAC_SHA2_512_256"),
    ("aes-gcm-8-128", "ENCR_AES_GCM_8", 128, None),
    ("aes-gcm-12-192", "ENCR_AES_GCM_12", 192, None),
    ("aes-gcm-16-256", "ENCR_AES_GCM_16", 256, None),
    ("aes-ccm-8-128", "ENCR_AES_CCM_8", 128, None),
    ("aes-ccm-12-192", "ENCR_AES_CCM_12", 192, None),
    ("aes-ccm-16-256", "ENCR_AES_CCM_16", 256, None),
    ("chacha20-poly1305", "ENCR_CHACHA20_POLY1305", None, None),
]


def suite_crypto(encr: str, bits: int | None, integ: str | None, seed: str = "suite", *, allow_weak: bool = False) -> SkCrypto:
    """An SkCrypto with deterministic keys and IVs for one suite."""
    from ikelab.transforms import encryption, integrity

    rng = DeterministicRandom(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e = encryption(encr, bits, allow_weak=allow_weak)
        i = integrity(integ, allow_weak=allow_weak) if integ else None
    return SkCrypto(e, i, rng.random_bytes(e.key_len), rng.random_bytes(i.key_len) if i else b"", rng)


def all_sample_messages() -> list[Message]:
    """Unprotected sample messages plus protected ones (SK inner form)."""
    return [
        ike_sa_init_request(),
        ike_sa_init_response(),
        cookie_response(),
        invalid_ke_response(),
        cleartext_everything(),
        ike_auth_request(),
        informational_response(),
        create_child_request(),
    ]
