"""What the store holds, for `status`, and removing it, for `logout`."""

from __future__ import annotations

from typing import Any

from faasauth.runtime import Runtime
from faasauth.flows.exchange import FUNCTION_PREFIX
from faasauth.tokens.login import LOGIN_PREFIX, Login
from faasauth.tokens.function import FunctionToken
from faasauth.tokens.jwt import mask


def _gateway_of(key: str) -> str | None:
    for prefix in (LOGIN_PREFIX, FUNCTION_PREFIX):
        if key.startswith(prefix):
            return key[len(prefix):].split("|", 1)[0]
    return None


def _left(expires_at: float | None, now: float) -> int | None:
    return None if expires_at is None else int(expires_at - now)


def collect_status(rt: Runtime) -> dict[str, Any]:
    store, now = rt.store, rt.now()
    logins: list[dict[str, Any]] = []
    tokens: list[dict[str, Any]] = []
    for key in store.keys():
        entry = store.get(key)
        if entry is None:
            continue
        if key.startswith(LOGIN_PREFIX):
            login = Login.from_entry(entry)
            if login is None:
                continue
            left = _left(login.expires_at, now)
            logins.append(
                {
                    "gateway": login.gateway,
                    "authority": login.authority,
                    "client_id": login.client_id,
                    "grant": login.grant,
                    "issuer": login.issuer,
                    "subject": login.subject,
                    "expires_at": None if login.expires_at is None else int(login.expires_at),
                    "expires_in": left,
                    "expired": left is not None and left <= 0,
                    "refreshable": login.refreshable,
                    "token": mask(login.subject_token),
                }
            )
        elif key.startswith(FUNCTION_PREFIX):
            token = FunctionToken.from_entry(entry)
            if token is None:
                continue
            tokens.append(
                {
                    "gateway": _gateway_of(key),
                    "audience": token.audience,
                    "expires_in": _left(token.expires_at, now),
                    "token": mask(token.access_token),
                }
            )
    current = rt.settings.gateway
    usable = any(
        item["gateway"] == current and (not item["expired"] or item["refreshable"])
        for item in logins
    )
    return {
        "gateway": current,
        "usable_login": usable,
        "store": {
            "backend": store.name,
            "reason": store.reason or f"FAASAUTH_TOKEN_STORE={store.name}",
            "location": str(rt.home.path),
            "plain_file": store.plain_file,
        },
        "logins": logins,
        "function_tokens": tokens,
    }


def remove_stored(rt: Runtime, gateway: str | None) -> int:
    """Delete the login and function tokens of `gateway` (all gateways when None)."""
    removed = 0
    for key in rt.store.keys():
        owner = _gateway_of(key)
        if owner is None or (gateway is not None and owner != gateway):
            continue
        with rt.home.lock(key):
            rt.store.delete(key)
        removed += 1
    if gateway is None:
        # Damaged entries name no gateway, but may still hold a secret.
        removed += rt.store.remove_unreadable()
    return removed
