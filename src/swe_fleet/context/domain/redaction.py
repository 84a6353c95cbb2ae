"""Redaction is shared by every service now: `swe_fleet.security.redaction` (this name stays for imports)."""

from swe_fleet.security.redaction import RULES, redact, redact_value

__all__ = ["RULES", "redact", "redact_value"]
