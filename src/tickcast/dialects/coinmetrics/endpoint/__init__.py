"""The Coin Metrics dialect's I/O: the ``/v4`` mount (``mount``), stream connections (``ws``),
REST (``rest``, ``history``, ``store``, ``catalog``), stream backfill (``backfill``) and the
dialect's state (``service``)."""

from tickcast.dialects.coinmetrics.endpoint.mount import dialect

__all__ = ["dialect"]
