"""One login for faasauth and faas-cli: `auth --faas-cli` keeps an OpenFaaS API token in
faas-cli's config.yml (as `faas-cli pro auth` does); `logout` removes that entry again, and
only an entry faasauth wrote (see faasauth.config.faas_cli for the file and the mark).

The login records the entry (tokens.login.FaasCliEntry: the file, a hash of the token,
its expiry), and whatever renews the login renews the API token as it nears expiry
(flows.login.fresh_login calls renew_api_token): a command, the library or the proxy's
background renewal. An entry that no longer holds the token faasauth wrote (`faas-cli
login` replaced it) is left alone, and no longer renewed.

Every edit runs under a faasauth lock named after the file, so two faasauth processes never
interleave their read-edit-rename of the same config.yml. Lock order: the login's, then
the file's.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from faasauth.errors import UsageFailure
from faasauth.runtime import Runtime
from faasauth.store.cache import login_key
from faasauth.store.locking import FileLock
from faasauth.tokens.login import FaasCliEntry, Login


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
    record = FaasCliEntry(os.path.abspath(path), token_digest(token.access_token),
                          token.expires_at)
    kept = _record(rt, login, record)
    verb = {"added": "Added", "updated": "Updated"}.get(action, "Replaced")
    what = "faasauth's entry" if action == "updated" else "an entry"
    life = ""
    if token.expires_at is not None:
        from faasauth.tokens.expiry import lifetime

        life = f"; its API token is valid for {lifetime(token.expires_at - rt.now())}"
        if kept:
            life += ", renewed with the login"
    return f"{verb} {what} for {rt.settings.gateway} in faas-cli's config {path}{life}."


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _record(rt: Runtime, login: Login, record: FaasCliEntry) -> bool:
    """Keep `record` in the stored login (under its lock); False when none is stored."""
    login.faas_cli = record
    with rt.cache.locked(login_key(login.gateway)):
        stored = rt.cache.find_login(login.gateway)
        if stored is None:  # FAASAUTH_TOKEN_STORE=none, or a logout in between
            return False
        stored.faas_cli = record
        rt.cache.save_login(stored)
    return True


def holds_our_token(login: Login) -> bool:
    """Whether faas-cli's entry for the login's gateway, in the file its record names,
    is still the one faasauth wrote (its mark, the token written); a UsageFailure when the
    file cannot be read."""
    from faasauth.config.faas_cli import OAUTH2, find_entry

    record = login.faas_cli
    if record is None:
        return False
    entry = find_entry(Path(record.config), login.gateway)
    return (entry is not None and entry.written_by_faasauth and entry.auth == OAUTH2
            and entry.token is not None and token_digest(entry.token) == record.token_sha256)


def renew_api_token(rt: Runtime, login: Login) -> Login:
    """A new API token in the faas-cli entry `login.faas_cli` records, and the login with
    the new record, stored. The caller holds the login's lock; `login` is fresh.

    An entry no longer faasauth's is left as it is and the record dropped: it is not
    renewed again. A failed exchange or edit raises, the record as it was (tried again
    the next time the login is used)."""
    from faasauth.config.faas_cli_edit import write_entry
    from faasauth.gateway.exchange import request_api_token

    record, subject = login.faas_cli, login.subject_token
    if record is None or subject is None:
        return login
    path = Path(record.config)
    if holds_our_token(login):
        token = request_api_token(rt, subject)
        with config_lock(rt, path):
            remove_stale_temporary_files(path)
            if holds_our_token(login):  # faas-cli may have rewritten it meanwhile
                write_entry(path, login.gateway, token.access_token)
                renewed = replace(login, faas_cli=replace(
                    record, token_sha256=token_digest(token.access_token),
                    expires_at=token.expires_at))
                rt.cache.save_login(renewed)
                return renewed
    forgotten = replace(login, faas_cli=None)
    rt.cache.save_login(forgotten)
    return forgotten


def api_token_state(login: Login) -> str:
    """For `status`: "renewed" (the entry still holds faasauth's token), "replaced" (it
    does not: not renewed any more) or "unreadable" (the file cannot be read)."""
    try:
        return "renewed" if holds_our_token(login) else "replaced"
    except UsageFailure:
        return "unreadable"


def forget_api_token(
    rt: Runtime, gateway: str | None, recorded: Iterable[str] = ()
) -> str | None:
    """Remove faasauth's faas-cli entry for `gateway` (every gateway's when None) from
    faas-cli's config here and from the configs the logins recorded writing to (another
    OPENFAAS_CONFIG, a CI job's working directory); what was removed, or None.

    A config that cannot be read or edited is a warning: logout must not fail on it."""
    from faasauth.config.faas_cli import config_path

    paths: list[Path] = []
    try:
        paths.append(config_path(rt.env))
    except UsageFailure as exc:
        _left_alone(exc)
    paths += [Path(p) for p in recorded if not os.path.islink(p)]  # as written: no link
    said: list[str] = []
    for path in {os.path.abspath(p): p for p in paths}.values():
        try:
            text = _forget_in(rt, path, gateway)
        except UsageFailure as exc:
            _left_alone(exc)
            continue
        if text:
            said.append(text)
    return " ".join(said) or None


def _left_alone(exc: UsageFailure) -> None:
    from faasauth.console import warn

    warn(exc.message.removesuffix("; it was left as it was") + "; left as it was")


def _forget_in(rt: Runtime, path: Path, gateway: str | None) -> str | None:
    from faasauth.config.faas_cli import read_entries
    from faasauth.config.faas_cli_edit import remove_entry

    removed: list[str] = []
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
    if not removed:
        return None
    entries = "entry" if len(removed) == 1 else "entries"
    return f"Removed faasauth's faas-cli {entries} for {', '.join(removed)} from {path}."


def recorded_configs(rt: Runtime, gateway: str | None) -> list[str]:
    """The faas-cli configs the stored logins of `gateway` (of every gateway when None)
    recorded writing their API token to: logout looks there too."""
    logins = [rt.cache.find_login(gateway)] if gateway is not None else [
        record for _key, record in rt.cache.records() if isinstance(record, Login)]
    return [login.faas_cli.config for login in logins
            if login is not None and login.faas_cli is not None]
