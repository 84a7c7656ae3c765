"""The browser login against a scripted identity provider on 127.0.0.1, as a real process with
a BROWSER program: the browser's argv carries only the one-shot start address, never the
state, nonce or challenge (issue 21, finding 2); the tab and stderr say the login is complete
only once the code is redeemed and the ID token checked (finding 14)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from cli_support import make_jwt
from hostile.server import HostileServer, Request


def scripted_idp(hostile: HostileServer, redeem: bool) -> None:
    hostile.discovery(authorization_endpoint=f"{hostile.url}/authorize")
    seen: dict[str, str] = {}

    @hostile.route("/authorize")
    def authorize(request: Request) -> None:  # an IdP that approves at once
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.path).query).items()}
        seen.update(query)
        back = query["redirect_uri"] + "?" + urlencode({"code": "the-code", "state": query["state"]})
        request.send(303, b"", "text/plain", {"Location": back})

    @hostile.route("/token")
    def token(request: Request) -> None:
        if not redeem:
            request.json(400, {"error": "invalid_grant", "error_description": "code refused"})
            return
        now = int(time.time())
        id_token = make_jwt({"iss": hostile.url, "aud": "cid", "sub": "alice", "iat": now,
                             "exp": now + 600, "nonce": seen["nonce"]})
        request.json(200, {"access_token": id_token, "id_token": id_token,
                           "token_type": "Bearer", "expires_in": 600})


@pytest.fixture
def browser(tmp_path: Path) -> tuple[str, Path]:
    """A BROWSER that records its argv and the page it lands on (redirects followed)."""
    record = tmp_path / "browser.json"
    script = tmp_path / "browser.py"
    script.write_text(
        "import json, sys, urllib.request\n"
        "page = urllib.request.urlopen(sys.argv[1], timeout=20).read().decode()\n"
        f"open({str(record)!r}, 'w').write(json.dumps({{'argv': sys.argv[1:], 'page': page}}))\n"
    )
    return f"{sys.executable} {script}", record


def login(hostile: HostileServer, browser: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "faasauth", "auth", "--authority", hostile.url, "--client-id",
         "cid", "--grant", "code", "--redirect-port", "0"],
        env={**os.environ, "BROWSER": browser}, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60,
    )


def test_the_browser_gets_only_the_start_address_and_the_login_completes(
    hostile: HostileServer, browser: tuple[str, Path], isolated_environment: Path
) -> None:
    scripted_idp(hostile, redeem=True)
    result = login(hostile, browser[0])
    assert result.returncode == 0, result.stderr
    seen = json.loads(browser[1].read_text())
    assert len(seen["argv"]) == 1
    start = seen["argv"][0]
    assert start.startswith("http://127.0.0.1:") and "/start/" in start
    assert "state" not in start and "nonce" not in start and "challenge" not in start
    assert f"open this link in a browser on this machine: {start}" in result.stderr
    assert "Login complete" in seen["page"]
    assert "Browser login complete." in result.stderr and "Logged in to" in result.stderr


def test_a_refused_code_never_says_complete(
    hostile: HostileServer, browser: tuple[str, Path], isolated_environment: Path
) -> None:
    scripted_idp(hostile, redeem=False)
    result = login(hostile, browser[0])
    assert result.returncode == 4, result.stderr
    assert "invalid_grant" in result.stderr
    page = json.loads(browser[1].read_text())["page"]
    assert "Login complete" not in page and "Login failed" in page
    assert "complete" not in result.stderr and "Logged in" not in result.stderr
    assert not list((isolated_environment / "tokens").glob("*.json"))
