"""The gateway's Starlette application."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openmmo import __version__
from openmmo.gateway.console import ConsoleService
from openmmo.gateway.errors import ApiError, error_response, handle_api_error
from openmmo.gateway.middleware import (
    BodyLimitMiddleware,
    RequestIdMiddleware,
    TraceContextMiddleware,
)
from openmmo.gateway.openapi import openapi_document
from openmmo.gateway.routes import api_routes
from openmmo.gateway.service import GatewayService
from openmmo.logs import get_logger
from openmmo.ops.app import MetricsMiddleware, ops_routes
from openmmo.ops.health import Health
from openmmo.web import web_routes

MAX_BODY_BYTES = 16 * 1024
log = get_logger("openmmo.gateway")


def create_app(service: GatewayService, health: Health, console: ConsoleService) -> Starlette:
    document = openapi_document()

    async def openapi(_: Request) -> Response:
        return JSONResponse(document)

    async def index(_: Request) -> Response:
        return JSONResponse(
            {
                "service": "openmmo-gateway",
                "version": __version__,
                "openapi": "/openapi.json",
                "zones": "/api/zones",
                "play": "/play",
                "console": "/console",
            }
        )

    async def not_found(_: Request, exc: Exception) -> Response:
        return error_response(404, "not_found", "no such endpoint")

    async def method_not_allowed(_: Request, exc: Exception) -> Response:
        return error_response(405, "method_not_allowed", "method not allowed here")

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled_error", path=request.url.path)
        return error_response(500, "internal", "internal error")

    app = Starlette(
        routes=[
            Route("/", index, include_in_schema=False),
            Route("/openapi.json", openapi, include_in_schema=False),
            *api_routes(),
            *ops_routes(health),
            *web_routes(),
        ],
        middleware=[
            Middleware(MetricsMiddleware),
            Middleware(RequestIdMiddleware),
            Middleware(TraceContextMiddleware),
            Middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES),
        ],
        exception_handlers={
            ApiError: handle_api_error,
            404: not_found,
            405: method_not_allowed,
            Exception: internal_error,
        },
    )
    app.state.service = service
    app.state.health = health
    app.state.console = console
    return app
