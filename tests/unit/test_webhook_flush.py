"""The delivery job's batched position writes: a save cut short when the job
stops must not land after the final one and move an endpoint back (a takeover
would then send an event twice)."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

from projections.webhook_delivery import DeliveryConfig, WebhookDelivery
from projections.webhook_store import DeliveryState


class SlowFirstSave:
    """A delivery table whose first save is held until released; records the
    positions in the order the saves complete."""

    def __init__(self) -> None:
        self.saved: list[int] = []
        self.first_started = threading.Event()
        self.release_first = threading.Event()
        self._calls = 0
        self._lock = threading.Lock()

    def save(self, states: list[DeliveryState], _attempts: list[Any]) -> None:
        with self._lock:
            self._calls += 1
            first = self._calls == 1
        if first:
            self.first_started.set()
            self.release_first.wait(5)
        self.saved.extend(s.position for s in states)


def test_a_cancelled_periodic_save_lands_before_the_final_one() -> None:
    job = WebhookDelivery(SimpleNamespace(store=None), SimpleNamespace(datastore=None, placeholder="?"), None,
                          DeliveryConfig(flush_interval=0.0))
    table = SlowFirstSave()
    job.table = table  # type: ignore[assignment]
    state = DeliveryState("w1", position=10)

    async def scenario() -> None:
        job._flushed = asyncio.Lock()
        job.mark(state)
        flusher = asyncio.create_task(job._flushing())
        await asyncio.to_thread(table.first_started.wait, 5)
        state.position = 11  # delivered while the first save is being written
        job.mark(state)
        flusher.cancel()
        await asyncio.gather(flusher, return_exceptions=True)
        final = asyncio.create_task(job.flush())
        await asyncio.sleep(0.1)  # the final save would start now, were it not held back
        table.release_first.set()
        await final

    asyncio.run(scenario())
    assert table.saved == [10, 11]
