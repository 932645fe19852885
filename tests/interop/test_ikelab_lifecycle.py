"""ikelab against strongSwan's charon, in both roles where both make sense.

After the handshake: rekeying, reauthentication, liveness checks,
DELETE (RFC 7296 1.3, 1.4, 2.4, 2.8).

The set-up they share (charon, the handshake and its checks) is in ``interop/scenarios.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from interop.ikelab_peer import (charon_initiates, check_keys_against_charon, connect, ikelab_connected, read_keys,
                                 respond, start_connect, tshark_decrypts, until_charon_terminates)
from interop.capture import Capture
from interop.swanctl import ID_INITIATOR
from interop.scenarios import PFS, ROLES, charon_to_ikelab, child_rekey_by, setup_charon

pytestmark = [pytest.mark.strongswan, pytest.mark.usefixtures("tshark_env")]


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
        out = child_rekey_by(who, net, charon, tmp_path, extra)
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
    out = child_rekey_by(who, net, charon, tmp_path, extra)
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


def test_child_rekey_after_ike_rekey_by_charon(netns_pair, charon_factory, tmp_path: Path) -> None:
    """charon rekeys the IKE SA, then the CHILD SA that moved to the new IKE SA (RFC 7296 2.18, 2.8):
    ikelab must find the CHILD SA under the new IKE SA and derive its keys from the new SK_d."""
    net = netns_pair
    charon, proc = charon_to_ikelab(net, charon_factory, tmp_path, esp="aes128-sha256-modp2048")

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


def test_rekeys_started_by_ikelab_as_the_original_responder(netns_pair, charon_factory, tmp_path: Path) -> None:
    """ikelab answered IKE_SA_INIT, then rekeys the CHILD SA and the IKE SA itself (RFC 7296 2.8, 2.18).

    In the new IKE SA ikelab is the original initiator: SPIi is its SPI, and SK_ei/SK_ai protect what it sends.
    charon must accept both rekeys, and every key must match charon's log.
    """
    net = netns_pair
    charon, proc = charon_to_ikelab(net, charon_factory, tmp_path, esp="aes128-sha256-modp2048",
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
        charon, proc = charon_to_ikelab(net, charon_factory, tmp_path, charon_conf=conf)
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


def test_dead_peer_found_by_liveness_checks(netns_pair, charon_factory, nft_env, tmp_path: Path) -> None:
    """charon stops answering (everything it sends is dropped): ikelab's liveness check goes unanswered
    through its retransmissions, so it considers charon dead and ends the SAs (RFC 7296 2.4)."""
    from interop.netns import NFT

    net = netns_pair
    setup_charon(net, charon_factory, tmp_path, "ikelab-initiator", proposals="aes128-sha256-modp2048",
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


def test_child_sa_deleted_and_created_again_by_charon(netns_pair, charon_factory, tmp_path: Path) -> None:
    """charon deletes only the CHILD SA (RFC 7296 1.4.1): ikelab answers with its own SPI and keeps the IKE SA;
    charon then creates a new CHILD SA on that IKE SA with CREATE_CHILD_SA (1.3.1), and pings cross it."""
    net = netns_pair
    charon, proc = charon_to_ikelab(net, charon_factory, tmp_path)

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


def test_a_rebooted_charon_replaces_its_stale_ike_sa_on_ikelab(netns_pair, charon_factory, tmp_path: Path) -> None:
    """The other way round: charon initiates to a long ``ikelab respond``, then dies without a DELETE and
    reboots (kernel SAs flushed).  Its new IKE_AUTH says N(INITIAL_CONTACT); ikelab drops the stale IKE SA
    and its CHILD SA at once (RFC 7296 2.4).  Pings cross the new CHILD SA, and when charon deletes the
    new IKE SA the run ends.  Before this, ikelab held on to the stale IKE SA: it went on waiting after
    that DELETE until --duration ran out, and would then have sent a DELETE nobody could read."""
    net = netns_pair
    charon = setup_charon(net, charon_factory, tmp_path, "ikelab-responder", proposals="aes128-sha256-modp2048",
                          esp="aes128-sha256")
    extra = ["--proposal", "aes128-sha256-modp2048", "--esp-proposal", "aes128-sha256", "--ts",
             f"{net.b.inner}/32", f"{net.a.inner}/32", "--duration", "60", "--quiet"]
    proc = respond(net.b, tmp_path / "ikelab", extra=extra)

    def crash_reboot_and_return() -> None:
        charon.initiate(child="net")
        charon.wait_for_sa(lambda sas: sas and sas[0].get("child-sas"), timeout=10)
        assert net.a.ping(net.b.inner, src=net.a.inner, count=3) == 3
        charon.proc.kill()  # a crash: no DELETE
        charon.proc.wait(10)
        for what in ("state", "policy"):  # a reboot forgets the kernel's SAs and policies too
            net.a.run("ip", "xfrm", what, "flush")
        charon.stop()
        charon.start()
        charon.load_all()
        charon.initiate(child="net")
        charon.wait_for_log(re.compile(r"generating IKE_AUTH request 1 \[[^\]]*N\(INIT_CONTACT\)").search)
        proc.wait_for_output("INITIAL_CONTACT", timeout=10)
        assert net.a.ping(net.b.inner, src=net.a.inner, count=3) == 3

    out = until_charon_terminates(charon, proc, crash_reboot_and_return)
    assert "the peer said INITIAL_CONTACT in the new IKE SA" in out, out


@pytest.mark.parametrize("role", ROLES)
def test_childless_ike_sa_then_its_child_sa(netns_pair, charon_factory, tmp_path: Path, role: str) -> None:
    """RFC 6023 with charon's ``childless = force``, which as responder refuses an IKE_AUTH carrying a
    CHILD SA and as initiator needs the responder's N(CHILDLESS_IKEV2_SUPPORTED): ikelab ``--childless``
    sets up the IKE SA alone, then the CHILD SA with CREATE_CHILD_SA, in both roles; pings cross it."""
    from interop.scenarios import run_handshake

    charon, out = run_handshake(netns_pair, charon_factory, tmp_path, role, proposals="aes128-sha256-modp2048",
                                esp="aes128-sha256", ikelab_extra=("--childless",), extra={"childless": "force"})
    log = charon.log_text()
    auth = re.findall(r"(?:generating|parsed) IKE_AUTH (?:request|response) 1 \[ ([^\]]*)\]", log)
    assert len(auth) == 2 and not any(re.search(r"\b(SA|TSi|TSr)\b", payloads) for payloads in auth), auth
    assert re.search(r"(?:generating|parsed) CREATE_CHILD_SA request 2 \[ SA No TSi TSr \]", log), log[-3000:]
    assert "CHILD SA installed" in out
