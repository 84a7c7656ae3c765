"""`faasauth invoke` handed to a running proxy (proxy/thin.py, proxy/handoff.py): the same
bytes on stdout, the same stderr and exit codes as the direct path; its gateway requests
over the proxy's kept connections; the thin client's imports; Ctrl-C; a terminal; and the
fallbacks (no proxy answering, another version) that never break a call."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from faasauth.sandbox import Sandbox
from hostile.server import HostileServer

from .conftest import Running, slow_gateway

FAASAUTH = str(Path(sys.executable).parent / "faasauth")


def invoke(*args: str, env: dict[str, str], input: bytes = b"",  # noqa: A002
           timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    """The console script, as a user runs it (the thin client lives there)."""
    return subprocess.run([FAASAUTH, "invoke", *args], input=input, capture_output=True,
                          env=env, timeout=timeout)


CASES = [
    (["echo-auth"], b"hello\n"),
    (["echo", "-m", "PUT", "--query", "a=1"], b"put body"),
    (["nope"], b""),  # the gateway's 404: exit 1 and a message
    (["echo-auth", "-n", "other"], b""),
    ([], b""),  # usage: missing NAME
    (["echo", "-m", "FETCH"], b""),
    (["echo", "-H", "bad header"], b""),
    (["echo-auth", "--timeout", "0"], b""),
    (["echo", "--sign", "X-Sig", "--key=not-in-the-log"], b"signed"),
]


@pytest.mark.parametrize("args, body", CASES)
def test_through_the_proxy_the_same_bytes_messages_and_exit_codes(
    sandbox: Sandbox, start_proxy: Callable[..., Running], args: list[str], body: bytes
) -> None:
    proxy = start_proxy()
    direct_env = dict(os.environ)
    invoke("echo-auth", env=direct_env, input=b"warm")  # the function is remembered
    direct = invoke(*args, env=direct_env, input=body)
    handed = invoke(*args, env=proxy.env(), input=body)
    assert (handed.returncode, handed.stdout, handed.stderr) == (
        direct.returncode, direct.stdout, direct.stderr)
    if args and direct.returncode == 0:
        assert handed.stdout == body
    assert "not-in-the-log" not in proxy.log()
    ran = f"faasauth proxy: ran invoke{' ' + args[0] if args else ''} (exit {direct.returncode})"
    assert ran in proxy.log_with(ran)  # it was handed over


def test_a_warm_call_is_one_request_on_a_kept_connection(
    sandbox: Sandbox, start_proxy: Callable[..., Running]
) -> None:
    proxy = start_proxy()
    env = proxy.env()
    sandbox.clear_requests()
    assert invoke("echo-auth", env=env, input=b"1").returncode == 0  # probe, exchange, call
    first = [r for r in sandbox.requests if r.origin == "gateway"]
    assert [r.path for r in first] == ["/function/echo-auth", "/oauth/token",
                                       "/function/echo-auth"]
    assert len({r.connection for r in first}) == 1
    sandbox.clear_requests()
    for n in range(3):
        result = invoke("echo-auth", env=env, input=b"%d" % n)
        assert (result.returncode, result.stdout) == (0, b"%d" % n)
    warm = [r for r in sandbox.requests if r.origin == "gateway"]
    assert [(r.path, r.token) for r in warm] == [("/function/echo-auth", "function")] * 3
    assert {r.connection for r in warm} == {first[0].connection}  # no new connection


def test_the_thin_client_imports_neither_click_nor_httpx_nor_ssl(
    sandbox: Sandbox, start_proxy: Callable[..., Running], tmp_path: Path
) -> None:
    proxy = start_proxy()
    out = tmp_path / "modules.txt"
    script = (  # the thin client ends by exit_now (no atexit): the modules listed there
        "import sys\n"
        "import faasauth.proxy.thin as thin\n"
        "def exit_now(code):\n"
        f"    open({str(out)!r}, 'w').write(' '.join(sorted(sys.modules)))\n"
        "    thin.os._exit(code)\n"
        "thin.exit_now = exit_now\n"
        "sys.argv = ['faasauth', 'invoke', 'echo-auth']\n"
        "from faasauth.cli import main\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], input=b"hi", capture_output=True,
                            env=proxy.env(), timeout=30)
    assert (result.returncode, result.stdout) == (0, b"hi"), result.stderr
    modules = set(out.read_text().split())
    assert not modules & {"click", "httpx", "ssl", "_ssl", "yaml", "rich", "typing"}
    assert "faasauth.proxy.thin" in modules


def test_a_stale_variable_falls_back_to_the_direct_path_with_one_line(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    env = {**os.environ, "FAASAUTH_PROXY": str(tmp_path / "gone.sock")}
    result = invoke("echo-auth", env=env, input=b"still works")
    assert (result.returncode, result.stdout) == (0, b"still works")
    lines = result.stderr.decode().splitlines()
    assert lines == [f"faasauth: no faasauth proxy answers at {tmp_path / 'gone.sock'} "
                     "(FAASAUTH_PROXY); invoking directly"]


def test_a_proxy_of_another_version_falls_back(sandbox: Sandbox, tmp_path: Path) -> None:
    from faasauth.proxy.thin import send_message

    path = str(tmp_path / "old.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path + ".cmd")
    listener.listen()

    def old_proxy() -> None:
        conn, _ = listener.accept()
        conn.recv(1 << 16)
        send_message(conn, [b"no", b"it runs faasauth 0.0.1"])
        conn.close()

    threading.Thread(target=old_proxy, daemon=True).start()
    result = invoke("echo-auth", env={**os.environ, "FAASAUTH_PROXY": path}, input=b"v")
    listener.close()
    assert (result.returncode, result.stdout) == (0, b"v")
    assert result.stderr.decode().splitlines() == [
        f"faasauth: the faasauth proxy at {path} cannot run this (it runs faasauth 0.0.1); "
        "invoking directly"]


def test_a_proxy_for_another_gateway_still_calls_the_right_one(
    sandbox: Sandbox, start_proxy: Callable[..., Running], hostile: HostileServer
) -> None:
    proxy = start_proxy("-g", hostile.url)  # serves another gateway
    result = invoke("echo-auth", env=proxy.env(), input=b"right one")
    assert (result.returncode, result.stdout) == (0, b"right one")
    assert hostile.seen == []


def test_ctrl_c_reaches_the_command(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, start_proxy: Callable[..., Running]
) -> None:
    slow_gateway(hostile, monkeypatch, 100, 0.1)

    proxy = start_proxy()
    call = subprocess.Popen([FAASAUTH, "invoke", "slow"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=proxy.env())
    time.sleep(1.0)
    started = time.monotonic()
    call.send_signal(signal.SIGINT)
    out, err = call.communicate(timeout=10)
    assert call.returncode == 130, err
    assert time.monotonic() - started < 3
    assert b"Traceback" not in err
    assert proxy.proc.poll() is None  # the proxy itself goes on


def test_a_terminal_is_still_a_terminal(sandbox: Sandbox, start_proxy: Callable[..., Running]) -> None:
    import pty

    proxy = start_proxy()
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdin, stdout and stderr are the terminal
        os.execve(FAASAUTH, [FAASAUTH, "invoke", "echo-auth"], proxy.env())
    seen = b""
    deadline = time.monotonic() + 20
    while b"Control + D" not in seen and time.monotonic() < deadline:
        seen += os.read(fd, 1024)
    os.write(fd, b"typed\n\x04")
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"Reading from STDIN - hit (Control + D) to stop." in seen
    assert seen.count(b"typed") >= 2  # echoed by the terminal, then the function's answer
    assert "token=relay" in proxy.log_with("token=relay")


def test_stdin_streams_a_large_body(sandbox: Sandbox, start_proxy: Callable[..., Running]) -> None:
    proxy = start_proxy()
    body = os.urandom(3 * 1024 * 1024)
    result = invoke("echo-auth", env=proxy.env(), input=body, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == body


def test_the_command_socket_runs_invoke_and_nothing_else(
    sandbox: Sandbox, start_proxy: Callable[..., Running], tmp_path: Path
) -> None:
    from faasauth import __version__
    from faasauth.proxy.thin import pack, read_message

    proxy = start_proxy()
    marker = tmp_path / "ran"
    fields = [b"faasauth-handoff-1", __version__.encode(), str(tmp_path).encode(), b"18",
              b"2", b"sandbox", b"--", *[]]
    body = pack(fields + [b"PATH=" + os.environ["PATH"].encode()])
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(proxy.socket + ".cmd")
    conn.sendmsg([len(body).to_bytes(4, "big"), body],
                 [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                   b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2)))])
    reply = read_message(conn)
    conn.close()
    assert reply == [b"no", b"it runs only faasauth invoke"]
    assert not marker.exists()
