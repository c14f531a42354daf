"""One bot: logs in over HTTP, joins a zone over WebSocket, and plays like the seed's k6 script
(move at 10 Hz, chat every 5 s, attack every 2 s), measuring every action's time to ack.

Lean on purpose, so one core drives thousands of bots: a msgpack snapshot is not decoded to
read its ``ack`` (it sits at a fixed offset of the server's snapshot prefix) and its entity
records are only parsed when the bot needs them (to pick a target, or to correct its own
position about once a second). On protocol v2 the deltas wait, undecoded, until then and are
applied in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import time
from collections import deque
from typing import Any

import httpx
import msgpack
import numpy as np
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from openmmo.client.resume import Backoff, should_resume
from openmmo.loadtest.scenario import LATENCIES, Scenario
from openmmo.loadtest.stats import Histogram
from openmmo.protocol.codes import Encoding, offer
from openmmo.protocol.delta import DeltaError, DeltaView
from openmmo.protocol.snapshot import ENTITY_DTYPE, FLAG_DEAD, TickPrefix

# Game-rule refusals are the game working as intended (a target walked away, a skill is
# cooling down), not failures of the server.
GAME_REJECTIONS = frozenset(
    {
        "cooldown",
        "out_of_range",
        "target_dead",
        "invalid_target",
        "you_are_dead",
        "pvp_disabled",
        "transferring",
    }
)
ATTACK_SKILL = 2  # arrow: range 24, cooldown 1.5 s
ATTACK_REACH = 20.0
_PREFIX = TickPrefix.build(0, 0).msgpack
_ACK_AT = len(_PREFIX) + 1  # after the 0xce marker of the uint32 ack
_SNAPSHOT_HEAD = _PREFIX[1 : _PREFIX.index(b"tick") + 4]  # after the map header (v2 varies)
MAX_WAITING_DELTAS = 64  # v2 deltas kept undecoded before they are applied anyway


RESUME_DEADLINE_S = 60.0  # a bot not back in play by then counts a resume_failed
SILENCE_S = 3.0  # a server silent this long while playing (snapshots come at 10 Hz) is gone


class GrantRefused(RuntimeError):
    """The gateway gave no join ticket (counted as an http failure where it happened)."""

    def __init__(self, status: int, retry_after_s: float | None):
        super().__init__(f"no join grant: {status}")
        self.status = status
        self.retry_after_s = retry_after_s


class BotStats:
    """Numbers of one worker for one reporting interval."""

    def __init__(self) -> None:
        self.latency: dict[str, Histogram] = {name: Histogram() for name in LATENCIES}
        self.requests = 0  # everything that can fail: HTTP calls, connects, actions
        self.failures: dict[str, int] = {}
        self.sent: dict[str, int] = {}
        self.rejections = 0
        self.snapshots = 0
        self.reconnects = 0  # drops a bot came back from (same account, same character)
        self.drops: dict[str, int] = {}  # close codes that ended a connection, by code
        self.bytes_in = 0  # every game message received (WebSocket payloads)

    def fail(self, kind: str) -> None:
        self.failures[kind] = self.failures.get(kind, 0) + 1

    def to_wire(self) -> dict[str, Any]:
        return {
            "latency": {k: v.to_wire() for k, v in self.latency.items()},
            "requests": self.requests,
            "failures": self.failures,
            "sent": self.sent,
            "rejections": self.rejections,
            "snapshots": self.snapshots,
            "reconnects": self.reconnects,
            "drops": self.drops,
            "bytes_in": self.bytes_in,
        }


class _Listener(WSListener):
    def __init__(self, bot: Bot):
        self.bot = bot

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self.bot.stats.bytes_in += frame.payload_size
        if frame.msg_type is WSMsgType.BINARY:
            self.bot.on_binary(frame.get_payload_as_bytes())
        elif frame.msg_type is WSMsgType.TEXT:
            self.bot.on_message(json.loads(frame.get_payload_as_bytes()))
        elif frame.msg_type is WSMsgType.CLOSE:
            self.bot.closed(frame.get_close_code().value)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.bot.closed(None)


class Bot:
    def __init__(
        self,
        index: int,
        scenario: Scenario,
        stats_ref: list[BotStats],
        http: httpx.AsyncClient,
        rng: random.Random,
    ):
        self.index = index
        self.scenario = scenario
        self._stats = stats_ref  # a one-element list: the worker swaps in a fresh BotStats
        self.http = http
        self.rng = rng
        self.transport: WSTransport | None = None
        self.seq = 0
        self.moves: deque[tuple[int, float]] = deque()
        self.pending: dict[int, tuple[str, float]] = {}
        self.raw_snapshot: bytes | dict[str, Any] | None = None
        self.view: DeltaView | None = None  # v2: the view, as of the deltas applied
        self.deltas: list[bytes] = []  # v2: received, not yet applied
        self.entity_id = 0
        self.x = self.y = 0.0
        self.home = (0.0, 0.0)
        self.zone: dict[str, Any] = {}
        self.joined = asyncio.Event()
        self.welcome = asyncio.Event()
        self.ended = asyncio.Event()
        self.close_code: int | None = None
        self.stopping = False
        self.heading = rng.uniform(0, math.tau)
        self.token = ""
        self.channel = ""  # the channel of the last grant or transfer
        self.transfer: dict[str, Any] | None = None  # the last `transfer` message
        self.join_seq = 0
        self.join_error: str | None = None
        self.join_refused = asyncio.Event()
        self.last_message_at = time.monotonic()
        self.backoff = Backoff(rng=rng)

    @property
    def stats(self) -> BotStats:
        return self._stats[0]

    # --- HTTP -----------------------------------------------------------------------------
    async def _http(
        self, method: str, path: str, body: dict[str, Any], token: str | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        started = time.perf_counter()
        self.stats.requests += 1
        try:
            response = await self.http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError:
            self.stats.fail("http_transport")
            raise
        self.stats.latency["http_req_duration"].record((time.perf_counter() - started) * 1000)
        return response

    async def _login(self) -> str:
        name = f"lt{self.scenario.run_id}{self.index:07d}"
        if self.scenario.login == "device":
            response = await self._http("POST", "/auth/device", {"device_id": f"dev-{name}"})
        else:
            credentials = {"username": name, "password": "loadtest-password"}
            response = await self._http("POST", "/auth/register", credentials)
            if response.status_code == 409:
                response = await self._http("POST", "/auth/login", credentials)
            if response.status_code in (200, 201) and not await self._has_character(
                response.json()["token"]
            ):
                await self._http(
                    "POST", "/api/characters", {"name": f"B{name[-14:]}"}, response.json()["token"]
                )
        if response.status_code not in (200, 201):
            self.stats.fail(f"http_{response.status_code}")
            raise RuntimeError(f"login failed: {response.status_code}")
        token: str = response.json()["token"]
        return token

    async def _has_character(self, token: str) -> bool:
        response = await self._http("GET", "/api/characters", {}, token)
        return response.status_code == 200 and bool(response.json()["characters"])

    # --- play -----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Play until ``stop``. A dropped connection is resumed — same account, same
        character — as every client should (openmmo.client.resume): the transfer is
        followed, otherwise a new ticket is asked for, with jittered backoff."""
        try:
            self.token = await self._login()
            await self._connect(await self._grant(f"/api/zones/{self.scenario.zone}/join"))
            while True:
                await self._play(stop)
                if stop.is_set() or self.stopping:
                    return
                code = self.close_code
                self.stats.drops[str(code)] = self.stats.drops.get(str(code), 0) + 1
                if not should_resume(code):
                    self.stats.fail(f"closed_{code}")
                    return
                dropped_at = time.perf_counter()
                if not await self._resume(stop):
                    return
                self.stats.reconnects += 1
                self.stats.latency["back_in_play"].record((time.perf_counter() - dropped_at) * 1000)
        except (OSError, RuntimeError, TimeoutError, httpx.HTTPError, KeyError, ValueError):
            pass  # already counted as a failure where it happened
        finally:
            self.stopping = True
            if self.transport is not None and not self.ended.is_set():
                self.transport.send_close(WSCloseCode.OK)
                self.transport.disconnect()

    async def _resume(self, stop: asyncio.Event) -> bool:
        """Back in play after a drop, or False (counted) when it could not be done in time."""
        transfer, self.transfer = (self.transfer, None) if self.close_code == 4007 else (None, None)
        self.backoff.reset()
        deadline = time.monotonic() + RESUME_DEADLINE_S
        while not stop.is_set():
            self._reset_connection()
            retry_after: float | None = None
            try:
                if transfer is not None:
                    grant, transfer = transfer, None
                    self.channel = str(grant.get("channel_id", ""))
                else:  # passing over the channel just lost (it may be dead but listed)
                    grant = await self._grant(
                        f"/api/characters/{self.entity_id}/join",
                        {"avoid_channel": self.channel} if self.channel else {},
                    )
                await self._connect(grant)
                return True
            except GrantRefused as exc:
                retry_after = exc.retry_after_s
                if exc.status == 401:  # the access token expired meanwhile
                    self.token = await self._login()
            except (OSError, RuntimeError, TimeoutError, httpx.HTTPError):
                pass
            delay = self.backoff.next_delay(retry_after)
            if time.monotonic() + delay > deadline:
                self.stats.fail("resume_failed")
                return False
            await asyncio.sleep(delay)
        return False

    def _reset_connection(self) -> None:
        if self.transport is not None and not self.ended.is_set():
            self.transport.disconnect()
        self.transport = None
        self.welcome.clear()
        self.joined.clear()
        self.ended.clear()
        self.join_refused.clear()
        self.close_code = None
        self.moves.clear()
        self.pending.clear()
        self.raw_snapshot = None
        self.view = None
        self.deltas.clear()

    async def _grant(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self._http("POST", path, body or {}, self.token)
        if response.status_code != 200:
            self.stats.fail(f"http_{response.status_code}")
            retry_after = response.headers.get("retry-after")
            raise GrantRefused(response.status_code, float(retry_after) if retry_after else None)
        grant: dict[str, Any] = response.json()
        self.channel = str(grant["channel_id"])
        return grant

    async def _connect(self, grant: dict[str, Any]) -> None:
        offered = offer(Encoding(self.scenario.encoding), self.scenario.protocol)
        started = time.perf_counter()
        self.stats.requests += 1
        try:
            self.transport, _ = await asyncio.wait_for(
                ws_connect(
                    lambda: _Listener(self),
                    f"{grant['ws_url']}?token={grant['ticket']}",
                    extra_headers={"Sec-WebSocket-Protocol": offered},
                ),
                10,
            )
        except (OSError, TimeoutError) as exc:
            self.stats.fail("ws_connect")
            raise RuntimeError("cannot connect") from exc
        self.stats.latency["ws_connecting"].record((time.perf_counter() - started) * 1000)
        if not await self._until(self.welcome, 10):
            self.stats.fail(
                "welcome_timeout" if not self.ended.is_set() else "closed_before_welcome"
            )
            raise RuntimeError("no welcome")
        self.join_error = None
        self.join_seq = self._send({"type": "join_game"}, "join_game")
        if not await self._until(self.joined, 15):
            if self.join_error is None:
                self.stats.fail("closed_joining" if self.ended.is_set() else "join_timeout")
            raise RuntimeError(f"not joined: {self.join_error or self.close_code}")

    async def _until(self, event: asyncio.Event, timeout_s: float) -> bool:
        """Wait for ``event``; False on timeout, on the connection's end, or (for the join)
        on an error answering it."""
        waiters = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(self.ended.wait())}
        if event is self.joined:
            waiters.add(asyncio.ensure_future(self.join_refused.wait()))
        try:
            await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return event.is_set()

    async def _play(self, stop: asyncio.Event) -> None:
        behaviour = self.scenario.behaviour
        interval = 1.0 / behaviour.move_hz
        loop = asyncio.get_running_loop()
        now = loop.time()
        next_attack = now + self.rng.uniform(0, behaviour.attack_every_s)
        next_chat = now + self.rng.uniform(0, behaviour.chat_every_s)
        next_sync = now + 1.0
        next_move = now + self.rng.uniform(0, interval)
        while not stop.is_set() and not self.ended.is_set():
            if time.monotonic() - self.last_message_at > SILENCE_S and self.transport:
                self.transport.disconnect(False)  # a dead link (no FIN, no RST): resume
                self.stats.fail("silent_server")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.ended.wait(), 5)
                break
            await asyncio.sleep(max(0.0, next_move - loop.time()))
            now = loop.time()
            next_move += interval
            if next_move < now:  # fell behind (a busy worker): do not burst to catch up
                next_move = now + interval
            if now >= next_sync:
                next_sync = now + 1.0
                self._sync_position()
            self._move(interval)
            if now >= next_attack:
                next_attack = now + behaviour.attack_every_s
                self._attack()
            if now >= next_chat:
                next_chat = now + behaviour.chat_every_s
                self._send(
                    {
                        "type": "chat",
                        "channel": behaviour.chat_channel,
                        "message": f"hello from bot {self.index}",
                    },
                    "chat",
                )

    def _move(self, interval: float) -> None:
        behaviour = self.scenario.behaviour
        hx, hy = self.home
        if math.hypot(self.x - hx, self.y - hy) > behaviour.wander_radius:
            self.heading = math.atan2(hy - self.y, hx - self.x)
        else:
            self.heading += self.rng.uniform(-0.4, 0.4)
        step = behaviour.speed * interval
        width, height = self.zone.get("width", 1000.0), self.zone.get("height", 1000.0)
        self.x = min(max(self.x + math.cos(self.heading) * step, 1.0), width - 1.0)
        self.y = min(max(self.y + math.sin(self.heading) * step, 1.0), height - 1.0)
        seq = self._send(
            {"type": "move", "x": round(self.x, 2), "y": round(self.y, 2)}, "move", track=False
        )
        self.moves.append((seq, time.perf_counter()))

    def _records(self) -> np.ndarray[Any, Any] | None:
        if self.view is not None:
            return self._apply_deltas()
        raw = self.raw_snapshot
        if raw is None:
            return None
        if isinstance(raw, bytes):
            raw = msgpack.unpackb(raw, raw=False)
        entities = raw["entities"]
        if isinstance(entities, bytes):
            return np.frombuffer(entities, dtype=ENTITY_DTYPE)
        records = np.zeros(len(entities), dtype=ENTITY_DTYPE)
        for i, row in enumerate(entities):
            records[i] = (row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], 0)
        return records

    def _apply_deltas(self) -> np.ndarray[Any, Any] | None:
        view = self.view
        assert view is not None
        for data in self.deltas:
            message = msgpack.unpackb(data, raw=False)
            if not view.synced and not message.get("full"):
                continue  # waiting for the keyframe a resync asked for
            try:
                view.apply(message)
            except DeltaError:
                self.stats.fail("delta_mismatch")
                view.synced = False  # ask for a keyframe, skip deltas until it comes
                self._send({"type": "resync"}, "resync", track=False)
        self.deltas.clear()
        return view.records() if view.synced else None

    def _sync_position(self) -> None:
        records = self._records()
        if records is None:
            return
        mine = records[records["id"] == self.entity_id]
        if len(mine):
            self.x, self.y = float(mine[0]["x"]), float(mine[0]["y"])

    def _attack(self) -> None:
        records = self._records()
        if records is None:
            return
        alive = records[(records["id"] != self.entity_id) & ((records["flags"] & FLAG_DEAD) == 0)]
        if not self.zone.get("pvp", False):
            alive = alive[alive["kind"] == 1]
        if not len(alive):
            return
        distance = np.hypot(alive["x"] - self.x, alive["y"] - self.y)
        nearest = int(np.argmin(distance))
        if distance[nearest] <= ATTACK_REACH:
            self._send(
                {
                    "type": "attack",
                    "target_id": int(alive[nearest]["id"]),
                    "skill_id": ATTACK_SKILL,
                },
                "attack",
            )

    def _send(self, message: dict[str, Any], kind: str, track: bool = True) -> int:
        assert self.transport is not None
        self.seq += 1
        message["seq"] = self.seq
        if self.scenario.encoding == "msgpack":
            self.transport.send(WSMsgType.BINARY, msgpack.packb(message))
        else:
            self.transport.send(WSMsgType.TEXT, json.dumps(message).encode())
        stats = self.stats
        stats.requests += 1
        stats.sent[kind] = stats.sent.get(kind, 0) + 1
        if track:
            self.pending[self.seq] = (kind, time.perf_counter())
        return self.seq

    # --- receiving ------------------------------------------------------------------------
    def on_binary(self, data: bytes) -> None:
        self.last_message_at = time.monotonic()
        if data.startswith(_SNAPSHOT_HEAD, 1) and data[_ACK_AT - 1] == 0xCE:
            self._on_ack(int.from_bytes(data[_ACK_AT : _ACK_AT + 4], "big"))
            if self.view is not None:
                self.deltas.append(data)
                if len(self.deltas) >= MAX_WAITING_DELTAS:
                    self._apply_deltas()
            else:
                self.raw_snapshot = data
            return
        self.on_message(msgpack.unpackb(data, raw=False))

    def on_message(self, message: dict[str, Any]) -> None:
        self.last_message_at = time.monotonic()
        kind = message.get("type")
        if kind == "snapshot":
            self._on_ack(message["ack"])
            self.raw_snapshot = message
        elif kind in ("ack", "error", "joined"):
            seq = message.get("seq")
            sent = self.pending.pop(seq, None) if seq is not None else None
            if sent is not None and sent[0] in ("attack", "chat"):
                self.stats.latency[f"ack_{sent[0]}"].record((time.perf_counter() - sent[1]) * 1000)
            if kind == "error" and seq is not None and seq == self.join_seq:
                self.join_error = str(message.get("code"))
                self.join_refused.set()
            if kind == "error":
                if message.get("code") in GAME_REJECTIONS:
                    self.stats.rejections += 1
                else:
                    self.stats.fail(f"error_{message.get('code')}")
            elif kind == "joined":
                self._on_joined(message)
        elif kind == "welcome":
            if message.get("protocol") == 2:
                self.view = DeltaView()
            self.welcome.set()
        elif kind == "transfer":
            self.transfer = message

    def _on_joined(self, message: dict[str, Any]) -> None:
        self.entity_id = message["entity_id"]
        self.x, self.y = message["character"]["x"], message["character"]["y"]
        self.home = (self.x, self.y)
        self.zone = message["zone"]
        self.joined.set()

    def _on_ack(self, ack: int) -> None:
        stats = self.stats
        stats.snapshots += 1
        moves = self.moves
        if moves and moves[0][0] <= ack:
            now = time.perf_counter()
            histogram = stats.latency["ack_move"]
            while moves and moves[0][0] <= ack:
                histogram.record((now - moves.popleft()[1]) * 1000)

    def closed(self, code: int | None) -> None:
        if self.close_code is None:
            self.close_code = code
        self.ended.set()
