"""faas-cli's `config.yml`: its `auths:` entries, read and edited without disturbing the rest.

Where (faas-cli's config/config_file.go): `$OPENFAAS_CONFIG/config.yml` when OPENFAAS_CONFIG
is set (faasauth also takes a path ending in .yml/.yaml as the file itself); else, when CI
is `true` or `1`, `./.openfaas/config.yml` in the working directory; else
`~/.openfaas/config.yml`.

What: `auths:` is a list of `{gateway, auth: basic|oauth2, token, options: [{name, value}]}`;
faas-cli finds the FIRST entry whose gateway equals its normalised gateway URL. An entry
faasauth writes is `auth: oauth2` with an OpenFaaS API token and the option
`{name: written_by, value: faasauth}`: faas-cli keeps options through its own rewrites (they
are part of its AuthConfig), and `faas-cli login`/`pro auth` replace the whole entry, which
drops the mark, so `remove_entry` removes only an entry faasauth wrote and nobody replaced.

Reading is here; editing (write_entry, remove_entry) is faasauth.config.faas_cli_edit.
The OpenFaaS API token to keep there comes from faasauth.gateway.api_token.request_api_token.

How: the file is edited as text, only the span of the one entry changes; every other byte
(other entries, other keys, comments, quoting, indentation) is kept. The edit is checked by
parsing the result: anything but the intended change refuses to write. The file is
replaced atomically (a temporary file in the same directory, mode 0600, then rename).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faasauth.errors import UsageFailure
from faasauth.config.settings import normalise_gateway

if TYPE_CHECKING:
    import yaml

MARK = {"name": "written_by", "value": "faasauth"}
OAUTH2 = "oauth2"
PLAIN = re.compile(r"[A-Za-z0-9_./~+-][A-Za-z0-9_./:@%+~=?&#,-]*")


def config_path(env: Mapping[str, str], cwd: Path | None = None) -> Path:
    """faas-cli's config.yml for this environment (see the module docstring).

    The CI rule's `./.openfaas/config.yml` is a repository's file: a symlink there (the
    file or its directory) is a UsageFailure, or writing it would create and fill a file
    of the repository's choosing outside it. Elsewhere a link is the user's own choice.
    """
    configured = env.get("OPENFAAS_CONFIG")
    if configured:
        path = Path(configured).expanduser()
        return path if path.suffix in (".yml", ".yaml") else path / "config.yml"
    if env.get("CI") in ("true", "1"):
        path = (cwd or Path.cwd()) / ".openfaas" / "config.yml"
        for part in (path.parent, path):
            if part.is_symlink():
                raise UsageFailure(
                    f"refusing faas-cli's config {path} (CI is set): {part.name} is a "
                    "symlink, and the file must stay in the working directory",
                    hint="remove the link, or set OPENFAAS_CONFIG to the file to use",
                )
        return path
    return Path.home() / ".openfaas" / "config.yml"


@dataclass
class AuthEntry:
    gateway: str
    auth: str | None
    token: str | None = field(repr=False)
    options: list[dict[str, Any]] = field(default_factory=list)

    @property
    def written_by_faasauth(self) -> bool:
        return any(is_mark(o) for o in self.options)


def is_mark(option: Any) -> bool:
    return isinstance(option, dict) and all(option.get(k) == v for k, v in MARK.items())


def same_gateway(value: Any, gateway: str) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return normalise_gateway(value) == gateway
    except UsageFailure:
        return False


# -- reading --------------------------------------------------------------------------


def read_text(path: Path) -> str:
    try:
        with open(path, encoding="utf-8", newline="") as handle:  # keep \r\n as it is
            return handle.read()
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise UsageFailure(f"cannot read faas-cli's config {path}: {reason}") from None


def parse(text: str, path: Path) -> tuple[Any, yaml.Node | None]:
    """The document and its node tree, read once by a safe loader that refuses aliases.

    faas-cli never writes an anchor or an alias; a few nested ones (a "billion laughs" of
    under 1 KB) would make comparing the edit with its intent take hours, under the lock.
    """
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise UsageFailure(
                    f"cannot read faas-cli's config {path}: a YAML alias at line "
                    f"{mark.line + 1}, column {mark.column + 1} (faas-cli writes none)",
                    hint="write the value out in place of the alias, or move the file",
                )
            return super().compose_node(parent, index)

    loader = None
    try:
        loader = NoAliasLoader(text)  # its reader already refuses some characters
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: e.g. an impossible date
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UsageFailure(
            f"cannot edit faas-cli's config {path}: invalid YAML{at}",
            hint="fix or move the file; faasauth does not rewrite a file it cannot parse",
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def read_entries(path: Path) -> list[AuthEntry]:
    """Every well-formed `auths:` entry, in order (an absent file: none)."""
    data, _ = parse(read_text(path), path)
    auths = data.get("auths") if isinstance(data, dict) else None
    entries = []
    for item in auths if isinstance(auths, list) else []:
        if isinstance(item, dict) and isinstance(item.get("gateway"), str):
            options = item.get("options")
            entries.append(
                AuthEntry(
                    item["gateway"],
                    item.get("auth") if isinstance(item.get("auth"), str) else None,
                    item.get("token") if isinstance(item.get("token"), str) else None,
                    [o for o in options if isinstance(o, dict)]
                    if isinstance(options, list)
                    else [],
                )
            )
    return entries


def _readable_entries(env: Mapping[str, str], *, quiet: bool = False) -> list[AuthEntry]:
    """faas-cli's entries for this environment; none when the file is absent or cannot be
    read (with a warning unless `quiet`: a shell completion must print nothing)."""
    try:
        path = config_path(env)
        return read_entries(path) if path.is_file() else []
    except UsageFailure as exc:
        if not quiet:
            from faasauth.console import warn

            warn(f"{exc.message}; ignoring it")
        return []


def faas_cli_token(env: Mapping[str, str], gateway: str) -> str | None:
    """The `auth: oauth2` token faas-cli keeps for `gateway`, if any (a subject token)."""
    for entry in _readable_entries(env):
        if entry.auth == OAUTH2 and entry.token and same_gateway(entry.gateway, gateway):
            return entry.token
    return None


def faas_cli_authorization(env: Mapping[str, str], gateway: str) -> str | None:
    """The Authorization header faas-cli sends to `gateway` (its first entry for it:
    `Bearer` for oauth2, `Basic` for `faas-cli login`), if any; quiet on a bad file."""
    entry = next((e for e in _readable_entries(env, quiet=True)
                  if same_gateway(e.gateway, gateway)), None)
    if entry is None or not entry.token:
        return None
    return f"Bearer {entry.token}" if entry.auth == OAUTH2 else f"Basic {entry.token}"


def find_entry(path: Path, gateway: str) -> AuthEntry | None:
    """The entry faas-cli would use for `gateway` (the first that matches)."""
    gateway = normalise_gateway(gateway)
    return next((e for e in read_entries(path) if same_gateway(e.gateway, gateway)), None)
