"""Pure orchestration logic: council configuration, task derivation, the deliberation state machine, scoring.

Nothing here imports infrastructure; every function is a plain function of its inputs (and `now`).
"""
