"""Exercise checks of lesson 11, comments on IKEv2 (RFC 7296 1.2, 1.3; RFC 2409 5).

``comments.ikev2-messages``: how many IKE messages does IKEv2 need for one
IKE SA and ``n_children`` CHILD SAs?  The expected value is counted in a
real ikelab run (:func:`ikelab.figures_comments.ikev2_run`).

``comments.renewal-cost``: over a tunnel of ``hours`` whose keys are renewed
every hour, how many IKE messages and Diffie-Hellman exchanges does a full
initiator (CHILD SA rekeys, RFC 7296 2.8) need, and how many a minimal one
that starts over instead (RFC 7815)?  Counted in real runs
(:func:`ikelab.figures_renewal.renewal_run`).
"""

from __future__ import annotations

from typing import Any, NoReturn

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
          'a dict {"full": (messages, dh), "minimal": (messages, dh)}: for each initiator the IKE messages and '
          "the sensor's Diffie-Hellman exchanges over the tunnel's life",
          "RFC 7296 2.8: a CHILD SA rekey is a CREATE_CHILD_SA exchange (no KE payload without PFS), then an "
          "INFORMATIONAL exchange deletes the old CHILD SA. RFC 7815: the minimal initiator starts no exchange but "
          "IKE_SA_INIT and IKE_AUTH; here its new IKE_AUTH says N(INITIAL_CONTACT), which lets the gateway drop "
          "the old IKE SA (RFC 7296 2.4). Count the renewals first (one per full hour), then what each costs.")
def _comments_renewal_cost(answer: Any, *, hours: float) -> str:
    from .figures_renewal import renewal_run

    runs = {"full": renewal_run(hours, minimal=False), "minimal": renewal_run(hours, minimal=True)}
    expected = {who: (run.count, run.diffie_hellman) for who, run in runs.items()}
    got = _renewal_answer(answer)
    if got == expected:
        full, minimal = runs["full"], runs["minimal"]
        return (f"in {hours:g} h, {full.renewals} renewals each: {full.count} and {minimal.count} IKE messages, "
                f"but {full.diffie_hellman} Diffie-Hellman exchange for the full initiator against "
                f"{minimal.diffie_hellman} (and as many authentications) for the minimal one.")
    if got["full"] == expected["minimal"] and got["minimal"] == expected["full"]:
        raise Wrong("the two are swapped: \"full\" is the initiator that rekeys, \"minimal\" the one that starts "
                    "over.")
    k = runs["full"].renewals
    who = next(w for w in ("full", "minimal") if got[w] != expected[w])
    (messages, dh), (right_messages, right_dh) = got[who], expected[who]
    if messages != right_messages:
        _renewal_messages_slip(who, messages, right_messages, k, hours)
    _renewal_dh_slip(who, dh, right_dh, k)


def _renewal_answer(answer: Any) -> dict[str, tuple[int, int]]:
    shape = 'a dict {"full": (messages, dh), "minimal": (messages, dh)}'
    if not isinstance(answer, dict):
        raise Wrong(f"the answer is {shape}, not {type(answer).__name__} ({_show(answer)}).")
    keys = {k.strip().lower() if isinstance(k, str) else k: v for k, v in answer.items()}
    if len(keys) < len(answer):  # "full" and "Full " both: which one is the answer?
        raise Wrong(f"the answer has two keys for one initiator ({_show(sorted(map(str, answer)))}): give \"full\" "
                    "and \"minimal\" once each.")
    if set(keys) != {"full", "minimal"}:
        raise Wrong(f"the answer is {shape}: its keys are \"full\" and \"minimal\", not "
                    f"{_show(sorted(map(str, answer)))}.")
    out = {}
    for who in ("full", "minimal"):
        value = keys[who]
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise Wrong(f"answer[{who!r}] is a pair (IKE messages, Diffie-Hellman exchanges), not {_show(value)}.")
        out[who] = (_want_int(value[0], f"the {who} initiator's messages"),
                    _want_int(value[1], f"the {who} initiator's Diffie-Hellman exchanges"))
    return out


def _renewal_messages_slip(who: str, value: int, right: int, k: int, hours: float) -> NoReturn:
    """Wrong naming why ``value`` is not the ``who`` initiator's message count (``k`` renewals of 4 messages)."""
    slips = [
        (right // 2, f"the {who} initiator's messages are right in exchanges; each exchange is two messages, a "
                     "request and a response."),
        (right - 4, f"the {who} initiator also set up the first IKE SA: IKE_SA_INIT and IKE_AUTH, four messages."),
        (right - 4, f"one renewal too few for the {who} initiator: the keys are renewed at the end of every full "
                    f"hour of the {hours:g} h."),
        (right + 4, f"one renewal too many for the {who} initiator: the tunnel ends after {hours:g} h, before the "
                    "next renewal."),
    ]
    if who == "full":
        slips.append((4 + 2 * k, "a rekey is not only the CREATE_CHILD_SA exchange: an INFORMATIONAL exchange then "
                                 "deletes the old CHILD SA (RFC 7296 2.8)."))
    else:
        slips.append((4 + 6 * k, "the minimal initiator sends no Delete: it starts no exchange but IKE_SA_INIT and "
                                 "IKE_AUTH (RFC 7815); here its new IKE_AUTH says N(INITIAL_CONTACT), which lets "
                                 "the gateway drop the old IKE SA (RFC 7296 2.4)."))
    _name_slips([message for slip, message in slips if slip == value])
    raise Wrong(f"not the {who} initiator's messages: count the renewals in {hours:g} h, then the messages one "
                "renewal takes (which exchanges?), then add the setup.")


def _renewal_dh_slip(who: str, value: int, right: int, k: int) -> NoReturn:
    """Wrong naming why ``value`` is not the ``who`` initiator's Diffie-Hellman count."""
    slips = [(2 * right, "count the sensor's Diffie-Hellman exchanges (one per pair of KE payloads), not both "
                         "peers' computations.")]
    if who == "full":
        slips += [(1 + k, "without PFS a CHILD SA rekey makes no Diffie-Hellman: its CREATE_CHILD_SA carries no KE "
                          "payload (RFC 7296 1.3.3, 2.17)."),
                  (0, "the first IKE SA's IKE_SA_INIT is a Diffie-Hellman exchange too (KEi, KEr).")]
    else:
        slips += [(k, "the first IKE SA's Diffie-Hellman counts too, not only the renewals'."),
                  (1, "every new IKE SA begins with its own IKE_SA_INIT, and so its own Diffie-Hellman.")]
    _name_slips([message for slip, message in slips if slip == value])
    raise Wrong(f"not the {who} initiator's Diffie-Hellman exchanges: which of its exchanges carry KE payloads?")
