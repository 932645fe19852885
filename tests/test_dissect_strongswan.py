"""Dissecting a real strongSwan capture (tests/vectors/strongswan/, see its README.md).

Two independent references:

* tshark 4.0.17 on the same capture with the same key tables (keys taken
  from strongSwan's own log): packet-list columns, payload types of every IKE
  message including the decrypted ones, and the decrypted ESP contents;
* strongSwan's own account of each message, typed in below from the
  initiator's charon log ("generating IKE_AUTH request 1 [ IDi N(INIT_CONTACT)
  ... ]"), against ikelab's strongSwan-style bracket view of the decrypted
  message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ikelab.dissect import dissect
from ikelab.views import brackets

from test_dissect import ikelab_payloads, tshark_columns, tshark_payloads

HERE = Path(__file__).parent / "vectors" / "strongswan"
CAPTURE = HERE / "classic.pcapng"

# charon 5.9.8 log of the initiator (moon), in capture order: (exchange, response?, payload list as charon logs it)
STRONGSWAN_LOG = [
    ("IKE_SA_INIT", False, "[ SA KE No N(NATD_S_IP) N(NATD_D_IP) N(FRAG_SUP) N(HASH_ALG) N(REDIR_SUP) ]"),
    ("IKE_SA_INIT", True, "[ SA KE No N(NATD_S_IP) N(NATD_D_IP) N(FRAG_SUP) N(HASH_ALG) N(CHDLESS_SUP) N(MULT_AUTH) ]"),
    ("IKE_AUTH", False, "[ IDi N(INIT_CONTACT) IDr AUTH SA TSi TSr N(MOBIKE_SUP) N(NO_ADD_ADDR) N(MULT_AUTH) "
                        "N(EAP_ONLY) N(MSG_ID_SYN_SUP) ]"),
    ("IKE_AUTH", True, "[ IDr AUTH SA TSi TSr N(MOBIKE_SUP) N(NO_ADD_ADDR) ]"),
    ("CREATE_CHILD_SA", False, "[ N(REKEY_SA) SA No TSi TSr ]"),
    ("CREATE_CHILD_SA", True, "[ SA No TSi TSr ]"),
    ("INFORMATIONAL", False, "[ D ]"),
    ("INFORMATIONAL", True, "[ D ]"),
]


def test_every_message_decrypts_as_strongswan_logged_it() -> None:
    rows = dissect(CAPTURE, HERE)
    ike = [r for r in rows if r.kind == "ike"]
    assert [(r.exchange, r.is_response) for r in ike] == [(e, resp) for e, resp, _ in STRONGSWAN_LOG]
    for row, (_, _, logged) in zip(ike, STRONGSWAN_LOG):
        assert row.decrypted in (True, None) and row.icv_ok in (True, None), row.note
        assert brackets(row.message) == logged
    esp = [r for r in rows if r.kind == "esp"]
    assert len(esp) == 12 and all(r.decrypted and r.icv_ok for r in esp)
    assert len({r.spi for r in esp}) == 4  # two SPIs, then two new ones after CREATE_CHILD_SA
    assert [r.inner_protocol for r in esp] == ["ICMP"] * 12
    arp = rows[:4]
    assert [r.protocol for r in arp] == ["ARP"] * 4 and arp[0].info.startswith("Who has ")


@pytest.mark.parametrize("with_keys", [False, True], ids=["no-keys", "keys"])
def test_strongswan_capture_matches_tshark(with_keys: bool) -> None:
    keys = HERE if with_keys else None
    rows = dissect(CAPTURE, keys)
    theirs = tshark_payloads(CAPTURE, keys)
    columns = tshark_columns(CAPTURE, keys)
    assert len(rows) == len(columns) == 24
    for row, (no, t, src, dst, proto, length, info, icmp_seq, _) in zip(rows, columns):
        assert row.no == int(no) and row.length == int(length)
        assert row.time == pytest.approx(float(t), abs=1e-6)
        if row.kind == "ike":
            assert (row.src, row.dst, row.protocol, row.info) == (src, dst, proto, info)
            assert ikelab_payloads(row) == theirs[row.no], row.no
        elif row.kind == "esp" and with_keys:
            assert (row.inner_src, row.inner_dst) == (src, dst) and info == row.inner_info
            assert f"seq={icmp_seq}/" in row.inner_info
        else:  # ESP without keys, and the ARP frames around the exchange
            assert (row.src, row.dst, row.protocol, row.info) == (src, dst, proto, info)
