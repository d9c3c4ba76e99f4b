"""HistoryWriter: batches the sequencing node's envelopes into the store on a thread of its own.

The event loop only appends a reference to a list (``add``, about a microsecond per batch of
envelopes): encoding, book and keyed-state checkpoints, the store's I/O and retention all run
on the writer's thread, which owns an event loop of its own for the store (asyncpg pools are
bound to a loop).

Batches: the thread wakes every ``flush_interval`` seconds, or as soon as ``max_batch`` events
are pending, and writes everything pending in transactions of at most ``max_batch`` rows (memory
while writing stays about ``max_batch`` rows whatever is pending). An event that cannot be
stored (an integer beyond 64 bits) is skipped and counted in ``skipped``. A crash (SIGKILL)
therefore loses at most the events added since the last committed batch: ``flush_interval``
seconds of events (or one write's worth if the store is slower than that). Memory is bounded:
beyond ``max_pending`` unwritten events new ones are dropped and counted in ``dropped`` (the
store is too slow for the feed; fan-out is never slowed to wait for it). A dropped book event
makes that book unknown to the checkpointer until its next snapshot.

The thread shares the GIL with the event loop: it offers it every ``YIELD_EVERY`` events while
encoding (``time.sleep(0)``), the SQLite store offers it between slices of 512 rows and between
segments, and SQLite releases it while it writes, so the loop waits at most about a
millisecond rather than the interpreter's 5 ms switch interval (measured in
benchmarks/history.py).

Retention runs on the same thread every ``retention_interval`` seconds, ``expire_chunk`` rows per
stream per pass, between write batches.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future

from tickcast.clock import Clock
from tickcast.errors import StorageError
from tickcast.history.base import HistoryStore
from tickcast.history.books import Checkpoint, Checkpointer
from tickcast.history.keyed import KEYED_KINDS, KeyedCheckpointer
from tickcast.history.retention import RetentionPolicy
from tickcast.history.rows import Row, row_of, rows_for
from tickcast.model import BookDelta, BookSnapshot, Envelope, Market, StreamKey

logger = logging.getLogger("tickcast.history")
Batch = tuple[Sequence[Envelope], int, Sequence[bytes] | None]
"""Envelopes, their receive time, and their events' codec bytes when the bus made them."""
YIELD_EVERY = 256
"""Events encoded between two offers of the GIL (under a millisecond of work; an offer,
``time.sleep(0)``, costs about 70 microseconds of the writer's time)."""


class HistoryWriter:
    def __init__(
        self,
        open_store: Callable[[], HistoryStore],
        *,
        clock: Clock,
        retention: RetentionPolicy | None = None,
        flush_interval: float = 0.25,
        max_batch: int = 10_000,
        max_pending: int = 2_000_000,
        retention_interval: float = 60.0,
        expire_chunk: int = 10_000,
        checkpointer: Checkpointer | None = None,
        keyed: KeyedCheckpointer | None = None,
        market_of: Callable[[str], Market | None] | None = None,
    ) -> None:
        self._open_store = open_store
        self._clock = clock
        self._retention = retention or RetentionPolicy()
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._retention_interval_ns = int(retention_interval * 1e9)
        self._expire_chunk = expire_chunk
        self._checkpointer = checkpointer or Checkpointer()
        self._keyed = keyed or KeyedCheckpointer()
        self._market_of = market_of
        """Market definitions by id (the node's catalog), stored once per market for replays."""
        self._stored_markets: set[str] = set()
        self._pending: list[Batch] = []
        self._pending_count = 0
        self._waiters: list[Future[None]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._started: Future[None] = Future()
        self._next_expiry = 0
        self.written = 0
        self.dropped = 0
        self.failures = 0
        self.skipped = 0
        """Events that cannot be stored (not encodable, or a time or seq beyond 64 bits)."""

    def start(self) -> Future[None]:
        """Start the thread; the future completes once the store is open (or fails with why)."""
        self._thread = threading.Thread(target=self._main, name="history-writer", daemon=True)
        self._thread.start()
        return self._started

    def add(self, envelopes: Sequence[Envelope], encoded: Sequence[bytes] | None = None) -> None:
        """Queue published envelopes (called on the event loop, never blocks on I/O);
        ``encoded``: their events' ``encode_event`` bytes if the bus made them (not again)."""
        if not envelopes:
            return
        recv_ns = self._clock.time_ns()
        with self._lock:
            if self._pending_count + len(envelopes) > self._max_pending:
                self.dropped += len(envelopes)
                return
            self._pending.append((envelopes, recv_ns, encoded))
            self._pending_count += len(envelopes)
            full = self._pending_count >= self._max_batch
        if full:
            self._wake.set()

    def sync(self) -> Future[None]:
        """A future completed once everything added before this call is written."""
        done: Future[None] = Future()
        with self._lock:
            self._waiters.append(done)
        self._wake.set()
        return done

    def stop(self) -> None:
        """Write what is pending, close the store, end the thread (blocking: call off-loop)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            store = self._open_store()
            loop.run_until_complete(store.open())
        except BaseException as exc:
            self._started.set_exception(exc)
            loop.close()
            return
        self._started.set_result(None)
        try:
            while True:
                self._wake.wait(self._flush_interval)
                self._wake.clear()
                stopping = self._stopping
                loop.run_until_complete(self._flush(store))
                if stopping:
                    break
                loop.run_until_complete(self._expire(store))
        finally:
            loop.run_until_complete(store.close())
            loop.close()

    def _take(self) -> tuple[list[Batch], list[Future[None]]]:
        with self._lock:
            batches, self._pending, self._pending_count = self._pending, [], 0
            waiters, self._waiters = self._waiters, []
        return batches, waiters

    def _chunks(self, batches: list[Batch]) -> Iterator[tuple[list[Row], list[Checkpoint]]]:
        """The rows (and due checkpoints) of ``batches`` in chunks of at most ``max_batch``
        rows: transient memory stays about ``max_batch`` rows whatever is pending. An event
        that cannot be stored (an integer beyond 64 bits) is skipped and counted. Envelopes are
        turned into rows a slice at a time (at most ``YIELD_EVERY``, the GIL offered between)."""
        rows: list[Row] = []
        checkpoints: list[Checkpoint] = []
        since_yield = 0
        for envelopes, recv_ns, encoded in batches:
            start, end = 0, len(envelopes)
            while start < end:
                size = min(YIELD_EVERY - since_yield, self._max_batch - len(rows), end - start)
                part = envelopes[start : start + size]
                datas = None if encoded is None else encoded[start : start + size]
                start += size
                since_yield += size
                if since_yield >= YIELD_EVERY:  # the event loop's thread may take the GIL
                    since_yield = 0
                    time.sleep(0)
                self._add(part, recv_ns, rows, checkpoints, datas)
                if len(rows) >= self._max_batch:
                    yield rows, checkpoints
                    rows, checkpoints = [], []
        if rows or checkpoints:
            yield rows, checkpoints

    def _add(
        self,
        envelopes: Sequence[Envelope],
        recv_ns: int,
        rows: list[Row],
        checkpoints: list[Checkpoint],
        encoded: Sequence[bytes] | None = None,
    ) -> None:
        """Append the rows of ``envelopes`` (those that can be stored) and their checkpoints."""
        made = _storable_rows(envelopes, recv_ns, encoded)
        if made is None:  # one of them cannot be stored: row by row, skipping it
            made = [_storable(envelope, recv_ns) for envelope in envelopes]
        observe, observe_keyed = self._checkpointer.observe, self._keyed.observe
        for row, envelope in zip(made, envelopes, strict=True):
            if row is None:
                self.skipped += 1
                continue
            rows.append(row)
            event = envelope.event
            if row.kind in KEYED_KINDS or isinstance(event, BookSnapshot | BookDelta):
                checkpoint = observe(envelope) or observe_keyed(row, event)
                if checkpoint is not None:
                    checkpoints.append(checkpoint)

    async def _flush(self, store: HistoryStore) -> None:
        batches, waiters = self._take()
        for rows, checkpoints in self._chunks(batches):
            try:
                await self._store_markets(store, rows)
                await store.append(rows, checkpoints)
                self.written += len(rows)
            except StorageError as exc:
                self._failed(len(rows), exc.message)
            except Exception:  # a bug must not end the thread: log it, drop the batch, go on
                logger.exception("history batch failed")
                self._failed(len(rows), "unexpected error")
        for waiter in waiters:
            waiter.set_result(None)

    async def _store_markets(self, store: HistoryStore, rows: list[Row]) -> None:
        """Store the definitions of markets met for the first time (before their rows)."""
        if self._market_of is None:
            return
        new: dict[str, Market] = {}
        for stream in {row.stream for row in rows}:
            market_id = StreamKey.parse(stream).market
            if market_id is None or market_id in self._stored_markets or market_id in new:
                continue
            market = self._market_of(market_id)
            if market is not None:
                new[market_id] = market
        if new:
            await store.put_markets(list(new.values()))
            self._stored_markets.update(new)

    def _failed(self, count: int, why: str) -> None:
        self.failures += 1
        self.dropped += count
        logger.warning("history batch of %d events not written: %s", count, why)

    async def _expire(self, store: HistoryStore) -> None:
        now = self._clock.time_ns()
        if now < self._next_expiry:
            return
        try:
            removed = await store.expire(self._retention.cutoffs(now), max_rows=self._expire_chunk)
        except StorageError as exc:
            logger.warning("history retention pass failed: %s", exc.message)
            removed = 0
        if removed == 0:  # caught up: next pass after the interval; else continue next batch
            self._next_expiry = now + self._retention_interval_ns


INT64 = range(-(2**63), 2**63)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _storable_rows(
    envelopes: Sequence[Envelope], recv_ns: int, encoded: Sequence[bytes] | None = None
) -> Sequence[Row | None] | None:
    """The rows of ``envelopes``, or None when one of them cannot be stored (then
    ``_storable`` decides row by row)."""
    try:
        rows = rows_for(envelopes, recv_ns, encoded)
    except (TypeError, ValueError, OverflowError):
        return None
    low, high = _INT64_MIN, _INT64_MAX
    for row in rows:
        if not (low <= row.time_ns <= high and low <= row.seq <= high):
            return None
    return rows


def _storable(envelope: Envelope, recv_ns: int) -> Row | None:
    """The envelope's row, or None when it cannot be stored."""
    try:
        row = row_of(envelope, recv_ns)
    except (TypeError, ValueError, OverflowError):
        return None
    if row.time_ns not in INT64 or row.seq not in INT64:
        return None
    return row
