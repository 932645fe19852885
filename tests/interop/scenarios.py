"""What the ikelab-against-charon scenario tests share (``tests/interop/test_ikelab_*.py``).

``ikelab connect`` (namespace A) with charon responding (namespace B), and
charon initiating (A) with ``ikelab respond`` (B).  For every handshake the
keys ikelab exported must be exactly the keys charon logged, and pings cross
the CHILD SA (UDP-encapsulated ESP, RFC 3948), answered by charon's kernel
or by ikelab's userspace ESP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interop.charon import Charon
from interop.ikelab_peer import (charon_initiates, check_keys_against_charon, connect, ikelab_connected, read_keys,
                                 respond, start_connect, stop_after_refusal, tshark_decrypts)
from interop.capture import Capture
from interop.swanctl import ID_INITIATOR, ID_RESPONDER, cert_conf, make_pki, psk_conf

ROLES = ["ikelab-initiator", "ikelab-responder"]


PFS = ["no-pfs", "pfs"]


def addrs(ns: Any, v6: bool) -> str:
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
    common = dict(local_addrs=addrs(ns, v6), remote_addrs=addrs(other, v6), local_id=local_id,
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
                  pings: bool = True, **charon_kwargs: Any) -> tuple[Charon, str]:
    """One handshake + pings + DELETE in ``role``; returns charon and ikelab's output (asserting success).

    ``pings=False`` leaves out the pings (selectors that do not let them through both ways).

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
    with Capture(net.b, net.b.veth, tmp / "wire.pcapng", probe_dst=addrs(net.a, v6)) as cap:
        if role == "ikelab-initiator":
            result = connect(me, addrs(peer, v6), tmp / "ikelab", cert=cert, **my_ids,
                             extra=[*extra, *(("--ping", peer.inner, "--ping-src", me.inner) if pings else ()),
                                    "--quiet"])
            out = result.stdout + result.stderr
            assert result.returncode == 0, out + charon.diagnostics()
            assert not pings or "(first CHILD SA): 3 sent, 3 replies" in out, out
            charon.wait_for_sa(lambda sas: not sas, timeout=5)  # our DELETE arrived
        else:
            proc = respond(me, tmp / "ikelab", cert=cert, **my_ids,
                           extra=["--listen", addrs(me, v6), *extra, "--quiet"])
            out = charon_initiates(charon, proc, net.a, net.b, pings=pings)
            assert "deleted by peer" in out
    assert check_keys_against_charon(read_keys(tmp / "ikelab"), charon.keys()) >= 1
    # the capture on the wire decrypts in tshark with ikelab's tables
    rows = tshark_decrypts(cap.path, tmp / "ikelab" / "keys")
    assert [r[0] for r in rows if r[0]][:init_messages + 2] == ["34"] * init_messages + ["35", "35"]
    return charon, out


def refused_handshake(net: Any, charon: Any, tmp: Path, role: str, **ikelab: Any) -> tuple[str, int]:
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
        status = stop_after_refusal(proc)
    finally:
        proc.close()
    return proc.output(), status


def charon_to_ikelab(net: Any, factory: Any, tmp: Path, *, esp: str = "aes128-sha256",
                      ikelab_extra: tuple[str, ...] = (), **charon_kwargs: Any) -> tuple[Charon, Any]:
    """charon in A (running, connection loaded, not initiating) and ``ikelab respond`` listening in B, both on
    aes128-sha256-modp2048 and ``esp``, for the inner /32s (start with ``charon_initiates``)."""
    charon = setup_charon(net, factory, tmp, "ikelab-responder", proposals="aes128-sha256-modp2048", esp=esp,
                          **charon_kwargs)
    proc = respond(net.b, tmp / "ikelab", extra=["--proposal", "aes128-sha256-modp2048", "--esp-proposal", esp,
                                                 "--ts", f"{net.b.inner}/32", f"{net.a.inner}/32", *ikelab_extra])
    return charon, proc


def child_rekey_by(who: str, net: Any, charon: Charon, tmp: Path, extra: list[str]) -> str:
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
