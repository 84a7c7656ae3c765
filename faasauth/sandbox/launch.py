"""What `faasauth sandbox` does once its flags are parsed: serve until Ctrl-C, or run a command.

Serving prints `export NAME=value` lines (shell-quoted) on stdout and human notes on
stderr; `--background` serves from a detached child and returns once the exports are known,
so that `eval "$(faasauth sandbox --background)"` works straight through, as ssh-agent does.
The variables include a fresh, temporary FAASAUTH_HOME and FAASAUTH_TOKEN_STORE=file (the
user's store and keyring are never touched), removed when the sandbox stops. Running a
command gives it those variables, and returns its exit status the way a shell would (127 when it cannot be found, 128+N when signal N ended it).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from faasauth.console import terminal_width, wrap
from faasauth.sandbox.ci import describe as ci_describe
from faasauth.sandbox import user_functions
from faasauth.sandbox.core import Sandbox
from faasauth.sandbox.functions import Function


# Where a banner line's value starts: "faasauth sandbox: " and a label of ten columns.
BANNER_INDENT = " " * 28


@dataclass(frozen=True)
class Options:
    port: int = 0
    iam: str | None = None
    stack: str | None = None
    auto_approve: bool = False
    latency_ms: int = 0
    watchdog: str = "released"
    quiet: bool = False
    ci: str | None = None
    ci_repository: str | None = None
    ci_token_ttl: float | None = None
    ci_token_file: str | None = None
    tls: bool = False
    functions: tuple[Function, ...] = ()  # the user's own (--function, --function-exec)


def start(options: Options, err: TextIO) -> Sandbox:
    sandbox = Sandbox(
        port=options.port,
        iam=options.iam,
        stack=options.stack,
        auto_approve=options.auto_approve,
        latency_ms=options.latency_ms,
        watchdog=options.watchdog,
        tls=options.tls,
        functions=options.functions,
        log=None if options.quiet else err,
        **ci_options(options),
    )
    sandbox.start()
    for warning in sandbox.iam_warnings:
        print(f"faasauth sandbox: warning: {warning}", file=err)
    return sandbox


def ci_options(options: Options) -> dict[str, Any]:
    """Sandbox keyword arguments for `--ci` and its companions (sandbox/ci.py)."""
    if options.ci is None:
        return {}
    chosen = {
        "ci_repository": options.ci_repository,
        "ci_token_ttl": options.ci_token_ttl,
        "ci_token_file": options.ci_token_file,
    }
    return {"ci": options.ci, **{k: v for k, v in chosen.items() if v is not None}}


def describe(sandbox: Sandbox) -> list[str]:
    functions = ", ".join(
        f.name
        + ("" if f.namespace == "openfaas-fn" else f".{f.namespace}")
        + (" (jwt_auth)" if f.jwt_auth else "")
        for f in sandbox.functions
    )
    return [
        f"gateway   {sandbox.gateway_url}   functions: {functions}",
        f"IdP       {sandbox.authority}   device login page: {sandbox.authority}/device, "
        f"browser login: {sandbox.authority}/authorize"
        + ("   (auto-approve)" if sandbox.auto_approve else ""),
        f"clients   {sandbox.client_id} (confidential, secret in FAASAUTH_CLIENT_SECRET), "
        f"{sandbox.public_client_id} (public, device grant); both: browser login with PKCE, "
        "redirect http://127.0.0.1:PORT/oauth/callback (any PORT)",
        f"admin     {sandbox.env()['OPENFAAS_USERNAME']} (basic auth for the /system API and "
        "faas-cli login; password in OPENFAAS_PASSWORD)",
        f"requests  {sandbox.gateway_url}/_sandbox/requests"
        f"   started in {sandbox.started_in_ms:.0f} ms",
    ] + [
        f"yours     {f.name}{'' if f.namespace == 'openfaas-fn' else '.' + f.namespace} -> "
        f"{user_functions.describe(f)}" + (" (jwt_auth)" if f.jwt_auth else " (open)")
        for f in sandbox.own_functions
    ] + ([ci_describe(sandbox.ci)] if sandbox.ci_platform else []) + (
        [f"TLS       CA certificate {sandbox.ca_file} (SSL_CERT_FILE, REQUESTS_CA_BUNDLE, "
         "CURL_CA_BUNDLE, NODE_EXTRA_CA_CERTS; or --cacert)"]
        if sandbox.ca_file
        else []
    )


def serve(
    options: Options, *, out: TextIO, err: TextIO, stop: threading.Event | None = None,
    close_out: bool = False,
) -> int:
    """Serve until Ctrl-C (130, as the README's exit table says) or SIGTERM (or `stop` is
    set; 0). With `close_out`, `out` is closed once the exports are written: its reader
    sees the end of them."""
    stopping = stop or threading.Event()
    status = 0
    # signals are handled from before the first line is printed: whoever reads the exports
    # may stop the sandbox at once
    with _on_signal(signal.SIGTERM, stopping.set):
        sandbox = start(options, err)
        try:
            for name, value in sandbox.env().items():
                print(f"export {name}={shlex.quote(value)}", file=out)
            out.flush()
            if close_out:
                out.close()
            # On a terminal each line wraps at spaces, under its value: never inside a URL.
            width = terminal_width(err)
            for line in describe(sandbox):
                print(wrap(f"faasauth sandbox: {line}", width, BANNER_INDENT), file=err)
            print("faasauth sandbox: serving; Ctrl-C to stop", file=err, flush=True)
            while not stopping.wait(1.0):
                pass
        except KeyboardInterrupt:
            status = 130
        finally:
            sandbox.stop()
    print("faasauth sandbox: stopped", file=err, flush=True)
    return status


def run_command(options: Options, argv: Sequence[str], *, err: TextIO) -> int:
    """Run argv against a fresh sandbox; its exit status."""
    sandbox = start(options, err)
    env = {**os.environ, **sandbox.env()}  # its throw-away FAASAUTH_HOME included
    try:
        if not options.quiet:
            print(
                f"faasauth sandbox: gateway {sandbox.gateway_url}, IdP {sandbox.authority}; "
                f"running: {shlex.join(argv)}",
                file=err,
                flush=True,
            )
        try:
            child = subprocess.Popen(list(argv), env=env)
        except FileNotFoundError:
            print(f"faasauth sandbox: {argv[0]}: command not found", file=err)
            return 127
        except OSError as exc:
            print(f"faasauth sandbox: {argv[0]}: {exc.strerror or exc}", file=err)
            return 126
        # Ctrl-C reaches the child through the terminal's process group: let it decide, and
        # report what it does. A SIGTERM sent to the sandbox alone is passed on.
        with _on_signal(signal.SIGINT, lambda: None), _on_signal(signal.SIGTERM, child.terminate):
            status = child.wait()
        return status if status >= 0 else 128 - status
    finally:
        sandbox.stop()


@contextmanager
def _on_signal(signum: int, action: Callable[[], Any]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signum, lambda *_: action())
    try:
        yield
    finally:
        signal.signal(signum, previous)


def serve_in_background(options: Options, *, out: TextIO, err: TextIO) -> int:
    """Serve from a detached child (its own session, stdin from /dev/null, its log in a
    private temporary file); print its exports and FAASAUTH_SANDBOX_PID once it serves.
    A child that fails to start: its log on stderr, and its exit status."""
    if not hasattr(os, "fork"):
        print("faasauth sandbox: --background needs fork(); run it in another terminal",
              file=err)
        return 2
    log_fd, log_path = tempfile.mkstemp(prefix="faasauth-sandbox-", suffix=".log")
    from faasauth.detach import run_detached

    def serve_detached(exports: TextIO, log: TextIO) -> int:
        code = serve(options, out=exports, err=log, close_out=True)
        if code == 0:  # stopped cleanly: nothing left to look into
            os.unlink(log_path)
        return code

    pid, lines, status = run_detached(serve_detached, log_fd, stdout_to_log=True,
                                      out=out, err=err)
    if status is not None:
        with open(log_path, encoding="utf-8", errors="replace") as log:
            err.write(log.read())
        os.unlink(log_path)
        return status if status > 0 else 3
    out.write(lines)
    out.write(f"export FAASAUTH_SANDBOX_PID={pid}\n")
    out.flush()
    print(f"faasauth sandbox: serving in the background as process {pid} (log: {log_path}); "
          "stop it with: kill $FAASAUTH_SANDBOX_PID", file=err, flush=True)
    return 0
