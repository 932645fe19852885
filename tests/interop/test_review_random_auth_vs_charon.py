"""IKE_AUTH configurations drawn at random, ikelab against strongSwan's charon (RFC 7296 2.15, RFC 7427, RFC 4754).

What the draw covers (``random.Random(SEED)``: the same cases every run; ``IKELAB_RANDOM_SEED`` draws others):
each case picks the role ikelab plays, how each peer authenticates itself (a pre-shared key, or a certificate
with an RSA-2048/3072, ECDSA P-256/P-384/P-521, Ed25519 or, on charon's side, Ed448 key; one side PSK and the
other a certificate is allowed, RFC 7296 2.15), the identity type each peer sends (FQDN, RFC822, DN, IPv4,
KEY_ID, all in the certificate's subject or subjectAltName, RFC 4945 3.1) and whether one is wrong (a
verifier that expects another identity, or ikelab sending one its certificate does not hold), charon's
``signature_authentication`` (RFC 7427 on or off) and ``rsa_pss``, a constraint on the hash of ikelab's
signature (``auth = ike:pubkey-shaNNN``; as initiator charon then announces only that hash), charon's
``send_cert`` (always, ifasked, never) and ``send_certreq``, and an intermediate CA under either certificate.

The model (:func:`predict`, written here from the RFCs, not from either implementation's code) says, for each
side, what it announces in SIGNATURE_HASH_ALGORITHMS, which AUTH method and signature scheme it must sign with,
and whether the other accepts it; hence whether the IKE SA comes up or which side refuses:

* RFC 7427 3: method 14 only "if the Notify payload of type SIGNATURE_HASH_ALGORITHMS has been sent and
  received by each peer"; 4: "a peer MUST pick one algorithm sent by the other peer".  Otherwise a signer uses
  its key's own method: 1 for RSA (RFC 7296 3.8, SHA-1), 9/10/11 for ECDSA P-256/P-384/P-521 (RFC 4754);
  Ed25519 and Ed448 have none (RFC 8420 2), so that signer cannot authenticate itself;
* the verifier needs the signer's certificate (RFC 7296 3.6: ikelab takes it only from CERT payloads), a path
  to its trust anchor, the identity in the certificate (RFC 4945 3.1) and the identity it expects (3.5);
* each side's own, documented policy: ikelab signs with the first of SHA-256/384/512 the peer listed, refuses
  method 1 (SHA-1) without ``allow_weak`` and does not implement Ed448 (optional in RFC 8420); charon signs
  with the hash strongSwan ties to the key size, takes RSASSA-PSS with ``rsa_pss``, holds ikelab's hash to its
  constraint, and as responder announces every hash it has, its connection (and constraint) being known only
  in IKE_AUTH.

Each case then runs (charon in its own namespace, ikelab through its NetDriver in the other) and is compared
with the model: established on both ends or refused by the side the model names (AUTHENTICATION_FAILED);
the AUTH method, the AlgorithmIdentifier (its OID read here from the DER) and the announced hash lists as
tshark dissects ikelab's capture decrypted with ikelab's keys; charon's own log lines naming the scheme it
signed and verified with; and, when established, ikelab's keys equal to those charon logged.

Found: ikelab signed with method 14 (SHA-256) when the peer had sent no SIGNATURE_HASH_ALGORITHMS (charon
with ``signature_authentication = no``), which RFC 7427 3 does not allow; it now signs with RFC 4754's method
for an ECDSA key, with method 1 for RSA only under ``allow_weak``, and refuses for Ed25519
(tests/test_review_session35_auth.py).  charon 5.9.8 accepted those method-14 signatures anyway (it checks
any method it knows), which the RFC leaves to the verifier.  A charon departure, kept as a row of the model
(:func:`predict`): with a KEY_ID identity and ``send_cert = ifasked`` charon 5.9.8 sends its certificate without
the intermediate CA that signed it ("sending end entity cert" and no "sending issuer cert" in its log), although
RFC 7296 3.6 wants the certificates the peer needs; ikelab, which takes certificates only from the exchange,
then cannot build the path and refuses.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import random
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from interop.capture import read_fields
from interop.charon import render_conf
from interop.ikelab_peer import answering_charon, check_keys_against_charon, one_handshake
from interop.swanctl import connection

pytestmark = [pytest.mark.strongswan, pytest.mark.usefixtures("tshark_env")]

SEED = int(os.environ.get("IKELAB_RANDOM_SEED", "20261202"))
N_CASES = int(os.environ.get("IKELAB_RANDOM_CASES", "20"))

IKELAB_KEYS = ("rsa2048", "rsa3072", "p256", "p384", "p521", "ed25519")
CHARON_KEYS = IKELAB_KEYS + ("ed448",)
ID_TYPES = ("fqdn", "rfc822", "dn", "ipv4", "keyid")
MISMATCHES = ("charon-expects-other", "ikelab-expects-other", "ikelab-id-not-in-cert")
HASHES = {"sha256": 2, "sha384": 3, "sha512": 4}  # RFC 7427 4, IANA Hash Algorithm Identifiers
IDENTITY = 5
PSK = "ikelab-random-auth-psk"
PROPOSAL, ESP = "aes128-sha256-ecp256", "aes128-sha256"


@dataclass(frozen=True)
class Case:
    n: int
    role: str  # "ikelab-initiator" or "ikelab-responder"
    ikelab_key: str | None  # None: ikelab authenticates itself with the PSK
    charon_key: str | None
    ikelab_id: str  # identity types (ID_TYPES)
    charon_id: str
    mismatch: str | None
    sig_auth: bool  # charon's signature_authentication (RFC 7427)
    rsa_pss: bool
    constraint: str | None  # charon's ike:pubkey-<hash> for ikelab's signature
    send_cert: str
    send_certreq: bool
    ikelab_chain: bool  # an intermediate CA signed ikelab's certificate
    charon_chain: bool

    def __str__(self) -> str:
        return (f"case {self.n} (seed {SEED}): {self.role}, ikelab {self.ikelab_key or 'psk'} id {self.ikelab_id}"
                f"{' +intermediate' if self.ikelab_chain else ''}, charon {self.charon_key or 'psk'} id "
                f"{self.charon_id}{' +intermediate' if self.charon_chain else ''}, mismatch {self.mismatch}, "
                f"signature_authentication {self.sig_auth}, rsa_pss {self.rsa_pss}, constraint {self.constraint}, "
                f"send_cert {self.send_cert}, send_certreq {self.send_certreq}")


def draw_cases(seed: int = SEED, n: int = N_CASES) -> list[Case]:
    """``n`` cases, the same for the same seed; every value of every dimension turns up in the default draw."""
    rng = random.Random(seed)
    cases = []
    # each key type from a shuffled deck (four of each), so that every one turns up
    decks = {pool: rng.sample(pool * 4, len(pool) * 4) for pool in (IKELAB_KEYS, CHARON_KEYS)}
    constrained = 0
    for i in range(n):
        auth = rng.choice(["cert-cert", "cert-cert", "cert-cert", "psk-cert", "cert-psk"])
        ikelab_key = decks[IKELAB_KEYS].pop() if auth.startswith("cert") else None
        charon_key = decks[CHARON_KEYS].pop() if auth.endswith("cert") else None
        mismatch = None
        if i % 5 == 1:  # every fifth case an identity is wrong, each kind in turn
            mismatch = MISMATCHES[(i // 5) % len(MISMATCHES)]
            if mismatch == "ikelab-id-not-in-cert" and not ikelab_key:
                mismatch = "charon-expects-other"
        cases.append(Case(
            n=i, role=("ikelab-initiator", "ikelab-responder")[i % 2], ikelab_key=ikelab_key, charon_key=charon_key,
            ikelab_id=rng.choice(ID_TYPES), charon_id=rng.choice(ID_TYPES), mismatch=mismatch,
            sig_auth=rng.random() < 0.8, rsa_pss=rng.random() < 0.4,
            constraint=None,
            send_cert=rng.choice(["always", "always", "always", "ifasked", "ifasked", "never"]) if charon_key else "always",
            send_certreq=rng.random() < 0.7, ikelab_chain=bool(ikelab_key) and rng.random() < 0.3,
            charon_chain=bool(charon_key) and rng.random() < 0.3))
        if ikelab_key and cases[-1].sig_auth:  # a constraint on the hash of ikelab's method-14 signature, in turn
            constrained += 1
            cases[-1] = replace(cases[-1], constraint=(None, *HASHES)[constrained % 4])
    return cases


CASES = draw_cases()

# ---------------------------------------------------------------------------------------------------------------
# Identities and certificates

NAMES = {"ikelab": "alice", "charon": "gw"}


def identity(side: str, id_type: str, addr: str, ski: bytes | None, *, other: bool = False) -> str:
    """The identity text (strongSwan's syntax, which ikelab reads the same way) of ``side`` (RFC 7296 3.5);
    ``other``: one of the same type that neither certificate holds."""
    name = "mallory" if other else NAMES[side]
    if id_type == "fqdn":
        return f"@{name}.example.com"
    if id_type == "rfc822":
        return f"{name}@example.org"
    if id_type == "dn":
        return f"O=ikelab, CN={name}.example.com"
    if id_type == "ipv4":
        return "192.0.2.99" if other else addr
    return "@#" + (bytes(range(1, 21)).hex() if other or ski is None else ski.hex())


@lru_cache(maxsize=None)
def private_key(kind: str, slot: int = 0) -> Any:
    """A key of ``kind`` (generated once per run: RSA-3072 takes a while)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    if kind.startswith("p"):
        return ec.generate_private_key({"p256": ec.SECP256R1(), "p384": ec.SECP384R1(), "p521": ec.SECP521R1()}[kind])
    return ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else ed448.Ed448PrivateKey.generate()


@lru_cache(maxsize=1)
def authorities() -> tuple[Any, ...]:
    """(root name, root key, root cert, intermediate name, intermediate key, intermediate cert): ECDSA P-256."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    out: list[Any] = []
    issuer = None
    for cn, slot in (("ikelab auth review CA", 1), ("ikelab auth review intermediate CA", 2)):
        key = private_key("p256", slot)
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ikelab"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        issuer_name, issuer_key = (name, key) if issuer is None else issuer
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(issuer_key, hashes.SHA256()))
        out += [name, key, cert]
        issuer = (name, key)
    return tuple(out)


def end_entity(side: str, kind: str, addr: str, chain: bool) -> tuple[bytes, bytes, bytes | None, bytes]:
    """``side``'s certificate (PEM), its key (PKCS#8 PEM), the intermediate (PEM) if it signed it, and the SKI.

    The subject is ``O=ikelab, CN=<name>.example.com``; subjectAltName holds the FQDN, the RFC822 name and the
    IKE address, so that every identity type of :func:`identity` is in it (RFC 4945 3.1)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    root_name, root_key, _, im_name, im_key, im_cert = authorities()
    issuer_name, issuer_key = (im_name, im_key) if chain else (root_name, root_key)
    key = private_key(kind)
    name = NAMES[side]
    now = datetime.datetime.now(datetime.timezone.utc)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ikelab"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, f"{name}.example.com")]))
            .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName(f"{name}.example.com"), x509.RFC822Name(f"{name}@example.org"),
                x509.IPAddress(ipaddress.ip_address(addr))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
            .sign(issuer_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(pem), key_pem, im_cert.public_bytes(pem) if chain else None, ski.digest


# ---------------------------------------------------------------------------------------------------------------
# The independent model (RFC 7427 3 and 4, RFC 4754, RFC 7296 2.15, 3.5, 3.6, RFC 4945 3.1)

ALL_HASHES = frozenset({2, 3, 4, 5})  # what charon 5.9.8 announces: SHA-2 256/384/512, Identity
IKELAB_HASHES = frozenset({2, 3, 4, 5})  # ikelab: the SHA-2 hashes and Identity (RFC 8420 2)
LEGACY = {"rsa2048": 1, "rsa3072": 1, "p256": 9, "p384": 10, "p521": 11}  # RFC 7296 3.8, RFC 4754 3
CURVE_HASH = {"p256": 2, "p384": 3, "p521": 4}


def charon_scheme(key: str, peer_list: frozenset[int], rsa_pss: bool) -> str | None:
    """The scheme charon signs with under method 14: strongSwan's key-size order (RSA <= 3072 and P-256:
    SHA-256, P-384: SHA-384, P-521: SHA-512; EdDSA: the message itself), the first the peer listed."""
    if key in ("ed25519", "ed448"):
        return key if IDENTITY in peer_list else None
    if key.startswith("rsa"):
        for h in (2, 3, 4):
            if h in peer_list:
                return f"{'rsa-pss' if rsa_pss else 'rsa'}-{h}"
        return None
    first = CURVE_HASH[key]
    for h in (first, *[x for x in (2, 3, 4) if x > first]):
        if h in peer_list:
            return f"ecdsa-{h}"
    return None


def ikelab_scheme(key: str, peer_list: frozenset[int]) -> str | None:
    """ikelab under method 14: the first of SHA-256/384/512 the peer listed; Ed25519 needs Identity."""
    if key == "ed25519":
        return "ed25519" if IDENTITY in peer_list else None
    family = "rsa" if key.startswith("rsa") else "ecdsa"
    return next((f"{family}-{h}" for h in (2, 3, 4) if h in peer_list), None)


@dataclass(frozen=True)
class Prediction:
    announced: dict  # side -> frozenset of hash IDs, or None (no SIGNATURE_HASH_ALGORITHMS)
    auth: dict  # side -> (AUTH method, scheme or None) it signs with; absent: it never sends AUTH
    refuser: str | None  # None: established on both ends
    why: str


def predict(case: Case) -> Prediction:
    """What the RFCs (and each side's documented policy) say happens in ``case``; see the module docstring."""
    certs_ikelab = bool(case.ikelab_key or case.charon_key)  # ikelab announces whenever certificates are in play
    ann: dict[str, Any] = {"ikelab": IKELAB_HASHES if certs_ikelab else None}
    if not case.sig_auth:
        ann["charon"] = None
    elif case.role == "ikelab-responder" and case.constraint:
        ann["charon"] = frozenset({HASHES[case.constraint]})  # charon initiating knows its connection
    else:
        ann["charon"] = ALL_HASHES
    both = ann["ikelab"] is not None and ann["charon"] is not None  # RFC 7427 3
    charon_uses_peer_list = case.sig_auth

    def signs(side: str) -> tuple[int, str | None] | None:
        key = case.ikelab_key if side == "ikelab" else case.charon_key
        if key is None:
            return (2, None)  # SHARED_KEY_MIC
        other = ann["charon" if side == "ikelab" else "ikelab"]
        if both and (side == "ikelab" or charon_uses_peer_list):
            scheme = ikelab_scheme(key, other) if side == "ikelab" else charon_scheme(key, other, case.rsa_pss)
            return None if scheme is None else (14, scheme)
        if key in LEGACY and (side == "charon" or not key.startswith("rsa")):
            return (LEGACY[key], None)  # ikelab signs method 1 (SHA-1) only with allow_weak
        return None  # EdDSA has no method but 14 (RFC 8420 2); ikelab will not sign SHA-1

    def accepts(verifier: str, signed: tuple[int, str | None]) -> str | None:
        """Why ``verifier`` refuses the other's AUTH, or None."""
        signer_key = case.charon_key if verifier == "ikelab" else case.ikelab_key
        if verifier == "ikelab":
            if case.mismatch == "ikelab-expects-other":
                return "not the identity ikelab expects (RFC 7296 3.5)"
            if signer_key is None:
                return None
            if case.send_cert == "never":
                return "no CERT payload: ikelab takes the peer's certificate only from the exchange (RFC 7296 3.6)"
            if signed[0] == 1:
                return "method 1 signs SHA-1: ikelab needs allow_weak (RFC 8247)"
            if case.charon_chain and case.charon_id == "keyid" and case.send_cert != "always":
                # found here: charon (5.9.8) finding its key by a KEY_ID identity sends its certificate without the
                # intermediate CA unless send_cert = always, although RFC 7296 3.6 wants what the peer needs
                return "charon sent no intermediate CA: ikelab cannot build the path (RFC 7296 3.6)"
            if signer_key == "ed448":
                return "ikelab does not implement Ed448 (optional in RFC 8420)"
            return None
        if case.mismatch == "charon-expects-other":
            return "not the identity charon expects (RFC 7296 3.5)"
        if case.mismatch == "ikelab-id-not-in-cert":
            return "the identity is not in ikelab's certificate (RFC 4945 3.1)"
        if signer_key and case.constraint and not str(signed[1]).endswith(f"-{HASHES[case.constraint]}"):
            return f"charon's constraint asks for {case.constraint}"
        return None

    order = ("ikelab", "charon") if case.role == "ikelab-initiator" else ("charon", "ikelab")
    auth: dict[str, Any] = {}
    initiator, responder = order
    first = signs(initiator)
    if first is None:
        return Prediction(ann, auth, initiator, f"the initiator ({initiator}) has no method to sign with")
    auth[initiator] = first
    why = accepts(responder, first)
    if why:
        return Prediction(ann, auth, responder, why)
    second = signs(responder)
    if second is None:
        return Prediction(ann, auth, responder, f"the responder ({responder}) has no method to sign with")
    auth[responder] = second
    why = accepts(initiator, second)
    return Prediction(ann, auth, initiator if why else None, why or "established")


# ---------------------------------------------------------------------------------------------------------------
# ikelab's side, run in a namespace (module level: Namespace.call pickles it)


def ikelab_peer(settings: dict, peer: str | None, local: str, out: str, lie_about_id: str | None,
                ready: str | None = None) -> dict:
    """ikelab with ``settings`` (IkeConfig keywords; PEM bytes for certificates and keys): initiates towards
    ``peer`` or (``peer`` None) answers one handshake.  Writes its key tables and capture into ``out``; returns
    what its events say."""
    from ikelab.config import IkeConfig
    from ikelab.events import AuthComputed, ChildSaCreated, Failure, IkeSaEstablished

    config = IkeConfig(**settings)
    if lie_about_id:  # a peer that claims an identity its certificate does not hold (IkeConfig refuses it)
        object.__setattr__(config, "local_id", lie_about_id)

    def ended(events: list) -> bool:
        return any(isinstance(e, ChildSaCreated) or isinstance(e, Failure) and e.fatal for e in events)

    def refused(events: list) -> bool:  # an initiator that refuses our IKE_AUTH response says so (RFC 7296 2.21.2)
        return any(isinstance(e, Failure) for e in events)

    events = one_handshake(config, local, peer, ready=ready, out=Path(out), wait=10.0, ended=ended,
                           settled=refused, settle=0.6)
    return {"established": any(isinstance(e, IkeSaEstablished) for e in events),
            "failures": [(e.notify, e.reason) for e in events if isinstance(e, Failure)],
            "auth": [(e.signer, e.method, e.verified) for e in events if isinstance(e, AuthComputed)]}


# ---------------------------------------------------------------------------------------------------------------
# Running a case


def _run(net: Any, factory: Any, tmp: Path, case: Case) -> tuple[dict, Any, Prediction]:
    ikelab_ns, charon_ns = (net.a, net.b) if case.role == "ikelab-initiator" else (net.b, net.a)
    ik = end_entity("ikelab", case.ikelab_key, ikelab_ns.addr4, case.ikelab_chain) if case.ikelab_key else None
    ch = end_entity("charon", case.charon_key, charon_ns.addr4, case.charon_chain) if case.charon_key else None
    ik_id = identity("ikelab", case.ikelab_id, ikelab_ns.addr4, ik[3] if ik else None)
    ch_id = identity("charon", case.charon_id, charon_ns.addr4, ch[3] if ch else None)
    wrong_ik = identity("ikelab", case.ikelab_id, ikelab_ns.addr4, None, other=True)
    # charon: which identity it expects of ikelab, and what ikelab expects of charon
    charon_expects = wrong_ik if case.mismatch in ("charon-expects-other", "ikelab-id-not-in-cert") else ik_id
    ikelab_expects = identity("charon", case.charon_id, charon_ns.addr4, None, other=True) \
        if case.mismatch == "ikelab-expects-other" else ch_id
    remote_auth = "psk" if not case.ikelab_key else f"ike:pubkey-{case.constraint}" if case.constraint else "pubkey"
    local = {"auth": "pubkey" if case.charon_key else "psk", "id": ch_id}
    if case.charon_key:
        local["certs"] = "peer.pem"
    conn = connection(local_addrs=charon_ns.addr4, remote_addrs=ikelab_ns.addr4, local=local,
                      remote={"auth": remote_auth, "id": charon_expects}, local_ts=f"{charon_ns.inner}/32",
                      remote_ts=f"{ikelab_ns.inner}/32", proposals=PROPOSAL, esp_proposals=ESP,
                      extra={"send_cert": case.send_cert, "send_certreq": case.send_certreq})
    tree: dict[str, Any] = {"connections": {"lab": conn}}
    if not (case.ikelab_key and case.charon_key):
        tree["secrets"] = {"ike-lab": {"id-1": ch_id, "id-2": charon_expects, "secret": f'"{PSK}"'}}
    conf = {"signature_authentication": case.sig_auth, "rsa_pss": case.rsa_pss}
    charon = factory(charon_ns, "charon", start=False, conf=conf, swanctl_conf=render_conf(tree) + "\n")
    charon.write_files()
    swanctl = charon.swanctl_dir
    (swanctl / "x509ca" / "ca.pem").write_bytes(authorities()[2].public_bytes(_pem()))
    if ch:
        (swanctl / "x509" / "peer.pem").write_bytes(ch[0])
        (swanctl / "private" / "peer.pem").write_bytes(ch[1])
        if ch[2]:
            (swanctl / "x509" / "intermediate.pem").write_bytes(ch[2])
    charon.start()
    charon.load_all()

    settings: dict[str, Any] = dict(
        local_id=ik_id, remote_id=ikelab_expects, ike_proposals=(PROPOSAL,), esp_proposals=(ESP,),
        local_ts=(f"{ikelab_ns.inner}/32",), remote_ts=(f"{charon_ns.inner}/32",), cookie_threshold=None,
        retransmit_timeout=1.0, retransmit_tries=2, epoch=datetime.datetime.now(datetime.timezone.utc))
    if ik:
        settings.update(certificate=ik[0], private_key=ik[1], intermediates=(ik[2],) if ik[2] else ())
    else:
        settings["psk"] = PSK.encode()
    if ch:
        settings["trust_anchors"] = (authorities()[2].public_bytes(_pem()),)
    elif ik:
        settings["remote_psk"] = PSK.encode()
    lie = wrong_ik if case.mismatch == "ikelab-id-not-in-cert" else None
    out = tmp / "ikelab"
    out.mkdir()
    if case.role == "ikelab-initiator":
        mine = ikelab_ns.call(ikelab_peer, settings, charon_ns.addr4, ikelab_ns.addr4, str(out), lie, _timeout=40)
    else:
        mine = answering_charon(charon, ikelab_ns, ikelab_peer, settings, None, ikelab_ns.addr4, str(out), lie,
                                ready=tmp / "ready", timeout=40)
    return mine, charon, predict(case)


def _pem() -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.PEM


# ---------------------------------------------------------------------------------------------------------------
# Reading the wire: tshark's fields, and the AlgorithmIdentifier's OID read from its DER here

OIDS = {"1.2.840.113549.1.1.11": "rsa-2", "1.2.840.113549.1.1.12": "rsa-3", "1.2.840.113549.1.1.13": "rsa-4",
        "1.2.840.10045.4.3.2": "ecdsa-2", "1.2.840.10045.4.3.3": "ecdsa-3", "1.2.840.10045.4.3.4": "ecdsa-4",
        "1.3.101.112": "ed25519", "1.3.101.113": "ed448", "1.2.840.113549.1.1.10": "rsa-pss",
        "2.16.840.1.101.3.4.2.1": "2", "2.16.840.1.101.3.4.2.2": "3", "2.16.840.1.101.3.4.2.3": "4"}


def _oids(der: bytes) -> list[str]:
    """Every OBJECT IDENTIFIER in a DER blob, dotted (X.690 8.19), in order."""
    out, i = [], 0
    while i + 2 <= len(der):
        tag, length = der[i], der[i + 1]
        head = 2
        if length & 0x80:
            n = length & 0x7F
            length, head = int.from_bytes(der[i + 2:i + 2 + n], "big"), 2 + n
        body = der[i + head:i + head + length]
        if tag == 0x06:
            arcs, value = [], 0
            for b in body:
                value = value << 7 | b & 0x7F
                if not b & 0x80:
                    arcs.append(value)
                    value = 0
            first = min(arcs[0] // 40, 2)
            out.append(".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]])))
            i += head + length
        elif tag & 0x20:  # constructed (SEQUENCE, [n]): step inside
            i += head
        else:
            i += head + length
    return out


def scheme_of(alg_id_hex: str) -> str:
    """``rsa-2`` (sha256WithRSAEncryption), ``rsa-pss-3`` (PSS over SHA-384), ``ecdsa-4``, ``ed25519``..."""
    oids = _oids(bytes.fromhex(alg_id_hex.replace(":", "")))
    name = OIDS.get(oids[0], oids[0])
    if name == "rsa-pss":
        return f"rsa-pss-{OIDS[oids[1]]}"
    return name


def wire(tmp: Path) -> dict:
    """From ikelab's capture, decrypted by tshark with ikelab's keys: each side's announced hashes (None: no
    notify), and each side's AUTH (method, scheme), by whether the message came from the IKE initiator."""
    env_dir = tmp / "ikelab" / "keys"
    os.environ["WIRESHARK_CONFIG_DIR"] = str(env_dir)
    try:
        rows = read_fields(tmp / "ikelab" / "ikelab.pcap",
                           ["isakmp.exchangetype", "isakmp.flag_i", "isakmp.notify.data.signature_hash_algorithms",
                            "isakmp.auth.method", "isakmp.auth.data.sig.asn1.data", "isakmp.notify.msgtype"],
                           display_filter="isakmp")
    finally:
        del os.environ["WIRESHARK_CONFIG_DIR"]
    announced: dict[bool, Any] = {True: None, False: None}
    auth: dict[bool, Any] = {}
    refused: set[bool] = set()  # who sent AUTHENTICATION_FAILED (24), by whether it is the IKE initiator
    for exch, flag_i, hashes, method, alg, notifies in rows:
        from_initiator = flag_i in ("1", "True")
        if "24" in notifies.split(","):
            refused.add(from_initiator)
        if exch == "34" and hashes:
            announced[from_initiator] = frozenset(int(h, 0) for h in hashes.split(","))
        if exch == "35" and method:
            auth[from_initiator] = (int(method), scheme_of(alg) if alg else None)
    return {"announced": announced, "auth": auth, "refused": refused}


# ---------------------------------------------------------------------------------------------------------------


SCHEME_LOG = {"rsa-2": "RSA_EMSA_PKCS1_SHA2_256", "rsa-3": "RSA_EMSA_PKCS1_SHA2_384",
              "rsa-4": "RSA_EMSA_PKCS1_SHA2_512", "rsa-pss-2": "RSA_EMSA_PSS", "rsa-pss-3": "RSA_EMSA_PSS",
              "rsa-pss-4": "RSA_EMSA_PSS", "ecdsa-2": "ECDSA_WITH_SHA256_DER", "ecdsa-3": "ECDSA_WITH_SHA384_DER",
              "ecdsa-4": "ECDSA_WITH_SHA512_DER", "ed25519": "ED25519", "ed448": "ED448"}
METHOD_LOG = {1: "RSA signature", 2: "pre-shared key", 9: "ECDSA-256 signature", 10: "ECDSA-384 signature",
              11: "ECDSA-521 signature"}


@pytest.mark.parametrize("case", CASES, ids=[f"case{c.n:02d}-{c.role}" for c in CASES])
def test_random_authentication(netns_pair, charon_factory, tmp_path: Path, case: Case) -> None:
    """One drawn case: ikelab, charon and the model agree on the outcome, the methods and schemes, the keys."""
    mine, charon, pred = _run(netns_pair, charon_factory, tmp_path, case)
    log = charon.log_text()
    seen = wire(tmp_path)
    sas = charon.list_sas()
    what = f"{case}\n  model: {pred}\n  ikelab: {mine}\n  wire: {seen}\n  charon SAs: {sas}"
    ikelab_initiates = case.role == "ikelab-initiator"
    side_of = {True: "ikelab" if ikelab_initiates else "charon", False: "charon" if ikelab_initiates else "ikelab"}
    # what each side announced in IKE_SA_INIT (RFC 7427 4)
    for flag, side in side_of.items():
        assert seen["announced"][flag] == pred.announced[side], what
    # the AUTH payloads on the wire: the methods and schemes the model says each side must sign with
    on_wire = {side_of[flag]: value for flag, value in seen["auth"].items()}
    for side in ("ikelab", "charon"):
        if side in pred.auth:
            method, scheme = pred.auth[side]
            got = on_wire.get(side)
            assert got is not None and got[0] == method, what
            if scheme is not None:
                assert got[1] == scheme, what
        else:
            assert side not in on_wire, what
    # charon's log: the scheme (or method) it signed and verified with
    for side, (method, scheme) in pred.auth.items():
        name = SCHEME_LOG[scheme] if method == 14 else METHOD_LOG[method]
        mine_or_peer = "(myself) with" if side == "charon" else "' with"
        if side == "charon" or (pred.refuser != "charon"):
            assert f"{mine_or_peer} {name}" in log, what
    # the outcome: established on both ends, or refused by the side the model names
    established = bool(sas) and sas[0].get("state") == "ESTABLISHED"
    if pred.refuser is None:
        assert mine["established"] and established and not mine["failures"], what
        assert check_keys_against_charon(_tables(tmp_path), charon.keys()) >= 1
        return
    assert not established and not mine["established"] or not ikelab_initiates, what
    assert any(n == "AUTHENTICATION_FAILED" for n, _ in mine["failures"]), what
    # the side that refuses says AUTHENTICATION_FAILED on the wire (RFC 7296 2.21.2); an initiator that
    # cannot sign sends no IKE_AUTH at all
    refusers = {side_of[flag] for flag in seen["refused"]}
    if not any(flag for flag in seen["auth"]) and side_of[True] not in on_wire:
        refusers.add(side_of[True])
    assert refusers == {pred.refuser}, what


def _tables(tmp: Path) -> Any:
    from ikelab.wireshark import read_tables

    return read_tables(tmp / "ikelab" / "keys")


def test_the_draw_is_reproducible_and_covers_every_dimension() -> None:
    """The same seed gives the same cases, and the default draw holds every value of every dimension."""
    assert draw_cases() == CASES
    assert {c.role for c in CASES} == {"ikelab-initiator", "ikelab-responder"}
    keys = {c.ikelab_key for c in CASES} | {c.charon_key for c in CASES}
    assert set(CHARON_KEYS) <= keys and None in keys, keys
    assert {c.ikelab_id for c in CASES} | {c.charon_id for c in CASES} == set(ID_TYPES)
    assert {c.mismatch for c in CASES} == {None, *MISMATCHES}
    assert {c.sig_auth for c in CASES} == {True, False} and {c.rsa_pss for c in CASES} == {True, False}
    assert {c.constraint for c in CASES} == {None, *HASHES}
    assert {c.send_cert for c in CASES if c.charon_key} == {"always", "ifasked", "never"}
    assert {c.send_certreq for c in CASES} == {True, False}
    assert any(c.ikelab_chain for c in CASES) and any(c.charon_chain for c in CASES)
    assert any(c.ikelab_key is None for c in CASES) and any(c.charon_key is None for c in CASES)  # mixed
    outcomes = {predict(c).refuser for c in CASES}
    assert outcomes == {None, "ikelab", "charon"}, outcomes


def test_the_model_by_hand() -> None:
    """A few cases worked out from the RFC text, to check the model itself."""
    base = Case(0, "ikelab-initiator", "p384", "rsa2048", "fqdn", "dn", None, True, False, None, "always", True,
                False, False)
    p = predict(base)  # both announce: method 14; ikelab SHA-256 (first listed), charon PKCS#1 SHA-256
    assert p.auth == {"ikelab": (14, "ecdsa-2"), "charon": (14, "rsa-2")} and p.refuser is None
    p = predict(replace(base, sig_auth=False))  # RFC 7427 3: no method 14; RFC 4754 for P-384, method 1 for RSA
    assert p.auth == {"ikelab": (10, None), "charon": (1, None)} and p.refuser == "ikelab"
    p = predict(replace(base, ikelab_key="ed25519", sig_auth=False))  # Ed25519 has no other method (RFC 8420)
    assert p.auth == {} and p.refuser == "ikelab"
    p = predict(replace(base, role="ikelab-responder", constraint="sha512"))  # charon initiating asks for SHA-512
    assert p.announced["charon"] == {4} and p.auth["ikelab"] == (14, "ecdsa-4") and p.refuser is None
    p = predict(replace(base, constraint="sha512"))  # charon responding announced all, ikelab took SHA-256
    assert p.auth == {"ikelab": (14, "ecdsa-2")} and p.refuser == "charon"
    p = predict(replace(base, charon_key=None, send_cert="always"))  # mixed: charon PSK, ikelab certificate
    assert p.auth == {"ikelab": (14, "ecdsa-2"), "charon": (2, None)} and p.refuser is None
    assert scheme_of("300a06082a8648ce3d040303") == "ecdsa-3" and scheme_of("300506032b6570") == "ed25519"
