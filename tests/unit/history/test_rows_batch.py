"""``rows_for`` (the writer's one-pass row making) gives exactly ``row_of`` of each envelope."""

from __future__ import annotations

from tests.unit.bus.test_codec_and_state_ops import EVERY_KIND

from tickcast.bus.codec import encode_event
from tickcast.bus.names import stream_name
from tickcast.history.rows import Row, row_of, rows_for
from tickcast.model import Envelope, TradesGap


def test_rows_for_is_row_of_for_every_kind() -> None:
    events = [*EVERY_KIND, TradesGap(EVERY_KIND[0].market, 15)]  # type: ignore[union-attr]
    envelopes = [
        Envelope(stream_name(event), seq, "e1", event, 0)
        for seq, event in enumerate(events * 2, start=1)
    ]
    made = rows_for(envelopes, 123)
    assert made == [row_of(envelope, 123) for envelope in envelopes]
    assert all(type(row) is Row and row.id == 0 for row in made)
    assert rows_for([], 5) == []


def test_rows_for_stores_the_bus_codecs_bytes_as_they_are() -> None:
    """With ``encoded`` (the Redis publish's bytes) the rows are the same, made without encoding
    again: each row holds the very bytes object it was given."""
    events = [*EVERY_KIND, TradesGap(EVERY_KIND[0].market, 15)]  # type: ignore[union-attr]
    envelopes = [
        Envelope(stream_name(event), seq, "e1", event, 0) for seq, event in enumerate(events, 1)
    ]
    encoded = [encode_event(envelope.event) for envelope in envelopes]
    made = rows_for(envelopes, 7, encoded)
    assert made == rows_for(envelopes, 7)
    assert all(row.data is data for row, data in zip(made, encoded, strict=True))
