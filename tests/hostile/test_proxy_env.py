"""Issue 21, finding 5: loopback never goes through a proxy, whatever NO_PROXY says.

faasauth sends credentials over plain http to loopback without a warning because such a
request stays on the machine. With HTTP_PROXY, HTTPS_PROXY or ALL_PROXY set it used to go
to the proxy instead: TAB completion sent faas-cli's Basic credential there, `exchange`
the subject token. Now loopback is always direct (as Go, and so faas-cli, does), for every
client: the IdP's, the gateway's, the ambient identity's, and completion's function list;
anything else still goes through the proxy the environment names.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from cli_support import CliResult, cli_runner, make_jwt
from hostile.server import HostileServer

SUBJECT = make_jwt({"iss": "https://idp.example.com", "sub": "alice", "exp": 4_000_000_000})
BASIC = base64.b64encode(b"admin:faas-cli-password").decode()


class RecordingProxy:
    """A proxy on 127.0.0.1 that records each request's first line and headers, and
    answers 502 (a CONNECT too): what reaches it has left faasauth's hands."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests: list[tuple[str, dict[str, str]]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(client,), daemon=True).start()

    def _answer(self, client: socket.socket) -> None:
        with client:
            client.settimeout(5)
            head = b""
            try:
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    data = client.recv(4096)
                    if not data:
                        return
                    head += data
                lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
                headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
                self.requests.append((lines[0], headers))
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                               b"Connection: close\r\n\r\n")
            except OSError:
                pass

    def lines(self) -> list[str]:
        return [line for line, _ in self.requests]

    def close(self) -> None:
        self.listener.close()


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                   "all_proxy")


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProxy]:
    """Every proxy variable names the recording proxy; NO_PROXY is unset."""
    server = RecordingProxy()
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    yield server
    server.close()


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> Callable[..., CliResult]:
    return cli_runner(capsys, monkeypatch)


def _exchange_answer(hostile: HostileServer) -> None:
    hostile.route("/oauth/token")(lambda r: r.json(200, {
        "access_token": make_jwt({"sub": "fed:alice", "exp": 4_000_000_000}),
        "token_type": "Bearer", "expires_in": 300}))


# -- loopback: direct, for every client -------------------------------------------------


@pytest.mark.parametrize("no_proxy", [None, "", "example.com,10.0.0.0/8"])
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_exchange_with_a_loopback_gateway_never_goes_to_the_proxy(
    hostile: HostileServer, proxy: RecordingProxy, run: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch, host: str, no_proxy: str | None,
) -> None:
    if no_proxy is not None:
        monkeypatch.setenv("NO_PROXY", no_proxy)
    _exchange_answer(hostile)
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", SUBJECT)
    gateway = hostile.url.replace("127.0.0.1", host)
    result = run("exchange", "-g", gateway, "-o", "json")
    assert result.code == 0, result.err
    assert proxy.requests == []
    (sent,) = [r for r in hostile.seen if r.path == "/oauth/token"]
    assert SUBJECT in sent.body.decode()  # it reached the gateway, and only the gateway


def test_the_identity_provider_on_loopback_is_asked_directly(
    hostile: HostileServer, proxy: RecordingProxy, run: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hostile.discovery()
    hostile.route("/token")(lambda r: r.json(200, {
        "access_token": SUBJECT, "token_type": "Bearer", "expires_in": 300}))
    monkeypatch.setenv("FAASAUTH_CLIENT_SECRET", "client-secret-value")
    result = run("auth", "-g", "http://127.0.0.1:9", "--authority", hostile.url,
                 "--client-id", "cid")
    assert result.code == 0, result.err
    assert proxy.requests == []
    assert {r.path for r in hostile.seen} == {"/.well-known/openid-configuration", "/token"}


def test_the_ambient_identity_on_loopback_is_asked_directly(
    hostile: HostileServer, proxy: RecordingProxy, run: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = make_jwt({"iss": "https://token.actions.githubusercontent.com", "sub": "repo:o/r",
                      "aud": "http://127.0.0.1:9", "exp": int(time.time()) + 600})
    hostile.route("/gh")(lambda r: r.json(200, {"count": 1, "value": token}))
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{hostile.url}/gh?api-version=2.0")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token-value")
    run("auth", "-g", "http://127.0.0.1:9", "--ambient")
    assert proxy.requests == []
    (asked,) = [r for r in hostile.seen if r.path.startswith("/gh")]
    assert asked.headers["Authorization"] == "bearer request-token-value"


def _tab(words: str, env: dict[str, str], cwd: Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "faasauth"], cwd=cwd, capture_output=True, text=True,
        timeout=30, env={**env, "_FAASAUTH_COMPLETE": "bash_complete", "COMP_WORDS": words,
                         "COMP_CWORD": str(len(words.split(" ")) - 1)},
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


def _faas_cli_config(directory: Path, gateway: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / "config.yml").write_text(
        f"auths:\n- gateway: {gateway}\n  auth: basic\n  token: {BASIC}\n")


def test_completion_sends_faas_clis_credential_to_a_loopback_gateway_only(
    hostile: HostileServer, proxy: RecordingProxy, tmp_path: Path,
) -> None:
    hostile.route("/system/functions")(lambda r: r.json(200, [{"name": "figlet"}]))
    _faas_cli_config(Path(os.environ["OPENFAAS_CONFIG"]), hostile.url)
    env = {**os.environ, "OPENFAAS_URL": hostile.url}
    assert _tab("faasauth invoke f", env, tmp_path) == ["figlet"]
    assert proxy.requests == []
    (listed,) = hostile.seen
    assert listed.headers["Authorization"] == f"Basic {BASIC}"


# -- anything else: through the proxy, as before ----------------------------------------


def test_a_remote_gateway_is_still_asked_through_the_proxy(
    proxy: RecordingProxy, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", SUBJECT)
    plain = run("exchange", "-g", "http://gateway.invalid:8080")
    assert plain.code == 3
    assert "over plain http" in plain.err  # remote plain http still warns
    secure = run("exchange", "-g", "https://gateway.invalid")
    assert secure.code == 3
    assert proxy.lines() == ["POST http://gateway.invalid:8080/oauth/token HTTP/1.1",
                             "CONNECT gateway.invalid:443 HTTP/1.1"]


def test_completion_asks_a_remote_gateway_through_the_proxy_without_the_credential(
    proxy: RecordingProxy, tmp_path: Path,
) -> None:
    config = Path(os.environ["OPENFAAS_CONFIG"])
    for gateway in ("http://gateway.invalid:8080", "https://gateway.invalid"):
        _faas_cli_config(config, gateway)
        assert _tab("faasauth invoke f", {**os.environ, "OPENFAAS_URL": gateway}, tmp_path) == []
    (plain, plain_headers), (secure, _) = proxy.requests
    assert plain == "GET http://gateway.invalid:8080/system/functions HTTP/1.1"
    assert "Authorization" not in plain_headers  # plain http to another host: never
    assert secure.startswith("CONNECT gateway.invalid:443 ")  # the credential is in the tunnel


def test_no_proxy_still_names_hosts_to_reach_directly(
    proxy: RecordingProxy, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_PROXY", ".invalid")
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", SUBJECT)
    result = run("exchange", "-g", "http://gateway.invalid:8080", "--timeout", "2")
    assert result.code == 3  # no such host, asked directly
    assert proxy.requests == []


# -- the rule itself ---------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080", "http://127.0.0.2:8080", "http://127.255.255.254",
    "https://localhost", "http://LOCALHOST.:8080", "http://gw.localhost:8080",
    "http://[::1]:8080", "https://[0:0:0:0:0:0:0:1]",
])
@pytest.mark.parametrize("no_proxy", [None, "", "example.com"])
def test_loopback_is_never_proxied(
    monkeypatch: pytest.MonkeyPatch, url: str, no_proxy: str | None
) -> None:
    from faasauth.config.proxies import proxy_for

    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, "http://proxy.example.com:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    if no_proxy is not None:
        monkeypatch.setenv("no_proxy", no_proxy)
    assert proxy_for(url) is None


@pytest.mark.parametrize(("no_proxy", "url", "direct"), [
    ("*", "https://gw.example.com", True),
    ("example.com", "https://gw.example.com", True),
    ("example.com", "https://example.com", True),
    ("example.com", "https://badexample.com", False),
    (".example.com", "https://gw.example.com", True),
    (".example.com", "https://example.com", False),
    ("*.example.com", "https://example.com", False),
    ("gw.example.com:8443", "https://gw.example.com:8443", True),
    ("gw.example.com:8443", "https://gw.example.com", False),
    ("10.0.0.0/8", "http://10.1.2.3:8080", True),
    ("10.0.0.0/8", "http://11.1.2.3:8080", False),
    ("192.0.2.7", "http://192.0.2.7", True),
    ("2001:db8::/32", "http://[2001:db8::5]", True),
    ("[2001:db8::1]:8080", "http://[2001:db8::1]:8080", True),
    ("http://gw.example.com", "http://gw.example.com", True),
    ("http://gw.example.com", "https://gw.example.com", False),
    (" other.org , Example.COM ", "https://gw.example.com", True),
    ("other.org", "https://gw.example.com", False),
])
def test_no_proxy_entries(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str, url: str, direct: bool
) -> None:
    from faasauth.config.proxies import proxy_for

    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "proxy.example.com:3128")  # no scheme: http://
    monkeypatch.setenv("HTTP_PROXY", "http://plain-proxy.example.com:3128")
    monkeypatch.setenv("no_proxy", no_proxy)
    expected = ("http://proxy.example.com:3128" if url.startswith("https:")
                else "http://plain-proxy.example.com:3128")
    assert proxy_for(url) == (None if direct else expected)


def test_all_proxy_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    from faasauth.config.proxies import proxy_for

    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setenv("ALL_PROXY", "socks5://proxy.example.com:1080")
    assert proxy_for("https://gw.example.com") == "socks5://proxy.example.com:1080"
    monkeypatch.setenv("https_proxy", "http://web-proxy.example.com:3128")
    assert proxy_for("https://gw.example.com") == "http://web-proxy.example.com:3128"
    assert proxy_for("http://127.0.0.1:8080") is None


def test_the_ambient_identity_asked_without_a_client_keeps_the_loopback_rule(
    hostile: HostileServer, proxy: RecordingProxy,
) -> None:
    """`GitHubActions.fetch()` with no client (the library's way) builds faasauth's own:
    loopback direct, whatever HTTP_PROXY says; a plain httpx.Client sent it to the proxy."""
    from faasauth.idp.ambient_sources import GitHubActions

    token = make_jwt({"iss": "https://token.actions.githubusercontent.com", "sub": "repo:o/r",
                      "aud": "http://127.0.0.1:9", "exp": int(time.time()) + 600})
    hostile.route("/gh")(lambda r: r.json(200, {"count": 1, "value": token}))
    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": f"{hostile.url}/gh?api-version=2.0",
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token-value"}
    assert GitHubActions("http://127.0.0.1:9", env, timeout=5).fetch() == token
    assert proxy.requests == []
    (asked,) = [r for r in hostile.seen if r.path.startswith("/gh")]
    assert asked.headers["Authorization"] == "bearer request-token-value"
    assert asked.headers["User-Agent"].startswith("faasauth/")


def test_the_ambient_identity_of_a_remote_runner_still_goes_through_the_proxy(
    proxy: RecordingProxy,
) -> None:
    from faasauth.errors import TransientFailure
    from faasauth.idp.ambient_sources import GitHubActions

    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": "https://runner.example.com/gh?api-version=2.0",
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token-value"}
    with pytest.raises(TransientFailure):
        GitHubActions("https://gw.example.com", env, timeout=5).fetch()
    assert proxy.lines() == ["CONNECT runner.example.com:443 HTTP/1.1"]
