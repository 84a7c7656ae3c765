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
"""

from faasauth.cli.app import cli, main

__all__ = ["cli", "main"]
