"""Benchmark: ikelab's cryptographic building blocks against the raw primitives.

Run ``python benchmarks/bench_crypto.py`` (under 10 s; ``--help`` for options).
It prints figures only and asserts nothing.

Diffie-Hellman (``bench_dh``): for each group, the time of a key pair (private
value plus KE data) and of a shared secret (validation included) in ikelab,
next to the same operation done directly, and the ratio ikelab / direct:

* MODP 14, 15, 16 (and 18 timed once; 17 with ``--full``): Python's ``pow``
  with an exponent of the same size, ``gmpy2.powmod`` if gmpy2 is installed,
  and cryptography's deprecated finite-field ``dh`` module while it still
  imports.  Note that OpenSSL picks shorter exponents (about twice the NIST
  strength: 225 bits for MODP_2048) than ikelab (twice RFC 3526's higher
  estimate: 320 bits), which accounts for part of that ratio.
* ECP 19, 20, 21 and Curve25519/Curve448: cryptography called directly.

prf+ (``bench_prf``): bytes per second of prf+ for the HMAC and AES-XCBC PRFs,
next to cryptography's ``HKDFExpand`` (the same construction for HMAC).

Key schedule and AUTH (``bench_derive``): the calls one IKE SA makes with
PRF_HMAC_SHA2_256 (SKEYSEED, SK_*, KEYMAT, signed octets, the PSK AUTH), each
next to the HMAC or HKDF-Expand work it contains, and the overhead between.

Constant-time MODP (``bench_powmod_sec``, with gmpy2): ``gmpy2.powmod_sec``
(GMP's ``mpz_powm_sec``) against what ikelab uses now, for g^x and y_peer^x.
"""

from __future__ import annotations

import argparse
import platform
import secrets
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, NamedTuple

import cryptography
from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout's ikelab

from ikelab import dh
from ikelab.rand import SystemRandom

try:
    import gmpy2
except ImportError:  # pragma: no cover - optional
    gmpy2 = None


def _openssl_dh() -> Any:
    """cryptography's finite-field DH module, or None once it is removed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it is deprecated: silence that while importing
        try:
            from cryptography.hazmat.primitives.asymmetric import dh as ossl_dh
        except ImportError:
            return None
    return ossl_dh


class Row(NamedTuple):
    group: str
    operation: str
    ikelab: float  # seconds per call
    reference: str
    direct: float | None  # seconds per call, None when not available


def per_call(fn: Callable[[], object], min_time: float) -> float:
    """Seconds per call of ``fn``: repeat until ``min_time`` has elapsed (at least once)."""
    calls = 0
    start = time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / calls


def bench_modp(group: dh.ModpGroup, min_time: float) -> list[Row]:
    rng = SystemRandom()
    p, e, name = group.p, group.exponent_bits, group.name
    peer = group.generate(rng)
    mine = group.generate(rng)
    peer_bytes = peer.public_bytes()
    x = mine.x
    y_peer = peer.y

    ike_keypair = per_call(lambda: group.generate(rng).public_bytes(), min_time)
    ike_shared = per_call(lambda: mine.exchange(peer_bytes), min_time)
    rows = [
        Row(name, "key pair", ike_keypair, "pow", per_call(lambda: pow(2, secrets.randbits(e), p), min_time)),
        Row(name, "shared secret", ike_shared, "pow", per_call(lambda: pow(y_peer, x, p), min_time)),
    ]
    if gmpy2 is not None:
        rows += [
            Row(name, "key pair", ike_keypair, "gmpy2.powmod",
                per_call(lambda: gmpy2.powmod(2, secrets.randbits(e), p), min_time)),
            Row(name, "shared secret", ike_shared, "gmpy2.powmod",
                per_call(lambda: gmpy2.powmod(y_peer, x, p), min_time)),
        ]
    ossl_dh = _openssl_dh()
    if ossl_dh is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params = ossl_dh.DHParameterNumbers(p, group.g).parameters()
            ossl_mine = params.generate_private_key()
            ossl_peer = params.generate_private_key().public_key()
            rows += [
                Row(name, "key pair", ike_keypair, "cryptography dh (deprecated)",
                    per_call(lambda: params.generate_private_key().public_key(), min_time)),
                Row(name, "shared secret", ike_shared, "cryptography dh (deprecated)",
                    per_call(lambda: ossl_mine.exchange(ossl_peer), min_time)),
            ]
    return rows


def bench_ecp(group: dh.EcpGroup, min_time: float) -> list[Row]:
    rng = SystemRandom()
    curve = group.curve()
    mine, peer = group.generate(rng), group.generate(rng)
    peer_bytes = peer.public_bytes()
    direct_mine = ec.generate_private_key(curve)
    direct_peer = ec.generate_private_key(curve).public_key()

    def direct_keypair() -> bytes:
        key = ec.generate_private_key(curve)
        return key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)

    return [
        Row(group.name, "key pair", per_call(lambda: group.generate(rng).public_bytes(), min_time),
            "cryptography ec", per_call(direct_keypair, min_time)),
        Row(group.name, "shared secret", per_call(lambda: mine.exchange(peer_bytes), min_time),
            "cryptography ec", per_call(lambda: direct_mine.exchange(ec.ECDH(), direct_peer), min_time)),
    ]


def bench_montgomery(group: dh.MontgomeryGroup, min_time: float) -> list[Row]:
    rng = SystemRandom()
    module: Any = x25519 if group.key_len == 32 else x448
    private_cls = module.X25519PrivateKey if group.key_len == 32 else module.X448PrivateKey
    mine, peer = group.generate(rng), group.generate(rng)
    peer_bytes = peer.public_bytes()
    direct_mine = private_cls.generate()
    direct_peer = private_cls.generate().public_key()
    reference = f"cryptography {module.__name__.rsplit('.', 1)[-1]}"
    return [
        Row(group.name, "key pair", per_call(lambda: group.generate(rng).public_bytes(), min_time),
            reference, per_call(lambda: private_cls.generate().public_key().public_bytes_raw(), min_time)),
        Row(group.name, "shared secret", per_call(lambda: mine.exchange(peer_bytes), min_time),
            reference, per_call(lambda: direct_mine.exchange(direct_peer), min_time)),
    ]


def bench_dh(group_ids: list[int], min_time: float, once: set[int]) -> list[Row]:
    """Time every group in ``group_ids``; groups in ``once`` are timed with a single call."""
    rows: list[Row] = []
    for gid in group_ids:
        group = dh.group(gid, allow_weak=True) if gid in (1, 2, 5) else dh.group(gid)
        budget = 0.0 if gid in once else min_time
        if isinstance(group, dh.ModpGroup):
            rows += bench_modp(group, budget)
        elif isinstance(group, dh.EcpGroup):
            rows += bench_ecp(group, budget)
        else:
            rows += bench_montgomery(group, budget)  # type: ignore[arg-type]
    return rows


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:9.3f} ms"


def print_rows(rows: list[Row], once: set[str]) -> None:
    print(f"{'group':<11} {'operation':<14} {'ikelab':>12}  {'direct (reference)':<51} {'ikelab/direct':>13}")
    for row in rows:
        ratio = "-" if not row.direct else f"{row.ikelab / row.direct:12.2f}x"
        mark = " (1 run)" if row.group in once else ""
        print(f"{row.group:<11} {row.operation:<14} {_ms(row.ikelab)}  "
              f"{_ms(row.direct)} {row.reference + mark:<38} {ratio:>13}")


def bench_prf(min_time: float) -> None:
    """prf+ (RFC 7296 2.13) throughput next to cryptography's HKDF-Expand, the same construction."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

    from ikelab import prf

    print("\nprf+ throughput: prf+(K, S, L) with a 32-byte key, a 80-byte seed (Ni | Nr | SPIi | SPIr)")
    print(f"{'PRF':<20} {'L bytes':>8} {'ikelab':>14} {'HKDFExpand':>14} {'ikelab/direct':>14}")
    key, seed = secrets.token_bytes(32), secrets.token_bytes(80)
    hashes_for = {"PRF_HMAC_SHA2_256": hashes.SHA256, "PRF_HMAC_SHA2_384": hashes.SHA384,
                  "PRF_HMAC_SHA2_512": hashes.SHA512}
    for name in ("PRF_HMAC_SHA2_256", "PRF_HMAC_SHA2_384", "PRF_HMAC_SHA2_512", "PRF_AES128_XCBC"):
        for length in (192, 4080):  # 4080 = 255 blocks of 16, the most prf+ gives with a 16-byte PRF
            ours = per_call(lambda: prf.prf_plus(name, key, seed, length), min_time)
            direct = None
            if name in hashes_for:
                algo = hashes_for[name]
                direct = per_call(lambda: HKDFExpand(algo(), length, seed).derive(key), min_time)
            rate = f"{length / ours / 1e6:8.2f} MB/s"
            ref = "-" if direct is None else f"{length / direct / 1e6:8.2f} MB/s"
            ratio = "-" if direct is None else f"{ours / direct:12.2f}x"
            print(f"{name:<20} {length:>8} {rate:>14} {ref:>14} {ratio:>14}")


def _hmac_sha256(key: bytes, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes, hmac

    h = hmac.HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()


def bench_derive(min_time: float) -> None:
    """The engine's key-schedule and AUTH calls next to the HMAC / HKDF work inside them."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

    from ikelab import auth, keys
    from ikelab.constants import EncrId, PrfId

    sha256 = PrfId.PRF_HMAC_SHA2_256
    ni, nr, g_ir, sk = (secrets.token_bytes(32) for _ in range(4))
    spi_i, spi_r = secrets.token_bytes(8), secrets.token_bytes(8)
    message, body, psk = secrets.token_bytes(200), b"\x02\x00\x00\x00moon.example", b"a decent pre-shared key"
    octets = auth.signed_octets(message, nr, sha256, sk, body)
    mac = auth.psk_auth(sha256, psk, octets)

    def hkdf(length: int) -> Callable[[], bytes]:
        return lambda: HKDFExpand(hashes.SHA256(), length, ni + nr + spi_i + spi_r).derive(sk)

    def hmacs(*pairs: tuple[bytes, bytes]) -> Callable[[], None]:
        return lambda: [_hmac_sha256(k, d) for k, d in pairs] and None

    cases = [
        ("skeyseed", lambda: keys.skeyseed(sha256, ni, nr, g_ir), "cryptography HMAC", hmacs((ni + nr, g_ir))),
        ("ike_sa_keys (AES-GCM-256)",
         lambda: keys.ike_sa_keys(sha256, sk, ni, nr, spi_i, spi_r, encr=EncrId.ENCR_AES_GCM_16, encr_key_bits=256),
         "HKDFExpand 192 B", hkdf(192)),
        ("child_sa_keys (AES-GCM-256)",
         lambda: keys.child_sa_keys(sha256, sk, ni, nr, encr=EncrId.ENCR_AES_GCM_16, encr_key_bits=256),
         "HKDFExpand 96 B", hkdf(96)),
        ("signed_octets", lambda: auth.signed_octets(message, nr, sha256, sk, body), "cryptography HMAC", hmacs((sk, body))),
        ("psk_auth", lambda: auth.psk_auth(sha256, psk, octets), "2 cryptography HMACs",
         hmacs((psk, auth.KEY_PAD), (sk, octets.octets))),
        ("verify_psk", lambda: auth.verify_psk(sha256, psk, octets, mac), "2 cryptography HMACs",
         hmacs((psk, auth.KEY_PAD), (sk, octets.octets))),
    ]
    print("\nkey schedule and AUTH with PRF_HMAC_SHA2_256 (per call)")
    print(f"{'call':<28} {'ikelab':>10}  {'the same work done directly':<28} {'direct':>10} {'difference':>10}")
    for name, ours_fn, label, direct_fn in cases:
        # the best of three short runs: these calls take microseconds, so noise matters
        ours = min(per_call(ours_fn, min_time / 3) for _ in range(3))
        direct = min(per_call(direct_fn, min_time / 3) for _ in range(3))
        print(f"{name:<28} {ours * 1e6:7.2f} us  {label:<28} {direct * 1e6:7.2f} us {(ours - direct) * 1e6:7.2f} us")


def bench_powmod_sec(min_time: float) -> None:
    """gmpy2.powmod_sec (constant time) against ikelab's MODP_2048 arithmetic: figures only."""
    if gmpy2 is None:
        return
    group = dh.group(14)
    p, e = group.p, group.exponent_bits
    x = 2 + secrets.randbelow((1 << e) - 2)
    y_peer = group.generate(SystemRandom()).y
    table = dh._fixed_base(group.g, p, e)
    rows = [
        ("g^x", "fixed-base table (ikelab)", lambda: table.pow(x)),
        ("g^x", "gmpy2.powmod", lambda: gmpy2.powmod(group.g, x, p)),
        ("g^x", "gmpy2.powmod_sec", lambda: gmpy2.powmod_sec(group.g, x, p)),
        ("y_peer^x", "gmpy2.powmod (ikelab)", lambda: gmpy2.powmod(y_peer, x, p)),
        ("y_peer^x", "gmpy2.powmod_sec", lambda: gmpy2.powmod_sec(y_peer, x, p)),
    ]
    print(f"\nMODP_2048 with a {e}-bit exponent: constant-time powmod_sec against ikelab's arithmetic")
    for operation, how, fn in rows:
        print(f"{operation:<9} {how:<28} {_ms(per_call(fn, min_time))}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-time", type=float, default=0.15,
                        help="seconds to repeat each measurement (default 0.15)")
    parser.add_argument("--groups", default="14,15,16,18,19,20,21,31,32",
                        help="comma-separated group IDs (default: 14,15,16,18,19,20,21,31,32)")
    parser.add_argument("--full", action="store_true",
                        help="add MODP_6144 and time MODP_8192 as long as the others")
    args = parser.parse_args(argv)
    group_ids = [int(part) for part in args.groups.split(",") if part.strip()]
    if args.full and 17 not in group_ids:
        group_ids.insert(group_ids.index(18) if 18 in group_ids else len(group_ids), 17)
    once = set() if args.full else {18}

    print(f"Python {platform.python_version()}, cryptography {cryptography.__version__}, "
          f"gmpy2 {gmpy2.version() if gmpy2 is not None else 'absent'}; "
          f"ikelab MODP arithmetic: {dh.MODP_BACKEND}")
    print("Diffie-Hellman: key pair = private value + KE data; shared secret = validate peer + g^ir\n")
    rows = bench_dh(group_ids, args.min_time, once)
    print_rows(rows, {dh.group(gid).name for gid in once if gid in group_ids})
    bench_prf(args.min_time)
    bench_derive(args.min_time)
    bench_powmod_sec(args.min_time)
    return 0


if __name__ == "__main__":
    sys.exit(main())
