"""Node cards in Redis, so each node's Overview can show the others' role and uptime.

The connection leases (``bus/leases.py``) tell which nodes are alive and how many connections
each holds, but not their role. With a Redis bus the recorder also writes, once a second, this
node's card (id, role, start time, bus and store with credentials removed) under
``tc:dash:node:<id>`` with a TTL of ``ttl`` seconds, and its id in the sorted set
``tc:dash:nodes`` scored by that expiry (Redis server time), then reads every live card back, in
one script. A node that stops renewing disappears after ``ttl`` seconds. With the in-memory bus
there is no Redis and nothing is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from tickcast.dashboard.backend import Backend
from tickcast.dashboard.views import redact_url

NODES_KEY = "tc:dash:nodes"
CARD_PREFIX = "tc:dash:node:"

PRESENCE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('SET', ARGV[4] .. ARGV[1], ARGV[2], 'PX', ttl)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local card = redis.call('GET', ARGV[4] .. id)
  if card then out[#out + 1] = card end
end
return out
"""


class Scripting(Protocol):
    """What presence needs of Redis (``bus.redis.RedisShard``)."""

    async def script(self, source: str, keys: list[str], args: list[Any]) -> Any: ...


def control_of(backend: Backend) -> Scripting | None:
    """The Redis connection of a Redis bus (its ``control`` shard), else None."""
    control = getattr(backend.bus, "control", None)
    return control if callable(getattr(control, "script", None)) else None


@dataclass
class Presence:
    backend: Backend
    ttl: float = 3.0
    peers: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Every live node's card by node id (this node's included), as of the last beat."""

    def card(self) -> dict[str, Any]:
        config = self.backend.config
        return {
            "id": self.backend.cluster.node_id,
            "role": str(getattr(config, "role", "all")),
            "started_at": self.backend.started_at,
            "store": redact_url(str(getattr(config, "store", "")) or "sqlite (data dir)"),
        }

    async def beat(self) -> None:
        control = control_of(self.backend)
        if control is None:
            return
        card = self.card()
        rows = await control.script(
            PRESENCE_LUA,
            [NODES_KEY],
            [card["id"], json.dumps(card), int(self.ttl * 1000), CARD_PREFIX],
        )
        peers = {}
        for row in rows:
            peer = json.loads(row)
            if isinstance(peer, dict) and isinstance(peer.get("id"), str):
                peers[peer["id"]] = peer
        self.peers = peers
