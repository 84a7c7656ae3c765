"""FunctionAuth: an `httpx.Auth` that answers OpenFaaS's IAM challenge, the one
implementation behind `faasauth invoke` and the library (`faasauth.FunctionAuth`).

    a request not to <gateway>/function/... or /async-function/...   sent untouched
    a request that carries its own Authorization                     sent untouched
    first request   remembered function, or always=True:  Authorization: Bearer <token>
                    otherwise:                            no Authorization (a probe)
    401 with the challenge `Bearer realm=IAM function invoke`
        after a probe           remember the function; get a token; send again
        after a cached token    exchange afresh (never the refused token); send again
        after a fresh token     final: the 401 is the answer
    anything else (403, other 401s, 2xx...)   the answer, untouched

A remembered function whose token cannot be had (no login, exchange refused) is called
once without one: if it still asks, the reason it could not be had is raised; if it
answers, it stopped asking and the note is forgotten. A token is only ever attached to a
request for the gateway it was issued for; on a redirect httpx itself drops it when the
origin changes.

The body of a request that may be sent twice is kept: bytes as they are, a stream that
knows how to replay itself (faasauth.gateway.body.Replayable) by asking it, any other
stream by a spooled copy (faasauth.gateway.body.Tee).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, AsyncGenerator, Callable, Generator, Protocol
from urllib.parse import unquote

import httpx

from faasauth.config.names import split_service
from faasauth.config.settings import DEFAULT_NAMESPACE
from faasauth.errors import Refused
from faasauth.gateway.replay import Replayable, Tee
from faasauth.gateway.challenge import is_function_invoke_challenge
from faasauth.gateway.misdirected import token_dropped_at
from faasauth.tokens.response import is_token_text

if TYPE_CHECKING:
    from faasauth.store.remembered import RememberedFunctions
    from faasauth.tokens.function import ObtainedToken

CHALLENGE_BODY_LIMIT = 64 * 1024  # read at most this much of a challenge we answer


class TokenSource(Protocol):
    """A function token for `audience`; never `reject`, a token the function just refused."""

    def __call__(self, audience: str, reject: str | None = None) -> ObtainedToken: ...


def function_target(url: httpx.URL, gateway: httpx.URL) -> tuple[str, bool] | None:
    """(`<namespace>:<name>`, is_async) when `url` calls a function on `gateway`."""
    if (url.scheme, url.host, url.port) != (gateway.scheme, gateway.host, gateway.port):
        return None
    base = gateway.path.rstrip("/")
    path = url.path
    if not path.startswith(base + "/"):
        return None
    rest = path[len(base):]
    for prefix, is_async in (("/function/", False), ("/async-function/", True)):
        if rest.startswith(prefix):
            name, namespace = split_service(unquote(rest[len(prefix):].split("/", 1)[0]))
            if name:
                return f"{namespace or DEFAULT_NAMESPACE}:{name}", is_async
    return None


class FunctionAuth(httpx.Auth):
    """Answer the IAM function-invoke challenge for calls to one gateway.

    `tokens` gives function tokens (faasauth.flows.exchange, cached and locked); `notes`
    remembers which functions ask for one (None: remember nothing); `always` sends a token
    on the first request (faas-cli's --auth: async calls never see a challenge);
    `audience` asks for one audience instead of each call's `<namespace>:<name>`;
    `on_note` hears what the flow decided (the CLI's --verbose lines).
    """

    def __init__(
        self,
        gateway: str,
        tokens: TokenSource,
        *,
        notes: RememberedFunctions | None = None,
        always: bool = False,
        audience: str | None = None,
        on_note: Callable[[str], None] | None = None,
    ) -> None:
        self.gateway = gateway
        self._gateway_url = httpx.URL(gateway)
        self.tokens = tokens
        self.notes = notes
        self.always = always
        self.audience = audience
        self.on_note = on_note
        # What the last flow did, for a caller that reports on it (the CLI).
        self.sent_token: str | None = None
        self.challenged = False
        self.requests = 0
        # The URL a challenge came from when a redirect took the call to another origin,
        # where httpx never carries the token: not answered (faasauth.gateway.misdirected).
        self.redirected: httpx.URL | None = None

    # -- httpx's two entry points --------------------------------------------------------

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        flow = _Flow(self, request)
        response = yield flow.first()
        while (retry := flow.after(response, _read_sync)) is not None:
            response = yield retry
        flow.done(response)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        import anyio.to_thread

        # The token source locks files and may exchange over the network: not on the loop.
        flow = _Flow(self, request)
        response = yield await anyio.to_thread.run_sync(flow.first)
        while True:
            if flow.will_retry(response):
                await _read_async(response)
            retry = await anyio.to_thread.run_sync(flow.after, response, _already_read)
            if retry is None:
                break
            response = yield retry
        flow.done(response)

    def note(self, message: str) -> None:
        if self.on_note is not None:
            self.on_note(message)


class _Flow:
    """One request's way through the challenge: at most one probe, at most one token
    replaced after a refusal."""

    def __init__(self, auth: FunctionAuth, request: httpx.Request) -> None:
        self.auth = auth
        self.request = request
        auth.sent_token, auth.challenged, auth.requests = None, False, 0
        auth.redirected = None
        found = function_target(request.url, auth._gateway_url)
        self.manual = found is None or "authorization" in request.headers
        self.target, self.is_async = found if found is not None else ("", False)
        self.remembered = False
        self.token: ObtainedToken | None = None
        self.unavailable: Refused | None = None  # why a remembered function gets no token
        self.replaced = False

    @property
    def audience(self) -> str:
        return self.auth.audience or self.target

    def first(self) -> httpx.Request:
        auth, request = self.auth, self.request
        if self.manual:
            auth.requests += 1
            return request
        notes = auth.notes
        self.remembered = notes is not None and notes.needs_auth(auth.gateway, self.target)
        if auth.always or self.remembered:
            try:
                self.token = auth.tokens(self.audience)
            except Refused as exc:
                if auth.always:
                    raise
                self.unavailable = exc
                auth.note(f"{self.target} needed a token, but none can be had now "
                          f"({exc.message}); trying without one")
        if self.token is not None:
            auth.note(f"{self.target}: sending a {'cached' if self.token.cached else 'new'} "
                      f"token{' (remembered: it asks for one)' if self.remembered else ''}")
            self._authorize(request)
        # A copy of the body is kept whenever a second request may follow.
        probing = self.token is None and self.unavailable is None
        if probing or self.token is not None and self.token.cached:
            _keep_body(request, likely=probing)
        auth.requests += 1
        return request

    def will_retry(self, response: httpx.Response) -> bool:
        """Whether `after(response)` would send the request again (no side effects)."""
        return (
            not self.manual
            and response.status_code == 401
            and is_function_invoke_challenge(response.headers.get_list("www-authenticate"))
            and (self.token is None or (self.token.cached and not self.replaced))
            and token_dropped_at(response) is None
        )

    def after(
        self, response: httpx.Response, read: Callable[[httpx.Response], None]
    ) -> httpx.Request | None:
        """The next request to send, or None when `response` is the answer."""
        auth = self.auth
        challenged = response.status_code == 401 and is_function_invoke_challenge(
            response.headers.get_list("www-authenticate")
        )
        auth.challenged = challenged
        if not challenged or self.manual:
            return None
        auth.redirected = token_dropped_at(response)
        if auth.redirected is not None:
            auth.note(f"{self.target}: the challenge came from {auth.redirected}, another "
                      "origin, which a token is never sent to; none asked for")
            return None
        if not self.remembered and auth.notes is not None:
            auth.notes.remember(auth.gateway, self.target)
        self.remembered = True
        if self.token is None:
            read(response)  # frees the connection for the exchange
            if self.unavailable is not None:
                raise self.unavailable
            auth.note(f"{self.target} asks for a token (remembered for next time)")
            self.token = auth.tokens(self.audience)  # NotLoggedIn etc. end it here
        elif self.token.cached and not self.replaced:
            read(response)
            auth.note(f"{self.target} refused the cached token; exchanging afresh")
            self.token = auth.tokens(self.audience, self.token.token.access_token)
            self.replaced = True
        else:
            return None  # a token fresh from the exchange refused: final
        retry = _again(self.request)
        self._authorize(retry)
        auth.requests += 1
        return retry

    def done(self, response: httpx.Response) -> None:
        auth = self.auth
        if (
            not self.manual
            and self.token is None
            and self.remembered
            and not self.is_async
            and not auth.challenged
            and response.status_code < 500
            and auth.notes is not None
        ):
            auth.note(f"{self.target} answered without a token: forgetting that it needed one")
            auth.notes.forget(auth.gateway, self.target)

    def _authorize(self, request: httpx.Request) -> None:
        assert self.token is not None
        token = self.token.token.access_token
        if not is_token_text(token):  # the rule every token answer met (tokens.response)
            from faasauth.errors import MalformedResponse

            # Never the token itself in the message: it is a secret, and may be forged.
            raise MalformedResponse(
                f"the token for {self.target} holds characters an HTTP header cannot carry "
                "(spaces, control or non-ASCII characters); it was not sent",
                hint="the gateway's token exchange answered a malformed access_token",
            )
        request.headers["Authorization"] = f"Bearer {token}"
        self.auth.sent_token = token


def _keep_body(request: httpx.Request, *, likely: bool) -> None:
    stream = request.stream
    if isinstance(stream, (httpx.ByteStream, Replayable)):
        if isinstance(stream, Replayable):
            stream.keep_copy(likely=likely)
        return
    request.stream = Tee(stream)


def _again(request: httpx.Request) -> httpx.Request:
    """The same request once more, with exactly the same body."""
    stream = request.stream
    headers = request.headers.copy()
    if isinstance(stream, (Replayable, Tee)):
        stream, length = stream.again()
        if length is not None:
            headers.pop("transfer-encoding", None)
            headers["Content-Length"] = str(length)
    retry = httpx.Request(request.method, request.url, headers=headers, stream=stream,
                          extensions=request.extensions)
    return retry


def _read_sync(response: httpx.Response) -> None:
    """Read a challenge's body, at most CHALLENGE_BODY_LIMIT bytes: it releases the
    connection to the pool for the exchange, and an endless body cannot hold us."""
    parts: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        parts.append(chunk)
        total += len(chunk)
        if total > CHALLENGE_BODY_LIMIT:
            response.close()
            break
    _keep_read(response, parts)


def _already_read(response: httpx.Response) -> None:
    return None


async def _read_async(response: httpx.Response) -> None:
    parts: list[bytes] = []
    total = 0
    async for chunk in response.aiter_bytes():
        parts.append(chunk)
        total += len(chunk)
        if total > CHALLENGE_BODY_LIMIT:
            await response.aclose()
            break
    _keep_read(response, parts)


def _keep_read(response: httpx.Response, parts: list[bytes]) -> None:
    # httpx reads every intermediate answer of an auth flow once more (response.read());
    # what was read here is that content, so it does not read the stream a second time.
    response._content = b"".join(parts)[:CHALLENGE_BODY_LIMIT]
