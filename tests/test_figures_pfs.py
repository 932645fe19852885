"""Tests for ikelab.figures_pfs (lesson 03): the leak experiment, checked against an independent prf+.

References: RFC 7296 2.14 (SKEYSEED = prf(Ni | Nr, g^ir)), 2.13 (prf+), 2.17 (KEYMAT = prf+(SK_d, Ni | Nr), or with
PFS prf+(SK_d, g^ir (new) | Ni | Nr)), 2.18 (IKE SA rekey with a fresh Diffie-Hellman).  prf+ with
PRF_HMAC_SHA2_256 is tests/reference.py's, written with Python's hmac module, independently of ikelab.prf.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from ikelab import events as ev
from ikelab import figures_pfs
from ikelab.errors import ConfigError
from reference import prf_plus  # RFC 7296 2.13 with HMAC-SHA-256


@pytest.fixture(scope="module")
def run() -> figures_pfs.PfsRun:
    return figures_pfs.pfs_run((False, True, False))


def test_the_run(run: figures_pfs.PfsRun) -> None:
    assert [c.exchange for c in run.children] == ["IKE_AUTH"] + ["CREATE_CHILD_SA"] * 3
    assert [c.ike_sa for c in run.children] == [1, 1, 1, 2]
    assert [c.pfs_group for c in run.children] == [None, None, "CURVE25519", None]
    assert [i.number for i in run.ike_sas] == [1, 2]
    assert all(len(c.keymat) == 2 * (16 + 32) for c in run.children)  # AES-128 + HMAC-SHA2-256 keys, twice
    assert run.ike_sas[0].prf == "PRF_HMAC_SHA2_256"


def test_skeyseed_and_first_child_match_an_independent_prf(run: figures_pfs.PfsRun) -> None:
    kd = run.lab.events("initiator", ev.KeysDerived)[0]
    assert hmac.new(kd.ni + kd.nr, kd.g_ir, hashlib.sha256).digest() == kd.skeyseed
    first = run.children[0]
    assert prf_plus(kd.sk_d, kd.ni + kd.nr, len(first.keymat)) == first.keymat  # IKE_AUTH: no DH of its own


def test_leak_of_the_first_ike_sa(run: figures_pfs.PfsRun) -> None:
    outcomes = figures_pfs.attack(run, 1)
    assert [o.falls for o in outcomes] == [True, True, False, False]
    kd = run.lab.events("initiator", ev.KeysDerived)[0]
    assert outcomes[0].nonces == (kd.ni, kd.nr)  # read in the clear from IKE_SA_INIT
    sk_d = run.ike_sas[0].sk_d
    for o in outcomes[:3]:
        independent = prf_plus(sk_d, o.nonces[0] + o.nonces[1], len(o.child.keymat))
        assert o.keymat == independent
        assert (independent == o.child.keymat) is o.falls
    assert outcomes[2].saw_ke and not outcomes[1].saw_ke
    assert outcomes[3].nonces is None and "fresh g^ir" in outcomes[3].reason


def test_leak_of_the_second_ike_sa(run: figures_pfs.PfsRun) -> None:
    outcomes = figures_pfs.attack(run, 2)
    assert [o.falls for o in outcomes] == [False, False, False, True]
    last = outcomes[3]
    assert prf_plus(run.ike_sas[1].sk_d, last.nonces[0] + last.nonces[1], 96) == last.child.keymat
    assert "one-way" in outcomes[0].reason


@pytest.mark.parametrize("pfs, fallen", [((False, False, False), [1, 2, 3]), ((True, True, True), [1]),
                                         ((True, False, True), [1, 3])])
def test_which_fall_depends_only_on_pfs_and_the_ike_sa(pfs: tuple, fallen: list) -> None:
    outcomes = figures_pfs.attack(figures_pfs.pfs_run(pfs, seed="other"), 1)
    assert [o.child.number for o in outcomes if o.falls] == fallen


def test_bad_inputs(run: figures_pfs.PfsRun) -> None:
    with pytest.raises(ConfigError):
        figures_pfs.attack(run, 3)
    with pytest.raises(ConfigError):
        figures_pfs.pfs_run((True,))
    for bad_pfs in (True, "yes", None):  # one flag for all three rekeys is a likely slip
        with pytest.raises(ConfigError, match="pfs needs one flag .* for each of the 3 CHILD SA rekeys"):
            figures_pfs.pfs_run(bad_pfs)
    with pytest.raises(ConfigError, match="leaked must name an IKE SA, 1..2, not '1'"):
        figures_pfs.attack(run, "1")
    with pytest.raises(ConfigError, match="attack\\(\\) takes what pfs_run\\(\\) returns"):
        figures_pfs.attack(run.lab, 1)


def test_table_and_figure(run: figures_pfs.PfsRun) -> None:
    one, two = figures_pfs.attack(run, 1), figures_pfs.attack(run, 2)
    table = figures_pfs.format_outcomes(one)
    assert table.count("FALLS") == 2 and table.count("safe") == 2
    fig = figures_pfs.outcome_figure([("leak 1", one), ("leak 2", two)], run=run)
    assert fig.ikelab_alt == "Figure: leak 1: CHILD SAs 1, 2 fall; leak 2: CHILD SA 4 falls"
