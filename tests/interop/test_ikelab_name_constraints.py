"""Name-constrained certificate chains between ikelab and strongSwan's charon (RFC 5280 4.2.1.10; RFC 7296 3.6).

A root CA signs seven intermediates, each with a critical nameConstraints extension (4.2.1.10: "Conforming
CAs MUST mark this extension as critical") on one name form, and a second root has one of its own:

| intermediate | permitted | excluded |
|---|---|---|
| dns | dNSName ``vpn.example.com`` | dNSName ``bad.vpn.example.com`` |
| dns2 | dNSName ``vpn.example.com``, ``vpn.example.org`` | |
| ip | iPAddress ``192.0.2.0/25`` | iPAddress ``192.0.2.64/26`` |
| email | rfc822Name ``example.com`` (any mailbox at that host) | rfc822Name ``mallory@example.com`` |
| emailat | | rfc822Name ``@example.com`` |
| dn | directoryName ``O=ikelab, OU=vpn`` | |
| dnx | | directoryName ``O=ikelab, OU=vpn, CN=revoked`` |
| anchor (a root, no intermediate) | dNSName ``vpn.example.com`` | |

Each case is one leaf under the CA of its form, whose IKE identity (RFC 7296 3.5) is its
subjectAltName (ID_FQDN, ID_IPV4_ADDR, ID_RFC822_ADDR) or its subject DN (ID_DER_ASN1_DN; ``emaildn``: a DN
with an emailAddress attribute and no subjectAltName, under the rfc822Name CA), and each case
runs twice over the network, ``ikelab connect`` (namespace A) against one charon responder (B, its
``constraints`` plugin loaded, as in every interop test); two more run with charon initiating and
``ikelab respond`` (``test_charon_initiates``), each peer the verifier in turn:

* charon verifies ikelab: ikelab authenticates with the case's leaf and sends the intermediate in a second
  CERT payload; charon trusts the two roots only.  Inside the subtrees: the IKE SA is established (charon's log)
  and ikelab exits 0; outside a permitted subtree or inside an excluded one: charon answers
  AUTHENTICATION_FAILED (2.21.2), logs the constraint, keeps no IKE SA, and ikelab exits with status 4.
* ikelab verifies charon: charon's connection for the case authenticates with the case's leaf (the
  intermediate found, untrusted, in ``x509/``) and ikelab trusts the two roots only.  Inside: the IKE SA stands
  on both sides; outside: ikelab refuses charon's AUTH, names the constraint in its error (the name, the
  CA and the subtree), tells charon with AUTHENTICATION_FAILED in an INFORMATIONAL (2.21.2), and charon
  keeps no IKE SA.  charon picks the case's connection by ikelab's IDi (ikelab sends no IDr), so ikelab
  authenticates there as ``cN@ikelab.example``, one of the rfc822Names of its own certificate (from the
  root, unconstrained).

Where charon 5.9.8 or ikelab departs from RFC 5280, each verdict is asserted as it is (``Case.charon``,
``Case.ikelab``), and the case is a row here:

| case | RFC 5280 | charon 5.9.8 | ikelab |
|---|---|---|---|
| dns-in-the-second-of-two-permitted | inside: one permitted subtree of the name's form must hold it (4.2.1.10, 6.1.4 (g)) | refused: each permitted subtree of the form must ("does not match permitted name constraint 'vpn.example.com'") | established |
| ipv4-inside | inside (4.2.1.10: address and mask, 8 octets for IPv4) | refused: it cannot load a CA whose nameConstraints hold an iPAddress ("building CRED_CERTIFICATE - X509 failed"; the openssl plugin: "found unsupported critical X.509 extension"), so the leaf has no issuer; no chain through such a CA passes | established |
| email-excluded-mailbox-in-another-case | inside: ``Mallory@example.com`` is not the excluded mailbox ``mallory@example.com``, local parts are case-sensitive (7.5, RFC 5321 2.4) | refused: matches the excluded mailbox | refused: an excluded mailbox excludes it in any case, as ikelab takes an ID_RFC822_ADDR case-insensitively (``name_constraints._excludes``) |
| email-excluded-at-host | undefined: ``@example.com`` is none of a mailbox, a host, a domain (4.2.1.10); ``openssl verify`` reads it as every mailbox at the host and refuses, cryptography's verifier refuses the chain | established: to it, a subtree with ``@`` is one full address | refused, as OpenSSL reads it (it excluded nothing before: fixed, ``tests/test_review_session34_nc.py``) |
| email-in-the-subject-dn-outside | outside: with no subjectAltName, an rfc822Name constraint "MUST be applied to the attribute of type emailAddress in the subject" (4.2.1.10); ``E=eve@example.net`` is not at ``example.com`` | established: the subject's emailAddress is not checked | refused (it checks the emailAddress always, as OpenSSL) |
| dn-in-another-case | inside: ``O=IKELAB, OU=VPN, ...`` below ``O=ikelab, OU=vpn``, names compared once prepared, case-folded (7.1, RFC 4518) | refused: RDN values compared octet for octet | established |
| dn-outside-the-excluded-subtree | inside | refused: "excluded ID_DER_ASN1_DN NameConstraint not supported", and to charon such a constraint matches every certificate, so none below the CA passes | established |

Both apply a trust anchor's own nameConstraints (``anchor-*``: RFC 5280 6.1.1 leaves the initial subtrees to
the path's inputs; RFC 5937 takes them from the anchor). Where both refuse (outside a permitted subtree,
inside an excluded one), charon logs the constraint ("does not match permitted name constraint", "matches
excluded name constraint") except for the iPAddress CA, which it cannot read. Two more things seen on the way:
charon does not check its own chain against its CA's constraints (it sends a leaf outside them; every refusal
of charon's certificate here is ikelab's), and it cannot load the iPAddress CA from ``x509/`` either, so it
sends those leaves alone: ikelab, verifying them, trusts that CA itself (an anchor's nameConstraints bind in
ikelab, as in OpenSSL). And charon trusts an end-entity certificate it loaded itself even when it finds no
issuer for it ("reached end of incomplete trust chain for trusted certificate"): had it loaded ikelab's leaf,
it would have accepted ``ipv4-outside``. So each peer has leaves of its own (a DN identity gets a last RDN
``CN=ikelab`` or ``CN=charon``).

Run: ``cd tests && CI=true python -m pytest -n0 interop/test_ikelab_name_constraints.py`` (one charon and
one pair of namespaces for the module, deleted at the end).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ikelab.identity import dn_to_string

from interop.charon import Charon, render_conf
from interop.ikelab_peer import connect, respond, stop_after_refusal
from interop.netns import NetnsPair
from interop.swanctl import connection

pytestmark = [pytest.mark.strongswan]

PROPOSAL, ESP = "aes128-sha256-x25519", "aes128-sha256"
CHARON_ID = "gw.example.com"  # charon's identity when it verifies ikelab (its certificate from the root)


# ------------------------------------------------------------------ the cases


@dataclass(frozen=True)
class Case:
    """One leaf under the CA of ``form``; ``ident`` is its IKE identity in strongSwan's syntax.

    ``inside``: RFC 5280's verdict (4.2.1.10); ``ikelab`` and ``charon``: each verifier's where it differs
    (None: the RFC's).  ``why``: what ikelab's error says when it refuses; ``charon_says``: what charon logs."""

    name: str
    form: str  # "dns", "dns2", "ip", "email", "dn", "dnx", "anchor": which CA signs the leaf
    ident: str
    inside: bool
    why: str = ""
    charon_says: str = ""
    ikelab: bool | None = None
    charon: bool | None = None

    def identity(self, who: str) -> str:
        """``who``'s identity (``"ikelab"`` or ``"charon"``): a DN gets a last RDN naming the peer, so that
        each peer's leaf has a subject of its own (charon tries every certificate it has for an identity)."""
        return f"{self.ident}, CN={who}" if self.dn_identity else self.ident

    @property
    def dn_identity(self) -> bool:
        """The identity is the subject DN (ID_DER_ASN1_DN), not a subjectAltName."""
        return FORMS[self.form] == "directoryName" or self.form == "emaildn"

    @property
    def ca(self) -> str:
        """The CA that signs the leaf (``emaildn``: a DN identity with an emailAddress, under ``email``)."""
        return "email" if self.form == "emaildn" else self.form

    def constrained(self, who: str) -> str:
        """The name of ``who``'s leaf that the CA constrains, as ikelab's error shows it."""
        if self.form == "emaildn":
            return next(part[2:] for part in self.ident.split(", ") if part.startswith("E="))
        return self.identity(who)

    def san(self) -> list[x509.GeneralName]:
        if FORMS[self.form] == "dNSName":
            return [x509.DNSName(self.ident)]
        if self.form == "ip":
            return [x509.IPAddress(ipaddress.ip_address(self.ident))]
        if self.form in ("email", "emailat"):
            return [x509.RFC822Name(self.ident)]
        return []  # a DN identity is the subject itself

    def subject(self, who: str) -> x509.Name:
        if self.dn_identity:
            return _name(*self.identity(who).split(", "))
        return _name("O=ikelab", "OU=vpn", f"CN={who} {self.name}")

    @property
    def ikelab_accepts(self) -> bool:
        return self.inside if self.ikelab is None else self.ikelab

    @property
    def charon_accepts(self) -> bool:
        return self.inside if self.charon is None else self.charon


OUTSIDE, EXCLUDED = "outside every permitted subtree", "inside the excluded subtree"
UNREADABLE = "building CRED_CERTIFICATE - X509 failed"  # charon could not parse the CA (see the table)
DN_EXCLUDED_UNSUPPORTED = "excluded ID_DER_ASN1_DN NameConstraint not supported"  # and so, to charon, matched
FORMS = {"dns": "dNSName", "dns2": "dNSName", "anchor": "dNSName", "ip": "iPAddress", "email": "rfc822Name",
         "emaildn": "rfc822Name", "emailat": "rfc822Name", "dn": "directoryName", "dnx": "directoryName"}


def _not_permitted(subtree: str) -> str:
    return f"does not match permitted name constraint '{subtree}'"


def _excluded(subtree: str) -> str:
    return f"matches excluded name constraint '{subtree}'"


CASES = [
    Case("dns-inside", "dns", "moon.vpn.example.com", True),
    Case("dns-the-subtree-itself", "dns", "vpn.example.com", True),
    Case("dns-in-another-case", "dns", "moon.VPN.example.com", True),
    Case("dns-outside", "dns", "moon.vpn.example.net", False, OUTSIDE, _not_permitted("vpn.example.com")),
    Case("dns-not-at-a-label-boundary", "dns", "moonvpn.example.com", False, OUTSIDE,
         _not_permitted("vpn.example.com")),
    Case("dns-excluded", "dns", "sun.bad.vpn.example.com", False, EXCLUDED, _excluded("bad.vpn.example.com")),
    Case("dns-in-the-second-of-two-permitted", "dns2", "moon.vpn.example.org", True,
         charon_says=_not_permitted("vpn.example.com"), charon=False),
    Case("ipv4-inside", "ip", "192.0.2.10", True, charon_says=UNREADABLE, charon=False),
    Case("ipv4-outside", "ip", "192.0.2.200", False, OUTSIDE, UNREADABLE),
    Case("ipv4-excluded", "ip", "192.0.2.70", False, EXCLUDED, UNREADABLE),
    Case("email-inside", "email", "carol@example.com", True),
    Case("email-outside", "email", "carol@example.net", False, OUTSIDE, _not_permitted("example.com")),
    Case("email-excluded", "email", "mallory@example.com", False, EXCLUDED, _excluded("mallory@example.com")),
    Case("email-excluded-mailbox-in-another-case", "email", "Mallory@example.com", True, EXCLUDED,
         _excluded("mallory@example.com"), ikelab=False, charon=False),
    # RFC 5280 does not define "@example.com": False is OpenSSL's and cryptography's verdict
    Case("email-excluded-at-host", "emailat", "carol@example.com", False, f"{EXCLUDED} rfc822Name '@example.com'",
         charon=True),
    Case("email-in-the-subject-dn-inside", "emaildn", "O=ikelab, OU=vpn, E=eve@example.com", True),
    Case("email-in-the-subject-dn-outside", "emaildn", "O=ikelab, OU=vpn, E=eve@example.net", False, OUTSIDE,
         charon=True),
    Case("dn-inside", "dn", "O=ikelab, OU=vpn, CN=dave", True),
    Case("dn-in-another-case", "dn", "O=IKELAB, OU=VPN, CN=frank", True,
         charon_says=_not_permitted("O=ikelab, OU=vpn"), charon=False),
    Case("dn-outside", "dn", "O=ikelab, OU=sales, CN=erin", False, OUTSIDE, _not_permitted("O=ikelab, OU=vpn")),
    Case("dn-outside-the-excluded-subtree", "dnx", "O=ikelab, OU=vpn, CN=dave", True,
         charon_says=DN_EXCLUDED_UNSUPPORTED, charon=False),
    Case("dn-excluded", "dnx", "O=ikelab, OU=vpn, CN=revoked", False, EXCLUDED, DN_EXCLUDED_UNSUPPORTED),
    Case("anchor-inside", "anchor", "moon.vpn.example.com", True),
    Case("anchor-outside", "anchor", "moon.vpn.example.net", False, OUTSIDE, _not_permitted("vpn.example.com")),
]
#: the same checks with charon initiating and ``ikelab respond`` verifying or verified; identities of their
#: own, so that no connection for them competes with ``from-ikelab`` when ikelab initiates
INITIATOR_CASES = [
    Case("dns-inside-charon-initiates", "dns", "star.vpn.example.com", True),
    Case("dns-excluded-charon-initiates", "dns", "star.bad.vpn.example.com", False, EXCLUDED,
         _excluded("bad.vpn.example.com")),
]

_OID = {"E": NameOID.EMAIL_ADDRESS, "C": NameOID.COUNTRY_NAME, "O": NameOID.ORGANIZATION_NAME,
        "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "CN": NameOID.COMMON_NAME}


def _name(*parts: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(_OID[k], v) for k, v in (p.split("=", 1) for p in parts)])


def _net(text: str) -> x509.IPAddress:
    return x509.IPAddress(ipaddress.ip_network(text))


#: each intermediate's nameConstraints: (permitted, excluded) subtrees of one form
CONSTRAINTS = {
    "dns": ([x509.DNSName("vpn.example.com")], [x509.DNSName("bad.vpn.example.com")]),
    "dns2": ([x509.DNSName("vpn.example.com"), x509.DNSName("vpn.example.org")], []),
    "anchor": ([x509.DNSName("vpn.example.com")], []),  # a second root, both peers' trust anchor
    "ip": ([_net("192.0.2.0/25")], [_net("192.0.2.64/26")]),
    "email": ([x509.RFC822Name("example.com")], [x509.RFC822Name("mallory@example.com")]),
    "emailat": ([], [x509.RFC822Name("@example.com")]),  # no local part: a form RFC 5280 does not define
    "dn": ([x509.DirectoryName(_name("O=ikelab", "OU=vpn"))], []),
    "dnx": ([], [x509.DirectoryName(_name("O=ikelab", "OU=vpn", "CN=revoked"))]),
}


# ------------------------------------------------------------------ the certificates


@dataclass
class Pki:
    """PEM bytes: the root, the intermediates by form, and each leaf's certificate and key by name."""

    root: bytes
    intermediates: dict[str, bytes]
    certs: dict[str, bytes]
    keys: dict[str, bytes]


def make_pki() -> Pki:
    """ECDSA P-256 throughout (fast to make; charon's openssl plugin verifies it); serial numbers counted."""
    pem = serialization.Encoding.PEM
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    serials = iter(range(1, 1000))

    def cert(subject: x509.Name, key: Any, issuer: tuple[x509.Name, Any] | None, *, ca: bool,
             extensions: list[tuple[Any, bool]] = ()) -> x509.Certificate:
        issuer_name, issuer_key = issuer or (subject, key)
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
             .serial_number(next(serials)).not_valid_before(start).not_valid_after(start + datetime.timedelta(days=2))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca and issuer else None), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                            critical=False))
        if ca:
            b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
        else:
            b = b.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), True)
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                       ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        for ext, critical in extensions:
            b = b.add_extension(ext, critical=critical)
        return b.sign(issuer_key, hashes.SHA256())

    def key_pem(key: Any) -> bytes:
        return key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("O=ikelab", "CN=ikelab nc root")
    root = cert(root_name, root_key, None, ca=True)
    inter: dict[str, tuple[x509.Name, Any]] = {}
    inter_pem = {}
    for form, (permitted, excluded) in CONSTRAINTS.items():
        key = ec.generate_private_key(ec.SECP256R1())
        name = _name("O=ikelab", f"CN=ikelab nc {form} CA")
        nc = x509.NameConstraints(permitted_subtrees=permitted or None, excluded_subtrees=excluded or None)
        inter[form] = (name, key)
        issuer = None if form == "anchor" else (root_name, root_key)
        inter_pem[form] = cert(name, key, issuer, ca=True, extensions=[(nc, True)]).public_bytes(pem)
    certs, keys = {}, {}
    for case in CASES + INITIATOR_CASES:  # one leaf for each peer: charon trusts any certificate loaded as its own
        for who in ("ikelab", "charon"):
            key = ec.generate_private_key(ec.SECP256R1())
            san = [(x509.SubjectAlternativeName(case.san()), False)] if case.san() else []
            leaf = cert(case.subject(who), key, inter[case.ca], ca=False, extensions=san)
            certs[f"{who}-{case.name}"], keys[f"{who}-{case.name}"] = leaf.public_bytes(pem), key_pem(key)
    # the two peers' own certificates when the other side is the verifier: from the root, unconstrained
    for who, sans in (("charon", [x509.DNSName(CHARON_ID)]),
                      ("ikelab", [x509.RFC822Name(_ikelab_id(i)) for i in range(len(CASES) + len(INITIATOR_CASES))])):
        key = ec.generate_private_key(ec.SECP256R1())
        certs[who] = cert(_name("O=ikelab", f"CN={who}"), key, (root_name, root_key), ca=False,
                          extensions=[(x509.SubjectAlternativeName(sans), False)]).public_bytes(pem)
        keys[who] = key_pem(key)
    return Pki(root.public_bytes(pem), inter_pem, certs, keys)


def _ikelab_id(index: int) -> str:
    """ikelab's identity against charon's connection for case ``index`` (charon picks a connection by IDi)."""
    return f"c{index}@ikelab.example"


# ------------------------------------------------------------------ charon, once for the module


def swanctl_conf(net: NetnsPair) -> str:
    """``from-ikelab``: charon (``gw.example.com``) accepts any identity a chain to the root proves;
    ``as-<case>``: charon authenticates with the case's leaf to ``cN@ikelab.example``."""
    common = dict(local_addrs=net.b.addr4, remote_addrs=net.a.addr4, local_ts=f"{net.b.inner}/32",
                  remote_ts=f"{net.a.inner}/32", proposals=PROPOSAL, esp_proposals=ESP)
    conns = {"from-ikelab": connection(local={"auth": "pubkey", "id": CHARON_ID, "certs": "charon.pem"},
                                       remote={"auth": "pubkey", "id": "%any"}, **common)}
    for i, case in enumerate(CASES):
        conns[f"as-{case.name}"] = connection(
            local={"auth": "pubkey", "id": case.identity("charon"), "certs": f"charon-{case.name}.pem"},
            remote={"auth": "pubkey", "id": _ikelab_id(i)}, **common)
    for i, case in enumerate(INITIATOR_CASES, start=len(CASES)):  # charon initiates these (IDr sent)
        conns[f"init-to-ikelab-{case.name}"] = connection(
            local={"auth": "pubkey", "id": CHARON_ID, "certs": "charon.pem"},
            remote={"auth": "pubkey", "id": case.identity("ikelab")}, **common)
        conns[f"init-as-{case.name}"] = connection(
            local={"auth": "pubkey", "id": case.identity("charon"), "certs": f"charon-{case.name}.pem"},
            remote={"auth": "pubkey", "id": _ikelab_id(i)}, **common)
    for conn in conns.values():
        conn["send_cert"] = "always"
    return render_conf({"connections": conns}) + "\n"


@dataclass
class Lab:
    net: NetnsPair
    charon: Charon
    pki: Pki
    files: Path


@pytest.fixture(scope="module")
def lab(_interop_reason: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One pair of namespaces, the PKI, and charon in B with every connection and credential loaded."""
    if _interop_reason is not None:  # as conftest's interop_env: a failure in CI, else a skip
        if os.environ.get("CI") == "true":
            pytest.fail(f"required in CI (.ci/run installs it): {_interop_reason}")
        pytest.skip(_interop_reason)
    pki = make_pki()
    base = tmp_path_factory.mktemp("nc")
    net = NetnsPair()
    net.create()
    charon = Charon(net.b, base / "charon", swanctl_conf=swanctl_conf(net))
    try:
        charon.write_files()
        d = charon.swanctl_dir
        (d / "x509ca" / "root.pem").write_bytes(pki.root)
        for form, pem in pki.intermediates.items():  # untrusted but the second root: charon builds chains from them
            (d / ("x509ca" if form == "anchor" else "x509") / f"ca-{form}.pem").write_bytes(pem)
        for name, pem in pki.certs.items():
            if not name.startswith("charon"):  # ikelab's certificates: charon must verify them, not know them
                continue
            (d / "x509" / f"{name}.pem").write_bytes(pem)
            (d / "private" / f"{name}.pem").write_bytes(pki.keys[name])
        charon.start()
        charon.load_all()
        yield Lab(net, charon, pki, base)
    finally:
        try:
            charon.stop()
        finally:
            net.close()


def ikelab_files(lab: Lab, who: str, form: str | None, anchors: tuple[str, ...] = ()) -> dict[str, str]:
    """--cert (the leaf ``who``, then its intermediate if any), --key and --ca (both roots, and the
    intermediates of the forms in ``anchors``) for ikelab."""
    d = lab.files / "ikelab-certs" / who
    d.mkdir(parents=True, exist_ok=True)
    (d / "cert.pem").write_bytes(lab.pki.certs[who] + (lab.pki.intermediates[form] if form not in (None, "anchor")
                                                       else b""))
    (d / "key.pem").write_bytes(lab.pki.keys[who])
    (d / "ca.pem").write_bytes(lab.pki.root + b"".join(lab.pki.intermediates[f] for f in ("anchor", *anchors)))
    return {"cert": str(d / "cert.pem"), "key": str(d / "key.pem"), "ca": str(d / "ca.pem")}


def run_ikelab(lab: Lab, case: Case, *, local_id: str, remote_id: str, cert: dict[str, str],
               tag: str) -> tuple[int, str, str]:
    """``ikelab connect`` to charon: its exit status, its output, and charon's log lines of this run only
    (once charon keeps no IKE SA)."""
    net, charon = lab.net, lab.charon
    before = len(charon.log_text())
    result = connect(net.a, net.b.addr4, lab.files / "ikelab" / f"{tag}-{case.name}", cert=cert, keys=False,
                     local_id=local_id, remote_id=remote_id, timeout=30,
                     extra=["--proposal", PROPOSAL, "--esp-proposal", ESP, "--ts", f"{net.a.inner}/32",
                            f"{net.b.inner}/32"])
    charon.wait_for_sa(lambda sas: not sas, timeout=10)  # our DELETE, or our AUTHENTICATION_FAILED, arrived
    return result.returncode, result.stdout + result.stderr, charon.log_text()[before:]


def established(log: str, conn: str, me: str, peer: str) -> bool:
    """charon's log says the IKE SA of ``conn`` came up between ``me`` and ``peer`` (identities)."""
    return re.search(rf"IKE_SA {re.escape(conn)}\[\d+\] established between "
                     rf"\S+\[{re.escape(me)}\]\.\.\.\S+\[{re.escape(peer)}\]", log) is not None


def ikelab_refusal(case: Case) -> str:
    """What ikelab's error says when it refuses charon's leaf of ``case``: the certificate, the CA, the name
    and the subtree (RFC 5280 4.2.1.10)."""
    return (f"certificate '{dn_to_string(case.subject('charon'))}' below CA 'O=ikelab, CN=ikelab nc {case.ca} CA' "
            f"has {FORMS[case.form]} '{case.constrained('charon')}', which lies {case.why}")


# ------------------------------------------------------------------ the tests


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_charon_verifies_ikelabs_constrained_chain(lab: Lab, case: Case) -> None:
    """ikelab's leaf under a name-constrained intermediate, charon the verifier (RFC 5280 6.1.3 (b), (c))."""
    me = case.identity("ikelab")
    status, out, log = run_ikelab(lab, case, local_id=me, remote_id=CHARON_ID,
                                  cert=ikelab_files(lab, f"ikelab-{case.name}", case.ca), tag="i")
    if case.charon_accepts:
        assert status == 0, out + log
        assert established(log, "from-ikelab", CHARON_ID, me), log
        return
    assert status == 4, out + log  # EXIT_AUTH
    assert "IKE_AUTH refused by the responder: AUTHENTICATION_FAILED" in out, out
    assert " established between " not in log, log
    assert "generating IKE_AUTH response 1 [ N(AUTH_FAILED) ]" in log, log
    subject = dn_to_string(case.subject("ikelab"))
    if case.charon_says == UNREADABLE:  # the CA in ikelab's second CERT payload: no issuer for the leaf
        assert UNREADABLE in log and f'no issuer certificate found for "{subject}"' in log, log
    else:  # the log names ikelab's certificate (charon also tries its own one for the same identity)
        assert f"certificate '{subject}' {case.charon_says.replace(DN_EXCLUDED_UNSUPPORTED, 'matches excluded')}" \
            in log and case.charon_says in log, log


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_ikelab_verifies_charons_constrained_chain(lab: Lab, case: Case) -> None:
    """charon's leaf under a name-constrained intermediate, ikelab the verifier: its error names the
    certificate, the name, the CA and the subtree (RFC 5280 4.2.1.10).  charon cannot read the iPAddress
    CA, so it sends its leaf alone; ikelab then trusts that CA itself (an anchor's nameConstraints bind)."""
    i = CASES.index(case)
    conn, peer = f"as-{case.name}", case.identity("charon")
    anchors = ("ip",) if case.form == "ip" else ()
    status, out, log = run_ikelab(lab, case, local_id=_ikelab_id(i), remote_id=peer,
                                  cert=ikelab_files(lab, "ikelab", None, anchors), tag="r")
    # charon, the responder, authenticated ikelab and answered IKE_AUTH: its side of the IKE SA came up
    assert established(log, conn, peer, _ikelab_id(i)), log
    if case.ikelab_accepts:
        assert status == 0, out + log
        assert f"received DELETE for IKE_SA {conn}[" in log, log  # ikelab's DELETE at the end of its run
        return
    assert status == 4, out + log
    assert "FAILED: AUTHENTICATION_FAILED: " in out, out
    assert ikelab_refusal(case) in out, out
    # charon heard ikelab's AUTHENTICATION_FAILED (2.21.2) and deleted the IKE SA
    assert "parsed INFORMATIONAL request 2 [ N(AUTH_FAILED) ]" in log, log
    assert f"deleting IKE_SA {conn}[" in log and "IKE_SA deleted" in log, log


@pytest.mark.parametrize("verifier", ["charon", "ikelab"])
@pytest.mark.parametrize("case", INITIATOR_CASES, ids=[c.name for c in INITIATOR_CASES])
def test_charon_initiates(lab: Lab, case: Case, verifier: str) -> None:
    """charon initiates, ``ikelab respond`` answers: the verifier refuses the chain outside the subtrees with
    AUTHENTICATION_FAILED (charon in an INFORMATIONAL after ikelab's IKE_AUTH response; ikelab in its IKE_AUTH
    response, so charon never has the IKE SA: RFC 7296 2.21.2)."""
    net, charon = lab.net, lab.charon
    i = len(CASES) + INITIATOR_CASES.index(case)
    if verifier == "charon":
        conn, me, peer = f"init-to-ikelab-{case.name}", case.identity("ikelab"), CHARON_ID
        cert = ikelab_files(lab, f"ikelab-{case.name}", case.ca)
    else:
        conn, me, peer = f"init-as-{case.name}", _ikelab_id(i), case.identity("charon")
        cert = ikelab_files(lab, "ikelab", None)
    before = len(charon.log_text())
    proc = respond(net.a, lab.files / "ikelab" / f"{verifier}-{case.name}", local_id=me, remote_id=peer, cert=cert,
                   keys=False, extra=["--listen", net.a.addr4, "--proposal", PROPOSAL, "--esp-proposal", ESP,
                                      "--ts", f"{net.a.inner}/32", f"{net.b.inner}/32", "--wait", "10"])
    try:
        initiated = charon.swanctl("--initiate", "--ike", conn, "--child", "net", "--timeout", "10", check=False,
                                   timeout=20)
        if initiated.returncode == 0:
            charon.terminate(ike=conn)
            status = proc.wait(15)
        else:  # ikelab refused charon and goes on listening for other initiators, or charon refused ikelab
            status = stop_after_refusal(proc)
    finally:
        proc.close()
    out, log = proc.output(), charon.log_text()[before:]
    charon.wait_for_sa(lambda sas: not sas, timeout=10)
    accepted = case.charon_accepts if verifier == "charon" else case.ikelab_accepts
    if accepted:
        assert initiated.returncode == 0 and status == 0, out + log
        assert established(log, conn, case.identity("charon") if verifier == "ikelab" else CHARON_ID,
                           _ikelab_id(i) if verifier == "ikelab" else me), log
        return
    assert initiated.returncode != 0 and status == 4, out + log
    if verifier == "charon":  # ikelab's IKE_AUTH response came, charon refused it and told ikelab
        subject = dn_to_string(case.subject("ikelab"))
        assert f"certificate '{subject}' {case.charon_says}" in log, log
        assert "generating INFORMATIONAL request 2 [ N(AUTH_FAILED) ]" in log, log
        assert "AUTHENTICATION_FAILED" in out, out
    else:  # ikelab refused charon's IKE_AUTH request in its response
        assert "received AUTHENTICATION_FAILED notify error" in log, log
        assert ikelab_refusal(case) in out, out
    assert " established between " not in log, log  # neither side had the IKE SA up


def test_the_table_names_every_difference() -> None:
    """Each case where a verifier differs from RFC 5280 has its row in the module docstring, and no other."""
    rows = {line.split(" | ")[0].lstrip("| ") for line in __doc__.splitlines() if line.startswith("| ")}
    cases = CASES + INITIATOR_CASES
    differing = {c.name for c in cases if c.inside != c.ikelab_accepts or c.inside != c.charon_accepts}
    assert differing == rows & {c.name for c in cases}, (differing, rows)
    assert differing
