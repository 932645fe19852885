"""Odd CREATE_CHILD_SA and INFORMATIONAL requests inside an established IKE SA: charon and ikelab answer.

An ikelab initiator (:class:`ikelab.ike.IkeSa`, sans-IO, in this process) sets up an IKE SA and its CHILD SA
with strongSwan's charon (namespace B; the datagrams go through a small relay in namespace A, bound to ports
500 and 4500) and, the same way, with an in-process ikelab responder (:class:`ikelab.endpoint.IkeEndpoint`).  Then it
sends one crafted request in each: the payload list of its own CREATE_CHILD_SA or INFORMATIONAL request is
changed just before it is encrypted (``IkeSa._request`` is wrapped for that one request, then restored).
Each variant runs on a fresh IKE SA.  Compared: the decrypted answer (which Notify, which payloads) and
what each responder keeps (IKE SA up, the first CHILD SA, how many new ones; for charon from
``swanctl --list-sas``).

Where RFC 7296 leaves room, the tests assert what both must satisfy (``Variant.allowed``) and the
difference is a row here:

| variant | RFC 7296 | charon 5.9.8 | ikelab |
|---|---|---|---|
| INVALID_SYNTAX Notify in an INFORMATIONAL request | 2.21.2, 3.10.1 | answer, SA kept | answer, SA closed |
| CREATE_CHILD_SA, KEi in an offered group not chosen, not a point | 1.3 | NO_PROPOSAL_CHOSEN (*) | INVALID_KE_PAYLOAD |
| IKE SA rekey proposal with a zero SPI | 3.1 | rekeyed (**) | INVALID_SYNTAX |

In the first row both send an empty answer; ikelab then closes the IKE SA without a Delete.  2.21.2 lets
an initiator report an IKE_AUTH error in a separate INFORMATIONAL, after which the IKE SA is gone; RFC 7296
says nothing of an error Notify in a request on an established IKE SA, so ikelab's close and charon's shrug
are both allowed.  (*) charon checks the KE value before it chooses the group: 64 octets that are no P-256
point get NO_PROPOSAL_CHOSEN, a valid point INVALID_KE_PAYLOAD; 1.3 asks for INVALID_KE_PAYLOAD naming the
chosen group whenever KEi is of another group, whatever its value: here charon leaves the RFC, ikelab does
not.  (**) charon answers SA, Nr, KEr and moves to a new IKE SA whose SPIi is zero, which 3.1 forbids ("This
value MUST NOT be zero"); ikelab refuses the proposal, the old IKE SA stays.

Where both answer INVALID_SYNTAX (a Delete with SPI Size 0 or 8 for ESP, an ESP proposal with SPI Size 8,
an IKE rekey proposal with SPI Size 4, no Ni or an 8-octet Ni in CREATE_CHILD_SA, no Ni in an IKE rekey),
charon then destroys the IKE SA and its CHILD SAs without telling the peer, while ikelab keeps them:
RFC 7296 (2.21.3: "all requests having errors MUST result in a response notifying about the error") names
no fate for the IKE SA, so both are allowed; the ikelab half asserts that ikelab keeps them, the charon
half that charon still destroys it (so that a change shows here).  Both answer CHILD_SA_NOT_FOUND to a
REKEY_SA naming an unknown SPI (or the ESP SPI as AH); ikelab's Notify repeats the REKEY_SA's protocol and
SPI, charon's has none (RFC 7296 does not say).  Both answer a KEi whose group the SA does not offer (3.4)
with INVALID_KE_PAYLOAD naming X25519, and an IKE rekey without KEi too (1.3.2 makes KEi mandatory there:
INVALID_SYNTAX is allowed as well).

Run: ``cd tests && python -m pytest -n0 interop/test_review_requests_vs_charon.py`` (one charon for the
module, namespaces deleted at the end; the ikelab half runs without charon).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

import pytest

from ikelab import exchanges_wire as W
from ikelab.config import IkeConfig
from ikelab.constants import NotifyType, ProtocolId, TransformType
from ikelab.endpoint import IkeEndpoint
from ikelab.exchanges_common import Datagram
from ikelab.ike import IkeSa
from ikelab.payloads import SA as SaPayload
from ikelab.payloads import KE as KePayload
from ikelab.payloads import Nonce, Notify, TSi, TSr, UnknownPayload
from ikelab.state import State
from ikelab.wire import Payload

# RFC 7296 3.10.1 numbers, written out so that no ikelab table decides them
UNSUPPORTED_CRITICAL_PAYLOAD, INVALID_SYNTAX, NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD = 1, 7, 14, 17
TS_UNACCEPTABLE, CHILD_SA_NOT_FOUND, IPCOMP_SUPPORTED = 38, 44, 16387
NAMES = {UNSUPPORTED_CRITICAL_PAYLOAD: "UNSUPPORTED_CRITICAL_PAYLOAD", INVALID_SYNTAX: "INVALID_SYNTAX",
         NO_PROPOSAL_CHOSEN: "NO_PROPOSAL_CHOSEN", INVALID_KE_PAYLOAD: "INVALID_KE_PAYLOAD",
         TS_UNACCEPTABLE: "TS_UNACCEPTABLE", CHILD_SA_NOT_FOUND: "CHILD_SA_NOT_FOUND"}
ESP, X25519, ECP256 = 3, 31, 19
DELETE, UNKNOWN_PAYLOAD = 42, 200
UNKNOWN_STATUS, UNKNOWN_ERROR = 40000, 8000  # unassigned status / error Notify types (IANA, 3.10.1)
UNKNOWN_SPI = b"\xde\xad\xbe\xef"
#: a KEi whose group the SA does not offer breaks 3.4 ("MUST match a Diffie-Hellman group specified in a
#: proposal in the SA payload that is sent in the same message"); no Notify is named for it
KE_NOT_OFFERED = ("notify:INVALID_KE_PAYLOAD", "notify:NO_PROPOSAL_CHOSEN", "notify:INVALID_SYNTAX")

PSK = "ikelab-interop-psk"
ID_I, ID_R = "alice@example.org", "gw.example.com"
IKE, ESP_PROPOSAL = "aes128-sha256-x25519", "aes128-sha256-x25519"  # PFS: CREATE_CHILD_SA carries KEi
# addresses of the ikelab-only half (the charon half uses the namespaces' own)
LAB_A, LAB_B, LAB_INNER_A, LAB_INNER_B = "192.0.2.1", "192.0.2.2", "198.51.100.1", "203.0.113.1"


class RawPayload(Payload):
    """A payload whose body is given as bytes (a Delete with a wrong SPI Size, which ikelab's Delete refuses)."""

    __slots__ = ("payload_type", "body", "critical")

    def __init__(self, payload_type: int, body: bytes) -> None:
        self.payload_type, self.body, self.critical = payload_type, body, False

    def _body(self, path: str) -> bytes:
        return self.body


def config(local_ts: str, remote_ts: str) -> IkeConfig:
    return IkeConfig(local_id=ID_I, remote_id=ID_R, psk=PSK.encode(), ike_proposals=(IKE,),
                     esp_proposals=(ESP_PROPOSAL,), local_ts=(local_ts,), remote_ts=(remote_ts,),
                     cookie_threshold=None)


# ------------------------------------------------------------------ the crafted requests

Edit = Callable[[IkeSa, list[Any]], list[Any]]


def first_child(sa: IkeSa) -> Any:
    return next(iter(sa.children.values()))


def replaced(kind: type, new: Callable[[Any], Any]) -> Edit:
    """Each payload of class ``kind`` becomes ``new(payload)`` (None: left out)."""
    def edit(sa: IkeSa, payloads: list[Any]) -> list[Any]:
        out = [new(p) if isinstance(p, kind) else p for p in payloads]
        return [p for p in out if p is not None]
    return edit


def only(*make: Callable[[IkeSa], Any]) -> Edit:
    """The request carries exactly these payloads."""
    return lambda sa, payloads: [m(sa) for m in make]


def proposals_with(change: Callable[[Any], Any]) -> Edit:
    return replaced(SaPayload, lambda p: W.sa([change(prop) for prop in p.proposals]))


def encr_3des(prop: Any) -> Any:
    """ENCR_3DES (3) instead of AES-CBC: configured by neither responder."""
    return replace(prop, transforms=tuple(replace(t, id=3, attributes=()) if int(t.type) == int(TransformType.ENCR)
                                          else t for t in prop.transforms))


def spi_size(size: int) -> Callable[[Any], RawPayload]:
    """The SA payload's one proposal with an SPI of ``size`` octets (cut, or padded with 0x77), re-laid by hand
    (RFC 7296 3.3.1: Last, RESERVED, Length, Num, Protocol, SPI Size, Num Transforms, SPI, transforms)."""
    def change(sa_payload: Any) -> RawPayload:
        body = sa_payload._body("SA")
        last, _, length, number, protocol, old, count = struct.unpack_from("!BBHBBBB", body)
        assert (last, length) == (0, len(body)), body.hex()
        spi = (body[8:8 + old] + b"\x77" * size)[:size]
        return RawPayload(33, struct.pack("!BBHBBBB", 0, 0, 8 + size + len(body) - 8 - old, number, protocol, size,
                                          count) + spi + body[8 + old:])
    return change


def dh_first(group: int) -> Callable[[Any], Any]:
    """A proposal that offers DH ``group`` before its own DH transform (RFC 7296 3.3.3: any one of them)."""
    def change(prop: Any) -> Any:
        dh = [t for t in prop.transforms if int(t.type) == int(TransformType.DH)]
        rest = [t for t in prop.transforms if int(t.type) != int(TransformType.DH)]
        return replace(prop, transforms=(*rest, replace(dh[0], id=group), *dh))
    return change


def ike_proposal_first(sa: IkeSa, payloads: list[Any]) -> list[Any]:
    """SAi2 with the IKE SA's own proposal (a new 8-octet SPI) as number 1 and the ESP proposal as number 2."""
    ike = replace(sa.proposal, number=1, protocol=ProtocolId.IKE, spi=os.urandom(8))
    return [W.sa([ike, *(replace(prop, number=2) for prop in p.proposals)]) if isinstance(p, SaPayload) else p
            for p in payloads]


def both(*edits: Edit) -> Edit:
    def edit(sa: IkeSa, payloads: list[Any]) -> list[Any]:
        for e in edits:
            payloads = e(sa, payloads)
        return payloads
    return edit


def p256_public() -> bytes:
    """A valid ECP-256 public value, x | y (RFC 5903 7): a responder may check it before the group."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(Encoding.X962,
                                                                              PublicFormat.UncompressedPoint)
    return point[1:]


def delete_body(protocol: int, spi_size: int, spis: list[bytes]) -> bytes:
    """A Delete payload body, RFC 7296 3.11, built with struct."""
    return struct.pack("!BBH", protocol, spi_size, len(spis)) + b"".join(spis)


@dataclass(frozen=True)
class Variant:
    """One crafted request, the rule it probes and what RFC 7296 lets the responder answer and keep.

    ``start``: the initiator's action whose request is edited ("liveness", "create", "rekey_child",
    "rekey_ike").  ``allowed``: verdicts ("ok", "notify:<NAME>", "drop").  ``data``: the Notification
    Data the RFC fixes.  ``state``: (IKE SA up, first CHILD SA kept, new CHILD SAs) afterwards.
    ``deleted``: the answer's Delete names the first CHILD SA (its inbound SPI at the responder).
    ``data`` goes with the first of ``allowed``; ``charon``: charon's verdict where it leaves the RFC.
    ``note``: why charon and ikelab may differ (a row of the docstring's table).
    """

    name: str
    rule: str
    start: str
    edit: Edit
    allowed: tuple[str, ...]
    state: tuple[bool, bool, int] | None = (True, True, 0)  # None: kept as it was, or the IKE SA closed
    data: bytes | None = None
    deleted: bool = False
    note: str = ""
    charon: str | None = None  # charon's verdict where it leaves the RFC (a row of the table)


VARIANTS = [
    Variant("empty INFORMATIONAL (liveness)", "1.4, 2.4", "liveness", only(), ("ok",)),
    Variant("Delete of the CHILD SA", "1.4.1", "liveness",
            only(lambda sa: W.delete(ProtocolId.ESP, [first_child(sa).spi_in])), ("ok",), (True, False, 0),
            deleted=True),
    Variant("Delete ESP with SPI Size 0", "3.11", "liveness",
            only(lambda sa: RawPayload(DELETE, delete_body(ESP, 0, []))), ("notify:INVALID_SYNTAX",)),
    Variant("Delete ESP with SPI Size 8", "3.11", "liveness",
            only(lambda sa: RawPayload(DELETE, delete_body(ESP, 8, [first_child(sa).spi_in + bytes(4)]))),
            ("notify:INVALID_SYNTAX",)),
    Variant("Delete of an unknown ESP SPI", "1.4.1, 3.11", "liveness",
            only(lambda sa: W.delete(ProtocolId.ESP, [UNKNOWN_SPI])), ("ok",)),
    Variant("Delete of two ESP SPIs, one unknown", "1.4.1, 3.11", "liveness",
            only(lambda sa: W.delete(ProtocolId.ESP, [UNKNOWN_SPI, first_child(sa).spi_in])), ("ok",),
            (True, False, 0), deleted=True),
    Variant("Delete with protocol AH naming the ESP SPI", "3.11", "liveness",
            only(lambda sa: W.delete(ProtocolId.AH, [first_child(sa).spi_in])), ("ok",)),
    Variant("Delete of the IKE SA", "1.4.1", "liveness", only(lambda sa: W.delete(ProtocolId.IKE)), ("ok",),
            (False, False, 0)),
    Variant("INVALID_SYNTAX Notify in an INFORMATIONAL request", "2.21.3, 3.10.1", "liveness",
            only(lambda sa: W.notify(NotifyType.INVALID_SYNTAX)), ("ok",), None,
            note="charon ignores it; ikelab answers, then closes the IKE SA (no Delete): the peer says it "
                 "could not read us"),
    Variant("Delete naming the responder's own inbound SPI", "3.11", "liveness",
            only(lambda sa: W.delete(ProtocolId.ESP, [first_child(sa).spi_out])), ("ok",)),
    Variant("Delete of the IKE SA with SPI Size 8", "3.11", "liveness",
            only(lambda sa: RawPayload(DELETE, delete_body(1, 8, [sa.spi_i]))), ("notify:INVALID_SYNTAX",)),
    Variant("Delete ESP with no SPIs", "3.11", "liveness", only(lambda sa: W.delete(ProtocolId.ESP, [])), ("ok",)),
    Variant("unknown status Notify", "3.10.1", "liveness", only(lambda sa: W.notify(UNKNOWN_STATUS)), ("ok",)),
    Variant("unknown error Notify in a request", "3.10.1", "liveness", only(lambda sa: W.notify(UNKNOWN_ERROR)),
            ("ok",)),
    Variant("unknown payload, critical bit clear", "2.5, 3.2", "liveness",
            only(lambda sa: UnknownPayload(UNKNOWN_PAYLOAD, b"\x00" * 4)), ("ok",)),
    Variant("unknown payload, critical bit set", "2.5, 3.10.1", "liveness",
            only(lambda sa: UnknownPayload(UNKNOWN_PAYLOAD, b"\x00" * 4, critical=True)),
            ("notify:UNSUPPORTED_CRITICAL_PAYLOAD",), data=bytes([UNKNOWN_PAYLOAD])),
    Variant("Delete of the CHILD SA and an unknown critical payload", "2.5", "liveness",
            only(lambda sa: W.delete(ProtocolId.ESP, [first_child(sa).spi_in]),
                 lambda sa: UnknownPayload(UNKNOWN_PAYLOAD, b"", critical=True)),
            ("notify:UNSUPPORTED_CRITICAL_PAYLOAD",), data=bytes([UNKNOWN_PAYLOAD])),
    Variant("Delete naming the CHILD SA twice", "1.4.1, 3.11", "liveness",
            only(lambda sa: W.delete(ProtocolId.ESP, [first_child(sa).spi_in] * 2)), ("ok",), (True, False, 0),
            deleted=True),
    Variant("CREATE_CHILD_SA", "1.3.1", "create", lambda sa, p: p, ("ok",), (True, True, 1)),
    Variant("CREATE_CHILD_SA with an unknown critical payload", "2.5", "create",
            lambda sa, p: [*p, UnknownPayload(UNKNOWN_PAYLOAD, b"", critical=True)],
            ("notify:UNSUPPORTED_CRITICAL_PAYLOAD",), data=bytes([UNKNOWN_PAYLOAD])),
    Variant("CREATE_CHILD_SA, no acceptable proposal", "1.3, 2.7", "create", proposals_with(encr_3des),
            ("notify:NO_PROPOSAL_CHOSEN",)),
    Variant("CREATE_CHILD_SA, an AH proposal", "1.3, 3.3.1", "create",
            proposals_with(lambda prop: replace(prop, protocol=ProtocolId.AH, transforms=tuple(
                t for t in prop.transforms if int(t.type) != int(TransformType.ENCR)))),
            ("notify:NO_PROPOSAL_CHOSEN",)),
    Variant("CREATE_CHILD_SA, an IKE and an ESP proposal", "1.3, 3.3", "create",
            ike_proposal_first,
            ("ok", "notify:NO_PROPOSAL_CHOSEN", "notify:INVALID_SYNTAX"), (True, True, 1)),
    Variant("CREATE_CHILD_SA without PFS, the responder wants it", "1.3, 2.7", "create",
            both(proposals_with(lambda prop: replace(prop, transforms=tuple(
                t for t in prop.transforms if int(t.type) != int(TransformType.DH)))),
                 replaced(KePayload, lambda k: None)),
            ("notify:NO_PROPOSAL_CHOSEN",)),
    Variant("CREATE_CHILD_SA, DH in the SA but no KEi", "1.3, 3.4", "create", replaced(KePayload, lambda k: None),
            ("notify:INVALID_KE_PAYLOAD", "notify:INVALID_SYNTAX", "notify:NO_PROPOSAL_CHOSEN"),
            data=struct.pack("!H", X25519)),
    Variant("CREATE_CHILD_SA, TS outside the policy", "2.9, 1.3", "create",
            lambda sa, p: [x for x in p if not isinstance(x, (TSi, TSr))]
            + W.ts_payloads(W.selectors(("10.99.0.0/16",), "10.99.0.1"), W.selectors(("10.98.0.0/16",), "10.98.0.1")),
            ("notify:TS_UNACCEPTABLE",)),
    Variant("CREATE_CHILD_SA, KEi in an offered group not chosen", "1.3, 3.10.1", "create",
            both(proposals_with(dh_first(ECP256)), replaced(KePayload, lambda k: W.ke(ECP256, p256_public()))),
            ("notify:INVALID_KE_PAYLOAD",), data=struct.pack("!H", X25519)),
    Variant("CREATE_CHILD_SA, KEi in a group the SA does not offer", "3.4, 1.3", "create",
            replaced(KePayload, lambda k: W.ke(ECP256, p256_public())), KE_NOT_OFFERED, data=struct.pack("!H", X25519)),
    Variant("CREATE_CHILD_SA, KEi in an offered group not chosen, not a point", "1.3, 3.10.1", "create",
            both(proposals_with(dh_first(ECP256)), replaced(KePayload, lambda k: W.ke(ECP256, b"\x01" * 64))),
            ("notify:INVALID_KE_PAYLOAD",), data=struct.pack("!H", X25519), charon="notify:NO_PROPOSAL_CHOSEN"),
    Variant("CREATE_CHILD_SA, KEi in an unassigned group", "3.4, 1.3", "create",
            replaced(KePayload, lambda k: W.ke(1000, os.urandom(32))), KE_NOT_OFFERED, data=struct.pack("!H", X25519)),
    Variant("CREATE_CHILD_SA, ESP proposal with SPI Size 8", "3.3.1", "create", replaced(SaPayload, spi_size(8)),
            ("notify:INVALID_SYNTAX", "notify:NO_PROPOSAL_CHOSEN")),
    Variant("CREATE_CHILD_SA without Ni", "1.3.1, 3.10.1", "create", replaced(Nonce, lambda n: None),
            ("notify:INVALID_SYNTAX", "notify:NO_PROPOSAL_CHOSEN")),
    Variant("CREATE_CHILD_SA, Ni of 8 octets", "2.10, 3.9", "create",
            replaced(Nonce, lambda n: RawPayload(40, os.urandom(8))), ("notify:INVALID_SYNTAX",)),
    Variant("CREATE_CHILD_SA with USE_TRANSPORT_MODE, tunnel configured", "1.3.1", "create",
            lambda sa, p: [W.notify(NotifyType.USE_TRANSPORT_MODE), *p], ("ok", "notify:NO_PROPOSAL_CHOSEN"),
            (True, True, 1)),
    Variant("CREATE_CHILD_SA with IPCOMP_SUPPORTED", "2.22", "create",
            lambda sa, p: [W.notify(NotifyType.IPCOMP_SUPPORTED, data=struct.pack("!HB", 0x4242, 2)), *p],
            ("ok",), (True, True, 1)),
    Variant("REKEY_SA naming an unknown CHILD SA", "2.25, 3.10.1", "rekey_child",
            replaced(Notify, lambda n: W.notify(NotifyType.REKEY_SA, protocol=ProtocolId.ESP, spi=UNKNOWN_SPI)
                     if int(n.notify_type) == int(NotifyType.REKEY_SA) else n),
            ("notify:CHILD_SA_NOT_FOUND",)),
    Variant("REKEY_SA with protocol AH naming the ESP CHILD SA", "1.3.3, 3.10.1", "rekey_child",
            replaced(Notify, lambda n: W.notify(NotifyType.REKEY_SA, protocol=ProtocolId.AH, spi=bytes(n.spi))
                     if int(n.notify_type) == int(NotifyType.REKEY_SA) else n),
            ("notify:CHILD_SA_NOT_FOUND",)),
    Variant("IKE SA rekey proposal with SPI Size 4", "3.3.1, 2.18", "rekey_ike",
            replaced(SaPayload, spi_size(4)),
            ("notify:INVALID_SYNTAX", "notify:NO_PROPOSAL_CHOSEN")),
    Variant("IKE SA rekey proposal with a zero SPI", "3.1, 3.3.1, 2.18", "rekey_ike",
            proposals_with(lambda prop: prop.with_spi(bytes(8))),
            ("notify:INVALID_SYNTAX", "notify:NO_PROPOSAL_CHOSEN"), charon="ok"),
    Variant("IKE SA rekey without KEi", "1.3.2", "rekey_ike", replaced(KePayload, lambda k: None),
            ("notify:INVALID_SYNTAX", "notify:INVALID_KE_PAYLOAD")),
    Variant("IKE SA rekey without Ni", "1.3.2", "rekey_ike", replaced(Nonce, lambda n: None),
            ("notify:INVALID_SYNTAX",)),
    Variant("IKE SA rekey, KEi in an offered group not chosen", "1.3.2, 3.10.1", "rekey_ike",
            both(proposals_with(dh_first(ECP256)), replaced(KePayload, lambda k: W.ke(ECP256, p256_public()))),
            ("notify:INVALID_KE_PAYLOAD",), data=struct.pack("!H", X25519)),
]


@contextmanager
def crafted(edit: Edit) -> Iterator[None]:
    """``IkeSa._request`` sends ``edit(sa, payloads)`` instead of ``payloads``; restored afterwards."""
    original = IkeSa._request

    def _request(self: IkeSa, exchange: Any, payloads: list[Any], now: float, kind: str, **kw: Any) -> bytes:
        return original(self, exchange, edit(self, list(payloads)), now, kind, **kw)

    IkeSa._request = _request  # type: ignore[method-assign]
    try:
        yield
    finally:
        IkeSa._request = original  # type: ignore[method-assign]


# ------------------------------------------------------------------ the two responders

class LabResponder:
    """An in-process ikelab responder."""

    local, remote = (LAB_A, 500), (LAB_B, 500)

    def __init__(self) -> None:
        cfg = replace(config(f"{LAB_INNER_B}/32", f"{LAB_INNER_A}/32"), local_id=ID_R, remote_id=ID_I)
        self.endpoint = IkeEndpoint(cfg, local_addr=LAB_B)
        self.initiator_config = config(f"{LAB_INNER_A}/32", f"{LAB_INNER_B}/32")

    def exchange(self, dgram: Datagram) -> bytes | None:
        self.endpoint.receive(dgram, 0.0)
        out = self.endpoint.pop_datagrams()
        return unmarked(out[0].payload, out[0].src[1]) if out else None

    def state(self, sa: IkeSa, child: Any) -> tuple[bool, bool, int]:
        peer = next(s for s in self.endpoint.sas.values() if s.spi_i == sa.spi_i)
        spis = set(peer.children) if peer.state != State.CLOSED else set()
        return peer.state == State.ESTABLISHED, child.spi_out in spis, len(spis - {child.spi_out})


def unmarked(payload: bytes, port: int) -> bytes:
    """An IKE message without the Non-ESP Marker that precedes it on port 4500 (RFC 3948 2.2)."""
    if port == 500:
        return payload
    assert payload[:4] == bytes(4), payload[:8].hex()
    return payload[4:]


RELAY = r"""
import select, socket, sys
socks = {}
for port in (500, 4500):
    socks[port] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    socks[port].bind((sys.argv[1], port))
print("ready", flush=True)
for line in sys.stdin:
    port, data = line.split()
    sock = socks[int(port)]
    while select.select(list(socks.values()), [], [], 0)[0]:
        for s in select.select(list(socks.values()), [], [], 0)[0]:
            s.recv(65535)  # anything charon sent unasked
    sock.sendto(bytes.fromhex(data), (sys.argv[2], int(port)))
    ready = select.select([sock], [], [], float(sys.argv[3]))[0]
    print(sock.recv(65535).hex() if ready else "-", flush=True)
"""


class CharonResponder:
    """charon in namespace B; ikelab's datagrams leave namespace A from port 500 through a relay process."""

    def __init__(self, net: Any, charon: Any) -> None:
        self.charon = charon
        self.local, self.remote = (net.a.addr4, 500), (net.b.addr4, 500)
        self.initiator_config = config(f"{net.a.inner}/32", f"{net.b.inner}/32")
        self.relay = net.a.popen([sys.executable, "-c", RELAY, net.a.addr4, net.b.addr4, "3.0"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.relay.stdout is not None and self.relay.stdout.readline().strip() == "ready"

    def exchange(self, dgram: Datagram) -> bytes | None:
        """``dgram`` sent from its port to charon's (500 or 4500); the answer, without a Non-ESP Marker."""
        assert self.relay.stdin is not None and self.relay.stdout is not None
        assert dgram.src[1] == dgram.dst[1] in (500, 4500), dgram
        self.relay.stdin.write(f"{dgram.src[1]} {dgram.payload.hex()}\n")
        self.relay.stdin.flush()
        line = self.relay.stdout.readline().strip()
        return None if line == "-" else unmarked(bytes.fromhex(line), dgram.src[1])

    def state(self, sa: IkeSa, child: Any) -> tuple[bool, bool, int]:
        mine = [s for s in self.charon.list_sas() if s.get("initiator-spi") == sa.spi_i.hex()]
        if not mine:
            return False, False, 0
        spis = {int(c["spi-in"], 16) for c in (mine[0].get("child-sas") or {}).values()
                if c.get("state") == "INSTALLED"}
        out = int.from_bytes(child.spi_out, "big")
        return mine[0].get("state") == "ESTABLISHED", out in spis, len(spis - {out})

    def close(self) -> None:
        if self.relay.stdin is not None:
            self.relay.stdin.close()
        try:
            self.relay.wait(5)
        except subprocess.TimeoutExpired:
            self.relay.kill()
            self.relay.wait(5)


# ------------------------------------------------------------------ one run

@dataclass(frozen=True)
class Outcome:
    """The decrypted answer (None: no answer) and what the responder kept."""

    verdict: str
    payloads: tuple[str, ...]  # the answer's payload names inside SK
    notifies: tuple[tuple[int, bytes, bytes], ...]  # (type, SPI, data)
    deletes: tuple[tuple[int, tuple[bytes, ...]], ...]  # (protocol, SPIs)
    state: tuple[bool, bool, int]
    child_spi_out: bytes  # the first CHILD SA's inbound SPI at the responder


def establish(peer: Any) -> IkeSa:
    """IKE_SA_INIT + IKE_AUTH between ikelab's initiator and ``peer``: the established IKE SA, one CHILD SA."""
    sa = IkeSa(peer.initiator_config, initiator=True, local=peer.local, remote=peer.remote)
    sa.initiate(0.0)
    for _ in range(4):
        out = sa.pop_datagrams()
        if not out:
            break
        for dgram in out:
            reply = peer.exchange(dgram)
            if reply is not None:
                sa.receive(reply, 0.0)
    assert sa.state == State.ESTABLISHED and len(sa.children) == 1, (sa, sa.pop_events())
    sa.pop_events()
    return sa


def run(peer: Any, v: Variant) -> Outcome:
    """``v``'s request on a fresh IKE SA with ``peer``: the answer, read with the IKE SA's keys, and the state."""
    sa = establish(peer)
    child = first_child(sa)
    with crafted(v.edit):
        {"liveness": lambda: sa.liveness(0.0), "create": lambda: sa.create_child(0.0),
         "rekey_child": lambda: sa.rekey_child(child.spi_in, 0.0), "rekey_ike": lambda: sa.rekey_ike(0.0)}[v.start]()
    out = sa.pop_datagrams()
    assert len(out) == 1, out
    reply = peer.exchange(out[0])
    if reply is None:
        return Outcome("drop", (), (), (), peer.state(sa, child), child.spi_out)
    msg = W.decode(reply, crypto=sa._crypto(sending=False))
    assert msg.is_response and msg.message_id == 2 and not msg.is_initiator, msg
    inner = W.inner(msg)
    notifies = tuple((int(n.notify_type), bytes(n.spi), bytes(n.data)) for n in W.notifies(msg))
    errors = [t for t, _, _ in notifies if t < 16384]
    verdict = f"notify:{NAMES.get(errors[0], errors[0])}" if errors else "ok"
    deletes = tuple((int(d.protocol), tuple(bytes(s) for s in d.spis)) for d in W.payloads(msg, "Delete"))
    return Outcome(verdict, tuple(p.name for p in inner), notifies, deletes, peer.state(sa, child), child.spi_out)


def check(v: Variant, o: Outcome, who: str) -> None:
    """What RFC 7296 fixes for ``v``, whoever answers."""
    where = f"{who}, {v.name} (RFC 7296 {v.rule})"
    assert o.verdict in v.allowed, f"{where}: {o.verdict}, not one of {v.allowed}; {o}"
    if v.data is not None and o.verdict == v.allowed[0]:  # the Notification Data of the first allowed verdict
        assert [d for t, _, d in o.notifies if t < 16384][0] == v.data, f"{where}: {o.notifies}"
    if v.state is None:
        assert o.state in ((True, True, 0), (False, False, 0)), f"{where}: {o.state}"
    elif o.verdict == "notify:INVALID_SYNTAX" and not o.state[0]:
        pass  # charon: the IKE SA is destroyed after INVALID_SYNTAX (the table)
    elif not v.state[0]:  # 1.4.1: the IKE SA and its CHILD SAs are gone
        assert o.state == v.state, f"{where}: {o.state}, expected {v.state}"
    else:
        assert o.state[0], f"{where}: the IKE SA is gone; nothing in RFC 7296 closes it for this request"
        assert o.state == v.state, f"{where}: CHILD SAs {o.state}, expected {v.state}"
    # 1.4.1: the answer deletes the paired SA of what was deleted, and names no other SA
    named = [spi for proto, spis in o.deletes for spi in spis]
    assert named == ([o.child_spi_out] if v.deleted else []), f"{where}: Delete {o.deletes}"
    assert all(proto == ESP for proto, _ in o.deletes), f"{where}: {o.deletes}"
    if v.name == "CREATE_CHILD_SA with IPCOMP_SUPPORTED":  # 2.22: without IPComp, no IPCOMP_SUPPORTED back
        assert IPCOMP_SUPPORTED not in [t for t, _, _ in o.notifies], o.notifies


@pytest.mark.parametrize("v", VARIANTS, ids=[v.name for v in VARIANTS])
def test_ikelab_responder(v: Variant) -> None:
    """ikelab's responder answers each request as RFC 7296 says and keeps what it must."""
    check(v, run(LabResponder(), v), "ikelab")


@pytest.fixture(scope="module")
def charon_outcomes(module_charon: Any) -> list[Outcome]:
    """One charon responder for the module; the outcome of each variant, each on its own IKE SA."""
    from interop.swanctl import psk_conf

    net, charon = module_charon(lambda net: psk_conf(
        local_addrs=net.b.addr4, remote_addrs=net.a.addr4, local_id=ID_R, remote_id=ID_I,
        local_ts=f"{net.b.inner}/32", remote_ts=f"{net.a.inner}/32", proposals=IKE, esp_proposals=ESP_PROPOSAL,
        psk=PSK))
    peer = CharonResponder(net, charon)
    try:
        return [run(peer, v) for v in VARIANTS]
    finally:
        peer.close()


@pytest.mark.strongswan
@pytest.mark.parametrize("i", range(len(VARIANTS)), ids=[v.name for v in VARIANTS])
def test_charon_and_ikelab_answer_alike(charon_outcomes: list[Outcome], i: int) -> None:
    """charon answers within RFC 7296 (or as the table records), and ikelab the same (Notify and its data,
    payloads, what is kept) unless the table says why."""
    v = VARIANTS[i]
    theirs = charon_outcomes[i]
    if v.charon:  # charon leaves the RFC (the table): its answer is pinned, what it keeps is not
        check(replace(v, allowed=v.allowed + (v.charon,), state=None), theirs, "charon")
    else:
        check(v, theirs, "charon")
    if v.charon:
        assert theirs.verdict == v.charon, f"charon now answers {v.name} with {theirs.verdict}: update the table"
    mine = run(LabResponder(), v)
    if theirs.verdict == "notify:INVALID_SYNTAX":
        # charon destroys the IKE SA after any INVALID_SYNTAX it sends; ikelab keeps it (check() asserts that)
        assert theirs.state == (False, False, 0), f"charon now keeps the IKE SA after {v.name}: update the docstring"
        theirs = replace(theirs, state=mine.state)
    same = ((mine.verdict, mine.state, mine.payloads, [(t, d) for t, _, d in mine.notifies], len(mine.deletes))
            == (theirs.verdict, theirs.state, theirs.payloads, [(t, d) for t, _, d in theirs.notifies],
                len(theirs.deletes)))
    assert same or v.note or v.charon, f"{v.name}: ikelab {mine}, charon {theirs}, and no note says why"


def test_the_table_names_every_difference() -> None:
    """Each variant with a note (or a charon deviation) is a row of the module docstring's table."""
    noted = [v.name for v in VARIANTS if v.note or v.charon]
    assert all(f"| {name} " in __doc__ for name in noted), noted
