"""What five open dashboards cost a tickcast server under the stress simulator (issue 19, point 6).

Starts ``tickcast serve --source simulator:stress`` in a subprocess, then measures the server
process's CPU (user + system seconds per wall second, psutil) in three windows: no dashboard,
N dashboards open in headless Chromium (Debian's ``/usr/bin/chromium`` via Playwright), and no
dashboard again. By default the N dashboards sit on different pages (overview, connections, keys,
streams, market: every page polls its API; the market view also holds a native WebSocket on
``trades:`` and ``book:`` of one market); ``--page NAME`` puts them all on one page. Windows with
and without dashboards alternate (``--rounds``); the medians are compared.

    .venv/bin/python benchmarks/dashboard_cpu.py                  # 5 dashboards, 3 rounds of 10 s
    .venv/bin/python benchmarks/dashboard_cpu.py --page market --window 30 --json
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import suppress
from pathlib import Path
from typing import Any

import psutil
from playwright.sync_api import Browser, Page, sync_playwright

PAGES = ["overview", "connections", "keys", "streams", "market"]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tickcast() -> str:
    found = Path(sys.executable).with_name("tickcast")
    return str(found) if found.exists() else (shutil.which("tickcast") or "tickcast")


def start_server(data_dir: Path, port: int, source: str) -> tuple[subprocess.Popen[bytes], str]:
    common = ["--data-dir", str(data_dir)]
    created = subprocess.run(
        [tickcast(), "keys", "create", "--user", "ops", "--plan", "admin", *common],
        capture_output=True,
        timeout=60,
        check=True,
    )
    key = created.stdout.decode().strip().splitlines()[-1]
    process = subprocess.Popen(
        [
            tickcast(),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *common,
            "--source",
            source,
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return process, key
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        time.sleep(0.1)
    process.kill()
    raise SystemExit("server not ready within 30 s")


def cpu_percent(process: psutil.Process, seconds: float) -> float:
    """The process's CPU time over ``seconds`` of wall time, in % of one core."""
    before = process.cpu_times()
    start = time.monotonic()
    time.sleep(seconds)
    after = process.cpu_times()
    used = (after.user - before.user) + (after.system - before.system)
    return 100.0 * used / (time.monotonic() - start)


def open_dashboard(browser: Browser, base: str, key: str, page_name: str) -> Page:
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    page = context.new_page()
    page.goto(f"{base}/dashboard")
    page.fill("#signin-key", key)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#nav:not([hidden])", timeout=15_000)
    page.goto(f"{base}/dashboard#/{page_name}")
    return page


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Alternate windows without and with the dashboards (``rounds`` of each, starting and
    ending without), so drift in the shared machine's load hits both sides alike; medians."""
    data_dir = Path(tempfile.mkdtemp(prefix="tickcast-dashcpu-"))
    port = free_port()
    server, key = start_server(data_dir, port, args.source)
    base = f"http://127.0.0.1:{port}"
    proc = psutil.Process(server.pid)
    names = (
        [args.page] * args.dashboards
        if args.page
        else [PAGES[i % len(PAGES)] for i in range(args.dashboards)]
    )
    without: list[float] = []
    with_dashboards: list[float] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS
            )
            pages = [open_dashboard(browser, base, key, name) for name in names]
            for round_ in range(args.rounds + 1):
                for page in pages:  # off: a blank page polls nothing and holds no WebSocket
                    page.goto("about:blank")
                time.sleep(args.warmup)
                without.append(cpu_percent(proc, args.window))
                if round_ == args.rounds:
                    break
                for page, name in zip(pages, names, strict=True):
                    page.goto(f"{base}/dashboard#/{name}")
                    page.wait_for_selector("#nav:not([hidden])", timeout=15_000)
                time.sleep(args.warmup)
                with_dashboards.append(cpu_percent(proc, args.window))
            browser.close()
    finally:
        server.terminate()
        with suppress(subprocess.TimeoutExpired):
            server.wait(timeout=15)
        shutil.rmtree(data_dir, ignore_errors=True)
    baseline = statistics.median(without)
    during = statistics.median(with_dashboards)
    return {
        "source": args.source,
        "dashboards": args.dashboards,
        "pages": names,
        "window_s": args.window,
        "rounds": args.rounds,
        "server_cpu_without": [round(v, 2) for v in without],
        "server_cpu_with": [round(v, 2) for v in with_dashboards],
        "median_without": round(baseline, 2),
        "median_with": round(during, 2),
        "added_cpu_points": round(during - baseline, 2),
        "added_cpu_relative_percent": round(100 * (during - baseline) / baseline, 2)
        if baseline
        else None,
        "cores": psutil.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dashboards", type=int, default=5)
    parser.add_argument("--page", choices=PAGES, default=None, help="all dashboards on this page")
    parser.add_argument("--window", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="windows with dashboards")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--source", default="simulator:stress")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"server CPU (% of one core), {args.source}, {args.window:.0f} s windows")
    print(
        f"  without dashboards: {result['server_cpu_without']}  median {result['median_without']}"
    )
    print(
        f"  {args.dashboards} dashboards open:  {result['server_cpu_with']}  median "
        f"{result['median_with']}   pages: {', '.join(result['pages'])}"
    )
    print(
        f"  added: {result['added_cpu_points']:+.2f} points of one core "
        f"({result['added_cpu_relative_percent']:+.2f} % of the server's own CPU)"
    )


if __name__ == "__main__":
    main()
