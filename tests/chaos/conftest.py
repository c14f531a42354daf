"""Chaos scenarios run against their own local worlds (separate processes, throwaway
dependencies where one is killed). Short versions in ``make test``; ``make chaos`` sets
``OPENMMO_CHAOS_LONG=1``: more players, dependencies down for the full 30 s."""

from __future__ import annotations

import os

import pytest

from openmmo.chaos import Options
from openmmo.testing.cluster import Cluster
from openmmo.testing.services import (
    RABBITMQ_URL,
    REDIS_URL,
    create_database,
    drop_database,
    namespace,
)

LONG = os.environ.get("OPENMMO_CHAOS_LONG") == "1"


@pytest.fixture
def options() -> Options:
    return Options(players=200, down_s=30.0) if LONG else Options(players=24, down_s=10.0)


@pytest.fixture
def cluster(tmp_path):
    database = create_database()
    world = Cluster(
        tmp_path,
        database_url=database,
        redis_url=REDIS_URL,
        rabbitmq_url=RABBITMQ_URL,
        namespace=namespace(),
        zones=[1, 1],
        env={"AUTH_RATE_PER_IP": "500", "AUTH_BURST_PER_IP": "1000"},
    )
    try:
        world.start()
        yield world
    finally:
        world.stop_all()
        drop_database(database)
