"""faasauth as a library: what `faasauth invoke` and `faasauth exchange` do, for Python code.

    FunctionAuth(gateway=None)   an httpx.Auth for httpx.Client and httpx.AsyncClient
    function_token(audience)     a function token, from the same cache as `faasauth exchange`
    invoke(name, data)           one call, as `faasauth invoke` makes it; the httpx.Response

Where the subject (IdP) token comes from is pluggable (`subject=`): `StoredLogin()` (the
default: the same store, lock and renewal as the CLI, so a script and the CLI share one
exchange), `TokenFile(path)`, `ClientCredentials(...)`, `Ambient()` (the identity a CI job
or pod already has), or any callable returning a token.

Errors are faasauth's (faasauth.errors): `NotLoggedIn`, `ExchangeRefused`, `TransientFailure`
(network, 5xx), `UsageFailure`; each has `.message`, `.hint` and the CLI's `.exit_code`.
Nothing is printed: warnings go to the `faasauth` logger.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Union, runtime_checkable

from faasauth.console import messages_to_logging
from faasauth.gateway.function_auth import FunctionAuth as _FunctionAuth

if TYPE_CHECKING:
    import httpx

    from faasauth.flows.subject import SubjectSource
    from faasauth.runtime import Runtime
    from faasauth.tokens.function import ObtainedToken
    from faasauth.tokens.response import TokenResponse

__all__ = [
    "Ambient",
    "ClientCredentials",
    "FunctionAuth",
    "StoredLogin",
    "Subject",
    "TokenFile",
    "function_token",
    "invoke",
]


@runtime_checkable
class SubjectProvider(Protocol):
    def source(self, rt: Runtime) -> SubjectSource: ...


Subject = Union[SubjectProvider, Callable[[], str]]


class StoredLogin:
    """What the CLI uses: FAASAUTH_SUBJECT_TOKEN, else the login `faasauth auth` stored for
    the gateway (renewed under its lock when near expiry), else faas-cli's config.yml."""

    def source(self, rt: Runtime) -> SubjectSource:
        from faasauth.flows.subject import find_subject

        return find_subject(rt)


@dataclass(frozen=True)
class TokenFile:
    """A token in a file, read afresh for every exchange (a Kubernetes projected token is
    rewritten in place before it expires)."""

    path: str

    def source(self, rt: Runtime) -> SubjectSource:
        from faasauth.flows.subject import subject_from_file

        return subject_from_file(rt, self.path)


@dataclass
class ClientCredentials:
    """A confidential client of the identity provider (RFC 6749 4.4), kept in memory only.

    `client_secret=None` reads FAASAUTH_CLIENT_SECRET (or FAASAUTH_CLIENT_SECRET_FILE) when
    a token is needed; the secret is never stored."""

    authority: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    scope: str | None = None
    _response: TokenResponse | None = field(default=None, init=False, repr=False)
    _expires_at: float | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def source(self, rt: Runtime) -> SubjectSource:
        from faasauth.flows.subject import SubjectSource

        identity = f"client|{self.authority.rstrip('/')}|{self.client_id}"
        return SubjectSource(f"the client {self.client_id}", identity, lambda: self._token(rt))

    def _token(self, rt: Runtime) -> str:
        from faasauth.config.secrets import read_client_secret
        from faasauth.idp.grants import LoginRequest, obtain
        from faasauth.tokens.expiry import expires_at
        from faasauth.tokens.login import RENEW_MARGIN

        with self._lock:
            now = rt.now()
            if self._response is None or (
                self._expires_at is not None and self._expires_at - now < RENEW_MARGIN
            ):
                secret = self.client_secret or read_client_secret(None, rt.env, allow_stdin=False)
                request = LoginRequest(
                    authority=self.authority.rstrip("/"), client_id=self.client_id,
                    grant="client_credentials", scope=self.scope, client_secret=secret,
                )
                self._response, _ = obtain(rt, request, _no_prompt)
                token = self._response.id_token or self._response.access_token
                self._expires_at = expires_at(self._response.expires_in, token, now)
            return self._response.id_token or self._response.access_token


def _no_prompt() -> Any:
    raise AssertionError("client credentials never prompt")


@dataclass
class Ambient:
    """The identity this CI job or pod already has: GitHub Actions (the job needs
    `permissions: id-token: write`), GitLab CI (`id_tokens:` as OPENFAAS_ID_TOKEN),
    Buildkite, CircleCI, or a Kubernetes projected token file (`token_file`, default
    /var/secrets/tokens/openfaas-token). A fresh token is fetched for every exchange;
    `audience` defaults to the gateway's URL."""

    audience: str | None = None
    token_file: str | None = None

    def source(self, rt: Runtime) -> SubjectSource:
        from faasauth.flows.subject import SubjectSource
        from faasauth.idp.ambient import KUBERNETES_TOKEN_FILE, check_audience, detect

        found = detect(
            rt.env, self.audience or rt.settings.gateway,
            kubernetes_token_file=self.token_file or KUBERNETES_TOKEN_FILE,
            timeout=rt.settings.timeout,
        )
        def fetch() -> str:
            token = found.fetch(client=rt.client)
            check_audience(token, rt.settings.gateway, found)  # sent only where it is for
            return token

        return SubjectSource(found.describe(), found.identity, fetch)


@dataclass(frozen=True)
class _CallableSubject:
    fetch: Callable[[], str]

    def source(self, rt: Runtime) -> SubjectSource:
        from faasauth.flows.subject import fixed_subject

        return fixed_subject("the subject callable", self.fetch())


def _provider(subject: Subject | None) -> SubjectProvider:
    if subject is None:
        return StoredLogin()
    if isinstance(subject, SubjectProvider):
        return subject
    return _CallableSubject(subject)


def _runtime(
    gateway: str | None,
    *,
    namespace: str | None = None,
    function: str | None = None,
    verify: bool = True,
    cacert: str | None = None,
    timeout: float | None = None,
    proxy: bool | None = False,
) -> Runtime:
    from faasauth.config.settings import resolve_settings
    from faasauth.runtime import Runtime

    with messages_to_logging():
        settings = resolve_settings(
            gateway=gateway, namespace=namespace, function=function, tls_no_verify=not verify,
            cacert=cacert, timeout=timeout,
        )
    probe = Runtime(settings)
    if proxy is False:
        return probe
    return Runtime(settings, env=_through_proxy(probe, proxy))


def _through_proxy(rt: Runtime, required: bool | None) -> Mapping[str, str]:
    """The environment that sends this gateway's requests over a running proxy's kept
    connections (faasauth/relay.py), as a `faasauth invoke` handed to it does: the
    decisions (challenge, tokens from the cache the proxy keeps renewed) stay here.

    `required=None`: the proxy FAASAUTH_PROXY names, when it serves this gateway; else
    direct. `required=True`: that one or this gateway's own, and an error without one."""
    import os

    from faasauth.proxy.lifecycle import default_socket, running_status
    from faasauth.relay import RELAY_GATEWAY, RELAY_SOCKET

    gateway = rt.settings.gateway
    named = rt.env.get("FAASAUTH_PROXY")
    places = [named] if named else []
    if required:
        places.append(default_socket(rt))
    for path in places:
        if path and os.path.exists(path):
            found = running_status(path, timeout=1.0)
            if found is not None and found.get("gateway") == gateway:
                return {**rt.env, RELAY_SOCKET: path, RELAY_GATEWAY: gateway}
    if required:
        from faasauth.errors import UsageFailure

        raise UsageFailure(f"no faasauth proxy serves {gateway}",
                           hint='start one: eval "$(faasauth proxy --background)"')
    return rt.env


class FunctionAuth(_FunctionAuth):
    """An `httpx.Auth` that calls protected OpenFaaS functions as `faasauth invoke` does.

    No token on a first call; the watchdog's challenge (401, `Bearer realm=IAM function
    invoke`) is answered with one exchange and one retry, and the function is remembered,
    so later calls send the token at once; a cached token the function refuses is
    exchanged afresh once; 403 and other 401s come back to you untouched. The token goes
    only to requests for `gateway`, and tokens are cached and shared with the CLI.

        import httpx, faasauth

        with httpx.Client(base_url="https://gw.example.com",
                          auth=faasauth.FunctionAuth("https://gw.example.com")) as client:
            print(client.post("/function/figlet", content=b"hi").text)

    `gateway=None` resolves it as the CLI does (OPENFAAS_URL, stack.yml, the default).
    `always=True` sends a token on the first request (needed for /async-function/, whose
    202 never shows a challenge). `audience="ns:name"` narrows every token to one function.
    `proxy=True` (or None with FAASAUTH_PROXY set) sends its token exchanges over a running
    `faasauth proxy`'s kept connections; its tokens are those the proxy keeps renewed.
    """

    def __init__(
        self,
        gateway: str | None = None,
        *,
        subject: Subject | None = None,
        always: bool = False,
        audience: str | None = None,
        remember: bool = True,
        verify: bool = True,
        cacert: str | None = None,
        timeout: float | None = None,
        proxy: bool | None = False,
    ) -> None:
        from faasauth.store.remembered import RememberedFunctions

        rt = _runtime(gateway, verify=verify, cacert=cacert, timeout=timeout, proxy=proxy)
        self.runtime = rt
        super().__init__(
            rt.settings.gateway,
            _token_source(rt, _provider(subject)),
            notes=RememberedFunctions(rt.home, clock=rt.clock) if remember else None,
            always=always,
            audience=audience,
        )

    def close(self) -> None:
        """Close the client used for exchanges (also done when it is garbage collected)."""
        self.runtime.close()


def _token_source(rt: Runtime, provider: SubjectProvider) -> Callable[..., ObtainedToken]:
    from faasauth.flows.exchange import obtain_function_token

    def tokens(audience: str, reject: str | None = None) -> ObtainedToken:
        with messages_to_logging():
            return obtain_function_token(rt, provider.source(rt), [audience], reject=reject)

    return tokens


def function_token(
    audience: str | None = None,
    gateway: str | None = None,
    *,
    subject: Subject | None = None,
    min_ttl: float = 30.0,
) -> str:
    """A function access token for `audience` (`"ns:name"`; None: every function the
    identity may invoke), from the same cache as `faasauth exchange`.

        token = faasauth.function_token("openfaas-fn:figlet")
        httpx.post(url, headers={"Authorization": f"Bearer {token}"}, content=b"hi")
    """
    from faasauth.flows.exchange import obtain_function_token

    rt = _runtime(gateway)
    try:
        with messages_to_logging():
            source = _provider(subject).source(rt)
            audiences = [_audience(audience)] if audience else []
            return obtain_function_token(rt, source, audiences, min_ttl=min_ttl).token.access_token
    finally:
        rt.close()


def invoke(
    name: str,
    data: bytes = b"",
    *,
    namespace: str | None = None,
    gateway: str | None = None,
    method: str = "POST",
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    subject: Subject | None = None,
    always: bool = False,
    timeout: float | None = None,
    proxy: bool | None = None,
) -> httpx.Response:
    """Call function `name` (`"env"`, or `"env.dev"` for namespace dev) once, as
    `faasauth invoke` does, and return its answer, whatever its status.

        answer = faasauth.invoke("figlet", b"hello")
        answer.raise_for_status()
        print(answer.text)

    Probe, exchange and retry share one connection. With a `faasauth proxy` running for
    the gateway (FAASAUTH_PROXY, or `proxy=True` for this gateway's own), they go over its
    kept connections: no new TLS handshake, tokens it keeps renewed; `proxy=False` never.
    `timeout` (seconds, default 60) bounds each network step, connecting and each read of
    the answer, not the whole call: a function that keeps sending takes as long as it
    sends (the answer is read whole). Bound the call yourself where that matters.
    Network failures raise
    faasauth.errors.TransientFailure; refusals to give a token raise NotLoggedIn or
    ExchangeRefused.
    """
    import httpx

    from faasauth.gateway.call import Invocation
    from faasauth.http import transport_failure
    from faasauth.store.remembered import RememberedFunctions

    rt = _runtime(gateway, namespace=namespace, function=name, timeout=timeout, proxy=proxy)
    try:
        from faasauth.config.names import function_and_namespace

        name, call_namespace = function_and_namespace(name, rt.settings.namespace,
                                                      rt.settings.namespace_source)
        invocation = Invocation(name=name, namespace=call_namespace)
        auth = _FunctionAuth(
            rt.settings.gateway,
            _token_source(rt, _provider(subject)),
            notes=RememberedFunctions(rt.home, clock=rt.clock),
            always=always,
        )
        request = rt.client.build_request(
            method.upper(), invocation.url(rt.settings.gateway), content=data,
            headers=dict(headers or {}), params=dict(params or {}) or None,
        )
        try:
            response = rt.client.send(request, auth=auth, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise transport_failure(exc, f"invoke {invocation.target}", rt.settings) from exc
        return response
    finally:
        rt.close()


def _audience(value: str) -> str:
    from faasauth.errors import UsageFailure

    namespace, sep, name = value.partition(":")
    if not sep or not namespace or not name:
        raise UsageFailure(f"invalid audience {value!r}: use NAMESPACE:NAME")
    return value
