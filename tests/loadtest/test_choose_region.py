"""`openmmo loadtest --choose-region`: the bots play in the region they measure nearest."""

import asyncio
import json
import os
import subprocess
import sys
import threading

import pytest

from openmmo.chaos.proxy import FaultProxy
from openmmo.testing.local import LocalWorld

pytestmark = pytest.mark.e2e


def test_the_bots_play_in_the_region_they_measure_nearest(tmp_path):
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    worlds = {name: LocalWorld(tmp_path / name, env={"REGION": name}) for name in ("a", "b")}
    # a's ping answers 0.1 s late each way: asked through a, the bots go to b
    slow = FaultProxy("127.0.0.1", worlds["a"].gateway_port)
    asyncio.run_coroutine_threadsafe(slow.start(), loop).result(5)
    slow.set_faults(latency_s=0.1)
    listed = [
        {"name": "a", "gateway_url": worlds["a"].gateway_url,
         "ping_url": f"http://127.0.0.1:{slow.port}/api/ping"},
        {"name": "b", "gateway_url": worlds["b"].gateway_url},
    ]  # fmt: skip
    try:
        for world in worlds.values():
            world.extra_env.update(REGIONS=json.dumps(listed), REGION_PROBE_INTERVAL_S="0.5")
            world.start(60)
        done = subprocess.run(
            [sys.executable, "-m", "openmmo", "loadtest", "--gateway", worlds["a"].gateway_url,
             "--choose-region", "--stages", "2s:3,2s:3,1s:0", "--processes", "1",
             "--report-dir", str(tmp_path / "reports")],
            capture_output=True, text=True, timeout=120, env=dict(os.environ),
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert "bots play in region b (hint; pings: a " in done.stdout, done.stdout
        report = json.loads((tmp_path / "reports" / "loadtest.json").read_text())
        assert report["scenario"]["gateway"] == worlds["b"].gateway_url
        logins = [line for line in worlds["b"].log_lines() if "player_joined" in line]
        assert len(logins) >= 3 and not [
            line for line in worlds["a"].log_lines() if "player_joined" in line
        ]
    finally:
        for world in worlds.values():
            world.stop()
        asyncio.run_coroutine_threadsafe(slow.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
