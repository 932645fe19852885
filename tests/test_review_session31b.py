"""Review of lesson 06's ike.ts-narrowing and lesson 08's negotiation.valid-answers checkers.

Expected values are worked by hand from the RFC text, with ``ipaddress`` for the address arithmetic:

* ike.ts-narrowing (RFC 7296 2.9, 3.13.1): the answer is the traffic the offer and the policy both allow; two
  selectors 10.2.0.0/17 and 10.2.128.0/17 match the same packets as one 10.2.0.0/16, so either spelling is right.
  An OPAQUE port (start 65535, end 0) is matched only by any-port (0-65535) or OPAQUE, never by port 80.
* negotiation.valid-answers (RFC 7296 2.7, 3.3.1): the initiator accepts an answer naming an offered Proposal Num
  with one transform of each type, each from that proposal; for ESP the ESN transform is one of the types (3.3.2).
* figures_arch (RFC 4301 4.4.1): the gateways' PROTECT entry is the CHILD SA's selectors, TCP port 443 included.
"""

from __future__ import annotations

import ipaddress

import pytest

from ikelab import exercises
from ikelab.errors import ConfigError
from ikelab.exercises import ExerciseFailed


def _fails(exercise_id: str, answer: object, **given: object) -> str:
    with pytest.raises(ExerciseFailed) as info:
        exercises.check(exercise_id, answer, **given)
    return info.value.reason


# --- ike.ts-narrowing --------------------------------------------------------------------------------------------

# sun allows its /16 as two halves: moon's whole 10.2.0.0/16 offer is allowed (checked with ipaddress below)
HALVES = dict(offered_tsi="10.1.0.0/16", offered_tsr="10.2.0.0/16", policy_local=["10.2.0.0/17", "10.2.128.0/17"],
              policy_remote="10.0.0.0/8")


def test_halves_make_the_whole_network() -> None:
    """The hand-worked premise of the next test, from ipaddress alone."""
    net = ipaddress.ip_network("10.2.0.0/16")
    assert list(net.subnets(prefixlen_diff=1)) == [ipaddress.ip_network(n) for n in HALVES["policy_local"]]


@pytest.mark.parametrize("tsr", [["10.2.0.0/17", "10.2.128.0/17"], "10.2.0.0/16", "10.2.0.0-10.2.255.255"])
def test_ts_narrowing_the_same_traffic_in_other_selectors_is_right(tsr: object,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """RFC 7296 2.9 fixes the traffic, not how many selectors say it: no slip ("the offer itself") for a right one."""
    exercises.check("ike.ts-narrowing", ("10.1.0.0/16", tsr), **HALVES)
    assert capsys.readouterr().out.startswith("Correct! [ike.ts-narrowing]")


def test_ts_narrowing_the_whole_offer_with_its_packet_specific_selector(capsys: pytest.CaptureFixture[str]) -> None:
    """The offer's first selector is packet-specific (2.9) and inside the second; the policy allows all of it, so
    the offer itself is a right answer, with or without that first selector."""
    given = dict(offered_tsi=["10.1.0.5/32[tcp/1234]", "10.1.0.0/16"], offered_tsr=["10.2.0.7/32[tcp/443]",
                 "10.2.0.0/16"], policy_local="10.2.0.0/16", policy_remote="10.1.0.0/16")
    exercises.check("ike.ts-narrowing", (given["offered_tsi"], given["offered_tsr"]), **given)
    exercises.check("ike.ts-narrowing", ("10.1.0.0/16", "10.2.0.0/16"), **given)
    assert capsys.readouterr().out.count("Correct!") == 2


def test_ts_narrowing_an_opaque_port_is_not_inside_port_80() -> None:
    """RFC 7296 3.13.1: OPAQUE ports (65535, 0) match only any-port or OPAQUE: answering them for an offer of
    TCP port 80 answers more than was offered."""
    given = dict(offered_tsi="10.1.0.0/16", offered_tsr="10.2.0.0/16[tcp/80]", policy_local="10.2.0.0/15",
                 policy_remote="10.0.0.0/8")
    reason = _fails("ike.ts-narrowing", ("10.1.0.0/16", "10.2.0.0/16[tcp/%opaque]"), **given)
    assert "TSr holds more than moon offered (10.2.0.0/16[tcp/%opaque])" in reason


def test_ts_narrowing_an_opaque_port_is_inside_any_port() -> None:
    """... and OPAQUE is inside an any-port offer: not "more than moon offered", only not what the policy allows."""
    given = dict(offered_tsi="10.1.0.0/16", offered_tsr="10.2.0.0/16[udp]", policy_local="10.2.0.0/16[udp/53]",
                 policy_remote="10.0.0.0/8")
    reason = _fails("ike.ts-narrowing", ("10.1.0.0/16", "10.2.0.0/16[udp/%opaque]"), **given)
    assert "more than moon offered" not in reason and "IP protocol and ports" in reason


def test_ts_narrowing_inside_two_offered_selectors_together_is_not_wider() -> None:
    """10.1.0.0/16 is exactly moon's two offered /17s: not "more than moon offered"; the TCP of sun's policy is
    what it misses."""
    given = dict(offered_tsi=["10.1.0.0/17", "10.1.128.0/17"], offered_tsr="10.2.0.0/16",
                 policy_local="10.2.0.0/16", policy_remote="10.1.0.0/16[tcp]")
    reason = _fails("ike.ts-narrowing", ("10.1.0.0/16", "10.2.0.0/16"), **given)
    assert "more than moon offered" not in reason and "TSi is not right" in reason


def test_ts_narrowing_ipv6_several_selectors_and_protocols(capsys: pytest.CaptureFixture[str]) -> None:
    """Two families, one selector each, each side narrowed by its own policy entry (worked by hand): TSi
    2001:db8:1::/48 (inside 2001:db8::/32) and 10.1.0.0/24 UDP; TSr 2001:db8:2::/64 UDP 53 and 10.2.0.0/24.  The
    same traffic as ranges, in another order, is right; a side with the IPv6 selector's protocol dropped is not."""
    given = dict(offered_tsi=["2001:db8:1::/48", "10.1.0.0/16"], offered_tsr=["2001:db8:2::/48", "10.2.0.0/16"],
                 policy_local=["2001:db8:2::/64[udp/53]", "10.2.0.0/24"],
                 policy_remote=["2001:db8::/32", "10.1.0.0/24[udp]"])
    tsi = ["10.1.0.0-10.1.0.255[17]", "2001:db8:1::-2001:db8:1:ffff:ffff:ffff:ffff:ffff"]
    exercises.check("ike.ts-narrowing", (tsi, ["10.2.0.0/24", "2001:db8:2::/64[udp/53-53]"]), **given)
    assert capsys.readouterr().out.startswith("Correct!")
    reason = _fails("ike.ts-narrowing", (tsi, ["10.2.0.0/24", "2001:db8:2::/64"]), **given)
    assert "IP protocol and ports" in reason


# --- negotiation.valid-answers -----------------------------------------------------------------------------------

OFFER = "aes256gcm16-prfsha384-ecp384, aes128-sha256-modp2048-ecp256"
LONG = {"A1": (2, "aes128-sha256-ecp256"), "B2": (1, "aes128-sha256-modp2048")}  # A1 right, B2 names the wrong #


@pytest.mark.parametrize("answer", ["A1", "a1", {"A1"}, "A1,", [" a1 "]])
def test_valid_answers_one_label_of_two_characters(answer: object, capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("negotiation.valid-answers", answer, offered=OFFER, answers=LONG)
    assert capsys.readouterr().out.startswith("Correct! [negotiation.valid-answers] A1: ")


def test_valid_answers_labels_run_together_are_asked_apart() -> None:
    reason = _fails("negotiation.valid-answers", "A1B2", offered=OFFER, answers=LONG)
    assert "write them apart" in reason and "there is no answer" not in reason


def test_valid_answers_an_empty_text_is_no_label(capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("negotiation.valid-answers", "", offered=OFFER, answers={"B2": LONG["B2"]})
    assert capsys.readouterr().out.startswith("Correct! [negotiation.valid-answers] none: ")


def test_valid_answers_lower_case_labels_given(capsys: pytest.CaptureFixture[str]) -> None:
    """Labels compare without case both ways: a teacher's 'a' is named by 'a' or 'A'."""
    answers = {"a": LONG["A1"], "b": LONG["B2"]}
    exercises.check("negotiation.valid-answers", {"a"}, offered=OFFER, answers=answers)
    exercises.check("negotiation.valid-answers", "A", offered=OFFER, answers=answers)
    assert capsys.readouterr().out.count("Correct! [negotiation.valid-answers] a: ") == 2
    with pytest.raises(ConfigError) as info:
        exercises.check("negotiation.valid-answers", "A", offered=OFFER, answers={"A": LONG["A1"], "a": LONG["B2"]})
    assert info.value.field == "answers"


def test_valid_answers_esp(capsys: pytest.CaptureFixture[str]) -> None:
    """ESP (RFC 7296 3.3.2, 3.3.3): ENCR and ESN are mandatory; A and C take one of each from the proposal they
    name, B and D take the ESN of the other proposal."""
    answers = {"A": (1, "aes128gcm16-esn"), "B": (1, "aes128gcm16-noesn"), "C": (2, "aes128-sha256-noesn"),
               "D": (2, "aes128-sha256-esn")}
    exercises.check("negotiation.valid-answers", "AC", offered="aes128gcm16-esn, aes128-sha256-noesn",
                    answers=answers, protocol="ESP")
    out = capsys.readouterr().out
    assert out.startswith("Correct! [negotiation.valid-answers] A, C: ") and "B, it takes transforms from two" in out


def test_valid_answers_a_bad_offer_names_offered() -> None:
    with pytest.raises(ConfigError) as info:
        exercises.check("negotiation.valid-answers", "A", offered="aes128-bogus", answers={"A": LONG["A1"]})
    assert info.value.field == "offered" and info.value.value == "aes128-bogus"


# --- figures_arch: the lesson 01 gateways from events whose selectors carry a protocol and ports -----------------


def test_gateways_keep_the_protocol_and_ports_of_the_child_sa() -> None:
    """RFC 4301 4.4.1 / RFC 7296 3.13.1: the PROTECT entry is the CHILD SA's selectors, protocol and ports
    included: TCP 443 into 10.2.0.0/16 is protected, an ICMP echo there is not (default-discard); moon's DNS
    bypass still comes from its local addresses, whatever protocol its selector names."""
    from ikelab import events as ev
    from ikelab import figures_arch
    from ikelab.config import IkeConfig
    from ikelab.lab import Lab
    from ikelab.policy import Action

    common = dict(psk=b"a shared secret for the gateway figure", ike_proposals=("aes128-sha256-x25519",),
                  esp_proposals=("aes128gcm16",), cookie_threshold=None)
    moon = IkeConfig(local_id="moon.example", remote_id="sun.example", local_ts=("10.1.0.0/16[tcp]",),
                     remote_ts=("10.2.0.0/16[tcp/443]",), **common)
    sun = IkeConfig(local_id="sun.example", remote_id="moon.example", local_ts=("10.2.0.0/16[tcp/443]",),
                    remote_ts=("10.1.0.0/16[tcp]",), **common)
    lab = Lab(moon, sun, seed=31)
    lab.initiate()
    lab.run_until_idle()
    assert lab.events("initiator", ev.ChildSaCreated)[0].ts_remote == ("10.2.0.0/16[tcp/443]",)
    gws = figures_arch.gateways_from_events({s: lab.events(s) for s in ("initiator", "responder")})
    (protect,) = [p for p in gws.moon.spd if p.action is Action.PROTECT]
    (sel,) = protect.selectors
    assert sel.protocol == 6 and (sel.remote_ports.start, sel.remote_ports.end) == (443, 443)
    assert (str(sel.local.start), str(sel.local.end)) == ("10.1.0.0", "10.1.255.255")
    echo = figures_arch.packet_path(gws, figures_arch.make_packet("10.1.0.1", "10.2.0.1", "icmp echo"))
    assert echo.outbound.action is Action.DISCARD and echo.wire is None
    dns = figures_arch.packet_path(gws, figures_arch.make_packet("10.1.0.1", "10.2.0.53", "udp/53 (DNS)"))
    assert dns.outbound.action is Action.BYPASS and dns.outbound.policy.name == "dns-bypass"
