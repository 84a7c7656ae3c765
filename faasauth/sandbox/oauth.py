"""OAuth 2.0 plumbing shared by the IdP and the gateway's token endpoint (RFC 6749).

Form bodies (parameters must not repeat, except those the caller allows), JSON answers
with `Cache-Control: no-store`, `{"error", "error_description"}` errors, and client
authentication by HTTP Basic (id and secret form-urlencoded first, RFC 6749 2.3.1) or in
the body (client_secret_post), never both.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from faasauth.sandbox.server import Request, Response

MAX_FORM = 1024 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"


class OAuthError(Exception):
    def __init__(
        self, error: str, description: str, status: int = 400, *, basic_realm: str | None = None
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.basic_realm = basic_realm

    def response(self, *, token: str = "none") -> Response:
        headers = []
        if self.basic_realm is not None:
            headers.append(("WWW-Authenticate", f'Basic realm="{self.basic_realm}"'))
        if self.status == 405:
            headers.append(("Allow", "POST"))
        return json_response(
            self.status,
            {"error": self.error, "error_description": self.description},
            extra=headers,
            token=token,
        )


def json_response(
    status: int,
    document: Any,
    *,
    extra: list[tuple[str, str]] | None = None,
    token: str = "none",
    no_store: bool = True,
) -> Response:
    headers = [("Content-Type", "application/json")]
    if no_store:
        headers += [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
    body = json.dumps(document, indent=None, separators=(",", ":")).encode("utf-8")
    return Response(status, headers + (extra or []), body, token=token)


class Form:
    def __init__(
        self, pairs: list[tuple[str, str]], repeatable: frozenset[str] = frozenset()
    ) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name, []).append(value)
        for name, values in self._values.items():
            if len(values) > 1 and name not in repeatable:
                raise OAuthError("invalid_request", f"parameter {name} is repeated")

    def get(self, name: str) -> str | None:
        values = self._values.get(name)
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        return list(self._values.get(name, []))

    def require(self, name: str) -> str:
        value = self.get(name)
        if not value:
            raise OAuthError("invalid_request", f"{name} is required")
        return value


def read_form(request: Request, repeatable: frozenset[str] = frozenset()) -> Form:
    if request.method != "POST":
        raise OAuthError("invalid_request", "use POST", 405)
    content_type = (request.header("Content-Type") or "").split(";", 1)[0].strip().lower()
    if content_type != FORM_TYPE:
        raise OAuthError("invalid_request", f"Content-Type must be {FORM_TYPE}")
    data = request.body.read(MAX_FORM + 1)
    if len(data) > MAX_FORM:
        raise OAuthError("invalid_request", "request body too large", 413)
    try:
        pairs = parse_qsl(data.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "request body is not valid form data") from None
    return Form(pairs, repeatable)


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str | None = field(repr=False)  # None: a public client
    grants: frozenset[str]


def authenticate(request: Request, form: Form, clients: Mapping[str, Client], realm: str) -> Client:
    """The calling client, authenticated as RFC 6749 2.3 says; OAuthError otherwise."""
    header = request.header("Authorization")
    basic = header is not None and header[:6].lower() == "basic "
    if basic:
        assert header is not None
        if form.get("client_secret") is not None:
            raise OAuthError("invalid_request", "use one client authentication method, not two")
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
            encoded_id, sep, encoded_secret = raw.partition(":")
            if not sep:
                raise ValueError
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise OAuthError(
                "invalid_client", "malformed HTTP Basic credentials", 401, basic_realm=realm
            ) from None
        client_id = unquote_plus(encoded_id)
        secret: str | None = unquote_plus(encoded_secret)
        body_id = form.get("client_id")
        if body_id is not None and body_id != client_id:
            raise OAuthError("invalid_request", "client_id in the body differs from HTTP Basic")
    else:
        client_id, secret = form.get("client_id") or "", form.get("client_secret")
        if not client_id:
            raise OAuthError(
                "invalid_client", "client authentication required (HTTP Basic or client_id)", 401
            )
    client = clients.get(client_id)
    realm_if_basic = realm if basic else None
    if client is None:
        raise OAuthError(
            "invalid_client", f"unknown client: {client_id}", 401, basic_realm=realm_if_basic
        )
    expected = client.secret
    if expected is None:  # a public client
        if secret:
            raise OAuthError(
                "invalid_client",
                f"{client_id} is a public client: send no secret",
                401,
                basic_realm=realm_if_basic,
            )
        return client
    if secret is None:
        raise OAuthError("invalid_client", f"{client_id} must authenticate with its secret", 401)
    if not hmac.compare_digest(secret.encode("utf-8"), expected.encode("utf-8")):
        raise OAuthError(
            "invalid_client", "client authentication failed", 401, basic_realm=realm_if_basic
        )
    return client
