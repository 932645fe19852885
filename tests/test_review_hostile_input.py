"""The junk of ``tests/interop/test_review_hostile_net.py``, offline: fed to a NetDriver, its IkeEndpoint and an
EspPeer directly, with no namespace, socket or charon.

A responder :class:`ikelab.net.NetDriver` (its transports stand-ins that keep what it sends) with an
:class:`ikelab.esp_peer.EspPeer`, as ``ikelab respond`` wires them, makes an IKE SA and a CHILD SA with a
sans-IO :class:`ikelab.endpoint.IkeEndpoint` initiator (ESP in UDP 4500, RFC 3948), then takes the hostile
corpus on ports 500 and 4500 (RFC 7296 2.21, 2.23, 3.1; RFC 3948 2.1-2.3; RFC 4303 3.4; RFC 7383 2.6):

* nothing raises, the IKE SA and its keys are the same afterwards, a fresh ESP packet still arrives (the
  junk moved no replay window), replays and bad ICVs are refused with the reason, printed at once under the
  packet's row (``ESP  dropped: ...``; they used to wait for the next ping summary), a datagram on port 4500
  that is neither IKE, a NAT-keepalive nor ESP is said with its source (it left no trace at all), and a
  CHILD SA rekey still completes;
* found live: a flood's half-open IKE SA that times out (anyone's IKE_SA_INIT, never followed by IKE_AUTH)
  turned the run of ``ikelab respond``, whose own IKE SA and CHILD SA were up and well, into
  "FAILED ... half-open IKE SA timed out waiting for IKE_AUTH (exit status 3)".  A fatal failure now counts
  against the run only when it ends one of the IKE SAs that were established (RFC 7296 2.21.1: what is
  unauthenticated must not undo what is).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from ikelab import events as ev
from ikelab.config import IkeConfig
from ikelab.endpoint import IkeEndpoint
from ikelab.esp import EspSa
from ikelab.exchanges_common import Datagram
from ikelab.net import EXIT_OK, EXIT_TIMEOUT, Outcome
from ikelab.packet import icmp_echo
from ikelab.peer import RunOptions, _Run
from ikelab.rand import DeterministicRandom
from ikelab.state import State

from interop.test_review_hostile_net import (MARKER, SEED, _stored, byte_flips, flag_and_exchange_damage,
                                             header_damage, noise, protected_junk)

A, B, STRANGER = "192.0.2.1", "192.0.2.2", "192.0.2.3"
SUITE, ESP = "aes128-sha256-modp2048", "aes128-sha256"
INNER_A, INNER_B = "198.51.100.1", "203.0.113.1"


class _Wire:
    """A transport stand-in: what the driver sends from one of its ports, kept in order."""

    def __init__(self, port: int, sent: list) -> None:
        self.port, self.sent = port, sent

    def sendto(self, data: bytes, dst: Any) -> None:
        self.sent.append((bytes(data), (B, self.port), (str(dst[0]), int(dst[1]))))

    def close(self) -> None:
        pass


class _Lab:
    """``ikelab respond``'s _Run (NetDriver + EspPeer) on B, with an initiator IkeEndpoint on A and a clock."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.lines: list[str] = []
        responder = IkeConfig(local_id="gw.example.com", remote_id="alice@example.org", psk=b"hostile-net",
                              ike_proposals=(SUITE,), esp_proposals=(ESP,), local_ts=(f"{INNER_B}/32",),
                              remote_ts=(f"{INNER_A}/32",), cookie_threshold=4, retransmit_timeout=1.0,
                              retransmit_tries=2)
        self.run = _Run(responder, B, 500, RunOptions(), self.lines.append, rng=DeterministicRandom(1))
        d = self.driver = self.run.driver
        d._loop, d._t0 = self.loop, self.loop.time()  # what open() sets, without sockets
        self.sent: list = []
        d._transports = {500: _Wire(500, self.sent), 4500: _Wire(4500, self.sent)}  # type: ignore[dict-item]
        self.now = 0.0
        d.now = lambda: self.now  # type: ignore[method-assign]
        initiator = IkeConfig(local_id="alice@example.org", remote_id="gw.example.com", psk=b"hostile-net",
                              ike_proposals=(SUITE,), esp_proposals=(ESP,), local_ts=(f"{INNER_A}/32",),
                              remote_ts=(f"{INNER_B}/32",), cookie_threshold=None, encapsulation="always")
        self.peer = IkeEndpoint(initiator, DeterministicRandom(2), A)
        self.peer_events: list[ev.Event] = []
        self.from_peer: list[Datagram] = []

    def pump(self) -> None:
        """Carry datagrams both ways until both are quiet (ESP from B is kept, not delivered)."""
        for _ in range(50):
            moved = False
            for d in self.peer.pop_datagrams():
                self.from_peer.append(d)
                self.driver._received(d.payload, d.src, d.dst[1])
                moved = True
            self.peer_events += self.peer.pop_events()
            while self.sent:
                data, src, dst = self.sent.pop(0)
                if dst[0] == A and data[:4] == MARKER or dst[1] == 500:
                    self.peer.receive(Datagram(data, src, dst), self.now)
                    moved = True
            if not moved:
                return
        raise AssertionError("the two peers never went quiet")

    def junk(self, payload: bytes, src: tuple[str, int], port: int) -> None:
        self.driver._received(payload, src, port)

    def close(self) -> None:
        self.loop.close()


def _established() -> _Lab:
    lab = _Lab()
    sa = lab.peer.initiate((B, 500), 0.0)
    lab.pump()
    assert sa.state == State.ESTABLISHED and lab.driver.outcome().ok, lab.lines
    return lab


def _outbound(lab: _Lab) -> EspSa:
    """The initiator's outbound ESP SA of its (newest) CHILD SA, as charon's kernel would hold it."""
    child = [e for e in lab.peer_events if isinstance(e, ev.ChildSaCreated)][-1]
    return EspSa(child.spi_out, direction="outbound", encryption=child.encr, key_bits=child.encr_key_bits,
                 integrity=child.integ, encryption_key=child.encr_key_out, integrity_key=child.integ_key_out,
                 tunnel=(A, B))


def test_a_strangers_half_open_sa_that_times_out_does_not_undo_the_run() -> None:
    lab = _established()
    try:
        up = lab.driver.outcome()
        assert up == Outcome(EXIT_OK, "IKE SA and CHILD SA established", up.sa)
        # charon's genuine IKE_SA_INIT request (from its stored log), replayed from another host's ports
        request = _stored("charon_initiator.log", response=False)
        for port in (41000, 41001):
            lab.junk(request, (STRANGER, port), 500)
        assert len([sa for sa in lab.driver.endpoint.half_open.values() if sa.state == State.INIT_DONE]) == 2
        lab.sent.clear()
        lab.now = lab.driver.endpoint.get_timer()  # the half-open SAs give up (RFC 7296 2.4: no IKE_AUTH came)
        lab.driver._on_timer(lab.now)
        failures = [e for e in lab.driver.events if isinstance(e, ev.Failure)]
        assert [f.reason for f in failures] == ["half-open IKE SA timed out waiting for IKE_AUTH"] * 2
        assert all(f.fatal for f in failures)
        assert lab.run.after_established(up) is up  # was: EXIT_TIMEOUT, "... but then half-open IKE SA timed out"
        # the run's own IKE SA failing still counts (RFC 7296 2.4): no answer to its liveness check
        sa = lab.driver.current_sa()
        lab.driver.act(sa.liveness)  # an empty INFORMATIONAL that nobody answers
        while sa.state != State.CLOSED:
            lab.now = lab.driver.endpoint.get_timer()
            lab.driver._on_timer(lab.now)
        lost = lab.run.after_established(up)
        assert lost.status == EXIT_TIMEOUT and "IKE SA and CHILD SA established, but then" in lost.reason, lost
    finally:
        lab.close()


def test_junk_on_500_and_4500_changes_nothing_and_raises_nothing() -> None:
    rng = random.Random(SEED)
    lab = _established()
    try:
        sa = lab.driver.current_sa()
        keys_before = sa.keys
        esp_out = _outbound(lab)
        first = esp_out.encapsulate(icmp_echo(INNER_A, INNER_B, 7, 1, b"before"), 4)
        lab.junk(first, (A, 4500), 4500)
        assert lab.run.esp.requests_answered == 1 and lab.run.esp.errors == []
        request, response = _stored("charon_initiator.log", response=False), _stored("charon_responder.log", True)
        ike_auth = next(d.payload[4:] for d in lab.from_peer if d.payload[4 + 18:4 + 19] == b"\x23")
        corpus: list[tuple[bytes, int]] = []
        for msg in (request, response, ike_auth):
            for junk in header_damage(msg, rng) + flag_and_exchange_damage(msg) + byte_flips(msg, rng, 10):
                corpus += [(junk, 500), (MARKER + junk, 4500)]
        corpus += [(MARKER + junk, 4500) for junk in protected_junk(sa.spi_i, sa.spi_r, rng)]
        corpus += [(junk, rng.choice((500, 4500))) for junk in noise(rng, 40)]
        corpus += [(p, 4500) for p in (b"", b"\xff", MARKER, MARKER + b"\xff", bytes(8), MARKER + bytes(28),
                                       b"\x01\x02\x03")]
        replayed, bad_icv, far = first, bytearray(first), bytearray(first)
        bad_icv[-1] ^= 1
        far[4:8] = b"\xff\xff\xff\xf0"
        corpus += [(replayed, 4500), (bytes(bad_icv), 4500), (bytes(far), 4500), (first[:12], 4500),
                   (b"\x01\x02\x03\x04" + first[4:], 4500)]
        for payload, port in corpus:
            for src in ((A, 4500), (STRANGER, 4500), (STRANGER, 500)):
                lab.junk(payload, src, port)
        # the IKE SA is the same one, with the same keys, at the same address; its CHILD SA still carries ESP
        assert lab.driver.current_sa() is sa and sa.state == State.ESTABLISHED and sa.keys == keys_before
        assert sa.remote == (A, 4500)
        errors = set(lab.run.esp.errors)
        assert any("sequence number 1 was already" in e for e in errors), errors  # RFC 4303 3.4.3
        assert any("ICV does not verify" in e for e in errors), errors
        assert "ESP with unknown SPI 0x01020304" in errors, errors
        # and each is said under its packet's row (it used to wait for the next ping summary, if any)
        assert "     ESP  dropped: ESP with unknown SPI 0x01020304" in lab.lines
        said = {line[len("     ESP  dropped: "):] for line in lab.lines if line.startswith("     ESP  dropped: ")}
        assert said == errors, errors ^ said
        second = esp_out.encapsulate(icmp_echo(INNER_A, INNER_B, 7, 2, b"after"), 4)  # sequence number 2
        lab.junk(second, (A, 4500), 4500)
        assert lab.run.esp.requests_answered == 2  # the window did not move to 0xfffffff0
        assert not any(isinstance(e, (ev.IkeSaDeleted, ev.ChildSaDeleted, ev.PeerMoved)) for e in lab.driver.events)
        # what is neither IKE, a keepalive nor ESP leaves no row and no engine event: the driver says it
        assert "     --   dropped a 3-byte datagram from 192.0.2.3:500 on port 4500: neither IKE nor ESP" in lab.lines
        # a CHILD SA rekey from the peer still completes, and the new SA carries ESP
        peer_sa = next(s for s in lab.peer.all_sas() if s.state == State.ESTABLISHED)
        peer_sa.rekey_child(next(iter(peer_sa.children)), lab.now)
        lab.pump()
        assert lab.driver.facts.counts[ev.ChildSaRekeyed] == 1
        third = _outbound(lab).encapsulate(icmp_echo(INNER_A, INNER_B, 7, 3, b"rekeyed"), 4)
        lab.junk(third, (A, 4500), 4500)
        assert lab.run.esp.requests_answered == 3
    finally:
        lab.close()
