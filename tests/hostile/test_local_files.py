"""Issue 21, findings 7, 8, 16, 17: hostile local files.

- 7: faas-cli's config.yml with nested YAML aliases (a "billion laughs" under 1 KB) is
  refused at once, by reading, editing and `logout` alike; the file is left as it was.
- 8: with `CI=true`, a repository's `.openfaas/config.yml` (or `.openfaas`) that is a
  symlink is refused: nothing is created or written outside the working directory.
- 16: the temporary copy of faas-cli's config a killed writer left (every token in it) is
  removed as the store removes its own; the temporary file is 0600 from the start.
- 17: every token, secret and key file is read by one reader (config.secrets): a regular
  file of at most 64 KiB. A FIFO (which blocked forever), /dev/zero (MemoryError) or a
  huge file is one clear line and exit 2, at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from faasauth.config import faas_cli as fcc
from faasauth.config import faas_cli_edit
from faasauth.errors import ExitCode, UsageFailure

GATEWAY = "http://127.0.0.1:8080"


def laughs(levels: int = 10) -> str:
    """A faas-cli config whose `x-laughs` expands to 9**levels strings, faasauth's entry
    after it (so that an edit would have to compare the whole expansion)."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + textwrap.dedent(f"""
        auths:
          - gateway: {GATEWAY}
            auth: oauth2
            token: abc
            options:
              - name: written_by
                value: faasauth
        """)


# -- 7. YAML aliases in faas-cli's config ------------------------------------------------


def test_the_laughs_are_small() -> None:
    assert len(laughs()) < 1000


@pytest.mark.parametrize("how", ["read_entries", "write_entry", "remove_entry"])
def test_aliases_are_refused_at_once(tmp_path: Path, how: str) -> None:
    path = tmp_path / "config.yml"
    path.write_text(laughs())
    # In a child process: without the refusal, an edit compares 9**10 strings (hours).
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from faasauth.config import faas_cli, faas_cli_edit
        from faasauth.errors import UsageFailure
        path = Path({str(path)!r})
        calls = {{"read_entries": lambda: faas_cli.read_entries(path),
                  "write_entry": lambda: faas_cli_edit.write_entry(path, {GATEWAY!r}, "t"),
                  "remove_entry": lambda: faas_cli_edit.remove_entry(path, {GATEWAY!r})}}
        try:
            calls[{how!r}]()
        except UsageFailure as exc:
            print(exc.message)
            print(exc.hint)
            sys.exit(exc.exit_code)
        """)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=20)
    assert time.monotonic() - started < 10
    assert result.returncode == ExitCode.USAGE, result.stderr
    message, hint = result.stdout.splitlines()
    assert message == (
        f"cannot read faas-cli's config {path}: a YAML alias at line 2, column 10 "
        "(faas-cli writes none)"
    )
    assert hint.startswith("write the value out in place of the alias")
    assert path.read_text() == laughs()


def test_an_alias_anywhere_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(f"auths:\n  - &e {{gateway: {GATEWAY}}}\n  - *e\n")
    with pytest.raises(UsageFailure, match="a YAML alias at line 3, column 5"):
        fcc.read_entries(path)
    # A file without one reads as before, anchors and all the rest.
    path.write_text(f"auths:\n  - gateway: {GATEWAY}\n    auth: oauth2\n    token: t\n")
    assert fcc.find_entry(path, GATEWAY) == fcc.AuthEntry(GATEWAY, "oauth2", "t", [])
    assert faas_cli_edit.write_entry(path, GATEWAY, "u") == "replaced"


def test_logout_warns_and_ends_at_once(tmp_path: Path) -> None:
    path = Path(os.environ["OPENFAAS_CONFIG"]) / "config.yml"
    path.write_text(laughs())
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "faasauth", "logout"], capture_output=True,
                            text=True, timeout=20, env={**os.environ, "OPENFAAS_URL": GATEWAY})
    assert time.monotonic() - started < 10
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"faasauth: warning: cannot read faas-cli's config {path}: a YAML alias at line 2, "
        "column 10 (faas-cli writes none); left as it was"
    )
    assert path.read_text() == laughs()


# -- 8. a repository's symlinked .openfaas/config.yml under CI=true ------------------------


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cloned repository as the working directory of a CI job (CI=true, no
    OPENFAAS_CONFIG: faas-cli's rule picks ./.openfaas/config.yml)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.chdir(repo)
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("OPENFAAS_CONFIG")
    return repo


def link_out(repo: Path, which: str) -> Path:
    """`.openfaas` (or `.openfaas/config.yml`) linked to a place outside the repository
    that does not exist yet; that place."""
    outside = repo.parent / "outside" / "deep"
    if which == ".openfaas":
        (repo / ".openfaas").symlink_to(outside, target_is_directory=True)
    else:
        (repo / ".openfaas").mkdir()
        (repo / ".openfaas" / "config.yml").symlink_to(outside / "config.yml")
    return repo.parent / "outside"


@pytest.mark.parametrize("which", [".openfaas", "config.yml"])
def test_a_linked_repository_config_is_refused(repository: Path, which: str) -> None:
    outside = link_out(repository, which)
    with pytest.raises(UsageFailure) as caught:
        fcc.config_path(os.environ)
    path = repository / ".openfaas" / "config.yml"
    assert caught.value.message == (
        f"refusing faas-cli's config {path} (CI is set): {which} is a symlink, and the file "
        "must stay in the working directory"
    )
    assert caught.value.exit_code == ExitCode.USAGE
    # Reading for a subject token: a warning, no token, nothing created.
    assert fcc.faas_cli_token(os.environ, GATEWAY) is None
    assert not outside.exists()


def test_a_real_repository_config_and_a_linked_home_config_are_used(
    repository: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fcc.config_path(os.environ) == repository / ".openfaas" / "config.yml"
    # Outside CI (or with OPENFAAS_CONFIG), a link is the user's own: followed as before.
    monkeypatch.setenv("OPENFAAS_CONFIG", str(repository / ".openfaas" / "config.yml"))
    link_out(repository, "config.yml")
    assert fcc.config_path(os.environ) == repository / ".openfaas" / "config.yml"


@pytest.mark.parametrize("which", [".openfaas", "config.yml"])
def test_logout_in_a_linked_repository_writes_nothing(
    repository: Path, which: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli_support import cli_runner

    outside = link_out(repository, which)
    outside.joinpath("deep").mkdir(parents=True)
    target = outside / "deep" / "config.yml"
    original = (f"auths:\n  - gateway: {GATEWAY}\n    auth: oauth2\n    token: t\n"
                "    options:\n      - name: written_by\n        value: faasauth\n")
    target.write_text(original)
    result = cli_runner(capsys, monkeypatch)("logout", "-g", GATEWAY)
    assert result.code == 0, result.err
    assert result.err.splitlines()[-1] == (
        f"faasauth: warning: refusing faas-cli's config {repository}/.openfaas/config.yml "
        f"(CI is set): {which} is a symlink, and the file must stay in the working directory; "
        "left as it was"
    )
    assert target.read_text() == original


# -- 16. a killed writer's temporary copy of faas-cli's config ---------------------------


def left_behind(directory: Path, age: float) -> Path:
    """A temporary file as a writer killed before its rename leaves it, `age` s old."""
    temporary = directory / ".config.yml.k1ll3d.tmp"
    temporary.write_text("auths:\n  - gateway: x\n    auth: oauth2\n    token: SECRET\n")
    os.utime(temporary, (time.time() - age, time.time() - age))
    return temporary


@pytest.mark.parametrize("config_exists", [True, False], ids=["edited", "first-write"])
def test_logout_removes_a_stale_temporary_copy(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, config_exists: bool
) -> None:
    from cli_support import cli_runner

    directory = Path(os.environ["OPENFAAS_CONFIG"])
    if config_exists:
        (directory / "config.yml").write_text(f"auths:\n  - gateway: {GATEWAY}\n")
    stale, fresh = left_behind(directory, 120), directory / ".config.yml.writing.tmp"
    fresh.write_text("a writer still at work")  # younger than a writer ever takes: kept
    unrelated = directory / ".tmp-not-ours.json"
    unrelated.write_text("{}")
    result = cli_runner(capsys, monkeypatch)("logout", "-g", GATEWAY)
    assert result.code == 0, result.err
    assert not stale.exists()
    assert fresh.exists() and unrelated.exists()


def test_the_temporary_copy_is_private_from_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.yml"
    modes = []
    real_replace = os.replace

    def replace(source: str, target: object) -> None:
        assert Path(source).name.startswith(".config.yml.") and source.endswith(".tmp")
        modes.append(os.stat(source).st_mode & 0o777)
        real_replace(source, target)  # type: ignore[arg-type]

    monkeypatch.setattr(faas_cli_edit.os, "replace", replace)
    old_umask = os.umask(0)
    try:
        faas_cli_edit.write_entry(path, GATEWAY, "t")
    finally:
        os.umask(old_umask)
    assert modes == [0o600]
    assert os.stat(path).st_mode & 0o777 == 0o600


# -- 17. token, secret and key files that are not small regular files --------------------

READERS = {  # every option naming a secret file: (argv, what the message calls it)
    "auth --token-file": (["auth", "--token-file"], "token"),
    "auth --ambient --token-file": (["auth", "--ambient", "--token-file"], "token"),
    "auth --client-secret-file": (
        ["auth", "--authority", "https://127.0.0.1:9", "--client-id", "c",
         "--client-secret-file"], "client secret"),
    "exchange --subject-token-file": (["exchange", "--subject-token-file"], "token"),
    "invoke --key-file": (["invoke", "echo", "--sign", "X-Sig", "--key-file"], "key"),
}


def bad_file(tmp_path: Path, kind: str) -> tuple[str, str]:
    """A path of this kind and the reason faasauth must give for it."""
    if kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)  # nobody ever writes: a blocking open or read never returns
        return str(path), "a FIFO, not a regular file"
    if kind == "dev-zero":
        return "/dev/zero", "a device, not a regular file"
    path = tmp_path / "huge"
    path.write_bytes(b"e" * (64 * 1024 + 1))
    return str(path), "larger than 64 KiB, which no {what} is"


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "too-large"])
@pytest.mark.parametrize("reader", list(READERS))
def test_a_secret_file_that_is_not_a_small_regular_file(
    tmp_path: Path, reader: str, kind: str
) -> None:
    argv, what = READERS[reader]
    path, reason = bad_file(tmp_path, kind)
    started = time.monotonic()
    result = subprocess.run(  # a child process: without the fix a FIFO blocks it forever
        [sys.executable, "-m", "faasauth", *argv, path], capture_output=True, text=True,
        timeout=20, stdin=subprocess.DEVNULL, env={**os.environ, "OPENFAAS_URL": GATEWAY},
    )
    assert time.monotonic() - started < 10
    assert result.returncode == ExitCode.USAGE, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"faasauth: cannot read the {what} file {path}: {reason.format(what=what)}"
    assert len(lines) == 1 or lines[1].startswith("hint: ")
    assert "Traceback" not in result.stderr and "Error" not in result.stderr


def test_stdin_is_capped_too(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from faasauth.config.secrets import read_secret_text, read_token_file

    monkeypatch.setattr(sys, "stdin", io.StringIO("e" * (64 * 1024 + 1)))
    with pytest.raises(UsageFailure, match="^the token on stdin is larger than 64 KiB"):
        read_token_file("-")
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-token\n"))
    assert read_secret_text("-", "token") == "a-token\n"


def test_a_regular_file_a_link_to_one_and_the_limit_itself_are_read(tmp_path: Path) -> None:
    from faasauth.config.secrets import MAX_SECRET_FILE, read_secret_bytes

    path = tmp_path / "key"
    path.write_bytes(b"k" * MAX_SECRET_FILE)
    link = tmp_path / "..data"  # as a Kubernetes projected token is a link to its file
    link.symlink_to(path)
    assert read_secret_bytes(str(link), "key") == b"k" * MAX_SECRET_FILE
