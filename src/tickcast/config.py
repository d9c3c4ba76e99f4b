"""Server configuration: defaults < TOML file < ``TICKCAST_*`` environment < command-line flags.

Read only by ``server`` and ``cli``; lower layers take explicit keyword arguments. Every field is
documented in docs/configuration.md. ``load`` validates at start and raises ConfigError naming
the key and the bad value.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tickcast.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = "data"
    store: str = field(default="", repr=False)
    """Store URL: "" (SQLite in data_dir), sqlite:///PATH or postgresql://... (docs/storage.md)."""
    history: str = field(default="", repr=False)
    """History store (docs/history.md): "" (the store's PostgreSQL database, else
    history.sqlite3 in data_dir), off, sqlite:///PATH or postgresql://..."""
    history_retention: str = ""
    """Per-kind overrides of the history retention, e.g. "book=3d,trades=90d" (docs/history.md)."""
    sources: tuple[str, ...] = ("simulator",)
    seed: int = 1
    history_size: int = 2_000
    outbox_bytes: int = 1_048_576
    ping_interval: float = 10.0
    idle_timeout: float = 30.0
    max_message_bytes: int = 65_536
    usage_flush_interval: float = 5.0
    predictions: str = "auto"
    """``/ws`` and the model routes: ``auto`` (on when the ``predict`` extra is installed),
    ``on`` (refuse to start without it) or ``off``."""
    predictions_auth_timeout: float = 10.0
    """Seconds a ``/ws`` connection has to send its API key."""
    log_level: str = "info"
    publish_stamps: bool = False
    """Show clients each live update's publish time ``t_ns`` (the bus's CLOCK_MONOTONIC ns, on
    the envelope): last key of native ``Update`` frames, and with a ``seq`` of Socket.IO
    ``price-update`` events. For latency benchmarks on the same host (docs/performance.md)."""
    vega_block_time: float = 1.0
    """Seconds per simulated block of the Vega dialect (updates are batched per block)."""
    vega_require_key: bool = False
    """Require an API key and plan on ``/api/v2/stream/*`` (public by default, as Vega)."""
    vega_max_streams_per_address: int = 250
    """Concurrent Vega streams per client address (the data-node's MaxSubscriptionPerClient)."""
    bus: str = "memory"
    """``memory``, or ``redis://HOST:PORT/DB`` (several comma-separated URLs shard the streams)."""
    role: str = "all"
    """``all`` (sources and clients), ``ingest`` (sources only) or ``gateway`` (clients only)."""
    workers: int = 1
    """Gateway processes sharing the port (SO_REUSEPORT); more than one needs a Redis bus."""
    lease_seconds: float = 6.0
    """Redis bus: a dead node's connections stop counting against limits within 4/3 of this."""
    max_body_bytes: int = 4_194_304
    """Largest HTTP request body (413 above it); model uploads have their own limits."""
    max_header_bytes: int = 16_384
    """Largest HTTP request head, request line and headers together (431 above it)."""
    max_headers: int = 100
    """Most header lines in one HTTP request (431 above it)."""
    header_timeout: float = 10.0
    """Seconds a client has to send a complete request head (then 408 and close)."""
    tls_cert: str = ""
    """PEM certificate chain: serve every endpoint over TLS on the same port (with ``tls_key``)."""
    tls_key: str = ""
    """PEM private key of ``tls_cert``. Both files are read again on SIGHUP."""
    config_file: str | None = None
    plans_toml: str | None = field(default=None, repr=False)
    """The config file's text, for its ``[plans.*]`` tables."""


_FIELDS = {f.name: f for f in dataclasses.fields(ServerConfig)}
_SETTABLE = set(_FIELDS) - {"config_file", "plans_toml"}


def _coerce(name: str, value: Any) -> Any:
    default = _FIELDS[name].default
    try:
        if name == "sources":
            # several sources: a TOML list, repeated --source flags, or ";" in one string
            # (a spec's own options are separated by ",": "simulator:rate=2000,seed=7")
            items = value.split(";") if isinstance(value, str) else list(value)
            result: Any = tuple(str(item).strip() for item in items if str(item).strip())
            if not result:
                raise ValueError
            return result
        if isinstance(default, bool):
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
        if isinstance(default, int):
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if isinstance(default, float):
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"config key {name!r}: bad value {value!r}") from None


def _validate(config: ServerConfig) -> ServerConfig:
    checks = {
        "port": 0 <= config.port <= 65535,
        "history_size": config.history_size >= 0,
        "outbox_bytes": config.outbox_bytes >= 4096,
        "ping_interval": config.ping_interval > 0,
        "idle_timeout": config.idle_timeout > 0,
        "max_message_bytes": config.max_message_bytes >= 1024,
        "usage_flush_interval": config.usage_flush_interval > 0,
        "predictions": config.predictions in ("auto", "on", "off"),
        "predictions_auth_timeout": config.predictions_auth_timeout > 0,
        "log_level": config.log_level in ("debug", "info", "warning", "error"),
        "vega_block_time": 0.001 <= config.vega_block_time <= 60,
        "vega_max_streams_per_address": config.vega_max_streams_per_address >= 1,
        "bus": config.bus == "memory"
        or all(
            url.strip().startswith(("redis://", "rediss://", "unix://"))
            for url in config.bus.split(",")
        ),
        "role": config.role in ("all", "ingest", "gateway"),
        "workers": 1 <= config.workers <= 256,
        "lease_seconds": config.lease_seconds > 0,
        "max_body_bytes": config.max_body_bytes >= 1024,
        "max_header_bytes": config.max_header_bytes >= 1024,
        "max_headers": 1 <= config.max_headers <= 10_000,
        "header_timeout": config.header_timeout > 0,
    }
    if config.store and not config.store.startswith(("sqlite", "postgresql://", "postgres://")):
        # the URL may hold a password: never echo it
        raise ConfigError(
            "config key 'store': expected sqlite:///PATH or "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    _validate_history(config)
    for name, ok in checks.items():
        if not ok:
            raise ConfigError(f"config key {name!r}: bad value {getattr(config, name)!r}")
    if config.bus == "memory" and (config.role != "all" or config.workers > 1):
        key = "role" if config.role != "all" else "workers"
        raise ConfigError(f"config key {key!r}: needs a shared bus (--bus redis://...)")
    _validate_tls(config)
    if config.role == "ingest" and config.workers > 1:
        raise ConfigError("config key 'workers': an ingest node runs one process")
    return config


def _validate_tls(config: ServerConfig) -> None:
    """Both or neither of ``tls_cert`` and ``tls_key``; both readable."""
    if bool(config.tls_cert) != bool(config.tls_key):
        missing = "tls_key" if config.tls_cert else "tls_cert"
        raise ConfigError(f"config key {missing!r}: needed with the other (TLS needs both)")
    for name in ("tls_cert", "tls_key"):
        path = getattr(config, name)
        if path and not os.access(path, os.R_OK):
            raise ConfigError(f"config key {name!r}: cannot read {path!r}")


def _validate_history(config: ServerConfig) -> None:
    """The history settings (issue 17); the URL is never echoed (it may hold a password)."""
    if config.history not in ("", "off") and not config.history.startswith(
        ("sqlite", "postgresql://", "postgres://")
    ):
        raise ConfigError("config key 'history': expected off, sqlite:///PATH or postgresql://...")
    for part in filter(None, (p.strip() for p in config.history_retention.split(","))):
        kind, _, duration = part.partition("=")
        unit, number = duration.strip()[-1:], duration.strip()[:-1]
        if not kind.strip() or not (
            duration.strip() in ("0", "forever")
            or (unit in ("s", "m", "h", "d") and number.isdigit() and int(number) > 0)
        ):
            raise ConfigError(f"config key 'history_retention': bad value {part!r}")


def load(
    *,
    file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ServerConfig:
    """Build the configuration from its four layers."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    plans_toml = None
    file = file or environ.get("TICKCAST_CONFIG")
    if file:
        try:
            text = Path(file).read_text()
            document = tomllib.loads(text)
        except OSError as error:
            raise ConfigError(f"config file {str(file)!r}: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"config file {str(file)!r}: {error}") from None
        for key, value in document.get("server", {}).items():
            if key not in _SETTABLE:
                raise ConfigError(f"config key {key!r}: unknown key in [server]")
            values[key] = _coerce(key, value)
        plans_toml = text if "plans" in document else None
    for key in _SETTABLE:
        env_value = environ.get(f"TICKCAST_{key.upper()}")
        if env_value is not None:
            values[key] = _coerce(key, env_value)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(key, value)
    config_file = str(file) if file else None
    return _validate(ServerConfig(**values, config_file=config_file, plans_toml=plans_toml))
