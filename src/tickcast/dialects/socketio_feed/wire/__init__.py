"""The feed's packets and selections, sans-I/O (``protocol``)."""
