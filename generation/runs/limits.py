"""Per-generator concurrency and rate limits that hold across workers and runs.

Both live in the shared cache (Redis in production), whose `add` is atomic:
a slot is taken by whoever adds its key first. Keys expire, so a worker that
dies holding a slot gives it back after its lease. The demo's file-based cache has no
atomic `add` across processes, so there the limits are approximate.

On Redis a lane's thread keeps its slot from one call to the next instead of
giving it back and taking it again: two round trips a call were a fifth of a
lane's time against a fast server (bench/generate.py). What keeps that fair:
- a worker that finds every slot taken raises a "wanted" flag, and a holder
  checks it (and renews its lease) once its hold is HOLD_S old, giving the slot
  up when someone waits;
- a slot parked between calls for HOLD_S is given back by the lane
  (`release_idle`), and all of them when the lane ends (`close`);
- a call that must wait (backoff) gives its slot back first.
So at most `concurrency` calls are ever in flight per generator, as before, and
another run on the same generator gets a slot within about HOLD_S.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from generation.models import Generator

logger = logging.getLogger(__name__)

POLL_S = 0.01
HOLD_S = 1.0
WANTED_S = 1  # how long one "wanted" flag lasts; waiters raise it again while they wait
# Deletes the slot only while it still holds our token.
_RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
# 1: the slot is still ours and its lease is renewed. 0: it is not ours any more, or
# someone is waiting for a slot of this generator and it was given up for them.
_KEEP_SCRIPT = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('exists', KEYS[2]) == 1 then
  redis.call('del', KEYS[1])
  return 0
end
redis.call('expire', KEYS[1], ARGV[2])
return 1
"""


@dataclass
class _Hold:
    token: str
    confirmed_at: float  # when Redis last confirmed the hold (taken or kept)
    parked_at: float | None = None  # between two calls: since when


class GeneratorLimits:
    def __init__(self, generator: Generator, *, lease_s: float) -> None:
        self.prefix = f"generator-limits:{generator.pk}"
        self.slots = max(1, generator.concurrency)
        self.interval_s = 60.0 / generator.rate_limit_per_minute if generator.rate_limit_per_minute else 0.0
        # A hold is confirmed every HOLD_S, so its lease must outlast that by far.
        self.lease_s = max(3, math.ceil(lease_s))
        # Each thread tries the slot it last held first: with every slot busy, scanning
        # from 0 would cost a round trip to the cache per slot on every call.
        self._local = threading.local()
        backend = caches["default"]
        self._redis = backend._cache.get_client(write=True) if isinstance(backend, RedisCache) else None
        self._lock = threading.Lock()
        self._held: dict[int, _Hold] = {}  # Redis only: the slots this object's threads hold
        if self._redis is not None:
            # Made once: Django's key checks cost as much as the round trip itself.
            # Not the ":slot:" keys of the cache layer: those hold pickled tokens, and a
            # worker on the older code reading a raw one would fail mid-lane.
            self._slot_keys = [
                backend.make_and_validate_key(f"{self.prefix}:held-slot:{slot}") for slot in range(self.slots)
            ]
            self._wanted_key = backend.make_and_validate_key(f"{self.prefix}:wanted")
            self._release_script = self._redis.register_script(_RELEASE_SCRIPT)
            self._keep_script = self._redis.register_script(_KEEP_SCRIPT)

    def acquire(self, stop: threading.Event | None = None) -> int | None:
        """Wait for the rate limit's next start time, then for one of the generator's
        slots; return the slot, or None once `stop` is set (a cancelled run makes no
        more calls). Rate first: a slot held while waiting for a start time could
        outlive its lease."""
        stop = stop or threading.Event()
        if stop.is_set() or not self._wait_for_rate(stop) or stop.is_set():
            return None
        if self._redis is not None:
            kept = self._keep_held()
            if kept is not None:
                return kept
        token = uuid.uuid4().hex
        start = getattr(self._local, "slot", None)
        if start is None:
            start = threading.get_ident() % self.slots
        flagged_at = 0.0
        while True:
            for offset in range(self.slots):
                slot = (start + offset) % self.slots
                if self._slot_take(slot, token):
                    self._local.slot, self._local.token = slot, token
                    if self._redis is not None:
                        with self._lock:
                            self._held[slot] = _Hold(token, time.monotonic())
                    return slot
            if self._redis is not None and time.monotonic() - flagged_at >= WANTED_S / 2:
                flagged_at = time.monotonic()
                self._redis.set(self._wanted_key, 1, ex=WANTED_S)
            if stop.wait(POLL_S):
                return None

    def release(self, slot: int, *, park: bool = True) -> None:
        """After a call. On Redis the slot stays this thread's for its next call
        (`park`); otherwise it is given back, if it is still ours: after a lease lapsed
        it may be another worker's now. A cache that fails here is only logged; the
        slot lapses with its lease."""
        token: str | None = getattr(self._local, "token", None)
        if token is None:
            return  # this thread never took a slot, so none is ours to give back
        if self._redis is not None:
            with self._lock:
                hold = self._held.get(slot)
                if hold is not None and hold.token == token:
                    # A rate-limited thread's next call waits for its start time first: no
                    # slot is kept idle through that wait.
                    if park and not self.interval_s:
                        hold.parked_at = time.monotonic()
                        return
                    del self._held[slot]
        self._give_back(slot, token)

    def release_idle(self, *, older_than: float = HOLD_S) -> None:
        """Give back the slots parked for `older_than` seconds: their threads have no
        call to make, and another lane may."""
        now = time.monotonic()
        with self._lock:
            idle = [
                (slot, hold)
                for slot, hold in self._held.items()
                if hold.parked_at is not None and now - hold.parked_at >= older_than
            ]
            for slot, _ in idle:
                del self._held[slot]
        for slot, hold in idle:
            self._give_back(slot, hold.token)

    def close(self) -> None:
        """The lane is done: every slot it still holds goes back."""
        with self._lock:
            held, self._held = self._held, {}
        for slot, hold in held.items():
            self._give_back(slot, hold.token)

    def _keep_held(self) -> int | None:
        """The slot this thread parked, if it is still its own (and nobody waits for
        one, once the hold is HOLD_S old); None to compete for a slot as anyone would."""
        slot = getattr(self._local, "slot", None)
        if slot is None:
            return None
        with self._lock:
            hold = self._held.get(slot)
            if hold is None or hold.token != getattr(self._local, "token", None):
                return None  # given back while parked
            hold.parked_at = None
        if time.monotonic() - hold.confirmed_at < HOLD_S:
            return slot
        try:
            kept = self._keep_script(keys=[self._slot_keys[slot], self._wanted_key], args=[hold.token, self.lease_s])
        except Exception:
            self._forget(slot, hold)
            raise
        if kept == 1:
            hold.confirmed_at = time.monotonic()
            return slot
        self._forget(slot, hold)
        # Given up for a waiter: let it in before competing again.
        time.sleep(2 * POLL_S)
        return None

    def _forget(self, slot: int, hold: _Hold) -> None:
        # Only this hold: a sibling thread may have taken the same slot number since.
        with self._lock:
            if self._held.get(slot) is hold:
                del self._held[slot]

    def _give_back(self, slot: int, token: str) -> None:
        try:
            if self._redis is not None:
                self._release_script(keys=[self._slot_keys[slot]], args=[token])
                return
            key = f"{self.prefix}:slot:{slot}"
            if cache.get(key) == token:
                cache.delete(key)
        except Exception as error:  # noqa: BLE001
            logger.warning("could not give back slot %s of %s: %s", slot, self.prefix, error)

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
        while not cache.add(
            f"{self.prefix}:tick:{tick}", 1, timeout=math.ceil(tick * self.interval_s - time.time() + keep)
        ):
            tick += 1
        delay = tick * self.interval_s - time.time()
        return not (delay > 0 and stop.wait(delay))


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """Exponential from GENERATION_BACKOFF_BASE_S, capped at GENERATION_BACKOFF_CAP_S,
    with jitter so a burst of 429s does not come back in step. A server's
    Retry-After is honoured up to the cap."""
    cap = settings.GENERATION_BACKOFF_CAP_S
    delay = min(cap, settings.GENERATION_BACKOFF_BASE_S * 2 ** (attempt - 1))
    delay *= random.uniform(0.75, 1.25)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return min(delay, cap)
