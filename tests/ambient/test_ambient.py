"""faasauth.idp.ambient: each ambient identity source against the sandbox playing its platform."""

from __future__ import annotations

import json
import socket
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from pytest_httpserver import HTTPServer

from faasauth.idp import ambient
from faasauth.errors import (
    ExitCode,
    LoginFailed,
    MalformedResponse,
    TransientFailure,
    UsageFailure,
)
from faasauth.sandbox import Sandbox

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"


class FakeClock:
    def __init__(self) -> None:
        import time

        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def exchange_status(sb: Sandbox, subject_token: str) -> int:
    answer = httpx.post(
        f"{sb.gateway_url}/oauth/token",
        data={
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject_token,
            "subject_token_type": ID_TOKEN,
            "scope": "function",
        },
    )
    return answer.status_code


def one_line(error: Exception) -> str:
    text = str(error)
    assert "\n" not in text and text
    return text


# -- GitHub Actions -------------------------------------------------------------------


def test_github_detected_and_fetched(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(ci="github")
    env = sb.env()
    source = ambient.detect(env, sb.gateway_url)
    assert isinstance(source, ambient.GitHubActions) and source.kind == "github"
    assert sb.ci.minted == 0  # detection does not fetch
    token = source.fetch()
    claims = claims_of(token)
    assert claims["aud"] == sb.gateway_url and claims["repository"] == "openfaas/demo"
    assert sb.ci.minted == 1 and sb.count(origin="ci") == 1
    assert exchange_status(sb, token) == 200
    # the audience can be chosen per fetch
    assert claims_of(source.fetch("other-audience"))["aud"] == "other-audience"


def test_github_settings_and_describe_hold_no_secret(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(ci="github")
    env = sb.env()
    source = ambient.detect(env, sb.gateway_url)
    settings = source.settings()
    assert settings == {"kind": "github", "audience": sb.gateway_url}
    shown = json.dumps(settings) + source.describe() + source.identity
    assert env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] not in shown
    assert "openfaas/demo" in source.describe()
    again = ambient.from_settings(json.loads(json.dumps(settings)), env)
    assert again.identity == source.identity
    assert claims_of(again.fetch())["aud"] == sb.gateway_url


def test_github_identity_is_stable_and_names_the_job(make_sandbox: Callable[..., Sandbox]) -> None:
    first, second = make_sandbox(ci="github"), make_sandbox(ci="github")
    a = ambient.detect(first.env(), "aud")
    assert a.identity == ambient.detect(first.env(), "aud").identity
    assert a.identity != ambient.detect(second.env(), "aud").identity
    assert a.identity != ambient.detect(first.env(), "other").identity


def test_github_token_expiring_mid_job_is_fetched_again(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    clock = FakeClock()
    sb = make_sandbox(ci="github", ci_token_ttl=60, clock=clock)
    source = ambient.from_settings({"kind": "github", "audience": sb.gateway_url}, sb.env())
    first = source.fetch()
    assert exchange_status(sb, first) == 200
    clock.now += 120  # the job outlives its token
    assert exchange_status(sb, first) == 400
    second = source.fetch()
    assert second != first and claims_of(second)["exp"] == clock.now + 60
    assert exchange_status(sb, second) == 200
    assert sb.ci.minted == 2


def test_github_through_faasauths_client_logs_no_secret(
    make_sandbox: Callable[..., Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    from faasauth.runtime import Runtime
    from faasauth.config.settings import resolve_settings

    sb = make_sandbox(ci="github")
    env = sb.env()
    ctx = Runtime(resolve_settings(gateway=sb.gateway_url, verbose=True, env={}), env={})
    try:
        token = ambient.detect(env, sb.gateway_url).fetch(client=ctx.client)
    finally:
        ctx.close()
    log = capsys.readouterr().err
    assert "> authorization: bearer <redacted>" in log and "< HTTP/1.1 200" in log
    assert env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] not in log and token not in log


def test_github_refused_request_is_one_line_exit_4(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(ci="github")
    env = sb.env()
    sb.ci.revoke_requests()
    with pytest.raises(LoginFailed) as caught:
        ambient.detect(env, sb.gateway_url).fetch()
    port = sb.ci.issuer.rsplit(":", 1)[1]
    assert one_line(caught.value) == (
        f"requesting a GitHub Actions ID token (127.0.0.1:{port}): refused (401)"
    )
    assert caught.value.exit_code == ExitCode.REFUSED
    assert "id-token: write" in (caught.value.hint or "")
    assert env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] not in str(caught.value) + str(caught.value.hint)


def test_github_wrong_request_token_is_refused(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(ci="github")
    env = {**sb.env(), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "not-the-job-token"}
    with pytest.raises(LoginFailed, match=r"refused \(401\)"):
        ambient.detect(env, sb.gateway_url).fetch()
    assert sb.ci.refused == 1 and sb.ci.minted == 0


def test_github_unreachable_request_url_is_exit_3() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"http://127.0.0.1:{port}/idtoken?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token",
    }
    with pytest.raises(TransientFailure) as caught:
        ambient.detect(env, "aud").fetch()
    assert one_line(caught.value).startswith(
        f"requesting a GitHub Actions ID token (http://127.0.0.1:{port}): cannot connect"
    )
    assert caught.value.exit_code == ExitCode.TRANSIENT


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (200, "<html>", MalformedResponse, "the answer is not JSON"),
        (200, json.dumps({"count": 0}), MalformedResponse, 'the answer has no token (no "value")'),
        (200, json.dumps({"value": "garbage"}), MalformedResponse, "does not hold a JWT"),
        (503, "busy", TransientFailure, "the server answered 503"),
        (404, "nope", MalformedResponse, "unexpected answer 404"),
    ],
)
def test_github_odd_answers(
    httpserver: HTTPServer, status: int, body: str, error: type[Exception], message: str
) -> None:
    httpserver.expect_request("/idtoken").respond_with_data(
        body, status=status, content_type="application/json"
    )
    env = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": httpserver.url_for("/idtoken") + "?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token",
    }
    with pytest.raises(error) as caught:
        ambient.GitHubActions("aud", env).fetch()
    assert message in one_line(caught.value)
    request, _ = httpserver.log[0]
    assert request.args.to_dict(flat=False) == {"api-version": ["2.0"], "audience": ["aud"]}
    assert request.headers["Authorization"] == "bearer request-token"


def test_github_job_without_id_token_permission() -> None:
    with pytest.raises(LoginFailed) as caught:
        ambient.detect({"GITHUB_ACTIONS": "true"}, "aud")
    assert "GitHub Actions job has no ID token" in one_line(caught.value)
    assert caught.value.hint == "give the job `permissions: id-token: write`"
    assert caught.value.exit_code == ExitCode.REFUSED
    # a stored source whose variables are gone (a later step without the permission)
    with pytest.raises(LoginFailed, match="ACTIONS_ID_TOKEN_REQUEST_URL"):
        ambient.from_settings({"kind": "github", "audience": "aud"}, {}).fetch()


# -- GitLab CI ------------------------------------------------------------------------


def test_gitlab_variable(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(ci="gitlab", ci_repository="openfaas/demo")
    env = sb.env()
    source = ambient.detect(env, sb.gateway_url)
    assert isinstance(source, ambient.GitLabCI) and source.variable == "OPENFAAS_ID_TOKEN"
    token = source.fetch()
    assert token == env["OPENFAAS_ID_TOKEN"] and claims_of(token)["project_path"] == "openfaas/demo"
    assert exchange_status(sb, token) == 200
    assert source.settings() == {
        "kind": "gitlab",
        "audience": sb.gateway_url,
        "variable": "OPENFAAS_ID_TOKEN",
    }
    assert token not in json.dumps(source.settings()) + source.describe()


def test_gitlab_variable_named_after_the_audience(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(ci="gitlab")
    token = sb.env()["OPENFAAS_ID_TOKEN"]
    name = ambient.gitlab_variable_for("https://gw.example.com")
    assert name == "HTTPS___GW_EXAMPLE_COM_ID_TOKEN"  # the `id` package's convention
    source = ambient.detect({"GITLAB_CI": "true", name: token}, "https://gw.example.com")
    assert source.settings()["variable"] == name and source.fetch() == token


def test_gitlab_job_without_id_token() -> None:
    with pytest.raises(LoginFailed) as caught:
        ambient.detect({"GITLAB_CI": "true"}, "https://gw.example.com")
    assert "GitLab CI job has no ID token" in one_line(caught.value)
    assert caught.value.hint == (
        "add to the job: id_tokens: {OPENFAAS_ID_TOKEN: {aud: https://gw.example.com}}"
    )


def test_gitlab_variable_that_is_not_a_jwt() -> None:
    env = {"GITLAB_CI": "true", "OPENFAAS_ID_TOKEN": "garbage"}
    with pytest.raises(UsageFailure) as caught:
        ambient.detect(env, "aud").fetch()
    assert one_line(caught.value).startswith("the variable OPENFAAS_ID_TOKEN does not hold a JWT")
    assert caught.value.exit_code == ExitCode.USAGE


# -- Kubernetes and token files -------------------------------------------------------


def test_kubernetes_file_is_re_read_after_rotation(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    path = tmp_path / "openfaas-token"
    sb = make_sandbox(ci="kubernetes", ci_token_file=path, ci_token_ttl=3600)
    source = ambient.detect({}, sb.gateway_url, kubernetes_token_file=str(path))
    assert source.kind == "kubernetes" and str(path) in source.describe()
    first = source.fetch()
    assert exchange_status(sb, first) == 200
    rotated = sb.ci.rotate()
    assert source.fetch() == rotated != first
    assert sb.ci.rotations == 1
    assert ambient.from_settings(source.settings(), {}).fetch() == rotated


def test_default_kubernetes_path_is_the_sdks() -> None:
    assert ambient.KUBERNETES_TOKEN_FILE == "/var/secrets/tokens/openfaas-token"


def test_explicit_token_file_wins(make_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = make_sandbox(ci="github")
    path = tmp_path / "token"
    path.write_text(sb.ci.mint(sb.gateway_url) + "\n")
    source = ambient.detect(sb.env(), sb.gateway_url, token_file=str(path))
    assert source.kind == "file" and source.fetch() == path.read_text().strip()
    assert source.settings() == {"kind": "file", "audience": sb.gateway_url, "path": str(path)}


def test_unreadable_token_file_is_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    with pytest.raises(UsageFailure) as caught:
        ambient.TokenFile("aud", str(missing)).fetch()
    assert one_line(caught.value) == (
        f"cannot read the token file {missing}: No such file or directory"
    )
    with pytest.raises(
        UsageFailure, match=f"cannot read the token file {tmp_path}: Is a directory"
    ):
        ambient.TokenFile("aud", str(tmp_path)).fetch()


def test_no_ambient_identity(tmp_path: Path) -> None:
    with pytest.raises(LoginFailed) as caught:
        ambient.detect({}, "https://gw", kubernetes_token_file=str(tmp_path / "none"))
    line = one_line(caught.value)
    assert line.startswith("no ambient identity found: looked for GitHub Actions")
    assert str(tmp_path / "none") in line and "GitLab CI" in line
    assert "`permissions: id-token: write`" in (caught.value.hint or "")
    assert caught.value.exit_code == ExitCode.REFUSED


def test_unknown_stored_source() -> None:
    with pytest.raises(UsageFailure, match="unknown source 'travis'"):
        ambient.from_settings({"kind": "travis", "audience": "a"}, {})
    with pytest.raises(UsageFailure, match="no audience"):
        ambient.from_settings({"kind": "github"}, {})


# -- Buildkite and CircleCI (their agents' commands, as fake executables) -------------


def fake_program(directory: Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text(f"#!{sys.executable}\n{script}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize("kind", ["buildkite", "circleci"])
def test_agent_commands(make_sandbox: Callable[..., Sandbox], tmp_path: Path, kind: str) -> None:
    sb = make_sandbox(ci="github")
    (tmp_path / "token").write_text(sb.ci.mint(sb.gateway_url))
    program = {"buildkite": "buildkite-agent", "circleci": "circleci"}[kind]
    fake_program(
        tmp_path,
        program,
        "import sys, json, pathlib\n"
        f"pathlib.Path({str(tmp_path / 'argv')!r}).write_text(json.dumps(sys.argv[1:]))\n"
        f"print(pathlib.Path({str(tmp_path / 'token')!r}).read_text())\n",
    )
    env = {kind.upper(): "true", "PATH": str(tmp_path)}
    source = ambient.detect(env, sb.gateway_url)
    assert source.kind == kind
    token = source.fetch()
    assert exchange_status(sb, token) == 200
    argv = json.loads((tmp_path / "argv").read_text())
    if kind == "buildkite":
        assert argv == ["oidc", "request-token", "--audience", sb.gateway_url]
    else:
        assert argv == ["run", "oidc", "get", "--claims", json.dumps({"aud": sb.gateway_url})]


def test_agent_command_failures(tmp_path: Path) -> None:
    env = {"BUILDKITE": "true", "PATH": str(tmp_path)}
    with pytest.raises(LoginFailed, match="buildkite-agent is not on PATH"):
        ambient.detect(env, "aud").fetch()
    fake_program(tmp_path, "buildkite-agent", "import sys\nsys.exit('no OIDC for this job')\n")
    with pytest.raises(LoginFailed) as caught:
        ambient.detect(env, "aud").fetch()
    assert one_line(caught.value) == (
        "requesting a Buildkite OIDC token with `buildkite-agent`: exit status 1: "
        "no OIDC for this job"
    )
