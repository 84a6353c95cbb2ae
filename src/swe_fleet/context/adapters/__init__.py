"""The Context service's edges: graph reads, Valkey cache, tokenizer, HTTP API, metrics."""
