"""A corpus of secrets in every text field a client can send: none comes back unredacted from the
planning API, none is in a published event, the graph or an agent's context pack, none in a log line.

Real planning service and real Context service (real Ladybug) on one real nats-server: the secrets
travel the way a PO's text does.
"""

from __future__ import annotations

import io
import logging

from swe_fleet.redaction import redact_logs
from tests.integration.context.support import running_context
from tests.integration.planning.support import StoreTarget, await_until, outbox_pending, running_planning
from tests.support.waiting import eventually

PEM = "-----BEGIN RSA PRIVATE KEY-----"
# (what it is, the text a person might paste, the part that must never be seen again)
CORPUS = [
    ("aws access key", "deploy with AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("aws secret", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
    ("google key", "maps key AIzaSyD3xAmPlEk3yXXXXXXXXXXXXXXXXXXXXXX", "AIzaSyD3xAmPlEk3y"),
    ("azure key", "AccountName=x;AccountKey=Zm9vYmFyYmF6cXV4Zm9vYmFy==;", "Zm9vYmFyYmF6cXV4"),
    ("github token", "CI uses ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnop"),
    ("slack token", "notify xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp", "xoxb-123456789012"),
    ("slack webhook", "hook https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXX", "B0000/XXXX"),
    ("private key", f"{PEM}\nMIIEowIBAAKCAQEAx8kq\n{PEM.replace('BEGIN', 'END')}", "MIIEowIBAAKCAQEA"),
    ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fw", "SflKxwRJSMeKKF2Q"),
    ("password in url", "postgres://app:S3cr3tPassw0rd@db.internal:5432/app", "S3cr3tPassw0rd"),
    (".env line", "DATABASE_PASSWORD=hunter2hunter2", "hunter2hunter2"),
    ("stripe key", "STRIPE_API_KEY=sk_live_abcdefghijklmnopqrstuvwx", "sk_live_abcdefgh"),
]  # fmt: skip
NEEDLES = [needle for _, _, needle in CORPUS]
TEXTS = [text for _, text, _ in CORPUS]


def leaked(text: str) -> list[str]:
    return [needle for needle in NEEDLES if needle in text]


async def test_no_secret_reaches_an_event_the_graph_a_context_or_a_log(
    nc, js, nats_server, sqlite_store: StoreTarget, tmp_path
) -> None:
    everything = "\n".join(text for _, text, _ in CORPUS)
    async with (
        running_planning(nats_server.url, sqlite_store, tmp_path) as api,
        running_context(nc, tmp_path / "ctx", valkey_url=None) as ctx,
    ):
        story = await api.post(
            "/v1/stories",
            json={
                "id": "US-SECRETS",
                "title": f"Login {CORPUS[0][1]}",
                "brief": everything,
                "acceptance_criteria": TEXTS,
            },
        )
        assert story.status_code == 201, story.text
        for state in ("PO_REVIEW", "READY_FOR_PLANNING"):
            moved = await api.post(
                "/v1/stories/US-SECRETS/transitions", json={"to_state": state, "reason": everything}
            )
            assert moved.status_code == 200, moved.text
        plan = await api.post(
            "/v1/stories/US-SECRETS/plans",
            json={
                "id": "PL-S",
                "description": everything,
                "acceptance_criteria": TEXTS,
                "technical_notes": everything,
            },
        )
        approved = await api.post("/v1/plans/PL-S/approve", json={"notes": everything})
        decision = await api.post(
            "/v1/decisions",
            json={"story_id": "US-SECRETS", "title": "creds", "description": everything, "affects": TEXTS},
        )
        verdict = await api.post(
            f"/v1/decisions/{decision.json()['id']}/approve", json={"rationale": everything}
        )
        answers = [story, plan, approved, decision, verdict, await api.get("/v1/stories/US-SECRETS")]
        assert [leaked(answer.text) for answer in answers] == [[]] * len(answers)
        assert "[REDACTED:" in story.text

        # Events: every byte of every message in the stream.
        await await_until(lambda: outbox_pending(sqlite_store) == 0, 60, "the outbox to drain")
        info = await js.stream_info("PLANNING_EVENTS")
        raw = [await js.get_msg("PLANNING_EVENTS", seq) for seq in range(1, info.state.last_seq + 1)]
        assert len(raw) >= 6 and leaked(b"".join(m.data for m in raw).decode()) == []

        # The graph, as projected by the Context service, and an agent's context pack.
        async def projected() -> bool:
            return await ctx.count("MATCH (d:Decision) RETURN count(d)") >= 1

        await eventually(projected, what="the story's events projected")
        graph = await ctx.http.post("/v1/graph/query", json={"cypher": "MATCH (n) RETURN n", "params": {}})
        assert graph.status_code == 200 and leaked(graph.text) == []
        pack = await ctx.context("US-SECRETS", role="DEV", phase="IN_PROGRESS")
        assert pack.status_code in (200, 403) and leaked(pack.text) == []

    # Logs: whatever a service logs goes through the redacting filter on the handlers.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        redact_logs()
        log = logging.getLogger("swe_fleet.some.service")
        for what, text, _ in CORPUS:
            log.warning("could not use %s: %s", what, text)
        try:
            raise RuntimeError(f"connect failed: {CORPUS[9][1]}")
        except RuntimeError:
            log.exception("outbox relay stopped")
    finally:
        root.removeHandler(handler)
    assert stream.getvalue().count("could not use") == len(CORPUS)
    assert leaked(stream.getvalue()) == []
