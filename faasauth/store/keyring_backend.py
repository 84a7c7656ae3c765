"""The OS keyring backend, and the automatic choice between it and the file store.

Imported only when the keyring is (or may be) used: `import keyring` is slow.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, TypeVar

from faasauth.console import warn
from faasauth.errors import TransientFailure
from faasauth.store.backends import (
    BACKEND_STATE,
    Entry,
    FileStore,
    Home,
    TokenStore,
    decode_entry,
    encode_entry,
)

SERVICE = "faasauth"
INDEX_STATE = "keyring-index.json"
PROBE_SECONDS = 3.0

T = TypeVar("T")


def _keyring_call(action: str, call: Callable[[], T]) -> T:
    # Not only KeyringError: the first call loads the configured backend, and a bad
    # PYTHON_KEYRING_BACKEND or keyringrc.cfg raises ImportError, RuntimeError, ValueError...
    try:
        return call()
    except Exception as exc:
        raise TransientFailure(f"the OS keyring failed to {action}: {type(exc).__name__}") from exc


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
        raw = _keyring_call("read", lambda: self._keyring.get_password(SERVICE, key))
        if raw is None:
            return None
        value = decode_entry(key, raw, f"keyring item {key.split('|', 1)[0]}")
        if value is None:
            self.delete(key)
        return value

    def put(self, key: str, value: Entry) -> None:
        data = encode_entry(key, value).decode("utf-8")
        _keyring_call("save", lambda: self._keyring.set_password(SERVICE, key, data))
        self._update_index(add=key)

    def delete(self, key: str) -> None:
        from keyring.errors import PasswordDeleteError

        try:
            _keyring_call("delete", lambda: self._keyring.delete_password(SERVICE, key))
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


def _probe_keyring() -> str | None:
    """None when a real keyring answers in time, else why it cannot be used."""
    import keyring
    from keyring.backends import chainer, fail

    outcome: dict[str, Any] = {}

    def probe() -> None:
        try:
            # Backend detection itself talks to D-Bus (SecretService.priority) and loads
            # PYTHON_KEYRING_BACKEND: it can hang or raise, so it runs in the thread too.
            backend = keyring.get_keyring()
            if isinstance(backend, fail.Keyring) or (
                isinstance(backend, chainer.ChainerBackend) and not backend.backends
            ):
                outcome["problem"] = "no OS keyring backend is available"
                return
            if getattr(backend, "priority", 1) <= 0:
                outcome["problem"] = f"the keyring backend {type(backend).__name__} is not usable"
                return
            backend.get_password(SERVICE, "__faasauth_probe__")
            outcome["ok"] = True
        except Exception as exc:  # any backend failure means "do not use it"
            outcome["error"] = type(exc).__name__

    # A keyring waiting for a D-Bus session that never answers must not hang a CI job.
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(PROBE_SECONDS)
    if outcome.get("ok"):
        return None
    if "problem" in outcome:
        return str(outcome["problem"])
    if "error" in outcome:
        return f"the OS keyring failed ({outcome['error']})"
    return f"the OS keyring did not answer within {PROBE_SECONDS:g}s"


def choose_automatically(home: Home) -> TokenStore:
    with home.lock(BACKEND_STATE):
        remembered = home.read_state(BACKEND_STATE)
        if remembered.get("backend") in ("file", "keyring"):
            chosen = remembered["backend"]
            reason = str(remembered.get("reason", ""))
        else:
            problem = _probe_keyring()
            if problem is None:
                chosen, reason = "keyring", "an OS keyring answered (automatic choice)"
            else:
                chosen, reason = "file", f"{problem} (automatic choice)"
                warn(
                    f"{problem}; keeping tokens in files under {home.path} (mode 0600). "
                    "Set FAASAUTH_TOKEN_STORE to choose."
                )
            home.write_state(BACKEND_STATE, {"backend": chosen, "reason": reason})
    store: TokenStore = KeyringStore(home) if chosen == "keyring" else FileStore(home)
    store.reason = reason
    return store
