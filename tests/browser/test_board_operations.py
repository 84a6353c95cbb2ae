"""The board's fleet-wide pages in a real Chromium: health with dead letters, the decision graph, activity.

Replaying or discarding a dead letter is recorded as an `operations.dead_letter.*` event naming who.
"""

from __future__ import annotations

import json
import re

import httpx
from playwright.async_api import expect

from fleet_testing.board_fleet import PO_NAME, BoardFleet
from swe_fleet.backbone.dead_letters import list_dead_letters
from swe_fleet.events.streams import OPERATIONS_EVENTS
from tests.browser.conftest import Shots, assert_accessible, new_page, sign_in
from tests.support.waiting import eventually


async def operations_events(fleet: BoardFleet) -> list[dict]:
    js = fleet.nc.jetstream()
    info = await js.stream_info(OPERATIONS_EVENTS)
    events = []
    for seq in range(info.state.first_seq or 1, info.state.last_seq + 1):
        message = await js.get_msg(OPERATIONS_EVENTS, seq)
        events.append({"subject": message.subject, **json.loads(message.data or b"{}")})
    return events


async def test_dead_letters_show_their_reason_and_replay_or_discard_is_recorded_with_who(
    browser, fleet: BoardFleet, shots: Shots
):
    js = fleet.nc.jetstream()
    before = {letter.seq for letter in await list_dead_letters(js, limit=1000)}
    await js.publish("planning.plan.approved", b'{"not": "a plan approval"}')

    async def new_letters() -> bool:
        return any(letter.seq not in before for letter in await list_dead_letters(js, limit=1000))

    await eventually(new_letters, "the invalid approval is dead-lettered")
    letter = next(letter for letter in await list_dead_letters(js, limit=1000) if letter.seq not in before)

    page = await new_page(browser, fleet)
    await sign_in(page, fleet.po_token)
    await page.get_by_role("link", name="Health").click()
    await expect(page.get_by_role("heading", name="fleet verify")).to_be_visible()
    card = page.locator(f"#letter-{letter.seq}")
    await expect(card).to_contain_text(letter.reason)
    await expect(page.get_by_role("cell", name="PLANNING_EVENTS").first).to_be_visible()
    await assert_accessible(page)
    await shots.take(page, "health with a dead letter and its reason")

    await card.get_by_role("button", name="Discard").click()
    await expect(page.locator(f"#letter-{letter.seq}-error")).to_have_text(
        "Say why the message is discarded."
    )
    await page.locator(f"#letter-{letter.seq}").get_by_role("button", name="Replay").click()
    await expect(page.get_by_role("status")).to_have_text(f"Dead letter {letter.seq} replayed")
    await expect(page.locator(f"#letter-{letter.seq}")).to_have_count(0)
    await shots.take(page, "dead letter replayed")

    # Replayed, it fails again (still not a plan approval): discard it, with the reason.
    await eventually(
        lambda: _letter_for(js, letter.original_subject, exclude=before | {letter.seq}), "dead-lettered again"
    )
    again = await _letter_for(js, letter.original_subject, exclude=before | {letter.seq})
    assert again is not None
    await page.goto("/health")
    await (
        page.locator(f"#letter-{again.seq}").get_by_label("Reason (required to discard)").fill("junk by hand")
    )
    await page.locator(f"#letter-{again.seq}").get_by_role("button", name="Discard").click()
    await expect(page.get_by_role("status")).to_have_text(f"Dead letter {again.seq} discarded")

    recorded = await operations_events(fleet)
    replayed = [e for e in recorded if e["subject"] == "operations.dead_letter.replayed"]
    discarded = [e for e in recorded if e["subject"] == "operations.dead_letter.discarded"]
    assert [(e["payload"]["dead_letter_seq"], e["payload"]["by"]) for e in replayed] == [
        (letter.seq, PO_NAME)
    ]
    assert replayed[0]["payload"]["failure_reason"].startswith(letter.reason)
    assert [
        (e["payload"]["dead_letter_seq"], e["payload"]["by"], e["payload"]["note"]) for e in discarded
    ] == [(again.seq, PO_NAME, "junk by hand")]
    await page.context.close()


async def _letter_for(js, subject: str, *, exclude: set[int]):
    letters = await list_dead_letters(js, limit=1000)
    return next((x for x in letters if x.seq not in exclude and x.original_subject == subject), None)


async def test_the_decision_graph_is_a_picture_whose_nodes_open_their_details(
    browser, fleet: BoardFleet, shots: Shots
):
    async with httpx.AsyncClient(base_url=fleet.url, headers=fleet.bearer()) as http:
        story = (await http.post("/v1/stories", json={"title": "Graph me"})).json()
        for state in ("PO_REVIEW", "READY_FOR_PLANNING"):
            current = (await http.get(f"/v1/stories/{story['id']}")).json()
            moved = await http.post(
                f"/v1/stories/{story['id']}/transitions",
                json={"to_state": state},
                headers={"If-Match": f'"{current["version"]}"'},
            )
            assert moved.status_code == 200, moved.text
        plan = (
            await http.post(
                f"/v1/stories/{story['id']}/plans",
                json={"description": "Draw it", "acceptance_criteria": ["a node per task"], "roles": ["DEV"]},
            )
        ).json()
        assert (await http.post(f"/v1/plans/{plan['id']}/approve", json={})).status_code == 200

    page = await new_page(browser, fleet)
    await sign_in(page, fleet.po_token)
    await page.goto(f"/stories/{story['id']}")
    await expect(page.locator("#councils .winner").first).to_be_visible(timeout=90_000)
    await page.get_by_role("link", name="Decision graph of this story").click()
    # graph.json walks the graph hop by hop (dozens of queries): a loaded machine takes seconds.
    await expect(page.locator("#graph")).to_have_attribute(
        "data-ready", re.compile("true|error"), timeout=30_000
    )
    assert await page.locator("#graph").get_attribute("data-ready") == "true", await page.locator(
        "#graph"
    ).inner_text()
    await expect(page.locator(".node-pick", has_text="Task:").first).to_be_visible()
    box = await page.locator("#graph").bounding_box()
    assert box is not None
    where = await page.evaluate(
        "id => { const p = window.fleetGraph.getElementById(id).renderedPosition(); return [p.x, p.y]; }",
        story["id"],
    )
    await page.mouse.click(box["x"] + where[0], box["y"] + where[1])
    await expect(page.locator("#node-text")).to_contain_text(f"Story {story['id']}")
    await expect(page.locator("#node-text")).to_contain_text("Graph me")
    await page.locator(".node-pick", has_text="Plan:").first.click()  # the list is the keyboard's way in
    await expect(page.locator("#node-text")).to_contain_text(plan["id"])
    await assert_accessible(page)
    await shots.take(page, "decision graph with a node selected")
    await page.context.close()


async def test_every_other_page_passes_axe_and_activity_updates_live(
    browser, fleet: BoardFleet, shots: Shots
):
    page = await new_page(browser, fleet, width=390, height=844)
    await page.goto("/sign-in")
    await assert_accessible(page)
    await sign_in(page, fleet.viewer_token)
    await page.get_by_role("link", name="Activity").click()
    await expect(page.locator("#feed")).to_have_attribute("data-connected", "true")
    async with httpx.AsyncClient(base_url=fleet.url, headers=fleet.bearer()) as http:
        await http.post("/v1/stories", json={"title": "Seen live <b>as text</b>"})
    # Among the newest lines (Context's own "context.updated" for the story may come after it), shown as
    # text: the title's markup is not rendered.
    seen = page.locator("#feed li").filter(has_text="“Seen live <b>as text</b>”")
    await expect(seen.first).to_be_visible()
    assert await page.locator("#feed li b").count() == 0
    await assert_accessible(page)
    await shots.take(page, "activity live at 390 px")
    for path in ("/decisions", "/health"):
        await page.goto(path)
        await assert_accessible(page)
        await shots.take(page, f"viewer {path} at 390 px")
    refused = await page.request.post("/decisions/nope/verdict", form={"csrf_token": "forged"})
    assert refused.status == 403
    await page.set_content(await refused.text())
    await assert_accessible(page)
    assert re.search(r"out of date|did not come from the board", await refused.text())
    await page.context.close()


async def story_with_tasks(fleet: BoardFleet, title: str) -> tuple[dict, dict]:
    """A story taken to PLANNED with an approved plan (the orchestrator then derives and deliberates)."""
    async with httpx.AsyncClient(base_url=fleet.url, headers=fleet.bearer()) as http:
        story = (await http.post("/v1/stories", json={"title": title})).json()
        for state in ("PO_REVIEW", "READY_FOR_PLANNING"):
            current = (await http.get(f"/v1/stories/{story['id']}")).json()
            moved = await http.post(
                f"/v1/stories/{story['id']}/transitions",
                json={"to_state": state},
                headers={"If-Match": f'"{current["version"]}"'},
            )
            assert moved.status_code == 200, moved.text
        plan = (
            await http.post(
                f"/v1/stories/{story['id']}/plans",
                json={"description": "Do it", "acceptance_criteria": ["it is done"], "roles": ["DEV"]},
            )
        ).json()
        assert (await http.post(f"/v1/plans/{plan['id']}/approve", json={})).status_code == 200
    return story, plan


async def test_a_tasks_workspace_timeline_diff_and_tests_appear_on_the_story_page(
    browser, fleet: BoardFleet, shots: Shots
):
    from swe_fleet.backbone.publisher import EventPublisher
    from swe_fleet.events import subjects
    from swe_fleet.events.payloads import (
        CommitRecord,
        DiffStats,
        Role,
        SuiteResult,
        ToolOutcome,
        WorkspaceTaskCompleted,
        WorkspaceToolCalled,
    )

    story, _ = await story_with_tasks(fleet, "Executed in a workspace")
    page = await new_page(browser, fleet)
    await sign_in(page, fleet.po_token)
    await page.goto(f"/stories/{story['id']}")
    await expect(page.locator("#councils .winner").first).to_be_visible(timeout=90_000)
    task_id = (await page.locator("#councils article.task").first.get_attribute("id") or "").removeprefix(
        "task-"
    )

    # The workspace's events, as the workspace service publishes them; the page is open meanwhile.
    publisher = EventPublisher(fleet.nc.jetstream(), "workspace")
    common = {"task_id": task_id, "story_id": story["id"]}
    await publisher.publish(
        subjects.WORKSPACE_TOOL_CALLED,
        WorkspaceToolCalled(
            **common, step=1, tool="read_file", arguments={"path": "app.py"}, outcome=ToolOutcome.OK
        ),
    )
    await publisher.publish(
        subjects.WORKSPACE_TOOL_CALLED,
        WorkspaceToolCalled(
            **common, step=2, tool="run_tests", outcome=ToolOutcome.ERROR, output="1 failed: test_total"
        ),
    )
    patch = (
        "--- a/app.py\n+++ b/app.py\n@@ -1 +1 @@\n-total = 0\n+total = sum(xs)  # <script>alert(3)</script>\n"
    )
    await publisher.publish(
        subjects.WORKSPACE_TASK_COMPLETED,
        WorkspaceTaskCompleted(
            **common,
            role=Role.DEV,
            agent_id="dev-1",
            branch=f"fleet/{story['id']}",
            commits=[CommitRecord(sha="0123456789abcdef", message="Sum the totals")],
            diff=DiffStats(files=["app.py"], insertions=1, deletions=1),
            tests_before=SuiteResult(ok=False, passed=2, failed=1, failing=["tests/test_app.py::test_total"]),
            tests_after=SuiteResult(ok=True, passed=3),
            summary="totals summed",
            patch=patch,
        ),
    )
    workspace = page.locator(f"#task-{task_id} .workspace")
    await expect(workspace).to_contain_text("tests/test_app.py::test_total", timeout=90_000)
    assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
    await expect(workspace.locator(".tests")).to_contain_text("before: fail")
    await expect(workspace.locator(".tests")).to_contain_text("after: pass")
    await expect(workspace).to_contain_text("Commit 0123456789 Sum the totals")
    await workspace.get_by_text("Diff").click()
    await expect(workspace.locator("pre.diff .add")).to_have_text(
        "+total = sum(xs)  # <script>alert(3)</script>"
    )
    await workspace.get_by_text("Tool calls (2)").click()
    await expect(workspace.locator(".timeline li")).to_have_count(2)
    await expect(workspace.locator(".timeline li").nth(1)).to_contain_text("run_tests")
    assert page.dialogs == []
    await assert_accessible(page)
    await shots.take(page, "workspace timeline diff and tests")
    await page.context.close()


async def test_readiness_says_whether_the_board_reaches_the_api(fleet: BoardFleet, tmp_path):
    async with httpx.AsyncClient(base_url=fleet.url) as http:
        ready = (await http.get("/readyz")).json()
    assert ready["checks"]["board.api"]["status"] == "ok"
    assert ready["checks"]["board.assets"]["status"] == "ok"

    # The board served alone on a port of its own, not told where the API is: not ready, and says why.
    from swe_fleet.board.bootstrap import build
    from swe_fleet.embedded.child import free_port
    from swe_fleet.host.runner import run_checks
    from swe_fleet.host.service import Endpoints
    from swe_fleet.settings import FleetSettings

    alone = FleetSettings(data_dir=tmp_path, nats_url=fleet.nats.url, http_port=free_port())
    service = await build(alone, fleet.nc, Endpoints.from_settings(alone))
    try:
        checks = await run_checks([service])
    finally:
        for close in service.closers:
            await close()
    assert checks["board.api"].health.value == "down"
    assert "FLEET_API_URL" in checks["board.api"].detail and "/v1/stories" in checks["board.api"].detail
