"""`ddm-gateway curl`: one AK/SK-signed (or token) request, printed like curl prints it."""
from __future__ import annotations

import argparse
import ssl
import sys
import urllib.error
import urllib.request
from datetime import datetime, timezone
from urllib.parse import urlsplit

from signer import SignableRequest, sign


def build_headers(args: argparse.Namespace, method: str, body: bytes) -> dict[str, str]:
    url = urlsplit(args.url)
    headers: dict[str, str] = {}
    for line in args.header:
        name, sep, value = line.partition(":")
        if not sep:
            raise SystemExit(f"bad header {line!r}: expected 'Name: value'")
        headers[name.strip()] = value.strip()
    if body and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json;charset=UTF-8"
    if args.token:
        headers["X-Auth-Token"] = args.token
        return headers
    if not (args.ak and args.sk):
        raise SystemExit("give --ak and --sk, or --token")
    lowered = {k.lower(): v for k, v in headers.items()}
    lowered["host"] = url.netloc
    request = SignableRequest(method=method, raw_path=url.path or "/", raw_query=url.query,
                              headers=lowered, body=body)
    headers.update(sign(request, args.ak, args.sk, now=datetime.now(timezone.utc),
                        algorithm=args.algorithm, region=args.region, service=args.service))
    return headers


def run_curl(args: argparse.Namespace) -> int:
    body = (args.data or "").encode("utf-8")
    method = (args.method or ("POST" if body else "GET")).upper()
    headers = build_headers(args, method, body)
    request = urllib.request.Request(args.url, data=body or None, method=method, headers=headers)
    context = ssl._create_unverified_context() if args.insecure else None  # noqa: S323 - user asked
    try:
        with urllib.request.urlopen(request, context=context, timeout=60) as response:
            return _print(args, response.status, response.reason, response.headers.items(), response.read())
    except urllib.error.HTTPError as err:
        _print(args, err.code, err.reason, err.headers.items(), err.read())
        return 22 if err.code >= 400 else 0
    except urllib.error.URLError as err:
        print(f"ddm-gateway curl: {err.reason}", file=sys.stderr)
        return 7


def _print(args: argparse.Namespace, status: int, reason: str, headers: object, body: bytes) -> int:
    if args.include:
        print(f"HTTP {status} {reason}")
        for name, value in headers:  # type: ignore[attr-defined]
            print(f"{name}: {value}")
        print()
    sys.stdout.write(body.decode("utf-8", errors="replace"))
    if body and not body.endswith(b"\n"):
        sys.stdout.write("\n")
    return 0
