"""Issue 22, item 31: the API token `auth --faas-cli` writes into faas-cli's config.yml is
renewed with the login it came from (by any command that uses the login, and by the proxy
in the background), only while the entry still holds the token faasauth wrote; a failure
is one warning, never the command's; `status` says when the API token expires."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest

from ambient.test_auth_faas_cli import ODD, config_file, in_job, write
from cli_support import CliResult
from faasauth.config import faas_cli as fcc
from faasauth.sandbox import Sandbox

AUDIENCE = "openfaas-fn:echo-auth"


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def api_tokens_live(sb: Sandbox, seconds: float) -> None:
    """The CI issuer's `tokenExpiry`: how long the gateway's API (and function) tokens for a
    CI token live (the sandbox's JwtIssuer for its CI platform, 300 s unless told)."""
    assert sb.iam is not None and sb.ci is not None
    issuers = sb.iam.issuers
    issuers[:] = [dataclasses.replace(i, token_expiry=seconds) if i.iss == sb.ci.issuer else i
                  for i in issuers]


def faas_cli_token(sb: Sandbox) -> str:
    entry = fcc.find_entry(config_file(), sb.gateway_url)
    assert entry is not None and entry.written_by_faasauth and entry.token
    return entry.token


def stored_record() -> dict[str, Any] | None:
    """faas-cli's record in the stored login (the sandbox's home: `in_job` sets it)."""
    home = Path(os.environ["FAASAUTH_HOME"])
    for path in (home / "tokens").glob("*.json"):
        envelope = json.loads(path.read_text())
        if envelope["key"].startswith("login|"):
            record: dict[str, Any] | None = envelope["value"].get("faas_cli")
            return record
    raise AssertionError("no stored login")


def gateway_takes(sb: Sandbox, run_cli: Callable[..., CliResult], token: str,
                  monkeypatch: pytest.MonkeyPatch, home: Path) -> CliResult:
    """An exchange with `token` as the subject, from another faasauth home (as faas-cli's
    own `pro auth` token would be used)."""
    with monkeypatch.context() as patch:
        patch.setenv("FAASAUTH_HOME", str(home))
        patch.setenv("FAASAUTH_SUBJECT_TOKEN", token)
        return run_cli("exchange", "-a", AUDIENCE)


@pytest.fixture
def short_job(make_sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """A GitHub job whose ID tokens live 3 s and whose API tokens live 2 s."""
    sb = make_sandbox(ci="github", ci_token_ttl=3)
    in_job(monkeypatch, sb)
    api_tokens_live(sb, 2)
    return sb


def test_the_api_token_is_renewed_when_the_login_is(
    short_job: Sandbox, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    sb = short_job
    path = config_file()
    write(path, ODD)
    result = run_cli("auth", "--ambient", "--faas-cli")
    assert result.code == 0, result.err
    # a short token in seconds, never "0 min" (issue 22, item 16)
    assert re.search(r"; its API token is valid for [0-2] s, renewed with the login\.",
                     result.err), result.err
    first = faas_cli_token(sb)
    record = stored_record()
    assert record is not None and record["config"] == str(path)
    assert abs(record["expires_at"] - claims_of(first)["exp"]) <= 1
    assert first not in json.dumps(record)

    # Both the job's ID token and the API token run out: faas-cli's is refused now.
    time.sleep(max(0.0, claims_of(first)["exp"] + 1.2 - time.time()))
    refused = gateway_takes(sb, run_cli, first, monkeypatch, tmp_path / "other")
    assert refused.code == 4 and "expired" in refused.err
    result = run_cli("exchange", "-a", AUDIENCE)
    assert result.code == 0, result.err
    assert result.err == ""  # renewed without a word, as the login is
    assert sb.ci.minted == 2  # the login was renewed ...
    second = faas_cli_token(sb)  # ... and the entry rewritten with a new API token
    assert second != first and claims_of(second)["exp"] > time.time()
    assert claims_of(second)["fed:iss"] == sb.ci.issuer and "function" not in claims_of(second)
    assert gateway_takes(sb, run_cli, second, monkeypatch, tmp_path / "other2").code == 0
    record = stored_record()
    assert record is not None and abs(record["expires_at"] - claims_of(second)["exp"]) <= 1
    # Everything else in the file is as it was; faas-cli still finds one entry for it.
    import yaml

    before, after = yaml.safe_load(ODD), yaml.safe_load(path.read_text())
    assert after["auths"][:3] == before["auths"] and after["x-team"] == before["x-team"]
    assert len(after["auths"]) == 4
    # logout still knows it for faasauth's.
    assert run_cli("logout").code == 0
    assert path.read_bytes() == ODD.encode()


def test_a_fresh_api_token_is_left_as_it_is(
    make_sandbox: Callable[..., Sandbox], run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sb = make_sandbox(ci="github", ci_token_ttl=3)  # the login is renewed by every command
    in_job(monkeypatch, sb)
    assert run_cli("auth", "--ambient", "--faas-cli").code == 0  # its API token: 300 s
    first = faas_cli_token(sb)
    assert stored_record() is not None  # renewed with the login: when it nears expiry
    time.sleep(max(0.0, claims_of(first)["iat"] + 3.2 - time.time()))
    sb.clear_requests()
    assert run_cli("exchange", "-a", AUDIENCE).code == 0
    assert sb.ci.minted == 2  # the login renewed; the API token, 300 s left, not
    assert sb.count("/oauth/token", origin="gateway") == 1
    assert faas_cli_token(sb) == first


def test_a_command_with_a_cached_function_token_renews_it_too(
    make_sandbox: Callable[..., Sandbox], run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing needs the login's token (the function token is cached), yet the command
    uses the login: faas-cli's API token, 50 s from expiry on a clock 250 s on, is
    renewed; the login (50 s left) is not."""
    from faasauth.config.settings import resolve_settings
    from faasauth.flows.exchange import obtain_function_token
    from faasauth.flows.subject import find_subject
    from faasauth.runtime import Runtime

    sb = make_sandbox(ci="github")
    in_job(monkeypatch, sb)
    assert run_cli("auth", "--ambient", "--faas-cli").code == 0
    first = faas_cli_token(sb)
    assert run_cli("exchange", "-a", AUDIENCE).code == 0  # cached from now on
    sb.clear_requests()
    rt = Runtime(resolve_settings(env=dict(os.environ)), clock=lambda: time.time() + 250)
    got = obtain_function_token(rt, find_subject(rt), [AUDIENCE])
    rt.close()
    assert got.cached
    assert sb.count("/oauth/token", origin="gateway") == 1 and sb.ci.minted == 1
    assert faas_cli_token(sb) != first


@pytest.mark.parametrize("replaced", ["faas-cli login", "a token edited in"])
def test_an_entry_the_user_replaced_is_not_touched_and_no_longer_renewed(
    short_job: Sandbox, run_cli: Callable[..., CliResult],
    replaced: str,
) -> None:
    sb = short_job
    path = config_file()
    assert run_cli("auth", "--ambient", "--faas-cli").code == 0
    first = faas_cli_token(sb)
    if replaced == "faas-cli login":  # the whole entry, without faasauth's mark
        text = f"auths:\n- gateway: {sb.gateway_url}\n  auth: basic\n  token: YWRtaW46eA==\n"
    else:  # the mark kept, another token
        text = path.read_text().replace(first, sb.issue_api_token(["any"]))
    write(path, text)
    result = run_cli("status", "--json")
    assert json.loads(result.out)["current_login"]["faas_cli"]["state"] == "replaced"
    assert "  faas-cli   " in run_cli("status").out
    assert "not renewed" in run_cli("status").out

    time.sleep(max(0.0, claims_of(first)["exp"] + 0.2 - time.time()))
    sb.clear_requests()
    result = run_cli("exchange", "-a", AUDIENCE)
    assert result.code == 0, result.err
    assert result.err == ""
    assert path.read_text() == text
    assert sb.count("/oauth/token", origin="gateway") == 1  # the function token only
    assert stored_record() is None  # not renewed again
    assert json.loads(run_cli("status", "--json").out)["current_login"]["faas_cli"] is None


def test_a_failed_renewal_is_one_warning_and_is_tried_again(
    short_job: Sandbox, run_cli: Callable[..., CliResult],
) -> None:
    sb = short_job
    path = config_file()
    assert run_cli("auth", "--ambient", "--faas-cli").code == 0
    good = path.read_bytes()
    write(path, "auths: [\n")  # a config faasauth cannot edit
    result = run_cli("exchange", "-a", AUDIENCE)
    assert result.code == 0, result.err
    assert result.out.count(".") == 2  # the command did its work
    assert result.err.splitlines() == [
        f"faasauth: warning: cannot renew faas-cli's API token for {sb.gateway_url} in "
        f"{path}: cannot edit faas-cli's config {path}: invalid YAML at line 2, column 1"
    ]
    assert path.read_text() == "auths: [\n"
    assert stored_record() is not None  # kept: tried again next time
    path.write_bytes(good)
    result = run_cli("exchange", "-a", AUDIENCE)
    assert result.code == 0 and result.err == "", result.err
    assert path.read_bytes() != good and faas_cli_token(sb) != ""


def test_a_login_that_cannot_be_renewed_fails_once_not_twice(
    short_job: Sandbox, run_cli: Callable[..., CliResult],
) -> None:
    """The login is renewed first for the API token; when that fails, the command that
    needs the login says why, once, and the CI platform is asked once."""
    sb = short_job
    assert run_cli("auth", "--ambient", "--faas-cli").code == 0
    token = faas_cli_token(sb)
    sb.ci.revoke_requests()
    time.sleep(max(0.0, claims_of(token)["exp"] + 1.2 - time.time()))
    result = run_cli("exchange", "-a", AUDIENCE)
    assert result.code == 4, result.err
    lines = result.err.splitlines()
    assert len(lines) <= 2 and lines[0].startswith(
        f"faasauth: renewing the login for {sb.gateway_url}: "), result.err
    assert sb.ci.refused == 1
    assert faas_cli_token(sb) == token
    assert stored_record() is not None  # tried again once the login can be renewed


def test_logging_in_again_keeps_renewing_it(
    short_job: Sandbox, run_cli: Callable[..., CliResult],
) -> None:
    sb = short_job
    assert run_cli("auth", "--ambient", "--faas-cli").code == 0
    first = faas_cli_token(sb)
    time.sleep(max(0.0, claims_of(first)["exp"] + 0.2 - time.time()))
    result = run_cli("auth", "--ambient")  # the same identity, without --faas-cli
    assert result.code == 0, result.err
    second = faas_cli_token(sb)
    assert second != first and claims_of(second)["exp"] > time.time()
    record = stored_record()
    assert record is not None and abs(record["expires_at"] - claims_of(second)["exp"]) <= 1


def test_logging_in_as_someone_else_stops_renewing_it(
    short_job: Sandbox, run_cli: Callable[..., CliResult], tmp_path: Path,
) -> None:
    """faas-cli would otherwise change identity without being asked: it is said, and the
    entry (still faasauth's, for logout) is left as it is."""
    sb = short_job
    path = config_file()
    assert run_cli("auth", "--ambient", "--faas-cli").code == 0
    text = path.read_text()
    token_file = tmp_path / "id_token.jwt"
    token_file.write_text(sb.issue_idp_token("bob"))
    result = run_cli("auth", "--token-file", token_file)
    assert result.code == 0, result.err
    assert result.err.splitlines()[0] == (
        f"faas-cli's entry for {sb.gateway_url} in {path} holds the previous login's API "
        "token and is no longer renewed; faasauth auth --faas-cli writes one for this login.")
    assert stored_record() is None and path.read_text() == text
    assert run_cli("exchange", "-a", AUDIENCE).code == 0
    assert path.read_text() == text


def test_status_says_when_the_api_token_expires(
    make_sandbox: Callable[..., Sandbox], run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sb = make_sandbox(ci="github")
    in_job(monkeypatch, sb)
    result = run_cli("status", "--json")
    assert result.code == 4 and json.loads(result.out)["current_login"] is None
    assert run_cli("auth", "--ambient").code == 0
    assert json.loads(run_cli("status", "--json").out)["current_login"]["faas_cli"] is None
    assert "faas-cli" not in run_cli("status").out

    assert run_cli("auth", "--ambient", "--faas-cli").code == 0
    exp = claims_of(faas_cli_token(sb))["exp"]
    data = json.loads(run_cli("status", "--json").out)
    shown = data["current_login"]["faas_cli"]
    assert shown["config"] == str(config_file()) and shown["state"] == "renewed"
    assert abs(shown["expires_at"] - exp) <= 1 and 290 < shown["expires_in"] <= 300
    assert shown["expired"] is False
    assert data["logins"][0]["faas_cli"] == shown
    lines = run_cli("status").out.splitlines()
    at = lines.index(f"  faas-cli   {config_file()}")
    assert lines[at + 1].startswith("             API token expires in 4m")
    assert lines[at + 1].endswith("; renewed with the login")


def test_the_proxy_renews_it_in_the_background(
    make_sandbox: Callable[..., Sandbox], run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before any call came: on a clock 250 s on, the API token has 50 s left (less than
    two rounds beyond the margin); a failure is said once, and that it healed."""
    from faasauth.config.settings import resolve_settings
    from faasauth.proxy.forward import Forwarder
    from faasauth.proxy.renewal import Renewal
    from faasauth.runtime import Runtime

    sb = make_sandbox(ci="github")
    in_job(monkeypatch, sb)
    assert run_cli("auth", "--ambient", "--faas-cli").code == 0
    first = faas_cli_token(sb)
    shift = [0.0]
    forwarder = Forwarder(Runtime(resolve_settings(env=dict(os.environ)),
                                  clock=lambda: time.time() + shift[0]))
    said: list[str] = []
    renewal = Renewal(forwarder, said.append, threading.Event())
    sb.clear_requests()
    renewal.once()  # 300 s left: nothing to do
    assert sb.count() == 0 and faas_cli_token(sb) == first

    shift[0] = 250.0
    path = config_file()
    good = path.read_bytes()
    write(path, "auths: [\n")
    for _ in range(3):
        renewal.once()
    assert said == [f"cannot renew faas-cli's API token for {sb.gateway_url} in {path}: "
                    f"cannot edit faas-cli's config {path}: invalid YAML at line 2, column 1"]
    path.write_bytes(good)
    renewal.once()
    assert said[1:] == ["faas-cli's API token renewed again"]
    second = faas_cli_token(sb)
    assert second != first and claims_of(second)["exp"] > time.time()
    record = stored_record()
    assert record is not None
    assert record["token_sha256"] == hashlib.sha256(second.encode()).hexdigest()
    assert sb.count("/oauth/token", origin="gateway") == 1 and sb.ci.minted == 1
    renewal.once()  # renewed on the shifted clock too: not again
    assert sb.count("/oauth/token", origin="gateway") == 1
    forwarder.rt.close()
