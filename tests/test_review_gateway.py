"""``ikelab respond`` as a gateway for several clients at once (a classroom), without namespaces.

The live review with three charon clients and two behind one NAT is
``tests/interop/test_review_gateway_clients.py``; these are its offline regressions, on loopback sockets
(no root) and on the in-memory network of ``tests/test_review_net.py`` (exact times, a NAT in front of two
clients that share one public address).  RFC 7296 2.19 (a virtual IP per client), 2.23 (NAT traversal,
each IKE SA's own port), 1.4.1 (DELETE).

Found: at the end of a gateway run (Ctrl-C or ``--duration``), ``ikelab respond`` sent DELETE for the
newest IKE SA only; every other client kept an IKE SA and CHILD SA the gateway had forgotten, until its
liveness check failed.  It now deletes every IKE SA it holds.
"""

from __future__ import annotations

import asyncio

from ikelab import events as ev
from ikelab.config import IkeConfig
from ikelab.constants import NAT_T_PORT
from ikelab.esp_peer import EspPeer
from ikelab.net import NetDriver
from ikelab.gateway import Gateway, run_respond
from ikelab.peer import RunOptions
from ikelab.rand import DeterministicRandom
from ikelab.state import State

from test_net import free_port
from test_review_net import FakeLoop, Transport

CFG = dict(psk=b"classroom-psk", ike_proposals=("aes128-sha256-modp2048",), esp_proposals=("aes128-sha256",),
           retransmit_timeout=0.5, retransmit_tries=2)
GW_ID, POOL, INNER = "gw.example.com", "10.3.0.0/24", "203.0.113.1"
STUDENTS = ("student1@example.org", "student2@example.org", "student3@example.org")


def gateway_config() -> IkeConfig:
    return IkeConfig(local_id=GW_ID, pool=POOL, local_ts=(f"{INNER}/32",), remote_ts=("dynamic",), **CFG)


def client_config(identity: str) -> IkeConfig:
    return IkeConfig(local_id=identity, remote_id=GW_ID, vip="0.0.0.0", local_ts=("dynamic",),
                     remote_ts=(f"{INNER}/32",), **CFG)


async def _clients_up(gw_port: int) -> list[NetDriver]:
    clients = [NetDriver(client_config(who), "127.0.0.1", port=free_port()) for who in STUDENTS]
    for client in clients:
        await client.open()
        client.initiate(("127.0.0.1", gw_port))
    for client in clients:
        outcome = await client.wait_established(10)
        assert outcome.ok, outcome
    return clients


def _vips(clients: list[NetDriver]) -> list[str]:
    return [e.address for c in clients for e in c.events if isinstance(e, ev.VirtualIpAssigned)]


def test_the_end_of_a_gateway_run_deletes_every_clients_ike_sa() -> None:
    """Ctrl-C or ``--duration`` ends ``ikelab respond`` with a DELETE (RFC 7296 1.4.1) for each client's IKE SA,
    not only the newest one's: a client left out keeps SAs that the gateway no longer has."""
    lines: list[str] = []

    async def run() -> tuple[list[NetDriver], list[str]]:
        port = free_port()
        gw = Gateway(gateway_config(), "127.0.0.1", port, RunOptions(), lines.append)
        await gw.driver.open()
        clients: list[NetDriver] = []
        try:
            clients = await _clients_up(port)
            assert len(gw.driver.live_sas()) == 3
            await gw.finish(gw.driver.outcome(), delete=True)
            for client in clients:
                await client.wait_for(lambda c=client: c.current_sa() is None, 5)
            return clients, _vips(clients)
        finally:
            gw.driver.close()
            for client in clients:
                client.close()

    clients, vips = asyncio.run(run())
    assert sorted(vips) == ["10.3.0.1", "10.3.0.2", "10.3.0.3"], vips  # one address each (RFC 7296 2.19)
    assert sum(line.startswith("sending DELETE for the IKE SA") for line in lines) == 3, lines
    for client in clients:
        gone = [e for e in client.events if isinstance(e, ev.IkeSaDeleted)]
        assert len(gone) == 1 and "deleted by peer" in gone[0].reason, client.events
        assert all(sa.state == State.CLOSED for sa in client.all_sas())


def test_a_gateway_run_lasts_until_its_last_client_deletes_its_ike_sa() -> None:
    """``ikelab respond`` without ``--duration`` runs until the peer deletes the IKE SA: with several clients,
    until the last one has; the first client's DELETE leaves the others' SAs and the run alone."""
    lines: list[str] = []

    async def run() -> tuple[int, list[bool]]:
        port = free_port()
        task = asyncio.create_task(run_respond(gateway_config(), "127.0.0.1", RunOptions(wait=10), port=port,
                                               out=lines.append))
        await asyncio.sleep(0.2)  # listening
        clients: list[NetDriver] = []
        running: list[bool] = []
        try:
            clients = await _clients_up(port)
            for client in clients:
                sa = client.current_sa()
                client.act(lambda now, sa=sa: sa.delete_ike(now))
                await client.wait_for(lambda c=client: c.current_sa() is None, 5)
                # longer than the reauthentication grace (peer.REAUTH_GRACE): an ending run would have ended
                await asyncio.sleep(1.5)
                running.append(not task.done())
            return await asyncio.wait_for(task, 10), running
        finally:
            for client in clients:
                client.close()
            if not task.done():
                task.cancel()

    status, running = asyncio.run(run())
    assert running == [True, True, False], lines
    assert status == 0, lines
    assert not any(line.startswith("sending DELETE") for line in lines), lines  # each client deleted its own


# ---------------------------------------------------------------- two clients behind one NAT, in memory

GATEWAY, PUBLIC = "192.0.2.1", "192.0.2.20"
PRIVATES = ("198.51.100.130", "198.51.100.131")


class NatNet:
    """An in-memory network: the gateway, and two clients behind a NAPT that maps each (private address, port) to
    PUBLIC and a port of its own (RFC 3948 1, RFC 7296 2.23): the first client keeps its ports, the second gets
    ``port + 1000``.  So their IKE and ESP differ only by the UDP source port the gateway sees."""

    def __init__(self, loop: FakeLoop) -> None:
        self.loop = loop
        self.hosts: dict[str, NetDriver] = {}
        self.wire: list[tuple[tuple[str, int], tuple[str, int], bytes]] = []  # as the gateway sees it

    def attach(self, driver: NetDriver) -> None:
        driver._loop = self.loop  # type: ignore[assignment]
        driver._t0 = self.loop.time()
        driver._transports = {p: Transport(self, driver, p) for p in (500, NAT_T_PORT)}  # type: ignore[misc]
        self.hosts[driver.local_addr] = driver

    def send(self, src: tuple[str, int], dst: tuple[str, int], data: bytes) -> None:
        if src[0] in PRIVATES:
            src = (PUBLIC, src[1] + 1000 * PRIVATES.index(src[0]))
        self.wire.append((src, dst, data))
        if dst[0] == PUBLIC:
            k, port = (0, dst[1]) if dst[1] in (500, NAT_T_PORT) else (1, dst[1] - 1000)
            dst = (PRIVATES[k], port)
        host = self.hosts.get(dst[0])
        if host is not None and dst[1] in host._transports:
            self.loop.call_at(self.loop.time() + 0.01, lambda: host._received(data, src, dst[1]))


def test_two_clients_behind_one_nat_differ_only_by_port_and_are_never_mixed_up() -> None:
    """Two clients behind one NAT send IKE_SA_INIT with the same SPIi and nonce (the same random source) from
    one public address, from ports 500 and 1500: the gateway keeps a half-open IKE SA for each (its lookup
    includes the port, RFC 7296 2.6, 2.23), both come up with their own virtual IP (2.19), and the ESP of each
    travels in UDP to and from that client's own mapped port 4500 (RFC 3948 2.1), on that client's SPIs only,
    though both clients chose the same inbound SPI (each peer picks its own, RFC 4301 4.1).  When one leaves, the
    other's ESP goes on."""
    loop = FakeLoop()
    net = NatNet(loop)
    gw = NetDriver(gateway_config(), GATEWAY, rng=DeterministicRandom(1))
    gw_esp = EspPeer(gw, lambda text: None)
    gw.on_event = gw_esp.on_event
    clients = [NetDriver(client_config(STUDENTS[0]), PRIVATES[0], rng=DeterministicRandom(7)),
               NetDriver(client_config(STUDENTS[1]), PRIVATES[1], rng=DeterministicRandom(7))]
    esps = []
    for client in clients:
        esp = EspPeer(client, lambda text: None)
        client.on_event = esp.on_event
        esps.append(esp)
    for driver in (gw, *clients):
        net.attach(driver)
    for client in clients:
        client.initiate((GATEWAY, 500))
    loop.run_until(loop.t + 2.0)
    inits = [p for s, d, p in net.wire if d == (GATEWAY, 500)]
    assert len(inits) == 2 and inits[0][:8] == inits[1][:8], "the same SPIi from one address, two ports"
    assert all(c.outcome() is not None and c.outcome().ok for c in clients), [c.events for c in clients]
    sas = gw.live_sas()
    assert sorted(sa.remote for sa in sas) == [(PUBLIC, NAT_T_PORT), (PUBLIC, NAT_T_PORT + 1000)]
    assert all(sa.nat_remote for sa in sas)
    vips = [c.current_sa().virtual_ip for c in clients]
    assert vips == ["10.3.0.1", "10.3.0.2"], vips
    for n, (client, esp, vip) in enumerate(zip(clients, esps, vips)):
        for seq in (1, 2):
            assert esp.ping(vip, INNER, seq + 10 * n)
    loop.run_until(loop.t + 1.0)
    assert [sorted(e.replies) for e in esps] == [[1, 2], [11, 12]]
    assert gw_esp.requests_answered == 4
    # each client's ESP, both ways, on its own port and its own CHILD SA's SPIs
    for n, client in enumerate(clients):
        child = next(iter(client.current_sa().children.values()))
        port = NAT_T_PORT + 1000 * n
        out = {p[:4] for s, d, p in net.wire if s == (PUBLIC, port) and p[:4] != bytes(4) and len(p) > 1}
        back = {p[:4] for s, d, p in net.wire if d == (PUBLIC, port) and s[1] == NAT_T_PORT and p[:4] != bytes(4)}
        assert out == {child.spi_out} and back == {child.spi_in}, (n, out, back)
    # the first client leaves (RFC 7296 1.4.1): the gateway lets go of its CHILD SA only, not of the other
    # client's, whose outbound SPI is the same number
    first = clients[0].current_sa()
    clients[0].act(lambda now: first.delete_ike(now))
    loop.run_until(loop.t + 1.0)
    assert clients[0].current_sa() is None and len(gw.live_sas()) == 1
    assert esps[1].ping(vips[1], INNER, 13)
    loop.run_until(loop.t + 1.0)
    assert sorted(esps[1].replies) == [11, 12, 13] and gw_esp.errors == [] and esps[1].errors == []
