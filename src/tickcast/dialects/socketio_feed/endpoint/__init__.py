"""The Socket.IO price feed's I/O: the python-socketio server and connections (``feed``);
``dialect`` mounts it (``mount``)."""

from tickcast.dialects.socketio_feed.endpoint.mount import dialect

__all__ = ["dialect"]
