"""The strongSwan interop harness, proven charon-to-charon.

Live tests (need root, strongSwan and network namespaces; skipped elsewhere,
required under CI=true): two charons in two namespaces bring up an IKE SA
(aes128-sha256-modp2048) and an ESP CHILD SA (aes128-sha256) with a PSK,
log the same SKEYSEED and SK_*, agree crosswise on the CHILD SA keys, carry
ICMP through the kernel-libipsec tunnel, and tshark on the wire sees
IKE_SA_INIT, IKE_AUTH and UDP-encapsulated ESP with the logged SPIs.  Also:
certificates (RSA, over IPv6, Curve25519), a wrong PSK, a lowered cookie
threshold, namespace isolation and clean teardown.

Offline tests read two real charon logs of such a run (strongSwan 5.9.8,
``data/charon_initiator.log`` and ``data/charon_responder.log``) and check
ikelab's key schedule against the values charon derived: an independent
implementation, so SKEYSEED, SK_* and KEYMAT from ``ikelab.keys`` must match
charon byte for byte (RFC 7296 2.14, 2.17).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ikelab import keys as ikekeys

from .capture import Capture, read_fields
from .charon import Charon, CharonError, merge_conf, parse_vici_pretty, render_conf
from .charonlog import IKE_KEY_NAMES, iter_dumps, parse_keys
from .netns import NetnsError, NetnsPair, list_namespaces, udp_exchange
from .swanctl import ID_INITIATOR, ID_RESPONDER, cert_conf, make_pki, psk_conf

DATA = Path(__file__).parent / "data"

# The suite negotiated in the live test and in the stored logs.
PRF = "PRF_HMAC_SHA2_256"
ENCR, ENCR_BITS, INTEG = "ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128"


# --- checks shared by the live and the offline tests -------------------------------------

def check_ike_agreement(ka: dict[str, Any], kb: dict[str, Any]) -> None:
    """Both charons logged the same IKE SA keys, and ikelab derives the same from the inputs."""
    assert ka["initiator"] is True and kb["initiator"] is False
    for name in ("spi_i", "spi_r", "ni", "nr", *IKE_KEY_NAMES):
        assert ka[name] is not None, f"{name} missing from the initiator's log"
        assert ka[name] == kb[name], f"{name} differs between the two charons"
    assert len(ka["spi_i"]) == len(ka["spi_r"]) == 8
    assert len(ka["g_ir"]) == 256  # MODP-2048 (RFC 3526 3): g^ir padded to 256 bytes (RFC 7296 2.14)
    # SKEYSEED = prf(Ni | Nr, g^ir)
    assert ikekeys.skeyseed(PRF, ka["ni"], ka["nr"], ka["g_ir"]) == ka["skeyseed"]
    # {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
    sk = ikekeys.ike_sa_keys(
        PRF, ka["skeyseed"], ka["ni"], ka["nr"], ka["spi_i"], ka["spi_r"],
        encr=ENCR, encr_key_bits=ENCR_BITS, integ=INTEG,
    )
    for name in ("sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr"):
        assert getattr(sk, name) == ka[name], f"ikelab's {name} differs from charon's"


def check_child_agreement(ka: dict[str, Any], kb: dict[str, Any]) -> tuple[int, int]:
    """The CHILD SA keys agree crosswise; ikelab's KEYMAT matches.  Returns (SPI a->b, SPI b->a)."""
    assert len(ka["children"]) == len(kb["children"]) == 1
    ca, cb = ka["children"][0], kb["children"][0]
    assert ca["initiator"] is True and cb["initiator"] is False
    assert ca["spi_out"] == cb["spi_in"] and ca["spi_in"] == cb["spi_out"]
    assert ca["spi_in"] != ca["spi_out"]
    for kind in ("encr", "integ"):
        assert ca[f"{kind}_out"] == cb[f"{kind}_in"] is not None
        assert ca[f"{kind}_in"] == cb[f"{kind}_out"] is not None
        assert ca[f"{kind}_out"] != ca[f"{kind}_in"]
    assert ca["seed"] == cb["seed"] == ka["ni"] + ka["nr"]  # no PFS: KEYMAT = prf+(SK_d, Ni | Nr)
    keymat = ikekeys.child_sa_keys(
        PRF, ka["sk_d"], ka["ni"], ka["nr"], encr=ENCR, encr_key_bits=ENCR_BITS, integ=INTEG
    )
    assert keymat.encr_i == ca["encr_i"] and keymat.integ_i == ca["integ_i"]
    assert keymat.encr_r == ca["encr_r"] and keymat.integ_r == ca["integ_r"]
    return ca["spi_out"], ca["spi_in"]


# --- offline: stored real logs ------------------------------------------------------------

@pytest.fixture(scope="module")
def stored_keys() -> tuple[dict[str, Any], dict[str, Any]]:
    ka = parse_keys((DATA / "charon_initiator.log").read_text())
    kb = parse_keys((DATA / "charon_responder.log").read_text())
    assert len(ka) == len(kb) == 1
    return ka[0], kb[0]


def test_stored_logs_ike_keys_agree_with_ikelab(stored_keys: tuple[dict[str, Any], dict[str, Any]]) -> None:
    check_ike_agreement(*stored_keys)


def test_stored_logs_child_keys_agree_with_ikelab(stored_keys: tuple[dict[str, Any], dict[str, Any]]) -> None:
    ka, kb = stored_keys
    check_child_agreement(ka, kb)
    assert ka["name"] == kb["name"] == "lab"
    assert ka["children"][0]["local_ts"] == kb["children"][0]["remote_ts"] == "198.51.100.1/32"


def test_stored_log_spis_match_list_sas() -> None:
    # the same run's `swanctl --list-sas --pretty` on the initiator
    (name, tree), = [m for m in parse_vici_pretty((DATA / "list_sas_initiator.txt").read_text())
                     if m[0] == "list-sa event"]
    sa = tree["lab"]
    ka = parse_keys((DATA / "charon_initiator.log").read_text())[0]
    assert sa["initiator-spi"] == ka["spi_i"].hex() and sa["responder-spi"] == ka["spi_r"].hex()
    child = sa["child-sas"]["net-1"]
    assert int(child["spi-in"], 16) == ka["children"][0]["spi_in"]
    assert int(child["spi-out"], 16) == ka["children"][0]["spi_out"]
    assert child["local-ts"] == ["198.51.100.1/32"] and child["remote-ts"] == ["203.0.113.1/32"]


def test_tampered_log_is_caught(stored_keys: tuple[dict[str, Any], dict[str, Any]]) -> None:
    ka, kb = stored_keys
    bad = dict(ka, sk_ei=bytes([ka["sk_ei"][0] ^ 1]) + ka["sk_ei"][1:])
    with pytest.raises(AssertionError):
        check_ike_agreement(bad, kb)
    bad = dict(ka, nr=ka["ni"])
    with pytest.raises(AssertionError):
        check_ike_agreement(bad, dict(kb, nr=ka["ni"]))


def _hexdump(title: str, data: bytes, thread: int = 7, tag: str = "<lab|3> ") -> list[str]:
    """Format ``data`` the way charon's %B does (chunk_printf_hook)."""
    lines = [f"1795825312 {thread:02d}[IKE] {tag}{title} => {len(data)} bytes @ 0x7f00deadbeef"]
    for off in range(0, len(data), 16):
        row = data[off : off + 16]
        hexpart = "".join(f"{b:02X} " for b in row).ljust(48)
        asc = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"1795825312 {thread:02d}[IKE] {tag}{off:4d}: {hexpart} {asc}")
    return lines


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.binary(min_size=1, max_size=80))
def test_hexdumps_interleaved_threads_round_trip(a: bytes, b: bytes) -> None:
    la, lb = _hexdump("SKEYSEED", a, thread=7), _hexdump("Sk_d secret", b, thread=9)
    mixed = []
    for i in range(max(len(la), len(lb))):  # two threads writing at once
        mixed += la[i : i + 1] + lb[i : i + 1]
    dumps = {v[0]: v[1] for _, uid, _, kind, v in iter_dumps("\n".join(mixed)) if kind == "dump"}
    assert dumps == {"SKEYSEED": a, "Sk_d secret": b}
    entry, = parse_keys("\n".join(mixed))
    assert entry["skeyseed"] == a and entry["sk_d"] == b and entry["unique_id"] == 3


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400))
def test_parse_keys_never_raises_on_garbage(text: str) -> None:
    assert isinstance(parse_keys(text), list)
    assert isinstance(parse_keys("01[IKE] <x|1> SKEYSEED => 4 bytes @ 0x1\n" + text), list)


def test_render_and_merge_conf() -> None:
    tree = merge_conf({"a": 1, "plugins": {"vici": {"socket": "unix:///x"}}}, {"plugins.vici.socket": "y", "b": True})
    assert tree == {"a": 1, "plugins": {"vici": {"socket": "y"}}, "b": True}
    text = render_conf({"charon": {"load": "a b", "n": 3, "ok": False, "list": ["x", "y"], "s": {"k": "v"}}})
    assert text.splitlines() == [
        "charon {", '  load = "a b"', "  n = 3", "  ok = no", "  list = x, y", "  s {", "    k = v", "  }", "}",
    ]


# --- live: two charons in two namespaces ----------------------------------------------------

def _psk_confs(net: NetnsPair, **kwargs: Any) -> tuple[str, str]:
    a, b = net.a, net.b
    conf_a = psk_conf(local_addrs=a.addr4, remote_addrs=b.addr4, local_id=ID_INITIATOR, remote_id=ID_RESPONDER,
                      local_ts=f"{a.inner}/32", remote_ts=f"{b.inner}/32", **kwargs)
    conf_b = psk_conf(local_addrs=b.addr4, remote_addrs=a.addr4, local_id=ID_RESPONDER, remote_id=ID_INITIATOR,
                      local_ts=f"{b.inner}/32", remote_ts=f"{a.inner}/32", **kwargs)
    return conf_a, conf_b


def _installed(sas: list[dict[str, Any]]) -> bool:
    return any(sa.get("state") == "ESTABLISHED" and any(
        c.get("state") == "INSTALLED" for c in sa.get("child-sas", {}).values()) for sa in sas)


@pytest.mark.strongswan
@pytest.mark.tshark
@pytest.mark.slow
def test_charon_to_charon_psk(netns_pair: NetnsPair, charon_factory: Any, tshark_env: None, tmp_path: Path) -> None:
    net = netns_pair
    conf_a, conf_b = _psk_confs(net)
    bob: Charon = charon_factory(net.b, "bob", swanctl_conf=conf_b)
    alice: Charon = charon_factory(net.a, "alice", swanctl_conf=conf_a)
    assert alice.running and bob.running and alice.pid != bob.pid  # two charons at once
    alice.load_all()
    bob.load_all()
    assert alice.list_conns() == ["lab"] and bob.list_conns() == ["lab"]

    with Capture(net.a, net.a.veth, tmp_path / "wire.pcapng", probe_dst=net.b.addr4) as cap:
        out = alice.initiate(child="net")
        assert "initiate completed successfully" in out
        sas_a = alice.list_sas()
        sas_b = bob.wait_for_sa(_installed)
        assert _installed(sas_a)
        sa_a, sa_b = sas_a[0], sas_b[0]
        assert sa_a["initiator"] == "yes" and sa_a["dh-group"] == "MODP_2048"
        assert sa_a["encr-alg"] == "AES_CBC" and sa_a["integ-alg"] == "HMAC_SHA2_256_128"
        child_a = next(iter(sa_a["child-sas"].values()))
        assert child_a["encap"] == "yes"  # kernel-libipsec: ESP in UDP 4500

        # traffic through the tunnel: inner address to inner address
        assert net.a.ping(net.b.inner, src=net.a.inner, count=3) == 3
        child_b = next(iter(bob.list_sas()[0]["child-sas"].values()))
        assert int(child_b["packets-in"]) >= 3 and int(child_b["packets-out"]) >= 3

        ka_all, kb_all = alice.keys(), bob.keys()
        alice.terminate(ike="lab")
        bob.wait_for_sa(lambda sas: not sas)
        assert alice.list_sas() == []
    pcap = cap.path

    # keys: both sides logged the same, and ikelab agrees
    assert len(ka_all) == len(kb_all) == 1
    ka, kb = ka_all[0], kb_all[0]
    check_ike_agreement(ka, kb)
    spi_ab, spi_ba = check_child_agreement(ka, kb)
    assert ka["spi_i"].hex() == sa_a["initiator-spi"] == sa_b["initiator-spi"]
    assert ka["spi_r"].hex() == sa_a["responder-spi"] == sa_b["responder-spi"]
    assert (spi_ab, spi_ba) == (int(child_a["spi-out"], 16), int(child_a["spi-in"], 16))

    # the wire, as tshark dissects it
    rows = read_fields(pcap, ["udp.dstport", "isakmp.exchangetype", "isakmp.ispi", "esp.spi"],
                       display_filter="isakmp || esp")
    exchanges = [(int(r[0]), r[1], r[2]) for r in rows if r[1]]
    assert (500, "34", ka["spi_i"].hex()) in exchanges   # IKE_SA_INIT on port 500
    assert (4500, "35", ka["spi_i"].hex()) in exchanges  # IKE_AUTH on port 4500 (RFC 7296 2.23)
    assert any(x[1] == "37" for x in exchanges)          # INFORMATIONAL: the Delete
    esp = [int(r[3], 16) for r in rows if r[3] and r[0] == "4500"]
    assert esp.count(spi_ab) >= 3 and esp.count(spi_ba) >= 3


@pytest.mark.strongswan
@pytest.mark.slow
def test_charon_to_charon_certificates(netns_pair: NetnsPair, charon_factory: Any) -> None:
    net = netns_pair
    pki = make_pki([ID_INITIATOR, ID_RESPONDER])
    a, b = net.a, net.b
    alice: Charon = charon_factory(a, "alice", start=False)
    bob: Charon = charon_factory(b, "bob", start=False)
    for charon, me, peer, my_id, peer_id in ((alice, a, b, ID_INITIATOR, ID_RESPONDER),
                                             (bob, b, a, ID_RESPONDER, ID_INITIATOR)):
        charon.write_files()
        cert = pki.install(charon.swanctl_dir, my_id)
        charon.swanctl_conf = cert_conf(
            local_addrs=me.addr6, remote_addrs=peer.addr6, local_id=my_id, remote_id=peer_id,
            local_ts=f"{me.inner}/32", remote_ts=f"{peer.inner}/32", cert_file=cert,
            proposals="aes256-sha384-curve25519", esp_proposals="aes256ctr-sha256",
        )
        charon.start()
        charon.load_all()
    alice.initiate(child="net")
    sa = bob.wait_for_sa(_installed)[0]
    assert sa["remote-host"] == a.addr6 and sa["dh-group"] == "CURVE_25519"
    assert net.a.ping(net.b.inner, src=net.a.inner, count=1) == 1
    ka, kb = alice.keys()[0], bob.keys()[0]
    assert len(ka["g_ir"]) == 32 and ka["skeyseed"] == kb["skeyseed"]
    assert ikekeys.skeyseed("PRF_HMAC_SHA2_384", ka["ni"], ka["nr"], ka["g_ir"]) == ka["skeyseed"]
    assert "authentication of 'gw.example.com' with RSA" in alice.log_text()


@pytest.mark.strongswan
def test_charon_start_failure_is_reported(netns_pair: NetnsPair, tmp_path: Path) -> None:
    charon = Charon(netns_pair.a, tmp_path / "broken", conf="charon { load = no-such-plugin-xyz")
    with pytest.raises(CharonError) as info:
        charon.start(timeout=10)
    assert "charon" in str(info.value)
    assert not charon.running


@pytest.mark.strongswan
def test_wrong_psk_fails_with_a_clear_error(netns_pair: NetnsPair, charon_factory: Any) -> None:
    net = netns_pair
    conf_a, _ = _psk_confs(net, psk="the-right-one")
    _, conf_b = _psk_confs(net, psk="a-wrong-one")
    bob: Charon = charon_factory(net.b, "bob", swanctl_conf=conf_b)
    alice: Charon = charon_factory(net.a, "alice", swanctl_conf=conf_a)
    alice.load_all()
    bob.load_all()
    with pytest.raises(CharonError, match="initiate"):
        alice.initiate(child="net", timeout=10)
    assert "AUTHENTICATION_FAILED" in bob.log_text() + alice.log_text()
    assert alice.list_sas() == []


def _interfaces() -> list[str]:
    import socket

    return sorted(name for _, name in socket.if_nameindex())


def _noisy_sum(a: int, b: int) -> int:
    print("this goes to stderr, not into the result")
    return a + b


def _fails() -> None:
    raise KeyError("no-such-thing")


@pytest.mark.strongswan
def test_namespace_call_returns_results_and_errors(netns_pair: NetnsPair) -> None:
    assert netns_pair.a.call(_noisy_sum, 2, b=3) == 5
    with pytest.raises(NetnsError, match="KeyError.*no-such-thing"):
        netns_pair.b.call(_fails)


@pytest.mark.strongswan
def test_namespaces_are_isolated_and_removed(interop_env: None) -> None:
    with NetnsPair() as net:
        names = {net.a.name, net.b.name}
        assert names <= set(list_namespaces())
        assert net.a.call(_interfaces) == ["lo", "veth-a"]
        assert net.b.call(_interfaces) == ["lo", "veth-b"]
        assert "veth-a" not in _interfaces()  # nothing in the host's namespace
        assert net.a.ping(net.b.addr4, count=1) == 1
        assert net.a.ping(net.b.inner, count=1, timeout=0.5) == 0  # inner addresses: only through a tunnel
    assert not names & set(list_namespaces())
    with pytest.raises(RuntimeError):
        with NetnsPair() as net:
            names = {net.a.name, net.b.name}
            raise RuntimeError("a test failing inside the block")
    assert not names & set(list_namespaces())


@pytest.mark.strongswan
def test_charon_stop_ends_its_process(netns_pair: NetnsPair, tmp_path: Path) -> None:
    charon = Charon(netns_pair.a, tmp_path / "c").start()
    pid = charon.pid
    assert pid is not None and Path(f"/proc/{pid}").exists()
    assert (tmp_path / "c" / "run" / "charon.pid").read_text().strip() == str(pid)  # private /run
    charon.stop()
    charon.stop()  # twice is fine
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert not charon.vici_path.exists()


def test_missing_requirements_skip_or_fail_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from . import charon as charon_mod
    from .conftest import _skip_or_fail

    monkeypatch.setattr(charon_mod.os, "geteuid", lambda: 1000)
    reason = charon_mod.interop_unavailable_reason()
    assert reason is not None and "root" in reason
    monkeypatch.setattr(charon_mod.os, "geteuid", lambda: 0)
    monkeypatch.setattr(charon_mod, "CHARON_BIN", "/nonexistent/charon")
    reason = charon_mod.interop_unavailable_reason()
    assert reason is not None and "apt-get install strongswan-charon" in reason
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        _skip_or_fail(reason)
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="strongswan-charon"):
        _skip_or_fail(reason)
    from . import netns as netns_mod

    monkeypatch.setattr(netns_mod, "NFT", "/nonexistent/nft")
    assert "apt-get install nftables" in (netns_mod.nft_unavailable_reason() or "")


def _stored_ike_sa_init_request() -> bytes:
    """The initiator's IKE_SA_INIT request, as charon logged it in its AUTH octets (RFC 7296 2.15)."""
    for *_, kind, value in iter_dumps((DATA / "charon_initiator.log").read_text()):
        if kind == "dump" and value[0].startswith("octets") and not value[1][19] & 0x20:
            octets = value[1]
            return octets[: int.from_bytes(octets[24:28], "big")]
    raise AssertionError("no IKE_SA_INIT request in the stored log")


@pytest.mark.strongswan
def test_cookie_threshold_can_be_lowered(netns_pair: NetnsPair, charon_factory: Any) -> None:
    """With cookie_threshold=1, a half-open IKE SA makes charon demand a COOKIE (RFC 7296 2.6)."""
    net = netns_pair
    conf_a, conf_b = _psk_confs(net)
    bob: Charon = charon_factory(net.b, "bob", swanctl_conf=conf_b, cookie_threshold=1)
    alice: Charon = charon_factory(net.a, "alice", swanctl_conf=conf_a)
    alice.load_all()
    bob.load_all()
    # replay a real IKE_SA_INIT request from another port: bob answers it and keeps a half-open SA
    request = _stored_ike_sa_init_request()
    assert request[18] == 34 and len(request) == int.from_bytes(request[24:28], "big")
    reply = net.a.call(udp_exchange, net.b.addr4, 500, request, timeout=3.0, _timeout=20)
    assert reply is not None and reply[:8] == request[:8] and reply[18] == 34 and reply[19] & 0x20
    assert "N(COOKIE)" not in bob.log_text()
    alice.initiate(child="net")  # charon answers COOKIE and alice retries with it
    assert f"sending COOKIE notify to {net.a.addr4}" in bob.log_text()
    assert "generating IKE_SA_INIT response 0 [ N(COOKIE) ]" in bob.log_text()
    assert "received COOKIE notify" in alice.log_text()
    assert _installed(bob.wait_for_sa(_installed))
