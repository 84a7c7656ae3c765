"""`python -m faasauth invoke` as real processes: start-up, pipes, memory, parallel calls."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from faasauth.store.remembered import STATE_FILE
from faasauth.store.backends import FileStore
from faasauth.store.home import Home

from .fake_gateway import FakeGateway
from .processes import faasauth_process, stream_through

HEAVY = ("keyring", "jwt", "rich", "yaml", "cryptography", "pygments", "platformdirs")
WATCH_MODULES = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('MODULES ' + ','.join(sorted(\n"
    f"    m for m in {HEAVY!r} if m in sys.modules)) + '\\n'))\n"
    "from faasauth.cli.app import main\n"
    "main(sys.argv[1:])\n"
)


def _modules_after(args: list[str], input: bytes = b"") -> tuple[int, bytes, list[str]]:  # noqa: A002
    proc = subprocess.run(
        [sys.executable, "-c", WATCH_MODULES, "invoke", *args],
        input=input, capture_output=True, env=dict(os.environ), timeout=60,
    )
    err = proc.stderr.decode()
    line = next(line for line in err.splitlines() if line.startswith("MODULES "))
    return proc.returncode, proc.stdout, [m for m in line[len("MODULES "):].split(",") if m]


def test_first_and_warm_calls_as_processes(gateway: FakeGateway, run_process) -> None:
    gateway.add("env")
    first = run_process("env", input=b"\x00hello\xff")
    assert (first.code, first.out, first.err) == (0, b"\x00hello\xff", "")
    assert len(gateway.requests) == 3
    gateway.reset()
    warm = run_process("env", input=b"again")
    assert (warm.code, warm.out, warm.err) == (0, b"again", "")
    assert gateway.summary() == ["POST /function/env 200 +token"]


def test_warm_path_imports_nothing_heavy(gateway: FakeGateway) -> None:
    gateway.add("env")
    assert _modules_after(["env"], b"x")[0] == 0
    gateway.reset()
    code, out, heavy = _modules_after(["env"], b"warm")
    assert (code, out) == (0, b"warm")
    assert heavy == []
    assert len(gateway.requests) == 1


def test_yaml_only_when_a_stack_file_exists(gateway: FakeGateway) -> None:
    gateway.add("env", namespace="dev")
    Path("stack.yml").write_text("functions:\n  env:\n    namespace: dev\n")
    code, _, heavy = _modules_after(["env"])
    assert code == 0
    assert heavy == ["yaml"]
    assert gateway.calls()[0].path == "/function/env.dev"


def test_messages_and_errors_never_reach_stdout(gateway: FakeGateway, run_process) -> None:
    gateway.add("env", forbidden=True)
    result = run_process("env", "-v", input=b"x")
    assert result.code == 4
    assert result.out == b""
    assert "insufficient permissions" in result.err


def test_regular_file_stdin_sends_its_length(gateway: FakeGateway, tmp_path: Path) -> None:
    gateway.add("env")
    path = tmp_path / "body.bin"
    path.write_bytes(bytes(range(256)) * 10000)
    with open(path, "rb") as stdin:
        proc = faasauth_process("env", stdin=stdin)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out == path.read_bytes()
    probe, retry = gateway.calls()
    assert probe.header("Content-Length") == retry.header("Content-Length") == "2560000"
    assert probe.body == retry.body == path.read_bytes()


def test_get_with_dev_null(gateway: FakeGateway) -> None:
    gateway.add("env", protected=False, body=b"env output\n")
    with open(os.devnull, "rb") as stdin:
        proc = faasauth_process("env", "-m", "GET", stdin=stdin)
        out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err) == (0, b"env output\n", b"")
    assert gateway.requests[0].method == "GET" and gateway.requests[0].size == 0


def test_terminal_stdin_prompts_on_stderr(gateway: FakeGateway) -> None:
    gateway.add("env", protected=False)
    controller, terminal = pty.openpty()
    try:
        proc = faasauth_process("env", stdin=terminal)
        os.close(terminal)
        os.write(controller, b"typed\n\x04")  # a line, then Control+D
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(controller)
    assert proc.returncode == 0, err
    assert err.decode() == "Reading from STDIN - hit (Control + D) to stop.\n"
    assert out == b"typed\n"


def _on_a_terminal(*args: str) -> tuple[int, bytes]:
    """`faasauth invoke ARGS` with stdout and stderr on one pseudo-terminal, as in a shell."""
    controller, terminal = pty.openpty()
    try:
        proc = faasauth_process(*args, stdin=subprocess.DEVNULL, stdout=terminal,
                                stderr=terminal)
        os.close(terminal)
        seen = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the process closed its side
                break
            if not chunk:
                break
            seen += chunk
        return proc.wait(timeout=60), seen.replace(b"\r\n", b"\n")
    finally:
        os.close(controller)


def test_on_a_terminal_an_error_starts_on_its_own_line(gateway: FakeGateway) -> None:
    gateway.add("broken", protected=False, status=500, body=b"no final newline")
    code, seen = _on_a_terminal("broken")
    assert code == 1
    assert seen.splitlines()[:2] == [
        b"no final newline", b"faasauth: openfaas-fn:broken answered 500 Internal Server Error"]
    # An answer that ends its line gets no blank line before the message.
    gateway.add("tidy", protected=False, status=500, body=b"ends its line\n")
    code, seen = _on_a_terminal("tidy")
    assert seen.splitlines()[:2] == [
        b"ends its line", b"faasauth: openfaas-fn:tidy answered 500 Internal Server Error"]


def test_in_a_pipe_an_answer_stays_byte_exact(gateway: FakeGateway, run_process) -> None:
    gateway.add("broken", protected=False, status=500, body=b"no final newline")
    result = run_process("broken")
    assert result.code == 1 and result.out == b"no final newline"


def test_broken_pipe_on_stdout_ends_quietly(gateway: FakeGateway) -> None:
    gateway.add("big", protected=False, body=b"y\n" * (8 * 1024 * 1024))
    reader, writer = os.pipe()
    proc = faasauth_process("big", stdin=subprocess.DEVNULL, stdout=writer)
    os.close(writer)
    with os.fdopen(reader, "rb") as head:
        assert head.read(10) == b"y\n" * 5
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert err == b""


def test_one_gib_streams_in_little_memory(gateway: FakeGateway) -> None:
    """The worst case for memory: a first call, so the probe's body is spooled and sent
    again; 1 GiB from a pipe, twice through the process, which must stay under 100 MiB."""
    gateway.record_bodies = False
    gateway.add("sink", body=b"ok")
    size = 1 << 30
    result = stream_through(["sink"], size)
    assert result.code == 0, result.err
    assert result.out == b"ok"
    assert gateway.summary() == [
        "POST /function/sink 401", "POST /oauth/token 200", "POST /function/sink 200 +token"
    ]
    probe, retry = gateway.calls()
    assert probe.size == retry.size == size
    assert probe.sha256 == retry.sha256 == result.sha256
    print(f"1 GiB first call: peak RSS {result.max_rss_kib} KiB, {result.seconds:.1f} s")
    assert result.max_rss_kib <= 64 * 1024, f"peak RSS {result.max_rss_kib} KiB"


def _first_call_with_tmpdir_nowhere(
    gateway: FakeGateway, tmp_path: Path, stdin: object
) -> subprocess.CompletedProcess[bytes]:
    gateway.add("sink", body=b"ok")
    env = {**os.environ, "TMPDIR": str(tmp_path / "no-such-dir")}
    return subprocess.run(
        [sys.executable, "-m", "faasauth", "invoke", "sink"],
        stdin=stdin, capture_output=True, env=env, timeout=60,
    )


def test_first_call_sends_a_regular_file_twice_without_a_copy(
    gateway: FakeGateway, tmp_path: Path
) -> None:
    """Probe, exchange, retry with `< big.bin`: the retry rewinds the file. The spool would
    go to TMPDIR, which does not exist, so any copy would fail the call."""
    path = tmp_path / "big.bin"
    data = os.urandom(3 << 20)  # more than what is read whole into memory
    path.write_bytes(data)
    with open(path, "rb") as stdin:
        done = _first_call_with_tmpdir_nowhere(gateway, tmp_path, stdin)
    assert done.returncode == 0, done.stderr
    assert gateway.summary() == [
        "POST /function/sink 401", "POST /oauth/token 200", "POST /function/sink 200 +token"
    ]
    probe, retry = gateway.calls()
    assert probe.size == retry.size == len(data)
    assert probe.header("Content-Length") == retry.header("Content-Length") == str(len(data))


def test_first_call_from_a_pipe_keeps_its_copy_where_tmpdir_says(
    gateway: FakeGateway, tmp_path: Path
) -> None:
    """The counterpart: from a pipe the same call needs the copy, and says where it could
    not keep it (rather than quietly using /tmp)."""
    reader, writer = os.pipe()
    feeder = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdout.buffer.write(bytes(3 << 20))"],
        stdout=writer,
    )
    os.close(writer)
    with os.fdopen(reader, "rb") as stdin:
        done = _first_call_with_tmpdir_nowhere(gateway, tmp_path, stdin)
    feeder.wait(timeout=60)
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        "faasauth: cannot keep a copy of the request body for a retry: "
        f"No such file or directory (TMPDIR={tmp_path / 'no-such-dir'})"
    ]
    assert gateway.summary() == []  # nothing sent without a copy to retry with


def test_32_parallel_first_calls_share_one_exchange(
    gateway: FakeGateway, isolated_environment: Path
) -> None:
    gateway.add("env")
    gateway.exchange_delay = 0.3  # let them pile up on the lock

    def call(i: int) -> tuple[int, bytes, bytes]:
        proc = faasauth_process("env")
        out, err = proc.communicate(f"call {i}".encode(), timeout=120)
        return proc.returncode, out, err

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(call, range(32)))
    for i, (code, out, err) in enumerate(results):
        assert (code, out, err) == (0, f"call {i}".encode(), b""), (i, err)
    assert len(gateway.exchanges) == 1
    tokens = {r.authorization for r in gateway.calls() if r.authorization}
    assert len(tokens) == 1
    calls = gateway.summary()
    # Each process probes (401) and calls with the token, except those that started once
    # the function was already remembered and the token cached: they just call.
    assert calls.count("POST /function/env 200 +token") == 32
    assert calls.count("POST /function/env 401") + 32 + 1 == len(calls)
    store = FileStore(Home(isolated_environment))
    keys = store.keys()
    assert len(keys) == 1 and store.get(keys[0]) is not None
    notes = json.loads((isolated_environment / STATE_FILE).read_text())
    assert list(notes["gateways"][gateway.url]) == ["openfaas-fn:env"]
    assert not [p.name for p in isolated_environment.rglob(".tmp-*")]


@pytest.mark.parametrize("args", [["-m", "BOGUS"], ["--query", "x"], ["--sign", "X"]])
def test_usage_errors_exit_2_as_processes(gateway: FakeGateway, run_process, args) -> None:
    result = run_process("env", *args)
    assert result.code == 2 and result.out == b""
    assert gateway.requests == []


def test_a_307_after_a_pipe_sent_without_a_copy_says_so(
    gateway: FakeGateway, run_process
) -> None:
    gateway.add("moved", protected=False, status=307, headers={"Location": "/function/echo"})
    gateway.add("echo", protected=False)
    # --auth with a fresh token: no second request was foreseen, so no copy of a pipe too
    # large to hold in memory (a small one is read whole, and is sent again).
    big = b"x" * (2 * 1024 * 1024 + 1)
    first = run_process("moved", "--auth", input=big)
    assert first.code == 1 and first.out == b""
    assert first.err.splitlines() == [
        "faasauth: cannot follow a 307/308 redirect: it needs the body again, and the body "
        "read from a pipe was sent without keeping a copy",
        "hint: give the body as a file (< FILE), which can be sent again, or call the URL "
        "the gateway redirects to",
    ]
    # A cached token may be refused: a copy is kept, and the redirect is followed.
    again = run_process("moved", "--auth", input=big)
    assert (again.code, again.out) == (0, big), again.err
    assert gateway.requests[-1].path == "/function/echo" and gateway.requests[-1].body == big
