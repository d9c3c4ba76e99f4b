"""A Vega stream's outbox: a consumer that falls behind gets the Internal line and is dropped
(no sockets: a real node and feed, lines handed to the stream directly)."""

from __future__ import annotations

import json
from pathlib import Path

from tickcast.config import load
from tickcast.dialects.vega.endpoint.feed import VegaFeed
from tickcast.dialects.vega.endpoint.stream import VegaStream, public_principal
from tickcast.dialects.vega.wire.filters import Filter, StreamName
from tickcast.server.limits import Pool
from tickcast.server.node import Node


async def test_a_slow_consumer_gets_the_stream_failure_line_and_leaves_the_feed(
    tmp_path: Path,
) -> None:
    config = load(environ={}, overrides={"data_dir": str(tmp_path), "outbox_bytes": 4096})
    node = Node(config)
    feed = VegaFeed(node)
    try:
        assert feed.addresses.try_acquire("127.0.0.1", feed.max_streams_per_address)
        admission = await node.connections.admit_principal(
            public_principal(node.plans["admin"]), Pool.STREAMS, limit=0
        )
        stream = VegaStream(
            feed=feed,
            selection=Filter(StreamName.TRADES),
            admission=admission,
            remote="127.0.0.1:1",
            host="127.0.0.1",
        )
        stream.start()
        assert id(stream) in feed.subscribers
        line = b'{"result":{"trades":[' + b'{"id":"x"},' * 90 + b'{"id":"y"}]}}'
        for _ in range(4):  # 4 x ~1 kB fit in 4096 bytes; the 5th does not
            stream.on_block([line])
            assert not stream.ended
        stream.on_block([line])
        assert stream.ended and id(stream) not in feed.subscribers
        frames = stream.outbox.drain()
        assert frames[:4] == [line] * 4
        assert json.loads(frames[-1])["error"]["details"][0]["message"] == (
            "internal stream failure"
        )
        stream.on_block([line])  # nothing more is queued after the error
        assert len(stream.outbox) == 0
        stream.release()
        assert feed.addresses.count("127.0.0.1") == 0 and stream.id not in node.connections
        assert node.limits.count(Pool.STREAMS, admission.principal.user) == 0  # slot given back
    finally:
        await feed.stop()
        await node.store.close()
