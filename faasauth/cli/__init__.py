"""The command line: click only. Nothing outside this package imports it.

    about          what `faasauth --version` prints: the lines a bug report needs
    app            the `faasauth` group (commands loaded lazily) and main(): the one place
                   an error becomes a message and an exit code
    options        options shared by several commands, and building the Runtime
    params         click parameter types: -H, --query, --audience
    completion     shell completion scripts and the values TAB asks for
    render         what commands print on stdout (tokens, status)
    device_prompt  the device-grant prompt on stderr, and the browser rule
    browser_prompt the browser login's link on stderr, and opening the browser
    qr             the device grant's link as a QR code on a terminal (segno, lazily)
    clipboard      --copy-code: a local clipboard tool, or OSC 52 over SSH
    commands/      one module per command: options -> one request -> one flow -> render

`main` imports click only when the command is not handed to a proxy (faasauth.proxy.thin).
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `import typing`: the thin client is timed
if TYPE_CHECKING:
    from typing import Any


def main(argv: list[str] | None = None) -> None:
    """The console script. `faasauth invoke` with a running proxy (FAASAUTH_PROXY) is handed
    to it before click is even imported (faasauth.proxy.thin); all else runs here."""
    if argv is None:
        import sys

        from faasauth.proxy.thin import exit_now, run, wants_handoff

        if wants_handoff(sys.argv[1:]):
            from faasauth._version import __version__

            code = run(sys.argv[1:], __version__)
            if code is not None:
                exit_now(code)
    from faasauth.cli.app import main as run_here

    run_here(argv)


def __getattr__(name: str) -> Any:
    if name == "cli":
        from faasauth.cli.app import cli

        return cli
    raise AttributeError(f"module 'faasauth.cli' has no attribute {name!r}")


__all__ = ["cli", "main"]
