"""Session-key checks (§1.2 step 6 with the §9.1 fix): a missing key is refused, keys compare in constant time."""

from __future__ import annotations

import hmac
import ipaddress
import secrets

KEY_HEADER = "X-Session-API-Key"
KEY_QUERY = "session_api_key"


MIN_KEY_LENGTH = 16


def new_session_key() -> str:
    """192 random bits in hex: safe in a URL, a header and a command line (a key starting with "-", which URL-safe
    base64 makes one time in 64, reads as an option to ``--key``)."""
    return secrets.token_hex(24)


def served_key_problem(key: str) -> str | None:
    """Why ``key`` may not protect a server ohtui runs, or None. Keys ohtui presents to other servers are not
    checked: those servers decide."""
    if not key.strip():
        return "the session key is blank"
    if key != key.strip():
        return "the session key starts or ends with white space"
    if len(key) < MIN_KEY_LENGTH:
        return f"the session key has {len(key)} characters; at least {MIN_KEY_LENGTH} are required"
    return None


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
