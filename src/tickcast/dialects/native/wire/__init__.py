"""The native protocol, sans-I/O: ``protocol`` (commands in, frames out) and ``data`` (event
payloads)."""
