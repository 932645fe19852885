"""Simultaneous rekeying of a CHILD SA, read off the wire (RFC 7296 2.8.1), for lesson 07.

Lifetimes are local policy, so both peers may start rekeying the same CHILD SA at the same moment: two
CREATE_CHILD_SA exchanges with N(REKEY_SA) cross, each peer answers the other's, and two new SAs exist.  RFC 7296
2.8.1 keeps one: "the SA created with the lowest of the four nonces used in the two exchanges SHOULD be closed by
the endpoint that created it", and the node that initiated the surviving SA deletes the replaced one.

* :func:`collided_lab`: a lab run of moon and sun in which both rekey CHILD SA #1 in the same instant;
* :func:`collision_rows` / :func:`format_collision`: each of the two exchanges as the decrypted trace shows it:
  who started it, its Ni and Nr, and the SPIs of the SA it made as one peer sees them.

Nothing here applies the nonce rule: that is the lesson's exercise, and the lab's events say what the engine did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .constants import ExchangeType, NotifyType
from .errors import ConfigError
from .figures_ike import lab_crypto, moon_and_sun
from .fmt import short_hex
from .message import decode
from .payloads import SA, Nonce

__all__ = ["CollisionRow", "collided_lab", "collision_rows", "format_collision"]


@dataclass(frozen=True)
class CollisionRow:
    """One of the two crossing CREATE_CHILD_SA exchanges that rekey the same CHILD SA (RFC 7296 2.8.1)."""

    started_by: str   # the peer that sent the request (its configuration's name)
    message_id: int   # of the request, in its sender's sequence (RFC 7296 2.2)
    ni: bytes         # the request's nonce
    nr: bytes         # the response's nonce
    spi_in: bytes     # the new SA's SPI that the viewing peer chose: ESP to it carries this one (RFC 4303 2.1)
    spi_out: bytes    # the one its peer chose: ESP the viewing peer sends carries this one
    rekeys: bytes     # N(REKEY_SA)'s SPI: the old SA's, as the request's sender receives on it (1.3.3)
    viewer: str = "moon"  # the peer whose view spi_in and spi_out are (collision_rows' side, by its name)


def collided_lab(seed: str, **settings: Any) -> Any:
    """moon and sun (:func:`ikelab.figures_ike.moon_and_sun` with ``settings``) set up CHILD SA #1, then both rekey
    it at the same virtual instant; the lab is returned when everything has settled."""
    from .lab import Lab

    lab = Lab(*moon_and_sun(**settings), seed=seed)
    lab.initiate()
    lab.run_until_idle()
    lab.rekey_child("initiator")
    lab.rekey_child("responder")  # before the first request arrives: the two exchanges cross
    lab.run_until_idle()
    return lab


def collision_rows(lab: Any, side: str = "initiator") -> list[CollisionRow]:
    """The CHILD SA rekeys (CREATE_CHILD_SA with N(REKEY_SA), RFC 7296 1.3.3) of a lab's first IKE SA, as ``side``
    sees them: each request with its response, from the trace decrypted with the IKE SA's keys."""
    crypto = lab_crypto(lab, side)
    names = {lab.addresses[s]: lab.endpoints[s].config.name or s for s in ("initiator", "responder")}
    requests: dict[tuple[str, int], Any] = {}
    responses: dict[tuple[str, int], Any] = {}
    for packet in lab.trace:
        if packet.kind != "ike":
            continue
        msg = decode(packet.ike_message, crypto)
        if msg.exchange != ExchangeType.CREATE_CHILD_SA:
            continue
        if msg.is_response:  # keyed by who sent the request: the response's destination
            responses[(packet.dst, msg.message_id)] = msg
        else:
            rekey = msg.notify(NotifyType.REKEY_SA)
            if rekey is not None:
                requests[(packet.src, msg.message_id)] = (msg, bytes(rekey.rekey_spi))
    mine = lab.addresses[side]
    rows = []
    for (sender, mid), (request, rekeys) in requests.items():
        response = responses.get((sender, mid))
        if response is None or response.find(SA) is None:
            continue  # unanswered, or refused: it made no SA
        spi_request = bytes(request.find(SA).proposals[0].spi)   # the exchange initiator's inbound SPI (3.3.1)
        spi_response = bytes(response.find(SA).proposals[0].spi)
        spi_in, spi_out = (spi_request, spi_response) if sender == mine else (spi_response, spi_request)
        rows.append(CollisionRow(names.get(sender, sender), mid, bytes(request.find(Nonce).data),
                                 bytes(response.find(Nonce).data), spi_in, spi_out, rekeys, names[mine]))
    if not rows:
        raise ConfigError("the lab's trace holds no answered CHILD SA rekey (CREATE_CHILD_SA with N(REKEY_SA))",
                          field="lab", value=len(lab.trace))
    return rows


def format_collision(rows: list[CollisionRow], viewer: str | None = None) -> str:
    """Each exchange in a few lines: who started it, its nonces, and the new SA's SPIs as ``viewer`` (by default
    the rows' own viewer) sees them."""
    blocks = []
    for r in rows:
        viewer = viewer or r.viewer
        blocks.append(f"exchange started by {r.started_by} (MID {r.message_id}), N(REKEY_SA) 0x{r.rekeys.hex()}\n"
                      f"  Ni {short_hex(r.ni)}\n"
                      f"  Nr {short_hex(r.nr)}\n  {viewer}'s new SA: in 0x{r.spi_in.hex()}, out 0x{r.spi_out.hex()}")
    return "\n".join(blocks)
