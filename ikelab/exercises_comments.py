"""Exercise checks of lesson 11, comments on IKEv2 (RFC 7296 1.2, 1.3; RFC 2409 5).

``comments.ikev2-messages``: how many IKE messages does IKEv2 need for one
IKE SA and ``n_children`` CHILD SAs?  The expected value is counted in a
real ikelab run (:func:`ikelab.figures_comments.ikev2_run`).
"""

from __future__ import annotations

from typing import Any

from .exercises import Wrong, _name_slips, _want_int, register

__all__: list[str] = []


@register("comments.ikev2-messages", "11-comments-on-ikev2", "IKEv2 messages for n CHILD SAs",
          "an int: the number of IKE messages",
          "RFC 7296 1.2, 1.3: IKE_SA_INIT and IKE_AUTH (which creates the first CHILD SA) are two messages each; "
          "every further CHILD SA takes one CREATE_CHILD_SA exchange, a request and a response.")
def _comments_ikev2_messages(answer: Any, *, n_children: int) -> str:
    from .figures_comments import ikev1_messages, ikev2_run

    run = ikev2_run(n_children)
    n = _want_int(answer, "the number of messages")
    if n == run.messages:
        return (f"{run.messages} messages in the ikelab run (IKEv1 main mode + quick modes: "
                f"{ikev1_messages(n_children)}).")
    # for small n two slips can give the same number (n = 2: 4 + 2n = 4n; n = 1: 2n = the exchanges): name each
    slips = [
        (4 + 2 * n_children, "the first CHILD SA needs no CREATE_CHILD_SA: it comes with IKE_AUTH."),
        (ikev1_messages(n_children), "that is IKEv1's count (RFC 2409); IKEv2 exchanges are request/response pairs."),
        (ikev1_messages(n_children, "Aggressive Mode"),
         "that is IKEv1's count (RFC 2409); IKEv2 exchanges are request/response pairs."),
        (2 * n_children, "do not forget the IKE_SA_INIT exchange before everything else."),
        (4 * n_children, f"that is {n_children} separate IKE SAs (4 messages each); the CHILD SAs share one IKE SA."),
        (run.messages // 2, "that is the number of exchanges; each exchange is two messages, a request and a "
                            "response."),
    ]
    _name_slips([message for value, message in slips if value == n])
    raise Wrong("count two messages per exchange: IKE_SA_INIT, IKE_AUTH, then one CREATE_CHILD_SA per extra CHILD SA.")
