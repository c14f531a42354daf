"""The operator endpoints as Starlette routes, and the HTTP metrics middleware."""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openmmo.metrics import HTTP_DURATION
from openmmo.ops.health import Health
from openmmo.ops.version import build_info


def ops_routes(health: Health) -> list[BaseRoute]:
    """/health/live, /health/ready, /metrics, /version (and the seed's /health, /ready)."""

    async def live(_: Request) -> Response:
        return JSONResponse({"status": "live"})

    async def ready(_: Request) -> Response:
        ok, checks = await health.readiness()
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", "checks": checks},
            status_code=200 if ok else 503,
        )

    async def metrics(_: Request) -> Response:
        await health.readiness()  # refreshes openmmo_dependency_up
        return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)

    async def version(_: Request) -> Response:
        return JSONResponse(build_info())

    return [
        Route("/health/live", live, include_in_schema=False),
        Route("/health/ready", ready, include_in_schema=False),
        Route("/health", live, include_in_schema=False),
        Route("/ready", ready, include_in_schema=False),
        Route("/metrics", metrics, include_in_schema=False),
        Route("/version", version, include_in_schema=False),
    ]


def _registry() -> CollectorRegistry:
    """This process's metrics; in a gateway worker (PROMETHEUS_MULTIPROC_DIR set, see
    openmmo.workers) every worker's, added up from their files."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


class MetricsMiddleware:
    """Times every HTTP request into ``openmmo_http_request_duration_seconds``, labelled by
    route template (not raw path) so the label set stays bounded."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            HTTP_DURATION.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )
