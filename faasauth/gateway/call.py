"""Calling a function, answering its IAM challenge: the wire side of `faasauth invoke`.

    first request   remembered function or --auth:  Authorization: Bearer <token>
                    otherwise:                      no Authorization (a probe)
    401 with the challenge `Bearer realm=IAM function invoke`
        after a probe           remember the function; get a token; send again
        after a cached token    exchange afresh (never the refused token); send again
        after a fresh token     final
    any other 401, every 403    final: FunctionRefused (exit 4)

A remembered function whose token cannot be had (no login, exchange refused) is called
once without one: if it still asks, the reason it could not be had is the error; if it
answers, it stopped asking and the note is forgotten.

Redirects are followed as Go's client (faas-cli's) follows them, at most MAX_REDIRECTS
(faasauth.http) hops, each a line with -v: 301, 302 and 303 turn the call into a GET
without a body, 307 and 308 send the same method and body again (a regular file or a kept
copy; a pipe sent without a copy cannot be, and says so). The token goes only to the
gateway's own origin: httpx drops it on a hop to another scheme, host or port (an
http -> https upgrade of the same host aside), so never from https to http; a challenge
from there is not answered, and the message names the URL to give as -g (misdirected).

Collaborators come in as arguments: the HTTP client, the token source, the notes, the
body and the output stream; `faasauth.flows.invoke` wires the real ones.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol
from urllib.parse import quote

from faasauth.gateway.challenge import is_function_invoke_challenge
from faasauth.console import Output, say, warn
from faasauth.errors import (
    FunctionFailed,
    FunctionRefused,
    Refused,
    TransientFailure,
    UsageFailure,
)
from faasauth.config.settings import DEFAULT_NAMESPACE, Settings
from faasauth.http import is_loopback

if TYPE_CHECKING:
    import httpx

    from faasauth.tokens.function import ObtainedToken
    from faasauth.store.remembered import RememberedFunctions
    from faasauth.gateway.body import Payload, RequestBody

BODYLESS_WHEN_EMPTY = ("GET", "DELETE")  # like Go: no `Content-Length: 0` on these
NOT_FOUND_BY_GATEWAY = b"error finding function "  # the gateway's 404, not a function's
REASON_BYTES = 64 * 1024  # read at most this much of an answer shown as a message
GATEWAY_TROUBLE = (502, 503, 504)


class TokenSource(Protocol):
    """A function token for the invocation; never `reject`, a token just refused."""

    def __call__(self, reject: str | None = None) -> ObtainedToken: ...


@dataclass(frozen=True)
class Invocation:
    """What to call and how; `namespace` is None when none was set anywhere."""

    name: str
    namespace: str | None = None
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    is_async: bool = False
    auth: bool = False
    audience: str | None = None
    decode: bool = True  # undo Content-Encoding (off when -H asked for an encoding)

    @property
    def target(self) -> str:
        """`<namespace>:<name>`: the remembered note's key and the default audience."""
        return f"{self.namespace or DEFAULT_NAMESPACE}:{self.name}"

    @property
    def token_audience(self) -> str:
        return self.audience or self.target

    def url(self, gateway: str) -> str:
        path = "/async-function/" if self.is_async else "/function/"
        name = quote(self.name, safe="")
        if self.namespace:  # faas-cli adds `.<ns>` only when a namespace is set
            name += "." + quote(self.namespace, safe="")
        return gateway + path + name

    @property
    def user_authorization(self) -> bool:
        return any(name.lower() == "authorization" for name, _ in self.headers)


@dataclass
class Outcome:
    status: int
    requests: int


class Invoker:
    """One `invoke`: the request built from the invocation, sent through FunctionAuth
    (which answers the challenge), and the answer streamed to `out` or raised."""

    def __init__(
        self,
        invocation: Invocation,
        *,
        settings: Settings,
        client: httpx.Client,
        body: RequestBody,
        tokens: TokenSource,
        notes: RememberedFunctions,
        out: Output,
    ) -> None:
        self.inv = invocation
        self.settings = settings
        self.client = client
        self.body = body
        self.tokens = tokens
        self.notes = notes
        self.out = out
        self.url = invocation.url(settings.gateway)
        self._warned_plain_http = False
        from faasauth.gateway.body import Activity

        self.activity = Activity(time.monotonic)

    def run(self) -> Outcome:
        from faasauth.gateway.function_auth import FunctionAuth

        inv = self.inv
        auth = FunctionAuth(
            self.settings.gateway,
            self._token,
            notes=self.notes,
            always=inv.auth,
            audience=inv.token_audience,
            on_note=self._note,
        )
        response = self._send(auth)
        return self._finish(response, auth.sent_token, auth.challenged, auth.requests,
                            auth.redirected)

    # -- one request ---------------------------------------------------------------------

    @contextmanager
    def _transport_errors(self) -> Iterator[None]:
        """httpx's failures, wherever they surface (connect, send, read), as faasauth's."""
        import httpx

        from faasauth.http import transport_failure

        try:
            yield
        except httpx.HTTPError as exc:
            raise transport_failure(exc, f"invoke {self.inv.target}", self.settings) from exc

    def _send(self, auth: httpx.Auth) -> httpx.Response:
        import httpx

        from faasauth.gateway.body import BodyStream

        headers = httpx.Headers(list(self.inv.headers))
        length = self.body.length
        stream: httpx.SyncByteStream | None = None
        if not (length == 0 and self.inv.method in BODYLESS_WHEN_EMPTY):
            stream = BodyStream(self.body, self.activity)
            if length is not None:
                headers["Content-Length"] = str(length)
            else:
                headers["Transfer-Encoding"] = "chunked"
        request = self.client.build_request(self.inv.method, self.url, headers=headers,
                                            params=list(self.inv.query) or None)
        if stream is not None:  # the client's defaults are in; now the streamed body
            request = httpx.Request(request.method, request.url, headers=request.headers,
                                    stream=stream, extensions=request.extensions)
        with self._transport_errors():
            return self._bounded(
                lambda: self.client.send(request, auth=auth, stream=True, follow_redirects=True)
            )

    def _bounded(self, send: Callable[[], httpx.Response]) -> httpx.Response:
        """`send()`, but no longer than --timeout of waiting for an answer once the request
        (and any token exchange) is out: httpx's timeouts are per read, and a server that
        drips its headers a byte at a time would hold the call for ever. The upload itself
        may take as long as the body needs. On the deadline the sending thread is left
        behind: its connection is never reused, and the command ends."""
        import contextvars
        import threading

        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["response"] = send()
            except BaseException as exc:  # re-raised in the caller's thread
                outcome["error"] = exc

        worker = threading.Thread(target=contextvars.copy_context().run, args=(work,),
                                  daemon=True)
        worker.start()
        timeout = self.settings.timeout
        while worker.is_alive():
            worker.join(0.05)
            if worker.is_alive() and self.activity.waiting_for() > timeout:
                from faasauth.http import origin

                # Worded as httpx's own read timeout is (faasauth.http.transport_failure):
                # which of the two fires first is a matter of scheduling.
                raise TransientFailure(
                    f"invoke {self.inv.target} ({origin(self.url)}): timed out after "
                    f"{timeout:g}s waiting for the answer"
                )
        if "error" in outcome:
            raise outcome["error"]
        response: httpx.Response = outcome["response"]
        return response

    def _token(self, audience: str, reject: str | None = None) -> ObtainedToken:
        """A token for the call, with a warning the first time it is about to go out in clear."""
        self.activity.begin()
        try:
            token = self.tokens(reject)
        finally:
            self.activity.end()
        if not self._warned_plain_http:
            self._warned_plain_http = True
            self._warn_plain_http()
        return token

    def _warn_plain_http(self) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        if parts.scheme != "http" or is_loopback(parts.hostname or ""):
            return
        warn(f"sending a function token over plain http to {parts.hostname}; use https")

    def _read_upto(self, chunks: Iterator[bytes], limit: int, head: bytes = b"") -> bytes:
        """`head` and then chunks until at least `limit` bytes (or the end); the rest of
        `chunks` stays unread."""
        parts, total = [head], len(head)
        with self._transport_errors():
            while total < limit:
                chunk = next(chunks, None)
                if chunk is None:
                    break
                parts.append(chunk)
                total += len(chunk)
        return b"".join(parts)

    # -- the answer ----------------------------------------------------------------------

    def _finish(
        self, response: httpx.Response, sent: str | None, challenged: bool, requests: int,
        redirected: httpx.URL | None = None,
    ) -> Outcome:
        from faasauth.gateway import misdirected

        status = response.status_code
        internal = response.headers.get("x-openfaas-internal")  # OpenFaaS's own answer
        reason = ""
        not_found = ""  # "gateway": its own 404; "stranger": not a gateway's
        try:
            if redirected is not None:
                raise misdirected.redirected_away(self.inv.target, self.settings, redirected)
            if internal and not 200 <= status < 300:
                said = self._read_upto(response.iter_bytes(), REASON_BYTES)
                reason = self._first_line(said[:REASON_BYTES], sent)
            elif status == 404:
                not_found, reason = self._not_found(response, sent)
            else:
                self._copy(response)
        finally:
            response.close()
        outcome = Outcome(status, requests)
        if 200 <= status < 300:
            if self.inv.is_async and status == 202:
                say("Function submitted asynchronously.")
            return outcome
        from faasauth.tokens.jwt import redact_tokens

        # A reason phrase is the server's text: it may carry the token we just sent.
        what = redact_tokens(f"{status} {response.reason_phrase}".strip(), sent)
        detail = f"{what}: {reason}" if reason else what
        target = self.inv.target
        if status in (401, 403):
            raise FunctionRefused(
                f"{target} refused the call: {detail}",
                hint=self._refusal_hint(status, sent, challenged, reason),
            )
        if not_found == "stranger":
            raise misdirected.not_a_gateway(target, self.settings, what, reason)
        if not_found == "gateway":
            raise FunctionFailed(
                f"no function {self.inv.name} in namespace "
                f"{self.inv.namespace or DEFAULT_NAMESPACE} at {self.settings.gateway} "
                f"(the gateway answered {status}: {reason})",
                hint="check the name, the namespace (-n, OPENFAAS_NS or the stack file) and "
                "the gateway (-g, OPENFAAS_URL); 'faas-cli list -n NAMESPACE' lists them",
            )
        if status >= 500 and (internal or status in GATEWAY_TROUBLE):
            raise TransientFailure(f"{target}: the gateway answered {detail}")
        raise FunctionFailed(f"{target} answered {detail}")

    def _chunks(self, response: httpx.Response) -> Iterator[bytes]:
        return response.iter_bytes() if self.inv.decode else response.iter_raw()

    def _not_found(self, response: httpx.Response, sent: str | None) -> tuple[str, str]:
        """A 404: ("gateway", reason) for the gateway's own, for a function it does not know
        (`error finding function NAME.NAMESPACE: ...`); ("stranger", its first line) for one
        without any gateway header (faasauth.gateway.misdirected); else ("", ""), a 404 of
        the function's own, copied to the output like any answer."""
        from faasauth.gateway.misdirected import from_a_gateway

        chunks = self._chunks(response)
        head = self._read_upto(chunks, len(NOT_FOUND_BY_GATEWAY))
        ours = head.startswith(NOT_FOUND_BY_GATEWAY)
        if not ours and from_a_gateway(response):
            self._copy(response, chunks, head)
            return "", ""
        line = self._first_line(self._read_upto(chunks, REASON_BYTES, head)[:REASON_BYTES], sent)
        # the rest of the gateway's line repeats the status in Go's words
        return ("gateway", line.split(": ", 1)[0]) if ours else ("stranger", line)

    def _copy(
        self, response: httpx.Response, chunks: Iterator[bytes] | None = None, head: bytes = b""
    ) -> None:
        """The answer's body to the output, as it arrives (after `head`, already read).

        When the reader goes away (`| head`) the copy just stops, and the answer's status
        still decides the exit code; cli.main's final flush points stdout at /dev/null.
        """
        chunks = self._chunks(response) if chunks is None else chunks
        write = self.out.write
        with self._transport_errors():
            try:
                if head:
                    write(head)
                for chunk in chunks:
                    write(chunk)
                self.out.flush()
            except BrokenPipeError:
                pass

    @staticmethod
    def _first_line(data: bytes, sent: str | None) -> str:
        from faasauth.http import first_line

        # The watchdog echoes a refused token back ("invalid JWT token: <token>").
        return first_line(data.decode("utf-8", "replace"), secrets=(sent,))

    def _refusal_hint(
        self, status: int, sent: str | None, challenged: bool, reason: str = ""
    ) -> str | None:
        target = self.inv.token_audience
        if status == 403 and sent:
            return f"your identity may not invoke {target}: check the gateway's Role and Policy"
        if status == 401 and challenged and sent and "invalid kid" in reason:
            # of-watchdog reads the gateway's keys once, at start, and never again
            return ("the function's watchdog does not know the key that signed the token: "
                    "the gateway's signing key probably changed after the function started; "
                    "restarting the function makes its watchdog read the gateway's keys again")
        if status == 401 and challenged and sent:
            return "the function refused a new token: does its watchdog trust this gateway?"
        if status == 401 and not challenged and not sent and not self.inv.user_authorization:
            return ("this 401 is not OpenFaaS function authentication (no realm "
                    "\"IAM function invoke\"), so no token was tried; --auth sends one anyway")
        return None

    def _note(self, message: str) -> None:
        if self.settings.verbose:
            say(f"faasauth: {message}")


def invoke(
    invocation: Invocation,
    *,
    settings: Settings,
    client: httpx.Client,
    body: RequestBody,
    tokens: TokenSource,
    notes: RememberedFunctions,
    out: Output,
) -> Outcome:
    """Run one invocation; raises a FaasauthError for every non-2xx outcome."""
    return Invoker(
        invocation, settings=settings, client=client, body=body, tokens=tokens, notes=notes,
        out=out,
    ).run()
