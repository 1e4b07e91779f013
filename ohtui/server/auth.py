"""Session-key checks (§1.2 step 6 with the §9.1 fix): a missing key is refused, keys compare in constant time."""

from __future__ import annotations

import hmac
import ipaddress
import secrets

KEY_HEADER = "X-Session-API-Key"
KEY_QUERY = "session_api_key"


def new_session_key() -> str:
    return secrets.token_urlsafe(24)


def key_matches(expected: str | None, given: object) -> bool:
    """True when the server has no key, or ``given`` is the same string (constant-time)."""
    if not expected:
        return True
    if not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
