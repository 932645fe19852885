"""ESP transport mode (RFC 4301 4.1, RFC 4303 3.1.1): ``ikelab connect|respond --mode transport``.

Transport mode is asked for with N(USE_TRANSPORT_MODE) (RFC 7296 1.3.1); the
traffic selectors are the two IKE addresses, and ESP carries the upper layer
of the hosts' own packets, UDP-encapsulated on port 4500 (RFC 3948).

charon cannot carry transport-mode ESP in this set-up: the kernel has no ESP
(``ip xfrm state add ... proto esp`` fails with "Requested type not found"),
and kernel-libipsec, its userspace ESP, installs tunnel-mode SAs only (it logs
"IPsec SA: unsupported mode" for any other).  So against charon these tests
check the negotiation, in both roles, and what each side does with a CHILD SA
the other could not install; the ESP itself crosses between two ikelab peers,
and tshark, decrypting the capture, finds the echoes right after the ESP
header, with no inner IP header.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from interop.capture import Capture, run_checked
from interop.ikelab_peer import check_keys_against_charon, connect, read_keys, respond, until_charon_terminates
from interop.scenarios import ROLES, setup_charon

pytestmark = [pytest.mark.strongswan, pytest.mark.usefixtures("tshark_env")]

SUITE = ["--proposal", "aes128-sha256-modp2048", "--esp-proposal", "aes128-sha256"]


@pytest.mark.parametrize("role", ROLES)
def test_transport_mode_negotiated_with_charon(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """Both sides agree on transport mode for the IKE addresses' /32s; charon then fails to install it
    (kernel-libipsec: tunnel mode only).  As responder it answers IKE_AUTH with NO_PROPOSAL_CHOSEN instead of
    the CHILD SA, and ikelab deletes the IKE SA it cannot use (exit status 5); as initiator it deletes the CHILD
    SA ikelab installed (RFC 7296 1.4.1), whose keys are the ones charon derived."""
    net = netns_pair
    me, peer = (net.a, net.b) if role == "ikelab-initiator" else (net.b, net.a)  # ikelab's side, charon's
    charon = setup_charon(net, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                          esp="aes128-sha256", local_ts=f"{peer.addr4}/32", remote_ts=f"{me.addr4}/32",
                          child_extra={"mode": "transport"})
    extra = [*SUITE, "--mode", "transport", "--ts", f"{me.addr4}/32", f"{peer.addr4}/32", "--quiet"]
    if role == "ikelab-initiator":
        result = connect(me, peer.addr4, tmp_path / "ikelab", extra=extra)
        out = result.stdout + result.stderr
        assert result.returncode == 5, out + charon.diagnostics()
        assert "IKE SA up, but no CHILD SA: NO_PROPOSAL_CHOSEN" in out, out
        assert "sending DELETE for the IKE SA" in out, out
        charon.wait_for_log("parsed IKE_AUTH request 1 [ IDi N(INIT_CONTACT) AUTH N(USE_TRANSP) SA TSi TSr ]")
        charon.wait_for_log("generating IKE_AUTH response 1 [ IDr AUTH N(NO_PROP) ]")
    else:
        proc = respond(me, tmp_path / "ikelab", extra=extra)

        def refused() -> None:
            charon.swanctl("--initiate", "--child", "net", "--timeout", "5", check=False, timeout=15)
            proc.wait_for_output("CHILD SA deleted", timeout=10)

        out = until_charon_terminates(charon, proc, refused)
        assert f"{me.addr4}/32 === {peer.addr4}/32, UDP-encapsulated, transport mode" in out, out
        assert re.search(r"CHILD SA deleted: SPI in 0x[0-9a-f]{8} \(deleted by peer\)", out), out
        charon.wait_for_log("parsed IKE_AUTH response 1 [ IDr AUTH N(USE_TRANSP) SA TSi TSr ]")
        # charon logged the CHILD SA's KEYMAT but, having failed to install it, not its SPIs: compare by direction
        (child,) = charon.keys()[0]["children"]
        tables = read_keys(tmp_path / "ikelab")
        assert {(row.encr_key, row.auth_key) for row in tables.esp} == {(child["encr_i"], child["integ_i"]),
                                                                        (child["encr_r"], child["integ_r"])}
    charon.wait_for_log("IPsec SA: unsupported mode")  # charon agreed to transport mode, but cannot install it
    check_keys_against_charon(read_keys(tmp_path / "ikelab"), [dict(k, children=[]) for k in charon.keys()])


def test_transport_mode_between_two_ikelab_peers(netns_pair, tmp_path: Path) -> None:
    """``ikelab connect`` (A) pings ``ikelab respond`` (B) over a transport-mode CHILD SA, from its own IKE
    address (the default source in transport mode) to B's; B's userspace ESP answers.  tshark decrypts both ways
    with ikelab's key tables and sees ICMP straight after ESP, under the one (outer) IP header."""
    net = netns_pair
    extra = [*SUITE, "--mode", "transport", "--encap", "always", "--quiet"]  # no NAT here: ESP in UDP on request
    with Capture(net.b, net.b.veth, tmp_path / "wire.pcapng", probe_dst=net.a.addr4) as cap:
        proc = respond(net.b, tmp_path / "b", extra=[*extra, "--wait", "20"])
        try:
            result = connect(net.a, net.b.addr4, tmp_path / "a", extra=[*extra, "--ping", net.b.addr4])
            status = proc.wait(15)
        finally:
            proc.close()
    out = result.stdout + result.stderr
    assert result.returncode == 0 and status == 0, out + proc.output()
    assert f"{net.a.addr4}/32 === {net.b.addr4}/32, UDP-encapsulated, transport mode" in out, out
    assert f"ping {net.a.addr4} -> {net.b.addr4} through ESP (first CHILD SA): 3 sent, 3 replies" in out, out
    argv = ["tshark", "-n", "-r", str(cap.path), "-o", "esp.enable_encryption_decode:TRUE",
            "-o", "esp.enable_authentication_check:TRUE", "-Y", "esp", "-T", "fields", "-E", "separator=\t",
            "-E", "occurrence=a", "-E", "aggregator=,", "-e", "ip.src", "-e", "ip.dst", "-e", "icmp.type"]
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(tmp_path / "a" / "keys"))
    rows = [line.split("\t") for line in run_checked(argv, timeout=60, env=env).stdout.splitlines() if line]
    a, b = net.a.addr4, net.b.addr4
    assert rows == [[a, b, "8"], [b, a, "0"]] * 3, rows  # echo request, reply; no second (inner) address pair
