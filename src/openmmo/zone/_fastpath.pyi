from collections.abc import Callable
from typing import Any

from picows import WSFrame, WSListener, WSTransport

COMPILED: bool

def parse_move(payload: bytes) -> tuple[int, float, float] | None: ...

class MoveInbox:
    bytes_in: int
    accepted: int
    total: int
    def __init__(self, playing: object, monotonic: Callable[[], float]) -> None: ...
    def __len__(self) -> int: ...
    def push(self, session: Any, x: float, y: float, at: float) -> None: ...
    def drain(self, inputs: Any, arrivals: list[float]) -> int: ...

class FastGameListener(WSListener):
    session: Any
    moves: MoveInbox | None
    parts: list[bytes]
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None: ...
    def on_frame(self, transport: WSTransport, frame: WSFrame) -> None: ...
