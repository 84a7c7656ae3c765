"""The copy of a piped request body, kept in case it must be sent again.

An unlinked 0600 file in the temp dir, written by its own thread while the body goes on
the wire (at most SPOOL_BACKLOG bytes wait for it), with O_DIRECT where the file system
takes it, and read back the same way by a thread that stays ahead of the sender. Used by
faasauth/request_body.py; measured in benchmarks/bench_body.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING

from faasauth.errors import UsageFailure

if TYPE_CHECKING:
    import threading
    from collections import deque

SPOOL_BACKLOG = 8 * 1024 * 1024  # bytes read but not yet in the spool file, at most
DIRECT_BUFFER = 4 * 1024 * 1024  # the spool's aligned buffer for O_DIRECT writes
DIRECT_ALIGN = 4096
READ_AHEAD = 64 * 1024 * 1024  # of the spool, when it is sent again


class Spool:
    """The copy of a piped body: an unlinked 0600 file in `tempdir` (None: the default).

    `write` queues a chunk for a writer thread and returns at once, unless SPOOL_BACKLOG
    bytes are already waiting (then it waits: memory stays bounded); `finish` waits for the
    file to hold everything written, and `chunks` reads it back. A failed write (a full
    disk) is raised by the next `write` or by `finish`, as a UsageFailure.
    """

    def __init__(self, tempdir: str | None, backlog: int = SPOOL_BACKLOG) -> None:
        import tempfile
        import threading
        from collections import deque

        # tempfile.TemporaryFile: mode 0600, and unlinked at once on POSIX.
        self._file = self._create(tempfile.TemporaryFile, tempdir)
        self._tempdir = tempdir
        self._fd = self._file.fileno()
        self._backlog = backlog
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0  # queued or being written
        self._closing = False
        self._error: OSError | None = None
        self._queued = 0
        self._stored = 0  # handed to the file or the direct writer: the writer thread's
        self._changed = threading.Condition()
        self._writer: threading.Thread | None = None
        self._direct = _DirectWriter.open(self._fd)
        self._went_direct = self._direct is not None

    @property
    def direct(self) -> bool:
        """Whether the copy bypasses the page cache (O_DIRECT) until `finish`."""
        return self._direct is not None

    @staticmethod
    def _create(factory: Callable[..., IO[bytes]], tempdir: str | None) -> IO[bytes]:
        try:
            return factory(dir=tempdir, buffering=0)
        except OSError as exc:
            raise _spool_failure(exc, tempdir) from exc

    @property
    def size(self) -> int:
        """The bytes handed to `write` so far (all in the file after `finish`)."""
        return self._queued

    @property
    def fileno(self) -> int:
        return self._fd

    def write(self, data: bytes) -> None:
        if not data:
            return
        with self._changed:
            self._raise_failure()
            while self._pending_bytes >= self._backlog and self._error is None:
                self._changed.wait()
            self._raise_failure()
            self._pending.append(data)
            self._pending_bytes += len(data)
            self._queued += len(data)
            self._changed.notify_all()
        if self._writer is None:
            self._writer = self._start_writer()

    def finish(self) -> None:
        """Wait until everything written is in the file."""
        with self._changed:
            while self._pending_bytes and self._error is None:
                self._changed.wait()
            self._raise_failure()
        # The writer is idle (nothing pending, and only the caller writes): the rest of the
        # aligned buffer goes out from here, and the file is read normally from now on.
        direct, self._direct = self._direct, None
        if direct is not None:
            try:
                direct.finish()
            except OSError as exc:
                raise _spool_failure(exc, self._tempdir) from exc

    def chunks(self, size: int) -> Iterator[bytes]:
        """The copy, in pieces of `size` bytes; call `finish` first."""
        if self._went_direct:
            reader = self._open_direct()
            if reader is not None:
                return self._read_ahead(reader, size)
        return self._read_cached(size)

    def _open_direct(self) -> int | None:
        # A file description of its own, so the writer's stays as it is.
        try:
            return os.open(f"/proc/self/fd/{self._fd}", os.O_RDONLY | os.O_DIRECT)
        except OSError:
            return None

    def _read_ahead(self, reader: int, size: int) -> Iterator[bytes]:
        """Read back past the page cache too: a copy written with O_DIRECT is not in it, and
        filling it cost more system time than the disk took (2.1 s of 2.5 s for 1 GiB on the
        benchmark machine, against 1.1 s with O_DIRECT). A thread reads aligned blocks up to
        SPOOL_BACKLOG ahead of the sender."""
        import mmap
        import queue
        import threading

        end = self._queued
        block = -(-size // DIRECT_ALIGN) * DIRECT_ALIGN
        pieces: queue.Queue[bytes | OSError | None] = queue.Queue(
            maxsize=max(SPOOL_BACKLOG // block, 2)
        )
        stop = threading.Event()

        def read() -> None:
            buffer = mmap.mmap(-1, block)  # page-aligned
            try:
                offset = 0
                while offset < end and not stop.is_set():
                    got = os.preadv(reader, [buffer], offset)
                    if got <= 0:
                        break
                    got = min(got, end - offset)
                    pieces.put(buffer[:got])
                    offset += got
                pieces.put(None)
            except OSError as exc:
                pieces.put(exc)
            finally:
                buffer.close()

        thread = threading.Thread(target=read, name="faasauth-spool-reader", daemon=True)
        thread.start()
        try:
            while True:
                piece = pieces.get()
                if piece is None:
                    return
                if isinstance(piece, OSError):
                    raise _spool_failure(piece, self._tempdir) from piece
                yield piece
        finally:
            stop.set()
            while thread.is_alive():  # unblock a reader waiting on a full queue
                try:
                    pieces.get(timeout=0.05)
                except queue.Empty:
                    pass
            thread.join()
            os.close(reader)

    def _read_cached(self, size: int) -> Iterator[bytes]:
        offset, end = 0, self._queued
        advised = 0  # read-ahead asked for up to here
        while offset < end:
            if offset + READ_AHEAD // 2 >= advised and advised < end:
                # Written past the page cache (O_DIRECT), the copy comes back from the disk:
                # have the kernel read the next stretch while this one goes out.
                _will_need(self._fd, advised, READ_AHEAD)
                advised += READ_AHEAD
            try:
                data = os.pread(self._fd, min(size, end - offset), offset)
            except OSError as exc:
                raise _spool_failure(exc, self._tempdir) from exc
            if not data:
                break
            offset += len(data)
            yield data

    def close(self) -> None:
        with self._changed:
            self._closing = True
            self._pending.clear()  # not needed any more
            self._changed.notify_all()
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        if self._direct is not None:
            self._direct.release()
            self._direct = None
        self._file.close()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise _spool_failure(self._error, self._tempdir)

    def _start_writer(self) -> threading.Thread:
        import threading

        writer = threading.Thread(target=self._write_all, name="faasauth-spool", daemon=True)
        writer.start()
        return writer

    def _write_all(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._closing:
                    self._changed.wait()
                if self._closing:
                    return
                data = self._pending.popleft()
            try:
                if self._direct is not None:
                    self._direct.write(data)
                else:  # at an explicit offset: a direct writer's padding may follow
                    view, at = memoryview(data), self._stored
                    while view:
                        n = os.pwrite(self._fd, view, at)
                        view, at = view[n:], at + n
                self._stored += len(data)
            except OSError as exc:
                with self._changed:
                    self._error = exc
                    self._changed.notify_all()
                return
            with self._changed:
                self._pending_bytes -= len(data)
                self._changed.notify_all()


class _DirectWriter:
    """Writes to a file opened with O_DIRECT, through an aligned buffer.

    On the machine of benchmarks/bench_body.py, a gigabyte written through the page cache
    cost 1.3-2.9 s of system time (fresh pages of a virtual machine's memory), more than
    the upload; O_DIRECT hands it to the disk by DMA (about 1.1 s, little CPU), in
    parallel with the upload, and leaves no gigabyte of dirty pages behind. Used only where
    the file system accepts it (`open` tries one aligned write); else plain writes.
    """

    def __init__(self, fd: int) -> None:
        import mmap

        self._fd = fd
        self._buffer = mmap.mmap(-1, DIRECT_BUFFER)  # page-aligned
        self._fill = 0
        self._offset = 0  # where the buffer's first byte goes in the file (aligned)

    @classmethod
    def open(cls, fd: int) -> _DirectWriter | None:
        direct = getattr(os, "O_DIRECT", 0)
        if not direct:
            return None
        import fcntl

        try:
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            fcntl.fcntl(fd, fcntl.F_SETFL, flags | direct)
        except OSError:
            return None
        writer = cls(fd)
        try:
            writer._pwrite(DIRECT_ALIGN)  # does this file system take aligned direct writes?
        except OSError:
            writer.release()
            fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~direct)
            return None
        return writer

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = min(len(view), DIRECT_BUFFER - self._fill)
            self._buffer[self._fill : self._fill + n] = view[:n]
            self._fill += n
            view = view[n:]
            if self._fill == DIRECT_BUFFER:
                self._pwrite(DIRECT_BUFFER)
                self._offset += DIRECT_BUFFER
                self._fill = 0

    def finish(self) -> None:
        """Write what the buffer holds (padded to the alignment: readers stop at the size
        they know), then turn O_DIRECT off, so the file can be read back in any pieces."""
        import fcntl

        try:
            if self._fill:
                self._pwrite(-(-self._fill // DIRECT_ALIGN) * DIRECT_ALIGN)
            flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
            fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
        finally:
            self.release()

    def release(self) -> None:
        self._buffer.close()

    def _pwrite(self, length: int) -> None:
        with memoryview(self._buffer) as buffer:
            done = 0
            while done < length:
                done += os.pwrite(self._fd, buffer[done:length], self._offset + done)


def _will_need(fd: int, offset: int, length: int) -> None:
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        try:
            advise(fd, offset, length, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass  # advice only


def _spool_failure(exc: OSError, tempdir: str | None) -> UsageFailure:
    return UsageFailure(
        "cannot keep a copy of the request body for a retry: "
        f"{exc.strerror or type(exc).__name__} (TMPDIR={tempdir or 'default'})"
    )
