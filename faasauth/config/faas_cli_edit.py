"""Editing faas-cli's config.yml: one `auths:` entry added, replaced or removed as text,
every other byte kept (see faasauth.config.faas_cli for where the file is and what it holds).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faasauth.config.faas_cli import (
    MARK,
    OAUTH2,
    PLAIN,
    is_mark,
    parse,
    read_text,
    same_gateway,
)
from faasauth.config.settings import normalise_gateway
from faasauth.errors import UsageFailure

if TYPE_CHECKING:
    import yaml

# The temporary files an edit writes before its rename; one a killed writer left holds
# every token of the file (faasauth.flows.faas_cli removes stale ones).
TEMPORARY = ".config.yml.*.tmp"


def temporary_directory(path: Path) -> Path:
    """Where an edit of `path` makes its temporary file: beside the real file."""
    return Path(os.path.realpath(path)).parent


# -- editing --------------------------------------------------------------------------


def write_entry(path: Path, gateway: str, token: str) -> str:
    """Add or replace the `auth: oauth2` entry for `gateway`, marked as faasauth's.

    Options of a replaced entry other than the mark are kept. Returns "added", "replaced"
    (an entry faasauth had not written) or "updated" (faasauth's own).
    """
    import yaml

    gateway = normalise_gateway(gateway)
    text = read_text(path)
    data, root = parse(text, path)
    newline = "\r\n" if "\r\n" in text else "\n"
    auths_key, auths = _auths(root, path)
    found = _find(auths, gateway)
    options = [MARK]
    action = "added"
    if found is not None:
        old = _first_entry(data, gateway) or {}
        old_options = old.get("options") if isinstance(old.get("options"), list) else None
        kept = [o for o in old_options or [] if isinstance(o, dict) and not is_mark(o)]
        action = "updated" if any(is_mark(o) for o in old_options or []) else "replaced"
        options = kept + [MARK]
    entry = {"gateway": gateway, "auth": OAUTH2, "token": token, "options": options}

    if found is not None:
        start, end = found.start_mark.index, _content_end(found, text)
        column = found.start_mark.column
        new_text = text[:start] + _render(entry, column, newline) + text[end:]
    elif isinstance(auths, yaml.SequenceNode) and auths.value and not auths.flow_style:
        last = auths.value[-1]
        column = last.start_mark.column
        dash = _dash_column(text, last)
        at = _line_end(text, _content_end(last, text))
        item = " " * dash + "- " + " " * (column - dash - 2) + _render(entry, column, newline)
        new_text = text[:at] + newline + item + text[at:]
    elif auths_key is not None:  # `auths:` empty (null or []): its value becomes the list
        assert auths is not None
        key_end = auths_key.end_mark.index
        value_end = max(auths.end_mark.index, key_end)
        indent = auths_key.start_mark.column + 2
        item = _render(entry, indent + 2, newline)
        new_text = text[:key_end] + ":" + newline + " " * indent + "- " + item + text[value_end:]
    else:  # no auths: key (or no file): faas-cli's own layout, at the end
        body = "auths:" + newline + "  - " + _render(entry, 4, newline) + newline
        sep = "" if not text or text.endswith(("\n", "\r")) else newline
        new_text = text + sep + body

    expected = _replaced(data, gateway, entry)
    _check(new_text, expected, path)
    _write_atomically(path, new_text)
    return action


def remove_entry(path: Path, gateway: str) -> bool:
    """Remove the entry for `gateway` if faasauth wrote it (its mark is there); True if so.

    A file faasauth cannot parse or edit safely is a UsageFailure, the file untouched.
    """
    import yaml

    gateway = normalise_gateway(gateway)
    text = read_text(path)
    if not text:
        return False
    data, root = parse(text, path)
    auths_key, auths = _auths(root, path)
    found = _find(auths, gateway)
    if found is None:
        return False
    entry = _first_entry(data, gateway)
    options = entry.get("options") if entry else None
    if not isinstance(options, list) or not any(is_mark(o) for o in options):
        return False
    assert auths_key is not None and isinstance(auths, yaml.SequenceNode)
    end = _line_end(text, _content_end(found, text))
    if len(auths.value) == 1:  # the list becomes empty, written as faas-cli writes it
        new_text = text[: auths_key.end_mark.index] + ": []" + text[end:]
    else:
        line_start = text.rfind("\n", 0, found.start_mark.index) + 1
        if text[line_start : found.start_mark.index].strip() != "-":
            raise _unusual(path, "the entry does not start its own line")
        end = end + 2 if text.startswith("\r\n", end) else end + 1 if end < len(text) else end
        new_text = text[:line_start] + text[end:]
    remaining = [i for i in data["auths"] if i is not entry]
    _check(new_text, {**data, "auths": remaining}, path)
    _write_atomically(path, new_text)
    return True


def _first_entry(data: Any, gateway: str) -> dict[str, Any] | None:
    auths = data.get("auths") if isinstance(data, dict) else None
    for item in auths if isinstance(auths, list) else []:
        if isinstance(item, dict) and same_gateway(item.get("gateway"), gateway):
            return item
    return None


def _auths(root: yaml.Node | None, path: Path) -> tuple[yaml.Node | None, yaml.Node | None]:
    import yaml

    if root is None:
        return None, None
    if not isinstance(root, yaml.MappingNode):
        raise _unusual(path, "it is not a YAML mapping")
    if root.flow_style:
        raise _unusual(path, "it is a flow-style mapping")
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "auths":
            if isinstance(value, yaml.SequenceNode) and value.flow_style and value.value:
                raise _unusual(path, "its auths: is a flow-style list")
            if not isinstance(value, yaml.SequenceNode) and not _is_empty(value):
                raise _unusual(path, "its auths: is not a list")
            return key, value
    return None, None


def _is_empty(node: yaml.Node) -> bool:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return not node.value
    return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")


def _find(auths: yaml.Node | None, gateway: str) -> yaml.MappingNode | None:
    import yaml

    if not isinstance(auths, yaml.SequenceNode):
        return None
    for item in auths.value:
        if not isinstance(item, yaml.MappingNode):
            continue
        for key, value in item.value:
            if getattr(key, "value", None) == "gateway" and isinstance(value, yaml.ScalarNode):
                if same_gateway(value.value, gateway):
                    return item
    return None


def _content_end(node: yaml.Node, text: str) -> int:
    """Where a node's own text ends (PyYAML's block end marks run on to the next token)."""
    import yaml

    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style:
        if not node.value:
            return int(node.end_mark.index)
        last = node.value[-1]
        return _content_end(last[1] if isinstance(last, tuple) else last, text)
    start, end = int(node.start_mark.index), int(node.end_mark.index)
    return start + len(text[start:end].rstrip())


def _line_end(text: str, position: int) -> int:
    found = text.find("\n", position)
    if found < 0:
        return len(text)
    return found - 1 if found > 0 and text[found - 1] == "\r" else found


def _dash_column(text: str, item: yaml.Node) -> int:
    line_start = text.rfind("\n", 0, item.start_mark.index) + 1
    dash = text.find("-", line_start, item.start_mark.index)
    return dash - line_start if dash >= 0 else max(item.start_mark.column - 2, 0)


def _scalar(value: str) -> str:
    import json

    import yaml

    if PLAIN.fullmatch(value):
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value)  # a JSON string is a YAML double-quoted scalar


def _render(entry: Mapping[str, Any], column: int, newline: str) -> str:
    """The entry as a block mapping whose first line follows `- ` and whose keys sit at
    `column`; no final line break."""
    pad = " " * column
    lines = [
        f"gateway: {_scalar(entry['gateway'])}",
        f"{pad}auth: {_scalar(entry['auth'])}",
        f"{pad}token: {_scalar(entry['token'])}",
        f"{pad}options:",
    ]
    for option in entry["options"]:
        first = True
        for name, value in option.items():
            lead = f"{pad}  - " if first else f"{pad}    "
            lines.append(f"{lead}{_scalar(str(name))}: {_scalar(str(value))}")
            first = False
    return newline.join(lines)


def _replaced(data: Any, gateway: str, entry: Mapping[str, Any]) -> Any:
    document = dict(data) if isinstance(data, dict) else {}
    auths = list(document.get("auths") or [])
    for index, item in enumerate(auths):
        if isinstance(item, dict) and same_gateway(item.get("gateway"), gateway):
            auths[index] = dict(entry)
            break
    else:
        auths.append(dict(entry))
    document["auths"] = auths
    return document


def _check(new_text: str, expected: Any, path: Path) -> None:
    import yaml

    try:
        got = yaml.safe_load(new_text)
    except yaml.YAMLError:
        got = object()
    if got != expected:
        raise _unusual(path, "the edit did not read back as intended")


def _unusual(path: Path, why: str) -> UsageFailure:
    return UsageFailure(
        f"cannot edit faas-cli's config {path}: {why}; it was left as it was",
        hint="edit its auths: entry by hand, or point OPENFAAS_CONFIG elsewhere",
    )


def _write_atomically(path: Path, text: str) -> None:
    target = Path(os.path.realpath(path))  # a symlinked config.yml stays a symlink
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        prefix, suffix = TEMPORARY.split("*")
        # mkstemp creates it 0600 (O_EXCL): the tokens are never readable by others.
        descriptor, temporary = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
    except OSError as exc:
        raise UsageFailure(
            f"cannot write faas-cli's config {path}: {exc.strerror or exc}"
        ) from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except OSError as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise UsageFailure(
            f"cannot write faas-cli's config {path}: {exc.strerror or exc}"
        ) from None
