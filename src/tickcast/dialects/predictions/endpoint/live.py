"""Live predictions: models attached to markets, published on ``predictions:<strategy>:<model>``.

An attachment holds a :class:`~tickcast.predict.features.FeatureComputer` for its market. A bus
listener (synchronous, on the publish path) feeds it the market's trades, quotes and book events
and marks it dirty; a pump task then predicts for every dirty attachment whose last prediction is
at least ``interval_ms`` old in event time, and publishes the :class:`Prediction` events through
the node like any source, so they are sequenced, kept in history and streamable in every
dialect that carries prediction streams (the native protocol: ``predictions:<strategy>:<model>``).

Attachments live in memory: they are lost when the server restarts (docs/predictions.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from tickcast.model import Envelope
from tickcast.model.events import Prediction
from tickcast.predict.features import FeatureComputer, parse_features
from tickcast.predict.registry import ModelRegistry
from tickcast.predict.spec import ModelError, ModelRef
from tickcast.server.node import Node
from tickcast.state.pipeline import Step

logger = logging.getLogger("tickcast.server")


class AttachError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class Attachment:
    ref: ModelRef
    market: str
    interval_ns: int
    computer: FeatureComputer
    published: int = 0
    last_ns: int | None = None
    last_value: str | None = None
    dirty: bool = field(default=False)

    @property
    def stream(self) -> str:
        return f"predictions:{self.ref.strategy}:{self.ref.name}"

    def info(self) -> dict[str, object]:
        return {
            "user": self.ref.user,
            "strategy": self.ref.strategy,
            "name": self.ref.name,
            "type": self.ref.type,
            "market": self.market,
            "stream": self.stream,
            "interval_ms": self.interval_ns // 1_000_000,
            "features": [f.name for f in self.computer.features],
            "published": self.published,
            "last_value": self.last_value,
        }


class LivePredictions:
    def __init__(self, node: Node, registry: ModelRegistry) -> None:
        self.node = node
        self.registry = registry
        self.attachments: dict[str, Attachment] = {}
        """By stream name (one attachment per prediction stream)."""
        self._by_market: dict[str, list[Attachment]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unlisten: object = None

    async def start(self) -> None:
        self._unlisten = self.node.pipeline.add(
            Step.OBSERVE, "live-predictions", self._on_envelopes
        )
        self._task = asyncio.create_task(self._pump_forever())

    async def stop(self) -> None:
        if callable(self._unlisten):
            self._unlisten()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def attach(self, ref: ModelRef, market: str, *, interval_ms: int) -> Attachment:
        """Attach a model to a market (AttachError 404/409/400 explaining a refusal)."""
        if market not in self.node.catalog:
            raise AttachError(404, f"unknown market {market!r}")
        entry = await self.registry.load(ref)
        if entry is None:
            raise AttachError(404, "Model configuration not found in the backend.")
        try:
            features = parse_features(entry.meta.features)
        except ModelError as error:
            raise AttachError(400, f"model {ref.name!r} cannot run live: {error.message}") from None
        stream = f"predictions:{ref.strategy}:{ref.name}"
        current = self.attachments.get(stream)
        if current is not None and current.ref.user != ref.user:
            raise AttachError(409, f"stream {stream!r} is taken by another user's model")
        if current is not None:
            self._remove(current)
        size_decimals = self.node.catalog.get(market).size_decimals
        attachment = Attachment(
            ref=ref,
            market=market,
            interval_ns=interval_ms * 1_000_000,
            computer=FeatureComputer(market, features, size_decimals=size_decimals),
        )
        self.attachments[stream] = attachment
        self.node.stream_owners[stream] = ref.user
        self._by_market.setdefault(market, []).append(attachment)
        return attachment

    def detach(self, user: str | None, strategy: str, name: str) -> bool:
        """Remove the attachment of a stream (of ``user``, or of anyone if None)."""
        attachment = self.attachments.get(f"predictions:{strategy}:{name}")
        if attachment is None or (user is not None and attachment.ref.user != user):
            return False
        self._remove(attachment)
        return True

    def _remove(self, attachment: Attachment) -> None:
        self.attachments.pop(attachment.stream, None)
        self.node.stream_owners.pop(attachment.stream, None)
        siblings = self._by_market.get(attachment.market, [])
        if attachment in siblings:
            siblings.remove(attachment)
        if not siblings:
            self._by_market.pop(attachment.market, None)

    def _on_envelopes(self, envelopes: Sequence[Envelope]) -> None:
        if not self._by_market:
            return
        found = False
        for envelope in envelopes:
            market = getattr(envelope.event, "market", None)
            attachments = self._by_market.get(market) if market is not None else None
            if attachments:
                for attachment in attachments:
                    if attachment.computer.on_event(envelope.event):
                        attachment.dirty = True
                        found = True
        if found:
            self._wake.set()

    async def _pump_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            events: list[Prediction] = []
            for attachment in list(self.attachments.values()):
                if not attachment.dirty:
                    continue
                try:
                    event = await self._predict(attachment)
                except Exception:  # one failing model must not stop the others
                    logger.exception("live prediction of %s failed", attachment.ref)
                    continue
                if event is not None:
                    events.append(event)
            if events:
                await self.node.publish(events)

    async def _predict(self, attachment: Attachment) -> Prediction | None:
        computer = attachment.computer
        now = computer.now_ns
        if attachment.last_ns is not None and now - attachment.last_ns < attachment.interval_ns:
            return None
        attachment.dirty = False
        vector = computer.vector()
        if vector is None:
            return None
        entry = self.registry.cached(attachment.ref) or await self.registry.load(attachment.ref)
        if entry is None:
            logger.info("model %s is gone; detaching it", attachment.ref)
            self._remove(attachment)
            return None
        if entry.predictor.blocking:
            values = await asyncio.to_thread(entry.predictor.predict, [vector])
        else:
            values = entry.predictor.predict([vector])
        value = values[0]
        text = value if isinstance(value, str) else repr(value)
        attachment.last_ns = now
        attachment.last_value = text
        attachment.published += 1
        features = tuple((f.name, repr(v)) for f, v in zip(computer.features, vector, strict=True))
        return Prediction(attachment.ref.strategy, attachment.ref.name, text, now, features)
