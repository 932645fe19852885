"""IkeEndpoint under mutation review: cookies (RFC 7296 2.6), their secret rotation, and what is never answered."""

from __future__ import annotations

import hmac

from ikelab.config import IkeConfig
from ikelab.constants import NotifyType
from ikelab.endpoint import COOKIE_SECRET_LIFETIME as LIFE
from ikelab.endpoint import IkeEndpoint
from ikelab.exchanges_common import Datagram
from ikelab.message import decode
from ikelab.payloads import Nonce
from ikelab.rand import DeterministicRandom
from ikelab.state import State

SUN = ("192.0.2.2", 500)


def _config(local: str, remote: str, **kw) -> IkeConfig:
    return IkeConfig(local_id=local, remote_id=remote, psk=b"a shared secret", ike_proposals=("aes128-sha256-ecp256",),
                     esp_proposals=("aes128gcm16",), **kw)


def _sun(seed: int = 2, threshold: int | None = 0) -> IkeEndpoint:
    return IkeEndpoint(_config("sun.example", "moon.example", cookie_threshold=threshold), DeterministicRandom(seed))


def _request(seed: int, now: float = 0.0, addr: str = "192.0.2.1") -> tuple[IkeEndpoint, Datagram]:
    """A new initiator (seed ``seed``) and its first IKE_SA_INIT request."""
    moon = IkeEndpoint(_config("moon.example", "sun.example", cookie_threshold=None), DeterministicRandom(seed), addr)
    moon.initiate(SUN, now)
    (first,) = moon.pop_datagrams()
    return moon, first


def _cookie(sun: IkeEndpoint, request: Datagram, now: float) -> bytes | None:
    """The cookie ``sun`` answers ``request`` with at ``now`` (None: it answered without one)."""
    sun.receive(request, now)
    (out,) = sun.pop_datagrams()
    n = decode(out.payload).notify(NotifyType.COOKIE)
    return None if n is None else n.data


def _retry(seed: int, sun: IkeEndpoint, now: float) -> tuple[Datagram, bytes]:
    """A new initiator's request with the cookie ``sun`` gave it at ``now``: the retry and the cookie."""
    moon, first = _request(seed, now)
    sun.receive(first, now)
    (answer,) = sun.pop_datagrams()
    moon.receive(answer, now)
    (retry,) = moon.pop_datagrams()
    return retry, decode(answer.payload).notify(NotifyType.COOKIE).data


def _patched(datagram: Datagram, **at: bytes) -> Datagram:
    """``datagram`` with bytes replaced at the given offsets (keys ``o<offset>``)."""
    data = bytearray(datagram.payload)
    for key, value in at.items():
        offset = int(key[1:])
        data[offset:offset + len(value)] = value
    return Datagram(bytes(data), datagram.src, datagram.dst)


def _with_zero_nonce(payload: bytes) -> bytes:
    """The IKE_SA_INIT request ``payload`` again, its Ni replaced by as many zero octets."""
    msg = decode(payload)
    return msg.with_payloads(*[Nonce(bytes(len(p.data))) if isinstance(p, Nonce) else p for p in msg.payloads]).encode()


def test_the_cookie_depends_on_the_secret_and_on_ni() -> None:
    """RFC 7296 2.6: cookie = Hash(Ni | IPi | SPIi | <secret>).  Two responders (two secrets) give one request
    different cookies, and a request with another Ni (same SPIi, same address) gets another cookie."""
    _, request = _request(10)
    assert _cookie(_sun(2), request, 0.0) != _cookie(_sun(3), request, 0.0)
    sun = _sun(2)
    other_ni = _with_zero_nonce(request.payload)
    assert other_ni != request.payload
    assert _cookie(sun, request, 0.0) != _cookie(sun, Datagram(other_ni, request.src, request.dst), 0.0)


def test_a_cookie_given_for_one_ni_does_not_admit_a_request_with_another() -> None:
    """The returned cookie binds the Ni it was made for: a retry with another nonce is sent round again."""
    sun = _sun()
    retry, cookie = _retry(10, sun, 0.0)
    swapped = _with_zero_nonce(retry.payload)
    assert decode(swapped).notify(NotifyType.COOKIE).data == cookie
    assert _cookie(sun, Datagram(swapped, retry.src, retry.dst), 1.0) is not None
    assert sun.half_open == {}
    assert _cookie(sun, retry, 1.0) is None  # the genuine retry is taken
    assert len(sun.half_open) == 1


def test_the_cookie_is_compared_in_constant_time(monkeypatch) -> None:
    """RFC 7296 2.6 makes the cookie a secret-keyed value: a byte-by-byte comparison leaks it by timing."""
    sun = _sun()
    retry, cookie = _retry(10, sun, 0.0)
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((bytes(a), bytes(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert _cookie(sun, retry, 1.0) is None
    assert (cookie, cookie) in calls


def test_a_new_secret_is_drawn_at_exactly_one_lifetime_not_only_a_new_version() -> None:
    sun = _sun()
    _, first = _request(10)
    c1 = _cookie(sun, first, 0.0)
    c2 = _cookie(sun, first, LIFE)  # the same request, the secret exactly one lifetime old
    assert c1[:4] == (1).to_bytes(4, "big") and c2[:4] == (2).to_bytes(4, "big")
    assert c1[4:] != c2[4:]  # another <secret>, not the old one under a new number


def test_the_lifetime_counts_from_the_first_cookie_not_from_time_zero() -> None:
    """A responder whose first cookie is made at t=1000 keeps that secret for a lifetime from then."""
    sun = _sun()
    retry, cookie = _retry(10, sun, 1000.0)
    assert cookie[:4] == (1).to_bytes(4, "big")
    assert _cookie(sun, retry, 1001.0) is None


def test_the_previous_secret_is_not_kept_once_it_is_two_lifetimes_old() -> None:
    """Without a cookie made for a whole lifetime, the next rotation keeps no previous secret: a cookie of the
    old one, two lifetimes (or more) after it was first used, is sent round again."""
    for late in (2 * LIFE, 2 * LIFE + 1):
        sun = _sun()
        retry, _ = _retry(10, sun, 0.0)
        _, other = _request(11)
        assert _cookie(sun, other, late)[:4] == (2).to_bytes(4, "big")
        assert _cookie(sun, retry, late) is not None, late
    sun = _sun()
    retry, _ = _retry(10, sun, 0.0)
    _, other = _request(11)
    assert _cookie(sun, other, 2 * LIFE - 1)[:4] == (2).to_bytes(4, "big")
    assert _cookie(sun, retry, 2 * LIFE - 1) is None  # just inside: the previous secret still counts


def test_requests_that_are_not_a_new_ike_sa_init_request_make_no_state_and_no_answer() -> None:
    """An IKE_SA_INIT with SPIr zero but without the Initiator flag, with the Response flag, or with a
    message ID other than 0 does not start an IKE SA (RFC 7296 2.2, 3.1) and is not answered."""
    _, request = _request(10)
    flags = request.payload[19]
    for bad in (_patched(request, o19=bytes([flags & ~0x08])), _patched(request, o19=bytes([flags | 0x20])),
                _patched(request, o20=(1).to_bytes(4, "big"))):
        sun = _sun(threshold=None)
        sun.receive(bad, 0.0)
        assert sun.pop_datagrams() == [] and sun.sas == {} and sun.half_open == {}


def test_a_request_whose_spii_equals_one_of_our_responder_spis_is_still_answered() -> None:
    """SPIs are chosen by each side alone: another initiator may pick an SPIi equal to an SPI we chose as a
    responder.  That is not our own request coming back."""
    sun = _sun(threshold=None)
    _, first = _request(10)
    sun.receive(first, 0.0)
    (answer,) = sun.pop_datagrams()
    ours = decode(answer.payload).spi_r
    _, second = _request(11, addr="192.0.2.7")
    sun.receive(_patched(second, o0=ours), 0.0)
    (out,) = sun.pop_datagrams()
    reply = decode(out.payload)
    assert reply.is_response and reply.spi_i == ours and reply.spi_r != bytes(8)
    assert len(sun.half_open) == 2


def test_a_malformed_request_is_answered_only_if_it_is_a_request_with_a_nonzero_spii() -> None:
    """RFC 7296 2.21: no error answer to a response; and 3.1: SPIi is never zero."""
    _, request = _request(10)
    bad_version = _patched(request, o17=b"\x30")  # major version 3: answered INVALID_MAJOR_VERSION (2.5)
    sun = _sun(threshold=None)
    sun.receive(bad_version, 0.0)
    (out,) = sun.pop_datagrams()
    reply = decode(out.payload)
    (n,) = reply.notifies
    assert n.notify_type == NotifyType.INVALID_MAJOR_VERSION and n.data == b"\x20"  # version 2.0, as byte 17
    assert out.payload[17] == 0x20
    flags = request.payload[19]
    for bad in (_patched(bad_version, o19=bytes([flags | 0x20])), _patched(bad_version, o0=bytes(8))):
        sun = _sun(threshold=None)
        sun.receive(bad, 0.0)
        assert sun.pop_datagrams() == [] and sun.sas == {} and sun.half_open == {}


def test_half_open_entries_go_once_the_sa_is_established_or_closed() -> None:
    """A long-running responder keeps no half-open entry for an IKE SA that left INIT_DONE."""
    from ikelab.lab import Lab

    moon_config = _config("moon.example", "sun.example", cookie_threshold=None)
    lab = Lab(moon_config, _config("sun.example", "moon.example", cookie_threshold=None), seed=1)
    lab.initiate()
    lab.run_until_idle()
    sun = lab.endpoints["responder"]
    assert lab.responder.state == State.ESTABLISHED
    sun.handle_timer(lab.now)
    assert sun.half_open == {}
    lab2 = Lab(moon_config, _config("sun.example", "moon.example", cookie_threshold=None), seed=1)
    lab2.initiate()
    lab2.step()
    sun2 = lab2.endpoints["responder"]
    (sa,) = sun2.half_open.values()
    sa._close(lab2.now, "test")
    assert sun2.forget_closed() >= 0 and sun2.half_open == {}
