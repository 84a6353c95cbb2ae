"""Planning's edges: the SQL store, the outbox relay to NATS, the HTTP API."""
