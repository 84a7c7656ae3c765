"""`faasauth auth --grant code` as a real process, end to end against the sandbox: once driving a
real headless browser (chromium) through the sandbox's login page back to faasauth's callback,
once with BROWSER set to a program that only fetches the URL (`faasauth sandbox --auto-approve`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faasauth.config.settings import resolve_settings
from faasauth.runtime import Runtime
from faasauth.sandbox import Sandbox
from faasauth.store.cache import login_key
from faasauth.tokens.login import Login


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


def program(tmp_path: Path, name: str, body: str) -> str:
    """An executable script (a BROWSER for faasauth); its path."""
    script = tmp_path / name
    script.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    script.chmod(0o755)
    return str(script)


def stored_login() -> Login:
    entry = Runtime(resolve_settings()).store.get(login_key("http://127.0.0.1:8080"))
    assert entry is not None, "no login was stored"
    login = Login.from_entry(entry)
    assert login is not None
    return login


def test_a_person_logs_in_in_a_real_browser(chrome: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    handed = tmp_path / "url"
    # BROWSER hands the link to the test, which drives chromium with it
    browser = program(tmp_path, "hand-over", f"""\
        import sys
        open({str(handed)!r}, "w").write(sys.argv[1])
    """)
    process = subprocess.Popen(
        [sys.executable, "-m", "faasauth", "auth", "--authority", sandbox.authority,
         "--client-id", sandbox.public_client_id, "--grant", "code", "--redirect-port", "0"],
        env={**os.environ, "BROWSER": browser}, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not handed.exists() or not handed.read_text():
            assert time.monotonic() < deadline and process.poll() is None, "no link handed over"
            time.sleep(0.05)
        chrome.get(handed.read_text())
        assert chrome.title == "faasauth sandbox: login"
        chrome.save_screenshot(str(tmp_path / "login-page.png"))
        chrome.find_element("css selector", "button[value=approve]").click()
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert out == ""
    assert "/oauth/callback" in chrome.current_url
    landed = chrome.find_element("tag name", "body").text
    assert "Login complete" in landed and "close this tab" in landed
    chrome.save_screenshot(str(tmp_path / "callback.png"))
    assert "Opened your browser" in err
    login = stored_login()
    assert login.grant == "code" and login.subject == "sandbox-user"
    assert login.refresh_token and login.client_id == sandbox.public_client_id


def test_sandbox_with_a_browser_that_only_fetches_the_url(tmp_path: Path) -> None:
    fetch = program(tmp_path, "fetch", """\
        import sys, urllib.request
        page = urllib.request.urlopen(sys.argv[1], timeout=20).read().decode()
        sys.exit(0 if "Login complete" in page else 1)
    """)
    result = subprocess.run(
        [sys.executable, "-m", "faasauth", "sandbox", "--auto-approve", "--", "sh", "-c",
         "faasauth auth --grant code --redirect-port 0 && echo hi | faasauth invoke echo-auth"],
        env={**os.environ, "BROWSER": fetch}, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Logged in to" in result.stderr and "renewable" in result.stderr
    assert result.stdout.strip().endswith("hi")
