"""ikelab against strongSwan's charon, in both roles where both make sense.

IKE_AUTH: certificates and signatures, identities, a wrong PSK
(RFC 7296 2.15, 3.5, 3.6; RFC 7427, RFC 8420).

The set-up they share (charon, the handshake and its checks) is in ``interop/scenarios.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from interop.netns import run_checked
from interop.swanctl import ID_INITIATOR, ID_RESPONDER
from interop.scenarios import ROLES, refused_handshake, run_handshake, setup_charon

pytestmark = [pytest.mark.strongswan, pytest.mark.usefixtures("tshark_env")]


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
            assert row.decrypted and info == row.inner_info, (row, line)
        else:
            assert (row.src, row.dst, row.protocol, row.info) == (src, dst, proto, info), (row, line)
    auth = [r for r in rows if r.exchange == "IKE_AUTH"]
    version = 6 if v6 else 4
    assert len(auth) == 2 and all(r.decrypted and f" IPv{version} fragments (" in r.note for r in auth), auth
    assert "CERT" in auth[0].inner_payloads
    assert sum(r.protocol == f"IPv{version}" for r in rows) >= 2  # the pieces before each completing frame


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("v6, proposals, esp", [
    (False, "aes128-sha256-modp2048", "aes128-sha256"),
    (True, "aes256gcm16-prfsha384-ecp384", "aes256gcm16"),  # AEAD: each piece's SKF header is associated data
], ids=["ipv4-cbc", "ipv6-gcm"])
def test_ike_auth_in_rfc_7383_fragments(netns_pair, charon_factory, tmp_path: Path, role: str, v6: bool,
                                        proposals: str, esp: str) -> None:
    """The same RSA chains with IKE fragmentation (RFC 7383) on both sides and 576-octet fragments
    (its IPv4 size, 2.5.1): each IKE_AUTH goes out in SKF pieces that no IP packet on the wire
    exceeds, charon joins ikelab's and ikelab charon's, and ikelab's dissection of the capture
    reads every frame as ``tshark -2`` does (``(fragment 3/3) (reassembled)`` on the last piece)."""
    from ikelab.dissect import dissect

    charon, _ = run_handshake(netns_pair, charon_factory, tmp_path, role, proposals=proposals,
                              esp=esp, key_type="rsa", under_intermediate=(ID_INITIATOR, ID_RESPONDER),
                              v6=v6, ikelab_extra=("--fragment-size", "576"), charon_conf={"fragment_size": 576},
                              extra={"fragmentation": "yes"})
    charon.wait_for_log("reassembled fragmented IKE message")
    charon.wait_for_log("generating IKE_AUTH " + ("response" if role == "ikelab-initiator" else "request")
                        + " 1 [ EF(1/")
    keys = tmp_path / "ikelab" / "keys"
    rows = dissect(tmp_path / "wire.pcapng", keys)
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(keys))
    theirs = run_checked(["tshark", "-2", "-n", "-r", str(tmp_path / "wire.pcapng"), "-T", "fields", "-E",
                          "separator=\t", "-e", "_ws.col.Protocol", "-e", "_ws.col.Info", "-e", "ip.len", "-e",
                          "ipv6.plen"], timeout=60, env=env).stdout.splitlines()
    assert len(rows) == len(theirs)
    auth = []
    for row, line in zip(rows, theirs):
        proto, info, ip_len, ipv6_len = line.split("\t")
        if row.kind == "ike":
            assert (row.protocol, row.info) == (proto, info), (row, line)
        if row.exchange == "IKE_AUTH":
            auth.append(row)
            size = int(ip_len) if ip_len else int(ipv6_len) + 40
            assert size <= 576, (row, line)  # IKE split the message: the kernels had nothing to fragment
    joined = [r for r in auth if r.info.endswith("(reassembled)")]
    assert len(joined) == 2 and all(r.decrypted and "IKE fragments" in r.note for r in joined), auth
    assert len(auth) > 4 and joined[0].inner_payloads.count("CERT") == 2


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
def test_wrong_psk(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """Different PSKs: both report the authentication failure (RFC 7296 2.15, 2.21.2)."""
    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                          esp="aes128-sha256", psk="the-right-one")
    out, status = refused_handshake(net, charon, tmp_path, role, psk="a-wrong-one")
    assert status == 4, out
    assert "AUTHENTICATION_FAILED" in out
    # charon: "generating IKE_AUTH response 1 [ N(AUTH_FAILED) ]" or "received AUTHENTICATION_FAILED notify error"
    charon.wait_for_log("AUTH_FAILED" if role == "ikelab-initiator" else "received AUTHENTICATION_FAILED")
