"""The loopback OpenAI-compatible server in its own process, for the call-pipeline benchmarks.

A server thread inside the client's process would share its GIL: the server's CPU would count as
the client's. Here the client process runs nothing but the harness.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [p for p in (str(ROOT), str(ROOT / "tests")) if p not in sys.path]


def _serve(responder: Callable, latency: float, port: int, conn) -> None:
    from openai_server import OpenAIServer

    with OpenAIServer(responder, latency=latency, port=port) as srv:
        conn.send(srv.base_url)
        conn.recv()  # "stop"
        conn.send((srv.calls, time.process_time()))


class Served:
    """The server's address while it runs; once it has stopped, `calls` (requests it answered)
    and `cpu_s` (its process's CPU seconds, all threads)."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.calls: int | None = None
        self.cpu_s: float | None = None


@contextmanager
def served(responder: Callable, latency: float, port: int = 0) -> Iterator[Served]:
    """`port` reuses an earlier server's address: to the harness, whose endpoint identity includes
    the URL, the same endpoint (port 0: any free one)."""
    parent, child = mp.Pipe()
    proc = mp.Process(target=_serve, args=(responder, latency, port, child), daemon=True)
    proc.start()
    server = Served(parent.recv())
    try:
        yield server
    finally:
        parent.send("stop")
        server.calls, server.cpu_s = parent.recv()
        proc.join()


def load() -> str:
    """The 1, 5 and 15 minute load averages, for the printout."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
