"""One login for faasauth and faas-cli: `auth --faas-cli` keeps an OpenFaaS API token in
faas-cli's config.yml (as `faas-cli pro auth` does); `logout` removes that entry again, and
only an entry faasauth wrote (see faasauth.config.faas_cli for the file and the mark).

Every edit runs under a faasauth lock named after the file, so two faasauth processes never
interleave their read-edit-rename of the same config.yml.
"""

from __future__ import annotations

import os
from pathlib import Path

from faasauth.errors import UsageFailure
from faasauth.runtime import Runtime
from faasauth.store.locking import FileLock
from faasauth.tokens.login import Login


def config_lock(rt: Runtime, path: Path) -> FileLock:
    """The cross-process lock for editing faas-cli's config at `path`."""
    return rt.home.lock(f"faas-cli-config|{os.path.realpath(path)}")


def remove_stale_temporary_files(path: Path) -> None:
    """Remove what a killed edit of faas-cli's config at `path` left: a temporary copy
    holding every token of the file (as the store removes its own)."""
    from faasauth.config.faas_cli_edit import TEMPORARY, temporary_directory
    from faasauth.store.home import remove_stale_temp_files

    directory = temporary_directory(path)
    if directory.is_dir():
        remove_stale_temp_files(directory, pattern=TEMPORARY)


def check_config(rt: Runtime) -> None:
    """Before `auth --faas-cli` logs in: faas-cli's config must be one faasauth may edit
    (where it is, and parsed as the edit will parse it), so that a login is not kept
    (and said) for a config that is then refused."""
    from faasauth.config.faas_cli import config_path, parse, read_text

    try:
        path = config_path(rt.env)
        parse(read_text(path), path)
    except UsageFailure as exc:
        exc.message += "; no login was attempted"
        raise


def keep_api_token(rt: Runtime, login: Login) -> str:
    """Exchange the login for an OpenFaaS API token and write faas-cli's entry for the
    gateway; a sentence saying what was done (no secret in it)."""
    from faasauth.config.faas_cli import config_path
    from faasauth.config.faas_cli_edit import write_entry
    from faasauth.gateway.exchange import request_api_token

    subject = login.subject_token
    if subject is None:  # run_auth never stores a login without one
        raise UsageFailure(f"the login for {login.gateway} has no token to give faas-cli")
    path = config_path(rt.env)  # a path it refuses is refused before a token is asked for
    token = request_api_token(rt, subject)
    with config_lock(rt, path):
        remove_stale_temporary_files(path)
        action = write_entry(path, rt.settings.gateway, token.access_token)
    verb = {"added": "Added", "updated": "Updated"}.get(action, "Replaced")
    what = "faasauth's entry" if action == "updated" else "an entry"
    life = ""
    if token.expires_at is not None:
        life = f"; its API token is valid for {int((token.expires_at - rt.now()) // 60)} min"
    return f"{verb} {what} for {rt.settings.gateway} in faas-cli's config {path}{life}."


def forget_api_token(rt: Runtime, gateway: str | None) -> str | None:
    """Remove faasauth's faas-cli entry for `gateway` (every gateway's when None); a
    sentence saying what was removed, or None when there was nothing of faasauth's.

    A config that cannot be read or edited is a warning: logout must not fail on it."""
    from faasauth.config.faas_cli import config_path, read_entries
    from faasauth.config.faas_cli_edit import remove_entry
    from faasauth.console import warn

    removed: list[str] = []
    try:
        path = config_path(rt.env)
        remove_stale_temporary_files(path)  # also where the first write was killed
        if not path.is_file():
            return None
        with config_lock(rt, path):
            if gateway is None:
                gateways = [e.gateway for e in read_entries(path) if e.written_by_faasauth]
            else:
                gateways = [gateway]
            for name in dict.fromkeys(gateways):
                if remove_entry(path, name):
                    removed.append(name)
    except UsageFailure as exc:
        warn(exc.message.removesuffix("; it was left as it was") + "; left as it was")
        return None
    if not removed:
        return None
    entries = "entry" if len(removed) == 1 else "entries"
    return f"Removed faasauth's faas-cli {entries} for {', '.join(removed)} from {path}."
