"""The operator's views in real Chromium: connector health and resyncs, per-connection lag,
several nodes, session expiry, usage history kept while no dashboard is open.

Every wait is on a condition (Playwright's 10 s bound, or ``asyncio.timeout``), never a sleep.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable

from tests.connectors.fake_venue import FakeVenue, Faults
from tests.connectors.test_binance_live import SPOT, BinanceScript, SpotFrames
from tests.integration.dashboard.browser import chromium, screenshot, signed_in_page
from tests.integration.wire import MARKET, publish, recv_until, trade
from websockets.asyncio.client import connect

PUBLISHED_TRADES = f"trades:{MARKET}"


async def test_overview_shows_connector_health_and_its_resync(start_server) -> None:
    """A live Binance connector (fake venue replaying a real capture, one depth update never
    sent): the Overview shows it live, its resync in the table, the 5-minute window and the
    venue chart; its source's health is the connector's own state."""
    depth = [i for i, (_, f) in enumerate(SpotFrames.frames()) if "@depth" in f]
    script = BinanceScript([SPOT.capture], SPOT.info, futures=False)
    venue = FakeVenue(script.frames, script, faults=Faults(skip=frozenset({depth[120]})), speed=20)
    await venue.start()
    try:
        spec = f"binance:btc-usdt,ws={venue.ws_url},rest={venue.rest_url}"
        server = await start_server(sources=(spec,))
        venue.release()
        async with chromium() as browser:
            page = await signed_in_page(browser, server.http, server.admin_key)
            row = page.locator("[data-testid=connectors] tr[data-connector]")
            await row.wait_for()
            await page.wait_for_function(
                """() => {
                  const row = document.querySelector('[data-testid=connectors] tr[data-connector]');
                  const gaps = document.querySelector('[data-testid=gaps]');
                  return Number(row?.dataset.resyncs) >= 1 && Number(gaps?.dataset.resyncs) >= 1
                    && row.querySelector('[data-state]')?.dataset.state === 'live';
                }"""
            )
            health = server.node.connectors[0].report()
            assert health["resyncs"] == 1 and health["state"] == "live"
            assert await row.get_attribute("data-connector") == server.node.connectors[0].name
            source_state = page.locator("[data-testid=sources] [data-state]").first
            assert await source_state.get_attribute("data-state") == "live"
            await page.wait_for_function(
                "() => [...document.querySelectorAll('figure.chart')].some("
                "(f) => Number(f.dataset.resyncs) > 0)"
            )
            await screenshot(page, "overview-connectors")
    finally:
        await venue.stop()


def big_trade(n: int) -> dict[str, object]:
    """A trade with a 200-character id (the longest allowed): the socket buffers fill sooner."""
    return trade(n) | {"id": f"{n:0>200}"}


async def test_connections_show_lag_of_a_client_that_stops_reading(start_server) -> None:
    """A client that reads nothing (tiny receive buffer) behind a full outbox: its lag grows past
    a second; a client that read everything shows 0."""
    server = await start_server(sources="none", outbox_bytes=65_536)
    fast_key = await server.key("pro", user="fast")
    slow_key = await server.key("pro", user="slow")
    await publish(server.http, server.admin_key, [trade(0)])  # the market exists
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((server.host, server.port))
    fast_url = f"{server.ws}?streams={PUBLISHED_TRADES}"
    async with (
        connect(fast_url, additional_headers={"X-API-Key": fast_key}) as fast,
        connect(
            server.ws,
            sock=sock,
            max_queue=1,
            close_timeout=0.1,
            additional_headers={"X-API-Key": slow_key},
        ) as slow,
        chromium() as browser,
    ):
        await recv_until(fast, lambda m: m["type"] == "Subscribed")
        await slow.send(json.dumps({"type": "Subscribe", "id": 1, "streams": [PUBLISHED_TRADES]}))
        await recv_until(slow, lambda m: m["type"] == "Subscribed")
        slow_connection = next(
            c for c in server.node.connections.values() if c.principal.user == "slow"
        )
        async with asyncio.timeout(20):
            n = 1
            while slow_connection.info()["pending_bytes"] == 0:  # past the socket buffers
                batch = [big_trade(n + i) for i in range(1000)]
                response = await publish(server.http, server.admin_key, batch)
                assert response.status_code == 200, response.text
                n, last = n + 1000, batch[-1]["id"]
                await recv_until(fast, lambda m, last=last: m.get("data", {}).get("id") == last)
        page = await signed_in_page(browser, server.http, server.admin_key)
        await page.click("nav >> text=Connections")
        await page.wait_for_function(
            """() => {
              const rows = [...document.querySelectorAll('[data-testid=connections] tr[data-id]')];
              const lag = (who) => rows.find((r) => r.textContent.includes(who))?.dataset.lag;
              return Number(lag('slow')) >= 1 && lag('fast') === '0';
            }"""
        )
        slow_row = page.locator("[data-testid=connections] tr[data-id]", has_text="slow")
        assert "≥ " in (await slow_row.text_content() or "")
        await screenshot(page, "connections-lag")
        slow.transport.abort()


async def test_overview_lists_the_nodes_sharing_a_redis_bus(start_server, redis_url) -> None:
    """Two nodes on one Redis bus: the first one's Overview lists both, with the client
    connection the second one holds (from the connection leases) and its role (its card)."""
    first = await start_server(bus=redis_url, lease_seconds=1.5, sources="none")
    second = await start_server(bus=redis_url, lease_seconds=1.5, sources="none", role="gateway")
    key = await second.key("pro", user="remote")
    async with (
        connect(second.ws, additional_headers={"X-API-Key": key}),
        chromium() as browser,
    ):
        page = await signed_in_page(browser, first.http, first.admin_key)
        other = second.node.cluster.node_id
        assert other != first.node.cluster.node_id
        await page.wait_for_function(
            """(id) => document.querySelector(
                 `[data-testid=nodes] tr[data-node="${id}"]`)?.dataset.connections === '1'""",
            arg=other,
        )
        rows = page.locator("[data-testid=nodes] tr[data-node]")
        assert await rows.count() == 2
        await page.wait_for_selector(
            f'[data-testid=nodes] tr[data-node="{other}"][data-role=gateway]'
        )
        own = first.node.cluster.node_id
        assert await page.get_attribute(f'tr[data-node="{own}"]', "data-role") == "all"
        await screenshot(page, "overview-nodes")


async def test_session_expiry_in_the_browser(start_server) -> None:
    """The server's session clock moves past the expiry: the page's next poll is refused, it
    shows the sign-in form with the reason, and the old session cookie no longer works."""
    server = await start_server(sources="none")
    sessions = server.app.state.dashboard.sessions
    async with chromium() as browser:
        page = await signed_in_page(browser, server.http, server.admin_key)
        await page.wait_for_selector("[data-testid=node]")
        assert await page.evaluate("fetch('/dashboard/api/session').then((r) => r.status)") == 200
        sessions.now = lambda: time.time() + sessions.ttl + 1
        await page.wait_for_selector("#signin:not([hidden])")
        assert "session ended" in (await page.locator("#signin-error").text_content() or "")
        assert await page.evaluate("fetch('/dashboard/api/overview').then((r) => r.status)") == 401
        assert len(sessions) == 0
        await screenshot(page, "session-expired")


async def test_usage_history_is_kept_while_no_dashboard_is_open(start_server) -> None:
    """A key's usage is sampled by the server with no dashboard open; the Keys page opened
    later charts the messages delivered before it opened (a non-zero rate at an earlier time)."""
    server = await start_server(sources="none", usage_flush_interval=0.2)
    dashboard = server.app.state.dashboard
    dashboard.recorder.interval = dashboard.usage.interval = 0.25
    key = await server.key("pro", user="early")
    [record] = await server.node.store.list_keys("early")
    await publish(server.http, server.admin_key, [trade(0)])

    async def samples_until(condition: Callable[[dict[str, list[float]]], bool]) -> None:
        async with asyncio.timeout(10):  # a bounded poll of the server's state, no page open
            while not condition(dashboard.usage.for_keys({record.key_id}).get(record.key_id, {})):
                await asyncio.sleep(0.05)

    async with connect(
        f"{server.ws}?streams={PUBLISHED_TRADES}", additional_headers={"X-API-Key": key}
    ) as ws:
        await recv_until(ws, lambda m: m["type"] == "Subscribed")
        await samples_until(lambda c: len(c.get("t", [])) >= 2)
        await publish(server.http, server.admin_key, [trade(1), trade(2)])
        await recv_until(ws, lambda m: m["type"] == "Update" and m["data"]["id"] == "t2")
        await samples_until(lambda c: c["messages"][-1] > c["messages"][0])
    opened = time.time()
    async with chromium() as browser:
        page = await signed_in_page(browser, server.http, server.admin_key)
        await page.click("nav >> text=Keys")
        await page.select_option("select[aria-label='Key whose usage is charted']", record.key_id)
        note = page.locator("[data-testid=usage-note]")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=usage-note]')?.dataset.firstBusy"
        )
        assert float(await note.get_attribute("data-first") or 0) < opened
        assert 0 < float(await note.get_attribute("data-first-busy") or 0) < opened
        await screenshot(page, "keys-usage-history")
