"""An IKE SA's whole life on a link that loses datagrams in fixed patterns, ikelab against strongSwan's charon.

ikelab's in-process endpoint (:class:`ikelab.endpoint.IkeEndpoint`, sans-IO, its datagrams leaving namespace
A through the relay of :mod:`interop.test_review_sequences_vs_charon`) and charon (namespace B) go through one
lifecycle, with one of them making every request:

* IKE_SA_INIT + IKE_AUTH (with a certificate chain, leaf and intermediate CA, and IKE fragmentation, RFC
  7383, at 576 octets, in two of the cases: each IKE_AUTH message is then five SKF fragments);
* CREATE_CHILD_SA for a new CHILD SA, a CHILD SA rekey without PFS, one with PFS (curve25519), an IKE SA
  rekey (RFC 7296 1.3, 2.17, 2.18);
* an INFORMATIONAL liveness check (2.4; charon's is its DPD, ``dpd_delay``);
* ESP pings both ways over the CHILD SA (UDP-encapsulated, RFC 3948; ikelab's side is userspace ESP,
  :class:`ikelab.esp_peer.EspPeer`), then a DELETE of a CHILD SA and of the IKE SA (1.4.1).

The link loses datagrams in a deterministic pattern (:meth:`interop.netns.Namespace.lose`, an nftables
``numgen inc`` counter per direction, in the receiving namespace): the IKE datagrams that reach a side are
numbered 0, 1, 2... and those whose number modulo *m* falls in a set are dropped.  ESP is spared or lost too;
then (where ikelab makes the requests, so that charon sends nothing unasked) four of ikelab's pings go out
under the pattern and exactly those it picks go unanswered, and the pings both ways run after the pattern is
lifted; it is set again, counting from 0, for the deletes.

| case | requester | to ikelab (m: lost) | to charon (m: lost) | ESP lost |
|---|---|---|---|---|
| ``ikelab-psk-thirds`` | ikelab | 3: {1} | 3: {2} | no |
| ``ikelab-chain-fragments`` | ikelab | 7: {1, 2} | 7: {3} | to charon |
| ``charon-psk-halves`` | charon | 2: {0} | 4: {1} | no |
| ``charon-chain-fragments`` | charon | 8: {3, 4} | 3: {1} | to charon |

A requester that loses a request or its response must retransmit it unchanged (RFC 7296 2.1, 2.4; every
fragment again, RFC 7383 2.6.1); a responder must answer a retransmitted request from its cache and never
process it twice (2.3).  After every step, once both sides have settled (no exchange in flight, nothing
arriving), the test asserts that

* the two views are the same: one ESTABLISHED IKE SA with the same SPIi and SPIr (new ones after an IKE SA
  rekey); the same CHILD SA SPI pairs, INSTALLED on both ends, with the same algorithms, PFS group and
  selectors (:func:`interop.test_review_sequences_vs_charon.ikelab_view` and ``charon_view``); the step did
  exactly what it should (one pair more, a pair replaced, one gone: no CHILD SA made twice by a request
  handled twice, none half-installed);
* the keys are charon's: SK_e/SK_a of the IKE SA and every CHILD SA's ESP keys against charon's key log;
* the Message IDs are in step: ikelab's next request ID is one more than the last request charon parsed on
  that IKE SA, and the next one it expects is one more than the last request charon generated (charon's log,
  2.3);
* ikelab reported no :class:`~ikelab.events.Failure` (until the DELETE of the IKE SA, below): whatever it had
  to retransmit was then answered; when
  it was the requester it reported :class:`~ikelab.events.Retransmitted` events, and when it was the
  responder it sent cached responses again (``MessageSent.retransmission``), as charon's log says for its side.

Each pattern is checked to have dropped datagrams both ways (the counters of the nftables rules); with ``-s``
the test prints what each side retransmitted and answered from its cache.  The DELETE of the IKE SA meets the
patterns anew (counting from 0): it passes, or, in the two cases marked so, its first answer is lost.

What it found: no fault in ikelab.  The two agree on every step of every case, and both follow RFC 7383 2.6.1:
they keep the fragments of a message across its retransmissions (a message lost piecemeal twice is joined
from both copies), and a retransmitted fragmented request brings the response again only through its
fragment 1 (charon logs the others as "received message ID 1, expected 2, ignored"; ikelab sends one copy per
retransmission, not one per fragment).  One departure of charon's, recorded in :func:`last_delete` and
asserted there:

* where: the answer to a DELETE of the IKE SA is lost (1.4.1);
* RFC 7296 2.3: a responder "MUST remember each response until it receives a request whose sequence number
  is larger than or equal to" its own plus the window size;
* charon 5.9.8: destroys the IKE SA, and with it its answer, at once; the retransmitted DELETE goes
  unanswered;
* ikelab: as the responder, answers the retransmitted DELETE again from the closed IKE SA; as the requester,
  retransmits, then closes the IKE SA all the same (RFC 7296 2.4), reporting a fatal Failure "no response".

The same happens to the DELETE of the old IKE SA after a rekey (2.18) when its answer is lost (seen with
other patterns; the check of ikelab's retransmissions allows it): ikelab then closes that replaced IKE SA
without a Failure.  Both end with no SA either way.  A pattern whose period is a message's number of
fragments (5 here) loses the same fragment of every copy, and no implementation gets through (seen while
choosing these); the periods on the fragments' ways are 3, 7 and 8.

Run: ``cd tests && CI=true python -m pytest -n0 interop/test_review_loss_vs_charon.py``.
"""

from __future__ import annotations

import queue
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import pytest

from ikelab import events as ev
from ikelab.config import IkeConfig
from ikelab.endpoint import IkeEndpoint
from ikelab.esp_peer import EspPeer
from ikelab.exchanges_common import Datagram, unframe
from ikelab.ike import IkeSa
from ikelab.rand import DeterministicRandom
from interop.swanctl import cert_conf, make_pki, psk_conf
from interop.test_review_sequences_vs_charon import (Relay, View, charon_states, charon_view, check_keys, ikelab_view,
                                                     in_thread, live_sas)

pytestmark = [pytest.mark.strongswan, pytest.mark.usefixtures("nft_env")]

PSK = "ikelab-interop-psk"
ID_I, ID_R = "alice@example.org", "gw.example.com"
IKE = "aes128-sha256-x25519"
#: charon's two CHILD SA configurations, with the same selectors: ``net`` offers PFS (curve25519) first and no PFS
#: second, ``net2`` no PFS at all.  ikelab's own ESP proposals put PFS first, and as a responder it takes the
#: first of its own that the initiator offers (RFC 7296 2.7 leaves the choice to it): charon's rekey of ``net``
#: has PFS, its CHILD SA and rekey of ``net2`` have none
ESP_NET, ESP_NET2 = "aes128-sha256-x25519,aes128-sha256", "aes128-sha256"
#: both sides: first retransmission after 0.3 s, then 0.42, 0.59, ... (1.4 ** n), five of them (5 s in all): the
#: patterns make one exchange retransmit up to three times
RETRANSMIT = dict(timeout=0.3, base=1.4, tries=5)
FRAGMENT_SIZE = 576  # RFC 7383 2.5.1's size for IPv4 paths of unknown MTU
SETTLE = 25.0  # bound (s) on one step's wait; a step under loss settles in one or two seconds


@dataclass(frozen=True)
class Case:
    name: str
    ikelab_requests: bool  # who makes every request: ikelab (the original initiator) or charon
    chain: bool  # certificates with an intermediate CA and IKE fragmentation; else a PSK
    to_ikelab: tuple[int, tuple[int, ...], bool]  # (modulus, numbers dropped, ESP lost too) of what reaches ikelab
    to_charon: tuple[int, tuple[int, ...], bool]
    #: the first answer to the DELETE of the IKE SA is lost (a pattern set anew for it, on the requester's side)
    lose_last_answer: bool = False

    @property
    def esp_lost(self) -> bool:
        return self.to_ikelab[2] or self.to_charon[2]


CASES = [
    Case("ikelab-psk-thirds", True, False, (3, (1,), False), (3, (2,), False), lose_last_answer=True),
    Case("ikelab-chain-fragments", True, True, (7, (1, 2), False), (7, (3,), True)),
    Case("charon-psk-halves", False, False, (2, (0,), False), (4, (1,), False), lose_last_answer=True),
    Case("charon-chain-fragments", False, True, (8, (3, 4), False), (3, (1,), True)),
]


@pytest.fixture(scope="module")
def pki() -> Any:
    return make_pki([ID_I, ID_R], under_intermediate=(ID_I, ID_R))


# ------------------------------------------------------------------ charon's Message IDs, from its log

#: ``<lab|2> generating CREATE_CHILD_SA request 3 [ ... ]`` (ENC, level 1; ``ike_name = yes``)
MESSAGE_LINE = re.compile(r"<(?:[^|>]*\|)?(\d+)> (generating|parsed) (\w+) (request|response) (\d+)")
#: charon's own account of its retransmissions and of the requests it answered from its cache
RETRANSMIT_LINES = re.compile(r"retransmit \d+ of request with message ID \d+|"
                              r"received retransmit of request with ID \d+")


def charon_next_ids(log: str, unique_id: str) -> tuple[int, int]:
    """For charon's IKE SA ``unique_id``: (the ID of its next request, the ID of the next request it expects)."""
    sent = parsed = -1
    for m in MESSAGE_LINE.finditer(log):
        if m[1] == unique_id and m[4] == "request":
            if m[2] == "generating":
                sent = max(sent, int(m[5]))
            else:
                parsed = max(parsed, int(m[5]))
    return sent + 1, parsed + 1


# ------------------------------------------------------------------ one session

class _EspWire:
    """What :class:`EspPeer` needs of a driver: the clock and a way out (the relay, port 4500)."""

    def __init__(self, session: "Session") -> None:
        self.session = session
        self.esp_handler: Any = None

    def now(self) -> float:
        return self.session.now()

    def send_esp(self, payload: bytes, src_port: int, dst: tuple[str, int]) -> None:
        self.session.relay.send(Datagram(payload, (self.session.relay.local, src_port), dst, "esp"))


class Session:
    """ikelab's endpoint here (wall-clock time since the start), charon in B, the relay in A."""

    def __init__(self, net: Any, charon: Any, case: Case, pki: Any) -> None:
        self.net, self.charon, self.case = net, charon, case
        mine, theirs = (ID_I, ID_R) if case.ikelab_requests else (ID_R, ID_I)
        auth: dict[str, Any] = {"psk": PSK.encode()}
        if case.chain:
            auth = {"certificate": pki.certs[mine], "private_key": pki.keys[mine],
                    "intermediates": (pki.intermediate,), "trust_anchors": (pki.ca_cert,),
                    "fragmentation": True, "fragment_size": FRAGMENT_SIZE,
                    "epoch": datetime.now(timezone.utc)}  # ikelab's time 0 (certificates are checked at it)
        self.config = IkeConfig(local_id=mine, remote_id=theirs, ike_proposals=(IKE,),
                                esp_proposals=("aes128-sha256-x25519", "aes128-sha256"),
                                local_ts=(f"{net.a.inner}/32",), remote_ts=(f"{net.b.inner}/32",),
                                cookie_threshold=None, retransmit_timeout=RETRANSMIT["timeout"],
                                retransmit_base=RETRANSMIT["base"], retransmit_tries=RETRANSMIT["tries"], **auth)
        self.endpoint = IkeEndpoint(self.config, rng=DeterministicRandom(f"loss-{case.name}"), local_addr=net.a.addr4)
        self.relay = Relay(net)
        self.esp = EspPeer(_EspWire(self), out=lambda text: None)  # type: ignore[arg-type]
        self.t0 = time.monotonic()
        self.events: list[ev.Event] = []
        #: (counted, dropped) datagrams by way, over every pattern set (:func:`count_lost`)
        self.lost = {"to ikelab": (0, 0), "to charon": (0, 0)}

    def now(self) -> float:
        return time.monotonic() - self.t0

    def close(self) -> None:
        self.relay.close()

    def _collect(self) -> None:
        for dgram in self.endpoint.pop_datagrams():
            self.relay.send(dgram)
        for event in self.endpoint.pop_events():
            self.events.append(event)
            self.esp.on_event(event)

    def pump(self, wait: float = 0.05) -> bool:
        """Send what ikelab has to send; hand it what arrived (IKE to the endpoint, ESP to the EspPeer), waiting
        up to ``wait`` s for the first; run its timers (retransmissions).  Whether anything arrived."""
        got = False
        while True:
            self._collect()
            try:
                dgram = self.relay.incoming.get(timeout=0 if got else wait)
            except queue.Empty:
                break
            got = True
            if unframe(dgram) is not None:
                self.endpoint.receive(dgram, self.now())
            elif len(dgram.payload) > 8:  # ESP (RFC 3948 2.2); a one-octet NAT-keepalive is passed over
                self.esp.received(dgram.payload, dgram.src, dgram.dst)
        timer = self.endpoint.get_timer()
        if timer is not None and timer <= self.now():
            self.endpoint.handle_timer(self.now())
        self._collect()
        return got

    def settle(self, until: Callable[[], bool], what: str) -> View:
        """Pump until ``until()`` holds, ikelab has no request in flight, charon none either (and no SA in a
        passing state), and nothing arrives for a moment; ikelab's view then."""
        deadline = time.monotonic() + SETTLE
        sas: list[dict[str, Any]] = []
        while True:
            idle = all(sa._pending is None and not sa._queue for sa in live_sas(self.endpoint))
            if not self.pump() and idle and until():
                sas = self.charon.list_sas()
                if all(s in ("ESTABLISHED", "INSTALLED", "DELETED") for s in charon_states(sas)) \
                        and not self.pump(0.1):
                    return ikelab_view(self.endpoint)
            if time.monotonic() > deadline:
                failures = [e for e in self.events if isinstance(e, ev.Failure)]
                raise AssertionError(f"{self.case.name}: {what} did not settle in {SETTLE:.0f} s; ikelab "
                                     f"{ikelab_view(self.endpoint)} (failures {failures}), charon {sas}\n"
                                     f"{self.charon.diagnostics()}")

    def swanctl(self, *args: str) -> Callable[[], bool]:
        """``swanctl ARGS`` in a thread; a test for its end that asserts it succeeded."""
        run = in_thread(lambda: self.charon.swanctl(*args, timeout=40, check=False))

        def done() -> bool:
            if not run():
                return False
            result = run.result  # type: ignore[attr-defined]
            assert result.returncode == 0, f"swanctl {' '.join(args)}: {result.stdout}{result.stderr}"
            return True

        return done

    # -- ikelab's current IKE SA, charon's ids

    def sa(self) -> IkeSa:
        live = live_sas(self.endpoint)
        assert len(live) == 1, live
        return live[0]

    def pairs_in_order(self) -> list[tuple[str, str]]:
        """ikelab's CHILD SA pairs, oldest first (by the ChildSaCreated events)."""
        order = [(e.spi_in.hex(), e.spi_out.hex()) for e in self.events if isinstance(e, ev.ChildSaCreated)]
        return sorted(ikelab_view(self.endpoint).children, key=order.index)

    def charon_ike(self) -> dict[str, Any]:
        sas = self.charon.list_sas()
        assert len(sas) == 1, sas
        return sas[0]

    def charon_child_id(self, pair: tuple[str, str]) -> str:
        for child in (self.charon_ike().get("child-sas") or {}).values():
            if (child["spi-out"], child["spi-in"]) == pair:
                return str(child["uniqueid"])
        raise AssertionError(f"charon has no CHILD SA {pair}")

    def child_config(self, pair: tuple[str, str]) -> str:
        for child in (self.charon_ike().get("child-sas") or {}).values():
            if (child["spi-out"], child["spi-in"]) == pair:
                return str(child["name"])
        raise AssertionError(f"charon has no CHILD SA {pair}")


# ------------------------------------------------------------------ checks after each step

def compare(s: Session, what: str) -> View:
    """Both views agree, ikelab's keys are charon's, the Message IDs are in step, and ikelab reported no
    Failure; ikelab's view."""
    mine = ikelab_view(s.endpoint)
    theirs = charon_view(s.charon.list_sas())
    assert mine == theirs, f"{s.case.name}, after {what}:\n  ikelab {mine}\n  charon {theirs}"
    check_keys(s)
    sa, ike = s.sa(), s.charon_ike()
    charon_sent, charon_expects = charon_next_ids(s.charon.log_text(), str(ike["uniqueid"]))
    assert (sa._next_request_id, sa._peer_next_id) == (charon_expects, charon_sent), \
        f"{s.case.name}, after {what}: Message IDs out of step (RFC 7296 2.3)"
    failures = [e for e in s.events if isinstance(e, ev.Failure)]
    assert not failures, f"{s.case.name}, after {what}: {failures}"
    return mine


def ids_in_step(s: Session) -> bool:
    """ikelab's next Message IDs are the ones charon's log says it sends and expects next (RFC 7296 2.3)."""
    sas, live = s.charon.list_sas(), live_sas(s.endpoint)
    if len(sas) != 1 or len(live) != 1:
        return False
    sent, expects = charon_next_ids(s.charon.log_text(), str(sas[0]["uniqueid"]))
    return (live[0]._next_request_id, live[0]._peer_next_id) == (expects, sent)


def pings(s: Session, what: str) -> None:
    """Three ICMP echoes each way over the newest CHILD SA: ikelab's userspace ESP to charon's kernel and back,
    and charon's kernel (B's ping) to ikelab's EspPeer and back."""
    before = len(s.esp.replies)
    for seq in range(1, 4):
        assert s.esp.ping(s.net.a.inner, s.net.b.inner, seq), s.esp.errors
    s.settle(lambda: len(s.esp.replies) >= before + 3, f"ikelab's pings ({what})")
    net = s.net
    theirs = in_thread(lambda: net.b.ping(net.a.inner, src=net.b.inner, count=3))
    s.settle(theirs, f"charon's pings ({what})")
    assert (len(s.esp.replies) - before, theirs.result) == (3, 3), (what, s.esp.errors)  # type: ignore[attr-defined]


def lossy_pings(s: Session) -> None:
    """ikelab's echo requests under a pattern that loses ESP on the way to charon: each is one ESP datagram
    numbered after what was counted so far, so exactly those the pattern picks get no reply (charon sends no
    request of its own meanwhile when ikelab makes them all, so nothing else is counted)."""
    modulus, drop, esp = s.case.to_charon
    assert esp and not s.case.to_ikelab[2]
    counted, _ = s.net.b.lost()
    want = sum((counted + k) % modulus not in drop for k in range(4))
    assert 0 < want < 4, (counted, s.case)  # the pattern loses some of them
    before = len(s.esp.replies)
    for seq in range(11, 15):
        assert s.esp.ping(s.net.a.inner, s.net.b.inner, seq), s.esp.errors
    s.settle(lambda: len(s.esp.replies) >= before + want, "pings with ESP lost")
    assert len(s.esp.replies) - before == want and s.net.b.lost()[0] == counted + 4, (s.esp.replies, want)


def lose(s: Session) -> None:
    """Set the case's patterns: what reaches ikelab is lost in A, what reaches charon in B (counting from 0)."""
    count_lost(s)
    for ns, (modulus, drop, esp) in ((s.net.a, s.case.to_ikelab), (s.net.b, s.case.to_charon)):
        ns.lose(modulus, drop, esp=esp)


def count_lost(s: Session) -> None:
    """Add what the patterns counted and dropped so far to ``s.lost``, before they are replaced or lifted."""
    for way, ns in (("to ikelab", s.net.a), ("to charon", s.net.b)):
        counted, dropped = ns.lost()
        s.lost[way] = (s.lost[way][0] + counted, s.lost[way][1] + dropped)


# ------------------------------------------------------------------ the lifecycle

def ikelab_lifecycle(s: Session) -> list[str]:
    """ikelab requests everything; the steps done."""
    done: list[str] = []

    def step(what: str, action: Callable[[IkeSa, float], None], until: Callable[[View], bool],
             check: Callable[[View, View], None]) -> None:
        old = ikelab_view(s.endpoint)
        action(s.sa() if old.ike else None, s.now())  # type: ignore[arg-type]
        s.settle(lambda: until(ikelab_view(s.endpoint)), what)
        new = compare(s, what)
        check(old, new)
        done.append(what)

    step("IKE_SA_INIT + IKE_AUTH", lambda sa, now: s.endpoint.initiate((s.net.b.addr4, 500), now),
         lambda v: len(v.children) == 1, lambda old, new: None)
    # a new CHILD SA negotiates PFS with the ESP proposals, ikelab's first one has curve25519 (RFC 7296 1.3.1)
    step("CREATE_CHILD_SA (new CHILD SA)", lambda sa, now: sa.create_child(now), lambda v: len(v.children) == 2,
         lambda old, new: added_one(old, new, "CURVE25519"))
    first, second = s.pairs_in_order()
    step("CHILD SA rekey without PFS", lambda sa, now: sa.rekey_child(bytes.fromhex(first[0]), now, pfs=False),
         lambda v: first not in v.children, lambda old, new: replaced(old, new, first, None))
    step("CHILD SA rekey with PFS", lambda sa, now: sa.rekey_child(bytes.fromhex(second[0]), now, pfs=True),
         lambda v: second not in v.children, lambda old, new: replaced(old, new, second, "CURVE25519"))
    old_ike = ikelab_view(s.endpoint).ike
    step("IKE SA rekey", lambda sa, now: sa.rekey_ike(now), lambda v: v.ike != old_ike and len(v.ike) == 1,
         lambda old, new: rekeyed_ike(old, new))
    checks = sum(isinstance(e, ev.LivenessChecked) for e in s.events)
    step("liveness check", lambda sa, now: sa.liveness(now),
         lambda v: sum(isinstance(e, ev.LivenessChecked) and e.alive for e in s.events) > checks,
         lambda old, new: same(old, new))
    esp_and_deletes(s, done, lambda pair: s.sa().delete_child(bytes.fromhex(pair[1]), s.now()),
                    lambda: s.sa().delete_ike(s.now()))
    return done


def charon_lifecycle(s: Session) -> list[str]:
    """charon requests everything (swanctl, and its DPD for the liveness check); the steps done."""
    done: list[str] = []

    def step(what: str, args: tuple[str, ...], until: Callable[[View], bool],
             check: Callable[[View, View], None]) -> None:
        old = ikelab_view(s.endpoint)
        finished = s.swanctl(*args)
        # charon's DELETE of what it rekeyed may still be on its way (lost, retransmitted) when both views agree
        s.settle(lambda: finished() and until(ikelab_view(s.endpoint)) and ids_in_step(s), what)
        new = compare(s, what)
        check(old, new)
        done.append(what)

    step("IKE_SA_INIT + IKE_AUTH", ("--initiate", "--child", "net", "--timeout", "30"),
         lambda v: len(v.children) == 1, lambda old, new: None)
    (net,) = s.pairs_in_order()
    step("CREATE_CHILD_SA (new CHILD SA)", ("--initiate", "--child", "net2", "--timeout", "30"),
         lambda v: len(v.children) == 2, lambda old, new: added_one(old, new, None))
    (net2,) = [p for p in s.pairs_in_order() if p != net]
    assert s.child_config(net2) == "net2"
    step("CHILD SA rekey without PFS", ("--rekey", "--child-id", s.charon_child_id(net2)),
         lambda v: net2 not in v.children and len(v.children) == 2, lambda old, new: replaced(old, new, net2, None))
    step("CHILD SA rekey with PFS", ("--rekey", "--child-id", s.charon_child_id(net)),
         lambda v: net not in v.children and len(v.children) == 2,
         lambda old, new: replaced(old, new, net, "CURVE25519"))
    old_ike = ikelab_view(s.endpoint).ike
    step("IKE SA rekey", ("--rekey", "--ike-id", str(s.charon_ike()["uniqueid"])),
         lambda v: v.ike != old_ike and len(v.ike) == 1, lambda old, new: rekeyed_ike(old, new))
    # charon's liveness check is its DPD (dpd_delay, RFC 7296 2.4): an empty INFORMATIONAL request, answered
    old = ikelab_view(s.endpoint)
    answered = len(dpd_answers(s))
    s.settle(lambda: len(dpd_answers(s)) > answered, "charon's liveness check")
    same(old, compare(s, "charon's liveness check"))
    done.append("liveness check")
    sa = s.charon_ike()
    esp_and_deletes(s, done, lambda pair: s.swanctl("--terminate", "--child-id", s.charon_child_id(pair),
                                                    "--timeout", "30"),
                    lambda: s.swanctl("--terminate", "--ike-id", str(sa["uniqueid"]), "--timeout", "30"))
    return done


def dpd_answers(s: Session) -> list[ev.MessageSent]:
    """ikelab's answers to empty INFORMATIONAL requests (first sendings, not those from the cache)."""
    return [e for e in s.events if isinstance(e, ev.MessageSent) and e.exchange == "INFORMATIONAL" and e.is_response
            and not e.retransmission and e.summary == "HDR, SK {}"]


def esp_and_deletes(s: Session, done: list[str], delete_child: Callable[[tuple[str, str]], Any],
                    delete_ike: Callable[[], Any]) -> None:
    """Pings both ways (the pattern lifted first if it loses ESP, and set again after), then the DELETE of the
    oldest CHILD SA and of the IKE SA."""
    if s.case.esp_lost and s.case.ikelab_requests:
        lossy_pings(s)
    if s.case.esp_lost:
        count_lost(s)
        for ns in (s.net.a, s.net.b):
            ns.stop_losing()
    pings(s, "over the CHILD SA")
    done.append("pings")
    if s.case.esp_lost:
        lose(s)
    old = ikelab_view(s.endpoint)
    pair = s.pairs_in_order()[0]
    finished = delete_child(pair)
    s.settle(lambda: (finished is None or finished()) and pair not in ikelab_view(s.endpoint).children,
             "DELETE of a CHILD SA")
    new = compare(s, "DELETE of a CHILD SA")
    assert new.ike == old.ike and new.children == {p: a for p, a in old.children.items() if p != pair}, (old, new)
    done.append("DELETE of a CHILD SA")
    sa = s.sa()
    # the DELETE of the IKE SA meets the patterns anew, counting from 0: its request and answer pass (no pattern
    # drops number 0 on the way to the responder), or, where the case says so, its first answer is lost
    if s.case.lose_last_answer:
        count_lost(s)
        for ns in (s.net.a, s.net.b):
            ns.stop_losing()
        (s.net.a if s.case.ikelab_requests else s.net.b).lose(64, (0,))
    else:
        lose(s)
    finished = delete_ike()
    s.settle(lambda: (finished is None or finished()) and not ikelab_view(s.endpoint).ike, "DELETE of the IKE SA")
    assert ikelab_view(s.endpoint) == View((), {}) == charon_view(s.charon.list_sas())
    last_delete(s, sa)
    done.append("DELETE of the IKE SA")


def last_delete(s: Session, sa: IkeSa) -> None:
    """How the DELETE of the IKE SA ended, its answer lost or not.

    charon answers a DELETE of the IKE SA and destroys the IKE SA at once, with the answer it would send
    again: a retransmitted DELETE meets no SA and goes unanswered.  RFC 7296 2.3 says a responder "MUST
    remember each response until it receives a request whose sequence number is larger than or equal to"
    its own plus the window size; no request comes after a DELETE of the IKE SA, so charon departs from it
    here.  ikelab, whose answer is lost, keeps the closed IKE SA with its answer until the peer's
    retransmissions are over (:meth:`IkeSa.forget_at`) and sends it again; whose request goes unanswered,
    retransmits it retransmit_tries times and then closes the IKE SA all the same, reporting that nobody
    answered (RFC 7296 2.4: the peer is then taken for dead).  Either way both end with no SA.
    """
    log = s.charon.log_text()
    failures = [e for e in s.events if isinstance(e, ev.Failure)]
    mid = sa._next_request_id - 1 if s.case.ikelab_requests else sa._peer_next_id - 1
    if s.case.ikelab_requests and s.case.lose_last_answer:
        assert re.search(rf"generating INFORMATIONAL response {mid} \[ \]", log), log[-2000:]
        assert f"received retransmit of request with ID {mid}" not in log.split("deleting IKE_SA")[-1]
        tries = [e for e in s.events if isinstance(e, ev.Retransmitted) and e.message_id == mid
                 and e.exchange == "INFORMATIONAL"]
        assert len(tries) == RETRANSMIT["tries"], tries  # every one unanswered
        (failure,) = failures
        assert failure.fatal and failure.reason == (f"no response to INFORMATIONAL message ID {mid} after "
                                                    f"{RETRANSMIT['tries']} retransmissions"), failure
        return
    assert not failures, failures
    if not s.case.ikelab_requests and s.case.lose_last_answer:
        again = [e for e in s.events if isinstance(e, ev.MessageSent) and e.is_response and e.retransmission
                 and (e.exchange, e.message_id) == ("INFORMATIONAL", mid)]
        assert again, "ikelab did not answer charon's retransmitted DELETE from its cache (RFC 7296 2.3)"
        assert f"retransmit 1 of request with message ID {mid}" in log, log[-2000:]
        assert "giving up after" not in log, log[-2000:]


def added_one(old: View, new: View, dh: str | None) -> None:
    added = set(new.children) - set(old.children)
    assert new.ike == old.ike and len(added) == 1 and set(old.children) <= set(new.children), (old, new)
    assert new.children[added.pop()][3] == dh, new


def replaced(old: View, new: View, pair: tuple[str, str], dh: str | None) -> None:
    """1.3.3, 2.8: the rekeyed pair gone on both ends, exactly one new pair, with ``dh`` as its PFS group."""
    added = set(new.children) - set(old.children)
    assert new.ike == old.ike and len(added) == 1 and set(new.children) - added == set(old.children) - {pair}, \
        (old, new)
    assert new.children[added.pop()][3] == dh, new


def rekeyed_ike(old: View, new: View) -> None:
    """2.18: one IKE SA with new SPIs on both ends, holding the same CHILD SAs."""
    assert len(new.ike) == 1 and set(new.ike[0]).isdisjoint(old.ike[0]) and new.children == old.children, (old, new)


def same(old: View, new: View) -> None:
    assert new == old, (old, new)


# ------------------------------------------------------------------ the test

def charon_conf(net: Any, case: Case) -> str:
    """charon's swanctl.conf in B: CHILD SA configurations ``net`` and ``net2``, the same selectors; DPD after
    1 s without traffic when charon makes the requests (its liveness check)."""
    mine, theirs = (ID_R, ID_I) if case.ikelab_requests else (ID_I, ID_R)
    common = dict(local_addrs=net.b.addr4, remote_addrs=net.a.addr4, local_id=mine, remote_id=theirs,
                  local_ts=f"{net.b.inner}/32", remote_ts=f"{net.a.inner}/32", proposals=IKE, esp_proposals=ESP_NET,
                  extra={"children": {"net2": {"local_ts": f"{net.b.inner}/32", "remote_ts": f"{net.a.inner}/32",
                                               "esp_proposals": ESP_NET2}},
                         **({} if case.ikelab_requests else {"dpd_delay": "1s"})})
    return cert_conf(cert_file="peer.pem", **common) if case.chain else psk_conf(psk=PSK, **common)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_lifecycle_under_loss(netns_pair: Any, charon_factory: Any, pki: Any, case: Case) -> None:
    net = netns_pair
    charon = charon_factory(net.b, "charon", start=False, swanctl_conf=charon_conf(net, case), conf={
        "delete_rekeyed_delay": 1, "retransmit_timeout": RETRANSMIT["timeout"],
        "retransmit_base": RETRANSMIT["base"], "retransmit_tries": RETRANSMIT["tries"],
        "fragment_size": FRAGMENT_SIZE})
    charon.write_files()
    if case.chain:
        pki.install(charon.swanctl_dir, ID_R if case.ikelab_requests else ID_I)
    charon.start()
    charon.load_all()
    s = Session(net, charon, case, pki)
    lose(s)
    try:
        done = (ikelab_lifecycle if case.ikelab_requests else charon_lifecycle)(s)
    finally:
        s.close()
    count_lost(s)
    print(f"{case.name}: {', '.join(done)}; (counted, dropped) {s.lost}")
    assert done[-1] == "DELETE of the IKE SA"
    # the pattern did lose datagrams both ways (else the test would show nothing)
    assert s.lost["to ikelab"][1] > 0 and s.lost["to charon"][1] > 0, s.lost
    log = charon.log_text()
    retransmitted = [e for e in s.events if isinstance(e, ev.Retransmitted)]
    from_cache = [e for e in s.events if isinstance(e, ev.MessageSent) and e.is_response and e.retransmission]
    print(f"  ikelab retransmitted {[(e.exchange, e.message_id) for e in retransmitted]}, answered from its cache "
          f"{[(e.exchange, e.message_id) for e in from_cache]} (one event per fragment)\n  charon: "
          f"{RETRANSMIT_LINES.findall(log)}")
    if case.ikelab_requests:
        # ikelab lost requests or responses and sent the request again; each retransmitted request was answered
        assert retransmitted, "ikelab retransmitted nothing"
        for r in retransmitted:
            answered = any(isinstance(e, ev.MessageReceived) and e.is_response and e.time >= r.time
                           and (e.exchange, e.message_id) == (r.exchange, r.message_id) for e in s.events)
            # or it was the DELETE of an IKE SA, whose answer charon does not send again (see last_delete): that
            # IKE SA closed once the retransmissions were spent
            closed = any(isinstance(e, ev.IkeSaDeleted) and e.time >= r.time and e.reason.startswith(
                f"no response to INFORMATIONAL message ID {r.message_id} after") for e in s.events)
            assert answered or (r.exchange == "INFORMATIONAL" and closed), r
        assert "retransmitting response" in log  # charon answered a retransmission from its cache
    else:
        assert re.search(r"retransmit \d+ of request with message ID", log), log[-3000:]
        assert from_cache, "ikelab answered no retransmitted request from its cache"
    if case.chain:  # IKE_AUTH came in fragments both ways (RFC 7383)
        assert any(isinstance(e, ev.FragmentReceived) and e.exchange == "IKE_AUTH" for e in s.events)
        assert re.search(r"generating IKE_AUTH (request|response) 1 \[ EF\(", log), log[-3000:]
        # RFC 7383 2.6.1: a fragment of a request already answered brings the response again only if it is
        # fragment 1; the others are ignored
        if case.ikelab_requests:
            assert "received message ID 1, expected 2, ignored" in log, log[-3000:]
        else:
            pieces = [e for e in s.events if isinstance(e, ev.MessageSent) and e.exchange == "IKE_AUTH"
                      and e.is_response and not e.retransmission]
            again = [e for e in from_cache if e.exchange == "IKE_AUTH"]
            tries = len(re.findall(r"<lab\|1> retransmit \d+ of request with message ID 1$", log, re.M))
            assert len(pieces) > 1 and len(again) % len(pieces) == 0 and 0 < len(again) <= len(pieces) * tries, \
                (len(pieces), len(again), tries)


def _through_loss(addr: str, datagrams: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """In a namespace: send ``datagrams`` ((port, payload), in order) to our own ``addr`` and return those that
    came through, in order (nftables' input hook sees them as it sees the veth's)."""
    import socket

    socks = {}
    for port in (500, 4500):
        socks[port] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        socks[port].bind((addr, port))
        socks[port].settimeout(0.2)
    got = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
        for port, payload in datagrams:
            out.sendto(payload, (addr, port))
            try:
                got.append((port, socks[port].recv(2048)))
            except socket.timeout:  # dropped
                pass
    for sock in socks.values():
        sock.close()
    return got


def test_the_loss_patterns_drop_what_they_say(netns_pair: Any) -> None:
    """:meth:`Namespace.lose`: IKE datagrams (port 500, port 4500 after the Non-ESP Marker) are numbered in order of
    arrival and those whose number modulo m is in the set are dropped; ESP only when asked; keepalives never."""
    ns = netns_pair.a
    kinds = {"ike500": (500, b"\x11" * 40), "ike4500": (4500, b"\0\0\0\0" + b"\x22" * 40),
             "esp": (4500, b"\x00\x00\x12\x34" + b"\x33" * 40), "keepalive": (4500, b"\xff")}
    sequence = ["ike500", "esp", "ike4500", "keepalive", "ike500", "ike4500", "esp", "ike500", "ike4500", "esp",
                "ike500", "keepalive", "ike4500"]
    sent = [(kind, *kinds[kind]) for kind in sequence]

    def passed(modulus: int, drop: set[int], esp: bool) -> list[str]:
        counted = [i for i, (kind, _, _) in enumerate(sent) if kind.startswith("ike") or (esp and kind == "esp")]
        lost = {i for n, i in enumerate(counted) if n % modulus in drop}
        return [kind for i, (kind, _, _) in enumerate(sent) if i not in lost]

    def through() -> list[str]:
        got = ns.call(_through_loss, ns.addr4, [(port, payload) for _, port, payload in sent])
        return [next(k for k, v in kinds.items() if v == item) for item in got]

    assert through() == sequence  # no pattern: everything
    ns.lose(4, (1, 2))
    assert through() == passed(4, {1, 2}, False)
    assert ns.lost() == (8, 4)  # 8 IKE datagrams, numbers 1, 2, 5, 6 lost
    ns.lose(3, (0,), esp=True)  # a new pattern counts from 0 again
    assert through() == passed(3, {0}, True)
    assert ns.lost() == (11, 4)  # and 3 ESP: numbers 0, 3, 6, 9 lost
    ns.stop_losing()  # the table is gone (the lifecycles' pings show that traffic passes again)
    assert ns.lost() == (0, 0) and "ikelab_loss" not in ns.run("nft", "list", "tables").stdout
