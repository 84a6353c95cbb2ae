"""Pure logic of the Context service: projections, scope policy, redaction, token budgets, assembly."""
