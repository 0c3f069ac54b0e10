"""A circuit breaker over plain state and an injected `now`.

After a failure the breaker opens: nobody waits on the dead dependency for `open_s` seconds.
Then exactly one call is let through (half-open); its success closes the breaker, its failure
opens it again. A probe that ends without a verdict (cancelled) frees the slot for the next one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class CircuitBreaker:
    open_s: float
    opened_at: float = -math.inf
    is_open: bool = False
    probing: bool = False

    def allow(self, now: float) -> bool:
        """May this call go to the dependency? Claims the half-open probe when it is due."""
        if not self.is_open:
            return True
        if self.probing or now - self.opened_at < self.open_s:
            return False
        self.probing = True
        return True

    def succeeded(self) -> None:
        self.is_open = False
        self.probing = False

    def failed(self, now: float) -> None:
        self.is_open = True
        self.opened_at = now
        self.probing = False

    def abandoned(self) -> None:
        self.probing = False
