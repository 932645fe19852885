"""Seeded random sequences of IKEv2 operations on one IKE SA, ikelab against strongSwan's charon.

An in-process ikelab peer (:class:`ikelab.endpoint.IkeEndpoint`, sans-IO, driven here; its datagrams leave
namespace A from ports 500 and 4500 through a small two-way relay) and charon (namespace B, driven with
swanctl) set up an IKE SA, either side initiating.  Then a seeded generator draws a sequence of steps:

* one operation from ikelab's side (create another CHILD SA, rekey one with or without PFS, rekey the IKE SA,
  a liveness check, delete a CHILD SA) or from charon's (``swanctl --rekey --child-id``/``--child``,
  ``--rekey --ike-id``, ``--rekey --reauth``, ``--terminate --child-id``/``--child``, ``--initiate --child``);
* two requests that cross on the wire, one of each peer's (:data:`CROSSINGS`): ikelab's request is held
  until charon's has arrived, then one peer gets the other's request while its own is unanswered (2.8.1 and
  2.8.2 collisions, 2.25 races), in either order of the answers;
* two of ikelab's requests asked for at once (:data:`BURSTS`: window size 1, 2.3; CHILD SA work moving to
  the new IKE SA, 2.18);

and ends with a DELETE of the IKE SA by one of them, perhaps crossing a request of the other (:data:`FINALES`).

After every step both views must be the same (RFC 7296 1.3, 1.4.1, 2.8, 2.18):

* one IKE SA on each side, ESTABLISHED, with the same SPIi and SPIr, which changed on an IKE SA rekey;
* the same CHILD SAs: ikelab's (inbound, outbound) SPI pairs are charon's (spi-out, spi-in) pairs of its
  INSTALLED CHILD SAs, with the same algorithms, PFS group and traffic selectors; nothing left over after a
  rekey (the old pair deleted on both ends, the redundant one of a collision too) or a delete;
* what the step did, against a model kept here: one pair more after a create, the rekeyed pair replaced
  by a new one, the deleted pair gone, the CHILD SAs kept over an IKE SA rekey, one new pair after two
  crossing rekeys of one CHILD SA (2.8.1), none after a rekey crossing its delete (2.25.1);
* the keys: every CHILD SA's ESP keys and the IKE SA's SK_e/SK_a keys in ikelab are the ones charon logged
  (charon's file log at ``ike = 4``, :func:`interop.charonlog.parse_keys`);
* after the final DELETE, nothing on either side.

The peers agreed in every drawn sequence (and in 16 other draws of 14 sequences each).  Where charon
behaves otherwise than ikelab, or than RFC 7296 asks, it is a row here, and the test asserts what the RFC
allows (the same SAs in the end on both sides):

| where | RFC 7296 | charon 5.9.8 | ikelab |
|---|---|---|---|
| a response whose Message ID is that of the peer's request being processed at that moment | 2.3 | drops it | takes it |
| the CHILD SA a rekey replaced | 1.4.1, 2.8 | kept DELETED a few seconds | removed at once |
| a CHILD SA with the selectors of one already up | 2.8, 2.9 | not initiated | initiated |
| reauthentication of an IKE SA with several CHILD SAs | 2.8.3 | one new CHILD SA | (a responder only) |
| asking again after TEMPORARY_FAILURE | 2.25 | 6 to 15 s later | 1 to 2 retransmit_timeout later |

* Crossing requests with the same Message ID (each peer's n-th request): charon's ike_sa_manager marks the
  IKE SA as processing request n while it handles the peer's request n, and drops the peer's *response* n
  arriving meanwhile as "ignoring request with ID n, already processing".  2.3 keeps the two directions'
  Message IDs apart (a response matches the receiver's own request), so charon leaves the RFC; it recovers
  by retransmitting its request (1 s here), which ikelab answers from its cache (2.3).  The steps wait for
  charon's own exchanges to end (vici's ``tasks-active``) before comparing.
* charon keeps the inbound half of a replaced CHILD SA, state DELETED, for ``delete_rekeyed_delay`` seconds
  (default 5; with 0 it stayed past the 10 s a step waits), and puts a reauthentication off 6 to 15 s while
  one is there; 1.4.1 calls a half-closed SA anomalous only if it persists.  Set to 1 s here.
* ``swanctl --initiate`` of a CHILD SA whose selectors an installed one has is refused locally ("not
  establishing CHILD_SA ... due to existing duplicate"), nothing is sent; as a responder charon accepts
  ikelab's.  Nothing in RFC 7296 forbids two CHILD SAs with the same selectors (a rekey makes them, 2.8).
* ``swanctl --rekey --reauth`` (2.8.3: a new IKE SA, new CHILD SAs, the old IKE SA deleted; charon deletes
  first) makes one CHILD SA per configuration and selectors, so duplicates are not made again; with no
  CHILD SA it deletes the IKE SA and makes none (so the step is drawn only with a CHILD SA).
* charon asks again 6 to 15 s after TEMPORARY_FAILURE (2.25 only says later): crossings that make charon's
  request fail that way (:data:`LAST_CROSSINGS`, a CHILD SA request crossing an IKE SA rekey, 2.25.2) come
  last, and the test asserts that ikelab refused it with TEMPORARY_FAILURE and that ikelab's own went through.

Run: ``cd tests && CI=true python -m pytest -n0 interop/test_review_sequences_vs_charon.py`` (about 20 s);
another draw with ``IKELAB_SEQUENCE_SEED=...`` and ``IKELAB_SEQUENCES=...``.
"""

from __future__ import annotations

import os
import queue
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

import pytest

from ikelab.config import IkeConfig
from ikelab.endpoint import IkeEndpoint
from ikelab.exchanges_common import Datagram, unframe
from ikelab.ike import IkeSa
from ikelab.rand import DeterministicRandom
from ikelab.state import State
from ikelab.ts import ts_to_string
from interop.swanctl import psk_conf

pytestmark = [pytest.mark.strongswan]

SEED = int(os.environ.get("IKELAB_SEQUENCE_SEED", "20261223"))
N_SEQUENCES = int(os.environ.get("IKELAB_SEQUENCES", "10"))

PSK = "ikelab-interop-psk"
ID_I, ID_R = "alice@example.org", "gw.example.com"
IKE = "aes128-sha256-x25519"
#: ESP suites as strongSwan's keywords, with what swanctl --list-sas prints for them (IANA names, RFC 7296 3.3.2)
ESP_SUITES = {
    "aes128-sha256": ("AES_CBC", "128", "HMAC_SHA2_256_128"),
    "aes256gcm16": ("AES_GCM_16", "256", None),
    "aes128ctr-sha384": ("AES_CTR", "128", "HMAC_SHA2_384_192"),
}
IKELAB_OPS = ("create", "rekey_child", "rekey_child_pfs", "rekey_ike", "liveness", "delete_child")
CHARON_OPS = ("charon_rekey_child", "charon_rekey_ike", "charon_terminate_child", "charon_initiate_child",
              "charon_reauth")
#: requests that cross on the wire (each peer sends its own before it sees the other's), ikelab's + charon's
CROSSINGS = (
    ("rekey_child", "charon_rekey_child"), ("rekey_child_pfs", "charon_rekey_child"),
    ("delete_child", "charon_rekey_child"), ("rekey_child", "charon_terminate_child"),
    ("delete_child", "charon_terminate_child"), ("create", "charon_rekey_child"),
    ("create", "charon_terminate_child"), ("rekey_ike", "charon_rekey_ike"), ("liveness", "charon_rekey_ike"),
    ("liveness", "charon_rekey_child"), ("liveness", "charon_terminate_child"), ("rekey_ike", "charon_terminate_child"),
)
#: the other peer's request crossing the final DELETE of the IKE SA, by who deletes (RFC 7296 2.25.2: a request
#: on an IKE SA being closed is answered, TEMPORARY_FAILURE for a rekey; a DELETE is answered as usual)
FINALES = {"ikelab": ("charon_rekey_ike", "charon_rekey_child", "charon_delete_ike"),
           "charon": ("rekey_ike", "create", "rekey_child", "delete_ike")}
#: two of ikelab's requests asked for at once: the second waits for the first (window size 1, RFC 7296 2.3);
#: CHILD SA work asked for while the IKE SA is rekeyed goes to the new IKE SA (2.18)
BURSTS = (
    ("create", "rekey_child"), ("rekey_child", "delete_child"), ("rekey_ike", "create"), ("rekey_ike", "rekey_child"),
    ("delete_child", "rekey_ike"), ("rekey_child_pfs", "rekey_ike"), ("create", "delete_child"),
    ("rekey_child", "rekey_child"),
)
#: crossings in which charon's request is refused with TEMPORARY_FAILURE (RFC 7296 2.25.2: a CHILD SA request
#: crossing an IKE SA rekey).  charon asks again 6 to 15 s later, beyond what a step waits for, so these come
#: last, just before the IKE SA is deleted; ikelab's request (refused too, or answered) goes through
LAST_CROSSINGS = (
    ("create", "charon_rekey_ike"), ("rekey_child", "charon_rekey_ike"), ("delete_child", "charon_rekey_ike"),
    ("rekey_ike", "charon_rekey_child"),
)
#: bound on each wait for the two peers to settle (seconds); a step normally settles in tens of milliseconds
SETTLE = 10.0
#: ikelab timers due within this many virtual seconds are retries (2.25), run at once; the others are lifetimes
RETRY_HORIZON = 60.0


# ------------------------------------------------------------------ the draw

@dataclass(frozen=True)
class Sequence:
    n: int
    ikelab_initiates: bool
    esp: str
    steps: tuple[str, ...]
    picks: tuple[int, ...]  # which CHILD SA (an index into them, oldest first) each step acts on
    last: str  # "ikelab" or "charon": who deletes the IKE SA
    finale: str = ""  # the other peer's request crossing that DELETE ("": none)
    charon_pfs: bool = True  # charon's ESP proposal with a DH group comes first (its own CREATE_CHILD_SA: PFS)

    def __str__(self) -> str:
        role = "ikelab initiates" if self.ikelab_initiates else "charon initiates"
        crossed = f" crossing {self.finale}" if self.finale else ""
        pfs = "" if self.charon_pfs else ", charon without PFS first"
        return (f"sequence {self.n} (seed {SEED}, {role}, esp {self.esp}{pfs}): {' '.join(self.steps)}; {self.last} "
                f"deletes{crossed}")


def draw(seed: int = SEED, n: int = N_SEQUENCES) -> list[Sequence]:
    """``n`` sequences of 5 to 8 steps, the same for the same seed; half of them with charon initiating."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        steps = tuple("+".join(rng.choice(CROSSINGS)) if (r := rng.random()) < 0.3 else
                      "&".join(rng.choice(BURSTS)) if r < 0.42 else
                      rng.choice(IKELAB_OPS if rng.random() < 0.55 else CHARON_OPS) for _ in range(rng.randint(5, 8)))
        if rng.random() < 0.4:
            steps = steps[:-1] + ("+".join(rng.choice(LAST_CROSSINGS)),)
        out.append(Sequence(i, i % 2 == 0, rng.choice(sorted(ESP_SUITES)), steps,
                            tuple(rng.randrange(1000) for _ in steps), rng.choice(("ikelab", "charon"))))
    # the requests that cross the final DELETE come from a generator of their own (the draw above stays as it was)
    other = random.Random(seed + 1)
    return [replace(q, finale=other.choice(("",) + FINALES[q.last]), charon_pfs=other.random() < 0.6) for q in out]


SEQUENCES = draw()


def in_thread(call: Callable[[], Any]) -> Callable[[], bool]:
    """Start ``call()`` in a thread (a swanctl command or a ping waiting for an exchange that needs us to pump);
    a test for its end (its result then in ``.result``), which raises what ``call`` raised."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # pragma: no cover - raised again by done()
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def done() -> bool:
        if thread.is_alive():
            return False
        if "error" in box:
            raise box["error"]
        done.result = box["result"]  # type: ignore[attr-defined]
        return True

    return done


# ------------------------------------------------------------------ the relay in namespace A

RELAY = r"""
import socket, sys, threading
local, peer = sys.argv[1], sys.argv[2]
socks = {}
for port in (500, 4500):
    socks[port] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    socks[port].bind((local, port))
lock = threading.Lock()
def listen(port):
    while True:
        data, src = socks[port].recvfrom(65535)
        with lock:
            sys.stdout.write(f"{port} {src[1]} {data.hex()}\n")
            sys.stdout.flush()
for port in socks:
    threading.Thread(target=listen, args=(port,), daemon=True).start()
print("ready", flush=True)
for line in sys.stdin:
    port, dport, data = line.split()
    socks[int(port)].sendto(bytes.fromhex(data), (peer, int(dport)))
"""


class Relay:
    """A process in namespace A bound to ports 500 and 4500: what ikelab sends goes out from there to charon,
    whatever arrives there is handed to ikelab (queue ``incoming``)."""

    def __init__(self, net: Any) -> None:
        self.local, self.peer = net.a.addr4, net.b.addr4
        self.proc = net.a.popen([sys.executable, "-c", RELAY, self.local, self.peer],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        if (first := self.proc.stdout.readline().strip()) != "ready":  # e.g. ports 500/4500 taken in A
            self.close()
            raise AssertionError(f"the relay in {net.a.name} did not start (said {first!r}; its error is on stderr)")
        self.incoming: queue.Queue[Datagram] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            port, sport, data = line.split()
            self.incoming.put(Datagram(bytes.fromhex(data), (self.peer, int(sport)), (self.local, int(port))))

    def send(self, dgram: Datagram) -> None:
        assert self.proc.stdin is not None
        assert dgram.src[0] == self.local and dgram.dst[0] == self.peer, dgram
        self.proc.stdin.write(f"{dgram.src[1]} {dgram.dst[1]} {dgram.payload.hex()}\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.kill()
        self.proc.wait(5)


# ------------------------------------------------------------------ the two views

@dataclass(frozen=True)
class View:
    """One peer's view: the IKE SAs (SPIi, SPIr), the CHILD SA pairs as (ikelab's inbound, ikelab's outbound)
    SPIs, each with its algorithms (encr, key size, integ or None, PFS group or None) and its traffic
    selectors (ikelab's local ones, ikelab's remote ones)."""

    ike: tuple[tuple[str, str], ...]
    children: dict[tuple[str, str], tuple[Any, ...]]


def live_sas(endpoint: IkeEndpoint) -> list[IkeSa]:
    """ikelab's IKE SAs that are not CLOSED (a closed one stays in ``endpoint.sas`` a while)."""
    return [sa for sa in endpoint.sas.values() if sa.state != State.CLOSED]


def ikelab_view(endpoint: IkeEndpoint) -> View:
    live = live_sas(endpoint)
    children = {}
    for sa in live:
        for child in sa.children.values():
            if child.state in ("INSTALLED", "REKEYING"):
                encr = child.encr.name.removeprefix("ENCR_") if child.encr is not None else None
                integ = child.integ.name.removeprefix("AUTH_") if child.integ is not None else None
                dh = child.dh_group.name.replace("_", "") if child.dh_group is not None else None
                ts = (tuple(sorted(ts_to_string(x) for x in child.ts_local)),
                      tuple(sorted(ts_to_string(x) for x in child.ts_remote)))
                children[(child.spi_in.hex(), child.spi_out.hex())] = (encr, str(child.encr_key_bits), integ, dh, ts)
    return View(tuple(sorted((sa.spi_i.hex(), sa.spi_r.hex()) for sa in live)), children)


def policy(attrs: tuple[Any, ...]) -> tuple[Any, ...]:
    """A CHILD SA's algorithms and selectors without its PFS group (one ESP suite and one policy here)."""
    return attrs[:3] + attrs[4:]


def charon_view(sas: list[dict[str, Any]]) -> View:
    ike, children = [], {}
    for sa in sas:
        ike.append((sa["initiator-spi"], sa["responder-spi"]))
        for child in (sa.get("child-sas") or {}).values():
            if child.get("state") == "INSTALLED":
                ts = (tuple(sorted(child.get("remote-ts") or ())), tuple(sorted(child.get("local-ts") or ())))
                children[(child["spi-out"], child["spi-in"])] = (child["encr-alg"], child["encr-keysize"],
                                                                 child.get("integ-alg"),
                                                                 (child.get("dh-group") or "").replace("_", "") or None,
                                                                 ts)
    return View(tuple(sorted(ike)), children)


def charon_states(sas: list[dict[str, Any]]) -> list[str]:
    """Every IKE and CHILD SA state charon lists, e.g. ``['ESTABLISHED', 'INSTALLED', 'REKEYED']``, and
    ``TASKS`` for an IKE SA with an exchange of charon's own in flight or queued (vici's ``tasks-active``,
    ``tasks-queued``: a CHILD SA being created is not listed until it is installed)."""
    return [s for sa in sas for s in [sa.get("state")] + [c.get("state") for c in (sa.get("child-sas") or {}).values()]
            + (["TASKS"] if sa.get("tasks-active") or sa.get("tasks-queued") else [])]


# ------------------------------------------------------------------ one session

class Session:
    """ikelab's endpoint in this process, charon in B, the relay in A between them.  ikelab's time is the wall
    clock since the start (for its retransmissions), plus the waits before its retries that :meth:`settle`
    skips."""

    def __init__(self, net: Any, charon: Any, seq: Sequence) -> None:
        self.net, self.charon, self.seq = net, charon, seq
        local_ts, remote_ts = f"{net.a.inner}/32", f"{net.b.inner}/32"
        mine, theirs = (ID_I, ID_R) if seq.ikelab_initiates else (ID_R, ID_I)
        self.config = IkeConfig(local_id=mine, remote_id=theirs, psk=PSK.encode(), ike_proposals=(IKE,),
                                esp_proposals=(f"{seq.esp}-x25519", seq.esp), local_ts=(local_ts,),
                                remote_ts=(remote_ts,),
                                cookie_threshold=None, retransmit_timeout=1.0, retransmit_tries=4)
        # ikelab's SPIs, nonces and DH keys from the seed (charon's are its own)
        self.endpoint = IkeEndpoint(self.config, rng=DeterministicRandom(f"{SEED}-{seq.n}"), local_addr=net.a.addr4)
        self.relay = Relay(net)
        self.t0 = time.monotonic()
        self.skew = 0.0  # virtual seconds jumped over (ikelab's retries after TEMPORARY_FAILURE, see settle)
        self.events: list[Any] = []
        self.seen: dict[tuple[str, str], int] = {}  # CHILD SA pairs in the order they came up

    def now(self) -> float:
        return time.monotonic() - self.t0 + self.skew

    def close(self) -> None:
        self.relay.close()

    # -- moving datagrams

    def pump(self, wait: float = 0.05) -> bool:
        """Send what ikelab has to send, hand it what arrived (waiting up to ``wait`` s for the first);
        run its timers.  Whether anything arrived."""
        got = False
        while True:
            for dgram in self.endpoint.pop_datagrams():
                self.relay.send(dgram)
            self.events += self.endpoint.pop_events()
            try:
                dgram = self.relay.incoming.get(timeout=0 if got else wait)
            except queue.Empty:
                break
            got = True
            self.endpoint.receive(dgram, self.now())
        timer = self.endpoint.get_timer()
        if timer is not None and timer <= self.now():
            self.endpoint.handle_timer(self.now())
        for dgram in self.endpoint.pop_datagrams():
            self.relay.send(dgram)
        self.events += self.endpoint.pop_events()
        return got

    def ikelab_idle(self) -> bool:
        return all(sa._pending is None and not sa._queue for sa in live_sas(self.endpoint))

    def settle(self, until: Callable[[], bool] = lambda: True, what: str = "") -> View:
        """Pump until ``until()`` holds, ikelab has no exchange of its own in flight, nothing arrives for a
        moment, and charon lists no SA in a passing state (REKEYING, DELETING...); ikelab's view then."""
        deadline = time.monotonic() + SETTLE
        sas: list[dict[str, Any]] = []
        while True:
            if not self.pump() and self.ikelab_idle() and until():
                sas = self.charon.list_sas()
                states = charon_states(sas)
                # DELETED: charon keeps the inbound half of a replaced CHILD SA a few seconds (the table)
                if all(s in ("ESTABLISHED", "INSTALLED", "DELETED") for s in states) and not self.pump(0.02):
                    timer = self.endpoint.get_timer()
                    if timer is None or timer - self.now() > RETRY_HORIZON:
                        return ikelab_view(self.endpoint)
                    # ikelab asks again a little later after TEMPORARY_FAILURE (RFC 7296 2.25): that time now
                    self.skew += max(0.0, timer - self.now())
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.seq}: {what} did not settle in {SETTLE:.0f} s; ikelab "
                                     f"{ikelab_view(self.endpoint)}, charon {sas}\n{self.charon.diagnostics()}")

    def swanctl(self, *args: str, refused: str = "") -> Callable[[], bool]:
        """``swanctl ARGS`` in a thread (it may wait for the exchange, which needs us to pump); a test for its end,
        which asserts that it succeeded (or, with ``refused``, that it failed saying so)."""
        ended = in_thread(lambda: self.charon.swanctl(*args, timeout=20, check=False))

        def done() -> bool:
            if not ended():
                return False
            result = ended.result  # type: ignore[attr-defined]
            out = f"swanctl {' '.join(args)}: {result.stdout}{result.stderr}"
            assert (result.returncode != 0 and refused in out) if refused else result.returncode == 0, out
            return True

        return done

    def charon_request(self, what: str) -> Datagram:
        """The next IKE message charon sends (a NAT-T keepalive, RFC 3948 2.3, is passed over), not yet handed
        to ikelab."""
        deadline = time.monotonic() + SETTLE
        while (left := deadline - time.monotonic()) > 0:
            try:
                dgram = self.relay.incoming.get(timeout=left)
            except queue.Empty:
                break
            if unframe(dgram) is not None:
                return dgram
        raise AssertionError(f"{self.seq}: charon sent no request for {what}\n{self.charon.diagnostics()}")

    # -- ikelab's current IKE SA

    def sa(self) -> IkeSa:
        live = live_sas(self.endpoint)
        assert len(live) == 1, live
        return live[0]

    def pairs(self) -> list[tuple[str, str]]:
        """ikelab's CHILD SA pairs, oldest first (the SPIs are random; the order they came in is not)."""
        for pair in sorted(ikelab_view(self.endpoint).children):
            self.seen.setdefault(pair, len(self.seen))
        return sorted(ikelab_view(self.endpoint).children, key=self.seen.__getitem__)

    def charon_child_id(self, pair: tuple[str, str]) -> str:
        for sa in self.charon.list_sas():
            for child in (sa.get("child-sas") or {}).values():
                if (child["spi-out"], child["spi-in"]) == pair:
                    return str(child["uniqueid"])
        raise AssertionError(f"charon has no CHILD SA {pair}")

    def charon_ike_id(self) -> str:
        sas = self.charon.list_sas()
        if len(sas) != 1:
            raise AssertionError(f"{self.seq}: charon lists {len(sas)} IKE SAs where one was expected: {sas}")
        return str(sas[0]["uniqueid"])


# ------------------------------------------------------------------ the steps

def establish(s: Session) -> None:
    """IKE_SA_INIT and IKE_AUTH, started by whichever peer the sequence says, until one CHILD SA stands."""
    if s.seq.ikelab_initiates:
        s.endpoint.initiate((s.net.b.addr4, 500), s.now())
        s.settle(lambda: len(ikelab_view(s.endpoint).children) == 1, "IKE_SA_INIT + IKE_AUTH")
    else:
        done = s.swanctl("--initiate", "--child", "net", "--timeout", "10")
        s.settle(lambda: done() and len(ikelab_view(s.endpoint).children) == 1, "charon's initiate")


def ikelab_request(sa: IkeSa, op: str, spi: bytes, now: float) -> None:
    """Start ikelab's ``op`` (one of :data:`IKELAB_OPS`) on ``sa``; a CHILD SA op acts on the one with ``spi``."""
    if op == "create":
        sa.create_child(now)
    elif op in ("rekey_child", "rekey_child_pfs"):
        sa.rekey_child(spi, now, pfs=op == "rekey_child_pfs")
    elif op == "rekey_ike":
        sa.rekey_ike(now)
    elif op == "liveness":
        sa.liveness(now)
    elif op == "delete_child":
        sa.delete_child(spi, now)
    else:  # pragma: no cover
        raise ValueError(f"not one of ikelab's ops: {op!r}")


def step(s: Session, op: str, pick: int) -> tuple[str, Callable[[View, View], None]]:
    """Start ``op`` and wait for both peers to settle; the op as done (a CHILD SA op with no CHILD SA left
    becomes a create) and a check of the new view against the old one."""
    pairs = s.pairs()
    if op in ("rekey_child", "rekey_child_pfs", "delete_child") and not pairs:
        op = "create"
    if op in ("charon_rekey_child", "charon_terminate_child", "charon_reauth") and not pairs:
        # charon 5.9.8 reauthenticates an IKE SA by recreating its CHILD SAs: with none, it deletes the IKE SA
        op = "charon_initiate_child"
    pair = pairs[pick % len(pairs)] if pairs else None
    sa = s.sa()
    before = ikelab_view(s.endpoint)
    # ikelab finds a CHILD SA by its inbound or its outbound SPI (IkeSa.find_child): both are used
    spi = bytes.fromhex(pair[pick % 2]) if pair else b""

    def gone() -> bool:
        return pair not in ikelab_view(s.endpoint).children

    def more() -> bool:
        return len(ikelab_view(s.endpoint).children) > len(before.children)

    until: Callable[[], bool] = lambda: True
    if op in IKELAB_OPS:
        ikelab_request(sa, op, spi, s.now())
    elif op == "charon_rekey_child" and pick % 4 == 0 and len(pairs) > 1:
        op = "charon_rekey_all"  # by name: every CHILD SA of the configuration, one exchange after the other
        done = s.swanctl("--rekey", "--child", "net")
        until = lambda: done() and set(ikelab_view(s.endpoint).children).isdisjoint(before.children) and \
            len(ikelab_view(s.endpoint).children) == len(before.children)
    elif op == "charon_terminate_child" and pick % 4 == 0 and len(pairs) > 1:
        op = "charon_terminate_all"
        done = s.swanctl("--terminate", "--child", "net", "--timeout", "10")
        until = lambda: done() and not ikelab_view(s.endpoint).children
    elif op == "charon_rekey_child":
        done = s.swanctl("--rekey", "--child-id", s.charon_child_id(pair))
        until = lambda: done() and gone() and len(ikelab_view(s.endpoint).children) == len(before.children)
    elif op == "charon_rekey_ike":
        done = s.swanctl("--rekey", "--ike-id", s.charon_ike_id())
        until = lambda: done() and ikelab_view(s.endpoint).ike != before.ike
    elif op == "charon_terminate_child":
        done = s.swanctl("--terminate", "--child-id", s.charon_child_id(pair), "--timeout", "10")
        until = lambda: done() and gone()
    elif op == "charon_reauth":
        # charon puts a reauthentication off by 6 to 15 s while a replaced CHILD SA is DELETED: wait it out
        s.settle(lambda: "DELETED" not in charon_states(s.charon.list_sas()), "the end of DELETED CHILD SAs")
        done = s.swanctl("--rekey", "--reauth", "--ike-id", s.charon_ike_id())
        until = lambda: (done() and (view := ikelab_view(s.endpoint)).ike != before.ike and len(view.ike) == 1
                         and set(view.children).isdisjoint(before.children))
    elif op == "charon_initiate_child" and pairs:
        # charon does not initiate a CHILD SA with the selectors of one it holds (the table); nothing is sent
        op = "charon_initiate_duplicate"
        until = s.swanctl("--initiate", "--child", "net", "--timeout", "10", refused="due to existing duplicate")
    elif op == "charon_initiate_child":
        done = s.swanctl("--initiate", "--child", "net", "--timeout", "10")
        until = lambda: done() and more()
    else:  # pragma: no cover
        raise ValueError(op)
    s.settle(until, op)

    def check(old: View, new: View) -> None:
        kept = {p: a for p, a in old.children.items() if p != pair}
        added = {p: a for p, a in new.children.items() if p not in old.children}
        if op in ("liveness", "charon_initiate_duplicate"):
            assert new == old, f"{op} changed the SAs"
        elif op in ("rekey_ike", "charon_rekey_ike"):
            # 2.18: the CHILD SAs move to the new IKE SA, which has new SPIs on both ends
            assert new.children == old.children and len(new.ike) == 1 and new.ike != old.ike
            assert set(new.ike[0]).isdisjoint(old.ike[0]), (old.ike, new.ike)
        elif op in ("create", "charon_initiate_child"):
            assert new.ike == old.ike and len(added) == 1 and {p: new.children[p] for p in old.children} == \
                old.children, (old, new)
        elif op == "charon_rekey_all":
            assert new.ike == old.ike and len(new.children) == len(old.children), (old, new)
            assert set(new.children).isdisjoint(old.children), (old, new)
        elif op == "charon_terminate_all":
            assert new == View(old.ike, {}), (old, new)
        elif op == "charon_reauth":
            assert len(new.ike) == 1 and set(new.ike[0]).isdisjoint(old.ike[0]), (old, new)
            # 2.8.3: new CHILD SAs in the new IKE SA; charon makes one for each configuration and selectors,
            # so duplicates made by CREATE_CHILD_SA are not made again
            assert set(new.children).isdisjoint(old.children) and len(new.children) == 1, (old, new)
        elif op in ("delete_child", "charon_terminate_child"):
            assert new.ike == old.ike and new.children == kept, (old, new)
        else:  # a CHILD SA rekey (1.3.3): the old pair gone on both ends, exactly one new pair
            assert new.ike == old.ike and len(added) == 1 and {p: new.children[p] for p in kept} == kept, (old, new)
            assert pair not in new.children
            (attrs,) = added.values()
            assert policy(attrs) == policy(old.children[pair]), "a rekeyed CHILD SA keeps its algorithms and selectors"
        if op == "rekey_child_pfs":
            assert list(added.values())[0][3] == "CURVE25519", added
        if op == "rekey_child":
            assert list(added.values())[0][3] is None, added

    return op, check


#: the ops that remove the pair they act on, and those that add one
REMOVES = {"rekey_child", "rekey_child_pfs", "delete_child", "charon_rekey_child", "charon_terminate_child"}
ADDS = {"create", "rekey_child", "rekey_child_pfs", "charon_rekey_child"}


def cross(s: Session, op: str, pick: int) -> tuple[str, Callable[[View, View], None]]:
    """ikelab's and charon's requests of ``op`` (``mine+theirs``) crossing on the wire: ikelab's request is
    held until charon's has arrived, then sent, then charon's is handed to ikelab.  Each acts on a CHILD SA
    drawn by ``pick`` (the same one for some picks).  The op as done and a check of the new view."""
    mine, theirs = op.split("+")
    pairs = s.pairs()
    if not pairs and (mine in REMOVES or theirs in REMOVES):
        return step(s, "create", pick)
    p_mine = pairs[pick % len(pairs)] if pairs else None
    p_theirs = pairs[(pick // 7) % len(pairs)] if pairs else None
    if theirs == "charon_rekey_child":
        done = s.swanctl("--rekey", "--child-id", s.charon_child_id(p_theirs))
    elif theirs == "charon_terminate_child":
        done = s.swanctl("--terminate", "--child-id", s.charon_child_id(p_theirs), "--timeout", "10")
    elif theirs == "charon_rekey_ike":
        done = s.swanctl("--rekey", "--ike-id", s.charon_ike_id())
    else:  # pragma: no cover
        raise ValueError(theirs)
    request = s.charon_request(theirs)  # held
    ikelab_request(s.sa(), mine, bytes.fromhex(p_mine[0]) if p_mine else b"", s.now())
    held = s.endpoint.pop_datagrams()
    assert len(held) == 1, held
    events_before = len(s.events)
    charon_first = (pick // 49) % 2 == 1
    if charon_first:  # charon gets ikelab's answer to its request before ikelab's own request
        s.endpoint.receive(request, s.now())
        for dgram in s.endpoint.pop_datagrams():
            s.relay.send(dgram)
        s.relay.send(held[0])
    else:  # charon gets ikelab's request while its own is unanswered
        s.relay.send(held[0])
        s.endpoint.receive(request, s.now())
    s.settle(done, op)
    same = p_mine == p_theirs and mine in REMOVES and theirs in REMOVES
    tag = f"{op}({'charon answered first' if charon_first else 'ikelab answered first'}" \
          f"{', same CHILD SA' if same else ''})"

    last = (mine, theirs) in LAST_CROSSINGS
    if last:  # 2.25.2: ikelab refused charon's request with TEMPORARY_FAILURE
        refusals = [e for e in s.events[events_before:] if type(e).__name__ == "MessageSent" and e.is_response
                    and "TEMPORARY_FAILURE" in e.summary]
        assert refusals, f"{s.seq}: {op}: ikelab did not answer charon's request with TEMPORARY_FAILURE"

    def check(old: View, new: View) -> None:
        removed = set(old.children) - set(new.children)
        added = set(new.children) - set(old.children)
        done = [(mine, p_mine)] if last else [(mine, p_mine), (theirs, p_theirs)]
        want_removed = {p for o, p in done if o in REMOVES}
        want_added = sum(o in ADDS for o, _ in done)
        if same and not last:
            # 2.8.1: two rekeys of one CHILD SA leave one new pair (the redundant one deleted);
            # a rekey crossing a delete of the SA leaves none (2.25.1)
            want_added = 1 if mine in ADDS and theirs in ADDS else 0
        assert (removed, len(added)) == (want_removed, want_added), (tag, old, new)
        if any(o in ("rekey_ike", "charon_rekey_ike") for o, _ in done):  # 2.8.2: one new IKE SA survives
            assert len(new.ike) == 1 and set(new.ike[0]).isdisjoint(old.ike[0]), (tag, old, new)
        else:
            assert new.ike == old.ike, (tag, old, new)
        for p in added:  # a rekeyed or new CHILD SA has the algorithms of the others (one ESP suite here)
            assert policy(new.children[p]) == policy(next(iter(old.children.values()), new.children[p]))

    return tag, check


def burst(s: Session, op: str, pick: int) -> tuple[str, Callable[[View, View], None]]:
    """Two of ikelab's ops asked for at the same moment (``first&second``), each on a CHILD SA drawn by ``pick``
    (a CHILD SA rekeyed by the first is named by its old SPI in the second); the op and a check."""
    first, second = op.split("&")
    pairs = s.pairs()
    if not pairs:
        return step(s, "create", pick)
    p1, p2 = pairs[pick % len(pairs)], pairs[(pick // 7) % len(pairs)]
    sa, now = s.sa(), s.now()
    for o, p in ((first, p1), (second, p2)):
        ikelab_request(sa, o, bytes.fromhex(p[0]), now)
    s.settle(what=op)
    same = p1 == p2 and first in REMOVES and second in REMOVES
    tag = f"{op}{'(same CHILD SA)' if same else ''}"

    def check(old: View, new: View) -> None:
        removed = set(old.children) - set(new.children)
        added = set(new.children) - set(old.children)
        want_removed = {p for o, p in ((first, p1), (second, p2)) if o in REMOVES}
        want_added = sum(o in ADDS for o in (first, second))
        if same:
            # the second op names an SA the first replaced or deleted: it is not done (no SA with that SPI)
            want_added = int(first in ADDS)
        assert (removed, len(added)) == (want_removed, want_added), (tag, old, new)
        if "rekey_ike" in (first, second):
            assert len(new.ike) == 1 and set(new.ike[0]).isdisjoint(old.ike[0]), (tag, old, new)
        else:
            assert new.ike == old.ike, (tag, old, new)

    return tag, check


def compare(s: Session, what: str) -> View:
    """The two views agree, and ikelab's keys are the ones charon logged; ikelab's view."""
    mine = ikelab_view(s.endpoint)
    theirs = charon_view(s.charon.list_sas())
    assert mine == theirs, f"{s.seq}\nafter {what}:\n  ikelab {mine}\n  charon {theirs}"
    # the suite both configured, in IANA's names (charon's listing); a PFS group only where one was asked for
    assert all(a[:3] == ESP_SUITES[s.seq.esp] and a[3] in (None, "CURVE25519") for a in theirs.children.values())
    check_keys(s)
    return mine


def check_keys(s: Any, *, installed_only: bool = False) -> None:
    """RFC 7296 2.14 and 2.17: the IKE SA's keys and every CHILD SA's ESP keys are charon's.

    ``s`` has ``.charon`` and ``.endpoint``: a :class:`Session`, or a run of the loss or lifetimes review;
    ``installed_only`` leaves out CHILD SAs neither INSTALLED nor REKEYING (on their way out)."""
    logged = s.charon.keys()
    children = {c["spi_in"]: c for k in logged for c in k["children"] if c["spi_in"] is not None}
    for sa in live_sas(s.endpoint):
        entry = next((k for k in logged if k["sk_ei"] == sa.keys.sk_ei), None)
        assert entry is not None, f"charon logged no IKE SA with ikelab's SK_ei ({sa.spi_i.hex()})"
        assert (entry["sk_er"], entry["sk_ai"], entry["sk_ar"]) == (sa.keys.sk_er, sa.keys.sk_ai, sa.keys.sk_ar)
        if entry.get("spi_i") is not None:
            assert (entry["spi_i"], entry["spi_r"]) == (sa.spi_i, sa.spi_r)
        for child in sa.children.values():
            if installed_only and child.state not in ("INSTALLED", "REKEYING"):
                continue
            theirs = children.get(int.from_bytes(child.spi_out, "big"))
            assert theirs is not None, f"charon logged no keys for CHILD SA {child}"
            assert theirs["spi_out"] == int.from_bytes(child.spi_in, "big")
            assert (theirs["encr_in"], theirs["encr_out"]) == (child.encr_key_out, child.encr_key_in), child
            if theirs["integ_in"] is not None or child.integ is not None:
                assert (theirs["integ_in"], theirs["integ_out"]) == (child.integ_key_out, child.integ_key_in), child


def final_delete(s: Session) -> None:
    """The DELETE of the IKE SA by ``seq.last``, perhaps crossing the other peer's ``seq.finale`` request."""
    seq, pairs = s.seq, s.pairs()
    finale = seq.finale
    if finale in ("rekey_child", "charon_rekey_child") and not pairs:
        finale = ""
    theirs: Callable[[], bool] | None = None
    if seq.last == "charon" or finale.startswith("charon_"):
        args = {"charon": ("--terminate", "--ike-id", s.charon_ike_id(), "--timeout", "10"),
                "charon_delete_ike": ("--terminate", "--ike-id", s.charon_ike_id(), "--timeout", "10"),
                "charon_rekey_ike": ("--rekey", "--ike-id", s.charon_ike_id()),
                "charon_rekey_child": ("--rekey", "--child-id", s.charon_child_id(pairs[0]) if pairs else "")}
        theirs = s.swanctl(*args[seq.last if seq.last == "charon" else finale])
    if seq.last == "charon" and not finale:
        s.settle(lambda: theirs() and not ikelab_view(s.endpoint).ike, "charon's DELETE of the IKE SA")
        return
    sa = s.sa()
    request = None
    if theirs is not None:
        request = s.charon_request(finale or "its DELETE")  # held
    mine = "delete_ike" if seq.last == "ikelab" else finale
    spi = bytes.fromhex(pairs[0][0]) if pairs else b""
    if mine == "delete_ike":
        sa.delete_ike(s.now())
    else:
        ikelab_request(sa, mine, spi, s.now())
    for dgram in s.endpoint.pop_datagrams():
        s.relay.send(dgram)
    if request is not None:
        s.endpoint.receive(request, s.now())
    s.settle(lambda: (theirs is None or theirs()) and not ikelab_view(s.endpoint).ike,
             f"the DELETE of the IKE SA ({seq.last}{' crossing ' + finale if finale else ''})")


def run_sequence(s: Session) -> list[str]:
    """Establish, the drawn steps, the final DELETE; after each the views are compared.  The ops done."""
    establish(s)
    old = compare(s, "the handshake")
    done = []
    for op, pick in zip(s.seq.steps, s.seq.picks):
        op, check = cross(s, op, pick) if "+" in op else burst(s, op, pick) if "&" in op else step(s, op, pick)
        done.append(op)
        new = compare(s, f"{' '.join(done)}")
        check(old, new)
        old = new  # nothing happens between one step's settling and the next step's start
    # 1.4.1: deleting the IKE SA closes it and all its CHILD SAs on both ends
    final_delete(s)
    assert ikelab_view(s.endpoint) == View((), {}) == charon_view(s.charon.list_sas())
    assert all(sa.state == State.CLOSED for sa in s.endpoint.sas.values())
    return done


@pytest.mark.parametrize("seq", SEQUENCES, ids=[f"seq{q.n}-{'ikelab' if q.ikelab_initiates else 'charon'}-init"
                                                for q in SEQUENCES])
def test_sequence(netns_pair: Any, charon_factory: Any, seq: Sequence) -> None:
    """One drawn sequence: after every step ikelab and charon hold the same SAs, SPIs, algorithms and keys."""
    net = netns_pair
    mine, theirs = (ID_I, ID_R) if not seq.ikelab_initiates else (ID_R, ID_I)
    conf = psk_conf(local_addrs=net.b.addr4, remote_addrs=net.a.addr4, local_id=mine, remote_id=theirs,
                    local_ts=f"{net.b.inner}/32", remote_ts=f"{net.a.inner}/32", proposals=IKE,
                    esp_proposals=f"{seq.esp}-x25519,{seq.esp}" if seq.charon_pfs else f"{seq.esp},{seq.esp}-x25519",
                    psk=PSK)
    # charon keeps a replaced CHILD SA's inbound half DELETED for delete_rekeyed_delay s (default 5, 0: until
    # the IKE SA goes) and puts a reauthentication off while one is there: 1 s keeps the steps short
    charon = charon_factory(net.b, "charon", swanctl_conf=conf, conf={"delete_rekeyed_delay": 1})
    charon.load_all()
    s = Session(net, charon, seq)
    try:
        done = run_sequence(s)
    finally:
        s.close()
    print(f"{seq}\n  done: {' '.join(done)}")
    for e in s.events:
        if type(e).__name__ in ("MessageDropped", "Failure"):  # refusals of crossing requests (2.25), shown with -s
            print(f"  {type(e).__name__}: {getattr(e, 'notify', '') or ''} {e.reason}")


def test_the_draw_is_reproducible_and_covers_every_operation() -> None:
    """The same seed draws the same sequences; together they hold every operation, both roles, both deleters."""
    assert draw() == SEQUENCES
    ops = {op for q in SEQUENCES for op in q.steps}
    assert {op for op in ops if "+" not in op and "&" not in op} == set(IKELAB_OPS) | set(CHARON_OPS), ops
    assert any("&" in op for op in ops)
    crossed = {tuple(op.split("+")) for op in ops if "+" in op}
    assert {("rekey_child", "charon_rekey_child"), ("rekey_ike", "charon_rekey_ike")} <= crossed, crossed
    assert {q.ikelab_initiates for q in SEQUENCES} == {True, False}
    assert {q.last for q in SEQUENCES} == {"ikelab", "charon"}
    assert len({q.finale for q in SEQUENCES} - {""}) >= 4
    assert {q.charon_pfs for q in SEQUENCES} == {True, False}
    assert all(5 <= len(q.steps) <= 8 for q in SEQUENCES)
