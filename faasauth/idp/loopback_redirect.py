"""The browser login's redirect receiver on loopback (RFC 8252 7.3), standard library only.

    with LoopbackRedirect(state, port=31111, path="/oauth/callback") as receiver:
        url = build_authorization_url(redirect_uri=receiver.redirect_uri, state=state, ...)
        ...open the browser at url...
        answer = receiver.wait(timeout=300)   # AuthorizationCode(code, state, iss)

It listens on 127.0.0.1 only, from construction (so a busy port is known before the browser
opens: `RedirectPortBusy`, exit 2) until `close()`. `wait` ends on exactly one valid callback
(`GET <path>?...` with the expected `state`): a `code` is returned; an `error` raises
`AuthorizationError` (exit 4; its description sanitised). A callback whose `state` is missing
or wrong is answered with an error page and the wait goes on; so does every other request (a
favicon, say: 404). No answer within `timeout` seconds raises `LoginTimedOut` (exit 4); Ctrl-C
raises KeyboardInterrupt within a fraction of a second. The pages the browser sees say in a few
words whether the login worked and that the tab can be closed; they never show the code.
"""

from __future__ import annotations

import errno
import hmac
import html
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from faasauth.errors import LoginFailed, MalformedResponse, UsageFailure

DEFAULT_PORT = 31111
DEFAULT_PATH = "/oauth/callback"
HOST = "127.0.0.1"
POLL = 0.2  # seconds: how long the wait blocks before it looks at Ctrl-C and the clock again
MAX_DESCRIPTION = 200


@dataclass(frozen=True)
class AuthorizationCode:
    """A valid callback: the code to redeem with the PKCE verifier, and the `iss` parameter
    when the provider sent one (RFC 9207: the caller compares it with the issuer)."""

    code: str = field(repr=False)  # a secret: never in a log or a traceback
    state: str
    iss: str | None = None


class RedirectPortBusy(UsageFailure):
    """The redirect port is taken (another login waiting, or another program)."""

    def __init__(self, port: int, why: str) -> None:
        super().__init__(
            f"cannot listen on {HOST}:{port} for the browser login's redirect: {why}",
            hint="finish or stop the other login using that port, or pass --redirect-port 0 "
            "(any free port) if the identity provider accepts any loopback port",
        )
        self.port = port


class AuthorizationError(LoginFailed):
    """The provider redirected back with `error` (access_denied when the user said no)."""

    def __init__(self, error: str, description: str | None, redirect_uri: str) -> None:
        said = f"{error} ({description})" if description else error
        super().__init__(
            f"the identity provider refused the browser login: {said}",
            # as the device grant's denial; flows.auth adds the command to run again
            hint="the login was declined or cancelled in the browser"
            if error == "access_denied" else None,
        )
        self.error = error
        self.description = description
        self.redirect_uri = redirect_uri


class LoginTimedOut(LoginFailed):
    def __init__(self, redirect_uri: str, timeout: float) -> None:
        super().__init__(
            f"no login came back to {redirect_uri} within {timeout:g} s",
            hint="log in again, and finish in the browser sooner (--login-timeout SECONDS "
            "gives more time)",
        )
        self.redirect_uri = redirect_uri


class MalformedCallback(MalformedResponse):
    """A callback with the right state but neither `code` nor `error`."""


def sanitize(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """Only the characters RFC 6749 allows in `error` and `error_description` (printable
    ASCII but `"` and backslash), whitespace squeezed, at most `limit` characters: safe on a
    terminal (no escape sequences) and, once HTML-escaped, on a page."""
    kept = "".join(ch if " " <= ch <= "~" and ch not in '"\\' else " " for ch in text)
    squeezed = " ".join(kept.split())
    return squeezed if len(squeezed) <= limit else squeezed[: limit - 3] + "..."


# -- what the browser sees ----------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>faasauth login</title>
<style>body{{font-family:sans-serif;max-width:32em;margin:3em auto}}</style></head>
<body><h1>faasauth</h1><p>{message}</p></body></html>
"""
_CLOSE = " You can close this tab and return to the terminal."
DONE = "Login complete." + _CLOSE
WRONG_STATE = (
    "This answer does not belong to the login faasauth is waiting for (its state does not "
    "match), so it was ignored. Finish the login in the tab faasauth opened, or start it again."
)
FINISHED = "This login has already finished." + _CLOSE


def _failed_page(error: str, description: str | None) -> str:
    said = f"{error}: {description}" if description else error
    return f"Login failed: the identity provider answered {said}." + _CLOSE


# -- the receiver -------------------------------------------------------------------------

Outcome = AuthorizationCode | AuthorizationError | MalformedCallback


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # POSIX SO_REUSEADDR only skips an earlier login's TIME_WAIT (a live listener still
    # makes the port busy); on Windows it would let two listeners share the port
    allow_reuse_address = os.name != "nt"

    receiver: LoopbackRedirect


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # a browser's idle pre-connection must not keep a thread for long
    server_version = "faasauth"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # the request line holds the code: never logged

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        status, message, outcome = self.server.receiver._answer(self.path)
        body = _PAGE.format(message=html.escape(message)).encode("utf-8")
        try:
            self.send_response(status)
            for name, value in (
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                ("Referrer-Policy", "no-referrer"),
                ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
                ("Connection", "close"),
            ):
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        finally:  # the page is out (or the browser went away): now the wait may end
            if outcome is not None:
                self.server.receiver._outcomes.put(outcome)


class LoopbackRedirect:
    """A one-shot redirect receiver on http://127.0.0.1:PORT/PATH; a context manager."""

    def __init__(self, state: str, *, port: int = DEFAULT_PORT, path: str = DEFAULT_PATH) -> None:
        """Listen at once; `state` is the one the authorization request carries (a callback
        may come back before `wait` is called)."""
        if not path.startswith("/") or "?" in path or "#" in path:
            raise ValueError(f"redirect path must start with / and have no query: {path!r}")
        if not state:
            raise ValueError("state must not be empty")
        self.path = path
        self._state = state
        self._outcomes: queue.Queue[Outcome] = queue.Queue()
        self._finished = False  # an outcome was decided, the time is up, or closed
        self._lock = threading.Lock()
        try:
            self._server = _Server((HOST, port), _Handler)
        except OSError as exc:
            why = "address already in use" if exc.errno == errno.EADDRINUSE else (
                exc.strerror or str(exc)
            )
            raise RedirectPortBusy(port, why) from None
        self._server.receiver = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="faasauth-loopback-redirect",
            daemon=True,
        )
        self._thread.start()

    @property
    def redirect_uri(self) -> str:
        return f"http://{HOST}:{self.port}{self.path}"

    def wait(
        self, timeout: float, *, clock: Callable[[], float] = time.monotonic
    ) -> AuthorizationCode:
        """The code of the one callback carrying the state (perhaps already received);
        raises AuthorizationError, MalformedCallback, LoginTimedOut (KeyboardInterrupt on
        Ctrl-C). The time limit counts from this call."""
        deadline = clock() + timeout
        while True:
            left = deadline - clock()
            try:
                outcome = self._outcomes.get(timeout=min(POLL, left)) if left > 0 else (
                    self._outcomes.get_nowait()
                )
            except queue.Empty:
                if left > 0:
                    continue
                with self._lock:
                    decided, self._finished = self._finished, True
                if not decided:
                    raise LoginTimedOut(self.redirect_uri, timeout) from None
                try:  # a callback came just now and its page is going out: take it
                    outcome = self._outcomes.get(timeout=_Handler.timeout + 1)
                except queue.Empty:
                    raise LoginTimedOut(self.redirect_uri, timeout) from None
            if isinstance(outcome, AuthorizationCode):
                return outcome
            raise outcome

    def close(self) -> None:
        with self._lock:
            self._finished = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackRedirect:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- called from the server's threads -------------------------------------------------

    def _answer(self, target: str) -> tuple[int, str, Outcome | None]:
        """(status, message, outcome) for one GET: an outcome for the one valid callback,
        handed to `wait` once its page is sent."""
        split = urlsplit(target)
        if split.path != self.path:
            return 404, "Not found.", None
        try:
            query = parse_qs(split.query, keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            query = {}
        one = {k: v[0] for k, v in query.items() if len(v) == 1}  # a repeated one counts as absent
        with self._lock:
            if self._finished:
                return 200, FINISHED, None
            got = one.get("state", "")
            if not hmac.compare_digest(got.encode("utf-8"), self._state.encode("utf-8")):
                return 400, WRONG_STATE, None
            self._finished = True
        if "error" in one:
            error = sanitize(one["error"], 64) or "error"
            description = sanitize(one.get("error_description", "")) or None
            failure = AuthorizationError(error, description, self.redirect_uri)
            return 200, _failed_page(error, description), failure
        code = one.get("code", "")
        if not code:
            malformed = MalformedCallback(
                f"the identity provider's redirect to {self.redirect_uri} carried neither "
                "a code nor an error"
            )
            return 400, "Login failed: the identity provider sent no code." + _CLOSE, malformed
        return 200, DONE, AuthorizationCode(code=code, state=got, iss=one.get("iss"))
