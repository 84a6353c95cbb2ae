"""The graph query API refuses anything that could write, however it is dressed up."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swe_fleet.graph.readonly import WRITE_KEYWORDS, WriteQueryRefused, check_read_only

READS = [
    "MATCH (n:PlanApproval) RETURN n",
    "match (s:Story {id: $id})-[:HAS_PLAN]->(p) return p.id, p.status order by p.id limit 5",
    "MATCH (n) WHERE n.title = 'CREATE a thing; then DELETE it' RETURN n",
    'MATCH (n) WHERE n.id = "a\\" SET x" RETURN n',
    "MATCH (n:`SET`) RETURN n.delete, n.merge",
    "MATCH (n) RETURN {set: 1, create: 2}",
    "MATCH (n) RETURN n; ",
    "CALL show_tables() RETURN *",
    "CALL db.labels()",
    "MATCH (n) CALL { MATCH (m) RETURN count(m) AS c } RETURN n, c",
    "// a comment with CREATE in it\nMATCH (n) RETURN count(n)",
    "MATCH (n) /* MERGE */ RETURN n",
    "MATCH (n) RETURN $create",
]

WRITES = [
    "CREATE (n:Story {id: 'x'})",
    "MATCH (n) DETACH DELETE n",
    "match (n) set n.x = 1",
    "MATCH (n) /* hidden */ cReAtE (m)",
    "MATCH (n) RETURN n; MATCH (m) DELETE m",
    "MERGE (n:Story {id: 'x'})",
    "MATCH (n) REMOVE n.title",
    "DROP TABLE Story",
    "ALTER TABLE Story ADD x STRING",
    "COPY Story FROM 'x.csv'",
    "LOAD CSV FROM 'file:///x' AS row RETURN row",
    "CALL apoc.create.node(['X'], {})",
    "CALL dbms.killQueries(['1'])",
    "MATCH (a) FOREACH (x IN [1] | SET a.b = x)",
    "MATCH (n)\nSET\nn.x = 1",
    "MATCH (n) CALL { CREATE (m) } RETURN n",
    "BEGIN TRANSACTION",
    "MATCH (n) RETURN n /* unterminated",
    "MATCH (n) WHERE n.id = 'unterminated RETURN n",
    "",
    "   ",
]


@pytest.mark.parametrize("query", READS)
def test_reads_pass(query: str):
    assert check_read_only(query) == query.strip()


@pytest.mark.parametrize("query", WRITES)
def test_writes_are_refused(query: str):
    with pytest.raises(WriteQueryRefused):
        check_read_only(query)


@given(
    keyword=st.sampled_from(sorted(WRITE_KEYWORDS)),
    casing=st.lists(st.booleans(), min_size=12, max_size=12),
    before=st.sampled_from(["", " ", "\n", "/* x */", "// y\n", ")", "\t"]),
    after=st.sampled_from([" ", "\n", "/* z */", "(", "\t"]),
)
def test_a_write_keyword_is_found_whatever_its_case_and_surroundings(keyword, casing, before, after):
    dressed = "".join(c.upper() if up else c.lower() for c, up in zip(keyword, casing, strict=False))
    with pytest.raises(WriteQueryRefused):
        check_read_only(f"MATCH (n){before}{dressed}{after}n RETURN n")
