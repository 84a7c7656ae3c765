"""What a new user tripped over (issue 15, points 1-3 and 7): status agrees with the next
command, JSON that names the current gateway's login, where an unwanted secret came from."""

from __future__ import annotations

import json
import time
from typing import Callable

import pytest

from cli_support import CliResult, cli_runner, make_jwt
from hostile.server import HostileServer

GATEWAY = "http://127.0.0.1:8080"


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    return cli_runner(capsys, monkeypatch)


def _store(gateway: str, **fields: object) -> None:
    from faasauth.config.settings import resolve_settings
    from faasauth.runtime import Runtime
    from faasauth.tokens.login import Login

    rt = Runtime(resolve_settings(gateway=gateway))
    values: dict[str, object] = dict(
        gateway=rt.settings.gateway, authority="https://idp.example", client_id="ci",
        grant="client_credentials", token_endpoint="https://idp.example/token",
        auth_method="client_secret_basic",
        id_token=make_jwt({"sub": "ci", "iss": "https://idp.example", "exp": 1000}),
        expires_at=1000.0, obtained_at=700.0, issuer="https://idp.example", subject="ci")
    values.update(fields)
    rt.cache.save_login(Login(**values))  # type: ignore[arg-type]
    rt.close()


def test_an_expired_client_credentials_login_without_a_secret_is_not_usable(
    run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(GATEWAY)
    monkeypatch.delenv("FAASAUTH_CLIENT_SECRET", raising=False)
    result = run("status", "--json")
    status = json.loads(result.out)
    assert result.code == 4 and status["usable_login"] is False
    assert status["current_login"]["refreshable"] is False
    monkeypatch.setenv("FAASAUTH_CLIENT_SECRET", "s3cret-value")
    assert run("status", "--json").code == 0
    monkeypatch.setenv("FAASAUTH_CLIENT_ID", "another-client")  # not this login's secret
    assert run("status", "--json").code == 4


def test_status_json_names_the_current_gateways_login(run: Callable[..., CliResult]) -> None:
    _store("http://gw-a.example:8080", expires_at=time.time() + 600)
    _store(GATEWAY, client_id="mine", expires_at=time.time() + 600)
    status = json.loads(run("status", "--json", "-g", GATEWAY).out)
    assert status["current_login"]["client_id"] == "mine"
    assert status["current_login"]["gateway"] == GATEWAY
    assert len(status["logins"]) == 2
    other = json.loads(run("status", "--json", "-g", "http://nowhere.example:1").out)
    assert other["current_login"] is None


def test_a_public_client_refused_for_an_environment_secret_says_where_it_came_from(
    hostile: HostileServer, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile.discovery()
    hostile.route("/device")(lambda r: r.json(401, {
        "error": "invalid_client", "error_description": "public client: send no secret"}))
    monkeypatch.setenv("FAASAUTH_CLIENT_SECRET", "the-sandbox-confidential-secret")
    result = run("auth", "--grant", "device", "--authority", hostile.url,
                 "--client-id", "faasauth-cli", "--no-browser")
    assert result.code == 4
    assert "the client secret from FAASAUTH_CLIENT_SECRET was refused" in result.err
    assert "if faasauth-cli is a public client, send none: env -u FAASAUTH_CLIENT_SECRET" in result.err


@pytest.mark.parametrize("where", ["env", "file"])
def test_a_confidential_clients_refused_secret_says_where_it_came_from(
    hostile: HostileServer, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch,
    tmp_path, where: str,
) -> None:
    """Issue 22 item 6: a wrong secret got "for a public client, drop it" (from the
    environment) or no hint at all (from --client-secret-file)."""
    hostile.discovery()
    hostile.route("/token")(lambda r: r.json(401, {
        "error": "invalid_client", "error_description": "client authentication failed"}))
    args = ["auth", "--authority", hostile.url, "--client-id", "ci-bot"]
    if where == "env":
        monkeypatch.setenv("FAASAUTH_CLIENT_SECRET", "a-wrong-secret-value")
        source = "FAASAUTH_CLIENT_SECRET"
    else:
        secret = tmp_path / "secret"
        secret.write_text("a-wrong-secret-value\n")
        secret.chmod(0o600)
        args += ["--client-secret-file", str(secret)]
        source = f"--client-secret-file {secret}"
    result = run(*args)
    assert result.code == 4
    hint = result.err.splitlines()[-1]
    assert hint == (f"hint: the client secret from {source} was refused: check that it is "
                    "ci-bot's current secret at the identity provider"), result.err
    assert "public client" not in result.err and "a-wrong-secret-value" not in result.err




def test_network_errors_say_what_and_where_in_words(
    hostile: HostileServer, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile.route("/oauth/token")(lambda request: None)  # hangs up without an answer
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "opaque-subject-0123456789")
    closed = run("exchange", "-g", hostile.url)
    assert closed.code == 3
    assert closed.err.startswith(f"faasauth: token exchange ({hostile.url}): the server closed "
                                 "the connection")
    port = hostile.url.rsplit(":", 1)[1]
    not_tls = run("exchange", "-g", f"https://127.0.0.1:{port}")
    assert not_tls.code == 3
    assert "does not speak TLS" in not_tls.err and "try http://" in not_tls.err
    for text in (closed.err, not_tls.err):
        assert "Error" not in text and "WRONG_VERSION" not in text and "SSL" not in text


def test_an_expired_client_credentials_login_names_the_secret_variable(
    run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 22 item 17: the hint named only `faasauth auth ...`."""
    _store(GATEWAY)
    monkeypatch.delenv("FAASAUTH_CLIENT_SECRET", raising=False)
    result = run("exchange", "-g", GATEWAY)
    assert result.code == 4
    assert "has expired and it cannot be renewed" in result.err
    hint = result.err.splitlines()[-1]
    assert hint.startswith("hint: set FAASAUTH_CLIENT_SECRET (or FAASAUTH_CLIENT_SECRET_FILE) "
                           "to ci's secret to renew it, or run: faasauth auth"), hint


@pytest.mark.parametrize(
    ("args", "first"),
    [
        ([], "faasauth: no identity provider and no client id given: pass --authority "
             "ISSUER_URL and --client-id ID (or set FAASAUTH_AUTHORITY and FAASAUTH_CLIENT_ID)"),
        (["--grant", "client_credentials"],
         "faasauth: no identity provider, no client id and no client secret given: pass "
         "--authority ISSUER_URL, --client-id ID and --client-secret-file PATH (or set "
         "FAASAUTH_AUTHORITY, FAASAUTH_CLIENT_ID and FAASAUTH_CLIENT_SECRET)"),
    ],
)
def test_auth_with_nothing_set_names_everything_missing_at_once(
    run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch, args: list[str], first: str
) -> None:
    """Issue 22 item 22: the client id first, then on the next try the authority."""
    for name in ("FAASAUTH_AUTHORITY", "FAASAUTH_CLIENT_ID", "FAASAUTH_CLIENT_SECRET",
                 "FAASAUTH_CLIENT_SECRET_FILE", "FAASAUTH_GRANT", "FAASAUTH_ID_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    result = run("auth", "--no-browser", *args)
    assert result.code == 2 and result.out == ""
    assert result.err.splitlines() == [
        first,
        "hint: `faasauth auth` alone repeats the login stored for a gateway, and none is "
        f"stored for {GATEWAY}",
    ]


def test_auth_missing_one_setting_names_it(
    run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAASAUTH_CLIENT_ID", raising=False)
    result = run("auth", "--authority", "http://127.0.0.1:9", "--no-browser")
    assert (result.code, result.err) == (
        2, "faasauth: no client id given: pass --client-id ID (or FAASAUTH_CLIENT_ID)\n")
