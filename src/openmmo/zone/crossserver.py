"""What a zone server does with messages from other servers (:mod:`openmmo.bus`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openmmo.bus import Envelope, Kind
from openmmo.metrics import BUS_MESSAGES
from openmmo.protocol.codes import CloseCode, ErrorCode
from openmmo.protocol.snapshot import WireEvent

if TYPE_CHECKING:
    from openmmo.zone.runtime import ZoneRuntime


def chat_event(payload: dict[str, object], channel: str) -> WireEvent:
    return WireEvent(
        {
            "type": "chat",
            "channel": channel,
            "from": payload["from"],
            "name": payload["name"],
            "message": payload["message"],
            "time_ms": payload["time_ms"],
        }
    )


def handle(rt: ZoneRuntime, envelope: Envelope) -> None:
    BUS_MESSAGES.labels("in", envelope.kind.value).inc()
    payload = envelope.payload
    if envelope.kind is Kind.CHAT:
        event = chat_event(payload, "global")
        for session in rt.players.values():
            session.push_event(event)
    elif envelope.kind is Kind.WHISPER:
        target = rt.players.get(int(payload.get("to", -1)))
        if target is not None:
            target.push_event(chat_event(payload, "whisper"))
    elif envelope.kind is Kind.ANNOUNCE:
        event = WireEvent({"type": "announce", "message": str(payload.get("message", ""))})
        for session in rt.players.values():
            session.push_event(event)
    elif envelope.kind is Kind.KICK:
        _kick(rt, payload)
    elif envelope.kind is Kind.HANDOFF:
        expires = rt.clock.time() + rt.tokens.ticket_ttl_s
        rt.expected[str(payload["transfer_id"])] = (int(payload["character_id"]), expires)


def _kick(rt: ZoneRuntime, payload: dict[str, object]) -> None:
    """Save, release and disconnect a character (another server wants it) or every session of
    an account (it was banned)."""
    if payload.get("reason") == "banned":
        for banned in [
            s for s in rt.sessions.values() if s.account_id == payload.get("account_id")
        ]:
            rt.leave_world(banned)
            rt.refuse(
                banned, ErrorCode.BANNED, "this account was banned", None, CloseCode.FORBIDDEN
            )
        return
    session = rt.players.get(int(str(payload.get("character_id", -1))))
    if session is not None:
        rt.send(
            session,
            {
                "type": "notice",
                "code": "session_replaced",
                "message": "this character joined from another connection",
            },
        )
        rt.leave_world(session)
        session.close(CloseCode.SESSION_REPLACED, "session replaced")
        rt.disconnects[CloseCode.SESSION_REPLACED] += 1
