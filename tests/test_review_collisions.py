"""CHILD SA rekey collisions settled in the order strongSwan's charon showed (RFC 7296 2.8.1), in the lab.

Both peers rekey the same CHILD SA; both first requests are lost, and so is the answer to moon's
retransmission, so sun learns the outcome first.  Sun's new CHILD SA survives (moon's exchange holds the
lowest of the four nonces), and sun deletes the old CHILD SA while moon's request is still open.  When
moon's next retransmission brings sun's cached answer, moon must still see the collision and close the
CHILD SA it made, the redundant one, instead of keeping it as a new CHILD SA of its own.
"""

from __future__ import annotations

from ikelab import events as ev
from ikelab.lab import Lab, Network

from test_ike import assert_same_sas, established

#: a seed whose nonces put the lowest of the four in moon's rekey exchange
SEED = 1


def _collide(seed: int) -> Lab:
    # sun waits longer before retransmitting: moon's first retransmission reaches sun before sun's does
    lab = established(seed=seed, i={"retransmit_timeout": 1.0}, r={"retransmit_timeout": 1.5})
    lab.network = Network(schedule=("drop", "drop", "ok", "drop"))  # moon's request, sun's, moon's again: sun's answer
    lab._packets = 0
    lab.rekey_child("initiator")
    lab.rekey_child("responder")
    return lab


def test_the_loser_deletes_its_redundant_child_sa_after_the_winner_deleted_the_old_one() -> None:
    lab = _collide(SEED)
    (old,) = lab.initiator.children.values()
    seen = {}  # every CHILD SA moon held, by its inbound SPI (its nonces stay readable once it is gone)
    while lab.busy() and lab.now < 60.0:
        lab.step()
        seen.update(lab.initiator.children)
    moon_new, sun_new = (next(seen[e.spi_in if side == "initiator" else e.spi_out]
                              for e in lab.events(side, ev.ChildSaCreated)
                              if e.exchange == "CREATE_CHILD_SA" and e.exchange_initiator)
                         for side in ("initiator", "responder"))
    # the precondition: moon's exchange holds the lowest nonce, so the CHILD SA moon made is the redundant one
    assert min(moon_new.ni, moon_new.nr, sun_new.ni, sun_new.nr) in (moon_new.ni, moon_new.nr)
    # sun won and deleted the old CHILD SA before moon's answer came; moon deleted the one it made
    assert [(e.spi_in, e.reason) for e in lab.events("initiator", ev.ChildSaDeleted)] == [
        (old.spi_in, "deleted by peer"), (moon_new.spi_in, "deleted")]
    assert [e.spi_in for e in lab.events("responder", ev.ChildSaDeleted)] == [old.spi_out, moon_new.spi_out]
    (survivor,) = lab.initiator.children.values()
    assert survivor is sun_new
    assert_same_sas(lab)
