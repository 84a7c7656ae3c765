"""A server detached from the terminal, as `--background` starts one (the proxy, the
sandbox): forked into its own session, stdin from /dev/null, its output in a log file; it
writes its shell exports to a pipe once it serves, and the parent returns with them.

    run_detached(serve, log_fd, stdout_to_log=...)  ->  (pid, exports, status)

`exports` is what the child wrote before closing the pipe; empty when it failed before
serving, and then `status` is its exit status (else None). A FaasauthError in the child is
said on its log as faasauth says it (`faasauth: ...`, `hint: ...`) and exits with its code;
anything else is a traceback in the log, never a return into the parent's code.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, TextIO

from faasauth.errors import FaasauthError


def run_detached(
    serve: Callable[[TextIO, TextIO], int], log_fd: int, *, stdout_to_log: bool,
    out: TextIO, err: TextIO,
) -> tuple[int, str, int | None]:
    """Fork; the child runs `serve(exports, log)` in a new session (stdout to the log
    when `stdout_to_log`, else /dev/null) and exits with what it returns."""
    read_end, write_end = os.pipe()
    out.flush()
    err.flush()
    pid = os.fork()
    if pid == 0:  # the child: serve until stopped
        code = 1
        try:
            os.close(read_end)
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(log_fd if stdout_to_log else null, 1)
            os.dup2(log_fd, 2)
            log = os.fdopen(log_fd, "w", buffering=1)
            sys.stderr = log
            code = serve(os.fdopen(write_end, "w"), log)
        except FaasauthError as exc:
            print(f"faasauth: {exc.message}", file=sys.stderr)
            if exc.hint:
                print(f"hint: {exc.hint}", file=sys.stderr)
            code = int(exc.exit_code)
        except BaseException:  # never back into the parent's code
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write_end)
    os.close(log_fd)
    with os.fdopen(read_end) as pipe:
        lines = pipe.read()
    if lines.strip():
        return pid, lines, None
    _, status = os.waitpid(pid, 0)
    return pid, "", os.waitstatus_to_exitcode(status)
