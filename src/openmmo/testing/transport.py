"""A transport that records what a session sends, decoded."""

from __future__ import annotations

import json
from typing import Any

import msgpack

from openmmo.protocol.delta import DeltaView
from openmmo.protocol.snapshot import entities_from_wire


class RecordingTransport:
    """Implements :class:`openmmo.zone.session.Transport`; ``messages`` holds every sent
    message decoded to a dict, ``closed`` the close code and reason once closed."""

    def __init__(self, remote: str = "test:1"):
        self.remote = remote
        self.address = remote.rsplit(":", 1)[0]
        self.frames: list[tuple[bytes, bool]] = []
        self.closed: tuple[int, str] | None = None

    def send(self, data: bytes, binary: bool) -> None:
        if self.closed is None:
            self.frames.append((data, binary))

    def close(self, code: int, reason: str) -> None:
        if self.closed is None:
            self.closed = (code, reason)

    @property
    def messages(self) -> list[dict[str, Any]]:
        decoded = []
        for data, binary in self.frames:
            message = msgpack.unpackb(data, raw=False) if binary else json.loads(data)
            decoded.append(message)
        return decoded

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    def last(self, kind: str) -> dict[str, Any]:
        found = self.of_type(kind)
        if not found:
            raise AssertionError(f"no {kind!r} message among {[m['type'] for m in self.messages]}")
        return found[-1]

    def view(self) -> DeltaView:
        """Protocol v2: the view a client holds after applying every snapshot so far."""
        view = DeltaView()
        for message in self.of_type("snapshot"):
            view.apply(message)
        return view

    def entity_ids(self) -> set[int]:
        """Entity ids in the last snapshot (v1), or in the view held after it (v2)."""
        last = self.last("snapshot")
        if "entities" in last:
            return {int(r["id"]) for r in entities_from_wire(last["entities"])}
        return {int(r["id"]) for r in self.view().records()}
