"""What the allocation round of 2026-12-01 (night) must not change (docs/performance.md).

Each shortcut is compared with the written-out path it replaces: the same values, for every size the
engine can meet.
"""

from __future__ import annotations

import pytest

from ikelab import keys
from ikelab import payloads as P
from ikelab.constants import PrfId, ProtocolId, TransformType
from ikelab.errors import ConfigError
from ikelab.prf import prf_plus_blocks
from ikelab.proposals import parse_proposal
from ikelab.wire import DecodeContext

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
    stream = bytes(i % 251 for i in range(256 * size))
    for count in list(range(0, 80)) + [254, 255]:
        for extra in (0, 1, size - 1):  # whole blocks, as the key schedule makes them, and a short last block
            part = stream[: count * size + extra]
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


# ------------------------------------------------------------------ an SA payload of one proposal


def _joined(sa: P.SA, path: str) -> bytes:
    """The SA body as ``SA._body`` makes it for any number of proposals (its loop, before the numbering check)."""
    n = len(sa.proposals)
    return b"".join([p._encode(i == n - 1, f"{path}.proposal[{i + 1}]") for i, p in enumerate(sa.proposals)])


def _one_proposal_sas() -> list[P.SA]:
    cbc = parse_proposal("aes128-sha256-prfsha256-ecp256")
    gcm = parse_proposal("aes256gcm16-prfsha384-x25519")
    esp = P.Proposal(1, ProtocolId.ESP, b"\x01\x02\x03\x04", (P.Transform(TransformType.ENCR, 12, 128),
                                                              P.Transform(TransformType.INTEG, 12),
                                                              P.Transform(TransformType.ESN, 0)))
    attrs = P.Proposal(1, ProtocolId.IKE, b"", (P.Transform(TransformType.ENCR, 12, 256, ((17, 5), (18, b"xy"))),))
    sas = []
    for p in (cbc, gcm, esp, attrs):
        for number in (1, 2, 255):  # a responder answers with the number of the proposal it chose
            for spi in ((b"", bytes(8)) if p.protocol == ProtocolId.IKE else (p.spi,)):
                sas.append(P.SA((P.Proposal(number, p.protocol, spi, p.transforms),)))
    return sas


@pytest.mark.parametrize("path", ["SA", "SK.SA"])
def test_one_proposal_encodes_as_the_loop(path: str) -> None:
    """One proposal, encoded at once: the same octets as the loop over proposals, Last Substruc 0."""
    for sa in _one_proposal_sas():
        body = sa._body(path)
        assert body == _joined(sa, path) and body[0] == 0
        assert P.SA._decode(body, 0, len(body), False, DecodeContext(), path).proposals == sa.proposals


def test_one_bad_proposal_fails_as_in_the_loop() -> None:
    """A proposal the encoder refuses is named ``SA.proposal[1]`` as the loop named it, with the same field."""
    bad = [P.Proposal(1, ProtocolId.ESP, b"\x01\x02\x03", (P.Transform(TransformType.ENCR, 12, 128),)),  # SPI size
           P.Proposal(1, ProtocolId.IKE, b"", (P.Transform(TransformType.ENCR, 12, 70000),))]  # Key Length
    for proposal in bad:
        sa = P.SA((proposal,))
        with pytest.raises(ConfigError) as got:
            sa._body("SA")
        with pytest.raises(ConfigError) as want:
            _joined(sa, "SA")
        assert (str(got.value), got.value.field) == (str(want.value), want.value.field)
        assert "SA.proposal[1]" in str(got.value)
    with pytest.raises(ConfigError, match="at least one proposal"):  # none at all is still refused
        P.SA(())._body("SA")


# ------------------------------------------------------------------ loops where comprehensions were


def test_encode_chain_types_as_before() -> None:
    """The Next Payload codes of every sample chain, and a chain that holds something else than a payload."""
    from ikewire_samples import all_sample_messages

    from ikelab.message import decode

    checked = 0
    for msg in all_sample_messages():
        plain = tuple(p for p in msg.payloads if not isinstance(p, (P.SK, P.SKF)))
        if not plain:
            continue
        checked += 1
        first, body = P.encode_chain(plain, last_next=0)
        assert first == [P._type_code(p) for p in plain][0]
        assert P.decode_chain(first, body, 0, len(body), DecodeContext()) == plain
        assert decode(msg.encode()) == msg  # no SK here: an SK-only sample has no plain payload and was skipped
    assert checked >= 5, "the samples hold chains of plain payloads to check"
    with pytest.raises(ConfigError, match="is not an IKEv2 payload") as got:
        P.encode_chain([P.Nonce(b"n" * 16), "not a payload"])
    assert got.value.field == "payloads"


def test_notify_datas_and_proposals_dh_as_the_comprehensions() -> None:
    from ikelab import exchanges_wire as W
    from ikelab.constants import NotifyType
    from ikelab.message import Message

    src, dst = NotifyType.NAT_DETECTION_SOURCE_IP, NotifyType.NAT_DETECTION_DESTINATION_IP
    for notifies in ((), (P.Notify(src, data=b"a" * 20),),
                     (P.Notify(src, data=b"a" * 20), P.Notify(dst, data=b"b" * 20), P.Notify(src, data=b"c" * 20))):
        msg = Message(SPI_I, exchange=34, payloads=(P.Nonce(b"n" * 16), *notifies))
        for ntype in (src, dst, NotifyType.COOKIE):
            assert W.notify_datas(msg, ntype) == [bytes(n.data) for n in notifies if n.notify_type == ntype]
    dh = P.Transform(TransformType.DH, 19)
    esp = P.Proposal(1, ProtocolId.ESP, bytes(4), (P.Transform(TransformType.ENCR, 12, 128),))  # no DH
    offers = [(), (parse_proposal("aes128-sha256-ecp256"),), (esp,),
              (parse_proposal("aes128-sha256-ecp256-modp2048"), parse_proposal("aes256gcm16-prfsha384-x25519")),
              (P.Proposal(1, ProtocolId.ESP, bytes(4), (P.Transform(TransformType.DH, 0), dh, dh)),)]
    for props in offers:
        want = [int(t.id) for p in props for t in p.transforms
                if int(t.type) == int(TransformType.DH) and int(t.id) != 0]
        assert W.proposals_dh(props) == want and W.proposals_dh(iter(props)) == want


def test_half_open_count_as_the_comprehensions() -> None:
    """The count, and the SAs kept for the next count, as the set and the sum made them."""
    from ikelab.config import IkeConfig
    from ikelab.endpoint import IkeEndpoint
    from ikelab.state import State

    class Sa:
        def __init__(self, state: State) -> None:
            self.state = state

    ep = IkeEndpoint(IkeConfig(local_id="sun.example", remote_id="moon.example", psk=b"x"), None, "192.0.2.2")
    for states in ((), (State.IDLE,), (State.INIT_DONE,) * 3, tuple(State), tuple(State) + (State.INIT_DONE,)):
        sas = {Sa(s) for s in states}
        ep._maybe_half_open = set(sas)
        live = {sa for sa in sas if sa.state in (State.IDLE, State.INIT_DONE)}
        assert ep.half_open_count() == sum(1 for sa in live if sa.state == State.INIT_DONE)
        assert ep._maybe_half_open == live

