"""The browser pages the gateway serves: the game client at ``/play`` and the operators'
console at ``/console``.

Plain ES modules, no build step: the one third-party module (msgpack) is vendored under
``static/vendor`` by ``scripts/vendor-web.sh``, so nothing is fetched at run time.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
# Browsers load module scripts only with a JavaScript MIME type; Python 3.11's table has no .mjs.
mimetypes.add_type("text/javascript", ".mjs")


def _page(name: str) -> Route:
    path = STATIC / name

    async def page(_: Request) -> Response:
        return FileResponse(path, media_type="text/html", headers={"Cache-Control": "no-cache"})

    return Route(f"/{name.removesuffix('.html')}", page, include_in_schema=False)


def web_routes() -> list[BaseRoute]:
    return [
        _page("play.html"),
        _page("console.html"),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
