"""Issue 21, finding 19: what `--timeout` bounds. It is per network step (connecting, each
read of the answer), as curl's `--speed-time`, not the whole call as curl's `--max-time` or
faas-cli's 60 s (Go's `Client.Timeout`): a function that keeps sending is read to its end,
one that falls silent longer than `--timeout` is a timeout (exit 3). The help, the README
and `faasauth.invoke`'s docstring say so."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import faasauth
from hostile.server import HostileServer, Request, drip

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"


def invoke(hostile: HostileServer, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "faasauth", "invoke", "drip", "-g", hostile.url, *args],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        env={**os.environ, "NO_PROXY": "*"},
    )
    return result, time.monotonic() - started


def test_a_function_that_keeps_sending_is_read_past_the_timeout(
    hostile: HostileServer,
) -> None:
    hostile.route("/function/drip")(lambda r: drip(r, HEAD, b".", every=0.25, seconds=2.5))
    result, took = invoke(hostile, "--timeout", "1")
    assert result.returncode == 0, result.stderr
    assert took > 2.0  # longer than --timeout: each read was within it
    assert len(result.stdout) >= 8 and set(result.stdout) == {"."}


def test_a_function_silent_longer_than_the_timeout_is_a_timeout(
    hostile: HostileServer,
) -> None:
    def pause(request: Request) -> None:
        request.wfile.write(HEAD + b"first part\n")
        request.wfile.flush()
        time.sleep(3)
        request.wfile.write(b"too late\n")

    hostile.route("/function/drip")(pause)
    result, took = invoke(hostile, "--timeout", "1")
    assert result.returncode == 3, result.stderr
    assert took < 2.8
    assert "timed out" in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == "first part\n"


@pytest.mark.parametrize("where", ["help", "library"])
def test_it_is_documented_as_per_step(where: str) -> None:
    if where == "help":
        text = subprocess.run([sys.executable, "-m", "faasauth", "invoke", "--help"],
                              capture_output=True, text=True, timeout=30).stdout
    else:
        text = faasauth.invoke.__doc__ or ""
    text = " ".join(text.split())
    assert "each read of" in text
    assert "not for the whole call" in text or "not the whole call" in text
