"""End to end in a real headless browser: the sandbox's login page, a click, and back to
faasauth's loopback redirect receiver; then the code is redeemed with the PKCE verifier."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest

from faasauth.idp.loopback_redirect import AuthorizationError, LoopbackRedirect
from faasauth.sandbox import Sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorization_url(
    sb: Sandbox, redirect_uri: str, state: str, nonce: str, challenge: str
) -> str:
    return f"{sb.authority}/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": sb.public_client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid offline_access",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )


def screenshot(chrome: Any, tmp_path: Path, name: str) -> None:
    """Kept with the test's files; also in $TEST_SCREENSHOTS when set (to look at)."""
    chrome.save_screenshot(str(tmp_path / f"{name}.png"))
    folder = os.environ.get("TEST_SCREENSHOTS")
    if folder:
        chrome.save_screenshot(str(Path(folder) / f"{name}.png"))


def click(chrome: Any, action: str) -> None:
    chrome.find_element("css selector", f"button[value={action}]").click()


def test_approve_in_the_browser_lands_on_the_callback(
    chrome: Any, sandbox: Sandbox, tmp_path: Path
) -> None:
    verifier, challenge = pkce()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    with LoopbackRedirect(state, port=0) as receiver:
        chrome.get(authorization_url(sandbox, receiver.redirect_uri, state, nonce, challenge))
        assert chrome.title == "faasauth sandbox: login"
        assert "faasauth-cli" in chrome.page_source
        screenshot(chrome, tmp_path, "sandbox-login")
        click(chrome, "approve")
        answer = receiver.wait(timeout=20)
    assert chrome.current_url.startswith(receiver.redirect_uri + "?")
    landed = chrome.find_element("tag name", "body").text
    assert "Login complete" in landed and "close this tab" in landed
    assert answer.code not in chrome.page_source
    screenshot(chrome, tmp_path, "callback-done")
    assert answer.iss == sandbox.authority

    tokens = httpx.post(
        f"{sandbox.authority}/token",
        data={
            "grant_type": "authorization_code",
            "code": answer.code,
            "redirect_uri": receiver.redirect_uri,
            "code_verifier": verifier,
            "client_id": sandbox.public_client_id,
        },
        timeout=10,
    )
    assert tokens.status_code == 200, tokens.text
    id_token = jwt.decode(tokens.json()["id_token"], options={"verify_signature": False})
    assert id_token["nonce"] == nonce and id_token["sub"] == "sandbox-user"
    assert "refresh_token" in tokens.json()


def test_deny_in_the_browser_ends_the_wait_with_access_denied(
    chrome: Any, sandbox: Sandbox, tmp_path: Path
) -> None:
    _, challenge = pkce()
    state = secrets.token_urlsafe(16)
    with LoopbackRedirect(state, port=0) as receiver:
        chrome.get(authorization_url(sandbox, receiver.redirect_uri, state, "n", challenge))
        click(chrome, "deny")
        with pytest.raises(AuthorizationError) as caught:
            receiver.wait(timeout=20)
    assert caught.value.error == "access_denied"
    landed = chrome.find_element("tag name", "body").text
    assert "Login failed" in landed and "access_denied" in landed
    screenshot(chrome, tmp_path, "callback-denied")


def test_without_chromium_the_fixture_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    import browser

    monkeypatch.setattr(browser, "CHROMIUM", Path("/nonexistent/chromium"))
    assert "/nonexistent/chromium not found" in (browser.missing() or "")


def test_auto_approve_with_a_program_that_only_fetches_the_url() -> None:
    # what `BROWSER=<a fetching program> faasauth sandbox --auto-approve -- ...` relies on:
    # no page to click, the 303 goes straight to the callback
    import subprocess
    import sys

    verifier, challenge = pkce()
    state = secrets.token_urlsafe(16)
    with Sandbox(auto_approve=True) as sb, LoopbackRedirect(state, port=0) as receiver:
        url = authorization_url(sb, receiver.redirect_uri, state, "n", challenge)
        fetch = "import sys, urllib.request as u; print(u.urlopen(sys.argv[1]).read().decode())"
        shown = subprocess.run(
            [sys.executable, "-c", fetch, url], capture_output=True, text=True, timeout=20
        )
        answer = receiver.wait(timeout=10)
        assert "Login complete" in shown.stdout
        tokens = httpx.post(
            f"{sb.authority}/token",
            data={"grant_type": "authorization_code", "code": answer.code,
                  "redirect_uri": receiver.redirect_uri, "code_verifier": verifier,
                  "client_id": sb.public_client_id},
            timeout=10,
        )
        assert tokens.status_code == 200, tokens.text
