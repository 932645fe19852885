"""Review tests from a mutation pass over proposals.py, sk.py and prf.py.

Each test pins a rule that a hand-made mutant of the code broke without any
other test noticing.  Expected values come from the RFC text (RFC 7296 2.7,
3.3.3, 3.3.6, 3.14) or are recomputed here with pyca/cryptography and the
standard library, never copied from ikelab's own output.
"""

from __future__ import annotations

import hmac as stdlib_hmac
import struct
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ikewire_samples import SPI_I, SPI_R, ike_auth_request, suite_crypto
from ikelab.constants import DhId, EncrId, EsnId, IntegId, ProtocolId, TransformType
from ikelab.errors import ConfigError, IntegrityError, NegotiationError, ParseError
from ikelab.message import Message
from ikelab.payloads import SKF, Proposal, Transform
from ikelab.proposals import check_chosen, parse_proposal, parse_proposals, select, suite_of
from ikelab.sk import SkCrypto, protect, reassemble, unprotect

IKE, ESP = ProtocolId.IKE, ProtocolId.ESP
AES128 = Transform(TransformType.ENCR, EncrId.ENCR_AES_CBC, 128)
AES256 = Transform(TransformType.ENCR, EncrId.ENCR_AES_CBC, 256)
SHA256_128 = Transform(TransformType.INTEG, IntegId.AUTH_HMAC_SHA2_256_128)


def _without(p: Proposal, ttype: TransformType) -> Proposal:
    return Proposal(p.number, p.protocol, b"", tuple(t for t in p.transforms if t.type != ttype))


# -- negotiation: the responder's selection (RFC 7296 2.7, 3.3.6) ------------------------------------------------


def test_dh_none_never_satisfies_an_ike_proposal():
    """RFC 7296 3.3.3: D-H is mandatory for IKE, so DH NONE on both sides is no common group."""
    base = parse_proposal("aes128-sha256-modp2048")
    none = Transform(TransformType.DH, DhId.NONE)
    offered = Proposal(1, IKE, b"", _without(base, TransformType.DH).transforms + (none,))
    configured = Proposal(1, IKE, b"", base.transforms + (none,))
    with pytest.raises(NegotiationError, match="no common DH"):
        select([offered], [configured])


def test_a_configured_esp_proposal_without_esn_reads_as_no_esn():
    """An absent ESN transform means no extended sequence numbers (RFC 7296 3.3.2: ESN "No" is the
    32-bit counter); an offer of both takes NO_ESN from such a configuration."""
    configured = Proposal(1, ESP, b"", (AES128, SHA256_128))
    offered = parse_proposals("aes128-sha256-esn-noesn", "ESP")
    (esn,) = select(offered, [configured]).of_type(TransformType.ESN)
    assert int(esn.id) == EsnId.NO_ESN


def test_a_transform_with_an_unknown_attribute_is_unacceptable():
    """RFC 7296 3.3.6: a transform "that contains a Transform Attribute it does not understand" is
    unacceptable; other transforms of the same type are still considered."""
    odd = Transform(TransformType.ENCR, EncrId.ENCR_AES_CBC, 128, ((100, 1),))
    rest = parse_proposal("aes128-sha256-modp2048").transforms[1:]
    configured = Proposal(1, IKE, b"", (odd, AES256) + rest)
    offered = Proposal(1, IKE, b"", (odd, AES256) + rest)
    (encr,) = select([offered], [configured]).of_type(TransformType.ENCR)
    assert encr == AES256


def test_a_keyword_given_twice_is_one_transform():
    """Two spellings of one algorithm (strongSwan's ``aes`` is ``aes128``, ``sha2_256`` is ``sha256``) or one keyword
    repeated make one transform, not two copies of it."""
    once = parse_proposal("aes128-sha256-modp2048")
    assert parse_proposal("aes-aes128-sha256-sha2_256-modp2048-modp2048").transforms == once.transforms


def test_an_ah_offer_never_matches_an_esp_configuration():
    """RFC 7296 3.3.1: the Protocol ID is part of the proposal; an AH offer is no answer to ESP policy even
    when its transforms would fit (AH has no ENCR transform to disagree on)."""
    ah = parse_proposals("sha256", "AH")
    with pytest.raises(NegotiationError):
        select(ah, parse_proposals("aes128-sha256", "ESP"))
    assert select(ah, parse_proposals("sha256", "AH")).protocol == ProtocolId.AH


def test_an_ah_offer_with_encryption_is_refused_for_that_reason():
    """RFC 7296 3.3.3: AH carries INTEG, ESN and optionally D-H; an ENCR transform makes the proposal unacceptable."""
    ah = parse_proposal("sha256", "AH")
    with_encr = Proposal(1, ProtocolId.AH, b"", (AES128,) + ah.transforms)
    with pytest.raises(NegotiationError, match="not allowed for AH"):
        select([with_encr], [ah])


# -- negotiation: the initiator's check of the answer (RFC 7296 2.7, 3.3.3) ---------------------------------------


@pytest.mark.parametrize("ttype, other", [
    (TransformType.ENCR, AES256),
    (TransformType.PRF, Transform(TransformType.PRF, 7)),  # PRF_HMAC_SHA2_512
    (TransformType.INTEG, Transform(TransformType.INTEG, 14)),  # AUTH_HMAC_SHA2_512_256
    (TransformType.DH, Transform(TransformType.DH, 19)),  # ECP_256
])
def test_check_chosen_checks_every_transform_of_the_answer(ttype: TransformType, other: Transform):
    offered = parse_proposals("aes128-sha256-modp2048")
    answer = Proposal(1, IKE, b"", tuple(other if t.type == ttype else t for t in offered[0].transforms))
    with pytest.raises(NegotiationError, match="did not offer"):
        check_chosen(offered, answer)


def test_check_chosen_needs_a_prf_in_an_ike_answer():
    offered = parse_proposals("aes128-sha256-modp2048")
    with pytest.raises(NegotiationError, match="lacks PRF"):
        check_chosen(offered, _without(offered[0], TransformType.PRF))


def test_check_chosen_needs_integrity_in_a_non_aead_esp_answer():
    offered = parse_proposals("aes128-sha256", "ESP")
    with pytest.raises(NegotiationError, match="lacks INTEG"):
        check_chosen(offered, _without(offered[0], TransformType.INTEG))


def test_check_chosen_takes_no_esn_for_an_offer_without_esn():
    """An offer that names no ESN transform can only mean 32-bit sequence numbers: NO_ESN in the answer is
    that, ESN is something we did not offer."""
    offered = [Proposal(1, ESP, b"", (AES128, SHA256_128))]
    no_esn = Proposal(1, ESP, b"", (AES128, SHA256_128, Transform.esn(False)))
    assert check_chosen(offered, no_esn).esn is False
    with pytest.raises(NegotiationError, match="did not offer"):
        check_chosen(offered, Proposal(1, ESP, b"", (AES128, SHA256_128, Transform.esn(True))))


def test_integ_none_beside_an_aead_cipher_reads_as_no_integrity():
    """RFC 5282 8: an AEAD proposal carries no integrity transform "or" INTEG NONE; either way there is none."""
    aead = parse_proposal("aes256gcm16-prfsha384-ecp384")
    none = Transform(TransformType.INTEG, IntegId.NONE)
    offered = [Proposal(1, IKE, b"", aead.transforms + (none,))]
    suite = check_chosen(offered, offered[0])
    assert suite.integ is None and suite.is_aead


def test_an_optional_pfs_offer_takes_an_answer_with_dh_none():
    """RFC 7296 3.3.2: an initiator that offers a group and NONE makes PFS optional; the answer NONE is no group."""
    esp = parse_proposal("aes128-sha256-modp2048", "ESP")
    dh_none = Transform(TransformType.DH, DhId.NONE)
    offered = [Proposal(1, ESP, b"", esp.transforms + (dh_none,))]
    answer = Proposal(1, ESP, b"", tuple(dh_none if t.type == TransformType.DH else t for t in esp.transforms))
    assert check_chosen(offered, answer).dh is None
    assert check_chosen(offered, _without(esp, TransformType.DH)).dh is None
    assert check_chosen(offered, esp).dh == DhId.MODP_2048


def test_suite_of_reads_the_esn_transform_id():
    assert suite_of(parse_proposal("aes128-sha256-noesn", "ESP")).esn is False
    assert suite_of(parse_proposal("aes128-sha256-esn", "ESP")).esn is True


# -- the SK payload (RFC 7296 3.14) ---------------------------------------------------------------------------------


def _cbc_sha256_message(crypto: SkCrypto, ciphertext: bytes) -> bytes:
    """HDR, SK{} whose body is IV | ``ciphertext`` | a correct HMAC-SHA-256-128 ICV, built by hand."""
    iv = bytes(16)
    sk_len = 4 + len(iv) + len(ciphertext) + 16
    header = SPI_I + SPI_R + bytes((46, 0x20, 37, 0x08)) + struct.pack("!II", 2, 28 + sk_len)
    prefix = header + bytes((0, 0)) + struct.pack("!H", sk_len) + iv + ciphertext
    mac = hmac.HMAC(crypto.sk_a, hashes.SHA256())
    mac.update(prefix)  # RFC 7296 3.14: from the IKE header through the Pad Length
    return prefix + mac.finalize()[:16]


def test_an_sk_payload_without_a_pad_length_octet_is_a_parse_error():
    """RFC 7296 3.14: the encrypted part holds at least the Pad Length octet.  Even with a good ICV,
    IV | ICV alone is malformed (a ParseError naming the field), not a crash on the missing octet."""
    crypto = suite_crypto("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128")
    with pytest.raises(ParseError) as err:
        unprotect(_cbc_sha256_message(crypto, b""), crypto)
    assert err.value.field == "SK.encrypted"


class _CountingCipher:
    """The cipher of an SkCrypto, counting its decrypt calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.decrypts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def decrypt(self, *args: Any) -> bytes:
        self.decrypts += 1
        return self.inner.decrypt(*args)


def test_the_icv_is_checked_before_anything_is_decrypted():
    """RFC 7296 3.14 / 2.21.2: a message whose ICV fails is discarded; ikelab promises not to decrypt it at all."""
    crypto = suite_crypto("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128")
    counting = _CountingCipher(crypto.encr)
    spy = replace(crypto, encr=counting)
    data = bytearray(protect(ike_auth_request(), crypto))
    unprotect(bytes(data), spy)
    assert counting.decrypts == 1
    data[-20] ^= 1  # in the last ciphertext block
    with pytest.raises(IntegrityError):
        unprotect(bytes(data), spy)
    assert counting.decrypts == 1


def test_the_icv_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch):
    """The ICV comparison goes through hmac.compare_digest (no early exit at the first differing octet)."""
    calls: list[tuple[bytes, bytes]] = []
    real = stdlib_hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((bytes(a), bytes(b)))
        return real(a, b)

    import ikelab.transforms

    monkeypatch.setattr(ikelab.transforms.hmac, "compare_digest", spy)
    crypto = suite_crypto("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128")
    data = bytearray(protect(ike_auth_request(), crypto))
    data[-1] ^= 1
    with pytest.raises(IntegrityError):
        unprotect(bytes(data), crypto)
    assert len(calls) == 1 and calls[0][1] == bytes(data[-16:])


def test_cbc_sk_plaintext_matches_an_independent_decryption():
    """The SK body decrypted with AES-CBC from pyca/cryptography: inner payloads | zero padding | Pad Length."""
    crypto = suite_crypto("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128")
    data = protect(ike_auth_request(), crypto)
    sk_len = struct.unpack("!H", data[30:32])[0]
    body = data[32 : 28 + sk_len]
    iv, ct = body[:16], body[16:-16]
    dec = Cipher(algorithms.AES(crypto.sk_e), modes.CBC(iv)).decryptor()
    padded = dec.update(ct) + dec.finalize()
    pad = padded[-1]
    assert pad < 16 and padded[-1 - pad : -1] == bytes(pad)
    assert padded[: -1 - pad] == unprotect(data, crypto).payloads[0].details.plaintext


@pytest.mark.parametrize("numbers", [(1, 3), (0, 1)])
def test_reassembly_of_hand_built_fragments_numbered_out_of_range_is_a_config_error(numbers: tuple[int, int]):
    """RFC 7383 2.5: 1 <= Fragment Number <= Total Fragments.  Decoding checks that; reassemble() also takes
    decrypted messages built by hand, whose numbers nothing checked: a typed error, not a KeyError."""
    fragments = [Message(SPI_I, SPI_R, 37, True, False, 1, (SKF(n, 2, content=b"", next_payload=0),)) for n in numbers]
    with pytest.raises(ConfigError, match="fragment"):
        reassemble(fragments)


def test_suite_of_one_transforms_tuple_under_two_protocols():
    """suite_of remembers suites by the transforms tuple's identity (ikelab.memo); the protocol is part of the
    answer, so one tuple in an ESP and in an AH proposal gives two suites."""
    transforms = (SHA256_128, Transform.esn(False))
    esp, ah = Proposal(1, ESP, b"", transforms), Proposal(1, ProtocolId.AH, b"", transforms)
    assert (suite_of(esp).protocol, suite_of(ah).protocol) == (ESP, ProtocolId.AH)
    assert (suite_of(ah).protocol, suite_of(esp).protocol) == (ProtocolId.AH, ESP)
