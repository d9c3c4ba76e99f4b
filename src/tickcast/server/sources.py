"""Turn ``--source`` specs into Source objects."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from tickcast.clock import Clock
from tickcast.errors import ConfigError
from tickcast.history.source import PREFIX as HISTORY_PREFIX
from tickcast.history.source import HistorySource, parse_history_spec
from tickcast.sources.base import Pressure, Source
from tickcast.sources.bench import BenchSource, parse_rate
from tickcast.sources.connectors.registry import VENUES, build_connector, is_connector_spec
from tickcast.sources.replay import ReplaySource, parse_spec
from tickcast.sources.simulator import Simulator

CALM_RATE = 300.0
STRESS_RATE = 5000.0


def _options(spec: str) -> tuple[str, dict[str, str]]:
    name, _, rest = spec.partition(":")
    options: dict[str, str] = {}
    for part in filter(None, rest.split(",")):
        key, sep, value = part.partition("=")
        options[key.strip()] = value.strip() if sep else "true"
    return name.strip(), options


def build_source(
    spec: str,
    *,
    seed: int,
    clock: Clock,
    subscribers: Callable[[], int] | None = None,
    pressure: Pressure | None = None,
) -> Source:
    """``simulator``, ``simulator:stress``, ``simulator:rate=2000,seed=7``,
    ``replay:PATH[,speed=1|10|max][,loop][,wait=N]`` (docs/sources.md), live venue connectors
    such as ``binance:btc-usdt,eth-usdt[,ws=URL,rest=URL]`` (docs/connectors.md).

    ``none`` (handled by the node) runs no source: only the publish API feeds the bus.
    ``subscribers`` counts the node's stream subscriptions (for ``replay:...,wait=N``);
    ``pressure`` is the node's back-pressure, for the sources that read it (``bench``)."""
    if spec.startswith("replay:"):
        return ReplaySource(parse_spec(spec), clock=clock, subscribers=subscribers)
    if spec.startswith(HISTORY_PREFIX):  # history hook (issue 17): replay of stored history
        return HistorySource(parse_history_spec(spec), clock=clock, subscribers=subscribers)
    if is_connector_spec(spec):
        return build_connector(spec, clock=clock)
    name, options = _options(spec)
    if name == "simulator":
        try:
            rate = float(options.get("rate", STRESS_RATE if "stress" in options else CALM_RATE))
            seed = int(options.get("seed", seed))
        except ValueError:
            raise ConfigError(f"config key 'sources': bad value {spec!r}") from None
        if rate <= 0:
            raise ConfigError(f"config key 'sources': bad value {spec!r}")
        return Simulator(seed=seed, clock=clock, rate=rate)
    if name == "bench":  # benchmark source: bench:rate=R|max[,tickers=1][,start=usr2]
        try:
            return BenchSource(
                rate=parse_rate(options.get("rate", "1000")),
                clock=clock,
                pressure=pressure,
                tickers=options.get("tickers", "0") in ("1", "true"),
                wait_for_signal=options.get("start") == "usr2",
            )
        except ValueError:
            raise ConfigError(f"config key 'sources': bad value {spec!r}") from None
    raise ConfigError(
        f"config key 'sources': unknown source {spec!r} (known: simulator, replay:PATH, bench, "
        f"{', '.join(VENUES)})"
    )


def build_sources(
    specs: Iterable[str],
    *,
    seed: int,
    clock: Clock,
    subscribers: Callable[[], int] | None = None,
    pressure: Pressure | None = None,
) -> list[Source]:
    """Every source of ``specs`` (``none`` skipped); each market must come from one source.

    Connectors learn their markets in ``prepare`` (the node checks them again after it)."""
    built = [
        (
            spec,
            build_source(spec, seed=seed, clock=clock, subscribers=subscribers, pressure=pressure),
        )
        for spec in specs
        if spec != "none"
    ]
    check_owners(built)
    return [source for _, source in built]


def check_owners(sources: Sequence[tuple[str, Source]]) -> None:
    """Refuse a market published by two sources (given with their specs)."""
    owners: dict[str, tuple[int, str]] = {}
    for index, (spec, source) in enumerate(sources):
        for market in source.markets():
            first, other = owners.setdefault(market.id, (index, spec))
            if first != index:
                raise ConfigError(
                    f"config key 'sources': market {market.id!r} comes from both {other!r} "
                    f"and {spec!r}; each market must come from exactly one source"
                )
