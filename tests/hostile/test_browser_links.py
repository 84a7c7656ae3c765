"""Links from an identity provider that reach a browser (issue 21, finding 1): only https://
(or http:// to loopback) URLs with a host, no userinfo, no control characters are shown or
opened; anything else ends the login (exit 3) before a browser is started. A BROWSER script
records its argv, so "nothing opened" is observed, not assumed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
import pytest

from cli_support import CliResult
from faasauth.cli.device_prompt import open_browser
from hostile.server import HostileServer, Request

BAD_LINKS = {
    "option": "--gpu-launcher=touch /tmp/x",
    "bare-option": "--incognito",
    "file": "file:///etc/passwd",
    "javascript": "javascript:alert(1)",
    "userinfo": "https://user:pw@idp.example/device",
    "control": "https://idp.example/device\x1b]52;c;aGk=\x07",
    "newline": "https://idp.example/dev\nfaasauth: forged",
    "space": "https://idp.example/device --incognito",
    "relative": "/device",
    "no-host": "https:///device",
    "plain-http-remote": "http://idp.example/device",
}


@pytest.fixture
def opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """BROWSER = a program appending its argv (one JSON list a line) to the returned file."""
    record = tmp_path / "argv.jsonl"
    script = tmp_path / "browser.py"
    script.write_text(
        "import json, sys\n"
        f"open({str(record)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    monkeypatch.setenv("BROWSER", f"{sys.executable} {script}")
    return record


def calls(record: Path) -> list[list[str]]:
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


def device_idp(hostile: HostileServer, **links: str) -> None:
    hostile.discovery()

    @hostile.route("/device")
    def device(request: Request) -> None:
        request.json(200, {"device_code": "dc-secret", "user_code": "ABCD-EFGH",
                           "expires_in": 60, "interval": 1, **links})

    @hostile.route("/token")
    def token(request: Request) -> None:
        request.json(400, {"error": "access_denied"})


def faasauth(*args: str) -> CliResult:
    """A real process (BROWSER runs as a child: its stdout is faasauth's stderr)."""
    done = subprocess.run([sys.executable, "-m", "faasauth", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    return CliResult(done.returncode, done.stdout, done.stderr)


def device_login(hostile: HostileServer) -> CliResult:
    return faasauth("auth", "--authority", hostile.url, "--client-id", "cid", "--grant", "device")


@pytest.mark.parametrize("name", sorted(BAD_LINKS))
def test_a_bad_verification_uri_opens_and_shows_nothing(
    hostile: HostileServer, opened: Path, name: str
) -> None:
    bad = BAD_LINKS[name]
    device_idp(hostile, verification_uri=bad, verification_uri_complete=bad)
    result = device_login(hostile)
    assert result.code == 3, result.err
    assert f"faasauth: login failed ({hostile.url}/device): the identity provider's " \
           "verification_uri was refused" in result.err
    assert "nothing was shown or opened" in result.err and "hint:" in result.err
    assert calls(opened) == []
    assert "ABCD-EFGH" not in result.err  # no prompt was shown
    assert "/etc/passwd" not in result.err and "gpu-launcher" not in result.err
    assert "\x1b" not in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("name", ["option", "file", "javascript", "userinfo", "control"])
def test_a_bad_complete_link_alone_is_dropped_and_the_plain_link_opened(
    hostile: HostileServer, opened: Path, name: str
) -> None:
    good = f"{hostile.url}/verify"
    device_idp(hostile, verification_uri=good, verification_uri_complete=BAD_LINKS[name])
    result = device_login(hostile)
    assert result.code == 4, result.err  # access_denied at the first poll
    assert "verification_uri_complete was ignored" in result.err
    assert calls(opened) == [[good]]
    assert "Or open this link" not in result.err


def test_a_good_link_is_still_opened(
    hostile: HostileServer, opened: Path
) -> None:
    complete = f"{hostile.url}/verify?user_code=ABCD-EFGH"
    device_idp(hostile, verification_uri=f"{hostile.url}/verify",
               verification_uri_complete=complete)
    result = device_login(hostile)
    assert result.code == 4, result.err
    assert calls(opened) == [[complete]]
    assert "Opened your browser" in result.err


def test_the_code_grants_authorization_url_is_checked_too(
    hostile: HostileServer, opened: Path
) -> None:
    # an http authority lets discovery name an http endpoint; a browser is never sent there
    hostile.discovery(authorization_endpoint="http://idp.example/authorize")
    result = faasauth("auth", "--authority", hostile.url, "--client-id", "cid", "--grant",
                      "code", "--redirect-port", "0")
    assert result.code == 3, result.err
    assert ("faasauth: login failed (http://idp.example/authorize): the identity provider's "
            "authorization_endpoint was refused, it is plain http:// to another machine"
            in result.err)
    assert calls(opened) == []
    assert "open this link" not in result.err


@pytest.mark.parametrize("name", sorted(BAD_LINKS))
def test_open_browser_never_hands_a_bad_link_over(opened: Path, name: str) -> None:
    assert open_browser(BAD_LINKS[name]) is False
    assert calls(opened) == []


def test_open_browser_refuses_an_option_through_webbrowser_too(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    import webbrowser

    seen: list[str] = []
    monkeypatch.delenv("BROWSER", raising=False)
    monkeypatch.setattr(webbrowser, "open", lambda url, new=0: seen.append(url) or True)
    assert open_browser("--gpu-launcher=touch /tmp/x") is False
    assert open_browser("-incognito") is False
    assert seen == []
    assert open_browser("https://idp.example/device") is True
    assert seen == ["https://idp.example/device"]
