"""The compiled input path if it was built, else the same names in pure Python.

``openmmo.zone._fastpath`` (Cython, built by ``make install`` with the machine's C compiler;
docs/decisions/0006-compiled-move-reader.md) reads move frames straight into the tick's
inputs. Where it was not built (no compiler, another platform) or ``COMPILED_PATH=false``
turns it off, every frame takes the Python path, which is the reference: the compiled path
accepts only what it would accept, with the same effect (``tests/zone/test_fastpath.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from picows import WSFrame, WSListener, WSTransport

try:
    from openmmo.zone._fastpath import FastGameListener, MoveInbox, parse_move

    COMPILED = True
    UNAVAILABLE = ""
except (ImportError, ValueError) as exc:  # not built, or built against another picows
    COMPILED = False
    UNAVAILABLE = f"{type(exc).__name__}: {exc}"  # what the zone logs at start

    class FastGameListener(WSListener):  # type: ignore[no-redef]
        """Every frame to ``on_frame``: the pure-Python path."""

        session: Any = None
        moves: Any = None  # always None here
        parts: list[bytes]
        on_frame: Callable[[WSTransport, WSFrame], None]  # the subclass's frame handler

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            self.on_frame(transport, frame)

    MoveInbox = None  # type: ignore[assignment,misc]
    parse_move = None  # type: ignore[assignment]

__all__ = ["COMPILED", "UNAVAILABLE", "FastGameListener", "MoveInbox", "parse_move"]
