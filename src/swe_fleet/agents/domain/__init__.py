"""What an agent does with a command, as pure functions: read its inputs, build its prompt, shape and
check its answer. Nothing here imports infrastructure (no HTTP, no NATS, no LLM client).
"""
