"""The Vega feed's derived-state stages fed from one pass per batch (``endpoint/derive.py``)
keep exactly the state of the stages run one by one (``Derived.register``): the same parties in
the same order, open candles, live orders and accounts, over a seeded simulator's events."""

from __future__ import annotations

from tickcast.clock import ManualClock
from tickcast.dialects.vega.endpoint import derive
from tickcast.dialects.vega.wire.candles import INTERVAL_SECONDS
from tickcast.model import BookSnapshot, Envelope, Event, Trade, stream_of
from tickcast.sources.simulator import Simulator
from tickcast.state.derived import Derived
from tickcast.state.keeper import StateKeeper
from tickcast.state.pipeline import Pipeline, Step


def _batches(count: int) -> list[list[Envelope]]:
    clock = ManualClock()
    simulator = Simulator(seed=3, clock=clock, stress=True)
    events: list[Event] = list(simulator.initial_events())
    while len(events) < count:
        clock.advance(1_000_000)
        events += simulator.step(clock.time_ns())
    # trades by parties nobody has seen yet, mid-stream: the parties' order is observable
    for n in range(0, len(events), 997):
        event = events[n]
        if isinstance(event, Trade):
            events.insert(n, Trade(event.market, f"x{n}", event.price, 1, event.side,
                                   event.time_ns, f"new-buyer-{n}", f"new-seller-{n}"))  # fmt: skip
    envelopes = [Envelope(str(stream_of(e)), n, "e", e, 0) for n, e in enumerate(events, 1)]
    return [envelopes[start : start + 100] for start in range(0, len(envelopes), 100)]


def _run(register_one_pass: bool, batches: list[list[Envelope]]) -> tuple[Derived, list[int]]:
    simulator = Simulator(seed=3, clock=ManualClock(), stress=True)
    markets = {market.id: market for market in simulator.markets()}
    keeper = StateKeeper()
    derived = Derived(keeper, markets, [p.id for p in simulator.parties()], INTERVAL_SECONDS)
    derived.accounts.activate()
    list(simulator.initial_events())  # the engines' seeded books, as the feed's seed hands over
    for market in markets:
        derived.orders.seed(simulator.engine(market).resting_orders())
    assert derived.orders.orders(next(iter(markets)))
    pipeline = Pipeline()
    pipeline.add(Step.DELIVER, "keeper", keeper.apply_all)
    seen: list[int] = []

    def seed(envelopes: object) -> None:
        seen.extend(e.seq for e in envelopes if isinstance(e.event, BookSnapshot))  # type: ignore[attr-defined]

    if register_one_pass:
        derive.register(pipeline, derived, seed)
    else:
        pipeline.add(Step.DERIVE, "vega-seed", seed)
        derived.register(pipeline)
    for batch in batches:
        pipeline.on_envelopes(batch)
    assert not pipeline.failures
    return derived, seen


def test_one_pass_keeps_the_same_state_as_the_stages_one_by_one() -> None:
    batches = _batches(20_000)
    (old, old_seen), (new, new_seen) = _run(False, batches), _run(True, batches)
    assert list(new.parties.ids) == list(old.parties.ids)
    assert any(party.startswith("new-buyer-") for party in new.parties.ids)
    assert new_seen == old_seen and new_seen  # the seed stage saw every book snapshot
    for market in old.markets:
        for seconds in INTERVAL_SECONDS:
            assert new.candles.open(market, seconds) == old.candles.open(market, seconds)
        assert new.orders.orders(market) == old.orders.orders(market)
    assert new.accounts.accounts() == old.accounts.accounts()
