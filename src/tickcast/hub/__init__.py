"""The hub: bus → local subscribers.

Each envelope is encoded once per (dialect, stream, view) group and the same ``bytes`` object is
appended to the outbox of every member of the group; per-connection work on the hot path is one
outbox push. Joining a stream is two-phase: the member first buffers live frames, then receives
Subscribed, its snapshot / replay / gap notice, then the buffered frames it has not seen yet.

Shared delivery (``SharedSubscriber``): a subscriber whose ``direct_sink()`` returns a
:class:`~tickcast.delivery.channel.Sink` is, once live, a member of the
:class:`~tickcast.delivery.channel.Channel` of its subscription set (its live groups plus its
sink's framing). Frames go to each channel once; once per loop pass every pending channel writes
ONE batch (the same ``bytes`` object) to all its direct members. A member falls back to its own
outbox while it lags or while it joins or leaves a stream, and its writer calls ``promote`` when
the outbox is empty again.

Batched delivery (``BatchGroups``, ``hub/batches.py``): subscribers of a dialect that delivers
per closed batch (Vega's blocks), grouped by the key that selects their lines; a ``BatchClock``
(the batching policy: a period and the encoder's ``close``) closes the batches.
"""

from tickcast.hub.batches import BatchClock, BatchGroups, BatchSubscriber, push_lines
from tickcast.hub.core import Hub
from tickcast.hub.parts import Encoder, Joined, SharedSubscriber, Subscriber, party_matches

__all__ = [
    "BatchClock",
    "BatchGroups",
    "BatchSubscriber",
    "Encoder",
    "Hub",
    "Joined",
    "SharedSubscriber",
    "Subscriber",
    "party_matches",
    "push_lines",
]
