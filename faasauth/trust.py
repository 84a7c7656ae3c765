"""What https:// trusts: the one choice of CA certificates for every client faasauth makes
(faasauth.http builds its transports with it), made when the first https:// request is sent."""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faasauth.config.settings import Settings


def tls_verification(settings: Settings) -> bool | ssl.SSLContext:
    """What to trust for https://, made when the first https:// request is sent.

        --tls-no-verify                 nothing checked
        --cacert FILE / SSL_CERT_FILE   that file
        otherwise                       the system's hashed CA directory (SSL_CERT_DIR, or
                                        OpenSSL's default, e.g. /etc/ssl/certs) when it has
                                        hash links: OpenSSL then reads only the one CA a
                                        server's chain names, when it names it (about 2 ms
                                        in all); else certifi's bundle, parsed whole
                                        (about 60 ms, a quarter of a warm invoke)

    Measured in benchmarks/bench_tls.py --trust; OpenSSL's default paths (the bundle file
    first: ~37 ms) and `truststore` (~15-20 ms, and a dependency) were slower.
    """
    if not settings.tls_verify:
        return False
    if settings.cacert:
        return ssl.create_default_context(cafile=settings.cacert)
    directory = hashed_ca_directory()
    if directory is not None:
        return ssl.create_default_context(capath=directory)
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def hashed_ca_directory() -> str | None:
    """SSL_CERT_DIR (OpenSSL's `:`-separated list) or OpenSSL's default CA directory, when
    one of its directories holds hash links (`5ad8a5d6.0`, made by `openssl rehash`)."""
    import os

    value = os.environ.get("SSL_CERT_DIR") or ssl.get_default_verify_paths().capath
    if not value:
        return None
    for directory in value.split(":"):
        if directory and _has_hash_links(directory):
            return value
    return None


def _has_hash_links(directory: str) -> bool:
    import os

    hexdigits = frozenset("0123456789abcdef")
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if (
                    len(name) >= 10
                    and name[8] == "."
                    and name[9:].isdigit()
                    and hexdigits.issuperset(name[:8])
                ):
                    return True
    except OSError:
        return False
    return False
