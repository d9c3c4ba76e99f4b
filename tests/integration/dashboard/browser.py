"""Debian's chromium driven by Playwright (no browser download), and where screenshots go."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(os.environ.get("TICKCAST_ARTIFACTS", ROOT / "tmp" / "artifacts")) / "dashboard"
TIMEOUT_MS = 10_000


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless chromium, closed at the end. Its profile is fresh: Playwright's ``launch``
    gives every browser a new temporary ``--user-data-dir`` (and refuses one in ``args``)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def signed_in_page(browser: Browser, base: str, key: str) -> Page:
    """A new page (own cookie jar) signed in to the dashboard with ``key``."""
    context = await browser.new_context(viewport={"width": 1366, "height": 860})
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await page.goto(f"{base}/dashboard")
    await page.fill("#signin-key", key)
    await page.click("#signin-form button[type=submit]")
    await page.wait_for_selector("#nav:not([hidden])")
    return page


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
