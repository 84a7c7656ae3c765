"""A QR code drawn with half blocks on a terminal: the device grant's link for a phone.

segno (pure Python, no dependencies) is imported here only, when a code is drawn: about
10 ms once httpx and rich are loaded (50 ms cold, for its writers' xml/urllib imports);
`qrcode` measured 14 ms in the same place. Dark modules on a light background, whatever
the terminal's colours, with the quiet zone scanners need.
"""

from __future__ import annotations

BORDER = 2  # modules of quiet zone; 4 is the standard's, 2 scans well on a screen


def qr_lines(data: str) -> list[str]:
    """Rows of text, two modules high each: '▀' top dark, '▄' bottom dark, '█' both; none
    when `data` does not fit a QR code (about 2.9 KB at most)."""
    import segno

    try:
        code = segno.make(data, error="l", micro=False)
    except segno.DataOverflowError:
        return []
    rows = [list(row) for row in code.matrix_iter(scale=1, border=BORDER)]
    if len(rows) % 2:
        rows.append([0] * len(rows[0]))
    glyphs = {(0, 0): " ", (1, 0): "▀", (0, 1): "▄", (1, 1): "█"}
    return [
        "".join(glyphs[(bool(top) * 1, bool(bottom) * 1)] for top, bottom in zip(upper, lower))
        for upper, lower in zip(rows[0::2], rows[1::2])
    ]


def fits(lines: list[str], columns: int, rows: int, room: int = 12) -> bool:
    """Whether the code fits the terminal with `room` rows left for the rest of the prompt."""
    return bool(lines) and len(lines[0]) <= columns and len(lines) + room <= rows
