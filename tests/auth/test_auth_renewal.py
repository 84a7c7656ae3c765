"""Silent renewal of a stored login (grants.renew via renewal.fresh_login) on a fake clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from auth.helpers import FakeClock, IdP, make_runtime, make_jwt, stored_files
from faasauth.runtime import Runtime
from faasauth.errors import ExitCode, MalformedResponse, NotLoggedIn, TransientFailure
from faasauth.tokens.login import Login
from faasauth.store.cache import login_key
from faasauth.flows.login import fresh_login

GATEWAY = "http://127.0.0.1:8080"
OBTAINED = 1_000_000.0
EXPIRED = OBTAINED + 3600  # the clock once the stored login has run out
OLD_REFRESH = "rt-old-0123456789abcdef"
CC_SECRET = "cc-secret+with:odd%chars"


def id_token(sub: str, exp: float) -> str:
    return make_jwt({"iss": "https://idp.example", "sub": sub, "exp": int(exp)})


def stored(idp: IdP, **fields: Any) -> Login:
    values: dict[str, Any] = {
        "gateway": GATEWAY, "authority": idp.issuer, "client_id": "public", "grant": "device",
        "scope": "openid offline_access", "token_endpoint": idp.token_url, "auth_method": "none",
        "id_token": id_token("alice", OBTAINED + 300), "access_token": "at-old-0123456789",
        "refresh_token": OLD_REFRESH, "expires_at": OBTAINED + 300, "obtained_at": OBTAINED,
        "issuer": "https://idp.example", "subject": "alice",
    }
    values.update(fields)
    return Login(**values)


def keep(login: Login) -> Runtime:
    ctx = make_runtime()
    ctx.store.put(login_key(login.gateway), login.to_entry())
    return ctx


def renew_at(login: Login, now: float = EXPIRED, env: dict[str, str] | None = None) -> Login:
    return fresh_login(make_runtime(clock=FakeClock(now), env=env or {}), login)


def test_refresh_keeps_the_old_refresh_token_when_none_comes_back(
    idp: IdP, isolated_environment: Path
) -> None:
    login = stored(idp)
    keep(login)
    new_id = id_token("alice", EXPIRED + 300)
    idp.server.expect_request("/token", method="POST").respond_with_json(
        {"access_token": "at-new-0123456789", "id_token": new_id, "expires_in": 300})
    renewed = renew_at(login)
    assert renewed.id_token == new_id and renewed.access_token == "at-new-0123456789"
    assert renewed.refresh_token == OLD_REFRESH
    assert renewed.obtained_at == EXPIRED
    assert renewed.expires_at == EXPIRED + 300
    assert (renewed.grant, renewed.scope, renewed.client_id) == ("device", login.scope, "public")
    (request,) = idp.requests("/token")
    assert idp.form(request) == {"grant_type": "refresh_token", "refresh_token": OLD_REFRESH,
                                 "client_id": "public"}
    assert "Authorization" not in request.headers
    again = make_runtime().store.get(login_key(GATEWAY))
    assert again is not None and Login.from_entry(again) == renewed


def test_refresh_takes_a_rotated_refresh_token(idp: IdP) -> None:
    login = stored(idp)
    keep(login)
    idp.server.expect_request("/token").respond_with_json(
        {"access_token": "at-new-0123456789", "id_token": id_token("alice", EXPIRED + 300),
         "refresh_token": "rt-new-0123456789abcdef"})
    assert renew_at(login).refresh_token == "rt-new-0123456789abcdef"


def test_a_login_that_is_still_fresh_is_not_renewed(idp: IdP) -> None:
    login = stored(idp)
    assert renew_at(login, now=OBTAINED + 10) is login
    assert idp.server.log == []


def test_a_login_renewed_meanwhile_by_another_process_is_used(idp: IdP) -> None:
    stale = stored(idp)
    current = stored(idp, id_token=id_token("alice", EXPIRED + 300), expires_at=EXPIRED + 300,
                     refresh_token="rt-other-process-012345")
    keep(current)
    assert renew_at(stale) == current
    assert idp.server.log == []


@pytest.mark.parametrize("status", [400, 401])
def test_refused_refresh_leaves_the_entry_byte_for_byte(
    idp: IdP, isolated_environment: Path, status: int
) -> None:
    login = stored(idp)
    keep(login)
    before = stored_files(isolated_environment)
    idp.server.expect_request("/token").respond_with_json(
        {"error": "invalid_grant", "error_description": "grant request is invalid"}, status)
    with pytest.raises(NotLoggedIn) as refused:
        renew_at(login)
    assert refused.value.exit_code == ExitCode.REFUSED
    assert "refresh was refused (invalid_grant: grant request is invalid)" in refused.value.message
    assert "faasauth auth" in (refused.value.hint or "")
    assert stored_files(isolated_environment) == before


@pytest.mark.parametrize("status, body, error", [
    (503, "maintenance", TransientFailure),
    (400, "<html><body>Bad Request</body></html>", MalformedResponse),
    (200, "<html>login page</html>", MalformedResponse),
])
def test_refresh_server_trouble_is_transient_and_leaves_the_entry(
    idp: IdP, isolated_environment: Path, status: int, body: str, error: type[Exception]
) -> None:
    login = stored(idp)
    keep(login)
    before = stored_files(isolated_environment)
    idp.server.expect_request("/token").respond_with_data(body, status, content_type="text/html")
    with pytest.raises(error) as failed:
        renew_at(login)
    assert isinstance(failed.value, TransientFailure)
    assert failed.value.exit_code == ExitCode.TRANSIENT
    assert stored_files(isolated_environment) == before


def test_an_unreachable_token_endpoint_says_it_was_renewing_the_login_and_where(
    idp: IdP, isolated_environment: Path
) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    login = stored(idp, token_endpoint=f"http://127.0.0.1:{port}/token")
    keep(login)
    before = stored_files(isolated_environment)
    with pytest.raises(TransientFailure) as failed:
        renew_at(login)
    assert failed.value.message.startswith(
        f"renewing the login (http://127.0.0.1:{port}): cannot connect"
    )
    assert stored_files(isolated_environment) == before


def test_refresh_answer_without_access_token_is_malformed(idp: IdP,
                                                          isolated_environment: Path) -> None:
    login = stored(idp)
    keep(login)
    before = stored_files(isolated_environment)
    idp.server.expect_request("/token").respond_with_json({"token_type": "Bearer"})
    with pytest.raises(MalformedResponse) as failed:
        renew_at(login)
    assert failed.value.exit_code == ExitCode.TRANSIENT
    assert stored_files(isolated_environment) == before


def test_without_refresh_token_a_device_login_needs_faasauth_auth(
    idp: IdP, isolated_environment: Path
) -> None:
    login = stored(idp, refresh_token=None)
    keep(login)
    before = stored_files(isolated_environment)
    with pytest.raises(NotLoggedIn) as refused:
        renew_at(login, env={"FAASAUTH_CLIENT_SECRET": CC_SECRET})
    assert refused.value.exit_code == ExitCode.REFUSED
    assert "has expired and it cannot be renewed" in refused.value.message
    assert "faasauth auth" in (refused.value.hint or "")
    assert idp.server.log == []
    assert stored_files(isolated_environment) == before


def test_an_external_token_is_not_renewed(idp: IdP) -> None:
    login = Login(gateway=GATEWAY, grant="token", id_token=id_token("ci", OBTAINED + 60),
                  expires_at=OBTAINED + 60, obtained_at=OBTAINED)
    with pytest.raises(NotLoggedIn):
        renew_at(login)
    assert idp.server.log == []


def cc_login(idp: IdP, **fields: Any) -> Login:
    values: dict[str, Any] = {
        "client_id": "cc", "grant": "client_credentials", "scope": "api:read",
        "auth_method": "client_secret_post", "id_token": None, "refresh_token": None,
        "access_token": "at-old-0123456789", "issuer": None, "subject": None,
    }
    values.update(fields)
    return stored(idp, **values)


def test_client_credentials_renew_with_the_secret_file_from_the_environment(
    idp: IdP, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(CC_SECRET + "\n")
    login = cc_login(idp)
    keep(login)
    idp.server.expect_request("/token").respond_with_json(
        {"access_token": "at-new-0123456789", "expires_in": 600})
    renewed = renew_at(login, env={"FAASAUTH_CLIENT_SECRET_FILE": str(secret_file)})
    assert renewed.access_token == "at-new-0123456789"
    assert renewed.expires_at == EXPIRED + 600
    assert (renewed.grant, renewed.auth_method) == ("client_credentials", "client_secret_post")
    (request,) = idp.requests("/token")
    assert idp.form(request) == {"grant_type": "client_credentials", "scope": "api:read",
                                 "client_id": "cc", "client_secret": CC_SECRET}


def test_client_credentials_renew_with_basic(idp: IdP) -> None:
    login = cc_login(idp, auth_method="client_secret_basic")
    idp.server.expect_request("/token").respond_with_json({"access_token": "at-new-0123456789"})
    renew_at(login, env={"FAASAUTH_CLIENT_SECRET": CC_SECRET})
    assert idp.basic(idp.requests("/token")[0]) == ("cc", CC_SECRET)


def test_client_credentials_refresh_refused_falls_back_to_a_new_grant(idp: IdP) -> None:
    login = cc_login(idp, refresh_token=OLD_REFRESH)
    idp.server.expect_oneshot_request("/token").respond_with_json(
        {"error": "invalid_grant"}, 400)
    idp.server.expect_oneshot_request("/token").respond_with_json(
        {"access_token": "at-new-0123456789"})
    renewed = renew_at(login, env={"FAASAUTH_CLIENT_SECRET": CC_SECRET})
    assert renewed.access_token == "at-new-0123456789"
    refresh, grant = (idp.form(r)["grant_type"] for r in idp.requests("/token"))
    assert (refresh, grant) == ("refresh_token", "client_credentials")


def test_client_credentials_without_the_secret_cannot_renew(
    idp: IdP, isolated_environment: Path
) -> None:
    login = cc_login(idp)
    keep(login)
    before = stored_files(isolated_environment)
    with pytest.raises(NotLoggedIn) as refused:
        renew_at(login)
    assert "faasauth auth" in (refused.value.hint or "")
    assert idp.server.log == []
    assert stored_files(isolated_environment) == before


def test_public_device_login_never_sends_a_secret_from_the_environment(idp: IdP) -> None:
    # FAASAUTH_CLIENT_SECRET may belong to another client (a CI job's): a login made with a
    # public client must refresh as that public client, and stay one.
    login = stored(idp)
    idp.server.expect_request("/token").respond_with_json(
        {"access_token": "at-new-0123456789", "id_token": id_token("alice", EXPIRED + 300)})
    renewed = renew_at(login, env={"FAASAUTH_CLIENT_SECRET": CC_SECRET})
    (request,) = idp.requests("/token")
    assert "Authorization" not in request.headers
    assert "client_secret" not in idp.form(request)
    assert renewed.auth_method == "none"


def test_confidential_device_login_refreshes_with_its_secret(idp: IdP) -> None:
    login = stored(idp, client_id="conf", auth_method="client_secret_basic")
    idp.server.expect_request("/token").respond_with_json(
        {"access_token": "at-new-0123456789", "id_token": id_token("alice", EXPIRED + 300)})
    renewed = renew_at(login, env={"FAASAUTH_CLIENT_SECRET": CC_SECRET})
    (request,) = idp.requests("/token")
    assert idp.basic(request) == ("conf", CC_SECRET)
    assert idp.form(request) == {"grant_type": "refresh_token", "refresh_token": OLD_REFRESH}
    assert renewed.auth_method == "client_secret_basic"


def test_a_refresh_answer_without_id_token_does_not_switch_the_subject(
    idp: IdP, isolated_environment: Path
) -> None:
    from faasauth.errors import LoginFailed

    login = stored(idp)
    keep(login)
    idp.server.expect_request("/token", method="POST").respond_with_json(
        {"access_token": "at-new-0123456789", "expires_in": 300})
    with pytest.raises(LoginFailed) as raised:
        renew_at(login)
    assert "no id_token" in raised.value.message and raised.value.exit_code == 4
    again = make_runtime().store.get(login_key(GATEWAY))
    assert again is not None and Login.from_entry(again) == login  # left as it was
