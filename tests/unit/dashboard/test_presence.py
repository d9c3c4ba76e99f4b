"""Node cards: written and read back through one script on a Redis bus; nothing without one."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from tickcast.dashboard.presence import CARD_PREFIX, NODES_KEY, PRESENCE_LUA, Presence


class FakeControl:
    def __init__(self, rows: list[bytes]) -> None:
        self.rows = rows
        self.calls: list[tuple[str, list[str], list[Any]]] = []

    async def script(self, source: str, keys: list[str], args: list[Any]) -> Any:
        self.calls.append((source, keys, args))
        return self.rows


def backend(bus: object) -> Any:
    config = SimpleNamespace(role="gateway", store="postgresql://u:secret@db/tc")
    return SimpleNamespace(
        bus=bus, config=config, cluster=SimpleNamespace(node_id="n1"), started_at=100.0
    )


async def test_a_beat_writes_this_card_and_keeps_every_live_card() -> None:
    other = json.dumps({"id": "n2", "role": "ingest", "started_at": 50.0}).encode()
    control = FakeControl([other, b'"not a card"'])
    presence = Presence(backend(SimpleNamespace(control=control)), ttl=3.0)
    await presence.beat()
    [(source, keys, args)] = control.calls
    assert source == PRESENCE_LUA and keys == [NODES_KEY]
    assert args[0] == "n1" and args[2] == 3000 and args[3] == CARD_PREFIX
    assert json.loads(args[1]) == {
        "id": "n1",
        "role": "gateway",
        "started_at": 100.0,
        "store": "postgresql://db/tc",
    }
    assert presence.peers == {"n2": {"id": "n2", "role": "ingest", "started_at": 50.0}}


async def test_no_redis_bus_no_card() -> None:
    presence = Presence(backend(SimpleNamespace()))
    await presence.beat()
    assert presence.peers == {}
