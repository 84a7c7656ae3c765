"""One call through the proxy: the caller's request sent on to the gateway with the
function token added as `faasauth invoke` decides it (the same FunctionAuth: challenge,
remembered functions, --auth, --audience), the answer streamed back.

    caller's Authorization   passed through untouched; the proxy adds none (never mixed)
    hop-by-hop headers       dropped both ways (Connection, Keep-Alive, TE, Upgrade, ...)
    redirects                answered to the caller; a Location on the gateway's own origin
                             is rewritten to the proxy, any other left as it is
    the token                never in an answer: where the gateway or a function echoes it
                             (the watchdog's "invalid JWT token: <token>"), in a header or
                             the body, it is overwritten with '*' of the same length, so a
                             Content-Length stays true

The relay (`X-Faasauth-Relay: 1`, unix socket only) is for `faasauth invoke` run by the
proxy (proxy/handoff.py): that request already carries what invoke decided and is sent on
over the warm connections as it is, the answer returned raw.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, TypeVar

from faasauth.errors import FaasauthError, LoginFailed, NotLoggedIn, Refused, TransientFailure
from faasauth.runtime import Runtime

if TYPE_CHECKING:
    import httpx

    from faasauth.flows.subject import SubjectSource
    from faasauth.store.remembered import RememberedFunctions
    from faasauth.tokens.function import ObtainedToken

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "trailers", "transfer-encoding", "upgrade",
    "host", "content-length", "expect",
})
RELAY_HEADER = "x-faasauth-relay"
FUNCTION_PREFIXES = ("/function/", "/async-function/")
MEMO_SECONDS = 1.0
_T = TypeVar("_T")


@dataclass
class Answer:
    """What goes back to the caller: status, headers, and the body as it arrives."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: Iterator[bytes]
    length: int | None
    close: Callable[[], None] = lambda: None
    # For the log line: "token" (the proxy added a function token), "caller" (the
    # caller's own Authorization, passed through), "relay" (a handed-off invoke's request,
    # sent as it came), "none" (no token: an open function, or the first, probing call).
    token: str = "none"


@dataclass
class Forwarder:
    """The proxy's one Runtime (settings, store, warm client) and what it decided."""

    rt: Runtime
    always: bool = False
    audience: str | None = None
    audiences: set[str] = field(default_factory=set)  # asked for: kept renewed
    _subject: SubjectSource | None = None
    _subject_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # The last token per audience and when it was read: the store is read again after
    # MEMO_SECONDS (another process's exchange or logout is seen within that time).
    _memo: dict[str, tuple[float, ObtainedToken]] = field(default_factory=dict)
    _notes: RememberedFunctions | None = None

    @property
    def gateway(self) -> str:
        return self.rt.settings.gateway

    def subject(self) -> SubjectSource:
        """The login's subject, looked up again after MEMO_SECONDS (a `faasauth logout` or
        a new login elsewhere is followed, never undone by an exchange with the login held
        in memory). Any failure to find or renew it that is not the network's (a token file
        gone or expired, a refused refresh) is NotLoggedIn with what to run: the caller's
        401, the renewal's one line on stderr."""
        with self._lock:
            now = time.monotonic()
            if self._subject is None or now - self._subject_at >= MEMO_SECONDS:
                from faasauth.flows.subject import SubjectSource, find_subject

                self._subject = None
                found = self._as_login_problem(lambda: find_subject(self.rt, faas_cli=False))
                self._subject = SubjectSource(
                    found.description, found.identity,
                    lambda: self._as_login_problem(found.fetch))
                self._subject_at = now
            return self._subject

    def _as_login_problem(self, work: Callable[[], _T]) -> _T:
        try:
            return work()
        except TransientFailure:
            raise  # the IdP, the CI platform or the store lock: a 502
        except FaasauthError as exc:
            raise NotLoggedIn(exc.message, hint=self._relogin_hint(exc.hint)) from None

    def _relogin_hint(self, hint: str | None) -> str | None:
        """For an ambient login, the `auth --ambient` that makes it again (the generic
        hint would name --authority); otherwise the error's own hint."""
        login = self.rt.cache.find_login(self.gateway)
        if login is None or login.grant != "ambient" or not login.source:
            return hint
        from faasauth.tokens.login import auth_command

        command = "run: " + auth_command(self.gateway, login)
        return command if not hint or hint.startswith("run: ") else f"{hint}; then {command}"

    def forget_subject(self) -> None:
        with self._lock:
            self._subject = None
            self._memo.clear()

    def notes(self) -> RememberedFunctions:
        if self._notes is None:
            from faasauth.store.remembered import RememberedFunctions

            self._notes = RememberedFunctions(self.rt.home, clock=self.rt.clock,
                                              fresh_for=MEMO_SECONDS)
        return self._notes

    def tokens(self, audience: str, reject: str | None = None) -> ObtainedToken:
        from faasauth.flows.exchange import DEFAULT_MIN_TTL, obtain_function_token

        memo = self._memo.get(audience)
        if memo is not None and reject is None and time.monotonic() - memo[0] < MEMO_SECONDS \
                and memo[1].token.usable(self.rt.now(), DEFAULT_MIN_TTL):
            return memo[1]
        with self._lock:
            self.audiences.add(audience)
        try:
            got = obtain_function_token(self.rt, self.subject(), [audience], reject=reject)
        except NotLoggedIn:
            self.forget_subject()  # a login made since is found on the next call
            raise
        self.keep(audience, got)
        return got

    def keep(self, audience: str, got: ObtainedToken) -> None:
        """Remember `got` for the next calls (the renewal gives its new tokens here too)."""
        from faasauth.tokens.function import ObtainedToken

        if got.token.expires_at is not None:
            self._memo[audience] = (time.monotonic(), ObtainedToken(got.token, True, got.key))

    # -- one call ------------------------------------------------------------------------

    def call(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: httpx.SyncByteStream | None,
        length: int | None,
        proxy_base: str,
    ) -> Answer:
        import httpx

        relay = any(n.lower() == RELAY_HEADER for n, _ in headers)
        sent = [(n, v) for n, v in headers if n.lower() not in HOP_BY_HOP
                and n.lower() != RELAY_HEADER]
        if body is not None:
            sent.append(("Content-Length", str(length)) if length is not None
                        else ("Transfer-Encoding", "chunked"))
        url = self.gateway + target
        client = self.rt.client
        request = client.build_request(method, url, headers=sent)
        if body is not None:  # the client's defaults are in; now the streamed body
            request = httpx.Request(request.method, request.url, headers=request.headers,
                                    stream=body, extensions=request.extensions)
        auth: httpx.Auth | None = None
        function_auth = None
        if not relay:
            from faasauth.gateway.function_auth import FunctionAuth

            function_auth = FunctionAuth(self.gateway, self.tokens, notes=self.notes(),
                                         always=self.always, audience=self.audience)
            auth = function_auth
        try:
            response = client.send(request, auth=auth or httpx.USE_CLIENT_DEFAULT,
                                   stream=True, follow_redirects=False)
        except httpx.HTTPError as exc:
            from faasauth.http import transport_failure

            raise transport_failure(exc, f"calling {target}", self.rt.settings) from exc
        sent_token = function_auth.sent_token if function_auth is not None else None
        kind = "relay" if relay else "caller" if request.headers.get("authorization") \
            and sent_token is None else "none"
        if function_auth is not None and sent_token is not None:
            kind = "token"
        out_headers = []
        for name, value in response.headers.multi_items():
            lowered = name.lower()
            if lowered in HOP_BY_HOP:
                continue
            if lowered == "location" and not relay:
                value = self._local_location(value, proxy_base)
            if sent_token and sent_token in value:
                value = value.replace(sent_token, "*" * len(sent_token))
            out_headers.append((name, value))
        raw = response.headers.get("content-length")
        known = int(raw) if raw is not None and raw.isdigit() else None
        chunks: Iterator[bytes] = response.iter_raw()
        if sent_token and not relay:
            encoded = response.headers.get("content-encoding", "identity").lower()
            if encoded in ("", "identity"):
                chunks = masked(chunks, sent_token.encode("ascii"))
        return Answer(response.status_code, response.reason_phrase, out_headers,
                      _translated(chunks, target, self), known, response.close, kind)

    def _local_location(self, value: str, proxy_base: str) -> str:
        """A redirect to the gateway's own origin points at the proxy; any other stays."""
        from urllib.parse import urljoin, urlsplit

        absolute = urljoin(self.gateway + "/", value)
        gateway, there = urlsplit(self.gateway), urlsplit(absolute)
        if (gateway.scheme, gateway.netloc.lower()) != (there.scheme, there.netloc.lower()):
            return value
        rest = absolute[len(f"{there.scheme}://{there.netloc}"):]
        base_path = gateway.path.rstrip("/")
        if base_path and rest.startswith(base_path):
            rest = rest[len(base_path):]
        return proxy_base + (rest or "/")


def masked(chunks: Iterator[bytes], secret: bytes) -> Iterator[bytes]:
    """`chunks` with every occurrence of `secret` overwritten by '*' of its length, even
    one split across chunks: the last len(secret)-1 bytes wait for the next chunk."""
    keep = len(secret) - 1
    stars = b"*" * len(secret)
    tail = b""
    for chunk in chunks:
        if not chunk:
            continue
        data = tail + chunk
        if secret in data:
            data = data.replace(secret, stars)
        if len(data) > keep:
            tail = data[len(data) - keep:] if keep else b""
            yield data[: len(data) - keep] if keep else data
        else:
            tail = data
    if tail:
        yield tail


def _translated(chunks: Iterator[bytes], target: str, forwarder: Forwarder) -> Iterator[bytes]:
    """The body's transport failures as faasauth's (the handler ends the connection)."""
    import httpx

    try:
        yield from chunks
    except httpx.HTTPError as exc:
        from faasauth.http import transport_failure

        raise transport_failure(exc, f"reading the answer of {target}",
                                forwarder.rt.settings) from exc


def now_ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


def refusal(exc: FaasauthError) -> tuple[int, str]:
    """The status and text a caller gets when the proxy cannot make the call itself: not
    logged in or the login not renewable 401, refused 403, the network 502 (504 timed out)."""
    text = f"faasauth proxy: {exc.message}\n"
    if exc.hint:
        text += f"hint: {exc.hint}\n"
    if isinstance(exc, (NotLoggedIn, LoginFailed)):
        return 401, text
    if isinstance(exc, Refused):
        return 403, text
    from faasauth.proxy.bodies import BodyNotKept

    if isinstance(exc, BodyNotKept):
        return 503, text
    if isinstance(exc, TransientFailure):
        return (504 if "timed out" in exc.message else 502), text
    return 500, text
