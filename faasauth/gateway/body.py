"""The request body: standard input, streamed, never held whole in memory.

A body may have to be sent twice (a probe answered with a challenge, a cached token the
function refused), and the second request must carry exactly the same bytes. How that is
done depends on what stdin is:

    regular file  (`< big.bin`)   known length; replayed by seeking back: no copy at all
    small input   (<= 1 MiB)      read whole into memory first; known length
    larger pipe                   streamed (chunked); when a replay may follow, every chunk is
                                  also handed to a `Spool` (faasauth/spool.py): an unlinked
                                  0600 file in the temp dir, written by a thread while the
                                  chunk goes on the wire; the replay drains what the first
                                  request did not read, then sends the spool with its now
                                  known length

Chunks are 1 MiB, and a pipe on stdin is asked to hold that much (F_SETPIPE_SZ), so a
gigabyte is about a thousand trips through httpx, not sixteen thousand. Measured in
benchmarks/bench_body.py: writing the copy inline, in the sending thread, cost more than
the upload itself on an ext4 temp dir; in its own thread, with O_DIRECT where the file
system takes it (and read back the same way, a thread ahead of the sender), it overlaps
the upload and leaves no gigabyte of page cache behind.

`load()` reads everything up front instead, for a signature (HMAC) that must be sent in a
header before the body. `BodyStream(body)` is the body as an httpx request stream that
faasauth.gateway.function_auth replays after a challenge.
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, BinaryIO, Callable, Iterator, Union

import httpx

from faasauth.errors import UsageFailure
from faasauth.gateway.replay import Replayable

if TYPE_CHECKING:
    from faasauth.gateway.spool import Spool

CHUNK_SIZE = 1024 * 1024
MEMORY_LIMIT = 1024 * 1024
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ on Linux (the constant is in fcntl from 3.10)

Content = Union[bytes, Iterator[bytes]]


@dataclass
class Payload:
    """What to send: the content, and its length when known (else chunked encoding)."""

    content: Content
    length: int | None


def _unreadable(exc: OSError) -> UsageFailure:
    return UsageFailure(f"cannot read standard input: {exc.strerror or type(exc).__name__}")


class RequestBody:
    """The body read from `stream` (None: no input at all, an empty body)."""

    def __init__(
        self,
        stream: BinaryIO | None,
        *,
        chunk_size: int = CHUNK_SIZE,
        memory_limit: int = MEMORY_LIMIT,
        tempdir: str | None = None,
    ) -> None:
        self._stream = stream
        self._chunk_size = chunk_size
        self._memory_limit = memory_limit
        self._tempdir = tempdir
        self._data: bytes | None = None  # the whole body, when small
        self._region: tuple[int, int] | None = None  # (offset, length) in a regular file
        self._head = b""  # read ahead from a larger pipe, not yet sent or spooled
        self._spool: Spool | None = None
        self._exhausted = False  # the stream has reached its end
        self._started = False
        self._inspected = False  # stdin is looked at only when the body is first needed

    # -- what the input is ---------------------------------------------------------------

    def _inspect(self) -> None:
        if self._inspected:
            return
        self._inspected = True
        if self._stream is None:
            self._data = b""
            return
        region = self._file_region()
        if region is not None:
            self._region = region
            return
        self._widen_pipe()
        head = self._read_exactly(self._memory_limit + 1)
        if len(head) <= self._memory_limit:
            self._data, self._exhausted = head, True
        else:
            self._head = head

    def _file_region(self) -> tuple[int, int] | None:
        assert self._stream is not None
        try:
            mode = os.fstat(self._stream.fileno()).st_mode
            if not stat.S_ISREG(mode):
                return None
            offset = self._stream.tell()
            size = os.fstat(self._stream.fileno()).st_size
        except (OSError, ValueError, io.UnsupportedOperation):
            return None  # not a file descriptor (a test's BytesIO), or not seekable
        return offset, max(size - offset, 0)

    def _widen_pipe(self) -> None:
        """Ask a pipe on stdin to hold a whole chunk, so that one read returns up to a chunk
        (a Linux pipe holds 64 KiB by default). Best effort: the limit is
        /proc/sys/fs/pipe-max-size (1 MiB unless changed), and other systems have no such call."""
        assert self._stream is not None
        try:
            fd = self._stream.fileno()
            if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                return
            import fcntl

            fcntl.fcntl(fd, F_SETPIPE_SZ, self._chunk_size)
        except (OSError, ValueError, io.UnsupportedOperation):
            pass

    def _read(self, size: int) -> bytes:
        assert self._stream is not None
        try:
            read1 = getattr(self._stream, "read1", None)
            data = read1(size) if read1 is not None else self._stream.read(size)
        except OSError as exc:
            raise _unreadable(exc) from exc
        if not data:
            self._exhausted = True
        return data or b""

    def _read_exactly(self, size: int) -> bytes:
        parts, total = [], 0
        while total < size:
            data = self._read(min(self._chunk_size, size - total))
            if not data:
                break
            parts.append(data)
            total += len(data)
        return b"".join(parts)

    def _rest(self) -> Iterator[bytes]:
        while not self._exhausted:
            data = self._read(self._chunk_size)
            if data:
                yield data

    @property
    def length(self) -> int | None:
        """The size in bytes, when known without reading the whole stream."""
        self._inspect()
        if self._data is not None:
            return len(self._data)
        if self._region is not None:
            return self._region[1]
        if self._spool is not None and self._exhausted and not self._head:
            return self._spool.size
        return None

    # -- sending -------------------------------------------------------------------------

    def load(self, observe: Callable[[bytes], object] | None = None) -> int:
        """Read the whole body now (keeping a copy), showing each chunk to `observe`.

        Returns the length. For a signature over the body, which must be known before the
        first byte of it is sent. Call it before `first()`.
        """
        if self._started:
            raise RuntimeError("load() after the body was sent")
        self._inspect()
        if self._data is not None:
            chunks: Iterator[bytes] = iter([self._data])
        elif self._region is not None:
            chunks = self._file_chunks()
        else:
            self._spool = self._new_spool()
            chunks = self._fill_spool()
        length = 0
        for chunk in chunks:
            length += len(chunk)
            if observe is not None:
                observe(chunk)
        return length

    def first(self, *, keep_copy: bool) -> Payload:
        """The payload for the first request; `keep_copy` when `again()` may follow."""
        if self._started:
            raise RuntimeError("first() called twice")
        self._started = True
        self._inspect()
        if self._data is not None:
            return Payload(self._data, len(self._data))
        if self._region is not None:
            return Payload(self._file_chunks(), self._region[1])
        if self._spool is not None:  # load()ed
            self._spool.finish()
            return Payload(self._spool.chunks(self._chunk_size), self._spool.size)
        if keep_copy:
            self._spool = self._new_spool()
            return Payload(self._tee(), None)
        return Payload(self._once(), None)

    def again(self) -> Payload:
        """Exactly the bytes of the first payload, once more."""
        if not self._started:
            raise RuntimeError("again() before first()")
        if self._data is not None:
            return Payload(self._data, len(self._data))
        if self._region is not None:
            return Payload(self._file_chunks(), self._region[1])
        if self._spool is None:
            raise RuntimeError("the request body was sent without keeping a copy")
        for _ in self._fill_spool():
            pass
        self._spool.finish()
        return Payload(self._spool.chunks(self._chunk_size), self._spool.size)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()  # the file on disk, if any, was unlinked when created
            self._spool = None

    def __enter__(self) -> RequestBody:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the sources ---------------------------------------------------------------------

    def _new_spool(self) -> Spool:
        from faasauth.gateway.spool import Spool

        # Where TMPDIR says, or an error naming it: tempfile would quietly try /tmp instead,
        # and a copy of a large body must not land where the user did not want it.
        return Spool(self._tempdir or os.environ.get("TMPDIR") or None)

    def _fill_spool(self) -> Iterator[bytes]:
        """Complete the spool (the head not yet sent, then the rest of the stream),
        yielding what it adds."""
        assert self._spool is not None
        if self._head:
            head, self._head = self._head, b""
            self._spool.write(head)
            yield head
        for data in self._rest():
            self._spool.write(data)
            yield data

    def _once(self) -> Iterator[bytes]:
        head, self._head = self._head, b""
        yield head
        yield from self._rest()

    def _tee(self) -> Iterator[bytes]:
        # Each chunk is handed to the spool before it is handed on, so wherever the sender
        # stops reading, spool + unread stream == the body.
        return self._fill_spool()

    def _file_chunks(self) -> Iterator[bytes]:
        assert self._stream is not None and self._region is not None
        offset, left = self._region
        stream: IO[bytes] = self._stream
        try:
            stream.seek(offset)
            while left > 0:
                data = stream.read(min(self._chunk_size, left))
                if not data:
                    break  # the file shrank: the HTTP layer reports the short body
                left -= len(data)
                yield data
        except OSError as exc:
            raise _unreadable(exc) from exc


class Activity:
    """Whether a call is still sending (or fetching a token), or since when it waits for
    the answer: the function call's wait for headers is bounded, its upload is not."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._busy = 0
        self._since = clock()

    def begin(self) -> None:
        self._busy += 1

    def end(self) -> None:
        self._busy -= 1
        self._since = self._clock()

    def waiting_for(self) -> float:
        """Seconds spent waiting for the other side (0 while sending)."""
        return 0.0 if self._busy else self._clock() - self._since


class BodyStream(Replayable):
    """`body` as an httpx request stream that replays itself after a challenge."""

    def __init__(self, body: RequestBody, activity: Activity | None = None) -> None:
        self._body = body
        self._activity = activity
        self._keep = False
        self._started = False

    def keep_copy(self, *, likely: bool = True) -> None:
        self._keep = True  # whatever the odds: a pipe's copy is a threaded spool, cheap

    def __iter__(self) -> Iterator[bytes]:
        if self._started:
            # httpx sends the same stream again only when following a 307 or 308 redirect
            # (a challenge's retry asks again() for a stream of its own).
            yield from _sending(self._activity, self._replay_for_redirect())
            return
        self._started = True
        yield from _sending(self._activity, self._body.first(keep_copy=self._keep))

    def _replay_for_redirect(self) -> Payload:
        try:
            return self._body.again()
        except RuntimeError:  # a pipe sent without keeping a copy
            from faasauth.errors import FunctionFailed

            raise FunctionFailed(
                "cannot follow a 307/308 redirect: it needs the body again, and the body "
                "read from a pipe was sent without keeping a copy",
                hint="give the body as a file (< FILE), which can be sent again, or call the "
                "URL the gateway redirects to",
            ) from None

    def again(self) -> tuple[httpx.SyncByteStream, int | None]:
        payload = self._body.again()
        return _PayloadStream(payload, self._activity), payload.length


class _PayloadStream(httpx.SyncByteStream):
    def __init__(self, payload: Payload, activity: Activity | None) -> None:
        self._payload = payload
        self._activity = activity

    def __iter__(self) -> Iterator[bytes]:
        yield from _sending(self._activity, self._payload)


def _sending(activity: Activity | None, payload: Payload) -> Iterator[bytes]:
    if activity is None:
        yield from _chunks(payload)
        return
    activity.begin()
    try:
        yield from _chunks(payload)
    finally:
        activity.end()


def _chunks(payload: Payload) -> Iterator[bytes]:
    if isinstance(payload.content, bytes):
        if payload.content:
            yield payload.content
    else:
        yield from payload.content
