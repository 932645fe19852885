"""NO_PROPOSAL_CHOSEN carries its reasons as data (NegotiationError.reasons), so that the negotiation
widget and matrix list them without reading them back out of the message text.

Parsing the text broke on any reason that itself ends in ")": the closing parenthesis of the list and
the reason's own were stripped together.
"""

from __future__ import annotations

import pytest

from ikelab import figures_negotiation as fn
from ikelab import proposals
from ikelab.constants import ProtocolId
from ikelab.errors import NegotiationError

OFFER = ["aes128-sha256-modp2048", "aes256-sha384-ecp384", "aes128gcm16-prfsha256-x25519"]
CONF = ["aes256-sha256-modp3072", "chacha20poly1305-prfsha512-x448", "aes192-sha512-ecp521"]


def refusal(offer: list[str], conf: list[str]) -> NegotiationError:
    with pytest.raises(NegotiationError) as info:
        proposals.select(proposals.parse_proposals(offer, ProtocolId.IKE),
                         proposals.parse_proposals(conf, ProtocolId.IKE))
    return info.value


def test_every_pair_has_its_reason_in_the_order_tried_and_the_message_lists_the_first_ones() -> None:
    exc = refusal(OFFER, CONF)
    configured = [proposals.proposal_to_string(p) for p in proposals.parse_proposals(CONF, ProtocolId.IKE)]
    # the responder's order first (prefer="configured"): each configured proposal against every offer
    assert [(n, c) for n, c, _ in exc.reasons] == [(n, c) for c in configured for n in (1, 2, 3)]
    for number, conf, why in exc.reasons:
        one = proposals.parse_proposals([OFFER[number - 1]], ProtocolId.IKE)
        alone = refusal([OFFER[number - 1]], [conf]).reasons
        assert alone == ((one[0].number, conf, why),)  # the same pair tried alone fails for the same reason
    listed = [f"#{n} vs {c}: {why}" for n, c, why in exc.reasons[:proposals.REASONS_LISTED]]
    assert str(exc).endswith(f" ({'; '.join(listed)}; {9 - proposals.REASONS_LISTED} more pairs not listed)")


def test_the_widget_text_and_the_matrix_use_the_reasons_as_given() -> None:
    result = fn.negotiate(OFFER, CONF[:2])
    assert result.reasons == refusal(OFFER, CONF[:2]).reasons
    lines = fn.format_negotiation(result).splitlines()
    assert lines[-len(result.reasons):] == [f"  #{n} vs {c}: {why}" for n, c, why in result.reasons]
    rows = {(r.offered_number, r.configured): r.reason for r in fn.pair_matrix(OFFER, CONF[:2])}
    assert rows == {(n, c): why for n, c, why in result.reasons}


def test_a_reason_that_ends_in_a_parenthesis_keeps_it() -> None:
    why = "no common DH transform (the offer has KE group 14)"
    result = fn.Negotiation("IKE", "configured", ("aes128-sha256-modp2048",), ("aes128-sha256-ecp256",), None,
                            None, None, "NO_PROPOSAL_CHOSEN", f"no proposal chosen (#1 vs aes128-sha256-ecp256: {why})",
                            reasons=((1, "aes128-sha256-ecp256", why),))
    assert fn.format_negotiation(result).splitlines()[-1] == f"  #1 vs aes128-sha256-ecp256: {why}"


def test_a_chosen_proposal_or_another_refusal_has_no_reasons() -> None:
    assert fn.negotiate(OFFER, ["aes256-sha384-ecp384"]).reasons == ()
    assert NegotiationError("the responder chose no DH group although our proposal requires one (PFS)").reasons == ()
