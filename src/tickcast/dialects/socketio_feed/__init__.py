"""The Socket.IO price feed (docs/dialects/socketio-feed.md): ``wire`` (sans-I/O) and
``endpoint``."""
