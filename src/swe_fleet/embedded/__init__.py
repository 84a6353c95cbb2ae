"""Servers the product starts for itself on one machine: NATS, a Valkey-compatible cache, an LLM server."""
