"""Run a real OpenID provider (npm ``oidc-provider``, see tests/idp/server.mjs) on loopback.

Used by the integration tests::

    from idp_support import start_idp, approve_device, CC_CLIENT_ID, CC_CLIENT_SECRET

    with start_idp(interval=1) as idp:          # or: idp = start_idp(...); ...; idp.stop()
        idp.issuer                                # "http://127.0.0.1:PORT"
        idp.discovery()["token_endpoint"]
        approve_device(idp, user_code)            # drives the provider's own HTML pages
        authorize_code(idp, authorization_url)    # browser login: the redirect URL it ends at
        abort_authorization(idp, authorization_url)   # ... ending with error=access_denied

Needs ``node`` and ``npm`` on PATH; installs tests/idp/node_modules with ``npm ci`` on first use
(and again whenever tests/idp/package-lock.json changes). Failures raise ``IdPError``
(a ``RuntimeError``): a missing Node.js is an error, not a reason to skip.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx

IDP_DIR = Path(__file__).resolve().parent / "idp"
SERVER_SCRIPT = IDP_DIR / "server.mjs"

# Clients registered by server.mjs (keep in sync with it).
CC_CLIENT_ID = "cc-client"
#: Contains ``+``, ``%``, ``:`` and a space: HTTP Basic only works when form-urlencoded first.
CC_CLIENT_SECRET = "s3cr+t%2F:x y"
DEVICE_CLIENT_ID = "device-client"  # public; only present when "none" is in authMethods
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: Public native client for the browser login (authorization code, PKCE S256 required); only
#: present when "none" is in authMethods. Its loopback redirect matches on any port.
CODE_CLIENT_ID = "code-client"
CODE_REDIRECT_URI = "http://127.0.0.1:31111/oauth/callback"
#: Audience of every access token; its scopes ("api:read", "api:write") may be requested.
RESOURCE = "https://api.faasauth.test"
RESOURCE_SCOPES = ("api:read", "api:write")
DEFAULT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")

#: Options accepted by start_idp() (passed to server.mjs as JSON; see the comment at its top).
OPTIONS = frozenset(
    {
        "port",
        "deviceCodeTtl",
        "interval",
        "slowDown",
        "authMethods",
        "accessTokenTtl",
        "idTokenTtl",
        "refreshTokenTtl",
    }
)

STARTUP_TIMEOUT = 20.0
NPM_CI_TIMEOUT = 600.0
_INSTALLED_MARKER = ".faasauth-lock-sha256"


class IdPError(RuntimeError):
    """The test identity provider could not be installed, started or driven."""


# --------------------------------------------------------------------------- installation


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise IdPError(
            f"`{tool}` was not found on PATH. The integration tests run a real OpenID provider "
            f"(npm package oidc-provider, tests/idp/) and need Node.js 20+ with npm installed."
        )
    return path


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive inter-process lock (pytest-xdist workers may all try to install at once)."""
    with open(path, "a+b") as fh:
        if sys.platform == "win32":  # pragma: no cover - not exercised on Linux CI
            import msvcrt

            fh.seek(0)
            while True:
                try:
                    msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    time.sleep(0.1)
            try:
                yield
            finally:
                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _lock_digest() -> str:
    lockfile = IDP_DIR / "package-lock.json"
    if not lockfile.is_file():
        raise IdPError(f"{lockfile} is missing; run `npm install` in {IDP_DIR} and commit it")
    return hashlib.sha256(lockfile.read_bytes()).hexdigest()


def _installed() -> bool:
    marker = IDP_DIR / "node_modules" / _INSTALLED_MARKER
    try:
        return marker.read_text().strip() == _lock_digest()
    except FileNotFoundError:
        return False


def ensure_node_modules() -> None:
    """``npm ci`` in tests/idp unless node_modules matches package-lock.json already.

    "Matches" = node_modules holds a marker with the SHA-256 of the package-lock.json it was
    installed from (written only after a successful ``npm ci``), so a missing, interrupted or
    outdated install is redone. Serialised by a file lock in the temp directory.
    """
    _require("node")
    npm = _require("npm")
    if _installed():
        return
    key = hashlib.sha256(str(IDP_DIR).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"faasauth-idp-npm-{key}.lock"
    with _file_lock(lock_path):
        if _installed():  # another worker did it while we waited
            return
        digest = _lock_digest()
        try:
            proc = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=IDP_DIR,
                capture_output=True,
                text=True,
                timeout=NPM_CI_TIMEOUT,
            )
        except subprocess.TimeoutExpired as exc:
            raise IdPError(f"`npm ci` in {IDP_DIR} timed out after {NPM_CI_TIMEOUT:.0f} s") from exc
        if proc.returncode != 0:
            raise IdPError(
                f"`npm ci` in {IDP_DIR} failed (exit {proc.returncode}):\n"
                f"{proc.stdout}\n{proc.stderr}".rstrip()
            )
        (IDP_DIR / "node_modules" / _INSTALLED_MARKER).write_text(digest + "\n")


# --------------------------------------------------------------------------- the server


class RealIdP:
    """A running tests/idp/server.mjs. Use as a context manager, or call stop()."""

    CC_CLIENT_ID = CC_CLIENT_ID
    CC_CLIENT_SECRET = CC_CLIENT_SECRET
    DEVICE_CLIENT_ID = DEVICE_CLIENT_ID
    DEVICE_CODE_GRANT = DEVICE_CODE_GRANT
    RESOURCE = RESOURCE

    def __init__(self, issuer: str, process: subprocess.Popen, options: dict[str, Any], stderr_file):
        self.issuer: str = issuer
        self.process: subprocess.Popen = process
        self.options: dict[str, Any] = dict(options)
        self._stderr_file = stderr_file
        self._discovery: dict[str, Any] | None = None
        self._final_stderr = ""

    def __repr__(self) -> str:
        return f"RealIdP(issuer={self.issuer!r}, pid={self.process.pid}, options={self.options!r})"

    # -- endpoints
    def discovery(self) -> dict[str, Any]:
        """The provider's /.well-known/openid-configuration (fetched once, then cached)."""
        if self._discovery is None:
            r = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10, trust_env=False)
            r.raise_for_status()
            self._discovery = r.json()
        return dict(self._discovery)

    @property
    def token_endpoint(self) -> str:
        return self.discovery()["token_endpoint"]

    @property
    def device_authorization_endpoint(self) -> str:
        return self.discovery()["device_authorization_endpoint"]

    @property
    def jwks_uri(self) -> str:
        return self.discovery()["jwks_uri"]

    def device_polls(self, user_code: str | None = None) -> list[dict[str, Any]]:
        """Device-code polls the server has seen: dicts with keys user_code, t (ms since server
        start), gap (ms since the previous poll of that code, or None), interval (s, in force
        after this poll) and answer ("authorization_pending", "slow_down", "tokens", ...)."""
        r = httpx.get(f"{self.issuer}/_test/device-polls", timeout=10, trust_env=False)
        r.raise_for_status()
        polls = r.json()
        if user_code is not None:
            polls = [p for p in polls if p["user_code"] == user_code]
        return polls

    # -- lifecycle
    def stderr(self) -> str:
        """Everything the node process wrote to stderr so far (also after stop())."""
        if self._stderr_file.closed:
            return self._final_stderr
        self._stderr_file.seek(0)
        return self._stderr_file.read().decode("utf-8", "replace")

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 5 s). Idempotent."""
        proc = self.process
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stdin is not None:  # (stdout is closed by its reader thread at EOF)
            try:
                proc.stdin.close()
            except OSError:
                pass
        if not self._stderr_file.closed:
            self._final_stderr = self.stderr()
            self._stderr_file.close()

    def __enter__(self) -> "RealIdP":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start_idp(**options: Any) -> RealIdP:
    """Start tests/idp/server.mjs with ``options`` and return once it listens.

    Options (see server.mjs): port, deviceCodeTtl, interval, slowDown, authMethods,
    accessTokenTtl, idTokenTtl, refreshTokenTtl. The result is also a context manager
    that stops the server on exit.
    """
    unknown = set(options) - OPTIONS
    if unknown:
        raise TypeError(f"start_idp() got unknown option(s) {sorted(unknown)}; known: {sorted(OPTIONS)}")
    ensure_node_modules()
    node = _require("node")
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items() if v is not None}
    config["exitWithParent"] = True  # node exits when our stdin pipe closes (pytest killed)

    stderr_file = tempfile.TemporaryFile()
    env = dict(os.environ, NODE_NO_WARNINGS="1", NO_COLOR="1")
    env.pop("NODE_OPTIONS", None)
    env.pop("DEBUG", None)
    process = subprocess.Popen(
        [node, str(SERVER_SCRIPT), json.dumps(config)],
        cwd=IDP_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr_file,
        env=env,
    )

    # Read stdout in a daemon thread: the first line is the readiness JSON; keep draining after
    # that so the child can never block on a full pipe.
    lines: queue.Queue[bytes | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        try:
            for raw in process.stdout:
                lines.put(raw)
        except (OSError, ValueError):
            pass
        finally:
            lines.put(None)
            process.stdout.close()

    threading.Thread(target=pump, name=f"idp-stdout-{process.pid}", daemon=True).start()

    idp = RealIdP("", process, options, stderr_file)

    def fail(why: str) -> IdPError:
        idp.stop()
        return IdPError(
            f"test IdP (node {SERVER_SCRIPT.name} {json.dumps(config)}) {why}.\n"
            f"stdout: {''.join(seen)!r}\nstderr:\n{idp.stderr()}"
        )

    deadline = time.monotonic() + STARTUP_TIMEOUT
    seen: list[str] = []
    while True:
        try:
            raw = lines.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            raise fail(f"did not report readiness within {STARTUP_TIMEOUT:.0f} s") from None
        if raw is None:
            try:
                rc = process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                rc = None
            raise fail(f"closed stdout (exit code {rc}) before reporting readiness")
        text = raw.decode("utf-8", "replace")
        seen.append(text)
        try:
            info = json.loads(text)
        except ValueError:
            continue
        if isinstance(info, dict) and "issuer" in info:
            idp.issuer = info["issuer"]
            return idp


# --------------------------------------------------------------------------- driving the pages

_SUCCESS = "Sign-in Success"
_ABORTED = "The Sign-in request was interrupted"


def _hidden(page: str, name: str) -> str | None:
    for tag in re.findall(r"<input\b[^>]*>", page, flags=re.I):
        if re.search(rf'\bname="{re.escape(name)}"', tag):
            m = re.search(r'\bvalue="([^"]*)"', tag)
            if m:
                return html.unescape(m.group(1))
    return None


def _form_action(page: str, base: httpx.URL) -> str:
    m = re.search(r'<form\b[^>]*\baction="([^"]+)"', page, flags=re.I)
    if not m:
        raise IdPError(f"no <form action=...> on the page at {base}:\n{page[:2000]}")
    return str(base.join(html.unescape(m.group(1))))


def _check(resp: httpx.Response, step: str) -> str:
    if resp.status_code != 200:
        raise IdPError(f"{step}: HTTP {resp.status_code} from {resp.request.method} {resp.url}:\n{resp.text[:2000]}")
    return resp.text


def _confirm_page(client: httpx.Client, user_code: str) -> tuple[str, str]:
    """GET /device?user_code=... and POST it: returns (confirm page html, its xsrf)."""
    # GET answers an auto-submitting form_post page carrying xsrf + user_code.
    page = _check(client.get("/device", params={"user_code": user_code}), "GET /device")
    xsrf = _hidden(page, "xsrf")
    if not xsrf:
        raise IdPError(f"GET /device: no hidden xsrf field:\n{page[:2000]}")
    page = _check(client.post("/device", data={"xsrf": xsrf, "user_code": user_code}), "POST /device")
    if "op.deviceConfirmForm" not in page:
        raise IdPError(
            f"POST /device did not show the confirmation page for user code {user_code!r} "
            f"(unknown, expired or already used code?):\n{page[:2000]}"
        )
    return page, _hidden(page, "xsrf") or xsrf


def approve_device(idp: RealIdP, user_code: str, login: str = "alice") -> str:
    """Approve a pending device authorization as user ``login``, through the provider's pages.

    Confirm the code, sign in (any login, any password), consent. Returns the final HTML
    ("Sign-in Success"); raises IdPError if any step does not lead there. Thread-safe (uses
    its own cookie-keeping httpx.Client).
    """
    with httpx.Client(base_url=idp.issuer, follow_redirects=True, timeout=15, trust_env=False) as client:
        _, xsrf = _confirm_page(client, user_code)
        resp = client.post("/device", data={"xsrf": xsrf, "user_code": user_code, "confirm": "yes"})
        # Now at /interaction/<uid>: login, then consent (each may be skipped by the provider).
        for _ in range(6):
            page = _check(resp, f"device approval at {resp.url}")
            if _SUCCESS in page:
                return page
            prompt = _hidden(page, "prompt")
            action = _form_action(page, resp.url)
            if prompt == "login":
                resp = client.post(action, data={"prompt": "login", "login": login, "password": "x"})
            elif prompt == "consent":
                resp = client.post(action, data={"prompt": "consent"})
            else:
                break
        raise IdPError(f"approving user code {user_code!r} did not end in {_SUCCESS!r}; last page {resp.url}:\n{resp.text[:2000]}")


def deny_device(idp: RealIdP, user_code: str) -> str:
    """Deny (abort) a pending device authorization; the next poll answers access_denied.

    Returns the final HTML; raises IdPError if the provider did not acknowledge the abort.
    Thread-safe.
    """
    with httpx.Client(base_url=idp.issuer, follow_redirects=True, timeout=15, trust_env=False) as client:
        _, xsrf = _confirm_page(client, user_code)
        resp = client.post(
            "/device", data={"xsrf": xsrf, "user_code": user_code, "confirm": "yes", "abort": "yes"}
        )
        page = resp.text
        if _ABORTED not in page:
            raise IdPError(
                f"denying user code {user_code!r}: expected {_ABORTED!r}, got HTTP {resp.status_code} "
                f"from {resp.url}:\n{page[:2000]}"
            )
        return page


# --------------------------------------------------------------------------- the code flow's user


def _walk_to_redirect(
    client: httpx.Client, idp: RealIdP, resp: httpx.Response, on_page: Any, what: str
) -> str:
    """Follow the provider's 303s; on each of its pages call ``on_page(page, url)`` for the
    next response. Returns the first Location that leaves the provider (not fetched)."""
    for _ in range(12):
        if resp.is_redirect:
            location = str(resp.url.join(resp.headers["location"]))
            if not location.startswith(idp.issuer + "/"):
                return location
            resp = client.get(location)
            continue
        page = _check(resp, f"{what} at {resp.url}")
        resp = on_page(page, resp.url)
    raise IdPError(f"{what} did not end in a redirect away from {idp.issuer}; last {resp.url}")


def authorize_code(idp: RealIdP, authorization_url: str, login: str = "alice") -> str:
    """Play the user of a browser login on the provider's own pages, as ``login``.

    GET ``authorization_url`` with a cookie-keeping session, follow the provider's 303s to
    /interaction/<uid>, sign in (any login, any password), consent; return the URL the last
    303 points at: the client's redirect URI with ``code`` and ``state`` (or ``error`` when the
    provider refused the request itself, e.g. ``invalid_request`` without PKCE). That URL is
    never fetched: the caller decides what reaches its callback. Thread-safe.
    """

    def on_page(page: str, url: httpx.URL) -> httpx.Response:
        prompt = _hidden(page, "prompt")
        action = _form_action(page, url)
        if prompt == "login":
            return client.post(action, data={"prompt": "login", "login": login, "password": "x"})
        if prompt == "consent":
            return client.post(action, data={"prompt": "consent"})
        raise IdPError(f"browser login: unexpected page at {url}:\n{page[:2000]}")

    with httpx.Client(follow_redirects=False, timeout=15, trust_env=False) as client:
        return _walk_to_redirect(
            client, idp, client.get(authorization_url), on_page, "browser login"
        )


def abort_authorization(idp: RealIdP, authorization_url: str) -> str:
    """Play a user who cancels a browser login on the provider's login page.

    As ``authorize_code``, but at /interaction/<uid> GET its ``/abort``: the returned URL is
    the redirect URI with ``error=access_denied`` and the ``state``. Thread-safe.
    """

    def on_page(page: str, url: httpx.URL) -> httpx.Response:
        if "/interaction/" not in url.path:
            raise IdPError(f"aborting a browser login: unexpected page at {url}:\n{page[:2000]}")
        return client.get(str(url).rstrip("/") + "/abort")

    with httpx.Client(follow_redirects=False, timeout=15, trust_env=False) as client:
        return _walk_to_redirect(
            client, idp, client.get(authorization_url), on_page, "aborting a browser login"
        )
