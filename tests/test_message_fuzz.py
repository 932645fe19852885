"""Decoding is total: any byte string decodes or raises ParseError / IntegrityError.

A fixed-seed ``random.Random`` loop feeds ``decode`` (with and without keys)
and ``dump`` more than 100,000 inputs: random bytes, and mutations of real
messages (the published vectors and ikelab's samples, plain and protected):
bit flips, byte overwrites, truncations, extensions, insertions and
deletions, splices, and targeted changes to length, count and Next Payload
fields, usually with the header Length patched so the damage is seen deeper
in.  Protected messages whose *decrypted* content is mutated are re-sealed
with valid ICVs, so the inner-payload parser also sees garbage after a good
ICV.  Every decoded message must also re-encode to bytes that decode to the
same message.
"""

from __future__ import annotations

import random
import struct
import time

import pytest

from ikewire_samples import SUITES, VECTORS, all_sample_messages, suite_crypto
from ikelab.errors import IntegrityError, ParseError
from ikelab.message import Message, decode, strip_non_esp_marker
from ikelab.payloads import SK, SKF, encode_chain
from ikelab.sk import seal, sealed_length
from ikelab.views import dump

SEED = 0x1CE1AB
ITERATIONS = 100_000
ALLOWED = (ParseError, IntegrityError)


def _fix_length(data: bytearray) -> bytearray:
    if len(data) >= 28:
        data[24:28] = len(data).to_bytes(4, "big")
    return data


def _payload_headers(data: bytes) -> list[int]:
    """Offsets of generic payload headers, found by walking the chain leniently."""
    offsets, pos, ptype = [], 28, data[16] if len(data) > 16 else 0
    while ptype and pos + 4 <= len(data) and len(offsets) < 64:
        offsets.append(pos)
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if ptype in (46, 53) or length < 4:
            break
        ptype = data[pos]
        pos += length
    return offsets


def _mutate(rng: random.Random, seed: bytes, pool: list[bytes]) -> bytes:
    data = bytearray(seed)
    kind = rng.randrange(11)
    n = len(data)
    if kind == 0:  # flip 1..8 bits
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(n)
            data[i] ^= 1 << rng.randrange(8)
        return bytes(data)
    if kind == 1:  # overwrite bytes with interesting values, then patch the Length
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(28, n) if n > 28 else rng.randrange(n)] = rng.choice([0, 1, 2, 3, 4, 7, 8, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        return bytes(_fix_length(data))
    if kind == 2:  # truncate
        cut = rng.randrange(n)
        data = data[:cut]
        return bytes(_fix_length(data) if rng.random() < 0.7 else data)
    if kind == 3:  # extend
        data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        return bytes(_fix_length(data) if rng.random() < 0.7 else data)
    if kind == 4:  # insert or delete a range inside the payloads
        at = rng.randrange(28, n) if n > 28 else 0
        if rng.random() < 0.5:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))
        else:
            del data[at : at + rng.randint(1, 12)]
        return bytes(_fix_length(data))
    headers = _payload_headers(bytes(data))
    if kind == 5 and headers:  # payload length field
        at = rng.choice(headers) + 2
        old = int.from_bytes(data[at : at + 2], "big")
        new = rng.choice([0, 1, 3, 4, 5, old - 1, old + 1, old + 4, 0xFFFF, rng.randrange(65536)]) % 65536
        data[at : at + 2] = new.to_bytes(2, "big")
        return bytes(_fix_length(data))
    if kind == 6 and headers:  # next payload field (known, unknown, critical)
        at = rng.choice(headers)
        data[at] = rng.choice([0, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 53, 99, 255])
        if rng.random() < 0.3:
            data[at + 1] ^= 0x80
        return bytes(data)
    if kind == 7 and headers:  # a byte in the first 12 octets of a payload body: counts, sizes, types
        at = rng.choice(headers) + 4 + rng.randrange(12)
        if at < n:
            data[at] = rng.choice([0, 1, 2, 3, 4, 8, 9, 16, 0x80, 0xFF, rng.randrange(256)])
        return bytes(_fix_length(data))
    if kind == 8:  # splice two messages
        other = rng.choice(pool)
        cut_a, cut_b = rng.randrange(n + 1), rng.randrange(len(other) + 1)
        return bytes(_fix_length(bytearray(data[:cut_a] + other[cut_b:])))
    if kind == 9:  # header fields
        data[rng.choice([16, 17, 18, 19, 20, 24, 25, 26, 27])] = rng.randrange(256)
        return bytes(data)
    # random payload area behind a valid header
    body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 120)))
    head = bytearray(data[:28])
    head[16] = rng.choice([33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 53, rng.randrange(256)])
    return bytes(_fix_length(head + body))


def _resealed(rng: random.Random, crypto, inner_first: int, plain: bytes) -> bytes:
    """A protected message whose inner octets are ``plain`` (possibly garbage) with a valid ICV."""
    plain = bytearray(plain)
    for _ in range(rng.randint(1, 4)):
        if not plain:
            break
        op = rng.randrange(3)
        at = rng.randrange(len(plain))
        if op == 0:
            plain[at] ^= 1 << rng.randrange(8)
        elif op == 1:
            plain[at] = rng.choice([0, 1, 3, 4, 0xFF, rng.randrange(256)])
        else:
            del plain[at : at + rng.randint(1, 6)]
    sk_len = 4 + sealed_length(crypto, len(plain))
    header = bytes(16) + bytes((46, 0x20, 35, 0x08)) + struct.pack("!II", 1, 28 + sk_len)
    aad = header + bytes((inner_first if rng.random() < 0.9 else rng.randrange(256), 0)) + struct.pack("!H", sk_len)
    return aad + seal(crypto, bytes(plain), aad)


def _check(data: bytes, crypto, failures: list) -> bool:
    """Decode ``data``; record anything but a Message or an allowed error. True if it decoded."""
    try:
        m = decode(data, crypto)
    except ALLOWED:
        return False
    except Exception as exc:  # noqa: BLE001 - this is what the test looks for
        failures.append((data.hex(), crypto is not None, repr(exc)))
        return False
    if crypto is None or not isinstance(m.payloads[-1:] and m.payloads[-1], (SK, SKF)):
        try:
            again = decode(m.encode())
        except Exception as exc:  # noqa: BLE001
            failures.append((data.hex(), "re-encode", repr(exc)))
            return True
        if again != m:
            failures.append((data.hex(), "re-encode differs", ""))
    return True


@pytest.mark.slow
def test_decode_is_total_under_fuzzing():
    rng = random.Random(SEED)
    plain_seeds = [bytes.fromhex(VECTORS[k]["hex"]) for k in ("aosp_ike_sa_init", "rusticata_ike_sa_init")]
    suites = [suite_crypto(e, b, i, seed=name) for name, e, b, i in (SUITES[1], SUITES[6], SUITES[10], SUITES[13], SUITES[14])]
    protected_seeds: list[tuple[bytes, object]] = []
    inner_chains: list[tuple[int, bytes]] = []
    for m in all_sample_messages():
        last = m.payloads[-1]
        if isinstance(last, SK):
            inner_chains.append(encode_chain(last.inner))
            for c in suites:
                protected_seeds.append((m.encode(c), c))
        else:
            plain_seeds.append(m.encode())
    from ikewire_samples import ike_auth_request
    from ikelab.sk import fragment

    for c in suites[:2]:
        for f in fragment(ike_auth_request(), c, 130):
            protected_seeds.append((f, c))
    pool = plain_seeds + [s for s, _ in protected_seeds]

    failures: list = []
    decoded = 0
    start = time.perf_counter()
    for i in range(ITERATIONS):
        r = rng.random()
        if r < 0.05:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
            crypto = None
        elif r < 0.60:
            data, crypto = _mutate(rng, rng.choice(plain_seeds), pool), None
        elif r < 0.80:
            seed, c = rng.choice(protected_seeds)
            data = _mutate(rng, seed, pool)
            crypto = c if rng.random() < 0.8 else None
        else:
            crypto = rng.choice(suites)
            first, plain = rng.choice(inner_chains)
            data = _resealed(rng, crypto, first, plain)
        decoded += _check(data, crypto, failures)
        if i % 10 == 0:
            try:
                dump(data, crypto, strict=rng.random() < 0.5)
            except ALLOWED:
                pass
            except Exception as exc:  # noqa: BLE001
                failures.append((data.hex(), "dump", repr(exc)))
            assert strip_non_esp_marker(b"\0\0\0\0" + data) == data
        if len(failures) > 5:
            break
    elapsed = time.perf_counter() - start
    assert not failures, failures[:5]
    # the fuzzer must actually reach both outcomes
    assert 0.005 * ITERATIONS < decoded < 0.9 * ITERATIONS, decoded
    print(f"{ITERATIONS} inputs, {decoded} decoded, {elapsed:.1f} s")


def test_random_inputs_never_escape_quickly():
    """A smaller always-run version with another seed (the big one is marked slow)."""
    rng = random.Random(7)
    failures: list = []
    seeds = [bytes.fromhex(VECTORS["aosp_ike_sa_init"]["hex"])] + [m.encode() for m in all_sample_messages() if not isinstance(m.payloads[-1], SK)]
    for _ in range(3000):
        _check(_mutate(rng, rng.choice(seeds), seeds), None, failures)
    assert not failures, failures[:3]
    assert isinstance(decode(seeds[0]), Message)
