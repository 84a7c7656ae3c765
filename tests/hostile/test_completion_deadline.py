"""Issue 21, findings 6 and 18: a TAB never waits on a slow gateway, nor trips on its cache.

6. Completion's function list had a 1 s limit per read, so a gateway dripping its headers
   or body held a TAB for as long as it liked, and every TAB after it. Now one deadline
   (LIST_TIMEOUT, about a second) bounds the whole listing by the clock, and a failure to
   answer is cached like an answer, for less time (FAILURE_TTL).
18. A damaged completion cache (`"at": "soon"`) printed `internal error: ValueError`
   during TAB. Any cache that is not what faasauth wrote is a miss, silently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile.server import HostileServer, Request, drip

FUNCTIONS = json.dumps([{"name": "figlet"}, {"name": "nodeinfo"}]).encode()


def headers_forever(request: Request) -> None:
    request.wfile.write(b"HTTP/1.1 200 OK\r\n")
    end = time.monotonic() + 10
    while time.monotonic() < end:
        request.wfile.write(b"X-Drip: 1\r\n")
        request.wfile.flush()
        time.sleep(0.2)


def body_forever(request: Request) -> None:
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\nConnection: close\r\n\r\n[")
    drip(request, head, b" ", every=0.2, seconds=10)


def _tab(words: str, env: dict[str, str], cwd: Path) -> tuple[list[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "faasauth"], cwd=cwd, capture_output=True, text=True,
        timeout=30, env={**env, "_FAASAUTH_COMPLETE": "bash_complete", "COMP_WORDS": words,
                         "COMP_CWORD": str(len(words.split(" ")) - 1)},
    )
    took = time.monotonic() - started
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line], took


def _listings(hostile: HostileServer) -> int:
    return len([r for r in hostile.seen if r.path.startswith("/system/functions")])


# -- 6. one deadline for the whole listing ----------------------------------------------


@pytest.mark.parametrize("slow", [headers_forever, body_forever], ids=["headers", "body"])
def test_a_dripping_gateway_is_given_up_on_at_the_deadline(
    hostile: HostileServer, slow: Any
) -> None:
    from faasauth.gateway.listing import list_functions

    hostile.route("/system/functions")(slow)
    started = time.monotonic()
    assert list_functions(hostile.url, None, authorization=None, timeout=1.0) is None
    assert time.monotonic() - started < 1.5  # each drip is well within a read's timeout


def test_an_answer_in_time_is_still_read(hostile: HostileServer) -> None:
    from faasauth.gateway.listing import list_functions

    def slowish(request: Request) -> None:
        time.sleep(0.3)
        request.send(200, FUNCTIONS)

    hostile.route("/system/functions")(slowish)
    assert list_functions(hostile.url, None, authorization=None,
                          timeout=1.0) == ["figlet", "nodeinfo"]


def test_a_body_that_breaks_the_json_parser_is_no_list(hostile: HostileServer) -> None:
    from faasauth.gateway.listing import list_functions

    hostile.route("/system/functions")(lambda r: r.send(200, b"[" * 200_000))
    assert list_functions(hostile.url, None, authorization=None, timeout=1.0) is None


@pytest.mark.parametrize("slow", [headers_forever, body_forever], ids=["headers", "body"])
def test_a_tab_on_a_dripping_gateway_waits_once_and_not_again(
    hostile: HostileServer, tmp_path: Path, slow: Any
) -> None:
    hostile.route("/system/functions")(slow)
    env = {**os.environ, "OPENFAAS_URL": hostile.url}
    names, took = _tab("faasauth invoke f", env, tmp_path)
    assert names == []
    assert took < 4.0  # start-up plus the one-second deadline, on a loaded machine
    names, again = _tab("faasauth invoke f", env, tmp_path)
    assert names == [] and _listings(hostile) == 1  # the failure was cached
    assert again < took


def test_a_failure_is_kept_for_less_time_than_an_answer() -> None:
    from faasauth.cli.completion import FAILURE_TTL, LIST_TTL, _cached_names

    assert 0 < FAILURE_TTL < LIST_TTL
    now = 1_000_000.0
    failed = {"at": now - FAILURE_TTL - 1, "names": None}
    answered = {"at": now - FAILURE_TTL - 1, "names": ["figlet"]}
    assert _cached_names(failed, now) is None  # asked again
    assert _cached_names(answered, now) == ["figlet"]
    assert _cached_names({"at": now - 1, "names": None}, now) == []  # not asked again
    assert _cached_names({"at": now - LIST_TTL - 1, "names": ["figlet"]}, now) is None
    assert _cached_names({"at": now + 5, "names": ["figlet"]}, now) is None  # from the future


# -- 18. a damaged cache is a miss -------------------------------------------------------


def _key(gateway: str) -> str:
    return f"{gateway}  without credential"


ENTRIES: dict[str, Any] = {
    "at-soon": {"at": "soon", "names": ["stale"]},
    "at-null": {"at": None, "names": ["stale"]},
    "at-list": {"at": [1], "names": ["stale"]},
    "at-true": {"at": True, "names": ["stale"]},
    "at-huge-int": {"at": 10**400, "names": ["stale"]},
    "names-text": {"at": "NOW", "names": "stale"},
    "names-numbers": {"at": "NOW", "names": [1, 2]},
    "names-escape": {"at": "NOW", "names": ["\x1b]52;c;eA==\x07"]},
    "names-nested": {"at": "NOW", "names": [["stale"]]},
    "entry-list": ["stale"],
    "entry-text": "stale",
}
FILES: dict[str, bytes] = {
    "not-json": b"{not json",
    "top-level-list": b'[{"at": 1}]',
    "not-utf8": b'{"\xff\xfe": 1}',
    "deeply-nested": b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "empty": b"",
    "infinity": b'{"KEY": {"at": Infinity, "names": ["stale"]}}',
    "nan": b'{"KEY": {"at": NaN, "names": ["stale"]}}',
    "minus-infinity": b'{"KEY": {"at": -1e999, "names": ["stale"]}}',
}


def _write_cache(home: Path, case: str, gateway: str) -> None:
    path = home / "function-lists.json"
    if case in FILES:
        path.write_bytes(FILES[case].replace(b"KEY", _key(gateway).encode()))
        return
    entry = json.loads(json.dumps(ENTRIES[case]).replace('"NOW"', str(time.time())))
    path.write_text(json.dumps({_key(gateway): entry, "other gateway": {"at": "x"}}))


@pytest.mark.parametrize("case", sorted(ENTRIES) + sorted(FILES))
def test_a_damaged_cache_is_a_miss_never_an_error(
    hostile: HostileServer, tmp_path: Path, isolated_environment: Path, case: str
) -> None:
    hostile.route("/system/functions")(lambda r: r.send(200, FUNCTIONS))
    _write_cache(isolated_environment, case, hostile.url)
    env = {**os.environ, "OPENFAAS_URL": hostile.url}
    names, _ = _tab("faasauth invoke ", env, tmp_path)
    assert names == ["figlet", "nodeinfo"]  # asked the gateway: the cache was a miss
    assert _listings(hostile) == 1
    # ... and the cache is whole again: the next TAB answers from it.
    names, _ = _tab("faasauth invoke n", env, tmp_path)
    assert names == ["nodeinfo"] and _listings(hostile) == 1


def test_a_cache_that_is_a_directory_or_a_link_is_a_miss(
    hostile: HostileServer, tmp_path: Path, isolated_environment: Path
) -> None:
    hostile.route("/system/functions")(lambda r: r.send(200, FUNCTIONS))
    env = {**os.environ, "OPENFAAS_URL": hostile.url}
    cache = isolated_environment / "function-lists.json"
    cache.mkdir()
    assert _tab("faasauth invoke f", env, tmp_path)[0] == ["figlet"]
    cache.rmdir()
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({_key(hostile.url): {"at": time.time(), "names": ["x"]}}))
    cache.symlink_to(elsewhere)
    assert _tab("faasauth invoke f", env, tmp_path)[0] == ["figlet"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12,
)


ENTRY = JSON | st.fixed_dictionaries({"at": JSON, "names": JSON})


@given(entry=ENTRY)
def test_any_entry_is_names_or_a_miss(entry: Any) -> None:
    from faasauth.cli.completion import _cached_names

    found = _cached_names(entry, time.time())
    assert found is None or all(isinstance(n, str) and n.isprintable() for n in found)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode())
       | st.dictionaries(st.text(max_size=30), ENTRY).map(lambda v: json.dumps(v).encode()))
def test_any_cache_file_lets_completion_answer(
    content: bytes, isolated_environment: Path
) -> None:
    from faasauth.cli.completion import _listed_functions

    (isolated_environment / "function-lists.json").write_bytes(content)
    ctx = SimpleNamespace(params={})  # what _listed_functions reads of click's context
    names = _listed_functions(ctx, "http://127.0.0.1:9")  # type: ignore[arg-type]
    assert isinstance(names, list)
