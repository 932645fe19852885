"""The IKEv2 engine (ikelab.ike, ikelab.exchanges_*): exchanges, failures, robustness.

Independent checks: every derived value an event reports is recomputed here
from the RFC 7296 formulas with tests/reference.py (Python's own ``hmac``/``hashlib``, not
ikelab.keys)): SKEYSEED = prf(Ni | Nr, g^ir) (2.14), prf+ (2.13), the PSK AUTH
prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>) (2.15), the NAT
detection hashes SHA-1(SPIi | SPIr | IP | port) (2.23), CHILD SA KEYMAT (2.17)
and the rekeyed SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) (2.18).
"""

from __future__ import annotations

import hashlib
import ipaddress
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ikelab import events as ev
from ikelab import prf as ikelab_prf
from ikelab.config import IkeConfig
from ikelab.constants import ExchangeType, NotifyType
from ikelab import exchanges_wire as wirefmt
from ikelab.errors import ProtocolError
from ikelab.exchanges_child import ChildExchanges
from ikelab.ike import IkeSa
from ikelab.lab import Lab, Network
from ikelab.endpoint import IkeEndpoint
from ikelab.rand import DeterministicRandom
from ikelab.message import decode
from ikelab.payloads import SK, Notify
from ikelab.state import TRANSITIONS, Input, State
from reference import named_prf, prf_plus as reference_prf_plus

HASHES = {"PRF_HMAC_SHA2_256": hashlib.sha256, "PRF_HMAC_SHA2_384": hashlib.sha384,
          "PRF_HMAC_SHA2_512": hashlib.sha512, "PRF_HMAC_SHA1": hashlib.sha1}
KEY_PAD = b"Key Pad for IKEv2"  # RFC 7296 2.15: the 17 ASCII characters, no NUL


def configs(ike: str = "aes128-sha256-ecp256", esp: str = "aes128gcm16", *, i: dict | None = None,
            r: dict | None = None, **both) -> tuple[IkeConfig, IkeConfig]:
    base = dict(psk=b"a shared secret", ike_proposals=(ike,), esp_proposals=(esp,), cookie_threshold=None)
    base.update(both)
    ci = dict(base, local_id="moon.example", remote_id="sun.example")
    cr = dict(base, local_id="sun.example", remote_id="moon.example")
    ci.update(i or {})
    cr.update(r or {})
    return IkeConfig(**ci), IkeConfig(**cr)


def established(ike: str = "aes128-sha256-ecp256", esp: str = "aes128gcm16", seed: int = 1, **kw) -> Lab:
    lab = Lab(*configs(ike, esp, **kw), seed=seed)
    lab.initiate()
    lab.run_until_idle()
    assert lab.initiator.state == State.ESTABLISHED and lab.responder.state == State.ESTABLISHED
    return lab


def prf(alg: str, key: bytes, data: bytes) -> bytes:
    """The PRF named ``alg`` (HMAC over hashlib, RFC 2104 and RFC 4868), from tests/reference.py."""
    return named_prf(alg)(key, data)


def prf_plus(alg: str, key: bytes, seed: bytes, n: int) -> bytes:
    """RFC 7296 2.13: T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n), from tests/reference.py."""
    return reference_prf_plus(key, seed, n, named_prf(alg))


def child_pair(lab: Lab) -> tuple:
    (ci,) = lab.initiator.children.values()
    (cr,) = lab.responder.children.values()
    return ci, cr


def assert_same_sas(lab: Lab) -> None:
    """Both peers hold the same IKE SA keys and mirrored CHILD SAs."""
    a, b = lab.initiator, lab.responder
    assert (a.spi_i, a.spi_r) == (b.spi_i, b.spi_r)
    assert a.keys.as_dict() == b.keys.as_dict()
    assert a.initiator != b.initiator
    pairs = {(c.spi_in, c.spi_out) for c in a.children.values()}
    assert pairs == {(c.spi_out, c.spi_in) for c in b.children.values()}
    for c in a.children.values():
        d = b.children[c.spi_out]
        assert (c.encr_key_out, c.integ_key_out) == (d.encr_key_in, d.integ_key_in)
        assert (c.encr_key_in, c.integ_key_in) == (d.encr_key_out, d.integ_key_out)
        assert c.state == d.state == "INSTALLED"


# --------------------------------------------------------------------------- IKE_SA_INIT + IKE_AUTH

SUITES = [
    # (IKE proposal, ESP proposal, PRF name, SK_e length, SK_a length)
    ("aes128-sha256-modp2048", "aes128-sha256", "PRF_HMAC_SHA2_256", 16, 32),
    ("aes256gcm16-prfsha384-ecp384", "aes256gcm16", "PRF_HMAC_SHA2_384", 36, 0),
    ("chacha20poly1305-prfsha256-x25519", "chacha20poly1305", "PRF_HMAC_SHA2_256", 36, 0),
]


@pytest.mark.parametrize("ike, esp, prf_name, e_len, a_len", SUITES)
def test_handshake_keys_match_rfc_formulas(ike: str, esp: str, prf_name: str, e_len: int, a_len: int) -> None:
    lab = established(ike, esp)
    assert_same_sas(lab)
    (k,) = lab.events("initiator", ev.KeysDerived)
    (k2,) = lab.events("responder", ev.KeysDerived)
    assert k.g_ir == k2.g_ir and k.skeyseed == k2.skeyseed
    # RFC 7296 2.14, computed with the reference HMAC (tests/reference.py)
    assert k.skeyseed == prf(prf_name, k.ni + k.nr, k.g_ir)
    assert k.skeyseed == ikelab_prf.prf(prf_name, k.ni + k.nr, k.g_ir)  # the same formula through ikelab.prf
    stream = prf_plus(prf_name, k.skeyseed, k.ni + k.nr + k.spi_i + k.spi_r, 3 * len(k.sk_d) + 2 * (e_len + a_len))
    h = len(k.sk_d)
    assert h == HASHES[prf_name]().digest_size
    expect = [stream[:h], stream[h:h + a_len], stream[h + a_len:h + 2 * a_len]]
    off = h + 2 * a_len
    expect += [stream[off:off + e_len], stream[off + e_len:off + 2 * e_len]]
    off += 2 * e_len
    expect += [stream[off:off + h], stream[off + h:off + 2 * h]]
    assert [k.sk_d, k.sk_ai, k.sk_ar, k.sk_ei, k.sk_er, k.sk_pi, k.sk_pr] == expect
    assert lab.initiator.keys.sk_d == k.sk_d
    # the first CHILD SA: KEYMAT = prf+(SK_d, Ni | Nr) (2.17), initiator-to-responder keys first
    ci, cr = child_pair(lab)
    ev_i = lab.events("initiator", ev.ChildSaCreated)[0]
    klen = len(ev_i.encr_key_out) + len(ev_i.integ_key_out)
    keymat = prf_plus(prf_name, k.sk_d, k.ni + k.nr, 2 * klen)
    assert ev_i.encr_key_out + ev_i.integ_key_out == keymat[:klen]
    assert ev_i.encr_key_in + ev_i.integ_key_in == keymat[klen:]
    assert ev_i.spi_out == cr.spi_in and ev_i.spi_in == ci.spi_in


def test_psk_auth_and_signed_octets_match_rfc_7296_2_15() -> None:
    lab = established()
    k = lab.events("initiator", ev.KeysDerived)[0]
    auth_i = [a for a in lab.events("initiator", ev.AuthComputed) if a.verified is None][0]
    auth_r = [a for a in lab.events("responder", ev.AuthComputed) if a.verified is None][0]
    trace = lab.trace.ike()
    real_message_1, real_message_2 = trace[0].ike_message, trace[1].ike_message
    # InitiatorSignedOctets = RealMessage1 | NonceRData | prf(SK_pi, RestOfInitIDPayload)
    id_i = bytes([2, 0, 0, 0]) + b"moon.example"  # ID_FQDN (RFC 7296 3.5)
    octets_i = real_message_1 + k.nr + prf("PRF_HMAC_SHA2_256", k.sk_pi, id_i)
    assert auth_i.octets == octets_i and auth_i.message == real_message_1 and auth_i.nonce == k.nr
    key = prf("PRF_HMAC_SHA2_256", b"a shared secret", KEY_PAD)
    assert auth_i.auth == prf("PRF_HMAC_SHA2_256", key, octets_i)
    id_r = bytes([2, 0, 0, 0]) + b"sun.example"
    octets_r = real_message_2 + k.ni + prf("PRF_HMAC_SHA2_256", k.sk_pr, id_r)
    assert auth_r.auth == prf("PRF_HMAC_SHA2_256", key, octets_r)
    # each side verified the other's AUTH
    assert [a.verified for a in lab.events("responder", ev.AuthComputed) if a.signer == "initiator"] == [True]
    assert [a.verified for a in lab.events("initiator", ev.AuthComputed) if a.signer == "responder"] == [True]


def test_nat_detection_hashes_rfc_7296_2_23() -> None:
    lab = established()
    req = decode(lab.trace[0].ike_message)
    resp = decode(lab.trace[1].ike_message)

    def natd(spi_i: bytes, spi_r: bytes, ip: str, port: int) -> bytes:
        return hashlib.sha1(spi_i + spi_r + ipaddress.ip_address(ip).packed + port.to_bytes(2, "big")).digest()

    assert req.notify(NotifyType.NAT_DETECTION_SOURCE_IP).data == natd(req.spi_i, bytes(8), "192.0.2.1", 500)
    assert req.notify(NotifyType.NAT_DETECTION_DESTINATION_IP).data == natd(req.spi_i, bytes(8), "192.0.2.2", 500)
    assert resp.notify(NotifyType.NAT_DETECTION_SOURCE_IP).data == natd(resp.spi_i, resp.spi_r, "192.0.2.2", 500)
    assert resp.notify(NotifyType.NAT_DETECTION_DESTINATION_IP).data == natd(resp.spi_i, resp.spi_r, "192.0.2.1", 500)
    assert not lab.initiator.nat_detected and not lab.responder.nat_detected
    assert all(p.sport == p.dport == 500 for p in lab.trace)


def test_message_flow_and_summaries() -> None:
    lab = established()
    sent = [(e.exchange, e.message_id, e.is_response) for e in lab.events("initiator", ev.MessageSent)]
    assert sent == [("IKE_SA_INIT", 0, False), ("IKE_AUTH", 1, False)]
    summaries = [e.summary for e in lab.events("initiator", ev.MessageSent)]
    assert summaries[0].startswith("HDR, SAi1, KEi, Ni, N(NAT_DETECTION_SOURCE_IP)")
    assert summaries[1] == "HDR, SK {IDi, AUTH, SAi2, TSi, TSr}"
    est = lab.events("responder", ev.IkeSaEstablished)[0]
    assert (est.local_id, est.remote_id, est.auth_method) == ("sun.example", "moon.example", "SHARED_KEY_MIC")
    created = lab.events("responder", ev.ChildSaCreated)[0]
    assert created.mode == "tunnel" and not created.udp_encap and created.protocol == "ESP"
    assert created.ts_local == ("192.0.2.2/32",) and created.ts_remote == ("192.0.2.1/32",)


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    a, b, c = established(seed=7), established(seed=7), established(seed=8)
    assert [p.payload for p in a.trace] == [p.payload for p in b.trace]
    assert a.initiator.keys == b.initiator.keys
    assert [p.payload for p in a.trace] != [p.payload for p in c.trace]


def test_ipv6_lab() -> None:
    lab = Lab(*configs(), seed=3, ipv6=True)
    lab.initiate()
    lab.run_until_idle()
    assert_same_sas(lab)
    assert lab.trace[0].src == "2001:db8::1"
    assert lab.events("initiator", ev.ChildSaCreated)[0].ts_local == ("2001:db8::1/128",)


def test_transport_mode_and_traffic_selector_narrowing() -> None:
    lab = Lab(*configs(mode="transport", i=dict(local_ts=("192.0.2.0/24",), remote_ts=("0.0.0.0/0",)),
                       r=dict(local_ts=("192.0.2.2/32",), remote_ts=("192.0.2.1/32",))), seed=2)
    lab.initiate()
    lab.run_until_idle()
    created = lab.events("initiator", ev.ChildSaCreated)[0]
    # RFC 7296 2.9: the responder narrows to the intersection with its policy: the two IKE hosts
    assert created.ts_local == ("192.0.2.1/32",) and created.ts_remote == ("192.0.2.2/32",)
    assert created.mode == lab.events("responder", ev.ChildSaCreated)[0].mode == "transport"
    assert "N(USE_TRANSPORT_MODE)" in lab.events("responder", ev.MessageSent)[-1].summary


@pytest.mark.parametrize("wide_side", ["TSi", "TSr"])
def test_an_answer_wider_than_offered_on_either_side_is_refused(monkeypatch, wide_side: str) -> None:
    """RFC 7296 2.9: the responder may only narrow.  The initiator checks TSi and TSr each: an answer whose TSi
    is as offered but whose TSr is wider (or the reverse) is refused with TS_UNACCEPTABLE, no CHILD SA made."""
    from ikelab import exchanges_child
    from ikelab.ts import ts_from_string

    lab = established(i=dict(local_ts=("192.0.2.1/32",), remote_ts=("192.0.2.2/32",)))
    wide = (ts_from_string("0.0.0.0/0"),)
    monkeypatch.setattr(exchanges_child, "narrow_cached",
                        lambda tsi, tsr, *policy: (wide, tsr) if wide_side == "TSi" else (tsi, wide))
    lab.create_child("initiator")
    lab.run_until_idle()
    (failure,) = [f for f in lab.events("initiator", ev.Failure) if f.exchange == "CREATE_CHILD_SA"]
    assert failure.notify == "TS_UNACCEPTABLE" and f"the responder's {wide_side} 0.0.0.0/0 is wider" in failure.reason
    assert len(lab.initiator.children) == 1  # only the IKE_AUTH one


@pytest.mark.parametrize("policy", [("192.0.2.2/32", "192.0.2.0/28"), ("192.0.2.2/32", "198.51.100.7/32")],
                         ids=["a-subnet", "another-host"])
def test_transport_mode_is_declined_unless_the_selectors_are_the_two_ike_hosts(policy: tuple[str, str]) -> None:
    """A transport-mode SA carries only packets between the IKE hosts (RFC 4301 4.1, RFC 4303 3.1.1): the
    responder grants USE_TRANSPORT_MODE only for those two hosts, as strongSwan does; otherwise both ends make
    the CHILD SA in tunnel mode (RFC 7296 1.3.1).  It used to grant transport mode for a /28."""
    local, remote = policy
    lab = Lab(*configs(mode="transport", i=dict(local_ts=("192.0.2.0/24", "198.51.100.0/24"), remote_ts=("0.0.0.0/0",)),
                       r=dict(local_ts=(local,), remote_ts=(remote,))), seed=2)
    lab.initiate()
    lab.run_until_idle()
    created = [lab.events(side, ev.ChildSaCreated)[0] for side in ("initiator", "responder")]
    assert created[0].ts_local == (remote,) and [c.mode for c in created] == ["tunnel", "tunnel"]
    assert "N(USE_TRANSPORT_MODE)" in lab.events("initiator", ev.MessageSent)[-1].summary
    assert "USE_TRANSPORT_MODE" not in lab.events("responder", ev.MessageSent)[-1].summary


def test_an_unasked_use_transport_mode_in_a_response_refuses_the_child_sa() -> None:
    """RFC 7296 1.3.1: N(USE_TRANSPORT_MODE) answers a request for it.  A responder that sends it unasked
    strips the IP header our tunnel mode keeps, so the initiator refuses that CHILD SA and asks for its
    deletion; it used to install it in transport mode, against its own configuration."""
    lab = Lab(*configs(r=dict(mode="transport")), seed=2)
    answer = ChildExchanges._answer_child_request

    def granting(self, now, msg, ni, nr, **kw):  # a responder that always grants transport mode
        payloads, child = answer(self, now, msg, ni, nr, **kw)
        return [wirefmt.notify(NotifyType.USE_TRANSPORT_MODE)] + payloads, child

    with mock.patch.object(ChildExchanges, "_answer_child_request", granting):
        lab.initiate()
        lab.run_until_idle()
    assert lab.initiator.state == State.ESTABLISHED and not lab.initiator.children
    failure = lab.events("initiator", ev.Failure)[0]
    assert "transport mode was not asked for" in failure.reason and not failure.fatal
    assert not lab.responder.children  # deleted at the initiator's request (RFC 7296 2.21.3)


# --------------------------------------------------------------------------- failures


def test_wrong_psk_both_sides_report_authentication_failed() -> None:
    lab = Lab(*configs(r=dict(psk=b"another secret")), seed=1)
    lab.initiate()
    lab.run_until_idle()
    for side in ("initiator", "responder"):
        fails = [f.notify for f in lab.events(side, ev.Failure) if f.fatal]
        assert "AUTHENTICATION_FAILED" in fails
        assert lab.sa(side).state == State.CLOSED
        assert lab.events(side, ev.IkeSaEstablished) == []
    assert [a.verified for a in lab.events("responder", ev.AuthComputed) if a.signer == "initiator"] == [False]


def test_wrong_remote_identity_is_authentication_failed() -> None:
    lab = Lab(*configs(r=dict(remote_id="mars.example")), seed=1)
    lab.initiate()
    lab.run_until_idle()
    assert lab.responder.state == lab.initiator.state == State.CLOSED
    assert any(f.notify == "AUTHENTICATION_FAILED" for f in lab.events("initiator", ev.Failure))


def test_no_proposal_chosen_in_ike_sa_init() -> None:
    ci, _ = configs(ike="aes128-sha256-ecp256")
    _, cr = configs(ike="aes256gcm16-prfsha384-ecp384")
    lab = Lab(ci, cr, seed=1)
    lab.initiate()
    lab.run_until_idle()
    assert lab.initiator.state == State.CLOSED
    assert [f.notify for f in lab.events("initiator", ev.Failure)][0] == "NO_PROPOSAL_CHOSEN"
    assert [f.notify for f in lab.events("responder", ev.Failure)] == ["NO_PROPOSAL_CHOSEN"]
    resp = decode(lab.trace[1].ike_message)
    assert [n.notify_type for n in resp.notifies] == [NotifyType.NO_PROPOSAL_CHOSEN]
    assert len(lab.trace) == 2  # nothing retransmitted, no state kept


def test_child_no_proposal_chosen_leaves_ike_sa_up() -> None:
    lab = Lab(*configs(r=dict(esp_proposals=("aes256-sha512",))), seed=1)
    lab.initiate()
    lab.run_until_idle()
    assert lab.initiator.state == lab.responder.state == State.ESTABLISHED
    assert not lab.initiator.children and not lab.responder.children
    for side in ("initiator", "responder"):
        (f,) = lab.events(side, ev.Failure)
        assert f.notify == "NO_PROPOSAL_CHOSEN" and not f.fatal
    assert lab.initiator.keys.as_dict() == lab.responder.keys.as_dict()
    lab.liveness("initiator")  # the IKE SA still works (RFC 7296 2.21.3)
    lab.run_until_idle()
    assert len(lab.events("initiator", ev.LivenessChecked)) == 1


def test_ts_unacceptable_leaves_ike_sa_up() -> None:
    lab = Lab(*configs(i=dict(remote_ts=("198.51.100.0/24",)), r=dict(local_ts=("203.0.113.0/24",))), seed=1)
    lab.initiate()
    lab.run_until_idle()
    assert lab.initiator.state == lab.responder.state == State.ESTABLISHED
    assert not lab.initiator.children
    assert [f.notify for f in lab.events("initiator", ev.Failure)] == ["TS_UNACCEPTABLE"]
    assert [f.notify for f in lab.events("responder", ev.Failure)] == ["TS_UNACCEPTABLE"]


def test_invalid_ke_payload_retry_keeps_spi_and_restarts_message_id_0() -> None:
    lab = Lab(*configs(i=dict(ike_proposals=("aes128-sha256-ecp256", "aes128-sha256-modp2048")),
                       r=dict(ike_proposals=("aes128-sha256-modp2048",))), seed=1)
    lab.initiate()
    lab.run_until_idle()
    assert_same_sas(lab)
    msgs = [decode(p.ike_message) for p in lab.trace]
    assert [m.exchange for m in msgs[:4]] == [ExchangeType.IKE_SA_INIT] * 4
    first, refusal, second = msgs[0], msgs[1], msgs[2]
    assert refusal.notify(NotifyType.INVALID_KE_PAYLOAD).data == (14).to_bytes(2, "big")  # RFC 7296 3.10.1
    assert second.message_id == 0 and second.spi_r == bytes(8) and second.spi_i == first.spi_i
    assert [p.group for p in second.find_all(type(first.payloads[1]))] == [14]
    # "keeping its other choices": the same SA payload is offered again
    assert second.payloads[0] == first.payloads[0]
    # the AUTH covers the retried request: RealMessage1 is the second IKE_SA_INIT
    auth_i = [a for a in lab.events("initiator", ev.AuthComputed) if a.verified is None][0]
    assert auth_i.message == lab.trace[2].ike_message
    assert lab.events("initiator", ev.KeysDerived)[0].dh_group == "MODP_2048"


def test_cookie_when_threshold_is_zero() -> None:
    lab = Lab(*configs(r=dict(cookie_threshold=0)), seed=1)
    lab.initiate()
    lab.run_until_idle()
    assert_same_sas(lab)
    msgs = [decode(p.ike_message) for p in lab.trace]
    cookie = msgs[1].notify(NotifyType.COOKIE).data
    assert msgs[1].is_response and len(msgs[1].payloads) == 1 and msgs[1].spi_r == bytes(8)
    assert 1 <= len(cookie) <= 64  # RFC 7296 3.10.1
    retry = msgs[2]
    assert isinstance(retry.payloads[0], Notify) and retry.payloads[0].notify_type == NotifyType.COOKIE
    assert retry.payloads[0].data == cookie and retry.message_id == 0 and retry.spi_i == msgs[0].spi_i
    assert retry.payloads[1:] == msgs[0].payloads  # the same SA, KE, Ni, NATD (RFC 7296 2.6)


def test_the_cookie_secret_changes_and_the_previous_one_counts_one_period_more() -> None:
    """RFC 7296 2.6: the responder changes <secret> frequently (the version in the cookie's first four octets
    says which) and keeps accepting cookies of the previous secret for a while."""
    from ikelab.endpoint import COOKIE_SECRET_LIFETIME as LIFE
    from ikelab.exchanges_common import Datagram

    moon_config, _ = configs()
    _, sun_config = configs(r=dict(cookie_threshold=0))
    sun = IkeEndpoint(sun_config, DeterministicRandom(2))

    def cookie_retry(seed: int, now: float) -> tuple[Datagram, bytes]:
        """A new initiator's IKE_SA_INIT, answered with N(COOKIE) at ``now``: its retry, and the cookie."""
        moon = IkeEndpoint(moon_config, DeterministicRandom(seed), "192.0.2.1")
        moon.initiate(("192.0.2.2", 500), now)
        (first,) = moon.pop_datagrams()
        sun.receive(first, now)
        (answer,) = sun.pop_datagrams()
        moon.receive(answer, now)
        (retry,) = moon.pop_datagrams()
        return retry, decode(answer.payload).notify(NotifyType.COOKIE).data

    def answered_with_a_cookie(retry: Datagram, now: float) -> bool:
        sun.receive(retry, now)
        (out,) = sun.pop_datagrams()
        return decode(out.payload).notify(NotifyType.COOKIE) is not None

    retry_1, cookie_1 = cookie_retry(10, 0.0)
    late_1, _ = cookie_retry(12, 1.0)  # two initiators got a cookie of secret 1
    assert cookie_1[:4] == (1).to_bytes(4, "big")
    _, cookie_2 = cookie_retry(11, LIFE + 1)  # a new secret from here on
    assert cookie_2[:4] == (2).to_bytes(4, "big")
    assert not answered_with_a_cookie(retry_1, LIFE + 2)  # the previous secret still counts: an SA is made
    _, cookie_3 = cookie_retry(13, 2 * LIFE + 2)  # and another one: secret 1 is two generations old now
    assert cookie_3[:4] == (3).to_bytes(4, "big")
    assert answered_with_a_cookie(late_1, 2 * LIFE + 3)  # sent round again, with a cookie of secret 3


def test_cookie_threshold_counts_half_open_sas() -> None:
    _, cr = configs(cookie_threshold=1)
    ci, _ = configs()
    lab = Lab(ci, cr, seed=1)
    lab.initiate()
    lab.step()  # the responder answers normally: one half-open SA now
    assert lab.endpoints["responder"].half_open_count() == 1
    other = lab.endpoints["initiator"].initiate(("192.0.2.2", 500), lab.now)
    lab._flush()
    lab.run_until_idle()
    assert other.state == State.ESTABLISHED
    assert any(decode(p.ike_message).notify(NotifyType.COOKIE) is not None for p in lab.trace)


def test_unsupported_exchange_and_garbage_never_create_state() -> None:
    lab = Lab(*configs(), seed=1)
    ep = lab.endpoints["responder"]
    from ikelab.exchanges_common import Datagram

    for data in (b"", b"\x00" * 27, bytes(range(200)), b"\xff" * 28):
        ep.receive(Datagram(data, ("192.0.2.1", 500), ("192.0.2.2", 500)), 0.0)
    assert ep.sas == {} and ep.half_open == {} and ep.pop_datagrams() == []


# --------------------------------------------------------------------------- CREATE_CHILD_SA and INFORMATIONAL


@pytest.mark.parametrize("side", ["initiator", "responder"])
def test_liveness_either_direction(side: str) -> None:
    lab = established()
    lab.liveness(side)
    lab.run_until_idle()
    assert [e.alive for e in lab.events(side, ev.LivenessChecked)] == [True]
    other = "responder" if side == "initiator" else "initiator"
    assert len(lab.events(other, ev.LivenessChecked)) == 1  # the answering peer saw it too
    summaries = [e.summary for e in lab.events(side, ev.MessageSent)]
    assert summaries[-1] == "HDR, SK {}"


@pytest.mark.parametrize("side", ["initiator", "responder"])
def test_create_child_either_direction(side: str) -> None:
    lab = established()
    lab.create_child(side)
    lab.run_until_idle()
    assert len(lab.initiator.children) == 2
    assert_same_sas(lab)
    new = lab.events(side, ev.ChildSaCreated)[-1]
    assert new.exchange == "CREATE_CHILD_SA"
    # KEYMAT = prf+(SK_d, Ni | Nr) of the CREATE_CHILD_SA nonces, exchange initiator's keys first (2.17)
    sa = lab.sa(side)
    child = sa.children[new.spi_in]
    klen = len(new.encr_key_out) + len(new.integ_key_out)
    keymat = prf_plus("PRF_HMAC_SHA2_256", sa.keys.sk_d, child.ni + child.nr, 2 * klen)
    assert new.encr_key_out + new.integ_key_out == keymat[:klen]
    assert child.ni != sa.ni


@pytest.mark.parametrize("side", ["initiator", "responder"])
@pytest.mark.parametrize("pfs", [False, True])
def test_rekey_child_with_and_without_pfs(side: str, pfs: bool) -> None:
    lab = established(pfs_group="ECP_256" if pfs else None)
    (old_i,), (old_r,) = lab.initiator.children.values(), lab.responder.children.values()
    lab.rekey_child(side)
    lab.run_until_idle()
    assert_same_sas(lab)
    (new_i,) = lab.initiator.children.values()
    assert new_i.spi_in != old_i.spi_in and new_i.keys.keymat != old_i.keys.keymat
    for s in ("initiator", "responder"):  # both peers report whether the new keys have their own g^ir
        rekeyed = lab.events(s, ev.ChildSaRekeyed)
        assert len(rekeyed) == 1 and rekeyed[0].pfs is pfs, s
    for s in ("initiator", "responder"):
        deleted = lab.events(s, ev.ChildSaDeleted)
        assert [d.spi_in for d in deleted] == [(old_i if s == "initiator" else old_r).spi_in]
    req = [e.summary for e in lab.events(side, ev.MessageSent)][-2]
    assert req.startswith("HDR, SK {N(REKEY_SA), SA, Ni") and ("KEi" in req) is pfs
    created = lab.events(side, ev.ChildSaCreated)[-1]
    assert created.rekey_of == (old_i if side == "initiator" else old_r).spi_in
    assert created.pfs_group == ("ECP_256" if pfs else None)
    if pfs:  # KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr): differs from the no-PFS KEYMAT
        sa = lab.sa(side)
        child = sa.children[created.spi_in]
        plain = prf_plus("PRF_HMAC_SHA2_256", sa.keys.sk_d, child.ni + child.nr, len(child.keys.keymat))
        assert child.keys.keymat != plain


@pytest.mark.parametrize("side", ["initiator", "responder"])
@pytest.mark.parametrize("action", ["rekey_child", "create_child"])
def test_create_child_sa_asks_again_after_invalid_ke_payload(action: str, side: str) -> None:
    """RFC 7296 1.3: the responder wants another PFS group; the initiator asks again with a KEi in it.

    The asking side offers MODP-2048 and ECP-256 (KEi for MODP-2048), the other takes only ECP-256.  Found
    against strongSwan: ikelab gave up on its rekey after the first INVALID_KE_PAYLOAD.
    """
    both, ecp_only = {"esp_proposals": ("aes128-sha256-modp2048-ecp256",)}, {"esp_proposals": ("aes128-sha256-ecp256",)}
    lab = established(i=both if side == "initiator" else ecp_only, r=ecp_only if side == "initiator" else both)
    other = "responder" if side == "initiator" else "initiator"
    (old,) = lab.sa(side).children.values()
    start = len(lab.events(side))
    getattr(lab, action)(side)
    lab.run_until_idle()
    assert_same_sas(lab)
    events = lab.events(side)[start:]
    requests = [e.summary for e in events if isinstance(e, ev.MessageSent) and not e.is_response]
    assert requests[:2] == [requests[0]] * 2 and "KEi" in requests[0], requests  # the request, then again
    answers = [e.summary for e in lab.events(other, ev.MessageSent) if e.is_response and e.exchange == "CREATE_CHILD_SA"]
    assert answers[:2] == ["HDR, SK {N(INVALID_KE_PAYLOAD)}", "HDR, SK {SA, Nr, KEr, TSi, TSr}"], answers
    (failure,) = [e for e in events if isinstance(e, ev.Failure)]
    assert failure.notify == "INVALID_KE_PAYLOAD" and not failure.fatal and "ECP_256" in failure.reason
    created = [e for e in events if isinstance(e, ev.ChildSaCreated)]
    assert len(created) == 1 and created[0].pfs_group == "ECP_256"
    assert (created[0].rekey_of == old.spi_in) == (action == "rekey_child")
    assert len(lab.sa(side).children) == (1 if action == "rekey_child" else 2)


def test_a_rekey_overtaken_by_the_peers_rekey_meets_child_sa_not_found() -> None:
    """Moon's rekey request is lost; sun rekeys the same CHILD SA and deletes the old one; moon's retransmission
    names a CHILD SA sun no longer has: CHILD_SA_NOT_FOUND (RFC 7296 2.25, 3.10.1).  Both keep the one new
    CHILD SA.  The same run against strongSwan: tests/interop/test_ikelab_retransmit.py."""
    lab = Lab(*configs(), network=Network(schedule=("ok",) * 4 + ("drop",)), seed=1)  # the 5th packet: moon's rekey
    lab.initiate()
    lab.run_until_idle()
    (old,) = lab.initiator.children.values()
    lab.rekey_child("initiator")
    lab.rekey_child("responder")
    lab.run_until_idle()
    assert_same_sas(lab)
    (new,) = lab.initiator.children.values()
    assert new.spi_in != old.spi_in and new.rekey_of == old.spi_in
    assert [e.summary for e in lab.events("responder", ev.MessageSent)][-1] == "HDR, SK {N(CHILD_SA_NOT_FOUND)}"
    (failure,) = lab.events("initiator", ev.Failure)
    assert failure.notify == "CHILD_SA_NOT_FOUND" and not failure.fatal
    assert failure.reason == f"rekey of CHILD SA 0x{old.spi_in.hex()} not needed: it was rekeyed or deleted meanwhile"


def test_ike_sa_rekey_asks_again_after_invalid_ke_payload() -> None:
    """The same for an IKE SA rekey (RFC 7296 1.3, 2.18): the responder now takes only ECP-256."""
    import dataclasses

    lab = established(ike="aes128-sha256-modp2048-ecp256")
    assert lab.initiator.suite.dh.name == "MODP_2048"
    lab.responder.config = dataclasses.replace(lab.responder.config, ike_proposals=("aes128-sha256-ecp256",))
    lab.rekey_ike("initiator")
    lab.run_until_idle()
    (failure,) = lab.events("initiator", ev.Failure)
    assert failure.notify == "INVALID_KE_PAYLOAD" and "asking again" in failure.reason
    (rekeyed,) = lab.events("initiator", ev.IkeSaRekeyed)
    new = lab.sa("initiator")
    assert new.spi_i == rekeyed.new_spi_i and new.suite.dh.name == "ECP_256"
    assert new.keys.as_dict() == lab.sa("responder").keys.as_dict()


@pytest.mark.parametrize("action", ["rekey_child", "rekey_ike"])
def test_a_kei_in_an_unassigned_group_is_answered_invalid_ke_payload(action: str, monkeypatch) -> None:
    """RFC 7296 1.3: a KEi whose group the responder will not take is answered with INVALID_KE_PAYLOAD naming the
    group it wants, and an unassigned number (1000) is such a group.  It used to reach proposal selection as a
    preference and be refused as INVALID_SYNTAX ("unknown DhId 1000"), in CREATE_CHILD_SA as in IKE_SA_INIT
    (tests/interop/test_review_init_vs_charon.py; charon answers INVALID_KE_PAYLOAD).  The request's bytes
    are ikelab's own with the KE's group field changed, since ikelab never offers such a group."""
    from ikelab import exchanges_wire as W

    esp = "aes128gcm16-x25519"
    lab = established(esp=esp)
    real_ke = W.ke
    monkeypatch.setattr(W, "ke", lambda group, data: real_ke(1000, data))  # the next KE payload built
    real_notify, named = W.notify, []

    def notify(ntype, *args, **kw):  # type: ignore[no-untyped-def]
        made = real_notify(ntype, *args, **kw)
        if ntype == NotifyType.INVALID_KE_PAYLOAD:
            named.append(bytes(made.data))
        return made

    monkeypatch.setattr(W, "notify", notify)
    if action == "rekey_child":
        lab.rekey_child("initiator", pfs="CURVE25519")
    else:
        lab.rekey_ike("initiator")
    monkeypatch.setattr(W, "ke", real_ke)
    lab.run_until_idle()
    (answer, *_) = [e for e in lab.events("responder", ev.MessageSent) if e.exchange == "CREATE_CHILD_SA"]
    assert answer.summary == "HDR, SK {N(INVALID_KE_PAYLOAD)}"
    assert not [f for f in lab.events("responder", ev.Failure) if f.notify == "INVALID_SYNTAX"]
    want = 31 if action == "rekey_child" else 19  # the configured group: Curve25519 for ESP, ECP-256 for IKE
    assert named == [want.to_bytes(2, "big")]
    (refused,) = lab.events("initiator", ev.Failure)  # it names the group moon believes it sent: no retry
    assert refused.notify == "INVALID_KE_PAYLOAD" and not refused.fatal
    assert_same_sas(lab)  # nothing changed on either side


def test_only_an_offered_group_is_worth_asking_again() -> None:
    """An INVALID_KE_PAYLOAD naming a group we did not offer, or the one we sent, gets no second request."""
    from ikelab import exchanges_wire as W
    from ikelab.exchanges_wire import group_asked as _group_asked
    from ikelab.proposals import parse_proposals

    offered = parse_proposals(["aes128-sha256-modp2048-ecp256"], protocol="ESP")

    def answer(group: int) -> object:
        return W.message(b"\x01" * 8, b"\x02" * 8, ExchangeType.IKE_SA_INIT, False, True, 0,
                         [W.notify(NotifyType.INVALID_KE_PAYLOAD, data=group.to_bytes(2, "big"))])

    assert _group_asked(answer(19), offered, 14) == 19
    assert _group_asked(answer(20), offered, 14) is None  # ECP-384: not offered
    assert _group_asked(answer(14), offered, 14) is None  # the group we just sent
    assert _group_asked(W.message(b"\x01" * 8, b"\x02" * 8, ExchangeType.IKE_SA_INIT, False, True, 0, []),
                        offered, 14) is None


@pytest.mark.parametrize("side", ["initiator", "responder"])
def test_delete_child_either_direction(side: str) -> None:
    lab = established()
    ci, cr = child_pair(lab)
    lab.delete_child(side)
    lab.run_until_idle()
    assert not lab.initiator.children and not lab.responder.children
    (di,) = lab.events("initiator", ev.ChildSaDeleted)
    (dr,) = lab.events("responder", ev.ChildSaDeleted)
    assert (di.spi_in, di.spi_out) == (ci.spi_in, ci.spi_out) and (dr.spi_in, dr.spi_out) == (cr.spi_in, cr.spi_out)
    # the response carries the peer's inbound SPI of the pair (RFC 7296 1.4.1)
    other = "responder" if side == "initiator" else "initiator"
    response = lab.events(other, ev.MessageSent)[-1]
    assert response.is_response and response.summary == "HDR, SK {D}"
    assert lab.initiator.state == State.ESTABLISHED


@pytest.mark.parametrize("side", ["initiator", "responder"])
def test_delete_ike_either_direction(side: str) -> None:
    lab = established()
    first = lab.initiator, lab.responder
    lab.delete_ike(side)
    lab.run_until_idle()
    for sa in first:
        assert sa.state == State.CLOSED and not sa.children
    for s in ("initiator", "responder"):
        assert len(lab.events(s, ev.IkeSaDeleted)) == 1
        assert len(lab.events(s, ev.ChildSaDeleted)) == 1
    other = "responder" if side == "initiator" else "initiator"
    assert lab.events(other, ev.MessageSent)[-1].summary == "HDR, SK {}"


@pytest.mark.parametrize("side", ["initiator", "responder"])
def test_rekey_ike_sa_either_direction(side: str) -> None:
    lab = established()
    old_i, old_r = lab.initiator, lab.responder
    old_keys = old_i.keys
    children = set(old_i.children)
    lab.rekey_ike(side)
    lab.run_until_idle()
    new_i = lab.initiator
    assert new_i is not old_i and old_i.state == old_r.state == State.CLOSED
    assert {new_i.spi_i, new_i.spi_r}.isdisjoint({old_i.spi_i, old_i.spi_r})
    assert_same_sas(lab)
    assert set(new_i.children) == children  # CHILD SAs moved over, not deleted
    assert lab.events("initiator", ev.ChildSaDeleted) == []
    # the peer that rekeyed is the original initiator of the new IKE SA (I flag)
    assert lab.sa(side).initiator is True
    k = [e for e in lab.events(side, ev.KeysDerived) if e.rekey][0]
    assert k.sk_d_old == old_keys.sk_d
    assert k.skeyseed == prf("PRF_HMAC_SHA2_256", old_keys.sk_d, k.g_ir + k.ni + k.nr)  # RFC 7296 2.18
    assert lab.sa(side).keys.sk_d == prf_plus("PRF_HMAC_SHA2_256", k.skeyseed, k.ni + k.nr + k.spi_i + k.spi_r, 32)
    for s in ("initiator", "responder"):
        assert len(lab.events(s, ev.IkeSaRekeyed)) == 1
        assert [d.reason for d in lab.events(s, ev.IkeSaDeleted)] == ["rekeyed"]
    # message IDs restart at 0 on the new IKE SA
    lab.liveness("initiator")
    lab.run_until_idle()
    assert lab.events("initiator", ev.MessageSent)[-1].message_id in (0, 1)


def test_simultaneous_child_rekey_keeps_one_pair_rfc_7296_2_8_1() -> None:
    for seed in range(1, 6):
        lab = established(seed=seed)
        lab.rekey_child("initiator")
        lab.rekey_child("responder")
        lab.run_until_idle()
        assert len(lab.initiator.children) == 1, seed
        assert_same_sas(lab)
        # four nonces: the surviving SA is not the one created with the lowest
        created = [e for e in lab.events("initiator", ev.ChildSaCreated) if e.exchange == "CREATE_CHILD_SA"]
        assert len(created) == 2
        (survivor,) = lab.initiator.children.values()
        deleted = {d.spi_in for d in lab.events("initiator", ev.ChildSaDeleted)}
        assert survivor.spi_in not in deleted and len(deleted) == 2  # the old SA and the redundant one
        assert len(lab.events("initiator", ev.ChildSaRekeyed)) == 2


@pytest.mark.parametrize("seed", range(11, 17))  # in some, the lowest and the highest nonce are in different SAs
def test_simultaneous_rekey_survivor_rule(seed: int) -> None:
    lab = established(seed=seed)
    lab.rekey_child("initiator")
    lab.rekey_child("responder")
    # remember the nonces of both new CHILD SAs before the redundant one is deleted
    nonces: dict[bytes, tuple[bytes, bytes]] = {}

    def grab(side: str, event: ev.Event) -> None:
        if side == "initiator" and isinstance(event, ev.ChildSaCreated):
            child = lab.initiator.children[event.spi_in]
            nonces[event.spi_in] = (child.ni, child.nr)

    lab.callbacks.append(grab)
    lab.run_until_idle()
    assert len(nonces) == 2
    (survivor,) = lab.initiator.children
    lowest = min(n for pair in nonces.values() for n in pair)
    assert lowest not in nonces[survivor]


# --------------------------------------------------------------------------- retransmission and timers


def test_lost_response_is_retransmitted_and_answered_from_cache() -> None:
    lab = Lab(*configs(), seed=1, network=Network(schedule=("ok", "ok", "ok", "drop")))
    lab.initiate()
    lab.run_until_idle()
    assert_same_sas(lab)
    (r,) = lab.events("initiator", ev.Retransmitted)
    assert (r.exchange, r.message_id, r.attempt) == ("IKE_AUTH", 1, 1)
    assert r.time == pytest.approx(0.02 + 4.0)  # retransmit_timeout 4 s (strongSwan's default)
    # the responder processed IKE_AUTH once and resent its cached response
    assert len(lab.events("responder", ev.IkeSaEstablished)) == 1
    assert len([a for a in lab.events("responder", ev.AuthComputed) if a.verified]) == 1
    resent = [e for e in lab.events("responder", ev.MessageSent) if e.retransmission]
    assert len(resent) == 1 and resent[0].exchange == "IKE_AUTH"
    payloads = [p.payload for p in lab.trace if p.src == "192.0.2.2"]
    assert payloads[-1] == payloads[-2]  # byte for byte the same response


def test_give_up_after_retransmissions_with_exponential_backoff() -> None:
    lab = Lab(*configs(), seed=1, network=Network(loss=1.0))
    lab.initiate()
    lab.run(until=1000.0)
    times = [r.timeout for r in lab.events("initiator", ev.Retransmitted)]
    assert times == pytest.approx([4.0 * 1.8 ** n for n in range(1, 6)])
    assert [r.time for r in lab.events("initiator", ev.Retransmitted)] == pytest.approx(
        [sum(4.0 * 1.8 ** k for k in range(n)) for n in range(1, 6)])
    assert lab.initiator.state == State.CLOSED
    fail = [f for f in lab.events("initiator", ev.Failure) if f.fatal]
    assert fail and "retransmissions" in fail[0].reason
    assert len(lab.trace) == 6


def test_the_last_ike_auth_retransmission_still_finds_the_half_open_sa() -> None:
    """RFC 7296 2.1, 2.4: the initiator sends IKE_AUTH and retransmits it ``retransmit_tries`` times; only the
    last one gets through.  The responder keeps its half-open IKE SA for as long as those retransmissions
    can come (the wait after the last one included), so the last one still establishes the IKE SA."""
    lab = Lab(*configs(), seed=1, network=Network(schedule=("ok", "ok") + ("drop",) * 5))  # IKE_AUTH, 4 resends lost
    lab.initiate()
    lab.run_until_idle()
    assert [r.attempt for r in lab.events("initiator", ev.Retransmitted)] == [1, 2, 3, 4, 5]
    assert lab.initiator.state == lab.responder.state == State.ESTABLISHED
    assert_same_sas(lab)
    assert not lab.events("responder", ev.Failure)


def test_duplicated_request_is_not_processed_twice() -> None:
    lab = Lab(*configs(), seed=1, network=Network(schedule=("dup", "dup", "dup", "dup")))
    lab.initiate()
    lab.run_until_idle()
    assert_same_sas(lab)
    assert len(lab.events("responder", ev.KeysDerived)) == 1
    assert len(lab.endpoints["responder"].sas) == 1


def test_lifetimes_drive_rekey_and_liveness() -> None:
    lab = Lab(*configs(child_rekey_time=60, child_lifetime=90, ike_rekey_time=150, ike_lifetime=200,
                       dpd_interval=45), seed=1)
    lab.initiate()
    lab.run(until=130.0)
    assert lab.initiator.state == State.ESTABLISHED
    assert len(lab.events("initiator", ev.ChildSaRekeyed)) + len(lab.events("responder", ev.ChildSaRekeyed)) >= 2
    assert lab.events("initiator", ev.LivenessChecked) or lab.events("responder", ev.LivenessChecked)
    lab.run(until=170.0)
    assert lab.events("initiator", ev.IkeSaRekeyed)
    assert_same_sas(lab)


def test_hard_lifetime_deletes_child() -> None:
    ci, cr = configs(child_rekey_time=60, child_lifetime=61)
    lab = Lab(ci, cr, seed=1, network=Network(delay=0.01))
    lab.initiate()
    lab.run_until_idle()
    (c,) = lab.initiator.children.values()
    c.rekey_at = None  # pretend rekeying never happens: the hard limit deletes it
    lab.responder.children[c.spi_out].rekey_at = None
    lab.run(until=100.0)
    assert not lab.initiator.children and not lab.responder.children


# --------------------------------------------------------------------------- NAT traversal


def test_encapsulation_always_switches_to_port_4500() -> None:
    lab = Lab(*configs(i=dict(encapsulation="always")), seed=1)
    lab.initiate()
    lab.run_until_idle()
    assert_same_sas(lab)
    ports = [(p.sport, p.dport) for p in lab.trace]
    assert ports == [(500, 500), (500, 500), (4500, 4500), (4500, 4500)]
    assert all(p.payload[:4] == b"\x00\x00\x00\x00" for p in lab.trace[2:])  # RFC 3948 non-ESP marker
    assert lab.responder.nat_detected
    for side in ("initiator", "responder"):
        created = lab.events(side, ev.ChildSaCreated)[0]
        assert created.udp_encap and created.local_port == created.remote_port == 4500
    lab.rekey_child("responder")
    lab.run_until_idle()
    assert all(p.dport == 4500 for p in lab.trace[4:])


# --------------------------------------------------------------------------- robustness


def _tampered_variants(data: bytes) -> list[bytes]:
    out = []
    for pos in (0, 8, 17, 18, 20, 27, 28, 40, len(data) // 2, len(data) - 1):
        flipped = bytearray(data)
        flipped[pos] ^= 0x01
        out.append(bytes(flipped))
    out += [data[:-1], data[:30], data + b"\x00", b""]
    return out


def test_tampered_and_malformed_messages_never_change_an_established_sa() -> None:
    lab = established()
    lab.liveness("initiator")
    request = lab.endpoints["initiator"].pop_datagrams()
    lab.run_until_idle()
    sa = lab.responder
    before = sa.snapshot()
    last_request = [p for p in lab.trace if p.src == "192.0.2.1"][-1].payload
    for bad in _tampered_variants(last_request):
        if bad == last_request:
            continue
        sa.receive(bad, lab.now, src=("192.0.2.1", 500))
        assert sa.snapshot() == before
    sa.pop_datagrams()
    drops = [e for e in sa.pop_events() if isinstance(e, ev.MessageDropped)]
    assert len(drops) >= 10
    assert not request


def test_ike_fragments_are_dropped_when_fragmentation_was_not_negotiated() -> None:
    """RFC 7383 2.5: no SKF without IKEV2_FRAGMENTATION_SUPPORTED from both sides (ikelab sends none).

    Fragment 1 of an INFORMATIONAL that deletes 30 CHILD SAs was once taken for a whole request
    without payloads: a liveness check, answered, its message ID spent and the DELETE lost.
    """
    from ikelab import sk
    from ikelab.constants import ProtocolId
    from ikelab.payloads import Delete

    lab = established()
    sa, peer = lab.responder, lab.initiator
    msg = peer._message(ExchangeType.INFORMATIONAL, peer._next_request_id, False,
                        [Delete(ProtocolId.ESP, [bytes(4)] * 30)])
    fragments = sk.fragment(msg, peer._crypto(sending=True), max_message_size=120)
    assert len(fragments) == 3
    before = sa.snapshot()
    for data in fragments:
        sa.receive(data, lab.now, src=("192.0.2.1", 500))
    assert sa.snapshot() == before and sa.pop_datagrams() == []
    reasons = [e.reason for e in sa.pop_events() if isinstance(e, ev.MessageDropped)]
    assert reasons == ["an IKE fragment (SKF, RFC 7383), but IKE fragmentation was not negotiated"] * 3


def test_initial_contact_only_when_configured() -> None:
    """RFC 7296 2.4: N(INITIAL_CONTACT) in the IKE_AUTH request says older IKE SAs between the same identities
    are stale; ``ikelab connect`` sets it (a fresh run), the lab does not unless asked."""
    from ikelab.errors import ConfigError

    for wanted in (False, True):
        lab = established(i=dict(initial_contact=wanted))
        auth_request = decode(lab.trace[2].payload, crypto=lab.initiator._crypto(sending=True))
        inner = [type(p).__name__ + (f"({p.type_name})" if isinstance(p, Notify) else "")
                 for p in auth_request.payloads[0].inner]
        assert ("Notify(INITIAL_CONTACT)" in inner) == wanted, inner
        assert inner[-4:-3] == ["AUTH"]  # the notify goes before AUTH, as strongSwan places it
    with pytest.raises(ConfigError, match="initial_contact must be True or False"):
        configs(i=dict(initial_contact="yes"))


def test_replayed_and_out_of_window_requests() -> None:
    lab = established()
    sa = lab.responder
    auth_request = lab.trace[2].payload
    before = sa.snapshot()
    sa.receive(auth_request, lab.now, src=("192.0.2.1", 500))  # a retransmission: cached response, no change
    assert sa.snapshot() == before
    (again,) = sa.pop_datagrams()
    assert again.payload == lab.trace[3].payload
    # a request with a message ID ahead of the window is dropped
    peer = lab.initiator
    msg = peer._message(ExchangeType.INFORMATIONAL, 5, False, [])
    sa.receive(peer._encode(msg), lab.now)
    assert sa.snapshot() == before and sa.pop_datagrams() == []
    # an unexpected response is dropped
    msg = peer._message(ExchangeType.INFORMATIONAL, 0, True, [])
    sa.receive(peer._encode(msg), lab.now)
    assert sa.snapshot() == before and sa.pop_datagrams() == []


def test_ike_sa_init_to_an_established_sa_is_dropped() -> None:
    lab = established()
    for sa, data in ((lab.responder, lab.trace[0].payload), (lab.initiator, lab.trace[1].payload)):
        before = sa.snapshot()
        sa.receive(data, lab.now)
        assert sa.snapshot() == before and sa.pop_datagrams() == []


# --------------------------------------------------------------------------- the transition table

LOCAL_ACTIONS = {
    Input.INITIATE: lambda sa, now: sa.initiate(now),
    Input.CREATE_CHILD: lambda sa, now: sa.create_child(now),
    Input.REKEY_CHILD: lambda sa, now: sa.rekey_child(b"\x00\x00\x01\x00", now),
    Input.REKEY_IKE: lambda sa, now: sa.rekey_ike(now),
    Input.LIVENESS: lambda sa, now: sa.liveness(now),
    Input.DELETE_CHILD: lambda sa, now: sa.delete_child(b"\x00\x00\x01\x00", now),
    Input.DELETE_IKE: lambda sa, now: sa.delete_ike(now),
}


def _sas_in_every_state() -> dict[State, list[IkeSa]]:
    found: dict[State, list[IkeSa]] = {s: [] for s in State}
    ci, cr = configs()
    found[State.IDLE].append(IkeSa(ci, initiator=True, local=("192.0.2.1", 500), remote=("192.0.2.2", 500)))
    for steps, side, state in ((0, "initiator", State.INIT_SENT), (1, "responder", State.INIT_DONE),
                               (2, "initiator", State.AUTH_SENT)):
        lab = Lab(ci, cr, seed=5)
        lab.initiate()
        for _ in range(steps):
            lab.step()
        found[state].append(lab.sa(side))
    lab = established(seed=5)
    found[State.ESTABLISHED] += [lab.initiator, lab.responder]
    lab2 = established(seed=6)
    lab2.delete_ike("initiator")
    found[State.DELETING].append(lab2.initiator)
    lab3 = established(seed=7)
    old = lab3.initiator
    lab3.rekey_ike("initiator")
    while old.state != State.REKEYED:
        lab3.step()
    found[State.REKEYED].append(old)
    lab4 = established(seed=8)
    lab4.delete_ike("responder")
    lab4.run_until_idle()
    found[State.CLOSED] += [lab4.initiator, lab4.responder]
    for state, sas in found.items():
        assert sas and all(sa.state == state for sa in sas), state
    return found


def test_every_pair_outside_the_table_is_rejected_without_state_change() -> None:
    checked = 0
    for state, sas in _sas_in_every_state().items():
        for sa in sas:
            for inp in Input:
                if (state, inp) in TRANSITIONS:
                    continue
                before = sa.snapshot()
                sa.pop_datagrams()
                assert sa.handle(inp, 50.0) is False
                if inp in LOCAL_ACTIONS:
                    with pytest.raises(ProtocolError):
                        LOCAL_ACTIONS[inp](sa, 50.0)
                assert sa.snapshot() == before, (state, inp)
                assert sa.pop_datagrams() == []
                checked += 1
    assert checked > 60


def test_protected_request_outside_the_table_is_answered_invalid_syntax() -> None:
    lab = established()
    sa, peer = lab.responder, lab.initiator
    before = sa.snapshot()
    msg = peer._message(ExchangeType.IKE_AUTH, peer._next_request_id, False, [])
    sa.receive(peer._encode(msg), lab.now)
    (out,) = sa.pop_datagrams()
    answer = decode(out.payload, crypto=peer._crypto(sending=False))
    inner = answer.payloads[0]
    assert isinstance(inner, SK) and [n.notify_type for n in inner.inner] == [NotifyType.INVALID_SYNTAX]
    assert sa.state == State.ESTABLISHED and sa.keys == before[3] and sa.children
    # the same kind of message as a response without an outstanding request is dropped
    msg = peer._message(ExchangeType.CREATE_CHILD_SA, 0, True, [])
    state = sa.snapshot()
    sa.receive(peer._encode(msg), lab.now)
    assert sa.pop_datagrams() == [] and sa.snapshot() == state


def test_table_is_plain_data() -> None:
    from ikelab.state import transition_rows

    rows = transition_rows()
    assert ("INIT_DONE", "IKE_AUTH_REQUEST", "on_ike_auth_request", "ESTABLISHED") in rows
    for (_, _), (handler, nxt) in TRANSITIONS.items():
        assert hasattr(IkeSa, handler) and isinstance(nxt, State)


# --------------------------------------------------------------------------- error answers (RFC 7296 2.5, 2.21.1)


def _responder_answer(data: bytes) -> list:
    from ikelab.exchanges_common import Datagram

    lab = Lab(*configs(), seed=1)
    ep = lab.endpoints["responder"]
    ep.receive(Datagram(data, ("192.0.2.1", 500), ("192.0.2.2", 500)), 0.0)
    assert ep.sas == {} and ep.half_open == {}
    return [decode(d.payload) for d in ep.pop_datagrams()]


def _first_request() -> bytes:
    lab = Lab(*configs(), seed=1)
    lab.initiate()
    return lab.trace[0].payload


def test_higher_major_version_is_answered_invalid_major_version() -> None:
    data = bytearray(_first_request())
    data[17] = 0x30  # major version 3 (RFC 7296 3.1)
    (answer,) = _responder_answer(bytes(data))
    assert answer.is_response and answer.spi_i == data[:8] and answer.spi_r == bytes(8)
    assert [n.notify_type for n in answer.notifies] == [NotifyType.INVALID_MAJOR_VERSION]


def test_unknown_critical_payload_is_answered_unsupported_critical_payload() -> None:
    from ikelab.payloads import UnknownPayload

    msg = decode(_first_request())
    bad = msg.with_payloads(*msg.payloads, UnknownPayload(200, b"xyz", critical=True)).encode()
    (answer,) = _responder_answer(bad)
    (n,) = answer.notifies
    assert n.notify_type == NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD and n.data == bytes([200])  # 3.10.1
    ok = msg.with_payloads(*msg.payloads, UnknownPayload(200, b"xyz", critical=False)).encode()
    lab = Lab(*configs(), seed=1)
    from ikelab.exchanges_common import Datagram

    lab.endpoints["responder"].receive(Datagram(ok, ("192.0.2.1", 500), ("192.0.2.2", 500)), 0.0)
    assert len(lab.endpoints["responder"].half_open) == 1  # a non-critical unknown payload is ignored (2.5)


def test_protected_request_with_unknown_critical_payload() -> None:
    from ikelab.payloads import UnknownPayload

    lab = established()
    sa, peer = lab.responder, lab.initiator
    keys, children = sa.keys, dict(sa.children)
    msg = peer._message(ExchangeType.INFORMATIONAL, peer._next_request_id, False,
                        [UnknownPayload(201, b"", critical=True)])
    sa.receive(peer._encode(msg), lab.now)
    (out,) = sa.pop_datagrams()
    answer = decode(out.payload, crypto=peer._crypto(sending=False))
    (n,) = answer.payloads[0].inner
    assert n.notify_type == NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD and n.data == bytes([201])
    assert sa.state == State.ESTABLISHED and sa.keys == keys and sa.children == children


def test_simultaneous_ike_sa_rekey_follows_the_nonce_rule_rfc_7296_2_8_2() -> None:
    winners = set()
    for seed in range(1, 17):
        lab = established(seed=seed)
        first = lab.initiator
        lab.rekey_ike("initiator")
        lab.rekey_ike("responder")
        lab.run(until=lab.now + 60.0)
        assert first.state == State.CLOSED, seed
        established_i = [sa for sa in lab.sas("initiator") if sa.state == State.ESTABLISHED]
        established_r = [sa for sa in lab.sas("responder") if sa.state == State.ESTABLISHED]
        assert len(established_i) == len(established_r) == 1, seed
        assert_same_sas(lab)
        assert len(lab.initiator.children) == 1
        # both requests were answered as usual (2.25.2): two new IKE SAs, no TEMPORARY_FAILURE
        rekeys = [k for k in lab.events("initiator", ev.KeysDerived) if k.rekey]
        assert len(rekeys) == 2, seed
        assert not any(f.notify == "TEMPORARY_FAILURE" for s in ("initiator", "responder")
                       for f in lab.events(s, ev.Failure))
        # the one made with the lowest of the four nonces was deleted; the other one holds the CHILD SA
        lowest = min(n for k in rekeys for n in (k.ni, k.nr))
        (survivor,) = established_i
        (made,) = [k for k in rekeys if (k.spi_i, k.spi_r) == (survivor.spi_i, survivor.spi_r)]
        assert lowest not in (made.ni, made.nr), seed
        (redundant,) = [k for k in rekeys if k is not made]
        for side in ("initiator", "responder"):
            gone = [d for d in lab.events(side, ev.IkeSaDeleted) if (d.spi_i, d.spi_r) == (redundant.spi_i, redundant.spi_r)]
            assert len(gone) == 1, (seed, side)
        winners.add(survivor.initiator)
    assert winners == {True, False}  # over these seeds each peer's rekey won at least once


def test_an_established_ike_sa_forgets_its_dh_private_key_and_the_signed_messages() -> None:
    """Forward secrecy (RFC 7296 2.12): once g^ir has made the keys, the private value should be gone;
    the IKE_SA_INIT messages AUTH signed are not needed either. The events still report them."""
    lab = established()
    for sa in (lab.initiator, lab.responder):
        for attr in ("_dh_key", "_dh_group", "_real_message_1", "_real_message_2"):
            assert not hasattr(sa, attr), (sa.side, attr)
        assert not hasattr(sa, "__dict__")  # slots: no stray per-SA state
    (keys,) = lab.events("initiator", ev.KeysDerived)
    assert keys.g_ir and keys.skeyseed
    first, *_ = lab.events("initiator", ev.AuthComputed)
    assert first.message == lab.trace[0].payload  # RealMessage1, as sent
    # and the SA still works: liveness, a CHILD SA rekey with PFS and an IKE SA rekey
    lab.liveness("initiator")
    lab.rekey_child("initiator", pfs=True)
    lab.rekey_ike("responder")
    lab.run_until_idle()
    assert_same_sas(lab)


def test_nat_detected_from_the_source_address() -> None:
    from ikelab.exchanges_common import Datagram

    lab = Lab(*configs(), seed=1)
    lab.initiate()
    req = lab.trace[0]
    ep = lab.endpoints["responder"]
    # the request arrives from a translated address: the NATD hashes do not match (RFC 7296 2.23)
    ep.receive(Datagram(req.payload, ("198.51.100.7", 40000), ("192.0.2.2", 500)), 0.01)
    (sa,) = ep.half_open.values()
    assert sa.nat_detected and sa.nat_remote and not sa.nat_local
    (resp,) = ep.pop_datagrams()
    msg = decode(resp.payload)
    expect = hashlib.sha1(msg.spi_i + msg.spi_r + ipaddress.ip_address("198.51.100.7").packed
                          + (40000).to_bytes(2, "big")).digest()
    assert msg.notify(NotifyType.NAT_DETECTION_DESTINATION_IP).data == expect
    assert resp.dst == ("198.51.100.7", 40000)


def test_dead_peer_detected_by_liveness() -> None:
    lab = established(dpd_interval=30)
    lab.network = Network(loss=1.0)  # the responder vanishes
    lab.run(until=lab.now + 200.0)
    assert lab.initiator.state == State.CLOSED and not lab.initiator.children
    checks = lab.events("initiator", ev.LivenessChecked)
    assert checks and checks[-1].alive is False
    assert lab.events("initiator", ev.ChildSaDeleted)
    retransmitted = lab.events("initiator", ev.Retransmitted)
    assert len(retransmitted) == 5 and {r.exchange for r in retransmitted} == {"INFORMATIONAL"}


def test_cookie_then_invalid_ke_then_success() -> None:
    lab = Lab(*configs(i=dict(ike_proposals=("aes128-sha256-ecp256", "aes128-sha256-x25519")),
                       r=dict(ike_proposals=("aes128-sha256-x25519",), cookie_threshold=0)), seed=4)
    lab.initiate()
    lab.run_until_idle()
    assert_same_sas(lab)
    msgs = [decode(p.ike_message) for p in lab.trace][:6]
    answers = [[n.notify_type for n in m.notifies if n.is_error or n.notify_type == NotifyType.COOKIE]
               for m in msgs[1:5:2]]
    assert answers == [[NotifyType.COOKIE], [NotifyType.INVALID_KE_PAYLOAD]]
    # the third IKE_SA_INIT request still carries the cookie first, now with a Curve25519 KE
    third = msgs[4]
    assert third.payloads[0].notify_type == NotifyType.COOKIE and third.message_id == 0
    assert [p.group for p in third.payloads if type(p).__name__ == "KE"] == [31]
    resent = [e for e in lab.events("initiator", ev.MessageSent) if e.exchange == "IKE_SA_INIT"]
    assert [e.retransmission for e in resent] == [False, False, False]


def _protected_messages() -> tuple[Lab, list]:
    lab = established(seed=13)
    lab.create_child("initiator")
    lab.run_until_idle()
    lab.liveness("responder")
    lab.run_until_idle()
    return lab, [p for p in lab.trace[2:]]


_LAB, _PACKETS = _protected_messages()


@settings(max_examples=60, deadline=None)
@given(index=st.integers(0, len(_PACKETS) - 1), cuts=st.lists(st.tuples(st.integers(0, 2000), st.integers(1, 255)),
                                                               min_size=1, max_size=3),
       truncate=st.one_of(st.none(), st.integers(0, 400)))
def test_tampered_messages_never_change_established_sas(index: int, cuts: list, truncate: int | None) -> None:
    pkt = _PACKETS[index]
    data = bytearray(pkt.payload)
    for pos, xor in cuts:
        data[pos % len(data)] ^= xor
    if truncate is not None:
        data = data[:truncate]
    receiver = _LAB.responder if pkt.src == "192.0.2.1" else _LAB.initiator
    other = _LAB.initiator if receiver is _LAB.responder else _LAB.responder
    before, before_other = receiver.snapshot(), other.snapshot()
    receiver.receive(bytes(data), _LAB.now, src=(pkt.src, pkt.sport), dst=(pkt.dst, pkt.dport))
    out = receiver.pop_datagrams()
    receiver.pop_events()
    assert receiver.snapshot() == before and other.snapshot() == before_other
    # at most the cached response to an (untampered-looking) old request is sent again, never a new one
    for d in out:
        assert d.payload in {p.payload for p in _PACKETS}


# --------------------------------------------------------------------------- authenticated but odd requests

from ikelab.constants import ProtocolId, TransformType  # noqa: E402
from ikelab.payloads import KE, SA, TSi, TSr, Delete, Nonce, Proposal, TrafficSelector, Transform  # noqa: E402

_TRANSFORMS = st.builds(Transform, st.sampled_from(list(TransformType)), st.integers(0, 40),
                        st.sampled_from([None, 128, 256]))


@st.composite
def _proposals(draw):  # noqa: ANN001, ANN202 - hypothesis strategy
    protocol = draw(st.sampled_from([ProtocolId.IKE, ProtocolId.ESP, ProtocolId.AH]))
    spi = draw(st.binary(min_size=8, max_size=8)) if protocol == ProtocolId.IKE else draw(
        st.binary(min_size=4, max_size=4))
    return Proposal(1, protocol, spi, tuple(draw(st.lists(_TRANSFORMS, min_size=1, max_size=5))))


_NETS = st.sampled_from(["192.0.2.1/32", "192.0.2.2/32", "0.0.0.0/0", "198.51.100.0/24", "192.0.2.0/24"])
_PAYLOADS = st.one_of(
    st.builds(lambda p: SA((p,)), _proposals()),
    st.builds(Nonce, st.binary(min_size=16, max_size=40)),
    st.builds(KE, st.sampled_from([14, 19, 31, 2, 77]), st.binary(min_size=0, max_size=300)),
    st.builds(lambda n: TSi((TrafficSelector.from_network(n),)), _NETS),
    st.builds(lambda n: TSr((TrafficSelector.from_network(n),)), _NETS),
    st.builds(lambda t, s: Notify(t, ProtocolId.ESP, s), st.sampled_from(
        [NotifyType.REKEY_SA, NotifyType.USE_TRANSPORT_MODE, NotifyType.NO_PROPOSAL_CHOSEN,
         NotifyType.TEMPORARY_FAILURE]), st.binary(min_size=4, max_size=4)),
    st.builds(lambda s: Delete(ProtocolId.ESP, (s,)), st.binary(min_size=4, max_size=4)),
)


@settings(max_examples=80, deadline=None)
@given(exchange=st.sampled_from([ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL, ExchangeType.IKE_AUTH]),
       payloads=st.lists(_PAYLOADS, max_size=6), to_initiator=st.booleans(), use_real_spi=st.booleans())
def test_authenticated_odd_requests_never_crash(exchange, payloads, to_initiator, use_real_spi) -> None:  # noqa: ANN001
    lab = established(seed=17)
    sa, peer = (lab.initiator, lab.responder) if to_initiator else (lab.responder, lab.initiator)
    if use_real_spi:  # aim REKEY_SA / Delete at the real CHILD SA
        (child,) = peer.children.values()
        payloads = [Notify(p.notify_type, p.protocol, child.spi_in) if isinstance(p, Notify) else
                    Delete(ProtocolId.ESP, (child.spi_in,)) if isinstance(p, Delete) else p for p in payloads]
    keys = sa.keys
    msg = peer._message(exchange, peer._next_request_id, False, payloads)
    sa.receive(peer._encode(msg), lab.now)
    (answer,) = sa.pop_datagrams()  # every authenticated request gets exactly one response
    decode(answer.payload, crypto=peer._crypto(sending=False))
    assert sa.state in (State.ESTABLISHED, State.REKEYED)
    assert sa.keys == keys
    for child in sa.children.values():
        assert len(child.spi_in) == len(child.spi_out) == 4


def test_weak_group_works_only_when_allowed_and_warns() -> None:
    from ikelab.errors import WeakAlgorithmError, WeakAlgorithmWarning

    with pytest.raises(WeakAlgorithmError):
        configs(ike="aes128-sha256-modp1024")
    with pytest.warns(WeakAlgorithmWarning, match="MODP"):
        lab = Lab(*configs(ike="aes128-sha256-modp1024", allow_weak=True), seed=1)
        lab.initiate()
        lab.run_until_idle()
    assert_same_sas(lab)
    assert lab.events("initiator", ev.KeysDerived)[0].dh_group == "MODP_1024"


def test_every_message_input_is_found_from_its_exchange_and_direction():
    from ikelab.state import Input

    for inp in Input:
        if inp.is_message:
            exchange, _, direction = inp.value.rpartition("_")
            assert Input.for_message(exchange, direction == "RESPONSE") is inp
    assert Input.for_message("IKE_SESSION_RESUME", False) is None
    assert Input.for_message("INITIATE", False) is None


def test_events_name_registry_values_as_the_enums_do() -> None:
    from ikelab.constants import DhId, EncrId, NotifyType
    from ikelab.exchanges_common import label

    for member in (EncrId.ENCR_AES_GCM_16, DhId.CURVE25519, NotifyType.TS_UNACCEPTABLE):
        assert label(member) == member.name
    assert (label(None), label(1234), label("TEMPORARY_FAILURE")) == ("", "1234", "TEMPORARY_FAILURE")


def test_every_public_attribute_exists_before_the_exchanges_set_it() -> None:
    """A new IKE SA answers every public attribute (None or False until IKE_SA_INIT/IKE_AUTH set it).

    A rekeyed IKE SA once lacked nat_local and nat_remote, which only IKE_SA_INIT set: reading them raised
    AttributeError in the live driver.  Nothing public may depend on which exchange made the SA.
    """
    ci, _ = configs()
    sa = IkeSa(ci, initiator=True, local=("192.0.2.1", 500), remote=("192.0.2.2", 500))
    public = [name for name in IkeSa.__slots__ if not name.startswith("_")]
    missing = [name for name in public if not hasattr(sa, name)]
    assert missing == []
    assert (sa.nat_detected, sa.nat_local, sa.nat_remote) == (False, False, False)
    assert sa.local_auth_method is None and sa.remote_auth_method is None and sa.established_at is None


def _protected_request(peer: IkeSa, exchange: ExchangeType, first_type: int, inner: bytes) -> bytes:
    """A request from ``peer`` whose SK payload is correctly sealed but holds the raw payload chain ``inner``
    (starting with a payload of type ``first_type``), with ``peer``'s next message ID."""
    import struct

    from ikelab import sk as sk_mod

    message_id = peer._next_request_id
    peer._next_request_id += 1
    crypto = peer._crypto(sending=True)
    sealed = sk_mod.sealed_length(crypto, len(inner))
    flags = 0x08 if peer.initiator else 0
    header = peer.spi_i + peer.spi_r + bytes([46, 0x20, int(exchange), flags]) + struct.pack(
        "!II", message_id, 28 + 4 + sealed)
    aad = header + bytes([first_type, 0]) + struct.pack("!H", 4 + sealed)
    return aad + sk_mod.seal(crypto, inner, aad)


@pytest.mark.parametrize("first_type, inner", [
    (40, bytes([0, 0, 0, 8]) + b"\x01" * 4),  # a 4-octet Nonce (RFC 7296 3.9: at least 16)
    (42, bytes([0, 0, 0, 11, 3, 3, 0, 1]) + b"\xde\xad\xbe"),  # a Delete with ESP SPI Size 3 (3.11: four)
    (41, bytes([0, 0, 0, 40, 0, 0, 0x40, 0x63])),  # a Notify whose length runs past the SK payload
], ids=["short-nonce", "spi-size-3", "notify-too-long"])
def test_an_authentic_but_malformed_request_is_answered_with_invalid_syntax(first_type: int, inner: bytes) -> None:
    """RFC 7296 2.21.3: "After the IKE SA is authenticated, all requests having errors MUST result in a
    response notifying the other end of the error" (INVALID_SYNTAX, 3.10.1).  Such a request was dropped
    unanswered, so its sender retransmitted until it gave the IKE SA up."""
    lab = established()
    sa, peer = lab.responder, lab.initiator
    keys, children = sa.keys, dict(sa.children)
    expected_id = sa._peer_next_id
    sa.receive(_protected_request(peer, ExchangeType.INFORMATIONAL, first_type, inner), lab.now)
    [answer] = sa.pop_datagrams()
    reply = decode(answer.ike_message, crypto=peer._crypto(sending=False))
    assert reply.is_response and reply.message_id == expected_id
    assert [(type(p).__name__, p.notify_type) for p in reply.payloads[0].inner] == [("Notify", NotifyType.INVALID_SYNTAX)]
    assert sa.state == State.ESTABLISHED and sa.keys is keys and sa.children == children
    assert sa._peer_next_id == expected_id + 1
    lab.liveness("initiator")  # the window has moved on: the next request is answered as usual
    lab.run_until_idle()
    assert lab.events("initiator", ev.LivenessChecked)[-1].alive


def test_a_retransmitted_request_with_an_unsupported_critical_payload_gets_its_answer_again() -> None:
    """RFC 7296 2.3: the responder answers a retransmitted request with the response it sent.  A request
    refused with UNSUPPORTED_CRITICAL_PAYLOAD (2.5) was never answered again, so a lost answer ended the IKE SA."""
    lab = established()
    sa, peer = lab.responder, lab.initiator
    request = _protected_request(peer, ExchangeType.INFORMATIONAL, 201, bytes([0, 0x80, 0, 4]))
    sa.receive(request, lab.now)
    [first] = sa.pop_datagrams()
    answer = decode(first.ike_message, crypto=peer._crypto(sending=False)).payloads[0].inner
    assert [(p.notify_type, bytes(p.data)) for p in answer] == [(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, b"\xc9")]
    sa.receive(request, lab.now + 1)  # the same request again: its answer was lost
    [again] = sa.pop_datagrams()
    assert again.payload == first.payload


def test_message_ids_near_32_bits_rekey_the_ike_sa() -> None:
    """RFC 7296 2.2: "In the unlikely event that Message IDs grow too large to fit in 32 bits, the IKE SA MUST
    be closed or rekeyed."  Past 0xFFFFFFFF every request failed to encode, and a liveness timer raised out
    of handle_timer; now the IKE SA is rekeyed when they come near (its successor starts at 0), and closed
    if they run out all the same."""
    from ikelab.ike import MESSAGE_ID_MAX, MESSAGE_ID_REKEY_AT

    lab = established()
    old = lab.initiator
    old._next_request_id = lab.responder._peer_next_id = MESSAGE_ID_REKEY_AT  # as after years of liveness checks
    lab.liveness("initiator")
    lab.run_until_idle()
    new = lab.initiator
    assert new is not old and new.state == State.ESTABLISHED and old.state == State.CLOSED
    assert lab.events("initiator", ev.LivenessChecked)[-1].alive and new._next_request_id < 4
    assert_same_sas(lab)

    lab = established()
    sa = lab.initiator
    sa._next_request_id = MESSAGE_ID_MAX + 1  # used up (a rekey refused again and again, say)
    lab.liveness("initiator")
    lab.run_until_idle()
    assert sa.state == State.CLOSED and "message IDs used up" in lab.events("initiator", ev.Failure)[-1].reason


def test_a_response_handler_that_fails_does_not_leave_the_sa_stuck() -> None:
    """Whatever a handler raises on an IKE_SA_INIT or IKE_AUTH response, the SA must not be left waiting
    without a request or a timer: it ends with a fatal Failure, as an unusable KE value ends it."""
    lab = Lab(*configs(), seed=1)
    with mock.patch.object(IkeSa, "on_ike_sa_init_response", side_effect=ProtocolError("a handler bug")):
        sa = lab.initiate()
        lab.run_until_idle()
    assert sa.state == State.CLOSED and sa.get_timer() is None
    failures = [e for e in lab.events("initiator") if isinstance(e, ev.Failure)]
    assert failures and failures[-1].fatal and "a handler bug" in failures[-1].reason
    assert any(isinstance(e, ev.IkeSaDeleted) for e in lab.events("initiator"))


# --- RFC 7296 2.10: nonces at least half the PRF's key size ------------------------------------------

SHA512_SUITE = "aes256-sha512-x25519"  # PRF_HMAC_SHA2_512: a 64-octet key, so nonces of 32 octets or more


def test_a_responder_refuses_an_ni_shorter_than_half_the_prf_key() -> None:
    from ikelab import exchanges_init

    lab = Lab(*configs(SHA512_SUITE), seed=1)
    with mock.patch.object(exchanges_init, "NONCE_LEN", 16):  # a 16-octet Ni: enough for the payload, not for SHA-512
        sa = lab.initiate()
    lab.run_until_idle()
    assert sa.state == State.CLOSED and lab.responder.state != State.ESTABLISHED
    (refusal,) = [e for e in lab.events("responder", ev.Failure) if e.notify == "INVALID_SYNTAX"]
    assert "a nonce of 16 octets; with PRF_HMAC_SHA2_512 it must be at least 32" in refusal.reason


def test_an_initiator_refuses_an_nr_shorter_than_half_the_prf_key() -> None:
    from ikelab import exchanges_init

    moon_config, sun_config = configs(SHA512_SUITE)
    moon, sun = IkeEndpoint(moon_config, DeterministicRandom(1), "192.0.2.1"), IkeEndpoint(sun_config, DeterministicRandom(2))
    sa = moon.initiate(("192.0.2.2", 500), 0.0)
    (request,) = moon.pop_datagrams()
    with mock.patch.object(exchanges_init, "NONCE_LEN", 16):
        sun.receive(request, 0.0)
    (response,) = sun.pop_datagrams()
    moon.receive(response, 0.01)
    assert sa.state == State.CLOSED
    assert any("Nr is a nonce of 16 octets" in e.reason for e in moon.pop_events() if isinstance(e, ev.Failure))


def test_create_child_sa_refuses_a_short_ni_and_the_ike_sa_stands() -> None:
    from ikelab import exchanges_child

    lab = established(SHA512_SUITE)
    with mock.patch.object(exchanges_child, "NONCE_LEN", 16):
        lab.create_child("initiator")
    lab.run_until_idle()
    assert lab.initiator.state == lab.responder.state == State.ESTABLISHED
    assert len(lab.initiator.children) == len(lab.responder.children) == 1
    assert any("Ni is a nonce of 16 octets" in e.reason for e in lab.events("responder", ev.Failure))
    # with 32-octet nonces the same request goes through
    lab.create_child("initiator")
    lab.run_until_idle()
    assert len(lab.initiator.children) == len(lab.responder.children) == 2


# --- reserved SPIs (RFC 4303 2.1, RFC 7296 3.1) ----------------------------------------------------


def _peer_child_spi(lab: Lab, side: str, spi: bytes) -> None:
    """Make ``side`` choose ``spi`` for its inbound ESP SA (what its peer will send to)."""
    rng = lab.endpoints[side].rng
    draw = rng.spi
    rng.spi = lambda size=8: spi if size == 4 else draw(size)


@pytest.mark.parametrize("spi", [bytes(4), bytes.fromhex("000000ff")])
def test_a_responder_refuses_a_reserved_esp_spi_and_the_ike_sa_stands(spi: bytes) -> None:
    lab = Lab(*configs(), seed=1)
    _peer_child_spi(lab, "initiator", spi)
    lab.initiate()
    lab.run_until_idle()
    assert lab.initiator.state == lab.responder.state == State.ESTABLISHED
    assert not lab.initiator.children and not lab.responder.children
    assert not lab.events("responder", ev.ChildSaCreated)
    assert any(f"SPI 0x{spi.hex()} is reserved" in e.reason for e in lab.events("responder", ev.Failure))


def test_an_initiator_refuses_a_reserved_esp_spi_and_asks_for_the_sa_to_go() -> None:
    lab = Lab(*configs(), seed=1)
    _peer_child_spi(lab, "responder", bytes(4))
    lab.initiate()
    lab.run_until_idle()
    assert lab.initiator.state == lab.responder.state == State.ESTABLISHED
    assert not lab.initiator.children and not lab.responder.children  # the responder's half deleted on request
    assert any("SPI 0x00000000 is reserved" in e.reason for e in lab.events("initiator", ev.Failure))


def test_an_ike_sa_init_response_with_spir_zero_is_refused() -> None:
    from ikelab.exchanges_common import Datagram

    moon_config, sun_config = configs()
    moon, sun = IkeEndpoint(moon_config, DeterministicRandom(1), "192.0.2.1"), IkeEndpoint(sun_config, DeterministicRandom(2))
    sa = moon.initiate(("192.0.2.2", 500), 0.0)
    (request,) = moon.pop_datagrams()
    sun.receive(request, 0.0)
    (response,) = sun.pop_datagrams()
    forged = response.payload[:8] + bytes(8) + response.payload[16:]
    moon.receive(Datagram(forged, response.src, response.dst), 0.01)
    assert sa.state == State.CLOSED
    assert any("SPIr 0" in e.reason for e in moon.pop_events() if isinstance(e, ev.Failure))


def test_an_ike_sa_rekey_to_another_prf_uses_the_old_one_for_skeyseed_only() -> None:
    """RFC 7296 2.18: "it is the old IKE SA's PRF that is used to generate SKEYSEED", while SK_d ... SK_pr
    come from it "using the new IKE SA's PRF".  Both peers run the same code, so only the formula, computed
    here with Python's hmac, tells whether the PRFs are the right way round."""
    from dataclasses import replace

    lab = established("aes128-sha256-ecp256")
    old = lab.initiator.keys
    for sa in (lab.initiator, lab.responder):  # both now prefer SHA-384 (with PRF_HMAC_SHA2_384) for a new IKE SA
        sa.config = replace(sa.config, ike_proposals=("aes128-sha384-ecp256",))
    lab.rekey_ike("initiator")
    lab.run_until_idle()
    k = [e for e in lab.events("initiator", ev.KeysDerived) if e.rekey][0]
    assert k.prf == "PRF_HMAC_SHA2_384"
    assert k.skeyseed == prf("PRF_HMAC_SHA2_256", old.sk_d, k.g_ir + k.ni + k.nr)  # the old SA's PRF
    keymat = prf_plus("PRF_HMAC_SHA2_384", k.skeyseed, k.ni + k.nr + k.spi_i + k.spi_r, 48 * 3 + 2 * 24 + 2 * 16)
    assert keymat[:48] == k.sk_d == lab.initiator.keys.sk_d  # the new SA's PRF, and its 48-octet key size
    assert_same_sas(lab)


def test_an_ike_sa_past_its_hard_lifetime_is_deleted_not_rekeyed() -> None:
    """The rekey time is the soft limit; the lifetime is the hard one (RFC 7296 2.8, strongSwan's over_time).
    An IKE SA that reaches its lifetime (its rekeys failed, say) is deleted, with its CHILD SAs."""
    lab = established(ike_rekey_time=100.0, ike_lifetime=110.0, rekey_margin=0.0)
    for sa in (lab.initiator, lab.responder):
        sa.rekey_at = None  # as if every rekey had been refused
    expiry = min(lab.initiator.expire_at, lab.responder.expire_at)
    lab.run(expiry + 5.0)
    assert lab.initiator.state == lab.responder.state == State.CLOSED
    for side in ("initiator", "responder"):
        assert not lab.events(side, ev.IkeSaRekeyed) and lab.events(side, ev.IkeSaDeleted)
        assert len(lab.events(side, ev.ChildSaDeleted)) == 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rekey_jitter_comes_before_the_rekey_time_never_after(seed: int) -> None:
    """``rekey_margin`` (strongSwan's rand_time) draws the rekey *earlier* by up to the margin, so that two
    peers with one configuration do not both rekey at once; it must never push a rekey past its time (toward
    the hard lifetime)."""
    lab = established(ike_rekey_time=100.0, ike_lifetime=110.0, child_rekey_time=50.0, child_lifetime=60.0,
                      rekey_margin=5.0, seed=seed)
    for sa in (lab.initiator, lab.responder):
        start = sa.established_at
        assert start + 95.0 <= sa.rekey_at <= start + 100.0
        (child,) = sa.children.values()
        assert child.rekey_at is not None and child.rekey_at <= start + 50.0


def test_invalid_ke_naming_the_group_already_sent_ends_the_attempt() -> None:
    """RFC 7296 1.3/2.7: INVALID_KE_PAYLOAD names the group the responder wants; naming the one the KE already
    had is a broken (or forged) answer, and asking again with it would only repeat the exchange."""
    from ikelab.exchanges_common import Datagram

    moon_config, _ = configs()
    moon = IkeEndpoint(moon_config, DeterministicRandom(1), "192.0.2.1")
    sa = moon.initiate(("192.0.2.2", 500), 0.0)
    (request,) = moon.pop_datagrams()
    sent = decode(request.payload)
    answer = wirefmt.message(sent.spi_i, bytes(8), ExchangeType.IKE_SA_INIT, False, True, 0,
                             [wirefmt.notify(NotifyType.INVALID_KE_PAYLOAD, data=(19).to_bytes(2, "big"))])
    moon.receive(Datagram(wirefmt.encode(answer), request.dst, request.src), 0.01)
    assert moon.pop_datagrams() == [] and sa.state == State.CLOSED
    (failure,) = [e for e in moon.pop_events() if isinstance(e, ev.Failure)]
    assert failure.notify == "INVALID_KE_PAYLOAD" and failure.fatal and "already used" in failure.reason


def test_both_peers_deleting_one_child_sa_answer_with_empty_informationals() -> None:
    """RFC 7296 1.4.1: a peer asked to close a CHILD SA it is closing itself answers without a Delete payload
    (the pair is going anyway); naming it again would ask the other side to delete a second time."""
    lab = established()
    lab.delete_child("initiator")
    lab.delete_child("responder")
    lab.run_until_idle()
    assert not lab.initiator.children and not lab.responder.children
    for side in ("initiator", "responder"):
        answers = [e.summary for e in lab.events(side, ev.MessageSent) if e.is_response and e.exchange == "INFORMATIONAL"]
        requests = [e.summary for e in lab.events(side, ev.MessageSent) if not e.is_response and e.exchange == "INFORMATIONAL"]
        assert requests == ["HDR, SK {D}"] and answers == ["HDR, SK {}"], side
        assert len(lab.events(side, ev.ChildSaDeleted)) == 1


def test_a_child_sa_request_to_an_ike_sa_being_deleted_gets_temporary_failure() -> None:
    """RFC 7296 2.25: a CREATE_CHILD_SA request that meets our DELETE of the IKE SA is answered with
    TEMPORARY_FAILURE (the SA is going), not with INVALID_SYNTAX (the request was fine)."""
    lab = established()
    lab.delete_ike("initiator")
    lab.create_child("responder")
    lab.run_until_idle()
    assert lab.initiator.state == lab.responder.state == State.CLOSED
    answers = [e.summary for e in lab.events("initiator", ev.MessageSent)
               if e.is_response and e.exchange == "CREATE_CHILD_SA"]
    assert answers == ["HDR, SK {N(TEMPORARY_FAILURE)}"]


def test_an_ike_sa_being_deleted_still_answers_a_liveness_check() -> None:
    """RFC 7296 1.4, 2.4: until its DELETE is answered the IKE SA exists, and answers the peer's INFORMATIONAL
    requests (here a liveness check that crossed our DELETE); refusing it, the peer could count us dead."""
    lab = established()
    lab.delete_ike("initiator")
    lab.liveness("responder")
    lab.run_until_idle()
    answers = [e.summary for e in lab.events("initiator", ev.MessageSent)
               if e.is_response and e.exchange == "INFORMATIONAL"]
    assert answers == ["HDR, SK {}"]
    assert not [e for e in lab.events("initiator", ev.Failure)]


@pytest.mark.parametrize("sent", ["keyid:moon.example", "email:moon.example"])
def test_an_identity_of_another_type_with_the_same_octets_is_not_the_peer(sent: str) -> None:
    """RFC 7296 3.5: an identity is its type *and* its data.  The responder expects the FQDN moon.example;
    ID_KEY_ID or ID_RFC822_ADDR with those octets is someone else, and with a PSK this check is the only
    thing that binds the peer's name (strongSwan tells the types apart too)."""
    lab = Lab(*configs(i=dict(local_id=sent)), seed=1)
    lab.initiate()
    lab.run_until_idle()
    assert lab.responder.state == State.CLOSED and lab.initiator.state == State.CLOSED
    assert any(e.notify == "AUTHENTICATION_FAILED" for e in lab.events("responder", ev.Failure))


def _from_peer(lab: Lab, payloads: list) -> list:
    """An INFORMATIONAL request from the responder (protected, next Message ID) to the initiator; its answer."""
    from ikelab.exchanges_common import Datagram

    sun, moon = lab.responder, lab.initiator
    request = sun._message(ExchangeType.INFORMATIONAL, sun._next_request_id, False, payloads)
    sun._next_request_id += 1
    ep = lab.endpoints["initiator"]
    ep.receive(Datagram(sun._encode(request), sun.local, moon.local), lab.now)
    return ep.pop_datagrams()


def test_a_delete_naming_our_own_inbound_spi_deletes_nothing() -> None:
    """RFC 7296 3.11: a Delete names the SPI its *sender* expects in inbound packets, which is our outbound SPI.
    Our own inbound SPI names no CHILD SA of the sender's: nothing is deleted, the answer is empty."""
    from ikelab.constants import ProtocolId
    from ikelab.payloads import Delete

    lab = established()
    (child,) = lab.initiator.children.values()
    (answer,) = _from_peer(lab, [Delete(ProtocolId.ESP, (child.spi_in,))])
    assert list(lab.initiator.children.values()) == [child]
    assert not lab.events("initiator", ev.ChildSaDeleted)
    sun_crypto = lab.responder._crypto(sending=False)
    assert decode(answer.payload, sun_crypto).payloads[0].inner == ()  # HDR, SK {}


def test_invalid_syntax_reported_in_an_informational_request_ends_the_ike_sa() -> None:
    """RFC 7296 2.21.3: the peer's N(INVALID_SYNTAX) in a request says it found our messages malformed; the
    IKE SA cannot go on, and it ends here (with an empty answer), as AUTHENTICATION_FAILED does."""
    lab = established()
    answers = _from_peer(lab, [wirefmt.notify(NotifyType.INVALID_SYNTAX)])
    assert len(answers) == 1 and lab.initiator.state == State.CLOSED
    (failure,) = [e for e in lab.endpoints["initiator"].pop_events() if isinstance(e, ev.Failure)]
    assert failure.fatal and failure.notify == "INVALID_SYNTAX"


def test_established_sas_do_not_count_as_half_open_for_cookies() -> None:
    """RFC 7296 2.6: cookies are asked for when too many IKE SAs are *half-open*.  One established IKE SA,
    before any timer has swept the table, must not make the next initiator go round with a COOKIE."""
    lab = Lab(*configs(r=dict(cookie_threshold=1)), seed=1)
    lab.initiate()
    lab.run_until_idle()
    assert lab.endpoints["responder"].half_open_count() == 0
    other = lab.endpoints["initiator"].initiate(("192.0.2.2", 500), lab.now)
    lab._flush()
    lab.run_until_idle()
    assert other.state == State.ESTABLISHED
    assert all(decode(p.ike_message).notify(NotifyType.COOKIE) is None for p in lab.trace)


def test_half_open_count_follows_each_responder_sa_among_many_established() -> None:
    """The cookie threshold counts SAs waiting for IKE_AUTH (RFC 7296 2.6), whatever the endpoint still keeps:
    forty established IKE SAs that no timer has swept, then two half-open ones, which count until their IKE_AUTH
    arrives; a half-open SA whose initiator never comes back stops counting when its timer closes it."""
    ci, cr = configs(r=dict(cookie_threshold=None))
    a = IkeEndpoint(ci, DeterministicRandom(7).fork("i"), "192.0.2.1")
    b = IkeEndpoint(cr, DeterministicRandom(7).fork("r"), "192.0.2.2")

    def deliver(src: IkeEndpoint, dst: IkeEndpoint, now: float) -> int:
        datagrams = src.pop_datagrams()
        for d in datagrams:
            dst.receive(d, now)
        return len(datagrams)

    for _ in range(40):
        a.initiate(("192.0.2.2", 500), 0.0)
        while deliver(a, b, 0.0) + deliver(b, a, 0.0):
            pass
    assert len(b.half_open) == 40 and b.half_open_count() == 0
    waiting = [a.initiate(("192.0.2.2", 500), 1.0) for _ in range(2)]
    assert deliver(a, b, 1.0) == 2
    assert b.half_open_count() == 2
    deliver(b, a, 1.0)  # the IKE_SA_INIT responses: the initiators send IKE_AUTH
    assert b.half_open_count() == 2
    assert deliver(a, b, 1.0) == 2 and b.half_open_count() == 0
    assert all(sa.state == State.AUTH_SENT for sa in waiting)
    a.initiate(("192.0.2.2", 500), 2.0)
    deliver(a, b, 2.0)
    assert b.half_open_count() == 1
    b.pop_datagrams()  # its response is lost, and the initiator is never heard from again
    timer = b.get_timer()
    assert timer is not None
    b.handle_timer(timer + 300)
    assert b.half_open_count() == 0
    assert not b.half_open  # the sweep dropped the established SAs and the closed one
