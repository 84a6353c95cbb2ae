"""What a complete deployment has: every durable consumer every service declares, and the sentinels."""

from __future__ import annotations

from swe_fleet.backbone.consumer_spec import ConsumerSpec


def expected_consumers() -> list[tuple[str, ConsumerSpec]]:
    """(service, spec) for every durable a full fleet runs."""
    from swe_fleet.agents.app.worker import command_consumer_spec
    from swe_fleet.backbone.sentinel import sentinel_specs
    from swe_fleet.context.consumers import consumer_specs
    from swe_fleet.orchestrator.bootstrap import CONSUMERS
    from swe_fleet.planning.adapters.delivery_consumers import CONSUMERS as PLANNING_CONSUMERS
    from swe_fleet.review.bootstrap import TASK_COMPLETED as REVIEW_CONSUMER
    from swe_fleet.workspace.app.approvals import verdict_consumer_spec
    from swe_fleet.workspace.app.executor import dispatch_consumer_spec

    return (
        [("context", spec) for spec in consumer_specs()]
        + [("orchestrator", spec) for spec in CONSUMERS]
        + [("agent-worker", command_consumer_spec())]
        + [("sentinel", spec) for spec in sentinel_specs()]
        + [("workspace", dispatch_consumer_spec()), ("workspace", verdict_consumer_spec())]
        + [("planning", spec) for spec in PLANNING_CONSUMERS]
        + [("review", REVIEW_CONSUMER)]
    )
