"""ikelab against strongSwan's charon, in both roles where both make sense.

IKE_SA_INIT and the choice of algorithms: suites, proposals, INVALID_KE_PAYLOAD, COOKIEs
(RFC 7296 1.2, 2.6, 2.7, 3.3).

The set-up they share (charon, the handshake and its checks) is in ``interop/scenarios.py``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ikelab.config import DEFAULT_IKE_PROPOSALS
from interop.ikelab_peer import charon_initiates, check_keys_against_charon, connect, read_keys, respond
from interop.netns import run_checked
from interop.scenarios import ROLES, charon_to_ikelab, refused_handshake, run_handshake, setup_charon

pytestmark = [pytest.mark.strongswan, pytest.mark.usefixtures("tshark_env")]


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
def test_no_common_proposal(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """No IKE proposal in common: NO_PROPOSAL_CHOSEN (RFC 7296 2.7), reported by both."""
    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, role, proposals="aes256-sha384-modp3072", esp="aes128-sha256")
    out, status = refused_handshake(net, charon, tmp_path, role)
    assert status == 5, out
    assert "NO_PROPOSAL_CHOSEN" in out
    # charon writes it N(NO_PROP): sent as responder, received as initiator
    charon.wait_for_log("generating IKE_SA_INIT response 0 [ N(NO_PROP) ]" if role == "ikelab-initiator"
                        else "received NO_PROPOSAL_CHOSEN")


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


def test_cookie_demanded_by_ikelab(netns_pair, charon_factory, tmp_path: Path) -> None:
    """``ikelab respond --cookie-threshold 0`` answers every IKE_SA_INIT without a COOKIE with N(COOKIE)
    (RFC 7296 2.6); charon repeats its request with the cookie first, and ikelab accepts it."""
    net = netns_pair
    charon, proc = charon_to_ikelab(net, charon_factory, tmp_path, ikelab_extra=("--cookie-threshold", "0"))
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


def test_ike_fragments_forced_on_ikelab_are_dropped_with_a_reason(netns_pair, charon_factory,
                                                                    tmp_path: Path) -> None:
    """charon told to ``fragmentation = force`` sends IKE_AUTH in SKF fragments although ikelab never sent
    IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 2.5).  ikelab drops each fragment (the first one was once taken
    for a whole IKE_AUTH request without payloads) and its timeout says why no IKE SA came up."""
    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, "ikelab-responder", proposals="aes128-sha256-modp2048",
                          esp="aes128-sha256", charon_conf={"fragment_size": 300},
                          extra={"fragmentation": "force"})
    out, status = refused_handshake(net, charon, tmp_path, "ikelab-responder")
    assert status == 3, out
    assert ("(last message dropped: an IKE fragment (SKF, RFC 7383), but IKE fragmentation was not "
            "negotiated)") in out, out
    charon.wait_for_log("generating IKE_AUTH request 1 [ EF(1/")  # charon's log names SKF fragments "EF"
