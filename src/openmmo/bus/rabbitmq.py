"""The bus on RabbitMQ (aio-pika).

Topology: in the region, a fanout exchange ``<ns>.broadcast`` and a direct exchange
``<ns>.direct``; across regions, a fanout ``<ns>.global`` and a direct ``<ns>.players``, which
the brokers of the regions federate (``openmmo.bus.federation``). Each subscribed server
declares an exclusive, auto-deleted queue bound to both fanouts, to the direct exchange with
its server id as routing key, and to ``<ns>.players`` with two keys per character playing on
it (:func:`openmmo.bus.player_keys`); federation carries those bindings to the other regions'
brokers, so a whisper published in one region crosses only to where its recipient plays, and
one that no queue anywhere is bound for comes back (published ``mandatory``): not in the
world. Consumed without acknowledgements (at-most-once, lowest latency). Messages are msgpack,
transient, and expire after 10 s in the queue (a chat line that old is noise).

Connection: established in the background with exponential backoff, so a server starts (not
ready) while the broker is down; after that aio-pika's robust connection reconnects and
redeclares the topology by itself. Publishing while disconnected raises
:class:`BusUnavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aio_pika
import msgpack
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aio_pika.exceptions import DeliveryError

from openmmo.bus import BusUnavailable, Envelope, Handler, Kind, player_key, player_keys
from openmmo.logs import get_logger

log = get_logger("openmmo.bus")

MESSAGE_TTL_MS = 10_000
MAX_BACKOFF_S = 10.0
CLOSE_TIMEOUT_S = 2.0


class RabbitBus:
    def __init__(self, url: str, namespace: str = "openmmo", region: str = "local"):
        self._url = url
        self._ns = namespace
        self._region = region
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._broadcast: AbstractExchange | None = None
        self._direct: AbstractExchange | None = None
        self._global: AbstractExchange | None = None
        self._players: AbstractExchange | None = None
        # the same exchange on a channel where an unroutable message raises DeliveryError
        self._players_mandatory: AbstractExchange | None = None
        # per subscribed server (a process may host several): its handler, its queue, and
        # the routing keys its queue has on <ns>.players
        self._handlers: dict[str, Handler] = {}
        self._queues: dict[str, AbstractQueue] = {}
        self._bound: dict[str, set[str]] = {}
        self._connected = asyncio.Event()
        # aio-pika sets ``connection.connected`` when a link is back, before it has declared
        # our queue and consumer again: until then, what is published to us is lost.
        self._restored = False
        self._connector: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin connecting in the background (owned task, cancelled by :meth:`close`)."""
        if self._connector is None:
            self._connector = asyncio.get_running_loop().create_task(self._connect_forever())

    async def wait_connected(self, timeout_s: float) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout_s)

    async def _connect_forever(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._connect()
                return
            except Exception as exc:  # the broker is down or refusing: retry
                log.warning("bus_connect_failed", error=str(exc)[:200], retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _connect(self) -> None:
        connection = await aio_pika.connect_robust(
            self._url, timeout=5, client_properties={"connection_name": "openmmo"}
        )
        channel = await connection.channel()
        self._broadcast = await channel.declare_exchange(
            f"{self._ns}.broadcast", aio_pika.ExchangeType.FANOUT, durable=True
        )
        self._direct = await channel.declare_exchange(
            f"{self._ns}.direct", aio_pika.ExchangeType.DIRECT, durable=True
        )
        self._global = await channel.declare_exchange(
            f"{self._ns}.global", aio_pika.ExchangeType.FANOUT, durable=True
        )
        self._players = await channel.declare_exchange(
            f"{self._ns}.players", aio_pika.ExchangeType.DIRECT, durable=True
        )
        mandatory = await connection.channel(publisher_confirms=True, on_return_raises=True)
        self._players_mandatory = await mandatory.declare_exchange(
            f"{self._ns}.players", aio_pika.ExchangeType.DIRECT, durable=True
        )
        self._connection, self._channel = connection, channel
        # servers that subscribed before the link was up (more may while we declare)
        while pending := [s for s in self._handlers if s not in self._queues]:
            for server_id in pending:
                await self._consume(server_id, self._handlers[server_id])
        connection.close_callbacks.add(self._on_link_lost)
        connection.reconnect_callbacks.add(self._on_restored)  # runs after the restore
        self._restored = True
        self._connected.set()
        log.info("bus_connected")

    async def _consume(self, server_id: str, handler: Handler) -> None:
        assert self._channel is not None
        queue = await self._channel.declare_queue(
            f"{self._ns}.server.{server_id}",
            exclusive=True,
            auto_delete=True,
            arguments={"x-message-ttl": MESSAGE_TTL_MS},
        )
        await queue.bind(self._broadcast)  # type: ignore[arg-type]
        await queue.bind(self._global)  # type: ignore[arg-type]
        await queue.bind(self._direct, routing_key=server_id)  # type: ignore[arg-type]
        self._queues[server_id], self._bound[server_id] = queue, set()

        async def deliver(message: AbstractIncomingMessage) -> None:
            try:
                kind, payload, origin = msgpack.unpackb(message.body, raw=False)
                envelope = Envelope(Kind(kind), payload, origin)
            except (ValueError, TypeError) as exc:
                log.warning("bus_bad_message", error=str(exc)[:200])
                return
            handler(envelope)

        await queue.consume(deliver, no_ack=True)

    async def subscribe(self, server_id: str, handler: Handler) -> None:
        self._handlers[server_id] = handler
        self.start()
        if self._connected.is_set():
            await self._consume(server_id, handler)

    async def _publish(
        self,
        exchange: AbstractExchange | None,
        routing_key: str,
        kind: Kind,
        payload: dict[str, Any],
        origin: str,
    ) -> None:
        if exchange is None or not self._is_connected():
            raise BusUnavailable("not connected to RabbitMQ")
        body = msgpack.packb((kind.value, payload, origin), use_bin_type=True)
        try:
            await exchange.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT),
                routing_key=routing_key,
                timeout=2,
            )
        except DeliveryError:
            raise
        except Exception as exc:  # aio-pika/aiormq raise many types when the link drops
            raise BusUnavailable(str(exc)) from exc

    async def broadcast(self, kind: Kind, payload: dict[str, Any], origin: str) -> None:
        await self._publish(self._broadcast, "", kind, payload, origin)

    async def send(self, server_id: str, kind: Kind, payload: dict[str, Any], origin: str) -> None:
        await self._publish(self._direct, server_id, kind, payload, origin)

    async def broadcast_global(self, kind: Kind, payload: dict[str, Any], origin: str) -> None:
        await self._publish(self._global, "", kind, payload, origin)

    async def present(self, server_id: str, names: set[str]) -> None:
        """Bind and unbind our queue's player keys to match ``names``; a key whose change
        failed is tried again the next time. aio-pika's robust queue binds what it has bound
        again after a reconnect."""
        queue, players = self._queues.get(server_id), self._players
        if queue is None or players is None or not self._is_connected():
            raise BusUnavailable("not connected to RabbitMQ")
        bound = self._bound[server_id]
        wanted = {key for name in names for key in player_keys(name, self._region)}
        try:
            for key in sorted(wanted - bound):
                await queue.bind(players, routing_key=key, timeout=2)
                bound.add(key)
            for key in sorted(bound - wanted):
                await queue.unbind(players, routing_key=key, timeout=2)
                bound.discard(key)
        except Exception as exc:
            raise BusUnavailable(str(exc)) from exc

    async def send_player(
        self, name: str, region: str | None, kind: Kind, payload: dict[str, Any], origin: str
    ) -> bool:
        try:
            await self._publish(
                self._players_mandatory, player_key(name, region), kind, payload, origin
            )
        except DeliveryError:  # returned: no queue in any region is bound for that name
            return False
        return True

    def _on_link_lost(self, *_: Any) -> None:
        self._restored = False

    def _on_restored(self, *_: Any) -> None:
        self._restored = True
        log.info("bus_restored")

    def _is_connected(self) -> bool:
        # ``is_closed`` stays false while a robust connection is reconnecting; ``connected``
        # is cleared as soon as the link drops and set again once it is back, and
        # ``_restored`` once the queue and consumer are declared again.
        connection = self._connection
        if connection is None or connection.is_closed or not connection.connected.is_set():
            self._restored = False
            return False
        return self._restored

    async def ping(self) -> None:
        if not self._is_connected():
            raise BusUnavailable("not connected to RabbitMQ")

    async def close(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
            # aio-pika's connect_robust can swallow a cancellation that lands in its own
            # reconnect loop (seen under load): never let that hang the shutdown.
            await asyncio.wait([self._connector], timeout=CLOSE_TIMEOUT_S)
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
