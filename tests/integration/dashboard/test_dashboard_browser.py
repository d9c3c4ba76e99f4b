"""The dashboard in real Chromium: sign-in, live pages, acting on connections and keys."""

from __future__ import annotations

from tests.integration.dashboard.browser import chromium, screenshot, signed_in_page


async def test_sign_in_and_overview_counters_change(start_server) -> None:
    server = await start_server()
    async with chromium() as browser:
        page = await signed_in_page(browser, server.http, server.admin_key)
        counters = page.locator("[data-testid=counters]")
        await page.wait_for_function(
            "() => Number(document.querySelector('[data-testid=counters]')?.dataset.samples) >= 2"
        )
        first = await counters.text_content()
        await page.wait_for_function(
            "(t) => document.querySelector('[data-testid=counters]').textContent !== t", arg=first
        )
        assert "events/s" in (await counters.text_content() or "")
        await screenshot(page, "overview")
