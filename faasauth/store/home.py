"""The faasauth home directory: private files (0700 directories, 0600 files written
atomically), small JSON state files, and a lock per key."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from faasauth.console import warn
from faasauth.errors import UsageFailure
from faasauth.store.locking import FileLock


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def ensure_private_dir(path: Path) -> None:
    """Create `path` as 0700, tightening it if it already exists looser."""
    try:
        # Each missing parent too is made 0700: mkdir(parents=True) would leave them to the
        # umask (0777 under umask 000).
        for missing in reversed([p for p in (path, *path.parents) if not p.exists()]):
            missing.mkdir(mode=0o700, exist_ok=True)
        if path.is_symlink():
            raise UsageFailure(
                f"the faasauth home {path} is a symlink: refusing to tighten what it points to",
                hint="point FAASAUTH_HOME at the real directory",
            )
        info = path.stat()
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            raise UsageFailure(
                f"the faasauth home {path} belongs to another user (uid {info.st_uid})",
                hint="use a home of your own (FAASAUTH_HOME)",
            )
        if info.st_mode & 0o077:
            path.chmod(0o700)
    except OSError as exc:
        raise UsageFailure(f"cannot use the faasauth home directory {path}: {exc.strerror}") from exc


def write_private_file(path: Path, data: bytes) -> None:
    """Write atomically: a 0600 temporary file in the same directory, fsync, rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


STALE_TEMP_SECONDS = 60.0  # a writer renames its temporary file within well under this


def remove_stale_temp_files(
    directory: Path, *, older_than: float = STALE_TEMP_SECONDS, pattern: str = ".tmp-*"
) -> int:
    """Delete temporary files (`pattern`, by default the store's own `.tmp-*`) a killed
    writer left behind: they hold whole token entries, or a whole faas-cli config."""
    import time

    removed = 0
    cutoff = time.time() - older_than
    for path in directory.glob(pattern):
        try:
            if path.lstat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def read_private_file(path: Path) -> bytes | None:
    """The file's bytes (None when absent), tightened to 0600; a symlink is refused: the
    store only ever holds files it wrote, and a link would make us chmod or read elsewhere."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if path.is_symlink():
            raise UsageFailure(
                f"refusing the symlink {path} in the faasauth home: it holds only its own files",
                hint="remove the link",
            ) from exc
        raise
    with os.fdopen(fd, "rb") as handle:
        if os.fstat(handle.fileno()).st_mode & 0o077:
            os.fchmod(handle.fileno(), 0o600)
        return handle.read()


class Home:
    """The faasauth home directory: locks and non-secret state files."""

    def __init__(self, path: Path, *, lock_timeout: float = 90.0) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self._ready: set[str] = set()

    def ensure(self) -> Path:
        return self.subdir("")

    def subdir(self, name: str) -> Path:
        """The home (or a directory in it), made private once per process."""
        path = self.path / name if name else self.path
        if name not in self._ready:
            if name:
                self.ensure()
            ensure_private_dir(path)
            self._ready.add(name)
        return path

    def lock(self, key: str) -> FileLock:
        return FileLock(self.subdir("locks") / f"{digest(key)}.lock", timeout=self.lock_timeout)

    def read_state(self, name: str) -> dict[str, Any]:
        raw = read_private_file(self.path / name)
        if raw is None:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            warn(f"ignoring corrupt state file {name}; it will be rewritten")
            return {}
        return data if isinstance(data, dict) else {}

    def write_state(self, name: str, data: dict[str, Any]) -> None:
        write_private_file(self.ensure() / name, json.dumps(data, sort_keys=True).encode())

    def remove_state(self, name: str) -> None:
        try:
            (self.path / name).unlink()
        except FileNotFoundError:
            pass
