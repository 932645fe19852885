"""What the speed-ups of 2026-12-01 must not change (docs/performance.md, "Fewer enum and wrapper calls").

Each shortcut is compared with the path it skips: the same values, and for anything the shortcut
does not take, the same errors as before.
"""

from __future__ import annotations

import os

import pytest

from ikelab import auth, keys, prf
from ikelab import exchanges_wire as W
from ikelab import proposals as props
from ikelab import transforms as T
from ikelab.constants import AuthMethod, DhId, EncrId, IdType, NotifyType, PrfId, TransformType
from ikelab.errors import ConfigError, NegotiationError, UnknownAlgorithmError, WeakAlgorithmError, WeakAlgorithmWarning
from ikelab.sa_payload import Proposal, Transform
from ikelab.transforms import Encryption


# ------------------------------------------------------------------ enum members without the enum's calls


def test_member_name_attribute_is_the_name() -> None:
    for method in AuthMethod:
        assert method._name_ == method.name


def _proposal(*groups: int) -> Proposal:
    transforms = (Transform(TransformType.ENCR, 12, 128), Transform(TransformType.PRF, 5),
                  Transform(TransformType.INTEG, 12)) + tuple(Transform(TransformType.DH, g) for g in groups)
    return Proposal(1, 1, b"", transforms)


@pytest.mark.parametrize("groups", [(19,), (31, 19), (14,), (0, 19)])
def test_first_dh_is_the_enum_call(groups: tuple[int, ...]) -> None:
    got = W.first_dh([_proposal(*groups)])
    want = DhId([g for g in groups if g][0])
    assert got is want


def test_first_dh_of_an_unknown_group_raises_as_before() -> None:
    with pytest.raises(ValueError):
        W.first_dh([_proposal(4321)])
    assert W.first_dh([_proposal()]) is None


@pytest.mark.parametrize("ke_group", [DhId.ECP_256, 19, DhId.MODP_2048, 14])
def test_select_takes_a_member_as_its_number(ke_group: object) -> None:
    offered = (_proposal(14, 19),)
    configured = (_proposal(19, 14),)
    assert props.select(offered, configured, ke_group=ke_group) == props.select(offered, configured,
                                                                                ke_group=int(ke_group))  # type: ignore[call-overload]
    with pytest.raises(NegotiationError):
        props.select(offered, (_proposal(20),), ke_group=ke_group)


# ------------------------------------------------------------------ PRFs looked up without get_prf


def test_strong_prfs_are_what_get_prf_returns() -> None:
    assert set(prf.STRONG_PRFS) == {pid for pid, p in prf._PRFS.items() if not p.is_weak}
    for pid, p in prf.STRONG_PRFS.items():
        assert pid.__class__ is PrfId
        assert prf.get_prf(pid) is p
        assert prf.get_prf(int(pid)) is p and prf.get_prf(pid.name) is p
    assert PrfId.PRF_HMAC_MD5 not in prf.STRONG_PRFS  # weak: still refused or warned by get_prf


@pytest.mark.parametrize("pid", list(prf.STRONG_PRFS))
def test_key_schedule_and_auth_same_for_member_number_and_name(pid: PrfId) -> None:
    ni, nr, g_ir, sk_d = os.urandom(32), os.urandom(32), os.urandom(32), os.urandom(32)
    spi_i, spi_r = os.urandom(8), os.urandom(8)
    msg, id_body = os.urandom(200), b"\x02\x00\x00\x00moon"
    results = []
    for alg in (pid, int(pid), pid.name):
        seed = keys.skeyseed(alg, ni, nr, g_ir)
        ike = keys.ike_sa_keys(alg, seed, ni, nr, spi_i, spi_r, encr="ENCR_AES_CBC", encr_key_bits=128,
                               integ="AUTH_HMAC_SHA2_256_128")
        child = keys.child_sa_keys(alg, sk_d, ni, nr, encr="ENCR_AES_CBC", encr_key_bits=128,
                                   integ="AUTH_HMAC_SHA2_256_128")
        octets = auth.signed_octets(msg, nr, alg, ike.sk_pi, id_body)
        results.append((seed, ike, child, octets, auth.psk_auth(alg, "secret", octets)))
    assert results[0] == results[1] == results[2]


def test_weak_and_unknown_prfs_still_go_through_get_prf() -> None:
    md5 = PrfId.PRF_HMAC_MD5
    nonce = os.urandom(16)
    with pytest.raises(WeakAlgorithmError):
        keys.skeyseed(md5, nonce, nonce, b"x")
    with pytest.raises(WeakAlgorithmError):
        auth.signed_octets(b"m", nonce, md5, b"k" * 16, b"\x02\x00\x00\x00a")
    with pytest.raises(WeakAlgorithmError):
        auth.psk_auth(md5, "secret", b"octets")
    with pytest.warns(WeakAlgorithmWarning):
        keys.skeyseed(md5, nonce, nonce, b"x", allow_weak=True)
    with pytest.raises(UnknownAlgorithmError) as err:
        auth.signed_octets(b"m", nonce, "PRF_NONE_SUCH", b"k" * 16, b"\x02\x00\x00\x00a")
    assert err.value.field == "prf_alg"
    with pytest.raises(UnknownAlgorithmError):
        keys.skeyseed(9999, nonce, nonce, b"x")


# ------------------------------------------------------------------ thin wrappers that became the functions


def test_wire_encode_and_decode_are_the_message_functions() -> None:
    from ikelab import message

    assert W.encode is message.Message.encode
    assert W.decode is message.decode
    msg = message.Message(spi_i=os.urandom(8), payloads=(W.nonce(os.urandom(32)),))
    data = W.encode(msg)
    assert data == msg.encode() == msg.encode(None)
    assert W.decode(data) == message.decode(data) == msg


@pytest.mark.parametrize("pid", [p for p in prf._PRFS if prf._PRFS[p]._expand is not None])
def test_one_shot_prf_is_hmac_digest(pid: PrfId) -> None:
    import hmac

    p = prf._PRFS[pid]
    name = {"PRF_HMAC_MD5": "md5", "PRF_HMAC_SHA1": "sha1", "PRF_HMAC_SHA2_256": "sha256",
            "PRF_HMAC_SHA2_384": "sha384", "PRF_HMAC_SHA2_512": "sha512"}[pid.name]
    for key, data in ((b"k", b""), (os.urandom(32), os.urandom(100)), (os.urandom(200), os.urandom(7))):
        assert p._once(key, data) == hmac.new(key, data, name).digest() == p._keyed(key)(data)


# ------------------------------------------------------------------ payload readers without notifies() / payload()


def _message_with(*payloads: object) -> object:
    return W.message(os.urandom(8), bytes(8), W.ExchangeType.IKE_SA_INIT, True, False, 0, payloads)


def test_notify_readers_agree_with_notifies_and_payload() -> None:
    a, b = os.urandom(20), os.urandom(20)
    props_ = (Proposal(1, 1, b"", (Transform(TransformType.ENCR, 12, 128),)),)
    msgs = [_message_with(W.sa(props_), W.notify(NotifyType.NAT_DETECTION_SOURCE_IP, data=a),
                          W.notify(NotifyType.NAT_DETECTION_SOURCE_IP, data=b), W.notify(NotifyType.NO_PROPOSAL_CHOSEN)),
            _message_with(W.nonce(os.urandom(32))), _message_with()]
    for msg in msgs + msgs[::-1]:  # each asked first and right after another message
        for other in msgs:
            W.notifies(other)  # the remembered message is now another one
            ns = W.notifies(msg)
            for ntype in (NotifyType.NAT_DETECTION_SOURCE_IP, NotifyType.NO_PROPOSAL_CHOSEN, NotifyType.COOKIE):
                W.notifies(other)
                assert W.notify_data(msg, ntype) == next((bytes(n.data) for n in ns if n.notify_type == ntype), None)
                W.notifies(other)
                assert W.notify_of(msg, ntype) == next((n for n in ns if n.notify_type == ntype), None)
                W.notifies(other)
                assert W.notify_datas(msg, ntype) == [bytes(n.data) for n in ns if n.notify_type == ntype]
            W.notifies(other)
            assert W.first_error(msg) == next((n.type_name for n in ns if n.is_error), None)
            W.notifies(other)
            sa_p = W.payload(msg, "SA")
            W.notifies(other)
            assert W.sa_proposals(msg) == (None if sa_p is None else tuple(sa_p.proposals))


def test_signed_octets_id_body_bytes_or_payload() -> None:
    nonce, key, msg = os.urandom(32), os.urandom(32), os.urandom(100)
    body = b"\x02\x00\x00\x00moon"
    idp = W.id_payload(True, W.P.IDi(2, b"moon"))
    pid = PrfId.PRF_HMAC_SHA2_256
    assert auth.signed_octets(msg, nonce, pid, key, body) == auth.signed_octets(msg, nonce, pid, key, idp)
    assert auth.signed_octets(msg, nonce, pid, key, bytearray(body)) == auth.signed_octets(msg, nonce, pid, key, body)
    with pytest.raises(ConfigError):
        auth.signed_octets(msg, nonce, pid, key, b"\x02\x00\x00")  # shorter than ID Type and RESERVED


# ------------------------------------------------------------------ round 2: the same split, fewer calls


def _every_encryption() -> list[Encryption]:
    """Every cipher and key length ikelab builds without allow_weak (3DES has no salt either)."""
    return [T.encryption(alg, bits) for alg in T.ENCRYPTION_IDS if alg is not EncrId.ENCR_3DES
            for bits in T.key_lengths(alg) or (None,)]


@pytest.mark.parametrize("encr", _every_encryption(), ids=lambda e: f"{e.name}-{e.key_bits}")
def test_prepare_splits_the_keymat_as_cipher_key_len_does(encr: Encryption) -> None:
    key, iv, data = os.urandom(encr.key_len), os.urandom(encr.iv_len), os.urandom(encr.block_size * 3)
    cipher_key, salt = encr._prepare(key, iv, data, b"", "plaintext")[:2]
    assert (cipher_key, salt) == encr.split_keymat(key)
    assert (cipher_key, salt) == (key[: encr.cipher_key_len], key[encr.cipher_key_len :])
    assert len(cipher_key) == encr.cipher_key_len and len(salt) == encr.salt_len


_ID_DATA = {IdType.ID_IPV4_ADDR: b"\xc0\x00\x02\x01", IdType.ID_IPV6_ADDR: bytes(15) + b"\x01"}


@pytest.mark.parametrize("member", list(IdType))
def test_format_identity_takes_a_member_as_lookup_gives_it(member: IdType) -> None:
    from ikelab.constants import lookup
    from ikelab.errors import IkelabError
    from ikelab.identity import format_identity

    data = _ID_DATA.get(member, b"moon")
    assert lookup(IdType, member) is member
    results: list[object] = []
    for id_type in (member, int(member), member.name):
        try:
            results.append(format_identity(id_type, data))
        except IkelabError as exc:  # e.g. a DN that does not parse: the same error every way
            results.append((type(exc), str(exc)))
    assert results[0] == results[1] == results[2]


def test_format_identity_and_dh_group_refuse_what_lookup_refuses() -> None:
    from ikelab import dh
    from ikelab.errors import UnknownAlgorithmError
    from ikelab.identity import format_identity

    for bad in (250, "ID_NONE_SUCH", True):
        with pytest.raises(UnknownAlgorithmError) as err:
            format_identity(bad, b"moon")  # type: ignore[arg-type]
        assert err.value.field == "id_type"
    for bad in (4321, "MODP_NONE_SUCH"):
        with pytest.raises(UnknownAlgorithmError) as err:
            dh.group(bad)
        assert err.value.field == "id"


@pytest.mark.parametrize("member", list(DhId))
def test_dh_group_takes_a_member_as_its_number_and_name(member: DhId) -> None:
    from ikelab import dh
    from ikelab.errors import IkelabError

    results = []
    for gid in (member, int(member), member.name):
        try:
            results.append(dh.group(gid, allow_weak=False))
        except IkelabError as exc:  # weak, deprecated or not implemented: the same refusal every way
            results.append((type(exc), str(exc), exc.field))
    assert results[0] == results[1] == results[2]
    assert results[0] is results[1] or isinstance(results[0], tuple)


def test_exchange_member_name_is_exchange_name() -> None:
    from ikelab.constants import ExchangeType

    for member in ExchangeType:
        assert member._name_ == W.exchange_name(member) == W.exchange_name(int(member))
    assert W.exchange_name(250) == "EXCHANGE_250"  # a number without a member still goes through exchange_name
