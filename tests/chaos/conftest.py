"""Chaos scenarios run against their own local worlds (separate processes, throwaway
dependencies where one is killed). Short versions in ``make test``; ``make chaos`` sets
``OPENMMO_CHAOS_LONG=1``: more players, dependencies down for the full 30 s."""

from __future__ import annotations

import os

import pytest

from openmmo.chaos import Options
from openmmo.testing.cluster import on_shared_services

LONG = os.environ.get("OPENMMO_CHAOS_LONG") == "1"


@pytest.fixture
def options() -> Options:
    return Options(players=200, down_s=30.0) if LONG else Options(players=24, down_s=10.0)


@pytest.fixture
def cluster(tmp_path):
    env = {"AUTH_RATE_PER_IP": "500", "AUTH_BURST_PER_IP": "1000"}
    with on_shared_services(tmp_path, [1, 1], env=env) as world:
        yield world
