"""ikelab.transforms and ikelab.policy were each split into modules of one idea: the two stay the public facades.

Every name either module defined before the split is still there, and is the very object its new home defines
(tests compare transforms by ``is`` and caches key by identity).  Setting a name on ``ikelab.transforms`` (as
tests/test_transforms.py lowers ``_CTR_MAX_BLOCKS``) still changes what the code reads.
"""

from __future__ import annotations

import importlib

import pytest

from ikelab import policy, transforms

# The top-level names of transforms.py and policy.py before the split (their __all__ and private helpers alike).
_TRANSFORMS_NAMES = (
    "AesCbc AesCcm AesCtr AesGcm BytesLike ChaCha20Poly1305Cipher CipherSuite ENCRYPTION_IDS Encryption "
    "INTEGRITY_IDS Integrity NullEncryption TripleDesCbc WIRESHARK_ESP_AUTH_NULL WIRESHARK_IKEV2_INTEG_NONE "
    "_AES_KEY_BITS _AeadPrimitive _CTR_MAX_BLOCKS _Cbc _ENCR_SPECS _EncrSpec _INTEG_SPECS _KEYED _KEYED_MAX _MACS "
    "_MD5_WEAK _TRANSFORM_ATTRS _WEAK_ENCR _aes_cmac _as_bytes _checked_encryption _checked_integrity "
    "_context_makers _decryptor _encr_spec _encryption _encryptor _hmac _integrity _keyed _public_decryptor "
    "_public_encryptor _warn_or_refuse cipher_suite encryption integrity key_lengths require_transform hmac"
).split()
_POLICY_NAMES = (
    "ANY_PORT Action AddressRange Decision InstalledChildSa IpsecProcessor Policy PortRange Sad Selector Spd "
    "TrafficSelector _Addr _KEEPALIVE _PROTO_NAMES _as_selectors _check_sa_pair _direction _ts_hint _ts_tuple "
    "packet_view selectors_from_ts"
).split()
_PARTS = {
    transforms: ("transforms_common", "transforms_encr", "transforms_integ"),
    policy: ("policy_selectors", "policy_databases"),
}


@pytest.mark.parametrize("facade,names", [(transforms, _TRANSFORMS_NAMES), (policy, _POLICY_NAMES)],
                         ids=["transforms", "policy"])
def test_every_name_is_still_there_and_is_its_parts_object(facade, names) -> None:
    missing = [n for n in names if not hasattr(facade, n)]
    assert missing == []
    for part_name in _PARTS[facade]:
        part = importlib.import_module(f"ikelab.{part_name}")
        assert part.__doc__ and "RFC" in part.__doc__, f"{part_name} needs a docstring naming its RFC sections"
        for n in names:
            if n in vars(part) and not n.startswith("__"):
                assert getattr(facade, n) is vars(part)[n], f"{facade.__name__}.{n} is not {part_name}.{n}"
    assert set(facade.__all__) <= set(names)


def test_the_same_transform_objects_through_either_module() -> None:
    from ikelab import transforms_encr, transforms_integ

    assert transforms.encryption("ENCR_AES_CBC", 128) is transforms_encr.encryption("ENCR_AES_CBC", 128)
    assert transforms.integrity("AUTH_HMAC_SHA2_256_128") is transforms_integ.integrity("AUTH_HMAC_SHA2_256_128")
    assert transforms._KEYED is importlib.import_module("ikelab.transforms_common")._KEYED


def test_setting_a_name_on_the_facade_sets_it_where_the_code_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from ikelab import transforms_encr

    original = transforms_encr._CTR_MAX_BLOCKS
    monkeypatch.setattr(transforms, "_CTR_MAX_BLOCKS", 2)
    assert transforms_encr._CTR_MAX_BLOCKS == 2 == transforms._CTR_MAX_BLOCKS
    monkeypatch.undo()
    assert transforms_encr._CTR_MAX_BLOCKS == original == transforms._CTR_MAX_BLOCKS
    transforms.__doc__ = transforms.__doc__  # a dunder stays the facade's own
    assert transforms_encr.__doc__ != transforms.__doc__
