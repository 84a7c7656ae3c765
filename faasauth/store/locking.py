"""A cross-process lock on a file, with a timeout.

The lock is an advisory `flock` on a separate lock file. The kernel drops it when the
holder exits, however it exits (even SIGKILL), so a lock file left behind by a dead process
never blocks anybody: that is the stale-lock recovery, and why no PID or age is recorded.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import TracebackType

from faasauth.errors import LockTimeout

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_POLL_SECONDS = 0.02


def _lock_nonblocking(fd: int) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    import msvcrt  # pragma: no cover - Windows

    try:  # pragma: no cover - Windows
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:  # pragma: no cover - Windows
        return False
    return True  # pragma: no cover - Windows


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:  # pragma: no cover - Windows
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


class FileLock:
    """`with FileLock(path, timeout=30):` holds an exclusive lock across processes."""

    def __init__(self, path: Path, *, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            # O_NOFOLLOW: a (dangling) symlink in place of the lock must not create or lock
            # a file elsewhere.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as exc:
            if not self.path.is_symlink():
                raise
            from faasauth.errors import UsageFailure

            raise UsageFailure(
                f"refusing the symlink {self.path} in the faasauth home", hint="remove the link"
            ) from exc
        try:
            # A lock file created by an older version, or by hand, may be looser than 0600.
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)
            deadline = time.monotonic() + self.timeout
            while not _lock_nonblocking(fd):
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"timed out after {self.timeout:g}s waiting for the lock {self.path.name} "
                        "(another faasauth is still working on the same token)"
                    )
                time.sleep(_POLL_SECONDS)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            _unlock(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
