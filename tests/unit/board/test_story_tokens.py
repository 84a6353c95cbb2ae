"""The story page's tokens section: the budget, and the totals of the recorded calls by council and role."""

from __future__ import annotations

from swe_fleet.board.adapters.web_common import template_environment

TOTALS = {"prompt_tokens": 900, "completion_tokens": 250, "tokens": 1150, "llm_seconds": 2.5, "llm_calls": 2}
USAGE = {
    "total": {
        "prompt_tokens": 1600,
        "completion_tokens": 340,
        "tokens": 1940,
        "llm_seconds": 3.0,
        "llm_calls": 3,
    },
    "by_deliberation": {"dlb-PL-1-T1": TOTALS},
    "by_role": {"DEV": TOTALS},
}


def render(story: dict, usage: dict | None) -> str:
    return template_environment().get_template("_tokens.html").render(story=story, usage=usage)


def test_the_budget_and_the_recorded_totals_are_shown() -> None:
    html = render({"token_budget": 50_000}, USAGE)
    assert "50,000" in html and "1,940" in html and "1,600" in html and "3.0 s" in html
    assert "dlb-PL-1-T1" in html and "<td>DEV</td>" in html


def test_without_a_budget_or_recorded_calls_the_section_says_so() -> None:
    html = render({"token_budget": None}, None)
    assert "the fleet&#39;s default" in html and "cannot be read now" in html


def test_the_activity_page_says_why_a_council_was_cut_or_waits() -> None:
    from swe_fleet.board.domain.activity import summarise

    reason = "waiting for the Product Owner: raise the story's token budget to at least 40192 to go on"
    payload = {"story_id": "US-1", "task_id": "PL-1-T2", "verdict": "waiting", "reason": reason}
    summary, _ = summarise("orchestration.deliberation.budgeted", {"payload": payload})
    assert summary.startswith("task PL-1-T2: waiting: waiting for the Product Owner") and "US-1" in summary
    raised = {"story_id": "US-1", "token_budget": 90000, "set_by": "po"}
    assert "token budget 90000 set by po" in summarise("planning.story.token_budget_set", raised)[0]
