"""faas-cli's own config file (`~/.openfaas/config.yml`, or OPENFAAS_CONFIG): the
`auth: oauth2` token `faas-cli pro auth` keeps for a gateway, usable as a subject token."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from faasauth.config.settings import normalise_gateway
from faasauth.errors import UsageFailure


def faas_cli_config_path(env: Mapping[str, str]) -> Path:
    # faas-cli reads OPENFAAS_CONFIG as its config directory; accept a file path too.
    configured = env.get("OPENFAAS_CONFIG")
    if configured:
        path = Path(configured).expanduser()
        return path if path.suffix in (".yml", ".yaml") else path / "config.yml"
    return Path.home() / ".openfaas" / "config.yml"


def faas_cli_token(env: Mapping[str, str], gateway: str) -> str | None:
    """The `auth: oauth2` token faas-cli keeps for this gateway, if any."""
    path = faas_cli_config_path(env)
    if not path.is_file():
        return None
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):  # ValueError: undecodable, bad dates
        from faasauth.console import warn

        warn(f"cannot read faas-cli's {path}; ignoring it")
        return None
    auths = data.get("auths") if isinstance(data, dict) else None
    for item in auths if isinstance(auths, list) else []:
        if not isinstance(item, dict) or item.get("auth") != "oauth2":
            continue
        try:
            found = normalise_gateway(str(item.get("gateway", "")))
        except UsageFailure:
            continue
        token = item.get("token")
        if found == gateway and isinstance(token, str) and token:
            return token
    return None
