"""What crosses regions, by RabbitMQ's own federation plugin: the definitions a region's
broker loads so that its ``<ns>.global`` and ``<ns>.players`` exchanges receive what is
published to the same exchanges in every other region (:mod:`openmmo.bus.rabbitmq`).

Each region's broker gets one upstream per other region (a full mesh) and one policy that
makes the two exchanges federated. ``max-hops`` 1: a message crosses one link and is not
passed on, so a mesh delivers it once to every region. Exchange federation carries the
downstream's bindings upstream, so a whisper crosses only to the region where its recipient
plays; a chat line crosses to every region. The links queue what a region that is away cannot
take for ``message-ttl`` (the bus's own 10 s: chat older than that is noise) and drop a link
queue whose region has been away for ``expires``.

Load the JSON with ``rabbitmqctl import_definitions FILE`` or the broker's
``load_definitions``; it holds the other regions' credentials, so it belongs in a Secret.
Kind: pure.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from openmmo.bus.rabbitmq import MESSAGE_TTL_MS

LINK_EXPIRES_MS = 3_600_000  # a link queue whose region is away this long goes
EXCHANGES = ("global", "players")
_REGION = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


class FederationError(ValueError):
    """The upstreams asked for make no sense."""


def _default_vhost(uri: str) -> str:
    """``amqp://host/`` means the default virtual host to aio-pika (and in RABBITMQ_URL) but
    the empty-named one to the broker's federation: drop the lone slash."""
    parts = urlsplit(uri)
    return uri[: -len("/")] if parts.path == "/" and not parts.query else uri


def upstream_name(namespace: str, region: str) -> str:
    return f"{namespace}-{region}"


def definitions(
    namespace: str,
    region: str,
    upstreams: dict[str, str],
    *,
    vhost: str = "/",
    max_hops: int = 1,
    message_ttl_ms: int = MESSAGE_TTL_MS,
    link_expires_ms: int = LINK_EXPIRES_MS,
) -> dict[str, Any]:
    """Definitions for ``region``'s broker: ``upstreams`` maps every other region to its
    broker's AMQP URI."""
    if not upstreams:
        raise FederationError("no upstreams: name every other region's broker")
    for name, uri in upstreams.items():
        if not _REGION.fullmatch(name):
            raise FederationError(f"{name!r} is not a region name (a-z, 0-9, '-')")
        if name == region:
            raise FederationError(f"{name!r} is this region: its broker is not an upstream")
        parts = urlsplit(uri)
        if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
            raise FederationError(f"the upstream of {name!r} is not an amqp(s):// URI")
    upstreams = {name: _default_vhost(uri) for name, uri in upstreams.items()}
    set_name = f"{namespace}-regions"
    return {
        "parameters": [
            *(
                {
                    "vhost": vhost,
                    "component": "federation-upstream",
                    "name": upstream_name(namespace, name),
                    "value": {
                        "uri": uri,
                        "max-hops": max_hops,
                        "message-ttl": message_ttl_ms,
                        "expires": link_expires_ms,
                        "ack-mode": "on-confirm",
                        "trust-user-id": False,
                    },
                }
                for name, uri in sorted(upstreams.items())
            ),
            {
                "vhost": vhost,
                "component": "federation-upstream-set",
                "name": set_name,
                "value": [
                    {"upstream": upstream_name(namespace, name)} for name in sorted(upstreams)
                ],
            },
        ],
        "policies": [
            {
                "vhost": vhost,
                "name": f"{namespace}-federation",
                "pattern": rf"^{re.escape(namespace)}\.({'|'.join(EXCHANGES)})$",
                "apply-to": "exchanges",
                "priority": 10,
                "definition": {"federation-upstream-set": set_name},
            }
        ],
    }
