"""HTTP errors: a stable machine-readable ``code`` and a human ``message``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


async def handle_api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


def unauthorized(message: str, *, code: str = "unauthorized") -> ApiError:
    return ApiError(401, code, message, {"WWW-Authenticate": 'Bearer realm="openmmo"'})


def rate_limited(retry_after_s: float) -> ApiError:
    seconds = max(1, int(retry_after_s + 0.999))
    return ApiError(
        429,
        "rate_limited",
        f"too many requests; retry in {seconds}s",
        {"Retry-After": str(seconds)},
    )


def unavailable(message: str, retry_after_s: int = 2) -> ApiError:
    return ApiError(503, "unavailable", message, {"Retry-After": str(retry_after_s)})
