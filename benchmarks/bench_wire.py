"""How fast is the IKEv2 wire format, and how much of it is cryptography?

Run ``python benchmarks/bench_wire.py`` (``--json`` for the raw figures).
Prints, for a typical IKE_SA_INIT request and a protected ~300-byte IKE_AUTH
request (AES-GCM-16 and AES-CBC + HMAC-SHA2-256-128):

* encode and decode times (CPU microseconds per call, and calls per second);
* for the protected message, the time of the cryptography calls it wraps
  (``Encryption.encrypt``/``decrypt`` and ``Integrity.compute``/``verify`` from
  ``ikelab.transforms``, and the raw pyca/cryptography primitive), and the
  pure-Python *framing*: the operation minus those calls;
* each figure beside the one measured the same way on the tree before the
  last round of optimisation (``BEFORE``), and the framing as a multiple of
  the cipher call.

The decoder remembers transforms and SPI-less proposals by their octets
(:mod:`ikelab.sa_payload`) and selectors (:mod:`ikelab.ts_payload`), so
decoding the same IKE_SA_INIT again and again mostly meets known octets, as
a responder does with one configuration; "decode, first sight" empties those
tables before every call.

The aim (not asserted anywhere) is that framing costs no more than the AEAD
call it wraps.  Figures only; no assertions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import timeit
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from ikelab import sa_payload, ts_payload  # noqa: E402
from ikelab.constants import AuthMethod, ExchangeType, NotifyType  # noqa: E402
from ikelab.message import Message, decode  # noqa: E402
from ikelab.payloads import (  # noqa: E402
    AUTH,
    KE,
    SA,
    SK,
    IDi,
    IDr,
    Nonce,
    Notify,
    Proposal,
    Transform,
    TSi,
    TSr,
    encode_chain,
)
from ikelab.rand import DeterministicRandom  # noqa: E402
from ikelab.sk import SkCrypto, pad_length_for  # noqa: E402
from ikelab.transforms import encryption, integrity  # noqa: E402

SPI_I, SPI_R = bytes.fromhex("0011223344556677"), bytes.fromhex("8899aabbccddeeff")


#: Timeit runs per figure (``--repeats``); the best one is kept.
REPEATS = 7
#: Calls per timeit run (``--number``); None lets timeit choose (at least 0.2 s per run).
NUMBER: int | None = None


def per_call(fn: Callable[[], object], *, repeats: int | None = None) -> float:
    """CPU seconds per call of ``fn``: the best of ``repeats`` (default :data:`REPEATS`) timeit runs.

    CPU time (``time.process_time``) rather than wall time, so that other
    processes on a shared machine disturb the figures less.
    """
    timer = timeit.Timer(fn, timer=time.process_time)
    number = NUMBER or timer.autorange()[0]
    return min(timer.repeat(repeat=repeats or REPEATS, number=number)) / number


def ike_sa_init() -> Message:
    sa = SA.from_proposals(
        [
            Proposal.ike(Transform.encr("ENCR_AES_GCM_16", 256), Transform.prf("PRF_HMAC_SHA2_256"), Transform.dh("ECP_256"), Transform.dh("CURVE25519")),
            Proposal.ike(Transform.encr("ENCR_AES_CBC", 256), Transform.prf("PRF_HMAC_SHA2_256"), Transform.integ("AUTH_HMAC_SHA2_256_128"), Transform.dh("ECP_256")),
        ]
    )
    return Message(
        SPI_I,
        bytes(8),
        ExchangeType.IKE_SA_INIT,
        True,
        False,
        0,
        (
            sa,
            KE("ECP_256", bytes(64)),
            Nonce(bytes(32)),
            Notify.make_nat_detection_source_ip(SPI_I, bytes(8), "192.0.2.1", 500),
            Notify.make_nat_detection_destination_ip(SPI_I, bytes(8), "192.0.2.2", 500),
            Notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED),
            Notify.make_signature_hash_algorithms([2, 3, 4]),
        ),
    )


def ike_auth() -> Message:
    inner = (
        IDi.from_fqdn("alice.example"),
        Notify(NotifyType.INITIAL_CONTACT),
        IDr.from_fqdn("vpn.example"),
        AUTH(AuthMethod.SHARED_KEY_MIC, bytes(32)),
        SA((Proposal.esp(b"\xc0\xff\xee\x01", Transform.encr("ENCR_AES_GCM_16", 256), Transform.esn(False)),)),
        TSi.of("10.1.0.0/16"),
        TSr.of("10.2.0.0/16"),
        Notify(NotifyType.MOBIKE_SUPPORTED),
        Notify(NotifyType.MULTIPLE_AUTH_SUPPORTED),
        Notify(NotifyType.EAP_ONLY_AUTHENTICATION),
    )
    return Message(SPI_I, SPI_R, ExchangeType.IKE_AUTH, True, False, 1, (SK(inner=inner),))


# The same measurements on the tree before the last round of optimisation (commit 59f0f07, itself
# the first round 9088168 over 0478cd1): this script run on a copy of that tree, same machine, best
# of 3 runs, in microseconds per call.  That tree had no tables of decoded octets, so its
# "init.decode_first" is its "init.decode".
BEFORE_COMMIT = "59f0f07"
BEFORE: dict[str, float] = {
    "init.encode": 18.05, "init.decode": 26.43, "gcm.summary": 5.49, "gcm.protect": 23.99,
    "gcm.unprotect": 31.72, "gcm.crypto_protect": 2.44, "gcm.crypto_unprotect": 2.43, "gcm.raw": 1.4,
    "gcm.iv": 0.73, "gcm.framing_protect": 20.81, "gcm.framing_unprotect": 29.29, "cbc.summary": 5.4,
    "cbc.protect": 35.74, "cbc.unprotect": 44.35, "cbc.crypto_protect": 11.05, "cbc.crypto_unprotect": 9.57,
    "cbc.iv": 0.75, "cbc.framing_protect": 23.89, "cbc.framing_unprotect": 34.47, "init.decode_first": 26.43,
}


def measure() -> dict[str, float]:
    """Every figure, in microseconds per call."""
    us: dict[str, float] = {}
    init = ike_sa_init()
    init_bytes = init.encode()
    us["init.encode"] = per_call(init.encode) * 1e6
    us["init.decode"] = per_call(lambda: decode(init_bytes)) * 1e6
    us["init.decode_first"] = per_call(lambda: (forget_decoded(), decode(init_bytes))) * 1e6
    for label, crypto in suites():
        auth = ike_auth()
        data = auth.encode(crypto)
        us[f"{label}.summary"] = per_call(decode(data, crypto).summary) * 1e6
        us[f"{label}.protect"] = per_call(lambda: auth.encode(crypto)) * 1e6
        us[f"{label}.unprotect"] = per_call(lambda: decode(data, crypto)) * 1e6
        # the cryptography calls those two operations make, on the same sizes
        first, plain = encode_chain(auth.payloads[0].inner)
        pad = pad_length_for(len(plain), crypto.block_size)
        padded = plain + bytes(pad) + bytes((pad,))
        iv = bytes(crypto.iv_len)
        aad = data[:32]
        if crypto.encr.is_aead:
            ct = crypto.encr.encrypt(crypto.sk_e, iv, padded, aad)
            us[f"{label}.crypto_protect"] = per_call(lambda: crypto.encr.encrypt(crypto.sk_e, iv, padded, aad)) * 1e6
            us[f"{label}.crypto_unprotect"] = per_call(lambda: crypto.encr.decrypt(crypto.sk_e, iv, ct, aad)) * 1e6
            us[f"{label}.raw"] = per_call(lambda: AESGCM(crypto.sk_e[:32]).encrypt(crypto.sk_e[32:] + iv, padded, aad)) * 1e6
        else:
            ct = crypto.encr.encrypt(crypto.sk_e, iv, padded)
            mac_in = aad + iv + ct
            icv = crypto.integ.compute(crypto.sk_a, mac_in)  # type: ignore[union-attr]
            us[f"{label}.crypto_protect"] = per_call(lambda: (crypto.encr.encrypt(crypto.sk_e, iv, padded), crypto.integ.compute(crypto.sk_a, mac_in))) * 1e6  # type: ignore[union-attr]
            us[f"{label}.crypto_unprotect"] = per_call(lambda: (crypto.integ.verify(crypto.sk_a, mac_in, icv), crypto.encr.decrypt(crypto.sk_e, iv, ct))) * 1e6  # type: ignore[union-attr]
        us[f"{label}.iv"] = per_call(lambda: crypto.rng.random_bytes(crypto.iv_len)) * 1e6  # type: ignore[union-attr]
        # framing = the operation minus the cryptography calls (and the IV) measured alone
        us[f"{label}.framing_protect"] = us[f"{label}.protect"] - us[f"{label}.crypto_protect"] - us[f"{label}.iv"]
        us[f"{label}.framing_unprotect"] = us[f"{label}.unprotect"] - us[f"{label}.crypto_unprotect"]
    return us


def forget_decoded() -> None:
    """Empty the decoder's tables of known transforms, proposals and selectors."""
    sa_payload._KNOWN_TRANSFORMS.clear()
    sa_payload._KNOWN_PROPOSALS.clear()
    ts_payload._address_range.cache_clear()


def suites() -> list[tuple[str, SkCrypto]]:
    return [
        ("gcm", SkCrypto(encryption("ENCR_AES_GCM_16", 256), None, bytes(36), b"", DeterministicRandom(1))),
        ("cbc", SkCrypto(encryption("ENCR_AES_CBC", 256), integrity("AUTH_HMAC_SHA2_256_128"), bytes(32), bytes(32), DeterministicRandom(2))),
    ]


def row(title: str, key: str, now: dict[str, float], note: str = "") -> None:
    before = BEFORE.get(key)
    was = f"{before:9.1f} us" if before is not None else " " * 12
    change = f"{before / now[key]:5.2f}x faster" if before is not None and now[key] > 0 else ""
    print(f"  {title:<40} {was}  {now[key]:9.1f} us  {1e6 / now[key]:>9,.0f}/s  {change:<13} {note}")


def main() -> None:
    global REPEATS, NUMBER
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures (us per call) as JSON only")
    parser.add_argument("--repeats", type=int, default=REPEATS, help=f"timeit runs per figure, best kept (default {REPEATS})")
    parser.add_argument("--number", type=int, default=None, help="calls per timeit run (default: timeit's autorange)")
    args = parser.parse_args()
    REPEATS, NUMBER = max(1, args.repeats), args.number and max(1, args.number)
    now = measure()
    if args.json:
        print(json.dumps({k: round(v, 2) for k, v in now.items()}, indent=1))
        return
    print(f"Python {sys.version.split()[0]}; microseconds of CPU per call, best of {REPEATS} runs")
    print(f"\n  {'':<40} {'before':>12}  {'now':>12}  {'rate now':>10}   (before = commit {BEFORE_COMMIT})")
    init = ike_sa_init()
    print(f"IKE_SA_INIT request, {len(init.encode())} bytes ({init.summary()})")
    row("encode", "init.encode", now)
    row("decode", "init.decode", now)
    row("decode, first sight (tables emptied)", "init.decode_first", now)
    for label, crypto in suites():
        auth = ike_auth()
        data = auth.encode(crypto)
        name = "AES-GCM-16-256" if label == "gcm" else "AES-CBC-256 + HMAC-SHA2-256-128"
        print(f"\nIKE_AUTH request protected with {name}, {len(data)} bytes ({auth.summary()})")
        row("protect (encode + encrypt)", f"{label}.protect", now)
        row("unprotect (check + decrypt + decode)", f"{label}.unprotect", now)
        row("  cipher/ICV calls in protect", f"{label}.crypto_protect", now, "via ikelab.transforms")
        row("  cipher/ICV calls in unprotect", f"{label}.crypto_unprotect", now, "via ikelab.transforms")
        row("  IV from the random source", f"{label}.iv", now)
        if f"{label}.raw" in now:
            row("  raw AESGCM(key).encrypt", f"{label}.raw", now, "pyca/cryptography alone")
        row("  framing in protect", f"{label}.framing_protect", now)
        row("  framing in unprotect", f"{label}.framing_unprotect", now)
        row("summary() of the decoded message", f"{label}.summary", now)
        for op in ("protect", "unprotect"):
            frame, call = now[f"{label}.framing_{op}"], now[f"{label}.crypto_{op}"]
            line = f"  {op:>9}: framing {frame:5.1f} us = {frame / call:5.2f}x the cipher call ({call:.1f} us) now"
            if BEFORE:
                old_call = BEFORE[f"{label}.crypto_{op}"]
                line += f", {frame / old_call:5.2f}x the call as it was ({old_call:.1f} us); before: {BEFORE[f'{label}.framing_{op}'] / old_call:.2f}x"
            print(line)
    print("\nframing = the operation minus the cryptography calls measured alone; aim: framing <= 1x the AEAD call")


if __name__ == "__main__":
    main()
