"""The OS keyring backend.

Imported only when the keyring is (or may be) used: `import keyring` is slow.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from faasauth.errors import TransientFailure, UsageFailure
from faasauth.store.backends import KEYRING_SERVICE, Entry, TokenStore, decode_entry, encode_entry
from faasauth.store.home import Home

INDEX_STATE = "keyring-index.json"

T = TypeVar("T")


def _keyring_call(action: str, call: Callable[[], T]) -> T:
    # Not only KeyringError: the first call loads the configured backend, and a bad
    # PYTHON_KEYRING_BACKEND or keyringrc.cfg raises ImportError, RuntimeError, ValueError...
    try:
        return call()
    except Exception as exc:
        from keyring.errors import NoKeyringError

        if isinstance(exc, NoKeyringError):
            raise UsageFailure(
                "FAASAUTH_TOKEN_STORE=keyring, but no OS keyring backend is available here",
                hint=FILE_HINT,
            ) from exc
        raise TransientFailure(f"the OS keyring failed to {action}: {type(exc).__name__}",
                               hint=FILE_HINT) from exc


FILE_HINT = "set FAASAUTH_TOKEN_STORE=file to keep tokens in files (mode 0600) instead"


class KeyringStore(TokenStore):
    """Entries as keyring passwords; the key names (not secret) in an index file,
    because keyrings cannot list what they hold."""

    name = "keyring"
    reason = "FAASAUTH_TOKEN_STORE=keyring"

    def __init__(self, home: Home) -> None:
        super().__init__(home)
        import keyring

        self._keyring = keyring

    def get(self, key: str) -> Entry | None:
        raw = _keyring_call("read", lambda: self._keyring.get_password(KEYRING_SERVICE, key))
        if raw is None:
            return None
        value = decode_entry(key, raw, f"keyring item {key.split('|', 1)[0]}")
        if value is None:
            self.delete(key)
        return value

    def put(self, key: str, value: Entry) -> None:
        data = encode_entry(key, value).decode("utf-8")
        _keyring_call("save", lambda: self._keyring.set_password(KEYRING_SERVICE, key, data))
        self._update_index(add=key)

    def delete(self, key: str) -> None:
        from keyring.errors import PasswordDeleteError

        try:
            _keyring_call("delete", lambda: self._keyring.delete_password(KEYRING_SERVICE, key))
        except TransientFailure as exc:
            if not isinstance(exc.__cause__, PasswordDeleteError):
                raise
        self._update_index(remove=key)

    def keys(self) -> list[str]:
        keys = self.home.read_state(INDEX_STATE).get("keys", [])
        return sorted(k for k in keys if isinstance(k, str))

    def _update_index(self, *, add: str | None = None, remove: str | None = None) -> None:
        with self.home.lock(INDEX_STATE):
            keys = set(self.keys())
            if add:
                keys.add(add)
            if remove:
                keys.discard(remove)
            self.home.write_state(INDEX_STATE, {"keys": sorted(keys)})
