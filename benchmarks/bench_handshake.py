"""Complete IKE_SA_INIT + IKE_AUTH handshakes per second, both peers in one process.

For each suite the figure is set next to the cost of the Diffie-Hellman
operations alone (two key generations and two exchanges per handshake), done
by :mod:`ikelab.dh` and done by OpenSSL through cryptography; the last column
is the handshake's cost in units of OpenSSL's DH cost.  Then
10,000 IKE SAs with one CHILD SA each are kept in one pair of endpoints and
the memory they hold is measured with :mod:`tracemalloc`.

Figures only, no assertions::

    python benchmarks/bench_handshake.py [--seconds 2] [--sas 10000] [--breakdown] [--seeded]

The peers draw their random values from the OS, as an :class:`IkeEndpoint`
does by default; ``--seeded`` draws them from :class:`DeterministicRandom`,
as the lab and the lessons do.  That costs more for ECP groups, where OpenSSL
then computes ``d * G`` from a given ``d`` and checks the pair again, instead
of drawing ``d`` itself (see docs/performance.md).

``--breakdown`` times the parts of a Curve25519 + AES-GCM and of an ECP-256 +
AES-CBC handshake (wire format, DH, key derivation, AUTH, negotiation, the
rest of the engine).
"""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig
import time
import tracemalloc
import warnings
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout's ikelab

from ikelab import dh
from ikelab.config import IkeConfig
from ikelab.endpoint import IkeEndpoint
from ikelab.rand import DeterministicRandom, RandomSource, SystemRandom
from ikelab.state import State

SUITES = [
    ("Curve25519 + AES-GCM-16-256", "aes256gcm16-prfsha256-x25519", "aes256gcm16", "CURVE25519"),
    ("MODP-2048 + AES-CBC-128 + HMAC-SHA2-256", "aes128-sha256-modp2048", "aes128-sha256", "MODP_2048"),
    ("ECP-256 + AES-CBC-128 + HMAC-SHA2-256 + PRF-SHA256", "aes128-sha256-prfsha256-ecp256", "aes128-sha256",
     "ECP_256"),
]


def configs(ike: str, esp: str) -> tuple[IkeConfig, IkeConfig]:
    # the responder keeps its default cookie threshold: it counts half-open SAs on every IKE_SA_INIT
    base = dict(psk=b"benchmark secret", ike_proposals=(ike,), esp_proposals=(esp,))
    return (IkeConfig(local_id="moon.example", remote_id="sun.example", **base),
            IkeConfig(local_id="sun.example", remote_id="moon.example", **base))


class Pair:
    """Two endpoints wired back to back, without a network model or trace."""

    def __init__(self, ike: str, esp: str, seed: int | None = None) -> None:
        """Peers that draw from the OS, or from ``DeterministicRandom(seed)`` when a seed is given."""
        ci, cr = configs(ike, esp)
        if seed is None:
            rng_i: RandomSource = SystemRandom()
            rng_r: RandomSource = SystemRandom()
        else:
            rng_i, rng_r = DeterministicRandom(seed).fork("i"), DeterministicRandom(seed).fork("r")
        self.a = IkeEndpoint(ci, rng_i, "192.0.2.1")
        self.b = IkeEndpoint(cr, rng_r, "192.0.2.2")

    def handshake(self) -> None:
        sa = self.a.initiate(("192.0.2.2", 500), 0.0)
        moved = True
        while moved:
            moved = False
            for src, dst in ((self.a, self.b), (self.b, self.a)):
                for d in src.pop_datagrams():
                    dst.receive(d, 0.0)
                    moved = True
        src_events = self.a.pop_events(), self.b.pop_events()  # noqa: F841 - drained like a real driver would
        if sa.state != State.ESTABLISHED:
            raise RuntimeError(f"handshake failed: {sa}")


def rate(fn, seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def openssl_dh(group: str):
    """Four DH operations done by OpenSSL through cryptography, with keys OpenSSL draws itself.

    OpenSSL picks its own MODP exponent length (225 bits for MODP-2048, where
    ikelab draws 320, see ikelab.dh), so for MODP this is a cheaper operation
    than ikelab's; :func:`openssl_same_dh` is the like-for-like yardstick.
    """
    from cryptography.hazmat.primitives.asymmetric import ec, x25519

    grp = dh.group(group)
    if group.startswith("MODP"):
        from cryptography.hazmat.primitives.asymmetric import dh as cdh

        params = cdh.DHParameterNumbers(grp.p, grp.g).parameters()
        gen, pub = params.generate_private_key, (lambda k: k.public_key())
    elif group.startswith("ECP"):
        curve = {"ECP_256": ec.SECP256R1, "ECP_384": ec.SECP384R1, "ECP_521": ec.SECP521R1}[group]
        gen, pub = (lambda: ec.generate_private_key(curve())), (lambda k: k.public_key())
    else:
        gen, pub = x25519.X25519PrivateKey.generate, (lambda k: k.public_key())

    def run() -> None:
        a, b = gen(), gen()
        a.exchange(ec.ECDH(), pub(b)) if group.startswith("ECP") else a.exchange(pub(b))
        b.exchange(ec.ECDH(), pub(a)) if group.startswith("ECP") else b.exchange(pub(a))

    return run


def openssl_same_dh(group: str, seed: int | None = None):
    """The same four DH operations as a handshake, on private values drawn as ikelab draws them, done by OpenSSL.

    Two public values from private values (g^x, d*G, X25519(k, 9)) and two
    shared secrets.  With ``seed`` None the values come from the OS, as in the
    handshakes; ECP keys are then drawn by OpenSSL, as ikelab has them drawn.  cryptography has no call that makes a MODP public value
    from a given exponent, so g^x is computed as a DH exchange with the peer
    value g (OpenSSL's DH_compute_key(g, x) is g^x mod p).
    """
    from cryptography.hazmat.primitives.asymmetric import ec, x25519

    grp = dh.group(group)
    rng: RandomSource = SystemRandom() if seed is None else DeterministicRandom(seed)
    if group.startswith("MODP"):
        from cryptography.hazmat.primitives.asymmetric import dh as cdh

        numbers = cdh.DHParameterNumbers(grp.p, grp.g)
        g_key = cdh.DHPublicNumbers(grp.g, numbers).public_key()

        def keypair() -> tuple[object, object]:
            # the public number given here is a placeholder: OpenSSL does not use it to compute g^x or y^x
            x = grp._draw_exponent(rng)
            key = cdh.DHPrivateNumbers(x, cdh.DHPublicNumbers(grp.g, numbers)).private_key()
            y = int.from_bytes(key.exchange(g_key), "big")
            return key, cdh.DHPublicNumbers(y, numbers).public_key()

        def agree(key: object, peer: object) -> None:
            key.exchange(peer)  # type: ignore[attr-defined]
    elif group.startswith("ECP"):
        curve = {"ECP_256": ec.SECP256R1, "ECP_384": ec.SECP384R1, "ECP_521": ec.SECP521R1}[group]()

        def keypair() -> tuple[object, object]:
            if seed is None:
                key = ec.generate_private_key(curve)
            else:
                key = ec.derive_private_key(rng.randrange(1, grp.n), curve)  # type: ignore[attr-defined]
            return key, key.public_key()

        def agree(key: object, peer: object) -> None:
            key.exchange(ec.ECDH(), peer)  # type: ignore[attr-defined]
    else:
        def keypair() -> tuple[object, object]:
            key = x25519.X25519PrivateKey.from_private_bytes(rng.random_bytes(32))
            return key, key.public_key()

        def agree(key: object, peer: object) -> None:
            key.exchange(peer)  # type: ignore[attr-defined]

    def run() -> None:
        (a, a_pub), (b, b_pub) = keypair(), keypair()
        agree(a, b_pub)
        agree(b, a_pub)

    return run


def openssl_factory(factory, *args: object):
    """``factory(*args)``, or None when this cryptography lacks the API it needs."""
    try:
        return factory(*args)
    except (ImportError, AttributeError):  # finite-field DH is deprecated since cryptography 50, due to go
        return None


def interleaved(runs: dict[str, object], seconds: float, slices: int) -> dict[str, list[float]]:
    """Rates of each of ``runs`` in ``slices`` short slices, taken in turn.

    A shared machine's speed can drift by tens of per cent within a minute
    (other guests on the same host).  Timing the handshake for two seconds and then
    OpenSSL's DH for two more would let that drift into the ratio between
    them; slices taken in turn see the same machine, and the ratio of each
    round's neighbours is reported.
    """
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(slices):
        for name, run in runs.items():
            if run is not None:
                rates[name].append(rate(run, seconds / slices))  # type: ignore[arg-type]
    return rates


def bench_handshakes(seconds: float, seed: int | None, slices: int = 8) -> None:
    print(f"{'suite':<52} {'handshakes/s':>13} {'ms each':>8} {'DH/s':>8} {'OpenSSL DH/s':>13} "
          f"{'cost/OpenSSL DH':>16} {'own keys':>9}")
    for label, ike, esp, group in SUITES:
        pair = Pair(ike, esp, seed)
        pair.handshake()  # imports and caches warm before the first slice
        grp = dh.group(group)
        rng = SystemRandom() if seed is None else DeterministicRandom(seed)

        def dh_only() -> None:
            x, y = grp.generate(rng), grp.generate(rng)
            x.exchange(y.public_bytes())
            y.exchange(x.public_bytes())

        r = interleaved({"hs": pair.handshake, "dh": dh_only, "same": openssl_factory(openssl_same_dh, group, seed),
                         "own": openssl_factory(openssl_dh, group)}, seconds, slices)
        hs, d = median(r["hs"]), median(r["dh"])
        if not r["same"] or not r["own"]:  # a cryptography without finite-field DH: no yardstick for MODP
            print(f"{label:<52} {hs:>13.1f} {1e3 / hs:>8.3f} {d:>8.1f} {'-':>13} {'-':>16} {'-':>9}")
            continue
        same_ratio = median([s / h for s, h in zip(r["same"], r["hs"])])
        own_ratio = median([o / h for o, h in zip(r["own"], r["hs"])])
        print(f"{label:<52} {hs:>13.1f} {1e3 / hs:>8.3f} {d:>8.1f} {median(r['same']):>13.1f} "
              f"{same_ratio:>15.2f}x {own_ratio:>8.2f}x")
    print(f"Medians of {slices} slices per figure, the four measurements taken in turn; the ratios are medians")
    print("of each round's handshake time over its OpenSSL DH time.")
    print("OpenSSL DH/s: the same four operations on the same kind of private values; 'own keys': OpenSSL's own")
    print("(225-bit MODP-2048 exponents where ikelab uses 320).")
    print("Random values from " + ("the OS, as a peer draws them by default." if seed is None else
                                   f"DeterministicRandom({seed}), as the lessons draw them."))
    print("aims: Curve25519 + AES-GCM >= 2000/s; ECP-256 + AES-CBC <= 0.5 ms; MODP-2048 <= 1.3x OpenSSL DH")


def bench_memory(count: int) -> None:
    pair = Pair("aes128-sha256-x25519", "aes128gcm16", seed=3)
    pair.handshake()  # warm up imports and caches outside the measurement
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(count):
        pair.handshake()
    after = tracemalloc.take_snapshot()
    kept = sum(s.size_diff for s in after.compare_to(before, "filename"))
    tracemalloc.stop()
    sas = sum(1 for ep in (pair.a, pair.b) for sa in ep.sas.values() if sa.children)
    print(f"\n{count} IKE SAs with one CHILD SA each, both peers' objects ({sas} IkeSa objects):")
    print(f"  {kept / sas:8.0f} bytes ({kept / sas / 1024:.1f} KiB) per established IKE SA (aim: <= 5000 bytes)")


def bench_breakdown(count: int, seed: int | None) -> None:
    """Where a Curve25519 + AES-GCM and an ECP-256 + AES-CBC handshake spend their time.

    The parts are timed inside real handshakes, by wrappers that add about 0.3 us per call.
    """
    import ikelab.auth as auth
    import ikelab.exchanges_wire as wire
    import ikelab.keys as keys
    import ikelab.proposals as proposals

    spent: dict[str, float] = {}

    def timed(owner: object, name: str, label: str) -> None:
        inner = getattr(owner, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - start

        setattr(owner, name, wrapper)

    timed(wire, "encode", "wire: encode + encrypt")
    timed(wire, "decode", "wire: decrypt + decode")
    timed(wire, "summary", "wire: RFC notation summaries")
    for group, key in ((dh.MontgomeryGroup, dh.MontgomeryPrivateKey), (dh.EcpGroup, dh.EcpPrivateKey)):
        timed(group, "generate", "Diffie-Hellman")
        timed(key, "exchange", "Diffie-Hellman")
    for name in ("skeyseed", "ike_sa_keys", "child_sa_keys"):
        timed(keys, name, "key derivation (SKEYSEED, SK_*, KEYMAT)")
    for name in ("signed_octets", "psk_auth", "verify_psk"):
        timed(auth, name, "AUTH (signed octets, PSK)")
    for name in ("select", "check_chosen"):
        timed(proposals, name, "proposal negotiation")
    for label, ike, esp in (("a Curve25519 + AES-GCM", "aes256gcm16-prfsha256-x25519", "aes256gcm16"),
                            ("an ECP-256 + AES-CBC + HMAC-SHA2-256", "aes128-sha256-prfsha256-ecp256",
                             "aes128-sha256")):
        pair = Pair(ike, esp, seed)
        for _ in range(200):
            pair.handshake()
        spent.clear()
        start = time.perf_counter()
        for _ in range(count):
            pair.handshake()
        total = time.perf_counter() - start
        print(f"\nwhere {label} handshake spends {total / count * 1e6:.0f} us (both peers):")
        for part, seconds in sorted(spent.items(), key=lambda item: -item[1]):
            print(f"  {part:<44} {seconds / count * 1e6:7.1f} us  {seconds / total:4.0%}")
        rest = total - sum(spent.values())
        print(f"  {'the engine itself (state, events, payloads)':<44} {rest / count * 1e6:7.1f} us  {rest / total:4.0%}")


def interpreter() -> str:
    """Which Python and OpenSSL ran the figures: how the interpreter was built moves them by several per cent.

    On the development machine, Debian's python3 (built with profile-guided and link-time optimisation)
    ran the same handshakes about 9 % faster than a pyenv build made without ``--enable-optimizations``
    (docs/performance.md, "Which Python").  sysconfig does not say how every distribution built its
    interpreter, so the line names it and leaves the judging to the reader.
    """
    import platform

    from cryptography import __version__ as crypto_version

    try:
        from cryptography.hazmat.backends.openssl.backend import backend

        openssl = backend.openssl_version_text()
    except (ImportError, AttributeError):  # not public API: another cryptography may lack it
        openssl = "OpenSSL (version not reported)"
    config = sysconfig.get_config_var("CONFIG_ARGS") or ""
    built = "; configured with --enable-optimizations" if "--enable-optimizations" in config else ""
    return (f"{platform.python_implementation()} {platform.python_version()} ({os.path.realpath(sys.executable)}; "
            f"{platform.python_compiler()}{built}); cryptography {crypto_version}, {openssl}")


def main() -> None:
    # the OpenSSL yardstick for MODP uses cryptography's finite-field DH, deprecated since cryptography 50
    # (ikelab itself does not use it); measuring with it is still meaningful, so its warning is silenced here
    warnings.filterwarnings("ignore", message="Diffie-Hellman over finite fields")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement (in 8 slices)")
    parser.add_argument("--sas", type=int, default=10_000, help="IKE SAs for the memory figure")
    parser.add_argument("--breakdown", action="store_true", help="also time the parts of a handshake")
    parser.add_argument("--seeded", action="store_true",
                        help="draw random values from DeterministicRandom, as the lessons do (default: the OS)")
    args = parser.parse_args()
    seed = 1 if args.seeded else None
    print(interpreter())
    bench_handshakes(args.seconds, seed)
    bench_memory(args.sas)
    if args.breakdown:
        bench_breakdown(2000, seed)


if __name__ == "__main__":
    main()
