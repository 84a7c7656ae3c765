"""The cross-process lock, and many real processes sharing one home."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faasauth.store.locking import FileLock

from faasauth.errors import LockTimeout
from foundation.conftest import Gateway, file_mode, make_jwt, subprocess_env

HOLD_LOCK = """
import sys, time
from pathlib import Path
from faasauth.store.locking import FileLock
lock = FileLock(Path(sys.argv[1]), timeout=5)
lock.acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_lock_excludes_another_holder_until_released(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    first = FileLock(path, timeout=1)
    first.acquire()
    try:
        started = time.monotonic()
        with pytest.raises(LockTimeout, match="timed out after 0.2s"):
            FileLock(path, timeout=0.2).acquire()
        assert 0.2 <= time.monotonic() - started < 2
    finally:
        first.release()
    with FileLock(path, timeout=0.2):
        pass
    assert file_mode(path) == 0o600


def test_lock_timeout_is_exit_3() -> None:
    assert LockTimeout("x").exit_code == 3


def test_lock_of_a_sigkilled_holder_does_not_block(tmp_path: Path) -> None:
    path = tmp_path / "held.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)],
        env=subprocess_env(), stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockTimeout):  # really held by the other process
            FileLock(path, timeout=0.2).acquire()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        started = time.monotonic()
        with FileLock(path, timeout=5):
            assert time.monotonic() - started < 1
        assert path.exists()  # the stale lock file is still there, and harmless
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_exchange_waiting_too_long_for_the_lock_is_exit_3(
    run_cli, gateway: Gateway, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the exchange lock for this token; we give up with exit 3."""
    import faasauth.store.home
    from faasauth.runtime import Runtime
    from faasauth.store.cache import function_token_key
    from faasauth.config.settings import resolve_settings
    from faasauth.flows.subject import find_subject

    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "opaque-subject-token-1")
    ctx = Runtime(resolve_settings(gateway=gateway.url))
    key = function_token_key(gateway.url, find_subject(ctx).identity, ["dev:fn"])
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(ctx.home.lock(key).path)],
        env=subprocess_env(), stdout=subprocess.PIPE, text=True,
    )
    monkeypatch.setattr(
        faasauth.store.home, "FileLock", lambda path, timeout: FileLock(path, timeout=0.3)
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = run_cli("exchange", "-g", gateway.url, "-a", "dev:fn")
    finally:
        holder.kill()
        holder.wait()
    assert result.code == 3
    assert "timed out after 0.3s waiting for the lock" in result.err
    assert gateway.count == 0
    assert result.out == ""


# Each worker waits for the go file, so that all of them miss the cache together.
WORKER = """
import os, sys, time
sys.modules["httpx._main"] = None  # httpx's own CLI (rich, pygments): not needed, slow
import httpx  # loaded before the start line, so the workers really overlap
import faasauth.cli.commands.exchange, faasauth.flows.exchange, faasauth.http, faasauth.flows.subject
from faasauth.cli import app as cli
go = sys.argv[1]
open(go + ".ready.%d" % os.getpid(), "w").close()
while not os.path.exists(go):
    time.sleep(0.005)
cli.main(sys.argv[2:])
"""


def start_workers(n: int, go: Path, args: list[str], env: dict[str, str]) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(go), *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(n)
    ]


def release(go: Path, count: int) -> None:
    """Start the workers once all of them are waiting on the start line."""
    deadline = time.monotonic() + 60
    while len(list(go.parent.glob(go.name + ".ready.*"))) < count:
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.02)
    go.touch()


def finish(workers: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        results.append((worker.returncode, out, err))
    return results


def test_32_processes_share_one_exchange(gateway: Gateway, home: Path, tmp_path: Path) -> None:
    gateway.delay = 0.3  # the exchange takes a while: everybody else must wait, not exchange
    go = tmp_path / "go"
    token_file = tmp_path / "subject"
    token_file.write_text(make_jwt({"sub": "shared"}) + "\n")
    args = ["exchange", "-g", gateway.url, "-a", "dev:fn", "--subject-token-file", str(token_file),
            "-o", "json"]
    workers = start_workers(32, go, args, subprocess_env())
    release(go, 32)
    results = finish(workers)

    assert [code for code, _, _ in results] == [0] * 32, [err for _, _, err in results]
    outputs = [json.loads(out) for _, out, _ in results]
    assert gateway.count == 1
    assert {o["access_token"] for o in outputs} == {"fn-token-1-abcdefghijklmnop"}
    assert sorted(o["cached"] for o in outputs) == [False] + [True] * 31
    assert all(err == "" for _, _, err in results)
    files = list((home / "tokens").iterdir())
    assert len(files) == 1
    for path in files:
        assert json.loads(path.read_text())["version"] == 1
        assert file_mode(path) == 0o600


STRESS = """
import os, sys, time
from pathlib import Path
from faasauth.store.backends import FileStore
from faasauth.store.home import Home
go, me = sys.argv[1], sys.argv[2]
store = FileStore(Home(Path(os.environ["FAASAUTH_HOME"])))
keys = ["login|http://gw-%d" % i for i in range(3)]
open(go + ".ready.%d" % os.getpid(), "w").close()
while not os.path.exists(go):
    time.sleep(0.005)
for i in range(150):
    key = keys[i % 3]
    store.put(key, {"writer": me, "i": i, "pad": "x" * 2000})
    got = store.get(keys[(i + 1) % 3])
    assert got is None or set(got) == {"writer", "i", "pad"}, got
print("ok")
"""


def test_concurrent_writers_never_corrupt_entries(home: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", STRESS, str(go), str(n)],
            env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for n in range(12)
    ]
    release(go, 12)
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        # a torn read would show up as a warning ("corrupt ... entry") or a failed assert
        assert (worker.returncode, out.strip(), err) == (0, "ok", ""), err
    names = sorted(p.name for p in (home / "tokens").iterdir())
    assert len(names) == 3 and all(n.endswith(".json") and not n.startswith(".tmp") for n in names)
    for name in names:
        assert json.loads((home / "tokens" / name).read_text())["value"]["i"] >= 0


def test_auto_choice_warns_once_across_processes(home: Path, tmp_path: Path) -> None:
    """Eight first runs at once with a broken keyring: one probe warning, one remembered choice."""
    go = tmp_path / "go"
    env = subprocess_env(
        FAASAUTH_TOKEN_STORE="auto",
        PYTHON_KEYRING_BACKEND="foundation.keyring_backends.FailingKeyring",
    )
    workers = start_workers(8, go, ["status", "--json"], env)
    release(go, 8)
    results = finish(workers)
    assert [code for code, _, _ in results] == [4] * 8  # nobody is logged in
    warnings = [err for _, _, err in results if "keeping tokens in files" in err]
    assert len(warnings) == 1, [err for _, _, err in results]
    assert json.loads((home / "store-backend.json").read_text())["backend"] == "file"
    assert all(json.loads(out)["store"]["backend"] == "file" for _, out, _ in results)

