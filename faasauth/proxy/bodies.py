"""A caller's request body as an httpx stream, read from the connection as it is sent:
`Content-Length` bytes, or `Transfer-Encoding: chunked` decoded. Nothing is held whole."""

from __future__ import annotations

from typing import Any, Iterator

import httpx

CHUNK = 64 * 1024
MAX_HEADER_LINE = 64 * 1024


class ContentLengthBody(httpx.SyncByteStream):
    """Exactly `length` bytes of the caller's body, read as they are sent."""

    def __init__(self, rfile: Any, length: int) -> None:
        self.rfile, self.left = rfile, length

    def __iter__(self) -> Iterator[bytes]:
        while self.left > 0:
            chunk = self.rfile.read1(min(self.left, CHUNK)) if hasattr(self.rfile, "read1") \
                else self.rfile.read(min(self.left, CHUNK))
            if not chunk:
                raise ConnectionError("the caller closed the connection mid-body")
            self.left -= len(chunk)
            yield chunk


class ChunkedBody(httpx.SyncByteStream):
    """A `Transfer-Encoding: chunked` body, decoded as it arrives."""

    def __init__(self, rfile: Any) -> None:
        self.rfile, self.done = rfile, False

    def __iter__(self) -> Iterator[bytes]:
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
