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


BROWSER_SCRIPT = """
import http.client, json, sys, urllib.parse
argv = sys.argv[1:]
where = None
link = urllib.parse.urlsplit(argv[-1]) if argv else None
if link and link.hostname == "127.0.0.1" and link.path.startswith("/start/"):
    for _ in range(int(sys.argv[0].rsplit("-", 1)[1].split(".")[0])):  # fetches, by name
        conn = http.client.HTTPConnection(link.hostname, link.port, timeout=20)
        conn.request("GET", link.path)
        answer = conn.getresponse()
        where = where or answer.getheader("Location")
        conn.close()
open(RECORD, "a").write(json.dumps({"argv": argv, "location": where}) + "\\n")
"""


def browser_script(tmp_path: Path, fetches: int = 1) -> tuple[str, Path]:
    """A BROWSER program appending its argv (and, for faasauth's one-shot start address,
    where that address redirects after `fetches` fetches of it) as one JSON line."""
    record = tmp_path / "argv.jsonl"
    script = tmp_path / f"browser-{fetches}.py"
    script.write_text(f"RECORD = {str(record)!r}\n" + BROWSER_SCRIPT)
    return f"{sys.executable} {script}", record


@pytest.fixture
def opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    browser, record = browser_script(tmp_path)
    monkeypatch.setenv("BROWSER", browser)
    return record


def records(record: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


def calls(record: Path) -> list[list[str]]:
    """Where each browser started ended up: the start address's target (never in argv)."""
    return [[str(r["location"])] if r["location"] else list(r["argv"])  # type: ignore[call-overload]
            for r in records(record)]


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


def test_the_device_link_with_its_code_never_reaches_the_browsers_argv(
    hostile: HostileServer, opened: Path
) -> None:
    """The complete link carries the user code: any local user reads a browser's argv
    (/proc/PID/cmdline) and could approve that code at the IdP as himself, logging this
    terminal in as him. The browser gets a one-shot local address instead (finding 2)."""
    complete = f"{hostile.url}/verify?user_code=ABCD-EFGH"
    device_idp(hostile, verification_uri=f"{hostile.url}/verify",
               verification_uri_complete=complete)
    result = device_login(hostile)
    assert result.code == 4, result.err
    [seen] = records(opened)
    [argv] = seen["argv"]  # type: ignore[misc]
    assert argv.startswith("http://127.0.0.1:") and "/start/" in argv
    assert "ABCD-EFGH" not in argv and hostile.url not in argv
    assert seen["location"] == complete


def test_a_second_fetch_of_the_device_start_address_ends_the_login(
    hostile: HostileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another program fetching the start address too: the login ends at once (exit 4),
    instead of polling on while someone else may be approving the code."""
    browser, record = browser_script(tmp_path, fetches=2)
    monkeypatch.setenv("BROWSER", browser)
    hostile.discovery()

    @hostile.route("/device")
    def device(request: Request) -> None:
        request.json(200, {"device_code": "dc-secret", "user_code": "ABCD-EFGH",
                           "verification_uri": f"{hostile.url}/verify",
                           "verification_uri_complete": f"{hostile.url}/verify?c=ABCD-EFGH",
                           "expires_in": 600, "interval": 1})

    polls: list[int] = []

    @hostile.route("/token")
    def token(request: Request) -> None:
        polls.append(1)
        request.json(400, {"error": "authorization_pending"})

    result = device_login(hostile)
    assert result.code == 4, result.err
    assert "fetched a second time" in result.err
    assert "another program on this machine may have read the link" in result.err
    assert "--no-browser" in result.err and "Traceback" not in result.err
    assert len(polls) <= 2  # ended at the first wait, not at the code's expiry
    assert records(record)[0]["location"] == f"{hostile.url}/verify?c=ABCD-EFGH"
