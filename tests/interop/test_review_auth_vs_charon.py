"""Odd IKE_AUTH requests, answered by strongSwan's charon and by an ikelab responder (RFC 7296).

IKE_AUTH is encrypted, so the requests cannot be written by hand as in test_review_init_vs_charon.py:
ikelab's own initiator (an :class:`ikelab.endpoint.IkeEndpoint`) completes IKE_SA_INIT normally, and
its IKE_AUTH payload list is changed just before it is encrypted (``exchanges_wire.message``, the one
builder every message goes through, patched for IKE_AUTH requests only and restored after).  The same
change is made against charon (namespace B, over UDP from namespace A) and against an in-process
ikelab responder.  The answers are decrypted here with ``cryptography`` (AES-CBC, HMAC-SHA2-256-128,
RFC 7296 3.14) and their payload chains walked with ``struct``; then whether each responder kept the
IKE SA (charon: ``swanctl --list-sas``; ikelab: the endpoint's IKE SA state).  Each changed request is
sent twice: while the IKE SA stands, both answer the retransmission with the same bytes (2.1).

Where the RFC leaves room and the two differ, the tests assert what both must satisfy
(``Variant.allowed``) and the difference is a row here:

| variant | RFC 7296 | charon 5.9.8 | ikelab |
|---|---|---|---|
| no IDi | 1.2, 2.21.2 | no answer; IKE SA deleted | AUTHENTICATION_FAILED; IKE SA closed |
| IDr naming someone else | 3.5 | AUTHENTICATION_FAILED (no config for it) | its own IDr, IKE SA, CHILD SA |
| SAi2 without TSi, TSr | 1.2, 2.21.3 | TS_UNACCEPTABLE; IKE SA up | INVALID_SYNTAX; IKE SA up |
| SAi2 with a Diffie-Hellman group | 1.2 | CHILD SA (DH ignored) | NO_PROPOSAL_CHOSEN; IKE SA up |
| CP(CFG_REQUEST), no address pool | 2.19, 3.15.4 | INTERNAL_ADDRESS_FAILURE; IKE SA up | CHILD SA, no CP |
| empty SK | 1.2, 2.21.2 | no answer; IKE SA deleted | AUTHENTICATION_FAILED; IKE SA closed |
| SAi2 with the reserved SPI 1 | RFC 4303 2.1 | CHILD SA with SPI 1 | INVALID_SYNTAX; IKE SA up |
| two IDi | 1.2, 3.10.1 | INVALID_SYNTAX to port 500 (*); IKE SA deleted | the first IDi; IKE SA, CHILD SA |
| two AUTH | 1.2, 3.10.1 | INVALID_SYNTAX to port 500 (*); IKE SA deleted | the first AUTH; IKE SA, CHILD SA |
| unknown payload inside SK, critical | 2.5, 2.11 | UNSUPPORTED_CRITICAL_PAYLOAD to port 500 (*) | the same, its port |

(*) charon fakes a NAT (kernel-libipsec carries ESP in UDP only: "faking NAT situation to enforce UDP
encapsulation"), so ikelab's initiator sends IKE_AUTH from port 4500; charon answers a request it
could not parse to port 500, where 2.11 says "the response MUST be sent to the IP address and port
from which" the request came.  Every other answer of both goes back to the request's port.

Both may answer a request without IDi with AUTHENTICATION_FAILED (2.21.2: "All errors causing the
authentication to fail ... SHOULD result in an AUTHENTICATION_FAILED notification") or drop it, and
neither keeps the IKE SA.  An IDr naming someone else may be answered with the responder's own IDr
(3.5: "the responder MAY use some other IDr to finish the exchange") or refused.  A childless
IKE_AUTH (no SAi2, TSi, TSr) is accepted by both; charon announced CHILDLESS_IKEV2_SUPPORTED
(RFC 6023 3), ikelab's responder (``childless=False``) did not and accepts it all the same.  TSi and
TSr without SAi2 ask for a CHILD SA that nothing offers: both answer NO_PROPOSAL_CHOSEN and keep the
IKE SA (ikelab answered with a silently childless IKE SA before: fixed in
``exchanges_child._answer_child_request``).  Both ignore an unknown status Notify and an unknown
error Notify in a request (3.10.1: "Unrecognized error types in a request and status types in a
request or response MUST be ignored"), a CERTREQ of an unknown encoding, and an unknown payload whose
critical bit is clear (2.5); both answer USE_TRANSPORT_MODE with a tunnel-mode CHILD SA when only
tunnel mode is configured (1.3.1: the responder may create a tunnel-mode SA instead).

1.2 says the SA payloads of IKE_AUTH cannot carry a Diffie-Hellman transform other than NONE (there
is no KE to go with it): charon drops the transform and accepts the proposal, ikelab (which offers
and configures its IKE_AUTH proposals without one) finds none that matches; either way the IKE SA
stands.  A CP(CFG_REQUEST) to a responder with no address pool: charon answers
INTERNAL_ADDRESS_FAILURE and creates no CHILD SA (3.15.4), ikelab creates the CHILD SA for the
initiator's own address and sends no CP.

Run: ``cd tests && python -m pytest -n0 interop/test_review_auth_vs_charon.py`` (one charon for all
variants, namespaces deleted at the end; the ikelab half runs without charon).
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import os
import struct
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# RFC 7296 3.2 / 3.10.1 numbers, written out so that no ikelab table decides what an answer means
SA, IDR, AUTH, NOTIFY, TSI, TSR, SK = 33, 36, 39, 41, 44, 45, 46
IKE_AUTH, FLAG_R = 35, 0x20
UNSUPPORTED_CRITICAL_PAYLOAD, INVALID_SYNTAX, NO_PROPOSAL_CHOSEN = 1, 7, 14
AUTHENTICATION_FAILED, INTERNAL_ADDRESS_FAILURE, TS_UNACCEPTABLE = 24, 36, 38
USE_TRANSPORT_MODE = 16391
UNKNOWN_PAYLOAD = 200  # unassigned payload type
UNKNOWN_STATUS, UNKNOWN_ERROR = 40000, 8000  # unassigned status and error Notify types (3.10.1)
NAMES = {UNSUPPORTED_CRITICAL_PAYLOAD: "UNSUPPORTED_CRITICAL_PAYLOAD", INVALID_SYNTAX: "INVALID_SYNTAX",
         NO_PROPOSAL_CHOSEN: "NO_PROPOSAL_CHOSEN", AUTHENTICATION_FAILED: "AUTHENTICATION_FAILED",
         TS_UNACCEPTABLE: "TS_UNACCEPTABLE", INTERNAL_ADDRESS_FAILURE: "INTERNAL_ADDRESS_FAILURE"}

PSK = "ikelab-interop-psk"
ID_I, ID_R = "alice@example.org", "gw.example.com"
ADDR_I, ADDR_R = "192.0.2.1", "192.0.2.2"  # net.a.addr4, net.b.addr4 (docs/strongswan.md)
INNER_I, INNER_R = "198.51.100.1", "203.0.113.1"
IKE_PROPOSAL, ESP_PROPOSAL = "aes128-sha256-x25519", "aes128-sha256"


# ------------------------------------------------------------------ the changes to IKE_AUTH


def _index(payloads: list[Any], name: str) -> int:
    return next(i for i, p in enumerate(payloads) if type(p).__name__ == name)


def _without(name: str) -> Callable[[list[Any]], list[Any]]:
    return lambda ps: [p for p in ps if type(p).__name__ != name]


def _replace(name: str, make: Callable[[Any], Any]) -> Callable[[list[Any]], list[Any]]:
    return lambda ps: [make(p) if type(p).__name__ == name else p for p in ps]


def _insert_after(name: str, make: Callable[[], Any]) -> Callable[[list[Any]], list[Any]]:
    return lambda ps: ps[:_index(ps, name) + 1] + [make()] + ps[_index(ps, name) + 1:]


def _wrong_auth(p: Any) -> Any:
    from ikelab.payloads import AUTH as AuthPayload

    return AuthPayload(p.method, bytes([p.data[0] ^ 1]) + bytes(p.data[1:]))


def _rsa_auth(p: Any) -> Any:
    from ikelab.payloads import AUTH as AuthPayload

    return AuthPayload(1, bytes(p.data))  # RSA Digital Signature (3.8), the PSK MAC as its value


def _unknown(critical: bool) -> Callable[[], Any]:
    def make() -> Any:
        from ikelab.payloads import UnknownPayload

        return UnknownPayload(UNKNOWN_PAYLOAD, b"\x00" * 4, critical)
    return make


def _idr(text: str) -> Callable[[], Any]:
    def make() -> Any:
        from ikelab.id_payload import IDr
        from ikelab.identity import parse_identity

        ident = parse_identity(text)
        return IDr(ident.id_type, bytes(ident.data))
    return make


def _notify(ntype: int, data: bytes = b"") -> Callable[[], Any]:
    def make() -> Any:
        from ikelab.notify_payload import Notify

        return Notify(ntype, 0, b"", data)
    return make


def _certreq_unknown() -> Any:
    from ikelab.payloads import CERTREQ

    return CERTREQ(201, os.urandom(20))  # Cert Encoding 201: private use, known to neither (3.6, 3.7)


def _auth_of(method: int, cut: int | None = None) -> Callable[[Any], Any]:
    def make(p: Any) -> Any:
        from ikelab.payloads import AUTH as AuthPayload

        return AuthPayload(method, bytes(p.data)[:cut])
    return make


def _idi(text: str) -> Callable[[Any], Any]:
    def make(p: Any) -> Any:
        from ikelab.id_payload import IDi
        from ikelab.identity import parse_identity

        ident = parse_identity(text)
        return IDi(ident.id_type, bytes(ident.data))
    return make


def _sa_with(**fields: Any) -> Callable[[Any], Any]:
    """SAi2 with every proposal's ``fields`` replaced (protocol, spi)."""
    def make(p: Any) -> Any:
        from dataclasses import replace

        from ikelab.payloads import SA as SaPayload

        return SaPayload(tuple(replace(pr, **fields) for pr in p.proposals))
    return make


def _transforms(change: Callable[[tuple[Any, ...]], tuple[Any, ...]]) -> Callable[[Any], Any]:
    """SAi2 with each proposal's transforms changed."""
    def make(p: Any) -> Any:
        from dataclasses import replace

        from ikelab.payloads import SA as SaPayload

        return SaPayload(tuple(replace(pr, transforms=change(pr.transforms)) for pr in p.proposals))
    return make


def _aes256(transforms: tuple[Any, ...]) -> tuple[Any, ...]:
    from dataclasses import replace

    return tuple(replace(t, key_length=256) if int(t.type) == 1 else t for t in transforms)  # both allow AES-128


def _esn_only(transforms: tuple[Any, ...]) -> tuple[Any, ...]:
    from dataclasses import replace

    return tuple(replace(t, id=1) if int(t.type) == 5 else t for t in transforms)  # ESN 1 only (3.3.2)


def _with_dh(transforms: tuple[Any, ...]) -> tuple[Any, ...]:
    from ikelab.sa_payload import Transform

    return transforms + (Transform(4, 31),)  # Curve25519, as for the IKE SA


def _cp_request() -> Any:
    from ikelab.cp_payload import CP

    return CP(1, ((1, b""),))  # CFG_REQUEST (3.15): INTERNAL_IP4_ADDRESS, empty


def _twice(name: str) -> Callable[[list[Any]], list[Any]]:
    return lambda ps: ps[:_index(ps, name) + 1] + [ps[_index(ps, name)]] + ps[_index(ps, name) + 1:]


def _ts_net(cls_name: str, network: str) -> Callable[[Any], Any]:
    def make(p: Any) -> Any:
        from ikelab import payloads as P

        return getattr(P, cls_name)((P.TrafficSelector.from_network(network),))
    return make


def _compose(*changes: Callable[[list[Any]], list[Any]]) -> Callable[[list[Any]], list[Any]]:
    def change(ps: list[Any]) -> list[Any]:
        for c in changes:
            ps = c(ps)
        return ps
    return change


CHANGES: dict[str, Callable[[list[Any]], list[Any]]] = {
    "valid": lambda ps: ps,
    "no IDi": _without("IDi"),
    "no AUTH": _without("AUTH"),
    "AUTH value with one bit flipped": _replace("AUTH", _wrong_auth),
    "AUTH method 1 (RSA) with a PSK configured": _replace("AUTH", _rsa_auth),
    "unknown payload inside SK, critical": _insert_after("AUTH", _unknown(True)),
    "unknown payload inside SK, not critical": _insert_after("AUTH", _unknown(False)),
    "IDr naming the responder": _insert_after("IDi", _idr(ID_R)),
    "IDr naming someone else": _insert_after("IDi", _idr("other.example.net")),
    "no SAi2, TSi and TSr present": _without("SA"),
    "no SAi2, TSi, TSr": _compose(_without("SA"), _without("TSi"), _without("TSr")),
    "SAi2 without TSi, TSr": _compose(_without("TSi"), _without("TSr")),
    "SAi2 without an acceptable proposal": _replace("SA", _transforms(_aes256)),
    "TSi and TSr outside the policy": _compose(_replace("TSi", _ts_net("TSi", "10.9.9.1/32")),
                                                _replace("TSr", _ts_net("TSr", "10.9.9.2/32"))),
    "USE_TRANSPORT_MODE, only tunnel configured": _insert_after("AUTH", _notify(USE_TRANSPORT_MODE)),
    "unknown status Notify": _insert_after("AUTH", _notify(UNKNOWN_STATUS, b"\x01\x02")),
    "unknown error Notify": _insert_after("AUTH", _notify(UNKNOWN_ERROR, b"\x01\x02")),
    "INITIAL_CONTACT": _insert_after("IDi", _notify(16384)),
    "CERTREQ of an unknown encoding": _insert_after("IDi", _certreq_unknown),
    "AUTH method 200 (unassigned)": _replace("AUTH", _auth_of(200)),
    "AUTH cut to 16 octets": _replace("AUTH", _auth_of(2, 16)),
    "IDi replaced after AUTH was computed": _replace("IDi", _idi("bob@example.org")),
    "IDi of another peer, AUTH computed for it": lambda ps: ps,
    "empty SK": lambda ps: [],
    "SAi2 for protocol IKE": _replace("SA", _sa_with(protocol=1, spi=b"")),
    "SAi2 with the reserved SPI 1": _replace("SA", _sa_with(spi=b"\x00\x00\x00\x01")),
    "TSi and TSr wider than the policy": _compose(_replace("TSi", _ts_net("TSi", "0.0.0.0/0")),
                                                   _replace("TSr", _ts_net("TSr", "0.0.0.0/0"))),
    "SAi2 asking for ESN only": _replace("SA", _transforms(_esn_only)),
    "SAi2 with a Diffie-Hellman group": _replace("SA", _transforms(_with_dh)),
    "CP(CFG_REQUEST), no address pool": _insert_after("AUTH", _cp_request),
    "two IDi": _twice("IDi"),
    "two AUTH": _twice("AUTH"),
    "AUTH before IDi": lambda ps: [ps[_index(ps, "AUTH")]] + [p for p in ps if type(p).__name__ != "AUTH"],
}


@contextlib.contextmanager
def changed_ike_auth(name: str) -> Iterator[None]:
    """ikelab's IKE_AUTH requests with the payload list changed as CHANGES[name] says, until the block ends."""
    from ikelab import exchanges_wire

    original = exchanges_wire.message

    def message(spi_i: bytes, spi_r: bytes, exchange: Any, is_initiator: bool, is_response: bool, message_id: int,
                payloads: Any) -> Any:
        if int(exchange) == IKE_AUTH and not is_response:
            payloads = CHANGES[name](list(payloads))
        return original(spi_i, spi_r, exchange, is_initiator, is_response, message_id, payloads)

    exchanges_wire.message = message
    try:
        yield
    finally:
        exchanges_wire.message = original


# ------------------------------------------------------------------ the two halves


#: variants whose initiator calls itself another name (with the same PSK): its IDi and AUTH agree
LOCAL_IDS = {"IDi of another peer, AUTH computed for it": "bob@example.org"}


def initiator_endpoint(local: str, name: str = "") -> Any:
    """ikelab's initiator (an IkeEndpoint at ``local``): charon's PSK, proposals and selectors."""
    from ikelab.config import IkeConfig
    from ikelab.endpoint import IkeEndpoint

    return IkeEndpoint(IkeConfig(local_id=LOCAL_IDS.get(name, ID_I), remote_id=ID_R, psk=PSK.encode(),
                                 ike_proposals=(IKE_PROPOSAL,),
                                 esp_proposals=(ESP_PROPOSAL,), local_ts=(f"{INNER_I}/32",),
                                 remote_ts=(f"{INNER_R}/32",), cookie_threshold=None), local_addr=local)


@dataclass(frozen=True)
class Exchange:
    """One variant's IKE_AUTH response (None: none came) and the keys to read it (SK_er, SK_ar, 2.14)."""

    spi_i: bytes
    spi_r: bytes
    response: bytes | None
    sk_er: bytes
    sk_ar: bytes
    sent_from: int = 500  # our UDP port of the IKE_AUTH request
    came_to: int = 500  # the port its response came to (0: none came)
    again: bytes | None = None  # the answer to the same request sent again (2.1), or None


def against_charon(names: list[str], local: str, peer: str, timeout: float) -> list[Exchange]:
    """Runs in namespace A: each variant's IKE_SA_INIT and changed IKE_AUTH with charon.

    From UDP port 500, and IKE_AUTH from 4500 with the Non-ESP Marker where ikelab moved there (charon's
    configuration fakes a NAT to force UDP encapsulation, RFC 7296 2.23, RFC 3948 2.2).
    """
    import socket
    import time

    from ikelab.exchanges_common import Datagram

    out = []
    socks = {}
    for port in (500, 4500):
        socks[port] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        socks[port].bind((local, port))
        socks[port].settimeout(timeout)
    try:
        for name in names:
            endpoint = initiator_endpoint(local, name)
            with changed_ike_auth(name):
                sa = endpoint.initiate((peer, 500), 0.0)
                (request,) = endpoint.pop_datagrams()
                socks[500].sendto(request.payload, (peer, 500))
                data, _ = answer([socks[500]], sa.spi_i, 34, timeout)
                assert data is not None, f"{name}: no IKE_SA_INIT response"
                endpoint.receive(Datagram(data, (peer, 500), (local, 500)), 0.1)
                (request,) = endpoint.pop_datagrams()  # the IKE_AUTH request
            sent = time.monotonic()
            socks[request.src[1]].sendto(request.payload, request.dst)
            response, port = answer(list(socks.values()), sa.spi_i, IKE_AUTH, timeout)
            took = time.monotonic() - sent
            # a retransmission (2.1), sent once more if unanswered: charon ignores a copy that arrives while it
            # still holds the IKE SA just after sending its response ("ignoring request with ID 1, already
            # processing"), a window that a busy machine (CI) widens and that a real initiator, retransmitting
            # seconds later, never hits.  An answer from the cache comes about as fast as the first one did
            again = None
            for wait in (max(0.5, 2 * took), max(1.0, 4 * took)) if response else (0.5,):
                time.sleep(min(0.5, 2 * took))  # as a real initiator, not at once
                socks[request.src[1]].sendto(request.payload, request.dst)
                again, _ = answer(list(socks.values()), sa.spi_i, IKE_AUTH, wait)
                if again is not None:
                    break
            out.append(Exchange(sa.spi_i, sa.spi_r, response, sa.keys.sk_er, sa.keys.sk_ar,
                                request.src[1], port, again))
    finally:
        for sock in socks.values():
            sock.close()
    return out


def answer(socks: list[Any], spi_i: bytes, exchange: int, timeout: float) -> tuple[bytes | None, int]:
    """The response to our ``exchange`` request of IKE SA ``spi_i`` (without the Non-ESP Marker of port 4500,
    RFC 3948 2.2) and the local port it came to, or (None, 0); other datagrams (a late answer to an earlier
    variant) are passed over."""
    import select
    import time

    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select(socks, [], [], left)
        for sock in ready:
            data, port = sock.recv(65535), sock.getsockname()[1]
            if port == 4500:
                if data[:4] != bytes(4):
                    continue  # ESP
                data = data[4:]
            if len(data) >= 28 and data[:8] == spi_i and data[18] == exchange and data[19] & FLAG_R:
                return data, port
    return None, 0


def ikelab_responder() -> Any:
    """An ikelab responder configured as charon is (the endpoint of ``ikelab respond``: CLOSED IKE SAs go)."""
    from ikelab.config import IkeConfig
    from ikelab.endpoint import IkeEndpoint

    return IkeEndpoint(IkeConfig(local_id=ID_R, remote_id=ID_I, psk=PSK.encode(), ike_proposals=(IKE_PROPOSAL,),
                                 esp_proposals=(ESP_PROPOSAL,), local_ts=(f"{INNER_R}/32",),
                                 remote_ts=(f"{INNER_I}/32",), cookie_threshold=None),
                       local_addr=ADDR_R, forget_closed=True)


def against_ikelab(name: str) -> tuple[Exchange, Any]:
    """The same with an in-process ikelab responder: the exchange and the responder's endpoint."""
    from ikelab.exchanges_common import Datagram, unframe

    initiator, responder = initiator_endpoint(ADDR_I, name), ikelab_responder()
    with changed_ike_auth(name):
        sa = initiator.initiate((ADDR_R, 500), 0.0)
        for now in (0.0, 0.1):  # IKE_SA_INIT, then IKE_AUTH
            (request,) = initiator.pop_datagrams()
            responder.receive(Datagram(request.payload, request.src, request.dst), now)
            answers = responder.pop_datagrams()
            assert len(answers) <= 1, "one request, at most one answer"
            if now == 0.0:
                (answer,) = answers
                initiator.receive(Datagram(answer.payload, answer.src, answer.dst), now)
    response = unframe(answers[0]) if answers else None
    responder.receive(Datagram(request.payload, request.src, request.dst), 0.2)  # a retransmission (2.1)
    again = [unframe(d) for d in responder.pop_datagrams()]
    assert len(again) <= 1, "one request, at most one answer"
    return Exchange(sa.spi_i, sa.spi_r, response, sa.keys.sk_er, sa.keys.sk_ar, request.src[1],
                    answers[0].dst[1] if answers else 0, again[0] if again else None), responder


# ------------------------------------------------------------------ reading an answer by hand


@dataclass(frozen=True)
class Answer:
    """An IKE_AUTH response, decrypted and read by hand: its payload types in order, (type, data) of each
    Notify, and the ID type and data of IDr."""

    kinds: tuple[int, ...]
    notifies: tuple[tuple[int, bytes], ...]
    idr: tuple[int, bytes] | None
    ts: tuple[tuple[tuple[Any, ...], ...], ...] = ()  # TSi's then TSr's selectors (3.13.1)

    @property
    def verdict(self) -> str:
        """"auth+child", "auth+notify:<first error>", "auth" (no CHILD SA, no error) or "notify:<first error>"."""
        errors = [t for t, _ in self.notifies if t < 16384]
        error = f"notify:{NAMES.get(errors[0], errors[0])}" if errors else ""
        if AUTH not in self.kinds:
            return error or "no AUTH and no error Notify"
        if SA in self.kinds and TSI in self.kinds and TSR in self.kinds:
            return "auth+child" + (f"+{error}" if error else "")
        return f"auth+{error}" if error else "auth"


def read_answer(x: Exchange) -> Answer | None:
    """Checks the header (3.1) and the ICV (3.14), decrypts SK and walks its payload chain."""
    if x.response is None:
        return None
    data = x.response
    spi_i, spi_r, nxt, version, exchange, flags, mid, length = struct.unpack_from("!8s8sBBBBII", data)
    assert (spi_i, spi_r, version, exchange, flags & 0x28, mid, length) == (
        x.spi_i, x.spi_r, 0x20, IKE_AUTH, FLAG_R, 1, len(data)), "3.1: the response to our IKE_AUTH request"
    assert nxt == SK, "3.14: every payload of an IKE_AUTH response is inside SK"
    first, _, plen = struct.unpack_from("!BBH", data, 28)
    assert 28 + plen == len(data)
    icv = hmac.new(x.sk_ar, data[:-16], "sha256").digest()[:16]
    assert hmac.compare_digest(icv, data[-16:]), "3.14: the ICV (AUTH_HMAC_SHA2_256_128 with SK_ar)"
    iv, ciphertext = data[32:48], data[48:-16]
    dec = Cipher(algorithms.AES(x.sk_er), modes.CBC(iv)).decryptor()
    plain = dec.update(ciphertext) + dec.finalize()
    body = plain[:len(plain) - 1 - plain[-1]]  # Pad Length last (3.14)
    kinds, notifies, idr, off, ts = [], [], None, 0, []
    while first:
        kind, (first, _, plen) = first, struct.unpack_from("!BBH", body, off)
        chunk = body[off + 4:off + plen]
        kinds.append(kind)
        if kind == NOTIFY:
            spi_size, ntype = chunk[1], struct.unpack_from("!H", chunk, 2)[0]
            notifies.append((ntype, chunk[4 + spi_size:]))
        elif kind == IDR:
            idr = (chunk[0], chunk[4:])
        elif kind in (TSI, TSR):
            ts.append(selectors(chunk))
        off += plen
    assert off == len(body), "the inner chain fills the plaintext"
    return Answer(tuple(kinds), tuple(notifies), idr, tuple(ts))


def selectors(body: bytes) -> tuple[tuple[Any, ...], ...]:
    """(TS Type, IP Protocol ID, Start Port, End Port, Starting Address, Ending Address) of each Traffic
    Selector of a TSi/TSr payload body (RFC 7296 3.13.1); IPv4 only."""
    out, at = [], 4
    for _ in range(body[0]):
        ts_type, proto, length, start, end = struct.unpack_from("!BBHHH", body, at)
        assert (ts_type, length) == (7, 16), "TS_IPV4_ADDR_RANGE, 16 octets"
        out.append((ts_type, proto, start, end, str(ipaddress.IPv4Address(body[at + 8:at + 12])),
                    str(ipaddress.IPv4Address(body[at + 12:at + 16]))))
        at += length
    return tuple(out)


# ------------------------------------------------------------------ the variants


@dataclass(frozen=True)
class Variant:
    """One change, the rule it probes, and what RFC 7296 lets a responder answer and keep.

    ``allowed``: verdicts of :attr:`Answer.verdict` (or "drop").  ``kept``: whether the IKE SA must stand
    afterwards (None: either).  ``note``: why ikelab and charon may answer differently (a row of the table).
    """

    name: str
    rule: str
    allowed: tuple[str, ...]
    kept: bool | None
    note: str = ""
    charon: str | None = None  # what charon answers instead, where it leaves the RFC
    charon_port: int | None = None  # the port charon sends its answer to, where it is not the request's (2.11)
    absent: int | None = None  # a Notify type the answer must not carry


FAILED = ("notify:AUTHENTICATION_FAILED",)
OK = ("auth+child",)
VARIANTS = [
    Variant("valid", "1.2", OK, True),
    Variant("no IDi", "1.2, 2.21.2", FAILED + ("notify:INVALID_SYNTAX", "drop"), False,
            note="charon drops the request and the IKE SA; ikelab answers AUTHENTICATION_FAILED"),
    Variant("no AUTH", "1.2, 2.21.2", FAILED + ("notify:INVALID_SYNTAX", "drop"), False),
    Variant("AUTH value with one bit flipped", "2.15, 2.21.2", FAILED, False),
    Variant("AUTH method 1 (RSA) with a PSK configured", "2.15, 3.8", FAILED, False),
    Variant("unknown payload inside SK, critical", "2.5, 3.2", ("notify:UNSUPPORTED_CRITICAL_PAYLOAD",), None,
            charon_port=500),
    Variant("unknown payload inside SK, not critical", "2.5, 3.2", OK, True),
    Variant("IDr naming the responder", "3.5", OK, True),
    Variant("IDr naming someone else", "3.5", OK + FAILED, None,
            note="charon finds no configuration for that IDr: AUTHENTICATION_FAILED; ikelab answers as itself"),
    Variant("no SAi2, TSi and TSr present", "1.2, 2.21.3, RFC 6023 3",
            ("auth+notify:NO_PROPOSAL_CHOSEN", "auth+notify:INVALID_SYNTAX"), True),
    Variant("no SAi2, TSi, TSr", "1.2, RFC 6023 3", ("auth", "auth+notify:INVALID_SYNTAX"), None),
    Variant("SAi2 without TSi, TSr", "1.2, 2.21.3", ("auth+notify:INVALID_SYNTAX", "auth+notify:TS_UNACCEPTABLE",
                                                     "auth+notify:NO_PROPOSAL_CHOSEN"), True,
            note="charon TS_UNACCEPTABLE, ikelab INVALID_SYNTAX: RFC 7296 names no Notify for missing TSi/TSr"),
    Variant("SAi2 without an acceptable proposal", "1.2, 2.21.3, 3.10.1", ("auth+notify:NO_PROPOSAL_CHOSEN",), True),
    Variant("TSi and TSr outside the policy", "1.2, 2.9, 2.21.3", ("auth+notify:TS_UNACCEPTABLE",), True),
    Variant("USE_TRANSPORT_MODE, only tunnel configured", "1.3.1", OK + ("auth+notify:NO_PROPOSAL_CHOSEN",), True,
            absent=USE_TRANSPORT_MODE),
    Variant("unknown status Notify", "3.10.1", OK, True),
    Variant("unknown error Notify", "3.10.1", OK, True),
    Variant("INITIAL_CONTACT", "2.4", OK, True),
    Variant("CERTREQ of an unknown encoding", "3.7", OK, True),
    Variant("AUTH method 200 (unassigned)", "2.15, 3.8", FAILED, False),
    Variant("AUTH cut to 16 octets", "2.15, 2.21.2", FAILED, False),
    Variant("IDi replaced after AUTH was computed", "2.15, 2.21.2", FAILED, False),
    Variant("IDi of another peer, AUTH computed for it", "2.15, 2.21.2", FAILED, False),
    Variant("empty SK", "1.2, 2.21.2", FAILED + ("notify:INVALID_SYNTAX", "drop"), False,
            note="charon drops the request and the IKE SA; ikelab answers AUTHENTICATION_FAILED"),
    Variant("SAi2 for protocol IKE", "1.2, 2.21.3, 3.3.1", ("auth+notify:NO_PROPOSAL_CHOSEN",), True),
    Variant("SAi2 with the reserved SPI 1", "RFC 4303 2.1", OK + ("auth+notify:INVALID_SYNTAX",), True,
            note="charon takes the SPI; ikelab answers INVALID_SYNTAX (1-255 are reserved, RFC 4303 2.1)"),
    Variant("TSi and TSr wider than the policy", "2.9", OK, True),
    Variant("SAi2 asking for ESN only", "3.3.2, 3.3.6", ("auth+notify:NO_PROPOSAL_CHOSEN",), True),
    Variant("SAi2 with a Diffie-Hellman group", "1.2", OK + ("auth+notify:NO_PROPOSAL_CHOSEN",), True,
            note="charon ignores the DH transform; ikelab finds no proposal without it"),
    Variant("CP(CFG_REQUEST), no address pool", "2.19, 3.15.4", OK + ("auth+notify:INTERNAL_ADDRESS_FAILURE",),
            True, note="charon INTERNAL_ADDRESS_FAILURE and no CHILD SA; ikelab ignores the CP"),
    Variant("two IDi", "1.2, 3.10.1", OK + ("notify:INVALID_SYNTAX",), None, charon_port=500,
            note="charon INVALID_SYNTAX; ikelab reads the first IDi"),
    Variant("two AUTH", "1.2, 3.10.1", OK + ("notify:INVALID_SYNTAX",), None, charon_port=500,
            note="charon INVALID_SYNTAX; ikelab reads the first AUTH"),
    Variant("AUTH before IDi", "3.2", OK, True),
]
assert [v.name for v in VARIANTS] == list(CHANGES)


def verdict(answer: Answer | None) -> str:
    """"drop" for no answer, else :attr:`Answer.verdict`."""
    return "drop" if answer is None else answer.verdict


def check_retransmission(v: Variant, x: Exchange, kept: bool) -> None:
    """2.1: a retransmitted request is answered with the same response while the IKE SA stands (the responder
    "MUST ... retransmit the response"), and by nothing or that same response once it is gone."""
    if kept:
        assert x.again == x.response, f"{v.name}: the retransmission got another answer"
    else:
        assert x.again in (None, x.response), f"{v.name}: the retransmission got another answer"


def check_answer(v: Variant, answer: Answer | None, allowed: tuple[str, ...]) -> str:
    """What RFC 7296 fixes in any answer to ``v``; returns the verdict (asserted to be one of ``allowed``)."""
    got = verdict(answer)
    assert got in allowed, f"{v.name} (RFC 7296 {v.rule}): {got}, not one of {allowed}; {answer}"
    if answer is not None and answer.kinds and answer.kinds[0] != IDR and AUTH not in answer.kinds:
        # 2.21.2: the error "is usually the only payload in that response"
        assert all(k == NOTIFY for k in answer.kinds), answer
    if answer is not None and v.absent is not None:  # 1.3.1: a tunnel-mode SA says nothing of transport mode
        assert v.absent not in [t for t, _ in answer.notifies], answer
    if got.startswith("auth+child"):  # 2.9: the policy's selectors, narrowed from any wider offer
        assert answer is not None and answer.ts == (((7, 0, 0, 65535, INNER_I, INNER_I),),
                                                    ((7, 0, 0, 65535, INNER_R, INNER_R),)), answer.ts
    if answer is not None and AUTH in answer.kinds:  # 1.2: IDr and AUTH of the responder we configured
        assert answer.idr == (2, ID_R.encode()), answer.idr  # ID_FQDN (3.5)
    return got


@pytest.mark.parametrize("v", VARIANTS, ids=[v.name for v in VARIANTS])
def test_ikelab_responder(v: Variant) -> None:
    """ikelab answers each variant as RFC 7296 says, and keeps the IKE SA only where it was authenticated."""
    from ikelab.state import State

    exchange, responder = against_ikelab(v.name)
    got = check_answer(v, read_answer(exchange), v.allowed)
    if exchange.response is not None:  # 2.11: back to the address and port the request came from
        assert exchange.came_to == exchange.sent_from, exchange
    states = [sa.state for sa in responder.sas.values() if sa.spi_i == exchange.spi_i]
    kept = State.ESTABLISHED in states
    assert kept == got.startswith("auth"), (v.name, states)
    check_retransmission(v, exchange, kept)
    if v.kept is not None:
        assert kept == v.kept, (v.name, states)


#: sent last, alone: charon's answer to INITIAL_CONTACT may delete the IKE SAs of the same identities (2.4)
LAST = "INITIAL_CONTACT"


def charon_states(charon: Any) -> dict[bytes, str]:
    """SPIi -> state of every IKE SA charon lists."""
    return {bytes.fromhex(sa["initiator-spi"]): sa["state"] for sa in charon.list_sas()}


@pytest.fixture(scope="module")
def charon_run(module_charon: Any) -> tuple[list[Exchange], list[dict[bytes, str]]]:
    """One charon responder (namespace B) for the module: each variant's exchange with it, and the IKE SAs
    it lists after all but LAST and after LAST."""
    from interop.swanctl import psk_conf

    net, charon = module_charon(lambda net: psk_conf(
        local_addrs=net.b.addr4, remote_addrs=net.a.addr4, local_id=ID_R, remote_id=ID_I,
        local_ts=f"{INNER_R}/32", remote_ts=f"{INNER_I}/32", psk=PSK, proposals=IKE_PROPOSAL,
        esp_proposals=ESP_PROPOSAL))
    assert (net.a.addr4, net.b.addr4, net.a.inner, net.b.inner) == (ADDR_I, ADDR_R, INNER_I, INNER_R)
    first = [n for n in CHANGES if n != LAST]
    exchanges = net.a.call(against_charon, first, ADDR_I, ADDR_R, 3.0, _timeout=180)
    states = [charon_states(charon)]
    exchanges += net.a.call(against_charon, [LAST], ADDR_I, ADDR_R, 3.0, _timeout=30)
    states.append(charon_states(charon))
    order = first + [LAST]
    return [exchanges[order.index(n)] for n in CHANGES], states


@pytest.mark.strongswan
@pytest.mark.parametrize("i", range(len(VARIANTS)), ids=[v.name for v in VARIANTS])
def test_charon_and_ikelab(charon_run: tuple[list[Exchange], list[dict[bytes, str]]], i: int) -> None:
    """charon answers within RFC 7296 (or as the table records), keeps the IKE SA as the RFC says, and ikelab
    answers the same unless the table says why."""
    v = VARIANTS[i]
    exchanges, states = charon_run
    x = exchanges[i]
    theirs = check_answer(v, read_answer(x), v.allowed + ((v.charon,) if v.charon else ()))
    if v.charon:
        assert theirs == v.charon, f"charon now answers {v.name} with {theirs}: update the table"
    if x.response is not None:  # 2.11: "the response MUST be sent to the IP address and port from which" it came
        assert x.came_to == (v.charon_port or x.sent_from), f"{v.name}: charon answered to port {x.came_to}"
    kept = states[v.name == LAST].get(x.spi_i) == "ESTABLISHED"
    assert kept == theirs.startswith("auth"), (v.name, states)
    # charon may ignore a copy that comes while it is still busy with the IKE SA ("ignoring request with ID 1,
    # already processing"), however long the test waits: what it answers must be the same response (2.1);
    # the strict check, answered while the IKE SA stands, is on ikelab's half (test_ikelab_responder)
    check_retransmission(v, x, False)
    if v.kept is not None:
        assert kept == v.kept, (v.name, states)
    mine = verdict(read_answer(against_ikelab(v.name)[0]))
    assert mine == theirs or v.note, f"{v.name}: ikelab {mine}, charon {theirs}, and no note says why"


def test_the_table_names_every_difference() -> None:
    """Each variant with a note (or a charon deviation) is a row of the module docstring's table."""
    noted = [v.name for v in VARIANTS if v.note or v.charon or v.charon_port]
    assert all(f"| {name} " in __doc__ for name in noted), noted



def ikelab_initial_contact() -> tuple[list[Any], Any]:
    """One ikelab responder: an IKE SA set up as usual, then a second one from the same peer whose IKE_AUTH
    says INITIAL_CONTACT; the states of both afterwards, in that order."""
    from ikelab.exchanges_common import Datagram

    responder = ikelab_responder()
    sas = []
    for name in ("valid", LAST):
        initiator = initiator_endpoint(ADDR_I)
        with changed_ike_auth(name):
            sas.append(initiator.initiate((ADDR_R, 500), 0.0))
            for now in (0.0, 0.1):
                (request,) = initiator.pop_datagrams()
                responder.receive(Datagram(request.payload, request.src, request.dst), now)
                for answer in responder.pop_datagrams():
                    initiator.receive(Datagram(answer.payload, answer.src, answer.dst), now)
    by_spi_i = {sa.spi_i: sa.state for sa in responder.sas.values()}  # the endpoint files them by its own SPI
    return [by_spi_i.get(sa.spi_i) for sa in sas], responder


@pytest.mark.strongswan
def test_initial_contact_ends_the_older_ike_sas(charon_run: tuple[list[Exchange], list[dict[bytes, str]]]) -> None:
    """2.4: on INITIAL_CONTACT the responder may drop its other IKE SAs with the same identities; charon does,
    and so does ikelab (the new IKE SA stands in both)."""
    from ikelab.state import State

    exchanges, (before, after) = charon_run
    new = exchanges[list(CHANGES).index(LAST)].spi_i
    older = [spi for spi, state in before.items() if state == "ESTABLISHED"]
    assert len(older) >= 10 and after.get(new) == "ESTABLISHED"
    assert not any(after.get(spi) == "ESTABLISHED" for spi in older), after
    (old_state, new_state), _ = ikelab_initial_contact()
    assert new_state == State.ESTABLISHED and old_state in (None, State.CLOSED, State.DELETING), old_state
