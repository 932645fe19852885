"""IpsecHost when a rekeyed CHILD SA comes with other selectors than the one it replaces (RFC 7296 2.9.2).

RFC 7296 2.9.2: the new CHILD SA "SHOULD NOT" have different traffic selectors and algorithms than the old one,
so a peer may narrow a rekey otherwise (here: the rekey's responder allows only the lower /25 of its /24 by
then).  The SPD must then hold what was negotiated (RFC 4301 4.4.1): the host kept the old SA's policy for the
new SA, so after the old one was deleted, a packet to the other half of the /24 still went out protected on an
SA whose selectors exclude it (5.1), and one arriving on the new SA from there was accepted (5.2 step 4: it
must match the selectors of the SA it came on).

The expected state, on both hosts:

* while both CHILD SAs live (2.8), each SA has its own policy with its own selectors; on the peer that asked for
  the rekey the new policy comes first, so outbound traffic that the new SA covers moves to it at once, and
  the rest stays on the old SA; on the peer that answered, the old policy stays first until the old CHILD SA
  is deleted (the host's rule for any rekey: the peer that asked may not hold the new SA yet);
* once the old CHILD SA is deleted, only the new selectors are protected, everything else is discarded;
* the two hosts mirror each other.

A rekey that turns a transport-mode CHILD SA into a tunnel-mode one (the responder no longer agrees to
transport mode, RFC 7296 1.3.1) made the host raise ConfigError from the event callback; the new SA now gets
its own tunnel-mode policy.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from ikelab import events as ev
from ikelab.config import IkeConfig
from ikelab.errors import PolicyError
from ikelab.host import IpsecHost
from ikelab.lab import SIDES, Lab
from ikelab.packet import icmp_echo, parse_ip
from ikelab.policy import Action
from ikelab.rand import DeterministicRandom

PREFIX = {"initiator": "198.51.100", "responder": "203.0.113"}
NEAR, FAR = 9, 200  # host numbers inside the lower /25, and inside the /24 but not the /25


def other(side: str) -> str:
    return SIDES[1 - SIDES.index(side)]


def addr(side: str, n: int) -> str:
    return f"{PREFIX[side]}.{n}"


def make_lab(mode: str = "tunnel") -> tuple[Lab, dict[str, IpsecHost]]:
    common = dict(psk=b"a shared secret for the rekey test", ike_proposals=("aes128-sha256-x25519",),
                  esp_proposals=("aes128-sha256",), cookie_threshold=None, mode=mode)
    if mode == "tunnel":
        ts = {side: (f"{PREFIX[side]}.0/24",) for side in SIDES}
    else:  # transport mode: the IKE addresses (the lab's 192.0.2.1 and .2)
        ts = {"initiator": ("192.0.2.1/32",), "responder": ("192.0.2.2/32",)}
    moon = IkeConfig(local_id="moon.example", remote_id="sun.example", local_ts=ts["initiator"],
                     remote_ts=ts["responder"], **common)
    sun = IkeConfig(local_id="sun.example", remote_id="moon.example", local_ts=ts["responder"],
                    remote_ts=ts["initiator"], **common)
    lab = Lab(moon, sun, seed=35)
    rng = DeterministicRandom("session35-host-rekey")
    hosts = {side: IpsecHost(rng=rng.fork(side)) for side in SIDES}
    lab.callbacks.append(lambda side, event: hosts[side].handle_event(event))
    lab.initiate()
    lab.run_until_idle()
    return lab, hosts


def narrow_then_rekey(lab: Lab, rekeyer: str) -> None:
    """The peer that will answer allows only the lower /25 of its network now; ``rekeyer`` rekeys the CHILD SA."""
    answerer = lab.sa(other(rekeyer))
    answerer.config = replace(answerer.config, local_ts=(f"{PREFIX[other(rekeyer)]}.0/25",))
    lab.rekey_child(rekeyer)


def created(lab: Lab, side: str) -> list[ev.ChildSaCreated]:
    return lab.events(side, ev.ChildSaCreated)


def echo(sender: str, narrowed: str, n: int, seq: int) -> bytes:
    """An echo request from ``sender``'s network to the other's; the narrowed side's address is host ``n``."""
    src = addr(sender, n if sender == narrowed else 7)
    dst = addr(other(sender), n if other(sender) == narrowed else 7)
    return icmp_echo(src, dst, 35, seq, b"session35")


def spi_of(decision) -> bytes:
    assert decision.action is Action.PROTECT and decision.packet is not None, decision
    return decision.spi.to_bytes(4, "big")


@pytest.mark.parametrize("rekeyer", SIDES)
def test_after_the_rekey_only_the_new_selectors_are_protected(rekeyer: str) -> None:
    lab, hosts = make_lab()
    narrowed = other(rekeyer)
    narrow_then_rekey(lab, rekeyer)
    lab.run_until_idle()
    first, new = created(lab, rekeyer)[0], {side: created(lab, side)[-1] for side in SIDES}
    assert new[rekeyer].rekey_of == first.spi_in  # the engine did narrow the rekey's selectors
    assert new[rekeyer].ts_remote == (f"{PREFIX[narrowed]}.0/25",) != first.ts_remote
    for side in SIDES:
        (policy,) = [p for p in hosts[side].processor.spd if p.action is Action.PROTECT]
        # the narrowed side's /25, never the /24 the old CHILD SA had
        assert f"{PREFIX[narrowed]}.0/25" in str(policy) and f"{PREFIX[narrowed]}.0/24" not in str(policy), policy
        assert [sa.spi.to_bytes(4, "big") for sa in hosts[side].processor.sad.inbound_sas()] == [new[side].spi_in]
    for seq, sender in enumerate(SIDES, 1):
        receiver = other(sender)
        # inside the new selectors: protected on the new SA and accepted by the peer
        inside = echo(sender, narrowed, NEAR, seq)
        out = hosts[sender].outbound(inside)
        assert spi_of(out) == new[sender].spi_out == new[receiver].spi_in
        assert hosts[receiver].inbound(out.packet).packet == inside
        # the other half of the old /24: negotiated by nobody any more, so discarded (RFC 4301 5.1)
        outside = echo(sender, narrowed, FAR, seq)
        decision = hosts[sender].outbound(outside)
        assert decision.action is Action.DISCARD and decision.packet is None, decision
        # and such a packet arriving on the new SA does not match its selectors (RFC 4301 5.2 step 4)
        (child,) = hosts[sender].processor.children
        with pytest.raises(PolicyError):
            hosts[receiver].inbound(child.outbound.protect_packet(outside))


@pytest.mark.parametrize("rekeyer", SIDES)
def test_while_both_child_sas_live_each_carries_its_own_selectors(rekeyer: str) -> None:
    lab, hosts = make_lab()
    narrowed = answerer = other(rekeyer)  # the peer that answers the rekey is the one that narrows it
    old = {side: created(lab, side)[0] for side in SIDES}
    narrow_then_rekey(lab, rekeyer)
    while len(created(lab, rekeyer)) < 2:  # until the rekey's answer is in; the DELETE of the old SA is not yet
        assert lab.step()
    assert not lab.events(answerer, ev.ChildSaDeleted)
    new = {side: created(lab, side)[-1] for side in SIDES}
    assert new[answerer].rekey_of == old[answerer].spi_in and new[rekeyer].rekey_of == old[rekeyer].spi_in

    # the peer that asked: the new SA at once for what it covers, the old one for the rest of the old /24
    near = hosts[rekeyer].outbound(echo(rekeyer, narrowed, NEAR, 1))
    far = hosts[rekeyer].outbound(echo(rekeyer, narrowed, FAR, 2))
    assert spi_of(near) == new[rekeyer].spi_out and spi_of(far) == old[rekeyer].spi_out
    assert hosts[answerer].inbound(near.packet).packet == echo(rekeyer, narrowed, NEAR, 1)
    assert hosts[answerer].inbound(far.packet).packet == echo(rekeyer, narrowed, FAR, 2)
    # the peer that answered stays on the old SA until the old CHILD SA is deleted
    back = hosts[answerer].outbound(echo(answerer, narrowed, NEAR, 3))
    assert spi_of(back) == old[answerer].spi_out
    assert hosts[rekeyer].inbound(back.packet).packet == echo(answerer, narrowed, NEAR, 3)
    # a packet outside the new selectors on the new SA is refused by each (5.2), though the old SA covers it
    for sender in SIDES:
        child = next(c for c in hosts[sender].processor.children if c.outbound.spi.to_bytes(4, "big")
                     == new[sender].spi_out)
        with pytest.raises(PolicyError):
            hosts[other(sender)].inbound(child.outbound.protect_packet(echo(sender, narrowed, FAR, 4)))

    lab.run_until_idle()
    assert [e.spi_in for e in lab.events(answerer, ev.ChildSaDeleted)] == [old[answerer].spi_in]
    for sender in SIDES:
        assert hosts[sender].outbound(echo(sender, narrowed, FAR, 5)).action is Action.DISCARD
        assert spi_of(hosts[sender].outbound(echo(sender, narrowed, NEAR, 6))) == new[sender].spi_out


def test_a_rekey_into_tunnel_mode_gets_a_tunnel_mode_policy() -> None:
    """The old host raised ConfigError (the old transport-mode policy cannot hold a tunnel-mode SA)."""
    lab, hosts = make_lab("transport")
    answerer = lab.sa("responder")
    answerer.config = replace(answerer.config, mode="tunnel")  # RFC 7296 1.3.1: it no longer agrees to transport
    lab.rekey_child("initiator")
    lab.run_until_idle()
    assert [e.mode for e in created(lab, "initiator")] == ["transport", "tunnel"]
    for side in SIDES:
        (policy,) = [p for p in hosts[side].processor.spd if p.action is Action.PROTECT]
        assert policy.mode.value == "tunnel"
    moon, sun = "192.0.2.1", "192.0.2.2"
    request = icmp_echo(moon, sun, 35, 1, b"session35")
    out = hosts["initiator"].outbound(request)
    assert spi_of(out) == created(lab, "initiator")[-1].spi_out
    assert parse_ip(out.packet).protocol == 50
    assert hosts["responder"].inbound(out.packet).packet == request
