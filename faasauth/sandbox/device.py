"""The device authorization grant's server side (RFC 8628) and its approval page.

A device code is pending until someone approves or denies its user code, on the HTML page at
`/device` (a form a person fills in, or a test posts) or with `Sandbox.approve()`; with
auto-approve it is approved when created, so the first poll succeeds. Polling answers, in
RFC 8628 3.5's words: `authorization_pending`; `slow_down` when a poll of a pending code
comes sooner than the interval after the previous poll (the interval then grows by 5 s for
this and every later poll; the first poll is never early); `access_denied`; `expired_token`
once `expires_in` has passed; and `invalid_grant` for a code that is unknown, belongs to
another client, or was already redeemed.
"""

from __future__ import annotations

import html
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from faasauth.sandbox.oauth import OAuthError
from faasauth.sandbox.server import Request, Response

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # RFC 8628 6.1: no vowels, no look-alikes
DEFAULT_LOGIN = "sandbox-user"
EARLY_TOLERANCE = 0.05  # seconds: scheduling jitter a well-behaved client may show


@dataclass
class DeviceGrant:
    device_code: str = field(repr=False)
    user_code: str = field(repr=False)
    client_id: str
    scope: str
    expires_at: float
    interval: float
    status: str = "pending"  # pending, approved, denied, redeemed
    login: str | None = None
    last_poll: float | None = None


def normalize_user_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


class DeviceCodes:
    def __init__(
        self, *, clock: Callable[[], float], ttl: float, interval: float, auto_approve: bool
    ) -> None:
        self._clock = clock
        self.ttl = ttl
        self.interval = interval
        self.auto_approve = auto_approve
        self._by_device: dict[str, DeviceGrant] = {}
        self._by_user: dict[str, DeviceGrant] = {}
        self._lock = threading.Lock()

    def create(self, client_id: str, scope: str) -> DeviceGrant:
        with self._lock:
            while True:
                raw = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
                if raw not in self._by_user:
                    break
            grant = DeviceGrant(
                device_code=secrets.token_urlsafe(32),
                user_code=f"{raw[:4]}-{raw[4:]}",
                client_id=client_id,
                scope=scope,
                expires_at=self._clock() + self.ttl,
                interval=self.interval,
            )
            if self.auto_approve:
                grant.status, grant.login = "approved", DEFAULT_LOGIN
            self._by_device[grant.device_code] = grant
            self._by_user[raw] = grant
            return grant

    def poll(self, device_code: str, client_id: str) -> DeviceGrant:
        """The approved grant, now redeemed; OAuthError for every other answer."""
        with self._lock:
            now = self._clock()
            grant = self._by_device.get(device_code)
            if grant is None or grant.client_id != client_id:
                raise OAuthError("invalid_grant", "unknown device_code")
            if grant.status == "redeemed":
                raise OAuthError("invalid_grant", "device_code was already used")
            if now >= grant.expires_at:
                raise OAuthError("expired_token", "the device_code has expired")
            previous, grant.last_poll = grant.last_poll, now
            if grant.status == "denied":
                raise OAuthError("access_denied", "the user denied the request")
            if grant.status == "pending":
                if previous is not None and now - previous < grant.interval - EARLY_TOLERANCE:
                    grant.interval += 5
                    raise OAuthError("slow_down", f"poll at most every {grant.interval:g} seconds")
                raise OAuthError("authorization_pending", "waiting for the user to approve")
            grant.status = "redeemed"
            return grant

    def decide(self, user_code: str, approve: bool, login: str = DEFAULT_LOGIN) -> DeviceGrant:
        """Approve or deny a pending user code; LookupError when it is unknown, expired or used."""
        with self._lock:
            grant = self._by_user.get(normalize_user_code(user_code))
            if grant is None:
                raise LookupError("unknown code")
            if self._clock() >= grant.expires_at:
                raise LookupError("this code has expired")
            if grant.status != "pending":
                done = "used" if grant.status == "redeemed" else grant.status
                raise LookupError(f"this code was already {done}")
            grant.status = "approved" if approve else "denied"
            grant.login = login if approve else None
            return grant

    def pending_user_codes(self) -> list[str]:
        with self._lock:
            now = self._clock()
            return [
                g.user_code
                for g in self._by_user.values()
                if g.status == "pending" and now < g.expires_at
            ]


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>faasauth sandbox: {title}</title>
<style>body{{font-family:sans-serif;max-width:32em;margin:3em auto}}
label{{display:block;margin:1em 0}}input{{font-size:1.2em}}
button{{font-size:1.1em;margin-right:1em}}</style></head>
<body><h1>faasauth sandbox</h1>{body}</body></html>
"""

_FORM = """<p>Check that this code matches the one your terminal shows, then approve or deny.</p>
<form method="post" action="/device">
<label>Code <input name="user_code" value="{user_code}" autocomplete="off" required></label>
<label>Sign in as <input name="login" value="{login}" required></label>
<button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny">Deny</button>
</form>"""


def html_page(status: int, body: str, title: str = "device login") -> Response:
    """A page in the sandbox's look (the device approval page's and the login page's)."""
    return Response(
        status,
        [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")],
        _PAGE.format(body=body, title=html.escape(title)).encode("utf-8"),
    )


def device_page(request: Request, codes: DeviceCodes) -> Response:
    """GET: the form (user_code prefilled from the query); POST: approve or deny."""
    if request.method in ("GET", "HEAD"):
        query = parse_qs(request.query)
        user_code = (query.get("user_code") or [""])[0]
        return html_page(200, _FORM.format(user_code=html.escape(user_code), login=DEFAULT_LOGIN))
    if request.method != "POST":
        return Response(
            405,
            [("Allow", "GET, POST"), ("Content-Type", "text/plain; charset=utf-8")],
            b"use GET or POST\n",
        )
    fields = parse_qs(
        request.body.read(64 * 1024).decode("utf-8", "replace"), keep_blank_values=True
    )
    user_code = (fields.get("user_code") or [""])[0]
    login = (fields.get("login") or [""])[0].strip() or DEFAULT_LOGIN
    action = (fields.get("action") or ["approve"])[0]
    if action not in ("approve", "deny") or len(login) > 64 or not login.isprintable():
        return html_page(
            400, "<p>Bad request: action must be approve or deny, and the login a short name.</p>"
        )
    try:
        codes.decide(user_code, action == "approve", login)
    except LookupError as exc:
        form = _FORM.format(user_code=html.escape(user_code), login=html.escape(login))
        said = html.escape(str(exc).capitalize())
        return html_page(400, f"<p><strong>{said}.</strong></p>{form}")
    if action == "approve":
        return html_page(
            200,
            f"<p>Approved: signed in as <strong>{html.escape(login)}</strong>. "
            "You can close this window and return to your terminal.</p>",
        )
    return html_page(200, "<p>Denied. You can close this window.</p>")
