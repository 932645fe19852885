"""Exercise checks of lesson 00, the tour: counting the initial exchanges (RFC 7296 1.2), and naming the
SK_* keys that protect a message (2.14), checked by opening the message with them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ConfigError, IkelabError
from .exercises import Wrong, _show, _want_int, register

__all__: list[str] = []

_INITIAL = ("IKE_SA_INIT", "IKE_AUTH")


@register("tour.initial-exchange", "00-tour", "Messages of the initial exchanges in the classic trace",
           "an int: the number of messages",
           "Each IKE SA (told apart by its SPIi) is set up by IKE_SA_INIT and IKE_AUTH, a request and a response "
           "each; a retransmission (same IKE SA, exchange, Message ID and direction) is the same message sent "
           "again (RFC 7296 1.2, 2.1).")
def _tour_initial_exchange(answer: Any, *, rows: Any) -> str:
    from .flow import rows_of

    rows = rows_of(rows)  # dissected rows, a Trace or a capture path, as lesson 10's checks take them
    sent = [r for r in rows if r.kind == "ike" and r.exchange in _INITIAL]
    if not sent:
        raise ConfigError("the rows hold no IKE_SA_INIT or IKE_AUTH message", field="rows", value=len(rows))
    messages = {(r.spi_i, r.exchange, r.message_id, bool(r.is_response)) for r in sent}
    ike_sas = len({r.spi_i for r in sent})
    n = _want_int(answer, "the number of messages")
    if n == len(messages):
        sas = "1 IKE SA" if ike_sas == 1 else f"{ike_sas} IKE SAs, each"
        return (f"{n} messages: {sas} set up by IKE_SA_INIT and IKE_AUTH, a request and a "
                "response each (RFC 7296 1.2); every CHILD SA that came with IKE_AUTH cost no extra message.")
    if n == len(sent):
        raise Wrong("a retransmitted request is the same message sent again (same Message ID): count it once.")
    first = [r for r in sent if r.spi_i == sent[0].spi_i]
    one_sa = {len({(r.exchange, r.message_id, r.is_response) for r in sent}), len(first),
              len({(r.exchange, r.message_id, r.is_response) for r in first})}
    exchanges = {len({(r.spi_i, r.exchange, r.message_id) for r in sent}),
                 len({(r.exchange, r.message_id) for r in first})}
    why = []
    if n in one_sa:
        why.append("that is one IKE SA's messages: the reconnect sets up another IKE SA, with the same "
                   "Message IDs (0 and 1) but new SPIs, so tell the messages apart by SPIi too")
    if n in exchanges:
        why.append("that counts exchanges; each exchange is a request and its response")
    if why:
        raise Wrong("; or ".join(why) + ".")
    direction = "few" if n < len(messages) else "many"
    raise Wrong(f"too {direction}. Keep the IKE_SA_INIT and IKE_AUTH rows of every IKE SA; a message sent twice "
                "counts once.")


_SK_NAMES = ("SK_d", "SK_ai", "SK_ar", "SK_ei", "SK_er", "SK_pi", "SK_pr")  # RFC 7296 2.14, in its order


@register("tour.sk-keys", "00-tour", "Which SK_* keys protect a message",
          "a pair of key names (encryption key, integrity key), such as (\"SK_xx\", \"SK_yy\")",
          "RFC 7296 2.14: SK_ei and SK_ai protect what the original initiator sends, SK_er and SK_ar what the "
          "original responder sends (e for encryption, a for the integrity checksum); SK_d and SK_pi/SK_pr protect "
          "no message. Who sent the packet, and who was the original initiator of its IKE SA?")
def _tour_sk_keys(answer: Any, *, scenario: Any, no: int) -> str:
    packet = _sk_packet(scenario, no)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Wrong(f"the answer is a pair of names (encryption key, integrity key), such as (\"SK_xx\", "
                    f"\"SK_yy\"), not {_show(answer)}.")
    names = tuple(_sk_name(part) for part in answer)
    sender = "the original initiator" if packet.is_initiator else "the original responder"
    side = "i" if packet.is_initiator else "r"
    inner = _open_with(packet, *names)
    if inner is not None:
        return (f"{names[0]} decrypts packet {no} and {names[1]} computes its ICV, as for everything {sender} "
                f"({packet.src}) sends; inside: {', '.join(inner) or 'nothing (an empty SK payload)'}.")
    for name in names:
        if name == "SK_d":
            raise Wrong("SK_d protects no message: it is the key from which the CHILD SAs' keys (and a new IKE SA's "
                        "SKEYSEED) are derived (RFC 7296 2.17, 2.18).")
        if name in ("SK_pi", "SK_pr"):
            raise Wrong(f"{name} protects no message: it only goes into the AUTH payload's computation (RFC 7296 "
                        "2.15).")
    if names[0][3] == "a" and names[1][3] == "e":
        raise Wrong("the two are swapped: the pair is (encryption key, integrity key), SK_e* first.")
    for name, role in zip(names, ("e", "a")):
        if name[3] != role:
            raise Wrong(f"{name} is not an {'encryption' if role == 'e' else 'integrity'} key: SK_e* encrypt, "
                        "SK_a* compute the integrity checksum (ICV).")
        if name[4] != side:
            other = "the original initiator" if side == "r" else "the original responder"
            raise Wrong(f"{name} protects what {other} sends; packet {no} comes from {packet.src}, {sender} of its "
                        "IKE SA (RFC 7296 2.14).")
    raise IkelabError(f"packet {no} does not open with its own IKE SA's {names[0]} and {names[1]}")  # pragma: no cover


def _sk_name(part: Any) -> str:
    text = part.strip() if isinstance(part, str) else None
    for name in _SK_NAMES:
        if text is not None and text.lower() == name.lower():
            return name
    raise Wrong(f"{_show(part)} is not one of the seven keys: {', '.join(_SK_NAMES)} (a str each).")


def _sk_packet(scenario: Any, no: int) -> Any:
    """Packet ``no`` of the scenario, as an :class:`_SkPacket`: it must be an IKE message with an SK payload."""
    from . import events as ev
    from .figures_tour import tour_rows
    from .payloads import SA, SK

    rows = tour_rows(scenario)
    given = no
    try:
        no = _want_int(given, "no")  # an int, numpy's int64 ...; not a bool
    except Wrong:
        no = 0
    if not 1 <= no <= len(rows):
        raise ConfigError(f"no must be a packet number in 1..{len(rows)}, not {given!r}", field="no", value=given)
    row = rows[no - 1]
    first = row.message.payloads[0] if row.kind == "ike" and row.message is not None and row.message.payloads else None
    if not isinstance(first, SK):
        raise ConfigError(f"packet {no} is not an encrypted IKE message (an SK payload), but {row.info!r}",
                          field="no", value=no)
    keys = next((e for e in scenario.events["initiator"] if isinstance(e, ev.KeysDerived)
                 and (e.spi_i.hex(), e.spi_r.hex()) == (row.spi_i, row.spi_r)), None)
    init = next((r for r in rows if r.kind == "ike" and r.exchange == "IKE_SA_INIT" and r.is_response
                 and r.spi_i == row.spi_i and r.message is not None), None)
    if keys is None or init is None:
        raise ConfigError(f"packet {no} belongs to an IKE SA whose keys or IKE_SA_INIT are not in the scenario",
                          field="no", value=no)
    (proposal,) = next(p for p in init.message.payloads if isinstance(p, SA)).proposals
    return _SkPacket(no, row.src, bool(row.message.is_initiator), scenario.trace[no - 1].ike_message, keys,
                     {t.type.name: t for t in proposal.transforms})


@dataclass(frozen=True)
class _SkPacket:
    """What the check needs of one packet: its sender, its bytes, its IKE SA's keys and transforms."""

    no: int
    src: str
    is_initiator: bool
    data: bytes
    keys: Any                    # the KeysDerived event of its IKE SA
    transforms: dict[str, Any]   # the IKE SA's transforms by type name ("ENCR", "INTEG", ...)


def _open_with(packet: _SkPacket, encryption: str, integrity: str) -> list[str] | None:
    """The inner payloads' names if the keys named open the packet (ICV right, then decryption), else None."""
    from .message import decode
    from .sk import SkCrypto

    encr, integ = packet.transforms["ENCR"], packet.transforms.get("INTEG")
    if integ is None:
        raise ConfigError("tour.sk-keys needs a suite with an integrity transform (not an AEAD cipher)",
                          field="scenario", value=encr.id.name)
    try:
        crypto = SkCrypto.create(encr.id, getattr(packet.keys, encryption.lower()), key_bits=encr.key_length,
                                 integ=integ.id, sk_a=getattr(packet.keys, integrity.lower()))
        message = decode(packet.data, crypto)
    except IkelabError:  # a key of the wrong length, a wrong ICV, or garbage decrypted
        return None
    return [type(p).__name__ for p in message.payloads[0].inner]
