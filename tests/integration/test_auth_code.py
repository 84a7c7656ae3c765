"""`faasauth auth --grant code` (the browser login) against a real OpenID provider (oidc-provider)
with its public native client `code-client` (PKCE required). The test plays the person: it reads
the link faasauth prints, follows the provider's own login and consent pages
(idp_support.authorize_code) and hands the redirect to faasauth's callback, as a browser would;
or BROWSER names a small program that does the same."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from faasauth.config.settings import resolve_settings
from faasauth.flows.login import fresh_login
from faasauth.runtime import Runtime
from faasauth.tokens.jwt import unverified_claims

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from idp_support import (  # noqa: E402
    CODE_CLIENT_ID,
    abort_authorization,
    authorize_code,
)
from integration.test_auth import faasauth, stored_entries, stored_login  # noqa: E402

LINK = re.compile(r"open this link in a browser on this machine: (\S+)")
TESTS = Path(__file__).resolve().parents[1]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


class CodeLogin:
    """`faasauth auth --grant code` in a subprocess, off a terminal (no browser opened)."""

    def __init__(self, idp: Any, *args: str, grant: str = "code",
                 env: dict[str, str] | None = None) -> None:
        extra = ("--grant", grant) if grant else ()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "faasauth", "auth", "--authority", idp.issuer,
             "--client-id", CODE_CLIENT_ID, *extra, *args],
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: list[str] = []
        self.shown = threading.Event()
        self.url = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            match = LINK.search(line)
            if match and not self.shown.is_set():
                self.url = match.group(1)
                self.shown.set()

    def wait_for_link(self) -> str:
        assert self.shown.wait(30), "no link shown:\n" + "".join(self.lines)
        return self.url

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        assert self.process.stdout is not None
        out = self.process.stdout.read()
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code, out, "".join(self.lines)


def back_to_faasauth(redirect: str) -> httpx.Response:
    """What the browser does with the provider's last redirect: fetch faasauth's callback."""
    return httpx.get(redirect, timeout=10, trust_env=False)


def test_browser_login_stores_a_renewable_login(real_idp: Any,
                                                isolated_environment: Path) -> None:
    login = CodeLogin(real_idp, "--redirect-port", "0")
    url = login.wait_for_link()
    sent = query(url)
    assert url.startswith(real_idp.discovery()["authorization_endpoint"] + "?")
    assert sent["response_type"] == "code" and sent["client_id"] == CODE_CLIENT_ID
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert sent["scope"] == "openid offline_access" and sent["prompt"] == "consent"
    assert len(sent["state"]) >= 32 and len(sent["nonce"]) >= 32
    assert "code_verifier" not in sent
    redirect_uri = sent["redirect_uri"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/oauth/callback", redirect_uri)
    assert not redirect_uri.endswith(":31111/oauth/callback")  # --redirect-port 0: any port

    redirect = authorize_code(real_idp, url)
    assert redirect.startswith(redirect_uri + "?")
    page = back_to_faasauth(redirect)
    code = query(redirect)["code"]
    assert page.status_code == 200 and "Login complete" in page.text
    assert code not in page.text
    status, out, err = login.finish()
    assert status == 0, err
    assert out == ""
    assert code not in err
    assert "Logged in to http://127.0.0.1:8080 as alice" in err and "renewable" in err
    stored = stored_login()
    assert stored.grant == "code" and stored.client_id == CODE_CLIENT_ID
    assert stored.auth_method == "none" and stored.scope == "openid offline_access"
    assert stored.refresh_token and stored.id_token
    claims = unverified_claims(stored.id_token)
    assert claims["aud"] == CODE_CLIENT_ID and claims["nonce"] == sent["nonce"]
    stored_text = "".join(p.read_text() for p in (isolated_environment / "tokens").glob("*.json"))
    assert code not in stored_text

    # renewable by its refresh token, as the device grant's logins are
    assert stored.expires_at is not None
    later = stored.expires_at + 60
    renewed = fresh_login(Runtime(resolve_settings(), clock=lambda: later), stored)
    assert renewed.refresh_token and renewed.refresh_token != stored.refresh_token
    assert renewed.grant == "code"


def test_a_wrong_state_is_answered_and_the_wait_goes_on(real_idp: Any) -> None:
    login = CodeLogin(real_idp, "--redirect-port", "0", "--verbose")
    url = login.wait_for_link()
    redirect_uri = query(url)["redirect_uri"]
    forged = back_to_faasauth(redirect_uri + "?" + urlencode({"code": "stolen", "state": "x"}))
    assert forged.status_code == 400 and "does not match" in forged.text
    missing = back_to_faasauth(redirect_uri + "?code=stolen")
    assert missing.status_code == 400
    redirect = authorize_code(real_idp, url)
    page = back_to_faasauth(redirect)
    assert "Login complete" in page.text
    status, _, err = login.finish()
    assert status == 0, err
    assert stored_login().subject == "alice"
    # --verbose logs the token request with the code and the verifier redacted
    assert "code=<redacted>" in err and "code_verifier=<redacted>" in err
    assert query(redirect)["code"] not in err


def test_access_denied_ends_the_login_and_stores_nothing(real_idp: Any,
                                                         isolated_environment: Path) -> None:
    login = CodeLogin(real_idp, "--redirect-port", "0")
    page = back_to_faasauth(abort_authorization(real_idp, login.wait_for_link()))
    assert "Login failed" in page.text and "access_denied" in page.text
    status, out, err = login.finish()
    assert status == 4, err
    assert "faasauth: the identity provider refused the browser login: access_denied" in err
    assert ("hint: the login was declined or cancelled in the browser; run: faasauth auth "
            f"--authority {real_idp.issuer} --client-id {CODE_CLIENT_ID} --grant code") in err
    assert "Traceback" not in err and out == ""
    assert stored_entries(isolated_environment) == []


def test_the_login_timeout_ends_the_wait(real_idp: Any, isolated_environment: Path) -> None:
    login = CodeLogin(real_idp, "--redirect-port", "0", "--login-timeout", "1")
    login.wait_for_link()
    status, _, err = login.finish()
    assert status == 4, err
    assert "no login came back to http://127.0.0.1:" in err and "within 1 s" in err
    assert "--login-timeout" in err
    assert (f"; run: faasauth auth --authority {real_idp.issuer} --client-id {CODE_CLIENT_ID} "
            "--grant code") in err  # the real command to try again
    assert stored_entries(isolated_environment) == []


def test_a_busy_redirect_port_is_a_usage_error(real_idp: Any,
                                               isolated_environment: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = faasauth("auth", "--authority", real_idp.issuer, "--client-id", CODE_CLIENT_ID,
                          "--grant", "code", "--redirect-port", str(port))
    assert result.returncode == 2, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "hint:" in result.stderr and "--redirect-port 0" in result.stderr
    assert "Traceback" not in result.stderr
    assert stored_entries(isolated_environment) == []


def test_ctrl_c_while_waiting_stores_nothing(real_idp: Any, isolated_environment: Path) -> None:
    login = CodeLogin(real_idp, "--redirect-port", "0")
    login.wait_for_link()
    login.process.send_signal(signal.SIGINT)
    status, _, err = login.finish()
    assert status == 130
    assert "Traceback" not in err
    assert stored_entries(isolated_environment) == []


def test_an_answer_from_another_issuer_is_not_redeemed(real_idp: Any,
                                                       isolated_environment: Path) -> None:
    login = CodeLogin(real_idp, "--redirect-port", "0")
    url = login.wait_for_link()
    redirect = authorize_code(real_idp, url)
    fields = {**query(redirect), "iss": "https://evil.example"}
    mixed_up = back_to_faasauth(redirect.split("?")[0] + "?" + urlencode(fields))
    assert mixed_up.status_code == 200  # the receiver took it; faasauth's check refuses it
    status, _, err = login.finish()
    assert status == 4, err
    assert "came back from the issuer 'https://evil.example'" in err
    assert stored_entries(isolated_environment) == []
    # the code was never redeemed: it is still good (with the right verifier, which we lack)
    assert fields["code"] not in err


def test_implicit_is_refused_and_names_what_to_use(real_idp: Any) -> None:
    result = faasauth("auth", "--authority", real_idp.issuer, "--client-id", CODE_CLIENT_ID,
                      "--grant", "implicit")
    assert result.returncode == 2
    assert "implicit grant is not supported: OAuth 2.1 drops it" in result.stderr
    assert "--grant code" in result.stderr and "--grant device" in result.stderr


# -- BROWSER: a program that plays the person -------------------------------------------------

def person_program(tmp_path: Path, issuer: str) -> str:
    """A BROWSER command: logs in on the provider's pages, then fetches faasauth's callback."""
    script = tmp_path / "person.py"
    script.write_text(textwrap.dedent(f"""\
        import sys, types
        sys.path.insert(0, {str(TESTS)!r})
        import httpx
        from idp_support import authorize_code
        idp = types.SimpleNamespace(issuer={issuer!r})
        redirect = authorize_code(idp, sys.argv[1])
        page = httpx.get(redirect, timeout=10, trust_env=False)
        sys.exit(0 if "Login complete" in page.text else 1)
    """))
    return f"{sys.executable} {script}"


def test_without_grant_a_browser_here_means_the_browser_login(real_idp: Any,
                                                               tmp_path: Path) -> None:
    env = {"BROWSER": person_program(tmp_path, real_idp.issuer)}
    login = CodeLogin(real_idp, "--redirect-port", "0", grant="", env=env)
    status, _, err = login.finish()
    assert status == 0, err
    assert "Logging in with the browser (--grant code): a browser can be opened here" in err
    assert "Opened your browser" in err
    assert stored_login().grant == "code"

    # `faasauth auth` alone: the same login again, from the stored settings
    again = faasauth("auth", "--redirect-port", "0", env=env)
    assert again.returncode == 0, again.stderr
    assert ("Logging in again to http://127.0.0.1:8080 with its stored settings: --authority "
            f"{real_idp.issuer} --client-id {CODE_CLIENT_ID} --grant code") in again.stderr
    assert stored_login().grant == "code"


def test_without_grant_or_browser_the_device_grant_says_why(real_idp: Any) -> None:
    login = CodeLogin(real_idp, grant="", env={})
    status, _, err = login.finish()
    # (code-client is not registered for the device grant: the provider refuses it)
    assert status == 4 and "device_code is not allowed for this client" in err
    assert ("Logging in with the device grant (--grant device_code): not at a terminal."
            in err)


def test_no_browser_still_prints_the_link(real_idp: Any, tmp_path: Path) -> None:
    env = {"BROWSER": person_program(tmp_path, real_idp.issuer)}
    login = CodeLogin(real_idp, "--redirect-port", "0", "--no-browser", env=env)
    url = login.wait_for_link()
    back_to_faasauth(authorize_code(real_idp, url))
    status, _, err = login.finish()
    assert status == 0, err
    assert "Opened your browser" not in err and "--no-browser was given" in err
