"""One Redis instance of the Redis bus (``bus.redis``): scripts, reads and pub/sub, and the
one boundary turning Redis client errors into :class:`tickcast.errors.BusError`."""

from __future__ import annotations

import contextlib
import secrets
import zlib
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Protocol, cast

import redis.asyncio as aioredis
import redis.exceptions

from tickcast.bus.redis_scripts import history_key, meta_key
from tickcast.errors import BusError

MAX_CONNECTIONS = 32
"""Redis connections per instance and process."""


@contextlib.contextmanager
def redis_errors(what: str) -> Iterator[None]:
    """The one boundary turning Redis client errors into tickcast's BusError."""
    try:
        yield
    except redis.exceptions.RedisError as error:
        raise BusError(f"redis {what} failed: {type(error).__name__}: {error}") from error
    except OSError as error:
        raise BusError(f"redis {what} failed: {error.strerror or error}") from error


def reply_error(error: BusError) -> str | None:
    """The error reply behind ``error`` (its code first, as Redis sent it), None if it was no reply
    (a lost connection)."""
    cause = error.__cause__
    if isinstance(cause, redis.exceptions.NoScriptError):  # redis-py drops this code
        return f"NOSCRIPT {cause}"
    return str(cause) if isinstance(cause, redis.exceptions.ResponseError) else None


class _AsyncClosable(Protocol):
    async def aclose(self) -> None: ...


async def _aclose(resource: object) -> None:
    """``resource.aclose()`` typed here once: redis-py's annotations of ``PubSub.aclose`` changed
    between releases (untyped before 8.2): an ignore there breaks under one version or another."""
    await cast(_AsyncClosable, resource).aclose()


def new_epoch() -> str:
    return secrets.token_hex(6)


def shard_of(stream: str, shards: int) -> int:
    """Which instance holds a stream (CRC32 of its name, stable across nodes and restarts)."""
    return zlib.crc32(stream.encode()) % shards if shards > 1 else 0


class RedisShard:
    """One Redis instance: scripts, reads and pub/sub, every error a BusError."""

    def __init__(self, url: str) -> None:
        self.url = url
        # Bounded: a burst of subscriptions (clients failing over) waits for a connection
        # instead of opening hundreds; pub/sub subscriptions hold one each.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=10,
            decode_responses=False,
            socket_connect_timeout=5.0,
            health_check_interval=10,
        )
        self.client: aioredis.Redis = aioredis.Redis.from_pool(pool)  # owns and closes it
        self._scripts: dict[str, Any] = {}
        self._pool = pool
        self._packer = self.connection()  # never connected: packs commands

    async def script(self, source: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self.client.register_script(source)
        with redis_errors("script"):
            return await script(keys=list(keys), args=list(args))

    async def scripts(
        self, source: str, keys: Sequence[str], calls: Sequence[Sequence[Any]]
    ) -> list[Any]:
        """Several calls of one script in one pipeline (no transaction), replies in order."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self.client.register_script(source)
        with redis_errors("script"):
            async with self.client.pipeline(transaction=False) as pipe:
                for args in calls:
                    await script(keys=list(keys), args=list(args), client=pipe)
                replies: list[Any] = await pipe.execute()
        return replies

    def connection(self) -> Any:
        """A new connection of the instance's URL and options, outside the pool (not connected):
        the publisher's own, for pipelining (``bus.redis_publish``)."""
        return self._pool.connection_class(**self._pool.connection_kwargs)

    def pack(self, *args: Any) -> list[bytes]:
        """One command in the wire format, to send with ``connection().send_packed_command``."""
        packed: list[bytes] = self._packer.pack_command(*args)
        return packed

    async def ping(self) -> None:
        with redis_errors("ping"):
            await self.client.ping()

    async def history(self, stream: str, first: int | None = None) -> tuple[str, list[Any]]:
        """The stream's epoch and its history entries from seq ``first`` on, in one transaction."""
        start = f"{first}-0" if first is not None else "-"
        with redis_errors("history"):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hget(meta_key(stream), "epoch")
                pipe.xrange(history_key(stream), start, "+")
                epoch, entries = await pipe.execute()
        return (epoch.decode() if epoch else ""), entries

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        try:
            with redis_errors("subscribe"):
                await pubsub.subscribe(channel)
            yield Subscription(pubsub)
        finally:
            with contextlib.suppress(Exception):
                await _aclose(pubsub)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.aclose()


class Subscription:
    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    async def next(self, wait: float = 1.0) -> bytes | None:
        """The next message's payload, or None after ``wait`` seconds without one."""
        with redis_errors("pub/sub"):
            message = await self._pubsub.get_message(timeout=wait)
        if message is None or message.get("type") != "message":
            return None
        data: bytes = message["data"]
        return data
