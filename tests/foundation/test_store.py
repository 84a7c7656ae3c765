"""The token store: file, keyring and none backends, the automatic choice, permissions,
atomic writes, and corrupt entries treated as cache misses that repair themselves."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Iterator

import pytest

from faasauth.store import choice as store_choice
from faasauth.errors import TransientFailure
from faasauth.store.choice import BACKEND_STATE, open_store
from faasauth.store.backends import ENTRY_VERSION, FileStore, NullStore, TokenStore, encode_entry
from faasauth.store.home import Home
from foundation.conftest import file_mode
from foundation.keyring_backends import (
    RELEASE_HANGING,
    FailingKeyring,
    HangingKeyring,
    MemoryKeyring,
)

LOGIN_KEY = "login|http://gw.example:8080"
FN_KEY = "function|http://gw.example:8080|abc|openfaas-fn:figlet"


@pytest.fixture
def umask_zero() -> Iterator[None]:
    """Modes must not depend on the caller's umask: run with the loosest one."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def entry_files(home: Path) -> list[Path]:
    return sorted((home / "tokens").glob("*.json"))


class TestFileStore:
    def test_round_trip(self, home: Path) -> None:
        store = FileStore(Home(home))
        assert store.get(LOGIN_KEY) is None
        store.put(LOGIN_KEY, {"id_token": "secret-1"})
        store.put(FN_KEY, {"access_token": "secret-2"})
        assert store.get(LOGIN_KEY) == {"id_token": "secret-1"}
        assert sorted(store.keys()) == sorted([LOGIN_KEY, FN_KEY])
        store.put(LOGIN_KEY, {"id_token": "secret-3"})
        assert store.get(LOGIN_KEY) == {"id_token": "secret-3"}
        store.delete(LOGIN_KEY)
        store.delete(LOGIN_KEY)  # deleting what is gone is fine
        assert store.get(LOGIN_KEY) is None
        assert store.keys() == [FN_KEY]

    def test_entry_format_and_file_names_hide_keys(self, home: Path) -> None:
        FileStore(Home(home)).put(LOGIN_KEY, {"id_token": "secret-1"})
        (path,) = entry_files(home)
        assert "gw.example" not in path.name
        assert json.loads(path.read_text()) == {
            "version": ENTRY_VERSION,
            "key": LOGIN_KEY,
            "value": {"id_token": "secret-1"},
        }

    def test_modes_whatever_the_umask(self, home: Path, umask_zero: None) -> None:
        fresh = home / "fresh-home"
        h = Home(fresh)
        store = FileStore(h)
        store.put(LOGIN_KEY, {"id_token": "secret"})
        h.write_state("state.json", {"a": 1})
        with h.lock(LOGIN_KEY):
            pass
        assert file_mode(fresh) == 0o700
        assert file_mode(fresh / "tokens") == 0o700
        assert file_mode(fresh / "locks") == 0o700
        for path in [*entry_files(fresh), fresh / "state.json", *(fresh / "locks").iterdir()]:
            assert file_mode(path) == 0o600, path

    def test_loose_modes_are_repaired(self, home: Path) -> None:
        h = Home(home)
        store = FileStore(h)
        store.put(LOGIN_KEY, {"id_token": "secret"})
        h.write_state("state.json", {"a": 1})
        with h.lock(LOGIN_KEY):
            pass
        (lock,) = (home / "locks").iterdir()
        (entry,) = entry_files(home)
        for path, mode in [(home, 0o755), (home / "tokens", 0o777), (home / "locks", 0o755),
                           (entry, 0o644), (lock, 0o666), (home / "state.json", 0o644)]:
            path.chmod(mode)

        again = Home(home)
        assert FileStore(again).get(LOGIN_KEY) == {"id_token": "secret"}
        assert again.read_state("state.json") == {"a": 1}
        with again.lock(LOGIN_KEY):
            pass
        assert file_mode(home) == 0o700
        assert file_mode(home / "tokens") == 0o700
        assert file_mode(home / "locks") == 0o700
        assert file_mode(entry) == 0o600
        assert file_mode(lock) == 0o600
        assert file_mode(home / "state.json") == 0o600

    def test_failed_write_keeps_the_old_entry_and_no_temp_file(
        self, home: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = FileStore(Home(home))
        store.put(LOGIN_KEY, {"id_token": "old"})

        def broken_replace(src: str, dst: str) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", broken_replace)
        with pytest.raises(TransientFailure, match="cannot write the token store"):
            store.put(LOGIN_KEY, {"id_token": "new"})
        monkeypatch.undo()
        assert store.get(LOGIN_KEY) == {"id_token": "old"}
        assert sorted(p.name for p in (home / "tokens").iterdir()) == [entry_files(home)[0].name]


CORRUPTIONS = {
    "not json": (b"{not json", "corrupt"),
    "empty": (b"", "corrupt"),
    "not utf-8": (b"\xff\xfe\x00garbage", "corrupt"),
    "unknown version": (json.dumps({"version": 99, "key": LOGIN_KEY, "value": {}}).encode(),
                        "unknown version"),
    "no envelope": (json.dumps(["a", "list"]).encode(), "unknown version"),
    "wrong key": (encode_entry("login|http://other", {"id_token": "x"}), "malformed"),
    "value not a mapping": (json.dumps({"version": 1, "key": LOGIN_KEY, "value": "x"}).encode(),
                            "malformed"),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corrupt_file_entry_is_a_miss_with_a_warning_then_repaired(
    name: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw, words = CORRUPTIONS[name]
    store = FileStore(Home(home))
    store.put(LOGIN_KEY, {"id_token": "secret"})
    (path,) = entry_files(home)
    path.write_bytes(raw)
    capsys.readouterr()

    assert store.get(LOGIN_KEY) is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "faasauth: warning:" in err and words in err
    assert not path.exists()  # removed: the next read is a plain miss, no second warning
    assert store.get(LOGIN_KEY) is None
    assert capsys.readouterr().err == ""
    store.put(LOGIN_KEY, {"id_token": "again"})
    assert store.get(LOGIN_KEY) == {"id_token": "again"}


def test_keys_skips_foreign_and_corrupt_files(home: Path) -> None:
    store = FileStore(Home(home))
    store.put(LOGIN_KEY, {"id_token": "secret"})
    (home / "tokens" / "garbage.json").write_text("{")
    (home / "tokens" / "renamed.json").write_bytes(encode_entry(FN_KEY, {}))  # name != digest
    (home / "tokens" / "notes.txt").write_text("hello")
    assert store.keys() == [LOGIN_KEY]


class TestNullStore:
    def test_keeps_nothing(self, home: Path) -> None:
        store = open_store(Home(home), "none")
        assert isinstance(store, NullStore) and store.name == "none"
        store.put(LOGIN_KEY, {"id_token": "secret"})
        assert store.get(LOGIN_KEY) is None
        assert store.keys() == []
        store.delete(LOGIN_KEY)
        assert not (home / "tokens").exists()


class TestKeyringStore:
    def test_round_trip_keeps_secrets_out_of_files(self, home: Path, memory_keyring: MemoryKeyring) -> None:
        store = open_store(Home(home), "keyring")
        assert store.name == "keyring" and not store.plain_file
        store.put(LOGIN_KEY, {"id_token": "secret-id-token"})
        store.put(FN_KEY, {"access_token": "secret-fn-token"})
        assert store.get(LOGIN_KEY) == {"id_token": "secret-id-token"}
        assert store.keys() == sorted([LOGIN_KEY, FN_KEY])
        assert ("faasauth", LOGIN_KEY) in memory_keyring.items
        store.delete(LOGIN_KEY)
        store.delete(LOGIN_KEY)  # PasswordDeleteError from the backend is not an error
        assert store.get(LOGIN_KEY) is None
        assert store.keys() == [FN_KEY]
        assert not (home / "tokens").exists()
        for path in home.rglob("*"):
            if path.is_file():
                assert b"secret" not in path.read_bytes(), path
                assert file_mode(path) == 0o600

    def test_corrupt_keyring_item_is_a_miss_and_removed(
        self, home: Path, memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str]
    ) -> None:
        store = open_store(Home(home), "keyring")
        store.put(LOGIN_KEY, {"id_token": "secret"})
        memory_keyring.items[("faasauth", LOGIN_KEY)] = '{"version": 7}'
        capsys.readouterr()
        assert store.get(LOGIN_KEY) is None
        assert "unknown version" in capsys.readouterr().err
        assert ("faasauth", LOGIN_KEY) not in memory_keyring.items
        assert store.keys() == []

    def test_failing_keyring_is_a_transient_failure(self, home: Path, install_keyring) -> None:
        install_keyring(FailingKeyring())
        store = open_store(Home(home), "keyring")
        with pytest.raises(TransientFailure, match="OS keyring failed to read"):
            store.get(LOGIN_KEY)
        with pytest.raises(TransientFailure, match="OS keyring failed to save"):
            store.put(LOGIN_KEY, {"id_token": "x"})


class TestAutomaticChoice:
    def test_working_keyring_is_chosen_and_remembered(
        self, home: Path, memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str]
    ) -> None:
        store = open_store(Home(home), "auto")
        assert store.name == "keyring"
        assert "automatic" in store.reason
        assert capsys.readouterr().err == ""
        assert json.loads((home / BACKEND_STATE).read_text())["backend"] == "keyring"
        again = open_store(Home(home), "auto")
        assert again.name == "keyring"
        # status must say why: automatic, not an environment variable the user never set
        assert "FAASAUTH_TOKEN_STORE" not in again.reason

    @pytest.mark.parametrize(
        ("backend", "words"),
        [
            ("fail", "no OS keyring backend is available"),
            ("null", "is not usable"),
            ("failing", "the OS keyring failed with KeyringError"),
        ],
    )
    def test_unusable_keyring_falls_back_to_files_once(
        self, home: Path, install_keyring, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, backend: str, words: str,
    ) -> None:
        from keyring.backends import fail, null

        install_keyring({"fail": fail.Keyring, "null": null.Keyring, "failing": FailingKeyring}[backend]())
        store = open_store(Home(home), "auto")
        assert isinstance(store, FileStore) and store.name == "file"
        assert words in store.reason
        assert "(" not in store.reason  # shown as `file (REASON)`: never nested (issue 22 item 26)
        err = capsys.readouterr().err
        assert err.count("faasauth: warning:") == 1 and words in err and str(home) in err
        state = json.loads((home / BACKEND_STATE).read_text())
        assert state["backend"] == "file"
        assert file_mode(home / BACKEND_STATE) == 0o600

        # The second time: no probe, no warning, the keyring module of faasauth not even asked.
        def must_not_probe(home: Home) -> TokenStore:
            raise AssertionError("probed the keyring again")

        monkeypatch.setattr(store_choice, "choose_automatically", must_not_probe)
        again = open_store(Home(home), "auto")
        assert isinstance(again, FileStore) and words in again.reason
        assert capsys.readouterr().err == ""

    def test_hanging_keyring_falls_back_within_the_probe_time(
        self, home: Path, install_keyring, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(store_choice, "PROBE_SECONDS", 0.3)
        install_keyring(HangingKeyring())
        RELEASE_HANGING.clear()
        try:
            started = time.monotonic()
            store = open_store(Home(home), "auto")
            elapsed = time.monotonic() - started
        finally:
            RELEASE_HANGING.set()
        assert isinstance(store, FileStore)
        assert 0.3 <= elapsed < 3
        assert "did not answer within 0.3s" in capsys.readouterr().err

    def test_corrupt_remembered_choice_is_chosen_again(
        self, home: Path, install_keyring, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from keyring.backends import fail

        install_keyring(fail.Keyring())
        (home / BACKEND_STATE).write_text("{corrupt")
        store = open_store(Home(home), "auto")
        assert isinstance(store, FileStore)
        assert "corrupt state file" in capsys.readouterr().err
        assert json.loads((home / BACKEND_STATE).read_text())["backend"] == "file"

    def test_explicit_file_and_none_never_touch_the_state(self, home: Path) -> None:
        assert isinstance(open_store(Home(home), "file"), FileStore)
        assert isinstance(open_store(Home(home), "none"), NullStore)
        assert not (home / BACKEND_STATE).exists()


class TestRememberedKeyringRechecked:
    def test_a_remembered_keyring_out_of_reach_falls_back_for_this_session(
        self, home: Path, install_keyring, memory_keyring: MemoryKeyring,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        assert open_store(Home(home), "auto").name == "keyring"  # a desktop session chose it
        install_keyring(FailingKeyring())  # an SSH session sharing the home: no keyring
        capsys.readouterr()
        store = open_store(Home(home), "auto")
        assert isinstance(store, FileStore) and "out of reach" in store.reason
        assert capsys.readouterr().err.count("faasauth: warning:") == 1
        # the choice is kept for the session where the keyring answers
        assert json.loads((home / BACKEND_STATE).read_text())["backend"] == "keyring"
