"""Valid inputs and right answers for the exercises of lessons 08-11, for tests/test_exercises.py.

Right answers are worked by hand from the RFCs (details in tests/test_exercises_negotiation.py, _esp.py, _trace.py and
_comments.py): RFC 7296 2.7 with strongSwan's prefer-configured default (the responder's first entry,
aes128-sha256-modp2048, is offered as #3); RFC 4303 2.4 (84 + 10 + 2 = 96, a multiple of the 16-byte AES block);
RFC 7296 1.3 and 2.8 (the first 4 s of the classic trace: one CHILD SA from IKE_AUTH and its rekey);
RFC 7296 1.2/1.3 (4 + 2 x 3 = 10 messages for 4 CHILD SAs); RFC 7296 2.8, 2.4 and RFC 7815 (two renewals in 2.5 h:
4 + 2 x 4 messages either way, one Diffie-Hellman rekeying, three starting over); RFC 7296 3.3.1 (an answer under a
Proposal Num never offered is invalid); RFC 4303 2.1 and RFC 7296 2.8 (read off the packet list of the same 4 s:
after the CREATE_CHILD_SA of packet 10, sun's ESP packets carry 0x417e3384, first in packet 17).
"""

from __future__ import annotations

import tempfile
from typing import Any


def _trace_rows() -> Any:
    from ikelab import dissect, scenario

    with tempfile.TemporaryDirectory() as tmp:
        paths = scenario.classic(duration=4.0, reconnect_at=None).write(tmp)
        return dissect.dissect(paths["pcap"], tmp)


TRACE_ROWS = _trace_rows()
GIVEN: dict[str, dict[str, Any]] = {
    "negotiation.chosen": dict(offered="aes256gcm16-prfsha384-ecp384, aes128-sha256-ecp256, aes128-sha256-modp2048",
                               configured="aes128-sha256-modp2048, aes256gcm16-prfsha384-ecp384"),
    "negotiation.valid-answers": dict(offered="aes128-sha256-modp2048", answers={"X": (1, "aes128-sha256-modp2048"),
                                                                                 "Y": (2, "aes128-sha256-modp2048")}),
    "esp.pad-length": dict(payload_len=84, block_size=16),
    "esp.packet-length": dict(inner_len=95, mode="tunnel", encr="ENCR_AES_CBC", key_bits=128,
                              integ="AUTH_HMAC_SHA2_256_128"),
    "trace.child-sas": dict(rows=TRACE_ROWS),
    "trace.rekeyed-spi": dict(rows=TRACE_ROWS),
    "comments.ikev2-messages": dict(n_children=4),
    "comments.renewal-cost": dict(hours=2.5),
}
RIGHT: dict[str, Any] = {
    "negotiation.chosen": "aes128-sha256-modp2048",
    "negotiation.valid-answers": {"X"},  # RFC 7296 3.3.1: Y names a proposal number that was never offered
    "esp.pad-length": 10,
    "esp.packet-length": 20 + 8 + 16 + 112 + 16,  # RFC 4303 2: outer IPv4, SPI | Seq, IV, 95 + 15 + 2, ICV
    "trace.child-sas": (1, 1),
    "trace.rekeyed-spi": (0x417E3384, 17),
    "comments.ikev2-messages": 10,
    # two hourly renewals: CREATE_CHILD_SA + Delete (no KE), or a new IKE_SA_INIT + IKE_AUTH (one KE pair each)
    "comments.renewal-cost": {"full": (4 + 2 * 4, 1), "minimal": (4 + 2 * 4, 1 + 2)},
}
