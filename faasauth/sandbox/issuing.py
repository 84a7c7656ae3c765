"""What tests and users of the sandbox can ask it for: tokens it issues as its IdP and its
gateway would, and a rotation of the gateway's signing key (a mixin of Sandbox)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from faasauth.sandbox.device import DEFAULT_LOGIN
from faasauth.sandbox.keys import SigningKey
from faasauth.sandbox.watchdog import HARDENED

if TYPE_CHECKING:
    from faasauth.sandbox.gateway import Gateway
    from faasauth.sandbox.idp import IdentityProvider


class TokenIssuing:
    client_id: str

    @property
    def authority(self) -> str:
        raise NotImplementedError

    def _running_gateway(self) -> Gateway:
        raise NotImplementedError

    def _running_idp(self) -> IdentityProvider:
        raise NotImplementedError

    def issue_idp_token(
        self,
        sub: str = DEFAULT_LOGIN,
        *,
        aud: str | list[str] | None = None,
        expires_in: float | None = None,
        **claims: Any,
    ) -> str:
        """A JWT from the sandbox IdP (aud defaults to the confidential client id)."""
        idp = self._running_idp()
        return idp.issue_token(
            sub, aud=aud if aud is not None else self.client_id, expires_in=expires_in, **claims
        )

    def issue_function_token(
        self,
        permissions: Sequence[str],
        audience: Sequence[str] | None = None,
        *,
        sub: str = "fed:sandbox-test",
        expires_in: float = 300,
        **claims: Any,
    ) -> str:
        """A function token from the gateway; claims override the defaults (exp=, iss=, aud=...)."""
        exchange = self._running_gateway().exchange
        return exchange.issue_function_token(
            sub, list(permissions), list(audience or []), expires_in, **claims
        )

    def issue_api_token(
        self,
        policies: Sequence[str],
        *,
        sub: str = "fed:sandbox-test",
        expires_in: float = 300,
        **claims: Any,
    ) -> str:
        """An OpenFaaS API token from the gateway, bound to the named policies."""
        exchange = self._running_gateway().exchange
        return exchange.issue_api_token(
            sub, list(policies), expires_in, **{"fed:iss": self.authority, **claims}
        )

    def rotate_gateway_key(self) -> None:
        """The gateway signs with a new key. With `watchdog="released"` (the default) the
        functions' watchdogs keep the keys they read at start, as of-watchdog 0.11.6 does:
        tokens signed before still pass, new ones are refused with `invalid kid` until
        `restart_watchdogs()`. With "hardened" the watchdogs trust only the new key at once:
        every function token issued before is refused."""
        gateway = self._running_gateway()
        key = SigningKey.generate()
        gateway.key = key
        gateway.exchange.key = key
        if gateway.watchdog.mode == HARDENED:
            self.restart_watchdogs()

    def restart_watchdogs(self) -> None:
        """The functions restart: their watchdogs read the gateway's JWKS again (only its
        current key), as a real watchdog does at start."""
        gateway = self._running_gateway()
        gateway.watchdog.keys = {gateway.key.kid: gateway.key.public_key}
