"""Tracing with OpenTelemetry: off unless the standard ``OTEL_*`` variables switch it on.

How it works. :func:`configure_tracing` runs once at process start, next to
``configure_logging``. Tracing is on when ``OTEL_TRACES_EXPORTER`` names an exporter other than
``none`` (``otlp``, over http/protobuf, or ``console``), or when an OTLP endpoint is set, and
``OTEL_SDK_DISABLED`` is not ``true``. Off, :func:`span` hands out the API's invalid span and
touches no context, so an untraced server pays one check per span.

One trace follows a player from login to playing: the gateway honours a W3C ``traceparent``
header (a client that sends the same one on its login and its join request gets one trace),
signs the allocation span's context into the join ticket (claim ``tp``), and the zone server's
``zone.join`` span continues it. A transfer does the same across two zone servers: the source's
``zone.transfer`` span goes into the transfer ticket. A header or claim that does not parse is
ignored: the span starts a trace of its own.

Span attributes are named ``openmmo.<name>`` (:func:`annotate`); tokens, passwords, device ids
and usernames are never recorded. See docs/howto/tracing.md.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from openmmo import __version__
from openmmo.config import ConfigError

P = ParamSpec("P")
T = TypeVar("T")

PREFIX = "openmmo."
EXPORTERS = ("otlp", "console")
OTLP_PROTOCOL = "http/protobuf"
_W3C = TraceContextTextMapPropagator()  # tickets carry W3C trace context, whatever OTEL_PROPAGATORS
_tracer: trace.Tracer | None = None  # None: tracing is off


def exporters_wanted(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The exporters the ``OTEL_*`` variables ask for; ``()`` when tracing is off.
    ConfigError for an exporter or OTLP protocol this build cannot serve."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ()
    given = environ.get("OTEL_TRACES_EXPORTER", "")
    names = [n.strip().lower() for n in given.split(",") if n.strip()]
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if not names and endpoint:
        names = ["otlp"]
    if "none" in names:
        return ()
    unknown = [n for n in names if n not in EXPORTERS]
    if unknown:
        raise ConfigError(
            f"invalid configuration: OTEL_TRACES_EXPORTER: {', '.join(unknown)} is not one of "
            f"{', '.join(EXPORTERS)}, none"
        )
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", OTLP_PROTOCOL
    )
    if "otlp" in names and protocol != OTLP_PROTOCOL:
        raise ConfigError(
            f"invalid configuration: OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r}; this build "
            f"exports OTLP over {OTLP_PROTOCOL} only (a collector's port 4318)"
        )
    return tuple(dict.fromkeys(names))


def tracer_provider(
    service_name: str, environ: Mapping[str, str] | None = None
) -> TracerProvider | None:
    """The SDK provider the variables ask for, exporting in batches; None when off.
    ``OTEL_SERVICE_NAME`` wins over ``service_name``. The exporters read their own settings
    (endpoint, headers, timeout) from the process environment."""
    environ = os.environ if environ is None else environ
    exporters = exporters_wanted(environ)
    if not exporters:
        return None
    provider = TracerProvider(resource=_resource(environ.get("OTEL_SERVICE_NAME") or service_name))
    for name in exporters:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    return provider


def configure_tracing(service_name: str) -> bool:
    """Switch tracing on if the ``OTEL_*`` variables ask for it; True when on. Once per
    process: the provider also becomes OpenTelemetry's global one, and flushes at exit."""
    global _tracer
    provider = tracer_provider(service_name)
    if provider is None:
        _tracer = None
        return False
    trace.set_tracer_provider(provider)
    _tracer = provider.get_tracer("openmmo", __version__)
    return True


def install_memory_exporter(service_name: str = "openmmo-test") -> InMemorySpanExporter:
    """For tests: tracing on, every span recorded in the returned exporter as it ends
    (whatever was configured before; the global provider is left alone)."""
    global _tracer
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        sampler=ALWAYS_ON, resource=_resource(service_name), shutdown_on_exit=False
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _tracer = provider.get_tracer("openmmo", __version__)
    return exporter


def reset_tracing() -> None:
    """Tracing off again (what a test that installed an exporter ends with)."""
    global _tracer
    _tracer = None


def enabled() -> bool:
    return _tracer is not None


# --- spans -----------------------------------------------------------------------------------
@contextmanager
def span(
    name: str,
    *,
    parent: Context | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    links: Sequence[Link] = (),
    **attributes: AttributeValue | None,
) -> Iterator[Span]:
    """A span, current while the block runs: a child of ``parent`` (default: the current
    context; ``Context()`` starts a trace). An exception leaving the block is recorded and
    sets status ERROR (an error with a string ``code``, such as an API error, by its code
    alone; any other with its exception event); :func:`record_error` marks a failure that is
    handled."""
    if _tracer is None:
        yield trace.INVALID_SPAN
        return
    with _tracer.start_as_current_span(
        name,
        context=parent,
        kind=kind,
        links=links,
        attributes=_attributes(attributes),
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except Exception as exc:
            code = getattr(exc, "code", None)
            if isinstance(code, str):  # answered with this code; the message may name the user
                record_error(code, code, on=current)
            else:  # a bug: its exception, as the logs have it
                record_error(
                    type(exc).__name__, f"{type(exc).__name__}: {exc}", exc=exc, on=current
                )
            raise


def traced(
    name: str, kind: SpanKind = SpanKind.SERVER
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """Run each call of an async function in a :func:`span` of its own."""

    def decorate(function: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        @functools.wraps(function)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            with span(name, kind=kind):
                return await function(*args, **kwargs)

        return wrapper

    return decorate


def annotate(**attributes: AttributeValue | None) -> None:
    """Set ``openmmo.<name>`` attributes on the current span (None values are left out)."""
    if _tracer is not None:
        trace.get_current_span().set_attributes(_attributes(attributes))


def record_error(
    error_type: str, description: str, *, exc: BaseException | None = None, on: Span | None = None
) -> None:
    """Mark a span (default: the current one) failed: status ERROR, ``error.type`` (a stable
    code such as ``no_channel_available``) and, given ``exc``, an exception event."""
    if _tracer is None:
        return
    target = on if on is not None else trace.get_current_span()
    if exc is not None:
        target.record_exception(exc)
    target.set_attribute("error.type", str(error_type))
    target.set_status(Status(StatusCode.ERROR, description))


def _attributes(given: Mapping[str, AttributeValue | None]) -> dict[str, AttributeValue]:
    return {PREFIX + k: v for k, v in given.items() if v is not None}


# --- context across processes ----------------------------------------------------------------
def current_traceparent() -> str | None:
    """The current span's context as a W3C ``traceparent`` (for a ticket); None when off or
    when no span is current."""
    if _tracer is None:
        return None
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get("traceparent")


def parent_from(traceparent: str | None) -> Context:
    """The context a ``traceparent`` (from a ticket) names; an empty one, which starts a
    trace, when there is none or it does not parse."""
    if not traceparent or _tracer is None:
        return Context()
    return _W3C.extract({"traceparent": traceparent}, context=Context())


def link_to(traceparent: str | None) -> list[Link]:
    """A link to the span a ``traceparent`` names, or none."""
    context = trace.get_current_span(parent_from(traceparent)).get_span_context()
    return [Link(context)] if context.is_valid else []


def context_from_headers(headers: Mapping[str, str]) -> Context | None:
    """The context of an HTTP request's ``traceparent`` header (by the configured
    propagators, W3C trace context by default); None when off. An unparsable header gives
    an empty context: the request's spans start a trace."""
    if _tracer is None:
        return None
    return propagate.extract(headers, context=Context())


def _resource(service_name: str) -> Resource:
    return Resource.create({"service.name": service_name, "service.version": __version__})


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()
