"""Redaction lives in `swe_fleet.redaction`, shared by every service; this name is kept for its importers."""

from swe_fleet.redaction import redact, redact_value

__all__ = ["redact", "redact_value"]
