"""A caller's request body as an httpx stream, read from the connection as it is sent:
`Content-Length` bytes, or `Transfer-Encoding: chunked` decoded. Nothing is held whole.

A body may have to go to the gateway twice: after a probe's challenge (a function not yet
known to need a token) or when the function refuses a cached token. The caller cannot be
asked for it again, so a copy is kept, by what FunctionAuth says of the second request:

    likely    (a probe)         all of it: up to MEMORY_COPY in memory, the rest in an
                                unlinked 0600 spool file (faasauth.gateway.spool), written by
                                its own thread; once per function, as the proxy remembers it
    unlikely  (a cached token)  up to MEMORY_COPY in memory; a larger body goes through with
                                no copy at all: writing a gigabyte to disk would cut the
                                proxy's throughput to the disk's. Should the token then be
                                refused, the caller is answered 503 saying a new token is
                                ready and to send the call again

The retry sends the copy, then whatever of the body the first request did not read, as it
arrives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import httpx

from faasauth.errors import TransientFailure
from faasauth.gateway.replay import Replayable

if TYPE_CHECKING:
    from faasauth.gateway.spool import Spool

CHUNK = 1024 * 1024  # as faasauth.gateway.body: a gigabyte is a thousand trips, not 16000
MAX_HEADER_LINE = 64 * 1024
MEMORY_COPY = 1024 * 1024


class BodyNotKept(TransientFailure):
    """The function refused a cached token after more of a large body than the proxy keeps
    had gone: the call cannot be replayed; the caller is told to send it again."""


class CallerBody(Replayable):
    """The caller's body, read once; `again()` gives the same bytes once more."""

    def __init__(self) -> None:
        self._mode: str | None = None  # None: no copy; "all"; "some" (MEMORY_COPY at most)
        self._memory: list[bytes] = []
        self._kept = 0
        self._spool: Spool | None = None
        self._dropped = False
        self._source: Iterator[bytes] | None = None

    def keep_copy(self, *, likely: bool = True) -> None:
        self._mode = "all" if likely else "some"

    def _chunks(self) -> Iterator[bytes]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[bytes]:
        if self._source is not None:  # sent again as it is: only a redirect would (never here)
            raise BodyNotKept("the request body was already sent")
        self._source = self._chunks()
        for chunk in self._source:
            if self._mode is not None:
                self._keep(chunk)
            yield chunk

    def _keep(self, chunk: bytes) -> None:
        if self._dropped:
            return
        if self._spool is not None:
            self._spool.write(chunk)
        elif self._kept + len(chunk) <= MEMORY_COPY:
            self._memory.append(chunk)
            self._kept += len(chunk)
        elif self._mode == "some":
            self._dropped, self._memory = True, []
        else:
            from faasauth.gateway.spool import Spool

            self._spool = Spool(None)
            for part in self._memory:
                self._spool.write(part)
            self._memory = []
            self._spool.write(chunk)

    def again(self) -> tuple[httpx.SyncByteStream, int | None]:
        if self._dropped or self._mode is None:
            raise BodyNotKept(
                "the function refused the cached token after more of the body than the "
                f"proxy keeps ({MEMORY_COPY // 1024} KiB) had been sent; a new token is "
                "ready: send the call again"
            )
        return _Again(self), None

    def replay(self) -> Iterator[bytes]:
        if self._spool is not None:
            self._spool.finish()
            yield from self._spool.chunks(CHUNK)
        else:
            yield from self._memory
        # What the first request did not read, as it arrives (a fresh reader if it read none).
        yield from self._source if self._source is not None else self._chunks()

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self._memory = []


class _Again(httpx.SyncByteStream):
    def __init__(self, body: CallerBody) -> None:
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body.replay()
        finally:
            self._body.close()


class ContentLengthBody(CallerBody):
    """Exactly `length` bytes of the caller's body, read as they are sent."""

    def __init__(self, rfile: Any, length: int) -> None:
        super().__init__()
        self.rfile, self.left = rfile, length

    def _chunks(self) -> Iterator[bytes]:
        while self.left > 0:
            chunk = self.rfile.read1(min(self.left, CHUNK)) if hasattr(self.rfile, "read1") \
                else self.rfile.read(min(self.left, CHUNK))
            if not chunk:
                raise ConnectionError("the caller closed the connection mid-body")
            self.left -= len(chunk)
            yield chunk


class ChunkedBody(CallerBody):
    """A `Transfer-Encoding: chunked` body, decoded as it arrives."""

    def __init__(self, rfile: Any) -> None:
        super().__init__()
        self.rfile, self.done = rfile, False

    def _chunks(self) -> Iterator[bytes]:
        while not self.done:
            line = self.rfile.readline(MAX_HEADER_LINE)
            if not line.endswith(b"\n"):
                raise ConnectionError("a malformed chunk in the caller's body")
            size = int(line.split(b";", 1)[0].strip() or b"x", 16)
            if size == 0:
                while self.rfile.readline(MAX_HEADER_LINE).strip():  # trailers
                    pass
                self.done = True
                return
            left = size
            while left:
                chunk = self.rfile.read(min(left, CHUNK))
                if not chunk:
                    raise ConnectionError("the caller closed the connection mid-body")
                left -= len(chunk)
                yield chunk
            self.rfile.readline(MAX_HEADER_LINE)
