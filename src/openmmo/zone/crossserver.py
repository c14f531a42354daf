"""What a zone server does with messages from other servers (:mod:`openmmo.bus`).

Bus callbacks run outside the tick, so they only deliver events, hold seats, and file leave
requests; the tick takes the characters out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from openmmo.bus import Envelope, Kind
from openmmo.metrics import BUS_MESSAGES
from openmmo.protocol.codes import CloseCode, ErrorCode
from openmmo.protocol.server import SESSION_REPLACED_HERE
from openmmo.replication.events import announce_event, chat_event

if TYPE_CHECKING:
    from openmmo.zone.runtime import ZoneRuntime
    from openmmo.zone.session import Session


def handle(rt: ZoneRuntime, envelope: Envelope) -> None:
    BUS_MESSAGES.labels("in", envelope.kind.value).inc()
    payload = envelope.payload
    sessions = rt.sessions
    if envelope.kind in (Kind.CHAT, Kind.WHISPER):
        event = chat_event(
            "global" if envelope.kind is Kind.CHAT else "whisper",
            int(str(payload["from"])),
            str(payload["name"]),
            str(payload["message"]),
            int(str(payload["time_ms"])),
            str(payload.get("region") or rt.config.region),
        )
        if envelope.kind is Kind.CHAT:
            rt.replicator.broadcast(event)
        else:
            target = _recipient(rt, payload)
            if target is not None:
                target.push_event(event)
    elif envelope.kind is Kind.ANNOUNCE:
        rt.replicator.broadcast(announce_event(str(payload.get("message", ""))))
    elif envelope.kind is Kind.KICK:
        _kick(rt, payload)
    elif envelope.kind is Kind.HANDOFF:
        expires = rt.clock.time() + rt.tokens.ticket_ttl_s
        sessions.hold_seat(str(payload["transfer_id"]), int(str(payload["character_id"])), expires)


def _recipient(rt: ZoneRuntime, payload: dict[str, object]) -> Session | None:
    """A whisper's recipient: by id (sent here by the database's owner) or by name (by the
    bus's player routes, maybe from another region)."""
    players = rt.sessions.players
    if "to" in payload:
        return players.get(int(str(payload["to"])))
    name = str(payload.get("to_name", "")).lower()
    return next(
        (s for s in players.values() if s.actor is not None and s.actor.name.lower() == name),
        None,
    )


def _kick(rt: ZoneRuntime, payload: dict[str, object]) -> None:
    """Save, release and disconnect a character (another server wants it) or every session of
    an account (it was banned)."""
    sessions = rt.sessions
    if payload.get("reason") == "banned":
        account_id = payload.get("account_id")
        for banned in [s for s in sessions.connections.values() if s.account_id == account_id]:
            rt.play.request_leave_nowait(banned)
            sessions.refuse(
                banned, ErrorCode.BANNED, "this account was banned", None, CloseCode.FORBIDDEN
            )
        return
    session = sessions.players.get(int(str(payload.get("character_id", -1))))
    if session is None:
        return
    rt.play.request_leave_nowait(session)
    if payload.get("reason") == "kicked":  # by an operator: the client must not come back
        sessions.refuse(
            session, ErrorCode.KICKED, "kicked by an operator", None, CloseCode.FORBIDDEN
        )
    else:
        sessions.replace(session, SESSION_REPLACED_HERE)
