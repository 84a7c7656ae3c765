"""FAASAUTH_TOKEN_STORE, and the automatic choice between the OS keyring and files,
remembered in the home so that later commands need not probe (nor import keyring) again."""

from __future__ import annotations

import threading
from typing import Any

from faasauth.console import warn
from faasauth.store.backends import KEYRING_SERVICE, FileStore, NullStore, TokenStore
from faasauth.store.home import Home

PROBE_SECONDS = 3.0
BACKEND_STATE = "store-backend.json"
AUTOMATIC = "automatic choice: "  # a reason's start, and why no parentheses are in it
_OLD_AUTOMATIC = " (automatic choice)"  # how homes written before said it


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
            store.reason = remembered_reason(remembered)
            return store
        if remembered.get("backend") != "keyring":
            return choose_automatically(home)
        # A keyring chosen automatically in one session (a desktop) may be out of reach in
        # another sharing the home (a headless SSH login): check it again, and use the
        # files for this command when it does not answer, without forgetting the choice.
        problem = keyring_problem()
        if problem is not None:
            warn(
                f"{problem}; the keyring chosen earlier for {home.path} cannot be used in this "
                "session, so tokens go to files there (mode 0600) for now. Set "
                "FAASAUTH_TOKEN_STORE to choose."
            )
            fallback: TokenStore = FileStore(home)
            fallback.reason = f"the keyring chosen earlier is out of reach here: {problem}"
            return fallback
    store = _keyring_store(home)
    if backend == "auto":  # say why as status would: not "FAASAUTH_TOKEN_STORE=keyring"
        store.reason = remembered_reason(remembered)
    return store


def remembered_reason(remembered: dict[str, Any]) -> str:
    """Why the remembered choice was made, as status and --version show it in parentheses
    after the backend's name: `file (automatic choice: no OS keyring backend is available)`.
    A home written by an earlier faasauth says "... (automatic choice)": read here in
    today's words, so that no parentheses are nested."""
    reason = str(remembered.get("reason") or "") or "chosen automatically earlier"
    if reason.endswith(_OLD_AUTOMATIC):
        reason = AUTOMATIC + reason[: -len(_OLD_AUTOMATIC)]
    return reason


def keyring_problem() -> str | None:
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
            backend.get_password(KEYRING_SERVICE, "__faasauth_probe__")
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
        return f"the OS keyring failed with {outcome['error']}"
    return f"the OS keyring did not answer within {PROBE_SECONDS:g}s"


def choose_automatically(home: Home) -> TokenStore:
    with home.lock(BACKEND_STATE):
        remembered = home.read_state(BACKEND_STATE)
        if remembered.get("backend") in ("file", "keyring"):
            chosen = remembered["backend"]
            reason = remembered_reason(remembered)
        else:
            problem = keyring_problem()
            if problem is None:
                chosen, reason = "keyring", f"{AUTOMATIC}an OS keyring answered"
            else:
                chosen, reason = "file", f"{AUTOMATIC}{problem}"
                warn(
                    f"{problem}; keeping tokens in files under {home.path} (mode 0600). "
                    "Set FAASAUTH_TOKEN_STORE to choose."
                )
            home.write_state(BACKEND_STATE, {"backend": chosen, "reason": reason})
    store: TokenStore = _keyring_store(home) if chosen == "keyring" else FileStore(home)
    store.reason = reason
    return store


def _keyring_store(home: Home) -> TokenStore:
    from faasauth.store.keyring_backend import KeyringStore

    return KeyringStore(home)
