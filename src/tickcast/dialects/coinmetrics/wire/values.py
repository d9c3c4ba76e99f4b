"""Value formatting shared by stream messages and REST rows: strings everywhere."""

from __future__ import annotations

from decimal import Decimal

from tickcast.model.numbers import format_fixed
from tickcast.model.timefmt import rfc3339_ns


def number(value: int, decimals: int) -> str:
    """A scaled integer as Coin Metrics writes numbers: no trailing zeros (``"9695.1"``)."""
    text = format_fixed(value, decimals)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def decimal(value: Decimal, places: int = 12) -> str:
    """A Decimal rounded to ``places`` fractional digits, without trailing zeros."""
    quantized = value.quantize(Decimal(1).scaleb(-places))
    text = format(quantized, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def timestamp(time_ns: int) -> str:
    """ISO 8601 UTC with nine fractional digits."""
    return rfc3339_ns(time_ns)


def cm_id(time_ns: int, seq: int) -> str:
    """A ``coin_metrics_id`` for book and quote messages: ``<microseconds>-<sequence>``."""
    return f"{time_ns // 1000}-{seq}"
