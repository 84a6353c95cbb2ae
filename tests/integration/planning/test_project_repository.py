"""A project names its git repository, base branch and test command; stores made before that still open."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from swe_fleet.events import subjects
from swe_fleet.planning.adapters.database import Database
from swe_fleet.planning.adapters.unit_of_work import SqlUnitOfWork
from swe_fleet.planning.app import commands as c
from swe_fleet.planning.app import queries as q
from swe_fleet.planning.app import use_cases as uc
from swe_fleet.planning.domain.errors import InvalidInput
from tests.integration.planning.support import StoreTarget


@pytest.fixture
def database(store: StoreTarget):
    database = store.database()
    database.create_schema()
    yield database
    database.dispose()


def test_the_repository_settings_are_stored_and_travel_with_the_event(database: Database) -> None:
    command = c.CreateProject(
        name="Calc",
        created_by="po",
        repo="/srv/git/calc.git",
        base_branch="trunk",
        test_command="python -m pytest -q",
    )
    project = uc.create_project(command, SqlUnitOfWork(database, write=True))
    [stored] = q.list_projects(SqlUnitOfWork(database, write=False), q.Page())
    assert (stored.repo, stored.base_branch, stored.test_command) == (
        "/srv/git/calc.git",
        "trunk",
        "python -m pytest -q",
    )
    with database.connect(write=False) as connection, connection.begin():
        from swe_fleet.planning.adapters import tables as t

        row = (
            connection.execute(t.outbox.select().where(t.outbox.c.subject == subjects.PROJECT_CREATED))
            .mappings()
            .one()
        )
    payload = json.loads(row["data"])["payload"]
    assert (payload["project_id"], payload["repo"], payload["base_branch"], payload["test_command"]) == (
        project.id,
        "/srv/git/calc.git",
        "trunk",
        "python -m pytest -q",
    )


@pytest.mark.parametrize(
    ("field", "fields"),
    [
        ("repo", {"repo": "--upload-pack=touch /tmp/x"}),
        ("repo", {"repo": "   "}),
        ("base_branch", {"base_branch": "main..other"}),
        ("base_branch", {"base_branch": "-x"}),
        ("base_branch", {"base_branch": "has space"}),
        ("test_command", {"test_command": " "}),
    ],
)
def test_bad_repository_settings_are_refused_naming_the_field(
    database: Database, field: str, fields: dict[str, str]
) -> None:
    with pytest.raises(InvalidInput, match=field):
        uc.create_project(
            c.CreateProject(name="X", created_by="po", **fields), SqlUnitOfWork(database, write=True)
        )
    assert q.list_projects(SqlUnitOfWork(database, write=False), q.Page()) == []


def test_a_store_made_before_repositories_gets_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE planning_projects (id VARCHAR(128) PRIMARY KEY, name TEXT NOT NULL, "
            "description TEXT NOT NULL, created_by TEXT NOT NULL, created_at DATETIME NOT NULL)"
        )
        old.execute(
            "INSERT INTO planning_projects VALUES ('PRJ-old', 'Old', '', 'po', '2026-01-01 00:00:00.000000')"
        )
    database = Database(f"sqlite:///{path}")
    try:
        database.create_schema()
        database.create_schema()  # twice: the columns are there now, nothing to add
        [old_project] = q.list_projects(SqlUnitOfWork(database, write=False), q.Page())
        assert (old_project.id, old_project.repo, old_project.base_branch) == ("PRJ-old", None, "main")
        new = uc.create_project(
            c.CreateProject(name="New", created_by="po", repo="/r"), SqlUnitOfWork(database, write=True)
        )
        assert q.get_project(SqlUnitOfWork(database, write=False), new.id).repo == "/r"
    finally:
        database.dispose()
