"""What N stalled unauthenticated uploads cost a gateway process: its RSS before and after.

Starts `python -m gateway.cli serve` (the demo config on free ports, the embedded simulator) in a
subprocess, opens N connections that each announce a 12 MB AK/SK-signed body under an access key
that does not exist, send `--send-mb` of it and stall, then reads the process's VmRSS. Memory,
not time, so the figure is stable under load.

    .venv/bin/python -m bench.stalled_bodies [-n 20] [--send-mb 11] [--known] [--max-buffered-mb M]

`--known` signs with the demo user's real AK instead (its bodies are read: what bounds them is
`listen.max_buffered_bytes`, set with `--max-buffered-mb`).

PYTHONPATH picks the code measured (e.g. an unpacked older commit, to compare).
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

from signer import SignableRequest, sign

DEMO = Path(__file__).resolve().parent.parent / "gateway" / "config" / "demo.yaml"
PROJECT = "c5f95126d75f6f4bb9b9ebfa84920da3"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def wait_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gateway did not start")


KNOWN = ("DEMOALICEAK000000001", "demo-alice-secret-key-00000000000000001")
UNKNOWN = ("NOSUCHAK000000000001", "x" * 40)


def stalled_upload(port: int, send_bytes: int, credential: tuple[str, str]) -> socket.socket:
    path = f"/v1/{PROJECT}/instances"
    headers = {"host": f"127.0.0.1:{port}", "content-type": "application/json"}
    body = b" " * (12 * 1024 * 1024)
    added = sign(SignableRequest("POST", path, "", headers, body), *credential, now=datetime.now(timezone.utc))
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in added.items())]
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    sock.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 10
    while sent < send_bytes and time.monotonic() < deadline:   # as much as the server accepts
        try:
            sent += sock.send(body[sent:send_bytes])
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            break   # the server answered and closed: it did not want the body
    return sock


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--send-mb", type=float, default=11.0)
    parser.add_argument("--known", action="store_true")
    parser.add_argument("--max-buffered-mb", type=int)
    args = parser.parse_args()
    port, admin = free_port(), free_port()
    config = yaml.safe_load(DEMO.read_text())
    config["listen"]["port"], config["admin"]["port"] = port, admin
    if args.max_buffered_mb:
        config["listen"]["max_buffered_bytes"] = args.max_buffered_mb * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp:
        config["state_dir"] = tmp
        config["logging"] = {"access_log": False}
        path = Path(tmp) / "gateway.yaml"
        path.write_text(yaml.safe_dump(config))
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
        try:
            wait_port(port)
            time.sleep(1.0)
            before = rss_mb(proc.pid)
            credential = KNOWN if args.known else UNKNOWN
            socks = [stalled_upload(port, int(args.send_mb * 1024 * 1024), credential) for _ in range(args.n)]
            time.sleep(2.0)
            after = rss_mb(proc.pid)
            who = "known" if args.known else "unknown"
            print(f"{args.n} stalled connections ({who} AK), {args.send_mb} MB sent each: "
                  f"RSS {before:.0f} MB -> {after:.0f} MB (+{after - before:.0f} MB)")
            for sock in socks:
                sock.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
