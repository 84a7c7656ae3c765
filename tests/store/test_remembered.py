"""faasauth.store.remembered: functions known to ask for a token."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from faasauth.store.home import Home
from faasauth.store.remembered import STATE_FILE, RememberedFunctions

# -- remembered functions -----------------------------------------------------------------


def test_remember_and_forget(tmp_path: Path) -> None:
    notes = RememberedFunctions(Home(tmp_path / "home"), clock=lambda: 1234.0)
    assert not notes.needs_auth("http://gw", "openfaas-fn:env")  # no home yet: no error
    notes.remember("http://gw", "openfaas-fn:env")
    notes.remember("http://gw", "dev:env")
    notes.remember("https://other", "openfaas-fn:env")
    assert notes.needs_auth("http://gw", "dev:env")
    assert not notes.needs_auth("http://gw", "dev:other")
    assert [(k.gateway, k.target, k.since) for k in notes.known("http://gw")] == [
        ("http://gw", "dev:env", 1234.0), ("http://gw", "openfaas-fn:env", 1234.0)
    ]
    notes.forget("http://gw", "dev:env")
    notes.forget("http://gw", "openfaas-fn:env")
    data = json.loads((tmp_path / "home" / STATE_FILE).read_text())
    assert data == {
        "version": 1, "gateways": {"https://other": {"openfaas-fn:env": {"since": 1234.0}}}
    }


def test_unreadable_notes_are_ignored_and_unwritable_ones_only_warn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / STATE_FILE).write_text("{not json")
    notes = RememberedFunctions(Home(home))
    assert not notes.needs_auth("http://gw", "a:b")
    notes.remember("http://gw", "a:b")
    assert notes.needs_auth("http://gw", "a:b")
    if os.geteuid() != 0:
        home.chmod(0o500)
        try:
            notes.forget("http://gw", "a:b")
        finally:
            home.chmod(0o700)
        assert "cannot forget that a:b needed a token" in capsys.readouterr().err


def test_fresh_for_reads_the_file_again_only_after_that_time(tmp_path: Path) -> None:
    """The proxy's notes: its own changes at once, another process's within fresh_for."""
    import time

    home = Home(tmp_path / "home")
    proxy, other = RememberedFunctions(home, fresh_for=0.3), RememberedFunctions(home)
    assert not proxy.needs_auth("http://gw", "openfaas-fn:env")
    proxy.remember("http://gw", "openfaas-fn:env")
    assert proxy.needs_auth("http://gw", "openfaas-fn:env")  # its own change, at once
    other.forget("http://gw", "openfaas-fn:env")
    assert proxy.needs_auth("http://gw", "openfaas-fn:env")  # read within 0.3 s: kept
    time.sleep(0.35)
    assert not proxy.needs_auth("http://gw", "openfaas-fn:env")  # then read again
    assert not RememberedFunctions(home).needs_auth("http://gw", "openfaas-fn:env")
