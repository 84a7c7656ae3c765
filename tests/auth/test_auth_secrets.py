"""Secrets stay out of stderr (even with -v), stdout (unless --print-token) and the store."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, quote_plus

import pytest

from auth.helpers import CliResult, IdP, make_jwt, stored_files

SECRET = "Sup3r-s3cret+%:value with space"
DEVICE_CODE = "devcode-0123456789abcdefSECRET"
ACCESS = "access-token-0123456789SECRET"
REFRESH = "refresh-token-0123456789SECRET"
ID_TOKEN = make_jwt({"iss": "https://idp.example", "sub": "alice", "exp": 4_000_000_000})


def forms_of(value: str) -> list[str]:
    """A secret as it may travel: raw, form-encoded, percent-encoded, inside Basic."""
    encoded = [value, quote_plus(value, safe=""), quote(value, safe="")]
    lower_hex = [re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), e) for e in encoded[1:]]
    basic = [base64.b64encode(f"cc:{e}".encode()).decode() for e in encoded[:2]]
    return encoded + lower_hex + basic


SECRETS = [*forms_of(SECRET), *forms_of(DEVICE_CODE), *forms_of(ACCESS), *forms_of(REFRESH),
           ID_TOKEN, ID_TOKEN.split(".")[1]]


def assert_no_secret(text: str, *allowed: str) -> None:
    for secret in SECRETS:
        if secret not in allowed:
            assert secret not in text, f"a secret leaked: {secret[:12]}…"


def tokens(**extra: Any) -> dict[str, Any]:
    return {"access_token": ACCESS, "id_token": ID_TOKEN, "refresh_token": REFRESH,
            "token_type": "Bearer", "expires_in": 300, **extra}


@pytest.fixture
def secret_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAASAUTH_CLIENT_SECRET", SECRET)


def all_stored(home: Path) -> str:
    files = stored_files(home)
    assert files, "nothing was stored"
    return b"".join(files.values()).decode()


@pytest.mark.parametrize("methods", [["client_secret_basic"], ["client_secret_post"]])
def test_verbose_client_credentials_shows_no_secret(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: None, methods: list[str],
    isolated_environment: Path,
) -> None:
    idp.discovery(token_endpoint_auth_methods_supported=methods)
    idp.server.expect_request("/token").respond_with_json(
        tokens())
    result = run_cli("-v", "auth", "--authority", idp.issuer, "--client-id", "cc")
    assert result.code == 0, result.err
    # The log is there (so its silence about secrets means something)...
    assert "> POST " + idp.token_url in result.err
    assert "> form: grant_type=client_credentials" in result.err
    assert re.search(r"^< HTTP/1\.[01] 200 OK$", result.err, re.M)
    if methods == ["client_secret_basic"]:
        assert "> authorization: Basic <redacted>" in result.err
    else:
        assert "client_secret=<redacted>" in result.err
    # ...and nothing secret is in it, nor on stdout, nor in the store.
    assert_no_secret(result.err)
    assert result.out == ""
    assert_no_secret(all_stored(isolated_environment), ACCESS, REFRESH, ID_TOKEN,
                     ID_TOKEN.split(".")[1])


def test_verbose_device_grant_shows_no_secret(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: None,
    fake_device_prompt: list[float], isolated_environment: Path,
) -> None:
    idp.discovery()
    idp.server.expect_oneshot_request("/device").respond_with_json(
        {"device_code": DEVICE_CODE, "user_code": "WDJB-MJHT",
         "verification_uri": "https://idp.example/device", "expires_in": 600})
    idp.server.expect_oneshot_request("/token").respond_with_json(
        {"error": "authorization_pending"}, 400)
    idp.server.expect_oneshot_request("/token").respond_with_json(tokens())
    result = run_cli("auth", "-v", "--authority", idp.issuer, "--client-id", "cc",
                     "--grant", "device")
    assert result.code == 0, result.err
    assert "device_code=<redacted>" in result.err
    assert "WDJB-MJHT" in result.err  # the user code is for showing
    assert_no_secret(result.err)
    assert result.out == ""
    assert all(idp.basic(r) == ("cc", SECRET) for r in idp.requests("/token"))
    stored = all_stored(isolated_environment)
    for secret in forms_of(SECRET) + [DEVICE_CODE]:
        assert secret not in stored


def test_print_token_writes_only_the_subject_token(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: None
) -> None:
    idp.discovery()
    idp.server.expect_request("/token").respond_with_json(tokens())
    result = run_cli("-v", "auth", "--authority", idp.issuer, "--client-id", "cc",
                     "--print-token")
    assert result.code == 0, result.err
    assert result.out == ID_TOKEN + "\n"
    assert_no_secret(result.err)
    assert REFRESH not in result.out and ACCESS not in result.out


def test_secrets_echoed_by_the_idp_in_an_error_are_not_repeated(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: None,
    fake_device_prompt: list[float],
) -> None:
    idp.discovery(token_endpoint_auth_methods_supported=["client_secret_post"])
    idp.server.expect_oneshot_request("/device").respond_with_json(
        {"device_code": DEVICE_CODE, "user_code": "WDJB-MJHT",
         "verification_uri": "https://idp.example/device", "expires_in": 600})
    idp.server.expect_oneshot_request("/token").respond_with_json(
        {"error": "access_denied",
         "error_description": f"code {DEVICE_CODE} for secret {SECRET} was denied"}, 400)
    result = run_cli("-v", "auth", "--authority", idp.issuer, "--client-id", "cc",
                     "--grant", "device")
    assert result.code == 4, result
    assert "faasauth: login failed: access_denied: code <redacted> for secret <redacted> " \
           "was denied" in result.err
    assert_no_secret(result.err)


def test_secret_echoed_in_a_non_json_answer_is_not_repeated(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: None
) -> None:
    idp.discovery(token_endpoint_auth_methods_supported=["client_secret_post"])
    idp.server.expect_request("/token").respond_with_data(
        f"bad client_secret={SECRET}", 400, content_type="text/plain")
    result = run_cli("auth", "--authority", idp.issuer, "--client-id", "cc")
    assert result.code == 3, result
    assert "the identity provider answered 400 (text/plain: bad client_secret=<redacted>)" \
        in result.err
    assert_no_secret(result.err)


def test_a_refresh_token_echoed_in_a_refusal_is_not_repeated(idp: IdP) -> None:
    from auth.helpers import FakeClock, make_runtime
    from faasauth.errors import NotLoggedIn
    from faasauth.tokens.login import Login
    from faasauth.flows.login import fresh_login

    login = Login(gateway="http://127.0.0.1:8080", client_id="public", grant="device",
                  token_endpoint=idp.token_url, auth_method="none", id_token=ID_TOKEN,
                  refresh_token=REFRESH, expires_at=1000.0)
    idp.server.expect_request("/token").respond_with_json(
        {"error": "invalid_grant", "error_description": f"refresh token {REFRESH} is revoked"},
        400)
    with pytest.raises(NotLoggedIn) as refused:
        fresh_login(make_runtime(clock=FakeClock(5000.0), env={}), login)
    assert "refresh token <redacted> is revoked" in refused.value.message
    assert REFRESH not in refused.value.message


def test_command_line_never_takes_a_secret() -> None:
    from faasauth.cli.commands.auth import command

    names = {name for param in command.params for name in param.opts}
    assert "--client-secret" not in names and "--token" not in names
    assert {"--client-secret-file", "--token-file"} <= names
