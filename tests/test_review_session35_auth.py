"""Session 35 regressions for IKE_AUTH signatures (found by tests/interop/test_review_random_auth_vs_charon.py).

RFC 7427 3 allows method 14 (Digital Signature) "only ... if the Notify payload of type
SIGNATURE_HASH_ALGORITHMS has been sent and received by each peer".  ikelab signed with method 14 and SHA-256
when the peer had sent no such notify (charon with ``signature_authentication = no``, or any peer without RFC
7427).  It now signs with the key's own method: RFC 4754's ECDSA method of the curve, RSA_DIGITAL_SIGNATURE
(SHA-1) only with ``allow_weak``, and refuses for Ed25519, which has no other method (RFC 8420 2).

Sans-IO, in :class:`ikelab.lab.Lab`: an initiator that authenticates with a PSK and holds no trust anchor
sends no SIGNATURE_HASH_ALGORITHMS; the responder signs with its certificate's key.
"""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519

from ikelab import auth
from ikelab.certs import ec_key_from_seed
from ikelab.config import IkeConfig
from ikelab.constants import AuthMethod, NotifyType
from ikelab.errors import ConfigError, WeakAlgorithmWarning
from ikelab.events import AuthComputed, Failure, MessageSent
from ikelab.lab import Lab
from test_auth import RSA_A

PSK = b"session 35 psk"
EPOCH = datetime.datetime(2026, 6, 1, tzinfo=datetime.timezone.utc)


def _certificate(key) -> x509.Certificate:
    """A self-signed certificate for gw.example.com (its own trust anchor)."""
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "gw.example.com")])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(35).not_valid_before(EPOCH - datetime.timedelta(days=1))
               .not_valid_after(EPOCH + datetime.timedelta(days=30))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName("gw.example.com")]), critical=False))
    return builder.sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())


def _handshake(key, *, initiator_announces: bool, allow_weak: bool = False) -> Lab:
    cert = _certificate(key)
    common = dict(ike_proposals=("aes128-sha256-ecp256",), esp_proposals=("aes128-sha256",), epoch=EPOCH,
                  cookie_threshold=None)
    initiator = IkeConfig(local_id="alice@example.org", remote_id="gw.example.com", psk=PSK,
                          trust_anchors=(cert,) if initiator_announces else (), **common)
    responder = IkeConfig(local_id="gw.example.com", remote_id="alice@example.org", remote_psk=PSK, certificate=cert,
                          private_key=key, allow_weak=allow_weak, **common)
    lab = Lab(initiator, responder, seed=35)
    lab.initiate()
    lab.run_until_idle()
    return lab


def _own_auth(lab: Lab) -> list[str]:
    return [e.method for e in lab.events("responder", AuthComputed) if e.signer == "responder" and e.verified is None]


def _announced(lab: Lab) -> bool:
    """Did the initiator's IKE_SA_INIT request carry SIGNATURE_HASH_ALGORITHMS?"""
    first = next(e for e in lab.events("initiator", MessageSent))
    return f"N({NotifyType.SIGNATURE_HASH_ALGORITHMS.name})" in first.summary


@pytest.mark.parametrize("curve, method", [("secp256r1", "ECDSA_SHA256_P256"), ("secp384r1", "ECDSA_SHA384_P384"),
                                           ("secp521r1", "ECDSA_SHA512_P521")])
def test_without_the_peers_hash_list_an_ecdsa_key_signs_with_rfc_4754(curve, method):
    lab = _handshake(ec_key_from_seed("session35", curve), initiator_announces=False)
    assert not _announced(lab)
    assert _own_auth(lab) == [method]  # was DIGITAL_SIGNATURE (14) with SHA-256


def test_with_the_peers_hash_list_the_signature_is_method_14():
    lab = _handshake(ec_key_from_seed("session35"), initiator_announces=True)
    assert _announced(lab)
    assert _own_auth(lab) == ["DIGITAL_SIGNATURE"]
    assert lab.initiator.state.name == "ESTABLISHED"


def test_without_the_peers_hash_list_rsa_signs_method_1_only_with_allow_weak():
    with pytest.warns(WeakAlgorithmWarning, match="RSA_DIGITAL_SIGNATURE"):
        lab = _handshake(RSA_A, initiator_announces=False, allow_weak=True)
    assert _own_auth(lab) == ["RSA_DIGITAL_SIGNATURE"]
    lab = _handshake(RSA_A, initiator_announces=False)
    assert _own_auth(lab) == []
    failures = [e for e in lab.events("responder", Failure) if e.notify == "AUTHENTICATION_FAILED"]
    assert failures and "method 1" in failures[0].reason and "allow_weak" in failures[0].reason


def test_without_the_peers_hash_list_ed25519_cannot_sign():
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    lab = _handshake(key, initiator_announces=False)
    assert _own_auth(lab) == []
    failures = [e for e in lab.events("responder", Failure) if e.notify == "AUTHENTICATION_FAILED"]
    assert failures and "RFC 7427 3" in failures[0].reason
    # and the initiator hears AUTHENTICATION_FAILED, not a signature it could not have asked for
    assert any(e.notify == "AUTHENTICATION_FAILED" for e in lab.events("initiator", Failure))


@pytest.mark.parametrize("key, method", [
    (RSA_A, AuthMethod.RSA_DIGITAL_SIGNATURE),
    (ec_key_from_seed("a", "secp256r1"), AuthMethod.ECDSA_SHA256_P256),
    (ec_key_from_seed("b", "secp384r1"), AuthMethod.ECDSA_SHA384_P384),
    (ec_key_from_seed("c", "secp521r1"), AuthMethod.ECDSA_SHA512_P521),
], ids=["rsa", "p256", "p384", "p521"])
def test_legacy_method_of_each_key(key, method):
    assert auth.legacy_method(key) == method


def test_legacy_method_refuses_keys_without_one():
    with pytest.raises(ConfigError, match="RFC 7427 3"):
        auth.legacy_method(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32)))
    with pytest.raises(ConfigError, match="secp256k1"):
        auth.legacy_method(ec_key_from_seed("k", "secp256k1"))
