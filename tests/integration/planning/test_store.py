"""The SQL store on SQLite and PostgreSQL: round trips, restarts, racing writers, the outbox and its lease."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from swe_fleet.events import subjects
from swe_fleet.events.payloads import Role, StoryState
from swe_fleet.planning.adapters import tables as t
from swe_fleet.planning.adapters.database import Database
from swe_fleet.planning.adapters.outbox import OutboxStore
from swe_fleet.planning.adapters.unit_of_work import SqlUnitOfWork
from swe_fleet.planning.app import commands as c
from swe_fleet.planning.app import queries as q
from swe_fleet.planning.app import use_cases as uc
from swe_fleet.planning.domain.errors import Conflict, IllegalTransition, PlanningError
from swe_fleet.planning.domain.model import PlanStatus
from tests.integration.planning.support import StoreTarget, store_target

S = StoryState


@pytest.fixture
def database(store: StoreTarget):
    database = store.database()
    database.create_schema()
    yield database
    database.dispose()


def write(database: Database) -> SqlUnitOfWork:
    return SqlUnitOfWork(database, write=True)


def read(database: Database) -> SqlUnitOfWork:
    return SqlUnitOfWork(database, write=False)


def story_in_po_review(database: Database, story_id: str = "US-race") -> str:
    uc.create_story(c.CreateStory(title="t", owner="po", created_by="po", story_id=story_id), write(database))
    uc.transition_story(c.TransitionStory(story_id, S.PO_REVIEW, by="po"), write(database))
    return story_id


def outbox_rows(database: Database) -> list[tuple[str, str]]:
    with database.connect(write=False) as connection, connection.begin():
        query = sa.select(t.outbox.c.subject, t.outbox.c.event_id).order_by(t.outbox.c.seq)
        return [(row.subject, row.event_id) for row in connection.execute(query)]


def test_everything_survives_closing_and_reopening_the_store(store: StoreTarget, database: Database) -> None:
    project = uc.create_project(c.CreateProject(name="Shop", created_by="po"), write(database))
    epic = uc.create_epic(c.CreateEpic(project_id=project.id, title="Auth", created_by="po"), write(database))
    story = uc.create_story(
        c.CreateStory(
            title="Login", owner="ana", created_by="po", epic_id=epic.id, acceptance_criteria=("a", "b")
        ),
        write(database),
    )
    for state in (S.PO_REVIEW, S.READY_FOR_PLANNING):
        uc.transition_story(
            c.TransitionStory(story.id, state, by="po", reason=f"to {state}"), write(database)
        )
    plan = uc.create_plan(
        c.CreatePlan(story.id, "Do it", ("passes",), "arch", roles=(Role.DEV, Role.QA)), write(database)
    )
    uc.approve_plan(c.ApprovePlan(plan.id, by="po", notes="ok"), write(database))
    database.dispose()

    reopened = store.database()
    reopened.create_schema()  # idempotent on an existing store
    try:
        view = q.get_story(read(reopened), story.id)
        assert (view.story.state, view.story.version) == (S.PLANNED, 5)
        assert view.story.acceptance_criteria == ["a", "b"] and view.story.epic_id == epic.id
        assert view.story.created_at == story.created_at  # timezone-aware and exact
        assert [(h.from_state, h.to_state) for h in view.history] == [
            (S.DRAFT, S.PO_REVIEW),
            (S.PO_REVIEW, S.READY_FOR_PLANNING),
            (S.READY_FOR_PLANNING, S.PLANNED),
        ]
        assert [(p.id, p.status, p.roles, p.verdict_note) for p in view.plans] == [
            (plan.id, PlanStatus.APPROVED, [Role.DEV, Role.QA], "ok")
        ]
        assert [p.id for p in q.list_projects(read(reopened), q.Page())] == [project.id]
        from swe_fleet.planning.app.ports import StoryFilter

        in_project = q.list_stories(read(reopened), StoryFilter(project_id=project.id), q.Page())
        assert [s.id for s in in_project] == [story.id]
        subjects_in_outbox = [subject for subject, _ in outbox_rows(reopened)]
        assert subjects_in_outbox == [
            subjects.PROJECT_CREATED,
            subjects.EPIC_CREATED,
            subjects.STORY_CREATED,
            subjects.STORY_TRANSITIONED,
            subjects.STORY_TRANSITIONED,
            subjects.PLAN_CREATED,
            subjects.PLAN_APPROVED,
            subjects.STORY_TRANSITIONED,
        ]
    finally:
        reopened.dispose()


def race(attempts: list[Callable[[], object]]) -> list[object]:
    """Run the attempts in threads released at the same instant; each returns its result or error."""
    barrier = threading.Barrier(len(attempts))
    results: list[object] = [None] * len(attempts)

    def runner(index: int) -> None:
        barrier.wait()
        try:
            results[index] = attempts[index]()
        except PlanningError as error:
            results[index] = error

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_two_racing_transitions_one_wins_and_the_other_conflicts(database: Database) -> None:
    for round_number in range(15):
        story_id = story_in_po_review(database, f"US-race-{round_number}")
        events_before = len(outbox_rows(database))
        # Both clients read version 2 (PO_REVIEW) and pick different, individually legal, next states.
        results = race(
            [
                lambda s=story_id: uc.transition_story(
                    c.TransitionStory(s, S.READY_FOR_PLANNING, by="a", expected_version=2), write(database)
                ),
                lambda s=story_id: uc.transition_story(
                    c.TransitionStory(s, S.DRAFT, by="b", expected_version=2), write(database)
                ),
            ]
        )
        kinds = Counter(type(result).__name__ for result in results)
        assert kinds == {"Story": 1, "Conflict": 1}, results
        winner = next(result for result in results if not isinstance(result, Exception))
        stored = q.get_story(read(database), story_id).story
        assert (stored.state, stored.version) == (winner.state, 3)
        assert len(outbox_rows(database)) == events_before + 1  # the loser recorded nothing


def test_racing_without_an_expected_version_still_gives_one_winner(database: Database) -> None:
    story_id = story_in_po_review(database)
    results = race(
        [
            lambda who=who: uc.transition_story(
                c.TransitionStory(story_id, S.READY_FOR_PLANNING, by=who), write(database)
            )
            for who in ("a", "b")
        ]
    )
    # Judged one after the other (SQLite) the second sees READY_FOR_PLANNING and may not repeat the move;
    # truly concurrent (PostgreSQL) the second's version check fails. Either way: one event, one refusal.
    assert sum(isinstance(result, Conflict | IllegalTransition) for result in results) == 1, results
    assert q.get_story(read(database), story_id).story.version == 3


def test_many_writers_lose_no_update(database: Database) -> None:
    story_id = story_in_po_review(database)
    # Eight writers bounce the story between PO_REVIEW and DRAFT as fast as they can.
    successes = Counter()

    def bounce(worker: int) -> None:
        for _ in range(10):
            try:
                current = q.get_story(read(database), story_id).story
                target = S.DRAFT if current.state is S.PO_REVIEW else S.PO_REVIEW
                uc.transition_story(
                    c.TransitionStory(story_id, target, by=f"w{worker}", expected_version=current.version),
                    write(database),
                )
                successes[worker] += 1
            except Conflict:
                pass

    threads = [threading.Thread(target=bounce, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    final = q.get_story(read(database), story_id)
    total = sum(successes.values())
    assert total > 0
    assert final.story.version == 2 + total
    assert len(final.history) == 1 + total
    # The history is a valid walk: each move starts where the previous one ended.
    for earlier, later in zip(final.history, final.history[1:], strict=False):
        assert later.from_state == earlier.to_state
    transitions = [row for row in outbox_rows(database) if row[0] == subjects.STORY_TRANSITIONED]
    assert len(transitions) == 1 + total


def test_outbox_pending_rows_come_in_commit_order_until_marked(database: Database) -> None:
    for index in range(5):
        uc.create_project(c.CreateProject(name=f"p{index}", created_by="po"), write(database))
    outbox = OutboxStore(database)
    pending = outbox.pending(10)
    assert [row.event_id for row in pending] == [event_id for _, event_id in outbox_rows(database)]
    assert [row.seq for row in pending] == sorted(row.seq for row in pending)
    outbox.mark_published([row.seq for row in pending[:3]])
    assert [row.seq for row in outbox.pending(10)] == [row.seq for row in pending[3:]]
    backlog = outbox.backlog()
    assert backlog.pending == 2 and backlog.oldest_recorded_at is not None


def test_one_relay_lease_holder_at_a_time(database: Database) -> None:
    outbox = OutboxStore(database)
    assert outbox.acquire_lease("a", ttl_seconds=30)
    assert not outbox.acquire_lease("b", ttl_seconds=30)
    assert outbox.acquire_lease("a", ttl_seconds=30)  # renewal
    outbox.release_lease("a")
    assert outbox.acquire_lease("b", ttl_seconds=0.0)  # released: b takes it (and lets it expire at once)
    assert outbox.acquire_lease("a", ttl_seconds=30)  # expired: a takes it back
    results = race([lambda who=who: outbox.acquire_lease(who, 30) for who in ("x", "y", "z")])
    assert results == [False, False, False]  # "a" still holds it


def test_concurrent_first_lease_acquisition_has_one_winner(database: Database) -> None:
    outbox = OutboxStore(database)
    results = race([lambda who=who: outbox.acquire_lease(who, 30) for who in ("x", "y", "z", "w")])
    assert sorted(results) == [False, False, False, True]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_replicas_creating_the_schema_at_once_all_start(kind: str, tmp_path) -> None:
    # Found by the chaos suite: planning replicas started together on a fresh store, and one died at
    # start-up: "database is locked" on SQLite (a read lock that could not be upgraded), a unique
    # violation in pg_namespace on PostgreSQL (concurrent CREATE SCHEMA IF NOT EXISTS).
    with store_target(kind, tmp_path) as target:
        _create_schema_at_once(target)


def _create_schema_at_once(target: StoreTarget) -> None:
    databases = [target.database() for _ in range(3)]
    barrier = threading.Barrier(len(databases))
    errors: list[Exception] = []

    def start(database: Database) -> None:
        barrier.wait()
        try:
            database.create_schema()
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=start, args=(database,)) for database in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for database in databases:
        database.dispose()
    assert errors == []


async def test_a_relay_without_the_lease_is_not_left_woken(tmp_path) -> None:
    # Found by the chaos suite (three planning replicas): a replica whose commits woke its relay but
    # which did not hold the relay lease never cleared the wake-up, and spun on the lease row at ~80% CPU.
    import asyncio

    from swe_fleet.planning.adapters.outbox import OutboxRelay

    database = Database(f"sqlite:///{tmp_path / 'relay.sqlite3'}")
    database.create_schema()
    store = OutboxStore(database)
    holder = OutboxRelay(store, publisher=None, holder="holder")  # type: ignore[arg-type]
    other = OutboxRelay(store, publisher=None, holder="other")  # type: ignore[arg-type]
    try:
        assert await holder.relay_once() is False  # takes the lease; nothing to publish
        other._loop = asyncio.get_running_loop()
        other.wake()  # a commit through the other replica
        assert await other.relay_once() is False
        assert not other._wake.is_set()
    finally:
        database.dispose()
