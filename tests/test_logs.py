"""openmmo.logs: peers' protocol errors are rate-limited warnings; everything else is as logged."""

import json
import logging

import pytest
import structlog
from opentelemetry import trace

from openmmo.logs import PeerErrorFilter, configure_logging
from openmmo.testing import ManualClock

PARSER_ERROR = "WS parser error: %s, initiate disconnect"


def record(name="picows.server.17", level=logging.ERROR, msg=PARSER_ERROR, args=((1009, "big"),)):
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_peer_errors_become_one_warning_per_interval_and_the_next_counts_the_rest():
    clock = ManualClock()
    peer_errors = PeerErrorFilter(interval_s=10.0, clock=clock.monotonic)
    first = record()
    assert peer_errors.filter(first)
    assert (first.levelno, first.levelname) == (logging.WARNING, "WARNING")
    assert not hasattr(first, "suppressed")
    for _ in range(41):
        clock.advance(0.2)
        assert not peer_errors.filter(record())
    clock.advance(2.0)  # 10.2 s after the first
    second = record(
        msg="on_ws_frame raised WSProtocolError: %s, send CLOSE and initiate disconnect"
    )
    assert peer_errors.filter(second)
    assert second.levelno == logging.WARNING and second.suppressed == 41
    clock.advance(10.0)
    third = record()
    assert peer_errors.filter(third) and not hasattr(third, "suppressed")


def test_other_records_pass_untouched():
    peer_errors = PeerErrorFilter(clock=ManualClock().monotonic)
    for other in (
        record(msg="WS parser failure, initiate disconnect"),  # a bug, not the peer: an error
        record(name="openmmo.zone", msg="WS parser error: %s"),
        record(name="picowsish", msg=PARSER_ERROR),
        record(level=logging.WARNING, msg="Protocol writing pause requested"),
    ):
        level = other.levelno
        assert peer_errors.filter(other) and other.levelno == level
        assert peer_errors.filter(other), "never rate-limited"


def test_at_log_level_error_peer_errors_are_left_out():
    peer_errors = PeerErrorFilter(min_level=logging.ERROR, clock=ManualClock().monotonic)
    assert not peer_errors.filter(record())


TOUCHED = ("", "picows", "alembic", "aiosqlite", "uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def restored_logging():
    """configure_logging changes process-wide state: put it back for the other tests."""
    loggers = [logging.getLogger(name) for name in TOUCHED]
    saved = [(lg, lg.handlers[:], lg.level, lg.disabled, lg.propagate) for lg in loggers]
    yield
    for logger, handlers, level, disabled, propagate in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.disabled, logger.propagate = disabled, propagate
    structlog.reset_defaults()


def test_the_json_line_of_a_peer_error_is_a_warning_with_the_suppressed_count(
    restored_logging, capsys
):
    configure_logging("info", "json")
    (peer_errors,) = logging.getLogger().handlers[0].filters
    clock = ManualClock()
    peer_errors._clock = clock.monotonic
    # picows logs through a child Logger per connection that it makes itself (not getLogger)
    connection = logging.Logger("picows.server.23")
    connection.parent = logging.getLogger("picows.server")
    for _ in range(3):
        connection.error(PARSER_ERROR, (1009, "too big"))
    clock.advance(peer_errors.interval_s)
    connection.error(PARSER_ERROR, (1002, "bad opcode"))
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["level"], line.get("suppressed")) for line in lines] == [
        ("warning", None),
        ("warning", 2),
    ]
    assert lines[1]["logger"] == "picows.server.23" and "bad opcode" in lines[1]["event"]


def test_lines_logged_in_a_span_carry_its_trace_and_span_ids(restored_logging, capsys):
    from openmmo.tracing import install_memory_exporter, reset_tracing, span

    configure_logging("info", "json")
    log = structlog.stdlib.get_logger("openmmo.test")
    log.info("outside")
    install_memory_exporter()
    try:
        with span("zone.join"):
            log.info("inside")
            context = trace.get_current_span().get_span_context()
    finally:
        reset_tracing()
    outside, inside = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert "trace_id" not in outside and "span_id" not in outside
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
