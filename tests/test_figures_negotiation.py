"""Tests for ikelab.figures_negotiation (lesson 08): the outcomes follow RFC 7296 2.7 and 3.3.3.

Expected outcomes are worked out by hand from the RFC's rules (one proposal, one transform per type; the
mandatory types of 3.3.3; no INTEG with an AEAD cipher, RFC 5282 8), not taken from ikelab's output.
"""

from __future__ import annotations

import pytest

from ikelab import figures
from ikelab import figures_negotiation as fn
from ikelab.errors import ConfigError

OFFER = "aes256gcm16-prfsha384-ecp384, aes128-sha256-ecp256, aes128-sha256-modp2048"
CONF = "aes128-sha256-modp2048, aes256gcm16-prfsha384-ecp384"


def test_configured_order_wins_by_default_offered_order_on_request() -> None:
    r = fn.negotiate(OFFER, CONF)
    assert (r.chosen, r.chosen_number, r.notify) == ("aes128-sha256-modp2048", 3, None)
    assert r.chosen_iana == "IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
    r = fn.negotiate(OFFER, CONF, prefer="offered")
    assert (r.chosen, r.chosen_number) == ("aes256gcm16-prfsha384-ecp384", 1)


@pytest.mark.parametrize("offer, conf, protocol, chosen", [
    ("aes128-sha256-modp2048", "aes256-sha256-modp2048", "IKE", None),          # key length must match (3.3.5)
    ("aes128-aes256-sha256-modp2048", "aes256-sha256-modp2048", "IKE", "aes256-sha256-modp2048"),
    ("aes128gcm16-esn", "aes128gcm16", "ESP", None),                             # ESN is a mandatory ESP type
    ("aes128gcm16-esn-noesn", "aes128gcm16", "ESP", "aes128gcm16"),
    ("aes128-sha256-modp2048", "aes128-sha256", "ESP", None),                    # PFS offered, not accepted
])
def test_outcomes_follow_the_rfc(offer: str, conf: str, protocol: str, chosen: str | None) -> None:
    r = fn.negotiate(offer, conf, protocol=protocol)
    assert r.chosen == chosen
    assert r.notify == (None if chosen else "NO_PROPOSAL_CHOSEN")


def test_refusal_is_explained_per_pair() -> None:
    r = fn.negotiate("aes128-sha256-modp2048", "aes128-sha1-modp2048")
    text = fn.format_negotiation(r)
    assert "N(NO_PROPOSAL_CHOSEN)" in text and "#1 vs aes128-sha1-modp2048: no common PRF transform" in text


def test_unreadable_proposals_are_reported_not_raised() -> None:
    r = fn.negotiate("aes128-foo", CONF)
    assert r.error and "foo" in r.error and r.chosen is None
    assert fn.format_negotiation(r).startswith("cannot read the proposals")
    with pytest.raises(ConfigError):
        fn.negotiate(OFFER, CONF, prefer="random")


def test_pair_matrix() -> None:
    rows = fn.pair_matrix(OFFER, CONF)
    assert len(rows) == 6
    matches = {(r.offered_number, r.configured) for r in rows if r.match}
    assert matches == {(3, "aes128-sha256-modp2048"), (1, "aes256gcm16-prfsha384-ecp384")}
    by = {(r.offered_number, r.configured): r.reason for r in rows}
    assert by[(2, "aes128-sha256-modp2048")] == "no common DH transform"


def test_matrix_figure_and_weak_keywords() -> None:
    fig = fn.matrix_figure(OFFER, CONF)
    assert fig.ikelab_alt == ("Figure: 3 offered x 2 configured IKE proposals, 2 matching pairs; "
                              "chosen: #3 aes128-sha256-modp2048")
    assert figures.png_bytes(fig).startswith(b"\x89PNG")
    weak = dict(fn.weak_keywords())
    assert set(weak) == {"3des", "md5", "modp768", "modp1024", "modp1536"}
    assert all(reason != "accepted" for reason in weak.values())
    assert "RFC 8247" in weak["modp1024"]
