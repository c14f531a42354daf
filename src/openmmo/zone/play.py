"""The world and the game running in it: the one part of a zone server that changes the world.

How it works. Everything that changes the world happens in the tick, through this part:
characters enter (a finished join) as requests applied at the start of the tick
(:meth:`Play.begin_tick`); then the tick's inputs go through :func:`openmmo.sim.step.step`
(:meth:`Play.step`); then characters leave (a disconnect, a kick, a transfer), as requests
applied after the step (:meth:`Play.apply_leaves`), so a client's last inputs count. Code
outside the tick — a join task that finished loading, a socket callback, a bus message — only
files a request; a task that needs the result (a takeover, a transfer) awaits the future the
request returns. A new
game version from a hot reload is swapped in the same way, between two ticks.

After each step the hook runner's reports become log lines (with hook, game, entity and
traceback; at most one per hook per second) and the ``openmmo_game_hook_*`` metrics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from openmmo.checkpoints import HotCheckpoint
from openmmo.clock import Clock
from openmmo.logs import get_logger
from openmmo.metrics import GAME_HOOK_ERRORS, GAME_HOOK_SECONDS, GAME_HOOKS_DISABLED
from openmmo.protocol.codes import CloseCode, ErrorCode
from openmmo.protocol.server import Joined
from openmmo.protocol.session import Event, Phase
from openmmo.sim import step as sim_step
from openmmo.sim.declare import Game
from openmmo.sim.schema import CharacterState
from openmmo.sim.world import World
from openmmo.storage import CharacterProgress
from openmmo.zone.checkpoint import Checkpointer
from openmmo.zone.session import Session
from openmmo.zone.sessions import Sessions

log = get_logger("openmmo.zone")

HOOK_LOG_INTERVAL_S = 1.0  # a hook that fails every tick is logged once a second


@dataclass(frozen=True, slots=True)
class Loaded:
    """A character ready to enter the world, under the ownership its join acquired."""

    character_id: int
    name: str
    state: CharacterState
    epoch: int
    version: int
    inventory: dict[str, int]


@dataclass(slots=True)
class _Enter:
    session: Session
    loaded: Loaded
    seq: int | None  # the join_game's; None for a failed transfer coming back


@dataclass(slots=True)
class _Leave:
    session: Session
    save: bool
    done: asyncio.Future[CharacterState | None] | None


class Play:
    def __init__(
        self,
        world: World,
        *,
        sessions: Sessions,
        checkpointer: Checkpointer,
        clock: Clock,
        server_id: str,
        zone_info: Callable[[], dict[str, Any]],
    ):
        self.world = world
        self.sessions = sessions
        self.checkpointer = checkpointer
        self.clock = clock
        self.server_id = server_id
        self.zone_info = zone_info
        self.label = world.spec.name
        self._enters: list[_Enter] = []
        self._leaves: list[_Leave] = []
        self._items: list[sim_step.ItemInput] = []
        self._next_game: Game | None = None
        self._logged_at: dict[str, float] = {}

    @property
    def game(self) -> Game:
        return self.world.game

    # --- requests from outside the tick ---------------------------------------------------
    def request_enter(self, session: Session, loaded: Loaded, seq: int | None) -> None:
        self._enters.append(_Enter(session, loaded, seq))

    def request_leave(
        self, session: Session, *, save: bool = True
    ) -> asyncio.Future[CharacterState | None]:
        """Take the session's character out at the next tick; the future gets what was
        taken out (None if it was not in the world)."""
        done: asyncio.Future[CharacterState | None] = asyncio.get_running_loop().create_future()
        self._leaves.append(_Leave(session, save, done))
        return done

    def request_leave_nowait(self, session: Session, *, save: bool = True) -> None:
        """:meth:`request_leave` for callers that need no answer (socket callbacks)."""
        self._leaves.append(_Leave(session, save, None))

    def request_item_use(self, action: sim_step.ItemInput) -> None:
        self._items.append(action)

    def swap_game(self, game: Game) -> None:
        """Run ``game`` from the next tick on (hot reload)."""
        self._next_game = game

    def begin_tick(self) -> None:
        """Start of the tick: a new game swapped in, finished joins put in."""
        if self._next_game is not None:
            self.world.use_game(self._next_game)
            self.world.hooks.enable_all()
            self._next_game = None
        enters, self._enters = self._enters, []
        for entering in enters:
            self._enter_or_release(entering)

    def apply_leaves(self) -> None:
        """After the step: characters whose sessions ended are taken out. After, so that
        the inputs a client sent before it left (a last move) are applied and saved."""
        leaves, self._leaves = self._leaves, []
        for request in leaves:
            state = self.leave(request.session, save=request.save)
            if request.done is not None and not request.done.done():
                request.done.set_result(state)

    # --- entering and leaving (in the tick) -----------------------------------------------
    def _enter_or_release(self, request: _Enter) -> None:
        session, loaded = request.session, request.loaded
        if session.phase not in (Phase.JOINING, Phase.TRANSFERRING):
            self.release(loaded)  # the connection went away while loading
            return
        if loaded.character_id in self.sessions.players:  # joined by another connection
            self.release(loaded)
            self.sessions.refuse(
                session,
                ErrorCode.CHARACTER_BUSY,
                "the character joined meanwhile",
                request.seq,
                CloseCode.SESSION_REPLACED,
            )
            return
        self.enter(session, loaded)
        if request.seq is not None:
            self.sessions.send(session, self.joined(session, request.seq, loaded.inventory))
            log.info(
                "player_joined",
                zone=self.label,
                account_id=session.account_id,
                character_id=session.character_id,
                remote=session.transport.remote,
                players=len(self.sessions.players),
                epoch=loaded.epoch,
            )

    def enter(self, session: Session, loaded: Loaded) -> None:
        world = self.world
        state = loaded.state
        if state.zone_id != world.spec.zone_id:
            state = state.placed(world.spec.zone_id, *world.spec.spawn_point(world.rng))
        actor = sim_step.enter(
            world, loaded.character_id, loaded.name, state, self.clock.monotonic()
        )
        session.actor = actor
        session.character_id = loaded.character_id
        session.epoch = loaded.epoch
        session.progress_version = loaded.version
        session.apply(Event.ENTERED)
        session.unacked = True
        self.sessions.bind(loaded.character_id, session)

    def leave(self, session: Session, *, save: bool = True) -> CharacterState | None:
        """Take the session's character out of the world (``on_leave`` runs); unless
        ``save`` is false, stage its progress to be saved and released."""
        character_id = session.character_id
        if character_id is None or self.sessions.players.get(character_id) is not session:
            return None
        state = sim_step.leave(self.world, character_id)
        self.sessions.unbind(character_id, session)
        session.actor = None
        log.info(
            "player_left",
            zone=self.label,
            account_id=session.account_id,
            character_id=character_id,
            players=len(self.sessions.players),
        )
        if save:
            self.checkpointer.stage(self.progress(session, state, release=True))
            self.checkpointer.request_flush()
        return state

    def release(self, loaded: Loaded) -> None:
        """Give back a character we acquired but will not play."""
        self.checkpointer.stage(
            CharacterProgress(
                loaded.character_id,
                loaded.state,
                version=loaded.version,
                epoch=loaded.epoch,
                release=True,
            )
        )
        self.checkpointer.request_flush()

    def progress(
        self, session: Session, state: CharacterState, *, release: bool = False
    ) -> CharacterProgress:
        """``state`` as the session's next save (a new version, fenced by its epoch)."""
        assert session.character_id is not None
        session.progress_version += 1
        return CharacterProgress(
            session.character_id,
            state,
            version=session.progress_version,
            epoch=session.epoch,
            release=release,
        )

    def state_of(self, session: Session) -> CharacterState:
        assert session.character_id is not None
        return self.world.character_state(session.character_id)

    def online_progress(self) -> list[CharacterProgress]:
        """The current state of every character in the world, for a durable save."""
        return [self.progress(s, self.state_of(s)) for s in self.sessions.players.values()]

    def online_checkpoints(self) -> list[HotCheckpoint]:
        """The current state of every character in the world, for a hot checkpoint (once a
        second for every player, on the event loop: one pass, no intermediate records)."""
        world = self.world
        checkpoints = []
        for character_id, session in self.sessions.players.items():
            session.progress_version += 1
            state = world.character_state(character_id)
            checkpoints.append(
                HotCheckpoint(character_id, session.epoch, session.progress_version, state)
            )
        return checkpoints

    def joined(self, session: Session, seq: int, inventory: dict[str, int]) -> Joined:
        assert session.actor is not None and session.character_id is not None
        world, actor = self.world, session.actor
        slot = actor.slot
        session.delta_base = None  # a fresh view: the first v2 snapshot is a keyframe
        return Joined(
            seq=seq,
            entity_id=session.character_id,
            character={
                "character_id": session.character_id,
                "name": actor.name,
                "level": int(world.level[slot]),
                "xp": actor.xp,
                "hp": int(world.hp[slot]),
                "hp_max": int(world.hp_max[slot]),
                "x": round(float(world.x[slot]), 2),
                "y": round(float(world.y[slot]), 2),
                "class": actor.stats.get("class"),
                "stats": world.schema.owner_view(actor.stats),
            },
            inventory=inventory,
            zone=self.zone_info(),
            channel_id=self.server_id,
            tick=world.tick,
        )

    # --- the step ---------------------------------------------------------------------------
    def step(self, inputs: sim_step.Inputs, now: float, dt: float) -> sim_step.StepResult:
        items, self._items = self._items, []
        inputs.actions.extend(items)
        result = sim_step.step(self.world, inputs, now, dt)
        self._report_hooks(now)
        return result

    def _report_hooks(self, now: float) -> None:
        for report in self.world.hooks.drain():
            for hook, count in report.error_counts.items():
                GAME_HOOK_ERRORS.labels(self.label, hook).inc(count)
            for hook, seconds in report.seconds.items():
                GAME_HOOK_SECONDS.labels(self.label, hook).observe(seconds)
            for failure in report.failures:
                if now - self._logged_at.get(failure.hook, -1e9) < HOOK_LOG_INTERVAL_S:
                    continue
                self._logged_at[failure.hook] = now
                log.error(
                    "game_hook_failed",
                    zone=self.label,
                    hook=failure.hook,
                    game=failure.game,
                    entity_id=failure.entity_id,
                    error=failure.error,
                    traceback=failure.traceback,
                    failures_this_tick=report.error_counts[failure.hook],
                )
            for disabled in report.disabled:
                GAME_HOOKS_DISABLED.labels(self.label, disabled.hook).inc()
                log.error(
                    "game_hook_disabled",
                    zone=self.label,
                    hook=disabled.hook,
                    game=disabled.game,
                    reason=disabled.reason,
                )

    def configure_hooks(self, *, budget_s: float, max_overruns: int, window_ticks: int) -> None:
        self.world.hooks.configure(
            budget_s=budget_s, max_overruns=max_overruns, window_ticks=window_ticks
        )
