"""A stand-in for the agent workers: valid protocol answers without an LLM, for tests and benchmarks.

What is under test with it is the Orchestrator (what it does with answers, slow answers, failures and
silence), never the agents' LLM path. Never wired into a running fleet.
"""
