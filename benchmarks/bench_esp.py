"""ESP throughput next to the raw ``cryptography`` calls on the same bytes (figures only, no assertions).

For each suite and packet size the script times one round of
``EspSa.encapsulate`` + ``EspSa.decapsulate`` (with padding, replay window,
counters and ICV check) and the bare primitive work on the same plaintext:

* AES-GCM-16-128 (RFC 4106): ``AESGCM.encrypt`` then ``AESGCM.decrypt`` with the 8-byte AAD;
* AES-CBC-128 + HMAC-SHA2-256-128 (RFC 3602, RFC 4868): CBC encrypt + HMAC, then HMAC compare + CBC decrypt.

The ratio ikelab/raw is the price of the teaching code; the aim is at most
4x for 1400-byte AES-GCM.  Run: ``python benchmarks/bench_esp.py [seconds]``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import sys
import time
from pathlib import Path
from typing import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout's ikelab

from ikelab.esp import EspSa, esp_padding
from ikelab.rand import DeterministicRandom


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds`` (best of three runs)."""
    n = 1
    while True:  # calibrate
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed > seconds / 10:
            break
        n *= 2
    runs = max(1, int(n * (seconds / 3) / max(elapsed, 1e-9)))
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(runs):
            fn()
        best = max(best, runs / (time.perf_counter() - start))
    return best


def gcm_case(size: int) -> tuple[Callable[[], object], Callable[[], object]]:
    keymat = os.urandom(20)
    out = EspSa(0x1001, direction="outbound", encryption="ENCR_AES_GCM_16", encryption_key=keymat,
                tunnel=("192.0.2.1", "192.0.2.2"))
    inn = EspSa(0x1001, direction="inbound", encryption="ENCR_AES_GCM_16", encryption_key=keymat, replay_window=0)
    payload = os.urandom(size)

    def ikelab_round() -> object:
        return inn.decapsulate(out.encapsulate(payload, 4))

    aead = AESGCM(keymat[:16])
    salt = keymat[16:]
    plaintext = payload + esp_padding(size, 1) + b"\x00\x04"
    aad = bytes(8)
    nonce = salt + bytes(8)

    def raw_round() -> object:
        return aead.decrypt(nonce, aead.encrypt(nonce, plaintext, aad), aad)

    return ikelab_round, raw_round


def cbc_case(size: int) -> tuple[Callable[[], object], Callable[[], object]]:
    ek, ak = os.urandom(16), os.urandom(32)
    out = EspSa(0x2002, direction="outbound", encryption="ENCR_AES_CBC", encryption_key=ek,
                integrity="AUTH_HMAC_SHA2_256_128", integrity_key=ak, tunnel=("192.0.2.1", "192.0.2.2"),
                rng=DeterministicRandom(1))
    inn = EspSa(0x2002, direction="inbound", encryption="ENCR_AES_CBC", encryption_key=ek,
                integrity="AUTH_HMAC_SHA2_256_128", integrity_key=ak, replay_window=0)
    payload = os.urandom(size)

    def ikelab_round() -> object:
        return inn.decapsulate(out.encapsulate(payload, 4))

    plaintext = payload + esp_padding(size, 16) + b"\x00\x04"
    iv = os.urandom(16)
    header = bytes(8)

    def raw_round() -> object:
        enc = Cipher(algorithms.AES(ek), modes.CBC(iv)).encryptor()
        body = header + iv + enc.update(plaintext) + enc.finalize()
        icv = hmac.new(ak, body, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(icv, hmac.new(ak, body, hashlib.sha256).digest()[:16]):
            raise AssertionError
        dec = Cipher(algorithms.AES(ek), modes.CBC(iv)).decryptor()
        return dec.update(body[24:]) + dec.finalize()

    return ikelab_round, raw_round


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seconds", nargs="?", type=float, default=1.0, help="time per measurement (default 1)")
    seconds = parser.parse_args(argv).seconds
    print(f"{'suite':34} {'bytes':>6} {'ikelab rounds/s':>16} {'raw rounds/s':>14} {'ratio':>7}")
    for name, case in (("AES-GCM-16-128", gcm_case), ("AES-CBC-128 + HMAC-SHA2-256-128", cbc_case)):
        for size in (64, 1400):
            ours, raw = case(size)
            r_ours, r_raw = rate(ours, seconds), rate(raw, seconds)
            print(f"{name:34} {size:>6} {r_ours:>16,.0f} {r_raw:>14,.0f} {r_raw / r_ours:>6.2f}x")


if __name__ == "__main__":
    main()
