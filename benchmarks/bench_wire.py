"""How fast is the IKEv2 wire format, and how much of it is cryptography?

Run ``python benchmarks/bench_wire.py``.  Prints, for a typical IKE_SA_INIT
request and a protected ~300-byte IKE_AUTH request:

* encode and decode operations per second;
* for the protected message, the time of the cryptography call it wraps
  (``Encryption.encrypt``/``decrypt`` and ``Integrity.compute``/``verify`` from
  ``ikelab.transforms``, and the raw pyca/cryptography primitive) and the
  share of the total that is pure-Python framing.

The aim (not asserted anywhere) is that framing costs no more than the AEAD
call it wraps.  Figures only; no assertions.
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

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


def per_call(fn: Callable[[], object], *, repeats: int = 7) -> float:
    """Seconds per call of ``fn``: the best of ``repeats`` timeit runs (the machine may be shared)."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=repeats, number=number)) / number


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


def report(title: str, seconds: float, note: str = "") -> None:
    print(f"  {title:<46} {1 / seconds:>10,.0f} /s  {seconds * 1e6:8.1f} us  {note}")


def main() -> None:
    print(f"Python {sys.version.split()[0]}")
    init = ike_sa_init()
    init_bytes = init.encode()
    print(f"\nIKE_SA_INIT request, {len(init_bytes)} bytes ({init.summary()})")
    report("encode", per_call(init.encode))
    report("decode", per_call(lambda: decode(init_bytes)))

    for label, crypto in (
        ("AES-GCM-16-256", SkCrypto(encryption("ENCR_AES_GCM_16", 256), None, bytes(36), b"", DeterministicRandom(1))),
        ("AES-CBC-256 + HMAC-SHA2-256-128", SkCrypto(encryption("ENCR_AES_CBC", 256), integrity("AUTH_HMAC_SHA2_256_128"), bytes(32), bytes(32), DeterministicRandom(2))),
    ):
        auth = ike_auth()
        data = auth.encode(crypto)
        print(f"\nIKE_AUTH request protected with {label}, {len(data)} bytes ({auth.summary()})")
        t_enc = per_call(lambda: auth.encode(crypto))
        t_dec = per_call(lambda: decode(data, crypto))
        # the cryptography calls those two operations make, on the same sizes
        first, plain = encode_chain(auth.payloads[0].inner)
        padded = plain + bytes(pad_length_for(len(plain), crypto.block_size)) + bytes((pad_length_for(len(plain), crypto.block_size),))
        iv = bytes(crypto.iv_len)
        aad = data[:32]
        if crypto.encr.is_aead:
            ct = crypto.encr.encrypt(crypto.sk_e, iv, padded, aad)
            c_enc = per_call(lambda: crypto.encr.encrypt(crypto.sk_e, iv, padded, aad))
            c_dec = per_call(lambda: crypto.encr.decrypt(crypto.sk_e, iv, ct, aad))
            raw = per_call(lambda: AESGCM(crypto.sk_e[:32]).encrypt(crypto.sk_e[32:] + iv, padded, aad))
            note_raw = "raw AESGCM(key).encrypt (object + call)"
        else:
            ct = crypto.encr.encrypt(crypto.sk_e, iv, padded)
            mac_in = aad + iv + ct
            icv = crypto.integ.compute(crypto.sk_a, mac_in)
            c_enc = per_call(lambda: (crypto.encr.encrypt(crypto.sk_e, iv, padded), crypto.integ.compute(crypto.sk_a, mac_in)))
            c_dec = per_call(lambda: (crypto.integ.verify(crypto.sk_a, mac_in, icv), crypto.encr.decrypt(crypto.sk_e, iv, ct)))
            raw = c_enc
            note_raw = "(same as the transforms' calls)"
        c_iv = per_call(lambda: crypto.rng.random_bytes(crypto.iv_len))
        report("protect (encode + encrypt)", t_enc)
        report("unprotect (check + decrypt + decode)", t_dec)
        report("  cipher/ICV calls in protect", c_enc)
        report("  IV from the random source", c_iv)
        report("  cipher/ICV calls in unprotect", c_dec)
        report("  raw primitive, one encryption", raw, note_raw)
        frame_enc, frame_dec = t_enc - c_enc - c_iv, t_dec - c_dec
        print(f"  framing share: protect {frame_enc / t_enc:5.1%} ({frame_enc * 1e6:.1f} us, {frame_enc / c_enc:.2f}x the crypto call)")
        print(f"                 unprotect {frame_dec / t_dec:5.1%} ({frame_dec * 1e6:.1f} us, {frame_dec / c_dec:.2f}x the crypto call)")
    print("\n(framing = total minus the cryptography calls measured separately; aim: <= 1x the AEAD call)")


if __name__ == "__main__":
    main()
