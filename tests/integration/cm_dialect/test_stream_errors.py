"""Stream refusals and flow control as the official client sees them (protocols §7)."""

from __future__ import annotations

import asyncio
import json
import socket

from websockets.asyncio.client import connect

from tickcast.model import Market, MarketKind, Side, Trade

from .helpers import run_streams, wait_for


def _error_call(method: str, **kwargs: object) -> dict[str, object]:
    # the server closes after the error; run() must return without the client closing
    return {"method": method, "kwargs": kwargs, "count": 50, "close_on_error": False,
            "seconds": 15}  # fmt: skip


def _only_error(result: dict[str, object]) -> dict[str, str]:
    messages = result["messages"]
    assert isinstance(messages, list) and len(messages) == 1, result
    (message,) = messages
    assert list(message) == ["error"], message
    assert result["returned"] and result["closes"] == [[1008, message["error"]["type"]]], result
    return dict(message["error"])


async def test_refusals_are_in_band_and_stop_the_client(start_server) -> None:
    server = await start_server()
    free = await server.key("free", user="free-user")
    trades = {"markets": "binance-btc-usdt-spot"}
    wrong, missing, plan = await asyncio.gather(
        run_streams(server.host, server.port, "tc_live_" + "x" * 40,
                    [_error_call("get_stream_market_trades", **trades)]),
        run_streams(server.host, server.port, "",
                    [_error_call("get_stream_market_trades", **trades)]),
        run_streams(server.host, server.port, free, [
            _error_call("get_stream_market_orderbooks", markets="binance-btc-usdt-spot"),
            _error_call("get_stream_market_trades", markets="coinbase-btc-usd-spot"),
            _error_call("get_stream_market_orderbooks", markets="binance-*", depth_limit="7"),
            _error_call("get_stream_market_candles", markets="binance-btc-usdt-spot",
                        frequency="2m"),
            _error_call("get_stream_market_trades", markets="binance-zzz-usdt-spot"),
            _error_call("get_stream_market_trades", markets="kraken-*-future"),
            _error_call("get_stream_asset_metrics", assets="btc", metrics="FooBar"),
            _error_call("get_stream_asset_metrics", assets="btc", metrics="PriceUSD",
                        frequency="1b"),
        ]),
    )  # fmt: skip
    assert _only_error(wrong[0]) == {
        "type": "wrong_credentials",
        "message": "Supplied credentials are not valid.",
    }
    assert "?&markets=" in missing[0]["url"]  # the client's query without a key
    assert _only_error(missing[0]) == {
        "type": "unauthorized",
        "message": "Requested resource requires authorization.",
    }
    errors = [_only_error(result) for result in plan]
    assert errors[0] == {
        "type": "forbidden",
        "message": "Requested market 'binance-btc-usdt-spot' is not available with supplied "
        "credentials.",
    }
    assert errors[1]["type"] == "forbidden"
    assert errors[2]["type"] == "bad_parameter"
    assert errors[2]["message"].startswith("Bad parameter 'depth_limit'.")
    assert errors[3]["message"].startswith("Bad parameter 'frequency'.")
    assert errors[4] == {
        "type": "bad_parameter",
        "message": "Bad parameter 'markets'. Market 'binance-zzz-usdt-spot' is not supported.",
    }
    assert errors[5]["message"] == (
        "Bad parameter 'markets'. Market 'kraken-*-future' is not supported."
    )
    assert errors[6]["message"] == "Bad parameter 'metrics'. Metric 'FooBar' is not supported."
    assert errors[7]["message"] == (
        "Bad parameter 'frequency'. Metric 'PriceUSD' with frequency '1b' is not supported "
        "for 'btc'."
    )
    assert not server.node.connections


async def test_connection_limit_per_key_and_unknown_parameters(start_server) -> None:
    server = await start_server()
    free = await server.key("free", user="limited")  # the free plan: 2 parallel connections
    base = f"ws://{server.host}:{server.port}/v4/timeseries-stream"
    url = f"{base}/market-trades?api_key={free}&markets=binance-btc-usdt-spot"
    async with connect(url) as first, connect(url) as second:
        await wait_for(lambda: len(server.node.connections) == 2)
        async with connect(url) as third:
            refusal = json.loads(await asyncio.wait_for(third.recv(), 5))
            assert refusal["error"]["type"] == "too_many_connections"
            await asyncio.wait_for(third.wait_closed(), 5)
            assert third.close_code == 1008
        assert first.close_code is None and second.close_code is None
    async with connect(f"{url}&colour=blue") as typo:
        refusal = json.loads(await asyncio.wait_for(typo.recv(), 5))
        assert refusal == {
            "error": {"type": "bad_parameter", "message": "Bad parameter 'colour'. "
                      "Parameter is not supported."}
        }  # fmt: skip
        await asyncio.wait_for(typo.wait_closed(), 5)
    for path in (f"{base}/market-nonsense?api_key={free}", f"{base}/a/b", f"{base}/../x%ff"):
        async with connect(path) as unknown:
            refusal = json.loads(await asyncio.wait_for(unknown.recv(), 5))
            assert refusal["error"]["type"] == "not_found"
            await asyncio.wait_for(unknown.wait_closed(), 5)
            assert unknown.close_code == 1008
    odd = f"{base}/market-trades?api_key={free}&markets=%ff%00,&&=&backfill=%E2%9C%93"
    async with connect(odd) as bad:
        refusal = json.loads(await asyncio.wait_for(bad.recv(), 5))
        assert refusal["error"]["type"] == "bad_parameter"
    async with connect(url) as still_fine:  # bad input hurt nobody
        assert "cm_sequence_id" in json.loads(await asyncio.wait_for(still_fine.recv(), 10))


async def test_server_restart_drops_tcp_and_the_client_reconnects(start_server) -> None:
    server = await start_server()
    node = server.node
    key = await server.key("pro")
    call = {"method": "get_stream_market_trades", "kwargs": {"markets": "binance-*-spot"},
            "count": 6, "restarts": 1, "seconds": 30}  # fmt: skip
    client = asyncio.create_task(run_streams(server.host, server.port, key, [call]))

    def streaming() -> bool:
        return any(getattr(c, "messages", 0) >= 3 for c in node.connections.values())

    await wait_for(streaming, timeout=20)
    await node.close_connections(1012, "server restart")  # what shutdown does
    node.ready = True  # this "restarted" server accepts the reconnection
    (result,) = await asyncio.wait_for(client, 60)
    ids = [m["cm_sequence_id"] for m in result["messages"]]
    restart = ids.index("0", 1)
    assert ids[:restart] == [str(i) for i in range(restart)] and restart >= 3
    assert ids[restart:] == [str(i) for i in range(len(ids) - restart)]
    assert result["closes"] == [[None, None]]  # only the final, client-side close


def _read_frames(sock: socket.socket) -> list[bytes]:
    """Every complete server frame's payload received so far (unmasked frames)."""
    data = b""
    sock.settimeout(2.0)
    try:
        while chunk := sock.recv(1 << 16):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    payloads, at = [], data.index(b"\r\n\r\n") + 4
    while at + 2 <= len(data):
        length = data[at + 1] & 0x7F
        at += 2
        if length == 126:
            length, at = int.from_bytes(data[at : at + 2], "big"), at + 2
        elif length == 127:
            length, at = int.from_bytes(data[at : at + 8], "big"), at + 8
        if at + length > len(data):
            break
        payloads.append(data[at : at + length])
        at += length
    return payloads


async def test_slow_reader_gets_falling_behind_then_stall(start_server) -> None:
    server = await start_server(sources="simulator:stress", outbox_bytes=65_536)
    key = await server.key("pro", user="slow")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (server.host, server.port))
    path = (f"/v4/timeseries-stream/market-orderbooks?api_key={key}&markets=*"
            "&depth_limit=full_book&pretty=true&backfill=none")  # fmt: skip
    request = (f"GET {path} HTTP/1.1\r\nHost: {server.host}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n")  # fmt: skip
    await loop.sock_sendall(sock, request.encode())
    await wait_for(lambda: server.node.connections, timeout=10)
    (connection,) = server.node.connections.values()
    # the client reads nothing: the outbox fills, the server warns, then gives up
    await wait_for(lambda: connection.outbox.overflowed, timeout=60)
    sock.setblocking(True)
    payloads = await asyncio.to_thread(_read_frames, sock)
    sock.close()
    texts = [p for p in payloads if p[:1] == b"{"]
    warnings = [i for i, p in enumerate(texts) if b'"falling_behind"' in p]
    errors = [i for i, p in enumerate(texts) if p.startswith(b'{"error"')]
    assert warnings and errors and warnings[0] < errors[0] == len(texts) - 1, (warnings, errors)
    assert json.loads(texts[errors[0]]) == {
        "error": {
            "type": "stall",
            "message": "The client was reading too slowly and was disconnected by the server.",
        }
    }
    assert b'"cm_sequence_id": "0"' in texts[0]  # pretty=true
    assert payloads[-1][:2] == (1008).to_bytes(2, "big")  # the close frame's code
    await wait_for(lambda: not server.node.connections, timeout=10)


async def test_patterns_also_match_markets_listed_later(start_server) -> None:
    server = await start_server()
    node = server.node
    key = await server.key("pro")
    url = (f"ws://{server.host}:{server.port}/v4/timeseries-stream/market-trades"
           f"?api_key={key}&markets=*-usd-spot")  # fmt: skip
    async with connect(url) as ws:
        await wait_for(lambda: any(c.messages for c in node.connections.values()), timeout=10)
        market = Market("acme-foo-usd-spot", "acme", MarketKind.SPOT, "foo", "usd", "FOO-USD", 2, 3)
        node.catalog.add(market)  # what the publish API does before publishing
        await node.publish([Trade(market.id, "t1", 10_050, 2_000, Side.BUY, node.clock.time_ns())])
        async with asyncio.timeout(10):
            while True:
                message = json.loads(await ws.recv())
                if message.get("market") == market.id:
                    break
        assert message["price"] == "100.5" and message["amount"] == "2"
        (connection,) = node.connections.values()
        assert f"trades:{market.id}" in connection.info()["subscriptions"]
