"""``ikelab respond`` as a classroom gateway that keeps serving: offline, on loopback sockets (no root).

The live review with charon clients is ``tests/interop/test_review_gateway_more.py``.  Found (each test below
failed on the code before):

1. one refused or failed handshake (NO_PROPOSAL_CHOSEN in IKE_SA_INIT, AUTHENTICATION_FAILED in IKE_AUTH,
   RFC 7296 2.21) before any client was up ended the whole run, so a misconfigured student (or a stranger's
   single datagram) shut the gateway for the class; now it is said and the gateway serves the next initiator;
2. ``--ping`` and ``--rekey-after`` acted on the newest client's SAs only; now each client gets its own rounds,
   timed from its own CHILD SA (``--ping peer`` pings each client's own inner address, its virtual IP, 2.19);
3. one client vanishing (its liveness check unanswered, 2.4) while another stayed made the run end with
   status 3 at the end; now that client is said lost, and the run's last IKE SA decides its status.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import replace
from typing import Any

from ikelab import events as ev
from ikelab.config import IkeConfig
from ikelab.esp_peer import EspPeer
from ikelab.net import EXIT_AUTH, EXIT_NO_PROPOSAL, EXIT_OK, EXIT_TIMEOUT, NetDriver
from ikelab.gateway import run_respond
from ikelab.peer import RunOptions

from test_net import free_port
from test_review_gateway import CFG, GW_ID, INNER, POOL, STUDENTS, client_config, gateway_config


async def _listening(options: RunOptions, lines: list[str], config: IkeConfig | None = None) -> tuple[Any, int]:
    port = free_port()
    task = asyncio.ensure_future(run_respond(config or gateway_config(), "127.0.0.1", options, port=port,
                                             out=lines.append))
    while not any("listening on" in line for line in lines):
        await asyncio.sleep(0.02)
    return task, port


async def _client(config: IkeConfig, gw_port: int, *, esp: bool = False) -> tuple[NetDriver, EspPeer | None]:
    driver = NetDriver(config, "127.0.0.1", port=free_port())
    peer = EspPeer(driver, lambda text: None) if esp else None
    if peer is not None:
        driver.on_event = peer.on_event
    await driver.open()
    driver.initiate(("127.0.0.1", gw_port))
    return driver, peer


async def _bye(client: NetDriver) -> None:
    sa = client.current_sa()
    client.act(lambda now: sa.delete_ike(now))
    await client.wait_for(lambda: client.current_sa() is None, 5)


def test_refused_students_do_not_end_the_gateway_and_the_next_one_gets_in() -> None:
    """A student with a proposal the gateway does not take (NO_PROPOSAL_CHOSEN, RFC 7296 2.7), another with the
    wrong PSK (AUTHENTICATION_FAILED, 2.21.2), then a good one: the gateway says each refusal, keeps listening,
    serves the third, and ends 0 when it leaves."""
    lines: list[str] = []

    async def run() -> tuple[int, list[Any], bool]:
        task, port = await _listening(RunOptions(wait=20), lines)
        clients: list[NetDriver] = []
        try:
            outcomes = []
            wrong = [replace(client_config(STUDENTS[0]), ike_proposals=("aes256-sha384-ecp384",)),
                     replace(client_config(STUDENTS[1]), psk=b"not-the-class-psk")]
            for config in wrong:
                client, _ = await _client(config, port)
                clients.append(client)
                outcomes.append(await client.wait_established(10))
            alive_after_refusals = not task.done()
            good, _ = await _client(client_config(STUDENTS[2]), port)
            clients.append(good)
            outcomes.append(await good.wait_established(10))
            await _bye(good)
            return await asyncio.wait_for(task, 10), outcomes, alive_after_refusals
        finally:
            for client in clients:
                client.close()
            task.cancel()

    status, outcomes, alive = asyncio.run(run())
    text = "\n".join(lines)
    assert [o.status for o in outcomes] == [EXIT_NO_PROPOSAL, EXIT_AUTH, EXIT_OK], outcomes
    assert alive, text
    assert status == EXIT_OK, text
    assert "handshake from 127.0.0.1:" in text and "refused or failed (NO_PROPOSAL_CHOSEN: " in text, text
    assert "refused or failed (AUTHENTICATION_FAILED: " in text, text
    assert "clients: 1 came up, 0 lost, 2 handshakes refused or failed" in text, text
    assert lines[-1] == "OK: IKE SA and CHILD SA established (exit status 0)", text


def test_with_no_client_up_the_exit_status_names_the_last_refusal() -> None:
    """Only a wrong PSK came: when ``--wait`` runs out the run ends with the refusal's status (4, not 3), and
    SIGINT before that does too (the status says why no IKE SA came up; 1 is for a run with no refusal)."""
    for interrupt in (False, True):
        lines: list[str] = []

        async def run() -> int:
            task, port = await _listening(RunOptions(wait=2.0 if not interrupt else 60), lines)
            client, _ = await _client(replace(client_config(STUDENTS[0]), psk=b"wrong"), port)
            try:
                assert (await client.wait_established(10)).status == EXIT_AUTH
                if interrupt:
                    while not any("refused or failed" in line for line in lines):
                        await asyncio.sleep(0.02)
                    assert not task.done()
                    os.kill(os.getpid(), signal.SIGINT)  # run_respond's handler: the run ends, no KeyboardInterrupt
                return await asyncio.wait_for(task, 10)
            finally:
                client.close()
                task.cancel()

        status = asyncio.run(run())
        text = "\n".join(lines)
        assert status == EXIT_AUTH, text
        assert lines[-1].startswith("FAILED: ") and "AUTHENTICATION_FAILED" in lines[-1], text
        assert ("interrupted before an initiator brought up the IKE SA" in lines[-1]) == interrupt, text


def test_a_strangers_half_open_ike_sa_timing_out_does_not_end_the_gateway() -> None:
    """A stranger's IKE_SA_INIT never followed by IKE_AUTH: its half-open IKE SA times out (RFC 7296 2.4, 2.6)
    while no client is up yet; the run says so and goes on, and a student after it gets in."""
    lines: list[str] = []
    config = IkeConfig(local_id=GW_ID, pool=POOL, local_ts=(f"{INNER}/32",), remote_ts=("dynamic",),
                       **{**CFG, "retransmit_timeout": 0.2, "retransmit_tries": 1})

    async def run() -> tuple[int, bool]:
        task, port = await _listening(RunOptions(wait=20), lines, config)
        stranger, _ = await _client(client_config("stranger@example.org"), port)
        stranger._received = lambda data, src, port_: None  # type: ignore[method-assign]  # it hears nothing
        good: NetDriver | None = None
        try:
            while not any("half-open" in line for line in lines):
                await asyncio.sleep(0.05)
            stranger.close()
            alive = not task.done()
            good, _ = await _client(client_config(STUDENTS[0]), port)
            assert (await good.wait_established(10)).ok
            await _bye(good)
            return await asyncio.wait_for(task, 10), alive
        finally:
            stranger.close()
            if good is not None:
                good.close()
            task.cancel()

    status, alive = asyncio.run(run())
    text = "\n".join(lines)
    assert alive and status == EXIT_OK, text
    assert "refused or failed (failure: half-open IKE SA timed out waiting for IKE_AUTH); still listening" in text, text


def test_each_client_is_rekeyed_on_its_own() -> None:
    """``--rekey-after S``: every client's CHILD SA is rekeyed by the gateway S seconds after that client's own
    CHILD SA came up (RFC 7296 1.3.3), the second client's as the first's, though it came later.  (The pings of
    each client's round need UDP-encapsulated ESP, which loopback ports cannot give: the charon review pings.)"""
    lines: list[str] = []

    async def run() -> tuple[int, list[NetDriver]]:
        task, port = await _listening(RunOptions(wait=20, rekey_after=0.3, duration=30), lines)
        clients = []
        try:
            for who in STUDENTS[:2]:
                client, _ = await _client(client_config(who), port, esp=True)
                clients.append(client)
                assert (await client.wait_established(10)).ok
            for client in clients:
                await client.wait_for(lambda c=client: c.facts.counts[ev.ChildSaRekeyed] >= 1, 10)
            for client in clients:
                await _bye(client)
            return await asyncio.wait_for(task, 10), clients
        finally:
            for client in clients:
                client.close()
            task.cancel()

    status, clients = asyncio.run(run())
    text = "\n".join(lines)
    assert status == EXIT_OK, text
    assert [c.all_sas()[0].virtual_ip for c in clients] == ["10.3.0.1", "10.3.0.2"]
    for client in clients:
        assert client.facts.counts[ev.ChildSaRekeyed] == 1, client.events
        (new,) = [e for e in client.events if isinstance(e, ev.ChildSaCreated) and e.rekey_of is not None]
        assert not new.exchange_initiator  # the gateway asked for it with CREATE_CHILD_SA; the client answered
    assert text.count("CHILD SA rekeyed: ") == 2, text


def test_a_client_lost_while_another_stays_is_said_and_the_last_ike_sa_decides() -> None:
    """Two clients; the gateway checks liveness (``dpd_interval``, RFC 7296 2.4).  The first vanishes (no DELETE,
    no answer): the gateway says it lost that client, keeps checking the other's liveness, and when the other
    deletes its IKE SA the run ends 0.  With the vanished client the last one up, the run ends 3."""
    for last_vanishes in (False, True):
        lines: list[str] = []
        config = IkeConfig(local_id=GW_ID, pool=POOL, local_ts=(f"{INNER}/32",), remote_ts=("dynamic",),
                           dpd_interval=0.3, **{**CFG, "retransmit_timeout": 0.2, "retransmit_tries": 1})

        async def run() -> tuple[int, int]:
            task, port = await _listening(RunOptions(wait=20), lines, config)
            clients = []
            try:
                for who in STUDENTS[:2]:
                    client, esp = await _client(client_config(who), port, esp=True)
                    clients.append((client, esp))
                    assert (await client.wait_established(10)).ok
                gone, stays = clients if not last_vanishes else clients[::-1]
                gone[0].close()  # a laptop lid shut: no DELETE, no answer
                if last_vanishes:
                    await _bye(stays[0])
                while not any("client lost" in line for line in lines):
                    await asyncio.sleep(0.05)
                checks = 0
                if not last_vanishes:
                    assert not task.done()
                    # the gateway goes on checking the other client's liveness, which answers (RFC 7296 2.4)
                    seen = stays[0].facts.counts[ev.MessageReceived]
                    await stays[0].wait_for(lambda: stays[0].facts.counts[ev.MessageReceived] >= seen + 2, 5)
                    checks = stays[0].facts.counts[ev.MessageReceived] - seen
                    assert stays[0].current_sa() is not None
                    await _bye(stays[0])
                return await asyncio.wait_for(task, 15), checks
            finally:
                for client, _ in clients:
                    client.close()
                task.cancel()

        status, replies = asyncio.run(run())
        text = "\n".join(lines)
        assert "client lost (failure: no response to INFORMATIONAL" in text, text
        assert "clients: 2 came up, 1 lost, 0 handshakes refused or failed" in text, text
        if last_vanishes:
            assert status == EXIT_TIMEOUT, text
            assert lines[-1].startswith("FAILED: IKE SA and CHILD SA established, but then no response to"), text
        else:
            assert status == EXIT_OK and replies >= 2, text
            assert lines[-1] == "OK: IKE SA and CHILD SA established (exit status 0)", text


def test_duration_ends_a_quiet_gateway_run_with_a_delete() -> None:
    """``--duration S`` counts from the end of the first client's rounds, even when nothing else happens after
    them (no liveness checks, no packets): the gateway then sends DELETE (RFC 7296 1.4.1) and ends 0."""
    lines: list[str] = []

    async def run() -> tuple[int, bool]:
        task, port = await _listening(RunOptions(wait=20, duration=0.3), lines)
        client, _ = await _client(client_config(STUDENTS[0]), port)
        try:
            assert (await client.wait_established(10)).ok
            status = await asyncio.wait_for(task, 10)
            await client.wait_for(lambda: client.current_sa() is None, 5)
            return status, client.current_sa() is None
        finally:
            client.close()
            task.cancel()

    status, deleted = asyncio.run(run())
    text = "\n".join(lines)
    assert status == EXIT_OK and deleted, text
    assert "sending DELETE for the IKE SA" in text, text
