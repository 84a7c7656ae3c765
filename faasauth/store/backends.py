"""The token store: one interface, three backends (file, OS keyring, none).

Entries are small JSON objects addressed by a string key (`login|<gateway>`,
`function|<gateway>|<subject hash>|<audiences>`). Secrets live only in entries; the home
directory also holds non-secret state (locks, the backend choice, remembered functions).
Every read-check-write sequence runs under `Home.lock(key)`, a cross-process file lock,
whatever the backend.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from faasauth.console import warn
from faasauth.errors import TransientFailure, UsageFailure
from faasauth.store.locking import FileLock

ENTRY_VERSION = 1
Entry = dict[str, Any]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def ensure_private_dir(path: Path) -> None:
    """Create `path` as 0700, tightening it if it already exists looser."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.stat().st_mode & 0o077:
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


def read_private_file(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_mode & 0o077:
                os.chmod(path, 0o600)
            return handle.read()
    except FileNotFoundError:
        return None


def encode_entry(key: str, value: Entry) -> bytes:
    return json.dumps({"version": ENTRY_VERSION, "key": key, "value": value}).encode("utf-8")


def decode_entry(key: str, raw: bytes | str, where: str) -> Entry | None:
    """The entry's value, or None (with a warning) when it is corrupt or of another version."""
    try:
        envelope = json.loads(raw)
    except ValueError:
        warn(f"ignoring a corrupt token store entry ({where}); it will be replaced")
        return None
    if not isinstance(envelope, dict) or envelope.get("version") != ENTRY_VERSION:
        warn(f"ignoring a token store entry of an unknown version ({where}); it will be replaced")
        return None
    value = envelope.get("value")
    if envelope.get("key") != key or not isinstance(value, dict):
        warn(f"ignoring a malformed token store entry ({where}); it will be replaced")
        return None
    return value


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
        return FileLock(self.subdir("locks") / f"{_digest(key)}.lock", timeout=self.lock_timeout)

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


class TokenStore:
    """What every backend offers. Callers hold `home.lock(key)` around read-modify-write."""

    name = "none"
    reason = ""
    plain_file = False

    def __init__(self, home: Home) -> None:
        self.home = home

    def get(self, key: str) -> Entry | None:
        return None

    def put(self, key: str, value: Entry) -> None:
        return None

    def delete(self, key: str) -> None:
        return None

    def keys(self) -> list[str]:
        return []

    def remove_unreadable(self) -> int:
        """Delete entries too damaged to name (so `keys()` never lists them)."""
        return 0


class NullStore(TokenStore):
    """Keeps nothing: every command logs in or exchanges afresh."""

    name = "none"


class FileStore(TokenStore):
    """One 0600 JSON file per entry in a 0700 directory."""

    name = "file"
    plain_file = True

    @property
    def directory(self) -> Path:
        return self.home.subdir("tokens")

    def _path(self, key: str) -> Path:
        return self.directory / f"{_digest(key)}.json"

    def get(self, key: str) -> Entry | None:
        path = self._path(key)
        try:
            raw = read_private_file(path)
        except OSError as exc:
            warn(f"cannot read the token store entry {path.name}: {exc.strerror}")
            return None
        if raw is None:
            return None
        value = decode_entry(key, raw, path.name)
        if value is None:
            self.delete(key)
        return value

    def put(self, key: str, value: Entry) -> None:
        try:
            write_private_file(self._path(key), encode_entry(key, value))
        except OSError as exc:
            raise TransientFailure(f"cannot write the token store: {exc.strerror}") from exc

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass

    def keys(self) -> list[str]:
        found = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                envelope = json.loads(path.read_bytes())
                key = envelope["key"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if isinstance(key, str) and path.name == f"{_digest(key)}.json":
                found.append(key)
        return found

    def remove_unreadable(self) -> int:
        known = {f"{_digest(key)}.json" for key in self.keys()}
        removed = 0
        for path in self.directory.glob("*.json"):
            if path.name not in known:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


BACKEND_STATE = "store-backend.json"


def open_store(home: Home, backend: str) -> TokenStore:
    """The store for a FAASAUTH_TOKEN_STORE value; `auto` remembers its choice in the home.

    A remembered choice of the file store never imports keyring: that import alone costs
    more than the rest of a warm `invoke`.
    """
    if backend == "file":
        return FileStore(home)
    if backend == "none":
        return NullStore(home)
    if backend == "auto":
        remembered = home.read_state(BACKEND_STATE)
        if remembered.get("backend") == "file":
            store: TokenStore = FileStore(home)
            store.reason = str(remembered.get("reason") or "chosen automatically earlier")
            return store
        if remembered.get("backend") != "keyring":
            from faasauth.store.keyring_backend import choose_automatically

            return choose_automatically(home)
    from faasauth.store.keyring_backend import KeyringStore

    store = KeyringStore(home)
    if backend == "auto":  # say why as status would: not "FAASAUTH_TOKEN_STORE=keyring"
        store.reason = str(remembered.get("reason") or "chosen automatically earlier")
    return store
