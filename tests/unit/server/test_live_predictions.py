"""Live predictions on a real node (memory bus, no sockets): features from events, the model's
answer published on predictions:<strategy>:<model>, at most once per interval of event time."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tickcast.clock import ManualClock
from tickcast.config import load
from tickcast.dialects.predictions.endpoint.live import AttachError, LivePredictions
from tickcast.dialects.predictions.endpoint.service import PredictionService
from tickcast.model import Market, MarketKind, Prediction, Side, Trade
from tickcast.model.events import Quote
from tickcast.predict.spec import ModelRef
from tickcast.predict.training import table_from_rows
from tickcast.server.node import Node

MARKET = Market("acme-foo-usd-spot", "acme", MarketKind.SPOT, "foo", "usd", "FOOUSD", 2, 3)
S = 1_000_000_000
STREAM = "predictions:live:dir"


def events_at(second: int, price: int) -> list[Trade | Quote]:
    return [
        Trade(MARKET.id, f"t{second}", price, 1_000, Side.BUY, second * S),
        Quote(MARKET.id, price - 1, 2_000, price + 1, 1_000, second * S),
    ]


async def published(node: Node) -> list[Prediction]:
    for _ in range(100):  # the pump runs in its own task
        await asyncio.sleep(0)
    history = await node.bus.history(STREAM)
    return [e.event for e in history if isinstance(e.event, Prediction)]


async def test_attached_model_publishes_throttled_predictions(tmp_path: Path) -> None:
    node = Node(load(environ={}, overrides={"data_dir": str(tmp_path), "sources": "none"}),
                clock=ManualClock())  # fmt: skip
    node.catalog.add(MARKET)
    await node.bus.start()
    service = PredictionService(node)
    live: LivePredictions = service.live
    await live.start()
    try:
        rows = [{"return_1s": r / 100, "spread": 0.01, "target": "up" if r > 0 else "down"}
                for r in range(-10, 11) if r]  # fmt: skip
        ref = ModelRef.checked("quant", "live", "dir", "class")
        await service.registry.train(
            table_from_rows(rows, "target"), ref, algorithm="decision_tree"
        )
        unknown = ModelRef.checked("quant", "live", "nope", "class")
        try:
            await live.attach(unknown, MARKET.id, interval_ms=0)
        except AttachError as error:
            assert error.status == 404
        else:
            raise AssertionError("attach of an unknown model succeeded")
        await live.attach(ref, MARKET.id, interval_ms=2_000)
        await node.publish(events_at(10, 10_000))
        [first] = await published(node)  # the only trade is its own reference: return 0
        assert first.time_ns == 10 * S and dict(first.features)["return_1s"] == "0.0"
        await node.publish(events_at(11, 10_500))  # 1 s later: within the interval
        assert len(await published(node)) == 1
        await node.publish(events_at(12, 11_000))  # 2 s later: predicted
        second = (await published(node))[-1]
        assert second.time_ns == 12 * S and second.value == "up"
        assert dict(second.features)["return_1s"] == repr(11_000 / 10_500 - 1)
        assert dict(second.features)["spread"] == repr(2 / 11_000)
        assert live.attachments[STREAM].published == len(await published(node))
        assert live.detach("someone-else", "live", "dir") is False
        assert live.detach("quant", "live", "dir") is True
    finally:
        await live.stop()
        await service.stop()
        await node.bus.stop()
        await node.store.close()
