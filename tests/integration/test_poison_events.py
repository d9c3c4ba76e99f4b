"""No poison events: a bad published event is refused before sequencing, and an event a dialect
cannot encode reaches its subscribers as a gap for its seq (issue 15, point 1)."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from tests.integration.wire import MARKET, publish, recv, trade
from websockets.asyncio.client import connect

from tickcast.model import Side, Trade

STREAM = f"trades:{MARKET}"


def _with(**fields: Any) -> dict[str, Any]:
    return {**trade(1), **fields}


BAD_EVENTS: list[tuple[dict[str, Any], str]] = [
    (_with(time=10**30), "'time' must be from 1970"),
    (_with(time=-1), "'time' must be from 1970"),
    (_with(time="0001-01-01T00:00:00Z"), "'time' must be from 1970"),
    (_with(time=1.5), "'time' must be RFC 3339"),
    (_with(price="9" * 30), "'price' is out of range"),
    (_with(size="1e5"), "'size': not a decimal string"),
    (_with(id="x" * 201), "'id' must be a string of 1 to 200"),
    (_with(id="a\x00b"), "'id' must be a string of 1 to 200 printable"),
    (_with(buyer="b" * 300), "'buyer' and 'seller' must be strings"),
    (_with(side="up"), "'side' must be 'buy' or 'sell'"),
    (
        {"type": "book_delta", "market": MARKET, "bids": [["1.00", "1.000"]] * 5001},
        "'bids' must be a list of at most 5000",
    ),
    (
        {"type": "ticker", "asset": "foo", "price": "1." + "0" * 30, "volume_24h": "1"},
        "'price' has more than 18 decimals",
    ),
    ({"type": "metric", "asset": "foo", "metric": "\n", "value": "1"}, "'metric' must be"),
    ({"type": "candle", "market": MARKET}, "'type' must be one of"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_EVENTS)
async def test_a_bad_event_gets_400_and_nothing_is_sequenced(
    start_server: Any, bad: dict[str, Any], message: str
) -> None:
    server = await start_server(sources="none")
    refused = await publish(server.http, server.admin_key, [trade(0), bad, trade(2)])
    assert refused.status_code == 400
    body = refused.json()
    assert body["status_code"] == 1003
    assert body["message"].startswith("events[1]: ") and message in body["message"]
    accepted = await publish(server.http, server.admin_key, [trade(3)])
    assert accepted.status_code == 200
    assert accepted.json()["streams"][0]["seq"] == 1, "the refused batch took seqs"


def _poison(n: int) -> Trade:
    """A trade that passed no validation: its time cannot be rendered by any dialect."""
    return Trade(MARKET, f"p{n}", 10_000, 1_000, Side.BUY, 10**30)


async def test_an_unencodable_event_becomes_a_gap_live_and_on_resume(
    start_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(sources="none")
    key = server.admin_key
    assert (await publish(server.http, key, [trade(1)])).status_code == 200
    headers = {"X-API-Key": key}
    async with connect(f"{server.ws}?streams={STREAM}", additional_headers=headers) as live:
        assert (await recv(live))["type"] == "Subscribed"
        with caplog.at_level(logging.ERROR, logger="tickcast.hub"):
            await server.node.publish_envelopes([_poison(2)])
            assert (await publish(server.http, key, [trade(3)])).status_code == 200
            gap = await recv(live)
            assert gap == {
                "type": "Gap",
                "stream": STREAM,
                "epoch": gap["epoch"],
                "from": 2,
                "to": 2,
                "reason": "unencodable",
            }
            assert (await recv(live))["seq"] == 3
            async with connect(server.ws, additional_headers=headers) as resumed:
                await resumed.send(
                    json.dumps(
                        {
                            "type": "Subscribe",
                            "id": 1,
                            "streams": [STREAM],
                            "from": {STREAM: {"epoch": gap["epoch"], "seq": 0}},
                        }
                    )
                )
                assert (await recv(resumed))["type"] == "Subscribed"
                replayed = [await recv(resumed) for _ in range(3)]
        assert [m["type"] for m in replayed] == ["Update", "Gap", "Update"]
        assert replayed[1]["from"] == replayed[1]["to"] == 2
    failures = [r for r in caplog.records if "cannot encode" in r.getMessage()]
    assert len(failures) == 1, "logged once per event"
    async with httpx.AsyncClient(base_url=server.http) as http:
        metrics = (await http.get("/metrics")).text
    assert 'tickcast_encode_failures_total{dialect="native"} 2.0' in metrics
