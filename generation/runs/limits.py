"""Per-generator concurrency and rate limits that hold across workers and runs.

Both live in the shared cache (Redis in production), whose `add` is atomic:
a slot is taken by whoever adds its key first. Keys expire, so a worker that
dies holding a slot gives it back after its lease.
"""

from __future__ import annotations

import math
import threading
import time
import uuid

from django.core.cache import cache

from generation.models import Generator

POLL_S = 0.01


class GeneratorLimits:
    def __init__(self, generator: Generator, *, lease_s: float) -> None:
        self.prefix = f"generator-limits:{generator.pk}"
        self.slots = max(1, generator.concurrency)
        self.interval_s = 60.0 / generator.rate_limit_per_minute if generator.rate_limit_per_minute else 0.0
        self.lease_s = max(1, math.ceil(lease_s))
        # Each thread tries the slot it last held first: with every slot busy, scanning
        # from 0 would cost a round trip to the cache per slot on every call.
        self._last = threading.local()

    def acquire(self) -> int:
        """Block until one of the generator's slots is free; return it."""
        token = uuid.uuid4().hex
        start = getattr(self._last, "slot", None)
        if start is None:
            start = threading.get_ident() % self.slots
        while True:
            for offset in range(self.slots):
                slot = (start + offset) % self.slots
                if cache.add(f"{self.prefix}:slot:{slot}", token, timeout=self.lease_s):
                    self._last.slot = slot
                    self._wait_for_rate()
                    return slot
            time.sleep(POLL_S)

    def release(self, slot: int) -> None:
        cache.delete(f"{self.prefix}:slot:{slot}")

    def _wait_for_rate(self) -> None:
        """Claim the next free start time on the generator's grid of `interval_s`."""
        if not self.interval_s:
            return
        tick = math.ceil(time.time() / self.interval_s)
        keep = max(2, math.ceil(2 * self.interval_s))
        while not cache.add(f"{self.prefix}:tick:{tick}", 1, timeout=keep):
            tick += 1
        delay = tick * self.interval_s - time.time()
        if delay > 0:
            time.sleep(delay)
