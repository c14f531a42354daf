"""The scenarios: each puts a fault into a world under play and measures what the players
went through. Each returns a :class:`Result` — its figures and its checks (issue 11's pass
criteria, docs/reliability.md) — which ``openmmo chaos`` prints and writes, and which the
tests in ``tests/chaos`` assert on.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import httpx

from openmmo.chaos.crowd import MOVE_PER_S, PASSWORD, Crowd, Player, Timeline, percentile
from openmmo.chaos.world import ChaosWorld, Probes, audit_clean, bucket_percentile, tick_buckets
from openmmo.client import ApiError
from openmmo.zone.server import OWNERSHIP_LEASE_S

# A saved row trails its character by at most a save interval (SAVE_INTERVAL_S = 5 in the
# chaos world) of walking, plus the save itself.
SAVED_GAP_UNITS = MOVE_PER_S * 6.5


@dataclass
class Check:
    check: str
    value: Any
    passed: bool


@dataclass
class Result:
    scenario: str
    figures: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    back_in_play_s: list[float] = field(default_factory=list)

    def check(self, description: str, value: Any, passed: bool) -> None:
        self.checks.append(Check(description, value, bool(passed)))

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def failed(self) -> list[str]:
        return [f"{c.check} (was {c.value})" for c in self.checks if not c.passed]


@dataclass(frozen=True)
class Options:
    players: int = 24
    down_s: float = 30.0  # how long a dependency stays down
    dependency: str = "redis"


Scenario = Callable[[ChaosWorld, Crowd, Timeline, Options], Awaitable[Result]]


def _round(value: float, digits: int = 3) -> float | None:
    return None if math.isnan(value) else round(value, digits)


def _back_figures(result: Result, back: list[float]) -> None:
    result.back_in_play_s = back
    result.figures.update(
        back_p50_s=_round(percentile(back, 50)),
        back_p95_s=_round(percentile(back, 95)),
        back_max_s=_round(max(back)) if back else None,
    )


async def kill_zone(world: ChaosWorld, crowd: Crowd, timeline: Timeline, opts: Options) -> Result:
    """``kill -9`` of the first zone server while its players walk."""
    result = Result("kill-zone")
    victim = world.zone_servers()[0]
    await world.seed_items([p.character_id for p in crowd.players], {"gold": 10, "potion": 2})
    items_before = (await world.audit()).get("items")
    await asyncio.sleep(2.5)  # everyone walking; hot checkpoints every second
    crowd.remember()
    victims = [p for p in crowd.players if p.channel == victim]
    killed_at = time.time()
    timeline.mark(f"kill -9 {victim}")
    await asyncio.to_thread(world.cluster.kill, victim)
    await crowd.wait_back(victims, timeout_s=20)
    timeline.mark("victims back")
    judge_crash(result, crowd, victims, victim, killed_at)
    await _judge_items(result, world, items_before)
    return result


async def _judge_items(
    result: Result, world: ChaosWorld, items_before: dict[str, int] | None
) -> None:
    """The audit after the fault: the same item totals as before, the ledger clean."""
    audit = await world.audit()
    result.figures.update(items_before=items_before, audit=audit)
    result.check("item count unchanged", audit.get("items"), audit.get("items") == items_before)
    result.check("item audit clean", audit, audit_clean(audit))


def judge_crash(
    result: Result,
    crowd: Crowd,
    victims: list[Player],
    victim: str,
    killed_at: float,
    crashed: bool = True,
    p95_goal_s: float = 3.0,
) -> None:
    """The figures and checks of a zone server lost under play (``crashed``: killed, not
    drained): who came back how fast, what they lost, and whether anyone was sent to the
    dead server once it was known dead."""
    back = [p.client.out_of_play_s[0] for p in victims if p.client.out_of_play_s]
    lost = [p.lost_movement_s() for p in victims]
    known_dead_at = killed_at + OWNERSHIP_LEASE_S + 0.5  # its heartbeats missed, one beat late
    late = [
        channel
        for p in victims
        for at, channel in p.client.grants
        if channel == victim and at > known_dead_at
    ]
    _back_figures(result, back)
    result.figures.update(
        players=len(crowd.players),
        victims=len(victims),
        lost_movement_max_s=_round(max(lost, default=math.nan)),
        retries=sum(len(p.client.grants) - 1 for p in victims),
        grants_to_dead_after_known_dead=len(late),
    )
    result.check("the lost server had players", len(victims), bool(victims))
    result.check(
        "every victim back in play", f"{len(back)}/{len(victims)}", len(back) == len(victims)
    )
    result.check(
        f"95 % back within {p95_goal_s:g} s",
        result.figures["back_p95_s"],
        percentile(back, 95) <= p95_goal_s,
    )
    result.check("all back within 10 s", result.figures["back_max_s"], max(back, default=99) <= 10)
    limit = 1.5 if crashed else 0.5  # a checkpoint interval (+ a snapshot in flight); a drain saves
    result.check(
        f"at most {limit:g} s of movement lost",
        result.figures["lost_movement_max_s"],
        max(lost, default=math.inf) <= limit,
    )
    result.check("no grant to the dead server once known dead", len(late), not late)
    others = [p for p in crowd.players if p.channel != victim]
    result.check(
        "players elsewhere never dropped",
        sum(len(p.client.drops) for p in others),
        all(not p.client.drops for p in others),
    )


async def rolling_restart(
    world: ChaosWorld, crowd: Crowd, timeline: Timeline, opts: Options
) -> Result:
    """Every zone server in turn: SIGTERM (it drains), then a replacement started (a new
    name, as a Deployment's new pod), ready before the next one goes."""
    result = Result("rolling-restart")
    await world.seed_items([p.character_id for p in crowd.players], {"gold": 10, "potion": 2})
    items_before = (await world.audit()).get("items")
    await asyncio.sleep(1.5)
    moves_before = _moves(crowd)
    codes: list[int | None] = []
    exits = {}
    lost: list[float] = []
    for name in world.zone_servers():
        crowd.remember()
        victims = [p for p in crowd.players if p.channel == name]
        drops_before = {id(p): len(p.client.drops) for p in victims}
        timeline.mark(f"SIGTERM {name}")
        exits[name] = await asyncio.to_thread(world.cluster.stop, name)
        await _wait_resumed(victims, drops_before, timeout_s=20)
        for p in victims:
            codes.extend(p.client.drops[drops_before[id(p)] :])
            lost.append(p.lost_movement_s())
        timeline.mark(f"{name} replaced")
        await asyncio.to_thread(world.cluster.start_process, name, True, 60.0)
        await asyncio.sleep(1.0)
    all_back = await crowd.wait_playing(timeout_s=20)
    back = [s for p in crowd.players for s in p.client.out_of_play_s]
    failed_joins = sum(
        max(0, len(p.client.grants) - 1 - p.client.reconnects) for p in crowd.players
    )
    gave_up = [p.client.stopped for p in crowd.players if p.client.stopped]
    actions = _moves(crowd) - moves_before + sum(len(p.client.grants) for p in crowd.players)
    errors = failed_joins + len(gave_up)
    _back_figures(result, back)
    result.figures.update(
        players=len(crowd.players),
        restarts=len(exits),
        exit_codes=exits,
        moved_by_transfer=codes.count(4007),
        told_to_reconnect=codes.count(1012),
        other_closes=[c for c in codes if c not in (4007, 1012)],
        lost_movement_max_s=_round(max(lost, default=math.nan)),
        errors=errors,
        actions=actions,
        error_rate=round(errors / actions, 6) if actions else None,
    )
    result.check("every server exited 0", exits, all(code == 0 for code in exits.values()))
    result.check("everyone in play at the end", crowd.playing(), all_back)
    result.check(
        "error rate < 0.1 %",
        result.figures["error_rate"],
        actions > 0 and errors / actions < 0.001,
    )
    result.check(
        "players moved, not dropped",
        result.figures["told_to_reconnect"],
        1012 not in codes and not result.figures["other_closes"],
    )
    result.check(
        "nobody lost progress (<= 0.5 s of movement)",
        result.figures["lost_movement_max_s"],
        max(lost, default=math.inf) <= 0.5,
    )
    await _judge_items(result, world, items_before)
    return result


async def dependency_down(
    world: ChaosWorld, crowd: Crowd, timeline: Timeline, opts: Options
) -> Result:
    """Kill the scenario's dependency (a throwaway instance) for ``down_s``, then start it
    again with its data, while the players walk."""
    server = world.throwaways[opts.dependency]

    async def restore() -> None:
        await asyncio.to_thread(server.start, 60.0)

    return await _dependency_fault(
        world, crowd, timeline, opts, "down", ("killed", server.kill), ("back", restore)
    )


async def dependency_partitioned(
    world: ChaosWorld, crowd: Crowd, timeline: Timeline, opts: Options
) -> Result:
    """Cut the link to the dependency for ``down_s`` (a partition: nothing is refused,
    everything waits), then heal it."""
    return await _link_fault(world, crowd, timeline, opts, "partition", "partitioned")


async def dependency_slow(
    world: ChaosWorld, crowd: Crowd, timeline: Timeline, opts: Options
) -> Result:
    """200 ms added each way on the link to the dependency, and 5 % of its packets "lost"
    (held a retransmission timeout), for ``down_s``."""
    return await _link_fault(
        world, crowd, timeline, opts, "latency", "+200 ms, 5 % loss", latency_s=0.2, loss=0.05
    )


async def _link_fault(
    world: ChaosWorld,
    crowd: Crowd,
    timeline: Timeline,
    opts: Options,
    kind: str,
    label: str,
    latency_s: float = 0.0,
    loss: float = 0.0,
) -> Result:
    """A fault on the proxy in front of the dependency (a partition unless latency or
    loss are given), healed after ``down_s``."""
    proxy = world.proxy
    assert proxy is not None

    def inject() -> None:
        proxy.set_faults(latency_s=latency_s, loss=loss, partitioned=not (latency_s or loss))

    async def heal() -> None:
        proxy.heal()

    return await _dependency_fault(
        world, crowd, timeline, opts, kind, (label, inject), ("healed", heal)
    )


async def _dependency_fault(
    world: ChaosWorld,
    crowd: Crowd,
    timeline: Timeline,
    opts: Options,
    kind: str,
    inject: tuple[str, Callable[[], None]],
    restore: tuple[str, Callable[[], Awaitable[None]]],
) -> Result:
    name = opts.dependency
    result = Result(f"{name}-{kind}")
    probes = Probes(world)
    probing = asyncio.create_task(probes.run())
    pids = world.pids()
    try:
        await asyncio.sleep(3.0)
        before = await tick_buckets(world)
        await asyncio.sleep(3.0)
        steady = await tick_buckets(world)
        timeline.mark(f"{name} {inject[0]}")
        inject[1]()
        await asyncio.sleep(opts.down_s)
        during = await tick_buckets(world)
        timeline.mark(f"{name} {restore[0]}")
        back_at = time.monotonic()
        await restore[1]()
        recovered_at = await _ready_again(world, probes, within_s=60)
        timeline.mark("all ready")
        saved_gap, saves_landed_at = await _saves_land(crowd, within_s=30)
        timeline.mark("saves landed")
    finally:
        probing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probing
    p95_steady = bucket_percentile(before, steady, 95)
    p95_down = bucket_percentile(steady, during, 95)
    refreshed, logged_out, refresh_errors = await _refresh_all(crowd)
    dropped = sum(len(p.client.drops) for p in crowd.players)
    result.figures.update(
        players=len(crowd.players),
        down_s=opts.down_s,
        tick_p95_steady_s=_round(p95_steady, 4),
        tick_p95_down_s=_round(p95_down, 4),
        liveness_failures=dict(probes.live_failures),
        recovered_after_s=None if recovered_at is None else round(recovered_at - back_at, 3),
        players_dropped=dropped,
        refresh_ok=refreshed,
        logged_out=logged_out,
        refresh_errors=refresh_errors,
        saved_position_gap_max_units=_round(saved_gap),
        saves_landed_after_s=None
        if saves_landed_at is None
        else round(saves_landed_at - back_at, 3),
        restarted_processes=[n for n, pid in world.pids().items() if pid != pids[n]],
        audit=await world.audit(),
    )
    result.check(
        "tick P95 unchanged (within one histogram bucket)",
        f"{p95_steady} -> {p95_down}",
        not p95_down > _next_bucket(steady, p95_steady),
    )
    result.check("liveness never failed", probes.live_failures, not probes.live_failures)
    result.check("nobody logged out (every refresh works after)", logged_out, logged_out == 0)
    result.check("players kept playing", dropped, dropped == 0)
    result.check(
        "nothing confirmed lost (saved rows catch up with the world within 30 s)",
        result.figures["saved_position_gap_max_units"],
        saves_landed_at is not None,
    )
    result.check(
        "full recovery without restarts",
        result.figures["recovered_after_s"],
        recovered_at is not None and not result.figures["restarted_processes"],
    )
    result.check("item audit clean", result.figures["audit"], audit_clean(result.figures["audit"]))
    return result


async def reconnect_storm(
    world: ChaosWorld, crowd: Crowd, timeline: Timeline, opts: Options
) -> Result:
    """Every player logs in again and drops its connection in the same instant (a client
    update rolled out, a network blip at a large ISP): they all come back at once."""
    result = Result("reconnect-storm")
    await asyncio.sleep(1.5)
    timeline.mark("storm")
    started = time.monotonic()
    answers = await asyncio.gather(
        *(_login_and_drop(p) for p in crowd.players), return_exceptions=True
    )
    all_back = await crowd.wait_playing(timeout_s=30)
    took = time.monotonic() - started
    timeline.mark("all back")
    # An error is a login that failed for good; a 429/503 answered with Retry-After (the
    # gateway's admission) and then retried is the storm working as designed: counted apart.
    failed = [a for a in answers if isinstance(a, BaseException)]
    retried = [kind for a in answers if isinstance(a, list) for kind in a]
    errors = len(failed)
    back = [p.client.out_of_play_s[-1] for p in crowd.players if p.client.out_of_play_s]
    _back_figures(result, back)
    result.figures.update(
        players=len(crowd.players),
        everyone_back_after_s=round(took, 3),
        logins=len(answers),
        login_errors=errors,
        login_error_rate=round(errors / len(answers), 6),
        login_retries={kind: retried.count(kind) for kind in sorted(set(retried))},
    )
    result.check("everyone back within 30 s", result.figures["everyone_back_after_s"], all_back)
    result.check(
        "login error rate < 0.1 %",
        result.figures["login_error_rate"],
        errors / len(answers) < 0.001,
    )
    return result


async def zone_partition(
    world: ChaosWorld, crowd: Crowd, timeline: Timeline, opts: Options
) -> Result:
    """The link between the players and one zone server cut for ``down_s`` (nothing
    refused, nothing answered: TCP sees no end), the server itself alive and reachable by
    the rest of the world: its players notice the silence, resume on the other channel, and
    their characters are handed over (the live owner saves and lets go)."""
    result = Result("zone-partition")
    proxy = world.proxy
    assert proxy is not None
    victim = world.zone_servers()[0]
    await world.seed_items([p.character_id for p in crowd.players], {"gold": 10, "potion": 2})
    items_before = (await world.audit()).get("items")
    await asyncio.sleep(2.5)
    crowd.remember()
    victims = [p for p in crowd.players if p.channel == victim]
    cut_at = time.time()
    timeline.mark(f"players cut off from {victim}")
    proxy.set_faults(partitioned=True)
    try:
        await crowd.wait_back(victims, timeout_s=30)
    finally:
        await asyncio.sleep(max(0.0, opts.down_s - (time.time() - cut_at)))
        proxy.heal()
        timeline.mark("healed")
    # the client's 3 s silence timeout comes first, then the live owner saves and hands
    # over every character it is asked for (8 joins at a time on the other channel)
    judge_crash(result, crowd, victims, victim, cut_at, crashed=False, p95_goal_s=10.0)
    result.figures["silences"] = sum(p.client.silences for p in victims)
    await _judge_items(result, world, items_before)
    return result


SLOW_CLIENTS = 3
SLOW_RCVBUF = 4096  # bytes: the slow client's socket takes almost nothing before it stalls


async def slow_client(world: ChaosWorld, crowd: Crowd, timeline: Timeline, opts: Options) -> Result:
    """Clients that join and then stop reading (a frozen phone, a client that decodes on its
    network thread): the zone must close them (4030) and nobody else may notice."""
    result = Result("slow-client")
    zone = world.zone_servers()[0]
    port = world.cluster.processes[zone].server_port
    probes = Probes(world)
    probing = asyncio.create_task(probes.run())
    try:
        await asyncio.sleep(2.0)
        before = await tick_buckets(world)
        timeline.mark(f"{SLOW_CLIENTS} clients stop reading")
        slow = [await _stalled_client(crowd, port, n) for n in range(SLOW_CLIENTS)]
        started = time.monotonic()
        codes = await asyncio.gather(*(_closed_with(r, w, 60.0) for r, w in slow))
        closed_after = time.monotonic() - started
        timeline.mark("slow clients closed")
        during = await tick_buckets(world)
        for _, writer in slow:
            writer.close()
    finally:
        probing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probing
    p95_before = bucket_percentile({}, before, 95)
    p95_during = bucket_percentile(before, during, 95)
    dropped = sum(len(p.client.drops) for p in crowd.players)
    result.figures.update(
        players=len(crowd.players),
        slow_clients=SLOW_CLIENTS,
        close_codes=codes,
        closed_after_s=round(closed_after, 3),
        tick_p95_before_s=_round(p95_before, 4),
        tick_p95_during_s=_round(p95_during, 4),
        players_dropped=dropped,
        liveness_failures=dict(probes.live_failures),
    )
    result.check(
        "every slow client closed (4030: not reading; 1001: no pong to the server's pings)",
        codes,
        all(code in (4030, 1001) for code in codes),
    )
    result.check("closed within 60 s", result.figures["closed_after_s"], closed_after < 60)
    result.check(
        "tick P95 unchanged (within one histogram bucket)",
        f"{p95_before} -> {p95_during}",
        not p95_during > _next_bucket(before, p95_before),
    )
    result.check("the other players never dropped", dropped, dropped == 0)
    result.check("liveness never failed", probes.live_failures, not probes.live_failures)
    return result


async def _stalled_client(
    crowd: Crowd, port: int, n: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A player who joins over a raw socket with a tiny receive buffer, then never reads."""
    import base64
    import os
    import socket

    from openmmo.client import GatewayClient

    gateway = GatewayClient(crowd.gateway_url)
    try:
        await gateway.register(f"{crowd.prefix}_slow_{n}_{os.getpid()}", PASSWORD)
        await gateway.create_character(f"Slow{n}x{os.getpid() % 10000}")
        token = gateway.token
    finally:
        await gateway.close()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)  # before connecting
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=2**24)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await reader.readuntil(b"\r\n\r\n")
    body = b'{"type": "join_game", "seq": 1}'
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(body))
    writer.write(bytes([0x81, 0x80 | len(body)]) + mask + masked)
    await writer.drain()
    cast(asyncio.Transport, writer.transport).pause_reading()  # and never again: the stall
    return reader, writer


async def _closed_with(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout_s: float
) -> int | None:
    """Wait ``timeout_s`` at most for the server to give up on a stalled client, then read
    everything it had sent: the close code of its last frame (None: no close frame)."""
    deadline = time.monotonic() + timeout_s
    await asyncio.sleep(12.0)  # the zone's slow-consumer timeout is 10 s
    cast(asyncio.Transport, writer.transport).resume_reading()
    code: int | None = None
    while time.monotonic() < deadline:
        try:
            head = await asyncio.wait_for(
                reader.readexactly(2), max(0.1, deadline - time.monotonic())
            )
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            break
        length = head[1] & 0x7F
        if length == 126:
            length = int.from_bytes(await reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await reader.readexactly(8), "big")
        payload = await reader.readexactly(length)
        if head[0] & 0x0F == 0x8:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            break
    return code


async def _login_and_drop(player: Player) -> list[str]:
    """Log in again, retrying as a client does on 429/503 (after Retry-After) and on a
    broken connection; then drop the game connection. The answers that were retried."""
    retried: list[str] = []
    while True:
        try:
            await player.gateway.login(player.name, PASSWORD)
            break
        except ApiError as exc:
            if exc.status not in (429, 503) or len(retried) >= 20:
                raise
            retried.append(f"{exc.status} {exc.code}")
            await asyncio.sleep(exc.retry_after_s or 1.0)
        except httpx.TransportError as exc:  # a connection reset under the storm
            if len(retried) >= 20:
                raise
            retried.append(type(exc).__name__)
            await asyncio.sleep(0.5)
    if player.client.game is not None:
        player.client.game.drop()  # the network blip: no close frame
    return retried


async def _wait_resumed(
    victims: list[Player], drops_before: dict[int, int], timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(
            (len(p.client.drops) > drops_before[id(p)] and p.client.playing.is_set())
            or p.client.stopped
            for p in victims
        ):
            return
        await asyncio.sleep(0.05)


def _moves(crowd: Crowd) -> int:
    return sum(p.moves for p in crowd.players)


async def _ready_again(world: ChaosWorld, probes: Probes, within_s: float) -> float | None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        ready = await asyncio.gather(
            *(asyncio.to_thread(world.cluster.ready, name) for name in world.cluster.processes)
        )
        if all(ready):
            return time.monotonic()
    return None


async def _refresh_all(crowd: Crowd) -> tuple[int, int, list[str]]:
    """Every player refreshes its login, as a client does when its access token expires:
    (worked, logged out, the answers of those that did not). A 503 is retried (the client
    would); only a refused refresh token is a logout."""
    ok = failed = 0
    answers = []
    for player in crowd.players:
        for attempt in range(5):
            try:
                await player.gateway.refresh()
                ok += 1
                break
            except ApiError as exc:
                answers.append(f"{exc.status} {exc.code}")
                if exc.status != 503 or attempt == 4:
                    failed += 1
                    break
                await asyncio.sleep(exc.retry_after_s or 0.5)
    return ok, failed, answers


async def _saved_gap(crowd: Crowd) -> float:
    """The largest distance between where a character is in the world and where its saved
    row says it is (``GET /api/characters/{id}``)."""
    gaps = []
    for player in crowd.players:
        here = player.position()
        with contextlib.suppress(ApiError):
            saved = await player.gateway.get_character(player.character_id)
            if here is not None:
                gaps.append(math.dist(here, (saved["x"], saved["y"])))
    return max(gaps, default=math.nan)


async def _saves_land(crowd: Crowd, within_s: float) -> tuple[float, float | None]:
    """Poll the saved rows until every one is within a save interval of walking of where
    its character is: (the last largest gap, when that happened or None)."""
    deadline = time.monotonic() + within_s
    gap = math.nan
    while time.monotonic() < deadline:
        gap = await _saved_gap(crowd)
        if gap <= SAVED_GAP_UNITS:
            return gap, time.monotonic()
        await asyncio.sleep(1.0)
    return gap, None


def _next_bucket(buckets: dict[float, float], value: float) -> float:
    bounds = sorted(buckets)
    above = [b for b in bounds if b > value]
    return above[0] if above else math.inf


SCENARIOS: dict[str, tuple[Scenario, list[int], frozenset[str]]] = {
    # name: (scenario, zone servers, dependencies to run as throwaway instances)
    "kill-zone": (kill_zone, [1, 1], frozenset()),
    "rolling-restart": (rolling_restart, [1, 1], frozenset()),
    "redis-down": (dependency_down, [1, 1], frozenset({"redis"})),
    "postgres-down": (dependency_down, [1, 1], frozenset({"postgres"})),
    "rabbitmq-down": (dependency_down, [1, 1], frozenset({"rabbitmq"})),
    "postgres-partition": (dependency_partitioned, [1, 1], frozenset({"postgres"})),
    "redis-partition": (dependency_partitioned, [1, 1], frozenset({"redis"})),
    "postgres-latency": (dependency_slow, [1, 1], frozenset({"postgres"})),
    "redis-latency": (dependency_slow, [1, 1], frozenset({"redis"})),
    "reconnect-storm": (reconnect_storm, [1, 1], frozenset()),
    "slow-client": (slow_client, [1], frozenset()),
    "zone-partition": (zone_partition, [1, 1], frozenset()),
}
