"""A story's delivery: its tasks' results, and the lifecycle moves those results earn.

Planning follows what execution reports (tasks derived, dispatched, started, completed, failed) and
moves the story by itself, as the system, with the evidence as the reason:

- execution starts (a task dispatched or started): PLANNED/READY_FOR_EXECUTION -> IN_PROGRESS;
- every task done and the story branch's suite passing after the last change: IN_PROGRESS ->
  CODE_REVIEW; every task's change approved by the QA review: -> TESTING -> READY_TO_REVIEW;
- the QA review requests changes: CODE_REVIEW -> IN_PROGRESS with the review as the reason, and the
  task is asked for again (a `Rework`, at most `review_rounds` times per task and round; beyond, the
  task is FAILED and the story waits, the reason visible);
- the PO sends the story back: every dispatched task is asked for again with the PO's reason;
- a task that failed (the workspace gave up within its bounds), or a suite that fails on the
  branch: the story stays where it is, and `blocked_reason` says why.

A rework is a new attempt of the task under a derived id, `<task>~<attempt>` (ADR 0703): its results
count for the task, results of an earlier attempt no longer do, and the same (task, attempt) always
gives the same id, so a redelivered request cannot dispatch the work twice.

Pure logic: the application layer loads a `StoryDelivery`, applies one event, asks for `moves` and
takes the `reworks` it must publish.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from swe_fleet.events.payloads import StoryState

S = StoryState
# Who moves a story on the evidence of results (the actor of those transitions).
SYSTEM_ACTOR = "system:delivery"
# Event ids remembered per story, so that a redelivered event changes nothing the second time.
_REMEMBERED_EVENTS = 500

# Where execution may start from, and the path into IN_PROGRESS from there.
_INTO_PROGRESS: dict[StoryState, tuple[StoryState, ...]] = {
    S.PLANNED: (S.READY_FOR_EXECUTION, S.IN_PROGRESS),
    S.READY_FOR_EXECUTION: (S.IN_PROGRESS,),
}


class TaskStatus(StrEnum):
    PENDING = "PENDING"  # derived, not yet carried out
    RUNNING = "RUNNING"  # dispatched to an agent / its workspace started
    DONE = "DONE"  # its change is committed on the story branch (or it needed none)
    FAILED = "FAILED"  # the workspace gave up: nothing changed on the branch
    CHANGES_REQUESTED = "CHANGES_REQUESTED"  # the QA review asked for another change


# Times a task's change may be sent back by the QA review before the story waits for a person.
REVIEW_ROUNDS = 2
REWORK_SEPARATOR = "~"


def rework_id(task_id: str, attempt: int) -> str:
    """The id of a task's `attempt`-th attempt (the first is the task itself)."""
    return task_id if attempt <= 1 else f"{task_id}{REWORK_SEPARATOR}{attempt}"


@dataclass(frozen=True)
class Dispatch:
    """How a task was first dispatched: a rework goes to the same role, agent and plan."""

    role: str
    agent_id: str
    deliberation_id: str | None = None
    proposal_id: str | None = None


@dataclass(frozen=True)
class Rework:
    """A task's work asked for again (to publish; the orchestrator re-dispatches it)."""

    task_id: str
    rework_task_id: str
    attempt: int
    source: str  # "review" | "send_back"
    reason: str
    dispatch: Dispatch


@dataclass
class TaskProgress:
    task_id: str
    title: str = ""
    status: TaskStatus = TaskStatus.PENDING
    failures: int = 0
    reason: str | None = None  # why it last failed
    commits: list[str] = field(default_factory=list)
    round: int = 0  # the delivery round in which it last changed
    # The QA review of the task's last commit: "approve" / "request_changes", with its summary.
    review: str | None = None
    review_summary: str | None = None
    review_head: str | None = None
    changes_requested: int = 0
    # The first dispatch (for reworks) and the attempt in flight: results of older attempts are stale.
    dispatch: Dispatch | None = None
    attempt: int = 1

    @property
    def current_id(self) -> str:
        return rework_id(self.task_id, self.attempt)

    @property
    def head(self) -> str | None:
        return self.commits[-1] if self.commits else None

    @property
    def approved(self) -> bool:
        """Its current change was approved (a task that needed no commit has nothing to review)."""
        return self.head is None or (self.review == "approve" and self.review_head == self.head)


@dataclass(frozen=True)
class SuiteEvidence:
    """The story branch's full suite, as the workspace ran it after a task's change."""

    ok: bool
    passed: int
    failed: int
    failing: tuple[str, ...]
    head: str | None  # the branch head it ran on (the task's last commit), when known
    task_id: str

    def describe(self) -> str:
        where = f" at {self.head[:12]}" if self.head else ""
        if self.ok:
            return f"the suite passed{where} after task {self.task_id} ({self.passed} passed)"
        names = ", ".join(self.failing[:5]) or "see the output"
        return f"the suite fails{where} after task {self.task_id}: {self.failed} failing ({names})"


@dataclass
class StoryDelivery:
    story_id: str
    plan_id: str | None = None
    branch: str | None = None
    tasks: dict[str, TaskProgress] = field(default_factory=dict)
    suite: SuiteEvidence | None = None
    # A delivery round: 1 for the first execution, +1 each time the PO sends the story back.
    round: int = 1
    applied_events: list[str] = field(default_factory=list)
    # Why the PO sent the story back, one entry per round that ended so.
    send_backs: list[str] = field(default_factory=list)
    # The PO's acceptance: the merge commit on the base branch.
    merge_commit: str | None = None
    base_branch: str | None = None
    # The orchestrator could not derive tasks from the approved plan (why), if so.
    derivation_failure: str | None = None
    # The bound of review rounds per task and delivery round (FLEET_REVIEW_ROUNDS when it was applied).
    review_rounds: int = REVIEW_ROUNDS
    version: int = 0  # 0: never stored
    # Reworks decided by the last change, for the application layer to publish (not stored).
    reworks: list[Rework] = field(default_factory=list)

    # ------------------------------------------------------------ applying events

    def seen(self, event_id: str) -> bool:
        return event_id in self.applied_events

    def remember(self, event_id: str) -> None:
        self.applied_events = [*self.applied_events, event_id][-_REMEMBERED_EVENTS:]

    def tasks_derived(self, plan_id: str, tasks: list[tuple[str, str]]) -> None:
        """A (new) plan's tasks: they replace those of an earlier plan; known results are kept."""
        known = self.tasks
        self.plan_id, self.derivation_failure = plan_id, None
        self.tasks = {task_id: known.get(task_id) or TaskProgress(task_id, title) for task_id, title in tasks}
        for task_id, title in tasks:
            self.tasks[task_id].title = title

    def derivation_failed(self, plan_id: str, reason: str) -> None:
        if not self.tasks or self.plan_id != plan_id:
            self.plan_id, self.derivation_failure = plan_id, reason

    def task_dispatched(self, task_id: str, dispatch: Dispatch) -> None:
        """A task's first dispatch is remembered (a rework's own dispatch copies it)."""
        found = self._current(task_id)
        if found is not None and found.task_id == task_id and found.dispatch is None:
            found.dispatch = dispatch
        self.task_running(task_id)

    def task_running(self, task_id: str) -> None:
        task = self._current(task_id)
        if task is not None and task.status is not TaskStatus.DONE:
            task.status, task.round = TaskStatus.RUNNING, self.round

    def task_completed(
        self, task_id: str, *, branch: str, commits: list[str], suite: SuiteEvidence | None
    ) -> None:
        task = self._current(task_id)
        if task is None:
            return  # an earlier attempt's result: the rework in flight decides
        task.status, task.reason, task.round = TaskStatus.DONE, None, self.round
        task.commits = [*task.commits, *(sha for sha in commits if sha not in task.commits)]
        if task.review_head != task.head:  # a new change: its review is still to come
            task.review = task.review_summary = None
        self.branch = branch
        if suite is not None:
            self.suite = suite

    def review_completed(
        self, task_id: str, *, verdict: str, summary: str, findings: list[str], head: str | None
    ) -> None:
        """The QA review of `head`; a request for changes asks for the task again (bounded)."""
        task = self._current(task_id)
        if task is None or (head is not None and task.head is not None and head != task.head):
            return  # a review of an older change: the current one awaits its own
        task.review, task.review_summary, task.review_head = verdict, summary, head
        if verdict != "request_changes":
            return
        task.changes_requested += 1
        if task.changes_requested > self.review_rounds:
            task.status, task.reason, task.round = TaskStatus.FAILED, self._over_bound(task), self.round
            return
        if task.status is TaskStatus.DONE:
            task.status = TaskStatus.CHANGES_REQUESTED
        notes = "; ".join(findings)
        self._rework(
            task, "review", f"the QA review requested changes: {summary}" + (f" ({notes})" if notes else "")
        )

    def task_failed(self, task_id: str, *, branch: str, reason: str) -> None:
        """Nothing changed on the branch (the failed change's own test run is not the branch's)."""
        task = self._current(task_id)
        if task is None:
            return  # an earlier attempt's failure: the rework in flight decides
        task.failures += 1
        task.reason = reason
        # results come on two subjects, in no fixed order: a success of this round is not undone
        if not (task.status is TaskStatus.DONE and task.round == self.round):
            task.status, task.round = TaskStatus.FAILED, self.round
        if branch:
            self.branch = self.branch or branch

    def sent_back(self, reason: str) -> None:
        """The PO sent the story back: a new round; every task is to be carried out again."""
        self.send_backs = [*self.send_backs, reason]
        self.round += 1
        self.suite = None
        for task in self.tasks.values():
            task.status, task.reason, task.changes_requested = TaskStatus.PENDING, None, 0
            self._rework(task, "send_back", f"sent back: {reason}")

    def accepted(self, merge_commit: str, base_branch: str) -> None:
        self.merge_commit, self.base_branch = merge_commit, base_branch

    def _rework(self, task: TaskProgress, source: str, reason: str) -> None:
        """The task's next attempt, to be dispatched like its first (nothing to dispatch without one)."""
        if task.dispatch is None:
            return
        task.attempt += 1
        self.reworks.append(
            Rework(task.task_id, task.current_id, task.attempt, source, reason[:8000], task.dispatch)
        )

    def _over_bound(self, task: TaskProgress) -> str:
        return (
            f"the QA review requested changes to task {task.task_id} {task.changes_requested} times "
            f"(bound {self.review_rounds}): {task.review_summary}"
        )

    def _current(self, task_id: str) -> TaskProgress | None:
        """The task an event names (`T~3` names T), or None for an attempt no longer in flight."""
        origin, _, attempt = task_id.rpartition(REWORK_SEPARATOR)
        if origin and attempt.isdigit() and origin in self.tasks:
            task = self.tasks[origin]
            return task if int(attempt) == task.attempt else None
        # A task can be reported before its derivation reaches planning (separate streams).
        task = self.tasks.setdefault(task_id, TaskProgress(task_id))
        return task if task.attempt == 1 else None

    # ------------------------------------------------------------ what the results earn

    @property
    def all_done(self) -> bool:
        return bool(self.tasks) and all(task.status is TaskStatus.DONE for task in self.tasks.values())

    @property
    def blocked_reason(self) -> str | None:
        """Why the story cannot move on by itself, or None when nothing holds it."""
        if self.derivation_failure and not self.tasks:
            return f"no tasks could be derived from plan {self.plan_id}: {self.derivation_failure}"
        over = [t for t in self.tasks.values() if t.changes_requested > self.review_rounds]
        failed = [t for t in self.tasks.values() if t.status is TaskStatus.FAILED and t not in over]
        reasons = [self._over_bound(t) for t in over] + [
            f"task {t.task_id} failed ({t.failures}x): {t.reason or 'no reason given'}" for t in failed
        ]
        if reasons:
            return "; ".join(reasons)
        if self.all_done and (self.suite is None or not self.suite.ok):
            return self.suite.describe() if self.suite else "no test run of the story branch was reported"
        return None

    @property
    def waiting_for(self) -> str | None:
        """What the story waits for that is on its way (not a failure): the QA review of done tasks."""
        waiting = [t.task_id for t in self.tasks.values() if t.status is TaskStatus.DONE and not t.approved]
        if self.all_done and waiting and self.blocked_reason is None:
            return f"the QA review of task(s) {', '.join(waiting)}"
        return None

    def moves(self, state: StoryState, *, execution_started: bool) -> list[tuple[StoryState, str]]:
        """The transitions (target, evidence) the story earns from `state` now; [] when it stays."""
        if execution_started and state in _INTO_PROGRESS:
            reason = f"execution started (round {self.round})"
            return [(target, reason) for target in _INTO_PROGRESS[state]]
        rework = [
            t
            for t in self.tasks.values()
            if t.status is TaskStatus.CHANGES_REQUESTED and t.changes_requested <= self.review_rounds
        ]
        if state is S.CODE_REVIEW and rework:
            return [
                (
                    S.IN_PROGRESS,
                    "; ".join(
                        f"the QA review requested changes to task {t.task_id} "
                        f"({t.changes_requested}/{self.review_rounds}): {t.review_summary}"
                        for t in rework
                    ),
                )
            ]
        if state not in (S.IN_PROGRESS, S.CODE_REVIEW):
            return []
        if not self.all_done or self.suite is None or not self.suite.ok:
            return []
        moves: list[tuple[StoryState, str]] = []
        if state is S.IN_PROGRESS:
            commits = sum(len(task.commits) for task in self.tasks.values())
            done = (
                f"all {len(self.tasks)} task(s) done on {self.branch or 'the story branch'} "
                f"with {commits} commit(s) (round {self.round})"
            )
            moves.append((S.CODE_REVIEW, done))
        if not all(task.approved for task in self.tasks.values()):
            return moves
        reviewed = [t for t in self.tasks.values() if t.head is not None]
        verdicts = "; ".join(f"task {t.task_id} approved: {t.review_summary}" for t in reviewed)
        return [
            *moves,
            (S.TESTING, f"QA review: {verdicts or 'no change to review'}"),
            (S.READY_TO_REVIEW, self.suite.describe()),
        ]
