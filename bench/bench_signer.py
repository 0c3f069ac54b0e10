"""Verifications per second for a typical DDM request, per algorithm, on one core.

Run from the repo root: `python -m bench.bench_signer [seconds-per-algorithm]`. Goal: >= 30,000/s
for SDK-HMAC-SHA256. Each iteration parses the Authorization header and verifies, as the gateway
does per request.
"""
from __future__ import annotations

import sys
import time
from datetime import datetime, timezone

from signer import ALGORITHMS, DerivedKeyCache, SignableRequest, parse_authorization, sign, verify

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=timezone.utc)
AK, SK = "HPUAXXXXXXXXXXXXXXX1", "s3cr3tSKs3cr3tSKs3cr3tSKs3cr3tSKs3cr3tSK"
PROJECT = "0123456789abcdef0123456789abcdef"


def typical_request(algorithm: str) -> SignableRequest:
    """GET /v1/<project>/instances?offset=0&limit=10 with the headers the Python SDK sends."""
    req = SignableRequest("GET", f"/v1/{PROJECT}/instances", "limit=10&offset=0", {
        "host": "ddm.cn-north-4.myhuaweicloud.com", "content-type": "application/json",
        "user-agent": "huaweicloud-usdk-python/3.0", "x-project-id": PROJECT,
    }, b"")
    added = sign(req, AK, SK, now=NOW, algorithm=algorithm, region="cn-north-4", service="ddm")
    unsigned = {"accept": "*/*", "accept-encoding": "gzip, deflate", "connection": "keep-alive"}
    return req._replace(headers={**req.headers, **unsigned, **{k.lower(): v for k, v in added.items()}})


def rate(algorithm: str, seconds: float) -> float:
    req = typical_request(algorithm)
    cache = DerivedKeyCache()
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            verify(req, parse_authorization(req.headers["authorization"]), SK, now=NOW, key_cache=cache)
        count += 100
    return count / (time.perf_counter() - started)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    for algorithm in sorted(ALGORITHMS):
        print(f"{algorithm:24s} {rate(algorithm, seconds):>10,.0f} verifications/s")


if __name__ == "__main__":
    main()
