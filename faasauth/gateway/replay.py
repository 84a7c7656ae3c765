"""Request bodies that can be sent a second time, byte for byte (after a challenge).

    Replayable   a stream that knows how to replay itself (the CLI's stdin body:
                 a regular file seeks back, a pipe replays its spool)
    Tee          any other stream: every chunk is also written to a spooled temporary
                 file (memory up to 1 MiB, then an unlinked 0600 file); the replay drains
                 what the first request did not read, then sends the spool
"""

from __future__ import annotations

from typing import TYPE_CHECKING, AsyncIterator, Iterator, Union

import httpx

if TYPE_CHECKING:
    from tempfile import SpooledTemporaryFile

CHUNK_SIZE = 256 * 1024
MEMORY_LIMIT = 1024 * 1024

AnyStream = Union[httpx.SyncByteStream, httpx.AsyncByteStream]


class Replayable(httpx.SyncByteStream):
    """A request stream that can give its bytes again."""

    def keep_copy(self, *, likely: bool = True) -> None:
        """Called before the first send when a second one may follow: `likely` for a probe
        (a challenge is expected), not for a cached token (its refusal is rare)."""

    def again(self) -> tuple[httpx.SyncByteStream | httpx.AsyncByteStream, int | None]:
        """A stream of exactly the same bytes, and its length when known."""
        raise NotImplementedError


class Tee(httpx.SyncByteStream, httpx.AsyncByteStream):
    """Pass a stream through, keeping a copy for `again()`."""

    def __init__(self, source: object, *, tempdir: str | None = None) -> None:
        import tempfile

        self._source = source
        # Rolls over to tempfile.TemporaryFile: mode 0600, unlinked at once on POSIX.
        self._spool: SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(
            max_size=MEMORY_LIMIT, dir=tempdir
        )
        self._size = 0
        self._sync: Iterator[bytes] | None = None
        self._async: AsyncIterator[bytes] | None = None

    def _keep(self, chunk: bytes) -> bytes:
        self._spool.write(chunk)
        self._size += len(chunk)
        return chunk

    def _tee(self) -> Iterator[bytes]:
        assert isinstance(self._source, httpx.SyncByteStream)
        for chunk in self._source:
            yield self._keep(chunk)

    async def _atee(self) -> AsyncIterator[bytes]:
        assert isinstance(self._source, httpx.AsyncByteStream)
        async for chunk in self._source:
            yield self._keep(chunk)

    def __iter__(self) -> Iterator[bytes]:
        if self._sync is None:
            self._sync = self._tee()
        yield from self._sync

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._async is None:
            self._async = self._atee()
        async for chunk in self._async:
            yield chunk

    def again(self) -> tuple[httpx.SyncByteStream | httpx.AsyncByteStream, int | None]:
        if self._sync is not None:  # the part the first request did not read
            for _ in self._sync:
                pass
        if self._async is not None:
            return _AsyncSpool(self), None
        return _Spool(self), self._size

    def chunks(self) -> Iterator[bytes]:
        spool, left = self._spool, self._size
        spool.seek(0)
        while left > 0:
            data = spool.read(min(CHUNK_SIZE, left))
            if not data:
                break
            left -= len(data)
            yield data

    def close(self) -> None:
        self._spool.close()

    async def aclose(self) -> None:
        self._spool.close()


class _Spool(httpx.SyncByteStream):
    def __init__(self, tee: Tee) -> None:
        self._tee = tee

    def __iter__(self) -> Iterator[bytes]:
        yield from self._tee.chunks()

    def close(self) -> None:
        self._tee.close()


class _AsyncSpool(httpx.AsyncByteStream):
    """The async replay: drain the rest of the source first, then the spool."""

    def __init__(self, tee: Tee) -> None:
        self._tee = tee

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert self._tee._async is not None
        async for _ in self._tee._async:
            pass
        for chunk in self._tee.chunks():
            yield chunk

    async def aclose(self) -> None:
        self._tee.close()
