"""The planning schema (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Tables carry no schema name: a PostgreSQL schema is chosen per engine with `schema_translate_map`
(tests use a throw-away schema per run).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

Id = sa.String(128)
# SQLite only makes INTEGER PRIMARY KEY an auto-incrementing rowid alias; PostgreSQL gets BIGINT.
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)

projects = sa.Table(
    "planning_projects",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", When, nullable=False),
    # Added after the first release: `Database.create_schema` adds them to older files.
    sa.Column("repo", sa.Text, nullable=True),
    sa.Column("base_branch", sa.Text, nullable=False, server_default="main"),
    sa.Column("test_command", sa.Text, nullable=True),
)

epics = sa.Table(
    "planning_epics",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("project_id", Id, sa.ForeignKey("planning_projects.id"), nullable=False, index=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", When, nullable=False),
)

stories = sa.Table(
    "planning_stories",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("epic_id", Id, sa.ForeignKey("planning_epics.id"), nullable=True, index=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("brief", sa.Text, nullable=False),
    sa.Column("acceptance_criteria", sa.JSON, nullable=False),
    sa.Column("owner", sa.Text, nullable=False, index=True),
    sa.Column("state", sa.String(32), nullable=False, index=True),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", When, nullable=False),
    sa.Column("updated_at", When, nullable=False),
    sa.Column("correlation_id", sa.String(64), nullable=False),
    # Tokens the story's agents may spend (NULL: the fleet's FLEET_STORY_TOKEN_BUDGET; ADR 0209).
    sa.Column("token_budget", sa.Integer, nullable=True),
    # Optimistic concurrency: every write is `UPDATE ... WHERE id = ? AND version = <read version>`.
    sa.Column("version", sa.Integer, nullable=False),
)

story_transitions = sa.Table(
    "planning_story_transitions",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    sa.Column("story_id", Id, sa.ForeignKey("planning_stories.id"), nullable=False, index=True),
    sa.Column("from_state", sa.String(32), nullable=False),
    sa.Column("to_state", sa.String(32), nullable=False),
    sa.Column("transitioned_by", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("at", When, nullable=False),
    sa.Column("event_id", sa.String(26), nullable=True),
)

plans = sa.Table(
    "planning_plans",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("story_id", Id, sa.ForeignKey("planning_stories.id"), nullable=False, index=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("acceptance_criteria", sa.JSON, nullable=False),
    sa.Column("technical_notes", sa.Text, nullable=False),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", When, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("decided_by", sa.Text, nullable=True),
    sa.Column("decided_at", When, nullable=True),
    sa.Column("verdict_note", sa.Text, nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
)

decisions = sa.Table(
    "planning_decisions",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("story_id", Id, sa.ForeignKey("planning_stories.id"), nullable=False, index=True),
    sa.Column("task_id", sa.Text, nullable=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("affects", sa.JSON, nullable=False),
    sa.Column("proposed_by", sa.Text, nullable=False),
    sa.Column("created_at", When, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("decided_by", sa.Text, nullable=True),
    sa.Column("decided_at", When, nullable=True),
    sa.Column("rationale", sa.Text, nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
)

# A story's delivery: its tasks' results from execution (planning/domain/delivery.py), one document.
story_deliveries = sa.Table(
    "planning_story_deliveries",
    metadata,
    sa.Column("story_id", Id, sa.ForeignKey("planning_stories.id"), primary_key=True),
    sa.Column("document", sa.JSON, nullable=False),
    sa.Column("updated_at", When, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

# The transactional outbox: each row is a full encoded envelope, written in the transaction of the
# change it records, published by the relay in `seq` order and then stamped `published_at`.
outbox = sa.Table(
    "planning_outbox",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(26), nullable=False, unique=True),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("correlation_id", sa.String(64), nullable=False),
    sa.Column("recorded_at", When, nullable=False),
    sa.Column("published_at", When, nullable=True),
    sa.Index(
        "ix_planning_outbox_pending",
        "seq",
        sqlite_where=sa.text("published_at IS NULL"),
        postgresql_where=sa.text("published_at IS NULL"),
    ),
)

# Which relay may publish: one holder at a time, for `expires_at` (epoch seconds) unless renewed.
outbox_lease = sa.Table(
    "planning_outbox_lease",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)
