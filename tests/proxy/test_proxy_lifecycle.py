"""A proxy's life: --background returns once it serves, --stop, a live socket refused and a
stale one replaced, --idle-exit, SIGTERM draining a call in flight, a private socket that
another user cannot use, and `faasauth status` showing it."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from typing import Callable

import httpx
import pytest

from faasauth.sandbox import Sandbox
from hostile.server import HostileServer

from .conftest import Running, faasauth, http_over, slow_gateway


def _exports(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        found[name] = value.strip("'")
    return found


def _gone(pid: int, seconds: float = 10) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # our own child (a test's Popen): reap it
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.05)
    return False


def test_background_serves_once_it_returns_and_stop_ends_it(sandbox: Sandbox) -> None:
    started = faasauth("proxy", "--background")
    assert started.returncode == 0, started.stderr.decode()
    found = _exports(started.stdout.decode())
    assert set(found) == {"FAASAUTH_PROXY", "FAASAUTH_PROXY_URL", "FAASAUTH_PROXY_PID"}
    assert b"in the background as process" in started.stderr
    # serving already: no wait, no retry
    answer = httpx.post(f"{found['FAASAUTH_PROXY_URL']}/function/echo-auth", content=b"hi")
    assert (answer.status_code, answer.content) == (200, b"hi")
    status = faasauth("status", env={**os.environ, **found})
    assert f"proxy: serving on {found['FAASAUTH_PROXY_URL']}".encode() in status.stdout
    stopped = faasauth("proxy", "--stop")
    assert stopped.returncode == 0 and b"stopped the proxy" in stopped.stderr
    assert not os.path.exists(found["FAASAUTH_PROXY"])
    assert not os.path.exists(found["FAASAUTH_PROXY"] + ".cmd")
    assert _gone(int(found["FAASAUTH_PROXY_PID"]))
    again = faasauth("proxy", "--stop")
    assert again.returncode == 0 and b"no proxy is running" in again.stderr


def test_a_second_proxy_for_a_gateway_is_refused_while_one_serves(
    sandbox: Sandbox, start_proxy: Callable[..., Running]
) -> None:
    proxy = start_proxy()
    second = faasauth("proxy", "--port", "0", timeout=15)
    assert second.returncode == 2
    assert f"already running at {proxy.socket} (process {proxy.pid})".encode() in second.stderr
    assert b"faasauth proxy --stop" in second.stderr
    assert proxy.proc.poll() is None


def test_the_stale_socket_of_a_killed_proxy_is_replaced(
    sandbox: Sandbox, start_proxy: Callable[..., Running]
) -> None:
    first = start_proxy()
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    assert os.path.exists(first.socket)  # left behind
    second = start_proxy()
    assert second.socket == first.socket
    answer = httpx.post(f"{second.url}/function/echo-auth", content=b"again")
    assert answer.content == b"again"


def test_idle_exit_ends_a_proxy_without_calls(
    sandbox: Sandbox, start_proxy: Callable[..., Running]
) -> None:
    proxy = start_proxy("--idle-exit", "1s")
    started = time.monotonic()
    assert proxy.proc.wait(timeout=10) == 0
    assert 0.9 <= time.monotonic() - started < 6
    assert "idle for 1s: exiting" in proxy.log()
    assert not os.path.exists(proxy.socket)


def test_sigterm_lets_the_call_in_flight_finish(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, start_proxy: Callable[..., Running]
) -> None:
    slow_gateway(hostile, monkeypatch, 10, 0.15)

    proxy = start_proxy()
    got: dict[str, httpx.Response] = {}
    call = threading.Thread(target=lambda: got.setdefault(
        "answer", httpx.get(f"{proxy.url}/function/slow", timeout=20)))
    call.start()
    time.sleep(0.5)
    proxy.proc.send_signal(signal.SIGTERM)
    call.join(20)
    assert got["answer"].status_code == 200 and got["answer"].content == b"x" * 10
    assert proxy.proc.wait(timeout=20) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{proxy.url}/function/slow", timeout=2)


def test_the_socket_and_its_directory_are_private(
    sandbox: Sandbox, start_proxy: Callable[..., Running]
) -> None:
    proxy = start_proxy()
    for path, mode in ((proxy.socket, 0o600), (proxy.socket + ".cmd", 0o600),
                       (os.path.dirname(proxy.socket), 0o700)):
        assert stat.S_IMODE(os.stat(path).st_mode) == mode, path


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_another_user_on_the_socket_is_refused(
    sandbox: Sandbox, start_proxy: Callable[..., Running]
) -> None:
    import tempfile

    where = tempfile.mkdtemp(prefix="faasauth-proxy-test-", dir="/tmp")
    proxy = start_proxy("--socket", os.path.join(where, "p.sock"))
    # Open the way for the test only: the peer's credentials must refuse it anyway.
    os.chmod(where, 0o755)
    os.chmod(proxy.socket, 0o666)
    os.chmod(proxy.socket + ".cmd", 0o666)
    script = (
        "import os, socket, sys\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
        "s.sendall(b'GET /function/echo-auth HTTP/1.1\\r\\nHost: localhost\\r\\n"
        "Connection: close\\r\\n\\r\\n')\n"
        "print(s.makefile('rb').read().decode())\n"
        "c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1] + '.cmd')\n"
        "print(c.recv(200))\n"
    )
    result = subprocess.run([sys.executable, "-c", script, proxy.socket], capture_output=True,
                            timeout=20)
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert out.startswith("HTTP/1.0 403") or out.startswith("HTTP/1.1 403"), out
    assert "serves its own user only" in out
    assert "no" in out.splitlines()[-1] and "own user only" in out.splitlines()[-1]
    assert sandbox.count("/function/") == 0


def _as_nobody(port: int) -> str:
    """A GET through the proxy's TCP port from uid 65534: the answer, head and body."""
    script = (
        "import os, socket, sys\n"
        "os.setgid(65534); os.setuid(65534)\n"  # the stdlib under /root is out of reach now
        "s = socket.socket(); s.connect(('127.0.0.1', int(sys.argv[1])))\n"
        "s.sendall(b'GET /function/echo-auth HTTP/1.1\\r\\nHost: 127.0.0.1:' + sys.argv[1].encode()"
        " + b'\\r\\nConnection: close\\r\\n\\r\\n')\n"
        "print(s.makefile('rb').read().decode())\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(port)], capture_output=True,
                            timeout=20)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
@pytest.mark.parametrize("allow", ["65534", "any"])
def test_allow_uid_serves_that_user_over_tcp(
    sandbox: Sandbox, start_proxy: Callable[..., Running], allow: str
) -> None:
    proxy = start_proxy("--allow-uid", allow)
    assert proxy.url is not None
    out = _as_nobody(int(proxy.url.rsplit(":", 1)[1]))
    assert out.startswith("HTTP/1.1 200"), out
    assert sandbox.count("/function/") >= 1


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_another_user_on_the_tcp_port_is_refused(
    sandbox: Sandbox, start_proxy: Callable[..., Running]
) -> None:
    """127.0.0.1 is every local user's: the owner of the caller's end of the connection
    (/proc/net/tcp) must be the proxy's user, or nothing is sent on."""
    proxy = start_proxy("--allow-uid", "4242")  # another user allowed: not this one
    assert proxy.url is not None
    out = _as_nobody(int(proxy.url.rsplit(":", 1)[1]))
    assert out.startswith("HTTP/1.1 403"), out
    assert "serves its own user only (the caller is uid 65534; start it with " \
           "--allow-uid 65534" in out
    assert sandbox.count("/function/") == 0
    # the proxy's own user still gets through, on the same port
    own = httpx.get(f"{proxy.url}/function/echo-auth", timeout=10)
    assert own.status_code == 200, own.text
    assert sandbox.count("/function/") >= 1


def test_the_tcp_peer_is_found_in_the_connection_table(tmp_path: os.PathLike[str]) -> None:
    from faasauth.proxy.guard import tcp_peer_uid

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as caller:
            accepted, _ = listener.accept()
            with accepted:
                if os.path.exists("/proc/net/tcp"):
                    assert tcp_peer_uid(accepted) == os.geteuid()
                    empty = os.path.join(tmp_path, "tcp")
                    with open(empty, "w") as table:
                        table.write("  sl  local_address rem_address   st tx_queue rx_queue tr "
                                    "tm->when retrnsmt   uid  timeout inode\n")
                    assert tcp_peer_uid(accepted, empty) == -1  # not there: refused
                assert tcp_peer_uid(accepted, os.path.join(tmp_path, "none")) is None
            del caller


def test_a_port_in_use_is_a_clear_error(sandbox: Sandbox) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = faasauth("proxy", "--port", str(port), timeout=15)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}".encode() in result.stderr
    assert b"Traceback" not in result.stderr


@pytest.mark.parametrize("args, says", [
    (["--port", "8080"], b"usual gateway port-forward"),
    (["--port", "http"], b"is not a port"),
    (["--idle-exit", "soon"], b"is not a duration"),
])
def test_bad_options_are_usage_errors(sandbox: Sandbox, args: list[str], says: bytes) -> None:
    result = faasauth("proxy", *args, timeout=15)
    assert result.returncode == 2 and says in result.stderr


def test_the_unix_socket_alone_with_port_none(
    sandbox: Sandbox, start_proxy: Callable[..., Running]
) -> None:
    proxy = start_proxy("--port", "none")
    assert proxy.url is None
    with http_over(proxy.socket) as unix:
        assert unix.post("/function/echo-auth", content=b"u").content == b"u"
