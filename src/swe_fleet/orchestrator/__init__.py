"""The Orchestrator: turns approved plans into tasks and has councils of role agents deliberate on each."""
