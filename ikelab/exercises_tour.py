"""Exercise checks of lesson 00, the tour: counting the initial exchange (RFC 7296 1.2)."""

from __future__ import annotations

from typing import Any

from .exercises import Wrong, _want_int, register

__all__: list[str] = []


@register("tour.initial-exchange", "00-tour", "Messages of the initial exchange in the classic trace",
           "an int: the number of messages",
           "Count the IKE_SA_INIT and IKE_AUTH messages of the first IKE SA; a retransmission (same exchange, "
           "same Message ID, same direction) is the same message sent again (RFC 7296 1.2, 2.1).")
def _tour_initial_exchange(answer: Any, *, rows: Any) -> str:
    from . import figures_tour

    messages = figures_tour.initial_exchange_messages(rows)
    n = _want_int(answer, "the number of messages")
    if n == len(messages):
        return (f"{n} messages: IKE_SA_INIT request and response, IKE_AUTH request and response "
                "(RFC 7296 1.2); the first CHILD SA came with IKE_AUTH, at no extra cost.")
    spi_i = messages[0].spi_i
    sent = [r for r in rows if r.kind == "ike" and r.spi_i == spi_i and r.exchange in ("IKE_SA_INIT", "IKE_AUTH")]
    everywhere = [r for r in rows if r.kind == "ike" and r.exchange in ("IKE_SA_INIT", "IKE_AUTH")]
    if n == len(sent):
        raise Wrong("a retransmitted request is the same message sent again (same Message ID): count it once.")
    if n == len({(r.exchange, r.message_id) for r in messages}):
        raise Wrong("that counts exchanges; each exchange is a request and its response.")
    # both IKE SAs' initial exchanges: with the retransmission, or counted once each
    both = len({(r.spi_i, r.exchange, r.message_id, r.is_response) for r in everywhere})
    if len(everywhere) > len(sent) and both <= n <= len(everywhere):
        raise Wrong("only the first IKE SA: the trace sets up a second one later (the reconnect).")
    direction = "few" if n < len(messages) else "many"
    raise Wrong(f"too {direction}. Filter the IKE rows on the exchange (IKE_SA_INIT, IKE_AUTH) of the first IKE SA.")
