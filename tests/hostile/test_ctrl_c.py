"""Ctrl-C while a person's login waits (issue 22, item 19): one line saying the login was
cancelled, exit 130, no blank lines, no traceback, nothing stored. A real process, a real
SIGINT, an identity provider on 127.0.0.1 that never approves."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hostile.server import HostileServer, Request


def pending_idp(hostile: HostileServer) -> None:
    hostile.discovery(authorization_endpoint=f"{hostile.url}/authorize")

    @hostile.route("/device")
    def device(request: Request) -> None:
        request.json(200, {"device_code": "dc-secret", "user_code": "ABCD-EFGH",
                           "verification_uri": f"{hostile.url}/verify", "interval": 1})

    @hostile.route("/token")
    def token(request: Request) -> None:
        request.json(400, {"error": "authorization_pending"})


def interrupted(hostile: HostileServer, waiting_for: str, *args: str) -> tuple[int, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "faasauth", "auth", "--authority", hostile.url,
         "--client-id", "cid", "--no-browser", *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if waiting_for in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(30), "".join(lines)
        process.send_signal(signal.SIGINT)
        process.wait(15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(5)
    return process.returncode, "".join(lines)


@pytest.mark.parametrize(("grant", "waiting_for"), [
    ("device", "Waiting for approval"),
    ("code", "Waiting for the login to come back"),
])
def test_ctrl_c_during_a_login_says_so_in_one_line(
    hostile: HostileServer, isolated_environment: Path, grant: str, waiting_for: str
) -> None:
    pending_idp(hostile)
    extra = ("--redirect-port", "0") if grant == "code" else ()
    status, err = interrupted(hostile, waiting_for, "--grant", grant, *extra)
    assert status == 130, err
    after = err.split(waiting_for, 1)[1].split("\n", 1)[1]
    assert after == "faasauth: login cancelled; nothing was stored\n"
    assert "\n\n" not in err and "Traceback" not in err
    assert not list((isolated_environment / "tokens").glob("*.json"))
