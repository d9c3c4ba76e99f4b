"""The ``/ws`` frames and per-connection session, sans-I/O (``protocol``)."""
