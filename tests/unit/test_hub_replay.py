"""Paged resume replay: within the outbox budget, continued as the client drains, and the normal
overflow policy when live frames outgrow the budget during the replay (issue 15, point 2)."""

from __future__ import annotations

import json

from tests.unit.test_hub import TRADES, FakeSubscriber, setup, trade

from tickcast.hub import Hub
from tickcast.model import FULL_VIEW, StreamPosition

BUDGET = 4096


def drain(hub: Hub, sub: FakeSubscriber) -> list[dict[str, object]]:
    """What a client that reads everything receives: the writer's drain loop, as in
    ``NativeConnection._write_now``."""
    received: list[dict[str, object]] = []
    while len(sub.outbox):
        received.extend(json.loads(frame) for frame in sub.outbox.drain(1024))
        for resync in sub.outbox.take_resyncs():
            hub.resync(sub, resync)
        hub.replay_more(sub)
    return received


async def test_replay_is_paged_within_the_budget_and_completes_as_the_client_drains() -> None:
    bus, hub, encoder, _ = setup()
    bus.publish_nowait([trade(n) for n in range(1, 101)])
    sub = FakeSubscriber(budget=BUDGET)
    joined = await hub.attach(
        sub, encoder, TRADES, FULL_VIEW, StreamPosition(0, "e1"), page_replay=True
    )
    assert joined.frames == () and len(joined.replay) == 100
    hub.go_live(sub, joined, encoder)
    assert 0 < sub.outbox.pending_bytes <= BUDGET
    bus.publish_nowait([trade(101)])  # live while replaying: after the replay, once
    received = drain(hub, sub)
    assert [m["seq"] for m in received] == list(range(1, 102))
    bus.publish_nowait([trade(102)])
    assert [m["seq"] for m in drain(hub, sub)] == [102]


async def test_a_client_that_falls_behind_during_replay_gets_a_gap() -> None:
    bus, hub, encoder, _ = setup()
    bus.publish_nowait([trade(n) for n in range(1, 101)])
    sub = FakeSubscriber(budget=BUDGET)
    joined = await hub.attach(
        sub, encoder, TRADES, FULL_VIEW, StreamPosition(0, "e1"), page_replay=True
    )
    hub.go_live(sub, joined, encoder)
    for n in range(101, 201):  # the client reads nothing meanwhile
        bus.publish_nowait([trade(n)])
    assert sub.outbox.pending_bytes <= BUDGET and sub.dropped > 0
    received = drain(hub, sub)
    updates = [m["seq"] for m in received if m["type"] == "Update"]
    (gap,) = [m for m in received if m["type"] == "Gap"]
    assert updates == list(range(1, len(updates) + 1))
    assert (gap["from"], gap["to"], gap["reason"]) == (len(updates) + 1, 200, "overflow")
    bus.publish_nowait([trade(201)])
    assert [m["seq"] for m in drain(hub, sub)] == [201]


async def test_leaving_during_a_replay_forgets_it() -> None:
    bus, hub, encoder, _ = setup()
    bus.publish_nowait([trade(n) for n in range(1, 101)])
    sub = FakeSubscriber(budget=BUDGET)
    joined = await hub.attach(
        sub, encoder, TRADES, FULL_VIEW, StreamPosition(0, "e1"), page_replay=True
    )
    hub.go_live(sub, joined, encoder)
    hub.detach(sub, str(TRADES))
    assert len(sub.outbox) == 0
    hub.replay_more(sub)
    assert len(sub.outbox) == 0 and hub.subscriber_count() == 0
