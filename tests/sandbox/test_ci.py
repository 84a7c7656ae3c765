"""`Sandbox(ci=...)` / `faasauth sandbox --ci`: the sandbox playing GitHub Actions, GitLab CI
or Kubernetes, with an issuer the gateway trusts and a repository-scoped default Role."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from click.testing import CliRunner

from faasauth.cli.commands.sandbox import command
from faasauth.errors import UsageFailure
from faasauth.sandbox import Sandbox
from sandbox.helpers import FakeClock, exchange


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def github_token(client: httpx.Client, sb: Sandbox, audience: str | None) -> httpx.Response:
    env = sb.env()
    url = env["ACTIONS_ID_TOKEN_REQUEST_URL"]
    if audience is not None:
        url += f"&audience={audience}"
    return client.get(
        url, headers={"Authorization": f"bearer {env['ACTIONS_ID_TOKEN_REQUEST_TOKEN']}"}
    )


def test_github_request_url_and_token(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    sb = make_sandbox(ci="github")
    env = sb.env()
    assert env["GITHUB_ACTIONS"] == "true"
    url = env["ACTIONS_ID_TOKEN_REQUEST_URL"]
    assert url.startswith(sb.ci.issuer + "/_apis/") and "?api-version=2.0" in url
    answer = github_token(client, sb, sb.gateway_url)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"count", "value"} and body["count"] == len(body["value"])
    claims = jwt.decode(
        body["value"], sb.ci.key.public_key, algorithms=["ES256"], audience=sb.gateway_url
    )
    assert claims["iss"] == sb.ci.issuer
    assert claims["sub"] == "repo:openfaas/demo:ref:refs/heads/main"
    assert (claims["repository"], claims["repository_owner"]) == ("openfaas/demo", "openfaas")
    assert claims["ref"] == "refs/heads/main" and claims["actor"] and claims["workflow"]
    assert claims["exp"] - claims["iat"] == 300
    assert sb.ci.minted == 1 and sb.count(origin="ci", status=200) == 1


def test_github_audience_defaults_to_the_owner(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    sb = make_sandbox(ci="github", ci_repository="acme/api")
    token = github_token(client, sb, None).json()["value"]
    assert claims_of(token)["aud"] == "https://github.com/acme"
    assert claims_of(github_token(client, sb, "custom").json()["value"])["aud"] == "custom"


@pytest.mark.parametrize("authorization", [None, "bearer wrong", "Basic Zm9vOmJhcg=="])
def test_github_bearer_is_checked(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client, authorization: str | None
) -> None:
    sb = make_sandbox(ci="github")
    headers = {"Authorization": authorization} if authorization else {}
    answer = client.get(sb.env()["ACTIONS_ID_TOKEN_REQUEST_URL"], headers=headers)
    assert answer.status_code == 401
    assert "value" not in answer.json()
    assert sb.ci.minted == 0 and sb.ci.refused == 1


def test_github_request_without_its_query_is_refused(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    sb = make_sandbox(ci="github")
    url = sb.env()["ACTIONS_ID_TOKEN_REQUEST_URL"].split("?")[0] + "?audience=x"
    bearer = {"Authorization": f"bearer {sb.ci.request_token}"}
    assert client.get(url, headers=bearer).status_code == 400
    assert sb.ci.minted == 0


def test_github_revoked_requests_are_refused(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    sb = make_sandbox(ci="github")
    assert github_token(client, sb, sb.gateway_url).status_code == 200
    sb.ci.revoke_requests()
    assert github_token(client, sb, sb.gateway_url).status_code == 401


def test_issuer_discovery_and_jwks(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    sb = make_sandbox(ci="github")
    config = client.get(f"{sb.ci.issuer}/.well-known/openid-configuration").json()
    assert config["issuer"] == sb.ci.issuer
    keys = client.get(config["jwks_uri"]).json()["keys"]
    assert [k["kid"] for k in keys] == [sb.ci.key.kid]


def test_default_role_allows_its_repository_only(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    sb = make_sandbox(ci="github")
    allowed = github_token(client, sb, sb.gateway_url).json()["value"]
    answer = exchange(client, sb, allowed, scope="function")
    assert answer.status_code == 200, answer.text
    assert claims_of(answer.json()["access_token"])["function"]["permissions"] == ["openfaas-fn:*"]

    other = sb.ci.mint(sb.gateway_url, repository="someone/else")
    answer = exchange(client, sb, other, scope="function")
    assert answer.status_code == 400
    assert answer.json()["error_description"] == (
        "No policies found for subject: repo:someone/else:ref:refs/heads/main"
    )


def test_the_jwt_issuer_lists_the_gateway_as_audience(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    sb = make_sandbox(ci="github")
    wrong_audience = github_token(client, sb, "https://github.com/openfaas").json()["value"]
    answer = exchange(client, sb, wrong_audience, scope="function")
    assert answer.status_code == 400
    assert "aud not accepted by JwtIssuer sandbox-ci-github" in answer.json()["error_description"]


def test_ci_token_gives_an_api_token_that_is_a_subject_token(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    sb = make_sandbox(ci="github")
    ci_token = github_token(client, sb, sb.gateway_url).json()["value"]
    answer = exchange(client, sb, ci_token)  # no scope: an OpenFaaS API token
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:id_token"
    api = claims_of(body["access_token"])
    assert api["iss"] == sb.gateway_url and api["fed:iss"] == sb.ci.issuer
    assert api["sub"] == "fed:repo:openfaas/demo:ref:refs/heads/main"
    assert api["policy"] == ["ci-github-invoke"]
    answer = exchange(client, sb, body["access_token"], scope="function")
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    called = client.post(
        f"{sb.gateway_url}/function/echo-auth",
        content=b"hi",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert called.status_code == 200 and called.text == "hi"


def test_tokens_expire_with_the_configured_lifetime(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client, clock: FakeClock
) -> None:
    sb = make_sandbox(ci="github", ci_token_ttl=60, clock=clock)
    token = github_token(client, sb, sb.gateway_url).json()["value"]
    assert claims_of(token)["exp"] == clock.now + 60
    clock.advance(61)
    answer = exchange(client, sb, token, scope="function")
    assert answer.json()["error_description"] == "invalid subject_token: token is expired"


def test_gitlab_variable(make_sandbox: Callable[..., Sandbox], client: httpx.Client) -> None:
    sb = make_sandbox(ci="gitlab", ci_repository="group/project")
    env = sb.env()
    assert env["GITLAB_CI"] == "true"
    claims = claims_of(env["OPENFAAS_ID_TOKEN"])
    assert claims["iss"] == sb.ci.issuer and claims["aud"] == sb.gateway_url
    assert claims["project_path"] == "group/project" and claims["ref"] == "main"
    assert claims["sub"] == "project_path:group/project:ref_type:branch:ref:main"
    assert sb.ci.minted == 1
    # the default Role allows openfaas/demo only
    answer = exchange(client, sb, env["OPENFAAS_ID_TOKEN"], scope="function")
    assert "No policies found" in answer.json()["error_description"]
    allowed = sb.ci.mint(sb.gateway_url, repository="openfaas/demo")
    assert exchange(client, sb, allowed, scope="function").status_code == 200


def test_kubernetes_file_is_rotated_in_place(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client, tmp_path: Path
) -> None:
    path = tmp_path / "var/secrets/tokens/openfaas-token"
    sb = make_sandbox(ci="kubernetes", ci_token_ttl=1, ci_token_file=path)
    assert sb.env()["FAASAUTH_SANDBOX_TOKEN_FILE"] == str(path)
    first = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and not first.endswith("\n")
    claims = claims_of(first)
    assert claims["sub"] == "system:serviceaccount:openfaas-fn:caller"
    assert claims["aud"] == [sb.gateway_url]
    assert claims["kubernetes.io"]["serviceaccount"]["name"] == "caller"
    assert exchange(client, sb, first, scope="function").status_code == 200
    deadline = time.monotonic() + 5
    while sb.ci.rotations == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sb.ci.rotations >= 1 and path.read_text() != first
    assert sorted(p.name for p in path.parent.iterdir()) == ["openfaas-token"]  # no leftovers


def test_kubernetes_default_file_is_temporary_and_removed(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    sb = make_sandbox(ci="kubernetes")
    path = Path(sb.env()["FAASAUTH_SANDBOX_TOKEN_FILE"])
    assert path.name == "openfaas-token" and path.is_file()
    sb.stop()
    assert not path.exists()


def test_iam_file_can_name_the_ci_issuer(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client, tmp_path: Path
) -> None:
    iam = tmp_path / "iam.yaml"
    iam.write_text(
        """
apiVersion: iam.openfaas.com/v1
kind: Policy
metadata: {name: echo-only}
spec:
  statement:
  - {sid: one, action: ["Function:Invoke"], effect: Allow, resource: ["openfaas-fn:echo-auth"]}
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata: {name: acme-deployers}
spec:
  policy: [echo-only]
  condition:
    StringEqual:
      jwt:iss: ["${FAASAUTH_CI_ISSUER}"]
    StringLike:
      jwt:repository: ["acme/*"]
"""
    )
    sb = make_sandbox(ci="github", iam=iam, ci_repository="acme/api")
    token = github_token(client, sb, sb.gateway_url).json()["value"]
    answer = exchange(client, sb, token, scope="function")
    assert answer.status_code == 200, answer.text
    assert claims_of(answer.json()["access_token"])["function"]["permissions"] == [
        "openfaas-fn:echo-auth"
    ]


CHILD = """
import json, os, sys, urllib.request
seen = {k: v for k, v in os.environ.items() if k.startswith(("ACTIONS_", "GITHUB_", "OPENFAAS_"))}
request = urllib.request.Request(
    os.environ["ACTIONS_ID_TOKEN_REQUEST_URL"] + "&audience=" + os.environ["OPENFAAS_URL"],
    headers={"Authorization": "bearer " + os.environ["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]},
)
with urllib.request.urlopen(request) as r:
    seen["answer"] = json.loads(r.read())
open(sys.argv[1], "w").write(json.dumps(seen))
"""


def test_command_gets_the_github_variables(tmp_path: Path) -> None:
    out = tmp_path / "seen.json"
    result = CliRunner().invoke(
        command,
        [
            "-q",
            "--ci",
            "github",
            "--ci-repository",
            "acme/api",
            "--ci-token-ttl",
            "90",
            "--",
            sys.executable,
            "-c",
            CHILD,
            str(out),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    seen = json.loads(out.read_text())
    claims = claims_of(seen["answer"]["value"])
    assert claims["repository"] == "acme/api" and claims["aud"] == seen["OPENFAAS_URL"]
    assert claims["exp"] - claims["iat"] == 90
    assert seen["GITHUB_ACTIONS"] == "true"


def test_serve_describes_the_ci_platform() -> None:
    from faasauth.sandbox import launch

    options = launch.Options(quiet=True, ci="kubernetes", ci_token_ttl=30)
    sandbox = launch.start(options, sys.stderr)
    try:
        lines = launch.describe(sandbox)
        assert lines[-1].startswith("ci        kubernetes issuer http://127.0.0.1:")
        assert "FAASAUTH_SANDBOX_TOKEN_FILE" in lines[-1] and "30 s" in lines[-1]
        assert os.path.isfile(sandbox.env()["FAASAUTH_SANDBOX_TOKEN_FILE"])
    finally:
        sandbox.stop()


def test_a_failed_start_leaves_no_token_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    bad = tmp_path / "iam.yaml"
    bad.write_text("apiVersion: iam.openfaas.com/v1\nkind: Role\nmetadata: {name: r}\nspec: {}\n")
    sandbox = Sandbox(ci="kubernetes", iam=bad)
    with pytest.raises(UsageFailure, match="policy"):
        sandbox.start()
    assert list(temporary.iterdir()) == []


def test_serve_exports_the_github_variables(client: httpx.Client) -> None:
    import io
    import shlex
    import threading

    from faasauth.sandbox import launch

    out, err, stop = io.StringIO(), io.StringIO(), threading.Event()
    options = launch.Options(quiet=True, ci="github")
    server = threading.Thread(
        target=launch.serve, args=(options,), kwargs=dict(out=out, err=err, stop=stop)
    )
    server.start()
    try:
        deadline = time.monotonic() + 10
        while "serving" not in err.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
        env = {}
        for line in out.getvalue().splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = shlex.split(value)[0]
        assert env["GITHUB_ACTIONS"] == "true"
        answer = client.get(
            env["ACTIONS_ID_TOKEN_REQUEST_URL"] + "&audience=" + env["OPENFAAS_URL"],
            headers={"Authorization": "bearer " + env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]},
        )
        assert (
            answer.status_code == 200
            and claims_of(answer.json()["value"])["aud"] == env["OPENFAAS_URL"]
        )
        assert "ci        github issuer" in err.getvalue()
    finally:
        stop.set()
        server.join(timeout=10)
