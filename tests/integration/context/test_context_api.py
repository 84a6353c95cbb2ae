"""GetContext over HTTP against a real graph and a real Valkey/Redis: budget, secrets, policy, cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swe_fleet.embedded.child import free_port
from swe_fleet.embedded.valkey_server import EmbeddedValkey
from swe_fleet.events import payloads as p
from swe_fleet.events import subjects as s
from tests.support.required import require_cache_binary
from tests.support.waiting import eventually

from .support import RunningContext, running_context

SECRETS = {
    "password": "hunter2hunter2xyz",
    "url": "Sup3rS3cretDbPass",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "bearer": "eyJhbGciOiJIUzI1NiJ9tokenvalue",
    "key": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
}


async def seed_story(ctx: RunningContext, story: str = "US-1", decisions: int = 6) -> None:
    publish = ctx.publisher.publish
    await publish(
        s.STORY_CREATED,
        p.StoryCreated(
            story_id=story,
            title="Login",
            owner="po",
            created_by="po",
            state="IN_PROGRESS",
            brief=f"Users log in. The staging password={SECRETS['password']} must not leak.",
            acceptance_criteria=[
                "the form works",
                f"connects to postgres://app:{SECRETS['url']}@db:5432/app",
            ],
        ),
    )
    await publish(
        s.PLAN_APPROVED,
        p.PlanApproved(
            story_id=story,
            plan_id="plan-1",
            approved_by="po",
            roles=["DEV", "QA"],
            description="Build the form",
            acceptance_criteria=["works"],
            technical_notes=f"CI uses {SECRETS['aws']} and Bearer {SECRETS['bearer']}",
        ),
    )
    await publish(
        s.TASKS_DERIVED,
        p.TasksDerived(
            story_id=story,
            plan_id="plan-1",
            attempts=1,
            tasks=[
                p.TaskSpec(
                    task_id="T-1",
                    title="Form",
                    role="DEV",
                    estimate_hours=2,
                    description=f"-----BEGIN PRIVATE KEY-----\n{SECRETS['key']}\n-----END PRIVATE KEY-----",
                ),
                p.TaskSpec(task_id="T-2", title="Tests", role="QA", estimate_hours=1, depends_on=["T-1"]),
            ],
        ),
    )
    for index in range(decisions):
        await publish(
            s.DECISION_APPROVED,
            p.DecisionApproved(
                decision_id=f"D-{index}",
                story_id=story,
                task_id="T-1",
                title=f"Decision {index}",
                rationale=f"Because reason {index} matters",
                decided_by="architect",
            ),
        )

    async def seeded() -> bool:
        return await ctx.count("MATCH (e:ProjectedEvent) RETURN count(e)") >= 3 + decisions

    await eventually(seeded, what="story seeded")


@pytest.fixture
async def ctx(nc, js, tmp_path, redis_url):
    async with running_context(nc, tmp_path, valkey_url=redis_url) as running:
        await seed_story(running)
        yield running


async def test_a_budget_of_n_tokens_never_yields_more_than_n(ctx):
    for budget in (0, 1, 3, 17, 60, 150, 400, 1000, 5000, 100_000):
        response = await ctx.context(
            "US-1", role="DEV", phase="IN_PROGRESS", task_id="T-1", token_budget=budget
        )
        assert response.status_code == 200, response.text
        pack = response.json()
        assert pack["token_count"] <= budget
        assert pack["token_budget"] == budget
        assert set(pack["blocks"]) == {"system", "context", "tools"}
    full = (
        await ctx.context("US-1", role="DEV", phase="IN_PROGRESS", task_id="T-1", token_budget=100_000)
    ).json()
    assert full["sections_cut"] == []
    assert "## Your task: T-1" in full["blocks"]["context"]


async def test_a_planted_secret_never_appears_in_any_output(ctx):
    outputs = []
    for role, phase in (("DEV", "IN_PROGRESS"), ("QA", "TESTING"), ("ARCHITECT", "PLANNED"), ("PO", "DRAFT")):
        for budget in (40, 300, 100_000):
            response = await ctx.context("US-1", role=role, phase=phase, task_id="T-1", token_budget=budget)
            assert response.status_code == 200
            outputs.append(response.text)
    outputs.append(
        (
            await ctx.http.post(
                "/v1/context/rehydrate",
                json={"story_id": "US-1", "roles": ["DEV", "QA", "PO"], "token_budget": 100_000},
            )
        ).text
    )
    outputs.append((await ctx.http.post("/v1/graph/query", json={"cypher": "MATCH (n) RETURN n"})).text)
    outputs.append((await ctx.http.get("/v1/graph/stories/US-1")).text)
    joined = "\n".join(outputs)
    assert "REDACTED" in joined
    for secret in SECRETS.values():
        assert secret not in joined, f"{secret} leaked"


async def test_a_role_outside_the_policy_is_refused(ctx):
    response = await ctx.context("US-1", role="INTERN", phase="IN_PROGRESS")
    assert response.status_code == 403
    assert "not in the scope policy" in response.json()["detail"]
    response = await ctx.context("US-1", role="DEV", phase="DRAFT")
    assert response.status_code == 403
    assert "DRAFT" in response.json()["detail"]
    refused = await ctx.context("NO-SUCH-STORY", role="INTERN", phase="IN_PROGRESS")
    assert refused.status_code == 403  # the policy answers first: a refused role learns nothing
    missing = await ctx.context("NO-SUCH-STORY", role="DEV", phase="IN_PROGRESS")
    assert missing.status_code == 404
    rehydrated = await ctx.http.post(
        "/v1/context/rehydrate", json={"story_id": "US-1", "roles": ["DEV", "INTERN"]}
    )
    body = rehydrated.json()
    assert list(body["packs"]) == ["DEV"] and "INTERN" in body["refused"]


async def test_the_phase_defaults_to_the_story_state(ctx):
    response = await ctx.context("US-1", role="DEV", token_budget=500)
    assert response.status_code == 200
    assert response.json()["phase"] == "IN_PROGRESS"


@pytest.mark.parametrize(
    "cypher",
    [
        "CREATE (n:Story {id: 'evil'})",
        "MATCH (n) DETACH DELETE n",
        "MATCH (n:Story) /* quietly */ SeT n.title = 'x'",
        "MATCH (n) RETURN n; MATCH (m) DELETE m",
        "MERGE (n:Story {id: 'evil'})",
        "DROP TABLE Story",
        "CALL apoc.create.node(['X'], {})",
    ],
)
async def test_write_cypher_is_refused_with_400(ctx, cypher):
    before = await ctx.stats()
    response = await ctx.http.post("/v1/graph/query", json={"cypher": cypher})
    assert response.status_code == 400
    assert response.json()["detail"]
    assert (await ctx.stats())["nodes"] == before["nodes"]


async def test_a_bad_read_query_is_a_400_not_a_500(ctx):
    response = await ctx.http.post("/v1/graph/query", json={"cypher": "MATCH (n:NoSuchLabel) RETURN n"})
    assert response.status_code == 400


async def test_a_graph_change_makes_the_cached_context_unreachable(ctx):
    params = {"role": "DEV", "phase": "IN_PROGRESS", "task_id": "T-1", "token_budget": 100_000}
    first = (await ctx.context("US-1", **params)).json()
    second = (await ctx.context("US-1", **params)).json()
    assert not first["cached"] and second["cached"]
    assert second["blocks"] == first["blocks"] and second["version"] == first["version"]

    await ctx.publisher.publish(
        s.DECISION_APPROVED,
        p.DecisionApproved(
            decision_id="D-new",
            story_id="US-1",
            task_id="T-1",
            title="Use argon2",
            rationale="slow hashing",
            decided_by="architect",
        ),
    )

    async def moved() -> bool:
        pack = (await ctx.context("US-1", **params)).json()
        return pack["version"] > first["version"]

    await eventually(moved, what="the story's version moved")
    third = (await ctx.context("US-1", **params)).json()
    assert "Use argon2" in third["blocks"]["context"]
    fourth = (await ctx.context("US-1", **params)).json()
    assert fourth["cached"] and fourth["version"] == third["version"]


async def test_metrics_and_readiness_describe_the_service(ctx):
    ready = (await ctx.http.get("/readyz")).json()
    assert ready["status"] == "ok"
    assert ready["checks"]["context.cache"]["status"] == "ok"
    await ctx.context("US-1", role="DEV", phase="IN_PROGRESS", token_budget=500)
    metrics = (await ctx.http.get("/metrics")).text
    assert "fleet_context_projected_events_total" in metrics
    assert "fleet_context_get_seconds_bucket" in metrics


async def test_with_valkey_unreachable_the_service_answers_uncached_and_reports_degraded(
    nc, js, tmp_path: Path
):
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    async with running_context(nc, tmp_path, valkey_url=closed) as ctx:
        await seed_story(ctx, decisions=1)
        for _ in range(2):
            response = await ctx.context("US-1", role="DEV", phase="IN_PROGRESS", token_budget=800)
            assert response.status_code == 200
            assert response.json()["cached"] is False
        ready = await ctx.http.get("/readyz")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "degraded"
        assert body["checks"]["context.cache"]["status"] == "degraded"


async def test_valkey_stopping_mid_service_degrades_without_failing(nc, js, tmp_path: Path):
    require_cache_binary()
    valkey = EmbeddedValkey(tmp_path / "valkey", port=free_port()).start()
    try:
        async with running_context(nc, tmp_path, valkey_url=valkey.url) as ctx:
            await seed_story(ctx, decisions=1)
            params = {"role": "QA", "phase": "TESTING", "token_budget": 800}
            assert not (await ctx.context("US-1", **params)).json()["cached"]
            assert (await ctx.context("US-1", **params)).json()["cached"]
            valkey.stop()
            response = await ctx.context("US-1", **params)
            assert response.status_code == 200 and response.json()["cached"] is False
            assert json.loads((await ctx.http.get("/readyz")).text)["status"] == "degraded"
    finally:
        valkey.stop()
