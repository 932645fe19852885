"""IKE_AUTH with X.509 certificates: RFC 7427 DIGITAL_SIGNATURE with RSA and ECDSA.

The AUTH payloads the engine produced are checked independently: the
AlgorithmIdentifier bytes against RFC 7427 Appendix A, the signature with
``cryptography`` directly over the signed octets of RFC 7296 2.15, and the
CERTREQ hash as the SHA-1 of the CA's SubjectPublicKeyInfo (RFC 7296 3.7).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from ikelab import events as ev
from ikelab.certs import ec_key_from_seed, load_private_key, make_ca, make_leaf
from ikelab.config import IkeConfig
from ikelab.constants import AuthMethod, CertEncoding, NotifyType
from ikelab.lab import Lab
from ikelab.message import decode
from ikelab.payloads import AUTH, CERT, CERTREQ
from ikelab.state import State

VECTORS = Path(__file__).parent / "vectors"
RSA_KEY = load_private_key(str(VECTORS / "rsa2048_a.pem"))
CA_KEY = ec_key_from_seed(b"ikelab test CA")
CA = make_ca("C=CH, O=ikelab, CN=Test CA", CA_KEY)
OTHER_CA_KEY = ec_key_from_seed(b"another CA")
OTHER_CA = make_ca("C=CH, O=elsewhere, CN=Other CA", OTHER_CA_KEY)

# RFC 7427 Appendix A: AlgorithmIdentifier DER encodings
ALG_ID = {
    "sha256WithRSAEncryption": bytes.fromhex("300d06092a864886f70d01010b0500"),  # A.1.2
    "ecdsa-with-sha256": bytes.fromhex("300a06082a8648ce3d040302"),  # A.3.1
}


def peer(name: str, key, ca=CA, ca_key=CA_KEY, anchors=(CA,), **kw) -> IkeConfig:
    cert = make_leaf(ca, ca_key, f"C=CH, O=ikelab, CN={name}", key, san=[f"{name}.example"])
    other = "sun" if name == "moon" else "moon"
    base = dict(local_id=f"{name}.example", remote_id=f"{other}.example", certificate=cert, private_key=key,
                trust_anchors=anchors, ike_proposals=("aes128-sha256-ecp256",), esp_proposals=("aes128gcm16",),
                cookie_threshold=None)
    base.update(kw)
    return IkeConfig(**base)


def run(ci: IkeConfig, cr: IkeConfig) -> Lab:
    lab = Lab(ci, cr, seed=4)
    lab.initiate()
    lab.run_until_idle()
    return lab


def verify_independently(public_key, auth_data: bytes, octets: bytes) -> None:
    """RFC 7427 3: AUTH data = ASN.1 length (1 octet) | AlgorithmIdentifier | signature."""
    n = auth_data[0]
    alg, signature = auth_data[1:1 + n], auth_data[1 + n:]
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        assert alg == ALG_ID["ecdsa-with-sha256"]
        public_key.verify(signature, octets, ec.ECDSA(hashes.SHA256()))
    else:
        assert alg == ALG_ID["sha256WithRSAEncryption"]
        public_key.verify(signature, octets, padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize("i_key, r_key", [
    (ec_key_from_seed(b"moon"), ec_key_from_seed(b"sun")),
    (RSA_KEY, RSA_KEY),
    (ec_key_from_seed(b"moon"), RSA_KEY),
], ids=["ecdsa-ecdsa", "rsa-rsa", "ecdsa-rsa"])
def test_certificate_authentication(i_key, r_key) -> None:
    ci, cr = peer("moon", i_key), peer("sun", r_key)
    lab = run(ci, cr)
    assert lab.initiator.state == lab.responder.state == State.ESTABLISHED
    assert lab.initiator.keys.as_dict() == lab.responder.keys.as_dict()
    for side in ("initiator", "responder"):
        (est,) = lab.events(side, ev.IkeSaEstablished)
        assert est.auth_method == est.remote_auth_method == "DIGITAL_SIGNATURE"
    msgs = [decode(p.ike_message) for p in lab.trace]
    # RFC 7427 4: both announce SIGNATURE_HASH_ALGORITHMS in IKE_SA_INIT
    assert msgs[0].notify(NotifyType.SIGNATURE_HASH_ALGORITHMS) is not None
    assert msgs[1].notify(NotifyType.SIGNATURE_HASH_ALGORITHMS) is not None
    # RFC 7296 3.7: CERTREQ = SHA-1 of the trusted CA's SubjectPublicKeyInfo
    spki = CA.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    (req,) = msgs[1].find_all(CERTREQ)
    assert req.encoding == CertEncoding.X509_CERTIFICATE_SIGNATURE and req.data == hashlib.sha1(spki).digest()
    # each AUTH verifies with cryptography directly over the signed octets the event reports
    for side, cfg in (("initiator", ci), ("responder", cr)):
        (mine,) = [a for a in lab.events(side, ev.AuthComputed) if a.verified is None]
        assert mine.method == "DIGITAL_SIGNATURE"
        verify_independently(cfg.certificate.public_key(), mine.auth, mine.octets)
        theirs = [a for a in lab.events("responder" if side == "initiator" else "initiator", ev.AuthComputed)
                  if a.signer == side]
        assert [a.verified for a in theirs] == [True] and theirs[0].auth == mine.auth


def test_cert_and_auth_payloads_on_the_wire() -> None:
    ci, cr = peer("moon", ec_key_from_seed(b"moon")), peer("sun", RSA_KEY)
    lab = run(ci, cr)
    sent = lab.events("initiator", ev.MessageSent)[1].summary
    assert sent == "HDR, SK {IDi, CERT, CERTREQ, AUTH, SAi2, TSi, TSr}"
    assert lab.events("responder", ev.MessageSent)[1].summary == "HDR, SK {IDr, CERT, AUTH, SAr2, TSi, TSr}"
    # decrypt the IKE_AUTH request with the responder's keys and look at CERT and AUTH
    data = lab.trace[2].ike_message
    msg = decode(data, crypto=lab.responder._crypto(sending=False))
    inner = msg.payloads[0].inner
    (cert,) = [p for p in inner if isinstance(p, CERT)]
    assert cert.data == ci.certificate.public_bytes(serialization.Encoding.DER)
    (auth,) = [p for p in inner if isinstance(p, AUTH)]
    assert auth.method == AuthMethod.DIGITAL_SIGNATURE


def test_untrusted_ca_fails_on_both_sides() -> None:
    ci = peer("moon", ec_key_from_seed(b"moon"))
    cr = peer("sun", ec_key_from_seed(b"sun"), anchors=(OTHER_CA,))
    lab = run(ci, cr)
    for side in ("initiator", "responder"):
        assert lab.sa(side).state == State.CLOSED
        assert "AUTHENTICATION_FAILED" in [f.notify for f in lab.events(side, ev.Failure)]


def test_a_signature_without_its_certificate_says_what_is_missing() -> None:
    """A peer that signs but sends no CERT (strongSwan with send_cert = never): ikelab has no other place to
    find the certificate, so the responder refuses AUTH and says why (RFC 7296 3.6, 2.21.2)."""
    from dataclasses import replace

    from ikelab.payloads import SK

    lab = Lab(peer("moon", ec_key_from_seed(b"moon")), peer("sun", ec_key_from_seed(b"sun")), seed=4)
    lab.initiate()
    while len(lab.trace) < 3:  # IKE_SA_INIT both ways, then the IKE_AUTH request leaves the initiator
        lab.step()
    initiator, responder = lab.initiator, lab.responder
    crypto = initiator._crypto(sending=True)
    request = decode(lab.trace[2].payload, crypto=crypto)
    inner = tuple(p for p in request.payloads[0].inner if not isinstance(p, CERT))
    stripped = replace(request, payloads=(SK(inner=inner),)).encode(crypto=crypto)  # AUTH does not cover CERT
    responder.receive(stripped, lab.now, src=("192.0.2.1", 500))
    failure = next(e for e in responder.pop_events() if isinstance(e, ev.Failure))
    assert failure.notify == "AUTHENTICATION_FAILED"
    assert "without a CERT payload: ikelab takes the peer's certificate only from the exchange" in failure.reason


def test_certificate_checked_at_the_injected_time() -> None:
    late = datetime(2040, 1, 1, tzinfo=timezone.utc)  # after NOT_AFTER of the test certificates
    ci = peer("moon", ec_key_from_seed(b"moon"))
    cr = peer("sun", ec_key_from_seed(b"sun"), epoch=late)
    lab = run(ci, cr)
    assert lab.responder.state == State.CLOSED
    (fail,) = [f for f in lab.events("responder", ev.Failure) if f.fatal]
    assert fail.notify == "AUTHENTICATION_FAILED" and "expired" in fail.reason
    ok = run(peer("moon", ec_key_from_seed(b"moon")),
             peer("sun", ec_key_from_seed(b"sun"), epoch=datetime(2030, 6, 1, tzinfo=timezone.utc)))
    assert ok.responder.state == State.ESTABLISHED


def test_initiator_rejects_a_responder_with_another_identity() -> None:
    ci = peer("moon", ec_key_from_seed(b"moon"), remote_id="mars.example")
    cr = peer("sun", ec_key_from_seed(b"sun"))
    lab = run(ci, cr)
    assert lab.initiator.state == State.CLOSED
    assert [f.notify for f in lab.events("initiator", ev.Failure) if f.fatal] == ["AUTHENTICATION_FAILED"]
    # the initiator tells the responder (RFC 7296 2.21.2), which then closes too
    assert lab.responder.state == State.CLOSED


def test_psk_peer_against_certificate_peer_fails_cleanly() -> None:
    ci = IkeConfig(local_id="moon.example", remote_id="sun.example", psk=b"a shared secret",
                   ike_proposals=("aes128-sha256-ecp256",), esp_proposals=("aes128gcm16",), cookie_threshold=None)
    cr = peer("sun", ec_key_from_seed(b"sun"))
    lab = run(ci, cr)
    assert lab.initiator.state == lab.responder.state == State.CLOSED
    assert "AUTHENTICATION_FAILED" in [f.notify for f in lab.events("responder", ev.Failure)]


# RFC 7427 Appendix A: the other SHA-2 AlgorithmIdentifiers
ALG_ID_OTHER = {
    "sha384WithRSAEncryption": bytes.fromhex("300d06092a864886f70d01010c0500"),  # A.1.3
    "sha512WithRSAEncryption": bytes.fromhex("300d06092a864886f70d01010d0500"),  # A.1.4
    "ecdsa-with-sha384": bytes.fromhex("300a06082a8648ce3d040303"),  # A.3.2
    "ecdsa-with-sha512": bytes.fromhex("300a06082a8648ce3d040304"),  # A.3.3
}


@pytest.mark.parametrize("announced, hash_name, hash_cls", [
    (b"\x00\x04", "sha512", hashes.SHA512),
    (b"\x00\x03\x00\x04", "sha384", hashes.SHA384),
], ids=["sha512-only", "sha384-sha512"])
def test_each_peer_signs_with_a_hash_the_other_announced(monkeypatch, announced, hash_name, hash_cls) -> None:
    # RFC 7427 4: SIGNATURE_HASH_ALGORITHMS lists the hashes its sender can verify; a peer that can verify
    # only SHA-384 or SHA-512 must not get SHA-256 (which ikelab used to sign with whatever was announced)
    from ikelab import auth
    monkeypatch.setattr(auth, "hash_algorithms_notify_data", lambda: announced)
    ci, cr = peer("moon", ec_key_from_seed(b"moon")), peer("sun", RSA_KEY)
    lab = run(ci, cr)
    assert lab.initiator.state == lab.responder.state == State.ESTABLISHED
    assert decode(lab.trace[0].ike_message).notify(NotifyType.SIGNATURE_HASH_ALGORITHMS).data == announced
    for side, cfg, alg_name in (("initiator", ci, f"ecdsa-with-{hash_name}"),
                                ("responder", cr, f"{hash_name}WithRSAEncryption")):
        (mine,) = [a for a in lab.events(side, ev.AuthComputed) if a.verified is None]
        n = mine.auth[0]
        assert mine.auth[1:1 + n] == ALG_ID_OTHER[alg_name]
        key, signature = cfg.certificate.public_key(), mine.auth[1 + n:]
        if side == "initiator":
            key.verify(signature, mine.octets, ec.ECDSA(hash_cls()))
        else:
            key.verify(signature, mine.octets, padding.PKCS1v15(), hash_cls())


def test_a_peer_that_announces_no_usable_hash_gets_no_signature(monkeypatch) -> None:
    # the responder lists SHA-1 only: the initiator cannot sign with a hash it may use (SHA-1 needs allow_weak)
    # and ends the IKE SA with the reason, sending no IKE_AUTH request
    from ikelab import auth
    real = auth.hash_algorithms_notify_data
    ci, cr = peer("moon", ec_key_from_seed(b"moon")), peer("sun", RSA_KEY)
    lab = Lab(ci, cr, seed=4)
    lab.initiate()
    monkeypatch.setattr(auth, "hash_algorithms_notify_data", lambda: b"\x00\x01")  # the responder's answer
    lab.run_until_idle()
    assert real() != b"\x00\x01"
    assert lab.initiator.state == State.CLOSED
    (failure,) = lab.events("initiator", ev.Failure)
    assert failure.notify == "AUTHENTICATION_FAILED" and failure.fatal
    assert "lists SHA1" in failure.reason and "allow_weak" in failure.reason and "RFC 7427 4" in failure.reason
    assert [e.exchange for e in lab.events("initiator", ev.MessageSent)] == ["IKE_SA_INIT"]
