"""The Orchestrator's edges: its JetStream KV state store and the publisher of its outbox."""
