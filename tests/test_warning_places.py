"""Every warning ikelab gives names the line of the user's call, never a line inside ikelab.

Python shows a warning once per place (its "default" filter).  A weak-algorithm warning that named a
line inside esp.py or sk.py was shown once per process for every caller, at a line the user never
wrote; ``errors.warn_outside`` attributes each warning to the first frame outside the package.
"""

from __future__ import annotations

import io
import warnings
from typing import Any, Callable

import pytest

from ikelab import dh, keys
from ikelab.ah import AhSa
from ikelab.errors import CaptureWarning, WeakAlgorithmWarning, warn_outside
from ikelab.esp import EspSa
from ikelab.lab import Lab
from ikelab.pcap import read_capture, write_pcap
from ikelab.sk import SkCrypto
from ikelab.wireshark import parse_esp_sa_table

from test_ike import configs


def places(call: Callable[[], Any], category: type[Warning]) -> set[tuple[str, int]]:
    """Where the warnings of ``category`` that ``call`` gives say they come from (every one shown)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    found = {(w.filename, w.lineno) for w in caught if issubclass(w.category, category)}
    assert found, f"no {category.__name__}"
    return found


def line_of(call: Callable[[], Any]) -> set[tuple[str, int]]:
    return {(__file__, call.__code__.co_firstlineno)}


WEAK_CALLS = {
    "ESP SA with 3DES": lambda: EspSa(0x1001, direction="inbound", encryption="ENCR_3DES", encryption_key=bytes(24),
                                      integrity="AUTH_HMAC_SHA2_256_128", integrity_key=bytes(32), allow_weak=True),
    "AH SA with HMAC-MD5": lambda: AhSa(0x1002, direction="inbound", integrity="AUTH_HMAC_MD5_96",
                                        integrity_key=bytes(16), allow_weak=True),
    "SK with 3DES and MD5": lambda: SkCrypto.create("ENCR_3DES", bytes(24), integ="AUTH_HMAC_MD5_96",
                                                    sk_a=bytes(16), allow_weak=True),
    "SKEYSEED with PRF_HMAC_MD5": lambda: keys.skeyseed("PRF_HMAC_MD5", bytes(16), bytes(16), bytes(32),
                                                        allow_weak=True),
    "MODP-1024": lambda: dh.group("MODP_1024", allow_weak=True),
}


@pytest.mark.parametrize("name", sorted(WEAK_CALLS))
def test_a_weak_algorithm_warning_names_the_callers_line(name: str) -> None:
    call = WEAK_CALLS[name]
    assert places(call, WeakAlgorithmWarning) == line_of(call)


def test_warnings_during_a_lab_run_name_the_line_that_ran_it() -> None:
    weak = dict(ike="3des-sha256-modp2048", esp="3des-sha256", allow_weak=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakAlgorithmWarning)  # those of the configuration itself
        lab = Lab(*configs(**weak), seed=4)
    lab.initiate()

    def run() -> None:
        lab.run_until_idle()

    assert places(run, WeakAlgorithmWarning) == {(__file__, run.__code__.co_firstlineno + 1)}
    assert lab.initiator.established


def test_capture_warnings_name_the_readers_caller() -> None:
    out = io.BytesIO()
    write_pcap(out, [(0.0, bytes(40)), (1.0, bytes(40))])
    cut = out.getvalue()[:-5]

    def read() -> None:
        read_capture(io.BytesIO(cut), strict=False)

    assert places(read, CaptureWarning) == {(__file__, read.__code__.co_firstlineno + 1)}

    line = '"IPv4","192.0.2.1","192.0.2.2","0x00001001","AES-CBC [RFC3602]","0x' + "00" * 16 + \
        '","HMAC-SHA-256-128 [RFC4868]","0x' + "00" * 32 + '","extra"\n'

    def parse() -> None:
        parse_esp_sa_table(line)

    assert places(parse, CaptureWarning) == {(__file__, parse.__code__.co_firstlineno + 1)}


def test_warn_outside_called_from_outside_ikelab_names_its_caller() -> None:
    def call() -> None:
        warn_outside(UserWarning("from a test"))

    assert places(call, UserWarning) == {(__file__, call.__code__.co_firstlineno + 1)}
