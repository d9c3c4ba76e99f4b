"""Exact fixed-point numbers.

Prices and sizes are integers scaled by a per-market number of decimals. The canonical string of
a value always has exactly that many decimals (``"87250.50"``, never ``"87250.5"``), so equal
values are equal strings.
"""

from __future__ import annotations

from decimal import Decimal


def format_fixed(value: int, decimals: int) -> str:
    """Render a scaled integer as its canonical decimal string."""
    if decimals == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    digits = str(abs(value)).rjust(decimals + 1, "0")
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"


def parse_fixed(text: str, decimals: int) -> int:
    """Parse a decimal string into a scaled integer; reject values finer than ``decimals``."""
    if not isinstance(text, str) or not text or len(text) > 64:
        raise ValueError(f"not a decimal string: {text!r}")
    body = text[1:] if text[0] in "+-" else text
    whole, _, fraction = body.partition(".")
    if not (whole or fraction) or not (whole.isdigit() or whole == ""):
        raise ValueError(f"not a decimal string: {text!r}")
    if fraction and not fraction.isdigit():
        raise ValueError(f"not a decimal string: {text!r}")
    if not whole.isascii() or not fraction.isascii():
        raise ValueError(f"not a decimal string: {text!r}")
    stripped = fraction.rstrip("0")
    if len(stripped) > decimals:
        raise ValueError(f"{text!r} has more than {decimals} decimals")
    value: int = int(whole or "0") * int(10**decimals) + int(stripped.ljust(decimals, "0") or "0")
    return -value if text[0] == "-" else value


def to_decimal(value: int, decimals: int) -> Decimal:
    """The exact Decimal of a scaled integer."""
    return Decimal(value).scaleb(-decimals)


def rescale(value: int, from_decimals: int, to_decimals: int) -> int:
    """Change the scale of a value, rounding half away from zero when precision is lost."""
    if to_decimals >= from_decimals:
        return value * int(10 ** (to_decimals - from_decimals))
    factor = int(10 ** (from_decimals - to_decimals))
    quotient, remainder = divmod(abs(value), factor)
    if remainder * 2 >= factor:
        quotient += 1
    return quotient if value >= 0 else -quotient
