"""Probe data: what `fleet verify` drives through a deployment is labelled so nobody mistakes it for work.

Every id a probe creates starts with PROBE_PREFIX. Boards hide probes by default, and the orchestrator
acknowledges a probe's plan approval without deriving tasks (no LLM time spent on a health check).
"""

PROBE_PREFIX = "probe-"


def is_probe(entity_id: str | None) -> bool:
    return entity_id is not None and entity_id.startswith(PROBE_PREFIX)
