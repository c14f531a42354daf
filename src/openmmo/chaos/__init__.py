"""``openmmo chaos``: put a fault into a local world under play and measure what the
players went through — time back in play, progress lost, item audit, errors, placements on
dead or draining servers — printed and written as JSON plus an HTML page with a timeline.

Kind: **process** tool. Scenarios (:mod:`openmmo.chaos.scenarios`) run against processes on
this machine (:mod:`openmmo.chaos.world`); the dependencies a scenario kills are throwaway
instances it starts itself, never the shared ones.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from openmmo import reports
from openmmo.chaos.crowd import Crowd, Timeline
from openmmo.chaos.scenarios import (
    SCENARIOS,
    Options,
    Result,
    dependency_down,
    dependency_partitioned,
    dependency_slow,
    zone_partition,
)
from openmmo.chaos.world import ChaosWorld

__all__ = ["SCENARIOS", "Options", "Result", "run", "run_kube", "write_report"]


async def run(name: str, opts: Options, workdir: Path | None = None) -> Result:
    """Start a world for scenario ``name``, join ``opts.players``, run the scenario, tear
    everything down; the result carries the timeline in ``figures["timeline"]``."""
    scenario, zones, throwaway = SCENARIOS[name]
    proxied = None
    if scenario in (dependency_down, dependency_partitioned, dependency_slow):
        opts = dataclasses.replace(opts, dependency=name.split("-")[0])
    if scenario in (dependency_partitioned, dependency_slow):
        proxied = opts.dependency
    if scenario is zone_partition:
        proxied = "zone1-1"
    workdir = workdir or Path(tempfile.mkdtemp(prefix=f"openmmo-chaos-{name}-"))
    world = await asyncio.to_thread(
        ChaosWorld.start, workdir, zones, throwaway, proxied, asyncio.get_running_loop()
    )
    try:
        return await _under_play(
            world.cluster.gateway_url, opts, lambda crowd, t: scenario(world, crowd, t, opts)
        )
    finally:
        if world.proxy is not None:
            world.proxy.heal()
        await asyncio.to_thread(world.close)
        if world.proxy is not None:
            await world.proxy.close()


async def run_kube(name: str, opts: Options, kube: Any, gateway_url: str) -> Result:
    """Scenario ``name`` of :mod:`openmmo.chaos.kube` against the cluster ``kube`` talks
    to, with ``opts.players`` players joined through its public gateway at ``gateway_url``."""
    from openmmo.chaos.kube import KUBE

    scenario = KUBE[name]
    return await _under_play(gateway_url, opts, lambda crowd, t: scenario(kube, crowd, t, opts))


async def _under_play(
    gateway_url: str,
    opts: Options,
    scenario: Callable[[Crowd, Timeline], Awaitable[Result]],
) -> Result:
    """Join ``opts.players`` through ``gateway_url``, sample them while ``scenario`` runs,
    leave; the result carries the timeline in ``figures["timeline"]``."""
    crowd = Crowd(gateway_url)
    timeline = Timeline()
    sampler: asyncio.Task[None] | None = None
    try:
        await crowd.join(opts.players)
        timeline = Timeline()
        sampler = asyncio.create_task(timeline.sample(crowd))
        result = await scenario(crowd, timeline)
    finally:
        if sampler is not None:
            sampler.cancel()
        await crowd.close()
    result.figures["timeline"] = {"samples": timeline.samples, "events": timeline.events}
    return result


def to_json(result: Result) -> dict[str, Any]:
    return {
        "scenario": result.scenario,
        "passed": result.passed,
        "figures": {k: v for k, v in result.figures.items() if k != "timeline"},
        "checks": [dataclasses.asdict(c) for c in result.checks],
        "back_in_play_s": result.back_in_play_s,
        "timeline": result.figures.get("timeline", {}),
    }


def write_report(result: Result, report_dir: Path) -> tuple[Path, Path]:
    data = to_json(result)
    line = data["timeline"]
    figures = [
        reports.timeline(
            f"{result.scenario}: players in play",
            "players",
            {"in play": line.get("samples", [])},
            line.get("events", []),
        )
    ]
    if result.back_in_play_s:
        figures.append(reports.histogram("time back in play", "seconds", result.back_in_play_s))
    return reports.write(
        report_dir,
        f"chaos-{result.scenario}",
        f"chaos: {result.scenario}",
        data,
        figures,
        verdict=result.passed,
    )
