"""The WebSocket prediction service (docs/predictions.md): ``wire`` (sans-I/O) and ``endpoint``."""
