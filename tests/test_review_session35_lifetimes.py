"""Session 35 review of lifetimes: a CHILD SA's ESP ends at its hard lifetime (RFC 4301 4.4.2.1; RFC 7296 2.8).

Found by tests/interop/test_review_lifetimes_vs_charon.py: when ikelab's CHILD SA reaches its hard lifetime
(here because the peer refused its PFS rekey), the engine sends the DELETE at that moment, but the CHILD SA
stays until the DELETE is answered, and :class:`ikelab.esp_peer.EspPeer` removed its ESP SAs only then
(ChildSaDeleted): an echo sent or answered meanwhile still went out on the expired SA.  RFC 4301 4.4.2.1
makes a hard lifetime the end of the SA, and RFC 7296 2.8 has each end enforce its own lifetimes.  EspPeer
now gives every ESP SA the engine's hard lifetime (``config.child_lifetime`` from the CHILD SA's creation),
so from then on it neither protects nor accepts a packet, whatever exchange is still in flight.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from ikelab import events as ev
from ikelab.config import IkeConfig
from ikelab.errors import SaExpiredError
from ikelab.esp import EspSa
from ikelab.esp_peer import EspPeer
from ikelab.lab import Lab
from ikelab.packet import icmp_echo

BASE = dict(psk=b"a shared secret", ike_proposals=("aes128-sha256-x25519",), encapsulation="always",
            cookie_threshold=None)


def _lab() -> Lab:
    """moon (initiator) asks for PFS in its CHILD SA rekeys (rekey at 2 s, hard lifetime 3 s); sun takes no
    DH group, so the rekey is refused (NO_PROPOSAL_CHOSEN) and moon's CHILD SA reaches its hard lifetime."""
    moon = IkeConfig(local_id="moon.example", remote_id="sun.example", esp_proposals=("aes128-sha256-x25519",),
                     child_rekey_time=2.0, child_lifetime=3.0, **BASE)
    sun = IkeConfig(local_id="sun.example", remote_id="moon.example", esp_proposals=("aes128-sha256",),
                    child_rekey_time=60.0, **BASE)
    lab = Lab(moon, sun, seed=35)
    lab.initiate()
    lab.run_until_idle()
    return lab


def _esp_peer(lab: Lab, side: str, clock: list[float], sent: list[bytes]) -> EspPeer:
    driver = SimpleNamespace(now=lambda: clock[0], esp_handler=None, config=lab.endpoints[side].config,
                             send_esp=lambda esp, port, dst: sent.append(esp))
    peer = EspPeer(driver, out=lambda text: None)  # type: ignore[arg-type]
    for event in lab.events(side):
        peer.on_event(event)
    return peer


def test_no_esp_on_a_child_sa_past_its_hard_lifetime_while_its_delete_is_in_flight() -> None:
    lab = _lab()
    created = lab.events("initiator", ev.ChildSaCreated)[0]
    lab.run(2.5)  # moon's rekey with PFS is refused; the CHILD SA stays
    assert any(e.notify == "NO_PROPOSAL_CHOSEN" for e in lab.events("initiator", ev.Failure))
    moon = lab.endpoints["initiator"]
    (sa,) = [s for s in moon.sas.values()]
    (child,) = sa.children.values()
    expire = child.expire_at
    assert expire == created.time + 3.0
    clock, sent = [2.9], []
    peer = _esp_peer(lab, "initiator", clock, sent)
    me, them = created.local_addr, created.remote_addr
    assert peer.ping(me, them, 1) and len(sent) == 1  # before the hard lifetime: ESP goes out

    # the hard lifetime: the engine sends the DELETE (2.8, 1.4.1), which is not answered yet
    moon.handle_timer(expire)
    assert child.state == "DELETING" and not any(isinstance(e, ev.ChildSaDeleted) for e in moon.pop_events())
    clock[0] = expire  # the very instant: the same sum as the engine's deadline (not now - created >= 3.0)
    assert not peer.ping(me, them, 2) and len(sent) == 1, "an echo left on a CHILD SA past its hard lifetime"
    assert "hard lifetime" in peer.errors[-1], peer.errors

    # nor is a packet the peer protected on it taken: sun's echo request is not answered
    theirs = EspSa(created.spi_in, direction="outbound", encryption=created.encr, key_bits=created.encr_key_bits,
                   integrity=created.integ, encryption_key=created.encr_key_in, integrity_key=created.integ_key_in,
                   tunnel=(them, me))
    packet: Any = theirs.encapsulate(icmp_echo(them, me, 7, 1, b"late"), 4)
    peer.received(packet, (them, 4500), (me, 4500))
    assert peer.requests_answered == 0 and len(sent) == 1
    assert "hard lifetime" in peer.errors[-1], peer.errors


def test_esp_sas_keep_working_up_to_the_hard_lifetime_and_without_one() -> None:
    """Up to the hard lifetime nothing changes, and a driver without a config (or with lifetimes of inf)
    gives ESP SAs no lifetime, as before."""
    lab = _lab()
    created = lab.events("initiator", ev.ChildSaCreated)[0]
    me, them = created.local_addr, created.remote_addr
    clock, sent = [created.time + 3.0 - 1e-6], []
    peer = _esp_peer(lab, "initiator", clock, sent)
    assert peer.ping(me, them, 1) and len(sent) == 1
    for driver in (SimpleNamespace(now=lambda: 10 ** 6, esp_handler=None, send_esp=lambda *a: sent.append(a[0])),
                   SimpleNamespace(now=lambda: 10 ** 6, esp_handler=None, send_esp=lambda *a: sent.append(a[0]),
                                   config=IkeConfig(psk=b"x", child_rekey_time=float("inf")))):
        unlimited = EspPeer(driver, out=lambda text: None)  # type: ignore[arg-type]
        unlimited.on_event(created)
        assert unlimited.ping(me, them, 2), unlimited.errors
    assert len(sent) == 3


def test_an_esp_sa_ends_at_the_instant_the_engine_deletes_its_child_sa() -> None:
    """The engine's deadline is ``created + lifetime`` (IkeSa.handle_timer deletes at ``now >= expire_at``); an
    ESP SA measured its age as ``now - created``, which for a CHILD SA made at 1.02 s with a hard lifetime of
    3 s is an ulp short of 3 at 4.02 s: the SA would still protect a packet at the instant the engine deletes
    its CHILD SA.  Both compare against the same sum now (RFC 4301 4.4.2.1)."""
    from ikelab.ipsec_sa import Lifetime

    created, life = 1.02, 3.0
    deadline = created + life
    assert deadline - created < life  # the float sum the two used to disagree on
    sa = EspSa(0x1000, direction="outbound", encryption="ENCR_AES_CBC", key_bits=128,
               integrity="AUTH_HMAC_SHA2_256_128", encryption_key=bytes(16), integrity_key=bytes(32),
               lifetime=Lifetime(soft_seconds=2.0, hard_seconds=life), created=created, tunnel=("192.0.2.1", "192.0.2.2"))
    assert sa.lifetime_status(created + 2.0) == "soft" and sa.lifetime_status(deadline - 1e-9) == "soft"
    assert sa.lifetime_status(deadline) == "hard"
    with pytest.raises(SaExpiredError, match="hard lifetime"):
        sa.encapsulate(icmp_echo("192.0.2.1", "192.0.2.2", 1, 1, b""), 4, now=deadline)
    assert sa.encapsulate(icmp_echo("192.0.2.1", "192.0.2.2", 1, 2, b""), 4, now=deadline - 1e-9)
