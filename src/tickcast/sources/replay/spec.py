"""``replay:PATH[,speed=1|10|max][,loop][,wait=N][,kind=spot|future]``: replay source options.

``PATH`` is a file, a directory (every file in it, by name) or a glob pattern; the files of one
source are merged by their recorded local times. Options inside the spec win over the
``tickcast serve --speed/--loop/--wait`` flags, which apply to every replay source.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tickcast.errors import ConfigError
from tickcast.model.markets import MarketKind

PREFIX = "replay:"


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    path: str
    speed: float | None = 1.0
    """Multiple of real time; None replays as fast as the server takes events (``max``)."""
    loop: bool = False
    wait: int = 0
    """Start once the node has this many stream subscriptions (0: at once)."""
    kind: MarketKind | None = None
    """Force Binance captures' markets to spot or futures (detected from the messages)."""


def _bad(spec: str, why: str) -> ConfigError:
    return ConfigError(f"config key 'sources': bad value {spec!r} ({why})")


def _speed(spec: str, value: str) -> float | None:
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        raise _bad(spec, "speed is a positive number or 'max'") from None
    if not speed > 0:
        raise _bad(spec, "speed is a positive number or 'max'")
    return speed


def parse_spec(spec: str) -> ReplayOptions:
    """Options of a ``replay:...`` source spec."""
    if not spec.startswith(PREFIX):
        raise _bad(spec, "not a replay source")
    path, *parts = spec[len(PREFIX) :].split(",")
    if not path.strip():
        raise _bad(spec, "replay needs a path: replay:PATH")
    options = ReplayOptions(path=path.strip())
    for part in parts:
        key, sep, value = (item.strip() for item in part.partition("="))
        if key == "speed" and sep:
            options = replace(options, speed=_speed(spec, value))
        elif key == "loop":
            options = replace(options, loop=value.lower() in ("", "1", "true", "yes"))
        elif key == "wait" and sep and value.isdigit():
            options = replace(options, wait=int(value))
        elif key == "kind" and value in ("spot", "future"):
            options = replace(options, kind=MarketKind(value))
        else:
            raise _bad(spec, f"unknown option {part.strip()!r}; known: speed, loop, wait, kind")
    return options


def with_defaults(
    spec: str, *, speed: str | None = None, loop: bool = False, wait: int | None = None
) -> str:
    """``spec`` with the serve flags added where the spec does not set them itself."""
    if not spec.startswith(PREFIX):
        return spec
    keys = {part.partition("=")[0].strip() for part in spec.split(",")[1:]}
    if speed is not None and "speed" not in keys:
        spec += f",speed={speed}"
    if loop and "loop" not in keys:
        spec += ",loop"
    if wait is not None and "wait" not in keys:
        spec += f",wait={wait}"
    return spec
