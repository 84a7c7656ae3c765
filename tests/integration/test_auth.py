"""`faasauth auth` and silent renewal against a real OpenID provider (oidc-provider) on loopback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from faasauth.runtime import Runtime
from faasauth.errors import NotLoggedIn
from faasauth.tokens.login import Login
from faasauth.store.cache import login_key
from faasauth.flows.login import fresh_login
from faasauth.config.settings import resolve_settings
from faasauth.tokens.jwt import unverified_claims

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from idp_support import (  # noqa: E402
    CC_CLIENT_ID,
    CC_CLIENT_SECRET,
    DEVICE_CLIENT_ID,
    approve_device,
    deny_device,
)

USER_CODE = re.compile(r"enter the code: (\S+)")


def faasauth(*args: str, env: dict[str, str] | None = None, input: str | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faasauth", *args],
        env={**os.environ, **(env or {})},
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stored_login(gateway: str = "http://127.0.0.1:8080") -> Login:
    ctx = Runtime(resolve_settings())
    entry = ctx.store.get(login_key(gateway))
    assert entry is not None, "no login was stored"
    login = Login.from_entry(entry)
    assert login is not None
    return login


def stored_entries(home: Path) -> list[str]:
    tokens = home / "tokens"
    return sorted(p.name for p in tokens.glob("*.json")) if tokens.exists() else []


class DeviceLogin:
    """`faasauth auth` with the device grant in a subprocess; the test plays the person."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "faasauth", "auth", *args],
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.code = threading.Event()
        self.user_code = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            match = USER_CODE.search(line)
            if match and not self.code.is_set():
                self.user_code = match.group(1)
                self.code.set()

    def wait_for_code(self) -> str:
        assert self.code.wait(30), "no user code shown:\n" + "".join(self.lines)
        return self.user_code

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        assert self.process.stdout is not None
        out = self.process.stdout.read()
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code, out, "".join(self.lines)


def test_client_credentials_with_a_secret_that_needs_encoding(real_idp: Any,
                                                              isolated_environment: Path) -> None:
    assert set("+%: ") <= set(CC_CLIENT_SECRET)
    result = faasauth("auth", "--authority", real_idp.issuer, "--client-id", CC_CLIENT_ID,
                      "--scope", "api:read", env={"FAASAUTH_CLIENT_SECRET": CC_CLIENT_SECRET})
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "Logged in to http://127.0.0.1:8080 as cc-client" in result.stderr
    login = stored_login()
    assert login.grant == "client_credentials"
    assert login.auth_method == "client_secret_basic"
    assert unverified_claims(login.subject_token or "")["iss"] == real_idp.issuer
    assert CC_CLIENT_SECRET not in "".join(
        p.read_text() for p in (isolated_environment / "tokens").glob("*.json"))
    status = faasauth("status", "--json")
    assert status.returncode == 0


def test_client_credentials_secret_from_file_and_print_token(real_idp: Any, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(CC_CLIENT_SECRET + "\n")
    result = faasauth("auth", "--authority", real_idp.issuer, "--client-id", CC_CLIENT_ID,
                      "--client-secret-file", str(secret_file), "--print-token")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token == stored_login().subject_token
    assert unverified_claims(token)["client_id"] == CC_CLIENT_ID


def test_wrong_secret_is_refused_without_echoing_it(real_idp: Any, isolated_environment: Path) -> None:
    wrong = "not-the-secret+%"
    result = faasauth("-v", "auth", "--authority", real_idp.issuer, "--client-id", CC_CLIENT_ID,
                      env={"FAASAUTH_CLIENT_SECRET": wrong})
    assert result.returncode == 4
    assert "faasauth: login failed: invalid_client" in result.stderr
    assert wrong not in result.stderr and wrong not in result.stdout
    assert "Traceback" not in result.stderr
    assert stored_entries(isolated_environment) == []


def test_client_secret_post_when_discovery_rules_out_basic(idp_factory: Any) -> None:
    idp = idp_factory(authMethods=["client_secret_post"])
    assert "client_secret_basic" not in idp.discovery()["token_endpoint_auth_methods_supported"]
    result = faasauth("auth", "--authority", idp.issuer, "--client-id", CC_CLIENT_ID,
                      env={"FAASAUTH_CLIENT_SECRET": CC_CLIENT_SECRET})
    assert result.returncode == 0, result.stderr
    assert stored_login().auth_method == "client_secret_post"


def test_device_grant_approved(real_idp: Any) -> None:
    login = DeviceLogin("--authority", real_idp.issuer, "--client-id", DEVICE_CLIENT_ID)
    user_code = login.wait_for_code()
    approve_device(real_idp, user_code)
    code, out, err = login.finish()
    assert code == 0, err
    assert out == ""
    assert "/device" in err  # verification_uri shown
    assert "Or open this link" in err  # verification_uri_complete shown as well
    assert "\x1b[" not in err  # off a terminal: plain lines
    stored = stored_login()
    assert stored.grant == "device" and stored.id_token and stored.refresh_token
    assert stored.subject == "alice"
    polls = real_idp.device_polls(user_code)
    assert polls[-1]["answer"] == "tokens"
    assert sum(1 for p in polls if p["answer"] == "tokens") == 1  # never polled after success


def test_device_grant_denied(real_idp: Any, isolated_environment: Path) -> None:
    login = DeviceLogin("--authority", real_idp.issuer, "--client-id", DEVICE_CLIENT_ID)
    deny_device(real_idp, login.wait_for_code())
    code, out, err = login.finish()
    assert code == 4
    assert "faasauth: login failed: access_denied" in err
    assert stored_entries(isolated_environment) == []


def test_device_grant_expired(idp_factory: Any, isolated_environment: Path) -> None:
    idp = idp_factory(deviceCodeTtl=3, interval=1)
    login = DeviceLogin("--authority", idp.issuer, "--client-id", DEVICE_CLIENT_ID)
    login.wait_for_code()
    code, out, err = login.finish()
    assert code == 4
    assert "faasauth: login failed:" in err and "expire" in err
    assert stored_entries(isolated_environment) == []


def test_device_grant_slow_down_adds_five_seconds(idp_factory: Any) -> None:
    idp = idp_factory(slowDown=True, interval=1)
    login = DeviceLogin("--authority", idp.issuer, "--client-id", DEVICE_CLIENT_ID)
    user_code = login.wait_for_code()
    polls: list[dict[str, Any]] = []
    while not any(p["answer"] == "slow_down" for p in polls):
        polls = idp.device_polls(user_code)
        threading.Event().wait(0.2)
    approve_device(idp, user_code)
    code, _, err = login.finish()
    assert code == 0, err
    polls = idp.device_polls(user_code)
    answers = [p["answer"] for p in polls]
    assert answers.count("slow_down") == 1, answers
    after = polls[answers.index("slow_down") + 1:]
    assert after and all(p["gap"] >= 5900 for p in after), polls  # 1 s + 5 s from then on


def test_confidential_client_may_use_the_device_grant(real_idp: Any) -> None:
    login = DeviceLogin("--authority", real_idp.issuer, "--client-id", CC_CLIENT_ID,
                        "--grant", "device", env={"FAASAUTH_CLIENT_SECRET": CC_CLIENT_SECRET})
    approve_device(real_idp, login.wait_for_code())
    code, _, err = login.finish()
    assert code == 0, err
    assert stored_login().grant == "device"


def test_ctrl_c_while_polling_stores_nothing(real_idp: Any, isolated_environment: Path) -> None:
    login = DeviceLogin("--authority", real_idp.issuer, "--client-id", DEVICE_CLIENT_ID)
    login.wait_for_code()
    login.process.send_signal(signal.SIGINT)
    code, _, err = login.finish()
    assert code == 130
    assert "Traceback" not in err
    assert stored_entries(isolated_environment) == []


def _device_login(idp: Any) -> Login:
    login = DeviceLogin("--authority", idp.issuer, "--client-id", DEVICE_CLIENT_ID)
    approve_device(idp, login.wait_for_code())
    code, _, err = login.finish()
    assert code == 0, err
    return stored_login()


def test_refresh_renews_and_rotates(real_idp: Any) -> None:
    before = _device_login(real_idp)
    assert before.expires_at is not None
    later = before.expires_at + 60  # the clock says the ID token has expired
    ctx = Runtime(resolve_settings(), clock=lambda: later)
    renewed = fresh_login(ctx, before)
    assert renewed.refresh_token and renewed.refresh_token != before.refresh_token
    assert renewed.access_token and renewed.access_token != before.access_token
    # Within one second the provider may mint a byte-identical ID token (same iat, no jti).
    assert renewed.id_token and unverified_claims(renewed.id_token)["sub"] == "alice"
    assert stored_login().refresh_token == renewed.refresh_token


def test_failed_refresh_keeps_the_stored_login(real_idp: Any) -> None:
    before = _device_login(real_idp)
    assert before.expires_at is not None
    later = before.expires_at + 60
    ctx = Runtime(resolve_settings(), clock=lambda: later)
    fresh_login(ctx, before)  # rotates: before.refresh_token is now spent
    after_first = stored_login()
    # A stale copy of the login (another process's view) tries the spent refresh token.
    ctx2 = Runtime(resolve_settings(), clock=lambda: later)
    ctx2.store.put(login_key(before.gateway), {**before.to_entry()})
    with pytest.raises(NotLoggedIn) as refused:
        fresh_login(ctx2, before)
    assert "faasauth auth" in (refused.value.hint or "")
    assert stored_login().refresh_token == before.refresh_token  # entry left intact
    assert after_first.refresh_token != before.refresh_token


def test_client_credentials_renew_with_the_secret_in_the_environment(
    real_idp: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = faasauth("auth", "--authority", real_idp.issuer, "--client-id", CC_CLIENT_ID,
                      env={"FAASAUTH_CLIENT_SECRET": CC_CLIENT_SECRET})
    assert result.returncode == 0, result.stderr
    before = stored_login()
    assert before.expires_at is not None
    later = before.expires_at + 60
    ctx = Runtime(resolve_settings(), clock=lambda: later)
    with pytest.raises(NotLoggedIn):
        fresh_login(ctx, before)  # no secret in the environment: cannot renew
    monkeypatch.setenv("FAASAUTH_CLIENT_SECRET", CC_CLIENT_SECRET)
    ctx = Runtime(resolve_settings(), clock=lambda: later)
    renewed = fresh_login(ctx, before)
    assert renewed.access_token != before.access_token
    assert renewed.obtained_at == later


def test_external_token_is_kept_without_talking_to_an_idp(real_idp: Any, tmp_path: Path) -> None:
    issued = faasauth("auth", "--authority", real_idp.issuer, "--client-id", CC_CLIENT_ID,
                      "--print-token", env={"FAASAUTH_CLIENT_SECRET": CC_CLIENT_SECRET,
                                            "FAASAUTH_HOME": str(tmp_path / "elsewhere")})
    token = issued.stdout.strip()
    result = faasauth("auth", "--token-file", "-", input=token + "\n")
    assert result.returncode == 0, result.stderr
    assert stored_login().subject_token == token
    assert stored_login().grant == "token"
    via_env = faasauth("auth", env={"FAASAUTH_ID_TOKEN": token}, timeout=30)
    assert via_env.returncode == 0, via_env.stderr
