"""What a native SDK client sees of a connector fed by the fake venue (shared by the venue tests).

``watch`` subscribes a ``tickcast.client.Client`` to some streams, releases the venue once every
book stream has its first snapshot, and waits (30 s at most) until the venue has replayed
everything and ``done`` holds; it returns the messages of each stream in order and the client's
books.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tests.conftest import RunningServer
from tests.connectors.fake_venue import FakeVenue

from tickcast.client import ChecksumMismatch, Client, Gap, LocalBook, Snapshot, Update

DecimalBook = tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]


@dataclass
class View:
    seen: dict[str, list[Any]]
    books: dict[str, LocalBook]

    def gaps(self, stream: str) -> list[Gap]:
        return [m for m in self.seen[stream] if isinstance(m, Gap)]

    def dense(self, stream: str) -> bool:
        """Updates and Gaps of an EVENT stream cover consecutive seqs: nothing silent."""
        seqs: list[int] = []
        for m in self.seen[stream]:
            if isinstance(m, Update):
                seqs.append(m.seq)
            elif isinstance(m, Gap):
                seqs.extend(range(m.from_seq, m.to_seq + 1))
        return seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else True

    def trade_ids(self, stream: str) -> list[str]:
        return [m.data["id"] for m in self.seen[stream] if isinstance(m, Update)]

    def assert_clean_book(self, stream: str, resets: int) -> None:
        """Every Update checksummed and verified by the SDK, ``resets`` reset snapshots after the
        first one, and the local book valid."""
        messages = self.seen[stream]
        assert not [m for m in messages if isinstance(m, ChecksumMismatch)]
        assert all(m.checksum is not None for m in messages if isinstance(m, Update))
        snapshots = [m for m in messages if isinstance(m, Snapshot)]
        assert [m.reset for m in snapshots[1:]] == [True] * (len(snapshots) - 1)
        assert len(snapshots) - 1 == resets
        assert self.books[stream].valid


def decimal_book(book: LocalBook) -> DecimalBook:
    return (
        {Decimal(p): Decimal(s) for p, s in book.bids()},
        {Decimal(p): Decimal(s) for p, s in book.asks()},
    )


async def watch(
    server: RunningServer,
    venue: FakeVenue,
    streams: Sequence[str],
    done: Callable[[Client, View], bool],
) -> View:
    view = View({stream: [] for stream in streams}, {})
    async with Client(server.ws, await server.key("pro")) as client:

        async def collect() -> None:
            async for message in client.subscribe(list(streams)):
                view.seen[getattr(message, "stream", streams[0])].append(message)

        task = asyncio.create_task(collect())
        try:
            async with asyncio.timeout(30):
                books = [view.seen[s] for s in streams if s.startswith("book:")]
                while not all(books):  # subscribed: every book's first snapshot arrived
                    await asyncio.sleep(0.01)
                venue.release()
                await venue.done.wait()
                while not done(client, view):
                    await asyncio.sleep(0.02)
        finally:
            task.cancel()
        view.books = {s: client.book(s) for s in streams if s.startswith("book:")}
    return view
