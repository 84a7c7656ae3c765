"""What tests and users of the sandbox can ask it for: tokens it issues as its IdP and its
gateway would, and a rotation of the gateway's signing key (a mixin of Sandbox)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from faasauth.sandbox.device import DEFAULT_LOGIN
from faasauth.sandbox.keys import SigningKey

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
        """The gateway signs with a new key and its watchdogs trust only that one: every
        function token issued before is refused (as after a real key rotation)."""
        gateway = self._running_gateway()
        key = SigningKey.generate()
        gateway.key = key
        gateway.exchange.key = key
        gateway.watchdog.keys = {key.kid: key.public_key}
