"""Command inputs of each kind, shaped as the orchestrator sends them (swe_fleet.events.agent_protocol)."""

from __future__ import annotations

from typing import Any

from swe_fleet.events.agent_protocol import CommandKind

TASK = {
    "task_id": "task-1",
    "key": "T1",
    "title": "Add a /health endpoint to the planning API",
    "description": "Expose liveness and readiness, checking the database connection.",
    "role": "DEV",
    "estimate_hours": 4,
    "depends_on": [],
}
RUBRIC = [
    {"criterion": "correctness", "description": "Does what the task asks.", "weight": 3},
    {"criterion": "simplicity", "description": "The smallest design that works.", "weight": 2},
]
PROPOSAL = {
    "summary": "Add GET /health that checks the database.",
    "approach": "A FastAPI route runs SELECT 1 with a one-second timeout and answers 200 or 503.",
    "steps": ["Add the route", "Query the database", "Write tests"],
    "risks": ["A slow database blocks the probe: use a timeout"],
}
CRITIQUE = {
    "strengths": ["Small change"],
    "weaknesses": ["No test for the 503 answer"],
    "suggestions": ["Add a test with the database stopped"],
}
STORY = {
    "title": "Operators see service health",
    "brief": "Health endpoints",
    "acceptance_criteria": ["200 when ok"],
}
PLAN = {
    "description": "Add health endpoints to every service.",
    "acceptance_criteria": ["each service answers /health"],
    "technical_notes": "FastAPI",
    "notes": "Keep it small",
    "roles": ["DEV", "QA"],
}

INPUTS: dict[CommandKind, dict[str, Any]] = {
    CommandKind.DERIVE: {"story": STORY, "plan": PLAN, "roles": ["DEV", "QA"], "max_tasks": 4},
    CommandKind.GENERATE: {
        "task": TASK,
        "rubric": RUBRIC,
        "acceptance_criteria": ["GET /health answers 200"],
    },
    CommandKind.CRITIQUE: {"task": TASK, "rubric": RUBRIC, "proposal_id": "p-1", "proposal": PROPOSAL},
    CommandKind.REVISE: {"task": TASK, "rubric": RUBRIC, "proposal": PROPOSAL, "critiques": [CRITIQUE]},
    CommandKind.SCORE: {"task": TASK, "rubric": RUBRIC, "proposal_id": "p-1", "proposal": PROPOSAL},
}

# An answer of each kind in the shape the LLM is asked for (see swe_fleet.agents.domain.shapes).
GOOD_ANSWERS: dict[CommandKind, dict[str, Any]] = {
    CommandKind.DERIVE: {
        "tasks": [
            {
                "key": "T1",
                "title": "Health route",
                "description": "Add the route",
                "role": "DEV",
                "estimate_hours": 3,
                "depends_on": [],
            },
            {
                "key": "T2",
                "title": "Health tests",
                "description": "Test it",
                "role": "QA",
                "estimate_hours": 2,
                "depends_on": ["T1"],
            },
        ]
    },
    CommandKind.GENERATE: PROPOSAL,
    CommandKind.CRITIQUE: CRITIQUE,
    CommandKind.REVISE: {**PROPOSAL, "changes": ["Added a test for the 503 answer"]},
    CommandKind.SCORE: {
        "correctness": {"score": 7, "reason": "Checks the database"},
        "simplicity": {"score": 9, "reason": "One route"},
    },
}
