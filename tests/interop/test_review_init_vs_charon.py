"""Odd IKE_SA_INIT requests, the same bytes to strongSwan's charon and to an ikelab responder (RFC 7296).

IKE_SA_INIT travels in the clear, so every variant below is built by hand with ``struct`` (no ikelab
encoder), sent over UDP to a charon responder in namespace B and handed to an in-process
:class:`ikelab.endpoint.IkeEndpoint`; the two answers are compared with what RFC 7296 fixes.

Where the RFC leaves room and the two differ, the tests assert what both must satisfy (``Variant.allowed``);
where charon leaves the RFC, its answer is recorded (``Variant.charon``).  The differences:

| variant | RFC 7296 | charon 5.9.8 | ikelab |
|---|---|---|---|
| major version 3 | 2.5, 3.10.1 | INVALID_MAJOR_VERSION, no data | INVALID_MAJOR_VERSION, data 0x20 (2.5) |
| unknown attribute on the only ENCR: proposal unusable | 3.3.6 | proposal 1 (*) | proposal 2 |
| SPI Size 8 in IKE_SA_INIT | 3.3.1 | proposal 1, its SAr1 with the 8-octet SPI (***) | proposal 1, SPI Size 0 |
| KE data of 31 octets for Curve25519 | 3.4 | NO_PROPOSAL_CHOSEN | INVALID_SYNTAX |
| header Length 4 more than sent | 3.1 | accepted (**) | INVALID_SYNTAX, no state kept |
| 4 octets after the header Length | 3.1 | accepted (**) | INVALID_SYNTAX, no state kept |

Both reply headers say version 2.0 (3.10.1: "The closest version number that the recipient can
support will be in the reply header").  (*) charon ignores the unknown attribute and returns the
ENCR transform without it; 3.3.6 makes "a transform ... that contains a Transform Attribute it does
not understand" unacceptable and has attributes "returned unmodified": here charon leaves the RFC,
ikelab does not.  (**) charon accepted both: it goes by the payload chain, not by the header
Length.  RFC 7296 names no answer for a Length that disagrees with the datagram, and ikelab refuses it
statelessly, as it does any request that does not decode.

(***) Both accept a proposal with SPI Size 8 in IKE_SA_INIT (3.3.1 says only that its sender MUST
make it zero), but charon's SAr1 repeats the SPI, which as the sender of SAr1 it MUST NOT.

Both answer INVALID_SYNTAX, unprotected, to a malformed IKE_SA_INIT request (a nonce of 15 or 257
octets, SPI Size 4, no Nonce, a payload running past the end), as 2.21 has it ("the response
contains a Notify payload indicating the error"), although 3.10.1 says INVALID_SYNTAX "may only be
returned for and in an encrypted packet"; dropping it (2.21.1's DoS trade-off) would be allowed too,
so ``ERROR`` accepts either.  charon fills SPIr in some error responses
(UNSUPPORTED_CRITICAL_PAYLOAD, INVALID_SYNTAX), ikelab leaves it zero: the RFC does not say.

Run: ``cd tests && python -m pytest -n0 interop/test_review_init_vs_charon.py`` (one charon, namespaces
deleted at the end; the ikelab half runs without charon).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any, Sequence

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# RFC 7296 3.1 / 3.2 / 3.3 numbers, written out here so that no ikelab table decides the bytes
SA, KE, NONCE, NOTIFY = 33, 34, 40, 41
IKE_SA_INIT = 34
FLAG_I, FLAG_R = 0x08, 0x20
ENCR, PRF, INTEG, DH = 1, 2, 3, 4
AES_CBC, HMAC_SHA2_256, AUTH_SHA2_256_128, X25519, ECP256 = 12, 5, 12, 31, 19
KEY_LENGTH = 14  # RFC 7296 3.3.5, TV format (AF bit set)
INVALID_SYNTAX, NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD = 7, 14, 17
INVALID_MAJOR_VERSION, UNSUPPORTED_CRITICAL_PAYLOAD = 5, 1
UNKNOWN_PAYLOAD = 200  # unassigned (RFC 7296 3.2: 49-127 unassigned, 128-255 private use)

PROPOSAL = "aes128-sha256-x25519"  # the one IKE proposal of both responders


def payload(next_payload: int, body: bytes, *, critical: bool = False, reserved: int = 0,
            length_delta: int = 0) -> bytes:
    """A generic payload header (RFC 7296 3.2) + ``body``."""
    return struct.pack("!BBH", next_payload, (0x80 if critical else 0) | reserved,
                       4 + len(body) + length_delta) + body


def attr_tv(kind: int, value: int) -> bytes:
    """A TV-format transform attribute (RFC 7296 3.3.5)."""
    return struct.pack("!HH", 0x8000 | kind, value)


def transform(kind: int, ident: int, attrs: bytes = b"", *, last: bool = False) -> bytes:
    """A Transform Substructure (RFC 7296 3.3.2): Last 0 or 3."""
    return struct.pack("!BBHBBH", 0 if last else 3, 0, 8 + len(attrs), kind, 0, ident) + attrs


def proposal(number: int, transforms: list[bytes], *, last: bool = True, spi: bytes = b"") -> bytes:
    """A Proposal Substructure (RFC 7296 3.3.1), protocol IKE (1); Last Substruc 3, 0 on the last transform."""
    body = b"".join(bytes([0 if i == len(transforms) - 1 else 3]) + t[1:] for i, t in enumerate(transforms))
    return struct.pack("!BBHBBBB", 0 if last else 2, 0, 8 + len(spi) + len(body), number, 1, len(spi),
                       len(transforms)) + spi + body


def suite(encr_attrs: bytes | None = None, *, extra: Sequence[bytes] = (), dh: int = X25519) -> list[bytes]:
    """aes128-sha256-<dh> as transforms; ``extra`` goes first."""
    attrs = attr_tv(KEY_LENGTH, 128) if encr_attrs is None else encr_attrs
    return [*extra, transform(ENCR, AES_CBC, attrs), transform(PRF, HMAC_SHA2_256),
            transform(INTEG, AUTH_SHA2_256_128), transform(DH, dh)]


def x25519_public() -> bytes:
    return x25519.X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Variant:
    """One request: the rule it probes, its bytes, and what RFC 7296 lets a responder do with it.

    ``allowed``: the verdicts the RFC allows ("drop", "accept#N": SAr1 takes proposal N, "notify:<NAME>").
    ``notify_data``: the Notification Data the RFC fixes for that Notify.  ``charon``: what charon
    does instead, where it leaves the RFC (recorded in the module docstring, as is ``charon_spi``).
    ``note``: why ikelab and charon may answer differently (the table of the module docstring).
    """

    name: str
    rule: str
    data: bytes
    allowed: tuple[str, ...]
    notify_data: bytes | None = None
    charon: str | None = None
    note: str = ""
    charon_spi: bool = False  # charon's SAr1 echoes the offered SPI (the table's "SPI Size 8" row)


def request(spi_i: bytes, *, proposals: bytes | None = None, ke_group: int = X25519, ke_data: bytes | None = None,
            nonce: bytes | None = None, extra: Sequence[tuple[int, bytes, bool]] = (), version: int = 0x20,
            flags: int = FLAG_I, message_id: int = 0, spi_r: bytes = bytes(8), length_delta: int = 0,
            trailing: bytes = b"", reserved: int = 0, ke_reserved: int = 0, nonce_len_delta: int = 0,
            omit: int = 0, order: Sequence[int] = ()) -> bytes:
    """HDR, SAi1, KEi, Ni [, extra payloads] (RFC 7296 1.2), built with struct; each knob breaks one thing."""
    sa_body = proposals if proposals is not None else proposal(1, suite())
    ke_body = struct.pack("!HH", ke_group, ke_reserved) + (ke_data if ke_data is not None else x25519_public())
    nonce_body = nonce if nonce is not None else os.urandom(32)
    chain = [(SA, sa_body, False), (KE, ke_body, False), (NONCE, nonce_body, False), *extra]
    chain = [c for c in chain if c[0] != omit]
    chain.sort(key=lambda c: list(order).index(c[0]) if c[0] in order else len(order))
    body = b""
    for i, (kind, data, critical) in enumerate(chain):
        nxt = chain[i + 1][0] if i + 1 < len(chain) else 0
        body += payload(nxt, data, critical=critical, reserved=reserved,
                        length_delta=nonce_len_delta if kind == NONCE else 0)
    header = struct.pack("!8s8sBBBBII", spi_i, spi_r, chain[0][0], version, IKE_SA_INIT, flags, message_id,
                         28 + len(body) + length_delta)
    return header + body + trailing


ERROR = ("notify:INVALID_SYNTAX", "drop")  # a bad request: refused (2.21, 3.10.1) or dropped (2.21.1)


def variants() -> list[Variant]:
    """The requests, each breaking one rule of RFC 7296 (a fresh SPIi each, so no half-open SA is met again)."""
    spis = iter(struct.pack("!II", 0x1C0FFEE0, n) for n in range(1, 100))
    unknown_type = transform(240, 1)  # Transform Type 240: private use, understood by neither
    unknown_attr = attr_tv(KEY_LENGTH, 128) + attr_tv(99, 1)  # attribute type 99: unassigned
    return [
        Variant("valid", "1.2", request(next(spis)), ("accept#1",)),
        Variant("unknown payload, critical bit clear: skipped", "2.5",
                request(next(spis), extra=[(UNKNOWN_PAYLOAD, b"\x00" * 4, False)]), ("accept#1",)),
        Variant("unknown payload, critical bit set", "2.5, 3.10.1",
                request(next(spis), extra=[(UNKNOWN_PAYLOAD, b"\x00" * 4, True)]),
                ("notify:UNSUPPORTED_CRITICAL_PAYLOAD",), bytes([UNKNOWN_PAYLOAD])),
        Variant("major version 3", "1.5, 2.5, 3.10.1", request(next(spis), version=0x30),
                ("notify:INVALID_MAJOR_VERSION", "drop"),
                note="Notification Data: ikelab 0x20 (the version it speaks, 2.5), charon none (3.10.1 puts it in "
                     "the reply header, 2.0 in both)"),
        Variant("minor version 1: accepted", "2.5", request(next(spis), version=0x21), ("accept#1",)),
        Variant("reserved header flags set: ignored", "2.5, 3.1", request(next(spis), flags=FLAG_I | 0xC7),
                ("accept#1",)),
        Variant("V flag set: ignored", "2.5, 3.1", request(next(spis), flags=FLAG_I | 0x10), ("accept#1",)),
        Variant("payload RESERVED bits set: ignored", "2.5, 3.2, 3.4",
                request(next(spis), reserved=0x7F, ke_reserved=0xFFFF), ("accept#1",)),
        Variant("the acceptable proposal second", "2.7, 3.3",
                request(next(spis), proposals=proposal(1, suite(dh=ECP256), last=False) + proposal(2, suite())),
                ("accept#2",)),
        Variant("unknown Transform Type: that proposal passed over", "3.3.6",
                request(next(spis), proposals=proposal(1, suite(extra=[unknown_type]), last=False)
                        + proposal(2, suite())), ("accept#2",)),
        Variant("unknown ENCR Transform ID: that transform ignored", "3.3.6",
                request(next(spis), proposals=proposal(1, suite(extra=[transform(ENCR, 1000)]))), ("accept#1",)),
        Variant("AES-CBC without Key Length", "3.3.5, RFC 3602",
                request(next(spis), proposals=proposal(1, suite(encr_attrs=b""))), ("notify:NO_PROPOSAL_CHOSEN",)),
        Variant("unknown attribute on the only ENCR: proposal unusable", "3.3.6",
                request(next(spis), proposals=proposal(1, suite(unknown_attr), last=False) + proposal(2, suite())),
                ("accept#2",), charon="accept#1",
                note="charon skips the unknown attribute, takes proposal 1 and returns its ENCR without the "
                     "attribute (3.3.6: such a transform is unacceptable; attributes are returned unmodified)"),
        Variant("unknown attribute beside a clean twin: the twin chosen", "3.3.6",
                request(next(spis), proposals=proposal(1, suite(unknown_attr, extra=[
                    transform(ENCR, AES_CBC, attr_tv(KEY_LENGTH, 128))]))), ("accept#1",)),
        Variant("SPI Size 4 in IKE_SA_INIT", "3.3.1",
                request(next(spis), proposals=proposal(1, suite(), spi=b"\x01\x02\x03\x04")),
                ("notify:INVALID_SYNTAX", "notify:NO_PROPOSAL_CHOSEN", "drop")),
        Variant("SPI Size 8 in IKE_SA_INIT", "3.3.1",
                request(next(spis), proposals=proposal(1, suite(), spi=b"\x01" * 8)),
                ("accept#1", "notify:INVALID_SYNTAX", "notify:NO_PROPOSAL_CHOSEN", "drop"), charon_spi=True,
                note="both accept it; charon's SAr1 echoes the 8-octet SPI, ikelab's has SPI Size 0 (3.3.1)"),
        Variant("KE in a group the proposal does not choose", "1.3, 3.10.1",
                request(next(spis), ke_group=ECP256, ke_data=os.urandom(64)), ("notify:INVALID_KE_PAYLOAD",),
                X25519.to_bytes(2, "big")),
        Variant("KE in an unassigned group", "1.3, 3.10.1",
                request(next(spis), ke_group=1000, ke_data=os.urandom(32)), ("notify:INVALID_KE_PAYLOAD",),
                X25519.to_bytes(2, "big")),
        Variant("critical bit on a known payload: processed", "2.5, 3.2",
                request(next(spis), proposals=None, extra=[(NOTIFY, struct.pack("!BBH", 0, 0, 16388) + bytes(20),
                                                            True)]), ("accept#1",)),
        Variant("two DH groups offered, KEi in the second", "1.2, 3.3.6",
                request(next(spis), proposals=proposal(1, [transform(DH, ECP256), *suite()])), ("accept#1",)),
        Variant("unknown error Notify type in a request: ignored", "3.10.1",
                request(next(spis), extra=[(NOTIFY, struct.pack("!BBH", 0, 0, 8000), False)]), ("accept#1",)),
        Variant("unknown status Notify type: ignored", "3.10.1",
                request(next(spis), extra=[(NOTIFY, struct.pack("!BBH", 0, 0, 40000) + b"x", False)]),
                ("accept#1",)),
        Variant("an ESP proposal in IKE_SA_INIT", "3.3.1",
                request(next(spis), proposals=proposal(1, suite(), spi=b"\x01" * 4)[:5] + b"\x03"
                        + proposal(1, suite(), spi=b"\x01" * 4)[6:]),
                ("notify:NO_PROPOSAL_CHOSEN", "notify:INVALID_SYNTAX", "drop")),
        Variant("ESN transform in an IKE proposal", "3.3.3, 3.3.6",
                request(next(spis), proposals=proposal(1, suite(extra=[transform(5, 0)]), last=False)
                        + proposal(2, suite())), ("accept#2", "accept#1")),
        Variant("Ni, KEi, SAi1 in another order", "3.2",
                request(next(spis), order=(NONCE, KE, SA)), ("accept#1",)),
        Variant("proposal without a DH transform", "3.3.3, 3.3.6",
                request(next(spis), proposals=proposal(1, suite()[:-1])), ("notify:NO_PROPOSAL_CHOSEN",)),
        Variant("proposal without an INTEG transform (AES-CBC)", "3.3.3, 3.3.6",
                request(next(spis), proposals=proposal(1, [t for i, t in enumerate(suite()) if i != 2])),
                ("notify:NO_PROPOSAL_CHOSEN",)),
        Variant("KE data of 31 octets for Curve25519", "3.4, RFC 8031 3.1", request(next(spis), ke_data=os.urandom(31)),
                ERROR + ("notify:NO_PROPOSAL_CHOSEN",),
                note="ikelab INVALID_SYNTAX, charon NO_PROPOSAL_CHOSEN: RFC 7296 names no Notify for a bad KE "
                     "length"),
        Variant("nonce of 15 octets", "2.10, 3.9", request(next(spis), nonce=os.urandom(15)), ERROR),
        Variant("nonce of 16 octets: accepted", "2.10, 3.9", request(next(spis), nonce=os.urandom(16)),
                ("accept#1",)),
        Variant("nonce of 256 octets: accepted", "3.9", request(next(spis), nonce=os.urandom(256)), ("accept#1",)),
        Variant("nonce of 257 octets", "3.9", request(next(spis), nonce=os.urandom(257)), ERROR),
        Variant("no Nonce payload", "1.2", request(next(spis), omit=NONCE), ERROR),
        Variant("header Length 4 more than sent", "3.1", request(next(spis), length_delta=4), ERROR,
                charon="accept#1",
                note="charon reads the payload chain and ignores the header Length; ikelab refuses statelessly"),
        Variant("4 octets after the header Length", "3.1", request(next(spis), trailing=b"\x00" * 4), ERROR,
                charon="accept#1",
                note="charon ignores octets past the header Length; ikelab refuses statelessly"),
        Variant("a payload length running past the end", "3.2", request(next(spis), nonce_len_delta=8), ERROR),
        Variant("response flag set", "2.2, 3.1", request(next(spis), flags=FLAG_I | FLAG_R), ("drop",)),
        Variant("Message ID 1", "2.2, 3.1", request(next(spis), message_id=1), ("drop",)),
        Variant("non-zero SPIr", "2.2, 2.21.4, 3.1", request(next(spis), spi_r=b"\x42" * 8), ("drop",)),
        Variant("I flag clear", "3.1", request(next(spis), flags=0), ("drop",)),
        Variant("zero SPIi", "3.1", request(bytes(8)), ("drop",)),
        Variant("unassigned exchange type 99", "3.1",
                (lambda data: data[:18] + b"\x63" + data[19:])(request(next(spis))), ("drop",)),
    ]


VARIANTS = variants()
#: SAr1 for every accepted variant, sorted by type: AES-CBC-128, PRF_HMAC_SHA2_256, AUTH_HMAC_SHA2_256_128, X25519
CHOSEN = ((ENCR, AES_CBC, attr_tv(KEY_LENGTH, 128)), (PRF, HMAC_SHA2_256, b""), (INTEG, AUTH_SHA2_256_128, b""),
          (DH, X25519, b""))


@dataclass(frozen=True)
class Reply:
    """An IKE_SA_INIT response read by hand (RFC 7296 3.1-3.4, 3.10)."""

    spi_i: bytes
    spi_r: bytes
    version: int
    exchange: int
    flags: int
    message_id: int
    length: int
    size: int
    proposal: int | None = None  # the Proposal Num of SAr1
    spi_size: int | None = None  # its SPI Size
    transforms: tuple[tuple[int, int, bytes], ...] = ()  # (type, ID, attributes) of SAr1
    ke_group: int | None = None
    notifies: tuple[tuple[int, bytes], ...] = ()  # (type, data) of every Notify

    @property
    def verdict(self) -> str:
        """"accept#N" (SAr1 chose proposal N) or "notify:<name>" for the first error Notify."""
        if self.proposal is not None:
            return f"accept#{self.proposal}"
        errors = [t for t, _ in self.notifies if t < 16384]
        return f"notify:{NAMES.get(errors[0], errors[0])}" if errors else "answer without SA or error Notify"


NAMES = {INVALID_SYNTAX: "INVALID_SYNTAX", NO_PROPOSAL_CHOSEN: "NO_PROPOSAL_CHOSEN",
         INVALID_KE_PAYLOAD: "INVALID_KE_PAYLOAD", INVALID_MAJOR_VERSION: "INVALID_MAJOR_VERSION",
         UNSUPPORTED_CRITICAL_PAYLOAD: "UNSUPPORTED_CRITICAL_PAYLOAD"}


def read_reply(reply: bytes | None) -> Reply | None:
    """The fields of a reply (None: no reply), walking the payload chain by hand."""
    if reply is None:
        return None
    spi_i, spi_r, nxt, version, exchange, flags, mid, length = struct.unpack_from("!8s8sBBBBII", reply)
    fields: dict[str, Any] = {"notifies": []}
    off = 28
    while nxt and off + 4 <= len(reply):
        kind, (nxt, _, plen) = nxt, struct.unpack_from("!BBH", reply, off)
        body = reply[off + 4:off + plen]
        if kind == SA:
            fields["proposal"], fields["spi_size"], count = body[4], body[6], body[7]
            spi_size = body[6]
            at, transforms = 8 + spi_size, []
            for _ in range(count):
                tlen, ttype, tid = struct.unpack_from("!2xH B x H", body, at)
                transforms.append((ttype, tid, body[at + 8:at + tlen]))
                at += tlen
            fields["transforms"] = tuple(transforms)
        elif kind == KE:
            fields["ke_group"] = struct.unpack_from("!H", body)[0]
        elif kind == NOTIFY:
            spi_size, ntype = body[1], struct.unpack_from("!H", body, 2)[0]
            fields["notifies"].append((ntype, body[4 + spi_size:]))
        off += plen
    fields["notifies"] = tuple(fields["notifies"])
    return Reply(spi_i, spi_r, version, exchange, flags, mid, length, len(reply), **fields)


def verdict(reply: Reply | None) -> str:
    return "drop" if reply is None else reply.verdict


def check_reply(v: Variant, reply: Reply | None, allowed: tuple[str, ...], *, spi_echoed: bool = False) -> str:
    """What RFC 7296 fixes in any answer to ``v``; returns the verdict (asserted to be one of ``allowed``)."""
    got = verdict(reply)
    assert got in allowed, f"{v.name} (RFC 7296 {v.rule}): {got}, not one of {allowed}"
    if reply is None:
        return got
    # 3.1: a response (R set, I clear: the responder sends it) to this SPIi, Message ID 0, version 2 (3.10.1)
    assert (reply.spi_i, reply.exchange, reply.flags & 0x28, reply.message_id, reply.version >> 4) == (
        v.data[:8], IKE_SA_INIT, FLAG_R, 0, 2), reply
    assert reply.length == reply.size, "3.1: Length is the whole message"
    if got.startswith("accept"):  # 2.7: one transform of each type, the offered attributes unmodified (3.3.6)
        assert tuple(sorted(reply.transforms)) == CHOSEN, reply.transforms
        assert reply.ke_group == X25519 and reply.spi_r != bytes(8), reply
        # 3.3.1: "For an initial IKE SA negotiation, this field MUST be zero" (the SPI is in the header)
        assert reply.spi_size == (8 if spi_echoed else 0), reply
    elif v.notify_data is not None:
        assert [d for t, d in reply.notifies if t < 16384][0] == v.notify_data, reply.notifies
    return got


def ikelab_answer(data: bytes, *, forget_closed: bool = False) -> tuple[Reply | None, Any]:
    """The answer of a fresh ikelab responder (the same proposal as charon's) to ``data``, and its endpoint.

    ``forget_closed=True`` is the endpoint of ``ikelab respond`` (:class:`ikelab.net.NetDriver`); without it a
    lab's endpoint keeps CLOSED IKE SAs to show them.
    """
    from ikelab.config import IkeConfig
    from ikelab.endpoint import IkeEndpoint
    from ikelab.exchanges_common import Datagram

    endpoint = IkeEndpoint(IkeConfig(local_id="gw.example.com", remote_id="alice@example.org", psk=b"psk",
                                     ike_proposals=(PROPOSAL,), esp_proposals=("aes128-sha256",),
                                     cookie_threshold=None), local_addr="192.0.2.2", forget_closed=forget_closed)
    endpoint.receive(Datagram(data, ("192.0.2.1", 500), ("192.0.2.2", 500)), 0.0)
    out = endpoint.pop_datagrams()
    assert len(out) <= 1, "one request, at most one answer"
    return read_reply(out[0].payload if out else None), endpoint


@pytest.mark.parametrize("v", VARIANTS, ids=[v.name for v in VARIANTS])
def test_ikelab_responder(v: Variant) -> None:
    """ikelab answers each variant as RFC 7296 says, and only an accepted request leaves an IKE SA (2.6, 2.21)."""
    from ikelab.state import State

    for forget_closed in (False, True):
        reply, endpoint = ikelab_answer(v.data, forget_closed=forget_closed)
        got = check_reply(v, reply, v.allowed)
        live = [sa for sa in [*endpoint.sas.values(), *endpoint.half_open.values()] if sa.state != State.CLOSED]
        if got.startswith("accept"):
            assert [(sa.spi_i, sa.state) for sa in live] == [(v.data[:8], State.INIT_DONE)] * len(live) != []
            assert endpoint.half_open_count() == 1
        elif forget_closed:  # 2.21.1: nothing kept, not even a CLOSED IKE SA (no timer would come to prune it)
            assert (endpoint.sas, endpoint.half_open, endpoint.half_open_count()) == ({}, {}, 0), v.name
        else:  # a lab's endpoint shows the refused IKE SA, CLOSED
            assert live == [] and endpoint.half_open_count() == 0, v.name


def send_all(dst: str, datagrams: list[bytes], timeout: float) -> list[bytes | None]:
    """Runs in namespace A: each request from its own UDP socket; the first reply to each (or None).

    All are sent first and the replies read together, so the requests charon drops cost one
    ``timeout`` in all, not one each.
    """
    import select
    import socket
    import time

    socks = []
    for data in datagrams:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("0.0.0.0", 0))
        sock.sendto(data, (dst, 500))
        socks.append(sock)
    replies: list[bytes | None] = [None] * len(socks)
    deadline = time.monotonic() + timeout
    while None in replies and (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([s for s, r in zip(socks, replies) if r is None], [], [], left)
        for sock in ready:
            replies[socks.index(sock)] = sock.recv(65535)
    for sock in socks:
        sock.close()
    return replies


def send_twice(dst: str, datagrams: list[bytes], timeout: float) -> list[list[bytes]]:
    """Runs in namespace A: each request sent twice from one socket (a retransmission, same port); the replies.

    The second copy goes a second after the first reply, as a retransmission comes after a timeout (RFC 7296
    2.1).  Sent at once, it went unanswered once on a loaded CI machine: charon can drop a request that
    arrives while it still handles the one before (its log's "ignoring request with ID 0, already
    processing")."""
    import socket
    import time

    out = []
    for data in datagrams:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("0.0.0.0", 0))
            sock.settimeout(timeout)
            replies = []
            for copy in range(2):
                if copy:
                    time.sleep(1.0)
                sock.sendto(data, (dst, 500))
                try:
                    replies.append(sock.recv(65535))
                except socket.timeout:
                    break
            out.append(replies)
    return out


#: Requests sent twice from the same port: the valid one and one refused with INVALID_KE_PAYLOAD.
RETRANSMITTED = [request(b"\x2e\x70\x00\x00\x00\x00\x00\x01"),
                 request(b"\x2e\x70\x00\x00\x00\x00\x00\x02", ke_group=ECP256, ke_data=os.urandom(64))]


@pytest.fixture(scope="module")
def charon_replies(module_charon: Any) -> list[Any]:
    """One charon responder (namespace B, proposal PROPOSAL) for the module; its reply to each variant, then
    its two replies to each of RETRANSMITTED."""
    from interop.swanctl import ID_INITIATOR, ID_RESPONDER, psk_conf

    net, _ = module_charon(lambda net: psk_conf(
        local_addrs=net.b.addr4, remote_addrs=net.a.addr4, local_id=ID_RESPONDER, remote_id=ID_INITIATOR,
        local_ts=f"{net.b.inner}/32", remote_ts=f"{net.a.inner}/32", proposals=PROPOSAL,
        esp_proposals="aes128-sha256"))
    replies = net.a.call(send_all, net.b.addr4, [v.data for v in VARIANTS], 5.0, _timeout=60)
    assert len(replies) == len(VARIANTS)
    return replies + net.a.call(send_twice, net.b.addr4, RETRANSMITTED, 5.0, _timeout=60)


@pytest.mark.strongswan
@pytest.mark.parametrize("i", range(len(VARIANTS)), ids=[v.name for v in VARIANTS])
def test_charon_and_ikelab_on_the_same_bytes(charon_replies: list[bytes | None], i: int) -> None:
    """charon answers within RFC 7296 (or as the table records), and ikelab the same unless the table says why."""
    v = VARIANTS[i]
    theirs = check_reply(v, read_reply(charon_replies[i]), v.allowed + ((v.charon,) if v.charon else ()),
                         spi_echoed=v.charon_spi)
    if v.charon:
        assert theirs == v.charon, f"charon now answers {v.name} with {theirs}: update the table"
    mine = verdict(ikelab_answer(v.data)[0])
    assert mine == theirs or v.note, f"{v.name}: ikelab {mine}, charon {theirs}, and no note says why"


@pytest.mark.strongswan
def test_a_retransmitted_request_gets_the_same_response(charon_replies: list[Any]) -> None:
    """2.1: a retransmitted IKE_SA_INIT request (same bytes, same port) is answered with the same response,
    by charon and by ikelab, accepted (same SPIr, same KEr and Nr) or refused."""
    from ikelab.config import IkeConfig
    from ikelab.endpoint import IkeEndpoint
    from ikelab.exchanges_common import Datagram

    for data, theirs in zip(RETRANSMITTED, charon_replies[len(VARIANTS):]):
        endpoint = IkeEndpoint(IkeConfig(local_id="gw.example.com", remote_id="alice@example.org", psk=b"psk",
                                         ike_proposals=(PROPOSAL,), esp_proposals=("aes128-sha256",),
                                         cookie_threshold=None), local_addr="192.0.2.2", forget_closed=True)
        mine = []
        for now in (0.0, 1.0):
            endpoint.receive(Datagram(data, ("192.0.2.1", 40000), ("192.0.2.2", 500)), now)
            mine += [d.payload for d in endpoint.pop_datagrams()]
        for replies in (theirs, mine):
            assert len(replies) == 2 and replies[0] == replies[1], [read_reply(r) for r in replies]
        assert verdict(read_reply(mine[0])) == verdict(read_reply(theirs[0]))


def test_the_table_names_every_difference() -> None:
    """Each variant with a note (or a charon deviation) is a row of the module docstring's table."""
    noted = [v.name for v in VARIANTS if v.note or v.charon or v.charon_spi]
    assert noted and all(f"| {name} " in __doc__ for name in noted), noted
