"""A bare aiohttp pass-through proxy: the reference for what one Python proxy hop costs.

    python -m bench.passthrough --port P --upstream http://127.0.0.1:U [--reuse-port]

No auth, no policy, no limits, no logging: read the request, forward method/path/query/headers/body
over a pooled ClientSession, return status/headers/body. The gateway's throughput is judged
against this (ratios (c)/(b), (d)/(b), (e)/(b) in bench.run). Run several with --reuse-port for
the `--workers 2` variant.
"""
from __future__ import annotations

import argparse
import asyncio
import signal

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

# Hop-by-hop headers plus the ones aiohttp recomputes itself.
DROP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                  "trailer", "transfer-encoding", "upgrade", "host", "content-length"})


def create_app(upstream: str) -> web.Application:
    """One app, one ClientSession (created on startup, closed on cleanup)."""
    app = web.Application()

    async def session_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        app["session"] = ClientSession(upstream, connector=TCPConnector(limit=0),
                                       timeout=ClientTimeout(total=60), auto_decompress=False)
        yield
        await app["session"].close()

    async def forward(request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in DROP}
        body = await request.read()
        async with app["session"].request(request.method, request.rel_url, headers=headers,
                                          data=body or None, allow_redirects=False) as reply:
            payload = await reply.read()
            out = {k: v for k, v in reply.headers.items() if k.lower() not in DROP}
            return web.Response(status=reply.status, headers=out, body=payload)

    app.cleanup_ctx.append(session_ctx)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


async def serve(host: str, port: int, upstream: str, reuse_port: bool) -> None:
    runner = web.AppRunner(create_app(upstream), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_port=reuse_port or None, backlog=1024).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--reuse-port", action="store_true")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.upstream, args.reuse_port))


if __name__ == "__main__":
    main()
