"""Live exchange connectors: one sans-I/O feed per venue, driven by a shared I/O runner.

Each venue module turns the venue's WebSocket frames and REST answers into normalised events and
commands (``protocol.py``); the runner (``runner.py``) owns sockets, timers, backoff and health;
``registry.py`` maps source spec names to venues (docs/connectors.md).
"""
