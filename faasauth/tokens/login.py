"""The stored IdP login for a gateway: token set plus the settings to renew it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Mapping, get_args

from faasauth.tokens.expiry import expires_at as expiry_time
from faasauth.tokens.expiry import finite_number
from faasauth.tokens.jwt import claim_text, unverified_claims
from faasauth.tokens.response import TokenResponse, is_token_text

# How the login was obtained: a grant at the IdP, a token supplied from outside, or an
# ambient identity (a CI job's or pod's ID token, fetched again from its `source`).
LoginGrant = Literal["client_credentials", "device", "code", "token", "ambient"]
LOGIN_GRANTS: tuple[str, ...] = get_args(LoginGrant)

# Renew a login this long before its subject token expires, so the gateway never sees
# a token that dies in flight.
RENEW_MARGIN = 30.0
# Renew faas-cli's API token this long before it expires: more than two of the proxy's
# background rounds (faasauth.proxy.renewal.INTERVAL), so faas-cli never holds a dead one.
API_TOKEN_MARGIN = 60.0


@dataclass(frozen=True)
class FaasCliEntry:
    """The faas-cli config.yml entry `auth --faas-cli` wrote for the login's gateway: the
    file (an absolute path: the one written, whatever the environment says later), the
    SHA-256 of the API token written there (is the entry still faasauth's?), and when that
    token expires. Renewed with the login (faasauth.flows.faas_cli.renew_api_token)."""

    config: str
    token_sha256: str = field(repr=False)
    expires_at: float | None = None

    def due(self, now: float, margin: float = API_TOKEN_MARGIN) -> bool:
        return self.expires_at is not None and self.expires_at - now < margin

    @classmethod
    def from_entry(cls, value: Any) -> FaasCliEntry | None:
        """The stored record, or None for one that is not (the login itself is kept)."""
        if not isinstance(value, dict):
            return None
        config, digest, expires = (value.get("config"), value.get("token_sha256"),
                                   value.get("expires_at"))
        if not (isinstance(config, str) and config.startswith("/") and isinstance(digest, str)
                and len(digest) == 64 and set(digest) <= set("0123456789abcdef")
                and (expires is None or finite_number(expires))):
            return None
        return cls(config, digest, expires)


@dataclass
class Login:
    gateway: str
    authority: str | None = None
    client_id: str | None = None
    grant: LoginGrant = "token"
    scope: str | None = None
    token_endpoint: str | None = None
    auth_method: str | None = None  # client_secret_basic | client_secret_post | none
    id_token: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    obtained_at: float = 0.0
    issuer: str | None = None
    subject: str | None = None
    # grant "ambient": where the token comes from (faasauth.idp.ambient's `settings()`,
    # no secret), so that renewal fetches a fresh one from the same place.
    source: dict[str, str] | None = None
    # faas-cli's entry `auth --faas-cli` wrote from this login, kept renewed with it.
    faas_cli: FaasCliEntry | None = None

    @property
    def subject_token(self) -> str | None:
        return self.id_token or self.access_token

    @property
    def identity(self) -> str:
        """Who this login is, stable across renewals: part of function-token cache keys."""
        return f"login|{self.authority}|{self.client_id}|{self.issuer}|{self.subject}"

    def seconds_left(self, now: float) -> float | None:
        return None if self.expires_at is None else self.expires_at - now

    def needs_renewal(self, now: float) -> bool:
        left = self.seconds_left(now)
        return self.subject_token is None or (left is not None and left < RENEW_MARGIN)

    @property
    def refreshable(self) -> bool:
        return bool(self.refresh_token) or self.grant in ("client_credentials", "ambient")

    def to_entry(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> Login | None:
        """The stored login, or None when the entry is not one we wrote (a cache miss)."""
        known = {f.name for f in fields(cls)} - {"faas_cli"}
        try:
            login = cls(**{k: v for k, v in entry.items() if k in known})
        except TypeError:
            return None
        login.faas_cli = FaasCliEntry.from_entry(entry.get("faas_cli"))
        texts = (login.authority, login.client_id, login.scope, login.token_endpoint,
                 login.auth_method, login.id_token, login.access_token, login.refresh_token,
                 login.issuer, login.subject)
        numbers = (login.expires_at, login.obtained_at)
        tokens = (login.id_token, login.access_token, login.refresh_token)
        if not (isinstance(login.gateway, str) and login.gateway and login.grant in LOGIN_GRANTS
                and all(v is None or isinstance(v, str) for v in texts)
                and all(v is None or finite_number(v)
                        for v in numbers)
                and _valid_source(login.grant, login.source)
                and all(is_token_text(t) for t in tokens if t)):
            return None
        return login

    @classmethod
    def from_token_response(
        cls, gateway: str, response: TokenResponse, now: float, **settings: Any
    ) -> Login:
        """Keep what an IdP token endpoint returned; the subject is the id_token if any."""
        id_token = response.id_token
        subject_token = id_token or response.access_token
        # An ID token's life is its own `exp`, not the access token's `expires_in`.
        expires = expiry_time(None, id_token, now) if id_token else None
        if expires is None:
            expires = expiry_time(response.expires_in, subject_token, now)
        claims = unverified_claims(subject_token)
        previous_refresh = settings.pop("refresh_token", None)
        return cls(
            gateway=gateway,
            id_token=id_token,
            access_token=response.access_token,
            refresh_token=response.refresh_token or previous_refresh,
            expires_at=expires,
            obtained_at=now,
            issuer=claim_text(claims.get("iss")),
            subject=claim_text(claims.get("sub")),
            **settings,
        )


def _valid_source(grant: str, source: Any) -> bool:
    """An ambient login names its source (a mapping of texts); other logins have none."""
    if source is None:
        return grant != "ambient"
    return (grant == "ambient" and isinstance(source, dict) and bool(source)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in source.items()))


PERSON_SCOPE = "openid offline_access"  # the default scope of the grants for a person


def auth_arguments(
    authority: str | None, client_id: str | None, grant: str | None = None,
    scope: str | None = None,
) -> str:
    """`faasauth auth`'s flags for these settings, shell-quoted; placeholders only for
    what nobody has said."""
    import shlex

    words = ["--authority", authority or "ISSUER_URL", "--client-id", client_id or "ID"]
    if grant and grant != "token":
        words += ["--grant", grant]
    person = grant in ("device", "device_code", "code", "authorization_code")
    if scope is not None and scope != (PERSON_SCOPE if person else ""):
        words += ["--scope", scope]
    return " ".join(w if w.isupper() else shlex.quote(w) for w in words)


def auth_command(gateway: str | None, login: Login | None = None, *,
                 authority: str | None = None, client_id: str | None = None) -> str:
    """The command that logs in (again) to `gateway` (None: the default gateway): with the
    stored login's settings when there is one, else with the configured ones."""
    import shlex

    where = f"-g {shlex.quote(gateway)} " if gateway else ""
    if login is not None and login.grant == "ambient" and login.source:
        # The pod's or job's identity again: --authority would ask for an IdP it never used.
        words = ["--ambient"]
        if login.source.get("path"):
            words += ["--token-file", str(login.source["path"])]
        audience = login.source.get("audience")
        if audience and audience != login.gateway:
            words += ["--ambient-audience", str(audience)]
        return f"faasauth auth {where}{shlex.join(words)}"
    if login is not None and login.authority:
        arguments = auth_arguments(login.authority, login.client_id, login.grant, login.scope)
    else:
        arguments = auth_arguments(authority, client_id)
    return f"faasauth auth {where}{arguments}"
