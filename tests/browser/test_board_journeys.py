"""The board in a real Chromium, against a real fleet: what a Product Owner and a viewer can do.

Each step is a screenshot under .artifacts/board/; every page is checked with axe-core.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
from playwright.async_api import expect

from fleet_testing.board_fleet import PO_NAME, BoardFleet
from swe_fleet.security.identity import Role
from tests.browser.conftest import Shots, assert_accessible, new_page, sign_in

HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script> Export & "report"'


async def api_move(fleet: BoardFleet, story_id: str, to_state: str) -> None:
    async with httpx.AsyncClient(base_url=fleet.url, headers=fleet.bearer("someone-else")) as http:
        story = (await http.get(f"/v1/stories/{story_id}")).json()
        answer = await http.post(
            f"/v1/stories/{story_id}/transitions",
            json={"to_state": to_state},
            headers={"If-Match": f'"{story["version"]}"'},
        )
        assert answer.status_code == 200, answer.text


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def shown(repo: Path, what: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "show", what], capture_output=True, text=True).stdout


async def test_a_product_owner_runs_a_story_from_draft_to_accepted(
    browser, fleet: BoardFleet, shots: Shots, tmp_path: Path
):
    # The project's repository: accepting the story merges its branch into main (the delivery API).
    repo = tmp_path / "exports"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "po@example.invalid")
    git(repo, "config", "user.name", "PO")
    (repo / "README.md").write_text("exports\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "start")
    async with httpx.AsyncClient(base_url=fleet.url, headers=fleet.bearer()) as http:
        project = await http.post("/v1/projects", json={"name": "Exports", "repo": str(repo)})
        assert project.status_code == 201, project.text
        epic = await http.post("/v1/epics", json={"project_id": project.json()["id"], "title": "Reports"})
        assert epic.status_code == 201, epic.text

    page = await new_page(browser, fleet)
    await sign_in(page, fleet.po_token)
    await expect(page.get_by_role("heading", name=re.compile("^Board"))).to_be_visible()
    await assert_accessible(page)
    await shots.take(page, "signed in")

    # A story whose title is HTML and script: created, then shown as text, never run.
    await page.get_by_text("New story").click()
    await page.get_by_role("button", name="Create story").click()
    await expect(page.locator("#f-title-error")).to_have_text("A story needs a title.")
    await assert_accessible(page)
    await shots.take(page, "invalid story refused next to the field")
    await page.get_by_label("Title").fill(HOSTILE)
    await page.get_by_label("Brief").fill("<b>bold?</b> no: text")
    await page.get_by_label("Acceptance criteria").fill("exports a CSV\nnames every column")
    await page.locator("#f-epic_id").select_option(label="Reports")
    await page.get_by_role("button", name="Create story").click()
    await expect(page.locator("#story-title")).to_have_text(HOSTILE)
    assert await page.locator("#main img").count() == 0 and page.dialogs == []
    story_id = page.url.rsplit("/", 1)[-1].split("?")[0]
    await assert_accessible(page)
    await shots.take(page, "story created with its title shown as text")

    # Moves offer only what the lifecycle allows; a refused move says why.
    options = await page.locator("#to_state option").all_inner_texts()
    assert options == ["PO review"]
    await api_move(fleet, story_id, "PO_REVIEW")  # someone else moves it first: our page is stale
    await page.get_by_role("button", name="Move", exact=True).click()
    await expect(page.locator("#move-error")).to_contain_text("Refused")
    await expect(page.locator("#move-error")).to_contain_text("version")
    await assert_accessible(page)
    await shots.take(page, "refused move shows the reason")
    await page.goto(f"/stories/{story_id}")
    await page.locator("#to_state").select_option("READY_FOR_PLANNING")
    await page.get_by_role("button", name="Move", exact=True).click()
    await expect(page.locator("#story-state")).to_have_text("Ready for planning")
    await shots.take(page, "moved to ready for planning")

    # A plan: invalid first (message next to the field), then proposed and approved.
    await page.get_by_text("Propose a plan").click()
    await page.get_by_role("button", name="Propose plan").click()
    await expect(page.locator("#f-description-error")).to_be_visible()
    await expect(page.locator("#f-plan_criteria-error")).to_be_visible()
    await page.get_by_label("Plan description").fill("Write the exporter, then test it")
    await page.get_by_label("Plan acceptance criteria").fill("CSV has a header\nempty report gives a header")
    await page.get_by_label("DEV", exact=True).check()
    await page.get_by_role("button", name="Propose plan").click()
    await expect(page.get_by_role("status")).to_have_text("Plan proposed")
    await shots.take(page, "plan proposed")
    await page.get_by_role("button", name="Approve plan").click()
    await expect(page.get_by_role("status")).to_have_text("Plan approved")
    await expect(page.locator("#story-state")).to_have_text("Planned")
    await assert_accessible(page)

    # The council deliberates while the page is open: progress and the winner appear without a reload.
    await page.evaluate("window.sameDocument = true")
    await expect(page.locator("#council-progress")).to_contain_text("Council on", timeout=60_000)
    await shots.take(page, "council deliberating live")
    await expect(page.locator("#councils .winner").first).to_contain_text("Winner", timeout=90_000)
    await expect(page.locator("#feed li").first).to_be_visible()
    assert await page.evaluate("window.sameDocument === true"), "the page was reloaded"
    await assert_accessible(page)
    await shots.take(page, "council winner shown live")

    # A decision awaiting the PO's verdict.
    async with httpx.AsyncClient(
        base_url=fleet.url, headers=fleet.bearer("architect-1", Role.SERVICE)
    ) as http:
        proposed = await http.post(
            "/v1/decisions", json={"story_id": story_id, "title": "Use the csv module"}
        )
        assert proposed.status_code == 201, proposed.text
    await page.get_by_role("link", name="Decisions").click()
    card = page.locator(f"#decision-{proposed.json()['id']}")
    await card.get_by_role("button", name="Approve decision").click()
    await expect(page.locator(f"#decision-{proposed.json()['id']}-error")).to_contain_text("rationale")
    await (
        page.locator(f"#decision-{proposed.json()['id']}").get_by_label("Rationale").fill("standard library")
    )
    await (
        page.locator(f"#decision-{proposed.json()['id']}")
        .get_by_role("button", name="Approve decision")
        .click()
    )
    await expect(page.get_by_role("status")).to_have_text("Decision approved")
    await assert_accessible(page)
    await shots.take(page, "decision approved")

    # The work is done elsewhere (the lifecycle moves on); at READY_TO_REVIEW the PO accepts.
    path = ["PLANNED", "READY_FOR_EXECUTION", "IN_PROGRESS", "CODE_REVIEW", "TESTING", "READY_TO_REVIEW"]
    async with httpx.AsyncClient(base_url=fleet.url, headers=fleet.bearer()) as http:
        now = (await http.get(f"/v1/stories/{story_id}")).json()["state"]  # delivery may have moved it
    for state in path[path.index(now) + 1 :]:
        await api_move(fleet, story_id, state)
    git(repo, "checkout", "-q", "-b", f"fleet/{story_id}")  # the work, as a workspace would have pushed it
    (repo / "export.py").write_text("def export():\n    return 'csv'\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "export")
    git(repo, "checkout", "-q", "main")
    await page.goto(f"/stories/{story_id}")
    await page.get_by_role("button", name="Accept story").click()
    try:  # the merge runs in git under the request: give a loaded machine time, and say what was shown
        await expect(page.locator("#story-state")).to_have_text("Accepted", timeout=30_000)
    except AssertionError as error:
        shown_text = (await page.locator("body").inner_text())[:1500]
        raise AssertionError(f"after Accept story the page at {page.url} showed:\n{shown_text}") from error
    assert "csv" in shown(repo, "main:export.py"), "the story branch was merged into main"
    await expect(page.get_by_role("cell", name=PO_NAME).last).to_be_visible()
    await assert_accessible(page)
    await shots.take(page, "story accepted")
    assert page.dialogs == []
    await page.context.close()


async def test_a_viewer_sees_everything_and_changes_nothing(browser, fleet: BoardFleet, shots: Shots):
    page = await new_page(browser, fleet)
    await sign_in(page, fleet.viewer_token)
    await expect(page.get_by_role("heading", name=re.compile("^Board"))).to_be_visible()
    assert await page.locator("form[method=post]:not([action='/sign-out'])").count() == 0
    await shots.take(page, "viewer board without forms")
    # The board says when stories changed since it was shown, without redrawing itself.
    await expect(page.locator("#board-changed")).to_have_attribute("data-connected", "true")
    async with httpx.AsyncClient(base_url=fleet.url, headers=fleet.bearer()) as http:
        assert (await http.post("/v1/stories", json={"title": "Added meanwhile"})).status_code == 201
    await expect(page.locator("#board-changed")).to_contain_text("1 change since this page was shown.")
    await page.get_by_role("link", name="Show the board as it is now").click()
    await expect(page.get_by_role("link", name="Added meanwhile", exact=True)).to_be_visible()
    await expect(page.locator("#board-changed")).to_be_hidden()
    # A change sent anyway (with the viewer's own valid CSRF token) is refused, and one without it too.
    csrf = await page.locator("body").get_attribute("data-csrf")
    answer = await page.request.post("/stories", form={"csrf_token": csrf or "", "title": "sneaky"})
    assert answer.status == 403 and "only a product owner" in await answer.text()
    answer = await page.request.post("/stories", form={"title": "no csrf"})
    assert answer.status == 403
    await page.context.close()


async def test_the_board_works_from_the_keyboard_at_390_pixels(browser, fleet: BoardFleet, shots: Shots):
    page = await new_page(browser, fleet, width=390, height=844)
    await page.goto("/sign-in")
    await page.keyboard.press("Tab")  # the skip link
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Access token")).to_be_focused()
    await page.keyboard.type(fleet.po_token)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/$"))
    await page.locator("summary", has_text="New story").focus()
    await page.keyboard.press("Enter")
    await page.get_by_label("Title").focus()
    await page.keyboard.type("Typed from the keyboard")
    await page.keyboard.press("Enter")  # submits the form from its text field
    await expect(page.locator("#story-title")).to_have_text("Typed from the keyboard")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at 390 px ({width} px wide)"
    await assert_accessible(page)
    await shots.take(page, "story page at 390 px")
    story_id = page.url.rsplit("/", 1)[-1].split("?")[0]
    await page.goto("/")
    await assert_accessible(page)
    await shots.take(page, "board at 390 px")

    # A card's move, from the keyboard: its form offers only what the lifecycle allows from DRAFT.
    await page.get_by_role("link", name=re.compile(r"^Move\W+Typed from the keyboard")).focus()
    await page.keyboard.press("Enter")
    select = page.locator(f"#to-{story_id}")
    await expect(select).to_be_focused()
    assert await select.locator("option").all_inner_texts() == ["PO review"]
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(
        page.locator("#col-PO_REVIEW + ul").get_by_role("link", name="Typed from the keyboard", exact=True)
    ).to_be_visible()
    await shots.take(page, "moved from the keyboard")
    await page.context.close()


async def test_a_tampered_move_is_refused_with_the_lifecycles_reason(browser, fleet: BoardFleet):
    page = await new_page(browser, fleet)
    await sign_in(page, fleet.po_token)
    async with httpx.AsyncClient(base_url=fleet.url, headers=fleet.bearer()) as http:
        created = await http.post("/v1/stories", json={"title": "Tampered"})
    story = created.json()
    csrf = await page.locator("body").get_attribute("data-csrf")
    answer = await page.request.post(
        f"/stories/{story['id']}/move",
        form={"csrf_token": csrf or "", "to_state": "DONE", "version": str(story["version"])},
    )
    assert answer.status == 409
    assert "cannot go from DRAFT to DONE; allowed from DRAFT: PO_REVIEW" in await answer.text()
    await page.context.close()
