"""The user's own functions behind the sandbox's watchdog (sandbox/user_functions.py): an HTTP
server (`--function NAME=URL`) and a command (`--function-exec NAME 'CMD'`)."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from faasauth.cli.commands.sandbox import command
from faasauth.sandbox import Sandbox
from faasauth.sandbox.user_functions import exec_function, http_function, parse_url_spec

CHALLENGE = "Bearer realm=IAM function invoke"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]]

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        if self.headers.get("Transfer-Encoding") == "chunked":
            body = b""
            while (size := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        record = {"method": self.command, "path": self.path, "body": body.decode(),
                  "headers": {k.lower(): v for k, v in self.headers.items()}}
        self.server.seen.append(record)  # type: ignore[attr-defined]
        answer = json.dumps(record).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Handler", "mine")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def upstream() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url_of(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


SHOUT = "sh -c 'tr a-z A-Z; echo \" $Http_Method $Http_Path $Http_Query $Http_X_Trace\"'"


@pytest.fixture
def mine(make_sandbox: Callable[..., Sandbox], upstream: ThreadingHTTPServer) -> Sandbox:
    return make_sandbox(functions=[
        http_function("hello", url_of(upstream) + "/base/"),
        http_function("public.dev", url_of(upstream), jwt_auth=False),
        exec_function("shout", SHOUT),
        exec_function("fails", "sh -c 'echo partial; exit 3'"),
        exec_function("missing", "no-such-command-faasauth"),
    ])


def test_an_http_server_behind_the_watchdog(
    mine: Sandbox, upstream: ThreadingHTTPServer, client: httpx.Client
) -> None:
    url = f"{mine.gateway_url}/function/hello/sub/path?a=1&b=2"
    refused = client.post(url, content=b"hi")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == CHALLENGE
    assert upstream.seen == []  # the user's code is reached only through IAM
    token = mine.issue_function_token(["openfaas-fn:hello"])
    answer = client.post(url, content=b"hi", headers={"Authorization": f"Bearer {token}",
                                                       "X-Trace": "t1"})
    assert answer.status_code == 201
    assert answer.headers["X-Handler"] == "mine" and "X-Call-Id" in answer.headers
    seen = answer.json()
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", "/base/sub/path?a=1&b=2",
                                                            "hi")
    assert seen["headers"]["x-trace"] == "t1"
    assert seen["headers"]["authorization"] == f"Bearer {token}"  # as the watchdog passes it
    forbidden = client.post(url, content=b"hi", headers={
        "Authorization": f"Bearer {mine.issue_function_token(['openfaas-fn:echo'])}"})
    assert (forbidden.status_code, forbidden.text) == (403, "insufficient permissions\n")
    assert len(upstream.seen) == 1


def test_an_open_one_in_another_namespace_and_a_streamed_body(
    mine: Sandbox, upstream: ThreadingHTTPServer, client: httpx.Client
) -> None:
    def body() -> Iterator[bytes]:
        yield b"a" * 70_000
        yield b"b" * 10

    answer = client.post(f"{mine.gateway_url}/function/public.dev", content=body())
    assert answer.status_code == 201
    assert answer.json()["body"] == "a" * 70_000 + "b" * 10
    assert answer.json()["path"] == "/"
    assert client.get(f"{mine.gateway_url}/function/public.dev/_/health").text == "OK"


def test_a_command_as_the_classic_watchdog_runs_it(mine: Sandbox, client: httpx.Client) -> None:
    url = f"{mine.gateway_url}/function/shout/x?q=1"
    assert client.post(url, content=b"hello").status_code == 401
    token = mine.issue_function_token(["openfaas-fn:*"])
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "text/x-shout",
            "X-Trace": "t2"}
    answer = client.post(url, content=b"hello", headers=auth)
    assert answer.status_code == 200
    assert answer.text == "HELLO POST /x q=1 t2\n"
    assert answer.headers["Content-Type"] == "text/x-shout"
    failed = client.post(f"{mine.gateway_url}/function/fails", headers=auth)
    assert (failed.status_code, failed.text) == (500, "exit status 3")
    missing = client.post(f"{mine.gateway_url}/function/missing", headers=auth)
    assert missing.status_code == 500
    assert missing.text == 'exec: "no-such-command-faasauth": executable file not found in $PATH'
    described = client.get(f"{mine.gateway_url}/system/function/shout",
                           auth=(mine.env()["OPENFAAS_USERNAME"], mine.env()["OPENFAAS_PASSWORD"]))
    assert described.json()["envProcess"].startswith("sh -c ")


def test_an_unreachable_server_is_a_502_naming_it(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    sb = make_sandbox(functions=[http_function("gone", "http://127.0.0.1:9", jwt_auth=False)])
    answer = client.post(f"{sb.gateway_url}/function/gone", content=b"x")
    assert answer.status_code == 502
    assert answer.text.startswith("faasauth sandbox: cannot reach function gone at "
                                  "http://127.0.0.1:9: ")


def test_yours_replace_a_served_function_of_the_same_name(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    sb = make_sandbox(functions=[exec_function("echo", "echo replaced", jwt_auth=False)])
    assert [f.name for f in sb.functions].count("echo") == 1
    assert client.post(f"{sb.gateway_url}/function/echo").text == "replaced\n"


@pytest.mark.parametrize(("spec", "why"), [
    ("hello", "expected NAME=URL"),
    ("hello=ftp://x", "is not an http:// or https:// URL"),
    ("hello=http://127.0.0.1:x", "invalid port"),
    ("hello=http://127.0.0.1:1/?a=1", "no query"),
    ("he/llo=http://127.0.0.1:1", "is not a function name"),
])
def test_bad_specs_say_why(spec: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_url_spec(spec)
    result = CliRunner().invoke(command, ["--function", spec, "--", "true"])
    assert result.exit_code == 2 and why in result.output


def test_cli_options_bad_exec_and_unknown_no_jwt_auth() -> None:
    empty = CliRunner().invoke(command, ["--function-exec", "x", "", "--", "true"])
    assert empty.exit_code == 2 and "the command is empty" in empty.output
    unknown = CliRunner().invoke(command, ["--no-jwt-auth", "echo", "--", "true"])
    assert unknown.exit_code == 2 and "'echo' is not a --function or --function-exec" in (
        unknown.output)


def test_cli_serves_yours_to_the_command(upstream: ThreadingHTTPServer, tmp_path: Path) -> None:
    check = tmp_path / "check.py"
    check.write_text(
        "import httpx, os, sys\n"
        "u = os.environ['OPENFAAS_URL'] + '/function/'\n"
        "seen = (httpx.post(u + 'hello', content=b'x').status_code,\n"
        "        httpx.post(u + 'up', content=b'x').status_code,\n"
        "        httpx.post(u + 'up2', content=b'x').status_code)\n"
        "sys.exit(0 if seen == (201, 401, 401) else f'{seen}')\n"
    )
    script = f"{sys.executable} {check}"
    result = CliRunner().invoke(command, [
        "-q", "--function", f"hello={url_of(upstream)}", "--no-jwt-auth", "hello",
        "--function-exec", "up", "tr a-z A-Z", "--function-exec", "up2", "cat",
        "--", "sh", "-c", script,
    ])
    assert result.exit_code == 0, result.output
    assert len(upstream.seen) == 1  # hello is open: reached without a token


@pytest.mark.faasauth_sandbox(functions=[exec_function("shout", "tr a-z A-Z")])
def test_the_pytest_plugin_serves_yours_from_its_marker(
    faasauth_sandbox: Sandbox, client: httpx.Client
) -> None:
    url = f"{faasauth_sandbox.gateway_url}/function/shout"
    assert client.post(url, content=b"hi").status_code == 401
    token = faasauth_sandbox.issue_function_token(["openfaas-fn:shout"])
    answer = client.post(url, content=b"hi", headers={"Authorization": f"Bearer {token}"})
    assert answer.text == "HI"


def test_a_204_from_your_server_has_no_body(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    class NoContent(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_DELETE(self) -> None:  # noqa: N802
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NoContent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sb = make_sandbox(functions=[http_function("gone", url_of(server), jwt_auth=False)])
        port = int(sb.gateway_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"DELETE /function/gone HTTP/1.1\r\nHost: x\r\n"
                         b"Connection: close\r\n\r\n")
            raw = b""
            while chunk := conn.recv(65536):
                raw += chunk
        head, _, rest = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 204 ") and rest == b""  # no chunked framing
        assert b"transfer-encoding" not in head.lower()
        assert head.lower().count(b"\r\ndate:") == 1  # the sandbox's own, not two
        assert client.delete(f"{sb.gateway_url}/function/gone").status_code == 204
    finally:
        server.shutdown()
        server.server_close()
