"""RFC 8693 token exchange at `<gateway>/oauth/token`, and the function-token cache."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable

from faasauth.runtime import Runtime
from faasauth.errors import ExchangeRefused, MalformedResponse, TransientFailure, UsageFailure
from faasauth.flows.subject import SubjectSource
from faasauth.tokens.function import FunctionToken
from faasauth.tokens.expiry import expires_at_from

GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
SUBJECT_TOKEN_TYPES = {
    "id_token": "urn:ietf:params:oauth:token-type:id_token",
    "access_token": "urn:ietf:params:oauth:token-type:access_token",
    "jwt": "urn:ietf:params:oauth:token-type:jwt",
}
FUNCTION_PREFIX = "function|"
DEFAULT_MIN_TTL = 30.0


def parse_audience(value: str) -> str:
    """`NS:NAME`, both parts non-empty (`*` allowed as the name)."""
    namespace, sep, name = value.partition(":")
    if not sep or not namespace or not name or ":" in name or any(c.isspace() for c in value):
        raise UsageFailure(f"invalid audience {value!r}: use NAMESPACE:NAME, e.g. openfaas-fn:figlet")
    return value


def function_token_key(gateway: str, identity: str, audiences: Iterable[str]) -> str:
    subject_hash = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]
    return f"{FUNCTION_PREFIX}{gateway}|{subject_hash}|{','.join(sorted(set(audiences)))}"


def _error_text(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return None
    from faasauth.http import first_line

    description = body.get("error_description")
    text = f"{body['error']}: {description}" if description else body["error"]
    return first_line(text, limit=300)  # one line, whatever the server sent


def request_function_token(
    rt: Runtime, subject_token: str, subject_type: str, audiences: list[str]
) -> FunctionToken:
    """One POST to the gateway's token endpoint; errors become faasauth errors."""
    import httpx

    from faasauth.http import summarise_body, transport_failure
    from faasauth.tokens.jwt import redact_tokens

    url = f"{rt.settings.gateway}/oauth/token"
    form: dict[str, Any] = {
        "grant_type": GRANT_TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": SUBJECT_TOKEN_TYPES[subject_type],
        "scope": "function",
    }
    if audiences:
        form["audience"] = sorted(set(audiences))  # httpx sends a list as repeated fields
    sent_at = rt.now()
    try:
        response = rt.client.post(url, data=form, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise transport_failure(exc, "token exchange", rt.settings) from exc

    try:
        body: Any = response.json()
    except ValueError:
        body = None

    if response.status_code >= 500:
        raise TransientFailure(
            f"token exchange failed: the gateway answered {response.status_code} "
            f"({summarise_body(response, subject_token)})"
        )
    if response.status_code >= 400:
        error = _error_text(body)
        if error is not None:
            raise ExchangeRefused(
                f"token exchange refused: {redact_tokens(error, subject_token)}",
                hint="check the gateway's JwtIssuer, Role and Policy for this identity",
            )
        if response.status_code in (401, 403):
            raise ExchangeRefused(
                f"token exchange refused: the gateway answered {response.status_code} "
                f"({summarise_body(response, subject_token)})"
            )
        hint = None
        if response.status_code == 404:
            hint = "does this gateway have IAM for OpenFaaS enabled? (see --gateway)"
        raise MalformedResponse(
            f"token exchange failed: the gateway answered {response.status_code} "
            f"({summarise_body(response, subject_token)})",
            hint=hint,
        )
    if response.status_code != 200 or not isinstance(body, dict):
        raise MalformedResponse(
            f"token exchange failed: unexpected answer {response.status_code} "
            f"({summarise_body(response, subject_token)})"
        )
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise MalformedResponse("token exchange failed: the answer has no access_token")
    return FunctionToken(
        access_token=token,
        token_type=str(body.get("token_type") or "Bearer"),
        expires_at=expires_at_from(body, token, sent_at),
        scope=body.get("scope") if isinstance(body.get("scope"), str) else None,
        audience=sorted(set(audiences)),
        obtained_at=sent_at,
    )


@dataclass
class ObtainedToken:
    token: FunctionToken
    cached: bool
    key: str


def obtain_function_token(
    rt: Runtime,
    subject: SubjectSource,
    audiences: list[str],
    *,
    subject_type: str = "id_token",
    min_ttl: float = DEFAULT_MIN_TTL,
    force: bool = False,
    reject: str | None = None,
) -> ObtainedToken:
    """A cached function token with at least `min_ttl` seconds left, else a new exchange.

    The exchange runs under the entry's lock, and the cache is read again once the lock is
    held: of N processes that miss together, one exchanges and the rest reuse its token.
    `reject` names a token the function just refused: it is never returned from the cache.
    """
    key = function_token_key(rt.settings.gateway, subject.identity, audiences)

    def cached() -> FunctionToken | None:
        if force:
            return None
        entry = rt.store.get(key)
        token = FunctionToken.from_entry(entry) if entry else None
        if token and token.usable(rt.now(), min_ttl) and token.access_token != reject:
            return token
        return None

    # Entries are replaced atomically, so the common warm case needs no lock.
    hit = cached()
    if hit is not None:
        return ObtainedToken(hit, True, key)
    with rt.home.lock(key):
        hit = cached()
        if hit is not None:
            return ObtainedToken(hit, True, key)
        token = request_function_token(rt, subject.fetch(), subject_type, audiences)
        if token.expires_at is not None:
            rt.store.put(key, token.to_entry())
        return ObtainedToken(token, False, key)
