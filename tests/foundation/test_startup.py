"""Start-up budget: what a fresh interpreter imports for help, parsing and the warm path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from foundation.conftest import Gateway, run_probe, subprocess_env


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--help"], 0),
        (["--version"], 0),
        (["exchange", "--help"], 0),
        (["status", "--help"], 0),
        (["logout", "--help"], 0),
        (["exchange", "--no-such-option"], 2),
        (["exchange", "-a", "not-an-audience"], 2),
        (["exchange", "-o", "yaml"], 2),
        (["no-such-command"], 2),
    ],
)
def test_help_and_argument_parsing_import_nothing_heavy(args: list[str], code: int) -> None:
    returncode, _, err, heavy = run_probe(*args)
    assert returncode == code, err
    assert heavy == []


def test_the_probe_sees_heavy_imports(unused_port: int) -> None:
    # The probe itself must be able to see an import, or the tests above prove nothing.
    returncode, _, _, heavy = run_probe("status", "--json")
    assert returncode == 4
    # --json always says whether a keyring answers (issue 22 item 26); the text never
    # asks with nothing stored (test_file_store_never_imports_keyring)
    assert "yaml" not in heavy and "keyring" in heavy
    returncode, _, _, heavy = run_probe(
        "exchange", "-g", f"127.0.0.1:{unused_port}", "--timeout", "1",
        env=subprocess_env(FAASAUTH_SUBJECT_TOKEN="opaque-subject-token-123"),
    )
    assert returncode == 3 and "httpx" in heavy


@pytest.mark.parametrize("backend", ["file", "remembered-file"])
@pytest.mark.parametrize("command", ["exchange", "status", "logout"])
def test_file_store_never_imports_keyring(
    gateway: Gateway, home: Path, backend: str, command: str
) -> None:
    env = subprocess_env(FAASAUTH_SUBJECT_TOKEN="opaque-subject-token-123")
    if backend == "remembered-file":
        env["FAASAUTH_TOKEN_STORE"] = "auto"
        (home / "store-backend.json").write_text(
            json.dumps({"backend": "file", "reason": "no OS keyring (automatic choice)"})
        )
    args = [command, "-g", gateway.url]
    returncode, out, err, heavy = run_probe(*args, env=env)
    assert returncode in (0, 4), err
    assert "keyring" not in heavy
    assert "warning: " not in err or "plain files" in err  # never the keyring warning
    if command == "exchange":
        assert returncode == 0 and out.startswith("fn-token-1-")
        assert "httpx" in heavy  # it did talk HTTP: the probe sees imports
        assert not {"jwt", "yaml", "cryptography"} & set(heavy), heavy
        returncode, out, err, heavy = run_probe(*args, env=env)  # again, from the cache
        assert (returncode, out) == (0, "fn-token-1-abcdefghijklmnop\n")
        assert "keyring" not in heavy
        assert gateway.count == 1


@pytest.fixture
def async_backends(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """Stand-in `trio` and `anyio` packages that note their import in a file: whether an
    interpreter imports them shows whatever is installed on this machine."""
    import os

    site = tmp_path / "site"
    marks = tmp_path / "imported"
    for name in ("trio", "anyio"):
        (site / name).mkdir(parents=True)
        (site / name / "__init__.py").write_text(
            f"with open({str(marks)!r}, 'a') as f:\n    f.write({name!r} + '\\n')\n"
        )
    env = subprocess_env(FAASAUTH_SUBJECT_TOKEN="opaque-subject-token-123")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return env, marks


def test_the_command_line_never_imports_async_backends(
    gateway: Gateway, async_backends: tuple[dict[str, str], Path]
) -> None:
    # httpcore imports trio and anyio when they are installed (60-90 ms for trio); the CLI
    # never runs async code. The library, used from async programs, must import them.
    import subprocess
    import sys

    env, marks = async_backends
    done = subprocess.run([sys.executable, "-m", "faasauth", "exchange", "-g", gateway.url],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not marks.exists()
    library = subprocess.run(
        [sys.executable, "-c", "import faasauth, httpx; faasauth.FunctionAuth; "
         "httpx.AsyncClient(auth=faasauth.FunctionAuth(gateway='http://127.0.0.1:1'))"],
        env=env, capture_output=True, text=True, timeout=60)
    assert library.returncode == 0, library.stderr
    assert marks.read_text().split() == ["trio", "anyio"]
