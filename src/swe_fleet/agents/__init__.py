"""Agent workers: shared consumers of agent commands that fetch surgical context and call an LLM."""
