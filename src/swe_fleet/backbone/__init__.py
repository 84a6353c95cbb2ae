"""The event backbone on NATS JetStream: streams, publishing, durable pull consumers, dead letters."""
