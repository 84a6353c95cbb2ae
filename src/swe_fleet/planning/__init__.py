"""Planning: the Product Owner's system of record (projects, epics, stories, plans, decisions).

`domain/` holds the rules (the story lifecycle, plan and decision verdicts), `app/` the use cases,
`adapters/` the SQL store, the transactional outbox and the HTTP API; `bootstrap.build` wires them.
"""
