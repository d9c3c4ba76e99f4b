"""Timestamps on the wire: RFC 3339 / ISO 8601 UTC with nanoseconds."""

from __future__ import annotations

import time


def rfc3339_ns(time_ns: int) -> str:
    """``2026-01-01T00:00:00.123456789Z``."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"
