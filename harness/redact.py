"""Secrets never reach logs, stores or reports: every text that leaves the process goes through here.

Three kinds of secret are removed: the values of secret-looking environment variables (API keys,
tokens), credentials written into a URL (`http://user:KEY@host`, `?api_key=KEY`), and bearer
tokens or OpenAI-style keys that an endpoint echoes back in an error body.
"""

from __future__ import annotations

import os
import re

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
    # user:password@ in any URL, up to the last @ of the word: a password may hold / or @
    (re.compile(r"(//[^/\s:@]+:)\S*@"), rf"\g<1>{MASK}@"),
)
_USERINFO = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*")  # RFC 3986


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


def userinfo(url: str) -> tuple[int, int] | None:
    """Where `user:password` is in `scheme://user:password@host/...`: up to the authority's last
    `@`, found by hand because a password written without percent-encoding may hold `/`, `?`,
    `#` or `@` (`urlsplit` would end the host at the first of them and show the rest). Text
    between `://` and the last `@` is credentials when it has no delimiter, or has `:` before
    its first one (`user:pa/ss@host`); otherwise the `@` is in a path or query. Too much masked
    (`http://host:8000/path@x`) is the price of never showing a password."""
    start = url.find("://") + 3
    end = url.rfind("@")
    if start < 3 or end < start:
        return None
    if re.search(r"\s", url[start:end]):  # a sentence that holds a URL and an e-mail address
        return None
    head = re.split(r"[/?#]", url[start:end])
    return (start, end) if len(head) == 1 or ":" in head[0] else None


def url_password(url: str) -> str | None:
    """The password as written in the URL (percent-encoded or not); None without one."""
    span = userinfo(url)
    if span is None or ":" not in url[span[0] : span[1]]:
        return None
    return url[span[0] : span[1]].split(":", 1)[1]


def well_formed_userinfo(url: str) -> bool:
    """Whether the URL's credentials are what RFC 3986 allows (reserved characters
    percent-encoded), so that every URL parser (libpq, urllib) reads the same user and host."""
    span = userinfo(url)
    return span is None or bool(_USERINFO.fullmatch(url[span[0] : span[1]]))


def redact_url(url: str | None) -> str | None:
    """A URL fit to store or print: its password (however written) and secret query values
    masked; credentials with no password are masked whole (a token as user name)."""
    if not url:
        return url
    span = userinfo(url)
    if span is not None:
        start, end = span
        user, colon, _ = url[start:end].partition(":")
        url = url[:start] + (f"{user}:{MASK}" if colon else MASK) + url[end:]
    return redact(url)


def redact_tree(value):
    """A settings tree (dicts, lists, strings, numbers) fit to record: every string redacted, a
    URL's password and secret query values masked. For configs written to files and stores."""
    if isinstance(value, dict):
        return {k: redact_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v) for v in value]
    if isinstance(value, os.PathLike):  # a file setting: recorded as its text
        value = os.fspath(value)
    if isinstance(value, str):
        return redact_url(value) if "://" in value else redact(value)
    return value
