"""Reconnect delays: exponential from `initial_ns`, capped at `max_ns`, with jitter so many
clients cut off together do not all come back in the same instant."""
from __future__ import annotations

import random


class Backoff:
    def __init__(self, initial_ns: int, max_ns: int, rng: random.Random | None = None) -> None:
        self.initial_ns = initial_ns
        self.max_ns = max_ns
        self.attempts = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> int:
        """The wait before the next attempt: half to all of the capped exponential."""
        delay = min(self.max_ns, self.initial_ns * 2 ** min(self.attempts, 30))
        self.attempts += 1
        return int(delay * self._rng.uniform(0.5, 1.0))

    def reset(self) -> None:
        """A connection worked: the next failure starts from the initial delay again."""
        self.attempts = 0
