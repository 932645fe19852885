"""MessageSent / MessageReceived summaries: made from the message when first read, then plain text.

The engine hands these events the message itself (ikelab.events.Unread); a driver that never reads
``event.summary`` never pays for the RFC 7296 notation.  Whoever reads it must see exactly the text an
eager summary gave, and the event must behave as a frozen dataclass holding that text.
"""

from __future__ import annotations

import dataclasses
import pickle
from unittest import mock

import pytest

from ikelab import events as ev
from ikelab import exchanges_wire
from ikelab.endpoint import IkeEndpoint
from ikelab.message import decode
from ikelab.rand import DeterministicRandom
from ikelab.state import State

from test_ike import configs

MESSAGE_EVENTS = (ev.MessageSent, ev.MessageReceived)


def handshake(seed: int = 3) -> tuple[list[ev.Event], list[ev.Event], list[bytes]]:
    """IKE_SA_INIT + IKE_AUTH between two endpoints; both sides' events (unread) and every datagram sent."""
    ci, cr = configs()
    a = IkeEndpoint(ci, DeterministicRandom(seed).fork("i"), "192.0.2.1")
    b = IkeEndpoint(cr, DeterministicRandom(seed).fork("r"), "192.0.2.2")
    sa = a.initiate(("192.0.2.2", 500), 0.0)
    wire: list[bytes] = []
    moved = True
    while moved:
        moved = False
        for src, dst in ((a, b), (b, a)):
            for d in src.pop_datagrams():
                wire.append(d.payload)
                dst.receive(d, 0.0)
                moved = True
    assert sa.state == State.ESTABLISHED
    return a.pop_events(), b.pop_events(), wire


def message_events(events: list[ev.Event]) -> list[ev.Event]:
    return [e for e in events if isinstance(e, MESSAGE_EVENTS)]


def test_each_summary_is_the_text_of_the_message_it_reports() -> None:
    events_i, events_r, wire = handshake()
    sent_i = [e for e in events_i if isinstance(e, ev.MessageSent)]
    sent_r = [e for e in events_r if isinstance(e, ev.MessageSent)]
    got_i = [e for e in events_i if isinstance(e, ev.MessageReceived)]
    got_r = [e for e in events_r if isinstance(e, ev.MessageReceived)]
    # what one side sent is what the other received, message for message
    assert [e.summary for e in sent_i] == [e.summary for e in got_r]
    assert [e.summary for e in sent_r] == [e.summary for e in got_i]
    # IKE_SA_INIT travels in the clear: its text follows from the datagram alone
    assert sent_i[0].summary == decode(wire[0]).summary()
    assert sent_r[0].summary == decode(wire[1]).summary()
    assert sent_i[0].summary.startswith("HDR, SAi1, KEi, Ni, N(NAT_DETECTION_SOURCE_IP)")
    assert sent_i[1].summary.startswith("HDR, SK {IDi, AUTH, SAi2, TSi, TSr")
    assert sent_r[1].summary.startswith("HDR, SK {IDr, AUTH, SAr2, TSi, TSr")
    for e in message_events(events_i + events_r):
        assert type(e.summary) is str


def test_a_summary_is_made_only_when_read_and_only_once() -> None:
    with mock.patch.object(exchanges_wire, "summary", wraps=exchanges_wire.summary) as made:
        events_i, events_r, _ = handshake()
        unread = message_events(events_i + events_r)
        before = made.call_count
        assert before < len(unread)  # a driver that drops its events pays for (at most) the cached responses
        texts = [e.summary for e in unread]
        after = made.call_count
        assert after > before
        assert [e.summary for e in unread] == texts
        assert made.call_count == after  # read again: kept, not made again


def test_an_event_with_an_unread_summary_behaves_as_a_frozen_dataclass_of_text() -> None:
    events_i, _, _ = handshake()
    sent = next(e for e in events_i if isinstance(e, ev.MessageSent) and e.exchange == "IKE_AUTH")
    fresh = next(e for e in handshake()[0] if isinstance(e, ev.MessageSent) and e.exchange == "IKE_AUTH")
    assert fresh == sent and hash(fresh) == hash(sent)  # equality and hash read the text (same seed, same text)
    assert sent.summary in repr(sent)
    assert dataclasses.replace(sent, size=1).summary == sent.summary
    assert dataclasses.asdict(sent)["summary"] == sent.summary
    unread = next(e for e in handshake()[0] if isinstance(e, ev.MessageSent) and e.exchange == "IKE_AUTH")
    assert pickle.loads(pickle.dumps(unread)) == sent
    with pytest.raises(dataclasses.FrozenInstanceError):
        sent.summary = "HDR"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del sent.summary  # type: ignore[misc]


def test_a_summary_given_by_hand_is_kept_as_given() -> None:
    made = ev.MessageSent(0.0, "initiator", "IKE_SA_INIT", 0, False, "HDR, SAi1, KEi, Ni", 312)
    assert made.summary == "HDR, SAi1, KEi, Ni"
    assert ev.MessageReceived(0.0, "responder", "INFORMATIONAL", 2, True, "", 80).summary == ""
    with pytest.raises(TypeError):
        ev.MessageSent(0.0, "initiator", "IKE_SA_INIT", 0, False)  # still a required field
