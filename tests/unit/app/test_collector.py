"""The serving process's collector schedule (app/collector.py): young generations by time."""

from __future__ import annotations

import asyncio
import gc

from tickcast.app import collector


def _in_generation(obj: object, generation: int) -> bool:
    return any(o is obj for o in gc.get_objects(generation))


def test_a_tick_moves_what_is_alive_to_the_oldest_generation() -> None:
    was_enabled = gc.isenabled()
    young = collector.YoungCollector()
    gc.disable()
    try:
        survivor: list[object] = [[]]
        young.tick()  # collection paused (as a history read does): the tick does nothing
        assert young.ticks == 0
        assert _in_generation(survivor, 0)
        gc.enable()
        young.tick()
        assert young.ticks == 1
        assert _in_generation(survivor, 2)
        assert not _in_generation(survivor, 0) and not _in_generation(survivor, 1)
    finally:
        if not was_enabled:
            gc.disable()


def test_a_tick_frees_young_cycles() -> None:
    was_enabled = gc.isenabled()
    gc.enable()
    try:
        young = collector.YoungCollector()
        before = gc.get_stats()[1]["collected"]
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        young.tick()
        assert gc.get_stats()[1]["collected"] >= before + 1
    finally:
        if not was_enabled:
            gc.disable()


def test_a_tick_makes_a_full_collection_when_it_is_due() -> None:
    was_enabled = gc.isenabled()
    gc.enable()
    try:
        young = collector.YoungCollector(full_after=1)
        full_before = gc.get_stats()[2]["collections"]
        young.tick()  # at least one of two ticks: the first one's young collection makes it due
        young.tick()
        assert young.full_collections >= 1 and young.ticks == 2
        assert gc.get_stats()[2]["collections"] >= full_before + 1
        assert collector.YoungCollector().full_after == collector.GC_THRESHOLDS[2]
    finally:
        if not was_enabled:
            gc.disable()


async def test_the_timer_ticks_on_the_loop_until_stopped() -> None:
    young = collector.YoungCollector(period=0)
    young.start()
    young.start()  # idempotent: still one timer
    for _ in range(100):
        if young.ticks >= 3:
            break
        await asyncio.sleep(0)
    assert young.ticks >= 3
    await young.stop()
    stopped_at = young.ticks
    for _ in range(10):
        await asyncio.sleep(0)
    assert young.ticks == stopped_at
    await young.stop()  # idempotent


def test_thresholds_make_full_collections_wait_for_the_ticks() -> None:
    saved = gc.get_threshold()
    try:
        collector.configure()
        assert gc.get_threshold() == collector.GC_THRESHOLDS
        ticks_before_full = collector.GC_THRESHOLDS[2] * collector.YOUNG_PERIOD_S
        assert ticks_before_full == collector.FULL_AFTER_S
    finally:
        gc.set_threshold(*saved)
