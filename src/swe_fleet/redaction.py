"""Removes secrets from text before anything leaves the fleet: at the planning API's intake, from
Context packs, agents' prompts and answers, workspace events, and every log record.

The Context service applies it to every section's full text before it is measured or shortened, so
a cut can never leave half a secret behind. Each rule replaces the secret (not its label) with
`[REDACTED:<kind>]`, so an agent still sees that a password was there. Rules err towards redacting too much.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    # Builds the replacement from the match; by default the whole match is replaced.
    replace: Callable[[re.Match[str]], str] | None = None


def _keep_group(group: int, kind: str) -> Callable[[re.Match[str]], str]:
    return lambda match: f"{match.group(group)}[REDACTED:{kind}]"


_SECRET_KEYS = (
    r"pass(?:word|wd|phrase)|pwd|secret(?:[_-]?key)?|client[_-]?secret|api[_-]?key|apikey|"
    r"access[_-]?key(?:[_-]?id)?|secret[_-]?access[_-]?key|private[_-]?key|auth[_-]?token|"
    r"access[_-]?token|refresh[_-]?token|id[_-]?token|token|credentials?|session[_-]?(?:id|key|token)|"
    r"cookie|signature|dsn|connection[_-]?string|conn[_-]?str|account[_-]?key|shared[_-]?access[_-]?key|sig"
)

RULES: tuple[_Rule, ...] = (
    _Rule(
        "private_key",
        re.compile(
            # An unterminated block (a key cut short) is removed to the end of the text.
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
            r"(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.DOTALL,
        ),
    ),
    # scheme://user:password@host -> the password goes, the user and host stay.
    _Rule(
        "url_credentials",
        re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*:)[^\s@/]+(?=@)"),
        _keep_group(1, "url_credentials"),
    ),
    # A "token" followed by `=` or `:` is a key (`Bearer client_secret => '...'`): left for the
    # assignment rule, which redacts its value.
    _Rule(
        "bearer_token",
        re.compile(r"(\bBearer\s+)[A-Za-z0-9\-._~+/]{12,}+=*+(?!\s*(?:=>|:=|=|:))", re.I),
        _keep_group(1, "token"),
    ),
    # Basic credentials are base64: demand a digit, `+`, `/` or `=` so that "Basic authentication" stays.
    _Rule(
        "basic_credentials",
        re.compile(r"(\bBasic\s+)(?=[A-Za-z0-9+/=]*[0-9+/=])[A-Za-z0-9+/]{8,}={0,2}"),
        _keep_group(1, "credentials"),
    ),
    _Rule(
        "aws_access_key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z0-9]{16}\b")
    ),
    _Rule("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})")),
    _Rule("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9\-_]{20,}")),
    _Rule("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}")),
    _Rule("slack_webhook", re.compile(r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_\-]+")),
    _Rule("openai_key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}")),
    _Rule("stripe_key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}")),
    _Rule("google_api_key", re.compile(r"\bAIza[0-9A-Za-z\-_]{35}")),
    _Rule("jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}")),
    # key = value, key: value, "key": "value", KEY=value (env files), in any case and any quoting.
    _Rule(
        "secret_assignment",
        re.compile(
            # A "value" that is itself followed by `=` or `:` is the next key (`secret: aws_secret_key =
            # ...`): skipped, so the assignment after it is the one redacted.
            rf"((?:{_SECRET_KEYS})[\"']?\s*(?:=>|:=|=|:)\s*)(?!\[REDACTED)"
            rf"(\"[^\"\n]*\"|'[^'\n]*'|[^\s,;}}\]]++)(?!\s*(?:=>|:=|=|:))",
            re.IGNORECASE,
        ),
        _keep_group(1, "secret"),
    ),
    # Authorization: <anything> (header lines in logs).
    _Rule(
        "authorization_header",
        re.compile(r"((?:proxy-)?authorization\s*[:=]\s*)[^\n]+", re.IGNORECASE),
        _keep_group(1, "credentials"),
    ),
)


def _scoped(pattern: re.Pattern[str]) -> str:
    flags = ("i" if pattern.flags & re.IGNORECASE else "") + ("s" if pattern.flags & re.DOTALL else "")
    return f"(?{flags}:{pattern.pattern})" if flags else f"(?:{pattern.pattern})"


# One pass that says whether any rule could apply: most texts hold no secret and skip the rules.
_ANY_SECRET = re.compile("|".join(_scoped(rule.pattern) for rule in RULES))


# Pure, and the same fields are redacted on every request about a story: memoised, bounded.
@lru_cache(maxsize=65_536)
def redact(text: str) -> str:
    """`text` with every secret the rules know replaced by `[REDACTED:<kind>]`."""
    if not text or _ANY_SECRET.search(text) is None:
        return text
    for rule in RULES:
        if rule.replace is None:
            text = rule.pattern.sub(f"[REDACTED:{rule.kind}]", text)
        else:
            text = rule.pattern.sub(rule.replace, text)
    return text


def redact_value(value: object) -> object:
    """`value` with every string inside it redacted (graph query results, summaries)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


class RedactingFilter(logging.Filter):
    """A logging filter (put on handlers) that redacts each record's final message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: log it as it is
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def redact_logs(logger: logging.Logger | None = None) -> None:
    """Put a RedactingFilter on every handler of `logger` (default: the root logger), once each."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
            handler.addFilter(RedactingFilter())
