"""Attacks on the HTTP API's authentication and authorisation, against the planning service wired by
its real bootstrap (real store, real nats-server): every answer here is the production code's.

No token → 401; a viewer's change → 403; every change records the token's identity, and a body that
names another actor is refused; the rate limit answers 429 per identity; tampered, expired, foreign,
unsigned and algorithm-confused tokens are refused; security headers on; CORS closed by default.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import httpx
import jwt
import pytest

from fleet_testing.auth import token_for
from swe_fleet.security.identity import Role
from tests.integration.planning.support import (
    StoreTarget,
    await_until,
    outbox_pending,
    planning_events,
    running_planning,
)

VIEWER = (Role.VIEWER,)
PO = (Role.PRODUCT_OWNER,)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def as_(data_dir: Path, subject: str, roles=PO) -> dict[str, str]:
    return auth(token_for(data_dir, subject, roles))


async def story_ready_for_planning(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    story = await client.post("/v1/stories", json={"title": "Login"}, headers=headers)
    assert story.status_code == 201, story.text
    story_id = story.json()["id"]
    for state in ("PO_REVIEW", "READY_FOR_PLANNING"):
        moved = await client.post(
            f"/v1/stories/{story_id}/transitions", json={"to_state": state}, headers=headers
        )
        assert moved.status_code == 200, moved.text
    return story_id


async def test_without_a_token_every_route_but_health_answers_401(
    nats_server, sqlite_store: StoreTarget, tmp_path: Path
) -> None:
    async with running_planning(nats_server.url, sqlite_store, tmp_path) as client:
        token = client.headers.pop("Authorization")  # the same client, anonymous
        anonymous = client
        for method, path, body in [
            ("GET", "/v1/stories", None),
            ("GET", "/v1/projects", None),
            ("POST", "/v1/stories", {"title": "t"}),
            ("POST", "/v1/plans/PL-1/approve", {}),
            ("GET", "/metrics", None),
        ]:
            answer = await anonymous.request(method, path, json=body)
            assert answer.status_code == 401, (path, answer.text)
            assert answer.headers["www-authenticate"].startswith("Bearer")
        garbage = await anonymous.get("/v1/stories", headers={"Authorization": "Bearer not.a.jwt"})
        basic = await anonymous.get("/v1/stories", headers={"Authorization": "Basic cG86cG8="})
        assert (garbage.status_code, basic.status_code) == (401, 401)
        assert (await anonymous.get("/healthz")).status_code == 200
        assert (await anonymous.get("/readyz")).status_code == 200
        document = (await anonymous.get("/openapi.json")).json()
        client.headers["Authorization"] = token
        assert "bearer" in document["components"]["securitySchemes"]
        assert "401" in document["paths"]["/v1/stories"]["post"]["responses"]
        # Nothing was created by the anonymous POST.
        assert (await client.get("/v1/stories")).json() == []


async def test_a_viewer_reads_but_every_change_is_refused_403(
    nats_server, sqlite_store: StoreTarget, tmp_path: Path
) -> None:
    async with running_planning(nats_server.url, sqlite_store, tmp_path) as client:
        story_id = await story_ready_for_planning(client, as_(tmp_path, "po"))
        plan = await client.post(
            f"/v1/stories/{story_id}/plans", json={"description": "d", "acceptance_criteria": ["a"]}
        )
        viewer = as_(tmp_path, "vera", VIEWER)
        assert (await client.get(f"/v1/stories/{story_id}", headers=viewer)).status_code == 200
        attempts = [
            ("/v1/projects", {"name": "p"}),
            ("/v1/stories", {"title": "t"}),
            (f"/v1/stories/{story_id}/transitions", {"to_state": "DRAFT"}),
            (f"/v1/plans/{plan.json()['id']}/approve", {}),
            ("/v1/decisions", {"story_id": story_id, "title": "t"}),
        ]
        for path, body in attempts:
            answer = await client.post(path, json=body, headers=viewer)
            assert answer.status_code == 403, (path, answer.text)
            assert "vera may not do this" in answer.json()["detail"]
        assert (await client.get(f"/v1/plans/{plan.json()['id']}")).json()["status"] == "PROPOSED"
        # A service may propose a decision but not give a PO's verdict on a plan.
        service = as_(tmp_path, "agent-7", (Role.SERVICE,))
        proposed = await client.post(
            "/v1/decisions", json={"story_id": story_id, "title": "t"}, headers=service
        )
        assert proposed.status_code == 201 and proposed.json()["proposed_by"] == "agent-7"
        refused = await client.post(f"/v1/plans/{plan.json()['id']}/approve", json={}, headers=service)
        assert refused.status_code == 403


async def test_every_change_records_the_identity_that_made_it(
    js, nats_server, sqlite_store: StoreTarget, tmp_path: Path
) -> None:
    alice = as_(tmp_path, "alice")
    async with running_planning(nats_server.url, sqlite_store, tmp_path) as client:
        # A body that names its own actor is refused, not believed: nothing is created.
        for path, body in [
            ("/v1/stories", {"title": "t", "created_by": "mallory"}),
            ("/v1/projects", {"name": "p", "created_by": "mallory"}),
        ]:
            forged = await client.post(path, json=body, headers=alice)
            assert forged.status_code == 422 and "created_by" in forged.text
        project = (await client.post("/v1/projects", json={"name": "Shop"}, headers=alice)).json()
        epic = (
            await client.post("/v1/epics", json={"project_id": project["id"], "title": "A"}, headers=alice)
        ).json()
        story_id = await story_ready_for_planning(client, alice)
        plan = (
            await client.post(
                f"/v1/stories/{story_id}/plans",
                json={"description": "d", "acceptance_criteria": ["a"]},
                headers=alice,
            )
        ).json()
        forged = await client.post(f"/v1/plans/{plan['id']}/approve", json={"by": "mallory"}, headers=alice)
        assert forged.status_code == 422
        approved = (
            await client.post(f"/v1/plans/{plan['id']}/approve", json={"notes": "go"}, headers=alice)
        ).json()
        decision = (
            await client.post("/v1/decisions", json={"story_id": story_id, "title": "RS256"}, headers=alice)
        ).json()
        verdict = (
            await client.post(
                f"/v1/decisions/{decision['id']}/reject", json={"rationale": "no"}, headers=alice
            )
        ).json()
        story = (await client.get(f"/v1/stories/{story_id}")).json()

        assert project["created_by"] == epic["created_by"] == "alice"
        assert (story["owner"], story["created_by"]) == ("alice", "alice")
        assert {h["by"] for h in story["history"]} == {"alice"}
        assert (plan["created_by"], approved["decided_by"]) == ("alice", "alice")
        assert (decision["proposed_by"], verdict["decided_by"]) == ("alice", "alice")
        # ...and the events the rest of the fleet acts on carry the same identity.
        await await_until(lambda: outbox_pending(sqlite_store) == 0, 60, "the outbox to drain")
        actors = set()
        for stored in await planning_events(js):
            payload = stored.envelope.payload.model_dump()
            actors |= {
                payload[key]
                for key in ("created_by", "transitioned_by", "approved_by", "rejected_by", "decided_by")
                if payload.get(key)
            }
        assert actors == {"alice"}
        assert "mallory" not in json.dumps(
            [s.envelope.model_dump(mode="json") for s in await planning_events(js)]
        )


async def test_the_rate_limit_answers_429_per_identity(
    nats_server, sqlite_store: StoreTarget, tmp_path: Path
) -> None:
    limited = {"api_rate_per_minute": 1.0, "api_rate_burst": 3}
    async with running_planning(nats_server.url, sqlite_store, tmp_path, **limited) as client:
        greedy = as_(tmp_path, "greedy")
        answers = [(await client.get("/v1/stories", headers=greedy)).status_code for _ in range(5)]
        assert answers == [200, 200, 200, 429, 429]
        refused = await client.get("/v1/stories", headers=greedy)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "rate limit for greedy" in refused.json()["detail"]
        # Another identity has its own bucket.
        assert (await client.get("/v1/stories", headers=as_(tmp_path, "patient"))).status_code == 200


def _segments(token: str) -> list[str]:
    return token.split(".")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


async def test_tampered_expired_foreign_and_unsigned_tokens_are_refused(
    nats_server, sqlite_store: StoreTarget, tmp_path: Path
) -> None:
    viewer = token_for(tmp_path, "vera", VIEWER)
    header, _, signature = _segments(viewer)
    # Tampered: the viewer promotes itself, keeping the old signature.
    promoted = ".".join([header, _b64({**_claims(viewer), "roles": ["product_owner"]}), signature])
    expired = token_for(tmp_path, "old", PO, ttl=timedelta(minutes=-5))
    foreign = token_for(tmp_path / "another-fleet", "po", PO)  # a different issuer key, same claims shape
    unsigned = jwt.encode(
        {**_claims(token_for(tmp_path, "po")), "roles": ["product_owner"]}, key=None, algorithm="none"
    )
    public_pem = (tmp_path / "auth" / "issuer.key").read_bytes()  # the key file exists: token_for made it
    # Algorithm confusion: an HMAC token keyed with bytes an attacker might know (the key PEM stands in).
    hmac = jwt.encode({**_claims(token_for(tmp_path, "po"))}, key=public_pem[:64], algorithm="HS256")
    async with running_planning(nats_server.url, sqlite_store, tmp_path) as client:
        for name, token, reason in [
            ("promoted", promoted, "signature"),
            ("expired", expired, "expired"),
            ("foreign", foreign, "signature"),
            ("unsigned", unsigned, "not valid"),
            ("hmac", hmac, "not valid"),
        ]:
            answer = await client.post("/v1/stories", json={"title": name}, headers=auth(token))
            assert answer.status_code == 401, (name, answer.text)
            assert reason in answer.json()["detail"], (name, answer.json())
        assert (await client.get("/v1/stories")).json() == []


async def test_security_headers_and_cors_closed_by_default(
    nats_server, sqlite_store: StoreTarget, tmp_path: Path
) -> None:
    async with running_planning(nats_server.url, sqlite_store, tmp_path) as client:
        answer = await client.get("/v1/stories")
        for header, value in [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-store"),
        ]:
            assert answer.headers[header] == value
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        preflight = await client.options(
            "/v1/stories",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in preflight.headers
        simple = await client.get("/v1/stories", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in simple.headers


@pytest.mark.parametrize(
    "origin, allowed", [("https://board.example", True), ("https://evil.example", False)]
)
async def test_cors_opens_only_to_configured_origins(
    nats_server, sqlite_store: StoreTarget, tmp_path: Path, origin: str, allowed: bool
) -> None:
    async with running_planning(
        nats_server.url, sqlite_store, tmp_path, cors_origins=["https://board.example"]
    ) as client:
        preflight = await client.options(
            "/v1/stories", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
        )
        assert (preflight.headers.get("access-control-allow-origin") == origin) is allowed
