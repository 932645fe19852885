"""CREATE_CHILD_SA, rekey and INFORMATIONAL: behaviour that a mutation review found unchecked.

Each test names the RFC 7296 rule it holds the engine to.  The checks are independent of the code under
test where they can be: what went on the wire is opened with the keys of the peer that received it, and
KEYMAT is recomputed with Python's ``hmac`` (2.17), not with ikelab.keys.
"""

from __future__ import annotations

from dataclasses import replace
from unittest import mock

import pytest

from ikelab import dh, exchanges_child, exchanges_rekey
from ikelab import events as ev
from ikelab import exchanges_wire as W
from ikelab.constants import ExchangeType, NotifyType, ProtocolId
from ikelab.errors import IntegrityError, ProtocolError
from ikelab.exchanges_child import ChildExchanges
from ikelab.exchanges_common import Datagram
from ikelab.lab import Lab
from ikelab.message import decode
from ikelab.payloads import KE
from ikelab.state import State

from test_ike import SHA512_SUITE, assert_same_sas, established, prf_plus
from test_rekey_races import _fates

SIDES = ("initiator", "responder")


def _opened(lab: Lab, exchange: str) -> list[tuple[str, object]]:
    """(receiver side, message) for each ``exchange`` message on the lab's wire, decrypted with the keys of
    the IKE SA that received it (only the receiver's keys verify the ICV in that direction)."""
    out = []
    for pkt in lab.trace:
        if pkt.kind != "ike":
            continue
        head = decode(pkt.ike_message)
        if head.exchange.name != exchange:
            continue
        for side in SIDES:
            for sa in lab.sas(side):
                if (sa.spi_i, sa.spi_r) != (head.spi_i, head.spi_r) or sa.keys is None:
                    continue
                try:
                    out.append((side, decode(pkt.ike_message, crypto=sa._crypto(sending=False))))
                except IntegrityError:
                    continue
    return out


def _requests(lab: Lab, exchange: str, to: str) -> list:
    return [m for side, m in _opened(lab, exchange) if side == to and not m.is_response]


def _responses(lab: Lab, exchange: str, to: str) -> list:
    return [m for side, m in _opened(lab, exchange) if side == to and m.is_response]


def _ask(lab: Lab, side: str, exchange: ExchangeType, payloads: list) -> list:
    """``side``'s IKE SA sends a protected request (its next Message ID) to the other peer, not through the
    engine's own request path; the other peer's answers, opened with ``side``'s keys."""
    sender = lab.sa(side)
    other = "responder" if side == "initiator" else "initiator"
    receiver = lab.sa(other)
    request = sender._message(exchange, sender._next_request_id, False, payloads)
    sender._next_request_id += 1
    ep = lab.endpoints[other]
    ep.receive(Datagram(sender._encode(request), sender.local, receiver.local), lab.now)
    return [decode(d.payload, crypto=sender._crypto(sending=False)) for d in ep.pop_datagrams()]


def _kinds(msg) -> list[str]:
    """The payloads inside SK, Notifies by their type: ["SA", "Nonce", "N(REKEY_SA)", ...]."""
    out = []
    for p in W.inner(msg):
        name = type(p).__name__
        out.append(f"N({NotifyType(int(p.notify_type)).name})" if name == "Notify" else name)
    return out


# --------------------------------------------------------------------------- PFS and the KE payload (1.3, 2.17)


def test_pfs_true_uses_the_configured_pfs_group_not_the_ike_sas() -> None:
    """``create_child(pfs=True)`` asks for the configured pfs_group (MODP-2048 here) even though the IKE SA
    itself runs ECP-256: the KEi on the wire is a MODP-2048 value, and both peers derive the CHILD SA from it."""
    lab = established(pfs_group="MODP_2048")
    assert lab.initiator.suite.dh.name == "ECP_256"
    lab.create_child("initiator", pfs=True)
    lab.run_until_idle()
    assert_same_sas(lab)
    (request,) = _requests(lab, "CREATE_CHILD_SA", "responder")
    (ke,) = W.payloads(request, "KE")
    assert int(ke.group) == 14 and len(bytes(ke.data)) == 256
    created = lab.events("initiator", ev.ChildSaCreated)[-1]
    assert created.exchange == "CREATE_CHILD_SA" and created.pfs_group == "MODP_2048"


def test_pfs_false_asks_without_a_ke_even_when_a_pfs_group_is_configured() -> None:
    """``pfs=False`` overrides a configured pfs_group: no DH transform in the proposals, no KEi, and the KEYMAT is
    prf+(SK_d, Ni | Nr) without a g^ir (2.17).  A responder configured without PFS takes exactly that."""
    lab = established(i=dict(pfs_group="ECP_256"))
    lab.create_child("initiator", pfs=False)
    lab.run_until_idle()
    assert_same_sas(lab)
    (request,) = _requests(lab, "CREATE_CHILD_SA", "responder")
    assert "KE" not in _kinds(request)
    (offer,) = W.payload(request, "SA").proposals
    assert not [t for t in offer.transforms if int(t.type) == 4]  # transform type 4: D-H
    created = lab.events("initiator", ev.ChildSaCreated)[-1]
    assert created.exchange == "CREATE_CHILD_SA" and created.pfs_group is None
    sa = lab.initiator
    child = sa.children[created.spi_in]
    # RFC 7296 2.17 without PFS: KEYMAT = prf+(SK_d, Ni | Nr), the suite's PRF being HMAC-SHA-256
    assert child.keys.keymat == prf_plus("PRF_HMAC_SHA2_256", sa.keys.sk_d, child.ni + child.nr,
                                         len(child.keys.keymat))


def test_the_responder_takes_the_group_of_the_kei_when_it_accepts_it() -> None:
    """RFC 7296 1.3, 2.7: the KEi's group (ECP-256), offered and acceptable to the responder, is chosen even
    though the responder lists MODP-2048 first: one round trip, no INVALID_KE_PAYLOAD."""
    lab = established(i=dict(esp_proposals=("aes128gcm16-ecp256-modp2048",)),
                      r=dict(esp_proposals=("aes128gcm16-modp2048-ecp256",)))
    lab.create_child("initiator")
    lab.run_until_idle()
    assert_same_sas(lab)
    (answer,) = _responses(lab, "CREATE_CHILD_SA", "initiator")
    assert _kinds(answer) == ["SA", "Nonce", "KE", "TSi", "TSr"]
    assert int(W.payload(answer, "KE").group) == 19
    assert lab.events("initiator", ev.ChildSaCreated)[-1].pfs_group == "ECP_256"


def test_a_kei_that_is_no_point_of_its_group_is_answered_invalid_syntax() -> None:
    """A KEi whose value fails the public value check (RFC 6989; here an ECP-256 value of zeros) is a malformed
    request, answered INVALID_SYNTAX as IKE_SA_INIT answers it; no CHILD SA is made, the IKE SA stands."""
    lab = established(esp="aes128gcm16-ecp256")
    (child,) = lab.responder.children.values()
    sa = lab.initiator
    offer = W.numbered(sa.config.esp_proposals, spi=b"\x11\x22\x33\x44")
    tsi, tsr = child.ts_remote, child.ts_local
    (answer,) = _ask(lab, "initiator", ExchangeType.CREATE_CHILD_SA,
                     [W.sa(offer), W.nonce(b"\x05" * 32), W.ke(19, bytes(64))] + W.ts_payloads(tsi, tsr))
    assert answer.is_response and _kinds(answer) == ["N(INVALID_SYNTAX)"]
    assert list(lab.responder.children.values()) == [child]
    assert lab.responder.state == State.ESTABLISHED
    (failure,) = [e for e in lab.endpoints["responder"].pop_events() if isinstance(e, ev.Failure)]
    assert failure.notify == "INVALID_SYNTAX" and not failure.fatal


def test_a_ker_in_another_group_than_the_chosen_one_is_refused() -> None:
    """RFC 7296 3.4: the KE payload's group must be the D-H group of the chosen proposal.  A responder that
    chooses ECP-256 but labels its KEr as another group (with an ECP-256 value) is refused: no CHILD SA, and the
    responder is asked to delete the one it made (2.21.3)."""
    lab = established(esp="aes128gcm16-ecp256")
    answer = ChildExchanges._answer_child_request

    def mislabelled(self, now, msg, ni, nr, **kw):
        payloads, child = answer(self, now, msg, ni, nr, **kw)
        return [W.ke(20, bytes(p.data)) if isinstance(p, KE) else p for p in payloads], child

    with mock.patch.object(ChildExchanges, "_answer_child_request", mislabelled):
        lab.create_child("initiator")
        lab.run_until_idle()
    assert len(lab.initiator.children) == 1
    (failure,) = [f for f in lab.events("initiator", ev.Failure) if f.exchange == "CREATE_CHILD_SA"]
    assert failure.notify == "INVALID_SYNTAX" and not failure.fatal
    assert_same_sas(lab)


# --------------------------------------------------------------------------- traffic selectors and mode (1.3.1, 2.9)


def test_a_rekey_asks_for_the_selectors_of_the_sa_it_replaces() -> None:
    """RFC 7296 2.9.2: the rekey of a CHILD SA carries the traffic selectors that SA has (those the responder
    narrowed to), not the initiator's wider policy: the rekey request's TSi/TSr are the old SA's."""
    lab = established(i=dict(local_ts=("192.0.2.0/24",), remote_ts=("0.0.0.0/0",)),
                      r=dict(local_ts=("192.0.2.2/32",), remote_ts=("192.0.2.1/32",)))
    (old,) = lab.initiator.children.values()
    assert W.ts_strings(old.ts_local) == ("192.0.2.1/32",)
    lab.rekey_child("initiator")
    lab.run_until_idle()
    assert_same_sas(lab)
    (request,) = _requests(lab, "CREATE_CHILD_SA", "responder")
    assert W.ts_strings(W.selectors_of(W.payload(request, "TSi"))) == ("192.0.2.1/32",)
    assert W.ts_strings(W.selectors_of(W.payload(request, "TSr"))) == ("192.0.2.2/32",)


def test_a_rekey_keeps_the_mode_of_the_sa_it_replaces() -> None:
    """The initiator wants transport mode, the responder declined it (its selectors are no host pair, 1.3.1),
    so the CHILD SA is in tunnel mode.  Its rekey asks for a tunnel-mode SA again (2.9.2: no change in what
    the SA is), without N(USE_TRANSPORT_MODE); a transport-mode SA's rekey does carry it."""
    lab = established(i=dict(mode="transport", local_ts=("192.0.2.0/24",), remote_ts=("0.0.0.0/0",)),
                      r=dict(local_ts=("192.0.2.2/32",), remote_ts=("192.0.2.0/28",)))
    (old,) = lab.initiator.children.values()
    assert old.mode == "tunnel"
    lab.rekey_child("initiator")
    lab.run_until_idle()
    assert_same_sas(lab)
    (request,) = _requests(lab, "CREATE_CHILD_SA", "responder")
    assert "N(USE_TRANSPORT_MODE)" not in _kinds(request)
    assert [c.mode for c in lab.initiator.children.values()] == ["tunnel"]

    lab = established(mode="transport")
    (old,) = lab.initiator.children.values()
    assert old.mode == "transport"
    lab.initiator.config = replace(lab.initiator.config, mode="tunnel")  # a policy change meanwhile
    lab.rekey_child("initiator")
    lab.run_until_idle()
    (request,) = _requests(lab, "CREATE_CHILD_SA", "responder")
    assert "N(USE_TRANSPORT_MODE)" in _kinds(request)
    assert [c.mode for c in lab.responder.children.values()] == ["transport"]


def test_a_responder_configured_for_tunnel_mode_declines_transport_mode() -> None:
    """RFC 7296 1.3.1: USE_TRANSPORT_MODE is a request the responder may decline; one configured for tunnel mode
    does, even between the two IKE hosts: no N(USE_TRANSPORT_MODE) in its answer, tunnel mode on both ends."""
    lab = established(i=dict(mode="transport"))
    (answer,) = _responses(lab, "IKE_AUTH", "initiator")
    assert "N(USE_TRANSPORT_MODE)" not in _kinds(answer)
    assert [c.mode for side in SIDES for c in lab.sa(side).children.values()] == ["tunnel", "tunnel"]


def test_transport_mode_is_declined_for_an_address_range_that_starts_at_the_ike_host() -> None:
    """RFC 4301 4.1: transport mode protects the traffic of the two hosts only.  A selector 192.0.2.1-192.0.2.9
    starts at the initiator's IKE address but covers nine hosts: the responder declines transport mode."""
    lab = established(mode="transport", i=dict(local_ts=("192.0.2.1-192.0.2.9",), remote_ts=("192.0.2.2/32",)),
                      r=dict(local_ts=("192.0.2.2/32",), remote_ts=("192.0.2.1-192.0.2.9",)))
    assert [c.mode for side in SIDES for c in lab.sa(side).children.values()] == ["tunnel", "tunnel"]


# --------------------------------------------------------------------------- lifetimes


def test_the_rekey_margin_spreads_the_child_sa_rekey_times_of_the_two_peers() -> None:
    """``rekey_margin`` draws each CHILD SA's rekey up to the margin *earlier* (strongSwan's rand_time), so that
    two peers with one configuration do not both rekey it at once (which would make colliding rekeys, 2.8.1)."""
    for seed in (1, 2, 3):
        lab = established(child_rekey_time=50.0, child_lifetime=60.0, rekey_margin=5.0, seed=seed)
        times = []
        for sa in (lab.initiator, lab.responder):
            (child,) = sa.children.values()
            assert child.created + 45.0 <= child.rekey_at <= child.created + 50.0
            assert child.expire_at == child.created + 60.0
            times.append(child.rekey_at - child.created)
        assert times[0] != times[1], seed


# --------------------------------------------------------------------------- requests that overtake an answer (2.25)


def _rekey_answer_lost() -> tuple[Lab, ev.ChildSaCreated]:
    """Moon rekeys its CHILD SA; sun makes the new one (the event returned) but its answer is lost."""
    lab = established()
    _fates(lab, "ok", "drop")
    lab.rekey_child("initiator")
    lab.run(lab.now + 0.5)
    return lab, lab.events("responder", ev.ChildSaCreated)[-1]


def test_a_rekey_of_the_sa_our_open_rekey_makes_gets_temporary_failure() -> None:
    """Moon's rekey is answered but the answer is lost; sun at once rekeys the CHILD SA it just made.  Moon does not
    know that SA yet, but its own rekey request is open: it may be the SA on its way, so moon answers
    TEMPORARY_FAILURE (2.25), not CHILD_SA_NOT_FOUND (after which sun would drop the SA moon is about to install)."""
    lab, made = _rekey_answer_lost()
    lab.rekey_child("responder", made.spi_in)
    lab.run(lab.now + 30.0)
    assert_same_sas(lab)
    notifies = [f.notify for f in lab.events("responder", ev.Failure)]
    assert "TEMPORARY_FAILURE" in notifies and "CHILD_SA_NOT_FOUND" not in notifies
    assert len(lab.initiator.children) == 1


def test_a_delete_of_the_sa_our_open_rekey_makes_is_remembered_for_its_answer() -> None:
    """As above, but sun deletes the new CHILD SA.  Moon answers the DELETE empty, knowing no such SA (1.4.1), and
    remembers it: when sun's answer comes again, the new SA is made and removed at once, as at sun."""
    lab, made = _rekey_answer_lost()
    lab.delete_child("responder", made.spi_in)
    lab.run_until_idle()
    assert_same_sas(lab)
    gone = [e.reason for e in lab.events("initiator", ev.ChildSaDeleted) if e.spi_out == made.spi_in]
    assert gone == ["deleted by peer (its DELETE came before this answer)"]
    assert made.spi_in not in {c.spi_out for c in lab.initiator.children.values()}


# --------------------------------------------------------------------------- which SA a REKEY_SA names (1.3.3)


def _rekey_request(lab: Lab, side: str, spi: bytes) -> list:
    """A CREATE_CHILD_SA request from ``side`` rekeying the CHILD SA named ``spi`` in N(REKEY_SA), otherwise as the
    engine would send it (its proposals, a fresh nonce, the SA's selectors)."""
    sa = lab.sa(side)
    (child,) = sa.children.values()
    offer = W.numbered(sa.config.esp_proposals, spi=b"\x0a\x0b\x0c\x0d")
    return [W.notify(NotifyType.REKEY_SA, protocol=ProtocolId.ESP, spi=spi), W.sa(offer), W.nonce(b"\x07" * 32),
            *W.ts_payloads(child.ts_local, child.ts_remote)]


def test_a_rekey_sa_naming_our_own_inbound_spi_rekeys_nothing() -> None:
    """RFC 7296 1.3.3: the SPI in N(REKEY_SA) is the one the exchange *initiator* expects in inbound packets, which is
    the responder's outbound SPI.  The responder's own inbound SPI names no SA of the initiator's: the answer is
    CHILD_SA_NOT_FOUND, and the CHILD SA stays as it was; named rightly, the same request rekeys it."""
    lab = established()
    (child,) = lab.responder.children.values()
    (answer,) = _ask(lab, "initiator", ExchangeType.CREATE_CHILD_SA, _rekey_request(lab, "initiator", child.spi_in))
    assert _kinds(answer) == ["N(CHILD_SA_NOT_FOUND)"]
    assert list(lab.responder.children.values()) == [child] and child.state == "INSTALLED"
    assert not [e for e in lab.endpoints["responder"].pop_events() if isinstance(e, ev.ChildSaRekeyed)]
    (answer,) = _ask(lab, "initiator", ExchangeType.CREATE_CHILD_SA, _rekey_request(lab, "initiator", child.spi_out))
    assert _kinds(answer) == ["SA", "Nonce", "TSi", "TSr"]
    assert child.state == "REKEYED"


def test_a_second_rekey_of_one_child_sa_is_refused_locally() -> None:
    """RFC 7296 2.8: a CHILD SA is rekeyed once, into one successor.  Asking twice in a row (the second waits behind
    the first, window size 1) rekeys it once; the second finds it already replaced and reports a Failure."""
    lab = established()
    (old,) = lab.initiator.children.values()
    lab.rekey_child("initiator", old)
    lab.rekey_child("initiator", old)
    lab.run_until_idle()
    assert_same_sas(lab)
    (new,) = lab.initiator.children.values()
    assert new.rekey_of == old.spi_in
    assert len(lab.events("initiator", ev.ChildSaRekeyed)) == 1
    (failure,) = lab.events("initiator", ev.Failure)
    assert failure.reason == f"no installed CHILD SA with SPI {old.spi_in.hex()} to rekey" and not failure.fatal
    requests = [e for e in lab.events("initiator", ev.MessageSent) if e.exchange == "CREATE_CHILD_SA"]
    assert len(requests) == 1


def test_a_rekey_asked_again_replaces_the_sa_made_for_an_answer_the_peer_never_used() -> None:
    """Sun answers a rekey of the CHILD SA, but moon never takes that answer in (here: the request is crafted, its
    answer thrown away).  When moon asks again for the same SA, sun drops the CHILD SA it made for the first answer,
    which has no partner, and answers the new request: both peers end with the same one successor."""
    lab = established()
    (child,) = lab.initiator.children.values()
    (first,) = _ask(lab, "initiator", ExchangeType.CREATE_CHILD_SA, _rekey_request(lab, "initiator", child.spi_in))
    assert _kinds(first) == ["SA", "Nonce", "TSi", "TSr"]
    orphan = lab.responder.children[bytes(W.payload(first, "SA").proposals[0].spi)]
    lab.rekey_child("initiator", child)
    lab.run_until_idle()
    assert_same_sas(lab)
    (new,) = lab.initiator.children.values()
    assert new.rekey_of == child.spi_in and new.spi_out != orphan.spi_in
    gone = {e.spi_in: e.reason for e in lab.events("responder", ev.ChildSaDeleted)}
    assert gone[orphan.spi_in] == "its CREATE_CHILD_SA response never reached the peer"


# ------------------------------------------------------------------- an answer the initiator cannot use (2.21.3)


def _short_nr_answer(action: str) -> Lab:
    """Moon asks (``action``) on an IKE SA with PRF-HMAC-SHA-512; sun answers with a 16-octet Nr, half what that PRF
    needs (RFC 7296 2.10)."""
    lab = established(SHA512_SUITE)
    getattr(lab, action)("initiator")  # Ni at full length
    with mock.patch.object(exchanges_child, "NONCE_LEN", 16):
        lab.run(lab.now + 0.5)  # sun's answer: a short Nr
    lab.run_until_idle()
    return lab


def test_a_child_sa_answer_with_a_short_nr_is_refused_and_the_responders_sa_deleted() -> None:
    """RFC 7296 2.10: a nonce is at least half the PRF key size.  Moon refuses an answer whose Nr is shorter (no
    CHILD SA from keys on such a nonce), and, as for any answer it rejects (2.21.3), asks sun to delete the CHILD SA
    sun installed, named by the SPI moon proposed; sun would otherwise keep a CHILD SA moon does not have."""
    lab = _short_nr_answer("create_child")
    (failure,) = [f for f in lab.events("initiator", ev.Failure) if f.exchange == "CREATE_CHILD_SA"]
    assert failure.notify == "INVALID_SYNTAX" and "Nr is a nonce of 16 octets" in failure.reason and not failure.fatal
    made = lab.events("responder", ev.ChildSaCreated)[-1]
    (gone,) = lab.events("responder", ev.ChildSaDeleted)
    assert gone.spi_in == made.spi_in and gone.reason == "deleted by peer"
    assert len(lab.initiator.children) == 1
    assert_same_sas(lab)


def test_a_rekey_answer_with_a_short_nr_leaves_the_old_child_sa_in_place_on_both_sides() -> None:
    """The same for a rekey: moon keeps the CHILD SA it wanted to rekey; sun, asked to delete the successor it made,
    finds the old one standing again (the rekey undone), so both peers hold the old pair, installed."""
    lab = _short_nr_answer("rekey_child")
    (old,) = lab.initiator.children.values()
    assert lab.events("initiator", ev.ChildSaCreated)[-1].spi_in == old.spi_in  # the IKE_AUTH one
    assert not lab.events("initiator", ev.ChildSaRekeyed)
    assert_same_sas(lab)


# --------------------------------------------------------------------------- colliding CHILD SA rekeys (2.8.1)


def test_our_refused_rekey_of_a_child_sa_the_peer_rekeyed_meanwhile_is_not_asked_again() -> None:
    """Both peers rekey the CHILD SA (2.8.1).  Moon answered sun's request; sun refuses moon's with
    INVALID_KE_PAYLOAD (it takes ECP-256 only, moon's KEi is MODP-2048).  Sun's rekey stands alone: moon does not ask
    again (1.3), which would make a second successor; the old SA counts as replaced until sun, which made the
    survivor, deletes it."""
    lab = established(i={"esp_proposals": ("aes128-sha256-modp2048-ecp256",)},
                      r={"esp_proposals": ("aes128-sha256-ecp256",)})
    (old,) = lab.initiator.children.values()
    lab.rekey_child("initiator")
    lab.rekey_child("responder")
    lab.run(lab.now + 0.025)  # both requests answered (moon's refused); sun's DELETE of the old SA on its way
    assert old.state == "REKEYED"
    lab.run_until_idle()
    assert_same_sas(lab)
    (new,) = lab.initiator.children.values()
    assert new.rekey_of == old.spi_in and new.dh_group.name == "ECP_256"
    requests = [e for e in lab.events("initiator", ev.MessageSent)
                if e.exchange == "CREATE_CHILD_SA" and not e.is_response]
    assert len(requests) == 1
    assert [f.notify for f in lab.events("initiator", ev.Failure)] == ["INVALID_KE_PAYLOAD"]
    assert [e.spi_in for e in lab.events("initiator", ev.ChildSaDeleted)] == [old.spi_in]


def test_a_rekey_answered_child_sa_not_found_removes_our_half_of_the_pair() -> None:
    """RFC 7296 2.25, 3.10.1: CHILD_SA_NOT_FOUND says the peer has no such CHILD SA (here sun lost it without a word,
    as after a restart of its IPsec stack).  Moon's half has no partner: moon removes it instead of keeping keys that
    no packet will ever use, and, no CHILD SA with those selectors being left, "send[s] a request to create a new
    Child SA from scratch" (2.25), as strongSwan's charon does (child_rekey.c): a plain CREATE_CHILD_SA, no REKEY_SA."""
    lab = established()
    (child,) = lab.initiator.children.values()
    lab.responder.children.clear()  # sun forgets the pair
    lab.rekey_child("initiator")
    lab.run_until_idle()
    refused, made = _responses(lab, "CREATE_CHILD_SA", "initiator")
    assert _kinds(refused) == ["N(CHILD_SA_NOT_FOUND)"]
    (gone,) = lab.events("initiator", ev.ChildSaDeleted)
    assert gone.spi_in == child.spi_in and gone.reason == "the peer does not know it (CHILD_SA_NOT_FOUND)"
    assert lab.initiator.state == State.ESTABLISHED
    (new,) = lab.initiator.children.values()
    assert new.rekey_of is None and (new.ts_local, new.ts_remote) == (child.ts_local, child.ts_remote)
    assert_same_sas(lab)


def test_a_child_sa_asked_for_again_after_temporary_failure_keeps_its_pfs_choice() -> None:
    """RFC 7296 2.25: a CREATE_CHILD_SA refused with TEMPORARY_FAILURE is asked for again a little later, and it is
    the same request: sun asked without PFS (``pfs=False``, although it has a pfs_group), and so it asks again,
    which moon, configured without PFS, takes."""
    lab = established(r=dict(pfs_group="ECP_256"))
    lab.rekey_ike("initiator")
    lab.create_child("responder", pfs=False)  # refused: moon is rekeying the IKE SA (2.25.1)
    lab.run(lab.now + 60.0)
    assert [f.notify for f in lab.events("responder", ev.Failure)] == ["TEMPORARY_FAILURE"]
    assert_same_sas(lab)
    assert len(lab.responder.children) == 2
    requests = _requests(lab, "CREATE_CHILD_SA", "initiator")
    assert len(requests) == 2 and all("KE" not in _kinds(r) for r in requests)
    assert lab.events("responder", ev.ChildSaCreated)[-1].pfs_group is None


# --------------------------------------------------------------------------- DELETE (1.4.1, 3.11)


def test_deleting_a_child_sa_twice_sends_one_delete() -> None:
    """A second ``delete_child`` of a CHILD SA whose DELETE is under way sends nothing more: the pair is going,
    and a second Delete would name an SPI the peer no longer knows."""
    lab = established()
    (child,) = lab.initiator.children.values()
    lab.delete_child("initiator", child)
    lab.delete_child("initiator", child)
    lab.run_until_idle()
    assert not lab.initiator.children and not lab.responder.children
    (request,) = _requests(lab, "INFORMATIONAL", "responder")
    (delete,) = W.payloads(request, "Delete")
    assert [bytes(s) for s in delete.spis] == [child.spi_in]  # our inbound SPI (3.11)
    assert len(lab.events("initiator", ev.ChildSaDeleted)) == 1


# ------------------------------------------------------- INFORMATIONAL requests that are no liveness check (1.4, 2.4)


def test_only_an_empty_informational_request_counts_as_a_liveness_check() -> None:
    """RFC 7296 2.4: the liveness check is an *empty* INFORMATIONAL request.  One carrying a status Notify (here
    N(UPDATE_SA_ADDRESSES), which ikelab does not act on) is answered empty but is no liveness check, so it is not
    reported as one; an empty request is."""
    lab = established()
    (answer,) = _ask(lab, "initiator", ExchangeType.INFORMATIONAL, [W.notify(NotifyType.UPDATE_SA_ADDRESSES)])
    assert answer.is_response and _kinds(answer) == []
    events = lab.endpoints["responder"].pop_events()
    assert not [e for e in events if isinstance(e, ev.LivenessChecked)]
    (answer,) = _ask(lab, "initiator", ExchangeType.INFORMATIONAL, [])
    assert _kinds(answer) == []
    assert [e.alive for e in lab.endpoints["responder"].pop_events() if isinstance(e, ev.LivenessChecked)] == [True]


# --------------------------------------------------------------------------- the IKE SA's rekey (2.18, 2.10)


def test_an_ike_sa_rekey_with_a_short_ni_is_refused_and_the_ike_sa_stands() -> None:
    """RFC 7296 2.10: Ni is at least half the PRF key size, also in the CREATE_CHILD_SA that rekeys the IKE SA (the
    new SKEYSEED is computed from it, 2.18).  Sun refuses a 16-octet Ni under PRF-HMAC-SHA-512 with INVALID_SYNTAX;
    nothing is rekeyed, and both peers go on with the IKE SA they have."""
    lab = established(SHA512_SUITE)
    first = lab.initiator, lab.responder
    with mock.patch.object(exchanges_rekey, "NONCE_LEN", 16):
        lab.rekey_ike("initiator")
    lab.run_until_idle()
    (answer,) = _responses(lab, "CREATE_CHILD_SA", "initiator")
    assert _kinds(answer) == ["N(INVALID_SYNTAX)"]
    assert (lab.initiator, lab.responder) == first and all(sa.state == State.ESTABLISHED for sa in first)
    assert not lab.events("responder", ev.IkeSaRekeyed) and not lab.events("initiator", ev.IkeSaRekeyed)
    (refusal,) = lab.events("responder", ev.Failure)
    assert "Ni is a nonce of 16 octets" in refusal.reason and not refusal.fatal
    assert_same_sas(lab)


def test_an_ike_sa_rekey_answered_with_a_short_nr_is_not_taken() -> None:
    """The same for the answer: moon does not key a new IKE SA from a 16-octet Nr under PRF-HMAC-SHA-512; it keeps the
    IKE SA it has and reports the failure."""
    lab = established(SHA512_SUITE)
    first = lab.initiator
    lab.rekey_ike("initiator")
    with mock.patch.object(exchanges_rekey, "NONCE_LEN", 16):
        lab.run(lab.now + 0.015)  # sun answers with a short Nr
    lab.run(lab.now + 1.0)
    assert lab.initiator is first and first.state == State.ESTABLISHED
    assert not lab.events("initiator", ev.IkeSaRekeyed)
    (failure,) = lab.events("initiator", ev.Failure)
    assert "Nr is a nonce of 16 octets" in failure.reason and not failure.fatal


def test_an_ike_sa_rekey_answered_without_an_spi_is_not_taken() -> None:
    """RFC 7296 3.3.1: in a rekey of the IKE SA the proposal's SPI is the new IKE SA's, eight octets (only
    IKE_SA_INIT's proposals have none).  An answer whose proposal has an empty SPI names no new IKE SA: moon refuses
    it and keeps the IKE SA it has."""
    lab = established()
    first = lab.initiator
    make_sa = W.sa

    def short_spi(props):
        return make_sa([p.with_spi(b"") for p in props])

    lab.rekey_ike("initiator")
    with mock.patch.object(W, "sa", short_spi):
        lab.run(lab.now + 0.015)  # sun's answer
    lab.run(lab.now + 1.0)
    (answer,) = _responses(lab, "CREATE_CHILD_SA", "initiator")
    assert bytes(W.payload(answer, "SA").proposals[0].spi) == b""
    assert lab.initiator is first and first.state == State.ESTABLISHED
    assert not lab.events("initiator", ev.IkeSaRekeyed)
    (failure,) = lab.events("initiator", ev.Failure)
    assert failure.reason == "IKE SA rekey failed: IKE SA rekey response without matching KEr, Nr or SPI"


def test_an_ike_sa_rekey_with_no_acceptable_proposal_is_answered_no_proposal_chosen() -> None:
    """RFC 7296 2.7, 3.10.1: a rekey of the IKE SA offering only algorithms the responder does not take is answered
    N(NO_PROPOSAL_CHOSEN) (the request was well formed; INVALID_SYNTAX would say otherwise), and both peers keep
    the IKE SA they have."""
    lab = established()
    first = lab.initiator, lab.responder
    lab.initiator.config = replace(lab.initiator.config, ike_proposals=("aes256-sha384-ecp384",))
    lab.rekey_ike("initiator")
    lab.run_until_idle()
    (answer,) = _responses(lab, "CREATE_CHILD_SA", "initiator")
    assert _kinds(answer) == ["N(NO_PROPOSAL_CHOSEN)"]
    assert (lab.initiator, lab.responder) == first
    assert [f.notify for f in lab.events("initiator", ev.Failure)] == ["NO_PROPOSAL_CHOSEN"]
    assert [f.notify for f in lab.events("responder", ev.Failure)] == ["NO_PROPOSAL_CHOSEN"]
    assert_same_sas(lab)


def test_a_rekey_of_an_ike_sa_being_deleted_gets_temporary_failure() -> None:
    """RFC 7296 2.25.2: a request to rekey an IKE SA that the peer is closing is answered TEMPORARY_FAILURE.  Moon
    deletes the IKE SA while sun rekeys it: moon makes no new IKE SA, and both peers end with none."""
    lab = established()
    lab.delete_ike("initiator")
    lab.rekey_ike("responder")
    lab.run_until_idle()
    (answer,) = _responses(lab, "CREATE_CHILD_SA", "responder")
    assert _kinds(answer) == ["N(TEMPORARY_FAILURE)"]
    assert not lab.events("initiator", ev.IkeSaRekeyed) and not lab.events("initiator", ev.KeysDerived)[1:]
    assert [sa.state for side in SIDES for sa in lab.sas(side)] == [State.CLOSED, State.CLOSED]


# ------------------------------------------------------------ what an IKE SA on its way out refuses (2.18, 2.25)


def test_an_ike_sa_being_deleted_or_replaced_starts_nothing_new() -> None:
    """An IKE SA that is being deleted, or that a rekey replaced (2.18), starts no new exchange: every local action
    but its deletion is refused with ProtocolError, and nothing goes on the wire."""
    for make in ("deleting", "rekeyed"):
        lab = established()
        sa = lab.initiator
        (child,) = sa.children.values()
        if make == "deleting":
            lab.delete_ike("initiator")
            assert sa.state == State.DELETING
        else:
            lab.rekey_ike("responder")
            lab.run(lab.now + 0.015)  # moon answered sun's rekey; sun's DELETE of this IKE SA has not come yet
            assert sa.state == State.REKEYED
        sent = len(lab.trace)
        for action, args in (("create_child", ()), ("rekey_child", (child.spi_in,)), ("delete_child", (child.spi_in,)),
                             ("rekey_ike", ()), ("liveness", ())):
            with pytest.raises(ProtocolError):
                getattr(sa, action)(*args, lab.now)
        lab._flush()
        assert len(lab.trace) == sent, make


def test_child_sa_rekey_queued_behind_an_ike_sa_rekey_goes_out_on_the_new_ike_sa() -> None:
    """Moon rekeys its CHILD SA while its rekey of the IKE SA is under way: the request waits (window size 1, 2.3) and,
    the IKE SA replaced, goes out on the new one (2.18), where the CHILD SA now lives: one rekey, no failure."""
    lab = established()
    first = lab.initiator
    (child,) = first.children.values()
    lab.rekey_ike("initiator")
    lab.rekey_child("initiator", child)  # queued behind the IKE SA's rekey
    lab.run_until_idle()
    assert first.state == State.CLOSED and lab.initiator is not first
    assert_same_sas(lab)
    (new,) = lab.initiator.children.values()
    assert new.rekey_of == child.spi_in
    assert not lab.events("initiator", ev.Failure)
    (request,) = _requests(lab, "CREATE_CHILD_SA", "responder")[1:]  # after the IKE SA's rekey
    assert (request.spi_i, request.spi_r) == (lab.initiator.spi_i, lab.initiator.spi_r)


def _ask_the_replaced_ike_sa(exchange: ExchangeType, payloads: list) -> tuple[Lab, object, list]:
    """Moon rekeys the IKE SA; sun answers, so sun's old IKE SA is REKEYED.  Before moon has the answer, a request
    comes on the old IKE SA from moon (built here with the old SA's keys and next Message ID).  Returns the lab, sun's
    old IKE SA and sun's answers to that request, opened with moon's keys."""
    lab = established()
    old_i, old_r = lab.initiator, lab.responder
    lab.rekey_ike("initiator")
    lab.run(lab.now + 0.015)
    assert old_r.state == State.REKEYED and old_i.state == State.ESTABLISHED
    request = old_i._message(exchange, old_i._next_request_id, False, payloads)
    old_i._next_request_id += 1
    ep = lab.endpoints["responder"]
    ep.receive(Datagram(old_i._encode(request), old_i.local, old_r.local), lab.now)
    answers = [decode(d.payload, crypto=old_i._crypto(sending=False)) for d in ep.pop_datagrams()]
    return lab, old_r, answers


def test_a_replaced_ike_sa_still_answers_a_liveness_check_and_waits_for_its_delete() -> None:
    """RFC 7296 2.18: the old IKE SA lives until the rekey's initiator deletes it, and answers INFORMATIONAL requests
    meanwhile (a liveness check that crossed the rekey); it then goes with the DELETE, as rekeyed."""
    lab, old_r, answers = _ask_the_replaced_ike_sa(ExchangeType.INFORMATIONAL, [])
    assert [(m.is_response, _kinds(m)) for m in answers] == [(True, [])]
    assert old_r.state == State.REKEYED
    lab.run_until_idle()
    assert old_r.state == State.CLOSED and old_r.closed_reason == "rekeyed"
    assert [e.reason for e in lab.events("responder", ev.IkeSaDeleted)] == ["rekeyed"]
    assert_same_sas(lab)


def test_a_child_sa_request_on_a_replaced_ike_sa_gets_temporary_failure() -> None:
    """RFC 7296 2.25: a CREATE_CHILD_SA request that reaches an IKE SA a rekey has replaced is answered
    TEMPORARY_FAILURE (ask again, on the new IKE SA), not INVALID_SYNTAX: the request itself was fine."""
    probe = established()
    (child,) = probe.initiator.children.values()
    request = [W.sa(W.numbered(probe.initiator.config.esp_proposals, spi=b"\x01\x02\x03\x04")),
               W.nonce(b"\x09" * 32), *W.ts_payloads(child.ts_local, child.ts_remote)]
    lab, old_r, answers = _ask_the_replaced_ike_sa(ExchangeType.CREATE_CHILD_SA, request)
    assert [_kinds(m) for m in answers] == [["N(TEMPORARY_FAILURE)"]]
    assert old_r.state == State.REKEYED and not old_r.children
    lab.run_until_idle()
    assert_same_sas(lab)
    assert len(lab.responder.children) == 1


def test_one_delete_payload_naming_two_child_sas_deletes_both_and_is_answered_with_both() -> None:
    """RFC 7296 1.4.1, 3.11: a Delete payload may name several SAs.  Sun deletes its two CHILD SAs with one Delete
    (their inbound SPIs at sun); moon removes both and answers with one Delete naming its own inbound SPIs of the
    two pairs."""
    lab = established()
    lab.create_child("initiator")
    lab.run_until_idle()
    pairs = list(lab.responder.children.values())
    assert len(pairs) == 2
    (answer,) = _ask(lab, "responder", ExchangeType.INFORMATIONAL,
                     [W.delete(ProtocolId.ESP, [c.spi_in for c in pairs])])
    assert not lab.initiator.children
    (delete,) = W.payloads(answer, "Delete")
    assert int(delete.protocol) == int(ProtocolId.ESP)
    assert sorted(bytes(s) for s in delete.spis) == sorted(c.spi_out for c in pairs)


# --------------------------------------------------------------------------- timers and lifetimes (2.8)


def test_a_child_sa_rekey_time_passing_while_it_is_being_rekeyed_is_no_timer() -> None:
    """Moon rekeys its CHILD SA by hand; the request and its first retransmissions are lost, so the SA's own rekey
    time passes while it is being rekeyed.  That time is then no timer: ``get_timer`` names the next retransmission
    (at the rekey time ``handle_timer`` would have nothing to do, and a driver would spin), and once the network
    lets the request through the SA is rekeyed once, without a second rekey of the SA being rekeyed."""
    lab = established(i=dict(child_rekey_time=10.0, child_lifetime=100.0), r=dict(child_rekey_time=1000.0))
    sa = lab.initiator
    (child,) = sa.children.values()
    assert child.rekey_at == child.created + 10.0
    _fates(lab, "drop", "drop", "drop")  # the request, at about 0, 4 and 11 s
    lab.rekey_child("initiator", child)
    lab.run(child.rekey_at - 0.5)
    assert child.state == "REKEYING"
    assert sa.get_timer() > child.rekey_at
    lab.run(lab.now + 20.0)  # the 4th transmission (about 24 s) gets through; the new SA's rekey is due at about 34 s
    assert_same_sas(lab)
    (rekeyed,) = lab.events("initiator", ev.ChildSaRekeyed)
    assert rekeyed.old_spi_in == child.spi_in
    assert not lab.events("initiator", ev.Failure)


def test_a_child_sa_past_both_its_rekey_time_and_its_lifetime_is_deleted_not_rekeyed() -> None:
    """A host whose clock jumps past both the soft and the hard lifetime of a CHILD SA at once (it slept, say) deletes
    the SA, as the hard lifetime says (2.8), and does not also ask to rekey the SA it is deleting, even when the
    DELETE has to wait for an exchange under way (window size 1, 2.3)."""
    lab = established(child_rekey_time=50.0, child_lifetime=60.0)
    (child,) = lab.initiator.children.values()
    lab.liveness("initiator")  # under way when the clock jumps
    lab.now = child.created + 70.0  # both times are past
    lab.step()
    lab.run_until_idle()
    assert not lab.initiator.children and not lab.responder.children
    assert not lab.events("initiator", ev.ChildSaRekeyed) and not lab.events("initiator", ev.Failure)
    sent = [e.summary for e in lab.events("initiator", ev.MessageSent) if not e.is_response]
    assert sent[-1] == "HDR, SK {D}" and not [s for s in sent if "N(REKEY_SA)" in s]


def test_an_ike_sa_rekey_request_without_ni_is_answered_invalid_syntax() -> None:
    """RFC 7296 1.3.2: the rekey of the IKE SA is HDR, SK {SA, Ni, KEi}.  Without its Ni the request is malformed and
    is answered INVALID_SYNTAX, as a CHILD SA request without Ni is; it used to be answered INVALID_KE_PAYLOAD naming
    the very group its KEi had, which tells the initiator to send the same KEi again."""
    lab = established()
    sa = lab.initiator
    spi = b"\x01" * 8
    offer = W.sa(W.numbered(sa._ike_proposals(spi), spi=spi))
    kei = W.ke(19, dh.group(19).generate(sa.rng).public_bytes())
    (answer,) = _ask(lab, "initiator", ExchangeType.CREATE_CHILD_SA, [offer, kei])
    assert _kinds(answer) == ["N(INVALID_SYNTAX)"]
    (failure,) = [e for e in lab.endpoints["responder"].pop_events() if isinstance(e, ev.Failure)]
    assert failure.notify == "INVALID_SYNTAX" and "Ni is missing" in failure.reason and not failure.fatal
    assert lab.responder.state == State.ESTABLISHED and not lab.responder.spawned
    (answer,) = _ask(lab, "initiator", ExchangeType.CREATE_CHILD_SA, [offer, W.nonce(b"\x02" * 32)])
    assert _kinds(answer) == ["N(INVALID_KE_PAYLOAD)"]  # no KEi: the group wanted is named (1.3.2, 3.10.1)
    assert W.notify_data(answer, NotifyType.INVALID_KE_PAYLOAD) == (19).to_bytes(2, "big")


def test_an_sa_is_named_by_its_protocol_and_spi_in_delete_and_rekey_sa() -> None:
    """RFC 7296 3.10, 3.11: a Delete payload and N(REKEY_SA) name an SA by its Protocol ID *and* SPI; SPIs are chosen
    per protocol (RFC 4301 4.1), so an AH SPI equal to the one of our ESP CHILD SA names another SA.  Neither the
    Delete nor the rekey touches the ESP CHILD SA; named with ESP, the same Delete removes it."""
    lab = established()
    (child,) = lab.initiator.children.values()
    (theirs,) = lab.responder.children.values()
    (answer,) = _ask(lab, "initiator", ExchangeType.INFORMATIONAL, [W.delete(ProtocolId.AH, [child.spi_in])])
    assert _kinds(answer) == []
    assert list(lab.responder.children.values()) == [theirs] and theirs.state == "INSTALLED"
    offer = W.numbered(lab.initiator.config.esp_proposals, spi=b"\x0a\x0b\x0c\x0d")
    rekey = [W.notify(NotifyType.REKEY_SA, protocol=ProtocolId.AH, spi=child.spi_in), W.sa(offer),
             W.nonce(b"\x07" * 32), *W.ts_payloads(child.ts_local, child.ts_remote)]
    (answer,) = _ask(lab, "initiator", ExchangeType.CREATE_CHILD_SA, rekey)
    assert _kinds(answer) == ["N(CHILD_SA_NOT_FOUND)"]
    assert list(lab.responder.children.values()) == [theirs] and theirs.state == "INSTALLED"
    (answer,) = _ask(lab, "initiator", ExchangeType.INFORMATIONAL, [W.delete(ProtocolId.ESP, [child.spi_in])])
    assert [[bytes(s) for s in d.spis] for d in W.payloads(answer, "Delete")] == [[theirs.spi_in]]
    assert not lab.responder.children


def test_an_error_notify_in_an_informational_request_is_acknowledged_empty() -> None:
    """RFC 7296 2.21.2, 2.21.3: an INFORMATIONAL request carrying N(AUTHENTICATION_FAILED) or N(INVALID_SYNTAX) is
    answered, with an empty response (an error answered with an error would only start another round), and the
    IKE SA then ends."""
    for error in (NotifyType.AUTHENTICATION_FAILED, NotifyType.INVALID_SYNTAX):
        lab = established()
        (answer,) = _ask(lab, "responder", ExchangeType.INFORMATIONAL, [W.notify(error)])
        assert answer.is_response and _kinds(answer) == [], error
        assert lab.initiator.state == State.CLOSED
