"""Reconnect delays: exponential backoff with full jitter, reset after a stable connection, optional give-up."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class BackoffPolicy:
    """Delay before attempt ``n`` (1-based) is uniform in ``[0, min(cap, base * 2**(n-1))]`` ("full jitter").

    ``max_attempts``/``give_up_after`` (seconds since the first failure) end the loop in ``offline``; None means
    retry forever. A connection that stayed up ``stable_after`` seconds resets the attempt count.
    """

    base: float = 0.5
    cap: float = 10.0
    max_attempts: int | None = None
    give_up_after: float | None = None
    stable_after: float = 10.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return (rng or random).uniform(0, ceiling)

    def gives_up(self, attempt: int, failing_for: float) -> bool:
        if self.max_attempts is not None and attempt > self.max_attempts:
            return True
        return self.give_up_after is not None and failing_for >= self.give_up_after
