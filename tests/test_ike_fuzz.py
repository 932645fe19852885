"""A peer that holds the keys but sends mangled payloads never crashes the other one.

The decoder is fuzzed byte by byte in ``test_message_fuzz``; this file fuzzes
the engine one level up. A :class:`~ikelab.lab.Lab` runs the classic sequence
(IKE_SA_INIT, IKE_AUTH with a PSK or with ECDSA or RSA certificates, then a
seeded random choice of liveness checks, CREATE_CHILD_SA, CHILD SA rekeys with
and without PFS, IKE SA rekeys and DELETEs, started by either side), and on
the way a seeded share of the IKE messages, requests and responses alike, is
decrypted, given a damaged payload list and sealed again with the sender's own
keys, so that it passes the ICV check and reaches the exchange handlers:
payloads dropped, duplicated, shuffled, moved in from other messages of the
run (a KE in an INFORMATIONAL, a REKEY_SA for an SPI that is gone, an IKE SA
proposal in a CHILD SA rekey), or with one field replaced (empty or random
bytes, off-by-one lengths, other numbers, emptied or reversed lists).

Such a peer may make the exchange fail, and both peers may end up with
different views of what stands, as with any misbehaving peer. What must hold
is what ikelab promises of any input: a message never makes ``receive``
raise, every IKE SA stays in one of the table's states, every CHILD SA keeps
well-formed SPIs, keys and traffic selectors, and the virtual clock can run on
until both peers are quiet (retransmissions, give-ups and the clean-up of
replaced SAs included).

``IKELAB_FUZZ_RUNS=20000 pytest tests/test_ike_fuzz.py`` hunts longer.
"""

from __future__ import annotations

import dataclasses
import os
import random
import warnings
from typing import Any

import pytest

from test_ike import configs
from test_ike_certs import RSA_KEY, peer
from ikelab.certs import ec_key_from_seed
from ikelab import exchanges_wire as wire
from ikelab.constants import ExchangeType
from ikelab.errors import IkelabError
from ikelab.exchanges_common import Datagram
from ikelab.lab import Lab
from ikelab.state import State

SUITES = [("aes128-sha256-ecp256", "aes128gcm16"),
          ("aes256gcm16-prfsha384-ecp384", "aes256gcm16-ecp384"),
          ("chacha20poly1305-prfsha256-x25519", "chacha20poly1305")]
MOON_KEY, SUN_KEY = ec_key_from_seed(b"moon"), ec_key_from_seed(b"sun")
OPERATIONS = ["liveness", "create_child", "rekey_child", "rekey_child_pfs", "rekey_ike", "delete_child", "delete_ike"]
RUNS = int(os.environ.get("IKELAB_FUZZ_RUNS", "600"))  # raise it for a longer hunt


def _other_value(rng: random.Random, value: Any) -> Any:
    """A damaged version of one payload field."""
    if isinstance(value, bytes):
        return rng.choice([b"", rng.randbytes(rng.randrange(1, 40)), value[:-1], value + b"\x00"])
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice([0, 1, 255, 65535, value + 1, rng.randrange(1 << 16)])
    if isinstance(value, tuple):
        return rng.choice([(), value[:-1], value + value[:1], tuple(reversed(value))])
    return value


class MeddlingLab(Lab):
    """A lab whose wire re-seals a share of the IKE messages with a damaged payload list."""

    def __init__(self, *args: Any, meddle: random.Random, share: float, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.meddle, self.share = meddle, share
        self.seen: list[Any] = []  # every payload sent so far: material to move into other messages
        self.damaged = 0

    def _send(self, side: str, dgram: Datagram) -> None:
        if dgram.kind == "ike" and self.meddle.random() < self.share:
            try:
                dgram = self._damaged(side, dgram)
            except IkelabError:
                pass  # ikelab's encoder refuses to write that message (a Notify of the wrong size...)
        super()._send(side, dgram)

    def _damaged(self, side: str, dgram: Datagram) -> Datagram:
        marker = b"\x00" * 4 if dgram.payload[:4] == b"\x00" * 4 else b""  # port 4500's non-ESP marker
        data = dgram.payload[len(marker):]
        sender = next((sa for sa in self.sas(side) if sa.spi_i == data[:8]), None)
        if sender is None:
            return dgram
        in_clear = data[18] == ExchangeType.IKE_SA_INIT  # octet 18: the header's Exchange Type (RFC 7296 3.1)
        if not in_clear and sender.keys is None:
            return dgram
        crypto = None if in_clear else sender._crypto(sending=True)
        msg = wire.decode(data, crypto)
        payloads = list(msg.payloads if crypto is None else msg.payloads[-1].inner)
        self.seen.extend(payloads)
        self._damage(payloads)
        self.damaged += 1
        again = wire.message(msg.spi_i, msg.spi_r, msg.exchange, msg.is_initiator, msg.is_response,
                             msg.message_id, payloads)
        return Datagram(marker + wire.encode(again, crypto), dgram.src, dgram.dst, dgram.kind)

    def _damage(self, payloads: list[Any]) -> None:
        rng, n = self.meddle, len(payloads)
        how = rng.randrange(7)
        if how == 0 and n:
            del payloads[rng.randrange(n)]
        elif how == 1 and self.seen:
            payloads.insert(rng.randrange(n + 1), rng.choice(self.seen))
        elif how == 2 and n and self.seen:
            payloads[rng.randrange(n)] = rng.choice(self.seen)
        elif how == 3:
            rng.shuffle(payloads)
        elif how == 4 and n:
            i = rng.randrange(n)
            payloads.insert(i, payloads[i])
        elif how in (5, 6) and n:
            i = rng.randrange(n)
            payload = payloads[i]
            name = rng.choice([f.name for f in dataclasses.fields(payload)])
            if how == 5:  # the value of the same field in another payload of the same kind
                donors = [p for p in self.seen if type(p) is type(payload)]
                value = getattr(rng.choice(donors), name) if donors else getattr(payload, name)
            else:
                value = _other_value(rng, getattr(payload, name))
            try:
                payloads[i] = dataclasses.replace(payload, **{name: value})
            except (IkelabError, TypeError, ValueError):
                pass  # the payload's own constructor refused the value: no such message can be sent


def _configs(rng: random.Random) -> tuple[Any, Any]:
    """Two peers' configurations: a random suite, with a PSK or with ECDSA or RSA certificates."""
    ike, esp = rng.choice(SUITES)
    auth = rng.choice(["psk", "psk", "ecdsa", "rsa"])
    if auth == "psk":
        return configs(ike, esp)
    keys = (MOON_KEY, SUN_KEY) if auth == "ecdsa" else (RSA_KEY, RSA_KEY)
    return (peer("moon", keys[0], ike_proposals=(ike,), esp_proposals=(esp,)),
            peer("sun", keys[1], ike_proposals=(ike,), esp_proposals=(esp,)))


def _check_sane(lab: Lab) -> None:
    for side in ("initiator", "responder"):
        for sa in lab.sas(side):
            assert sa.state in State
            timer = sa.get_timer()
            assert timer is None or timer >= 0
            for child in sa.children.values():
                assert len(child.spi_in) == len(child.spi_out) == 4
                assert child.spi_in != b"\x00" * 4 and child.spi_out != b"\x00" * 4
                assert child.keys is not None and child.ts_local and child.ts_remote
                assert child.mode in ("tunnel", "transport")


@pytest.mark.slow
@pytest.mark.parametrize("block", range(3))
def test_a_peer_with_the_keys_and_mangled_payloads_never_crashes_the_other(block: int) -> None:
    damaged = 0
    runs = range(block * RUNS // 3, (block + 1) * RUNS // 3)
    for run in runs:
        rng = random.Random(0x1CE0F022 + run)
        lab = MeddlingLab(*_configs(rng), seed=run, meddle=rng, share=rng.choice([0.1, 0.3, 0.6]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # no weak algorithm is asked for; nothing else may warn-as-error
            lab.initiate()
            lab.run_until_idle()
            for _ in range(rng.randrange(1, 6)):
                operation, side = rng.choice(OPERATIONS), rng.choice(["initiator", "responder"])
                try:
                    if operation == "rekey_child_pfs":
                        lab.rekey_child(side, pfs=True)
                    else:
                        getattr(lab, operation)(side)
                except IkelabError:
                    pass  # e.g. no CHILD SA left to rekey, or no IKE SA: a refusal of the caller's request
                lab.run_until_idle()
                _check_sane(lab)
            lab.run(lab.now + 3600)  # an hour of timers: retransmissions, give-ups, clean-up of replaced SAs
            lab.run_until_idle()  # and whatever exchange the last timer started ends, one way or the other
        _check_sane(lab)
        assert not lab.busy()
        damaged += lab.damaged
    assert damaged >= len(runs) // 2  # the meddling really happened (100 or more in the 200 runs of the default)
