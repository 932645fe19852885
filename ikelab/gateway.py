"""``ikelab respond``: a gateway that serves every initiator, on the run of :mod:`ikelab.peer`.

A teacher runs one ``ikelab respond --pool ...``; the class connects with
strongSwan or ``ikelab connect``.  As charon does, the gateway answers every
initiator (RFC 7296 2.21): a handshake refused or failed and a client lost
later (2.4) each get a line, and the others are still served.  Each client
that comes up gets its own ``--ping`` and ``--rekey-after`` rounds, timed from
its own CHILD SA; the run ends with DELETE to every client left (1.4.1).
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from . import events as ev
from .ike import IkeSa
from .net import (EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT, Outcome, classify_failure, dropped_text, failure_text,
                  retry_expected)
from .peer import REAUTH_GRACE, RunOptions, _host_port, _last_trouble, _Run
from .state import State
from .trace import TracePacket

__all__ = ["Gateway", "run_respond"]


class Gateway(_Run):
    """``ikelab respond``'s run: every initiator served, each client's rounds its own (see :func:`run_respond`)."""

    gateway = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._from: tuple[str, int] | None = None  # where the last IKE message came from
        self.refused = 0  # handshakes refused or failed
        self._lost_seen = 0  # clients lost that a line has said
        #: the IKE SAs that made a CHILD SA since :meth:`_new_clients` last looked: a client that comes and goes
        #: between two looks (a quick ``ikelab connect``) still came up
        self._arrived: list[IkeSa] = []
        #: each client's rounds still running, with the client's first IKE SA (its successor is the current one)
        self._rounds: dict[asyncio.Task, IkeSa] = {}

    def _packet(self, n: int, packet: TracePacket, direction: str) -> None:
        if packet.kind == "ike" and direction == "received":
            self._from = (packet.src, packet.sport)
        super()._packet(n, packet, direction)

    def _event(self, event: ev.Event) -> None:
        """What a gateway says of each client (RFC 7296 2.21): a refused or failed handshake, an IKE SA up
        without its CHILD SA (deleted, as a run with one peer does: 1.4.1), a client lost; none ends the run."""
        super()._event(event)
        if isinstance(event, ev.ChildSaCreated):
            self._arrived += [sa for sa in self.driver.endpoint.all_sas() if event.spi_in in sa.children]
        d = self.driver
        if isinstance(event, ev.IkeSaDeleted) and d.facts.lost > self._lost_seen and d.facts.last_gone is not None:
            self._lost_seen = d.facts.lost
            gone = d.facts.last_gone
            self.out(f"     --   client lost ({failure_text(gone)}); still serving the others")
        if isinstance(event, ev.IkeSaDeleted) and not d.facts.deleted_established:
            failure = d.facts.last_refusal  # what made this handshake fail, just before it (RFC 7296 2.21)
            if failure is None or failure.time != event.time or retry_expected(failure):
                return
            self.refused += 1
            sa = next((s for s in d.all_sas() if (s.spi_i, s.spi_r) == (event.spi_i, event.spi_r)), None)
            where = sa.remote if sa is not None else self._from
            self.out(f"     --   handshake{f' from {_host_port(*where)}' if where else ''} refused or failed "
                     f"({failure_text(failure)}); still listening for other initiators")
            return
        if not isinstance(event, ev.Failure) or retry_expected(event):
            return
        bare = [sa for sa in d.endpoint.all_sas()
                if sa.state == State.ESTABLISHED and not sa.children and sa.established_at == event.time]
        if bare and not event.fatal:  # IKE_AUTH made the IKE SA but refused its CHILD SA (2.21.3)
            self.refused += 1
            for sa in bare:
                self.out(f"     --   client {_host_port(*sa.remote)}: IKE SA up, but no CHILD SA: "
                         f"{failure_text(event)}; still listening for other initiators")
                self.out(f"sending DELETE for the IKE SA {sa.spi_i.hex()}/{sa.spi_r.hex()} with "
                         f"{_host_port(*sa.remote)}: it has no CHILD SA (RFC 7296 1.4.1)")
                asyncio.get_running_loop().call_soon(lambda sa=sa: d.act(lambda now: sa.delete_ike(now)))
            return

    def _new_clients(self, known: list[IkeSa]) -> list[IkeSa]:
        """The IKE SAs that came up with a CHILD SA since the last call (an IKE SA rekey's new SA is its
        client's, RFC 7296 2.18; a reauthentication's is a new client, 2.8.3), added to ``known``.

        ``known`` keeps each client's newest IKE SA and none that closed: an older one would keep, through
        ``replaced_by``, every IKE SA its client ever had, keys and all, for the whole run."""
        known[:] = [c.successor for c in known if c.successor.state != State.CLOSED]
        new = []
        arrived, self._arrived = self._arrived, []
        for sa in arrived:
            sa = sa.successor
            if not any(c is sa for c in known):
                known.append(sa)
                new.append(sa)
        return new

    async def serve(self) -> int:
        """``ikelab respond``'s run once listening (see :func:`run_respond`): the exit status."""
        d, o = self.driver, self.options
        clients: list[IkeSa] = []  # each live client's newest IKE SA
        came_up = 0
        tasks: list[asyncio.Task] = []
        wait_until = d.now() + o.wait
        end_at: float | None = None
        gone_at: float | None = None  # when the last IKE SA went (a reauthentication's grace, 2.8.3)
        all_gone = False  # the run ends because its last IKE SA went: how that one went decides the status
        seen = -1
        try:
            while True:
                came_up = self._welcome(clients, tasks, came_up)
                now = d.now()
                if self.stop.is_set() or (not came_up and now >= wait_until):
                    break
                if came_up and tasks[0].done():
                    if end_at is None:
                        end_at = now + (o.duration if o.duration else float("inf"))
                    if now >= end_at:
                        break
                    if d.current_sa() is not None:
                        if gone_at is not None:
                            self.out("     --   the peer brought up a new IKE SA at once: reauthentication "
                                     "(RFC 7296 2.8.3), followed")
                        gone_at = None
                    elif o.duration != float("inf"):  # inf: until a signal, whoever comes and goes
                        gone_at = now if gone_at is None else gone_at
                        answered = any(sa.state == State.INIT_DONE for sa in d.endpoint.half_open.values())
                        if not answered and now - gone_at >= REAUTH_GRACE:
                            all_gone = True
                            break  # the last client is gone
                # until something happens (any event), or the next deadline
                deadlines = [wait_until if not came_up else float("inf"), end_at or float("inf"),
                             gone_at + REAUTH_GRACE if gone_at is not None else float("inf")]
                seen = sum(d.facts.counts.values())
                left = min([t for t in deadlines if t > now] or [float("inf")]) - now  # a passed one: events decide
                await d.wait_for(lambda: self.stop.is_set() or sum(d.facts.counts.values()) != seen
                                 or (tasks and tasks[0].done() and end_at is None), min(left, 10 ** 6))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return await self.finish(self._served(came_up, all_gone), delete=d.current_sa() is not None)

    def _welcome(self, clients: list[IkeSa], tasks: list[asyncio.Task], came_up: int) -> int:
        """Start the rounds of each client that came up since the last call; the number of clients so far.

        A method of its own so that no loop variable of :meth:`serve` keeps a client's first IKE SA (and
        through ``replaced_by`` every later one) for the whole run.  A client that went takes its rounds with
        it: a ``--rekey-after`` of an hour would keep, that long, the IKE SAs of every client that came and went."""
        for task, first in list(self._rounds.items()):
            if first.successor.state == State.CLOSED:
                task.cancel()
        for sa in self._new_clients(clients):
            came_up += 1
            if came_up > 1:
                up = len(self.driver.live_sas())
                self.out(f"     --   client {came_up}: {_host_port(*sa.remote)} ({up} IKE SA{'s' * (up != 1)} up)")
            tasks.append(asyncio.ensure_future(self._client_rounds(sa)))
            self._rounds[tasks[-1]] = sa
            tasks[-1].add_done_callback(lambda task: self._rounds_done(task, tasks))
        return came_up

    def _rounds_done(self, task: asyncio.Task, tasks: list[asyncio.Task]) -> None:
        """A client's rounds ended: the first client's end starts ``--duration``; a later one's task is let go,
        or a gateway whose clients come and go for days would keep one for each."""
        self._rounds.pop(task, None)
        if task is not tasks[0] and task in tasks:
            tasks.remove(task)
        self.driver.wake()

    async def _client_rounds(self, sa: IkeSa) -> None:
        """One client's ``--ping`` and ``--rekey-after`` / ``--rekey-ike-after``, from its own CHILD SA on."""
        if sa.successor.state == State.CLOSED:  # came and went before the gateway looked
            return
        await self.pings("first CHILD SA", sa)
        await self.rekeys(sa)

    def _served(self, clients: int, all_gone: bool = False) -> Outcome:
        """A gateway run's outcome (see :func:`run_respond`), with a line on its clients when it had several.

        A client lost decides the status only when the run ended because it was the last IKE SA (``all_gone``):
        a run ended by a signal or ``--duration`` after its last client was lost served its clients (each loss
        had its line)."""
        d, facts = self.driver, self.driver.facts
        if clients:
            if clients > 1 or self.refused or facts.lost:
                self.out(f"clients: {clients} came up, {facts.lost} lost, {self.refused} handshakes refused or failed")
            outcome = Outcome(EXIT_OK, "IKE SA and CHILD SA established", d.current_sa())
            return self.after_established(outcome) if all_gone or d.current_sa() is not None else outcome
        last = facts.last_failure  # the last refusal that decided something (not an INVALID_KE_PAYLOAD)
        why = failure_text(last) if last is not None else ""
        if self.stop.is_set():
            text = "interrupted before an initiator brought up the IKE SA"
            if last is None:
                return Outcome(EXIT_FAILED, text)
            status = classify_failure(last)
            extra = dropped_text(facts.last_drop) if status == EXIT_TIMEOUT else ""
            return Outcome(status, f"{text}; {self.refused} refused or failed, the last: {why}{extra}")
        text = f"no initiator brought up an IKE SA with a CHILD SA within {self.options.wait:g} s"
        if last is None:
            return Outcome(EXIT_TIMEOUT, text + _last_trouble(facts))
        status = classify_failure(last)
        extra = dropped_text(facts.last_drop) if status == EXIT_TIMEOUT else ""
        return Outcome(status, f"{why}{extra} ({text}; {self.refused} refused or failed)")


async def run_respond(config: Any, listen: str, options: RunOptions, *, port: int = 500,
                      out: Callable[[str], None] = print, rng: Any = None) -> int:
    """``ikelab respond``: a gateway that answers every initiator; the exit status.

    Each client whose IKE SA and CHILD SA come up gets its own ``--ping`` and ``--rekey-after`` /
    ``--rekey-ike-after`` rounds, timed from its own CHILD SA.  A handshake refused or failed (NO_PROPOSAL_CHOSEN,
    AUTHENTICATION_FAILED, a half-open IKE SA that timed out, RFC 7296 2.21) and a client lost later (its
    liveness check unanswered, 2.4) are said, and the run goes on serving the others.  It ends on SIGINT/SIGTERM;
    when ``--wait`` runs out before any client came up; ``--duration`` seconds after the first client's rounds
    (``inf``: only on a signal); without ``--duration inf``, also when the last IKE SA is gone.  Then DELETE for
    every IKE SA left (1.4.1).  Exit status: 0 if a client's IKE SA and CHILD SA came up, unless the run ended
    because its last IKE SA was lost (that failure's status); with no client up, the last refusal's (4, 5, ...),
    else 3 (``--wait`` ran out) or 1 (interrupted).
    """
    run = Gateway(config, listen, port, options, out, rng)
    await run.driver.open()
    run.install_signals()
    out(f"ikelab respond: listening on {run.driver.local_addr} UDP {port}" + (" and 4500" if run.driver.natt else ""))
    return await run.serve()
