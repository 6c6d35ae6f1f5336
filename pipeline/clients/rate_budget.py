"""A client-side rate budget: at most N requests in any rolling window, and a shared pause after a 429.

Spotify's Web API limits each app over a rolling 30-second window and answers 429 with `Retry-After`
once past it. Staying under a budget avoids most 429s; when one comes anyway, every concurrent
sender waits out the `Retry-After` (not just the request that got it), so a burst of 429s is not
answered with a burst of retries.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

DEFAULT_WINDOW_SECONDS = 30.0


class RateBudget:
    """Admits at most `max_requests` sends per rolling `window` seconds; `pause` holds every sender."""

    def __init__(
        self,
        max_requests: int,
        window: float = DEFAULT_WINDOW_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_requests < 1 or window <= 0:
            raise ValueError("a rate budget needs max_requests >= 1 and a positive window")
        self.max_requests = max_requests
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.waited = 0.0  # seconds spent waiting for the budget (observability and tests)
        self.pauses = 0  # how many 429s paused everyone

    def __repr__(self) -> str:
        return f"RateBudget({self.max_requests} per {self.window:g} s)"

    async def acquire(self) -> None:
        """Wait until one more request fits the budget and no pause is in force, then count it."""
        async with self._lock:  # one waiter at a time: senders are admitted in arrival order
            while True:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.window:
                    self._sent.popleft()
                if now < self._paused_until:
                    delay = self._paused_until - now
                elif len(self._sent) >= self.max_requests:
                    delay = self._sent[0] + self.window - now
                else:
                    self._sent.append(now)
                    return
                self.waited += delay
                await self._sleep(delay)

    def pause(self, seconds: float) -> None:
        """Hold every sender for `seconds` from now (after a 429's `Retry-After`)."""
        self.pauses += 1
        self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))
