"""test_invoke_process.py's process tests again, each through a running `faasauth proxy`
for the fake gateway (FAASAUTH_PROXY set): `faasauth invoke` handed over must print the
same bytes, say the same things and exit with the same codes as the direct path.

Left out, as they measure the process itself rather than what it does: which modules the
direct process imports (`_modules_after` runs cli.app.main, never the thin client), the
1 GiB peak memory (the thin client's would be trivially small; the proxy's own is
benchmarks/bench_proxy.py's), and where a first call's spool goes (TMPDIR is honoured by
the command the proxy runs, as test_proxy_handoff checks through the environment).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import test_invoke_process as direct

THROUGH_THE_PROXY = (
    "test_first_and_warm_calls_as_processes",
    "test_messages_and_errors_never_reach_stdout",
    "test_regular_file_stdin_sends_its_length",
    "test_get_with_dev_null",
    "test_terminal_stdin_prompts_on_stderr",
    "test_on_a_terminal_an_error_starts_on_its_own_line",
    "test_in_a_pipe_an_answer_stays_byte_exact",
    "test_broken_pipe_on_stdout_ends_quietly",
    "test_first_call_sends_a_regular_file_twice_without_a_copy",
    "test_32_parallel_first_calls_share_one_exchange",
    "test_usage_errors_exit_2_as_processes",
    "test_a_307_after_a_pipe_sent_without_a_copy_says_so",
)
for _name in THROUGH_THE_PROXY:
    globals()[_name] = getattr(direct, _name)


@pytest.fixture(autouse=True)
def through_a_proxy(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    if request.function.__name__ not in THROUGH_THE_PROXY:
        yield
        return
    request.getfixturevalue("gateway")  # OPENFAAS_URL set before the proxy starts
    log_path = tmp_path_factory.mktemp("proxy") / "log.txt"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "faasauth", "proxy", "--port", "none"],
                                stdout=subprocess.PIPE, stderr=log, env=dict(os.environ))
    assert proc.stdout is not None
    first = proc.stdout.readline().decode()
    assert first.startswith("export FAASAUTH_PROXY="), Path(log_path).read_text()
    monkeypatch.setenv("FAASAUTH_PROXY", first.strip().split("=", 1)[1].strip("'"))
    yield
    proc.terminate()
    assert proc.wait(timeout=40) == 0
    said = Path(log_path).read_text()
    assert "faasauth proxy: ran invoke" in said, said  # the calls were handed over


def test_every_process_test_is_run_or_named_as_left_out() -> None:
    tests = {name for name in dir(direct) if name.startswith("test_")}
    left_out = {"test_warm_path_imports_nothing_heavy", "test_yaml_only_when_a_stack_file_exists",
                "test_one_gib_streams_in_little_memory",
                "test_first_call_from_a_pipe_keeps_its_copy_where_tmpdir_says"}
    assert tests == set(THROUGH_THE_PROXY) | left_out
