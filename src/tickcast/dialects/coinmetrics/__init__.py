"""The Coin Metrics API v4 dialect (docs/dialects/coinmetrics.md): ``wire`` (sans-I/O) and
``endpoint``."""
