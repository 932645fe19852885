"""Session 39 mutation review of proposal negotiation and traffic selectors: each test here kills a deliberate
small bug that the rest of the suite let through, by asserting what a peer or a user relies on.

159 mutants were tried by hand, one at a time, against the tests that cover these modules: 62 in
ikelab/proposals.py (the choice, the initiator's check, suites, ESN and KE handling, remembered answers),
42 in ikelab/ts.py (text, ports, OPAQUE, ICMP Type/Code, intersection, narrowing), 16 in
ikelab/ts_negotiation.py (the narrowing check, NAT substitution, remembered answers), 20 in
ikelab/ts_payload.py and 19 in the proposal and selector parts of ikelab/exchanges_child.py.  The suite
killed 140.  Of the 19 survivors, 13 were gaps, which the tests below kill, and 6 are equivalent:

* an absent INTEG read as NONE dropped, and offered INTEG NONE no longer filtered: select drops INTEG NONE
  from the configured side (and skips INTEG beside AEAD), so neither can ever be chosen;
* unassigned transform IDs taken as known: an offered one never equals a configured transform, and the
  configuration refuses any transform ikelab does not implement (check_proposal);
* skipping types outside the protocol "unless DH", and the NO_ESN allowance tested on ``t.type`` instead of
  ESN: DH is allowed for IKE, ESP and AH alike, and ``t.type`` is ESN there; the same conditions;
* check_chosen's remembered answer looked up with a key it never stores: only speed changes.

One more test, written while judging the NO_ESN mutants, is the regression test of a library fix: the
initiator accepted an IKE SA answer with an ESN transform added (RFC 7296 3.3.3).

The mutants are named in each docstring; the RFC text is the reference, and every expected value is written
out from it here, never computed by the code under test: RFC 7296 2.7 (one proposal, one transform of each
type), 2.9 (narrowing: the answer is a subset of the offer), 3.3.1 (Proposal Num), 3.3.6 (what the initiator
accepts), 3.13.1 (selector fields: OPAQUE ports, ICMP Type and Code in the ports) and RFC 4301 4.4.1.1.
"""

from __future__ import annotations

import ipaddress

import pytest

from ikelab import events as ev
from ikelab.constants import EsnId, ProtocolId, TransformType, TsType
from ikelab.errors import ConfigError, NegotiationError
from ikelab.payloads import Proposal, TrafficSelector, Transform, TSi
from ikelab.proposals import check_chosen, select
from ikelab.ts import ts_from_string, ts_intersection
from ikelab.ts_negotiation import check_narrowed, narrow_cached

from test_review_transport_nat import IP1, IP2, TransportLab, configs as transport_configs

# IANA IKEv2 registries (RFC 7296 3.3.2, 3.3.5): the numbers a peer puts on the wire
AES_CBC, HMAC_SHA2_256, AUTH_HMAC_SHA2_256_128, MODP_2048, ECP_256 = 12, 5, 12, 14, 19


def _ike(number: int, key_bits: int = 128) -> Proposal:
    """An IKE proposal aes<key_bits>-sha256-modp2048, written out as its transforms."""
    return Proposal(number, ProtocolId.IKE, b"", (
        Transform(TransformType.ENCR, AES_CBC, key_bits), Transform(TransformType.PRF, HMAC_SHA2_256),
        Transform(TransformType.INTEG, AUTH_HMAC_SHA2_256_128), Transform(TransformType.DH, MODP_2048)))


# --------------------------------------------------------------------------- check_chosen: the answer (3.3.6)


def test_an_answer_without_any_proposal_is_a_negotiation_error() -> None:
    """Mutant: check_chosen takes an answer list of any length but two or more.

    RFC 7296 2.7: the responder "MUST choose a single suite"; an SA payload with no proposal is no choice.
    The initiator must refuse it as a negotiation failure (a typed NegotiationError that the engine turns
    into a failed exchange), not crash on indexing an empty list."""
    with pytest.raises(NegotiationError, match="exactly one proposal, it sent 0"):
        check_chosen([_ike(1)], [])


def test_an_answer_numbered_zero_matches_no_offered_proposal() -> None:
    """Mutant: the answer is matched to the first offered proposal numbered at least its own.

    RFC 7296 3.3.1: proposals are numbered from 1, and the accepted proposal carries the number of the one
    chosen.  An answer numbered 0 names nothing we offered, even with the very transforms of our #1; so does
    an answer numbered 1 when our offer started at #2 (only #2 and #3 offered)."""
    with pytest.raises(NegotiationError, match="chose proposal #0, which was not offered"):
        check_chosen([_ike(1), _ike(2, 256)], Proposal(0, ProtocolId.IKE, b"", _ike(1).transforms))
    with pytest.raises(NegotiationError, match="chose proposal #1, which was not offered"):
        check_chosen([_ike(2), _ike(3, 256)], Proposal(1, ProtocolId.IKE, b"", _ike(2).transforms))
    # the real answers to the same offers are taken, with the Key Length of the proposal named
    assert check_chosen([_ike(1), _ike(2, 256)], _ike(2, 256)).key_bits == 256
    assert check_chosen([_ike(2), _ike(3, 256)], _ike(2)).key_bits == 128


# --------------------------------------------------------------------------- selector text (3.13.1)


@pytest.mark.parametrize("text", ["fe80::1%eth0-fe80::9", "fe80::1-fe80::9%eth0", "fe80::1-fe80::9%eth0[tcp/80]"])
def test_a_zone_index_on_either_end_of_a_range_is_refused(text: str) -> None:
    """Mutant: only the range's start address is checked for a zone index.

    RFC 7296 3.13.1: a selector carries its Starting and Ending Address as bare 16 octets; a zone index
    (RFC 4007 11, ``%eth0``) names one of our own interfaces and has no place on the wire, so a range that
    gives one at either end is a configuration error, said when it is read, not a selector whose end address
    silently differs from the same address without the zone."""
    with pytest.raises(ConfigError, match="zone index"):
        ts_from_string(text)


@pytest.mark.parametrize("text, protocol", [("10.0.0.0/8[tcp/]", 6), ("10.0.0.0/8[udp/]", 17),
                                            ("192.0.2.1[icmp/]", 1)])
def test_a_protocol_with_an_empty_port_after_the_slash_covers_every_port(text: str, protocol: int) -> None:
    """Mutant: an empty port after ``/`` is no longer read as any port (it becomes a parse error).

    strongSwan's ``parse_ts`` (vici) keeps its default 0-65535 when the text after ``/`` is empty, and the
    module docstring promises strongSwan's syntax; so ``[tcp/]`` is ``[tcp]``: RFC 7296 3.13.1 Start Port 0,
    End Port 65535 ("any port"), with the protocol kept."""
    ts = ts_from_string(text)
    assert (ts.ip_protocol, ts.start_port, ts.end_port) == (protocol, 0, 65535)


# --------------------------------------------------------------------------- remembered answers (2.7, 3.3.6)
# select and check_chosen remember their answers by the identity of the transforms tuples (ikelab.memo); the
# same objects in another arrangement are another question and must get their own answer.


def _esp(number: int, key_bits: int, transforms: tuple[Transform, ...] | None = None) -> Proposal:
    """An ESP proposal aes<key_bits>-sha256 without ESN, or ``transforms`` (the very tuple) if given."""
    return Proposal(number, ProtocolId.ESP, b"", transforms or (
        Transform(TransformType.ENCR, AES_CBC, key_bits), Transform(TransformType.INTEG, AUTH_HMAC_SHA2_256_128),
        Transform(TransformType.ESN, EsnId.NO_ESN)))


def test_the_same_proposals_split_otherwise_between_offer_and_configuration_are_judged_again() -> None:
    """Mutant: select's remembered answer is keyed without where the offered list ends.

    RFC 7296 2.7: the responder chooses among the *offered* proposals.  Offered aes128 (#1) and aes256 (#2)
    against a configured aes256, #2 is chosen; the same three objects with only aes128 offered (aes256 now
    among the configured ones) leave nothing in common: NO_PROPOSAL_CHOSEN, never the earlier #2, which this
    initiator did not offer."""
    a128, a256, conf = _esp(1, 128), _esp(2, 256), _esp(1, 256)
    chosen = select([a128, a256], [conf])
    assert chosen.number == 2 and chosen.transforms[0] == Transform(TransformType.ENCR, AES_CBC, 256)
    with pytest.raises(NegotiationError) as refused:
        select([a128], [a256, conf])
    assert refused.value.notify_type == "NO_PROPOSAL_CHOSEN"


def test_one_transforms_tuple_under_another_protocol_is_judged_again() -> None:
    """Mutant: the remembered answers of select and check_chosen are keyed without the proposals' protocols.

    RFC 7296 3.3.3: ESP must carry an encryption transform, AH carries none.  Integrity with NO_ESN is a
    whole AH proposal and an ESP one without ENCR: accepted as AH, then refused as ESP (by the responder's
    select and the initiator's check_chosen alike), even though the very same transforms tuple was just
    accepted."""
    integ_esn = (Transform(TransformType.INTEG, AUTH_HMAC_SHA2_256_128), Transform(TransformType.ESN, EsnId.NO_ESN))
    ah, esp = Proposal(1, ProtocolId.AH, b"", integ_esn), Proposal(1, ProtocolId.ESP, b"", integ_esn)
    assert select([ah], [ah]).protocol == ProtocolId.AH
    assert check_chosen([ah], ah).protocol == ProtocolId.AH
    with pytest.raises(NegotiationError, match="no common ENCR"):
        select([esp], [esp])
    with pytest.raises(NegotiationError, match="lacks ENCR"):
        check_chosen([esp], esp)


def test_the_same_offer_under_another_local_policy_is_narrowed_again() -> None:
    """Mutant: narrow_cached remembers its answer without the policy for the responder's own side (TSr).

    RFC 7296 2.9: the responder narrows the offer to its policy.  One responder may hold two connections whose
    local_ts differ, and the decoded TS payloads of one initiator's requests are the very same tuples; offered
    TSr 10.2.0.0/16 against local_ts 10.2.0.0/24, then against 10.2.5.0/24, is answered 10.2.0.0/24, then
    10.2.5.0/24 (TSi, 10.1.0.0/16 offered and allowed, stays as offered)."""
    tsi = (TrafficSelector.from_range("10.1.0.0", "10.1.255.255"),)
    tsr = (TrafficSelector.from_range("10.2.0.0", "10.2.255.255"),)
    remote_ts = (TrafficSelector.from_range("10.1.0.0", "10.1.255.255"),)
    first = (TrafficSelector.from_range("10.2.0.0", "10.2.0.255"),)
    second = (TrafficSelector.from_range("10.2.5.0", "10.2.5.255"),)
    assert narrow_cached(tsi, tsr, remote_ts, first) == (tsi, first)
    assert narrow_cached(tsi, tsr, remote_ts, second) == (tsi, second)


# --------------------------------------------------------------------------- select: the responder's choice (2.7)


def test_the_group_of_the_ke_payload_is_taken_whichever_order_is_preferred() -> None:
    """Mutant: the KE payload's group is taken only when the configured order is preferred.

    RFC 7296 1.2/2.7: the initiator guesses a group for its KE payload; if the responder picks another it must
    answer INVALID_KE_PAYLOAD and cost a round trip.  So of the groups both sides accept, the KE's is chosen,
    also with ``prefer="offered"``: the offer lists MODP-2048 (14) first, the KE is ECP-256 (19), and 19 is
    chosen, the rest of the proposal as offered."""
    offered = Proposal(1, ProtocolId.IKE, b"", _ike(1).transforms + (Transform(TransformType.DH, ECP_256),))
    configured = Proposal(1, ProtocolId.IKE, b"", _ike(1).transforms[:3] + (
        Transform(TransformType.DH, ECP_256), Transform(TransformType.DH, MODP_2048)))
    for prefer in ("offered", "configured"):
        chosen = select([offered], [configured], prefer=prefer, ke_group=ECP_256)
        assert [(int(t.type), int(t.id)) for t in chosen.transforms] == [
            (1, AES_CBC), (2, HMAC_SHA2_256), (3, AUTH_HMAC_SHA2_256_128), (4, ECP_256)]
    # without a KE payload to follow, the offered order decides: the initiator's first group
    assert int(select([offered], [configured], prefer="offered").transforms[3].id) == MODP_2048


# --------------------------------------------------------------------------- the engine's CHILD SA (2.9, 2.23.1)


def test_transport_selectors_agreed_without_a_nat_do_not_follow_a_moving_peer() -> None:
    """Mutant: the initiator reads a transport-mode answer as substituted across a NAT even when none was seen.

    RFC 7296 2.23.1: only selectors the peer substituted for a host behind a NAT name the observed address,
    and only those follow the peer when it moves (2.23).  Without a NAT the selectors are the ones the hosts
    wrote; when the server's next protected message comes from another address, the client follows it for
    IKE, but its transport-mode CHILD SA keeps TSr = the server's own address, and PeerMoved names no CHILD SA."""
    lab = TransportLab(*transport_configs(), seed=39)
    lab.initiate()
    lab.run_until_idle()
    client, server = lab.initiator, lab.responder
    assert not (client.nat_local or client.nat_remote)
    (child,) = lab.children("initiator")
    assert child.mode == "transport"
    assert (child.ts_local, child.ts_remote) == ((TrafficSelector.from_address(IP1),),
                                                 (TrafficSelector.from_address(IP2),))
    server.liveness(lab.now)
    (request,) = server.pop_datagrams()
    client.receive(request.payload, lab.now, src=("198.51.100.9", 500), dst=(IP1, 500))
    (moved,) = [e for e in client.pop_events() if isinstance(e, ev.PeerMoved)]
    assert moved.new[0] == "198.51.100.9" and moved.children == ()
    assert child.ts_remote == (TrafficSelector.from_address(IP2),)


def test_an_answer_with_a_transform_type_the_protocol_does_not_carry_is_refused_even_with_id_zero() -> None:
    """Mutant: any transform with ID 0 of a type the proposal did not offer is let through (not only NO_ESN).

    RFC 7296 3.3.6: the accepted proposal holds transforms from the one offered; 3.3.3: ESP carries no PRF.
    Our ESP offer aes128-sha256 (written without ESN, which an answer may then give as NO_ESN) is answered
    with a PRF transform of ID 0 (reserved in the IANA PRF registry) added: refused, like any transform we
    did not offer; the answer with NO_ESN added is taken."""
    offer = Proposal(1, ProtocolId.ESP, b"", _esp(1, 128).transforms[:2])
    with pytest.raises(NegotiationError, match="did not offer"):
        check_chosen([offer], Proposal(1, ProtocolId.ESP, b"", offer.transforms + (Transform(TransformType.PRF, 0),)))
    suite = check_chosen([offer], Proposal(1, ProtocolId.ESP, b"", offer.transforms + (
        Transform(TransformType.ESN, EsnId.NO_ESN),)))
    assert (suite.key_bits, suite.esn, suite.prf) == (128, False, None)


def test_a_selector_with_its_ports_backwards_meets_nothing_not_even_itself() -> None:
    """Mutant: two equal port ranges meet in that range even when it is backwards.

    RFC 7296 3.13.1: the ports of a selector run from Start Port to End Port; the only legal start above the
    end is OPAQUE (65535, 0).  A peer's tcp 80-10 therefore covers no port, and its intersection with the very
    same selector is empty (None), while OPAQUE with OPAQUE stays OPAQUE."""
    net = (ipaddress.ip_address("10.0.0.0"), ipaddress.ip_address("10.255.255.255"))
    backwards = TrafficSelector(TsType.TS_IPV4_ADDR_RANGE, 6, 80, 10, *net)
    assert ts_intersection(backwards, backwards) is None
    opaque = TrafficSelector(TsType.TS_IPV4_ADDR_RANGE, 17, 65535, 0, *net)
    assert ts_intersection(opaque, opaque) == TrafficSelector(TsType.TS_IPV4_ADDR_RANGE, 17, 65535, 0, *net)


@pytest.mark.parametrize("network, first, last", [
    ("192.0.2.77/24", "192.0.2.0", "192.0.2.255"), ("10.1.2.3/8", "10.0.0.0", "10.255.255.255"),
    ("2001:db8::1/32", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")])
def test_a_network_written_with_host_bits_covers_the_whole_network(network: str, first: str, last: str) -> None:
    """Mutant: TrafficSelector.from_network (and TSi.of) refuse an address/len whose host bits are set.

    RFC 4301 4.4.1.1 describes selector addresses as ranges, a subnet among them; like strongSwan's
    ``traffic_selector_create_from_cidr``, which masks the host bits, ``192.0.2.77/24`` is the network
    192.0.2.0-192.0.2.255 (RFC 7296 3.13.1 Starting and Ending Address), as the text syntax reads it too."""
    expected = TrafficSelector(TsType.TS_IPV4_ADDR_RANGE if "." in first else TsType.TS_IPV6_ADDR_RANGE, 0, 0, 65535,
                               ipaddress.ip_address(first), ipaddress.ip_address(last))
    assert TrafficSelector.from_network(network) == expected
    assert TSi.of(network).selectors == (expected,)


def test_the_same_answer_to_a_narrower_offer_is_checked_again() -> None:
    """Mutant: check_narrowed remembers its verdict by the answered selectors alone.

    RFC 7296 2.9: the responder may only narrow, so each answered selector must lie inside one we offered.
    Decoded TS payloads are remembered by their octets, so the same answer tuple comes back for two CHILD SAs:
    10.2.0.0/24 answers an offer of 10.2.0.0/16 (a subset: taken) but is wider than an offer of 10.2.0.0/25,
    and must be refused there with TS_UNACCEPTABLE."""
    answer = (TrafficSelector.from_range("10.2.0.0", "10.2.0.255"),)
    check_narrowed(answer, (TrafficSelector.from_range("10.2.0.0", "10.2.255.255"),), "TSr")
    with pytest.raises(NegotiationError, match="wider than what we offered") as refused:
        check_narrowed(answer, (TrafficSelector.from_range("10.2.0.0", "10.2.0.127"),), "TSr")
    assert refused.value.notify_type == "TS_UNACCEPTABLE"


def test_an_ike_answer_carrying_an_esn_transform_is_refused() -> None:
    """Library bug found while judging the NO_ESN mutants: the initiator took an IKE SA answer with an added
    ESN transform (NO_ESN), because an offer without ESN may be answered NO_ESN, for ESP and AH.

    RFC 7296 3.3.3: ESN is a transform type of ESP and AH only; 3.3.6: the accepted proposal holds transforms
    we offered.  Our IKE offer aes128-sha256-modp2048 answered with those four and NO_ESN is refused; the same
    answer without it is taken."""
    answer = Proposal(1, ProtocolId.IKE, b"", _ike(1).transforms + (Transform(TransformType.ESN, EsnId.NO_ESN),))
    with pytest.raises(NegotiationError, match="did not offer"):
        check_chosen([_ike(1)], answer)
    suite = check_chosen([_ike(1)], _ike(1))
    assert (suite.protocol, int(suite.encr), suite.key_bits, int(suite.dh)) == (ProtocolId.IKE, AES_CBC, 128, MODP_2048)
