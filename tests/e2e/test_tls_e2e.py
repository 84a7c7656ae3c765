"""HTTPS end to end: the sandbox with --tls, faasauth as a real process, and how it trusts.

Structural facts, not timings (those are benchmarks/bench_tls.py): connections and
requests per call in the sandbox's request log, and which trust set-up verifies what.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from collections.abc import Iterator

import pytest

from faasauth.trust import hashed_ca_directory
from faasauth.sandbox import Sandbox
from faasauth.sandbox.tls import ThrowawayTLS


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(tls=True) as sb:
        yield sb


def run(
    *args: str, env: dict[str, str], input: bytes = b"hi"  # noqa: A002
) -> subprocess.CompletedProcess[bytes]:
    full = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    return subprocess.run([sys.executable, "-m", "faasauth", *args], input=input,
                          capture_output=True, env={**full, **env}, timeout=60)


def gateway_calls(sandbox: Sandbox) -> list[tuple[int, str, int]]:
    return [(r.connection, r.path, r.status) for r in sandbox.requests if r.origin == "gateway"]


def test_sandbox_serves_https_with_its_own_ca(sandbox: Sandbox) -> None:
    assert sandbox.gateway_url.startswith("https://127.0.0.1:")
    assert sandbox.authority.startswith("https://127.0.0.1:")
    ca_file = sandbox.env()["SSL_CERT_FILE"]
    assert ca_file == sandbox.ca_file and Path(ca_file).read_bytes().startswith(b"-----BEGIN")
    key_file = Path(ca_file).parent / "server-key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_tls_material_is_gone_after_stop() -> None:
    with Sandbox(tls=True) as sb:
        directory = Path(sb.ca_file or "").parent
        assert directory.is_dir()
    assert not directory.exists()


def test_first_call_is_one_connection_and_warm_call_one_request(sandbox: Sandbox) -> None:
    env = sandbox.env()
    assert run("auth", env=env).returncode == 0
    sandbox.clear_requests()

    first = run("invoke", "echo-auth", env=env, input=b"first")
    assert first.returncode == 0, first.stderr
    assert first.stdout == b"first"
    calls = gateway_calls(sandbox)
    assert [(path, status) for _, path, status in calls] == [
        ("/function/echo-auth", 401), ("/oauth/token", 200), ("/function/echo-auth", 200)
    ]
    assert len({connection for connection, _, _ in calls}) == 1  # probe, exchange, retry
    sandbox.clear_requests()

    warm = run("invoke", "echo-auth", env=env, input=b"warm")
    assert warm.returncode == 0 and warm.stdout == b"warm"
    (connection, path, status), = gateway_calls(sandbox)
    assert (path, status) == ("/function/echo-auth", 200)
    assert connection != calls[0][0]  # a new process, a new connection: counted apart


def _hashed(ca_file: str, directory: Path) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command names the hash link (not installed)")
    digest = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", ca_file],
                            capture_output=True, text=True, check=True).stdout.strip()
    directory.mkdir()
    shutil.copy(ca_file, directory / f"{digest}.0")
    return directory


def test_hashed_ca_directory_is_trusted(sandbox: Sandbox, tmp_path: Path) -> None:
    directory = _hashed(sandbox.ca_file or "", tmp_path / "certs")
    env = {**sandbox.env(), "SSL_CERT_DIR": f"{tmp_path / 'missing'}:{directory}"}
    del env["SSL_CERT_FILE"]
    result = run("invoke", "echo", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"hi"


def test_without_the_ca_verification_fails_and_no_verify_skips_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**sandbox.env(), "SSL_CERT_DIR": str(empty)}  # no hash links: certifi's bundle
    del env["SSL_CERT_FILE"]
    refused = run("invoke", "echo", env=env)
    assert refused.returncode == 3
    assert refused.stderr.decode().splitlines() == [
        f"faasauth: invoke openfaas-fn:echo ({sandbox.gateway_url}): TLS certificate "
        "verification failed",
        "hint: pass --cacert FILE for a private CA, or --tls-no-verify to skip the check",
    ]
    skipped = run("invoke", "echo", "--tls-no-verify", env=env)
    assert skipped.returncode == 0 and skipped.stdout == b"hi"
    given = run("invoke", "echo", "--cacert", sandbox.ca_file or "", env=env)
    assert given.returncode == 0 and given.stdout == b"hi"


def test_hashed_ca_directory_needs_hash_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "ca.pem").write_text("not looked at")
    hashed = tmp_path / "hashed"
    hashed.mkdir()
    (hashed / "5ad8a5d6.0").write_text("")
    monkeypatch.setenv("SSL_CERT_DIR", str(plain))
    assert hashed_ca_directory() is None
    monkeypatch.setenv("SSL_CERT_DIR", f"{plain}:{hashed}")
    assert hashed_ca_directory() == f"{plain}:{hashed}"  # OpenSSL searches the whole list


class ConnectProxy:
    """An HTTP CONNECT proxy on loopback that counts the tunnels it opened; `hosts` names
    resolved by the proxy alone (as a corporate proxy resolves names the client cannot)."""

    def __init__(self, hosts: dict[str, str] | None = None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.tunnels: list[str] = []
        self.hosts = hosts or {}
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            data = client.recv(4096)
            if not data:
                return
            head += data
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        assert method == "CONNECT", method
        self.tunnels.append(target)
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((self.hosts.get(host, host), int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        pump(client, upstream)

    def close(self) -> None:
        self.listener.close()


def test_a_loopback_gateway_is_reached_directly_with_a_proxy_set(sandbox: Sandbox) -> None:
    """Loopback never goes through a proxy (issue 21, 5), as Go's clients (faas-cli) do."""
    proxy = ConnectProxy()
    try:
        env = {**sandbox.env(), "HTTPS_PROXY": proxy.url, "NO_PROXY": ""}
        result = run("invoke", "echo", env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"hi"
        assert proxy.tunnels == []
    finally:
        proxy.close()


def test_through_a_proxy_the_same_trust_applies(tmp_path: Path) -> None:
    """A gateway only the proxy can resolve, over https through its CONNECT tunnel: trusted
    by the same rule (the hashed CA directory), refused without it."""
    import json
    import ssl
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    name = "gateway.faasauth.test"
    tls = ThrowawayTLS(hosts=[name])  # as the sandbox's: Python 3.13's strict checks pass
    ca_file, cert_file, key_file = tls.ca_file, tls.cert_file, tls.key_file

    class Exchange(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self.rfile.read(int(self.headers.get("content-length") or 0))
            body = json.dumps({"access_token": "function-token", "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Exchange)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    proxy = ConnectProxy({name: "127.0.0.1"})
    try:
        env = {"SSL_CERT_DIR": str(_hashed(str(ca_file), tmp_path / "certs")),
               "HTTPS_PROXY": proxy.url, "NO_PROXY": "", "FAASAUTH_HOME": str(tmp_path / "h"),
               "FAASAUTH_SUBJECT_TOKEN": "subject-token-value"}
        exchange = ("exchange", "-g", f"https://{name}:{port}", "-o", "token")
        result = run(*exchange, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"function-token\n"
        assert proxy.tunnels == [f"{name}:{port}"]
        refused = run(*exchange, env={**env, "SSL_CERT_DIR": str(tmp_path),
                                      "FAASAUTH_HOME": str(tmp_path / "h2")})  # not cached
        assert refused.returncode == 3  # through the proxy too: verified, and refused
        assert b"certificate verification failed" in refused.stderr
    finally:
        proxy.close()
        server.shutdown()
        server.server_close()
        tls.remove()


def test_sandbox_command_with_tls_gives_the_ca_to_its_command(tmp_path: Path) -> None:
    script = ('test -s "$SSL_CERT_FILE" && echo "$OPENFAAS_URL" && '
              f'{sys.executable} -m faasauth auth >/dev/null && '
              f'echo hello | {sys.executable} -m faasauth invoke echo-auth')
    result = subprocess.run(
        [sys.executable, "-m", "faasauth", "sandbox", "--tls", "-q", "--", "sh", "-c", script],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    url, answer = result.stdout.splitlines()
    assert url.startswith("https://127.0.0.1:") and answer == "hello"


def _client_env(sandbox: Sandbox, only: str) -> dict[str, str]:
    """The environment with `only` of the sandbox's CA variables: none of the others."""
    from faasauth.sandbox.core import CA_VARIABLES

    full = {k: v for k, v in os.environ.items() if k not in (*CA_VARIABLES, "SSL_CERT_DIR")}
    return {**full, only: sandbox.env()[only]}


def test_tls_exports_the_ca_for_every_client(sandbox: Sandbox) -> None:
    env = sandbox.env()
    ca = sandbox.ca_file
    assert [env.get(name) for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                                       "NODE_EXTRA_CA_CERTS")] == [ca] * 4


CLIENTS = {
    # variable: (program, a command printing the answer of URL)
    "REQUESTS_CA_BUNDLE": ("python", [sys.executable, "-c",
                                      "import requests, sys; "
                                      "print(requests.post(sys.argv[1], data=b'hi').text)"]),
    "CURL_CA_BUNDLE": ("curl", ["curl", "-sS", "--fail", "--data-binary", "hi"]),
    "NODE_EXTRA_CA_CERTS": ("node", ["node", "-e",
                                     "const r = require('https').request(process.argv[1], "
                                     "{method: 'POST'}, (a) => a.pipe(process.stdout)); "
                                     "r.on('error', (e) => { console.error(e.code); "
                                     "process.exit(1) }); r.end('hi')"]),
}


@pytest.mark.parametrize("variable", sorted(CLIENTS))
def test_each_client_trusts_the_sandbox_through_its_own_variable(
    sandbox: Sandbox, variable: str
) -> None:
    program, command = CLIENTS[variable]
    if program != "python" and shutil.which(program) is None:
        pytest.skip(f"{program} is not installed")
    if program == "python":
        pytest.importorskip("requests")
    url = f"{sandbox.gateway_url}/function/echo"
    trusted = subprocess.run([*command, url], capture_output=True, text=True, timeout=30,
                             env=_client_env(sandbox, variable))
    assert trusted.returncode == 0, trusted.stderr
    assert trusted.stdout.strip() == "hi"
    # and without it the same client refuses the sandbox's certificate
    bare = {k: v for k, v in _client_env(sandbox, variable).items() if k != variable}
    refused = subprocess.run([*command, url], capture_output=True, text=True, timeout=30,
                             env=bare)
    assert refused.returncode != 0


SDK_CLIENT = r"""
# The OpenFaaS Python SDK's requests, as its source makes them (it is not on the registry):
# TokenAuth exchanges the IdP token for an API token, then that for a function token; its
# Client lists functions with the API token. All through requests, which reads
# REQUESTS_CA_BUNDLE for the sandbox's CA.
import os, requests
gateway, authority = os.environ["OPENFAAS_URL"], os.environ["FAASAUTH_AUTHORITY"]
grant = "urn:ietf:params:oauth:grant-type:token-exchange"
idp = requests.post(f"{authority}/token", data={"grant_type": "client_credentials"},
                    auth=(os.environ["FAASAUTH_CLIENT_ID"], os.environ["FAASAUTH_CLIENT_SECRET"]))
idp.raise_for_status()
def exchange(subject, **extra):
    answer = requests.post(f"{gateway}/oauth/token", data={
        "grant_type": grant, "subject_token": subject,
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token", **extra})
    answer.raise_for_status()
    return answer.json()["access_token"]
api = exchange(idp.json()["access_token"])
listed = requests.get(f"{gateway}/system/functions", headers={"Authorization": f"Bearer {api}"})
described = requests.get(f"{gateway}/system/function/echo-auth",
                         headers={"Authorization": f"Bearer {api}"})
function = exchange(api, scope="function", audience="openfaas-fn:echo-auth")
answer = requests.post(f"{gateway}/function/echo-auth", data=b"hello",
                       headers={"Authorization": f"Bearer {function}"})
print(len(listed.json()), described.json()["name"], answer.status_code, answer.text)
"""


def test_the_python_sdk_requests_over_tls(sandbox: Sandbox) -> None:
    pytest.importorskip("requests")
    from faasauth.sandbox.core import CA_VARIABLES

    env = {k: v for k, v in os.environ.items() if k not in (*CA_VARIABLES, "SSL_CERT_DIR")}
    env.update({k: v for k, v in sandbox.env().items() if k not in CA_VARIABLES})
    env["REQUESTS_CA_BUNDLE"] = sandbox.env()["REQUESTS_CA_BUNDLE"]
    result = subprocess.run([sys.executable, "-c", SDK_CLIENT], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["4", "echo-auth", "200", "hello"]
    assert sandbox.count("/oauth/token", status=200) == 2  # the SDK's two exchanges
