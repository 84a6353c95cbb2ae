"""SWE Fleet: a council of AI agents doing software work for a Product Owner, over NATS JetStream."""

__version__ = "0.1.0"
