"""The device grant, finished: its link as a QR code on a terminal big enough (never in plain
output), and --copy-code (a clipboard tool here, OSC 52 over SSH)."""

from __future__ import annotations

import base64
import io
import os
import sys
from pathlib import Path

import pytest

from faasauth.cli.clipboard import copy_text
from faasauth.cli.device_prompt import PlainPrompt, TerminalPrompt
from faasauth.cli.qr import qr_lines
from faasauth.idp.prompts import DeviceCode

LINK = "http://127.0.0.1:8080/device?user_code=WDJB-MJHT"
CODE = DeviceCode("device-secret", "WDJB-MJHT", "http://127.0.0.1:8080/device", LINK, 600, 5)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def modules(lines: list[str]) -> list[list[int]]:
    """The module matrix back from the half blocks."""
    top = {" ": 0, "▄": 0, "▀": 1, "█": 1}
    bottom = {" ": 0, "▀": 0, "▄": 1, "█": 1}
    rows: list[list[int]] = []
    for line in lines:
        rows.append([top[c] for c in line])
        rows.append([bottom[c] for c in line])
    return rows


def test_the_qr_code_is_the_link_with_its_finder_patterns() -> None:
    import segno

    lines = qr_lines(LINK)
    matrix = modules(lines)
    expected = [[int(bool(m)) for m in row]
                for row in segno.make(LINK, error="l", micro=False).matrix_iter(border=2)]
    assert matrix[: len(expected)] == expected
    assert len(lines) == (len(expected) + 1) // 2 and len(lines[0]) == len(expected[0])
    finder = [[1] * 7] + [[1, 0, 0, 0, 0, 0, 1]] + [[1, 0, 1, 1, 1, 0, 1]] * 3 + [
        [1, 0, 0, 0, 0, 0, 1]] + [[1] * 7]
    size = len(expected) - 4
    for r, c in ((2, 2), (2, 2 + size - 7), (2 + size - 7, 2)):  # the three corners
        assert [row[c:c + 7] for row in matrix[r:r + 7]] == finder


def test_the_qr_code_scans() -> None:
    """Drawn back as pixels from the half blocks, an independent decoder reads the link."""
    zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp is not installed "
                                   "(pip install -e '.[test]')")
    rows, scale, pad = modules(qr_lines(LINK)), 8, 4
    width, height = (len(rows[0]) + 2 * pad) * scale, (len(rows) + 2 * pad) * scale
    pixels = bytearray([255]) * (width * height)
    for r, row in enumerate(rows):
        for c, dark in enumerate(row):
            for y in range((r + pad) * scale, (r + pad + 1) * scale) if dark else ():
                start = y * width + (c + pad) * scale
                pixels[start:start + scale] = bytes(scale)
    image = memoryview(bytes(pixels)).cast("B", (height, width))
    assert [b.text for b in zxingcpp.read_barcodes(image)] == [LINK]


def terminal_prompt(width: int, height: int, qr: bool = True) -> tuple[TerminalPrompt, io.StringIO]:
    from rich.console import Console

    out = io.StringIO()
    prompt = TerminalPrompt(qr=qr)
    prompt.console = Console(file=out, width=width, height=height, force_terminal=True,
                             color_system="standard")
    return prompt, out


def test_a_big_terminal_shows_the_qr_code() -> None:
    prompt, out = terminal_prompt(100, 50)
    prompt.show(CODE)
    prompt.close(False)
    assert "scan it with a phone" in out.getvalue() and "▀" in out.getvalue()


@pytest.mark.parametrize(("width", "height", "qr"), [(20, 50, True), (100, 20, True),
                                                       (100, 50, False)])
def test_no_qr_code_when_small_or_asked_not_to(width: int, height: int, qr: bool) -> None:
    prompt, out = terminal_prompt(width, height, qr)
    prompt.show(CODE)
    prompt.close(False)
    assert "▀" not in out.getvalue() and "WDJB-MJHT" in out.getvalue()


def test_plain_output_never_has_a_qr_code(capsys: pytest.CaptureFixture[str]) -> None:
    PlainPrompt(sleep=lambda s: None).show(CODE)
    err = capsys.readouterr().err
    assert "WDJB-MJHT" in err and "▀" not in err and "\x1b" not in err


def fake_tool(tmp_path: Path, name: str) -> Path:
    """A clipboard tool that keeps what it is given in a file."""
    tool = tmp_path / "bin" / name
    tool.parent.mkdir(exist_ok=True)
    kept = tmp_path / "clipboard"
    tool.write_text(f"#!{sys.executable}\nimport sys\n"
                    f"open({str(kept)!r}, 'w').write(sys.stdin.read())\n")
    tool.chmod(0o755)
    return kept


def only_in(folder: Path):  # a `which` that sees only the fake tools
    return lambda name: str(folder / name) if (folder / name).exists() else None


@pytest.mark.parametrize(("tool", "env"), [("xclip", {"DISPLAY": ":0"}),
                                           ("xsel", {"DISPLAY": ":0"}),
                                           ("wl-copy", {"WAYLAND_DISPLAY": "wayland-0"})])
def test_a_local_clipboard_tool_gets_the_code(tmp_path: Path, tool: str,
                                              env: dict[str, str]) -> None:
    kept = fake_tool(tmp_path, tool)
    assert copy_text("WDJB-MJHT", env, platform="linux", which=only_in(tmp_path / "bin"),
                     terminal=Terminal()) == tool
    assert kept.read_text() == "WDJB-MJHT"


def test_pbcopy_on_macos(tmp_path: Path) -> None:
    kept = fake_tool(tmp_path, "pbcopy")
    assert copy_text("WDJB-MJHT", {}, platform="darwin",
                     which=only_in(tmp_path / "bin")) == "pbcopy"
    assert kept.read_text() == "WDJB-MJHT"


def test_over_ssh_the_terminal_is_asked_by_osc52(tmp_path: Path) -> None:
    kept = fake_tool(tmp_path, "xclip")  # the remote machine's clipboard is not the person's
    terminal = Terminal()
    env = {"DISPLAY": ":0", "SSH_CONNECTION": "10.0.0.1 5555 10.0.0.2 22"}
    assert copy_text("WDJB-MJHT", env, platform="linux", which=only_in(tmp_path / "bin"),
                     terminal=terminal) == "OSC 52"
    assert terminal.getvalue() == "\x1b]52;c;" + base64.b64encode(b"WDJB-MJHT").decode() + "\x07"
    assert not kept.exists()


def test_nothing_to_copy_with_is_said(tmp_path: Path) -> None:
    assert copy_text("WDJB-MJHT", {}, platform="linux", which=lambda name: None,
                     terminal=io.StringIO()) is None


def test_copy_code_in_the_prompt(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    kept = fake_tool(tmp_path, "xclip")
    monkeypatch.setenv("PATH", str(tmp_path / "bin") + os.pathsep + os.environ["PATH"])
    PlainPrompt(sleep=lambda s: None, copy_from={"DISPLAY": ":0"}).show(CODE)
    assert "Copied the code to the clipboard (xclip)." in capsys.readouterr().err
    assert kept.read_text() == "WDJB-MJHT"


def test_a_link_too_long_for_a_qr_code_is_shown_without_one() -> None:
    """A 4 KB link (issue 21, finding 13) once crashed segno (DataOverflowError, exit 5)."""
    long_link = LINK + "&pad=" + "x" * 4096
    assert qr_lines(long_link) == []
    code = DeviceCode("device-secret", "WDJB-MJHT", CODE.verification_uri, long_link, 600, 5)
    prompt, out = terminal_prompt(300, 300)
    prompt.show(code)
    prompt.close(False)
    text = out.getvalue()
    assert "too long for a QR code" in text and "▀" not in text and "WDJB-MJHT" in text
