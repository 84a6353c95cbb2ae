"""Who may do what: identities and roles, HTTP API tokens, NATS credentials, secret files (ADR 0800)."""
