"""Fixtures for the proxy tests: a sandbox with a login, and real `faasauth proxy` processes.

- `sandbox`: a started Sandbox; its variables are in os.environ, and `faasauth auth` (client
  credentials) has stored a login in the test's FAASAUTH_HOME.
- `start_proxy(*args, env=None)`: `python -m faasauth proxy --port 0 ARGS` for OPENFAAS_URL,
  started and serving -> Running (socket, url, pid, proc); stopped at the end of the test.
- `http_over(socket_path)`: an httpx.Client speaking HTTP over a unix socket.
- `slow_gateway(hostile, monkeypatch, length, every)`: the hostile server as OPENFAAS_URL,
  with a function `slow` that answers `length` bytes, one every `every` seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from faasauth.sandbox import Sandbox
from hostile.server import HostileServer, Request
from hostile.server import hostile  # noqa: F401 (the fixture)


@dataclass
class Running:
    socket: str
    url: str | None
    pid: int
    proc: subprocess.Popen[bytes]
    log_path: str

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def log_with(self, text: str, count: int = 1, seconds: float = 5.0) -> str:
        """The log once it holds `text` `count` times (a call's line is written after its
        answer has gone out), or as it is after `seconds`."""
        deadline = time.monotonic() + seconds
        while (log := self.log()).count(text) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return log

    def env(self) -> dict[str, str]:
        return {**os.environ, "FAASAUTH_PROXY": self.socket}

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=40)


def faasauth(*args: str, env: dict[str, str] | None = None, input: bytes = b"",  # noqa: A002
             timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "faasauth", *args], input=input,
                          capture_output=True, env=env or dict(os.environ), timeout=timeout)


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    started = Sandbox(auto_approve=True).start()
    for name, value in started.env().items():
        if name != "FAASAUTH_HOME":  # the test's own, outliving the sandbox
            monkeypatch.setenv(name, value)
    login = faasauth("auth")
    assert login.returncode == 0, login.stderr.decode()
    yield started
    started.stop()


@pytest.fixture
def start_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Running]]:
    running: list[Running] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Running:
        log_path = str(tmp_path_factory.mktemp("proxy-log") / "stderr.txt")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "faasauth", "proxy", "--port", "0", *args],
                stdout=subprocess.PIPE, stderr=log, env=env or dict(os.environ),
            )
        assert proc.stdout is not None
        exports: dict[str, str] = {}
        while "FAASAUTH_PROXY_PID" not in exports:
            line = proc.stdout.readline().decode()
            if not line:
                proc.wait(timeout=10)
                with open(log_path, encoding="utf-8") as handle:
                    raise AssertionError(f"the proxy did not start: {handle.read()}")
            name, _, value = line.strip().removeprefix("export ").partition("=")
            exports[name] = value.strip("'")
        handle = Running(exports["FAASAUTH_PROXY"], exports.get("FAASAUTH_PROXY_URL"),
                         int(exports["FAASAUTH_PROXY_PID"]), proc, log_path)
        running.append(handle)
        return handle

    yield start
    for handle in running:
        handle.stop()


def http_over(socket_path: str, **options: object) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=socket_path),
                        base_url="http://localhost", timeout=10, **options)  # type: ignore[arg-type]


def slow_gateway(hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, length: int,
                 every: float) -> None:
    import time

    monkeypatch.setenv("OPENFAAS_URL", hostile.url)
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "unused.subject.token")

    @hostile.route("/function/slow")
    def slow(request: Request) -> None:
        request.wfile.write(f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n"
                            "Connection: close\r\n\r\n".encode())
        for _ in range(length):
            request.wfile.write(b"x")
            request.wfile.flush()
            time.sleep(every)
