"""The server's hooks into the history store (issue 17), kept in one module.

``build_history`` makes the node's History from the configuration; ``Node.publish_envelopes``
hands it every envelope the node sequences (the node that sequences writes: with a shared bus,
each event is written once, by the node that published it).
"""

from __future__ import annotations

from tickcast.clock import Clock
from tickcast.config import ServerConfig
from tickcast.errors import ConfigError
from tickcast.history.factory import history_opener
from tickcast.history.retention import RetentionPolicy
from tickcast.history.service import History
from tickcast.model import MarketCatalog


def build_history(
    config: ServerConfig, clock: Clock, catalog: MarketCatalog | None = None
) -> History | None:
    """The node's history store, or None when ``history = "off"``."""
    opener = history_opener(config.history, data_dir=config.data_dir, store_url=config.store)
    if opener is None:
        return None
    try:
        retention = RetentionPolicy.parse(config.history_retention)
    except ValueError as exc:
        raise ConfigError(f"config key 'history_retention': {exc}") from None
    market_of = catalog.find if catalog is not None else None
    return History(opener, clock=clock, retention=retention, market_of=market_of)
