"""Latest state of STATE streams, from which snapshots are cut."""

from tickcast.state.checksummer import BookChecksummer
from tickcast.state.keeper import StateKeeper, StateSnapshot

__all__ = ["BookChecksummer", "StateKeeper", "StateSnapshot"]
