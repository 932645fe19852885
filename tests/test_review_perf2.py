"""What the per-message speed-ups of 2026-12-01 (evening) must not change (docs/performance.md).

Each shortcut is compared with the checked path it skips: the same values, and for anything the
shortcut does not take, the same errors and the same drops as before.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from ikelab import message as M
from ikelab.config import IkeConfig
from ikelab.endpoint import IkeEndpoint
from ikelab.errors import ParseError
from ikelab.events import MessageDropped, MessageSent
from ikelab.exchanges_common import Datagram, readdressed
from ikelab.rand import DeterministicRandom
from ikelab.state import State

SUITES = [("aes128-sha256-prfsha256-ecp256", "aes128-sha256"), ("aes256gcm16-prfsha256-x25519", "aes256gcm16")]


def _pair(ike: str, esp: str) -> tuple[IkeEndpoint, IkeEndpoint]:
    base = dict(psk=b"test secret", ike_proposals=(ike,), esp_proposals=(esp,))
    a = IkeEndpoint(IkeConfig(local_id="moon.example", remote_id="sun.example", **base),
                    DeterministicRandom(7).fork("i"), "192.0.2.1")
    b = IkeEndpoint(IkeConfig(local_id="sun.example", remote_id="moon.example", **base),
                    DeterministicRandom(7).fork("r"), "192.0.2.2")
    return a, b


def _handshake(ike: str, esp: str) -> tuple[IkeEndpoint, IkeEndpoint, list[tuple[IkeEndpoint, Datagram, object]]]:
    """A handshake, with each datagram, its receiver and the receiver's SK crypto once it has keys."""
    a, b = _pair(ike, esp)
    sa = a.initiate(("192.0.2.2", 500), 0.0)
    seen: list[tuple[IkeEndpoint, Datagram, object]] = []
    moved = True
    while moved:
        moved = False
        for src, dst in ((a, b), (b, a)):
            for d in src.pop_datagrams():
                dst.receive(d, 0.0)
                seen.append((dst, d, None))
                moved = True
    assert sa.state == State.ESTABLISHED
    return a, b, seen


def _crypto_of(receiver: IkeEndpoint) -> object:
    (sa,) = receiver.sas.values()
    return sa._crypto(sending=False)


# ------------------------------------------------------------------ the header read once


@pytest.mark.parametrize("suite", SUITES)
def test_decode_after_decode_header_is_decode(suite: tuple[str, str]) -> None:
    """decode of the bytes decode_header just read takes that header: the same message as a decode from scratch."""
    _, _, seen = _handshake(*suite)
    for receiver, dgram, _ in seen:
        data = dgram.payload
        copy = bytes(bytearray(data))  # equal octets, another object: read from scratch
        assert copy is not data
        header = M.decode_header(data)
        assert M._LAST_HEADER == (data, header) and M.decode_header(data) is header
        assert M.decode(data) == M.decode(copy)
        if data[16] == 46:  # HDR, SK {...}: decrypted too, with the receiver's keys
            crypto = _crypto_of(receiver)
            M.decode_header(data)
            assert M.decode(data, crypto) == M.decode(copy, crypto)


def test_only_a_header_read_from_the_same_bytes_with_both_checks_is_taken_again() -> None:
    """Equal octets of another object, or a header read without its checks, are read from ``data`` again."""
    _, _, seen = _handshake(*SUITES[0])
    first = seen[0][1].payload  # the IKE_SA_INIT request
    bad_version = first[:17] + b"\x30" + first[18:]
    M.decode_header(bad_version, check_version=False)  # read, but not checked: not remembered
    with pytest.raises(ParseError) as caught:
        M.decode(bad_version)
    assert caught.value.field == "version"
    with pytest.raises(ParseError):
        M.decode_header(bad_version)
    bad_length = first + b"\x00"
    M.decode_header(bad_length, check_length=False)
    with pytest.raises(ParseError) as caught:
        M.decode(bad_length)
    assert caught.value.field == "length"
    header = M.decode_header(first)
    other = bytes(bytearray(first))  # the same octets in another object: read again, and remembered instead
    again = M.decode_header(other)
    assert again == header and again is not header and M._LAST_HEADER[0] is other


def test_a_header_given_by_a_caller_is_never_trusted() -> None:
    """IkeSa.receive(decoded=...) is public: a Header made up by a caller (another message ID, the R flag) must not
    replace the fields the ICV protects.  The established responder still answers the liveness request it got."""
    a, b, _ = _handshake(*SUITES[0])
    (sa_a,) = a.sas.values()
    (sa_b,) = b.sas.values()
    sa_a.liveness(1.0)
    (dgram,) = a.pop_datagrams()
    real = M.decode_header(dgram.payload)
    fake = replace(real, flags=real.flags | M.FLAG_R, message_id=99)
    sa_b.receive(dgram.payload, 1.0, src=dgram.src, dst=dgram.dst, decoded=fake)
    (answer,) = sa_b.pop_datagrams()
    assert M.decode_header(answer.payload).message_id == real.message_id
    assert not [e for e in sa_b.pop_events() if isinstance(e, MessageDropped)]


def _drops_of(datagram_change: object) -> list[str]:
    """The drops of an established responder given the initiator's next request, changed by ``datagram_change``."""
    a, b, _ = _handshake(*SUITES[0])
    (sa,) = a.sas.values()
    sa.liveness(1.0)
    (dgram,) = a.pop_datagrams()
    b.receive(datagram_change(dgram), 1.0)  # type: ignore[operator]
    return [e.reason for e in b.pop_events() if isinstance(e, MessageDropped)]


@pytest.mark.parametrize("change, reason", [
    (lambda p: p[:17] + b"\x30" + p[18:], "undecodable: major version 3 is not 2"),
    (lambda p: p + b"\x00", "undecodable: Length field says"),
    (lambda p: p[:-1] + bytes([p[-1] ^ 1]), "ICV does not verify"),
])
def test_endpoint_routes_a_bad_header_to_the_checks_of_the_sa(change: object, reason: str) -> None:
    """The endpoint routes by a header that fails decode_header's checks as before; the IKE SA says why."""
    drops = _drops_of(lambda d: replace(d, payload=change(d.payload)))  # type: ignore[operator]
    assert len(drops) == 1 and drops[0].startswith(reason), drops


def test_endpoint_answers_a_new_request_of_another_version_as_before() -> None:
    a, b = _pair(*SUITES[0])
    a.initiate(("192.0.2.2", 500), 0.0)
    (dgram,) = a.pop_datagrams()
    p = dgram.payload
    b.receive(replace(dgram, payload=p[:17] + b"\x30" + p[18:]), 0.0)
    (reply,) = b.pop_datagrams()
    answer = M.decode(reply.payload)
    assert [n.type_name for n in answer.notifies] == ["INVALID_MAJOR_VERSION"] and not b.sas and not b.half_open


# ------------------------------------------------------------------ a cached response's summary, made when sent again


def _sent(endpoint: IkeEndpoint, retransmission: bool) -> list[MessageSent]:
    return [e for e in endpoint.pop_events() if isinstance(e, MessageSent) and e.retransmission is retransmission]


@pytest.mark.parametrize("suite", SUITES)
def test_a_retransmitted_response_has_the_summary_of_the_first(suite: tuple[str, str]) -> None:
    """The IKE_SA_INIT and IKE_AUTH responses, sent again for a retransmitted request: the summary read back
    from the cached datagram is the one the message gave when it was first sent."""
    a, b = _pair(*suite)
    a.initiate(("192.0.2.2", 500), 0.0)
    (init_request,) = a.pop_datagrams()
    b.receive(init_request, 0.0)
    (first,) = _sent(b, False)
    b.receive(init_request, 0.5)  # its response lost: the same request again
    (again,) = _sent(b, True)
    assert again.summary == first.summary and first.summary.startswith("HDR, SAr1, KEr, Nr")
    a.receive(b.pop_datagrams()[0], 1.0)
    (auth_request,) = a.pop_datagrams()
    b.receive(auth_request, 1.0)
    (first,) = _sent(b, False)
    assert first.summary.startswith("HDR, SK {IDr, AUTH")
    b.receive(auth_request, 1.5)
    (again,) = _sent(b, True)
    assert again.summary == first.summary


def test_the_summary_is_read_back_through_the_non_esp_marker_and_with_our_keys() -> None:
    """On port 4500 the cached datagram starts with the Non-ESP Marker (RFC 3948 2.2); the SK payload
    is opened with the keys of our own direction."""
    a, b, _ = _handshake(*SUITES[0])
    (sa,) = b.sas.values()
    cached = sa._cached_response
    want = sa._cached_summary(cached)
    assert want.startswith("HDR, SK {IDr, AUTH, SAr2, TSi, TSr")
    moved = readdressed(cached.datagram, ("192.0.2.2", 4500), ("192.0.2.1", 4500))
    assert moved.payload[:4] == bytes(4)
    assert sa._cached_summary(cached._replace(datagram=moved)) == want
    assert sa._cached_summary(cached._replace(datagram=(moved, moved))) == ""  # fragments: named one by one
