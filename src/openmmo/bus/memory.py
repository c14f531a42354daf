"""In-process bus: delivers to every handler of this process, synchronously."""

from __future__ import annotations

from collections.abc import Callable

from openmmo.bus import ChatHandler, ChatMessage


class MemoryBus:
    def __init__(self) -> None:
        self._handlers: list[ChatHandler] = []

    async def publish_chat(self, message: ChatMessage) -> None:
        for handler in list(self._handlers):
            handler(message)

    def subscribe_chat(self, handler: ChatHandler) -> Callable[[], None]:
        self._handlers.append(handler)
        return lambda: self._handlers.remove(handler)

    async def close(self) -> None:
        self._handlers.clear()
