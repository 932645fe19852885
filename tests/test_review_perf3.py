"""What the allocation round of 2026-12-01 (night) must not change (docs/performance.md).

Each shortcut is compared with the written-out path it replaces: the same values, for every size the
engine can meet.
"""

from __future__ import annotations

import pytest

from ikelab import keys
from ikelab.constants import PrfId
from ikelab.prf import prf_plus_blocks

NI, NR = bytes(range(32)), bytes(range(100, 132))
SPI_I, SPI_R = bytes.fromhex("0102030405060708"), bytes.fromhex("1112131415161718")
PRFS = [p.name for p in PrfId if p.name != "PRF_HMAC_TIGER"]  # every PRF ikelab implements


def _sliced(stream: bytes, size: int) -> tuple[bytes, ...]:
    """The blocks as the key schedule cut them before: a comprehension of slices."""
    return tuple([stream[i : i + size] for i in range(0, len(stream), size)])


# ------------------------------------------------------------------ prf+ blocks cut by struct


@pytest.mark.parametrize("size", [16, 20, 32, 48, 64])
def test_blocks_are_the_slices(size: int) -> None:
    """Every block count up to prf+'s 255, so the table of layouts (64 entries) is also emptied and refilled."""
    stream = bytes(i % 251 for i in range(255 * size))
    for count in list(range(0, 80)) + [254, 255]:
        part = stream[: count * size]
        got = keys._blocks(part, size)
        assert got == _sliced(part, size)
        assert got.__class__ is tuple and all(b.__class__ is bytes for b in got)


@pytest.mark.filterwarnings("ignore::ikelab.errors.WeakAlgorithmWarning")  # HMAC-MD5 and -SHA1 are in the test
@pytest.mark.parametrize("alg", PRFS)
def test_key_schedules_keep_prf_plus_blocks(alg: str) -> None:
    """IKE SA and CHILD SA key schedules hold T1..Tn as prf_plus_blocks (the loop of RFC 7296 2.13) makes them."""
    out = keys.get_prf(alg, allow_weak=True).output_len
    sk = bytes(range(out))
    for encr_len, integ_len in ((0, 0), (1, 3), (16, 32), (32, 64), (100, 20)):
        ike = keys.ike_sa_keys_from_lengths(alg, sk, NI, NR, SPI_I, SPI_R, encr_len=encr_len, integ_len=integ_len,
                                            allow_weak=True)
        total = 3 * out + 2 * integ_len + 2 * encr_len
        assert ike.blocks == tuple(prf_plus_blocks(alg, sk, NI + NR + SPI_I + SPI_R, total, allow_weak=True))
        child = keys.child_sa_keys_from_lengths(alg, sk, NI, NR, encr_len=encr_len, integ_len=integ_len,
                                                allow_weak=True)
        total = 2 * (encr_len + integ_len)
        assert child.blocks == tuple(prf_plus_blocks(alg, sk, NI + NR, total, allow_weak=True))
