"""Per-generator concurrency and rate limits that hold across workers and runs.

Both live in the shared cache (Redis in production), whose `add` is atomic:
a slot is taken by whoever adds its key first. Keys expire, so a worker that
dies holding a slot gives it back after its lease. The demo's file-based cache has no
atomic `add` across processes, so there the limits are approximate.

Every call takes and gives back a slot, so on Redis the give-back is one
compare-and-delete script rather than a read and a delete: a round trip per call
is a visible share of a fast server's time (bench/generate.py).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from generation.models import Generator

logger = logging.getLogger(__name__)

POLL_S = 0.01
# Deletes the slot only while it still holds our token.
_RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class GeneratorLimits:
    def __init__(self, generator: Generator, *, lease_s: float) -> None:
        self.prefix = f"generator-limits:{generator.pk}"
        self.slots = max(1, generator.concurrency)
        self.interval_s = 60.0 / generator.rate_limit_per_minute if generator.rate_limit_per_minute else 0.0
        self.lease_s = max(1, math.ceil(lease_s))
        # Each thread tries the slot it last held first: with every slot busy, scanning
        # from 0 would cost a round trip to the cache per slot on every call.
        self._last = threading.local()
        backend = caches["default"]
        # On Redis the slots are taken and given back on the client itself: Django's
        # cache layer (key checks, pickling) costs as much as the round trip.
        self._redis = backend._cache.get_client(write=True) if isinstance(backend, RedisCache) else None
        if self._redis is not None:
            self._slot_keys = [backend.make_and_validate_key(f"{self.prefix}:slot:{slot}")
                               for slot in range(self.slots)]
            self._release_script = self._redis.register_script(_RELEASE_SCRIPT)

    def acquire(self, stop: threading.Event | None = None) -> int | None:
        """Wait for the rate limit's next start time, then for one of the generator's
        slots; return the slot, or None once `stop` is set (a cancelled run makes no
        more calls). Rate first: a slot held while waiting for a start time could
        outlive its lease."""
        stop = stop or threading.Event()
        if not self._wait_for_rate(stop):
            return None
        token = uuid.uuid4().hex
        start = getattr(self._last, "slot", None)
        if start is None:
            start = threading.get_ident() % self.slots
        while True:
            for offset in range(self.slots):
                slot = (start + offset) % self.slots
                if self._slot_take(slot, token):
                    self._last.slot, self._last.token = slot, token
                    return slot
            if stop.wait(POLL_S):
                return None

    def release(self, slot: int) -> None:
        """Give the slot back, if it is still ours: after a lease lapsed it may be another
        worker's now. A cache that fails here is only logged; the slot lapses with its lease."""
        try:
            self._release(slot)
        except Exception as error:  # noqa: BLE001
            logger.warning("could not give back slot %s of %s: %s", slot, self.prefix, error)

    def _release(self, slot: int) -> None:
        token = getattr(self._last, "token", None)
        if self._redis is not None:
            self._release_script(keys=[self._slot_keys[slot]], args=[token])
            return
        key = f"{self.prefix}:slot:{slot}"
        if cache.get(key) == token:
            cache.delete(key)

    def _slot_take(self, slot: int, token: str) -> bool:
        if self._redis is not None:
            return bool(self._redis.set(self._slot_keys[slot], token, nx=True, ex=self.lease_s))
        return cache.add(f"{self.prefix}:slot:{slot}", token, timeout=self.lease_s)

    def _wait_for_rate(self, stop: threading.Event) -> bool:
        """Claim the next free start time on the generator's grid of `interval_s` and wait
        for it; False when `stop` was set meanwhile (the claimed start time goes unused)."""
        if not self.interval_s:
            return True
        tick = math.ceil(time.time() / self.interval_s)
        keep = max(2.0, 2 * self.interval_s)
        # Each claim lives until well after its own start time, however far ahead it is,
        # so a start time is never handed out twice.
        while not cache.add(f"{self.prefix}:tick:{tick}", 1,
                            timeout=math.ceil(tick * self.interval_s - time.time() + keep)):
            tick += 1
        delay = tick * self.interval_s - time.time()
        return not (delay > 0 and stop.wait(delay))
