"""The gateway's REST API under /system/ (sandbox/system_api.py): the shapes faas-cli parses,
who may call it (admin by basic auth, API tokens), the IAM read actions, and the 501 writes.

faas-cli itself is not in CI, so each shape is checked against what faas-cli's source
unmarshals it into (faas-provider's `types.FunctionStatus`, `[]string` for namespaces,
`types.GatewayInfo` for version), field by field with Go's JSON types, and against a
documented example of the real gateway's answer.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from faasauth.sandbox import Sandbox
from sandbox.helpers import client_credentials, exchange, function_token

# faas-provider types.FunctionStatus: JSON name -> the Go type faas-cli unmarshals it into.
FUNCTION_STATUS = {
    "name": "string", "image": "string", "namespace": "string", "envProcess": "string",
    "envVars": "map[string]string", "constraints": "[]string", "secrets": "[]string",
    "labels": "map[string]string", "annotations": "map[string]string",
    "limits": "resources", "requests": "resources", "readOnlyRootFilesystem": "bool",
    "invocationCount": "float64", "replicas": "uint64", "availableReplicas": "uint64",
    "createdAt": "time", "usage": "usage",
}
# The gateway's documented answer to GET /system/function/NAME?usage=1 (OpenFaaS API docs).
DOCUMENTED_STATUS = {
    "name": "nodeinfo", "image": "ghcr.io/openfaas/nodeinfo:latest", "namespace": "openfaas-fn",
    "envProcess": "node index.js", "labels": {"faas_function": "nodeinfo"},
    "annotations": {"prometheus.io.scrape": "false"}, "replicas": 1, "availableReplicas": 1,
    "invocationCount": 1337, "createdAt": "2024-01-01T10:00:00Z",
    "usage": {"cpu": 0.5, "totalMemoryBytes": 12582912},
}
DOCUMENTED_INFO = {
    "provider": {"provider": "faas-netes", "orchestration": "kubernetes",
                 "version": {"sha": "5c8ccd7", "release": "0.18.0"}},
    "version": {"sha": "ad5bd7b", "release": "0.27.0", "commit_message": "Release"},
    "arch": "x86_64",
}


def go_accepts(go_type: str, value: Any) -> bool:
    """Whether Go's encoding/json unmarshals `value` into a field of `go_type`."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if go_type == "string":
        return isinstance(value, str)
    if go_type == "bool":
        return isinstance(value, bool)
    if go_type == "float64":
        return number
    if go_type == "uint64":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if go_type == "map[string]string":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if go_type == "[]string":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if go_type == "time":  # time.Time: RFC 3339
        return isinstance(value, str) and datetime.fromisoformat(value.replace("Z", "+00:00"))
    if go_type == "usage":
        return isinstance(value, dict) and all(
            go_accepts("float64", value.get(k, 0)) for k in ("cpu", "totalMemoryBytes"))
    if go_type == "resources":
        return isinstance(value, dict)
    raise AssertionError(go_type)


def assert_function_status(document: Any) -> None:
    assert isinstance(document, dict)
    for field, value in document.items():
        assert field in FUNCTION_STATUS, f"faas-cli knows no field {field!r}"
        assert go_accepts(FUNCTION_STATUS[field], value), (field, value)
    # what describe and ready read
    assert {"name", "image", "namespace", "replicas", "availableReplicas",
            "invocationCount", "createdAt"} <= set(document)


def admin(sb: Sandbox) -> tuple[str, str]:
    env = sb.env()
    return env["OPENFAAS_USERNAME"], env["OPENFAAS_PASSWORD"]


def api_token(client: httpx.Client, sb: Sandbox) -> str:
    answer = exchange(client, sb, client_credentials(client, sb))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def basic(user: str, password: str) -> dict[str, str]:
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_documented_examples_are_what_faas_cli_parses() -> None:
    assert_function_status(DOCUMENTED_STATUS)  # the checker itself against the docs


def test_describe_answers_a_function_status(sb: Sandbox, client: httpx.Client) -> None:
    url = f"{sb.gateway_url}/system/function/echo-auth"
    plain = client.get(url, params={"namespace": "openfaas-fn"}, auth=admin(sb))
    assert plain.status_code == 200 and plain.headers["Content-Type"] == "application/json"
    status = plain.json()
    assert_function_status(status)
    assert "usage" not in status
    assert (status["name"], status["namespace"], status["availableReplicas"]) == (
        "echo-auth", "openfaas-fn", 1)
    assert set(status) - {"envVars"} <= set(DOCUMENTED_STATUS)
    with_usage = client.get(url, params={"namespace": "openfaas-fn", "usage": "1"},
                            auth=admin(sb)).json()
    assert_function_status(with_usage)
    assert set(with_usage["usage"]) == set(DOCUMENTED_STATUS["usage"])
    # without ?namespace= the default namespace, as faas-cli sends for describe NAME
    assert client.get(url, auth=admin(sb)).json()["name"] == "echo-auth"


def test_describe_counts_invocations_and_says_no_such_function(
    sb: Sandbox, client: httpx.Client
) -> None:
    url = f"{sb.gateway_url}/system/function/echo"
    assert client.get(url, auth=admin(sb)).json()["invocationCount"] == 0
    for _ in range(3):
        client.post(f"{sb.gateway_url}/function/echo", content=b"x")
    assert client.get(url, auth=admin(sb)).json()["invocationCount"] == 3
    # a 404 is faas-cli's "No such function"
    missing = client.get(f"{sb.gateway_url}/system/function/nope", auth=admin(sb))
    assert missing.status_code == 404
    other_ns = client.get(url, params={"namespace": "dev"}, auth=admin(sb))
    assert other_ns.status_code == 404


def test_namespaces_are_a_json_array_of_strings(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client, tmp_path: Path
) -> None:
    stack = tmp_path / "stack.yml"
    stack.write_text("functions:\n  a: {namespace: dev}\n  b: {}\n")
    sb = make_sandbox(stack=str(stack))
    answer = client.get(f"{sb.gateway_url}/system/namespaces", auth=admin(sb))
    assert answer.status_code == 200
    assert answer.json() == ["dev", "openfaas-fn"]
    assert go_accepts("[]string", answer.json())
    listed = client.get(f"{sb.gateway_url}/system/functions", params={"namespace": "dev"},
                        auth=admin(sb)).json()
    assert [f["name"] for f in listed] == ["a"]
    for status in listed:
        assert_function_status(status)


def test_info_has_the_gateway_info_shape(sb: Sandbox, client: httpx.Client) -> None:
    info = client.get(f"{sb.gateway_url}/system/info", auth=admin(sb)).json()

    def shape(value: Any) -> Any:
        return {k: shape(v) for k, v in value.items()} if isinstance(value, dict) else type(value)

    assert shape(info) == shape(DOCUMENTED_INFO)
    assert info["provider"]["provider"] == "faasauth-sandbox"
    assert info["version"]["release"]  # faas-cli prints version and sha only when set


def test_healthz_needs_no_authentication(sb: Sandbox, client: httpx.Client) -> None:
    answer = client.get(f"{sb.gateway_url}/healthz")
    assert (answer.status_code, answer.text) == (200, "OK")


@pytest.mark.parametrize("path", ["/system/functions", "/system/function/echo",
                                  "/system/namespaces", "/system/info"])
def test_who_may_read(sb: Sandbox, client: httpx.Client, path: str) -> None:
    url = f"{sb.gateway_url}{path}"
    user, password = admin(sb)
    assert user == "admin" and len(password) >= 24
    assert client.get(url, auth=(user, password)).status_code == 200  # faas-cli login's check
    assert client.get(url, headers=bearer(api_token(client, sb))).status_code == 200
    refused: list[dict[str, str]] = [
        {},
        basic(user, password + "x"),
        basic("root", password),
        basic(user, ""),
        {"Authorization": "Basic !!!"},
        bearer(client_credentials(client, sb)),  # an IdP token is not the gateway's
        bearer(function_token(client, sb)),  # nor is a function token an API token
        bearer("not-a-token"),
    ]
    for headers in refused:
        answer = client.get(url, headers=headers)
        assert answer.status_code == 401, headers
        assert answer.text == "Unauthorized\n"


def test_an_api_token_from_before_a_key_change_is_refused(
    sb: Sandbox, client: httpx.Client
) -> None:
    token = api_token(client, sb)
    sb.rotate_gateway_key()
    assert client.get(f"{sb.gateway_url}/system/functions",
                      headers=bearer(token)).status_code == 401


WRITES = [
    ("PUT", "/system/functions", "deploy"),
    ("POST", "/system/functions", "deploy"),
    ("DELETE", "/system/functions", "remove"),
    ("GET", "/system/logs", "logs"),
    ("POST", "/system/secrets", "secret"),
    ("GET", "/system/secrets", "secret"),
    ("POST", "/system/scale-function/echo", "scale"),
]


@pytest.mark.parametrize(("method", "path", "command"), WRITES)
def test_writes_answer_501_saying_what_is_served(
    sb: Sandbox, client: httpx.Client, method: str, path: str, command: str
) -> None:
    url = f"{sb.gateway_url}{path}"
    assert client.request(method, url, content=b"{}").status_code == 401
    answer = client.request(method, url, content=b"{}", auth=admin(sb))
    assert answer.status_code == 501
    assert answer.text.startswith(f"faasauth sandbox: {method} {path} (faas-cli {command}")
    assert "GET /system/function/NAME" in answer.text and answer.text.endswith("\n")


READ_ECHO_ONLY = """\
apiVersion: iam.openfaas.com/v1
kind: Policy
metadata: {name: read-echo, namespace: openfaas}
spec:
  statement:
  - sid: read
    action: ["Function:Read"]
    effect: Allow
    resource: ["openfaas-fn:echo"]
  - sid: invoke
    action: ["Function:Invoke"]
    effect: Allow
    resource: ["openfaas-fn:*"]
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata: {name: machines, namespace: openfaas}
spec:
  policy: [read-echo]
  condition:
    StringEqual:
      jwt:iss: ["${FAASAUTH_AUTHORITY}"]
"""
INVOKE_ONLY = READ_ECHO_ONLY.replace('"Function:Read"', '"Function:Invoke"')


def test_a_policy_allowing_some_reads(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client, tmp_path: Path
) -> None:
    iam = tmp_path / "iam.yaml"
    iam.write_text(READ_ECHO_ONLY)
    sb = make_sandbox(iam=str(iam))
    token = bearer(api_token(client, sb))
    base = f"{sb.gateway_url}/system"
    assert client.get(f"{base}/function/echo", headers=token).status_code == 200
    refused = client.get(f"{base}/function/echo-auth", headers=token)
    assert refused.status_code == 403
    assert refused.text == "forbidden: Function:Read on openfaas-fn:echo-auth is not allowed\n"
    assert [f["name"] for f in client.get(f"{base}/functions", headers=token).json()] == ["echo"]
    assert client.get(f"{base}/namespaces", headers=token).json() == []  # no Namespace:Read
    assert client.get(f"{base}/info", headers=token).status_code == 200
    # the admin is not bound by policies
    assert len(client.get(f"{base}/functions", auth=admin(sb)).json()) == 4


def test_a_policy_refusing_every_read(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client, tmp_path: Path
) -> None:
    iam = tmp_path / "iam.yaml"
    iam.write_text(INVOKE_ONLY)
    sb = make_sandbox(iam=str(iam))
    token = bearer(api_token(client, sb))
    base = f"{sb.gateway_url}/system"
    assert client.get(f"{base}/function/echo", headers=token).status_code == 403
    listed = client.get(f"{base}/functions", headers=token)
    assert (listed.status_code, listed.text) == (
        403, "forbidden: Function:Read on openfaas-fn:* is not allowed\n")
    # the same token still invokes: reading and invoking are separate actions
    invoked = exchange(client, sb, client_credentials(client, sb), scope="function")
    answer = client.post(f"{sb.gateway_url}/function/echo-auth", content=b"hi",
                         headers=bearer(invoked.json()["access_token"]))
    assert answer.text == "hi"


def test_the_default_iam_lets_sandbox_callers_read_everything(
    sb: Sandbox, client: httpx.Client
) -> None:
    token = bearer(api_token(client, sb))
    assert client.get(f"{sb.gateway_url}/system/namespaces", headers=token).json() == [
        "openfaas-fn"]
    assert len(client.get(f"{sb.gateway_url}/system/functions", headers=token).json()) == 4


def test_the_admin_password_is_never_logged(make_sandbox: Callable[..., Sandbox],
                                            client: httpx.Client) -> None:
    log = io.StringIO()
    sb = make_sandbox(log=log)
    user, password = admin(sb)
    client.get(f"{sb.gateway_url}/system/functions", auth=(user, password))
    client.get(f"{sb.gateway_url}/system/functions", auth=(user, "wrong"))
    text = log.getvalue()
    assert "GET /system/functions 200 token=basic" in text
    assert password not in text
    # a chosen password, for tests that want a fixed one
    fixed = make_sandbox(admin_password="s3cret-for-tests")
    assert fixed.env()["OPENFAAS_PASSWORD"] == "s3cret-for-tests"


def test_another_method_on_a_read_is_501_too(sb: Sandbox, client: httpx.Client) -> None:
    answer = client.post(f"{sb.gateway_url}/system/namespaces", auth=admin(sb))
    assert answer.status_code == 501
    assert answer.text.startswith("faasauth sandbox: POST /system/namespaces is not served: ")
