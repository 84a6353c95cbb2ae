"""The demo's stories: realistic enough that the councils have something to deliberate."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoStory:
    title: str
    brief: str
    acceptance_criteria: tuple[str, ...]
    plan: str
    plan_criteria: tuple[str, ...]
    technical_notes: str
    roles: tuple[str, ...]


STORIES = (
    DemoStory(
        title="Refund a card payment",
        brief="Support staff refund a captured card payment from the admin console; the ledger and the "
        "customer are updated.",
        acceptance_criteria=(
            "A full or partial refund can be issued up to the captured amount",
            "The customer receives an email with the refund reference",
        ),
        plan="Add a refund endpoint to the payments service that calls the card processor's refund API "
        "with an idempotency key, records a ledger entry, and emails the customer.",
        plan_criteria=(
            "Partial and full refunds work up to the captured amount and never beyond",
            "A retried refund request never refunds twice",
        ),
        technical_notes="Processor API: POST /refunds with Idempotency-Key; ledger table refunds(payment_id, "
        "amount, reference).",
        roles=("DEV", "QA"),
    ),
    DemoStory(
        title="Export monthly invoices as CSV",
        brief="Finance downloads every invoice of a month as one CSV file for the accountants.",
        acceptance_criteria=(
            "The CSV has one row per invoice with number, date, customer, net, tax and total",
            "A month with thousands of invoices downloads in under ten seconds",
        ),
        plan="Add a streaming CSV export endpoint over the invoices table, filtered by month, with a "
        "download button in the finance dashboard.",
        plan_criteria=(
            "Columns and formats match the accountants' template",
            "Memory stays flat while streaming",
        ),
        technical_notes="Use a server-side cursor; amounts in minor units formatted with two decimals.",
        roles=("DEV", "DATA", "QA"),
    ),
    DemoStory(
        title="Rotate database credentials without downtime",
        brief="Operations rotate the production database password every month with no failed request.",
        acceptance_criteria=(
            "Services pick up the new credentials without a restart",
            "No request fails during the rotation",
        ),
        plan="Store the credentials in the secret manager with two active versions, reload them in the "
        "connection pool on change, and script the rotation.",
        plan_criteria=("A rotation drill shows zero failed requests", "The old password is revoked after"),
        technical_notes="Dual-password window in PostgreSQL via two roles; pool reload on SIGHUP.",
        roles=("DEVOPS", "ARCHITECT"),
    ),
)


# The story every demo run takes through the whole flow: its project names the sample repository
# (`demo/sample_repo.py`), so its tasks end as a tested change on the story's branch, or a failure.
CODE_STORY = DemoStory(
    title="Make the calculator add",
    brief="calc.add(2, 3) returns -1: the sum is wrong, and test_calc.py::test_add fails.",
    acceptance_criteria=("calc.add returns the sum of its arguments", "The project's tests pass"),
    plan="In calc.py, add() subtracts its arguments. Change it to return a + b, then run the tests: "
    "test_calc.py::test_add must pass and test_mul must still pass.",
    plan_criteria=("test_calc.py passes", "Only calc.py changes"),
    technical_notes="One-line fix in calc.py; the tests run with python -m pytest -q.",
    roles=("DEV",),
)
