"""Which proxy a request goes through: the environment's, read as httpx, curl and Go read it
(`http_proxy`, `https_proxy`, `all_proxy`, `no_proxy`; lower case before upper case), with
one rule first: loopback always goes direct, whatever `NO_PROXY` says.

    loopback (127.0.0.0/8, ::1, localhost, *.localhost)   direct, always (as Go, so faas-cli)
    NO_PROXY `*`                                          direct
    NO_PROXY `example.com` / `.example.com`               that host and its subdomains /
                                                          its subdomains only
    NO_PROXY `10.0.0.0/8`, `192.0.2.7`, `[2001:db8::1]`   those addresses (CIDR too)
    NO_PROXY `host:8080`, `http://host`                   that port / that scheme only
    otherwise                                             HTTPS_PROXY for https://,
                                                          HTTP_PROXY for http://, else
                                                          ALL_PROXY

faasauth trusts plain http to loopback (credentials sent, no warning) because such a
request never leaves the machine; a proxy would read faas-cli's Basic credential or a
subject token in clear. Standard library only: shell completion asks through urllib.
"""

from __future__ import annotations


def is_loopback(host: str) -> bool:
    import ipaddress  # here, not above: http.py imports this module at start-up

    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def proxy_for(url: str) -> str | None:
    """The proxy URL a request to `url` goes through, or None: straight to the server."""
    from urllib.parse import urlsplit
    from urllib.request import getproxies

    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".")
    if not host or is_loopback(host):
        return None
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return None
    found = getproxies()  # the environment (and, on macOS and Windows, the system's)
    proxy = found.get(scheme) or found.get("all")
    if not proxy or _bypassed(found.get("no", ""), scheme, host, port):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _bypassed(no_proxy: str, scheme: str, host: str, port: int) -> bool:
    from urllib.parse import urlsplit

    for entry in (e.strip() for e in no_proxy.split(",")):
        if entry == "*":
            return True
        if not entry:
            continue
        if "://" in entry:
            parts = urlsplit(entry)
            try:
                entry_port = parts.port
            except ValueError:
                continue
            if parts.scheme.lower() not in ("all", scheme):
                continue
            name = parts.hostname or ""
        else:
            name, entry_port = _host_and_port(entry)
        if (entry_port is None or entry_port == port) and _host_matches(name, host):
            return True
    return False


def _host_and_port(entry: str) -> tuple[str, int | None]:
    """`host`, `host:8080`, `[::1]:8080`, `::1`, `10.0.0.0/8`: the host and the port."""
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:
        name, _, port = entry.partition(":")
    else:
        name, port = entry, ""
    return name, int(port) if port.isdigit() else None


def _host_matches(pattern: str, host: str) -> bool:
    import ipaddress

    pattern, host = pattern.strip("[]").lower().rstrip("."), host.strip("[]").lower()
    if not pattern:
        return False
    try:
        network = ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        network = None
    if network is not None:
        try:
            return ipaddress.ip_address(host) in network
        except ValueError:
            return False
    if pattern.startswith("."):  # `.example.com`, `*.example.com`: subdomains only
        return host.endswith(pattern)
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    pattern = pattern.lstrip("*")
    return host == pattern or host.endswith("." + pattern)
