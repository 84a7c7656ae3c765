"""TokenCache: the token store as a typed repository (find, save, delete, locked).

It owns the key format, so no other module builds or parses a key:

    login|<gateway>                                     the IdP login for a gateway
    function|<gateway>|<identity hash>|<aud1,aud2,...>  a function token for one identity

and the lock discipline: a read-check-write sequence runs inside `locked(key)`, a
cross-process lock of its own (see faasauth.store.home), whatever the backend. Reads
outside the lock are fine: entries are replaced atomically.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Iterator, Union

from faasauth.store.backends import TokenStore
from faasauth.store.home import Home
from faasauth.store.locking import FileLock
from faasauth.tokens.function import FunctionToken
from faasauth.tokens.login import Login

LOGIN_PREFIX = "login|"
FUNCTION_PREFIX = "function|"

Record = Union[Login, FunctionToken]


@dataclass(frozen=True)
class Removed:
    """What `delete_gateway` removed: the gateways whose login went, how many function
    tokens, and how many damaged entries (which name no gateway)."""

    logins: list[str]
    function_tokens: int
    unreadable: int = 0

    def __bool__(self) -> bool:
        return bool(self.logins or self.function_tokens or self.unreadable)


def login_key(gateway: str) -> str:
    return LOGIN_PREFIX + gateway


def function_token_key(gateway: str, identity: str, audiences: Iterable[str]) -> str:
    audience = ",".join(sorted(set(audiences)))
    return f"{FUNCTION_PREFIX}{gateway}|{_identity_hash(identity)}|{audience}"


def _identity_hash(identity: str) -> str:
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]


def exchanged_for(key: str, identity: str) -> bool:
    """Whether the function token under `key` was exchanged for `identity` (a login's: the
    same subject logged in with another client or IdP has another)."""
    parts = key.split("|")
    return key.startswith(FUNCTION_PREFIX) and len(parts) >= 4 \
        and parts[2] == _identity_hash(identity)


def gateway_of(key: str) -> str | None:
    """The gateway a key belongs to; None for a key that is not a token's."""
    for prefix in (LOGIN_PREFIX, FUNCTION_PREFIX):
        if key.startswith(prefix):
            return key[len(prefix):].split("|", 1)[0]
    return None


class TokenCache:
    """Logins and function tokens in one store, with the home's locks."""

    def __init__(self, store: TokenStore, home: Home) -> None:
        self.store = store
        self.home = home

    def locked(self, key: str) -> FileLock:
        """`with cache.locked(key):` holds the entry's cross-process lock."""
        return self.home.lock(key)

    # -- logins --------------------------------------------------------------------------

    def find_login(self, gateway: str) -> Login | None:
        entry = self.store.get(login_key(gateway))
        return Login.from_entry(entry) if entry else None

    def save_login(self, login: Login) -> None:
        """Store `login`; the caller holds `locked(login_key(...))` when it read first."""
        self.store.put(login_key(login.gateway), login.to_entry())

    # -- function tokens -----------------------------------------------------------------

    def find_function_token(self, key: str) -> FunctionToken | None:
        entry = self.store.get(key)
        return FunctionToken.from_entry(entry) if entry else None

    def save_function_token(self, key: str, token: FunctionToken) -> None:
        self.store.put(key, token.to_entry())

    # -- everything ----------------------------------------------------------------------

    def records(self) -> Iterator[tuple[str, Record]]:
        """Every readable login and function token, with its key (for `status`)."""
        for key in self.store.keys():
            if key.startswith(LOGIN_PREFIX):
                login = self.find_login(key[len(LOGIN_PREFIX):])
                if login is not None:
                    yield key, login
            elif key.startswith(FUNCTION_PREFIX):
                token = self.find_function_token(key)
                if token is not None:
                    yield key, token

    def delete_gateway(self, gateway: str | None) -> Removed:
        """Delete the login and function tokens of `gateway` (of all gateways when None)."""
        logins: list[str] = []
        function_tokens = 0
        for key in self.store.keys():
            owner = gateway_of(key)
            if owner is None or (gateway is not None and owner != gateway):
                continue
            with self.locked(key):
                self.store.delete(key)
            if key.startswith(LOGIN_PREFIX):
                logins.append(owner)
            else:
                function_tokens += 1
        unreadable = 0
        if gateway is None:
            # Damaged entries name no gateway, but may still hold a secret.
            unreadable = self.store.remove_unreadable()
        else:
            self.store.remove_stale_temp_files()
        return Removed(sorted(logins), function_tokens, unreadable)
