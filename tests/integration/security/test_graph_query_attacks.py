"""Cypher injection against `POST /v1/graph/query` and every parameter that reaches a query.

The Context service runs with its real Ladybug graph and real nats-server; a seeded story is in
the graph. Each attempt (writes in every disguise, CALL procedures, LOAD/COPY/ATTACH/INSTALL,
comments, unicode tricks, injection through parameters and path ids) is refused or harmless, and
the graph's node counts and version are the same afterwards. The read-only guarantee is the
store's own: the same writes sent to the store directly, past the text check, are refused by its
READ ONLY transaction. Queries are time- and row-limited, and only a product owner or a service may
query the whole graph.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from fleet_testing.auth import bearer
from swe_fleet.graph.factory import open_graph_store
from swe_fleet.graph.port import GraphQueryError
from swe_fleet.security.identity import Role
from tests.integration.context.support import RunningContext, running_context
from tests.integration.context.test_context_api import seed_story

WRITES = [
    "CREATE (n:Story {id: 'US-PWNED'})",
    "MATCH (n) DETACH DELETE n",
    "MATCH (s:Story) SET s.title = 'pwned' RETURN s",
    "MERGE (n:Story {id: 'US-PWNED'}) RETURN n",
    "cReAtE (n:Story {id: 'US-PWNED'})",
    "MATCH (n) /* harmless? */ DELETE n",
    "// a comment\nCREATE (n:Story {id: 'US-PWNED'})",
    "MATCH (n) RETURN n; CREATE (m:Story {id: 'US-PWNED'})",
    "MATCH (s:Story) REMOVE s.title",
    "MATCH (s:Story) FOREACH (x IN [1] | SET s.title = 'pwned')",
    "UNWIND [1] AS x CALL { CREATE (n:Story {id: 'US-PWNED'}) }",
    "CALL db.clear()",
    "CALL apoc.periodic.iterate('MATCH (n) RETURN n', 'DETACH DELETE n', {})",
    "LOAD CSV FROM 'file:///etc/passwd' AS row RETURN row",
    "LOAD FROM '/etc/passwd' RETURN *",
    "COPY Story FROM '/etc/passwd'",
    "INSTALL httpfs",
    "ATTACH '/tmp/elsewhere.lbug' AS other (dbtype lbug)",
    "DROP TABLE Story",
    "BEGIN TRANSACTION",
    "MATCH (n) RETURN n /* unterminated",
    "RETURN 'unterminated",
    "\uff23\uff32\uff25\uff21\uff34\uff25 (n:Story {id: 'US-PWNED'})",  # fullwidth letters
    "CRE\u200bATE (n:Story {id: 'US-PWNED'})",  # a zero-width space inside the keyword
    "\u0421REATE (n:Story {id: 'US-PWNED'})",  # a Cyrillic Es in place of the C
    "MATCH (n) DETACH\u00a0DELETE n",  # a no-break space between the words
]
HARMLESS_READS = [
    ("RETURN 'CREATE (n) DETACH DELETE n' AS text", {}),
    ("MATCH (s:Story {id: $id}) RETURN s.id AS id", {"id": "US-1'}) DETACH DELETE s //"}),
    ("MATCH (s:Story) WHERE s.id = $id RETURN s.id AS id", {"id": "x' OR 1=1 //"}),
]


async def snapshot(ctx: RunningContext) -> tuple[dict, int]:
    stats = await ctx.stats()
    return stats["nodes"], stats["version"]


@pytest.fixture
async def ctx(nc, js, tmp_path):
    limits = {"graph_query_timeout_seconds": 1.0, "graph_query_max_rows": 5}
    async with running_context(nc, tmp_path, valkey_url=None, **limits) as running:
        await seed_story(running, decisions=2)
        yield running


async def test_no_injection_writes_or_escapes(ctx: RunningContext) -> None:
    before = await snapshot(ctx)
    assert before[0]["Story"] == 1
    answers = {}
    for cypher in WRITES:
        response = await ctx.http.post("/v1/graph/query", json={"cypher": cypher, "params": {}})
        answers[cypher] = response.status_code
    assert {code for code in answers.values()} == {400}, answers
    for cypher, params in HARMLESS_READS:
        response = await ctx.http.post("/v1/graph/query", json={"cypher": cypher, "params": params})
        assert response.status_code == 200, (cypher, response.text)
        assert all(row.get("id") in (None, "US-1") for row in response.json()["rows"])
    # Ids in paths reach queries as parameters, never as text.
    for story_id in ["US-1'}) DETACH DELETE n RETURN 1 AS x", "US-1` DETACH DELETE n", "*", "$id"]:
        escaped = quote(story_id, safe="")
        assert (await ctx.http.get(f"/v1/graph/stories/{escaped}")).status_code == 404
        assert (await ctx.context(escaped, role="DEV")).status_code in (403, 404)
    assert await snapshot(ctx) == before
    assert await ctx.count("MATCH (s:Story {id: 'US-PWNED'}) RETURN count(s)") == 0


async def test_the_store_refuses_writes_on_its_own(tmp_path) -> None:
    """Past the text check, straight to a Ladybug store: its READ ONLY transaction refuses every write."""
    store = open_graph_store(f"ladybug://{tmp_path / 'own' / 'graph.lbug'}")
    await store.start()
    try:
        for cypher in [
            "CREATE (n:Story {id: 'US-PWNED'})",
            "MERGE (n:Story {id: 'US-PWNED'})",
            "MATCH (n) DETACH DELETE n",
            "CREATE (n:Story {id: 'US-PWNED'}) RETURN n",
        ]:
            with pytest.raises(GraphQueryError):
                await store.read_limited(cypher, {}, max_rows=5, timeout_seconds=5)
        assert await store.read("MATCH (s:Story) RETURN count(s) AS n") == [{"n": 0}]
    finally:
        await store.close()


async def test_queries_are_time_and_row_limited(ctx: RunningContext) -> None:
    rows = await ctx.http.post("/v1/graph/query", json={"cypher": "UNWIND range(1, 50) AS x RETURN x"})
    assert rows.status_code == 200
    assert (rows.json()["row_count"], rows.json()["truncated"]) == (5, True)
    # 10^10 rows through a filter the engine cannot push down: minutes of work without the limit.
    endless = (
        "UNWIND range(1, 100000) AS a UNWIND range(1, 100000) AS b "
        "WITH a, b WHERE (a * b) % 97 = 1 RETURN count(*) AS n"
    )
    stopped = await ctx.http.post("/v1/graph/query", json={"cypher": endless})
    assert stopped.status_code == 400 and "was stopped" in stopped.json()["detail"], stopped.text
    # The service still answers afterwards (the reader connection's timeout was reset).
    assert (await ctx.http.get("/v1/graph/stats")).status_code == 200
    assert await ctx.count("MATCH (s:Story) RETURN count(s)") == 1


async def test_only_roles_that_may_read_the_whole_graph_query_it(ctx: RunningContext, tmp_path) -> None:
    data_dir = tmp_path / "data"
    query = {"cypher": "MATCH (s:Story) RETURN s.id AS id"}
    viewer = bearer(data_dir, "vera", (Role.VIEWER,))
    service = bearer(data_dir, "agents", (Role.SERVICE,))
    assert (await ctx.http.post("/v1/graph/query", json=query, headers=viewer)).status_code == 403
    assert (await ctx.http.get("/v1/graph/stats", headers=viewer)).status_code == 200
    assert (await ctx.http.post("/v1/graph/query", json=query, headers=service)).status_code == 200
    anonymous = await ctx.http.post("/v1/graph/query", json=query, headers={"Authorization": ""})
    assert anonymous.status_code == 401
