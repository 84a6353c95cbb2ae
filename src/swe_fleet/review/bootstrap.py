"""Wiring the QA reviewer: a durable consumer of workspace.task.completed, the model, planning's API.

    service = await build(settings, nc, endpoints)

Consumer: `review-task-completed` (workspace.task.completed). It needs an LLM (`fleet up` starts it
only with one, like the workspace service).
"""

from __future__ import annotations

from nats.aio.client import Client as NATS

from swe_fleet.backbone.consumer import ConsumerRuntime
from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.backbone.dead_letters import DeadLetterWriter
from swe_fleet.backbone.provisioning import ensure_streams
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.errors import ConfigurationError
from swe_fleet.events import streams, subjects
from swe_fleet.events.payloads import WorkspaceTaskCompleted
from swe_fleet.host.service import Endpoints, Service
from swe_fleet.llm.client import LlmClient
from swe_fleet.llm.config import LlmConfig
from swe_fleet.review.adapters.llm_review_model import LlmReviewModel
from swe_fleet.review.adapters.planning_stories import HttpStories
from swe_fleet.review.adapters.publisher import JetStreamReviews
from swe_fleet.review.app.reviewer import Reviewer
from swe_fleet.security.client_token import SERVICE_TOKEN_FILE, bearer_headers, client_token
from swe_fleet.settings import FleetSettings

SERVICE_NAME = "review"
TASK_COMPLETED = ConsumerSpec(
    durable="review-task-completed",
    stream=streams.WORKSPACE_EVENTS,
    filter_subject=subjects.WORKSPACE_TASK_COMPLETED,
    description="QA review of each committed change",
    # A review is one LLM call; the runtime keeps the lease with in-progress acks meanwhile.
    ack_wait_seconds=60.0,
    batch_size=1,
)


async def build(settings: FleetSettings, nc: NATS, endpoints: Endpoints) -> Service:
    if not endpoints.llm_url:
        raise ConfigurationError("the QA reviewer needs an LLM server: set FLEET_LLM_URL or --llm-url")
    js = nc.jetstream()
    await ensure_streams(js, replicas=settings.resolved_nats_replicas)
    publisher = EventPublisher(js, producer=SERVICE_NAME)
    llm = LlmClient(LlmConfig.from_settings(settings, endpoints.llm_url))
    # Its service token (FLEET_TOKEN, FLEET_TOKEN_FILE or the embedded fleet's service.token).
    token = client_token(settings, default_file=SERVICE_TOKEN_FILE)
    stories = HttpStories(settings.resolved_planning_url, headers=bearer_headers(token))
    reviewer = Reviewer(stories, LlmReviewModel(llm), JetStreamReviews(publisher))
    consumer = ConsumerRuntime(
        nc, TASK_COMPLETED, reviewer.handle, DeadLetterWriter(publisher), payload_type=WorkspaceTaskCompleted
    )
    return Service(name=SERVICE_NAME, consumers=[consumer], closers=[llm.aclose, stories.aclose])
