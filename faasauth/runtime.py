"""Runtime: what a flow works with (settings, clock, environment, home, token cache, HTTP
client), built explicitly by whoever runs the flow: the CLI's `make_runtime`, the library,
or a test with fakes. The store and the HTTP client are made on first use; `close()`
releases them. Importing this module does nothing else.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping

from faasauth.config.settings import Settings
from faasauth.store.home import Home
from faasauth.tokens.expiry import Clock, system_clock

if TYPE_CHECKING:
    import httpx

    from faasauth.store.backends import TokenStore
    from faasauth.store.cache import TokenCache


class Runtime:
    """Settings plus lazily made store, cache and HTTP client; `close()` releases them."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        env: Mapping[str, str] | None = None,
        http_options: Mapping[str, Any] | None = None,
        store: TokenStore | None = None,
    ) -> None:
        from faasauth.http import keep_httpx_cli_out

        # Before anything imports httpx: keeps httpx's own CLI (rich, pygments) unloaded.
        keep_httpx_cli_out()
        self.settings = settings
        self.clock = clock
        self.env = os.environ if env is None else env
        self.http_options = dict(http_options or {})
        # Waiting for a lock must outlast the holder's own network calls.
        self.home = Home(settings.home, lock_timeout=2 * settings.timeout + 30)
        self._store = store
        self._cache: TokenCache | None = None
        self._client: httpx.Client | None = None
        self._warned: set[str] = set()

    @property
    def store(self) -> TokenStore:
        if self._store is None:
            from faasauth.store.choice import open_store

            self._store = open_store(self.home, self.settings.store_backend)
        return self._store

    @property
    def cache(self) -> TokenCache:
        if self._cache is None:
            from faasauth.store.cache import TokenCache

            self._cache = TokenCache(self.store, self.home)
        return self._cache

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            from faasauth.http import make_client
            from faasauth.relay import relay_mounts

            options = dict(self.http_options)
            mounts = relay_mounts(self.env, self.settings.gateway)
            if mounts and "transport" not in options:  # run by a proxy: its warm pool
                options["mounts"] = {**mounts, **options.get("mounts", {})}
            self._client = make_client(self.settings, **options)
        return self._client

    def now(self) -> float:
        return self.clock()

    def warn_once(self, key: str, message: str) -> None:
        """A warning shown at most once per Runtime (one command, one library client)."""
        if key in self._warned:
            return
        self._warned.add(key)
        from faasauth.console import warn

        warn(message)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
