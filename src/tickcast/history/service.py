"""History: what the server holds of the store: the writer (on the node that sequences) and a
reader on the server's event loop, with the queries the dialects need.

This is the one interface the rest of tickcast uses (server hooks: ``Node.publish_envelopes``
feeds ``add``; the native Subscribe ``from`` and the Coin Metrics REST handlers read).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from tickcast.clock import Clock
from tickcast.history.base import EpochSpan, HistoryStore
from tickcast.history.books import BookState, rebuild
from tickcast.history.retention import RetentionPolicy
from tickcast.history.rows import Row
from tickcast.history.writer import HistoryWriter
from tickcast.model import Envelope, Market, StreamPosition

READ_FLUSH_TIMEOUT = 2.0
"""Seconds a reader waits for pending events to be written before it reads anyway."""
MAX_REBUILD_ROWS = 1_000_000
"""Rows applied after a checkpoint at most (checkpoints come every 2 000 book events)."""


class History:
    def __init__(
        self,
        open_store: Callable[[], HistoryStore],
        *,
        clock: Clock,
        retention: RetentionPolicy | None = None,
        writes: bool = True,
        flush_interval: float = 0.25,
        market_of: Callable[[str], Market | None] | None = None,
    ) -> None:
        self.reader = open_store()
        self.writer: HistoryWriter | None = (
            HistoryWriter(
                open_store,
                clock=clock,
                retention=retention,
                flush_interval=flush_interval,
                market_of=market_of,
            )  # fmt: skip
            if writes
            else None
        )

    async def start(self) -> None:
        await self.reader.open()
        if self.writer is not None:
            await asyncio.wrap_future(self.writer.start())

    async def stop(self) -> None:
        if self.writer is not None:
            await asyncio.to_thread(self.writer.stop)
        await self.reader.close()

    def add(self, envelopes: list[Envelope], encoded: Sequence[bytes] | None = None) -> None:
        """Hook: the envelopes this node just sequenced (call on the event loop); ``encoded``,
        their events' codec bytes when the bus already made them (stored as they are)."""
        if self.writer is not None:
            self.writer.add(envelopes, encoded)

    async def flushed(self, within: float | None = None) -> bool:
        """Wait until everything added so far is written; False if ``within`` seconds passed
        first (a reader then goes on with what is stored: a stuck store never hangs it)."""
        if self.writer is None:
            return True
        done = asyncio.wrap_future(self.writer.sync())
        try:
            await asyncio.wait_for(asyncio.shield(done), within)
        except TimeoutError:
            return False
        return True

    async def range(
        self,
        stream: str,
        start_ns: int | None,
        end_ns: int | None,
        *,
        limit: int,
        after: int | None = None,
        descending: bool = False,
    ) -> list[Row]:
        return await self.reader.range(
            stream, start_ns, end_ns, limit=limit, after=after, descending=descending
        )

    async def since(self, stream: str, epoch: str, seq: int, *, limit: int) -> list[Row]:
        return await self.reader.since(stream, epoch, seq, limit=limit)

    async def checkpoints(
        self, stream: str, start_ns: int | None, end_ns: int | None, *, limit: int
    ) -> list[Row]:
        return await self.reader.checkpoints(stream, start_ns, end_ns, limit=limit)

    async def latest(self, stream: str, time_ns: int) -> list[Row]:
        """The state of a STATE stream as of ``time_ns``: its last row per key at or before it
        (``HistoryStore.latest``)."""
        return await self.reader.latest(stream, time_ns)

    async def epochs(self, stream: str) -> list[EpochSpan]:
        return await self.reader.epochs(stream)

    async def events_after(self, stream: str, at: StreamPosition, live: StreamPosition) -> int:
        """How many events of ``stream`` follow ``at`` up to the ``live`` position: the rest of
        ``at``'s epoch (as stored, when it is not the live one), the stored epochs after it, and
        the live epoch's events up to ``live``."""
        if at.epoch == live.epoch:
            return max(0, live.seq - at.seq)
        total, later = live.seq, False
        for span in await self.reader.epochs(stream):
            if span.epoch == live.epoch:
                continue
            if span.epoch == at.epoch:
                total, later = total + max(0, span.last_seq - at.seq), True
            elif later:
                total += span.rows
        return total

    async def book_at(self, stream: str, time_ns: int) -> BookState | None:
        """The book of ``stream`` after its last event at or before ``time_ns`` (None when the
        store holds no checkpoint at or before it)."""
        checkpoint = await self.reader.checkpoint_at(stream, time_ns)
        if checkpoint is None:
            return None
        rows = await self.reader.since(
            stream, checkpoint.epoch, checkpoint.seq, limit=MAX_REBUILD_ROWS, until_ns=time_ns
        )
        return rebuild(checkpoint, rows)
