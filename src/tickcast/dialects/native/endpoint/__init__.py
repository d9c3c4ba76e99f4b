"""The native protocol's I/O: the endpoint (``ws``), one connection (``connection``) and time
travel from the history store (``history``); ``dialect`` mounts it (``mount``)."""

from tickcast.dialects.native.endpoint.mount import dialect

__all__ = ["dialect"]
