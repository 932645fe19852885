"""Tests for ikelab.figures_comments (lesson 11).

References: RFC 2409 section 5 (Main Mode 6 messages, Aggressive Mode 3), 5.5 (Quick Mode 3), 5.6 (New Group Mode 2);
RFC 7296 1.2/1.3 (IKE_SA_INIT and IKE_AUTH, two messages each, the first CHILD SA in IKE_AUTH; one CREATE_CHILD_SA
exchange per further CHILD SA), giving 4 + 2(n - 1) by hand.
"""

from __future__ import annotations

import pytest

from ikelab import figures
from ikelab import figures_comments as fc
from ikelab.errors import ConfigError


def test_ikev1_counts_from_rfc2409() -> None:
    assert {k: v[0] for k, v in fc.IKEV1_EXCHANGES.items()} == {
        "Main Mode": 6, "Aggressive Mode": 3, "Quick Mode": 3, "New Group Mode": 2}
    assert [fc.ikev1_messages(n) for n in (1, 2, 5)] == [9, 12, 21]
    assert fc.ikev1_messages(1, "Aggressive Mode") == 6
    with pytest.raises(ConfigError):
        fc.ikev1_messages(1, "Quick Mode")
    with pytest.raises(ConfigError):
        fc.ikev1_messages(0)


@pytest.mark.parametrize("n", [1, 2, 4])
def test_ikev2_run_counts_the_wire(n: int) -> None:
    run = fc.ikev2_run(n)
    assert run.messages == 4 + 2 * (n - 1) and run.children == n
    assert run.exchanges[:4] == ("IKE_SA_INIT request", "IKE_SA_INIT response", "IKE_AUTH request", "IKE_AUTH response")
    assert set(run.exchanges[4:]) <= {"CREATE_CHILD_SA request", "CREATE_CHILD_SA response"}
    assert len(run.sizes) == run.messages and all(s > 28 for s in run.sizes)   # at least an IKE header


def test_count_rows_table_and_figure() -> None:
    rows = fc.count_rows(3)
    assert [(r.n, r.ikev1_main, r.ikev1_aggressive, r.ikev2) for r in rows] == [(1, 9, 6, 4), (2, 12, 9, 6),
                                                                               (3, 15, 12, 8)]
    assert "IKEv2 (ikelab run)" in fc.format_counts(rows)
    fig = fc.count_figure(rows)
    assert fig.ikelab_alt == "Figure: IKE messages for 1..3 CHILD SAs: IKEv1 main mode 9..15, aggressive 6..12, IKEv2 4..8"
    assert figures.png_bytes(fig).startswith(b"\x89PNG")


def test_option_counts() -> None:
    counts = {name: n for name, n, _ in fc.option_counts()}
    # by hand: AES-CBC and AES-CTR with 128/192/256-bit keys; AES-GCM and AES-CCM with 8/12/16-byte ICVs and three
    # key lengths, plus ChaCha20-Poly1305 (RFC 3602, 5930, 5282, 7634)
    assert counts["ENCR (classic)"] == 6 and counts["ENCR (AEAD)"] == 19
    total = (counts["ENCR (classic)"] * counts["INTEG"] + counts["ENCR (AEAD)"]) * counts["PRF"] * counts["D-H"]
    assert counts["IKE suites"] == total
