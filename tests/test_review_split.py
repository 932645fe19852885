"""ikelab.transforms and ikelab.policy were each split into modules of one idea: the two stay the public facades.

Every public name is still there, and is the very object its new home defines (tests compare transforms by
``is`` and caches key by identity).  Code that must change a part's setting (a test lowering
``transforms_encr._CTR_MAX_BLOCKS``) sets it on the part that reads it.
"""

from __future__ import annotations

import importlib

import pytest

from ikelab import policy, transforms

_PARTS = {
    transforms: ("transforms_common", "transforms_encr", "transforms_integ"),
    policy: ("policy_selectors", "policy_databases"),
}


@pytest.mark.parametrize("facade", [transforms, policy], ids=["transforms", "policy"])
def test_every_public_name_is_its_parts_object(facade) -> None:
    homes = {}
    for part_name in _PARTS[facade]:
        part = importlib.import_module(f"ikelab.{part_name}")
        assert part.__doc__ and "RFC" in part.__doc__, f"{part_name} needs a docstring naming its RFC sections"
        homes.update({n: (part_name, v) for n, v in vars(part).items() if not n.startswith("__")})
    assert facade.__all__
    for name in facade.__all__:
        value = getattr(facade, name)  # AttributeError: a name lost in the split
        if name in homes:
            assert value is homes[name][1], f"{facade.__name__}.{name} is not {homes[name][0]}.{name}"


def test_the_same_transform_objects_through_either_module() -> None:
    from ikelab import transforms_encr, transforms_integ

    assert transforms.encryption("ENCR_AES_CBC", 128) is transforms_encr.encryption("ENCR_AES_CBC", 128)
    assert transforms.integrity("AUTH_HMAC_SHA2_256_128") is transforms_integ.integrity("AUTH_HMAC_SHA2_256_128")
    assert transforms._KEYED is importlib.import_module("ikelab.transforms_common")._KEYED
