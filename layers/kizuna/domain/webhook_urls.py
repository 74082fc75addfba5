"""Which URLs Kizuna will post to: inbound relays and CUSTOM deliveries."""

from __future__ import annotations

from urllib.parse import urlsplit

# Plain http only to this machine: local mode's test receivers; anything that leaves the host is https.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})


def webhook_url_allowed(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    if not parts.hostname or parts.username is not None or parts.password is not None:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)
