"""Stable 64-hex ids for the Vega dialect.

Vega ids are 64 lower-case hex characters. Simulated parties already have such ids; markets,
assets, orders and trades get ``sha256`` of a fixed prefix and the tickcast id, so they are the
same on every run and every node.
"""

from __future__ import annotations

import functools
import hashlib
import re

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def is_hex_id(text: str) -> bool:
    """Whether ``text`` has the shape of a Vega id (64 lower-case hex characters)."""
    return bool(_HEX64.match(text))


@functools.lru_cache(maxsize=4096)
def market_hex(market_id: str) -> str:
    """The Vega id of a tickcast market id (``binance-btc-usdt-spot`` → 64 hex)."""
    return _digest(f"tickcast-vega-market:{market_id}")


@functools.lru_cache(maxsize=1024)
def asset_hex(asset: str) -> str:
    """The Vega id of an asset code (``usdt`` → 64 hex)."""
    return _digest(f"tickcast-vega-asset:{asset.lower()}")


def order_hex(market_id: str, order_id: str) -> str:
    """The Vega id of an order (tickcast order ids are unique per market)."""
    return _digest(f"tickcast-vega-order:{market_id}:{order_id}")


def trade_hex(market_id: str, trade_id: str) -> str:
    """The Vega id of a trade (tickcast trade ids are unique per market)."""
    return _digest(f"tickcast-vega-trade:{market_id}:{trade_id}")


CANDLE_INTERVALS: dict[str, tuple[str, int]] = {
    "1 minute": ("1m", 60),
    "5 minutes": ("5m", 300),
    "15 minutes": ("15m", 900),
    "30 minutes": ("30m", 1800),
    "1 hour": ("1h", 3600),
    "4 hours": ("4h", 14400),
    "1 day": ("1d", 86400),
}
"""Vega interval text → (tickcast interval, seconds)."""


def candle_id(interval: str, market_hex_id: str) -> str:
    """``trades_candle_<interval, spaces → _>_<market id>`` as the data-node names candles."""
    return f"trades_candle_{interval.replace(' ', '_')}_{market_hex_id}"


def parse_candle_id(text: str) -> tuple[str, str] | None:
    """(Vega interval text, market hex id) of a candle id, or None if it is not one."""
    prefix = "trades_candle_"
    if not text.startswith(prefix):
        return None
    body = text[len(prefix) :]
    interval_part, _, market = body.rpartition("_")
    interval = interval_part.replace("_", " ")
    if interval not in CANDLE_INTERVALS or not is_hex_id(market):
        return None
    return interval, market
