"""The board's pure parts: columns, councils from graph rows, live lines, CSRF tokens."""

from __future__ import annotations

from swe_fleet.board.adapters.sessions import csrf_matches, csrf_token
from swe_fleet.board.domain import activity, councils, lanes
from swe_fleet.board.domain.identity import BoardRole, Identity
from swe_fleet.events.payloads import StoryState


def story(story_id: str, state: str, allowed: list[str]) -> dict:
    return {
        "id": story_id,
        "title": f"t {story_id}",
        "state": state,
        "version": 2,
        "allowed_transitions": allowed,
    }


def test_every_state_has_a_column_in_lifecycle_order_and_cards_land_in_theirs() -> None:
    columns = lanes.columns(
        [story("a", "DRAFT", ["PO_REVIEW"]), story("b", "TESTING", []), story("c", "DRAFT", [])]
    )
    assert [c.state for c in columns] == list(StoryState)
    by_state = {c.state: [card.id for card in c.cards] for c in columns}
    assert by_state[StoryState.DRAFT] == ["a", "c"] and by_state[StoryState.TESTING] == ["b"]
    assert columns[0].cards[0].allowed == (StoryState.PO_REVIEW,)
    assert lanes.count(columns) == 3


def test_criteria_are_one_per_line_without_blanks() -> None:
    assert lanes.criteria_lines(" a \n\n b\r\n  ") == ["a", "b"]


def test_only_a_product_owner_may_change() -> None:
    assert Identity("p", BoardRole.PRODUCT_OWNER).may_change
    assert not Identity("v", BoardRole.VIEWER).may_change
    assert not Identity("s", BoardRole.SERVICE).may_change


def test_a_council_is_assembled_with_its_winner_first_and_why_it_won() -> None:
    rows = {
        "tasks": [{"id": "T1", "title": "Write", "role": "DEV", "status": "DISPATCHED"}],
        "deliberations": [
            {
                "task_id": "T1",
                "id": "D1",
                "outcome": "completed",
                "winner_proposal_id": "P2",
                "winner_agent_id": "dev-2",
            }
        ],
        "proposals": [
            {"deliberation_id": "D1", "id": "P1", "agent_id": "dev-1", "content": "a", "total_score": 0.5},
            {
                "deliberation_id": "D1",
                "id": "P2",
                "agent_id": "dev-2",
                "content": "b",
                "total_score": 0.9,
                "selected": True,
            },
        ],
        "critiques": [{"proposal_id": "P1", "id": "C1", "author": "dev-2", "content": "too short"}],
        "scores": [
            {"proposal_id": "P2", "id": "S1", "judge": "dev-1", "total": 0.9, "criteria": ["tests=1: ok"]}
        ],
    }
    (task,) = councils.assemble(rows)
    (deliberation,) = task.deliberations
    assert [p.id for p in deliberation.proposals] == ["P2", "P1"]
    assert deliberation.winner is not None and deliberation.winner.agent_id == "dev-2"
    assert deliberation.why == "highest total score: 0.90 against 0.50 for the next best"
    assert deliberation.proposals[1].critiques[0]["content"] == "too short"
    assert deliberation.proposals[0].scores[0]["criteria"] == ["tests=1: ok"]


def test_council_queries_take_the_story_as_a_parameter() -> None:
    for query in councils.QUERIES.values():
        assert "$story" in query and "MATCH" in query


def test_live_lines_summarise_filter_by_story_and_count_council_progress() -> None:
    progress = activity.CouncilProgress()
    command = {
        "payload": {
            "story_id": "US-1",
            "task_id": "T1",
            "deliberation_id": "D1",
            "kind": "generate",
            "agent_id": "dev-1",
        }
    }
    first = activity.line("agent.cmd.generate", command, progress)
    assert first.story_ids == ("US-1",) and first.progress == "Council on T1: generate 0/1"
    answer = activity.line("agent.response.completed", command, progress)
    assert answer.progress == "Council on T1: generate 1/1" and not answer.refresh
    updated = activity.line("context.updated", {"payload": {"story_ids": ["US-1", "US-2"]}}, progress)
    assert updated.refresh and updated.story_ids == ("US-1", "US-2")
    moved = activity.line(
        "planning.story.transitioned",
        {
            "occurred_at": "2026-11-29T10:00:00Z",
            "payload": {
                "story_id": "US-3",
                "from_state": "DRAFT",
                "to_state": "PO_REVIEW",
                "transitioned_by": "pat",
            },
        },
        progress,
    )
    assert moved.summary.startswith("DRAFT → PO_REVIEW by pat") and moved.occurred_at.endswith("Z")


def test_csrf_tokens_are_bound_to_the_session() -> None:
    token = csrf_token("session-a")
    assert csrf_matches("session-a", token)
    assert not csrf_matches("session-b", token)
    assert not csrf_matches("session-a", None) and not csrf_matches("session-a", "")


def test_workspace_rows_join_their_task_with_tool_calls_in_step_order() -> None:
    rows = {
        "tasks": [{"id": "T1"}],
        "results": [{"task_id": "T1", "id": "R1", "outcome": "completed"}, {"task_id": "T9", "id": "R9"}],
        "commits": [{"task_id": "T1", "sha": "abc", "message": "m"}],
        "tool_calls": [
            {"task_id": "T1", "id": "c3", "step": 1, "attempt": 2},
            {"task_id": "T1", "id": "c2", "step": 2, "attempt": 1},
            {"task_id": "T1", "id": "c1", "step": 1, "attempt": 1},
        ],
    }
    (task,) = councils.assemble(rows)
    assert [r["id"] for r in task.results] == ["R1"] and task.commits[0]["sha"] == "abc"
    assert [c["id"] for c in task.tool_calls] == ["c1", "c2", "c3"]


def test_diff_lines_are_classified_for_colouring() -> None:
    patch = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n same"
    assert [kind for kind, _ in councils.diff_lines(patch)] == [
        "file", "file", "file", "hunk", "del", "add", "context"
    ]  # fmt: skip


def test_graph_hops_follow_the_vocabulary_and_take_ids_as_parameters() -> None:
    from swe_fleet.board.domain import graph_picture
    from swe_fleet.graph.schema import RELS

    hops = graph_picture.hops_from(["Story"])
    assert {(h.rel, h.new_label) for h in hops} >= {
        ("HAS_TASK", "Task"),
        ("HAS_PLAN", "Plan"),
        ("CONTAINS", "Epic"),
    }
    for hop in hops:
        assert (hop.start, hop.end) in RELS[hop.rel].ends and "$ids" in hop.cypher
        assert hop.new_label not in graph_picture.LEFT_OUT


def test_a_picture_stops_at_its_node_limit_and_keeps_only_edges_between_drawn_nodes() -> None:
    from swe_fleet.board.domain import graph_picture

    picture = graph_picture.Picture()
    picture.add_node("S", "Story", "s")
    (hop,) = [h for h in graph_picture.hops_from(["Story"]) if h.rel == "HAS_TASK"]
    rows = [{"source": "S", "target": f"T{n}", "caption": n} for n in range(graph_picture.MAX_NODES + 5)]
    added = picture.add_rows(hop, rows)
    assert len(picture.nodes) == graph_picture.MAX_NODES and picture.truncated
    assert len(added["Task"]) == graph_picture.MAX_NODES - 1
    assert all(e["target"] in picture.nodes for e in picture.edges.values())
    assert picture.elements()[0] == {"group": "nodes", "data": {"id": "S", "label": "Story", "caption": "s"}}


def test_live_lines_say_what_a_task_waits_for_and_the_pos_verdict() -> None:
    asked = {
        "payload": {
            "approval_id": "APR-ab",
            "task_id": "T1",
            "story_id": "US-1",
            "command": "pip install requests",
        }
    }
    line = activity.line("workspace.approval.requested", asked, activity.CouncilProgress())
    assert line.summary == "task T1 waits for approval APR-ab: `pip install requests` · story US-1"
    refused = {
        "payload": {
            "approval_id": "APR-ab",
            "story_id": "US-1",
            "approved": False,
            "decided_by": "po",
            "reason": "no new deps",
        }
    }
    line = activity.line("planning.approval.refused", refused, activity.CouncilProgress())
    assert line.summary == "approval APR-ab refused by po: no new deps · story US-1"


def test_a_level_of_the_graph_walk_is_one_statement_naming_each_rows_hop():
    from swe_fleet.board.domain import graph_picture

    hops = graph_picture.hops_from(["Story", "Plan"])
    cypher = graph_picture.level_query(hops)
    assert cypher.count(" UNION ALL ") == len(hops) - 1
    assert "$ids " not in cypher and "$ids_Story" in cypher and "$ids_Plan" in cypher
    assert f"RETURN {len(hops) - 1} AS hop, " in cypher
    assert graph_picture.level_params({"Story": ["S1"], "Plan": ["P1", "P2"]}) == {
        "ids_Story": ["S1"],
        "ids_Plan": ["P1", "P2"],
    }
