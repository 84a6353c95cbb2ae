"""The agent worker's adapters: the Context service over HTTP (the LLM client is the shared swe_fleet.llm)."""
