"""The Vega dialect's I/O: the feed (``feed``), stream connections (``stream``, ``ws``) and
REST (``rest``); ``dialect`` mounts it (``mount``)."""

from tickcast.dialects.vega.endpoint.mount import dialect

__all__ = ["dialect"]
