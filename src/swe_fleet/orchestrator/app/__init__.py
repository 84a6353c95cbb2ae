"""Use cases: what the Orchestrator does with each event, response and tick of its timer."""
