"""Password checks off the event loop: scrypt takes tens of milliseconds by design, and on the
loop it would stall every other request for that long.

hashlib's scrypt releases the GIL, so a small thread pool runs checks in parallel with the loop;
the queue in front of it is bounded, so a login flood is refused (503) instead of queueing
without end. (gateway/passwords.py stays pure: no asyncio there.)
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from ..passwords import check_password


class PasswordsBusy(Exception):
    """More password checks are waiting than the checker accepts: answer 503, do not queue."""


class PasswordChecker:
    """`check_password` off the event loop, `workers` at a time, at most `max_pending` waiting.
    Owned by the app (built in build_services, closed at cleanup)."""

    def __init__(self, *, workers: int = 2, max_pending: int = 32) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scrypt")
        self._max_pending = max_pending
        self._pending = 0

    async def check(self, candidate: str, *, encoded: str | None, plaintext: str | None) -> bool:
        if self._pending >= self._max_pending:
            raise PasswordsBusy()
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, lambda: check_password(candidate, encoded=encoded, plaintext=plaintext))
        finally:
            self._pending -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
