"""Keyring backends for the tests: in memory, file-backed (for subprocesses), failing, hanging.

Subprocesses select one with PYTHON_KEYRING_BACKEND=foundation.keyring_backends.<Class>
and PYTHONPATH=<repo>/tests.
"""

from __future__ import annotations

import json
import os
import threading
from typing import TypeVar

from keyring.backend import KeyringBackend
from keyring.errors import KeyringError, PasswordDeleteError

B = TypeVar("B", bound=type)


def unregistered(cls: B) -> B:
    """Keep a test backend out of keyring's own detection (its class registry).

    Defining a KeyringBackend subclass registers it; without this, any test in the same
    session that lets keyring detect backends would chain these in (and hang or fail).
    They stay selectable explicitly: keyring.set_keyring(), PYTHON_KEYRING_BACKEND.
    """
    KeyringBackend._classes.discard(cls)  # type: ignore[attr-defined]
    return cls


@unregistered
class MemoryKeyring(KeyringBackend):
    """A real-looking backend that keeps passwords in a dict."""

    priority = 5  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}
        self.calls: list[str] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.calls.append("get")
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.calls.append("set")
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.calls.append("delete")
        try:
            del self.items[(service, username)]
        except KeyError:
            raise PasswordDeleteError("no such item") from None


@unregistered
class FileBackedKeyring(KeyringBackend):
    """Shared by processes through the JSON file named by FAASAUTH_TEST_KEYRING."""

    priority = 5  # type: ignore[assignment]

    @property
    def _path(self) -> str:
        return os.environ["FAASAUTH_TEST_KEYRING"]

    def _load(self) -> dict[str, str]:
        try:
            with open(self._path, encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return {}

    def _save(self, data: dict[str, str]) -> None:
        tmp = self._path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, self._path)

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError("no such item")
        self._save(data)


@unregistered
class FailingKeyring(KeyringBackend):
    """Present, but every call fails (a locked or broken keyring)."""

    priority = 5  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringError("the keyring is broken")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringError("the keyring is broken")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringError("the keyring is broken")


RELEASE_HANGING = threading.Event()


@unregistered
class HangingKeyring(KeyringBackend):
    """Like a Secret Service whose D-Bus never answers: calls block (up to 60 s)."""

    priority = 5  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        RELEASE_HANGING.wait(60)
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        RELEASE_HANGING.wait(60)

    def delete_password(self, service: str, username: str) -> None:
        RELEASE_HANGING.wait(60)
