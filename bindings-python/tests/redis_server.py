"""A redis-server of one's own, for the distributed breaker's tests and
benchmark: a free loopback port, persistence off, ready once it answers
PING, killed when done."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from typing import Iterator


class Missing(RuntimeError):
    """redis-server is not installed."""


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running() -> Iterator[str]:
    """Starts a redis-server and yields its URL; kills it on exit."""
    binary = shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/local/bin/redis-server") if os.path.exists(p)),
        None,
    )
    if binary is None:
        raise Missing(
            "the distributed breaker needs a real Redis server and `redis-server` is not "
            "installed: install it with `apt-get install redis-server`"
        )
    for _ in range(5):
        port = _free_port()
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while proc.poll() is None and not _pings(port) and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.poll() is None and _pings(port):
            break
        # The port was taken in between, or the server is stuck: try another.
        proc.kill()
        proc.wait()
    else:
        raise RuntimeError("redis-server never answered PING on a free loopback port")
    try:
        yield f"redis://127.0.0.1:{port}/"
    finally:
        proc.kill()
        proc.wait()
