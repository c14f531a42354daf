"""A load-test scenario: where to connect, how bots behave, the stages, the thresholds.

Stages follow k6: a list of ``{duration, target}``; the number of bots moves linearly from the
previous target to each stage's target over its duration. Thresholds follow k6's syntax too:
``{"ack_move": ["p(95)<100"], "errors": ["rate<0.001"]}`` (milliseconds for latencies).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# What the bots time (milliseconds), by name: reports, thresholds and the bots share it.
LATENCIES = (
    "ack_move",
    "ack_attack",
    "ack_chat",
    "http_req_duration",
    "ws_connecting",
    "back_in_play",  # from a dropped connection to `joined` again
)
METRICS = (*LATENCIES, "errors")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_THRESHOLD = re.compile(r"^(p\((\d+(?:\.\d+)?)\)|avg|max|rate)\s*(<=|<)\s*(\d+(?:\.\d+)?)$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class ScenarioError(ValueError):
    """The scenario (file or flags) is not valid; the message says where."""


def parse_duration(text: str | float | int) -> float:
    if isinstance(text, int | float):
        return float(text)
    match = _DURATION.match(text.strip())
    if not match:
        raise ScenarioError(f"invalid duration {text!r} (use 30s, 2m, 500ms)")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class Stage:
    duration_s: float
    target: int


@dataclass(frozen=True)
class Threshold:
    metric: str
    stat: str  # "p95", "p99.9", "avg", "max", "rate"
    limit: float
    inclusive: bool
    expression: str

    def passes(self, value: float) -> bool:
        return value <= self.limit if self.inclusive else value < self.limit


def parse_threshold(metric: str, expression: str) -> Threshold:
    if metric not in METRICS:
        raise ScenarioError(f"unknown threshold metric {metric!r} (known: {', '.join(METRICS)})")
    match = _THRESHOLD.match(expression.strip())
    if not match:
        raise ScenarioError(
            f"invalid threshold {expression!r} for {metric} "
            "(use p(95)<100, avg<50, max<1000 or rate<0.001)"
        )
    kind, percentile, op, limit = match.groups()
    stat = f"p{percentile}" if percentile else kind
    if (stat == "rate") != (metric == "errors"):
        raise ScenarioError(f"{metric}: use rate<... for errors and p(..)/avg/max otherwise")
    return Threshold(metric, stat, float(limit), op == "<=", expression.strip())


@dataclass(frozen=True)
class Behaviour:
    move_hz: float = 10.0
    chat_every_s: float = 5.0
    attack_every_s: float = 2.0
    chat_channel: str = "say"
    speed: float = 6.0  # world units per second
    wander_radius: float = 150.0


@dataclass(frozen=True)
class Scenario:
    gateway: str = "http://127.0.0.1:8080"
    zone: int = 1
    login: str = "device"  # or "password": register then log in
    encoding: str = "msgpack"
    protocol: int = 2  # 2: delta snapshots (msgpack only); 1: full snapshots
    processes: int = 1
    stages: tuple[Stage, ...] = (Stage(10.0, 10), Stage(20.0, 10), Stage(5.0, 0))
    behaviour: Behaviour = field(default_factory=Behaviour)
    thresholds: tuple[Threshold, ...] = ()
    run_id: str = ""

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.stages)

    @property
    def peak(self) -> int:
        return max(s.target for s in self.stages)

    def target_at(self, t: float) -> int:
        """How many bots should be playing ``t`` seconds into the run."""
        if t <= 0:
            return 0
        previous, start = 0, 0.0
        for stage in self.stages:
            if t < start + stage.duration_s:
                fraction = (t - start) / stage.duration_s if stage.duration_s else 1.0
                return round(previous + (stage.target - previous) * fraction)
            previous, start = stage.target, start + stage.duration_s
        return previous


def stages_from_text(text: str) -> tuple[Stage, ...]:
    """``"10s:100,30s:100,5s:0"`` → stages."""
    stages = []
    for part in text.split(","):
        duration, sep, target = part.strip().partition(":")
        if not sep or not target.strip().isdigit():
            raise ScenarioError(f"invalid stage {part!r} (use duration:target, like 30s:100)")
        stages.append(Stage(parse_duration(duration), int(target)))
    return tuple(stages)


def thresholds_from(mapping: dict[str, Any]) -> tuple[Threshold, ...]:
    found = []
    for metric, expressions in mapping.items():
        for expression in [expressions] if isinstance(expressions, str) else expressions:
            found.append(parse_threshold(metric, str(expression)))
    return tuple(found)


def from_mapping(data: dict[str, Any]) -> Scenario:
    known = {
        "gateway",
        "zone",
        "login",
        "encoding",
        "protocol",
        "processes",
        "stages",
        "behaviour",
        "thresholds",
    }
    unknown = set(data) - known
    if unknown:
        raise ScenarioError(f"unknown scenario keys: {', '.join(sorted(unknown))}")
    try:
        stages = tuple(
            Stage(parse_duration(s["duration"]), int(s["target"])) for s in data.get("stages", [])
        )
        settings: dict[str, Any] = {
            k: (v if k == "chat_channel" else float(v))
            for k, v in data.get("behaviour", {}).items()
        }
        behaviour = Behaviour(**settings)
    except (KeyError, TypeError, ValueError) as exc:
        raise ScenarioError(f"invalid scenario: {exc}") from None
    scenario = Scenario(
        gateway=str(data.get("gateway", Scenario.gateway)),
        zone=int(data.get("zone", 1)),
        login=str(data.get("login", "device")),
        encoding=str(data.get("encoding", "msgpack")),
        protocol=int(
            data.get("protocol", 2 if data.get("encoding", "msgpack") == "msgpack" else 1)
        ),
        processes=int(data.get("processes", 1)),
        stages=stages or Scenario().stages,
        behaviour=behaviour,
        thresholds=thresholds_from(data.get("thresholds", {})),
    )
    validate(scenario)
    return scenario


def load(path: Path) -> Scenario:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"scenario {path} must be a mapping")
    return from_mapping(data)


def validate(scenario: Scenario) -> None:
    if scenario.login not in ("device", "password"):
        raise ScenarioError("login must be device or password")
    if scenario.encoding not in ("json", "msgpack"):
        raise ScenarioError("encoding must be json or msgpack")
    if scenario.protocol not in (1, 2):
        raise ScenarioError("protocol must be 1 or 2")
    if scenario.protocol == 2 and scenario.encoding != "msgpack":
        raise ScenarioError("protocol 2 needs encoding msgpack")
    if scenario.processes < 1:
        raise ScenarioError("processes must be at least 1")
    if not scenario.stages or any(s.duration_s < 0 or s.target < 0 for s in scenario.stages):
        raise ScenarioError("stages need non-negative durations and targets")
    if scenario.behaviour.chat_channel not in ("say", "zone", "global"):
        raise ScenarioError("behaviour.chat_channel must be say, zone or global")
