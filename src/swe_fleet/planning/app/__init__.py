"""Planning use cases: small functions of (command, unit of work)."""
