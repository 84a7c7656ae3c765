"""The browser login's redirect receiver on loopback (RFC 8252 7.3), standard library only.

    with LoopbackRedirect(state, port=31111, path="/oauth/callback") as receiver:
        url = build_authorization_url(redirect_uri=receiver.redirect_uri, state=state, ...)
        ...open the browser at url...
        answer = receiver.wait(timeout=300)   # AuthorizationCode(code, state, iss)

Where faasauth opens the browser itself, it opens `receiver.start_address(url)` instead of
the authorization URL (whose state, nonce and challenge would sit in the browser's argv, which
every local user can read): `http://127.0.0.1:PORT/start/<random>`, answered once with a 303
to the IdP. A second fetch of it, or a callback carrying the state when the start address was
never fetched, ends the login (`LoginHijacked`, exit 4); the device grant, which polls for
its answer, asks `misused()` while it waits.

With `hold_page=True` (the browser login's), the page for the one valid callback is held
until the caller says how the login ended (`finish(ok)`, once the code is redeemed and the
ID token checked): the tab never says the login is complete before it is.

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


class LoginHijacked(LoginFailed):
    """The one-shot start address was fetched twice, or a callback came for a login that
    never started there: another program on this machine may have taken the link."""

    def __init__(
        self, why: str, hint: str = "log in again; if it happens again, use --grant device"
    ) -> None:
        super().__init__(
            f"the browser login was ended: {why}; another program on this machine may have "
            "read the link", hint=hint)


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
USED_TWICE = (
    "This login link was already used, so faasauth ended the login. Start it again in the "
    "terminal." + _CLOSE
)
NOT_STARTED = (
    "This login did not start from the link faasauth opened, so faasauth ended it. Start it "
    "again in the terminal." + _CLOSE
)
CONTINUE = "Continuing to the identity provider..."
NOT_FINISHED = "Login failed: faasauth could not finish it; the terminal says why." + _CLOSE
STILL_FINISHING = "faasauth is finishing the login; the terminal says when it is done." + _CLOSE
HOLD_PAGE = 60.0  # seconds the valid callback's page waits for the login's end at most


def _failed_page(error: str, description: str | None) -> str:
    said = f"{error}: {description}" if description else error
    return f"Login failed: the identity provider answered {said}." + _CLOSE


# -- the receiver -------------------------------------------------------------------------

Outcome = AuthorizationCode | AuthorizationError | MalformedCallback | LoginHijacked


@dataclass(frozen=True)
class _Reply:
    status: int
    message: str
    outcome: Outcome | None = None
    location: str | None = None  # a 303 to it (the start address)


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
        receiver = self.server.receiver
        reply = receiver._answer(self.path)
        message = reply.message
        held = isinstance(reply.outcome, AuthorizationCode) and receiver._hold_page
        if held and reply.outcome is not None:
            # the code goes to the wait at once; the page only once the login has ended
            receiver._code_handed = True
            receiver._outcomes.put(reply.outcome)
            message = receiver._verdict_page()
        body = _PAGE.format(message=html.escape(message)).encode("utf-8")
        try:
            self.send_response(reply.status)
            if reply.location is not None:
                self.send_header("Location", reply.location)
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
            if held:
                receiver._page_sent.set()
            elif reply.outcome is not None:
                receiver._outcomes.put(reply.outcome)


class LoopbackRedirect:
    """A one-shot redirect receiver on http://127.0.0.1:PORT/PATH; a context manager."""

    def __init__(
        self, state: str, *, port: int = DEFAULT_PORT, path: str = DEFAULT_PATH,
        hold_page: bool = False,
    ) -> None:
        """Listen at once; `state` is the one the authorization request carries (a callback
        may come back before `wait` is called). With `hold_page`, the valid callback's page
        waits for `finish(ok)` (the code redeemed and checked); else it says "complete" at
        once."""
        if not path.startswith("/") or "?" in path or "#" in path:
            raise ValueError(f"redirect path must start with / and have no query: {path!r}")
        if not state:
            raise ValueError("state must not be empty")
        self.path = path
        self._state = state
        self._outcomes: queue.Queue[Outcome] = queue.Queue()
        self._finished = False  # an outcome was decided, the time is up, or closed
        self._lock = threading.Lock()
        self._start: tuple[str, str] | None = None  # (secret path, authorization URL)
        self._started = False
        self._verdict: str | None = None  # the valid callback's page, once the login ended
        self._ended = threading.Event()
        self._page_sent = threading.Event()
        self._hold_page = hold_page
        self._code_handed = False  # the valid callback's page is held until finish()
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

    def start_address(self, authorization_url: str) -> str:
        """The one-shot local address a browser is opened at: it answers once with a 303
        to `authorization_url`; from now on a callback must come from a login started there."""
        import secrets

        path = "/start/" + secrets.token_urlsafe(24)
        with self._lock:
            self._start = (path, authorization_url)
        return f"http://{HOST}:{self.port}{path}"

    def misused(self) -> bool:
        """The start address was fetched twice (the device grant asks while it polls)."""
        return not self._outcomes.empty()

    def finish(self, ok: bool) -> None:
        """How the login ended (the code redeemed and checked, or not): the valid callback's
        page says so now, and goes out (waited for a moment)."""
        with self._lock:
            if self._verdict is None:
                self._verdict = DONE if ok else NOT_FINISHED
        self._ended.set()
        if self._code_handed:
            self._page_sent.wait(2.0)

    def _verdict_page(self) -> str:
        self._ended.wait(HOLD_PAGE)
        with self._lock:
            return self._verdict or STILL_FINISHING

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
            if self._verdict is None:
                self._verdict = NOT_FINISHED
        self._ended.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackRedirect:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- called from the server's threads -------------------------------------------------

    def _answer(self, target: str) -> _Reply:
        """The reply to one GET: an outcome for the one valid callback (or for a start
        address fetched twice), handed to `wait`."""
        split = urlsplit(target)
        if split.path.startswith("/start/"):
            return self._answer_start(split.path)
        if split.path != self.path:
            return _Reply(404, "Not found.")
        try:
            query = parse_qs(split.query, keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            query = {}
        one = {k: v[0] for k, v in query.items() if len(v) == 1}  # a repeated one counts as absent
        with self._lock:
            if self._finished:
                return _Reply(200, FINISHED)
            got = one.get("state", "")
            if not hmac.compare_digest(got.encode("utf-8"), self._state.encode("utf-8")):
                return _Reply(400, WRONG_STATE)
            self._finished = True
            if self._start is not None and not self._started:
                return _Reply(400, NOT_STARTED, LoginHijacked(
                    "a login came back that did not start at the address faasauth opened"))
        if "error" in one:
            error = sanitize(one["error"], 64) or "error"
            description = sanitize(one.get("error_description", "")) or None
            failure = AuthorizationError(error, description, self.redirect_uri)
            return _Reply(200, _failed_page(error, description), failure)
        code = one.get("code", "")
        if not code:
            malformed = MalformedCallback(
                f"the identity provider's redirect to {self.redirect_uri} carried neither "
                "a code nor an error"
            )
            return _Reply(400, "Login failed: the identity provider sent no code." + _CLOSE,
                          malformed)
        return _Reply(200, DONE, AuthorizationCode(code=code, state=got, iss=one.get("iss")))

    def _answer_start(self, path: str) -> _Reply:
        with self._lock:
            start = self._start
            if start is None or not hmac.compare_digest(path.encode(), start[0].encode()):
                return _Reply(404, "Not found.")
            if not self._started:
                self._started = True
                return _Reply(303, CONTINUE, location=start[1])
            if self._finished:
                return _Reply(200, FINISHED)
            self._finished = True
        return _Reply(400, USED_TWICE, LoginHijacked(
            "the address faasauth opened the browser at was fetched a second time"))
