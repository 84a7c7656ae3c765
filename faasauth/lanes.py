"""Connections for many threads at once: one small httpx transport per call in flight.

httpx's connection pool (httpcore's) takes one lock for every request and every answer's
close, and under it scans all its connections and waiting requests. `faasauth proxy` serves
each caller from a thread of its own: with 64 callers, more than half of its time went to
waiting on that one lock (a profile under benchmarks/bench_proxy.py's load), and calls
queued behind it. `Lanes` gives each call in flight a transport of its own, with one kept
connection, taken from a free list and given back when the answer is closed: the calls
share no lock but the free list's, held for a pop or an append.

    Lanes(lambda: httpx.HTTPTransport(limits=httpx.Limits(max_connections=1, ...)), keep=64)

The most recently used lane is taken first (its connection is the warmest); at most `keep`
idle lanes are kept, the others are closed as they come back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import httpx


class _GivenBack(httpx.SyncByteStream):
    """An answer's body that hands its lane back once it is closed (read to its end or not)."""

    def __init__(self, stream: httpx.SyncByteStream, give_back: Callable[[], None]) -> None:
        self._stream = stream
        self._give_back: Callable[[], None] | None = give_back

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            give_back, self._give_back = self._give_back, None
            if give_back is not None:
                give_back()


class Lanes(httpx.BaseTransport):
    def __init__(self, make: Callable[[], httpx.BaseTransport], keep: int) -> None:
        self._make = make
        self._keep = keep
        self._free: list[httpx.BaseTransport] = []
        self._lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            lane = self._free.pop() if self._free else None
        if lane is None:
            lane = self._make()
        try:
            response = lane.handle_request(request)
        except BaseException:
            self._give_back(lane)
            raise
        if isinstance(response.stream, httpx.SyncByteStream):
            response.stream = _GivenBack(response.stream, lambda: self._give_back(lane))
        else:  # not a transport's answer (no connection to hold): the lane is free now
            self._give_back(lane)
        return response

    def _give_back(self, lane: httpx.BaseTransport) -> None:
        with self._lock:
            if not self._closed and len(self._free) < self._keep:
                self._free.append(lane)
                return
        lane.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            free, self._free = self._free, []
        for lane in free:
            lane.close()
