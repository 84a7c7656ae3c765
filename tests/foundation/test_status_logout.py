"""`faasauth status` and `faasauth logout`."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from faasauth.store.choice import BACKEND_STATE

from faasauth.store.backends import FileStore

from faasauth.store.home import Home
from foundation.conftest import make_jwt, snapshot, store_function_token, store_login

GW_A = "http://gw-a.example:8080"
GW_B = "https://gw-b.example"
ID_TOKEN_A = make_jwt({"iss": "https://idp.example", "sub": "alice", "exp": 4102444800})
ID_TOKEN_B = "opaque-id-token-for-gateway-b-0123456789"
REFRESH = "refresh-token-secret-0123456789"
FN_A = "function-token-a-secret-0123456789"
FN_B = "function-token-b-secret-0123456789"
SECRETS = (ID_TOKEN_A, ID_TOKEN_B, REFRESH, FN_A, FN_B)


@pytest.fixture
def two_gateways(home: Path) -> Path:
    store_login(home, GW_A, ID_TOKEN_A, issuer="https://idp.example", subject="alice",
                authority="https://idp.example", client_id="faasauth", grant="device")
    store_login(home, GW_B, ID_TOKEN_B, refresh_token=REFRESH, grant="device")
    store_function_token(home, GW_A, FN_A, ["dev:figlet"])
    store_function_token(home, GW_B, FN_B, [])
    return home


def login_identity(**fields: str) -> str:
    """The identity function tokens of a login with these fields are cached under."""
    from faasauth.tokens.login import Login

    return Login(gateway=GW_A, **fields).identity


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


class TestStatus:
    def test_nothing_stored_is_exit_4(self, run_cli) -> None:
        result = run_cli("status", "-g", GW_A)
        assert result.code == 4
        assert "  login      none (run: faasauth auth)" in result.out
        assert "warning" not in result.err  # nothing in plain files yet

    def test_usable_login_is_exit_0_and_tokens_are_masked(
        self, run_cli, two_gateways: Path, home: Path
    ) -> None:
        result = run_cli("status", "-g", GW_A)
        assert result.code == 0, result.err
        lines = result.out.splitlines()
        assert lines[:2] == ["Token store  file (FAASAUTH_TOKEN_STORE=file)", f"{'':13}{home}"]
        current = lines.index(f"Gateway {GW_A}  (current)")
        assert lines[current + 1:current + 3] == [
            "  login      alice at https://idp.example", "  grant      device_code"]
        assert f"Gateway {GW_B}" in lines  # the other gateway is listed, after it
        assert lines.index(f"Gateway {GW_B}") > current
        assert any(line.startswith("    dev:figlet ") for line in lines)
        assert any("(any permitted function)" in line for line in lines)
        assert any(line.endswith(f"  {FN_A[:6]}...{FN_A[-4:]}") for line in lines)
        assert_no_secrets(result.out, result.err)
        assert "plain files" in result.err and result.err.startswith("faasauth: warning:")

    def test_json(self, run_cli, two_gateways: Path, home: Path, install_keyring) -> None:
        from foundation.keyring_backends import FailingKeyring

        install_keyring(FailingKeyring())
        result = run_cli("status", "--json", "-g", GW_B)
        assert result.code == 0
        data = json.loads(result.out)
        assert data["gateway"] == GW_B and data["usable_login"] is True
        assert data["store"] == {
            "backend": "file",
            "reason": "FAASAUTH_TOKEN_STORE=file",
            "location": str(home),
            "plain_file": True,
            "keyring_available": False,
        }
        logins = {item["gateway"]: item for item in data["logins"]}
        assert set(logins) == {GW_A, GW_B}
        assert logins[GW_A]["subject"] == "alice" and logins[GW_A]["expired"] is False
        assert logins[GW_B]["refreshable"] is True
        assert 3500 < logins[GW_A]["expires_in"] <= 3600
        tokens = {item["gateway"]: item for item in data["function_tokens"]}
        assert tokens[GW_A]["audience"] == ["dev:figlet"] and tokens[GW_B]["audience"] == []
        assert 290 < tokens[GW_A]["expires_in"] <= 300
        assert_no_secrets(result.out, result.err)
        assert "plain files" in result.err  # the warning goes to stderr, the JSON stays clean

    def test_login_for_another_gateway_only_is_exit_4(self, run_cli, home: Path) -> None:
        store_login(home, GW_B, ID_TOKEN_B)
        result = run_cli("status", "--json", "-g", GW_A)
        assert result.code == 4
        assert json.loads(result.out)["usable_login"] is False

    def test_function_tokens_alone_are_not_a_login(self, run_cli, home: Path) -> None:
        store_function_token(home, GW_A, FN_A, ["dev:figlet"])
        assert run_cli("status", "-g", GW_A).code == 4

    def test_expired_login_without_refresh_is_exit_4(self, run_cli, home: Path) -> None:
        store_login(home, GW_A, ID_TOKEN_B, expires_in=-10)
        result = run_cli("status", "-g", GW_A)
        assert result.code == 4
        assert "  expires    expired; run: faasauth auth" in result.out

    def test_expired_login_with_refresh_token_is_usable(self, run_cli, home: Path) -> None:
        store_login(home, GW_A, ID_TOKEN_B, expires_in=-10, refresh_token=REFRESH)
        assert run_cli("status", "-g", GW_A).code == 0

    def test_gateway_from_the_environment(self, run_cli, two_gateways: Path, monkeypatch) -> None:
        monkeypatch.setenv("OPENFAAS_URL", GW_B + "/")
        assert json.loads(run_cli("status", "--json").out)["gateway"] == GW_B

    def test_none_backend(self, run_cli, two_gateways: Path, monkeypatch) -> None:
        monkeypatch.setenv("FAASAUTH_TOKEN_STORE", "none")
        result = run_cli("status", "--json", "-g", GW_A)
        assert result.code == 4
        data = json.loads(result.out)
        assert data["store"]["backend"] == "none" and data["logins"] == []
        assert result.err == ""

    def test_keyring_backend_has_no_plain_file_warning(
        self, run_cli, memory_keyring, monkeypatch, home: Path
    ) -> None:
        from faasauth.tokens.login import Login
        from faasauth.store.cache import login_key
        from faasauth.store.choice import open_store

        monkeypatch.setenv("FAASAUTH_TOKEN_STORE", "keyring")
        open_store(Home(home), "keyring").put(
            login_key(GW_A), Login(gateway=GW_A, id_token=ID_TOKEN_B).to_entry()
        )
        result = run_cli("status", "--json", "-g", GW_A)
        assert result.code == 0
        data = json.loads(result.out)
        assert data["store"]["backend"] == "keyring" and data["store"]["plain_file"] is False
        assert [item["gateway"] for item in data["logins"]] == [GW_A]
        assert result.err == ""

    def test_automatic_file_choice_says_why(self, run_cli, home: Path, monkeypatch) -> None:
        monkeypatch.setenv("FAASAUTH_TOKEN_STORE", "auto")
        (home / BACKEND_STATE).write_text(
            json.dumps({"backend": "file", "reason": "no OS keyring backend is available (automatic choice)"})
        )
        data = json.loads(run_cli("status", "--json").out)
        assert data["store"]["backend"] == "file"
        # A home written before keeps the older words; shown in today's, without nested
        # parentheses (issue 22 item 26).
        assert data["store"]["reason"] == "automatic choice: no OS keyring backend is available"
        text = run_cli("status").out.splitlines()[0]
        assert text == "Token store  file (automatic choice: no OS keyring backend is available)"

    def test_corrupt_login_does_not_break_status(self, run_cli, two_gateways: Path, home: Path) -> None:
        from faasauth.store.cache import login_key

        FileStore(Home(home))._path(login_key(GW_A)).write_text("{broken")
        result = run_cli("status", "--json", "-g", GW_A)
        assert result.code == 4  # the corrupt login is not a usable login
        data = json.loads(result.out)
        assert [item["gateway"] for item in data["logins"]] == [GW_B]
        assert len(data["function_tokens"]) == 2
        assert "Traceback" not in result.err


class TestStatusReads:
    """What a person sees: 80 columns, whose tokens, ASCII JSON, the keyring suggestion."""

    def test_fits_80_columns_with_no_url_or_grant_split(
        self, run_cli, two_gateways: Path, home: Path
    ) -> None:
        store_login(home, "https://gateway.openfaas.example.com:8443", ID_TOKEN_A,
                    issuer="https://login.microsoftonline.com/9188040d-6c67-4c5b/v2.0",
                    subject="alice", grant="client_credentials")
        result = run_cli("status", "-g", "https://gateway.openfaas.example.com:8443")
        assert result.code == 0, result.err
        lines = result.out.splitlines()
        assert max(len(line) for line in lines) <= 80, result.out
        for whole in ("https://gateway.openfaas.example.com:8443", GW_A, GW_B,
                      "https://login.microsoftonline.com/9188040d-6c67-4c5b/v2.0",
                      "client_credentials"):
            assert any(whole in line for line in lines), whole

    def test_function_tokens_say_whose_they_are(self, run_cli, home: Path) -> None:
        store_login(home, GW_A, ID_TOKEN_A, issuer="https://idp.example", subject="alice")
        store_function_token(home, GW_A, FN_A, ["dev:figlet"], subject="alice",
                             identity=login_identity(issuer="https://idp.example", subject="alice"))
        store_function_token(home, GW_A, FN_B, ["dev:figlet"], identity="token|ci",
                             subject="repo:org/app:ref:refs/heads/main")
        result = run_cli("status", "-g", GW_A)
        lines = result.out.splitlines()
        alice = lines.index("  function tokens for alice:")
        ci = lines.index("  function tokens for repo:org/app:ref:refs/heads/main, from another "
                         "login or token:")
        assert lines[alice + 1].endswith(f"{FN_A[:6]}...{FN_A[-4:]}")
        assert lines[ci + 1].endswith(f"{FN_B[:6]}...{FN_B[-4:]}")
        data = json.loads(run_cli("status", "--json", "-g", GW_A).out)
        assert sorted(t["subject"] for t in data["function_tokens"]) == [
            "alice", "repo:org/app:ref:refs/heads/main"]

    def test_one_function_and_subject_from_two_logins_are_told_apart(
        self, run_cli, home: Path
    ) -> None:
        """Issue 22 item 26: logged in again with another client, the same person's tokens
        for one function read as two identical rows; the earlier login's are now apart."""
        now = dict(authority="https://idp.example", client_id="faasauth-cli",
                   issuer="https://idp.example", subject="alice")
        store_login(home, GW_A, ID_TOKEN_A, grant="device", **now)
        store_function_token(home, GW_A, FN_A, ["dev:figlet"], subject="alice",
                             identity=login_identity(**now))
        store_function_token(home, GW_A, FN_B, ["dev:figlet"], subject="alice",
                             identity=login_identity(**{**now, "client_id": "faasauth"}))
        lines = run_cli("status", "-g", GW_A).out.splitlines()
        ours = lines.index("  function tokens for alice:")
        earlier = lines.index("  function tokens for alice, from another login or token:")
        assert lines[ours + 1].startswith("    dev:figlet ") and lines[ours + 1].endswith(FN_A[-4:])
        assert lines[earlier + 1].startswith("    dev:figlet ")
        assert lines[earlier + 1].endswith(FN_B[-4:])
        assert "  grant      device_code" in lines  # as `auth --grant` names it
        data = json.loads(run_cli("status", "--json", "-g", GW_A).out)
        assert data["current_login"]["grant"] == "device_code"
        assert sorted((t["token"][-4:], t["from_login"]) for t in data["function_tokens"]) == \
            sorted([(FN_A[-4:], True), (FN_B[-4:], False)])

    def test_keyring_available_is_known_with_tokens_or_without(
        self, run_cli, home: Path, install_keyring
    ) -> None:
        """Issue 22 item 26: `keyring_available` was null before the first login and false
        after it, for the same machine."""
        from foundation.keyring_backends import FailingKeyring, MemoryKeyring

        install_keyring(FailingKeyring())
        empty = json.loads(run_cli("status", "--json", "-g", GW_A).out)["store"]
        store_login(home, GW_A, ID_TOKEN_A)
        stored = json.loads(run_cli("status", "--json", "-g", GW_A).out)["store"]
        assert empty["keyring_available"] is False and stored["keyring_available"] is False
        install_keyring(MemoryKeyring())
        assert json.loads(run_cli("status", "--json").out)["store"]["keyring_available"] is True

    def test_a_token_cached_before_subjects_were_kept_shows_its_own(
        self, run_cli, home: Path
    ) -> None:
        own = make_jwt({"sub": "bob", "aud": ["dev:figlet"], "exp": 4102444800})
        store_function_token(home, GW_A, own, ["dev:figlet"])
        assert "  function tokens for bob:" in run_cli("status", "-g", GW_A).out

    def test_json_is_ascii(self, run_cli, two_gateways: Path) -> None:
        result = run_cli("status", "--json", "-g", GW_A)
        assert result.out.isascii()
        tokens = [t["token"] for t in json.loads(result.out)["function_tokens"]]
        assert f"{FN_A[:6]}...{FN_A[-4:]}" in tokens

    def test_keyring_suggested_only_where_one_answers(
        self, run_cli, two_gateways: Path, install_keyring
    ) -> None:
        from foundation.keyring_backends import FailingKeyring, MemoryKeyring

        install_keyring(FailingKeyring())
        without = run_cli("status", "-g", GW_A).err
        assert "plain files" in without and "keyring" not in without
        install_keyring(MemoryKeyring())
        with_one = run_cli("status", "-g", GW_A).err
        assert with_one.startswith("faasauth: warning: tokens are kept in plain files")
        assert "an OS keyring answers here: FAASAUTH_TOKEN_STORE=keyring" in with_one


class TestStatusFaasCli:
    """Issue 22, item 31: the faas-cli entry `auth --faas-cli` wrote from a login, as the
    stored record says and the file shows (what a sandbox run shows is in
    ambient/test_faas_cli_renewal.py)."""

    API = "api-token-for-faas-cli-0123456789"

    def _entry(self, api_left: float | None, token: str | None = None) -> Any:
        import hashlib

        from faasauth.tokens.login import FaasCliEntry

        config = Path(os.environ["OPENFAAS_CONFIG"]) / "config.yml"
        config.write_text(f"auths:\n- gateway: {GW_A}\n  auth: oauth2\n  token: {self.API}\n"
                          "  options:\n  - name: written_by\n    value: faasauth\n")
        digest = hashlib.sha256((token or self.API).encode()).hexdigest()
        return FaasCliEntry(str(config), digest,
                            None if api_left is None else time.time() + api_left)

    def _lines(self, run_cli) -> list[str]:
        lines: list[str] = run_cli("status", "-g", GW_A).out.splitlines()
        at = next(i for i, line in enumerate(lines) if line.startswith("  faas-cli   "))
        return lines[at:at + 2]

    def test_expired_renews_with_the_login(self, run_cli, home: Path) -> None:
        entry = self._entry(-5)
        store_login(home, GW_A, ID_TOKEN_B, refresh_token=REFRESH, faas_cli=entry)
        assert self._lines(run_cli) == [
            f"  faas-cli   {entry.config}",
            "             API token expired; renewed as faasauth next uses the login"]
        shown = json.loads(run_cli("status", "--json", "-g", GW_A).out)["current_login"]
        assert shown["faas_cli"]["expired"] is True and shown["faas_cli"]["state"] == "renewed"
        assert shown["faas_cli"]["expires_in"] <= -5

    def test_with_a_login_that_cannot_renew_says_what_to_run(self, run_cli, home: Path) -> None:
        store_login(home, GW_A, ID_TOKEN_B, expires_in=-10, faas_cli=self._entry(100))
        line = self._lines(run_cli)[1]
        assert line.startswith("             API token expires in 1m3")
        assert line.endswith("s; then: faasauth auth --faas-cli")

    def test_unknown_expiry(self, run_cli, home: Path) -> None:
        store_login(home, GW_A, ID_TOKEN_B, faas_cli=self._entry(None))
        assert self._lines(run_cli)[1].endswith("expiry unknown; renewed with the login")

    def test_an_entry_holding_another_token_is_not_renewed(self, run_cli, home: Path) -> None:
        store_login(home, GW_A, ID_TOKEN_B, faas_cli=self._entry(100, token="another-token"))
        assert self._lines(run_cli)[1] == (
            "             its entry holds another token now (faas-cli login?): not renewed")
        assert self.API not in run_cli("status", "--json", "-g", GW_A).out

    def test_a_damaged_record_leaves_the_login(self, run_cli, home: Path) -> None:
        from faasauth.store.cache import login_key

        store_login(home, GW_A, ID_TOKEN_B, faas_cli=self._entry(100))
        store = FileStore(Home(home))
        value = store.get(login_key(GW_A))
        assert value is not None
        value["faas_cli"]["token_sha256"] = "not a digest"
        store.put(login_key(GW_A), value)
        result = run_cli("status", "--json", "-g", GW_A)
        assert result.code == 0
        assert json.loads(result.out)["current_login"]["faas_cli"] is None


class TestLogout:
    def test_one_gateway_leaves_the_other(self, run_cli, two_gateways: Path, home: Path) -> None:
        (home / BACKEND_STATE).write_text('{"backend": "file"}')
        result = run_cli("logout", "-g", GW_A + "/")
        assert result.code == 0
        assert result.err.strip() == f"Removed the login for {GW_A} and 1 cached function token."
        assert result.out == ""
        remaining = FileStore(Home(home)).keys()
        assert remaining and all(GW_B in key and GW_A not in key for key in remaining)
        assert len(remaining) == 2
        assert (home / BACKEND_STATE).read_text() == '{"backend": "file"}'
        assert run_cli("status", "-g", GW_A).code == 4
        assert run_cli("status", "-g", GW_B).code == 0

    def test_gateway_from_the_environment(self, run_cli, two_gateways: Path, home: Path, monkeypatch) -> None:
        monkeypatch.setenv("OPENFAAS_URL", GW_B)
        assert run_cli("logout").code == 0
        assert all(GW_A in key for key in FileStore(Home(home)).keys())

    def test_all(self, run_cli, two_gateways: Path, home: Path) -> None:
        result = run_cli("logout", "--all")
        assert result.code == 0
        assert result.err.strip() == (
            "Removed the logins for 2 gateways and 2 cached function tokens.")
        assert FileStore(Home(home)).keys() == []
        assert list((home / "tokens").glob("*.json")) == []

    def test_says_what_it_removed_in_words(self, run_cli, home: Path) -> None:
        store_function_token(home, GW_A, FN_A, ["dev:figlet"])
        result = run_cli("logout", "-g", GW_A)
        assert result.err.strip() == f"Removed 1 cached function token for {GW_A}."

    def test_nothing_stored(self, run_cli) -> None:
        result = run_cli("logout", "-g", GW_A)
        assert (result.code, result.err.strip()) == (
            0, f"Nothing to remove: no login or function token is stored for {GW_A}.")

    def test_all_and_gateway_together_is_exit_2(self, run_cli, two_gateways: Path, home: Path) -> None:
        before = snapshot(home)
        result = run_cli("logout", "--all", "-g", GW_A)
        assert result.code == 2 and "either --gateway or --all" in result.err
        assert snapshot(home) == before

    def test_only_faasauth_entries_are_touched(
        self, run_cli, two_gateways: Path, home: Path, tmp_path: Path
    ) -> None:
        config = Path(os.environ["OPENFAAS_CONFIG"]) / "config.yml"
        config.write_text(f"auths:\n- gateway: {GW_A}\n  auth: oauth2\n  token: faas-cli-token\n")
        foreign = home / "tokens" / "notes.txt"
        foreign.write_text("mine")
        run_cli("logout", "--all")
        assert config.read_text().endswith("token: faas-cli-token\n")
        assert foreign.read_text() == "mine"

    def test_keyring_backend(self, run_cli, memory_keyring, monkeypatch, home: Path) -> None:
        from faasauth.tokens.login import Login
        from faasauth.store.cache import login_key
        from faasauth.store.choice import open_store

        monkeypatch.setenv("FAASAUTH_TOKEN_STORE", "keyring")
        store = open_store(Home(home), "keyring")
        for gw in (GW_A, GW_B):
            store.put(login_key(gw), Login(gateway=gw, id_token=ID_TOKEN_B).to_entry())
        assert run_cli("logout", "-g", GW_A).code == 0
        assert [key for _, key in memory_keyring.items] == [login_key(GW_B)]
        assert store.keys() == [login_key(GW_B)]
        assert run_cli("logout", "--all").code == 0
        assert memory_keyring.items == {} and store.keys() == []
