"""The dashboard in real Chromium: sign-in, live pages, acting on connections and keys.

Every wait is on a condition in the page (bounded by Playwright's 10 s timeout), never a sleep.
Screenshots of every page go to tmp/artifacts/dashboard/ (or $TICKCAST_ARTIFACTS/dashboard/).
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from playwright.async_api import Page
from tests.integration.dashboard.browser import chromium, screenshot, signed_in_page
from tests.integration.wire import MARKET as PUBLISHED
from tests.integration.wire import publish, recv_until, trade
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

STREAM = "trades:binance-btc-usdt-spot"
MARKET = "binance-btc-usdt-spot"
BOOK = f"book:{MARKET}"


async def _data(page: Page, selector: str, name: str) -> str:
    value = await page.locator(selector).first.get_attribute(f"data-{name}")
    return value or ""


async def test_sign_in_and_overview_counters_change(start_server) -> None:
    """Signed in, the overview's live counters move without a reload; dark mode is readable."""
    server = await start_server()
    async with chromium() as browser:
        page = await signed_in_page(browser, server.http, server.admin_key)
        await page.wait_for_function(
            "() => Number(document.querySelector('[data-testid=counters]')?.dataset.samples) >= 2"
        )
        first = await page.locator("[data-testid=counters]").text_content()
        await page.wait_for_function(
            "(t) => document.querySelector('[data-testid=counters]').textContent !== t", arg=first
        )
        assert "events/s in" in (await page.locator("[data-testid=counters]").text_content() or "")
        assert await page.locator("[data-testid=node]").get_by_text("memory").count() == 1
        await screenshot(page, "overview")
        await page.click("#theme")
        assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
        await screenshot(page, "overview-dark")


async def test_close_a_connection_disconnects_the_native_client(start_server) -> None:
    server = await start_server()
    key = await server.key("pro", user="ivan")
    async with (
        connect(f"{server.ws}?streams={STREAM}", additional_headers={"X-API-Key": key}) as ws,
        chromium() as browser,
    ):
        await recv_until(ws, lambda m: m["type"] == "Subscribed")
        page = await signed_in_page(browser, server.http, server.admin_key)
        await page.click("nav >> text=Connections")
        row = page.locator("[data-testid=connections] tr[data-id]", has_text="ivan")
        await row.wait_for()
        assert STREAM.split(":")[1] in (await row.text_content() or "")
        await page.fill("input[type=search]", "ivan")
        await screenshot(page, "connections")
        await row.get_by_role("button", name="Close connection").click()
        await row.wait_for(state="detached")
        closing, _ = await recv_until(ws, lambda m: m["type"] == "Closing")
        assert closing == {
            "type": "Closing",
            "code": 1008,
            "reason": "closed by operator",
            "retry": False,
        }
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(5):
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert not any(c.principal.user == "ivan" for c in server.node.connections.values())


async def test_create_a_key_use_it_then_change_plan_and_revoke(start_server) -> None:
    server = await start_server()
    async with chromium() as browser:
        page = await signed_in_page(browser, server.http, server.admin_key)
        await page.click("nav >> text=Keys")
        await page.fill("#new-user", "judy")
        await page.select_option("#new-plan", "pro")
        await page.click("text=Create key")
        key = (await page.locator("[data-testid=new-key]").text_content() or "").strip()
        assert key.startswith("tc_live_")
        # a book stream: its snapshot follows Subscribed at once, whatever the simulator's pace
        # (waiting for a trade of one market raced the simulator on a loaded machine)
        book = f"book:{MARKET}"
        async with connect(
            f"{server.ws}?streams={book}", additional_headers={"X-API-Key": key}
        ) as ws:
            subscribed, _ = await recv_until(ws, lambda m: m["type"] == "Subscribed")
            assert subscribed["streams"][0]["stream"] == book
            snapshot, _ = await recv_until(ws, lambda m: m["type"] == "Snapshot")
            assert snapshot["stream"] == book and snapshot["data"]["bids"]
        user_row = page.locator("[data-testid=users] tr[data-user=judy]")
        await user_row.wait_for()
        await user_row.locator("select").select_option("free")
        await user_row.get_by_role("button", name="Change plan").click()
        await page.wait_for_function(
            "() => document.querySelector('#status').textContent.includes('judy is now free')"
        )
        assert (await server.node.store.get_user("judy")).plan == "free"  # type: ignore[union-attr]
        csv_text = await page.evaluate("fetch('/dashboard/api/usage.csv').then(r => r.text())")
        assert csv_text.startswith("time,key_id,connections,connection_seconds,messages,bytes")
        await page.locator("[data-testid=keys]").scroll_into_view_if_needed()
        await screenshot(page, "keys")
        (record,) = await server.node.store.list_keys("judy")
        key_row = page.locator(f"[data-testid=keys] tr[data-key={record.key_id}]")
        await key_row.get_by_role("button", name="Revoke").click()
        await key_row.get_by_text("revoked").wait_for()
        assert await server.node.authenticate(key) is None


async def test_market_view_candles_book_and_tape_update(start_server) -> None:
    """The browser's own native-protocol client fills candles, a verified book and the tape with
    events published while the page watches (no simulator: every event is the test's)."""
    server = await start_server(sources="none")
    snapshot = {
        "type": "book_snapshot",
        "market": PUBLISHED,
        "bids": [["100.00", "1.500"]],
        "asks": [["100.50", "0.750"], ["101.00", "3.000"]],
    }
    assert (await publish(server.http, server.admin_key, [snapshot])).status_code == 200
    async with chromium() as browser:
        page = await signed_in_page(browser, server.http, server.admin_key)
        await page.goto(f"{server.http}/dashboard#/market?m={PUBLISHED}")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=checksum]')?.dataset.valid === 'true'"
        )
        seq = int(await _data(page, "[data-testid=checksum]", "seq"))
        delta = {
            "type": "book_delta",
            "market": PUBLISHED,
            "bids": [["99.50", "2.000"]],
            "asks": [["100.50", "0"]],
        }
        events = [delta, trade(1, "100.50"), trade(2, "100.75"), trade(3, "100.25")]
        assert (await publish(server.http, server.admin_key, events)).status_code == 200
        await page.wait_for_function(
            "(s) => Number(document.querySelector('[data-testid=checksum]').dataset.seq) > s"
            " && Number(document.querySelector('[data-testid=tape]').dataset.trades) === 3"
            " && Number(document.querySelector('canvas[data-candles]').dataset.candles) >= 1",
            arg=seq,
        )
        assert await _data(page, "[data-testid=checksum]", "valid") == "true"
        ladder = await page.locator("[data-testid=ladder] td").all_text_contents()
        assert ladder == ["101.00", "3.000", "spread 1.00", "100.00", "1.500", "99.50", "2.000"]
        tape = await page.locator("[data-testid=tape] td.num").all_text_contents()
        assert tape[0::2] == ["100.25", "100.75", "100.50"]  # newest first
        assert (await page.locator("[data-testid=ws-state]").text_content()) == "open"
        info = await page.locator("[data-testid=market-info]").text_content() or ""
        assert "0 checksum mismatches" in info
        await screenshot(page, "market-published")


async def test_market_view_on_the_simulator(start_server) -> None:
    """With the simulator, the book verifies update after update (screenshot of a busy market)."""
    server = await start_server()
    async with chromium() as browser:
        page = await signed_in_page(browser, server.http, server.admin_key)
        await page.goto(f"{server.http}/dashboard#/market?m={MARKET}")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=checksum]')?.dataset.valid === 'true'"
        )
        seq = int(await _data(page, "[data-testid=checksum]", "seq"))
        await page.wait_for_function(
            "(s) => Number(document.querySelector('[data-testid=checksum]').dataset.seq) > s + 5",
            arg=seq,
        )
        assert await _data(page, "[data-testid=checksum]", "valid") == "true"
        assert await page.locator("[data-testid=ladder] td.sell").count() == 10
        assert await page.locator("[data-testid=ladder] td.buy").count() == 10
        await screenshot(page, "market")


async def test_non_admin_cannot_see_or_call_admin_pages(start_server) -> None:
    server = await start_server()
    key = await server.key("pro", user="kate")
    async with chromium() as browser:
        page = await signed_in_page(browser, server.http, key)
        assert "kate · pro" in (await page.locator("#who").text_content() or "")
        await page.click("nav >> text=Keys")
        await page.locator("[data-testid=keys] tr[data-key]").first.wait_for()
        assert await page.locator("[data-testid=create-key]").count() == 0
        assert await page.locator("[data-testid=users]").count() == 0
        users = await page.locator(
            "[data-testid=keys] tr[data-key] td:nth-child(2)"
        ).all_text_contents()
        assert set(users) == {"kate"}
        await screenshot(page, "keys-non-admin")
        answers = await page.evaluate(
            """async () => {
              const csrf = (await (await fetch('/dashboard/api/session')).json()).csrf;
              const send = (method, path, body) => fetch(path, {method,
                headers: {'X-CSRF-Token': csrf, 'Content-Type': 'application/json'},
                body: body && JSON.stringify(body)}).then(r => r.status);
              return [await send('POST', '/dashboard/api/keys', {user: 'kate'}),
                      await send('PUT', '/dashboard/api/users/dev/plan', {plan: 'free'}),
                      await fetch('/api/v1/keys').then(r => r.status)];
            }"""
        )
        assert answers == [403, 403, 401]
        await page.click("#signout")
        await page.wait_for_selector("#signin:not([hidden])")
        status = await page.evaluate("fetch('/dashboard/api/keys').then(r => r.status)")
        assert status == 401


async def test_streams_and_models_pages_and_keyboard_navigation(start_server) -> None:
    server = await start_server()
    async with chromium() as browser:
        page = await signed_in_page(browser, server.http, server.admin_key)
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.className") == "skip"
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.textContent") == "Overview"
        await page.keyboard.press("Tab")
        await page.keyboard.press("Tab")
        await page.keyboard.press("Tab")
        await page.keyboard.press("Enter")
        await page.wait_for_function("() => location.hash === '#/streams'")
        row = page.locator(f"[data-testid=streams] tr[data-stream='{BOOK}']")
        await row.wait_for()
        first = int((await row.locator("td").nth(2).text_content() or "0").replace(",", ""))
        await page.wait_for_function(
            "([s, f]) => Number(document.querySelector(`tr[data-stream='${s}'] td:nth-child(3)`)"
            ".textContent.replace(/[^0-9]/g, '')) > f",
            arg=[BOOK, first],
        )
        await screenshot(page, "streams")
        rows = [{"point1": i % 5, "point2": (i * 3) % 7, "label": "up" if i % 5 > 2 else "down"}
                for i in range(40)]  # fmt: skip
        body = {"strategy": "demo", "name": "DecisionTree", "type": "class", "target": "label",
                "rows": rows}  # fmt: skip
        async with httpx.AsyncClient(base_url=server.http, timeout=60) as http:
            trained = await http.post(
                "/api/v1/models", json=body, headers={"X-API-Key": server.admin_key}
            )
            assert trained.status_code == 201, trained.text
        await page.click("nav >> text=Models")
        model_row = page.locator("[data-testid=models] tr", has_text="DecisionTree")
        await model_row.wait_for()
        assert "accuracy" in (await model_row.text_content() or "")
        await screenshot(page, "models")
        models = json.loads(
            await page.evaluate("fetch('/dashboard/api/models').then(r => r.text())")
        )
        assert models["enabled"] and [m["name"] for m in models["models"]] == ["DecisionTree"]
