"""The IKE SA state machine as one table (RFC 7296 1.2-1.4, 2.3).

Theory of operation
-------------------
An IKE SA is in exactly one :class:`State`.  Something happens to it: the
application asks for an action (``INITIATE``, ``REKEY_CHILD``...), a message
arrives (``IKE_AUTH_REQUEST``...), or its retransmissions run out
(``GIVE_UP``).  Each of these is an :class:`Input`.  The pair
``(state, input)`` is looked up in :data:`TRANSITIONS`, plain dict data that a
lesson can print or draw::

    TRANSITIONS[(State.INIT_DONE, Input.IKE_AUTH_REQUEST)]
        == ("on_ike_auth_request", State.ESTABLISHED)

The first element names the handler method of :class:`ikelab.ike.IkeSa` that
does the work, the second is the state after a *successful* handler.  A
handler that fails fatally (AUTHENTICATION_FAILED, retransmissions exhausted,
the IKE SA deleted) moves the SA to ``CLOSED`` instead; one that only needs
another round (a COOKIE or INVALID_KE_PAYLOAD answer to IKE_SA_INIT) keeps the
current state.  These outcomes are listed in :data:`OTHER_OUTCOMES`.

Any pair *not* in the table is a protocol error: the input is rejected
without changing state.  A request that arrived protected by the SK payload is
answered with an error Notify (INVALID_SYNTAX; TEMPORARY_FAILURE for
CREATE_CHILD_SA while the IKE SA is being rekeyed or deleted, RFC 7296 2.25);
anything else is dropped, as RFC 7296 2.21 asks for unauthenticated messages.
So is a request that reaches an initiator in ``AUTH_SENT``: the responder
sends one only after answering IKE_AUTH, so that answer is lost or late, and
the responder's retransmission will find the IKE SA established.
A local action outside the table raises :class:`~ikelab.errors.ProtocolError`.

Message IDs and the window (RFC 7296 2.3, window size 1) are checked *before*
this table: a retransmitted request is answered from the response cache and
never reaches a handler twice; a response that does not match the outstanding
request is dropped.
"""

from __future__ import annotations

from .enums import NameEnum


class State(NameEnum):
    """Where an IKE SA is in its life."""

    IDLE = "IDLE"                # created, nothing sent or received yet
    INIT_SENT = "INIT_SENT"      # initiator: IKE_SA_INIT request sent
    INIT_DONE = "INIT_DONE"      # responder: IKE_SA_INIT answered (half-open), waiting for IKE_AUTH
    AUTH_SENT = "AUTH_SENT"      # initiator: IKE_AUTH request sent
    ESTABLISHED = "ESTABLISHED"  # both authenticated: CREATE_CHILD_SA and INFORMATIONAL allowed
    REKEYED = "REKEYED"          # replaced by a new IKE SA (2.18): only finishes deletion
    DELETING = "DELETING"        # DELETE of this IKE SA sent, waiting for the (empty) response
    CLOSED = "CLOSED"            # gone: nothing is accepted any more

    def __str__(self) -> str:
        return self.value


class Input(NameEnum):
    """What can happen to an IKE SA: local actions, received messages, timers."""

    # local actions (the application or a timer asks)
    INITIATE = "INITIATE"
    CREATE_CHILD = "CREATE_CHILD"
    REKEY_CHILD = "REKEY_CHILD"
    REKEY_IKE = "REKEY_IKE"
    LIVENESS = "LIVENESS"
    DELETE_CHILD = "DELETE_CHILD"
    DELETE_IKE = "DELETE_IKE"
    GIVE_UP = "GIVE_UP"
    # received messages: exchange type and direction
    IKE_SA_INIT_REQUEST = "IKE_SA_INIT_REQUEST"
    IKE_SA_INIT_RESPONSE = "IKE_SA_INIT_RESPONSE"
    IKE_AUTH_REQUEST = "IKE_AUTH_REQUEST"
    IKE_AUTH_RESPONSE = "IKE_AUTH_RESPONSE"
    CREATE_CHILD_SA_REQUEST = "CREATE_CHILD_SA_REQUEST"
    CREATE_CHILD_SA_RESPONSE = "CREATE_CHILD_SA_RESPONSE"
    INFORMATIONAL_REQUEST = "INFORMATIONAL_REQUEST"
    INFORMATIONAL_RESPONSE = "INFORMATIONAL_RESPONSE"

    def __str__(self) -> str:
        return self.value

    @property
    def is_message(self) -> bool:
        return self.value.endswith("_REQUEST") or self.value.endswith("_RESPONSE")

    @classmethod
    def for_message(cls, exchange_name: str, is_response: bool) -> "Input | None":
        """The input for a received message, or None for an exchange type we do not handle."""
        return _FOR_MESSAGE.get((exchange_name, bool(is_response)))


#: (exchange name, is_response) -> the input of a received message (one dict lookup per message)
_FOR_MESSAGE: dict[tuple[str, bool], Input] = {
    (i.value.rpartition("_")[0], i.value.endswith("_RESPONSE")): i for i in Input if i.is_message
}

S, I = State, Input

#: (state, input) -> (handler method name, state after success).  Everything else is illegal.
TRANSITIONS: dict[tuple[State, Input], tuple[str, State]] = {
    # IKE_SA_INIT and IKE_AUTH (RFC 7296 1.2)
    (S.IDLE, I.INITIATE): ("start_ike_sa_init", S.INIT_SENT),
    (S.IDLE, I.IKE_SA_INIT_REQUEST): ("on_ike_sa_init_request", S.INIT_DONE),
    (S.INIT_SENT, I.IKE_SA_INIT_RESPONSE): ("on_ike_sa_init_response", S.AUTH_SENT),
    (S.INIT_DONE, I.IKE_AUTH_REQUEST): ("on_ike_auth_request", S.ESTABLISHED),
    (S.AUTH_SENT, I.IKE_AUTH_RESPONSE): ("on_ike_auth_response", S.ESTABLISHED),
    # CREATE_CHILD_SA (1.3) and INFORMATIONAL (1.4), started by either peer
    (S.ESTABLISHED, I.CREATE_CHILD): ("start_create_child", S.ESTABLISHED),
    (S.ESTABLISHED, I.REKEY_CHILD): ("start_rekey_child", S.ESTABLISHED),
    (S.ESTABLISHED, I.REKEY_IKE): ("start_rekey_ike", S.ESTABLISHED),
    (S.ESTABLISHED, I.LIVENESS): ("start_liveness", S.ESTABLISHED),
    (S.ESTABLISHED, I.DELETE_CHILD): ("start_delete_child", S.ESTABLISHED),
    (S.ESTABLISHED, I.DELETE_IKE): ("start_delete_ike", S.DELETING),
    (S.ESTABLISHED, I.CREATE_CHILD_SA_REQUEST): ("on_create_child_sa_request", S.ESTABLISHED),
    (S.ESTABLISHED, I.CREATE_CHILD_SA_RESPONSE): ("on_create_child_sa_response", S.ESTABLISHED),
    (S.ESTABLISHED, I.INFORMATIONAL_REQUEST): ("on_informational_request", S.ESTABLISHED),
    (S.ESTABLISHED, I.INFORMATIONAL_RESPONSE): ("on_informational_response", S.ESTABLISHED),
    # an IKE SA replaced by a rekey (2.18) only deletes itself and answers INFORMATIONAL
    (S.REKEYED, I.DELETE_IKE): ("start_delete_ike", S.DELETING),
    (S.REKEYED, I.INFORMATIONAL_REQUEST): ("on_informational_request", S.REKEYED),
    (S.REKEYED, I.INFORMATIONAL_RESPONSE): ("on_informational_response", S.REKEYED),
    (S.REKEYED, I.CREATE_CHILD_SA_RESPONSE): ("on_create_child_sa_response", S.REKEYED),
    # deleting the IKE SA: answer what the peer still sends, wait for our response
    (S.DELETING, I.INFORMATIONAL_REQUEST): ("on_informational_request", S.DELETING),
    (S.DELETING, I.INFORMATIONAL_RESPONSE): ("on_delete_ike_response", S.CLOSED),
    (S.DELETING, I.CREATE_CHILD_SA_RESPONSE): ("on_ignored_response", S.DELETING),
    # retransmissions exhausted or half-open SA timed out (2.4)
    (S.INIT_SENT, I.GIVE_UP): ("on_give_up", S.CLOSED),
    (S.INIT_DONE, I.GIVE_UP): ("on_give_up", S.CLOSED),
    (S.AUTH_SENT, I.GIVE_UP): ("on_give_up", S.CLOSED),
    (S.ESTABLISHED, I.GIVE_UP): ("on_give_up", S.CLOSED),
    (S.REKEYED, I.GIVE_UP): ("on_give_up", S.CLOSED),
    (S.DELETING, I.GIVE_UP): ("on_give_up", S.CLOSED),
}

#: Documented non-default outcomes of some handlers (for lessons and diagrams).
OTHER_OUTCOMES: dict[tuple[State, Input], tuple[tuple[State, str], ...]] = {
    (S.INIT_SENT, I.IKE_SA_INIT_RESPONSE): (
        (S.INIT_SENT, "N(COOKIE) or N(INVALID_KE_PAYLOAD): IKE_SA_INIT sent again (2.6, 1.2)"),
        (S.CLOSED, "NO_PROPOSAL_CHOSEN or another error"),
    ),
    (S.IDLE, I.IKE_SA_INIT_REQUEST): ((S.CLOSED, "answered with an error Notify, no state kept"),),
    (S.INIT_DONE, I.IKE_AUTH_REQUEST): ((S.CLOSED, "AUTHENTICATION_FAILED"),),
    (S.AUTH_SENT, I.IKE_AUTH_RESPONSE): ((S.CLOSED, "AUTHENTICATION_FAILED or other error"),),
    (S.ESTABLISHED, I.INFORMATIONAL_REQUEST): ((S.CLOSED, "DELETE of the IKE SA"),),
    (S.REKEYED, I.INFORMATIONAL_REQUEST): ((S.CLOSED, "DELETE of the IKE SA"),),
    (S.DELETING, I.INFORMATIONAL_REQUEST): ((S.CLOSED, "DELETE of the IKE SA"),),
    (S.ESTABLISHED, I.CREATE_CHILD_SA_REQUEST): ((S.REKEYED, "the IKE SA was rekeyed by the peer (2.18)"),),
    (S.ESTABLISHED, I.CREATE_CHILD_SA_RESPONSE): ((S.REKEYED, "our IKE SA rekey completed (2.18)"),),
    (S.ESTABLISHED, I.GIVE_UP): ((S.REKEYED, "our IKE SA rekey unanswered, the peer's colliding one stands (2.8.2)"),),
}


def next_state(state: State, inp: Input) -> State | None:
    """The state after a successful ``inp`` in ``state``, or None if illegal."""
    entry = TRANSITIONS.get((state, inp))
    return None if entry is None else entry[1]


def is_legal(state: State, inp: Input) -> bool:
    """True when ``(state, inp)`` is in :data:`TRANSITIONS`."""
    return (state, inp) in TRANSITIONS


def transition_rows() -> list[tuple[str, str, str, str]]:
    """The table as rows ``(state, input, handler, next state)``, for printing or drawing."""
    return [(s.value, i.value, h, n.value) for (s, i), (h, n) in TRANSITIONS.items()]


__all__ = ["Input", "OTHER_OUTCOMES", "State", "TRANSITIONS", "is_legal", "next_state", "transition_rows"]
