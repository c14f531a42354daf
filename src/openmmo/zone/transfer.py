"""Transfers: walking through a portal, or switching channel, moves a character to another
zone server.

How it works. The tick notices a player standing in a portal (after the step's moves and the
game's ``on_portal``), or handles a ``switch_channel``. The source picks the target channel
from the directory (least loaded, ready, not this one for a channel switch) and takes the
character out of its world at the next tick. Then, in one
database transaction, it saves the character already placed at the arrival point, releases
ownership and records the transfer (:meth:`Storage.begin_transfer`). Only after that commits
does it sign a join ticket naming the transfer, send it to the client in a ``transfer``
message and close the connection (4007). The target claims the transfer when the client
joins with that ticket — once only, in the same transaction that makes it the owner.

Why nothing is lost or doubled when the source dies at any point: before the commit the
database still has the character owned by the source in the source zone (its newest progress
in the hot checkpoint), and once the source's lease runs out any channel of that zone can
take it; after the commit the character is free and placed in the target zone, and a plain
rejoin through the gateway lands there. Items live only in the database, changed in their own
transactions, so a transfer never copies them.

Traced as ``zone.transfer``, a trace of its own (linked to the trace the player's ticket
came with): the transfer ticket carries its context, so the target's ``zone.join`` continues
the same trace.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import TYPE_CHECKING

from opentelemetry.context import Context

from openmmo.bus import BusUnavailable, Kind
from openmmo.directory import ChannelInfo, DirectoryUnavailable, choose_channel
from openmmo.logs import get_logger
from openmmo.metrics import TRANSFERS
from openmmo.protocol.codes import CloseCode, ErrorCode
from openmmo.protocol.messages import SwitchChannel
from openmmo.protocol.server import SESSION_REPLACED_ELSEWHERE, Transfer
from openmmo.protocol.session import Event, Phase
from openmmo.sim.declare import Portal
from openmmo.storage import NotOwner, StorageUnavailable, TransferRecord
from openmmo.tracing import annotate, current_traceparent, link_to, record_error, span
from openmmo.zone.play import Loaded
from openmmo.zone.session import Session

if TYPE_CHECKING:
    from openmmo.zone.runtime import ZoneRuntime

log = get_logger("openmmo.zone.transfer")

RETRY_AFTER_S = 3.0  # after a failed transfer, the portal rests this long


def through_portal(rt: ZoneRuntime, session: Session, portal: Portal, now: float) -> None:
    """The step found the player inside ``portal`` (and the game let it pass)."""
    if session.playing and now >= session.next_transfer_at:
        start(rt, session, portal.target_zone, (portal.arrival_x, portal.arrival_y), None, None)


def on_switch_channel(rt: ZoneRuntime, session: Session, msg: SwitchChannel, now: float) -> None:
    assert session.actor is not None
    if not session.playing:  # a second request in the same tick, or the session ended
        rt.sessions.send_error(session, ErrorCode.TRANSFERRING, "already on the way", msg.seq)
        return
    if rt.play.world.is_dead(session.actor.slot):
        rt.sessions.send_error(session, ErrorCode.YOU_ARE_DEAD, "wait for your respawn", msg.seq)
        return
    start(rt, session, rt.spec.zone_id, None, msg.channel_id, msg.seq)


def start(
    rt: ZoneRuntime,
    session: Session,
    zone_id: int,
    arrival: tuple[float, float] | None,
    channel_id: str | None,
    seq: int | None,
) -> None:
    session.apply(Event.TRANSFER)
    rt.spawn(_transfer(rt, session, zone_id, arrival, channel_id, seq))


async def move(rt: ZoneRuntime, session: Session, channel: ChannelInfo) -> None:
    """Transfer a player to ``channel`` of this zone now (a drain: the caller read the
    directory once for all its players), awaited by the caller."""
    session.apply(Event.TRANSFER)
    await _transfer(rt, session, rt.spec.zone_id, None, channel.server_id, None, channel)


def _pick(
    rt: ZoneRuntime, channels: list[ChannelInfo], zone_id: int, channel_id: str | None
) -> ChannelInfo | None:
    now = rt.clock.time()
    others = [c for c in channels if c.server_id != rt.config.server_id]
    if channel_id is not None:
        others = [c for c in others if c.server_id == channel_id]
    return choose_channel(others, zone_id, now)


async def _transfer(
    rt: ZoneRuntime,
    session: Session,
    zone_id: int,
    arrival: tuple[float, float] | None,
    channel_id: str | None,
    seq: int | None,
    chosen: ChannelInfo | None = None,
) -> None:
    reason = (
        "portal" if arrival is not None else "drain" if chosen is not None else "switch_channel"
    )
    with span(
        "zone.transfer",
        parent=Context(),  # a trace of its own: a session's join may be hours old
        links=link_to(session.traceparent),
        zone_id=rt.spec.zone_id,
        channel_id=rt.config.server_id,
        account_id=session.account_id,
        character_id=session.character_id,
        transfer_reason=reason,
        to_zone_id=zone_id,
    ):
        await _transfer_traced(rt, session, zone_id, arrival, channel_id, seq, chosen)


async def _transfer_traced(
    rt: ZoneRuntime,
    session: Session,
    zone_id: int,
    arrival: tuple[float, float] | None,
    channel_id: str | None,
    seq: int | None,
    chosen: ChannelInfo | None,
) -> None:
    label = rt.play.label
    channel = chosen
    if channel is None:
        try:
            channel = _pick(rt, await rt.directory.channels(), zone_id, channel_id)
        except DirectoryUnavailable:
            channel = None
    if session.phase is not Phase.TRANSFERRING:
        annotate(outcome="left")
        return  # the player left meanwhile; leaving saved them
    if channel is None:
        TRANSFERS.labels(label, "out", "no_channel").inc()
        record_error(ErrorCode.NO_CHANNEL_AVAILABLE, f"no channel of zone {zone_id}")
        log.info("transfer_no_channel", character_id=session.character_id, to_zone=zone_id)
        _abort(
            rt,
            session,
            ErrorCode.NO_CHANNEL_AVAILABLE,
            f"no channel of zone {zone_id} can take you now",
            seq,
        )
        return
    assert session.character_id is not None and session.actor is not None
    cid, name = session.character_id, session.actor.name
    here = await rt.play.request_leave(session, save=False)
    if here is None:
        annotate(outcome="left")
        return  # gone before the tick took it out; leaving saved it
    x, y = arrival if arrival is not None else (here.x, here.y)
    progress = rt.play.progress(session, here.placed(zone_id, x, y), release=True)
    staying = Loaded(cid, name, here, progress.epoch, progress.version, {})
    transfer_id = secrets.token_hex(8)
    annotate(transfer_id=transfer_id, to_channel_id=channel.server_id)
    record = TransferRecord(transfer_id, cid, rt.config.server_id, zone_id, channel.server_id)
    try:
        await rt.storage.begin_transfer(progress, rt.config.server_id, record, rt.clock.time())
    except NotOwner:
        TRANSFERS.labels(label, "out", "not_owner").inc()
        record_error("not_owner", "another server owns the character")
        rt.sessions.replace(session, SESSION_REPLACED_ELSEWHERE)
        return
    except StorageUnavailable:
        TRANSFERS.labels(label, "out", "unavailable").inc()
        record_error(ErrorCode.UNAVAILABLE, "storage is unavailable")
        if session.phase is Phase.TRANSFERRING:
            rt.play.request_enter(session, staying, None)
        else:  # gone while we tried: save it where it stands
            rt.play.release(staying)
        _abort(rt, session, ErrorCode.UNAVAILABLE, "transfers are unavailable; retry", seq)
        return
    TRANSFERS.labels(label, "out", "ok").inc()
    with contextlib.suppress(
        BusUnavailable
    ):  # only a seat reservation; the transfer itself is in the database
        await rt.bus.send(
            channel.server_id,
            Kind.HANDOFF,
            {"transfer_id": transfer_id, "character_id": cid},
            rt.config.server_id,
        )
    assert session.account_id is not None
    ticket = rt.tokens.issue_join_ticket(
        session.account_id,
        session.username,
        zone_id,
        channel.server_id,
        cid,
        transfer_id,
        traceparent=current_traceparent(),
    )
    rt.sessions.send(session, Transfer(zone_id, channel.server_id, channel.ws_url, ticket, seq))
    rt.sessions.close(session, CloseCode.TRANSFERRED, "transferred")
    log.info(
        "transfer_started",
        character_id=cid,
        transfer_id=transfer_id,
        to_zone=zone_id,
        to_server=channel.server_id,
    )


def _abort(
    rt: ZoneRuntime, session: Session, code: ErrorCode, message: str, seq: int | None
) -> None:
    """Back in play (at once if the character never left the world; a character that left
    comes back at the next tick, as its enter request says)."""
    if session.phase is Phase.TRANSFERRING and session.actor is not None:
        session.apply(Event.TRANSFER_FAILED)
    session.next_transfer_at = rt.clock.monotonic() + RETRY_AFTER_S
    rt.sessions.send_error(session, code, message, seq)
