"""Scale-out configuration: bus, role, workers, lease; checked at start."""

from __future__ import annotations

import pytest

from tickcast.app.workers import worker_configs
from tickcast.config import load
from tickcast.errors import ConfigError
from tickcast.server.cluster import redis_urls, runs_sources


def test_defaults_are_a_single_process_on_a_memory_bus() -> None:
    config = load(environ={})
    assert (config.bus, config.role, config.workers, config.lease_seconds) == (
        "memory",
        "all",
        1,
        6.0,
    )


def test_redis_bus_from_environment_and_flags() -> None:
    config = load(
        environ={"TICKCAST_BUS": "redis://a:6379/0, redis://b:6379/0"},
        overrides={"role": "gateway", "workers": 4},
    )
    assert redis_urls(config) == ["redis://a:6379/0", "redis://b:6379/0"]
    assert not runs_sources(config)
    workers = worker_configs(config, 8080)
    assert [(w.role, w.workers, w.port) for w in workers] == [("gateway", 1, 8080)] * 4
    everything = load(environ={}, overrides={"bus": "redis://h/0", "workers": 3})
    assert [w.role for w in worker_configs(everything, 1)] == ["all", "gateway", "gateway"]


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"bus": "postgres://x"}, "bus"),
        ({"bus": "redis://a/0,http://b"}, "bus"),
        ({"role": "leader", "bus": "redis://a/0"}, "role"),
        ({"role": "gateway"}, "role"),  # a memory bus cannot be shared
        ({"workers": 2}, "workers"),
        ({"workers": 0, "bus": "redis://a/0"}, "workers"),
        ({"role": "ingest", "workers": 2, "bus": "redis://a/0"}, "workers"),
        ({"lease_seconds": 0}, "lease_seconds"),
    ],
)
def test_bad_scale_out_settings_name_the_key(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(environ={}, overrides=overrides)
    assert repr(key) in error.value.message
