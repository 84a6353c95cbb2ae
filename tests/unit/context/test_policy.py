"""The scope policy is validated at start-up and checked fail-closed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from swe_fleet.context.domain.policy import PolicyError, ScopeDenied, load_policy, parse_policy
from swe_fleet.events.payloads import Role, StoryState


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def test_the_shipped_policy_covers_every_agent_role(policy):
    for role in Role:
        assert role.value in policy.roles
    assert "task" in policy.allowed_sections("DEV", "IN_PROGRESS")


def test_a_role_outside_the_policy_is_refused(policy):
    with pytest.raises(ScopeDenied, match="not in the scope policy"):
        policy.allowed_sections("INTERN", "IN_PROGRESS")


def test_a_phase_the_role_is_not_given_is_refused(policy):
    with pytest.raises(ScopeDenied, match="phase DRAFT"):
        policy.allowed_sections("DEV", "DRAFT")
    with pytest.raises(ScopeDenied, match="not a story state"):
        policy.allowed_sections("DEV", "PARTY")
    # Every refusal is a decision of the file, not a default: only listed phases pass.
    for state in StoryState:
        listed = state in policy.roles["DEV"].phases
        if not listed:
            with pytest.raises(ScopeDenied):
                policy.allowed_sections("DEV", state.value)


def _document() -> dict:
    return yaml.safe_load(
        (Path(load_policy.__code__.co_filename).parent.parent / "scope_policy.yaml").read_text()
    )


def test_an_unknown_section_is_named_in_the_error():
    document = _document()
    document["roles"]["QA"]["phases"] = {"TESTING": ["story", "gossip"]}
    with pytest.raises(PolicyError, match=r"roles\.QA\.phases.*gossip"):
        parse_policy(document)


def test_an_unknown_phase_is_named_in_the_error():
    document = _document()
    document["roles"]["QA"]["phases"] = {"SOMEDAY": ["story"]}
    with pytest.raises(PolicyError, match=r"roles\.QA\.phases\.SOMEDAY"):
        parse_policy(document)


def test_a_section_without_priority_is_refused():
    document = _document()
    del document["sections"]["decisions"]
    with pytest.raises(PolicyError, match="decisions"):
        parse_policy(document)


def test_an_unreadable_policy_file_is_a_policy_error(tmp_path: Path):
    bad = tmp_path / "policy.yaml"
    bad.write_text("roles: [unclosed")
    with pytest.raises(PolicyError, match=r"policy\.yaml"):
        load_policy(bad)


def test_the_fingerprint_changes_with_the_content(policy):
    document = _document()
    document["sections"]["story"]["priority"] = 99
    assert parse_policy(document).fingerprint() != policy.fingerprint()
