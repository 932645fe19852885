"""Review of lessons 02 (Diffie-Hellman), 03 (PFS) and 04 (prf+): the numbers a student relies on, recomputed.

Each test computes a value the lesson prints or states with plain Python (``pow``, ``hmac``, ``hashlib``, a
pure-Python X25519 after RFC 7748) and compares it with ikelab and with the notebook's stored output or prose,
so that a wrong library value, a wrong formula and stale prose all fail here.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from pathlib import Path

import nbformat
import pytest

from ikelab import dh, exercises, figures, figures_pfs, keys, prf
from ikelab.errors import InvalidPublicValueError
from ikelab.exercises import ExerciseFailed
from ikelab.rand import DeterministicRandom
from ikelab.schedule import worked_schedule
from reference import named_prf, prf_plus

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _cells(lesson: str) -> dict[str, nbformat.NotebookNode]:
    nb = nbformat.read(NOTEBOOKS / f"{lesson}.ipynb", as_version=4)
    return {c.id: c for c in nb.cells}


def _text(cell: nbformat.NotebookNode) -> str:
    """A code cell's printed output (streams and text/plain)."""
    out = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            out.append(o.text)
        elif "data" in o:
            out.append(o.data.get("text/plain", ""))
    return "".join(out)


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, math.isqrt(n) + 1))


def _order(g: int, p: int) -> int:
    k, v = 1, g % p
    while v != 1:
        v, k = v * g % p, k + 1
    return k


def _prime_factors(n: int) -> set[int]:
    out, d = set(), 2
    while d * d <= n:
        while n % d == 0:
            out.add(d)
            n //= d
        d += 1
    return out | ({n} if n > 1 else set())


def _is_primitive_root(g: int, p: int) -> bool:
    return all(pow(g, (p - 1) // q, p) != 1 for q in _prime_factors(p - 1))


def _smallest_primitive_root(p: int) -> int:
    return next(g for g in range(2, p) if _is_primitive_root(g, p))


# --- Lesson 02: Diffie-Hellman ------------------------------------------------------------------------------


def test_l02_hand_calculation_and_square_and_multiply_steps():
    assert pow(5, 2, 23) == 2 and pow(5, 4, 23) == 4 and pow(5, 6, 23) == 8  # the prose's three steps
    y_a, y_b = pow(5, 6, 23), pow(5, 15, 23)
    k = pow(y_b, 6, 23)
    assert (y_a, y_b, k) == (8, 19, 2) and pow(y_a, 15, 23) == k
    cells = _cells("02-diffie-hellman")
    assert _text(cells["l02-hand-pow"]).splitlines() == [
        f"Y_A = 5^6 mod 23 = {y_a}", f"Y_B = 5^15 mod 23 = {y_b}",
        f"Alice: k = Y_B^X_A mod p = {k}", f"Bob:   k = Y_A^X_B mod p = {k}"]
    assert "so $Y_A = 8$" in cells["l02-hand"].source
    toy = dh.ToyGroup(23, 5)
    alice, bob = toy.from_private_value(6), toy.from_private_value(15)
    assert (alice.public_value, bob.public_value) == (y_a, y_b)
    assert alice.exchange(bob.public_bytes()) == bytes([k]) == bob.exchange(alice.public_bytes())


def test_l02_toy_group_is_flagged_before_its_first_use():
    source = _cells("02-diffie-hellman")["l02-hand"].source
    assert "pencil and paper only" in source
    steps = int(re.search(r"section 4 does it in (\d+) steps", source).group(1))
    assert steps == next(x for x in range(23) if pow(5, x, 23) == 8) + 1 == dh.brute_force_dlog(5, 8, 23).steps


def test_l02_p_minus_1_confines_the_secret_and_is_refused():
    assert {pow(22, x, 23) for x in range(1, 22)} == {1, 22}
    cells = _cells("02-diffie-hellman")
    assert "[1, 22]" in _text(cells["l02-check-code"])
    assert "raises-exception" in cells["l02-check-code"].metadata["tags"]
    alice = dh.ToyGroup(23, 5).from_private_value(6)
    for bad in (0, 1, 22):
        with pytest.raises(InvalidPublicValueError):
            alice.exchange(bytes([bad]))


def test_l02_primitive_roots_and_the_order_of_2():
    assert _smallest_primitive_root(23) == 5 and _order(5, 23) == 22 and _order(2, 23) == 11
    assert len({pow(2, x, 23) for x in range(22)}) == 11  # "only 11 of the 22 values"
    assert figures.powers_of(2, 23) == [pow(2, x, 23) for x in range(22)]
    out = _text(_cells("02-diffie-hellman")["l02-roots-code"])
    assert "order 22 of 22" in out and "order 11 of 22" in out and "smallest primitive root of 23: 5" in out


def test_l02_modp_2048_g_generates_the_subgroup_of_order_q():
    grp = dh.group("MODP_2048")
    q = (grp.p - 1) // 2
    assert pow(2, q, grp.p) == 1 and grp.p % 8 == 7  # 2 is a square mod p, so its order is q, not 2q


def test_l02_dlog_cost_table_uses_the_stated_primes_roots_and_counts():
    rows = figures.dlog_cost()
    for r in rows:
        assert _is_prime(r.p) and not any(_is_prime(n) for n in range(r.p + 1, 1 << r.bits))
        assert r.g == _smallest_primitive_root(r.p)
        assert r.steps == r.x + 1 and r.worst == r.p - 1
    out = _text(_cells("02-diffie-hellman")["l02-cost-table"])
    for r in rows:
        assert re.search(rf"^\s*{r.bits}\s+{r.p}\s+{r.g}\s+{r.x}\s+{r.steps}\s+{r.worst}$", out, re.M)


def test_l02_static_table_rows_recomputed_with_pow():
    out = _text(_cells("02-diffie-hellman")["l02-static"]).splitlines()[2:]
    assert len(out) == 5
    for line in out:
        p, g, xa, xb, ya, yb, k, prim, order, steps = line.split()
        p, g, xa, xb = int(p), int(g), int(xa), int(xb)
        assert int(ya) == pow(g, xa, p) and int(yb) == pow(g, xb, p)
        assert int(k) == pow(pow(g, xb, p), xa, p) == pow(pow(g, xa, p), xb, p)
        assert int(order) == _order(g, p) and (prim == "yes") == _is_primitive_root(g, p)
        assert int(steps) == next(x for x in range(p) if pow(g, x, p) == int(ya)) + 1


def test_l02_groups_table_sizes_and_rfc_3526_strengths():
    strength_1 = {5: 90, 14: 110, 15: 130, 16: 150, 17: 170, 18: 190}  # RFC 3526 section 8, estimate 1
    for g in dh.groups():
        if g.kind == "MODP":
            assert g.public_len == -(-g.bits // 8)
            assert g.strength == strength_1.get(g.id, g.strength)
        elif g.kind == "ECP":
            assert g.public_len == 2 * -(-g.bits // 8)  # x | y, no 0x04 (RFC 5903 section 7)
    assert {g.id for g in dh.groups() if g.weak} == {1, 2, 5}


def test_l02_modp_seed_gives_a_padded_g_ir_as_the_prose_says():
    modp = dh.group("MODP_2048")
    rng = DeterministicRandom(204)
    a, b = modp.generate(rng.fork("alice")), modp.generate(rng.fork("bob"))
    y_b = int.from_bytes(b.public_bytes(), "big")
    assert y_b == pow(2, b.x, modp.p)
    shared = pow(y_b, a.x, modp.p)
    g_ir = a.exchange(b.public_bytes())
    assert g_ir == shared.to_bytes(256, "big") and g_ir[0] == 0 and (shared.bit_length() + 7) // 8 == 255
    assert f"{shared.bit_length()} bits: 255 bytes unpadded" in _text(_cells("02-diffie-hellman")["l02-modp"])


def _x25519(k: bytes, u: bytes) -> bytes:
    """RFC 7748 section 5, the Montgomery ladder in plain Python."""
    p, a24 = 2**255 - 19, 121665
    n = int.from_bytes(k, "little")
    n = (n & ~7 & ~(1 << 255)) | (1 << 254)
    x1 = int.from_bytes(u, "little") & ((1 << 255) - 1)
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in reversed(range(255)):
        bit = (n >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b = (x2 + z2) % p, (x2 - z2) % p
        aa, bb = a * a % p, b * b % p
        e = (aa - bb) % p
        c, d = (x3 + z3) % p, (x3 - z3) % p
        da, cb = d * a % p, c * b % p
        x3, z3 = (da + cb) ** 2 % p, x1 * (da - cb) ** 2 % p
        x2, z2 = aa * bb % p, e * (aa + a24 * e) % p
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, p - 2, p) % p).to_bytes(32, "little")


def test_l02_x25519_values_match_rfc_7748_computed_by_hand():
    # the RFC 7748 section 5.2 vector first, so that the ladder itself is right
    assert _x25519(bytes.fromhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
                   bytes.fromhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")).hex() == \
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
    grp = dh.group("CURVE25519")
    rng = DeterministicRandom("lesson02-x25519")
    a, b = grp.generate(rng.fork("alice")), grp.generate(rng.fork("bob"))
    base = (9).to_bytes(32, "little")
    assert a.public_bytes() == _x25519(a.private, base) and b.public_bytes() == _x25519(b.private, base)
    g_ir = _x25519(a.private, b.public_bytes())
    assert g_ir == a.exchange(b.public_bytes()) == _x25519(b.private, a.public_bytes())
    out = _text(_cells("02-diffie-hellman")["l02-x25519"])
    grouped = " ".join(g_ir.hex()[i:i + 8] for i in range(0, 64, 8))
    assert f"g^ir  {grouped}" in out


def test_l02_exercise_numbers_and_checks():
    assert pow(14, 9, 29) == 3 and pow(2, 9, 29) == 19
    x_b = next(x for x in range(28) if pow(2, x, 29) == 14)
    assert pow(19, x_b, 29) == 3  # "Bob gets the same number"
    exercises.check("dh.shared-secret", 3, p=29, g=2, x_a=9, y_b=14)
    for wrong in (19, 14**9, pow(9, 14, 29), 4):
        with pytest.raises(ExerciseFailed):
            exercises.check("dh.shared-secret", wrong, p=29, g=2, x_a=9, y_b=14)
    assert pow(2, 73, 101) == 48 and _order(2, 101) == 100
    exercises.check("dh.discrete-log", 173, p=101, g=2, y=48)
    with pytest.raises(ExerciseFailed):
        exercises.check("dh.discrete-log", 72, p=101, g=2, y=48)


# --- Lesson 03: perfect forward secrecy ---------------------------------------------------------------------




@pytest.fixture(scope="module")
def pfs_runs():
    run = figures_pfs.pfs_run(pfs=(False, True, False))
    return run, figures_pfs.attack(run, 1), figures_pfs.attack(run, 2)


def test_l03_keymat_without_pfs_is_prf_plus_of_sk_d_and_the_nonces(pfs_runs):
    run, leak_1, leak_2 = pfs_runs
    assert all(prf.get_prf(ike.prf).name == "PRF_HMAC_SHA2_256" for ike in run.ike_sas)  # what the HMAC below uses
    for outcome, sk_d in ((leak_1[0], run.ike_sas[0].sk_d), (leak_1[1], run.ike_sas[0].sk_d),
                          (leak_2[3], run.ike_sas[1].sk_d)):
        ni, nr = outcome.nonces
        assert outcome.falls and len(outcome.child.keymat) == 16 + 32 + 16 + 32
        assert prf_plus(sk_d, ni + nr, 96) == outcome.child.keymat
    ni, nr = leak_1[2].nonces  # CHILD SA 3, with PFS: the guess without g^ir (new) is wrong
    assert leak_1[2].saw_ke and prf_plus(run.ike_sas[0].sk_d, ni + nr, 96) != leak_1[2].child.keymat


def test_l03_which_fall_matches_the_stated_rule(pfs_runs):
    run, leak_1, leak_2 = pfs_runs
    for leaked, outcomes in ((1, leak_1), (2, leak_2)):
        rule = {c.number for c in run.children if c.ike_sa == leaked and c.pfs_group is None}
        assert {o.child.number for o in outcomes if o.falls} == rule
    assert {o.child.number for o in leak_1 if o.falls} == {1, 2}
    assert {o.child.number for o in leak_2 if o.falls} == {4}
    cells = _cells("03-perfect-forward-secrecy")
    assert "CHILD SAs 1, 2 fall" in _text(cells["l03-static"]) and "CHILD SA 4 falls" in _text(cells["l03-static"])
    run_b = figures_pfs.pfs_run(pfs=(True, False, False))
    exercises.check("pfs.which-fall", {1, 3}, run=run_b, leaked=1)
    for wrong in ({1}, {1, 2, 3}, {1, 3, 4}):
        with pytest.raises(ExerciseFailed):
            exercises.check("pfs.which-fall", wrong, run=run_b, leaked=1)


def test_l03_pfs_adds_a_ke_payload_and_a_dh_transform_to_each_message(pfs_runs):
    run = pfs_runs[0]
    rows = [line.split() for line in run.lab.trace.format().splitlines()[1:]]
    length = {int(r[0]): int(r[5]) for r in rows}
    ke_payload = 4 + 2 + 2 + 32  # generic header, DH group, reserved, the Curve25519 u-coordinate
    transform = 8
    assert length[9] - length[5] == length[10] - length[6] == ke_payload + transform


def test_l03_prose_keeps_long_term_keys_and_ike_sa_state_apart():
    cells = _cells("03-perfect-forward-secrecy")
    assert "a stolen\nlong-term key opens none of them, PFS or not" in cells["l03-theory"].source
    assert "cannot be\nrun backwards" in cells["l03-leak-2"].source


def test_l03_exercise_keymat_check_rejects_slips(pfs_runs):
    run, _, leak_2 = pfs_runs
    ni, nr = leak_2[3].nonces
    sk_d = run.ike_sas[1].sk_d
    given = dict(prf_alg="PRF_HMAC_SHA2_256", sk_d=sk_d, ni=ni, nr=nr, length=96, other_sk_d=run.ike_sas[0].sk_d)
    exercises.check("pfs.keymat", prf_plus(sk_d, ni + nr, 96), **given)
    for wrong in (prf_plus(sk_d, nr + ni, 96), prf_plus(run.ike_sas[0].sk_d, ni + nr, 96),
                  prf_plus(sk_d, ni + nr, 32), prf_plus(ni + nr, sk_d, 96)):
        with pytest.raises(ExerciseFailed):
            exercises.check("pfs.keymat", wrong, **given)


# --- Lesson 04: prf+ ----------------------------------------------------------------------------------------


def test_l04_blocks_and_chain_match_hmac_by_hand():
    rng = DeterministicRandom("lesson04")
    k, s = rng.random_bytes(32), rng.random_bytes(24)
    t1 = hmac.new(k, s + b"\x01", hashlib.sha256).digest()
    t2 = hmac.new(k, t1 + s + b"\x02", hashlib.sha256).digest()
    t3 = hmac.new(k, t2 + s + b"\x03", hashlib.sha256).digest()
    assert prf.prf_plus_blocks("PRF_HMAC_SHA2_256", k, s, 70) == [t1, t2, t3]
    assert prf.prf_plus("PRF_HMAC_SHA2_256", k, s, 70) == t1 + t2 + t3[:6]
    out = _text(_cells("04-prf-plus")["l04-blocks-code"])
    for n, t in enumerate((t1, t2, t3), 1):
        assert f"T{n} = " + " ".join(t.hex()[i:i + 8] for i in range(0, 64, 8)) in out
    assert "only 6 bytes of T3" in _cells("04-prf-plus")["l04-blocks"].source and 70 - 2 * 32 == 6


def test_l04_limit_and_block_table():
    for pid in prf.supported_prfs():
        p = prf.get_prf(pid)
        assert p.max_prf_plus_len == 255 * p.output_len
        for n in (16, 32, 33, 64, 70, 128, 192, 256, 512):
            assert figures.blocks_needed(pid, n) == -(-n // p.output_len)
    out = _text(_cells("04-prf-plus")["l04-static"]).splitlines()[2:]
    for line in out:
        name, *counts = line.split()
        size = prf.get_prf(name).output_len
        assert [int(c) for c in counts] == [-(-n // size) for n in (16, 32, 33, 64, 70, 128, 192, 256, 512)]


def test_l04_prf_plus_is_hkdf_expand_written_from_rfc_5869():
    rng = DeterministicRandom("lesson04")
    k, s = rng.random_bytes(32), rng.random_bytes(24)
    for alg, h in (("PRF_HMAC_SHA1", hashlib.sha1), ("PRF_HMAC_SHA2_256", hashlib.sha256),
                   ("PRF_HMAC_SHA2_384", hashlib.sha384), ("PRF_HMAC_SHA2_512", hashlib.sha512)):
        okm, t, i = b"", b"", 1  # RFC 5869 2.3: T(0) = empty, T(i) = HMAC(PRK, T(i-1) | info | i)
        while len(okm) < 200:
            t = hmac.new(k, t + s + bytes([i]), h).digest()
            okm, i = okm + t, i + 1
        assert prf.prf_plus(alg, k, s, 200) == okm[:200]


def test_l04_skeyseed_and_the_seven_keys_by_hand():
    ws = worked_schedule(seed=2026)
    ni, nr, g_ir = ws["Ni"], ws["Nr"], ws["g^ir"]
    skeyseed = hmac.new(ni + nr, g_ir, hashlib.sha256).digest()
    assert skeyseed == ws["SKEYSEED"] == keys.skeyseed("PRF_HMAC_SHA2_256", ni, nr, g_ir)
    stream = prf_plus(skeyseed, ni + nr + ws["SPIi"] + ws["SPIr"], 192)
    sizes = [("SK_d", 32), ("SK_ai", 32), ("SK_ar", 32), ("SK_ei", 16), ("SK_er", 16), ("SK_pi", 32), ("SK_pr", 32)]
    offset = 0
    for name, size in sizes:
        assert ws[name] == stream[offset:offset + size], name
        offset += size
    assert offset == 192 == 6 * 32
    assert "= 192$ bytes, six blocks" in _cells("04-prf-plus")["l04-schedule"].source


def test_l04_exercise_1_check_rejects_the_classic_slips():
    rng = DeterministicRandom("lesson04")
    k = rng.random_bytes(32)
    seed = DeterministicRandom("lesson04-ex1").random_bytes(24)
    t1 = hmac.new(k, seed + b"\x01", hashlib.sha256).digest()
    given = dict(prf_alg="PRF_HMAC_SHA2_256", key=k, seed=seed, t1=t1)
    exercises.check("prf.t2", hmac.new(k, t1 + seed + b"\x02", hashlib.sha256).digest(), **given)
    for data in (seed + t1 + b"\x02", t1 + seed + b"\x01", t1 + seed + bytes(2), seed + b"\x02", t1 + seed + b"\x03"):
        with pytest.raises(ExerciseFailed):
            exercises.check("prf.t2", hmac.new(k, data, hashlib.sha256).digest(), **given)


def test_l04_exercise_2_suite_makes_the_salt_count():
    cells = _cells("04-prf-plus")
    assert 'prf_alg="PRF_HMAC_SHA2_512"' in cells["l04-ex2-given"].source
    total = 3 * 64 + 2 * (32 + 4)  # SK_d, SK_pi, SK_pr of SHA2-512; SK_ei, SK_er = AES-256 key + 4-byte salt
    assert total == 264 and -(-total // 64) == 5 and -(-(total - 8) // 64) == 4  # the salt changes the answer
    suite = dict(prf_alg="PRF_HMAC_SHA2_512", encr="ENCR_AES_GCM_16", key_bits=256)
    exercises.check("prf.blocks-needed", 5, **suite)
    for wrong in (4, 6, 264):
        with pytest.raises(ExerciseFailed):
            exercises.check("prf.blocks-needed", wrong, **suite)
    assert "264 bytes = 5 blocks of 64 bytes (56 bytes" in _text(cells["l04-ex2-check"])


def test_l04_prf_plus_chain_with_a_non_hmac_prf_by_hand():
    # HMAC prf+ goes through cryptography's HKDF-Expand; AES-CMAC-PRF-128 goes through ikelab's own loop, checked
    # here against tests/reference.py's prf+ over its RFC 4615 AES-CMAC-PRF-128 (5 blocks of 16, cut to 70 bytes)
    k, s = bytes(range(16)), bytes(range(100, 124))
    assert prf.prf_plus("PRF_AES128_CMAC", k, s, 70) == prf_plus(k, s, 70, named_prf("PRF_AES128_CMAC"))


def test_l04_hkdf_cell_is_not_circular():
    # prf.prf_plus with an HMAC prf is cryptography's HKDFExpand: the cell must compare with single prf calls
    source = _cells("04-prf-plus")["l04-hkdf-expand"].source
    assert "prf.prf(alg, K, t + S + bytes([n]))" in source and "HKDFExpand(" in source
    assert _text(_cells("04-prf-plus")["l04-hkdf-expand"]).count(": True") == 4
    assert "the Expand step is the same code as prf+" in _cells("04-prf-plus")["l04-hkdf-extract"].source


def test_l02_summary_does_not_blame_brute_force_for_the_sizes():
    source = _cells("02-diffie-hellman")["l02-summary"].source
    assert "number field sieve" in source and "so real groups have thousands of bits" not in source


def test_l03_exercise_1_given_cell_does_not_hand_over_the_answer(pfs_runs):
    run, _, leak_2 = pfs_runs
    source = _cells("03-perfect-forward-secrecy")["l03-ex1-given"].source
    assert "keymat" not in source.replace("# KEYMAT", "")  # the engine's KEYMAT is one attribute away otherwise
    assert "length = 16 + 32 + 16 + 32" in source and len(leak_2[3].child.keymat) == 96
