"""The gateway's functions and plumbing: echo/env, chunked uploads, async, stack files, the log."""

from __future__ import annotations

import io
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from faasauth.errors import UsageFailure
from faasauth.sandbox import Sandbox
from faasauth.sandbox.functions import envsubst, load_stack
from sandbox.helpers import function_token


def test_echo(sb: Sandbox, client: httpx.Client) -> None:
    answer = client.post(
        f"{sb.gateway_url}/function/echo", content=b"hello", headers={"Content-Type": "text/x-y"}
    )
    assert answer.status_code == 200 and answer.content == b"hello"
    assert answer.headers["Content-Type"] == "text/x-y"
    assert answer.headers["X-Call-Id"] and answer.headers["X-Start-Time"].isdigit()
    assert (
        client.post(f"{sb.gateway_url}/function/echo.openfaas-fn", content=b"ns").content == b"ns"
    )
    assert client.head(f"{sb.gateway_url}/function/echo").status_code == 200


def test_env(sb: Sandbox, client: httpx.Client) -> None:
    token = function_token(client, sb)
    answer = client.put(
        f"{sb.gateway_url}/function/env-auth/some/path?a=1&a=2&b=",
        content=b"12345",
        headers={"Authorization": f"Bearer {token}", "X-Thing": "yes"},
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["function"] == "openfaas-fn:env-auth"
    assert (body["method"], body["path"], body["body_bytes"]) == ("PUT", "/some/path", 5)
    assert body["query"] == {"a": ["1", "2"], "b": [""]}
    assert body["headers"]["Authorization"] == "Bearer ***"
    assert (
        body["headers"]["X-Thing"] == "yes"
        and body["headers"]["X-Call-Id"] == answer.headers["X-Call-Id"]
    )
    assert body["claims"]["sub"] == f"fed:{sb.client_id}"
    assert token not in answer.text
    open_env = client.get(f"{sb.gateway_url}/function/env").json()
    assert open_env["claims"] is None and open_env["path"] == "/"


def test_chunked_upload_is_echoed(sb: Sandbox, client: httpx.Client) -> None:
    piece = os.urandom(64 * 1024)

    def body() -> Iterator[bytes]:
        for _ in range(160):  # 10 MiB, sent before the answer is read (as httpx does)
            yield piece

    answer = client.post(
        f"{sb.gateway_url}/function/echo",
        content=body(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert answer.status_code == 200
    assert len(answer.content) == 160 * len(piece) and answer.content == piece * 160
    seen = client.post(f"{sb.gateway_url}/function/env", content=body()).json()
    assert seen["headers"]["Transfer-Encoding"] == "chunked" and seen["body_bytes"] == 160 * len(
        piece
    )


def raw_exchange(url: str, payload: bytes, expect_answers: int) -> list[bytes]:
    parts = urlsplit(url)
    answers: list[bytes] = []
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as conn:
        conn.sendall(payload)
        data = b""
        while len(answers) < expect_answers:
            data += conn.recv(65536)
            while b"\r\n\r\n" in data:
                head, rest = data.split(b"\r\n\r\n", 1)
                length = int(
                    next(
                        line.split(b":")[1]
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    )
                )
                if len(rest) < length:
                    break
                answers.append(head + b"\r\n\r\n" + rest[:length])
                data = rest[length:]
    return answers


def test_chunked_with_trailers_then_keep_alive(sb: Sandbox) -> None:
    first = (
        b"POST /function/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
    )
    second = b"POST /function/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nbye"
    answers = raw_exchange(sb.gateway_url, first + second, 2)
    assert answers[0].startswith(b"HTTP/1.1 200 OK") and answers[0].endswith(b"\r\n\r\nhello world")
    assert answers[1].endswith(b"\r\n\r\nbye")


def test_unread_body_does_not_break_keep_alive(sb: Sandbox) -> None:
    # a 401 that leaves the body unread
    first = b"POST /function/echo-auth HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    second = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    answers = raw_exchange(sb.gateway_url, first + second, 2)
    assert answers[0].startswith(b"HTTP/1.1 401") and answers[1].endswith(b"\r\n\r\nOK")


def test_malformed_chunks_are_a_bad_request(sb: Sandbox) -> None:
    bad = b"POST /function/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    answer = raw_exchange(sb.gateway_url, bad, 1)[0]
    assert answer.startswith(b"HTTP/1.1 400") and b"Connection: close" in answer


def test_async_answers_202_at_once_and_runs_later(sb: Sandbox, client: httpx.Client) -> None:
    answer = client.post(f"{sb.gateway_url}/async-function/echo-auth", content=b"later")
    assert answer.status_code == 202 and answer.content == b""  # never the 401
    call_id = answer.headers["X-Call-Id"]
    token = function_token(client, sb)
    good = client.post(
        f"{sb.gateway_url}/async-function/echo-auth.openfaas-fn",
        content=b"x",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert good.status_code == 202
    assert sb.wait_async()
    results = {c["call_id"]: c for c in sb.async_calls}
    assert results[call_id] == {
        "call_id": call_id,
        "function": "openfaas-fn:echo-auth",
        "status": 401,
    }
    assert results[good.headers["X-Call-Id"]]["status"] == 200


def test_unknown_function_and_path(sb: Sandbox, client: httpx.Client) -> None:
    answer = client.post(f"{sb.gateway_url}/function/nope.dev")
    assert answer.status_code == 404
    assert answer.text == (
        "error finding function nope.dev: server returned non-200 status code (404) "
        "for function, nope, body: "
    )
    assert client.post(f"{sb.gateway_url}/async-function/nope").status_code == 404
    missing = client.get(f"{sb.gateway_url}/system/nothing")
    assert missing.status_code == 404 and missing.text == "404 page not found\n"


def test_function_list_wants_an_api_token(sb: Sandbox, client: httpx.Client) -> None:
    url = f"{sb.gateway_url}/system/functions"
    assert client.get(url).status_code == 401
    exchange = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}
    idp = client.post(f"{sb.authority}/token", data={"grant_type": "client_credentials"},
                      auth=(sb.client_id, sb.client_secret)).json()
    subject = idp.get("id_token") or idp["access_token"]
    api = client.post(f"{sb.gateway_url}/oauth/token",
                      data={**exchange, "subject_token": subject}).json()["access_token"]
    function = client.post(f"{sb.gateway_url}/oauth/token",
                           data={**exchange, "subject_token": subject, "scope": "function",
                                 "audience": "openfaas-fn:echo-auth"}).json()["access_token"]
    for refused in (subject, function, "not-a-token"):
        answer = client.get(url, headers={"Authorization": f"Bearer {refused}"})
        assert answer.status_code == 401, refused[:20]
    listed = client.get(url, headers={"Authorization": f"Bearer {api}"})
    assert listed.status_code == 200
    assert sorted(f["name"] for f in listed.json()) == ["echo", "echo-auth", "env", "env-auth"]
    assert {f["namespace"] for f in listed.json()} == {"openfaas-fn"}
    other = client.get(url, params={"namespace": "dev"},
                       headers={"Authorization": f"Bearer {api}"})
    assert other.status_code == 200 and other.json() == []


STACK = """\
version: 1.0
provider:
  name: openfaas
  gateway: ${OPENFAAS_URL:-http://127.0.0.1:8080}
functions:
  hello:
    lang: python3-http
    image: ghcr.io/example/hello:latest
  printenv:
    image: ghcr.io/example/printenv:latest
    namespace: ${STACK_NS:-dev}
    environment:
      jwt_auth: true
  secret:
    image: ghcr.io/example/secret:latest
    environment:
      jwt_auth: "true"
      other: x
"""


def test_stack_file(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client, tmp_path: Path
) -> None:
    stack = tmp_path / "stack.yml"
    stack.write_text(STACK)
    sb = make_sandbox(stack=str(stack))
    assert [(f.ref, f.jwt_auth, f.behaviour) for f in sb.functions] == [
        ("openfaas-fn:hello", False, "echo"),
        ("dev:printenv", True, "env"),
        ("openfaas-fn:secret", True, "echo"),
    ]
    assert client.post(f"{sb.gateway_url}/function/hello", content=b"hi").text == "hi"
    assert client.post(f"{sb.gateway_url}/function/echo").status_code == 404
    assert client.post(f"{sb.gateway_url}/function/printenv.dev").status_code == 401
    token = function_token(
        client, sb, "dev:printenv"
    )  # the default policy covers every namespace served
    answer = client.post(
        f"{sb.gateway_url}/function/printenv.dev", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200 and answer.json()["function"] == "dev:printenv"


@pytest.mark.parametrize(
    "text, message",
    [
        ("functions: []\n", "no functions: mapping"),
        ("functions:\n  bad.name: {}\n", "not a valid function name"),
        ("functions:\n  fn: {namespace: 'a b'}\n", "invalid namespace"),
        ("functions: [\n", "invalid YAML at line"),
    ],
)
def test_bad_stack_files(tmp_path: Path, text: str, message: str) -> None:
    stack = tmp_path / "stack.yml"
    stack.write_text(text)
    with pytest.raises(UsageFailure, match=message):
        load_stack(stack)


def test_envsubst() -> None:
    assert envsubst("${A} ${B:-dflt} ${C:-} $D", {"A": "1"}) == "1 dflt  $D"


def test_latency(make_sandbox: Callable[..., Sandbox], client: httpx.Client) -> None:
    sb = make_sandbox(latency_ms=150)
    began = time.monotonic()
    client.get(f"{sb.gateway_url}/healthz")
    assert time.monotonic() - began >= 0.14
    began = time.monotonic()
    client.get(f"{sb.gateway_url}/_sandbox/requests")  # sandbox plumbing is not delayed
    assert time.monotonic() - began < 0.14


def test_request_log(make_sandbox: Callable[..., Sandbox], client: httpx.Client) -> None:
    stream = io.StringIO()
    sb = make_sandbox(log=stream)
    token = function_token(client, sb)
    client.post(
        f"{sb.gateway_url}/function/echo-auth", headers={"Authorization": f"Bearer {token}"}
    )
    client.post(f"{sb.gateway_url}/function/echo-auth", headers={"Authorization": "Bearer junk"})
    client.post(f"{sb.gateway_url}/function/echo-auth", headers={"Authorization": "Basic eDp5"})
    client.post(f"{sb.gateway_url}/function/echo-auth")
    kinds = [(r.origin, r.path, r.status, r.token) for r in sb.requests]
    assert kinds == [
        ("idp", "/token", 200, "none"),
        ("gateway", "/oauth/token", 200, "idp"),
        ("gateway", "/function/echo-auth", 200, "function"),
        ("gateway", "/function/echo-auth", 401, "invalid"),
        ("gateway", "/function/echo-auth", 401, "invalid"),
        ("gateway", "/function/echo-auth", 401, "none"),
    ]
    assert sb.count("/function/") == 4 and sb.count(origin="idp") == 1 and sb.count(status=401) == 3
    served = client.get(f"{sb.gateway_url}/_sandbox/requests").json()
    assert [r["path"] for r in served] == [k[1] for k in kinds]
    assert set(served[0]) == {
        "origin",
        "method",
        "path",
        "status",
        "token",
        "started",
        "duration_ms",
        "connection",
    }
    # one client, keep-alive: every gateway request came on the same connection
    assert {r["connection"] for r in served if r["origin"] == "gateway"} == {1}
    lines = stream.getvalue().splitlines()
    assert len(lines) == 6 and "POST /function/echo-auth 200 token=function" in lines[2]
    assert token not in stream.getvalue() and "junk" not in stream.getvalue()
    client.delete(f"{sb.gateway_url}/_sandbox/requests")
    assert (
        sb.requests == []
        and json.loads(client.get(f"{sb.gateway_url}/_sandbox/requests").text) == []
    )


def test_a_big_upload_still_reads_its_401(sb: Sandbox, client: httpx.Client) -> None:
    piece = b"x" * (1024 * 1024)
    answer = client.post(f"{sb.gateway_url}/function/echo-auth", content=(piece for _ in range(32)))
    assert (
        answer.status_code == 401
    )  # the body is drained, the connection is not reset under the client
    assert client.post(f"{sb.gateway_url}/function/echo", content=b"again").text == "again"
