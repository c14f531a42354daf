"""Test support shipped with the server: a manual clock, a recording transport, world
builders and a launcher for a real local world. Used by OpenMMO's own tests, by bots, and by
game teams testing their rules.
"""

from openmmo.testing.clock import ManualClock
from openmmo.testing.local import LocalWorld, free_port
from openmmo.testing.transport import RecordingTransport
from openmmo.testing.worlds import empty_world, place_player

__all__ = [
    "LocalWorld",
    "ManualClock",
    "RecordingTransport",
    "empty_world",
    "free_port",
    "place_player",
]
