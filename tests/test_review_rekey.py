"""Review of the IKE SA rekey (ikelab.exchanges_rekey): RFC 7296 1.3.2, 2.8.2, 2.18, 2.25.2, 3.1, 3.3.1, 3.4.

What is checked, and against what:

* the new IKE SA's keys, from what went on the wire: the nonces, SPIs and KE payloads of the CREATE_CHILD_SA
  exchange are read from the lab's trace, g^ir is computed with ``cryptography`` (ECDH on P-256, X25519) from
  the rekey initiator's private value and the KEr on the wire, and then, with Python's ``hmac``,
  ``SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)`` (2.18) and the seven keys cut from
  ``prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)`` (2.13, 2.14); chained rekeys use the SK_d computed here;
* colliding rekeys (2.8.2): the survivor is decided here from the four nonces on the wire (the new IKE SA made
  with the lowest one is deleted by its maker, the other maker deletes the old IKE SA), also when a request, an
  answer or a DELETE is lost or duplicated;
* collisions with CHILD SA work (2.25.2): TEMPORARY_FAILURE while a CHILD SA is created, rekeyed or deleted,
  a DELETE of a CHILD SA answered as usual while the IKE SA is being rekeyed;
* bad requests are refused with the notify RFC 7296 names (3.10.1: NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD
  with the group wanted, INVALID_SYNTAX) and change nothing; bad answers end in a Failure event, never in an
  exception, and the old IKE SA goes on;
* Message IDs start at 0 on the new IKE SA (2.2), a retransmitted or duplicated rekey request is answered from
  the cache and makes one new IKE SA (2.3), CHILD SAs and virtual IP leases move to the survivor (2.18, 2.19).

Every expected value is computed here or read from the RFC text, never taken from ikelab's own derivations.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikelab import dh
from ikelab import events as ev
from ikelab import exchanges_wire as W
from ikelab.constants import ExchangeType, NotifyType, ProtocolId
from ikelab.exchanges_common import Datagram
from ikelab.lab import Lab, Network
from ikelab.message import decode
from ikelab.payloads import Notify
from ikelab.sa_payload import Proposal
from ikelab.state import State

from test_ike import assert_same_sas, configs, established, prf, prf_plus

SIDES = ("initiator", "responder")
OTHER = {"initiator": "responder", "responder": "initiator"}

# (strongSwan proposal, hash of the PRF, SK_d/SK_p length, SK_a length, SK_e length) as RFC 7296 2.14 cuts them:
# prf+ key size for SK_d/SK_pi/SK_pr, the integrity key size (none with AEAD), the cipher key (+ 4-octet GCM salt)
SUITES = {
    "aes128-sha256-ecp256": ("PRF_HMAC_SHA2_256", 32, 32, 16),
    "aes256gcm16-prfsha384-x25519": ("PRF_HMAC_SHA2_384", 48, 0, 36),
}


# --------------------------------------------------------------------------- independent computations
# (prf and prf+ are test_ike's, written with hmac from RFC 7296 2.13)


def _seven_keys(suite: str, sk_d_old: bytes, old_suite: str, g_ir: bytes, ni: bytes, nr: bytes,
                spi_i: bytes, spi_r: bytes) -> dict[str, bytes]:
    """RFC 7296 2.18 then 2.14: SKEYSEED with the OLD IKE SA's PRF, the keys with the new one's."""
    old_alg = SUITES[old_suite][0]
    alg, d_len, a_len, e_len = SUITES[suite]
    skeyseed = prf(old_alg, sk_d_old, g_ir + ni + nr)
    stream = prf_plus(alg, skeyseed, ni + nr + spi_i + spi_r, 3 * d_len + 2 * a_len + 2 * e_len)
    out, pos = {}, 0
    for name, size in (("sk_d", d_len), ("sk_ai", a_len), ("sk_ar", a_len), ("sk_ei", e_len), ("sk_er", e_len),
                       ("sk_pi", d_len), ("sk_pr", d_len)):
        out[name] = stream[pos:pos + size]
        pos += size
    out["skeyseed"] = skeyseed
    return out


def _g_ir(group: int, private_value, peer_public: bytes) -> bytes:
    """g^ir with pyca/cryptography: the x coordinate for ECP (RFC 5903 7), the X25519 output (RFC 8031 2)."""
    if group == 19:
        x, y = int.from_bytes(peer_public[:32], "big"), int.from_bytes(peer_public[32:], "big")
        public = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        return ec.derive_private_key(private_value, ec.SECP256R1()).exchange(ec.ECDH(), public)
    if group == 31:
        private = X25519PrivateKey.from_private_bytes(private_value)
        return private.exchange(X25519PublicKey.from_public_bytes(peer_public))
    raise AssertionError(f"no reference computation for group {group}")


# --------------------------------------------------------------------------- reading the wire


def _fates(lab: Lab, *fates: str) -> None:
    """The next packets' fates, counted from now; every packet after them arrives."""
    lab.network = Network(schedule=fates)
    lab._packets = 0


def _wire(lab: Lab, exchange: str | None = None) -> list[tuple[str, object]]:
    """(sender, decrypted message) for every IKE message the network delivered (duplicates once), opened with the
    keys of the IKE SA its SPIs name; ``exchange`` keeps only that exchange's messages."""
    known = {(sa.spi_i, sa.spi_r): sa for side in SIDES for sa in lab.sas(side) if sa.keys is not None}
    out = []
    for pkt in lab.trace:
        if pkt.kind != "ike" or pkt.note in ("duplicate", "lost"):
            continue
        head = decode(pkt.ike_message)
        if head.exchange.name == "IKE_SA_INIT" or (exchange is not None and head.exchange.name != exchange):
            continue
        sa = known[(head.spi_i, head.spi_r)]
        crypto = W.sk_crypto(sa.keys, sa.suite, head.is_initiator, sa.rng)
        sender = "initiator" if pkt.src == lab.addresses["initiator"] else "responder"
        out.append((sender, decode(pkt.ike_message, crypto=crypto)))
    return out


def _kinds(msg) -> list[str]:
    """The payloads inside SK, notifies by name: ["SA", "Nonce", "KE"], ["N(INVALID_SYNTAX)"]."""
    return [f"N({NotifyType(int(p.notify_type)).name})" if isinstance(p, Notify) else type(p).__name__
            for p in W.inner(msg)]


def _rekeys_on_wire(lab: Lab) -> list[dict]:
    """Each answered IKE SA rekey on the wire: who asked, Ni, Nr, SPIi, SPIr, KEi, KEr (RFC 7296 1.3.2)."""
    msgs = _wire(lab, "CREATE_CHILD_SA")
    found = []
    for sender, req in msgs:
        props = W.sa_proposals(req) if not req.is_response else None
        if not props or int(props[0].protocol) != int(ProtocolId.IKE):
            continue
        answers = [m for s, m in msgs if m.is_response and s != sender and m.message_id == req.message_id
                   and (m.spi_i, m.spi_r) == (req.spi_i, req.spi_r) and W.payload(m, "Nonce") is not None]
        if not answers:
            continue
        resp = answers[0]
        (chosen,) = W.sa_proposals(resp)
        found.append(dict(maker=sender, ni=W.nonce_of(req), nr=W.nonce_of(resp), spi_i=bytes(props[0].spi),
                          spi_r=bytes(chosen.spi), kei=W.payload(req, "KE"), ker=W.payload(resp, "KE"),
                          old=(req.spi_i, req.spi_r)))
    return _unique(found)


def _unique(items: list[dict]) -> list[dict]:
    """One entry per new IKE SA (a retransmitted request is the same exchange)."""
    out, seen = [], set()
    for item in items:
        if (item["spi_i"], item["spi_r"]) not in seen:
            seen.add((item["spi_i"], item["spi_r"]))
            out.append(item)
    return out


def _ike_deletes(lab: Lab) -> list[tuple[str, tuple[bytes, bytes]]]:
    """(sender, SPIs of the IKE SA) of each DELETE of an IKE SA on the wire (RFC 7296 1.4.1)."""
    return [(s, (m.spi_i, m.spi_r)) for s, m in _wire(lab, "INFORMATIONAL") if not m.is_response
            and any(int(d.protocol) == int(ProtocolId.IKE) for d in W.payloads(m, "Delete"))]


def _keys_of(sa) -> dict[str, bytes]:
    k = sa.keys
    return dict(sk_d=k.sk_d, sk_ai=k.sk_ai, sk_ar=k.sk_ar, sk_ei=k.sk_ei, sk_er=k.sk_er, sk_pi=k.sk_pi, sk_pr=k.sk_pr)


def _no_fatal_failure(lab: Lab) -> None:
    fatal = [f.reason for s in SIDES for f in lab.events(s, ev.Failure) if f.fatal]
    assert not fatal


# --------------------------------------------------------------------------- 2.18: the new IKE SA's keys


@pytest.mark.parametrize("suite", sorted(SUITES))
@pytest.mark.parametrize("side", SIDES)
def test_the_rekeyed_keys_follow_rfc_7296_2_18_from_the_wire(suite: str, side: str) -> None:
    """SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) with the new SPIs in prf+ (2.18): computed here from the
    exchange on the wire and the rekey initiator's private value, for a rekey started by either peer; both peers'
    new IKE SAs hold exactly these seven keys, and the peer that asked is the new original initiator."""
    lab = established(suite, "aes128gcm16")
    sk_d_old = lab.initiator.keys.sk_d
    lab.rekey_ike(side)
    private = lab.sa(side)._pending.context["dh_key"].private_value
    lab.run_until_idle()
    (rekey,) = _rekeys_on_wire(lab)
    assert rekey["maker"] == side
    assert len(rekey["ni"]) >= 16 and len(rekey["spi_i"]) == len(rekey["spi_r"]) == 8
    g_ir = _g_ir(int(rekey["kei"].group), private, bytes(rekey["ker"].data))
    want = _seven_keys(suite, sk_d_old, suite, g_ir, rekey["ni"], rekey["nr"], rekey["spi_i"], rekey["spi_r"])
    for s in SIDES:
        new = lab.sa(s)
        assert (new.spi_i, new.spi_r) == (rekey["spi_i"], rekey["spi_r"])
        assert new.initiator == (s == side)  # the I flag goes with the rekey's initiator (2.18)
        assert _keys_of(new) == {k: v for k, v in want.items() if k != "skeyseed"}
        (derived,) = [k for k in lab.events(s, ev.KeysDerived) if k.rekey]
        assert (derived.skeyseed, derived.g_ir, derived.sk_d_old) == (want["skeyseed"], g_ir, sk_d_old)
    assert_same_sas(lab)


def test_a_chain_of_rekeys_keys_each_ike_sa_from_its_predecessors_sk_d() -> None:
    """Rekeying the rekeyed IKE SA again (sun this time) keys the third IKE SA from the SK_d of the second,
    computed here, not from the first: each SKEYSEED takes the SK_d of the IKE SA it replaces (2.18)."""
    suite = "aes128-sha256-ecp256"
    lab = established(suite)
    sk_d = lab.initiator.keys.sk_d
    for side in ("initiator", "responder", "initiator"):
        lab.rekey_ike(side)
        private = lab.sa(side)._pending.context["dh_key"].private_value
        done = len(_rekeys_on_wire(lab))
        lab.run_until_idle()
        rekey = _rekeys_on_wire(lab)[done]
        g_ir = _g_ir(19, private, bytes(rekey["ker"].data))
        want = _seven_keys(suite, sk_d, suite, g_ir, rekey["ni"], rekey["nr"], rekey["spi_i"], rekey["spi_r"])
        want.pop("skeyseed")
        assert _keys_of(lab.initiator) == _keys_of(lab.responder) == want
        sk_d = want["sk_d"]
    assert len([sa for sa in lab.sas("initiator") if sa.state == State.CLOSED]) == 3


def test_the_kei_of_a_rekey_is_in_a_group_the_request_offers() -> None:
    """RFC 7296 3.4: the KE payload's group "MUST match a Diffie-Hellman group specified in a proposal in the SA
    payload that is sent in the same message".  Both peers now take only MODP-2048 for a new IKE SA: the first
    rekey request must carry a MODP-2048 KEi, not one in the old IKE SA's ECP-256 (it used to, and was answered
    INVALID_KE_PAYLOAD, costing a round trip)."""
    lab = established("aes128-sha256-ecp256")
    for sa in (lab.initiator, lab.responder):
        sa.config = replace(sa.config, ike_proposals=("aes128-sha256-modp2048",))
    lab.rekey_ike("initiator")
    lab.run_until_idle()
    requests = [m for s, m in _wire(lab, "CREATE_CHILD_SA") if not m.is_response]
    assert len(requests) == 1
    # Transform Type 4 is the Diffie-Hellman group (RFC 7296 3.3.2); 14 is the 2048-bit MODP group
    offered = {int(t.id) for p in W.sa_proposals(requests[0]) for t in p.transforms if int(t.type) == 4}
    assert offered == {14}
    assert int(W.payload(requests[0], "KE").group) == 14
    assert not [f for s in SIDES for f in lab.events(s, ev.Failure)]
    assert_same_sas(lab)
    assert lab.initiator.suite.dh.name == "MODP_2048"


def test_the_kei_keeps_the_ike_sas_group_while_it_is_offered() -> None:
    """Offering ECP-256 after X25519, the rekey still sends its KEi in the IKE SA's ECP-256 (the responder takes a
    KEi group it accepts, 1.3), one exchange, no INVALID_KE_PAYLOAD."""
    lab = established("aes128-sha256-ecp256")
    for sa in (lab.initiator, lab.responder):
        sa.config = replace(sa.config, ike_proposals=("aes128-sha256-x25519-ecp256",))
    lab.rekey_ike("initiator")
    lab.run_until_idle()
    (request,) = [m for s, m in _wire(lab, "CREATE_CHILD_SA") if not m.is_response]
    assert int(W.payload(request, "KE").group) == 19
    assert lab.initiator.suite.dh.name == "ECP_256"
    assert_same_sas(lab)


# --------------------------------------------------------------------------- 2.2, 2.3: Message IDs, retransmissions


def test_message_ids_start_at_zero_on_the_new_ike_sa_in_both_directions() -> None:
    """RFC 7296 2.2: "the IKE SA ... rekeyed ... the Message IDs start at zero" on the new IKE SA: the first
    request each peer sends on it is number 0, the next number 1, whatever the old IKE SA had reached; the DELETE
    of the old IKE SA goes on the old one, with its next number."""
    lab = established()
    for _ in range(3):
        lab.liveness("initiator")
        lab.run_until_idle()
    lab.liveness("responder")
    lab.run_until_idle()
    old = (lab.initiator.spi_i, lab.initiator.spi_r)
    lab.rekey_ike("initiator")  # request 5 from moon on the old IKE SA (IKE_SA_INIT 0, IKE_AUTH 1, 3 checks)
    lab.run_until_idle()
    new = (lab.initiator.spi_i, lab.initiator.spi_r)
    for side in SIDES:
        for _ in range(2):
            lab.liveness(side)
            lab.run_until_idle()
    msgs = _wire(lab)
    on_old = [(s, m.message_id, _kinds(m)) for s, m in msgs if (m.spi_i, m.spi_r) == old and not m.is_response]
    assert on_old[-2:] == [("initiator", 5, ["SA", "Nonce", "KE"]), ("initiator", 6, ["Delete"])]
    on_new = [(s, m.message_id, m.is_response) for s, m in msgs if (m.spi_i, m.spi_r) == new]
    assert on_new == [("initiator", 0, False), ("responder", 0, True), ("initiator", 1, False), ("responder", 1, True),
                      ("responder", 0, False), ("initiator", 0, True), ("responder", 1, False), ("initiator", 1, True)]


@pytest.mark.parametrize("fates", [("ok", "drop"), ("dup",), ("ok", "dup"), ("drop",), ("ok", "late", "ok")])
def test_a_lost_or_repeated_rekey_exchange_makes_one_new_ike_sa(fates: tuple[str, ...]) -> None:
    """RFC 7296 2.3: a lost answer brings the same request again (same octets, same Message ID), which the
    responder answers from its cache; a duplicated request is never processed twice.  Either way there is one new
    IKE SA on each side, with the keys computed here."""
    lab = established()
    sk_d_old = lab.initiator.keys.sk_d
    _fates(lab, *fates)
    lab.rekey_ike("initiator")
    private = lab.initiator._pending.context["dh_key"].private_value
    lab.run_until_idle()
    heads = [(p, decode(p.ike_message)) for p in lab.trace if p.kind == "ike" and p.note != "duplicate"]
    requests = [p.payload for p, h in heads if h.exchange == ExchangeType.CREATE_CHILD_SA and not h.is_response]
    assert len(set(requests)) == 1  # a retransmission is the request again, octet for octet
    (rekey,) = _rekeys_on_wire(lab)
    want = _seven_keys("aes128-sha256-ecp256", sk_d_old, "aes128-sha256-ecp256",
                       _g_ir(19, private, bytes(rekey["ker"].data)), rekey["ni"], rekey["nr"], rekey["spi_i"],
                       rekey["spi_r"])
    want.pop("skeyseed")
    for side in SIDES:
        assert len([k for k in lab.events(side, ev.KeysDerived) if k.rekey]) == 1
        assert len(lab.events(side, ev.IkeSaRekeyed)) == 1
        assert [sa.state for sa in lab.sas(side)] == [State.CLOSED, State.ESTABLISHED]
        assert _keys_of(lab.sa(side)) == want
    assert_same_sas(lab)
    assert len(lab.initiator.children) == 1
    _no_fatal_failure(lab)


# --------------------------------------------------------------------------- 2.8.2: colliding rekeys


def _check_collision_outcome(lab: Lab, privates: dict[str, object], sk_d_old: bytes, *,
                             loser_deleted_by_maker: bool = False) -> None:
    """After two colliding rekeys: the survivor is the new IKE SA without the lowest of the four nonces, its
    maker deleted the old IKE SA, the other maker deleted its own (2.8.2); keys as computed here."""
    rekeys = _rekeys_on_wire(lab)
    assert_same_sas(lab)
    survivor = (lab.initiator.spi_i, lab.initiator.spi_r)
    if len(rekeys) == 2:
        lowest = min(n for r in rekeys for n in (r["ni"], r["nr"]))
        (loser,) = [r for r in rekeys if lowest in (r["ni"], r["nr"])]
        (winner,) = [r for r in rekeys if r is not loser]
        assert (winner["spi_i"], winner["spi_r"]) == survivor
        deletes = _ike_deletes(lab)
        # the loser's maker deletes it, unless the old IKE SA was gone before that maker had the answer (then the
        # peer forgets the loser quietly); the other peer never deletes it, nor the old IKE SA
        assert (winner["maker"], winner["old"]) in deletes
        assert (OTHER[winner["maker"]], winner["old"]) not in deletes
        assert (OTHER[loser["maker"]], (loser["spi_i"], loser["spi_r"])) not in deletes
        if loser_deleted_by_maker:
            assert (loser["maker"], (loser["spi_i"], loser["spi_r"])) in deletes
        for side in SIDES:  # where it was made at all (its maker may never have had the answer)
            assert all(sa.state == State.CLOSED for sa in lab.sas(side)
                       if (sa.spi_i, sa.spi_r) == (loser["spi_i"], loser["spi_r"]))
    else:  # one request was refused or never answered: the other rekey stands alone
        (winner,) = rekeys
        assert (winner["spi_i"], winner["spi_r"]) == survivor
    g_ir = _g_ir(19, privates[winner["maker"]], bytes(winner["ker"].data))
    want = _seven_keys("aes128-sha256-ecp256", sk_d_old, "aes128-sha256-ecp256", g_ir, winner["ni"], winner["nr"],
                       winner["spi_i"], winner["spi_r"])
    want.pop("skeyseed")
    assert _keys_of(lab.initiator) == want
    for side in SIDES:
        assert [sa for sa in lab.sas(side) if sa.state != State.CLOSED] == [lab.sa(side)]
        assert lab.sa(side).initiator == (winner["maker"] == side)
    _no_fatal_failure(lab)


def _collide(seed: int, fates: tuple[str, ...] = (), **kw) -> tuple[Lab, dict[str, object], bytes, dict]:
    lab = established(seed=seed, **kw)
    children = dict(lab.initiator.children)
    sk_d_old = lab.initiator.keys.sk_d
    _fates(lab, *fates)
    privates = {}
    for side in SIDES:
        lab.rekey_ike(side)
        privates[side] = lab.sa(side)._pending.context["dh_key"].private_value
    return lab, privates, sk_d_old, children


@pytest.mark.parametrize("seed", range(1, 7))
def test_colliding_rekeys_keep_the_sa_without_the_lowest_nonce(seed: int) -> None:
    """RFC 7296 2.8.2: both peers rekey at once; each answers the other as usual (2.25.2, no TEMPORARY_FAILURE),
    the new IKE SA made with the lowest of the four nonces on the wire is deleted by the peer that made it, the
    other maker deletes the old IKE SA, and the CHILD SA lives on on the survivor."""
    lab, privates, sk_d_old, children = _collide(seed)
    lab.run_until_idle()
    assert len(_rekeys_on_wire(lab)) == 2
    assert not [f for s in SIDES for f in lab.events(s, ev.Failure)]
    _check_collision_outcome(lab, privates, sk_d_old, loser_deleted_by_maker=True)
    assert set(lab.initiator.children) == set(children)
    assert not lab.events("initiator", ev.ChildSaDeleted) and not lab.events("responder", ev.ChildSaDeleted)


# the packets in flight after both rekey requests: moon's request, sun's request, then the answers and DELETEs
COLLISION_FATES = [
    ("drop",),                      # moon's request lost: retransmitted after sun's rekey is done
    ("ok", "drop"),                 # sun's request lost
    ("ok", "ok", "drop"),           # the first answer lost
    ("ok", "ok", "ok", "drop"),     # the second answer lost
    ("dup", "dup"),                 # both requests duplicated
    ("ok", "ok", "dup", "dup"),     # both answers duplicated
    ("late", "ok", "ok", "late"),   # moon's request overtaken; an answer late
    ("ok", "ok", "ok", "ok", "drop", "drop"),  # the DELETEs after the collision lost
]


@pytest.mark.parametrize("fates", COLLISION_FATES)
@pytest.mark.parametrize("seed", [1, 2, 5])
def test_colliding_rekeys_under_loss_and_duplication_agree(fates: tuple[str, ...], seed: int) -> None:
    """The same collision with one packet lost, duplicated or late: both peers end with one IKE SA, keyed as
    computed here from the exchange that made it, holding the CHILD SA; no CHILD SA is deleted on the way and
    nothing is fatal (a redundant IKE SA the peer never learned of goes quietly)."""
    lab, privates, sk_d_old, children = _collide(seed, fates)
    lab.run(lab.now + 400.0)  # past the wait for a DELETE that never comes (2.4: the retransmission schedule)
    lab.run_until_idle()
    _check_collision_outcome(lab, privates, sk_d_old)
    assert set(lab.initiator.children) == set(children)
    assert not lab.events("initiator", ev.ChildSaDeleted) and not lab.events("responder", ev.ChildSaDeleted)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fates=st.lists(st.sampled_from(("ok", "ok", "drop", "dup", "late")), max_size=10), seed=st.integers(1, 9))
def test_colliding_rekeys_under_any_early_fates_agree(fates: list[str], seed: int) -> None:
    """Any fates for the first packets of a collision: the outcome is still the one the nonces decide."""
    lab, privates, sk_d_old, children = _collide(seed, tuple(fates))
    lab.run(lab.now + 400.0)
    lab.run_until_idle()
    _check_collision_outcome(lab, privates, sk_d_old)
    assert set(lab.initiator.children) == set(children)


def test_our_rekey_refused_in_a_collision_hands_the_child_sas_to_the_peers_new_ike_sa() -> None:
    """Both rekey; sun now takes only X25519, so it answers moon's ECP-256 KEi with INVALID_KE_PAYLOAD, while moon
    accepts sun's X25519 request.  Moon must not ask again (RFC 1.3) as if alone: sun's new IKE SA, which moon
    answered, is the one that stands (2.8.2), and moon's CHILD SA goes to it before sun deletes the old IKE SA,
    instead of dying with it."""
    lab = established()
    (child,) = lab.initiator.children
    lab.initiator.config = replace(lab.initiator.config, ike_proposals=("aes128-sha256-ecp256-x25519",))
    lab.responder.config = replace(lab.responder.config, ike_proposals=("aes128-sha256-x25519",))
    lab.rekey_ike("initiator")
    lab.rekey_ike("responder")
    lab.run_until_idle()
    assert_same_sas(lab)
    assert set(lab.initiator.children) == {child}
    assert lab.initiator.suite.dh.name == "CURVE25519" and lab.responder.initiator  # sun made the survivor
    (refused,) = [f for f in lab.events("initiator", ev.Failure)]
    assert refused.notify == "INVALID_KE_PAYLOAD" and not refused.fatal
    assert len([m for s, m in _wire(lab, "CREATE_CHILD_SA") if s == "initiator" and not m.is_response]) == 1
    assert not lab.events("initiator", ev.ChildSaDeleted)
    for side in SIDES:
        assert [sa.state for sa in lab.sas(side)] == [State.CLOSED, State.ESTABLISHED]


def test_our_rekey_answered_temporary_failure_in_a_collision_is_not_asked_again() -> None:
    """Moon's request reaches sun after sun's own rekey is done (moon's first copy was lost, and so was sun's
    DELETE of the old IKE SA), so sun, holding only a replaced IKE SA, answers TEMPORARY_FAILURE (2.25).  Moon
    answered sun's request meanwhile: it takes sun's new IKE SA instead of trying again later, and no rekey
    follows."""
    lab = established()
    (child,) = lab.initiator.children
    _fates(lab, "drop", "ok", "ok", "drop")  # moon's request; sun's request and moon's answer; sun's DELETE
    lab.rekey_ike("initiator")
    lab.rekey_ike("responder")
    lab.run(lab.now + 60.0)
    lab.run_until_idle()
    assert [f.notify for f in lab.events("initiator", ev.Failure)] == ["TEMPORARY_FAILURE"]
    assert_same_sas(lab)
    assert set(lab.initiator.children) == {child}
    assert len(_rekeys_on_wire(lab)) == 1 and lab.responder.initiator
    assert lab.initiator.rekey_at is not None and lab.initiator.rekey_at > lab.now + 1000  # its own lifetime
    lab.run(lab.now + 100.0)
    assert len([m for s, m in _wire(lab, "CREATE_CHILD_SA") if not m.is_response]) == 2


def test_our_unanswered_rekey_in_a_collision_leaves_the_child_sas_on_the_peers_new_ike_sa() -> None:
    """Both rekey; moon's request is lost and moon answers sun's, then the network fails for minutes: sun's DELETE
    of the old IKE SA and moon's retransmissions are all lost.  Moon gives up on its own request (2.4), but the
    peer's new IKE SA, which moon answered, stands (2.8.2): the CHILD SA must go there, as at sun, not die with the
    old IKE SA while that new one lives on without it (it used to: sun kept a CHILD SA that moon had dropped)."""
    lab = established()
    (child,) = lab.initiator.children
    _fates(lab, "drop", "ok", "ok", *["drop"] * 30)
    lab.rekey_ike("initiator")
    lab.rekey_ike("responder")
    lab.run(lab.now + 400.0)
    lab.network = Network()
    lab.run(lab.now + 400.0)
    lab.run_until_idle()
    assert_same_sas(lab)
    assert set(lab.initiator.children) == {child}
    assert lab.responder.initiator  # sun made the IKE SA that stands
    (failure,) = lab.events("initiator", ev.Failure)
    assert not failure.fatal and failure.reason.startswith("IKE SA rekey failed: no response to CREATE_CHILD_SA")
    assert not lab.events("initiator", ev.ChildSaDeleted)
    for side in SIDES:
        assert [sa.state for sa in lab.sas(side)] == [State.CLOSED, State.ESTABLISHED]
    lab.rekey_child("initiator")  # and the CHILD SA is really shared over it
    lab.run_until_idle()
    assert_same_sas(lab)


def test_an_ike_sa_rekey_meeting_the_peers_delete_of_the_ike_sa() -> None:
    """RFC 7296 2.25.2: moon rekeys the IKE SA while sun deletes it.  Sun, closing it, answers TEMPORARY_FAILURE;
    moon answers the DELETE and forgets the IKE SA and its CHILD SA, its rekey with it: no new IKE SA anywhere."""
    lab = established()
    lab.rekey_ike("initiator")
    lab.delete_ike("responder")
    lab.run_until_idle()
    lab.run(lab.now + 300.0)
    for side in SIDES:
        assert [sa.state for sa in lab.sas(side)] == [State.CLOSED]
        assert not [k for k in lab.events(side, ev.KeysDerived) if k.rekey]
        assert len(lab.events(side, ev.ChildSaDeleted)) == 1
    answers = [_kinds(m) for s, m in _wire(lab) if s == "responder" and m.is_response
               and m.exchange == ExchangeType.CREATE_CHILD_SA]
    assert answers == [["N(TEMPORARY_FAILURE)"]]
    assert lab.sas("initiator")[0].closed_reason == "deleted by peer"
    assert not [f for f in lab.events("initiator", ev.Failure)]


# --------------------------------------------------------------------------- 2.25.2: CHILD SA work meanwhile


@pytest.mark.parametrize("action", ["rekey_child", "delete_child", "create_child"])
def test_an_ike_sa_rekey_meeting_child_sa_work_from_the_peer(action: str) -> None:
    """RFC 7296 2.25.2: moon rekeys the IKE SA while sun rekeys, deletes or creates a CHILD SA.  Sun, busy with a
    CHILD SA, answers moon's rekey TEMPORARY_FAILURE; moon, rekeying the IKE SA, answers sun's CHILD SA rekey or
    creation TEMPORARY_FAILURE too, but a DELETE "as usual, with a Delete payload".  Both ask again later; in the
    end one new IKE SA holds the CHILD SAs both agree on."""
    lab = established()
    (child,) = lab.initiator.children.values()
    first = lab.initiator
    lab.rekey_ike("initiator")
    getattr(lab, action)("responder")
    lab.run(lab.now + 0.5)
    answers = {s: _kinds(m) for s, m in _wire(lab) if m.is_response and (m.spi_i, m.spi_r) == (first.spi_i, first.spi_r)
               and m.exchange != ExchangeType.IKE_AUTH}
    assert answers["responder"] == ["N(TEMPORARY_FAILURE)"]
    assert answers["initiator"] == (["Delete"] if action == "delete_child" else ["N(TEMPORARY_FAILURE)"])
    lab.run(lab.now + 60.0)
    lab.run_until_idle()
    assert first.state == State.CLOSED and lab.initiator is not first
    assert_same_sas(lab)
    assert len(lab.initiator.children) == {"rekey_child": 1, "delete_child": 0, "create_child": 2}[action]
    if action == "rekey_child":
        assert child.spi_in not in lab.initiator.children
    assert len(_rekeys_on_wire(lab)) == 1
    _no_fatal_failure(lab)


# --------------------------------------------------------------------------- the responder refuses bad requests


def _offer(sa, spi: bytes = b"\x05" * 8, **kw) -> object:
    return W.sa(W.numbered(sa._ike_proposals(spi), spi=spi, **kw))


def _kei(group: int = 19) -> object:
    return W.ke(group, dh.group(group).generate(None).public_bytes())


NONCE = W.nonce(b"\x02" * 32)


def _esp_offer(sa) -> object:
    return W.sa([Proposal(p.number, ProtocolId.ESP, b"\x01\x02\x03\x04", p.transforms)
                 for p in W.numbered(sa._ike_proposals())])


BAD_REQUESTS = {
    # name: (payloads of HDR, SK {...} from moon, the one notify sun must answer, its data)
    "no proposal sun takes (no DH)": (lambda sa: [_offer(sa, dh=None), NONCE, _kei()], "NO_PROPOSAL_CHOSEN", b""),
    "KEi in a group not chosen": (lambda sa: [_offer(sa), NONCE, _kei(20)], "INVALID_KE_PAYLOAD", b"\x00\x13"),
    "no KEi": (lambda sa: [_offer(sa), NONCE], "INVALID_KE_PAYLOAD", b"\x00\x13"),
    "no Ni": (lambda sa: [_offer(sa), _kei()], "INVALID_SYNTAX", b""),
    "KEi not on the curve": (lambda sa: [_offer(sa), NONCE, W.ke(19, b"\x01" * 64)], "INVALID_SYNTAX", b""),
    "KEi of the wrong length": (lambda sa: [_offer(sa), NONCE, W.ke(19, b"\x01" * 32)], "INVALID_SYNTAX", b""),
    "no SPI (SPI size 0)": (lambda sa: [_offer(sa, spi=b""), NONCE, _kei()], "INVALID_SYNTAX", b""),
    "SPI zero": (lambda sa: [_offer(sa, spi=bytes(8)), NONCE, _kei()], "INVALID_SYNTAX", b""),
    # an ESP proposal makes it a CHILD SA request, one without TSi/TSr: malformed (1.3.1)
    "protocol ESP instead of IKE": (lambda sa: [_esp_offer(sa), NONCE, _kei()], "INVALID_SYNTAX", b""),
}


def _ask(lab: Lab, payloads: list) -> list:
    """Moon's IKE SA sends a protected CREATE_CHILD_SA request (its next Message ID) straight to sun's endpoint;
    sun's answers, opened with moon's keys."""
    moon, sun = lab.initiator, lab.responder
    request = moon._message(ExchangeType.CREATE_CHILD_SA, moon._next_request_id, False, payloads)
    moon._next_request_id += 1
    ep = lab.endpoints["responder"]
    ep.receive(Datagram(moon._encode(request), moon.local, sun.local), lab.now)
    return [decode(d.payload, crypto=moon._crypto(sending=False)) for d in ep.pop_datagrams()]


def _state(sa) -> tuple:
    """What a refused request must not change (the Message ID the peer may use next does change)."""
    return (sa.state, sa.spi_i, sa.spi_r, sa.keys, sa._next_request_id, sa.rekey_at, sa.expire_at,
            tuple(sorted((k, c.spi_out, c.state, c.keys) for k, c in sa.children.items())), sa.replaced_by, sa.spawned)


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_a_bad_rekey_request_is_refused_with_the_rfc_notify_and_changes_nothing(name: str) -> None:
    """RFC 7296 3.10.1, 2.21.3: each malformed or unacceptable rekey request gets one error notify (with the group
    sun wants for INVALID_KE_PAYLOAD, 1.3), no new IKE SA appears and sun's IKE SA is as it was; afterwards a
    real rekey still works over it."""
    lab = established()
    build, notify, data = BAD_REQUESTS[name]
    before = _state(lab.responder)
    sas_before = list(lab.sas("responder"))
    (answer,) = _ask(lab, build(lab.initiator))
    assert _kinds(answer) == [f"N({notify})"]
    assert W.notify_data(answer, NotifyType[notify]) == data
    assert _state(lab.responder) == before and lab.sas("responder") == sas_before
    events = lab.endpoints["responder"].pop_events()
    assert not [e for e in events if isinstance(e, (ev.IkeSaRekeyed, ev.KeysDerived))]
    # sun reports each refusal, not fatal; INVALID_KE_PAYLOAD is a step of the negotiation (1.3), no failure
    failures = [(e.notify, e.fatal) for e in events if isinstance(e, ev.Failure)]
    assert failures == ([] if notify == "INVALID_KE_PAYLOAD" else [(notify, False)])
    lab.rekey_ike("initiator")
    lab.run_until_idle()
    assert_same_sas(lab)
    assert lab.initiator.spi_i not in (before[1], bytes(8), b"\x05" * 8)


# --------------------------------------------------------------------------- the initiator meets bad answers


def _answer_with(lab: Lab, build) -> None:
    """Moon rekeys; its request is lost, and an answer ``build(ctx)`` comes back under sun's keys instead."""
    moon, sun = lab.initiator, lab.responder
    _fates(lab, "drop")
    lab.rekey_ike("initiator")
    pending = moon._pending
    msg = sun._message(ExchangeType.CREATE_CHILD_SA, pending.message_id, True, build(pending.context))
    lab.endpoints["initiator"].receive(Datagram(sun._encode(msg), sun.local, moon.local), lab.now)
    lab._flush()


def _chosen(ctx, number: int = 1, protocol=ProtocolId.IKE, spi: bytes = b"\x09" * 8, dh_id: int | None = None):
    """The offered proposal reduced to one transform of each type, as a responder chooses it (2.7)."""
    seen, transforms = set(), []
    for t in ctx["proposals"][0].transforms:
        if int(t.type) not in seen:
            seen.add(int(t.type))
            transforms.append(t if dh_id is None or int(t.type) != 4 else type(t)(t.type, dh_id))
    return Proposal(number, protocol, spi, tuple(transforms))


def _ker(ctx) -> object:
    return W.ke(ctx["group"], dh.group(ctx["group"]).generate(None).public_bytes())


NR = W.nonce(b"\x03" * 32)
BAD_ANSWERS = {
    # name: (the answer's payloads from the context of moon's request, the Failure's notify)
    "SPIr zero": (lambda c: [W.sa([_chosen(c, spi=bytes(8))]), NR, _ker(c)], "INVALID_SYNTAX"),
    "no SPIr": (lambda c: [W.sa([_chosen(c, spi=b"")]), NR, _ker(c)], "INVALID_SYNTAX"),
    "protocol ESP": (lambda c: [W.sa([_chosen(c, protocol=ProtocolId.ESP, spi=b"\x01\x02\x03\x04")]), NR, _ker(c)],
                     "NO_PROPOSAL_CHOSEN"),
    "a proposal never offered": (lambda c: [W.sa([_chosen(c, number=2)]), NR, _ker(c)], "NO_PROPOSAL_CHOSEN"),
    "no KEr": (lambda c: [W.sa([_chosen(c)]), NR], "INVALID_SYNTAX"),
    "no Nr": (lambda c: [W.sa([_chosen(c)]), _ker(c)], "INVALID_SYNTAX"),
    "no SA": (lambda c: [NR, _ker(c)], "INVALID_SYNTAX"),
    "nothing": (lambda c: [], "INVALID_SYNTAX"),
    "KEr in another group": (lambda c: [W.sa([_chosen(c)]), NR, _kei(20)], "INVALID_SYNTAX"),
    # a P-256 point that moon's private value would take, labelled ECP-384: still not the chosen group's KEr
    "KEr labelled with another group": (lambda c: [W.sa([_chosen(c)]), NR, W.ke(20, _kei(19).data)],
                                        "INVALID_SYNTAX"),
    "KEr not on the curve": (lambda c: [W.sa([_chosen(c)]), NR, W.ke(19, b"\x01" * 64)], "INVALID_SYNTAX"),
}


@pytest.mark.parametrize("name", list(BAD_ANSWERS))
def test_a_bad_rekey_answer_ends_in_a_failure_event_and_the_old_ike_sa_goes_on(name: str) -> None:
    """A malformed or tampered answer to moon's rekey: no exception, one non-fatal Failure naming the problem, no
    new IKE SA, and the old IKE SA goes on: its next request goes out under the old keys with the next Message ID,
    and sun's keys open it."""
    lab = established()
    moon = lab.initiator
    before = _state(moon)
    build, notify = BAD_ANSWERS[name]
    _answer_with(lab, build)
    (failure,) = lab.events("initiator", ev.Failure)
    assert failure.notify == notify and not failure.fatal and failure.reason.startswith("IKE SA rekey failed: ")
    assert moon.state == State.ESTABLISHED and moon._pending is None and not moon.spawned
    assert _state(moon)[:4] == before[:4] and _state(moon)[5:] == before[5:]
    assert not lab.events("initiator", ev.IkeSaRekeyed) and lab.sas("initiator") == [moon]
    moon.liveness(lab.now)
    (sent,) = [d for d in moon.pop_datagrams()]
    check = decode(sent.payload, crypto=lab.responder._crypto(sending=False))
    assert check.message_id == before[4] + 1 and _kinds(check) == []


def test_a_bad_answer_in_a_collision_hands_the_child_sas_to_the_peers_new_ike_sa() -> None:
    """Both rekey; moon answers sun's request, then gets a malformed answer to its own (no KEr).  Sun's new IKE SA,
    which moon answered, stands (2.8.2): moon moves its CHILD SA there at once, so that sun's DELETE of the old
    IKE SA does not take the CHILD SA with it."""
    lab = established()
    moon = lab.initiator
    (child,) = moon.children
    _fates(lab, "drop")  # moon's request
    lab.rekey_ike("initiator")
    lab.rekey_ike("responder")
    lab.run(lab.now + 0.015)  # moon has answered sun's request; sun's DELETE of the old IKE SA is on its way
    pending = moon._pending
    bad = lab.responder._message(ExchangeType.CREATE_CHILD_SA, pending.message_id, True,
                                 [W.sa([_chosen(pending.context)]), NR])
    sun_old = [sa for sa in lab.sas("responder") if (sa.spi_i, sa.spi_r) == (moon.spi_i, moon.spi_r)][0]
    lab.endpoints["initiator"].receive(Datagram(sun_old._encode(bad), sun_old.local, moon.local), lab.now)
    lab._flush()
    assert moon.state == State.REKEYED and set(moon.replaced_by.children) == {child}
    lab.run_until_idle()
    assert_same_sas(lab)
    assert set(lab.initiator.children) == {child}
    assert not lab.events("initiator", ev.ChildSaDeleted)


def test_an_answer_with_an_nr_too_short_for_the_prf_is_invalid_syntax() -> None:
    """RFC 7296 2.10: a nonce is at least half the PRF's key size, 32 octets for PRF_HMAC_SHA2_512.  A 16-octet Nr
    (enough for the payload itself) is a malformed answer: INVALID_SYNTAX, as for a CHILD SA, and no new IKE SA."""
    lab = established("aes256-sha512-x25519")
    _answer_with(lab, lambda c: [W.sa([_chosen(c)]), W.nonce(b"\x03" * 16), _ker(c)])
    (failure,) = lab.events("initiator", ev.Failure)
    assert failure.notify == "INVALID_SYNTAX" and "Nr is a nonce of 16 octets" in failure.reason
    assert lab.sas("initiator") == [lab.initiator] and lab.initiator.state == State.ESTABLISHED


def test_an_answer_choosing_another_group_than_the_kei_is_refused() -> None:
    """RFC 7296 1.3: a responder that wants another group than the KEi's answers INVALID_KE_PAYLOAD; it cannot
    choose that group and answer with a KEr in it.  Moon offered ECP-256 and X25519 and sent an ECP-256 KEi; an
    answer choosing X25519, with a KEr labelled X25519 whose 64 octets are a P-256 point, must not key a new IKE SA
    (moon's ECP-256 private value would take it, and the new SA would claim X25519)."""
    lab = established()
    lab.initiator.config = replace(lab.initiator.config, ike_proposals=("aes128-sha256-ecp256-x25519",))
    point = dh.group(19).generate(None).public_bytes()
    _answer_with(lab, lambda c: [W.sa([_chosen(c, dh_id=31)]), NR, W.ke(31, point)])
    (failure,) = lab.events("initiator", ev.Failure)
    assert failure.notify == "INVALID_SYNTAX" and not failure.fatal
    assert lab.sas("initiator") == [lab.initiator] and lab.initiator.state == State.ESTABLISHED


@pytest.mark.parametrize("notify", ["NO_PROPOSAL_CHOSEN", "INVALID_SYNTAX", "TEMPORARY_FAILURE"])
def test_an_error_answer_to_a_rekey_is_a_failure_and_only_temporary_failure_tries_again(notify: str) -> None:
    """An error notify answering the rekey: a non-fatal Failure, the old IKE SA stands.  TEMPORARY_FAILURE means
    "try again later" (2.25): moon asks again after retransmit_timeout to twice that (a random part keeps two
    peers from colliding again); other errors would be refused again, so moon does not repeat the request, but
    the rekey its lifetime schedules (ike_rekey_time) still comes: this one was asked for by hand, and a refusal
    of it does not stop the IKE SA from ever being rekeyed (as a CHILD SA's refused rekey does not)."""
    lab = established()
    moon = lab.initiator
    scheduled = moon.rekey_at
    assert scheduled is not None and scheduled > lab.now + 3600
    _answer_with(lab, lambda c: [W.notify(NotifyType[notify])])
    asked = lab.now
    (failure,) = lab.events("initiator", ev.Failure)
    assert failure.notify == notify and not failure.fatal and moon.state == State.ESTABLISHED
    base = moon.config.retransmit_timeout
    if notify == "TEMPORARY_FAILURE":
        assert asked + base <= moon.rekey_at <= asked + 2 * base
    lab.run(asked + 3 * base)
    sent, seen = [], set()
    for p in lab.trace:  # each new request once (a retransmission repeats the octets, 2.3)
        if (p.kind == "ike" and p.src == lab.addresses["initiator"] and p.payload not in seen
                and decode(p.ike_message).exchange == ExchangeType.CREATE_CHILD_SA):
            seen.add(p.payload)
            sent.append(p.time)
    assert sent[0] == asked
    if notify == "TEMPORARY_FAILURE":  # asked again once, a little later (the lab's sun never saw the first one)
        assert len(sent) == 2 and asked + base <= sent[1] <= asked + 2 * base
        assert lab.initiator is moon and moon._pending.kind == "rekey_ike"
    else:
        assert sent == [asked] and moon._pending is None and moon.rekey_at == scheduled


def test_a_scheduled_rekey_refused_is_asked_again_until_the_ike_sa_ends_at_its_lifetime() -> None:
    """The rekey ike_rekey_time schedules, refused with NO_PROPOSAL_CHOSEN (sun no longer accepts the suite): the
    old IKE SA stands, and moon asks again after retransmit_timeout to twice that, as strongSwan's charon does
    (ike_rekey.c, schedule_delayed_rekey: sun's configuration may change meanwhile), each time refused, until
    ike_lifetime ends the IKE SA; no request after that."""
    lab = established()
    moon, sun = lab.initiator, lab.responder
    sun.config = replace(sun.config, ike_proposals=("aes256-sha512-x25519",))
    sun.rekey_at = None  # the lab's peers share a schedule: only moon rekeys here, no collision
    scheduled, expires = moon.rekey_at, moon.expire_at
    assert scheduled is not None and expires is not None and scheduled < expires
    lab.run(expires + 60)
    crypto = sun._crypto(sending=False)
    packets = [p for p in lab.trace if p.kind == "ike" and p.time >= scheduled and p.src == lab.addresses["initiator"]]
    times = {}
    for p in packets:
        m = decode(p.ike_message, crypto=crypto)
        if (m.exchange == ExchangeType.CREATE_CHILD_SA and not m.is_response
                and W.sa_proposals(m)[0].protocol == ProtocolId.IKE):
            times.setdefault(m.message_id, p.time)  # a retransmission keeps its message ID (2.3)
    asked = sorted(times.values())
    base = moon.config.retransmit_timeout
    assert asked[0] == scheduled and asked[-1] < expires and len(asked) > 10
    # the delay runs from the refusal, a round trip after the request
    assert all(base <= b - a <= 2 * base + 0.1 for a, b in zip(asked, asked[1:]))
    failures = [f.notify for f in lab.events("initiator", ev.Failure)]
    assert failures == ["NO_PROPOSAL_CHOSEN"] * len(asked)
    assert moon.state == State.CLOSED and lab.sas("initiator") == [moon]


def test_invalid_ke_payload_asks_again_once_with_the_group_named() -> None:
    """RFC 7296 1.3: INVALID_KE_PAYLOAD naming a group moon offered brings one more request with a KEi in that
    group; naming it again (or a group moon never offered) ends the rekey."""
    lab = established()
    moon = lab.initiator
    moon.config = replace(moon.config, ike_proposals=("aes128-sha256-ecp256-x25519",))
    _answer_with(lab, lambda c: [W.notify(NotifyType.INVALID_KE_PAYLOAD, data=(31).to_bytes(2, "big"))])
    pending = moon._pending
    assert pending is not None and pending.kind == "rekey_ike" and pending.context["group"] == 31
    lab._inflight.clear()
    msg = lab.responder._message(ExchangeType.CREATE_CHILD_SA, pending.message_id, True,
                                 [W.notify(NotifyType.INVALID_KE_PAYLOAD, data=(31).to_bytes(2, "big"))])
    lab.endpoints["initiator"].receive(Datagram(lab.responder._encode(msg), lab.responder.local, moon.local), lab.now)
    assert moon._pending is None and not moon._queue and moon.state == State.ESTABLISHED
    notifies = [f.notify for f in lab.endpoints["initiator"].pop_events() if isinstance(f, ev.Failure)]
    assert notifies == ["INVALID_KE_PAYLOAD"]


# --------------------------------------------------------------------------- 2.18, 2.19: what moves over


@pytest.mark.parametrize("side", SIDES)
def test_what_ike_sa_init_and_ike_auth_found_holds_on_the_new_ike_sa(side: str) -> None:
    """RFC 7296 2.18: a rekey repeats neither IKE_AUTH nor NAT detection nor the RFC 7383 notify; the new IKE SA
    keeps the peer's identity and the AUTH methods, the NAT found in IKE_SA_INIT (2.23: port 4500, UDP-encapsulated
    ESP) and IKE fragmentation, on both peers, whichever of them rekeys."""
    # "dynamic" selectors would name the NAT's public address at sun: both name the hosts
    ci, _ = configs(local_ts=("192.0.2.1/32",), remote_ts=("192.0.2.2/32",), fragmentation=True)
    _, cr = configs(local_ts=("192.0.2.2/32",), remote_ts=("192.0.2.1/32",), fragmentation=True)
    lab = Lab(ci, cr, seed=1, nat="203.0.113.5")
    lab.initiate()
    lab.run_until_idle()
    old = {s: lab.sa(s) for s in SIDES}
    assert old["initiator"].nat_local and old["responder"].nat_remote and old["initiator"].fragmentation
    assert len(old["initiator"].children) == 1
    lab.rekey_ike(side)
    lab.run_until_idle()
    for s in SIDES:
        new = lab.sa(s)
        assert new is not old[s]
        for attr in ("remote_identity", "local_auth_method", "remote_auth_method", "nat_detected", "nat_local",
                     "nat_remote", "fragmentation", "local", "remote"):
            assert getattr(new, attr) == getattr(old[s], attr), (s, attr)
        assert new.remote_identity is not None and new.local_auth_method is not None
        assert new.local[1] == 4500
    assert_same_sas(lab)
    lab.create_child("responder")  # the new IKE SA makes UDP-encapsulated CHILD SAs, as the old one did
    lab.run_until_idle()
    assert all(c.udp_encap for c in lab.initiator.children.values())
    assert len(lab.initiator.children) == 2


@pytest.mark.parametrize("side", SIDES)
def test_virtual_ips_and_child_sas_move_to_the_new_ike_sa(side: str) -> None:
    """RFC 7296 2.18: the CHILD SAs move to the new IKE SA; the client keeps the address leased in IKE_AUTH
    (2.19), and the pool now names the new IKE SA as its holder, so that deleting the old one frees nothing."""
    ci, cr = configs()
    lab = Lab(replace(ci, vip="0.0.0.0"), replace(cr, pool="10.3.0.0/29"), seed=1)
    lab.initiate()
    lab.run_until_idle()
    address = lab.initiator.virtual_ip
    assert address is not None and address.startswith("10.3.0.")
    children = set(lab.initiator.children)
    lab.create_child("initiator")
    lab.run_until_idle()
    lab.rekey_ike(side)
    lab.run_until_idle()
    assert_same_sas(lab)
    assert lab.initiator.virtual_ip == lab.responder.peer_virtual_ip == address
    pool = lab.endpoints["responder"].pool
    assert pool.holders[address][1] is lab.responder
    assert children < set(lab.initiator.children) and len(lab.initiator.children) == 2
    lab.create_child("responder")  # the new IKE SA makes CHILD SAs for the same inner address
    lab.run_until_idle()
    assert_same_sas(lab)
    assert all(str(ts).startswith(address) for c in lab.initiator.children.values() for ts in c.ts_local)


@pytest.mark.parametrize("seed", [1, 3])
def test_virtual_ip_lease_follows_the_survivor_of_colliding_rekeys(seed: int) -> None:
    """Colliding rekeys with a leased address: whichever new IKE SA survives holds the lease, and the redundant one
    deleted on the way frees nothing."""
    ci, cr = configs()
    lab = Lab(replace(ci, vip="0.0.0.0"), replace(cr, pool="10.3.0.0/29"), seed=seed)
    lab.initiate()
    lab.run_until_idle()
    address = lab.initiator.virtual_ip
    lab.rekey_ike("initiator")
    lab.rekey_ike("responder")
    lab.run_until_idle()
    assert_same_sas(lab)
    assert lab.endpoints["responder"].pool.holders[address][1] is lab.responder
    assert lab.initiator.virtual_ip == address
