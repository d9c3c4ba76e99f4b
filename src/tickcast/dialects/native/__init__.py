"""The native tickcast protocol (docs/protocol.md): ``wire`` (sans-I/O commands and frames) and
``endpoint`` (``/api/v1/ws``)."""
