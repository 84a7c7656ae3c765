"""The token store: one interface, and the backends that need no extra library (file, none).

Entries are small JSON objects addressed by a string key (see faasauth.store.cache for the
key format). Secrets live only in entries; the home directory also holds non-secret state
(locks, the backend choice, remembered functions). Every read-check-write sequence runs
under `Home.lock(key)`, a cross-process file lock, whatever the backend.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faasauth.console import warn
from faasauth.errors import TransientFailure
from faasauth.store.home import (
    Home,
    digest,
    read_private_file,
    remove_stale_temp_files,
    write_private_file,
)

ENTRY_VERSION = 1
KEYRING_SERVICE = "faasauth"  # the service name of every keyring item
Entry = dict[str, Any]


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

    def remove_stale_temp_files(self) -> int:
        """Delete temporary files a killed writer left (they hold whole entries)."""
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
        return self.directory / f"{digest(key)}.json"

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
            remove_stale_temp_files(self.directory)
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
            if path.is_symlink():  # never ours: not listed, not followed
                continue
            try:
                envelope = json.loads(path.read_bytes())
                key = envelope["key"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if isinstance(key, str) and path.name == f"{digest(key)}.json":
                found.append(key)
        return found

    def remove_stale_temp_files(self) -> int:
        return remove_stale_temp_files(self.directory)

    def remove_unreadable(self) -> int:
        known = {f"{digest(key)}.json" for key in self.keys()}
        removed = remove_stale_temp_files(self.directory, older_than=0)
        for path in self.directory.glob("*.json"):
            if path.name not in known:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
