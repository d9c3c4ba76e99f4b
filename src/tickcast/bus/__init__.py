"""The bus: sequencing, bounded history and delivery of envelopes. Knows nothing of sockets."""

from tickcast.bus.base import Bus, Listener
from tickcast.bus.memory import MemoryBus

__all__ = ["Bus", "Listener", "MemoryBus"]
