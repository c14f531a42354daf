"""HTTP client of the gateway: accounts, characters, zones, join tickets, matchmaking."""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import Any

import httpx


class ApiError(Exception):
    """The gateway answered with an error: ``status`` and its stable ``code``."""

    def __init__(self, status: int, code: str, message: str, retry_after_s: float | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s  # the response's Retry-After, if it had one


class GatewayClient:
    def __init__(self, base_url: str, *, timeout_s: float = 30.0):
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)
        self.token: str | None = None
        self.refresh_token: str | None = None
        self.account_id: int | None = None

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def call(self, method: str, path: str, json: Any = None, auth: bool = True) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if auth and self.token else {}
        response = await self._http.request(method, path, json=json, headers=headers)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"code": "http_error", "message": response.text[:200]}
            raise ApiError(
                response.status_code,
                body.get("code", "?"),
                body.get("message", ""),
                _retry_after(response.headers.get("retry-after")),
            )
        return response.json() if response.content else None

    async def _tokens(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        pair: dict[str, Any] = await self.call("POST", path, body, auth=False)
        self.token, self.refresh_token = pair["token"], pair["refresh_token"]
        self.account_id = pair["account_id"]
        return pair

    async def register(self, username: str, password: str) -> dict[str, Any]:
        return await self._tokens("/auth/register", {"username": username, "password": password})

    async def login(self, username: str, password: str) -> dict[str, Any]:
        return await self._tokens("/auth/login", {"username": username, "password": password})

    async def device_login(self, device_id: str) -> dict[str, Any]:
        return await self._tokens("/auth/device", {"device_id": device_id})

    async def refresh(self) -> dict[str, Any]:
        return await self._tokens("/auth/refresh", {"refresh_token": self.refresh_token})

    async def characters(self) -> list[dict[str, Any]]:
        body: dict[str, Any] = await self.call("GET", "/api/characters")
        return list(body["characters"])

    async def create_character(
        self, name: str, character_class: str | None = None
    ) -> dict[str, Any]:
        """A new character (of the game's first class unless ``character_class`` is given)."""
        body: dict[str, Any] = {"name": name}
        if character_class is not None:
            body["class"] = character_class
        created: dict[str, Any] = await self.call("POST", "/api/characters", body)
        return created

    async def get_character(self, character_id: int) -> dict[str, Any]:
        character: dict[str, Any] = await self.call("GET", f"/api/characters/{character_id}")
        return character

    async def zones(self) -> list[dict[str, Any]]:
        body: dict[str, Any] = await self.call("GET", "/api/zones")
        return list(body["zones"])

    async def join_character(
        self, character_id: int, avoid_channel: str | None = None
    ) -> dict[str, Any]:
        """A join grant for the zone the character is saved in (where a rejoin goes);
        ``avoid_channel``: one just lost, passed over if another can take the player."""
        body = {"avoid_channel": avoid_channel} if avoid_channel else None
        grant: dict[str, Any] = await self.call(
            "POST", f"/api/characters/{character_id}/join", body
        )
        return grant

    async def join_zone(self, zone_id: int, character_id: int | None = None) -> dict[str, Any]:
        grant: dict[str, Any] = await self.call(
            "POST", f"/api/zones/{zone_id}/join", {"character_id": character_id}
        )
        return grant

    # --- matchmaking ----------------------------------------------------------------------
    async def queue_match(self, mode: str, character_id: int | None = None) -> dict[str, Any]:
        """Queue for ``mode`` (e.g. ``dungeon``); returns the matchmaking ticket."""
        ticket: dict[str, Any] = await self.call(
            "POST", "/api/matchmaking/tickets", {"mode": mode, "character_id": character_id}
        )
        return ticket

    async def match_status(self, ticket_id: str) -> dict[str, Any]:
        ticket: dict[str, Any] = await self.call("GET", f"/api/matchmaking/tickets/{ticket_id}")
        return ticket

    async def cancel_match(self, ticket_id: str) -> None:
        await self.call("DELETE", f"/api/matchmaking/tickets/{ticket_id}")

    async def wait_for_match(
        self, ticket_id: str, timeout_s: float = 60.0, poll_s: float = 0.5
    ) -> dict[str, Any]:
        """Poll until the ticket is no longer queued; returns it (with ``grant`` when
        matched). Raises :class:`TimeoutError` if it is still queued after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            ticket = await self.match_status(ticket_id)
            if ticket["status"] != "queued":
                return ticket
            if time.monotonic() >= deadline:
                raise TimeoutError(f"ticket {ticket_id} still queued after {timeout_s:g} s")
            await asyncio.sleep(poll_s)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
