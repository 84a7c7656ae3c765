"""`faasauth sandbox`: running a command against a fresh sandbox, and serving until Ctrl-C."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

import faasauth
from faasauth.cli.commands.sandbox import command
from faasauth.errors import UsageFailure
from faasauth.sandbox import Sandbox

REPO = Path(faasauth.__file__).resolve().parents[1]

CHILD = """
import json, os, sys, urllib.request
seen = {k: v for k, v in os.environ.items() if k.startswith(("FAASAUTH_", "OPENFAAS_"))}
seen["home_exists"] = os.path.isdir(os.environ["FAASAUTH_HOME"])
request = urllib.request.Request(os.environ["OPENFAAS_URL"] + "/function/echo", data=b"hi")
with urllib.request.urlopen(request) as r:
    seen["echo"] = r.read().decode()
open(sys.argv[1], "w").write(json.dumps(seen))
sys.exit(3)
"""


def test_command_gets_the_variables_and_its_status_is_returned(tmp_path: Path) -> None:
    out = tmp_path / "seen.json"
    result = CliRunner().invoke(
        command, ["-q", "--", sys.executable, "-c", CHILD, str(out)], catch_exceptions=False
    )
    assert result.exit_code == 3
    seen = json.loads(out.read_text())
    assert seen["OPENFAAS_URL"].startswith("http://127.0.0.1:")
    assert seen["FAASAUTH_AUTHORITY"].startswith("http://127.0.0.1:")
    assert seen["FAASAUTH_AUTHORITY"] != seen["OPENFAAS_URL"]
    assert seen["FAASAUTH_CLIENT_ID"] == "faasauth-sandbox" and seen["FAASAUTH_CLIENT_SECRET"]
    assert seen["FAASAUTH_TOKEN_STORE"] == "file" and seen["home_exists"] is True
    assert seen["echo"] == "hi"
    assert not Path(seen["FAASAUTH_HOME"]).exists()  # removed afterwards
    assert seen["FAASAUTH_HOME"] != os.environ["FAASAUTH_HOME"]


def test_shell_exit_status() -> None:
    assert CliRunner().invoke(command, ["--", "sh", "-c", "exit 3"]).exit_code == 3
    assert CliRunner().invoke(command, ["sh", "-c", "exit 0"]).exit_code == 0  # `--` is optional
    assert (
        CliRunner().invoke(command, ["--", "sh", "-c", "kill -TERM $$"]).exit_code
        == 128 + signal.SIGTERM
    )


def test_missing_command_is_127() -> None:
    result = CliRunner().invoke(command, ["--", "no-such-command-faasauth"])
    assert result.exit_code == 127
    assert (
        result.stderr.strip().splitlines()[-1]
        == "faasauth sandbox: no-such-command-faasauth: command not found"
    )


@pytest.mark.parametrize("args", [["--"], ["-q", "--port", "0", "--"]])
def test_a_separator_with_no_command_after_it_is_a_usage_error(args: list[str]) -> None:
    # Without the check it serves for ever (as with no `--`): the timeout ends it.
    done = subprocess.run([sys.executable, "-m", "faasauth", "sandbox", *args],
                          capture_output=True, text=True, timeout=15)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines()[0] == (
        "faasauth: -- needs a command after it: the sandbox runs it, then stops (without --, "
        "it serves until Ctrl-C)")


def test_bad_iam_file_is_a_usage_failure(tmp_path: Path) -> None:
    iam = tmp_path / "iam.yaml"
    iam.write_text("apiVersion: iam.openfaas.com/v1\nkind: Role\nmetadata: {name: r}\nspec: {}\n")
    result = CliRunner().invoke(command, ["--iam", str(iam), "--", "true"])
    assert isinstance(result.exception, UsageFailure)
    assert result.exception.exit_code == 2
    assert "spec.policy" in result.exception.message and "\n" not in result.exception.message


def test_port_in_use_is_a_usage_failure() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageFailure, match=f"127.0.0.1:{port}.*address already in use"):
            Sandbox(port=port).start()


def test_fixed_port(make_sandbox: object) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Sandbox(port=port) as sb:
        assert sb.gateway_url == f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_exports_and_stops_cleanly(signum: int) -> None:
    began = time.perf_counter()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from faasauth.cli.commands.sandbox import command; command(prog_name='faasauth sandbox')",
            "--auto-approve",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert server.stdout is not None
        exports = [server.stdout.readline() for _ in range(8)]
        ready = time.perf_counter() - began
        env = {}
        for line in exports:
            name, _, value = line.strip().removeprefix("export ").partition("=")
            env[name] = shlex.split(value)[0]
        assert list(env) == [
            "OPENFAAS_URL",
            "FAASAUTH_AUTHORITY",
            "FAASAUTH_CLIENT_ID",
            "FAASAUTH_CLIENT_SECRET",
            "OPENFAAS_USERNAME",
            "OPENFAAS_PASSWORD",
            "FAASAUTH_HOME",  # a throw-away one: `eval` of these never writes the user's store
            "FAASAUTH_TOKEN_STORE",
        ]
        assert env["FAASAUTH_TOKEN_STORE"] == "file"
        assert os.path.isdir(env["FAASAUTH_HOME"])
        assert env["FAASAUTH_HOME"] != os.environ["FAASAUTH_HOME"]
        with urllib.request.urlopen(env["OPENFAAS_URL"] + "/healthz") as answer:
            assert answer.read() == b"OK"
        server.send_signal(signum)
        _, err = server.communicate(timeout=10)
    finally:
        server.kill()
    # Ctrl-C is 130, as the README's exit table says (issue 22, item 19); SIGTERM a clean 0
    assert server.returncode == (130 if signum == signal.SIGINT else 0)
    assert not os.path.exists(env["FAASAUTH_HOME"])  # removed when it stopped
    assert "Traceback" not in err and "faasauth sandbox: stopped" in err
    assert "GET /healthz 200 token=none" in err
    print(f"\nfaasauth sandbox (new interpreter) printed its exports after {ready * 1000:.0f} ms")


def test_start_time_is_measured(capsys: pytest.CaptureFixture[str]) -> None:
    began = time.perf_counter()
    with Sandbox() as sb:
        elapsed = (time.perf_counter() - began) * 1000
        assert sb.started_in_ms is not None
    with capsys.disabled():
        print(
            f"\nSandbox().start(): {elapsed:.1f} ms "
            "(keys, two listeners, threads; imports already done)"
        )
