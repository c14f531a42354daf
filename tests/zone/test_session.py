"""The session's event queue: bounded, dropping the oldest."""

from openmmo.protocol.codes import Encoding, Limits
from openmmo.protocol.snapshot import WireEvent
from openmmo.testing import RecordingTransport
from openmmo.zone.session import MAX_PENDING_EVENTS, Session, push_event_to


def session(n):
    return Session(n, RecordingTransport(), Encoding.MSGPACK, Limits(), 0.0)


def test_an_audience_gets_each_event_and_a_full_queue_drops_its_oldest():
    crowd = [session(1), session(2)]
    events = [WireEvent({"type": "chat", "message": str(i)}) for i in range(MAX_PENDING_EVENTS + 5)]
    for event in events[:3]:
        crowd[0].push_event(event)
    for event in events:
        push_event_to(crowd, event)
    assert crowd[1].events == events[5:]  # the 5 oldest were dropped
    assert crowd[0].events == events[5:]  # ...and the 3 it had before them
    assert len(crowd[0].events) == MAX_PENDING_EVENTS
