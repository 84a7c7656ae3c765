"""Shared helpers for the foundation tests.

- `run_cli(*args, stdin=None)`: `faasauth.cli.app.main` in-process -> (code, out, err).
- `run_subprocess(*args, env=..., input=...)`: `python -m faasauth ...` in a real process.
- `gateway`: a pytest-httpserver gateway whose /oauth/token mints numbered tokens.
- `memory_keyring`: an in-memory keyring installed with `keyring.set_keyring`.
- `make_jwt(claims)`: an unsigned JWT-shaped string (faasauth never verifies signatures).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from werkzeug import Request, Response

from cli_support import CliResult, cli_runner, make_jwt  # noqa: F401 - re-exported to the suite

TESTS_DIR = Path(__file__).resolve().parent.parent
HEAVY_MODULES = ("httpx", "httpcore", "rich", "keyring", "jwt", "yaml", "cryptography")


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    return cli_runner(capsys, monkeypatch)


def subprocess_env(**extra: str | None) -> dict[str, str]:
    """The (already isolated) test environment, with tests/ importable; None removes a name."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    for name, value in extra.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_subprocess(
    *args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faasauth", *args],
        env=env or subprocess_env(),
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# Runs faasauth.cli.app.main(argv) and reports, on the last stderr line, which heavy modules
# were imported by the time it finished.
PROBE_SCRIPT = """
import json, sys
from faasauth.cli import app as cli
code = 0
try:
    cli.main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted({m.split('.')[0] for m, mod in list(sys.modules.items()) if mod is not None} & set(json.loads(%r)))
sys.stderr.write('\\nHEAVY=' + json.dumps(heavy) + '\\n')
sys.exit(code)
""" % json.dumps(HEAVY_MODULES)


def run_probe(
    *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> tuple[int, str, str, list[str]]:
    """(exit code, stdout, stderr without the report, heavy modules imported)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE_SCRIPT, *args],
        env=env or subprocess_env(),
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
    )
    err, _, report = done.stderr.rpartition("\nHEAVY=")
    assert report, f"the probe did not report; stderr: {done.stderr}"
    return done.returncode, done.stdout, err, json.loads(report)


class Gateway:
    """A fake OpenFaaS gateway token endpoint on pytest-httpserver.

    By default every exchange mints a new opaque token `fn-token-<n>-...` with
    `expires_in` = `self.expires_in`; tests change `reply` to answer differently.
    """

    def __init__(self, server: Any) -> None:
        self.server = server
        self.url = server.url_for("/").rstrip("/")
        self.expires_in: Any = 300
        self.delay = 0.0
        self.count = 0
        self.reply: Callable[[Request], Response] = self._mint
        server.expect_request("/oauth/token", method="POST").respond_with_handler(self._handle)

    def _handle(self, request: Request) -> Response:
        self.count += 1
        if self.delay:
            time.sleep(self.delay)
        return self.reply(request)

    def _mint(self, request: Request) -> Response:
        body: dict[str, Any] = {
            "access_token": f"fn-token-{self.count}-abcdefghijklmnop",
            "token_type": "Bearer",
            "scope": "function",
        }
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return Response(json.dumps(body), 200, content_type="application/json")

    def answer(self, body: Any, status: int = 200, content_type: str | None = None) -> None:
        """Answer every exchange with this body (a dict/list is sent as JSON)."""
        if not isinstance(body, (str, bytes)):
            body, content_type = json.dumps(body), content_type or "application/json"

        def reply(request: Request) -> Response:
            return Response(body, status, content_type=content_type or "text/plain")

        self.reply = reply

    @property
    def requests(self) -> list[Request]:
        return [req for req, _ in self.server.log if req.path == "/oauth/token"]

    @property
    def forms(self) -> list[Any]:
        return [req.form for req in self.requests]


@pytest.fixture
def gateway(httpserver: Any) -> Iterator[Gateway]:
    yield Gateway(httpserver)


@pytest.fixture
def home(isolated_environment: Path) -> Path:
    return isolated_environment


@pytest.fixture
def memory_keyring() -> Iterator[Any]:
    import keyring
    import keyring.core

    from foundation.keyring_backends import MemoryKeyring

    previous = keyring.core._keyring_backend
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.core._keyring_backend = previous


@pytest.fixture
def install_keyring() -> Iterator[Callable[[Any], Any]]:
    """`install_keyring(backend)` for the duration of the test."""
    import keyring
    import keyring.core

    previous = keyring.core._keyring_backend

    def install(backend: Any) -> Any:
        keyring.set_keyring(backend)
        return backend

    try:
        yield install
    finally:
        keyring.core._keyring_backend = previous


def file_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def unused_port() -> int:
    """A loopback port nobody listens on (connections are refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def store_login(
    home: Path,
    gateway_url: str,
    id_token: str,
    *,
    expires_in: float | None = 3600,
    **fields: Any,
) -> None:
    """Put a login for `gateway_url` in the file store, as `faasauth auth` would."""
    from faasauth.tokens.login import Login
    from faasauth.store.cache import login_key
    from faasauth.store.backends import FileStore
    from faasauth.store.home import Home

    now = time.time()
    login = Login(
        gateway=gateway_url,
        id_token=id_token,
        expires_at=None if expires_in is None else now + expires_in,
        obtained_at=now,
        **fields,
    )
    FileStore(Home(home)).put(login_key(gateway_url), login.to_entry())


def store_function_token(home: Path, gateway_url: str, token: str, audience: list[str],
                         *, identity: str = "login|x", expires_in: float = 300,
                         subject: str | None = None) -> None:
    from faasauth.store.cache import function_token_key
    from faasauth.store.backends import FileStore
    from faasauth.store.home import Home
    from faasauth.tokens.function import FunctionToken

    now = time.time()
    entry = FunctionToken(token, expires_at=now + expires_in, audience=audience, obtained_at=now,
                          subject=subject)
    FileStore(Home(home)).put(function_token_key(gateway_url, identity, audience), entry.to_entry())


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` with its bytes, locks excluded."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.parent.name != "locks"
    }
