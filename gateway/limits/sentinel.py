"""Redis behind Sentinel: every new connection asks the sentinels where the primary is.

All configured sentinels are asked at once and the first to name a primary wins, so a dead or
silent sentinel costs nothing while another answers. The named node is verified with ROLE in the
connection's handshake (`channel.handshake`): a sentinel that has not yet seen the failover, or
a primary demoted meanwhile, names a replica, and that connection fails instead of serving.

There is no `+switch-master` subscription. The channel looks the primary up again whenever its
connection fails (refused, reset, silent past the deadline, or killed by Sentinel as it demotes
the old primary) or the node answers READONLY, LOADING, MASTERDOWN or NOREPLICAS. What that
cannot see: a primary that still accepts writes after the sentinels replaced it (a partition cut
it off from the sentinels but not from this gateway) keeps getting them until it is demoted,
unless it runs with `min-replicas-to-write`, which makes it answer NOREPLICAS once its replicas
are gone.
"""
from __future__ import annotations

import asyncio
from typing import Any, Sequence

from .channel import RedisChannel
from .model import StoreUnavailable
from .redis_url import RedisAddress, SentinelAddress
from .resp import RespError, encode_command


class SentinelLocator:
    verifies_role = True

    def __init__(self, address: SentinelAddress, *, timeout_s: float) -> None:
        self._primary = address.primary
        self._sentinels = [RedisChannel(sentinel, timeout_s=timeout_s) for sentinel in address.sentinels]
        self._question = encode_command(["SENTINEL", "get-master-addr-by-name", address.service])

    async def locate(self) -> RedisAddress:
        """The primary the first answering sentinel names; StoreUnavailable when none does."""
        pending = {sentinel.call(self._question) for sentinel in self._sentinels}
        problems: set[str] = set()
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for answer in done:
                named = primary_named(answer)
                if isinstance(named, tuple):
                    return self._primary.at(*named)
                problems.add(named)
        raise StoreUnavailable(f"redis: no sentinel named a primary ({', '.join(sorted(problems))})")

    async def close(self) -> None:
        for sentinel in self._sentinels:
            await sentinel.close()


class SentinelChannel(RedisChannel):
    """A channel to the primary that keeps its own connections to the sentinels."""

    def __init__(self, address: SentinelAddress, *, timeout_s: float, greeting: Sequence[bytes] = ()) -> None:
        self._discovery = SentinelLocator(address, timeout_s=timeout_s)
        super().__init__(self._discovery, timeout_s=timeout_s, greeting=greeting)

    async def close(self) -> None:
        await super().close()
        await self._discovery.close()


def primary_named(answer: asyncio.Future[Any]) -> tuple[str, int] | str:
    """(host, port) from a `SENTINEL get-master-addr-by-name` reply, or what went wrong."""
    if answer.exception() is not None:
        return str(answer.exception()).removeprefix("redis: ")
    reply = answer.result()
    if type(reply) is RespError:
        return reply.kind
    if not (isinstance(reply, list) and len(reply) == 2):
        return "unknown service"
    try:
        return reply[0].decode("ascii"), int(reply[1])
    except (AttributeError, UnicodeDecodeError, ValueError):
        return "unreadable answer"
