"""Every Prometheus metric the services export. Names follow the Prometheus conventions:
``openmmo_`` prefix, base units (seconds, bytes), ``_total`` on counters.

The dashboards and alert rules under ``deploy/`` are built on these names; a test checks that
every name they use is exported here.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_FAST_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0)
_HTTP_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class BulkHistogram(Collector):
    """A histogram (labelled by zone) fed many values at once, for the zone's hot path: one
    ``Histogram.observe`` per snapshot costs about a microsecond, 5-10 % of a core at 5,000
    players; one numpy pass per tick over the tick's values costs tens of microseconds."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]):
        self.name, self.documentation = name, documentation
        self.edges = np.asarray(buckets, dtype=np.float64)
        self._series: dict[str, tuple[npt.NDArray[np.int64], list[float]]] = {}
        REGISTRY.register(self)

    def labels(self, zone: str) -> None:
        """Create the zone's series at zero."""
        self._series.setdefault(zone, (np.zeros(len(self.edges) + 1, np.int64), [0.0]))

    def observe_many(self, zone: str, values: Sequence[float]) -> None:
        if not len(values):
            return
        self.labels(zone)
        counts, total = self._series[zone]
        v = np.asarray(values, dtype=np.float64)
        # bucket i counts v <= edges[i] (Prometheus' le); the last one is +Inf
        counts += np.bincount(np.searchsorted(self.edges, v), minlength=len(counts))
        total[0] += float(v.sum())

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=["zone"])
        for zone, (counts, total) in sorted(self._series.items()):
            cumulative = np.cumsum(counts).tolist()
            edges = self.edges.tolist()
            buckets = [(_le(e), c) for e, c in zip(edges, cumulative, strict=False)]
            family.add_metric([zone], [*buckets, ("+Inf", cumulative[-1])], total[0])
        yield family


def _le(edge: float) -> str:
    """A bucket bound written as prometheus_client writes its own ("1024.0")."""
    text: str = floatToGoString(edge)  # type: ignore[no-untyped-call]
    return text


# --- zone servers --------------------------------------------------------------------------
PLAYERS_ONLINE = Gauge("openmmo_players_online", "Players in the world, per zone.", ["zone"])
PLAYERS_MAX = Gauge("openmmo_players_max", "Player capacity of the zone channel.", ["zone"])
CONNECTIONS = Gauge("openmmo_game_connections", "Open game connections.", ["zone"])
NODE_INFO = Gauge(
    "openmmo_node_info",
    "1, labelled with where this zone server runs: REGION and NODE_CAPACITY_TYPE (what its "
    "node costs, for the cost recording rules).",
    ["region", "capacity_type"],
)
TICK_DURATION = Histogram(
    "openmmo_tick_duration_seconds",
    "Time one simulation tick took, snapshots included.",
    ["zone"],
    buckets=_FAST_S,
)
TICK_ERRORS = Counter(
    "openmmo_tick_errors_total",
    "Ticks, or single inbox messages, whose handling raised (logged with a traceback); "
    "the tick goes on.",
    ["zone"],
)
TICK_OVERRUNS = Counter(
    "openmmo_tick_overruns_total", "Ticks that took longer than the tick interval.", ["zone"]
)
MESSAGES_RECEIVED = Counter(
    "openmmo_messages_received_total", "Client messages received, by type.", ["zone", "type"]
)
MESSAGES_SENT = Counter(
    "openmmo_messages_sent_total", "Server messages sent, by type.", ["zone", "type"]
)
BYTES_RECEIVED = Counter("openmmo_received_bytes_total", "Payload bytes received.", ["zone"])
BYTES_SENT = Counter("openmmo_sent_bytes_total", "Payload bytes sent.", ["zone"])
PROTOCOL_ERRORS = Counter(
    "openmmo_protocol_errors_total", "Error messages sent to clients, by code.", ["zone", "code"]
)
DISCONNECTS = Counter(
    "openmmo_disconnects_total",
    "Game connections the server closed, by close code.",
    ["zone", "code"],
)
SNAPSHOT_BYTES = BulkHistogram(
    "openmmo_snapshot_bytes",
    "Size of each snapshot sent, in bytes (the encoded message).",
    (128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536),
)
PLAYER_BYTES_PER_SECOND = BulkHistogram(
    "openmmo_player_sent_bytes_per_second",
    "What the server sent each player over the last second, in bytes per second (one "
    "observation per player per second).",
    (500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000),
)
SNAPSHOTS_SKIPPED = Counter(
    "openmmo_snapshots_skipped_total",
    "Snapshots not sent because the client was not reading.",
    ["zone"],
)
GAME_HOOK_ERRORS = Counter(
    "openmmo_game_hook_errors_total",
    "Calls of game code (hooks, brains, skill effects, timers) that raised, by hook.",
    ["zone", "hook"],
)
GAME_HOOK_SECONDS = Histogram(
    "openmmo_game_hook_seconds",
    "Time a hook's calls took in one tick, summed over that tick's calls.",
    ["zone", "hook"],
    buckets=(0.00005, 0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1),
)
GAME_HOOKS_DISABLED = Counter(
    "openmmo_game_hooks_disabled_total",
    "Hooks disabled in a zone for overrunning their per-tick budget too often.",
    ["zone", "hook"],
)
SAVES = Counter("openmmo_character_saves_total", "Character saves, by result.", ["zone", "result"])
CHECKPOINTS = Counter(
    "openmmo_checkpoints_total",
    "Hot checkpoints written to the checkpoint store, by result.",
    ["zone", "result"],
)
TRANSFERS = Counter(
    "openmmo_transfers_total",
    "Character transfers started here (out) or claimed here (in), by result.",
    ["zone", "direction", "result"],
)
BUS_MESSAGES = Counter(
    "openmmo_bus_messages_total",
    "Cross-server messages published (out) or received (in), by kind.",
    ["direction", "kind"],
)
ITEM_GRANTS = Counter(
    "openmmo_item_grants_total",
    "Loot grants, by result.",
    ["zone", "result"],
)
SAVE_DURATION = Histogram(
    "openmmo_character_save_duration_seconds",
    "Time to save a batch of characters.",
    ["zone"],
    buckets=_HTTP_S,
)

# --- every service -------------------------------------------------------------------------
DEPENDENCY_UP = Gauge(
    "openmmo_dependency_up",
    "1 if the dependency answered the last readiness check (run on every scrape), else 0.",
    ["dependency"],
    multiprocess_mode="livemostrecent",  # gateway workers: the check this scrape just ran
)

# --- gateway ---------------------------------------------------------------------------------
REGION_UP = Gauge(
    "openmmo_region_up",
    "1 if the region's ping answered within REGION_DOWN_AFTER_S, as this gateway sees it.",
    ["region"],
    multiprocess_mode="livemax",  # gateway workers probe each on their own: up if one sees it
)
HTTP_DURATION = Histogram(
    "openmmo_http_request_duration_seconds",
    "HTTP request duration, by route template.",
    ["method", "route", "status"],
    buckets=_HTTP_S,
)
HTTP_REJECTED = Counter(
    "openmmo_http_rejected_total",
    "HTTP connections answered before any route ran: headers_too_large (431) or "
    "request_timeout (408).",
    ["reason"],
)
LOGINS = Counter(
    "openmmo_logins_total", "Login attempts, by method and result.", ["method", "result"]
)
ALLOCATIONS = Counter(
    "openmmo_zone_allocations_total", "Zone join allocations, by result.", ["zone", "result"]
)

# --- matchmaking -----------------------------------------------------------------------------
MATCHMAKING_QUEUE = Gauge(
    "openmmo_matchmaking_queue_length", "Tickets waiting in a matchmaking queue.", ["mode"]
)
MATCHMAKING_TICKETS = Counter(
    "openmmo_matchmaking_tickets_total",
    "Matchmaking tickets by outcome: queued, cancelled (gateway), matched, expired (matchmaker).",
    ["mode", "result"],
)
MATCHMAKING_GROUPS = Counter(
    "openmmo_matchmaking_groups_total",
    "Groups formed: placed on a channel, no_channel with room, or conflict (lost a claim).",
    ["mode", "result"],
)
MATCHMAKING_WAIT = Histogram(
    "openmmo_matchmaking_wait_seconds",
    "Time from queueing to being matched.",
    ["mode"],
    buckets=(0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0),
)

GC_PAUSE = Histogram(
    "openmmo_gc_pause_seconds",
    "Time the event loop stood still in one garbage collection, per generation.",
    ["generation"],
    buckets=(0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25),
)


def watch_gc() -> None:
    """Time every garbage collection into :data:`GC_PAUSE` (once per process)."""
    if _gc_callback in gc.callbacks:
        return
    for generation in ("0", "1", "2"):
        GC_PAUSE.labels(generation)
    gc.callbacks.append(_gc_callback)


_gc_started = 0.0


def _gc_callback(phase: str, info: dict[str, Any]) -> None:
    global _gc_started
    if phase == "start":
        _gc_started = time.perf_counter()
    else:
        GC_PAUSE.labels(str(info["generation"])).observe(time.perf_counter() - _gc_started)


def initialise_matchmaking(modes: list[str]) -> None:
    """Series of every mode at zero (see :func:`initialise_zone`)."""
    for mode in modes:
        MATCHMAKING_QUEUE.labels(mode)
        MATCHMAKING_WAIT.labels(mode)
        for result in ("queued", "cancelled", "matched", "expired"):
            MATCHMAKING_TICKETS.labels(mode, result)
        for result in ("placed", "no_channel", "conflict"):
            MATCHMAKING_GROUPS.labels(mode, result)


def initialise_zone(zone: str) -> None:
    """Create the zone's labelled series at zero, so that a rate() or an alert on a result
    that has not happened yet (``failed``, ``refused``) sees 0 rather than no data."""
    TICK_OVERRUNS.labels(zone)
    TICK_ERRORS.labels(zone)
    SNAPSHOTS_SKIPPED.labels(zone)
    SNAPSHOT_BYTES.labels(zone)
    PLAYER_BYTES_PER_SECOND.labels(zone)
    BYTES_RECEIVED.labels(zone)
    BYTES_SENT.labels(zone)
    for result in ("ok", "failed", "refused"):
        SAVES.labels(zone, result)
    for result in ("ok", "failed"):
        CHECKPOINTS.labels(zone, result)
    for result in ("ok", "no_channel", "unavailable", "not_owner"):
        TRANSFERS.labels(zone, "out", result)
    for result in ("ok", "failed", "not_owner"):
        ITEM_GRANTS.labels(zone, result)


def initialise_game(zone: str, hooks: list[str]) -> None:
    """Zero series for the hooks a game registered."""
    for hook in hooks:
        GAME_HOOK_ERRORS.labels(zone, hook)
        GAME_HOOKS_DISABLED.labels(zone, hook)


def initialise_gateway(zones: list[str]) -> None:
    """The gateway's counterpart of :func:`initialise_zone`."""
    for method, result in [("password", r) for r in ("ok", "failed", "banned")] + [
        ("device", "ok"),
        ("device", "banned"),
    ]:
        LOGINS.labels(method, result)
    for zone in zones:
        for result in ("ok", "no_channel"):
            ALLOCATIONS.labels(zone, result)
