"""The token endpoint's odd answers, and how the client authenticates itself to it."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Callable

import pytest

from auth.helpers import CliResult, IdP, make_jwt, stored_files, stored_login_entry

# RFC 6749 2.3.1 + Appendix B: each of id and secret is application/x-www-form-urlencoded
# (space -> '+', everything else outside [A-Za-z0-9*-._] -> %XX) BEFORE the Basic encoding.
SECRET = "s3cr+t%2F:x y"
SECRET_FORM_ENCODED = "s3cr%2Bt%252F%3Ax+y"
ODD_ID = "ci client:1+%"
ODD_ID_FORM_ENCODED = "ci+client%3A1%2B%25"


def cc_login(run_cli: Callable[..., CliResult], idp: IdP, *extra: str,
             client_id: str = "cc") -> CliResult:
    return run_cli("auth", "--authority", idp.issuer, "--client-id", client_id, *extra)


@pytest.fixture
def secret_in_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FAASAUTH_CLIENT_SECRET", SECRET)
    return SECRET


@pytest.mark.parametrize("status", [400, 401])
def test_json_error_is_a_refusal_with_the_idp_words(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str, status: int,
    isolated_environment: Path,
) -> None:
    idp.discovery()
    idp.server.expect_request("/token", method="POST").respond_with_json(
        {"error": "invalid_client", "error_description": "client authentication failed"},
        status=status, headers={"WWW-Authenticate": 'Basic realm="idp"'})
    result = cc_login(run_cli, idp)
    assert result.code == 4, result
    assert result.err.splitlines()[0] == (
        "faasauth: login failed: invalid_client: client authentication failed")
    assert result.out == ""
    assert stored_files(isolated_environment) == {}


def test_json_error_without_description(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str
) -> None:
    idp.discovery()
    idp.server.expect_request("/token").respond_with_json({"error": "unauthorized_client"}, 400)
    result = cc_login(run_cli, idp)
    assert result.code == 4
    assert result.err.splitlines()[0] == "faasauth: login failed: unauthorized_client"


def test_json_error_sent_as_text_plain_is_still_read(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str
) -> None:
    idp.discovery()
    idp.server.expect_request("/token").respond_with_data(
        '{"error":"invalid_scope","error_description":"nope"}', 400, content_type="text/plain")
    result = cc_login(run_cli, idp)
    assert result.code == 4
    assert "faasauth: login failed: invalid_scope: nope" in result.err


def test_html_400_is_summarised_not_dumped(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str
) -> None:
    # What oidc-provider renders for an error when the client asks for text/html.
    page = ("<!DOCTYPE html>\n<html><head><title>oops! something went wrong</title></head>"
            "<body>" + "<p>error_description: a long explanation</p>\n" * 50 + "</body></html>")
    idp.discovery()
    idp.server.expect_request("/token").respond_with_data(page, 400, content_type="text/html")
    result = cc_login(run_cli, idp)
    assert result.code == 3, result
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("faasauth: login failed: the identity provider answered 400")
    assert "text/html" in lines[0]
    assert "a long explanation" not in result.err
    assert "Traceback" not in result.err


def test_token_request_asks_for_json(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str
) -> None:
    idp.discovery()
    idp.server.expect_request("/token").respond_with_json({"access_token": "at-123456789"})
    assert cc_login(run_cli, idp).code == 0
    assert idp.requests("/token")[0].headers["Accept"] == "application/json"


@pytest.mark.parametrize("status", [502, 503])
def test_5xx_is_transient(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str, status: int
) -> None:
    idp.discovery()
    # Even with an OAuth-looking body a 5xx is the server's trouble, not a refusal.
    idp.server.expect_request("/token").respond_with_json(
        {"error": "temporarily_unavailable"}, status)
    result = cc_login(run_cli, idp)
    assert result.code == 3, result
    assert f"the identity provider answered {status}" in result.err


@pytest.mark.parametrize("body", [
    {"token_type": "Bearer", "expires_in": 300},
    {"access_token": "", "token_type": "Bearer"},
    {"access_token": 12345},
])
def test_200_without_an_access_token_is_malformed(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str, body: dict[str, object],
    isolated_environment: Path,
) -> None:
    idp.discovery()
    idp.server.expect_request("/token").respond_with_json(body)
    result = cc_login(run_cli, idp)
    assert result.code == 3, result
    assert "login failed: the token endpoint's answer has no access_token" in result.err
    assert stored_files(isolated_environment) == {}


def test_200_that_is_not_json(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str
) -> None:
    idp.discovery()
    idp.server.expect_request("/token").respond_with_data("access_token=abc&x=y", 200,
                                                          content_type="text/plain")
    result = cc_login(run_cli, idp)
    assert result.code == 3
    assert "answered 200 (text/plain: access_token=abc&x=y)" in result.err


def test_a_redirect_to_a_login_page_is_not_followed(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str
) -> None:
    idp.discovery()
    idp.server.expect_request("/token").respond_with_data(
        "", 302, headers={"Location": idp.server.url_for("/login")})
    idp.server.expect_request("/login").respond_with_json({"access_token": "at-123456789"})
    result = cc_login(run_cli, idp)
    assert result.code == 3, result
    assert "login failed: the identity provider answered 302" in result.err
    assert idp.requests("/login") == []  # the credentials went nowhere else


def test_4xx_json_that_is_not_an_oauth_error(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str
) -> None:
    idp.discovery()
    idp.server.expect_request("/token").respond_with_json({"message": "Forbidden"}, 403)
    result = cc_login(run_cli, idp)
    assert result.code == 3
    assert "the identity provider answered 403" in result.err


# --------------------------------------------------------------------------- client auth


def test_basic_header_form_encodes_a_secret_with_plus_percent_colon_and_space(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str
) -> None:
    idp.discovery()
    idp.server.expect_request("/token", method="POST").respond_with_json(
        {"access_token": "at-123456789", "expires_in": 60})
    result = cc_login(run_cli, idp)
    assert result.code == 0, result.err
    (request,) = idp.requests("/token")
    expected = base64.b64encode(f"cc:{SECRET_FORM_ENCODED}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert idp.basic(request) == ("cc", SECRET)
    form = idp.form(request)
    assert form == {"grant_type": "client_credentials"}  # no secret, no id, no scope


def test_basic_header_form_encodes_the_client_id_too(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str
) -> None:
    idp.discovery()
    idp.server.expect_request("/token").respond_with_json({"access_token": "at-123456789"})
    assert cc_login(run_cli, idp, client_id=ODD_ID).code == 0
    (request,) = idp.requests("/token")
    expected = base64.b64encode(f"{ODD_ID_FORM_ENCODED}:{SECRET_FORM_ENCODED}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert idp.basic(request) == (ODD_ID, SECRET)


def test_non_ascii_secret_is_utf8_then_percent_encoded(
    run_cli: Callable[..., CliResult], idp: IdP, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAASAUTH_CLIENT_SECRET", "pässwörd")
    idp.discovery()
    idp.server.expect_request("/token").respond_with_json({"access_token": "at-123456789"})
    assert cc_login(run_cli, idp).code == 0
    (request,) = idp.requests("/token")
    raw = base64.b64decode(request.headers["Authorization"].split(" ", 1)[1]).decode("ascii")
    assert raw == "cc:p%C3%A4ssw%C3%B6rd"


@pytest.mark.parametrize("methods", [["client_secret_post"],
                                     ["client_secret_post", "private_key_jwt"]])
def test_client_secret_post_when_discovery_rules_out_basic(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str, methods: list[str],
    isolated_environment: Path,
) -> None:
    idp.discovery(token_endpoint_auth_methods_supported=methods)
    idp.server.expect_request("/token").respond_with_json({"access_token": "at-123456789"})
    assert cc_login(run_cli, idp, "--scope", "api:read").code == 0
    (request,) = idp.requests("/token")
    assert "Authorization" not in request.headers
    assert idp.form(request) == {"grant_type": "client_credentials", "client_id": "cc",
                                 "client_secret": SECRET, "scope": "api:read"}
    assert stored_login_entry(isolated_environment)["auth_method"] == "client_secret_post"


@pytest.mark.parametrize("methods", [None, ["client_secret_basic"], ["private_key_jwt"],
                                     "client_secret_post"])
def test_basic_unless_discovery_rules_it_out(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str, methods: object
) -> None:
    # Absent, Basic listed, nothing we can do, or not even a list: the RFC default, Basic.
    idp.discovery(token_endpoint_auth_methods_supported=methods)
    idp.server.expect_request("/token").respond_with_json({"access_token": "at-123456789"})
    assert cc_login(run_cli, idp).code == 0
    (request,) = idp.requests("/token")
    assert idp.basic(request) == ("cc", SECRET)
    assert "client_secret" not in idp.form(request)


def test_client_credentials_without_a_secret_is_a_usage_error(
    run_cli: Callable[..., CliResult], idp: IdP
) -> None:
    idp.discovery()
    result = cc_login(run_cli, idp, "--grant", "client_credentials")
    assert result.code == 2
    assert "needs a client secret" in result.err
    assert "hint: set FAASAUTH_CLIENT_SECRET" in result.err
    assert idp.server.log == []


def test_secret_file_keeps_inner_spaces_and_drops_the_line_ending(
    run_cli: Callable[..., CliResult], idp: IdP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAASAUTH_CLIENT_SECRET", "the-env-secret-loses")
    path = tmp_path / "secret"
    path.write_text(" " + SECRET + " \r\n")
    idp.discovery()
    idp.server.expect_request("/token").respond_with_json({"access_token": "at-123456789"})
    assert cc_login(run_cli, idp, "--client-secret-file", str(path)).code == 0
    assert idp.basic(idp.requests("/token")[0]) == ("cc", " " + SECRET + " ")


@pytest.mark.parametrize("content", [None, "", "\n"])
def test_unusable_secret_file_is_a_usage_error(
    run_cli: Callable[..., CliResult], idp: IdP, tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "secret"
    if content is not None:
        path.write_text(content)
    result = cc_login(run_cli, idp, "--client-secret-file", str(path))
    assert result.code == 2, result
    assert "client secret file" in result.err
    assert idp.server.log == []


def test_secret_file_from_the_environment(
    run_cli: Callable[..., CliResult], idp: IdP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    isolated_environment: Path,
) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    monkeypatch.setenv("FAASAUTH_CLIENT_SECRET_FILE", str(path))
    idp.discovery()
    token = make_jwt({"iss": idp.issuer, "sub": "cc", "exp": 4_000_000_000})
    idp.server.expect_request("/token").respond_with_json({"access_token": token})
    result = cc_login(run_cli, idp)
    assert result.code == 0, result.err
    assert idp.basic(idp.requests("/token")[0]) == ("cc", SECRET)
    entry = stored_login_entry(isolated_environment)
    assert entry["grant"] == "client_credentials" and entry["scope"] is None
    assert entry["access_token"] == token


def test_public_client_sends_its_id_in_the_form_and_no_authorization(
    run_cli: Callable[..., CliResult], idp: IdP, fake_device_prompt: list[float]
) -> None:
    idp.discovery()
    idp.server.expect_oneshot_request("/device", method="POST").respond_with_json(
        {"device_code": "dc-0123456789", "user_code": "WDJB-MJHT",
         "verification_uri": "https://idp.example/device", "expires_in": 600})
    idp.server.expect_oneshot_request("/token", method="POST").respond_with_json(
        {"access_token": "at-123456789", "expires_in": 60})
    result = run_cli("auth", "--authority", idp.issuer, "--client-id", "public")
    assert result.code == 0, result.err
    device, token = idp.requests("/device") + idp.requests("/token")
    for request in (device, token):
        assert "Authorization" not in request.headers
        assert idp.form(request)["client_id"] == "public"
        assert "client_secret" not in idp.form(request)
    assert idp.form(device) == {"client_id": "public", "scope": "openid offline_access"}
    assert idp.form(token) == {"client_id": "public", "device_code": "dc-0123456789",
                               "grant_type": "urn:ietf:params:oauth:grant-type:device_code"}


def test_every_setting_from_the_environment(
    run_cli: Callable[..., CliResult], idp: IdP, monkeypatch: pytest.MonkeyPatch,
    fake_device_prompt: list[float], isolated_environment: Path,
) -> None:
    idp.discovery()
    for name, value in {"FAASAUTH_AUTHORITY": idp.issuer, "FAASAUTH_CLIENT_ID": "conf",
                        "FAASAUTH_GRANT": "device", "FAASAUTH_SCOPE": "openid groups",
                        "FAASAUTH_CLIENT_SECRET": SECRET}.items():
        monkeypatch.setenv(name, value)
    idp.server.expect_request("/device").respond_with_json(
        {"device_code": "dc-0123456789", "user_code": "WDJB-MJHT",
         "verification_uri": "https://idp.example/device", "expires_in": 600})
    idp.server.expect_request("/token").respond_with_json({"access_token": "at-123456789"})
    result = run_cli("auth")
    assert result.code == 0, result.err
    (device,) = idp.requests("/device")
    assert idp.basic(device) == ("conf", SECRET)  # a secret, yet the device grant as asked
    assert idp.form(device) == {"scope": "openid groups"}
    entry = stored_login_entry(isolated_environment)
    assert (entry["grant"], entry["scope"], entry["client_id"]) == ("device", "openid groups",
                                                                    "conf")


def test_an_unknown_grant_from_the_environment_is_a_usage_error(
    run_cli: Callable[..., CliResult], idp: IdP, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAASAUTH_GRANT", "password")
    result = cc_login(run_cli, idp)
    assert result.code == 2
    assert "password" in result.err
    assert idp.server.log == []
