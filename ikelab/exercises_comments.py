"""Exercise checks of lesson 11, comments on IKEv2 (RFC 7296 1.2, 1.3; RFC 2409 5).

``comments.ikev2-messages``: how many IKE messages does IKEv2 need for one
IKE SA and ``n_children`` CHILD SAs?  The expected value is counted in a
real ikelab run (:func:`ikelab.figures_comments.ikev2_run`).

``comments.renewal-cost``: over a tunnel of ``hours`` whose keys are renewed
every hour, how many IKE messages does a full initiator (CHILD SA rekeys,
RFC 7296 2.8) send and receive, and how many a minimal one that starts over
instead (RFC 7815)?  Counted in real runs
(:func:`ikelab.figures_renewal.renewal_run`).
"""

from __future__ import annotations

from typing import Any

from .exercises import Wrong, _name_slips, _show, _want_int, register

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


@register("comments.renewal-cost", "11-comments-on-ikev2", "rekeying against starting over",
          "a pair (full, minimal): the IKE messages of each initiator over the tunnel's life",
          "RFC 7296 2.8: a CHILD SA rekey is a CREATE_CHILD_SA exchange, then an INFORMATIONAL exchange deletes the "
          "old CHILD SA. RFC 7815: the minimal initiator deletes its IKE SA and runs IKE_SA_INIT and IKE_AUTH again. "
          "Count the renewals first (one per full hour), then the messages of each.")
def _comments_renewal_cost(answer: Any, *, hours: float) -> str:
    from .figures_renewal import renewal_run

    full, minimal = renewal_run(hours, minimal=False), renewal_run(hours, minimal=True)
    expected = (full.count, minimal.count)
    if not isinstance(answer, (tuple, list)):
        n = _want_int(answer, "the answer")
        raise Wrong(f"the answer is a pair (full, minimal): one count for each initiator, not one number ({n}).")
    if len(answer) != 2:
        raise Wrong(f"the answer is a pair (full, minimal): two numbers, not {len(answer)} ({_show(answer)}).")
    got = (_want_int(answer[0], "the full initiator's count"), _want_int(answer[1], "the minimal initiator's count"))
    if got == expected:
        return (f"{full.count} and {minimal.count} IKE messages in two ikelab runs of {hours:g} h: "
                f"{full.renewals} renewals each; the full initiator did one Diffie-Hellman and one AUTH, "
                f"the minimal one {minimal.exchanges('IKE_SA_INIT')} of each.")
    if got == expected[::-1]:
        raise Wrong("the two are swapped: the pair is (full, minimal), and starting over costs more messages.")
    k = full.renewals
    components = (
        (got[0], expected[0], "full initiator", 4, [
            (4 + 2 * k, "a rekey is not only the CREATE_CHILD_SA exchange: an INFORMATIONAL exchange then deletes the "
                        "old CHILD SA (RFC 7296 2.8)."),
            (expected[1], "that is the minimal initiator's count: the full one rekeys its CHILD SA under the IKE SA "
                          "it keeps.")]),
        (got[1], expected[1], "minimal initiator", 6, [
            (4 + 4 * k, "before starting over, the minimal initiator deletes its old IKE SA: an INFORMATIONAL "
                        "exchange each time."),
            (expected[0], "that is the full initiator's count: the minimal one has no CREATE_CHILD_SA and sets up "
                          "a whole new IKE SA.")]))
    value, right, who, per, slips = next(c for c in components if c[0] != c[1])
    slips += [
        (right // 2, f"the {who}'s count is right in exchanges; each exchange is two messages, a request and a "
                     "response."),
        (right - 4, f"the {who} also set up the first IKE SA: IKE_SA_INIT and IKE_AUTH, four messages."),
        (right - per, f"one renewal too few for the {who}: the keys are renewed at the end of every full hour of "
                      f"the {hours:g} h."),
        (right + per, f"one renewal too many for the {who}: the tunnel ends after {hours:g} h, before the next "
                      "renewal."),
    ]
    _name_slips([message for slip, message in slips if slip == value])
    raise Wrong(f"not the {who}'s count: count the renewals in {hours:g} h, then the messages that one renewal "
                "takes (which exchanges does it need?), then add the setup.")
