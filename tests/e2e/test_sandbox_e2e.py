"""End to end: every command, as a real process, against the sandbox gateway and IdP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from faasauth.sandbox import Sandbox

USER_CODE = re.compile(r"enter the code: (\S+)")
DENY_ALL_BUT_ECHO = """\
apiVersion: iam.openfaas.com/v1
kind: JwtIssuer
metadata: {name: sandbox-idp, namespace: openfaas}
spec:
  iss: ${FAASAUTH_AUTHORITY}
  aud: [faasauth-sandbox, faasauth-cli]
  tokenExpiry: 10m
---
apiVersion: iam.openfaas.com/v1
kind: Policy
metadata: {name: echo-only, namespace: openfaas}
spec:
  statement:
  - sid: 1-echo
    action: ["Function:Invoke"]
    effect: Allow
    resource: ["openfaas-fn:echo-auth"]
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata: {name: machines, namespace: openfaas}
spec:
  policy: [echo-only]
  condition:
    StringEqual:
      jwt:iss: ["${FAASAUTH_AUTHORITY}"]
"""


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


def run(*args: str, env: dict[str, str], input: bytes | str = b"",
        timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    data = input.encode() if isinstance(input, str) else input
    return subprocess.run([sys.executable, "-m", "faasauth", *args], input=data,
                          capture_output=True, env={**os.environ, **env}, timeout=timeout)


def test_the_readme_main_job_command(tmp_path: Path) -> None:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    result = subprocess.run(
        ["faasauth", "sandbox", "--", "sh", "-c",
         "faasauth auth && echo hello | faasauth invoke echo-auth"],
        capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello\n"


def test_client_credentials_then_invoke_counts_round_trips(sandbox: Sandbox) -> None:
    env = sandbox.env()
    assert run("auth", env=env).returncode == 0
    sandbox.clear_requests()

    first = run("invoke", "echo-auth", env=env, input=b"first")
    assert first.returncode == 0, first.stderr
    assert first.stdout == b"first"
    gateway = [r for r in sandbox.requests if r.origin == "gateway"]
    assert [(r.method, r.path, r.status) for r in gateway] == [
        ("POST", "/function/echo-auth", 401),
        ("POST", "/oauth/token", 200),
        ("POST", "/function/echo-auth", 200),
    ]
    sandbox.clear_requests()

    warm = run("invoke", "echo-auth", env=env, input=b"warm")
    assert warm.returncode == 0 and warm.stdout == b"warm"
    assert [(r.path, r.status) for r in sandbox.requests] == [("/function/echo-auth", 200)]


def test_exchange_token_works_with_another_http_client(sandbox: Sandbox) -> None:
    env = sandbox.env()
    assert run("auth", env=env).returncode == 0
    result = run("exchange", "-a", "openfaas-fn:env-auth", "-o", "json", env=env)
    assert result.returncode == 0, result.stderr
    token = json.loads(result.stdout)
    assert token["audience"] == ["openfaas-fn:env-auth"] and token["cached"] is False
    answer = httpx.get(f"{sandbox.gateway_url}/function/env-auth",
                       headers={"Authorization": f"Bearer {token['access_token']}"})
    assert answer.status_code == 200
    assert answer.json()["claims"]["function"]["audience"] == ["openfaas-fn:env-auth"]
    again = run("exchange", "-a", "openfaas-fn:env-auth", "-o", "json", env=env)
    assert json.loads(again.stdout)["cached"] is True


def test_status_and_logout(sandbox: Sandbox) -> None:
    env = sandbox.env()
    assert run("status", env=env).returncode == 4
    assert run("auth", env=env).returncode == 0
    status = run("status", "--json", env=env)
    assert status.returncode == 0
    assert json.loads(status.stdout)["logins"][0]["issuer"] == sandbox.authority
    assert sandbox.client_secret.encode() not in status.stdout + status.stderr
    assert run("logout", env=env).returncode == 0
    assert run("status", env=env).returncode == 4


def test_device_grant_with_auto_approve() -> None:
    with Sandbox(auto_approve=True) as sb:
        env = {**sb.env(), "FAASAUTH_CLIENT_ID": sb.public_client_id}
        del env["FAASAUTH_CLIENT_SECRET"]
        result = run("auth", env=env)
        assert result.returncode == 0, result.stderr
        assert b"enter the code:" in result.stderr
        invoked = run("invoke", "env-auth", "-m", "GET", env=env)
        assert invoked.returncode == 0, invoked.stderr
        assert json.loads(invoked.stdout)["claims"]["sub"].startswith("fed:")


def test_device_grant_approved_on_the_html_page(sandbox: Sandbox) -> None:
    env = {**sandbox.env(), "FAASAUTH_CLIENT_ID": sandbox.public_client_id,
           "PYTHONUNBUFFERED": "1"}
    del env["FAASAUTH_CLIENT_SECRET"]
    process = subprocess.Popen([sys.executable, "-m", "faasauth", "auth"],
                               env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    found = threading.Event()
    lines: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if USER_CODE.search(line):
                found.set()

    threading.Thread(target=read, daemon=True).start()
    assert found.wait(30), "".join(lines)
    user_code = next(m.group(1) for line in lines if (m := USER_CODE.search(line)))
    verification = next(line.split("open ", 1)[1].split(" and")[0]
                        for line in lines if "enter the code" in line)
    page = httpx.get(verification, params={"user_code": user_code})
    assert page.status_code == 200 and 'name="user_code"' in page.text
    approved = httpx.post(verification, data={"user_code": user_code, "login": "bob",
                                              "action": "approve"})
    assert approved.status_code == 200
    assert process.wait(30) == 0, "".join(lines)
    status = run("status", "--json", env=env)
    assert json.loads(status.stdout)["logins"][0]["subject"] == "bob"


def test_refused_exchange_and_forbidden_function(tmp_path: Path) -> None:
    iam = tmp_path / "iam.yaml"
    iam.write_text(DENY_ALL_BUT_ECHO)
    with Sandbox(iam=str(iam)) as sb:
        env = sb.env()
        assert run("auth", env=env).returncode == 0
        assert run("invoke", "echo-auth", env=env, input="ok").stdout == b"ok"
        forbidden = run("invoke", "env-auth", env=env)
        assert forbidden.returncode == 4
        assert b"insufficient permissions" in forbidden.stderr
        assert forbidden.stdout == b""


def test_async_invoke_with_auth(sandbox: Sandbox) -> None:
    env = sandbox.env()
    assert run("auth", env=env).returncode == 0
    result = run("invoke", "echo-auth", "--async", "--auth", env=env, input="later")
    assert result.returncode == 0, result.stderr
    assert b"Function submitted asynchronously." in result.stderr
    assert sandbox.wait_async()
    assert [c["status"] for c in sandbox.async_calls] == [200]


def test_open_function_needs_no_login(sandbox: Sandbox) -> None:
    env = {"OPENFAAS_URL": sandbox.gateway_url}
    result = run("invoke", "echo", env=env, input=bytes(range(256)))
    assert result.returncode == 0
    assert result.stdout == bytes(range(256))
    assert sandbox.count("/oauth/token") == 0


def test_a_function_the_gateway_does_not_know_names_where_it_looked(sandbox: Sandbox) -> None:
    env = {"OPENFAAS_URL": sandbox.gateway_url}
    result = run("invoke", "ecko", "-n", "dev", env=env, input=b"x")
    assert result.returncode == 1 and result.stdout == b""
    assert result.stderr.decode().splitlines() == [
        f"faasauth: no function ecko in namespace dev at {sandbox.gateway_url} (the gateway "
        "answered 404: error finding function ecko.dev)",
        "hint: check the name, the namespace (-n, OPENFAAS_NS or the stack file) and the "
        "gateway (-g, OPENFAAS_URL); 'faas-cli list -n NAMESPACE' lists them",
    ]


def test_auth_with_the_gateway_as_authority_says_so(sandbox: Sandbox) -> None:
    env = sandbox.env()
    result = run("auth", "--authority", sandbox.gateway_url, env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.decode().splitlines() == [
        f"faasauth: {sandbox.gateway_url} is an OpenFaaS gateway (it only exchanges tokens), "
        "not an identity provider",
        "hint: give --authority (or FAASAUTH_AUTHORITY) your identity provider's issuer URL, "
        "the one the gateway's JwtIssuer trusts; the gateway is -g or OPENFAAS_URL",
    ]
    assert run("status", env=env).returncode == 4  # nothing stored


def _gone(pid: int, within: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):  # ended; nobody has reaped it yet
            return True
        time.sleep(0.05)
    return False


def test_background_sandbox_serves_once_its_exports_are_printed(tmp_path: Path) -> None:
    import shlex

    faasauth = f"{shlex.quote(sys.executable)} -m faasauth"
    script = (
        f'eval "$({faasauth} sandbox -q --auto-approve --background)" || exit 9\n'
        f"{faasauth} auth && echo hello | {faasauth} invoke echo-auth || exit 8\n"
        'echo "pid=$FAASAUTH_SANDBOX_PID"\n'
    )
    result = subprocess.run(
        ["sh", "-c", script], capture_output=True, timeout=60,
        env={**os.environ, "FAASAUTH_HOME": str(tmp_path / "home"),
             "FAASAUTH_TOKEN_STORE": "file"},
    )
    err = result.stderr.decode()
    said = re.search(r"serving in the background as process (\d+) \(log: (\S+)\); stop it "
                     r"with: kill \$FAASAUTH_SANDBOX_PID", err)
    assert said is not None, err
    pid, log = int(said.group(1)), Path(said.group(2))
    try:
        assert result.returncode == 0, err
        assert result.stdout.decode().splitlines() == ["hello", f"pid={pid}"]
        assert log.stat().st_mode & 0o077 == 0  # the log is private
        assert os.getsid(pid) == pid  # its own session: closing the terminal leaves it be
    finally:
        os.kill(pid, 15)
    assert _gone(pid)
    assert not log.exists()  # a clean stop leaves no log behind


def test_background_sandbox_that_cannot_start_says_why(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("sandbox", "--background", "--port", str(port), env={})
    assert result.returncode == 2
    assert result.stdout == b""  # nothing for eval to run
    assert result.stderr.decode().splitlines() == [
        f"faasauth: cannot listen on 127.0.0.1:{port} for the sandbox gateway: address already "
        "in use"
    ]


def test_background_with_a_command_is_a_usage_error() -> None:
    result = run("sandbox", "--background", "--", "true", env={})
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.decode().startswith("faasauth: --background serves for other commands")


def test_a_key_change_the_watchdog_missed_is_named_after_one_re_exchange(
    sandbox: Sandbox,
) -> None:
    # The released watchdog read the gateway's keys at start; the gateway then changed its key.
    env = sandbox.env()
    assert run("auth", env=env).returncode == 0
    sandbox.rotate_gateway_key()
    first = run("invoke", "echo-auth", env=env, input=b"x")  # probe, exchange, refused
    sandbox.clear_requests()
    again = run("invoke", "echo-auth", env=env, input=b"x")  # the cached token, refused
    assert [(r.path, r.status) for r in sandbox.requests] == [
        ("/function/echo-auth", 401), ("/oauth/token", 200), ("/function/echo-auth", 401)
    ]
    for result in (first, again):
        assert result.returncode == 4
        assert result.stdout == b""
        lines = result.stderr.decode().splitlines()
        assert "invalid kid" in lines[-2]
        assert lines[-1] == (
            "hint: the function's watchdog does not know the key that signed the token: the "
            "gateway's signing key probably changed after the function started; restarting "
            "the function makes its watchdog read the gateway's keys again"
        )
    sandbox.restart_watchdogs()
    assert run("invoke", "echo-auth", env=env, input=b"ok").stdout == b"ok"


def test_faas_cli_read_commands_with_the_token_auth_faas_cli_saved(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # What faas-cli sends after `faasauth auth --faas-cli`: its config.yml's token as Bearer
    # (describe, ready, namespace list, version); and after `faas-cli login`: basic auth.
    import base64

    import yaml

    config = tmp_path / "openfaas"
    env = {**sandbox.env(), "OPENFAAS_CONFIG": str(config)}
    assert run("auth", "--faas-cli", env=env).returncode == 0
    saved = yaml.safe_load((config / "config.yml").read_text())
    entry = next(a for a in saved["auths"] if a["gateway"] == sandbox.gateway_url)
    assert entry["auth"] == "oauth2"
    password = sandbox.env()["OPENFAAS_PASSWORD"]
    login = base64.b64encode(f"admin:{password}".encode()).decode()
    for authorization in (f"Bearer {entry['token']}", f"Basic {login}"):
        with httpx.Client(base_url=sandbox.gateway_url,
                          headers={"Authorization": authorization}) as client:
            described = client.get("/system/function/echo-auth",
                                   params={"namespace": "openfaas-fn", "usage": "1"})
            assert described.status_code == 200, authorization[:6]
            assert described.json()["availableReplicas"] == 1  # what `ready` waits for
            assert client.get("/system/namespaces").json() == ["openfaas-fn"]
            assert client.get("/system/info").json()["provider"]["provider"] == (
                "faasauth-sandbox")
            assert client.get("/system/function/nope").status_code == 404
            assert client.delete("/system/functions").status_code == 501


ALLOW_ALLOWED = DENY_ALL_BUT_ECHO.replace('resource: ["openfaas-fn:echo-auth"]',
                                          'resource: ["openfaas-fn:allowed-*"]')


def test_your_own_functions_are_reached_only_through_iam(tmp_path: Path) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from faasauth.sandbox.user_functions import exec_function, http_function

    reached: list[str] = []

    class Mine(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            reached.append(self.path)
            answer = b"mine: " + body
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Mine)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    iam = tmp_path / "iam.yaml"
    iam.write_text(ALLOW_ALLOWED)
    functions = [http_function("allowed-http", url), http_function("refused-http", url),
                 exec_function("allowed-exec", "tr a-z A-Z"),
                 exec_function("refused-exec", "tr a-z A-Z")]
    try:
        with Sandbox(iam=str(iam), functions=functions) as sb:
            env = sb.env()
            for name in ("allowed-http", "allowed-exec"):  # no login: no token to send
                without = run("invoke", name, env=env, input="hi")
                assert without.returncode == 4 and without.stdout == b"", name
            assert reached == []
            assert run("auth", env=env).returncode == 0
            http_answer = run("invoke", "allowed-http", env=env, input="hi")
            assert (http_answer.returncode, http_answer.stdout) == (0, b"mine: hi")
            exec_answer = run("invoke", "allowed-exec", env=env, input="hi")
            assert (exec_answer.returncode, exec_answer.stdout) == (0, b"HI")
            for name in ("refused-http", "refused-exec"):
                refused = run("invoke", name, env=env, input="hi")
                assert refused.returncode == 4, name
                assert b"insufficient permissions" in refused.stderr
            assert reached == ["/"]
    finally:
        server.shutdown()
        server.server_close()
