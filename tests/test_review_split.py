"""Long modules were split into modules of one idea (transforms, policy, wireshark, packet, esp, dissect, cli): each
old module stays the public facade.

Every public name is still there, and is the very object its new home defines (tests compare transforms by
``is`` and caches key by identity).  Code that must change a part's setting (a test lowering
``transforms_encr._CTR_MAX_BLOCKS``) sets it on the part that reads it.
"""

from __future__ import annotations

import importlib

import pytest

from ikelab import cli, dissect, esp, packet, policy, transforms, wireshark

_PARTS = {
    transforms: ("transforms_common", "transforms_encr", "transforms_integ"),
    policy: ("policy_selectors", "policy_databases"),
    wireshark: ("wireshark_names", "wireshark_records", "wireshark_lookup", "wireshark_files"),
    packet: ("packet_format", "packet_build", "packet_parse"),
    esp: ("esp_packet", "esp_transforms", "esp_sa"),
    dissect: ("dissect_rows", "dissect_ip", "dissect_ike", "dissect_esp", "dissect_frames"),
    cli: ("cli_parser", "cli_derive", "cli_captures", "cli_live"),
}


@pytest.mark.parametrize("facade", list(_PARTS), ids=lambda m: m.__name__.split(".")[-1])
def test_every_public_name_is_its_parts_object(facade) -> None:
    homes = {}
    for part_name in _PARTS[facade]:
        part = importlib.import_module(f"ikelab.{part_name}")
        assert part.__doc__ and len(part.__doc__) > 80, f"{part_name} needs a docstring that says its one idea"
        homes.update({n: (part_name, v) for n, v in vars(part).items() if not n.startswith("__")})
    # a facade without __all__ (cli) must still offer every public function and class its parts define
    names = getattr(facade, "__all__", None) or [n for n, (part_name, v) in homes.items() if not n.startswith("_")
                                                 and getattr(v, "__module__", None) == f"ikelab.{part_name}"]
    assert names
    for name in names:
        value = getattr(facade, name)  # AttributeError: a name lost in the split
        if name in homes:
            assert value is homes[name][1], f"{facade.__name__}.{name} is not {homes[name][0]}.{name}"


def test_the_same_transform_objects_through_either_module() -> None:
    from ikelab import transforms_encr, transforms_integ

    assert transforms.encryption("ENCR_AES_CBC", 128) is transforms_encr.encryption("ENCR_AES_CBC", 128)
    assert transforms.integrity("AUTH_HMAC_SHA2_256_128") is transforms_integ.integrity("AUTH_HMAC_SHA2_256_128")
    assert transforms._KEYED is importlib.import_module("ikelab.transforms_common")._KEYED
