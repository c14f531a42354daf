"""Test support shipped with the server: the game test kit (:class:`GameZone`), a manual
clock, a recording transport, world builders and a launcher for a real local world. Used by
OpenMMO's own tests, by bots, and by game teams testing their rules.
"""

from openmmo.testing.clock import ManualClock
from openmmo.testing.game import GameZone, rejected
from openmmo.testing.local import LocalWorld, free_port
from openmmo.testing.transport import RecordingTransport
from openmmo.testing.worlds import default_game, empty_world, place_player

__all__ = [
    "GameZone",
    "LocalWorld",
    "ManualClock",
    "RecordingTransport",
    "default_game",
    "empty_world",
    "free_port",
    "place_player",
    "rejected",
]
