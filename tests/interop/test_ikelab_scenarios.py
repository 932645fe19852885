"""ikelab against strongSwan's charon, scenario by scenario, each in both roles (RFC 7296).

``ikelab connect`` (namespace A) with charon responding (namespace B), and
charon initiating (A) with ``ikelab respond`` (B).  For every handshake the
keys ikelab exported must be exactly the keys charon logged, and pings cross
the CHILD SA (UDP-encapsulated ESP, RFC 3948), answered by charon's kernel
or by ikelab's userspace ESP.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from ikelab.config import DEFAULT_IKE_PROPOSALS
from interop.charon import Charon
from interop.ikelab_peer import (charon_initiates, check_keys_against_charon, connect, ikelab_connected, read_keys,
                                 respond, start_connect, tshark_decrypts)
from interop.capture import Capture
from interop.netns import run_checked
from interop.swanctl import ID_INITIATOR, ID_RESPONDER, cert_conf, make_pki, psk_conf

pytestmark = [pytest.mark.strongswan, pytest.mark.usefixtures("tshark_env")]

ROLES = ["ikelab-initiator", "ikelab-responder"]


def _addrs(ns: Any, v6: bool) -> str:
    return ns.addr6 if v6 else ns.addr4


def setup_charon(net: Any, factory: Any, tmp: Path, role: str, *, proposals: str, esp: str, v6: bool = False,
                 pki: Any = None, psk: str = "ikelab-interop-psk", local_ts: str | None = None,
                 remote_ts: str | None = None, cookie_threshold: int = 1000, ids: tuple[str, str] | None = None,
                 charon_conf: dict[str, Any] | None = None, **kwargs: Any) -> Charon:
    """charon in B (responder) or A (initiator), configured for the scenario; connections loaded.

    ``ids`` (initiator's, responder's) replaces the IKE identities, not the certificates' names;
    ``charon_conf`` adds to strongswan.conf's ``charon`` section, the rest to the connection.
    """
    ns, other = (net.b, net.a) if role == "ikelab-initiator" else (net.a, net.b)
    id_i, id_r = ids or (ID_INITIATOR, ID_RESPONDER)
    local_id, remote_id = (id_r, id_i) if role == "ikelab-initiator" else (id_i, id_r)
    common = dict(local_addrs=_addrs(ns, v6), remote_addrs=_addrs(other, v6), local_id=local_id,
                  remote_id=remote_id, local_ts=local_ts or f"{ns.inner}/32",
                  remote_ts=remote_ts or f"{other.inner}/32", proposals=proposals, esp_proposals=esp, **kwargs)
    charon = factory(ns, "charon", start=False, cookie_threshold=cookie_threshold, conf=charon_conf,
                     swanctl_conf=cert_conf(cert_file="peer.pem", **common) if pki else psk_conf(psk=psk, **common))
    charon.write_files()
    if pki:
        pki.install(charon.swanctl_dir, ID_RESPONDER if role == "ikelab-initiator" else ID_INITIATOR)
    charon.start()
    charon.load_all()
    return charon


def ikelab_cert_files(pki: Any, tmp: Path, ident: str) -> dict[str, str]:
    tmp.mkdir(parents=True, exist_ok=True)
    files = {"cert": tmp / "cert.pem", "key": tmp / "key.pem", "ca": tmp / "ca.pem"}
    files["cert"].write_bytes(pki.chain(ident))  # with the intermediate CA, if one signed it
    files["key"].write_bytes(pki.keys[ident])
    files["ca"].write_bytes(pki.ca_cert)
    return {k: str(v) for k, v in files.items()}


def run_handshake(net: Any, factory: Any, tmp: Path, role: str, *, proposals: str, esp: str, v6: bool = False,
                  key_type: str | None = None, ikelab_extra: tuple[str, ...] = (), ikelab_ts: tuple[str, str] | None = None,
                  ikelab_proposals: str | None = None, ikelab_esp: str | None = None, init_messages: int = 2,
                  under_intermediate: tuple[str, ...] = (), ids: tuple[str, str] | None = None,
                  **charon_kwargs: Any) -> tuple[Charon, str]:
    """One handshake + pings + DELETE in ``role``; returns charon and ikelab's output (asserting success).

    Both peers are configured with ``proposals`` and ``esp``, unless
    ``ikelab_proposals`` and ``ikelab_esp`` give ikelab its own.  The capture
    (``tmp/wire.pcapng``) must show ``init_messages`` IKE_SA_INIT messages,
    then the IKE_AUTH request and response.
    """
    pki = make_pki([ID_INITIATOR, ID_RESPONDER], key_type=key_type,
                   under_intermediate=under_intermediate) if key_type else None
    charon = setup_charon(net, factory, tmp, role, proposals=proposals, esp=esp, v6=v6, pki=pki, ids=ids,
                          **charon_kwargs)
    me, peer = (net.a, net.b) if role == "ikelab-initiator" else (net.b, net.a)
    id_i, id_r = ids or (ID_INITIATOR, ID_RESPONDER)
    my_ids = dict(local_id=id_i, remote_id=id_r) if role == "ikelab-initiator" else dict(local_id=id_r, remote_id=id_i)
    ts = ikelab_ts or (f"{me.inner}/32", f"{peer.inner}/32")
    extra = ["--proposal", ikelab_proposals or proposals, "--esp-proposal", ikelab_esp or esp, "--ts", *ts,
             *ikelab_extra]
    my_id = ID_INITIATOR if role == "ikelab-initiator" else ID_RESPONDER
    cert = ikelab_cert_files(pki, tmp / "certs", my_id) if pki else None
    with Capture(net.b, net.b.veth, tmp / "wire.pcapng", probe_dst=_addrs(net.a, v6)) as cap:
        if role == "ikelab-initiator":
            result = connect(me, _addrs(peer, v6), tmp / "ikelab", cert=cert, **my_ids,
                             extra=[*extra, "--ping", peer.inner, "--ping-src", me.inner, "--quiet"])
            out = result.stdout + result.stderr
            assert result.returncode == 0, out + charon.diagnostics()
            assert "(first CHILD SA): 3 sent, 3 replies" in out, out
            charon.wait_for_sa(lambda sas: not sas, timeout=5)  # our DELETE arrived
        else:
            proc = respond(me, tmp / "ikelab", cert=cert, **my_ids,
                           extra=["--listen", _addrs(me, v6), *extra, "--quiet"])
            out = charon_initiates(charon, proc, net.a, net.b)
            assert "deleted by peer" in out
    assert check_keys_against_charon(read_keys(tmp / "ikelab"), charon.keys()) >= 1
    # the capture on the wire decrypts in tshark with ikelab's tables
    rows = tshark_decrypts(cap.path, tmp / "ikelab" / "keys")
    assert [r[0] for r in rows if r[0]][:init_messages + 2] == ["34"] * init_messages + ["35", "35"]
    return charon, out


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("proposals,esp", [
    ("aes256gcm16-prfsha384-ecp384", "aes256gcm16"),
    ("chacha20poly1305-prfsha256-x25519", "chacha20poly1305"),
    ("aes128ctr-sha256-modp2048", "aes128ctr-sha256"),
    ("aes256-sha512-ecp521", "aes256-sha512"),
    ("aes128-aesxcbc-modp2048", "aes128-aesxcbc"),
    ("aes128-aescmac-ecp256", "aes256gcm12"),
    ("aes128ccm16-prfsha256-ecp256", "aes128ccm16"),
    ("aes192-sha384-modp3072", "aes192gcm16"),
    ("aes256gcm16-prfsha512-curve448", "aes128gcm8"),
], ids=["aes256gcm16-ecp384", "chacha20poly1305-x25519", "aes128ctr-modp2048", "aes256-sha512-ecp521",
        "aesxcbc-modp2048", "aescmac-ecp256-gcm12", "aes128ccm16-ecp256", "aes192-modp3072-gcm16",
        "prfsha512-curve448-gcm8"])
def test_suites(netns_pair, charon_factory, tmp_path: Path, role: str, proposals: str, esp: str) -> None:
    _, out = run_handshake(netns_pair, charon_factory, tmp_path, role, proposals=proposals, esp=esp)
    # the only suite charon was configured with (strongSwan's x25519 and curve25519 are the same keyword)
    assert f", {proposals.replace('x25519', 'curve25519')}, " in out, out


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key_type", ["ecdsa", "rsa", "rsa-pss", "ed25519"])
def test_certificates(netns_pair, charon_factory, tmp_path: Path, role: str, key_type: str) -> None:
    """Signatures of RFC 7427 (AUTH method 14) with each key type; charon signs RSA with PSS when told to.

    Two found here: ikelab took only RFC 7427 Appendix A's octets for RSASSA-PSS, not strongSwan's
    (equally valid) DER, and it did not announce the Identity hash, so charon could not sign with
    Ed25519 (RFC 8420 2) and answered AUTHENTICATION_FAILED."""
    conf = {"rsa_pss": "yes"} if key_type == "rsa-pss" else None
    charon, out = run_handshake(netns_pair, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                                esp="aes128-sha256", key_type=key_type.replace("-pss", ""), charon_conf=conf)
    scheme = {"ecdsa": "ECDSA_WITH_SHA256_DER", "rsa": "RSA_EMSA_PKCS1_SHA2_256",
              "rsa-pss": "RSA_EMSA_PSS_SHA2_256_SALT_32", "ed25519": "ED25519"}[key_type]
    charon.wait_for_log(f"authentication of '{ID_RESPONDER if role == 'ikelab-initiator' else ID_INITIATOR}'"
                        f" (myself) with {scheme} successful")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("whose", ["ikelab", "charon"])
def test_certificate_chain_with_an_intermediate_ca(netns_pair, charon_factory, tmp_path: Path, role: str,
                                                    whose: str) -> None:
    """One peer's certificate comes from an intermediate CA; both trust only the root (RFC 7296 3.6).

    The peer sends the intermediate in a second CERT payload and the other builds leaf -> intermediate ->
    root from it: ikelab's --cert file is the chain (leaf, then intermediate), and charon finds its own
    intermediate, untrusted, in x509/.
    """
    ikelab_id = ID_INITIATOR if role == "ikelab-initiator" else ID_RESPONDER
    charon_id = ID_RESPONDER if role == "ikelab-initiator" else ID_INITIATOR
    _, out = run_handshake(netns_pair, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                           esp="aes128-sha256", key_type="ecdsa",
                           under_intermediate=(ikelab_id if whose == "ikelab" else charon_id,))
    # tshark: the IKE_AUTH message of the peer under the intermediate carries two CERT payloads
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(tmp_path / "ikelab" / "keys"))
    rows = run_checked(["tshark", "-n", "-r", str(tmp_path / "wire.pcapng"), "-Y", "isakmp.exchangetype == 35",
                        "-T", "fields", "-E", "separator=\t", "-e", "isakmp.flag_i", "-e", "isakmp.cert.encoding"],
                       timeout=60, env=env).stdout.splitlines()
    sender_is_initiator = (whose == "ikelab") == (role == "ikelab-initiator")
    certs = {flag == "1": encodings.split(",") for flag, encodings in (r.split("\t") for r in rows)}
    assert certs[sender_is_initiator] == ["4", "4"], rows  # X.509 Certificate - Signature, twice
    assert certs[not sender_is_initiator] == ["4"], rows


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_ike_auth_larger_than_the_mtu_travels_in_ip_fragments(netns_pair, charon_factory, tmp_path: Path,
                                                              role: str, v6: bool) -> None:
    """RSA certificate chains make IKE_AUTH outgrow a 1280-byte MTU: without RFC 7383 the kernels fragment it.

    The handshake still works (each kernel reassembles for its peer), and ikelab's dissection of the
    capture on the wire reassembles the kernels' fragments as tshark does (two passes): the same row
    for every frame (ARP and Neighbor Discovery included), and each IKE_AUTH message decrypted at the
    frame that completes it (RFC 791 3.2).
    """
    from ikelab.dissect import dissect

    for ns in netns_pair.namespaces:
        ns.run("ip", "link", "set", ns.veth, "mtu", "1280")
    run_handshake(netns_pair, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                  esp="aes128-sha256", key_type="rsa", under_intermediate=(ID_INITIATOR, ID_RESPONDER), v6=v6)
    keys = tmp_path / "ikelab" / "keys"
    rows = dissect(tmp_path / "wire.pcapng", keys)
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(keys))
    theirs = run_checked(["tshark", "-2", "-n", "-r", str(tmp_path / "wire.pcapng"), "-o",
                          "esp.enable_encryption_decode:TRUE", "-T", "fields", "-E",
                          "separator=\t", "-e", "_ws.col.Source", "-e", "_ws.col.Destination", "-e",
                          "_ws.col.Protocol", "-e", "_ws.col.Info"], timeout=60, env=env).stdout.splitlines()
    assert len(rows) == len(theirs)
    for row, line in zip(rows, theirs):  # every frame on the wire: ARP, ND, probes, IKE, fragments, ESP
        src, dst, proto, info = line.split("\t")
        if row.kind == "esp":  # tshark shows the decrypted inner packet, ikelab the ESP row and the inner one
            assert row.decrypted and info.startswith(row.inner_info), (row, line)
        else:
            assert (row.src, row.dst, row.protocol, row.info) == (src, dst, proto, info), (row, line)
    auth = [r for r in rows if r.exchange == "IKE_AUTH"]
    version = 6 if v6 else 4
    assert len(auth) == 2 and all(r.decrypted and f" IPv{version} fragments (" in r.note for r in auth), auth
    assert "CERT" in auth[0].inner_payloads
    assert sum(r.protocol == f"IPv{version}" for r in rows) >= 2  # the pieces before each completing frame


@pytest.mark.parametrize("role", ROLES)
def test_distinguished_name_identities(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """Identities as the certificates' subject DNs (ID_DER_ASN1_DN, RFC 7296 3.5), strongSwan's usual choice."""
    dns = tuple(f"O=ikelab, CN={ident}" for ident in (ID_INITIATOR, ID_RESPONDER))
    _, out = run_handshake(netns_pair, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                           esp="aes128-sha256", key_type="ecdsa", ids=dns)
    assert f"{dns[0]} <-> {dns[1]}" in out or f"{dns[1]} <-> {dns[0]}" in out, out


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("ids,shown", [
    (("192.0.2.1", "192.0.2.2"), ("192.0.2.1", "192.0.2.2")),  # ID_IPV4_ADDR
    (("@#a1b2c3d4", "@#0102030405"), ("@#a1b2c3d4", "@#0102030405")),  # ID_KEY_ID, strongSwan's syntax
    (("@moon.example", "@@gw@example.com"), ("moon.example", "gw@example.com")),  # FQDN and RFC822 forced
], ids=["ipv4-address", "key-id", "forced-fqdn-rfc822"])
def test_identity_types_in_strongswan_syntax(netns_pair, charon_factory, tmp_path: Path, role: str,
                                             ids: tuple[str, str], shown: tuple[str, str]) -> None:
    """The same identity strings on both sides, as strongSwan writes them (RFC 7296 3.5): both must find
    their peer's ID as configured, and the PSK handshake succeed."""
    _, out = run_handshake(netns_pair, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                           esp="aes128-sha256", ids=ids)
    assert f"{shown[0]} <-> {shown[1]}" in out or f"{shown[1]} <-> {shown[0]}" in out, out


@pytest.mark.parametrize("role", ROLES)
def test_ipv6(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    _, out = run_handshake(netns_pair, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                           esp="aes128-sha256", v6=True)
    assert "2001:db8::1" in out and "2001:db8::2" in out


@pytest.mark.parametrize("role", ROLES)
def test_traffic_selector_narrowed(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """ikelab asks for /24s; charon's configuration only allows the /32s, so the responder narrows (RFC 7296 2.9)."""
    net = netns_pair
    me, peer = (net.a, net.b) if role == "ikelab-initiator" else (net.b, net.a)
    if role == "ikelab-initiator":
        _, out = run_handshake(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                               esp="aes128-sha256", ikelab_ts=("198.51.100.0/24", "203.0.113.0/24"))
        assert f"{me.inner}/32 === {peer.inner}/32" in out, out
    else:  # charon initiates with /24s, ikelab (configured with /32s) narrows
        _, out = run_handshake(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                               esp="aes128-sha256", local_ts="198.51.100.0/24", remote_ts="203.0.113.0/24")
        assert f"{me.inner}/32 === {peer.inner}/32" in out, out


@pytest.mark.parametrize("role", ROLES)
def test_several_selectors_narrowed_to_the_common_one(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """charon's TSi and TSr each carry two selectors, of which one per side meets ikelab's /32s: the CHILD SA
    gets just those (RFC 7296 2.9), whoever narrows."""
    net = netns_pair
    me, peer = (net.a, net.b) if role == "ikelab-initiator" else (net.b, net.a)
    _, out = run_handshake(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                           esp="aes128-sha256", local_ts=f"10.9.9.0/24,{peer.inner}/32",
                           remote_ts=f"{me.inner}/32,10.8.8.0/24")
    assert f"{me.inner}/32 === {peer.inner}/32, UDP-encapsulated" in out, out


@pytest.mark.parametrize("role", ROLES)
def test_a_proposal_with_an_unknown_cipher_is_passed_over(netns_pair, charon_factory, tmp_path: Path,
                                                          role: str) -> None:
    """charon puts Camellia (ENCR_CAMELLIA_CBC, which ikelab does not implement) first in its IKE and ESP
    offers: as responder ikelab reads the unknown transform, skips that proposal and takes the next
    (RFC 7296 2.7, 3.3.6); as initiator it offers AES only, which charon finds in its list."""
    _, out = run_handshake(netns_pair, charon_factory, tmp_path, role,
                           proposals="camellia128-sha256-modp2048,aes128-sha256-modp2048",
                           esp="camellia128-sha256,aes128-sha256", ikelab_proposals="aes128-sha256-modp2048",
                           ikelab_esp="aes128-sha256")
    assert ", aes128-sha256-modp2048, " in out and "ENCR_AES_CBC-128, AUTH_HMAC_SHA2_256_128" in out, out


@pytest.mark.parametrize("role", ROLES)
def test_invalid_ke_payload(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """The initiator guesses the wrong DH group: INVALID_KE_PAYLOAD, then IKE_SA_INIT again (RFC 7296 1.2, 2.7).

    The initiator offers ECP-256 and MODP-2048 in one proposal and sends its
    KE for ECP-256, the first; the responder accepts only MODP-2048.  The
    keys can match charon's only if both sides computed SKEYSEED from the
    second exchange's nonces and DH values, and the AUTH payloads verify
    only if both signed the second IKE_SA_INIT messages.
    """
    both, modp_only = "aes128-sha256-ecp256-modp2048", "aes128-sha256-modp2048"
    if role == "ikelab-initiator":
        charon, out = run_handshake(netns_pair, charon_factory, tmp_path, role, proposals=modp_only,
                                    esp="aes128-sha256", ikelab_proposals=both, init_messages=4)
        charon.wait_for_log("DH group ECP_256 unacceptable, requesting MODP_2048")
    else:
        charon, out = run_handshake(netns_pair, charon_factory, tmp_path, role, proposals=both,
                                    esp="aes128-sha256", ikelab_proposals=modp_only, init_messages=4)
        charon.wait_for_log("peer didn't accept DH group ECP_256, it requested MODP_2048")
    assert ", aes128-sha256-modp2048, " in out, out  # the suite of the IKE SA, as ikelab prints it


@pytest.mark.parametrize("role", ROLES)
def test_second_proposal_chosen(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """The initiator offers two IKE and two ESP proposals (a strongSwan-style comma list); the responder
    takes only the second of each and answers with its number, 2 (RFC 7296 2.7, 3.3.1)."""
    offered = {"proposals": "aes256gcm16-prfsha384-ecp384,aes128-sha256-modp2048", "esp": "aes256gcm16,aes128-sha256"}
    second = {"proposals": "aes128-sha256-modp2048", "esp": "aes128-sha256"}
    charon_side, ikelab_side = (second, offered) if role == "ikelab-initiator" else (offered, second)
    _, out = run_handshake(netns_pair, charon_factory, tmp_path, role, **charon_side,
                           ikelab_proposals=ikelab_side["proposals"], ikelab_esp=ikelab_side["esp"],
                           init_messages=4)  # the KEi was for ECP-384: INVALID_KE_PAYLOAD first
    assert ", aes128-sha256-modp2048, " in out and "ENCR_AES_CBC-128, AUTH_HMAC_SHA2_256_128" in out, out
    # tshark, decrypting with ikelab's tables: the proposal numbers of each SA payload, responses marked
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(tmp_path / "ikelab" / "keys"))
    rows = run_checked(["tshark", "-n", "-r", str(tmp_path / "wire.pcapng"), "-Y", "isakmp.exchangetype == 34 || isakmp.exchangetype == 35",
                        "-T", "fields", "-E", "separator=\t", "-e", "isakmp.exchangetype", "-e", "isakmp.flag_r",
                        "-e", "isakmp.prop.number"], timeout=60, env=env).stdout.splitlines()
    numbers = [tuple(row.split("\t")) for row in rows]
    # charon, asking again after INVALID_KE_PAYLOAD, moves the proposal with the group asked for to the front
    again = "2" if role == "ikelab-initiator" else "1"
    assert numbers == [("34", "0", "1,2"), ("34", "1", ""),  # INVALID_KE_PAYLOAD: no SA payload
                       ("34", "0", "1,2"), ("34", "1", again),
                       ("35", "0", "1,2"), ("35", "1", "2")], numbers


# ----------------------------------------------------------------------------- rekeying, liveness, DELETE

PFS = ["no-pfs", "pfs"]


def _child_rekey_by(who: str, net: Any, charon: Charon, tmp: Path, extra: list[str]) -> str:
    """``ikelab connect`` (A) against charon (B); ``who`` rekeys the CHILD SA once and pings cross the new
    one (ikelab's --rekey-after, or swanctl --rekey).  ikelab must exit 0; returns its output."""
    if who == "ikelab":
        result = connect(net.a, net.b.addr4, tmp / "ikelab", extra=[*extra, "--rekey-after", "0.2"])
        out, status = result.stdout + result.stderr, result.returncode
        assert "(after rekey): 3 sent, 3 replies" in out, out
        assert status == 0, out + charon.diagnostics()
        return out
    proc = start_connect(net.a, net.b.addr4, tmp / "ikelab", extra=[*extra, "--duration", "20"])

    def rekey() -> None:
        proc.wait_for_output("(first CHILD SA): 3 sent", timeout=15)
        charon.swanctl("--rekey", "--child", "net")
        proc.wait_for_output("CHILD SA rekeyed", timeout=10)
        assert net.b.ping(net.a.inner, src=net.b.inner, count=3) == 3  # through the new CHILD SA

    return ikelab_connected(charon, proc, rekey)


@pytest.mark.parametrize("pfs", PFS)
@pytest.mark.parametrize("who", ["ikelab", "charon"])
def test_child_rekey(netns_pair, charon_factory, tshark_env, tmp_path: Path, who: str, pfs: str) -> None:
    """A CHILD SA rekey (RFC 7296 1.3.3) started by ikelab or by charon, with and without PFS; pings before and after."""
    net = netns_pair
    esp = "aes128-sha256-modp2048" if pfs == "pfs" else "aes128-sha256"
    charon = setup_charon(net, charon_factory, tmp_path, "ikelab-initiator", proposals="aes128-sha256-modp2048", esp=esp)
    extra = ["--proposal", "aes128-sha256-modp2048", "--esp-proposal", esp, "--ts", f"{net.a.inner}/32",
             f"{net.b.inner}/32", "--ping", net.b.inner, "--ping-src", net.a.inner, "--quiet"]
    with Capture(net.b, net.b.veth, tmp_path / "wire.pcapng", probe_dst=net.a.addr4) as cap:
        out = _child_rekey_by(who, net, charon, tmp_path, extra)
    assert ("CHILD SA rekeyed with PFS" in out) == (pfs == "pfs"), out
    keys = charon.keys()
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), keys) == 2
    seeds = [len(c["seed"]) for c in keys[0]["children"]]
    assert (seeds[1] > seeds[0]) == (pfs == "pfs")  # g^ir (new) | Ni | Nr with PFS (RFC 7296 2.17)
    rows = tshark_decrypts(cap.path, tmp_path / "ikelab" / "keys")
    assert "36" in [r[0] for r in rows]


@pytest.mark.parametrize("who", ["ikelab", "charon"])
def test_child_rekey_invalid_ke(netns_pair, charon_factory, tmp_path: Path, who: str) -> None:
    """A PFS rekey whose KE is for a group the other side does not take: INVALID_KE_PAYLOAD in
    CREATE_CHILD_SA, then the same rekey with the group asked for (RFC 7296 1.3, 1.3.3).

    The rekeying side offers MODP-2048 and ECP-256 and guesses MODP-2048; the other accepts only ECP-256.
    """
    net = netns_pair
    both, ecp_only = "aes128-sha256-modp2048-ecp256", "aes128-sha256-ecp256"
    charon = setup_charon(net, charon_factory, tmp_path, "ikelab-initiator", proposals="aes128-sha256-modp2048",
                          esp=both if who == "charon" else ecp_only)
    extra = ["--proposal", "aes128-sha256-modp2048", "--esp-proposal", ecp_only if who == "charon" else both,
             "--ts", f"{net.a.inner}/32", f"{net.b.inner}/32", "--ping", net.b.inner, "--ping-src", net.a.inner,
             "--quiet"]
    out = _child_rekey_by(who, net, charon, tmp_path, extra)
    charon.wait_for_log("DH group MODP_2048 unacceptable, requesting ECP_256" if who == "ikelab"
                        else "peer didn't accept DH group MODP_2048, it requested ECP_256")
    assert "CHILD SA rekeyed with PFS" in out, out
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), charon.keys()) == 2


@pytest.mark.parametrize("who", ["ikelab", "charon"])
def test_ike_rekey(netns_pair, charon_factory, tmp_path: Path, who: str) -> None:
    """An IKE SA rekey (RFC 7296 1.3.2, 2.18) by either side: charon logs a new SKEYSEED that ikelab matches."""
    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, "ikelab-initiator", proposals="aes128-sha256-modp2048",
                          esp="aes128-sha256")
    extra = ["--proposal", "aes128-sha256-modp2048", "--esp-proposal", "aes128-sha256", "--ts", f"{net.a.inner}/32",
             f"{net.b.inner}/32", "--quiet"]
    proc = start_connect(net.a, net.b.addr4, tmp_path / "ikelab",
                         extra=[*extra, "--duration", "20"] + (["--rekey-ike-after", "0.2"] if who == "ikelab" else []))

    def rekey() -> None:
        if who == "charon":
            charon.swanctl("--rekey", "--ike", "lab")
        proc.wait_for_output("IKE SA rekeyed", timeout=10)
        assert net.b.ping(net.a.inner, src=net.b.inner, count=2) == 2  # the CHILD SA moved to the new IKE SA

    ikelab_connected(charon, proc, rekey)
    keys = charon.keys()
    assert len(keys) == 2  # the original IKE SA and its replacement
    check_keys_against_charon(read_keys(tmp_path / "ikelab"), keys)


@pytest.mark.parametrize("who", ["ikelab", "charon"])
def test_liveness(netns_pair, charon_factory, tmp_path: Path, who: str) -> None:
    """Liveness checks (empty INFORMATIONAL, RFC 7296 1.4) sent by ikelab (--dpd) or charon (dpd_delay)."""
    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, "ikelab-initiator", proposals="aes128-sha256-modp2048",
                          esp="aes128-sha256", extra={"dpd_delay": "1s"} if who == "charon" else {})
    extra = ["--proposal", "aes128-sha256-modp2048", "--esp-proposal", "aes128-sha256", "--ts", f"{net.a.inner}/32",
             f"{net.b.inner}/32", "--duration", "2.5"] + (["--dpd", "0.5"] if who == "ikelab" else [])
    result = connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=extra)
    out = result.stdout
    assert result.returncode == 0, out + charon.diagnostics()
    if who == "ikelab":
        assert out.count(": alive") >= 2, out
    else:
        assert "INFORMATIONAL MID=00 Responder Request" in out, out  # charon's empty request
        assert "INFORMATIONAL MID=00 Initiator Response" in out, out


@pytest.mark.parametrize("role", ROLES)
def test_delete_by_charon_and_by_ikelab(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """DELETE (RFC 7296 1.4.1) from each side: charon terminates while ikelab connects; ikelab ends while responding."""
    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048", esp="aes128-sha256")
    me, peer = (net.a, net.b) if role == "ikelab-initiator" else (net.b, net.a)
    extra = ["--proposal", "aes128-sha256-modp2048", "--esp-proposal", "aes128-sha256", "--ts", f"{me.inner}/32",
             f"{peer.inner}/32"]
    if role == "ikelab-initiator":  # charon deletes
        proc = start_connect(me, peer.addr4, tmp_path / "ikelab", extra=[*extra, "--duration", "20"])
        try:
            proc.wait_for_output("CHILD SA installed", timeout=15)
            charon.terminate(ike="lab")
            status = proc.wait(10)
        finally:
            proc.close()
        out = proc.output()
        assert status == 0 and "deleted by peer" in out and "sending DELETE" not in out, out
    else:  # ikelab deletes after --duration
        proc = respond(me, tmp_path / "ikelab", extra=[*extra, "--duration", "0.5"])
        try:
            charon.initiate(child="net")
            status = proc.wait(10)
        finally:
            proc.close()
        out = proc.output()
        assert status == 0 and "sending DELETE" in out, out
        charon.wait_for_sa(lambda sas: not sas, timeout=5)
        assert "received DELETE for IKE_SA" in charon.log_text()


def _refused_handshake(net: Any, charon: Any, tmp: Path, role: str, **ikelab: Any) -> tuple[str, int]:
    """ikelab (aes128-sha256-modp2048) meets charon in ``role`` for a handshake that must fail:
    its output and exit status."""
    me, peer = (net.a, net.b) if role == "ikelab-initiator" else (net.b, net.a)
    extra = ["--proposal", "aes128-sha256-modp2048", "--esp-proposal", "aes128-sha256"]
    if "extra_ts" in ikelab:
        extra += ["--ts", *ikelab.pop("extra_ts")]
    if role == "ikelab-initiator":
        result = connect(me, peer.addr4, tmp / "ikelab", extra=extra, **ikelab)
        return result.stdout, result.returncode
    proc = respond(me, tmp / "ikelab", extra=[*extra, "--wait", "8"], **ikelab)
    try:
        charon.swanctl("--initiate", "--child", "net", "--timeout", "5", check=False, timeout=15)
        status = proc.wait(15)
    finally:
        proc.close()
    return proc.output(), status


@pytest.mark.parametrize("role", ROLES)
def test_wrong_psk(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """Different PSKs: both report the authentication failure (RFC 7296 2.15, 2.21.2)."""
    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                          esp="aes128-sha256", psk="the-right-one")
    out, status = _refused_handshake(net, charon, tmp_path, role, psk="a-wrong-one")
    assert status == 4, out
    assert "AUTHENTICATION_FAILED" in out
    # charon: "generating IKE_AUTH response 1 [ N(AUTH_FAILED) ]" or "received AUTHENTICATION_FAILED notify error"
    charon.wait_for_log("AUTH_FAILED" if role == "ikelab-initiator" else "received AUTHENTICATION_FAILED")


@pytest.mark.parametrize("role", ROLES)
def test_no_common_proposal(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """No IKE proposal in common: NO_PROPOSAL_CHOSEN (RFC 7296 2.7), reported by both."""
    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, role, proposals="aes256-sha384-modp3072", esp="aes128-sha256")
    out, status = _refused_handshake(net, charon, tmp_path, role)
    assert status == 5, out
    assert "NO_PROPOSAL_CHOSEN" in out
    # charon writes it N(NO_PROP): sent as responder, received as initiator
    charon.wait_for_log("generating IKE_SA_INIT response 0 [ N(NO_PROP) ]" if role == "ikelab-initiator"
                        else "received NO_PROPOSAL_CHOSEN")


def test_child_rekey_by_ikelab_responder(netns_pair, charon_factory, tmp_path: Path) -> None:
    """ikelab as responder rekeys the CHILD SA charon created (RFC 7296 1.3.3); pings cross before and after."""
    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, "ikelab-responder", proposals="aes128-sha256-modp2048",
                          esp="aes128-sha256")
    extra = ["--proposal", "aes128-sha256-modp2048", "--esp-proposal", "aes128-sha256", "--ts", f"{net.b.inner}/32",
             f"{net.a.inner}/32", "--rekey-after", "1", "--quiet"]
    proc = respond(net.b, tmp_path / "ikelab", extra=extra)
    try:
        charon.initiate(child="net")
        assert net.a.ping(net.b.inner, src=net.a.inner, count=2) == 2
        proc.wait_for_output("CHILD SA rekeyed", timeout=10)
        charon.wait_for_log("CHILD_SA net{2} established")
        assert net.a.ping(net.b.inner, src=net.a.inner, count=2) == 2
        charon.terminate(ike="lab")
        status = proc.wait(15)
    finally:
        proc.close()
    assert status == 0, proc.output()
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), charon.keys()) == 2


def test_cookie_demanded_by_charon(netns_pair, charon_factory, tmp_path: Path) -> None:
    """charon with one half-open SA demands a COOKIE (RFC 7296 2.6): ikelab repeats IKE_SA_INIT with it."""
    from interop.netns import udp_exchange
    from interop.test_harness import _stored_ike_sa_init_request

    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, "ikelab-initiator", proposals="aes128-sha256-modp2048",
                          esp="aes128-sha256", cookie_threshold=1)
    assert net.a.call(udp_exchange, net.b.addr4, 500, _stored_ike_sa_init_request(), timeout=3.0, _timeout=20)
    result = connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=[
        "--proposal", "aes128-sha256-modp2048", "--esp-proposal", "aes128-sha256",
        "--ts", f"{net.a.inner}/32", f"{net.b.inner}/32"])
    assert result.returncode == 0, result.stdout + charon.diagnostics()
    assert "generating IKE_SA_INIT response 0 [ N(COOKIE) ]" in charon.log_text()
    assert result.stdout.count("IKE_SA_INIT MID=00 Initiator Request") == 2, result.stdout


@pytest.mark.parametrize("role", ROLES)
def test_traffic_selectors_unacceptable(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """Selectors with nothing in common: the responder answers IKE_AUTH with TS_UNACCEPTABLE and keeps the
    IKE SA (RFC 7296 2.9, 2.21.3); ikelab reports it (exit status 5) and DELETEs the IKE SA it cannot use."""
    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048", esp="aes128-sha256")
    # charon's selectors are the inner /32s (setup_charon); ikelab's are other addresses of the same networks
    mine = ("198.51.100.77/32", "203.0.113.77/32") if role == "ikelab-initiator" else ("203.0.113.77/32",
                                                                                       "198.51.100.77/32")
    out, status = _refused_handshake(net, charon, tmp_path, role, extra_ts=mine)
    assert status == 5, out
    assert "IKE SA up, but no CHILD SA: TS_UNACCEPTABLE" in out, out
    assert "sending DELETE for the IKE SA" in out, out
    if role == "ikelab-initiator":
        charon.wait_for_log("traffic selectors 203.0.113.77/32 === 198.51.100.77/32 unacceptable")
    else:
        charon.wait_for_log("received TS_UNACCEPTABLE notify, no CHILD_SA built")
    charon.wait_for_log("received DELETE for IKE_SA lab[1]")
    charon.wait_for_sa(lambda sas: not sas, timeout=5)


def test_ike_fragments_forced_on_ikelab_are_dropped_with_a_reason(netns_pair, charon_factory,
                                                                    tmp_path: Path) -> None:
    """charon told to ``fragmentation = force`` sends IKE_AUTH in SKF fragments although ikelab never sent
    IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 2.5).  ikelab drops each fragment (the first one was once taken
    for a whole IKE_AUTH request without payloads) and its timeout says why no IKE SA came up."""
    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, "ikelab-responder", proposals="aes128-sha256-modp2048",
                          esp="aes128-sha256", charon_conf={"fragment_size": 300},
                          extra={"fragmentation": "force"})
    out, status = _refused_handshake(net, charon, tmp_path, "ikelab-responder")
    assert status == 3, out
    assert ("(last message dropped: an IKE fragment (SKF, RFC 7383), but IKE fragmentation was not "
            "negotiated)") in out, out
    charon.wait_for_log("generating IKE_AUTH request 1 [ EF(1/")  # charon's log names SKF fragments "EF"


def test_a_crashed_run_is_replaced_thanks_to_initial_contact(netns_pair, charon_factory, tmp_path: Path) -> None:
    """An ``ikelab connect`` killed without its DELETE leaves an IKE SA on charon.  The next run says
    N(INITIAL_CONTACT) (RFC 7296 2.4), and charon drops the stale IKE SA at once instead of keeping it
    until its liveness checks fail: after the second run's DELETE, charon holds nothing."""
    import signal as signals

    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, "ikelab-initiator", proposals="aes128-sha256-modp2048",
                          esp="aes128-sha256")
    extra = ["--proposal", "aes128-sha256-modp2048", "--esp-proposal", "aes128-sha256", "--ts",
             f"{net.a.inner}/32", f"{net.b.inner}/32"]
    crashed = start_connect(net.a, net.b.addr4, tmp_path / "first", extra=[*extra, "--duration", "60"])
    try:
        crashed.wait_for_output("CHILD SA installed", timeout=15)
    finally:
        crashed.proc.send_signal(signals.SIGKILL)  # no DELETE: the IKE SA stays on charon
        crashed.wait(10)
    charon.wait_for_sa(lambda sas: len(sas) == 1, timeout=5)
    result = connect(net.a, net.b.addr4, tmp_path / "second", extra=extra)
    assert result.returncode == 0, result.stdout + result.stderr
    charon.wait_for_log(f"destroying duplicate IKE_SA for peer '{ID_INITIATOR}', received INITIAL_CONTACT")
    charon.wait_for_sa(lambda sas: not sas, timeout=5)  # the stale IKE SA went with the INITIAL_CONTACT


def _charon_to_ikelab(net: Any, factory: Any, tmp: Path, *, esp: str = "aes128-sha256",
                      ikelab_extra: tuple[str, ...] = (), **charon_kwargs: Any) -> tuple[Charon, Any]:
    """charon in A (running, connection loaded, not initiating) and ``ikelab respond`` listening in B, both on
    aes128-sha256-modp2048 and ``esp``, for the inner /32s (start with ``charon_initiates``)."""
    charon = setup_charon(net, factory, tmp, "ikelab-responder", proposals="aes128-sha256-modp2048", esp=esp,
                          **charon_kwargs)
    proc = respond(net.b, tmp / "ikelab", extra=["--proposal", "aes128-sha256-modp2048", "--esp-proposal", esp,
                                                 "--ts", f"{net.b.inner}/32", f"{net.a.inner}/32", *ikelab_extra])
    return charon, proc


def test_second_child_sa_from_charon(netns_pair, charon_factory, tmp_path: Path) -> None:
    """charon adds a second CHILD SA, for TCP port 80 only, with CREATE_CHILD_SA (RFC 7296 1.3.1).

    ikelab's policy covers all traffic between the inner addresses, so it
    accepts the narrower selectors as they are (2.9).  Its SPD must then still
    send the ICMP echo replies over the first CHILD SA, not the TCP-only one.
    """
    net = netns_pair
    web = {"local_ts": f"{net.a.inner}/32[tcp]", "remote_ts": f"{net.b.inner}/32[tcp/80]",
           "esp_proposals": "aes128-sha256", "start_action": "none"}
    charon, proc = _charon_to_ikelab(net, charon_factory, tmp_path, extra={"children": {"web": web}})

    def second_child() -> None:
        charon.initiate(child="web")
        sa = charon.wait_for_sa(lambda sas: sas and len(sas[0].get("child-sas", {})) == 2)[0]
        children = {c["name"]: c for c in sa["child-sas"].values()}
        assert children["web"]["state"] == "INSTALLED", children
        assert children["web"]["remote-ts"] == [f"{net.b.inner}/32[tcp/http]"], children
        proc.wait_for_output(f"{net.b.inner}/32[6/80] === {net.a.inner}/32[6]", timeout=5)  # 6: TCP
        assert net.a.ping(net.b.inner, src=net.a.inner, count=3) == 3  # ICMP still over the first CHILD SA

    out = charon_initiates(charon, proc, net.a, net.b, then=second_child)
    assert out.count("CHILD SA installed") == 2, out
    assert "CREATE_CHILD_SA MID=02 Initiator Request" in out, out
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), charon.keys()) == 2


def test_child_sa_deleted_and_created_again_by_charon(netns_pair, charon_factory, tmp_path: Path) -> None:
    """charon deletes only the CHILD SA (RFC 7296 1.4.1): ikelab answers with its own SPI and keeps the IKE SA;
    charon then creates a new CHILD SA on that IKE SA with CREATE_CHILD_SA (1.3.1), and pings cross it."""
    net = netns_pair
    charon, proc = _charon_to_ikelab(net, charon_factory, tmp_path)

    def delete_then_create() -> None:
        (first,) = charon.list_sas()[0]["child-sas"].values()
        charon.swanctl("--terminate", "--child", "net")
        sa = charon.wait_for_sa(lambda sas: sas and not sas[0].get("child-sas"))[0]
        assert sa["state"] == "ESTABLISHED", sa  # the IKE SA stands
        proc.wait_for_output(f"CHILD SA deleted: SPI in 0x{first['spi-out']} (deleted by peer)", timeout=5)
        charon.initiate(child="net")
        (second,) = charon.wait_for_sa(lambda sas: sas and sas[0].get("child-sas"))[0]["child-sas"].values()
        assert second["spi-in"] != first["spi-in"]
        assert net.a.ping(net.b.inner, src=net.a.inner, count=3) == 3

    out = charon_initiates(charon, proc, net.a, net.b, then=delete_then_create)
    assert "INFORMATIONAL MID=02 Initiator Request" in out and "CREATE_CHILD_SA MID=03 Initiator Request" in out, out
    assert out.count("CHILD SA installed") == 2 and out.count("IKE SA established") == 1, out
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), charon.keys()) == 2


def test_dead_peer_found_by_liveness_checks(netns_pair, charon_factory, nft_env, tmp_path: Path) -> None:
    """charon stops answering (everything it sends is dropped): ikelab's liveness check goes unanswered
    through its retransmissions, so it considers charon dead and ends the SAs (RFC 7296 2.4)."""
    from interop.netns import NFT

    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, "ikelab-initiator", proposals="aes128-sha256-modp2048",
                          esp="aes128-sha256")
    proc = start_connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=[
        "--proposal", "aes128-sha256-modp2048", "--esp-proposal", "aes128-sha256", "--ts", f"{net.a.inner}/32",
        f"{net.b.inner}/32", "--dpd", "0.5", "--retransmit-timeout", "0.3", "--retransmit-tries", "2",
        "--duration", "30"])
    try:
        proc.wait_for_output(": alive", timeout=15)
        net.a.run(NFT, "-f", "-", input=b"table inet dead {\n chain input {\n  type filter hook input priority 0;\n"
                                         b"  ip saddr 192.0.2.2 drop\n }\n}\n")
        status = proc.wait(15)
    finally:
        proc.close()
    out = proc.output()
    assert status == 3, out  # EXIT_TIMEOUT: the peer stopped answering
    lost = re.search(r"liveness check MID=(\d+): no answer", out)
    assert ": alive" in out and lost, out
    mid = int(lost.group(1))  # the first check after the drop (2, unless the rule took longer than --dpd)
    assert out.count(f"INFORMATIONAL MID={mid:02d} Initiator Request") == 3, out  # the request, 2 retransmissions
    assert "IKE SA deleted" in out and "sending DELETE" not in out, out  # nobody left to tell
    assert out.rstrip().endswith("FAILED: IKE SA and CHILD SA established, but then no response to INFORMATIONAL "
                                 f"message ID {mid} after 2 retransmissions (exit status 3)"), out


def test_child_rekey_after_ike_rekey_by_charon(netns_pair, charon_factory, tmp_path: Path) -> None:
    """charon rekeys the IKE SA, then the CHILD SA that moved to the new IKE SA (RFC 7296 2.18, 2.8):
    ikelab must find the CHILD SA under the new IKE SA and derive its keys from the new SK_d."""
    net = netns_pair
    charon, proc = _charon_to_ikelab(net, charon_factory, tmp_path, esp="aes128-sha256-modp2048")

    def rekeys() -> None:
        charon.swanctl("--rekey", "--ike", "lab")
        proc.wait_for_output("IKE SA rekeyed", timeout=10)
        charon.wait_for_log("IKE_SA lab[2] rekeyed")
        charon.swanctl("--rekey", "--child", "net")
        proc.wait_for_output("CHILD SA rekeyed with PFS", timeout=10)
        charon.wait_for_log("CHILD_SA net{2} established")
        assert net.a.ping(net.b.inner, src=net.a.inner, count=3) == 3

    out = charon_initiates(charon, proc, net.a, net.b, then=rekeys)
    keys = charon.keys()
    assert len(keys) == 2, keys  # the first IKE SA and its replacement
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), keys) == 2
    assert "CREATE_CHILD_SA MID=02 Initiator Request" in out and "CREATE_CHILD_SA MID=00 Initiator Request" in out, out


@pytest.mark.parametrize("role", ROLES)
def test_default_proposals_on_both_sides(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """Neither side names proposals: ikelab's defaults meet strongSwan's ``default`` lists."""
    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, role, proposals="default", esp="default")
    me, peer = (net.a, net.b) if role == "ikelab-initiator" else (net.b, net.a)
    extra = ["--ts", f"{me.inner}/32", f"{peer.inner}/32", "--quiet"]
    if role == "ikelab-initiator":
        result = connect(me, peer.addr4, tmp_path / "ikelab", extra=[*extra, "--ping", peer.inner])
        out = result.stdout
        assert result.returncode == 0, out + charon.diagnostics()
        assert "3 sent, 3 replies" in out, out
    else:
        proc = respond(me, tmp_path / "ikelab", extra=extra)
        out = charon_initiates(charon, proc, net.a, net.b)
    # one of ikelab's default IKE proposals (config.DEFAULT_IKE_PROPOSALS), whichever charon's list favours
    suite = re.search(r"IKE SA established: .*?, (\S+), ", out)
    assert suite and suite.group(1) in DEFAULT_IKE_PROPOSALS, out
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), charon.keys()) == 1


@pytest.mark.parametrize("role", ROLES)
def test_icmp_only_selectors(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """Selectors for ICMP only (IP protocol 1, RFC 7296 3.13.1) on both sides: the pings cross the CHILD SA."""
    net = netns_pair
    me, peer = (net.a, net.b) if role == "ikelab-initiator" else (net.b, net.a)  # ikelab's side, charon's
    _, out = run_handshake(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                           esp="aes128-sha256", ikelab_ts=(f"{me.inner}/32[icmp]", f"{peer.inner}/32[icmp]"),
                           local_ts=f"{peer.inner}/32[icmp]", remote_ts=f"{me.inner}/32[icmp]")
    assert f"{me.inner}/32[1] === {peer.inner}/32[1]" in out, out


def test_rekeys_started_by_ikelab_as_the_original_responder(netns_pair, charon_factory, tmp_path: Path) -> None:
    """ikelab answered IKE_SA_INIT, then rekeys the CHILD SA and the IKE SA itself (RFC 7296 2.8, 2.18).

    In the new IKE SA ikelab is the original initiator: SPIi is its SPI, and SK_ei/SK_ai protect what it sends.
    charon must accept both rekeys, and every key must match charon's log.
    """
    net = netns_pair
    charon, proc = _charon_to_ikelab(net, charon_factory, tmp_path, esp="aes128-sha256-modp2048",
                                     ikelab_extra=("--rekey-after", "0.2", "--rekey-ike-after", "0.2"))

    def rekeys() -> None:
        proc.wait_for_output("IKE SA rekeyed", timeout=10)
        charon.wait_for_log("IKE_SA lab[2] rekeyed")
        assert net.a.ping(net.b.inner, src=net.a.inner, count=3) == 3  # the rekeyed CHILD SA, on the new IKE SA

    out = charon_initiates(charon, proc, net.a, net.b, then=rekeys)
    assert "CHILD SA rekeyed with PFS" in out and "CREATE_CHILD_SA MID=00 Responder Request" in out, out
    keys = charon.keys()
    assert len(keys) == 2, keys  # the first IKE SA and the one ikelab's rekey made
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), keys) == 2


def test_ipv6_inside_the_tunnel(netns_pair, charon_factory, tmp_path: Path) -> None:
    """IPv6 traffic selectors and ICMPv6 echoes inside ESP (next header 41), over IPv4 outer addresses.

    ikelab pings (its ICMPv6 checksum covers the IPv6 pseudo-header, RFC 4443 2.3); charon's kernel answers.
    """
    from interop.netns import IP

    net = netns_pair
    inner6 = {net.a: "2001:db8:a::1", net.b: "2001:db8:b::1"}
    for ns, addr in inner6.items():
        ns.run(IP, "-6", "addr", "add", f"{addr}/128", "dev", "lo")
    charon = setup_charon(net, charon_factory, tmp_path, "ikelab-initiator", proposals="aes128-sha256-modp2048",
                          esp="aes128-sha256", local_ts=f"{inner6[net.b]}/128", remote_ts=f"{inner6[net.a]}/128")
    result = connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=[
        "--proposal", "aes128-sha256-modp2048", "--esp-proposal", "aes128-sha256",
        "--ts", f"{inner6[net.a]}/128", f"{inner6[net.b]}/128", "--ping", inner6[net.b], "--quiet"])
    out = result.stdout + result.stderr
    assert result.returncode == 0, out + charon.diagnostics()
    assert f"{inner6[net.a]}/128 === {inner6[net.b]}/128" in out, out
    assert f"ping {inner6[net.a]} -> {inner6[net.b]} through ESP (first CHILD SA): 3 sent, 3 replies" in out, out
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), charon.keys()) == 1


def test_cookie_demanded_by_ikelab(netns_pair, charon_factory, tmp_path: Path) -> None:
    """``ikelab respond --cookie-threshold 0`` answers every IKE_SA_INIT without a COOKIE with N(COOKIE)
    (RFC 7296 2.6); charon repeats its request with the cookie first, and ikelab accepts it."""
    net = netns_pair
    charon, proc = _charon_to_ikelab(net, charon_factory, tmp_path, ikelab_extra=("--cookie-threshold", "0"))
    out = charon_initiates(charon, proc, net.a, net.b)
    assert out.count("IKE_SA_INIT MID=00 Initiator Request") == 2, out
    assert out.count("IKE SA established") == 1, out
    log = charon.log_text()
    assert "parsed IKE_SA_INIT response 0 [ N(COOKIE) ]" in log, log[-3000:]
    assert "generating IKE_SA_INIT request 0 [ N(COOKIE) SA KE No" in log, log[-3000:]  # the cookie comes first
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), charon.keys()) == 1


def test_cookie_then_invalid_ke_from_ikelab(netns_pair, charon_factory, tmp_path: Path) -> None:
    """Both stateless refusals in a row (RFC 7296 2.6, 1.2): ikelab demands a COOKIE, then refuses charon's
    KEi group; charon's third IKE_SA_INIT carries the cookie and a KEi in the group asked for."""
    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, "ikelab-responder",
                          proposals="aes128-sha256-ecp256-modp2048", esp="aes128-sha256")
    proc = respond(net.b, tmp_path / "ikelab", extra=[
        "--proposal", "aes128-sha256-modp2048", "--esp-proposal", "aes128-sha256", "--cookie-threshold", "0",
        "--ts", f"{net.b.inner}/32", f"{net.a.inner}/32"])
    out = charon_initiates(charon, proc, net.a, net.b)
    assert out.count("IKE_SA_INIT MID=00 Initiator Request") == 3, out
    log = charon.log_text()
    answers = re.findall(r"parsed IKE_SA_INIT response 0 \[ ([^\]]*)\]", log)
    assert answers[:2] == ["N(COOKIE) ", "N(INVAL_KE) "], answers
    assert "peer didn't accept DH group ECP_256, it requested MODP_2048" in log
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), charon.keys()) == 1



@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("mbb", ["make-before-break", "break-before-make"])
def test_reauthentication_by_charon(netns_pair, charon_factory, tmp_path: Path, role: str, mbb: str) -> None:
    """charon reauthenticates (``swanctl --rekey --reauth``): a whole new IKE SA, then the old one deleted
    (RFC 7296 2.8.3), or, break-before-make, the DELETE first and at once a new IKE_SA_INIT (strongSwan's
    default).  ikelab answers the new IKE SA in either role, moves to it, and pings cross its CHILD SA.

    Break-before-make once ended ikelab's run at the DELETE, so charon's new IKE_SA_INIT went unanswered."""
    net = netns_pair
    conf = {"make_before_break": "yes" if mbb == "make-before-break" else "no"}
    if role == "ikelab-responder":
        charon, proc = _charon_to_ikelab(net, charon_factory, tmp_path, charon_conf=conf)
        pinger, target = net.a, net.b
    else:
        charon = setup_charon(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                              esp="aes128-sha256", charon_conf=conf)
        proc = start_connect(net.a, net.b.addr4, tmp_path / "ikelab", extra=[
            "--proposal", "aes128-sha256-modp2048", "--esp-proposal", "aes128-sha256", "--ts",
            f"{net.a.inner}/32", f"{net.b.inner}/32", "--ping", net.b.inner, "--ping-src", net.a.inner,
            "--duration", "20"])
        pinger, target = net.b, net.a

    def reauth() -> None:
        if role == "ikelab-initiator":
            proc.wait_for_output("(first CHILD SA): 3 sent", timeout=15)
        charon.swanctl("--rekey", "--ike", "lab", "--reauth")
        charon.wait_for_log("IKE_SA lab[2] established")
        charon.wait_for_sa(lambda sas: len(sas) == 1 and sas[0].get("child-sas"), timeout=10)
        assert pinger.ping(target.inner, src=pinger.inner, count=3) == 3  # through the new IKE SA's CHILD SA

    if role == "ikelab-responder":
        out = charon_initiates(charon, proc, net.a, net.b, then=reauth)
    else:
        out = ikelab_connected(charon, proc, reauth)
    assert check_keys_against_charon(read_keys(tmp_path / "ikelab"), charon.keys()) == 2
    assert ("reauthentication (RFC 7296 2.8.3), followed" in out) == (mbb == "break-before-make"), out
