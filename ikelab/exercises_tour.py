"""Exercise checks of lesson 00, the tour: counting the initial exchanges (RFC 7296 1.2)."""

from __future__ import annotations

from typing import Any

from .errors import ConfigError
from .exercises import Wrong, _want_int, register

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
