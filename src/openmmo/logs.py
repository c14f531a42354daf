"""Structured logging: one JSON object per line, with bound ids (request, player, zone).

Standard-library loggers (uvicorn, picows, alembic) go through the same renderer, so every line
a process prints is JSON and can be shipped as is. The fields are listed in docs/howto/logs.md.

A peer that breaks the WebSocket protocol (an oversized frame, a bad opcode) makes picows log an
error and close the connection (1009, 1002...). Any client can send such frames, and nobody
can act on them: :class:`PeerErrorFilter` makes them warnings, at most one per
``PEER_ERROR_INTERVAL_S``, the next one counting those left out (``suppressed``).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog
from opentelemetry import trace

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

PEER_ERROR_INTERVAL_S = 10.0
# picows' messages for a frame the peer got wrong (its parser, or a WSProtocolError raised by
# our listener); "WS parser failure" (anything else raised in the parser) stays an error.
_PEER_ERRORS = ("WS parser error", "on_ws_frame raised WSProtocolError")


class PeerErrorFilter(logging.Filter):
    """On a handler: picows' peer protocol errors become WARNING records, one per
    ``interval_s`` (per process); the next one let through carries ``suppressed``, how many
    were dropped since. Other records pass untouched.

    A handler filter, not one on the "picows" logger: picows makes a child logger per
    connection, and a logger's filters do not see its children's records."""

    def __init__(
        self,
        interval_s: float = PEER_ERROR_INTERVAL_S,
        min_level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._min_level = min_level
        self._clock = clock
        self._next_at_s = -math.inf
        self._suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not _is_peer_error(record):
            return True
        if self._min_level > logging.WARNING:
            return False
        now = self._clock()
        if now < self._next_at_s:
            self._suppressed += 1
            return False
        self._next_at_s = now + self.interval_s
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        if self._suppressed:
            record.suppressed = self._suppressed
            self._suppressed = 0
        return True


def _is_peer_error(record: logging.LogRecord) -> bool:
    return (
        record.name.split(".", 1)[0] == "picows"
        and isinstance(record.msg, str)
        and record.msg.startswith(_PEER_ERRORS)
    )


def add_trace_ids(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A line logged inside a recording span (tracing on) names its trace and span, so a
    log search finds the trace and the trace view its lines; without tracing, nothing."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """Route structlog and stdlib logging to stderr in ``fmt`` (json or console)."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(allow=("suppressed",))],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(PeerErrorFilter(min_level=_LEVELS[level]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    # uvicorn's access log duplicates our metrics; picows and alembic narrate every
    # connection and migration step at INFO.
    logging.getLogger("uvicorn.access").disabled = True
    for chatty in ("picows", "alembic", "aiosqlite"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, _LEVELS[level]))
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
