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
    assert "yaml" not in heavy and "keyring" not in heavy
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
