"""Secrets never reach logs, stores or reports: every text that leaves the process goes through here.

Three kinds of secret are removed: the values of secret-looking environment variables (API keys,
tokens), credentials written into a URL (`http://user:KEY@host`, `?api_key=KEY`), and bearer
tokens or OpenAI-style keys that an endpoint echoes back in an error body.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
_PATTERNS = (  # (pattern, replacement)
    (re.compile(r"(?i)(bearer\s+)[^\s'\",}]+"), rf"\g<1>{MASK}"),
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"), MASK),
    (
        re.compile(
            r"(?i)((?:api[_-]?key|token|secret|password)[\"']?\s*[:=]\s*[\"']?)[^\s'\",&}]+"
        ),
        rf"\g<1>{MASK}",
    ),
    (re.compile(r"(//[^/\s:@]+:)[^/\s@]+@"), rf"\g<1>{MASK}@"),  # user:password@ in any URL
)


def _secret_values() -> list[str]:
    values = {v for k, v in os.environ.items() if _SECRET_ENV.search(k) and v and len(v) >= 6} - {
        "EMPTY"
    }
    return sorted(values, key=len, reverse=True)


def redact(text: str | None) -> str | None:
    """`text` with every secret replaced by ***."""
    if not text:
        return text
    for value in _secret_values():
        text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_url(url: str | None) -> str | None:
    """A URL fit to store or print: password and secret query values masked."""
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{MASK}@{host}"
    return redact(urlunsplit(parts._replace(netloc=netloc)))


def redact_tree(value):
    """A settings tree (dicts, lists, strings, numbers) fit to record: every string redacted, a
    URL's password and secret query values masked. For configs written to files and stores."""
    if isinstance(value, dict):
        return {k: redact_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v) for v in value]
    if isinstance(value, str):
        return redact_url(value) if "://" in value else redact(value)
    return value
